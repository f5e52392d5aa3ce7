//! `exp`: `y = eˣ`, element-wise. Gradient: `∂J/∂x = G · eˣ`, computed from the stored output.
//!
//! Large inputs overflow to `+∞` (above about 88.7 in f32, 709.8 in f64) and very negative
//! ones underflow to 0; neither panics. For probabilities prefer `softmax`, and for losses the
//! fused `softmax_cross_entropy`, which never form `eˣ` of an unshifted logit.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0, 1.0]]))?;
//! let y = g.exp(x)?;
//! let v = g.eval(y)?;
//! assert_eq!(v.get(0, 0), Some(1.0));
//! assert!((v.data[0][1] - core::f64::consts::E).abs() < 1e-15);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise exponential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exp;

impl<T: Scalar> Op<T> for Exp {
    fn name(&self) -> &'static str {
        "exp"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = x.exp();
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
        for ((d, &g), &e) in dx.as_mut_slice().iter_mut().zip(g.as_slice()).zip(y.as_slice()) {
            *d += g * e;
        }
    }
}

/// Builder for [`Exp`].
pub trait ExpExt<T> {
    /// `eˣ`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn exp<const R: usize, const C: usize>(&mut self, x: Tensor<R, C>)
        -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> ExpExt<T>
    for Graph<T, O, N, S>
{
    fn exp<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Exp).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let e = core::f64::consts::E;
        let y = forward(&Exp, &[(Shape::new(1, 4), vec![0.0f64, 1.0, -1.0, 2.0])]);
        assert_close(&y, &[1.0, e, 1.0 / e, e * e], 1e-15);
        let d = backward(&Exp, &[(Shape::new(1, 2), vec![0.0, 1.0])], &[2.0, 1.0], 0);
        assert_close(&d, &[2.0, e], 1e-15);
        // Overflow and underflow saturate; nothing panics.
        let big = forward(&Exp, &[(Shape::new(1, 2), vec![100.0f32, -200.0])]);
        assert_eq!(big, vec![f32::INFINITY, 0.0]);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Exp, &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
