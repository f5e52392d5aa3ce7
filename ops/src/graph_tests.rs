//! Graph-level tests: the tutorial's traps, bad input, and whole-graph gradient checks.

use crate::prelude::*;
use embedgrad_core::{Error, Matrix, NodeId, Origin, Shape, Tensor};

/// Central-difference check of `∂loss/∂var` through the whole graph (f64).
fn graph_grad_check<const N: usize, const S: usize, const R: usize, const C: usize>(
    g: &mut StdGraph<f64, N, S>,
    loss: Tensor<1, 1>,
    var: Tensor<R, C>,
) -> f64 {
    g.forward_backward(loss).unwrap();
    let analytic = g.grad(var).unwrap();
    let base = g.value(var).unwrap();
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for k in 0..R * C {
        let mut p = base;
        p.as_mut_slice()[k] += h;
        g.assign(var, &p).unwrap();
        let fp = g.eval(loss).unwrap().data[0][0];
        let mut m = base;
        m.as_mut_slice()[k] -= h;
        g.assign(var, &m).unwrap();
        let fm = g.eval(loss).unwrap().data[0][0];
        let num = (fp - fm) / (2.0 * h);
        let a = analytic.as_slice()[k];
        let scale = a.abs().max(num.abs());
        let err = if scale < 1e-7 {
            (a - num).abs()
        } else {
            (a - num).abs() / scale
        };
        worst = worst.max(err);
    }
    g.assign(var, &base).unwrap();
    assert!(worst <= 1e-6, "worst relative error {worst:e}");
    worst
}

#[test]
fn unequal_paths_w_plus_neg_neg_w() {
    // reduce_sum(W + -(-W)): breadth-first backprop visits W before its second path is done.
    let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
    let w = g.variable(&Matrix::new([[1.0, 2.0], [3.0, 4.0]])).unwrap();
    let n1 = g.negative(w).unwrap();
    let n2 = g.negative(n1).unwrap();
    let s = g.add(w, n2).unwrap();
    let l = g.reduce_sum(s).unwrap();
    assert_eq!(g.forward_backward(l).unwrap(), 20.0);
    assert_eq!(g.grad(w).unwrap(), Matrix::splat(2.0));
}

#[test]
fn consumer_not_leading_to_the_loss_is_ignored() {
    let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
    let w = g.variable(&Matrix::new([[1.0, -2.0]])).unwrap();
    let l = g.reduce_sum(w).unwrap();
    let metric = g.sigmoid(w).unwrap(); // a consumer of W after the loss, not on its path
    let metric2 = g.reduce_sum(metric).unwrap(); // a second "loss"
    g.forward_backward(l).unwrap();
    assert_eq!(g.grad(w).unwrap(), Matrix::new([[1.0, 1.0]]));
    // The metric was never computed by the loss's run, and still can be.
    assert_eq!(g.value(metric).unwrap(), Matrix::zeros());
    assert!(g.eval(metric2).unwrap().data[0][0] > 0.0);
    // Backprop from the second loss gives its own gradient, overwriting the first.
    g.forward_backward(metric2).unwrap();
    let s = |x: f64| 1.0 / (1.0 + (-x).exp());
    let expect = [s(1.0) * (1.0 - s(1.0)), s(-2.0) * (1.0 - s(-2.0))];
    for (a, e) in g.grad(w).unwrap().as_slice().iter().zip(expect) {
        assert!((a - e).abs() < 1e-15);
    }
}

#[test]
fn same_input_twice_adds_both_contributions() {
    let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
    let a = g.variable(&Matrix::new([[1.0, 2.0], [3.0, 4.0]])).unwrap();
    let aa = g.matmul(a, a).unwrap();
    let l = g.reduce_sum(aa).unwrap();
    // d/dA sum(A·A) = 1·Aᵀ + Aᵀ·1
    g.forward_backward(l).unwrap();
    let ones = [[1.0, 1.0], [1.0, 1.0]];
    let at = [[1.0, 3.0], [2.0, 4.0]];
    let mut expect = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                expect[i][j] += ones[i][k] * at[k][j] + at[i][k] * ones[k][j];
            }
        }
    }
    assert_eq!(g.grad(a).unwrap(), Matrix::new(expect));
    graph_grad_check(&mut g, l, a);

    let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
    let x = g.variable(&Matrix::new([[1.5, -2.0, 3.0]])).unwrap();
    let xx = g.multiply(x, x).unwrap();
    let l = g.reduce_sum(xx).unwrap();
    g.forward_backward(l).unwrap();
    assert_eq!(g.grad(x).unwrap(), Matrix::new([[3.0, -4.0, 6.0]]));
}

#[test]
fn shared_subgraph_is_evaluated_once() {
    // x_{k+1} = x_k + x_k, 40 levels: the tutorial's recursive run does 2^40 evaluations.
    let mut g: StdGraph<f64, 64, 256> = StdGraph::new();
    let x0 = g.variable(&Matrix::new([[1.0]])).unwrap();
    let mut x = x0;
    for _ in 0..40 {
        x = g.add(x, x).unwrap();
    }
    let unrelated = g.negative(x0).unwrap();
    let before = g.stats();
    assert_eq!(g.forward_backward(x).unwrap(), 2f64.powi(40));
    let after = g.stats();
    assert_eq!(
        after.forward_ops - before.forward_ops,
        40,
        "each op once, nothing else"
    );
    assert_eq!(
        after.backward_ops - before.backward_ops,
        80,
        "two inputs per add"
    );
    assert_eq!(g.grad(x0).unwrap().data[0][0], 2f64.powi(40));
    assert_eq!(
        g.value(unrelated).unwrap().data[0][0],
        0.0,
        "not needed, not computed"
    );
}

#[test]
fn softmax_of_huge_logits_is_finite_in_f32() {
    let mut g: StdGraph<f32, 8, 64> = StdGraph::new();
    let x = g
        .variable(&Matrix::new([[1000.0f32, 0.0], [-1000.0, 88.8]]))
        .unwrap();
    let p = g.softmax(x).unwrap();
    let l = g.reduce_sum(p).unwrap();
    g.forward_backward(l).unwrap();
    let v = g.value(p).unwrap();
    assert_eq!(v, Matrix::new([[1.0, 0.0], [0.0, 1.0]]));
    assert!(g.grad(x).unwrap().as_slice().iter().all(|v| v.is_finite()));
}

#[test]
fn tutorial_sanity_values() {
    // Affine: x A + b.
    let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
    let a = g.variable(&Matrix::new([[1.0, 0.0], [0.0, -1.0]])).unwrap();
    let b = g.variable(&Matrix::new([[1.0, 1.0]])).unwrap();
    let x = g.placeholder::<1, 2>().unwrap();
    let xa = g.matmul(x, a).unwrap();
    let y = g.add(xa, b).unwrap();
    g.feed(x, &Matrix::new([[1.0, 2.0]])).unwrap();
    assert_eq!(g.eval(y).unwrap(), Matrix::new([[2.0, -1.0]]));

    // Sigmoid perceptron: w = [1, 1], b = 0, x = (3, 2).
    let mut g: StdGraph<f64, 8, 64> = StdGraph::new();
    let w = g.variable(&Matrix::new([[1.0], [1.0]])).unwrap();
    let b = g.variable(&Matrix::new([[0.0]])).unwrap();
    let x = g.placeholder::<1, 2>().unwrap();
    let xw = g.matmul(x, w).unwrap();
    let z = g.add(xw, b).unwrap();
    let p = g.sigmoid(z).unwrap();
    g.feed(x, &Matrix::new([[3.0, 2.0]])).unwrap();
    let v = g.eval(p).unwrap().data[0][0];
    assert!((v - 0.993_307_149_075_715_3).abs() < 1e-15, "{v}");
}

/// The tutorial's 2-2-2 network with its cross-entropy loss, on `B` points.
#[allow(clippy::type_complexity)]
fn mlp<const B: usize, const N: usize, const S: usize>(
    g: &mut StdGraph<f64, N, S>,
) -> Result<
    (
        Tensor<B, 2>,
        Tensor<B, 2>,
        [Tensor<2, 2>; 2],
        [Tensor<1, 2>; 2],
        Tensor<1, 1>,
    ),
    Error,
> {
    let x = g.placeholder::<B, 2>()?;
    let c = g.placeholder::<B, 2>()?;
    let w1 = g.variable(&Matrix::new([[0.3, -0.8], [1.1, 0.4]]))?;
    let b1 = g.variable(&Matrix::new([[0.1, -0.2]]))?;
    let w2 = g.variable(&Matrix::new([[-0.5, 0.9], [0.7, -1.3]]))?;
    let b2 = g.variable(&Matrix::new([[0.05, 0.0]]))?;
    let h = g.matmul(x, w1)?;
    let h = g.add(h, b1)?;
    let h = g.sigmoid(h)?;
    let o = g.matmul(h, w2)?;
    let o = g.add(o, b2)?;
    let p = g.softmax(o)?;
    let lp = g.log(p)?;
    let cl = g.multiply(c, lp)?;
    let r = g.reduce_sum_axis1(cl)?;
    let s = g.reduce_sum(r)?;
    let loss = g.negative(s)?;
    Ok((x, c, [w1, w2], [b1, b2], loss))
}

#[test]
fn whole_network_gradient_check() {
    let mut g: StdGraph<f64, 32, 512> = StdGraph::new();
    let (x, c, ws, bs, loss) = mlp::<4, 32, 512>(&mut g).unwrap();
    g.feed(
        x,
        &Matrix::new([[0.1, 0.9], [1.2, -0.3], [-0.7, 0.2], [0.5, 0.5]]),
    )
    .unwrap();
    g.feed(
        c,
        &Matrix::new([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]]),
    )
    .unwrap();
    for w in ws {
        graph_grad_check(&mut g, loss, w);
    }
    for b in bs {
        graph_grad_check(&mut g, loss, b);
    }
}

#[test]
fn accumulated_micro_batches_equal_the_full_batch() {
    let xs = [[0.1, 0.9], [1.2, -0.3], [-0.7, 0.2], [0.5, 0.5]];
    let cs = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]];
    let mut full: StdGraph<f64, 32, 512> = StdGraph::new();
    let (x, c, ws, _, loss) = mlp::<4, 32, 512>(&mut full).unwrap();
    full.feed(x, &Matrix::new(xs)).unwrap();
    full.feed(c, &Matrix::new(cs)).unwrap();
    let lf = full.forward_backward(loss).unwrap();
    let gf = full.grad(ws[0]).unwrap();

    let mut micro: StdGraph<f64, 32, 512> = StdGraph::new();
    let (x1, c1, ws1, _, loss1) = mlp::<1, 32, 512>(&mut micro).unwrap();
    micro.zero_grads();
    let mut lm = 0.0;
    for (xr, cr) in xs.iter().zip(&cs) {
        micro.feed(x1, &Matrix::new([*xr])).unwrap();
        micro.feed(c1, &Matrix::new([*cr])).unwrap();
        lm += micro.eval(loss1).unwrap().data[0][0];
        micro.backward_accumulate(loss1).unwrap();
    }
    assert!((lf - lm).abs() < 1e-12);
    for (a, b) in gf
        .as_slice()
        .iter()
        .zip(micro.grad(ws1[0]).unwrap().as_slice())
    {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

/// A missing feed is reported before anything is laid out, by a run and by a backward pass
/// alike: the graph is exactly as it was (no op value becomes readable, no memory is taken).
#[test]
fn a_missing_feed_changes_nothing() {
    let mut g: StdGraph<f64, 6, 24> = StdGraph::new();
    let x = g.placeholder::<1, 2>().unwrap();
    let w = g.variable(&Matrix::new([[1.0], [2.0]])).unwrap();
    let y = g.matmul(x, w).unwrap();
    let loss = g.reduce_sum(y).unwrap();
    let used = g.scalars_used();
    assert_eq!(g.run(y.id()), Err(Error::MissingFeed(x.id())));
    assert_eq!(g.backward(loss), Err(Error::MissingFeed(x.id())));
    assert_eq!(g.scalars_used(), used);
    assert_eq!(g.value_slice(y.id()), Err(Error::NotKept(y.id())));
}

#[test]
fn bad_input_returns_errors_and_leaves_the_graph_usable() {
    let mut g: StdGraph<f64, 6, 24> = StdGraph::new();
    let x = g.placeholder::<1, 2>().unwrap();
    let w = g.variable(&Matrix::new([[1.0], [2.0]])).unwrap();
    let y = g.matmul(x, w).unwrap();
    let before = g.requirements();

    // Missing feed: reported before anything runs.
    assert_eq!(g.run(y.id()), Err(Error::MissingFeed(x.id())));

    // Scalar capacity: building checks the fixed values (x and w take 4 of 24 scalars), so a
    // 5×5 variable's 25 values do not fit.
    let big = g.variable(&Matrix::<f64, 5, 5>::zeros());
    assert!(
        matches!(big, Err(Error::ScalarCapacity { capacity: 24, .. })),
        "{big:?}"
    );
    assert_eq!(g.requirements(), before);

    // Non-finite data is refused and nothing is written.
    assert_eq!(
        g.feed(x, &Matrix::new([[f64::NAN, 1.0]])),
        Err(Error::non_finite(Origin::Feed, x.id()))
    );
    assert_eq!(
        g.assign(w, &Matrix::new([[f64::INFINITY], [0.0]])),
        Err(Error::non_finite(Origin::Assign, w.id()))
    );
    assert_eq!(g.value(w).unwrap(), Matrix::new([[1.0], [2.0]]));

    // Gradient of a non-scalar.
    g.feed(x, &Matrix::new([[3.0, 4.0]])).unwrap();
    g.run(y.id()).unwrap();
    let wide = g.add(x, x).unwrap();
    assert_eq!(
        g.backward_dyn(wide.id(), false),
        Err(Error::NotScalar(Shape::new(1, 2)))
    );

    // Node capacity.
    let s = g.reduce_sum(y).unwrap();
    let _sixth = g.negative(s).unwrap();
    let full = g.negative(s);
    assert_eq!(
        full,
        Err(Error::NodeCapacity {
            capacity: 6,
            needed: 7
        })
    );

    // A node from another graph, and a made-up one.
    let mut other: StdGraph<f64, 6, 24> = StdGraph::new();
    let foreign = other.placeholder::<1, 2>().unwrap();
    assert_eq!(g.run(foreign.id()), Err(Error::ForeignNode(foreign.id())));
    assert!(matches!(g.add(x, foreign), Err(Error::ForeignNode(_))));
    let bogus = NodeId::new(g.tag(), 99);
    assert_eq!(g.value_slice(bogus), Err(Error::UnknownNode(bogus)));
    assert_eq!(
        g.feed_slice(w.id(), &[1.0, 2.0]),
        Err(Error::WrongNodeKind(w.id()))
    );
    assert_eq!(
        g.feed_slice(x.id(), &[1.0]),
        Err(Error::LengthMismatch {
            expected: 2,
            found: 1
        })
    );
    assert_eq!(g.grad_slice(x.id()), Err(Error::NoGradient(x.id())));
    assert!(g.tensor::<2, 2>(x.id()).is_err());

    // Still usable: evaluate and backprop.
    assert_eq!(g.forward_backward(s).unwrap(), 11.0);
    assert_eq!(g.grad(w).unwrap(), Matrix::new([[3.0], [4.0]]));
}

#[test]
fn exact_capacity_is_enough_and_one_less_is_not() {
    let mut probe: StdGraph<f64, 64, 4096> = StdGraph::new();
    mlp::<100, 64, 4096>(&mut probe).unwrap();
    let req = probe.requirements();
    assert_eq!(req.nodes, 17);
    // By hand: x and c 200 each; W1, W2 4 + 4 (gradient); b1, b2 2 + 2; eight 100×2 ops with
    // gradients 8·400; the row sums 100 + 100; the total and the loss 1 + 1 each.
    assert_eq!(req.scalars, 400 + 24 + 3200 + 200 + 4);
    assert_eq!(req.unplanned_scalars, req.scalars);
    let mut exact: StdGraph<f64, 17, 3828> = StdGraph::new();
    let (x, c, _, _, loss) = mlp::<100, 17, 3828>(&mut exact).unwrap();
    exact.feed(x, &Matrix::zeros()).unwrap();
    exact.feed(c, &Matrix::zeros()).unwrap();
    exact.forward_backward(loss).unwrap();
    // Building checks only the fixed values (412 scalars); the first run lays out the op
    // buffers and reports the whole graph's need.
    let mut short: StdGraph<f64, 17, 3827> = StdGraph::new();
    let (x, c, _, _, loss) = mlp::<100, 17, 3827>(&mut short).unwrap();
    assert_eq!(short.fixed_scalars(), 412);
    short.feed(x, &Matrix::zeros()).unwrap();
    short.feed(c, &Matrix::zeros()).unwrap();
    assert_eq!(
        short.forward_backward(loss),
        Err(Error::ScalarCapacity {
            needed: 3828,
            capacity: 3827,
            partial: false
        })
    );
    let mut tiny: StdGraph<f64, 17, 411> = StdGraph::new();
    assert!(matches!(
        mlp::<100, 17, 411>(&mut tiny),
        Err(Error::ScalarCapacity {
            needed: 412,
            capacity: 411,
            partial: true
        })
    ));
    let mut few_nodes: StdGraph<f64, 16, 3828> = StdGraph::new();
    assert!(matches!(
        mlp::<100, 16, 3828>(&mut few_nodes),
        Err(Error::NodeCapacity {
            capacity: 16,
            needed: 17
        })
    ));
    assert_eq!(
        core::mem::size_of::<StdGraph<f64, 17, 3828>>(),
        StdGraph::<f64, 17, 3828>::bytes_for(17, 3828)
    );
}

/// The 2-2-2 net of [`mlp`] ending in logits, with one-hot targets `c` and labels `l`.
#[allow(clippy::type_complexity)]
fn mlp_logits<const B: usize, const N: usize, const S: usize>(
    g: &mut StdGraph<f64, N, S>,
) -> Result<
    (
        Tensor<B, 2>,
        [Tensor<2, 2>; 2],
        [Tensor<1, 2>; 2],
        Tensor<B, 2>,
    ),
    Error,
> {
    let x = g.placeholder::<B, 2>()?;
    let w1 = g.variable(&Matrix::new([[0.3, -0.8], [1.1, 0.4]]))?;
    let b1 = g.variable(&Matrix::new([[0.1, -0.2]]))?;
    let w2 = g.variable(&Matrix::new([[-0.5, 0.9], [0.7, -1.3]]))?;
    let b2 = g.variable(&Matrix::new([[0.05, 0.0]]))?;
    let h = g.matmul(x, w1)?;
    let h = g.add(h, b1)?;
    let h = g.sigmoid(h)?;
    let o = g.matmul(h, w2)?;
    let o = g.add(o, b2)?;
    Ok((x, [w1, w2], [b1, b2], o))
}

const XS4: [[f64; 2]; 4] = [[0.1, 0.9], [1.2, -0.3], [-0.7, 0.2], [0.5, 0.5]];
const CS4: [[f64; 2]; 4] = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]];

#[test]
fn fused_softmax_cross_entropy_equals_the_tutorials_loss() {
    // Unfused: −Σ c ⊙ log(softmax(o)), the tutorial's loss.
    let mut g1: StdGraph<f64, 32, 512> = StdGraph::new();
    let (x1, c1, ws1, bs1, loss1) = mlp::<4, 32, 512>(&mut g1).unwrap();
    g1.feed(x1, &Matrix::new(XS4)).unwrap();
    g1.feed(c1, &Matrix::new(CS4)).unwrap();
    let l1 = g1.forward_backward(loss1).unwrap();

    // Fused one-hot form and fused label form on the same net.
    let mut g2: StdGraph<f64, 32, 512> = StdGraph::new();
    let (x2, ws2, bs2, o2) = mlp_logits::<4, 32, 512>(&mut g2).unwrap();
    let c2 = g2.placeholder::<4, 2>().unwrap();
    let loss2 = g2.softmax_cross_entropy(o2, c2).unwrap();
    let lab = g2.placeholder::<4, 1>().unwrap();
    let loss3 = g2.sparse_softmax_cross_entropy(o2, lab).unwrap();
    g2.feed(x2, &Matrix::new(XS4)).unwrap();
    g2.feed(c2, &Matrix::new(CS4)).unwrap();
    g2.feed(lab, &Matrix::new([[0.0], [1.0], [1.0], [0.0]]))
        .unwrap();

    for loss in [loss2, loss3] {
        let l2 = g2.forward_backward(loss).unwrap();
        assert!((l1 - l2).abs() <= 1e-12 * l1.abs(), "{l1} vs {l2}");
        for (a, b) in ws1.iter().zip(&ws2) {
            let (ga, gb) = (g1.grad(*a).unwrap(), g2.grad(*b).unwrap());
            for (u, v) in ga.as_slice().iter().zip(gb.as_slice()) {
                assert!((u - v).abs() <= 1e-12, "{u} vs {v}");
            }
        }
        for (a, b) in bs1.iter().zip(&bs2) {
            let (ga, gb) = (g1.grad(*a).unwrap(), g2.grad(*b).unwrap());
            for (u, v) in ga.as_slice().iter().zip(gb.as_slice()) {
                assert!((u - v).abs() <= 1e-12, "{u} vs {v}");
            }
        }
        for w in ws2 {
            graph_grad_check(&mut g2, loss, w);
        }
    }
}

#[test]
fn loss_ops_with_targets_that_have_gradients() {
    // Soft targets produced from a variable: every loss adds the exact target gradient.
    let mut g: StdGraph<f64, 32, 512> = StdGraph::new();
    let logits = g
        .variable(&Matrix::new([[0.3, -1.2, 0.8], [2.0, 0.1, -0.4]]))
        .unwrap();
    let t = g
        .variable(&Matrix::new([[0.5, 0.2, -0.1], [-1.0, 0.3, 0.9]]))
        .unwrap();
    let soft = g.softmax(t).unwrap();
    let sig = g.sigmoid(t).unwrap();
    let labels = g.tanh(t).unwrap();
    let lab_col = g.reduce_sum_axis1(labels).unwrap();
    let ce = g.softmax_cross_entropy(logits, soft).unwrap();
    let bce = g.sigmoid_binary_cross_entropy(logits, sig).unwrap();
    let mse = g.mse(logits, t).unwrap();
    let sparse = g.sparse_softmax_cross_entropy(logits, lab_col).unwrap();
    for loss in [ce, bce, mse] {
        graph_grad_check(&mut g, loss, logits);
        graph_grad_check(&mut g, loss, t);
    }
    // Labels computed from a variable get a zero gradient (tanh sums are not integers here, so
    // every row is ignored and the loss is 0).
    assert_eq!(g.forward_backward(sparse).unwrap(), 0.0);
    assert_eq!(g.grad(t).unwrap(), Matrix::zeros());
}

#[test]
fn new_ops_in_a_network_gradient_check() {
    // A 2-3-2 net with every new element-wise op on the way: relu, leaky_relu, tanh, exp,
    // square, scale, subtract (row broadcast), mean, mse.
    let mut g: StdGraph<f64, 48, 1024> = StdGraph::new();
    let x = g.placeholder::<4, 2>().unwrap();
    let t = g.placeholder::<4, 2>().unwrap();
    let w1 = g
        .variable(&Matrix::new([[0.3, -0.8, 0.5], [1.1, 0.4, -0.6]]))
        .unwrap();
    let b1 = g.variable(&Matrix::new([[0.1, -0.2, 0.3]])).unwrap();
    let w2 = g
        .variable(&Matrix::new([[-0.5, 0.9], [0.7, -1.3], [0.2, 0.4]]))
        .unwrap();
    let mu = g.variable(&Matrix::new([[0.25, -0.5]])).unwrap();
    let h = g.matmul(x, w1).unwrap();
    let h = g.add(h, b1).unwrap();
    let a = g.relu(h).unwrap();
    let b = g.leaky_relu(h, 0.1).unwrap();
    let c = g.tanh(h).unwrap();
    let ab = g.add(a, b).unwrap();
    let h = g.multiply(ab, c).unwrap();
    let o = g.matmul(h, w2).unwrap();
    let o = g.subtract(o, mu).unwrap();
    let e = g.exp(o).unwrap();
    let e = g.scale(e, 0.5).unwrap();
    let sq = g.square(o).unwrap();
    let m = g.mean(sq).unwrap();
    let l1 = g.mse(e, t).unwrap();
    let loss = g.add(l1, m).unwrap();
    g.feed(x, &Matrix::new(XS4)).unwrap();
    g.feed(t, &Matrix::new(CS4)).unwrap();
    graph_grad_check(&mut g, loss, w1);
    graph_grad_check(&mut g, loss, w2);
    graph_grad_check(&mut g, loss, b1);
    graph_grad_check(&mut g, loss, mu);
}

#[test]
fn fused_losses_train_in_f32_where_the_tutorials_overflows() {
    // Logits of ±1e30 in f32: the tutorial's log(softmax) takes log(0) = −∞, and 0·(−∞) makes
    // its loss NaN (with micromath, log(0) ≈ −88 makes it finite but far too small); the fused
    // forms give a finite loss and gradient, so a training step can be taken.
    let mut g: StdGraph<f32, 16, 64> = StdGraph::new();
    let z = g
        .variable(&Matrix::new([[1e30f32, -1e30], [-1e30, 1e30]]))
        .unwrap();
    let c = g
        .constant(&Matrix::new([[0.0f32, 1.0], [0.0, 1.0]]))
        .unwrap();
    let lab = g.constant(&Matrix::new([[1.0f32], [1.0]])).unwrap();
    let fused = g.softmax_cross_entropy(z, c).unwrap();
    let sparse = g.sparse_softmax_cross_entropy(z, lab).unwrap();
    let p = g.softmax(z).unwrap();
    let lp = g.log(p).unwrap();
    let cl = g.multiply(c, lp).unwrap();
    let s = g.reduce_sum(cl).unwrap();
    let unfused = g.negative(s).unwrap();
    let u = g.eval(unfused).unwrap().data[0][0];
    assert!(!u.is_finite() || u < 1e3, "{u}");
    for loss in [fused, sparse] {
        assert_eq!(g.forward_backward(loss).unwrap(), 2e30);
        assert_eq!(g.grad(z).unwrap(), Matrix::new([[1.0, -1.0], [0.0, 0.0]]));
    }
}
