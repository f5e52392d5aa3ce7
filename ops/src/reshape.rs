//! `reshape`: the same entries in row-major order as a matrix of another shape — `R×C` as
//! `R'×C'` with `R·C = R'·C'` (numpy's `reshape`, PyTorch's `flatten`/`view` on a contiguous
//! tensor). Flattening a batch of windows to one row, or turning a `B × (T·C)` batch into
//! `(B·T) × C` frames so that a dense layer (`matmul`) applies to every time step, are the
//! common uses. In the graph it copies (`y` is a node of its own).
//!
//! **Formula.** `y` row-major = `x` row-major. **Gradient.** `∂J/∂x = G`, read row-major.
//!
//! ```
//! use embedgrad_core::{Matrix, Tensor};
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f64, 4, 32> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))?;
//! let y: Tensor<3, 2> = g.reshape(x)?;
//! assert_eq!(g.eval(y)?, Matrix::new([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
//! let f: Tensor<1, 6> = g.flatten(x)?;
//! assert_eq!(g.eval(f)?, Matrix::new([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! A shape with another number of entries does not compile:
//!
//! ```compile_fail
//! use embedgrad_core::Tensor;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 32> = StdGraph::new();
//! let x = g.placeholder::<2, 3>().unwrap();
//! let _: Tensor<2, 2> = g.reshape(x).unwrap();
//! ```

use crate::conv1d::dim16;
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// A reshape to `rows × cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reshape {
    rows: u16,
    cols: u16,
}

impl Reshape {
    /// A reshape to `rows × cols`.
    ///
    /// # Errors
    /// [`Error::InvalidShape`] unless both are in `1..=65535`.
    pub const fn new(rows: usize, cols: usize) -> Result<Self, Error> {
        match (dim16(rows), dim16(cols)) {
            (Ok(rows), Ok(cols)) => Ok(Self { rows, cols }),
            _ => Err(Error::InvalidShape(Shape::new(rows, cols))),
        }
    }
    /// The output shape.
    pub const fn shape(&self) -> Shape {
        Shape::new(self.rows as usize, self.cols as usize)
    }
}

impl<T: Scalar> Op<T> for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        expect_arity(s, 1)?;
        let x = s.first().copied().ok_or(Error::InvalidArgument)?;
        let y = self.shape();
        if x.len() != y.len() || y.is_empty() {
            return Err(Error::ShapeMismatch {
                expected: y,
                found: x,
            });
        }
        Ok(y)
    }
    fn forward(&self, x: &[MatRef<'_, T>], mut y: MatMut<'_, T>) {
        let Some(x) = x.first() else { return };
        for (y, &v) in y.as_mut_slice().iter_mut().zip(x.as_slice()) {
            *y = v;
        }
    }
    fn backward(
        &self,
        _: usize,
        _: &[MatRef<'_, T>],
        _: MatRef<'_, T>,
        g: MatRef<'_, T>,
        mut dx: MatMut<'_, T>,
    ) {
        for (d, &gv) in dx.as_mut_slice().iter_mut().zip(g.as_slice()) {
            *d += gv;
        }
    }
}

/// Builder for [`Reshape`].
pub trait ReshapeExt<T> {
    /// `x` (`R×C`) as an `R2×C2` matrix (the output's type; `R·C = R2·C2` checked at
    /// compile time).
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn reshape<const R: usize, const C: usize, const R2: usize, const C2: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R2, C2>, Error>;

    /// `x` (`R×C`) as one row of `N = R·C` entries (checked at compile time).
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn flatten<const R: usize, const C: usize, const N: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, N>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> ReshapeExt<T>
    for Graph<T, O, N, S>
{
    fn reshape<const R: usize, const C: usize, const R2: usize, const C2: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<R2, C2>, Error> {
        const { assert!(R * C == R2 * C2, "reshape: R·C must equal R2·C2") };
        let op = Reshape::new(R2, C2)?;
        self.op(StdOp::from(op).into(), &[x.id()])
    }

    fn flatten<const R: usize, const C: usize, const L: usize>(
        &mut self,
        x: Tensor<R, C>,
    ) -> Result<Tensor<1, L>, Error> {
        self.reshape(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal() {
        let op = Reshape::new(2, 2).unwrap();
        let x = (Shape::new(1, 4), vec![1.0f64, 2.0, 3.0, 4.0]);
        assert_eq!(forward(&op, std::slice::from_ref(&x)), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(backward(&op, &[x], &[5.0, 6.0, 7.0, 8.0], 0), vec![5.0, 6.0, 7.0, 8.0]);
        assert_eq!(Op::<f32>::out_shape(&op, &[Shape::new(4, 1)]), Ok(Shape::new(2, 2)));
        assert_eq!(
            Op::<f32>::out_shape(&op, &[Shape::new(3, 1)]),
            Err(Error::ShapeMismatch {
                expected: Shape::new(2, 2),
                found: Shape::new(3, 1)
            })
        );
        assert_eq!(Reshape::new(0, 4), Err(Error::InvalidShape(Shape::new(0, 4))));
        assert_eq!(Reshape::new(1, 65_536), Err(Error::InvalidShape(Shape::new(1, 65_536))));
    }

    #[test]
    fn builder_frames_a_batch() {
        // B × (T·C) → (B·T) × C: every time step a row.
        let mut g: crate::StdGraph<f64, 4, 64> = crate::StdGraph::new();
        let x = g.placeholder::<2, 6>().unwrap();
        let y: Tensor<6, 2> = g.reshape(x).unwrap();
        assert_eq!(g.shape(y.id()), Ok(Shape::new(6, 2)));
    }

    #[test]
    fn gradient() {
        for (i, &(r, c, r2, c2)) in [(1, 1, 1, 1), (2, 6, 3, 4), (4, 3, 1, 12)].iter().enumerate() {
            grad_check(&Reshape::new(r2, c2).unwrap(), &[rand(i as u64, Shape::new(r, c), -2.0, 2.0)]);
        }
    }
}
