//! A stream over UDP, and with `--timestamps` its one-way delay on the
//! kernels' stamps, as over TCP ([`crate::client::one_way`]): stamped
//! echoes before and after the stream estimate the server's clock offset,
//! and each segment's delay from the server's kernel TX stamp to the
//! client's kernel RX stamp is corrected by it.

use std::time::{Duration, Instant};

use super::{DEFAULT_ECHO_TIMEOUT, UdpClient};
use crate::client::ClientError;
use crate::client::one_way::{
    self, Echoes, OFFSET_ECHO_SIZE, OFFSET_ECHOES, OLD_ECHOES, OLD_STREAMS,
};
use crate::client::report::{Report, TimestampsReport, hardware_note};
use crate::client::ticker::{Ticker, TickerConfig};
use crate::pace;
use crate::proto::ErrorCode;
use crate::proto::stamps::STAMPS_LEN;
use crate::session::udp::client::echo::{EchoPlan, request_len};
use crate::session::udp::client::{ClientSession, Echo};

impl UdpClient {
    /// Stamps the next streams (`--stream --timestamps`), or not.
    pub fn set_stream_timestamps(&mut self, on: bool) {
        self.stream_timestamps = on;
    }

    /// `count` segments of `size` bytes (whole UDP payload) every
    /// `interval`; with `--timestamps`, stamped, between two rounds of
    /// stamped echoes. A server that knows neither gets the plain stream,
    /// and the report says why it has no stamps.
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
        let r = self.stream_stamped(plan);
        let _ = self.stop_stamps();
        r
    }

    fn stream_stamped(&mut self, plan: (Duration, u32, u32)) -> Result<Report, ClientError> {
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
        let local = self.sock.local_addr().ok().map(|a| a.ip());
        let hardware = local.and_then(hardware_note);
        r.timestamps = Some(one_way::report(&before, &after, &pairs, hardware));
        Ok(r)
    }

    /// The plain stream, its report saying why it has no stamps.
    fn stream_unstamped(
        &mut self,
        plan: (Duration, u32, u32),
        why: String,
    ) -> Result<Report, ClientError> {
        let _ = self.stop_stamps();
        let (mut r, _) = self.stream_run(plan, false)?;
        r.timestamps = Some(TimestampsReport::none(why));
        Ok(r)
    }

    /// [`OFFSET_ECHOES`] stamped echoes back to back: `Err` says why there
    /// are none (a server that does not know them).
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
