//! `multiply`: element-wise (Hadamard) product `y = a ⊙ b` of two same-shaped matrices.
//!
//! Gradients: `∂J/∂a = G ⊙ b`, `∂J/∂b = G ⊙ a` (both added when `a` and `b` are one node).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 8> = StdGraph::new();
//! let a = g.constant(&Matrix::new([[1.0, 2.0]]))?;
//! let b = g.constant(&Matrix::new([[3.0, -1.0]]))?;
//! let y = g.multiply(a, b)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[3.0, -2.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Element-wise product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multiply;

impl<T: Scalar> Op<T> for Multiply {
    fn name(&self) -> &'static str {
        "multiply"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
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
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let [a, b] = x else { return };
        for ((y, &a), &b) in y.as_mut_slice().iter_mut().zip(a.as_slice()).zip(b.as_slice()) {
            *y = a * b;
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
        let [a, b] = x else { return };
        let other = if index == 0 { b } else { a };
        for ((d, &g), &o) in dx.as_mut_slice().iter_mut().zip(g.as_slice()).zip(other.as_slice()) {
            *d += g * o;
        }
    }
}

/// Builder for [`Multiply`].
pub trait MultiplyExt<T> {
    /// `a ⊙ b`, element-wise.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn multiply<const R: usize, const C: usize>(
        &mut self,
        a: Tensor<R, C>,
        b: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> MultiplyExt<T>
    for Graph<T, O, N, S>
{
    fn multiply<const R: usize, const C: usize>(
        &mut self,
        a: Tensor<R, C>,
        b: Tensor<R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(Multiply).into(), &[a.id(), b.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let s = Shape::new(2, 2);
        let y = forward(
            &Multiply,
            &[(s, vec![1.0f32, 2.0, 3.0, 4.0]), (s, vec![0.5, -1.0, 0.0, 2.0])],
        );
        assert_eq!(y, vec![0.5, -2.0, 0.0, 8.0]);
        assert!(Op::<f32>::out_shape(&Multiply, &[s, Shape::new(1, 2)]).is_err());
    }

    #[test]
    fn gradient() {
        for (i, s) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            let sh = Shape::new(s.0, s.1);
            grad_check(&Multiply, &[rand(i as u64, sh, -2.0, 2.0), rand(7 + i as u64, sh, -2.0, 2.0)]);
        }
    }
}
