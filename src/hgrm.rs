//! The percentile distribution of an HDR histogram as text: the `.hgrm`
//! format that HdrHistogram's own tools print and its plotter reads.
//!
//! Pure code: a histogram goes in, text comes out, into any
//! [`Write`].
//!
//! # The format
//!
//! It is the plain-text output of HdrHistogram's Java
//! `AbstractHistogram.outputPercentileDistribution(printStream, 5, ratio)`
//! (HdrHistogram/HdrHistogram, `src/main/java/org/HdrHistogram/AbstractHistogram.java`),
//! byte for byte:
//!
//! ```text
//!        Value     Percentile TotalCount 1/(1-Percentile)
//!
//!        1.000 0.000000000000          1           1.00
//!     1000.447 0.100000000000       1000           1.11
//! …
//!    10002.431 1.000000000000      10000
//! #[Mean    =     5000.505, StdDeviation   =     2886.752]
//! #[Max     =    10002.431, Total count    =        10000]
//! #[Buckets =           14, SubBuckets     =         2048]
//! ```
//!
//! - a header, `%12s %14s %10s %14s`, then a blank line;
//! - one row per step of HdrHistogram's percentile iterator, 5 ticks per half distance
//!   to 100 % (0 %, 10 %, … 50 %, 55 %, … 75 %, 77.5 %, …), as
//!   `%12.Nf %2.12f %10d %14.2f`: the highest value equivalent to the bucket
//!   reached, divided by the unit ratio, with N decimals where N is the
//!   histogram's significant digits; the percentile as a fraction; the
//!   count of values up to there; and 1/(1−percentile);
//! - the last row, at percentile 1.0, has no fourth column (1/(1−1) is
//!   infinite); HdrHistogram's plotter (`plotFiles.html`, which plots
//!   column 4 against column 1 of every line with exactly four fields) skips
//!   it, as it skips the header and the footer;
//! - a footer of three `#[…]` lines: mean and standard deviation (of the
//!   buckets' middle values, as HdrHistogram computes them), the maximum
//!   (the top of its bucket) and the count, and the histogram's bucket and
//!   sub-bucket counts.
//!
//! HdrHistogram's C port, `hdr_percentiles_print` (HdrHistogram/HdrHistogram_c,
//! `src/hdr_histogram.c`), prints the same rows and footer with other column
//! widths (`%12s` headers, `%12f %12d %12.2f`) and `inf` in the last row;
//! this module follows the Java layout. The tests compare the output with
//! files the Java library printed for the same values.
//!
//! # Example
//!
//! ```
//! use ardei_lab::hgrm::write_hgrm;
//! use ardei_lab::latency::Recorder;
//!
//! let mut rtt = Recorder::new();
//! for us in [120, 125, 131, 180, 950] {
//!     rtt.record_ns(us * 1000);
//! }
//! let mut text = Vec::new();
//! // Nanoseconds in the histogram, microseconds in the file.
//! write_hgrm(rtt.histogram(), 1000.0, &mut text)?;
//! let text = String::from_utf8_lossy(&text);
//! assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
//! assert!(text.contains("#[Max     =      950.271, Total count    =            5]"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Percentile ticks per half distance to 100 %, as HdrHistogram's tools use
/// by default.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes the percentile distribution of `hist` in the `.hgrm` text format
/// (see the [module docs](self)), every value divided by `unit_ratio`
/// (`1000.0` turns nanoseconds into microseconds).
///
/// An empty histogram gives the header and a footer of zeros, as in
/// HdrHistogram. A `unit_ratio` that is not a positive finite number is an
/// [`io::ErrorKind::InvalidInput`] error, and nothing is written.
pub fn write_hgrm(hist: &Histogram<u64>, unit_ratio: f64, out: &mut impl Write) -> io::Result<()> {
    if !(unit_ratio.is_finite() && unit_ratio > 0.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unit ratio must be a positive number, not {unit_ratio}"),
        ));
    }
    let digits = usize::from(hist.sigfig());

    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;

    for row in percentile_rows(hist, TICKS_PER_HALF_DISTANCE) {
        let value = row.value as f64 / unit_ratio;
        let fraction = row.percent / 100.0;
        if row.percent < 100.0 {
            writeln!(
                out,
                "{value:12.digits$} {fraction:2.12} {:10} {:14.2}",
                row.count,
                1.0 / (1.0 - fraction)
            )?;
        } else {
            writeln!(out, "{value:12.digits$} {fraction:2.12} {:10}", row.count)?;
        }
    }

    // HdrHistogram reports max() as 0 for an empty histogram.
    let max = if hist.is_empty() { 0 } else { hist.max() };
    writeln!(
        out,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        hist.mean() / unit_ratio,
        hist.stdev() / unit_ratio
    )?;
    writeln!(
        out,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        max as f64 / unit_ratio,
        hist.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_bucket_count(hist)
    )
}

/// One row of the distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Row {
    /// The highest value equivalent to the bucket reached (histogram units).
    pub(crate) value: u64,
    /// The percentile level iterated to, in percent.
    pub(crate) percent: f64,
    /// Values recorded up to and including that bucket.
    pub(crate) count: u64,
}

/// The rows of HdrHistogram's `PercentileIterator` (Java), step for step.
///
/// Levels advance in percent, by 100 / (ticks · 2^(⌊log2(100 / (100 − level))⌋ + 1)),
/// and a bucket yields a row for every level its cumulative percentage
/// reaches; once the last value is counted, one more row at 100 % follows.
/// The `hdrhistogram` crate's `iter_quantiles` steps in fractions instead,
/// and its sums round differently (0.1 + 0.1 + 0.1 > 0.3), so at some
/// levels it picks a later bucket than HdrHistogram's own tools; this
/// follows Java, whose output is the format's reference. Empty buckets never
/// reach a level, so only recorded ones are visited.
pub(crate) fn percentile_rows(hist: &Histogram<u64>, ticks_per_half_distance: u32) -> Vec<Row> {
    let total = hist.len();
    let mut rows = Vec::new();
    let mut level = 0.0f64;
    let mut count = 0u64;
    for bucket in hist.iter_recorded() {
        count = count.saturating_add(bucket.count_at_value());
        let value = bucket.value_iterated_to();
        while 100.0 * count as f64 / total as f64 >= level {
            rows.push(Row {
                value,
                percent: level,
                count,
            });
            if count >= total {
                rows.push(Row {
                    value,
                    percent: 100.0,
                    count,
                });
                return rows;
            }
            let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as u32;
            let reporting_ticks =
                f64::from(ticks_per_half_distance) * 2f64.powi(halvings.saturating_add(1) as i32);
            level += 100.0 / reporting_ticks;
        }
    }
    rows
}

/// The histogram's sub-buckets per bucket, which the `hdrhistogram` crate
/// keeps private: its counts array holds `(buckets + 1) · sub_buckets / 2`
/// entries (the first bucket uses all its sub-buckets, every later one the
/// upper half).
fn sub_bucket_count(hist: &Histogram<u64>) -> usize {
    let buckets = usize::from(hist.buckets()) + 1;
    2 * hist.distinct_values() / buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::Recorder;

    fn hgrm(hist: &Histogram<u64>, unit_ratio: f64) -> String {
        let mut out = Vec::new();
        write_hgrm(hist, unit_ratio, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn recorded(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// 1 to 10000 µs, recorded in ns.
    fn uniform_us() -> Histogram<u64> {
        recorded((1..=10_000u64).map(|us| us * 1000))
    }

    /// The percentile levels HdrHistogram's iterator steps to, computed
    /// directly: in the h-th half distance to 100 % (from 1 − 2^−h to
    /// 1 − 2^−(h+1)) there are `ticks` equal steps.
    fn tick_levels(ticks: u32, count: usize) -> Vec<f64> {
        let mut levels = Vec::with_capacity(count);
        let mut h = 0;
        while levels.len() < count {
            let start = 1.0 - 0.5f64.powi(h);
            let step = 0.5f64.powi(h + 1) / f64::from(ticks);
            for i in 0..ticks {
                levels.push(start + f64::from(i) * step);
            }
            h += 1;
        }
        levels.truncate(count);
        levels
    }

    #[test]
    fn matches_java_for_one_value() {
        // Printed by HdrHistogram 2.1.11 (Java): a Histogram(3) holding the
        // single value 5, outputPercentileDistribution(out, 5, 1.0).
        let expected = include_str!("../tests/data/hgrm/single.hgrm");
        assert_eq!(hgrm(&recorded([5]), 1.0), expected);
    }

    #[test]
    fn matches_java_for_1_to_10000_us() {
        // Printed by HdrHistogram 2.1.11 (Java): 1..=10000 µs recorded in ns,
        // outputPercentileDistribution(out, 5, 1000.0).
        let expected = include_str!("../tests/data/hgrm/uniform_us.hgrm");
        assert_eq!(hgrm(&uniform_us(), 1000.0), expected);
    }

    #[test]
    fn matches_java_for_a_long_tail() {
        // Printed by HdrHistogram 2.1.11 (Java): i² ns for i in 1..=3000,
        // then 7 values of 5 s, outputPercentileDistribution(out, 5, 1000.0).
        let values = (1..=3000u64).map(|i| i * i).chain([5_000_000_000; 7]);
        let expected = include_str!("../tests/data/hgrm/long_tail.hgrm");
        assert_eq!(hgrm(&recorded(values), 1000.0), expected);
    }

    #[test]
    fn empty_histogram_gives_header_and_zero_footer() {
        let expected = include_str!("../tests/data/hgrm/empty.hgrm");
        assert_eq!(hgrm(&Recorder::new().histogram().clone(), 1000.0), expected);
    }

    #[test]
    fn rows_follow_the_reference_algorithm() {
        let text = hgrm(&uniform_us(), 1000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        let rows: Vec<Vec<&str>> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        let footer = &lines[2 + rows.len()..];
        assert_eq!(footer.len(), 3, "{text}");

        // The first buckets hold one value each: exact rows.
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        // 1000 µs = 1_000_000 ns falls in a bucket of width 512 ns,
        // [999_936, 1_000_447]: its top is the value shown.
        assert_eq!(
            lines[3],
            "    1000.447 0.100000000000       1000           1.11"
        );

        let (last, body) = rows.split_last().unwrap();
        let levels = tick_levels(TICKS_PER_HALF_DISTANCE, body.len());
        let mut previous = (0.0, -1.0, 0u64);
        for (row, level) in body.iter().zip(levels) {
            assert_eq!(row.len(), 4, "{row:?}");
            let value: f64 = row[0].parse().unwrap();
            let p: f64 = row[1].parse().unwrap();
            let count: u64 = row[2].parse().unwrap();
            let inverse: f64 = row[3].parse().unwrap();
            assert!((p - level).abs() < 1e-12, "{row:?} level {level}");
            assert!((inverse - 1.0 / (1.0 - p)).abs() <= 0.006, "{row:?}");
            // Whole microseconds were recorded and a row shows the top of a
            // bucket, so the count up to it is the whole part of the value
            // (or all of them, once the bucket's top passes 10000).
            assert_eq!(count, (value.floor() as u64).min(10_000), "{row:?}");
            // The row's bucket holds at least the level's share of values.
            assert!(count as f64 >= level * 10_000.0 - 1e-6, "{row:?}");
            assert!(value >= previous.0 && p > previous.1 && count >= previous.2);
            previous = (value, p, count);
        }
        assert_eq!(last.len(), 3, "the 100 % row has no 1/(1-p): {last:?}");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "10000");

        // 10000 µs: a bucket of width 8192 ns, [9_994_240, 10_002_431].
        assert_eq!(last[0], "10002.431");
        assert_eq!(
            footer[1],
            "#[Max     =    10002.431, Total count    =        10000]"
        );
        let mean: f64 = footer[0]
            .trim_start_matches("#[Mean    =")
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((mean - 5000.5).abs() < 5.0, "{mean}");
        // 3 digits: 2048 sub-buckets; 2048·2^13 > 10^7 needs 14 buckets.
        assert_eq!(
            footer[2],
            "#[Buckets =           14, SubBuckets     =         2048]"
        );
    }

    #[test]
    fn plotter_reads_every_row_but_the_last() {
        // plotFiles.html keeps lines not starting with '#' that split into
        // exactly four fields, and plots field 1 against field 4.
        let text = hgrm(&uniform_us(), 1000.0);
        let rows = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let fields: Vec<Vec<&str>> = rows.map(|l| l.split_whitespace().collect()).collect();
        let plotted: Vec<(f64, f64)> = fields
            .iter()
            .filter(|f| f.len() == 4)
            .filter_map(|f| Some((f[3].parse().ok()?, f[0].parse().ok()?)))
            .collect();
        // Header (4 fields, not numbers) and the last row (3 fields) drop out.
        assert_eq!(plotted.len(), fields.len() - 2);
        assert_eq!(plotted[0], (1.0, 1.0));
    }

    #[test]
    fn unit_ratio_must_be_positive() {
        for ratio in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let mut out = Vec::new();
            let err = write_hgrm(&uniform_us(), ratio, &mut out).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(out.is_empty());
        }
    }
}
