//! Layers: dense layers and multilayer perceptrons built from ordinary graph nodes, with their
//! exact capacities known as `const`s before anything is built.
//!
//! A layer is `y = act(x W + b)`: two variables (`W`, `IN × OUT`, in the tutorial's layout;
//! `b`, `1 × OUT`) and the ops `matmul`, `add` and the activation — plain nodes, so the step
//! planner fuses them into one dense layer and custom ops still mix in before, between and
//! after layers.
//!
//! - [`Dense<IN, OUT>`] is the typed layer: shapes are checked at compile time, like every
//!   builder, and [`Dense::capacity`] is what it adds to a graph.
//! - [`Mlp`] describes a whole network (the input width and a list of [`DenseSpec`]s) as a
//!   `const`; [`Mlp::capacity`] gives the graph's exact `NODES`, `SCALARS` and the trainable
//!   scalars `P` that [`Momentum`](crate::Momentum) and [`Adam`](crate::Adam) need, and
//!   [`Mlp::build`] builds the [`Model`]: placeholders, layers, loss.
//! - A [`Model`] predicts one row or a partial batch, evaluates a data set, freezes layers for
//!   fine-tuning, and names its variables as PyTorch's `nn.Sequential` does (`0.weight`,
//!   `0.bias`, `2.weight`, …: an activation is a module of its own there), which is what the
//!   [`safetensors`](crate::safetensors) reader and writer use.
//!
//! ```
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::layers::{Activation, Capacity, DenseSpec, Loss, Mlp};
//! use embedgrad_train::{Adam, Optimizer, SplitMix64};
//!
//! const B: usize = 4;
//! const NET: Mlp<2> = Mlp::new(2, [
//!     DenseSpec::new(8, Activation::Tanh),
//!     DenseSpec::new(2, Activation::Identity),
//! ]);
//! const CAP: Capacity = NET.capacity(B, Loss::SoftmaxCrossEntropy);
//! // x, targets; W, b, matmul, add, tanh; W, b, matmul, add; loss. 2·8 + 8 + 8·2 + 2 parameters.
//! assert_eq!((CAP.nodes, CAP.parameters), (12, 42));
//!
//! let mut g: StdGraph<f64, { CAP.nodes }, { CAP.scalars }> = StdGraph::new();
//! let model = NET.build::<_, _, _, _, B, 2, 2>(&mut g, Loss::SoftmaxCrossEntropy, &mut SplitMix64::new(7))?;
//! assert_eq!(g.requirements().scalars, CAP.scalars); // exact, not an upper bound
//!
//! // XOR, one-hot targets.
//! let x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]];
//! let c = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]];
//! let mut adam: Adam<f64, { CAP.parameters }> = Adam::new(0.05);
//! for _ in 0..300 {
//!     model.feed(&mut g, &x, &c)?;
//!     adam.minimize(&mut g, model.loss)?;
//! }
//! for (row, target) in x.iter().zip([0, 1, 1, 0]) {
//!     assert_eq!(model.classify(&mut g, row)?, target);
//! }
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::data::{Dataset, Evaluation, Targets};
use crate::init::Init;
use crate::optim::Feeds;
use crate::rng::SplitMix64;
pub use embedgrad_core::Activation;
use embedgrad_core::{Error, Graph, Matrix, NodeId, Op, Scalar, Shape, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_ops::{add::Add, leaky_relu::LeakyRelu, matmul::MatMul, relu::Relu};
use embedgrad_ops::{sigmoid::Sigmoid, tanh::Tanh, StdOp};

mod dense;
mod mlp;
mod model;

pub use dense::*;
pub use mlp::*;
pub use model::*;

/// What a graph needs: nodes, scalars (the interpreter's need, which also holds a step plan)
/// and trainable scalars (the `P` of [`Momentum`](crate::Momentum) and
/// [`Adam`](crate::Adam)). Capacities add up with [`Capacity::plus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capacity {
    /// The graph's `NODES`.
    pub nodes: usize,
    /// The graph's `SCALARS`: every value, and every gradient of a trainable path. Exactly
    /// what [`Graph::requirements`] reports for the unplanned graph once built; a step plan
    /// ([`Graph::plan`]) needs at most this.
    pub scalars: usize,
    /// Trainable scalars.
    pub parameters: usize,
}

impl Capacity {
    /// Nothing.
    pub const ZERO: Capacity = Capacity {
        nodes: 0,
        scalars: 0,
        parameters: 0,
    };

    /// A placeholder (or constant) of `rows × cols`: one node holding a value.
    pub const fn placeholder(rows: usize, cols: usize) -> Self {
        Capacity {
            nodes: 1,
            scalars: rows * cols,
            parameters: 0,
        }
    }

    /// The sum of two capacities.
    pub const fn plus(self, other: Capacity) -> Self {
        Capacity {
            nodes: self.nodes + other.nodes,
            scalars: self.scalars + other.scalars,
            parameters: self.parameters + other.parameters,
        }
    }
}

/// The loss a [`Model`] trains with, summed over the batch's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Loss {
    /// `softmax_cross_entropy(logits, targets)`, one-hot targets `B × OUT`.
    SoftmaxCrossEntropy,
    /// `sparse_softmax_cross_entropy(logits, labels)`, class labels `B × 1`.
    SparseSoftmaxCrossEntropy,
    /// `sigmoid_binary_cross_entropy(logits, targets)`, targets in `[0, 1]`, `B × OUT`.
    SigmoidBinaryCrossEntropy,
    /// `mse(outputs, targets)`, `B × OUT`.
    MeanSquaredError,
}

impl Loss {
    /// Target scalars per row for `outputs` outputs.
    pub const fn target_width(self, outputs: usize) -> usize {
        match self {
            Loss::SparseSoftmaxCrossEntropy => 1,
            _ => outputs,
        }
    }

    /// How a [`Dataset`] writes targets for this loss.
    pub const fn targets(self) -> Targets {
        match self {
            Loss::SparseSoftmaxCrossEntropy => Targets::Labels,
            _ => Targets::OneHot,
        }
    }

    /// What the target placeholder and the loss add to a graph of `batch` rows.
    pub const fn capacity(self, batch: usize, outputs: usize) -> Capacity {
        // The targets hold values only; the 1×1 loss a value and a gradient.
        Capacity::placeholder(batch, self.target_width(outputs)).plus(Capacity {
            nodes: 1,
            scalars: 2,
            parameters: 0,
        })
    }
}

#[cfg(test)]
mod tests;
