//! Where several flows wait for each other: each arrives once connected
//! (or once it knows it cannot), and all go when the runner opens the
//! gate, which it does once every flow it started has arrived. Unlike a
//! `Barrier` of a fixed count, a flow whose thread could not start leaves
//! no one waiting for it.

use std::sync::{Condvar, Mutex};

/// The flows that have arrived, and whether they may go.
#[derive(Debug, Default)]
pub(super) struct Gate {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Gate {
    /// A flow arrives and waits until the gate opens.
    pub(super) fn arrive_and_wait(&self) {
        let Ok(mut s) = self.state.lock() else { return };
        s.0 += 1;
        self.changed.notify_all();
        while !s.1 {
            s = match self.changed.wait(s) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
    }

    /// Waits until `n` flows have arrived, then lets them all go.
    pub(super) fn open_when(&self, n: usize) {
        let Ok(mut s) = self.state.lock() else { return };
        while s.0 < n {
            s = match self.changed.wait(s) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
        s.1 = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn nobody_goes_before_everyone_has_arrived() {
        let gate = Gate::default();
        let went = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    gate.arrive_and_wait();
                    went.fetch_add(1, Ordering::SeqCst);
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert_eq!(went.load(Ordering::SeqCst), 0);
            gate.open_when(4);
        });
        assert_eq!(went.load(Ordering::SeqCst), 4);
    }
}
