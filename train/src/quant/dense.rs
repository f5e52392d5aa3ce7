//! Dense layers in int8: [`QuantMlp`], made by [`quantize`], written and read as safetensors.

use super::file::{find_in, words_le, wrong, ByteWriter};
use super::{accumulator_fits, multiplier, requantize, QParams};
use crate::safetensors::{self, Dims, Dtype, Problem, RawTensor, SafeTensors, WeightsError};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Scalar};

/// One quantized dense layer (borrowed from a [`QuantStorage`] or a weight file).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantLayer<'a> {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Relu after the layer (else the identity).
    pub relu: bool,
    /// `q_w`, `OUT × IN` (PyTorch's layout: each output's weights contiguous).
    pub weight: &'a [i8],
    /// `q_b`, `OUT`, in units of `s_x · s_w[o]`.
    pub bias: &'a [i32],
    /// The requantization multipliers' `m0`, `OUT`.
    pub multiplier: &'a [i32],
    /// The requantization multipliers' shifts, `OUT`.
    pub shift: &'a [i32],
    /// The input's quantization.
    pub input: QParams,
    /// The output's quantization.
    pub output: QParams,
}

impl QuantLayer<'_> {
    /// Whether the slices have the layer's lengths and the accumulator cannot overflow.
    fn consistent(&self) -> bool {
        let n = self.outputs;
        self.inputs > 0
            && n > 0
            && self.weight.len() == self.inputs.saturating_mul(n)
            && self.bias.len() == n
            && self.multiplier.len() == n
            && self.shift.len() == n
            && accumulator_fits(self.inputs, self.bias)
            && self.shift.iter().all(|s| (1..=62).contains(s))
            && self.output.scale > 0.0
            && self.input.scale > 0.0
    }

    /// `out = layer(x)`, integers only.
    fn run(&self, x: &[i8], out: &mut [i8]) {
        let zx = i32::from(self.input.zero_point);
        let rows = self.weight.exact_rows(self.inputs.max(1));
        let per_out = self.bias.iter().zip(self.multiplier).zip(self.shift);
        for ((o, w), ((&b, &m0), &shift)) in out.iter_mut().zip(rows).zip(per_out) {
            let mut acc = b;
            for (&xi, &wi) in x.iter().zip(w) {
                acc = acc.wrapping_add((i32::from(xi) - zx).wrapping_mul(i32::from(wi)));
            }
            *o = requantize(acc, m0, shift, self.output.zero_point, self.relu);
        }
    }
}

/// A quantized network of `L` dense layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantMlp<'a, const L: usize> {
    /// The layers, first to last.
    pub layers: [QuantLayer<'a>; L],
}

impl<'a, const L: usize> QuantMlp<'a, L> {
    /// The input's quantization (the first layer's).
    pub fn input(&self) -> QParams {
        self.layers.first().map_or(
            QParams {
                scale: 1.0,
                zero_point: 0,
            },
            |l| l.input,
        )
    }

    /// The output's quantization (the last layer's).
    pub fn output(&self) -> QParams {
        self.layers.last().map_or(
            QParams {
                scale: 1.0,
                zero_point: 0,
            },
            |l| l.output,
        )
    }

    /// The widest layer input or output: [`QuantMlp::infer`] needs twice this in scratch.
    pub fn max_width(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.inputs.max(l.outputs))
            .max()
            .unwrap_or(0)
    }

    /// Runs the network on quantized inputs (`x`, quantized with [`QuantMlp::input`]) into
    /// `out` (the last layer's codes), integers only, through `scratch` (at least
    /// `2 · max_width()` bytes).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `x`, `out` or `scratch` are not the sizes needed;
    /// [`Error::InvalidArgument`] for an inconsistent model (layers that do not chain, slices
    /// of the wrong length: a model from [`quantize`] or [`QuantMlp::from_safetensors`] is
    /// consistent).
    pub fn infer(&self, x: &[i8], scratch: &mut [i8], out: &mut [i8]) -> Result<(), Error> {
        let w = self.max_width();
        let (first, last) = match (self.layers.first(), self.layers.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(Error::InvalidArgument),
        };
        if x.len() != first.inputs || out.len() != last.outputs {
            return Err(Error::LengthMismatch {
                expected: if x.len() != first.inputs {
                    first.inputs
                } else {
                    last.outputs
                },
                found: if x.len() != first.inputs {
                    x.len()
                } else {
                    out.len()
                },
            });
        }
        if scratch.len() < 2 * w {
            return Err(Error::LengthMismatch {
                expected: 2 * w,
                found: scratch.len(),
            });
        }
        let mut prev = first.inputs;
        for l in &self.layers {
            if !l.consistent() || l.inputs != prev {
                return Err(Error::InvalidArgument);
            }
            prev = l.outputs;
        }
        let (a, b) = scratch
            .split_at_mut_checked(w)
            .ok_or(Error::InvalidArgument)?;
        let (mut src, mut dst) = (a, b);
        if let Some(d) = src.get_mut(..x.len()) {
            d.copy_from(x);
        }
        for (k, l) in self.layers.iter().enumerate() {
            let input = src.get(..l.inputs).unwrap_or(&[]);
            if k + 1 == L {
                l.run(input, out);
            } else {
                l.run(input, dst.get_mut(..l.outputs).unwrap_or(&mut []));
                core::mem::swap(&mut src, &mut dst);
            }
        }
        Ok(())
    }

    /// Quantizes a float input row and runs the network (see [`QuantMlp::infer`]); `scratch`
    /// holds the quantized input too.
    ///
    /// # Errors
    /// As [`QuantMlp::infer`].
    pub fn infer_f32(&self, x: &[f32], scratch: &mut [i8], out: &mut [i8]) -> Result<(), Error> {
        let n = x.len();
        let w = self.max_width();
        if scratch.len() < 2 * w + n {
            return Err(Error::LengthMismatch {
                expected: 2 * w + n,
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
    /// ties; dequantization is monotonic, so it is the float outputs' argmax too).
    ///
    /// # Errors
    /// As [`QuantMlp::infer_f32`]; `out` holds the codes.
    pub fn classify(&self, x: &[f32], scratch: &mut [i8], out: &mut [i8]) -> Result<usize, Error> {
        self.infer_f32(x, scratch, out)?;
        let mut best = 0;
        for (i, &v) in out.iter().enumerate() {
            if out.get(best).is_some_and(|&b| v > b) {
                best = i;
            }
        }
        Ok(best)
    }

    /// Writes the model as safetensors, layer `k` under the module index `index[k]` (the
    /// PyTorch `nn.Sequential` position of its `Linear`): `{i}.bias`, `{i}.multiplier`,
    /// `{i}.shift` (I32, `OUT`), `{i}.quant` (F32: input scale, input zero point, output
    /// scale, output zero point, relu 0/1), then every `{i}.weight` (I8, `OUT × IN`).
    /// Returns the file's length.
    ///
    /// # Errors
    /// As [`safetensors::write_raw`]; [`Problem::BadName`] when a name does not fit 24 bytes.
    pub fn write(
        &self,
        index: [usize; L],
        sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, WeightsError> {
        // Names and the little-endian bytes of the small tensors, built on the stack.
        let mut names = [[[0u8; 24]; 5]; L];
        let mut name_len = [[0usize; 5]; L];
        let mut quant = [[0u8; 20]; L];
        for (k, l) in self.layers.iter().enumerate() {
            let i = index.get(k).copied().unwrap_or(k);
            for (f, field) in ["bias", "multiplier", "shift", "quant", "weight"]
                .iter()
                .enumerate()
            {
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
                l.input.scale,
                f32::from(l.input.zero_point),
                l.output.scale,
                f32::from(l.output.zero_point),
                if l.relu { 1.0 } else { 0.0 },
            ];
            if let Some(dst) = quant.get_mut(k) {
                for (d, v) in dst.exact_rows_mut(4).zip(q) {
                    d.copy_from(&v.to_le_bytes());
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
        }; 40];
        if 5 * L > tensors.len() {
            return Err(WeightsError {
                problem: Problem::TooManyTensors { capacity: 8 },
                tensor: safetensors::Name::NONE,
            });
        }
        let mut n = 0;
        for (k, l) in self.layers.iter().enumerate() {
            for (f, words) in [l.bias, l.multiplier, l.shift].into_iter().enumerate() {
                if let Some(t) = tensors.get_mut(n) {
                    *t = RawTensor {
                        name: name(k, f),
                        dtype: Dtype::I32,
                        dims: Dims::new(&[l.outputs]),
                        bytes: words_le(words),
                    };
                }
                n += 1;
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
        for (k, l) in self.layers.iter().enumerate() {
            if let Some(t) = tensors.get_mut(n) {
                *t = RawTensor {
                    name: name(k, 4),
                    dtype: Dtype::I8,
                    dims: Dims::new(&[l.outputs, l.inputs]),
                    bytes: bytemuck::cast_slice(l.weight),
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

    /// The model of a file [`QuantMlp::write`] wrote, its layers under the module indices
    /// `index`, viewing the file's bytes in place (no copy: a file in flash stays there). The
    /// file must lie 4-byte aligned in memory with its data 8-aligned (as written).
    ///
    /// # Errors
    /// [`Problem::Missing`], [`Problem::WrongShape`] (for the wrong dtype too) with the
    /// tensor's name; [`Problem::ByteLength`] for misaligned integer data; [`Problem::Graph`]
    /// with [`Error::InvalidArgument`] for layers that do not chain or could overflow.
    pub fn from_safetensors<const MAX: usize>(
        st: &SafeTensors<'a, MAX>,
        index: [usize; L],
    ) -> Result<Self, WeightsError> {
        let empty = QuantLayer {
            inputs: 0,
            outputs: 0,
            relu: false,
            weight: &[],
            bias: &[],
            multiplier: &[],
            shift: &[],
            input: QParams {
                scale: 1.0,
                zero_point: 0,
            },
            output: QParams {
                scale: 1.0,
                zero_point: 0,
            },
        };
        let mut layers = [empty; L];
        for (l, &i) in layers.iter_mut().zip(&index) {
            let mut buf = [0u8; 24];
            let w = find_in(st, i, "weight", &mut buf)?;
            let (outputs, inputs) = match w.dims.as_slice() {
                &[o, n] if w.dtype == Dtype::I8 => (o as usize, n as usize),
                _ => return Err(wrong(&w, Dims::new(&[0, 0]))),
            };
            let ints = |field: &str, buf: &mut [u8; 24]| -> Result<&'a [i32], WeightsError> {
                let t = find_in(st, i, field, buf)?;
                if t.dtype != Dtype::I32 || t.dims.as_slice() != [outputs as u32] {
                    return Err(wrong(&t, Dims::new(&[outputs])));
                }
                t.as_i32().ok_or(WeightsError {
                    problem: Problem::ByteLength {
                        expected: 4,
                        found: (t.data.as_ptr() as usize % 4) as u64,
                    },
                    tensor: safetensors::Name::new(t.name),
                })
            };
            let bias = ints("bias", &mut buf)?;
            let multiplier = ints("multiplier", &mut buf)?;
            let shift = ints("shift", &mut buf)?;
            let q = find_in(st, i, "quant", &mut buf)?;
            if q.dtype != Dtype::F32 || q.dims.as_slice() != [5] {
                return Err(wrong(&q, Dims::new(&[5])));
            }
            let v = |k: usize| q.get(k).unwrap_or(0.0);
            let zp = |x: f64| x.clamp(-128.0, 127.0) as i8;
            *l = QuantLayer {
                inputs,
                outputs,
                relu: v(4) != 0.0,
                weight: w.as_i8().unwrap_or(&[]),
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
        let mut prev = layers.first().map_or(0, |l| l.inputs);
        for l in &layers {
            if !l.consistent() || l.inputs != prev {
                return Err(WeightsError {
                    problem: Problem::Graph(Error::InvalidArgument),
                    tensor: safetensors::Name::NONE,
                });
            }
            prev = l.outputs;
        }
        Ok(QuantMlp { layers })
    }
}

/// One float dense layer to quantize: `W` in the graph's `IN × OUT` layout (row-major), `b`.
#[derive(Clone, Copy, Debug)]
pub struct FloatLayer<'w, T> {
    /// `W`, `inputs × outputs`, row-major.
    pub weight: &'w [T],
    /// `b`, `outputs`.
    pub bias: &'w [T],
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Relu after the layer (else the identity).
    pub relu: bool,
}

/// Where [`quantize`] puts the integers: `weights` holds `Σ IN · OUT` bytes, `words`
/// `3 · Σ OUT` int32s (biases, multipliers, shifts).
#[derive(Debug)]
pub struct QuantStorage<'s> {
    /// The int8 weights.
    pub weights: &'s mut [i8],
    /// The int32 biases, multipliers and shifts.
    pub words: &'s mut [i32],
}

/// Quantizes a float network after training: runs it (in f64) on `rows` calibration rows
/// that `row(i, x)` writes into `x` (the first layer's width), records each activation's
/// range, and writes the int8 model into `storage`. `scratch` holds two activations (`2 ·`
/// the widest layer, in f64).
///
/// # Errors
/// [`Error::LengthMismatch`] for buffers of the wrong size or layers that do not chain;
/// [`Error::InvalidArgument`] for no calibration rows, a non-finite weight or activation, or a
/// layer whose requantization multiplier is not in `(0, 1)` or whose accumulator could
/// overflow int32 (more than about 66,000 inputs).
pub fn quantize<'s, T: Scalar, const L: usize>(
    layers: &[FloatLayer<'_, T>; L],
    rows: usize,
    mut row: impl FnMut(usize, &mut [f64]),
    scratch: &mut [f64],
    storage: QuantStorage<'s>,
) -> Result<QuantMlp<'s, L>, Error> {
    let width = layers
        .iter()
        .map(|l| l.inputs.max(l.outputs))
        .max()
        .unwrap_or(0);
    let weights: usize = layers.iter().map(|l| l.inputs * l.outputs).sum();
    let outs: usize = layers.iter().map(|l| l.outputs).sum();
    for (found, expected) in [
        (storage.weights.len(), weights),
        (storage.words.len(), 3 * outs),
        (scratch.len(), 2 * width),
    ] {
        if found != expected {
            return Err(Error::LengthMismatch { expected, found });
        }
    }
    let mut prev = layers.first().map_or(0, |l| l.inputs);
    for l in layers {
        if l.inputs != prev
            || l.weight.len() != l.inputs * l.outputs
            || l.bias.len() != l.outputs
            || l.inputs == 0
            || l.outputs == 0
        {
            return Err(Error::LengthMismatch {
                expected: prev * l.outputs,
                found: l.weight.len(),
            });
        }
        prev = l.outputs;
    }
    if rows == 0 {
        return Err(Error::InvalidArgument);
    }
    // Calibration: the range of the input and of each layer's output.
    let mut ranges = [(0.0f64, 0.0f64); L];
    let mut input_range = (0.0f64, 0.0f64);
    let (a, b) = scratch
        .split_at_mut_checked(width)
        .ok_or(Error::InvalidArgument)?;
    for r in 0..rows {
        let first = layers.first().map_or(0, |l| l.inputs);
        let x = a.get_mut(..first).unwrap_or(&mut []);
        row(r, x);
        for &v in x.iter() {
            if !v.is_finite() {
                return Err(Error::InvalidArgument);
            }
            input_range = (input_range.0.min(v), input_range.1.max(v));
        }
        let (mut src, mut dst): (&mut [f64], &mut [f64]) = (&mut *a, &mut *b);
        for (l, range) in layers.iter().zip(ranges.iter_mut()) {
            let x = src.get(..l.inputs).unwrap_or(&[]);
            let y = dst.get_mut(..l.outputs).unwrap_or(&mut []);
            for (j, yj) in y.iter_mut().enumerate() {
                let mut s = l.bias.get(j).map_or(0.0, |b| b.to_f64());
                for (i, &xi) in x.iter().enumerate() {
                    s += xi * l.weight.get(i * l.outputs + j).map_or(0.0, |w| w.to_f64());
                }
                if l.relu {
                    s = s.max(0.0);
                }
                if !s.is_finite() {
                    return Err(Error::InvalidArgument);
                }
                *range = (range.0.min(s), range.1.max(s));
                *yj = s;
            }
            core::mem::swap(&mut src, &mut dst);
        }
    }
    // Quantization, layer by layer, into the storage.
    let empty = QuantLayer {
        inputs: 0,
        outputs: 0,
        relu: false,
        weight: &[],
        bias: &[],
        multiplier: &[],
        shift: &[],
        input: QParams {
            scale: 1.0,
            zero_point: 0,
        },
        output: QParams {
            scale: 1.0,
            zero_point: 0,
        },
    };
    let mut out = [empty; L];
    let (mut wrest, mut vrest) = (storage.weights, storage.words);
    let mut in_q = QParams::from_range(input_range.0, input_range.1);
    for ((l, range), q) in layers.iter().zip(&ranges).zip(out.iter_mut()) {
        let (w, wr) = core::mem::take(&mut wrest)
            .split_at_mut_checked(l.inputs * l.outputs)
            .ok_or(Error::InvalidArgument)?;
        let (bias, vr) = core::mem::take(&mut vrest)
            .split_at_mut_checked(l.outputs)
            .ok_or(Error::InvalidArgument)?;
        let (mult, vr) = vr
            .split_at_mut_checked(l.outputs)
            .ok_or(Error::InvalidArgument)?;
        let (shift, vr) = vr
            .split_at_mut_checked(l.outputs)
            .ok_or(Error::InvalidArgument)?;
        wrest = wr;
        vrest = vr;
        let out_q = QParams::from_range(range.0, range.1);
        for o in 0..l.outputs {
            let mut amax = 0.0f64;
            for i in 0..l.inputs {
                let v = l.weight.get(i * l.outputs + o).map_or(0.0, |w| w.to_f64());
                if !v.is_finite() {
                    return Err(Error::InvalidArgument);
                }
                amax = amax.max(v.abs());
            }
            let sw = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            for i in 0..l.inputs {
                let v = l.weight.get(i * l.outputs + o).map_or(0.0, |w| w.to_f64());
                if let Some(d) = w.get_mut(o * l.inputs + i) {
                    *d = libm::round(v / sw).clamp(-127.0, 127.0) as i8;
                }
            }
            let sx = f64::from(in_q.scale);
            let b = l.bias.get(o).map_or(0.0, |b| b.to_f64());
            let qb = libm::round(b / (sx * sw));
            if qb.is_nan() || qb.abs() > f64::from(i32::MAX / 2) {
                return Err(Error::InvalidArgument);
            }
            let (m0, s) =
                multiplier(sx * sw / f64::from(out_q.scale)).ok_or(Error::InvalidArgument)?;
            if let (Some(bd), Some(md), Some(sd)) =
                (bias.get_mut(o), mult.get_mut(o), shift.get_mut(o))
            {
                *bd = qb as i32;
                *md = m0;
                *sd = s;
            }
        }
        *q = QuantLayer {
            inputs: l.inputs,
            outputs: l.outputs,
            relu: l.relu,
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
    Ok(QuantMlp { layers: out })
}
