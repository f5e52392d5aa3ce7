//! The tutorial's seed examples, made bit-reproducible: data, initial weights, nets and
//! hyper-parameters exactly as specified, so that host, firmware and C all train the same thing.
//!
//! ```
//! use embedgrad_data::seed::Example;
//! let ex = Example::Perceptron;
//! let mut xs = [[0.0f64; 2]; 100];
//! let mut labels = [0u8; 100];
//! let _rng = ex.generate(|i, p, l| { xs[i] = p; labels[i] = l; });
//! assert_eq!(ex.checksum_f64(), 0xd0ec1218075b58ac);
//! assert_eq!(labels[0], 0); // blue, class 0, comes first
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, Matrix, Op, Scalar, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_ops::StdOp;
use embedgrad_train::loss::cross_entropy;
use embedgrad_train::{fnv1a, SplitMix64, FNV_OFFSET};

/// One of the three seed examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Example {
    /// `softmax(X W + b)` on two Gaussian blobs (100 points).
    Perceptron,
    /// `softmax(σ(X W1 + b1) W2 + b2)`, 2-2-2, on the XOR clusters (100 points).
    MlpXor,
    /// 2-16-16-16-2 with sigmoid hidden layers on two spiral arms (200 points).
    SpiralDeep,
}

impl Example {
    /// All examples, in the order the simulator runs them.
    pub const ALL: [Example; 3] = [Example::Perceptron, Example::MlpXor, Example::SpiralDeep];

    /// The example's name (`perceptron`, `mlp_xor`, `spiral_deep`).
    pub const fn name(self) -> &'static str {
        match self {
            Example::Perceptron => "perceptron",
            Example::MlpXor => "mlp_xor",
            Example::SpiralDeep => "spiral_deep",
        }
    }

    /// The example with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The generator seed.
    pub const fn seed(self) -> u64 {
        match self {
            Example::Perceptron => 1,
            Example::MlpXor => 2,
            Example::SpiralDeep => 3,
        }
    }

    /// Number of data points.
    pub const fn points(self) -> usize {
        match self {
            Example::SpiralDeep => 200,
            _ => 100,
        }
    }

    /// Layer widths, input first.
    pub const fn layers(self) -> &'static [usize] {
        match self {
            Example::Perceptron => &[2, 2],
            Example::MlpXor => &[2, 2, 2],
            Example::SpiralDeep => &[2, 16, 16, 16, 2],
        }
    }

    /// Learning rate.
    pub const fn learning_rate(self) -> f64 {
        match self {
            Example::Perceptron => 0.01,
            Example::MlpXor => 0.03,
            Example::SpiralDeep => 0.005,
        }
    }

    /// Gradient-descent steps.
    pub const fn steps(self) -> usize {
        match self {
            Example::Perceptron => 100,
            Example::MlpXor => 1000,
            Example::SpiralDeep => 6000,
        }
    }

    /// Number of trainable scalars (all weights and biases).
    pub fn parameters(self) -> usize {
        self.layers()
            .windows(2)
            .map(|w| match w {
                [a, b] => a * b + b,
                _ => 0,
            })
            .sum()
    }

    /// Draws the data set: calls `point(row, [x, y], class)` for every point, in draw order
    /// (`row` is its row in `X = [class-0 rows; class-1 rows]`). Returns the generator, positioned
    /// to draw the initial parameters ([`Example::init_params`]).
    pub fn generate(self, mut point: impl FnMut(usize, [f64; 2], u8)) -> SplitMix64 {
        let mut rng = SplitMix64::new(self.seed());
        match self {
            Example::Perceptron => {
                // red (class 1, rows 50..100) first: normal() − 2; then blue (class 0): normal() + 2
                for i in 0..50 {
                    let x = rng.normal() - 2.0;
                    let y = rng.normal() - 2.0;
                    point(50 + i, [x, y], 1);
                }
                for i in 0..50 {
                    let x = rng.normal() + 2.0;
                    let y = rng.normal() + 2.0;
                    point(i, [x, y], 0);
                }
            }
            Example::MlpXor => {
                // red clusters (0,0), (1,1) → class 1, rows 50..100; blue (0,1), (1,0) → class 0
                let clusters: [([f64; 2], usize, u8); 4] = [
                    ([0.0, 0.0], 50, 1),
                    ([1.0, 1.0], 75, 1),
                    ([0.0, 1.0], 0, 0),
                    ([1.0, 0.0], 25, 0),
                ];
                for (centre, first, class) in clusters {
                    for i in 0..25 {
                        let x = 0.2 * rng.normal() + centre[0];
                        let y = 0.2 * rng.normal() + centre[1];
                        point(first + i, [x, y], class);
                    }
                }
            }
            Example::SpiralDeep => {
                let cos = f64::from_bits(0x3FEF_DBA4_C3E3_935C);
                let sin = f64::from_bits(0x3FB8_177B_7FFC_17EF);
                for arm in 0..2u8 {
                    let sgn = if arm == 0 { 1.0 } else { -1.0 };
                    let (mut dx, mut dy) = (1.0f64, 0.0f64);
                    for i in 0..100 {
                        let nx = rng.normal();
                        let ny = rng.normal();
                        let r = (i + 1) as f64 / 100.0;
                        let px = sgn * (r * dx) + 0.02 * nx;
                        let py = sgn * (r * dy) + 0.02 * ny;
                        point(arm as usize * 100 + i, [px, py], arm);
                        let ndx = cos * dx - sin * dy;
                        let ndy = sin * dx + cos * dy;
                        dx = ndx;
                        dy = ndy;
                    }
                }
            }
        }
        rng
    }

    /// Draws the initial parameters after the data: layer by layer, `W` (fan_in × fan_out,
    /// row-major) then `b` (fan_out), each `normal() * 1.0`. Calls
    /// `param(layer, is_bias, index, value)`.
    pub fn init_params(self, rng: &mut SplitMix64, mut param: impl FnMut(usize, bool, usize, f64)) {
        for (layer, w) in self.layers().windows(2).enumerate() {
            if let [fan_in, fan_out] = w {
                for i in 0..fan_in * fan_out {
                    param(layer, false, i, rng.normal() * 1.0);
                }
                for i in 0..*fan_out {
                    param(layer, true, i, rng.normal() * 1.0);
                }
            }
        }
    }

    fn checksum(self, f32_bytes: bool) -> u64 {
        let mut rows = [[0.0f64; 2]; 200];
        self.generate(|i, p, _| {
            if let Some(r) = rows.get_mut(i) {
                *r = p;
            }
        });
        let mut h = FNV_OFFSET;
        for r in rows.iter().take(self.points()) {
            for &v in r {
                if f32_bytes {
                    h = fnv1a(h, &(v as f32).to_le_bytes());
                } else {
                    h = fnv1a(h, &v.to_le_bytes());
                }
            }
        }
        h
    }

    /// FNV-1a 64 of X's little-endian f64 bytes, row-major.
    pub fn checksum_f64(self) -> u64 {
        self.checksum(false)
    }

    /// FNV-1a 64 of X cast to f32, little-endian bytes, row-major.
    pub fn checksum_f32(self) -> u64 {
        self.checksum(true)
    }
}

/// A classifier built from the seed ops: inputs, one-hot targets, probabilities and the
/// tutorial's summed cross-entropy loss, for micro-batches of `B` rows.
#[derive(Clone, Copy, Debug)]
pub struct Net<const B: usize, const D: usize, const K: usize> {
    /// Input placeholder (`B × D`).
    pub x: Tensor<B, D>,
    /// One-hot target placeholder (`B × K`).
    pub c: Tensor<B, K>,
    /// Class probabilities (`B × K`).
    pub p: Tensor<B, K>,
    /// `J = −Σ c ⊙ log p`.
    pub loss: Tensor<1, 1>,
}

fn dense<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const B: usize,
    const I: usize,
    const J: usize,
>(
    g: &mut Graph<T, O, N, S>,
    x: Tensor<B, I>,
    w: &Matrix<T, I, J>,
    b: &Matrix<T, 1, J>,
) -> Result<Tensor<B, J>, Error> {
    let w = g.variable(w)?;
    let b = g.variable(b)?;
    let xw = g.matmul(x, w)?;
    g.add(xw, b)
}

/// Draws a layer's parameters as `T` (from f64, rounded to nearest).
fn draw_layer<T: Scalar, const I: usize, const J: usize>(
    rng: &mut SplitMix64,
) -> (Matrix<T, I, J>, Matrix<T, 1, J>) {
    let mut w = Matrix::<T, I, J>::zeros();
    let mut b = Matrix::<T, 1, J>::zeros();
    for v in w.as_mut_slice() {
        *v = T::from_f64(rng.normal() * 1.0);
    }
    for v in b.as_mut_slice() {
        *v = T::from_f64(rng.normal() * 1.0);
    }
    (w, b)
}

/// Builds the example's network for micro-batches of `B` rows, drawing the initial parameters
/// from `rng` (which must come from [`Example::generate`]) in the specified order.
///
/// # Errors
/// Capacity errors when the graph is too small.
pub fn build<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize, const B: usize>(
    example: Example,
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
) -> Result<Net<B, 2, 2>, Error> {
    let x = g.placeholder::<B, 2>()?;
    let c = g.placeholder::<B, 2>()?;
    let logits = match example {
        Example::Perceptron => {
            let (w, b) = draw_layer::<T, 2, 2>(rng);
            dense(g, x, &w, &b)?
        }
        Example::MlpXor => {
            let (w1, b1) = draw_layer::<T, 2, 2>(rng);
            let (w2, b2) = draw_layer::<T, 2, 2>(rng);
            let h = dense(g, x, &w1, &b1)?;
            let h = g.sigmoid(h)?;
            dense(g, h, &w2, &b2)?
        }
        Example::SpiralDeep => {
            let (w1, b1) = draw_layer::<T, 2, 16>(rng);
            let (w2, b2) = draw_layer::<T, 16, 16>(rng);
            let (w3, b3) = draw_layer::<T, 16, 16>(rng);
            let (w4, b4) = draw_layer::<T, 16, 2>(rng);
            let h = dense(g, x, &w1, &b1)?;
            let h = g.sigmoid(h)?;
            let h = dense(g, h, &w2, &b2)?;
            let h = g.sigmoid(h)?;
            let h = dense(g, h, &w3, &b3)?;
            let h = g.sigmoid(h)?;
            dense(g, h, &w4, &b4)?
        }
    };
    let p = g.softmax(logits)?;
    let loss = cross_entropy(g, p, c)?;
    Ok(Net { x, c, p, loss })
}

/// The one-hot target row of a seed example's label (`0` or `1`; the seed examples have two
/// classes), as [`fill`] writes it.
pub fn one_hot<T: Scalar>(label: u8) -> [T; 2] {
    if label == 0 {
        [T::ONE, T::ZERO]
    } else {
        [T::ZERO, T::ONE]
    }
}

/// Fills row-major inputs (`points × 2`), one-hot targets (`points × 2`) and labels for an
/// example, cast to `T`; returns the generator positioned for [`build`].
///
/// # Errors
/// [`Error::LengthMismatch`] when a buffer is not exactly the example's size.
pub fn fill<T: Scalar>(
    example: Example,
    xs: &mut [T],
    cs: &mut [T],
    labels: &mut [u8],
) -> Result<SplitMix64, Error> {
    let n = example.points();
    for (len, want) in [(xs.len(), 2 * n), (cs.len(), 2 * n), (labels.len(), n)] {
        if len != want {
            return Err(Error::LengthMismatch {
                expected: want,
                found: len,
            });
        }
    }
    Ok(example.generate(|i, p, l| {
        if let Some(x) = xs.get_mut(2 * i..2 * i + 2) {
            x.copy_from(&[T::from_f64(p[0]), T::from_f64(p[1])]);
        }
        if let Some(c) = cs.get_mut(2 * i..2 * i + 2) {
            c.copy_from(&one_hot(l));
        }
        if let Some(lab) = labels.get_mut(i) {
            *lab = l;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_the_specification() {
        let want = [
            (
                Example::Perceptron,
                0xd0ec_1218_075b_58ac,
                0x05c0_073f_fcde_3185,
            ),
            (
                Example::MlpXor,
                0x788d_8d58_f737_ce72,
                0x7a85_ad9b_5d15_00fe,
            ),
            (
                Example::SpiralDeep,
                0x7a04_8641_8d4b_b7c9,
                0x2dfb_12bb_971d_eda7,
            ),
        ];
        for (ex, f64sum, f32sum) in want {
            assert_eq!(ex.checksum_f64(), f64sum, "{} f64", ex.name());
            assert_eq!(ex.checksum_f32(), f32sum, "{} f32", ex.name());
        }
    }

    /// The planned step (full batch, and accumulated over micro-batches) trains the perceptron
    /// as the interpreter does, up to the fused loss's rounding.
    #[test]
    #[cfg_attr(miri, ignore)] // 300 training steps: minutes under Miri
    fn planned_training_matches_the_interpreter() {
        fn run<const B: usize>(planned: bool) -> Outcome<f64> {
            let ex = Example::Perceptron;
            let n = ex.points();
            let (mut xs, mut cs, mut labels) = (vec![0.0; 2 * n], vec![0.0; 2 * n], vec![0; n]);
            let mut rng = fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
            let mut g: Box<embedgrad_ops::StdGraph<f64, 16, 4096>> =
                Box::new(embedgrad_ops::StdGraph::new());
            train_with::<f64, StdOp, 16, 4096, B>(
                ex,
                &mut g,
                &mut rng,
                &xs,
                &cs,
                &labels,
                planned,
                |_, _| {},
            )
            .unwrap()
        }
        let plain = run::<100>(false);
        for planned in [run::<100>(true), run::<50>(true)] {
            let rel = ((plain.final_loss - planned.final_loss) / plain.final_loss).abs();
            assert!(rel < 1e-9, "{} vs {}", plain.final_loss, planned.final_loss);
            assert_eq!(plain.correct, planned.correct);
        }
    }

    #[test]
    fn names_and_sizes() {
        for ex in Example::ALL {
            assert_eq!(Example::from_name(ex.name()), Some(ex));
        }
        assert_eq!(Example::from_name("nope"), None);
        assert_eq!(Example::MlpXor.parameters(), 12);
        assert_eq!(Example::SpiralDeep.parameters(), 48 + 272 + 272 + 34);
    }
}

/// How a seed example ended.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outcome<T> {
    /// The loss after the final update.
    pub final_loss: T,
    /// Training points classified correctly after the final update.
    pub correct: usize,
    /// Training points.
    pub points: usize,
}

impl<T> Outcome<T> {
    /// `correct / points`.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.points.max(1) as f64
    }
}

/// Trains an example as specified — the tutorial's loss, gradient descent on the full batch,
/// `steps` steps — with the batch computed in micro-batches of `B` rows (`B = points` is the
/// tutorial's single full-batch graph; smaller `B` needs less memory and gives the same
/// gradients up to summation order).
///
/// `xs`, `cs` and `labels` come from [`fill`], `rng` is the generator it returned. `log(step,
/// loss)` is called for steps 0, 10, 20, … with the loss computed in that step before its
/// update, then for step `steps` with the loss after the final update.
///
/// # Errors
/// Capacity errors if the graph is too small, [`Error::LengthMismatch`] if `B` does not divide
/// the number of points, [`Error::NonFinite`] if training diverges.
#[allow(clippy::too_many_arguments)]
pub fn train<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize, const B: usize>(
    example: Example,
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
    xs: &[T],
    cs: &[T],
    labels: &[u8],
    log: impl FnMut(usize, T),
) -> Result<Outcome<T>, Error> {
    train_with::<T, O, N, S, B>(example, g, rng, xs, cs, labels, false, log)
}

/// [`train`], with the step plan on (`planned`, see [`Graph::plan`]) or off. With `B` equal
/// to the number of points each step is one planned, fused step with the updates in the
/// backward sweep; with smaller micro-batches the plan accumulates their gradients.
///
/// # Errors
/// As [`train`]; [`Error::ScalarCapacity`] when the planned step does not fit.
#[allow(clippy::too_many_arguments)]
pub fn train_with<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const B: usize,
>(
    example: Example,
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
    xs: &[T],
    cs: &[T],
    labels: &[u8],
    planned: bool,
    mut log: impl FnMut(usize, T),
) -> Result<Outcome<T>, Error> {
    let net = build::<T, O, N, S, B>(example, g, rng)?;
    let feeds = embedgrad_train::Feeds {
        x: net.x.id(),
        y: net.c.id(),
        loss: net.loss.id(),
    };
    let full_batch = B == example.points();
    if planned {
        let opts = embedgrad_core::PlanOptions {
            accumulate: !full_batch,
            ..embedgrad_core::PlanOptions::default()
        };
        g.plan(net.loss, opts)?;
        if full_batch {
            // The whole data set is the one batch: fed once, it stays fed.
            g.feed_slice(feeds.x, xs)?;
            g.feed_slice(feeds.y, cs)?;
        }
    }
    let mut opt = embedgrad_train::GradientDescent::new(T::from_f64(example.learning_rate()));
    for step in 0..example.steps() {
        let l = if planned && full_batch {
            opt.minimize(g, net.loss)?
        } else {
            embedgrad_train::step_accumulated(&mut opt, g, feeds, xs, cs)?
        };
        if step % 10 == 0 {
            log(step, l);
        }
    }
    let (final_loss, correct) = embedgrad_train::evaluate(g, feeds, net.p.id(), xs, cs, labels)?;
    log(example.steps(), final_loss);
    Ok(Outcome {
        final_loss,
        correct,
        points: example.points(),
    })
}
