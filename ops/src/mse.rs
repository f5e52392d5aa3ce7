//! `mse`: the mean squared error between predictions `p` and targets `t` of the same shape,
//! `J = (1/n) Σ (p − t)²` with `n = R·C` entries — a **mean**, as is conventional for this
//! loss (the cross-entropies are sums). For a sum, `scale` the result by `n`, or build it as
//! `reduce_sum(square(subtract(p, t)))`. Being a mean, micro-batch losses and gradients do not
//! add up to the full batch's; scale each by its share if you accumulate.
//!
//! Gradients: `∂J/∂p = G · 2(p − t)/n`, and `∂J/∂t = −G · 2(p − t)/n` (exact, for targets that
//! depend on a variable).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let p = g.variable(&Matrix::new([[1.0, 2.0], [3.0, 4.0]]))?;
//! let t = g.constant(&Matrix::new([[1.0, 0.0], [3.0, 8.0]]))?;
//! let loss = g.mse(p, t)?;
//! assert_eq!(g.forward_backward(loss)?, 5.0); // (0 + 4 + 0 + 16) / 4
//! assert_eq!(g.grad(p)?, Matrix::new([[0.0, 1.0], [0.0, -2.0]])); // 2(p − t)/4
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::softmax_cross_entropy::same_shape_loss;
use crate::StdOp;
use embedgrad_core::{Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Mean squared error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mse;

impl<T: Scalar> Op<T> for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        same_shape_loss(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let [p, t] = x else { return };
        let mut total = T::ZERO;
        for (&p, &t) in p.as_slice().iter().zip(t.as_slice()) {
            let e = p - t;
            total += e * e;
        }
        if let Some(o) = y.as_mut_slice().first_mut() {
            *o = total / T::from_usize(p.as_slice().len().max(1));
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
        let [p, t] = x else { return };
        let g = g.as_slice().first().copied().unwrap_or(T::ZERO);
        let k = (g + g) / T::from_usize(p.as_slice().len().max(1));
        let k = if index == 0 { k } else { -k };
        for (d, (&p, &t)) in dx.as_mut_slice().iter_mut().zip(p.as_slice().iter().zip(t.as_slice())) {
            *d += k * (p - t);
        }
    }
}

/// Builder for [`Mse`].
pub trait MseExt<T> {
    /// `(1/n) Σ (pred − target)²` over all `n` entries.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn mse<const R: usize, const C: usize>(
        &mut self,
        pred: Tensor<R, C>,
        target: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> MseExt<T>
    for Graph<T, O, N, S>
{
    fn mse<const R: usize, const C: usize>(
        &mut self,
        pred: Tensor<R, C>,
        target: Tensor<R, C>,
    ) -> Result<Tensor<1, 1>, Error> {
        self.op(StdOp::from(Mse).into(), &[pred.id(), target.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let inputs = [
            (Shape::new(1, 3), vec![1.0, -1.0, 0.5]),
            (Shape::new(1, 3), vec![0.0, 1.0, 0.5]),
        ];
        // (1 + 4 + 0) / 3.
        assert_close(&forward(&Mse, &inputs), &[5.0 / 3.0], 1e-15);
        // G = 3: 3 · 2(p − t)/3 = 2(p − t).
        assert_eq!(backward(&Mse, &inputs, &[3.0], 0), vec![2.0, -4.0, 0.0]);
        assert_eq!(backward(&Mse, &inputs, &[3.0], 1), vec![-2.0, 4.0, 0.0]);
    }

    #[test]
    fn gradient() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            let s = Shape::new(r, c);
            grad_check(&Mse, &[rand(i as u64, s, -2.0, 2.0), rand(50 + i as u64, s, -2.0, 2.0)]);
        }
    }
}
