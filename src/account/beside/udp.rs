//! The UDP table of the report after a transfer: the model's datagrams
//! beside `/proc/net/snmp(6)`'s.
//!
//! The model prices the data datagrams as they were received, each split
//! into IP fragments at the MTU, and the control datagrams at their mean
//! size. The kernel's datagram counts are priced with the same headers,
//! with a frame per fragment for the datagrams it reassembled.

use super::{Column, KernelRaw, Overhead, column, ip_len, rate};
use crate::account::kernel::UdpCounters;
use crate::wire::ip::{IPV6_FRAGMENT_HEADER_LEN, Packet};
use crate::wire::udp::UDP_HEADER_LEN;
use crate::wire::{FrameKind, IpVersion, Link, Tally, UdpDatagram};

/// The UDP report of one action: `datagrams` of `segment` bytes (whole UDP
/// payload) received, plus the control datagrams both ways.
#[allow(clippy::too_many_arguments)]
pub fn udp(
    ip: IpVersion,
    link: Link,
    mtu: u32,
    segment: u32,
    data_datagrams: u64,
    data_bytes: u64,
    control_datagrams: u64,
    control_bytes: u64,
    kernel: &UdpCounters,
    seconds: f64,
) -> Overhead {
    let mut t = Tally::new(link);
    push_data(&mut t, ip, link, mtu, segment, data_datagrams, data_bytes);
    push_control(&mut t, ip, control_datagrams, control_bytes);
    let model = column(&t, 0);
    let kcol = kernel_column(ip, link, kernel, model.layers.payload);
    let notes = udp_notes(&model, &kcol, ip, link, mtu, kernel);
    Overhead {
        link: link.name(),
        mtu,
        segment_payload: segment.saturating_sub(crate::proto::datagram::DGRAM_HEADER as u32),
        wire_rate_bps: rate(model.wire_bytes, seconds),
        model,
        kernel: kcol,
        kernel_raw: KernelRaw::Udp(*kernel),
        capture: None,
        notes,
        assumptions: vec![
            "data datagrams as received, each split into IP fragments at the MTU when larger",
            "control datagrams (cookie, request, FileReady or StreamStart, End copies) as the client sent and received them",
            "kernel column: /proc/net/snmp(6) datagrams in and out (on loopback, in only: both ends share the namespace), fragments counted for reassembled ones, priced with the same headers (the UDP header in the first fragment only, an IPv6 Fragment header in every fragment); payload as the lab counted it (the UDP payload, lab header included)",
        ],
    }
}

/// Pushes the data datagrams: every one is `segment` bytes of UDP payload
/// but the last, which carries what `data_bytes` leaves.
fn push_data(
    t: &mut Tally,
    ip: IpVersion,
    link: Link,
    mtu: u32,
    segment: u32,
    data_datagrams: u64,
    data_bytes: u64,
) {
    let push = |t: &mut Tally, size: u64, count: u64| {
        if count == 0 {
            return;
        }
        if let Ok(d) = UdpDatagram::new(ip, link, size).with_mtu(mtu).tally() {
            for g in d.groups() {
                t.push(g.kind, g.packet, g.count * count);
            }
        }
    };
    let seg = u64::from(segment);
    let full = data_datagrams.saturating_sub(1);
    let last = data_bytes.saturating_sub(full * seg);
    if data_datagrams > 0 && (1..=seg).contains(&last) {
        push(t, seg, full);
        push(t, last, 1);
    } else {
        push(t, seg, data_datagrams);
    }
}

/// Pushes the control datagrams. They are small and of many sizes: priced
/// at their mean, the last carrying the remainder, so their bytes add up
/// exactly.
fn push_control(t: &mut Tally, ip: IpVersion, control_datagrams: u64, control_bytes: u64) {
    if let Some(mean) = control_bytes.checked_div(control_datagrams) {
        let control = Packet {
            l3: ip_len(ip),
            l4: UDP_HEADER_LEN,
            payload: mean as u32,
        };
        t.push(FrameKind::Ack, control, control_datagrams - 1);
        let rest = control_bytes - mean * (control_datagrams - 1);
        t.push(
            FrameKind::Ack,
            Packet {
                payload: rest as u32,
                ..control
            },
            1,
        );
    }
}

/// The kernel's column for `kernel`'s counts carrying `payload` bytes, as
/// [`udp()`] prices it: for several flows' counters read over one window.
pub fn udp_kernel_column(ip: IpVersion, link: Link, kernel: &UdpCounters, payload: u64) -> Column {
    kernel_column(ip, link, kernel, payload)
}

/// The kernel's datagrams priced per layer, carrying the model's `payload`.
fn kernel_column(ip: IpVersion, link: Link, kernel: &UdpCounters, payload: u64) -> Column {
    // On one host both ends count in the same namespace: every datagram
    // is counted once going out and once coming in, so the incoming count
    // alone covers both directions.
    let datagrams = if matches!(link, Link::Loopback) {
        kernel.in_datagrams
    } else {
        kernel.in_datagrams + kernel.out_datagrams
    };
    let frames = (datagrams + kernel.reasm_reqds).saturating_sub(kernel.reasm_oks);
    // A reassembled datagram came as `reasm_reqds / reasm_oks` fragments,
    // and only its first carried the UDP header; on IPv6 each fragment
    // carried an 8-byte Fragment header too (RFC 8200 §4.5).
    let headerless = kernel.reasm_reqds.saturating_sub(kernel.reasm_oks);
    let per = link.frame_layers(&Packet {
        l3: ip_len(ip),
        l4: 0,
        payload: 0,
    });
    let mut layers = per.times(frames);
    layers.l4 = u64::from(UDP_HEADER_LEN) * frames.saturating_sub(headerless);
    if ip == IpVersion::V6 {
        layers.l3 += u64::from(IPV6_FRAGMENT_HEADER_LEN) * kernel.reasm_reqds.min(frames);
    }
    layers.payload = payload;
    layers.padding = 0;
    Column {
        frames,
        data_frames: frames,
        ack_frames: 0,
        retransmissions: 0,
        wire_bytes: layers.total(),
        layers,
    }
}

/// The reasons the UDP columns differ.
fn udp_notes(
    model: &Column,
    kcol: &Column,
    ip: IpVersion,
    link: Link,
    mtu: u32,
    kernel: &UdpCounters,
) -> Vec<String> {
    let mut notes = Vec::new();
    if kcol.data_frames != model.data_frames {
        notes.push(format!(
            "with data: kernel {} vs model {}: the kernel counts datagrams, not what they carry, so its column puts the model's {} control datagrams (cookie, request, FileReady or StreamStart, End copies) with the data",
            kcol.data_frames, model.data_frames, model.ack_frames
        ));
    }
    if kcol.frames != model.frames {
        notes.push(format!(
            "frames: kernel {} vs model {}: the kernel's counters belong to the whole network namespace (any other UDP traffic counts too), and a datagram dropped for a full buffer is counted in InErrors, not InDatagrams",
            kcol.frames, model.frames
        ));
    }
    if kernel.rcvbuf_errors > 0 {
        notes.push(format!(
            "{} datagrams were dropped by the kernel because a receive buffer was full (RcvbufErrors)",
            kernel.rcvbuf_errors
        ));
    }
    if matches!(link, Link::Loopback) {
        notes.push(format!(
            "loopback: MTU {mtu}, so a datagram of up to {} bytes leaves unfragmented and lo has no preamble, FCS, padding or gap, only the 14-byte header a capture shows",
            mtu.saturating_sub(ip_len(ip) + UDP_HEADER_LEN)
        ));
    }
    notes
}
