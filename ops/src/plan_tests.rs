//! The step plan on the standard ops: fusion, memory, and planned == unplanned.

use crate::prelude::*;
use embedgrad_core::{Error, Matrix, NodeId, PlanOptions, StepInfo, Tensor};

type G<const N: usize, const S: usize> = StdGraph<f64, N, S>;

/// A few points of a 2-2-2 problem, deterministic.
fn data<const B: usize>() -> (Matrix<f64, B, 2>, Matrix<f64, B, 2>) {
    let x = Matrix::from_fn(|r, c| ((r * 7 + c * 3) % 11) as f64 / 5.0 - 1.0);
    let c = Matrix::from_fn(|r, c| if (r % 3 == 0) == (c == 0) { 1.0 } else { 0.0 });
    (x, c)
}

/// Feeds [`data`] to a net's inputs and targets.
fn feed<const B: usize, const N: usize, const S: usize>(
    g: &mut G<N, S>,
    x: Tensor<B, 2>,
    c: Tensor<B, 2>,
) {
    let (xd, cd) = data::<B>();
    g.feed(x, &xd).unwrap();
    g.feed(c, &cd).unwrap();
}

/// The tutorial's mlp_xor-shaped net, built op by op, with `act` as the hidden activation.
#[allow(clippy::type_complexity)]
fn tutorial<const B: usize, const N: usize, const S: usize>(
    g: &mut G<N, S>,
    tanh: bool,
) -> (
    Tensor<B, 2>,
    Tensor<B, 2>,
    Tensor<B, 2>,
    [NodeId; 4],
    Tensor<1, 1>,
) {
    let x = g.placeholder::<B, 2>().unwrap();
    let c = g.placeholder::<B, 2>().unwrap();
    let w1 = g.variable(&Matrix::new([[0.3, -0.8], [1.1, 0.4]])).unwrap();
    let b1 = g.variable(&Matrix::new([[0.1, -0.2]])).unwrap();
    let w2 = g
        .variable(&Matrix::new([[-0.5, 0.9], [0.7, -1.3]]))
        .unwrap();
    let b2 = g.variable(&Matrix::new([[0.05, 0.0]])).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let h = g.add(h, b1).unwrap();
    let h = if tanh {
        g.tanh(h).unwrap()
    } else {
        g.sigmoid(h).unwrap()
    };
    let o = g.matmul(h, w2).unwrap();
    let o = g.add(o, b2).unwrap();
    let p = g.softmax(o).unwrap();
    let lp = g.log(p).unwrap();
    let cl = g.multiply(c, lp).unwrap();
    let r = g.reduce_sum_axis1(cl).unwrap();
    let s = g.reduce_sum(r).unwrap();
    let loss = g.negative(s).unwrap();
    (x, c, p, [w1.id(), b1.id(), w2.id(), b2.id()], loss)
}

fn sgd(lr: f64) -> impl FnMut(embedgrad_core::VariableMut<'_, f64>) -> Result<(), Error> {
    move |v| {
        for (w, d) in v.value.iter_mut().zip(v.grad) {
            *w -= lr * d;
        }
        Ok(())
    }
}

fn values<const N: usize, const S: usize>(g: &G<N, S>, vars: &[NodeId]) -> Vec<f64> {
    vars.iter()
        .flat_map(|&v| {
            let v = NodeId::new(g.tag(), v.index() as u16);
            g.value_slice(v).unwrap().to_vec()
        })
        .collect()
}

/// Interpreter steps: forward, backward, then the same update for every variable.
fn interp_step<const N: usize, const S: usize>(
    g: &mut G<N, S>,
    loss: Tensor<1, 1>,
    lr: f64,
) -> f64 {
    let l = g.forward_backward(loss).unwrap();
    g.for_each_variable(|v| {
        if v.reached {
            for (w, d) in v.value.iter_mut().zip(v.grad) {
                *w -= lr * d;
            }
        }
        Ok::<(), Error>(())
    })
    .unwrap();
    l
}

#[test]
fn a_planned_tutorial_step_runs_three_kernels_forward() {
    let mut g: G<32, 4096> = G::new();
    let (x, c, _, _, loss) = tutorial::<8, 32, 4096>(&mut g, false);
    feed(&mut g, x, c);
    let summary = g.plan(loss, PlanOptions::default()).unwrap();
    assert_eq!((summary.steps, summary.dense, summary.losses), (3, 2, 1));
    let mut kinds = Vec::new();
    g.plan_steps(|s| kinds.push(s));
    assert!(matches!(kinds[0], StepInfo::Dense { .. }));
    assert!(matches!(kinds[2], StepInfo::Loss { .. }));
    let before = g.stats();
    g.step(loss, sgd(0.1)).unwrap();
    let after = g.stats();
    // Forward: two dense layers and the loss. Backward: the loss; layer 2's dX, dW, db; layer
    // 1's sigmoid derivative, dW and db (x needs no gradient) — 7 kernels, against 14 forward
    // and 16 backward kernels in the interpreter.
    assert_eq!(after.forward_ops - before.forward_ops, 3);
    assert_eq!(after.backward_ops - before.backward_ops, 7);
    let before = g.stats();
    interp_step(&mut g, loss, 0.1);
    let after = g.stats();
    assert_eq!(after.forward_ops - before.forward_ops, 11);
}

#[test]
fn planned_memory_of_the_tutorial_net_on_100_points() {
    let mut g: G<32, 8192> = G::new();
    let (_, _, _, _, loss) = tutorial::<100, 32, 8192>(&mut g, false);
    let unplanned = g.requirements().scalars;
    assert_eq!(unplanned, 3828);
    let s = g.plan(loss, PlanOptions::default()).unwrap();
    assert_eq!(g.requirements().scalars, s.scalars);
    assert_eq!(g.requirements().unplanned_scalars, 3828);
    // Fixed: x, c (400) and the 12 parameters. Region: the hidden activations (kept for the
    // backward), the logits then the hidden gradient (sharing), p then the logits' gradient,
    // the loss and its seed, and the parameter gradients, each briefly.
    assert!(s.scalars * 10 <= 3828 * 4, "{s:?}");
    let mut bufs = Vec::new();
    g.plan_buffers(|b| bufs.push(b));
    assert_eq!(s.scalars, 412 + 607, "{bufs:#?}");
    // A graph with exactly the planned capacity builds, plans and trains.
    let mut exact: G<17, { 412 + 607 }> = G::new();
    let (x, c, _, _, loss) = tutorial::<100, 17, { 412 + 607 }>(&mut exact, false);
    feed(&mut exact, x, c);
    assert!(matches!(
        exact.forward_backward(loss),
        Err(Error::ScalarCapacity { needed: 3828, .. })
    ));
    exact.plan(loss, PlanOptions::default()).unwrap();
    let l0 = exact.step(loss, sgd(0.01)).unwrap();
    let l1 = exact.step(loss, sgd(0.01)).unwrap();
    assert!(l1 < l0);
}

#[test]
#[cfg_attr(miri, ignore)] // hundreds of training steps: minutes under Miri
fn planned_dense_layers_equal_the_interpreter_bit_for_bit() {
    // A loss the planner does not fuse (squared error), so every planned kernel must give
    // the interpreter's numbers exactly: dense layers with each activation.
    for act in 0..5 {
        let build = |g: &mut G<32, 4096>| {
            let x = g.placeholder::<6, 3>().unwrap();
            let y = g.placeholder::<6, 2>().unwrap();
            let w1 = g
                .variable(&Matrix::<f64, 3, 5>::from_fn(|r, c| {
                    (r as f64 - c as f64) * 0.3 + 0.1
                }))
                .unwrap();
            let b1 = g
                .variable(&Matrix::<f64, 1, 5>::from_fn(|_, c| c as f64 * 0.1 - 0.2))
                .unwrap();
            let w2 = g
                .variable(&Matrix::<f64, 5, 2>::from_fn(|r, c| {
                    ((r * 2 + c) % 3) as f64 * 0.4 - 0.5
                }))
                .unwrap();
            let b2 = g.variable(&Matrix::new([[0.1, -0.1]])).unwrap();
            let h = g.matmul(x, w1).unwrap();
            let h = g.add(h, b1).unwrap();
            let h = match act {
                0 => g.sigmoid(h).unwrap(),
                1 => g.tanh(h).unwrap(),
                2 => g.relu(h).unwrap(),
                3 => g.leaky_relu(h, 0.125).unwrap(),
                _ => h,
            };
            let o = g.matmul(h, w2).unwrap();
            let o = g.add(o, b2).unwrap();
            let e = g.subtract(o, y).unwrap();
            let sq = g.square(e).unwrap();
            let loss = g.reduce_sum(sq).unwrap();
            g.feed(
                x,
                &Matrix::from_fn(|r, c| ((r * 5 + c * 7) % 9) as f64 / 4.0 - 1.0),
            )
            .unwrap();
            g.feed(y, &Matrix::from_fn(|r, c| ((r + c) % 2) as f64))
                .unwrap();
            (loss, [w1.id(), b1.id(), w2.id(), b2.id()])
        };
        let mut a: G<32, 4096> = G::new();
        let mut b: G<32, 4096> = G::new();
        let (la, vars) = build(&mut a);
        let (lb, _) = build(&mut b);
        let summary = b.plan(lb, PlanOptions::default()).unwrap();
        assert_eq!(summary.dense, 2, "activation {act}");
        for step in 0..20 {
            let l1 = interp_step(&mut a, la, 0.01);
            let l2 = b.step(lb, sgd(0.01)).unwrap();
            assert_eq!(l1.to_bits(), l2.to_bits(), "activation {act}, step {step}");
            assert_eq!(
                values(&a, &vars),
                values(&b, &vars),
                "activation {act}, step {step}"
            );
        }
    }
}

#[test]
#[cfg_attr(miri, ignore)] // hundreds of training steps: minutes under Miri
fn planned_tutorial_loss_matches_the_interpreter_to_rounding() {
    for tanh in [false, true] {
        for fuse in [true, false] {
            let mut a: G<32, 4096> = G::new();
            let mut b: G<32, 4096> = G::new();
            let (xa, ca, _, vars, la) = tutorial::<12, 32, 4096>(&mut a, tanh);
            let (xb, cb, _, _, lb) = tutorial::<12, 32, 4096>(&mut b, tanh);
            feed(&mut a, xa, ca);
            feed(&mut b, xb, cb);
            b.plan(
                lb,
                PlanOptions {
                    fuse,
                    ..PlanOptions::default()
                },
            )
            .unwrap();
            for step in 0..200 {
                let l1 = interp_step(&mut a, la, 0.05);
                let l2 = b.step(lb, sgd(0.05)).unwrap();
                let rel = ((l1 - l2) / l1).abs();
                if fuse {
                    assert!(rel < 1e-12, "step {step}: {l1} vs {l2}");
                } else {
                    // Unfused, the plan runs the interpreter's kernels in the same order.
                    assert_eq!(l1.to_bits(), l2.to_bits(), "step {step}");
                }
            }
            for (p, q) in values(&a, &vars).iter().zip(values(&b, &vars)) {
                assert!((p - q).abs() <= 1e-11 * p.abs().max(1.0), "{p} vs {q}");
            }
        }
    }
}

#[test]
fn evaluation_after_planned_steps_reads_the_probabilities() {
    let mut g: G<32, 4096> = G::new();
    let (x, c, p, _, loss) = tutorial::<8, 32, 4096>(&mut g, false);
    feed(&mut g, x, c);
    g.plan(loss, PlanOptions::default()).unwrap();
    g.step(loss, sgd(0.1)).unwrap();
    // After a step p's memory holds the logits' gradient: not reported as p.
    assert_eq!(g.value(p), Err(Error::NotKept(p.id())));
    let planned = g.requirements().scalars;
    g.run_many(&[loss.id(), p.id()]).unwrap(); // the plan's forward pass
    assert_eq!(g.requirements().scalars, planned);
    let pp = g.value(p).unwrap();
    let l = g.value(loss).unwrap().get(0, 0).unwrap();
    // Against the interpreter on a copy of the weights.
    g.unplan();
    let l2 = g.forward_backward(loss).unwrap();
    assert!((l - l2).abs() < 1e-12);
    let pi = g.value(p).unwrap();
    for (a, b) in pp.as_slice().iter().zip(pi.as_slice()) {
        assert!((a - b).abs() < 1e-15);
    }
}

#[test]
fn kept_nodes_stay_readable_after_a_step() {
    let mut g: G<32, 4096> = G::new();
    let (x, c, p, _, loss) = tutorial::<8, 32, 4096>(&mut g, false);
    feed(&mut g, x, c);
    let keep = [p.id()];
    g.plan(
        loss,
        PlanOptions {
            keep: &keep,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    g.step(loss, sgd(0.0)).unwrap();
    let pp = g.value(p).unwrap();
    g.unplan();
    g.forward_backward(loss).unwrap();
    assert_eq!(g.value(p).unwrap(), pp);
}

#[test]
fn frozen_variables_get_no_gradient_and_do_not_change() {
    let mut a: G<32, 4096> = G::new();
    let mut b: G<32, 4096> = G::new();
    let (xa, ca, _, vars, la) = tutorial::<8, 32, 4096>(&mut a, false);
    let (xb, cb, _, _, lb) = tutorial::<8, 32, 4096>(&mut b, false);
    for (g, x, c) in [(&mut a, xa, ca), (&mut b, xb, cb)] {
        feed(g, x, c);
        // Train only the last layer.
        let t = g.tag();
        g.set_trainable(NodeId::new(t, vars[0].index() as u16), false)
            .unwrap();
        g.set_trainable(NodeId::new(t, vars[1].index() as u16), false)
            .unwrap();
    }
    let whole = {
        let mut full: G<32, 4096> = G::new();
        let (_, _, _, _, l) = tutorial::<8, 32, 4096>(&mut full, false);
        full.plan(l, PlanOptions::default()).unwrap().scalars
    };
    let s = b.plan(lb, PlanOptions::default()).unwrap();
    assert!(s.scalars < whole, "{} vs {whole}", s.scalars);
    let first = values(&a, &vars[..2]);
    for _ in 0..10 {
        let l1 = interp_step(&mut a, la, 0.1);
        let l2 = b.step(lb, sgd(0.1)).unwrap();
        assert!(((l1 - l2) / l1).abs() < 1e-12);
    }
    assert_eq!(values(&b, &vars[..2]), first);
    assert_eq!(values(&a, &vars[..2]), first);
    let v0 = NodeId::new(b.tag(), vars[0].index() as u16);
    assert!(!b.is_trainable(v0).unwrap());
    assert_eq!(b.grad_slice(v0), Err(Error::NoGradient(v0)));
}

#[test]
fn accumulating_plans_sum_micro_batch_gradients() {
    let mut a: G<32, 4096> = G::new();
    let mut b: G<32, 4096> = G::new();
    let (xa, ca, _, vars, la) = tutorial::<4, 32, 4096>(&mut a, false);
    let (xb, cb, _, _, lb) = tutorial::<4, 32, 4096>(&mut b, false);
    let (xd, cd) = data::<8>();
    b.plan(
        lb,
        PlanOptions {
            accumulate: true,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    a.zero_grads();
    b.zero_grads();
    for half in 0..2 {
        let xs = &xd.as_slice()[half * 8..half * 8 + 8];
        let cs = &cd.as_slice()[half * 8..half * 8 + 8];
        a.feed_slice(xa.id(), xs).unwrap();
        a.feed_slice(ca.id(), cs).unwrap();
        b.feed_slice(xb.id(), xs).unwrap();
        b.feed_slice(cb.id(), cs).unwrap();
        a.run(la.id()).unwrap();
        a.backward_accumulate(la).unwrap();
        b.step(lb, |_| panic!("an accumulating plan applies no update"))
            .unwrap();
    }
    for &v in &vars {
        let vb = NodeId::new(b.tag(), v.index() as u16);
        for (p, q) in a
            .grad_slice(v)
            .unwrap()
            .iter()
            .zip(b.grad_slice(vb).unwrap())
        {
            assert!((p - q).abs() < 1e-12, "{p} vs {q}");
        }
    }
}

#[test]
fn stale_gradients_of_ops_off_the_new_loss_are_not_reported() {
    let mut g: G<8, 64> = G::new();
    let w = g.variable(&Matrix::new([[1.0, -2.0]])).unwrap();
    let a = g.scale(w, 3.0).unwrap();
    let l1 = g.reduce_sum(a).unwrap();
    let sq = g.square(w).unwrap();
    let l2 = g.reduce_sum(sq).unwrap();
    g.forward_backward(l1).unwrap();
    assert_eq!(g.grad(a).unwrap(), Matrix::new([[1.0, 1.0]]));
    g.forward_backward(l2).unwrap();
    assert_eq!(g.grad(a), Err(Error::NoGradient(a.id())));
    assert_eq!(g.grad(w).unwrap(), Matrix::new([[2.0, -4.0]]));
}

#[test]
fn plans_fail_cleanly_and_steps_need_a_plan() {
    let mut g: G<32, 700> = G::new();
    let (x, c, _, _, loss) = tutorial::<100, 32, 700>(&mut g, false);
    assert_eq!(g.step(loss, sgd(0.1)), Err(Error::NotPlanned(loss.id())));
    let before = g.requirements();
    assert!(matches!(
        g.plan(loss, PlanOptions::default()),
        Err(Error::ScalarCapacity {
            needed: 1019,
            capacity: 700,
            partial: false
        })
    ));
    assert_eq!(g.requirements(), before);
    assert_eq!(g.planned_loss(), None);
    let _ = (x, c);
}

/// The time-series ops under the step plan: a 1-D CNN (conv1d → relu → max_pool1d →
/// depthwise_conv1d → global_avg_pool1d → dense → loss) and a GRU classifier (gru →
/// last_step → dense → loss). The planner runs the new ops as plain steps with their own
/// kernels and fuses the dense layer, and training is bit-for-bit the interpreter's.
#[test]
#[cfg_attr(miri, ignore)] // many training steps: minutes under Miri
fn planned_time_series_nets_equal_the_interpreter_bit_for_bit() {
    use crate::conv1d::Conv1dSpec;
    use crate::depthwise_conv1d::DepthwiseConv1dSpec;
    use crate::gru::GruSpec;
    use crate::max_pool1d::Pool1dSpec;
    const B: usize = 6;
    type Conv = Conv1dSpec<12, 2, 4, 3, 1, 1, true>; // 12 steps, 2 → 4 channels
    type Pool = Pool1dSpec<12, 4, 2>; // → 6 steps
    type Dw = DepthwiseConv1dSpec<6, 4, 3, 1, 2>; // dilation 2, valid → 2 steps
    type Rnn = GruSpec<12, 2, 5>;

    let data = || {
        let x = Matrix::<f64, B, 24>::from_fn(|r, c| {
            let (t, ch) = (c / 2, c % 2);
            ((r as f64 + 1.0) * (t as f64 * 0.7 + ch as f64)).sin()
        });
        let labels = Matrix::<f64, B, 1>::from_fn(|r, _| (r % 3) as f64);
        (x, labels)
    };
    let cnn = |g: &mut G<32, 4096>| {
        let (xd, ld) = data();
        let x = g.placeholder::<B, { Conv::IN_COLS }>().unwrap();
        let l = g.placeholder::<B, 1>().unwrap();
        let w1 = g
            .variable(&Matrix::<f64, { Conv::WEIGHT_ROWS }, 4>::from_fn(|r, c| {
                ((r * 4 + c) % 7) as f64 * 0.2 - 0.6
            }))
            .unwrap();
        let b1 = g.variable(&Matrix::new([[0.1, -0.1, 0.05, 0.0]])).unwrap();
        let wd = g
            .variable(&Matrix::<f64, 3, 4>::from_fn(|r, c| {
                (r as f64 - c as f64) * 0.3 + 0.2
            }))
            .unwrap();
        let bd = g.variable(&Matrix::new([[0.0, 0.1, -0.1, 0.2]])).unwrap();
        let w2 = g
            .variable(&Matrix::<f64, 4, 3>::from_fn(|r, c| {
                ((r + 2 * c) % 5) as f64 * 0.3 - 0.5
            }))
            .unwrap();
        let b2 = g.variable(&Matrix::new([[0.0, 0.1, -0.1]])).unwrap();
        let h: Tensor<B, { Conv::OUT_COLS }> = g.conv1d(x, w1, b1, Conv::new()).unwrap();
        let h = g.relu(h).unwrap();
        let h: Tensor<B, { Pool::OUT_COLS }> = g.max_pool1d(h, Pool::new()).unwrap();
        let h: Tensor<B, { Dw::OUT_COLS }> = g.depthwise_conv1d(h, wd, bd, Dw::new()).unwrap();
        let h: Tensor<B, 4> = g.global_avg_pool1d(h).unwrap();
        let o = g.matmul(h, w2).unwrap();
        let o = g.add(o, b2).unwrap();
        let loss = g.sparse_softmax_cross_entropy(o, l).unwrap();
        g.feed(x, &xd).unwrap();
        g.feed(l, &ld).unwrap();
        (
            loss,
            vec![w1.id(), b1.id(), wd.id(), bd.id(), w2.id(), b2.id()],
        )
    };
    let rnn = |g: &mut G<32, 4096>| {
        let (xd, ld) = data();
        let x = g.placeholder::<B, { Rnn::IN_COLS }>().unwrap();
        let l = g.placeholder::<B, 1>().unwrap();
        let w = g
            .variable(
                &Matrix::<f64, { Rnn::WEIGHT_ROWS }, { Rnn::GATES }>::from_fn(|r, c| {
                    ((r * 5 + c * 3) % 11) as f64 * 0.1 - 0.5
                }),
            )
            .unwrap();
        let b = g
            .variable(&Matrix::<f64, 2, { Rnn::GATES }>::from_fn(|r, c| {
                (r as f64 - 0.5) * 0.1 + c as f64 * 0.01
            }))
            .unwrap();
        let w2 = g
            .variable(&Matrix::<f64, 5, 3>::from_fn(|r, c| {
                ((r + 2 * c) % 5) as f64 * 0.3 - 0.5
            }))
            .unwrap();
        let b2 = g.variable(&Matrix::new([[0.0, 0.1, -0.1]])).unwrap();
        let hs: Tensor<B, { Rnn::OUT_COLS }> = g.gru(x, w, b, Rnn::new()).unwrap();
        let h: Tensor<B, 5> = g.last_step(hs).unwrap();
        let o = g.matmul(h, w2).unwrap();
        let o = g.add(o, b2).unwrap();
        let loss = g.sparse_softmax_cross_entropy(o, l).unwrap();
        g.feed(x, &xd).unwrap();
        g.feed(l, &ld).unwrap();
        (loss, vec![w.id(), b.id(), w2.id(), b2.id()])
    };
    type Build<'a> = &'a dyn Fn(&mut G<32, 4096>) -> (Tensor<1, 1>, Vec<NodeId>);
    let nets: [Build<'_>; 2] = [&cnn, &rnn];
    for (n, build) in nets.iter().enumerate() {
        let mut a: G<32, 4096> = G::new();
        let mut b: G<32, 4096> = G::new();
        let (la, vars) = build(&mut a);
        let (lb, _) = build(&mut b);
        let summary = b.plan(lb, PlanOptions::default()).unwrap();
        assert_eq!(summary.dense, 1, "net {n}: {summary:?}");
        assert!(
            summary.scalars < summary.unplanned_scalars,
            "net {n}: {summary:?}"
        );
        let first = interp_step(&mut a, la, 0.0);
        let mut last = first;
        for step in 0..30 {
            let l1 = interp_step(&mut a, la, 0.1);
            let l2 = b.step(lb, sgd(0.1)).unwrap();
            assert_eq!(l1.to_bits(), l2.to_bits(), "net {n}, step {step}");
            assert_eq!(values(&a, &vars), values(&b, &vars), "net {n}, step {step}");
            last = l1;
        }
        assert!(last < first, "net {n} does not learn: {first} → {last}");
    }
}
