//! [`QuantNet`]'s safetensors files: the writer and the in-place reader.

use super::{Kind, QuantNet, QuantStage, UNIT};
use crate::quant::file::{find_in, words_le, wrong, ByteWriter};
use crate::quant::QParams;
use crate::safetensors::{self, Dims, Dtype, Problem, RawTensor, SafeTensors, WeightsError};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::Error;

impl<'a, const L: usize> QuantNet<'a, L> {
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
