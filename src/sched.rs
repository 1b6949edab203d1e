//! Waking a stream's sender on time.
//!
//! A stream's segments leave on an absolute schedule ([`crate::pace`]): the
//! sender sleeps until just before each deadline, then spins. On a quiet
//! machine the sleep ends within the spin tail; on a busy one the scheduler
//! may run other work first and wake the sender milliseconds late. While a
//! stream is being sent, [`Timely`] therefore asks for the real-time
//! `SCHED_FIFO` policy (a woken real-time thread runs before any normal one)
//! and no timer slack (a normal thread's sleeps may end up to 50 µs late so
//! that the kernel can batch wake-ups; a real-time thread has none, and a
//! normal one gets 1 ns here). Both are put back when the stream ends. Without the right to them (`CAP_SYS_NICE`, or root) the stream runs
//! at normal priority and says so.
//!
//! The cost: the spin tail ([`crate::pace::SPIN`]) per segment, on one CPU;
//! the kernel's real-time throttling (`sched_rt_runtime_us`) bounds how long
//! any real-time thread may keep a CPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Streams with a shorter interval stay at normal priority
/// ([`Timely::for_interval`]).
pub const MIN_REALTIME_INTERVAL: Duration = Duration::from_millis(1);

/// The `SCHED_FIFO` priority a stream sender asks for: low among real-time
/// priorities (1–99), so kernel threads that need one still come first.
pub const FIFO_PRIORITY: i32 = 10;

static REALTIME: AtomicBool = AtomicBool::new(true);

/// Whether stream senders in this process may ask for real-time priority
/// (on by default; the server's `--no-realtime` turns it off).
pub fn allow_realtime(on: bool) {
    REALTIME.store(on, Ordering::Relaxed);
}

/// How a sender thread is scheduled while a [`Timely`] lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Priority {
    /// `SCHED_FIFO` at this priority.
    Fifo(i32),
    /// The thread's normal policy, and why.
    Normal(String),
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Priority::Fifo(p) => write!(f, "SCHED_FIFO priority {p}"),
            Priority::Normal(why) => write!(f, "normal priority, timer slack 1 ns ({why})"),
        }
    }
}

/// Real-time priority and a 1 ns timer slack for the calling thread, put
/// back as they were when dropped.
#[derive(Debug)]
pub struct Timely {
    priority: Priority,
    policy: Option<(libc::c_int, libc::sched_param)>,
    slack: Option<libc::c_int>,
}

impl Timely {
    /// As [`Timely::enter`] for a stream `interval` apart; under
    /// [`MIN_REALTIME_INTERVAL`] the sender spins most of each interval, and
    /// a real-time thread that seldom sleeps would starve the other work on
    /// its CPU (the client's, on a one-CPU machine), so it stays at normal
    /// priority.
    pub fn for_interval(interval: Duration) -> Timely {
        if interval < MIN_REALTIME_INTERVAL {
            let mut t = Timely::normal_with_slack();
            t.priority = Priority::Normal(format!(
                "an interval under {} µs spins most of the time",
                MIN_REALTIME_INTERVAL.as_micros()
            ));
            return t;
        }
        Timely::enter()
    }

    fn normal_with_slack() -> Timely {
        // SAFETY: prctl with PR_GET/SET_TIMERSLACK only reads or sets the
        // calling thread's slack; no pointers are passed.
        let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        let slack = (slack >= 0
            && unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) } == 0)
            .then_some(slack);
        Timely {
            priority: Priority::Normal(String::new()),
            policy: None,
            slack,
        }
    }

    /// Asks for `SCHED_FIFO` and the smallest timer slack for this thread.
    pub fn enter() -> Timely {
        let mut t = Timely::normal_with_slack();
        if !REALTIME.load(Ordering::Relaxed) {
            t.priority = Priority::Normal("--no-realtime".into());
            return t;
        }
        // SAFETY: pthread_self is always valid for the calling thread, and
        // the param structs are plain C structs owned here.
        let (priority, policy) = unsafe {
            let me = libc::pthread_self();
            let mut policy = 0;
            let mut old: libc::sched_param = std::mem::zeroed();
            if libc::pthread_getschedparam(me, &mut policy, &mut old) != 0 {
                (Priority::Normal("policy unreadable".into()), None)
            } else {
                let new = libc::sched_param {
                    sched_priority: FIFO_PRIORITY,
                };
                match libc::pthread_setschedparam(me, libc::SCHED_FIFO, &new) {
                    0 => (Priority::Fifo(FIFO_PRIORITY), Some((policy, old))),
                    libc::EPERM => (
                        Priority::Normal("SCHED_FIFO needs CAP_SYS_NICE or root".into()),
                        None,
                    ),
                    e => (
                        Priority::Normal(format!(
                            "SCHED_FIFO refused: {}",
                            std::io::Error::from_raw_os_error(e)
                        )),
                        None,
                    ),
                }
            }
        };
        t.priority = priority;
        t.policy = policy;
        t
    }

    /// How the thread is scheduled now.
    pub fn priority(&self) -> &Priority {
        &self.priority
    }
}

impl Drop for Timely {
    fn drop(&mut self) {
        // SAFETY: as in `enter`: the calling thread's own policy and slack.
        unsafe {
            if let Some((policy, param)) = self.policy {
                libc::pthread_setschedparam(libc::pthread_self(), policy, &param);
            }
            if let Some(slack) = self.slack {
                libc::prctl(libc::PR_SET_TIMERSLACK, slack as libc::c_ulong, 0, 0, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> libc::c_int {
        unsafe {
            let mut policy = 0;
            let mut p: libc::sched_param = std::mem::zeroed();
            libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut p);
            policy
        }
    }

    fn slack() -> libc::c_int {
        unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) }
    }

    #[test]
    fn a_timely_thread_is_put_back_as_it_was() {
        std::thread::spawn(|| {
            let (before_policy, before_slack) = (policy(), slack());
            {
                let t = Timely::enter();
                // Real-time threads have no slack at all.
                assert!(slack() <= 1, "slack {}", slack());
                match t.priority() {
                    Priority::Fifo(p) => {
                        assert_eq!(*p, FIFO_PRIORITY);
                        assert_eq!(policy(), libc::SCHED_FIFO);
                    }
                    Priority::Normal(why) => {
                        assert!(!why.is_empty());
                        assert_eq!(policy(), before_policy);
                    }
                }
            }
            assert_eq!(policy(), before_policy);
            assert_eq!(slack(), before_slack);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn short_intervals_stay_at_normal_priority() {
        std::thread::spawn(|| {
            let before = policy();
            let t = Timely::for_interval(Duration::from_micros(200));
            assert!(matches!(t.priority(), Priority::Normal(why) if why.contains("spins")));
            assert_eq!(policy(), before);
            assert!(slack() <= 1);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn priorities_say_what_they_are() {
        assert_eq!(Priority::Fifo(10).to_string(), "SCHED_FIFO priority 10");
        assert!(Priority::Normal("x".into()).to_string().contains("normal"));
    }
}
