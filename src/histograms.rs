//! A latency histogram with its name: what a report prints on one line,
//! writes as an `.hgrm` file (`--hgrm`) and draws as a percentile curve
//! (`--plot`). The round trip or one-way delay of an action and the four
//! figures of its kernel timestamps are each one of these, so the text,
//! the files and the plot of every one go the same way. Pure: the caller
//! writes the bytes.

use std::io;
use std::path::{Path, PathBuf};

use crate::latency::{Percentiles, Recorder};

/// A named histogram of nanosecond values.
#[derive(Debug, Clone)]
pub struct NamedHistogram {
    /// What it measures, for people: "round trip", "network RTT".
    pub name: &'static str,
    /// Its name in a file name: "network-rtt".
    pub slug: &'static str,
    /// The values.
    pub recorder: Recorder,
}

impl NamedHistogram {
    /// `recorder`'s values under `name`, `slug` in file names.
    pub fn new(name: &'static str, slug: &'static str, recorder: Recorder) -> NamedHistogram {
        NamedHistogram {
            name,
            slug,
            recorder,
        }
    }

    /// Its percentiles in µs, when it holds a value.
    pub fn percentiles(&self) -> Option<Percentiles> {
        self.recorder.percentiles()
    }

    /// Its line of a report: the name padded to `width`, then the
    /// percentiles, or "not available" when it holds none.
    pub fn line(&self, width: usize) -> String {
        let p = self
            .percentiles()
            .map_or_else(|| "not available".to_string(), |p| p.line());
        format!("{:<width$} {p}", self.name)
    }

    /// HdrHistogram's percentile-distribution text of it, in µs.
    pub fn hgrm(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        crate::hgrm::write_hgrm(self.recorder.histogram(), 1000.0, &mut out)?;
        Ok(out)
    }

    /// Where its `.hgrm` goes beside `base`, the file of the action's own
    /// histogram: `rtt.hgrm` gives `rtt.network-rtt.hgrm`.
    pub fn path_beside(&self, base: &Path) -> PathBuf {
        let stem = base
            .file_stem()
            .map_or_else(|| "latency".into(), |s| s.to_string_lossy().into_owned());
        let ext = base
            .extension()
            .map_or_else(|| "hgrm".into(), |e| e.to_string_lossy().into_owned());
        base.with_file_name(format!("{stem}.{}.{ext}", self.slug))
    }
}

/// One SVG of `series`' percentile curves, each a line under its name, in
/// µs; histograms without a value are left out (a figure that is not
/// available has no curve).
pub fn plot(title: &str, series: &[&NamedHistogram]) -> Result<String, crate::plot::PlotError> {
    let lines: Vec<(&str, &hdrhistogram::Histogram<u64>)> = series
        .iter()
        .filter(|h| !h.recorder.is_empty())
        .map(|h| (h.name, h.recorder.histogram()))
        .collect();
    crate::plot::latency_svg(title, &lines, 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(name: &'static str, slug: &'static str, values: &[i128]) -> NamedHistogram {
        let mut r = Recorder::new();
        for v in values {
            r.record_ns(*v);
        }
        NamedHistogram::new(name, slug, r)
    }

    #[test]
    fn a_named_histogram_prints_writes_and_plots_itself() {
        let rtt = some("round trip", "rtt", &[20_000, 21_000, 40_000]);
        let net = some("network RTT", "network-rtt", &[400, 500]);
        let none = some("wake-up", "wakeup", &[]);
        assert!(rtt.line(12).starts_with("round trip   min 20.0"));
        assert_eq!(none.line(8), "wake-up  not available");
        let text = String::from_utf8(net.hgrm().unwrap()).unwrap();
        assert!(text.contains("Value") && text.contains("#[Mean"), "{text}");
        assert_eq!(
            net.path_beside(Path::new("/tmp/x/echo.hgrm")),
            Path::new("/tmp/x/echo.network-rtt.hgrm")
        );
        assert_eq!(
            net.path_beside(Path::new("echo")),
            Path::new("echo.network-rtt.hgrm")
        );
        let svg = plot("t", &[&rtt, &net, &none]).unwrap();
        assert!(svg.contains("round trip") && svg.contains("network RTT"));
        assert!(!svg.contains("wake-up"));
        assert!(plot("t", &[&none]).is_err());
    }
}
