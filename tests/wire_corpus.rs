//! The wire model against real captures (tests/corpus, made by tcpdump and
//! tshark): the frame lengths the model predicts for a capture on the
//! sending host must be the ones the capture recorded (pcap original
//! length), frame by frame where the order is fixed, as a multiset where
//! two hosts interleave.

use std::fs::File;
use std::path::{Path, PathBuf};

use ardei_lab::wire::{CaptureSide, IpVersion, Link, Tally, TcpTransfer, UdpDatagram, WireError};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

const ETH: Link = Link::Ethernet { vlan: false };

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

/// Original frame lengths of a classic pcap, in file order. Raw packets:
/// pcap-file's validated `next_packet` refuses an original length above the
/// snap length, which every truncated capture has.
fn frame_lens(name: &str) -> Vec<u32> {
    let file = File::open(corpus(name)).expect("corpus file");
    let mut reader = PcapReader::new(file).expect("pcap header");
    let mut lens = Vec::new();
    while let Some(packet) = reader.next_raw_packet() {
        lens.push(packet.expect("pcap packet").orig_len);
    }
    lens
}

/// The model's sender-side frame lengths of several tallies, in order.
fn model_lens(tallies: &[Tally]) -> Vec<u32> {
    tallies
        .iter()
        .flat_map(|t| t.captured_lens(CaptureSide::Sender))
        .collect()
}

fn udp(ip: IpVersion, payloads: &[u64]) -> Result<Vec<Tally>, WireError> {
    payloads
        .iter()
        .map(|&p| UdpDatagram::new(ip, ETH, p).with_mtu(1500).tally())
        .collect()
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

// veth-udp4-frag.pcap: UDP/IPv4 datagrams of 1, 18, 1472, 2000, 4000 and
// 65507 bytes on a 1500-byte MTU; 53 frames, 74848 bytes.
#[test]
fn veth_udp4_fragments_frame_by_frame() {
    let model = model_lens(&udp(IpVersion::V4, &[1, 18, 1472, 2000, 4000, 65507]).unwrap());
    let capture = frame_lens("veth-udp4-frag.pcap");
    assert_eq!(capture.len(), 53);
    assert_eq!(model, capture);
}

// veth-udp6-frag.pcap: UDP/IPv6 datagrams of 1, 1452 and 4000 bytes; 5
// frames, 5771 bytes.
#[test]
fn veth_udp6_fragments_frame_by_frame() {
    let model = model_lens(&udp(IpVersion::V6, &[1, 1452, 4000]).unwrap());
    let capture = frame_lens("veth-udp6-frag.pcap");
    assert_eq!(capture.iter().map(|&l| u64::from(l)).sum::<u64>(), 5771);
    assert_eq!(model, capture);
}

// lo-udp4-iperf3-snap96.pcap: iperf3 -u on loopback, 200 datagrams of 1000
// bytes and 2 of 4 bytes (its control); captured length 96 but the
// original lengths are whole.
#[test]
fn loopback_udp4_iperf3() {
    let lo = |p| UdpDatagram::new(IpVersion::V4, Link::Loopback, p).tally();
    let mut model = vec![lo(4).unwrap(), lo(4).unwrap()];
    model.extend((0..200).map(|_| lo(1000).unwrap()));
    let capture = frame_lens("lo-udp4-iperf3-snap96.pcap");
    assert_eq!(sorted(model_lens(&model)), sorted(capture));
}

// veth-tcp4-100000.pcap: 100000 bytes over TCP/IPv4, then a 6-byte reply
// (72) and its ACK (66); the receiver sent 24 pure ACKs for 70 segments.
#[test]
fn veth_tcp4_bulk_transfer() {
    let mut transfer = TcpTransfer::new(IpVersion::V4, ETH, 100_000);
    transfer.ack_every = 3;
    let mut model = model_lens(&[transfer.tally().unwrap()]);
    model.extend([72, 66]);
    assert_eq!(sorted(model), sorted(frame_lens("veth-tcp4-100000.pcap")));
}

// veth-tcp6-50000.pcap: 50000 bytes over TCP/IPv6, then a 5-byte reply (91)
// that also acknowledged the first FIN; the receiver sent 23 pure ACKs for
// 36 segments (no whole ratio, so they are added by hand).
#[test]
fn veth_tcp6_bulk_transfer() {
    let mut transfer = TcpTransfer::new(IpVersion::V6, ETH, 50_000);
    transfer.ack_every = 0;
    let mut model = model_lens(&[transfer.tally().unwrap()]);
    model.extend(std::iter::repeat_n(86, 23));
    model.push(91);
    assert_eq!(sorted(model), sorted(frame_lens("veth-tcp6-50000.pcap")));
}

// lo-tcp4-iperf3.pcapng: the first SYN on lo advertises MSS 65495, the
// model's MSS for IPv4 on loopback (MTU 65536, packets at most 65535).
#[test]
fn loopback_syn_mss() {
    let file = File::open(corpus("lo-tcp4-iperf3.pcapng")).expect("corpus file");
    let mut reader = PcapNgReader::new(file).expect("pcapng header");
    let mut syn = None;
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(epb) = block.expect("pcapng block") {
            syn = Some(epb.data.to_vec());
            break;
        }
    }
    let frame = syn.expect("a packet");
    // Ethernet 14, IPv4 header (IHL words), TCP: options start at 20.
    let ip_len = usize::from(frame[14] & 0x0f) * 4;
    let tcp = &frame[14 + ip_len..];
    assert_eq!(tcp[13] & 0x12, 0x02, "first packet is a SYN");
    assert_eq!(&tcp[20..22], &[2, 4], "MSS option first");
    let mss = u32::from(u16::from_be_bytes([tcp[22], tcp[23]]));
    let model = TcpTransfer::new(IpVersion::V4, Link::Loopback, 1).mss();
    assert_eq!(model, Ok(mss));
    assert_eq!(mss, 65495);
    // A SYN with timestamps: a 40-byte TCP header, a 74-byte frame.
    assert_eq!(usize::from(tcp[12] >> 4) * 4, 40);
    assert_eq!(frame.len(), 74);
}
