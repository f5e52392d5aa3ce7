//! `tanh`: `y = tanh(x)`, element-wise. Gradient: `∂J/∂x = G · (1 − y²)`, computed from the
//! stored output.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0, 100.0]]))?;
//! let y = g.tanh(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise hyperbolic tangent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tanh;

impl<T: Scalar> Op<T> for Tanh {
    fn name(&self) -> &'static str {
        "tanh"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = x.tanh();
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
        for ((d, &g), &t) in dx.as_mut_slice().iter_mut().zip(g.as_slice()).zip(y.as_slice()) {
            *d += g * (T::ONE - t * t);
        }
    }
}

/// Builder for [`Tanh`].
pub trait TanhExt<T> {
    /// `tanh(x)`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn tanh<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> TanhExt<T>
    for Graph<T, O, N, S>
{
    fn tanh<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Tanh).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        // tanh(ln 2) = (2 − 1/2) / (2 + 1/2) = 0.6; its derivative is 1 − 0.36 = 0.64.
        let ln2 = core::f64::consts::LN_2;
        let y = forward(&Tanh, &[(Shape::new(1, 3), vec![0.0f64, ln2, -ln2])]);
        assert_close(&y, &[0.0, 0.6, -0.6], 1e-15);
        let d = backward(&Tanh, &[(Shape::new(1, 2), vec![0.0, ln2])], &[1.0, 1.0], 0);
        assert_close(&d, &[1.0, 0.64], 1e-15);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Tanh, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
