//! A TransferRequest over the client's connection: a file either way,
//! sized or timed, the server's FileSent and Results at the end, and the
//! report with both sides' figures (the server's view, each side's CPU
//! over the transfer window, the direction).

use std::io::Write;
use std::time::{Duration, Instant};

use super::{ClientAction, ClientError, Finished, TcpClient, unfinished};
use crate::client::report::{CpuFigures, CpuUse, Detail, Report, ServerView};
use crate::client::transfer::{Direction, Transfer};
use crate::net::rusage;
use crate::proto::{TransferDirection, TransferFlags};
use crate::session::tcp::{TransferAsk, TransferClient};
use crate::wire::Transport;

/// How long a client whose write failed reads for the server's answer
/// (an Error that says why it stopped taking the file).
const ANSWER_WAIT: Duration = Duration::from_secs(1);

impl TcpClient {
    /// Carries out `t` with a TransferRequest: downloads are verified here,
    /// uploads by the server, which says where a wrong byte was; a
    /// downloaded sized file is written to `sink` too if given.
    pub fn transfer(
        &mut self,
        t: &Transfer,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        if t.time.is_some() && sink.is_some() {
            return Err(ClientError::Usage(
                "--print-file goes with a sized download (--file N without -t)".to_string(),
            ));
        }
        let wait = self.reply_timeout;
        self.set_timeout(wait)?;
        let before = self.info();
        let cpu_before = rusage::process_cpu();
        let start = Instant::now();
        let ask = self.ask(t);
        let mut action = ClientAction::Transfer(Box::new(TransferClient::new(start, ask, wait)));
        let total = if t.time.is_none() { t.size } else { None };
        let mut ticker = self.ticker(start, total);
        self.drive(&mut action, sink, &mut ticker, &before)?;
        let Some(Finished::Transfer(f)) = action.finish() else {
            return Err(unfinished());
        };
        let cpu = rusage::between(cpu_before, rusage::process_cpu());
        let seconds = (f.end - start).as_secs_f64();
        let detail = Detail::File {
            size: f.bytes,
            verified: true,
            complete: true,
            time_to_first_byte_us: (f.first - start).as_secs_f64() * 1e6,
            transfer_seconds: (f.end - f.first).as_secs_f64(),
            server_written_seconds: Some(f.written),
            server_acked_seconds: f.acked,
        };
        let mut r = self.report("file", f.bytes, seconds, detail);
        r.direction = f.direction.name();
        r.progress = f.progress;
        r.intervals = ticker.finish(self.totals(f.bytes, &before));
        self.account(&mut r, f.shape, &before);
        let view = ServerView::from_results(&f.results, Transport::Tcp);
        let (user, sys) = rusage::seconds(cpu);
        r.cpu = Some(CpuFigures {
            client: Some(CpuUse::of(user, sys, seconds)),
            server: view.cpu,
        });
        r.server = Some(view);
        Ok(r)
    }

    /// What the request asks of the server: the transfer, and the marking,
    /// ECN and congestion control of the client's own socket.
    fn ask(&self, t: &Transfer) -> TransferAsk {
        let mut flags = TransferFlags::NONE;
        if self.ecn {
            flags = flags | TransferFlags::ECN;
        }
        if self.tos.is_some() {
            flags = flags | TransferFlags::TOS;
        }
        TransferAsk {
            direction: match t.direction {
                Direction::Download => TransferDirection::Download,
                Direction::Upload => TransferDirection::Upload,
            },
            size: t.size.unwrap_or(0),
            time: t.time,
            rate_bps: t.rate_bps,
            flags,
            tos: self.tos.unwrap_or(0),
            congestion: self.congestion.clone().unwrap_or_default(),
        }
    }

    /// A write failed (`e`): the server may have said why before it
    /// closed (a wrong uploaded byte). Its answer if it did, else `e`.
    pub(super) fn answer_after(
        &mut self,
        action: &mut ClientAction,
        sink: &mut Option<&mut dyn Write>,
        e: std::io::Error,
    ) -> ClientError {
        if self.set_timeout(ANSWER_WAIT).is_err() {
            return e.into();
        }
        for _ in 0..64 {
            match self.read_some(action, sink) {
                Ok(()) => {}
                Err(said @ (ClientError::Refused { .. } | ClientError::Rejected { .. })) => {
                    return said;
                }
                Err(_) => break,
            }
        }
        e.into()
    }
}
