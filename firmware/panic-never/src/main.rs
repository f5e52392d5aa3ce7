//! # panic-never gate for embedgrad-core, embedgrad-ops and embedgrad-train
//!
//! A release firmware for the Cortex-M4F that drives the public API of `embedgrad-core` (this
//! file), `embedgrad-ops` ([`ops`]) and `embedgrad-train` ([`train`]) with inputs the optimizer
//! cannot see through (`core::hint::black_box`). Its panic handler is
//! `panic-never`'s, which refers to a symbol that does not exist: the firmware **links only if
//! no panic path remains** in the code it calls. Build it with
//!
//! ```text
//! cargo build --release -p embedgrad-panic-never --target thumbv7em-none-eabihf
//! ```
//!
//! A failed link names no culprit; to find it, swap `panic_never` for a panic handler that
//! links (e.g. `loop {}`) and look for calls into `core::panicking` in
//! `arm-none-eabi-objdump -dC` of the binary (see the firmware README).
//!
//! It also runs in QEMU (`mps2-an386`) and exits 0 when the results are right, and 2, 3, 4 or
//! 5 when the core, ops, train or int8 ([`quant`]) part returns an error or a wrong result.
#![no_std]
#![no_main]

mod ops;
mod quant;
mod train;

use core::hint::black_box;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use embedgrad_core::{
    expect_arity, Error, Graph, MatMut, MatRef, Matrix, NodeId, NodeKind, Op, Shape, Tensor,
};
#[cfg(feature = "gate")]
use panic_never as _;

/// Without the gate: a handler that links, so panic paths can be located (see the crate docs).
#[cfg(not(feature = "gate"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    semihosting::process::exit(101)
}

// `cortex-m`'s critical-section implementation (no direct use otherwise).
use cortex_m as _;

/// A small op set written like the real ones: iterators and `get`, never indexing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateOp {
    /// `a − b`.
    Sub,
    /// `x²`.
    Square,
    /// `x · w` for a 1×N row `x` and an N×M matrix `w`.
    RowMatMul,
    /// Sum of all entries, 1×1.
    Sum,
}

impl Op<f32> for GateOp {
    fn name(&self) -> &'static str {
        match self {
            Self::Sub => "sub",
            Self::Square => "square",
            Self::RowMatMul => "row_matmul",
            Self::Sum => "sum",
        }
    }

    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        match (self, s) {
            (Self::Sub, [a, b]) if a == b => Ok(*a),
            (Self::Sub, [a, b]) => Err(Error::ShapeMismatch {
                expected: *a,
                found: *b,
            }),
            (Self::Square, [a]) => Ok(*a),
            (Self::RowMatMul, [x, w]) if x.rows == 1 && x.cols == w.rows => {
                Ok(Shape::new(1, w.cols))
            }
            (Self::RowMatMul, [x, w]) => Err(Error::ShapeMismatch {
                expected: Shape::new(1, w.rows),
                found: *x,
            }),
            (Self::Sum, [_]) => Ok(Shape::new(1, 1)),
            (Self::Sub | Self::RowMatMul, _) => expect_arity(s, 2).map(|()| Shape::new(1, 1)),
            (Self::Square | Self::Sum, _) => expect_arity(s, 1).map(|()| Shape::new(1, 1)),
        }
    }

    fn forward(&self, x: &[MatRef<'_, f32>], mut y: MatMut<'_, f32>) {
        match (self, x) {
            (Self::Sub, [a, b]) => {
                for ((y, a), b) in y
                    .as_mut_slice()
                    .iter_mut()
                    .zip(a.as_slice())
                    .zip(b.as_slice())
                {
                    *y = a - b;
                }
            }
            (Self::Square, [a]) => {
                for (y, a) in y.as_mut_slice().iter_mut().zip(a.as_slice()) {
                    *y = a * a;
                }
            }
            (Self::RowMatMul, [x, w]) => {
                let y = y.as_mut_slice();
                y.fill(0.0);
                for (xi, row) in x.as_slice().iter().zip(w.row_iter()) {
                    for (y, wij) in y.iter_mut().zip(row) {
                        *y += xi * wij;
                    }
                }
            }
            (Self::Sum, [a]) => {
                if let Some(y) = y.as_mut_slice().first_mut() {
                    *y = a.as_slice().iter().sum();
                }
            }
            _ => {}
        }
    }

    fn backward(
        &self,
        index: usize,
        x: &[MatRef<'_, f32>],
        _y: MatRef<'_, f32>,
        dy: MatRef<'_, f32>,
        mut dx: MatMut<'_, f32>,
    ) {
        match (self, x, index) {
            (Self::Sub, _, i) => {
                let s = if i == 0 { 1.0 } else { -1.0 };
                for (g, d) in dx.as_mut_slice().iter_mut().zip(dy.as_slice()) {
                    *g += s * d;
                }
            }
            (Self::Square, [a], _) => {
                for ((g, a), d) in dx
                    .as_mut_slice()
                    .iter_mut()
                    .zip(a.as_slice())
                    .zip(dy.as_slice())
                {
                    *g += 2.0 * a * d;
                }
            }
            // d(x·w)/dx = dy · wᵀ
            (Self::RowMatMul, [_, w], 0) => {
                for (g, row) in dx.as_mut_slice().iter_mut().zip(w.row_iter()) {
                    *g += row
                        .iter()
                        .zip(dy.as_slice())
                        .map(|(w, d)| w * d)
                        .sum::<f32>();
                }
            }
            // d(x·w)/dw = xᵀ · dy
            (Self::RowMatMul, [x, _], _) => {
                for (row, xi) in dx.row_iter_mut().zip(x.as_slice()) {
                    for (g, d) in row.iter_mut().zip(dy.as_slice()) {
                        *g += xi * d;
                    }
                }
            }
            (Self::Sum, _, _) => {
                let d = dy.as_slice().first().copied().unwrap_or(0.0);
                for g in dx.as_mut_slice() {
                    *g += d;
                }
            }
            _ => {}
        }
    }
}

type G = Graph<f32, GateOp, 12, 64>;

/// Every fallible call goes through `?`: an error is a failed run, never a panic.
fn drive(g: &mut G) -> Result<bool, Error> {
    // Building.
    let x = g.placeholder::<1, 3>()?;
    let w = g.variable(&Matrix::<f32, 3, 2>::from_fn(|r, c| {
        black_box((r * 2 + c) as f32 * 0.1)
    }))?;
    let t = g.constant(&Matrix::new([[black_box(1.0), black_box(-1.0)]]))?;
    let y = g.op::<1, 2>(GateOp::RowMatMul, &[x.id(), w.id()])?;
    let d = g.op::<1, 2>(GateOp::Sub, &[y.id(), t.id()])?;
    let sq = g.op::<1, 2>(GateOp::Square, &[d.id()])?;
    let loss = g.op::<1, 1>(GateOp::Sum, &[sq.id()])?;
    let dyn_id = g.push_op(GateOp::Square, &[black_box(d.id())])?;
    let ph2 = g.placeholder_dyn(Shape::new(black_box(1), black_box(2)))?;
    let _v2 = g.variable_dyn(Shape::new(1, 2), black_box(&[0.5f32, 0.25][..]))?;
    let _c2 = g.constant_dyn(Shape::new(1, 1), black_box(&[2.0f32][..]))?;

    // Feeding.
    let xs = black_box([1.0f32, 2.0, -0.5]);
    g.feed(x, &Matrix::new([xs]))?;
    g.feed_slice(ph2, black_box(&[3.0f32, 4.0][..]))?;
    g.assign(t, &Matrix::new([[black_box(1.0), black_box(-1.0)]]))?;
    g.assign_slice(t.id(), black_box(&[1.0f32, -1.0][..]))?;

    // Running and reading.
    g.run(y.id())?;
    g.run_many(&[black_box(loss.id()), dyn_id])?;
    let yv = g.eval(y)?;
    let y_slice_len = g.value_slice(y.id())?.len();

    // Training: forward + backward, then plain gradient descent.
    let mut last = f32::INFINITY;
    for _ in 0..black_box(20) {
        last = g.forward_backward(loss)?;
        let lr = black_box(0.05f32);
        g.for_each_variable(|v| {
            for (w, gr) in v.value.iter_mut().zip(v.grad) {
                *w -= lr * gr;
            }
            Ok::<(), Error>(())
        })?;
    }
    g.zero_grads();
    g.backward_accumulate(loss)?;
    g.backward(loss)?;
    let gw = g.grad(w)?;
    let gw_slice = g.grad_slice(w.id())?;
    let reached = g.reached(w.id())?;

    // Handles and metadata, with indices the optimizer cannot see.
    let i = black_box(3usize);
    let some_id = g.node_at(i).unwrap_or(x.id());
    let shape = g.shape(some_id)?;
    let kind_ok = matches!(g.kind(w.id())?, NodeKind::Variable);
    let typed: Tensor<1, 2> = g.tensor(y.id())?;
    let raw = NodeId::from_raw(black_box(typed.id().to_raw()));
    let has = g.has_grad(raw)?;
    let bad = g
        .value_slice(NodeId::from_raw(black_box(0xFFFF_FFFF)))
        .is_err();
    let nvars = g.variables().count();
    let nscal = g.variable_scalars();
    let req = g.requirements();
    let stats = g.stats();

    // Matrix accessors.
    let mut m = Matrix::<f32, 2, 3>::splat(black_box(1.5));
    let set_in = m.set(black_box(1), black_box(2), 7.0);
    let set_out = m.set(black_box(5), black_box(0), 7.0);
    let got = m.get(black_box(1), black_box(2)).unwrap_or(0.0);
    let missing = m.get(black_box(9), black_box(9)).is_none();
    let from = Matrix::<f32, 1, 3>::from_slice(black_box(&[1.0f32, 2.0, 3.0][..]))?;
    let wrong = Matrix::<f32, 1, 3>::from_slice(black_box(&[1.0f32][..])).is_err();
    let cast = from.cast::<f64>();
    let rows = m.view().row_iter().count();
    m.as_mut_slice().fill(black_box(0.0));

    let ok = last.is_finite()
        && last < 1.0
        && yv.as_slice().len() == 2
        && y_slice_len == 2
        && gw.as_slice().len() == 6
        && gw_slice.len() == 6
        && reached
        && shape.len() == Some(2)
        && kind_ok
        && has
        && bad
        && nvars == 2
        && nscal == 8
        && req.nodes == g.len()
        && stats.forward_ops > 0
        && set_in
        && !set_out
        && got == 7.0
        && missing
        && wrong
        && cast.get(0, 2) == Some(3.0)
        && rows == 2
        && m.as_slice().iter().all(|v| *v == 0.0);
    g.clear();
    Ok(ok && g.is_empty())
}

#[entry]
fn main() -> ! {
    let code = if !matches!(drive(&mut G::new()), Ok(true)) {
        2
    } else if !matches!(ops::drive(&mut ops::OpsGraph::new()), Ok(true)) {
        3
    } else if !matches!(train::drive(&mut train::TrainGraph::new()), Ok(true)) {
        4
    } else if !matches!(quant::drive(), Ok(true)) {
        5
    } else {
        0
    };
    semihosting::process::exit(code)
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    semihosting::process::exit(3)
}
