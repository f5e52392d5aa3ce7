//! Learning from live readings: a [`SampleSource`] trait for anything that produces feature
//! rows (a sensor, a bus, a file on the host), and an [`OnlineTrainer`] that learns from a
//! source as the samples arrive. Sensor drivers are crates of their own: `embedgrad-drivers`
//! has an `Accelerometer` that reads a 3-axis accelerometer (MPU-6050, LIS3DH) through the
//! `embedded-hal` 1.0 `I2c` trait as a `SampleSource`.
//!
//! - A source fills a feature row and says which class it belongs to, if it knows
//!   ([`SampleSource::read_sample`]). A device failure is [`Error::Source`].
//! - [`Labelled`] attaches labels from elsewhere (a button, a second sensor, the user) to an
//!   unlabelled source such as `embedgrad-drivers`' `Accelerometer`.
//! - [`OnlineTrainer`] collects labelled samples into a mini-batch of `B` rows and takes one
//!   optimizer step whenever the batch is full. Before a step, the model's predictions for the
//!   batch are compared with the labels ("test, then train"), which gives a running accuracy
//!   on data the model has not yet learned from ([`RunningAccuracy`]). Unlabelled samples are
//!   classified, not learned.
//! - A failed read changes nothing: not the buffered samples, not a variable, not the
//!   optimizer's state. The sample is dropped and the next call carries on.
//!
//! ```
//! use embedgrad_core::{Error, Matrix};
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::source::{Event, OnlineTrainer, SampleSource};
//! use embedgrad_train::{init::Init, Adam, Feeds, SplitMix64};
//!
//! /// A pretend sensor: class 1 when the reading is positive; every fifth read fails.
//! struct Fake(SplitMix64, u32);
//! impl SampleSource<f32> for Fake {
//!     fn dim(&self) -> usize { 1 }
//!     fn read_sample(&mut self, out: &mut [f32]) -> Result<Option<u8>, Error> {
//!         self.1 += 1;
//!         if self.1 % 5 == 0 {
//!             return Err(Error::Source);
//!         }
//!         let v = 2.0 * self.0.uniform() - 1.0;
//!         out.fill(v as f32);
//!         Ok(Some(u8::from(v > 0.0)))
//!     }
//! }
//!
//! // Logistic regression 1 → 2 classes, trained on mini-batches of 4 live samples.
//! let mut rng = SplitMix64::new(3);
//! let mut g: StdGraph<f32, 8, 50> = StdGraph::new(); // exactly what this net needs
//! let x = g.placeholder::<4, 1>()?;
//! let y = g.placeholder::<4, 1>()?;
//! let w = g.variable(&Init::XavierUniform.matrix::<f32, 1, 2>(&mut rng))?;
//! let b = g.variable(&Matrix::<f32, 1, 2>::zeros())?;
//! let xw = g.matmul(x, w)?;
//! let logits = g.add(xw, b)?;
//! let loss = g.sparse_softmax_cross_entropy(logits, y)?;
//! let feeds = Feeds { x: x.id(), y: y.id(), loss: loss.id() };
//!
//! let mut trainer: OnlineTrainer<f32, 4, 1> = OnlineTrainer::new(&g, feeds, logits.id())?;
//! let mut opt: Adam<f32, 4> = Adam::new(0.1);
//! let mut sensor = Fake(SplitMix64::new(9), 0);
//! let mut failures = 0;
//! for _ in 0..500 {
//!     match trainer.poll(&mut sensor, &mut g, &mut opt) {
//!         Ok(Event::Trained { .. } | Event::Buffered { .. } | Event::Predicted { .. }) => {}
//!         Err(Error::Source) => failures += 1, // dropped; training goes on
//!         Err(e) => return Err(e),
//!     }
//! }
//! assert_eq!(failures, 100);
//! assert_eq!(trainer.stats().steps, 100); // 400 samples in batches of 4
//! assert!(trainer.running().accuracy() > 0.9); // over the last 64 predictions
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::optim::{argmax, minimize, Feeds, Optimizer};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, NodeId, Op, Scalar, Shape};

/// Something that produces feature rows of a fixed width, with or without a class label.
pub trait SampleSource<T: Scalar> {
    /// Features per sample.
    fn dim(&self) -> usize;

    /// Reads the next sample: writes [`SampleSource::dim`] features into `features` and
    /// returns its class if the source knows it (`None` for an unlabelled reading).
    ///
    /// # Errors
    /// [`Error::Source`] when the device fails (a bus error, a missing device, a timeout);
    /// [`Error::LengthMismatch`] when `features` is not `dim` long. After an error the
    /// contents of `features` are unspecified.
    fn read_sample(&mut self, features: &mut [T]) -> Result<Option<u8>, Error>;
}

impl<T: Scalar, S: SampleSource<T> + ?Sized> SampleSource<T> for &mut S {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn read_sample(&mut self, features: &mut [T]) -> Result<Option<u8>, Error> {
        (**self).read_sample(features)
    }
}

/// A source whose labels come from a function: `label()` is called after each successful read
/// (so it describes the moment of the reading) and replaces whatever the inner source said.
///
/// ```
/// # use embedgrad_core::Error;
/// use embedgrad_train::source::{Labelled, SampleSource};
/// struct Zero;
/// impl SampleSource<f32> for Zero {
///     fn dim(&self) -> usize { 2 }
///     fn read_sample(&mut self, out: &mut [f32]) -> Result<Option<u8>, Error> {
///         out.fill(0.0);
///         Ok(None)
///     }
/// }
/// let button_pressed = true; // e.g. `button.is_high()` through embedded-hal's InputPin
/// let mut s = Labelled::new(Zero, || Some(u8::from(button_pressed)));
/// assert_eq!(s.read_sample(&mut [0.0f32; 2])?, Some(1));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Labelled<S, F> {
    source: S,
    label: F,
}

impl<S, F> Labelled<S, F> {
    /// `source`, labelled by `label`.
    pub const fn new(source: S, label: F) -> Self {
        Self { source, label }
    }

    /// The inner source.
    pub fn inner(&self) -> &S {
        &self.source
    }

    /// The inner source, mutable.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Takes the source and the labelling function back.
    pub fn into_parts(self) -> (S, F) {
        (self.source, self.label)
    }
}

impl<T: Scalar, S: SampleSource<T>, F: FnMut() -> Option<u8>> SampleSource<T> for Labelled<S, F> {
    fn dim(&self) -> usize {
        self.source.dim()
    }
    fn read_sample(&mut self, features: &mut [T]) -> Result<Option<u8>, Error> {
        self.source.read_sample(features)?;
        Ok((self.label)())
    }
}

/// The share of correct predictions over the last (up to) 64 labelled samples, and over all.
///
/// ```
/// use embedgrad_train::source::RunningAccuracy;
/// let mut acc = RunningAccuracy::new();
/// for i in 0..100 {
///     acc.record(i >= 50); // wrong for the first 50, right after
/// }
/// assert_eq!((acc.window(), acc.accuracy()), (64, 50.0 / 64.0));
/// assert_eq!((acc.correct(), acc.total()), (50, 100));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RunningAccuracy {
    /// Bit `i` set when the `i`-th most recent prediction was right.
    history: u64,
    len: u32,
    correct: u64,
    total: u64,
}

impl RunningAccuracy {
    /// Predictions the window holds at most.
    pub const WINDOW: u32 = 64;

    /// No predictions yet.
    pub const fn new() -> Self {
        Self {
            history: 0,
            len: 0,
            correct: 0,
            total: 0,
        }
    }

    /// Records one prediction.
    pub fn record(&mut self, correct: bool) {
        self.history = (self.history << 1) | u64::from(correct);
        self.len = (self.len + 1).min(Self::WINDOW);
        self.correct = self.correct.saturating_add(u64::from(correct));
        self.total = self.total.saturating_add(1);
    }

    /// Predictions in the window (up to 64).
    pub fn window(&self) -> u32 {
        self.len
    }

    /// Correct predictions in the window over the window's length (0 when empty).
    pub fn accuracy(&self) -> f64 {
        if self.len == 0 {
            return 0.0;
        }
        let mask = u64::MAX >> (u64::BITS - self.len);
        f64::from((self.history & mask).count_ones()) / f64::from(self.len)
    }

    /// Correct predictions since the start.
    pub fn correct(&self) -> u64 {
        self.correct
    }

    /// Predictions since the start.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Correct over all predictions since the start (0 when none).
    pub fn overall(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// What one [`OnlineTrainer::poll`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<T> {
    /// A labelled sample joined the mini-batch, which now holds `filled` of `B` rows.
    Buffered {
        /// Rows in the batch.
        filled: usize,
    },
    /// The sample completed the batch and the optimizer took one step on it.
    Trained {
        /// The batch's loss before the update.
        loss: T,
        /// Rows of the batch the model classified correctly before the update.
        correct: usize,
    },
    /// An unlabelled sample, classified (not learned from).
    Predicted {
        /// The predicted class.
        class: usize,
    },
}

/// Counters of an [`OnlineTrainer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Labelled samples accepted into a batch.
    pub labelled: u64,
    /// Unlabelled samples classified.
    pub unlabelled: u64,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Reads that failed with [`Error::Source`] (samples dropped).
    pub source_errors: u64,
    /// Batches dropped because their step failed (a non-finite loss or gradient).
    pub failed_steps: u64,
}

/// Learns online from a [`SampleSource`]: buffers labelled samples into a mini-batch of `B`
/// rows of `D` features, and when the batch is full feeds it (`x`: `B × D`, `y`: labels,
/// `B × 1`, for `sparse_softmax_cross_entropy`), takes one [`minimize`] step and scores the
/// predictions the model made for the batch before the update ([`RunningAccuracy`]).
///
/// The graph, the optimizer and the source stay with the caller; the trainer holds the batch
/// (`(B·D + B)` scalars) and the counters. See the [module docs](self) for an example.
#[derive(Clone, Debug)]
pub struct OnlineTrainer<T, const B: usize, const D: usize> {
    feeds: Feeds,
    logits: NodeId,
    classes: usize,
    x: [[T; D]; B],
    y: [T; B],
    filled: usize,
    running: RunningAccuracy,
    stats: Stats,
}

impl<T: Scalar, const B: usize, const D: usize> OnlineTrainer<T, B, D> {
    /// A trainer for the graph's placeholders `feeds.x` (`B × D`) and `feeds.y` (`B × 1`), the
    /// 1×1 loss `feeds.loss` and the class scores `logits` (`B × K`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when a node has another shape; graph errors for bad handles.
    pub fn new<O: Op<T>, const N: usize, const S: usize>(
        g: &Graph<T, O, N, S>,
        feeds: Feeds,
        logits: NodeId,
    ) -> Result<Self, Error> {
        let want = |id: NodeId, expected: Shape| -> Result<Shape, Error> {
            let found = g.shape(id)?;
            if found == expected {
                Ok(found)
            } else {
                Err(Error::ShapeMismatch { expected, found })
            }
        };
        want(feeds.x, Shape::new(B, D))?;
        want(feeds.y, Shape::new(B, 1))?;
        want(feeds.loss, Shape::new(1, 1))?;
        let classes = g.shape(logits)?.cols;
        want(logits, Shape::new(B, classes))?;
        Ok(Self {
            feeds,
            logits,
            classes,
            x: [[T::ZERO; D]; B],
            y: [T::ZERO; B],
            filled: 0,
            running: RunningAccuracy::new(),
            stats: Stats::default(),
        })
    }

    /// Reads one sample from `source` and learns from it:
    ///
    /// - a labelled sample joins the batch ([`Event::Buffered`]); when it fills the batch,
    ///   the predictions for the batch are scored and the optimizer takes one step
    ///   ([`Event::Trained`]), and the batch starts empty again;
    /// - an unlabelled sample is classified ([`Event::Predicted`]).
    ///
    /// # Errors
    /// - [`Error::Source`] (or any error of the source): the sample is dropped, and nothing
    ///   else changes — the buffered samples, the variables and the optimizer's state are as
    ///   before the call. Call again to carry on.
    /// - [`Error::LengthMismatch`] when the source's `dim()` is not `D`;
    ///   [`Error::InvalidArgument`] for a label `≥ K` (the sample is dropped).
    /// - Errors of the step ([`minimize`]: a non-finite loss or gradient changes no variable):
    ///   the batch is dropped.
    pub fn poll<S, O, Opt, const N: usize, const SC: usize>(
        &mut self,
        source: &mut S,
        g: &mut Graph<T, O, N, SC>,
        opt: &mut Opt,
    ) -> Result<Event<T>, Error>
    where
        S: SampleSource<T> + ?Sized,
        O: Op<T>,
        Opt: Optimizer<T>,
    {
        if source.dim() != D {
            return Err(Error::LengthMismatch {
                expected: D,
                found: source.dim(),
            });
        }
        let slot = self.filled;
        let row = self.x.get_mut(slot).ok_or(Error::InvalidArgument)?;
        let label = match source.read_sample(row) {
            Ok(l) => l,
            Err(e) => {
                self.stats.source_errors = self.stats.source_errors.saturating_add(1);
                return Err(e);
            }
        };
        let Some(label) = label else {
            let class = self.classify_slot(g, slot)?;
            self.stats.unlabelled = self.stats.unlabelled.saturating_add(1);
            return Ok(Event::Predicted { class });
        };
        let label = usize::from(label);
        if label >= self.classes {
            return Err(Error::InvalidArgument);
        }
        let y = self.y.get_mut(slot).ok_or(Error::InvalidArgument)?;
        *y = T::from_usize(label);
        self.filled += 1;
        self.stats.labelled = self.stats.labelled.saturating_add(1);
        if self.filled < B {
            return Ok(Event::Buffered {
                filled: self.filled,
            });
        }
        // The batch is full: whatever happens now, it is consumed.
        self.filled = 0;
        let r = self.train_batch(g, opt);
        if r.is_err() {
            self.stats.failed_steps = self.stats.failed_steps.saturating_add(1);
        }
        r
    }

    fn train_batch<O: Op<T>, Opt: Optimizer<T>, const N: usize, const SC: usize>(
        &mut self,
        g: &mut Graph<T, O, N, SC>,
        opt: &mut Opt,
    ) -> Result<Event<T>, Error> {
        g.feed_slice(self.feeds.x, self.x.as_flattened())?;
        g.feed_slice(self.feeds.y, &self.y)?;
        let loss = g.tensor::<1, 1>(self.feeds.loss)?;
        let loss = minimize(opt, g, loss)?;
        self.stats.steps = self.stats.steps.saturating_add(1);
        // `minimize` ran the forward pass before its update: the logits are the predictions
        // the model made for these rows before learning from them.
        let scores = g.value_slice(self.logits)?;
        let mut correct = 0;
        for (row, &label) in scores.exact_rows(self.classes.max(1)).zip(&self.y) {
            let hit = T::from_usize(argmax(row)) == label;
            self.running.record(hit);
            correct += usize::from(hit);
        }
        Ok(Event::Trained { loss, correct })
    }

    /// Runs the model on the batch buffer and returns the class of row `slot`.
    fn classify_slot<O: Op<T>, const N: usize, const SC: usize>(
        &mut self,
        g: &mut Graph<T, O, N, SC>,
        slot: usize,
    ) -> Result<usize, Error> {
        g.feed_slice(self.feeds.x, self.x.as_flattened())?;
        g.run(self.logits)?;
        let k = self.classes.max(1);
        let scores = g.value_slice(self.logits)?;
        let row = scores
            .get(slot * k..(slot + 1) * k)
            .ok_or(Error::InvalidArgument)?;
        Ok(argmax(row))
    }

    /// Classifies one feature row (`D` long) with the current model, without learning from it
    /// and without disturbing the buffered samples.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `features` is not `D` long; graph errors (non-finite
    /// features are refused by the feed).
    pub fn predict<O: Op<T>, const N: usize, const SC: usize>(
        &mut self,
        g: &mut Graph<T, O, N, SC>,
        features: &[T],
    ) -> Result<usize, Error> {
        let slot = self.filled;
        let row = self.x.get_mut(slot).ok_or(Error::InvalidArgument)?;
        if features.len() != D {
            return Err(Error::LengthMismatch {
                expected: D,
                found: features.len(),
            });
        }
        row.copy_from(features);
        self.classify_slot(g, slot)
    }

    /// Labelled samples waiting in the batch (`0..B`).
    pub fn buffered(&self) -> usize {
        self.filled
    }

    /// Forgets the buffered samples (the model and the counters stay).
    pub fn discard_batch(&mut self) {
        self.filled = 0;
    }

    /// The running accuracy of the predictions made before each step.
    pub fn running(&self) -> &RunningAccuracy {
        &self.running
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of classes `K` (the logits' columns).
    pub fn classes(&self) -> usize {
        self.classes
    }
}

#[cfg(test)]
mod tests;
