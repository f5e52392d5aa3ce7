//! `softmax_cross_entropy`: the fused, numerically stable cross-entropy of the row-wise
//! softmax of logits `x` (`B×K`) against targets `c` (`B×K`, one-hot rows or probabilities),
//! **summed** over the rows like the tutorial's loss:
//!
//! `J = −Σ_i Σ_j c_ij · log softmax(x_i)_j = Σ_i Σ_j c_ij · (m_i + log Σ_k e^(x_ik − m_i) − x_ij)`
//!
//! with the row maximum `m_i = max_k x_ik` (log-sum-exp with the max shift). Every exponent is
//! `≤ 0` and the log's argument is in `[1, K]`, so logits of any finite size give a finite loss
//! and gradient — `±1e30` in f32 included — where `log(softmax(x))` overflows or takes
//! `log(0)`. Entries with `c_ij = 0` contribute nothing (not `0 · ∞`).
//!
//! Gradients, with `p = softmax(x)` recomputed row by row (no extra memory):
//! - logits: `∂J/∂x_ij = G · (p_ij · Σ_k c_ik − c_ij)`, which is the familiar `G · (p − c)`
//!   when each target row sums to 1;
//! - targets: `∂J/∂c_ij = −G · log p_ij = G · (m_i + log Σ_k e^(x_ik − m_i) − x_ij)`. Targets
//!   usually need no gradient, but when they depend on a variable (soft targets from another
//!   net) this is the exact derivative.
//!
//! The output is a sum, so micro-batch gradients accumulate to the full-batch gradient; scale
//! it by `1/B` (`scale`) for a mean. For integer class labels instead of one-hot rows (`B×1`
//! instead of `B×K` scalars) see `sparse_softmax_cross_entropy`.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let x = g.variable(&Matrix::new([[1e30, -1e30], [0.0, 0.0]]))?;
//! let c = g.constant(&Matrix::new([[1.0, 0.0], [0.0, 1.0]]))?;
//! let loss = g.softmax_cross_entropy(x, c)?;
//! // Row 0 is certain and right (0), row 1 is a coin toss (ln 2).
//! assert_eq!(g.forward_backward(loss)?, core::f32::consts::LN_2);
//! assert_eq!(g.grad(x)?, Matrix::new([[0.0, 0.0], [0.5, -0.5]])); // p − c
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Fused softmax and cross-entropy against one-hot or probability targets, summed over rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxCrossEntropy;

/// The max shift and log-sum-exp of a row: `(m, ln Σ_k e^(x_k − m))`, so that
/// `log softmax(x)_j = x_j − m − lse` and `softmax(x)_j = e^(x_j − m) / e^lse`.
///
/// The second value is in `[0, ln K]` for finite rows. An empty row gives `(−∞, −∞)`.
pub fn log_sum_exp<T: Scalar>(row: &[T]) -> (T, T) {
    let mut m = T::NEG_INFINITY;
    for &v in row {
        m = m.max(v);
    }
    let mut s = T::ZERO;
    for &v in row {
        s += (v - m).exp();
    }
    (m, s.ln())
}

/// `ln p` for an entry `x` of a row with shift `m` and log-sum-exp `lse` (see
/// [`log_sum_exp`]): `(x − m) − lse`, at most 0.
#[inline]
pub(crate) fn log_prob<T: Scalar>(x: T, m: T, lse: T) -> T {
    (x - m) - lse
}

/// Checks that logits and targets have the same shape; the loss is `1×1`.
pub(crate) fn same_shape_loss(s: &[Shape]) -> Result<Shape, Error> {
    expect_arity(s, 2)?;
    match s {
        [a, b] if a == b => Ok(Shape::new(1, 1)),
        [a, b] => Err(Error::ShapeMismatch {
            expected: *a,
            found: *b,
        }),
        _ => Err(Error::InvalidArgument),
    }
}

impl<T: Scalar> Op<T> for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "softmax_cross_entropy"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        same_shape_loss(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let [logits, targets] = x else { return };
        let mut total = T::ZERO;
        for (xrow, crow) in logits.row_iter().zip(targets.row_iter()) {
            let (m, lse) = log_sum_exp(xrow);
            for (&x, &c) in xrow.iter().zip(crow) {
                if c != T::ZERO {
                    total -= c * log_prob(x, m, lse);
                }
            }
        }
        if let Some(o) = y.as_mut_slice().first_mut() {
            *o = total;
        }
    }
    fn backward(
        &self,
        index: usize,
        x: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        let [logits, targets] = x else { return };
        let g = g.as_slice().first().copied().unwrap_or(T::ZERO);
        let rows = logits.row_iter().zip(targets.row_iter());
        for ((xrow, crow), drow) in rows.zip(dx.row_iter_mut()) {
            let (m, lse) = log_sum_exp(xrow);
            if index == 0 {
                let mut csum = T::ZERO;
                for &c in crow {
                    csum += c;
                }
                for ((d, &x), &c) in drow.iter_mut().zip(xrow).zip(crow) {
                    let p = log_prob(x, m, lse).exp();
                    *d += g * (p * csum - c);
                }
            } else {
                for (d, &x) in drow.iter_mut().zip(xrow) {
                    *d -= g * log_prob(x, m, lse);
                }
            }
        }
    }
}

/// Builder for [`SoftmaxCrossEntropy`].
pub trait SoftmaxCrossEntropyExt<T> {
    /// `−Σ targets ⊙ log softmax(logits)`, summed over all rows; targets are one-hot rows or
    /// probabilities.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn softmax_cross_entropy<const B: usize, const K: usize>(
        &mut self,
        logits: Tensor<B, K>,
        targets: Tensor<B, K>,
    ) -> Result<Tensor<1, 1>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> SoftmaxCrossEntropyExt<T>
    for Graph<T, O, N, S>
{
    fn softmax_cross_entropy<const B: usize, const K: usize>(
        &mut self,
        logits: Tensor<B, K>,
        targets: Tensor<B, K>,
    ) -> Result<Tensor<1, 1>, Error> {
        self.op(
            StdOp::from(SoftmaxCrossEntropy).into(),
            &[logits.id(), targets.id()],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        // Row 0: logits (0, 0) → p = (½, ½), target class 0 → ln 2.
        // Row 1: logits (ln 3, 0) → p = (¾, ¼), target class 1 → ln 4.
        let ln3 = 3f64.ln();
        let inputs = [
            (Shape::new(2, 2), vec![0.0, 0.0, ln3, 0.0]),
            (Shape::new(2, 2), vec![1.0, 0.0, 0.0, 1.0]),
        ];
        let y = forward(&SoftmaxCrossEntropy, &inputs);
        assert_close(&y, &[2f64.ln() + 4f64.ln()], 1e-15);
        // ∂J/∂x = G (p − c) with G = 2.
        let dx = backward(&SoftmaxCrossEntropy, &inputs, &[2.0], 0);
        assert_close(&dx, &[-1.0, 1.0, 1.5, -1.5], 1e-15);
        // ∂J/∂c = −G log p.
        let dc = backward(&SoftmaxCrossEntropy, &inputs, &[2.0], 1);
        let l = |p: f64| -2.0 * p.ln();
        assert_close(&dc, &[l(0.5), l(0.5), l(0.75), l(0.25)], 1e-15);
    }

    #[test]
    fn probability_targets() {
        // Targets (¼, ¾) against p = (½, ½): J = −(¼ + ¾) ln ½ = ln 2; gradient p − c.
        let inputs = [
            (Shape::new(1, 2), vec![5.0, 5.0]),
            (Shape::new(1, 2), vec![0.25, 0.75]),
        ];
        assert_close(&forward(&SoftmaxCrossEntropy, &inputs), &[2f64.ln()], 1e-15);
        let dx = backward(&SoftmaxCrossEntropy, &inputs, &[1.0], 0);
        assert_close(&dx, &[0.25, -0.25], 1e-15);
    }

    #[test]
    fn huge_logits_stay_finite_in_f32() {
        let s = Shape::new(3, 3);
        let x = vec![1e30f32, -1e30, 0.0, -1e30, -1e30, -1e30, 3e38, -3e38, 1.0];
        let c = vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        // Row 0 right and certain: 0. Row 1 all equal: ln 3. Row 2 right and certain: 0.
        let y = forward(&SoftmaxCrossEntropy, &[(s, x.clone()), (s, c.clone())]);
        // (Tolerances allow for the `micromath` backend's approximations.)
        assert!((y[0] - 3f32.ln()).abs() < 1e-4, "{y:?}");
        // Wrong and certain: the loss is the logit gap, 2e30, still finite.
        let wrong = forward(
            &SoftmaxCrossEntropy,
            &[(Shape::new(1, 2), vec![1e30f32, -1e30]), (Shape::new(1, 2), vec![0.0, 1.0])],
        );
        assert_eq!(wrong, vec![2e30]);
        // Gradient p − c: exact zeros and ±1 where certain, thirds where all equal.
        let views = [
            embedgrad_core::MatRef::new(&x, s).unwrap(),
            embedgrad_core::MatRef::new(&c, s).unwrap(),
        ];
        let mut dx = vec![0.0f32; 9];
        Op::<f32>::backward(
            &SoftmaxCrossEntropy,
            0,
            &views,
            embedgrad_core::MatRef::new(&y, Shape::new(1, 1)).unwrap(),
            embedgrad_core::MatRef::new(&[1.0f32], Shape::new(1, 1)).unwrap(),
            embedgrad_core::MatMut::new(&mut dx, s).unwrap(),
        );
        let third = 1.0 / 3.0;
        assert_close(
            &dx,
            &[0.0, 0.0, 0.0, third, third, third - 1.0, 0.0, 0.0, 0.0],
            1e-4,
        );
        assert!(dx.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn unfused_f32_overflows_where_fused_does_not() {
        // The tutorial's −c·log(softmax(x)): softmax underflows to 0 and log(0) = −∞, so the
        // loss is infinite (the tutorial's trap 5); the fused op gives the exact 1000.
        let x = (Shape::new(1, 2), vec![1000.0f32, 0.0]);
        let p = forward(&crate::softmax::Softmax, std::slice::from_ref(&x));
        assert_eq!(p, vec![1.0, 0.0]);
        let fused = forward(&SoftmaxCrossEntropy, &[x, (Shape::new(1, 2), vec![0.0, 1.0])]);
        assert_eq!(fused, vec![1000.0]);
    }

    #[test]
    fn shapes() {
        let op = SoftmaxCrossEntropy;
        assert_eq!(
            Op::<f32>::out_shape(&op, &[Shape::new(4, 3), Shape::new(4, 3)]),
            Ok(Shape::new(1, 1))
        );
        assert!(Op::<f32>::out_shape(&op, &[Shape::new(4, 3), Shape::new(4, 1)]).is_err());
        assert!(Op::<f32>::out_shape(&op, &[Shape::new(4, 3)]).is_err());
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (1, 3), (3, 2), (4, 5)].into_iter().enumerate() {
            let s = Shape::new(r, c);
            // Logits and arbitrary non-negative targets: both gradients are checked.
            grad_check(
                &SoftmaxCrossEntropy,
                &[rand(i as u64, s, -3.0, 3.0), rand(40 + i as u64, s, 0.0, 1.0)],
            );
            // One-hot targets (gradient p − c). Logits in a moderate range keep every p above
            // ~1e-2: the difference quotient's rounding error (about 1e-16 · J / h) stays far
            // below 1e-6 of the smallest gradient entry.
            let mut onehot = vec![0.0; r * c];
            for row in 0..r {
                onehot[row * c + (row * 7 + i) % c] = 1.0;
            }
            grad_check(&SoftmaxCrossEntropy, &[rand(10 + i as u64, s, -1.5, 1.5), (s, onehot)]);
        }
    }
}
