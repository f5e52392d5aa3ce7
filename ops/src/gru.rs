//! `gru`: a gated recurrent unit layer unrolled over a fixed window of `T` steps, with
//! backpropagation through time — one op instead of hundreds of primitive nodes. Equations,
//! gate order and weights are PyTorch's `nn.GRU` (one layer, `batch_first = True`, `h_0 = 0`).
//!
//! **Equations.** For each step `t = 1..T`, with `σ` the logistic sigmoid and `⊙` the
//! element-wise product:
//!
//! ```text
//! r_t = σ(x_t W_ir + b_ir + h_(t−1) W_hr + b_hr)
//! z_t = σ(x_t W_iz + b_iz + h_(t−1) W_hz + b_hz)
//! n_t = tanh(x_t W_in + b_in + r_t ⊙ (h_(t−1) W_hn + b_hn))
//! h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_(t−1),        h_0 = 0
//! ```
//!
//! (the reset gate multiplies the hidden part of the candidate *after* its bias, as in
//! PyTorch and cuDNN).
//!
//! **Layout.** Three inputs (the graph's limit), the gates in PyTorch's order `r | z | n`:
//!
//! - `x`: `B × (T·C)`, time outer, features inner (column `t·C + c`; PyTorch's `(B, T, C)`);
//! - `w`: `(C + H) × 3H` — rows `0..C` are the input weights, rows `C..C+H` the hidden
//!   weights; column `g·H + j` is gate `g` (0 = r, 1 = z, 2 = n) of unit `j`;
//! - `b`: `2 × 3H` — row 0 the input bias `b_i`, row 1 the hidden bias `b_h`;
//!
//! and the output is the whole hidden sequence `h_1 … h_T`: `B × (T·H)` (PyTorch's `output`,
//! `(B, T, H)`). [`last_step`](crate::slice_cols::SliceColsExt::last_step) takes `h_T`.
//!
//! **PyTorch's weights** (`weight_ih_l0` `3H × C`, `weight_hh_l0` `3H × H`, `bias_ih_l0`,
//! `bias_hh_l0`, each `3H` with rows `r | z | n`) map as transposes:
//!
//! ```text
//! w[c][g·H + j]     = weight_ih_l0[g·H + j][c]      (c < C)
//! w[C + k][g·H + j] = weight_hh_l0[g·H + j][k]      (k < H)
//! b[0][g·H + j]     = bias_ih_l0[g·H + j]
//! b[1][g·H + j]     = bias_hh_l0[g·H + j]
//! ```
//!
//! **Gradients** (backpropagation through time). With `dh_t = G_t + ∂J/∂h_t` from step `t+1`
//! (0 after the last step), `a_i = x_t W_i + b_i`, `a_h = h_(t−1) W_h + b_h` and the gates
//! recomputed from `x_t` and `h_(t−1)` (read from the output), going backwards in time:
//!
//! ```text
//! dn = dh_t ⊙ (1 − z),   dz = dh_t ⊙ (h_(t−1) − n)
//! da_n = dn ⊙ (1 − n²),  da_z = dz ⊙ z(1 − z),  da_r = da_n ⊙ a_hn ⊙ r(1 − r)
//! ∂a_i = (da_r, da_z, da_n),   ∂a_h = (da_r, da_z, da_n ⊙ r)
//! ∂J/∂x_t += ∂a_i W_iᵀ,   ∂J/∂W_i += x_tᵀ ∂a_i,   ∂J/∂W_h += h_(t−1)ᵀ ∂a_h
//! ∂J/∂b_i += ∂a_i,        ∂J/∂b_h += ∂a_h
//! ∂J/∂h_(t−1) = dh_t ⊙ z + ∂a_h W_hᵀ
//! ```
//!
//! **Memory.** The op stores nothing beyond its output: the backward recomputes each step's
//! gates, one batch row at a time, in fixed-size stack arrays. `H` is therefore bounded by
//! [`GRU_MAX_HIDDEN`] (64); the kernels use at most `9·64` scalars of stack (2.3 KB in f32).
//! Each backward call (one per input that needs a gradient) runs the whole recurrence, so a
//! training step costs about one forward and two backward passes through time when `x` is data.
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::gru::GruSpec;
//! use embedgrad_ops::prelude::*;
//! type Layer = GruSpec<2, 1, 1>; // T = 2 steps, C = 1 feature, H = 1 unit
//! let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[5.0, -5.0]]))?;
//! // All weights 0: z = σ(0) = ½ and n = tanh(b_in) = tanh 1 at every step.
//! let w = g.variable(&Matrix::<f64, { Layer::WEIGHT_ROWS }, { Layer::GATES }>::zeros())?;
//! let b = g.variable(&Matrix::new([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))?;
//! let h: Tensor<1, { Layer::OUT_COLS }> = g.gru(x, w, b, Layer::new())?;
//! let h = g.eval(h)?;
//! let n = 1f64.tanh();
//! assert!((h.data[0][0] - 0.5 * n).abs() < 1e-15); // h_1 = ½·n + ½·0
//! assert!((h.data[0][1] - 0.75 * n).abs() < 1e-15); // h_2 = ½·n + ½·h_1
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// The largest hidden size `H` the op accepts (its kernels' stack arrays are this big).
pub const GRU_MAX_HIDDEN: usize = 64;

const G3: usize = 3 * GRU_MAX_HIDDEN;

/// A GRU layer over a window; all sizes come from the shapes of `x`, `w` and `b` (see the
/// [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gru;

/// Steps, features and hidden units.
#[derive(Clone, Copy, Debug)]
struct Geom {
    t: usize,
    c: usize,
    h: usize,
}

fn geom(x: Shape, w: Shape, b: Shape) -> Result<Geom, Error> {
    if w.cols == 0 || !w.cols.is_multiple_of(3) {
        return Err(Error::InvalidShape(w));
    }
    let h = w.cols / 3;
    if h > GRU_MAX_HIDDEN {
        return Err(Error::InvalidArgument);
    }
    if w.rows <= h {
        return Err(Error::InvalidShape(w));
    }
    let c = w.rows - h;
    if b != Shape::new(2, w.cols) {
        return Err(Error::ShapeMismatch {
            expected: Shape::new(2, w.cols),
            found: b,
        });
    }
    if x.cols == 0 || !x.cols.is_multiple_of(c) {
        return Err(Error::InvalidShape(x));
    }
    Ok(Geom {
        t: x.cols / c.max(1),
        c,
        h,
    })
}

fn geom_of<T>(x: &[MatRef<'_, T>]) -> Option<Geom> {
    match x {
        [x, w, b] => geom(x.shape(), w.shape(), b.shape()).ok(),
        _ => None,
    }
}

#[inline]
fn sigmoid<T: Scalar>(v: T) -> T {
    T::ONE / (T::ONE + (-v).exp())
}

/// `ai = x_t W_i + b_i` and `ah = h_(t−1) W_h + b_h` (each `3H`).
#[inline]
fn preact<T: Scalar>(
    xt: &[T],
    hp: &[T],
    w: &MatRef<'_, T>,
    b: &MatRef<'_, T>,
    ai: &mut [T],
    ah: &mut [T],
) {
    let mut brows = b.row_iter();
    let (Some(bi), Some(bh)) = (brows.next(), brows.next()) else {
        return;
    };
    for (a, &v) in ai.iter_mut().zip(bi) {
        *a = v;
    }
    for (a, &v) in ah.iter_mut().zip(bh) {
        *a = v;
    }
    let mut wrows = w.row_iter();
    for (&xv, wrow) in xt.iter().zip(wrows.by_ref()) {
        for (a, &wv) in ai.iter_mut().zip(wrow) {
            *a += xv * wv;
        }
    }
    for (&hv, wrow) in hp.iter().zip(wrows) {
        for (a, &wv) in ah.iter_mut().zip(wrow) {
            *a += hv * wv;
        }
    }
}

/// The gates of unit `j` from the pre-activations: `(r, z, n, a_hn)`.
#[inline]
fn gates<T: Scalar>(ai: &[T], ah: &[T], h: usize, j: usize) -> Option<(T, T, T, T)> {
    let (&ir, &iz, &in_) = (ai.get(j)?, ai.get(h + j)?, ai.get(2 * h + j)?);
    let (&hr, &hz, &hn) = (ah.get(j)?, ah.get(h + j)?, ah.get(2 * h + j)?);
    let r = sigmoid(ir + hr);
    let z = sigmoid(iz + hz);
    let n = (in_ + r * hn).tanh();
    Some((r, z, n, hn))
}

impl<T: Scalar> Op<T> for Gru {
    fn name(&self) -> &'static str {
        "gru"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 3)?;
        let [x, w, b] = s else {
            return Err(Error::InvalidArgument);
        };
        let g = geom(*x, *w, *b)?;
        let cols = g.t.checked_mul(g.h).ok_or(Error::InvalidShape(*x))?;
        Ok(Shape::new(x.rows, cols))
    }
    fn forward(&self, inputs: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let (Some(Geom { c, h, .. }), [x, w, b]) = (geom_of(inputs), inputs) else {
            return;
        };
        let mut ai = [T::ZERO; G3];
        let mut ah = [T::ZERO; G3];
        let (Some(ai), Some(ah)) = (ai.get_mut(..3 * h), ah.get_mut(..3 * h)) else {
            return;
        };
        for (xrow, yrow) in x.row_iter().zip(y.row_iter_mut()) {
            let mut hbuf = [T::ZERO; GRU_MAX_HIDDEN];
            let Some(hp) = hbuf.get_mut(..h) else { return };
            for (xt, yt) in xrow.exact_rows(c.max(1)).zip(yrow.exact_rows_mut(h.max(1))) {
                preact(xt, hp, w, b, ai, ah);
                for (j, (yv, &hpj)) in yt.iter_mut().zip(hp.iter()).enumerate() {
                    let Some((_, z, n, _)) = gates(ai, ah, h, j) else {
                        continue;
                    };
                    *yv = (T::ONE - z) * n + z * hpj;
                }
                for (p, &v) in hp.iter_mut().zip(yt.iter()) {
                    *p = v;
                }
            }
        }
    }
    fn backward(
        &self,
        index: usize,
        inputs: &[MatRef<'_, T>],
        y: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        let (Some(Geom { t: steps, c, h }), [x, w, b]) = (geom_of(inputs), inputs) else {
            return;
        };
        let zeros = [T::ZERO; GRU_MAX_HIDDEN];
        let mut ai = [T::ZERO; G3];
        let mut ah = [T::ZERO; G3];
        let (Some(ai), Some(ah), Some(h0)) =
            (ai.get_mut(..3 * h), ah.get_mut(..3 * h), zeros.get(..h))
        else {
            return;
        };
        let xcols = x.cols();
        let rows = x.row_iter().zip(y.row_iter()).zip(g.row_iter());
        for (row, ((xrow, yrow), grow)) in rows.enumerate() {
            // ∂J/∂h_t from the steps after t (0 after the last).
            let mut dh = [T::ZERO; GRU_MAX_HIDDEN];
            for t in (0..steps).rev() {
                let xt = xrow.get(t * c..(t + 1) * c);
                let hp = match t {
                    0 => Some(h0),
                    _ => yrow.get((t - 1) * h..t * h),
                };
                let (Some(xt), Some(hp), Some(gt)) = (xt, hp, grow.get(t * h..(t + 1) * h)) else {
                    return;
                };
                preact(xt, hp, w, b, ai, ah);
                // The gates' gradients, written over the pre-activations they came from.
                let mut dprev = [T::ZERO; GRU_MAX_HIDDEN];
                let units = gt.iter().zip(hp).zip(dh.iter()).zip(dprev.iter_mut());
                for (j, (((&gj, &hpj), &dhj), dp)) in units.enumerate() {
                    let Some((r, z, n, hn)) = gates(ai, ah, h, j) else {
                        continue;
                    };
                    let d = gj + dhj;
                    let dn = d * (T::ONE - z);
                    let dz = d * (hpj - n);
                    let dan = dn * (T::ONE - n * n);
                    let dar = dan * hn * r * (T::ONE - r);
                    let daz = dz * z * (T::ONE - z);
                    for (k, v) in [(j, dar), (h + j, daz), (2 * h + j, dan)] {
                        if let Some(a) = ai.get_mut(k) {
                            *a = v;
                        }
                    }
                    for (k, v) in [(j, dar), (h + j, daz), (2 * h + j, dan * r)] {
                        if let Some(a) = ah.get_mut(k) {
                            *a = v;
                        }
                    }
                    *dp = d * z;
                }
                let (dai, dah) = (&*ai, &*ah);
                match index {
                    0 => {
                        let at = row * xcols + t * c;
                        if let Some(dxt) = dx.as_mut_slice().get_mut(at..at + c) {
                            for (d, wrow) in dxt.iter_mut().zip(w.row_iter()) {
                                *d += dot(dai, wrow);
                            }
                        }
                    }
                    1 => {
                        let mut dw = dx.row_iter_mut();
                        for (&xv, drow) in xt.iter().zip(dw.by_ref()) {
                            for (d, &a) in drow.iter_mut().zip(dai) {
                                *d += xv * a;
                            }
                        }
                        for (&hv, drow) in hp.iter().zip(dw) {
                            for (d, &a) in drow.iter_mut().zip(dah) {
                                *d += hv * a;
                            }
                        }
                    }
                    _ => {
                        for (drow, da) in dx.row_iter_mut().zip([dai, dah]) {
                            for (d, &a) in drow.iter_mut().zip(da) {
                                *d += a;
                            }
                        }
                    }
                }
                // ∂J/∂h_(t−1) = dh ⊙ z + ∂a_h W_hᵀ.
                for (dp, wrow) in dprev.iter_mut().zip(w.row_iter().skip(c)) {
                    *dp += dot(dah, wrow);
                }
                dh = dprev;
            }
        }
    }
}

#[inline]
fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let mut acc = T::ZERO;
    for (&x, &y) in a.iter().zip(b) {
        acc += x * y;
    }
    acc
}

/// The sizes of a [`Gru`] layer as const generics — `T` steps of `C` features, `H` hidden
/// units — with its exact shapes as constants. A zero-sized value for [`GruExt::gru`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GruSpec<const T: usize, const C: usize, const H: usize>;

impl<const T: usize, const C: usize, const H: usize> GruSpec<T, C, H> {
    /// Columns of the input: `T·C`.
    pub const IN_COLS: usize = T * C;
    /// Rows of the weight: `C + H`.
    pub const WEIGHT_ROWS: usize = C + H;
    /// Columns of the weight and the bias: `3H`.
    pub const GATES: usize = 3 * H;
    /// Columns of the output: `T·H`.
    pub const OUT_COLS: usize = T * H;
    /// Trainable parameters: `3H·(C + H) + 6H`.
    pub const PARAMS: usize = 3 * H * (C + H) + 6 * H;

    /// The spec (a zero-sized value).
    pub const fn new() -> Self {
        Self
    }
}

/// Builder for [`Gru`].
pub trait GruExt<T> {
    /// The hidden sequence of a GRU over `x` (`B × (T·C)`) with weights `w`
    /// (`(C + H) × 3H`) and biases `b` (`2 × 3H`): `B × (T·H)`. Every shape, and
    /// `H ≤ GRU_MAX_HIDDEN`, is checked at compile time.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn gru<
        const B: usize,
        const XC: usize,
        const WR: usize,
        const G: usize,
        const YC: usize,
        const TT: usize,
        const C: usize,
        const H: usize,
    >(
        &mut self,
        x: Tensor<B, XC>,
        w: Tensor<WR, G>,
        b: Tensor<2, G>,
        spec: GruSpec<TT, C, H>,
    ) -> Result<Tensor<B, YC>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> GruExt<T>
    for Graph<T, O, N, S>
{
    fn gru<
        const B: usize,
        const XC: usize,
        const WR: usize,
        const G: usize,
        const YC: usize,
        const TT: usize,
        const C: usize,
        const H: usize,
    >(
        &mut self,
        x: Tensor<B, XC>,
        w: Tensor<WR, G>,
        b: Tensor<2, G>,
        _: GruSpec<TT, C, H>,
    ) -> Result<Tensor<B, YC>, Error> {
        const {
            assert!(TT > 0 && C > 0 && H > 0, "gru: T, C and H must be > 0");
            assert!(H <= GRU_MAX_HIDDEN, "gru: H must be ≤ GRU_MAX_HIDDEN (64)");
            assert!(XC == TT * C, "gru: x must be B × (T·C)");
            assert!(WR == C + H && G == 3 * H, "gru: w must be (C + H) × 3H");
            assert!(YC == TT * H, "gru: the output must be B × (T·H)");
        };
        self.op(StdOp::from(Gru).into(), &[x.id(), w.id(), b.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn sig(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    /// PyTorch's nn.GRU, written out with its own weight layout: `wih` `3H × C`, `whh`
    /// `3H × H`, `bih`, `bhh` `3H`, rows r | z | n. Returns the `(B, T, H)` output.
    #[allow(clippy::too_many_arguments)]
    fn torch_gru(
        x: &[f64],
        wih: &[f64],
        whh: &[f64],
        bih: &[f64],
        bhh: &[f64],
        batch: usize,
        t: usize,
        c: usize,
        h: usize,
    ) -> Vec<f64> {
        let mut out = vec![0.0; batch * t * h];
        for bi in 0..batch {
            let mut hp = vec![0.0; h];
            for ti in 0..t {
                let xt = &x[(bi * t + ti) * c..(bi * t + ti + 1) * c];
                let lin = |gate: usize, j: usize| -> (f64, f64) {
                    let row = gate * h + j;
                    let a: f64 = bih[row] + (0..c).map(|k| wih[row * c + k] * xt[k]).sum::<f64>();
                    let b: f64 = bhh[row] + (0..h).map(|k| whh[row * h + k] * hp[k]).sum::<f64>();
                    (a, b)
                };
                let mut hn = vec![0.0; h];
                for j in 0..h {
                    let (ar, br) = lin(0, j);
                    let (az, bz) = lin(1, j);
                    let (an, bn) = lin(2, j);
                    let r = sig(ar + br);
                    let z = sig(az + bz);
                    let n = (an + r * bn).tanh();
                    hn[j] = (1.0 - z) * n + z * hp[j];
                }
                out[(bi * t + ti) * h..(bi * t + ti + 1) * h].copy_from(&hn);
                hp = hn;
            }
        }
        out
    }

    /// PyTorch's four tensors → this op's `w` and `b` (the mapping of the module docs).
    fn from_torch(wih: &[f64], whh: &[f64], bih: &[f64], bhh: &[f64], c: usize, h: usize) -> (Vec<f64>, Vec<f64>) {
        let mut w = vec![0.0; (c + h) * 3 * h];
        for row in 0..3 * h {
            for k in 0..c {
                w[k * 3 * h + row] = wih[row * c + k];
            }
            for k in 0..h {
                w[(c + k) * 3 * h + row] = whh[row * h + k];
            }
        }
        (w, [bih, bhh].concat())
    }

    #[test]
    fn literal_one_unit() {
        // H = 1, C = 1, T = 1: r = σ(1·2 + 0.5), z = σ(−1·2), n = tanh(0.5·2 + r·0.25).
        let w = vec![1.0, -1.0, 0.5, 0.0, 0.0, 0.0]; // rows: input, hidden
        let b = vec![0.5, 0.0, 0.0, 0.0, 0.0, 0.25];
        let y = forward(
            &Gru,
            &[(Shape::new(1, 1), vec![2.0]), (Shape::new(2, 3), w), (Shape::new(2, 3), b)],
        );
        let r = sig(2.5);
        let z = sig(-2.0);
        let n = (1.0 + r * 0.25).tanh();
        assert_close(&y, &[(1.0 - z) * n], 1e-15);
    }

    #[test]
    fn matches_pytorchs_equations() {
        for (i, &(batch, t, c, h)) in [(1, 1, 1, 1), (2, 4, 3, 2), (3, 6, 2, 5), (1, 3, 4, 8)].iter().enumerate() {
            let s = 10 * i as u64;
            let x = rand(s, Shape::new(batch, t * c), -2.0, 2.0).1;
            let wih = rand(s + 1, Shape::new(3 * h, c), -1.0, 1.0).1;
            let whh = rand(s + 2, Shape::new(3 * h, h), -1.0, 1.0).1;
            let bih = rand(s + 3, Shape::new(1, 3 * h), -1.0, 1.0).1;
            let bhh = rand(s + 4, Shape::new(1, 3 * h), -1.0, 1.0).1;
            let want = torch_gru(&x, &wih, &whh, &bih, &bhh, batch, t, c, h);
            let (w, b) = from_torch(&wih, &whh, &bih, &bhh, c, h);
            let y = forward(
                &Gru,
                &[
                    (Shape::new(batch, t * c), x),
                    (Shape::new(c + h, 3 * h), w),
                    (Shape::new(2, 3 * h), b),
                ],
            );
            assert_close(&y, &want, 1e-14);
        }
    }

    #[test]
    fn shapes_and_builder() {
        let f = |x, w, b| Op::<f32>::out_shape(&Gru, &[x, w, b]);
        let s = Shape::new;
        assert_eq!(f(s(4, 12), s(5, 6), s(2, 6)), Ok(s(4, 8))); // T 4, C 3, H 2
        assert_eq!(f(s(4, 12), s(5, 7), s(2, 7)), Err(Error::InvalidShape(s(5, 7))));
        assert_eq!(f(s(4, 12), s(2, 6), s(2, 6)), Err(Error::InvalidShape(s(2, 6)))); // C = 0
        assert_eq!(f(s(4, 13), s(5, 6), s(2, 6)), Err(Error::InvalidShape(s(4, 13))));
        assert_eq!(
            f(s(4, 12), s(5, 6), s(1, 6)),
            Err(Error::ShapeMismatch {
                expected: s(2, 6),
                found: s(1, 6)
            })
        );
        // H = 65 > GRU_MAX_HIDDEN.
        assert_eq!(f(s(1, 2), s(67, 195), s(2, 195)), Err(Error::InvalidArgument));
        assert!(f(s(1, 2), s(66, 192), s(2, 192)).is_ok());
        assert!(matches!(
            Op::<f32>::out_shape(&Gru, &[s(1, 1)]),
            Err(Error::Arity { expected: 3, found: 1 })
        ));

        type L = GruSpec<6, 3, 4>;
        assert_eq!((L::IN_COLS, L::WEIGHT_ROWS, L::GATES, L::OUT_COLS), (18, 7, 12, 24));
        assert_eq!(L::PARAMS, 12 * 7 + 24);
        let mut g: crate::StdGraph<f64, 8, 256> = crate::StdGraph::new();
        let x = g.placeholder::<2, { L::IN_COLS }>().unwrap();
        let w = g.placeholder::<{ L::WEIGHT_ROWS }, { L::GATES }>().unwrap();
        let b = g.placeholder::<2, { L::GATES }>().unwrap();
        let h: Tensor<2, { L::OUT_COLS }> = g.gru(x, w, b, L::new()).unwrap();
        let last: Tensor<2, 4> = crate::slice_cols::SliceColsExt::last_step(&mut g, h).unwrap();
        assert_eq!(g.shape(last.id()), Ok(Shape::new(2, 4)));
    }

    #[test]
    fn gradient() {
        for (i, &(batch, t, c, h)) in
            [(1, 1, 1, 1), (2, 3, 2, 2), (1, 5, 3, 4), (3, 4, 1, 3), (2, 6, 2, 5)].iter().enumerate()
        {
            let s = 7 * i as u64;
            grad_check(
                &Gru,
                &[
                    rand(s, Shape::new(batch, t * c), -2.0, 2.0),
                    rand(s + 1, Shape::new(c + h, 3 * h), -1.0, 1.0),
                    rand(s + 2, Shape::new(2, 3 * h), -1.0, 1.0),
                ],
            );
            directional_check(
                &Gru,
                &[
                    rand(s, Shape::new(batch, t * c), -2.0, 2.0),
                    rand(s + 1, Shape::new(c + h, 3 * h), -1.0, 1.0),
                    rand(s + 2, Shape::new(2, 3 * h), -1.0, 1.0),
                ],
            );
        }
    }

    #[test]
    fn largest_hidden_size_runs() {
        // H = 64 (the stack arrays' size): forward and every backward agree with the reference.
        let (batch, t, c, h) = (1, 3, 2, GRU_MAX_HIDDEN);
        let x = rand(1, Shape::new(batch, t * c), -1.0, 1.0).1;
        let wih = rand(2, Shape::new(3 * h, c), -0.3, 0.3).1;
        let whh = rand(3, Shape::new(3 * h, h), -0.3, 0.3).1;
        let bih = rand(4, Shape::new(1, 3 * h), -0.3, 0.3).1;
        let bhh = rand(5, Shape::new(1, 3 * h), -0.3, 0.3).1;
        let (w, b) = from_torch(&wih, &whh, &bih, &bhh, c, h);
        let inputs = [
            (Shape::new(batch, t * c), x.clone()),
            (Shape::new(c + h, 3 * h), w),
            (Shape::new(2, 3 * h), b),
        ];
        let want = torch_gru(&x, &wih, &whh, &bih, &bhh, batch, t, c, h);
        assert_close(&forward(&Gru, &inputs), &want, 1e-13);
        // Many entries of the gradient are tiny here, where an entry-wise difference quotient
        // is all rounding: check directional derivatives instead.
        directional_check(&Gru, &inputs);
    }
}
