//! The one error type of embedgrad.

use crate::{NodeId, Shape};
use core::fmt;

/// Everything that can go wrong when building, feeding, running or training a graph.
///
/// Every fallible call returns it and leaves the graph as it was before the call (a failed
/// `run` may have computed some values, but never changes a variable, a feed or the structure).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The node table is full (`NODES` nodes).
    NodeCapacity {
        /// The graph's node capacity.
        capacity: usize,
    },
    /// The scalar arena is too small: `needed` scalars would be in use after this node.
    ScalarCapacity {
        /// Scalars in use if the node were added.
        needed: usize,
        /// The graph's scalar capacity (`SCALARS`).
        capacity: usize,
    },
    /// A shape with a zero dimension, or one too large to index (over 65,535 rows or columns).
    InvalidShape(Shape),
    /// Shapes do not fit together.
    ShapeMismatch {
        /// The shape that was required.
        expected: Shape,
        /// The shape that was given.
        found: Shape,
    },
    /// A buffer's length does not match the shape it stands for.
    LengthMismatch {
        /// Required length.
        expected: usize,
        /// Given length.
        found: usize,
    },
    /// The handle names no node of this graph (out of range).
    UnknownNode(NodeId),
    /// The handle belongs to another graph.
    ForeignNode(NodeId),
    /// The node is of the wrong kind for this call (feeding a variable, assigning to an op, …).
    WrongNodeKind(NodeId),
    /// A placeholder needed by the evaluation was never fed.
    MissingFeed(NodeId),
    /// Gradients are only defined for a 1×1 (scalar) loss.
    NotScalar(Shape),
    /// The node has no gradient buffer: it does not depend on any variable.
    NoGradient(NodeId),
    /// A NaN or infinite value where finite values are required (fed data, a loss).
    NonFinite,
    /// An op was given the wrong number of inputs.
    Arity {
        /// Inputs the op takes.
        expected: usize,
        /// Inputs given.
        found: usize,
    },
    /// An argument is out of its documented range.
    InvalidArgument,
    /// Storage (flash) failed; see the checkpoint docs.
    Storage,
    /// Stored data is corrupt or of another format (bad magic, version, CRC or shape table).
    Corrupt,
    /// A data source (sensor, bus) failed to deliver a sample.
    Source,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NodeCapacity { capacity } => {
                write!(f, "graph is full: node capacity {capacity} reached")
            }
            Error::ScalarCapacity { needed, capacity } => write!(
                f,
                "scalar arena too small: {needed} scalars needed, capacity {capacity}"
            ),
            Error::InvalidShape(s) => write!(f, "invalid shape {s}"),
            Error::ShapeMismatch { expected, found } => {
                write!(f, "shape mismatch: expected {expected}, found {found}")
            }
            Error::LengthMismatch { expected, found } => {
                write!(f, "length mismatch: expected {expected}, found {found}")
            }
            Error::UnknownNode(id) => write!(f, "unknown node {id}"),
            Error::ForeignNode(id) => write!(f, "node {id} belongs to another graph"),
            Error::WrongNodeKind(id) => write!(f, "node {id} is of the wrong kind for this call"),
            Error::MissingFeed(id) => write!(f, "placeholder {id} was not fed"),
            Error::NotScalar(s) => write!(f, "gradient of a non-scalar ({s}) requested"),
            Error::NoGradient(id) => {
                write!(f, "node {id} has no gradient (depends on no variable)")
            }
            Error::NonFinite => f.write_str("non-finite value (NaN or infinity)"),
            Error::Arity { expected, found } => {
                write!(f, "op takes {expected} inputs, {found} given")
            }
            Error::InvalidArgument => f.write_str("argument out of range"),
            Error::Storage => f.write_str("storage error"),
            Error::Corrupt => f.write_str("stored data is corrupt or of another format"),
            Error::Source => f.write_str("data source failed"),
        }
    }
}

impl core::error::Error for Error {}
