//! Sequential int8 networks of 1-D convolutions, pooling, activations and dense layers:
//! [`QuantNet`], made by [`quantize_net`], written and read as safetensors.
//!
//! The stages are those of `embedgrad_ops` with the same layouts (a window is `T·C` values,
//! time outer, channels inner). Pooling and a stand-alone relu keep their input's
//! quantization, so they are exact on the codes (max and relu commute with a monotonic
//! quantization; an average is rounded once). Sigmoid and tanh read a 256-entry table made at
//! quantization time, with TensorFlow Lite's fixed output quantizations (`1/256` and `−128`
//! for sigmoid, `1/128` and 0 for tanh).

use super::file::{find_in, words_le, wrong, ByteWriter};
use super::{accumulator_fits, multiplier, requantize, QParams, QuantStorage};
use crate::safetensors::{self, Dims, Dtype, Problem, RawTensor, SafeTensors, WeightsError};
use embedgrad_core::{Error, Scalar};
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

/// One stage of a [`QuantNet`] (borrowed from a [`QuantStorage`] or a weight file).
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
            for (o, yo) in out.chunks_exact_mut(cout.max(1)).enumerate() {
                let rows = self.weight.chunks_exact(fan);
                for ((y, w), ((&b, &m0), &s)) in yo.iter_mut().zip(rows).zip(per_channel.clone()) {
                    let mut acc = b;
                    for (tap, wk) in w.chunks_exact(cin).enumerate() {
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
                for (o, yo) in out.chunks_exact_mut(c).enumerate() {
                    let rows = self.weight.chunks_exact(k.max(1));
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
                for (o, yo) in out.chunks_exact_mut(c).enumerate() {
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
        let (a, b) = scratch.split_at_mut(w);
        let (mut src, mut dst) = (a, b);
        if let Some(d) = src.get_mut(..x.len()) {
            d.copy_from_slice(x);
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
        let (q, rest) = scratch.split_at_mut(n);
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

    /// Writes the model as safetensors, stage `k` under the module index `index[k]`:
    /// `{i}.bias`, `{i}.multiplier`, `{i}.shift` (I32, one per channel, for dense layers and
    /// convolutions), `{i}.quant` (F32, every stage: input scale, input zero point, output
    /// scale, output zero point, relu 0/1), then every `{i}.weight` (I8: `OUT × IN`,
    /// `COUT × K × CIN`, `C × K`, or the 256-entry table). Returns the file's length.
    ///
    /// # Errors
    /// As [`safetensors::write_raw`]; [`Problem::BadName`] when a name does not fit 24
    /// bytes; [`Problem::TooManyTensors`] for more than 64 tensors.
    pub fn write(
        &self,
        index: [usize; L],
        sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, WeightsError> {
        const FIELDS: [&str; 5] = ["bias", "multiplier", "shift", "quant", "weight"];
        let mut names = [[[0u8; 24]; 5]; L];
        let mut name_len = [[0usize; 5]; L];
        let mut quant = [[0u8; 20]; L];
        for (k, s) in self.stages.iter().enumerate() {
            let i = index.get(k).copied().unwrap_or(k);
            for (f, field) in FIELDS.iter().enumerate() {
                let (Some(buf), Some(len)) = (
                    names.get_mut(k).and_then(|n| n.get_mut(f)),
                    name_len.get_mut(k).and_then(|n| n.get_mut(f)),
                ) else {
                    continue;
                };
                let mut w = ByteWriter { buf, len: 0 };
                if core::fmt::Write::write_fmt(&mut w, format_args!("{i}.{field}")).is_err() {
                    return Err(WeightsError {
                        problem: Problem::BadName,
                        tensor: safetensors::Name::new(field),
                    });
                }
                *len = w.len;
            }
            let q = [
                s.input.scale,
                f32::from(s.input.zero_point),
                s.output.scale,
                f32::from(s.output.zero_point),
                if s.relu { 1.0 } else { 0.0 },
            ];
            if let Some(dst) = quant.get_mut(k) {
                for (d, v) in dst.chunks_exact_mut(4).zip(q) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        let name = |k: usize, f: usize| -> &str {
            let (Some(b), Some(&n)) = (
                names.get(k).and_then(|n| n.get(f)),
                name_len.get(k).and_then(|n| n.get(f)),
            ) else {
                return "";
            };
            core::str::from_utf8(b.get(..n).unwrap_or(&[])).unwrap_or("")
        };
        let mut tensors = [RawTensor {
            name: "",
            dtype: Dtype::I8,
            dims: Dims::new(&[0]),
            bytes: &[],
        }; 64];
        let n: usize = self
            .stages
            .iter()
            .map(|s| 1 + 3 * usize::from(s.kind.channels() > 0) + usize::from(s.kind.weights() > 0))
            .sum();
        if n > tensors.len() {
            return Err(WeightsError {
                problem: Problem::TooManyTensors { capacity: 64 },
                tensor: safetensors::Name::NONE,
            });
        }
        let mut n = 0;
        for (k, s) in self.stages.iter().enumerate() {
            if s.kind.channels() > 0 {
                for (f, words) in [s.bias, s.multiplier, s.shift].into_iter().enumerate() {
                    if let Some(t) = tensors.get_mut(n) {
                        *t = RawTensor {
                            name: name(k, f),
                            dtype: Dtype::I32,
                            dims: Dims::new(&[s.kind.channels()]),
                            bytes: words_le(words),
                        };
                    }
                    n += 1;
                }
            }
            if let Some(t) = tensors.get_mut(n) {
                *t = RawTensor {
                    name: name(k, 3),
                    dtype: Dtype::F32,
                    dims: Dims::new(&[5]),
                    bytes: quant.get(k).map_or(&[][..], |q| &q[..]),
                };
            }
            n += 1;
        }
        for (k, s) in self.stages.iter().enumerate() {
            if s.kind.weights() == 0 {
                continue;
            }
            if let Some(t) = tensors.get_mut(n) {
                *t = RawTensor {
                    name: name(k, 4),
                    dtype: Dtype::I8,
                    dims: weight_dims(&s.kind),
                    bytes: bytemuck::cast_slice(s.weight),
                };
            }
            n += 1;
        }
        safetensors::write_raw(
            tensors.get(..n).unwrap_or(&[]),
            &[(
                "quantization",
                "int8 per-channel weights, per-tensor activations",
            )],
            sink,
        )
    }

    /// The model of a file [`QuantNet::write`] wrote, its stages of the kinds `kinds` under
    /// the module indices `index`, viewing the file's bytes in place (no copy). The file
    /// must lie 4-byte aligned in memory with its data 8-aligned (as written).
    ///
    /// # Errors
    /// [`Problem::Missing`], [`Problem::WrongShape`] (for the wrong dtype too) with the
    /// tensor's name; [`Problem::ByteLength`] for misaligned integer data; [`Problem::Graph`]
    /// with [`Error::InvalidArgument`] for stages that do not chain or could overflow.
    pub fn from_safetensors<const MAX: usize>(
        st: &SafeTensors<'a, MAX>,
        kinds: [Kind; L],
        index: [usize; L],
    ) -> Result<Self, WeightsError> {
        let mut stages = [QuantStage {
            kind: Kind::Relu { width: 0 },
            relu: false,
            weight: &[],
            bias: &[],
            multiplier: &[],
            shift: &[],
            input: UNIT,
            output: UNIT,
        }; L];
        for ((s, &kind), &i) in stages.iter_mut().zip(&kinds).zip(&index) {
            let mut buf = [0u8; 24];
            let n = kind.channels();
            let ints = |field: &str, buf: &mut [u8; 24]| -> Result<&'a [i32], WeightsError> {
                let t = find_in(st, i, field, buf)?;
                if t.dtype != Dtype::I32 || t.dims.as_slice() != [n as u32] {
                    return Err(wrong(&t, Dims::new(&[n])));
                }
                t.as_i32().ok_or(WeightsError {
                    problem: Problem::ByteLength {
                        expected: 4,
                        found: (t.data.as_ptr() as usize % 4) as u64,
                    },
                    tensor: safetensors::Name::new(t.name),
                })
            };
            let (bias, multiplier, shift) = if n > 0 {
                (
                    ints("bias", &mut buf)?,
                    ints("multiplier", &mut buf)?,
                    ints("shift", &mut buf)?,
                )
            } else {
                (&[][..], &[][..], &[][..])
            };
            let weight = if kind.weights() > 0 {
                let w = find_in(st, i, "weight", &mut buf)?;
                let dims = weight_dims(&kind);
                if w.dtype != Dtype::I8 || w.dims != dims {
                    return Err(wrong(&w, dims));
                }
                w.as_i8().unwrap_or(&[])
            } else {
                &[]
            };
            let q = find_in(st, i, "quant", &mut buf)?;
            if q.dtype != Dtype::F32 || q.dims.as_slice() != [5] {
                return Err(wrong(&q, Dims::new(&[5])));
            }
            let v = |k: usize| q.get(k).unwrap_or(0.0);
            let zp = |x: f64| x.clamp(-128.0, 127.0) as i8;
            *s = QuantStage {
                kind,
                relu: v(4) != 0.0,
                weight,
                bias,
                multiplier,
                shift,
                input: QParams {
                    scale: v(0) as f32,
                    zero_point: zp(v(1)),
                },
                output: QParams {
                    scale: v(2) as f32,
                    zero_point: zp(v(3)),
                },
            };
        }
        let net = QuantNet { stages };
        if !net.chains() {
            return Err(WeightsError {
                problem: Problem::Graph(Error::InvalidArgument),
                tensor: safetensors::Name::NONE,
            });
        }
        Ok(net)
    }
}

/// The shape of a stage's `weight` tensor in a file.
fn weight_dims(kind: &Kind) -> Dims {
    match *kind {
        Kind::Dense { inputs, outputs } => Dims::new(&[outputs, inputs]),
        Kind::Conv1d { cin, cout, k, .. } => Dims::new(&[cout, k, cin]),
        Kind::Depthwise { c, k, .. } => Dims::new(&[c, k]),
        _ => Dims::new(&[kind.weights()]),
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
fn float_run<T: Scalar>(s: &FloatStage<'_, T>, x: &[f64], y: &mut [f64]) {
    let w = |i: usize| s.weight.get(i).map_or(0.0, |v| v.to_f64());
    let b = |i: usize| s.bias.get(i).map_or(0.0, |v| v.to_f64());
    if let Some((cin, cout, k, taps)) = s.kind.conv_geometry() {
        for (o, yo) in y.chunks_exact_mut(cout.max(1)).enumerate() {
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
            for (o, yo) in y.chunks_exact_mut(c.max(1)).enumerate() {
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
            for (o, yo) in y.chunks_exact_mut(c.max(1)).enumerate() {
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
    let (a, b) = scratch.split_at_mut(width2 / 2);
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
        let (w, wr) = core::mem::take(&mut wrest).split_at_mut(s.kind.weights());
        let (bias, vr) = core::mem::take(&mut vrest).split_at_mut(n);
        let (mult, vr) = vr.split_at_mut(n);
        let (shift, vr) = vr.split_at_mut(n);
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

#[cfg(test)]
mod tests;
