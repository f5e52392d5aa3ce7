//! The int8 models that the firmware runs on every board, and the results it must reproduce:
//!
//! ```text
//! cargo run --release -p embedgrad-data --example int8_reference -- \
//!     DIGITS_F32 DIGITS_INT8 EXERCISES_INT8
//! ```
//!
//! reads the digits weights `DIGITS_F32` (`embedgrad-sim train digits --save`), quantizes them
//! (`digits::quantized::quantize_pixels`, calibrated on the training images) into
//! `DIGITS_INT8`, trains the exercises CNN (`exercises::CNN`, the simulator's recipe) and
//! quantizes it (`exercises::quantized`, calibrated on the training windows) into
//! `EXERCISES_INT8`, then prints one line per inference firmware:
//!
//! ```text
//! name  correct  classes  outputs  data
//! ```
//!
//! the held-out rows classified right, the FNV-1a 64 of the predicted classes (one byte each,
//! in the split's order), of the outputs (f32 logits as little-endian bits, int8 codes as
//! bytes) and of the held-out inputs' bytes. `firmware/gen-expected.sh` puts them in
//! `firmware/expected.txt`.

use embedgrad_core::PlanOptions;
use embedgrad_data::digits::{self, quantized as dq};
use embedgrad_data::exercises::{self, models, quantized as eq, Model};
use embedgrad_ops::prelude::*;
use embedgrad_ops::StdOp;
use embedgrad_train::{argmax, fnv1a, SplitMix64, FNV_OFFSET};
use std::error::Error;

type Res<T> = Result<T, Box<dyn Error>>;

fn weights<E: std::fmt::Display>(e: E) -> Box<dyn Error> {
    e.to_string().into()
}

/// `name correct classes outputs data` (hashes in hex).
fn line(name: &str, correct: usize, classes: u64, outputs: u64, data: u64) {
    println!("{name:<21} {correct:<4} {classes:016x} {outputs:016x} {data:016x}");
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [f32_path, d8_path, e8_path] = &args[..] else {
        return Err("usage: int8_reference DIGITS_F32 DIGITS_INT8 EXERCISES_INT8".into());
    };
    let file = std::fs::read(f32_path)?;

    // The digits' held-out rows, and the trained network in a training-sized graph.
    const B: usize = digits::BATCH;
    let mut g: Box<StdGraph<f32, { digits::NODES }, { digits::capacity(B).1 }>> =
        Box::new(StdGraph::new());
    let t: Box<digits::Trainer<f32, B>> =
        Box::new(digits::Trainer::new(&mut g, &digits::FINE_TUNE)?);
    t.net().load_weights(&mut g, &file).map_err(weights)?;
    let test: Vec<u16> = t.rows(digits::Part::Test).to_vec();
    let label = |r: usize| {
        digits::LABELS
            .get(r)
            .map_or(usize::MAX, |&l| usize::from(l))
    };
    let image = |r: usize| digits::PIXELS.get(r * 64..(r + 1) * 64).unwrap_or(&[]);
    let data = test
        .iter()
        .fold(FNV_OFFSET, |h, &r| fnv1a(h, image(usize::from(r))));

    // f32: one image at a time in a one-row graph, planned for inference (every variable
    // frozen, the logits kept), as the firmware runs it.
    let mut one: Box<StdGraph<f32, { digits::NODES }, { digits::capacity(1).1 }>> =
        Box::new(StdGraph::new());
    let net = digits::build::<f32, StdOp, { digits::NODES }, { digits::capacity(1).1 }, 1>(
        &mut one,
        &mut SplitMix64::new(0),
    )?;
    net.load_weights(&mut one, &file).map_err(weights)?;
    let vars: Vec<_> = one.variables().collect();
    for v in vars {
        one.set_trainable(v, false)?;
    }
    let keep = [net.logits.id()];
    let plan = one.plan(
        net.loss,
        PlanOptions {
            keep: &keep,
            ..PlanOptions::default()
        },
    )?;
    eprintln!("digits f32 inference plan: {} scalars", plan.scalars);
    one.feed_with(net.y.id(), |y| y.fill(0.0))?;
    let (mut correct, mut classes, mut outputs) = (0, FNV_OFFSET, FNV_OFFSET);
    for &r in &test {
        let r = usize::from(r);
        one.feed_with(net.x.id(), |x| {
            for (d, &p) in x.iter_mut().zip(image(r)) {
                *d = f32::from(p) / 16.0;
            }
        })?;
        one.run(net.logits.id())?;
        let s = one.value_slice(net.logits.id())?;
        let c = argmax(s);
        correct += usize::from(c == label(r));
        classes = fnv1a(classes, &[c as u8]);
        outputs = s
            .iter()
            .fold(outputs, |h, v| fnv1a(h, &v.to_bits().to_le_bytes()));
    }
    line("infer_digits", correct, classes, outputs, data);

    // int8, from the pixel bytes.
    let mut storage = Box::new(dq::Storage::new());
    let q = dq::quantize_pixels(&g, t.net(), t.rows(digits::Part::Train), &mut storage)?;
    let mut bytes = Vec::new();
    q.write(dq::INDEX, |b| {
        bytes.extend_from_slice(b);
        true
    })
    .map_err(weights)?;
    std::fs::write(d8_path, &bytes)?;
    let (mut correct, mut classes, mut outputs) = (0, FNV_OFFSET, FNV_OFFSET);
    let (mut scratch, mut out) = ([0i8; dq::PIXEL_SCRATCH], [0i8; digits::CLASSES]);
    for &r in &test {
        let r = usize::from(r);
        let c = dq::classify_pixels(&q, image(r), &mut scratch, &mut out)?;
        correct += usize::from(c == label(r));
        classes = fnv1a(classes, &[c as u8]);
        outputs = fnv1a(outputs, bytemuck::cast_slice(&out));
    }
    line("infer_digits_int8", correct, classes, outputs, data);

    // The exercises CNN: trained with the simulator's recipe, then quantized.
    const S: usize = Model::Cnn.planned_scalars();
    let mut g: Box<StdGraph<f32, { models::CNN_NODES }, S>> = Box::new(StdGraph::new());
    let mut t: Box<exercises::Trainer<f32, { exercises::BATCH }, { models::CNN_PARAMETERS }>> =
        Box::new(exercises::Trainer::new(&mut g, &exercises::CNN)?);
    t.plan(&mut g)?;
    for _ in 0..exercises::CNN.epochs {
        t.epoch(&mut g, |f| f())?;
    }
    let f32_test = t.evaluate(&mut g, exercises::Part::Test)?;
    let mut storage = Box::new(eq::Storage::new());
    let q = eq::quantize(&g, t.net(), t.rows(exercises::Part::Train), &mut storage)?;
    let mut bytes = Vec::new();
    q.write(eq::INDEX, |b| {
        bytes.extend_from_slice(b);
        true
    })
    .map_err(weights)?;
    std::fs::write(e8_path, &bytes)?;
    let test: Vec<u16> = t.rows(exercises::Part::Test).to_vec();
    let (mut correct, mut classes, mut outputs, mut data) = (0, FNV_OFFSET, FNV_OFFSET, FNV_OFFSET);
    eq::predictions(&q, &test, |r, c, out| {
        let label = exercises::LABELS
            .get(r)
            .map_or(usize::MAX, |&l| usize::from(l));
        correct += usize::from(c == label);
        classes = fnv1a(classes, &[c as u8]);
        outputs = fnv1a(outputs, bytemuck::cast_slice(out));
        data = fnv1a(data, bytemuck::cast_slice(eq::window(r).unwrap_or(&[])));
    })?;
    line("infer_exercises_int8", correct, classes, outputs, data);
    eprintln!(
        "exercises CNN held out: f32 {}/{}, int8 {correct}/{}",
        f32_test.correct,
        f32_test.total,
        test.len()
    );
    Ok(())
}
