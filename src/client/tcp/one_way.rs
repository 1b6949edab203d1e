//! A stream over TCP, and with `--timestamps` its one-way delay on the
//! kernels' stamps: stamped echoes on the same connection before and after
//! the stream estimate the server's clock offset
//! ([`crate::session::offset`]), and each segment's delay from the server's
//! kernel TX stamp to the client's kernel RX stamp is corrected by it.

use std::time::{Duration, Instant};

use super::{TcpClient, unfinished};
use crate::client::ClientError;
use crate::client::one_way::{
    self, Echoes, OFFSET_ECHO_SIZE, OFFSET_ECHOES, OLD_ECHOES, StampedStreamer, StreamPlan,
};
use crate::client::report::{Report, TimestampsReport};
use crate::client::ticker::{Ticker, TickerConfig};
use crate::proto::ErrorCode;
use crate::session::tcp::stream_stamps::StampPairs;
use crate::session::tcp::{ClientAction, EchoClient, Finished};

impl TcpClient {
    /// Stamps the next streams (`--stream --timestamps`), or not.
    pub fn set_stream_timestamps(&mut self, on: bool) {
        self.stream_timestamps = on;
    }

    /// `count` segments of `size` bytes every `interval`; with
    /// `--timestamps`, stamped, between two rounds of stamped echoes
    /// ([`one_way::stamped_stream`]).
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
        one_way::stamped_stream(self, plan)
    }
}

impl StampedStreamer for TcpClient {
    fn start_stamps(&mut self) -> Result<(), String> {
        TcpClient::start_stamps(self)
    }

    fn stream_run(
        &mut self,
        plan: StreamPlan,
        stamped: bool,
    ) -> Result<(Report, Option<StampPairs>), ClientError> {
        TcpClient::stream_run(self, plan, stamped)
    }

    fn stream_unstamped(&mut self, plan: StreamPlan, why: String) -> Result<Report, ClientError> {
        let (mut r, _) = TcpClient::stream_run(self, plan, false)?;
        r.timestamps = Some(TimestampsReport::none(why));
        Ok(r)
    }

    fn hardware(&self) -> Option<String> {
        TcpClient::hardware(self)
    }

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
