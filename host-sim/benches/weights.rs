//! Reading and writing weight files: parsing and checking the digits model's safetensors file
//! (9,952 bytes: a 299-byte header and 2,410 F32 values), loading it into the graph (every
//! tensor checked, then copied and transposed from PyTorch's layout), and writing it. Bytes per
//! second are of the whole file.

use criterion::{Criterion, Throughput};
use embedgrad_data::digits::{self, Trainer, BATCH, RECIPE};
use embedgrad_host_sim::digits::SCALARS;
use embedgrad_ops::prelude::*;
use embedgrad_train::safetensors::{self, Dtype, LoadOptions, SafeTensors};
use std::hint::black_box;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut g: Box<StdGraph<f32, { digits::NODES }, SCALARS>> = Box::new(StdGraph::new());
    let t: Box<Trainer<f32, BATCH>> = Box::new(Trainer::new(&mut g, &RECIPE).unwrap());
    let net = *t.net();
    let mut file = Vec::new();
    net.save_weights(&g, Dtype::F32, |b| {
        file.extend_from_slice(b);
        true
    })
    .unwrap();
    let mut group = c.benchmark_group("weights");
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            black_box(
                SafeTensors::<4>::parse(black_box(&file))
                    .unwrap()
                    .tensors()
                    .len(),
            )
        })
    });
    let st: SafeTensors<'_, 4> = SafeTensors::parse(&file).unwrap();
    group.bench_function("load", |b| {
        b.iter(|| {
            safetensors::load(&st, &mut g, &net.params(), LoadOptions::default()).unwrap();
        })
    });
    group.bench_function("parse+load", |b| {
        b.iter(|| net.load_weights(&mut g, black_box(&file)).unwrap())
    });
    let mut out = vec![0u8; file.len()];
    group.bench_function("write", |b| {
        b.iter(|| {
            black_box(safetensors::write_to_slice(&g, &net.params(), Dtype::F32, &mut out).unwrap())
        })
    });
    group.finish();
    c.final_summary();
}
