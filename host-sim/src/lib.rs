//! # embedgrad-host-sim
//!
//! The desktop side of embedgrad: the library behind the `embedgrad-sim` binary. It trains the
//! seed examples of `embedgrad-data` through the very same graph, ops and optimizer that the
//! firmware runs, and turns the results into JSON lines ([`json`]) and SVG pictures ([`plot`]).
//!
//! ```
//! use embedgrad_host_sim::{run, Precision};
//! use embedgrad_data::seed::Example;
//!
//! // The tutorial's perceptron in f64, with a 16 × 16 grid of predictions for a picture.
//! let r = run::train::<f64>(Example::Perceptron, Some(16), |_step, _loss| {})?;
//! assert_eq!(r.correct, r.points); // it separates the two blobs
//! assert_eq!(r.log.first().map(|l| l.0), Some(0));
//! assert_eq!(r.log.last().map(|l| l.0), Some(100)); // the loss after the last update
//! assert_eq!(Precision::of::<f64>(), Precision::F64);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
#![forbid(unsafe_code)]
// No command can panic; indexing is allowed in host code (see Cargo.toml).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod digits;
pub mod exercises;
pub mod json;
pub mod plot;
pub mod run;
pub mod sensor;

/// A run trained on a data set epoch by epoch, then evaluated: what its summary reports.
pub trait Trained<T: embedgrad_core::Scalar> {
    /// Each epoch's mean training loss and time.
    fn epoch_log(&self) -> &[(T, std::time::Duration)];

    /// The training set's evaluation after training.
    fn on_training_set(&self) -> &embedgrad_train::data::Evaluation<T>;

    /// The mean loss per training item after training.
    fn final_loss(&self) -> T {
        let e = self.on_training_set();
        e.loss / T::from_usize(e.total.max(1))
    }

    /// Total training time.
    fn training_time(&self) -> std::time::Duration {
        self.epoch_log().iter().map(|e| e.1).sum()
    }

    /// Mean training time per epoch.
    fn time_per_epoch(&self) -> std::time::Duration {
        let epochs = u32::try_from(self.epoch_log().len()).unwrap_or(u32::MAX);
        self.training_time() / epochs.max(1)
    }
}

/// The floating-point precision a run trains in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// `f32`: data and initial weights drawn in f64, then rounded to f32.
    F32,
    /// `f64`.
    F64,
}

impl Precision {
    /// Both precisions.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::F64];

    /// `"f32"` or `"f64"`.
    pub const fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }

    /// The precision with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The precision of a scalar type (`f32` or `f64`).
    pub fn of<T: embedgrad_core::Scalar>() -> Self {
        if T::NAME == "f32" {
            Precision::F32
        } else {
            Precision::F64
        }
    }
}
