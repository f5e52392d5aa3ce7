//! Optimizers and the minimise step.

use embedgrad_core::{Error, Graph, NodeId, Op, Scalar, Tensor, VariableMut};

/// Updates variables from the gradients the graph holds.
pub trait Optimizer<T: Scalar> {
    /// Applies one update to every variable the last backprop reached.
    ///
    /// The optimizers of this crate refuse (with [`Error::NonFinite`], changing nothing) an
    /// update that would make a variable or their state non-finite, and (with
    /// [`Error::InvalidParameter`], changing nothing) settings out of range: a learning rate
    /// that is negative, NaN or infinite, a momentum or Adam decay outside `[0, 1)`, an Adam
    /// epsilon that is not finite and `≥ 0`.
    ///
    /// # Errors
    /// Implementation-specific; for this crate's optimizers [`Error::InvalidParameter`] (the
    /// parameter's name, value and range), [`Error::InvalidArgument`] when per-parameter
    /// state is too small for the graph, [`Error::NonFinite`] for an overflowing update.
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error>;

    /// Per-parameter state (momentum, Adam moments…), laid out as the optimizer likes, for
    /// checkpoints. Empty for stateless optimizers.
    fn state(&self) -> &[T] {
        &[]
    }

    /// Mutable per-parameter state, for restoring checkpoints.
    fn state_mut(&mut self) -> &mut [T] {
        &mut []
    }

    /// Updates applied so far (Adam's `t`), for checkpoints. 0 for optimizers without one.
    fn update_count(&self) -> u32 {
        0
    }

    /// Restores the update counter.
    fn set_update_count(&mut self, _count: u32) {}

    /// The optimizer's kind and fixed settings as a fingerprint, for checkpoints: a record
    /// restores only into an optimizer with the same one (see
    /// [`checkpoint::Fingerprint`](crate::checkpoint::Fingerprint)). The learning rate is not
    /// part of it: a schedule changes it while training. 0 by default ("not declared"):
    /// implement it for your own optimizer so that its checkpoints cannot be restored into
    /// another one whose state happens to have the same length.
    fn fingerprint(&self) -> u32 {
        0
    }

    /// Starts a planned step ([`Graph::step`]): checks the settings and counts the update
    /// (Adam's `t`). The default does nothing.
    ///
    /// # Errors
    /// As [`Optimizer::apply`] for bad settings.
    fn begin_step(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Updates one variable from its final gradient, during a planned step's backward sweep
    /// (called once per trainable variable, after [`Optimizer::begin_step`]). The optimizers
    /// of this crate check the variable's whole update first and change nothing of it when it
    /// would overflow. The default refuses: implement it to train with a step plan.
    ///
    /// # Errors
    /// [`Error::NotPlanned`] by default; [`Error::NonFinite`] for a non-finite gradient or an
    /// overflowing update; [`Error::InvalidArgument`] when the state is too small.
    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        Err(Error::NotPlanned(v.id))
    }

    /// One training step with this optimizer: forward, backprop, update — the free
    /// [`minimize`] (a planned step when a plan for `loss` is installed). Returns the loss
    /// computed before the update.
    ///
    /// # Errors
    /// As [`minimize`]; no variable is changed on an error.
    fn minimize<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        loss: Tensor<1, 1>,
    ) -> Result<T, Error>
    where
        Self: Sized,
    {
        minimize(self, g, loss)
    }
}

/// The tutorial's `GradientDescentOptimizer`: `W ← W − η ∂J/∂W`.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::GradientDescent;
/// let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[3.0]]))?;
/// let sq = g.multiply(w, w)?;
/// let loss = g.reduce_sum(sq)?;
/// let mut opt = GradientDescent::new(0.25);
/// assert_eq!(opt.minimize(&mut g, loss)?, 9.0); // the loss before the update
/// assert_eq!(g.value(w)?, Matrix::new([[1.5]])); // 3 − 0.25 · 6
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientDescent<T> {
    /// Step size η.
    pub learning_rate: T,
}

/// Refuses a learning rate that is negative, NaN or infinite. Zero is allowed: it is where a
/// schedule decaying to 0 ends (the step then changes nothing).
pub(crate) fn check_learning_rate<T: Scalar>(lr: T) -> Result<(), Error> {
    check_non_negative("learning_rate", lr)
}

/// Refuses a setting `name` that is negative, NaN or infinite.
pub(crate) fn check_non_negative<T: Scalar>(name: &'static str, v: T) -> Result<(), Error> {
    if v.is_finite() && v >= T::ZERO {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: v.to_f64(),
            expected: "finite and >= 0",
        })
    }
}

/// Refuses a decay (momentum, Adam's betas) outside `[0, 1)`.
pub(crate) fn check_decay<T: Scalar>(name: &'static str, b: T) -> Result<(), Error> {
    if b >= T::ZERO && b < T::ONE {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: b.to_f64(),
            expected: "in [0, 1)",
        })
    }
}

impl<T: Scalar> GradientDescent<T> {
    /// An optimizer with step size `learning_rate`, not checked here (so that it can be a
    /// `const`): [`Optimizer::apply`] refuses a learning rate that is negative, NaN or infinite.
    /// Use [`GradientDescent::try_new`] to be told at once.
    pub const fn new(learning_rate: T) -> Self {
        Self { learning_rate }
    }

    /// An optimizer with step size `learning_rate`, checked.
    ///
    /// ```
    /// use embedgrad_core::Error;
    /// use embedgrad_train::GradientDescent;
    /// assert!(GradientDescent::try_new(0.1f32).is_ok());
    /// assert!(matches!(
    ///     GradientDescent::try_new(-0.1f32),
    ///     Err(Error::InvalidParameter { name: "learning_rate", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`"learning_rate"`, with the value) unless `learning_rate`
    /// is finite and `≥ 0`.
    pub fn try_new(learning_rate: T) -> Result<Self, Error> {
        let opt = Self::new(learning_rate);
        opt.validate()?;
        Ok(opt)
    }

    /// Checks the settings, as [`Optimizer::apply`] does before each update.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`"learning_rate"`, with the value) unless the learning
    /// rate is finite and `≥ 0`.
    pub fn validate(&self) -> Result<(), Error> {
        check_learning_rate(self.learning_rate)
    }

    /// One training step: forward, backprop, update (see [`minimize`]); returns the loss
    /// computed before the update.
    ///
    /// # Errors
    /// As [`minimize`].
    pub fn minimize<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        loss: Tensor<1, 1>,
    ) -> Result<T, Error> {
        minimize(self, g, loss)
    }
}

impl<T: Scalar> Optimizer<T> for GradientDescent<T> {
    fn fingerprint(&self) -> u32 {
        crate::checkpoint::Fingerprint::new(b"gradient-descent").finish()
    }

    fn begin_step(&mut self) -> Result<(), Error> {
        self.validate()
    }

    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        if !descent_fits(v.value, v.grad, self.learning_rate) {
            return Err(Error::NonFinite);
        }
        descend(v.value, v.grad, self.learning_rate);
        Ok(())
    }

    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        self.validate()?;
        let lr = self.learning_rate;
        // First a dry run: an update that would overflow a variable (a huge step or gradient)
        // is refused before anything changes.
        g.for_each_variable(|v| {
            if v.reached && !descent_fits(v.value, v.grad, lr) {
                Err(Error::NonFinite)
            } else {
                Ok(())
            }
        })?;
        g.for_each_variable(|v| {
            if v.reached {
                descend(v.value, v.grad, lr);
            }
            Ok(())
        })
    }
}

/// Whether `w − η d` stays finite for every entry of one variable.
fn descent_fits<T: Scalar>(value: &[T], grad: &[T], lr: T) -> bool {
    value
        .iter()
        .zip(grad)
        .all(|(&w, &d)| (w - lr * d).is_finite())
}

/// `w ← w − η d` for every entry of one variable.
fn descend<T: Scalar>(value: &mut [T], grad: &[T], lr: T) {
    for (w, &d) in value.iter_mut().zip(grad) {
        *w -= lr * d;
    }
}

/// Whether every gradient of every reached variable is finite.
pub fn gradients_finite<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
) -> bool {
    g.for_each_variable(|v| {
        if v.reached && v.grad.iter().any(|d| !d.is_finite()) {
            Err(())
        } else {
            Ok(())
        }
    })
    .is_ok()
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
/// setting out of range, [`Error::InvalidArgument`] for too small a state,
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
    if !l.is_finite() || !gradients_finite(g) {
        return Err(Error::NonFinite);
    }
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
    if !xs.len().is_multiple_of(xb) || ys.len() != n * yb || n == 0 {
        return Err(Error::LengthMismatch {
            expected: n.max(1) * yb,
            found: ys.len(),
        });
    }
    // Indexed rather than `chunks_exact(..).zip(..)`, whose out-of-line `Zip::new` divides by
    // the chunk size with a division-by-zero check the optimiser cannot drop (a panic path at
    // opt-levels 2 and 3). Every slice is in range (checked above); an empty one could only
    // be refused by the feed.
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
            return Err(Error::NonFinite);
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
    if !gradients_finite(g) {
        return Err(Error::NonFinite);
    }
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
    let mut label_chunks = labels.chunks_exact(rows.max(1));
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
        for (row, &l) in p.chunks_exact(pshape.cols.max(1)).zip(lab) {
            if argmax(row) == l as usize {
                correct += 1;
            }
        }
    }
    Ok((total, correct))
}
