//! The UCI handwritten digits: 1,797 images of 8×8 grey levels (0..=16) of the digits 0–9,
//! and the recipe that trains a 64-32-10 multilayer perceptron on them.
//!
//! **Data.** [`PIXELS`] (1,797 × 64 bytes, row-major, one image per row, each row the 8×8
//! image read row by row) and [`LABELS`] (one byte per image, `0..=9`) are `static`s included
//! from `digits/pixels.u8` and `digits/labels.u8`: on a microcontroller they stay in flash.
//! They are the test part of the UCI "Optical Recognition of Handwritten Digits" data set
//! (E. Alpaydin, C. Kaynak, 1998) as scikit-learn ships it (`sklearn/datasets/data/digits.csv.gz`);
//! `digits/README.md` gives the source, the licence and how the files were made. [`TABLE`]
//! decodes a pixel `p` as `p / 16`, so features lie in `[0, 1]`.
//!
//! **Split.** [`split`] shuffles the row numbers with a SplitMix64 seeded with [`SPLIT_SEED`]
//! and keeps the last [`TEST`] = 360 as the held-out set, the first [`TRAIN`] = 1,437 for
//! training: the same split on every target, whatever the training seed.
//!
//! **Network.** `x (B×64) → dense 64×32 → relu → dense 32×10 → logits`, with the loss
//! `sparse_softmax_cross_entropy(logits, labels)` summed over a mini-batch of `B` rows:
//! [`PARAMETERS`] = 2,410 trainable scalars. [`Trainer`] holds everything but the graph: the
//! split, Adam's moments, the generator that shuffles the train rows every epoch, and the
//! batch buffers; [`RECIPE`] is the schedule the simulator and the firmware both use.
//!
//! ```
//! use embedgrad_data::digits::{self, Part, Trainer};
//! use embedgrad_ops::prelude::*;
//!
//! const B: usize = digits::BATCH;
//! let (nodes, scalars) = digits::capacity(B);
//! assert_eq!((nodes, scalars), (digits::NODES, 297 * B + 4822));
//! let mut g: Box<StdGraph<f32, { digits::NODES }, { 297 * B + 4822 }>> = Box::new(StdGraph::new());
//! let mut t: Box<Trainer<f32, B>> = Box::new(Trainer::new(&mut g, &digits::RECIPE)?);
//! // Two epochs (the recipe trains for more): already far better than chance (10%).
//! for _ in 0..2 {
//!     t.start_epoch();
//!     for k in 0..Trainer::<f32, B>::batches() {
//!         t.step(&mut g, k)?;
//!     }
//! }
//! let held_out = t.evaluate(&mut g, Part::Test)?;
//! assert_eq!(held_out.total, 360);
//! assert!(held_out.accuracy() > 0.8);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, NodeId, Op, Scalar, Shape, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_ops::StdOp;
use embedgrad_train::data::{shuffle, Dataset, Evaluation, Table, Targets};
use embedgrad_train::init::Init;
use embedgrad_train::layers::FineTune;
use embedgrad_train::safetensors::{self, Dtype, Layout, LoadOptions, Param, ParamName};
use embedgrad_train::safetensors::{SafeTensors, WeightsError};
use embedgrad_train::{minimize, Adam, Feeds, Schedule, SplitMix64};

pub mod finetune;
pub mod fleet;
pub mod quantized;
pub use finetune::{Writer, FINE_TUNE};

/// Images.
pub const SAMPLES: usize = 1797;
/// Pixels per image (8 × 8).
pub const FEATURES: usize = 64;
/// Classes (the digits 0–9).
pub const CLASSES: usize = 10;
/// The largest pixel value.
pub const MAX_PIXEL: u8 = 16;

/// The grey levels, `SAMPLES × FEATURES` bytes, row-major.
pub static PIXELS: [u8; SAMPLES * FEATURES] = *include_bytes!("../digits/pixels.u8");
/// The class of each image, `0..=9`.
pub static LABELS: [u8; SAMPLES] = *include_bytes!("../digits/labels.u8");

/// The images as a table of features `p / 16` in `[0, 1]`.
pub const TABLE: Table<'static> = Table::u8(&PIXELS, FEATURES, 1.0 / 16.0, 0.0);

/// The labelled data set: [`TABLE`] with [`LABELS`], 10 classes.
///
/// # Errors
/// None in practice (the tests check that the statics are well-formed); the
/// [`Dataset::new`] checks are kept rather than bypassed.
pub fn dataset() -> Result<Dataset<'static>, Error> {
    Dataset::new(TABLE, &LABELS, CLASSES)
}

/// Held-out images.
pub const TEST: usize = 360;
/// Training images.
pub const TRAIN: usize = SAMPLES - TEST;
/// Seed of the generator that draws the train/test split.
pub const SPLIT_SEED: u64 = 0x0d16_1797;

/// The fixed split: fills `indices` with the row numbers shuffled by SplitMix64([`SPLIT_SEED`])
/// and returns `(train, test)`, the first [`TRAIN`] and the last [`TEST`] of them.
///
/// ```
/// use embedgrad_data::digits;
/// let mut idx = [0u16; digits::SAMPLES];
/// let (train, test) = digits::split(&mut idx)?;
/// assert_eq!((train.len(), test.len()), (1437, 360));
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// None in practice (as [`Dataset::split`]).
pub fn split(indices: &mut [u16; SAMPLES]) -> Result<(&mut [u16], &mut [u16]), Error> {
    dataset()?.split(&mut SplitMix64::new(SPLIT_SEED), indices, TEST)
}

/// Hidden units.
pub const HIDDEN: usize = 32;
/// Trainable scalars: `64·32 + 32 + 32·10 + 10`.
pub const PARAMETERS: usize = FEATURES * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES;
/// Nodes of the graph [`build`] makes.
pub const NODES: usize = 12;
/// The mini-batch size of [`RECIPE`]'s runs (the simulator's and the firmware's).
pub const BATCH: usize = 16;

/// The nodes and scalars [`build`] needs for mini-batches of `b` rows: `(NODES, 297·b + 4822)`.
///
/// The placeholders `x` (b×64) and `y` (b×1) hold values only; the variables (2,410 scalars)
/// and the ops `matmul`, `add`, `relu` (b×32 each), `matmul`, `add` (b×10 each) and the loss
/// (1×1) hold a value and a gradient each.
pub const fn capacity(b: usize) -> (usize, usize) {
    let values = b * FEATURES + b;
    let with_grads = PARAMETERS + 3 * b * HIDDEN + 2 * b * CLASSES + 1;
    (NODES, values + 2 * with_grads)
}

/// Handles of the network [`build`] makes.
#[derive(Clone, Copy, Debug)]
pub struct Net<const B: usize> {
    /// Inputs, `B × 64`.
    pub x: Tensor<B, FEATURES>,
    /// Labels as scalars, `B × 1` (the invalid label 10 pads a short batch).
    pub y: Tensor<B, 1>,
    /// First layer's weights, `64 × 32`.
    pub w1: Tensor<FEATURES, HIDDEN>,
    /// First layer's bias, `1 × 32`.
    pub b1: Tensor<1, HIDDEN>,
    /// Second layer's weights, `32 × 10`.
    pub w2: Tensor<HIDDEN, CLASSES>,
    /// Second layer's bias, `1 × 10`.
    pub b2: Tensor<1, CLASSES>,
    /// Class scores, `B × 10`.
    pub logits: Tensor<B, CLASSES>,
    /// The loss summed over the batch, `1 × 1`.
    pub loss: Tensor<1, 1>,
}

impl<const B: usize> Net<B> {
    /// Input, target and loss nodes, for the batching helpers of `embedgrad-train`.
    pub fn feeds(&self) -> Feeds {
        Feeds {
            x: self.x.id(),
            y: self.y.id(),
            loss: self.loss.id(),
        }
    }

    /// The weights named as the state dict of PyTorch's
    /// `nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))`: `0.weight` (32 × 64),
    /// `0.bias` (32), `2.weight` (10 × 32), `2.bias` (10) — for
    /// [`safetensors`].
    pub fn params(&self) -> [Param<'static>; 4] {
        let p = |index, field, node, layout| Param {
            name: ParamName::Module {
                prefix: "",
                index,
                field,
            },
            node,
            layout,
        };
        [
            p(0, "weight", self.w1.id(), Layout::Transposed),
            p(0, "bias", self.b1.id(), Layout::Vector),
            p(2, "weight", self.w2.id(), Layout::Transposed),
            p(2, "bias", self.b2.id(), Layout::Vector),
        ]
    }

    /// Chooses what trains: every layer, the last one, or the biases only (see
    /// [`FineTune`]).
    ///
    /// # Errors
    /// A bad handle (a net of another graph).
    pub fn fine_tune<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        mode: FineTune,
    ) -> Result<(), Error> {
        let (w1, b1, w2, b2) = match mode {
            FineTune::All => (true, true, true, true),
            FineTune::LastLayer => (false, false, true, true),
            FineTune::BiasesOnly => (false, true, false, true),
            FineTune::Nothing => (false, false, false, false),
        };
        g.set_trainable(self.w1.id(), w1)?;
        g.set_trainable(self.b1.id(), b1)?;
        g.set_trainable(self.w2.id(), w2)?;
        g.set_trainable(self.b2.id(), b2)
    }

    /// Loads the weights from a safetensors file (see [`Net::params`]); nothing changes
    /// unless the whole file is right.
    ///
    /// # Errors
    /// The [`WeightsError`] of [`SafeTensors::parse`] and [`safetensors::load`].
    pub fn load_weights<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        file: &[u8],
    ) -> Result<(), WeightsError> {
        let st: SafeTensors<'_, 4> = SafeTensors::parse(file)?;
        safetensors::load(&st, g, &self.params(), LoadOptions::default())
    }

    /// Writes the weights as a safetensors file of `dtype` elements through `sink` (see
    /// [`safetensors::write`]); returns its length.
    ///
    /// # Errors
    /// As [`safetensors::write`].
    pub fn save_weights<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &Graph<T, O, N, S>,
        dtype: Dtype,
        sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, WeightsError> {
        safetensors::write(g, &self.params(), dtype, sink)
    }
}

/// Builds the 64-32-10 network for mini-batches of `B` rows: weights He-uniform (first layer,
/// before a relu) and Xavier-uniform (second layer) drawn from `rng` in that order, biases 0.
///
/// # Errors
/// Capacity errors when the graph is smaller than [`capacity`]`(B)`.
pub fn build<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize, const B: usize>(
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
) -> Result<Net<B>, Error> {
    let x = g.placeholder::<B, FEATURES>()?;
    let y = g.placeholder::<B, 1>()?;
    // Drawn straight into the graph (the same values, in the same order, as
    // `Init::matrix`): no matrix passes through the stack, which on a device is 8 KB.
    let w1 = Tensor::from_id(g.variable_with(Shape::new(FEATURES, HIDDEN), |v| {
        Init::HeUniform.fill(rng, FEATURES, HIDDEN, v)
    })?);
    let b1 = Tensor::from_id(g.variable_with(Shape::new(1, HIDDEN), |_| {})?);
    let w2 = Tensor::from_id(g.variable_with(Shape::new(HIDDEN, CLASSES), |v| {
        Init::XavierUniform.fill(rng, HIDDEN, CLASSES, v)
    })?);
    let b2 = Tensor::from_id(g.variable_with(Shape::new(1, CLASSES), |_| {})?);
    let h = g.matmul(x, w1)?;
    let h = g.add(h, b1)?;
    let h = g.relu(h)?;
    let o = g.matmul(h, w2)?;
    let logits = g.add(o, b2)?;
    let loss = g.sparse_softmax_cross_entropy(logits, y)?;
    Ok(Net {
        x,
        y,
        w1,
        b1,
        w2,
        b2,
        logits,
        loss,
    })
}

/// How a [`Trainer`] trains: epochs, Adam's learning-rate schedule (per step) and the seed of
/// the weights and of the per-epoch shuffles.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Recipe {
    /// Passes over the training rows.
    pub epochs: usize,
    /// Adam's step size at each step (one step per mini-batch).
    pub schedule: Schedule,
    /// Seed of the initial weights and the shuffles.
    pub seed: u64,
}

/// Steps of the [`RECIPE`] run with [`BATCH`]-row batches: epochs × ⌈1437 / 16⌉.
pub const RECIPE_STEPS: usize = 20 * TRAIN.div_ceil(BATCH);

/// The recipe of `embedgrad-sim train digits` and of the firmware: 20 epochs of [`BATCH`]-row
/// mini-batches, Adam with a cosine schedule from 0.01 down to 0.0005.
pub const RECIPE: Recipe = Recipe {
    epochs: 20,
    schedule: Schedule::Cosine {
        initial: 0.01,
        min: 0.0005,
        steps: RECIPE_STEPS as u32,
    },
    seed: 42,
};

/// Which rows of the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Part {
    /// The 1,437 training rows.
    Train,
    /// The 360 held-out rows.
    Test,
}

/// Everything a digits run needs besides the graph: the data set and its split, the network's
/// handles, Adam (state for `P` trainable scalars: [`PARAMETERS`] by default; 330 suffice to
/// fine-tune the last layer), the shuffling generator, a batch's buffers and the [`Writer`]
/// whose hand the images are seen in. About `4·(2·P + 65·B) + 3.6 K` bytes in f32 — put it
/// in a `static` or a `Box`.
#[derive(Clone, Debug)]
pub struct Trainer<T: Scalar, const B: usize, const P: usize = PARAMETERS> {
    net: Net<B>,
    opt: Adam<T, P>,
    writer: Writer,
    schedule: Schedule,
    rng: SplitMix64,
    indices: [u16; SAMPLES],
    x: [[T; FEATURES]; B],
    y: [T; B],
    steps: u32,
}

impl<T: Scalar, const B: usize, const P: usize> Trainer<T, B, P> {
    /// Splits the data, builds the network into the empty graph `g` with weights drawn from
    /// SplitMix64(`recipe.seed`) and sets up Adam with `recipe.schedule`.
    ///
    /// # Errors
    /// Capacity errors when `g` is smaller than [`capacity`]`(B)`; [`Error::InvalidArgument`]
    /// for `B = 0`.
    pub fn new<O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
        g: &mut Graph<T, O, N, S>,
        recipe: &Recipe,
    ) -> Result<Self, Error> {
        let mut t = Self::empty();
        t.init(g, recipe)?;
        Ok(t)
    }

    /// A trainer with nothing set up yet, for a `static`: every byte is zero, so it is placed
    /// in `.bss` and never passes through the stack (27 KB in f32 with `B = 16`, most of it
    /// Adam's moments). [`Trainer::init`] then sets it up in place.
    pub const fn empty() -> Self {
        // Handles of no graph (tag 0 is never a live graph's): replaced by `init`.
        let none = NodeId::new(0, 0);
        Self {
            net: Net {
                x: Tensor::from_id(none),
                y: Tensor::from_id(none),
                w1: Tensor::from_id(none),
                b1: Tensor::from_id(none),
                w2: Tensor::from_id(none),
                b2: Tensor::from_id(none),
                logits: Tensor::from_id(none),
                loss: Tensor::from_id(none),
            },
            opt: Adam::with(T::ZERO, T::ZERO, T::ZERO, T::ZERO),
            writer: Writer::Original,
            schedule: Schedule::Constant { lr: 0.0 },
            rng: SplitMix64::new(0),
            indices: [0; SAMPLES],
            x: [[T::ZERO; FEATURES]; B],
            y: [T::ZERO; B],
            steps: 0,
        }
    }

    /// Sets the trainer up in place, as [`Trainer::new`] does: splits the data, builds the
    /// network into the empty graph `g` and resets Adam to `recipe.schedule`'s first step size
    /// (its default `β`s and `ε`).
    ///
    /// # Errors
    /// As [`Trainer::new`].
    pub fn init<O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        recipe: &Recipe,
    ) -> Result<(), Error> {
        if B == 0 {
            return Err(Error::InvalidArgument);
        }
        dataset()?;
        split(&mut self.indices)?;
        self.rng = SplitMix64::new(recipe.seed);
        self.net = build(g, &mut self.rng)?;
        let defaults = Adam::<T, 0>::new(T::ZERO);
        self.opt.beta1 = defaults.beta1;
        self.opt.beta2 = defaults.beta2;
        self.opt.epsilon = defaults.epsilon;
        self.opt.reset();
        self.schedule = recipe.schedule;
        recipe.schedule.set(&mut self.opt, 0);
        self.steps = 0;
        Ok(())
    }

    /// The network's handles.
    pub fn net(&self) -> &Net<B> {
        &self.net
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Adam<T, P> {
        &self.opt
    }

    /// Sees every image in `writer`'s hand from now on (training and evaluation): the
    /// original digits, or a distorted "unseen writer" to fine-tune on.
    pub fn set_writer(&mut self, writer: Writer) {
        self.writer = writer;
    }

    /// The writer the images are seen in.
    pub fn writer(&self) -> Writer {
        self.writer
    }

    /// Starts over with `recipe`'s schedule: Adam's moments and update count zero, the step
    /// count zero, the rows in the split's order again and the shuffling generator re-seeded
    /// (the weights stay): how a fine-tuning run starts from loaded weights, the same run
    /// whatever the trainer did before.
    ///
    /// # Errors
    /// None in practice (as [`split`]).
    pub fn restart(&mut self, recipe: &Recipe) -> Result<(), Error> {
        split(&mut self.indices)?;
        self.opt.reset();
        self.schedule = recipe.schedule;
        recipe.schedule.set(&mut self.opt, 0);
        self.rng = SplitMix64::new(recipe.seed);
        self.steps = 0;
        Ok(())
    }

    /// Fills the batch buffers with the rows `rows` in the trainer's writer's hand.
    fn fill(&mut self, rows: &[u16]) -> Result<(), Error> {
        dataset()?.fill_batch(
            rows,
            self.x.as_flattened_mut(),
            &mut self.y,
            Targets::Labels,
        )?;
        for x in self.x.iter_mut().take(rows.len()) {
            self.writer.apply(x);
        }
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The row numbers of a part of the split.
    pub fn rows(&self, part: Part) -> &[u16] {
        let (train, test) = self.indices.split_at_most(TRAIN);
        match part {
            Part::Train => train,
            Part::Test => test,
        }
    }

    /// Mini-batches per epoch, `⌈1437 / B⌉` (the last one padded).
    pub const fn batches() -> usize {
        match TRAIN.checked_div(B) {
            Some(q) if q * B == TRAIN => q,
            Some(q) => q + 1,
            None => 0,
        }
    }

    /// Reshuffles the training rows: call before each epoch.
    pub fn start_epoch(&mut self) {
        let (train, _) = self.indices.split_at_most_mut(TRAIN);
        shuffle(&mut self.rng, train);
    }

    /// One training step on mini-batch `k` (`0..batches()`) of the current order: feeds it,
    /// sets the step size from the schedule, runs [`minimize`]. Returns the batch's summed loss
    /// before the update.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `k` is not a batch of the epoch; as [`minimize`] (a
    /// failed step changes no weight).
    pub fn step<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        k: usize,
    ) -> Result<T, Error> {
        let (train, _) = self.indices.split_at_most(TRAIN);
        let start = k.checked_mul(B).ok_or(Error::InvalidArgument)?;
        let rows = train
            .get(start..TRAIN.min(start.saturating_add(B)))
            .filter(|r| !r.is_empty())
            .ok_or(Error::InvalidArgument)?;
        // The tables in flash, checked again (a few instructions per label), so that the
        // trainer itself holds nothing but zeros until `init`.
        let rows: &[u16] = rows;
        let mut batch = [0u16; B];
        for (d, &r) in batch.iter_mut().zip(rows) {
            *d = r;
        }
        let n = rows.len();
        self.fill(batch.get(..n).unwrap_or(&[]))?;
        g.feed_slice(self.net.x.id(), self.x.as_flattened())?;
        g.feed_slice(self.net.y.id(), &self.y)?;
        self.schedule.set(&mut self.opt, self.steps);
        let loss = minimize(&mut self.opt, g, self.net.loss)?;
        self.steps = self.steps.saturating_add(1);
        Ok(loss)
    }

    /// One epoch: [`Trainer::start_epoch`], then every [`Trainer::step`], each run through
    /// `wrap` (the firmware counts and measures steps there; pass `|f| f()` otherwise).
    /// Returns the mean loss per training row, each batch's loss taken before its update.
    ///
    /// # Errors
    /// As [`Trainer::step`]; an error stops the epoch.
    pub fn epoch<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        mut wrap: impl FnMut(&mut dyn FnMut() -> Result<T, Error>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.start_epoch();
        let mut total = T::ZERO;
        for k in 0..Self::batches() {
            total += wrap(&mut || self.step(g, k))?;
        }
        Ok(total / T::from_usize(TRAIN))
    }

    /// The summed loss and the correct predictions on a part of the split (batches of `B`,
    /// no weight changes).
    ///
    /// # Errors
    /// As [`Dataset::evaluate`].
    pub fn evaluate<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        part: Part,
    ) -> Result<Evaluation<T>, Error> {
        let (start, end) = match part {
            Part::Train => (0, TRAIN),
            Part::Test => (TRAIN, SAMPLES),
        };
        if self.writer == Writer::Original {
            let rows = self.indices.get(start..end).unwrap_or(&[]);
            return dataset()?.evaluate(
                g,
                self.net.feeds(),
                Targets::Labels,
                self.net.logits.id(),
                rows,
                self.x.as_flattened_mut(),
                &mut self.y,
            );
        }
        // Another writer: the same batches, each row distorted before it is fed.
        let mut ev = Evaluation {
            loss: T::ZERO,
            correct: 0,
            total: 0,
        };
        let mut at = start;
        while at < end {
            let n = B.min(end - at);
            let mut batch = [0u16; B];
            for (d, &r) in batch
                .iter_mut()
                .zip(self.indices.get(at..at + n).unwrap_or(&[]))
            {
                *d = r;
            }
            let rows = batch.get(..n).unwrap_or(&[]);
            self.fill(rows)?;
            g.feed_slice(self.net.x.id(), self.x.as_flattened())?;
            g.feed_slice(self.net.y.id(), &self.y)?;
            g.run_many(&[self.net.loss.id(), self.net.logits.id()])?;
            ev.loss += g.value(self.net.loss)?.data[0][0];
            let scores = g.value_slice(self.net.logits.id())?;
            for (&r, row) in rows.iter().zip(scores.exact_rows(CLASSES)) {
                if LABELS.get(usize::from(r)).map(|&l| usize::from(l))
                    == Some(embedgrad_train::argmax(row))
                {
                    ev.correct += 1;
                }
            }
            ev.total += n;
            at += n;
        }
        Ok(ev)
    }

    /// The node of the class scores (`B × 10`).
    pub fn logits(&self) -> NodeId {
        self.net.logits.id()
    }
}

#[cfg(test)]
mod tests;
