//! The capture's receive ring: `TPACKET_V3` blocks that the kernel fills
//! with frames and the capture thread reads in place (`PACKET_RX_RING`,
//! `mmap`), as libpcap does.
//!
//! With a plain packet socket every frame is a cloned socket buffer queued
//! on the socket, and a `recvmsg` to read it: on loopback at tens of Gbit/s
//! that cost a third of a bulk transfer's goodput on two cores. With the
//! ring the kernel copies only the snap length (the filter's return value)
//! into the current block, and hands the block over when it is full or
//! [`RETIRE_MS`] after its first frame; the thread reads a whole block of
//! frames per wake-up, without a system call per frame.
//!
//! Layout of one block (`<linux/if_packet.h>`):
//!
//! ```text
//! tpacket_block_desc { version, offset_to_priv, tpacket_hdr_v1 { block_status,
//!                      num_pkts, offset_to_first_pkt, … } }
//! frame: tpacket3_hdr { tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len,
//!                       tp_status, tp_mac, tp_net, … }
//!        sockaddr_ll (at TPACKET_ALIGN(sizeof tpacket3_hdr)): pkttype, hatype
//!        the frame's bytes at tp_mac, tp_snaplen of them
//! ```

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use socket2::Socket;

/// Bytes per block: a multiple of the page size.
pub(crate) const BLOCK_SIZE: u32 = 1 << 20;
/// Blocks in the ring: 16 MiB in all, room for about 50 000 frames of a
/// 256-byte snap length while the thread sleeps.
pub(crate) const BLOCKS: u32 = 16;
/// The frame size the kernel checks the ring against (`TPACKET_V3` packs
/// frames of any size into a block; this only has to divide the block).
const FRAME_SIZE: u32 = 1 << 11;
/// A block that has frames is handed over at the latest this long after the
/// first one, so a slow flow's frames still reach the file.
pub(crate) const RETIRE_MS: u32 = 10;

/// One frame as the ring holds it.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    /// The bytes kept (at most the snap length).
    pub data: &'a [u8],
    /// The frame's whole length.
    pub original: usize,
    /// `sll_pkttype`.
    pub pkttype: u8,
    /// `sll_hatype`.
    pub hatype: u16,
    /// The kernel's time stamp, since the Unix epoch.
    pub timestamp: Duration,
    /// Where the kernel took it from (`tp_status`'s stamp bits).
    pub source: StampSource,
}

/// `tp_status` bits that say which stamp a frame carries
/// (`linux/if_packet.h`).
const TP_STATUS_TS_SOFTWARE: u32 = 1 << 29;
const TP_STATUS_TS_RAW_HARDWARE: u32 = 1 << 31;

/// Where the kernel took a captured frame's time from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampSource {
    /// The frame's own software stamp, taken where the stack stamped it
    /// (`TP_STATUS_TS_SOFTWARE`).
    Frame,
    /// The interface's hardware clock (`TP_STATUS_TS_RAW_HARDWARE`).
    Hardware,
    /// Neither: the kernel read its clock as it copied the frame into the
    /// ring at the tap.
    Copy,
}

impl StampSource {
    /// The source `tp_status` names.
    pub(crate) fn of(status: u32) -> StampSource {
        if status & TP_STATUS_TS_RAW_HARDWARE != 0 {
            StampSource::Hardware
        } else if status & TP_STATUS_TS_SOFTWARE != 0 {
            StampSource::Frame
        } else {
            StampSource::Copy
        }
    }
}

/// A mapped `TPACKET_V3` receive ring on a packet socket.
#[derive(Debug)]
pub(crate) struct Ring {
    map: *mut u8,
    len: usize,
    next: usize,
    fd: RawFd,
}

// SAFETY: the mapping is owned by the ring and used by one thread at a time
// (the capture thread it is moved into).
unsafe impl Send for Ring {}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which outlives the
    // call; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Ring {
    /// Sets up and maps the ring on `socket` (filter attached, not yet
    /// bound).
    pub(crate) fn new(socket: &Socket) -> io::Result<Ring> {
        let fd = socket.as_raw_fd();
        setsockopt(
            fd,
            libc::PACKET_VERSION,
            &(libc::tpacket_versions::TPACKET_V3 as libc::c_int),
        )?;
        let req = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE,
            tp_block_nr: BLOCKS,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: BLOCK_SIZE / FRAME_SIZE * BLOCKS,
            tp_retire_blk_tov: RETIRE_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(fd, libc::PACKET_RX_RING, &req)?;
        let len = (BLOCK_SIZE * BLOCKS) as usize;
        // SAFETY: a fresh shared mapping of the socket's ring, of the size
        // the kernel just allocated; checked for MAP_FAILED below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd,
                0,
            )
        };
        let map = if map == libc::MAP_FAILED {
            // MAP_LOCKED needs RLIMIT_MEMLOCK room; try without it.
            // SAFETY: as above.
            let m = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd,
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            m
        } else {
            map
        };
        Ok(Ring {
            map: map.cast(),
            len,
            next: 0,
            fd,
        })
    }

    fn block(&self, i: usize) -> *mut libc::tpacket_block_desc {
        // SAFETY: i < BLOCKS, so the block lies inside the mapping.
        unsafe { self.map.add(i * BLOCK_SIZE as usize) }.cast()
    }

    fn status(&self, i: usize) -> u32 {
        let b = self.block(i);
        // SAFETY: the block descriptor is inside the mapping; the kernel
        // writes the status concurrently, hence the volatile read.
        let s = unsafe { std::ptr::read_volatile(&raw const (*b).hdr.bh1.block_status) };
        fence(Ordering::Acquire);
        s
    }

    /// Waits up to `wait` for the next block the kernel has filled; calls
    /// `each` for every frame in it and hands the block back. `Ok(false)`
    /// when no block came in time.
    pub(crate) fn next_block(
        &mut self,
        wait: Duration,
        mut each: impl FnMut(Frame<'_>) -> io::Result<()>,
    ) -> io::Result<bool> {
        if self.status(self.next) & libc::TP_STATUS_USER == 0 {
            if !wait.is_zero() {
                let mut pfd = libc::pollfd {
                    fd: self.fd,
                    events: libc::POLLIN | libc::POLLERR,
                    revents: 0,
                };
                let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
                // SAFETY: one valid pollfd, for the duration of the call.
                unsafe { libc::poll(&mut pfd, 1, ms) };
            }
            if self.status(self.next) & libc::TP_STATUS_USER == 0 {
                return Ok(false);
            }
        }
        let b = self.block(self.next);
        let base = b.cast::<u8>();
        // SAFETY: the kernel handed this block over (TP_STATUS_USER): its
        // header and frames stay as they are until the status is reset, and
        // every offset below comes from the kernel and stays in the block.
        let result = unsafe {
            let h1 = &(*b).hdr.bh1;
            let mut at = h1.offset_to_first_pkt as usize;
            let mut result = Ok(());
            for _ in 0..h1.num_pkts {
                if at + std::mem::size_of::<libc::tpacket3_hdr>() > BLOCK_SIZE as usize {
                    break;
                }
                let f = base.add(at).cast::<libc::tpacket3_hdr>();
                let f = &*f;
                let sll = base
                    .add(at + libc::TPACKET_ALIGN(std::mem::size_of::<libc::tpacket3_hdr>()))
                    .cast::<libc::sockaddr_ll>();
                let mac = at + f.tp_mac as usize;
                let snap = f.tp_snaplen as usize;
                if mac + snap > BLOCK_SIZE as usize {
                    break;
                }
                let frame = Frame {
                    data: std::slice::from_raw_parts(base.add(mac), snap),
                    original: f.tp_len as usize,
                    pkttype: (*sll).sll_pkttype,
                    hatype: (*sll).sll_hatype,
                    timestamp: Duration::new(u64::from(f.tp_sec), f.tp_nsec),
                    source: StampSource::of(f.tp_status),
                };
                if let Err(e) = each(frame) {
                    result = Err(e);
                    break;
                }
                if f.tp_next_offset == 0 {
                    break;
                }
                at += f.tp_next_offset as usize;
            }
            result
        };
        fence(Ordering::Release);
        // SAFETY: the block is ours until this write hands it back.
        unsafe {
            std::ptr::write_volatile(&raw mut (*b).hdr.bh1.block_status, libc::TP_STATUS_KERNEL);
        }
        self.next = (self.next + 1) % BLOCKS as usize;
        result.map(|()| true)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.map.cast(), self.len);
        }
    }
}
