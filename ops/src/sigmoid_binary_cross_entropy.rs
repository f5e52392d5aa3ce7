//! `sigmoid_binary_cross_entropy`: the fused, numerically stable binary cross-entropy of
//! `σ(x)` against targets `t ∈ [0, 1]` (same shape as the logits `x`), **summed** over all
//! entries (like the tutorial's summed cross-entropy):
//!
//! `J = Σ −t·log σ(x) − (1 − t)·log(1 − σ(x)) = Σ max(x, 0) − x·t + log(1 + e^(−|x|))`
//!
//! The right-hand form never exponentiates a positive number, so it is finite for logits of
//! any finite size (where `log(sigmoid(x))` takes `log(0)` once `σ` saturates in f32).
//!
//! Gradients:
//! - logits: `∂J/∂x = G · (σ(x) − t)`;
//! - targets: `∂J/∂t = −G · x` (exact, for targets that depend on a variable).
//!
//! For a mean over the entries, `scale` the result by `1/(R·C)`.
//!
//! **Targets outside `[0, 1]`.** The formula has no meaning there (the loss is unbounded
//! below and training drives the logits to infinity), but an op's kernel cannot return an
//! error, and targets usually arrive through a placeholder whose values the graph does not
//! judge. Check them where they enter with [`check_targets`], which names the first bad entry
//! and its value (`embedgrad-train`'s data sets write only 0 and 1 as binary targets):
//!
//! ```
//! use embedgrad_core::Error;
//! use embedgrad_ops::sigmoid_binary_cross_entropy::check_targets;
//! assert_eq!(check_targets(&[0.0f32, 0.25, 1.0], 1), Ok(()));
//! let err = check_targets(&[0.0f32, 1.0, 1.0, 2.0], 2).unwrap_err();
//! assert!(matches!(err, Error::InvalidTarget { row: 1, col: 1, .. }));
//! assert_eq!(err.to_string(), "invalid target 2 in row 1, column 1: must be in [0, 1]");
//! ```
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 8, 32> = StdGraph::new();
//! let x = g.variable(&Matrix::new([[0.0], [1e30]]))?;
//! let t = g.constant(&Matrix::new([[1.0], [1.0]]))?;
//! let loss = g.sigmoid_binary_cross_entropy(x, t)?;
//! assert_eq!(g.forward_backward(loss)?, core::f64::consts::LN_2); // ln 2 + 0
//! assert_eq!(g.grad(x)?, Matrix::new([[-0.5], [0.0]])); // σ(x) − t
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::softmax_cross_entropy::same_shape_loss;
use crate::StdOp;
use embedgrad_core::{Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Fused sigmoid and binary cross-entropy, summed over all entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigmoidBinaryCrossEntropy;

/// `σ(x)` without overflow: `1/(1 + e^(−x))` for `x ≥ 0`, `eˣ/(1 + eˣ)` otherwise.
fn stable_sigmoid<T: Scalar>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

/// Checks binary cross-entropy targets before they are fed: each must be in `[0, 1]` (NaN is
/// not). `targets` is row-major with `cols` entries per row (the row and column of the error
/// are computed with it; `cols = 0` is taken as 1).
///
/// # Errors
/// [`Error::InvalidTarget`] with the row, column and value of the first bad target.
pub fn check_targets<T: Scalar>(targets: &[T], cols: usize) -> Result<(), Error> {
    let cols = cols.max(1);
    match targets
        .iter()
        .enumerate()
        .find(|(_, &t)| !(t >= T::ZERO && t <= T::ONE))
    {
        None => Ok(()),
        Some((i, &t)) => Err(Error::InvalidTarget {
            row: i / cols,
            col: i % cols,
            value: t.to_f64(),
        }),
    }
}

impl<T: Scalar> Op<T> for SigmoidBinaryCrossEntropy {
    fn name(&self) -> &'static str {
        "sigmoid_binary_cross_entropy"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        same_shape_loss(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let [logits, targets] = x else { return };
        let mut total = T::ZERO;
        for (&x, &t) in logits.as_slice().iter().zip(targets.as_slice()) {
            total += (x.max(T::ZERO) - x * t) + (T::ONE + (-x.abs()).exp()).ln();
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
        let pairs = logits.as_slice().iter().zip(targets.as_slice());
        for (d, (&x, &t)) in dx.as_mut_slice().iter_mut().zip(pairs) {
            if index == 0 {
                *d += g * (stable_sigmoid(x) - t);
            } else {
                *d -= g * x;
            }
        }
    }
}

/// Builder for [`SigmoidBinaryCrossEntropy`].
pub trait SigmoidBinaryCrossEntropyExt<T> {
    /// `Σ max(x, 0) − x·t + log(1 + e^(−|x|))`: binary cross-entropy of `σ(logits)` against
    /// `targets` (in `[0, 1]`: check fed targets with [`check_targets`]), summed over all
    /// entries.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn sigmoid_binary_cross_entropy<const R: usize, const C: usize>(
        &mut self,
        logits: Tensor<R, C>,
        targets: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize>
    SigmoidBinaryCrossEntropyExt<T> for Graph<T, O, N, S>
{
    fn sigmoid_binary_cross_entropy<const R: usize, const C: usize>(
        &mut self,
        logits: Tensor<R, C>,
        targets: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error> {
        self.op(
            StdOp::from(SigmoidBinaryCrossEntropy).into(),
            &[logits.id(), targets.id()],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn check_targets_names_the_first_bad_entry_and_value() {
        assert_eq!(check_targets(&[0.0f64, 0.5, 1.0, 0.0], 2), Ok(()));
        for (t, row, col, value) in [
            (&[0.0f64, 1.0, -0.5, 2.0][..], 1, 0, -0.5),
            (&[0.0, 1.5][..], 0, 1, 1.5),
            (&[1.0, 1.0, 1.0, f64::INFINITY][..], 1, 1, f64::INFINITY),
        ] {
            assert_eq!(
                check_targets(t, 2),
                Err(Error::InvalidTarget { row, col, value })
            );
        }
        assert!(matches!(
            check_targets(&[f32::NAN], 0),
            Err(Error::InvalidTarget { row: 0, col: 0, value }) if value.is_nan()
        ));
    }

    #[test]
    fn literal() {
        // x = ln 3 → σ = ¾; t = 1 → −ln ¾; t = 0 → −ln ¼; t = ½ → −½ ln ¾ − ½ ln ¼.
        // x = 0 → σ = ½ → ln 2 whatever t.
        let ln3 = 3f64.ln();
        let inputs = [
            (Shape::new(2, 2), vec![ln3, ln3, -ln3, 0.0]),
            (Shape::new(2, 2), vec![1.0, 0.0, 0.5, 0.3]),
        ];
        let want = -(0.75f64.ln()) - 0.25f64.ln() - 0.5 * (0.25f64.ln() + 0.75f64.ln()) + 2f64.ln();
        assert_close(&forward(&SigmoidBinaryCrossEntropy, &inputs), &[want], 1e-14);
        let dx = backward(&SigmoidBinaryCrossEntropy, &inputs, &[2.0], 0);
        assert_close(&dx, &[2.0 * (0.75 - 1.0), 2.0 * 0.75, 2.0 * (0.25 - 0.5), 2.0 * (0.5 - 0.3)], 1e-15);
        let dt = backward(&SigmoidBinaryCrossEntropy, &inputs, &[2.0], 1);
        assert_close(&dt, &[-2.0 * ln3, -2.0 * ln3, 2.0 * ln3, 0.0], 1e-15);
    }

    #[test]
    fn huge_logits_stay_finite_in_f32() {
        let inputs = [
            (Shape::new(1, 4), vec![1e30f32, -1e30, 1e30, -3e38]),
            (Shape::new(1, 4), vec![1.0f32, 0.0, 0.0, 0.0]),
        ];
        // Right and certain: 0, 0; wrong and certain: the logit itself, 1e30; right: 0.
        assert_eq!(forward(&SigmoidBinaryCrossEntropy, &inputs), vec![1e30]);
        let views: Vec<_> = inputs
            .iter()
            .map(|(s, d)| embedgrad_core::MatRef::new(d, *s).unwrap())
            .collect();
        let mut dx = vec![0.0f32; 4];
        Op::<f32>::backward(
            &SigmoidBinaryCrossEntropy,
            0,
            &views,
            embedgrad_core::MatRef::new(&[0.0f32], Shape::new(1, 1)).unwrap(),
            embedgrad_core::MatRef::new(&[1.0f32], Shape::new(1, 1)).unwrap(),
            embedgrad_core::MatMut::new(&mut dx, Shape::new(1, 4)).unwrap(),
        );
        assert_eq!(dx, vec![0.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn shapes() {
        let op = SigmoidBinaryCrossEntropy;
        let ok = Op::<f64>::out_shape(&op, &[Shape::new(3, 2), Shape::new(3, 2)]);
        assert_eq!(ok, Ok(Shape::new(1, 1)));
        assert!(Op::<f64>::out_shape(&op, &[Shape::new(3, 2), Shape::new(2, 3)]).is_err());
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            let s = Shape::new(r, c);
            grad_check(
                &SigmoidBinaryCrossEntropy,
                &[rand(i as u64, s, -6.0, 6.0), rand(30 + i as u64, s, 0.0, 1.0)],
            );
        }
    }
}
