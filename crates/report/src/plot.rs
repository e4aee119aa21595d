//! Figures as data: line charts (with confidence bands), scatter plots and
//! bar charts (with error bars), drawn by `plotters` to PNG and SVG.
//!
//! Why a description type instead of calling plotters at each use: every
//! figure of the study (the paper's Figs. 2-4, the companion's margin plot,
//! the report's robust-accuracy bars) is then a plain value a test can
//! build, the same value gives the PNG and the SVG, and the one rule about
//! bad numbers lives here: a non-finite value (or a non-positive one on a
//! log axis) is an error naming the series, never a point silently dropped.
//!
//! Text is drawn with DejaVu Sans compiled into the crate
//! (`assets/DejaVuSans.ttf`, licence beside it), so a figure looks the same
//! on a machine without system fonts. Log axes plot `log10` of the values
//! and label the ticks with the values themselves.

use crate::{write_atomic, Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, RGBColor};
use std::path::Path;
use std::sync::Once;

const FONT: &str = "sans-serif";
static REGISTER_FONT: Once = Once::new();

fn ensure_font() {
    REGISTER_FONT.call_once(|| {
        // The bytes are a valid TrueType font compiled in; a failure here
        // would be a broken build, caught by every plotting test.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        );
    });
}

/// Tableau's ten colours: distinguishable, and the order a reader of
/// matplotlib figures expects.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of the `i`-th series (cycling through ten).
pub fn palette(i: usize) -> [u8; 3] {
    let RGBColor(r, g, b) = PALETTE[i % PALETTE.len()];
    [r, g, b]
}

/// One line of a [`LineChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// The points, drawn in this order.
    pub points: Vec<(f64, f64)>,
    /// A shaded band `(lo, hi)` per point (e.g. a 95% confidence interval).
    pub band: Option<Vec<(f64, f64)>>,
}

/// Lines over a numeric x axis, optionally with shaded bands.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// Caption above the plot.
    pub title: String,
    /// Text under the x axis.
    pub x_label: String,
    /// Text beside the y axis.
    pub y_label: String,
    /// Log-scaled x axis (every x must be positive).
    pub log_x: bool,
    /// Log-scaled y axis (every y, and every band end, must be positive).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
}

/// How the points of a [`ScatterGroup`] are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A small filled disc.
    Dot,
    /// An open circle.
    Circle,
    /// A diagonal cross.
    Cross,
    /// A filled triangle.
    Triangle,
    /// A filled square.
    Square,
}

/// One group of points of a [`ScatterChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterGroup {
    /// Legend text.
    pub label: String,
    /// The points.
    pub points: Vec<(f64, f64)>,
    /// The marker shape.
    pub marker: Marker,
    /// Marker size in pixels.
    pub size: u32,
}

/// Points in groups; later groups are drawn on top of earlier ones.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterChart {
    /// Caption above the plot.
    pub title: String,
    /// Text under the x axis.
    pub x_label: String,
    /// Text beside the y axis.
    pub y_label: String,
    /// The groups.
    pub groups: Vec<ScatterGroup>,
}

/// One bar of a [`BarChart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Text under the bar.
    pub label: String,
    /// Height of the bar.
    pub value: f64,
    /// An error bar `(lo, hi)`.
    pub ci: Option<(f64, f64)>,
}

/// Labelled bars from zero, optionally with error bars.
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// Caption above the plot.
    pub title: String,
    /// Text beside the y axis.
    pub y_label: String,
    /// The bars, left to right.
    pub bars: Vec<Bar>,
}

/// A figure that can be drawn on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Plot {
        what: "drawing".into(),
        problem: e.to_string(),
    }
}

fn invalid(what: &str, problem: impl Into<String>) -> Error {
    Error::Plot {
        what: what.to_string(),
        problem: problem.into(),
    }
}

fn render_png(fig: &impl Figure, (w, h): (u32, u32)) -> Result<Vec<u8>> {
    if w < 64 || h < 64 || w > 8192 || h > 8192 {
        return Err(invalid(
            "size",
            format!("{w}x{h}: expected 64..=8192 pixels a side"),
        ));
    }
    ensure_font();
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        fig.draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    let img = image::RgbImage::from_raw(w, h, buf).expect("buffer sized w*h*3");
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| invalid("png", e.to_string()))?;
    Ok(png)
}

fn render_svg(fig: &impl Figure, (w, h): (u32, u32)) -> Result<String> {
    if w < 64 || h < 64 || w > 8192 || h > 8192 {
        return Err(invalid(
            "size",
            format!("{w}x{h}: expected 64..=8192 pixels a side"),
        ));
    }
    ensure_font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        fig.draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    Ok(s)
}

macro_rules! outputs {
    ($t:ty) => {
        impl $t {
            /// Draws the figure as a PNG of `w` x `h` pixels, written atomically.
            pub fn save_png(&self, path: &Path, size: (u32, u32)) -> Result<()> {
                let png = render_png(self, size)?;
                write_atomic(path, &png)
            }

            /// The figure as PNG bytes.
            pub fn to_png(&self, size: (u32, u32)) -> Result<Vec<u8>> {
                render_png(self, size)
            }

            /// The figure as an SVG document of `w` x `h` pixels.
            pub fn to_svg(&self, size: (u32, u32)) -> Result<String> {
                render_svg(self, size)
            }

            /// Writes the figure as SVG, atomically.
            pub fn save_svg(&self, path: &Path, size: (u32, u32)) -> Result<()> {
                let svg = render_svg(self, size)?;
                write_atomic(path, svg.as_bytes())
            }
        }
    };
}
outputs!(LineChart);
outputs!(ScatterChart);
outputs!(BarChart);

/// Maps a value onto the drawn axis (log10 on a log axis), checking it.
fn axis_value(v: f64, log: bool, series: &str, axis: &str) -> Result<f64> {
    if !v.is_finite() {
        return Err(invalid(series, format!("{axis} value {v} is not finite")));
    }
    if log {
        if v <= 0.0 {
            return Err(invalid(
                series,
                format!("{axis} value {v} cannot be drawn on a log axis (must be > 0)"),
            ));
        }
        Ok(v.log10())
    } else {
        Ok(v)
    }
}

/// A padded range covering `values`; a single value gets a unit-wide range.
fn padded(values: impl Iterator<Item = f64>, include_zero: bool) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if include_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            0.5
        };
        return (lo - d)..(hi + d);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad)..(hi + pad)
}

/// Tick text on a log axis spanning `span` decades: only whole decades are
/// labelled when it spans at least two (3.162 reads as noise there); a
/// narrower axis, which may hold one decade or none, labels every tick.
fn log_tick(v: f64, span: f64) -> String {
    if span >= 2.0 && (v - v.round()).abs() > 1e-9 {
        String::new()
    } else {
        tick(v, true)
    }
}

/// Tick text: the value itself, or 10^v on a log axis, in at most 4
/// significant digits.
fn tick(v: f64, log: bool) -> String {
    let x = if log { 10f64.powf(v) } else { v };
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{x:.1e}");
    }
    let s = format!("{:.*}", (3 - a.log10().floor() as i32).max(0) as usize, x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn cartesian<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, DB>> {
    ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
        .map_err(plot_error)
}

fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_error)
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.series.is_empty() {
            return Err(invalid(
                &self.title,
                "a line chart needs at least one series",
            ));
        }
        // Validate and transform every value first, so an error names the
        // series before anything is drawn.
        struct Prepared {
            line: Vec<(f64, f64)>,
            band: Option<Vec<(f64, f64, f64)>>,
        }
        let mut prepared = Vec::with_capacity(self.series.len());
        for s in &self.series {
            let mut line = Vec::with_capacity(s.points.len());
            for &(x, y) in &s.points {
                line.push((
                    axis_value(x, self.log_x, &s.label, "x")?,
                    axis_value(y, self.log_y, &s.label, "y")?,
                ));
            }
            let band = match &s.band {
                None => None,
                Some(b) => {
                    if b.len() != s.points.len() {
                        return Err(invalid(
                            &s.label,
                            format!("{} band ends for {} points", b.len(), s.points.len()),
                        ));
                    }
                    let mut out = Vec::with_capacity(b.len());
                    for (&(lo, hi), &(x, _)) in b.iter().zip(&line) {
                        let lo = axis_value(lo, self.log_y, &s.label, "band")?;
                        let hi = axis_value(hi, self.log_y, &s.label, "band")?;
                        out.push((x, lo, hi));
                    }
                    Some(out)
                }
            };
            prepared.push(Prepared { line, band });
        }
        let xs = prepared.iter().flat_map(|p| p.line.iter().map(|q| q.0));
        let x_range = padded(xs, false);
        let ys = prepared.iter().flat_map(|p| {
            p.line.iter().map(|q| q.1).chain(
                p.band
                    .iter()
                    .flat_map(|b| b.iter().flat_map(|&(_, lo, hi)| [lo, hi])),
            )
        });
        let y_range = padded(ys, false);
        let (x_span, y_span) = (x_range.end - x_range.start, y_range.end - y_range.start);
        let mut chart = cartesian(root, &self.title, x_range, y_range)?;
        let (log_x, log_y) = (self.log_x, self.log_y);
        // Levels, epochs, seeds: when every x is a whole number, a tick
        // between two of them ("level 1.5") means nothing, so only whole
        // ticks are labelled.
        let whole_x = !log_x
            && prepared
                .iter()
                .all(|p| p.line.iter().all(|&(x, _)| x.fract() == 0.0));
        let x_tick = move |v: &f64| {
            if log_x {
                log_tick(*v, x_span)
            } else if whole_x && v.fract().abs() > 1e-9 {
                String::new()
            } else {
                tick(*v, false)
            }
        };
        let y_tick = move |v: &f64| {
            if log_y {
                log_tick(*v, y_span)
            } else {
                tick(*v, false)
            }
        };
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .x_label_formatter(&x_tick)
            .y_label_formatter(&y_tick)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;
        for (i, (s, p)) in self.series.iter().zip(&prepared).enumerate() {
            let c = colour(i);
            if let Some(band) = &p.band {
                let mut poly: Vec<(f64, f64)> = band.iter().map(|&(x, lo, _)| (x, lo)).collect();
                poly.extend(band.iter().rev().map(|&(x, _, hi)| (x, hi)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                    .map_err(plot_error)?;
            }
            chart
                .draw_series(LineSeries::new(p.line.iter().copied(), c.stroke_width(2)))
                .map_err(plot_error)?
                .label(s.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            chart
                .draw_series(p.line.iter().map(|&q| Circle::new(q, 3, c.filled())))
                .map_err(plot_error)?;
        }
        legend(&mut chart)
    }
}

impl Figure for ScatterChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.groups.iter().all(|g| g.points.is_empty()) {
            return Err(invalid(
                &self.title,
                "a scatter chart needs at least one point",
            ));
        }
        for g in &self.groups {
            for &(x, y) in &g.points {
                axis_value(x, false, &g.label, "x")?;
                axis_value(y, false, &g.label, "y")?;
            }
        }
        let pts = || self.groups.iter().flat_map(|g| g.points.iter());
        let x_range = padded(pts().map(|p| p.0), false);
        let y_range = padded(pts().map(|p| p.1), false);
        let mut chart = cartesian(root, &self.title, x_range, y_range)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .x_label_formatter(&|v| tick(*v, false))
            .y_label_formatter(&|v| tick(*v, false))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;
        for (i, g) in self.groups.iter().enumerate() {
            let c = colour(i);
            let s = g.size.max(1) as i32;
            let pts = g.points.iter().copied();
            let anno =
                match g.marker {
                    Marker::Dot => chart.draw_series(pts.map(|p| Circle::new(p, s, c.filled()))),
                    Marker::Circle => {
                        chart.draw_series(pts.map(|p| Circle::new(p, s, c.stroke_width(2))))
                    }
                    Marker::Cross => {
                        chart.draw_series(pts.map(|p| Cross::new(p, s, c.stroke_width(2))))
                    }
                    Marker::Triangle => {
                        chart.draw_series(pts.map(|p| TriangleMarker::new(p, s, c.filled())))
                    }
                    Marker::Square => chart.draw_series(pts.map(|p| {
                        EmptyElement::at(p) + Rectangle::new([(-s, -s), (s, s)], c.filled())
                    })),
                }
                .map_err(plot_error)?;
            anno.label(g.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
        }
        legend(&mut chart)
    }
}

impl Figure for BarChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.bars.is_empty() {
            return Err(invalid(&self.title, "a bar chart needs at least one bar"));
        }
        let mut ys = Vec::new();
        for b in &self.bars {
            ys.push(axis_value(b.value, false, &b.label, "value")?);
            if let Some((lo, hi)) = b.ci {
                ys.push(axis_value(lo, false, &b.label, "ci")?);
                ys.push(axis_value(hi, false, &b.label, "ci")?);
            }
        }
        let n = self.bars.len();
        let y_range = padded(ys.into_iter(), true);
        // Bar i spans [i - 0.4, i + 0.4] on a numeric axis; the tick at each
        // integer carries its label (plotters' segmented axis leaves an
        // empty slot at the end and breaks for one bar).
        let mut chart = cartesian(root, &self.title, -0.5..(n as f64 - 0.5), y_range)?;
        let labels: Vec<String> = self.bars.iter().map(|b| b.label.clone()).collect();
        let x_tick = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(self.y_label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .x_labels(n + 1)
            .x_label_formatter(&x_tick)
            .y_label_formatter(&|v| tick(*v, false))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_error)?;
        for (i, b) in self.bars.iter().enumerate() {
            let c = colour(i);
            let x = i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.4, 0.0), (x + 0.4, b.value)],
                    c.mix(0.8).filled(),
                )))
                .map_err(plot_error)?;
            if let Some((lo, hi)) = b.ci {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, lo), (x, hi)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(plot_error)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory(png).unwrap().to_rgb8()
    }

    fn count_colour(img: &image::RgbImage, c: [u8; 3]) -> usize {
        img.pixels().filter(|p| p.0 == c).count()
    }

    fn line(band: bool) -> LineChart {
        LineChart {
            title: "DS vs level".into(),
            x_label: "level".into(),
            y_label: "DS".into(),
            log_x: false,
            log_y: false,
            series: vec![
                Series {
                    label: "base".into(),
                    points: vec![(1.0, 2.0), (2.0, 3.0), (3.0, 5.0)],
                    band: band.then(|| vec![(1.5, 2.5), (2.5, 3.5), (4.0, 6.0)]),
                },
                Series {
                    label: "c".into(),
                    points: vec![(1.0, 1.0), (2.0, 1.5), (3.0, 2.0)],
                    band: None,
                },
            ],
        }
    }

    #[test]
    fn line_chart_draws_each_series_in_its_colour() {
        let img = decode(&line(true).to_png((400, 300)).unwrap());
        assert_eq!(img.dimensions(), (400, 300));
        // Both series' colours appear (lines are 2 px wide: many pixels).
        assert!(count_colour(&img, palette(0)) > 50, "series 0 missing");
        assert!(count_colour(&img, palette(1)) > 50, "series 1 missing");
        assert_eq!(count_colour(&img, palette(2)), 0, "no third series");
        // Same description, same bytes.
        assert_eq!(
            line(true).to_png((400, 300)).unwrap(),
            line(true).to_png((400, 300)).unwrap()
        );
    }

    #[test]
    fn svg_holds_title_axis_labels_and_legend() {
        let svg = line(false).to_svg((400, 300)).unwrap();
        // plotters writes each text on its own line inside <text>.
        for text in ["DS vs level", "level", "base", "c"] {
            assert!(
                svg.contains(&format!("\n{text}\n</text>")),
                "{text} missing from the SVG"
            );
        }
    }

    #[test]
    fn whole_x_values_get_only_whole_tick_labels() {
        let labels = |chart: &LineChart| -> Vec<String> {
            let svg = chart.to_svg((400, 300)).unwrap();
            svg.split("</text>")
                .filter_map(|t| t.rsplit('>').next())
                .map(|t| t.trim().to_string())
                .filter(|t| t.parse::<f64>().is_ok())
                .collect()
        };
        // y in the hundreds: every y tick is whole, so a fractional label
        // can only be an x tick.
        let mut c = line(false);
        for s in &mut c.series {
            for p in &mut s.points {
                p.1 *= 100.0;
            }
        }
        // Levels 1-3: whole ticks are labelled, none between them.
        let whole = labels(&c);
        assert!(whole.iter().any(|t| t == "2"), "{whole:?}");
        assert!(!whole.iter().any(|t| t.contains('.')), "{whole:?}");
        // A fractional x keeps the fractional ticks.
        c.series[0].points[1].0 = 2.5;
        let fractional = labels(&c);
        assert!(fractional.iter().any(|t| t.contains('.')), "{fractional:?}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_series() {
        let mut c = line(false);
        c.series[1].points[2].1 = f64::NAN;
        let e = c.to_png((400, 300)).unwrap_err().to_string();
        assert!(e.contains("c") && e.contains("not finite"), "{e}");
        let mut c = line(false);
        c.log_y = true;
        c.series[0].points[0].1 = 0.0;
        let e = c.to_svg((400, 300)).unwrap_err().to_string();
        assert!(e.contains("base") && e.contains("log axis"), "{e}");
        let mut c = line(true);
        c.series[0].band.as_mut().unwrap().pop();
        assert!(c
            .to_png((400, 300))
            .unwrap_err()
            .to_string()
            .contains("band"));
        assert!(line(false).to_png((10, 300)).is_err());
    }

    #[test]
    fn log_ticks_read_as_values() {
        assert_eq!(tick(2.0, true), "100");
        assert_eq!(tick(-1.0, true), "0.1");
        assert_eq!(tick(0.5, false), "0.5");
        assert_eq!(tick(1e-6_f64, false), "1.0e-6");
        assert_eq!(log_tick(0.5, 2.0), "", "between decades on a wide log axis");
        assert_eq!(log_tick(1.0, 2.0), "10");
        assert_eq!(
            log_tick(0.5, 1.5),
            "3.162",
            "a narrow axis labels every tick"
        );
        let mut c = line(false);
        c.log_y = true;
        let svg = c.to_svg((400, 300)).unwrap();
        assert!(
            !svg.contains("0.30103"),
            "raw log10 values leaked into the labels"
        );
    }

    #[test]
    fn scatter_draws_every_group_on_top_of_the_last() {
        let chart = ScatterChart {
            title: "embedding".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            groups: vec![
                ScatterGroup {
                    label: "members".into(),
                    points: (0..50).map(|i| (i as f64, (i * i) as f64)).collect(),
                    marker: Marker::Dot,
                    size: 3,
                },
                ScatterGroup {
                    label: "anchor".into(),
                    points: vec![(25.0, 625.0)],
                    marker: Marker::Square,
                    size: 6,
                },
            ],
        };
        let img = decode(&chart.to_png((300, 300)).unwrap());
        assert!(count_colour(&img, palette(0)) > 50);
        // The 13x13 square (plus its legend entry) is drawn in colour 1.
        assert!(
            count_colour(&img, palette(1)) >= 13 * 13,
            "anchor square missing"
        );
        let empty = ScatterChart {
            groups: vec![],
            ..chart
        };
        assert!(empty.to_png((300, 300)).is_err());
    }

    #[test]
    fn bars_start_at_zero_and_carry_error_bars() {
        let chart = BarChart {
            title: "robust accuracy".into(),
            y_label: "accuracy".into(),
            bars: vec![
                Bar {
                    label: "base".into(),
                    value: 0.2,
                    ci: Some((0.1, 0.3)),
                },
                Bar {
                    label: "adv".into(),
                    value: 0.6,
                    ci: None,
                },
            ],
        };
        let img = decode(&chart.to_png((300, 300)).unwrap());
        let (a, b) = (
            count_colour(&img, blend(palette(0))),
            count_colour(&img, blend(palette(1))),
        );
        assert!(a > 0 && b > 0, "bars missing: {a} {b}");
        // Bar areas are proportional to their values (same width, from 0).
        let ratio = b as f64 / a as f64;
        assert!((ratio - 3.0).abs() < 0.3, "area ratio {ratio}, expected 3");
        // Every bar's label is drawn, for any number of bars.
        for n in 1..=12 {
            let bars: Vec<Bar> = (0..n)
                .map(|i| Bar {
                    label: format!("r{i}"),
                    value: 1.0 + i as f64,
                    ci: None,
                })
                .collect();
            let svg = BarChart {
                bars,
                ..chart.clone()
            }
            .to_svg((600, 300))
            .unwrap();
            for i in 0..n {
                assert!(
                    svg.contains(&format!("\nr{i}\n</text>")),
                    "label r{i} of {n} missing"
                );
            }
        }
    }

    /// A palette colour at 80% over white, as the bars are filled.
    fn blend(c: [u8; 3]) -> [u8; 3] {
        c.map(|v| (v as f64 * 0.8 + 255.0 * 0.2).round() as u8)
    }
}
