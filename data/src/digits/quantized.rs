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

use super::{dataset, Net, CLASSES, FEATURES, HIDDEN, LABELS};
use embedgrad_core::{Error, Graph, Op, Scalar};
use embedgrad_train::quant::{self, FloatLayer, QuantMlp, QuantStorage};

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
