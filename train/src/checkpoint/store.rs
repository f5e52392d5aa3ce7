//! The flash store: two slots, each written whole and committed last, so that a power cut
//! never loses the last good checkpoint.

use super::*;

/// What a flash slot holds (see the table in the [module docs](super#format-version-2)).
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

/// Two alternating checkpoint slots in a NOR flash (see the [module docs](super)).
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
    /// [`Error::Misaligned`] (the value and the unit) unless `base` and `slot_len` are
    /// multiples of the flash's erase size, read size and commit unit (and `slot_len` is not
    /// zero); [`Error::TooSmall`] (bytes needed and the flash's capacity) unless both slots lie
    /// inside the flash; [`Error::InvalidArgument`] unless its read and write sizes are powers
    /// of two that divide [`CHUNK`].
    pub fn new(flash: F, base: u32, slot_len: u32) -> Result<Self, Error> {
        let pow2_chunk = |s: usize| s.is_power_of_two() && s <= CHUNK;
        let erase = F::ERASE_SIZE;
        let aligned = |v: u32| {
            let v = v as usize;
            erase != 0 && v.is_multiple_of(erase) && v.is_multiple_of(F::READ_SIZE.max(1))
        };
        if !pow2_chunk(F::READ_SIZE) || !pow2_chunk(F::WRITE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        // The unit a slot's base and length must be multiples of.
        let unit = erase.max(F::READ_SIZE).max(Self::UNIT);
        if !aligned(base) {
            return Err(Error::Misaligned {
                what: "checkpoint slot base",
                value: base as usize,
                unit,
            });
        }
        if !aligned(slot_len) || slot_len == 0 || !(slot_len as usize).is_multiple_of(Self::UNIT) {
            return Err(Error::Misaligned {
                what: "checkpoint slot length",
                value: slot_len as usize,
                unit,
            });
        }
        let end = base as u64 + 2 * slot_len as u64;
        let room = (flash.capacity() as u64).min(u64::from(u32::MAX));
        if end > room {
            return Err(Error::TooSmall {
                what: "flash for two checkpoint slots (bytes from 0)",
                needed: usize::try_from(end).unwrap_or(usize::MAX),
                available: usize::try_from(room).unwrap_or(usize::MAX),
            });
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
    /// [`Error::TooSmall`] (bytes needed and the slot's length) when the checkpoint does not
    /// fit a slot (see [`Store::bytes_needed`]) — both before the flash is touched; [`Error::Storage`] when the
    /// flash fails (see [`Store::last_flash_error`]) or the slot does not read back as written.
    pub fn save<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &Graph<T, O, N, S>,
        opt: &impl Optimizer<T>,
    ) -> Result<u32, Error> {
        let plan = plan(g, opt.state())?;
        let needed = Self::slot_bytes_for(plan.len);
        if needed > self.slot_len as usize {
            return Err(Error::TooSmall {
                what: "checkpoint slot (bytes)",
                needed,
                available: self.slot_len as usize,
            });
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
    /// twice, to check it and to copy it (see [Memory](super#memory-and-reading-the-flash-twice)).
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
