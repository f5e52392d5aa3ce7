//! What can be wrong with a weight file, or with loading or writing one.

use super::*;

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
    pub(super) fn file(problem: Problem) -> Self {
        WeightsError {
            problem,
            tensor: Name::NONE,
        }
    }

    pub(super) fn at(problem: Problem, tensor: &str) -> Self {
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
