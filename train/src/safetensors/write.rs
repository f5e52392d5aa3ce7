//! Writing: a header without escapes, then the tensors streamed, to a slice, an
//! `embedded-io` writer or a NOR flash.

use super::*;

/// Whether a header can hold `s` as it is written: no quote, backslash or control character
/// (so nothing needs escaping).
pub(super) fn plain(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

/// Counts what a `fmt::Write` receives and passes it on to a byte sink.
pub(super) struct HeaderOut<'s, F> {
    sink: Option<&'s mut F>,
    len: usize,
    failed: bool,
}

impl<F: FnMut(&[u8]) -> bool> fmt::Write for HeaderOut<'_, F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.len += s.len();
        if let Some(sink) = self.sink.as_mut() {
            if !sink(s.as_bytes()) {
                self.failed = true;
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}

/// One tensor's entry of a header: `,"name":{"dtype":…,"shape":[…],"data_offsets":[a,b]}`.
pub(super) fn write_entry(
    w: &mut dyn fmt::Write,
    name: &dyn fmt::Display,
    dtype: Dtype,
    dims: &Dims,
    start: usize,
    end: usize,
) -> fmt::Result {
    write!(
        w,
        ",\"{name}\":{{\"dtype\":\"{}\",\"shape\":[",
        dtype.name()
    )?;
    for (i, d) in dims.as_slice().iter().enumerate() {
        if i > 0 {
            w.write_str(",")?;
        }
        write!(w, "{d}")?;
    }
    write!(w, "],\"data_offsets\":[{start},{end}]}}")
}

/// The length of the header JSON that `json` writes, `None` if it fails.
pub(super) fn json_len(json: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result) -> Option<usize> {
    let mut count = HeaderOut::<fn(&[u8]) -> bool> {
        sink: None,
        len: 0,
        failed: false,
    };
    json(&mut count).ok().map(|()| count.len)
}

/// Streams a file's start to `sink`: the 8-byte header length, the header JSON that `json`
/// writes (`json_len` bytes), and spaces up to a multiple of 8. `false` when the sink stops.
pub(super) fn emit_header(
    sink: &mut impl FnMut(&[u8]) -> bool,
    json_len: usize,
    json: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result,
) -> bool {
    let padded = json_len.div_ceil(8) * 8;
    if !sink(&(padded as u64).to_le_bytes()) {
        return false;
    }
    let mut out = HeaderOut {
        sink: Some(&mut *sink),
        len: 0,
        failed: false,
    };
    if json(&mut out).is_err() || out.failed {
        return false;
    }
    padded == json_len || sink([b' '; 8].get(..padded - json_len).unwrap_or(&[]))
}

/// Writes the header's JSON (without the length and padding).
pub(super) fn header<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    w: &mut dyn fmt::Write,
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
) -> fmt::Result {
    w.write_str("{\"__metadata__\":{\"format\":\"pt\"}")?;
    let mut offset = 0usize;
    for p in params {
        let shape = g.shape(p.node).map_err(|_| fmt::Error)?;
        let dims = file_dims(p.layout, shape.rows, shape.cols);
        let bytes = shape.rows * shape.cols * dtype.size();
        write_entry(w, &p.name, dtype, &dims, offset, offset + bytes)?;
        offset += bytes;
    }
    w.write_str("}")
}

/// The length of the file [`write()`] writes.
///
/// # Errors
/// As [`write()`], except for the sink.
pub fn encoded_len<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
) -> Result<usize, WeightsError> {
    let (header, data) = check_params(g, params, dtype)?;
    Ok(8 + header.div_ceil(8) * 8 + data)
}

/// Checks the parameters for writing; returns the header's unpadded length and the data's.
pub(super) fn check_params<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
) -> Result<(usize, usize), WeightsError> {
    let mut data = 0usize;
    for (i, p) in params.iter().enumerate() {
        let name = Name::of(&p.name);
        let graph = |e| WeightsError {
            problem: Problem::Graph(e),
            tensor: name,
        };
        if !matches!(g.kind(p.node).map_err(graph)?, NodeKind::Variable) {
            return Err(graph(Error::WrongNodeKind(p.node)));
        }
        // The same name twice (compared in full where a name is too long to copy).
        let twice = params
            .get(..i)
            .unwrap_or(&[])
            .iter()
            .any(|q| q.name == p.name || (!name.is_cut() && Name::of(&q.name) == name));
        if !p.name.writable() || twice {
            return Err(WeightsError {
                problem: Problem::BadName,
                tensor: name,
            });
        }
        data += g
            .shape(p.node)
            .map_err(graph)?
            .checked_len()
            .map_err(graph)?
            * dtype.size();
    }
    let len = json_len(&|w| header(w, g, params, dtype))
        .ok_or(WeightsError::file(Problem::Write { needed: 0 }))?;
    Ok((len, data))
}

/// Writes the parameters' variables as a safetensors file of `dtype` elements, in the order
/// given, streaming it to `sink` in pieces of at most 64 bytes (`sink` returns `false` to
/// stop). The header is padded with spaces to a multiple of 8 bytes, so the data is 8-byte
/// aligned in the file (as PyTorch's writer does), and carries `{"format":"pt"}` as its
/// metadata. Returns the file's length.
///
/// # Errors
/// [`Problem::BadName`] for a name a header cannot hold or a name given twice;
/// [`Problem::Graph`] for a bad handle or a parameter that is not a variable (nothing is
/// written then); [`Problem::Write`] when the sink stops.
pub fn write<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Result<usize, WeightsError> {
    let (header_len, data_len) = check_params(g, params, dtype)?;
    let padded = header_len.div_ceil(8) * 8;
    let total = 8 + padded + data_len;
    let failed = WeightsError::file(Problem::Write { needed: total });
    if !emit_header(&mut sink, header_len, &|w| header(w, g, params, dtype)) {
        return Err(failed);
    }
    let mut buf = [0u8; 64];
    let mut fill = 0;
    for p in params {
        let shape = g.shape(p.node).map_err(|e| WeightsError {
            problem: Problem::Graph(e),
            tensor: Name::of(&p.name),
        })?;
        let v = g.value_slice(p.node).map_err(|e| WeightsError {
            problem: Problem::Graph(e),
            tensor: Name::of(&p.name),
        })?;
        let (r, c) = (shape.rows, shape.cols);
        for k in 0..r * c {
            // The file's element k, in the file's layout.
            let x = match p.layout {
                Layout::Transposed => v.get((k % r.max(1)) * c + k / r.max(1)),
                _ => v.get(k),
            };
            let mut e = [0u8; 8];
            let n = dtype.encode(x.map_or(0.0, |x| x.to_f64()), &mut e);
            if fill + n > buf.len() {
                if !sink(buf.get(..fill).unwrap_or(&[])) {
                    return Err(failed);
                }
                fill = 0;
            }
            if let (Some(d), Some(s)) = (buf.get_mut(fill..fill + n), e.get(..n)) {
                d.copy_from(s);
            }
            fill += n;
        }
    }
    if fill > 0 && !sink(buf.get(..fill).unwrap_or(&[])) {
        return Err(failed);
    }
    Ok(total)
}

/// A tensor that is not a graph variable, for [`write_raw`]: its name, dtype, shape and
/// little-endian bytes (`bytes.len()` = elements × dtype size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawTensor<'n> {
    /// Its name.
    pub name: &'n str,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub dims: Dims,
    /// Its bytes, little-endian.
    pub bytes: &'n [u8],
}

/// Writes arbitrary tensors (a quantized model's integers, say) as a safetensors file, in the
/// order given, streaming to `sink`; the header is padded to a multiple of 8 bytes and carries
/// `metadata` (`(key, value)` pairs of plain strings) besides `{"format":"pt"}`. Put the
/// tensors whose elements are wider first to keep every tensor aligned to its element size.
/// Returns the file's length.
///
/// # Errors
/// [`Problem::BadName`] for a name or metadata string a header cannot hold or a name given
/// twice; [`Problem::ByteLength`] when a tensor's bytes do not match its dtype and shape;
/// [`Problem::Write`] when the sink stops.
pub fn write_raw(
    tensors: &[RawTensor<'_>],
    metadata: &[(&str, &str)],
    mut sink: impl FnMut(&[u8]) -> bool,
) -> Result<usize, WeightsError> {
    for (k, v) in metadata {
        if !plain(k) || !plain(v) || *k == "format" {
            return Err(WeightsError::at(Problem::BadName, k));
        }
    }
    let mut data = 0usize;
    for (i, t) in tensors.iter().enumerate() {
        let twice = tensors
            .get(..i)
            .unwrap_or(&[])
            .iter()
            .any(|u| u.name == t.name);
        if t.name.is_empty() || t.name == "__metadata__" || !plain(t.name) || twice {
            return Err(WeightsError::at(Problem::BadName, t.name));
        }
        let want = t
            .dims
            .elements()
            .and_then(|n| n.checked_mul(t.dtype.size()));
        if want != Some(t.bytes.len()) {
            return Err(WeightsError::at(
                Problem::ByteLength {
                    expected: want.unwrap_or(0) as u64,
                    found: t.bytes.len() as u64,
                },
                t.name,
            ));
        }
        data += t.bytes.len();
    }
    let header = |w: &mut dyn fmt::Write| -> fmt::Result {
        w.write_str("{\"__metadata__\":{\"format\":\"pt\"")?;
        for (k, v) in metadata {
            write!(w, ",\"{k}\":\"{v}\"")?;
        }
        w.write_str("}")?;
        let mut offset = 0;
        for t in tensors {
            let end = offset + t.bytes.len();
            write_entry(w, &t.name, t.dtype, &t.dims, offset, end)?;
            offset = end;
        }
        w.write_str("}")
    };
    let len = json_len(&header).ok_or(WeightsError::file(Problem::Write { needed: 0 }))?;
    let total = 8 + len.div_ceil(8) * 8 + data;
    let failed = WeightsError::file(Problem::Write { needed: total });
    if !emit_header(&mut sink, len, &header) {
        return Err(failed);
    }
    for t in tensors {
        if !t.bytes.is_empty() && !sink(t.bytes) {
            return Err(failed);
        }
    }
    Ok(total)
}

/// [`write()`] into a buffer; returns the file's length.
///
/// # Errors
/// As [`write()`]; [`Problem::Write`] with the length needed when `out` is too small (then
/// `out` holds a partial file).
pub fn write_to_slice<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
    out: &mut [u8],
) -> Result<usize, WeightsError> {
    let mut at = 0;
    write(g, params, dtype, |b| match out.get_mut(at..at + b.len()) {
        Some(d) => {
            d.copy_from(b);
            at += b.len();
            true
        }
        None => false,
    })
}

/// [`write()`] to an `embedded-io` writer (a UART, a socket, or on the host a file through
/// `embedded-io-adapters`' `FromStd`).
///
/// # Errors
/// As [`write()`]; [`Problem::Write`] when the writer fails.
pub fn write_to_io<T: Scalar, O: Op<T>, const N: usize, const S: usize, W: embedded_io::Write>(
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
    w: &mut W,
) -> Result<usize, WeightsError> {
    write(g, params, dtype, |b| w.write_all(b).is_ok())
}

/// [`write()`] to NOR flash at `offset` (a multiple of the erase size): erases the sectors the
/// file needs, then programs it in words (the last word padded with `0xFF`). Returns the
/// file's length; read it back with [`SafeTensors::parse`] on the flash's bytes.
///
/// # Errors
/// [`Problem::Write`] when `offset` is not erase-aligned, the file does not fit below
/// `capacity()`, the write size is not a power of two up to 64, or the flash fails; as
/// [`write()`] otherwise.
pub fn write_to_flash<T: Scalar, O: Op<T>, const N: usize, const S: usize, F: NorFlash>(
    g: &Graph<T, O, N, S>,
    params: &[Param<'_>],
    dtype: Dtype,
    flash: &mut F,
    offset: u32,
) -> Result<usize, WeightsError> {
    let len = encoded_len(g, params, dtype)?;
    let fail = WeightsError::file(Problem::Write { needed: len });
    let word = F::WRITE_SIZE;
    let erase = F::ERASE_SIZE as u64;
    let end = (offset as u64 + len as u64).div_ceil(erase.max(1)) * erase;
    if erase == 0
        || !(offset as u64).is_multiple_of(erase)
        || end > flash.capacity() as u64
        || !word.is_power_of_two()
        || word > 64
    {
        return Err(fail);
    }
    flash.erase(offset, end as u32).map_err(|_| fail)?;
    let mut buf = [0xFFu8; 64];
    let mut fill = 0usize;
    let mut at = offset;
    let mut ok = true;
    write(g, params, dtype, |mut b| {
        while !b.is_empty() {
            let n = (64 - fill).min(b.len());
            let (now, later) = b.split_at_most(n);
            if let Some(d) = buf.get_mut(fill..fill + n) {
                d.copy_from(now);
            }
            fill += n;
            b = later;
            if fill == 64 {
                ok &= flash.write(at, &buf).is_ok();
                at += 64;
                fill = 0;
                buf = [0xFF; 64];
            }
        }
        ok
    })?;
    if fill > 0 {
        let n = fill.div_ceil(word) * word;
        ok &= flash.write(at, buf.get(..n).unwrap_or(&[])).is_ok();
    }
    if ok {
        Ok(len)
    } else {
        Err(fail)
    }
}
