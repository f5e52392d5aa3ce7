//! The UCI handwritten digits on the desktop: the same data (`embedgrad_data::digits`), split,
//! network and recipe as the firmware, trained with a graph on the heap, timed per epoch.
//!
//! ```
//! use embedgrad_data::digits::{Recipe, RECIPE};
//! use embedgrad_host_sim::digits;
//!
//! // Three epochs in f64 (the full recipe trains 20).
//! let recipe = Recipe { epochs: 3, ..RECIPE };
//! let r = digits::train::<f64>(&recipe, |_epoch, _loss, _time| {})?;
//! assert_eq!(r.epochs.len(), 3);
//! assert!(r.epochs[2].0 < r.epochs[0].0); // the mean training loss falls
//! assert_eq!((r.test.total, r.train.total), (360, 1437));
//! assert!(r.test.accuracy() > 0.9);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::json;
use embedgrad_core::{Error, Requirements, Scalar};
use embedgrad_data::digits::{self, Part, Recipe, Trainer, BATCH};
use embedgrad_ops::prelude::*;
use embedgrad_train::data::Evaluation;
use embedgrad_train::{fnv1a, FNV_OFFSET};
use std::time::{Duration, Instant};

/// Scalars of the graph for [`BATCH`]-row batches (see [`digits::capacity`]).
pub const SCALARS: usize = digits::capacity(BATCH).1;

/// The outcome of [`train`].
#[derive(Clone, Debug)]
pub struct DigitsRun<T> {
    /// Per epoch: the mean loss per training image (each batch's loss taken before its
    /// update) and the epoch's wall-clock time.
    pub epochs: Vec<(T, Duration)>,
    /// The training images after training: summed loss and correct predictions.
    pub train: Evaluation<T>,
    /// The held-out images after training.
    pub test: Evaluation<T>,
    /// What the graph holds.
    pub requirements: Requirements,
}

impl<T: Scalar> DigitsRun<T> {
    /// The mean loss per training image after training.
    pub fn final_loss(&self) -> T {
        self.train.loss / T::from_usize(self.train.total.max(1))
    }

    /// Total training time.
    pub fn training_time(&self) -> Duration {
        self.epochs.iter().map(|e| e.1).sum()
    }

    /// Mean training time per epoch.
    pub fn time_per_epoch(&self) -> Duration {
        self.training_time() / (self.epochs.len().max(1) as u32)
    }
}

/// FNV-1a 64 of the pixel bytes followed by the label bytes: identifies the data set.
pub fn checksum() -> u64 {
    fnv1a(fnv1a(FNV_OFFSET, &digits::PIXELS), &digits::LABELS)
}

/// Trains the digits network with `recipe` in mini-batches of [`BATCH`] rows, calling
/// `on_epoch(epoch, mean_loss, time)` after each epoch (numbered from 1), then evaluates
/// the training and the held-out images.
///
/// # Errors
/// Graph errors (none expected: the capacities are exact).
pub fn train<T: Scalar>(
    recipe: &Recipe,
    mut on_epoch: impl FnMut(usize, T, Duration),
) -> Result<DigitsRun<T>, Error> {
    let mut g: Box<StdGraph<T, { digits::NODES }, SCALARS>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<T, BATCH>> = Box::new(Trainer::new(&mut g, recipe)?);
    let mut epochs = Vec::with_capacity(recipe.epochs);
    for e in 1..=recipe.epochs {
        let start = Instant::now();
        let loss = t.epoch(&mut g, |f| f())?;
        let time = start.elapsed();
        on_epoch(e, loss, time);
        epochs.push((loss, time));
    }
    let train = t.evaluate(&mut g, Part::Train)?;
    let test = t.evaluate(&mut g, Part::Test)?;
    Ok(DigitsRun {
        epochs,
        train,
        test,
        requirements: g.requirements(),
    })
}

/// `{"example":"digits","precision":P,"epoch":E,"loss":L}`.
pub fn epoch_line<T: Scalar>(precision: &str, epoch: usize, loss: T) -> String {
    format!(
        "{{\"example\":\"digits\",\"precision\":{},\"epoch\":{epoch},\"loss\":{}}}",
        json::string(precision),
        json::number(loss)
    )
}

/// `{"example":"digits","precision":P,"final_loss":L,"accuracy":A,"test_accuracy":T,"checksum":"<16 hex digits>"}`:
/// the mean loss per training image after training, the training and held-out accuracies and
/// the data's [`checksum`].
pub fn final_line<T: Scalar>(precision: &str, r: &DigitsRun<T>) -> String {
    format!(
        "{{\"example\":\"digits\",\"precision\":{},\"final_loss\":{},\"accuracy\":{},\"test_accuracy\":{},\"checksum\":\"{:016x}\"}}",
        json::string(precision),
        json::number(r.final_loss()),
        json::number(r.train.accuracy()),
        json::number(r.test.accuracy()),
        checksum()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(
            epoch_line("f32", 3, 0.25f32),
            r#"{"example":"digits","precision":"f32","epoch":3,"loss":0.25}"#
        );
        let r = DigitsRun {
            epochs: vec![(0.5f64, Duration::from_millis(2))],
            train: Evaluation {
                loss: 143.7,
                correct: 1437,
                total: 1437,
            },
            test: Evaluation {
                loss: 9.0,
                correct: 351,
                total: 360,
            },
            requirements: Requirements {
                nodes: 1,
                scalars: 1,
                unplanned_scalars: 1,
                bytes: 8,
            },
        };
        assert_eq!(
            final_line("f64", &r),
            format!(
                r#"{{"example":"digits","precision":"f64","final_loss":0.09999999999999999,"accuracy":1,"test_accuracy":0.975,"checksum":"{:016x}"}}"#,
                checksum()
            )
        );
    }

    #[test]
    fn checksum_is_of_both_files() {
        let pixels = fnv1a(FNV_OFFSET, &digits::PIXELS);
        assert_ne!(checksum(), pixels);
        assert_eq!(checksum(), fnv1a(pixels, &digits::LABELS));
    }
}
