//! What the server refuses, and the sentence it refuses with.
//!
//! Pure policy: the server asks [`Limits`] before it serves a request and
//! sends the [`Refusal`] back as an Error message (or, in text mode, as an
//! `error:` line).

use std::time::Duration;

use super::message::ErrorCode;
use super::{HEADER_LEN, MAX_BODY, SEGMENT_MIN};

/// Default largest file, in bytes (the original lab's limit).
pub const DEFAULT_MAX_FILE: u64 = 123_456_789;
/// Default most segments in one stream.
pub const DEFAULT_MAX_SEGMENTS: u32 = 10_000;
/// Shortest stream interval the server accepts.
pub const MIN_INTERVAL: Duration = Duration::from_micros(100);
/// Longest stream interval the server accepts.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Longest a whole stream may last (count × interval).
pub const MAX_STREAM_TIME: Duration = Duration::from_secs(600);
/// Largest echo, in bytes (fits one UDP datagram with every header).
pub const MAX_ECHO: usize = 60_000;
/// Default longest timed transfer (`--max-time`).
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(60);

/// The server's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest file served.
    pub max_file: u64,
    /// Most segments in one stream.
    pub max_segments: u32,
    /// Shortest interval between stream segments.
    pub min_interval: Duration,
    /// Longest interval between stream segments.
    pub max_interval: Duration,
    /// Longest a whole stream may last.
    pub max_stream_time: Duration,
    /// Largest echo.
    pub max_echo: usize,
    /// Longest timed transfer (`--max-time`).
    pub max_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: DEFAULT_MAX_FILE,
            max_segments: DEFAULT_MAX_SEGMENTS,
            min_interval: MIN_INTERVAL,
            max_interval: MAX_INTERVAL,
            max_stream_time: MAX_STREAM_TIME,
            max_echo: MAX_ECHO,
            max_time: DEFAULT_MAX_TIME,
        }
    }
}

/// A request the server will not serve: a code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// For programs.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: String) -> Refusal {
        Refusal { code, message }
    }
}

impl Limits {
    /// Checks a file request.
    pub fn check_file(&self, size: u64) -> Result<(), Refusal> {
        if size > self.max_file {
            return Err(Refusal::new(
                ErrorCode::FileTooLarge,
                format!(
                    "a file of {size} bytes is over this server's limit of {} bytes (--max-file)",
                    self.max_file
                ),
            ));
        }
        Ok(())
    }

    /// Checks a file request paced at `rate_bps` (0: unpaced): the file
    /// must fit the limit, and the pace must not stretch it past
    /// `max_stream_time`.
    pub fn check_paced_file(&self, size: u64, rate_bps: u64) -> Result<(), Refusal> {
        self.check_file(size)?;
        let limit = self.max_stream_time;
        let seconds = size as f64 * 8.0 / rate_bps.max(1) as f64;
        if rate_bps > 0 && seconds > limit.as_secs_f64() {
            return Err(Refusal::new(
                ErrorCode::BadInterval,
                format!(
                    "at {rate_bps} bit/s a file of {size} bytes would take {seconds:.0} s, over the limit of {} s: ask for a higher --rate",
                    limit.as_secs()
                ),
            ));
        }
        Ok(())
    }

    /// Checks a transfer of `size` bytes (a timed one's cap; 0: none)
    /// for `time_ns` (0: sized) at `rate_bps` (0: unpaced), either way: the
    /// size must fit `--max-file`, the time `--max-time`, and a sized
    /// paced transfer `max_stream_time`.
    pub fn check_transfer(&self, size: u64, time_ns: u64, rate_bps: u64) -> Result<(), Refusal> {
        if time_ns == 0 {
            return self.check_paced_file(size, rate_bps);
        }
        self.check_file(size)?;
        let time = Duration::from_nanos(time_ns);
        if time > self.max_time {
            return Err(Refusal::new(
                ErrorCode::BadInterval,
                format!(
                    "a transfer of {time:?} is over this server's limit of {:?} (--max-time)",
                    self.max_time
                ),
            ));
        }
        Ok(())
    }

    /// Checks an echo of `len` bytes.
    pub fn check_echo(&self, len: usize) -> Result<(), Refusal> {
        if len > self.max_echo {
            return Err(Refusal::new(
                ErrorCode::EchoTooLong,
                format!(
                    "an echo of {len} bytes is over the maximum of {} bytes",
                    self.max_echo
                ),
            ));
        }
        Ok(())
    }

    /// Checks a stream request.
    pub fn check_stream(&self, interval_ns: u64, count: u32, size: u32) -> Result<(), Refusal> {
        let interval = Duration::from_nanos(interval_ns);
        if count == 0 {
            return Err(Refusal::new(
                ErrorCode::TooManySegments,
                "a stream needs at least 1 segment".to_string(),
            ));
        }
        if count > self.max_segments {
            return Err(Refusal::new(
                ErrorCode::TooManySegments,
                format!(
                    "a stream of {count} segments is over this server's limit of {} (--max-segments)",
                    self.max_segments
                ),
            ));
        }
        if interval < self.min_interval || interval > self.max_interval {
            return Err(Refusal::new(
                ErrorCode::BadInterval,
                format!(
                    "a stream interval of {interval:?} is outside {:?}..={:?}",
                    self.min_interval, self.max_interval
                ),
            ));
        }
        let total = interval.saturating_mul(count);
        if total > self.max_stream_time {
            return Err(Refusal::new(
                ErrorCode::BadInterval,
                format!(
                    "a stream of {count} segments every {interval:?} would last {total:?}, over the limit of {:?}",
                    self.max_stream_time
                ),
            ));
        }
        let max_size = (HEADER_LEN + MAX_BODY) as u32;
        if (size as usize) < SEGMENT_MIN || size > max_size {
            return Err(Refusal::new(
                ErrorCode::BadSize,
                format!("a stream segment of {size} bytes is outside {SEGMENT_MIN}..={max_size}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_limits() {
        let l = Limits::default();
        assert!(l.check_file(123_456_789).is_ok());
        assert_eq!(
            l.check_file(123_456_790).unwrap_err().code,
            ErrorCode::FileTooLarge
        );
        assert!(l.check_echo(60_000).is_ok());
        assert_eq!(
            l.check_echo(60_001).unwrap_err().code,
            ErrorCode::EchoTooLong
        );
    }

    #[test]
    fn stream_bounds() {
        let l = Limits::default();
        assert!(l.check_stream(5_000_000, 10_000, 64).is_ok());
        let code = |i, c, s| l.check_stream(i, c, s).unwrap_err().code;
        assert_eq!(code(5_000_000, 10_001, 64), ErrorCode::TooManySegments);
        assert_eq!(code(5_000_000, 0, 64), ErrorCode::TooManySegments);
        assert_eq!(code(0, 10, 64), ErrorCode::BadInterval);
        assert_eq!(code(99_999, 10, 64), ErrorCode::BadInterval);
        assert_eq!(code(u64::MAX, 10, 64), ErrorCode::BadInterval);
        assert_eq!(code(60_000_000_000, 10_000, 64), ErrorCode::BadInterval);
        assert_eq!(code(5_000_000, 10, 3), ErrorCode::BadSize);
        assert_eq!(code(5_000_000, 10, u32::MAX), ErrorCode::BadSize);
    }

    #[test]
    fn transfers_fit_the_size_and_the_time() {
        let l = Limits {
            max_time: Duration::from_secs(1),
            ..Limits::default()
        };
        assert!(l.check_transfer(1000, 0, 0).is_ok());
        assert!(l.check_transfer(0, 1_000_000_000, 0).is_ok());
        assert!(l.check_transfer(1000, 500_000_000, 0).is_ok());
        let e = l.check_transfer(0, 5_000_000_000, 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadInterval);
        assert!(e.message.contains("--max-time"), "{}", e.message);
        let big = l.check_transfer(u64::MAX, 1_000_000, 0).unwrap_err();
        assert_eq!(big.code, ErrorCode::FileTooLarge);
        // Sized and paced: the pace must not stretch it past the stream limit.
        assert!(l.check_transfer(100_000_000, 0, 1000).is_err());
    }

    #[test]
    fn refusals_name_the_limit() {
        let msg = Limits::default().check_file(u64::MAX).unwrap_err().message;
        assert!(msg.contains("123456789"), "{msg}");
    }
}
