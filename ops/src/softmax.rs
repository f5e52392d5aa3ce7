//! `softmax`: row-wise `p_ij = e^(x_ij − m_i) / Σ_k e^(x_ik − m_i)` with `m_i = max_k x_ik`.
//!
//! The max shift keeps `e^(·) ≤ 1`, so rows like `[1000, 0]` stay finite in f32 (the tutorial's
//! unshifted version overflows above 88.7). Gradient: `∂J/∂x_ij = p_ij (G_ij − Σ_k G_ik p_ik)`.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1000.0, 0.0]]))?;
//! let p = g.softmax(x)?;
//! assert_eq!(g.eval(p)?, Matrix::new([[1.0, 0.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Row-wise softmax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Softmax;

/// Row-wise softmax with the max shift, overwriting `out`.
pub fn softmax_kernel<T: Scalar>(x: MatRef<'_, T>, mut out: MatMut<'_, T>) {
    for (xrow, orow) in x.row_iter().zip(out.row_iter_mut()) {
        embedgrad_core::kernels::softmax_row(xrow, orow);
    }
}

impl<T: Scalar> Op<T> for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], y: MatMut<'_, T>) {
        if let Some(x) = x.first() {
            softmax_kernel(*x, y);
        }
    }
    fn backward(
        &self,
        _: usize,
        _: &[MatRef<'_, T>],
        p: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        for ((drow, prow), grow) in dx.row_iter_mut().zip(p.row_iter()).zip(g.row_iter()) {
            let mut dot = T::ZERO;
            for (&p, &g) in prow.iter().zip(grow) {
                dot += p * g;
            }
            for ((d, &p), &g) in drow.iter_mut().zip(prow).zip(grow) {
                *d += p * (g - dot);
            }
        }
    }
}

/// Builder for [`Softmax`].
pub trait SoftmaxExt<T> {
    /// Row-wise softmax.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn softmax<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> SoftmaxExt<T>
    for Graph<T, O, N, S>
{
    fn softmax<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Softmax).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Softmax, &[(Shape::new(2, 2), vec![0.0f64, 0.0, 1.0, 0.0])]);
        let e = core::f64::consts::E;
        assert_close(&y, &[0.5, 0.5, e / (e + 1.0), 1.0 / (e + 1.0)], 1e-15);
        let big = forward(&Softmax, &[(Shape::new(1, 2), vec![1000.0f32, 0.0])]);
        assert_eq!(big, vec![1.0, 0.0]);
        let neg = forward(&Softmax, &[(Shape::new(1, 2), vec![-1000.0f32, -1000.0])]);
        assert_eq!(neg, vec![0.5, 0.5]);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Softmax, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
