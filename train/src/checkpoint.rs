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

mod crc;
mod fingerprint;
mod record;
mod store;

pub use crc::{crc32, Crc32};
use fingerprint::state_fingerprint;
pub use fingerprint::{model_fingerprint, Fingerprint};
use record::*;
pub use store::{newer, Slot, Store};

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

#[cfg(test)]
mod tests;
