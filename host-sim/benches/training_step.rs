//! ns per full-batch training step (forward, backward, update) of each seed example in f32 and
//! f64: through the graph (`GradientDescent::minimize` on a `StdGraph` with the simulator's
//! exact capacities) beside the hand-written, fused step of `hand.rs` (no graph, plain loops).
//!
//! Both replay the specified trajectory: the parameters are reset to their initial values
//! every `steps` steps of the example (outside the timed region), so the numbers are those of
//! the real training run. A table with the ratio graph / hand-written closes the run.

#[path = "hand.rs"]
mod hand;

use criterion::{Criterion, Throughput};
use embedgrad_core::{NodeId, Scalar};
use embedgrad_host_sim::{run, Precision};
use embedgrad_ops::prelude::*;
use embedgrad_train::seed::{self, Example};
use embedgrad_train::GradientDescent;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SAMPLES: usize = 20;

/// Per-call `(iterations, time)` of each benchmark, in call order: criterion calls a routine a
/// few times to warm up, then once per sample, so the last `SAMPLES` calls are the samples.
static CALLS: Mutex<Vec<(String, u64, Duration)>> = Mutex::new(Vec::new());

/// Something that takes training steps and can go back to its initial parameters.
trait Stepper {
    fn step(&mut self) -> f64;
    fn reset(&mut self);
}

struct GraphStepper<T: Scalar, const N: usize, const S: usize> {
    g: Box<StdGraph<T, N, S>>,
    opt: GradientDescent<T>,
    loss: embedgrad_core::Tensor<1, 1>,
    init: Vec<(NodeId, Vec<T>)>,
}

impl<T: Scalar, const N: usize, const S: usize> GraphStepper<T, N, S> {
    fn new<const B: usize>(ex: Example) -> Self {
        let n = ex.points();
        let (mut xs, mut cs, mut labels) = (vec![T::ZERO; 2 * n], vec![T::ZERO; 2 * n], vec![0; n]);
        let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
        let mut g: Box<StdGraph<T, N, S>> = Box::new(StdGraph::new());
        let net = seed::build::<T, StdOp, N, S, B>(ex, &mut g, &mut rng).unwrap();
        g.feed_slice(net.x.id(), &xs).unwrap();
        g.feed_slice(net.c.id(), &cs).unwrap();
        let vars: Vec<NodeId> = g.variables().collect();
        let init = vars
            .into_iter()
            .map(|id| (id, g.value_slice(id).unwrap().to_vec()))
            .collect();
        Self {
            g,
            opt: GradientDescent::new(T::from_f64(ex.learning_rate())),
            loss: net.loss,
            init,
        }
    }
}

impl<T: Scalar, const N: usize, const S: usize> Stepper for GraphStepper<T, N, S> {
    fn step(&mut self) -> f64 {
        self.opt
            .minimize(&mut self.g, self.loss)
            .map_or(f64::NAN, T::to_f64)
    }
    fn reset(&mut self) {
        for (id, v) in &self.init {
            self.g.assign_slice(*id, v).unwrap();
        }
    }
}

struct HandStepper<T> {
    mlp: hand::Mlp<T>,
    init: (Vec<Vec<T>>, Vec<Vec<T>>),
}

impl<T: hand::Real> HandStepper<T> {
    fn new(spec: &hand::Spec) -> Self {
        let mlp = hand::Mlp::new(spec);
        let init = (mlp.w.clone(), mlp.b.clone());
        Self { mlp, init }
    }
}

impl<T: hand::Real> Stepper for HandStepper<T> {
    fn step(&mut self) -> f64 {
        self.mlp.step().to_f64()
    }
    fn reset(&mut self) {
        self.mlp.w.clone_from(&self.init.0);
        self.mlp.b.clone_from(&self.init.1);
    }
}

fn spec(ex: Example) -> hand::Spec {
    match ex {
        Example::Perceptron => hand::PERCEPTRON,
        Example::MlpXor => hand::MLP_XOR,
        Example::SpiralDeep => hand::SPIRAL_DEEP,
    }
}

fn graph_stepper<T: Scalar>(ex: Example) -> Box<dyn Stepper> {
    use run::*;
    match ex {
        Example::Perceptron => {
            Box::new(GraphStepper::<T, PERCEPTRON_NODES, PERCEPTRON_SCALARS>::new::<100>(ex))
        }
        Example::MlpXor => {
            Box::new(GraphStepper::<T, MLP_XOR_NODES, MLP_XOR_SCALARS>::new::<100>(ex))
        }
        Example::SpiralDeep => {
            Box::new(GraphStepper::<T, SPIRAL_DEEP_NODES, SPIRAL_DEEP_SCALARS>::new::<200>(ex))
        }
    }
}

fn hand_stepper<T: hand::Real + 'static>(ex: Example) -> Box<dyn Stepper> {
    Box::new(HandStepper::<T>::new(&spec(ex)))
}

/// Times `iters` steps, resetting the parameters (untimed) every `period` steps.
fn timed(s: &mut dyn Stepper, iters: u64, period: u64, done: &mut u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        if done.is_multiple_of(period) {
            s.reset();
        }
        let chunk = left.min(period - *done % period);
        let start = Instant::now();
        for _ in 0..chunk {
            black_box(s.step());
        }
        total += start.elapsed();
        *done += chunk;
        left -= chunk;
    }
    total
}

fn bench_all(c: &mut Criterion) {
    for ex in Example::ALL {
        let mut group = c.benchmark_group(format!("step/{}", ex.name()));
        group.throughput(Throughput::Elements(1));
        for precision in Precision::ALL {
            let steppers: [(&str, Box<dyn Stepper>); 2] = match precision {
                Precision::F32 => [
                    ("graph", graph_stepper::<f32>(ex)),
                    ("hand", hand_stepper::<f32>(ex)),
                ],
                Precision::F64 => [
                    ("graph", graph_stepper::<f64>(ex)),
                    ("hand", hand_stepper::<f64>(ex)),
                ],
            };
            for (kind, mut s) in steppers {
                let id = format!("{}/{}/{kind}", ex.name(), precision.name());
                let period = ex.steps() as u64;
                let mut done = 0;
                group.bench_function(format!("{}/{kind}", precision.name()), |b| {
                    b.iter_custom(|iters| {
                        let t = timed(s.as_mut(), iters, period, &mut done);
                        if let Ok(mut calls) = CALLS.lock() {
                            calls.push((id.clone(), iters, t));
                        }
                        t
                    })
                });
            }
        }
        group.finish();
    }
}

/// Median ns per step over the samples of one benchmark.
fn median_ns(calls: &[(String, u64, Duration)], id: &str) -> Option<f64> {
    let mine: Vec<f64> = calls
        .iter()
        .filter(|c| c.0 == id && c.1 > 0)
        .map(|c| c.2.as_nanos() as f64 / c.1 as f64)
        .collect();
    let mut samples: Vec<f64> = mine[mine.len().saturating_sub(SAMPLES)..].to_vec();
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(samples[n / 2]),
        _ => Some(0.5 * (samples[n / 2 - 1] + samples[n / 2])),
    }
}

fn print_table() {
    let Ok(calls) = CALLS.lock() else { return };
    println!();
    println!("ns per full-batch training step (median of {SAMPLES} samples)");
    println!("| example | precision | graph (ns/step) | hand-written (ns/step) | graph / hand |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for ex in Example::ALL {
        for p in Precision::ALL {
            let g = median_ns(&calls, &format!("{}/{}/graph", ex.name(), p.name()));
            let h = median_ns(&calls, &format!("{}/{}/hand", ex.name(), p.name()));
            if let (Some(g), Some(h)) = (g, h) {
                println!(
                    "| {} | {} | {g:.0} | {h:.0} | {:.2}× |",
                    ex.name(),
                    p.name(),
                    g / h
                );
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_all(&mut c);
    c.final_summary();
    print_table();
}
