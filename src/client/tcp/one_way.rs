//! A stream over TCP, and with `--timestamps` its one-way delay on the
//! kernels' stamps: stamped echoes on the same connection before and after
//! the stream estimate the server's clock offset
//! ([`crate::session::offset`]), and each segment's delay from the server's
//! kernel TX stamp to the client's kernel RX stamp is corrected by it.

use std::time::{Duration, Instant};

use super::{TcpClient, unfinished};
use crate::client::ClientError;
use crate::client::report::{MissingStamps, OneWayReport, Report, TimestampsReport};
use crate::client::ticker::{Ticker, TickerConfig};
use crate::proto::ErrorCode;
use crate::session::offset::{self, Exchange, Offset};
use crate::session::tcp::{ClientAction, EchoClient, Finished};

/// Stamped echoes before the stream and again after it: the one with the
/// smallest network RTT sets each estimate.
pub const OFFSET_ECHOES: u32 = 16;

/// Rounds of echoes tried again while none had its four stamps.
const RETRIES: u32 = 5;

/// The bytes each of them echoes.
const OFFSET_ECHO_SIZE: usize = 16;

/// What one side's stamped echoes gave.
#[derive(Debug, Default)]
struct Echoes {
    exchanges: Vec<Exchange>,
    missing: [u64; 4],
}

impl TcpClient {
    /// Stamps the next streams (`--stream --timestamps`), or not.
    pub fn set_stream_timestamps(&mut self, on: bool) {
        self.stream_timestamps = on;
    }

    /// `count` segments of `size` bytes every `interval`; with
    /// `--timestamps`, stamped, between two rounds of stamped echoes. A
    /// server that knows neither stamped echoes nor stamped streams gets
    /// the plain stream, and the report says why it has no stamps.
    pub fn stream(
        &mut self,
        interval: Duration,
        count: u32,
        size: u32,
    ) -> Result<Report, ClientError> {
        let plan = (interval, count, size);
        if !self.stream_timestamps {
            return self.stream_run(plan, false).map(|(r, _)| r);
        }
        let before = match self.start_stamps() {
            Ok(()) => self.offset_echoes()?,
            Err(why) => Err(why),
        };
        let mut before = match before {
            Ok(e) => e,
            Err(why) => return self.stream_unstamped(plan, why),
        };
        // The kernel turns RX stamping on for the host from a work queue
        // once a socket asks: on a host that was not stamping, the first
        // echoes come without RX stamps. A few more rounds, a moment apart.
        for _ in 0..RETRIES {
            if !before.exchanges.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(again) = self.offset_echoes()? {
                for i in 0..4 {
                    before.missing[i] += again.missing[i];
                }
                before.exchanges = again.exchanges;
            }
        }
        let (mut r, pairs) = match self.stream_run(plan, true) {
            Err(ClientError::Refused {
                code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
                ..
            }) => {
                let why = "the server does not know stamped streams (an older server): application figures only";
                return self.stream_unstamped(plan, why.to_string());
            }
            r => r?,
        };
        let after = self.offset_echoes()?.unwrap_or_default();
        let (b, a) = (
            offset::estimate(&before.exchanges),
            offset::estimate(&after.exchanges),
        );
        let offset = match (b, a) {
            (Some(b), a) => Some(Offset {
                before: b,
                after: a,
            }),
            (None, Some(a)) => Some(Offset {
                before: a,
                after: None,
            }),
            (None, None) => None,
        };
        let counts = [b, a].map(|e| e.map_or(0, |e| e.exchanges));
        let pairs = pairs.unwrap_or_default();
        let mut t = TimestampsReport::none("");
        t.hardware = self.hardware();
        let [t1, t2, t3, t4] = [0, 1, 2, 3].map(|i| before.missing[i] + after.missing[i]);
        t.missing = MissingStamps { t1, t2, t3, t4 };
        if pairs.pairs.is_empty() {
            t.note = Some(
                "no segment came with both kernel stamps (the server does not stamp, or its kernel refused SO_TIMESTAMPING)"
                    .to_string(),
            );
        } else {
            t.kind = "software";
            t.note = None;
        }
        t.stream = Some(OneWayReport::of(&pairs, offset, counts));
        r.timestamps = Some(t);
        Ok(r)
    }

    /// The plain stream, its report saying why it has no stamps.
    fn stream_unstamped(
        &mut self,
        plan: (Duration, u32, u32),
        why: String,
    ) -> Result<Report, ClientError> {
        let (mut r, _) = self.stream_run(plan, false)?;
        r.timestamps = Some(TimestampsReport::none(why));
        Ok(r)
    }

    /// [`OFFSET_ECHOES`] stamped echoes back to back: `Err` says why there
    /// are none (a server that does not know them).
    fn offset_echoes(&mut self) -> Result<Result<Echoes, String>, ClientError> {
        let start = Instant::now();
        let data = [0u8; OFFSET_ECHO_SIZE];
        let echo = EchoClient::stamped(start, &data, OFFSET_ECHOES, Duration::ZERO, self.wait)?;
        let mut action = ClientAction::Echo(echo);
        let before = self.info();
        let mut ticker = Ticker::new(TickerConfig::default(), start, None, 1.0);
        match self.drive(&mut action, None, &mut ticker, &before) {
            Err(ClientError::Refused {
                code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
                ..
            }) => {
                let why = "the server does not know stamped echoes (an older server): application figures only";
                return Ok(Err(why.to_string()));
            }
            r => r?,
        }
        self.take_tx_stamps(&mut action);
        let Some(Finished::Echo { stamps, .. }) = action.finish() else {
            return Err(unfinished());
        };
        let book = stamps.map(|b| *b).unwrap_or_default();
        Ok(Ok(Echoes {
            exchanges: book.exchanges,
            missing: book.missing,
        }))
    }
}
