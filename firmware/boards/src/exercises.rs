//! The smartwatch exercise windows trained on the device: the 1-D CNN and the GRU of
//! `embedgrad_data::exercises` on the 784 training windows, read from flash (376,320 bytes of
//! `i8`), checked on the 196 held-out ones.
//!
//! Each firmware runs exactly the recipe of `embedgrad-sim train exercises --epochs 15` (CNN;
//! all 60 epochs with the `slow` feature) or `train exercises-gru --epochs 10` (GRU): the
//! same split, initial weights, shuffles,
//! augmentation, mini-batches of 16, Adam schedule and step plan, so it passes only when
//!
//! 1. the bytes in flash are the simulator's (FNV-1a 64 of the windows and the labels),
//! 2. the final training loss is **bit for bit** embedgrad-sim's f32 result and the training
//!    accuracy equals it (`expected.txt`, lines `exercises_quick`, `exercises`,
//!    `exercises_gru`),
//! 3. (CNN, whole recipe) the held-out accuracy reaches [`GOAL`] (95%).
//!
//! The CNN firmware then streams (see `stream`): the trained weights in a one-row graph,
//! held-out windows fed frame by frame through the `SampleSource` path into a sliding window
//! kept in the graph's input.
//!
//! After training, one inference of a single window (a batch of 16 whose first row is the
//! window; the plan's forward pass) runs between the benchmark markers: the plugin's second
//! `insns:` line.
//!
//! The GRU trains the first 10 of its 40 epochs on the device (490 steps): its backward pass
//! runs the recurrence twice per step, and 40 epochs would take minutes of QEMU time. The
//! graph (exactly the plan's size, `Model::planned_scalars`) and the trainer are `static`s in
//! `.bss`, built in place. Cortex-M4F boards only; skipped on the others.

use crate::workload::{reference, Reference};
use crate::{Bench, Example, Failure, Outcome};
use core::ptr::addr_of_mut;
use embedgrad_data::exercises::{self, models, Model, Part, Recipe, Trainer, BATCH, CNN, GRU};
use embedgrad_ops::prelude::*;
use embedgrad_train::{fnv1a, FNV_OFFSET};

/// The least acceptable held-out accuracy of the CNN.
pub const GOAL: f32 = 0.95;

/// Epochs of the GRU's recipe that the device trains (the start of the same run).
pub const GRU_DEVICE_EPOCHS: usize = 10;

/// Epochs of the CNN's recipe that the device trains: all 60 with the `slow` feature
/// (`./ci.sh --slow`; about 100 s of QEMU time), else the first 15 (the start of the same
/// run, checked bit for bit against `embedgrad-sim train exercises --epochs 15`; the 95%
/// goal is checked only after the whole recipe).
pub const CNN_DEVICE_EPOCHS: usize = if cfg!(feature = "slow") {
    CNN.epochs
} else {
    15
};

#[cfg(any(board = "mps2-an386", board = "nrf52840"))]
const SKIP: Option<&str> = None;
#[cfg(not(any(board = "mps2-an386", board = "nrf52840")))]
const SKIP: Option<&str> = Some(
    "Cortex-M4F only: thousands of convolution or GRU steps in soft float would take many \
     minutes in QEMU, and the graph and the trainer need 100-300 KB of RAM",
);

/// The CNN needs about 400 KB of RAM (its planned graph for batches of 16, the trainer and
/// the streaming graph): more than the nRF52840's 256 KB.
#[cfg(board = "nrf52840")]
const CNN_SKIP: Option<&str> = Some(
    "the CNN's graph, trainer and streaming graph need about 400 KB of RAM; the nRF52840 has \
     256 KB",
);
#[cfg(not(board = "nrf52840"))]
const CNN_SKIP: Option<&str> = SKIP;

/// The `exercises` example (the CNN).
pub const EXERCISES: Example = Example {
    name: "exercises",
    train: train_cnn,
    skip: CNN_SKIP,
    stack: 0,
    on_fault: None,
};

/// The `exercises_gru` example.
pub const EXERCISES_GRU: Example = Example {
    name: "exercises_gru",
    train: train_gru,
    skip: SKIP,
    stack: 0,
    on_fault: None,
};

const CNN_SCALARS: usize = Model::Cnn.planned_scalars();
const GRU_SCALARS: usize = Model::Gru.planned_scalars();
type CnnGraph = StdGraph<f32, { models::CNN_NODES }, CNN_SCALARS>;
type GruGraph = StdGraph<f32, { models::GRU_NODES }, GRU_SCALARS>;
type CnnTrainer = Trainer<f32, BATCH, { models::CNN_PARAMETERS }>;
type GruTrainer = Trainer<f32, BATCH, { models::GRU_PARAMETERS }>;

/// The graphs and trainers, in `.bss` (all zero bits): not on the stack, not in flash. Each
/// firmware links only the pair it uses.
static mut CNN_GRAPH: CnnGraph = CnnGraph::empty();
static mut CNN_TRAINER: CnnTrainer = CnnTrainer::empty();
static mut GRU_GRAPH: GruGraph = GruGraph::empty();
static mut GRU_TRAINER: GruTrainer = GruTrainer::empty();

fn train_cnn(bench: &mut Bench) -> Result<Outcome, Failure> {
    // SAFETY: `train_cnn` runs once (the firmware's only example, called once by `run`), so
    // these are the only references to `CNN_GRAPH` and `CNN_TRAINER` ever taken.
    let (g, t) = unsafe {
        (
            &mut *addr_of_mut!(CNN_GRAPH),
            &mut *addr_of_mut!(CNN_TRAINER),
        )
    };
    let outcome = if cfg!(feature = "slow") {
        run(
            bench,
            g,
            t,
            &CNN,
            CNN.epochs,
            reference::EXERCISES,
            Some(GOAL),
        )?
    } else {
        let quick = reference::EXERCISES_QUICK;
        run(bench, g, t, &CNN, CNN_DEVICE_EPOCHS, quick, None)?
    };
    stream(bench, g, t)?;
    Ok(outcome)
}

/// Held-out windows the streaming check replays.
pub const STREAM_WINDOWS: usize = 8;
/// Frames between two classifications of the streaming check.
pub const STREAM_HOP: usize = 16;

const ONE_SCALARS: usize = models::cnn_capacity(1).1;
type OneGraph = StdGraph<f32, { models::CNN_NODES }, ONE_SCALARS>;
/// The one-row graph the trained CNN streams in, in `.bss`.
static mut ONE_GRAPH: OneGraph = OneGraph::empty();

/// Streaming on the device: the trained weights copied into a one-row graph, the first
/// [`STREAM_WINDOWS`] held-out windows replayed frame by frame through the `SampleSource`
/// path (`Replay` → `SlidingWindow`, the window kept in the graph's input), a classification
/// every [`STREAM_HOP`] frames. Every window that is exactly a held-out window must get the
/// class the trained batch graph gives it. The first classifying push (a frame read in
/// place, one inference, the window moved) runs between the benchmark markers: the plugin's
/// third `insns:` line.
fn stream(bench: &mut Bench, g: &mut CnnGraph, t: &mut CnnTrainer) -> Result<(), Failure> {
    use embedgrad_data::exercises::stream::{Push, Replay, SlidingWindow};
    // SAFETY: `stream` runs once, after training; the only reference to `ONE_GRAPH`.
    let one = unsafe { &mut *addr_of_mut!(ONE_GRAPH) };
    let net = models::build_cnn::<f32, _, { models::CNN_NODES }, ONE_SCALARS, 1>(
        one,
        &mut embedgrad_train::SplitMix64::new(0),
    )?;
    for (&from, &to) in t.net().vars.iter().zip(&net.vars) {
        one.assign_slice(to, g.value_slice(from)?)?;
    }
    let mut rows = [0u16; STREAM_WINDOWS];
    for (d, &r) in rows.iter_mut().zip(t.rows(Part::Test)) {
        *d = r;
    }
    // The batch graph's classes for these windows (rows 0..8 of one batch).
    let (x, logits) = (t.net().x.id(), t.logits());
    g.feed_with(x, |v| {
        for (chunk, &r) in v.chunks_exact_mut(exercises::FEATURES).zip(&rows) {
            let _ = exercises::TABLE.row_into(usize::from(r), chunk);
        }
    })?;
    g.run(logits)?;
    let mut want = [0usize; STREAM_WINDOWS];
    for (w, scores) in want
        .iter_mut()
        .zip(g.value_slice(logits)?.chunks_exact(exercises::CLASSES))
    {
        *w = embedgrad_train::argmax(scores);
    }
    let mut window = SlidingWindow::new(one, net.x.id(), net.logits.id(), STREAM_HOP)?;
    let mut replay = Replay::new(&rows);
    let (mut classified, mut aligned_right, mut measured) = (0usize, 0usize, false);
    loop {
        let timed = !measured && window.filled() == exercises::TIMESTEPS - 1;
        let r = if timed {
            measured = true;
            bench.measure(|| window.push(one, &mut replay))
        } else {
            window.push(one, &mut replay)
        };
        match r {
            Ok(Push::Classified { class, sample }) => {
                classified += 1;
                let frames = exercises::TIMESTEPS as u64;
                if sample % frames == 0 {
                    let k = usize::try_from(sample / frames - 1).unwrap_or(usize::MAX);
                    if want.get(k) != Some(&class) {
                        defmt::error!("streamed window {=usize}: class {=usize}", k, class);
                        return Err(Failure::Check("a streamed window's class differs"));
                    }
                    let label = rows
                        .get(k)
                        .and_then(|&r| exercises::LABELS.get(usize::from(r)))
                        .map(|&l| usize::from(l));
                    aligned_right += usize::from(label == Some(class));
                }
            }
            Ok(Push::Buffered { .. }) => {}
            Err(embedgrad_core::Error::Source) => break,
            Err(e) => return Err(e.into()),
        }
    }
    defmt::info!(
        "streamed {=u64} frames of {=usize} held-out windows: {=usize} classifications, every {=usize} frames; the aligned ones as in the batch ({=usize} of {=usize} right)",
        window.samples(),
        STREAM_WINDOWS,
        classified,
        STREAM_HOP,
        aligned_right,
        STREAM_WINDOWS
    );
    defmt::println!(
        "METRIC stream_classifications={=usize} one_graph_bytes={=usize}",
        classified,
        one.requirements().bytes
    );
    Ok(())
}

fn train_gru(bench: &mut Bench) -> Result<Outcome, Failure> {
    // SAFETY: as in `train_cnn`, for `GRU_GRAPH` and `GRU_TRAINER`.
    let (g, t) = unsafe {
        (
            &mut *addr_of_mut!(GRU_GRAPH),
            &mut *addr_of_mut!(GRU_TRAINER),
        )
    };
    run(
        bench,
        g,
        t,
        &GRU,
        GRU_DEVICE_EPOCHS,
        reference::EXERCISES_GRU,
        None,
    )
}

/// FNV-1a 64 of the window bytes and the label bytes, as embedgrad-sim computes it.
fn checksum() -> u64 {
    let windows = exercises::WINDOWS
        .iter()
        .fold(FNV_OFFSET, |h, &v| fnv1a(h, &v.to_le_bytes()));
    fnv1a(windows, &exercises::LABELS)
}

fn run<const N: usize, const S: usize, const P: usize>(
    bench: &mut Bench,
    g: &mut StdGraph<f32, N, S>,
    t: &mut Trainer<f32, BATCH, P>,
    recipe: &Recipe,
    epochs: usize,
    expected: Reference,
    goal: Option<f32>,
) -> Result<Outcome, Failure> {
    let sum = checksum();
    if sum != expected.checksum {
        defmt::error!(
            "data checksum {=u64:016x}, embedgrad-sim's {=u64:016x}",
            sum,
            expected.checksum
        );
        return Err(Failure::Check(
            "exercise windows in flash differ from embedgrad-sim's",
        ));
    }
    t.init(g, recipe)?;
    let summary = t.plan(g)?;
    defmt::info!("plan: {}", summary);
    if summary.scalars != S {
        defmt::error!(
            "the plan needs {=usize} scalars, the firmware declares {=usize}",
            summary.scalars,
            S
        );
        return Err(Failure::Check("graph capacity is not exact"));
    }
    let req = g.requirements();
    defmt::info!(
        "exercises {=str}: {=usize} parameters; {=usize} epochs of {=usize} mini-batches of {=usize}; graph {=usize} nodes, {=usize} scalars, {=usize} bytes",
        recipe.model.name(),
        recipe.model.parameters(),
        epochs,
        exercises::BATCHES,
        BATCH,
        req.nodes,
        req.scalars,
        req.bytes
    );
    defmt::println!(
        "METRIC batch={=usize} graph_bytes={=usize}",
        BATCH,
        req.bytes
    );

    let mut initial_loss = f32::NAN;
    for epoch in 1..=epochs {
        let loss = t.epoch(g, |f| {
            let l = bench.step(f);
            if initial_loss.is_nan() {
                if let Ok(l) = l {
                    initial_loss = l / BATCH as f32;
                }
            }
            l
        })?;
        defmt::info!("epoch {=usize} mean loss {=f32}", epoch, loss);
    }

    let train = t.evaluate(g, Part::Train)?;
    let test = t.evaluate(g, Part::Test)?;
    let final_loss = train.loss / exercises::TRAIN as f32;
    let (accuracy, test_accuracy) = (train.accuracy(), test.accuracy());
    defmt::info!(
        "training accuracy {=usize}/{=usize}, held-out accuracy {=usize}/{=usize}",
        train.correct,
        train.total,
        test.correct,
        test.total
    );
    defmt::println!(
        "METRIC test_accuracy={=f32} train_accuracy={=f32}",
        test_accuracy as f32,
        accuracy as f32
    );

    // One inference, measured: the first held-out window in row 0 of the batch (the plan's
    // forward pass computes all 16 rows; the others keep the last batch's windows).
    let row = usize::from(t.rows(Part::Test).first().copied().unwrap_or(0));
    let x = t.net().x.id();
    let logits = t.logits();
    let class = bench.measure(|| -> Result<usize, Failure> {
        g.feed_with(x, |v| {
            let _ =
                exercises::TABLE.row_into(row, v.get_mut(..exercises::FEATURES).unwrap_or(&mut []));
        })?;
        g.run(logits)?;
        let scores = g.value_slice(logits)?;
        Ok(embedgrad_train::argmax(
            scores.get(..exercises::CLASSES).unwrap_or(&[]),
        ))
    })?;
    defmt::info!(
        "one window (row {=usize}, label {=u8}) classified as {=usize}",
        row,
        exercises::LABELS.get(row).copied().unwrap_or(0),
        class
    );

    if let Some(min) = goal {
        if (test_accuracy as f32) < min {
            return Err(Failure::LowAccuracy {
                accuracy: test_accuracy as f32,
                min,
            });
        }
    }
    // Bit for bit: the same kernels in the same order as the simulator's f32 run.
    if final_loss.to_bits() != expected.final_loss.to_bits() || accuracy != expected.accuracy {
        return Err(Failure::Mismatch {
            loss: final_loss,
            expected_loss: expected.final_loss,
            accuracy: accuracy as f32,
            expected_accuracy: expected.accuracy as f32,
        });
    }
    Ok(Outcome {
        initial_loss,
        final_loss,
        accuracy: Some(test_accuracy as f32),
        reference_loss: Some(expected.final_loss),
    })
}
