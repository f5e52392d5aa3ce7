//! `relu`: `y = max(x, 0)`, element-wise.
//!
//! Gradient: `∂J/∂x = G` where `x > 0`, else 0. At the kink `x = 0` the derivative is taken
//! as 0 (a subgradient; the usual convention).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[-2.0, 0.0, 3.0]]))?;
//! let y = g.relu(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 0.0, 3.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise rectified linear unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relu;

impl<T: Scalar> Op<T> for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = if x > T::ZERO { x } else { T::ZERO };
        }
    }
    fn backward(
        &self,
        _: usize,
        x: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        let Some(x) = x.first() else { return };
        for ((d, &g), &x) in dx.as_mut_slice().iter_mut().zip(g.as_slice()).zip(x.as_slice()) {
            if x > T::ZERO {
                *d += g;
            }
        }
    }
}

/// Builder for [`Relu`].
pub trait ReluExt<T> {
    /// `max(x, 0)`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn relu<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> ReluExt<T>
    for Graph<T, O, N, S>
{
    fn relu<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Relu).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let x = (Shape::new(1, 4), vec![-1.5f64, 0.0, 2.0, -0.0]);
        assert_eq!(forward(&Relu, std::slice::from_ref(&x)), vec![0.0, 0.0, 2.0, 0.0]);
        // Subgradient 0 at the kink.
        assert_eq!(backward(&Relu, &[x], &[1.0, 1.0, 3.0, 1.0], 0), vec![0.0, 0.0, 3.0, 0.0]);
    }

    #[test]
    fn gradient() {
        // Random points are almost surely away from the kink at 0 (by far more than h = 1e-6).
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5), (4, 4)].into_iter().enumerate() {
            grad_check(&Relu, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
