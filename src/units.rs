//! Parsing of the units the command line speaks: durations, sizes and bitrates.
//!
//! - Durations: `5ms`, `250us`, `1s`, `1.5s`; a bare number is milliseconds
//!   (the unit of the original lab).
//! - Sizes: `64K`, `1M`, `2G` (powers of 1024) or plain bytes.
//! - Bitrates: `100M`, `1G` (powers of 1000, bits per second) or plain bits/s.
//!
//! Pure code: every function here takes a string and returns a value or a
//! [`UnitError`] that says what was wrong.

use std::time::Duration;

/// Why a unit string was not understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    /// The string was empty.
    #[error("empty value")]
    Empty,
    /// The number part did not parse.
    #[error("'{0}' is not a number")]
    NotANumber(String),
    /// The number was negative.
    #[error("'{0}' is negative")]
    Negative(String),
    /// The suffix is not one this unit knows.
    #[error("unknown unit '{suffix}' in '{value}' (use {expected})")]
    UnknownSuffix {
        /// The whole value as given.
        value: String,
        /// The suffix that was not recognised.
        suffix: String,
        /// The suffixes that are accepted.
        expected: &'static str,
    },
    /// The value does not fit the type that holds it.
    #[error("'{0}' is too large")]
    Overflow(String),
    /// Zero where only a positive value makes sense.
    #[error("'{0}' must be more than zero")]
    Zero(String),
}

fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

fn number(value: &str, num: &str) -> Result<f64, UnitError> {
    let n: f64 = num
        .parse()
        .map_err(|_| UnitError::NotANumber(value.to_string()))?;
    if !n.is_finite() {
        return Err(UnitError::NotANumber(value.to_string()));
    }
    if n < 0.0 {
        return Err(UnitError::Negative(value.to_string()));
    }
    Ok(n)
}

/// Parses a duration: `5ms`, `250us`, `1s`, `2m`; a bare number is milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let (num, suffix) = split_number(s);
    let n = number(s, num)?;
    let nanos_per = match suffix.to_ascii_lowercase().as_str() {
        "" | "ms" => 1e6,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "s" | "sec" => 1e9,
        "m" | "min" => 60e9,
        _ => {
            return Err(UnitError::UnknownSuffix {
                value: s.to_string(),
                suffix: suffix.to_string(),
                expected: "ns, us, ms, s or m; a bare number is ms",
            });
        }
    };
    let nanos = n * nanos_per;
    if nanos > u64::MAX as f64 / 2.0 {
        return Err(UnitError::Overflow(s.to_string()));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// As [`parse_duration`], but zero is refused: for waits and timeouts,
/// where zero would mean "never wait" and end every session at once.
pub fn parse_positive_duration(s: &str) -> Result<Duration, UnitError> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(UnitError::Zero(s.trim().to_string()));
    }
    Ok(d)
}

/// As [`parse_size`], for values held in 32 bits (segment sizes, MSS).
pub fn parse_size_u32(s: &str) -> Result<u32, UnitError> {
    let n = parse_size(s)?;
    u32::try_from(n).map_err(|_| UnitError::Overflow(s.trim().to_string()))
}

/// Parses a size in bytes: `64K`, `1M`, `2G`, `1T` (powers of 1024) or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let (num, suffix) = split_number(s);
    let mult: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => {
            return Err(UnitError::UnknownSuffix {
                value: s.to_string(),
                suffix: suffix.to_string(),
                expected: "K, M, G, T (powers of 1024) or plain bytes",
            });
        }
    };
    if mult == 1 {
        if num.starts_with('-') {
            return Err(UnitError::Negative(s.to_string()));
        }
        return num.parse::<u64>().map_err(|e| match e.kind() {
            std::num::IntErrorKind::PosOverflow => UnitError::Overflow(s.to_string()),
            _ => UnitError::NotANumber(s.to_string()),
        });
    }
    let n = number(s, num)?;
    let bytes = n * mult as f64;
    if bytes >= u64::MAX as f64 {
        return Err(UnitError::Overflow(s.to_string()));
    }
    Ok(bytes.round() as u64)
}

/// Parses a bitrate in bits per second: `100M`, `1G`, `2.5G`, `500k` (powers of 1000).
pub fn parse_bitrate(s: &str) -> Result<u64, UnitError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(UnitError::Empty);
    }
    let (num, suffix) = split_number(s);
    let mult = match suffix
        .to_ascii_lowercase()
        .trim_end_matches("bps")
        .trim_end_matches("bit/s")
    {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        _ => {
            return Err(UnitError::UnknownSuffix {
                value: s.to_string(),
                suffix: suffix.to_string(),
                expected: "k, M, G, T (bits per second, powers of 1000)",
            });
        }
    };
    let n = number(s, num)? * mult;
    if n >= u64::MAX as f64 {
        return Err(UnitError::Overflow(s.to_string()));
    }
    Ok(n.round() as u64)
}

/// Formats a bitrate for people: `9.42 Gbit/s`.
pub fn format_bitrate(bps: f64) -> String {
    let (v, unit) = if bps >= 1e9 {
        (bps / 1e9, "Gbit/s")
    } else if bps >= 1e6 {
        (bps / 1e6, "Mbit/s")
    } else if bps >= 1e3 {
        (bps / 1e3, "kbit/s")
    } else {
        (bps, "bit/s")
    };
    format!("{v:.2} {unit}")
}

/// Formats a byte count for people: `1.00 MiB (1048576 bytes)`.
pub fn format_bytes(n: u64) -> String {
    match binary_unit(n) {
        None => format!("{n} bytes"),
        Some(short) => format!("{short} ({n} bytes)"),
    }
}

/// A byte count in its largest binary unit under 1024, for tables:
/// `4.00 MiB`, or `512 B`.
pub fn format_bytes_short(n: u64) -> String {
    binary_unit(n).unwrap_or_else(|| format!("{n} B"))
}

/// `n` as `v.vv UNIT` in the largest binary unit under 1024; `None`
/// below 1 KiB.
fn binary_unit(n: u64) -> Option<String> {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    (u > 0).then(|| format!("{v:.2} {}", UNITS[u]))
}

/// Formats a duration for people with a sensible unit: `812 µs`, `1.204 s`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.3} s", ns as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(matches!(
            parse_duration("-5ms"),
            Err(UnitError::Negative(_))
        ));
        assert!(matches!(
            parse_duration("5 parsecs"),
            Err(UnitError::UnknownSuffix { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999s"),
            Err(UnitError::Overflow(_))
        ));
        assert_eq!(parse_duration(""), Err(UnitError::Empty));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("123456789"), Ok(123456789));
        assert!(matches!(parse_size("-1"), Err(UnitError::Negative(_))));
        assert!(matches!(
            parse_size("99999999999999999999999"),
            Err(UnitError::Overflow(_))
        ));
        assert!(matches!(
            parse_size("1X"),
            Err(UnitError::UnknownSuffix { .. })
        ));
    }

    #[test]
    fn bitrates() {
        assert_eq!(parse_bitrate("100M"), Ok(100_000_000));
        assert_eq!(parse_bitrate("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bitrate("2.5G"), Ok(2_500_000_000));
        assert_eq!(parse_bitrate("0"), Ok(0));
        assert_eq!(parse_bitrate("10Mbps"), Ok(10_000_000));
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bitrate(9.42e9), "9.42 Gbit/s");
        assert_eq!(format_bytes(1 << 20), "1.00 MiB (1048576 bytes)");
        assert_eq!(format_bytes(12), "12 bytes");
        assert_eq!(format_duration(Duration::from_micros(812)), "812.0 µs");
    }
}
