//! Model captures read back by tshark and by `pcap summary`.
//!
//! Each case writes a capture of one lab exchange (TCP and UDP, IPv4 and
//! IPv6: echo, a 1 MB file with a 256-byte snap length, a stream, a
//! fragmented datagram), then checks that:
//! 1. tshark, with IPv4, TCP and UDP checksum validation on, raises no
//!    expert item above "note" (chats and notes, such as "connection
//!    establish request", are what a correct connection shows) and finds
//!    no malformed frame;
//! 2. tshark's frame count, captured bytes and wire bytes equal the
//!    summary's, and the summary finds no bad checksum;
//! 3. every frame's comment is visible to tshark (pcapng);
//! 4. a classic `.pcap` file carries nanosecond timestamps.
//!
//! Without tshark the tshark checks are skipped, unless `CI` is set: there
//! they fail.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use ardei_lab::content;
use ardei_lab::pcap::model::{
    Direction, FrameSink, ModelCapture, ModelOptions, ModelStats, TcpFlow, UdpFlow,
};
use ardei_lab::pcap::summarize_path;
use ardei_lab::proto::Message;
use ardei_lab::proto::codec::to_vec;

/// 2024-01-01T00:00:00Z plus a few nanoseconds, so nanoseconds show.
const T0: u64 = 1_704_067_200_000_000_123;
const MS: u64 = 1_000_000;

fn addrs(v6: bool) -> (SocketAddr, SocketAddr) {
    if v6 {
        (
            "[2001:db8::1]:40001".parse().unwrap(),
            "[2001:db8::2]:5005".parse().unwrap(),
        )
    } else {
        (
            "192.0.2.1:40001".parse().unwrap(),
            "192.0.2.2:5005".parse().unwrap(),
        )
    }
}

fn msg(m: &Message) -> Vec<u8> {
    to_vec(m).expect("encodable message")
}

fn tcp_echo(cap: &mut impl FrameSink, v6: bool, timestamps: bool) {
    let (c, s) = addrs(v6);
    let mss = if v6 { 1440 } else { 1460 };
    let mut flow = TcpFlow::new(c, s, mss, timestamps).unwrap();
    flow.handshake(cap, T0).unwrap();
    for seq in 0..5u32 {
        let t = T0 + u64::from(seq + 1) * MS;
        let data = vec![b'a' + seq as u8; 40 + 700 * seq as usize];
        let req = msg(&Message::EchoRequest {
            seq,
            data: data.clone(),
        });
        let rep = msg(&Message::EchoReply { seq, data });
        let label = format!("echo {seq} request");
        flow.send(cap, Direction::ToServer, &req, t, &label)
            .unwrap();
        let label = format!("echo {seq} reply");
        flow.send(cap, Direction::ToClient, &rep, t + 80_000, &label)
            .unwrap();
    }
    flow.close(cap, Direction::ToServer, T0 + 10 * MS).unwrap();
}

fn tcp_file(cap: &mut impl FrameSink, v6: bool, size: u64) {
    let (c, s) = addrs(v6);
    let mss = if v6 { 1440 } else { 1460 };
    let mut flow = TcpFlow::new(c, s, mss, true).unwrap();
    flow.handshake(cap, T0).unwrap();
    let req = msg(&Message::FileRequest { size, rate_bps: 0 });
    flow.send(cap, Direction::ToServer, &req, T0 + MS, "file request")
        .unwrap();
    // FileReady and the file go out in one write, as the server sends them.
    let ready = msg(&Message::FileReady { size });
    let head = ready.len() as u64;
    let fill = |offset: u64, buf: &mut [u8]| {
        let mut at = 0;
        while at < buf.len() && offset + (at as u64) < head {
            buf[at] = ready[(offset + at as u64) as usize];
            at += 1;
        }
        content::fill((offset + at as u64).saturating_sub(head), &mut buf[at..]);
    };
    let label = format!("file ready and {size} bytes");
    flow.send_len(
        cap,
        Direction::ToClient,
        head + size,
        fill,
        T0 + 2 * MS,
        &label,
    )
    .unwrap();
    flow.close(cap, Direction::ToClient, T0 + 30 * MS).unwrap();
}

fn tcp_stream(cap: &mut impl FrameSink, v6: bool) {
    let (c, s) = addrs(v6);
    let mut flow = TcpFlow::new(c, s, 1460, true).unwrap();
    flow.handshake(cap, T0).unwrap();
    let (interval_ns, count, size) = (5 * MS, 40, 64);
    let req = msg(&Message::StreamRequest {
        interval_ns,
        count,
        size,
    });
    flow.send(cap, Direction::ToServer, &req, T0 + MS, "stream request")
        .unwrap();
    let t0 = T0 + 2 * MS;
    let start = msg(&Message::StreamStart {
        interval_ns,
        count,
        size,
        t0_ns: t0,
    });
    flow.send(cap, Direction::ToClient, &start, t0, "stream start")
        .unwrap();
    for seq in 0..count {
        let t = t0 + u64::from(seq) * interval_ns;
        let segment = msg(&Message::StreamSegment {
            seq,
            scheduled_ns: t,
            sent_ns: t + 1_000,
            size,
        });
        let label = format!("stream seq {seq}");
        flow.send(cap, Direction::ToClient, &segment, t + 1_000, &label)
            .unwrap();
    }
    let end = msg(&Message::StreamEnd { sent: count });
    let t_end = t0 + u64::from(count) * interval_ns;
    flow.send(cap, Direction::ToClient, &end, t_end, "stream end")
        .unwrap();
    flow.close(cap, Direction::ToServer, t_end + MS).unwrap();
}

fn udp_exchange(cap: &mut impl FrameSink, v6: bool) {
    let (c, s) = addrs(v6);
    let mut flow = UdpFlow::new(c, s, 1500).unwrap();
    for seq in 0..4u32 {
        let t = T0 + u64::from(seq) * MS;
        let payload = vec![seq as u8; 100 + 50 * seq as usize];
        let label = format!("echo {seq} request");
        flow.send(cap, Direction::ToServer, &payload, t, &label)
            .unwrap();
        let label = format!("echo {seq} reply");
        flow.send(cap, Direction::ToClient, &payload, t + 50_000, &label)
            .unwrap();
    }
    // Fragmented: 4000 bytes in three fragments, and the largest datagram.
    let big: Vec<u8> = (0..4000u32).map(|i| (i * 7) as u8).collect();
    flow.send(
        cap,
        Direction::ToServer,
        &big,
        T0 + 10 * MS,
        "datagram of 4000 bytes",
    )
    .unwrap();
    let max = flow.max_payload();
    flow.send_len(
        cap,
        Direction::ToClient,
        max,
        content::fill,
        T0 + 11 * MS,
        "largest datagram",
    )
    .unwrap();
}

/// What tshark makes of a capture.
#[derive(Debug, Default)]
struct Tshark {
    frames: u64,
    cap_bytes: u64,
    wire_bytes: u64,
    comments: Vec<String>,
    /// Expert items above "note" and malformed frames: "frame N: ...".
    problems: Vec<String>,
    /// Seconds fields as tshark prints them (`frame.time_epoch`).
    times: Vec<String>,
    /// IPv4, TCP and UDP checksums tshark found good.
    checksums_good: u64,
    /// Those it found bad or could not verify.
    checksums_other: u64,
}

/// Expert severities (epan/proto.h): chat 0x200000, note 0x400000,
/// warn 0x600000, error 0x800000.
const PI_WARN: u64 = 0x0060_0000;

fn tshark(path: &Path) -> Tshark {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=\u{1f}",
            "-e",
            "frame.number",
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.comment",
            "-e",
            "_ws.expert.severity",
            "-e",
            "_ws.expert.message",
            "-e",
            "_ws.malformed",
            "-e",
            "ip.checksum.status",
            "-e",
            "tcp.checksum.status",
            "-e",
            "udp.checksum.status",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 from tshark");
    let mut t = Tshark::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 11, "unexpected tshark line {line:?}");
        t.frames += 1;
        t.wire_bytes += f[1].parse::<u64>().expect("frame.len");
        t.cap_bytes += f[2].parse::<u64>().expect("frame.cap_len");
        t.times.push(f[3].to_string());
        t.comments.push(f[4].to_string());
        let severities = f[5].split('\u{1f}').filter(|s| !s.is_empty());
        let messages: Vec<&str> = f[6].split('\u{1f}').collect();
        for (i, sev) in severities.enumerate() {
            let sev = parse_severity(sev);
            if sev >= PI_WARN {
                let what = messages.get(i).copied().unwrap_or("?");
                t.problems.push(format!("frame {}: {sev:#x} {what}", f[0]));
            }
        }
        if !f[7].is_empty() {
            t.problems.push(format!("frame {}: malformed", f[0]));
        }
        // Checksum status: 0 bad, 1 good, 2 unverified.
        for status in f[8..].iter().flat_map(|s| s.split('\u{1f}')) {
            match status {
                "" => {}
                "1" => t.checksums_good += 1,
                _ => t.checksums_other += 1,
            }
        }
    }
    t
}

fn parse_severity(s: &str) -> u64 {
    match s {
        "Chat" => 0x0020_0000,
        "Note" => 0x0040_0000,
        "Warning" | "Warn" => 0x0060_0000,
        "Error" => 0x0080_0000,
        other => other
            .strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16))
            .unwrap_or_else(|| other.parse())
            .unwrap_or_else(|_| panic!("unknown expert severity {other:?}")),
    }
}

fn tshark_available() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is not on PATH, and CI is set: the model captures must be checked by tshark"
        );
        eprintln!("tshark not found: skipping the tshark checks of the model captures");
    }
    found
}

/// Writes a capture with `build`, then runs every check on it.
fn check(name: &str, snaplen: u32, build: impl FnOnce(&mut ModelCapture)) -> ModelStats {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let opts = ModelOptions {
        snaplen,
        comments: true,
    };
    let mut cap = ModelCapture::create(&path, opts).unwrap();
    build(&mut cap);
    let stats = cap.finish().unwrap();
    assert!(stats.frames > 0, "{name}: no frames");

    let summary = summarize_path(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(summary.frames, stats.frames, "{name}: frames");
    assert_eq!(summary.bytes, stats.bytes, "{name}: bytes");
    assert_eq!(summary.original_bytes, stats.original_bytes, "{name}");
    assert_eq!(summary.checksums.bad, 0, "{name}: {:?}", summary.checksums);
    assert_eq!(summary.checksums.partial, 0, "{name}");
    assert_eq!(summary.malformed_records, 0, "{name}");
    assert!(summary.checksums.valid > 0, "{name}: nothing verified");
    let whole = stats.bytes == stats.original_bytes;
    if whole {
        assert_eq!(
            summary.checksums.unchecked, 0,
            "{name}: {:?}",
            summary.checksums
        );
    }
    let pcapng = !name.ends_with(".pcap");
    assert_eq!(summary.format, if pcapng { "pcapng" } else { "pcap" });

    if !tshark_available() {
        return stats;
    }
    let t = tshark(&path);
    assert!(t.problems.is_empty(), "{name}: {:#?}", t.problems);
    assert_eq!(t.frames, summary.frames, "{name}: tshark frames");
    assert_eq!(t.cap_bytes, summary.bytes, "{name}: tshark bytes");
    assert_eq!(t.wire_bytes, summary.original_bytes, "{name}: wire bytes");
    if whole {
        // Every checksum tshark looked at, it could verify, and found good.
        assert!(t.checksums_good > 0, "{name}: tshark verified nothing");
        assert_eq!(t.checksums_other, 0, "{name}: unverified or bad checksums");
    }
    if pcapng {
        for (i, c) in t.comments.iter().enumerate() {
            assert!(!c.is_empty(), "{name}: frame {} has no comment", i + 1);
        }
    }
    // Nanoseconds survive: T0 ends in ...000000123.
    assert!(
        t.times[0].ends_with(".000000123"),
        "{name}: first timestamp {}",
        t.times[0]
    );
    stats
}

#[test]
fn tcp_echo_v4_and_v6() {
    check("tcp4-echo.pcapng", 65_535, |c| tcp_echo(c, false, true));
    check("tcp6-echo.pcapng", 65_535, |c| tcp_echo(c, true, true));
    check("tcp4-echo-nots.pcapng", 256, |c| tcp_echo(c, false, false));
}

#[test]
fn tcp_file_of_one_megabyte_cut_to_256_bytes() {
    for (name, v6) in [("tcp4-file.pcapng", false), ("tcp6-file.pcapng", true)] {
        let stats = check(name, 256, |c| tcp_file(c, v6, 1_000_000));
        assert!(stats.original_bytes > 1_000_000);
        assert!(stats.bytes < stats.original_bytes / 4, "{name}: {stats:?}");
    }
}

#[test]
fn tcp_at_the_largest_mss() {
    check("tcp4-bigmss.pcapng", 262_144, |cap| {
        let (c, s) = addrs(false);
        let mut flow = TcpFlow::new(c, s, 65_495, true).unwrap();
        flow.handshake(cap, T0).unwrap();
        flow.send_len(
            cap,
            Direction::ToClient,
            300_000,
            content::fill,
            T0 + MS,
            "file",
        )
        .unwrap();
        flow.close(cap, Direction::ToServer, T0 + 2 * MS).unwrap();
    });
}

#[test]
fn tcp_stream_v4_and_v6() {
    check("tcp4-stream.pcapng", 256, |c| tcp_stream(c, false));
    check("tcp6-stream.pcapng", 256, |c| tcp_stream(c, true));
}

#[test]
fn udp_with_fragments_v4_and_v6() {
    for (name, v6) in [("udp4.pcapng", false), ("udp6.pcapng", true)] {
        check(name, 65_535, |c| udp_exchange(c, v6));
        // Cut fragments still add up to a valid checksum.
        check(&name.replace(".pcapng", "-snap.pcapng"), 256, |c| {
            udp_exchange(c, v6)
        });
    }
}

#[test]
fn classic_pcap_has_nanosecond_timestamps() {
    check("tcp4-echo.pcap", 256, |c| tcp_echo(c, false, true));
    check("udp6.pcap", 256, |c| udp_exchange(c, true));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pcap");
    let cap = ModelCapture::create(&path, ModelOptions::default()).unwrap();
    drop(cap);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1], "nanosecond magic");
}

#[test]
fn a_flushed_capture_is_readable_before_it_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pcapng");
    let mut cap = ModelCapture::create(&path, ModelOptions::default()).unwrap();
    tcp_echo(&mut cap, false, true);
    cap.flush().unwrap();
    let written = cap.stats();
    // The process is not killed here, but the file is read while the
    // capture is still open: what a reader finds after a SIGINT.
    let summary = summarize_path(&path).unwrap();
    assert_eq!(summary.frames, written.frames);
    if tshark_available() {
        assert_eq!(tshark(&path).frames, written.frames);
    }
    drop(cap);
}

#[test]
fn a_damaged_frame_is_caught_by_both_readers() {
    use ardei_lab::pcap::model::{FrameLog, ModelFrame};
    let mut log = FrameLog::new(65_535);
    tcp_echo(&mut log, false, true);
    // Frame 4 is the first request: flip a payload bit, so its TCP
    // checksum no longer matches.
    let last = log.frames[3].data.len() - 1;
    log.frames[3].data[last] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.pcapng");
    let opts = ModelOptions {
        snaplen: 65_535,
        comments: true,
    };
    let mut cap = ModelCapture::create(&path, opts).unwrap();
    for f in &log.frames {
        let frame = ModelFrame {
            t_ns: f.t_ns,
            original_len: f.original_len,
            data: &f.data,
            comment: &f.comment,
        };
        cap.write_frame(&frame).unwrap();
    }
    cap.finish().unwrap();
    assert_eq!(summarize_path(&path).unwrap().checksums.bad, 1);
    if tshark_available() {
        let t = tshark(&path);
        assert!(
            t.problems.iter().any(|p| p.starts_with("frame 4:")),
            "{:?}",
            t.problems
        );
        assert_eq!(t.checksums_other, 1);
    }
}
