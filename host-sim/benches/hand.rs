//! The seed examples written by hand: no graph, no embedgrad code, plain loops.
//!
//! This is the benchmark's yardstick (a fused training step: forward, backward and update in
//! one pass over preallocated buffers, with softmax and cross-entropy fused into `p − c`) and
//! the tests' independent float64 reference. It follows SEED-EXAMPLES.md directly — its own
//! SplitMix64, Irwin–Hall normal, data generators and parameter draw order — so it shares
//! nothing with the code it checks but the specification.
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

/// The network and its training state, all buffers allocated once.
pub struct Mlp<T> {
    pub layers: Vec<usize>,
    /// `W` of each layer, fan_in × fan_out, row-major.
    pub w: Vec<Vec<T>>,
    /// `b` of each layer.
    pub b: Vec<Vec<T>>,
    pub lr: T,
    pub n: usize,
    /// `acts[0]` = X; `acts[l]` = output of layer `l` (hidden: σ(z), last: softmax p).
    acts: Vec<Vec<T>>,
    c: Vec<T>,
    pub labels: Vec<u8>,
    delta: Vec<T>,
    delta_prev: Vec<T>,
    gw: Vec<T>,
    gb: Vec<T>,
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
        let mut acts = vec![x.iter().flatten().map(|&v| T::from_f64(v)).collect()];
        for &width in &layers[1..] {
            acts.push(vec![T::ZERO; n * width]);
        }
        let k = *layers.last().unwrap_or(&2);
        let c = labels
            .iter()
            .flat_map(|&l| (0..k).map(move |j| if j == l as usize { T::ONE } else { T::ZERO }))
            .collect();
        let widest = layers.iter().copied().max().unwrap_or(2);
        let biggest = layers.windows(2).map(|p| p[0] * p[1]).max().unwrap_or(4);
        Self {
            layers,
            w,
            b,
            lr: T::from_f64(spec.learning_rate),
            n,
            acts,
            c,
            labels,
            delta: vec![T::ZERO; n * widest],
            delta_prev: vec![T::ZERO; n * widest],
            gw: vec![T::ZERO; biggest],
            gb: vec![T::ZERO; widest],
        }
    }

    /// The forward pass; returns the summed cross-entropy `−Σ c log p` (as log-sum-exp).
    pub fn forward(&mut self) -> T {
        let depth = self.w.len();
        let mut loss = T::ZERO;
        for l in 0..depth {
            let (fi, fo) = (self.layers[l], self.layers[l + 1]);
            let (done, rest) = self.acts.split_at_mut(l + 1);
            let input = &done[l];
            let out = &mut rest[0];
            let (w, b) = (&self.w[l], &self.b[l]);
            for (irow, orow) in input.chunks_exact(fi).zip(out.chunks_exact_mut(fo)) {
                orow.copy_from_slice(b);
                for (&a, wrow) in irow.iter().zip(w.chunks_exact(fo)) {
                    for (o, &wv) in orow.iter_mut().zip(wrow) {
                        *o += a * wv;
                    }
                }
            }
            if l + 1 < depth {
                for v in out.iter_mut() {
                    *v = T::ONE / (T::ONE + (-*v).exp());
                }
            } else {
                for (orow, crow) in out.chunks_exact_mut(fo).zip(self.c.chunks_exact(fo)) {
                    let mut m = orow[0];
                    for &v in orow.iter() {
                        if v > m {
                            m = v;
                        }
                    }
                    let mut s = T::ZERO;
                    let mut cz = T::ZERO; // Σ c_j (z_j − m)
                    let mut csum = T::ZERO;
                    for (o, &cj) in orow.iter_mut().zip(crow) {
                        let zm = *o - m;
                        cz += cj * zm;
                        csum += cj;
                        *o = zm.exp();
                        s += *o;
                    }
                    let inv = T::ONE / s;
                    for o in orow.iter_mut() {
                        *o = *o * inv;
                    }
                    // −Σ c_j log p_j = Σ c_j (log s − (z_j − m))
                    loss += csum * s.ln() - cz;
                }
            }
        }
        loss
    }

    /// One training step: forward, backward, update. Returns the loss before the update.
    pub fn step(&mut self) -> T {
        let loss = self.forward();
        let depth = self.w.len();
        let n = self.n;
        let k = self.layers[depth];
        // softmax + cross-entropy: ∂J/∂z = p − c
        for ((d, &p), &c) in self.delta[..n * k]
            .iter_mut()
            .zip(&self.acts[depth])
            .zip(&self.c)
        {
            *d = p - c;
        }
        for l in (0..depth).rev() {
            let (fi, fo) = (self.layers[l], self.layers[l + 1]);
            let input = &self.acts[l];
            let delta = &self.delta[..n * fo];
            let gw = &mut self.gw[..fi * fo];
            let gb = &mut self.gb[..fo];
            gw.fill(T::ZERO);
            gb.fill(T::ZERO);
            for (irow, drow) in input.chunks_exact(fi).zip(delta.chunks_exact(fo)) {
                for (&a, gwrow) in irow.iter().zip(gw.chunks_exact_mut(fo)) {
                    for (g, &d) in gwrow.iter_mut().zip(drow) {
                        *g += a * d;
                    }
                }
                for (g, &d) in gb.iter_mut().zip(drow) {
                    *g += d;
                }
            }
            let w = &mut self.w[l];
            if l > 0 {
                // δ_prev = (δ Wᵀ) ⊙ a (1 − a), with the weights before their update
                for ((prow, drow), irow) in self.delta_prev[..n * fi]
                    .chunks_exact_mut(fi)
                    .zip(delta.chunks_exact(fo))
                    .zip(input.chunks_exact(fi))
                {
                    for ((pv, wrow), &a) in prow.iter_mut().zip(w.chunks_exact(fo)).zip(irow) {
                        let mut s = T::ZERO;
                        for (&d, &wv) in drow.iter().zip(wrow) {
                            s += d * wv;
                        }
                        *pv = s * a * (T::ONE - a);
                    }
                }
            }
            let lr = self.lr;
            for (wv, &g) in w.iter_mut().zip(gw.iter()) {
                *wv -= lr * g;
            }
            for (bv, &g) in self.b[l].iter_mut().zip(gb.iter()) {
                *bv -= lr * g;
            }
            std::mem::swap(&mut self.delta, &mut self.delta_prev);
        }
        loss
    }

    /// Points whose largest probability (after the last forward pass) is their class.
    pub fn correct(&self) -> usize {
        let k = self.layers[self.w.len()];
        self.acts[self.w.len()]
            .chunks_exact(k)
            .zip(&self.labels)
            .filter(|(p, &l)| {
                let mut best = 0;
                for (j, &v) in p.iter().enumerate() {
                    if v > p[best] {
                        best = j;
                    }
                }
                best == l as usize
            })
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
