//! The dense layer: `activation(x·W + b)`, its spec and its exact capacity.

use super::*;

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
pub(super) const fn dense_nodes(activation: Activation) -> usize {
    match activation {
        Activation::Identity => 4,
        _ => 5,
    }
}

/// A trainable dense layer: `W` and `b` with their gradients, and each op's `batch × out`
/// value and gradient.
pub(super) const fn dense_capacity(
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
pub(super) const fn frozen_dense_capacity(
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
pub(super) fn dense_variables<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
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

/// Adds `matmul(x, w)`, `add(·, b)` and the activation on untyped handles.
pub(super) fn dense_ops<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
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
