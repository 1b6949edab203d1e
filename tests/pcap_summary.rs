//! `pcap summary` against real captures (tests/corpus, made by tcpdump and
//! tshark) and against tshark itself.
//!
//! Every corpus file comes with `NAME.tshark.json`: tshark's frame count,
//! captured bytes, wire bytes and TCP payload bytes, which the summary must
//! equal. When `tshark` is on PATH the per-flow frame and byte counts and the
//! checksum verdicts are compared with tshark's, frame by frame. Without
//! tshark that comparison is skipped, unless `CI` is set: there it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ardei_lab::pcap::{PcapError, Summary, summarize_path, summarize_reader};
use ardei_lab::wire::checksum::ChecksumCounts;
use proptest::prelude::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every capture in the corpus with its tshark counts.
fn captures() -> Vec<(PathBuf, serde_json::Value)> {
    let mut out = Vec::new();
    let dir = std::fs::read_dir(corpus()).expect("tests/corpus exists");
    for entry in dir {
        let path = entry.expect("readable corpus dir").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some(stem) = name.strip_suffix(".tshark.json") else {
            continue;
        };
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable json"))
                .expect("valid json");
        let file = json["file"].as_str().expect("file key").to_string();
        assert!(file.starts_with(stem), "{name} describes {file}");
        out.push((corpus().join(file), json));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 6, "corpus incomplete: {out:?}");
    out
}

fn summary(path: &Path) -> Summary {
    summarize_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn totals_equal_tshark_counts() {
    for (path, want) in captures() {
        let s = summary(&path);
        let name = path.display();
        assert_eq!(s.frames, want["frames"].as_u64().unwrap(), "{name} frames");
        assert_eq!(
            s.bytes,
            want["bytes_captured"].as_u64().unwrap(),
            "{name} bytes"
        );
        assert_eq!(
            s.original_bytes,
            want["bytes_on_wire_frame_len"].as_u64().unwrap(),
            "{name} wire bytes"
        );
        let tcp_payload: u64 = s
            .flows
            .iter()
            .filter(|f| f.transport == "tcp")
            .map(|f| f.payload_bytes)
            .sum();
        assert_eq!(
            tcp_payload,
            want["tcp_payload_bytes"].as_u64().unwrap(),
            "{name} tcp payload"
        );
        assert_eq!(s.layers.total(), s.original_bytes, "{name} layers add up");
        let flow_frames: u64 = s.flows.iter().map(|f| f.frames).sum();
        assert_eq!(flow_frames, s.frames, "{name}: every frame is in a flow");
        assert_eq!(s.malformed_records + s.unsupported_frames, 0, "{name}");
    }
}

#[test]
fn json_has_the_contract_keys() {
    let s = summary(&corpus().join("veth-tcp4-100000.pcap"));
    let v = serde_json::to_value(&s).unwrap();
    for key in [
        "frames",
        "bytes",
        "original_bytes",
        "flows",
        "checksums",
        "layers",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["valid", "partial", "bad"] {
        assert!(v["checksums"].get(key).is_some(), "missing checksums.{key}");
    }
    for key in ["l2", "l3", "l4", "payload"] {
        assert!(v["layers"].get(key).is_some(), "missing layers.{key}");
    }
    let flow = &v["flows"][0];
    for key in [
        "src",
        "dst",
        "src_port",
        "dst_port",
        "transport",
        "frames",
        "bytes",
        "payload_bytes",
        "retransmissions",
    ] {
        assert!(flow.get(key).is_some(), "missing flows[0].{key}");
    }
    assert_eq!(flow["src"], "198.18.0.1");
    assert_eq!(flow["transport"], "tcp");
}

#[test]
fn what_the_corpus_readme_says() {
    // 100000 bytes one way, 6 back, over one connection: two flows.
    let s = summary(&corpus().join("veth-tcp4-100000.pcap"));
    assert_eq!(s.flows.len(), 2);
    let (a, b) = (&s.flows[0], &s.flows[1]);
    assert_eq!((a.payload_bytes, b.payload_bytes), (100_000, 6));
    assert_eq!((a.syn, b.syn), (1, 1));
    assert_eq!(a.retransmissions + b.retransmissions, 0);
    assert_eq!(s.checksums.bad + s.checksums.partial, 0);
    // Ethernet 14 + IPv4 20 + TCP 32 (timestamps) around 1448-byte segments.
    assert_eq!(s.layers.l2, 14 * s.frames);

    // Loopback, sender side: TCP checksums left for offload, none bad.
    let s = summary(&corpus().join("lo-tcp4-iperf3.pcapng"));
    assert_eq!(s.format, "pcapng");
    assert!(s.checksums_by_protocol.tcp.partial > 0);
    assert_eq!(s.checksums.bad, 0);
    assert!(
        s.flows.iter().any(|f| f.rst > 0),
        "the data connection ends in a reset"
    );
    assert!(s.first_ns.is_some() && s.last_ns >= s.first_ns);

    // Snap length 96: every datagram cut, so its checksum is unchecked, but
    // the payload is still counted from the IP length.
    let s = summary(&corpus().join("lo-udp4-iperf3-snap96.pcap"));
    assert!(s.cut_frames >= 200);
    assert!(s.checksums_by_protocol.udp.unchecked >= 200);
    assert!(s.payload_bytes >= 200 * 1000);

    // 1, 18, 1472, 2000, 4000, 65507 bytes over UDP/IPv4: six datagrams,
    // payload as sent, every frame in the one flow.
    let s = summary(&corpus().join("veth-udp4-frag.pcap"));
    assert_eq!(s.flows.len(), 1);
    assert_eq!(
        s.flows[0].payload_bytes,
        1 + 18 + 1472 + 2000 + 4000 + 65507
    );
    assert_eq!(s.flows[0].frames, 53);
    assert_eq!(s.checksums_by_protocol.udp.valid, 6);
    assert!(s.ip_fragments > 0);

    // 1, 1452, 4000 bytes over UDP/IPv6, the last one in three fragments.
    let s = summary(&corpus().join("veth-udp6-frag.pcap"));
    assert_eq!(s.flows.len(), 1);
    assert_eq!(s.flows[0].payload_bytes, 1 + 1452 + 4000);
    assert_eq!(s.ip_fragments, 3);
    assert_eq!(s.checksums_by_protocol.udp.valid, 3);
}

// ---- against tshark ----

/// Per-flow (frames, wire bytes) keyed by "transport src:port > dst:port".
type Flows = BTreeMap<String, (u64, u64)>;

fn flow_key(transport: &str, src: &str, sport: &str, dst: &str, dport: &str) -> String {
    format!("{transport} {src}:{sport} > {dst}:{dport}")
}

fn our_flows(s: &Summary) -> Flows {
    let port = |p: Option<u16>| p.map(|p| p.to_string()).unwrap_or_default();
    let mut out = Flows::new();
    for f in &s.flows {
        let key = flow_key(
            &f.transport,
            &f.src.to_string(),
            &port(f.src_port),
            &f.dst.to_string(),
            &port(f.dst_port),
        );
        let e = out.entry(key).or_default();
        e.0 += f.frames;
        e.1 += f.bytes;
    }
    out
}

/// tshark's view, frame by frame: flows (each fragment is its own frame and
/// joins its datagram's ports, which tshark shows on the reassembled frame)
/// and checksum status counts per protocol.
struct Tshark {
    flows: Flows,
    ipv4: ChecksumCounts,
    tcp: ChecksumCounts,
    udp: ChecksumCounts,
}

const FIELDS: [&str; 14] = [
    "frame.len",
    "ip.src",
    "ipv6.src",
    "ip.dst",
    "ipv6.dst",
    "ip.id",
    "ipv6.fraghdr.ident",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "ip.checksum.status",
    "tcp.checksum.status",
    "udp.checksum.status",
];

fn tshark(path: &Path) -> Tshark {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path);
    for pref in [
        "tcp.check_checksum:TRUE",
        "udp.check_checksum:TRUE",
        "ip.check_checksum:TRUE",
    ] {
        cmd.args(["-o", pref]);
    }
    cmd.args(["-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    assert!(out.status.success(), "tshark failed on {}", path.display());
    let text = String::from_utf8(out.stdout).expect("utf-8 from tshark");

    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    let col = |r: &Vec<String>, name: &str| {
        let i = FIELDS.iter().position(|f| *f == name).expect("known field");
        r.get(i).cloned().unwrap_or_default()
    };
    let either = |r: &Vec<String>, a: &str, b: &str| {
        let v = col(r, a);
        if v.is_empty() { col(r, b) } else { v }
    };
    // A datagram's ports, from whichever of its frames shows them.
    let datagram = |r: &Vec<String>| {
        let id = either(r, "ip.id", "ipv6.fraghdr.ident");
        (
            either(r, "ip.src", "ipv6.src"),
            either(r, "ip.dst", "ipv6.dst"),
            id,
        )
    };
    let ports = |r: &Vec<String>| {
        if !col(r, "tcp.srcport").is_empty() {
            Some(("tcp", col(r, "tcp.srcport"), col(r, "tcp.dstport")))
        } else if !col(r, "udp.srcport").is_empty() {
            Some(("udp", col(r, "udp.srcport"), col(r, "udp.dstport")))
        } else {
            None
        }
    };
    let mut known = BTreeMap::new();
    for r in &rows {
        if let Some(p) = ports(r) {
            known.insert(datagram(r), p);
        }
    }
    let mut t = Tshark {
        flows: Flows::new(),
        ipv4: ChecksumCounts::default(),
        tcp: ChecksumCounts::default(),
        udp: ChecksumCounts::default(),
    };
    for r in &rows {
        let (src, dst, _) = datagram(r);
        let (transport, sp, dp) = ports(r)
            .or_else(|| known.get(&datagram(r)).cloned())
            .unwrap_or(("?", String::new(), String::new()));
        let e = t
            .flows
            .entry(flow_key(transport, &src, &sp, &dst, &dp))
            .or_default();
        e.0 += 1;
        e.1 += col(r, "frame.len").parse::<u64>().expect("frame.len");
        for (field, counts) in [
            ("ip.checksum.status", &mut t.ipv4),
            ("tcp.checksum.status", &mut t.tcp),
            ("udp.checksum.status", &mut t.udp),
        ] {
            match col(r, field).as_str() {
                "0" => counts.bad += 1,
                "1" => counts.valid += 1,
                "2" => counts.unchecked += 1,
                _ => {}
            }
        }
    }
    t
}

/// tshark has no "partial": a checksum left for offload is bad to it.
fn as_tshark_sees_it(c: ChecksumCounts) -> ChecksumCounts {
    ChecksumCounts {
        bad: c.bad + c.partial,
        partial: 0,
        ..c
    }
}

fn tshark_available() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is not on PATH, and CI is set: the comparison with tshark must run"
        );
        eprintln!("tshark not found: skipping the comparison with tshark");
    }
    found
}

#[test]
fn flows_and_checksums_agree_with_tshark() {
    if !tshark_available() {
        return;
    }
    for (path, _) in captures() {
        let name = path.display();
        let ours = summary(&path);
        let theirs = tshark(&path);
        assert_eq!(our_flows(&ours), theirs.flows, "{name}: flows");
        let by = &ours.checksums_by_protocol;
        assert_eq!(
            as_tshark_sees_it(by.ipv4),
            theirs.ipv4,
            "{name}: IPv4 checksums"
        );
        assert_eq!(
            as_tshark_sees_it(by.tcp),
            theirs.tcp,
            "{name}: TCP checksums"
        );
        assert_eq!(
            as_tshark_sees_it(by.udp),
            theirs.udp,
            "{name}: UDP checksums"
        );
    }
}

// ---- malformed input ----

#[test]
fn truncated_file_reports_the_frames_before_the_cut() {
    let bytes = std::fs::read(corpus().join("veth-tcp4-100000.pcap")).unwrap();
    let cut = &bytes[..bytes.len() - 10];
    match summarize_reader(cut) {
        Err(PcapError::Truncated { frames, partial }) => {
            let partial = partial.expect("partial summary");
            assert_eq!(partial.frames, frames);
            assert_eq!(frames, 102);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    let err = summarize_reader(&b"not a capture at all"[..]).unwrap_err();
    assert!(err.to_string().contains("not a capture"), "{err}");
    let err = summarize_path(Path::new("/nonexistent/x.pcap")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/x.pcap"), "{err}");
}

fn corpus_bytes() -> Vec<Vec<u8>> {
    ["veth-udp6-frag.pcap", "lo-tcp4-iperf3.pcapng"]
        .iter()
        .map(|n| std::fs::read(corpus().join(n)).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(
        magic in prop::sample::select(vec![
            vec![0xd4u8, 0xc3, 0xb2, 0xa1],
            vec![0xa1, 0xb2, 0x3c, 0x4d],
            vec![0x0a, 0x0d, 0x0d, 0x0a],
            vec![],
        ]),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = magic;
        bytes.extend(body);
        let _ = summarize_reader(&bytes[..]);
    }

    #[test]
    fn damaged_corpus_files_never_panic(
        which in 0usize..2,
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut bytes = corpus_bytes().swap_remove(which);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep);
        let _ = summarize_reader(&bytes[..]);
    }
}

/// A classic pcap file holding one record.
fn one_record_pcap(link: u32, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&link.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&(data.len() as u32).to_le_bytes());
    f.extend_from_slice(&orig_len.to_le_bytes());
    f.extend_from_slice(data);
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_frames_on_every_link_type_never_panic(
        link in prop::sample::select(vec![0u32, 1, 12, 101, 108, 113, 228, 229, 276, 147]),
        version in prop::sample::select(vec![0x45u8, 0x46, 0x60, 0x00]),
        mut data in prop::collection::vec(any::<u8>(), 0..160),
        extra in 0u32..70_000,
    ) {
        // Put an IP version nibble where the IP header would start, so
        // random bytes reach the IP and transport parsers often.
        let at = match link { 1 => 14, 113 => 16, 276 => 20, 0 | 108 => 4, _ => 0 };
        if let Some(b) = data.get_mut(at) {
            *b = version;
        }
        let file = one_record_pcap(link, data.len() as u32 + extra, &data);
        let s = summarize_reader(&file[..]);
        prop_assert!(s.is_ok());
        let s = s.unwrap();
        prop_assert_eq!(s.frames, 1);
        prop_assert_eq!(s.layers.total(), s.original_bytes);
    }
}

/// Every corpus file's summary, as text and as JSON, one after another:
/// what `pcap summary` prints for each, pinned byte for byte.
fn every_corpus_summary() -> String {
    let mut out = String::new();
    for (path, _) in captures() {
        let s = summary(&path);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        out.push_str(&format!("== {name}\n"));
        out.push_str(&ardei_lab::pcap::render_text(&s));
        out.push_str(&serde_json::to_string_pretty(&s).expect("serializable"));
        out.push('\n');
    }
    out
}

#[test]
fn corpus_summaries_are_unchanged() {
    let got = every_corpus_summary();
    let want = include_str!("data/pcap-summary.txt");
    assert!(
        got == want,
        "the summaries differ from tests/data/pcap-summary.txt"
    );
}
