//! Const-generic matrices for the API and runtime-shaped slice views for the kernels.
//!
//! [`Matrix<T, R, C>`] gives the API its compile-time shapes; it is plain row-major data
//! (`[[T; C]; R]`), `Copy`, and has `const` constructors so that weights and data sets can be
//! `static` and live in flash. Kernels never see const generics: they take [`MatRef`]/[`MatMut`],
//! runtime-shaped views of slices, so each op exists once in machine code whatever the shapes.

use crate::nopanic::SliceExt as _;
use crate::{Error, Scalar, Shape};

/// A dense `R × C` matrix stored row-major as `[[T; C]; R]`.
///
/// ```
/// use embedgrad_core::Matrix;
/// static A: Matrix<f32, 2, 2> = Matrix::new([[1.0, 0.0], [0.0, -1.0]]);
/// assert_eq!(A.get(1, 1), Some(-1.0));
/// assert_eq!(A.as_slice(), &[1.0, 0.0, 0.0, -1.0]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(transparent)]
pub struct Matrix<T, const R: usize, const C: usize> {
    /// The rows.
    pub data: [[T; C]; R],
}

impl<T: Copy, const R: usize, const C: usize> Matrix<T, R, C> {
    /// Number of rows.
    pub const ROWS: usize = R;
    /// Number of columns.
    pub const COLS: usize = C;

    /// Wraps row-major data.
    pub const fn new(data: [[T; C]; R]) -> Self {
        Self { data }
    }

    /// A matrix with every entry equal to `v`.
    pub const fn splat(v: T) -> Self {
        Self { data: [[v; C]; R] }
    }

    /// The shape `R × C`.
    pub const fn shape() -> Shape {
        Shape::new(R, C)
    }

    /// The entries, row-major.
    pub fn as_slice(&self) -> &[T] {
        self.data.as_flattened()
    }

    /// The entries, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data.as_flattened_mut()
    }

    /// Entry `(r, c)`, or `None` out of range.
    pub fn get(&self, r: usize, c: usize) -> Option<T> {
        self.data.get(r).and_then(|row| row.get(c)).copied()
    }

    /// Sets entry `(r, c)`; returns `false` out of range.
    pub fn set(&mut self, r: usize, c: usize, v: T) -> bool {
        match self.data.get_mut(r).and_then(|row| row.get_mut(c)) {
            Some(x) => {
                *x = v;
                true
            }
            None => false,
        }
    }

    /// A matrix whose entry `(r, c)` is `f(r, c)`.
    pub fn from_fn(mut f: impl FnMut(usize, usize) -> T) -> Self {
        Self {
            data: core::array::from_fn(|r| core::array::from_fn(|c| f(r, c))),
        }
    }

    /// A read-only runtime-shaped view.
    pub fn view(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.as_slice(),
            rows: R,
            cols: C,
        }
    }
}

impl<T: Scalar, const R: usize, const C: usize> Matrix<T, R, C> {
    /// The zero matrix.
    pub const fn zeros() -> Self {
        Self {
            data: [[T::ZERO; C]; R],
        }
    }

    /// Copies row-major `data` of length `R * C` into a matrix.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the length is not `R * C`.
    pub fn from_slice(data: &[T]) -> Result<Self, Error> {
        let mut m = Self::zeros();
        if data.len() != R * C {
            return Err(Error::LengthMismatch {
                expected: R * C,
                found: data.len(),
            });
        }
        m.as_mut_slice().copy_from(data);
        Ok(m)
    }

    /// Converts every entry to another scalar type (for example `f64` data to `f32`, rounding to
    /// nearest).
    pub fn cast<U: Scalar>(&self) -> Matrix<U, R, C> {
        let mut m = Matrix::<U, R, C>::zeros();
        for (o, i) in m.as_mut_slice().iter_mut().zip(self.as_slice()) {
            *o = U::from_f64(i.to_f64());
        }
        m
    }
}

impl<T: Scalar, const R: usize, const C: usize> Default for Matrix<T, R, C> {
    fn default() -> Self {
        Self::zeros()
    }
}

/// A read-only row-major view of `rows × cols` scalars.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
}

/// A mutable row-major view of `rows × cols` scalars.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A view of `data` as `shape`; `None` unless `data.len() == rows * cols` and neither is 0.
    pub fn new(data: &'a [T], shape: Shape) -> Option<Self> {
        (shape.len() == Some(data.len()) && !data.is_empty()).then_some(Self {
            data,
            rows: shape.rows,
            cols: shape.cols,
        })
    }
    /// An empty 0×0 view (a filler for unused input slots).
    pub const fn empty() -> Self {
        Self {
            data: &[],
            rows: 0,
            cols: 0,
        }
    }
    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The shape.
    pub fn shape(&self) -> Shape {
        Shape::new(self.rows, self.cols)
    }
    /// The entries, row-major.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }
    /// Iterates over the rows as slices.
    pub fn row_iter(&self) -> crate::nopanic::Rows<'a, T> {
        // `max(1)` proves to the optimizer that the chunk size is non-zero (no panic path).
        self.data.exact_rows(self.cols.max(1))
    }
}

impl<'a, T> MatMut<'a, T> {
    /// A mutable view of `data` as `shape`; `None` unless the length matches and is not 0.
    pub fn new(data: &'a mut [T], shape: Shape) -> Option<Self> {
        if shape.len() == Some(data.len()) && !data.is_empty() {
            Some(Self {
                data,
                rows: shape.rows,
                cols: shape.cols,
            })
        } else {
            None
        }
    }
    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// The shape.
    pub fn shape(&self) -> Shape {
        Shape::new(self.rows, self.cols)
    }
    /// The entries, row-major.
    pub fn as_slice(&self) -> &[T] {
        self.data
    }
    /// The entries, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.data
    }
    /// Iterates over the rows as mutable slices.
    pub fn row_iter_mut(&mut self) -> crate::nopanic::RowsMut<'_, T> {
        self.data.exact_rows_mut(self.cols.max(1))
    }
    /// A read-only view of the same data.
    pub fn as_ref(&self) -> MatRef<'_, T> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construct_and_access() {
        const M: Matrix<f64, 2, 3> = Matrix::new([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(M.get(1, 2), Some(6.0));
        assert_eq!(M.get(2, 0), None);
        let mut m = M;
        assert!(m.set(0, 0, 9.0));
        assert!(!m.set(0, 3, 9.0));
        assert_eq!(m.as_slice()[0], 9.0);
        assert_eq!(Matrix::<f32, 2, 2>::zeros().as_slice(), &[0.0; 4]);
        assert_eq!(
            Matrix::<f32, 1, 3>::from_slice(&[1.0, 2.0]),
            Err(Error::LengthMismatch {
                expected: 3,
                found: 2
            })
        );
        let f = Matrix::<f64, 2, 2>::from_fn(|r, c| (r * 10 + c) as f64);
        assert_eq!(f.as_slice(), &[0.0, 1.0, 10.0, 11.0]);
        assert_eq!(f.cast::<f32>().as_slice(), &[0.0f32, 1.0, 10.0, 11.0]);
    }

    #[test]
    fn views() {
        let m = Matrix::<f32, 2, 3>::from_fn(|r, c| (r * 3 + c) as f32);
        let v = m.view();
        assert_eq!(v.shape(), Shape::new(2, 3));
        let rows: Vec<&[f32]> = v.row_iter().collect();
        assert_eq!(rows, vec![&[0.0, 1.0, 2.0][..], &[3.0, 4.0, 5.0][..]]);
        assert!(MatRef::new(&[1.0f32; 5], Shape::new(2, 3)).is_none());
        let mut d = [0.0f32; 6];
        let mut mm = MatMut::new(&mut d, Shape::new(3, 2)).unwrap();
        for r in mm.row_iter_mut() {
            r[1] = 1.0;
        }
        assert_eq!(mm.as_ref().as_slice(), &[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    }
}
