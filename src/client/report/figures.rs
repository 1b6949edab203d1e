//! The report's headline and the action's own figures: round trips, a file's
//! timings, a stream's delays, jitter and schedule.

use std::fmt::Write as _;

use super::{Detail, Report};
use crate::units::{format_bitrate, format_bytes};

/// The headline (mode, transport, target, what was asked and what came)
/// and the lines of figures that belong to the action.
pub(super) fn write(s: &mut String, r: &Report) {
    let head = format!("{:<6} {} {}", r.mode, r.transport, r.target);
    match &r.detail {
        Detail::Echo { .. } => echo(s, r, &head),
        Detail::File { .. } => file(s, r, &head),
        Detail::Stream { .. } => stream(s, r, &head),
    }
}

/// Round trips, their latency, and the CPU a busy-polling client burnt.
fn echo(s: &mut String, r: &Report, head: &str) {
    let Detail::Echo {
        count,
        replies,
        size,
    } = &r.detail
    else {
        return;
    };
    let _ = writeln!(
        s,
        "{head}: {replies} of {count} round trips of {size} bytes in {:.3} s",
        r.seconds
    );
    if let Some(p) = &r.latency_us {
        let _ = writeln!(s, "  round trip  {}", p.line());
    }
    if let Some(t) = &r.timestamps {
        t.write_text(s);
    }
    if r.spin {
        s.push_str(
            "  busy-poll receive (--spin): the client polled a non-blocking recv while it waited, a whole CPU core busy\n",
        );
        if let Some(c) = r.cpu.as_ref().and_then(|c| c.client.as_ref()) {
            let _ = writeln!(
                s,
                "  CPU time    {:.3} s user + {:.3} s sys in {:.3} s: {:.2} of one core",
                c.user_seconds, c.sys_seconds, c.wall_seconds, c.cores
            );
        }
    }
}

/// Whether the file arrived whole and verified, its timings, and the
/// server's view of its own writes.
fn file(s: &mut String, r: &Report, head: &str) {
    let Detail::File {
        size,
        verified,
        complete,
        time_to_first_byte_us,
        transfer_seconds,
        server_written_seconds,
        server_acked_seconds,
    } = &r.detail
    else {
        return;
    };
    // An upload's bytes are the client's to send and the server's to
    // verify; a download's the other way round.
    let (moved, checker) = if r.direction == "upload" {
        ("sent", " by the server")
    } else {
        ("received", "")
    };
    let what = match (*complete, *verified) {
        (true, true) => format!("{moved}, every byte verified{checker}"),
        // Some of what was sent never arrived: say both.
        (false, true) if r.direction == "upload" => format!(
            "sent: {} received, every one verified by the server",
            format_bytes(r.bytes)
        ),
        (false, true) => format!(
            "sent by the server: {} received, every one verified",
            format_bytes(r.bytes)
        ),
        (_, false) => "NOT verified".to_string(),
    };
    let _ = writeln!(s, "{head}: {} {what}", format_bytes(*size));
    let _ = writeln!(
        s,
        "  time to first byte {time_to_first_byte_us:.1} µs, transfer {transfer_seconds:.6} s, total {:.6} s, goodput {}",
        r.seconds,
        format_bitrate(r.goodput_bps)
    );
    if let (Some(w), Some(a)) = (server_written_seconds, server_acked_seconds) {
        let _ = writeln!(
            s,
            "  server: its last write returned after {w:.6} s (the kernel had taken the data, not sent it); the last byte was acknowledged after {a:.6} s"
        );
    }
}

/// Segments received of those sent, one-way delays, jitter and how well
/// the server kept its schedule.
fn stream(s: &mut String, r: &Report, head: &str) {
    let Detail::Stream {
        segments,
        count,
        sent,
        interval_us,
        size,
        jitter_us,
        jitter_hist_us,
        schedule_error_us,
        end_drift_us,
        ..
    } = &r.detail
    else {
        return;
    };
    let sent = sent.map(u64::from).or(r.udp.as_ref().map(|u| u.sent));
    let sent = sent
        .map(|n| format!(" (server sent {n})"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "{head}: {segments} of {count} segments of {size} bytes every {interval_us:.0} µs received{sent}"
    );
    if let Some(p) = &r.latency_us {
        let _ = writeln!(s, "  one-way delay    {}  (same-host clocks)", p.line());
    }
    let _ = writeln!(s, "  jitter (RFC 3550) {jitter_us:.2} µs");
    if let Some(p) = jitter_hist_us {
        let _ = writeln!(s, "  |D| per segment  {}", p.line());
    }
    if let Some(p) = schedule_error_us {
        let _ = writeln!(
            s,
            "  schedule error   {}  (server send time - due time)",
            p.line()
        );
    }
    if let Some(d) = end_drift_us {
        let _ = writeln!(
            s,
            "  end drift        {d:.2} µs  (the last segment's error)"
        );
    }
}
