//! The echo over a TCP connection: round trips, plain or stamped, busy-
//! polled or blocking, and the kernel timestamps the stamped ones read.

use std::time::{Duration, Instant};

use super::{TcpClient, unfinished};
use crate::client::ClientError;
use crate::client::report::{CpuFigures, CpuUse, Detail, Report, TimestampsReport, hardware_note};
use crate::histograms::NamedHistogram;
use crate::net::framed::Spin;
use crate::pace;
use crate::proto::ErrorCode;
use crate::session::stamps::ClientStamp;
use crate::session::tcp::{ClientAction, EchoClient, Finished};

impl TcpClient {
    /// Busy-polls the receives of the next echoes (`--spin`), or not.
    pub fn set_spin(&mut self, on: bool) {
        self.spin = on;
    }

    /// Reads the kernel's timestamps of the next echoes, or not
    /// (`--no-timestamps`).
    pub fn set_timestamps(&mut self, on: bool) {
        self.timestamps = on;
    }

    /// Stamps the next echoes' requests at the queueing discipline too
    /// (`--stamp-qdisc`), or not.
    pub fn set_stamp_qdisc(&mut self, on: bool) {
        self.stamp_qdisc = on;
    }

    /// Turns the connection's stamps on for an echo, if asked: `Err` is why
    /// there are none.
    pub(super) fn start_stamps(&mut self) -> Result<(), String> {
        if !self.timestamps {
            return Err("turned off (--no-timestamps)".to_string());
        }
        if !self.conn.stamping() {
            self.conn
                .set_stamping()
                .map_err(|e| format!("this kernel refused SO_TIMESTAMPING: {e}"))?;
            // The kernel turns RX stamps on for the host a moment later.
            crate::net::timestamping::settle(std::time::Duration::from_millis(200));
        }
        self.conn.set_stamp_qdisc(self.stamp_qdisc);
        Ok(())
    }

    /// `count` round trips of `data`, the i-th sent at start + i·interval.
    /// With `--spin` the client waits for each reply in a busy-poll loop
    /// ([`crate::net::spin`]) instead of a blocking read.
    ///
    /// With timestamps on, the requests are stamped; a server that does not
    /// know stamped echoes (an older one refuses the kind) gets plain ones,
    /// and the report says why it has no stamps.
    pub fn echo(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
    ) -> Result<Report, ClientError> {
        let stamping = self.start_stamps();
        match self.echo_with(data, count, interval, stamping.clone()) {
            Err(ClientError::Refused {
                code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
                ..
            }) if stamping.is_ok() => {
                let why = "the server does not know stamped echoes (an older server): application figures only";
                self.echo_with(data, count, interval, Err(why.to_string()))
            }
            r => r,
        }
    }

    /// An echo, stamped when `stamping` is `Ok`.
    fn echo_with(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
        stamping: Result<(), String>,
    ) -> Result<Report, ClientError> {
        self.set_timeout(self.reply_timeout)?;
        let before = self.info();
        let cpu_before = pace::process_cpu();
        let start = Instant::now();
        let echo = match stamping {
            Ok(()) => EchoClient::stamped(start, data, count, interval, self.reply_timeout)?,
            Err(_) => EchoClient::new(start, data, count, interval, self.reply_timeout)?,
        };
        let mut action = ClientAction::Echo(echo);
        let mut ticker = self.ticker(start, None);
        if self.spin {
            self.conn.set_spin(Some(Spin {
                wait: self.reply_timeout,
                stop: None,
            }));
        }
        let done = self.drive(&mut action, None, &mut ticker, &before);
        self.conn.set_spin(None);
        done?;
        self.take_tx_stamps(&mut action);
        let Some(Finished::Echo {
            rtt,
            bytes,
            shape,
            stamps,
        }) = action.finish()
        else {
            return Err(unfinished());
        };
        let wall = start.elapsed().as_secs_f64();
        let detail = Detail::Echo {
            count,
            replies: count,
            size: data.len(),
        };
        let mut r = self.report("echo", bytes, wall, detail);
        r.spin = self.spin;
        if self.spin {
            r.cpu = cpu_before
                .zip(pace::process_cpu())
                .map(|(b, a)| CpuFigures::client(CpuUse::between(b, a, wall)));
        }
        r.latency_us = rtt.percentiles();
        r.histogram = Some(NamedHistogram::new("round trip", "rtt", rtt));
        r.timestamps = Some(match (stamping, stamps) {
            (Ok(()), Some(book)) => {
                TimestampsReport::of(*book, self.hardware()).asked_qdisc(self.stamp_qdisc)
            }
            (Err(why), _) => TimestampsReport::none(why),
            (Ok(()), None) => TimestampsReport::none("the echo was not stamped"),
        });
        r.intervals = ticker.finish(self.totals(bytes, &before));
        self.account(&mut r, shape, &before);
        Ok(r)
    }

    /// What the interface this connection leaves by can stamp.
    pub(super) fn hardware(&self) -> Option<String> {
        hardware_note(self.conn.stream().local_addr().ok()?.ip())
    }

    /// Hands the action the TX stamps its sends got so far.
    pub(super) fn take_tx_stamps(&mut self, action: &mut ClientAction) {
        let mut matched = Vec::new();
        if self.conn.tx_stamps(&mut matched).is_ok() {
            for m in matched {
                if let Some(s) = m.sched {
                    action.handle_stamp(ClientStamp::Sched {
                        seq: m.tag,
                        ns: s.ns,
                    });
                }
                action.handle_stamp(ClientStamp::Tx {
                    seq: m.tag,
                    ns: m.sent.ns,
                });
            }
        }
    }
}
