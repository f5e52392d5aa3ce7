//! Weight files in the [safetensors] format, the one PyTorch, JAX and numpy users share, in
//! PyTorch's layout — read from a byte slice without copying the file, written by streaming.
//!
//! A file is an 8-byte little-endian header length `n`, `n` bytes of JSON
//! (`{"0.weight":{"dtype":"F32","shape":[32,64],"data_offsets":[0,8192]},…}`, optionally with
//! a `"__metadata__"` map of strings) and the tensors' bytes, row-major, little-endian; each
//! tensor's `data_offsets` are relative to the end of the header, and together the tensors
//! cover the data exactly.
//!
//! - [`SafeTensors::parse`] checks a whole file (header JSON, dtypes, shapes, offsets in range,
//!   byte lengths, no overlap, no gap) and lists its tensors, borrowing their bytes from the
//!   slice (a file in memory-mapped flash is read where it lies; [`TensorInfo::as_f32`] views
//!   aligned `F32` data in place). The JSON is parsed by `serde-json-core`, which allocates
//!   nothing. F64, F32, F16 and BF16 are read and converted to the graph's scalar; I8 and
//!   I32 (quantized models, [`quant`](crate::quant)) are read too.
//! - [`load`] copies a file into a graph's variables through a list of [`Param`]s (a name,
//!   a node, a [`Layout`]); it checks every tensor first (present, shape, finite values, no
//!   tensor left over) and changes nothing unless all are right.
//! - [`write()`] streams a file of any [`Dtype`] to a closure; [`write_to_slice`],
//!   [`write_to_io`] (`embedded-io`'s `Write`, which a host file becomes through
//!   `embedded-io-adapters`) and [`write_to_flash`] (`embedded-storage`'s `NorFlash`) wrap it.
//! - A [`Model`] names its variables as PyTorch's `nn.Sequential` state dict does
//!   ([`Model::params`]: `0.weight` is `OUT × IN`, `0.bias` is `OUT`), converted to the
//!   graph's `IN × OUT` on the way in and back on the way out, so a `state_dict` saved with
//!   `safetensors.torch.save_file` loads unchanged, and a file written here loads into the
//!   matching `nn.Sequential`.
//!
//! ```
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::layers::{Activation, Capacity, DenseSpec, Loss, Mlp, Model};
//! use embedgrad_train::safetensors::{self, Dtype, SafeTensors};
//! use embedgrad_train::SplitMix64;
//!
//! const NET: Mlp<2> = Mlp::new(3, [
//!     DenseSpec::new(4, Activation::Relu),
//!     DenseSpec::new(2, Activation::Identity),
//! ]);
//! const CAP: Capacity = NET.capacity(1, Loss::MeanSquaredError);
//! let mut g: StdGraph<f32, { CAP.nodes }, { CAP.scalars }> = StdGraph::new();
//! let a: Model<1, 3, 2, 2> = NET.build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(1))?;
//!
//! // Out: the state dict of `nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))`.
//! let mut file = [0u8; 512];
//! let n = safetensors::write_to_slice(&g, &a.params(""), Dtype::F32, &mut file)?;
//! let st: SafeTensors = SafeTensors::parse(&file[..n])?;
//! let names: Vec<&str> = st.tensors().iter().map(|t| t.name).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! assert_eq!(st.get("0.weight").map(|t| t.dims.as_slice().to_vec()), Some(vec![4, 3]));
//!
//! // In: another model with other weights takes them, and predicts the same.
//! let mut h: StdGraph<f32, { CAP.nodes }, { CAP.scalars }> = StdGraph::new();
//! let b: Model<1, 3, 2, 2> = NET.build(&mut h, Loss::MeanSquaredError, &mut SplitMix64::new(2))?;
//! safetensors::load(&st, &mut h, &b.params(""), Default::default())?;
//! let row = [0.5, -1.0, 2.0];
//! assert_eq!(a.predict_row(&mut g, &row)?, b.predict_row(&mut h, &row)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

use crate::layers::Model;
use core::fmt;
use embedded_storage::nor_flash::NorFlash;
use embedgrad_core::{Error, Graph, NodeId, NodeKind, Op, Scalar};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The longest tensor name an error quotes in full (longer ones are cut and end in `…`).
pub const NAME_LEN: usize = 32;

/// The most dimensions a tensor may have here.
pub const MAX_RANK: usize = 4;

/// A tensor's name as an error carries it: a copy (errors outlive the file), cut to
/// [`NAME_LEN`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_LEN],
    len: u8,
    cut: bool,
}

impl Name {
    /// No tensor (an error about the file as a whole).
    pub const NONE: Name = Name {
        bytes: [0; NAME_LEN],
        len: 0,
        cut: false,
    };

    /// A copy of `s`, cut at a character boundary to at most [`NAME_LEN`] bytes.
    pub fn new(s: &str) -> Self {
        let mut n = Name::NONE;
        let mut end = s.len().min(NAME_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let src = s.as_bytes().get(..end).unwrap_or(&[]);
        if let Some(dst) = n.bytes.get_mut(..src.len()) {
            dst.copy_from_slice(src);
        }
        n.len = end as u8;
        n.cut = end < s.len();
        n
    }

    fn of(p: &ParamName<'_>) -> Self {
        let mut w = NameWriter(Name::NONE);
        let _ = p.write_to(&mut w);
        w.0
    }

    /// The (possibly cut) name; empty for [`Name::NONE`].
    pub fn as_str(&self) -> &str {
        let b = self.bytes.get(..usize::from(self.len)).unwrap_or(&[]);
        core::str::from_utf8(b).unwrap_or("")
    }

    /// Whether the name was longer than [`NAME_LEN`] bytes.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

/// Builds a [`Name`] through `fmt::Write`, cutting what does not fit.
struct NameWriter(Name);

impl fmt::Write for NameWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut b = [0; 4];
            let enc = c.encode_utf8(&mut b).as_bytes();
            let at = usize::from(self.0.len);
            match self.0.bytes.get_mut(at..at + enc.len()) {
                Some(dst) => {
                    dst.copy_from_slice(enc);
                    self.0.len += enc.len() as u8;
                }
                None => {
                    self.0.cut = true;
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())?;
        if self.cut {
            f.write_str("…")?;
        }
        Ok(())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Name {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
        if self.cut {
            defmt::write!(f, "…");
        }
    }
}

/// A tensor's shape as the file gives it (up to [`MAX_RANK`] dimensions).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dims {
    dims: [u32; MAX_RANK],
    rank: u8,
}

impl Dims {
    /// A shape of the given dimensions (at most [`MAX_RANK`]; extra ones are dropped, and a
    /// dimension over `u32::MAX` is kept as `u32::MAX`).
    pub fn new(dims: &[usize]) -> Self {
        let mut d = Dims {
            dims: [0; MAX_RANK],
            rank: 0,
        };
        for (slot, &x) in d.dims.iter_mut().zip(dims) {
            *slot = u32::try_from(x).unwrap_or(u32::MAX);
            d.rank += 1;
        }
        d
    }

    /// The dimensions, outermost first.
    pub fn as_slice(&self) -> &[u32] {
        self.dims.get(..usize::from(self.rank)).unwrap_or(&[])
    }

    /// The number of elements (1 for a scalar), `None` on overflow.
    pub fn elements(&self) -> Option<usize> {
        self.as_slice()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d as usize))
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An element type this module reads (and writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Dtype {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// bfloat16 (the top half of a binary32).
    BF16,
    /// 8-bit two's complement integers (quantized weights, see [`quant`](crate::quant)).
    I8,
    /// 32-bit two's complement integers (quantized biases and multipliers).
    I32,
}

impl Dtype {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I8 => 1,
            Dtype::I32 => 4,
        }
    }

    /// The name in a header (`"F32"`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I8 => "I8",
            Dtype::I32 => "I32",
        }
    }

    /// The dtype of a header name; `None` for the ones this module does not read (other
    /// integers, booleans, 8-bit floats).
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "F64" => Some(Dtype::F64),
            "F32" => Some(Dtype::F32),
            "F16" => Some(Dtype::F16),
            "BF16" => Some(Dtype::BF16),
            "I8" => Some(Dtype::I8),
            "I32" => Some(Dtype::I32),
            _ => None,
        }
    }

    /// Decodes one little-endian element (`bytes` is exactly [`Dtype::size`] long).
    fn decode(self, bytes: &[u8]) -> f64 {
        match self {
            Dtype::F64 => bytes
                .first_chunk::<8>()
                .map_or(f64::NAN, |b| f64::from_le_bytes(*b)),
            Dtype::F32 => bytes
                .first_chunk::<4>()
                .map_or(f64::NAN, |b| f64::from(f32::from_le_bytes(*b))),
            Dtype::F16 => bytes
                .first_chunk::<2>()
                .map_or(f64::NAN, |b| half::f16::from_le_bytes(*b).to_f64()),
            Dtype::BF16 => bytes
                .first_chunk::<2>()
                .map_or(f64::NAN, |b| half::bf16::from_le_bytes(*b).to_f64()),
            Dtype::I8 => bytes.first().map_or(f64::NAN, |&b| f64::from(b as i8)),
            Dtype::I32 => bytes
                .first_chunk::<4>()
                .map_or(f64::NAN, |b| f64::from(i32::from_le_bytes(*b))),
        }
    }

    /// Encodes one element, rounded to nearest, into `out` (at least 8 bytes); returns the
    /// bytes written.
    fn encode(self, v: f64, out: &mut [u8; 8]) -> usize {
        match self {
            Dtype::F64 => out.copy_from_slice(&v.to_le_bytes()),
            Dtype::F32 => {
                if let Some(d) = out.first_chunk_mut::<4>() {
                    *d = (v as f32).to_le_bytes();
                }
            }
            Dtype::F16 => {
                if let Some(d) = out.first_chunk_mut::<2>() {
                    *d = half::f16::from_f64(v).to_le_bytes();
                }
            }
            Dtype::BF16 => {
                if let Some(d) = out.first_chunk_mut::<2>() {
                    *d = half::bf16::from_f64(v).to_le_bytes();
                }
            }
            // Rounded to nearest and saturated (`as` from a float saturates; NaN gives 0).
            Dtype::I8 => {
                if let Some(d) = out.first_mut() {
                    *d = (libm::round(v) as i8) as u8;
                }
            }
            Dtype::I32 => {
                if let Some(d) = out.first_chunk_mut::<4>() {
                    *d = (libm::round(v) as i32).to_le_bytes();
                }
            }
        }
        self.size()
    }
}

/// What is wrong with a weight file, or with loading or writing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Problem {
    /// The file is shorter than the 8-byte header length.
    TooShort {
        /// The file's length.
        found: usize,
    },
    /// The header length runs past the end of the file (a truncated file).
    HeaderPastEnd {
        /// The header length the file gives.
        header: u64,
        /// The bytes after the length field.
        available: usize,
    },
    /// The header is not the JSON of a safetensors header (a JSON object of tensor entries,
    /// each with `dtype`, `shape` and `data_offsets`).
    NotJson,
    /// More tensors than this reader holds (`SafeTensors<'_, MAX>`).
    TooManyTensors {
        /// `MAX`.
        capacity: usize,
    },
    /// Two entries of the header have the same name.
    DuplicateName,
    /// A dtype this module does not read (it reads F64, F32, F16, BF16, I8 and I32).
    UnsupportedDtype,
    /// More than [`MAX_RANK`] dimensions, or more elements than memory can address.
    UnsupportedShape {
        /// The tensor's number of dimensions.
        rank: usize,
    },
    /// `data_offsets` are not `start ≤ end ≤` the data's length.
    OffsetsOutOfRange {
        /// The first offset.
        start: u64,
        /// The second offset.
        end: u64,
        /// Bytes of data after the header.
        data: usize,
    },
    /// `end − start` is not the shape's elements times the dtype's size.
    ByteLength {
        /// Bytes the dtype and shape take.
        expected: u64,
        /// Bytes the offsets span.
        found: u64,
    },
    /// The tensor's bytes overlap another tensor's.
    Overlap {
        /// The other tensor.
        other: Name,
    },
    /// The tensors do not cover the data exactly (a gap, or bytes after the last one).
    Uncovered {
        /// Bytes the tensors cover.
        covered: u64,
        /// Bytes of data after the header.
        data: usize,
    },
    /// A tensor the model needs is not in the file.
    Missing,
    /// A tensor of the file the model has no place for (see [`LoadOptions::allow_extra`]).
    Unexpected,
    /// The tensor's shape is not the one the model needs (in the file's layout).
    WrongShape {
        /// The shape the model needs.
        expected: Dims,
        /// The file's shape.
        found: Dims,
    },
    /// A NaN or infinite value (after conversion to the graph's scalar), at the given
    /// element (row-major, in the file's layout).
    NonFinite {
        /// The element's index.
        index: usize,
    },
    /// A name the writer cannot put in a header: empty, `__metadata__`, or holding a quote, a
    /// backslash or a control character; or two parameters with the same name.
    BadName,
    /// The output is too small ([`write_to_slice`]) or the sink failed.
    Write {
        /// Bytes the file needs (0 when not known).
        needed: usize,
    },
    /// A graph error: a bad handle, or a parameter that is not a variable.
    Graph(Error),
}

/// An error of this module: what is wrong, and with which tensor ([`Name::NONE`] for the
/// file as a whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WeightsError {
    /// What is wrong.
    pub problem: Problem,
    /// The tensor concerned.
    pub tensor: Name,
}

impl WeightsError {
    fn file(problem: Problem) -> Self {
        WeightsError {
            problem,
            tensor: Name::NONE,
        }
    }

    fn at(problem: Problem, tensor: &str) -> Self {
        WeightsError {
            problem,
            tensor: Name::new(tensor),
        }
    }
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tensor.as_str().is_empty() {
            f.write_str("weight file: ")?;
        } else {
            write!(f, "weight file, tensor \"{}\": ", self.tensor)?;
        }
        match self.problem {
            Problem::TooShort { found } => {
                write!(f, "{found} bytes, shorter than the 8-byte header length")
            }
            Problem::HeaderPastEnd { header, available } => write!(
                f,
                "header of {header} bytes but only {available} bytes follow (truncated?)"
            ),
            Problem::NotJson => f.write_str(
                "header is not a JSON object of tensors with dtype, shape and data_offsets",
            ),
            Problem::TooManyTensors { capacity } => {
                write!(f, "more than {capacity} tensors (the reader's capacity)")
            }
            Problem::DuplicateName => f.write_str("named twice in the header"),
            Problem::UnsupportedDtype => {
                f.write_str("unsupported dtype (F64, F32, F16, BF16, I8 and I32 are read)")
            }
            Problem::UnsupportedShape { rank } => write!(
                f,
                "unsupported shape of rank {rank} (at most {MAX_RANK}, addressable)"
            ),
            Problem::OffsetsOutOfRange { start, end, data } => write!(
                f,
                "data_offsets [{start}, {end}] outside the {data} bytes of data"
            ),
            Problem::ByteLength { expected, found } => write!(
                f,
                "data_offsets span {found} bytes, dtype and shape need {expected}"
            ),
            Problem::Overlap { other } => write!(f, "bytes overlap those of \"{other}\""),
            Problem::Uncovered { covered, data } => write!(
                f,
                "tensors cover {covered} of the {data} bytes of data (a gap or trailing bytes)"
            ),
            Problem::Missing => f.write_str("missing from the file"),
            Problem::Unexpected => f.write_str("in the file but not in the model"),
            Problem::WrongShape { expected, found } => {
                write!(f, "shape {found}, the model needs {expected}")
            }
            Problem::NonFinite { index } => write!(f, "element {index} is NaN or infinite"),
            Problem::BadName => f.write_str(
                "not a name a header can hold (empty, __metadata__, a quote, a backslash or a control character), or given twice",
            ),
            Problem::Write { needed } => write!(f, "write failed ({needed} bytes needed)"),
            Problem::Graph(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for WeightsError {}

impl WeightsError {
    /// The nearest [`Error`]: a graph error as it was, a failed write as [`Error::Storage`],
    /// everything about the file as [`Error::Corrupt`] (the tensor's name is lost: keep the
    /// [`WeightsError`] where you can). Not a `From` impl, which would make `?` on closures
    /// that return `Ok(())` ambiguous in callers' code.
    pub fn into_error(self) -> Error {
        match self.problem {
            Problem::Graph(e) => e,
            Problem::Write { .. } => Error::Storage,
            _ => Error::Corrupt,
        }
    }
}

// ----- reading -----

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
struct RawEntry<'a> {
    dtype: &'a str,
    dims: RawDims,
    offsets: [u64; 2],
}

/// A shape: the first [`MAX_RANK`] dimensions and the rank.
#[derive(Clone, Copy)]
struct RawDims {
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
struct Header<'s, 'a, const MAX: usize> {
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
fn entry<'a>(
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
    /// Parses and checks a whole file (see the [module docs](self)); nothing is copied.
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

// ----- parameters -----

/// How a variable's values lie in its tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layout {
    /// The tensor is the variable's `R × C`, row-major.
    Matrix,
    /// The tensor is the variable's `R × C` transposed, `C × R`: PyTorch's `nn.Linear`
    /// weight (`OUT × IN`) for the graph's `IN × OUT`.
    Transposed,
    /// The tensor is one-dimensional, `R · C` long: PyTorch's bias (`OUT`) for the graph's
    /// `1 × OUT`.
    Vector,
}

/// A parameter's name in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamName<'n> {
    /// The whole name.
    Plain(&'n str),
    /// `{prefix}{index}.{field}`, as a PyTorch module in a container names its tensors
    /// (`0.weight`, `classifier.2.bias`).
    Module {
        /// Everything before the index (`""`, or `"classifier."`).
        prefix: &'n str,
        /// The module's index.
        index: usize,
        /// The tensor's field (`"weight"`, `"bias"`).
        field: &'static str,
    },
}

impl ParamName<'_> {
    /// Whether the file's name `s` is this one.
    pub fn matches(&self, s: &str) -> bool {
        match *self {
            ParamName::Plain(p) => p == s,
            ParamName::Module {
                prefix,
                index,
                field,
            } => {
                let Some(rest) = s.strip_prefix(prefix) else {
                    return false;
                };
                let Some((i, f)) = rest.split_once('.') else {
                    return false;
                };
                f == field && digits_are(i, index)
            }
        }
    }

    fn write_to(&self, w: &mut impl fmt::Write) -> fmt::Result {
        match *self {
            ParamName::Plain(p) => w.write_str(p),
            ParamName::Module {
                prefix,
                index,
                field,
            } => write!(w, "{prefix}{index}.{field}"),
        }
    }

    /// Whether a header can hold it as it is written (no escapes needed).
    fn writable(&self) -> bool {
        match *self {
            ParamName::Plain(p) => !p.is_empty() && p != "__metadata__" && plain(p),
            ParamName::Module { prefix, field, .. } => plain(prefix) && plain(field),
        }
    }
}

/// Whether `s` is the decimal form of `n`, without leading zeros.
fn digits_are(s: &str, n: usize) -> bool {
    let mut v: usize = 0;
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
        return false;
    }
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return false;
        }
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(usize::from(c - b'0')))
        {
            Some(v) => v,
            None => return false,
        };
    }
    v == n
}

impl fmt::Display for ParamName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// A variable and where it is in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'n> {
    /// Its name in the file.
    pub name: ParamName<'n>,
    /// The variable.
    pub node: NodeId,
    /// How its values lie in the tensor.
    pub layout: Layout,
}

impl<const B: usize, const IN: usize, const OUT: usize, const L: usize> Model<B, IN, OUT, L> {
    /// The variables named as in the state dict of the matching PyTorch `nn.Sequential`
    /// (each layer's `Linear` at [`Layer::torch_index`](crate::layers::Layer), its weight
    /// transposed, its bias a vector), each name after `prefix` (`""` for a bare
    /// `nn.Sequential`, `"net."` for one held as `self.net`). Flatten with
    /// `.as_flattened()` for [`load`] and [`write()`].
    pub fn params<'n>(&self, prefix: &'n str) -> ParamList<'n, L> {
        ParamList(self.layers.map(|l| {
            [
                Param {
                    name: ParamName::Module {
                        prefix,
                        index: l.torch_index,
                        field: "weight",
                    },
                    node: l.weight,
                    layout: Layout::Transposed,
                },
                Param {
                    name: ParamName::Module {
                        prefix,
                        index: l.torch_index,
                        field: "bias",
                    },
                    node: l.bias,
                    layout: Layout::Vector,
                },
            ]
        }))
    }
}

/// The parameters of a [`Model`]: two per layer (weight, bias); derefs to `[Param]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamList<'n, const L: usize>(pub [[Param<'n>; 2]; L]);

impl<'n, const L: usize> core::ops::Deref for ParamList<'n, L> {
    type Target = [Param<'n>];
    fn deref(&self) -> &[Param<'n>] {
        self.0.as_flattened()
    }
}

/// The file's shape for a variable of shape `r × c` in a layout.
fn file_dims(layout: Layout, r: usize, c: usize) -> Dims {
    match layout {
        Layout::Matrix => Dims::new(&[r, c]),
        Layout::Transposed => Dims::new(&[c, r]),
        Layout::Vector => Dims::new(&[r * c]),
    }
}

/// The file's element for the variable's element `(i, j)` of `r × c`.
fn file_index(layout: Layout, r: usize, c: usize, i: usize, j: usize) -> usize {
    match layout {
        Layout::Matrix | Layout::Vector => i * c + j,
        Layout::Transposed => j * r + i,
    }
}

/// How [`load`] treats a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoadOptions {
    /// Accept tensors the parameters do not name (default `false`: such a file is refused
    /// with [`Problem::Unexpected`], which catches a file of another model). Set it to load
    /// part of a state dict, say a backbone without its head.
    pub allow_extra: bool,
}

/// Copies a file's tensors into the parameters' variables, converting each element to `T`
/// (rounded to nearest) and each layout to the graph's.
///
/// Everything is checked before anything is written: every parameter's tensor is present,
/// has the shape its layout needs and holds finite values (as `T`: an F64 value too large for
/// an f32 is refused), and (unless [`LoadOptions::allow_extra`]) every tensor is some
/// parameter's. On an error the graph is unchanged.
///
/// # Errors
/// [`Problem::Missing`], [`Problem::WrongShape`], [`Problem::NonFinite`],
/// [`Problem::Unexpected`] with the tensor's name; [`Problem::Graph`] for a bad handle or a
/// parameter that is not a variable ([`Error::WrongNodeKind`]).
pub fn load<T: Scalar, O: Op<T>, const N: usize, const S: usize, const MAX: usize>(
    file: &SafeTensors<'_, MAX>,
    g: &mut Graph<T, O, N, S>,
    params: &[Param<'_>],
    options: LoadOptions,
) -> Result<(), WeightsError> {
    // Pass 1: check.
    for p in params {
        let name = Name::of(&p.name);
        let graph = |e| WeightsError {
            problem: Problem::Graph(e),
            tensor: name,
        };
        if !matches!(g.kind(p.node).map_err(graph)?, NodeKind::Variable) {
            return Err(graph(Error::WrongNodeKind(p.node)));
        }
        let shape = g.shape(p.node).map_err(graph)?;
        let t = file
            .tensors()
            .iter()
            .find(|t| p.name.matches(t.name))
            .ok_or(WeightsError {
                problem: Problem::Missing,
                tensor: name,
            })?;
        let expected = file_dims(p.layout, shape.rows, shape.cols);
        if t.dims != expected || t.dtype.size() == 0 {
            return Err(WeightsError::at(
                Problem::WrongShape {
                    expected,
                    found: t.dims,
                },
                t.name,
            ));
        }
        for (index, b) in t.data.chunks_exact(t.dtype.size()).enumerate() {
            if !T::from_f64(t.dtype.decode(b)).is_finite() {
                return Err(WeightsError::at(Problem::NonFinite { index }, t.name));
            }
        }
    }
    if !options.allow_extra {
        if let Some(t) = file
            .tensors()
            .iter()
            .find(|t| !params.iter().any(|p| p.name.matches(t.name)))
        {
            return Err(WeightsError::at(Problem::Unexpected, t.name));
        }
    }
    // Pass 2: copy (every lookup below succeeded in pass 1).
    g.for_each_variable(|v| {
        let Some(p) = params.iter().find(|p| p.node == v.id) else {
            return Ok(());
        };
        let Some(t) = file.tensors().iter().find(|t| p.name.matches(t.name)) else {
            return Ok(());
        };
        let (r, c) = match p.layout {
            Layout::Transposed => match t.dims.as_slice() {
                &[c, r] => (r as usize, c as usize),
                _ => return Ok(()),
            },
            _ => {
                let len = v.value.len();
                let c = t.dims.as_slice().last().map_or(len, |&c| c as usize);
                (len / c.max(1), c)
            }
        };
        for (k, x) in v.value.iter_mut().enumerate() {
            let (i, j) = (k / c.max(1), k % c.max(1));
            if let Some(f) = t.get(file_index(p.layout, r, c, i, j)) {
                *x = T::from_f64(f);
            }
        }
        Ok(())
    })
}

// ----- writing -----

/// Whether a header can hold `s` as it is written: no quote, backslash or control character
/// (so nothing needs escaping).
fn plain(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

/// Counts what a `fmt::Write` receives and passes it on to a byte sink.
struct HeaderOut<'s, F> {
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
fn write_entry(
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
fn json_len(json: &dyn Fn(&mut dyn fmt::Write) -> fmt::Result) -> Option<usize> {
    let mut count = HeaderOut::<fn(&[u8]) -> bool> {
        sink: None,
        len: 0,
        failed: false,
    };
    json(&mut count).ok().map(|()| count.len)
}

/// Streams a file's start to `sink`: the 8-byte header length, the header JSON that `json`
/// writes (`json_len` bytes), and spaces up to a multiple of 8. `false` when the sink stops.
fn emit_header(
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
fn header<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
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
fn check_params<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
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
                d.copy_from_slice(s);
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
            d.copy_from_slice(b);
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
            let (now, later) = b.split_at(n);
            if let Some(d) = buf.get_mut(fill..fill + n) {
                d.copy_from_slice(now);
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

#[cfg(test)]
mod tests;
