//! Pictures of a training run as self-contained SVG, written by hand: no fonts, image
//! libraries or plotting crates needed (text is left to the viewer's sans-serif font).
//!
//! A figure has two panels: on the left the data with the learned decision regions (tinted by
//! the model's confidence, class 0 blue and class 1 red as in the tutorial; for the perceptron
//! also its separating line), on the right the loss curve on a log scale.
//!
//! ```
//! use embedgrad_host_sim::{plot, run};
//! use embedgrad_data::seed::Example;
//! let r = run::train::<f64>(Example::Perceptron, Some(20), |_, _| {})?;
//! let svg = plot::figure(&r);
//! assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::run::Run;
use crate::Precision;
use embedgrad_core::Scalar;
use embedgrad_data::seed::Example;
use std::fmt::Write as _;

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 520.0;
/// Class colours (class 0 blue, class 1 red), as RGB.
const CLASS_RGB: [[u8; 3]; 2] = [[31, 95, 191], [214, 39, 40]];
/// Confidence levels of the region tint on each side of the boundary.
const LEVELS: f64 = 6.0;

/// A rectangle on the canvas mapping data coordinates to pixels.
#[derive(Clone, Copy)]
struct Panel {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Panel {
    fn px(&self, x: f64) -> f64 {
        self.left + (x - self.x0) / (self.x1 - self.x0) * self.width
    }
    fn py(&self, y: f64) -> f64 {
        self.top + self.height - (y - self.y0) / (self.y1 - self.y0) * self.height
    }
    fn frame(&self, svg: &mut String) {
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#333" stroke-width="1"/>"##,
            self.left, self.top, self.width, self.height
        );
    }
}

/// The SVG figure of a run: data and decision regions, and the loss curve.
pub fn figure<T: Scalar>(run: &Run<T>) -> String {
    let precision = Precision::of::<T>();
    let mut svg = String::with_capacity(200_000);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="13">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!(
        "{} ({}): final loss {}, training accuracy {:.1}% ({}/{} points)",
        run.example.name(),
        precision.name(),
        crate::json::number(run.final_loss),
        100.0 * run.accuracy(),
        run.correct,
        run.points
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="28" text-anchor="middle" font-size="17" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(&title)
    );
    regions_panel(&mut svg, run);
    loss_panel(&mut svg, run);
    svg.push_str("</svg>\n");
    svg
}

fn regions_panel<T: Scalar>(svg: &mut String, run: &Run<T>) {
    let (x0, x1, y0, y1) = match &run.grid {
        Some(g) => (g.x0, g.x1, g.y0, g.y1),
        None => bounds(&run.data),
    };
    let p = Panel {
        left: 70.0,
        top: 60.0,
        width: 400.0,
        height: 400.0,
        x0,
        x1,
        y0,
        y1,
    };
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="52" text-anchor="middle">data and learned decision regions</text>"#,
        p.left + p.width / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<clipPath id="data-area"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/></clipPath>"#,
        p.left, p.top, p.width, p.height
    );
    let _ = writeln!(svg, r#"<g clip-path="url(#data-area)">"#);
    if let Some(g) = &run.grid {
        let _ = writeln!(svg, r#"<g shape-rendering="crispEdges">"#);
        let n = g.n.max(1);
        let cw = p.width / n as f64;
        let ch = p.height / n as f64;
        // One rectangle per run of equal tint along a row.
        for (iy, row) in g.p1.chunks(n).enumerate() {
            let mut start = 0;
            while start < row.len() {
                let tint = tint(row.get(start).copied().unwrap_or(0.5));
                let mut end = start + 1;
                while end < row.len() && tint_of(row, end) == tint {
                    end += 1;
                }
                let _ = writeln!(
                    svg,
                    r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"/>"#,
                    p.left + start as f64 * cw,
                    p.top + p.height - (iy + 1) as f64 * ch,
                    (end - start) as f64 * cw + 0.3,
                    ch + 0.3,
                    tint
                );
                start = end;
            }
        }
        let _ = writeln!(svg, "</g>");
    }
    if run.example == Example::Perceptron {
        separating_line(svg, run, &p);
    }
    for ([x, y], class) in &run.data {
        let rgb = CLASS_RGB.get(*class as usize).copied().unwrap_or([0, 0, 0]);
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.2}" cy="{:.2}" r="3.6" fill="{}" stroke="white" stroke-width="0.8"/>"#,
            p.px(*x),
            p.py(*y),
            hex(rgb)
        );
    }
    let _ = writeln!(svg, "</g>");
    p.frame(svg);
    for t in nice_ticks(x0, x1, 6) {
        tick_x(svg, &p, t, &fmt_tick(t));
    }
    for t in nice_ticks(y0, y1, 6) {
        tick_y(svg, &p, t, &fmt_tick(t));
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">x</text>"#,
        p.left + p.width / 2.0,
        p.top + p.height + 38.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">y</text>"#,
        p.left - 45.0,
        p.top + p.height / 2.0
    );
    // Legend.
    let ly = p.top + p.height + 58.0;
    let legend: [(&str, [u8; 3]); 2] = [
        ("class 0 (blue)", CLASS_RGB[0]),
        ("class 1 (red)", CLASS_RGB[1]),
    ];
    for (k, (label, rgb)) in legend.into_iter().enumerate() {
        let lx = p.left + 10.0 + k as f64 * 140.0;
        let _ = writeln!(
            svg,
            r#"<circle cx="{lx:.1}" cy="{:.1}" r="4.5" fill="{}"/><text x="{:.1}" y="{:.1}">{label}</text>"#,
            ly - 4.0,
            hex(rgb),
            lx + 9.0,
            ly
        );
    }
    if run.example == Example::Perceptron {
        let lx = p.left + 290.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black" stroke-width="2" stroke-dasharray="6 3"/><text x="{:.1}" y="{ly:.1}">separating line</text>"#,
            ly - 4.0,
            lx + 18.0,
            ly - 4.0,
            lx + 23.0
        );
    }
}

/// The perceptron's boundary `p0 = p1`: `x (W00 − W01) + y (W10 − W11) + (b0 − b1) = 0`.
fn separating_line<T>(svg: &mut String, run: &Run<T>, p: &Panel) {
    let (Some(w), Some(b)) = (run.params.first(), run.params.get(1)) else {
        return;
    };
    let (Some(&[w00, w01, w10, w11]), Some(&[b0, b1])) = (w.get(..4), b.get(..2)) else {
        return;
    };
    let (a, bb, c) = (w00 - w01, w10 - w11, b0 - b1);
    let span = (p.x1 - p.x0).max(p.y1 - p.y0) * 4.0;
    let norm = (a * a + bb * bb).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return;
    }
    // The point of the line nearest the view's centre, and the line's direction.
    let (cx, cy) = (0.5 * (p.x0 + p.x1), 0.5 * (p.y0 + p.y1));
    let d = (a * cx + bb * cy + c) / (norm * norm);
    let (fx, fy) = (cx - a * d, cy - bb * d);
    let (dx, dy) = (-bb / norm, a / norm);
    let _ = writeln!(
        svg,
        r#"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="black" stroke-width="2" stroke-dasharray="6 3"/>"#,
        p.px(fx - span * dx),
        p.py(fy - span * dy),
        p.px(fx + span * dx),
        p.py(fy + span * dy)
    );
}

fn loss_panel<T: Scalar>(svg: &mut String, run: &Run<T>) {
    let points: Vec<(f64, f64)> = run
        .log
        .iter()
        .map(|&(s, l)| (s as f64, l.to_f64()))
        .filter(|(_, l)| l.is_finite() && *l > 0.0)
        .collect();
    let steps = run.example.steps() as f64;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(_, l) in &points {
        lo = lo.min(l.log10());
        hi = hi.max(l.log10());
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(0.05);
    let p = Panel {
        left: 590.0,
        top: 60.0,
        width: 370.0,
        height: 400.0,
        x0: 0.0,
        x1: steps.max(1.0),
        y0: lo - pad,
        y1: hi + pad,
    };
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="52" text-anchor="middle">loss J (summed cross-entropy) per step</text>"#,
        p.left + p.width / 2.0
    );
    // Log-scale grid: each decade, with 2× and 5× when the range is narrow.
    let mults: &[f64] = if p.y1 - p.y0 < 2.5 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut decade = p.y0.floor() as i32;
    while f64::from(decade) <= p.y1 {
        for &m in mults {
            let v = m * 10f64.powi(decade);
            let lv = v.log10();
            if lv >= p.y0 && lv <= p.y1 {
                let y = p.py(lv);
                let _ = writeln!(
                    svg,
                    r##"<line x1="{:.1}" y1="{y:.2}" x2="{:.1}" y2="{y:.2}" stroke="#ddd"/>"##,
                    p.left,
                    p.left + p.width
                );
                tick_y(svg, &p, lv, &fmt_tick(v));
            }
        }
        decade += 1;
    }
    for t in nice_ticks(0.0, steps, 6) {
        tick_x(svg, &p, t, &fmt_tick(t));
    }
    let mut path = String::new();
    for (k, &(s, l)) in points.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.2},{:.2}",
            if k == 0 { "M" } else { " L" },
            p.px(s),
            p.py(l.log10())
        );
    }
    let _ = writeln!(
        svg,
        r##"<path d="{path}" fill="none" stroke="#1f5fbf" stroke-width="1.8"/>"##
    );
    if let Some(&(s, l)) = points.last() {
        let _ = writeln!(
            svg,
            r##"<circle cx="{:.2}" cy="{:.2}" r="3.5" fill="#d62728"/>"##,
            p.px(s),
            p.py(l.log10())
        );
    }
    p.frame(svg);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">step</text>"#,
        p.left + p.width / 2.0,
        p.top + p.height + 38.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">loss every 10 steps (log scale); red dot: after the last update</text>"#,
        p.left + p.width / 2.0,
        p.top + p.height + 58.0
    );
}

fn tick_x(svg: &mut String, p: &Panel, v: f64, label: &str) {
    let x = p.px(v);
    let y = p.top + p.height;
    let _ = writeln!(
        svg,
        r##"<line x1="{x:.2}" y1="{y:.1}" x2="{x:.2}" y2="{:.1}" stroke="#333"/><text x="{x:.2}" y="{:.1}" text-anchor="middle">{}</text>"##,
        y + 5.0,
        y + 19.0,
        escape(label)
    );
}

fn tick_y(svg: &mut String, p: &Panel, v: f64, label: &str) {
    let y = p.py(v);
    let _ = writeln!(
        svg,
        r##"<line x1="{:.1}" y1="{y:.2}" x2="{:.1}" y2="{y:.2}" stroke="#333"/><text x="{:.1}" y="{:.2}" text-anchor="end">{}</text>"##,
        p.left - 5.0,
        p.left,
        p.left - 8.0,
        y + 4.5,
        escape(label)
    );
}

/// Round tick values (1, 2 or 5 × 10^k apart) inside `[lo, hi]`.
fn nice_ticks(lo: f64, hi: f64, approx: usize) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return Vec::new();
    }
    let raw = span / approx.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 100 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v == v.round() && v.abs() < 1e6 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn bounds(data: &[([f64; 2], u8)]) -> (f64, f64, f64, f64) {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for (p, _) in data {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    if !lo[0].is_finite() || !hi[0].is_finite() {
        return (-1.0, 1.0, -1.0, 1.0);
    }
    let half = 0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-9) * 1.12;
    let (cx, cy) = (0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]));
    (cx - half, cx + half, cy - half, cy + half)
}

fn tint_of(row: &[f64], i: usize) -> String {
    tint(row.get(i).copied().unwrap_or(0.5))
}

/// The region colour for `p(class 1)`: the predicted class's colour, stronger with confidence.
fn tint(p1: f64) -> String {
    if !p1.is_finite() {
        return "#ffffff".to_string();
    }
    let class = usize::from(p1 >= 0.5);
    let confidence = (2.0 * p1 - 1.0).abs();
    let level = (confidence * LEVELS).ceil().clamp(1.0, LEVELS) / LEVELS;
    let strength = 0.12 + 0.33 * level;
    let rgb = CLASS_RGB.get(class).copied().unwrap_or([0, 0, 0]);
    let mix = |c: u8| (255.0 + (f64::from(c) - 255.0) * strength).round() as u8;
    hex([mix(rgb[0]), mix(rgb[1]), mix(rgb[2])])
}

fn hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(-1.3, 1.3, 6), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert!(nice_ticks(1.0, 1.0, 5).is_empty());
        assert_eq!(fmt_tick(2000.0), "2000");
        assert_eq!(fmt_tick(0.5), "0.5");
    }

    #[test]
    fn tints() {
        // Undecided points are pale, confident ones stronger; the class decides the hue.
        assert_eq!(tint(0.0), tint(0.01));
        assert_ne!(tint(0.49), tint(0.51));
        // 255 + (c − 255)·0.45 for red (214, 39, 40): (236.55, 157.8, 158.25), rounded.
        assert_eq!(tint(1.0), "#ed9e9e");
    }
}
