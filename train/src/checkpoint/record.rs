//! The record format: encoding a graph and an optimizer into a record, streamed through one
//! [`CHUNK`]-byte buffer, and checking and decoding one (see the [module docs](super#format-version-2)).

use super::*;
use embedgrad_core::nopanic::{SliceExt as _, UsizeExt as _};
use embedgrad_core::Origin;

/// The counts of a model about to be saved.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    pub(super) variables: u32,
    pub(super) value_scalars: u32,
    pub(super) state_scalars: u32,
    pub(super) model: u32,
    pub(super) len: usize,
}

pub(super) fn record_len(scalar_bytes: u64, variables: u64, scalars: u64) -> Option<u64> {
    let body = variables
        .checked_mul(4)?
        .checked_add(scalar_bytes.checked_mul(scalars)?)?;
    body.checked_add((HEADER_LEN + CRC_LEN) as u64)
}

/// Counts the model and checks that it can be saved: finite, and small enough for the format.
pub(super) fn plan<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
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
            return Err(Error::non_finite(Origin::Checkpoint, id));
        }
        variables += 1;
        value_scalars += v.len();
    }
    if state.iter().any(|x| !x.is_finite()) {
        return Err(Error::non_finite_in(Origin::Checkpoint));
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

/// Where encoded bytes go: `put` receives consecutive, [`CHUNK`]-aligned pieces.
pub(super) trait Sink {
    fn put(&mut self, offset: usize, data: &[u8]) -> Result<(), Error>;
}

pub(super) struct SliceSink<'a>(pub(super) &'a mut [u8]);

impl Sink for SliceSink<'_> {
    fn put(&mut self, offset: usize, data: &[u8]) -> Result<(), Error> {
        self.0
            .get_mut(offset..offset + data.len())
            .ok_or(Error::InvalidArgument)?
            .copy_from(data);
        Ok(())
    }
}

/// Streams bytes through one chunk into a sink, computing the CRC on the way.
pub(super) struct Writer<'a, K> {
    pub(super) sink: &'a mut K,
    pub(super) buf: [u8; CHUNK],
    pub(super) fill: usize,
    pub(super) offset: usize,
    pub(super) crc: Crc32,
}

impl<'a, K: Sink> Writer<'a, K> {
    pub(super) fn new(sink: &'a mut K) -> Self {
        Self {
            sink,
            buf: [0xFF; CHUNK],
            fill: 0,
            offset: 0,
            crc: Crc32::new(),
        }
    }

    pub(super) fn push_raw(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        while !bytes.is_empty() {
            let room = CHUNK - self.fill;
            let n = room.min(bytes.len());
            let (now, later) = bytes.split_at_most(n);
            self.buf
                .get_mut(self.fill..self.fill + n)
                .ok_or(Error::InvalidArgument)?
                .copy_from(now);
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

    pub(super) fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.crc.update(bytes);
        self.push_raw(bytes)
    }

    pub(super) fn push_scalar<T: Scalar>(&mut self, v: T) -> Result<(), Error> {
        let mut b = [0u8; 8];
        let s = b.get_mut(..T::BYTES).ok_or(Error::InvalidArgument)?;
        if !v.write_le(s) {
            return Err(Error::InvalidArgument);
        }
        self.push(s)
    }

    /// Pads with `0xFF` to a multiple of `unit` and writes what is left; returns the length.
    pub(super) fn finish(self, unit: usize) -> Result<usize, Error> {
        if self.fill > 0 {
            let end = self.fill.div_up(unit) * unit;
            let data = self.buf.get(..end).ok_or(Error::InvalidArgument)?;
            self.sink.put(self.offset, data)?;
        }
        Ok(self.offset + self.fill)
    }
}

/// Writes the record of `g` and `state` (already checked by [`plan`]); returns its CRC.
pub(super) fn encode<T: Scalar, O: Op<T>, const N: usize, const S: usize, K: Sink>(
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

pub(super) fn put_bytes(dst: &mut [u8], at: usize, src: &[u8]) {
    if let Some(d) = dst.get_mut(at..at + src.len()) {
        d.copy_from(src);
    }
}

pub(super) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from(s);
    }
    u32::from_le_bytes(v)
}

// ----- streaming input -----

/// Where encoded bytes come from: `block(k)` reads the `k`-th [`CHUNK`]-aligned block (shorter
/// at the end).
pub(super) trait Source {
    /// Bytes available.
    fn limit(&self) -> usize;
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), Error>;
}

pub(super) struct SliceSource<'a>(pub(super) &'a [u8]);

impl Source for SliceSource<'_> {
    fn limit(&self) -> usize {
        self.0.len()
    }
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), Error> {
        buf.copy_from(
            self.0
                .get(offset..offset + buf.len())
                .ok_or(Error::Corrupt)?,
        );
        Ok(())
    }
}

/// Reads a source front to back through one chunk, computing the CRC on the way.
pub(super) struct Reader<'a, R> {
    pub(super) src: &'a mut R,
    pub(super) buf: [u8; CHUNK],
    pub(super) pos: usize,
    pub(super) end: usize,
    pub(super) next: usize,
    pub(super) crc: Crc32,
}

impl<'a, R: Source> Reader<'a, R> {
    pub(super) fn new(src: &'a mut R) -> Self {
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
    pub(super) fn offset(&self) -> usize {
        self.next - (self.end - self.pos)
    }

    pub(super) fn take_raw(&mut self, out: &mut [u8]) -> Result<(), Error> {
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
                .copy_from(src);
            self.pos += n;
            done += n;
        }
        Ok(())
    }

    pub(super) fn take(&mut self, out: &mut [u8]) -> Result<(), Error> {
        self.take_raw(out)?;
        self.crc.update(out);
        Ok(())
    }

    pub(super) fn u16(&mut self) -> Result<u16, Error> {
        let mut b = [0; 2];
        self.take(&mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    pub(super) fn skip(&mut self, mut n: usize) -> Result<(), Error> {
        let mut b = [0; 16];
        while n > 0 {
            let k = n.min(b.len());
            self.take(b.get_mut(..k).ok_or(Error::Corrupt)?)?;
            n -= k;
        }
        Ok(())
    }

    pub(super) fn scalar<T: Scalar>(&mut self) -> Result<T, Error> {
        let mut b = [0u8; 8];
        let s = b.get_mut(..T::BYTES).ok_or(Error::Corrupt)?;
        self.take(s)?;
        T::read_le(s).ok_or(Error::Corrupt)
    }
}

/// Whether little-endian IEEE bytes (4 or 8 of them) hold a finite number.
pub(super) fn finite_le(b: &[u8]) -> bool {
    match *b {
        [_, _, lo, hi] => !(hi & 0x7F == 0x7F && lo & 0x80 == 0x80),
        [_, _, _, _, _, _, lo, hi] => !(hi & 0x7F == 0x7F && lo & 0xF0 == 0xF0),
        _ => false,
    }
}

/// Why [`verify`] did not accept a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reject {
    /// The source failed to read.
    Storage,
    /// An intact record of another version.
    Format(u16),
    /// Not an intact record.
    Bad,
}

/// A reading error as a rejection. (A function, not a `From`: a second `From<Error>` impl
/// would make `?` on [`Error`] ambiguous in closures of every user of this crate.)
pub(super) fn reject(e: Error) -> Reject {
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
pub(super) fn verify<R: Source>(src: &mut R) -> Result<Info, Reject> {
    let mut r = Reader::new(src);
    let mut h = [0u8; HEADER_LEN];
    let (common, ours) = h.split_at_most_mut(COMMON_LEN);
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
pub(super) fn check_fit<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
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
        return Err(RestoreError::Mismatch(Error::non_finite_in(
            Origin::Checkpoint,
        )));
    }
    Ok(())
}

/// Why the copy pass stopped.
pub(super) enum CopyError {
    /// Before the first value was written: nothing changed.
    Before(RestoreError),
    /// After: the graph or the optimizer holds part of the record.
    After,
}

/// The copy pass over a record that [`verify`] accepted and [`check_fit`] matched: checks the
/// shape table and the model fingerprint, then copies the values and the state, and checks the
/// CRC against the first pass's.
pub(super) fn apply<R: Source, T: Scalar, O: Op<T>, const N: usize, const S: usize>(
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
