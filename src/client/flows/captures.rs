//! The captures of several flows: one model file that every flow writes
//! to, each frame's comment naming its flow ("flow 3/4 upload: …"), as a
//! server writes all its sessions into one; and one live capture of them
//! all, filtered on the server's address and port. Once the flows are
//! done, the live capture's frames are split per flow (by the client's
//! port) into each flow's table, and the tables are summed.

use std::net::SocketAddr;
use std::path::Path;

use crate::account::beside::{self, CaptureColumn, Overhead, OverheadSum};
use crate::account::kernel::UdpCounters;
use crate::client::interrupt;
use crate::client::record::{CapturesReport, ModelReport, Recording, SharedModel};
use crate::client::report::Report;
use crate::client::transfer::Direction;
use crate::client::{ClientConfig, ClientError};
use crate::instruments::{Live, ModelFile};
use crate::pcap::Summary;
use crate::wire::{IpVersion, Layers, Transport};

/// The model file and the live capture of one run of several flows.
#[derive(Debug, Default)]
pub(super) struct RunCaptures {
    model: Option<ModelFile>,
    live: Option<Live>,
}

impl RunCaptures {
    /// Starts what `config` asks for: the live capture of every flow to
    /// the server (before any flow connects, so it holds their handshakes),
    /// then the model file.
    pub(super) fn start(config: &ClientConfig) -> Result<RunCaptures, ClientError> {
        let rec = &config.recording;
        let (transport, what) = match config.udp {
            Some(_) => (Transport::Udp, "udp"),
            None => (Transport::Tcp, "tcp"),
        };
        let mut caps = RunCaptures::default();
        if let Some(req) = rec.live_request(what) {
            let target = config.target;
            let live = Live::start(&req, transport, target, target.ip())?;
            interrupt::watch_live(live.stopper());
            caps.live = Some(live);
        }
        if let Some(path) = &rec.pcap {
            let file = ModelFile::create(path)?;
            interrupt::watch_model(file.clone());
            caps.model = Some(file);
        }
        Ok(caps)
    }

    /// Whether a live capture runs.
    pub(super) fn live(&self) -> bool {
        self.live.is_some()
    }

    /// The configuration of flow `flow` (from 1) of `of`, going `d`: no
    /// capture of its own, its model frames in the shared file.
    pub(super) fn config_for(
        &self,
        config: &ClientConfig,
        flow: usize,
        of: usize,
        d: Direction,
    ) -> ClientConfig {
        let shared = self.model.as_ref().map(|file| SharedModel {
            file: file.clone(),
            label: format!("flow {flow}/{of} {}", d.name()),
        });
        ClientConfig {
            recording: Recording {
                pcap: None,
                capture: None,
                shared,
            },
            ..config.clone()
        }
    }

    /// Stops the live capture and closes the model file, whatever became
    /// of the flows, so both files are whole.
    pub(super) fn finish(self) -> Result<Option<CapturesReport>, ClientError> {
        if self.model.is_none() && self.live.is_none() {
            return Ok(None);
        }
        let _closing = interrupt::closing();
        let live = self.live.map(Live::stop).transpose();
        let model = match &self.model {
            Some(file) => Some(ModelReport {
                path: file.path().display().to_string(),
                frames: file.finish()?,
                kernel_times: None,
            }),
            None => None,
        };
        Ok(Some(CapturesReport { model, live: live? }))
    }
}

/// Adds to a report of several flows each flow's frames in the live
/// capture (if one ran) and the sum of the flows' tables; `udp_window` is
/// UDP's counters over the whole run (the kernel column of the sum).
pub(super) fn account(r: &mut Report, udp_window: Option<UdpCounters>) {
    let live = r.captures.as_ref().and_then(|c| c.live.as_ref());
    let captured = live.is_some();
    let summary = live.and_then(|l| crate::pcap::summarize_path(Path::new(&l.path)).ok());
    let Ok(target) = r.target.parse::<SocketAddr>() else {
        return;
    };
    let udp = r.transport == "udp";
    for f in &mut r.flows {
        let Some(o) = f.overhead.as_mut() else {
            continue;
        };
        if udp {
            o.notes.push(
                "kernel: with several flows, /proc/net/snmp (the whole namespace) counts every flow's datagrams in this flow's window".to_string(),
            );
        }
        let column = summary
            .as_ref()
            .zip(f.port)
            .and_then(|(s, port)| flow_column(s, target, port, udp));
        if let Some(c) = column {
            o.add_capture(c);
        }
    }
    let each: Vec<Option<&Overhead>> = r.flows.iter().map(|f| f.overhead.as_ref()).collect();
    if each.iter().all(Option::is_none) && !captured {
        return;
    }
    let mut sum = OverheadSum::of(&each, captured, r.seconds);
    if udp {
        let ip = if target.is_ipv6() {
            IpVersion::V6
        } else {
            IpVersion::V4
        };
        let link = beside::link_for(target.ip().is_loopback());
        let kernel = udp_window
            .zip(sum.model)
            .map(|(k, m)| beside::udp_kernel_column(ip, link, &k, m.layers.payload));
        sum.with_kernel_window(kernel);
    }
    r.overhead = None;
    r.overhead_sum = Some(sum);
}

/// The frames of the flow between the client's `port` and `server`, both
/// ways, as the capture column of its table; `None` when the capture holds
/// none.
fn flow_column(s: &Summary, server: SocketAddr, port: u16, udp: bool) -> Option<CaptureColumn> {
    let transport = if udp { "udp" } else { "tcp" };
    let ip = server.ip().to_canonical();
    let ours = |a: std::net::IpAddr, ap: Option<u16>, bp: Option<u16>| {
        a.to_canonical() == ip && ap == Some(server.port()) && bp == Some(port)
    };
    s.flows
        .iter()
        .filter(|f| f.transport == transport)
        .filter(|f| ours(f.src, f.src_port, f.dst_port) || ours(f.dst, f.dst_port, f.src_port))
        .map(|f| CaptureColumn {
            frames: f.frames,
            wire_bytes: f.bytes,
            layers: Layers {
                payload: f.layers.payload,
                l4: f.layers.l4,
                l3: f.layers.l3,
                l2: f.layers.l2,
                padding: 0,
                preamble_gap: 0,
            },
            retransmissions: f.retransmissions,
            control_frames: f.syn + f.fin + f.rst,
        })
        .reduce(beside::add_capture)
}
