//! `sigmoid`: `σ(x) = 1 / (1 + e^(−x))`, element-wise.
//!
//! Gradient: `∂J/∂x = G · σ(x) · (1 − σ(x))`, computed from the stored output. (The tutorial's
//! prose writes `σ(a)·σ(1−a)`, which is wrong: at `a = 0` it gives 0.3655 instead of 0.25.)
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0, 5.0]]))?;
//! let y = g.sigmoid(x)?;
//! assert_eq!(g.eval(y)?.get(0, 0), Some(0.5));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise logistic sigmoid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sigmoid;

impl<T: Scalar> Op<T> for Sigmoid {
    fn name(&self) -> &'static str {
        "sigmoid"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            // e^(−x) overflows to +∞ for very negative x, giving exactly 0: no NaN.
            *y = T::ONE / (T::ONE + (-x).exp());
        }
    }
    fn backward(
        &self,
        _: usize,
        _: &[MatRef<'_, T>],
        y: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        for ((d, &g), &s) in dx.as_mut_slice().iter_mut().zip(g.as_slice()).zip(y.as_slice()) {
            *d += g * s * (T::ONE - s);
        }
    }
}

/// Builder for [`Sigmoid`].
pub trait SigmoidExt<T> {
    /// `σ(x)`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn sigmoid<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> SigmoidExt<T>
    for Graph<T, O, N, S>
{
    fn sigmoid<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Sigmoid).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Sigmoid, &[(Shape::new(1, 4), vec![0.0f64, 2.0, -1000.0, 1000.0])]);
        assert_close(&y, &[0.5, 0.880_797_077_977_882_3, 0.0, 1.0], 1e-15);
    }

    #[test]
    fn gradient_at_zero_is_a_quarter_not_the_tutorials_value() {
        let d = backward(&Sigmoid, &[(Shape::new(1, 1), vec![0.0])], &[1.0], 0);
        assert_eq!(d, vec![0.25]);
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Sigmoid, &[rand(i as u64, Shape::new(s.0, s.1), -4.0, 4.0)]);
        }
    }
}
