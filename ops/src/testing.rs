//! Test helpers: run kernels directly and check gradients against central differences.

#![allow(clippy::needless_range_loop)]

use embedgrad_core::{MatMut, MatRef, Op, Shape};
use std::vec::Vec;

/// A deterministic pseudo-random matrix in [lo, hi).
pub fn rand(seed: u64, shape: Shape, lo: f64, hi: f64) -> (Shape, Vec<f64>) {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = shape.rows * shape.cols;
    let v = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    (shape, v)
}

/// Runs an op's forward kernel on literal inputs.
pub fn forward<T: embedgrad_core::Scalar, O: Op<T>>(op: &O, inputs: &[(Shape, Vec<T>)]) -> Vec<T> {
    let shapes: Vec<Shape> = inputs.iter().map(|(s, _)| *s).collect();
    let out_shape = op.out_shape(&shapes).expect("shape");
    let views: Vec<MatRef<'_, T>> = inputs
        .iter()
        .map(|(s, d)| MatRef::new(d, *s).expect("view"))
        .collect();
    let mut out = vec![T::ZERO; out_shape.rows * out_shape.cols];
    op.forward(&views, MatMut::new(&mut out, out_shape).expect("out"));
    out
}

/// Analytic gradient of `sum(forward(inputs) ⊙ g)` with respect to input `index`.
pub fn backward<O: Op<f64>>(
    op: &O,
    inputs: &[(Shape, Vec<f64>)],
    g: &[f64],
    index: usize,
) -> Vec<f64> {
    let shapes: Vec<Shape> = inputs.iter().map(|(s, _)| *s).collect();
    let out_shape = op.out_shape(&shapes).expect("shape");
    let out = forward(op, inputs);
    let views: Vec<MatRef<'_, f64>> = inputs
        .iter()
        .map(|(s, d)| MatRef::new(d, *s).expect("view"))
        .collect();
    let (s, d) = &inputs[index];
    // Start from a non-zero gradient to check that backward adds rather than overwrites.
    let mut dx = vec![0.5; d.len()];
    op.backward(
        index,
        &views,
        MatRef::new(&out, out_shape).expect("out"),
        MatRef::new(g, out_shape).expect("g"),
        MatMut::new(&mut dx, *s).expect("dx"),
    );
    dx.iter().map(|v| v - 0.5).collect()
}

/// Checks every input's gradient against central differences of `sum(forward ⊙ g)` for a
/// random upstream gradient `g`; returns the worst relative error and asserts it is ≤ 1e-6.
pub fn grad_check<O: Op<f64>>(op: &O, inputs: &[(Shape, Vec<f64>)]) -> f64 {
    grad_check_inputs(op, inputs, &(0..inputs.len()).collect::<Vec<_>>())
}

/// As [`grad_check`], for the listed inputs only (others are, e.g., constant labels).
pub fn grad_check_inputs<O: Op<f64>>(op: &O, inputs: &[(Shape, Vec<f64>)], which: &[usize]) -> f64 {
    let shapes: Vec<Shape> = inputs.iter().map(|(s, _)| *s).collect();
    let out_shape = op.out_shape(&shapes).expect("shape");
    let (_, g) = rand(99, out_shape, -1.0, 1.0);
    let f = |inp: &[(Shape, Vec<f64>)]| -> f64 {
        forward(op, inp).iter().zip(&g).map(|(y, g)| y * g).sum()
    };
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for &i in which {
        let analytic = backward(op, inputs, &g, i);
        for k in 0..inputs[i].1.len() {
            let mut plus = inputs.to_vec();
            plus[i].1[k] += h;
            let mut minus = inputs.to_vec();
            minus[i].1[k] -= h;
            let numeric = (f(&plus) - f(&minus)) / (2.0 * h);
            let a = analytic[k];
            let scale = a.abs().max(numeric.abs());
            let err = if scale < 1e-7 {
                (a - numeric).abs()
            } else {
                (a - numeric).abs() / scale
            };
            worst = worst.max(err);
            assert!(
                err <= 1e-6,
                "{}: input {i} entry {k}: analytic {a} numeric {numeric} (rel err {err:e})",
                op.name()
            );
        }
    }
    std::println!(
        "gradcheck {:<32} shapes {:?}: worst relative error {worst:.2e}",
        op.name(),
        shapes.iter().map(|s| (s.rows, s.cols)).collect::<Vec<_>>()
    );
    worst
}

/// Checks each input's gradient along random directions `v`: `Σ_k ∂f/∂θ_k · v_k` against the
/// central difference `(f(θ + h·v) − f(θ − h·v)) / 2h` of `f = sum(forward ⊙ g)`. Unlike the
/// entry-wise [`grad_check`], a tiny gradient entry (where a difference quotient is all
/// rounding) cannot hide or fake an error: every entry counts, weighted by `v`. The error is
/// relative to `‖∇f‖·‖v‖`; returns the worst and asserts it is ≤ 1e-8.
pub fn directional_check<O: Op<f64>>(op: &O, inputs: &[(Shape, Vec<f64>)]) -> f64 {
    let shapes: Vec<Shape> = inputs.iter().map(|(s, _)| *s).collect();
    let out_shape = op.out_shape(&shapes).expect("shape");
    let (_, g) = rand(99, out_shape, -1.0, 1.0);
    let f = |inp: &[(Shape, Vec<f64>)]| -> f64 {
        forward(op, inp).iter().zip(&g).map(|(y, g)| y * g).sum()
    };
    let h = 1e-5;
    let mut worst: f64 = 0.0;
    for i in 0..inputs.len() {
        let analytic = backward(op, inputs, &g, i);
        for seed in 0..3 {
            let (_, v) = rand(500 + 10 * i as u64 + seed, inputs[i].0, -1.0, 1.0);
            let a: f64 = analytic.iter().zip(&v).map(|(a, v)| a * v).sum();
            let mut plus = inputs.to_vec();
            let mut minus = inputs.to_vec();
            for (k, dv) in v.iter().enumerate() {
                plus[i].1[k] += h * dv;
                minus[i].1[k] -= h * dv;
            }
            let numeric = (f(&plus) - f(&minus)) / (2.0 * h);
            // Relative to ‖∇f‖·‖v‖ ≥ |∇f·v|: a cancelling sum does not inflate the error.
            let norm = |x: &[f64]| x.iter().map(|x| x * x).sum::<f64>().sqrt();
            let scale = (norm(&analytic) * norm(&v)).max(1e-12);
            let err = (a - numeric).abs() / scale;
            worst = worst.max(err);
            assert!(
                err <= 1e-8,
                "{}: input {i} direction {seed}: analytic {a} numeric {numeric} (rel err {err:e})",
                op.name()
            );
        }
    }
    std::println!(
        "directional {:<28} shapes {:?}: worst relative error {worst:.2e}",
        op.name(),
        shapes.iter().map(|s| (s.rows, s.cols)).collect::<Vec<_>>()
    );
    worst
}

/// Asserts two slices agree to `tol` (absolute).
pub fn assert_close<T: embedgrad_core::Scalar>(a: &[T], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x.to_f64() - y).abs() <= tol,
            "entry {i}: {x} vs {y} (tol {tol})"
        );
    }
}
