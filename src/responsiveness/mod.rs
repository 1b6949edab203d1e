//! Responsiveness under working conditions (RPM), as the IETF draft
//! "Responsiveness under Working Conditions"
//! (draft-ietf-ippm-responsiveness) defines it, applied to the lab's own
//! probes. Pure code: probe round trips and goodput readings go in, with the
//! time they were taken; the phases to run, the flows to add, when to probe
//! and the figures come out. Opening connections, timing them and reading
//! `TCP_INFO` is the client's job.
//!
//! - [`figures`]: the trimmed mean, the RPM of a set of probes and its
//!   confidence.
//! - [`phases`]: the run as a state machine: an idle phase, then each
//!   loaded phase (`down`, `up`, `bidir`), with its flows fixed (`-P N`) or
//!   added one per direction each second until goodput stops growing.
//! - [`schedule`]: how often probes go, so that they stay under 1 % of the
//!   bottleneck's rate.
//! - [`split`]: the UDP probes' round trips split up and down, on the
//!   clocks the probes' own stamps put in agreement.
//!
//! # The rules, as this module applies them
//!
//! - **Probes.** Foreign probes run on connections of their own: the time a
//!   new TCP connection takes to connect (`connect`), the round trip of an
//!   echo on a connection kept open for it (`echo`), and the round trip of a
//!   UDP echo (`udp`) when the server answers UDP on the same port. Self
//!   probes are the load connections' own round-trip time as the kernel
//!   keeps it (`self`: `TCP_INFO`'s `rtt` on a sending connection, its
//!   `rcv_rtt` on a receiving one). A probe that gets no answer in time is
//!   lost: counted, never a sample.
//! - **Trimmed mean.** Each kind's samples are sorted and the largest
//!   10 % (rounded down) dropped; the mean of the rest is the kind's
//!   trimmed mean, TM.
//! - **RPM.** `60 / D`, D in seconds, where D is the weighted mean of the
//!   kinds' trimmed means: the foreign kinds share one half and the self
//!   probes the other, as the draft's
//!   `1/6·(TM(tcp) + TM(tls) + TM(http)) + 1/2·TM(self)` does with three
//!   foreign kinds. A kind with no sample drops out and the others of its
//!   half share its weight; with no self probes (the idle phase) the foreign
//!   kinds carry all of it.
//! - **Confidence** ([`CONFIDENCE_RULE`]): `high` when the phase's goodput
//!   reached stability, every kind measured has at least
//!   [`HIGH_SAMPLES`] samples and no more than 5 % of the probes sent were
//!   lost; `medium` when every kind measured has at least
//!   [`MEDIUM_SAMPLES`] samples and no more than 20 % were lost; `low`
//!   otherwise.
//! - **Working conditions.** Each second the phase's goodput over that
//!   second is taken; the moving average of the last 4 such seconds is
//!   kept, and goodput is stable when the last 4 moving averages lie within
//!   5 % (their standard deviation over their mean). Until then, unless
//!   `-P N` fixes the flows, one flow per direction is added each second,
//!   up to [`MAX_RAMP_FLOWS`] per direction.

pub mod figures;
pub mod phases;
pub mod schedule;
pub mod split;

pub use figures::{
    CONFIDENCE_RULE, Confidence, HIGH_SAMPLES, Kind, KindFigures, MEDIUM_SAMPLES, ProbeSet,
    RPM_RULE, Responsiveness, trimmed_mean,
};
pub use phases::{Command, FlowPolicy, Load, MAX_RAMP_FLOWS, Phase, PhaseDriver, Ramp};
pub use schedule::{IDLE_INTERVAL, MIN_INTERVAL, probe_interval};
