//! Which frames a live capture keeps: one flow, or every peer of one local
//! port, as a classic BPF program for the kernel and as the same predicate
//! in Rust for a second look in userspace.
//!
//! A frame matches when it is Ethernet II without VLAN tags, carries IPv4 or
//! IPv6, the chosen transport (TCP or UDP), and its addresses and ports are
//! those of the flow in either direction. Two kinds of frames carry no ports:
//!
//! - a non-first IPv4 fragment (fragment offset ≠ 0) matches by addresses
//!   and protocol;
//! - a non-first IPv6 fragment matches by addresses and a Fragment header
//!   whose next header is the transport.
//!
//! Fragments match for UDP only: TCP sets don't-fragment and never sends
//! them, so a TCP fragment is not part of a flow this lab makes.
//!
//! The kernel program reads fixed offsets, so it handles an IPv6 Fragment
//! header only directly after the fixed header (where Linux puts it), and no
//! other IPv6 extension header. The Rust predicate ([`FlowFilter::matches`])
//! parses with etherparse and is wider; a frame is kept when both agree.
//!
//! The program ends with `ret #262144` for a match (keep the whole frame: the
//! snap length is applied when the frame is read, so the original length
//! survives) and `ret #0` otherwise.

use std::net::{IpAddr, SocketAddr};

use etherparse::{Ipv6ExtensionSlice, LaxNetSlice, LaxSlicedPacket};

pub use crate::wire::Transport;

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Operation: class, size, mode or jump kind, source.
    pub code: u16,
    /// Instructions skipped when a conditional jump is taken.
    pub jt: u8,
    /// Instructions skipped when it is not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

/// Opcode parts, as `linux/filter.h` names them.
pub mod op {
    /// Load into the accumulator.
    pub const LD: u16 = 0x00;
    /// Load into the index register.
    pub const LDX: u16 = 0x01;
    /// Jump.
    pub const JMP: u16 = 0x05;
    /// Return.
    pub const RET: u16 = 0x06;
    /// 32-bit word.
    pub const W: u16 = 0x00;
    /// 16-bit half word.
    pub const H: u16 = 0x08;
    /// Byte.
    pub const B: u16 = 0x10;
    /// Absolute offset.
    pub const ABS: u16 = 0x20;
    /// Offset relative to the index register.
    pub const IND: u16 = 0x40;
    /// `X = 4 * (P[k] & 0xf)`: the IPv4 header length.
    pub const MSH: u16 = 0xa0;
    /// Unconditional jump by `k`.
    pub const JA: u16 = 0x00;
    /// Jump if `A == k`.
    pub const JEQ: u16 = 0x10;
    /// Jump if `A & k != 0`.
    pub const JSET: u16 = 0x40;
    /// Constant operand.
    pub const K: u16 = 0x00;
    /// Where Linux's ancillary loads start (`SKF_AD_OFF`, -4096).
    pub const AD_OFF: u32 = 0xffff_f000;
    /// Ancillary load of the packet type (`SKF_AD_PKTTYPE`).
    pub const AD_PKTTYPE: u32 = 4;
}

/// What the program returns for a frame it keeps: libpcap's largest snap
/// length, so the kernel keeps the frame whole.
pub const ACCEPT: u32 = 262_144;

/// `PACKET_OUTGOING`: a frame this host sent, as a packet socket sees it.
pub const PACKET_OUTGOING: u8 = 4;

const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const IPV6_FRAGMENT: u32 = 44;
const ETH: u32 = 14;

/// A conditional jump in the program needed to skip more than 255
/// instructions, which classic BPF cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the capture filter program is too long for classic BPF jumps")]
pub struct ProgramTooLong;

/// One end of a flow: an address (`None`: any) and a port (`None`: any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct End {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

impl End {
    fn ip_ok(&self, ip: IpAddr) -> bool {
        self.ip.is_none_or(|want| want == ip)
    }

    fn matches(&self, ip: IpAddr, port: u16) -> bool {
        self.ip_ok(ip) && self.port.is_none_or(|want| want == port)
    }
}

/// The frames of one flow, in either direction, or of every peer of one
/// local port ([`FlowFilter::server`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowFilter {
    transport: Transport,
    a: End,
    b: End,
    ipv4: bool,
    ipv6: bool,
}

impl FlowFilter {
    /// The flow between `a` and `b`, either way. IPv4-mapped IPv6 addresses
    /// are taken as the IPv4 addresses they are on the wire; two addresses
    /// of different families match nothing.
    pub fn new(transport: Transport, a: SocketAddr, b: SocketAddr) -> FlowFilter {
        let (ia, ib) = (a.ip().to_canonical(), b.ip().to_canonical());
        FlowFilter {
            transport,
            a: End {
                ip: Some(ia),
                port: Some(a.port()),
            },
            b: End {
                ip: Some(ib),
                port: Some(b.port()),
            },
            ipv4: ia.is_ipv4() && ib.is_ipv4(),
            ipv6: ia.is_ipv6() && ib.is_ipv6(),
        }
    }

    /// Every peer of a server at `local`, either way. An unspecified local
    /// address matches any address: `0.0.0.0` any IPv4 one, `::` any IPv4
    /// or IPv6 one (a dual-stack socket is reached over both). UDP fragments
    /// match when the local address matches, whatever the peer.
    pub fn server(transport: Transport, local: SocketAddr) -> FlowFilter {
        let ip = local.ip().to_canonical();
        let (ip, ipv4, ipv6) = match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => (None, true, false),
            IpAddr::V6(v6) if v6.is_unspecified() => (None, true, true),
            other => (Some(other), other.is_ipv4(), other.is_ipv6()),
        };
        FlowFilter {
            transport,
            a: End {
                ip,
                port: Some(local.port()),
            },
            b: End {
                ip: None,
                port: None,
            },
            ipv4,
            ipv6,
        }
    }

    /// The transport this filter keeps.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    fn protocol(&self) -> u8 {
        match self.transport {
            Transport::Tcp => 6,
            Transport::Udp => 17,
        }
    }

    /// Whether an Ethernet frame (as captured, possibly cut by the snap
    /// length) belongs to the flow: the predicate the program computes,
    /// parsed with etherparse rather than at fixed offsets.
    pub fn matches(&self, frame: &[u8]) -> bool {
        let Ok(packet) = LaxSlicedPacket::from_ethernet(frame) else {
            return false;
        };
        if !packet.link_exts.is_empty() {
            return false;
        }
        let (src, dst, payload, offset) = match &packet.net {
            Some(LaxNetSlice::Ipv4(v4)) if self.ipv4 => {
                let h = v4.header();
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    v4.payload(),
                    h.fragments_offset().value(),
                )
            }
            Some(LaxNetSlice::Ipv6(v6)) if self.ipv6 => {
                let h = v6.header();
                let offset = v6.extensions().clone().into_iter().find_map(|e| match e {
                    Ipv6ExtensionSlice::Fragment(f) => Some(f.fragment_offset().value()),
                    _ => None,
                });
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    v6.payload(),
                    offset.unwrap_or(0),
                )
            }
            _ => return false,
        };
        if payload.ip_number.0 != self.protocol() {
            return false;
        }
        if offset != 0 {
            let addresses = (self.a.ip_ok(src) && self.b.ip_ok(dst))
                || (self.b.ip_ok(src) && self.a.ip_ok(dst));
            return self.transport == Transport::Udp && addresses;
        }
        let Some(ports) = payload.payload.get(..4) else {
            return false;
        };
        let sport = u16::from_be_bytes([ports[0], ports[1]]);
        let dport = u16::from_be_bytes([ports[2], ports[3]]);
        (self.a.matches(src, sport) && self.b.matches(dst, dport))
            || (self.b.matches(src, sport) && self.a.matches(dst, dport))
    }

    /// The classic BPF program for this filter: it returns `keep` (the snap
    /// length, at most [`ACCEPT`]) for a frame of the flow, 0 for any other.
    /// With `drop_outgoing` it also rejects frames of type
    /// `PACKET_OUTGOING` (on a loopback interface every packet is seen once
    /// going out and once coming in).
    pub fn program(&self, drop_outgoing: bool, keep: u32) -> Result<Vec<Insn>, ProgramTooLong> {
        let mut asm = Asm::default();
        let reject = asm.label();
        let accept = asm.label();
        if drop_outgoing {
            asm.load(op::W, op::AD_OFF + op::AD_PKTTYPE);
            asm.jeq(u32::from(PACKET_OUTGOING), To::Label(reject), To::Next);
        }
        let v4 = asm.label();
        let v6 = asm.label();
        asm.load(op::H, 12);
        if self.ipv4 {
            asm.jeq(ETHERTYPE_IPV4, To::Label(v4), To::Next);
        }
        if self.ipv6 {
            asm.jeq(ETHERTYPE_IPV6, To::Label(v6), To::Next);
        }
        asm.ret(0);
        if self.ipv4 {
            asm.mark(v4);
            self.ipv4_body(&mut asm, accept, reject);
        }
        if self.ipv6 {
            asm.mark(v6);
            self.ipv6_body(&mut asm, accept, reject);
        }
        asm.mark(accept);
        asm.ret(keep.clamp(1, ACCEPT));
        asm.mark(reject);
        asm.ret(0);
        asm.assemble()
    }

    /// The two directions, `a → b` then `b → a`, each falling through to the
    /// next on a mismatch; after the last, a mismatch rejects.
    fn directions(
        &self,
        asm: &mut Asm,
        reject: Label,
        mut body: impl FnMut(&mut Asm, End, End, Label),
    ) {
        let second = asm.label();
        body(asm, self.a, self.b, second);
        asm.mark(second);
        body(asm, self.b, self.a, reject);
    }

    fn ipv4_body(&self, asm: &mut Asm, accept: Label, reject: Label) {
        let udp = self.transport == Transport::Udp;
        asm.load(op::B, ETH + 9);
        asm.jeq(u32::from(self.protocol()), To::Next, To::Label(reject));
        self.directions(asm, reject, |asm, src, dst, fail| {
            for (end, at) in [(src, ETH + 12), (dst, ETH + 16)] {
                match end.ip {
                    Some(IpAddr::V4(ip)) => {
                        asm.load(op::W, at);
                        asm.jeq(u32::from(ip), To::Next, To::Label(fail));
                    }
                    Some(IpAddr::V6(_)) => asm.ja(fail),
                    None => {}
                }
            }
            // A non-first fragment: no ports to compare.
            asm.load(op::H, ETH + 6);
            let frag = if udp { accept } else { fail };
            asm.jset(0x1fff, To::Label(frag), To::Next);
            asm.ldx_ip_header_len(ETH);
            for (end, at) in [(src, ETH), (dst, ETH + 2)] {
                if let Some(port) = end.port {
                    asm.load_ind(op::H, at);
                    asm.jeq(u32::from(port), To::Next, To::Label(fail));
                }
            }
            asm.ja(accept);
        });
    }

    fn ipv6_body(&self, asm: &mut Asm, accept: Label, reject: Label) {
        let udp = self.transport == Transport::Udp;
        let proto = u32::from(self.protocol());
        self.directions(asm, reject, |asm, src, dst, fail| {
            for (end, at) in [(src, ETH + 8), (dst, ETH + 24)] {
                match end.ip {
                    Some(IpAddr::V6(ip)) => {
                        for (i, word) in ip.octets().chunks_exact(4).enumerate() {
                            let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
                            asm.load(op::W, at + 4 * i as u32);
                            asm.jeq(word, To::Next, To::Label(fail));
                        }
                    }
                    Some(IpAddr::V4(_)) => asm.ja(fail),
                    None => {}
                }
            }
            let plain = asm.label();
            asm.load(op::B, ETH + 6);
            asm.jeq(proto, To::Label(plain), To::Next);
            asm.jeq(IPV6_FRAGMENT, To::Next, To::Label(fail));
            asm.load(op::B, ETH + 40);
            asm.jeq(proto, To::Next, To::Label(fail));
            asm.load(op::H, ETH + 42);
            let frag = if udp { accept } else { fail };
            asm.jset(0xfff8, To::Label(frag), To::Next);
            // A first fragment: the transport header follows the 8 bytes of
            // the Fragment header.
            ports(asm, src, dst, ETH + 48, accept, fail);
            asm.mark(plain);
            ports(asm, src, dst, ETH + 40, accept, fail);
        });
    }
}

/// Compares the ports of a transport header at the fixed offset `at`.
fn ports(asm: &mut Asm, src: End, dst: End, at: u32, accept: Label, fail: Label) {
    for (end, at) in [(src, at), (dst, at + 2)] {
        if let Some(port) = end.port {
            asm.load(op::H, at);
            asm.jeq(u32::from(port), To::Next, To::Label(fail));
        }
    }
    asm.ja(accept);
}

/// A place in the program a jump can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

/// Where a conditional jump goes.
#[derive(Debug, Clone, Copy)]
enum To {
    Next,
    Label(Label),
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Plain(Insn),
    Cond { code: u16, k: u32, t: To, f: To },
    Ja(Label),
    Mark(Label),
}

/// A tiny assembler: instructions with symbolic forward jumps.
#[derive(Debug, Default)]
struct Asm {
    steps: Vec<Step>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn mark(&mut self, l: Label) {
        self.steps.push(Step::Mark(l));
    }

    fn plain(&mut self, code: u16, k: u32) {
        self.steps.push(Step::Plain(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }

    fn load(&mut self, size: u16, at: u32) {
        self.plain(op::LD | size | op::ABS, at);
    }

    fn load_ind(&mut self, size: u16, at: u32) {
        self.plain(op::LD | size | op::IND, at);
    }

    fn ldx_ip_header_len(&mut self, at: u32) {
        self.plain(op::LDX | op::B | op::MSH, at);
    }

    fn ret(&mut self, k: u32) {
        self.plain(op::RET | op::K, k);
    }

    fn jeq(&mut self, k: u32, t: To, f: To) {
        self.steps.push(Step::Cond {
            code: op::JMP | op::JEQ | op::K,
            k,
            t,
            f,
        });
    }

    fn jset(&mut self, k: u32, t: To, f: To) {
        self.steps.push(Step::Cond {
            code: op::JMP | op::JSET | op::K,
            k,
            t,
            f,
        });
    }

    fn ja(&mut self, l: Label) {
        self.steps.push(Step::Ja(l));
    }

    /// Resolves labels into offsets. Every jump goes forward.
    fn assemble(&self) -> Result<Vec<Insn>, ProgramTooLong> {
        let mut at = vec![None; self.labels];
        let mut n = 0usize;
        for step in &self.steps {
            match step {
                Step::Mark(l) => at[l.0] = Some(n),
                _ => n += 1,
            }
        }
        let mut out = Vec::with_capacity(n);
        for step in &self.steps {
            let here = out.len() + 1;
            let skip = |to: To| -> Result<usize, ProgramTooLong> {
                match to {
                    To::Next => Ok(0),
                    To::Label(l) => at[l.0]
                        .and_then(|t: usize| t.checked_sub(here))
                        .ok_or(ProgramTooLong),
                }
            };
            let insn = match *step {
                Step::Mark(_) => continue,
                Step::Plain(i) => i,
                Step::Cond { code, k, t, f } => Insn {
                    code,
                    jt: u8::try_from(skip(t)?).map_err(|_| ProgramTooLong)?,
                    jf: u8::try_from(skip(f)?).map_err(|_| ProgramTooLong)?,
                    k,
                },
                Step::Ja(l) => Insn {
                    code: op::JMP | op::JA,
                    jt: 0,
                    jf: 0,
                    k: u32::try_from(skip(To::Label(l))?).map_err(|_| ProgramTooLong)?,
                },
            };
            out.push(insn);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::read::{CaptureReader, LinkType, Record};
    use etherparse::PacketBuilder;
    use std::fs::File;
    use std::io::BufReader;

    /// A classic BPF interpreter for the instructions the builder emits,
    /// with Linux's rules: a load past the end of the frame rejects it, and
    /// `pkttype` answers the ancillary load of the packet type.
    fn run(prog: &[Insn], pkt: &[u8], pkttype: u8) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |at: u64, size: usize| -> Option<u32> {
            let at = usize::try_from(at).ok()?;
            let bytes = pkt.get(at..at.checked_add(size)?)?;
            Some(bytes.iter().fold(0u32, |v, b| (v << 8) | u32::from(*b)))
        };
        let size = |code: u16| match code & 0x18 {
            op::W => 4,
            op::H => 2,
            op::B => 1,
            other => panic!("size {other:#x}"),
        };
        loop {
            let i = prog[pc];
            pc += 1;
            let class = i.code & 0x07;
            match class {
                op::LD if i.code & 0xe0 == op::ABS && i.k >= op::AD_OFF => {
                    assert_eq!(i.k - op::AD_OFF, op::AD_PKTTYPE, "ancillary load");
                    a = u32::from(pkttype);
                }
                op::LD if i.code & 0xe0 == op::ABS => match load(u64::from(i.k), size(i.code)) {
                    Some(v) => a = v,
                    None => return 0,
                },
                op::LD if i.code & 0xe0 == op::IND => {
                    match load(u64::from(x) + u64::from(i.k), size(i.code)) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                op::LDX if i.code == op::LDX | op::B | op::MSH => match load(u64::from(i.k), 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                op::JMP => {
                    let skip = match i.code & 0xf0 {
                        op::JA => i.k as usize,
                        op::JEQ if a == i.k => usize::from(i.jt),
                        op::JSET if a & i.k != 0 => usize::from(i.jt),
                        op::JEQ | op::JSET => usize::from(i.jf),
                        other => panic!("jump {other:#x}"),
                    };
                    pc += skip;
                }
                op::RET => return i.k,
                _ => panic!("opcode {:#x}", i.code),
            }
            assert!(pc < prog.len(), "the program runs off its end");
        }
    }

    fn corpus(name: &str) -> Vec<Vec<u8>> {
        let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut reader = CaptureReader::new(BufReader::new(File::open(path).unwrap())).unwrap();
        let mut frames = Vec::new();
        while let Some(record) = reader.next_record() {
            let Record::Frame(f) = record.unwrap() else {
                panic!("malformed record in {name}");
            };
            assert_eq!(f.link, LinkType::ETHERNET);
            frames.push(f.data.to_vec());
        }
        frames
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Frames the program keeps, after checking that it and the Rust
    /// predicate agree on every frame.
    fn kept(filter: &FlowFilter, frames: &[Vec<u8>]) -> usize {
        let prog = filter.program(false, ACCEPT).unwrap();
        let mut n = 0;
        for (i, f) in frames.iter().enumerate() {
            let bpf = run(&prog, f, 0);
            assert!(bpf == 0 || bpf == ACCEPT);
            assert_eq!(bpf != 0, filter.matches(f), "frame {i}: {filter:?}");
            n += usize::from(bpf != 0);
        }
        n
    }

    const TCP: Transport = Transport::Tcp;
    const UDP: Transport = Transport::Udp;

    #[test]
    fn tcp4_flow_matches_both_ways_and_nothing_else() {
        let frames = corpus("veth-tcp4-100000.pcap");
        assert_eq!(frames.len(), 103);
        let (c, s) = (sa("198.18.0.1:59112"), sa("198.18.0.2:5001"));
        for f in [
            FlowFilter::new(TCP, c, s),
            FlowFilter::new(TCP, s, c),
            FlowFilter::server(TCP, s),
            FlowFilter::server(TCP, sa("0.0.0.0:5001")),
            FlowFilter::server(TCP, sa("[::]:5001")),
            FlowFilter::server(TCP, c),
            FlowFilter::new(TCP, sa("[::ffff:198.18.0.1]:59112"), s),
        ] {
            assert_eq!(kept(&f, &frames), 103, "{f:?}");
        }
        for f in [
            FlowFilter::new(UDP, c, s),
            FlowFilter::new(TCP, c, sa("198.18.0.2:5002")),
            FlowFilter::new(TCP, sa("198.18.0.3:59112"), s),
            // Ports crossed over: each port on the wrong host.
            FlowFilter::new(TCP, sa("198.18.0.1:5001"), sa("198.18.0.2:59112")),
            FlowFilter::new(TCP, sa("[2001:2::1]:59112"), sa("[2001:2::2]:5001")),
            FlowFilter::server(TCP, sa("198.18.0.2:59112")),
            FlowFilter::server(TCP, sa("[2001:2::2]:5001")),
            // Mixed families match nothing.
            FlowFilter::new(TCP, c, sa("[2001:2::2]:5001")),
        ] {
            assert_eq!(kept(&f, &frames), 0, "{f:?}");
        }
    }

    #[test]
    fn one_of_two_flows_between_the_same_addresses() {
        // iperf3 on loopback: a control and a data connection, both
        // 127.0.0.1 to 127.0.0.1, told apart by the client port alone.
        let frames = corpus("lo-tcp4-iperf3.pcapng");
        assert_eq!(frames.len(), 43);
        let server = sa("127.0.0.1:44375");
        assert_eq!(
            kept(
                &FlowFilter::new(TCP, sa("127.0.0.1:35856"), server),
                &frames
            ),
            27
        );
        assert_eq!(
            kept(
                &FlowFilter::new(TCP, server, sa("127.0.0.1:35862")),
                &frames
            ),
            16
        );
        assert_eq!(kept(&FlowFilter::server(TCP, server), &frames), 43);
    }

    #[test]
    fn tcp6_flow_matches() {
        let frames = corpus("veth-tcp6-50000.pcap");
        assert_eq!(frames.len(), 67);
        let (c, s) = (sa("[2001:2::1]:47710"), sa("[2001:2::2]:5002"));
        assert_eq!(kept(&FlowFilter::new(TCP, s, c), &frames), 67);
        assert_eq!(kept(&FlowFilter::server(TCP, s), &frames), 67);
        assert_eq!(kept(&FlowFilter::server(TCP, sa("[::]:5002")), &frames), 67);
        assert_eq!(
            kept(&FlowFilter::server(TCP, sa("0.0.0.0:5002")), &frames),
            0
        );
        assert_eq!(
            kept(&FlowFilter::new(TCP, c, sa("[2001:2::3]:5002")), &frames),
            0
        );
        assert_eq!(kept(&FlowFilter::new(UDP, c, s), &frames), 0);
    }

    #[test]
    fn udp4_fragments_all_match() {
        let frames = corpus("veth-udp4-frag.pcap");
        assert_eq!(frames.len(), 53);
        let (c, s) = (sa("198.18.0.1:47838"), sa("198.18.0.2:5003"));
        assert_eq!(kept(&FlowFilter::new(UDP, c, s), &frames), 53);
        assert_eq!(kept(&FlowFilter::server(UDP, s), &frames), 53);
        assert_eq!(kept(&FlowFilter::new(TCP, c, s), &frames), 0);
        // Another port between the same hosts: only the 47 non-first
        // fragments, which carry no ports, match (by addresses).
        assert_eq!(
            kept(&FlowFilter::new(UDP, c, sa("198.18.0.2:5004")), &frames),
            47
        );
        assert_eq!(
            kept(&FlowFilter::new(UDP, c, sa("198.18.0.9:5003")), &frames),
            0
        );
    }

    #[test]
    fn udp6_fragments_all_match() {
        let frames = corpus("veth-udp6-frag.pcap");
        assert_eq!(frames.len(), 5);
        let (c, s) = (sa("[2001:2::1]:55934"), sa("[2001:2::2]:5004"));
        assert_eq!(kept(&FlowFilter::new(UDP, s, c), &frames), 5);
        assert_eq!(kept(&FlowFilter::server(UDP, s), &frames), 5);
        assert_eq!(kept(&FlowFilter::new(TCP, c, s), &frames), 0);
        assert_eq!(
            kept(&FlowFilter::new(UDP, c, sa("[2001:2::2]:5005")), &frames),
            2
        );
    }

    #[test]
    fn frames_cut_by_the_snap_length_still_match() {
        let frames = corpus("lo-udp4-iperf3-snap96.pcap");
        assert_eq!(frames.len(), 202);
        let f = FlowFilter::new(UDP, sa("127.0.0.1:51416"), sa("127.0.0.1:59433"));
        assert_eq!(kept(&f, &frames), 202);
        // Cut inside the UDP header: the ports cannot be read.
        let short: Vec<Vec<u8>> = frames.iter().map(|f| f[..36].to_vec()).collect();
        assert_eq!(kept(&f, &short), 0);
    }

    fn udp4_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut out, b"hello")
            .unwrap();
        out
    }

    #[test]
    fn synthetic_frames() {
        let f = FlowFilter::new(UDP, sa("10.0.0.1:1000"), sa("10.0.0.2:2000"));
        let good = udp4_frame([10, 0, 0, 1], 1000, [10, 0, 0, 2], 2000);
        let back = udp4_frame([10, 0, 0, 2], 2000, [10, 0, 0, 1], 1000);
        let other = udp4_frame([10, 0, 0, 1], 1000, [10, 0, 0, 2], 2001);
        let crossed = udp4_frame([10, 0, 0, 1], 2000, [10, 0, 0, 2], 1000);
        let mut icmp = good.clone();
        icmp[23] = 1;
        let mut arp = good.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        // The same packet behind an 802.1Q tag.
        let mut vlan = good[..12].to_vec();
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        vlan.extend_from_slice(&good[12..]);
        // IPv4 options move the ports: header length 24.
        let mut options = good[..14].to_vec();
        options.push(0x46);
        options.extend_from_slice(&good[15..34]);
        options.extend_from_slice(&[1, 1, 1, 0]);
        options.extend_from_slice(&good[34..]);
        let frames = [
            good,
            back,
            other,
            crossed,
            icmp,
            arp,
            vlan,
            options,
            vec![0; 13],
        ];
        let prog = f.program(false, ACCEPT).unwrap();
        let verdicts: Vec<bool> = frames.iter().map(|fr| run(&prog, fr, 0) != 0).collect();
        assert_eq!(
            verdicts,
            [true, true, false, false, false, false, false, true, false]
        );
        for (fr, v) in frames.iter().zip(&verdicts) {
            assert_eq!(f.matches(fr), *v);
        }
    }

    #[test]
    fn outgoing_copies_are_dropped_only_when_asked() {
        let f = FlowFilter::new(UDP, sa("10.0.0.1:1000"), sa("10.0.0.2:2000"));
        let frame = udp4_frame([10, 0, 0, 1], 1000, [10, 0, 0, 2], 2000);
        let lo = f.program(true, ACCEPT).unwrap();
        assert_eq!(run(&lo, &frame, PACKET_OUTGOING), 0);
        assert_eq!(run(&lo, &frame, 0), ACCEPT);
        let eth = f.program(false, ACCEPT).unwrap();
        assert_eq!(run(&eth, &frame, PACKET_OUTGOING), ACCEPT);
    }

    #[test]
    fn programs_are_short_and_jump_forward_only() {
        let filters = [
            FlowFilter::new(UDP, sa("[2001:2::1]:1"), sa("[2001:2::2]:2")),
            FlowFilter::server(UDP, sa("[::]:53")),
            FlowFilter::new(TCP, sa("1.2.3.4:5"), sa("6.7.8.9:10")),
        ];
        for f in filters {
            let prog = f.program(true, ACCEPT).unwrap();
            assert!(prog.len() < 100, "{} instructions", prog.len());
            for (i, insn) in prog.iter().enumerate() {
                let far = match insn.code {
                    c if c == op::JMP | op::JA => insn.k as usize,
                    c if c & 0x07 == op::JMP => usize::from(insn.jt.max(insn.jf)),
                    _ => continue,
                };
                assert!(i + 1 + far < prog.len(), "jump at {i} leaves the program");
            }
            assert_eq!(prog.last().map(|i| i.code), Some(op::RET | op::K));
        }
    }
}
