//! The [`Op`] trait: what an operation must provide to take part in a graph.

use crate::{Error, MatMut, MatRef, Scalar, Shape};

/// The most inputs an op can take.
pub const MAX_INPUTS: usize = 3;

/// An operation: its output shape, forward kernel and backward kernel.
///
/// This is the tutorial's `RegisterGradient`, without a registry: the graph is generic over its
/// op type `O`, so a user adds ops by wrapping the standard set in an enum of their own and
/// implementing `Op` for it (see the `embedgrad-ops` crate docs for a complete example).
///
/// Kernels work on runtime-shaped views. The graph guarantees that each view has the shape that
/// [`Op::out_shape`] accepted, so kernels may rely on it; they must still never panic (use
/// iterators and `get`, not indexing).
pub trait Op<T: Scalar>: Copy {
    /// A short lower-case name (`"matmul"`), for diagnostics.
    fn name(&self) -> &'static str;

    /// The output shape for these input shapes, or the reason they do not fit.
    ///
    /// # Errors
    /// [`Error::Arity`] for the wrong number of inputs, [`Error::ShapeMismatch`] for shapes
    /// that do not fit.
    fn out_shape(&self, inputs: &[Shape]) -> Result<Shape, Error>;

    /// Computes the output from the inputs' values, overwriting `out`.
    fn forward(&self, inputs: &[MatRef<'_, T>], out: MatMut<'_, T>);

    /// Adds (`+=`) to `in_grad` the gradient of the loss with respect to input number `index`,
    /// given the inputs' values, the output value `out` and the output gradient `out_grad`.
    ///
    /// It is called once per input that needs a gradient, so an op whose two inputs are the
    /// same node (`matmul(A, A)`) has both contributions added.
    fn backward(
        &self,
        index: usize,
        inputs: &[MatRef<'_, T>],
        out: MatRef<'_, T>,
        out_grad: MatRef<'_, T>,
        in_grad: MatMut<'_, T>,
    );

    /// What the op computes, for the step planner's fusion patterns (see
    /// [`Graph::plan`](crate::Graph::plan)). The default, [`OpClass::Other`], opts out of fusion:
    /// the op then runs with its own kernels. An op that claims a class must compute exactly
    /// that function, or planned and unplanned steps will differ.
    fn class(&self) -> OpClass {
        OpClass::Other
    }
}

/// An activation the planner fuses into a dense layer (its derivative is computed from the
/// layer's output, so the pre-activation is never stored).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Activation {
    /// `y = z`.
    Identity,
    /// `y = 1 / (1 + e^−z)`, `dy/dz = y (1 − y)`.
    Sigmoid,
    /// `y = tanh z`, `dy/dz = 1 − y²`.
    Tanh,
    /// `y = max(z, 0)`, `dy/dz = [y > 0]`.
    Relu,
    /// `y = z` for `z > 0`, else `slope · z` (fused only for `slope ≥ 0`, where `y > 0 ⇔ z > 0`).
    LeakyRelu(f64),
}

/// Which sum an [`OpClass::ReduceSum`] takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReduceAxis {
    /// All entries: `R×C → 1×1`.
    All,
    /// Down each column: `R×C → 1×C`.
    Rows,
    /// Along each row: `R×C → R×1`.
    Cols,
}

/// The mathematical function of an op, as far as the step planner's fusion patterns care.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpClass {
    /// Anything else: never fused.
    Other,
    /// `a · b` (two inputs).
    MatMul,
    /// `a + b`, `b` broadcast when smaller (two inputs).
    Add,
    /// An element-wise activation of one input.
    Activation(Activation),
    /// Row-wise softmax with the max shift.
    Softmax,
    /// Element-wise natural logarithm.
    Log,
    /// Element-wise product of two same-shaped inputs.
    Multiply,
    /// A sum over an axis.
    ReduceSum(ReduceAxis),
    /// Element-wise negation.
    Negative,
    /// The summed cross-entropy of `softmax(logits)` against targets: inputs `(logits, targets)`.
    SoftmaxCrossEntropy,
}

/// Checks the number of inputs; a helper for [`Op::out_shape`] implementations.
///
/// # Errors
/// [`Error::Arity`] unless `inputs.len() == n`.
pub fn expect_arity(inputs: &[Shape], n: usize) -> Result<(), Error> {
    if inputs.len() == n {
        Ok(())
    } else {
        Err(Error::Arity {
            expected: n,
            found: inputs.len(),
        })
    }
}

/// An op set with no operations, for graphs of only placeholders, variables and constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoOp {}

impl<T: Scalar> Op<T> for NoOp {
    fn name(&self) -> &'static str {
        match *self {}
    }
    fn out_shape(&self, _: &[Shape]) -> Result<Shape, Error> {
        match *self {}
    }
    fn forward(&self, _: &[MatRef<'_, T>], _: MatMut<'_, T>) {
        match *self {}
    }
    fn backward(
        &self,
        _: usize,
        _: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        _: MatRef<'_, T>,
        _: MatMut<'_, T>,
    ) {
        match *self {}
    }
}
