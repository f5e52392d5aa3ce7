//! The two networks for the exercise windows: a small 1-D CNN and a GRU classifier, each a
//! builder of ordinary graph nodes whose exact capacity is a `const fn` of the batch size.
//!
//! Both read `x`, a batch of `B` windows as `B × (64·6)` (time-major, as [`TABLE`] decodes
//! them), and the labels `y` (`B × 1`), and end in 7 logits and the summed
//! `sparse_softmax_cross_entropy`.
//!
//! **CNN** ([`Model::Cnn`], [`CNN_PARAMETERS`] = 5,007 trainable scalars):
//!
//! ```text
//! x (B × 64·6) → conv1d 6→16, k 5, stride 2, same → relu   (32 steps × 16)
//!              → max_pool1d 2                              (16 steps × 16)
//!              → conv1d 16→24, k 5, same → relu            (16 steps × 24)
//!              → max_pool1d 2                              (8 steps × 24)
//!              → conv1d 24→32, k 3, same → relu            (8 steps × 32)
//!              → global_avg_pool1d                         (32)
//!              → dense 32→7                                (logits)
//! ```
//!
//! **GRU** ([`Model::Gru`], [`GRU_PARAMETERS`] = 1,271):
//!
//! ```text
//! x (B × 64·6) → avg_pool1d 2       (32 steps × 6: 12.5 Hz)
//!              → gru, 16 units      (32 steps × 16)
//!              → last_step          (h_32, 16)
//!              → dense 16→7         (logits)
//! ```
//!
//! Weights are drawn from the generator in the order of the layers: He-uniform for the
//! convolutions (before a relu; fan-in `k·c_in`), Xavier-uniform for the GRU's input and
//! hidden weights and for the dense layers; biases 0.
//!
//! [`TABLE`]: super::TABLE

use super::{CHANNELS, CLASSES, FEATURES, TIMESTEPS};
use embedgrad_core::{Error, Graph, NodeId, Op, Scalar, Shape, Tensor};
use embedgrad_ops::avg_pool1d::AvgPool1dExt;
use embedgrad_ops::conv1d::Conv1dSpec;
use embedgrad_ops::gru::GruSpec;
use embedgrad_ops::max_pool1d::Pool1dSpec;
use embedgrad_ops::prelude::*;
use embedgrad_ops::StdOp;
use embedgrad_train::init::Init;
use embedgrad_train::SplitMix64;

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Model {
    /// The 1-D CNN (see the [module docs](self)).
    Cnn,
    /// The GRU classifier.
    Gru,
}

impl Model {
    /// `"cnn"` or `"gru"`.
    pub const fn name(self) -> &'static str {
        match self {
            Model::Cnn => "cnn",
            Model::Gru => "gru",
        }
    }

    /// The model of a [`Model::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Model::Cnn, Model::Gru]
            .into_iter()
            .find(|m| m.name() == name)
    }

    /// Trainable scalars.
    pub const fn parameters(self) -> usize {
        match self {
            Model::Cnn => CNN_PARAMETERS,
            Model::Gru => GRU_PARAMETERS,
        }
    }

    /// Nodes of the graph the model's builder makes.
    pub const fn nodes(self) -> usize {
        match self {
            Model::Cnn => CNN_NODES,
            Model::Gru => GRU_NODES,
        }
    }

    /// Scalars of the planned training step for [`BATCH`](super::BATCH)-row batches, the
    /// logits kept ([`Trainer::plan`](super::Trainer::plan)): what a firmware's graph
    /// declares. The planner's own number, checked by the tests (the firmware checks it
    /// again at run time).
    pub const fn planned_scalars(self) -> usize {
        match self {
            Model::Cnn => 63_504,
            Model::Gru => 28_152,
        }
    }

    /// `(nodes, scalars)` of the graph for mini-batches of `b` rows, unplanned (the plan
    /// needs less: [`super::Trainer::plan`]).
    pub const fn capacity(self, b: usize) -> (usize, usize) {
        match self {
            Model::Cnn => cnn_capacity(b),
            Model::Gru => gru_capacity(b),
        }
    }
}

/// Channels of the CNN's first convolution.
pub const CNN_C1: usize = 16;
/// Channels of the CNN's second convolution.
pub const CNN_C2: usize = 24;
/// Channels of the CNN's third convolution, which its dense layer reads (the global
/// average of each).
pub const CNN_FEATURES: usize = 32;
/// The CNN's first convolution: 64 steps × 6 channels → 32 steps × 16 (kernel 5, stride 2,
/// same padding).
pub type Conv1 = Conv1dSpec<TIMESTEPS, CHANNELS, CNN_C1, 5, 2, 1, true>;
/// The CNN's first pooling: 32 × 16 → 16 × 16.
pub type Pool1 = Pool1dSpec<{ Conv1::T_OUT }, CNN_C1, 2>;
/// The CNN's second convolution: 16 × 16 → 16 × 24 (kernel 5, same padding).
pub type Conv2 = Conv1dSpec<{ Pool1::T_OUT }, CNN_C1, CNN_C2, 5, 1, 1, true>;
/// The CNN's second pooling: 16 × 24 → 8 × 24.
pub type Pool2 = Pool1dSpec<{ Conv2::T_OUT }, CNN_C2, 2>;
/// The CNN's third convolution: 8 × 24 → 8 × 32 (kernel 3, same padding).
pub type Conv3 = Conv1dSpec<{ Pool2::T_OUT }, CNN_C2, CNN_FEATURES, 3, 1, 1, true>;
/// Trainable scalars of the CNN: `(5·6·16 + 16) + (5·16·24 + 24) + (3·24·32 + 32) +
/// (32·7 + 7)`.
pub const CNN_PARAMETERS: usize =
    Conv1::PARAMS + Conv2::PARAMS + Conv3::PARAMS + CNN_FEATURES * CLASSES + CLASSES;
/// Nodes of the CNN's graph: 2 placeholders, 8 variables, 12 ops.
pub const CNN_NODES: usize = 22;

/// The CNN's graph for mini-batches of `b` rows, unplanned: `x` and `y` hold values only;
/// the variables and the ops a value and a gradient each — `conv1d`, `relu` (`b·512` each),
/// `max_pool1d` (`b·256`), `conv1d`, `relu` (`b·384` each), `max_pool1d` (`b·192`),
/// `conv1d`, `relu` (`b·256` each), `global_avg_pool1d` (`b·32`), `matmul`, `add` (`b·7`
/// each) and the loss (1).
pub const fn cnn_capacity(b: usize) -> (usize, usize) {
    let values = b * FEATURES + b;
    let ops = 2 * b * Conv1::OUT_COLS
        + b * Pool1::OUT_COLS
        + 2 * b * Conv2::OUT_COLS
        + b * Pool2::OUT_COLS
        + 2 * b * Conv3::OUT_COLS
        + b * CNN_FEATURES
        + 2 * b * CLASSES
        + 1;
    (CNN_NODES, values + 2 * (CNN_PARAMETERS + ops))
}

/// The GRU's input pooling: 64 × 6 → 32 × 6 (the mean of each pair of steps).
pub type GruPool = Pool1dSpec<TIMESTEPS, CHANNELS, 2>;
/// Hidden units of the GRU.
pub const GRU_HIDDEN: usize = 16;
/// The GRU layer: 32 steps × 6 features, 16 units.
pub type GruLayer = GruSpec<{ GruPool::T_OUT }, CHANNELS, GRU_HIDDEN>;
/// Trainable scalars of the GRU model: `3·16·(6 + 16) + 6·16` in the GRU, `16·7 + 7` in the
/// dense layer.
pub const GRU_PARAMETERS: usize = GruLayer::PARAMS + GRU_HIDDEN * CLASSES + CLASSES;
/// Nodes of the GRU model's graph: 2 placeholders, 4 variables, 6 ops.
pub const GRU_NODES: usize = 12;

/// The GRU model's graph for mini-batches of `b` rows, unplanned: `x`, `y` and the input
/// pooling (`b·192`; `x` needs no gradient, so neither does it) hold values only; the
/// variables and the ops `gru` (`b·512`), `last_step` (`b·16`), `matmul`, `add` (`b·7`
/// each) and the loss (1) a value and a gradient each.
pub const fn gru_capacity(b: usize) -> (usize, usize) {
    let values = b * FEATURES + b + b * GruPool::OUT_COLS;
    let ops = b * GruLayer::OUT_COLS + b * GRU_HIDDEN + 2 * b * CLASSES + 1;
    (GRU_NODES, values + 2 * (GRU_PARAMETERS + ops))
}

/// Handles of a network: what a trainer feeds and reads, and the trainable variables in the
/// order of the layers (weight, bias, weight, bias, …; the GRU model has four).
#[derive(Clone, Copy, Debug)]
pub struct Net<const B: usize> {
    /// Inputs, `B × 384`.
    pub x: Tensor<B, FEATURES>,
    /// Labels as scalars, `B × 1` (the invalid label 7 pads a short batch).
    pub y: Tensor<B, 1>,
    /// Class scores, `B × 7`.
    pub logits: Tensor<B, CLASSES>,
    /// The loss summed over the batch, `1 × 1`.
    pub loss: Tensor<1, 1>,
    /// The trainable variables, layer by layer; unused entries repeat the last one.
    pub vars: [NodeId; 8],
}

/// A variable of `rows × cols` drawn straight into the graph by `init` (no matrix on the
/// stack), or zero when `init` is `None`.
fn var<T: Scalar, O: Op<T>, const N: usize, const S: usize, const R: usize, const C: usize>(
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
    init: Option<(Init, usize, usize)>,
) -> Result<Tensor<R, C>, Error> {
    let id = g.variable_with(Shape::new(R, C), |v| {
        if let Some((init, fan_in, fan_out)) = init {
            init.fill(rng, fan_in, fan_out, v);
        }
    })?;
    Ok(Tensor::from_id(id))
}

/// Builds the CNN (see the [module docs](self)) for mini-batches of `B` rows.
///
/// # Errors
/// Capacity errors when the graph is smaller than [`cnn_capacity`]`(B)`.
pub fn build_cnn<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const B: usize,
>(
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
) -> Result<Net<B>, Error> {
    let x = g.placeholder::<B, FEATURES>()?;
    let y = g.placeholder::<B, 1>()?;
    let w1: Tensor<{ Conv1::WEIGHT_ROWS }, CNN_C1> =
        var(g, rng, Some((Init::HeUniform, Conv1::WEIGHT_ROWS, CNN_C1)))?;
    let b1: Tensor<1, CNN_C1> = var(g, rng, None)?;
    let w2: Tensor<{ Conv2::WEIGHT_ROWS }, CNN_C2> =
        var(g, rng, Some((Init::HeUniform, Conv2::WEIGHT_ROWS, CNN_C2)))?;
    let b2: Tensor<1, CNN_C2> = var(g, rng, None)?;
    let w3: Tensor<{ Conv3::WEIGHT_ROWS }, CNN_FEATURES> = var(
        g,
        rng,
        Some((Init::HeUniform, Conv3::WEIGHT_ROWS, CNN_FEATURES)),
    )?;
    let b3: Tensor<1, CNN_FEATURES> = var(g, rng, None)?;
    let w4: Tensor<CNN_FEATURES, CLASSES> =
        var(g, rng, Some((Init::XavierUniform, CNN_FEATURES, CLASSES)))?;
    let b4: Tensor<1, CLASSES> = var(g, rng, None)?;
    let h: Tensor<B, { Conv1::OUT_COLS }> = g.conv1d(x, w1, b1, Conv1::new())?;
    let h = g.relu(h)?;
    let h: Tensor<B, { Pool1::OUT_COLS }> = g.max_pool1d(h, Pool1::new())?;
    let h: Tensor<B, { Conv2::OUT_COLS }> = g.conv1d(h, w2, b2, Conv2::new())?;
    let h = g.relu(h)?;
    let h: Tensor<B, { Pool2::OUT_COLS }> = g.max_pool1d(h, Pool2::new())?;
    let h: Tensor<B, { Conv3::OUT_COLS }> = g.conv1d(h, w3, b3, Conv3::new())?;
    let h = g.relu(h)?;
    let h: Tensor<B, CNN_FEATURES> = g.global_avg_pool1d(h)?;
    let o = g.matmul(h, w4)?;
    let logits = g.add(o, b4)?;
    let loss = g.sparse_softmax_cross_entropy(logits, y)?;
    Ok(Net {
        x,
        y,
        logits,
        loss,
        vars: [
            w1.id(),
            b1.id(),
            w2.id(),
            b2.id(),
            w3.id(),
            b3.id(),
            w4.id(),
            b4.id(),
        ],
    })
}
/// Builds the GRU model (see the [module docs](self)) for mini-batches of `B` rows.
///
/// # Errors
/// Capacity errors when the graph is smaller than [`gru_capacity`]`(B)`.
pub fn build_gru<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const B: usize,
>(
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
) -> Result<Net<B>, Error> {
    const H: usize = GRU_HIDDEN;
    let x = g.placeholder::<B, FEATURES>()?;
    let y = g.placeholder::<B, 1>()?;
    let gates = GruLayer::GATES;
    let w: Tensor<{ GruLayer::WEIGHT_ROWS }, { GruLayer::GATES }> =
        var(g, rng, Some((Init::XavierUniform, CHANNELS + H, gates)))?;
    let b: Tensor<2, { GruLayer::GATES }> = var(g, rng, None)?;
    let w2: Tensor<H, CLASSES> = var(g, rng, Some((Init::XavierUniform, H, CLASSES)))?;
    let b2: Tensor<1, CLASSES> = var(g, rng, None)?;
    let p: Tensor<B, { GruPool::OUT_COLS }> = g.avg_pool1d(x, GruPool::new())?;
    let hs: Tensor<B, { GruLayer::OUT_COLS }> = g.gru(p, w, b, GruLayer::new())?;
    let h: Tensor<B, H> = g.last_step(hs)?;
    let o = g.matmul(h, w2)?;
    let logits = g.add(o, b2)?;
    let loss = g.sparse_softmax_cross_entropy(logits, y)?;
    Ok(Net {
        x,
        y,
        logits,
        loss,
        vars: [
            w.id(),
            b.id(),
            w2.id(),
            b2.id(),
            b2.id(),
            b2.id(),
            b2.id(),
            b2.id(),
        ],
    })
}

/// Builds `model` for mini-batches of `B` rows.
///
/// # Errors
/// Capacity errors when the graph is smaller than [`Model::capacity`]`(B)`.
pub fn build<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize, const B: usize>(
    model: Model,
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
) -> Result<Net<B>, Error> {
    match model {
        Model::Cnn => build_cnn(g, rng),
        Model::Gru => build_gru(g, rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedgrad_ops::StdGraph;

    #[test]
    fn capacities_are_exact() {
        const B: usize = 3;
        let mut g: Box<StdGraph<f32, CNN_NODES, { cnn_capacity(B).1 }>> = Box::new(StdGraph::new());
        build_cnn::<f32, StdOp, CNN_NODES, { cnn_capacity(B).1 }, B>(
            &mut g,
            &mut SplitMix64::new(1),
        )
        .unwrap();
        assert_eq!(g.requirements().scalars, cnn_capacity(B).1);
        assert_eq!(g.len(), CNN_NODES);
        assert_eq!(g.trainable_scalars(), CNN_PARAMETERS);
        let mut g: Box<StdGraph<f32, GRU_NODES, { gru_capacity(B).1 }>> = Box::new(StdGraph::new());
        build_gru::<f32, StdOp, GRU_NODES, { gru_capacity(B).1 }, B>(
            &mut g,
            &mut SplitMix64::new(1),
        )
        .unwrap();
        assert_eq!(g.requirements().scalars, gru_capacity(B).1);
        assert_eq!(g.len(), GRU_NODES);
        assert_eq!(g.trainable_scalars(), GRU_PARAMETERS);
        assert_eq!((CNN_PARAMETERS, GRU_PARAMETERS), (5007, 1271));
        assert_eq!(Model::from_name("gru"), Some(Model::Gru));
        assert_eq!(Model::Cnn.capacity(B), cnn_capacity(B));
    }

    #[test]
    fn planned_scalars_are_the_planners() {
        use crate::exercises::{Trainer, BATCH, CNN, GRU};
        const S: usize = cnn_capacity(BATCH).1;
        for recipe in [CNN, GRU] {
            let mut g: Box<StdGraph<f32, CNN_NODES, S>> = Box::new(StdGraph::new());
            let t: Box<Trainer<f32, BATCH, CNN_PARAMETERS>> =
                Box::new(Trainer::new(&mut g, &recipe).unwrap());
            let plan = t.plan(&mut g).unwrap();
            assert_eq!(plan.scalars, recipe.model.planned_scalars(), "{plan:?}");
        }
    }
}
