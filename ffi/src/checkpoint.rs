//! Checkpoints through the caller's flash: `embedgrad_train::checkpoint::Store` over callbacks.
//!
//! A `Store` writes through `embedded-storage`'s `NorFlash`, whose read, write and erase
//! sizes are constants of the type, while a C library is compiled once for every device. The
//! adapter here, [`CFlash`], declares the sizes that fit every device it allows:
//!
//! - `READ_SIZE = 1`: the read callback takes any offset and length (at most 64 bytes).
//! - `WRITE_SIZE = 32` ([`EG_FLASH_WRITE_SIZE`]): the store then writes only whole 32-byte
//!   units at 32-byte offsets from the start of a slot — its record in 64-byte chunks, the last
//!   one padded to 32 bytes with `0xFF`, and the 32-byte commit unit — each unit once between
//!   erases. A slot starts at a multiple of the erase size, itself a multiple of 32, so every
//!   write is 32-byte aligned in the flash: valid for any device whose program unit (word)
//!   divides 32 bytes (4, 8, 16 or 32: nRF, STM32 L4/G4, L5/U5, H7).
//! - `ERASE_SIZE = 1`, with the contract "erase every sector that overlaps `[from, to)`": the
//!   adapter rounds `from` down and `to` up to the caller's real `erase_size` and calls the
//!   erase callback with whole sectors. `eg_checkpoint_*` check that `erase_size` is a
//!   non-zero multiple of 32 and that `base` and `slot_len` are multiples of it, so a slot is a
//!   whole number of sectors and no rounding reaches outside the two slots.
//!
//! Why the store's power-cut argument still holds. `Store::save` erases
//! `[end − ERASE_SIZE, end)` first — here `[end − 1, end)`, which the adapter rounds to the
//! slot's last real sector `[end − erase_size, end)`; that sector holds the whole 32-byte
//! commit unit (`erase_size ≥ 32`), so from then on the slot does not count, exactly as with
//! a flash that declares its real sector size. It then erases `[start, end − 1)`, rounded to
//! `[start, end)`: the last sector again. The adapter remembers the sectors it erased since the
//! last write and leaves those out, so this second call erases `[start, end − erase_size)` —
//! the same two erases, in the same order, as a `NorFlash` with `ERASE_SIZE = erase_size`
//! would get. The record is then written, then the commit unit in a separate write, then read
//! back. A power cut at any point therefore leaves the slot erased, incomplete or committed,
//! and the other slot — never erased or written by this save — holds the previous checkpoint.

use crate::graph::{with_graph, EgGraph};
use crate::guard::{check_ptr, disjoint, Out, Span};
use crate::optim::{with_checkpointed, EgOptimizer};
use crate::status::{EgErrorInfo, EgStatus, Fail};
use crate::FfiGraph;
use core::ffi::c_void;
use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use embedgrad_train::checkpoint::{Restored, Store};

/// Bytes of every write the checkpoint store makes, and the alignment of its offsets: the
/// device's program unit must divide it, and `erase_size` be a multiple of it.
pub const EG_FLASH_WRITE_SIZE: usize = 32;

/// Reads `len` bytes at `offset` into `buf`; returns 0 on success. Any offset and length.
pub type EgFlashRead =
    Option<unsafe extern "C" fn(ctx: *mut c_void, offset: u32, buf: *mut u8, len: usize) -> i32>;
/// Programs `len` bytes from `data` at `offset` (both multiples of `EG_FLASH_WRITE_SIZE`,
/// into erased memory); returns 0 on success.
pub type EgFlashWrite =
    Option<unsafe extern "C" fn(ctx: *mut c_void, offset: u32, data: *const u8, len: usize) -> i32>;
/// Erases `[from, to)` to `0xFF` (both multiples of `erase_size`, `from < to`); returns 0 on
/// success.
pub type EgFlashErase = Option<unsafe extern "C" fn(ctx: *mut c_void, from: u32, to: u32) -> i32>;

/// A NOR flash (or anything that behaves like one) of the caller, as three callbacks.
///
/// Offsets count from the start of this flash (the callbacks add their own base address).
/// The callbacks get `ctx` as their first argument, run during the call that uses them, and
/// must not call into this library with the graph or optimizer of that call. A non-zero return
/// fails the call with STORAGE. Power-cut safety needs what NOR flash does: an erase leaves
/// `0xFF`, a write interrupted by a power cut leaves the words it was writing undefined and the
/// rest unchanged.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EgFlash {
    /// Passed to every callback.
    pub ctx: *mut c_void,
    /// Reads bytes: `read(ctx, offset, buf, len)`.
    pub read: EgFlashRead,
    /// Programs bytes: `write(ctx, offset, data, len)`.
    pub write: EgFlashWrite,
    /// Erases whole sectors: `erase(ctx, from, to)`.
    pub erase: EgFlashErase,
    /// Bytes of flash the callbacks address, from offset 0.
    pub capacity: u32,
    /// The sector size: what one erase clears. A non-zero multiple of `EG_FLASH_WRITE_SIZE`
    /// (a device with smaller sectors declares a multiple of them).
    pub erase_size: u32,
}

/// What a restore did (`*restored` of `eg_checkpoint_restore`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgRestored {
    /// No checkpoint was ever committed (a new device, or its first save was cut short):
    /// nothing changed; start from the initial weights, saving is safe.
    Nothing = 0,
    /// The newest checkpoint was restored.
    Checkpoint = 1,
    /// The newest valid checkpoint was restored, and the other slot holds a damaged one (or
    /// one of another format), which may have been newer: the flash is failing.
    CheckpointOtherDamaged = 2,
}

/// The error of the adapter: a kind, as `NorFlash` wants.
#[derive(Clone, Copy, Debug)]
struct FlashError(NorFlashErrorKind);

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

/// The caller's callbacks as a `NorFlash` (see the module docs for the sizes it declares).
struct CFlash {
    f: EgFlash,
    /// Sectors erased since the last write, `[from, to)`: not erased again.
    erased: Option<(u32, u32)>,
}

impl CFlash {
    /// Checks the callbacks and the slots: NULL_POINTER for a missing callback,
    /// INVALID_ARGUMENT for an erase size, base or slot length out of line.
    fn new(f: EgFlash, base: u32, slot_len: u32) -> Result<Self, Fail> {
        if f.read.is_none() || f.write.is_none() || f.erase.is_none() {
            return Err(EgStatus::NullPointer.into());
        }
        let e = f.erase_size;
        // INVALID_ARGUMENT with the value (`found`) and what it must be a non-zero multiple
        // of, or fit below (`expected`), as `Store::new` reports them in Rust.
        let bad = |expected: u64, found: u64| {
            let mut i = EgErrorInfo::status(EgStatus::InvalidArgument);
            i.expected = usize::try_from(expected).unwrap_or(usize::MAX);
            i.found = usize::try_from(found).unwrap_or(usize::MAX);
            Fail::Info(i)
        };
        if e == 0 || !(e as usize).is_multiple_of(EG_FLASH_WRITE_SIZE) {
            return Err(bad(EG_FLASH_WRITE_SIZE as u64, e.into()));
        }
        if !base.is_multiple_of(e) {
            return Err(bad(e.into(), base.into()));
        }
        if slot_len == 0 || !slot_len.is_multiple_of(e) {
            return Err(bad(e.into(), slot_len.into()));
        }
        let end = u64::from(base) + 2 * u64::from(slot_len);
        if end > u64::from(f.capacity) {
            return Err(bad(f.capacity.into(), end));
        }
        Ok(CFlash { f, erased: None })
    }

    fn in_bounds(&self, offset: u32, len: usize) -> Result<(), FlashError> {
        match (offset as usize).checked_add(len) {
            Some(end) if end <= self.f.capacity as usize => Ok(()),
            _ => Err(FlashError(NorFlashErrorKind::OutOfBounds)),
        }
    }
}

/// A callback's result.
fn status(rc: i32) -> Result<(), FlashError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(FlashError(NorFlashErrorKind::Other))
    }
}

impl ErrorType for CFlash {
    type Error = FlashError;
}

impl ReadNorFlash for CFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        self.in_bounds(offset, bytes.len())?;
        let read = self.f.read.ok_or(FlashError(NorFlashErrorKind::Other))?;
        // SAFETY: the callback is the caller's (the contract of `eg_flash`); `bytes` is valid
        // for writes of `bytes.len()` bytes for the duration of the call.
        status(unsafe { read(self.f.ctx, offset, bytes.as_mut_ptr(), bytes.len()) })
    }

    fn capacity(&self) -> usize {
        self.f.capacity as usize
    }
}

impl NorFlash for CFlash {
    const WRITE_SIZE: usize = EG_FLASH_WRITE_SIZE;
    const ERASE_SIZE: usize = 1;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if from > to || to > self.f.capacity {
            return Err(FlashError(NorFlashErrorKind::OutOfBounds));
        }
        let e = self.f.erase_size.max(1);
        let a = from / e * e;
        let Some(mut b) = to.div_ceil(e).checked_mul(e) else {
            return Err(FlashError(NorFlashErrorKind::OutOfBounds));
        };
        if b > self.f.capacity {
            return Err(FlashError(NorFlashErrorKind::OutOfBounds));
        }
        // Sectors erased since the last write are erased still: leave the tail out that an
        // earlier erase covered (the store erases the commit unit's sector, then the rest).
        let mut end = b;
        if let Some((pa, pb)) = self.erased {
            if pa >= a && pa < b && pb >= b {
                b = pa;
                end = pb;
            }
        }
        if a >= b {
            return Ok(());
        }
        let erase = self.f.erase.ok_or(FlashError(NorFlashErrorKind::Other))?;
        // Forgotten before the call: a failed erase leaves the sectors undefined.
        self.erased = None;
        // SAFETY: the callback is the caller's (the contract of `eg_flash`).
        status(unsafe { erase(self.f.ctx, a, b) })?;
        self.erased = Some((a, end));
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        self.in_bounds(offset, bytes.len())?;
        if !(offset as usize).is_multiple_of(EG_FLASH_WRITE_SIZE)
            || !bytes.len().is_multiple_of(EG_FLASH_WRITE_SIZE)
        {
            return Err(FlashError(NorFlashErrorKind::NotAligned));
        }
        self.erased = None;
        let write = self.f.write.ok_or(FlashError(NorFlashErrorKind::Other))?;
        // SAFETY: the callback is the caller's (the contract of `eg_flash`); `bytes` is valid
        // for reads of `bytes.len()` bytes for the duration of the call.
        status(unsafe { write(self.f.ctx, offset, bytes.as_ptr(), bytes.len()) })
    }
}

/// Reads the caller's `eg_flash` (a copy: nothing of it is kept) after checking that it lies
/// outside `others`.
///
/// # Safety
/// A non-NULL, aligned `flash` must point to an `eg_flash` that nothing writes during the call.
unsafe fn flash_from(flash: *const EgFlash, others: &[Span]) -> Result<(EgFlash, Span), Fail> {
    check_ptr(flash)?;
    let span = Span::of(flash, 1)?;
    disjoint(span, others)?;
    // SAFETY: non-NULL and aligned (checked), readable (the caller's contract), outside the
    // graph and the call's outputs (checked); every bit pattern is an `EgFlash` (pointers,
    // optional function pointers, integers).
    Ok((unsafe { flash.read() }, span))
}

/// The store over the caller's flash.
fn store(f: EgFlash, base: u32, slot_len: u32) -> Result<Store<CFlash>, Fail> {
    let flash = CFlash::new(f, base, slot_len)?;
    Ok(Store::new(flash, base, slot_len)?)
}

/// The outcome of a restore as C sees it.
fn restored(r: Restored) -> (EgRestored, u32) {
    match r {
        Restored::Checkpoint {
            info,
            other_damaged,
        } => (
            if other_damaged {
                EgRestored::CheckpointOtherDamaged
            } else {
                EgRestored::Checkpoint
            },
            info.sequence,
        ),
        Restored::Empty => (EgRestored::Nothing, 0),
    }
}

/// The bytes of one slot a checkpoint of this graph and optimizer needs (record, padding and
/// commit unit): `slot_len` must be at least this, rounded up to a multiple of the flash's
/// `erase_size`. Two slots take `2 * slot_len` bytes from `base`.
///
/// Errors: NON_FINITE (a variable or the optimizer state is not finite), and as
/// `eg_optimizer_step` for the optimizer; NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_optimizer_step`; `bytes` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_checkpoint_bytes_needed(
    g: *mut EgGraph,
    opt: *mut EgOptimizer,
    bytes: *mut usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, os) = unsafe { Out::new(bytes, &[gs]) }?;
        // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract).
        let n = unsafe {
            with_checkpointed(opt, gs, [os, Span::EMPTY, Span::EMPTY], |c| {
                Ok(Store::<CFlash>::bytes_needed(graph, c)?)
            })
        }?;
        o.write(n);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Saves a checkpoint — every variable, the optimizer's state and its update count — into
/// two alternating slots of `slot_len` bytes at `base` of the caller's flash, and stores its
/// sequence number in `*sequence` (1 for the first, then one more than the newest).
///
/// The save goes into the slot that does not hold the newest checkpoint, and a slot counts
/// only once its commit marker, written last, is in place: a power cut at any point of a save
/// leaves the previous checkpoint restorable. `base` and `slot_len` are multiples of
/// `flash->erase_size`; `slot_len` at least `eg_checkpoint_bytes_needed`.
///
/// Errors: BUFFER_TOO_SMALL (`slot_len` below what the checkpoint needs: `expected` and
/// `found` in `eg_graph_last_error`) and NON_FINITE (a variable or the state is not finite),
/// both before the flash is touched; STORAGE (a callback failed, or the slot did not read back
/// as written); INVALID_ARGUMENT (erase size, base or slot length out of line, slots beyond
/// `capacity`); NULL_POINTER (a missing callback), MISALIGNED, OVERLAP; as
/// `eg_optimizer_step` for the optimizer. The graph and optimizer never change.
///
/// # Safety
/// As `eg_optimizer_step`; `flash` is NULL or points to an `eg_flash` whose callbacks keep its
/// contract; `sequence` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_checkpoint_save(
    g: *mut EgGraph,
    opt: *mut EgOptimizer,
    flash: *const EgFlash,
    base: u32,
    slot_len: u32,
    sequence: *mut u32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, os) = unsafe { Out::new(sequence, &[gs]) }?;
        // SAFETY: the pointer is NULL or points to an `eg_flash` (the caller's contract).
        let (fl, fs) = unsafe { flash_from(flash, &[gs, os]) }?;
        // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract).
        let seq = unsafe {
            with_checkpointed(opt, gs, [os, fs, Span::EMPTY], |c| {
                let mut store = store(fl, base, slot_len)?;
                let need = Store::<CFlash>::bytes_needed(graph, c)?;
                if need > slot_len as usize {
                    let mut i = EgErrorInfo::status(EgStatus::BufferTooSmall);
                    i.expected = need;
                    i.found = slot_len as usize;
                    return Err(Fail::Info(i));
                }
                Ok(store.save(graph, c)?)
            })
        }?;
        o.write(seq);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Shared by the two restores.
///
/// # Safety
/// As `eg_checkpoint_restore`; `opt` may be NULL for weights only.
#[allow(clippy::too_many_arguments)]
unsafe fn restore(
    g: *mut EgGraph,
    opt: Option<*mut EgOptimizer>,
    flash: *const EgFlash,
    base: u32,
    slot_len: u32,
    restored_out: *mut u32,
    sequence: *mut u32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (r, rs) = unsafe { Out::new(restored_out, &[gs]) }?;
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (s, ss) = unsafe { Out::new(sequence, &[gs, rs]) }?;
        // SAFETY: the pointer is NULL or points to an `eg_flash` (the caller's contract).
        let (fl, fs) = unsafe { flash_from(flash, &[gs, rs, ss]) }?;
        let mut store = store(fl, base, slot_len)?;
        let outcome = match opt {
            // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract); its
            // state must lie outside the outputs and the flash description.
            Some(opt) => unsafe {
                with_checkpointed(opt, gs, [rs, ss, fs], |c| {
                    store.restore(graph, c).map_err(Fail::Restore)
                })
            }?,
            None => store.restore_weights(graph).map_err(Fail::Restore)?,
        };
        let (what, seq) = restored(outcome);
        r.write(what as u32);
        s.write(seq);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Restores the newest checkpoint of the two slots at `base` into the graph's variables and
/// the optimizer (its state and update count; the learning rate is not part of a checkpoint),
/// and stores what happened in `*restored` (an `eg_restored`) and the checkpoint's sequence
/// number in `*sequence` (0 when nothing was restored).
///
/// An empty store — both slots erased, or holding only saves cut short — is not an error:
/// OK with `EG_RESTORED_NOTHING`, and nothing changes. Everything is checked before the first
/// variable changes: the record (CRC), the model (shapes, structure), the optimizer (kind,
/// settings, state length — size it with `eg_optimizer_state_len` as when it was saved —, the
/// variables frozen), finite values.
///
/// Errors, all of which change nothing except PARTLY_RESTORED: STORAGE (the flash failed to
/// read: try again, do not save over it); CORRUPT (a damaged checkpoint and no valid one);
/// OTHER_FORMAT (another format version); OTHER_MODEL; OTHER_OPTIMIZER (restore the weights
/// alone with `eg_checkpoint_restore_weights`); LENGTH_MISMATCH (another number of variables,
/// of scalars or of optimizer state: `expected` and `found` in `eg_graph_last_error`);
/// SHAPE_MISMATCH (a variable of another shape); PARTLY_RESTORED (the flash failed twice
/// while the checked record was copied); INVALID_ARGUMENT, NULL_POINTER, MISALIGNED, OVERLAP
/// as `eg_checkpoint_save`. After CORRUPT or OTHER_FORMAT do not start afresh and save (two
/// saves would overwrite both slots): discard the checkpoint on purpose with
/// `eg_checkpoint_erase`.
///
/// # Safety
/// As `eg_checkpoint_save`; `restored` and `sequence` are NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_checkpoint_restore(
    g: *mut EgGraph,
    opt: *mut EgOptimizer,
    flash: *const EgFlash,
    base: u32,
    slot_len: u32,
    restored: *mut u32,
    sequence: *mut u32,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { restore(g, Some(opt), flash, base, slot_len, restored, sequence) }
}

/// As `eg_checkpoint_restore`, the variables only, whatever optimizer saved the checkpoint
/// and whichever variables were frozen: an inference device, or one that fine-tunes with
/// another optimizer, restores any checkpoint of its model. The optimizer state in the record
/// is checked (CRC) and left unused.
///
/// Errors: as `eg_checkpoint_restore`, without OTHER_OPTIMIZER.
///
/// # Safety
/// As `eg_checkpoint_restore`, without an optimizer.
#[no_mangle]
pub unsafe extern "C" fn eg_checkpoint_restore_weights(
    g: *mut EgGraph,
    flash: *const EgFlash,
    base: u32,
    slot_len: u32,
    restored: *mut u32,
    sequence: *mut u32,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { restore(g, None, flash, base, slot_len, restored, sequence) }
}

/// Erases both slots at `base` (`2 * slot_len` bytes): the store is empty afterwards. This is
/// how a checkpoint that is damaged or not for this firmware is discarded — on purpose.
///
/// Errors: STORAGE (the erase callback failed), INVALID_ARGUMENT, NULL_POINTER, MISALIGNED.
///
/// # Safety
/// `flash` is NULL or points to an `eg_flash` whose callbacks keep its contract.
#[no_mangle]
pub unsafe extern "C" fn eg_checkpoint_erase(
    flash: *const EgFlash,
    base: u32,
    slot_len: u32,
) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or points to an `eg_flash` (the caller's contract).
        let (fl, _) = unsafe { flash_from(flash, &[]) }?;
        let mut store = store(fl, base, slot_len)?;
        store.erase_all().map_err(Fail::from)
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}
