//! The training workloads the firmwares run: one [`Example`] per firmware binary.
//!
//! **Placeholder.** Until `embedgrad-ops` and `embedgrad-train` land, the only example is
//! [`PLACEHOLDER`]: a least-squares fit `w ← w − lr·∇‖w − t‖²` written with nothing but
//! `embedgrad-core` (three custom ops and hand-written gradient descent through
//! [`Graph::for_each_variable`]). It exercises the whole pipeline — build, QEMU run, defmt log,
//! exit status, instruction count, size, stack — on every board.
//!
//! To add a seed example (`perceptron`, `mlp_xor`, `spiral_deep`): write
//! `fn train_<name>(bench: &mut Bench) -> Result<Outcome, Failure>` here (or in a submodule),
//! wrapping each training step in [`Bench::step`]; add `pub const <NAME>: Example`; add
//! `src/bin/<name>.rs` and `tests/<name>.rs` (one `firmware!` line each, plus `[[bin]]`/`[[test]]`
//! entries in Cargo.toml); add its lines to `budgets.toml`. ci.sh picks it up from `src/bin/`.

use crate::{Bench, Example, Failure, Outcome};
use core::hint::black_box;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Matrix, Op, Shape, Tensor};

/// The placeholder example: see the module docs.
pub const PLACEHOLDER: Example = Example {
    name: "placeholder",
    train: train_placeholder,
};

/// The ops of the placeholder: element-wise difference and square, and a sum to a scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum PlaceholderOp {
    /// `a − b`, element-wise, same shapes.
    Sub,
    /// `x²`, element-wise.
    Square,
    /// The sum of all entries, as a 1×1.
    Sum,
}

impl Op<f32> for PlaceholderOp {
    fn name(&self) -> &'static str {
        match self {
            Self::Sub => "sub",
            Self::Square => "square",
            Self::Sum => "sum",
        }
    }

    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        match self {
            Self::Sub => {
                expect_arity(s, 2)?;
                match s {
                    [a, b] if a == b => Ok(*a),
                    [a, b] => Err(Error::ShapeMismatch {
                        expected: *a,
                        found: *b,
                    }),
                    _ => Err(Error::InvalidArgument),
                }
            }
            Self::Square => {
                expect_arity(s, 1)?;
                s.first().copied().ok_or(Error::InvalidArgument)
            }
            Self::Sum => {
                expect_arity(s, 1)?;
                Ok(Shape::new(1, 1))
            }
        }
    }

    fn forward(&self, x: &[MatRef<'_, f32>], mut y: MatMut<'_, f32>) {
        let y = y.as_mut_slice();
        match (self, x) {
            (Self::Sub, [a, b]) => {
                for ((y, a), b) in y.iter_mut().zip(a.as_slice()).zip(b.as_slice()) {
                    *y = a - b;
                }
            }
            (Self::Square, [a]) => {
                for (y, a) in y.iter_mut().zip(a.as_slice()) {
                    *y = a * a;
                }
            }
            (Self::Sum, [a]) => {
                if let Some(y) = y.first_mut() {
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
        let dx = dx.as_mut_slice();
        let dy = dy.as_slice();
        match (self, x) {
            (Self::Sub, [_, _]) => {
                let sign = if index == 0 { 1.0 } else { -1.0 };
                for (g, d) in dx.iter_mut().zip(dy) {
                    *g += sign * d;
                }
            }
            (Self::Square, [a]) => {
                for ((g, a), d) in dx.iter_mut().zip(a.as_slice()).zip(dy) {
                    *g += 2.0 * a * d;
                }
            }
            (Self::Sum, [_]) => {
                let d = dy.first().copied().unwrap_or(0.0);
                for g in dx.iter_mut() {
                    *g += d;
                }
            }
            _ => {}
        }
    }
}

/// The target the placeholder fits.
const TARGET: Matrix<f32, 1, 4> = Matrix::new([[1.0, -2.0, 0.5, 3.0]]);
/// Gradient-descent steps (each shrinks the error by `1 − 2·LR`).
const STEPS: u32 = 50;
/// Learning rate.
const LR: f32 = 0.1;
/// The largest acceptable final loss.
const MAX_LOSS: f32 = 1e-6;

/// The placeholder's graph: 5 nodes, 30 scalars (values and gradients).
type PlaceholderGraph = Graph<f32, PlaceholderOp, 8, 32>;

/// One training step: forward, backward, then `value -= lr * grad` on every variable.
/// Returns the loss before the update.
fn gd_step(g: &mut PlaceholderGraph, loss: Tensor<1, 1>, lr: f32) -> Result<f32, Error> {
    let l = g.forward_backward(loss)?;
    g.for_each_variable(|v| {
        for (w, d) in v.value.iter_mut().zip(v.grad) {
            *w -= lr * d;
        }
        Ok::<(), Error>(())
    })?;
    Ok(l)
}

/// Fits `w` (1×4, from zero) to [`TARGET`] by minimising `Σ (w − t)²`.
pub fn train_placeholder(bench: &mut Bench) -> Result<Outcome, Failure> {
    let mut g = PlaceholderGraph::new();
    let w = g.variable(&Matrix::<f32, 1, 4>::zeros())?;
    let t = g.placeholder::<1, 4>()?;
    let d = g.op::<1, 4>(PlaceholderOp::Sub, &[w.id(), t.id()])?;
    let sq = g.op::<1, 4>(PlaceholderOp::Square, &[d.id()])?;
    let loss = g.op::<1, 1>(PlaceholderOp::Sum, &[sq.id()])?;
    // black_box: the optimizer must not fold the training into constants.
    g.feed(t, &black_box(TARGET))?;
    defmt::debug!("graph needs {}", g.requirements());

    // The first gradient must be 2 (w − t) = −2 t.
    let initial_loss = g.forward_backward(loss)?;
    let grad = g.grad(w)?;
    let grad_ok = grad
        .as_slice()
        .iter()
        .zip(TARGET.as_slice())
        .all(|(g, t)| (g + 2.0 * t).abs() < 1e-6);
    if !grad_ok {
        return Err(Failure::Check("first gradient is not 2(w - t)"));
    }

    let lr = black_box(LR);
    for _ in 0..STEPS {
        bench.step(|| gd_step(&mut g, loss, lr))?;
    }

    let final_loss = g.eval(loss)?.get(0, 0).unwrap_or(f32::NAN);
    if final_loss.is_nan() || final_loss > MAX_LOSS {
        return Err(Failure::NotConverged {
            loss: final_loss,
            limit: MAX_LOSS,
        });
    }
    let fitted = g
        .value(w)?
        .as_slice()
        .iter()
        .zip(TARGET.as_slice())
        .all(|(w, t)| (w - t).abs() < 1e-3);
    if !fitted {
        return Err(Failure::Check("w did not converge to the target"));
    }
    Ok(Outcome {
        initial_loss,
        final_loss,
        accuracy: None,
    })
}
