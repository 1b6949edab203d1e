//! What an interface can stamp: whether it has a hardware clock
//! (`ETHTOOL_GET_TS_INFO` through `SIOCETHTOOL`), and which interface holds
//! an address. `lo` and `veth` have none: their figures are software
//! stamps ([`super::timestamping`]), and say so.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use super::timestamping::StampKind;

/// `ETHTOOL_GET_TS_INFO` (linux/ethtool.h).
const ETHTOOL_GET_TS_INFO: u32 = 0x41;

/// What an interface can stamp, from `ETHTOOL_GET_TS_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// The interface.
    pub interface: String,
    /// Its PTP hardware clock (`/dev/ptpN`), when it has one that can stamp
    /// both ways.
    pub phc: Option<u32>,
}

impl Hardware {
    /// The kind of stamp its figures are: hardware only where a clock is.
    pub fn kind(&self) -> StampKind {
        if self.phc.is_some() {
            StampKind::Hardware
        } else {
            StampKind::Software
        }
    }
}

/// The struct `ETHTOOL_GET_TS_INFO` fills (linux/ethtool.h).
#[repr(C)]
#[derive(Default)]
struct TsInfo {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// Asks `interface` what it can stamp. `lo` and `veth` answer with software
/// capabilities and no clock: [`Hardware::phc`] is `None`, never faked.
pub fn hardware(interface: &str) -> io::Result<Hardware> {
    let mut info = TsInfo {
        cmd: ETHTOOL_GET_TS_INFO,
        ..TsInfo::default()
    };
    // SAFETY: a zeroed ifreq is valid; its name and data pointer are set
    // below, the data to `info`, which outlives the call.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{interface:?} is not an interface name"),
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&mut info as *mut TsInfo).cast();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // SAFETY: SIOCETHTOOL reads the ifreq and writes `info` through its
    // data pointer, both valid for the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let both = libc::SOF_TIMESTAMPING_TX_HARDWARE
        | libc::SOF_TIMESTAMPING_RX_HARDWARE
        | libc::SOF_TIMESTAMPING_RAW_HARDWARE;
    let phc = (info.so_timestamping & both == both)
        .then(|| u32::try_from(info.phc_index).ok())
        .flatten();
    Ok(Hardware {
        interface: interface.to_string(),
        phc,
    })
}

/// The interface that holds `addr` (`lo` for a loopback address), from
/// `getifaddrs(3)`.
pub fn interface_of(addr: IpAddr) -> io::Result<String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    for a in addrs {
        let ip = a.address.as_ref().and_then(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        });
        if ip == Some(addr) {
            return Ok(a.interface_name);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("no interface holds {addr}"),
    ))
}
