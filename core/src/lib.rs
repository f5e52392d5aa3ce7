//! # embedgrad-core
//!
//! The foundation of embedgrad: a fixed-capacity computational graph with reverse-mode
//! automatic differentiation that needs no heap, no operating system and never panics.
//!
//! - [`Scalar`]: `f32` and `f64`, with transcendental functions from `libm` (default) or
//!   `micromath` (feature).
//! - [`Matrix<T, R, C>`]: const-generic, row-major, `Copy`, `const`-constructible.
//! - [`Graph<T, O, NODES, SCALARS>`]: placeholders, variables, constants and operations of an op
//!   set `O` (see [`Op`]); evaluation that computes each needed node once; backprop from a
//!   scalar loss in reverse topological order.
//! - [`Tensor<R, C>`]: typed, `Copy` node handles, so shape errors are compile errors.
//! - [`Error`]: one error type for everything.
//!
//! The operations themselves live in `embedgrad-ops`, training in `embedgrad-train`. Here is a
//! complete op defined from scratch — `y = x²` element-wise — and its gradient:
//!
//! ```
//! use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Matrix, Op, Shape};
//!
//! #[derive(Clone, Copy, Debug)]
//! struct Square;
//! impl Op<f64> for Square {
//!     fn name(&self) -> &'static str { "square" }
//!     fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
//!         expect_arity(s, 1)?;
//!         Ok(s[0])
//!     }
//!     fn forward(&self, x: &[MatRef<'_, f64>], mut y: MatMut<'_, f64>) {
//!         for (y, x) in y.as_mut_slice().iter_mut().zip(x[0].as_slice()) { *y = x * x; }
//!     }
//!     fn backward(&self, _: usize, x: &[MatRef<'_, f64>], _: MatRef<'_, f64>,
//!                 dy: MatRef<'_, f64>, mut dx: MatMut<'_, f64>) {
//!         for ((g, x), dy) in dx.as_mut_slice().iter_mut().zip(x[0].as_slice()).zip(dy.as_slice()) {
//!             *g += 2.0 * x * dy;
//!         }
//!     }
//! }
//!
//! let mut g: Graph<f64, Square, 4, 8> = Graph::new();
//! let w = g.variable(&Matrix::new([[3.0]]))?;
//! let y = g.op::<1, 1>(Square, &[w.id()])?;
//! assert_eq!(g.forward_backward(y)?, 9.0);
//! assert_eq!(g.grad(w)?.get(0, 0), Some(6.0));
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

mod error;
mod graph;
mod matrix;
pub mod nopanic;
mod op;
pub mod plan;
mod scalar;
mod tag;

pub use error::{Error, Origin};
pub use graph::{Graph, NodeKind, Requirements, Stats, VariableMut};
pub use matrix::{MatMut, MatRef, Matrix};
pub use op::{expect_arity, Activation, NoOp, Op, OpClass, ReduceAxis, MAX_INPUTS};
pub use plan::{kernels, BufferKind, PlanBuffer, PlanOptions, PlanSummary, StepInfo};
pub use scalar::{math, Scalar};

use core::fmt;

/// A runtime shape: rows × columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl Shape {
    /// A shape.
    pub const fn new(rows: usize, cols: usize) -> Self {
        Self { rows, cols }
    }

    /// `rows × cols`, or `None` on overflow.
    pub const fn len(&self) -> Option<usize> {
        self.rows.checked_mul(self.cols)
    }

    /// `true` when a dimension is zero.
    pub const fn is_empty(&self) -> bool {
        self.rows == 0 || self.cols == 0
    }

    /// The number of scalars, checking that both dimensions are in `1..=65535`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] otherwise.
    pub fn checked_len(&self) -> Result<usize, Error> {
        let max = u16::MAX as usize;
        if self.is_empty() || self.rows > max || self.cols > max {
            return Err(Error::InvalidShape(*self));
        }
        self.len().ok_or(Error::InvalidShape(*self))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.rows, self.cols)
    }
}

/// An untyped node handle: the graph's 48-bit tag and the node's 16-bit index, in a `u64`.
///
/// Its raw `u64` form (`tag << 16 | index`) is the handle of the C API; a handle of a live
/// node is never 0, and tag 0 is no graph's. Every graph takes a fresh tag from one counter
/// for the whole program when it is made and when it is cleared, so a handle of another graph,
/// or of this one before [`Graph::clear`], is refused ([`Error::ForeignNode`]) for the life of
/// a device: 48 bits come round after 2⁴⁸ − 1 tags, nine years of one `clear` a microsecond.
/// (The counter has no lock, which a Cortex-M0 would need; a race between an interrupt and the
/// main loop can give two graphs one tag, which weakens this check for them and nothing else.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(transparent)]
pub struct NodeId(u64);

impl NodeId {
    /// The largest graph tag, `2⁴⁸ − 1`.
    pub const TAG_MAX: u64 = tag::TAG_MAX;

    /// Builds a handle from a graph tag (its low 48 bits) and a node index.
    pub const fn new(tag: u64, index: u16) -> Self {
        Self(((tag & tag::TAG_MAX) << 16) | index as u64)
    }
    /// The raw `u64` (the C handle).
    pub const fn to_raw(self) -> u64 {
        self.0
    }
    /// From a raw `u64`; validity is checked by the graph when used.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The owning graph's tag (48 bits; 0 is no graph's).
    pub const fn tag(self) -> u64 {
        self.0 >> 16
    }
    /// The node's position in insertion order.
    pub const fn index(self) -> usize {
        (self.0 & 0xFFFF) as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}:{}", self.tag(), self.index())
    }
}

/// A typed, `Copy` handle to an `R × C` node. Builders take and return these, so that shapes
/// are checked at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tensor<const R: usize, const C: usize> {
    id: NodeId,
}

impl<const R: usize, const C: usize> Tensor<R, C> {
    /// The shape `R × C`.
    pub const SHAPE: Shape = Shape::new(R, C);

    /// The untyped handle.
    pub const fn id(self) -> NodeId {
        self.id
    }

    /// Wraps an untyped handle without checking its shape; the graph checks it on use where it
    /// matters. Prefer [`Graph::tensor`], which checks.
    pub const fn from_id(id: NodeId) -> Self {
        Self { id }
    }
}

impl<const R: usize, const C: usize> From<Tensor<R, C>> for NodeId {
    fn from(t: Tensor<R, C>) -> Self {
        t.id
    }
}
