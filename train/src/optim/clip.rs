//! Gradient clipping by global norm, with any optimizer.

use super::Optimizer;
use embedgrad_core::{Error, Graph, Op, Origin, Scalar, Tensor};

/// The global L2 norm of the gradients of the variables the last backprop reached, computed
/// without overflow (scaled by the largest magnitude).
///
/// # Errors
/// [`Error::NonFinite`] when a gradient is NaN or infinite.
pub fn grad_norm<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
) -> Result<T, Error> {
    let mut big = T::ZERO;
    g.for_each_variable(|v| {
        if v.reached {
            for &d in v.grad {
                if !d.is_finite() {
                    return Err(Error::non_finite(Origin::Gradient, v.id));
                }
                big = big.max(d.abs());
            }
        }
        Ok(())
    })?;
    if big == T::ZERO {
        return Ok(T::ZERO);
    }
    let inv = T::ONE / big;
    let mut sum = T::ZERO;
    g.for_each_variable(|v| {
        if v.reached {
            for &d in v.grad {
                let r = d * inv;
                sum += r * r;
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(big * sum.sqrt())
}

/// Gradient clipping by global norm: when the L2 norm of all gradients (of the variables the
/// last backprop reached) exceeds `max_norm`, scales every gradient by `max_norm / norm`, so
/// the update keeps its direction but not its size. Call it between backprop and the
/// optimizer's [`Optimizer::apply`] — it works with any optimizer — or use
/// [`minimize_clipped`]. Returns the norm before clipping (worth logging: spikes show
/// instability).
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::{clip_grad_norm, GradientDescent, Optimizer};
/// let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[1.5, 2.0]]))?;
/// let sq = g.square(w)?;
/// let loss = g.reduce_sum(sq)?;
/// g.forward_backward(loss)?; // gradient (3, 4): norm 5
/// assert_eq!(clip_grad_norm(&mut g, 2.5)?, 5.0);
/// assert_eq!(g.grad(w)?, Matrix::new([[1.5, 2.0]])); // norm 2.5
/// GradientDescent::new(0.5).apply(&mut g)?;
/// assert_eq!(g.value(w)?, Matrix::new([[0.75, 1.0]]));
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidParameter`] unless `max_norm` is positive and finite; [`Error::NonFinite`]
/// when a gradient is NaN or infinite. Gradients are unchanged on error.
pub fn clip_grad_norm<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    max_norm: T,
) -> Result<T, Error> {
    if !(max_norm.is_finite() && max_norm > T::ZERO) {
        return Err(bad_max_norm(max_norm));
    }
    let norm = grad_norm(g)?;
    if norm > max_norm {
        g.scale_grads(max_norm / norm);
    }
    Ok(norm)
}

/// [`minimize`](crate::minimize) with [`clip_grad_norm`] between backprop and the update:
/// forward, backward, clip to `max_norm`, update. Returns the loss before the update and the
/// gradient norm before clipping.
///
/// # Errors
/// As [`minimize`](crate::minimize) and [`clip_grad_norm`]; no variable changes on error.
pub fn minimize_clipped<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    opt: &mut impl Optimizer<T>,
    g: &mut Graph<T, O, N, S>,
    loss: Tensor<1, 1>,
    max_norm: T,
) -> Result<(T, T), Error> {
    if !(max_norm.is_finite() && max_norm > T::ZERO) {
        return Err(bad_max_norm(max_norm));
    }
    let l = g.forward_backward(loss)?;
    if !l.is_finite() {
        return Err(Error::non_finite(Origin::Loss, loss.id()));
    }
    let norm = clip_grad_norm(g, max_norm)?;
    opt.apply(g)?;
    Ok((l, norm))
}

/// The error for a `max_norm` that is not positive and finite.
fn bad_max_norm<T: Scalar>(max_norm: T) -> Error {
    Error::InvalidParameter {
        name: "max_norm",
        value: max_norm.to_f64(),
        expected: "finite and > 0",
    }
}
