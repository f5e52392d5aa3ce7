//! The digits network in int8 (see [`embedgrad_train::quant`]): quantized after training,
//! calibrated on the training images, for parts without an FPU.
//!
//! ```
//! use embedgrad_data::digits::{self, quantized, Part, Trainer};
//! use embedgrad_ops::prelude::*;
//!
//! const B: usize = digits::BATCH;
//! let mut g: Box<StdGraph<f32, { digits::NODES }, { 297 * B + 4822 }>> = Box::new(StdGraph::new());
//! let mut t: Box<Trainer<f32, B>> = Box::new(Trainer::new(&mut g, &digits::RECIPE)?);
//! for _ in 0..3 {
//!     t.epoch(&mut g, |f| f())?;
//! }
//! let mut storage = quantized::Storage::new();
//! let q = quantized::quantize(&g, t.net(), t.rows(Part::Train), &mut storage)?;
//! let (correct, total) = quantized::evaluate(&q, t.rows(Part::Test))?;
//! assert_eq!(total, 360);
//! assert!(correct as f64 / total as f64 > 0.85);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use super::{dataset, Net, CLASSES, FEATURES, HIDDEN, LABELS, PIXELS};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, Op, Scalar};
use embedgrad_train::quant::{self, FloatLayer, FloatStage, Kind, QParams, QuantMlp};
use embedgrad_train::quant::{QuantNet, QuantStorage};

/// int8 weights of the network: `64 · 32 + 32 · 10`.
pub const WEIGHTS: usize = FEATURES * HIDDEN + HIDDEN * CLASSES;
/// int32 words of the network: a bias, a multiplier and a shift per output.
pub const WORDS: usize = 3 * (HIDDEN + CLASSES);
/// Scratch bytes of an inference: the quantized image and two activations.
pub const SCRATCH: usize = FEATURES + 2 * FEATURES;

/// The integers of a quantized digits network (2,872 bytes).
#[derive(Clone, Debug)]
pub struct Storage {
    /// The weights.
    pub weights: [i8; WEIGHTS],
    /// Biases, multipliers, shifts.
    pub words: [i32; WORDS],
}

impl Default for Storage {
    fn default() -> Self {
        Self::new()
    }
}

impl Storage {
    /// Zeros.
    pub const fn new() -> Self {
        Storage {
            weights: [0; WEIGHTS],
            words: [0; WORDS],
        }
    }
}

/// Quantizes the trained network in `g`, calibrating the activations on the images `rows`.
///
/// # Errors
/// Bad handles (a net of another graph); as [`quant::quantize`].
pub fn quantize<'s, T: Scalar, O: Op<T>, const N: usize, const S: usize, const B: usize>(
    g: &Graph<T, O, N, S>,
    net: &Net<B>,
    rows: &[u16],
    storage: &'s mut Storage,
) -> Result<QuantMlp<'s, 2>, Error> {
    let layers = [
        FloatLayer {
            weight: g.value_slice(net.w1.id())?,
            bias: g.value_slice(net.b1.id())?,
            inputs: FEATURES,
            outputs: HIDDEN,
            relu: true,
        },
        FloatLayer {
            weight: g.value_slice(net.w2.id())?,
            bias: g.value_slice(net.b2.id())?,
            inputs: HIDDEN,
            outputs: CLASSES,
            relu: false,
        },
    ];
    let data = dataset()?;
    let mut scratch = [0.0f64; 2 * FEATURES];
    quant::quantize(
        &layers,
        rows.len(),
        |i, x| {
            let r = rows.get(i).map_or(0, |&r| usize::from(r));
            if data.row_into(r, x).is_err() {
                x.fill(0.0);
            }
        },
        &mut scratch,
        QuantStorage {
            weights: &mut storage.weights,
            words: &mut storage.words,
        },
    )
}

/// Classifies the images `rows` with the int8 network: `(correct, total)`.
///
/// # Errors
/// As [`QuantMlp::classify`].
pub fn evaluate(q: &QuantMlp<'_, 2>, rows: &[u16]) -> Result<(usize, usize), Error> {
    let data = dataset()?;
    let (mut x, mut scratch, mut out) = ([0.0f32; FEATURES], [0i8; SCRATCH], [0i8; CLASSES]);
    let mut correct = 0;
    for &r in rows {
        let r = usize::from(r);
        data.row_into(r, &mut x)?;
        let c = q.classify(&x, &mut scratch, &mut out)?;
        if LABELS.get(r).map(|&l| usize::from(l)) == Some(c) {
            correct += 1;
        }
    }
    Ok((correct, rows.len()))
}

/// The input quantization of [`quantize_pixels`]: the pixels' own steps, `p / 16` as the code
/// `p − 128` (the 17 grey levels exactly).
pub const PIXEL_INPUT: QParams = QParams {
    scale: 1.0 / 16.0,
    zero_point: -128,
};

/// The network's two dense layers as the stages of a [`QuantNet`].
pub const KINDS: [Kind; 2] = [
    Kind::Dense {
        inputs: FEATURES,
        outputs: HIDDEN,
    },
    Kind::Dense {
        inputs: HIDDEN,
        outputs: CLASSES,
    },
];

/// Module indices of the layers in a weight file (PyTorch's `nn.Sequential` positions).
pub const INDEX: [usize; 2] = [0, 2];

/// Scratch bytes of [`classify_pixels`]: the image's codes and two activations.
pub const PIXEL_SCRATCH: usize = FEATURES + 2 * FEATURES;

/// Quantizes the trained network in `g` as a [`QuantNet`] that reads the pixel bytes as
/// they are ([`PIXEL_INPUT`]: no float on the device), calibrating the activations on the
/// images `rows`.
///
/// # Errors
/// Bad handles (a net of another graph); as [`quant::quantize_net`].
pub fn quantize_pixels<'s, T: Scalar, O: Op<T>, const N: usize, const S: usize, const B: usize>(
    g: &Graph<T, O, N, S>,
    net: &Net<B>,
    rows: &[u16],
    storage: &'s mut Storage,
) -> Result<QuantNet<'s, 2>, Error> {
    let [k0, k1] = KINDS;
    let stages = [
        FloatStage {
            kind: k0,
            weight: g.value_slice(net.w1.id())?,
            bias: g.value_slice(net.b1.id())?,
            relu: true,
        },
        FloatStage {
            kind: k1,
            weight: g.value_slice(net.w2.id())?,
            bias: g.value_slice(net.b2.id())?,
            relu: false,
        },
    ];
    let data = dataset()?;
    let mut scratch = [0.0f64; 2 * FEATURES];
    quant::quantize_net(
        &stages,
        rows.len(),
        |i, x| {
            let r = rows.get(i).map_or(0, |&r| usize::from(r));
            if data.row_into(r, x).is_err() {
                x.fill(0.0);
            }
        },
        Some(PIXEL_INPUT),
        &mut scratch,
        QuantStorage {
            weights: &mut storage.weights,
            words: &mut storage.words,
        },
    )
}

/// The class of an image (its 64 pixel bytes, `0..=16`, as in [`PIXELS`]) through a
/// [`quantize_pixels`] network, integers only (`scratch`: [`PIXEL_SCRATCH`] bytes; `out`
/// holds the output codes).
///
/// # Errors
/// As [`QuantNet::infer`] (for an image of the wrong length too).
pub fn classify_pixels(
    q: &QuantNet<'_, 2>,
    pixels: &[u8],
    scratch: &mut [i8],
    out: &mut [i8; CLASSES],
) -> Result<usize, Error> {
    if pixels.len() != FEATURES {
        return Err(Error::LengthMismatch {
            expected: FEATURES,
            found: pixels.len(),
        });
    }
    if scratch.len() < FEATURES {
        return Err(Error::LengthMismatch {
            expected: PIXEL_SCRATCH,
            found: scratch.len(),
        });
    }
    let (x, rest) = scratch.split_at_most_mut(FEATURES);
    for (d, &p) in x.iter_mut().zip(pixels) {
        *d = (i16::from(p) - 128).clamp(-128, 127) as i8;
    }
    q.infer(x, rest, out)?;
    Ok(quant::argmax_code(out))
}

/// Classifies the images `rows` with a [`quantize_pixels`] network: `(correct, total)`.
///
/// # Errors
/// As [`classify_pixels`].
pub fn evaluate_pixels(q: &QuantNet<'_, 2>, rows: &[u16]) -> Result<(usize, usize), Error> {
    let (mut scratch, mut out) = ([0i8; PIXEL_SCRATCH], [0i8; CLASSES]);
    let mut correct = 0;
    for &r in rows {
        let r = usize::from(r);
        let pixels = PIXELS
            .get(r * FEATURES..(r + 1) * FEATURES)
            .ok_or(Error::InvalidArgument)?;
        let c = classify_pixels(q, pixels, &mut scratch, &mut out)?;
        if LABELS.get(r).map(|&l| usize::from(l)) == Some(c) {
            correct += 1;
        }
    }
    Ok((correct, rows.len()))
}
