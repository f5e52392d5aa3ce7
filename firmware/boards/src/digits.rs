//! The UCI handwritten digits trained on the device: the 64-32-10 network of
//! `embedgrad_data::digits` on its 1,437 training images, read from flash (115,008 bytes of `u8`),
//! checked on the 360 held-out ones.
//!
//! The firmware runs exactly the recipe of `embedgrad-sim train digits` (the same split, initial
//! weights, shuffles, mini-batches of 16 and Adam schedule: `embedgrad_data::digits::RECIPE`),
//! so it passes only when
//!
//! 1. the bytes in flash are the simulator's (FNV-1a 64 of the pixels and the labels),
//! 2. the held-out accuracy reaches [`GOAL`] (95%),
//! 3. the final training loss is within [`LOSS_RTOL`] (relative) of embedgrad-sim's f32 run and
//!    the training accuracy equals it (`expected.txt`, line `digits`).
//!
//! It needs an FPU. The graph (planned: 28 KB) and the trainer (27 KB, of which Adam's moments
//! are 19 KB) are `static`s in `.bss`, built in place (`Graph::empty`, `Trainer::empty` and
//! `Trainer::init`), so the stack holds neither. It trains on the Cortex-M4F boards and is
//! skipped on the others.

use crate::workload::{reference, LOSS_RTOL};
use crate::{Bench, Example, Failure, Outcome};
use core::ptr::addr_of_mut;
use embedgrad_core::PlanOptions;
use embedgrad_data::digits::{self, Part, Trainer, BATCH, RECIPE, TEST, TRAIN};
use embedgrad_ops::prelude::*;
use embedgrad_train::{fnv1a, FNV_OFFSET};

/// The least acceptable held-out accuracy.
pub const GOAL: f32 = 0.95;

/// Why the digits are not trained on this board.
#[cfg(any(board = "mps2-an386", board = "nrf52840"))]
const SKIP: Option<&str> = None;
#[cfg(not(any(board = "mps2-an386", board = "nrf52840")))]
const SKIP: Option<&str> = Some(
    "Cortex-M4F only: 1800 steps of soft-float arithmetic would take many minutes in QEMU, \
     and the graph and the trainer need about 63 KB of RAM",
);

/// The `digits` example.
pub const DIGITS: Example = Example {
    name: "digits",
    train: train_digits,
    skip: SKIP,
    // The graph and the trainer are statics (in `.bss`, which the linker places itself).
    stack: 0,
    on_fault: None,
};

const NODES: usize = digits::capacity(BATCH).0;
/// The planned step's exact need, from build.rs (which plans the same graph on the host).
const SCALARS: usize = include!(concat!(env!("OUT_DIR"), "/digits_scalars.rs"));

type DigitsGraph = StdGraph<f32, NODES, SCALARS>;
/// The graph, in `.bss` (`Graph::empty` is all zero bits): not on the stack, not in flash.
static mut GRAPH: DigitsGraph = DigitsGraph::empty();
/// The trainer (Adam's moments, the split, the batch buffers), in `.bss` too, set up in place.
static mut TRAINER: Trainer<f32, BATCH> = Trainer::empty();

/// Trains the digits (see the module docs).
pub fn train_digits(bench: &mut Bench) -> Result<Outcome, Failure> {
    let expected = reference::DIGITS;
    let sum = fnv1a(fnv1a(FNV_OFFSET, &digits::PIXELS), &digits::LABELS);
    if sum != expected.checksum {
        defmt::error!(
            "data checksum {=u64:016x}, embedgrad-sim's {=u64:016x}",
            sum,
            expected.checksum
        );
        return Err(Failure::Check(
            "digits in flash differ from embedgrad-sim's",
        ));
    }

    // SAFETY: `train_digits` runs once (the firmware's only example, called once by `run`),
    // so these are the only references to `GRAPH` and `TRAINER` ever taken.
    let (g, t) = unsafe { (&mut *addr_of_mut!(GRAPH), &mut *addr_of_mut!(TRAINER)) };
    t.init(g, &RECIPE)?;
    // The planned, fused step (dense layers; the logits kept for the evaluation).
    let keep = [t.logits()];
    let summary = g.plan(
        t.net().loss,
        PlanOptions {
            keep: &keep,
            ..PlanOptions::default()
        },
    )?;
    defmt::info!("plan: {}", summary);
    if summary.scalars != SCALARS {
        defmt::error!(
            "the plan needs {=usize} scalars, the firmware declares {=usize}",
            summary.scalars,
            SCALARS
        );
        return Err(Failure::Check("graph capacity is not exact"));
    }
    let req = g.requirements();
    defmt::info!(
        "digits: {=usize} training images in flash, mini-batches of {=usize}; graph {=usize} nodes, {=usize} scalars, {=usize} bytes",
        TRAIN,
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
    for epoch in 1..=RECIPE.epochs {
        let loss = t.epoch(g, |f| {
            let l = bench.step(f);
            if initial_loss.is_nan() {
                if let Ok(l) = l {
                    initial_loss = l / BATCH as f32; // per image, like the epoch means
                }
            }
            l
        })?;
        defmt::info!("epoch {=usize} mean loss {=f32}", epoch, loss);
    }

    let train = t.evaluate(g, Part::Train)?;
    let test = t.evaluate(g, Part::Test)?;
    let final_loss = train.loss / TRAIN as f32;
    let (accuracy, test_accuracy) = (train.accuracy(), test.accuracy());
    defmt::info!(
        "training accuracy {=usize}/{=usize}, held-out accuracy {=usize}/{=usize}",
        train.correct,
        train.total,
        test.correct,
        TEST
    );
    defmt::println!(
        "METRIC test_accuracy={=f32} train_accuracy={=f32}",
        test_accuracy as f32,
        accuracy as f32
    );

    if (test_accuracy as f32) < GOAL {
        return Err(Failure::LowAccuracy {
            accuracy: test_accuracy as f32,
            min: GOAL,
        });
    }
    // Written so that a NaN loss fails too.
    let loss_ok = (final_loss - expected.final_loss).abs() <= LOSS_RTOL * expected.final_loss.abs();
    if !loss_ok || accuracy != expected.accuracy {
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
        // The held-out accuracy: the number this example is about.
        accuracy: Some(test_accuracy as f32),
        reference_loss: Some(expected.final_loss),
    })
}
