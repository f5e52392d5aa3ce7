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
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Matrix product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatMul;

/// Output columns that the kernels accumulate together in registers. Each entry is still
/// summed in the textbook order (`k = 0, 1, …` or row by row), so the results are exactly those
/// of the plain triple loop; blocking only keeps the partial sums out of memory (a
/// read-modify-write of the same memory word in every iteration waits for the previous store).
const BLOCK: usize = 4;

/// The `BLOCK` entries of `row` from column `j`, if there are that many.
#[inline(always)]
fn block<T: Copy>(row: &[T], j: usize) -> Option<&[T; BLOCK]> {
    row.get(j..j + BLOCK).and_then(|s| s.try_into().ok())
}

/// `out = A · B`, overwriting `out` (row by row: `out[i] = Σ_k A[i][k] · B[k]`).
pub fn matmul_kernel<T: Scalar>(a: MatRef<'_, T>, b: MatRef<'_, T>, mut out: MatMut<'_, T>) {
    for (arow, orow) in a.row_iter().zip(out.row_iter_mut()) {
        let mut blocks = orow.chunks_exact_mut(BLOCK);
        let mut j = 0;
        for oblock in &mut blocks {
            let mut acc = [T::ZERO; BLOCK];
            for (&aik, brow) in arow.iter().zip(b.row_iter()) {
                if let Some(bblock) = block(brow, j) {
                    for (s, &bkj) in acc.iter_mut().zip(bblock) {
                        *s += aik * bkj;
                    }
                }
            }
            oblock.copy_from_slice(&acc);
            j += BLOCK;
        }
        for (o, j) in blocks.into_remainder().iter_mut().zip(j..) {
            let mut s = T::ZERO;
            for (&aik, brow) in arow.iter().zip(b.row_iter()) {
                if let Some(&bkj) = brow.get(j) {
                    s += aik * bkj;
                }
            }
            *o = s;
        }
    }
}

/// `dA += G · Bᵀ` (each entry `dA[i][k] += Σ_j G[i][j] · B[k][j]`, summed over `j` in order).
pub fn matmul_grad_a<T: Scalar>(g: MatRef<'_, T>, b: MatRef<'_, T>, mut da: MatMut<'_, T>) {
    for (darow, grow) in da.row_iter_mut().zip(g.row_iter()) {
        let mut blocks = darow.chunks_exact_mut(BLOCK);
        let mut brows = b.row_iter();
        // `BLOCK` dot products side by side, so that their additions overlap.
        for dblock in &mut blocks {
            let mut rows: [&[T]; BLOCK] = [&[]; BLOCK];
            for r in rows.iter_mut() {
                *r = brows.next().unwrap_or(&[]);
            }
            let mut acc = [T::ZERO; BLOCK];
            for (j, &gij) in grow.iter().enumerate() {
                for (s, brow) in acc.iter_mut().zip(rows) {
                    if let Some(&bkj) = brow.get(j) {
                        *s += gij * bkj;
                    }
                }
            }
            for (d, s) in dblock.iter_mut().zip(acc) {
                *d += s;
            }
        }
        for (d, brow) in blocks.into_remainder().iter_mut().zip(brows) {
            let mut s = T::ZERO;
            for (&gij, &bkj) in grow.iter().zip(brow) {
                s += gij * bkj;
            }
            *d += s;
        }
    }
}

/// `dB += Aᵀ · G` (each entry `dB[k][j] += A[i][k] · G[i][j]` for `i = 0, 1, …` in order).
pub fn matmul_grad_b<T: Scalar>(a: MatRef<'_, T>, g: MatRef<'_, T>, mut db: MatMut<'_, T>) {
    for (k, dbrow) in db.row_iter_mut().enumerate() {
        let mut blocks = dbrow.chunks_exact_mut(BLOCK);
        let mut j = 0;
        for dblock in &mut blocks {
            let mut acc = [T::ZERO; BLOCK];
            acc.copy_from_slice(dblock);
            for (arow, grow) in a.row_iter().zip(g.row_iter()) {
                if let (Some(&aik), Some(gblock)) = (arow.get(k), block(grow, j)) {
                    for (s, &gij) in acc.iter_mut().zip(gblock) {
                        *s += aik * gij;
                    }
                }
            }
            dblock.copy_from_slice(&acc);
            j += BLOCK;
        }
        for (d, j) in blocks.into_remainder().iter_mut().zip(j..) {
            let mut s = *d;
            for (arow, grow) in a.row_iter().zip(g.row_iter()) {
                if let (Some(&aik), Some(&gij)) = (arow.get(k), grow.get(j)) {
                    s += aik * gij;
                }
            }
            *d = s;
        }
    }
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
