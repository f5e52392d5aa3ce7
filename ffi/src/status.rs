//! Status codes and error details.

use crate::EgNode;
use core::ffi::c_char;
use embedgrad_core::{Error, Origin, Shape};
use embedgrad_train::checkpoint::{RestoreError, VERSION};
use embedgrad_train::safetensors::{Problem, WeightsError};

/// The result of every call: `EG_STATUS_OK` (0) or the reason it failed.
///
/// A call that fails writes none of its outputs, and leaves the graph as it was (a failed run
/// may have computed some values, but it never changes a variable, a feed or the structure).
/// The graph remembers the details of its last failure: see `eg_graph_last_error`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument is NULL.
    NullPointer = 1,
    /// A pointer is not aligned for its type (`eg_graph_align()` for graph memory).
    Misaligned = 2,
    /// A caller buffer is too small: graph memory smaller than `eg_graph_size()`, or an output
    /// array shorter than the node it receives.
    BufferTooSmall = 3,
    /// The graph or optimizer was not initialised by its init function (or was overwritten).
    NotInitialised = 4,
    /// An argument is out of range: an unknown op, axis or kind value, a parameter an op does
    /// not take, a learning rate or Adam epsilon that is negative, NaN or infinite, a
    /// momentum or Adam decay outside [0, 1), more nodes than a call takes.
    InvalidArgument = 5,
    /// Two buffers of one call overlap, or a buffer overlaps the graph itself.
    Overlap = 6,
    /// The graph memory holds a graph that was initialised at another address: a copy
    /// (`memcpy`, struct assignment) or a graph moved to other memory. It shares the original's
    /// tag, so the original's handles would be accepted; every call is refused until
    /// `eg_graph_init` is called on this memory.
    Moved = 7,
    /// The node table is full (`EG_NODES` nodes).
    NodeCapacity = 10,
    /// The scalar arena is full (`EG_SCALARS` values and gradients).
    ScalarCapacity = 11,
    /// A shape with a zero dimension or more than 65535 rows or columns.
    InvalidShape = 12,
    /// The inputs' shapes do not fit the op (or a handle's shape the call).
    ShapeMismatch = 13,
    /// A data array's length differs from the node's `rows * cols`.
    LengthMismatch = 14,
    /// The handle names no node of this graph (0, tag 0, or beyond the last node).
    UnknownNode = 15,
    /// The handle belongs to another graph, or to this graph before `eg_graph_clear` (or
    /// before `eg_graph_init` was called again on its memory).
    ForeignNode = 16,
    /// The node is of the wrong kind: feeding a non-placeholder, assigning to a placeholder or
    /// an op.
    WrongKind = 17,
    /// A placeholder the evaluation needs was never fed.
    MissingFeed = 18,
    /// A gradient was requested of a loss that is not 1x1.
    NotScalar = 19,
    /// The node has no gradient: it depends on no variable.
    NoGradient = 20,
    /// NaN or infinity in data, in an initial value or in a loss or gradient while training
    /// (then no variable is changed).
    NonFinite = 21,
    /// The op was given the wrong number of inputs.
    Arity = 22,
    /// The flash failed: a callback of `eg_flash` returned non-zero, or a slot did not read
    /// back as written (checkpoints). Nothing in the graph or optimizer changed.
    Storage = 23,
    /// The flash holds a damaged checkpoint: a committed one that no longer checks out (bit
    /// errors, a failing part). Not an empty store (that is `EG_RESTORED_NOTHING` with OK).
    /// Nothing changed; erase it on purpose with `eg_checkpoint_erase`.
    Corrupt = 24,
    /// A data source failed (not used by this API yet).
    Source = 25,
    /// The flash holds an intact checkpoint of another format version (written by other
    /// firmware): `found` is its version, `expected` this library's.
    OtherFormat = 26,
    /// The checkpoint was saved from another model (same number of variables and scalars,
    /// another structure), or one of another scalar type: `expected` and `found` are the
    /// fingerprints (or the bytes per scalar).
    OtherModel = 27,
    /// The checkpoint was saved by another kind of optimizer, one with other settings, or with
    /// other variables frozen: `expected` and `found` are the fingerprints. Restore the
    /// weights alone with `eg_checkpoint_restore_weights`.
    OtherOptimizer = 28,
    /// The checkpoint checked out, but the flash failed (or returned other bytes) while it was
    /// copied, twice: the variables and optimizer state are partly restored. The one failure
    /// that changes the graph: restore again, or rebuild the model.
    PartlyRestored = 29,
    /// A weight file was refused (a bad or truncated file, or one that does not fit the
    /// parameters): `eg_weights_last_error` names the tensor and the problem. Nothing changed.
    BadWeights = 30,
    /// An error this version of the C API does not know (a newer core library).
    Other = 99,
}

impl EgStatus {
    /// Every status, for tables and tests.
    ///
    /// Rust only: cbindgen would write it as a macro naming the Rust variants, which C cannot
    /// use (C code lists the `EG_STATUS_*` enumerators, or asks `eg_status_str`).
    ///
    /// cbindgen:ignore
    pub const ALL: [EgStatus; 30] = [
        EgStatus::Ok,
        EgStatus::NullPointer,
        EgStatus::Misaligned,
        EgStatus::BufferTooSmall,
        EgStatus::NotInitialised,
        EgStatus::InvalidArgument,
        EgStatus::Overlap,
        EgStatus::Moved,
        EgStatus::NodeCapacity,
        EgStatus::ScalarCapacity,
        EgStatus::InvalidShape,
        EgStatus::ShapeMismatch,
        EgStatus::LengthMismatch,
        EgStatus::UnknownNode,
        EgStatus::ForeignNode,
        EgStatus::WrongKind,
        EgStatus::MissingFeed,
        EgStatus::NotScalar,
        EgStatus::NoGradient,
        EgStatus::NonFinite,
        EgStatus::Arity,
        EgStatus::Storage,
        EgStatus::Corrupt,
        EgStatus::Source,
        EgStatus::OtherFormat,
        EgStatus::OtherModel,
        EgStatus::OtherOptimizer,
        EgStatus::PartlyRestored,
        EgStatus::BadWeights,
        EgStatus::Other,
    ];

    /// The status's name as a NUL-terminated C string (`"EG_STATUS_OK"`, ...).
    pub const fn name(self) -> &'static core::ffi::CStr {
        match self {
            EgStatus::Ok => c"EG_STATUS_OK",
            EgStatus::NullPointer => c"EG_STATUS_NULL_POINTER",
            EgStatus::Misaligned => c"EG_STATUS_MISALIGNED",
            EgStatus::BufferTooSmall => c"EG_STATUS_BUFFER_TOO_SMALL",
            EgStatus::NotInitialised => c"EG_STATUS_NOT_INITIALISED",
            EgStatus::InvalidArgument => c"EG_STATUS_INVALID_ARGUMENT",
            EgStatus::Overlap => c"EG_STATUS_OVERLAP",
            EgStatus::Moved => c"EG_STATUS_MOVED",
            EgStatus::NodeCapacity => c"EG_STATUS_NODE_CAPACITY",
            EgStatus::ScalarCapacity => c"EG_STATUS_SCALAR_CAPACITY",
            EgStatus::InvalidShape => c"EG_STATUS_INVALID_SHAPE",
            EgStatus::ShapeMismatch => c"EG_STATUS_SHAPE_MISMATCH",
            EgStatus::LengthMismatch => c"EG_STATUS_LENGTH_MISMATCH",
            EgStatus::UnknownNode => c"EG_STATUS_UNKNOWN_NODE",
            EgStatus::ForeignNode => c"EG_STATUS_FOREIGN_NODE",
            EgStatus::WrongKind => c"EG_STATUS_WRONG_KIND",
            EgStatus::MissingFeed => c"EG_STATUS_MISSING_FEED",
            EgStatus::NotScalar => c"EG_STATUS_NOT_SCALAR",
            EgStatus::NoGradient => c"EG_STATUS_NO_GRADIENT",
            EgStatus::NonFinite => c"EG_STATUS_NON_FINITE",
            EgStatus::Arity => c"EG_STATUS_ARITY",
            EgStatus::Storage => c"EG_STATUS_STORAGE",
            EgStatus::Corrupt => c"EG_STATUS_CORRUPT",
            EgStatus::Source => c"EG_STATUS_SOURCE",
            EgStatus::OtherFormat => c"EG_STATUS_OTHER_FORMAT",
            EgStatus::OtherModel => c"EG_STATUS_OTHER_MODEL",
            EgStatus::OtherOptimizer => c"EG_STATUS_OTHER_OPTIMIZER",
            EgStatus::PartlyRestored => c"EG_STATUS_PARTLY_RESTORED",
            EgStatus::BadWeights => c"EG_STATUS_BAD_WEIGHTS",
            EgStatus::Other => c"EG_STATUS_OTHER",
        }
    }

    /// The status with this numeric value, if any.
    pub fn from_raw(raw: i32) -> Option<EgStatus> {
        EgStatus::ALL.into_iter().find(|s| *s as i32 == raw)
    }
}

impl From<Error> for EgStatus {
    fn from(e: Error) -> Self {
        match e {
            Error::NodeCapacity { .. } => EgStatus::NodeCapacity,
            Error::ScalarCapacity { .. } => EgStatus::ScalarCapacity,
            Error::InvalidShape(_) => EgStatus::InvalidShape,
            Error::ShapeMismatch { .. } => EgStatus::ShapeMismatch,
            Error::LengthMismatch { .. } => EgStatus::LengthMismatch,
            Error::UnknownNode(_) => EgStatus::UnknownNode,
            Error::ForeignNode(_) => EgStatus::ForeignNode,
            Error::WrongNodeKind(_) => EgStatus::WrongKind,
            Error::MissingFeed(_) => EgStatus::MissingFeed,
            Error::NotScalar(_) => EgStatus::NotScalar,
            Error::NoGradient(_) => EgStatus::NoGradient,
            Error::NonFinite { .. } => EgStatus::NonFinite,
            Error::Arity { .. } => EgStatus::Arity,
            Error::TooSmall { .. } => EgStatus::BufferTooSmall,
            Error::InvalidArgument
            | Error::Misaligned { .. }
            | Error::InvalidParameter { .. }
            | Error::InvalidLabel { .. }
            | Error::InvalidTarget { .. } => EgStatus::InvalidArgument,
            Error::NonFiniteFeature { .. } => EgStatus::NonFinite,
            Error::Storage => EgStatus::Storage,
            Error::Corrupt => EgStatus::Corrupt,
            Error::Source => EgStatus::Source,
            _ => EgStatus::Other,
        }
    }
}

/// Where a NaN or infinity was found (`eg_error_info.origin` after `EG_STATUS_NON_FINITE`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgOrigin {
    /// Not a NON_FINITE error.
    None = 0,
    /// Data fed to a placeholder (`node`), or a batch given to `eg_accumulate`.
    Feed = 1,
    /// A value assigned to a variable or constant (`node`), or the initial value of a new one
    /// (`node` 0).
    Assign = 2,
    /// An op's parameter (a scale factor, a leaky relu slope).
    Parameter = 3,
    /// The loss of a step (`node`: the loss).
    Loss = 4,
    /// The gradient of a variable (`node`).
    Gradient = 5,
    /// An optimizer's update would take a variable (`node`) or its state out of the finite
    /// numbers.
    Update = 6,
    /// A variable (`node`) or the optimizer's state to be saved in a checkpoint (`node` 0),
    /// or a stored record that holds one.
    Checkpoint = 7,
}

impl EgOrigin {
    /// The C value of a Rust [`Origin`].
    pub fn from_origin(o: Origin) -> EgOrigin {
        match o {
            Origin::Feed => EgOrigin::Feed,
            Origin::Assign => EgOrigin::Assign,
            Origin::Parameter => EgOrigin::Parameter,
            Origin::Loss => EgOrigin::Loss,
            Origin::Gradient => EgOrigin::Gradient,
            Origin::Update => EgOrigin::Update,
            Origin::Checkpoint => EgOrigin::Checkpoint,
            _ => EgOrigin::None,
        }
    }
}

/// Details of a graph's last failed call (`eg_graph_last_error`). Fields that do not apply
/// to the status are 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EgErrorInfo {
    /// The status the call returned.
    pub status: EgStatus,
    /// The node concerned (unknown, foreign, wrong kind, missing feed, no gradient; for
    /// NON_FINITE the node fed, assigned, whose gradient or update it is, or the loss), or 0.
    pub node: EgNode,
    /// Expected count: length (LENGTH_MISMATCH), capacity (NODE_CAPACITY, SCALAR_CAPACITY),
    /// number of inputs (ARITY), elements or bytes needed (BUFFER_TOO_SMALL), the unit a
    /// flash address or length must be a multiple of, or the capacity it must fit below
    /// (INVALID_ARGUMENT from the checkpoint calls).
    pub expected: usize,
    /// Found count: length given, scalars or nodes needed (SCALAR_CAPACITY; at least that many
    /// for NODE_CAPACITY), inputs given, elements or bytes given
    /// (BUFFER_TOO_SMALL), the address or length given (checkpoint calls).
    pub found: usize,
    /// Expected shape (SHAPE_MISMATCH), rows.
    pub expected_rows: usize,
    /// Expected shape, columns.
    pub expected_cols: usize,
    /// Offending shape (SHAPE_MISMATCH, INVALID_SHAPE, NOT_SCALAR), rows.
    pub found_rows: usize,
    /// Offending shape, columns.
    pub found_cols: usize,
    /// Where a NaN or infinity was found (NON_FINITE), else `EG_ORIGIN_NONE`.
    pub origin: EgOrigin,
}

impl EgErrorInfo {
    /// No error: status OK, every field 0.
    pub(crate) const NONE: EgErrorInfo = EgErrorInfo::status(EgStatus::Ok);

    /// A status without details.
    pub(crate) const fn status(status: EgStatus) -> Self {
        EgErrorInfo {
            status,
            node: 0,
            expected: 0,
            found: 0,
            expected_rows: 0,
            expected_cols: 0,
            found_rows: 0,
            found_cols: 0,
            origin: EgOrigin::None,
        }
    }

    fn with_found_shape(mut self, s: Shape) -> Self {
        self.found_rows = s.rows;
        self.found_cols = s.cols;
        self
    }
}

impl From<Error> for EgErrorInfo {
    fn from(e: Error) -> Self {
        let mut i = EgErrorInfo::status(e.into());
        match e {
            Error::NodeCapacity { capacity, needed } => {
                i.expected = capacity;
                i.found = needed;
            }
            Error::NonFinite { origin, node } => {
                i.origin = EgOrigin::from_origin(origin);
                i.node = node.map_or(0, |id| id.to_raw());
            }
            Error::NonFiniteFeature { .. } => i.origin = EgOrigin::Feed,
            Error::ScalarCapacity {
                needed, capacity, ..
            } => {
                i.expected = capacity;
                i.found = needed;
            }
            Error::InvalidShape(s) | Error::NotScalar(s) => i = i.with_found_shape(s),
            Error::ShapeMismatch { expected, found } => {
                i.expected_rows = expected.rows;
                i.expected_cols = expected.cols;
                i = i.with_found_shape(found);
            }
            Error::LengthMismatch { expected, found } | Error::Arity { expected, found } => {
                i.expected = expected;
                i.found = found;
            }
            Error::TooSmall {
                needed, available, ..
            } => {
                i.expected = needed;
                i.found = available;
            }
            Error::Misaligned { value, unit, .. } => {
                i.expected = unit;
                i.found = value;
            }
            Error::UnknownNode(id)
            | Error::ForeignNode(id)
            | Error::WrongNodeKind(id)
            | Error::MissingFeed(id)
            | Error::NoGradient(id) => i.node = id.to_raw(),
            _ => {}
        }
        i
    }
}

/// Why a call failed, inside the library.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fail {
    /// A check of the C API itself.
    Api(EgStatus),
    /// A check of the C API, with details.
    Info(EgErrorInfo),
    /// An error of the graph.
    Core(Error),
    /// A checkpoint not restored.
    Restore(RestoreError),
}

impl Fail {
    /// BUFFER_TOO_SMALL with what is needed (`expected`) and what was given (`found`).
    pub(crate) const fn too_small(needed: usize, given: usize) -> Fail {
        let mut i = EgErrorInfo::status(EgStatus::BufferTooSmall);
        i.expected = needed;
        i.found = given;
        Fail::Info(i)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

impl From<EgStatus> for Fail {
    fn from(s: EgStatus) -> Self {
        Fail::Api(s)
    }
}

/// A u64 as a `size_t` (saturating on 32-bit targets).
fn count(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl From<WeightsError> for EgErrorInfo {
    /// The status of a weights error, with the counts that fit `expected` and `found` (the
    /// whole story is in `eg_weights_last_error`).
    fn from(w: WeightsError) -> Self {
        let mut i = EgErrorInfo::status(EgStatus::BadWeights);
        match w.problem {
            Problem::Graph(e) => return e.into(),
            Problem::BadName => i.status = EgStatus::InvalidArgument,
            Problem::Write { needed } => {
                i.status = EgStatus::BufferTooSmall;
                i.expected = needed;
            }
            Problem::TooShort { found } => {
                i.expected = 8;
                i.found = found;
            }
            Problem::HeaderPastEnd { header, available } => {
                i.expected = available;
                i.found = count(header);
            }
            Problem::TooManyTensors { capacity } => i.expected = capacity,
            Problem::OffsetsOutOfRange { end, data, .. } => {
                i.expected = data;
                i.found = count(end);
            }
            Problem::ByteLength { expected, found } => {
                i.expected = count(expected);
                i.found = count(found);
            }
            Problem::Uncovered { covered, data } => {
                i.expected = data;
                i.found = count(covered);
            }
            Problem::NonFinite { index } => i.found = index,
            _ => {}
        }
        i
    }
}

impl From<RestoreError> for EgErrorInfo {
    fn from(r: RestoreError) -> Self {
        let with = |s, expected: usize, found: usize| {
            let mut i = EgErrorInfo::status(s);
            i.expected = expected;
            i.found = found;
            i
        };
        match r {
            RestoreError::Storage => EgErrorInfo::status(EgStatus::Storage),
            RestoreError::CopyFailed => EgErrorInfo::status(EgStatus::PartlyRestored),
            RestoreError::Damaged => EgErrorInfo::status(EgStatus::Corrupt),
            RestoreError::OtherFormat { version } => with(
                EgStatus::OtherFormat,
                usize::from(VERSION),
                usize::from(version),
            ),
            RestoreError::OtherScalarType { expected, found } => with(
                EgStatus::OtherModel,
                usize::from(expected),
                usize::from(found),
            ),
            RestoreError::OtherModel { expected, found } => {
                with(EgStatus::OtherModel, expected as usize, found as usize)
            }
            RestoreError::OtherOptimizer { expected, found } => {
                with(EgStatus::OtherOptimizer, expected as usize, found as usize)
            }
            RestoreError::Mismatch(e) => e.into(),
            _ => EgErrorInfo::status(EgStatus::Other),
        }
    }
}

impl From<Fail> for EgErrorInfo {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Api(s) => EgErrorInfo::status(s),
            Fail::Info(i) => i,
            Fail::Core(e) => e.into(),
            Fail::Restore(r) => r.into(),
        }
    }
}

/// The name of a status value (`"EG_STATUS_SHAPE_MISMATCH"`), or `"EG_STATUS_UNKNOWN"` for a
/// value that is no status. Never NULL; the string is static.
#[no_mangle]
pub extern "C" fn eg_status_str(status: i32) -> *const c_char {
    match EgStatus::from_raw(status) {
        Some(s) => s.name().as_ptr(),
        None => c"EG_STATUS_UNKNOWN".as_ptr(),
    }
}
