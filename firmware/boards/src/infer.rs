//! Inference on every board, f32 against int8: the digits network pre-trained on the host
//! (`boards/weights/digits.safetensors`) and its int8 quantization
//! (`boards/weights/digits_int8.safetensors`), and the exercises CNN in int8
//! (`boards/weights/exercises_int8.safetensors`), each read from flash where it lies.
//!
//! The int8 files are written on the host by `embedgrad-data`'s example `int8_reference`
//! (called by `gen-expected.sh`; ci.sh checks that the committed ones are its output), which
//! also prints the results every firmware must reproduce (`expected.txt`, lines `infer_*`).
//! Each firmware classifies the held-out rows — the digits' 360 images and the exercises'
//! 196 windows with their labels, embedded by build.rs from the data sets in the split's
//! order (23,040 and 75,264 bytes: the whole exercises set, 376 KB, does not fit the 256 KB
//! boards) — and
//! passes only when
//!
//! 1. the embedded bytes are the host's (FNV-1a 64),
//! 2. the count classified right, the FNV-1a 64 of the 360 (196) classes and that of every
//!    output — the f32 logits' bits, the int8 codes — are the host's: bit for bit.
//!
//! The first inference runs between the benchmark markers (`Bench::step`): one image from
//! its bytes to its class, so the plugin's count is the instructions of one inference.
//!
//! - `infer_digits`: f32, the planned graph's own fused dense kernel
//!   (`embedgrad_core::kernels::dense_forward`) on the weights in flash: build.rs writes
//!   them in the graph's layout (the file's `OUT × IN` transposed) as `f32` arrays, and the
//!   firmware first checks them against the file it parses in flash (so it carries the same
//!   reader as the int8 one). A graph of one row would copy the 2,410 weights into RAM
//!   (11.3 KB planned) and its planned run needs 2.5 KB more stack: 17 KB in all, more than
//!   the micro:bit's 16 KB. The host's reference is that graph (`int8_reference`), so the
//!   check also shows that the kernel on flash gives the graph's bits.
//! - `infer_digits_int8`: the int8 network viewed in place in flash
//!   (`QuantNet::from_safetensors`), reading the pixel bytes as codes (`p − 128`), integers
//!   only; 192 bytes of scratch on the stack (the f32 one: 424 bytes of activations).
//! - `infer_exercises_int8`: the int8 CNN (three convolutions with relu, two max poolings, a
//!   global average, a dense layer) reading the windows' bytes as they are; 1 KB of scratch.

use crate::{Bench, Example, Failure, Outcome};
use embedgrad_data::digits::{self, quantized as dq};
use embedgrad_data::exercises::{self, quantized as eq};
use embedgrad_train::quant::{argmax_code, QuantNet};
use embedgrad_train::safetensors::SafeTensors;
use embedgrad_train::{argmax, fnv1a, FNV_OFFSET};

/// The host's results for one inference firmware (an `infer_<model>` line of
/// `expected.txt`).
#[derive(Clone, Copy, Debug)]
pub struct InferReference {
    /// Held-out rows classified right.
    pub correct: usize,
    /// FNV-1a 64 of the classes, one byte each, in the split's order.
    pub classes: u64,
    /// FNV-1a 64 of every output: f32 logits as little-endian bits, int8 codes as bytes.
    pub outputs: u64,
    /// FNV-1a 64 of the held-out inputs' bytes.
    pub data: u64,
}

/// The host's results, from `expected.txt`.
pub mod reference {
    use super::InferReference;
    include!(concat!(env!("OUT_DIR"), "/infer_reference.rs"));
}

/// Bytes aligned for in-place views of the files' tensors.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static DIGITS_F32: &Aligned<[u8]> = &Aligned(*include_bytes!("../weights/digits.safetensors"));
static DIGITS_INT8: &Aligned<[u8]> =
    &Aligned(*include_bytes!("../weights/digits_int8.safetensors"));
static EXERCISES_INT8: &Aligned<[u8]> =
    &Aligned(*include_bytes!("../weights/exercises_int8.safetensors"));

/// The digits' held-out labels, in the split's order.
static DIGITS_TEST_LABELS: [u8; digits::TEST] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/digits_test_labels.u8"));
/// The exercises' held-out labels, in the split's order.
static EXERCISES_TEST_LABELS: [u8; exercises::TEST] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/exercises_test_labels.u8"));
/// The digits' held-out images, 64 pixel bytes each, in the split's order.
static DIGITS_TEST: [u8; digits::TEST * digits::FEATURES] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/digits_test.u8"));
/// The exercises' held-out windows, 384 bytes each (two's complement), in the split's order.
static EXERCISES_TEST: [i8; exercises::TEST * exercises::FEATURES] = signed(include_bytes!(
    concat!(env!("OUT_DIR"), "/exercises_test.i8")
));

/// The bytes of a file as `i8`, at compile time.
const fn signed<const N: usize>(bytes: &[u8; N]) -> [i8; N] {
    let mut out = [0i8; N];
    let mut src: &[u8] = bytes;
    let mut dst: &mut [i8] = &mut out;
    while let ([s, src_rest @ ..], [d, dst_rest @ ..]) = (src, dst) {
        *d = s.cast_signed();
        src = src_rest;
        dst = dst_rest;
    }
    out
}

/// `infer_digits`: f32.
pub const INFER_DIGITS: Example = Example {
    name: "infer_digits",
    train: infer_digits,
    skip: None,
    // The graph is a static (in `.bss`).
    stack: 0,
    on_fault: None,
};

/// `infer_digits_int8`: int8.
pub const INFER_DIGITS_INT8: Example = Example {
    name: "infer_digits_int8",
    train: infer_digits_int8,
    skip: None,
    stack: 0,
    on_fault: None,
};

/// `infer_exercises_int8`: the CNN in int8.
pub const INFER_EXERCISES_INT8: Example = Example {
    name: "infer_exercises_int8",
    train: infer_exercises_int8,
    skip: None,
    stack: 0,
    on_fault: None,
};

/// Running counts and hashes of a pass over the held-out rows.
struct Tally {
    correct: usize,
    classes: u64,
    outputs: u64,
}

impl Tally {
    const fn new() -> Self {
        Tally {
            correct: 0,
            classes: FNV_OFFSET,
            outputs: FNV_OFFSET,
        }
    }

    fn add(&mut self, class: usize, label: Option<u8>, outputs: &[u8]) {
        self.correct += usize::from(label.map(usize::from) == Some(class));
        self.classes = fnv1a(self.classes, &[class as u8]);
        self.outputs = fnv1a(self.outputs, outputs);
    }

    /// Logs the result and compares it with the host's.
    fn check(
        &self,
        name: &str,
        total: usize,
        data: u64,
        expected: InferReference,
    ) -> Result<Outcome, Failure> {
        defmt::info!(
            "{=str}: {=usize}/{=usize} held-out rows right (host {=usize}); classes {=u64:016x} (host {=u64:016x}), outputs {=u64:016x} (host {=u64:016x})",
            name,
            self.correct,
            total,
            expected.correct,
            self.classes,
            expected.classes,
            self.outputs,
            expected.outputs
        );
        defmt::println!(
            "METRIC test_correct={=usize} test_total={=usize}",
            self.correct,
            total
        );
        let accuracy = self.correct as f32 / total as f32;
        if data != expected.data {
            return Err(Failure::Check(
                "held-out bytes in flash differ from the host's",
            ));
        }
        if self.correct != expected.correct
            || self.classes != expected.classes
            || self.outputs != expected.outputs
        {
            return Err(Failure::Check("predictions differ from the host's"));
        }
        Ok(Outcome {
            initial_loss: 0.0,
            final_loss: 0.0,
            accuracy: Some(accuracy),
            reference_loss: None,
        })
    }
}

/// The pre-trained weights in the graph's layout, in flash (from build.rs).
mod flash {
    include!(concat!(env!("OUT_DIR"), "/digits_f32_weights.rs"));
}

/// Whether the f32 file in flash holds the weights of [`flash`] (each tensor transposed back
/// to the file's `OUT × IN`), bit for bit.
fn file_matches() -> Result<bool, Failure> {
    let st: SafeTensors<'_, 4> = SafeTensors::parse(&DIGITS_F32.0)
        .map_err(|_| Failure::Check("the f32 weight file does not parse"))?;
    let mut same = true;
    for (name, values, outs) in [
        ("0.weight", &flash::W1[..], digits::HIDDEN),
        ("0.bias", &flash::B1[..], digits::HIDDEN),
        ("2.weight", &flash::W2[..], digits::CLASSES),
        ("2.bias", &flash::B2[..], digits::CLASSES),
    ] {
        let t = st.get(name).ok_or(Failure::Check("a tensor is missing"))?;
        let ins = values.len() / outs;
        for (k, v) in values.iter().enumerate() {
            let (i, o) = (k / outs, k % outs);
            let file = t.get(o * ins + i).map(|x| (x as f32).to_bits());
            same &= file == Some(v.to_bits());
        }
    }
    Ok(same)
}

fn infer_digits(bench: &mut Bench) -> Result<Outcome, Failure> {
    use embedgrad_core::{kernels, Activation, MatMut, MatRef, Shape};
    let expected = reference::INFER_DIGITS;
    if !file_matches()? {
        return Err(Failure::Check("the weights in flash are not the file's"));
    }
    let (f, h, c) = (digits::FEATURES, digits::HIDDEN, digits::CLASSES);
    let bad = Failure::Graph(embedgrad_core::Error::InvalidArgument);
    let w1 = MatRef::new(&flash::W1, Shape::new(f, h)).ok_or(bad)?;
    let b1 = MatRef::new(&flash::B1, Shape::new(1, h)).ok_or(bad)?;
    let w2 = MatRef::new(&flash::W2, Shape::new(h, c)).ok_or(bad)?;
    let b2 = MatRef::new(&flash::B2, Shape::new(1, c)).ok_or(bad)?;
    let (mut x, mut hidden, mut logits) = ([0.0f32; 64], [0.0f32; 32], [0.0f32; 10]);
    let mut tally = Tally::new();
    let images = DIGITS_TEST.chunks_exact(digits::FEATURES);
    for (k, image) in images.enumerate() {
        let class = bench.step(|| -> Result<usize, Failure> {
            for (d, &p) in x.iter_mut().zip(image) {
                *d = f32::from(p) / 16.0;
            }
            let xs = MatRef::new(&x, Shape::new(1, f)).ok_or(bad)?;
            let hs = MatMut::new(&mut hidden, Shape::new(1, h)).ok_or(bad)?;
            kernels::dense_forward(xs, w1, Some(b1), Activation::Relu, hs);
            let hs = MatRef::new(&hidden, Shape::new(1, h)).ok_or(bad)?;
            let ls = MatMut::new(&mut logits, Shape::new(1, c)).ok_or(bad)?;
            kernels::dense_forward(hs, w2, Some(b2), Activation::Identity, ls);
            Ok(argmax(&logits))
        })?;
        let mut bytes = [0u8; 4 * digits::CLASSES];
        for (d, v) in bytes.chunks_exact_mut(4).zip(&logits) {
            d.copy_from_slice(&v.to_bits().to_le_bytes());
        }
        tally.add(class, DIGITS_TEST_LABELS.get(k).copied(), &bytes);
    }
    let data = fnv1a(FNV_OFFSET, &DIGITS_TEST);
    tally.check("infer_digits (f32)", digits::TEST, data, expected)
}

fn infer_digits_int8(bench: &mut Bench) -> Result<Outcome, Failure> {
    let expected = reference::INFER_DIGITS_INT8;
    // The file's 10 tensors: a bias, multiplier, shift, quant and weight per layer.
    let st: SafeTensors<'_, 10> = SafeTensors::parse(&DIGITS_INT8.0)
        .map_err(|_| Failure::Check("the int8 weight file does not parse"))?;
    let q = QuantNet::<2>::from_safetensors(&st, dq::KINDS, dq::INDEX)
        .map_err(|_| Failure::Check("the int8 weight file is not the digits network"))?;
    let (mut scratch, mut out) = ([0i8; dq::PIXEL_SCRATCH], [0i8; digits::CLASSES]);
    let mut tally = Tally::new();
    for (k, image) in DIGITS_TEST.chunks_exact(digits::FEATURES).enumerate() {
        let class = bench.step(|| dq::classify_pixels(&q, image, &mut scratch, &mut out))?;
        tally.add(
            class,
            DIGITS_TEST_LABELS.get(k).copied(),
            &out.map(i8::cast_unsigned),
        );
    }
    let data = fnv1a(FNV_OFFSET, &DIGITS_TEST);
    tally.check("infer_digits_int8", digits::TEST, data, expected)
}

fn infer_exercises_int8(bench: &mut Bench) -> Result<Outcome, Failure> {
    let expected = reference::INFER_EXERCISES_INT8;
    // The file's 23 tensors: five per layer with weights, a quant for each of the others.
    let st: SafeTensors<'_, 23> = SafeTensors::parse(&EXERCISES_INT8.0)
        .map_err(|_| Failure::Check("the int8 weight file does not parse"))?;
    let q = QuantNet::<{ eq::STAGES }>::from_safetensors(&st, eq::KINDS, eq::INDEX)
        .map_err(|_| Failure::Check("the int8 weight file is not the exercises CNN"))?;
    let (mut scratch, mut out) = ([0i8; eq::SCRATCH], [0i8; exercises::CLASSES]);
    let mut tally = Tally::new();
    let mut data = FNV_OFFSET;
    for (k, window) in EXERCISES_TEST.chunks_exact(exercises::FEATURES).enumerate() {
        let class = bench.step(|| eq::classify(&q, window, &mut scratch, &mut out))?;
        debug_assert_eq!(class, argmax_code(&out));
        let label = EXERCISES_TEST_LABELS.get(k).copied();
        tally.add(class, label, &out.map(i8::cast_unsigned));
        data = window
            .iter()
            .fold(data, |h, &v| fnv1a(h, &[v.cast_unsigned()]));
    }
    tally.check("infer_exercises_int8", exercises::TEST, data, expected)
}
