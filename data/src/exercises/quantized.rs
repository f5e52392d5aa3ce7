//! The exercises CNN in int8 (see [`embedgrad_train::quant`]): quantized after training,
//! calibrated on the training windows — three int8 convolutions with fused relu, two max
//! poolings, a global average and the dense layer, integers only. The network reads the
//! windows' bytes ([`WINDOWS`]) as they are: its input quantization is
//! theirs ([`INPUT`]: step 1/16, zero point 0), so no float is left on the device.
//!
//! ```no_run
//! use embedgrad_data::exercises::{self, models, quantized, Part, Trainer, BATCH, CNN};
//! use embedgrad_ops::prelude::*;
//!
//! let mut g: Box<StdGraph<f32, { models::CNN_NODES }, { exercises::Model::Cnn.planned_scalars() }>> =
//!     Box::new(StdGraph::new());
//! let mut t: Box<Trainer<f32, BATCH, { models::CNN_PARAMETERS }>> =
//!     Box::new(Trainer::new(&mut g, &CNN)?);
//! t.plan(&mut g)?;
//! for _ in 0..CNN.epochs {
//!     t.epoch(&mut g, |f| f())?;
//! }
//! let mut storage = quantized::Storage::new();
//! let q = quantized::quantize(&g, t.net(), t.rows(Part::Train), &mut storage)?;
//! let (correct, total) = quantized::evaluate(&q, t.rows(Part::Test))?;
//! assert_eq!(total, 196);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use super::models::{Conv1, Conv2, Conv3, Pool1, Pool2, CNN_C1, CNN_C2, CNN_FEATURES};
use super::{Net, CHANNELS, CLASSES, FEATURES, LABELS, TABLE, TIMESTEPS, WINDOWS};
use embedgrad_core::{Error, Graph, Op, Scalar};
use embedgrad_ops::conv1d::Padding;
use embedgrad_train::quant::{self, FloatStage, Kind, QParams, QuantNet, QuantStorage};

/// The input's quantization: the windows' own bytes, `raw / 16` (see [`TABLE`]).
pub const INPUT: QParams = QParams {
    scale: 1.0 / 16.0,
    zero_point: 0,
};

/// Stages of the int8 CNN.
pub const STAGES: usize = 7;

/// The stages: conv (relu) → max pool → conv (relu) → max pool → conv (relu) → global
/// average → dense.
pub const KINDS: [Kind; STAGES] = [
    Kind::Conv1d {
        t: TIMESTEPS,
        cin: CHANNELS,
        cout: CNN_C1,
        k: 5,
        stride: 2,
        dilation: 1,
        padding: Padding::Same,
    },
    Kind::MaxPool {
        t: Conv1::T_OUT,
        c: CNN_C1,
        window: 2,
        stride: 2,
    },
    Kind::Conv1d {
        t: Pool1::T_OUT,
        cin: CNN_C1,
        cout: CNN_C2,
        k: 5,
        stride: 1,
        dilation: 1,
        padding: Padding::Same,
    },
    Kind::MaxPool {
        t: Conv2::T_OUT,
        c: CNN_C2,
        window: 2,
        stride: 2,
    },
    Kind::Conv1d {
        t: Pool2::T_OUT,
        cin: CNN_C2,
        cout: CNN_FEATURES,
        k: 3,
        stride: 1,
        dilation: 1,
        padding: Padding::Same,
    },
    Kind::GlobalAvg {
        t: Conv3::T_OUT,
        c: CNN_FEATURES,
    },
    Kind::Dense {
        inputs: CNN_FEATURES,
        outputs: CLASSES,
    },
];

/// The module index of each stage in the weight file (the graph's layer order).
pub const INDEX: [usize; STAGES] = [0, 1, 2, 3, 4, 5, 6];

/// int8 weights: `5·6·16 + 5·16·24 + 3·24·32 + 32·7`.
pub const WEIGHTS: usize = 5 * CHANNELS * CNN_C1
    + 5 * CNN_C1 * CNN_C2
    + 3 * CNN_C2 * CNN_FEATURES
    + CNN_FEATURES * CLASSES;
/// int32 words: a bias, a multiplier and a shift per output channel.
pub const WORDS: usize = 3 * (CNN_C1 + CNN_C2 + CNN_FEATURES + CLASSES);
/// The widest activation (the first convolution's output, `32 · 16`; the input is 384).
pub const WIDTH: usize = Conv1::OUT_COLS;
/// Scratch bytes of an inference: two activations.
pub const SCRATCH: usize = 2 * WIDTH;

/// The integers of a quantized CNN (4,928 bytes of weights and 948 bytes of words).
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

/// Quantizes the trained CNN in `g`, calibrating the activations on the windows `rows`
/// (as recorded, no augmentation).
///
/// # Errors
/// Bad handles (a net of another graph, or the GRU's); as [`quant::quantize_net`].
pub fn quantize<'s, T: Scalar, O: Op<T>, const N: usize, const S: usize, const B: usize>(
    g: &Graph<T, O, N, S>,
    net: &Net<B>,
    rows: &[u16],
    storage: &'s mut Storage,
) -> Result<QuantNet<'s, STAGES>, Error> {
    let [w1, b1, w2, b2, w3, b3, w4, b4] = net.vars;
    let v = |id| g.value_slice(id);
    let none: &[T] = &[];
    let stage = |kind, weight, bias, relu| FloatStage {
        kind,
        weight,
        bias,
        relu,
    };
    let [k0, k1, k2, k3, k4, k5, k6] = KINDS;
    let stages = [
        stage(k0, v(w1)?, v(b1)?, true),
        stage(k1, none, none, false),
        stage(k2, v(w2)?, v(b2)?, true),
        stage(k3, none, none, false),
        stage(k4, v(w3)?, v(b3)?, true),
        stage(k5, none, none, false),
        stage(k6, v(w4)?, v(b4)?, false),
    ];
    let mut scratch = [0.0f64; 2 * WIDTH];
    quant::quantize_net(
        &stages,
        rows.len(),
        |i, x| {
            let r = rows.get(i).map_or(0, |&r| usize::from(r));
            if TABLE.row_into(r, x).is_err() {
                x.fill(0.0);
            }
        },
        Some(INPUT),
        &mut scratch,
        QuantStorage {
            weights: &mut storage.weights,
            words: &mut storage.words,
        },
    )
}

/// Classifies the windows `rows` with the int8 CNN: `(correct, total)`.
///
/// # Errors
/// As [`QuantNet::infer`].
pub fn evaluate(q: &QuantNet<'_, STAGES>, rows: &[u16]) -> Result<(usize, usize), Error> {
    let mut correct = 0;
    predictions(q, rows, |r, class, _| {
        if LABELS.get(r).map(|&l| usize::from(l)) == Some(class) {
            correct += 1;
        }
    })?;
    Ok((correct, rows.len()))
}

/// Classifies the windows `rows`, calling `each(row, class, codes)` for each with the
/// output codes.
///
/// # Errors
/// As [`QuantNet::infer`].
pub fn predictions(
    q: &QuantNet<'_, STAGES>,
    rows: &[u16],
    mut each: impl FnMut(usize, usize, &[i8; CLASSES]),
) -> Result<(), Error> {
    let mut scratch = [0i8; SCRATCH];
    for &r in rows {
        let r = usize::from(r);
        let mut out = [0i8; CLASSES];
        let c = classify(
            q,
            window(r).ok_or(Error::InvalidArgument)?,
            &mut scratch,
            &mut out,
        )?;
        each(r, c, &out);
    }
    Ok(())
}

/// The bytes of window `r` in flash, which the network reads as they are.
pub fn window(r: usize) -> Option<&'static [i8]> {
    WINDOWS.get(r * FEATURES..(r + 1) * FEATURES)
}

/// One window's class through the int8 CNN (`scratch`: [`SCRATCH`] bytes; `out` holds the
/// output codes): integers only.
///
/// # Errors
/// As [`QuantNet::infer`].
pub fn classify(
    q: &QuantNet<'_, STAGES>,
    window: &[i8],
    scratch: &mut [i8],
    out: &mut [i8; CLASSES],
) -> Result<usize, Error> {
    q.infer(window, scratch, out)?;
    Ok(quant::argmax_code(out))
}
