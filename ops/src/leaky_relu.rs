//! `leaky_relu`: `y = x` where `x > 0`, else `α·x`, element-wise, with a slope `α` fixed when
//! the node is built (commonly 0.01).
//!
//! Gradient: `∂J/∂x = G` where `x > 0`, else `α·G` (so at the kink `x = 0` the slope `α` is
//! used). The slope is kept at `f64` precision and converted to the graph's scalar type when
//! the kernel runs.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[-2.0, 3.0]]))?;
//! let y = g.leaky_relu(x, 0.25)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[-0.5, 3.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{
    expect_arity, Error, Graph, MatMut, MatRef, Op, Origin, Scalar, Shape, Tensor,
};

/// Element-wise leaky rectified linear unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakyRelu {
    /// The slope's `f64` bits, low word first (4-byte aligned, like [`Scale`](crate::scale::Scale)).
    bits: [u32; 2],
}

impl LeakyRelu {
    /// A leaky relu with slope `α = slope` for `x ≤ 0`.
    pub const fn new(slope: f64) -> Self {
        Self {
            bits: crate::scale::split(slope),
        }
    }

    /// The slope `α`.
    pub const fn slope(&self) -> f64 {
        crate::scale::join(self.bits)
    }
}

impl<T: Scalar> Op<T> for LeakyRelu {
    fn name(&self) -> &'static str {
        "leaky_relu"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        let a = T::from_f64(self.slope());
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = if x > T::ZERO { x } else { a * x };
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
        let a = T::from_f64(self.slope());
        for ((d, &g), &x) in dx.as_mut_slice().iter_mut().zip(g.as_slice()).zip(x.as_slice()) {
            *d += if x > T::ZERO { g } else { a * g };
        }
    }
}

/// Builder for [`LeakyRelu`].
pub trait LeakyReluExt<T> {
    /// `x` where positive, else `slope · x`, element-wise.
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN or infinite slope; capacity errors and bad handles (see
    /// [`Graph::push_op`]).
    fn leaky_relu<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
        slope: f64,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> LeakyReluExt<T>
    for Graph<T, O, N, S>
{
    fn leaky_relu<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
        slope: f64,
    ) -> Result<Tensor<R, C>, Error> {
        if !slope.is_finite() {
            return Err(Error::non_finite_in(Origin::Parameter));
        }
        self.op(StdOp::from(LeakyRelu::new(slope)).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let op = LeakyRelu::new(0.125);
        let x = (Shape::new(1, 4), vec![-8.0f64, 0.0, 2.0, -1.0]);
        assert_eq!(forward(&op, std::slice::from_ref(&x)), vec![-1.0, 0.0, 2.0, -0.125]);
        // Slope α at the kink.
        assert_eq!(backward(&op, &[x], &[1.0, 2.0, 3.0, 4.0], 0), vec![0.125, 0.25, 3.0, 0.5]);
        // Slope 0 is relu; slope 1 is the identity.
        let x = (Shape::new(1, 2), vec![-3.0f32, 4.0]);
        assert_eq!(forward(&LeakyRelu::new(0.0), std::slice::from_ref(&x)), vec![0.0, 4.0]);
        assert_eq!(forward(&LeakyRelu::new(1.0), &[x]), vec![-3.0, 4.0]);
    }

    #[test]
    fn builder_refuses_non_finite_slopes() {
        let mut g: crate::StdGraph<f64, 4, 8> = crate::StdGraph::new();
        let x = g.placeholder::<1, 2>().unwrap();
        assert_eq!(g.leaky_relu(x, f64::NAN), Err(Error::non_finite_in(Origin::Parameter)));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn gradient() {
        for (i, ((r, c), a)) in [((1, 1), 0.01), ((3, 2), 0.2), ((2, 5), 0.01), ((4, 4), 0.5)]
            .into_iter()
            .enumerate()
        {
            grad_check(&LeakyRelu::new(a), &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
