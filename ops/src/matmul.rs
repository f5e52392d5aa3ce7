//! `matmul`: matrix product `Y = A · B` of an `R×K` and a `K×C` matrix.
//!
//! Gradients: `∂J/∂A = G · Bᵀ` and `∂J/∂B = Aᵀ · G`, computed without materialising a
//! transpose. `matmul(A, A)` (square `A`) adds both contributions.
//!
//! The typed builder checks the inner dimension at compile time, so a 3×4 times a 5×2 does not
//! compile:
//!
//! ```compile_fail
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 64> = StdGraph::new();
//! let a = g.placeholder::<3, 4>().unwrap();
//! let b = g.placeholder::<5, 2>().unwrap();
//! let _ = g.matmul(a, b);
//! ```
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! // The tutorial's affine example: x A + b.
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let a = g.variable(&Matrix::new([[1.0, 0.0], [0.0, -1.0]]))?;
//! let b = g.variable(&Matrix::new([[1.0, 1.0]]))?;
//! let x = g.placeholder::<1, 2>()?;
//! let xa = g.matmul(x, a)?;
//! let y = g.add(xa, b)?;
//! g.feed(x, &Matrix::new([[1.0, 2.0]]))?;
//! assert_eq!(g.eval(y)?, Matrix::new([[2.0, -1.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::StdOp;
use embedgrad_core::{kernels, expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMul;

/// `out = A · B`, overwriting `out` (the shared kernel of `embedgrad_core::kernels`).
pub fn matmul_kernel<T: Scalar>(a: MatRef<'_, T>, b: MatRef<'_, T>, out: MatMut<'_, T>) {
    kernels::matmul(a, b, out);
}

/// `dA += G · Bᵀ`.
pub fn matmul_grad_a<T: Scalar>(g: MatRef<'_, T>, b: MatRef<'_, T>, da: MatMut<'_, T>) {
    kernels::matmul_grad_a(g, b, da, false);
}

/// `dB += Aᵀ · G`.
pub fn matmul_grad_b<T: Scalar>(a: MatRef<'_, T>, g: MatRef<'_, T>, db: MatMut<'_, T>) {
    kernels::matmul_grad_b(a, g, db, false);
}

impl<T: Scalar> Op<T> for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 2)?;
        match s {
            [a, b] if a.cols == b.rows => Ok(Shape::new(a.rows, b.cols)),
            [a, b] => Err(Error::ShapeMismatch {
                expected: Shape::new(a.cols, b.cols),
                found: *b,
            }),
            _ => Err(Error::InvalidArgument),
        }
    }
    fn forward(&self, x: &[MatRef<'_, T>], y: MatMut<'_, T>) {
        if let [a, b] = x {
            matmul_kernel(*a, *b, y);
        }
    }
    fn backward(
        &self,
        index: usize,
        x: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        dx: MatMut<'_, T>,
    ) {
        let [a, b] = x else { return };
        if index == 0 {
            matmul_grad_a(g, *b, dx);
        } else {
            matmul_grad_b(*a, g, dx);
        }
    }
}

/// Builder for [`MatMul`].
pub trait MatMulExt<T> {
    /// `a · b`.
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn matmul<const R: usize, const K: usize, const C: usize>(
        &mut self,
        a: Tensor<R, K>,
        b: Tensor<K, C>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> MatMulExt<T>
    for Graph<T, O, N, S>
{
    fn matmul<const R: usize, const K: usize, const C: usize>(
        &mut self,
        a: Tensor<R, K>,
        b: Tensor<K, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.op(StdOp::from(MatMul).into(), &[a.id(), b.id()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let y = forward(
            &MatMul,
            &[
                (Shape::new(2, 3), vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]),
                (Shape::new(3, 2), vec![7.0, 8.0, 9.0, 10.0, 11.0, 12.0]),
            ],
        );
        assert_eq!(y, vec![58.0, 64.0, 139.0, 154.0]);
        assert!(Op::<f32>::out_shape(&MatMul, &[Shape::new(3, 4), Shape::new(5, 2)]).is_err());
    }

    #[test]
    fn gradient() {
        for (i, (r, k, c)) in [(1, 1, 1), (3, 2, 4), (2, 5, 3), (4, 1, 2)].into_iter().enumerate() {
            grad_check(
                &MatMul,
                &[
                    rand(i as u64, Shape::new(r, k), -2.0, 2.0),
                    rand(10 + i as u64, Shape::new(k, c), -2.0, 2.0),
                ],
            );
        }
    }
}
