//! `conv1d`: a 1-D convolution over time of a batch of multi-channel windows, with stride,
//! dilation and `valid` or `same` padding (PyTorch's `nn.Conv1d`, TensorFlow's `Conv1D`).
//!
//! **Layout.** The graph's tensors are 2-D, so a batch of `B` windows of `T` time steps and `C`
//! channels is a `B × (T·C)` matrix, time outer and channels inner: row `b` holds `x[b][t][c]`
//! at column `t·C + c` (a window of sensor samples as they arrive, one frame after another).
//! The inputs are
//!
//! - `x`: `B × (T·CIN)`;
//! - `w`: `(K·CIN) × COUT`, row `k·CIN + ci`, column `co` — the `K` taps stacked, each a
//!   `CIN × COUT` matrix (PyTorch's `weight[co][ci][k]`, of shape `(COUT, CIN, K)`, is
//!   `w[k·CIN + ci][co]`);
//! - `b`: `1 × COUT` (PyTorch's `bias`);
//!
//! and the output is `y`: `B × (TOUT·COUT)` in the same layout.
//!
//! **Formula.** With `D` the dilation, `S` the stride and `P` the padding on the left,
//!
//! `y[b][o][co] = b[co] + Σ_k Σ_ci x[b][o·S + k·D − P][ci] · w[k·CIN + ci][co]`,
//!
//! where `x` is 0 outside `0..T` (zero padding). The output length ([`conv1d_out_len`]) and
//! `P` ([`conv1d_pad_left`]), with the kernel's span `E = D·(K − 1) + 1`:
//!
//! - [`Padding::Valid`] (no padding, PyTorch's default): `TOUT = ⌊(T − E) / S⌋ + 1`, which
//!   needs `T ≥ E`; `P = 0`.
//! - [`Padding::Same`] (TensorFlow's `"same"`): `TOUT = ⌈T / S⌉`; the total padding
//!   `max((TOUT − 1)·S + E − T, 0)` is split with the smaller half, `P`, on the left. For
//!   `S = 1` this is PyTorch's `padding="same"` (`TOUT = T`, `P = ⌊D·(K − 1) / 2⌋`); PyTorch
//!   refuses `"same"` for `S > 1`.
//!
//! **Gradients.** With `G = ∂J/∂y` and the same taps:
//!
//! - `∂J/∂x[b][o·S + k·D − P][ci] += Σ_co G[b][o][co] · w[k·CIN + ci][co]`;
//! - `∂J/∂w[k·CIN + ci][co] = Σ_b Σ_o x[b][o·S + k·D − P][ci] · G[b][o][co]`;
//! - `∂J/∂b[co] = Σ_b Σ_o G[b][o][co]`.
//!
//! **Building.** A [`Conv1dSpec`] names the layer's sizes as const generics and gives its
//! exact shapes as constants ([`Conv1dSpec::OUT_COLS`], …), so a graph's capacity is known
//! before it is built; the builder checks every relation at compile time:
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::conv1d::Conv1dSpec;
//! use embedgrad_ops::prelude::*;
//! // 2 windows of 5 steps of 1 channel; 2 output channels, kernel 3, stride 1, valid.
//! type Layer = Conv1dSpec<5, 1, 2, 3>;
//! assert_eq!((Layer::T_OUT, Layer::OUT_COLS), (3, 6));
//! let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 0.0, -1.0, 0.0]]))?;
//! // Channel 0: a difference x[t+2] − x[t]; channel 1: a sum of three.
//! let w = g.variable(&Matrix::new([[-1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]))?;
//! let b = g.variable(&Matrix::new([[0.0, 0.5]]))?;
//! let y: Tensor<2, { Layer::OUT_COLS }> = g.conv1d(x, w, b, Layer::new())?;
//! assert_eq!(
//!     g.eval(y)?,
//!     Matrix::new([[2.0, 6.5, 2.0, 9.5, 2.0, 12.5], [0.0, 1.5, -2.0, 0.5, 0.0, -0.5]])
//! );
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! A weight of the wrong shape does not compile:
//!
//! ```compile_fail
//! use embedgrad_core::Tensor;
//! use embedgrad_ops::conv1d::Conv1dSpec;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 256> = StdGraph::new();
//! let x = g.placeholder::<2, 10>().unwrap(); // T = 5, CIN = 2
//! let w = g.placeholder::<3, 4>().unwrap(); // K·CIN = 3: not a multiple of CIN
//! let b = g.placeholder::<1, 4>().unwrap();
//! let _: Tensor<2, 12> = g.conv1d(x, w, b, Conv1dSpec::<5, 2, 4, 3>::new()).unwrap();
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// How the sequence is padded with zeros before the convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding: only output steps whose kernel lies wholly inside the input.
    Valid,
    /// Zero padding so that `TOUT = ⌈T / stride⌉` (TensorFlow's `"same"`; the smaller half
    /// of the padding on the left).
    Same,
}

/// The kernel's span `dilation·(k − 1) + 1`, or 0 when `k` or `dilation` is 0 or it overflows.
pub const fn conv1d_span(k: usize, dilation: usize) -> usize {
    if k == 0 || dilation == 0 {
        return 0;
    }
    match dilation.checked_mul(k - 1) {
        Some(s) if s < usize::MAX => s + 1,
        _ => 0,
    }
}

/// The output length `TOUT` of a convolution (or pooling) of `t` steps with a kernel of `k`
/// taps: `⌊(t − span) / stride⌋ + 1` for [`Padding::Valid`], `⌈t / stride⌉` for
/// [`Padding::Same`]; **0** when there is no output (a zero argument, or a valid kernel longer
/// than the input). Usable in const contexts, e.g. to size a graph.
///
/// ```
/// use embedgrad_ops::conv1d::{conv1d_out_len, Padding};
/// assert_eq!(conv1d_out_len(100, 5, 1, 1, Padding::Valid), 96);
/// assert_eq!(conv1d_out_len(100, 5, 2, 3, Padding::Valid), 44); // span 13
/// assert_eq!(conv1d_out_len(100, 5, 2, 3, Padding::Same), 50);
/// assert_eq!(conv1d_out_len(4, 5, 1, 1, Padding::Valid), 0);
/// const T_OUT: usize = conv1d_out_len(128, 3, 2, 1, Padding::Same);
/// assert_eq!(T_OUT, 64);
/// ```
pub const fn conv1d_out_len(
    t: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> usize {
    let span = conv1d_span(k, dilation);
    if t == 0 || span == 0 || stride == 0 {
        return 0;
    }
    match padding {
        Padding::Valid => {
            if t < span {
                0
            } else {
                (t - span) / stride + 1
            }
        }
        Padding::Same => embedgrad_core::nopanic::div_up(t, stride),
    }
}

/// The zeros padded on the left: 0 for [`Padding::Valid`]; for [`Padding::Same`] the smaller
/// half of `max((TOUT − 1)·stride + span − t, 0)`.
///
/// ```
/// use embedgrad_ops::conv1d::{conv1d_pad_left, Padding};
/// assert_eq!(conv1d_pad_left(10, 3, 1, 1, Padding::Same), 1);
/// assert_eq!(conv1d_pad_left(10, 4, 1, 1, Padding::Same), 1); // 3 in all: 1 left, 2 right
/// assert_eq!(conv1d_pad_left(10, 3, 1, 2, Padding::Same), 2);
/// assert_eq!(conv1d_pad_left(10, 3, 1, 1, Padding::Valid), 0);
/// ```
pub const fn conv1d_pad_left(
    t: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> usize {
    let tout = conv1d_out_len(t, k, stride, dilation, padding);
    match padding {
        Padding::Valid => 0,
        Padding::Same => {
            if tout == 0 {
                return 0;
            }
            let span = conv1d_span(k, dilation);
            let covered = (tout - 1).saturating_mul(stride).saturating_add(span);
            covered.saturating_sub(t) / 2
        }
    }
}

/// Which input step each tap of each output step reads: the geometry shared by the
/// convolution and pooling kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Taps {
    /// Input steps.
    pub t: usize,
    /// Output steps.
    pub tout: usize,
    /// Taps.
    pub k: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Zeros on the left.
    pub pad: usize,
}

impl Taps {
    /// The geometry, or `None` when there is no output.
    pub const fn new(
        t: usize,
        k: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Option<Self> {
        let tout = conv1d_out_len(t, k, stride, dilation, padding);
        if tout == 0 {
            return None;
        }
        Some(Self {
            t,
            tout,
            k,
            stride,
            dilation,
            pad: conv1d_pad_left(t, k, stride, dilation, padding),
        })
    }

    /// The input step that tap `k` of output step `o` reads, or `None` in the padding.
    #[inline]
    pub fn input(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.pad)
            .filter(|&i| i < self.t)
    }
}

/// `n` as a `u16` in `1..=65535`, or `Err(InvalidArgument)`.
pub(crate) const fn dim16(n: usize) -> Result<u16, Error> {
    if n == 0 || n > u16::MAX as usize {
        Err(Error::InvalidArgument)
    } else {
        Ok(n as u16)
    }
}

/// A 1-D convolution; the input and output lengths and the output channels come from the
/// shapes of `x` and `w` (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1d {
    cin: u16,
    stride: u16,
    dilation: u16,
    padding: Padding,
}

/// The sizes of one convolution, derived from the input shapes.
#[derive(Clone, Copy, Debug)]
struct Geom {
    cin: usize,
    cout: usize,
    taps: Taps,
}

impl Conv1d {
    /// A convolution of `cin` input channels.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless `cin`, `stride` and `dilation` are in `1..=65535`.
    pub const fn new(
        cin: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Result<Self, Error> {
        match (dim16(cin), dim16(stride), dim16(dilation)) {
            (Ok(cin), Ok(stride), Ok(dilation)) => Ok(Self {
                cin,
                stride,
                dilation,
                padding,
            }),
            _ => Err(Error::InvalidArgument),
        }
    }
    /// Input channels.
    pub const fn cin(&self) -> usize {
        self.cin as usize
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

    fn geom(&self, x: Shape, w: Shape, b: Shape) -> Result<Geom, Error> {
        let cin = self.cin();
        if cin == 0 || !x.cols.is_multiple_of(cin) {
            return Err(Error::InvalidShape(x));
        }
        if !w.rows.is_multiple_of(cin) || w.cols == 0 {
            return Err(Error::InvalidShape(w));
        }
        let cout = w.cols;
        if b != Shape::new(1, cout) {
            return Err(Error::ShapeMismatch {
                expected: Shape::new(1, cout),
                found: b,
            });
        }
        let t = x.cols / cin.max(1);
        let k = w.rows / cin.max(1);
        let taps = Taps::new(t, k, self.stride(), self.dilation(), self.padding)
            .ok_or(Error::InvalidShape(x))?;
        Ok(Geom { cin, cout, taps })
    }

    fn geom_of<T>(&self, x: &[MatRef<'_, T>]) -> Option<Geom> {
        match x {
            [x, w, b] => self.geom(x.shape(), w.shape(), b.shape()).ok(),
            _ => None,
        }
    }
}

impl<T: Scalar> Op<T> for Conv1d {
    fn name(&self) -> &'static str {
        "conv1d"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 3)?;
        let [x, w, b] = s else {
            return Err(Error::InvalidArgument);
        };
        let g = self.geom(*x, *w, *b)?;
        let cols = g.taps.tout.checked_mul(g.cout).ok_or(Error::InvalidShape(*x))?;
        Ok(Shape::new(x.rows, cols))
    }
    fn forward(&self, inputs: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let (Some(g), [x, w, b]) = (self.geom_of(inputs), inputs) else {
            return;
        };
        let (cin, cout) = (g.cin.max(1), g.cout.max(1));
        // One tap's `CIN × COUT` block (`max(1)`: no zero chunk size, even wrapped).
        let tap = (cin * cout).max(1);
        for (xrow, yrow) in x.row_iter().zip(y.row_iter_mut()) {
            for (o, yo) in yrow.exact_rows_mut(cout).enumerate() {
                for (y, &b) in yo.iter_mut().zip(b.as_slice()) {
                    *y = b;
                }
                for (k, wk) in w.as_slice().exact_rows(tap).enumerate() {
                    let Some(xs) = g.taps.input(o, k).and_then(|i| xrow.get(i * cin..(i + 1) * cin))
                    else {
                        continue;
                    };
                    for (&xv, wrow) in xs.iter().zip(wk.exact_rows(cout)) {
                        for (y, &wv) in yo.iter_mut().zip(wrow) {
                            *y += xv * wv;
                        }
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
        let (Some(geo), [x, w, _]) = (self.geom_of(inputs), inputs) else {
            return;
        };
        let (cin, cout) = (geo.cin.max(1), geo.cout.max(1));
        let tap = (cin * cout).max(1);
        match index {
            0 => {
                for (grow, dxrow) in g.row_iter().zip(dx.row_iter_mut()) {
                    for (o, go) in grow.exact_rows(cout).enumerate() {
                        for (k, wk) in w.as_slice().exact_rows(tap).enumerate() {
                            let Some(ds) = geo
                                .taps
                                .input(o, k)
                                .and_then(|i| dxrow.get_mut(i * cin..(i + 1) * cin))
                            else {
                                continue;
                            };
                            for (d, wrow) in ds.iter_mut().zip(wk.exact_rows(cout)) {
                                let mut acc = T::ZERO;
                                for (&wv, &gv) in wrow.iter().zip(go) {
                                    acc += wv * gv;
                                }
                                *d += acc;
                            }
                        }
                    }
                }
            }
            1 => {
                for (xrow, grow) in x.row_iter().zip(g.row_iter()) {
                    for (o, go) in grow.exact_rows(cout).enumerate() {
                        let dw = dx.as_mut_slice().exact_rows_mut(tap);
                        for (k, dwk) in dw.enumerate() {
                            let Some(xs) =
                                geo.taps.input(o, k).and_then(|i| xrow.get(i * cin..(i + 1) * cin))
                            else {
                                continue;
                            };
                            for (&xv, drow) in xs.iter().zip(dwk.exact_rows_mut(cout)) {
                                for (d, &gv) in drow.iter_mut().zip(go) {
                                    *d += xv * gv;
                                }
                            }
                        }
                    }
                }
            }
            _ => {
                for grow in g.row_iter() {
                    for go in grow.exact_rows(cout) {
                        for (d, &gv) in dx.as_mut_slice().iter_mut().zip(go) {
                            *d += gv;
                        }
                    }
                }
            }
        }
    }
}

/// The sizes of a [`Conv1d`] layer as const generics: `T` input steps of `CIN` channels,
/// `COUT` output channels, a kernel of `K` taps, `STRIDE`, `DILATION`, and `SAME` padding
/// (`false`: [`Padding::Valid`]). A zero-sized value that [`Conv1dExt::conv1d`] takes to
/// know the layer; its constants give the exact shapes before anything is built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conv1dSpec<
    const T: usize,
    const CIN: usize,
    const COUT: usize,
    const K: usize,
    const STRIDE: usize = 1,
    const DILATION: usize = 1,
    const SAME: bool = false,
>;

impl<
        const T: usize,
        const CIN: usize,
        const COUT: usize,
        const K: usize,
        const STRIDE: usize,
        const DILATION: usize,
        const SAME: bool,
    > Conv1dSpec<T, CIN, COUT, K, STRIDE, DILATION, SAME>
{
    /// The padding.
    pub const PADDING: Padding = if SAME { Padding::Same } else { Padding::Valid };
    /// Output steps ([`conv1d_out_len`]; 0 when the kernel does not fit).
    pub const T_OUT: usize = conv1d_out_len(T, K, STRIDE, DILATION, Self::PADDING);
    /// Columns of the input: `T·CIN`.
    pub const IN_COLS: usize = T * CIN;
    /// Rows of the weight: `K·CIN`.
    pub const WEIGHT_ROWS: usize = K * CIN;
    /// Columns of the output: `T_OUT·COUT`.
    pub const OUT_COLS: usize = Self::T_OUT * COUT;
    /// Trainable parameters: `K·CIN·COUT + COUT`.
    pub const PARAMS: usize = K * CIN * COUT + COUT;

    /// The spec (a zero-sized value).
    pub const fn new() -> Self {
        Self
    }

    /// The op this spec builds.
    ///
    /// # Errors
    /// As [`Conv1d::new`].
    pub const fn op(&self) -> Result<Conv1d, Error> {
        Conv1d::new(CIN, STRIDE, DILATION, Self::PADDING)
    }
}

/// Builder for [`Conv1d`].
pub trait Conv1dExt<T> {
    /// `conv1d(x, w) + b` for the layer `spec`: `x` is `B × (T·CIN)`, `w` is
    /// `(K·CIN) × COUT`, `b` is `1 × COUT`, the result `B × (T_OUT·COUT)` (all checked at
    /// compile time; the output's column count is usually written as `Spec::OUT_COLS`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a channel count, stride or dilation over 65,535;
    /// capacity errors and bad handles (see [`Graph::push_op`]).
    #[allow(clippy::too_many_arguments)]
    fn conv1d<
        const B: usize,
        const XC: usize,
        const WR: usize,
        const COUT: usize,
        const YC: usize,
        const TT: usize,
        const CIN: usize,
        const K: usize,
        const STRIDE: usize,
        const DILATION: usize,
        const SAME: bool,
    >(
        &mut self,
        x: Tensor<B, XC>,
        w: Tensor<WR, COUT>,
        b: Tensor<1, COUT>,
        spec: Conv1dSpec<TT, CIN, COUT, K, STRIDE, DILATION, SAME>,
    ) -> Result<Tensor<B, YC>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> Conv1dExt<T>
    for Graph<T, O, N, S>
{
    fn conv1d<
        const B: usize,
        const XC: usize,
        const WR: usize,
        const COUT: usize,
        const YC: usize,
        const TT: usize,
        const CIN: usize,
        const K: usize,
        const STRIDE: usize,
        const DILATION: usize,
        const SAME: bool,
    >(
        &mut self,
        x: Tensor<B, XC>,
        w: Tensor<WR, COUT>,
        b: Tensor<1, COUT>,
        spec: Conv1dSpec<TT, CIN, COUT, K, STRIDE, DILATION, SAME>,
    ) -> Result<Tensor<B, YC>, Error> {
        const {
            assert!(TT > 0 && CIN > 0 && K > 0, "conv1d: T, CIN and K must be > 0");
            assert!(STRIDE > 0 && DILATION > 0, "conv1d: stride and dilation must be > 0");
            assert!(XC == TT * CIN, "conv1d: x must be B × (T·CIN)");
            assert!(WR == K * CIN, "conv1d: w must be (K·CIN) × COUT");
            assert!(
                Conv1dSpec::<TT, CIN, COUT, K, STRIDE, DILATION, SAME>::T_OUT > 0,
                "conv1d: the kernel's span (dilation·(K − 1) + 1) is longer than T"
            );
            assert!(
                YC == Conv1dSpec::<TT, CIN, COUT, K, STRIDE, DILATION, SAME>::OUT_COLS,
                "conv1d: the output must be B × (T_OUT·COUT)"
            );
        };
        let op = spec.op()?;
        self.op(StdOp::from(op).into(), &[x.id(), w.id(), b.id()])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::*;

    /// A straightforward reference: nested loops over the formula, in f64.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reference(
        x: &[f64],
        w: &[f64],
        b: &[f64],
        batch: usize,
        t: usize,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        dil: usize,
        same: bool,
    ) -> (usize, Vec<f64>) {
        let span = dil * (k - 1) + 1;
        let (tout, pad) = if same {
            let tout = t.div_ceil(stride);
            let total = ((tout - 1) * stride + span).saturating_sub(t);
            (tout, total / 2)
        } else {
            ((t - span) / stride + 1, 0)
        };
        let mut y = vec![0.0; batch * tout * cout];
        for bi in 0..batch {
            for o in 0..tout {
                for co in 0..cout {
                    let mut acc = b[co];
                    for kk in 0..k {
                        let pos = (o * stride + kk * dil) as isize - pad as isize;
                        if pos < 0 || pos >= t as isize {
                            continue;
                        }
                        for ci in 0..cin {
                            acc += x[bi * t * cin + pos as usize * cin + ci]
                                * w[(kk * cin + ci) * cout + co];
                        }
                    }
                    y[bi * tout * cout + o * cout + co] = acc;
                }
            }
        }
        (tout, y)
    }

    fn shapes(batch: usize, t: usize, cin: usize, cout: usize, k: usize) -> [Shape; 3] {
        [Shape::new(batch, t * cin), Shape::new(k * cin, cout), Shape::new(1, cout)]
    }

    #[test]
    fn out_len_and_padding() {
        // Valid: PyTorch's L_out = ⌊(L + 2p − d(k − 1) − 1) / s⌋ + 1 with p = 0.
        for t in 1..20 {
            for k in 1..6 {
                for s in 1..4 {
                    for d in 1..4 {
                        let e = d * (k - 1) + 1;
                        let want = if t >= e { (t - e) / s + 1 } else { 0 };
                        assert_eq!(conv1d_out_len(t, k, s, d, Padding::Valid), want);
                        assert_eq!(conv1d_out_len(t, k, s, d, Padding::Same), t.div_ceil(s));
                        if s == 1 {
                            // PyTorch's padding="same": total d(k − 1), ⌊·/2⌋ on the left.
                            assert_eq!(conv1d_pad_left(t, k, s, d, Padding::Same), d * (k - 1) / 2);
                        }
                    }
                }
            }
        }
        assert_eq!(conv1d_out_len(0, 3, 1, 1, Padding::Same), 0);
        assert_eq!(conv1d_out_len(5, 0, 1, 1, Padding::Same), 0);
        assert_eq!(conv1d_out_len(5, 3, 0, 1, Padding::Same), 0);
        assert_eq!(conv1d_out_len(5, 3, 1, 0, Padding::Valid), 0);
        assert_eq!(conv1d_out_len(5, usize::MAX, 1, 2, Padding::Valid), 0);
        // TensorFlow's "same" with stride 2: T = 7, K = 4 → TOUT 4, total padding
        // (TOUT − 1)·2 + 4 − 7 = 3: 1 left, 2 right.
        assert_eq!(conv1d_pad_left(7, 4, 2, 1, Padding::Same), 1);
        assert_eq!(conv1d_out_len(7, 4, 2, 1, Padding::Same), 4);
        // No padding needed: none.
        assert_eq!(conv1d_pad_left(8, 2, 2, 1, Padding::Same), 0);
    }

    #[test]
    fn literal() {
        // One channel in, one out: a moving sum of 2 with bias 10, valid, stride 1.
        let op = Conv1d::new(1, 1, 1, Padding::Valid).unwrap();
        let y = forward(
            &op,
            &[
                (Shape::new(1, 4), vec![1.0f64, 2.0, 3.0, 4.0]),
                (Shape::new(2, 1), vec![1.0, 1.0]),
                (Shape::new(1, 1), vec![10.0]),
            ],
        );
        assert_eq!(y, vec![13.0, 15.0, 17.0]);
        // Same padding, kernel 3 (1 zero each side), two channels in, one out:
        // w taps (k, ci): (0,0)=1 (0,1)=0 (1,0)=0 (1,1)=2 (2,0)=0 (2,1)=0 → x[t−1][0] + 2·x[t][1].
        let op = Conv1d::new(2, 1, 1, Padding::Same).unwrap();
        let x = (Shape::new(1, 6), vec![1.0f64, 10.0, 2.0, 20.0, 3.0, 30.0]);
        let w = (Shape::new(6, 1), vec![1.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
        let b = (Shape::new(1, 1), vec![0.0]);
        assert_eq!(forward(&op, &[x, w, b]), vec![20.0, 41.0, 62.0]);
        // Stride 2, dilation 2, valid, on T = 7: taps at o·2 + {0, 2}: outputs at 0, 2, 4.
        let op = Conv1d::new(1, 2, 2, Padding::Valid).unwrap();
        let inputs = [
            (Shape::new(1, 7), vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
            (Shape::new(2, 1), vec![1.0, -1.0]),
            (Shape::new(1, 1), vec![0.0]),
        ];
        assert_eq!(forward(&op, &inputs), vec![-2.0, -2.0, -2.0]);
        // Backward by hand: G = (1, 2, 3) at outputs 0, 1, 2 reading x[0]−x[2], x[2]−x[4],
        // x[4]−x[6]; the bias gets ΣG, each tap Σ_o x[2o + 2k]·G[o].
        let g = [1.0, 2.0, 3.0];
        assert_eq!(backward(&op, &inputs, &g, 0), vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, -3.0]);
        assert_eq!(backward(&op, &inputs, &g, 1), vec![1.0 + 6.0 + 15.0, 3.0 + 10.0 + 21.0]);
        assert_eq!(backward(&op, &inputs, &g, 2), vec![6.0]);
    }

    #[test]
    fn matches_the_reference() {
        let cases = [
            // (B, T, CIN, COUT, K, S, D, same)
            (1, 5, 1, 1, 1, 1, 1, false),
            (2, 9, 3, 4, 3, 1, 1, false),
            (3, 10, 2, 3, 3, 2, 1, true),
            (2, 11, 2, 2, 4, 3, 2, true),
            (1, 12, 3, 2, 2, 1, 3, false),
            (2, 7, 1, 3, 5, 2, 1, true),
            (2, 4, 2, 2, 3, 1, 2, true), // span 5 > T: only "same" has an output
        ];
        for (i, &(batch, t, cin, cout, k, s, d, same)) in cases.iter().enumerate() {
            let pad = if same { Padding::Same } else { Padding::Valid };
            let op = Conv1d::new(cin, s, d, pad).unwrap();
            let [xs, ws, bs] = shapes(batch, t, cin, cout, k);
            let x = rand(i as u64, xs, -2.0, 2.0);
            let w = rand(50 + i as u64, ws, -1.0, 1.0);
            let b = rand(90 + i as u64, bs, -1.0, 1.0);
            let (tout, want) = reference(&x.1, &w.1, &b.1, batch, t, cin, cout, k, s, d, same);
            let shape = Op::<f64>::out_shape(&op, &[xs, ws, bs]).unwrap();
            assert_eq!(shape, Shape::new(batch, tout * cout), "case {i}");
            assert_close(&forward(&op, &[x, w, b]), &want, 1e-12);
        }
    }

    #[test]
    fn shape_errors() {
        let op = Conv1d::new(2, 1, 1, Padding::Valid).unwrap();
        let f = |s: &[Shape]| Op::<f32>::out_shape(&op, s);
        assert_eq!(f(&shapes(2, 5, 2, 3, 3)), Ok(Shape::new(2, 9)));
        // x not a whole number of frames.
        let [_, w, b] = shapes(2, 5, 2, 3, 3);
        assert_eq!(f(&[Shape::new(2, 9), w, b]), Err(Error::InvalidShape(Shape::new(2, 9))));
        // w rows not a multiple of CIN.
        let [x, _, b] = shapes(2, 5, 2, 3, 3);
        assert_eq!(f(&[x, Shape::new(5, 3), b]), Err(Error::InvalidShape(Shape::new(5, 3))));
        // Bias of the wrong width.
        assert_eq!(
            f(&[x, w, Shape::new(1, 2)]),
            Err(Error::ShapeMismatch {
                expected: Shape::new(1, 3),
                found: Shape::new(1, 2)
            })
        );
        // Kernel longer than the input (valid).
        let [x, w, b] = shapes(2, 2, 2, 3, 3);
        assert_eq!(f(&[x, w, b]), Err(Error::InvalidShape(x)));
        assert!(matches!(f(&[x, w]), Err(Error::Arity { expected: 3, found: 2 })));
        assert_eq!(Conv1d::new(0, 1, 1, Padding::Valid), Err(Error::InvalidArgument));
        assert_eq!(Conv1d::new(1, 0, 1, Padding::Valid), Err(Error::InvalidArgument));
        assert_eq!(Conv1d::new(1, 1, 70_000, Padding::Valid), Err(Error::InvalidArgument));
        // Mismatched views: the kernels do nothing rather than panic.
        let x = [1.0f32; 4];
        let views = [MatRef::new(&x, Shape::new(1, 4)).unwrap(); 3];
        let mut y = [7.0f32; 2];
        Op::<f32>::forward(&op, &views, MatMut::new(&mut y, Shape::new(1, 2)).unwrap());
        assert_eq!(y, [7.0; 2]);
    }

    #[test]
    fn typed_builder_and_spec() {
        type L = Conv1dSpec<8, 2, 3, 3, 2, 1, true>;
        assert_eq!((L::T_OUT, L::IN_COLS, L::WEIGHT_ROWS, L::OUT_COLS), (4, 16, 6, 12));
        assert_eq!(L::PARAMS, 21);
        let mut g: crate::StdGraph<f64, 8, 256> = crate::StdGraph::new();
        let x = g.placeholder::<2, 16>().unwrap();
        let w = g.placeholder::<6, 3>().unwrap();
        let b = g.placeholder::<1, 3>().unwrap();
        let y: Tensor<2, { L::OUT_COLS }> = g.conv1d(x, w, b, L::new()).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(2, 12)));
        // Defaults (stride 1, dilation 1, valid) with the sizes written in the path.
        let y2: Tensor<2, 18> = g.conv1d(x, w, b, Conv1dSpec::<8, 2, 3, 3>::new()).unwrap();
        assert_eq!(g.shape(y2.id()), Ok(Shape::new(2, 18)));
        // Too large a stride for the op's 16-bit fields: refused at run time, graph unchanged.
        let n = g.len();
        let r: Result<Tensor<2, 3>, _> = g.conv1d(x, w, b, Conv1dSpec::<8, 2, 3, 3, 70_000, 1, true>);
        assert_eq!(r, Err(Error::InvalidArgument));
        assert_eq!(g.len(), n);
    }

    #[test]
    fn gradient() {
        let cases = [
            (1, 4, 1, 1, 2, 1, 1, false),
            // (A bias's gradient is a sum of G: these shapes keep it away from 0, where the
            // difference quotient's rounding would dominate the relative error.)
            (2, 7, 2, 4, 3, 1, 1, false),
            (2, 9, 3, 2, 3, 2, 1, true),
            (3, 10, 2, 2, 3, 3, 2, true),
            (2, 8, 1, 2, 4, 1, 2, true),
        ];
        for (i, &(batch, t, cin, cout, k, s, d, same)) in cases.iter().enumerate() {
            let pad = if same { Padding::Same } else { Padding::Valid };
            let op = Conv1d::new(cin, s, d, pad).unwrap();
            let [xs, ws, bs] = shapes(batch, t, cin, cout, k);
            let inputs = [
                rand(i as u64, xs, -2.0, 2.0),
                rand(30 + i as u64, ws, -1.0, 1.0),
                rand(60 + i as u64, bs, -1.0, 1.0),
            ];
            grad_check(&op, &inputs);
            directional_check(&op, &inputs);
        }
    }
}
