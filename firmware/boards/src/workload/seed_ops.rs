//! [`SeedOp`]: the op set of the firmwares — the tutorial's eight ops and nothing else.
//!
//! A graph over `StdOp` dispatches every kernel through one `match`, so every op's forward
//! and backward kernels end up in flash whether the network uses them or not. The graph is
//! generic over its op type, so the firmwares use this smaller set instead: it converts
//! from `StdOp` (so the standard builders and `embedgrad_data::seed::build` work unchanged)
//! and links only the kernels of the seed ops. Building any other op fails with
//! [`Error::InvalidArgument`] (from `out_shape`); nothing panics.

use embedgrad_core::{Error, MatMut, MatRef, Op, OpClass, Shape};
use embedgrad_ops::StdOp;
use embedgrad_ops::{
    add::Add, log::Log, matmul::MatMul, multiply::Multiply, negative::Negative,
    reduce_sum::ReduceSum, sigmoid::Sigmoid, softmax::Softmax,
};

/// The seed ops (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeedOp {
    /// `−x`.
    Negative(Negative),
    /// `ln x`.
    Log(Log),
    /// `σ(x)`.
    Sigmoid(Sigmoid),
    /// Element-wise product.
    Multiply(Multiply),
    /// Matrix product.
    MatMul(MatMul),
    /// Sum with broadcasting.
    Add(Add),
    /// Sum over all entries, rows or columns.
    ReduceSum(ReduceSum),
    /// Row-wise softmax.
    Softmax(Softmax),
    /// Any other standard op: refused when the graph is built.
    Unsupported,
}

impl From<StdOp> for SeedOp {
    fn from(op: StdOp) -> Self {
        match op {
            StdOp::Negative(o) => SeedOp::Negative(o),
            StdOp::Log(o) => SeedOp::Log(o),
            StdOp::Sigmoid(o) => SeedOp::Sigmoid(o),
            StdOp::Multiply(o) => SeedOp::Multiply(o),
            StdOp::MatMul(o) => SeedOp::MatMul(o),
            StdOp::Add(o) => SeedOp::Add(o),
            StdOp::ReduceSum(o) => SeedOp::ReduceSum(o),
            StdOp::Softmax(o) => SeedOp::Softmax(o),
            _ => SeedOp::Unsupported,
        }
    }
}

/// Calls `$body` with `$o` bound to the op inside any supported variant, or evaluates
/// `$unsupported`.
macro_rules! dispatch {
    ($self:expr, $o:ident => $body:expr, _ => $unsupported:expr) => {
        match $self {
            SeedOp::Negative($o) => $body,
            SeedOp::Log($o) => $body,
            SeedOp::Sigmoid($o) => $body,
            SeedOp::Multiply($o) => $body,
            SeedOp::MatMul($o) => $body,
            SeedOp::Add($o) => $body,
            SeedOp::ReduceSum($o) => $body,
            SeedOp::Softmax($o) => $body,
            SeedOp::Unsupported => $unsupported,
        }
    };
}

impl Op<f32> for SeedOp {
    fn name(&self) -> &'static str {
        dispatch!(self, o => Op::<f32>::name(o), _ => "unsupported")
    }

    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        dispatch!(self, o => Op::<f32>::out_shape(o, s), _ => Err(Error::InvalidArgument))
    }

    /// The standard ops' classes, so that the step plan fuses the dense layers and the loss
    /// exactly as it does for `StdOp`.
    fn class(&self) -> OpClass {
        let std = match *self {
            SeedOp::Negative(o) => StdOp::Negative(o),
            SeedOp::Log(o) => StdOp::Log(o),
            SeedOp::Sigmoid(o) => StdOp::Sigmoid(o),
            SeedOp::Multiply(o) => StdOp::Multiply(o),
            SeedOp::MatMul(o) => StdOp::MatMul(o),
            SeedOp::Add(o) => StdOp::Add(o),
            SeedOp::ReduceSum(o) => StdOp::ReduceSum(o),
            SeedOp::Softmax(o) => StdOp::Softmax(o),
            SeedOp::Unsupported => return OpClass::Other,
        };
        Op::<f32>::class(&std)
    }

    #[inline]
    fn forward(&self, x: &[MatRef<'_, f32>], y: MatMut<'_, f32>) {
        dispatch!(self, o => o.forward(x, y), _ => {})
    }

    #[inline]
    fn backward(
        &self,
        index: usize,
        x: &[MatRef<'_, f32>],
        y: MatRef<'_, f32>,
        g: MatRef<'_, f32>,
        dx: MatMut<'_, f32>,
    ) {
        dispatch!(self, o => o.backward(index, x, y, g, dx), _ => {})
    }
}
