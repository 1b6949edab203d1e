//! What a stamped stream's client does alike over TCP and UDP
//! ([`super::tcp`], [`super::udp`]): the stamped echoes before and after
//! the stream that estimate the server's clock offset
//! ([`crate::session::offset`]), tried again while the host's RX stamping
//! is still being turned on, and the `timestamps` object their stamps and
//! the stream's make ([`super::report::OneWayReport`]).

use std::time::Duration;

use super::ClientError;
use super::report::{MissingStamps, OneWayReport, Report, TimestampsReport};
use crate::proto::ErrorCode;
use crate::session::offset::{self, Exchange, Offset};
use crate::session::stamps::EchoStamps;
use crate::session::tcp::stream_stamps::StampPairs;

/// Stamped echoes before the stream and again after it: the one with the
/// smallest network RTT sets each estimate.
pub const OFFSET_ECHOES: u32 = 16;

/// The bytes each of them echoes.
pub const OFFSET_ECHO_SIZE: usize = 16;

/// Rounds of echoes tried again while none had its four stamps.
const RETRIES: u32 = 5;

/// Why a stream has no stamps: the server refused stamped echoes.
pub const OLD_ECHOES: &str =
    "the server does not know stamped echoes (an older server): application figures only";

/// Why a stream has no stamps: the server refused the stamped stream.
pub const OLD_STREAMS: &str =
    "the server does not know stamped streams (an older server): application figures only";

/// A stream's plan: interval, segments, whole segment size.
pub type StreamPlan = (Duration, u32, u32);

/// What a stamped stream asks of the client that runs it, over TCP or UDP.
pub trait StampedStreamer {
    /// Turns the socket's stamps on: `Err` is why there are none.
    fn start_stamps(&mut self) -> Result<(), String>;
    /// [`OFFSET_ECHOES`] stamped echoes back to back: `Err` says why there
    /// are none (a server that does not know them).
    fn offset_echoes(&mut self) -> Result<Result<Echoes, String>, ClientError>;
    /// The stream, stamped or not, and its stamps' pairs when stamped.
    fn stream_run(
        &mut self,
        plan: StreamPlan,
        stamped: bool,
    ) -> Result<(Report, Option<StampPairs>), ClientError>;
    /// The plain stream, its report saying why it has no stamps.
    fn stream_unstamped(&mut self, plan: StreamPlan, why: String) -> Result<Report, ClientError>;
    /// What the client's interface can stamp.
    fn hardware(&self) -> Option<String>;
}

/// A stamped stream between two rounds of stamped echoes, on `client`: a
/// server that knows neither stamped echoes nor stamped streams gets the
/// plain stream, and the report says why it has no stamps.
pub fn stamped_stream(
    client: &mut impl StampedStreamer,
    plan: StreamPlan,
) -> Result<Report, ClientError> {
    let before = match client.start_stamps() {
        Ok(()) => client.offset_echoes()?,
        Err(why) => Err(why),
    };
    let before = match before {
        Ok(e) => self::before(e, || client.offset_echoes())?,
        Err(why) => return client.stream_unstamped(plan, why),
    };
    let (mut r, pairs) = match client.stream_run(plan, true) {
        Err(ClientError::Refused {
            code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
            ..
        }) => return client.stream_unstamped(plan, OLD_STREAMS.to_string()),
        r => r?,
    };
    let after = client.offset_echoes()?.unwrap_or_default();
    let pairs = pairs.unwrap_or_default();
    r.timestamps = Some(report(&before, &after, &pairs, client.hardware()));
    Ok(r)
}

/// What one side's stamped echoes gave.
#[derive(Debug, Default)]
pub struct Echoes {
    /// The echoes with all four stamps.
    pub exchanges: Vec<Exchange>,
    /// Echoes missing each of t1..t4.
    pub missing: [u64; 4],
}

impl From<EchoStamps> for Echoes {
    fn from(book: EchoStamps) -> Echoes {
        Echoes {
            exchanges: book.exchanges,
            missing: book.missing,
        }
    }
}

/// The echoes before the stream: `first`, and while none had its four
/// stamps (the kernel turns RX stamping on for the host from a work queue
/// once a socket asks, so a host that was not stamping stamps the first
/// echoes late) a few more rounds of `again`, a moment apart.
pub fn before(
    mut first: Echoes,
    mut again: impl FnMut() -> Result<Result<Echoes, String>, ClientError>,
) -> Result<Echoes, ClientError> {
    for _ in 0..RETRIES {
        if !first.exchanges.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(e) = again()? {
            for i in 0..4 {
                first.missing[i] += e.missing[i];
            }
            first.exchanges = e.exchanges;
        }
    }
    Ok(first)
}

/// The `timestamps` object of a stamped stream: its `pairs`, corrected by
/// the offset the echoes `before` and `after` it estimate; `hardware`
/// says what the client's interface has.
pub fn report(
    before: &Echoes,
    after: &Echoes,
    pairs: &StampPairs,
    hardware: Option<String>,
) -> TimestampsReport {
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
    let mut t = TimestampsReport::none("");
    t.hardware = hardware;
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
    t.stream = Some(OneWayReport::of(pairs, offset, counts));
    t
}
