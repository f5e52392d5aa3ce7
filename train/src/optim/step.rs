//! The training step: minimise (forward, backprop, update), gradient accumulation over
//! micro-batches, and evaluation.

use super::Optimizer;
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, NodeId, Op, Origin, Scalar, Tensor};

/// Whether every gradient of every reached variable is finite.
pub fn gradients_finite<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
) -> bool {
    check_gradients(g).is_ok()
}

/// As [`gradients_finite`], naming the first variable with a NaN or infinite gradient.
///
/// # Errors
/// [`Error::NonFinite`] with [`Origin::Gradient`] and the variable.
pub fn check_gradients<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
) -> Result<(), Error> {
    g.for_each_variable(|v| {
        if v.reached && v.grad.iter().any(|d| !d.is_finite()) {
            Err(Error::non_finite(Origin::Gradient, v.id))
        } else {
            Ok(())
        }
    })
}

/// One training step: runs its own forward pass, backpropagates, then updates every variable
/// that reaches the loss. Returns the loss computed before the update.
///
/// When the graph has a plain step plan for this loss ([`Graph::plan`]), the step is the
/// planned, fused one: each variable is updated as soon as its gradient is final (see
/// [`Graph::step`] for what that means when an update fails midway).
///
/// # Errors
/// Graph errors (missing feed, …); [`Error::NonFinite`] when the loss or a gradient is NaN or
/// infinite; the optimizer's errors ([`Optimizer::apply`]: [`Error::InvalidParameter`] for a
/// setting out of range, [`Error::TooSmall`] for too small a state,
/// [`Error::NonFinite`] for an overflowing update). No variable is changed on an error.
pub fn minimize<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    opt: &mut impl Optimizer<T>,
    g: &mut Graph<T, O, N, S>,
    loss: Tensor<1, 1>,
) -> Result<T, Error> {
    if g.planned_loss() == Some(loss.id()) && !g.plan_accumulates() {
        opt.begin_step()?;
        return g.step(loss, |v| opt.update_variable(v));
    }
    let l = g.forward_backward(loss)?;
    if !l.is_finite() {
        return Err(Error::non_finite(Origin::Loss, loss.id()));
    }
    check_gradients(g)?;
    opt.apply(g)?;
    Ok(l)
}

/// Where a micro-batched data set goes: input and target placeholders and the loss.
#[derive(Clone, Copy, Debug)]
pub struct Feeds {
    /// Input placeholder (`B × D`).
    pub x: NodeId,
    /// Target placeholder (`B × K`).
    pub y: NodeId,
    /// The 1×1 loss, a sum over the batch rows.
    pub loss: NodeId,
}

fn chunks<'a, T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    feeds: Feeds,
    xs: &'a [T],
    ys: &'a [T],
) -> Result<impl ExactSizeIterator<Item = (&'a [T], &'a [T])>, Error> {
    let xb = g.shape(feeds.x)?.checked_len()?;
    let yb = g.shape(feeds.y)?.checked_len()?;
    let n = xs.len().checked_div(xb).unwrap_or(0);
    let whole = n.checked_mul(xb) == Some(xs.len()) && n.checked_mul(yb) == Some(ys.len());
    if n == 0 || !whole {
        return Err(Error::LengthMismatch {
            expected: n.max(1).saturating_mul(yb),
            found: ys.len(),
        });
    }
    // Indexed rather than `chunks_exact(..).zip(..)`, whose out-of-line `Zip::new` divides by
    // the chunk size with a division-by-zero check the optimiser cannot drop (a panic path at
    // opt-levels 2 and 3, which the C API's `panic-never` link check refuses). Every slice is
    // in range (checked above, without overflow); an empty one could only be refused by the
    // feed.
    Ok((0..n).map(move |i| {
        let (x, y) = (i * xb, i * yb);
        (
            xs.get(x..x + xb).unwrap_or(&[]),
            ys.get(y..y + yb).unwrap_or(&[]),
        )
    }))
}

/// Sums the loss and its gradients over a data set fed in micro-batches.
///
/// Because the loss is a sum over rows, the accumulated gradient is the full-batch gradient,
/// while the graph only holds one micro-batch (`B` rows): memory no longer grows with the data
/// set. `xs` holds whole micro-batches of inputs (row-major), `ys` the matching targets.
/// Returns the summed loss; gradients are left in the graph for an [`Optimizer`].
///
/// # Errors
/// [`Error::LengthMismatch`] when the data is not a whole number of micro-batches; graph
/// errors; [`Error::NonFinite`] for non-finite data or loss (variables are never changed here).
pub fn accumulate<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    feeds: Feeds,
    xs: &[T],
    ys: &[T],
) -> Result<T, Error> {
    let mut batches = chunks(g, feeds, xs, ys)?;
    accumulate_with(g, feeds.loss, batches.len(), |g, _| {
        let (x, y) = batches.next().ok_or(Error::InvalidArgument)?;
        g.feed_slice(feeds.x, x)?;
        g.feed_slice(feeds.y, y)
    })
}

/// [`accumulate`] over `batches` micro-batches that `feed(g, i)` puts into the graph (micro-batch
/// `i`, in order), for data that is not in one slice: drawn, read from a sensor or a file, or
/// fed in place with [`Graph::feed_with`]. With an accumulating plan for `loss`
/// ([`PlanOptions::accumulate`](embedgrad_core::PlanOptions)) each micro-batch is one planned,
/// fused step.
///
/// ```
/// use embedgrad_core::{Graph, Matrix};
/// use embedgrad_ops::{prelude::*, StdOp};
/// use embedgrad_train::accumulate_with;
/// let mut g: Graph<f64, StdOp, 8, 64> = Graph::new();
/// let x = g.placeholder::<1, 1>()?;
/// let w = g.variable(&Matrix::new([[2.0]]))?;
/// let loss = g.matmul(x, w)?;
/// let data = [1.0, 2.0, 3.0];
/// let l = accumulate_with(&mut g, loss.id(), 3, |g, i| g.feed_slice(x.id(), &data[i..i + 1]))?;
/// assert_eq!(l, 12.0); // 2 · (1 + 2 + 3)
/// assert_eq!(g.grad(w)?.data, [[6.0]]);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// What `feed` returns; graph errors; [`Error::NonFinite`] for a non-finite loss (variables
/// are never changed here).
pub fn accumulate_with<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    loss: NodeId,
    batches: usize,
    mut feed: impl FnMut(&mut Graph<T, O, N, S>, usize) -> Result<(), Error>,
) -> Result<T, Error> {
    let loss = g.tensor::<1, 1>(loss)?;
    g.zero_grads();
    let mut total = T::ZERO;
    let planned = g.planned_loss() == Some(loss.id()) && g.plan_accumulates();
    for i in 0..batches {
        feed(g, i)?;
        if planned {
            // An accumulating plan: the fused forward and backward, adding to the variables'
            // gradients (a non-finite loss is refused before its backward).
            total += g.step(loss, |_| Ok(()))?;
            continue;
        }
        g.run(loss.id())?;
        let l = g.value(loss)?.data[0][0];
        if !l.is_finite() {
            return Err(Error::non_finite(Origin::Loss, loss.id()));
        }
        total += l;
        g.backward_accumulate(loss)?;
    }
    Ok(total)
}

/// One full-batch step computed in micro-batches: [`accumulate`], then the update. Returns the
/// loss before the update.
///
/// # Errors
/// As [`accumulate`]; [`Error::NonFinite`] for a non-finite gradient (no variable changes).
pub fn step_accumulated<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    opt: &mut impl Optimizer<T>,
    g: &mut Graph<T, O, N, S>,
    feeds: Feeds,
    xs: &[T],
    ys: &[T],
) -> Result<T, Error> {
    let l = accumulate(g, feeds, xs, ys)?;
    apply_accumulated(opt, g)?;
    Ok(l)
}

/// The update after an accumulation: refused when a gradient is not finite (no variable
/// changes), else the optimizer's step.
fn apply_accumulated<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    opt: &mut impl Optimizer<T>,
    g: &mut Graph<T, O, N, S>,
) -> Result<(), Error> {
    check_gradients(g)?;
    opt.apply(g)
}

/// [`step_accumulated`] with the micro-batches fed by `feed` (see [`accumulate_with`]).
///
/// # Errors
/// As [`accumulate_with`]; [`Error::NonFinite`] for a non-finite gradient (no variable changes).
pub fn step_accumulated_with<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    opt: &mut impl Optimizer<T>,
    g: &mut Graph<T, O, N, S>,
    loss: NodeId,
    batches: usize,
    feed: impl FnMut(&mut Graph<T, O, N, S>, usize) -> Result<(), Error>,
) -> Result<T, Error> {
    let l = accumulate_with(g, loss, batches, feed)?;
    apply_accumulated(opt, g)?;
    Ok(l)
}

/// Index of the largest entry (the first on ties); 0 for an empty row.
pub fn argmax<T: Scalar>(row: &[T]) -> usize {
    let mut best = 0;
    let mut best_v = T::NEG_INFINITY;
    for (i, &v) in row.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best
}

/// Evaluates the summed loss and the number of rows whose argmax of `probs` equals the label,
/// feeding the data in micro-batches. Changes no variable and no gradient.
///
/// # Errors
/// As [`accumulate`], and [`Error::LengthMismatch`] when `labels` does not have one entry per row.
pub fn evaluate<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    feeds: Feeds,
    probs: NodeId,
    xs: &[T],
    ys: &[T],
    labels: &[u8],
) -> Result<(T, usize), Error> {
    let pshape = g.shape(probs)?;
    let rows = pshape.rows;
    let loss = g.tensor::<1, 1>(feeds.loss)?;
    let mut total = T::ZERO;
    let mut correct = 0;
    let mut label_chunks = labels.exact_rows(rows.max(1));
    for (x, y) in chunks(g, feeds, xs, ys)? {
        let Some(lab) = label_chunks.next() else {
            return Err(Error::LengthMismatch {
                expected: xs.len() / g.shape(feeds.x)?.cols.max(1),
                found: labels.len(),
            });
        };
        g.feed_slice(feeds.x, x)?;
        g.feed_slice(feeds.y, y)?;
        g.run_many(&[feeds.loss, probs])?;
        total += g.value(loss)?.data[0][0];
        let p = g.value_slice(probs)?;
        for (row, &l) in p.exact_rows(pshape.cols.max(1)).zip(lab) {
            if argmax(row) == l as usize {
                correct += 1;
            }
        }
    }
    Ok((total, correct))
}
