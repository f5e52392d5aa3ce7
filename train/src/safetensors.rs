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
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, NodeId, NodeKind, Op, Scalar};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

mod error;
mod params;
mod read;
mod write;

pub use error::{Problem, WeightsError};
pub use params::*;
pub use read::*;
pub use write::*;

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
            dst.copy_from(src);
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
                    dst.copy_from(enc);
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
            Dtype::F64 => out.copy_from(&v.to_le_bytes()),
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

#[cfg(test)]
mod tests;
