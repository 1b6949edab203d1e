//! The report after several flows: each flow's table (model, kernel,
//! capture) summed row by row into one.
//!
//! Pure code, like the tables it adds up. A sum is only ever of every
//! flow: when one flow lacks a column (its accounting could not be made,
//! or the live capture holds none of its frames), that column of the sum
//! is not available (`None`, `null` in the JSON) rather than the sum of the
//! flows that had it.
//!
//! UDP's kernel column is the exception that is not a sum: its counters
//! (`/proc/net/snmp`) cover the whole namespace, so each flow's column
//! counts every flow's datagrams in that flow's window; the runner reads
//! them once over the run instead ([`OverheadSum::with_kernel_window`]).

use serde::Serialize;

use super::{CaptureColumn, Column, Overhead, rate};

/// Several flows' tables, summed.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadSum {
    /// The flows summed.
    pub flows: u32,
    /// The link kind priced (the first flow's).
    pub link: &'static str,
    /// The MTU the model used (the first flow's).
    pub mtu: u32,
    /// The model's frames, every flow's added up.
    pub model: Option<Column>,
    /// The kernel's counts: every flow's TCP_INFO added up, or UDP's
    /// counters read once over the run.
    pub kernel: Option<Column>,
    /// The live capture's frames of every flow (left out without
    /// `--capture`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<Option<CaptureColumn>>,
    /// Bits on the wire per second over the run, from the model column.
    pub wire_rate_bps: Option<f64>,
    /// Why a column is not available, and how the sum was made.
    pub notes: Vec<String>,
}

impl OverheadSum {
    /// The sum of `each` flow's table (`None`: the flow has none), over a
    /// run of `seconds`; `captured` when a live capture ran.
    pub fn of(each: &[Option<&Overhead>], captured: bool, seconds: f64) -> OverheadSum {
        let first = each.iter().flatten().next();
        let mut notes = Vec::new();
        let lacking: Vec<String> = flows_where(each, |o| o.is_none());
        if !lacking.is_empty() {
            notes.push(format!(
                "model and kernel: not available: flow {} has no accounting",
                lacking.join(", ")
            ));
        }
        let model = add_columns(each.iter().map(|o| o.map(|o| o.model)));
        let kernel = add_columns(each.iter().map(|o| o.map(|o| o.kernel)));
        let capture = captured.then(|| {
            let missing = flows_where(each, |o| o.is_none_or(|o| o.capture.is_none()));
            if !missing.is_empty() {
                notes.push(format!(
                    "capture: not available: the live capture holds no frames of flow {}",
                    missing.join(", ")
                ));
            }
            each.iter()
                .map(|o| o.and_then(|o| o.capture))
                .collect::<Option<Vec<CaptureColumn>>>()
                .and_then(|v| v.into_iter().reduce(add_capture))
        });
        OverheadSum {
            flows: each.len() as u32,
            link: first.map_or("", |o| o.link),
            mtu: first.map_or(0, |o| o.mtu),
            wire_rate_bps: model.map(|m| rate(m.wire_bytes, seconds)),
            model,
            kernel,
            capture,
            notes,
        }
    }

    /// Puts `kernel`, read once over the whole run, in place of the sum of
    /// the flows' kernel columns (UDP: each of those counts every flow).
    pub fn with_kernel_window(&mut self, kernel: Option<Column>) {
        let note = match kernel {
            Some(_) => {
                "kernel: /proc/net/snmp counts the whole namespace, so each flow's own kernel column counts every flow's datagrams in its window; the summed column is those counters read once, from the flows' common start to the last one's end"
            }
            None => {
                "kernel: not available: /proc/net/snmp could not be read over the run (each flow's own kernel column counts every flow's datagrams, so their sum would count them several times)"
            }
        };
        self.kernel = kernel;
        self.notes.push(note.to_string());
    }
}

/// The numbers (from 1) of the flows `f` holds for.
fn flows_where(each: &[Option<&Overhead>], f: impl Fn(Option<&Overhead>) -> bool) -> Vec<String> {
    (1..)
        .zip(each)
        .filter(|(_, o)| f(**o))
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Columns added up row by row; `None` when any is missing (or there is
/// none).
fn add_columns(cols: impl Iterator<Item = Option<Column>>) -> Option<Column> {
    cols.collect::<Option<Vec<Column>>>()?
        .into_iter()
        .reduce(|a, b| Column {
            frames: a.frames + b.frames,
            data_frames: a.data_frames + b.data_frames,
            ack_frames: a.ack_frames + b.ack_frames,
            retransmissions: a.retransmissions + b.retransmissions,
            wire_bytes: a.wire_bytes + b.wire_bytes,
            layers: a.layers + b.layers,
        })
}

/// Two capture columns added up row by row.
pub fn add_capture(a: CaptureColumn, b: CaptureColumn) -> CaptureColumn {
    CaptureColumn {
        frames: a.frames + b.frames,
        wire_bytes: a.wire_bytes + b.wire_bytes,
        layers: a.layers + b.layers,
        retransmissions: a.retransmissions + b.retransmissions,
        control_frames: a.control_frames + b.control_frames,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::beside::tcp;
    use crate::account::kernel::TcpInfo;
    use crate::wire::{IpVersion, Layers, Link};

    fn flow(bytes: u64, segs: u64) -> Overhead {
        tcp(
            &[super::super::Shape::File {
                up: 16,
                down: bytes,
                trailer: 24,
            }],
            IpVersion::V4,
            Link::Loopback,
            65535,
            65483,
            &TcpInfo {
                timestamps: true,
                segs_in: segs,
                segs_out: segs / 2,
                data_segs_in: segs,
                data_segs_out: 1,
                bytes_received: bytes,
                bytes_acked: 16,
                ..TcpInfo::default()
            },
            0.01,
        )
    }

    fn cap(frames: u64) -> CaptureColumn {
        CaptureColumn {
            frames,
            wire_bytes: frames * 100,
            layers: Layers {
                payload: frames * 50,
                l4: frames * 30,
                l3: frames * 20,
                ..Layers::default()
            },
            retransmissions: 1,
            control_frames: 6,
        }
    }

    #[test]
    fn every_row_is_the_sum_of_the_flows_rows() {
        let (a, b) = (flow(1_000_000, 20), flow(3_000_000, 50));
        let s = OverheadSum::of(&[Some(&a), Some(&b)], false, 0.5);
        let (m, k) = (s.model.unwrap(), s.kernel.unwrap());
        assert_eq!(m.frames, a.model.frames + b.model.frames);
        assert_eq!(m.layers.l4, a.model.layers.l4 + b.model.layers.l4);
        assert_eq!(m.wire_bytes, a.model.wire_bytes + b.model.wire_bytes);
        assert_eq!(k.frames, a.kernel.frames + b.kernel.frames);
        assert_eq!(k.ack_frames, a.kernel.ack_frames + b.kernel.ack_frames);
        assert_eq!(s.wire_rate_bps, Some(m.wire_bytes as f64 * 16.0));
        assert!(s.capture.is_none() && s.notes.is_empty(), "{:?}", s.notes);
        assert_eq!((s.flows, s.link, s.mtu), (2, "loopback", 65535));
    }

    #[test]
    fn a_flow_without_a_figure_makes_the_sum_not_available() {
        let (mut a, mut b) = (flow(1000, 2), flow(2000, 3));
        a.capture = Some(cap(10));
        let s = OverheadSum::of(&[Some(&a), Some(&b)], true, 1.0);
        assert_eq!(s.capture, Some(None));
        assert!(s.notes[0].contains("no frames of flow 2"), "{:?}", s.notes);
        b.capture = Some(cap(5));
        let s = OverheadSum::of(&[Some(&a), Some(&b)], true, 1.0);
        let c = s.capture.flatten().unwrap();
        assert_eq!((c.frames, c.wire_bytes, c.layers.l3), (15, 1500, 300));
        assert_eq!((c.retransmissions, c.control_frames), (2, 12));
        let s = OverheadSum::of(&[Some(&a), None], true, 1.0);
        assert!(s.model.is_none() && s.kernel.is_none() && s.wire_rate_bps.is_none());
        assert_eq!(s.capture, Some(None));
        assert!(
            s.notes[0].contains("flow 2 has no accounting"),
            "{:?}",
            s.notes
        );
        let json = serde_json::to_value(&s).unwrap();
        assert!(
            json["model"].is_null() && json["capture"].is_null(),
            "{json}"
        );
    }

    #[test]
    fn a_window_kernel_column_replaces_the_sum() {
        let a = flow(1000, 2);
        let mut s = OverheadSum::of(&[Some(&a), Some(&a)], false, 1.0);
        s.with_kernel_window(Some(a.kernel));
        assert_eq!(s.kernel, Some(a.kernel));
        s.with_kernel_window(None);
        assert!(s.kernel.is_none());
        assert_eq!(s.notes.len(), 2);
    }
}
