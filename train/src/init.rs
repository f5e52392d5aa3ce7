//! Weight initialisers from a seeded [`SplitMix64`]: Xavier/Glorot (for sigmoid and tanh
//! layers) and He/Kaiming (for relu layers), uniform or normal.
//!
//! For a dense layer `x W + b` with `W` of shape `fan_in × fan_out` (the tutorial's layout):
//!
//! | [`Init`] | distribution | for |
//! | --- | --- | --- |
//! | `XavierUniform` | `U(−a, a)`, `a = √(6 / (fan_in + fan_out))` | sigmoid, tanh |
//! | `XavierNormal` | `N(0, σ²)`, `σ = √(2 / (fan_in + fan_out))` | sigmoid, tanh |
//! | `HeUniform` | `U(−a, a)`, `a = √(6 / fan_in)` | relu, leaky relu |
//! | `HeNormal` | `N(0, σ²)`, `σ = √(2 / fan_in)` | relu, leaky relu |
//! | `Normal(s)` | `N(0, s²)` | the seed examples (`s = 1`) |
//!
//! Normal draws use [`SplitMix64::normal`] (Irwin–Hall: unit variance, bounded by ±6σ, which
//! also means no extreme outliers). Every value is computed in `f64` with IEEE operations only
//! (`√` is correctly rounded everywhere), then rounded to the scalar type: the same seed gives
//! the same weights bit for bit on every target. Biases usually start at zero
//! ([`Matrix::zeros`]).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_train::{init::Init, SplitMix64};
//! let mut rng = SplitMix64::new(42);
//! let w1: Matrix<f32, 64, 32> = Init::HeNormal.matrix(&mut rng);
//! let w2: Matrix<f32, 32, 10> = Init::XavierUniform.matrix(&mut rng);
//! let a = (6.0f32 / 42.0).sqrt();
//! assert!(w2.as_slice().iter().all(|w| w.abs() <= a));
//! # let _ = w1;
//! ```

use crate::rng::SplitMix64;
use embedgrad_core::{Matrix, Scalar};

/// A weight initialiser (see the module docs for the formulas).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Init {
    /// Glorot uniform: `U(−a, a)` with `a = √(6 / (fan_in + fan_out))`.
    XavierUniform,
    /// Glorot normal: standard deviation `√(2 / (fan_in + fan_out))`.
    XavierNormal,
    /// He uniform: `U(−a, a)` with `a = √(6 / fan_in)`.
    HeUniform,
    /// He normal: standard deviation `√(2 / fan_in)`.
    HeNormal,
    /// Normal with the given standard deviation, whatever the fan.
    Normal(f64),
}

impl Init {
    /// The half-width `a` of a uniform initialiser or the standard deviation `σ` of a normal
    /// one, for a layer with these fans (a zero fan is taken as 1).
    pub fn spread(self, fan_in: usize, fan_out: usize) -> f64 {
        let fi = fan_in.max(1) as f64;
        let fo = fan_out.max(1) as f64;
        match self {
            Init::XavierUniform => Scalar::sqrt(6.0 / (fi + fo)),
            Init::XavierNormal => Scalar::sqrt(2.0 / (fi + fo)),
            Init::HeUniform => Scalar::sqrt(6.0 / fi),
            Init::HeNormal => Scalar::sqrt(2.0 / fi),
            Init::Normal(s) => s,
        }
    }

    /// One draw for a layer with these fans.
    pub fn sample(self, rng: &mut SplitMix64, fan_in: usize, fan_out: usize) -> f64 {
        let s = self.spread(fan_in, fan_out);
        match self {
            Init::XavierUniform | Init::HeUniform => (2.0 * rng.uniform() - 1.0) * s,
            Init::XavierNormal | Init::HeNormal | Init::Normal(_) => rng.normal() * s,
        }
    }

    /// Fills `out` (row-major, any length) with draws for a layer with these fans.
    pub fn fill<T: Scalar>(
        self,
        rng: &mut SplitMix64,
        fan_in: usize,
        fan_out: usize,
        out: &mut [T],
    ) {
        for v in out {
            *v = T::from_f64(self.sample(rng, fan_in, fan_out));
        }
    }

    /// A weight matrix `W` of a dense layer: `fan_in = I` rows, `fan_out = J` columns, drawn
    /// row-major.
    pub fn matrix<T: Scalar, const I: usize, const J: usize>(
        self,
        rng: &mut SplitMix64,
    ) -> Matrix<T, I, J> {
        let mut m = Matrix::zeros();
        self.fill(rng, I, J, m.as_mut_slice());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads() {
        assert_eq!(Init::XavierUniform.spread(2, 4), 1.0);
        assert_eq!(Init::XavierNormal.spread(3, 5), 0.5);
        assert_eq!(Init::HeUniform.spread(24, 7), 0.5);
        assert_eq!(Init::HeNormal.spread(8, 100), 0.5);
        assert_eq!(Init::Normal(0.3).spread(8, 100), 0.3);
        assert_eq!(Init::HeNormal.spread(0, 0), Scalar::sqrt(2.0));
    }

    #[test]
    fn uniform_is_the_scaled_generator() {
        // U(−a, a) = (2u − 1)·a with u the generator's uniform draw.
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let m: Matrix<f64, 2, 4> = Init::XavierUniform.matrix(&mut a);
        for &w in m.as_slice() {
            assert_eq!(w, 2.0 * b.uniform() - 1.0);
        }
        let mut c = SplitMix64::new(7);
        let n: Matrix<f64, 8, 3> = Init::HeNormal.matrix(&mut c);
        let mut d = SplitMix64::new(7);
        for &w in n.as_slice() {
            assert_eq!(w, d.normal() * 0.5);
        }
    }

    #[test]
    fn statistics_match_the_formulas() {
        // 64×32 He normal: σ = √(2/64) = 0.1768. Over 2048 draws the sample standard
        // deviation is within a few percent, the mean near 0.
        let mut rng = SplitMix64::new(1);
        let w: Matrix<f64, 64, 32> = Init::HeNormal.matrix(&mut rng);
        let n = w.as_slice().len() as f64;
        let mean = w.as_slice().iter().sum::<f64>() / n;
        let var = w.as_slice().iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let sigma = (2.0f64 / 64.0).sqrt();
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var.sqrt() / sigma - 1.0).abs() < 0.05, "{}", var.sqrt());
        // Xavier uniform: |w| ≤ a, variance a²/3.
        let u: Matrix<f64, 64, 32> = Init::XavierUniform.matrix(&mut rng);
        let a = (6.0f64 / 96.0).sqrt();
        assert!(u.as_slice().iter().all(|v| v.abs() <= a));
        let var = u.as_slice().iter().map(|v| v * v).sum::<f64>() / n;
        assert!((var / (a * a / 3.0) - 1.0).abs() < 0.1, "{var}");
    }

    #[test]
    fn same_seed_same_weights_in_f32_and_f64() {
        let w64: Matrix<f64, 3, 3> = Init::XavierNormal.matrix(&mut SplitMix64::new(9));
        let w32: Matrix<f32, 3, 3> = Init::XavierNormal.matrix(&mut SplitMix64::new(9));
        assert_eq!(w64.cast::<f32>(), w32);
    }
}
