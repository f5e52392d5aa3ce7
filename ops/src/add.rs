//! `add`: `y = a + b`, where `b` may broadcast: it is either `a`'s shape, a row vector
//! (`1×C`, added to every row — the tutorial's bias), a column vector (`R×1`, added to every
//! column) or a scalar (`1×1`).
//!
//! Gradients: `∂J/∂a = G`; `∂J/∂b = G` summed back to `b`'s shape (over rows for a row
//! vector, over columns for a column vector, over everything for a scalar).
//!
//! The typed builder rejects other shapes at compile time:
//!
//! ```compile_fail
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 4, 64> = StdGraph::new();
//! let a = g.placeholder::<3, 4>().unwrap();
//! let b = g.placeholder::<2, 4>().unwrap();
//! let _ = g.add(a, b); // 2×4 does not broadcast to 3×4
//! ```
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
//! let a = g.constant(&Matrix::new([[1.0, 2.0], [3.0, 4.0]]))?;
//! let row = g.constant(&Matrix::new([[10.0, 20.0]]))?;
//! let col = g.constant(&Matrix::new([[100.0], [200.0]]))?;
//! let y = g.add(a, row)?;
//! let z = g.add(y, col)?;
//! assert_eq!(g.eval(z)?, Matrix::new([[111.0, 122.0], [213.0, 224.0]]));
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use embedgrad_core::nopanic::SliceExt as _;
use crate::StdOp;
use embedgrad_core::{expect_arity, Error, Graph, MatMut, MatRef, Op, Scalar, Shape, Tensor};

/// Addition with broadcasting of the second operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Add;

/// How `b` relates to `a`'s shape.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Broadcast {
    Full,
    Row,
    Col,
    Scalar,
}

pub(crate) fn broadcast(a: Shape, b: Shape) -> Option<Broadcast> {
    if b == a {
        Some(Broadcast::Full)
    } else if b.rows == 1 && b.cols == a.cols {
        Some(Broadcast::Row)
    } else if b.cols == 1 && b.rows == a.rows {
        Some(Broadcast::Col)
    } else if b.rows == 1 && b.cols == 1 {
        Some(Broadcast::Scalar)
    } else {
        None
    }
}

/// `out = a ⊕ sign·b` with `b` broadcast (sign is +1 for add, −1 for subtract).
pub(crate) fn broadcast_apply<T: Scalar>(
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    f: impl Fn(T, T) -> T,
) {
    let Some(mode) = broadcast(a.shape(), b.shape()) else {
        return;
    };
    let bs = b.as_slice();
    let b0 = bs.first().copied().unwrap_or(T::ZERO);
    match mode {
        Broadcast::Full => {
            for ((o, &x), &y) in out.as_mut_slice().iter_mut().zip(a.as_slice()).zip(bs) {
                *o = f(x, y);
            }
        }
        Broadcast::Row => {
            for (orow, arow) in out.row_iter_mut().zip(a.row_iter()) {
                for ((o, &x), &y) in orow.iter_mut().zip(arow).zip(bs) {
                    *o = f(x, y);
                }
            }
        }
        Broadcast::Col => {
            for ((orow, arow), &y) in out.row_iter_mut().zip(a.row_iter()).zip(bs) {
                for (o, &x) in orow.iter_mut().zip(arow) {
                    *o = f(x, y);
                }
            }
        }
        Broadcast::Scalar => {
            for (o, &x) in out.as_mut_slice().iter_mut().zip(a.as_slice()) {
                *o = f(x, b0);
            }
        }
    }
}

/// `db += sign · G` summed back to `db`'s (broadcast) shape.
pub(crate) fn unbroadcast_grad<T: Scalar>(g: MatRef<'_, T>, mut db: MatMut<'_, T>, negate: bool) {
    let Some(mode) = broadcast(g.shape(), db.shape()) else {
        return;
    };
    let s = if negate { -T::ONE } else { T::ONE };
    match mode {
        Broadcast::Full => {
            for (d, &g) in db.as_mut_slice().iter_mut().zip(g.as_slice()) {
                *d += s * g;
            }
        }
        Broadcast::Row => {
            // Column sums, `BLOCK` columns at a time in registers (each still summed row by
            // row in order: the same result as adding every row into `db` in turn, without
            // waiting on a store to the same word in every row).
            const BLOCK: usize = 4;
            let mut blocks = db.as_mut_slice().exact_rows_mut(BLOCK);
            let mut j = 0;
            for dblock in &mut blocks {
                let mut acc = [T::ZERO; BLOCK];
                acc.copy_from(dblock);
                for grow in g.row_iter() {
                    if let Some(gblock) = grow.get(j..j + BLOCK) {
                        for (a, &g) in acc.iter_mut().zip(gblock) {
                            *a += s * g;
                        }
                    }
                }
                dblock.copy_from(&acc);
                j += BLOCK;
            }
            for (d, j) in blocks.into_remainder().iter_mut().zip(j..) {
                let mut acc = *d;
                for grow in g.row_iter() {
                    if let Some(&g) = grow.get(j) {
                        acc += s * g;
                    }
                }
                *d = acc;
            }
        }
        Broadcast::Col => {
            for (d, grow) in db.as_mut_slice().iter_mut().zip(g.row_iter()) {
                let mut acc = T::ZERO;
                for &g in grow {
                    acc += g;
                }
                *d += s * acc;
            }
        }
        Broadcast::Scalar => {
            let mut acc = T::ZERO;
            for &g in g.as_slice() {
                acc += g;
            }
            if let Some(d) = db.as_mut_slice().first_mut() {
                *d += s * acc;
            }
        }
    }
}

/// The shape rule shared by `add` and `subtract`.
pub(crate) fn broadcast_shape(s: &[Shape]) -> Result<Shape, Error> {
    expect_arity(s, 2)?;
    match s {
        [a, b] if broadcast(*a, *b).is_some() => Ok(*a),
        [a, b] => Err(Error::ShapeMismatch {
            expected: *a,
            found: *b,
        }),
        _ => Err(Error::InvalidArgument),
    }
}

impl<T: Scalar> Op<T> for Add {
    fn name(&self) -> &'static str {
        "add"
    }
    fn out_shape(&self, s: &[Shape]) -> Result<Shape, Error> {
        broadcast_shape(s)
    }
    fn forward(&self, x: &[MatRef<'_, T>], y: MatMut<'_, T>) {
        if let [a, b] = x {
            broadcast_apply(*a, *b, y, |x, y| x + y);
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
        // For input 0 the shapes are equal (Full), so this is `da += G`.
        let _ = index;
        unbroadcast_grad(g, dx, false);
    }
}

/// Whether `R2 × C2` broadcasts to `R × C` (checked at compile time by the builders).
pub(crate) const fn broadcasts(r: usize, c: usize, r2: usize, c2: usize) -> bool {
    (r2 == r || r2 == 1) && (c2 == c || c2 == 1)
}

/// The builder shared by `add` and `subtract`: checks at compile time that `R2 × C2`
/// broadcasts to `R × C`, then pushes `op` on `a` and `b`.
pub(crate) fn push_broadcast<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const R: usize,
    const C: usize,
    const R2: usize,
    const C2: usize,
>(
    g: &mut Graph<T, O, N, S>,
    op: StdOp,
    a: Tensor<R, C>,
    b: Tensor<R2, C2>,
) -> Result<Tensor<R, C>, Error> {
    const {
        assert!(
            broadcasts(R, C, R2, C2),
            "add, subtract: b must be R×C, 1×C, R×1 or 1×1"
        )
    };
    g.op(op.into(), &[a.id(), b.id()])
}

/// Builder for [`Add`].
pub trait AddExt<T> {
    /// `a + b`, with `b` of shape `R×C`, `1×C`, `R×1` or `1×1` (checked at compile time).
    ///
    /// # Errors
    /// Capacity errors and bad handles (see [`Graph::push_op`]).
    fn add<const R: usize, const C: usize, const R2: usize, const C2: usize>(
        &mut self,
        a: Tensor<R, C>,
        b: Tensor<R2, C2>,
    ) -> Result<Tensor<R, C>, Error>;
}

impl<T: Scalar, O: Op<T> + From<StdOp>, const N: usize, const S: usize> AddExt<T>
    for Graph<T, O, N, S>
{
    fn add<const R: usize, const C: usize, const R2: usize, const C2: usize>(
        &mut self,
        a: Tensor<R, C>,
        b: Tensor<R2, C2>,
    ) -> Result<Tensor<R, C>, Error> {
        push_broadcast(self, StdOp::from(Add), a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn literal_every_broadcast() {
        let a = (Shape::new(2, 3), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let full = forward(&Add, &[a.clone(), (Shape::new(2, 3), vec![1.0; 6])]);
        assert_eq!(full, vec![2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let row = forward(&Add, &[a.clone(), (Shape::new(1, 3), vec![10.0, 20.0, 30.0])]);
        assert_eq!(row, vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]);
        let col = forward(&Add, &[a.clone(), (Shape::new(2, 1), vec![10.0, 20.0])]);
        assert_eq!(col, vec![11.0, 12.0, 13.0, 24.0, 25.0, 26.0]);
        let sc = forward(&Add, &[a.clone(), (Shape::new(1, 1), vec![-1.0])]);
        assert_eq!(sc, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(Op::<f32>::out_shape(&Add, &[Shape::new(2, 3), Shape::new(3, 2)]).is_err());
        assert!(Op::<f32>::out_shape(&Add, &[Shape::new(2, 3), Shape::new(2, 2)]).is_err());
    }

    #[test]
    fn gradient_every_broadcast() {
        for (i, (r, c)) in [(1, 1), (3, 2), (2, 5)].into_iter().enumerate() {
            for (br, bc) in [(r, c), (1, c), (r, 1), (1, 1)] {
                grad_check(
                    &Add,
                    &[
                        rand(i as u64, Shape::new(r, c), -2.0, 2.0),
                        rand(20 + i as u64, Shape::new(br, bc), -2.0, 2.0),
                    ],
                );
            }
        }
    }
}
