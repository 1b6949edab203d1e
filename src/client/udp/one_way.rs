//! A stream over UDP, and with `--timestamps` its one-way delay on the
//! kernels' stamps, as over TCP ([`crate::client::one_way`]): stamped
//! echoes before and after the stream estimate the server's clock offset,
//! and each segment's delay from the server's kernel TX stamp to the
//! client's kernel RX stamp is corrected by it.

use std::time::{Duration, Instant};

use super::{DEFAULT_ECHO_TIMEOUT, UdpClient};
use crate::client::ClientError;
use crate::client::one_way::{
    self, Echoes, OFFSET_ECHO_SIZE, OFFSET_ECHOES, OLD_ECHOES, StampedStreamer, StreamPlan,
};
use crate::client::report::{Report, TimestampsReport, hardware_note};
use crate::client::ticker::{Ticker, TickerConfig};
use crate::pace;
use crate::proto::ErrorCode;
use crate::proto::stamps::STAMPS_LEN;
use crate::session::tcp::stream_stamps::StampPairs;
use crate::session::udp::client::echo::{EchoPlan, request_len};
use crate::session::udp::client::{ClientSession, Echo};

impl UdpClient {
    /// Stamps the next streams (`--stream --timestamps`), or not.
    pub fn set_stream_timestamps(&mut self, on: bool) {
        self.stream_timestamps = on;
    }

    /// `count` segments of `size` bytes (whole UDP payload) every
    /// `interval`; with `--timestamps`, stamped, between two rounds of
    /// stamped echoes ([`one_way::stamped_stream`]).
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
        let r = one_way::stamped_stream(self, plan);
        let _ = self.stop_stamps();
        r
    }
}

impl StampedStreamer for UdpClient {
    fn start_stamps(&mut self) -> Result<(), String> {
        UdpClient::start_stamps(self)
    }

    fn stream_run(
        &mut self,
        plan: StreamPlan,
        stamped: bool,
    ) -> Result<(Report, Option<StampPairs>), ClientError> {
        UdpClient::stream_run(self, plan, stamped)
    }

    fn stream_unstamped(&mut self, plan: StreamPlan, why: String) -> Result<Report, ClientError> {
        let _ = self.stop_stamps();
        let (mut r, _) = UdpClient::stream_run(self, plan, false)?;
        r.timestamps = Some(TimestampsReport::none(why));
        Ok(r)
    }

    fn hardware(&self) -> Option<String> {
        let local = self.sock.local_addr().ok().map(|a| a.ip());
        local.and_then(hardware_note)
    }

    fn offset_echoes(&mut self) -> Result<Result<Echoes, String>, ClientError> {
        let data = [0u8; OFFSET_ECHO_SIZE];
        let size = request_len(data.len());
        let session = self.new_session(size);
        self.inbox.prepare_one(size + STAMPS_LEN);
        let start = Instant::now();
        let plan = EchoPlan {
            data: data.to_vec(),
            count: OFFSET_ECHOES,
            interval: Duration::ZERO,
            wait: self.recv_timeout.unwrap_or(DEFAULT_ECHO_TIMEOUT),
        };
        let echo = Echo::new(session, pace::epoch_now(), start, plan).with_stamps();
        let mut s = ClientSession::Echo(echo);
        let mut ticker = Ticker::new(TickerConfig::default(), start, None, 1.0);
        match self.run(&mut s, &mut ticker, None) {
            Err(ClientError::Refused {
                code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
                ..
            }) => return Ok(Err(OLD_ECHOES.to_string())),
            r => r?,
        }
        let ClientSession::Echo(e) = s else {
            unreachable!("the session stays an echo")
        };
        let mut f = e.finish().map_err(|e| self.fail(e, None))?;
        Ok(Ok(f
            .stamps
            .take()
            .map(|b| Echoes::from(*b))
            .unwrap_or_default()))
    }
}
