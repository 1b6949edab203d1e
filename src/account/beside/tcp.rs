//! The TCP table of the report after a transfer: the model's segments
//! beside `TCP_INFO`'s.
//!
//! The TCP model of an action (handshake and teardown are not part of an
//! action: the counters are read after the connection is up):
//! - every message is written at once and cut into segments at the MSS;
//!   small control messages ride in the same write as the data after them
//!   (FileReady with the first file bytes, StreamStart with segment 0);
//! - echo: each message acknowledges the one before it, so only the last
//!   reply needs a pure ACK of its own;
//! - file and stream: the client sends one pure ACK per 2 data segments it
//!   receives (Linux's usual rate for bulk data); FileSent, sent once the
//!   file is acknowledged, gets an ACK of its own;
//! - upload: the same with the roles swapped: the server acknowledges
//!   every 2 data segments of the client's file, and the client its
//!   trailer (FileSent and Results).

use super::{ACK_EVERY, Column, KernelRaw, Overhead, Shape, TIMESTAMPS_LEN, column, ip_len, rate};
use crate::account::kernel::TcpInfo;
use crate::wire::ip::{IPV4_HEADER_LEN, IPV6_HEADER_LEN, Packet};
use crate::wire::tcp::TCP_HEADER_LEN;
use crate::wire::{FrameKind, IpVersion, Link, Tally};

/// The MTU and the payload per full segment the model uses for a TCP
/// connection: the path MTU from `TCP_INFO` (an IPv4 packet cannot exceed
/// 65535 bytes, whatever lo's MTU says) less the IP and TCP headers and the
/// timestamps option, or a pinned `--mss` less the options if smaller.
pub fn tcp_segment(info: &TcpInfo, v6: bool, pinned_mss: Option<u32>) -> (u32, u32) {
    let ip = if v6 { IPV6_HEADER_LEN } else { IPV4_HEADER_LEN };
    let options = if info.timestamps { TIMESTAMPS_LEN } else { 0 };
    let mtu = if info.pmtu > 0 { info.pmtu } else { 1500 };
    let max_packet = if v6 { 65_535 + IPV6_HEADER_LEN } else { 65_535 };
    let mut seg = mtu
        .min(max_packet)
        .saturating_sub(ip + TCP_HEADER_LEN + options);
    if let Some(m) = pinned_mss {
        seg = seg.min(m.saturating_sub(options));
    }
    (mtu, seg.max(1))
}

/// Pushes the segments of one message of `len` bytes, `times` over.
fn push_message(t: &mut Tally, control: Packet, seg: u32, len: u64, times: u64) -> u64 {
    if len == 0 || times == 0 {
        return 0;
    }
    let seg64 = u64::from(seg.max(1));
    let full = len / seg64;
    let rest = (len % seg64) as u32;
    t.push(
        FrameKind::Data,
        Packet {
            payload: seg,
            ..control
        },
        full * times,
    );
    if rest > 0 {
        t.push(
            FrameKind::Data,
            Packet {
                payload: rest,
                ..control
            },
            times,
        );
    }
    (full + u64::from(rest > 0)) * times
}

/// The TCP report of one action.
///
/// `seg` is the payload per full segment (`TCP_INFO`'s MSS, options already
/// taken off); `kernel` the `TCP_INFO` delta over the action; `seconds` how
/// long it took.
pub fn tcp(
    shapes: &[Shape],
    ip: IpVersion,
    link: Link,
    mtu: u32,
    seg: u32,
    kernel: &TcpInfo,
    seconds: f64,
) -> Overhead {
    let l4 = TCP_HEADER_LEN + if kernel.timestamps { TIMESTAMPS_LEN } else { 0 };
    let control = Packet {
        l3: ip_len(ip),
        l4,
        payload: 0,
    };
    let mut t = Tally::new(link);
    let mut acks = 0;
    for shape in shapes {
        acks += model_shape(&mut t, control, seg, *shape);
    }
    t.push(FrameKind::Ack, control, acks);
    let model = column(&t, 0);
    let largest_segment = t
        .groups()
        .iter()
        .filter(|g| g.kind == FrameKind::Data)
        .map(|g| g.packet.payload)
        .max()
        .unwrap_or(0);
    let echo_only = shapes.iter().all(|s| matches!(s, Shape::Echo { .. }));
    let bulk_only = shapes.iter().all(|s| !matches!(s, Shape::Echo { .. }));
    let ack_rule = if echo_only {
        "each message acknowledges the one before it, and only the last reply gets a pure ACK"
    } else if bulk_only {
        "one pure ACK per 2 data segments received"
    } else {
        "one pure ACK per 2 data segments of a file or stream, and one after the last echo reply"
    };

    // The kernel's segments, priced per layer: data segments carry the
    // payload it counted, every segment carries the same headers.
    let frames = kernel.segs_in + kernel.segs_out;
    let data = kernel.data_segs_in + kernel.data_segs_out;
    let per = link.frame_layers(&control);
    let mut layers = per.times(frames);
    layers.payload = kernel.bytes_received + kernel.bytes_acked;
    // A zero-payload frame may be padded on Ethernet; data frames are not.
    layers.padding = per.padding * (frames - data.min(frames));
    let kcol = Column {
        frames,
        data_frames: data,
        ack_frames: frames - data.min(frames),
        retransmissions: kernel.total_retrans,
        wire_bytes: layers.total(),
        layers,
    };
    let notes = tcp_notes(
        &model,
        &kcol,
        link,
        mtu,
        seg,
        largest_segment,
        ack_rule,
        kernel,
    );
    Overhead {
        link: link.name(),
        mtu,
        segment_payload: seg,
        wire_rate_bps: rate(model.wire_bytes, seconds),
        model,
        kernel: kcol,
        kernel_raw: KernelRaw::Tcp(*kernel),
        capture: None,
        notes,
        assumptions: vec![
            "each message is written at once and cut at the MSS; FileReady and StreamStart ride with the data after them",
            "echo: each message acknowledges the one before; only the last reply gets a pure ACK",
            "file and stream: one pure ACK per 2 data segments received",
            "handshake and teardown are not counted: the counters start once the connection is up",
            "kernel column: TCP_INFO's segments (in MSS units, so a GSO super-segment counts as the segments it stands for) priced with the same headers",
        ],
    }
}

/// Pushes the data segments of one action; returns its pure ACKs.
fn model_shape(t: &mut Tally, control: Packet, seg: u32, shape: Shape) -> u64 {
    match shape {
        Shape::Echo {
            count,
            request,
            reply,
        } => {
            push_message(t, control, seg, request, count);
            push_message(t, control, seg, reply, count);
            u64::from(count > 0)
        }
        Shape::File { up, down, trailer } => {
            push_message(t, control, seg, up, 1);
            let data = push_message(t, control, seg, down, 1);
            // The trailer leaves once everything is acknowledged, and is
            // acknowledged in turn.
            let tail = push_message(t, control, seg, trailer, 1);
            data.div_ceil(ACK_EVERY) + tail
        }
        Shape::Upload {
            up,
            ready,
            data,
            trailer,
        } => {
            // The go-ahead acknowledges the request, the first data the
            // go-ahead; the trailer is acknowledged in turn.
            push_message(t, control, seg, up, 1);
            push_message(t, control, seg, ready, 1);
            let data = push_message(t, control, seg, data, 1);
            let tail = push_message(t, control, seg, trailer, 1);
            data.div_ceil(ACK_EVERY) + tail
        }
        Shape::Stream {
            up,
            count,
            size,
            start,
            end,
        } => {
            push_message(t, control, seg, up, 1);
            let segs = match count {
                0 => 0,
                1 => push_message(t, control, seg, start + size + end, 1),
                _ => {
                    push_message(t, control, seg, start + size, 1)
                        + push_message(t, control, seg, size, count - 2)
                        + push_message(t, control, seg, size + end, 1)
                }
            };
            segs.div_ceil(ACK_EVERY)
        }
    }
}

/// The reasons the TCP columns differ. `largest_segment` is the most
/// payload one of the model's data segments carries; `ack_rule` says how
/// the model counts pure ACKs for this action.
#[allow(clippy::too_many_arguments)]
fn tcp_notes(
    model: &Column,
    k: &Column,
    link: Link,
    mtu: u32,
    seg: u32,
    largest_segment: u32,
    ack_rule: &str,
    info: &TcpInfo,
) -> Vec<String> {
    let mut n = Vec::new();
    if k.data_frames != model.data_frames {
        n.push(format!(
            "data segments: kernel {} vs model {}: TCP cuts what is in the send buffer when it sends, not each write; small writes can share a segment (Nagle, autocorking) or a large one leave in pieces smaller than the MSS when the window is short",
            k.data_frames, model.data_frames
        ));
    }
    if k.ack_frames != model.ack_frames {
        let mut line = format!(
            "pure ACKs: kernel {} vs model {}: the model assumes {ack_rule}; Linux delays an ACK (40 ms at first, up to 200 ms) and acknowledges every segment in quick-ack mode, so its rate follows the traffic",
            k.ack_frames, model.ack_frames
        );
        if matches!(link, Link::Loopback) && k.ack_frames < model.ack_frames {
            line.push_str("; on lo a receiver is handed GSO super-segments of up to 64 KiB and acknowledges each at most once, however many MSS-sized segments TCP_INFO counts in it");
        }
        n.push(line);
    }
    if info.total_retrans > 0 {
        n.push(format!(
            "{} segments were retransmitted: the model assumes no loss",
            info.total_retrans
        ));
    }
    if matches!(link, Link::Loopback) {
        n.push(format!(
            "loopback: MTU {mtu}, so a segment carries up to {seg} bytes and lo has no preamble, FCS, padding or gap, only the 14-byte header a capture shows; lo also hands GSO super-segments up to 64 KiB, which TCP_INFO counts in MSS units"
        ));
    }
    // A smaller MSS matters only when the model has a segment larger than
    // it: short echoes and stream segments are cut the same either way.
    let largest = info.rcv_mss.max(info.snd_mss);
    if largest > 0 && largest < seg && largest < largest_segment {
        n.push(format!(
            "the kernel's current MSS is {largest} bytes where the model cuts at {seg}: a peer's smaller MSS (--mss), or Linux keeping a segment within half the peer's largest window while it is small"
        ));
    }
    n
}
