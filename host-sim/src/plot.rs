//! Pictures of a training run as self-contained SVG, drawn with plotters' SVG backend: pure
//! Rust, no system fonts or libraries (text is written as SVG `<text>`, left to the viewer's
//! sans-serif font).
//!
//! A figure has two panels: on the left the data with the learned decision regions (tinted by
//! the model's confidence in the predicted class; class 0 blue and class 1 red as in the
//! tutorial, then further colours for any further class; for the perceptron also its separating
//! line), on the right the loss curve on a log scale. [`Labels`] names the loss and the
//! classes.
//!
//! ```
//! use embedgrad_host_sim::{plot, run};
//! use embedgrad_data::seed::Example;
//! let r = run::train::<f64>(Example::Perceptron, Some(20), |_, _| {})?;
//! let svg = plot::figure(&r);
//! assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
//! assert!(svg.contains("summed cross-entropy"));
//! let labels = plot::Labels {
//!     loss: "mean squared error".into(),
//!     classes: vec!["left".into(), "right".into()],
//! };
//! assert!(plot::figure_with(&r, &labels).contains("mean squared error"));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::run::{Run, View};
use crate::Precision;
use embedgrad_core::Scalar;
use embedgrad_data::seed::Example;
use plotters::coord::Shift;
use plotters::prelude::*;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 520;
/// Class colours, as RGB: class 0 blue, class 1 red (the tutorial's), then Tableau's.
const CLASS_RGB: [(u8, u8, u8); 10] = [
    (31, 95, 191),
    (214, 39, 40),
    (44, 160, 44),
    (255, 127, 14),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];
/// Confidence levels of the region tint.
const LEVELS: f64 = 6.0;
/// plotters' text size for SVG text of `px` pixels (its SVG backend writes size / 1.24).
const fn font(px: u32) -> u32 {
    px * 124 / 100
}

/// What a figure calls the loss and the classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labels {
    /// The loss, as the loss panel's title names it: `loss J (<loss>) per step`.
    pub loss: String,
    /// The classes' names, by index; a class without one is `class <index>`.
    pub classes: Vec<String>,
}

impl Labels {
    /// The seed examples' labels: the summed cross-entropy, and as many classes as the run's
    /// grid (or labels) have, named "class 0", "class 1", ….
    pub fn of<T>(run: &Run<T>) -> Self {
        let from_data = run.data.iter().map(|d| usize::from(d.1) + 1).max();
        let classes = run.grid.as_ref().map(|g| g.classes).or(from_data);
        Self {
            loss: "summed cross-entropy".into(),
            classes: (0..classes.unwrap_or(0))
                .map(|c| format!("class {c}"))
                .collect(),
        }
    }

    fn class(&self, c: usize) -> String {
        self.classes
            .get(c)
            .cloned()
            .unwrap_or_else(|| format!("class {c}"))
    }
}

/// The colour of class `c`.
fn class_colour(c: usize) -> RGBColor {
    let (r, g, b) = CLASS_RGB[c % CLASS_RGB.len()];
    RGBColor(r, g, b)
}

/// The SVG figure of a run, with [`Labels::of`] the run.
pub fn figure<T: Scalar>(run: &Run<T>) -> String {
    figure_with(run, &Labels::of(run))
}

/// The SVG figure of a run: data and decision regions, and the loss curve.
pub fn figure_with<T: Scalar>(run: &Run<T>, labels: &Labels) -> String {
    let mut svg = String::with_capacity(200_000);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        // Drawing into a string fails only on a bad font, and the SVG backend loads none;
        // a failed panel is left out rather than failing the picture.
        let _ = draw(&root, run, labels);
        let _ = root.present();
    }
    svg
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw<T: Scalar>(root: &Area<'_>, run: &Run<T>, labels: &Labels) -> DrawResult {
    root.fill(&WHITE)?;
    let title = format!(
        "{} ({}): final loss {}, training accuracy {:.1}% ({}/{} points)",
        run.example.name(),
        Precision::of::<T>().name(),
        crate::json::number(run.final_loss),
        100.0 * run.accuracy(),
        run.correct,
        run.points
    );
    let body = root.titled(
        &title,
        ("sans-serif", font(17)).into_font().style(FontStyle::Bold),
    )?;
    let (left, right) = body.split_horizontally(510);
    regions_panel(&left, run, labels)?;
    loss_panel(&right, run, labels)
}

fn regions_panel<T>(area: &Area<'_>, run: &Run<T>, labels: &Labels) -> DrawResult {
    let v = run.view;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "data and learned decision regions",
            ("sans-serif", font(13)),
        )
        .margin_top(6)
        .margin_left(20)
        .margin_right(25)
        .margin_bottom(20)
        .x_label_area_size(38)
        .y_label_area_size(50)
        .build_cartesian_2d(v.x0..v.x1, v.y0..v.y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x")
        .y_desc("y")
        .label_style(("sans-serif", font(13)))
        .axis_desc_style(("sans-serif", font(13)))
        .x_labels(7)
        .y_labels(7)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&|y| tick(*y))
        .draw()?;
    if let Some(g) = &run.grid {
        // One rectangle per run of equal tint along a row.
        let (n, cw, ch) = (g.n.max(1), (v.x1 - v.x0), (v.y1 - v.y0));
        let (cw, ch) = (cw / n as f64, ch / n as f64);
        let mut cells = Vec::new();
        for iy in 0..n {
            let tints: Vec<RGBColor> = (0..n).map(|ix| tint(g.cell(iy * n + ix))).collect();
            let mut start = 0;
            while let Some(&colour) = tints.get(start) {
                let end = start
                    + tints
                        .iter()
                        .skip(start)
                        .take_while(|&&c| c == colour)
                        .count();
                let (x, y) = (v.x0 + start as f64 * cw, v.y0 + iy as f64 * ch);
                cells.push(Rectangle::new(
                    [(x, y), (x + (end - start) as f64 * cw, y + ch)],
                    colour.filled(),
                ));
                start = end;
            }
        }
        chart.draw_series(cells)?;
    }
    if run.example == Example::Perceptron {
        if let Some((a, b)) = separating_line(run) {
            chart
                .draw_series(DashedLineSeries::new([a, b], 6, 3, BLACK.stroke_width(2)))?
                .label("separating line")
                .legend(|(x, y)| {
                    // A dash and a half, as the line is drawn.
                    let dash = |a, b| PathElement::new([(a, 0), (b, 0)], BLACK.stroke_width(2));
                    EmptyElement::at((x, y)) + dash(-9, -3) + dash(0, 6)
                });
        }
    }
    let classes = run.data.iter().map(|d| usize::from(d.1) + 1).max();
    for c in 0..classes.unwrap_or(0) {
        let colour = class_colour(c);
        let dot = move |p: (f64, f64)| {
            EmptyElement::at(p)
                + Circle::new((0, 0), 5, WHITE.filled())
                + Circle::new((0, 0), 4, colour.filled())
        };
        let points = run.data.iter().filter(|d| usize::from(d.1) == c);
        chart
            .draw_series(points.map(|([x, y], _)| dot((*x, *y))))?
            .label(labels.class(c))
            .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font(13)))
        .draw()?;
    Ok(())
}

/// The part inside the view of the perceptron's boundary `p0 = p1`:
/// `x (W00 − W01) + y (W10 − W11) + (b0 − b1) = 0`.
fn separating_line<T>(run: &Run<T>) -> Option<((f64, f64), (f64, f64))> {
    let (w, b) = (run.params.first()?, run.params.get(1)?);
    let (&[w00, w01, w10, w11], &[b0, b1]) = (w.get(..4)?, b.get(..2)?) else {
        return None;
    };
    let (a, bb, c) = (w00 - w01, w10 - w11, b0 - b1);
    let norm = (a * a + bb * bb).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return None;
    }
    // The point of the line nearest the view's centre, and the line's direction.
    let v = run.view;
    let (cx, cy) = (0.5 * (v.x0 + v.x1), 0.5 * (v.y0 + v.y1));
    let d = (a * cx + bb * cy + c) / (norm * norm);
    let (fx, fy) = (cx - a * d, cy - bb * d);
    let (dx, dy) = (-bb / norm, a / norm);
    clip(v, (fx, fy), (dx, dy))
}

/// The segment of the line through `p` along `d` that lies in the view (Liang–Barsky).
fn clip(v: View, p: (f64, f64), d: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    for (start, dir, min, max) in [(p.0, d.0, v.x0, v.x1), (p.1, d.1, v.y0, v.y1)] {
        if dir == 0.0 {
            if start < min || start > max {
                return None;
            }
        } else {
            let (t0, t1) = ((min - start) / dir, (max - start) / dir);
            lo = lo.max(t0.min(t1));
            hi = hi.min(t0.max(t1));
        }
    }
    let at = |t: f64| (p.0 + t * d.0, p.1 + t * d.1);
    (lo < hi && lo.is_finite() && hi.is_finite()).then(|| (at(lo), at(hi)))
}

fn loss_panel<T: Scalar>(area: &Area<'_>, run: &Run<T>, labels: &Labels) -> DrawResult {
    let points: Vec<(f64, f64)> = run
        .log
        .iter()
        .map(|&(s, l)| (s as f64, l.to_f64()))
        .filter(|(_, l)| l.is_finite() && *l > 0.0)
        .collect();
    let steps = run.example.steps().max(1) as f64;
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, l)| {
            (lo.min(l), hi.max(l))
        });
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        // 5% of the decades on each side, and at least a tenth of one.
        let pad = 10f64.powf(((hi / lo).log10() * 0.05).max(0.05));
        (lo / pad, hi * pad)
    } else {
        (1.0, 10.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("loss J ({}) per step", labels.loss),
            ("sans-serif", font(13)),
        )
        .margin_top(6)
        .margin_left(10)
        .margin_right(30)
        .margin_bottom(20)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..steps, (lo..hi).log_scale())?;
    // Labels on each decade, and on 2× and 5× when the range spans few decades.
    let narrow = (hi / lo).log10() < 2.5;
    let log_label = move |v: &f64| {
        let mantissa = v / 10f64.powf(v.log10().floor());
        let near = |m: f64| (mantissa - m).abs() < 1e-6 * m;
        if near(1.0) || near(10.0) || (narrow && (near(2.0) || near(5.0))) {
            tick(*v)
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("loss (log scale)")
        .label_style(("sans-serif", font(13)))
        .axis_desc_style(("sans-serif", font(13)))
        .bold_line_style(RGBColor(221, 221, 221))
        .light_line_style(WHITE)
        .x_labels(7)
        .x_label_formatter(&|x| tick(*x))
        .y_label_formatter(&log_label)
        .draw()?;
    let blue = class_colour(0);
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            blue.stroke_width(2),
        ))?
        .label("loss every 10 steps")
        .legend(move |(x, y)| PathElement::new([(x - 8, y), (x + 8, y)], blue.stroke_width(2)));
    let red = class_colour(1);
    chart
        .draw_series(points.last().map(|&p| Circle::new(p, 4, red.filled())))?
        .label("after the last update")
        .legend(move |(x, y)| Circle::new((x, y), 4, red.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font(13)))
        .draw()?;
    Ok(())
}

/// A tick label: whole numbers without a decimal point, others with up to three decimals.
fn tick(v: f64) -> String {
    if v.abs() < 1e-9 {
        "0".into()
    } else if v == v.round() && v.abs() < 1e6 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The region colour for a cell's class probabilities: the predicted class's colour, stronger
/// with the confidence (0 when all classes are equally likely, 1 when one is certain).
fn tint(probs: &[f64]) -> RGBColor {
    if probs.iter().any(|p| !p.is_finite()) {
        return WHITE;
    }
    let best = probs.iter().copied().enumerate().fold(
        None,
        |best: Option<(usize, f64)>, (c, p)| match best {
            Some((_, q)) if q >= p => best,
            _ => Some((c, p)),
        },
    );
    let Some((class, p)) = best else {
        return WHITE;
    };
    let chance = 1.0 / probs.len().max(2) as f64;
    let confidence = ((p - chance) / (1.0 - chance)).clamp(0.0, 1.0);
    let level = (confidence * LEVELS).ceil().clamp(1.0, LEVELS) / LEVELS;
    let strength = 0.12 + 0.33 * level;
    let RGBColor(r, g, b) = class_colour(class);
    let mix = |c: u8| (255.0 + (f64::from(c) - 255.0) * strength).round() as u8;
    RGBColor(mix(r), mix(g), mix(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks() {
        assert_eq!(tick(2000.0), "2000");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(-1.25), "-1.25");
        assert_eq!(tick(-1e-17), "0");
    }

    #[test]
    fn tints() {
        // Undecided points are pale, confident ones stronger; the class decides the hue.
        assert_eq!(tint(&[1.0, 0.0]), tint(&[0.99, 0.01]));
        assert_ne!(tint(&[0.51, 0.49]), tint(&[0.49, 0.51]));
        // 255 + (c − 255)·0.45 for red (214, 39, 40): (236.55, 157.8, 158.25), rounded.
        assert_eq!(tint(&[0.0, 1.0]), RGBColor(0xed, 0x9e, 0x9e));
        // A third class has a colour of its own.
        assert_eq!(
            tint(&[0.1, 0.1, 0.8]).0,
            255 - ((255.0 - 44.0) * 0.395f64).round() as u8
        );
        assert_eq!(tint(&[f64::NAN, 0.5]), WHITE);
    }

    #[test]
    fn the_separating_line_is_clipped_to_the_view() {
        let v = View {
            x0: -1.0,
            x1: 1.0,
            y0: -1.0,
            y1: 1.0,
        };
        assert_eq!(
            clip(v, (0.0, 0.0), (1.0, 0.0)),
            Some(((-1.0, 0.0), (1.0, 0.0)))
        );
        assert_eq!(clip(v, (0.0, 2.0), (1.0, 0.0)), None);
    }
}
