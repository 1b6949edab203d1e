//! A stream over TCP, and with `--timestamps` its one-way delay on the
//! kernels' stamps: stamped echoes on the same connection before and after
//! the stream estimate the server's clock offset
//! ([`crate::session::offset`]), and each segment's delay from the server's
//! kernel TX stamp to the client's kernel RX stamp is corrected by it.

use std::time::{Duration, Instant};

use super::{TcpClient, unfinished};
use crate::client::ClientError;
use crate::client::one_way::{
    self, Echoes, OFFSET_ECHO_SIZE, OFFSET_ECHOES, OLD_ECHOES, OLD_STREAMS,
};
use crate::client::report::{Report, TimestampsReport};
use crate::client::ticker::{Ticker, TickerConfig};
use crate::proto::ErrorCode;
use crate::session::tcp::{ClientAction, EchoClient, Finished};

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
        let before = match before {
            Ok(e) => one_way::before(e, || self.offset_echoes())?,
            Err(why) => return self.stream_unstamped(plan, why),
        };
        let (mut r, pairs) = match self.stream_run(plan, true) {
            Err(ClientError::Refused {
                code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
                ..
            }) => return self.stream_unstamped(plan, OLD_STREAMS.to_string()),
            r => r?,
        };
        let after = self.offset_echoes()?.unwrap_or_default();
        let pairs = pairs.unwrap_or_default();
        r.timestamps = Some(one_way::report(&before, &after, &pairs, self.hardware()));
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
            }) => return Ok(Err(OLD_ECHOES.to_string())),
            r => r?,
        }
        self.take_tx_stamps(&mut action);
        let Some(Finished::Echo { stamps, .. }) = action.finish() else {
            return Err(unfinished());
        };
        Ok(Ok(stamps.map(|b| Echoes::from(*b)).unwrap_or_default()))
    }
}
