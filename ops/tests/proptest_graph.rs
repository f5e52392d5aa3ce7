//! Property tests over random graphs of every standard op.
//!
//! A random *recipe* (leaves of random shapes, then ops over earlier nodes) is built into a
//! graph. Three properties are checked:
//!
//! 1. **Gradients**: for a random scalar loss, every variable's backprop gradient matches a
//!    central difference through the whole graph (f64).
//! 2. **Each needed node is evaluated exactly once**: `run_many` runs exactly one forward kernel
//!    per op among the targets' ancestors (counted independently from the recipe), and backprop
//!    exactly one backward kernel per (op on the loss's path, input with a gradient).
//! 3. **Failed builds change nothing**: in a graph with small capacities, every `push_op` or
//!    leaf that fails (capacity, shape) leaves the graph bit for bit as it was, and the error is
//!    the capacity error exactly when the capacity would be exceeded.
//!
//! Run with `--nocapture` to see how many cases were checked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use embedgrad_core::{Error, Graph, NodeId, Op, Shape, Stats};
use embedgrad_ops::prelude::*;
use embedgrad_ops::reduce_sum::{Axis, ReduceSum};
use embedgrad_ops::{
    add::Add, exp::Exp, leaky_relu::LeakyRelu, log::Log, matmul::MatMul, mean::Mean, mse::Mse,
    multiply::Multiply, negative::Negative, relu::Relu, scale::Scale, sigmoid::Sigmoid,
    sigmoid_binary_cross_entropy::SigmoidBinaryCrossEntropy, softmax::Softmax,
    softmax_cross_entropy::SoftmaxCrossEntropy,
    sparse_softmax_cross_entropy::SparseSoftmaxCrossEntropy, square::Square, subtract::Subtract,
    tanh::Tanh,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::cell::Cell;

#[derive(Clone, Debug)]
enum Step {
    /// 0 variable, 1 constant, 2 placeholder.
    Leaf {
        kind: u8,
        rows: u8,
        cols: u8,
    },
    Op {
        op: u8,
        a: u16,
        b: u16,
        param: i8,
    },
}

const OPS: u8 = 20;

fn op_of(code: u8, param: i8) -> StdOp {
    let axis = match param.rem_euclid(3) {
        0 => Axis::All,
        1 => Axis::Rows,
        _ => Axis::Cols,
    };
    match code % OPS {
        0 => Negative.into(),
        1 => Log.into(),
        2 => Sigmoid.into(),
        3 => Multiply.into(),
        4 => MatMul.into(),
        5 => Add.into(),
        6 => ReduceSum { axis }.into(),
        7 => Softmax.into(),
        8 => Subtract.into(),
        9 => Exp.into(),
        10 => Square.into(),
        11 => Scale::new(f64::from(param) / 16.0).into(),
        12 => Mean { axis }.into(),
        13 => Relu.into(),
        14 => LeakyRelu::new(0.1).into(),
        15 => Tanh.into(),
        16 => SoftmaxCrossEntropy.into(),
        17 => SparseSoftmaxCrossEntropy.into(),
        18 => SigmoidBinaryCrossEntropy.into(),
        _ => Mse.into(),
    }
}

fn arity(code: u8) -> usize {
    match code % OPS {
        3 | 4 | 5 | 8 | 16 | 17 | 18 | 19 => 2,
        _ => 1,
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0u8..3, 1u8..4, 1u8..4).prop_map(|(kind, rows, cols)| Step::Leaf { kind, rows, cols }),
        3 => (0..OPS, any::<u16>(), any::<u16>(), any::<i8>())
            .prop_map(|(op, a, b, param)| Step::Op { op, a, b, param }),
    ]
}

fn recipe() -> impl Strategy<Value = (Vec<Step>, u64)> {
    (
        (1u8..4, 1u8..4).prop_map(|(rows, cols)| Step::Leaf {
            kind: 0,
            rows,
            cols,
        }),
        proptest::collection::vec(step(), 1..24),
        any::<u64>(),
    )
        .prop_map(|(first, mut rest, seed)| {
            rest.insert(0, first); // always at least one variable
            (rest, seed)
        })
}

/// Deterministic values in [-2, 2).
struct Values(u64);
impl Values {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
    }
}

/// What a node was built from, recorded independently of the graph.
#[derive(Clone, Debug)]
struct Built {
    id: NodeId,
    inputs: Vec<usize>,
    is_op: bool,
    op: Option<u8>,
}

/// A node as seen from outside: shape, kind, value bits and gradient bits.
type NodeView = (Shape, String, Option<Vec<u64>>, Option<Vec<u64>>);

/// Everything observable about a graph, to compare before and after a failed call.
#[derive(Debug, PartialEq)]
struct Snapshot {
    len: usize,
    used: usize,
    nodes: Vec<NodeView>,
    stats: Stats,
}

fn snapshot<O: Op<f64> + core::fmt::Debug, const N: usize, const S: usize>(
    g: &Graph<f64, O, N, S>,
) -> Snapshot {
    let nodes = (0..g.len())
        .map(|i| {
            let id = g.node_at(i).unwrap();
            let bits = |s: &[f64]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            (
                g.shape(id).unwrap(),
                format!("{:?}", g.kind(id).unwrap()),
                g.value_slice(id).ok().map(bits),
                g.grad_slice(id).ok().map(bits),
            )
        })
        .collect();
    Snapshot {
        len: g.len(),
        used: g.scalars_used(),
        nodes,
        stats: g.stats(),
    }
}

/// The scalars a node would add: its value, and as much again for a gradient.
fn cost(shape: Shape, with_grad: bool) -> usize {
    shape.rows * shape.cols * if with_grad { 2 } else { 1 }
}

/// Failed steps seen by [`build`].
#[derive(Default, Debug)]
struct Failures {
    shape: usize,
    capacity: usize,
}

/// Builds a recipe into `g`. Every failed step is checked to change nothing; the error is a
/// capacity error exactly when the node would not fit.
fn build<const N: usize, const S: usize>(
    g: &mut StdGraph<f64, N, S>,
    steps: &[Step],
    seed: u64,
) -> (Vec<Built>, Failures) {
    let mut vals = Values(seed | 1);
    let mut built: Vec<Built> = Vec::new();
    let mut failures = Failures::default();
    for s in steps {
        let before = snapshot(g);
        let (result, shape, with_grad, inputs, op_code) = match *s {
            Step::Leaf { kind, rows, cols } => {
                let shape = Shape::new(rows.into(), cols.into());
                let data: Vec<f64> = (0..shape.rows * shape.cols).map(|_| vals.next()).collect();
                let r = match kind {
                    0 => g.variable_dyn(shape, &data),
                    1 => g.constant_dyn(shape, &data),
                    _ => g.placeholder_dyn(shape).and_then(|id| {
                        g.feed_slice(id, &data)?;
                        Ok(id)
                    }),
                };
                (r, Some(shape), kind == 0, vec![], None)
            }
            Step::Op { op, a, b, param } => {
                if built.is_empty() {
                    continue;
                }
                let o = op_of(op, param);
                let n = built.len();
                let a = a as usize % n;
                let sa = g.shape(built[a].id).unwrap();
                let mut inputs = vec![a];
                if arity(op) == 2 {
                    // Prefer a second input whose shape fits.
                    let b0 = b as usize % n;
                    let fits = |j: usize| {
                        let sb = g.shape(built[j].id).unwrap();
                        Op::<f64>::out_shape(&o, &[sa, sb]).is_ok()
                    };
                    let j = (0..n)
                        .map(|k| (b0 + k) % n)
                        .find(|&j| fits(j))
                        .unwrap_or(b0);
                    inputs.push(j);
                }
                let shapes: Vec<Shape> = inputs
                    .iter()
                    .map(|&i| g.shape(built[i].id).unwrap())
                    .collect();
                let out = Op::<f64>::out_shape(&o, &shapes).ok();
                let with_grad = inputs.iter().any(|&i| g.has_grad(built[i].id).unwrap());
                let ids: Vec<NodeId> = inputs.iter().map(|&i| built[i].id).collect();
                (g.push_op(o, &ids), out, with_grad, inputs, Some(op))
            }
        };
        match result {
            Ok(id) => built.push(Built {
                id,
                inputs,
                is_op: op_code.is_some(),
                op: op_code,
            }),
            Err(e) => {
                assert_eq!(snapshot(g), before, "{e:?} changed the graph");
                let node_full = g.len() >= N;
                // Building checks only the fixed values (placeholders, constants, variables):
                // op buffers are laid out at the first run.
                let _ = with_grad;
                let scalar_full = op_code.is_none()
                    && shape.is_some_and(|s| g.fixed_scalars() + cost(s, false) > S);
                match e {
                    Error::NodeCapacity { capacity, needed } => {
                        assert_eq!(capacity, N);
                        assert_eq!(needed, g.len() + 1);
                        assert!(node_full);
                        failures.capacity += 1;
                    }
                    Error::ScalarCapacity {
                        needed,
                        capacity,
                        partial,
                    } => {
                        assert_eq!(capacity, S);
                        assert!(partial, "building counts the fixed values only");
                        assert!(!node_full && scalar_full);
                        assert_eq!(needed, g.fixed_scalars() + cost(shape.unwrap(), false));
                        failures.capacity += 1;
                    }
                    _ => {
                        assert!(shape.is_none(), "{e:?} for a valid shape");
                        failures.shape += 1;
                    }
                }
            }
        }
    }
    (built, failures)
}

/// Op ancestors (inclusive) of the targets, from the recipe alone.
fn op_ancestors(built: &[Built], targets: &[usize]) -> Vec<bool> {
    let mut mark = vec![false; built.len()];
    let mut stack: Vec<usize> = targets.to_vec();
    while let Some(i) = stack.pop() {
        if !mark[i] {
            mark[i] = true;
            stack.extend(&built[i].inputs);
        }
    }
    mark
}

type Big = StdGraph<f64, 64, 4096>;

/// A runner with a fixed seed: the same cases on every run, so the counts below are stable
/// (the fuzz targets explore further).
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

#[test]
#[cfg_attr(miri, ignore)]
fn backprop_matches_central_differences_through_random_graphs() {
    let checked_cases = Cell::new(0usize);
    let checked_scalars = Cell::new(0usize);
    let skipped = Cell::new(0usize);
    runner(600)
        .run(&(recipe(), any::<u16>()), |((steps, seed), pick)| {
            let mut g: Box<Big> = Box::new(Big::new());
            let (built, _) = build(&mut g, &steps, seed);
            // The loss: a reduce_sum of a node that depends on a variable.
            let with_grad: Vec<usize> = (0..built.len())
                .filter(|&i| g.has_grad(built[i].id).unwrap())
                .collect();
            let target = with_grad[pick as usize % with_grad.len()];
            let loss = g
                .push_op(ReduceSum { axis: Axis::All }.into(), &[built[target].id])
                .unwrap();
            g.run(loss).unwrap();
            let l0 = g.value_slice(loss).unwrap()[0];
            // Skip non-smooth or out-of-range cases: a non-finite or huge value anywhere, a
            // relu input at its kink, labels that depend on a variable.
            let mut ok = l0.is_finite() && l0.abs() < 1e6;
            for b in &built {
                let v = g.value_slice(b.id).unwrap();
                ok &= v.iter().all(|x| x.is_finite() && x.abs() < 1e6);
                match b.op.map(|c| c % OPS) {
                    Some(13 | 14) => {
                        let x = g.value_slice(built[b.inputs[0]].id).unwrap();
                        ok &= x.iter().all(|x| x.abs() > 1e-3);
                    }
                    Some(17) => ok &= !g.has_grad(built[b.inputs[1]].id).unwrap(),
                    _ => {}
                }
            }
            if !ok {
                skipped.set(skipped.get() + 1);
                return Ok(());
            }
            g.backward_dyn(loss, false).unwrap();
            let h = 1e-6;
            let vars: Vec<NodeId> = g.variables().collect();
            for &id in &vars {
                let analytic = g.grad_slice(id).unwrap().to_vec();
                let base = g.value_slice(id).unwrap().to_vec();
                for k in 0..base.len() {
                    let mut p = base.clone();
                    p[k] += h;
                    g.assign_slice(id, &p).unwrap();
                    g.run(loss).unwrap();
                    let fp = g.value_slice(loss).unwrap()[0];
                    p[k] = base[k] - h;
                    g.assign_slice(id, &p).unwrap();
                    g.run(loss).unwrap();
                    let fm = g.value_slice(loss).unwrap()[0];
                    g.assign_slice(id, &base).unwrap();
                    let num = (fp - fm) / (2.0 * h);
                    let a = analytic[k];
                    let tol = 1e-5 * a.abs().max(num.abs()).max(1.0)
                        + 8.0 * f64::EPSILON * fp.abs().max(fm.abs()) / h;
                    prop_assert!(
                        (a - num).abs() <= tol,
                        "d loss / d {:?}[{k}]: backprop {a}, central difference {num}",
                        id
                    );
                    checked_scalars.set(checked_scalars.get() + 1);
                }
            }
            checked_cases.set(checked_cases.get() + 1);
            Ok(())
        })
        .unwrap();
    println!(
        "gradient checks: {} graphs, {} scalars; {} graphs skipped (non-finite, huge or at a \
         kink)",
        checked_cases.get(),
        checked_scalars.get(),
        skipped.get()
    );
    assert!(checked_cases.get() >= 300, "too few graphs checked");
}

#[test]
#[cfg_attr(miri, ignore)]
fn each_needed_node_is_evaluated_exactly_once() {
    let runs = Cell::new(0usize);
    let backprops = Cell::new(0usize);
    runner(1000)
        .run(
            &(recipe(), proptest::collection::vec(any::<u16>(), 1..4)),
            |((steps, seed), picks)| {
                let mut g: Box<Big> = Box::new(Big::new());
                let (built, _) = build(&mut g, &steps, seed);
                let targets: Vec<usize> = picks.iter().map(|&p| p as usize % built.len()).collect();
                let ids: Vec<NodeId> = targets.iter().map(|&t| built[t].id).collect();
                let mark = op_ancestors(&built, &targets);
                let want = (0..built.len())
                    .filter(|&i| mark[i] && built[i].is_op)
                    .count();
                for _ in 0..2 {
                    let before = g.stats();
                    g.run_many(&ids).unwrap();
                    let after = g.stats();
                    prop_assert_eq!((after.forward_ops - before.forward_ops) as usize, want);
                    prop_assert_eq!(after.backward_ops, before.backward_ops);
                    runs.set(runs.get() + 1);
                }
                // Backprop from a scalar loss over the first target.
                let loss = g
                    .push_op(ReduceSum { axis: Axis::All }.into(), &[ids[0]])
                    .unwrap();
                let mut all = built.clone();
                all.push(Built {
                    id: loss,
                    inputs: vec![targets[0]],
                    is_op: true,
                    op: None,
                });
                let mark = op_ancestors(&all, &[all.len() - 1]);
                g.run(loss).unwrap();
                let want_backward: usize = (0..all.len())
                    .filter(|&i| mark[i] && all[i].is_op && g.has_grad(all[i].id).unwrap())
                    .map(|i| {
                        all[i]
                            .inputs
                            .iter()
                            .filter(|&&j| g.has_grad(all[j].id).unwrap())
                            .count()
                    })
                    .sum();
                let before = g.stats();
                g.backward_dyn(loss, false).unwrap();
                let after = g.stats();
                prop_assert_eq!(after.forward_ops, before.forward_ops);
                prop_assert_eq!(
                    (after.backward_ops - before.backward_ops) as usize,
                    want_backward
                );
                backprops.set(backprops.get() + 1);
                Ok(())
            },
        )
        .unwrap();
    println!(
        "evaluation counts: {} runs and {} backprops checked",
        runs.get(),
        backprops.get()
    );
    assert_eq!(runs.get(), 2000);
    assert_eq!(backprops.get(), 1000);
}

#[test]
#[cfg_attr(miri, ignore)]
fn failed_builds_leave_the_graph_unchanged() {
    let shape_failures = Cell::new(0usize);
    let capacity_failures = Cell::new(0usize);
    runner(1000)
        .run(&recipe(), |(steps, seed)| {
            // Small capacities, so that builds run out of nodes or scalars (`build` checks
            // every failure).
            let mut g: StdGraph<f64, 8, 40> = StdGraph::new();
            let (built, f) = build(&mut g, &steps, seed);
            shape_failures.set(shape_failures.get() + f.shape);
            capacity_failures.set(capacity_failures.get() + f.capacity);
            // What was built still runs and backprops, when its op buffers fit (they are laid
            // out at the first run, which reports the whole graph's need otherwise).
            let need = g.requirements().unplanned_scalars;
            if need > 40 {
                if let Some(last) = built.last() {
                    assert_eq!(
                        g.run(last.id),
                        Err(Error::ScalarCapacity {
                            needed: need,
                            capacity: 40,
                            partial: false
                        })
                    );
                }
                return Ok(());
            }
            let with_grad: Vec<&Built> =
                built.iter().filter(|b| g.has_grad(b.id).unwrap()).collect();
            if let Some(last) = built.last() {
                g.run(last.id).unwrap();
            }
            if let Some(b) = with_grad.last() {
                if g.shape(b.id).unwrap() == Shape::new(1, 1) {
                    g.run(b.id).unwrap();
                    g.backward_dyn(b.id, false).unwrap();
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "failed builds: {} capacity and {} shape failures checked",
        capacity_failures.get(),
        shape_failures.get()
    );
    assert!(capacity_failures.get() > 500 && shape_failures.get() > 100);
}
