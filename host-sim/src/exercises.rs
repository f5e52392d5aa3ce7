//! The smartwatch exercise windows on the desktop: the same data (`embedgrad_data::exercises`),
//! split, networks (a 1-D CNN and a GRU) and recipes as the firmware, trained with a planned
//! graph on the heap, timed per epoch.
//!
//! ```
//! use embedgrad_data::exercises::{Recipe, CNN};
//! use embedgrad_host_sim::exercises;
//!
//! // Three epochs of the CNN's recipe (it trains 60).
//! let r = exercises::train::<f32>(&CNN, 3, |_epoch, _loss, _time| {})?;
//! assert_eq!(r.epochs.len(), 3);
//! assert!(r.epochs[2].0 < r.epochs[0].0); // the mean training loss falls
//! assert_eq!((r.test.total, r.train.total), (196, 784));
//! assert!(r.test.accuracy() > 0.5); // far better than chance (1/7)
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::json;
use embedgrad_core::{Error, PlanSummary, Requirements, Scalar};
use embedgrad_data::exercises::{self, models, Model, Part, Recipe, Trainer, BATCH};
use embedgrad_ops::prelude::*;
use embedgrad_train::data::Evaluation;
use embedgrad_train::{fnv1a, FNV_OFFSET};
use std::time::{Duration, Instant};

/// The outcome of [`train`].
#[derive(Clone, Debug)]
pub struct ExercisesRun<T> {
    /// The network.
    pub model: Model,
    /// Per epoch: the mean loss per training window (each batch's loss taken before its
    /// update, on the augmented windows) and the epoch's wall-clock time.
    pub epochs: Vec<(T, Duration)>,
    /// The training windows (as recorded) after training: summed loss and correct predictions.
    pub train: Evaluation<T>,
    /// The held-out windows after training.
    pub test: Evaluation<T>,
    /// What the graph holds.
    pub requirements: Requirements,
    /// The step plan.
    pub plan: PlanSummary,
}

impl<T: Scalar> ExercisesRun<T> {
    /// The mean loss per training window after training.
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

/// FNV-1a 64 of the window bytes (as stored, two's complement) followed by the label bytes:
/// identifies the data set.
pub fn checksum() -> u64 {
    let windows = exercises::WINDOWS
        .iter()
        .fold(FNV_OFFSET, |h, &v| fnv1a(h, &v.to_le_bytes()));
    fnv1a(windows, &exercises::LABELS)
}

/// The unplanned capacities, per model, for [`BATCH`]-row batches.
const CNN_SCALARS: usize = models::cnn_capacity(BATCH).1;
const GRU_SCALARS: usize = models::gru_capacity(BATCH).1;

/// Trains `recipe.model` with `recipe` for its first `epochs` epochs (the schedule stays the
/// recipe's: fewer epochs are the start of the same run) in mini-batches of [`BATCH`] rows,
/// planned, calling `on_epoch(epoch, mean_loss, time)` after each epoch (numbered from 1),
/// then evaluates the training and the held-out windows.
///
/// # Errors
/// Graph errors (none expected: the capacities are exact).
pub fn train<T: Scalar>(
    recipe: &Recipe,
    epochs: usize,
    on_epoch: impl FnMut(usize, T, Duration),
) -> Result<ExercisesRun<T>, Error> {
    match recipe.model {
        Model::Cnn => {
            train_in::<T, { models::CNN_NODES }, CNN_SCALARS, { models::CNN_PARAMETERS }>(
                recipe, epochs, on_epoch,
            )
        }
        Model::Gru => {
            train_in::<T, { models::GRU_NODES }, GRU_SCALARS, { models::GRU_PARAMETERS }>(
                recipe, epochs, on_epoch,
            )
        }
    }
}

fn train_in<T: Scalar, const N: usize, const S: usize, const P: usize>(
    recipe: &Recipe,
    epochs: usize,
    mut on_epoch: impl FnMut(usize, T, Duration),
) -> Result<ExercisesRun<T>, Error> {
    let mut g: Box<StdGraph<T, N, S>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<T, BATCH, P>> = Box::new(Trainer::new(&mut g, recipe)?);
    let plan = t.plan(&mut g)?;
    let mut log = Vec::with_capacity(epochs);
    for e in 1..=epochs {
        let start = Instant::now();
        let loss = t.epoch(&mut g, |f| f())?;
        let time = start.elapsed();
        on_epoch(e, loss, time);
        log.push((loss, time));
    }
    let train = t.evaluate(&mut g, Part::Train)?;
    let test = t.evaluate(&mut g, Part::Test)?;
    Ok(ExercisesRun {
        model: recipe.model,
        epochs: log,
        train,
        test,
        requirements: g.requirements(),
        plan,
    })
}

/// The `example` field of a model's lines: `exercises` for the CNN, `exercises-gru` for the
/// GRU (the names of the `train` command).
pub fn example_name(model: Model) -> &'static str {
    match model {
        Model::Cnn => "exercises",
        Model::Gru => "exercises-gru",
    }
}

/// `{"example":"exercises","precision":P,"epoch":E,"loss":L}` (`exercises-gru` for the GRU).
pub fn epoch_line<T: Scalar>(model: Model, precision: &str, epoch: usize, loss: T) -> String {
    format!(
        "{{\"example\":{},\"precision\":{},\"epoch\":{epoch},\"loss\":{}}}",
        json::string(example_name(model)),
        json::string(precision),
        json::number(loss)
    )
}

/// `{"example":"exercises","precision":P,"final_loss":L,"accuracy":A,"test_accuracy":T,"checksum":"<16 hex digits>"}`:
/// the mean loss per training window after training, the training and held-out accuracies
/// and the data's [`checksum`].
pub fn final_line<T: Scalar>(precision: &str, r: &ExercisesRun<T>) -> String {
    format!(
        "{{\"example\":{},\"precision\":{},\"final_loss\":{},\"accuracy\":{},\"test_accuracy\":{},\"checksum\":\"{:016x}\"}}",
        json::string(example_name(r.model)),
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
    fn capacities_are_exact_and_the_plan_is_smaller() {
        for recipe in [exercises::CNN, exercises::GRU] {
            let r = train::<f32>(&recipe, 0, |_, _, _| {}).unwrap();
            assert_eq!(
                r.requirements.unplanned_scalars,
                recipe.model.capacity(BATCH).1
            );
            assert!(r.plan.scalars < r.plan.unplanned_scalars, "{:?}", r.plan);
        }
    }

    #[test]
    fn checksum_is_of_both_files() {
        let bytes: Vec<u8> = exercises::WINDOWS
            .iter()
            .map(|v| v.to_le_bytes()[0])
            .collect();
        assert_eq!(
            checksum(),
            fnv1a(fnv1a(FNV_OFFSET, &bytes), &exercises::LABELS)
        );
    }
}
