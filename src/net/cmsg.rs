//! The control messages the lab reads from received datagrams (cmsg(3)):
//! the datagram size of a GRO buffer (`UDP_GRO`) and the TOS byte or
//! traffic class (`IP_TOS` with `IP_RECVTOS`, `IPV6_TCLASS` with
//! `IPV6_RECVTCLASS`), the kernel's RX timestamps (`SCM_TIMESTAMPING`,
//! read by [`super::timestamping`]), and what a datagram to be sent
//! carries: its TOS.

use nix::sys::socket::ControlMessage;

/// What a received message's control data said.
#[derive(Clone, Copy, Default)]
pub(crate) struct Found {
    /// `UDP_GRO`: the size of the datagrams a buffer holds, when above 0.
    pub gro: Option<u16>,
    /// The TOS byte (IPv4) or traffic class (IPv6) the datagram came with.
    pub tos: Option<u8>,
    /// `SCM_TIMESTAMPING`'s three times (software, deprecated, hardware),
    /// when the socket stamps what it receives.
    pub stamps: Option<[libc::timespec; 3]>,
}

/// Room for one `int` control message.
fn int_space() -> usize {
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize }
}

/// Control-message room per received message: `UDP_GRO`, and the TOS
/// (an `int` at most: IPv6's traffic class; IPv4's is one byte).
pub(crate) fn recv_space() -> usize {
    2 * int_space()
}

/// Control-message room for an RX timestamp (`SCM_TIMESTAMPING`), added to
/// [`recv_space`] by a receiver that reads stamps.
pub(crate) fn stamp_space() -> usize {
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<[libc::timespec; 3]>() as u32) as usize }
}

/// Calls `f` with the level, type and data of every control message the
/// kernel put in a received header: the one walk over `msg_control` that
/// every parser here shares.
pub(crate) fn each(h: &libc::msghdr, mut f: impl FnMut(libc::c_int, libc::c_int, &[u8])) {
    if h.msg_control.is_null() || h.msg_controllen == 0 {
        return;
    }
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the
    // CMSG macros stay within it, and each message's data is no longer
    // than its header says.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = ((*c).cmsg_len as usize).saturating_sub(data.offset_from(c.cast()) as usize);
            f(
                (*c).cmsg_level,
                (*c).cmsg_type,
                std::slice::from_raw_parts(data, len),
            );
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
}

/// A value of type `T` read unaligned from the front of `data`, if it is
/// long enough.
pub(crate) fn read<T: Copy>(data: &[u8]) -> Option<T> {
    // SAFETY: `T` is plain old data from the kernel and `data` holds at
    // least its size; the read is unaligned.
    (data.len() >= std::mem::size_of::<T>())
        .then(|| unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<T>()) })
}

/// Reads the control messages the kernel put in a received header.
pub(crate) fn parse(h: &libc::msghdr) -> Found {
    let mut f = Found::default();
    each(h, |level, kind, data| match (level, kind) {
        (libc::SOL_UDP, libc::UDP_GRO) => {
            if let Some(v) = read::<libc::c_int>(data) {
                f.gro = u16::try_from(v).ok().filter(|v| *v > 0);
            }
        }
        (libc::IPPROTO_IP, libc::IP_TOS) => {
            if let Some(&tos) = data.first() {
                f.tos = Some(tos);
            }
        }
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) => {
            f.stamps = read::<[libc::timespec; 3]>(data);
        }
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => {
            if let Some(v) = read::<libc::c_int>(data) {
                f.tos = u8::try_from(v).ok();
            }
        }
        _ => {}
    });
    f
}

/// A TOS to send with, in the control message of the destination's
/// family: `IP_TOS` (one byte) for IPv4, `IPV6_TCLASS` (an `int`) for IPv6.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mark {
    /// IPv4.
    V4(u8),
    /// IPv6.
    V6(libc::c_int),
}

impl Mark {
    /// The mark for a datagram to `v6` (or IPv4) with TOS byte `tos`.
    pub fn new(v6: bool, tos: u8) -> Mark {
        if v6 {
            Mark::V6(tos.into())
        } else {
            Mark::V4(tos)
        }
    }

    /// Its control message.
    pub fn cmsg(&self) -> ControlMessage<'_> {
        match self {
            Mark::V4(t) => ControlMessage::Ipv4Tos(t),
            Mark::V6(t) => ControlMessage::Ipv6TClass(t),
        }
    }
}
