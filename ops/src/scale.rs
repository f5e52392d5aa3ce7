//! `scale`: `y = k · x`, element-wise, by a constant `k` fixed when the node is built.
//! Gradient: `∂J/∂x = k · G`.
//!
//! The factor is kept at `f64` precision — as its bits in two `u32`s, so that the op stays
//! `Copy`, comparable and 4-byte aligned (a `StdGraph` node record is 36 bytes, where a plain
//! `f64` field would make it 40) — and converted to the graph's scalar type with rounding to
//! nearest each time the kernel runs. Use it to turn a
//! summed loss into a mean (`k = 1/B`), or for a fixed weight on a loss term.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[2.0, -4.0]]))?;
//! let y = g.scale(x, 0.25)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.5, -1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{
    expect_arity, Error, Graph, MatMut, MatRef, Op, Origin, Scalar, Shape, Tensor,
};

/// Multiplication by a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// The factor's `f64` bits, low word first.
    bits: [u32; 2],
}

impl Scale {
    /// Scaling by `factor`.
    pub const fn new(factor: f64) -> Self {
        Self {
            bits: split(factor),
        }
    }

    /// The factor `k`.
    pub const fn factor(&self) -> f64 {
        join(self.bits)
    }
}

/// An `f64` as two `u32` words (low first): `f64` precision with 4-byte alignment.
pub(crate) const fn split(v: f64) -> [u32; 2] {
    let b = v.to_bits();
    [b as u32, (b >> 32) as u32]
}

/// The inverse of [`split`].
pub(crate) const fn join(w: [u32; 2]) -> f64 {
    f64::from_bits((w[0] as u64) | ((w[1] as u64) << 32))
}

impl<T: Scalar> Op<T> for Scale {
    fn name(&self) -> &'static str {
        "scale"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        s.first().copied().ok_or(Error::InvalidArgument)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        let k = T::from_f64(self.factor());
        for (y, &x) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = k * x;
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
        let k = T::from_f64(self.factor());
        for (d, &g) in dx.as_mut_slice().iter_mut().zip(g.as_slice()) {
            *d += k * g;
        }
    }
}

/// Builder for [`Scale`].
pub trait ScaleExt<T> {
    /// `factor · x`, element-wise.
    ///
    /// # Errors
    /// [`Error::NonFinite`] for a NaN or infinite factor; capacity errors and bad handles (see
    /// [`Graph::push_op`]).
    fn scale<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
        factor: f64,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> ScaleExt<T>
    for Graph<T, O, N, S>
{
    fn scale<const R: usize, const C: usize>(
        &mut self,
        x: Tensor<R, C>,
        factor: f64,
    ) -> Result<Tensor<R, C>, Error> {
        if !factor.is_finite() {
            return Err(Error::non_finite_in(Origin::Parameter));
        }
        self.op(StdOp::from(Scale::new(factor)).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(&Scale::new(-1.5), &[(Shape::new(1, 3), vec![2.0f32, 0.0, -4.0])]);
        assert_eq!(y, vec![-3.0, 0.0, 6.0]);
        let d = backward(&Scale::new(0.5), &[(Shape::new(1, 2), vec![7.0, 9.0])], &[2.0, -4.0], 0);
        assert_eq!(d, vec![1.0, -2.0]);
        // 0.1 is rounded to the nearest f32 once per kernel call.
        let y = forward(&Scale::new(0.1), &[(Shape::new(1, 1), vec![1.0f32])]);
        assert_eq!(y, vec![0.1f32]);
    }

    #[test]
    fn builder_refuses_non_finite_factors() {
        let mut g: crate::StdGraph<f64, 4, 8> = crate::StdGraph::new();
        let x = g.placeholder::<1, 2>().unwrap();
        assert_eq!(g.scale(x, f64::NAN), Err(Error::non_finite_in(Origin::Parameter)));
        assert_eq!(g.scale(x, f64::INFINITY), Err(Error::non_finite_in(Origin::Parameter)));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn gradient() {
        for (i, ((r, c), k)) in [((1, 1), 3.0), ((3, 2), -0.7), ((2, 5), 1e-3)].into_iter().enumerate() {
            grad_check(&Scale::new(k), &[rand(i as u64, Shape::new(r, c), -3.0, 3.0)]);
        }
    }
}
