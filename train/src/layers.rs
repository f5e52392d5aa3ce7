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

/// One dense layer of an [`Mlp`]: its output width, activation and weight initialiser (the
/// input width is the previous layer's output).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DenseSpec {
    /// Outputs (`OUT`).
    pub outputs: usize,
    /// The activation after `x W + b`.
    pub activation: Activation,
    /// How `W` is drawn (the bias starts at zero).
    pub init: Init,
}

impl DenseSpec {
    /// A layer with `outputs` outputs and the initialiser its activation calls for: He
    /// uniform before a relu or leaky relu, Xavier uniform otherwise.
    pub const fn new(outputs: usize, activation: Activation) -> Self {
        let init = match activation {
            Activation::Relu | Activation::LeakyRelu(_) => Init::HeUniform,
            _ => Init::XavierUniform,
        };
        DenseSpec {
            outputs,
            activation,
            init,
        }
    }

    /// The same layer with another initialiser.
    pub const fn with_init(self, init: Init) -> Self {
        DenseSpec { init, ..self }
    }

    /// Trainable scalars of the layer on `inputs` inputs: `inputs · outputs + outputs`.
    pub const fn parameters(&self, inputs: usize) -> usize {
        inputs * self.outputs + self.outputs
    }

    /// What the layer adds to a trainable graph of `batch` rows on `inputs` inputs.
    pub const fn capacity(&self, batch: usize, inputs: usize) -> Capacity {
        dense_capacity(batch, inputs, self.outputs, self.activation)
    }

    /// PyTorch modules of the layer in an `nn.Sequential`: the `Linear`, and the activation
    /// unless it is the identity.
    pub const fn torch_modules(&self) -> usize {
        match self.activation {
            Activation::Identity => 1,
            _ => 2,
        }
    }
}

/// Nodes of a dense layer: `W`, `b`, `matmul`, `add` and the activation (none for the
/// identity).
const fn dense_nodes(activation: Activation) -> usize {
    match activation {
        Activation::Identity => 4,
        _ => 5,
    }
}

/// A trainable dense layer: `W` and `b` with their gradients, and each op's `batch × out`
/// value and gradient.
const fn dense_capacity(
    batch: usize,
    inputs: usize,
    outputs: usize,
    activation: Activation,
) -> Capacity {
    let params = inputs * outputs + outputs;
    let ops = dense_nodes(activation) - 2;
    Capacity {
        nodes: dense_nodes(activation),
        scalars: 2 * params + 2 * ops * batch * outputs,
        parameters: params,
    }
}

/// A frozen dense layer (inference): `W`, `b` and each op's value.
const fn frozen_dense_capacity(
    batch: usize,
    inputs: usize,
    outputs: usize,
    activation: Activation,
) -> Capacity {
    let ops = dense_nodes(activation) - 2;
    Capacity {
        nodes: dense_nodes(activation),
        scalars: inputs * outputs + outputs + ops * batch * outputs,
        parameters: 0,
    }
}

/// A typed dense layer `y = act(x W + b)` with `W: IN × OUT` and `b: 1 × OUT`.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::layers::{Activation, Capacity, Dense};
///
/// // A 3-row batch through two layers; the capacity is known before building.
/// const CAP: Capacity = Capacity::placeholder(3, 2)
///     .plus(Dense::<2, 4>::capacity(3, Activation::Relu))
///     .plus(Dense::<4, 1>::capacity(3, Activation::Sigmoid));
/// let mut g: StdGraph<f32, { CAP.nodes }, { CAP.scalars }> = StdGraph::new();
/// let x = g.placeholder::<3, 2>()?;
/// let l1 = Dense::from_weights(&mut g, &Matrix::new([[1.0; 4], [-1.0; 4]]), &Matrix::new([[0.5; 4]]), Activation::Relu)?;
/// let l2 = Dense::from_weights(&mut g, &Matrix::new([[1.0], [1.0], [1.0], [1.0]]), &Matrix::new([[0.0]]), Activation::Sigmoid)?;
/// let h = l1.forward(&mut g, x)?;
/// let y = l2.forward(&mut g, h)?;
/// g.feed(x, &Matrix::new([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))?;
/// let y = g.eval(y)?;
/// assert!((y.get(0, 0).unwrap() - 0.997_527_4).abs() < 1e-6); // sigmoid(4 · 1.5)
/// assert_eq!(y.get(1, 0), Some(0.5)); // every relu is 0: sigmoid(0)
/// assert_eq!(g.requirements().scalars, CAP.scalars);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dense<const IN: usize, const OUT: usize> {
    /// The weights, `IN × OUT`.
    pub weight: Tensor<IN, OUT>,
    /// The bias, `1 × OUT`.
    pub bias: Tensor<1, OUT>,
    /// The activation.
    pub activation: Activation,
}

impl<const IN: usize, const OUT: usize> Dense<IN, OUT> {
    /// Trainable scalars: `IN · OUT + OUT`.
    pub const PARAMETERS: usize = IN * OUT + OUT;

    /// What the layer adds to a trainable graph when applied once to a batch of `batch` rows
    /// (its variables, and the ops of one [`Dense::forward`]).
    pub const fn capacity(batch: usize, activation: Activation) -> Capacity {
        dense_capacity(batch, IN, OUT, activation)
    }

    /// Adds the layer's variables, `W` drawn by `init` from `rng` (row-major, as
    /// [`Init::fill`]) and `b` zero.
    ///
    /// # Errors
    /// Capacity errors (the graph is then unchanged).
    pub fn new<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        g: &mut Graph<T, O, N, S>,
        activation: Activation,
        init: Init,
        rng: &mut SplitMix64,
    ) -> Result<Self, Error> {
        let (weight, bias) = dense_variables(g, IN, OUT, init, rng)?;
        Ok(Self {
            weight: Tensor::from_id(weight),
            bias: Tensor::from_id(bias),
            activation,
        })
    }

    /// Adds the layer's variables with the given values.
    ///
    /// # Errors
    /// Capacity errors; [`Error::NonFinite`] for a non-finite weight.
    pub fn from_weights<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        g: &mut Graph<T, O, N, S>,
        weight: &Matrix<T, IN, OUT>,
        bias: &Matrix<T, 1, OUT>,
        activation: Activation,
    ) -> Result<Self, Error> {
        let w = g.variable(weight)?;
        let b = g.variable(bias)?;
        Ok(Self {
            weight: w,
            bias: b,
            activation,
        })
    }

    /// Applies the layer to a batch: adds `matmul`, `add` and the activation.
    ///
    /// # Errors
    /// Capacity errors; a bad handle.
    pub fn forward<
        T: Scalar,
        O: Op<T> + From<StdOp>,
        const N: usize,
        const S: usize,
        const B: usize,
    >(
        &self,
        g: &mut Graph<T, O, N, S>,
        x: Tensor<B, IN>,
    ) -> Result<Tensor<B, OUT>, Error> {
        let xw = g.matmul(x, self.weight)?;
        let z = g.add(xw, self.bias)?;
        Ok(match self.activation {
            Activation::Identity => z,
            Activation::Sigmoid => g.sigmoid(z)?,
            Activation::Tanh => g.tanh(z)?,
            Activation::Relu => g.relu(z)?,
            Activation::LeakyRelu(slope) => g.leaky_relu(z, slope)?,
        })
    }

    /// Freezes or unfreezes both variables (see [`Graph::set_trainable`]).
    ///
    /// # Errors
    /// A bad handle.
    pub fn set_trainable<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        trainable: bool,
    ) -> Result<(), Error> {
        g.set_trainable(self.weight.id(), trainable)?;
        g.set_trainable(self.bias.id(), trainable)
    }
}

/// Adds `W` (`inputs × outputs`, drawn by `init`) and `b` (`1 × outputs`, zero).
fn dense_variables<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    inputs: usize,
    outputs: usize,
    init: Init,
    rng: &mut SplitMix64,
) -> Result<(NodeId, NodeId), Error> {
    let w = g.variable_with(Shape::new(inputs, outputs), |w| {
        init.fill(rng, inputs, outputs, w)
    })?;
    let b = g.variable_with(Shape::new(1, outputs), |_| {})?;
    Ok((w, b))
}

/// A multilayer perceptron: `inputs` input columns, then `L` dense layers, as a `const`.
///
/// The capacities come from the description alone ([`Mlp::capacity`],
/// [`Mlp::inference_capacity`]), so the graph is declared exactly before it is built; then
/// [`Mlp::build`] builds it and returns the [`Model`]'s handles.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mlp<const L: usize> {
    /// Input columns (`IN`).
    pub inputs: usize,
    /// The layers, first to last.
    pub layers: [DenseSpec; L],
}

impl<const L: usize> Mlp<L> {
    /// A network on `inputs` input columns.
    pub const fn new(inputs: usize, layers: [DenseSpec; L]) -> Self {
        Mlp { inputs, layers }
    }

    /// The input width of layer `k` (the output width of layer `k − 1`); the last layer's outputs past the
    /// end (the network's output width).
    pub const fn layer_inputs(&self, k: usize) -> usize {
        let mut width = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        let mut j = 0;
        while let [first, tail @ ..] = rest {
            if j == k {
                break;
            }
            width = first.outputs;
            rest = tail;
            j += 1;
        }
        width
    }

    /// Outputs of the last layer (`OUT`); `inputs` when there are no layers.
    pub const fn outputs(&self) -> usize {
        self.layer_inputs(L)
    }

    /// Trainable scalars of the whole network.
    pub const fn parameters(&self) -> usize {
        let mut p = 0;
        let mut inputs = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            p += s.parameters(inputs);
            inputs = s.outputs;
            rest = tail;
        }
        p
    }

    /// The exact capacity of the trainable model [`Mlp::build`] makes for batches of `batch`
    /// rows with `loss`: the input and target placeholders, every layer, the loss.
    pub const fn capacity(&self, batch: usize, loss: Loss) -> Capacity {
        let mut c = Capacity::placeholder(batch, self.inputs);
        let mut inputs = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            c = c.plus(dense_capacity(batch, inputs, s.outputs, s.activation));
            inputs = s.outputs;
            rest = tail;
        }
        c.plus(loss.capacity(batch, self.outputs()))
    }

    /// The exact capacity of the frozen model [`Mlp::build_inference`] makes: values only, no
    /// gradient (for a device that only predicts; `parameters` is 0).
    pub const fn inference_capacity(&self, batch: usize, loss: Loss) -> Capacity {
        let mut c = Capacity::placeholder(batch, self.inputs);
        let mut inputs = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            c = c.plus(frozen_dense_capacity(
                batch,
                inputs,
                s.outputs,
                s.activation,
            ));
            inputs = s.outputs;
            rest = tail;
        }
        // The targets' values and the loss's value, without a gradient.
        c.plus(Capacity::placeholder(
            batch,
            loss.target_width(self.outputs()),
        ))
        .plus(Capacity::placeholder(1, 1))
    }

    /// The module index of layer `k`'s `Linear` in the matching PyTorch `nn.Sequential`
    /// (activations are modules of their own there): `0, 2, 4, …` for layers with an
    /// activation.
    pub const fn torch_index(&self, k: usize) -> usize {
        let mut i = 0;
        let mut j = 0;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            if j == k {
                break;
            }
            i += s.torch_modules();
            rest = tail;
            j += 1;
        }
        i
    }

    /// Builds the model into `g` for batches of `B` rows: the input placeholder (`B × IN`),
    /// the target placeholder (see [`Loss::target_width`]), the layers (weights drawn from
    /// `rng` layer by layer, biases zero) and the loss.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `IN` or `OUT` are not the description's input and output
    /// widths (nothing is built then); capacity errors when `g` is smaller than
    /// [`Mlp::capacity`] (the graph then holds the nodes built so far: [`Graph::clear`] it).
    pub fn build<
        T: Scalar,
        O: Op<T> + From<StdOp>,
        const N: usize,
        const S: usize,
        const B: usize,
        const IN: usize,
        const OUT: usize,
    >(
        &self,
        g: &mut Graph<T, O, N, S>,
        loss: Loss,
        rng: &mut SplitMix64,
    ) -> Result<Model<B, IN, OUT, L>, Error> {
        if IN != self.inputs || OUT != self.outputs() {
            return Err(Error::ShapeMismatch {
                expected: Shape::new(self.inputs, self.outputs()),
                found: Shape::new(IN, OUT),
            });
        }
        let x = g.placeholder::<B, IN>()?;
        let target = g.placeholder_dyn(Shape::new(B, loss.target_width(OUT)))?;
        let none = NodeId::new(0, 0);
        let mut layers = [Layer {
            weight: none,
            bias: none,
            inputs: 0,
            spec: DenseSpec::new(0, Activation::Identity),
            torch_index: 0,
        }; L];
        let mut h = x.id();
        for (k, (layer, spec)) in layers.iter_mut().zip(&self.layers).enumerate() {
            let inputs = self.layer_inputs(k);
            let (w, b) = dense_variables(g, inputs, spec.outputs, spec.init, rng)?;
            h = dense_ops(g, h, w, b, spec.activation)?;
            *layer = Layer {
                weight: w,
                bias: b,
                inputs,
                spec: *spec,
                torch_index: self.torch_index(k),
            };
        }
        let output: Tensor<B, OUT> = g.tensor(h)?;
        let l = match loss {
            Loss::SoftmaxCrossEntropy => g.softmax_cross_entropy(output, g.tensor(target)?)?,
            Loss::SparseSoftmaxCrossEntropy => {
                g.sparse_softmax_cross_entropy(output, g.tensor(target)?)?
            }
            Loss::SigmoidBinaryCrossEntropy => {
                g.sigmoid_binary_cross_entropy(output, g.tensor(target)?)?
            }
            Loss::MeanSquaredError => g.mse(output, g.tensor(target)?)?,
        };
        Ok(Model {
            x,
            target,
            output,
            loss: l,
            loss_kind: loss,
            layers,
        })
    }

    /// [`Mlp::build`], then every layer frozen: the graph holds values only, and needs
    /// [`Mlp::inference_capacity`] (unfreeze layers with [`Model::fine_tune`] to train again,
    /// which then needs the gradients' room too).
    ///
    /// # Errors
    /// As [`Mlp::build`].
    pub fn build_inference<
        T: Scalar,
        O: Op<T> + From<StdOp>,
        const N: usize,
        const S: usize,
        const B: usize,
        const IN: usize,
        const OUT: usize,
    >(
        &self,
        g: &mut Graph<T, O, N, S>,
        loss: Loss,
        rng: &mut SplitMix64,
    ) -> Result<Model<B, IN, OUT, L>, Error> {
        let m = self.build(g, loss, rng)?;
        m.fine_tune(g, FineTune::Nothing)?;
        Ok(m)
    }
}

/// Adds `matmul(x, w)`, `add(·, b)` and the activation on untyped handles.
fn dense_ops<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    x: NodeId,
    w: NodeId,
    b: NodeId,
    activation: Activation,
) -> Result<NodeId, Error> {
    let xw = g.push_op(StdOp::from(MatMul).into(), &[x, w])?;
    let z = g.push_op(StdOp::from(Add).into(), &[xw, b])?;
    let act: StdOp = match activation {
        Activation::Identity => return Ok(z),
        Activation::Sigmoid => Sigmoid.into(),
        Activation::Tanh => Tanh.into(),
        Activation::Relu => Relu.into(),
        Activation::LeakyRelu(slope) => {
            if !slope.is_finite() {
                return Err(Error::InvalidParameter {
                    name: "leaky_relu slope",
                    value: slope,
                    expected: "finite",
                });
            }
            LeakyRelu::new(slope).into()
        }
    };
    g.push_op(act.into(), &[z])
}

/// One dense layer of a built [`Model`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layer {
    /// `W`, `inputs × outputs`.
    pub weight: NodeId,
    /// `b`, `1 × outputs`.
    pub bias: NodeId,
    /// Input columns.
    pub inputs: usize,
    /// Outputs, activation, initialiser.
    pub spec: DenseSpec,
    /// The `Linear`'s index in the matching PyTorch `nn.Sequential` (its state dict's names
    /// are `{torch_index}.weight` and `{torch_index}.bias`).
    pub torch_index: usize,
}

/// Which variables a [`Model`] trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FineTune {
    /// Every layer (the default after [`Mlp::build`]).
    All,
    /// The last layer only: the cheapest adaptation of a classifier's head.
    LastLayer,
    /// Every bias and nothing else (TinyTL's bias-only fine-tuning: no weight gradient, so no
    /// weight-gradient memory or work).
    BiasesOnly,
    /// Nothing (inference; what [`Mlp::build_inference`] sets).
    Nothing,
}

/// The handles of a model built by [`Mlp::build`]: input `x` (`B × IN`), targets, the last
/// layer's output (`B × OUT`: logits for the cross-entropy losses), the summed loss and the
/// layers.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Model<const B: usize, const IN: usize, const OUT: usize, const L: usize> {
    /// Inputs, `B × IN`.
    pub x: Tensor<B, IN>,
    /// Targets, `B × loss.target_width(OUT)`.
    pub target: NodeId,
    /// The last layer's output, `B × OUT`.
    pub output: Tensor<B, OUT>,
    /// The loss summed over the batch.
    pub loss: Tensor<1, 1>,
    /// Which loss.
    pub loss_kind: Loss,
    /// The layers, first to last.
    pub layers: [Layer; L],
}

impl<const B: usize, const IN: usize, const OUT: usize, const L: usize> Model<B, IN, OUT, L> {
    /// Input, target and loss nodes, for the data-set helpers ([`Dataset::train_epoch`],
    /// [`accumulate`](crate::accumulate), …).
    pub fn feeds(&self) -> Feeds {
        Feeds {
            x: self.x.id(),
            y: self.target,
            loss: self.loss.id(),
        }
    }

    /// Feeds a whole batch: inputs and one target row per input row (`OUT` wide; for
    /// [`Loss::SparseSoftmaxCrossEntropy`] use [`Model::feed_labels`]).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the targets are not `OUT` wide for this loss;
    /// [`Error::NonFinite`] for a non-finite value (nothing is fed then);
    /// [`Error::InvalidTarget`] as the loss ops check at run time.
    pub fn feed<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        x: &[[T; IN]; B],
        targets: &[[T; OUT]; B],
    ) -> Result<(), Error> {
        let want = self.loss_kind.target_width(OUT);
        if want != OUT {
            return Err(Error::LengthMismatch {
                expected: B * want,
                found: B * OUT,
            });
        }
        if targets.as_flattened().iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite);
        }
        g.feed_slice(self.x.id(), x.as_flattened())?;
        g.feed_slice(self.target, targets.as_flattened())
    }

    /// Feeds a whole batch with class labels (for [`Loss::SparseSoftmaxCrossEntropy`]).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for another loss; [`Error::InvalidLabel`] for a label
    /// `≥ OUT` (with its row); [`Error::NonFinite`] for a non-finite input. Nothing is fed on
    /// an error.
    pub fn feed_labels<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        x: &[[T; IN]; B],
        labels: &[u8; B],
    ) -> Result<(), Error> {
        if self.loss_kind.target_width(OUT) != 1 {
            return Err(Error::LengthMismatch {
                expected: B * OUT,
                found: B,
            });
        }
        if let Some((row, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= OUT)
        {
            return Err(Error::InvalidLabel {
                row,
                label: f64::from(l),
                classes: OUT,
            });
        }
        if x.as_flattened().iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite);
        }
        g.feed_slice(self.x.id(), x.as_flattened())?;
        g.feed_with(self.target, |y| {
            for (d, &l) in y.iter_mut().zip(labels) {
                *d = T::from_usize(l.into());
            }
        })
    }

    /// The outputs for up to `B` rows (a partial batch is padded with zero rows, whose outputs
    /// are not returned): writes one output row per input row into `out` and returns how many.
    /// Changes no variable.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for more than `B` rows or fewer output rows than input rows;
    /// [`Error::NonFinite`] for a non-finite input; graph errors (a graph sized for a step
    /// plan only has no room for the interpreter this runs).
    pub fn predict<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        rows: &[[T; IN]],
        out: &mut [[T; OUT]],
    ) -> Result<usize, Error> {
        if rows.len() > B || out.len() < rows.len() {
            return Err(Error::LengthMismatch {
                expected: rows.len().min(B),
                found: if rows.len() > B {
                    rows.len()
                } else {
                    out.len()
                },
            });
        }
        let flat = rows.as_flattened();
        g.feed_with(self.x.id(), |x| {
            x.fill(T::ZERO);
            for (d, &s) in x.iter_mut().zip(flat) {
                *d = s;
            }
        })?;
        g.run(self.output.id())?;
        let y = g.value_slice(self.output.id())?;
        for (o, row) in out
            .iter_mut()
            .zip(y.chunks_exact(OUT.max(1)))
            .take(rows.len())
        {
            for (d, &s) in o.iter_mut().zip(row) {
                *d = s;
            }
        }
        Ok(rows.len())
    }

    /// The outputs for one row.
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn predict_row<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        row: &[T; IN],
    ) -> Result<[T; OUT], Error> {
        let mut out = [[T::ZERO; OUT]; 1];
        self.predict(g, core::slice::from_ref(row), &mut out)?;
        let [o] = out;
        Ok(o)
    }

    /// The class of one row: the index of its largest output (the first on ties).
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn classify<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        row: &[T; IN],
    ) -> Result<usize, Error> {
        Ok(crate::argmax(&self.predict_row(g, row)?))
    }

    /// The summed loss and the correct predictions over the rows `indices` of a data set, in
    /// batches of `B` through the buffers `x` (`B · IN`) and `y` (`B ·` targets per row).
    /// Changes no variable.
    ///
    /// # Errors
    /// As [`Dataset::evaluate`].
    pub fn evaluate<T: Scalar, O: Op<T>, const N: usize, const S: usize, I>(
        &self,
        g: &mut Graph<T, O, N, S>,
        data: &Dataset<'_>,
        indices: &[I],
        x: &mut [T],
        y: &mut [T],
    ) -> Result<Evaluation<T>, Error>
    where
        I: Copy + Into<usize>,
    {
        data.evaluate(
            g,
            self.feeds(),
            self.loss_kind.targets(),
            self.output.id(),
            indices,
            x,
            y,
        )
    }

    /// Chooses what trains (see [`FineTune`]): freezes the other variables
    /// ([`Graph::set_trainable`]; frozen variables get no gradient, and nothing upstream of
    /// them computes one). Plan again after this if you train with a step plan.
    ///
    /// # Errors
    /// A bad handle (a model of another graph).
    pub fn fine_tune<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        mode: FineTune,
    ) -> Result<(), Error> {
        for (k, l) in self.layers.iter().enumerate() {
            let (w, b) = match mode {
                FineTune::All => (true, true),
                FineTune::LastLayer => (k + 1 == L, k + 1 == L),
                FineTune::BiasesOnly => (false, true),
                FineTune::Nothing => (false, false),
            };
            g.set_trainable(l.weight, w)?;
            g.set_trainable(l.bias, b)?;
        }
        Ok(())
    }

    /// Freezes or unfreezes one layer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a layer index `≥ L`; a bad handle.
    pub fn set_trainable<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        layer: usize,
        trainable: bool,
    ) -> Result<(), Error> {
        let l = self.layers.get(layer).ok_or(Error::InvalidArgument)?;
        g.set_trainable(l.weight, trainable)?;
        g.set_trainable(l.bias, trainable)
    }

    /// Trainable scalars now (after freezing).
    ///
    /// # Errors
    /// A bad handle.
    pub fn trainable_parameters<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &Graph<T, O, N, S>,
    ) -> Result<usize, Error> {
        let mut p = 0;
        for l in &self.layers {
            for id in [l.weight, l.bias] {
                if g.is_trainable(id)? {
                    p += g.shape(id)?.checked_len()?;
                }
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests;
