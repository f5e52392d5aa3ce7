//! `avg_pool1d`: the mean over windows of time, per channel (PyTorch's `nn.AvgPool1d` with no
//! padding and `ceil_mode = False`).
//!
//! **Layout** as in [`max_pool1d`](crate::max_pool1d): `x` is `B × (T·C)`, the output
//! `B × (TOUT·C)` with `TOUT = ⌊(T − W) / S⌋ + 1`
//! ([`pool1d_out_len`](crate::max_pool1d::pool1d_out_len)); the sizes come in a
//! [`Pool1dSpec`].
//!
//! **Formula.** `y[b][o][c] = (1/W) Σ_{j < W} x[b][o·S + j][c]`.
//!
//! **Gradient.** `∂J/∂x[b][o·S + j][c] += G[b][o][c] / W` for every window `o` that holds
//! the step.
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::max_pool1d::Pool1dSpec;
//! use embedgrad_ops::prelude::*;
//! type Pool = Pool1dSpec<4, 1, 2>; // windows of 2, stride 2
//! let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 3.0, -2.0, 4.0]]))?;
//! let y: Tensor<1, { Pool::OUT_COLS }> = g.avg_pool1d(x, Pool::new())?;
//! assert_eq!(g.eval(y)?, Matrix::new([[2.0, 1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use crate::max_pool1d::{Pool, Pool1dSpec};
use crate::StdOp;
use embedgrad_core::{Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Average pooling over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool1d(Pool);

impl AvgPool1d {
    /// Average pooling of `channels` channels over windows of `window` steps, `stride` apart.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless all three are in `1..=65535`.
    pub const fn new(channels: usize, window: usize, stride: usize) -> Result<Self, Error> {
        match Pool::new(channels, window, stride) {
            Ok(p) => Ok(Self(p)),
            Err(e) => Err(e),
        }
    }
    /// Channels.
    pub const fn channels(&self) -> usize {
        self.0.channels()
    }
    /// The window.
    pub const fn window(&self) -> usize {
        self.0.window()
    }
    /// The stride.
    pub const fn stride(&self) -> usize {
        self.0.stride()
    }
}

impl<T: Scalar> Op<T> for AvgPool1d {
    fn name(&self) -> &'static str {
        "avg_pool1d"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        self.0.out_shape(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        let Ok((ch, taps)) = self.0.geom(x.shape()) else {
            return;
        };
        let ch = ch.max(1);
        let inv = T::ONE / T::from_usize(taps.k);
        for (xrow, yrow) in x.row_iter().zip(y.row_iter_mut()) {
            for (o, yo) in yrow.exact_rows_mut(ch).enumerate() {
                for y in yo.iter_mut() {
                    *y = T::ZERO;
                }
                for j in 0..taps.k {
                    let Some(xs) = taps.input(o, j).and_then(|i| xrow.get(i * ch..(i + 1) * ch))
                    else {
                        continue;
                    };
                    for (y, &v) in yo.iter_mut().zip(xs) {
                        *y += v;
                    }
                }
                for y in yo.iter_mut() {
                    *y *= inv;
                }
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
        let Ok((ch, taps)) = self.0.geom(x.shape()) else {
            return;
        };
        let ch = ch.max(1);
        let inv = T::ONE / T::from_usize(taps.k);
        for (grow, dxrow) in g.row_iter().zip(dx.row_iter_mut()) {
            for (o, go) in grow.exact_rows(ch).enumerate() {
                for j in 0..taps.k {
                    let Some(ds) = taps.input(o, j).and_then(|i| dxrow.get_mut(i * ch..(i + 1) * ch))
                    else {
                        continue;
                    };
                    for (d, &gv) in ds.iter_mut().zip(go) {
                        *d += gv * inv;
                    }
                }
            }
        }
    }
}

/// Builder for [`AvgPool1d`].
pub trait AvgPool1dExt<T> {
    /// The mean over windows of `x` (`B × (T·C)`) per channel: `B × (T_OUT·C)` (checked at
    /// compile time).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a channel count, window or stride over 65,535; capacity
    /// errors and bad handles (see [`Graph::push_op`]).
    fn avg_pool1d<
        const B: usize,
        const XC: usize,
        const YC: usize,
        const TT: usize,
        const C: usize,
        const W: usize,
        const ST: usize,
    >(
        &mut self,
        x: Tensor<B, XC>,
        spec: Pool1dSpec<TT, C, W, ST>,
    ) -> Result<Tensor<B, YC>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> AvgPool1dExt<T>
    for Graph<T, O, N, S>
{
    fn avg_pool1d<
        const B: usize,
        const XC: usize,
        const YC: usize,
        const TT: usize,
        const C: usize,
        const W: usize,
        const ST: usize,
    >(
        &mut self,
        x: Tensor<B, XC>,
        _: Pool1dSpec<TT, C, W, ST>,
    ) -> Result<Tensor<B, YC>, Error> {
        const { Pool1dSpec::<TT, C, W, ST>::check::<XC, YC>() };
        let op = AvgPool1d::new(C, W, ST)?;
        self.op(StdOp::from(op).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn reference(x: &[f64], b: usize, t: usize, c: usize, w: usize, s: usize) -> Vec<f64> {
        let tout = (t - w) / s + 1;
        let mut y = vec![0.0; b * tout * c];
        for bi in 0..b {
            for o in 0..tout {
                for ch in 0..c {
                    let mut acc = 0.0;
                    for j in 0..w {
                        acc += x[bi * t * c + (o * s + j) * c + ch];
                    }
                    y[bi * tout * c + o * c + ch] = acc / w as f64;
                }
            }
        }
        y
    }

    #[test]
    fn literal() {
        // Two channels, window 2, stride 1, T = 3.
        let op = AvgPool1d::new(2, 2, 1).unwrap();
        let x = (Shape::new(1, 6), vec![1.0f64, 10.0, 3.0, 20.0, 5.0, 60.0]);
        assert_eq!(forward(&op, std::slice::from_ref(&x)), vec![2.0, 15.0, 4.0, 40.0]);
        // Each step gets G/2 from every window that holds it.
        let dx = backward(&op, &[x], &[2.0, 4.0, 6.0, 8.0], 0);
        assert_eq!(dx, vec![1.0, 2.0, 4.0, 6.0, 3.0, 4.0]);
    }

    #[test]
    fn matches_the_reference() {
        for (i, &(b, t, c, w, s)) in
            [(1, 4, 1, 2, 2), (2, 9, 3, 3, 2), (3, 8, 2, 4, 1), (2, 10, 4, 5, 5)].iter().enumerate()
        {
            let op = AvgPool1d::new(c, w, s).unwrap();
            let x = rand(i as u64, Shape::new(b, t * c), -3.0, 3.0);
            assert_close(&forward(&op, std::slice::from_ref(&x)), &reference(&x.1, b, t, c, w, s), 1e-15);
        }
    }

    #[test]
    fn shapes_and_builder() {
        let op = AvgPool1d::new(3, 2, 2).unwrap();
        assert_eq!(Op::<f32>::out_shape(&op, &[Shape::new(2, 15)]), Ok(Shape::new(2, 6)));
        assert_eq!(
            Op::<f32>::out_shape(&op, &[Shape::new(2, 16)]),
            Err(Error::InvalidShape(Shape::new(2, 16)))
        );
        assert_eq!(AvgPool1d::new(70_000, 2, 2), Err(Error::InvalidArgument));
        let mut g: crate::StdGraph<f64, 4, 64> = crate::StdGraph::new();
        let x = g.placeholder::<2, 15>().unwrap();
        let y: Tensor<2, 6> = g.avg_pool1d(x, Pool1dSpec::<5, 3, 2>::new()).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(2, 6)));
    }

    #[test]
    fn gradient() {
        for (i, &(b, t, c, w, s)) in
            [(1, 4, 1, 2, 2), (2, 9, 3, 3, 2), (3, 8, 2, 4, 1), (2, 10, 2, 5, 5)].iter().enumerate()
        {
            grad_check(
                &AvgPool1d::new(c, w, s).unwrap(),
                &[rand(i as u64, Shape::new(b, t * c), -3.0, 3.0)],
            );
        }
    }
}
