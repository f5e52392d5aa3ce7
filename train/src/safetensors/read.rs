//! Reading: a weight file parsed in place (zero-copy) — the JSON header by serde-json-core,
//! the tensors as views of the bytes.

use super::*;

/// One tensor of a parsed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub dims: Dims,
    /// Its bytes, borrowed from the file.
    pub data: &'a [u8],
    /// Its `data_offsets` relative to the end of the header.
    pub offsets: (usize, usize),
}

impl<'a> TensorInfo<'a> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether it has no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Element `i` (row-major), converted to `f64` exactly; `None` past the end.
    pub fn get(&self, i: usize) -> Option<f64> {
        let s = self.dtype.size();
        let b = self
            .data
            .get(i.checked_mul(s)?..i.checked_mul(s)?.checked_add(s)?)?;
        Some(self.dtype.decode(b))
    }

    /// The elements as `f32`s in place, without a copy: `Some` for `F32` data that is
    /// 4-byte aligned in memory, on a little-endian target (every Cortex-M and RISC-V one).
    pub fn as_f32(&self) -> Option<&'a [f32]> {
        if self.dtype != Dtype::F32 || cfg!(target_endian = "big") {
            return None;
        }
        bytemuck::try_cast_slice(self.data).ok()
    }

    /// The elements as `i8`s in place: `Some` for `I8` data (any alignment, either byte
    /// order).
    pub fn as_i8(&self) -> Option<&'a [i8]> {
        if self.dtype != Dtype::I8 {
            return None;
        }
        bytemuck::try_cast_slice(self.data).ok()
    }

    /// The elements as `i32`s in place: `Some` for `I32` data that is 4-byte aligned in
    /// memory, on a little-endian target.
    pub fn as_i32(&self) -> Option<&'a [i32]> {
        if self.dtype != Dtype::I32 || cfg!(target_endian = "big") {
            return None;
        }
        bytemuck::try_cast_slice(self.data).ok()
    }
}

/// A checked safetensors file: its tensors, in header order, borrowing the file's bytes.
/// Holds at most `MAX` tensors (16 by default; about 64 bytes each on a 32-bit target).
#[derive(Clone, Debug)]
pub struct SafeTensors<'a, const MAX: usize = 16> {
    tensors: heapless::Vec<TensorInfo<'a>, MAX>,
    header_len: usize,
}

/// One header entry as serde sees it.
pub(super) struct RawEntry<'a> {
    dtype: &'a str,
    dims: RawDims,
    offsets: [u64; 2],
}

/// A shape: the first [`MAX_RANK`] dimensions and the rank.
#[derive(Clone, Copy)]
pub(super) struct RawDims {
    dims: [u64; MAX_RANK],
    rank: usize,
}

impl<'de> Deserialize<'de> for RawDims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of dimensions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawDims, A::Error> {
                let mut r = RawDims {
                    dims: [0; MAX_RANK],
                    rank: 0,
                };
                while let Some(x) = seq.next_element::<u64>()? {
                    if let Some(slot) = r.dims.get_mut(r.rank) {
                        *slot = x;
                    }
                    r.rank = r.rank.saturating_add(1);
                }
                Ok(r)
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for RawEntry<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tensor entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntry<'de>, A::Error> {
                let (mut dtype, mut dims, mut offsets) = (None, None, None);
                while let Some(key) = map.next_key::<&'de str>()? {
                    match key {
                        "dtype" => dtype = Some(map.next_value::<&'de str>()?),
                        "shape" => dims = Some(map.next_value::<RawDims>()?),
                        "data_offsets" => offsets = Some(map.next_value::<[u64; 2]>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                match (dtype, dims, offsets) {
                    (Some(dtype), Some(dims), Some(offsets)) => Ok(RawEntry {
                        dtype,
                        dims,
                        offsets,
                    }),
                    _ => Err(de::Error::custom("missing field")),
                }
            }
        }
        d.deserialize_map(V)
    }
}

/// The header's top-level map: each entry checked and pushed as it is parsed.
pub(super) struct Header<'s, 'a, const MAX: usize> {
    out: &'s mut heapless::Vec<TensorInfo<'a>, MAX>,
    problem: &'s mut Option<WeightsError>,
    data: &'a [u8],
}

impl<'de, const MAX: usize> Visitor<'de> for Header<'_, 'de, MAX> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a safetensors header")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<&'de str>()? {
            if name == "__metadata__" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let raw = map.next_value::<RawEntry<'de>>()?;
            match entry(name, &raw, self.data) {
                Ok(t) => {
                    if self.out.push(t).is_err() {
                        *self.problem = Some(WeightsError::at(
                            Problem::TooManyTensors { capacity: MAX },
                            name,
                        ));
                        return Err(de::Error::custom("too many tensors"));
                    }
                }
                Err(e) => {
                    *self.problem = Some(e);
                    return Err(de::Error::custom("bad entry"));
                }
            }
        }
        Ok(())
    }
}

/// Checks one entry on its own: dtype, shape, offsets, byte length.
pub(super) fn entry<'a>(
    name: &'a str,
    raw: &RawEntry<'a>,
    data: &'a [u8],
) -> Result<TensorInfo<'a>, WeightsError> {
    let err = |p| WeightsError::at(p, name);
    let dtype = Dtype::from_name(raw.dtype).ok_or(err(Problem::UnsupportedDtype))?;
    let unsupported = err(Problem::UnsupportedShape {
        rank: raw.dims.rank,
    });
    if raw.dims.rank > MAX_RANK {
        return Err(unsupported);
    }
    let mut dims = [0usize; MAX_RANK];
    for (d, &r) in dims.iter_mut().zip(&raw.dims.dims) {
        *d = u32::try_from(r).map_err(|_| unsupported)? as usize;
    }
    let dims = Dims::new(dims.get(..raw.dims.rank).unwrap_or(&[]));
    let bytes = dims
        .elements()
        .and_then(|n| n.checked_mul(dtype.size()))
        .ok_or(unsupported)?;
    let [start, end] = raw.offsets;
    let out_of_range = err(Problem::OffsetsOutOfRange {
        start,
        end,
        data: data.len(),
    });
    if start > end || end > data.len() as u64 {
        return Err(out_of_range);
    }
    if end - start != bytes as u64 {
        return Err(err(Problem::ByteLength {
            expected: bytes as u64,
            found: end - start,
        }));
    }
    let (s, e) = (start as usize, end as usize);
    Ok(TensorInfo {
        name,
        dtype,
        dims,
        data: data.get(s..e).ok_or(out_of_range)?,
        offsets: (s, e),
    })
}

impl<'a, const MAX: usize> SafeTensors<'a, MAX> {
    /// Parses and checks a whole file (see the [module docs](super)); nothing is copied.
    ///
    /// # Errors
    /// A [`WeightsError`] naming the tensor (where there is one) and the problem:
    /// [`Problem::TooShort`], [`Problem::HeaderPastEnd`] (a truncated file),
    /// [`Problem::NotJson`], [`Problem::TooManyTensors`], [`Problem::DuplicateName`],
    /// [`Problem::UnsupportedDtype`], [`Problem::UnsupportedShape`],
    /// [`Problem::OffsetsOutOfRange`], [`Problem::ByteLength`], [`Problem::Overlap`],
    /// [`Problem::Uncovered`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WeightsError> {
        let (len, rest) = bytes
            .split_first_chunk::<8>()
            .ok_or(WeightsError::file(Problem::TooShort { found: bytes.len() }))?;
        let n = u64::from_le_bytes(*len);
        let past_end = WeightsError::file(Problem::HeaderPastEnd {
            header: n,
            available: rest.len(),
        });
        if n > rest.len() as u64 {
            return Err(past_end);
        }
        let (header, data) = rest.split_at_checked(n as usize).ok_or(past_end)?;
        let not_json = WeightsError::file(Problem::NotJson);
        if header.first() != Some(&b'{') || core::str::from_utf8(header).is_err() {
            return Err(not_json);
        }
        let mut tensors = heapless::Vec::new();
        let mut problem = None;
        let mut de = serde_json_core::de::Deserializer::new(header, None);
        let parsed = (&mut de).deserialize_map(Header {
            out: &mut tensors,
            problem: &mut problem,
            data,
        });
        if let Some(p) = problem {
            return Err(p);
        }
        parsed.map_err(|_| not_json)?;
        de.end().map_err(|_| not_json)?;
        // Across entries: unique names, no shared bytes, the data covered exactly.
        let mut covered = 0u64;
        for (i, t) in tensors.iter().enumerate() {
            for u in tensors.get(..i).unwrap_or(&[]) {
                if u.name == t.name {
                    return Err(WeightsError::at(Problem::DuplicateName, t.name));
                }
                let (a, b) = (t.offsets, u.offsets);
                if a.0 < a.1 && b.0 < b.1 && a.0 < b.1 && b.0 < a.1 {
                    return Err(WeightsError::at(
                        Problem::Overlap {
                            other: Name::new(u.name),
                        },
                        t.name,
                    ));
                }
            }
            covered += t.data.len() as u64;
        }
        if covered != data.len() as u64 {
            return Err(WeightsError::file(Problem::Uncovered {
                covered,
                data: data.len(),
            }));
        }
        Ok(SafeTensors {
            tensors,
            header_len: header.len(),
        })
    }

    /// The tensors, in header order.
    pub fn tensors(&self) -> &[TensorInfo<'a>] {
        &self.tensors
    }

    /// The tensor of that name.
    pub fn get(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The header's length in bytes (the data starts 8 bytes after it).
    pub fn header_len(&self) -> usize {
        self.header_len
    }
}
