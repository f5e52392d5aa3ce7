//! `subtract`: `y = a − b`, where `b` broadcasts exactly as in [`add`](crate::add): it is
//! either `a`'s shape, a row vector (`1×C`, subtracted from every row), a column vector (`R×1`,
//! subtracted from every column) or a scalar (`1×1`).
//!
//! Gradients: `∂J/∂a = G`; `∂J/∂b = −G` summed back to `b`'s shape (over rows for a row
//! vector, over columns for a column vector, over everything for a scalar).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let a = g.constant(&Matrix::new([[1.0, 2.0], [3.0, 4.0]]))?;
//! let row = g.constant(&Matrix::new([[1.0, 2.0]]))?;
//! let y = g.subtract(a, row)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[0.0, 0.0], [2.0, 2.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! The typed builder rejects shapes that do not broadcast at compile time:
//!
//! ```compile_fail
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 64> = StdGraph::new();
//! let a = g.placeholder::<3, 4>().unwrap();
//! let b = g.placeholder::<2, 4>().unwrap();
//! let _ = g.subtract(a, b); // 2×4 does not broadcast to 3×4
//! ```

use crate::add::{broadcast_apply, broadcast_shape, push_broadcast, unbroadcast_grad};
use crate::StdOp;
use embedgrad_core::{Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Subtraction with broadcasting of the second operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subtract;

impl<T: Scalar> Op<T> for Subtract {
    fn name(&self) -> &'static str {
        "subtract"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        broadcast_shape(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], y: MatMut<'_, T>) {
        if let [a, b] = x {
            broadcast_apply(*a, *b, y, |x, y| x - y);
        }
    }
    fn backward(
        &self,
        index: usize,
        _: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        dx: MatMut<'_, T>,
    ) {
        // Input 0 has G's shape (`da += G`); input 1 gets `−G` summed to its shape.
        unbroadcast_grad(g, dx, index == 1);
    }
}

/// Builder for [`Subtract`].
pub trait SubtractExt<T> {
    /// `a − b`, with `b` of shape `R×C`, `1×C`, `R×1` or `1×1` (checked at compile time).
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn subtract<const R: usize, const C: usize, const R2: usize, const C2: usize>(
        &mut self,
        a: Tensor<R, C>,
        b: Tensor<R2, C2>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> SubtractExt<T>
    for Graph<T, O, N, S>
{
    fn subtract<const R: usize, const C: usize, const R2: usize, const C2: usize>(
        &mut self,
        a: Tensor<R, C>,
        b: Tensor<R2, C2>,
    ) -> Result<Tensor<R, C>, Error> {
        push_broadcast(self, StdOp::from(Subtract), a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal_every_broadcast() {
        let a = (Shape::new(2, 3), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let full = forward(&Subtract, &[a.clone(), (Shape::new(2, 3), vec![1.0; 6])]);
        assert_eq!(full, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let row = forward(&Subtract, &[a.clone(), (Shape::new(1, 3), vec![10.0, 20.0, 30.0])]);
        assert_eq!(row, vec![-9.0, -18.0, -27.0, -6.0, -15.0, -24.0]);
        let col = forward(&Subtract, &[a.clone(), (Shape::new(2, 1), vec![10.0, 20.0])]);
        assert_eq!(col, vec![-9.0, -8.0, -7.0, -16.0, -15.0, -14.0]);
        let sc = forward(&Subtract, &[a, (Shape::new(1, 1), vec![-1.0])]);
        assert_eq!(sc, vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert!(Op::<f32>::out_shape(&Subtract, &[Shape::new(2, 3), Shape::new(3, 2)]).is_err());
    }

    #[test]
    fn literal_gradients() {
        // y = a − b with b a row vector: ∂/∂b sums −G over the rows.
        let inputs = [
            (Shape::new(2, 2), vec![1.0, 2.0, 3.0, 4.0]),
            (Shape::new(1, 2), vec![0.0, 0.0]),
        ];
        let g = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(backward(&Subtract, &inputs, &g, 0), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(backward(&Subtract, &inputs, &g, 1), vec![-4.0, -6.0]);
    }

    #[test]
    fn gradient_every_broadcast() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            for (br, bc) in [(r, c), (1, c), (r, 1), (1, 1)] {
                grad_check(
                    &Subtract,
                    &[
                        rand(i as u64, Shape::new(r, c), -2.0, 2.0),
                        rand(20 + i as u64, Shape::new(br, bc), -2.0, 2.0),
                    ],
                );
            }
        }
    }
}
