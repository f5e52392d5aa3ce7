//! Feature tables: `rows × dim` features, row-major, as floats or as scaled integers decoded
//! on the fly.

use super::*;

/// How the entries of a [`Table`] are stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Storage<'a> {
    /// `f32` values as they are.
    F32(&'a [f32]),
    /// `f64` values as they are (rounded to the graph's scalar when decoded).
    F64(&'a [f64]),
    /// Bytes: `value = raw · scale + offset`.
    U8 {
        /// The raw bytes.
        data: &'a [u8],
        /// Multiplier of the raw value.
        scale: f32,
        /// Added after scaling.
        offset: f32,
    },
    /// Signed bytes: `value = raw · scale + offset`.
    I8 {
        /// The raw bytes.
        data: &'a [i8],
        /// Multiplier of the raw value.
        scale: f32,
        /// Added after scaling.
        offset: f32,
    },
}

impl Storage<'_> {
    /// Number of stored entries.
    pub const fn len(&self) -> usize {
        match self {
            Storage::F32(d) => d.len(),
            Storage::F64(d) => d.len(),
            Storage::U8 { data, .. } => data.len(),
            Storage::I8 { data, .. } => data.len(),
        }
    }

    /// `true` when nothing is stored.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A read-only table of `rows × dim` features, stored row-major, decoded on the fly. Its
/// constructors are `const`, so a table over a `static` array lives in flash.
///
/// ```
/// use embedgrad_train::data::Table;
/// // 8×8 grey levels 0..=16 scaled to [0, 1].
/// static PIXELS: [u8; 128] = [16; 128];
/// const IMAGES: Table<'static> = Table::u8(&PIXELS, 64, 1.0 / 16.0, 0.0);
/// let mut row = [0.0f32; 64];
/// IMAGES.row_into(1, &mut row)?;
/// assert_eq!((IMAGES.rows(), row[0]), (2, 1.0));
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Table<'a> {
    storage: Storage<'a>,
    dim: usize,
}

impl<'a> Table<'a> {
    /// `f32` rows of `dim` features.
    pub const fn f32(data: &'a [f32], dim: usize) -> Self {
        Self {
            storage: Storage::F32(data),
            dim,
        }
    }

    /// `f64` rows of `dim` features.
    pub const fn f64(data: &'a [f64], dim: usize) -> Self {
        Self {
            storage: Storage::F64(data),
            dim,
        }
    }

    /// Byte rows of `dim` features, decoded as `raw · scale + offset`.
    pub const fn u8(data: &'a [u8], dim: usize, scale: f32, offset: f32) -> Self {
        Self {
            storage: Storage::U8 {
                data,
                scale,
                offset,
            },
            dim,
        }
    }

    /// Signed byte rows of `dim` features, decoded as `raw · scale + offset`.
    pub const fn i8(data: &'a [i8], dim: usize, scale: f32, offset: f32) -> Self {
        Self {
            storage: Storage::I8 {
                data,
                scale,
                offset,
            },
            dim,
        }
    }

    /// The storage.
    pub const fn storage(&self) -> Storage<'a> {
        self.storage
    }

    /// Features per row.
    pub const fn dim(&self) -> usize {
        self.dim
    }

    /// Whole rows stored (a trailing partial row is not counted; 0 when `dim` is 0).
    pub const fn rows(&self) -> usize {
        match self.storage.len().checked_div(self.dim) {
            Some(r) => r,
            None => 0,
        }
    }

    /// Checks that the table is well-formed: `dim > 0`, a whole number of rows, a finite
    /// scale and offset, and every stored `f32` or `f64` value finite.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `dim = 0`, [`Error::LengthMismatch`] for a partial row,
    /// [`Error::InvalidParameter`] (`"scale"` or `"offset"`, with the value) for a NaN or
    /// infinite scale or offset, [`Error::NonFiniteFeature`] (row, column, value) for the
    /// first NaN or infinite stored value.
    pub fn validate(&self) -> Result<(), Error> {
        if self.dim == 0 {
            return Err(Error::InvalidArgument);
        }
        let len = self.storage.len();
        if !len.is_multiple_of(self.dim) {
            return Err(Error::LengthMismatch {
                expected: self.rows() * self.dim,
                found: len,
            });
        }
        let finite = |name, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::InvalidParameter {
                    name,
                    value: f64::from(v),
                    expected: "finite",
                })
            }
        };
        let dim = self.dim;
        let non_finite = |(i, v): (usize, f64)| Error::NonFiniteFeature {
            row: i.checked_div(dim).unwrap_or(0),
            col: i.checked_rem(dim).unwrap_or(0),
            value: v,
        };
        match self.storage {
            Storage::U8 { scale, offset, .. } | Storage::I8 { scale, offset, .. } => {
                finite("scale", scale)?;
                finite("offset", offset)
            }
            Storage::F32(data) => data
                .iter()
                .map(|&v| f64::from(v))
                .enumerate()
                .find(|(_, v)| !v.is_finite())
                .map_or(Ok(()), |b| Err(non_finite(b))),
            Storage::F64(data) => data
                .iter()
                .copied()
                .enumerate()
                .find(|(_, v)| !v.is_finite())
                .map_or(Ok(()), |b| Err(non_finite(b))),
        }
    }
    /// Decodes row `i` into `out` (length `dim`).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `out` is not `dim` long, [`Error::InvalidArgument`]
    /// when `i` is not a row.
    pub fn row_into<T: Scalar>(&self, i: usize, out: &mut [T]) -> Result<(), Error> {
        let d = self.dim;
        if out.len() != d {
            return Err(Error::LengthMismatch {
                expected: d,
                found: out.len(),
            });
        }
        if i >= self.rows() {
            return Err(Error::InvalidArgument);
        }
        let range = i * d..(i + 1) * d;
        let bad = Error::InvalidArgument;
        match self.storage {
            Storage::F32(data) => {
                for (o, &v) in out.iter_mut().zip(data.get(range).ok_or(bad)?) {
                    *o = T::from_f64(f64::from(v));
                }
            }
            Storage::F64(data) => {
                for (o, &v) in out.iter_mut().zip(data.get(range).ok_or(bad)?) {
                    *o = T::from_f64(v);
                }
            }
            Storage::U8 {
                data,
                scale,
                offset,
            } => {
                let (k, c) = (
                    T::from_f64(f64::from(scale)),
                    T::from_f64(f64::from(offset)),
                );
                for (o, &v) in out.iter_mut().zip(data.get(range).ok_or(bad)?) {
                    *o = T::from_usize(usize::from(v)) * k + c;
                }
            }
            Storage::I8 {
                data,
                scale,
                offset,
            } => {
                let (k, c) = (
                    T::from_f64(f64::from(scale)),
                    T::from_f64(f64::from(offset)),
                );
                for (o, &v) in out.iter_mut().zip(data.get(range).ok_or(bad)?) {
                    let m = T::from_usize(usize::from(v.unsigned_abs()));
                    let raw = if v < 0 { -m } else { m };
                    *o = raw * k + c;
                }
            }
        }
        Ok(())
    }
}
