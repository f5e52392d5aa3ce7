//! Checkpoints: every variable, the optimizer's state and its update count, saved to bytes or
//! to NOR flash so that a power cut never loses the last good model — and restored only into
//! the model and optimizer they were saved from.
//!
//! A device that learns in the field saves its model now and then with [`Store::save`] and
//! picks it up after a reset with [`Store::restore`]. The store keeps **two slots** in flash and
//! writes each new checkpoint into the slot that does *not* hold the newest one, finishing with
//! a commit marker; a slot counts only when its commit has begun and its CRC matches. So
//! whenever the power goes — during the erase, in the middle of a word, just before the
//! marker — the previous checkpoint is still there, and [`Store::restore`] loads exactly the old
//! model or exactly the new one, never a mix of the two.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::checkpoint::{sim::SimFlash, RestoreError, Restored, Store};
//! use embedgrad_train::GradientDescent;
//!
//! // Any `embedded_storage::nor_flash::NorFlash` works; here a simulated 4 KiB flash with
//! // 4-byte words and 256-byte sectors. Two 512-byte slots start at offset 0.
//! let mut store = Store::new(SimFlash::<4096, 4, 256>::new(), 0, 512)?;
//!
//! let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
//! let w = g.variable(&Matrix::new([[3.0f32, -1.0]]))?;
//! let sq = g.multiply(w, w)?;
//! let loss = g.reduce_sum(sq)?;
//! let mut opt = GradientDescent::new(0.25f32);
//! opt.minimize(&mut g, loss)?;
//! assert_eq!(store.save(&g, &opt)?, 1); // the first checkpoint has sequence number 1
//!
//! // After a reset: the same graph is built again, then its variables are restored.
//! let mut fresh: StdGraph<f32, 4, 16> = StdGraph::new();
//! let w2 = fresh.variable(&Matrix::new([[0.0f32, 0.0]]))?;
//! let sq2 = fresh.multiply(w2, w2)?;
//! fresh.reduce_sum(sq2)?;
//! match store.restore(&mut fresh, &mut opt).map_err(RestoreError::into_error)? {
//!     Restored::Checkpoint { info, .. } => assert_eq!(info.sequence, 1),
//!     Restored::Empty => unreachable!("a checkpoint was saved"),
//! }
//! assert_eq!(fresh.value(w2)?, g.value(w)?);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! # On a device
//!
//! [`Store::restore`] has three outcomes a firmware must keep apart:
//!
//! ```
//! # use embedgrad_core::{Error, Matrix};
//! # use embedgrad_ops::prelude::*;
//! # use embedgrad_train::checkpoint::{sim::SimFlash, Restored, RestoreError, Store};
//! # use embedgrad_train::GradientDescent;
//! # fn boot() -> Result<(), Error> {
//! # let mut store = Store::new(SimFlash::<4096, 4, 256>::new(), 0, 512)?;
//! # let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
//! # g.variable(&Matrix::new([[3.0f32, -1.0]]))?;
//! # let mut opt = GradientDescent::new(0.25f32);
//! match store.restore(&mut g, &mut opt) {
//!     // Resume training from the checkpoint.
//!     Ok(Restored::Checkpoint { info, other_damaged }) => { /* … */ }
//!     // Nothing was ever committed (a new device, or its first save was cut short):
//!     // start from the initial weights; saving is safe.
//!     Ok(Restored::Empty) => { /* … */ }
//!     // The flash failed to read: nothing changed. Try again; do not save over it.
//!     Err(RestoreError::Storage) => { /* … */ }
//!     // The flash holds a checkpoint this firmware must not use — damaged, of another
//!     // format version, or of another model or optimizer — and nothing changed. Do not start
//!     // afresh and save (two saves would overwrite both slots): report it, and discard it
//!     // only on purpose (for example after a deliberate model change) with `erase_all`.
//!     Err(e) => { /* … */ }
//! }
//! # Ok(()) }
//! # boot().unwrap();
//! ```
//!
//! # Format (version 2)
//!
//! A *record* is little-endian throughout:
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `"EGCK"` ([`MAGIC`]) |
//! | 4 | 2 | format version, 2 ([`VERSION`]) |
//! | 6 | 1 | bytes per scalar: 4 (`f32`) or 8 (`f64`) |
//! | 7 | 1 | reserved, 0 |
//! | 8 | 4 | sequence number |
//! | 12 | 4 | `V`, the number of variables |
//! | 16 | 4 | `P`, scalars in all variables |
//! | 20 | 4 | `Q`, scalars of optimizer state ([`Optimizer::state`]) |
//! | 24 | 4 | the optimizer's update count ([`Optimizer::update_count`]) |
//! | 28 | 4 | record length in bytes, `40 + 4V + B(P + Q) + 4` |
//! | 32 | 4 | model fingerprint ([`model_fingerprint`]) |
//! | 36 | 4 | optimizer fingerprint ([`Optimizer::fingerprint`]; combined with which variables are trainable when some are frozen) |
//! | 40 | 4·V | shape table: `rows: u16`, `cols: u16` of each variable, in insertion order |
//! | 40 + 4V | B·P | variable values, row-major, one variable after the other |
//! | … | B·Q | optimizer state |
//! | length − 4 | 4 | CRC-32 (IEEE 802.3, the zlib one; see [`crc32`]) of every byte before it |
//!
//! where `B` is the number of bytes per scalar. The magic, the version, the length at offset 28
//! and the CRC in the last four bytes are where they are in every version, so a record of
//! another version is recognised as such ([`RestoreError::OtherFormat`]); version 1 (no
//! fingerprints, 32-byte header, the commit marker right after the record) is refused.
//!
//! In flash, a slot of `L` bytes holds one record at its start, `0xFF` padding, and in its last
//! `U = max(WRITE_SIZE, 4)` bytes the *commit unit*: the four bytes `"DONE"` ([`COMMIT`])
//! followed by `0xFF`. A save erases the sector holding the commit unit first, then the rest
//! of the slot, writes the record, and writes the commit unit last, in a separate write. So
//! the commit unit is where it is whatever the header says, and it tells the cases apart:
//!
//! | slot contents | [`Slot`] |
//! | --- | --- |
//! | an intact current record, commit unit not erased (the commit write had begun, so every word of the record was programmed) | [`Slot::Valid`] |
//! | every byte `0xFF` | [`Slot::Erased`] |
//! | magic and another version, CRC intact | [`Slot::OtherFormat`] |
//! | no intact record, but the commit unit reads `"DONE"` (up to 4 bits off): a committed checkpoint that changed since | [`Slot::Damaged`] |
//! | anything else: no intact record and no commit, or an intact record whose commit unit is still erased — a save or an erase that was cut short | [`Slot::Incomplete`] |
//!
//! One flipped bit cannot turn a committed slot into an erased or incomplete one: in the
//! record it breaks the CRC and leaves the marker, in the marker it leaves an intact record.
//!
//! # What restore checks, and its errors
//!
//! Everything is checked before the first variable changes (see [`RestoreError`]): that the
//! record is intact (magic, version, lengths, CRC), that it was saved from a graph of the same
//! scalar type, the same number of variables and scalars, the same variable shapes and the
//! same [`model_fingerprint`], by an optimizer with the same [`Optimizer::fingerprint`] and
//! state length (and the same variables frozen: the state covers the trainable ones only), and
//! that every stored value is finite. [`restore_weights_from_slice`] and
//! [`Store::restore_weights`] restore the variables alone and skip the optimizer's checks: an
//! inference device, or one fine-tuning with another optimizer, restores any checkpoint of its
//! model. [`Store::save`] and [`save_to_slice`]
//! never write a non-finite value: they refuse a model with a non-finite variable or optimizer
//! state with [`Error::NonFinite`], before anything is written or erased.
//!
//! Gradients, placeholders and constants are not part of a checkpoint and are left as they are;
//! neither is the learning rate (a [`Schedule`](crate::Schedule) changes it while training, so
//! it is not part of the optimizer's fingerprint either: set it after restoring).
//!
//! # Memory, and reading the flash twice
//!
//! Saving and restoring stream through one [`CHUNK`]-byte buffer on the stack and compute the
//! CRC on the way; no buffer grows with the model. [`Store::restore`] therefore reads the
//! record twice: a first pass checks all of it, then a second pass copies it into the graph and
//! the optimizer and checks its CRC against the first pass's. The shape table is read (and
//! checked) before the first value is written, so every refusal and every read failure up to
//! then changes nothing. A flash that fails, or returns other bytes, *during the copy* is
//! detected; the copy is then tried once more from the start, and if that fails too the result
//! is [`RestoreError::CopyFailed`]: the variables and optimizer state are then partly restored
//! (this code has no memory to keep the previous values in). [`Store::restore_buffered`] reads
//! the record once into a buffer of the caller's, checks it there and copies it from there:
//! with it, a restore either succeeds or changes nothing, whatever the flash does.

pub mod sim;

use crate::Optimizer;
use core::fmt;
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};
use embedgrad_core::{Error, Graph, NodeKind, Op, Scalar, Shape};

/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = *b"EGCK";
/// The format version this code writes and reads.
pub const VERSION: u16 = 2;
/// Bytes in the fixed header, before the shape table.
pub const HEADER_LEN: usize = 40;
/// The commit marker written last, into the last unit of a flash slot.
pub const COMMIT: [u8; 4] = *b"DONE";
/// Bytes of the one buffer saving and restoring stream through. Flash write and read sizes must
/// divide it.
pub const CHUNK: usize = 64;

const CRC_LEN: usize = 4;
/// The header fields every version has: magic, version, …, the record length at offset 28.
const COMMON_LEN: usize = 32;
/// A commit unit this many bits away from `"DONE"` and `0xFF` padding still counts as written.
const MARKER_TOLERANCE: u32 = 4;

// ----- CRC-32 -----

/// CRC-32/IEEE (reflected polynomial `0xEDB88320`) four bits at a time: a 64-byte table.
// Indexing here runs at compile time: out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const CRC_NIBBLES: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// A running CRC-32 (IEEE 802.3, as in zlib, PNG and Ethernet: reflected polynomial
/// `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`).
///
/// ```
/// use embedgrad_train::checkpoint::Crc32;
/// let mut c = Crc32::new();
/// c.update(b"1234");
/// c.update(b"56789");
/// assert_eq!(c.finish(), 0xCBF4_3926);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A CRC over no bytes yet.
    pub const fn new() -> Self {
        Self(0xFFFF_FFFF)
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c ^= u32::from(b);
            c = (c >> 4) ^ CRC_NIBBLES.get((c & 0xF) as usize).copied().unwrap_or(0);
            c = (c >> 4) ^ CRC_NIBBLES.get((c & 0xF) as usize).copied().unwrap_or(0);
        }
        self.0 = c;
    }

    /// The CRC of everything fed so far.
    pub const fn finish(&self) -> u32 {
        !self.0
    }
}

/// The CRC-32 of a byte slice (see [`Crc32`]).
///
/// ```
/// assert_eq!(embedgrad_train::checkpoint::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

// ----- fingerprints -----

/// Builds a 32-bit fingerprint (a CRC-32 over a tagged byte stream) of a model or an
/// optimizer: what a record is matched against on restore.
///
/// An optimizer of your own implements [`Optimizer::fingerprint`] with it, from a name of its
/// kind and its fixed settings:
///
/// ```
/// use embedgrad_train::checkpoint::Fingerprint;
/// let a = Fingerprint::new(b"my-rmsprop").scalar(0.9f32).scalar(1e-8f32).finish();
/// let b = Fingerprint::new(b"my-rmsprop").scalar(0.99f32).scalar(1e-8f32).finish();
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Fingerprint(Crc32);

impl Fingerprint {
    /// A fingerprint of the kind `kind` (for example `b"adam"`), with nothing else in it yet.
    #[must_use]
    pub fn new(kind: &[u8]) -> Self {
        Self(Crc32::new()).bytes(kind)
    }

    /// Adds bytes (with their length, so that `"ab" + "c"` and `"a" + "bc"` differ).
    #[must_use]
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.update(&(b.len() as u32).to_le_bytes());
        self.0.update(b);
        self
    }

    /// Adds a number.
    #[must_use]
    pub fn u32(mut self, v: u32) -> Self {
        self.0.update(&v.to_le_bytes());
        self
    }

    /// Adds a flag.
    #[must_use]
    pub fn flag(mut self, v: bool) -> Self {
        self.0.update(&[u8::from(v)]);
        self
    }

    /// Adds a scalar setting, by its exact value (as the bits of an `f64`).
    #[must_use]
    pub fn scalar<T: Scalar>(mut self, v: T) -> Self {
        self.0.update(&v.to_f64().to_bits().to_le_bytes());
        self
    }

    /// The fingerprint.
    pub const fn finish(&self) -> u32 {
        self.0.finish()
    }
}

/// The fingerprint of a model a record stores and restore compares: the scalar type (`f32`
/// or `f64`), and for every node in insertion order its kind (placeholder, variable, constant
/// or the op's [`name`](Op::name)) and shape — all of it for variables and constants, the
/// columns only for placeholders and ops, whose rows are the batch size (so a model trained
/// in batches of 16 restores into the same network built for single samples).
///
/// Nodes have no names. What the public graph does not show — which inputs an op takes, and
/// op parameters such as a `scale` factor or a `leaky_relu` slope — is not part of it: two
/// models that differ only there have the same fingerprint.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::checkpoint::model_fingerprint;
/// let mut a: StdGraph<f32, 4, 32> = StdGraph::new();
/// let w = a.variable(&Matrix::new([[1.0f32, 2.0]]))?;
/// a.tanh(w)?;
/// let mut b: StdGraph<f32, 4, 32> = StdGraph::new();
/// let w = b.variable(&Matrix::new([[1.0f32, 2.0]]))?;
/// b.sigmoid(w)?; // same shapes, another model
/// assert_ne!(model_fingerprint(&a)?, model_fingerprint(&b)?);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// Only if the graph fails to describe one of its own nodes (never for a well-formed graph).
pub fn model_fingerprint<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
) -> Result<u32, Error> {
    let mut f = Fingerprint::new(b"embedgrad-model")
        .u32(T::BYTES as u32)
        .bytes(T::NAME.as_bytes())
        .u32(g.len() as u32);
    for i in 0..g.len() {
        let id = g.node_at(i).ok_or(Error::InvalidArgument)?;
        let s = g.shape(id)?;
        let (rows, cols) = (s.rows as u32, s.cols as u32);
        f = match g.kind(id)? {
            NodeKind::Placeholder => f.u32(1).u32(cols),
            NodeKind::Variable => f.u32(2).u32(rows).u32(cols),
            NodeKind::Constant => f.u32(3).u32(rows).u32(cols),
            NodeKind::Op(op) => f.u32(4).bytes(op.name().as_bytes()).u32(cols),
        };
    }
    Ok(f.finish())
}

/// The optimizer fingerprint a record stores: [`Optimizer::fingerprint`] as it is when every
/// variable trains; with some frozen, combined with which ones are — the optimizer's state is
/// laid out over the trainable variables, so state saved with other variables frozen would
/// land on the wrong ones.
fn state_fingerprint<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    opt: &impl Optimizer<T>,
) -> Result<u32, Error> {
    let base = opt.fingerprint();
    let mut frozen = false;
    for id in g.variables() {
        frozen |= !g.is_trainable(id)?;
    }
    if !frozen {
        return Ok(base);
    }
    let mut f = Fingerprint::new(b"embedgrad-frozen").u32(base);
    for id in g.variables() {
        f = f.flag(g.is_trainable(id)?);
    }
    Ok(f.finish())
}

// ----- what a checkpoint holds -----

/// What a record's header says (after its CRC has been checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Info {
    /// The sequence number: [`Store::save`] counts up from 1.
    pub sequence: u32,
    /// Bytes per scalar: 4 for `f32`, 8 for `f64`.
    pub scalar_bytes: u8,
    /// Number of variables.
    pub variables: u32,
    /// Scalars in all variables.
    pub value_scalars: u32,
    /// Scalars of optimizer state.
    pub state_scalars: u32,
    /// The optimizer's update count.
    pub update_count: u32,
    /// The [`model_fingerprint`] of the graph it was saved from.
    pub model: u32,
    /// The [`Optimizer::fingerprint`] of the optimizer it was saved from.
    pub optimizer: u32,
    /// Record length in bytes.
    pub len: u32,
    /// The record's CRC-32.
    pub crc: u32,
    /// Whether every stored value is finite.
    pub finite: bool,
}

/// Why a checkpoint was not restored (or not found). Whatever the variant, nothing changed —
/// except after [`RestoreError::CopyFailed`].
///
/// [`RestoreError::into_error`] gives the nearest [`Error`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RestoreError {
    /// The flash failed to read (see [`Store::last_flash_error`]).
    Storage,
    /// The record checked out, but the flash failed or returned other bytes during both
    /// attempts to copy it: the variables and the optimizer state are **partly restored**.
    /// Restore again, or rebuild the model; [`Store::restore_buffered`] cannot end this way.
    CopyFailed,
    /// Not an intact record: in flash, a committed checkpoint that changed since (bit errors,
    /// a failing part); for bytes, anything that is not a complete record with a matching CRC.
    /// An empty store is not damaged: that is [`Restored::Empty`].
    Damaged,
    /// An intact record of another format version (written by other firmware).
    OtherFormat {
        /// The record's version ([`VERSION`] is this code's).
        version: u16,
    },
    /// Saved from a graph of the other scalar type.
    OtherScalarType {
        /// This graph's bytes per scalar.
        expected: u8,
        /// The record's.
        found: u8,
    },
    /// Saved from another model: same variable shapes, other structure (see
    /// [`model_fingerprint`]).
    OtherModel {
        /// This graph's fingerprint.
        expected: u32,
        /// The record's.
        found: u32,
    },
    /// Saved by another kind of optimizer or one with other settings (see
    /// [`Optimizer::fingerprint`]).
    OtherOptimizer {
        /// This optimizer's fingerprint.
        expected: u32,
        /// The record's.
        found: u32,
    },
    /// The record does not fit this graph and optimizer: [`Error::LengthMismatch`] for
    /// another number of variables (`expected` is the graph's, `found` the record's), of
    /// variable scalars or of optimizer state scalars, [`Error::ShapeMismatch`] for a
    /// variable of another shape; or it holds a non-finite value ([`Error::NonFinite`]; a
    /// save never writes one).
    Mismatch(Error),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::Storage => f.write_str("checkpoint: the flash failed to read"),
            RestoreError::CopyFailed => f.write_str(
                "checkpoint: the flash failed while the checked record was copied: \
                 variables and optimizer state are partly restored",
            ),
            RestoreError::Damaged => f.write_str("checkpoint: damaged record"),
            RestoreError::OtherFormat { version } => write!(
                f,
                "checkpoint: a record of format version {version}, this code reads version {VERSION}"
            ),
            RestoreError::OtherScalarType { expected, found } => write!(
                f,
                "checkpoint: saved with {found}-byte scalars, the graph has {expected}-byte scalars"
            ),
            RestoreError::OtherModel { expected, found } => write!(
                f,
                "checkpoint: saved from another model (fingerprint {found:#010x}, this graph's {expected:#010x})"
            ),
            RestoreError::OtherOptimizer { expected, found } => write!(
                f,
                "checkpoint: saved by another optimizer or other settings (fingerprint {found:#010x}, this optimizer's {expected:#010x})"
            ),
            RestoreError::Mismatch(e) => write!(f, "checkpoint: {e}"),
        }
    }
}

impl core::error::Error for RestoreError {}

impl RestoreError {
    /// The nearest [`Error`], for code that propagates one (`map_err(RestoreError::into_error)?`):
    /// [`RestoreError::Storage`] and [`RestoreError::CopyFailed`] become [`Error::Storage`],
    /// [`RestoreError::Mismatch`] its error, everything else [`Error::Corrupt`] ("corrupt or
    /// of another format"). Tell the variants apart first where they call for different
    /// actions. (Not a `From` impl: a second way into [`Error`] would make `?` ambiguous in
    /// closures such as those of [`Graph::for_each_variable`].)
    pub const fn into_error(self) -> Error {
        match self {
            RestoreError::Storage | RestoreError::CopyFailed => Error::Storage,
            RestoreError::Mismatch(e) => e,
            _ => Error::Corrupt,
        }
    }
}

/// What [`Store::restore`] did.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Restored {
    /// The newest valid checkpoint was restored.
    Checkpoint {
        /// Its header.
        info: Info,
        /// Whether the other slot holds a damaged checkpoint or one of another format (which
        /// may have been newer): the flash is failing, or another firmware wrote it.
        other_damaged: bool,
    },
    /// No checkpoint was ever committed: both slots are erased, or hold only a save or erase
    /// that was cut short. Nothing changed; starting afresh and saving loses nothing.
    Empty,
}

impl Restored {
    /// The sequence number of the restored checkpoint, `None` for [`Restored::Empty`].
    pub fn sequence(&self) -> Option<u32> {
        match self {
            Restored::Checkpoint { info, .. } => Some(info.sequence),
            Restored::Empty => None,
        }
    }
}

/// The counts of a model about to be saved.
#[derive(Clone, Copy, Debug)]
struct Plan {
    variables: u32,
    value_scalars: u32,
    state_scalars: u32,
    model: u32,
    len: usize,
}

fn record_len(scalar_bytes: u64, variables: u64, scalars: u64) -> Option<u64> {
    let body = variables
        .checked_mul(4)?
        .checked_add(scalar_bytes.checked_mul(scalars)?)?;
    body.checked_add((HEADER_LEN + CRC_LEN) as u64)
}

/// Counts the model and checks that it can be saved: finite, and small enough for the format.
fn plan<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    state: &[T],
) -> Result<Plan, Error> {
    if T::BYTES != 4 && T::BYTES != 8 {
        return Err(Error::InvalidArgument);
    }
    let mut variables = 0usize;
    let mut value_scalars = 0usize;
    for id in g.variables() {
        let v = g.value_slice(id)?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::NonFinite);
        }
        variables += 1;
        value_scalars += v.len();
    }
    if state.iter().any(|x| !x.is_finite()) {
        return Err(Error::NonFinite);
    }
    let too_big = |_| Error::InvalidArgument;
    let variables = u32::try_from(variables).map_err(too_big)?;
    let value_scalars = u32::try_from(value_scalars).map_err(too_big)?;
    let state_scalars = u32::try_from(state.len()).map_err(too_big)?;
    let len = record_len(
        T::BYTES as u64,
        u64::from(variables),
        u64::from(value_scalars) + u64::from(state_scalars),
    )
    .filter(|&l| l <= u64::from(u32::MAX))
    .ok_or(Error::InvalidArgument)?;
    Ok(Plan {
        variables,
        value_scalars,
        state_scalars,
        model: model_fingerprint(g)?,
        len: usize::try_from(len).map_err(too_big)?,
    })
}

// ----- streaming output -----

/// Where encoded bytes go: `put` receives consecutive, [`CHUNK`]-aligned pieces.
trait Sink {
    fn put(&mut self, offset: usize, data: &[u8]) -> Result<(), Error>;
}

struct SliceSink<'a>(&'a mut [u8]);

impl Sink for SliceSink<'_> {
    fn put(&mut self, offset: usize, data: &[u8]) -> Result<(), Error> {
        self.0
            .get_mut(offset..offset + data.len())
            .ok_or(Error::InvalidArgument)?
            .copy_from_slice(data);
        Ok(())
    }
}

/// Streams bytes through one chunk into a sink, computing the CRC on the way.
struct Writer<'a, K> {
    sink: &'a mut K,
    buf: [u8; CHUNK],
    fill: usize,
    offset: usize,
    crc: Crc32,
}

impl<'a, K: Sink> Writer<'a, K> {
    fn new(sink: &'a mut K) -> Self {
        Self {
            sink,
            buf: [0xFF; CHUNK],
            fill: 0,
            offset: 0,
            crc: Crc32::new(),
        }
    }

    fn push_raw(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            let room = CHUNK - self.fill;
            let n = room.min(bytes.len());
            let (now, later) = bytes.split_at(n);
            self.buf
                .get_mut(self.fill..self.fill + n)
                .ok_or(Error::InvalidArgument)?
                .copy_from_slice(now);
            self.fill += n;
            bytes = later;
            if self.fill == CHUNK {
                self.sink.put(self.offset, &self.buf)?;
                self.offset += CHUNK;
                self.fill = 0;
                self.buf = [0xFF; CHUNK];
            }
        }
        Ok(())
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.crc.update(bytes);
        self.push_raw(bytes)
    }

    fn push_scalar<T: Scalar>(&mut self, v: T) -> Result<(), Error> {
        let mut b = [0u8; 8];
        let s = b.get_mut(..T::BYTES).ok_or(Error::InvalidArgument)?;
        if !v.write_le(s) {
            return Err(Error::InvalidArgument);
        }
        self.push(s)
    }

    /// Pads with `0xFF` to a multiple of `unit` and writes what is left; returns the length.
    fn finish(self, unit: usize) -> Result<usize, Error> {
        if self.fill > 0 {
            let end = self.fill.div_ceil(unit) * unit;
            let data = self.buf.get(..end).ok_or(Error::InvalidArgument)?;
            self.sink.put(self.offset, data)?;
        }
        Ok(self.offset + self.fill)
    }
}

/// Writes the record of `g` and `state` (already checked by [`plan`]); returns its CRC.
fn encode<T: Scalar, O: Op<T>, const N: usize, const S: usize, K: Sink>(
    g: &Graph<T, O, N, S>,
    opt: &impl Optimizer<T>,
    sequence: u32,
    plan: &Plan,
    w: &mut Writer<'_, K>,
) -> Result<u32, Error> {
    let len = u32::try_from(plan.len).map_err(|_| Error::InvalidArgument)?;
    let mut h = [0u8; HEADER_LEN];
    put_bytes(&mut h, 0, &MAGIC);
    put_bytes(&mut h, 4, &VERSION.to_le_bytes());
    put_bytes(&mut h, 6, &[T::BYTES as u8, 0]);
    put_bytes(&mut h, 8, &sequence.to_le_bytes());
    put_bytes(&mut h, 12, &plan.variables.to_le_bytes());
    put_bytes(&mut h, 16, &plan.value_scalars.to_le_bytes());
    put_bytes(&mut h, 20, &plan.state_scalars.to_le_bytes());
    put_bytes(&mut h, 24, &opt.update_count().to_le_bytes());
    put_bytes(&mut h, 28, &len.to_le_bytes());
    put_bytes(&mut h, 32, &plan.model.to_le_bytes());
    put_bytes(&mut h, 36, &state_fingerprint(g, opt)?.to_le_bytes());
    w.push(&h)?;
    for id in g.variables() {
        let s = g.shape(id)?;
        let rows = u16::try_from(s.rows).map_err(|_| Error::InvalidShape(s))?;
        let cols = u16::try_from(s.cols).map_err(|_| Error::InvalidShape(s))?;
        w.push(&rows.to_le_bytes())?;
        w.push(&cols.to_le_bytes())?;
    }
    for id in g.variables() {
        for &v in g.value_slice(id)? {
            w.push_scalar(v)?;
        }
    }
    for &v in opt.state() {
        w.push_scalar(v)?;
    }
    let crc = w.crc.finish();
    w.push_raw(&crc.to_le_bytes())?;
    Ok(crc)
}

fn put_bytes(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..at + src.len()) {
        d.copy_from_slice(src);
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    u32::from_le_bytes(v)
}

// ----- streaming input -----

/// Where encoded bytes come from: `block(k)` reads the `k`-th [`CHUNK`]-aligned block (shorter
/// at the end).
trait Source {
    /// Bytes available.
    fn limit(&self) -> usize;
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), Error>;
}

struct SliceSource<'a>(&'a [u8]);

impl Source for SliceSource<'_> {
    fn limit(&self) -> usize {
        self.0.len()
    }
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), Error> {
        buf.copy_from_slice(
            self.0
                .get(offset..offset + buf.len())
                .ok_or(Error::Corrupt)?,
        );
        Ok(())
    }
}

/// Reads a source front to back through one chunk, computing the CRC on the way.
struct Reader<'a, R> {
    src: &'a mut R,
    buf: [u8; CHUNK],
    pos: usize,
    end: usize,
    next: usize,
    crc: Crc32,
}

impl<'a, R: Source> Reader<'a, R> {
    fn new(src: &'a mut R) -> Self {
        Self {
            src,
            buf: [0; CHUNK],
            pos: 0,
            end: 0,
            next: 0,
            crc: Crc32::new(),
        }
    }

    /// Bytes consumed so far.
    fn offset(&self) -> usize {
        self.next - (self.end - self.pos)
    }

    fn take_raw(&mut self, out: &mut [u8]) -> Result<(), Error> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end {
                let n = CHUNK.min(self.src.limit().saturating_sub(self.next));
                if n == 0 {
                    return Err(Error::Corrupt);
                }
                let buf = self.buf.get_mut(..n).ok_or(Error::Corrupt)?;
                self.src.read(self.next, buf)?;
                self.next += n;
                self.pos = 0;
                self.end = n;
            }
            let n = (self.end - self.pos).min(out.len() - done);
            let src = self.buf.get(self.pos..self.pos + n).ok_or(Error::Corrupt)?;
            out.get_mut(done..done + n)
                .ok_or(Error::Corrupt)?
                .copy_from_slice(src);
            self.pos += n;
            done += n;
        }
        Ok(())
    }

    fn take(&mut self, out: &mut [u8]) -> Result<(), Error> {
        self.take_raw(out)?;
        self.crc.update(out);
        Ok(())
    }

    fn u16(&mut self) -> Result<u16, Error> {
        let mut b = [0; 2];
        self.take(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn skip(&mut self, mut n: usize) -> Result<(), Error> {
        let mut b = [0; 16];
        while n > 0 {
            let k = n.min(b.len());
            self.take(b.get_mut(..k).ok_or(Error::Corrupt)?)?;
            n -= k;
        }
        Ok(())
    }

    fn scalar<T: Scalar>(&mut self) -> Result<T, Error> {
        let mut b = [0u8; 8];
        let s = b.get_mut(..T::BYTES).ok_or(Error::Corrupt)?;
        self.take(s)?;
        T::read_le(s).ok_or(Error::Corrupt)
    }
}

/// Whether little-endian IEEE bytes (4 or 8 of them) hold a finite number.
fn finite_le(b: &[u8]) -> bool {
    match *b {
        [_, _, lo, hi] => !(hi & 0x7F == 0x7F && lo & 0x80 == 0x80),
        [_, _, _, _, _, _, lo, hi] => !(hi & 0x7F == 0x7F && lo & 0xF0 == 0xF0),
        _ => false,
    }
}

/// Why [`verify`] did not accept a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reject {
    /// The source failed to read.
    Storage,
    /// An intact record of another version.
    Format(u16),
    /// Not an intact record.
    Bad,
}

/// A reading error as a rejection. (A function, not a `From`: a second `From<Error>` impl
/// would make `?` on [`Error`] ambiguous in closures of every user of this crate.)
fn reject(e: Error) -> Reject {
    if e == Error::Storage {
        Reject::Storage
    } else {
        Reject::Bad
    }
}

impl From<Reject> for RestoreError {
    fn from(r: Reject) -> Self {
        match r {
            Reject::Storage => RestoreError::Storage,
            Reject::Format(version) => RestoreError::OtherFormat { version },
            Reject::Bad => RestoreError::Damaged,
        }
    }
}

/// Reads the whole record: header, lengths, CRC. Changes nothing.
fn verify<R: Source>(src: &mut R) -> Result<Info, Reject> {
    let mut r = Reader::new(src);
    let mut h = [0u8; HEADER_LEN];
    let (common, ours) = h.split_at_mut(COMMON_LEN);
    r.take(common).map_err(reject)?;
    if common.get(..4) != Some(&MAGIC[..]) {
        return Err(Reject::Bad);
    }
    let version = u16::from(common.get(4).copied().unwrap_or(0))
        | u16::from(common.get(5).copied().unwrap_or(0)) << 8;
    let len = le_u32(common, 28);
    if version != VERSION {
        // Another version: recognised by its CRC over the length its header gives.
        let len = len as usize;
        if len < COMMON_LEN + CRC_LEN || len > r.src.limit() {
            return Err(Reject::Bad);
        }
        r.skip(len - COMMON_LEN - CRC_LEN).map_err(reject)?;
        let crc = r.crc.finish();
        let mut stored = [0; 4];
        r.take_raw(&mut stored).map_err(reject)?;
        return Err(if u32::from_le_bytes(stored) == crc {
            Reject::Format(version)
        } else {
            Reject::Bad
        });
    }
    r.take(ours).map_err(reject)?;
    let (scalar_bytes, reserved) = (h.get(6).copied(), h.get(7).copied());
    let Some(scalar_bytes) = scalar_bytes.filter(|&b| (b == 4 || b == 8) && reserved == Some(0))
    else {
        return Err(Reject::Bad);
    };
    let variables = le_u32(&h, 12);
    let value_scalars = le_u32(&h, 16);
    let state_scalars = le_u32(&h, 20);
    let expected = record_len(
        u64::from(scalar_bytes),
        u64::from(variables),
        u64::from(value_scalars) + u64::from(state_scalars),
    );
    if expected != Some(u64::from(len)) || len as usize > r.src.limit() {
        return Err(Reject::Bad);
    }
    let mut shape_scalars = 0u64;
    for _ in 0..variables {
        let rows = r.u16().map_err(reject)?;
        let cols = r.u16().map_err(reject)?;
        if rows == 0 || cols == 0 {
            return Err(Reject::Bad);
        }
        shape_scalars += u64::from(rows) * u64::from(cols);
    }
    if shape_scalars != u64::from(value_scalars) {
        return Err(Reject::Bad);
    }
    let mut finite = true;
    let mut b = [0u8; 8];
    let b = b.get_mut(..usize::from(scalar_bytes)).ok_or(Reject::Bad)?;
    for _ in 0..u64::from(value_scalars) + u64::from(state_scalars) {
        r.take(b).map_err(reject)?;
        finite &= finite_le(b);
    }
    let crc = r.crc.finish();
    let mut stored = [0; 4];
    r.take_raw(&mut stored).map_err(reject)?;
    if u32::from_le_bytes(stored) != crc {
        return Err(Reject::Bad);
    }
    Ok(Info {
        sequence: le_u32(&h, 8),
        scalar_bytes,
        variables,
        value_scalars,
        state_scalars,
        update_count: le_u32(&h, 24),
        model: le_u32(&h, 32),
        optimizer: le_u32(&h, 36),
        len,
        crc,
        finite,
    })
}

/// Checks a verified record's header against the graph and the optimizer. Reads nothing.
fn check_fit<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    info: &Info,
    g: &Graph<T, O, N, S>,
    opt: Option<&impl Optimizer<T>>,
) -> Result<(), RestoreError> {
    if usize::from(info.scalar_bytes) != T::BYTES {
        return Err(RestoreError::OtherScalarType {
            expected: T::BYTES as u8,
            found: info.scalar_bytes,
        });
    }
    let count_mismatch = |expected: usize, found: u32| {
        RestoreError::Mismatch(Error::LengthMismatch {
            expected,
            found: found as usize,
        })
    };
    let vars = g.variables().count();
    if vars != info.variables as usize {
        return Err(count_mismatch(vars, info.variables));
    }
    let scalars = g.variable_scalars();
    if scalars != info.value_scalars as usize {
        return Err(count_mismatch(scalars, info.value_scalars));
    }
    if let Some(opt) = opt {
        let state = opt.state().len();
        if state != info.state_scalars as usize {
            return Err(count_mismatch(state, info.state_scalars));
        }
        let optimizer = state_fingerprint(g, opt).map_err(RestoreError::Mismatch)?;
        if optimizer != info.optimizer {
            return Err(RestoreError::OtherOptimizer {
                expected: optimizer,
                found: info.optimizer,
            });
        }
    }
    if !info.finite {
        return Err(RestoreError::Mismatch(Error::NonFinite));
    }
    Ok(())
}

/// Why the copy pass stopped.
enum CopyError {
    /// Before the first value was written: nothing changed.
    Before(RestoreError),
    /// After: the graph or the optimizer holds part of the record.
    After,
}

/// The copy pass over a record that [`verify`] accepted and [`check_fit`] matched: checks the
/// shape table and the model fingerprint, then copies the values and the state, and checks the
/// CRC against the first pass's.
fn apply<R: Source, T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    src: &mut R,
    info: &Info,
    g: &mut Graph<T, O, N, S>,
    opt: Option<&mut impl Optimizer<T>>,
) -> Result<(), CopyError> {
    let before = |e: Error| CopyError::Before(reject(e).into());
    let mut r = Reader::new(src);
    r.skip(HEADER_LEN).map_err(before)?;
    for id in g.variables() {
        let rows = r.u16().map_err(before)?;
        let cols = r.u16().map_err(before)?;
        let found = Shape::new(usize::from(rows), usize::from(cols));
        let expected = g.shape(id).map_err(before)?;
        if found != expected {
            return Err(CopyError::Before(RestoreError::Mismatch(
                Error::ShapeMismatch { expected, found },
            )));
        }
    }
    let model = model_fingerprint(g).map_err(before)?;
    if model != info.model {
        return Err(CopyError::Before(RestoreError::OtherModel {
            expected: model,
            found: info.model,
        }));
    }
    // Checked: now copy. `r` stands at the first value.
    g.for_each_variable(|v| {
        for x in v.value.iter_mut() {
            *x = r.scalar()?;
        }
        Ok(())
    })
    .map_err(|_: Error| CopyError::After)?;
    match opt {
        Some(opt) => {
            for x in opt.state_mut() {
                *x = r.scalar().map_err(|_| CopyError::After)?;
            }
            if r.crc.finish() != info.crc || r.offset() + CRC_LEN != info.len as usize {
                // The bytes changed between the two reads: only a failing storage does that.
                return Err(CopyError::After);
            }
            opt.set_update_count(info.update_count);
        }
        None => {
            // Weights only: the state is read past (the CRC covers it), not kept.
            for _ in 0..info.state_scalars {
                r.scalar::<T>().map_err(|_| CopyError::After)?;
            }
            if r.crc.finish() != info.crc || r.offset() + CRC_LEN != info.len as usize {
                return Err(CopyError::After);
            }
        }
    }
    Ok(())
}

// ----- bytes -----

/// The length in bytes of the record [`save_to_slice`] would write.
///
/// # Errors
/// As [`save_to_slice`], except for the buffer's length.
pub fn encoded_len<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    opt: &impl Optimizer<T>,
) -> Result<usize, Error> {
    Ok(plan(g, opt.state())?.len)
}

/// Writes a checkpoint record (see the [module docs](self) for the format) into `out`; returns
/// its length.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::{checkpoint, GradientDescent};
/// let mut g: StdGraph<f64, 2, 8> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[1.5, 2.5]]))?;
/// let opt = GradientDescent::new(0.1);
/// let mut buf = [0u8; 72];
/// let n = checkpoint::save_to_slice(&g, &opt, 7, &mut buf)?;
/// assert_eq!(n, 40 + 4 + 2 * 8 + 4);
/// assert_eq!(checkpoint::inspect(&buf[..n]).map(|i| i.sequence), Ok(7));
///
/// g.assign(w, &Matrix::new([[0.0, 0.0]]))?;
/// let mut opt2 = GradientDescent::new(0.1);
/// checkpoint::restore_from_slice(&mut g, &mut opt2, &buf[..n]).map_err(|e| e.into_error())?;
/// assert_eq!(g.value(w)?, Matrix::new([[1.5, 2.5]]));
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::NonFinite`] when a variable or the optimizer state holds NaN or infinity;
/// [`Error::LengthMismatch`] when `out` is shorter than [`encoded_len`] (`out` is then
/// untouched); [`Error::InvalidArgument`] for a model too large for the format (over 4 GiB).
pub fn save_to_slice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    opt: &impl Optimizer<T>,
    sequence: u32,
    out: &mut [u8],
) -> Result<usize, Error> {
    let plan = plan(g, opt.state())?;
    if out.len() < plan.len {
        return Err(Error::LengthMismatch {
            expected: plan.len,
            found: out.len(),
        });
    }
    let mut sink = SliceSink(out);
    let mut w = Writer::new(&mut sink);
    encode(g, opt, sequence, &plan, &mut w)?;
    w.finish(1)
}

/// Checks a record and returns its header, without a graph. Bytes after the record are
/// ignored.
///
/// # Errors
/// [`RestoreError::OtherFormat`] for an intact record of another version,
/// [`RestoreError::Damaged`] for anything else but a complete, intact record.
pub fn inspect(bytes: &[u8]) -> Result<Info, RestoreError> {
    Ok(verify(&mut SliceSource(bytes))?)
}

/// Restores the variables, the optimizer state and its update count from a record. Nothing
/// changes unless it succeeds.
///
/// # Errors
/// As [`inspect`], and the refusals of [`RestoreError`] when the record is not for this graph
/// and optimizer (see [What restore checks](self#what-restore-checks-and-its-errors)).
pub fn restore_from_slice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    opt: &mut impl Optimizer<T>,
    bytes: &[u8],
) -> Result<Info, RestoreError> {
    restore_slice(g, Some(opt), bytes)
}

/// Restores the variables only from a record, whatever optimizer saved it: what an inference
/// device, or one that fine-tunes with another optimizer, needs. The record is checked as by
/// [`restore_from_slice`] except for the optimizer (its kind, settings, state length and which
/// variables were frozen); its optimizer state is checked by the CRC and left unused. Nothing
/// changes unless it succeeds.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::checkpoint::{restore_from_slice, restore_weights_from_slice, save_to_slice};
/// use embedgrad_train::{minimize, Adam, GradientDescent};
///
/// let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[2.0f32]]))?;
/// let loss = g.reduce_sum(w)?;
/// let mut adam: Adam<f32, 1> = Adam::new(0.1);
/// minimize(&mut adam, &mut g, loss)?;
/// let mut rec = [0u8; 128];
/// let n = save_to_slice(&g, &adam, 1, &mut rec)?;
///
/// let mut h: StdGraph<f32, 4, 16> = StdGraph::new();
/// let v = h.variable(&Matrix::new([[0.0f32]]))?;
/// h.reduce_sum(v)?; // the same model
/// // Without Adam, a full restore is refused; the weights alone restore.
/// assert!(restore_from_slice(&mut h, &mut GradientDescent::new(0.1), &rec[..n]).is_err());
/// restore_weights_from_slice(&mut h, &rec[..n])?;
/// assert_eq!(h.value(v)?, g.value(w)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`restore_from_slice`], without [`RestoreError::OtherOptimizer`] and the state-length
/// mismatch.
pub fn restore_weights_from_slice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    bytes: &[u8],
) -> Result<Info, RestoreError> {
    restore_slice(g, None::<&mut crate::GradientDescent<T>>, bytes)
}

fn restore_slice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    opt: Option<&mut impl Optimizer<T>>,
    bytes: &[u8],
) -> Result<Info, RestoreError> {
    let mut src = SliceSource(bytes);
    let info = verify(&mut src)?;
    check_fit(&info, g, opt.as_deref())?;
    match apply(&mut src, &info, g, opt) {
        Ok(()) => Ok(info),
        Err(CopyError::Before(e)) => Err(e),
        // Bytes in memory do not change between two reads.
        Err(CopyError::After) => Err(RestoreError::CopyFailed),
    }
}

// ----- flash -----

/// What a flash slot holds (see the table in the [module docs](self#format-version-2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// A complete, committed checkpoint of this format version.
    Valid(Info),
    /// Every byte is `0xFF`.
    Erased,
    /// A save or an erase that was cut short: never committed. Harmless.
    Incomplete,
    /// A committed checkpoint that no longer checks out.
    Damaged,
    /// An intact record of another format version.
    OtherFormat {
        /// Its version.
        version: u16,
    },
}

impl Slot {
    /// The header of a valid slot.
    pub fn info(&self) -> Option<Info> {
        match self {
            Slot::Valid(i) => Some(*i),
            _ => None,
        }
    }

    /// Whether the slot holds something that must not be taken for "no checkpoint": a
    /// damaged checkpoint or one of another format.
    pub fn is_damaged(&self) -> bool {
        matches!(self, Slot::Damaged | Slot::OtherFormat { .. })
    }

    fn refusal(&self) -> Option<RestoreError> {
        match *self {
            Slot::Damaged => Some(RestoreError::Damaged),
            Slot::OtherFormat { version } => Some(RestoreError::OtherFormat { version }),
            _ => None,
        }
    }
}

/// Whether sequence number `a` is newer than `b`, counting modulo 2³² (so saving goes on
/// working after the counter wraps).
pub const fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Two alternating checkpoint slots in a NOR flash (see the [module docs](self)).
///
/// The slots are `base..base + slot_len` and `base + slot_len..base + 2 · slot_len`. Nothing
/// else in the flash is read or written.
#[derive(Debug)]
pub struct Store<F> {
    flash: F,
    base: u32,
    slot_len: u32,
    last_error: Option<NorFlashErrorKind>,
}

struct FlashSource<'a, F> {
    flash: &'a mut F,
    start: u32,
    len: usize,
    last_error: &'a mut Option<NorFlashErrorKind>,
}

impl<F: NorFlash> Source for FlashSource<'_, F> {
    fn limit(&self) -> usize {
        self.len
    }
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), Error> {
        let at = u32::try_from(offset)
            .ok()
            .and_then(|o| self.start.checked_add(o))
            .ok_or(Error::Corrupt)?;
        self.flash.read(at, buf).map_err(|e| {
            *self.last_error = Some(e.kind());
            Error::Storage
        })
    }
}

struct FlashSink<'a, F> {
    flash: &'a mut F,
    start: u32,
    last_error: &'a mut Option<NorFlashErrorKind>,
}

impl<F: NorFlash> Sink for FlashSink<'_, F> {
    fn put(&mut self, offset: usize, data: &[u8]) -> Result<(), Error> {
        let at = u32::try_from(offset)
            .ok()
            .and_then(|o| self.start.checked_add(o))
            .ok_or(Error::InvalidArgument)?;
        self.flash.write(at, data).map_err(|e| {
            *self.last_error = Some(e.kind());
            Error::Storage
        })
    }
}

/// The newest valid slot of two, and what the pair says when there is none.
fn pick(slots: &[Slot; 2]) -> Result<Option<(usize, Info)>, RestoreError> {
    let [a, b] = slots;
    Ok(match (a.info(), b.info()) {
        (Some(a), Some(b)) if newer(b.sequence, a.sequence) => Some((1, b)),
        (Some(a), _) => Some((0, a)),
        (None, Some(b)) => Some((1, b)),
        (None, None) => {
            if let Some(e) = a.refusal().or(b.refusal()) {
                return Err(e);
            }
            None
        }
    })
}

impl<F: NorFlash> Store<F> {
    /// The commit unit: `max(WRITE_SIZE, 4)` bytes.
    const UNIT: usize = if F::WRITE_SIZE > 4 { F::WRITE_SIZE } else { 4 };

    /// Two slots of `slot_len` bytes each, starting at `base`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `base` and `slot_len` are multiples of the flash's
    /// erase size (and `slot_len` is not zero), both slots lie inside the flash, and its read
    /// and write sizes are powers of two that divide [`CHUNK`].
    pub fn new(flash: F, base: u32, slot_len: u32) -> Result<Self, Error> {
        let pow2_chunk = |s: usize| s.is_power_of_two() && s <= CHUNK;
        let erase = F::ERASE_SIZE;
        let aligned = |v: u32| {
            let v = v as usize;
            erase != 0 && v.is_multiple_of(erase) && v.is_multiple_of(F::READ_SIZE.max(1))
        };
        let end = (base as usize)
            .checked_add(2 * slot_len as usize)
            .filter(|&e| e <= flash.capacity());
        if !pow2_chunk(F::READ_SIZE)
            || !pow2_chunk(F::WRITE_SIZE)
            || !aligned(base)
            || !aligned(slot_len)
            || slot_len == 0
            || !(slot_len as usize).is_multiple_of(Self::UNIT)
            || end.is_none()
            || (base as u64 + 2 * slot_len as u64) > u64::from(u32::MAX)
        {
            return Err(Error::InvalidArgument);
        }
        Ok(Self {
            flash,
            base,
            slot_len,
            last_error: None,
        })
    }

    /// The flash, for other uses between checkpoints.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// The kind of the flash's last error, if a call returned [`Error::Storage`].
    pub fn last_flash_error(&self) -> Option<NorFlashErrorKind> {
        self.last_error
    }

    /// Bytes per slot.
    pub fn slot_len(&self) -> u32 {
        self.slot_len
    }

    /// The slot bytes a record of `record_len` bytes needs: padding and the commit unit
    /// included.
    pub const fn slot_bytes_for(record_len: usize) -> usize {
        record_len.div_ceil(Self::UNIT) * Self::UNIT + Self::UNIT
    }

    /// The slot bytes a checkpoint of this model needs (at most [`Store::slot_len`]).
    ///
    /// # Errors
    /// As [`encoded_len`].
    pub fn bytes_needed<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        g: &Graph<T, O, N, S>,
        opt: &impl Optimizer<T>,
    ) -> Result<usize, Error> {
        Ok(Self::slot_bytes_for(encoded_len(g, opt)?))
    }

    fn slot_start(&self, slot: usize) -> u32 {
        self.base + if slot == 0 { 0 } else { self.slot_len }
    }

    fn source(&mut self, slot: usize) -> FlashSource<'_, F> {
        FlashSource {
            start: self.slot_start(slot),
            flash: &mut self.flash,
            len: self.slot_len as usize,
            last_error: &mut self.last_error,
        }
    }

    /// Reads the commit unit of a slot: how many bits it is away from a written one, and
    /// whether it is still erased.
    fn marker(&mut self, slot: usize) -> Result<(u32, bool), Error> {
        let len = self.slot_len as usize;
        let at = len - Self::UNIT;
        let block = at / CHUNK * CHUNK;
        let mut buf = [0u8; CHUNK];
        let b = buf
            .get_mut(..(len - block).min(CHUNK))
            .ok_or(Error::InvalidArgument)?;
        self.source(slot).read(block, b)?;
        let unit = b.get(at - block..).unwrap_or(&[]);
        let mut distance = 0;
        for (i, &byte) in unit.iter().enumerate() {
            let want = COMMIT.get(i).copied().unwrap_or(0xFF);
            distance += (byte ^ want).count_ones();
        }
        Ok((distance, unit.iter().all(|&b| b == 0xFF)))
    }

    /// Whether every byte of a slot reads `0xFF`.
    fn erased(&mut self, slot: usize) -> Result<bool, Error> {
        let len = self.slot_len as usize;
        let mut src = self.source(slot);
        let mut buf = [0u8; CHUNK];
        let mut at = 0;
        while at < len {
            let b = buf
                .get_mut(..(len - at).min(CHUNK))
                .ok_or(Error::InvalidArgument)?;
            src.read(at, b)?;
            if b.iter().any(|&x| x != 0xFF) {
                return Ok(false);
            }
            at += b.len();
        }
        Ok(true)
    }

    /// Reads and classifies one slot (0 or 1); see [`Slot`].
    ///
    /// # Errors
    /// [`Error::Storage`] when the flash fails to read; [`Error::InvalidArgument`] for a slot
    /// number other than 0 and 1.
    pub fn slot(&mut self, slot: usize) -> Result<Slot, Error> {
        if slot > 1 {
            return Err(Error::InvalidArgument);
        }
        let record = verify(&mut self.source(slot));
        let (distance, unwritten) = self.marker(slot)?;
        Ok(match record {
            Err(Reject::Storage) => return Err(Error::Storage),
            Ok(info) if Self::slot_bytes_for(info.len as usize) > self.slot_len as usize => {
                // A record running into the commit unit: no save writes that.
                Slot::Damaged
            }
            Ok(info) if !unwritten => Slot::Valid(info),
            Ok(_) => Slot::Incomplete,
            Err(Reject::Format(version)) => Slot::OtherFormat { version },
            Err(Reject::Bad) if distance <= MARKER_TOLERANCE => Slot::Damaged,
            Err(Reject::Bad) if self.erased(slot)? => Slot::Erased,
            Err(Reject::Bad) => Slot::Incomplete,
        })
    }

    /// Both slots, as [`Store::restore`] sees them.
    ///
    /// A slot that reads as damaged is read a second time: when the two reads disagree, the
    /// flash is returning other bytes each time (a failing part or bus, not a damaged
    /// checkpoint) and the result is [`Error::Storage`].
    ///
    /// # Errors
    /// [`Error::Storage`] when the flash fails to read, or reads a damaged slot differently
    /// twice.
    pub fn slots(&mut self) -> Result<[Slot; 2], Error> {
        let mut slots = [Slot::Erased; 2];
        for (i, s) in slots.iter_mut().enumerate() {
            let first = self.slot(i)?;
            if first.is_damaged() && self.slot(i)? != first {
                return Err(Error::Storage);
            }
            *s = first;
        }
        Ok(slots)
    }

    /// The header of the checkpoint [`Store::restore`] would load; `Ok(None)` when no
    /// checkpoint was ever committed ([`Restored::Empty`]).
    ///
    /// # Errors
    /// [`RestoreError::Storage`] when the flash fails to read; [`RestoreError::Damaged`] or
    /// [`RestoreError::OtherFormat`] when no slot is valid and one holds such a record.
    pub fn latest(&mut self) -> Result<Option<Info>, RestoreError> {
        let slots = self.slots().map_err(|_| RestoreError::Storage)?;
        Ok(pick(&slots)?.map(|(_, i)| i))
    }

    /// Saves a checkpoint of every variable and the optimizer's state into the slot that does
    /// not hold the newest valid checkpoint, and returns its sequence number (one more than
    /// the newest, or 1 when there is no valid checkpoint).
    ///
    /// Order of work: check the model; read both slots; erase the sector holding the target
    /// slot's commit unit, then the rest of the slot; write the record chunk by chunk; write the
    /// commit unit; read the slot back and check it. A power cut at any point leaves the newest
    /// earlier checkpoint untouched. With no valid slot, the target is the first slot that
    /// is not damaged (a damaged one is overwritten only when both are).
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN or infinite variable or optimizer state, and
    /// [`Error::InvalidArgument`] when the checkpoint does not fit a slot (see
    /// [`Store::bytes_needed`]) — both before the flash is touched; [`Error::Storage`] when the
    /// flash fails (see [`Store::last_flash_error`]) or the slot does not read back as written.
    pub fn save<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &Graph<T, O, N, S>,
        opt: &impl Optimizer<T>,
    ) -> Result<u32, Error> {
        let plan = plan(g, opt.state())?;
        if Self::slot_bytes_for(plan.len) > self.slot_len as usize {
            return Err(Error::InvalidArgument);
        }
        let slots = self.slots()?;
        let newest = pick(&slots).unwrap_or(None);
        let (target, sequence) = match newest {
            Some((slot, info)) => (1 - slot, info.sequence.wrapping_add(1)),
            None => {
                let [a, b] = &slots;
                (usize::from(a.is_damaged() && !b.is_damaged()), 1)
            }
        };
        let start = self.slot_start(target);
        let end = start + self.slot_len;
        let last_sector = end - F::ERASE_SIZE as u32;
        let mut erase = |from: u32, to: u32| {
            if from >= to {
                return Ok(());
            }
            self.flash.erase(from, to).map_err(|e| {
                self.last_error = Some(e.kind());
                Error::Storage
            })
        };
        // The commit unit first: from then on the slot does not count.
        erase(last_sector, end)?;
        erase(start, last_sector)?;
        let mut sink = FlashSink {
            flash: &mut self.flash,
            start,
            last_error: &mut self.last_error,
        };
        let mut w = Writer::new(&mut sink);
        let crc = encode(g, opt, sequence, &plan, &mut w)?;
        let written = w.finish(F::WRITE_SIZE)?;
        let commit_at = self.slot_len as usize - Self::UNIT;
        if written > commit_at {
            return Err(Error::InvalidArgument);
        }
        let mut unit = [0xFF; CHUNK];
        put_bytes(&mut unit, 0, &COMMIT);
        sink.put(
            commit_at,
            unit.get(..Self::UNIT).ok_or(Error::InvalidArgument)?,
        )?;
        match self.slot(target)? {
            Slot::Valid(i) if i.sequence == sequence && i.crc == crc => Ok(sequence),
            _ => Err(Error::Storage),
        }
    }

    /// Restores the newest valid checkpoint into the graph's variables and the optimizer.
    ///
    /// Returns [`Restored::Checkpoint`] with its header, or [`Restored::Empty`] when no
    /// checkpoint was ever committed (both slots erased, or holding only saves cut short) —
    /// then nothing changes. A slot that holds a damaged record or one of another format is
    /// *not* empty: with no valid slot beside it, restore fails with
    /// [`RestoreError::Damaged`] or [`RestoreError::OtherFormat`]; beside a valid one, the
    /// valid one is restored and `other_damaged` says so.
    ///
    /// The newest valid checkpoint is the one restored; when it does not fit the graph or the
    /// optimizer the refusal is returned (an older one is not tried). The record is read
    /// twice, to check it and to copy it (see [Memory](self#memory-and-reading-the-flash-twice)).
    ///
    /// # Errors
    /// [`RestoreError::Storage`] when the flash fails to read before anything changed;
    /// [`RestoreError::CopyFailed`] when it failed twice while copying (the model is then
    /// partly restored); the refusals of [`restore_from_slice`]. Every error but `CopyFailed`
    /// changes nothing.
    pub fn restore<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        opt: &mut impl Optimizer<T>,
    ) -> Result<Restored, RestoreError> {
        self.restore_twice(g, Some(opt))
    }

    /// As [`Store::restore`], the variables only, whatever optimizer saved the checkpoint
    /// (see [`restore_weights_from_slice`]).
    ///
    /// # Errors
    /// As [`Store::restore`], without the optimizer's refusals.
    pub fn restore_weights<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<Restored, RestoreError> {
        self.restore_twice(g, None::<&mut crate::GradientDescent<T>>)
    }

    fn restore_twice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        mut opt: Option<&mut impl Optimizer<T>>,
    ) -> Result<Restored, RestoreError> {
        let slots = self.slots().map_err(|_| RestoreError::Storage)?;
        let Some((slot, info)) = pick(&slots)? else {
            return Ok(Restored::Empty);
        };
        check_fit(&info, g, opt.as_deref())?;
        let mut changed = false;
        for _attempt in 0..2 {
            match apply(&mut self.source(slot), &info, g, opt.as_deref_mut()) {
                Ok(()) => {
                    return Ok(Restored::Checkpoint {
                        info,
                        other_damaged: slots.get(1 - slot).is_some_and(Slot::is_damaged),
                    })
                }
                Err(CopyError::Before(RestoreError::Storage)) => {}
                Err(CopyError::Before(e)) => return Err(e),
                Err(CopyError::After) => changed = true,
            }
        }
        Err(if changed {
            RestoreError::CopyFailed
        } else {
            RestoreError::Storage
        })
    }

    /// As [`Store::restore`], but the record is read once, into `buf`, checked there against
    /// the CRC the slot was classified with, and copied from there: a restore either succeeds
    /// or changes nothing, whatever the flash does. `buf` needs the record's length rounded up
    /// to the flash's read size ([`Info::len`] of [`Store::latest`]; [`encoded_len`] of the
    /// model).
    ///
    /// # Errors
    /// As [`Store::restore`], without [`RestoreError::CopyFailed`]: the flash failing or
    /// returning other bytes on the second read is [`RestoreError::Storage`];
    /// [`RestoreError::Mismatch`] with [`Error::LengthMismatch`] (`expected` the bytes needed)
    /// when `buf` is too short.
    pub fn restore_buffered<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        opt: &mut impl Optimizer<T>,
        buf: &mut [u8],
    ) -> Result<Restored, RestoreError> {
        let slots = self.slots().map_err(|_| RestoreError::Storage)?;
        let Some((slot, info)) = pick(&slots)? else {
            return Ok(Restored::Empty);
        };
        check_fit(&info, g, Some(&*opt))?;
        let need = (info.len as usize).div_ceil(F::READ_SIZE.max(1)) * F::READ_SIZE.max(1);
        let found = buf.len();
        let b = buf
            .get_mut(..need)
            .ok_or(RestoreError::Mismatch(Error::LengthMismatch {
                expected: need,
                found,
            }))?;
        self.source(slot)
            .read(0, b)
            .map_err(|_| RestoreError::Storage)?;
        let again = b.get(..info.len as usize).unwrap_or(&[]);
        match verify(&mut SliceSource(again)) {
            Ok(i) if i == info => {}
            _ => return Err(RestoreError::Storage),
        }
        match apply(&mut SliceSource(again), &info, g, Some(opt)) {
            Ok(()) => Ok(Restored::Checkpoint {
                info,
                other_damaged: slots.get(1 - slot).is_some_and(Slot::is_damaged),
            }),
            Err(CopyError::Before(e)) => Err(e),
            Err(CopyError::After) => Err(RestoreError::CopyFailed),
        }
    }

    /// Erases both slots: the store is empty afterwards. This is how a checkpoint that is
    /// damaged or not for this firmware is discarded — on purpose.
    ///
    /// # Errors
    /// [`Error::Storage`] when the flash fails.
    pub fn erase_all(&mut self) -> Result<(), Error> {
        self.flash
            .erase(self.base, self.base + 2 * self.slot_len)
            .map_err(|e| {
                self.last_error = Some(e.kind());
                Error::Storage
            })
    }
}

#[cfg(test)]
mod tests;
