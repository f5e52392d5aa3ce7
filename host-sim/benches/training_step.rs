//! ns per full-batch training step (forward, backward, update) of each seed example in f32 and
//! f64, four ways in one run:
//!
//! - `hand`: the hand-written step of `hand.rs` (no graph, plain loops): the yardstick, made as
//!   fast as the known techniques allow (bias starting the sums, `a(1 − a)` from the kept
//!   output, softmax and cross-entropy fused into `p − c` with one `exp` per non-maximal
//!   logit and one `ln` per row, a layer at a time over the batch with the loops over
//!   samples, which vectorise);
//! - `graph`: the specified seed graph through the interpreter (`GradientDescent::minimize` on
//!   a `StdGraph` with the simulator's exact capacities);
//! - `graph-fused`: the same network with the tutorial's five-op loss (`softmax`, `log`,
//!   `multiply`, two `reduce_sum`s, `negative`) replaced by the fused `softmax_cross_entropy`
//!   op: not the specified seed graph, but what its loss costs;
//! - `graph-planned`: the specified seed graph with the step plan installed (`Graph::plan`):
//!   the fused dense layers and loss, the planned memory, updates in the sweep.
//!
//! All replay the specified trajectory: the parameters are reset to their initial values
//! every `steps` steps of the example (outside the timed region), so the numbers are those of
//! the real training run. Before anything is timed, every variant takes `CHECK_STEPS` steps
//! and its loss must equal the hand-written step's at each of them (f64 to 1e-9 relative,
//! f32 to 1e-5: they sum in other orders), so all four are timed doing the same training.
//!
//! The table that closes the run is measured apart from criterion, so that a busy machine
//! biases no variant: the variants of one example take turns in short slices (about 2 ms each,
//! `ROUNDS` rounds), and each variant's fastest slice gives its ns per step.

#[path = "hand.rs"]
mod hand;

use criterion::{Criterion, Throughput};
use embedgrad_core::{Error, Graph, Matrix, NodeId, Op, Scalar, Tensor};
use embedgrad_data::seed::{self, Example};
use embedgrad_host_sim::{run, Precision};
use embedgrad_ops::prelude::*;
use embedgrad_train::{GradientDescent, SplitMix64};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SAMPLES: usize = 20;

/// Steps every variant takes, from the initial parameters, to show that it trains as the
/// hand-written step does before it is timed.
const CHECK_STEPS: usize = 100;

/// The planned step's goal (issue 10): at most this many times the hand-written step.
const GOAL: f64 = 1.3;

/// Rounds of the interleaved measurement behind the table.
const ROUNDS: usize = 40;
/// Target length of one timed slice of the table's measurement.
const SLICE: Duration = Duration::from_millis(2);

/// Something that takes training steps and can go back to its initial parameters.
trait Stepper {
    fn step(&mut self) -> f64;
    fn reset(&mut self);
}

struct GraphStepper<T: Scalar, const N: usize, const S: usize> {
    g: Box<StdGraph<T, N, S>>,
    opt: GradientDescent<T>,
    loss: Tensor<1, 1>,
    init: Vec<(NodeId, Vec<T>)>,
}

/// Inputs, targets and loss of a built graph.
type Built = (NodeId, NodeId, Tensor<1, 1>);

fn layer<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const B: usize,
    const I: usize,
    const J: usize,
>(
    g: &mut Graph<T, O, N, S>,
    rng: &mut SplitMix64,
    x: Tensor<B, I>,
) -> Result<Tensor<B, J>, Error> {
    let mut w = Matrix::<T, I, J>::zeros();
    let mut b = Matrix::<T, 1, J>::zeros();
    for v in w.as_mut_slice().iter_mut().chain(b.as_mut_slice()) {
        *v = T::from_f64(rng.normal() * 1.0);
    }
    let w = g.variable(&w)?;
    let b = g.variable(&b)?;
    let xw = g.matmul(x, w)?;
    g.add(xw, b)
}

/// The seed network (same initial weights) with the fused `softmax_cross_entropy` loss.
fn build_fused<T: Scalar, const N: usize, const S: usize, const B: usize>(
    ex: Example,
    g: &mut StdGraph<T, N, S>,
    rng: &mut SplitMix64,
) -> Result<Built, Error> {
    let x = g.placeholder::<B, 2>()?;
    let c = g.placeholder::<B, 2>()?;
    let logits = match ex {
        Example::Perceptron => layer::<T, StdOp, N, S, B, 2, 2>(g, rng, x)?,
        Example::MlpXor => {
            let h = layer::<T, StdOp, N, S, B, 2, 2>(g, rng, x)?;
            let h = g.sigmoid(h)?;
            layer::<T, StdOp, N, S, B, 2, 2>(g, rng, h)?
        }
        Example::SpiralDeep => {
            let h = layer::<T, StdOp, N, S, B, 2, 16>(g, rng, x)?;
            let h = g.sigmoid(h)?;
            let h = layer::<T, StdOp, N, S, B, 16, 16>(g, rng, h)?;
            let h = g.sigmoid(h)?;
            let h = layer::<T, StdOp, N, S, B, 16, 16>(g, rng, h)?;
            let h = g.sigmoid(h)?;
            layer::<T, StdOp, N, S, B, 16, 2>(g, rng, h)?
        }
    };
    let loss = g.softmax_cross_entropy(logits, c)?;
    Ok((x.id(), c.id(), loss))
}

impl<T: Scalar, const N: usize, const S: usize> GraphStepper<T, N, S> {
    fn new<const B: usize>(ex: Example, fused: bool, planned: bool) -> Self {
        let n = ex.points();
        let (mut xs, mut cs, mut labels) = (vec![T::ZERO; 2 * n], vec![T::ZERO; 2 * n], vec![0; n]);
        let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
        let mut g: Box<StdGraph<T, N, S>> = Box::new(StdGraph::new());
        let (x, c, loss) = if fused {
            build_fused::<T, N, S, B>(ex, &mut g, &mut rng).unwrap()
        } else {
            let net = seed::build::<T, StdOp, N, S, B>(ex, &mut g, &mut rng).unwrap();
            (net.x.id(), net.c.id(), net.loss)
        };
        g.feed_slice(x, &xs).unwrap();
        g.feed_slice(c, &cs).unwrap();
        if planned {
            g.plan(loss, embedgrad_core::PlanOptions::default())
                .unwrap();
        }
        let vars: Vec<NodeId> = g.variables().collect();
        let init = vars
            .into_iter()
            .map(|id| (id, g.value_slice(id).unwrap().to_vec()))
            .collect();
        Self {
            g,
            opt: GradientDescent::new(T::from_f64(ex.learning_rate())),
            loss,
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

/// The seed graph with the simulator's exact capacities, or (`fused`) its variant with the
/// fused loss (which needs fewer nodes and scalars).
fn graph_stepper<T: Scalar>(ex: Example, fused: bool, planned: bool) -> Box<dyn Stepper> {
    use run::*;
    match ex {
        Example::Perceptron => Box::new(
            GraphStepper::<T, PERCEPTRON_NODES, PERCEPTRON_SCALARS>::new::<100>(ex, fused, planned),
        ),
        Example::MlpXor => Box::new(
            GraphStepper::<T, MLP_XOR_NODES, MLP_XOR_SCALARS>::new::<100>(ex, fused, planned),
        ),
        Example::SpiralDeep => Box::new(
            GraphStepper::<T, SPIRAL_DEEP_NODES, SPIRAL_DEEP_SCALARS>::new::<200>(
                ex, fused, planned,
            ),
        ),
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

/// The variants, in the table's order.
const KINDS: [&str; 4] = ["hand", "graph", "graph-fused", "graph-planned"];

/// The four variants of `ex` in precision `T`, checked against each other (see
/// [`check_agreement`]) and back at their initial parameters.
fn variants<T: Scalar + hand::Real + 'static>(ex: Example) -> [Box<dyn Stepper>; 4] {
    let mut steppers = [
        hand_stepper::<T>(ex),
        graph_stepper::<T>(ex, false, false),
        graph_stepper::<T>(ex, true, false),
        graph_stepper::<T>(ex, false, true),
    ];
    let tol = if T::NAME == "f32" { 1e-5 } else { 1e-9 };
    check_agreement(ex, T::NAME, &mut steppers, tol);
    steppers
}

/// Takes `CHECK_STEPS` steps with every stepper and asserts that at each step every loss is
/// the first stepper's to `tol` relative; then resets them all.
fn check_agreement(ex: Example, precision: &str, steppers: &mut [Box<dyn Stepper>], tol: f64) {
    let steps = CHECK_STEPS.min(ex.steps());
    let curves: Vec<Vec<f64>> = steppers
        .iter_mut()
        .map(|s| (0..steps).map(|_| s.step()).collect())
        .collect();
    for (kind, curve) in KINDS.iter().zip(&curves) {
        for (step, (l, want)) in curve.iter().zip(&curves[0]).enumerate() {
            let rel = (l - want).abs() / want.abs().max(f64::MIN_POSITIVE);
            assert!(
                rel <= tol,
                "{} {precision} {kind}, step {step}: loss {l}, hand-written {want} ({rel:.1e})",
                ex.name()
            );
        }
    }
    for s in steppers.iter_mut() {
        s.reset();
    }
}

fn bench_all(c: &mut Criterion) {
    for ex in Example::ALL {
        let mut group = c.benchmark_group(format!("step/{}", ex.name()));
        group.throughput(Throughput::Elements(1));
        for precision in Precision::ALL {
            let steppers = match precision {
                Precision::F32 => variants::<f32>(ex),
                Precision::F64 => variants::<f64>(ex),
            };
            for (kind, mut s) in KINDS.into_iter().zip(steppers) {
                let period = ex.steps() as u64;
                let mut done = 0;
                group.bench_function(format!("{}/{kind}", precision.name()), |b| {
                    b.iter_custom(|iters| timed(s.as_mut(), iters, period, &mut done))
                });
            }
        }
        group.finish();
    }
}

/// ns per step of each variant (in `KINDS` order): interleaved slices, fastest slice.
fn interleaved<T: Scalar + hand::Real + 'static>(ex: Example) -> [f64; 4] {
    let mut steppers = variants::<T>(ex);
    let period = ex.steps() as u64;
    let mut done = [0u64; 4];
    // Steps per slice, from a first timing of each variant.
    let mut per_slice = [1u64; 4];
    for ((s, d), n) in steppers.iter_mut().zip(&mut done).zip(&mut per_slice) {
        let t = timed(s.as_mut(), 200, period, d);
        *n = (SLICE.as_nanos() as f64 / (t.as_nanos() as f64 / 200.0)).max(1.0) as u64;
    }
    let mut best = [f64::INFINITY; 4];
    for _ in 0..ROUNDS {
        for (k, s) in steppers.iter_mut().enumerate() {
            let t = timed(s.as_mut(), per_slice[k], period, &mut done[k]);
            best[k] = best[k].min(t.as_nanos() as f64 / per_slice[k] as f64);
        }
    }
    best
}

fn print_table() {
    println!();
    println!(
        "ns per full-batch training step (fastest of {ROUNDS} interleaved slices of ~{} ms); \
         every variant's loss equals the hand-written step's over the first {CHECK_STEPS} steps",
        SLICE.as_millis()
    );
    println!(
        "| example | precision | hand-written | graph (interpreter) | ÷ hand \
         | graph, fused loss | ÷ hand | graph, planned | ÷ hand |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut verdicts = Vec::new();
    for ex in Example::ALL {
        for p in Precision::ALL {
            let [h, g, f, q] = match p {
                Precision::F32 => interleaved::<f32>(ex),
                Precision::F64 => interleaved::<f64>(ex),
            };
            println!(
                "| {} | {} | {h:.0} | {g:.0} | {:.2}× | {f:.0} | {:.2}× | {q:.0} | {:.2}× |",
                ex.name(),
                p.name(),
                g / h,
                f / h,
                q / h
            );
            if p == Precision::F32 {
                let verdict = if q / h <= GOAL { "meets" } else { "misses" };
                verdicts.push(format!("{} {:.2}× ({verdict})", ex.name(), q / h));
            }
        }
    }
    println!(
        "planned ÷ hand-written in f32, goal ≤ {GOAL}×: {}",
        verdicts.join(", ")
    );
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_all(&mut c);
    c.final_summary();
    // Only in a real benchmark run: not for `--profile-time`, `--list` or test mode.
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench")
        && !args
            .iter()
            .any(|a| a == "--profile-time" || a == "--list" || a == "--test");
    if measuring {
        print_table();
    }
}
