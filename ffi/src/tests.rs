//! Tests of the C API, called from Rust. The C tests in `ffi/tests/` cover the same ground
//! from C, on the host and on the Cortex-M4F.
//!
//! Every `unsafe` call below passes pointers to live Rust values or vectors of the stated
//! lengths (or NULL and out-of-range values on purpose, which the API must reject), so the
//! blocks carry no SAFETY comment each.
#![allow(clippy::undocumented_unsafe_blocks)]

use super::*;
use core::ptr;
use embedgrad_data::seed::{self, Example};
use embedgrad_ops::prelude::*;

/// A graph in heap memory (the storage is too big for a test thread's stack in debug builds).
struct Fixture {
    mem: *mut EgGraphStorage,
    g: *mut EgGraph,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: `mem` came from `Box::into_raw` and is freed once.
        drop(unsafe { Box::from_raw(self.mem) });
    }
}

impl Fixture {
    fn new() -> Self {
        // A raw pointer, not a Box: moving a Box would assert unique access to the memory and
        // invalidate the graph pointer the library handed out (Stacked Borrows).
        // Filled with garbage: `eg_graph_init` must set every byte the graph depends on.
        let mem = Box::into_raw(Box::new(EgGraphStorage {
            bytes: [0xA5; EG_GRAPH_BYTES],
        }));
        let mut g = ptr::null_mut();
        let st = unsafe { eg_graph_init(mem.cast(), size_of::<EgGraphStorage>(), &mut g) };
        assert_eq!(st, EgStatus::Ok);
        assert_eq!(g.cast::<EgGraphStorage>(), mem);
        Fixture { mem, g }
    }

    fn placeholder(&self, r: usize, c: usize) -> EgNode {
        let mut n = 0;
        assert_eq!(
            unsafe { eg_placeholder(self.g, r, c, &mut n) },
            EgStatus::Ok
        );
        n
    }

    fn variable(&self, r: usize, c: usize, v: &[f32]) -> EgNode {
        let mut n = 0;
        let st = unsafe { eg_variable(self.g, r, c, v.as_ptr(), v.len(), &mut n) };
        assert_eq!(st, EgStatus::Ok);
        n
    }

    fn op(&self, op: EgOp, inputs: &[EgNode]) -> EgNode {
        let mut n = 0;
        let st = unsafe { eg_push_op(self.g, op as u32, inputs.as_ptr(), inputs.len(), &mut n) };
        assert_eq!(st, EgStatus::Ok, "{op:?}");
        n
    }

    fn value(&self, n: EgNode, len: usize) -> Vec<f32> {
        let mut v = vec![f32::NAN; len];
        assert_eq!(
            unsafe { eg_value(self.g, n, v.as_mut_ptr(), len) },
            EgStatus::Ok
        );
        v
    }

    fn last(&self) -> EgErrorInfo {
        let mut i = EgErrorInfo::status(EgStatus::Other);
        assert_eq!(unsafe { eg_graph_last_error(self.g, &mut i) }, EgStatus::Ok);
        i
    }
}

#[test]
fn statuses_have_distinct_names_and_values() {
    let mut names: Vec<_> = EgStatus::ALL.iter().map(|s| s.name()).collect();
    let mut values: Vec<_> = EgStatus::ALL.iter().map(|s| *s as i32).collect();
    names.sort();
    names.dedup();
    values.sort();
    values.dedup();
    assert_eq!(names.len(), EgStatus::ALL.len());
    assert_eq!(values.len(), EgStatus::ALL.len());
    for s in EgStatus::ALL {
        assert_eq!(EgStatus::from_raw(s as i32), Some(s));
        let c = unsafe { core::ffi::CStr::from_ptr(eg_status_str(s as i32)) };
        assert_eq!(c, s.name());
    }
    let c = unsafe { core::ffi::CStr::from_ptr(eg_status_str(9)) };
    assert_eq!(c.to_str().unwrap(), "EG_STATUS_UNKNOWN");
    assert_eq!(EgStatus::Ok as i32, 0);
}

#[test]
fn sizes_fit_the_header() {
    assert!(eg_graph_size() <= EG_GRAPH_BYTES);
    assert!(eg_graph_align() <= EG_GRAPH_ALIGN);
    let (mut n, mut s) = (0, 0);
    assert_eq!(unsafe { eg_capacity(&mut n, &mut s) }, EgStatus::Ok);
    assert_eq!((n, s), (EG_NODES, EG_SCALARS));
    let v = unsafe { core::ffi::CStr::from_ptr(eg_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn init_checks_memory() {
    let mut mem = Box::new(EgGraphStorage {
        bytes: [0; EG_GRAPH_BYTES],
    });
    let base: *mut u8 = ptr::from_mut(&mut *mem).cast();
    let size = size_of::<EgGraphStorage>();
    let mut g = ptr::null_mut();
    unsafe {
        assert_eq!(
            eg_graph_init(ptr::null_mut(), size, &mut g),
            EgStatus::NullPointer
        );
        assert_eq!(
            eg_graph_init(base.cast(), size, ptr::null_mut()),
            EgStatus::NullPointer
        );
        assert_eq!(
            eg_graph_init(base.add(1).cast(), size - 1, &mut g),
            EgStatus::Misaligned
        );
        let small = eg_graph_size() - 1;
        assert_eq!(
            eg_graph_init(base.cast(), small, &mut g),
            EgStatus::BufferTooSmall
        );
        // `out` inside the graph's own memory
        let inside = base.cast::<*mut EgGraph>();
        assert_eq!(eg_graph_init(base.cast(), size, inside), EgStatus::Overlap);
        assert!(g.is_null(), "no output on failure");
        // zeroed memory is no graph
        let zeroed: *mut EgGraph = base.cast();
        assert_eq!(eg_run(zeroed, 1), EgStatus::NotInitialised);
        assert_eq!(
            eg_graph_init(base.cast(), eg_graph_size(), &mut g),
            EgStatus::Ok
        );
        assert_eq!(g, zeroed);
        assert_eq!(eg_graph_clear(ptr::null_mut()), EgStatus::NullPointer);
        assert_eq!(eg_graph_clear(base.add(4).cast()), EgStatus::Misaligned);
    }
}

#[test]
fn builds_runs_and_differentiates() {
    let f = Fixture::new();
    // y = sum((x W + b)²) with broadcasting b; dy/dW = 2 xᵀ (x W + b)
    let x = f.placeholder(2, 2);
    let w = f.variable(2, 1, &[1.0, -1.0]);
    let b = f.variable(1, 1, &[0.5]);
    let xw = f.op(EgOp::Matmul, &[x, w]);
    let z = f.op(EgOp::Add, &[xw, b]);
    let z2 = f.op(EgOp::Multiply, &[z, z]);
    let y = f.op(EgOp::ReduceSum, &[z2]);
    unsafe {
        assert_eq!(
            eg_feed(f.g, x, [1.0, 2.0, 3.0, 5.0].as_ptr(), 4),
            EgStatus::Ok
        );
        let mut loss = 0.0;
        assert_eq!(eg_forward_backward(f.g, y, &mut loss), EgStatus::Ok);
        // z = [-1 + 0.5, -2 + 0.5] = [-0.5, -1.5]; y = 0.25 + 2.25
        assert_eq!(loss, 2.5);
        let mut dw = [0.0f32; 2];
        assert_eq!(eg_grad(f.g, w, dw.as_mut_ptr(), 2), EgStatus::Ok);
        // 2 [1 3; 2 5] [-0.5; -1.5] = 2 [-5; -8.5]
        assert_eq!(dw, [-10.0, -17.0]);
        let mut db = [0.0f32; 1];
        assert_eq!(eg_grad(f.g, b, db.as_mut_ptr(), 1), EgStatus::Ok);
        assert_eq!(db, [-4.0]);
        let (mut r, mut c, mut k) = (0, 0, 0);
        assert_eq!(eg_shape(f.g, z, &mut r, &mut c), EgStatus::Ok);
        assert_eq!((r, c), (2, 1));
        assert_eq!(eg_node_kind(f.g, b, &mut k), EgStatus::Ok);
        assert_eq!(k, EgKind::Variable as u32);
        assert_eq!(eg_grad(f.g, x, dw.as_mut_ptr(), 4), EgStatus::NoGradient);
        let (mut nodes, mut scalars, mut params) = (0, 0, 0);
        assert_eq!(eg_graph_usage(f.g, &mut nodes, &mut scalars), EgStatus::Ok);
        assert_eq!(nodes, 7);
        assert_eq!(eg_parameter_count(f.g, &mut params), EgStatus::Ok);
        assert_eq!(params, 3);
    }
    assert_eq!(f.value(z, 2), [-0.5, -1.5]);
}

#[test]
fn reduce_sum_axes_and_softmax() {
    let f = Fixture::new();
    let mut x = 0;
    let v = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    unsafe {
        assert_eq!(eg_constant(f.g, 2, 3, v.as_ptr(), 6, &mut x), EgStatus::Ok);
    }
    let mut out = [0; 4];
    for (axis, o) in [EgAxis::All, EgAxis::Rows, EgAxis::Cols]
        .into_iter()
        .zip(&mut out)
    {
        assert_eq!(
            unsafe { eg_reduce_sum(f.g, x, axis as u32, o) },
            EgStatus::Ok
        );
    }
    assert_eq!(unsafe { eg_softmax(f.g, x, &mut out[3]) }, EgStatus::Ok);
    assert_eq!(unsafe { eg_run_many(f.g, out.as_ptr(), 4) }, EgStatus::Ok);
    assert_eq!(f.value(out[0], 1), [21.0]);
    assert_eq!(f.value(out[1], 3), [5.0, 7.0, 9.0]);
    assert_eq!(f.value(out[2], 2), [6.0, 15.0]);
    let p = f.value(out[3], 6);
    assert!((p[0] + p[1] + p[2] - 1.0).abs() < 1e-6 && p[2] > p[1] && p[1] > p[0]);
    let mut bad = 0;
    assert_eq!(
        unsafe { eg_reduce_sum(f.g, x, 3, &mut bad) },
        EgStatus::InvalidArgument
    );
    assert_eq!(bad, 0);
}

#[test]
fn errors_leave_outputs_and_graph_alone() {
    let f = Fixture::new();
    let x = f.placeholder(3, 2);
    let w = f.variable(2, 2, &[1.0, 0.0, 0.0, 1.0]);
    let mut out: EgNode = 12345;
    let xw = f.op(EgOp::Matmul, &[x, w]);
    unsafe {
        // shape mismatch: 3×2 · 3×2
        assert_eq!(eg_matmul(f.g, x, x, &mut out), EgStatus::ShapeMismatch);
        let i = f.last();
        assert_eq!(i.status, EgStatus::ShapeMismatch);
        assert_eq!((i.found_rows, i.found_cols), (3, 2));
        // parameter on an op without one; unknown op; wrong arity
        let ins = [x, w];
        let st = eg_push_op_param(f.g, EgOp::Matmul as u32, 1.0, ins.as_ptr(), 2, &mut out);
        assert_eq!(st, EgStatus::InvalidArgument);
        assert_eq!(
            eg_push_op(f.g, 0, ins.as_ptr(), 2, &mut out),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_push_op(f.g, 99, ins.as_ptr(), 2, &mut out),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_push_op(f.g, EgOp::Log as u32, ins.as_ptr(), 2, &mut out),
            EgStatus::Arity
        );
        let many = [x; 4];
        assert_eq!(
            eg_push_op(f.g, EgOp::Add as u32, many.as_ptr(), 4, &mut out),
            EgStatus::Arity
        );
        assert_eq!(f.last().expected, embedgrad_core::MAX_INPUTS);
        // handles: 0, out of range, another graph's
        assert_eq!(eg_negative(f.g, 0, &mut out), EgStatus::UnknownNode);
        assert_eq!(eg_negative(f.g, w + 100, &mut out), EgStatus::UnknownNode);
        let other = Fixture::new();
        let y = other.placeholder(1, 1);
        assert_eq!(eg_negative(f.g, y, &mut out), EgStatus::ForeignNode);
        assert_eq!(f.last().node, y);
        // data: short, NaN, infinite, NULL, wrong kind
        let d = [1.0f32, 2.0, 3.0, 4.0, 5.0, f32::NAN];
        assert_eq!(eg_feed(f.g, x, d.as_ptr(), 5), EgStatus::LengthMismatch);
        assert_eq!((f.last().expected, f.last().found), (6, 5));
        assert_eq!(eg_feed(f.g, x, d.as_ptr(), 6), EgStatus::NonFinite);
        assert_eq!((f.last().origin, f.last().node), (EgOrigin::Feed, x));
        let inf = [f32::INFINITY; 4];
        assert_eq!(eg_assign(f.g, w, inf.as_ptr(), 4), EgStatus::NonFinite);
        assert_eq!((f.last().origin, f.last().node), (EgOrigin::Assign, w));
        let mut fresh = 0;
        assert_eq!(
            eg_variable(f.g, 2, 2, inf.as_ptr(), 4, &mut fresh),
            EgStatus::NonFinite
        );
        assert_eq!((f.last().origin, f.last().node), (EgOrigin::Assign, 0));
        assert_eq!(fresh, 0);
        assert_eq!(eg_feed(f.g, x, ptr::null(), 6), EgStatus::NullPointer);
        assert_eq!(eg_feed(f.g, w, d.as_ptr(), 4), EgStatus::WrongKind);
        // missing feed, not scalar
        assert_eq!(eg_run(f.g, xw), EgStatus::MissingFeed);
        let mut l = -1.0;
        assert_eq!(eg_forward_backward(f.g, xw, &mut l), EgStatus::NotScalar);
        assert_eq!(l, -1.0);
        // short output buffer
        let mut v = [7.0f32; 3];
        assert_eq!(
            eg_value(f.g, w, v.as_mut_ptr(), 3),
            EgStatus::BufferTooSmall
        );
        assert_eq!(v, [7.0; 3]);
        // ... with what the 2×2 value needs and what was given
        let i = f.last();
        assert_eq!(
            (i.status, i.expected, i.found),
            (EgStatus::BufferTooSmall, 4, 3)
        );
        // a data buffer inside the graph
        let inside = f.g.cast::<f32>().cast_const().add(16);
        assert_eq!(eg_feed(f.g, x, inside, 6), EgStatus::Overlap);
        // outputs that alias each other
        let mut r = 0usize;
        assert_eq!(eg_shape(f.g, x, &mut r, &mut r), EgStatus::Overlap);
    }
    // still works, and w is unchanged
    assert_eq!(f.value(w, 4), [1.0, 0.0, 0.0, 1.0]);
    let ok = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    assert_eq!(unsafe { eg_feed(f.g, x, ok.as_ptr(), 6) }, EgStatus::Ok);
    assert_eq!(unsafe { eg_run(f.g, xw) }, EgStatus::Ok);
    assert_eq!(f.value(xw, 6), ok);
    assert_eq!(out, 12345, "no failed call wrote its output");
}

#[test]
fn capacity_errors_leave_the_graph_usable() {
    let f = Fixture::new();
    let mut n = 0;
    let big = EG_SCALARS + 1;
    let st = unsafe { eg_placeholder(f.g, 1, big.min(65_535), &mut n) };
    if big <= 65_535 {
        assert_eq!(st, EgStatus::ScalarCapacity);
    }
    let x = f.placeholder(1, 1);
    let mut last = x;
    for _ in 1..EG_NODES {
        last = f.op(EgOp::Negative, &[last]);
    }
    assert_eq!(
        unsafe { eg_negative(f.g, last, &mut n) },
        EgStatus::NodeCapacity
    );
    assert_eq!(f.last().expected, EG_NODES);
    assert_eq!(
        unsafe { eg_feed(f.g, x, [2.0f32].as_ptr(), 1) },
        EgStatus::Ok
    );
    assert_eq!(unsafe { eg_run(f.g, last) }, EgStatus::Ok);
    let sign = if (EG_NODES - 1).is_multiple_of(2) {
        2.0
    } else {
        -2.0
    };
    assert_eq!(f.value(last, 1), [sign]);
    // clear: old handles become foreign, the graph is empty and usable
    assert_eq!(unsafe { eg_graph_clear(f.g) }, EgStatus::Ok);
    assert_eq!(unsafe { eg_run(f.g, x) }, EgStatus::ForeignNode);
    let y = f.placeholder(1, 1);
    assert_ne!(x, y);
}

/// A byte copy of a graph at another address shares the original's tag: it is refused (MOVED)
/// by every call until `eg_graph_init`, and copied back to where it was initialised it is the
/// graph again.
#[test]
fn a_copied_graph_is_refused_until_initialised() {
    let f = Fixture::new();
    let x = f.placeholder(1, 2);
    let y = f.op(EgOp::Negative, &[x]);
    let copy = Fixture::new();
    let saved = Fixture::new();
    let size = size_of::<EgGraphStorage>();
    unsafe {
        ptr::copy_nonoverlapping(f.mem.cast::<u8>(), copy.mem.cast::<u8>(), size);
        ptr::copy_nonoverlapping(f.mem.cast::<u8>(), saved.mem.cast::<u8>(), size);
    }
    let (mut n, mut rows, mut cols, mut info) = (0, 0, 0, EgErrorInfo::NONE);
    unsafe {
        assert_eq!(eg_run(copy.g, y), EgStatus::Moved);
        assert_eq!(eg_shape(copy.g, x, &mut rows, &mut cols), EgStatus::Moved);
        assert_eq!(eg_negative(copy.g, y, &mut n), EgStatus::Moved);
        assert_eq!(eg_graph_clear(copy.g), EgStatus::Moved);
        assert_eq!(eg_graph_last_error(copy.g, &mut info), EgStatus::Moved);
        assert_eq!((n, rows, cols), (0, 0, 0));
        // the original is untouched and works
        assert_eq!(eg_feed(f.g, x, [1.0f32, -2.0].as_ptr(), 2), EgStatus::Ok);
        assert_eq!(eg_run(f.g, y), EgStatus::Ok);
        // initialised again, the copy is a graph of its own: the original's handles are foreign
        let mut g = ptr::null_mut();
        assert_eq!(eg_graph_init(copy.mem.cast(), size, &mut g), EgStatus::Ok);
        assert_eq!(g, copy.g);
        assert_eq!(eg_run(copy.g, y), EgStatus::ForeignNode);
        assert_ne!(copy.placeholder(1, 1) >> 16, x >> 16, "a fresh tag");
        // a copy restored at its own address is the graph as it was
        assert_eq!(eg_graph_clear(f.g), EgStatus::Ok);
        assert_eq!(eg_run(f.g, y), EgStatus::ForeignNode);
        ptr::copy_nonoverlapping(saved.mem.cast::<u8>(), f.mem.cast::<u8>(), size);
        assert_eq!(eg_run(saved.g, y), EgStatus::Moved);
        assert_eq!(eg_shape(f.g, x, &mut rows, &mut cols), EgStatus::Ok);
        assert_eq!((rows, cols), (1, 2));
    }
}

/// A handle with tag 0 (index 1, say) names no node; it is not another graph's.
#[test]
fn a_handle_with_tag_0_is_unknown() {
    let f = Fixture::new();
    let x = f.placeholder(1, 2);
    f.op(EgOp::Negative, &[x]);
    let mut out = 0;
    for h in [0, 1, x & 0xFFFF] {
        assert_eq!(
            unsafe { eg_negative(f.g, h, &mut out) },
            EgStatus::UnknownNode
        );
        assert_eq!(f.last().node, h);
    }
    assert_eq!(out, 0);
}

#[test]
fn optimizer_checks() {
    let f = Fixture::new();
    let w = f.variable(1, 1, &[3.0]);
    let sq = f.op(EgOp::Multiply, &[w, w]);
    let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
    let mut l = 0.0;
    unsafe {
        assert_eq!(
            eg_minimize(&mut opt, f.g, sq, &mut l),
            EgStatus::NotInitialised
        );
        assert_eq!(eg_sgd_init(&mut opt, f32::NAN), EgStatus::InvalidArgument);
        assert_eq!(eg_sgd_init(&mut opt, -0.1), EgStatus::InvalidArgument);
        assert_eq!(eg_sgd_init(ptr::null_mut(), 0.1), EgStatus::NullPointer);
        assert_eq!(eg_sgd_init(&mut opt, 0.25), EgStatus::Ok);
        assert_eq!(eg_minimize(&mut opt, f.g, sq, &mut l), EgStatus::Ok);
        assert_eq!(l, 9.0);
        assert_eq!(f.value(w, 1), [1.5]); // 3 − 0.25 · 6
        assert_eq!(eg_optimizer_set_learning_rate(&mut opt, 0.5), EgStatus::Ok);
        assert_eq!(eg_forward_backward(f.g, sq, &mut l), EgStatus::Ok);
        assert_eq!(eg_optimizer_step(&mut opt, f.g), EgStatus::Ok);
        assert_eq!(f.value(w, 1), [0.0]); // 1.5 − 0.5 · 3
                                          // an optimizer inside the graph's memory is refused
        let inside = f.g.cast::<EgOptimizer>().add(1);
        assert_eq!(eg_optimizer_step(inside, f.g), EgStatus::Overlap);
    }
}

/// Draws mlp_xor's data and initial weights as SEED-EXAMPLES.md specifies.
fn mlp_xor_data() -> (Vec<f32>, Vec<f32>, Vec<u8>, Vec<f32>) {
    let ex = Example::MlpXor;
    let (mut xs, mut cs, mut labels) = (vec![0.0f32; 200], vec![0.0f32; 200], vec![0u8; 100]);
    let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
    let mut params = Vec::new();
    ex.init_params(&mut rng, |_, _, _, v| params.push(v as f32));
    assert_eq!(params.len(), 12);
    (xs, cs, labels, params)
}

/// mlp_xor through the C API, in the insertion order of `seed::build`: (fixture, x, c, p, loss).
fn mlp_xor_c_api(p: &[f32]) -> (Fixture, EgNode, EgNode, EgNode, EgNode) {
    let f = Fixture::new();
    let x = f.placeholder(100, 2);
    let c = f.placeholder(100, 2);
    let w1 = f.variable(2, 2, &p[0..4]);
    let b1 = f.variable(1, 2, &p[4..6]);
    let h = f.op(EgOp::Matmul, &[x, w1]);
    let h = f.op(EgOp::Add, &[h, b1]);
    let h = f.op(EgOp::Sigmoid, &[h]);
    let w2 = f.variable(2, 2, &p[6..10]);
    let b2 = f.variable(1, 2, &p[10..12]);
    let o = f.op(EgOp::Matmul, &[h, w2]);
    let o = f.op(EgOp::Add, &[o, b2]);
    let prob = f.op(EgOp::Softmax, &[o]);
    let lp = f.op(EgOp::Log, &[prob]);
    let cl = f.op(EgOp::Multiply, &[c, lp]);
    let rows = f.op(EgOp::ReduceSumCols, &[cl]);
    let total = f.op(EgOp::ReduceSum, &[rows]);
    let loss = f.op(EgOp::Negative, &[total]);
    (f, x, c, prob, loss)
}

#[test]
fn mlp_xor_through_the_c_api_matches_the_rust_trainer() {
    let (xs, cs, labels, p) = mlp_xor_data();

    // The reference: embedgrad-data's seed trainer (full batch of 100).
    let mut g: Box<StdGraph<f32, 32, 8192>> = Box::new(StdGraph::new());
    let (mut rxs, mut rcs, mut rl) = (vec![0.0f32; 200], vec![0.0f32; 200], vec![0u8; 100]);
    let mut rng = seed::fill(Example::MlpXor, &mut rxs, &mut rcs, &mut rl).unwrap();
    let mut reference = Vec::new();
    let out = seed::train::<_, _, 32, 8192, 100>(
        Example::MlpXor,
        &mut g,
        &mut rng,
        &rxs,
        &rcs,
        &rl,
        |s, l| reference.push((s, l)),
    )
    .unwrap();

    // The same net through the C API, in the same insertion order as `seed::build`.
    let (f, x, c, prob, loss) = mlp_xor_c_api(&p);
    let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
    let mut losses = Vec::new();
    unsafe {
        assert_eq!(eg_feed(f.g, x, xs.as_ptr(), 200), EgStatus::Ok);
        assert_eq!(eg_feed(f.g, c, cs.as_ptr(), 200), EgStatus::Ok);
        assert_eq!(eg_sgd_init(&mut opt, 0.03), EgStatus::Ok);
        for step in 0..1000 {
            let mut l = 0.0;
            assert_eq!(eg_minimize(&mut opt, f.g, loss, &mut l), EgStatus::Ok);
            if step % 10 == 0 {
                losses.push((step, l));
            }
        }
        assert_eq!(eg_run_many(f.g, [loss, prob].as_ptr(), 2), EgStatus::Ok);
    }
    let final_loss = f.value(loss, 1)[0];
    losses.push((1000, final_loss));
    let probs = f.value(prob, 200);
    let correct = probs
        .chunks(2)
        .zip(&labels)
        .filter(|(p, l)| usize::from(p[1] > p[0]) == usize::from(**l))
        .count();
    assert_eq!(losses, reference, "the whole loss curve, bit for bit");
    assert_eq!(final_loss, out.final_loss);
    assert_eq!(correct, out.correct);
}

#[test]
fn micro_batches_give_the_full_batch_step() {
    // One step of mlp_xor's first layer on 100 points: 4 micro-batches of 25 through
    // `eg_step_accumulated` against the full batch through `eg_minimize`.
    let (xs, cs, _, p) = mlp_xor_data();
    let build = |b: usize| {
        let f = Fixture::new();
        let x = f.placeholder(b, 2);
        let c = f.placeholder(b, 2);
        let w = f.variable(2, 2, &p[0..4]);
        let bias = f.variable(1, 2, &p[4..6]);
        let h = f.op(EgOp::Matmul, &[x, w]);
        let h = f.op(EgOp::Add, &[h, bias]);
        let prob = f.op(EgOp::Softmax, &[h]);
        let lp = f.op(EgOp::Log, &[prob]);
        let cl = f.op(EgOp::Multiply, &[c, lp]);
        let s = f.op(EgOp::ReduceSum, &[cl]);
        let loss = f.op(EgOp::Negative, &[s]);
        (f, x, c, w, loss)
    };
    let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
    assert_eq!(unsafe { eg_sgd_init(&mut opt, 0.03) }, EgStatus::Ok);
    let (full, x, c, w, loss) = build(100);
    let (mut l_full, mut l_micro) = (0.0, 0.0);
    unsafe {
        assert_eq!(eg_feed(full.g, x, xs.as_ptr(), 200), EgStatus::Ok);
        assert_eq!(eg_feed(full.g, c, cs.as_ptr(), 200), EgStatus::Ok);
        assert_eq!(
            eg_minimize(&mut opt, full.g, loss, &mut l_full),
            EgStatus::Ok
        );
    }
    let (micro, mx, mc, mw, mloss) = build(25);
    unsafe {
        let st = eg_step_accumulated(
            &mut opt,
            micro.g,
            mx,
            mc,
            mloss,
            xs.as_ptr(),
            200,
            cs.as_ptr(),
            200,
            &mut l_micro,
        );
        assert_eq!(st, EgStatus::Ok);
        let st = eg_accumulate(
            micro.g,
            mx,
            mc,
            mloss,
            xs.as_ptr(),
            199,
            cs.as_ptr(),
            200,
            &mut l_micro,
        );
        assert_eq!(st, EgStatus::LengthMismatch);
    }
    assert!(
        (l_full - l_micro).abs() <= 1e-5 * l_full.abs(),
        "{l_full} {l_micro}"
    );
    for (a, b) in full.value(w, 4).iter().zip(micro.value(mw, 4)) {
        assert!((a - b).abs() <= 1e-6, "{a} {b}");
    }
}

#[test]
fn every_op_value_maps_to_its_op() {
    use embedgrad_core::Op;
    let want = [
        (EgOp::Negative, "negative"),
        (EgOp::Log, "log"),
        (EgOp::Sigmoid, "sigmoid"),
        (EgOp::Multiply, "multiply"),
        (EgOp::Matmul, "matmul"),
        (EgOp::Add, "add"),
        (EgOp::ReduceSum, "reduce_sum"),
        (EgOp::ReduceSumRows, "reduce_sum"),
        (EgOp::ReduceSumCols, "reduce_sum"),
        (EgOp::Softmax, "softmax"),
        (EgOp::Subtract, "subtract"),
        (EgOp::Exp, "exp"),
        (EgOp::Square, "square"),
        (EgOp::Scale, "scale"),
        (EgOp::Mean, "mean"),
        (EgOp::MeanRows, "mean"),
        (EgOp::MeanCols, "mean"),
        (EgOp::Relu, "relu"),
        (EgOp::LeakyRelu, "leaky_relu"),
        (EgOp::Tanh, "tanh"),
        (EgOp::SoftmaxCrossEntropy, "softmax_cross_entropy"),
        (
            EgOp::SparseSoftmaxCrossEntropy,
            "sparse_softmax_cross_entropy",
        ),
        (
            EgOp::SigmoidBinaryCrossEntropy,
            "sigmoid_binary_cross_entropy",
        ),
        (EgOp::Mse, "mse"),
    ];
    for (i, (op, name)) in want.iter().enumerate() {
        assert_eq!(*op as u32, i as u32 + 1, "values are consecutive from 1");
        let takes_param = matches!(op, EgOp::Scale | EgOp::LeakyRelu);
        let p = if takes_param { 0.5 } else { 0.0 };
        let std = ops::std_op(*op as u32, p).unwrap();
        assert_eq!(Op::<f32>::name(&std), *name);
        let wrong = if takes_param { f32::NAN } else { 0.5 };
        assert!(ops::std_op(*op as u32, wrong).is_err());
    }
    assert!(ops::std_op(0, 0.0).is_err());
    assert!(ops::std_op(want.len() as u32 + 1, 0.0).is_err());
}

#[test]
fn parametrised_and_axis_ops_compute_their_values() {
    let f = Fixture::new();
    let mut x = 0;
    let v = [-2.0f32, 1.0, 3.0, -4.0];
    unsafe {
        assert_eq!(eg_constant(f.g, 2, 2, v.as_ptr(), 4, &mut x), EgStatus::Ok);
    }
    let mut n = [0; 6];
    unsafe {
        assert_eq!(eg_scale(f.g, x, 2.5, &mut n[0]), EgStatus::Ok);
        assert_eq!(eg_leaky_relu(f.g, x, 0.25, &mut n[1]), EgStatus::Ok);
        assert_eq!(
            eg_mean(f.g, x, EgAxis::Rows as u32, &mut n[2]),
            EgStatus::Ok
        );
        assert_eq!(
            eg_mean(f.g, x, EgAxis::Cols as u32, &mut n[3]),
            EgStatus::Ok
        );
        assert_eq!(eg_subtract(f.g, x, x, &mut n[4]), EgStatus::Ok);
        assert_eq!(eg_mse(f.g, x, n[4], &mut n[5]), EgStatus::Ok);
        let mut bad = 0;
        assert_eq!(
            eg_scale(f.g, x, f32::INFINITY, &mut bad),
            EgStatus::InvalidArgument
        );
        assert_eq!(eg_mean(f.g, x, 9, &mut bad), EgStatus::InvalidArgument);
        assert_eq!(eg_run_many(f.g, n.as_ptr(), 6), EgStatus::Ok);
    }
    assert_eq!(f.value(n[0], 4), [-5.0, 2.5, 7.5, -10.0]);
    assert_eq!(f.value(n[1], 4), [-0.5, 1.0, 3.0, -1.0]);
    assert_eq!(f.value(n[2], 2), [0.5, -1.5]);
    assert_eq!(f.value(n[3], 2), [-0.5, -0.5]);
    assert_eq!(f.value(n[5], 1), [(4.0 + 1.0 + 9.0 + 16.0) / 4.0]);
}

/// 200 steps of mlp_xor with an optimizer of embedgrad-train and with the C API's: the losses
/// and the final weights must agree bit for bit.
fn same_as_train(
    mut rust: impl embedgrad_train::Optimizer<f32>,
    init: impl FnOnce(*mut EgOptimizer, *mut f32, usize) -> EgStatus,
    state_len: usize,
) {
    use embedgrad_train::minimize;
    let (xs, cs, _, p) = mlp_xor_data();
    // embedgrad-train
    let mut g: Box<StdGraph<f32, 32, 8192>> = Box::new(StdGraph::new());
    let (mut rxs, mut rcs, mut rl) = (vec![0.0f32; 200], vec![0.0f32; 200], vec![0u8; 100]);
    let mut rng = seed::fill(Example::MlpXor, &mut rxs, &mut rcs, &mut rl).unwrap();
    let net = seed::build::<_, _, 32, 8192, 100>(Example::MlpXor, &mut g, &mut rng).unwrap();
    g.feed_slice(net.x.id(), &rxs).unwrap();
    g.feed_slice(net.c.id(), &rcs).unwrap();
    let want: Vec<f32> = (0..200)
        .map(|_| minimize(&mut rust, &mut g, net.loss).unwrap())
        .collect();
    // the C API
    let (f, x, c, _, loss) = mlp_xor_c_api(&p);
    let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
    let mut state = vec![f32::NAN; state_len];
    assert_eq!(
        init(&mut opt, state.as_mut_ptr(), state.len()),
        EgStatus::Ok
    );
    assert!(state.iter().all(|v| *v == 0.0), "the state is zeroed");
    unsafe {
        assert_eq!(eg_feed(f.g, x, xs.as_ptr(), 200), EgStatus::Ok);
        assert_eq!(eg_feed(f.g, c, cs.as_ptr(), 200), EgStatus::Ok);
    }
    let got: Vec<f32> = (0..200)
        .map(|_| {
            let mut l = 0.0;
            assert_eq!(
                unsafe { eg_minimize(&mut opt, f.g, loss, &mut l) },
                EgStatus::Ok
            );
            l
        })
        .collect();
    assert_eq!(got, want);
    assert!(got[199] < got[0]);
    // the weights (variables are nodes 2, 3, 7, 8 in both graphs)
    for (k, idx) in [2u32, 3, 7, 8].into_iter().enumerate() {
        let id = g.node_at(idx as usize).unwrap();
        let n = f.value(shifted(x, idx), g.shape(id).unwrap().len().unwrap());
        assert_eq!(n, g.value_slice(id).unwrap(), "variable {k}");
    }
    assert!(state.iter().any(|v| *v != 0.0), "state in use");
}

/// A handle of the same graph as `h` with index `index`.
fn shifted(h: EgNode, index: u32) -> EgNode {
    (h & !0xFFFF) | EgNode::from(index)
}

#[test]
fn momentum_nesterov_and_adam_match_embedgrad_train() {
    use embedgrad_train::{Adam, Momentum};
    same_as_train(
        Momentum::<f32, 12>::new(0.01, 0.9),
        |o, s, n| unsafe { eg_momentum_init(o, 0.01, 0.9, 0, s, n) },
        12,
    );
    same_as_train(
        Momentum::<f32, 12>::nesterov(0.01, 0.9),
        |o, s, n| unsafe { eg_momentum_init(o, 0.01, 0.9, 1, s, n) },
        12,
    );
    same_as_train(
        Adam::<f32, 12>::new(0.05),
        |o, s, n| unsafe { eg_adam_init(o, 0.05, 0.9, 0.999, 1e-8, s, n) },
        24,
    );
    // a state larger than needed changes nothing
    same_as_train(
        Adam::<f32, 12>::with(0.05, 0.8, 0.99, 1e-6),
        |o, s, n| unsafe { eg_adam_init(o, 0.05, 0.8, 0.99, 1e-6, s, n) },
        24,
    );
}

#[test]
fn optimizer_state_checks() {
    let f = Fixture::new();
    let w = f.variable(1, 3, &[1.0, 2.0, 3.0]);
    let sq = f.op(EgOp::Square, &[w]);
    let loss = f.op(EgOp::ReduceSum, &[sq]);
    let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
    let mut state = [7.0f32; 8];
    let mut n = 99;
    let mut l = -1.0;
    unsafe {
        assert_eq!(
            eg_optimizer_state_len(EgOptimizerKind::Sgd as u32, 3, &mut n),
            EgStatus::Ok
        );
        assert_eq!(n, 0);
        assert_eq!(
            eg_optimizer_state_len(EgOptimizerKind::Nesterov as u32, 3, &mut n),
            EgStatus::Ok
        );
        assert_eq!(n, 3);
        assert_eq!(
            eg_optimizer_state_len(EgOptimizerKind::Adam as u32, 3, &mut n),
            EgStatus::Ok
        );
        assert_eq!(n, 6);
        assert_eq!(
            eg_optimizer_state_len(9, 3, &mut n),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_optimizer_state_len(EgOptimizerKind::Adam as u32, usize::MAX, &mut n),
            EgStatus::InvalidArgument
        );
        assert_eq!(n, 6);
        // invalid hyper-parameters leave opt and state alone
        let s = state.as_mut_ptr();
        assert_eq!(
            eg_momentum_init(&mut opt, 0.1, 1.0, 0, s, 3),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_momentum_init(&mut opt, 0.1, 0.9, 2, s, 3),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_momentum_init(ptr::null_mut(), 0.1, 0.9, 2, s, 3),
            EgStatus::NullPointer
        );
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, 0.999, -1e-8, s, 6),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, -0.1, 0.999, 1e-8, s, 6),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, f32::NAN, 1e-8, s, 6),
            EgStatus::InvalidArgument
        );
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, 0.999, 1e-8, ptr::null_mut(), 6),
            EgStatus::NullPointer
        );
        let inside = ptr::from_mut(&mut opt).cast::<f32>();
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, 0.999, 1e-8, inside, 6),
            EgStatus::Overlap
        );
        assert_eq!(state, [7.0; 8]);
        assert_eq!(opt.magic, 0);
        // too small a state: refused before anything changes
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, 0.999, 1e-8, s, 5),
            EgStatus::Ok
        );
        assert_eq!(
            eg_minimize(&mut opt, f.g, loss, &mut l),
            EgStatus::BufferTooSmall
        );
        assert_eq!(l, -1.0);
        assert_eq!(f.value(w, 3), [1.0, 2.0, 3.0]);
        assert_eq!(opt.updates, 0);
        // a state inside the graph is refused
        assert_eq!(
            eg_momentum_init(&mut opt, 0.1, 0.5, 0, f.g.cast::<f32>().add(64), 3),
            EgStatus::Ok
        );
        assert_eq!(eg_optimizer_step(&mut opt, f.g), EgStatus::Overlap);
        // a state over the loss output is refused
        assert_eq!(eg_momentum_init(&mut opt, 0.1, 0.5, 0, s, 3), EgStatus::Ok);
        assert_eq!(
            eg_minimize(&mut opt, f.g, loss, s.add(1)),
            EgStatus::Overlap
        );
        // momentum: v = d = 2w, w -= 0.1 v
        assert_eq!(eg_minimize(&mut opt, f.g, loss, &mut l), EgStatus::Ok);
        assert_eq!(l, 14.0);
        assert_eq!(state[..3], [2.0, 4.0, 6.0]);
        assert_eq!(f.value(w, 3), [0.8, 1.6, 2.4]);
        assert_eq!(opt.updates, 1);
        assert_eq!(eg_optimizer_reset(&mut opt), EgStatus::Ok);
        assert_eq!(state[..3], [0.0; 3]);
        assert_eq!(opt.updates, 0);
        assert_eq!(eg_optimizer_set_learning_rate(&mut opt, 0.2), EgStatus::Ok);
        assert_eq!(opt.learning_rate, 0.2);
        // a corrupted kind or hyper-parameter is refused at use
        opt.beta1 = 2.0;
        assert_eq!(eg_optimizer_step(&mut opt, f.g), EgStatus::InvalidArgument);
        opt.kind = 77;
        assert_eq!(eg_optimizer_reset(&mut opt), EgStatus::NotInitialised);
    }
}

/// A RAM flash for the checkpoint tests: 2 KiB of 1 KiB sectors.
struct RamFlash([u8; 2048]);

unsafe extern "C" fn ram_read(
    ctx: *mut core::ffi::c_void,
    off: u32,
    buf: *mut u8,
    len: usize,
) -> i32 {
    let f = unsafe { &*ctx.cast::<RamFlash>() };
    unsafe { ptr::copy_nonoverlapping(f.0.as_ptr().add(off as usize), buf, len) };
    0
}

unsafe extern "C" fn ram_write(
    ctx: *mut core::ffi::c_void,
    off: u32,
    data: *const u8,
    len: usize,
) -> i32 {
    let f = unsafe { &mut *ctx.cast::<RamFlash>() };
    assert!(off.is_multiple_of(32) && len.is_multiple_of(32));
    for i in 0..len {
        f.0[off as usize + i] &= unsafe { data.add(i).read() };
    }
    0
}

unsafe extern "C" fn ram_erase(ctx: *mut core::ffi::c_void, from: u32, to: u32) -> i32 {
    let f = unsafe { &mut *ctx.cast::<RamFlash>() };
    assert!(from.is_multiple_of(1024) && to.is_multiple_of(1024) && from < to);
    f.0[from as usize..to as usize].fill(0xFF);
    0
}

/// A checkpoint saved through the C API is a record of `embedgrad-train`'s format that
/// restores into the same Rust model and optimizer — the fingerprints and the state layout
/// are the Rust optimizers' own — and not into another optimizer.
#[test]
#[cfg_attr(miri, ignore)] // the Rust optimizers' minimize path reaches inline assembly Miri cannot run
fn c_checkpoints_restore_into_rust_optimizers() {
    use embedgrad_core::Matrix;
    use embedgrad_train::checkpoint::{restore_from_slice, RestoreError};
    use embedgrad_train::{Adam, Momentum, Optimizer};
    for kind in 0..3 {
        let f = Fixture::new();
        let w = f.variable(1, 2, &[3.0, -1.0]);
        let sq = f.op(EgOp::Square, &[w]);
        let loss = f.op(EgOp::ReduceSum, &[sq]);
        let mut state = [0.0f32; 4];
        let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
        let st = match kind {
            0 => unsafe { eg_momentum_init(&mut opt, 0.1, 0.9, 0, state.as_mut_ptr(), 2) },
            1 => unsafe { eg_momentum_init(&mut opt, 0.1, 0.9, 1, state.as_mut_ptr(), 2) },
            _ => unsafe { eg_adam_init(&mut opt, 0.1, 0.9, 0.999, 1e-8, state.as_mut_ptr(), 4) },
        };
        assert_eq!(st, EgStatus::Ok);
        let mut l = 0.0;
        for _ in 0..3 {
            assert_eq!(
                unsafe { eg_minimize(&mut opt, f.g, loss, &mut l) },
                EgStatus::Ok
            );
        }
        let mut ram = Box::new(RamFlash([0xFF; 2048]));
        let fl = EgFlash {
            ctx: ptr::from_mut(&mut *ram).cast(),
            read: Some(ram_read),
            write: Some(ram_write),
            erase: Some(ram_erase),
            capacity: 2048,
            erase_size: 1024,
        };
        let mut seq = 0;
        let st = unsafe { eg_checkpoint_save(f.g, &mut opt, &fl, 0, 1024, &mut seq) };
        assert_eq!((st, seq), (EgStatus::Ok, 1));
        let mut c = [0.0f32; 2];
        assert_eq!(unsafe { eg_value(f.g, w, c.as_mut_ptr(), 2) }, EgStatus::Ok);

        let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
        let v = g.variable(&Matrix::new([[0.0f32, 0.0]])).unwrap();
        let s = g.square(v).unwrap();
        g.reduce_sum(s).unwrap();
        let record = &ram.0[..1024];
        let other = if kind < 2 {
            restore_from_slice(&mut g, &mut Momentum::<f32, 2>::new(0.1, 0.8), record)
        } else {
            restore_from_slice(
                &mut g,
                &mut Adam::<f32, 2>::with(0.1, 0.8, 0.999, 1e-8),
                record,
            )
        };
        assert!(
            matches!(other, Err(RestoreError::OtherOptimizer { .. })),
            "{other:?}"
        );
        let info = match kind {
            0 => {
                let mut m = Momentum::<f32, 2>::new(0.1, 0.9);
                let i = restore_from_slice(&mut g, &mut m, record).unwrap();
                assert_eq!(m.state(), &state[..2]);
                i
            }
            1 => {
                let mut m = Momentum::<f32, 2>::nesterov(0.1, 0.9);
                let i = restore_from_slice(&mut g, &mut m, record).unwrap();
                assert_eq!(m.state(), &state[..2]);
                i
            }
            _ => {
                let mut a = Adam::<f32, 2>::with(0.1, 0.9, 0.999, 1e-8);
                let i = restore_from_slice(&mut g, &mut a, record).unwrap();
                assert_eq!(a.state(), &state[..]);
                assert_eq!(a.update_count(), 3);
                i
            }
        };
        assert_eq!((info.sequence, info.update_count), (1, 3));
        assert_eq!(g.value_slice(v.id()).unwrap(), &c[..]);
    }
}

/// C and Rust accept and refuse the same optimizer settings: the C API checks them with the
/// Rust optimizers' own `validate`.
#[test]
fn c_and_rust_validate_optimizer_settings_alike() {
    use embedgrad_train::{Adam, GradientDescent, Momentum};
    let values = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -1.0,
        -1e-30,
        -0.0,
        0.0,
        1e-30,
        1e-8,
        0.5,
        0.999,
        1.0,
        1.5,
    ];
    let mut state = [0.0f32; 8];
    let mut opt: EgOptimizer = unsafe { core::mem::zeroed() };
    let (mut accepted, mut refused) = (0, 0);
    let mut tally = |c: EgStatus, rust: bool, what: &str| {
        let ok = c == EgStatus::Ok;
        assert_eq!(ok, rust, "{what}: C {c:?}, Rust accepts: {rust}");
        if !ok {
            assert_eq!(c, EgStatus::InvalidArgument, "{what}");
            refused += 1;
        } else {
            accepted += 1;
        }
    };
    for &a in &values {
        let c = unsafe { eg_sgd_init(&mut opt, a) };
        tally(c, GradientDescent::try_new(a).is_ok(), &format!("sgd {a}"));
        for &b in &values {
            for nesterov in [0, 1] {
                let m = if nesterov == 1 {
                    Momentum::<f32, 4>::nesterov(a, b)
                } else {
                    Momentum::<f32, 4>::new(a, b)
                };
                let rust = m.validate().is_ok();
                let c = unsafe {
                    eg_momentum_init(&mut opt, a, b, nesterov, state.as_mut_ptr(), state.len())
                };
                tally(c, rust, &format!("momentum {a} {b} {nesterov}"));
            }
        }
        // Adam: each setting over every value, the others at the paper's defaults.
        let d = [0.01, 0.9, 0.999, 1e-8];
        for at in 0..4 {
            let mut s = d;
            s[at] = a;
            let [lr, b1, b2, eps] = s;
            let rust = Adam::<f32, 4>::with(lr, b1, b2, eps).validate().is_ok();
            let c = unsafe { eg_adam_init(&mut opt, lr, b1, b2, eps, state.as_mut_ptr(), 8) };
            tally(c, rust, &format!("adam {s:?}"));
        }
    }
    assert_eq!(accepted + refused, 13 + 13 * 13 * 2 + 13 * 4);
    assert!(accepted > 0 && refused > 0);
    // The edges as documented: a learning rate and an epsilon of 0 are accepted, -1e-30 is not.
    unsafe {
        assert_eq!(eg_sgd_init(&mut opt, 0.0), EgStatus::Ok);
        assert_eq!(eg_sgd_init(&mut opt, -1e-30), EgStatus::InvalidArgument);
        let p = state.as_mut_ptr();
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, 0.999, 0.0, p, 8),
            EgStatus::Ok
        );
        assert_eq!(
            eg_adam_init(&mut opt, 0.1, 0.9, 0.999, -1e-8, p, 8),
            EgStatus::InvalidArgument
        );
        assert_eq!(eg_optimizer_set_learning_rate(&mut opt, 0.0), EgStatus::Ok);
        assert_eq!(
            eg_optimizer_set_learning_rate(&mut opt, f32::NAN),
            EgStatus::InvalidArgument
        );
    }
}
