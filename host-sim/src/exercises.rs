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

use crate::{json, Trained};
use embedgrad_core::{Error, PlanSummary, Requirements, Scalar};
use embedgrad_data::exercises::{self, models, Model, Part, Recipe, Trainer, BATCH, TIMESTEPS};
use embedgrad_ops::prelude::*;
use embedgrad_train::data::Evaluation;
use embedgrad_train::{fnv1a, FNV_OFFSET};
use serde::Serialize;
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

impl<T: Scalar> Trained<T> for ExercisesRun<T> {
    fn epoch_log(&self) -> &[(T, Duration)] {
        &self.epochs
    }

    fn on_training_set(&self) -> &Evaluation<T> {
        &self.train
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
    json::line(&json::Epoch {
        example: example_name(model),
        precision,
        epoch,
        loss: json::Num(loss),
    })
}

/// `{"example":"exercises","precision":P,"final_loss":L,"accuracy":A,"test_accuracy":T,"checksum":"<16 hex digits>"}`:
/// the mean loss per training window after training, the training and held-out accuracies
/// and the data's [`checksum`].
pub fn final_line<T: Scalar>(precision: &str, r: &ExercisesRun<T>) -> String {
    json::line(&json::HeldOut {
        example: example_name(r.model),
        precision,
        final_loss: json::Num(r.final_loss()),
        accuracy: r.train.accuracy(),
        test_accuracy: r.test.accuracy(),
        checksum: json::Hex(checksum()),
    })
}

/// One classification of a [`stream`] run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classified {
    /// Frames read so far (the window ends with frame `sample − 1`).
    pub sample: u64,
    /// The predicted class.
    pub class: usize,
    /// The exercise of the held-out window the last frame came from.
    pub label: usize,
    /// Whether the window is exactly one held-out window (it starts at a multiple of 64).
    pub aligned: bool,
}

/// The outcome of [`stream`].
#[derive(Clone, Debug)]
pub struct StreamRun {
    /// Every classification, in order.
    pub classified: Vec<Classified>,
    /// The held-out accuracy of the same weights, evaluated in batches.
    pub test: Evaluation<f32>,
    /// Frames replayed.
    pub samples: u64,
}

/// Trains the CNN with its recipe (f32), copies the weights into a one-row graph and replays
/// the held-out windows, in the split's order, frame by frame through a [`Replay`] source
/// into a [`SlidingWindow`](exercises::stream::SlidingWindow) classified every `hop` frames.
///
/// [`Replay`]: exercises::stream::Replay
///
/// # Errors
/// [`Error::InvalidArgument`] for a `hop` outside `1..=64`; graph errors.
pub fn stream(hop: usize) -> Result<StreamRun, Error> {
    use exercises::stream::{Push, Replay, SlidingWindow};
    const TRAIN_S: usize = CNN_SCALARS;
    const ONE_S: usize = models::cnn_capacity(1).1;
    let mut g: Box<StdGraph<f32, { models::CNN_NODES }, TRAIN_S>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<f32, BATCH, { models::CNN_PARAMETERS }>> =
        Box::new(Trainer::new(&mut g, &exercises::CNN)?);
    t.plan(&mut g)?;
    for _ in 0..exercises::CNN.epochs {
        t.epoch(&mut g, |f| f())?;
    }
    let test = t.evaluate(&mut g, Part::Test)?;
    let mut one: Box<StdGraph<f32, { models::CNN_NODES }, ONE_S>> = Box::new(StdGraph::new());
    let net = models::build_cnn::<f32, _, { models::CNN_NODES }, ONE_S, 1>(
        &mut one,
        &mut embedgrad_train::SplitMix64::new(0),
    )?;
    for (&from, &to) in t.net().vars.iter().zip(&net.vars) {
        one.assign_slice(to, g.value_slice(from)?)?;
    }
    let rows: Vec<u16> = t.rows(Part::Test).to_vec();
    let mut window = SlidingWindow::new(&one, net.x.id(), net.logits.id(), hop)?;
    let mut replay = Replay::new(&rows);
    let mut classified = Vec::new();
    let frames = TIMESTEPS as u64;
    loop {
        match window.push(&mut one, &mut replay) {
            Ok(Push::Classified { class, sample }) => {
                let w = usize::try_from((sample - 1) / frames).unwrap_or(usize::MAX);
                let label = rows
                    .get(w)
                    .and_then(|&r| exercises::LABELS.get(usize::from(r)))
                    .map_or(usize::MAX, |&l| usize::from(l));
                classified.push(Classified {
                    sample,
                    class,
                    label,
                    aligned: sample % frames == 0,
                });
            }
            Ok(Push::Buffered { .. }) => {}
            Err(Error::Source) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(StreamRun {
        classified,
        test,
        samples: window.samples(),
    })
}

/// `{"example":"exercises","sample":S,"class":C,"label":L,"aligned":B}`.
pub fn stream_line(c: &Classified) -> String {
    #[derive(Serialize)]
    struct Line {
        example: &'static str,
        sample: u64,
        class: usize,
        label: usize,
        aligned: bool,
    }
    json::line(&Line {
        example: "exercises",
        sample: c.sample,
        class: c.class,
        label: c.label,
        aligned: c.aligned,
    })
}

/// `{"example":"exercises","hop":H,"samples":N,"classifications":K,"accuracy":A,"aligned_accuracy":W,"test_accuracy":T}`:
/// the share of classifications that name the exercise of the window their last frame came
/// from, the same over the windows that are exactly a held-out window, and the held-out
/// accuracy of the same weights in batches (the aligned one must equal it).
pub fn stream_final_line(hop: usize, r: &StreamRun) -> String {
    #[derive(Serialize)]
    struct Summary {
        example: &'static str,
        hop: usize,
        samples: u64,
        classifications: usize,
        accuracy: f64,
        aligned_accuracy: f64,
        test_accuracy: f64,
    }
    let share = |f: &dyn Fn(&Classified) -> bool| {
        let all: Vec<_> = r.classified.iter().filter(|c| f(c)).collect();
        let right = all.iter().filter(|c| c.class == c.label).count();
        right as f64 / all.len().max(1) as f64
    };
    json::line(&Summary {
        example: "exercises",
        hop,
        samples: r.samples,
        classifications: r.classified.len(),
        accuracy: share(&|_| true),
        aligned_accuracy: share(&|c| c.aligned),
        test_accuracy: r.test.accuracy(),
    })
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
