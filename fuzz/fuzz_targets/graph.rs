//! Builds, feeds, runs, backprops and trains arbitrary graphs of every standard op, driven by
//! the input bytes, in f32 and f64 and at four capacities. Every call must return `Ok` or an
//! `Err` — never panic (debug assertions and overflow checks are on) — and these must hold:
//!
//! - a failed build call (placeholder, variable, constant, op) changes nothing observable;
//! - a failed feed or assignment writes nothing; a successful one stores exactly the data;
//! - `run_many` computes exactly one forward kernel per op among the targets' ancestors, and a
//!   failed run changes no placeholder, variable or constant;
//! - a failed backprop changes nothing; a failed `minimize`/`step_accumulated` changes no
//!   variable; a successful `minimize` had a finite loss;
//! - a checkpoint saved from the graph restores into it unchanged, and a damaged one is refused;
//! - `requirements()` always describes the graph.

#![no_main]

use embedgrad_core::{Error, Graph, NodeId, NodeKind, Origin, Scalar, Shape};
use embedgrad_ops::reduce_sum::{Axis, ReduceSum};
use embedgrad_ops::{
    add::Add, exp::Exp, leaky_relu::LeakyRelu, log::Log, matmul::MatMul, mean::Mean, mse::Mse,
    multiply::Multiply, negative::Negative, relu::Relu, scale::Scale, sigmoid::Sigmoid,
    sigmoid_binary_cross_entropy::SigmoidBinaryCrossEntropy, softmax::Softmax,
    softmax_cross_entropy::SoftmaxCrossEntropy,
    sparse_softmax_cross_entropy::SparseSoftmaxCrossEntropy, square::Square, subtract::Subtract,
    tanh::Tanh, StdOp,
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
use embedgrad_train::{checkpoint, minimize, step_accumulated, Feeds, GradientDescent};
use libfuzzer_sys::fuzz_target;

/// The input, read front to back; zeros once exhausted.
struct In<'a>(&'a [u8]);

impl In<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A dimension: mostly small, sometimes zero or too large.
    fn dim(&mut self) -> usize {
        match self.u8() % 16 {
            0 => 0,
            13 => 65_535,
            14 => 65_536,
            15 => usize::MAX,
            d => (d as usize - 1) % 4 + 1,
        }
    }

    fn shape(&mut self) -> Shape {
        Shape::new(self.dim(), self.dim())
    }

    /// A value: NaN, ±∞, ±0, extremes, subnormals or a small number.
    fn scalar<T: Scalar>(&mut self) -> T {
        match self.u8() % 10 {
            0 => T::from_f64(f64::NAN),
            1 => T::INFINITY,
            2 => T::NEG_INFINITY,
            3 => T::ZERO,
            4 => -T::ZERO,
            5 => T::from_f64(if T::BYTES == 4 { 3.0e38 } else { 1.0e308 }),
            6 => T::from_f64(if T::BYTES == 4 { 1.0e-45 } else { 5.0e-324 }),
            7 => T::from_f64(f64::from_bits(self.u64())),
            _ => T::from_f64(f64::from(self.u8() as i8) / 8.0),
        }
    }

    /// Data for a node of `len` scalars: usually the right length, sometimes not.
    fn data<T: Scalar>(&mut self, len: Option<usize>) -> Vec<T> {
        let n = match (self.u8() % 8, len) {
            (0, _) | (_, None) => usize::from(self.u8() % 20),
            (1, Some(l)) => l.saturating_add(1).min(64),
            (_, Some(l)) => l.min(64),
        };
        (0..n).map(|_| self.scalar()).collect()
    }

    /// A handle: usually one of the graph's nodes, sometimes an unknown or arbitrary one.
    fn id<T: Scalar, const N: usize, const S: usize>(&mut self, g: &G<T, N, S>) -> NodeId {
        let b = self.u8();
        match (b, g.len()) {
            (0..=239, n) if n > 0 => g.node_at(usize::from(b) % n).unwrap(),
            (240..=247, _) => NodeId::new(g.tag(), 100 + u16::from(b)),
            (248..=249, _) => NodeId::from_raw(self.u64()),
            _ => NodeId::from_raw(u64::from(self.u32())),
        }
    }
}

type G<T, const N: usize, const S: usize> = Graph<T, StdOp, N, S>;

/// `EMBEDGRAD_FUZZ_TRACE=1` prints each command (to read what a corpus file does).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("EMBEDGRAD_FUZZ_TRACE").is_some())
}

fn op_of(code: u8, param: u64) -> StdOp {
    let axis = match param % 3 {
        0 => Axis::All,
        1 => Axis::Rows,
        _ => Axis::Cols,
    };
    let factor = if param & 8 != 0 {
        f64::from_bits(param)
    } else {
        (param % 64) as f64 / 8.0 - 4.0
    };
    // A size for the time-series ops: mostly 1 to 4, sometimes the largest their fields hold.
    let size = |shift: u32| match (param >> shift) & 7 {
        7 => 65_535,
        v => (v % 4 + 1) as usize,
    };
    let padding = if param & 1 == 0 {
        Padding::Valid
    } else {
        Padding::Same
    };
    let sized = |op: Result<StdOp, Error>| op.unwrap_or(Gru.into());
    // Codes below 200 pick the first 20 ops as they always did (the seeds keep their meaning);
    // 200 and up the time-series ops.
    let code = if code < 200 {
        code % 20
    } else {
        20 + (code - 200) % 8
    };
    match code {
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
        11 => Scale::new(factor).into(),
        12 => Mean { axis }.into(),
        13 => Relu.into(),
        14 => LeakyRelu::new(factor).into(),
        15 => Tanh.into(),
        16 => SoftmaxCrossEntropy.into(),
        17 => SparseSoftmaxCrossEntropy.into(),
        18 => SigmoidBinaryCrossEntropy.into(),
        19 => Mse.into(),
        20 => sized(Conv1d::new(size(8), size(12), size(16), padding).map(Into::into)),
        21 => sized(DepthwiseConv1d::new(size(12), size(16), padding).map(Into::into)),
        22 => sized(MaxPool1d::new(size(8), size(12), size(16)).map(Into::into)),
        23 => sized(AvgPool1d::new(size(8), size(12), size(16)).map(Into::into)),
        24 => sized(GlobalAvgPool1d::new(size(8)).map(Into::into)),
        25 => sized(Reshape::new(size(8), size(12)).map(Into::into)),
        26 => sized(SliceCols::new(size(8) - 1, size(12)).map(Into::into)),
        _ => Gru.into(),
    }
}

/// Everything a failed call must leave alone.
#[derive(PartialEq, Debug)]
struct Snap {
    len: usize,
    used: usize,
    values: Vec<u64>,
    grads: Vec<u64>,
}

fn snap<T: Scalar, const N: usize, const S: usize>(g: &G<T, N, S>, ops_too: bool) -> Snap {
    let mut values = Vec::new();
    let mut grads = Vec::new();
    for i in 0..g.len() {
        let id = g.node_at(i).unwrap();
        let is_op = matches!(g.kind(id).unwrap(), NodeKind::Op(_));
        if ops_too || !is_op {
            // An op's value is held only once laid out and computed (`NotKept` otherwise).
            match g.value_slice(id) {
                Ok(v) => values.extend(v.iter().map(|v| v.to_f64().to_bits())),
                Err(e) => {
                    assert!(is_op && e == Error::NotKept(id), "{e}");
                    values.push(u64::MAX);
                }
            }
        }
        if ops_too {
            if let Ok(d) = g.grad_slice(id) {
                grads.extend(d.iter().map(|v| v.to_f64().to_bits()));
            }
        }
    }
    Snap {
        len: g.len(),
        used: g.scalars_used(),
        values,
        grads,
    }
}

fn variables<T: Scalar, const N: usize, const S: usize>(g: &G<T, N, S>) -> Vec<u64> {
    g.variables()
        .flat_map(|id| g.value_slice(id).unwrap().to_vec())
        .map(|v| v.to_f64().to_bits())
        .collect()
}

fn bits<T: Scalar>(d: &[T]) -> Vec<u64> {
    d.iter().map(|v| v.to_f64().to_bits()).collect()
}

fn drive<T: Scalar, const N: usize, const S: usize>(inp: &mut In<'_>) {
    let mut g: Box<G<T, N, S>> = Box::new(Graph::new());
    // The inputs of each node, recorded independently of the graph.
    let mut inputs: Vec<Vec<usize>> = Vec::new();
    for _ in 0..200 {
        if inp.is_empty() {
            break;
        }
        let cmd = inp.u8() % 16;
        if trace() {
            eprintln!(
                "cmd {cmd:2}: {} nodes, {} scalars",
                g.len(),
                g.scalars_used()
            );
        }
        match cmd {
            0..=2 => {
                let before = snap(&g, true);
                let shape = inp.shape();
                let data = inp.data::<T>(shape.len());
                let r = match cmd {
                    0 => g.placeholder_dyn(shape),
                    1 => g.variable_dyn(shape, &data),
                    _ => g.constant_dyn(shape, &data),
                };
                if trace() {
                    eprintln!("    leaf {shape} -> {r:?}");
                }
                match r {
                    Ok(id) => {
                        assert_eq!(g.shape(id).unwrap(), shape);
                        if cmd > 0 {
                            assert_eq!(bits(g.value_slice(id).unwrap()), bits(&data));
                        }
                        inputs.push(vec![]);
                    }
                    Err(_) => assert_eq!(snap(&g, true), before),
                }
            }
            3 => {
                let op = op_of(inp.u8(), inp.u64());
                let n = usize::from(inp.u8() % 5);
                let ids: Vec<NodeId> = (0..n).map(|_| inp.id(&g)).collect();
                let before = snap(&g, true);
                let stats = g.stats();
                let r = g.push_op(op, &ids);
                if trace() {
                    eprintln!("    {op:?} {ids:?} -> {r:?}");
                }
                match r {
                    Ok(_) => inputs.push(ids.iter().map(|id| id.index()).collect()),
                    Err(_) => {
                        assert_eq!(snap(&g, true), before);
                        assert_eq!(g.stats(), stats);
                    }
                }
            }
            4 | 5 => {
                let id = inp.id(&g);
                let data = inp.data::<T>(g.shape(id).ok().and_then(|s| s.len()));
                let before = snap(&g, true);
                let r = if cmd == 4 {
                    g.feed_slice(id, &data)
                } else {
                    g.assign_slice(id, &data)
                };
                if trace() {
                    eprintln!("    write {id} {} values -> {r:?}", data.len());
                }
                match r {
                    Ok(()) => {
                        assert!(data.iter().all(|v| v.is_finite()));
                        assert_eq!(bits(g.value_slice(id).unwrap()), bits(&data));
                    }
                    Err(e) => {
                        assert_eq!(snap(&g, true), before, "{e}");
                        if data.iter().any(|v| !v.is_finite())
                            && g.shape(id).ok().and_then(|s| s.len()) == Some(data.len())
                            && match g.kind(id) {
                                Ok(NodeKind::Placeholder) => cmd == 4,
                                Ok(NodeKind::Variable | NodeKind::Constant) => cmd == 5,
                                _ => false,
                            }
                        {
                            let origin = if cmd == 4 {
                                Origin::Feed
                            } else {
                                Origin::Assign
                            };
                            assert_eq!(e, Error::non_finite(origin, id));
                        }
                    }
                }
            }
            6 | 7 => {
                let n = if cmd == 6 {
                    1
                } else {
                    usize::from(inp.u8() % 4)
                };
                let ids: Vec<NodeId> = (0..n).map(|_| inp.id(&g)).collect();
                let before = snap(&g, false);
                let stats = g.stats();
                let r = g.run_many(&ids);
                if trace() {
                    eprintln!("    run {ids:?} -> {r:?}");
                }
                match r {
                    Ok(()) => {
                        // Count the op ancestors from the recorded inputs.
                        let mut mark = vec![false; inputs.len()];
                        let mut stack: Vec<usize> = ids.iter().map(|id| id.index()).collect();
                        while let Some(i) = stack.pop() {
                            if !mark[i] {
                                mark[i] = true;
                                stack.extend(&inputs[i]);
                            }
                        }
                        let want = (0..inputs.len())
                            .filter(|&i| {
                                mark[i]
                                    && matches!(
                                        g.kind(g.node_at(i).unwrap()).unwrap(),
                                        NodeKind::Op(_)
                                    )
                            })
                            .count();
                        let done = g.stats().forward_ops.wrapping_sub(stats.forward_ops);
                        assert_eq!(done as usize, want);
                    }
                    Err(_) => {
                        assert_eq!(g.stats(), stats);
                    }
                }
                assert_eq!(
                    snap(&g, false).values,
                    before.values,
                    "a run changed a leaf"
                );
            }
            8 => {
                let id = inp.id(&g);
                let acc = inp.u8() & 1 == 1;
                let before = snap(&g, true);
                if g.backward_dyn(id, acc).is_err() {
                    assert_eq!(snap(&g, true), before);
                }
            }
            9 | 10 => {
                let id = inp.id(&g);
                let Ok(loss) = g.tensor::<1, 1>(id) else {
                    continue;
                };
                let vars = variables(&g);
                if cmd == 9 {
                    let _ = g.forward_backward(loss);
                    assert_eq!(variables(&g), vars);
                } else {
                    let mut opt = GradientDescent::new(inp.scalar::<T>());
                    let r = minimize(&mut opt, &mut g, loss);
                    if trace() {
                        eprintln!("    minimize -> {r:?}");
                    }
                    match r {
                        Ok(l) => assert!(l.is_finite()),
                        Err(_) => assert_eq!(variables(&g), vars),
                    }
                }
            }
            11 => {
                g.zero_grads();
                for i in 0..g.len() {
                    if let Ok(d) = g.grad_slice(g.node_at(i).unwrap()) {
                        assert!(d.iter().all(|&v| v == T::ZERO));
                    }
                }
            }
            12 => {
                let id = inp.id(&g);
                match g.shape(id) {
                    Ok(s) => {
                        match g.value_slice(id) {
                            Ok(v) => assert_eq!(v.len(), s.len().unwrap()),
                            Err(e) => assert_eq!(e, Error::NotKept(id)),
                        }
                        // A gradient is reported only for nodes that have one, and then only
                        // while it is that of the last backprop's loss.
                        if g.grad_slice(id).is_ok() {
                            assert!(g.has_grad(id).unwrap());
                        }
                        let _ = g.kind(id).unwrap();
                        let _ = g.reached(id).unwrap();
                    }
                    Err(e) => {
                        assert!(matches!(e, Error::UnknownNode(_) | Error::ForeignNode(_)));
                        assert!(g.value_slice(id).is_err() && g.kind(id).is_err());
                    }
                }
            }
            13 => {
                let opt = GradientDescent::new(T::ONE);
                let mut buf = vec![0u8; 1 << 16];
                let seq = inp.u32();
                let r = checkpoint::save_to_slice(&g, &opt, seq, &mut buf);
                if trace() {
                    eprintln!("    checkpoint -> {r:?}");
                }
                match r {
                    Ok(n) => {
                        assert_eq!(checkpoint::encoded_len(&g, &opt), Ok(n));
                        let before = snap(&g, true);
                        let info =
                            checkpoint::restore_from_slice(&mut g, &mut opt.clone(), &buf[..n])
                                .unwrap();
                        assert_eq!(info.sequence, seq);
                        assert_eq!(snap(&g, true), before);
                        // Damage one byte: refused, nothing changes.
                        let at = usize::from(inp.u16()) % n;
                        let x = inp.u8() | 1;
                        buf[at] ^= x;
                        assert!(checkpoint::restore_from_slice(
                            &mut g,
                            &mut opt.clone(),
                            &buf[..n]
                        )
                        .is_err());
                        assert_eq!(snap(&g, true), before);
                    }
                    Err(e) => assert!(
                        matches!(e, Error::NonFinite { .. } | Error::LengthMismatch { .. }),
                        "{e}"
                    ),
                }
            }
            14 => {
                g.clear();
                inputs.clear();
                assert_eq!(g.requirements().nodes, 0);
            }
            _ => {
                let feeds = Feeds {
                    x: inp.id(&g),
                    y: inp.id(&g),
                    loss: inp.id(&g),
                };
                let xs = inp.data::<T>(None);
                let ys = inp.data::<T>(None);
                let vars = variables(&g);
                let mut opt = GradientDescent::new(inp.scalar::<T>());
                if step_accumulated(&mut opt, &mut g, feeds, &xs, &ys).is_err() {
                    assert_eq!(variables(&g), vars);
                }
            }
        }
        // Op buffers are laid out at the first run: before it only the fixed values are in
        // use, after it exactly what `requirements()` reports.
        let req = g.requirements();
        assert_eq!(req.nodes, g.len());
        assert!(
            g.scalars_used() == g.fixed_scalars() || g.scalars_used() == req.scalars,
            "{req:?} {}",
            g.scalars_used()
        );
        assert!(g.len() <= N && g.scalars_used() <= S);
        assert_eq!(inputs.len(), g.len());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = In(data);
    match inp.u8() % 4 {
        0 => drive::<f32, 4, 16>(&mut inp),
        1 => drive::<f64, 8, 64>(&mut inp),
        2 => drive::<f32, 32, 1024>(&mut inp),
        _ => drive::<f64, 64, 4096>(&mut inp),
    }
});
