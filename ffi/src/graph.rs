//! The graph in caller memory: creating it, building it, feeding, running, backprop, reading.

use crate::guard::{self, check_ptr, disjoint, Out, Span};
use crate::status::{EgErrorInfo, EgStatus, Fail};
use crate::weights::EgWeightsError;
use crate::{EgNode, FfiGraph, EG_NODES, EG_SCALARS};
use core::ffi::c_void;
use core::mem::{align_of, size_of};
use embedgrad_core::{Error, NodeId, NodeKind, Shape};

/// "EGGR": marks memory that `eg_graph_init` initialised.
const GRAPH_MAGIC: u32 = 0x4547_4752;

/// A graph of f32 nodes and the standard ops, in memory the caller owns. Opaque: C only holds
/// pointers to it, obtained from `eg_graph_init`.
pub struct EgGraph {
    magic: u32,
    /// The address `eg_graph_init` initialised this graph at: a copy elsewhere is refused.
    home: usize,
    pub(crate) last: EgErrorInfo,
    /// The details of the last weights call that failed (`eg_weights_last_error`).
    pub(crate) weights: EgWeightsError,
    graph: FfiGraph,
}

/// What a node is (`eg_node_kind`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgKind {
    /// Fed with data before a run.
    Placeholder = 1,
    /// Trainable; keeps its value between runs and has a gradient.
    Variable = 2,
    /// A fixed value.
    Constant = 3,
    /// The output of an operation.
    Op = 4,
}

/// Checks a graph pointer and returns the graph.
///
/// # Safety
/// A non-NULL, aligned `g` must point to `size_of::<EgGraph>()` readable and writable bytes
/// that nothing else accesses during the call.
pub(crate) unsafe fn graph_mut<'a>(g: *mut EgGraph) -> Result<&'a mut EgGraph, EgStatus> {
    check_ptr(g.cast_const()).map_err(|f| EgErrorInfo::from(f).status)?;
    // SAFETY: `g` is non-NULL and aligned (checked above) and points to readable memory of an
    // `EgGraph` (caller); reading the `u32` through a raw place creates no reference to the
    // (possibly uninitialised) rest of the struct.
    let magic = unsafe { core::ptr::addr_of!((*g).magic).read() };
    if magic != GRAPH_MAGIC {
        return Err(EgStatus::NotInitialised);
    }
    // SAFETY: as the magic above; the magic shows that `eg_graph_init` wrote the field.
    let home = unsafe { core::ptr::addr_of!((*g).home).read() };
    if home != g.addr() {
        // A copy of a graph initialised elsewhere: it has the original's tag, so it would
        // accept the original's handles. Refused, before anything is read or written.
        return Err(EgStatus::Moved);
    }
    // SAFETY: the magic shows that `eg_graph_init` wrote a valid `EgGraph` here (the caller
    // passes memory it got from `eg_graph_init`, a byte copy of such memory — refused above
    // unless it sits where the graph was initialised — or memory that fails the magic check),
    // and the caller guarantees exclusive access for the duration of the call.
    Ok(unsafe { &mut *g })
}

/// A failure a call records in its graph.
pub(crate) trait Record {
    /// Stores the details in the graph and returns the call's status.
    fn record(self, eg: &mut EgGraph) -> EgStatus;
}

impl Record for Fail {
    /// Not inlined: its temporaries stay out of the frames of the calls that succeed, which
    /// is what a training loop's stack is made of.
    #[inline(never)]
    fn record(self, eg: &mut EgGraph) -> EgStatus {
        eg.last = self.into();
        eg.last.status
    }
}

/// Runs `f` on a checked graph; records a failure in the graph's last error.
///
/// `f` gets the graph and the span of its memory, which no caller buffer may overlap.
///
/// # Safety
/// As [`graph_mut`], and `f`'s own requirements.
pub(crate) unsafe fn with_graph<E: Record + From<Fail>>(
    g: *mut EgGraph,
    f: impl FnOnce(&mut FfiGraph, Span) -> Result<(), E>,
) -> EgStatus {
    // SAFETY: forwarded to the caller.
    let eg = match unsafe { graph_mut(g) } {
        Ok(eg) => eg,
        Err(s) => return s,
    };
    let span = Span::of(g.cast_const(), 1).unwrap_or(Span::EMPTY);
    let result = if span == Span::EMPTY {
        Err(Fail::Api(EgStatus::InvalidArgument).into())
    } else {
        f(&mut eg.graph, span)
    };
    match result {
        Ok(()) => EgStatus::Ok,
        Err(fail) => fail.record(eg),
    }
}

/// A handle from C. The graph checks it: 0, and any handle with tag 0, is UNKNOWN_NODE.
pub(crate) fn handle(raw: EgNode) -> NodeId {
    NodeId::from_raw(raw)
}

/// Bytes of graph memory `eg_graph_init` needs with the capacities this library was built
/// with (at most `EG_GRAPH_BYTES` of the header).
#[no_mangle]
pub extern "C" fn eg_graph_size() -> usize {
    size_of::<EgGraph>()
}

/// The alignment graph memory needs (at most `EG_GRAPH_ALIGN` of the header).
#[no_mangle]
pub extern "C" fn eg_graph_align() -> usize {
    align_of::<EgGraph>()
}

/// The capacities this library was built with: the most nodes, and the most scalars (values
/// plus gradients), that one graph holds.
///
/// # Safety
/// Each pointer is NULL (an error) or valid for a write of one `size_t`.
#[no_mangle]
pub unsafe extern "C" fn eg_capacity(nodes: *mut usize, scalars: *mut usize) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (n, ns) = unsafe { Out::new(nodes, &[]) }?;
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (s, _) = unsafe { Out::new(scalars, &[ns]) }?;
        n.write(EG_NODES);
        s.write(EG_SCALARS);
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Creates an empty graph in `mem` (`size` bytes, aligned to `eg_graph_align()`) and stores a
/// pointer to it in `*out` (it equals `mem`). Declare the memory as an `eg_graph_storage`,
/// which has the size and alignment the header's capacities need.
///
/// Calling it again on the same memory empties the graph: handles of the old graph become
/// foreign. The library never allocates; the graph lives in `mem` until the caller reuses it.
/// The graph stays at `mem`: a copy of its bytes at another address is refused by every call
/// (MOVED) until it is initialised again, which empties it.
///
/// Errors: NULL_POINTER, MISALIGNED, BUFFER_TOO_SMALL (`size < eg_graph_size()`), OVERLAP
/// (`out` inside `mem`).
///
/// # Safety
/// `mem` must be valid for reads and writes of `size` bytes, and `out` for a write of one
/// pointer; nothing else may access them during the call. Afterwards the graph must only be
/// used through the functions of this library, by one caller at a time.
#[no_mangle]
pub unsafe extern "C" fn eg_graph_init(
    mem: *mut c_void,
    size: usize,
    out: *mut *mut EgGraph,
) -> EgStatus {
    let run = || -> Result<(), Fail> {
        if mem.is_null() {
            return Err(EgStatus::NullPointer.into());
        }
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (out, _) = unsafe { Out::new(out, &[Span::of(mem.cast_const().cast::<u8>(), size)?]) }?;
        let g = mem.cast::<EgGraph>();
        check_ptr(g.cast_const())?;
        if size < size_of::<EgGraph>() {
            return Err(Fail::too_small(size_of::<EgGraph>(), size));
        }
        // SAFETY: `g` is non-NULL, aligned for `EgGraph` and valid for writes of
        // `size >= size_of::<EgGraph>()` bytes (checked above; validity from the caller). The
        // old contents are overwritten without being dropped: `EgGraph` has no destructor.
        // The graph is initialised in place, with no copy of it on the stack whatever the
        // optimiser does: zeroed memory is `Graph::empty()` (core documents and keeps that
        // representation; the firmware's `static` graphs land in `.bss` because of it), and
        // the small header fields are then written one by one.
        unsafe {
            core::ptr::write_bytes(g, 0, 1);
            core::ptr::addr_of_mut!((*g).magic).write(GRAPH_MAGIC);
            core::ptr::addr_of_mut!((*g).home).write(g.addr());
            core::ptr::addr_of_mut!((*g).last).write(EgErrorInfo::NONE);
            core::ptr::addr_of_mut!((*g).weights).write(EgWeightsError::NONE);
        }
        out.write(g);
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Removes every node. Handles of the old nodes become foreign (FOREIGN_NODE).
///
/// # Safety
/// `g` is NULL (an error) or a graph from `eg_graph_init` that nothing else uses during the
/// call. The same holds for the `g` of every function below.
#[no_mangle]
pub unsafe extern "C" fn eg_graph_clear(g: *mut EgGraph) -> EgStatus {
    let f = |graph: &mut FfiGraph, _: Span| -> Result<(), Fail> {
        graph.clear();
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// The nodes and scalars (values plus gradients) in use: the least capacities that would hold
/// this graph.
///
/// # Safety
/// As `eg_graph_clear`; each output pointer is NULL (an error) or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_graph_usage(
    g: *mut EgGraph,
    nodes: *mut usize,
    scalars: *mut usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (n, ns) = unsafe { Out::new(nodes, &[gs]) }?;
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (s, _) = unsafe { Out::new(scalars, &[gs, ns]) }?;
        let r = graph.requirements();
        n.write(r.nodes);
        s.write(r.scalars);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// The number of trainable scalars: the entries of every variable that is not frozen
/// (`eg_set_trainable`). It sizes an optimizer's state (`eg_optimizer_state_len`), which
/// covers the trainable variables only, in insertion order.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_parameter_count(g: *mut EgGraph, out: *mut usize) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(out, &[gs]) }?;
        o.write(graph.trainable_scalars());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Freezes (`trainable == 0`) or unfreezes (`trainable == 1`) a variable. A frozen variable
/// keeps its value, gets no gradient, is not updated and has no optimizer state: fine-tuning
/// the last layer (freeze the others) or the biases only. Every variable starts trainable.
///
/// The optimizer's state covers the trainable variables in insertion order, so after changing
/// which variables train, size the state again (`eg_parameter_count`) and reset the optimizer
/// (`eg_optimizer_reset`). A checkpoint records which variables were frozen: a full restore
/// into a graph with other variables frozen is refused (OTHER_OPTIMIZER); the weights alone
/// restore (`eg_checkpoint_restore_weights`).
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, WRONG_KIND (not a variable), INVALID_ARGUMENT
/// (`trainable` other than 0 or 1).
///
/// # Safety
/// As `eg_graph_clear`.
#[no_mangle]
pub unsafe extern "C" fn eg_set_trainable(
    g: *mut EgGraph,
    node: EgNode,
    trainable: u32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, _: Span| -> Result<(), Fail> {
        let on = match trainable {
            0 => false,
            1 => true,
            _ => return Err(EgStatus::InvalidArgument.into()),
        };
        graph.set_trainable(handle(node), on)?;
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Whether a node trains: 1 for a variable that is not frozen, 0 for a frozen variable and
/// for every other kind of node.
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_is_trainable(g: *mut EgGraph, node: EgNode, out: *mut u32) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(out, &[gs]) }?;
        let t = graph.is_trainable(handle(node))?;
        o.write(u32::from(t));
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Copies the details of the graph's last failed call into `*out` (status OK and zeros if no
/// call has failed since `eg_graph_init`). Successful calls do not reset it.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_graph_last_error(g: *mut EgGraph, out: *mut EgErrorInfo) -> EgStatus {
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    let eg = match unsafe { graph_mut(g) } {
        Ok(eg) => eg,
        Err(s) => return s,
    };
    let span = match Span::of(g.cast_const(), 1) {
        Ok(s) => s,
        Err(f) => return EgErrorInfo::from(f).status,
    };
    // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
    match unsafe { Out::new(out, &[span]) } {
        Ok((o, _)) => {
            o.write(eg.last);
            EgStatus::Ok
        }
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Adds a `rows * cols` placeholder, to be fed with `eg_feed` before each run that needs it.
///
/// Errors: INVALID_SHAPE, NODE_CAPACITY, SCALAR_CAPACITY, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_placeholder(
    g: *mut EgGraph,
    rows: usize,
    cols: usize,
    out: *mut EgNode,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(out, &[gs]) }?;
        let id = graph.placeholder_dyn(Shape::new(rows, cols))?;
        o.write(id.to_raw());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Shared by `eg_variable` and `eg_constant`.
///
/// # Safety
/// As `eg_variable`.
unsafe fn leaf(
    g: *mut EgGraph,
    variable: bool,
    rows: usize,
    cols: usize,
    data: *const f32,
    len: usize,
    out: *mut EgNode,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, os) = unsafe { Out::new(out, &[gs]) }?;
        // SAFETY: the pointer is NULL or points to that many values (the caller's contract).
        let data = unsafe { guard::input(data, len, &[gs, os]) }?;
        let shape = Shape::new(rows, cols);
        let id = if variable {
            graph.variable_dyn(shape, data)?
        } else {
            graph.constant_dyn(shape, data)?
        };
        o.write(id.to_raw());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Adds a trainable `rows * cols` variable with the initial values `init[0..len]`
/// (row-major; `len` must be `rows * cols`).
///
/// Errors: as `eg_placeholder`, and LENGTH_MISMATCH, NON_FINITE (NaN or infinity in `init`).
///
/// # Safety
/// As `eg_graph_usage`; `init` is NULL (an error) or points to `len` floats.
#[no_mangle]
pub unsafe extern "C" fn eg_variable(
    g: *mut EgGraph,
    rows: usize,
    cols: usize,
    init: *const f32,
    len: usize,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { leaf(g, true, rows, cols, init, len, out) }
}

/// Adds a constant `rows * cols` node with the values `value[0..len]` (row-major).
///
/// Errors: as `eg_variable`.
///
/// # Safety
/// As `eg_variable`.
#[no_mangle]
pub unsafe extern "C" fn eg_constant(
    g: *mut EgGraph,
    rows: usize,
    cols: usize,
    value: *const f32,
    len: usize,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { leaf(g, false, rows, cols, value, len, out) }
}

/// Copies `data[0..len]` (row-major) into a placeholder. It stays fed until fed again.
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, WRONG_KIND (not a placeholder), LENGTH_MISMATCH,
/// NON_FINITE (nothing is written then), NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_variable`, with `data` for `init`.
#[no_mangle]
pub unsafe extern "C" fn eg_feed(
    g: *mut EgGraph,
    placeholder: EgNode,
    data: *const f32,
    len: usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        let id = handle(placeholder);
        // SAFETY: the pointer is NULL or points to that many values (the caller's contract).
        let data = unsafe { guard::input(data, len, &[gs]) }?;
        graph.feed_slice(id, data)?;
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Overwrites the value of a variable or constant with `data[0..len]` (row-major): to load
/// trained weights, or to reset them.
///
/// Errors: as `eg_feed`, WRONG_KIND for placeholders and ops.
///
/// # Safety
/// As `eg_feed`.
#[no_mangle]
pub unsafe extern "C" fn eg_assign(
    g: *mut EgGraph,
    node: EgNode,
    data: *const f32,
    len: usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        let id = handle(node);
        // SAFETY: the pointer is NULL or points to that many values (the caller's contract).
        let data = unsafe { guard::input(data, len, &[gs]) }?;
        graph.assign_slice(id, data)?;
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Evaluates a node: every ancestor it needs is computed once, in insertion order.
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, MISSING_FEED (checked before anything is computed).
///
/// # Safety
/// As `eg_graph_clear`.
#[no_mangle]
pub unsafe extern "C" fn eg_run(g: *mut EgGraph, target: EgNode) -> EgStatus {
    let f = |graph: &mut FfiGraph, _: Span| -> Result<(), Fail> {
        graph.run(handle(target))?;
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Evaluates several nodes in one sweep (a loss and the predictions, say); shared ancestors
/// are computed once.
///
/// Errors: as `eg_run`, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_clear`; `targets` is NULL (an error) or points to `n` handles.
#[no_mangle]
pub unsafe extern "C" fn eg_run_many(
    g: *mut EgGraph,
    targets: *const EgNode,
    n: usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or points to that many values (the caller's contract).
        let raw = unsafe { guard::input(targets, n, &[gs]) }?;
        // SAFETY: `NodeId` is `#[repr(transparent)]` over `u64` and every `u64` is a valid
        // `NodeId` (the graph checks it), so a `[u64]` is a valid `[NodeId]` of equal length.
        let ids = unsafe { core::slice::from_raw_parts(raw.as_ptr().cast::<NodeId>(), raw.len()) };
        graph.run_many(ids)?;
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Shared by the two backprops.
///
/// # Safety
/// As `eg_backward`.
unsafe fn backward(g: *mut EgGraph, loss: EgNode, accumulate: bool) -> EgStatus {
    let f = |graph: &mut FfiGraph, _: Span| -> Result<(), Fail> {
        graph.backward_dyn(handle(loss), accumulate)?;
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Backpropagates from a 1x1 loss whose value is current (after `eg_run`): afterwards every
/// variable's gradient is d loss / d variable (zero for variables that do not reach the loss).
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, NOT_SCALAR.
///
/// # Safety
/// As `eg_graph_clear`.
#[no_mangle]
pub unsafe extern "C" fn eg_backward(g: *mut EgGraph, loss: EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { backward(g, loss, false) }
}

/// Like `eg_backward`, but adds to the variables' gradients instead of overwriting them:
/// summing micro-batches (clear them first with `eg_zero_grads`).
///
/// # Safety
/// As `eg_graph_clear`.
#[no_mangle]
pub unsafe extern "C" fn eg_backward_accumulate(g: *mut EgGraph, loss: EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { backward(g, loss, true) }
}

/// Sets every gradient to zero.
///
/// # Safety
/// As `eg_graph_clear`.
#[no_mangle]
pub unsafe extern "C" fn eg_zero_grads(g: *mut EgGraph) -> EgStatus {
    let f = |graph: &mut FfiGraph, _: Span| -> Result<(), Fail> {
        graph.zero_grads();
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Evaluates a 1x1 loss, backpropagates, and stores the loss in `*loss_out`.
///
/// Errors: as `eg_run` and `eg_backward` (NOT_SCALAR is reported before anything runs),
/// NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_forward_backward(
    g: *mut EgGraph,
    loss: EgNode,
    loss_out: *mut f32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(loss_out, &[gs]) }?;
        let id = scalar_node(graph, loss)?;
        graph.run(id)?;
        graph.backward_dyn(id, false)?;
        let v = graph.value_slice(id)?.first().copied().unwrap_or(0.0);
        o.write(v);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// A handle that must name a 1x1 node.
pub(crate) fn scalar_node(graph: &FfiGraph, raw: EgNode) -> Result<NodeId, Fail> {
    let id = handle(raw);
    let s = graph.shape(id)?;
    if s != Shape::new(1, 1) {
        return Err(Error::NotScalar(s).into());
    }
    Ok(id)
}

/// Shared by `eg_value` and `eg_grad`.
///
/// # Safety
/// As `eg_value`.
unsafe fn read(
    g: *mut EgGraph,
    node: EgNode,
    gradient: bool,
    out: *mut f32,
    out_len: usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        let id = handle(node);
        guard::check_array(out.cast_const(), out_len, &[gs])?;
        // The buffer's size first: it does not depend on whether a value is held.
        let shape = graph.shape(id)?;
        if out_len < shape.rows * shape.cols {
            return Err(Fail::too_small(shape.rows * shape.cols, out_len));
        }
        let src = if gradient {
            graph.grad_slice(id)?
        } else {
            graph.value_slice(id)?
        };
        if out_len < src.len() {
            return Err(Fail::too_small(src.len(), out_len));
        }
        // SAFETY: the pointer is NULL or valid for that many writes (the caller's contract).
        let dst = unsafe { guard::output(out, src.len(), &[gs]) }?;
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Copies a node's current value (row-major, `rows * cols` floats) into `out`, which holds
/// `out_len >= rows * cols` floats. For an op it is the result of the last run that computed
/// it.
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, BUFFER_TOO_SMALL, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_clear`; `out` is NULL (an error) or valid for writes of `out_len` floats.
#[no_mangle]
pub unsafe extern "C" fn eg_value(
    g: *mut EgGraph,
    node: EgNode,
    out: *mut f32,
    out_len: usize,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { read(g, node, false, out, out_len) }
}

/// Copies the gradient of the last backprop's loss with respect to a node into `out`, like
/// `eg_value`.
///
/// Errors: as `eg_value`, and NO_GRADIENT when the node depends on no variable.
///
/// # Safety
/// As `eg_value`.
#[no_mangle]
pub unsafe extern "C" fn eg_grad(
    g: *mut EgGraph,
    node: EgNode,
    out: *mut f32,
    out_len: usize,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { read(g, node, true, out, out_len) }
}

/// The shape of a node.
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_shape(
    g: *mut EgGraph,
    node: EgNode,
    rows: *mut usize,
    cols: *mut usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (r, rs) = unsafe { Out::new(rows, &[gs]) }?;
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (c, _) = unsafe { Out::new(cols, &[gs, rs]) }?;
        let s = graph.shape(handle(node))?;
        r.write(s.rows);
        c.write(s.cols);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// What a node is: one of `eg_kind`.
///
/// Errors: UNKNOWN_NODE, FOREIGN_NODE, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_node_kind(g: *mut EgGraph, node: EgNode, kind: *mut u32) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (k, _) = unsafe { Out::new(kind, &[gs]) }?;
        let v = match graph.kind(handle(node))? {
            NodeKind::Placeholder => EgKind::Placeholder,
            NodeKind::Variable => EgKind::Variable,
            NodeKind::Constant => EgKind::Constant,
            NodeKind::Op(_) => EgKind::Op,
        };
        k.write(v as u32);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Checks a second object's memory against the graph's (used by the optimizer).
pub(crate) fn outside(span: Span, graph: Span) -> Result<(), Fail> {
    disjoint(span, &[graph])
}
