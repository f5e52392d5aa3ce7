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
