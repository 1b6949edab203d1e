//! Charts as SVG text: latency by percentile, the way HdrHistogram's plotter
//! draws it, and goodput over time.
//!
//! Pure code: values go in, a `String` holding one SVG document comes out.
//! Drawing uses `plotters` with its SVG backend only, so no font files or
//! font libraries are needed: text is written as SVG `<text>` elements
//! (`font-family="sans-serif"`) that the viewer renders with its own fonts.
//! Without font metrics, `plotters` estimates text widths, so the charts
//! leave generous margins.
//!
//! # Latency by percentile
//!
//! [`latency_svg`] draws one line per histogram: the value (y, linear) at
//! each percentile (x, on a log scale of 1/(1−percentile)), with ticks at
//! 0 %, 90 %, 99 %, 99.9 %, … as HdrHistogram's `plotFiles.html` does. The
//! points are the rows of the [`hgrm`](crate::hgrm) format; the 100 % row
//! has no place on that axis, so the legend gives each series' maximum.
//!
//! # Goodput
//!
//! [`goodput_svg`] draws goodput samples against time, in bit/s, kbit/s,
//! Mbit/s or Gbit/s as the largest sample calls for;
//! [`goodput_series_svg`] draws several series on one chart, with a
//! legend (several flows and their sum).
//!
//! # Time-sequence graph
//!
//! [`tsg::time_sequence_svg`] draws one TCP flow of a capture as tcptrace
//! does: its segments, the ACK line, the receive window and the
//! retransmissions, from [`pcap::tsg`](crate::pcap::tsg)'s series.
//!
//! # Timeline
//!
//! [`timeline::timeline_svg`] draws a [`Timeline`](crate::timeline::Timeline)
//! as stacked panels on one time axis: goodput, RTT, cwnd and the queue.
//!
//! # Example
//!
//! ```
//! use ardei_lab::latency::Recorder;
//! use ardei_lab::plot::{goodput_svg, latency_svg};
//!
//! let mut rtt = Recorder::new();
//! for i in 0..1000 {
//!     rtt.record_ns(40_000 + i * 37);
//! }
//! let svg = latency_svg("echo over loopback", &[("round trip", rtt.histogram())], 1000.0)?;
//! assert!(svg.contains("99.9%") && svg.contains("latency (µs)"));
//!
//! let samples = [(0.5, 45.1e6), (1.0, 47.9e6), (1.5, 46.3e6)];
//! let svg = goodput_svg("file over a 50 Mbit/s link", &samples)?;
//! assert!(svg.contains("goodput (Mbit/s)"));
//! # Ok::<(), ardei_lab::plot::PlotError>(())
//! ```

use std::ops::Range;

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;

use crate::hgrm::{TICKS_PER_HALF_DISTANCE, percentile_rows};

pub mod timeline;
pub mod tsg;

/// Width and height of every chart, in SVG pixels.
pub const SIZE: (u32, u32) = (960, 540);

/// Decades of 1/(1−percentile) the latency axis may span at most: up to
/// 99.9999999 %.
const MAX_DECADES: u32 = 9;

/// Line colours, one per series, in order (then again from the start).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The latency chart was given no series at all.
    #[error("no latency series to plot")]
    NoSeries,
    /// A latency series' histogram holds no values.
    #[error("latency series \"{0}\" has no values")]
    EmptySeries(String),
    /// The goodput chart was given no points.
    #[error("no goodput points to plot")]
    NoPoints,
    /// A goodput point has a time that is not finite, or a rate that is not
    /// a finite non-negative number.
    #[error(
        "goodput point {index} ({seconds} s, {bits_per_second} bit/s) is not a finite time and a non-negative rate"
    )]
    BadPoint {
        /// Its position in the input.
        index: usize,
        /// Its time, seconds.
        seconds: f64,
        /// Its rate, bit/s.
        bits_per_second: f64,
    },
    /// The time-sequence graph was given a flow without data segments.
    #[error("no data segments to plot")]
    NoSegments,
    /// The unit ratio is not a positive finite number.
    #[error("unit ratio must be a positive number, not {0}")]
    BadUnitRatio(f64),
    /// `plotters` failed while drawing.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

/// Draws latency by percentile for each `(name, histogram)` in `series`,
/// every value divided by `unit_ratio` (`1000.0` for nanosecond histograms
/// shown in µs), under `title`. See the [module docs](self).
pub fn latency_svg(
    title: &str,
    series: &[(&str, &Histogram<u64>)],
    unit_ratio: f64,
) -> Result<String, PlotError> {
    if !(unit_ratio.is_finite() && unit_ratio > 0.0) {
        return Err(PlotError::BadUnitRatio(unit_ratio));
    }
    if series.is_empty() {
        return Err(PlotError::NoSeries);
    }
    if let Some((name, _)) = series.iter().find(|(_, h)| h.is_empty()) {
        return Err(PlotError::EmptySeries((*name).to_string()));
    }

    let lines: Vec<Line> = series
        .iter()
        .map(|(name, hist)| Line::of(name, hist, unit_ratio))
        .collect();
    let widest = lines.iter().map(|l| l.last_x).fold(0.0, f64::max);
    // At least up to 99 %, at most MAX_DECADES.
    let decades = (widest.ceil() as u32).clamp(2, MAX_DECADES);
    let top = lines.iter().map(|l| l.max).fold(0.0, f64::max);
    let y_top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let unit = unit_name(unit_ratio);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = framed(&root, title, 26, 90)
            .build_cartesian_2d(PercentileAxis { decades }, 0.0..y_top)
            .map_err(draw_error)?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc("percentile")
            .y_desc(format!("latency ({unit})"))
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| tick_label(*y))
            .draw()
            .map_err(draw_error)?;

        for (i, line) in lines.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let style = colour.stroke_width(2);
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(draw_error)?
                .label(format!(
                    "{} (max {} {unit})",
                    line.name,
                    significant(line.max)
                ))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// Draws goodput samples `(seconds, bit/s)` against time under `title`.
/// See the [module docs](self).
pub fn goodput_svg(title: &str, points: &[(f64, f64)]) -> Result<String, PlotError> {
    goodput_series_svg(title, &[("", points)])
}

/// Draws several goodput series `(name, samples)` against one time axis
/// under `title`, each in its colour and named in a legend (several flows
/// and their sum, for example). One series is drawn as [`goodput_svg`]
/// draws it, without a legend.
pub fn goodput_series_svg(
    title: &str,
    series: &[(&str, &[(f64, f64)])],
) -> Result<String, PlotError> {
    if series.iter().all(|(_, p)| p.is_empty()) {
        return Err(PlotError::NoPoints);
    }
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    if let Some((index, &(seconds, bits_per_second))) = all()
        .enumerate()
        .find(|(_, (t, r))| !(t.is_finite() && r.is_finite() && *r >= 0.0))
    {
        return Err(PlotError::BadPoint {
            index,
            seconds,
            bits_per_second,
        });
    }

    let peak = all().map(|p| p.1).fold(0.0, f64::max);
    let (unit, scale) = rate_unit(peak);
    let first = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let last = all().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if last > first {
        (first, last)
    } else {
        (first - 0.5, last + 0.5)
    };
    let y_top = if peak > 0.0 { peak / scale * 1.15 } else { 1.0 };

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = framed(&root, title, 26, 90)
            .build_cartesian_2d(x0..x1, 0.0..y_top)
            .map_err(draw_error)?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc("time (s)")
            .y_desc(format!("goodput ({unit})"))
            .x_label_formatter(&|x| tick_label(*x))
            .y_label_formatter(&|y| tick_label(*y))
            .x_labels(10)
            .draw()
            .map_err(draw_error)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let scaled: Vec<(f64, f64)> = points.iter().map(|&(t, r)| (t, r / scale)).collect();
            let style = colour.stroke_width(2);
            let drawn = chart
                .draw_series(LineSeries::new(scaled.iter().copied(), style))
                .map_err(draw_error)?;
            if series.len() > 1 {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
            }
            // Markers where the samples are few enough to tell apart (and
            // so a single sample still shows).
            if scaled.len() <= 60 {
                chart
                    .draw_series(scaled.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(draw_error)?;
            }
        }
        if series.len() > 1 {
            draw_legend(&mut chart)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// The x axis of the latency chart: log10(1/(1−p)) from 0 to `decades`,
/// linear in that, with a tick and a label per decade (0 %, 90 %, 99 %…).
struct PercentileAxis {
    decades: u32,
}

impl Ranged for PercentileAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn range(&self) -> Range<f64> {
        0.0..f64::from(self.decades)
    }

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = value / f64::from(self.decades.max(1));
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Bold lines and labels at each decade; no light lines between.
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        (0..=self.decades).map(f64::from).collect()
    }
}

impl ValueFormatter<f64> for PercentileAxis {
    fn format(value: &f64) -> String {
        percentile_label(*value)
    }
}

/// One latency series, ready to draw.
struct Line {
    name: String,
    /// (log10(1/(1−p)), value in display units), every row below 100 %.
    points: Vec<(f64, f64)>,
    /// The rightmost x.
    last_x: f64,
    /// The largest value (the 100 % row), in display units.
    max: f64,
}

impl Line {
    fn of(name: &str, hist: &Histogram<u64>, unit_ratio: f64) -> Line {
        let points: Vec<(f64, f64)> = percentile_rows(hist, TICKS_PER_HALF_DISTANCE)
            .into_iter()
            .filter(|row| row.percent < 100.0)
            .map(|row| {
                let x = (100.0 / (100.0 - row.percent)).log10();
                (x.min(f64::from(MAX_DECADES)), row.value as f64 / unit_ratio)
            })
            .collect();
        let last_x = points.iter().map(|p| p.0).fold(0.0, f64::max);
        Line {
            name: name.to_string(),
            points,
            last_x,
            max: hist.max() as f64 / unit_ratio,
        }
    }
}

/// The label of a percentile tick at x = log10(1/(1−p)): 0 %, 90 %, 99 %,
/// 99.9 %…; ticks between decades get their percentile to four digits.
fn percentile_label(x: f64) -> String {
    if x <= 0.0 {
        return "0%".to_string();
    }
    if x.fract() == 0.0 && x <= f64::from(MAX_DECADES) {
        let nines = "9".repeat(x as usize);
        return match nines.len() {
            1 => "90%".to_string(),
            2 => "99%".to_string(),
            _ => format!("99.{}%", &nines[2..]),
        };
    }
    format!("{:.4}%", 100.0 - 100.0 / 10f64.powf(x))
}

/// A tick label: up to three decimals, without trailing zeros (`0`, `2.5`,
/// `0.125`), as axis ticks fall on round steps.
fn tick_label(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" | "" => "0".to_string(),
        t => t.to_string(),
    }
}

/// A measured value with four significant digits (`93.95`, `755.2`,
/// `12010`).
fn significant(v: f64) -> String {
    let magnitude = if v.abs() >= 1.0 {
        v.abs().log10().floor() as i32
    } else {
        0
    };
    let decimals = (3 - magnitude).max(0) as usize;
    format!("{v:.decimals$}")
}

/// The name of the unit a histogram value divided by `unit_ratio` is in,
/// for histograms of nanoseconds.
fn unit_name(unit_ratio: f64) -> String {
    let named = [(1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s")];
    match named.iter().find(|(ratio, _)| *ratio == unit_ratio) {
        Some((_, name)) => (*name).to_string(),
        None => format!("ns/{unit_ratio}"),
    }
}

/// The unit a rate axis peaking at `peak` bit/s reads best in, and its size
/// in bit/s.
fn rate_unit(peak: f64) -> (&'static str, f64) {
    if peak >= 1e9 {
        ("Gbit/s", 1e9)
    } else if peak >= 1e6 {
        ("Mbit/s", 1e6)
    } else if peak >= 1e3 {
        ("kbit/s", 1e3)
    } else {
        ("bit/s", 1.0)
    }
}

/// A chart's builder with the frame every chart here has: `title` above
/// in `caption` points, the margins, and `y_area` pixels for the y labels.
fn framed<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    caption: u32,
    y_area: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, ("sans-serif", caption))
        .margin(16)
        .margin_right(40)
        .x_label_area_size(56)
        .y_label_area_size(y_area);
    b
}

/// The axes' look every chart shares: eight y labels, the label and
/// description fonts, and no light grid lines.
fn house_mesh<'m, 'a, 'b, X, Y, DB>(
    m: &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut plotters::chart::MeshStyle<'a, 'b, X, Y, DB>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
    DB: DrawingBackend,
{
    m.y_labels(8)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE.mix(0.0))
}

/// The legend as every chart draws it: upper left, on a pale box.
fn draw_legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>) -> Result<(), PlotError>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(draw_error)
}

fn draw_error<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> PlotError {
    PlotError::Draw(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_us: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for us in values_us {
            h.record(us * 1000).unwrap();
        }
        h
    }

    /// Parses the SVG as XML (which fails on anything ill-formed) and
    /// returns the text of every `<text>` element, the point count of
    /// every `<polyline>` and the number of `<circle>`s.
    pub(crate) fn svg_parts(svg: &str) -> (Vec<String>, Vec<usize>, usize) {
        let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect();
        let polylines = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .map(|n| {
                n.attribute("points")
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
            })
            .collect();
        let circles = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        (texts, polylines, circles)
    }

    /// The texts and polylines of [`svg_parts`].
    fn parse(svg: &str) -> (Vec<String>, Vec<usize>) {
        let (texts, polylines, _) = svg_parts(svg);
        (texts, polylines)
    }

    #[test]
    fn latency_chart_has_title_axes_ticks_and_one_line_per_series() {
        let a = hist(1..=10_000);
        let b = hist((1..=10_000).map(|v| 2 * v));
        let svg = latency_svg("echo <tcp> & <udp>", &[("tcp", &a), ("udp", &b)], 1000.0).unwrap();
        let (texts, polylines) = parse(&svg);
        for want in [
            "echo <tcp> & <udp>",
            "percentile",
            "latency (µs)",
            "0%",
            "90%",
            "99%",
            "99.9%",
            "99.99%",
            "tcp (max 10002 µs)", // the top of its bucket
            "udp (max 20005 µs)",
        ] {
            assert!(texts.iter().any(|t| t == want), "{want:?} in {texts:?}");
        }
        // A curve per series (many points) and a legend swatch (2 points).
        let curves = polylines.iter().filter(|&&n| n > 10).count();
        assert_eq!(curves, 2, "{polylines:?}");
        // No font files: text is left to the viewer.
        assert!(svg.contains(r#"font-family="sans-serif""#));
    }

    #[test]
    fn latency_axis_reaches_at_least_99_percent() {
        let svg = latency_svg("one value", &[("rtt", &hist([42]))], 1000.0).unwrap();
        let (texts, _) = parse(&svg);
        assert!(texts.iter().any(|t| t == "99%"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "rtt (max 42.02 µs)"), "{texts:?}");
    }

    #[test]
    fn latency_needs_non_empty_series_and_a_sane_ratio() {
        assert!(matches!(
            latency_svg("t", &[], 1000.0),
            Err(PlotError::NoSeries)
        ));
        let empty = Histogram::<u64>::new(3).unwrap();
        let err = latency_svg("t", &[("a", &hist([1])), ("idle", &empty)], 1000.0).unwrap_err();
        assert!(matches!(&err, PlotError::EmptySeries(name) if name == "idle"));
        assert_eq!(err.to_string(), "latency series \"idle\" has no values");
        assert!(matches!(
            latency_svg("t", &[("a", &hist([1]))], 0.0),
            Err(PlotError::BadUnitRatio(_))
        ));
    }

    #[test]
    fn goodput_chart_picks_its_unit_from_the_data() {
        for (peak, unit) in [
            (9.4e9, "goodput (Gbit/s)"),
            (47.0e6, "goodput (Mbit/s)"),
            (640.0e3, "goodput (kbit/s)"),
            (300.0, "goodput (bit/s)"),
        ] {
            let points: Vec<(f64, f64)> = (0..50)
                .map(|i| (f64::from(i) * 0.1, peak * (0.9 + 0.002 * f64::from(i))))
                .collect();
            let svg = goodput_svg("file over tcp", &points).unwrap();
            let (texts, polylines) = parse(&svg);
            assert!(texts.iter().any(|t| t == unit), "{unit} in {texts:?}");
            assert!(texts.iter().any(|t| t == "time (s)"), "{texts:?}");
            assert!(texts.iter().any(|t| t == "file over tcp"), "{texts:?}");
            assert_eq!(polylines.iter().filter(|&&n| n == 50).count(), 1);
        }
    }

    #[test]
    fn goodput_of_one_point_still_shows() {
        let svg = goodput_svg("short", &[(1.0, 5e6)]).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(
            doc.descendants()
                .filter(|n| n.has_tag_name("circle"))
                .count(),
            1
        );
    }

    #[test]
    fn goodput_rejects_no_points_and_bad_ones() {
        assert!(matches!(goodput_svg("t", &[]), Err(PlotError::NoPoints)));
        assert_eq!(
            goodput_svg("t", &[]).unwrap_err().to_string(),
            "no goodput points to plot"
        );
        for bad in [(f64::NAN, 1.0), (1.0, f64::INFINITY), (1.0, -5.0)] {
            let err = goodput_svg("t", &[(0.0, 1.0), bad]).unwrap_err();
            assert!(matches!(err, PlotError::BadPoint { index: 1, .. }), "{err}");
        }
    }

    #[test]
    fn several_goodput_series_share_a_chart_with_a_legend() {
        let a = [(0.5, 1e9), (1.0, 2e9)];
        let b = [(0.5, 3e9), (1.0, 1e9)];
        let sum = [(0.5, 4e9), (1.0, 3e9)];
        let svg = goodput_series_svg(
            "two flows",
            &[("flow 1", &a[..]), ("flow 2", &b[..]), ("sum", &sum[..])],
        )
        .unwrap();
        let (texts, _) = parse(&svg);
        for want in ["flow 1", "flow 2", "sum", "goodput (Gbit/s)"] {
            assert!(texts.iter().any(|t| t == want), "{want}: {texts:?}");
        }
        // Each series in its colour: its line, and its legend entry.
        let doc = roxmltree::Document::parse(&svg).unwrap();
        for c in &COLOURS[..3] {
            let stroke = format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
            let lines = doc
                .descendants()
                .filter(|n| n.has_tag_name("polyline"))
                .filter(|n| n.attribute("stroke") == Some(stroke.as_str()))
                .count();
            assert_eq!(lines, 2, "{stroke}");
        }
        assert!(matches!(
            goodput_series_svg("x", &[("a", &[][..])]),
            Err(PlotError::NoPoints)
        ));
    }

    #[test]
    fn percentile_labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(6.0), "99.9999%");
        assert_eq!(percentile_label(2f64.log10()), "50.0000%");
    }

    #[test]
    fn number_labels() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(40.0), "40");
        assert_eq!(tick_label(0.125), "0.125");
        assert_eq!(significant(93.5), "93.50");
        assert_eq!(significant(754.7), "754.7");
        assert_eq!(significant(20010.0), "20010");
        assert_eq!(significant(0.042), "0.042");
        assert_eq!(unit_name(1000.0), "µs");
        assert_eq!(unit_name(1.0), "ns");
        assert_eq!(unit_name(250.0), "ns/250");
    }
}
