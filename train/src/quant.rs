//! int8 inference: post-training quantization of a trained network — dense layers, 1-D
//! convolutions (and depthwise ones), max, average and global average pooling, relu, sigmoid
//! and tanh — and an integer-only forward pass for parts without an FPU.
//!
//! **Scheme** (the one TensorFlow Lite Micro and CMSIS-NN use):
//!
//! - weights are symmetric int8 *per output channel*: `w ≈ s_w[o] · q_w`, `s_w[o] =
//!   max|w[·, o]| / 127`, `q_w ∈ [−127, 127]`;
//! - activations are asymmetric int8 *per tensor*: `x ≈ s · (q − z)`, with the scale `s` and
//!   zero point `z` calibrated from the ranges the float model's activations take on training
//!   data (every range is widened to include 0, so that 0 and relu are exact);
//! - biases are int32 in units of `s_x · s_w[o]`;
//! - a layer accumulates `acc = q_b[o] + Σ_i (q_x[i] − z_x) · q_w[o, i]` in int32 and
//!   requantizes `q_y = z_y + round(acc · M[o])`, `M[o] = s_x · s_w[o] / s_y`, as a fixed-point
//!   multiplier `m0 · 2^−n` (`m0 ∈ [2^30, 2^31)`; one 32 × 32 → 64-bit product and a shift, no
//!   float); relu clamps at `z_y`; the result saturates to `[−128, 127]`.
//!
//! The quantized model is a [`QuantMlp`] of borrowed slices: made by [`quantize`] into caller
//! buffers, written as safetensors by [`QuantMlp::write`] (int32 tensors first, so that each
//! is 4-byte aligned in a file whose data is 8-aligned), and read back in place, from flash,
//! by [`QuantMlp::from_safetensors`].
//!
//! Networks with convolutions and pooling are a [`QuantNet`] of [`QuantStage`]s, each of a
//! [`Kind`] with the graph ops' layouts, made by [`quantize_net`] from [`FloatStage`]s: the
//! same scheme for the weights (per output channel of a convolution), while pooling and a
//! stand-alone relu keep their input's quantization (exact on the codes: the maximum, or one
//! rounded mean), and sigmoid and tanh read a 256-entry table of output codes made at
//! quantization time (with TensorFlow Lite's output quantizations).
//!
//! ```
//! use embedgrad_train::quant::{self, FloatLayer, QuantStorage};
//!
//! // y = relu(x W1 + b1) W2 + b2, W in the graph's IN × OUT layout.
//! let w1 = [0.5f32, -1.0, 0.25, 1.0, 0.75, -0.5]; // 2 × 3
//! let b1 = [0.1f32, 0.0, -0.1];
//! let w2 = [1.0f32, -1.0, 0.5, 0.5, -0.25, 1.0]; // 3 × 2
//! let b2 = [0.0f32, 0.2];
//! let layers = [
//!     FloatLayer { weight: &w1[..], bias: &b1[..], inputs: 2, outputs: 3, relu: true },
//!     FloatLayer { weight: &w2[..], bias: &b2[..], inputs: 3, outputs: 2, relu: false },
//! ];
//! let rows = [[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]];
//! let (mut weights, mut words) = ([0i8; 12], [0i32; 15]);
//! let mut scratch = [0.0f64; 6];
//! let q = quant::quantize(&layers, rows.len(), |i, x| {
//!     for (d, s) in x.iter_mut().zip(&rows[i]) { *d = f64::from(*s); }
//! }, &mut scratch, QuantStorage { weights: &mut weights, words: &mut words })?;
//! let mut buf = [0i8; 8]; // the quantized input (2) and two activations (2 · 3)
//! for row in &rows {
//!     let mut out = [0i8; 2];
//!     q.infer_f32(row, &mut buf, &mut out)?;
//!     let y = q.output().dequantize_all(&out);
//!     // The float network for comparison.
//!     let h: Vec<f32> = (0..3).map(|j| (row[0] * w1[j] + row[1] * w1[3 + j] + b1[j]).max(0.0)).collect();
//!     for o in 0..2 {
//!         let want = h[0] * w2[o] + h[1] * w2[2 + o] + h[2] * w2[4 + o] + b2[o];
//!         assert!((y[o] - want).abs() < 0.03, "{y:?} {want}");
//!     }
//! }
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

/// An int8 tensor's quantization: `real = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QParams {
    /// The step between two codes.
    pub scale: f32,
    /// The code of 0.
    pub zero_point: i8,
}

impl QParams {
    /// The asymmetric int8 quantization of `[min, max]` widened to include 0 (a zero-width
    /// range gets scale 1).
    pub fn from_range(min: f64, max: f64) -> Self {
        let (lo, hi) = (min.min(0.0), max.max(0.0));
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let z = libm::round(-128.0 - lo / scale).clamp(-128.0, 127.0);
        QParams {
            scale: scale as f32,
            zero_point: z as i8,
        }
    }

    /// The code of `x`, rounded to nearest and saturated.
    pub fn quantize(&self, x: f32) -> i8 {
        let q = libm::roundf(x / self.scale) + f32::from(self.zero_point);
        q.clamp(-128.0, 127.0) as i8
    }

    /// The value of code `q`.
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (f32::from(q) - f32::from(self.zero_point))
    }

    /// The values of up to 16 codes (a classifier's outputs, say).
    pub fn dequantize_all<const N: usize>(&self, q: &[i8; N]) -> [f32; N] {
        q.map(|v| self.dequantize(v))
    }
}

/// A requantization multiplier `m0 · 2^−shift` for a real multiplier in `(0, 1)` (the only
/// kind a layer needs: `s_x s_w / s_y` is far below 1 for any trained layer; larger ones are
/// refused by [`quantize`]).
pub(crate) fn multiplier(m: f64) -> Option<(i32, i32)> {
    if !(m > 0.0 && m < 1.0) {
        return None;
    }
    let (mut v, mut shift) = (m, 0i32);
    while v < (1u64 << 30) as f64 {
        v *= 2.0;
        shift += 1;
        if shift > 62 {
            return None;
        }
    }
    let mut m0 = libm::round(v) as i64;
    if m0 == 1i64 << 31 {
        m0 >>= 1;
        shift -= 1;
    }
    Some((m0 as i32, shift))
}

/// `z + round(acc · m0 · 2^−shift)` saturated to int8, with relu clamping at `z`.
#[inline]
pub(crate) fn requantize(acc: i32, m0: i32, shift: i32, zero: i8, relu: bool) -> i8 {
    let s = shift.clamp(1, 62) as u32;
    let prod = i64::from(acc) * i64::from(m0);
    let scaled = (prod + (1i64 << (s - 1))) >> s;
    let mut y = scaled + i64::from(zero);
    if relu && y < i64::from(zero) {
        y = i64::from(zero);
    }
    y.clamp(-128, 127) as i8
}

/// Whether `Σ 255 · 127` over `inputs` terms plus any bias stays inside int32.
pub(crate) fn accumulator_fits(inputs: usize, bias: &[i32]) -> bool {
    let worst = (inputs as i64) * 255 * 127;
    let b = bias.iter().map(|b| i64::from(*b).abs()).max().unwrap_or(0);
    worst + b <= i64::from(i32::MAX)
}

mod dense;
mod file;
mod net;
pub use dense::{quantize, FloatLayer, QuantLayer, QuantMlp, QuantStorage};
pub use net::{argmax_code, quantize_net, storage_sizes, FloatStage, Kind, QuantNet, QuantStage};

#[cfg(test)]
mod tests;
