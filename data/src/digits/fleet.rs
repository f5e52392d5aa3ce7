//! Federated digits: the non-IID shards of a fleet of devices and the local training each
//! device runs between two rounds of federated averaging.
//!
//! A fleet of `n` clients shares the digits model without sharing its images. Each client
//! sees the training rows of three classes only ([`owns`]): client `c` owns the digits
//! `c mod 10`, `(c + 1) mod 10` and `(c + 3) mod 10` — for the usual ten clients, classes
//! `{0, 1, 3}`, `{1, 2, 4}`, `{2, 3, 5}`, … Every class has three owners, which share its
//! training rows in turn ([`shard`]: the `j`-th row of a class, in the split's order, goes to
//! its `j mod owners`-th owner). With fewer than ten clients a class no
//! client would own goes to client `class mod n` as well, so that the union of the shards is
//! always the whole training part of [`split`]. The held-out rows are never in a
//! shard: they measure the global model.
//!
//! Which digits share a client matters to federated averaging, because a client's local
//! training only ever contrasts the digits it sees. Measured with [`LOCAL`] (held-out accuracy
//! after 20 rounds of row-weighted averaging, this module's tests): offsets `{1, 3}` 96.9%,
//! `{2, 3}` 96.7%, `{3, 4}` 95.6%, `{2, 5}` 95.3%, `{1, 2}` 95.0%, `{1, 5}` 94.7%, `{1, 4}`
//! 93.9%; centralised training on the union reaches 98.3% with the same optimizer. The fleet
//! uses `{1, 3}`, the best of those measured: the split is as non-IID as the others (three
//! digits a client), and the spread says how much the choice alone moves the result.
//!
//! A [`Client`] trains its shard: each round it takes the global weights
//! ([`Net::load_weights`](super::Net::load_weights), in PyTorch's layout), runs
//! [`Local::epochs`] passes over its rows in mini-batches of `B` (shuffled by a generator
//! seeded from the round, the client and the epoch, so that an epoch can be re-run or resumed
//! after a power cut and gives the same result) and hands its weights back. The same code runs
//! in the Python package's fleet clients and in the firmware client in QEMU, which is how the
//! fleet checks that the device computes what the host does.
//!
//! ```
//! use embedgrad_data::digits::{self, fleet};
//! use embedgrad_ops::prelude::*;
//!
//! const B: usize = digits::BATCH;
//! let mut g: Box<StdGraph<f32, { digits::NODES }, { digits::capacity(B).1 }>> =
//!     Box::new(StdGraph::new());
//! let mut c: Box<fleet::Client<f32, B>> = Box::new(fleet::Client::empty());
//! c.init(&mut g, 3, 10)?;
//! assert_eq!(c.classes(), [false, false, false, true, true, false, true, false, false, false]);
//! let summary = c.fit(&mut g, 0, &fleet::LOCAL)?;
//! assert_eq!(summary.rows, c.rows().len());
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, Op, Scalar};
use embedgrad_ops::StdOp;
use embedgrad_train::data::{shuffle, Evaluation, Targets};
use embedgrad_train::{minimize, Adam, GradientDescent, SplitMix64};

use super::{build, dataset, split, Net, CLASSES, FEATURES, LABELS, PARAMETERS, SAMPLES, TRAIN};

/// The fleet of the demo: ten clients.
pub const CLIENTS: usize = 10;

mod job;

pub use job::{Job, JobError};

/// Seed of the global model's initial weights (the same network as [`super::RECIPE`]'s).
pub const INITIAL_SEED: u64 = super::RECIPE.seed;

/// What a client does with the global model in one round.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Local {
    /// Passes over the shard per round.
    pub epochs: u32,
    /// The optimizer's step size (constant within a round).
    pub learning_rate: f64,
    /// The local optimizer.
    pub optimizer: LocalOptimizer,
    /// Seed of the per-epoch shuffles, mixed with the round, the client and the epoch.
    pub seed: u64,
}

/// The optimizer a client runs in its round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LocalOptimizer {
    /// Plain gradient descent.
    Sgd,
    /// Adam, its moments zero at the start of every round.
    Adam,
}

/// The demo's local training: five epochs of plain gradient descent at 0.03 (on the loss
/// summed over a batch) per round. Plain steps drift less on a shard of a few digits than
/// Adam's (on an earlier split of two or three digits a client, Adam at 0.005–0.02 reached
/// 80–87% after 20 rounds where plain steps reached 92–95%), and they
/// keep no optimizer state, so a device's checkpoint is its weights and its place in the round.
pub const LOCAL: Local = Local {
    epochs: 5,
    learning_rate: 0.03,
    optimizer: LocalOptimizer::Sgd,
    seed: 0x0f1e_e7d1,
};

/// Whether client `client` of a fleet of `clients` owns the digit `class` (see the module's
/// docs). `false` when `client >= clients` or `class >= 10`.
pub const fn owns(client: usize, clients: usize, class: usize) -> bool {
    if client >= clients || class >= CLASSES {
        return false;
    }
    let c = client % CLASSES;
    let first = c == class || (c + 1) % CLASSES == class;
    let third = (c + 3) % CLASSES == class;
    // A class no client would own (fewer than ten clients) goes to `class mod clients` too.
    let orphan = clients < CLASSES && !owned(clients, class) && class % clients == client;
    first || third || orphan
}

/// Whether some client of the first rule (three digits each) owns `class`.
const fn owned(clients: usize, class: usize) -> bool {
    let mut c = 0;
    while c < clients {
        let d = c % CLASSES;
        if d == class || (d + 1) % CLASSES == class || (d + 3) % CLASSES == class {
            return true;
        }
        c += 1;
    }
    false
}

/// How many clients of the fleet own `class`, and which of them `client` is (its rank among
/// the owners, counted from client 0), when it is one.
const fn owner_rank(client: usize, clients: usize, class: usize) -> (usize, Option<usize>) {
    let mut count = 0;
    let mut rank = None;
    let mut c = 0;
    while c < clients {
        if owns(c, clients, class) {
            if c == client {
                rank = Some(count);
            }
            count += 1;
        }
        c += 1;
    }
    (count, rank)
}

/// Writes the training rows of client `client`'s shard into `rows`, in the split's order, and
/// returns how many there are.
///
/// ```
/// use embedgrad_data::digits::{self, fleet};
/// let mut total = 0;
/// for c in 0..fleet::CLIENTS {
///     let mut rows = [0u16; digits::TRAIN];
///     total += fleet::shard(c, fleet::CLIENTS, &mut rows)?;
/// }
/// assert_eq!(total, digits::TRAIN); // the shards partition the training rows
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] when `clients` is 0 or `client >= clients`.
pub fn shard(client: usize, clients: usize, rows: &mut [u16; TRAIN]) -> Result<usize, Error> {
    if clients == 0 || client >= clients {
        return Err(Error::InvalidArgument);
    }
    let mut indices = [0u16; SAMPLES];
    let (train, _) = split(&mut indices)?;
    // The position of the next row of each class among that class's rows.
    let mut seen = [0usize; CLASSES];
    let mut n = 0;
    for &r in train.iter() {
        let Some(&label) = LABELS.get(usize::from(r)) else {
            continue;
        };
        let class = usize::from(label);
        let Some(j) = seen.get_mut(class) else {
            continue;
        };
        let (owners, rank) = owner_rank(client, clients, class);
        if let (Some(rank), Some(turn)) = (rank, j.checked_rem(owners)) {
            if turn == rank {
                if let Some(slot) = rows.get_mut(n) {
                    *slot = r;
                    n += 1;
                }
            }
        }
        *j += 1;
    }
    Ok(n)
}

/// What one round of local training did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FitSummary<T> {
    /// The mean loss per row over the round, each batch's loss taken before its update.
    pub loss: T,
    /// Rows of the shard (the weight FedAvg gives this client).
    pub rows: usize,
    /// Optimizer steps taken.
    pub steps: u32,
}

/// One device of the fleet: its shard, the network's handles, Adam over every weight and a
/// batch's buffers. About `8·P + 4·65·B + 4 K` bytes in f32 (31 KB for `B = 16`): a `static`
/// on a device, a `Box` on a host.
#[derive(Clone, Debug)]
pub struct Client<T: Scalar, const B: usize> {
    net: Net<B>,
    opt: Adam<T, PARAMETERS>,
    client: usize,
    clients: usize,
    rows: [u16; TRAIN],
    order: [u16; TRAIN],
    len: usize,
    test: [u16; super::TEST],
    x: [[T; FEATURES]; B],
    y: [T; B],
}

impl<T: Scalar, const B: usize> Client<T, B> {
    /// A client with nothing set up yet (all zeros, for a `static`); [`Client::init`] sets it
    /// up in place.
    pub const fn empty() -> Self {
        let none = embedgrad_core::NodeId::new(0, 0);
        Self {
            net: Net {
                x: embedgrad_core::Tensor::from_id(none),
                y: embedgrad_core::Tensor::from_id(none),
                w1: embedgrad_core::Tensor::from_id(none),
                b1: embedgrad_core::Tensor::from_id(none),
                w2: embedgrad_core::Tensor::from_id(none),
                b2: embedgrad_core::Tensor::from_id(none),
                logits: embedgrad_core::Tensor::from_id(none),
                loss: embedgrad_core::Tensor::from_id(none),
            },
            opt: Adam::with(T::ZERO, T::ZERO, T::ZERO, T::ZERO),
            client: 0,
            clients: 0,
            rows: [0; TRAIN],
            order: [0; TRAIN],
            len: 0,
            test: [0; super::TEST],
            x: [[T::ZERO; FEATURES]; B],
            y: [T::ZERO; B],
        }
    }

    /// Sets up client `client` of a fleet of `clients`: its shard, and the network built into
    /// the empty graph `g` with the global model's initial weights (SplitMix64([`INITIAL_SEED`]),
    /// the same on every client and on the server).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `B = 0`, `clients = 0` or `client >= clients`; capacity
    /// errors when `g` is smaller than [`super::capacity`]`(B)`.
    pub fn init<O: Op<T> + From<StdOp>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        client: usize,
        clients: usize,
    ) -> Result<(), Error> {
        if B == 0 {
            return Err(Error::InvalidArgument);
        }
        dataset()?;
        self.len = shard(client, clients, &mut self.rows)?;
        let mut indices = [0u16; SAMPLES];
        let (_, test) = split(&mut indices)?;
        self.test.copy_from(test);
        self.client = client;
        self.clients = clients;
        self.net = build(g, &mut SplitMix64::new(INITIAL_SEED))?;
        let defaults = Adam::<T, 0>::new(T::ZERO);
        self.opt.beta1 = defaults.beta1;
        self.opt.beta2 = defaults.beta2;
        self.opt.epsilon = defaults.epsilon;
        self.opt.reset();
        Ok(())
    }

    /// The network's handles (its weights are the graph's variables).
    pub fn net(&self) -> &Net<B> {
        &self.net
    }

    /// The optimizer (its state is what a checkpoint keeps besides the weights).
    pub fn optimizer(&self) -> &Adam<T, PARAMETERS> {
        &self.opt
    }

    /// The optimizer, to restore its state from a checkpoint.
    pub fn optimizer_mut(&mut self) -> &mut Adam<T, PARAMETERS> {
        &mut self.opt
    }

    /// This client's number and the fleet's size.
    pub fn id(&self) -> (usize, usize) {
        (self.client, self.clients)
    }

    /// The training rows of this client's shard.
    pub fn rows(&self) -> &[u16] {
        self.rows.get(..self.len).unwrap_or(&[])
    }

    /// Which digits this client sees.
    pub fn classes(&self) -> [bool; CLASSES] {
        let mut out = [false; CLASSES];
        for (k, o) in out.iter_mut().enumerate() {
            *o = owns(self.client, self.clients, k);
        }
        out
    }

    /// Mini-batches per epoch, `⌈rows / B⌉`.
    pub fn batches(&self) -> usize {
        self.len.div_ceil(B.max(1))
    }

    /// Starts a round: Adam's moments and update count zero, its step size `local`'s.
    pub fn begin_round(&mut self, local: &Local) {
        self.opt.reset();
        self.opt.learning_rate = T::from_f64(local.learning_rate);
    }

    /// Epoch `epoch` of round `round`: the shard shuffled by a generator seeded from `local`'s
    /// seed, the round, this client and the epoch, then one Adam step per mini-batch. Returns
    /// the summed loss before each update and the steps taken.
    ///
    /// # Errors
    /// As [`minimize`] (a failed step changes no weight; the epoch stops there).
    pub fn epoch<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        round: u32,
        epoch: u32,
        local: &Local,
    ) -> Result<(T, u32), Error> {
        let seed =
            local.seed ^ (u64::from(round) << 40) ^ ((self.client as u64) << 20) ^ u64::from(epoch);
        let mut rng = SplitMix64::new(seed);
        // The epoch's order is shuffled from the shard's own order, never from the previous
        // epoch's, so that epoch `e` does not depend on whether epochs before it ran here.
        self.order.copy_from(&self.rows);
        let (order, _) = self.order.split_at_most_mut(self.len);
        shuffle(&mut rng, order);
        let mut total = T::ZERO;
        let mut steps = 0u32;
        let mut at = 0;
        while at < self.len {
            let n = B.min(self.len - at);
            let mut batch = [0u16; B];
            for (d, &r) in batch
                .iter_mut()
                .zip(self.order.get(at..at + n).unwrap_or(&[]))
            {
                *d = r;
            }
            dataset()?.fill_batch(
                batch.get(..n).unwrap_or(&[]),
                self.x.as_flattened_mut(),
                &mut self.y,
                Targets::Labels,
            )?;
            g.feed_slice(self.net.x.id(), self.x.as_flattened())?;
            g.feed_slice(self.net.y.id(), &self.y)?;
            total += match local.optimizer {
                LocalOptimizer::Adam => minimize(&mut self.opt, g, self.net.loss)?,
                LocalOptimizer::Sgd => minimize(
                    &mut GradientDescent::new(T::from_f64(local.learning_rate)),
                    g,
                    self.net.loss,
                )?,
            };
            steps += 1;
            at += n;
        }
        Ok((total, steps))
    }

    /// One round of local training from the weights now in the graph: [`Client::begin_round`],
    /// then `local.epochs` epochs.
    ///
    /// # Errors
    /// As [`Client::epoch`].
    pub fn fit<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        round: u32,
        local: &Local,
    ) -> Result<FitSummary<T>, Error> {
        self.begin_round(local);
        let mut total = T::ZERO;
        let mut steps = 0;
        for e in 0..local.epochs {
            let (loss, n) = self.epoch(g, round, e, local)?;
            total += loss;
            steps += n;
        }
        let seen = self.len.saturating_mul(local.epochs as usize).max(1);
        Ok(FitSummary {
            loss: total / T::from_usize(seen),
            rows: self.len,
            steps,
        })
    }

    /// The summed loss and the correct predictions of the weights now in the graph on the
    /// 360 held-out rows (no weight changes).
    ///
    /// # Errors
    /// As [`embedgrad_train::data::Dataset::evaluate`].
    pub fn evaluate<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<Evaluation<T>, Error> {
        dataset()?.evaluate(
            g,
            self.net.feeds(),
            Targets::Labels,
            self.net.logits.id(),
            &self.test,
            self.x.as_flattened_mut(),
            &mut self.y,
        )
    }
}

#[cfg(test)]
mod tests;
