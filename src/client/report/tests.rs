//! The text and JSON of reports built by hand, every kind of line among them.

use super::*;
use crate::account::beside::{CaptureColumn, Column, KernelRaw};
use crate::client::record::ModelReport;
use crate::instruments::LiveReport;
use crate::latency::Percentiles;
use crate::net::Applied;
use crate::net::counters::UdpCounters;
use crate::net::udp::UdpApplied;

fn file_report() -> Report {
    Report {
        mode: "file",
        transport: "tcp",
        ip: 4,
        target: "127.0.0.1:5005".into(),
        bytes: 1000,
        seconds: 0.001,
        goodput_bps: 8e6,
        latency_us: None,
        detail: Detail::File {
            size: 1000,
            verified: true,
            complete: true,
            time_to_first_byte_us: 50.0,
            transfer_seconds: 0.0009,
            server_written_seconds: None,
            server_acked_seconds: None,
        },
        udp: None,
        socket: SocketReport::Tcp(Applied::default()),
        overhead: None,
        overhead_sum: None,
        captures: None,
        histogram: None,
        progress: Vec::new(),
        intervals: Vec::new(),
        spin: false,
        timestamps: None,
        cpu: None,
        server: None,
        ecn: None,
        flows: Vec::new(),
        download: None,
        upload: None,
        find_rate: None,
        direction: "download",
        timeline: None,
    }
}

#[test]
fn json_has_the_contract_keys() {
    let v = serde_json::to_value(file_report()).unwrap();
    for k in [
        "mode",
        "transport",
        "ip",
        "bytes",
        "verified",
        "seconds",
        "goodput_bps",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["mode"], "file");
    assert_eq!(v["ip"], 4);
}

#[test]
fn text_names_the_figures() {
    let t = file_report().render_text();
    assert!(t.contains("every byte verified"), "{t}");
    assert!(t.contains("goodput 8.00 Mbit/s"), "{t}");
}

fn pct(base: f64) -> Percentiles {
    Percentiles {
        count: 1000,
        min: base,
        mean: base * 1.5,
        p50: base * 1.4,
        p90: base * 2.0,
        p99: base * 3.25,
        p999: base * 4.5,
        max: base * 9.75,
    }
}

fn tcp_socket() -> SocketReport {
    let mut a = Applied::default();
    (a.sndbuf, a.rcvbuf, a.nodelay, a.mss) = (2_626_560, 131_072, true, 65_483);
    SocketReport::Tcp(a)
}

fn udp_socket() -> SocketReport {
    let mut a = UdpApplied::default();
    (a.sndbuf, a.rcvbuf, a.dont_fragment) = (212_992, 425_984, true);
    SocketReport::Udp(a)
}

fn column(frames: u64, wire_bytes: u64) -> Column {
    let mut c = Column {
        frames,
        data_frames: frames - 3,
        ack_frames: 3,
        retransmissions: 1,
        wire_bytes,
        layers: Default::default(),
    };
    let l = &mut c.layers;
    (l.payload, l.l4, l.l3, l.l2, l.padding, l.preamble_gap) = (1000, 320, 200, 140, 6, 240);
    c
}

/// A TCP overhead table with a capture column and every TCP option.
fn tcp_overhead(options: bool) -> Overhead {
    let mut raw = KernelRaw::Tcp(Default::default());
    if let KernelRaw::Tcp(k) = &mut raw {
        (k.snd_mss, k.rcv_mss, k.pmtu) = (65_483, 536, 65_535);
        (k.rtt_us, k.rttvar_us) = (41, 12);
        (k.segs_out, k.data_segs_out, k.segs_in, k.data_segs_in) = (12, 9, 8, 1);
        k.total_retrans = 1;
        if options {
            (k.timestamps, k.sack, k.wscale) = (true, true, Some((7, 9)));
        }
    }
    let model = column(10, 1906);
    let mut capture_layers = model.layers;
    capture_layers.l2 = 141;
    Overhead {
        link: "loopback",
        mtu: 65_536,
        segment_payload: 65_483,
        model,
        kernel: column(11, 1966),
        kernel_raw: raw,
        capture: options.then_some(CaptureColumn {
            frames: 12,
            wire_bytes: 2000,
            layers: capture_layers,
            retransmissions: 2,
            control_frames: 5,
        }),
        wire_rate_bps: 15_248_000.0,
        notes: vec![
            "loopback carries no Ethernet preamble".into(),
            "the kernel counts GSO super-segments".into(),
        ],
        assumptions: vec!["no loss"],
    }
}

fn udp_overhead() -> Overhead {
    let mut raw = KernelRaw::Udp(Default::default());
    if let KernelRaw::Udp(k) = &mut raw {
        (k.in_datagrams, k.out_datagrams) = (700, 3);
        (k.frag_creates, k.reasm_reqds, k.reasm_oks) = (4, 5, 6);
    }
    Overhead {
        link: "ethernet",
        mtu: 1500,
        segment_payload: 1444,
        model: column(700, 1_050_000),
        kernel: column(703, 1_054_000),
        kernel_raw: raw,
        capture: None,
        wire_rate_bps: 8_400_000.5,
        notes: Vec::new(),
        assumptions: Vec::new(),
    }
}

fn udp_figures(ended_by: Option<Ending>, full: bool) -> UdpFigures {
    let mut kernel = UdpCounters::default();
    (kernel.in_datagrams, kernel.rcvbuf_errors, kernel.in_errors) = (698, 2, 3);
    UdpFigures {
        datagrams: 695,
        sent: 700,
        lost: 5,
        duplicates: 2,
        reordered: 7,
        loss_percent: 5.0 / 7.0,
        segment_size: 1472,
        path_mtu: 1500,
        ended_by,
        missing: if full {
            vec![
                Missing {
                    first: 1444,
                    last: 2887,
                },
                Missing {
                    first: 10_108,
                    last: 14_439,
                },
            ]
        } else {
            Vec::new()
        },
        kernel: full.then_some(kernel),
        io: TransferIo {
            send: full.then_some("gso"),
            send_calls: full.then_some(12),
            send_batch_max: full.then_some(64),
            gso_refused: full,
            receive: if full { "gro" } else { "recv" },
            receive_calls: 40,
            coalesced: full.then_some(9),
            receive_buffers: full.then_some(12),
            datagrams_per_buffer: full.then_some(2.5),
            upload: false,
        },
    }
}

fn stream_detail(sent: Option<u32>, full: bool) -> Detail {
    Detail::Stream {
        segments: 98,
        count: 100,
        sent,
        interval_us: 10_000.0,
        size: 64,
        jitter_us: 3.456,
        jitter_hist_us: full.then(|| pct(2.0)),
        schedule_error_us: full.then(|| pct(50.0)),
        end_drift_us: full.then_some(-12.345),
        clocks: SAME_HOST_CLOCKS,
    }
}

fn target() -> std::net::SocketAddr {
    "127.0.0.1:5005".parse().unwrap()
}

fn target6() -> std::net::SocketAddr {
    "[::1]:5005".parse().unwrap()
}

/// Reports that between them reach every line of the text report.
fn every_kind_of_report() -> Vec<Report> {
    [echo_reports(), file_reports(), stream_reports()].concat()
}

/// A busy-polled TCP echo, and a UDP echo that counted its datagrams.
fn echo_reports() -> Vec<Report> {
    let (target, target6) = (target(), target6());
    let echo = Detail::Echo {
        count: 10,
        replies: 9,
        size: 32,
    };
    let mut spin_echo = Report::new("echo", target, 320, 0.0125, echo.clone(), tcp_socket());
    spin_echo.latency_us = Some(pct(12.3456));
    spin_echo.spin = true;
    spin_echo.cpu = Some(CpuFigures::client(CpuUse::between(
        (1.0, 0.5),
        (1.01, 0.5025),
        0.0125,
    )));
    let mut udp_echo = Report::new("echo", target6, 320, 0.5, echo, udp_socket());
    udp_echo.spin = true;
    udp_echo.udp = Some(udp_figures(None, false));
    vec![spin_echo, udp_echo]
}

/// A verified TCP file with both captures, an unverified one, and a UDP
/// file cut short.
fn file_reports() -> Vec<Report> {
    let (target, target6) = (target(), target6());
    let file = |complete, verified, server: bool| Detail::File {
        size: 1_048_576,
        verified,
        complete,
        time_to_first_byte_us: 123.456,
        transfer_seconds: 0.0123456,
        server_written_seconds: server.then_some(0.004567891),
        server_acked_seconds: server.then_some(0.0123),
    };
    let mut tcp_file = Report::new(
        "file",
        target,
        1_048_576,
        0.0125,
        file(true, true, true),
        tcp_socket(),
    );
    tcp_file.overhead = Some(tcp_overhead(true));
    tcp_file.captures = Some(CapturesReport {
        model: Some(ModelReport {
            path: "model.pcapng".into(),
            frames: 10,
            kernel_times: None,
        }),
        live: Some(LiveReport {
            iface: "lo".into(),
            path: "live.pcapng".into(),
            frames: 12,
            bytes: 2000,
            dropped: 0,
            stamps: Default::default(),
        }),
    });
    let mut bare_file = Report::new(
        "file",
        target6,
        500_000,
        0.25,
        file(false, false, false),
        tcp_socket(),
    );
    bare_file.overhead = Some(tcp_overhead(false));
    bare_file.captures = Some(CapturesReport {
        model: None,
        live: None,
    });
    let mut udp_file = Report::new(
        "file",
        target,
        1_003_520,
        1.5,
        file(false, true, false),
        udp_socket(),
    );
    udp_file.udp = Some(udp_figures(Some(Ending::EndMessage), true));
    udp_file.overhead = Some(udp_overhead());
    udp_file.captures = Some(CapturesReport {
        model: Some(ModelReport {
            path: "/tmp/m.pcap".into(),
            frames: 703,
            kernel_times: None,
        }),
        live: None,
    });
    vec![tcp_file, bare_file, udp_file]
}

/// TCP and UDP streams, with and without their optional figures.
fn stream_reports() -> Vec<Report> {
    let (target, target6) = (target(), target6());
    let mut tcp_stream = Report::new(
        "stream",
        target,
        6272,
        1.0,
        stream_detail(Some(100), false),
        tcp_socket(),
    );
    tcp_stream.latency_us = None;
    let mut udp_stream = Report::new(
        "stream",
        target6,
        6272,
        1.0,
        stream_detail(None, true),
        udp_socket(),
    );
    udp_stream.latency_us = Some(pct(30.0));
    udp_stream.udp = Some(udp_figures(Some(Ending::Timeout), false));
    let mut unsent_stream = Report::new(
        "stream",
        target,
        0,
        0.0,
        stream_detail(None, false),
        tcp_socket(),
    );
    unsent_stream.latency_us = Some(pct(1.0));
    if let Some(u) = &mut udp_stream.udp {
        (u.io.send, u.io.send_calls, u.io.send_batch_max) = (Some("sendto"), Some(700), Some(1));
        u.io.gso_refused = false;
    }
    vec![tcp_stream, udp_stream, unsent_stream]
}

/// The text of [`every_kind_of_report`], one report after another.
fn every_kind_of_text() -> String {
    every_kind_of_report()
        .iter()
        .map(Report::render_text)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn text_report_is_unchanged() {
    let want = include_str!("../../../tests/data/report-text.txt");
    assert_eq!(every_kind_of_text(), want);
}
