//! Host time of the digits recipe (`embedgrad-sim train digits`): one epoch (90 steps of
//! 16-image mini-batches through the 64-32-10 network, Adam, with the shuffle) and one
//! training step, in f32 and f64. Training simply continues from iteration to iteration: the
//! work of an epoch does not depend on the weights.

use criterion::{Criterion, Throughput};
use embedgrad_core::Scalar;
use embedgrad_data::digits::{self, Trainer, BATCH, RECIPE, TRAIN};
use embedgrad_host_sim::digits::SCALARS;
use embedgrad_ops::prelude::*;
use std::hint::black_box;

fn bench<T: Scalar>(c: &mut Criterion) {
    let mut g: Box<StdGraph<T, { digits::NODES }, SCALARS>> = Box::new(StdGraph::new());
    let mut t: Box<Trainer<T, BATCH>> = Box::new(Trainer::new(&mut g, &RECIPE).unwrap());
    let mut group = c.benchmark_group("digits");
    group.sample_size(30);
    group.throughput(Throughput::Elements(TRAIN as u64));
    group.bench_function(format!("epoch/{}", T::NAME), |b| {
        b.iter(|| black_box(t.epoch(&mut g, |f| f()).unwrap()))
    });
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(format!("step/{}", T::NAME), |b| {
        b.iter(|| black_box(t.step(&mut g, 0).unwrap()))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench::<f32>(&mut c);
    bench::<f64>(&mut c);
    c.final_summary();
}
