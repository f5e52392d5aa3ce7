//! # embedgrad-ops
//!
//! The operations of embedgrad: each in its own module with its forward and backward kernels
//! (on runtime-shaped slices, so each exists once in machine code), a typed builder method
//! (shapes checked at compile time), its formula, derivative, an example and its tests — literal
//! values and a central-difference gradient check in f64.
//!
//! [`StdOp`] is the enum of all of them, and [`StdGraph`] a [`Graph`] over it. Import the
//! builders with `use embedgrad_ops::prelude::*;`.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//!
//! // The tutorial's perceptron: softmax(X W + b) and its cross-entropy loss.
//! let mut g: StdGraph<f64, 16, 128> = StdGraph::new();
//! let x = g.placeholder::<2, 2>()?;
//! let c = g.placeholder::<2, 2>()?;
//! let w = g.variable(&Matrix::new([[1.0, -1.0], [0.5, 0.25]]))?;
//! let b = g.variable(&Matrix::new([[0.0, 0.0]]))?;
//! let xw = g.matmul(x, w)?;
//! let logits = g.add(xw, b)?;
//! let p = g.softmax(logits)?;
//! let logp = g.log(p)?;
//! let cl = g.multiply(c, logp)?;
//! let per_row = g.reduce_sum_axis1(cl)?;
//! let total = g.reduce_sum(per_row)?;
//! let loss = g.negative(total)?;
//! g.feed(x, &Matrix::new([[1.0, 2.0], [-1.0, -2.0]]))?;
//! g.feed(c, &Matrix::new([[1.0, 0.0], [0.0, 1.0]]))?;
//! let j = g.forward_backward(loss)?;
//! assert!(j > 0.0);
//! let dw = g.grad(w)?; // ∂J/∂W, ready for a gradient-descent step
//! # let _ = dw;
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! ## The step plan
//!
//! [`Graph::plan`] turns a graph built op by op into a planned, fused training step
//! (see `embedgrad_core::plan`): here the tutorial's perceptron runs as one dense layer and
//! one fused softmax-cross-entropy, in a fraction of the memory.
//!
//! ```
//! use embedgrad_core::{Matrix, PlanOptions};
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 16, 256> = StdGraph::new();
//! let x = g.placeholder::<4, 2>()?;
//! let c = g.placeholder::<4, 2>()?;
//! let w = g.variable(&Matrix::new([[0.5, -0.5], [0.25, 1.0]]))?;
//! let b = g.variable(&Matrix::new([[0.0, 0.1]]))?;
//! let xw = g.matmul(x, w)?;
//! let z = g.add(xw, b)?;
//! let p = g.softmax(z)?;
//! let lp = g.log(p)?;
//! let m = g.multiply(c, lp)?;
//! let rows = g.reduce_sum_axis1(m)?;
//! let total = g.reduce_sum(rows)?;
//! let loss = g.negative(total)?;
//! g.feed(x, &Matrix::new([[1.0, 2.0], [-1.0, 0.5], [0.0, 1.0], [2.0, -1.0]]))?;
//! g.feed(c, &Matrix::new([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))?;
//! let summary = g.plan(loss, PlanOptions::default())?;
//! assert_eq!(summary.steps, 2); // one dense layer, one fused loss
//! assert!(summary.scalars < g.requirements().unplanned_scalars);
//! let l = g.step(loss, |v| {
//!     for (w, d) in v.value.iter_mut().zip(v.grad) { *w -= 0.1 * d; }
//!     Ok(())
//! })?;
//! assert!(l > 0.0);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! ## Your own ops
//!
//! The graph is generic over its op type, so you add an op (the tutorial's
//! `RegisterGradient`) by wrapping [`StdOp`] in an enum of your own. The standard builders work
//! on any op type that implements `From<StdOp>`:
//!
//! ```
//! use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Matrix, Op, Scalar, Shape};
//! use embedgrad_ops::{prelude::*, StdOp};
//!
//! /// y = x³, element-wise.
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! struct Cube;
//!
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! enum MyOp { Std(StdOp), Cube(Cube) }
//! impl From<StdOp> for MyOp { fn from(o: StdOp) -> Self { MyOp::Std(o) } }
//!
//! impl<T: Scalar> Op<T> for MyOp {
//!     fn name(&self) -> &'static str {
//!         match self { MyOp::Std(o) => Op::<T>::name(o), MyOp::Cube(_) => "cube" }
//!     }
//!     fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
//!         match self {
//!             MyOp::Std(o) => Op::<T>::out_shape(o, s),
//!             MyOp::Cube(_) => { expect_arity(s, 1)?; Ok(s[0]) }
//!         }
//!     }
//!     fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
//!         match self {
//!             MyOp::Std(o) => o.forward(x, y),
//!             MyOp::Cube(_) => for (y, &x) in y.as_mut_slice().iter_mut().zip(x[0].as_slice()) {
//!                 *y = x * x * x;
//!             },
//!         }
//!     }
//!     // Delegating `class` keeps the standard ops fusable by the step planner.
//!     fn class(&self) -> embedgrad_core::OpClass {
//!         match self { MyOp::Std(o) => Op::<T>::class(o), MyOp::Cube(_) => embedgrad_core::OpClass::Other }
//!     }
//!     fn backward(&self, i: usize, x: &[MatRef<'_, T>], y: MatRef<'_, T>,
//!                 g: MatRef<'_, T>, mut dx: MatMut<'_, T>) {
//!         match self {
//!             MyOp::Std(o) => o.backward(i, x, y, g, dx),
//!             MyOp::Cube(_) => {
//!                 let three = T::from_f64(3.0);
//!                 for ((d, &x), &g) in dx.as_mut_slice().iter_mut().zip(x[0].as_slice()).zip(g.as_slice()) {
//!                     *d += three * x * x * g;
//!                 }
//!             }
//!         }
//!     }
//! }
//!
//! let mut g: Graph<f64, MyOp, 8, 32> = Graph::new();
//! let w = g.variable(&Matrix::new([[2.0, -1.0]]))?;
//! let c = g.op::<1, 2>(MyOp::Cube(Cube), &[w.id()])?;
//! let loss = g.reduce_sum(c)?; // a standard op on the custom one
//! assert_eq!(g.forward_backward(loss)?, 7.0);
//! assert_eq!(g.grad(w)?, Matrix::new([[12.0, 3.0]]));
//! # Ok::<(), Error>(())
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use embedgrad_core::{
    Activation, Error, Graph, MatMut, MatRef, Op, OpClass, ReduceAxis, Scalar, Shape,
};

#[cfg(test)]
mod testing;

/// Defines an element-wise unary op — the struct, its [`Op`] implementation and its builder
/// trait — from two expressions: one output entry from the input entry `x`, and the increment
/// of one input-gradient entry from the input entry, the output entry and the output-gradient
/// entry (the names are the caller's; `_` for unused ones). `T` is the scalar type.
#[macro_export]
#[doc(hidden)]
macro_rules! unary_op {
    (
        $(#[$sdoc:meta])*
        $ty:ident, $name:literal;
        $(#[$tdoc:meta])*
        $ext:ident :: $method:ident {
            $(#[$mdoc:meta])*
        }
        forward($x:pat) $fwd:block
        backward($bx:pat, $by:pat, $bg:pat) $bwd:block
    ) => {
        $(#[$sdoc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $ty;

        impl<T: ::embedgrad_core::Scalar> ::embedgrad_core::Op<T> for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn out_shape(
                &self,
                s: &[::embedgrad_core::Shape],
            ) -> Result<::embedgrad_core::Shape, ::embedgrad_core::Error> {
                ::embedgrad_core::expect_arity(s, 1)?;
                s.first().copied().ok_or(::embedgrad_core::Error::InvalidArgument)
            }
            fn forward(
                &self,
                x: &[::embedgrad_core::MatRef<'_, T>],
                mut y: ::embedgrad_core::MatMut<'_, T>,
            ) {
                let Some(x) = x.first() else { return };
                for (y, &$x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
                    *y = $fwd;
                }
            }
            fn backward(
                &self,
                _: usize,
                x: &[::embedgrad_core::MatRef<'_, T>],
                y: ::embedgrad_core::MatRef<'_, T>,
                g: ::embedgrad_core::MatRef<'_, T>,
                mut dx: ::embedgrad_core::MatMut<'_, T>,
            ) {
                let Some(x) = x.first() else { return };
                let entries = x.as_slice().iter().zip(y.as_slice()).zip(g.as_slice());
                for (d, ((&$bx, &$by), &$bg)) in dx.as_mut_slice().iter_mut().zip(entries) {
                    *d += $bwd;
                }
            }
        }

        $(#[$tdoc])*
        pub trait $ext<T> {
            $(#[$mdoc])*
            ///
            /// # Errors
            /// Capacity errors and bad handles (see [`Graph::push_op`](::embedgrad_core::Graph::push_op)).
            fn $method<const R: usize, const C: usize>(
                &mut self,
                x: ::embedgrad_core::Tensor<R, C>,
            ) -> Result<::embedgrad_core::Tensor<R, C>, ::embedgrad_core::Error>;
        }

        impl<
                T: ::embedgrad_core::Scalar,
                O: ::embedgrad_core::Op<T> + From<$crate::StdOp>,
                const N: usize,
                const S: usize,
            > $ext<T> for ::embedgrad_core::Graph<T, O, N, S>
        {
            fn $method<const R: usize, const C: usize>(
                &mut self,
                x: ::embedgrad_core::Tensor<R, C>,
            ) -> Result<::embedgrad_core::Tensor<R, C>, ::embedgrad_core::Error> {
                self.op($crate::StdOp::from($ty).into(), &[x.id()])
            }
        }
    };
}

/// Declares the op modules, the [`StdOp`] enum, its dispatch and the prelude: adding an op is
/// one new file plus one line here.
macro_rules! std_ops {
    ($( $module:ident :: $ty:ident => $ext:ident ),* $(,)?) => {
        $( pub mod $module; )*

        /// Every standard operation: the op type of [`StdGraph`].
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum StdOp {
            $(
                #[doc = concat!("See [`", stringify!($module), "`].")]
                $ty($module::$ty),
            )*
        }

        $(
            impl From<$module::$ty> for StdOp {
                fn from(o: $module::$ty) -> Self {
                    StdOp::$ty(o)
                }
            }
        )*

        impl<T: Scalar> Op<T> for StdOp {
            fn name(&self) -> &'static str {
                match self { $( StdOp::$ty(o) => Op::<T>::name(o), )* }
            }
            fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
                match self { $( StdOp::$ty(o) => Op::<T>::out_shape(o, s), )* }
            }
            #[inline]
            fn forward(&self, x: &[MatRef<'_, T>], y: MatMut<'_, T>) {
                match self { $( StdOp::$ty(o) => o.forward(x, y), )* }
            }
            #[inline]
            fn backward(
                &self,
                index: usize,
                x: &[MatRef<'_, T>],
                y: MatRef<'_, T>,
                g: MatRef<'_, T>,
                dx: MatMut<'_, T>,
            ) {
                match self { $( StdOp::$ty(o) => o.backward(index, x, y, g, dx), )* }
            }
            fn class(&self) -> OpClass {
                std_class(self)
            }
        }

        /// `use embedgrad_ops::prelude::*;` brings every builder method into scope.
        pub mod prelude {
            pub use super::{StdGraph, StdOp};
            $( pub use super::$module::$ext; )*
        }
    };
}

std_ops! {
    negative::Negative => NegativeExt,
    log::Log => LogExt,
    sigmoid::Sigmoid => SigmoidExt,
    multiply::Multiply => MultiplyExt,
    matmul::MatMul => MatMulExt,
    add::Add => AddExt,
    reduce_sum::ReduceSum => ReduceSumExt,
    softmax::Softmax => SoftmaxExt,
    subtract::Subtract => SubtractExt,
    exp::Exp => ExpExt,
    square::Square => SquareExt,
    scale::Scale => ScaleExt,
    mean::Mean => MeanExt,
    relu::Relu => ReluExt,
    leaky_relu::LeakyRelu => LeakyReluExt,
    tanh::Tanh => TanhExt,
    softmax_cross_entropy::SoftmaxCrossEntropy => SoftmaxCrossEntropyExt,
    sparse_softmax_cross_entropy::SparseSoftmaxCrossEntropy => SparseSoftmaxCrossEntropyExt,
    sigmoid_binary_cross_entropy::SigmoidBinaryCrossEntropy => SigmoidBinaryCrossEntropyExt,
    mse::Mse => MseExt,
    conv1d::Conv1d => Conv1dExt,
    depthwise_conv1d::DepthwiseConv1d => DepthwiseConv1dExt,
    max_pool1d::MaxPool1d => MaxPool1dExt,
    avg_pool1d::AvgPool1d => AvgPool1dExt,
    global_avg_pool1d::GlobalAvgPool1d => GlobalAvgPool1dExt,
    reshape::Reshape => ReshapeExt,
    slice_cols::SliceCols => SliceColsExt,
    gru::Gru => GruExt,
}

/// The fusion class of each standard op (see [`Op::class`]): what lets the step planner run
/// the tutorial's `matmul → add → sigmoid` as one dense layer and its five-op loss as one
/// softmax-cross-entropy.
fn std_class(op: &StdOp) -> OpClass {
    match op {
        StdOp::MatMul(_) => OpClass::MatMul,
        StdOp::Add(_) => OpClass::Add,
        StdOp::Sigmoid(_) => OpClass::Activation(Activation::Sigmoid),
        StdOp::Tanh(_) => OpClass::Activation(Activation::Tanh),
        StdOp::Relu(_) => OpClass::Activation(Activation::Relu),
        StdOp::LeakyRelu(o) => OpClass::Activation(Activation::LeakyRelu(o.slope())),
        StdOp::Softmax(_) => OpClass::Softmax,
        StdOp::Log(_) => OpClass::Log,
        StdOp::Multiply(_) => OpClass::Multiply,
        StdOp::Negative(_) => OpClass::Negative,
        StdOp::ReduceSum(r) => OpClass::ReduceSum(match r.axis {
            reduce_sum::Axis::All => ReduceAxis::All,
            reduce_sum::Axis::Rows => ReduceAxis::Rows,
            reduce_sum::Axis::Cols => ReduceAxis::Cols,
        }),
        StdOp::SoftmaxCrossEntropy(_) => OpClass::SoftmaxCrossEntropy,
        _ => OpClass::Other,
    }
}

/// A [`Graph`] over the standard ops.
pub type StdGraph<T, const NODES: usize, const SCALARS: usize> = Graph<T, StdOp, NODES, SCALARS>;

#[cfg(test)]
mod graph_tests;
#[cfg(test)]
mod plan_tests;
