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

use crate::{json, Trained};
use embedgrad_core::{Error, Requirements, Scalar};
use embedgrad_data::digits::{self, Part, Recipe, Trainer, Writer, BATCH, FINE_TUNE};
use embedgrad_ops::prelude::*;
use embedgrad_train::data::Evaluation;
use embedgrad_train::layers::FineTune;
use embedgrad_train::safetensors::{Dtype, WeightsError};
use embedgrad_train::{fnv1a, FNV_OFFSET};
use serde::Serialize;
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
    /// The trained weights as a safetensors file (PyTorch's `nn.Sequential` names; F32 for an
    /// f32 run, F64 for f64).
    pub weights: Vec<u8>,
}

impl<T: Scalar> Trained<T> for DigitsRun<T> {
    fn epoch_log(&self) -> &[(T, Duration)] {
        &self.epochs
    }

    fn on_training_set(&self) -> &Evaluation<T> {
        &self.train
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
    let weights = save(&g, t.net()).map_err(WeightsError::into_error)?;
    Ok(DigitsRun {
        epochs,
        train,
        test,
        requirements: g.requirements(),
        weights,
    })
}

/// The element type of a weight file written from a `T` graph.
fn dtype<T: Scalar>() -> Dtype {
    if T::BYTES == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

fn save<T: Scalar, const N: usize, const S: usize>(
    g: &StdGraph<T, N, S>,
    net: &digits::Net<BATCH>,
) -> Result<Vec<u8>, WeightsError> {
    let mut out = Vec::new();
    net.save_weights(g, dtype::<T>(), |b| {
        out.extend_from_slice(b);
        true
    })?;
    Ok(out)
}

/// Why a weight file could not be used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightsFailure {
    /// The file is not the digits model's weights.
    File(WeightsError),
    /// Training or evaluating failed.
    Graph(Error),
}

impl std::fmt::Display for WeightsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightsFailure::File(e) => write!(f, "{e}"),
            WeightsFailure::Graph(e) => write!(f, "{e}"),
        }
    }
}

impl From<Error> for WeightsFailure {
    fn from(e: Error) -> Self {
        WeightsFailure::Graph(e)
    }
}

type Graph<T> = StdGraph<T, { digits::NODES }, SCALARS>;

/// A graph and its trainer, on the heap.
type Loaded<T> = (Box<Graph<T>>, Box<Trainer<T, BATCH>>);

/// A graph and trainer with the weights of `file` loaded, seeing `writer`'s hand.
fn loaded<T: Scalar>(file: &[u8], writer: Writer) -> Result<Loaded<T>, WeightsFailure> {
    let mut g: Box<Graph<T>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<T, BATCH>> = Box::new(Trainer::new(&mut g, &FINE_TUNE)?);
    t.net()
        .load_weights(&mut g, file)
        .map_err(WeightsFailure::File)?;
    t.set_writer(writer);
    Ok((g, t))
}

/// The held-out accuracy of the weights in `file` on the digits as `writer` draws them.
///
/// # Errors
/// [`WeightsFailure::File`] for a file that is not the digits model's weights.
pub fn evaluate<T: Scalar>(file: &[u8], writer: Writer) -> Result<Evaluation<T>, WeightsFailure> {
    let (mut g, mut t) = loaded::<T>(file, writer)?;
    Ok(t.evaluate(&mut g, Part::Test)?)
}

/// The class scores (logits) of the weights in `file` for the images `rows` (storage order of
/// the data set, each as `writer` draws it), computed in batches of [`BATCH`].
///
/// # Errors
/// As [`evaluate`]; [`Error::InvalidArgument`] for rows past the data set.
pub fn predict<T: Scalar>(
    file: &[u8],
    writer: Writer,
    rows: std::ops::Range<usize>,
) -> Result<Vec<[T; digits::CLASSES]>, WeightsFailure> {
    let (mut g, t) = loaded::<T>(file, writer)?;
    let data = digits::dataset()?;
    if rows.end > data.len() {
        return Err(Error::InvalidArgument.into());
    }
    let net = *t.net();
    let mut out = Vec::with_capacity(rows.len());
    let (mut x, mut y) = ([[T::ZERO; digits::FEATURES]; BATCH], [T::ZERO; BATCH]);
    let mut start = rows.start;
    while start < rows.end {
        let n = data.fill_range(
            start,
            x.as_flattened_mut(),
            &mut y,
            embedgrad_train::data::Targets::Labels,
        )?;
        for row in x.iter_mut() {
            writer.apply(row);
        }
        g.feed_slice(net.x.id(), x.as_flattened())?;
        let logits = g.eval(net.logits)?;
        for row in logits.data.iter().take(n.min(rows.end - start)) {
            out.push(*row);
        }
        start += n;
    }
    Ok(out)
}

/// `{"row":R,"label":L,"logits":[…]}` for image `row`.
pub fn predict_line<T: Scalar>(row: usize, logits: &[T]) -> String {
    #[derive(Serialize)]
    #[serde(bound = "json::Num<T>: Serialize")]
    struct Predict<T> {
        row: usize,
        label: u8,
        logits: Vec<json::Num<T>>,
    }
    let label = digits::LABELS.get(row).copied().unwrap_or(0);
    let logits = logits.iter().map(|&v| json::Num(v)).collect();
    json::line(&Predict { row, label, logits })
}

/// The outcome of [`fine_tune`].
#[derive(Clone, Debug)]
pub struct FineTuneRun<T> {
    /// Held-out accuracy on the writer before fine-tuning.
    pub before: Evaluation<T>,
    /// Held-out accuracy on the writer after.
    pub after: Evaluation<T>,
    /// Per epoch: the mean training loss and the time.
    pub epochs: Vec<(T, Duration)>,
    /// Trainable scalars during fine-tuning.
    pub trainable: usize,
    /// The graph's need while fine-tuning (frozen layers need no gradients).
    pub requirements: Requirements,
    /// The fine-tuned weights as a safetensors file.
    pub weights: Vec<u8>,
}

/// Fine-tunes the weights in `file` to `writer` ([`FINE_TUNE`]: Adam, the writer's training
/// rows), training what `mode` says, calling `on_epoch(epoch, mean_loss, time)`.
///
/// # Errors
/// As [`evaluate`]; graph errors.
pub fn fine_tune<T: Scalar>(
    file: &[u8],
    writer: Writer,
    mode: FineTune,
    mut on_epoch: impl FnMut(usize, T, Duration),
) -> Result<FineTuneRun<T>, WeightsFailure> {
    let (mut g, mut t) = loaded::<T>(file, writer)?;
    let before = t.evaluate(&mut g, Part::Test)?;
    t.net().fine_tune(&mut g, mode)?;
    t.restart(&FINE_TUNE)?;
    let mut epochs = Vec::new();
    for e in 1..=FINE_TUNE.epochs {
        let start = Instant::now();
        let loss = t.epoch(&mut g, |f| f())?;
        let time = start.elapsed();
        on_epoch(e, loss, time);
        epochs.push((loss, time));
    }
    let after = t.evaluate(&mut g, Part::Test)?;
    let weights = save(&g, t.net()).map_err(WeightsFailure::File)?;
    Ok(FineTuneRun {
        before,
        after,
        epochs,
        trainable: g.trainable_scalars(),
        requirements: g.requirements(),
        weights,
    })
}

/// The name of a fine-tuning mode on the command line: `all`, `last`, `biases`, `none`.
pub fn mode_name(mode: FineTune) -> &'static str {
    match mode {
        FineTune::All => "all",
        FineTune::LastLayer => "last",
        FineTune::BiasesOnly => "biases",
        FineTune::Nothing => "none",
    }
}

/// The mode of a name ([`mode_name`]).
pub fn mode_from_name(s: &str) -> Option<FineTune> {
    [
        FineTune::All,
        FineTune::LastLayer,
        FineTune::BiasesOnly,
        FineTune::Nothing,
    ]
    .into_iter()
    .find(|&m| mode_name(m) == s)
}

/// `{"example":"digits","writer":W,"test_accuracy":A,"correct":C,"total":N}`.
pub fn eval_line<T: Scalar>(writer: Writer, e: &Evaluation<T>) -> String {
    #[derive(Serialize)]
    struct Eval {
        example: &'static str,
        writer: &'static str,
        test_accuracy: f64,
        correct: usize,
        total: usize,
    }
    json::line(&Eval {
        example: "digits",
        writer: writer.name(),
        test_accuracy: e.accuracy(),
        correct: e.correct,
        total: e.total,
    })
}

/// `{"example":"digits","writer":W,"mode":M,"epoch":E,"loss":L}`.
pub fn fine_tune_epoch_line<T: Scalar>(
    writer: Writer,
    mode: FineTune,
    epoch: usize,
    loss: T,
) -> String {
    #[derive(Serialize)]
    #[serde(bound = "json::Num<T>: Serialize")]
    struct FineTuneEpoch<T> {
        example: &'static str,
        writer: &'static str,
        mode: &'static str,
        epoch: usize,
        loss: json::Num<T>,
    }
    json::line(&FineTuneEpoch {
        example: "digits",
        writer: writer.name(),
        mode: mode_name(mode),
        epoch,
        loss: json::Num(loss),
    })
}

/// `{"example":"digits","writer":W,"mode":M,"before":A,"test_accuracy":B,"trainable":P,"scalars":S}`:
/// held-out accuracy on the writer before and after fine-tuning, the trainable scalars and
/// the graph's scalars while fine-tuning.
pub fn fine_tune_line<T: Scalar>(writer: Writer, mode: FineTune, r: &FineTuneRun<T>) -> String {
    #[derive(Serialize)]
    struct FineTuned {
        example: &'static str,
        writer: &'static str,
        mode: &'static str,
        before: f64,
        test_accuracy: f64,
        trainable: usize,
        scalars: usize,
    }
    json::line(&FineTuned {
        example: "digits",
        writer: writer.name(),
        mode: mode_name(mode),
        before: r.before.accuracy(),
        test_accuracy: r.after.accuracy(),
        trainable: r.trainable,
        scalars: r.requirements.scalars,
    })
}

/// `{"example":"digits","precision":P,"epoch":E,"loss":L}`.
pub fn epoch_line<T: Scalar>(precision: &str, epoch: usize, loss: T) -> String {
    json::line(&json::Epoch {
        example: "digits",
        precision,
        epoch,
        loss: json::Num(loss),
    })
}

/// `{"example":"digits","precision":P,"final_loss":L,"accuracy":A,"test_accuracy":T,"checksum":"<16 hex digits>"}`:
/// the mean loss per training image after training, the training and held-out accuracies and
/// the data's [`checksum`].
pub fn final_line<T: Scalar>(precision: &str, r: &DigitsRun<T>) -> String {
    json::line(&json::HeldOut {
        example: "digits",
        precision,
        final_loss: json::Num(r.final_loss()),
        accuracy: r.train.accuracy(),
        test_accuracy: r.test.accuracy(),
        checksum: json::Hex(checksum()),
    })
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
            weights: Vec::new(),
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
