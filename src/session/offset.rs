//! How far the server's clock is from the client's, estimated from the four
//! timestamps of echo exchanges, as NTP's on-wire method does (RFC 5905
//! §8), with its minimum-delay filter (§10): pure arithmetic, no socket and
//! no clock.
//!
//! For one exchange, t1 the client sent the request and t4 it received the
//! reply (client clock), t2 the server received it and t3 sent the reply
//! (server clock):
//!
//! - offset θ = ((t2 − t1) + (t3 − t4)) / 2, the server's clock minus the
//!   client's, exact when both ways take as long;
//! - network RTT δ = (t4 − t1) − (t3 − t2).
//!
//! However the round trip splits between the two ways, the true offset lies
//! within θ ± δ/2: the less time on the wire, the narrower the bound. Of a
//! set of exchanges the one with the smallest δ wins, and half its δ is the
//! bound. Two estimates, taken before and after a stream, give the drift
//! between the clocks over the stream; a stamp taken between them is
//! corrected with the offset interpolated to its time.
//!
//! With θ, a one-way delay from the server (a stamp `s` on its clock) to
//! the client (`r` on its clock) is r − (s − θ), within the same bound.

/// The four stamps of one exchange, nanoseconds (each on its host's
/// clock, from any origin shared by both of one host's stamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// The client's kernel sent the request.
    pub t1: u64,
    /// The server's kernel received it.
    pub t2: u64,
    /// The server's kernel sent the reply.
    pub t3: u64,
    /// The client's kernel received the reply.
    pub t4: u64,
}

impl Exchange {
    /// The round trip without the server's time in it, ns: `None` when the
    /// stamps are not in order on one host's clock (the server's reply
    /// before its request, or a round trip shorter than the server's time),
    /// which means they are not what they claim and are left out.
    pub fn network_rtt_ns(&self) -> Option<i128> {
        let whole = i128::from(self.t4) - i128::from(self.t1);
        let server = i128::from(self.t3) - i128::from(self.t2);
        (server >= 0 && whole >= server).then_some(whole - server)
    }

    /// θ: the server's clock minus the client's, ns (halves rounded toward
    /// zero).
    pub fn offset_ns(&self) -> i128 {
        let (t1, t2, t3, t4) = (
            i128::from(self.t1),
            i128::from(self.t2),
            i128::from(self.t3),
            i128::from(self.t4),
        );
        ((t2 - t1) + (t3 - t4)) / 2
    }
}

/// One estimate of the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The server's clock minus the client's, ns.
    pub offset_ns: i128,
    /// The true offset is within `offset_ns ± bound_ns`: half the winning
    /// exchange's network RTT.
    pub bound_ns: i128,
    /// When on the client's clock: the middle of the winning exchange.
    pub at_ns: u64,
    /// Exchanges that had all four stamps in order.
    pub exchanges: usize,
}

/// The estimate from `exchanges`: the one with the smallest network RTT
/// wins (the first of equals). `None` when no exchange has its four stamps
/// in order.
pub fn estimate(exchanges: &[Exchange]) -> Option<Estimate> {
    let valid: Vec<(&Exchange, i128)> = exchanges
        .iter()
        .filter_map(|e| Some((e, e.network_rtt_ns()?)))
        .collect();
    let (best, rtt) = valid.iter().min_by_key(|(_, rtt)| *rtt)?;
    Some(Estimate {
        offset_ns: best.offset_ns(),
        bound_ns: rtt / 2 + rtt % 2,
        at_ns: best.t1 + (best.t4 - best.t1) / 2,
        exchanges: valid.len(),
    })
}

/// The offset over a span: an estimate before it and, when there is one,
/// after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    /// Before the span.
    pub before: Estimate,
    /// After the span.
    pub after: Option<Estimate>,
}

impl Offset {
    /// How far the clocks moved apart between the two estimates, ns
    /// (`None` without the second).
    pub fn drift_ns(&self) -> Option<i128> {
        Some(self.after?.offset_ns - self.before.offset_ns)
    }

    /// The bound that holds over the span: the wider of the two.
    pub fn bound_ns(&self) -> i128 {
        self.after.map_or(self.before.bound_ns, |a| {
            a.bound_ns.max(self.before.bound_ns)
        })
    }

    /// The offset at `t_ns` on the client's clock: interpolated between the
    /// two estimates (held at the nearer one outside them), or the one
    /// estimate there is.
    pub fn at(&self, t_ns: u64) -> i128 {
        let b = self.before;
        let Some(a) = self.after.filter(|a| a.at_ns > b.at_ns) else {
            return b.offset_ns;
        };
        let t = t_ns.clamp(b.at_ns, a.at_ns);
        let span = i128::from(a.at_ns - b.at_ns);
        b.offset_ns + (a.offset_ns - b.offset_ns) * i128::from(t - b.at_ns) / span
    }

    /// The one-way delay from a stamp `sent_ns` on the server's clock to
    /// one `received_ns` on the client's, ns.
    pub fn one_way_ns(&self, sent_ns: u64, received_ns: u64) -> i128 {
        i128::from(received_ns) - i128::from(sent_ns) + self.at(received_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(t1: u64, t2: u64, t3: u64, t4: u64) -> Exchange {
        Exchange { t1, t2, t3, t4 }
    }

    #[test]
    fn a_symmetric_path_gives_the_offset_exactly() {
        // Server clock 5000 ns ahead; 100 ns each way, 30 ns at the server.
        // t1 1000, t2 1000+100+5000, t3 6130, t4 1000+100+30+100.
        let e = x(1000, 6100, 6130, 1230);
        assert_eq!(e.network_rtt_ns(), Some(200));
        assert_eq!(e.offset_ns(), 5000);
        let est = estimate(&[e]).unwrap();
        assert_eq!((est.offset_ns, est.bound_ns, est.exchanges), (5000, 100, 1));
        assert_eq!(est.at_ns, 1115);
    }

    #[test]
    fn an_asymmetric_path_is_off_by_half_the_difference_within_the_bound() {
        // True offset 2000; 300 ns out, 100 ns back, 50 at the server:
        // t2 = 1000 + 300 + 2000, t3 = t2 + 50, t4 = 1000 + 300 + 50 + 100.
        let e = x(1000, 3300, 3350, 1450);
        assert_eq!(e.network_rtt_ns(), Some(400));
        // θ = ((3300 − 1000) + (3350 − 1450)) / 2 = 2100: 100 ns from the
        // truth, half of 300 − 100, within the bound of 200.
        assert_eq!(e.offset_ns(), 2100);
        let est = estimate(&[e]).unwrap();
        assert_eq!(est.bound_ns, 200);
        assert!((est.offset_ns - 2000).abs() <= est.bound_ns);
    }

    #[test]
    fn the_exchange_with_the_smallest_network_rtt_wins() {
        // Same clocks (offset 0): a queued request (900 ns out, 100 back)
        // and a quick one (100 and 100); the quick one wins, and an exchange
        // with its stamps out of order is left out.
        let slow = x(0, 900, 950, 1050);
        let quick = x(10_000, 10_100, 10_150, 10_250);
        let broken = x(20_000, 20_200, 20_100, 20_300);
        assert_eq!(slow.offset_ns(), 400);
        assert_eq!(broken.network_rtt_ns(), None);
        let est = estimate(&[slow, broken, quick]).unwrap();
        assert_eq!((est.offset_ns, est.bound_ns, est.exchanges), (0, 100, 2));
        assert_eq!(estimate(&[broken]), None);
        assert_eq!(estimate(&[]), None);
        // An odd RTT rounds the bound up, never under the truth.
        assert_eq!(estimate(&[x(0, 50, 50, 101)]).unwrap().bound_ns, 51);
    }

    #[test]
    fn two_estimates_give_the_drift_and_correct_a_stamp_between_them() {
        // The server's clock runs 10 ppm fast: 1000 ns ahead at the client's
        // 0, 11_000 ahead a second (1e9 ns) later. 200 ns each way.
        let before = estimate(&[x(0, 1200, 1200, 400)]).unwrap();
        let t = 1_000_000_000;
        let after = estimate(&[x(t, t + 11_200, t + 11_200, t + 400)]).unwrap();
        assert_eq!((before.offset_ns, after.offset_ns), (1000, 11_000));
        let o = Offset {
            before,
            after: Some(after),
        };
        assert_eq!(o.drift_ns(), Some(10_000));
        assert_eq!(o.bound_ns(), 200);
        // Half way: 6000 ahead. A segment stamped 6000 + 500_000_000 on the
        // server's clock, received at 500_000_300 on the client's, took 300 ns.
        let mid = 500_000_200;
        assert_eq!(o.at(mid), 6000);
        assert_eq!(o.one_way_ns(500_006_000, 500_000_300), 300);
        // Outside the span the nearer estimate holds.
        assert_eq!(o.at(0), 1000);
        assert_eq!(o.at(2 * t), 11_000);
        // With one estimate there is no drift and the offset is constant.
        let one = Offset {
            before,
            after: None,
        };
        assert_eq!((one.drift_ns(), one.at(t)), (None, 1000));
    }
}
