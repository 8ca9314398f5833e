//! The timeline as a picture: sessions, message rates and latency percentiles over time, three
//! panels sharing the time axis. SVG (`--plot run.svg`) keeps text as `<text>` elements, so it
//! needs no font files at render time.

use crate::timeline::Point;
use anyhow::{bail, Context};
use plotters::prelude::*;
use std::path::Path;

/// Checks `--plot`'s format before a run, so a long run does not end in a format error.
pub fn check_path(path: &Path) -> anyhow::Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") => Ok(()),
        _ => bail!(
            "--plot {}: use a .svg file (for a PNG, convert it afterwards, e.g. \
             `rsvg-convert run.svg -o run.png`)",
            path.display()
        ),
    }
}

/// Writes the plot of `points` to `path` (`.svg`).
pub fn write_plot(path: &Path, title: &str, points: &[Point]) -> anyhow::Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "svg" => {
            let root = SVGBackend::new(path, (1000, 900)).into_drawing_area();
            draw(&root, title, points)?;
            root.present().with_context(|| format!("writing plot {}", path.display()))?;
            Ok(())
        }
        other => bail!(
            "--plot {}: unsupported format {other:?}: use .svg (for a PNG, convert it, e.g. \
             `rsvg-convert run.svg -o run.png`)",
            path.display()
        ),
    }
}

/// One line of a panel: legend, points, colour.
type Series<'a> = (&'a str, &'a Vec<(f64, f64)>, RGBColor);

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    points: &[Point],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow::anyhow!("plot: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let panels = root.split_evenly((3, 1));
    let t_max = points.last().map_or(1.0, |p| p.t_s).max(1.0);

    let series_sessions: Vec<(f64, f64)> =
        points.iter().map(|p| (p.t_s, p.sessions as f64)).collect();
    let sent: Vec<(f64, f64)> = points.iter().map(|p| (p.t_s, p.sent_per_s)).collect();
    let recv: Vec<(f64, f64)> = points.iter().map(|p| (p.t_s, p.received_per_s)).collect();
    let logins: Vec<(f64, f64)> = points.iter().map(|p| (p.t_s, p.logins_per_s)).collect();
    let p50: Vec<(f64, f64)> = points.iter().map(|p| (p.t_s, p.latency.p50_ms)).collect();
    let p90: Vec<(f64, f64)> = points.iter().map(|p| (p.t_s, p.latency.p90_ms)).collect();
    let p99: Vec<(f64, f64)> = points.iter().map(|p| (p.t_s, p.latency.p99_ms)).collect();

    let panel_specs: [(&str, Vec<Series>); 3] = [
        ("sessions", vec![("sessions", &series_sessions, BLUE), ("logins/s", &logins, CYAN)]),
        ("messages/s", vec![("sent/s", &sent, RED), ("received/s", &recv, GREEN)]),
        (
            "latency ms (per second)",
            vec![("p50", &p50, GREEN), ("p90", &p90, BLUE), ("p99", &p99, RED)],
        ),
    ];
    for (area, (label, series)) in panels.iter().zip(panel_specs.iter()) {
        let y_max = series
            .iter()
            .flat_map(|(_, s, _)| s.iter().map(|p| p.1))
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc(*label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        for (name, data, color) in series {
            let color = *color;
            chart
                .draw_series(LineSeries::new(data.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencySummary;

    #[test]
    fn writes_svg() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run.svg");
        let points: Vec<Point> = (1..=5)
            .map(|i| Point {
                t_s: i as f64,
                sessions: i * 10,
                sent_per_s: 3.0,
                received_per_s: 3.0,
                latency: LatencySummary {
                    p50_ms: 1.0,
                    p90_ms: 2.0,
                    p99_ms: 3.0,
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect();
        write_plot(&path, "test", &points).expect("plot");
        let svg = std::fs::read_to_string(&path).expect("read");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("received/s"));
        assert!(write_plot(&dir.path().join("x.gif"), "t", &points).is_err());
        assert!(check_path(Path::new("a/b.SVG")).is_ok());
        assert!(check_path(Path::new("b.png")).is_err());
        assert!(check_path(Path::new("noext")).is_err());
    }
}
