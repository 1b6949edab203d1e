//! The on-wire table: what the action cost, frame by frame and layer by
//! layer, in the model's column beside the kernel's (and a live capture's),
//! then the kernel's own figures and why the columns differ; with several
//! flows, their tables summed, a line per flow, and how the sum was made.

use std::fmt::Write as _;

use super::FlowFigures;
use crate::account::beside::{KernelRaw, Overhead, OverheadSum};
use crate::units::format_bitrate;

/// The table, the goodput beside the wire rate, the kernel's own line and
/// one line per reason the columns differ.
pub(super) fn write(s: &mut String, o: &Overhead, goodput_bps: f64) {
    table(s, o);
    let _ = writeln!(
        s,
        "    goodput {}, wire rate {} (all headers, {} link)",
        format_bitrate(goodput_bps),
        format_bitrate(o.wire_rate_bps),
        o.link
    );
    kernel(s, &o.kernel_raw);
    for n in &o.notes {
        let _ = writeln!(s, "    why they differ: {n}");
    }
}

/// The header and one row per count: frames, then bytes layer by layer,
/// each in the model's, the kernel's and the capture's column.
fn table(s: &mut String, o: &Overhead) {
    let cap = o.capture.as_ref();
    // A TCP segment's payload is whatever TCP carries; a UDP datagram's
    // figure is what it carries after the lab's own header.
    let per = match o.kernel_raw {
        KernelRaw::Udp(_) => "data bytes per full datagram after the lab's 28-byte header",
        _ => "payload bytes per full segment",
    };
    let _ = writeln!(
        s,
        "  on the wire ({}, MTU {}, {} {per}):   model      kernel{}",
        o.link,
        o.mtu,
        o.segment_payload,
        if cap.is_some() { "     capture" } else { "" }
    );
    let row = |s: &mut String, name: &str, m: u64, k: u64, c: Option<u64>| {
        let c = c.map(|c| format!(" {c:>11}")).unwrap_or_default();
        let _ = writeln!(s, "    {name:<58} {m:>10} {k:>11}{c}");
    };
    row(
        s,
        "frames",
        o.model.frames,
        o.kernel.frames,
        cap.map(|c| c.frames),
    );
    let (m, k) = (&o.model, &o.kernel);
    row(s, "  with data", m.data_frames, k.data_frames, None);
    row(
        s,
        "  without data (pure ACKs, control)",
        m.ack_frames,
        k.ack_frames,
        None,
    );
    let retrans = cap.map(|c| c.retransmissions);
    row(
        s,
        "  retransmitted",
        m.retransmissions,
        k.retransmissions,
        retrans,
    );
    let cl = cap.map(|c| c.layers.named());
    let layers = m
        .layers
        .named()
        .into_iter()
        .zip(k.layers.named())
        .enumerate();
    for (i, ((name, mv), (_, kv))) in layers {
        row(s, &format!("bytes: {name}"), mv, kv, cl.map(|l| l[i].1));
    }
    row(
        s,
        "bytes on the wire",
        m.wire_bytes,
        k.wire_bytes,
        cap.map(|c| c.wire_bytes),
    );
}

/// Several flows' tables summed row by row ("n/a" where a flow lacked
/// the figure), the goodput beside the wire rate, a line per flow, and
/// how the sum was made.
pub(super) fn write_sum(s: &mut String, o: &OverheadSum, flows: &[FlowFigures], goodput_bps: f64) {
    let cap = o.capture.as_ref();
    let title = format!(
        "on the wire, {} flows summed ({}, MTU {}):",
        o.flows, o.link, o.mtu
    );
    let capture = if cap.is_some() {
        format!(" {:>11}", "capture")
    } else {
        String::new()
    };
    let _ = writeln!(s, "  {title:<60} {:>10} {:>11}{capture}", "model", "kernel");
    let (m, k) = (o.model.as_ref(), o.kernel.as_ref());
    let c = |f: fn(&crate::account::beside::CaptureColumn) -> u64| cap.map(|c| c.as_ref().map(f));
    let cl = |i: usize| cap.map(|c| c.as_ref().map(|c| c.layers.named()[i].1));
    sum_row(
        s,
        "frames",
        m.map(|c| c.frames),
        k.map(|c| c.frames),
        c(|c| c.frames),
    );
    sum_row(
        s,
        "  with data",
        m.map(|c| c.data_frames),
        k.map(|c| c.data_frames),
        None,
    );
    let name = "  without data (pure ACKs, control)";
    sum_row(
        s,
        name,
        m.map(|c| c.ack_frames),
        k.map(|c| c.ack_frames),
        None,
    );
    let (mr, kr) = (m.map(|c| c.retransmissions), k.map(|c| c.retransmissions));
    sum_row(s, "  retransmitted", mr, kr, c(|c| c.retransmissions));
    for i in 0..6 {
        let (name, _) = crate::wire::Layers::default().named()[i];
        let (mv, kv) = (
            m.map(|c| c.layers.named()[i].1),
            k.map(|c| c.layers.named()[i].1),
        );
        sum_row(s, &format!("bytes: {name}"), mv, kv, cl(i));
    }
    let (mw, kw) = (m.map(|c| c.wire_bytes), k.map(|c| c.wire_bytes));
    sum_row(s, "bytes on the wire", mw, kw, c(|c| c.wire_bytes));
    if let Some(w) = o.wire_rate_bps {
        let _ = writeln!(
            s,
            "    goodput {}, wire rate {} (all headers, {} link)",
            format_bitrate(goodput_bps),
            format_bitrate(w),
            o.link
        );
    }
    for f in flows {
        let _ = writeln!(s, "    {}", flow_line(f));
    }
    for n in &o.notes {
        let _ = writeln!(s, "    sum: {n}");
    }
}

/// One row of the summed table; `c` is `None` for a row without a capture
/// cell, `Some(None)` for one whose sum is not available.
fn sum_row(s: &mut String, name: &str, m: Option<u64>, k: Option<u64>, c: Option<Option<u64>>) {
    let na = |v: Option<u64>| v.map_or_else(|| "n/a".to_string(), |v| v.to_string());
    let c = c.map(|c| format!(" {:>11}", na(c))).unwrap_or_default();
    let _ = writeln!(s, "    {name:<58} {:>10} {:>11}{c}", na(m), na(k));
}

/// A flow's frames and wire bytes in each column it has.
fn flow_line(f: &FlowFigures) -> String {
    let Some(o) = &f.overhead else {
        return format!("flow {} ({}): no accounting", f.flow, f.direction);
    };
    let cap = |v: Option<u64>| v.map(|v| format!(" capture {v}")).unwrap_or_default();
    format!(
        "flow {} ({}): frames model {} kernel {}{}; bytes on the wire model {} kernel {}{}",
        f.flow,
        f.direction,
        o.model.frames,
        o.kernel.frames,
        cap(o.capture.map(|c| c.frames)),
        o.model.wire_bytes,
        o.kernel.wire_bytes,
        cap(o.capture.map(|c| c.wire_bytes)),
    )
}

/// What the kernel reported as it is: `TCP_INFO`, or the namespace's UDP
/// counters.
fn kernel(s: &mut String, raw: &KernelRaw) {
    match raw {
        KernelRaw::Tcp(k) => {
            let mut opts = Vec::new();
            if k.timestamps {
                opts.push("timestamps".to_string());
            }
            if k.sack {
                opts.push("SACK".to_string());
            }
            if let Some((snd, rcv)) = k.wscale {
                opts.push(format!("window scale {snd}/{rcv}"));
            }
            let _ = writeln!(
                s,
                "    kernel (TCP_INFO): snd_mss {} rcv_mss {} pmtu {}, rtt {} µs (±{}), {} segments out ({} with data), {} in ({} with data), {} retransmitted; negotiated: {}",
                k.snd_mss,
                k.rcv_mss,
                k.pmtu,
                k.rtt_us,
                k.rttvar_us,
                k.segs_out,
                k.data_segs_out,
                k.segs_in,
                k.data_segs_in,
                k.total_retrans,
                if opts.is_empty() {
                    "no options".to_string()
                } else {
                    opts.join(", ")
                }
            );
        }
        KernelRaw::Udp(k) => {
            let _ = writeln!(
                s,
                "    kernel (/proc/net/snmp, whole namespace): {} datagrams in, {} out, {} fragments created, {} received for reassembly, {} reassembled",
                k.in_datagrams, k.out_datagrams, k.frag_creates, k.reasm_reqds, k.reasm_oks
            );
        }
    }
}
