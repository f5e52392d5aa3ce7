//! The one error type of embedgrad.

use crate::{NodeId, Shape};
use core::fmt;

/// Everything that can go wrong when building, feeding, running or training a graph.
///
/// Every fallible call returns it and leaves the graph as it was before the call (a failed
/// `run` may have computed some values, but never changes a variable, a feed or the structure).
///
/// Equality compares the numbers an error carries with `==`, so an error that carries a NaN
/// (say [`Error::InvalidParameter`] for a NaN learning rate) is not equal to itself; match on
/// the variant and its other fields instead.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The node table is full (`NODES` nodes).
    NodeCapacity {
        /// The graph's node capacity (`NODES`).
        capacity: usize,
        /// Nodes the graph would hold with the one being added: a lower bound of what the
        /// whole graph needs (the nodes after it need more; build it with a larger `NODES` on
        /// the host and read [`Graph::len`](crate::Graph::len), or size a layered model with
        /// its `capacity`).
        needed: usize,
    },
    /// The scalar arena is too small: `needed` scalars would be in use.
    ScalarCapacity {
        /// Scalars needed: the whole graph's when `partial` is false (a plan's buffers), else
        /// those in use if the node being added were added — the nodes after it need more
        /// (build the graph with a larger `SCALARS` on the host and read
        /// [`Graph::requirements`](crate::Graph::requirements) for the whole).
        needed: usize,
        /// The graph's scalar capacity (`SCALARS`).
        capacity: usize,
        /// Whether `needed` counts only up to the node being added.
        partial: bool,
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
    /// The handle names no node of this graph: its index is past the last node, or its tag is
    /// 0, which is no graph's.
    UnknownNode(NodeId),
    /// The handle belongs to another graph, or to this one before [`Graph::clear`](crate::Graph::clear)
    /// (its tag is not the graph's).
    ForeignNode(NodeId),
    /// The node is of the wrong kind for this call (feeding a variable, assigning to an op, …).
    WrongNodeKind(NodeId),
    /// A placeholder needed by the evaluation was never fed.
    MissingFeed(NodeId),
    /// Gradients are only defined for a 1×1 (scalar) loss.
    NotScalar(Shape),
    /// The node has no gradient buffer: it does not depend on any variable.
    NoGradient(NodeId),
    /// A NaN or infinite value where finite values are required.
    NonFinite {
        /// Where it was found: fed data, an assigned value, an op's parameter, the loss, a
        /// gradient, an update or a checkpoint.
        origin: Origin,
        /// The node concerned: the placeholder fed, the variable assigned, whose gradient or
        /// update it is or that a checkpoint holds, or the loss; `None` when there is none yet
        /// (the initial value of a node being added, an op's parameter, an optimizer's state,
        /// a stored record).
        node: Option<NodeId>,
    },
    /// An op was given the wrong number of inputs.
    Arity {
        /// Inputs the op takes.
        expected: usize,
        /// Inputs given.
        found: usize,
    },
    /// An argument is out of its documented range.
    InvalidArgument,
    /// A buffer, state or storage area is smaller than what it must hold.
    TooSmall {
        /// What is too small (`"optimizer state"`, `"checkpoint slot"`, `"flash"`, …).
        what: &'static str,
        /// What it must hold (scalars or bytes, as `what` says).
        needed: usize,
        /// What it holds.
        available: usize,
    },
    /// A size or address that must be a non-zero multiple of a unit is not.
    Misaligned {
        /// Which value (`"checkpoint slot base"`, `"checkpoint slot length"`, …).
        what: &'static str,
        /// The value given.
        value: usize,
        /// The unit it must be a multiple of (the flash's erase size, …).
        unit: usize,
    },
    /// Storage (flash) failed; see the checkpoint docs.
    Storage,
    /// Stored data is corrupt or of another format (bad magic, version, CRC or shape table).
    Corrupt,
    /// A data source (sensor, bus) failed to deliver a sample.
    Source,
    /// The node's value is not held: it was never computed since the graph changed, or the
    /// step plan fused it into a layer or reused its memory (plan with it in
    /// `PlanOptions::keep` to keep it).
    NotKept(NodeId),
    /// A planned step was asked for a loss that no installed plan is for (call
    /// [`Graph::plan`](crate::Graph::plan) first).
    NotPlanned(NodeId),
    /// A hyper-parameter (learning rate, momentum, Adam's betas or epsilon, …) is outside
    /// its range.
    InvalidParameter {
        /// The parameter's name (`"learning_rate"`, `"beta1"`, …).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The range it must lie in, in words (`"finite and > 0"`, `"in [0, 1)"`).
        expected: &'static str,
    },
    /// A class label that is not an integer in `0..classes`.
    InvalidLabel {
        /// The row (of the data set or of the label buffer).
        row: usize,
        /// The label given.
        label: f64,
        /// The number of classes.
        classes: usize,
    },
    /// A binary cross-entropy target outside `[0, 1]` (or NaN).
    InvalidTarget {
        /// The row of the target.
        row: usize,
        /// Its column.
        col: usize,
        /// The target given.
        value: f64,
    },
    /// A NaN or infinite feature in a data set.
    NonFiniteFeature {
        /// The row.
        row: usize,
        /// The feature's index in the row.
        col: usize,
        /// The value (NaN or ±infinity).
        value: f64,
    },
}

/// Where a NaN or infinity was found ([`Error::NonFinite`]).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Origin {
    /// Data fed to a placeholder (or to a model's input or targets).
    Feed,
    /// A value assigned to a variable, or the initial value of a new constant or variable.
    Assign,
    /// An op's parameter (a `scale` factor, a `leaky_relu` slope).
    Parameter,
    /// The loss a step computed.
    Loss,
    /// A variable's gradient after backpropagation.
    Gradient,
    /// An optimizer's update: it would take the variable (or the optimizer's state) out of
    /// the finite numbers.
    Update,
    /// A variable or an optimizer state to be saved in a checkpoint, or a stored record that
    /// says it holds one.
    Checkpoint,
}

impl Origin {
    /// The origin's name in the messages: `"fed data"`, `"an assigned value"`, ….
    pub const fn describe(self) -> &'static str {
        match self {
            Origin::Feed => "fed data",
            Origin::Assign => "an assigned value",
            Origin::Parameter => "an op's parameter",
            Origin::Loss => "the loss",
            Origin::Gradient => "a gradient",
            Origin::Update => "an update",
            Origin::Checkpoint => "checkpoint data",
        }
    }
}

impl Error {
    /// [`Error::NonFinite`] from `origin` at `node`.
    pub const fn non_finite(origin: Origin, node: NodeId) -> Error {
        Error::NonFinite {
            origin,
            node: Some(node),
        }
    }

    /// This error, if it is [`Error::NonFinite`], as found in `origin` at `node` (any other
    /// error as it is).
    pub(crate) const fn at(self, origin: Origin, node: NodeId) -> Error {
        match self {
            Error::NonFinite { .. } => Error::non_finite(origin, node),
            e => e,
        }
    }

    /// [`Error::NonFinite`] from `origin`, with no node to name.
    pub const fn non_finite_in(origin: Origin) -> Error {
        Error::NonFinite { origin, node: None }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NodeCapacity { capacity, needed } => write!(
                f,
                "graph is full: node capacity {capacity} reached, at least {needed} nodes needed"
            ),
            Error::ScalarCapacity {
                needed,
                capacity,
                partial: false,
            } => write!(
                f,
                "scalar arena too small: {needed} scalars needed, capacity {capacity}"
            ),
            Error::ScalarCapacity {
                needed,
                capacity,
                partial: true,
            } => write!(
                f,
                "scalar arena too small: {needed} scalars needed up to this node and more after \
                 it, capacity {capacity} (requirements() on a larger graph gives the whole)"
            ),
            Error::InvalidShape(s) => write!(f, "invalid shape {s}"),
            Error::ShapeMismatch { expected, found } => {
                write!(f, "shape mismatch: expected {expected}, found {found}")
            }
            Error::LengthMismatch { expected, found } => {
                write!(f, "length mismatch: expected {expected}, found {found}")
            }
            Error::UnknownNode(id) => write!(f, "unknown node {id}"),
            Error::ForeignNode(id) => {
                write!(f, "node {id} belongs to another graph, or to this one before a clear")
            }
            Error::WrongNodeKind(id) => write!(f, "node {id} is of the wrong kind for this call"),
            Error::MissingFeed(id) => write!(f, "placeholder {id} was not fed"),
            Error::NotScalar(s) => write!(f, "gradient of a non-scalar ({s}) requested"),
            Error::NoGradient(id) => {
                write!(f, "node {id} has no gradient (depends on no variable)")
            }
            Error::NonFinite { origin, node } => {
                write!(f, "non-finite value (NaN or infinity) in {}", origin.describe())?;
                match (origin, node) {
                    (_, None) => Ok(()),
                    (Origin::Gradient | Origin::Update, Some(id)) => {
                        write!(f, " of variable {id}")
                    }
                    (Origin::Loss, Some(id)) => write!(f, " (node {id})"),
                    (_, Some(id)) => write!(f, " for node {id}"),
                }
            }
            Error::Arity { expected, found } => {
                write!(f, "op takes {expected} inputs, {found} given")
            }
            Error::InvalidArgument => f.write_str("argument out of range"),
            Error::TooSmall {
                what,
                needed,
                available,
            } => write!(f, "{what} too small: {needed} needed, {available} available"),
            Error::Misaligned { what, value, unit } => {
                write!(f, "{what} {value} is not a non-zero multiple of {unit}")
            }
            Error::Storage => f.write_str("storage error"),
            Error::Corrupt => f.write_str("stored data is corrupt or of another format"),
            Error::Source => f.write_str("data source failed"),
            Error::NotKept(id) => write!(
                f,
                "the value of node {id} is not held (not computed yet, or fused or reused by the step plan)"
            ),
            Error::NotPlanned(id) => write!(f, "no step plan is installed for loss {id}"),
            Error::InvalidParameter {
                name,
                value,
                expected,
            } => write!(f, "invalid {name} {value}: must be {expected}"),
            Error::InvalidLabel {
                row,
                label,
                classes,
            } => write!(
                f,
                "invalid label {label} in row {row}: must be a class index 0..{classes}"
            ),
            Error::InvalidTarget { row, col, value } => write!(
                f,
                "invalid target {value} in row {row}, column {col}: must be in [0, 1]"
            ),
            Error::NonFiniteFeature { row, col, value } => {
                write!(f, "feature {col} of row {row} is {value}: must be finite")
            }
        }
    }
}

// Equality of the carried numbers is `==` (see the type's docs); everything else is exact.
impl Eq for Error {}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_numbers() {
        let whole = Error::ScalarCapacity {
            needed: 3828,
            capacity: 3827,
            partial: false,
        };
        assert_eq!(
            whole.to_string(),
            "scalar arena too small: 3828 scalars needed, capacity 3827"
        );
        let partial = Error::ScalarCapacity {
            needed: 412,
            capacity: 411,
            partial: true,
        };
        let m = partial.to_string();
        assert!(
            m.contains("412 scalars needed up to this node and more after it"),
            "{m}"
        );
        assert!(m.contains("capacity 411"), "{m}");
        let small = Error::TooSmall {
            what: "optimizer state",
            needed: 2410,
            available: 330,
        };
        assert_eq!(
            small.to_string(),
            "optimizer state too small: 2410 needed, 330 available"
        );
        let slot = Error::Misaligned {
            what: "checkpoint slot base",
            value: 128,
            unit: 256,
        };
        assert_eq!(
            slot.to_string(),
            "checkpoint slot base 128 is not a non-zero multiple of 256"
        );
        let full = Error::NodeCapacity {
            capacity: 6,
            needed: 7,
        };
        assert_eq!(
            full.to_string(),
            "graph is full: node capacity 6 reached, at least 7 nodes needed"
        );
    }

    #[test]
    fn non_finite_names_its_origin_and_node() {
        let id = NodeId::new(5, 3);
        let cases = [
            (Origin::Feed, "in fed data for node"),
            (Origin::Assign, "in an assigned value for node"),
            (Origin::Loss, "in the loss (node"),
            (Origin::Gradient, "in a gradient of variable"),
            (Origin::Update, "in an update of variable"),
            (Origin::Checkpoint, "in checkpoint data for node"),
        ];
        for (origin, words) in cases {
            let m = Error::non_finite(origin, id).to_string();
            assert!(m.starts_with("non-finite value (NaN or infinity) "), "{m}");
            assert!(m.contains(words), "{m}");
            assert!(m.contains(&id.to_string()), "{m}");
        }
        assert_eq!(
            Error::non_finite_in(Origin::Parameter).to_string(),
            "non-finite value (NaN or infinity) in an op's parameter"
        );
    }
}
