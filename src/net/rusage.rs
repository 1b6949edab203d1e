//! CPU time spent so far (`getrusage(2)`): by the calling thread
//! (`RUSAGE_THREAD`, one flow on its own thread) or by the whole process
//! (`RUSAGE_SELF`, all threads together). A flow's CPU is the difference of
//! two readings around its transfer window.
//!
//! Each reading is `(user_ns, sys_ns)`: time in user mode and in the kernel
//! on the process's behalf. The kernel counts them in scheduler ticks split
//! by sampling, so short windows read coarse.

use std::time::Duration;

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

/// User and system CPU of the calling thread so far, nanoseconds.
pub fn thread_cpu() -> (u64, u64) {
    read(UsageWho::RUSAGE_THREAD)
}

/// User and system CPU of the whole process so far, nanoseconds.
pub fn process_cpu() -> (u64, u64) {
    read(UsageWho::RUSAGE_SELF)
}

/// The CPU between two readings, `(user_ns, sys_ns)` (never negative).
pub fn between(before: (u64, u64), after: (u64, u64)) -> (u64, u64) {
    (
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
    )
}

/// A reading in seconds, as the reports print it.
pub fn seconds(ns: (u64, u64)) -> (f64, f64) {
    (
        Duration::from_nanos(ns.0).as_secs_f64(),
        Duration::from_nanos(ns.1).as_secs_f64(),
    )
}

fn read(who: UsageWho) -> (u64, u64) {
    // getrusage fails only on a bad `who` or a bad pointer (EINVAL,
    // EFAULT), neither of which nix lets through: zero then is no reading.
    let Ok(u) = getrusage(who) else {
        return (0, 0);
    };
    (ns(u.user_time()), ns(u.system_time()))
}

fn ns(t: TimeVal) -> u64 {
    let s = u64::try_from(t.tv_sec()).unwrap_or(0);
    let us = u64::try_from(t.tv_usec()).unwrap_or(0);
    s.saturating_mul(1_000_000_000).saturating_add(us * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Spins until this thread has used `cpu` (as `thread_cpu` counts it),
    /// or 20 s of wall time passed on a crowded machine.
    fn burn(cpu: u64) -> (u64, u64) {
        let (start, t0) = (Instant::now(), thread_cpu());
        let mut x = 0u64;
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            let t = between(t0, thread_cpu());
            if t.0 + t.1 >= cpu || start.elapsed() > Duration::from_secs(20) {
                return t;
            }
        }
    }

    #[test]
    fn a_thread_counts_its_own_cpu_and_the_process_all_of_it() {
        let p0 = process_cpu();
        let t = burn(50_000_000);
        assert!(t.0 + t.1 >= 50_000_000, "{t:?}");
        // Another thread's work is the process's, not this thread's.
        let t0 = thread_cpu();
        let other = std::thread::spawn(|| burn(50_000_000)).join().unwrap();
        assert!(other.0 + other.1 >= 50_000_000, "{other:?}");
        let mine = between(t0, thread_cpu());
        assert!(mine.0 + mine.1 < 40_000_000, "{mine:?}");
        let p = between(p0, process_cpu());
        assert!(p.0 + p.1 >= 100_000_000, "{p:?}");
        let (u, s) = seconds((1_500_000_000, 250_000_000));
        assert!((u - 1.5).abs() < 1e-9 && (s - 0.25).abs() < 1e-9);
    }
}
