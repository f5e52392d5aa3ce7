//! Drives `embedgrad-ops`: every typed builder, the same ops pushed untyped on shapes the
//! optimizer cannot see, every op's `forward`/`backward` called directly on arbitrary
//! (mismatched) views, and the public kernels.

use core::hint::black_box;
use embedgrad_core::{Error, MatMut, MatRef, Matrix, NodeId, Op, Shape};
use embedgrad_ops::leaky_relu::LeakyRelu;
use embedgrad_ops::matmul::{matmul_grad_a, matmul_grad_b, matmul_kernel, MatMul};
use embedgrad_ops::mean::Mean;
use embedgrad_ops::prelude::*;
use embedgrad_ops::reduce_sum::{Axis, ReduceSum};
use embedgrad_ops::scale::Scale;
use embedgrad_ops::softmax::softmax_kernel;
use embedgrad_ops::softmax_cross_entropy::{log_sum_exp, SoftmaxCrossEntropy};
use embedgrad_ops::sparse_softmax_cross_entropy::{class_index, SparseSoftmaxCrossEntropy};
use embedgrad_ops::{
    add::Add, exp::Exp, log::Log, mse::Mse, multiply::Multiply, negative::Negative, relu::Relu,
    sigmoid::Sigmoid, sigmoid_binary_cross_entropy::SigmoidBinaryCrossEntropy, softmax::Softmax,
    square::Square, subtract::Subtract, tanh::Tanh,
};
use embedgrad_ops::{
    avg_pool1d::AvgPool1d,
    conv1d::{Conv1d, Padding},
    depthwise_conv1d::DepthwiseConv1d,
    global_avg_pool1d::GlobalAvgPool1d,
    gru::Gru,
    max_pool1d::MaxPool1d,
    reshape::Reshape,
    slice_cols::SliceCols,
};

/// The graph the ops are built in.
pub type OpsGraph = StdGraph<f32, 96, 2048>;

/// Every op of `StdOp`, with its parameters hidden from the optimizer (an op whose
/// parameters are refused falls back to `Negative`).
fn all_ops() -> [StdOp; 34] {
    let p = |n: usize| black_box(n);
    let or = |o: Result<StdOp, Error>| o.unwrap_or(Negative.into());
    [
        Negative.into(),
        Log.into(),
        Sigmoid.into(),
        Multiply.into(),
        MatMul.into(),
        Add.into(),
        ReduceSum { axis: Axis::All }.into(),
        ReduceSum { axis: Axis::Rows }.into(),
        ReduceSum { axis: Axis::Cols }.into(),
        Softmax.into(),
        Subtract.into(),
        Exp.into(),
        Square.into(),
        Scale::new(black_box(0.5)).into(),
        Mean { axis: Axis::All }.into(),
        Mean { axis: Axis::Rows }.into(),
        Mean { axis: Axis::Cols }.into(),
        Relu.into(),
        LeakyRelu::new(black_box(0.1)).into(),
        Tanh.into(),
        SoftmaxCrossEntropy.into(),
        SparseSoftmaxCrossEntropy.into(),
        SigmoidBinaryCrossEntropy.into(),
        Mse.into(),
        or(Conv1d::new(p(1), p(1), p(1), Padding::Valid).map(Into::into)),
        or(Conv1d::new(p(2), p(2), p(1), Padding::Same).map(Into::into)),
        or(DepthwiseConv1d::new(p(1), p(2), Padding::Same).map(Into::into)),
        or(DepthwiseConv1d::new(p(1), p(1), Padding::Valid).map(Into::into)),
        or(MaxPool1d::new(p(1), p(2), p(1)).map(Into::into)),
        or(AvgPool1d::new(p(2), p(1), p(1)).map(Into::into)),
        or(GlobalAvgPool1d::new(p(1)).map(Into::into)),
        or(Reshape::new(p(2), p(3)).map(Into::into)),
        or(SliceCols::new(p(0), p(1)).map(Into::into)),
        Gru.into(),
    ]
}

/// Every typed builder in one graph, trained a few steps; returns whether the results are sane.
fn typed(g: &mut OpsGraph) -> Result<bool, Error> {
    let x = g.placeholder::<3, 2>()?;
    let t = g.placeholder::<3, 4>()?;
    let labels = g.placeholder::<3, 1>()?;
    let w = g.variable(&Matrix::<f32, 2, 4>::from_fn(|r, c| {
        black_box((r as f32 - c as f32) * 0.25)
    }))?;
    let b = g.variable(&Matrix::new([[black_box(0.1f32), 0.2, -0.1, 0.0]]))?;
    let col = g.variable(&Matrix::new([[black_box(0.05f32)], [0.0], [-0.05]]))?;
    let s = g.variable(&Matrix::new([[black_box(0.01f32)]]))?;

    let xw = g.matmul(x, w)?;
    let h = g.add(xw, b)?; // row vector
    let h = g.add(h, col)?; // column vector
    let h = g.add(h, s)?; // scalar
    let h = g.subtract(h, b)?;
    let h = g.subtract(h, s)?;
    let sg = g.sigmoid(h)?;
    let th = g.tanh(h)?;
    let re = g.relu(h)?;
    let lr = g.leaky_relu(h, black_box(0.1))?;
    let ex = g.exp(th)?;
    let sq = g.square(lr)?;
    let sc = g.scale(sq, black_box(0.5))?;
    let mu = g.multiply(sg, re)?;
    let ng = g.negative(mu)?;
    let p = g.softmax(h)?;
    let lp = g.log(p)?;
    let r0 = g.reduce_sum_axis0(lp)?;
    let r1 = g.reduce_sum_axis1(ex)?;
    let m0 = g.mean_axis0(ng)?;
    let m1 = g.mean_axis1(ng)?;

    let parts = [
        g.reduce_sum(r0)?,
        g.reduce_sum(r1)?,
        g.mean(sc)?,
        g.reduce_sum(m0)?,
        g.reduce_sum(m1)?,
        g.softmax_cross_entropy(h, t)?,
        g.sparse_softmax_cross_entropy(h, labels)?,
        g.sigmoid_binary_cross_entropy(h, t)?,
        g.mse(sg, t)?,
    ];
    let mut loss = parts[0];
    for part in parts.iter().skip(1) {
        loss = g.add(loss, *part)?;
    }

    g.feed(
        x,
        &Matrix::new([[black_box(1.0), -0.5], [0.25, black_box(2.0)], [-1.0, 0.75]]),
    )?;
    let mut onehot = Matrix::<f32, 3, 4>::zeros();
    for r in 0..3 {
        onehot.set(r, black_box(r + 1) % 4, 1.0);
    }
    g.feed(t, &onehot)?;
    g.feed(
        labels,
        &Matrix::new([[black_box(1.0)], [black_box(3.0)], [black_box(7.0)]]),
    )?;

    let first = g.forward_backward(loss)?;
    let mut last = first;
    for _ in 0..black_box(5) {
        last = g.forward_backward(loss)?;
        let step = black_box(0.01f32);
        g.for_each_variable(|v| {
            for (w, d) in v.value.iter_mut().zip(v.grad) {
                *w -= step * d;
            }
            Ok::<(), Error>(())
        })?;
    }
    Ok(first.is_finite() && last.is_finite() && last < first)
}

/// Every op pushed untyped, on inputs whose shapes come through `black_box`; shape errors are
/// fine, panics are not.
fn untyped(g: &mut OpsGraph) -> Result<bool, Error> {
    let r = black_box(3usize);
    let c = black_box(2usize);
    let vals = black_box([0.5f32, -1.0, 2.0, 0.0, 1.5, -0.25, 0.75, 1.0, -2.0]);
    let a = g.variable_dyn(Shape::new(r, c), vals.get(..r * c).unwrap_or(&[]))?;
    let b = g.variable_dyn(Shape::new(c, r), vals.get(..r * c).unwrap_or(&[]))?;
    let l = g.constant_dyn(Shape::new(r, 1), vals.get(..r).unwrap_or(&[]))?;
    let ins = black_box([a, b, l]);

    let mut built = 0usize;
    let mut last: Option<NodeId> = None;
    for op in all_ops() {
        let op = black_box(op);
        for x in ins {
            if let Ok(id) = g.push_op(op, &[x]) {
                built += 1;
                last = Some(id);
            }
            for y in ins {
                if let Ok(id) = g.push_op(op, &[x, y]) {
                    built += 1;
                    last = Some(id);
                }
                for z in ins {
                    if let Ok(id) = g.push_op(op, &[x, y, z]) {
                        built += 1;
                        last = Some(id);
                    }
                }
            }
        }
    }
    let Some(last) = last else { return Ok(false) };
    g.run_many(&[last, black_box(a)])?;
    // Backprop from every 1×1 node built (the losses and sums).
    let mut backprops = 0usize;
    for i in 0..g.len() {
        let Some(id) = g.node_at(black_box(i)) else {
            continue;
        };
        if g.shape(id)? == Shape::new(1, 1) {
            g.run(id)?;
            if g.backward_dyn(id, black_box(i) % 2 == 0).is_ok() {
                backprops += 1;
            }
        }
    }
    Ok(built > 30 && backprops > 5)
}

/// `forward` and `backward` of every op called directly, with views of any shapes (the
/// results are meaningless; only the absence of panics matters).
fn direct() {
    let data = black_box([
        0.5f32, -1.0, 2.0, 0.0, 1.5, -0.25, 0.75, 1.0, -2.0, 3.0, 0.1, -0.1,
    ]);
    let shapes = black_box([
        Shape::new(3, 2),
        Shape::new(2, 3),
        Shape::new(1, 1),
        Shape::new(3, 1),
        Shape::new(1, 2),
        Shape::new(2, 2),
    ]);
    let view = |s: Shape| {
        data.get(..s.len().unwrap_or(0))
            .and_then(|d| MatRef::new(d, s))
            .unwrap_or(MatRef::empty())
    };
    let mut out = [0.0f32; 12];
    for op in all_ops() {
        let op = black_box(op);
        for &sa in &shapes {
            for &sb in &shapes {
                for &so in &shapes {
                    let xs = [view(sa), view(sb), view(so)];
                    let n = black_box(3usize).min(xs.len());
                    let inputs = xs.get(..n).unwrap_or(&[]);
                    let len = so.len().unwrap_or(0);
                    let Some(o) = out.get_mut(..len).and_then(|d| MatMut::new(d, so)) else {
                        continue;
                    };
                    Op::<f32>::forward(&op, inputs, o);
                    let y = view(so);
                    for i in 0..black_box(3usize) {
                        let Some(dx) = out.get_mut(..sa.len().unwrap_or(0)) else {
                            continue;
                        };
                        if let Some(dx) = MatMut::new(dx, sa) {
                            Op::<f32>::backward(&op, i, inputs, y, y, dx);
                        }
                    }
                    let _ = Op::<f32>::out_shape(&op, &[sa, sb]);
                    let _ = Op::<f32>::name(&op);
                }
            }
        }
    }
    black_box(&out);
}

/// The public kernels and helpers.
fn kernels() -> bool {
    let a = black_box([1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let (r, k, c) = (black_box(2usize), black_box(3usize), black_box(2usize));
    let mut out = [0.0f32; 9];
    let mut grad = [0.0f32; 9];
    let (Some(av), Some(bv)) = (
        a.get(..r * k)
            .and_then(|d| MatRef::new(d, Shape::new(r, k))),
        a.get(..k * c)
            .and_then(|d| MatRef::new(d, Shape::new(k, c))),
    ) else {
        return false;
    };
    if let Some(o) = out
        .get_mut(..r * c)
        .and_then(|d| MatMut::new(d, Shape::new(r, c)))
    {
        matmul_kernel(av, bv, o);
    }
    let gv = out
        .get(..r * c)
        .and_then(|d| MatRef::new(d, Shape::new(r, c)));
    if let Some(gv) = gv {
        if let Some(da) = grad
            .get_mut(..r * k)
            .and_then(|d| MatMut::new(d, Shape::new(r, k)))
        {
            matmul_grad_a(gv, bv, da);
        }
    }
    // Mismatched shapes must not panic either.
    if let Some(db) = grad
        .get_mut(..black_box(4))
        .and_then(|d| MatMut::new(d, Shape::new(2, 2)))
    {
        matmul_grad_b(av, bv, db);
    }
    let mut sm = [0.0f32; 6];
    if let Some(o) = MatMut::new(&mut sm, Shape::new(black_box(2), black_box(3))) {
        softmax_kernel(av, o);
    }
    let (m, lse) = log_sum_exp(a.get(..black_box(3)).unwrap_or(&[]));
    let (me, le) = log_sum_exp::<f32>(black_box(&[]));
    let ci = class_index(black_box(2.0f32), black_box(3));
    let bad = class_index(black_box(f32::NAN), black_box(3));
    let shape = ReduceSum { axis: Axis::Rows }.shape_for(Shape::new(black_box(4), 5));
    let scale = Scale::new(black_box(0.25)).factor();
    let slope = LeakyRelu::new(black_box(0.2)).slope();
    out.first() == Some(&22.0)
        && m == 3.0
        && lse > 0.0
        && me == f32::NEG_INFINITY
        && le == f32::NEG_INFINITY
        && ci == Some(2)
        && bad.is_none()
        && shape == Shape::new(1, 5)
        && scale == 0.25
        && slope == 0.2
        && (sm.iter().take(3).sum::<f32>() - 1.0).abs() < 1e-5
}

/// Runs all of the above.
pub fn drive(g: &mut OpsGraph) -> Result<bool, Error> {
    let t = typed(g)?;
    g.clear();
    let u = untyped(g)?;
    g.clear();
    direct();
    Ok(t && u && kernels())
}
