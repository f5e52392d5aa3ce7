//! Fine-tuning on the device: the digits model pre-trained on the host
//! (`embedgrad-sim train digits --save`, the file `boards/weights/digits.safetensors` baked
//! into flash) adapts to a writer it has not seen (`Writer::Unseen`: every image slanted and
//! drawn with a thicker pen), as `embedgrad-sim finetune digits` does on the host.
//!
//! One firmware per mode, each holding only what its mode needs: `finetune_last` trains the
//! last layer (330 trainable scalars, Adam's state for 330), `finetune_all` the whole network
//! (2,410), `finetune_biases` the biases only (42). Each declares a graph of exactly its
//! planned size (frozen layers take no gradient memory; `boards/build.rs` plans the same graph
//! on the host) and keeps it and its trainer in `.bss` (`Graph::empty`, `Trainer::empty` +
//! `init`), so the stack holds neither. The firmware
//!
//! 1. parses the weight file in flash where it lies (`SafeTensors::parse`; aligned, so
//!    `TensorInfo::as_f32` views every tensor in place) and loads it into the graph;
//! 2. prints the held-out accuracy on the original writer (embedgrad-sim's: 352/360) and on the
//!    unseen writer before fine-tuning;
//! 3. fine-tunes on the unseen writer's training rows (`FINE_TUNE`: 5 epochs of mini-batches of
//!    16, Adam 0.01), printing each epoch's mean loss, then the held-out accuracy after;
//! 4. round-trips the fine-tuned weights: writes them into a RAM buffer
//!    (`safetensors::write_to_slice`), loads the pre-trained ones from flash again (the
//!    predictions must change), then parses and loads the RAM file (the predictions must be
//!    the fine-tuned ones again, bit for bit: an FNV-1a hash of every held-out logit's bits).
//!    These reads are measured with the bench markers: the header's parse, the load of each
//!    tensor alone, and `Net::load_weights` (parse, check and load).
//!
//! It passes only when every accuracy is embedgrad-sim's (the same count of 360) and every
//! epoch's mean loss has the same bits as the simulator's f32 run (`expected.txt`, lines
//! `finetune_<mode>`). Cortex-M4F boards only, like `digits`.

use crate::workload::correct_points;
use crate::{Bench, Example, Failure, Outcome};
use core::ptr::addr_of_mut;
use embedgrad_core::PlanOptions;
use embedgrad_data::digits::{self, Part, Trainer, Writer, BATCH, CLASSES, FEATURES, FINE_TUNE};
use embedgrad_data::digits::{TEST, TRAIN};
use embedgrad_ops::prelude::*;
use embedgrad_train::data::{Evaluation, Targets};
use embedgrad_train::layers::FineTune;
use embedgrad_train::safetensors::{self, Dtype, LoadOptions, SafeTensors, WeightsError};
use embedgrad_train::{fnv1a, FNV_OFFSET};

/// embedgrad-sim's results for one fine-tuning mode (a `finetune_<mode>` line of
/// `expected.txt`).
#[derive(Clone, Copy, Debug)]
pub struct FineTuneReference {
    /// Held-out accuracy of the pre-trained weights on the original writer.
    pub original: f64,
    /// Held-out accuracy on the unseen writer before fine-tuning.
    pub before: f64,
    /// Held-out accuracy on the unseen writer after fine-tuning.
    pub after: f64,
    /// Mean training loss of each fine-tuning epoch (each batch's loss before its update).
    pub losses: &'static [f32],
}

/// embedgrad-sim's results, from `expected.txt`.
pub mod reference {
    use super::FineTuneReference;
    include!(concat!(env!("OUT_DIR"), "/finetune_reference.rs"));
}

/// The reference as counts of the 360 held-out images (compared as integers on the device).
#[derive(Clone, Copy, Debug)]
struct Expected {
    original: usize,
    before: usize,
    after: usize,
    losses: &'static [f32],
}

impl Expected {
    /// Fails the build unless every accuracy is a whole number of held-out images.
    const fn of(r: FineTuneReference) -> Self {
        Expected {
            original: correct_points(r.original, TEST),
            before: correct_points(r.before, TEST),
            after: correct_points(r.after, TEST),
            losses: r.losses,
        }
    }
}

/// Why the fine-tuning is not run on this board.
#[cfg(any(board = "mps2-an386", board = "nrf52840"))]
const SKIP: Option<&str> = None;
#[cfg(not(any(board = "mps2-an386", board = "nrf52840")))]
const SKIP: Option<&str> = Some(
    "Cortex-M4F only, like digits: the graph, Adam's state and the weight file need up to \
     73 KB of RAM, and 450 steps of soft-float arithmetic take minutes in QEMU",
);

/// Planned scalars of the graph in each mode (last layer, whole network, biases only), from
/// build.rs, which plans the same graphs on the host.
const SCALARS: [usize; 3] = include!(concat!(env!("OUT_DIR"), "/finetune_scalars.rs"));
const NODES: usize = digits::NODES;

/// Bytes aligned for in-place `f32` views ([`safetensors::TensorInfo::as_f32`]).
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

/// The pre-trained model, as `embedgrad-sim train digits --save` writes it.
static WEIGHTS: &Aligned<[u8]> = &Aligned(*include_bytes!("../weights/digits.safetensors"));
/// Its length; an F32 file of the same tensors, written here, has the same.
const FILE_LEN: usize = include_bytes!("../weights/digits.safetensors").len();

/// The RAM buffer of the round trip (the fine-tuned weights written as safetensors). A real
/// device would stream them to flash (`safetensors::write_to_flash`) and need no such buffer.
static mut FILE: Aligned<[u8; FILE_LEN]> = Aligned([0; FILE_LEN]);

/// What the plugin's lines after the first training step's measure, in order.
const READER_MARKS: &str = "parse,0.weight,0.bias,2.weight,2.bias,load_weights";

macro_rules! variant {
    ($(#[$doc:meta])* $EX:ident, $train:ident, $name:literal, $mode:expr, $index:literal,
     $params:expr, $reference:expr) => {
        $(#[$doc])*
        pub const $EX: Example = Example {
            name: $name,
            train: $train,
            skip: SKIP,
            // The graph, the trainer and the file buffer are statics (in `.bss`).
            stack: 0,
            on_fault: None,
        };

        fn $train(bench: &mut Bench) -> Result<Outcome, Failure> {
            type G = StdGraph<f32, NODES, { SCALARS[$index] }>;
            /// The graph of exactly this mode's planned size, in `.bss`.
            static mut GRAPH: G = G::empty();
            /// The trainer, with Adam's state for this mode's trainable scalars only.
            static mut TRAINER: Trainer<f32, BATCH, { $params }> = Trainer::empty();
            const EXPECTED: Expected = Expected::of($reference);
            // SAFETY: this function runs once (the firmware's only example, called once by
            // `run`), so these are the only references to `GRAPH`, `TRAINER` and `FILE` ever
            // taken.
            let (g, t, file) = unsafe {
                (
                    &mut *addr_of_mut!(GRAPH),
                    &mut *addr_of_mut!(TRAINER),
                    &mut (*addr_of_mut!(FILE)).0,
                )
            };
            fine_tune(bench, g, t, file, $mode, &EXPECTED)
        }
    };
}

variant!(
    /// Fine-tunes the last layer (`FineTune::LastLayer`: 330 trainable scalars).
    FINETUNE_LAST,
    train_last,
    "finetune_last",
    FineTune::LastLayer,
    0,
    digits::HIDDEN * CLASSES + CLASSES,
    reference::FINETUNE_LAST
);
variant!(
    /// Fine-tunes the whole network (`FineTune::All`: 2,410 trainable scalars).
    FINETUNE_ALL,
    train_all,
    "finetune_all",
    FineTune::All,
    1,
    digits::PARAMETERS,
    reference::FINETUNE_ALL
);
variant!(
    /// Fine-tunes the biases only (`FineTune::BiasesOnly`, TinyTL: 42 trainable scalars).
    FINETUNE_BIASES,
    train_biases,
    "finetune_biases",
    FineTune::BiasesOnly,
    2,
    digits::HIDDEN + CLASSES,
    reference::FINETUNE_BIASES
);

/// Logs a weight-file error and turns it into a failure.
fn weights(what: &'static str) -> impl Fn(WeightsError) -> Failure {
    move |e| {
        defmt::error!("{=str}: {}", what, e);
        Failure::Check(what)
    }
}

/// Percent, for the log.
fn percent(correct: usize) -> f32 {
    correct as f32 * 100.0 / TEST as f32
}

/// Checks a held-out count against the simulator's.
fn check_count(what: &'static str, found: usize, expected: usize) -> Result<(), Failure> {
    if found == expected {
        return Ok(());
    }
    defmt::error!(
        "{=str}: {=usize}/{=usize} held-out images right, embedgrad-sim {=usize}",
        what,
        found,
        TEST,
        expected
    );
    Err(Failure::Check(what))
}

/// FNV-1a 64 of the bits of every held-out logit on the trainer's writer: the predictions,
/// compared bit for bit.
fn predictions<const S: usize, const P: usize>(
    g: &mut StdGraph<f32, NODES, S>,
    t: &Trainer<f32, BATCH, P>,
) -> Result<u64, Failure> {
    let net = *t.net();
    let data = digits::dataset()?;
    let writer = t.writer();
    let mut hash = FNV_OFFSET;
    let mut y = [0.0f32; BATCH];
    for rows in t.rows(Part::Test).chunks(BATCH) {
        let mut filled = Ok(0);
        g.feed_with(net.x.id(), |x| {
            filled = data.fill_batch(rows, x, &mut y, Targets::Labels);
            for image in x.chunks_exact_mut(FEATURES) {
                if let Ok(image) = <&mut [f32; FEATURES]>::try_from(image) {
                    writer.apply(image);
                }
            }
        })?;
        filled?;
        g.feed_slice(net.y.id(), &y)?;
        g.run_many(&[net.loss.id(), net.logits.id()])?;
        let logits = g.value_slice(net.logits.id())?;
        for v in logits.iter().take(rows.len() * CLASSES) {
            hash = fnv1a(hash, &v.to_bits().to_le_bytes());
        }
    }
    Ok(hash)
}

/// The same evaluation, bit for bit.
fn same(a: &Evaluation<f32>, b: &Evaluation<f32>) -> bool {
    a.correct == b.correct && a.total == b.total && a.loss.to_bits() == b.loss.to_bits()
}

/// The fine-tuning run of one mode (see the module docs).
fn fine_tune<const S: usize, const P: usize>(
    bench: &mut Bench,
    g: &mut StdGraph<f32, NODES, S>,
    t: &mut Trainer<f32, BATCH, P>,
    file: &mut [u8],
    mode: FineTune,
    expected: &Expected,
) -> Result<Outcome, Failure> {
    let sum = fnv1a(fnv1a(FNV_OFFSET, &digits::PIXELS), &digits::LABELS);
    if sum != crate::workload::reference::DIGITS.checksum {
        return Err(Failure::Check(
            "digits in flash differ from embedgrad-sim's",
        ));
    }
    if expected.losses.len() != FINE_TUNE.epochs {
        return Err(Failure::Check(
            "expected.txt's epochs differ from FINE_TUNE's",
        ));
    }

    // The network, what trains, and the planned step for exactly that.
    t.init(g, &FINE_TUNE)?;
    let net = *t.net();
    net.fine_tune(g, mode)?;
    let keep = [t.logits()];
    let summary = g.plan(
        net.loss,
        PlanOptions {
            keep: &keep,
            ..PlanOptions::default()
        },
    )?;
    defmt::info!("plan: {}", summary);
    if summary.scalars != S {
        defmt::error!(
            "the plan needs {=usize} scalars, the firmware declares {=usize}",
            summary.scalars,
            S
        );
        return Err(Failure::Check("graph capacity is not exact"));
    }
    let trainable = g.trainable_scalars();
    if trainable != P {
        defmt::error!(
            "{=usize} trainable scalars, Adam has state for {=usize}",
            trainable,
            P
        );
        return Err(Failure::Check("optimizer state is not exact"));
    }
    let req = g.requirements();
    defmt::info!(
        "fine-tuning {}: {=usize} trainable scalars; graph {=usize} nodes, {=usize} scalars, {=usize} bytes; trainer {=usize} bytes",
        mode,
        trainable,
        req.nodes,
        req.scalars,
        req.bytes,
        core::mem::size_of::<Trainer<f32, BATCH, P>>()
    );
    defmt::println!(
        "METRIC batch={=usize} graph_bytes={=usize} trainable={=usize} trainer_bytes={=usize} file_buffer_bytes={=usize}",
        BATCH,
        req.bytes,
        trainable,
        core::mem::size_of::<Trainer<f32, BATCH, P>>(),
        file.len()
    );

    // 1. The pre-trained weights, read where they lie in flash.
    let st: SafeTensors<'_, 4> = SafeTensors::parse(&WEIGHTS.0).map_err(weights("parse"))?;
    let in_place = st.tensors().iter().all(|t| t.as_f32().is_some());
    defmt::info!(
        "weights in flash: {=usize} bytes, header {=usize} bytes, {=usize} tensors, f32 views in place: {=bool}",
        WEIGHTS.0.len(),
        st.header_len(),
        st.tensors().len(),
        in_place
    );
    if !in_place {
        return Err(Failure::Check("the weights in flash are not aligned"));
    }
    safetensors::load(&st, g, &net.params(), LoadOptions::default()).map_err(weights("load"))?;

    // 2. Before: the original writer, and the unseen one.
    t.set_writer(Writer::Original);
    let original = t.evaluate(g, Part::Test)?;
    t.set_writer(Writer::Unseen);
    let before = t.evaluate(g, Part::Test)?;
    defmt::println!(
        "held-out accuracy, original writer: {=usize}/{=usize} ({=f32}%), embedgrad-sim {=usize}",
        original.correct,
        TEST,
        percent(original.correct),
        expected.original
    );
    defmt::println!(
        "held-out accuracy, unseen writer, before: {=usize}/{=usize} ({=f32}%), embedgrad-sim {=usize}",
        before.correct,
        TEST,
        percent(before.correct),
        expected.before
    );
    check_count(
        "held-out accuracy on the original writer differs from embedgrad-sim's",
        original.correct,
        expected.original,
    )?;
    check_count(
        "held-out accuracy on the unseen writer before differs from embedgrad-sim's",
        before.correct,
        expected.before,
    )?;

    // 3. Fine-tuning on the unseen writer's training rows.
    t.restart(&FINE_TUNE)?;
    let mut initial_loss = f32::NAN;
    let mut final_loss = f32::NAN;
    let mut losses_ok = true;
    for (epoch, &want) in (1..=FINE_TUNE.epochs).zip(expected.losses) {
        let loss = t.epoch(g, |f| {
            let l = bench.step(f);
            if initial_loss.is_nan() {
                if let Ok(l) = l {
                    initial_loss = l / BATCH as f32; // per image, like the epoch means
                }
            }
            l
        })?;
        let ok = loss.to_bits() == want.to_bits();
        losses_ok &= ok;
        defmt::println!(
            "epoch {=usize} mean loss {=f32} (embedgrad-sim {=f32}: {=str})",
            epoch,
            loss,
            want,
            if ok { "bit-identical" } else { "DIFFERENT" }
        );
        final_loss = loss;
    }
    let after = t.evaluate(g, Part::Test)?;
    defmt::println!(
        "held-out accuracy, unseen writer, after: {=usize}/{=usize} ({=f32}%), embedgrad-sim {=usize}",
        after.correct,
        TEST,
        percent(after.correct),
        expected.after
    );
    defmt::println!(
        "METRIC original_correct={=usize} before_correct={=usize} after_correct={=usize} test={=usize} train_rows={=usize}",
        original.correct,
        before.correct,
        after.correct,
        TEST,
        TRAIN
    );
    check_count(
        "held-out accuracy on the unseen writer after differs from embedgrad-sim's",
        after.correct,
        expected.after,
    )?;
    let expected_final = expected.losses.last().copied().unwrap_or(f32::NAN);
    if !losses_ok {
        return Err(Failure::Mismatch {
            loss: final_loss,
            expected_loss: expected_final,
            accuracy: percent(after.correct) / 100.0,
            expected_accuracy: percent(expected.after) / 100.0,
        });
    }

    // 4. The round trip: out to RAM, the pre-trained weights back, then the file in again.
    let tuned = predictions(g, t)?;
    let n = safetensors::write_to_slice(g, &net.params(), Dtype::F32, file)
        .map_err(weights("write"))?;
    net.load_weights(g, &WEIGHTS.0).map_err(weights("reload"))?;
    let pretrained = predictions(g, t)?;
    let written = file
        .get(..n)
        .ok_or(Failure::Check("written past the buffer"))?;
    // The reader, measured (the plugin's lines after the first step's, in READER_MARKS order).
    defmt::println!("METRIC reader_marks={=str}", READER_MARKS);
    let st: SafeTensors<'_, 4> = bench
        .measure(|| SafeTensors::parse(written))
        .map_err(weights("parse the written file"))?;
    let params = net.params();
    for p in params.iter() {
        let one = core::slice::from_ref(p);
        let options = LoadOptions { allow_extra: true };
        bench
            .measure(|| safetensors::load(&st, g, one, options))
            .map_err(weights("load a tensor of the written file"))?;
    }
    bench
        .measure(|| net.load_weights(g, written))
        .map_err(weights("load the written file"))?;
    let reloaded = predictions(g, t)?;
    let again = t.evaluate(g, Part::Test)?;
    defmt::println!(
        "round trip: {=usize} bytes written to RAM; held-out logits FNV-1a {=u64:016x} fine-tuned, {=u64:016x} pre-trained, {=u64:016x} read back: {=str}",
        n,
        tuned,
        pretrained,
        reloaded,
        if reloaded == tuned && same(&again, &after) { "bit-identical" } else { "DIFFERENT" }
    );
    if pretrained == tuned {
        return Err(Failure::Check("fine-tuning changed no prediction"));
    }
    if reloaded != tuned || !same(&again, &after) {
        return Err(Failure::Check("the weights read back predict differently"));
    }

    Ok(Outcome {
        initial_loss,
        final_loss,
        accuracy: Some(percent(after.correct) / 100.0),
        reference_loss: Some(expected_final),
    })
}
