//! A simulated NOR flash for tests, with power cuts.
//!
//! [`SimFlash`] behaves like a NOR flash as `embedded-storage` describes it: erased bytes read
//! `0xFF`; an erase works on whole sectors of `ERASE` bytes; a write works on whole words of
//! `WRITE` bytes and **must hit erased words** — writing a word that is not all `0xFF` is an
//! error ([`SimError::NotErased`]) and changes nothing, the strict reading of "it is not allowed
//! to write to the same word twice" (real parts either AND the bits in or fail their ECC).
//!
//! Every programmed word and every erased sector is one *operation*.
//! [`SimFlash::cut_power_after`] arms a power cut: after that many more operations, the next
//! one is interrupted — its word or sector is left as a [`CutMode`] says — and every later call
//! fails with [`SimError::PowerCut`] until [`SimFlash::power_on`].
//!
//! Reads can fail too: [`SimFlash::fail_reads`] makes some later reads fail
//! ([`ReadFault::Fail`], [`SimError::ReadFault`]) or return one bit flipped
//! ([`ReadFault::FlipBit`]), as a failing part or a disturbed bus does.
//!
//! ```
//! use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
//! use embedgrad_train::checkpoint::sim::{CutMode, SimError, SimFlash};
//!
//! let mut f = SimFlash::<1024, 4, 256>::new();
//! f.write(0, &[1, 2, 3, 4])?;
//! assert_eq!(f.write(0, &[0, 0, 0, 0]), Err(SimError::NotErased)); // no second write
//! f.cut_power_after(1, CutMode::Clean, 0);
//! assert_eq!(f.write(4, &[5, 6, 7, 8, 9, 10, 11, 12]), Err(SimError::PowerCut));
//! f.power_on();
//! let mut b = [0u8; 12];
//! f.read(0, &mut b)?;
//! assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0xFF, 0xFF, 0xFF]); // one word made it
//! assert_eq!(f.operations(), 2);
//! # Ok::<(), SimError>(())
//! ```

use crate::SplitMix64;
use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind,
    ReadNorFlash,
};
use embedgrad_core::nopanic::SliceExt as _;

/// What an interrupted operation leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CutMode {
    /// The interrupted word or sector is unchanged: the cut came just before it.
    Clean,
    /// Half done, as the physics goes: a word being programmed has a random subset of the bits
    /// it was clearing cleared; a sector being erased has a random subset of its zero bits set.
    Partial,
    /// The interrupted word or sector holds random bytes ("undefined", as `embedded-storage`
    /// allows).
    Garbage,
}

/// What a faulty read does (see [`SimFlash::fail_reads`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadFault {
    /// The read returns [`SimError::ReadFault`].
    Fail,
    /// The read succeeds, with the lowest bit of its first byte flipped.
    FlipBit,
}

/// Errors of [`SimFlash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SimError {
    /// Offset or length not a multiple of the read, write or erase size.
    NotAligned,
    /// Outside the flash.
    OutOfBounds,
    /// A write to a word that is not erased.
    NotErased,
    /// The power is off (a cut happened and [`SimFlash::power_on`] was not called yet).
    PowerCut,
    /// A read failed (armed by [`SimFlash::fail_reads`]).
    ReadFault,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::NotAligned => NorFlashErrorKind::NotAligned,
            SimError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            SimError::NotErased | SimError::PowerCut | SimError::ReadFault => {
                NorFlashErrorKind::Other
            }
        }
    }
}

impl From<NorFlashErrorKind> for SimError {
    fn from(k: NorFlashErrorKind) -> Self {
        match k {
            NorFlashErrorKind::NotAligned => SimError::NotAligned,
            _ => SimError::OutOfBounds,
        }
    }
}

/// A `SIZE`-byte NOR flash in RAM with `WRITE`-byte words and `ERASE`-byte sectors (see the
/// [module docs](self)). Reads have no alignment constraint.
///
/// `SIZE` must be a multiple of `ERASE`, and `ERASE` of `WRITE`, a power of two (checked at
/// compile time).
#[derive(Clone, Debug)]
pub struct SimFlash<const SIZE: usize, const WRITE: usize = 4, const ERASE: usize = 256> {
    mem: [u8; SIZE],
    ops: u32,
    cut_at: Option<(u32, CutMode)>,
    powered: bool,
    rng: SplitMix64,
    reads: u32,
    read_fault: Option<(u32, u32, ReadFault)>,
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> Default
    for SimFlash<SIZE, WRITE, ERASE>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> SimFlash<SIZE, WRITE, ERASE> {
    const GEOMETRY_OK: () = assert!(
        WRITE.is_power_of_two()
            && ERASE > 0
            && ERASE.is_multiple_of(WRITE)
            && SIZE.is_multiple_of(ERASE)
            && SIZE <= u32::MAX as usize,
        "SimFlash: WRITE must be a power of two dividing ERASE, which divides SIZE"
    );

    /// An erased flash (every byte `0xFF`), powered, with no cut armed.
    pub const fn new() -> Self {
        let () = Self::GEOMETRY_OK;
        Self {
            mem: [0xFF; SIZE],
            ops: 0,
            cut_at: None,
            powered: true,
            rng: SplitMix64::new(0),
            reads: 0,
            read_fault: None,
        }
    }

    /// The contents.
    pub fn bytes(&self) -> &[u8] {
        &self.mem
    }

    /// The contents, to damage them on purpose (bit flips) or to set up a state.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.mem
    }

    /// Words programmed and sectors erased so far (completed operations only).
    pub fn operations(&self) -> u32 {
        self.ops
    }

    /// Read calls so far (each counts once, whatever its length; faulty ones included).
    pub fn reads(&self) -> u32 {
        self.reads
    }

    /// Makes read calls misbehave: after `after` more reads, the next `count` ones do as
    /// `fault` says (`u32::MAX` for "from then on"). Replaces an armed read fault; `count = 0`
    /// disarms it. Power cuts do not change it.
    pub fn fail_reads(&mut self, after: u32, count: u32, fault: ReadFault) {
        self.read_fault = Some((self.reads.saturating_add(after), count, fault));
    }

    /// Arms a power cut: after `ops` more completed operations the next one is interrupted as
    /// `mode` says (random choices drawn from `seed`). Replaces an armed cut.
    pub fn cut_power_after(&mut self, ops: u32, mode: CutMode, seed: u64) {
        self.cut_at = Some((self.ops.saturating_add(ops), mode));
        self.rng = SplitMix64::new(seed);
    }

    /// Disarms any cut without powering on.
    pub fn disarm(&mut self) {
        self.cut_at = None;
    }

    /// Restores power (and disarms any cut). The contents stay as the cut left them.
    pub fn power_on(&mut self) {
        self.powered = true;
        self.cut_at = None;
    }

    /// Whether the power is on.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Runs one operation on `range`, or interrupts it. `apply` does the complete operation.
    fn op(
        &mut self,
        start: usize,
        len: usize,
        erase: bool,
        apply: impl FnOnce(&mut [u8]),
        target: &[u8],
    ) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerCut);
        }
        let region = self
            .mem
            .get_mut(start..start + len)
            .ok_or(SimError::OutOfBounds)?;
        match self.cut_at {
            Some((at, mode)) if at == self.ops => {
                self.powered = false;
                self.cut_at = None;
                for (i, b) in region.iter_mut().enumerate() {
                    let r = self.rng.next_u64() as u8;
                    *b = match mode {
                        CutMode::Clean => *b,
                        CutMode::Garbage => r,
                        CutMode::Partial if erase => *b | r,
                        CutMode::Partial => {
                            let t = target.get(i).copied().unwrap_or(0xFF);
                            *b & !(!t & r)
                        }
                    };
                }
                Err(SimError::PowerCut)
            }
            _ => {
                apply(region);
                self.ops = self.ops.wrapping_add(1);
                Ok(())
            }
        }
    }
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> ErrorType
    for SimFlash<SIZE, WRITE, ERASE>
{
    type Error = SimError;
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> ReadNorFlash
    for SimFlash<SIZE, WRITE, ERASE>
{
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerCut);
        }
        check_read(self, offset, bytes.len())?;
        let n = self.reads;
        self.reads = self.reads.wrapping_add(1);
        let fault = match self.read_fault {
            Some((from, count, fault)) if n >= from && n - from < count => Some(fault),
            _ => None,
        };
        if fault == Some(ReadFault::Fail) {
            return Err(SimError::ReadFault);
        }
        let o = offset as usize;
        bytes.copy_from(
            self.mem
                .get(o..o + bytes.len())
                .ok_or(SimError::OutOfBounds)?,
        );
        if let (Some(ReadFault::FlipBit), Some(b)) = (fault, bytes.first_mut()) {
            *b ^= 1;
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl<const SIZE: usize, const WRITE: usize, const ERASE: usize> NorFlash
    for SimFlash<SIZE, WRITE, ERASE>
{
    const WRITE_SIZE: usize = WRITE;
    const ERASE_SIZE: usize = ERASE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerCut);
        }
        check_erase(self, from, to)?;
        for sector in (from as usize..to as usize).step_by(ERASE) {
            self.op(sector, ERASE, true, |s| s.fill(0xFF), &[])?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerCut);
        }
        check_write(self, offset, bytes.len())?;
        let o = offset as usize;
        let dst = self
            .mem
            .get(o..o + bytes.len())
            .ok_or(SimError::OutOfBounds)?;
        if dst.iter().any(|&b| b != 0xFF) {
            return Err(SimError::NotErased);
        }
        for (k, word) in bytes.exact_rows(WRITE).enumerate() {
            self.op(o + k * WRITE, WRITE, false, |d| d.copy_from(word), word)?;
        }
        Ok(())
    }
}
