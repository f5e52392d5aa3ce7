//! `log`: natural logarithm, element-wise. Gradient: `∂J/∂x = G / x`.
//!
//! `log(0)` is `−∞` and the loss becomes NaN; for training use the fused, stable
//! `softmax_cross_entropy` instead of `log(softmax(·))` when probabilities can reach 0.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, core::f64::consts::E]]))?;
//! let y = g.log(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise natural logarithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Log;

impl<T: Scalar> Op<T> for Log {
    fn name(&self) -> &'static str {
        "log"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = x.ln();
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
            *d += g / x;
        }
    }
}

/// Builder for [`Log`].
pub trait LogExt<T> {
    /// `ln x`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn log<const R: usize, const C: usize>(&mut self, x: Tensor<R, C>)
        -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> LogExt<T>
    for Graph<T, O, N, S>
{
    fn log<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Log).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Log, &[(Shape::new(1, 3), vec![1.0f64, 10.0, 0.5])]);
        assert_close(&y, &[0.0, core::f64::consts::LN_10, -core::f64::consts::LN_2], 1e-15);
        let z = forward(&Log, &[(Shape::new(1, 1), vec![0.0f32])]);
        // libm gives −∞; micromath's approximation bottoms out at about −88 (documented in
        // embedgrad-core's `micromath` feature).
        #[cfg(feature = "libm")]
        assert_eq!(z, vec![f32::NEG_INFINITY]);
        #[cfg(not(feature = "libm"))]
        assert!(z[0] < -80.0, "{z:?}");
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            grad_check(&Log, &[rand(i as u64, Shape::new(s.0, s.1), 0.2, 3.0)]);
        }
    }
}
