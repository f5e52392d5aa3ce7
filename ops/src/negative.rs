//! `negative`: `y = −x`, element-wise. Gradient: `∂J/∂x = −G`.
//!
//! ```
//! use embedgrad_core::{Matrix};
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, -2.0]]))?;
//! let y = g.negative(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[-1.0, 2.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise negation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negative;

impl<T: Scalar> Op<T> for Negative {
    fn name(&self) -> &'static str {
        "negative"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = -x;
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
        for (d, &g) in dx.as_mut_slice().iter_mut().zip(g.as_slice()) {
            *d -= g;
        }
    }
}

/// Builder for [`Negative`].
pub trait NegativeExt<T> {
    /// `−x`.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn negative<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> NegativeExt<T>
    for Graph<T, O, N, S>
{
    fn negative<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Negative).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Negative, &[(Shape::new(1, 3), vec![1.0f32, 0.0, -2.5])]);
        assert_eq!(y, vec![-1.0, -0.0, 2.5]);
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Negative, &[rand(i as u64, Shape::new(s.0, s.1), -2.0, 2.0)]);
        }
    }
}
