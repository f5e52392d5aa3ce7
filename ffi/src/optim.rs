//! Training: optimizers in caller memory, the minimise step, micro-batch accumulation.
//!
//! An `eg_optimizer` is a plain C struct (every bit pattern is a valid value, so nothing C does
//! to it can make Rust misbehave); its fields are private and checked on every use. Its kind
//! selects the update rule. Today there is gradient descent; optimizers with per-parameter
//! state (momentum, Adam) will keep that state in a caller float array that the struct points
//! to, with the hyper-parameters and update counter in the reserved fields, so adding them
//! changes neither the struct nor the training calls.

use crate::graph::{handle, outside, scalar_node, with_graph, EgGraph};
use crate::guard::{self, check_ptr, Out, Span};
use crate::status::{EgErrorInfo, EgStatus, Fail};
use crate::{EgNode, FfiGraph};
use embedgrad_core::{Error, Graph, Op};
use embedgrad_train::{Feeds, GradientDescent, Optimizer};

/// "EGOP": marks an optimizer that an init function filled in.
const OPTIMIZER_MAGIC: u32 = 0x4547_4F50;

/// The update rule of an `eg_optimizer`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgOptimizerKind {
    /// Gradient descent, `w <- w - lr dJ/dw` (the tutorial's `GradientDescentOptimizer`).
    Sgd = 1,
}

/// An optimizer in caller memory: declare one (static, on the stack, in a struct) and fill it
/// with an init function such as `eg_sgd_init`. The fields are private: set them only through
/// the functions of this library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EgOptimizer {
    magic: u32,
    kind: u32,
    learning_rate: f32,
    /// Reserved for hyper-parameters (momentum, Adam's beta1, beta2, epsilon).
    hyper: [f32; 3],
    /// Updates applied so far.
    updates: u32,
    /// Reserved: per-parameter state in caller memory.
    state: *mut f32,
    /// Reserved: floats at `state`.
    state_len: usize,
}

/// A checked optimizer, as an update rule of `embedgrad-train`.
enum Rule {
    Sgd(GradientDescent<f32>),
}

impl Optimizer<f32> for Rule {
    fn apply<O: Op<f32>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<f32, O, N, S>,
    ) -> Result<(), Error> {
        match self {
            Rule::Sgd(o) => o.apply(g),
        }
    }
}

fn valid_rate(lr: f32) -> Result<f32, Fail> {
    if lr.is_finite() && lr > 0.0 {
        Ok(lr)
    } else {
        Err(EgStatus::InvalidArgument.into())
    }
}

impl EgOptimizer {
    fn rule(&self) -> Result<Rule, Fail> {
        if self.magic != OPTIMIZER_MAGIC {
            return Err(EgStatus::NotInitialised.into());
        }
        match self.kind {
            k if k == EgOptimizerKind::Sgd as u32 => Ok(Rule::Sgd(GradientDescent::new(
                valid_rate(self.learning_rate)?,
            ))),
            _ => Err(EgStatus::NotInitialised.into()),
        }
    }
}

/// Checks an optimizer pointer against the graph's memory and returns the optimizer.
///
/// # Safety
/// A non-NULL, aligned `opt` must be valid for reads and writes of one `EgOptimizer` that
/// nothing else accesses during the call.
unsafe fn optimizer<'a>(
    opt: *mut EgOptimizer,
    graph: Span,
) -> Result<(&'a mut EgOptimizer, Span), Fail> {
    check_ptr(opt.cast_const())?;
    let span = Span::of(opt.cast_const(), 1)?;
    outside(span, graph)?;
    // SAFETY: non-NULL and aligned (checked above), valid and exclusively ours (the caller's
    // contract), disjoint from the graph (checked above); every bit pattern is a valid
    // `EgOptimizer` (integers, floats and a raw pointer), so even memory C never initialised
    // through this library is a value; its magic is checked before use.
    Ok((unsafe { &mut *opt }, span))
}

/// Fills `*opt` with a gradient-descent optimizer of step size `learning_rate`.
///
/// Errors: NULL_POINTER, MISALIGNED, INVALID_ARGUMENT (a rate that is not finite and > 0;
/// `*opt` is then unchanged).
///
/// # Safety
/// `opt` is NULL or valid for reads and writes of one `eg_optimizer` that nothing else uses
/// during the call.
#[no_mangle]
pub unsafe extern "C" fn eg_sgd_init(opt: *mut EgOptimizer, learning_rate: f32) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: forwarded contract; no graph is involved.
        let (o, _) = unsafe { optimizer(opt, Span::EMPTY) }?;
        let lr = valid_rate(learning_rate)?;
        *o = EgOptimizer {
            magic: OPTIMIZER_MAGIC,
            kind: EgOptimizerKind::Sgd as u32,
            learning_rate: lr,
            hyper: [0.0; 3],
            updates: 0,
            state: core::ptr::null_mut(),
            state_len: 0,
        };
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Changes the learning rate of an initialised optimizer (for a schedule).
///
/// Errors: NULL_POINTER, MISALIGNED, NOT_INITIALISED, INVALID_ARGUMENT (as `eg_sgd_init`).
///
/// # Safety
/// As `eg_sgd_init`.
#[no_mangle]
pub unsafe extern "C" fn eg_optimizer_set_learning_rate(
    opt: *mut EgOptimizer,
    learning_rate: f32,
) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: forwarded contract; no graph is involved.
        let (o, _) = unsafe { optimizer(opt, Span::EMPTY) }?;
        o.rule()?;
        o.learning_rate = valid_rate(learning_rate)?;
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Applies one update from the gradients of the last backprop to every variable that it
/// reached.
///
/// Errors: NULL_POINTER, MISALIGNED, NOT_INITIALISED, OVERLAP (optimizer inside the graph),
/// NON_FINITE (a gradient is NaN or infinite: no variable changes).
///
/// # Safety
/// `opt` as in `eg_sgd_init`; `g` is NULL or a graph from `eg_graph_init` that nothing else
/// uses during the call.
#[no_mangle]
pub unsafe extern "C" fn eg_optimizer_step(opt: *mut EgOptimizer, g: *mut EgGraph) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract).
        let (o, _) = unsafe { optimizer(opt, gs) }?;
        let mut rule = o.rule()?;
        if !embedgrad_train::gradients_finite(graph) {
            return Err(Error::NonFinite.into());
        }
        rule.apply(graph)?;
        o.updates = o.updates.wrapping_add(1);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// One training step on the data fed: evaluates the 1x1 loss (its own forward pass),
/// backpropagates, updates every variable that reaches the loss, and stores the loss computed
/// before the update in `*loss_out`.
///
/// Errors: as `eg_run` and `eg_backward`; NON_FINITE when the loss or a gradient is NaN or
/// infinite (then no variable changes); as `eg_optimizer_step`; NULL_POINTER, MISALIGNED,
/// OVERLAP for `loss_out`.
///
/// # Safety
/// As `eg_optimizer_step`; `loss_out` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_minimize(
    opt: *mut EgOptimizer,
    g: *mut EgGraph,
    loss: EgNode,
    loss_out: *mut f32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract).
        let (o, os) = unsafe { optimizer(opt, gs) }?;
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (out, _) = unsafe { Out::new(loss_out, &[gs, os]) }?;
        let mut rule = o.rule()?;
        let id = scalar_node(graph, loss)?;
        let t = graph.tensor::<1, 1>(id)?;
        let l = embedgrad_train::minimize(&mut rule, graph, t)?;
        o.updates = o.updates.wrapping_add(1);
        out.write(l);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Sums the loss and accumulates the gradients over whole micro-batches: the semantics of
/// `embedgrad_train::accumulate` (same order of operations, so the same bits).
///
/// It is re-implemented here with `get` instead of `chunks_exact(..).zip(..)`: the division
/// inside `Zip::new` of two `ChunksExact` keeps a division-by-zero panic path that the
/// optimiser cannot remove (the chunk size is not known to be non-zero), and the bare-metal
/// link check of `ffi/ci.sh` (feature `panic-never`) refuses any panic path.
fn accumulate(graph: &mut FfiGraph, feeds: Feeds, xs: &[f32], ys: &[f32]) -> Result<f32, Error> {
    let xb = graph.shape(feeds.x)?.checked_len()?;
    let yb = graph.shape(feeds.y)?.checked_len()?;
    let loss = graph.tensor::<1, 1>(feeds.loss)?;
    let n = xs.len().checked_div(xb).unwrap_or(0);
    let whole = n.checked_mul(xb) == Some(xs.len()) && n.checked_mul(yb) == Some(ys.len());
    if n == 0 || !whole {
        return Err(Error::LengthMismatch {
            expected: n.max(1).saturating_mul(yb),
            found: ys.len(),
        });
    }
    graph.zero_grads();
    let mut total = 0.0;
    for i in 0..n {
        // In range: (i + 1) * xb <= n * xb = xs.len(), and likewise for ys.
        let x = xs.get(i * xb..(i + 1) * xb).ok_or(Error::InvalidArgument)?;
        let y = ys.get(i * yb..(i + 1) * yb).ok_or(Error::InvalidArgument)?;
        graph.feed_slice(feeds.x, x)?;
        graph.feed_slice(feeds.y, y)?;
        graph.run(feeds.loss)?;
        let l = graph.value(loss)?.data[0][0];
        if !l.is_finite() {
            return Err(Error::NonFinite);
        }
        total += l;
        graph.backward_accumulate(loss)?;
    }
    Ok(total)
}

/// The arguments shared by `eg_accumulate` and `eg_step_accumulated`.
struct Batches<'a> {
    feeds: Feeds,
    xs: &'a [f32],
    ys: &'a [f32],
}

/// Checks the micro-batch arguments.
///
/// # Safety
/// `xs` and `ys` are NULL or point to `xs_len` and `ys_len` floats.
#[allow(clippy::too_many_arguments)]
unsafe fn batches<'a>(
    graph: &FfiGraph,
    x: EgNode,
    y: EgNode,
    loss: EgNode,
    xs: *const f32,
    xs_len: usize,
    ys: *const f32,
    ys_len: usize,
    others: &[Span],
) -> Result<Batches<'a>, Fail> {
    // SAFETY: the pointers are NULL or point to that many floats (the caller's contract).
    let xs = unsafe { guard::input(xs, xs_len, others) }?;
    // SAFETY: as above.
    let ys = unsafe { guard::input(ys, ys_len, others) }?;
    let feeds = Feeds {
        x: handle(x)?,
        y: handle(y)?,
        loss: scalar_node(graph, loss)?,
    };
    Ok(Batches { feeds, xs, ys })
}

/// Sums the loss and the gradients over a data set fed in micro-batches: `xs` holds whole
/// micro-batches of inputs for the placeholder `x` (row-major, a multiple of its size), `ys`
/// the matching targets for `y`. As the loss is a sum over rows, the result is the full-batch
/// gradient, with the memory of one micro-batch. Stores the summed loss in `*loss_out`; the
/// gradients stay in the graph for `eg_optimizer_step`.
///
/// Errors: LENGTH_MISMATCH (not a whole number of micro-batches), NON_FINITE, the errors of
/// `eg_feed`, `eg_run` and `eg_backward`; NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_clear`; `xs` and `ys` are NULL or point to `xs_len` and `ys_len` floats;
/// `loss_out` is NULL or valid for one write.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn eg_accumulate(
    g: *mut EgGraph,
    x: EgNode,
    y: EgNode,
    loss: EgNode,
    xs: *const f32,
    xs_len: usize,
    ys: *const f32,
    ys_len: usize,
    loss_out: *mut f32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (out, os) = unsafe { Out::new(loss_out, &[gs]) }?;
        // SAFETY: forwarded contract.
        let b = unsafe { batches(graph, x, y, loss, xs, xs_len, ys, ys_len, &[gs, os]) }?;
        let l = accumulate(graph, b.feeds, b.xs, b.ys)?;
        out.write(l);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// One full-batch training step computed in micro-batches: `eg_accumulate`, then the update
/// (refused, with NON_FINITE, when a gradient is not finite). Stores the loss before the
/// update in `*loss_out`.
///
/// # Safety
/// As `eg_accumulate`, and `opt` as in `eg_sgd_init`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn eg_step_accumulated(
    opt: *mut EgOptimizer,
    g: *mut EgGraph,
    x: EgNode,
    y: EgNode,
    loss: EgNode,
    xs: *const f32,
    xs_len: usize,
    ys: *const f32,
    ys_len: usize,
    loss_out: *mut f32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract).
        let (o, os) = unsafe { optimizer(opt, gs) }?;
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (out, ls) = unsafe { Out::new(loss_out, &[gs, os]) }?;
        // SAFETY: forwarded contract.
        let b = unsafe { batches(graph, x, y, loss, xs, xs_len, ys, ys_len, &[gs, os, ls]) }?;
        let mut rule = o.rule()?;
        let l = accumulate(graph, b.feeds, b.xs, b.ys)?;
        if !embedgrad_train::gradients_finite(graph) {
            return Err(Error::NonFinite.into());
        }
        rule.apply(graph)?;
        o.updates = o.updates.wrapping_add(1);
        out.write(l);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}
