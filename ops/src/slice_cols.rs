//! `slice_cols`: columns `start..start + L` of every row — `R×C → R×L`. On a hidden-state
//! sequence `B × (T·H)` (the output of [`gru`](crate::gru)) the last `H` columns are the
//! last state `h_T`, which a classifier reads: [`SliceColsExt::last_step`] takes them, with
//! its shapes checked at compile time.
//!
//! **Formula.** `y[r][j] = x[r][start + j]`. **Gradient.** `∂J/∂x[r][start + j] += G[r][j]`,
//! 0 elsewhere.
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 32> = StdGraph::new();
//! // Two sequences of 3 steps of 2 features.
//! let h = g.constant(&Matrix::new([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0, 9.0, 0.0, 1.0, 2.0]]))?;
//! let last: Tensor<2, 2> = g.last_step(h)?;
//! assert_eq!(g.eval(last)?, Matrix::new([[5.0, 6.0], [1.0, 2.0]]));
//! let mid: Tensor<2, 2> = g.slice_cols(h, 2)?;
//! assert_eq!(g.eval(mid)?, Matrix::new([[3.0, 4.0], [9.0, 0.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::conv1d::dim16;
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Columns `start..start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SliceCols {
    start: u16,
    len: u16,
}

impl SliceCols {
    /// Columns `start..start + len`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `len ≥ 1` and `start + len ≤ 65535`.
    pub const fn new(start: usize, len: usize) -> Result<Self, Error> {
        match (dim16(len), start.checked_add(len)) {
            (Ok(len), Some(end)) if end <= u16::MAX as usize => Ok(Self {
                start: start as u16,
                len,
            }),
            _ => Err(Error::InvalidArgument),
        }
    }
    /// The first column.
    pub const fn start(&self) -> usize {
        self.start as usize
    }
    /// The number of columns.
    pub const fn len(&self) -> usize {
        self.len as usize
    }
    /// Always `false`: a slice has at least one column.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn range(&self) -> core::ops::Range<usize> {
        self.start()..self.start() + self.len()
    }
}

impl<T: Scalar> Op<T> for SliceCols {
    fn name(&self) -> &'static str {
        "slice_cols"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        let x = s.first().copied().ok_or(Error::InvalidArgument)?;
        if self.is_empty() || self.start() + self.len() > x.cols {
            return Err(Error::InvalidArgument);
        }
        Ok(Shape::new(x.rows, self.len()))
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (yrow, xrow) in y.row_iter_mut().zip(x.row_iter()) {
            let Some(xs) = xrow.get(self.range()) else {
                return;
            };
            for (y, &v) in yrow.iter_mut().zip(xs) {
                *y = v;
            }
        }
    }
    fn backward(
        &self,
        _: usize,
        _: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        for (grow, dxrow) in g.row_iter().zip(dx.row_iter_mut()) {
            let Some(ds) = dxrow.get_mut(self.range()) else {
                return;
            };
            for (d, &gv) in ds.iter_mut().zip(grow) {
                *d += gv;
            }
        }
    }
}

/// Builder for [`SliceCols`].
pub trait SliceColsExt<T> {
    /// Columns `start..start + L` of `x` (`R×C`), `L` the output's column count.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `start + L > C` (checked when building); capacity
    /// errors and bad handles (see [`Graph::push_op`]).
    fn slice_cols<const R: usize, const C: usize, const L: usize>(
        &mut self,
        x: Tensor<R, C>,
        start: usize,
    ) -> Result<Tensor<R, L>, Error>;

    /// The last `L` columns of `x` (`R × (T·L)`): the last time step of a sequence of
    /// `L`-wide frames, e.g. `h_T` of a [`gru`](crate::gru::GruExt::gru). `C` must be a
    /// multiple of `L` (checked at compile time).
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn last_step<const R: usize, const C: usize, const L: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, L>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> SliceColsExt<T>
    for Graph<T, O, N, S>
{
    fn slice_cols<const R: usize, const C: usize, const L: usize>(
        &mut self,
        x: Tensor<R, C>,
        start: usize,
    ) -> Result<Tensor<R, L>, Error> {
        const { assert!(L > 0 && L <= C, "slice_cols: 0 < L ≤ C") };
        let op = SliceCols::new(start, L)?;
        self.op(StdOp::from(op).into(), &[x.id()])
    }

    fn last_step<const R: usize, const C: usize, const L: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, L>, Error> {
        const {
            assert!(
                L > 0 && C >= L && C.is_multiple_of(L),
                "last_step: x must be R × (T·L) for an output R × L"
            )
        };
        self.slice_cols(x, C - L)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let op = SliceCols::new(1, 2).unwrap();
        let x = (Shape::new(2, 4), vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(forward(&op, std::slice::from_ref(&x)), vec![2.0, 3.0, 6.0, 7.0]);
        let dx = backward(&op, &[x], &[1.0, 2.0, 3.0, 4.0], 0);
        assert_eq!(dx, vec![0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0]);
    }

    #[test]
    fn shapes_and_builder() {
        let op = SliceCols::new(3, 2).unwrap();
        assert_eq!(Op::<f32>::out_shape(&op, &[Shape::new(4, 5)]), Ok(Shape::new(4, 2)));
        assert_eq!(Op::<f32>::out_shape(&op, &[Shape::new(4, 4)]), Err(Error::InvalidArgument));
        assert_eq!(SliceCols::new(0, 0), Err(Error::InvalidArgument));
        assert_eq!(SliceCols::new(65_535, 1), Err(Error::InvalidArgument));
        assert_eq!(SliceCols::new(usize::MAX, 1), Err(Error::InvalidArgument));
        let mut g: crate::StdGraph<f64, 4, 64> = crate::StdGraph::new();
        let x = g.placeholder::<2, 6>().unwrap();
        let n = g.len();
        assert_eq!(g.slice_cols::<2, 6, 3>(x, 4), Err(Error::InvalidArgument));
        assert_eq!(g.len(), n);
        let y: Tensor<2, 3> = g.last_step(x).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(2, 3)));
    }

    #[test]
    fn gradient() {
        for (i, &(r, c, s, l)) in [(1, 1, 0, 1), (3, 6, 4, 2), (2, 5, 1, 3)].iter().enumerate() {
            grad_check(&SliceCols::new(s, l).unwrap(), &[rand(i as u64, Shape::new(r, c), -2.0, 2.0)]);
        }
    }
}
