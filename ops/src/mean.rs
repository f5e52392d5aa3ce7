//! `mean`: the mean of all entries (`R×C → 1×1`), down each column (numpy `axis=0`,
//! `R×C → 1×C`) or along each row (numpy `axis=1`, `R×C → R×1`).
//!
//! `y = (1/n) Σ x`, where `n` is the number of entries averaged (`R·C`, `R` or `C`).
//! Gradient: `G / n` broadcast back to the input's shape.
//!
//! A mean of a per-row loss makes the loss (and its gradients) independent of the batch size;
//! note that, unlike a sum, the means of micro-batches do not add up to the full batch's mean.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 2.0], [3.0, 6.0]]))?;
//! let all = g.mean(x)?;
//! let cols = g.mean_axis0(x)?;
//! let rows = g.mean_axis1(x)?;
//! assert_eq!(g.eval(all)?, Matrix::new([[3.0]]));
//! assert_eq!(g.eval(cols)?, Matrix::new([[2.0, 4.0]]));
//! assert_eq!(g.eval(rows)?, Matrix::new([[1.5], [4.5]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::reduce_sum::{add_broadcast, Axis, ReduceSum};
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Mean over an [`Axis`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mean {
    /// What is averaged.
    pub axis: Axis,
}

impl Mean {
    /// The number of input entries that make up one output entry (at least 1).
    fn count(&self, s: Shape) -> usize {
        match self.axis {
            Axis::All => s.rows.saturating_mul(s.cols),
            Axis::Rows => s.rows,
            Axis::Cols => s.cols,
        }
        .max(1)
    }

    fn sum(&self) -> ReduceSum {
        ReduceSum { axis: self.axis }
    }
}

impl<T: Scalar> Op<T> for Mean {
    fn name(&self) -> &'static str {
        "mean"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first()
            .map(|s| self.sum().shape_for(*s))
            .ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x0) = x.first() else { return };
        let inv = T::ONE / T::from_usize(self.count(x0.shape()));
        let shape = y.shape();
        if let Some(sums) = MatMut::new(y.as_mut_slice(), shape) {
            Op::<T>::forward(&self.sum(), x, sums);
        }
        for o in y.as_mut_slice() {
            *o *= inv;
        }
    }
    fn backward(
        &self,
        _: usize,
        x: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        dx: MatMut<'_, T>,
    ) {
        let Some(x0) = x.first() else { return };
        let inv = T::ONE / T::from_usize(self.count(x0.shape()));
        add_broadcast(self.axis, g.as_slice(), dx, |g| g * inv);
    }
}

/// Builders for [`Mean`].
pub trait MeanExt<T> {
    /// The mean of all entries.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn mean<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error>;
    /// Column means (numpy `axis=0`).
    ///
    /// # Errors
    /// As [`MeanExt::mean`].
    fn mean_axis0<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, C>, Error>;
    /// Row means (numpy `axis=1`).
    ///
    /// # Errors
    /// As [`MeanExt::mean`].
    fn mean_axis1<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, 1>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> MeanExt<T>
    for Graph<T, O, N, S>
{
    fn mean<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error> {
        self.op(StdOp::from(Mean { axis: Axis::All }).into(), &[x.id()])
    }
    fn mean_axis0<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, C>, Error> {
        self.op(StdOp::from(Mean { axis: Axis::Rows }).into(), &[x.id()])
    }
    fn mean_axis1<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, 1>, Error> {
        self.op(StdOp::from(Mean { axis: Axis::Cols }).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let x = (Shape::new(2, 3), vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 9.0]);
        let m = |axis| Mean { axis };
        assert_eq!(forward(&m(Axis::All), std::slice::from_ref(&x)), vec![4.0]);
        assert_eq!(forward(&m(Axis::Rows), std::slice::from_ref(&x)), vec![2.5, 3.5, 6.0]);
        assert_eq!(forward(&m(Axis::Cols), std::slice::from_ref(&x)), vec![2.0, 6.0]);
        assert_eq!(backward(&m(Axis::All), std::slice::from_ref(&x), &[6.0], 0), vec![1.0; 6]);
        assert_eq!(
            backward(&m(Axis::Rows), std::slice::from_ref(&x), &[2.0, 4.0, 6.0], 0),
            vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
        );
        assert_eq!(
            backward(&m(Axis::Cols), &[x], &[3.0, 6.0], 0),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        );
    }

    #[test]
    fn gradient() {
        for axis in [Axis::All, Axis::Rows, Axis::Cols] {
            for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
                grad_check(&Mean { axis }, &[rand(i as u64, Shape::new(r, c), -2.0, 2.0)]);
            }
        }
    }
}
