//! The seed examples written by hand: no graph, no embedgrad code, plain loops.
//!
//! This is the benchmark's yardstick and the tests' independent float64 reference. It follows
//! SEED-EXAMPLES.md directly — its own SplitMix64, Irwin–Hall normal, data generators and
//! parameter draw order — so it shares nothing with the code it checks but the specification.
//!
//! As the yardstick it is the fastest step we know how to write for these networks on a
//! desktop, with the same libm math as the graph: the bias starts the sums; the sigmoid's
//! derivative is `a(1 − a)` from the kept output; softmax and cross-entropy are one step,
//! `p − c`, with the max shift, one `exp` per non-maximal logit and one `ln` per sample
//! (`e⁰` is never computed); each weight is updated as soon as its gradient is summed (no
//! gradient buffers); and it is the *batch* form — a layer at a time over the whole batch,
//! activations held feature by feature, so that the inner loops run over independent samples
//! and vectorise — with no bounds checks in them (iterators and exact chunks, no `unsafe`).
#![allow(dead_code)] // each test crate that includes this file uses a different part of it

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

/// `f32` or `f64`, with the math of the `libm` crate: the library embedgrad uses by default,
/// so that the benchmark compares the graph with a hand-written step, not two math libraries.
pub trait Real:
    Copy
    + PartialOrd
    + Debug
    + Display
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
{
    const ZERO: Self;
    const ONE: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

macro_rules! real {
    ($t:ty, $exp:path, $ln:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn exp(self) -> Self {
                $exp(self)
            }
            fn ln(self) -> Self {
                $ln(self)
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
real!(f32, libm::expf, libm::logf);
real!(f64, libm::exp, libm::log);

/// The specification's SplitMix64.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    pub fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.uniform();
        }
        s - 6.0
    }
}

/// One example of the specification's table.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub seed: u64,
    pub layers: &'static [usize],
    pub learning_rate: f64,
    pub steps: usize,
}

pub const PERCEPTRON: Spec = Spec {
    name: "perceptron",
    seed: 1,
    layers: &[2, 2],
    learning_rate: 0.01,
    steps: 100,
};
pub const MLP_XOR: Spec = Spec {
    name: "mlp_xor",
    seed: 2,
    layers: &[2, 2, 2],
    learning_rate: 0.03,
    steps: 1000,
};
pub const SPIRAL_DEEP: Spec = Spec {
    name: "spiral_deep",
    seed: 3,
    layers: &[2, 16, 16, 16, 2],
    learning_rate: 0.005,
    steps: 6000,
};
pub const SPECS: [Spec; 3] = [PERCEPTRON, MLP_XOR, SPIRAL_DEEP];

/// The data set in the rows of `X = [class-0 rows; class-1 rows]`, and the generator,
/// positioned to draw the parameters.
pub fn data(spec: &Spec) -> (Vec<[f64; 2]>, Vec<u8>, SplitMix64) {
    let mut rng = SplitMix64(spec.seed);
    let mut class0 = Vec::new();
    let mut class1 = Vec::new();
    match spec.name {
        "perceptron" => {
            // red (class 1) first, then blue (class 0)
            for _ in 0..50 {
                let x = rng.normal() - 2.0;
                let y = rng.normal() - 2.0;
                class1.push([x, y]);
            }
            for _ in 0..50 {
                let x = rng.normal() + 2.0;
                let y = rng.normal() + 2.0;
                class0.push([x, y]);
            }
        }
        "mlp_xor" => {
            for (cx, cy, red) in [
                (0.0, 0.0, true),
                (1.0, 1.0, true),
                (0.0, 1.0, false),
                (1.0, 0.0, false),
            ] {
                for _ in 0..25 {
                    let x = 0.2 * rng.normal() + cx;
                    let y = 0.2 * rng.normal() + cy;
                    if red {
                        class1.push([x, y]);
                    } else {
                        class0.push([x, y]);
                    }
                }
            }
        }
        _ => {
            let cos = f64::from_bits(0x3FEF_DBA4_C3E3_935C);
            let sin = f64::from_bits(0x3FB8_177B_7FFC_17EF);
            for arm in 0..2 {
                let sgn = if arm == 0 { 1.0 } else { -1.0 };
                let (mut dx, mut dy) = (1.0f64, 0.0f64);
                for i in 0..100 {
                    let nx = rng.normal();
                    let ny = rng.normal();
                    let r = (i + 1) as f64 / 100.0;
                    let p = [sgn * (r * dx) + 0.02 * nx, sgn * (r * dy) + 0.02 * ny];
                    if arm == 0 {
                        class0.push(p);
                    } else {
                        class1.push(p);
                    }
                    (dx, dy) = (cos * dx - sin * dy, sin * dx + cos * dy);
                }
            }
        }
    }
    let labels = [vec![0u8; class0.len()], vec![1u8; class1.len()]].concat();
    class0.extend(class1);
    (class0, labels, rng)
}

/// FNV-1a 64 over little-endian bytes.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Samples whose partial sums are kept side by side in registers: the batch loops run over
/// blocks of this many samples, which the compiler turns into vector instructions.
const LANES: usize = 8;

/// `Σ lanes`, pairwise.
#[inline(always)]
fn lane_sum<T: Real>(v: [T; LANES]) -> T {
    let [a, b, c, d, e, f, g, h] = v;
    ((a + e) + (c + g)) + ((b + f) + (d + h))
}

/// `Σ_s a[s] · b[s]`, `LANES` partial sums at a time.
#[inline(always)]
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let ((ca, ta), (cb, tb)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
    let mut acc = [T::ZERO; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let mut s = lane_sum(acc);
    for (&x, &y) in ta.iter().zip(tb) {
        s += x * y;
    }
    s
}

/// Dot products sharing their first factor that [`descend_dots`] computes together.
const DOTS: usize = 4;

/// `out_j −= lr Σ_s a[s] · b_j[s]` for the rows `b_j` of `b` (`n` samples each): `DOTS` rows
/// at a time, so that each block of `a` is loaded once for all of them.
#[inline(always)]
fn descend_dots<T: Real>(lr: T, a: &[T], b: &[T], n: usize, out: &mut [T]) {
    let (ca, ta) = a.as_chunks::<LANES>();
    let mut rows = b.chunks_exact(n);
    let mut blocks = out.chunks_exact_mut(DOTS);
    for ob in &mut blocks {
        let mut r: [&[T]; DOTS] = [&[]; DOTS];
        for r in r.iter_mut() {
            *r = rows.next().unwrap_or(&[]);
        }
        let cr = r.map(|r| r.as_chunks::<LANES>());
        let mut acc = [[T::ZERO; LANES]; DOTS];
        for (c, x) in ca.iter().enumerate() {
            for (acc, (cr, _)) in acc.iter_mut().zip(&cr) {
                if let Some(y) = cr.get(c) {
                    for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
                        *s += x * y;
                    }
                }
            }
        }
        for ((o, acc), (_, tr)) in ob.iter_mut().zip(acc).zip(&cr) {
            let mut s = lane_sum(acc);
            for (&x, &y) in ta.iter().zip(*tr) {
                s += x * y;
            }
            *o -= lr * s;
        }
    }
    for (o, row) in blocks.into_remainder().iter_mut().zip(rows) {
        *o -= lr * dot(a, row);
    }
}

/// `Σ_s a[s]`, `LANES` partial sums at a time.
#[inline(always)]
fn sum<T: Real>(a: &[T]) -> T {
    let (ca, ta) = a.as_chunks::<LANES>();
    let mut acc = [T::ZERO; LANES];
    for x in ca {
        for (s, &x) in acc.iter_mut().zip(x) {
            *s += x;
        }
    }
    let mut s = lane_sum(acc);
    for &x in ta {
        s += x;
    }
    s
}

/// `out[s] = init + Σ_k coef_k · rows_k[s]` for every sample `s`, where `rows` holds the
/// rows `rows_k` (`n` samples each) one after the other: four rows per pass over `out`, each
/// pass a loop over samples (in order: the sums are those of the plain loop over `k`).
#[inline(always)]
fn combine<T: Real>(
    init: T,
    mut coefs: impl Iterator<Item = T>,
    rows: &[T],
    n: usize,
    out: &mut [T],
) {
    out.fill(init);
    let mut quads = rows.chunks_exact(4 * n);
    for quad in &mut quads {
        let mut r = quad.chunks_exact(n);
        let (Some(r0), Some(r1), Some(r2), Some(r3)) = (r.next(), r.next(), r.next(), r.next())
        else {
            break;
        };
        let mut w = [T::ZERO; 4];
        for w in w.iter_mut() {
            *w = coefs.next().unwrap_or(T::ZERO);
        }
        let [w0, w1, w2, w3] = w;
        for ((((o, &x0), &x1), &x2), &x3) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
            *o = *o + w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3;
        }
    }
    for (w, row) in coefs.zip(quads.remainder().chunks_exact(n)) {
        for (o, &x) in out.iter_mut().zip(row) {
            *o += w * x;
        }
    }
}

/// The network and its training state, all buffers allocated once.
///
/// The batch form: a layer at a time over the whole batch, every activation and gradient held
/// feature by feature (`width × n`, row `j` = feature `j` of every sample), so that the inner
/// loops run over samples, which are independent, and vectorise.
pub struct Mlp<T> {
    pub layers: Vec<usize>,
    /// `W` of each layer, fan_in × fan_out, row-major (the graph's layout).
    pub w: Vec<Vec<T>>,
    /// `b` of each layer.
    pub b: Vec<Vec<T>>,
    pub lr: T,
    pub n: usize,
    /// `acts[0]` = Xᵀ; `acts[l]` = output of layer `l` (hidden: σ(z), last: softmax p), each
    /// `width × n`.
    acts: Vec<Vec<T>>,
    /// The one-hot targets, `classes × n`.
    c: Vec<T>,
    pub labels: Vec<u8>,
    /// ∂J/∂z of the layer being differentiated (`width × n`), and of the one below it.
    delta: Vec<T>,
    delta_prev: Vec<T>,
    /// Per sample: the largest logit, its class, `Σ_j e^(z_j − max)` (then its inverse), and
    /// `Σ_j c_j (z_j − max)`.
    max: Vec<T>,
    top: Vec<usize>,
    total: Vec<T>,
    target: Vec<T>,
}

impl<T: Real> Mlp<T> {
    /// Draws the data and the initial parameters of `spec`, rounded to `T`.
    pub fn new(spec: &Spec) -> Self {
        let (x, labels, mut rng) = data(spec);
        let n = x.len();
        let layers = spec.layers.to_vec();
        let (mut w, mut b) = (Vec::new(), Vec::new());
        for pair in layers.windows(2) {
            let (fi, fo) = (pair[0], pair[1]);
            w.push(
                (0..fi * fo)
                    .map(|_| T::from_f64(rng.normal() * 1.0))
                    .collect(),
            );
            b.push((0..fo).map(|_| T::from_f64(rng.normal() * 1.0)).collect());
        }
        let inputs = layers[0];
        let mut acts = vec![(0..inputs)
            .flat_map(|k| x.iter().map(move |p| T::from_f64(p[k])))
            .collect()];
        for &width in &layers[1..] {
            acts.push(vec![T::ZERO; width * n]);
        }
        let k = *layers.last().unwrap_or(&2);
        let c = (0..k)
            .flat_map(|j| {
                labels
                    .iter()
                    .map(move |&l| if j == l as usize { T::ONE } else { T::ZERO })
            })
            .collect();
        let widest = layers.iter().copied().max().unwrap_or(2);
        Self {
            layers,
            w,
            b,
            lr: T::from_f64(spec.learning_rate),
            n,
            acts,
            c,
            labels,
            delta: vec![T::ZERO; widest * n],
            delta_prev: vec![T::ZERO; widest * n],
            max: vec![T::ZERO; n],
            top: vec![0; n],
            total: vec![T::ZERO; n],
            target: vec![T::ZERO; n],
        }
    }

    /// The forward pass; returns the summed cross-entropy `−Σ c log p` (as log-sum-exp).
    /// Leaves the probabilities in the last layer's output and `p − c` (∂J/∂z of the logits)
    /// in `delta`.
    pub fn forward(&mut self) -> T {
        let depth = self.w.len();
        let n = self.n;
        for l in 0..depth {
            let fo = self.layers[l + 1];
            let (done, rest) = self.acts.split_at_mut(l + 1);
            let input = &done[l];
            let out = &mut rest[0];
            let w = &self.w[l];
            for (j, (orow, &bj)) in out.chunks_exact_mut(n).zip(&self.b[l]).enumerate() {
                // z_j = b_j + Σ_k a_k W[k][j]: the bias starts the sums
                combine(bj, w.iter().skip(j).step_by(fo).copied(), input, n, orow);
                if l + 1 < depth {
                    // σ(z) = 1 / (1 + e^(−z)): the exps first (a call each), then the
                    // divisions, which vectorise once they are a loop of their own
                    for v in orow.iter_mut() {
                        *v = (-*v).exp();
                    }
                    for v in orow.iter_mut() {
                        *v = T::ONE / (T::ONE + *v);
                    }
                }
            }
        }
        self.softmax_cross_entropy()
    }

    /// Softmax and cross-entropy in one: the logits (the last layer's output) become `p`,
    /// `delta` becomes `p − c`; returns `Σ_s (ln Σ_j e^(z_j − m) − (z_label − m))` with `m` the
    /// row maximum, whose `e⁰ = 1` is not computed: one `exp` per other logit, one `ln` per
    /// sample.
    fn softmax_cross_entropy(&mut self) -> T {
        let n = self.n;
        let Some(z) = self.acts.last_mut() else {
            return T::ZERO;
        };
        let (max, top) = (&mut self.max, &mut self.top);
        let mut rows = z.chunks_exact(n);
        if let Some(first) = rows.next() {
            max.copy_from_slice(first);
        }
        top.fill(0);
        for (j, zj) in (1..).zip(rows) {
            for ((m, t), &v) in max.iter_mut().zip(top.iter_mut()).zip(zj) {
                if v > *m {
                    *m = v;
                    *t = j;
                }
            }
        }
        let (total, target) = (&mut self.total, &mut self.target);
        total.fill(T::ONE);
        target.fill(T::ZERO);
        for (j, (zj, cj)) in z
            .chunks_exact_mut(n)
            .zip(self.c.chunks_exact(n))
            .enumerate()
        {
            let per_sample = zj.iter_mut().zip(cj).zip(max.iter().zip(top.iter()));
            for (((v, &c), (&m, &t)), (s, zc)) in
                per_sample.zip(total.iter_mut().zip(target.iter_mut()))
            {
                let d = *v - m;
                *zc += c * d;
                *v = if t == j {
                    T::ONE
                } else {
                    let e = d.exp();
                    *s += e;
                    e
                };
            }
        }
        // −Σ_j c_j log p_j = ln Σ − Σ_j c_j (z_j − m) for a one-hot c
        let mut loss = T::ZERO;
        for (s, &zc) in total.iter_mut().zip(target.iter()) {
            loss += s.ln() - zc;
            *s = T::ONE / *s;
        }
        let total = &self.total;
        let rows = z.chunks_exact_mut(n).zip(self.c.chunks_exact(n));
        for ((zj, cj), dj) in rows.zip(self.delta.chunks_exact_mut(n)) {
            for (((p, &c), d), &inv) in zj.iter_mut().zip(cj).zip(dj).zip(total.iter()) {
                *p = *p * inv;
                *d = *p - c;
            }
        }
        loss
    }

    /// One training step: forward, backward, update. Returns the loss before the update.
    pub fn step(&mut self) -> T {
        let loss = self.forward();
        let depth = self.w.len();
        let n = self.n;
        let lr = self.lr;
        for l in (0..depth).rev() {
            let fo = self.layers[l + 1];
            let input = &self.acts[l];
            let delta = &self.delta[..fo * n];
            let mut prev = self.delta_prev.chunks_exact_mut(n);
            for (wrow, ak) in self.w[l].chunks_exact_mut(fo).zip(input.chunks_exact(n)) {
                if l > 0 {
                    if let Some(dp) = prev.next() {
                        // δ_prev = (δ Wᵀ) ⊙ a (1 − a), with the weights before their update
                        combine(T::ZERO, wrow.iter().copied(), delta, n, dp);
                        for (d, &a) in dp.iter_mut().zip(ak) {
                            *d = *d * a * (T::ONE - a);
                        }
                    }
                }
                // W[k][j] −= lr Σ_s a_k[s] δ_j[s]
                descend_dots(lr, ak, delta, n, wrow);
            }
            for (bv, dj) in self.b[l].iter_mut().zip(delta.chunks_exact(n)) {
                *bv -= lr * sum(dj);
            }
            std::mem::swap(&mut self.delta, &mut self.delta_prev);
        }
        loss
    }

    /// Points whose largest probability (after the last forward pass) is their class.
    pub fn correct(&self) -> usize {
        let n = self.n;
        let Some(p) = self.acts.last() else {
            return 0;
        };
        let mut best: Vec<(T, usize)> = p[..n].iter().map(|&v| (v, 0)).collect();
        for (j, pj) in (1..).zip(p.chunks_exact(n).skip(1)) {
            for (b, &v) in best.iter_mut().zip(pj) {
                if v > b.0 {
                    *b = (v, j);
                }
            }
        }
        best.iter()
            .zip(&self.labels)
            .filter(|(b, &l)| b.1 == l as usize)
            .count()
    }

    /// Trains for `steps` steps, logging as the specification says: `(s, loss of step s)` for
    /// s = 0, 10, 20, …, then `(steps, loss after the last update)`. Returns the log.
    pub fn train(&mut self, steps: usize) -> Vec<(usize, T)> {
        let mut log = Vec::with_capacity(steps / 10 + 2);
        for s in 0..steps {
            let l = self.step();
            if s % 10 == 0 {
                log.push((s, l));
            }
        }
        log.push((steps, self.forward()));
        log
    }
}
