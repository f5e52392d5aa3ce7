//! Training either network on the fixed split: [`Recipe`] (epochs, Adam's schedule, seed,
//! augmentation) and [`Trainer`] (everything but the graph).

use super::models::{self, Model, Net};
use super::{dataset, split, CHANNELS, FEATURES, SAMPLES, TIMESTEPS, TRAIN};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, NodeId, Op, PlanOptions, PlanSummary, Scalar, Tensor};
use embedgrad_ops::StdOp;
use embedgrad_train::data::{shuffle, Evaluation, Targets};
use embedgrad_train::{minimize, Adam, Feeds, Schedule, SplitMix64};

/// Random changes to each training window, drawn from a generator seeded by the recipe (so
/// every target sees the same windows): a shift in time and a change of amplitude. Held-out
/// windows are never changed.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Augment {
    /// The window moves by `s` steps, `s` uniform in `−shift..=shift`; the steps moved in
    /// repeat the window's first or last sample.
    pub shift: u32,
    /// Every value is multiplied by one factor per window, uniform in `[1 − scale, 1 + scale)`.
    pub scale: f64,
    /// The watch is turned by a random rotation, the same for the accelerometer and the
    /// gyroscope: the unit quaternion `(1, u, v, w)/‖·‖` with `u, v, w` uniform in
    /// `[−rotate, rotate)` (an angle of up to about `2·√3·rotate` radians).
    pub rotate: f64,
}

impl Augment {
    /// No augmentation.
    pub const NONE: Augment = Augment {
        shift: 0,
        scale: 0.0,
        rotate: 0.0,
    };

    /// Changes the window `x` (`TIMESTEPS × CHANNELS`, time-major) in place, drawing from
    /// `rng` (two numbers per window whatever the settings, so that the draws stay aligned).
    pub fn apply<T: Scalar>(&self, rng: &mut SplitMix64, x: &mut [T]) {
        let span = 2 * u64::from(self.shift) + 1;
        let s = rng.below(span) as i64 - i64::from(self.shift);
        let a = T::from_f64(1.0 + self.scale * (2.0 * rng.uniform() - 1.0));
        let mut q = [1.0, 0.0, 0.0, 0.0];
        for v in q.iter_mut().skip(1) {
            *v = self.rotate * (2.0 * rng.uniform() - 1.0);
        }
        if s != 0 {
            shift_steps(x, s);
        }
        if self.rotate != 0.0 {
            rotate(x, q);
        }
        if self.scale != 0.0 {
            for v in x.iter_mut() {
                *v *= a;
            }
        }
    }
}

/// Turns every 3-axis reading of `x` (the accelerometer's and the gyroscope's) by the
/// rotation of the quaternion `q` (normalised here).
fn rotate<T: Scalar>(x: &mut [T], q: [f64; 4]) {
    let [w, a, b, c] = q;
    let n = Scalar::sqrt(w * w + a * a + b * b + c * c);
    let (w, a, b, c) = (w / n, a / n, b / n, c / n);
    let r = [
        [
            1.0 - 2.0 * (b * b + c * c),
            2.0 * (a * b - w * c),
            2.0 * (a * c + w * b),
        ],
        [
            2.0 * (a * b + w * c),
            1.0 - 2.0 * (a * a + c * c),
            2.0 * (b * c - w * a),
        ],
        [
            2.0 * (a * c - w * b),
            2.0 * (b * c + w * a),
            1.0 - 2.0 * (a * a + b * b),
        ],
    ];
    let r = r.map(|row| row.map(T::from_f64));
    for v in x.exact_rows_mut(3) {
        let (x0, x1, x2) = match v {
            [x0, x1, x2] => (*x0, *x1, *x2),
            _ => continue,
        };
        for (out, row) in v.iter_mut().zip(&r) {
            let [r0, r1, r2] = *row;
            *out = r0 * x0 + r1 * x1 + r2 * x2;
        }
    }
}

/// Moves the frames of `x` by `s` steps (later for `s > 0`), in place, repeating the edge
/// frame where the window has no data.
fn shift_steps<T: Scalar>(x: &mut [T], s: i64) {
    let last = TIMESTEPS as i64 - 1;
    let source = |t: i64| (t - s).clamp(0, last) as usize;
    let mut copy = |t: usize| {
        let from = source(t as i64);
        for c in 0..CHANNELS {
            if let Some(&v) = x.get(from * CHANNELS + c) {
                if let Some(d) = x.get_mut(t * CHANNELS + c) {
                    *d = v;
                }
            }
        }
    };
    // Later frames read earlier ones (s > 0): write from the end; and the other way round.
    if s > 0 {
        (0..TIMESTEPS).rev().for_each(&mut copy);
    } else {
        (0..TIMESTEPS).for_each(&mut copy);
    }
}

/// How a [`Trainer`] trains: the network, epochs, Adam's learning-rate schedule (per step),
/// the seed of the weights, shuffles and augmentation, and the augmentation.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Recipe {
    /// The network.
    pub model: Model,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Adam's step size at each step (one step per mini-batch).
    pub schedule: Schedule,
    /// Seed of the initial weights, the shuffles and the augmentation.
    pub seed: u64,
    /// What changes each training window.
    pub augment: Augment,
}

/// The mini-batch size of the recipes' runs (the simulator's and the firmware's).
pub const BATCH: usize = 16;
/// Mini-batches per epoch with [`BATCH`]-row batches: `⌈784 / 16⌉ = 49`.
pub const BATCHES: usize = TRAIN.div_ceil(BATCH);

/// Epochs of [`CNN`].
pub const CNN_EPOCHS: usize = 60;
/// The CNN's recipe (`embedgrad-sim train exercises` and the firmware): 60 epochs of
/// [`BATCH`]-row mini-batches, Adam with a cosine schedule from 0.005 down to 0.0002, each
/// training window shifted by up to 8 steps, scaled by up to ±10% and turned by a random
/// rotation of up to about 40°.
pub const CNN: Recipe = Recipe {
    model: Model::Cnn,
    epochs: CNN_EPOCHS,
    schedule: Schedule::Cosine {
        initial: 0.005,
        min: 0.0002,
        steps: (CNN_EPOCHS * BATCHES) as u32,
    },
    seed: 1,
    augment: Augment {
        shift: 8,
        scale: 0.1,
        rotate: 0.2,
    },
};

/// Epochs of [`GRU`].
pub const GRU_EPOCHS: usize = 40;
/// The GRU model's recipe (`embedgrad-sim train exercises-gru`): 40 epochs, Adam with a
/// cosine schedule from 0.01 down to 0.0002, the augmentation of [`CNN`].
pub const GRU: Recipe = Recipe {
    model: Model::Gru,
    epochs: GRU_EPOCHS,
    schedule: Schedule::Cosine {
        initial: 0.01,
        min: 0.0002,
        steps: (GRU_EPOCHS * BATCHES) as u32,
    },
    seed: 1,
    augment: Augment {
        shift: 8,
        scale: 0.1,
        rotate: 0.2,
    },
};

/// Which windows of the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Part {
    /// The 784 training windows.
    Train,
    /// The 196 held-out windows.
    Test,
}

/// Everything an exercises run needs besides the graph: the split, the network's handles,
/// Adam (state for `P` trainable scalars: at least the model's), the generators that shuffle
/// the training windows every epoch and augment them, and a batch's buffers. About
/// `4·(2·P + 385·B) + 2 K` bytes in f32 — put it in a `static` or a `Box`.
#[derive(Clone, Debug)]
pub struct Trainer<T: Scalar, const B: usize, const P: usize> {
    net: Net<B>,
    model: Model,
    opt: Adam<T, P>,
    schedule: Schedule,
    augment: Augment,
    rng: SplitMix64,
    noise: SplitMix64,
    indices: [u16; SAMPLES],
    x: [[T; FEATURES]; B],
    y: [T; B],
    steps: u32,
}

/// Seed of the augmentation generator, from the recipe's (a separate stream, so that the
/// shuffles do not depend on the augmentation).
const fn noise_seed(seed: u64) -> u64 {
    seed ^ 0xa5a5_0e0e_5151_7a7a
}

impl<T: Scalar, const B: usize, const P: usize> Trainer<T, B, P> {
    /// Splits the data, builds `recipe.model` into the empty graph `g` with weights drawn
    /// from SplitMix64(`recipe.seed`) and sets up Adam with `recipe.schedule`.
    ///
    /// # Errors
    /// Capacity errors when `g` is smaller than [`Model::capacity`]`(B)`;
    /// [`Error::InvalidArgument`] for `B = 0` or `P` less than the model's parameters.
    pub fn new<O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
        g: &mut Graph<T, O, N, S>,
        recipe: &Recipe,
    ) -> Result<Self, Error> {
        let mut t = Self::empty();
        t.init(g, recipe)?;
        Ok(t)
    }

    /// A trainer with nothing set up yet, for a `static`: every byte is zero, so it is placed
    /// in `.bss` and never passes through the stack. [`Trainer::init`] then sets it up in
    /// place.
    pub const fn empty() -> Self {
        // Handles of no graph (tag 0 is never a live graph's): replaced by `init`.
        let none = NodeId::new(0, 0);
        Self {
            net: Net {
                x: Tensor::from_id(none),
                y: Tensor::from_id(none),
                logits: Tensor::from_id(none),
                loss: Tensor::from_id(none),
                vars: [none; 8],
            },
            model: Model::Cnn,
            opt: Adam::with(T::ZERO, T::ZERO, T::ZERO, T::ZERO),
            schedule: Schedule::Constant { lr: 0.0 },
            augment: Augment::NONE,
            rng: SplitMix64::new(0),
            noise: SplitMix64::new(0),
            indices: [0; SAMPLES],
            x: [[T::ZERO; FEATURES]; B],
            y: [T::ZERO; B],
            steps: 0,
        }
    }

    /// Sets the trainer up in place, as [`Trainer::new`] does.
    ///
    /// # Errors
    /// As [`Trainer::new`].
    pub fn init<O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        recipe: &Recipe,
    ) -> Result<(), Error> {
        if B == 0 || P < recipe.model.parameters() {
            return Err(Error::InvalidArgument);
        }
        split(&mut self.indices)?;
        self.rng = SplitMix64::new(recipe.seed);
        self.noise = SplitMix64::new(noise_seed(recipe.seed));
        self.net = models::build(recipe.model, g, &mut self.rng)?;
        self.model = recipe.model;
        let defaults = Adam::<T, 0>::new(T::ZERO);
        self.opt.beta1 = defaults.beta1;
        self.opt.beta2 = defaults.beta2;
        self.opt.epsilon = defaults.epsilon;
        self.opt.reset();
        self.schedule = recipe.schedule;
        self.augment = recipe.augment;
        recipe.schedule.set(&mut self.opt, 0);
        self.steps = 0;
        Ok(())
    }

    /// Plans the training step (`Graph::plan`, the logits kept for [`Trainer::evaluate`]):
    /// the simulator and the firmware both train planned, so that they run the same kernels.
    ///
    /// # Errors
    /// As `Graph::plan` (a graph too small for the plan).
    pub fn plan<O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<PlanSummary, Error> {
        let keep = [self.net.logits.id()];
        g.plan(
            self.net.loss,
            PlanOptions {
                keep: &keep,
                ..PlanOptions::default()
            },
        )
    }

    /// The network's handles.
    pub fn net(&self) -> &Net<B> {
        &self.net
    }

    /// The network.
    pub fn model(&self) -> Model {
        self.model
    }

    /// The input, target and loss nodes.
    pub fn feeds(&self) -> Feeds {
        Feeds {
            x: self.net.x.id(),
            y: self.net.y.id(),
            loss: self.net.loss.id(),
        }
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Adam<T, P> {
        &self.opt
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

    /// Mini-batches per epoch, `⌈784 / B⌉` (the last one padded).
    pub const fn batches() -> usize {
        match TRAIN.checked_div(B) {
            Some(q) if q * B == TRAIN => q,
            Some(q) => q + 1,
            None => 0,
        }
    }

    /// Reshuffles the training windows: call before each epoch.
    pub fn start_epoch(&mut self) {
        let (train, _) = self.indices.split_at_most_mut(TRAIN);
        shuffle(&mut self.rng, train);
    }

    /// One training step on mini-batch `k` (`0..batches()`) of the current order: fills it
    /// (each window augmented), feeds it, sets the step size from the schedule, runs
    /// [`minimize`]. Returns the batch's summed loss before the update.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `k` is not a batch of the epoch; as [`minimize`] (a
    /// failed step changes no weight).
    pub fn step<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        k: usize,
    ) -> Result<T, Error> {
        let start = k.checked_mul(B).ok_or(Error::InvalidArgument)?;
        let mut batch = [0u16; B];
        let n = {
            let (train, _) = self.indices.split_at_most(TRAIN);
            let rows = train
                .get(start..TRAIN.min(start.saturating_add(B)))
                .filter(|r| !r.is_empty())
                .ok_or(Error::InvalidArgument)?;
            for (d, &r) in batch.iter_mut().zip(rows) {
                *d = r;
            }
            rows.len()
        };
        let rows = batch.get(..n).unwrap_or(&[]);
        dataset()?.fill_batch(
            rows,
            self.x.as_flattened_mut(),
            &mut self.y,
            Targets::Labels,
        )?;
        for x in self.x.iter_mut().take(n) {
            self.augment.apply(&mut self.noise, x);
        }
        g.feed_slice(self.net.x.id(), self.x.as_flattened())?;
        g.feed_slice(self.net.y.id(), &self.y)?;
        self.schedule.set(&mut self.opt, self.steps);
        let loss = minimize(&mut self.opt, g, self.net.loss)?;
        self.steps = self.steps.saturating_add(1);
        Ok(loss)
    }

    /// One epoch: [`Trainer::start_epoch`], then every [`Trainer::step`], each run through
    /// `wrap` (the firmware counts and measures steps there; pass `|f| f()` otherwise).
    /// Returns the mean loss per training window, each batch's loss taken before its update.
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
    /// the windows as recorded, no weight changes).
    ///
    /// # Errors
    /// As [`Dataset::evaluate`](embedgrad_train::data::Dataset::evaluate).
    pub fn evaluate<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        part: Part,
    ) -> Result<Evaluation<T>, Error> {
        let (start, end) = match part {
            Part::Train => (0, TRAIN),
            Part::Test => (TRAIN, SAMPLES),
        };
        let rows = self.indices.get(start..end).unwrap_or(&[]);
        dataset()?.evaluate(
            g,
            self.feeds(),
            Targets::Labels,
            self.net.logits.id(),
            rows,
            self.x.as_flattened_mut(),
            &mut self.y,
        )
    }

    /// The node of the class scores (`B × 7`).
    pub fn logits(&self) -> NodeId {
        self.net.logits.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_repeat_the_edge_frames() {
        let mut x: Vec<f32> = (0..FEATURES).map(|i| (i / CHANNELS) as f32).collect();
        shift_steps(&mut x, 3);
        let steps: Vec<f32> = x.pieces(CHANNELS).map(|f| f[0]).collect();
        assert_eq!(&steps[..5], &[0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(steps[63], 60.0);
        let mut x: Vec<f32> = (0..FEATURES).map(|i| (i / CHANNELS) as f32).collect();
        shift_steps(&mut x, -2);
        let steps: Vec<f32> = x.pieces(CHANNELS).map(|f| f[5]).collect();
        assert_eq!(
            (steps[0], steps[61], steps[62], steps[63]),
            (2.0, 63.0, 63.0, 63.0)
        );
    }

    #[test]
    fn rotations_keep_lengths_and_no_augmentation_changes_nothing() {
        let mut x: Vec<f64> = (0..FEATURES).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        let before = x.clone();
        Augment::NONE.apply(&mut SplitMix64::new(3), &mut x);
        assert_eq!(x, before);
        let turn = Augment {
            shift: 0,
            scale: 0.0,
            rotate: 0.3,
        };
        turn.apply(&mut SplitMix64::new(3), &mut x);
        assert_ne!(x, before);
        for (a, b) in x.pieces(3).zip(before.pieces(3)) {
            let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
            assert!((n(a) - n(b)).abs() < 1e-9 * n(b).max(1.0));
        }
    }
}
