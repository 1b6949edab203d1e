//! Waiting for an absolute deadline: sleep most of the way, then spin.
//!
//! A stream's segment i is due at `t0 + i·interval`. Deadlines are absolute,
//! so a late wake-up never pushes later segments back (no drift). The OS
//! wakes a sleeper tens of microseconds late, so the last [`SPIN`] before a
//! deadline is spent polling the clock: a CPU cost of at most `SPIN` per
//! segment (4 % of one core at a 5 ms interval). A [`Schedule`] lengthens
//! that tail when it finds the machine waking it late.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long before a deadline the waiter stops sleeping and spins.
pub const SPIN: Duration = Duration::from_micros(200);

/// The send time of segment `i` of a schedule that starts at `t0`.
pub fn deadline(t0: Instant, interval: Duration, i: u32) -> Instant {
    t0 + interval.saturating_mul(i)
}

/// Returns at `deadline` or just after it, or at once when it has passed.
pub fn wait_until(deadline: Instant) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    let left = deadline - now;
    if left > SPIN {
        std::thread::sleep(left - SPIN);
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// Longest single sleep of an interruptible wait: how late a stop is seen.
pub const STOP_CHECK: Duration = Duration::from_millis(50);

/// As [`wait_until`], but returns `false` at once (within [`STOP_CHECK`])
/// when `stop` is set, so a server shutting down never waits out a long
/// interval.
pub fn wait_until_or_stop(deadline: Instant, stop: &std::sync::atomic::AtomicBool) -> bool {
    use std::sync::atomic::Ordering;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= STOP_CHECK + SPIN {
            wait_until(deadline);
            return !stop.load(Ordering::Relaxed);
        }
        std::thread::sleep(STOP_CHECK);
    }
}

/// The longest spin tail a [`Schedule`] grows to, whatever the interval.
pub const MAX_SPIN: Duration = Duration::from_millis(2);

/// Waits for a stream's deadlines, one after another, learning how late
/// this machine wakes a sleeper.
///
/// Each wait sleeps until `deadline − tail`, then spins. The tail starts at
/// [`SPIN`]; when a sleep ends later than asked (a busy machine), the tail
/// grows at once to twice that lateness plus [`SPIN`], up to a quarter of
/// the interval (and [`MAX_SPIN`]); quiet wake-ups shrink it back slowly.
/// The time spent spinning is counted, as the stream's CPU cost.
#[derive(Debug, Clone)]
pub struct Schedule {
    tail: Duration,
    max_tail: Duration,
    spun: Duration,
    late_wakes: u32,
}

impl Schedule {
    /// A schedule for deadlines `interval` apart.
    pub fn new(interval: Duration) -> Schedule {
        Schedule {
            tail: SPIN,
            max_tail: (interval / 4).clamp(SPIN, MAX_SPIN),
            spun: Duration::ZERO,
            late_wakes: 0,
        }
    }

    /// As [`wait_until_or_stop`], with this schedule's spin tail.
    pub fn wait(&mut self, deadline: Instant, stop: &std::sync::atomic::AtomicBool) -> bool {
        use std::sync::atomic::Ordering;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left <= STOP_CHECK + self.tail {
                break;
            }
            std::thread::sleep(STOP_CHECK);
        }
        let wake = deadline.checked_sub(self.tail).unwrap_or(deadline);
        let now = Instant::now();
        if wake > now {
            std::thread::sleep(wake - now);
            let woke = Instant::now();
            self.learn(woke.saturating_duration_since(wake));
        }
        let spin_from = Instant::now();
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
        self.spun += spin_from.elapsed();
        !stop.load(Ordering::Relaxed)
    }

    fn learn(&mut self, late: Duration) {
        let want = (late * 2 + SPIN).min(self.max_tail);
        if want > self.tail {
            self.tail = want;
            self.late_wakes += 1;
        } else {
            let excess = self.tail - want;
            self.tail = if excess < Duration::from_micros(16) {
                want
            } else {
                self.tail - excess / 16
            };
        }
    }

    /// The spin tail now.
    pub fn tail(&self) -> Duration {
        self.tail
    }

    /// Time spent spinning so far: the CPU the schedule cost beyond sending.
    pub fn spun(&self) -> Duration {
        self.spun
    }

    /// How many wake-ups were late enough to grow the tail.
    pub fn late_wakes(&self) -> u32 {
        self.late_wakes
    }
}

/// Pins the calling thread, and the threads it starts after, to CPU `cpu`
/// (`sched_setaffinity(2)`). Fails with a sentence when the CPU is not one
/// this process may use.
pub fn pin_to_cpu(cpu: usize) -> Result<(), String> {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    check_cpu(cpu)?;
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|e| e.to_string())?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("--cpu {cpu}: {e}"))
}

/// Whether this process may run on CPU `cpu` (`sched_getaffinity(2)`): the
/// check [`pin_to_cpu`] makes first, for the command line to make before
/// it does anything else.
pub fn check_cpu(cpu: usize) -> Result<(), String> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let allowed = sched_getaffinity(Pid::from_raw(0)).map_err(|e| e.to_string())?;
    if !allowed.is_set(cpu).unwrap_or(false) {
        let list: Vec<String> = (0..CpuSet::count())
            .filter(|c| allowed.is_set(*c).unwrap_or(false))
            .map(|c| c.to_string())
            .collect();
        return Err(format!(
            "--cpu {cpu}: this process may run on CPUs {} only",
            list.join(",")
        ));
    }
    Ok(())
}

/// CPU time this process has used so far (`getrusage(2)`, `RUSAGE_SELF`):
/// user and system seconds, all threads together.
/// The reading itself is [`crate::net::rusage::process_cpu`].
pub fn process_cpu() -> Option<(f64, f64)> {
    Some(crate::net::rusage::seconds(
        crate::net::rusage::process_cpu(),
    ))
}

/// Now, in nanoseconds since the Unix epoch (`CLOCK_REALTIME`): the clock
/// the protocol's timestamps use. Comparable between processes on one host.
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub use crate::session::Epoch;

/// Pins the monotonic clock to the Unix-epoch clock now.
pub fn epoch_now() -> Epoch {
    Epoch::pin(Instant::now(), unix_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_absolute() {
        let t0 = Instant::now();
        let d = Duration::from_millis(5);
        assert_eq!(deadline(t0, d, 2000) - t0, Duration::from_secs(10));
    }

    #[test]
    fn a_stop_cuts_a_long_wait_short() {
        use std::sync::atomic::AtomicBool;
        let stop = AtomicBool::new(true);
        let t = Instant::now();
        assert!(!wait_until_or_stop(t + Duration::from_secs(60), &stop));
        assert!(t.elapsed() < Duration::from_secs(1));
        let go = AtomicBool::new(false);
        assert!(wait_until_or_stop(
            Instant::now() + Duration::from_millis(5),
            &go
        ));
    }

    #[test]
    fn a_late_wake_grows_the_tail_and_quiet_ones_shrink_it() {
        let mut s = Schedule::new(Duration::from_millis(5));
        assert_eq!(s.tail(), SPIN);
        s.learn(Duration::from_micros(300));
        assert_eq!(s.tail(), Duration::from_micros(800));
        assert_eq!(s.late_wakes(), 1);
        s.learn(Duration::from_millis(50));
        assert_eq!(s.tail(), Duration::from_micros(1250), "a quarter of 5 ms");
        for _ in 0..500 {
            s.learn(Duration::ZERO);
        }
        assert_eq!(s.tail(), SPIN);
        assert_eq!(Schedule::new(Duration::from_secs(1)).max_tail, MAX_SPIN);
        assert_eq!(Schedule::new(Duration::from_micros(100)).max_tail, SPIN);
    }

    #[test]
    fn a_schedule_waits_to_each_deadline_and_counts_its_spin() {
        use std::sync::atomic::AtomicBool;
        let go = AtomicBool::new(false);
        let mut s = Schedule::new(Duration::from_millis(2));
        let t0 = Instant::now();
        for i in 1..=5 {
            let due = deadline(t0, Duration::from_millis(2), i);
            assert!(s.wait(due, &go));
            assert!(Instant::now() >= due);
        }
        assert!(s.spun() > Duration::ZERO);
        assert!(!s.wait(
            Instant::now() + Duration::from_secs(60),
            &AtomicBool::new(true)
        ));
    }

    #[test]
    fn wait_never_returns_early() {
        let target = Instant::now() + Duration::from_millis(2);
        wait_until(target);
        assert!(Instant::now() >= target);
    }
}
