//! `square`: `y = x²`, element-wise. Gradient: `∂J/∂x = 2x · G`.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[3.0, -0.5]]))?;
//! let y = g.square(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[9.0, 0.25]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise square.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Square;

impl<T: Scalar> Op<T> for Square {
    fn name(&self) -> &'static str {
        "square"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = x * x;
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
            *d += g * (x + x);
        }
    }
}

/// Builder for [`Square`].
pub trait SquareExt<T> {
    /// `x²`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn square<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> SquareExt<T>
    for Graph<T, O, N, S>
{
    fn square<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Square).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Square, &[(Shape::new(2, 2), vec![1.0f32, -2.0, 0.5, 0.0])]);
        assert_eq!(y, vec![1.0, 4.0, 0.25, 0.0]);
        let d = backward(&Square, &[(Shape::new(1, 3), vec![1.0, -2.0, 3.0])], &[1.0, 1.0, 0.5], 0);
        assert_eq!(d, vec![2.0, -4.0, 3.0]);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Square, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
