//! Checkpoints: every variable, the optimizer's state and its update count, saved to bytes or
//! to NOR flash so that a power cut never loses the last good model.
//!
//! A device that learns in the field saves its model now and then with [`Store::save`] and
//! picks it up after a reset with [`Store::restore`]. The store keeps **two slots** in flash and
//! writes each new checkpoint into the slot that does *not* hold the newest one, finishing with
//! a commit marker; a slot counts only when its marker is present and its CRC matches. So
//! whenever the power goes — during the erase, in the middle of a word, just before the
//! marker — the previous checkpoint is still there, and [`Store::restore`] loads exactly the old
//! model or exactly the new one, never a mix of the two.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::checkpoint::{sim::SimFlash, Store};
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
//! assert_eq!(store.restore(&mut fresh, &mut opt)?, Some(1));
//! assert_eq!(fresh.value(w2)?, g.value(w)?);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! # Format (version 1)
//!
//! A *record* is little-endian throughout:
//!
//! | offset | bytes | field |
//! | --- | --- | --- |
//! | 0 | 4 | magic `"EGCK"` ([`MAGIC`]) |
//! | 4 | 2 | format version, 1 ([`VERSION`]) |
//! | 6 | 1 | bytes per scalar: 4 (`f32`) or 8 (`f64`) |
//! | 7 | 1 | reserved, 0 |
//! | 8 | 4 | sequence number |
//! | 12 | 4 | `V`, the number of variables |
//! | 16 | 4 | `P`, scalars in all variables |
//! | 20 | 4 | `Q`, scalars of optimizer state ([`Optimizer::state`]) |
//! | 24 | 4 | the optimizer's update count ([`Optimizer::update_count`]) |
//! | 28 | 4 | record length in bytes, `32 + 4V + B(P + Q) + 4` |
//! | 32 | 4·V | shape table: `rows: u16`, `cols: u16` of each variable, in insertion order |
//! | 32 + 4V | B·P | variable values, row-major, one variable after the other |
//! | … | B·Q | optimizer state |
//! | length − 4 | 4 | CRC-32 (IEEE 802.3, the zlib one; see [`crc32`]) of every byte before it |
//!
//! where `B` is the number of bytes per scalar. In flash, a slot holds one record, then `0xFF`
//! padding up to a multiple of `U = max(WRITE_SIZE, 4)`, then a `U`-byte *commit unit*: the four
//! bytes `"DONE"` ([`COMMIT`]) followed by `0xFF`. The record is written first and the commit
//! unit last, in a separate write, so that a slot whose marker reads back intact was completely
//! written; the CRC then catches bits that changed afterwards.
//!
//! # What restore checks, and its errors
//!
//! Everything is checked before the first variable changes:
//!
//! - [`Error::Corrupt`]: bad magic, unknown version, a non-zero reserved byte, lengths that
//!   disagree or do not fit, a CRC mismatch, or a checkpoint of the other scalar type (an `f32`
//!   checkpoint restored into an `f64` graph, or the reverse).
//! - [`Error::LengthMismatch`]: the graph has a different number of variables (`expected` is
//!   the graph's, `found` the checkpoint's), a different number of variable scalars, or the
//!   optimizer's state has a different length.
//! - [`Error::ShapeMismatch`]: a variable has another shape (`expected` is the graph's,
//!   `found` the checkpoint's).
//! - [`Error::NonFinite`]: a stored value is NaN or infinite. [`Store::save`] and
//!   [`save_to_slice`] never write one: they refuse a model with a non-finite variable or
//!   optimizer state with the same error, before anything is written or erased.
//!
//! Gradients, placeholders and constants are not part of a checkpoint and are left as they are.
//!
//! # Memory
//!
//! Saving and restoring stream through one [`CHUNK`]-byte buffer on the stack and compute the
//! CRC on the way; no buffer grows with the model. Restoring reads the slot twice (check, then
//! apply), so the model is changed only after the whole checkpoint has been checked.

pub mod sim;

use crate::Optimizer;
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind};
use embedgrad_core::{Error, Graph, Op, Scalar, Shape};

/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = *b"EGCK";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Bytes in the fixed header, before the shape table.
pub const HEADER_LEN: usize = 32;
/// The commit marker written last into a flash slot.
pub const COMMIT: [u8; 4] = *b"DONE";
/// Bytes of the one buffer saving and restoring stream through. Flash write and read sizes must
/// divide it.
pub const CHUNK: usize = 64;

const CRC_LEN: usize = 4;

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
    /// Record length in bytes.
    pub len: u32,
    /// The record's CRC-32.
    pub crc: u32,
    /// Whether every stored value is finite.
    pub finite: bool,
}

/// The counts of a model about to be saved.
#[derive(Clone, Copy, Debug)]
struct Plan {
    variables: u32,
    value_scalars: u32,
    state_scalars: u32,
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
    state: &[T],
    update_count: u32,
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
    put_bytes(&mut h, 24, &update_count.to_le_bytes());
    put_bytes(&mut h, 28, &len.to_le_bytes());
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
    for &v in state {
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

    fn u32(&mut self) -> Result<u32, Error> {
        let mut b = [0; 4];
        self.take(&mut b)?;
        Ok(u32::from_le_bytes(b))
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

/// Reads the whole record: header, lengths, CRC. Changes nothing.
fn verify<R: Source>(src: &mut R) -> Result<Info, Error> {
    let mut r = Reader::new(src);
    let mut magic = [0; 4];
    r.take(&mut magic)?;
    if magic != MAGIC {
        return Err(Error::Corrupt);
    }
    let version = r.u16()?;
    let mut kind = [0; 2];
    r.take(&mut kind)?;
    let [scalar_bytes, reserved] = kind;
    if version != VERSION || reserved != 0 || !(scalar_bytes == 4 || scalar_bytes == 8) {
        return Err(Error::Corrupt);
    }
    let sequence = r.u32()?;
    let variables = r.u32()?;
    let value_scalars = r.u32()?;
    let state_scalars = r.u32()?;
    let update_count = r.u32()?;
    let len = r.u32()?;
    let expected = record_len(
        u64::from(scalar_bytes),
        u64::from(variables),
        u64::from(value_scalars) + u64::from(state_scalars),
    );
    if expected != Some(u64::from(len)) || len as usize > r.src.limit() {
        return Err(Error::Corrupt);
    }
    let mut shape_scalars = 0u64;
    for _ in 0..variables {
        let rows = r.u16()?;
        let cols = r.u16()?;
        if rows == 0 || cols == 0 {
            return Err(Error::Corrupt);
        }
        shape_scalars += u64::from(rows) * u64::from(cols);
    }
    if shape_scalars != u64::from(value_scalars) {
        return Err(Error::Corrupt);
    }
    let mut finite = true;
    let mut b = [0u8; 8];
    let b = b
        .get_mut(..usize::from(scalar_bytes))
        .ok_or(Error::Corrupt)?;
    for _ in 0..u64::from(value_scalars) + u64::from(state_scalars) {
        r.take(b)?;
        finite &= finite_le(b);
    }
    let crc = r.crc.finish();
    let mut stored = [0; 4];
    r.take_raw(&mut stored)?;
    if u32::from_le_bytes(stored) != crc {
        return Err(Error::Corrupt);
    }
    Ok(Info {
        sequence,
        scalar_bytes,
        variables,
        value_scalars,
        state_scalars,
        update_count,
        len,
        crc,
        finite,
    })
}

/// Checks a verified record against the graph and optimizer, then copies it in.
fn apply<R: Source, T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    src: &mut R,
    info: &Info,
    g: &mut Graph<T, O, N, S>,
    opt: &mut impl Optimizer<T>,
) -> Result<(), Error> {
    if usize::from(info.scalar_bytes) != T::BYTES {
        return Err(Error::Corrupt);
    }
    let count_mismatch = |expected: usize, found: u32| Error::LengthMismatch {
        expected,
        found: found as usize,
    };
    let vars = g.variables().count();
    if vars != info.variables as usize {
        return Err(count_mismatch(vars, info.variables));
    }
    let scalars = g.variable_scalars();
    if scalars != info.value_scalars as usize {
        return Err(count_mismatch(scalars, info.value_scalars));
    }
    let state = opt.state_mut().len();
    if state != info.state_scalars as usize {
        return Err(count_mismatch(state, info.state_scalars));
    }
    // The shape table, against the graph's variables.
    let mut r = Reader::new(src);
    r.skip(HEADER_LEN)?;
    for id in g.variables() {
        let found = Shape::new(usize::from(r.u16()?), usize::from(r.u16()?));
        let expected = g.shape(id)?;
        if found != expected {
            return Err(Error::ShapeMismatch { expected, found });
        }
    }
    if !info.finite {
        return Err(Error::NonFinite);
    }
    // Checked: now copy. `r` stands at the first value.
    g.for_each_variable(|v| {
        for x in v.value.iter_mut() {
            *x = r.scalar()?;
        }
        Ok(())
    })?;
    for x in opt.state_mut() {
        *x = r.scalar()?;
    }
    opt.set_update_count(info.update_count);
    if r.crc.finish() != info.crc || r.offset() + CRC_LEN != info.len as usize {
        // The bytes changed between the two reads: only a failing storage does that.
        return Err(Error::Storage);
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
/// let mut buf = [0u8; 64];
/// let n = checkpoint::save_to_slice(&g, &opt, 7, &mut buf)?;
/// assert_eq!(n, 32 + 4 + 2 * 8 + 4);
/// assert_eq!(checkpoint::inspect(&buf[..n])?.sequence, 7);
///
/// g.assign(w, &Matrix::new([[0.0, 0.0]]))?;
/// let mut opt2 = GradientDescent::new(0.1);
/// checkpoint::restore_from_slice(&mut g, &mut opt2, &buf[..n])?;
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
    encode(g, opt.state(), opt.update_count(), sequence, &plan, &mut w)?;
    w.finish(1)
}

/// Checks a record and returns its header, without a graph. Bytes after the record are
/// ignored.
///
/// # Errors
/// [`Error::Corrupt`] for anything but a complete, intact record.
pub fn inspect(bytes: &[u8]) -> Result<Info, Error> {
    verify(&mut SliceSource(bytes))
}

/// Restores the variables, the optimizer state and its update count from a record. Nothing
/// changes unless it succeeds.
///
/// # Errors
/// See [What restore checks](self#what-restore-checks-and-its-errors).
pub fn restore_from_slice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    opt: &mut impl Optimizer<T>,
    bytes: &[u8],
) -> Result<Info, Error> {
    let mut src = SliceSource(bytes);
    let info = verify(&mut src)?;
    apply(&mut src, &info, g, opt)?;
    Ok(info)
}

// ----- flash -----

/// What a flash slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Slot {
    /// A complete checkpoint: commit marker present, CRC correct.
    Valid(Info),
    /// Anything else: erased, half written, or damaged.
    Invalid,
}

impl Slot {
    /// The header of a valid slot.
    pub fn info(&self) -> Option<Info> {
        match self {
            Slot::Valid(i) => Some(*i),
            Slot::Invalid => None,
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

    /// Reads and checks one slot (0 or 1).
    ///
    /// # Errors
    /// [`Error::Storage`] when the flash fails to read; [`Error::InvalidArgument`] for a slot
    /// number other than 0 and 1.
    pub fn slot(&mut self, slot: usize) -> Result<Slot, Error> {
        if slot > 1 {
            return Err(Error::InvalidArgument);
        }
        let start = self.slot_start(slot);
        let mut src = FlashSource {
            flash: &mut self.flash,
            start,
            len: self.slot_len as usize,
            last_error: &mut self.last_error,
        };
        let info = match verify(&mut src) {
            Ok(info) => info,
            Err(Error::Corrupt) => return Ok(Slot::Invalid),
            Err(e) => return Err(e),
        };
        let commit_at = Self::slot_bytes_for(info.len as usize) - Self::UNIT;
        if commit_at + Self::UNIT > self.slot_len as usize {
            return Ok(Slot::Invalid);
        }
        // Read the commit unit through an aligned chunk.
        let block = commit_at / CHUNK * CHUNK;
        let n = CHUNK.min(self.slot_len as usize - block);
        let mut buf = [0u8; CHUNK];
        let b = buf.get_mut(..n).ok_or(Error::InvalidArgument)?;
        src.read(block, b)?;
        let marker = b.get(commit_at - block..commit_at - block + COMMIT.len());
        Ok(if marker == Some(&COMMIT[..]) {
            Slot::Valid(info)
        } else {
            Slot::Invalid
        })
    }

    /// The newest valid slot: its number and header.
    fn newest(&mut self) -> Result<Option<(usize, Info)>, Error> {
        let a = self.slot(0)?.info();
        let b = self.slot(1)?.info();
        Ok(match (a, b) {
            (Some(a), Some(b)) if newer(b.sequence, a.sequence) => Some((1, b)),
            (Some(a), _) => Some((0, a)),
            (None, Some(b)) => Some((1, b)),
            (None, None) => None,
        })
    }

    /// The header of the checkpoint [`Store::restore`] would load, if any.
    ///
    /// # Errors
    /// [`Error::Storage`] when the flash fails to read.
    pub fn latest(&mut self) -> Result<Option<Info>, Error> {
        Ok(self.newest()?.map(|(_, i)| i))
    }

    /// Saves a checkpoint of every variable and the optimizer's state into the slot that does
    /// not hold the newest checkpoint, and returns its sequence number (one more than the
    /// newest, or 1 on an empty store).
    ///
    /// Order of work: check the model; read both slots; erase the target slot; write the
    /// record chunk by chunk; write the commit unit; read the slot back and check it. A power
    /// cut at any point leaves the newest earlier checkpoint untouched.
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
        let (target, sequence) = match self.newest()? {
            Some((slot, info)) => (1 - slot, info.sequence.wrapping_add(1)),
            None => (0, 1),
        };
        let start = self.slot_start(target);
        self.flash
            .erase(start, start + self.slot_len)
            .map_err(|e| {
                self.last_error = Some(e.kind());
                Error::Storage
            })?;
        let mut sink = FlashSink {
            flash: &mut self.flash,
            start,
            last_error: &mut self.last_error,
        };
        let mut w = Writer::new(&mut sink);
        let crc = encode(g, opt.state(), opt.update_count(), sequence, &plan, &mut w)?;
        let written = w.finish(F::WRITE_SIZE)?;
        let commit_at = Self::slot_bytes_for(plan.len) - Self::UNIT;
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

    /// Restores the newest valid checkpoint into the graph's variables and the optimizer;
    /// returns its sequence number, or `Ok(None)` when neither slot holds a valid checkpoint
    /// (a new device, or one whose first save was interrupted) — then nothing changes.
    ///
    /// The newest checkpoint is the one restored; when it does not fit the graph the error is
    /// returned (an older one is not tried). The slot is read twice, once to check it and once
    /// to copy it: only a flash that fails or returns other bytes on the second read can leave
    /// the variables partly restored, and that returns [`Error::Storage`].
    ///
    /// # Errors
    /// [`Error::Storage`] when the flash fails; otherwise as [`restore_from_slice`].
    pub fn restore<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        opt: &mut impl Optimizer<T>,
    ) -> Result<Option<u32>, Error> {
        let Some((slot, info)) = self.newest()? else {
            return Ok(None);
        };
        let mut src = FlashSource {
            start: self.slot_start(slot),
            flash: &mut self.flash,
            len: self.slot_len as usize,
            last_error: &mut self.last_error,
        };
        apply(&mut src, &info, g, opt)?;
        Ok(Some(info.sequence))
    }

    /// Erases both slots: the store is empty afterwards.
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
