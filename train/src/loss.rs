//! Losses built from the ops.

use embedgrad_core::{Error, Graph, Op, Scalar, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_ops::StdOp;

/// The tutorial's cross-entropy `J = −Σ_i Σ_j c_ij log p_ij`: a **sum** over the batch, built
/// from the seed ops as `negative(reduce_sum(reduce_sum(multiply(c, log(p)), axis=1)))`.
///
/// `log(0)` makes it NaN when a probability underflows; for real training prefer a fused,
/// stable softmax cross-entropy.
///
/// # Errors
/// Capacity errors and bad handles.
pub fn cross_entropy<
    T: Scalar,
    O: Op<T> + From<StdOp>,
    const N: usize,
    const S: usize,
    const B: usize,
    const K: usize,
>(
    g: &mut Graph<T, O, N, S>,
    p: Tensor<B, K>,
    c: Tensor<B, K>,
) -> Result<Tensor<1, 1>, Error> {
    let lp = g.log(p)?;
    let cl = g.multiply(c, lp)?;
    let rows = g.reduce_sum_axis1(cl)?;
    let total = g.reduce_sum(rows)?;
    g.negative(total)
}
