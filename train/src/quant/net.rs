//! Sequential int8 networks of 1-D convolutions, pooling, activations and dense layers:
//! [`QuantNet`], made by [`quantize_net`], written and read as safetensors.
//!
//! The stages are those of `embedgrad_ops` with the same layouts (a window is `T·C` values,
//! time outer, channels inner). Pooling and a stand-alone relu keep their input's
//! quantization, so they are exact on the codes (max and relu commute with a monotonic
//! quantization; an average is rounded once). Sigmoid and tanh read a 256-entry table made at
//! quantization time, with TensorFlow Lite's fixed output quantizations (`1/256` and `−128`
//! for sigmoid, `1/128` and 0 for tanh).

use super::{accumulator_fits, requantize, QParams};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::Error;
use embedgrad_ops::conv1d::{conv1d_out_len, conv1d_pad_left, Padding};

/// What one stage of a [`QuantNet`] computes, with its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A dense layer `y = x W + b`, `inputs → outputs`.
    Dense {
        /// Input width.
        inputs: usize,
        /// Output width.
        outputs: usize,
    },
    /// `conv1d` (see `embedgrad_ops::conv1d`): `t` steps of `cin` channels to `cout`
    /// channels, `k` taps.
    Conv1d {
        /// Input steps.
        t: usize,
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Taps.
        k: usize,
        /// Stride.
        stride: usize,
        /// Dilation.
        dilation: usize,
        /// Padding.
        padding: Padding,
    },
    /// `depthwise_conv1d`: `t` steps of `c` channels, `k` taps per channel.
    Depthwise {
        /// Input steps.
        t: usize,
        /// Channels.
        c: usize,
        /// Taps.
        k: usize,
        /// Stride.
        stride: usize,
        /// Dilation.
        dilation: usize,
        /// Padding.
        padding: Padding,
    },
    /// `max_pool1d`: the maximum of each window of `window` steps, every `stride` steps.
    MaxPool {
        /// Input steps.
        t: usize,
        /// Channels.
        c: usize,
        /// Steps per window.
        window: usize,
        /// Steps between windows.
        stride: usize,
    },
    /// `avg_pool1d`: the mean of each window.
    AvgPool {
        /// Input steps.
        t: usize,
        /// Channels.
        c: usize,
        /// Steps per window.
        window: usize,
        /// Steps between windows.
        stride: usize,
    },
    /// `global_avg_pool1d`: the mean over all `t` steps of each channel.
    GlobalAvg {
        /// Input steps.
        t: usize,
        /// Channels.
        c: usize,
    },
    /// `relu` on its own (convolutions and dense layers fuse theirs).
    Relu {
        /// Values.
        width: usize,
    },
    /// The logistic sigmoid, element-wise, through a table.
    Sigmoid {
        /// Values.
        width: usize,
    },
    /// `tanh`, element-wise, through a table.
    Tanh {
        /// Values.
        width: usize,
    },
}

/// The geometry of a convolution's or pooling's taps: `(t, tout, stride, dilation, pad)`.
#[derive(Clone, Copy, Debug)]
struct Taps {
    t: usize,
    tout: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
}

impl Taps {
    fn conv(t: usize, k: usize, stride: usize, dilation: usize, padding: Padding) -> Self {
        Taps {
            t,
            tout: conv1d_out_len(t, k, stride, dilation, padding),
            stride,
            dilation,
            pad: conv1d_pad_left(t, k, stride, dilation, padding),
        }
    }

    fn pool(t: usize, window: usize, stride: usize) -> Self {
        Self::conv(t, window, stride, 1, Padding::Valid)
    }

    /// The input step that tap `k` of output step `o` reads, `None` in the padding.
    #[inline]
    fn input(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.pad)
            .filter(|&i| i < self.t)
    }
}

impl Kind {
    /// The dense layer as a convolution of one step: `(t, cin, cout, k, taps)`.
    fn conv_geometry(&self) -> Option<(usize, usize, usize, Taps)> {
        match *self {
            Kind::Dense { inputs, outputs } => {
                Some((inputs, outputs, 1, Taps::conv(1, 1, 1, 1, Padding::Valid)))
            }
            Kind::Conv1d {
                t,
                cin,
                cout,
                k,
                stride,
                dilation,
                padding,
            } => Some((cin, cout, k, Taps::conv(t, k, stride, dilation, padding))),
            _ => None,
        }
    }

    /// Values in.
    pub fn in_len(&self) -> usize {
        match *self {
            Kind::Dense { inputs, .. } => inputs,
            Kind::Conv1d { t, cin, .. } => t * cin,
            Kind::Depthwise { t, c, .. }
            | Kind::MaxPool { t, c, .. }
            | Kind::AvgPool { t, c, .. }
            | Kind::GlobalAvg { t, c } => t * c,
            Kind::Relu { width } | Kind::Sigmoid { width } | Kind::Tanh { width } => width,
        }
    }

    /// Values out (0 for sizes that have no output).
    pub fn out_len(&self) -> usize {
        match *self {
            Kind::Dense { outputs, .. } => outputs,
            Kind::Conv1d {
                t,
                cout,
                k,
                stride,
                dilation,
                padding,
                ..
            } => conv1d_out_len(t, k, stride, dilation, padding) * cout,
            Kind::Depthwise {
                t,
                c,
                k,
                stride,
                dilation,
                padding,
            } => conv1d_out_len(t, k, stride, dilation, padding) * c,
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
            } => Taps::pool(t, window, stride).tout * c,
            Kind::GlobalAvg { c, .. } => c,
            Kind::Relu { width } | Kind::Sigmoid { width } | Kind::Tanh { width } => width,
        }
    }

    /// int8 weights of the stage: `outputs × inputs` (dense), `cout × k × cin` (conv1d),
    /// `c × k` (depthwise), the 256-entry table (sigmoid, tanh), else none.
    pub fn weights(&self) -> usize {
        match *self {
            Kind::Dense { inputs, outputs } => inputs * outputs,
            Kind::Conv1d { cin, cout, k, .. } => k * cin * cout,
            Kind::Depthwise { c, k, .. } => k * c,
            Kind::Sigmoid { .. } | Kind::Tanh { .. } => 256,
            _ => 0,
        }
    }

    /// Output channels with their own weight scale (and an int32 bias, multiplier and shift
    /// each), else 0.
    pub fn channels(&self) -> usize {
        match *self {
            Kind::Dense { outputs, .. } => outputs,
            Kind::Conv1d { cout, .. } => cout,
            Kind::Depthwise { c, .. } => c,
            _ => 0,
        }
    }

    /// Products summed into one accumulator (0 for stages that accumulate none).
    fn fan_in(&self) -> usize {
        match *self {
            Kind::Dense { inputs, .. } => inputs,
            Kind::Conv1d { cin, k, .. } => k * cin,
            Kind::Depthwise { k, .. } => k,
            _ => 0,
        }
    }

    /// Whether the output keeps the input's quantization (pooling, relu).
    fn keeps_quantization(&self) -> bool {
        matches!(
            self,
            Kind::MaxPool { .. }
                | Kind::AvgPool { .. }
                | Kind::GlobalAvg { .. }
                | Kind::Relu { .. }
        )
    }

    /// Whether every size is positive and there is an output.
    fn valid(&self) -> bool {
        let positive = match *self {
            Kind::Conv1d {
                stride,
                dilation,
                k,
                ..
            }
            | Kind::Depthwise {
                stride,
                dilation,
                k,
                ..
            } => stride > 0 && dilation > 0 && k > 0,
            Kind::MaxPool { window, stride, .. } | Kind::AvgPool { window, stride, .. } => {
                window > 0 && stride > 0
            }
            _ => true,
        };
        positive && self.in_len() > 0 && self.out_len() > 0
    }
}

/// One stage of a [`QuantNet`] (borrowed from a [`QuantStorage`](super::QuantStorage) or a weight file).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantStage<'a> {
    /// What it computes.
    pub kind: Kind,
    /// Relu fused after a dense layer or convolution (clamping at the output's zero point).
    pub relu: bool,
    /// The int8 weights ([`Kind::weights`]), each output channel's contiguous, or the table.
    pub weight: &'a [i8],
    /// `q_b`, one per channel, in units of `s_x · s_w[o]`.
    pub bias: &'a [i32],
    /// The requantization multipliers' `m0`, one per channel.
    pub multiplier: &'a [i32],
    /// The requantization multipliers' shifts, one per channel.
    pub shift: &'a [i32],
    /// The input's quantization.
    pub input: QParams,
    /// The output's quantization.
    pub output: QParams,
}

impl QuantStage<'_> {
    /// Whether the slices have the stage's lengths, its accumulator cannot overflow and a
    /// stage that keeps its input's quantization does.
    fn consistent(&self) -> bool {
        let n = self.kind.channels();
        self.kind.valid()
            && self.weight.len() == self.kind.weights()
            && self.bias.len() == n
            && self.multiplier.len() == n
            && self.shift.len() == n
            && accumulator_fits(self.kind.fan_in(), self.bias)
            && self.shift.iter().all(|s| (1..=62).contains(s))
            && self.input.scale > 0.0
            && self.output.scale > 0.0
            && (!self.kind.keeps_quantization() || self.input == self.output)
            && (!self.relu || self.kind.channels() > 0)
    }

    /// `out = stage(x)`, integers only (`x` and `out` of the stage's lengths).
    fn run(&self, x: &[i8], out: &mut [i8]) {
        let (zx, zy) = (i32::from(self.input.zero_point), self.output.zero_point);
        if let Some((cin, cout, k, taps)) = self.kind.conv_geometry() {
            let (cin, fan) = (cin.max(1), (k * cin).max(1));
            let per_channel = self.bias.iter().zip(self.multiplier).zip(self.shift);
            for (o, yo) in out.exact_rows_mut(cout.max(1)).enumerate() {
                let rows = self.weight.exact_rows(fan);
                for ((y, w), ((&b, &m0), &s)) in yo.iter_mut().zip(rows).zip(per_channel.clone()) {
                    let mut acc = b;
                    for (tap, wk) in w.exact_rows(cin).enumerate() {
                        let Some(xs) = taps
                            .input(o, tap)
                            .and_then(|i| x.get(i * cin..(i + 1) * cin))
                        else {
                            continue;
                        };
                        for (&xv, &wv) in xs.iter().zip(wk) {
                            acc =
                                acc.wrapping_add((i32::from(xv) - zx).wrapping_mul(i32::from(wv)));
                        }
                    }
                    *y = requantize(acc, m0, s, zy, self.relu);
                }
            }
            return;
        }
        match self.kind {
            Kind::Depthwise {
                t,
                c,
                k,
                stride,
                dilation,
                padding,
            } => {
                let taps = Taps::conv(t, k, stride, dilation, padding);
                let c = c.max(1);
                let per_channel = self.bias.iter().zip(self.multiplier).zip(self.shift);
                for (o, yo) in out.exact_rows_mut(c).enumerate() {
                    let rows = self.weight.exact_rows(k.max(1));
                    for (ch, ((y, w), ((&b, &m0), &s))) in
                        yo.iter_mut().zip(rows).zip(per_channel.clone()).enumerate()
                    {
                        let mut acc = b;
                        for (tap, &wv) in w.iter().enumerate() {
                            if let Some(&xv) = taps.input(o, tap).and_then(|i| x.get(i * c + ch)) {
                                acc = acc
                                    .wrapping_add((i32::from(xv) - zx).wrapping_mul(i32::from(wv)));
                            }
                        }
                        *y = requantize(acc, m0, s, zy, self.relu);
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
                let max = matches!(self.kind, Kind::MaxPool { .. });
                let c = c.max(1);
                for (o, yo) in out.exact_rows_mut(c).enumerate() {
                    for (ch, y) in yo.iter_mut().enumerate() {
                        let (mut best, mut sum) = (i8::MIN, 0i32);
                        for tap in 0..window {
                            if let Some(&xv) = taps.input(o, tap).and_then(|i| x.get(i * c + ch)) {
                                best = best.max(xv);
                                sum += i32::from(xv) - zx;
                            }
                        }
                        *y = if max {
                            best
                        } else {
                            mean_code(sum, window, zy)
                        };
                    }
                }
            }
            Kind::GlobalAvg { t, c } => {
                for (ch, y) in out.iter_mut().enumerate() {
                    let sum = x
                        .iter()
                        .skip(ch)
                        .step_by(c.max(1))
                        .take(t)
                        .fold(0i32, |s, &v| s + (i32::from(v) - zx));
                    *y = mean_code(sum, t, zy);
                }
            }
            Kind::Relu { .. } => {
                for (y, &v) in out.iter_mut().zip(x) {
                    *y = v.max(zy);
                }
            }
            Kind::Sigmoid { .. } | Kind::Tanh { .. } => {
                for (y, &v) in out.iter_mut().zip(x) {
                    *y = self.weight.get(table_index(v)).copied().unwrap_or(zy);
                }
            }
            Kind::Dense { .. } | Kind::Conv1d { .. } => {}
        }
    }
}

/// The table entry of code `v`: `v + 128`.
#[inline]
fn table_index(v: i8) -> usize {
    usize::from(v.cast_unsigned() ^ 0x80)
}

/// `z + round(sum / n)` (ties away from zero), saturated: the code of a mean when the output
/// keeps the input's quantization.
#[inline]
fn mean_code(sum: i32, n: usize, zero: i8) -> i8 {
    let n = i32::try_from(n).unwrap_or(i32::MAX).max(1);
    let half = n / 2;
    let q = if sum >= 0 {
        (sum + half).checked_div(n).unwrap_or(0)
    } else {
        -(((-sum) + half).checked_div(n).unwrap_or(0))
    };
    (q + i32::from(zero)).clamp(-128, 127) as i8
}

/// A quantized sequential network of `L` stages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantNet<'a, const L: usize> {
    /// The stages, first to last.
    pub stages: [QuantStage<'a>; L],
}

const UNIT: QParams = QParams {
    scale: 1.0,
    zero_point: 0,
};

impl<'a, const L: usize> QuantNet<'a, L> {
    /// The input's quantization (the first stage's).
    pub fn input(&self) -> QParams {
        self.stages.first().map_or(UNIT, |l| l.input)
    }

    /// The output's quantization (the last stage's).
    pub fn output(&self) -> QParams {
        self.stages.last().map_or(UNIT, |l| l.output)
    }

    /// The widest stage input or output: [`QuantNet::infer`] needs twice this in scratch.
    pub fn max_width(&self) -> usize {
        self.stages
            .iter()
            .map(|l| l.kind.in_len().max(l.kind.out_len()))
            .max()
            .unwrap_or(0)
    }

    /// Whether every stage is consistent and each reads what the one before writes, in its
    /// quantization.
    fn chains(&self) -> bool {
        let mut prev: Option<&QuantStage<'_>> = None;
        for s in &self.stages {
            if !s.consistent() {
                return false;
            }
            if let Some(p) = prev {
                if p.kind.out_len() != s.kind.in_len() || p.output != s.input {
                    return false;
                }
            }
            prev = Some(s);
        }
        prev.is_some()
    }

    /// Runs the network on quantized inputs (`x`, quantized with [`QuantNet::input`]) into
    /// `out` (the last stage's codes), integers only, through `scratch` (at least
    /// `2 · max_width()` bytes).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `x`, `out` or `scratch` are not the sizes needed;
    /// [`Error::InvalidArgument`] for an inconsistent model (a model from [`quantize_net`] or
    /// [`QuantNet::from_safetensors`] is consistent).
    pub fn infer(&self, x: &[i8], scratch: &mut [i8], out: &mut [i8]) -> Result<(), Error> {
        let (first, last) = match (self.stages.first(), self.stages.last()) {
            (Some(f), Some(l)) => (f.kind.in_len(), l.kind.out_len()),
            _ => return Err(Error::InvalidArgument),
        };
        let w = self.max_width();
        for (expected, found) in [(first, x.len()), (last, out.len())] {
            if expected != found {
                return Err(Error::LengthMismatch { expected, found });
            }
        }
        if scratch.len() < 2 * w {
            return Err(Error::LengthMismatch {
                expected: 2 * w,
                found: scratch.len(),
            });
        }
        if !self.chains() {
            return Err(Error::InvalidArgument);
        }
        let (a, b) = scratch
            .split_at_mut_checked(w)
            .ok_or(Error::InvalidArgument)?;
        let (mut src, mut dst) = (a, b);
        if let Some(d) = src.get_mut(..x.len()) {
            d.copy_from(x);
        }
        for (k, s) in self.stages.iter().enumerate() {
            let input = src.get(..s.kind.in_len()).unwrap_or(&[]);
            if k + 1 == L {
                s.run(input, out);
            } else {
                s.run(input, dst.get_mut(..s.kind.out_len()).unwrap_or(&mut []));
                core::mem::swap(&mut src, &mut dst);
            }
        }
        Ok(())
    }

    /// Quantizes a float input row and runs the network (see [`QuantNet::infer`]);
    /// `scratch` holds the quantized input too (`x.len() + 2 · max_width()` bytes).
    ///
    /// # Errors
    /// As [`QuantNet::infer`].
    pub fn infer_f32(&self, x: &[f32], scratch: &mut [i8], out: &mut [i8]) -> Result<(), Error> {
        let n = x.len();
        let need = 2 * self.max_width() + n;
        if scratch.len() < need {
            return Err(Error::LengthMismatch {
                expected: need,
                found: scratch.len(),
            });
        }
        let (q, rest) = scratch
            .split_at_mut_checked(n)
            .ok_or(Error::InvalidArgument)?;
        let p = self.input();
        for (d, &v) in q.iter_mut().zip(x) {
            *d = p.quantize(v);
        }
        self.infer(q, rest, out)
    }

    /// The class of a float input row: the index of the largest output code (the first on
    /// ties).
    ///
    /// # Errors
    /// As [`QuantNet::infer_f32`]; `out` holds the codes.
    pub fn classify(&self, x: &[f32], scratch: &mut [i8], out: &mut [i8]) -> Result<usize, Error> {
        self.infer_f32(x, scratch, out)?;
        Ok(argmax_code(out))
    }
}

/// The index of the largest output code (the first on ties): the class (dequantization is
/// monotonic, so it is the float outputs' argmax too).
pub fn argmax_code(out: &[i8]) -> usize {
    let mut best = 0;
    for (i, &v) in out.iter().enumerate() {
        if out.get(best).is_some_and(|&b| v > b) {
            best = i;
        }
    }
    best
}

mod calibrate;
mod file;
pub use calibrate::{quantize_net, storage_sizes, FloatStage};

#[cfg(test)]
mod tests;
