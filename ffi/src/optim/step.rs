//! The training calls: one update (`eg_optimizer_step`), the minimise step (`eg_minimize`) and
//! micro-batch accumulation (`eg_accumulate`, `eg_step_accumulated`).

use super::*;

/// Finishes an update: counts it (Adam counts inside its rule).
fn counted(o: &mut EgOptimizer) {
    if o.kind != EgOptimizerKind::Adam as u32 {
        o.updates = o.updates.saturating_add(1);
    }
}

/// Applies one update from the gradients of the last backprop to every variable that it
/// reached.
///
/// Errors: NULL_POINTER, MISALIGNED, NOT_INITIALISED, INVALID_ARGUMENT (hyper-parameters out
/// of range), OVERLAP (optimizer or its state inside the graph), BUFFER_TOO_SMALL (state for
/// fewer scalars than the graph trains), NON_FINITE (a gradient is NaN or infinite). On
/// failure no variable and no state changes.
///
/// # Safety
/// `opt` as in `eg_sgd_init` (with its state array); `g` is NULL or a graph from
/// `eg_graph_init` that nothing else uses during the call.
#[no_mangle]
pub unsafe extern "C" fn eg_optimizer_step(opt: *mut EgOptimizer, g: *mut EgGraph) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or a valid optimizer (the caller's contract).
        let (o, os) = unsafe { optimizer(opt, gs) }?;
        {
            // SAFETY: the state array of an initialised optimizer is valid (the init contract).
            let mut rule = unsafe { o.rule(&[gs, os]) }?;
            rule.check(graph)?;
            embedgrad_train::check_gradients(graph)?;
            rule.apply(graph)?;
        }
        counted(o);
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
        let (out, ls) = unsafe { Out::new(loss_out, &[gs, os]) }?;
        let l = {
            // SAFETY: the state array of an initialised optimizer is valid (the init contract).
            let mut rule = unsafe { o.rule(&[gs, os, ls]) }?;
            rule.check(graph)?;
            let id = scalar_node(graph, loss)?;
            let t = graph.tensor::<1, 1>(id)?;
            embedgrad_train::minimize(&mut rule, graph, t)?
        };
        counted(o);
        out.write(l);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// The arguments shared by `eg_accumulate` and `eg_step_accumulated`.
struct Batches<'a> {
    feeds: Feeds,
    xs: &'a [f32],
    ys: &'a [f32],
    /// The memory of `xs` and `ys`.
    spans: [Span; 2],
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
    let spans = [
        Span::of(xs.as_ptr(), xs.len())?,
        Span::of(ys.as_ptr(), ys.len())?,
    ];
    let feeds = Feeds {
        x: handle(x),
        y: handle(y),
        loss: scalar_node(graph, loss)?,
    };
    Ok(Batches {
        feeds,
        xs,
        ys,
        spans,
    })
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
        let l = embedgrad_train::accumulate(graph, b.feeds, b.xs, b.ys)?;
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
/// Errors: as `eg_accumulate` and `eg_optimizer_step`.
///
/// # Safety
/// As `eg_accumulate`, and `opt` as in `eg_optimizer_step`.
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
        let [xsp, ysp] = b.spans;
        let l = {
            // SAFETY: the state array of an initialised optimizer is valid (the init contract).
            let mut rule = unsafe { o.rule(&[gs, os, ls, xsp, ysp]) }?;
            rule.check(graph)?;
            embedgrad_train::step_accumulated(&mut rule, graph, b.feeds, b.xs, b.ys)?
        };
        counted(o);
        out.write(l);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}
