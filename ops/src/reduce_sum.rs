//! `reduce_sum`: the sum of all entries (`R×C → 1×1`), over the rows (numpy `axis=0`,
//! `R×C → 1×C`) or over the columns (numpy `axis=1`, `R×C → R×1`).
//!
//! Gradient: `G` broadcast back to the input's shape.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 2.0], [3.0, 4.0]]))?;
//! let all = g.reduce_sum(x)?;
//! let cols = g.reduce_sum_axis0(x)?;
//! let rows = g.reduce_sum_axis1(x)?;
//! assert_eq!(g.eval(all)?, Matrix::new([[10.0]]));
//! assert_eq!(g.eval(cols)?, Matrix::new([[4.0, 6.0]]));
//! assert_eq!(g.eval(rows)?, Matrix::new([[3.0], [7.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Which entries are summed together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Everything: `R×C → 1×1`.
    All,
    /// Down each column, collapsing the rows (numpy `axis=0`): `R×C → 1×C`.
    Rows,
    /// Along each row, collapsing the columns (numpy `axis=1`): `R×C → R×1`.
    Cols,
}

/// Sum over an [`Axis`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReduceSum {
    /// What is summed.
    pub axis: Axis,
}

impl ReduceSum {
    /// The output shape for an input shape.
    pub const fn shape_for(&self, s: Shape) -> Shape {
        match self.axis {
            Axis::All => Shape::new(1, 1),
            Axis::Rows => Shape::new(1, s.cols),
            Axis::Cols => Shape::new(s.rows, 1),
        }
    }
}

impl<T: Scalar> Op<T> for ReduceSum {
    fn name(&self) -> &'static str {
        "reduce_sum"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first()
            .map(|s| self.shape_for(*s))
            .ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        y.as_mut_slice().fill(T::ZERO);
        match self.axis {
            Axis::All => {
                let mut acc = T::ZERO;
                for &v in x.as_slice() {
                    acc += v;
                }
                if let Some(o) = y.as_mut_slice().first_mut() {
                    *o = acc;
                }
            }
            Axis::Rows => {
                for row in x.row_iter() {
                    for (o, &v) in y.as_mut_slice().iter_mut().zip(row) {
                        *o += v;
                    }
                }
            }
            Axis::Cols => {
                for (o, row) in y.as_mut_slice().iter_mut().zip(x.row_iter()) {
                    let mut acc = T::ZERO;
                    for &v in row {
                        acc += v;
                    }
                    *o = acc;
                }
            }
        }
    }
    fn backward(
        &self,
        _: usize,
        _: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        dx: MatMut<'_, T>,
    ) {
        add_broadcast(self.axis, g.as_slice(), dx, |g| g);
    }
}

/// The backward of a reduction over `axis` (`reduce_sum`, and `mean` with `f` its scaling):
/// adds `f(G)` broadcast back to the input's shape to `dx`.
pub(crate) fn add_broadcast<T: Scalar>(
    axis: Axis,
    gs: &[T],
    mut dx: MatMut<'_, T>,
    f: impl Fn(T) -> T,
) {
    match axis {
        Axis::All => {
            let g0 = f(gs.first().copied().unwrap_or(T::ZERO));
            for d in dx.as_mut_slice() {
                *d += g0;
            }
        }
        Axis::Rows => {
            for row in dx.row_iter_mut() {
                for (d, &g) in row.iter_mut().zip(gs) {
                    *d += f(g);
                }
            }
        }
        Axis::Cols => {
            for (row, &g) in dx.row_iter_mut().zip(gs) {
                let g = f(g);
                for d in row {
                    *d += g;
                }
            }
        }
    }
}

/// Builders for [`ReduceSum`].
pub trait ReduceSumExt<T> {
    /// The sum of all entries.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn reduce_sum<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error>;
    /// Column sums (numpy `axis=0`).
    ///
    /// # Errors
    /// As [`ReduceSumExt::reduce_sum`].
    fn reduce_sum_axis0<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, C>, Error>;
    /// Row sums (numpy `axis=1`).
    ///
    /// # Errors
    /// As [`ReduceSumExt::reduce_sum`].
    fn reduce_sum_axis1<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, 1>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> ReduceSumExt<T>
    for Graph<T, O, N, S>
{
    fn reduce_sum<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error> {
        self.op(StdOp::from(ReduceSum { axis: Axis::All }).into(), &[x.id()])
    }
    fn reduce_sum_axis0<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, C>, Error> {
        self.op(StdOp::from(ReduceSum { axis: Axis::Rows }).into(), &[x.id()])
    }
    fn reduce_sum_axis1<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, 1>, Error> {
        self.op(StdOp::from(ReduceSum { axis: Axis::Cols }).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let x = (Shape::new(2, 3), vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(forward(&ReduceSum { axis: Axis::All }, std::slice::from_ref(&x)), vec![21.0]);
        assert_eq!(forward(&ReduceSum { axis: Axis::Rows }, std::slice::from_ref(&x)), vec![5.0, 7.0, 9.0]);
        assert_eq!(forward(&ReduceSum { axis: Axis::Cols }, &[x]), vec![6.0, 15.0]);
    }

    #[test]
    fn gradient() {
        for axis in [Axis::All, Axis::Rows, Axis::Cols] {
            for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
                grad_check(&ReduceSum { axis }, &[rand(i as u64, Shape::new(r, c), -2.0, 2.0)]);
            }
        }
    }
}
