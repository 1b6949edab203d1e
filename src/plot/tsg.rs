//! The time-sequence graph as SVG, in tcptrace's colours: each data segment
//! a short vertical bar from its first sequence number to the one after its
//! last (blue), retransmissions in red with a cross on top, the ACK line as
//! a green step, and the receive window's right edge as an orange step
//! above it. Time runs along x in seconds, sequence numbers up y in bytes,
//! KiB or MiB as the flow's size calls for. The series come from
//! [`pcap::tsg`](crate::pcap::tsg).

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{COLOURS, PlotError, SIZE, draw_error, draw_legend, framed, house_mesh, tick_label};
use crate::pcap::tsg::{Segment, SeqPoint, TimeSequence};

const DATA: RGBColor = COLOURS[0];
const RETRANSMISSION: RGBColor = COLOURS[1];
const ACK: RGBColor = COLOURS[2];
const WINDOW: RGBColor = COLOURS[3];

/// Draws `g` under `title`. See the [module docs](self).
pub fn time_sequence_svg(title: &str, g: &TimeSequence) -> Result<String, PlotError> {
    if g.segments.is_empty() {
        return Err(PlotError::NoSegments);
    }
    let times = || {
        g.segments
            .iter()
            .map(|s| s.t)
            .chain(g.acks.iter().map(|a| a.t))
    };
    let first = times().fold(f64::INFINITY, f64::min);
    let last = times().fold(f64::NEG_INFINITY, f64::max);
    let (x0, x1) = if last > first {
        (first, last + (last - first) * 0.02)
    } else {
        (first - 0.5, last + 0.5)
    };
    let seqs = || {
        g.segments
            .iter()
            .flat_map(|s| [s.start, s.end])
            .chain(g.acks.iter().chain(&g.windows).map(|p| p.seq))
    };
    let low = seqs().min().unwrap_or(0).min(0);
    let high = seqs().max().unwrap_or(1).max(low + 1);
    let (unit, scale) = seq_unit(high - low);
    let y = |s: i64| s as f64 / scale;
    let pad = (high - low) as f64 / scale * 0.04;
    let (y0, y1) = (y(low) - pad, y(high) + pad);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let mut chart = framed(&root, title, 22, 100)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_error)?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc("time (s)")
            .y_desc(format!("relative sequence number ({unit})"))
            .x_label_formatter(&|x| tick_label(*x))
            .y_label_formatter(&|v| tick_label(*v))
            .x_labels(10)
            .draw()
            .map_err(draw_error)?;

        draw_lines(&mut chart, g, x1, scale)?;
        draw_segments(&mut chart, g, scale)?;
        draw_legend(&mut chart)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// The chart `time_sequence_svg` draws on: time against scaled sequence.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The receive window's and the ACKs' step lines, each in the legend.
fn draw_lines(
    chart: &mut Chart<'_, '_>,
    g: &TimeSequence,
    end: f64,
    scale: f64,
) -> Result<(), PlotError> {
    let window_name = match g.window_scale {
        Some(0) => "receive window".to_string(),
        Some(s) => format!("receive window (scale {s})"),
        None => "receive window (scale unknown: as sent)".to_string(),
    };
    for (points, colour, name) in [
        (&g.windows, WINDOW, window_name),
        (&g.acks, ACK, "ACK".to_string()),
    ] {
        if points.is_empty() {
            continue;
        }
        let style = colour.stroke_width(2);
        chart
            .draw_series(LineSeries::new(steps(points, end, scale), style))
            .map_err(draw_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
    }
    Ok(())
}

/// The data segments as bars, first transmissions then retransmissions
/// (crossed), each kind in the legend.
fn draw_segments(chart: &mut Chart<'_, '_>, g: &TimeSequence, scale: f64) -> Result<(), PlotError> {
    let y = |s: i64| s as f64 / scale;
    let bar = |s: &Segment, colour: RGBColor| {
        PathElement::new([(s.t, y(s.start)), (s.t, y(s.end))], colour.stroke_width(2))
    };
    chart
        .draw_series(
            g.segments
                .iter()
                .filter(|s| !s.retransmission)
                .map(|s| bar(s, DATA)),
        )
        .map_err(draw_error)?
        .label("data segment")
        .legend(|(x, y)| {
            PathElement::new([(x + 12, y - 6), (x + 12, y + 6)], DATA.stroke_width(2))
        });
    let retransmissions = g.retransmissions();
    if retransmissions == 0 {
        return Ok(());
    }
    chart
        .draw_series(
            g.segments
                .iter()
                .filter(|s| s.retransmission)
                .flat_map(|s| {
                    [
                        bar(s, RETRANSMISSION).into_dyn(),
                        Cross::new((s.t, y(s.end)), 4, RETRANSMISSION.stroke_width(2)).into_dyn(),
                    ]
                }),
        )
        .map_err(draw_error)?
        .label(format!("retransmission ({retransmissions})"))
        .legend(|(x, y)| Cross::new((x + 12, y), 4, RETRANSMISSION.stroke_width(2)));
    Ok(())
}

/// A step line through `points`: each value holds until the next one, and
/// the last until `end`.
fn steps(points: &[SeqPoint], end: f64, scale: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2 + 1);
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push((p.t, points[i - 1].seq as f64 / scale));
        }
        out.push((p.t, p.seq as f64 / scale));
    }
    if let Some(p) = points.last() {
        out.push((end, p.seq as f64 / scale));
    }
    out
}

/// Bytes, KiB or MiB for a span of `span` sequence numbers, and the divisor.
fn seq_unit(span: i64) -> (&'static str, f64) {
    if span >= 10 << 20 {
        ("MiB", f64::from(1 << 20))
    } else if span >= 10 << 10 {
        ("KiB", 1024.0)
    } else {
        ("bytes", 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> TimeSequence {
        let seg = |frame, t, start, end, retransmission| Segment {
            frame,
            t,
            start,
            end,
            retransmission,
        };
        TimeSequence {
            flow: 2,
            src: ("198.18.0.2".parse().unwrap(), 5005),
            dst: ("198.18.0.1".parse().unwrap(), 40000),
            window_scale: Some(7),
            segments: vec![
                seg(3, 0.001, 1, 1449, false),
                seg(4, 0.002, 1449, 2897, false),
                seg(6, 0.010, 1, 1449, true),
            ],
            acks: vec![
                SeqPoint { t: 0.0015, seq: 1 },
                SeqPoint {
                    t: 0.011,
                    seq: 2897,
                },
            ],
            windows: vec![
                SeqPoint {
                    t: 0.0015,
                    seq: 65_000,
                },
                SeqPoint {
                    t: 0.011,
                    seq: 66_000,
                },
            ],
        }
    }

    #[test]
    fn draws_segments_acks_window_and_retransmissions() {
        let svg = time_sequence_svg("flow 2", &graph()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for want in [
            "time (s)",
            "relative sequence number (KiB)",
            "data segment",
            "retransmission (1)",
            "ACK",
            "receive window (scale 7)",
        ] {
            assert!(svg.contains(want), "no {want:?}");
        }
    }

    #[test]
    fn a_graph_without_segments_is_an_error() {
        let mut g = graph();
        g.segments.clear();
        assert!(matches!(
            time_sequence_svg("x", &g),
            Err(PlotError::NoSegments)
        ));
    }

    #[test]
    fn steps_hold_each_value_until_the_next() {
        let p = [SeqPoint { t: 1.0, seq: 10 }, SeqPoint { t: 2.0, seq: 20 }];
        assert_eq!(
            steps(&p, 3.0, 1.0),
            vec![(1.0, 10.0), (2.0, 10.0), (2.0, 20.0), (3.0, 20.0)]
        );
        assert_eq!(seq_unit(100), ("bytes", 1.0));
        assert_eq!(seq_unit(300_000).0, "KiB");
        assert_eq!(seq_unit(50 << 20).0, "MiB");
    }
}
