//! Learning-rate schedules: the step size as a function of the step number.
//!
//! A [`Schedule`] is plain data (it can be a `const`); [`Schedule::lr`] gives the step size
//! for a step, and [`Schedule::set`] writes it into any optimizer with the [`LearningRate`]
//! hook before that step. Schedules compute in `f64` (exactly the same numbers on every
//! target) and convert to the graph's scalar once per step.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::{minimize, Momentum, Schedule};
//!
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let w = g.variable(&Matrix::new([[4.0f32]]))?;
//! let sq = g.square(w)?;
//! let loss = g.reduce_sum(sq)?;
//! let mut opt: Momentum<f32, 1> = Momentum::new(0.0, 0.9);
//! let schedule = Schedule::Cosine { initial: 0.05, min: 0.0, steps: 200 };
//! for step in 0..200 {
//!     schedule.set(&mut opt, step);
//!     minimize(&mut opt, &mut g, loss)?;
//! }
//! assert!(g.value(w)?.data[0][0].abs() < 0.05);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::optim::LearningRate;
use embedgrad_core::Scalar;

/// A learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Schedule {
    /// The same step size at every step.
    Constant {
        /// The step size.
        lr: f64,
    },
    /// Step decay: `initial · factor^⌊step / every⌋` — multiplied by `factor` (e.g. 0.5)
    /// every `every` steps. `every = 0` never decays.
    StepDecay {
        /// The step size of the first `every` steps.
        initial: f64,
        /// The multiplier applied every `every` steps.
        factor: f64,
        /// Steps between decays.
        every: u32,
    },
    /// Cosine annealing (Loshchilov & Hutter) from `initial` down to `min` over `steps`
    /// steps, `min + (initial − min)·(1 + cos(π·step/steps))/2`, then `min` from step `steps`
    /// on (no restarts). `steps = 0` is `min` throughout.
    Cosine {
        /// The step size at step 0.
        initial: f64,
        /// The step size reached at step `steps`.
        min: f64,
        /// Length of the annealing.
        steps: u32,
    },
}

impl Schedule {
    /// The step size for step `step` (counting from 0), in `f64`.
    ///
    /// ```
    /// use embedgrad_train::Schedule;
    /// let s = Schedule::StepDecay { initial: 0.1, factor: 0.5, every: 100 };
    /// assert_eq!((s.lr(0), s.lr(99), s.lr(100), s.lr(250)), (0.1, 0.1, 0.05, 0.025));
    /// let c = Schedule::Cosine { initial: 1.0, min: 0.0, steps: 100 };
    /// assert_eq!((c.lr(0), c.lr(100), c.lr(1000)), (1.0, 0.0, 0.0));
    /// assert!((c.lr(50) - 0.5).abs() < 1e-15);
    /// ```
    pub fn lr(&self, step: u32) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            Schedule::StepDecay {
                initial,
                factor,
                every,
            } => match step.checked_div(every) {
                Some(k) => initial * Scalar::powf(factor, f64::from(k)),
                None => initial,
            },
            Schedule::Cosine {
                initial,
                min,
                steps,
            } => {
                if step >= steps {
                    return min;
                }
                let x = f64::from(step) / f64::from(steps);
                let c = Scalar::cos(core::f64::consts::PI * x);
                min + (initial - min) * (1.0 + c) * 0.5
            }
        }
    }

    /// Sets `opt`'s learning rate for step `step` (converted to `T`, rounding to nearest).
    pub fn set<T: Scalar>(&self, opt: &mut impl LearningRate<T>, step: u32) {
        opt.set_learning_rate(T::from_f64(self.lr(step)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GradientDescent;

    #[test]
    fn constant_and_step_decay() {
        let c = Schedule::Constant { lr: 0.25 };
        assert_eq!((c.lr(0), c.lr(u32::MAX)), (0.25, 0.25));
        let s = Schedule::StepDecay {
            initial: 1.0,
            factor: 0.1,
            every: 10,
        };
        assert_eq!(s.lr(0), 1.0);
        assert_eq!(s.lr(9), 1.0);
        assert!((s.lr(10) - 0.1).abs() < 1e-16);
        assert!((s.lr(25) - 0.01).abs() < 1e-17);
        // A huge step count underflows to 0 rather than misbehaving.
        assert_eq!(s.lr(u32::MAX), 0.0);
        let never = Schedule::StepDecay {
            initial: 0.5,
            factor: 0.1,
            every: 0,
        };
        assert_eq!(never.lr(1_000_000), 0.5);
    }

    #[test]
    fn cosine_annealing() {
        let s = Schedule::Cosine {
            initial: 0.1,
            min: 0.02,
            steps: 4,
        };
        // cos(0) = 1, cos(π/4) = √½, cos(π/2) = 0, cos(3π/4) = −√½, then the floor.
        let h = core::f64::consts::FRAC_1_SQRT_2;
        let want = [
            0.1,
            0.02 + 0.08 * (1.0 + h) / 2.0,
            0.06,
            0.02 + 0.08 * (1.0 - h) / 2.0,
            0.02,
            0.02,
        ];
        for (step, w) in want.into_iter().enumerate() {
            let got = s.lr(step as u32);
            assert!((got - w).abs() < 1e-16, "step {step}: {got} vs {w}");
        }
        // Monotone non-increasing.
        let long = Schedule::Cosine {
            initial: 1.0,
            min: 0.0,
            steps: 1000,
        };
        for k in 0..1000 {
            assert!(long.lr(k + 1) <= long.lr(k));
        }
        let zero = Schedule::Cosine {
            initial: 1.0,
            min: 0.5,
            steps: 0,
        };
        assert_eq!(zero.lr(0), 0.5);
    }

    #[test]
    fn set_writes_the_optimizer() {
        let mut opt = GradientDescent::new(0.0f32);
        Schedule::StepDecay {
            initial: 0.5,
            factor: 0.5,
            every: 1,
        }
        .set(&mut opt, 3);
        assert_eq!(opt.learning_rate(), 0.0625);
    }
}
