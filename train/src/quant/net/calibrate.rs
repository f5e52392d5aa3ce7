//! Quantization of a float sequential network: calibration in f64 and the int8 stages.

use super::{Kind, QuantNet, QuantStage, Taps, UNIT};
use crate::quant::{multiplier, QParams, QuantStorage};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Scalar};

/// One float stage to quantize: its kind, and for dense layers and convolutions the graph's
/// weight (`IN × OUT`, `(K·CIN) × COUT`, `K × C`, row-major) and bias.
#[derive(Clone, Copy, Debug)]
pub struct FloatStage<'w, T> {
    /// What it computes.
    pub kind: Kind,
    /// The weight in the graph's layout (empty for stages without one).
    pub weight: &'w [T],
    /// The bias (empty for stages without one).
    pub bias: &'w [T],
    /// Relu fused after a dense layer or convolution.
    pub relu: bool,
}

/// Sizes of what [`quantize_net`] needs for `stages`: `(int8 weights, int32 words, f64
/// scratch)`.
pub fn storage_sizes<T>(stages: &[FloatStage<'_, T>]) -> (usize, usize, usize) {
    let weights = stages.iter().map(|s| s.kind.weights()).sum();
    let words = stages.iter().map(|s| 3 * s.kind.channels()).sum();
    let width = stages
        .iter()
        .map(|s| s.kind.in_len().max(s.kind.out_len()))
        .max()
        .unwrap_or(0);
    (weights, words, 2 * width)
}

/// The float stage on f64 values (calibration).
pub(super) fn float_run<T: Scalar>(s: &FloatStage<'_, T>, x: &[f64], y: &mut [f64]) {
    let w = |i: usize| s.weight.get(i).map_or(0.0, |v| v.to_f64());
    let b = |i: usize| s.bias.get(i).map_or(0.0, |v| v.to_f64());
    if let Some((cin, cout, k, taps)) = s.kind.conv_geometry() {
        for (o, yo) in y.exact_rows_mut(cout.max(1)).enumerate() {
            for (co, yv) in yo.iter_mut().enumerate() {
                let mut acc = b(co);
                for tap in 0..k {
                    let Some(i) = taps.input(o, tap) else {
                        continue;
                    };
                    for ci in 0..cin {
                        let xv = x.get(i * cin + ci).copied().unwrap_or(0.0);
                        acc += xv * w((tap * cin + ci) * cout + co);
                    }
                }
                *yv = if s.relu { acc.max(0.0) } else { acc };
            }
        }
        return;
    }
    match s.kind {
        Kind::Depthwise {
            t,
            c,
            k,
            stride,
            dilation,
            padding,
        } => {
            let taps = Taps::conv(t, k, stride, dilation, padding);
            for (o, yo) in y.exact_rows_mut(c.max(1)).enumerate() {
                for (ch, yv) in yo.iter_mut().enumerate() {
                    let mut acc = b(ch);
                    for tap in 0..k {
                        if let Some(i) = taps.input(o, tap) {
                            acc += x.get(i * c + ch).copied().unwrap_or(0.0) * w(tap * c + ch);
                        }
                    }
                    *yv = if s.relu { acc.max(0.0) } else { acc };
                }
            }
        }
        Kind::MaxPool {
            t,
            c,
            window,
            stride,
        }
        | Kind::AvgPool {
            t,
            c,
            window,
            stride,
        } => {
            let taps = Taps::pool(t, window, stride);
            let max = matches!(s.kind, Kind::MaxPool { .. });
            for (o, yo) in y.exact_rows_mut(c.max(1)).enumerate() {
                for (ch, yv) in yo.iter_mut().enumerate() {
                    let vals = (0..window)
                        .filter_map(|tap| taps.input(o, tap).and_then(|i| x.get(i * c + ch)));
                    *yv = if max {
                        vals.fold(f64::NEG_INFINITY, |m, &v| m.max(v))
                    } else {
                        vals.sum::<f64>() / window as f64
                    };
                }
            }
        }
        Kind::GlobalAvg { t, c } => {
            for (ch, yv) in y.iter_mut().enumerate() {
                let sum: f64 = x.iter().skip(ch).step_by(c.max(1)).take(t).sum();
                *yv = sum / t as f64;
            }
        }
        Kind::Relu { .. } => {
            for (yv, &v) in y.iter_mut().zip(x) {
                *yv = v.max(0.0);
            }
        }
        Kind::Sigmoid { .. } => {
            for (yv, &v) in y.iter_mut().zip(x) {
                *yv = 1.0 / (1.0 + libm::exp(-v));
            }
        }
        Kind::Tanh { .. } => {
            for (yv, &v) in y.iter_mut().zip(x) {
                *yv = libm::tanh(v);
            }
        }
        Kind::Dense { .. } | Kind::Conv1d { .. } => {}
    }
}

/// Quantizes a float sequential network after training: runs it (in f64) on `rows`
/// calibration rows that `row(i, x)` writes into `x` (the first stage's input), records each
/// dense layer's and convolution's output range, and writes the int8 model into `storage`
/// (sizes from [`storage_sizes`], which also gives the f64 `scratch`'s). `input` is the
/// input's quantization when the inputs already are integer codes of a known step (a
/// sensor's raw samples, a data set's bytes: the network then reads them unchanged, with no
/// float on the device), or `None` to calibrate it like the activations.
///
/// # Errors
/// [`Error::LengthMismatch`] for buffers or weights of the wrong size or stages that do not
/// chain; [`Error::InvalidArgument`] for no calibration rows, an invalid stage (a zero size,
/// no output, relu fused into a stage that has no weights), a non-finite weight or
/// activation, or a requantization multiplier outside `(0, 1)`.
pub fn quantize_net<'s, T: Scalar, const L: usize>(
    stages: &[FloatStage<'_, T>; L],
    rows: usize,
    mut row: impl FnMut(usize, &mut [f64]),
    input: Option<QParams>,
    scratch: &mut [f64],
    storage: QuantStorage<'s>,
) -> Result<QuantNet<'s, L>, Error> {
    let (weights, words, width2) = storage_sizes(stages);
    for (found, expected) in [
        (storage.weights.len(), weights),
        (storage.words.len(), words),
        (scratch.len(), width2),
    ] {
        if found != expected {
            return Err(Error::LengthMismatch { expected, found });
        }
    }
    let mut prev = stages.first().map_or(0, |s| s.kind.in_len());
    for s in stages {
        let w = s.kind.fan_in() * s.kind.channels();
        if !s.kind.valid() || (s.relu && s.kind.channels() == 0) {
            return Err(Error::InvalidArgument);
        }
        if s.kind.in_len() != prev || s.weight.len() != w || s.bias.len() != s.kind.channels() {
            return Err(Error::LengthMismatch {
                expected: w,
                found: s.weight.len(),
            });
        }
        prev = s.kind.out_len();
    }
    if rows == 0 {
        return Err(Error::InvalidArgument);
    }
    // Calibration: the range of the input and of each stage's output.
    let mut ranges = [(0.0f64, 0.0f64); L];
    let mut input_range = (0.0f64, 0.0f64);
    let (a, b) = scratch
        .split_at_mut_checked(width2 / 2)
        .ok_or(Error::InvalidArgument)?;
    let first = stages.first().map_or(0, |s| s.kind.in_len());
    for r in 0..rows {
        let x = a.get_mut(..first).unwrap_or(&mut []);
        row(r, x);
        for &v in x.iter() {
            if !v.is_finite() {
                return Err(Error::InvalidArgument);
            }
            input_range = (input_range.0.min(v), input_range.1.max(v));
        }
        let (mut src, mut dst): (&mut [f64], &mut [f64]) = (&mut *a, &mut *b);
        for (s, range) in stages.iter().zip(ranges.iter_mut()) {
            let x = src.get(..s.kind.in_len()).unwrap_or(&[]);
            let y = dst.get_mut(..s.kind.out_len()).unwrap_or(&mut []);
            float_run(s, x, y);
            for &v in y.iter() {
                if !v.is_finite() {
                    return Err(Error::InvalidArgument);
                }
                *range = (range.0.min(v), range.1.max(v));
            }
            core::mem::swap(&mut src, &mut dst);
        }
    }
    // Quantization, stage by stage, into the storage.
    let mut out = [QuantStage {
        kind: Kind::Relu { width: 0 },
        relu: false,
        weight: &[],
        bias: &[],
        multiplier: &[],
        shift: &[],
        input: UNIT,
        output: UNIT,
    }; L];
    let (mut wrest, mut vrest) = (storage.weights, storage.words);
    let mut in_q = input.unwrap_or(QParams::from_range(input_range.0, input_range.1));
    if !(in_q.scale > 0.0 && in_q.scale.is_finite()) {
        return Err(Error::InvalidArgument);
    }
    for ((s, range), q) in stages.iter().zip(&ranges).zip(out.iter_mut()) {
        let n = s.kind.channels();
        let (w, wr) = core::mem::take(&mut wrest)
            .split_at_mut_checked(s.kind.weights())
            .ok_or(Error::InvalidArgument)?;
        let (bias, vr) = core::mem::take(&mut vrest)
            .split_at_mut_checked(n)
            .ok_or(Error::InvalidArgument)?;
        let (mult, vr) = vr.split_at_mut_checked(n).ok_or(Error::InvalidArgument)?;
        let (shift, vr) = vr.split_at_mut_checked(n).ok_or(Error::InvalidArgument)?;
        wrest = wr;
        vrest = vr;
        let out_q = match s.kind {
            k if k.keeps_quantization() => in_q,
            Kind::Sigmoid { .. } => QParams {
                scale: 1.0 / 256.0,
                zero_point: -128,
            },
            Kind::Tanh { .. } => QParams {
                scale: 1.0 / 128.0,
                zero_point: 0,
            },
            _ => QParams::from_range(range.0, range.1),
        };
        if n > 0 {
            quantize_channels(s, in_q, out_q, w, bias, mult, shift)?;
        } else if s.kind.weights() == 256 {
            // The table: the output code of every input code.
            for (code, d) in (-128i16..=127).zip(w.iter_mut()) {
                let x = f64::from(in_q.dequantize(code as i8));
                let y = if matches!(s.kind, Kind::Sigmoid { .. }) {
                    1.0 / (1.0 + libm::exp(-x))
                } else {
                    libm::tanh(x)
                };
                *d = out_q.quantize(y as f32);
            }
        }
        *q = QuantStage {
            kind: s.kind,
            relu: s.relu,
            weight: w,
            bias,
            multiplier: mult,
            shift,
            input: in_q,
            output: out_q,
        };
        if !q.consistent() {
            return Err(Error::InvalidArgument);
        }
        in_q = out_q;
    }
    Ok(QuantNet { stages: out })
}

/// Per-output-channel weights, biases and multipliers of a dense layer or convolution: the
/// graph's `fan × n` weight becomes `n` contiguous rows of `fan` int8 codes.
fn quantize_channels<T: Scalar>(
    s: &FloatStage<'_, T>,
    in_q: QParams,
    out_q: QParams,
    w: &mut [i8],
    bias: &mut [i32],
    mult: &mut [i32],
    shift: &mut [i32],
) -> Result<(), Error> {
    let (fan, n) = (s.kind.fan_in(), s.kind.channels());
    let get = |i: usize| s.weight.get(i).map_or(0.0, |v| v.to_f64());
    for o in 0..n {
        let mut amax = 0.0f64;
        for i in 0..fan {
            let v = get(i * n + o);
            if !v.is_finite() {
                return Err(Error::InvalidArgument);
            }
            amax = amax.max(v.abs());
        }
        let sw = if amax > 0.0 { amax / 127.0 } else { 1.0 };
        for i in 0..fan {
            if let Some(d) = w.get_mut(o * fan + i) {
                *d = libm::round(get(i * n + o) / sw).clamp(-127.0, 127.0) as i8;
            }
        }
        let sx = f64::from(in_q.scale);
        let b = s.bias.get(o).map_or(0.0, |b| b.to_f64());
        let qb = libm::round(b / (sx * sw));
        if qb.is_nan() || qb.abs() > f64::from(i32::MAX / 2) {
            return Err(Error::InvalidArgument);
        }
        let (m0, sh) =
            multiplier(sx * sw / f64::from(out_q.scale)).ok_or(Error::InvalidArgument)?;
        if let (Some(bd), Some(md), Some(sd)) = (bias.get_mut(o), mult.get_mut(o), shift.get_mut(o))
        {
            *bd = qb as i32;
            *md = m0;
            *sd = sh;
        }
    }
    Ok(())
}
