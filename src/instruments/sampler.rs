//! The sampler's clock: a thread that, every `--sample` interval, reads each
//! flow's `TCP_INFO` and, with `--qdisc`, the watched queue's counters, and
//! hands them to the pure [`Sampler`] with the time since it started. It
//! only reads: the sockets are the transfer's own (cloned descriptors of
//! them), and nothing it does can stop or slow a transfer but the CPU of
//! its reads. A reading that fails leaves a gap (`null`) in its sample,
//! never an error. A sample is timed when its flows were read; the queue
//! is read just after (one `tc` process, a few milliseconds). Flows may
//! join a running sampler and leave it ([`RunningSampler::add_flow`],
//! [`RunningSampler::end_flow`]), as `--rpm`'s load flows do.
//!
//! ```no_run
//! use std::time::Duration;
//! use ardei_lab::instruments::sampler::RunningSampler;
//! let stream = std::net::TcpStream::connect("127.0.0.1:5005")?;
//! let sampler = RunningSampler::start(vec![stream.try_clone()?], Duration::from_millis(10), None)?;
//! // … the transfer …
//! let timeline = sampler.stop();
//! println!("{} samples", timeline.samples.len());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::net::qdisc::QdiscTarget;
use crate::net::tcpinfo::FlowReading;
use crate::timeline::{ProbeReading, Sampler, Timeline};

/// The longest the thread sleeps at once, so a stop is seen quickly even
/// with a long interval.
const NAP: Duration = Duration::from_millis(5);

/// What to sample and how often (the timeline's flags, checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampling {
    /// Time between samples.
    pub interval: Duration,
    /// The queue to read in each, already checked with
    /// [`QdiscTarget::check`].
    pub queue: Option<QdiscTarget>,
}

/// A sampler running on its own thread.
#[derive(Debug)]
pub struct RunningSampler {
    stop: Arc<AtomicBool>,
    probes: ProbeSink,
    flows: Flows,
    started: Instant,
    thread: JoinHandle<Timeline>,
}

/// The flows sampled, by id (their place in a sample's `flows`): a slot
/// whose socket has not come yet, or whose flow ended, reads as a gap.
type Flows = Arc<Mutex<Vec<Option<TcpStream>>>>;

/// Where latency probes hand in their round trips, from any thread: each
/// goes into the next sample ([`Sampler::probe`]).
#[derive(Debug, Clone, Default)]
pub struct ProbeSink(Arc<Mutex<Vec<ProbeReading>>>);

impl ProbeSink {
    /// A probe of `kind` that took `rtt`, or was lost (`None`).
    pub fn probe(&self, kind: &str, rtt: Option<Duration>) {
        let reading = ProbeReading {
            kind: kind.to_string(),
            rtt_us: rtt.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        };
        // A poisoned lock only means a probe thread panicked mid-push.
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reading);
    }

    fn drain_into(&self, sampler: &mut Sampler) {
        let taken = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        for p in taken {
            sampler.probe(p);
        }
    }
}

impl RunningSampler {
    /// Starts sampling `flows` (and `queue`, already checked with
    /// [`QdiscTarget::check`]) every `interval`, the first sample at once.
    pub fn start(
        flows: Vec<TcpStream>,
        interval: Duration,
        queue: Option<QdiscTarget>,
    ) -> std::io::Result<RunningSampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let probes = ProbeSink::default();
        let sink = probes.clone();
        let flows: Flows = Arc::new(Mutex::new(flows.into_iter().map(Some).collect()));
        let read = Arc::clone(&flows);
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || run(&read, started, interval, queue.as_ref(), &sink, &flag))?;
        Ok(RunningSampler {
            stop,
            probes,
            flows,
            started,
            thread,
        })
    }

    /// The sampler's clock: the time since it started, a sample's `t`.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// A new flow, its socket to come (see [`RunningSampler::set_flow`]):
    /// its id, its place in every sample's `flows` from now on.
    pub fn add_flow(&self) -> usize {
        let mut f = lock(&self.flows);
        f.push(None);
        f.len() - 1
    }

    /// Flow `id`'s socket (a clone of it), sampled from now on.
    pub fn set_flow(&self, id: usize, stream: TcpStream) {
        if let Some(slot) = lock(&self.flows).get_mut(id) {
            *slot = Some(stream);
        }
    }

    /// Flow `id` ended: it is no longer read, and its socket is let go.
    pub fn end_flow(&self, id: usize) {
        if let Some(slot) = lock(&self.flows).get_mut(id) {
            *slot = None;
        }
    }

    /// Where probes hand in their round trips while the sampler runs.
    pub fn probes(&self) -> ProbeSink {
        self.probes.clone()
    }

    /// Takes a last sample, stops, and returns the timeline.
    pub fn stop(self) -> Timeline {
        self.stop.store(true, Ordering::Relaxed);
        // A panic in the thread loses only the timeline.
        self.thread
            .join()
            .unwrap_or_else(|_| Sampler::new(Duration::ZERO).finish())
    }
}

/// The flows, whatever a thread that panicked holding them left.
fn lock(flows: &Flows) -> std::sync::MutexGuard<'_, Vec<Option<TcpStream>>> {
    flows.lock().unwrap_or_else(|p| p.into_inner())
}

fn run(
    flows: &Flows,
    start: Instant,
    interval: Duration,
    queue: Option<&QdiscTarget>,
    probes: &ProbeSink,
    stop: &AtomicBool,
) -> Timeline {
    let mut sampler = Sampler::new(interval);
    let read = |sampler: &mut Sampler| {
        let readings: Vec<Option<FlowReading>> = lock(flows)
            .iter()
            .map(|s| FlowReading::read(s.as_ref()?).ok())
            .collect();
        // The sample's time is the flows': a goodput is bytes over the
        // time between two readings, and the queue's `tc` may take long
        // on a busy machine, which must not stretch or shrink it.
        let at = start.elapsed();
        let q = queue.and_then(|q| q.read().ok());
        probes.drain_into(sampler);
        sampler.record(at, &readings, q);
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            read(&mut sampler);
            return sampler.finish();
        }
        let wait = sampler.next_due().saturating_sub(start.elapsed());
        if wait.is_zero() {
            read(&mut sampler);
        } else {
            std::thread::sleep(wait.min(NAP));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn samples_a_loopback_transfer_on_its_grid() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let sampler = RunningSampler::start(
            vec![c.try_clone().unwrap(), s.try_clone().unwrap()],
            Duration::from_millis(10),
            None,
        )
        .unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut got = 0;
            while got < 20 << 20 {
                got += s.read(&mut buf).unwrap();
            }
        });
        c.write_all(&vec![7u8; 20 << 20]).unwrap();
        reader.join().unwrap();
        sampler
            .probes()
            .probe("udp_echo", Some(Duration::from_micros(41)));
        std::thread::sleep(Duration::from_millis(30));
        let t = sampler.stop();
        assert_eq!(t.sample_us, 10_000);
        let probes: Vec<_> = t.samples.iter().flat_map(|s| &s.probes).collect();
        assert_eq!(probes.len(), 1, "the probe lands in one sample");
        assert_eq!(probes[0].rtt_us, Some(41));
        assert!(t.samples.len() >= 3, "{} samples", t.samples.len());
        assert!(t.samples.windows(2).all(|w| w[0].t < w[1].t));
        let last = &t.samples[t.samples.len() - 1];
        let sender = last.flows[0].expect("the sender's TCP_INFO");
        let receiver = last.flows[1].expect("the receiver's TCP_INFO");
        assert!(sender.cwnd > 0 && sender.rtt_us > 0, "{sender:?}");
        assert_eq!(sender.bytes_in_flight, 0, "all acknowledged: {sender:?}");
        assert!(receiver.cwnd > 0, "{receiver:?}");
        // Some sample saw the sender's bytes moving.
        assert!(
            t.samples
                .iter()
                .filter_map(|s| s.flows[0].and_then(|f| f.goodput_bps))
                .any(|g| g > 0.0),
            "{t:?}"
        );
        assert!(last.queue.is_none());
    }

    #[test]
    fn flows_join_and_leave_a_running_sampler() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _s = l.accept().unwrap();
        let sampler = RunningSampler::start(Vec::new(), Duration::from_millis(5), None).unwrap();
        let id = sampler.add_flow();
        assert_eq!(id, 0);
        std::thread::sleep(Duration::from_millis(20));
        sampler.set_flow(id, c.try_clone().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        assert!(sampler.elapsed() >= Duration::from_millis(40));
        sampler.end_flow(id);
        std::thread::sleep(Duration::from_millis(20));
        let t = sampler.stop();
        let read: Vec<bool> = t
            .samples
            .iter()
            .map(|s| s.flows.first().is_some_and(Option::is_some))
            .collect();
        // Gaps before its socket came and after it left, readings between.
        assert!(!read[0], "{read:?}");
        assert!(read.iter().any(|r| *r), "{read:?}");
        assert!(!read[read.len() - 1], "{read:?}");
    }
}
