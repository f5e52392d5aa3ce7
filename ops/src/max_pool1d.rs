//! `max_pool1d`: the maximum over windows of time, per channel (PyTorch's `nn.MaxPool1d` with
//! no padding and `ceil_mode = False`).
//!
//! **Layout** (as in [`conv1d`](crate::conv1d)): `x` is `B × (T·C)`, time outer and channels
//! inner; the output is `B × (TOUT·C)` with `TOUT = ⌊(T − W) / S⌋ + 1` for a window of `W`
//! steps and a stride `S` ([`pool1d_out_len`]; `S = W` — non-overlapping windows — is the
//! usual choice).
//!
//! **Formula.** `y[b][o][c] = max_{j < W} x[b][o·S + j][c]`. A NaN in a window gives NaN.
//!
//! **Gradient.** Each output's `G` goes to the entry that was the maximum — the first one on a
//! tie, as in PyTorch — recomputed from `x`: `∂J/∂x[b][o·S + j*][c] += G[b][o][c]`. (The
//! derivative does not exist at a tie; this is the subgradient every framework uses.)
//!
//! [`Pool1dSpec`] names the sizes as const generics and gives the exact shapes; it serves
//! [`avg_pool1d`](crate::avg_pool1d) too.
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::max_pool1d::Pool1dSpec;
//! use embedgrad_ops::prelude::*;
//! // 5 steps of 2 channels, windows of 2 with stride 2: the last step is dropped.
//! type Pool = Pool1dSpec<5, 2, 2>;
//! assert_eq!(Pool::T_OUT, 2);
//! let mut g: StdGraph<f64, 4, 32> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, -1.0, 3.0, -3.0, 2.0, 5.0, 0.0, 4.0, 9.0, 9.0]]))?;
//! let y: Tensor<1, { Pool::OUT_COLS }> = g.max_pool1d(x, Pool::new())?;
//! assert_eq!(g.eval(y)?, Matrix::new([[3.0, -1.0, 2.0, 5.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use crate::conv1d::{conv1d_out_len, dim16, Padding, Taps};
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// The output length of a pooling of `t` steps with windows of `window` steps, `stride`
/// apart: `⌊(t − window) / stride⌋ + 1`, or 0 when `window > t` or an argument is 0.
///
/// ```
/// use embedgrad_ops::max_pool1d::pool1d_out_len;
/// assert_eq!(pool1d_out_len(128, 4, 4), 32);
/// assert_eq!(pool1d_out_len(10, 3, 2), 4);
/// assert_eq!(pool1d_out_len(2, 3, 1), 0);
/// ```
pub const fn pool1d_out_len(t: usize, window: usize, stride: usize) -> usize {
    conv1d_out_len(t, window, stride, 1, Padding::Valid)
}

/// The channels and windows of a pooling over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pool {
    channels: u16,
    window: u16,
    stride: u16,
}

impl Pool {
    pub(crate) const fn new(channels: usize, window: usize, stride: usize) -> Result<Self, Error> {
        match (dim16(channels), dim16(window), dim16(stride)) {
            (Ok(channels), Ok(window), Ok(stride)) => Ok(Self {
                channels,
                window,
                stride,
            }),
            _ => Err(Error::InvalidArgument),
        }
    }
    pub(crate) const fn channels(&self) -> usize {
        self.channels as usize
    }
    pub(crate) const fn window(&self) -> usize {
        self.window as usize
    }
    pub(crate) const fn stride(&self) -> usize {
        self.stride as usize
    }
    /// Channels and windows for an input shape.
    pub(crate) fn geom(&self, x: Shape) -> Result<(usize, Taps), Error> {
        let c = self.channels();
        if c == 0 || !x.cols.is_multiple_of(c) {
            return Err(Error::InvalidShape(x));
        }
        let taps = Taps::new(x.cols / c.max(1), self.window(), self.stride(), 1, Padding::Valid)
            .ok_or(Error::InvalidShape(x))?;
        Ok((c, taps))
    }
    pub(crate) fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        let x = s.first().copied().ok_or(Error::InvalidArgument)?;
        let (c, taps) = self.geom(x)?;
        let cols = taps.tout.checked_mul(c).ok_or(Error::InvalidShape(x))?;
        Ok(Shape::new(x.rows, cols))
    }
}

/// Max pooling over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool1d(pub(crate) Pool);

impl MaxPool1d {
    /// Max pooling of `channels` channels over windows of `window` steps, `stride` apart.
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

/// Whether `v` is NaN (for any scalar type).
#[inline]
fn is_nan<T: PartialOrd>(v: T) -> bool {
    v.partial_cmp(&v).is_none()
}

/// The offset in the window of the first maximum of channel `c` (a NaN is the maximum).
#[inline]
fn argmax<T: Scalar>(xrow: &[T], taps: &Taps, o: usize, c: usize, channels: usize) -> Option<usize> {
    let mut best: Option<(usize, T)> = None;
    for j in 0..taps.k {
        let Some(&v) = taps.input(o, j).and_then(|i| xrow.get(i * channels + c)) else {
            continue;
        };
        let take = match best {
            None => true,
            Some((_, b)) => !is_nan(b) && (v > b || is_nan(v)),
        };
        if take {
            best = Some((j, v));
        }
    }
    best.map(|(j, _)| j)
}

impl<T: Scalar> Op<T> for MaxPool1d {
    fn name(&self) -> &'static str {
        "max_pool1d"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        self.0.out_shape(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        let Ok((ch, taps)) = self.0.geom(x.shape()) else {
            return;
        };
        for (xrow, yrow) in x.row_iter().zip(y.row_iter_mut()) {
            for (o, yo) in yrow.exact_rows_mut(ch.max(1)).enumerate() {
                for (c, y) in yo.iter_mut().enumerate() {
                    let j = argmax(xrow, &taps, o, c, ch);
                    let v = j.and_then(|j| taps.input(o, j)).and_then(|i| xrow.get(i * ch + c));
                    *y = v.copied().unwrap_or(T::ZERO);
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
        for ((xrow, grow), dxrow) in x.row_iter().zip(g.row_iter()).zip(dx.row_iter_mut()) {
            for (o, go) in grow.exact_rows(ch.max(1)).enumerate() {
                for (c, &gv) in go.iter().enumerate() {
                    let at = argmax(xrow, &taps, o, c, ch).and_then(|j| taps.input(o, j));
                    if let Some(d) = at.and_then(|i| dxrow.get_mut(i * ch + c)) {
                        *d += gv;
                    }
                }
            }
        }
    }
}

/// The sizes of a pooling over time as const generics: `T` steps of `C` channels, windows of
/// `W` steps, `S` apart (by default `S = W`: non-overlapping). A zero-sized value for
/// [`MaxPool1dExt::max_pool1d`] and [`avg_pool1d`](crate::avg_pool1d::AvgPool1dExt::avg_pool1d),
/// with the exact shapes as constants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pool1dSpec<const T: usize, const C: usize, const W: usize, const S: usize = W>;

impl<const T: usize, const C: usize, const W: usize, const S: usize> Pool1dSpec<T, C, W, S> {
    /// Output steps ([`pool1d_out_len`]; 0 when the window is longer than `T`).
    pub const T_OUT: usize = pool1d_out_len(T, W, S);
    /// Columns of the input: `T·C`.
    pub const IN_COLS: usize = T * C;
    /// Columns of the output: `T_OUT·C`.
    pub const OUT_COLS: usize = Self::T_OUT * C;

    /// The spec (a zero-sized value).
    pub const fn new() -> Self {
        Self
    }

    /// Checks the shapes at compile time (called by the builders).
    pub(crate) const fn check<const XC: usize, const YC: usize>() {
        assert!(T > 0 && C > 0 && W > 0 && S > 0, "pool1d: T, C, W and S must be > 0");
        assert!(XC == T * C, "pool1d: x must be B × (T·C)");
        assert!(Self::T_OUT > 0, "pool1d: the window is longer than T");
        assert!(YC == Self::OUT_COLS, "pool1d: the output must be B × (T_OUT·C)");
    }
}

/// Builder for [`MaxPool1d`].
pub trait MaxPool1dExt<T> {
    /// The maximum over windows of `x` (`B × (T·C)`) per channel: `B × (T_OUT·C)` (checked at
    /// compile time).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a channel count, window or stride over 65,535; capacity
    /// errors and bad handles (see [`Graph::push_op`]).
    fn max_pool1d<
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

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> MaxPool1dExt<T>
    for Graph<T, O, N, S>
{
    fn max_pool1d<
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
        let op = MaxPool1d::new(C, W, ST)?;
        self.op(StdOp::from(op).into(), &[x.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    /// Nested loops over the formula.
    fn reference(x: &[f64], b: usize, t: usize, c: usize, w: usize, s: usize) -> Vec<f64> {
        let tout = (t - w) / s + 1;
        let mut y = vec![0.0; b * tout * c];
        for bi in 0..b {
            for o in 0..tout {
                for ch in 0..c {
                    let mut m = f64::NEG_INFINITY;
                    for j in 0..w {
                        m = m.max(x[bi * t * c + (o * s + j) * c + ch]);
                    }
                    y[bi * tout * c + o * c + ch] = m;
                }
            }
        }
        y
    }

    #[test]
    fn literal() {
        let op = MaxPool1d::new(1, 3, 2).unwrap();
        let x = (Shape::new(1, 7), vec![1.0f64, 5.0, 2.0, 2.0, 7.0, 0.0, -1.0]);
        assert_eq!(forward(&op, std::slice::from_ref(&x)), vec![5.0, 7.0, 7.0]);
        // Overlapping windows: x[4] is the maximum of two windows and gets both gradients.
        let dx = backward(&op, std::slice::from_ref(&x), &[1.0, 2.0, 3.0], 0);
        assert_eq!(dx, vec![0.0, 1.0, 0.0, 0.0, 5.0, 0.0, 0.0]);
        // A tie: the first maximum gets it.
        let tie = (Shape::new(1, 4), vec![3.0f64, 3.0, -1.0, -1.0]);
        let op = MaxPool1d::new(1, 2, 2).unwrap();
        assert_eq!(backward(&op, &[tie], &[1.0, 1.0], 0), vec![1.0, 0.0, 1.0, 0.0]);
        // NaN propagates.
        let nan = (Shape::new(1, 4), vec![1.0f32, f32::NAN, f32::NAN, 2.0]);
        let y = forward(&op, &[nan]);
        assert!(y[0].is_nan() && y[1].is_nan());
        let nan = (Shape::new(1, 2), vec![f32::NAN, 1.0]);
        assert!(forward(&op, &[nan])[0].is_nan());
    }

    #[test]
    fn matches_the_reference() {
        for (i, &(b, t, c, w, s)) in
            [(1, 4, 1, 2, 2), (2, 9, 3, 3, 2), (3, 8, 2, 4, 1), (2, 10, 4, 5, 5)].iter().enumerate()
        {
            let op = MaxPool1d::new(c, w, s).unwrap();
            let x = rand(i as u64, Shape::new(b, t * c), -3.0, 3.0);
            let want = reference(&x.1, b, t, c, w, s);
            assert_eq!(forward(&op, &[x]), want, "case {i}");
        }
    }

    #[test]
    fn shapes_and_builder() {
        let op = MaxPool1d::new(2, 3, 3).unwrap();
        let f = |s: Shape| Op::<f32>::out_shape(&op, &[s]);
        assert_eq!(f(Shape::new(4, 20)), Ok(Shape::new(4, 6)));
        assert_eq!(f(Shape::new(4, 21)), Err(Error::InvalidShape(Shape::new(4, 21))));
        assert_eq!(f(Shape::new(4, 4)), Err(Error::InvalidShape(Shape::new(4, 4))));
        assert!(matches!(
            Op::<f32>::out_shape(&op, &[]),
            Err(Error::Arity { expected: 1, found: 0 })
        ));
        assert_eq!(MaxPool1d::new(2, 0, 1), Err(Error::InvalidArgument));
        type P = Pool1dSpec<10, 2, 3, 2>;
        assert_eq!((P::T_OUT, P::IN_COLS, P::OUT_COLS), (4, 20, 8));
        let mut g: crate::StdGraph<f64, 4, 64> = crate::StdGraph::new();
        let x = g.placeholder::<3, 20>().unwrap();
        let y: Tensor<3, { P::OUT_COLS }> = g.max_pool1d(x, P::new()).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(3, 8)));
        let z: Tensor<3, 6> = g.max_pool1d(x, Pool1dSpec::<10, 2, 3>::new()).unwrap();
        assert_eq!(g.shape(z.id()), Ok(Shape::new(3, 6)));
    }

    #[test]
    fn gradient() {
        // Distinct values (no ties within h of each other), as the derivative needs.
        for (i, &(b, t, c, w, s)) in
            [(1, 4, 1, 2, 2), (2, 9, 3, 3, 2), (3, 8, 2, 4, 1), (2, 10, 2, 5, 5)].iter().enumerate()
        {
            grad_check(&MaxPool1d::new(c, w, s).unwrap(), &[rand(i as u64, Shape::new(b, t * c), -3.0, 3.0)]);
        }
    }
}
