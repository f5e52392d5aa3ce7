//! `depthwise_conv1d`: a 1-D convolution with one kernel per channel (channel multiplier 1;
//! PyTorch's `nn.Conv1d` with `groups = C` and `C` output channels), with stride, dilation and
//! `valid` or `same` padding as in [`conv1d`](crate::conv1d). It costs `K·C` weights instead of
//! `K·C·COUT`, and is usually followed by a pointwise (`K = 1`) `conv1d` to mix the channels.
//!
//! **Layout** (time outer, channels inner, as in [`conv1d`](crate::conv1d)):
//!
//! - `x`: `B × (T·C)`;
//! - `w`: `K × C`, row `k`, column `c` (PyTorch's `weight[c][0][k]`, of shape `(C, 1, K)`);
//! - `b`: `1 × C`;
//! - `y`: `B × (TOUT·C)`, with `TOUT` and the left padding `P` from
//!   [`conv1d_out_len`] and [`conv1d_pad_left`].
//!
//! **Formula.** `y[b][o][c] = b[c] + Σ_k x[b][o·S + k·D − P][c] · w[k][c]` (`x` is 0 outside
//! `0..T`).
//!
//! **Gradients.** `∂J/∂x[b][o·S + k·D − P][c] += G[b][o][c] · w[k][c]`;
//! `∂J/∂w[k][c] = Σ_b Σ_o x[b][o·S + k·D − P][c] · G[b][o][c]`; `∂J/∂b[c] = Σ_b Σ_o G[b][o][c]`.
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::depthwise_conv1d::DepthwiseConv1dSpec;
//! use embedgrad_ops::prelude::*;
//! // One window of 4 steps of 2 channels; kernel 2, same padding (one zero on the right).
//! type Layer = DepthwiseConv1dSpec<4, 2, 2, 1, 1, true>;
//! let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]]))?;
//! // Channel 0: x[t] + x[t+1]; channel 1: x[t+1] − x[t].
//! let w = g.variable(&Matrix::new([[1.0, -1.0], [1.0, 1.0]]))?;
//! let b = g.variable(&Matrix::new([[0.0, 0.0]]))?;
//! let y: Tensor<1, { Layer::OUT_COLS }> = g.depthwise_conv1d(x, w, b, Layer::new())?;
//! assert_eq!(g.eval(y)?, Matrix::new([[3.0, 10.0, 5.0, 10.0, 7.0, 10.0, 4.0, -40.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! [`conv1d_out_len`]: crate::conv1d::conv1d_out_len
//! [`conv1d_pad_left`]: crate::conv1d::conv1d_pad_left

use embedgrad_core::nopanic::SliceExt as _;
use crate::conv1d::{conv1d_out_len, dim16, Padding, Taps};
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// A depthwise 1-D convolution; the lengths and channels come from the shapes of `x` and `w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseConv1d {
    stride: u16,
    dilation: u16,
    padding: Padding,
}

impl DepthwiseConv1d {
    /// A depthwise convolution.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `stride` and `dilation` are in `1..=65535`.
    pub const fn new(stride: usize, dilation: usize, padding: Padding) -> Result<Self, Error> {
        match (dim16(stride), dim16(dilation)) {
            (Ok(stride), Ok(dilation)) => Ok(Self {
                stride,
                dilation,
                padding,
            }),
            _ => Err(Error::InvalidArgument),
        }
    }
    /// The stride.
    pub const fn stride(&self) -> usize {
        self.stride as usize
    }
    /// The dilation.
    pub const fn dilation(&self) -> usize {
        self.dilation as usize
    }
    /// The padding.
    pub const fn padding(&self) -> Padding {
        self.padding
    }

    /// Channels and taps.
    fn geom(&self, x: Shape, w: Shape, b: Shape) -> Result<(usize, Taps), Error> {
        let c = w.cols;
        if c == 0 || !x.cols.is_multiple_of(c) {
            return Err(Error::InvalidShape(x));
        }
        if b != Shape::new(1, c) {
            return Err(Error::ShapeMismatch {
                expected: Shape::new(1, c),
                found: b,
            });
        }
        let taps = Taps::new(x.cols / c.max(1), w.rows, self.stride(), self.dilation(), self.padding)
            .ok_or(Error::InvalidShape(x))?;
        Ok((c, taps))
    }

    fn geom_of<T>(&self, x: &[MatRef<'_, T>]) -> Option<(usize, Taps)> {
        match x {
            [x, w, b] => self.geom(x.shape(), w.shape(), b.shape()).ok(),
            _ => None,
        }
    }
}

impl<T: Scalar> Op<T> for DepthwiseConv1d {
    fn name(&self) -> &'static str {
        "depthwise_conv1d"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 3)?;
        let [x, w, b] = s else {
            return Err(Error::InvalidArgument);
        };
        let (c, taps) = self.geom(*x, *w, *b)?;
        let cols = taps.tout.checked_mul(c).ok_or(Error::InvalidShape(*x))?;
        Ok(Shape::new(x.rows, cols))
    }
    fn forward(&self, inputs: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let (Some((c, taps)), [x, w, b]) = (self.geom_of(inputs), inputs) else {
            return;
        };
        let c = c.max(1);
        for (xrow, yrow) in x.row_iter().zip(y.row_iter_mut()) {
            for (o, yo) in yrow.exact_rows_mut(c).enumerate() {
                for (y, &b) in yo.iter_mut().zip(b.as_slice()) {
                    *y = b;
                }
                for (k, wk) in w.row_iter().enumerate() {
                    let Some(xs) = taps.input(o, k).and_then(|i| xrow.get(i * c..(i + 1) * c))
                    else {
                        continue;
                    };
                    for ((y, &xv), &wv) in yo.iter_mut().zip(xs).zip(wk) {
                        *y += xv * wv;
                    }
                }
            }
        }
    }
    fn backward(
        &self,
        index: usize,
        inputs: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        let (Some((c, taps)), [x, w, _]) = (self.geom_of(inputs), inputs) else {
            return;
        };
        let c = c.max(1);
        match index {
            0 => {
                for (grow, dxrow) in g.row_iter().zip(dx.row_iter_mut()) {
                    for (o, go) in grow.exact_rows(c).enumerate() {
                        for (k, wk) in w.row_iter().enumerate() {
                            let Some(ds) =
                                taps.input(o, k).and_then(|i| dxrow.get_mut(i * c..(i + 1) * c))
                            else {
                                continue;
                            };
                            for ((d, &gv), &wv) in ds.iter_mut().zip(go).zip(wk) {
                                *d += gv * wv;
                            }
                        }
                    }
                }
            }
            1 => {
                for (xrow, grow) in x.row_iter().zip(g.row_iter()) {
                    for (o, go) in grow.exact_rows(c).enumerate() {
                        for (k, dwk) in dx.row_iter_mut().enumerate() {
                            let Some(xs) = taps.input(o, k).and_then(|i| xrow.get(i * c..(i + 1) * c))
                            else {
                                continue;
                            };
                            for ((d, &xv), &gv) in dwk.iter_mut().zip(xs).zip(go) {
                                *d += xv * gv;
                            }
                        }
                    }
                }
            }
            _ => {
                for grow in g.row_iter() {
                    for go in grow.exact_rows(c) {
                        for (d, &gv) in dx.as_mut_slice().iter_mut().zip(go) {
                            *d += gv;
                        }
                    }
                }
            }
        }
    }
}

/// The sizes of a [`DepthwiseConv1d`] layer as const generics: `T` steps of `C` channels, a
/// kernel of `K` taps, `STRIDE`, `DILATION` and `SAME` padding (`false`: valid). A zero-sized
/// value for [`DepthwiseConv1dExt::depthwise_conv1d`], with the exact shapes as constants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepthwiseConv1dSpec<
    const T: usize,
    const C: usize,
    const K: usize,
    const STRIDE: usize = 1,
    const DILATION: usize = 1,
    const SAME: bool = false,
>;

impl<
        const T: usize,
        const C: usize,
        const K: usize,
        const STRIDE: usize,
        const DILATION: usize,
        const SAME: bool,
    > DepthwiseConv1dSpec<T, C, K, STRIDE, DILATION, SAME>
{
    /// The padding.
    pub const PADDING: Padding = if SAME { Padding::Same } else { Padding::Valid };
    /// Output steps ([`conv1d_out_len`]; 0 when the kernel does not fit).
    pub const T_OUT: usize = conv1d_out_len(T, K, STRIDE, DILATION, Self::PADDING);
    /// Columns of the input: `T·C`.
    pub const IN_COLS: usize = T * C;
    /// Columns of the output: `T_OUT·C`.
    pub const OUT_COLS: usize = Self::T_OUT * C;
    /// Trainable parameters: `K·C + C`.
    pub const PARAMS: usize = K * C + C;

    /// The spec (a zero-sized value).
    pub const fn new() -> Self {
        Self
    }

    /// The op this spec builds.
    ///
    /// # Errors
    /// As [`DepthwiseConv1d::new`].
    pub const fn op(&self) -> Result<DepthwiseConv1d, Error> {
        DepthwiseConv1d::new(STRIDE, DILATION, Self::PADDING)
    }
}

/// Builder for [`DepthwiseConv1d`].
pub trait DepthwiseConv1dExt<T> {
    /// The depthwise convolution of `x` (`B × (T·C)`) with `w` (`K × C`) plus `b` (`1 × C`)
    /// for the layer `spec`: `B × (T_OUT·C)` (checked at compile time).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a stride or dilation over 65,535; capacity errors and
    /// bad handles (see [`Graph::push_op`]).
    #[allow(clippy::too_many_arguments)]
    fn depthwise_conv1d<
        const B: usize,
        const XC: usize,
        const K: usize,
        const C: usize,
        const YC: usize,
        const TT: usize,
        const STRIDE: usize,
        const DILATION: usize,
        const SAME: bool,
    >(
        &mut self,
        x: Tensor<B, XC>,
        w: Tensor<K, C>,
        b: Tensor<1, C>,
        spec: DepthwiseConv1dSpec<TT, C, K, STRIDE, DILATION, SAME>,
    ) -> Result<Tensor<B, YC>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> DepthwiseConv1dExt<T>
    for Graph<T, O, N, S>
{
    fn depthwise_conv1d<
        const B: usize,
        const XC: usize,
        const K: usize,
        const C: usize,
        const YC: usize,
        const TT: usize,
        const STRIDE: usize,
        const DILATION: usize,
        const SAME: bool,
    >(
        &mut self,
        x: Tensor<B, XC>,
        w: Tensor<K, C>,
        b: Tensor<1, C>,
        spec: DepthwiseConv1dSpec<TT, C, K, STRIDE, DILATION, SAME>,
    ) -> Result<Tensor<B, YC>, Error> {
        const {
            assert!(TT > 0 && C > 0 && K > 0, "depthwise_conv1d: T, C and K must be > 0");
            assert!(STRIDE > 0 && DILATION > 0, "depthwise_conv1d: stride and dilation must be > 0");
            assert!(XC == TT * C, "depthwise_conv1d: x must be B × (T·C)");
            assert!(
                DepthwiseConv1dSpec::<TT, C, K, STRIDE, DILATION, SAME>::T_OUT > 0,
                "depthwise_conv1d: the kernel's span (dilation·(K − 1) + 1) is longer than T"
            );
            assert!(
                YC == DepthwiseConv1dSpec::<TT, C, K, STRIDE, DILATION, SAME>::OUT_COLS,
                "depthwise_conv1d: the output must be B × (T_OUT·C)"
            );
        };
        let op = spec.op()?;
        self.op(StdOp::from(op).into(), &[x.id(), w.id(), b.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv1d::Conv1d;
    use crate::testing::*;

    /// The equivalent dense `conv1d` weight: `(K·C) × C`, zero off the channel's diagonal.
    fn dense_weight(w: &[f64], k: usize, c: usize) -> Vec<f64> {
        let mut d = vec![0.0; k * c * c];
        for kk in 0..k {
            for ch in 0..c {
                d[(kk * c + ch) * c + ch] = w[kk * c + ch];
            }
        }
        d
    }

    #[test]
    fn literal() {
        // Two channels, kernel 2, valid, stride 1: y[o][c] = b[c] + x[o][c]·w0[c] + x[o+1][c]·w1[c].
        let op = DepthwiseConv1d::new(1, 1, Padding::Valid).unwrap();
        let inputs = [
            (Shape::new(1, 6), vec![1.0f64, 10.0, 2.0, 20.0, 3.0, 30.0]),
            (Shape::new(2, 2), vec![1.0, 0.5, -1.0, 2.0]),
            (Shape::new(1, 2), vec![100.0, 0.0]),
        ];
        assert_eq!(forward(&op, &inputs), vec![99.0, 45.0, 99.0, 70.0]);
        let g = [1.0, 2.0, 3.0, 4.0];
        // dx[t][c] = Σ over the outputs that read it of G·w.
        assert_eq!(backward(&op, &inputs, &g, 0), vec![1.0, 1.0, 2.0, 6.0, -3.0, 8.0]);
        // dw[k][c] = Σ_o x[o+k][c]·G[o][c].
        assert_eq!(backward(&op, &inputs, &g, 1), vec![7.0, 100.0, 11.0, 160.0]);
        assert_eq!(backward(&op, &inputs, &g, 2), vec![4.0, 6.0]);
    }

    #[test]
    fn equals_conv1d_with_a_diagonal_weight() {
        let cases = [
            (1, 5, 1, 1, 1, 1, false),
            (2, 9, 3, 3, 1, 1, false),
            (3, 10, 2, 3, 2, 1, true),
            (2, 11, 4, 4, 3, 2, true),
            (1, 12, 3, 2, 1, 3, false),
        ];
        for (i, &(batch, t, c, k, s, d, same)) in cases.iter().enumerate() {
            let pad = if same { Padding::Same } else { Padding::Valid };
            let dw = DepthwiseConv1d::new(s, d, pad).unwrap();
            let conv = Conv1d::new(c, s, d, pad).unwrap();
            let x = rand(i as u64, Shape::new(batch, t * c), -2.0, 2.0);
            let w = rand(40 + i as u64, Shape::new(k, c), -1.0, 1.0);
            let b = rand(80 + i as u64, Shape::new(1, c), -1.0, 1.0);
            let dense = (Shape::new(k * c, c), dense_weight(&w.1, k, c));
            let (tout, want) = crate::conv1d::tests::reference(
                &x.1, &dense.1, &b.1, batch, t, c, c, k, s, d, same,
            );
            let y = forward(&dw, &[x.clone(), w, b.clone()]);
            assert_eq!(y.len(), batch * tout * c);
            assert_close(&y, &want, 1e-12);
            assert_close(&y, &forward(&conv, &[x, dense, b]), 1e-12);
        }
    }

    #[test]
    fn shapes_and_builder() {
        let op = DepthwiseConv1d::new(2, 1, Padding::Same).unwrap();
        let f = |s: &[Shape]| Op::<f32>::out_shape(&op, s);
        assert_eq!(
            f(&[Shape::new(3, 12), Shape::new(3, 4), Shape::new(1, 4)]),
            Ok(Shape::new(3, 8))
        );
        assert_eq!(
            f(&[Shape::new(3, 10), Shape::new(3, 4), Shape::new(1, 4)]),
            Err(Error::InvalidShape(Shape::new(3, 10)))
        );
        assert!(matches!(
            f(&[Shape::new(3, 12), Shape::new(3, 4), Shape::new(4, 1)]),
            Err(Error::ShapeMismatch { .. })
        ));
        let valid = DepthwiseConv1d::new(1, 2, Padding::Valid).unwrap();
        assert_eq!(
            Op::<f32>::out_shape(&valid, &[Shape::new(1, 8), Shape::new(3, 2), Shape::new(1, 2)]),
            Err(Error::InvalidShape(Shape::new(1, 8))) // span 5 > T = 4
        );
        assert_eq!(DepthwiseConv1d::new(0, 1, Padding::Same), Err(Error::InvalidArgument));

        type L = DepthwiseConv1dSpec<6, 2, 3, 2>;
        assert_eq!((L::T_OUT, L::IN_COLS, L::OUT_COLS, L::PARAMS), (2, 12, 4, 8));
        let mut g: crate::StdGraph<f64, 8, 128> = crate::StdGraph::new();
        let x = g.placeholder::<2, 12>().unwrap();
        let w = g.placeholder::<3, 2>().unwrap();
        let b = g.placeholder::<1, 2>().unwrap();
        let y: Tensor<2, { L::OUT_COLS }> = g.depthwise_conv1d(x, w, b, L::new()).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(2, 4)));
    }

    #[test]
    fn gradient() {
        let cases = [
            (1, 4, 1, 2, 1, 1, false),
            (2, 7, 3, 3, 1, 1, false),
            (2, 9, 2, 3, 2, 1, true),
            (3, 10, 2, 3, 3, 2, true),
            (2, 8, 3, 4, 1, 2, true),
        ];
        for (i, &(batch, t, c, k, s, d, same)) in cases.iter().enumerate() {
            let pad = if same { Padding::Same } else { Padding::Valid };
            let op = DepthwiseConv1d::new(s, d, pad).unwrap();
            grad_check(
                &op,
                &[
                    rand(i as u64, Shape::new(batch, t * c), -2.0, 2.0),
                    rand(30 + i as u64, Shape::new(k, c), -1.0, 1.0),
                    rand(60 + i as u64, Shape::new(1, c), -1.0, 1.0),
                ],
            );
        }
    }
}
