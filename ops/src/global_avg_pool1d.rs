//! `global_avg_pool1d`: the mean over all time steps, per channel — `B × (T·C) → B × C` (Keras'
//! `GlobalAveragePooling1D`; PyTorch's `x.mean(dim=time)`). It turns a convolution's feature
//! sequence into one feature vector per window for a dense classifier.
//!
//! **Formula.** `y[b][c] = (1/T) Σ_t x[b][t][c]` (layout as in [`conv1d`](crate::conv1d):
//! column `t·C + c`).
//!
//! **Gradient.** `∂J/∂x[b][t][c] = G[b][c] / T`.
//!
//! The builder takes `C` from the output's type and checks `T·C` at compile time:
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 10.0, 2.0, 20.0, 6.0, 60.0]]))?; // T = 3, C = 2
//! let y: Tensor<1, 2> = g.global_avg_pool1d(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[3.0, 30.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use crate::conv1d::dim16;
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// The mean over time of each channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalAvgPool1d {
    channels: u16,
}

impl GlobalAvgPool1d {
    /// Global average pooling of `channels` channels.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `channels` is in `1..=65535`.
    pub const fn new(channels: usize) -> Result<Self, Error> {
        match dim16(channels) {
            Ok(channels) => Ok(Self { channels }),
            Err(e) => Err(e),
        }
    }
    /// Channels.
    pub const fn channels(&self) -> usize {
        self.channels as usize
    }
    /// Channels and steps for an input shape.
    fn geom(&self, x: Shape) -> Result<(usize, usize), Error> {
        let c = self.channels();
        if c == 0 || x.cols == 0 || !x.cols.is_multiple_of(c) {
            return Err(Error::InvalidShape(x));
        }
        Ok((c, x.cols / c.max(1)))
    }
}

impl<T: Scalar> Op<T> for GlobalAvgPool1d {
    fn name(&self) -> &'static str {
        "global_avg_pool1d"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        let x = s.first().copied().ok_or(Error::InvalidArgument)?;
        let (c, _) = self.geom(x)?;
        Ok(Shape::new(x.rows, c))
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        let Ok((c, t)) = self.geom(x.shape()) else {
            return;
        };
        let inv = T::ONE / T::from_usize(t);
        for (xrow, yrow) in x.row_iter().zip(y.row_iter_mut()) {
            for y in yrow.iter_mut() {
                *y = T::ZERO;
            }
            for frame in xrow.exact_rows(c.max(1)) {
                for (y, &v) in yrow.iter_mut().zip(frame) {
                    *y += v;
                }
            }
            for y in yrow.iter_mut() {
                *y *= inv;
            }
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
        let Ok((c, t)) = self.geom(x.shape()) else {
            return;
        };
        let inv = T::ONE / T::from_usize(t);
        for (grow, dxrow) in g.row_iter().zip(dx.row_iter_mut()) {
            for frame in dxrow.exact_rows_mut(c.max(1)) {
                for (d, &gv) in frame.iter_mut().zip(grow) {
                    *d += gv * inv;
                }
            }
        }
    }
}

/// Builder for [`GlobalAvgPool1d`].
pub trait GlobalAvgPool1dExt<T> {
    /// The mean over time of each of the `C` channels of `x` (`B × (T·C)`): `B × C`. `C` is
    /// the output's column count (`XC` a multiple of it, checked at compile time).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for more than 65,535 channels; capacity errors and bad
    /// handles (see [`Graph::push_op`]).
    fn global_avg_pool1d<const B: usize, const XC: usize, const C: usize>(
        &mut self,
        x: Tensor<B, XC>,
    ) -> Result<Tensor<B, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> GlobalAvgPool1dExt<T>
    for Graph<T, O, N, S>
{
    fn global_avg_pool1d<const B: usize, const XC: usize, const C: usize>(
        &mut self,
        x: Tensor<B, XC>,
    ) -> Result<Tensor<B, C>, Error> {
        const {
            assert!(
                C > 0 && XC >= C && XC.is_multiple_of(C),
                "global_avg_pool1d: x must be B × (T·C) for an output B × C"
            )
        };
        let op = GlobalAvgPool1d::new(C)?;
        self.op(StdOp::from(op).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let op = GlobalAvgPool1d::new(2).unwrap();
        let x = (Shape::new(2, 4), vec![1.0f64, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 8.0]);
        assert_eq!(forward(&op, std::slice::from_ref(&x)), vec![2.0, 3.0, 0.0, 4.0]);
        let dx = backward(&op, &[x], &[2.0, 4.0, 6.0, 8.0], 0);
        assert_eq!(dx, vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]);
        // One step: the identity.
        let x = (Shape::new(1, 3), vec![1.0f32, -2.0, 3.0]);
        assert_eq!(forward(&GlobalAvgPool1d::new(3).unwrap(), &[x]), vec![1.0, -2.0, 3.0]);
    }

    #[test]
    fn matches_the_reference() {
        let (b, t, c) = (3, 7, 4);
        let x = rand(3, Shape::new(b, t * c), -3.0, 3.0);
        let mut want = vec![0.0; b * c];
        for bi in 0..b {
            for ch in 0..c {
                want[bi * c + ch] = (0..t).map(|ti| x.1[bi * t * c + ti * c + ch]).sum::<f64>() / t as f64;
            }
        }
        assert_close(&forward(&GlobalAvgPool1d::new(c).unwrap(), &[x]), &want, 1e-15);
    }

    #[test]
    fn shapes_and_builder() {
        let op = GlobalAvgPool1d::new(3).unwrap();
        assert_eq!(Op::<f32>::out_shape(&op, &[Shape::new(5, 12)]), Ok(Shape::new(5, 3)));
        assert_eq!(
            Op::<f32>::out_shape(&op, &[Shape::new(5, 10)]),
            Err(Error::InvalidShape(Shape::new(5, 10)))
        );
        assert_eq!(GlobalAvgPool1d::new(0), Err(Error::InvalidArgument));
        let mut g: crate::StdGraph<f64, 4, 64> = crate::StdGraph::new();
        let x = g.placeholder::<2, 12>().unwrap();
        let y: Tensor<2, 4> = g.global_avg_pool1d(x).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(2, 4)));
    }

    #[test]
    fn gradient() {
        for (i, &(b, t, c)) in [(1, 1, 1), (2, 5, 3), (3, 8, 2), (1, 4, 6)].iter().enumerate() {
            grad_check(
                &GlobalAvgPool1d::new(c).unwrap(),
                &[rand(i as u64, Shape::new(b, t * c), -3.0, 3.0)],
            );
        }
    }
}
