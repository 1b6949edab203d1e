//! The timeline as one chart: goodput, RTT, the congestion window and,
//! when one was watched, the queue, in panels stacked on one time axis, as
//! crusader's and flent's plots put throughput and latency over each other,
//! so a queue that fills shows right below the RTT it raises. One line per
//! flow in the same colour in every panel (their sum too in the goodput
//! panel when there are several); latency probes are dots on the RTT panel.
//! The cwnd panel shows the flows that send: a download's sender is the
//! server, whose window the client cannot read. A run in phases (`--rpm`)
//! has each phase shaded across every panel and named at the top.

use plotters::prelude::*;

use super::{COLOURS, PlotError, draw_error, rate_unit, tick_label};
use crate::timeline::{PhaseSpan, Timeline};

/// Width of the chart, and the height of each panel, in SVG pixels.
const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 230;
/// The most lines a panel's legend names one by one.
const MAX_NAMED: usize = 8;

/// One panel: its axis title and its series of (name, points).
struct Panel {
    y_desc: String,
    lines: Vec<(String, Vec<(f64, f64)>)>,
    dots: Vec<(f64, f64)>,
}

/// Draws `t` under `title` (see the [module docs](self)).
pub fn timeline_svg(title: &str, t: &Timeline) -> Result<String, PlotError> {
    if t.samples.is_empty() {
        return Err(PlotError::NoPoints);
    }
    let panels = panels(t);
    let x1 = t.samples.last().map_or(1.0, |s| s.t).max(1e-3);
    let height = PANEL_HEIGHT * panels.len() as u32 + 50;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let root = root.titled(title, ("sans-serif", 26)).map_err(draw_error)?;
        let areas = root.split_evenly((panels.len(), 1));
        for (i, (panel, area)) in panels.iter().zip(&areas).enumerate() {
            let look = Look {
                x1,
                last: i + 1 == panels.len(),
                phases: &t.phases,
                names: i == 0,
            };
            draw_panel(area, panel, &look)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// The panels `t` has data for: goodput, RTT and cwnd always, the queue
/// when one was watched.
fn panels(t: &Timeline) -> Vec<Panel> {
    let n = t.samples.iter().map(|s| s.flows.len()).max().unwrap_or(0);
    let name = |i: usize| {
        let dir = t.directions.get(i).copied().unwrap_or("flow");
        format!("flow {} ({dir})", i + 1)
    };
    let series = |f: &dyn Fn(usize, &crate::timeline::FlowSample) -> Option<f64>| {
        (0..n)
            .map(|i| {
                let points: Vec<(f64, f64)> = t
                    .samples
                    .iter()
                    .filter_map(|s| Some((s.t, f(i, s.flows.get(i)?.as_ref()?)?)))
                    .collect();
                (name(i), points)
            })
            .collect::<Vec<_>>()
    };
    let mut goodput = series(&|_, f| f.goodput_bps);
    let peak = goodput
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let (unit, scale) = rate_unit(peak);
    if n > 1 {
        let sum = t
            .samples
            .iter()
            .filter(|s| s.flows.iter().flatten().any(|f| f.goodput_bps.is_some()))
            .map(|s| {
                let g = s.flows.iter().flatten().filter_map(|f| f.goodput_bps);
                (s.t, g.sum())
            })
            .collect();
        goodput.push(("sum".to_string(), sum));
    }
    for (_, points) in &mut goodput {
        points.iter_mut().for_each(|p| p.1 /= scale);
    }
    let receiving = |i: usize| t.directions.get(i) == Some(&"download");
    let rtt = series(&|i, f| f.path_rtt_us(receiving(i)).map(|r| f64::from(r) / 1e3));
    let dots = t
        .samples
        .iter()
        .flat_map(|s| {
            s.probes
                .iter()
                .filter_map(move |p| Some((s.t, p.rtt_us? as f64 / 1e3)))
        })
        .collect();
    let mut out = vec![
        Panel {
            y_desc: format!("goodput ({unit})"),
            lines: goodput,
            dots: Vec::new(),
        },
        Panel {
            y_desc: "RTT (ms)".to_string(),
            lines: rtt,
            dots,
        },
        Panel {
            y_desc: "cwnd (segments)".to_string(),
            // A download's sender is the server, whose window the client
            // cannot read: its own socket's is that of an idle sender.
            lines: series(&|i, f| (!receiving(i)).then_some(f64::from(f.cwnd)))
                .into_iter()
                .filter(|(_, p)| !p.is_empty())
                .collect(),
            dots: Vec::new(),
        },
    ];
    if t.samples.iter().any(|s| s.queue.is_some()) {
        let queue = |f: fn(&crate::timeline::QueueSample) -> u64| {
            t.samples
                .iter()
                .filter_map(|s| Some((s.t, f(s.queue.as_ref()?) as f64)))
                .collect()
        };
        out.push(Panel {
            y_desc: "queue (packets)".to_string(),
            lines: vec![
                ("backlog".to_string(), queue(|q| q.backlog_packets)),
                ("drops so far".to_string(), queue(|q| q.drops)),
            ],
            dots: Vec::new(),
        });
    }
    out
}

/// How a panel is drawn: its time axis's end, whether it is the bottom
/// one (which carries the axis's title), the phases to shade, and whether
/// it names them (the top one does).
struct Look<'a> {
    x1: f64,
    last: bool,
    phases: &'a [PhaseSpan],
    names: bool,
}

/// A phase's shade: light, so the lines stay legible over it.
fn shade(phase: &str) -> RGBAColor {
    let c = match phase {
        "idle" => RGBColor(0x99, 0x99, 0x99),
        "download" => RGBColor(0x1f, 0x77, 0xb4),
        "upload" => RGBColor(0xff, 0x7f, 0x0e),
        _ => RGBColor(0x2c, 0xa0, 0x2c),
    };
    c.mix(0.12)
}

/// Shades each phase across the panel, named at its top on the first.
fn draw_phases<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    look: &Look<'_>,
    y_top: f64,
) -> Result<(), PlotError> {
    chart
        .draw_series(look.phases.iter().map(|p| {
            Rectangle::new(
                [(p.start_t, 0.0), (p.end_t.min(look.x1), y_top)],
                shade(p.phase).filled(),
            )
        }))
        .map_err(|e| PlotError::Draw(e.to_string()))?;
    if look.names {
        chart
            .draw_series(look.phases.iter().map(|p| {
                Text::new(
                    p.phase.to_string(),
                    (p.start_t + look.x1 * 0.005, y_top * 0.97),
                    ("sans-serif", 14).into_font().color(&BLACK.mix(0.7)),
                )
            }))
            .map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    Ok(())
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    look: &Look<'_>,
) -> Result<(), PlotError> {
    let (x1, last) = (look.x1, look.last);
    let top = panel
        .lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.1))
        .chain(panel.dots.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .margin_right(40)
        .x_label_area_size(if last { 50 } else { 24 })
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..x1, 0.0..y_top)
        .map_err(draw_error)?;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(panel.y_desc.as_str())
        .x_label_formatter(&|x| tick_label(*x))
        .y_label_formatter(&|y| tick_label(*y))
        .x_labels(10)
        .y_labels(5)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0));
    if last {
        mesh.x_desc("time (s)");
    }
    mesh.draw().map_err(draw_error)?;
    draw_phases(&mut chart, look, y_top)?;
    for (i, (name, points)) in panel.lines.iter().enumerate() {
        let colour = if name == "sum" {
            BLACK
        } else {
            COLOURS[i % COLOURS.len()]
        };
        let style = colour.stroke_width(2);
        let series = chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(draw_error)?;
        // A run that adds flows (--rpm's ramp) may have dozens: past
        // MAX_NAMED the legend names only their sum.
        if panel.lines.len() <= MAX_NAMED || name == "sum" {
            series
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], style));
        }
    }
    if !panel.dots.is_empty() {
        let colour = BLACK.mix(0.6);
        chart
            .draw_series(
                panel
                    .dots
                    .iter()
                    .map(|&p| Circle::new(p, 2, colour.filled())),
            )
            .map_err(draw_error)?
            .label("probes")
            .legend(move |(x, y)| Circle::new((x + 12, y), 3, colour.filled()));
    }
    if panel.lines.is_empty() && panel.dots.is_empty() {
        let note = "no sending flow here: a download's sender is the server";
        return chart
            .draw_series([Text::new(
                note,
                (x1 * 0.02, y_top * 0.5),
                ("sans-serif", 16),
            )])
            .map(|_| ())
            .map_err(draw_error);
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(draw_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{FlowReading, ProbeReading, QueueReading, Sampler};
    use std::time::Duration;

    fn timeline(queue: bool) -> Timeline {
        let mut s = Sampler::new(Duration::from_millis(10));
        for i in 0..50u64 {
            let r = |k: u64| FlowReading {
                cwnd: 10 + i as u32 * k as u32,
                snd_mss: 1448,
                rtt_us: 20_000 + i as u32 * 1000,
                min_rtt_us: 20_000,
                progress_bytes: i * 60_000 * k,
                ..FlowReading::default()
            };
            let q = queue.then_some(QueueReading {
                backlog_bytes: i * 1514,
                backlog_packets: i,
                drops: i / 10,
            });
            if i == 20 {
                s.probe(ProbeReading {
                    kind: "udp_echo".into(),
                    rtt_us: Some(41_000),
                });
            }
            s.record(Duration::from_millis(10 * i), &[Some(r(1)), Some(r(2))], q);
        }
        let mut t = s.finish();
        t.directions = vec!["upload", "upload"];
        t
    }

    use crate::plot::tests::svg_parts as parse;

    #[test]
    fn four_panels_share_the_time_axis() {
        let svg = timeline_svg("download through 50 Mbit/s", &timeline(true)).unwrap();
        let (texts, lines, circles) = parse(&svg);
        for want in [
            "download through 50 Mbit/s",
            "goodput (Mbit/s)",
            "RTT (ms)",
            "cwnd (segments)",
            "queue (packets)",
            "time (s)",
            "flow 1 (upload)",
            "flow 2 (upload)",
            "sum",
            "backlog",
            "drops so far",
            "probes",
        ] {
            assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
        }
        // One time axis title, under the last panel.
        assert_eq!(texts.iter().filter(|t| *t == "time (s)").count(), 1);
        // Goodput: two flows and the sum (49 samples each, the first has
        // none); RTT and cwnd: 50 each per flow; the queue: two of 50.
        let full: Vec<usize> = lines.iter().copied().filter(|n| *n >= 49).collect();
        assert_eq!(full.len(), 3 + 2 + 2 + 2, "{lines:?}");
        assert!(circles >= 1, "the probe's dot");
    }

    #[test]
    fn without_a_queue_there_are_three_panels() {
        let svg = timeline_svg("loopback", &timeline(false)).unwrap();
        let (texts, _, _) = parse(&svg);
        assert!(texts.iter().any(|t| t == "cwnd (segments)"));
        assert!(!texts.iter().any(|t| t == "queue (packets)"), "{texts:?}");
    }

    #[test]
    fn a_download_has_no_cwnd_of_its_own_to_draw() {
        let mut t = timeline(false);
        t.directions = vec!["download", "download"];
        let (texts, _, _) = parse(&timeline_svg("down", &t).unwrap());
        assert!(
            texts.iter().any(|t| t.starts_with("no sending flow")),
            "{texts:?}"
        );
        assert_eq!(
            texts.iter().filter(|t| *t == "flow 1 (download)").count(),
            2
        );
    }

    #[test]
    fn an_empty_timeline_is_an_error() {
        let t = Sampler::new(Duration::from_millis(10)).finish();
        assert!(matches!(timeline_svg("x", &t), Err(PlotError::NoPoints)));
    }
}
