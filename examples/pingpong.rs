//! The floor of a busy-poll round trip on loopback: what the kernel's path
//! costs when a program does nothing else.
//!
//! Two threads, pinned as `tools/bench` pins the servers and clients of its
//! busy-poll figures (the echoing side on CPU 0, the timing side on CPU 1),
//! pass a 64-byte message back and forth over TCP (`TCP_NODELAY`) or UDP on
//! 127.0.0.1. Each side spins on `recv(MSG_DONTWAIT)` and answers with one
//! `send`: no protocol, no checks, no bookkeeping but one clock read before
//! each request and one after its reply. Any tool that spins on a socket
//! makes at least these system calls per round trip, so its median cannot
//! be far below this one.
//!
//! ```sh
//! cargo run --release --example pingpong -- tcp 250000
//! ```
//!
//! Prints one JSON object: `{"proto":"tcp","count":250000,"p50_us":…,"p99_us":…}`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;
use std::time::Instant;

use ardei_lab::pace::pin_to_cpu;

const SIZE: usize = 64;
const WARM_UP: usize = 1000;
const ECHO_CPU: usize = 0;
const TIMING_CPU: usize = 1;

/// One non-blocking receive, tried until it returns something.
fn spin_recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Err(e);
        }
        std::hint::spin_loop();
    }
}

/// Receives exactly `buf.len()` bytes of a TCP stream, spinning; `false` at
/// the end of the stream.
fn spin_recv_all(fd: RawFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match spin_recv(fd, &mut buf[got..])? {
            0 => return Ok(false),
            n => got += n,
        }
    }
    Ok(true)
}

fn tcp(count: usize) -> io::Result<Vec<u64>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        pin_to_cpu(ECHO_CPU).map_err(io::Error::other)?;
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; SIZE];
        while spin_recv_all(s.as_raw_fd(), &mut buf)? {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    pin_to_cpu(TIMING_CPU).map_err(io::Error::other)?;
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut buf = [b'x'; SIZE];
    let mut rtts = Vec::with_capacity(count);
    for i in 0..WARM_UP + count {
        let t0 = Instant::now();
        c.write_all(&buf)?;
        if !spin_recv_all(c.as_raw_fd(), &mut buf)? {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "echo side closed",
            ));
        }
        if i >= WARM_UP {
            rtts.push(t0.elapsed().as_nanos() as u64);
        }
    }
    c.shutdown(Shutdown::Write)?;
    let _ = c.read(&mut buf);
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    Ok(rtts)
}

fn udp(count: usize) -> io::Result<Vec<u64>> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let addr = server.local_addr()?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        pin_to_cpu(ECHO_CPU).map_err(io::Error::other)?;
        let mut buf = [0u8; SIZE];
        server.set_nonblocking(true)?;
        loop {
            let (n, from) = loop {
                match server.recv_from(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                    r => break r?,
                }
            };
            // An empty datagram ends the run.
            if n == 0 {
                return Ok(());
            }
            server.send_to(&buf[..n], from)?;
        }
    });
    pin_to_cpu(TIMING_CPU).map_err(io::Error::other)?;
    let c = UdpSocket::bind("127.0.0.1:0")?;
    c.connect(addr)?;
    let mut buf = [b'x'; SIZE];
    let mut rtts = Vec::with_capacity(count);
    for i in 0..WARM_UP + count {
        let t0 = Instant::now();
        c.send(&buf)?;
        spin_recv(c.as_raw_fd(), &mut buf)?;
        if i >= WARM_UP {
            rtts.push(t0.elapsed().as_nanos() as u64);
        }
    }
    c.send(&[])?;
    echo.join()
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    Ok(rtts)
}

fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p / 100.0) as usize).min(sorted.len() - 1);
    sorted[i] as f64 / 1e3
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (proto, count) = match args.as_slice() {
        [p, n] if (p == "tcp" || p == "udp") && n.parse::<usize>().is_ok_and(|n| n > 0) => {
            (p.as_str(), n.parse::<usize>().unwrap_or(1))
        }
        _ => {
            eprintln!("usage: pingpong tcp|udp COUNT (round trips, at least 1)");
            return ExitCode::from(2);
        }
    };
    let run = if proto == "tcp" {
        tcp(count)
    } else {
        udp(count)
    };
    let mut rtts = match run {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pingpong: {e}");
            return ExitCode::FAILURE;
        }
    };
    rtts.sort_unstable();
    println!(
        "{{\"proto\":\"{proto}\",\"count\":{count},\"p50_us\":{:.2},\"p99_us\":{:.2}}}",
        percentile_us(&rtts, 50.0),
        percentile_us(&rtts, 99.0)
    );
    let _ = io::stdout().flush();
    ExitCode::SUCCESS
}
