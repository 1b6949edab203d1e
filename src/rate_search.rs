//! The search for the fastest rate that loses nothing (RFC 2544 §26.1,
//! "throughput"), as a pure state machine: it says at what rate the next
//! trial runs, is told what the trial counted, and ends with the highest
//! offered rate whose loss stayed within the target, to a stated
//! resolution.
//!
//! The first trial is unpaced: the rate the sender reaches is the top of
//! the range, and when nothing is lost there it is the answer. Else a
//! trial at [`LOW_FRACTION`] of it: when even that loses, every trial
//! lost and there is no answer. Between the two the search halves the
//! range, a trial at its middle each time (a pass raises the bottom, a
//! loss lowers the top), until the range is within the resolution of its
//! bottom ([`RESOLUTION`], 1 % of the rate): the bottom is the answer.
//!
//! No socket and no clock: the driver runs each trial (the lab's own
//! pacing, `--rate`) and hands back its counts.

use serde::Serialize;

/// Each search ends once the passing and the failing rate are within this
/// fraction of the passing one.
pub const RESOLUTION: f64 = 0.01;
/// The low end of the range, as a fraction of the unpaced trial's rate.
pub const LOW_FRACTION: u64 = 100;
/// The slowest trial the search asks for, bit/s.
pub const MIN_RATE_BPS: u64 = 1_000;

/// What one trial counted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trial {
    /// The rate the trial offered, bit/s: its pace, or for the unpaced
    /// trial the rate its sender reached.
    pub offered_bps: u64,
    /// The rate that arrived, bit/s.
    pub received_bps: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams sent and never received.
    pub lost: u64,
}

impl Trial {
    /// `lost / sent`, percent (100 when nothing was sent: a trial that
    /// carried nothing proves nothing).
    pub fn loss_percent(&self) -> f64 {
        if self.sent == 0 {
            100.0
        } else {
            self.lost as f64 * 100.0 / self.sent as f64
        }
    }
}

/// The next step of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run a trial at this pace, bit/s (0: unpaced).
    Trial(u64),
    /// The search is over.
    Done(Outcome),
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The highest offered rate whose loss was within the target, bit/s,
    /// and the failing rate above it (none when the unpaced trial passed).
    Found {
        /// The answer.
        rate_bps: u64,
        /// The lowest rate that lost more than the target.
        failed_bps: Option<u64>,
    },
    /// Every trial lost more than the target, the slowest too.
    AllLost,
}

/// A search in progress.
#[derive(Debug, Clone)]
pub struct Search {
    /// Most loss a passing trial may have, percent.
    loss_target: f64,
    trials: Vec<Trial>,
    /// The highest rate that passed.
    pass: Option<u64>,
    /// The lowest rate that failed.
    fail: Option<u64>,
    /// The rate of the trial asked for and not yet recorded.
    asked: Option<u64>,
}

impl Search {
    /// A search for the fastest rate whose loss is at most `loss_target`
    /// percent (0: none at all).
    pub fn new(loss_target: f64) -> Search {
        Search {
            loss_target: loss_target.clamp(0.0, 100.0),
            trials: Vec::new(),
            pass: None,
            fail: None,
            asked: None,
        }
    }

    /// The loss target, percent.
    pub fn loss_target(&self) -> f64 {
        self.loss_target
    }

    /// The trials so far, in order.
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// What to do next: a trial at a pace, or the end.
    pub fn next_step(&mut self) -> Next {
        let next = self.decide();
        if let Next::Trial(r) = next {
            self.asked = Some(r);
        }
        next
    }

    fn decide(&self) -> Next {
        let Some(top) = self.trials.first() else {
            return Next::Trial(0);
        };
        let (Some(pass), Some(fail)) = (self.pass, self.fail) else {
            return match (self.pass, self.fail) {
                // The unpaced trial passed: nothing faster can be offered.
                (Some(rate_bps), None) => Next::Done(Outcome::Found {
                    rate_bps,
                    failed_bps: None,
                }),
                (None, Some(_)) if self.trials.len() >= 2 => Next::Done(Outcome::AllLost),
                _ => Next::Trial((top.offered_bps / LOW_FRACTION).max(MIN_RATE_BPS)),
            };
        };
        if fail <= pass || (fail - pass) as f64 <= pass as f64 * RESOLUTION {
            return Next::Done(Outcome::Found {
                rate_bps: pass,
                failed_bps: Some(fail),
            });
        }
        Next::Trial(pass + (fail - pass) / 2)
    }

    /// What the trial asked for last counted. The unpaced trial's offered
    /// rate is the one its sender reached; a paced one's is its pace.
    pub fn record(&mut self, t: Trial) {
        let rate = match self.asked.take() {
            Some(0) | None => t.offered_bps,
            Some(r) => r,
        };
        let t = Trial {
            offered_bps: rate,
            ..t
        };
        if t.loss_percent() <= self.loss_target {
            self.pass = Some(self.pass.map_or(rate, |p| p.max(rate)));
        } else {
            self.fail = Some(self.fail.map_or(rate, |f| f.min(rate)));
        }
        self.trials.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver that keeps up to `limit` bit/s and loses what is above
    /// it, as a fraction of what was sent.
    fn trial_at(rate: u64, limit: u64, unpaced: u64) -> Trial {
        let offered = if rate == 0 { unpaced } else { rate };
        let sent = offered / 1000;
        let received = offered.min(limit);
        let lost = sent - sent * received / offered;
        Trial {
            offered_bps: offered,
            received_bps: received,
            sent,
            lost,
        }
    }

    fn search(limit: u64, unpaced: u64, target: f64) -> (Outcome, Vec<Trial>) {
        let mut s = Search::new(target);
        loop {
            match s.next_step() {
                Next::Trial(r) => s.record(trial_at(r, limit, unpaced)),
                Next::Done(o) => return (o, s.trials().to_vec()),
            }
        }
    }

    #[test]
    fn the_first_trial_is_unpaced_and_a_clean_one_is_the_answer() {
        let mut s = Search::new(0.0);
        assert_eq!(s.next_step(), Next::Trial(0));
        s.record(trial_at(0, u64::MAX, 5_000_000_000));
        assert_eq!(
            s.next_step(),
            Next::Done(Outcome::Found {
                rate_bps: 5_000_000_000,
                failed_bps: None
            })
        );
    }

    #[test]
    fn the_search_ends_within_one_percent_below_the_receivers_limit() {
        for (limit, unpaced) in [
            (3_000_000_000, 10_000_000_000),
            (9_900_000_000, 10_000_000_000),
            (150_000_000, 10_000_000_000),
            (1_000_000, 80_000_000),
        ] {
            let (o, trials) = search(limit, unpaced, 0.0);
            let Outcome::Found {
                rate_bps,
                failed_bps: Some(fail),
            } = o
            else {
                panic!("{o:?}");
            };
            assert!(rate_bps <= limit, "{limit}: {rate_bps}");
            assert!(fail > limit, "{limit}: {fail}");
            assert!((fail - rate_bps) as f64 <= rate_bps as f64 * RESOLUTION);
            assert!(trials.len() <= 16, "{limit}: {} trials", trials.len());
            // The first is unpaced, the second at the low end.
            assert_eq!(trials[0].offered_bps, unpaced);
            assert_eq!(trials[1].offered_bps, unpaced / LOW_FRACTION);
        }
    }

    #[test]
    fn a_loss_target_lets_trials_lose_that_much() {
        // 10 % over the limit loses about 9 %: within a 10 % target.
        let (o, _) = search(1_000_000_000, 2_000_000_000, 10.0);
        let Outcome::Found { rate_bps, .. } = o else {
            panic!("{o:?}");
        };
        assert!(
            rate_bps > 1_000_000_000 && rate_bps <= 1_112_000_000,
            "{rate_bps}"
        );
    }

    #[test]
    fn when_the_slowest_trial_loses_too_every_trial_lost() {
        let (o, trials) = search(1_000, 10_000_000_000, 0.0);
        assert_eq!(o, Outcome::AllLost);
        assert_eq!(trials.len(), 2);
        assert!(trials.iter().all(|t| t.lost > 0));
    }

    #[test]
    fn a_trial_that_sent_nothing_is_a_loss() {
        let t = Trial {
            offered_bps: 1,
            received_bps: 0,
            sent: 0,
            lost: 0,
        };
        assert_eq!(t.loss_percent(), 100.0);
        let mut s = Search::new(0.0);
        assert_eq!(s.next_step(), Next::Trial(0));
        s.record(t);
        assert!(matches!(s.next_step(), Next::Trial(_)));
        s.record(t);
        assert_eq!(s.next_step(), Next::Done(Outcome::AllLost));
    }

    #[test]
    fn a_paced_trial_is_recorded_at_its_pace() {
        let mut s = Search::new(0.0);
        s.next_step();
        s.record(trial_at(0, 1_000_000, 100_000_000));
        let Next::Trial(r) = s.next_step() else {
            panic!()
        };
        assert_eq!(r, 1_000_000);
        // Its sender reached a little less: the pace stands.
        s.record(Trial {
            offered_bps: 990_000,
            ..trial_at(r, 1_000_000, 0)
        });
        assert_eq!(s.trials()[1].offered_bps, 1_000_000);
    }
}
