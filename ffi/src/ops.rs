//! Adding operations: one generic call taking an `eg_op` value, and a typed wrapper per op.
//!
//! Exposing a new op of `embedgrad-ops` takes one `EgOp` variant and one arm in [`std_op`]
//! (plus, optionally, a wrapper function).

use crate::graph::{handle, with_graph, EgGraph};
use crate::guard::{self, Out, Span};
use crate::status::{EgStatus, Fail};
use crate::{EgNode, FfiGraph};
use embedgrad_core::{Error, NodeId, MAX_INPUTS};
use embedgrad_ops::mean::Mean;
use embedgrad_ops::reduce_sum::{Axis, ReduceSum};
use embedgrad_ops::{
    add, exp, leaky_relu, log, matmul, mse, multiply, negative, relu, scale, sigmoid,
    sigmoid_binary_cross_entropy, softmax, softmax_cross_entropy, sparse_softmax_cross_entropy,
    square, subtract, tanh, StdOp,
};

/// The operations of `eg_push_op` and `eg_push_op_param`. 0 is no op, so zeroed memory is
/// rejected.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgOp {
    /// `-x`. 1 input.
    Negative = 1,
    /// Natural logarithm, element-wise. 1 input.
    Log = 2,
    /// `1 / (1 + e^-x)`, element-wise. 1 input.
    Sigmoid = 3,
    /// `a * b`, element-wise; same shapes. 2 inputs.
    Multiply = 4,
    /// Matrix product `a . b` (`RxK` times `KxC`). 2 inputs.
    Matmul = 5,
    /// `a + b`; `b` is `a`'s shape, a `1xC` row (added to every row: a bias), an `Rx1` column
    /// (added to every column) or `1x1`. 2 inputs.
    Add = 6,
    /// The sum of all entries, `RxC -> 1x1`. 1 input.
    ReduceSum = 7,
    /// Sum down each column, collapsing the rows (numpy `axis=0`), `RxC -> 1xC`. 1 input.
    ReduceSumRows = 8,
    /// Sum along each row, collapsing the columns (numpy `axis=1`), `RxC -> Rx1`. 1 input.
    ReduceSumCols = 9,
    /// Row-wise softmax (with the max shift). 1 input.
    Softmax = 10,
    /// `a - b`, `b` broadcast as in `EG_OP_ADD`. 2 inputs.
    Subtract = 11,
    /// `e^x`, element-wise. 1 input.
    Exp = 12,
    /// `x^2`, element-wise. 1 input.
    Square = 13,
    /// `k * x` for the parameter `k` (finite). 1 input.
    Scale = 14,
    /// The mean of all entries, `RxC -> 1x1`. 1 input.
    Mean = 15,
    /// The mean down each column, `RxC -> 1xC`. 1 input.
    MeanRows = 16,
    /// The mean along each row, `RxC -> Rx1`. 1 input.
    MeanCols = 17,
    /// `max(x, 0)`, element-wise. 1 input.
    Relu = 18,
    /// `x` where `x > 0`, else `slope * x`, for the parameter `slope` (finite). 1 input.
    LeakyRelu = 19,
    /// `tanh x`, element-wise. 1 input.
    Tanh = 20,
    /// Fused, stable cross-entropy of `softmax(logits)` against targets (one-hot rows or
    /// probabilities), summed over the rows: inputs logits `BxK`, targets `BxK`; `1x1`.
    SoftmaxCrossEntropy = 21,
    /// As `EG_OP_SOFTMAX_CROSS_ENTROPY` with class labels: inputs logits `BxK`, labels `Bx1`
    /// (class indices stored as floats; a label outside `0..K` ignores its row); `1x1`.
    SparseSoftmaxCrossEntropy = 22,
    /// Fused, stable binary cross-entropy of `sigmoid(logits)` against targets in `[0, 1]`,
    /// summed over all entries: inputs logits, targets of the same shape; `1x1`.
    SigmoidBinaryCrossEntropy = 23,
    /// Mean squared error: inputs predictions, targets of the same shape; `1x1` (a mean, not
    /// a sum).
    Mse = 24,
    /// 1-D convolution over time (configured: `channels` = input channels, `stride`,
    /// `dilation`, `padding`): inputs `x` `Bx(T*CIN)` (time outer), `w` `(K*CIN)xCOUT`, `b`
    /// `1xCOUT`; `Bx(TOUT*COUT)`. Through `eg_push_op_config` or `eg_conv1d`.
    Conv1d = 25,
    /// Depthwise 1-D convolution (configured: `stride`, `dilation`, `padding`): inputs `x`
    /// `Bx(T*C)`, `w` `KxC`, `b` `1xC`; `Bx(TOUT*C)`.
    DepthwiseConv1d = 26,
    /// The maximum of each window over time (configured: `channels`, `window`, `stride`):
    /// `Bx(T*C) -> Bx(TOUT*C)`. 1 input.
    MaxPool1d = 27,
    /// The mean of each window over time (configured as `EG_OP_MAX_POOL1D`). 1 input.
    AvgPool1d = 28,
    /// The mean over all steps of each channel (configured: `channels`): `Bx(T*C) -> BxC`.
    /// 1 input.
    GlobalAvgPool1d = 29,
    /// The same values in another shape (configured: `rows`, `cols`; as many entries).
    /// 1 input.
    Reshape = 30,
    /// Columns `start..start+len` of every row (configured: `start`, `len`). 1 input.
    SliceCols = 31,
    /// A GRU layer over the window (PyTorch's equations, gates `r|z|n`): inputs `x`
    /// `Bx(T*C)`, `w` `(C+H)x3H`, `b` `2x3H`; the hidden sequence `Bx(T*H)`. No parameter.
    Gru = 32,
}

/// The axis of `eg_reduce_sum`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgAxis {
    /// Everything: `RxC -> 1x1`.
    All = 0,
    /// Down each column, collapsing the rows (numpy `axis=0`): `RxC -> 1xC`.
    Rows = 1,
    /// Along each row, collapsing the columns (numpy `axis=1`): `RxC -> Rx1`.
    Cols = 2,
}

/// The standard op for a C op value and parameter.
///
/// Ops without a parameter require `param == 0`, so that a parameter given to the wrong op
/// is reported instead of ignored; ops with one require it to be finite.
pub(crate) fn std_op(op: u32, param: f32) -> Result<StdOp, Fail> {
    let plain = |o: StdOp| {
        if param == 0.0 {
            Ok(o)
        } else {
            Err(Fail::Api(EgStatus::InvalidArgument))
        }
    };
    let with_param = |make: fn(f64) -> StdOp| {
        if param.is_finite() {
            Ok(make(f64::from(param)))
        } else {
            Err(Fail::Api(EgStatus::InvalidArgument))
        }
    };
    const NEGATIVE: u32 = EgOp::Negative as u32;
    const LOG: u32 = EgOp::Log as u32;
    const SIGMOID: u32 = EgOp::Sigmoid as u32;
    const MULTIPLY: u32 = EgOp::Multiply as u32;
    const MATMUL: u32 = EgOp::Matmul as u32;
    const ADD: u32 = EgOp::Add as u32;
    const REDUCE_SUM: u32 = EgOp::ReduceSum as u32;
    const REDUCE_SUM_ROWS: u32 = EgOp::ReduceSumRows as u32;
    const REDUCE_SUM_COLS: u32 = EgOp::ReduceSumCols as u32;
    const SOFTMAX: u32 = EgOp::Softmax as u32;
    const SUBTRACT: u32 = EgOp::Subtract as u32;
    const EXP: u32 = EgOp::Exp as u32;
    const SQUARE: u32 = EgOp::Square as u32;
    const SCALE: u32 = EgOp::Scale as u32;
    const MEAN: u32 = EgOp::Mean as u32;
    const MEAN_ROWS: u32 = EgOp::MeanRows as u32;
    const MEAN_COLS: u32 = EgOp::MeanCols as u32;
    const RELU: u32 = EgOp::Relu as u32;
    const LEAKY_RELU: u32 = EgOp::LeakyRelu as u32;
    const TANH: u32 = EgOp::Tanh as u32;
    const SOFTMAX_CE: u32 = EgOp::SoftmaxCrossEntropy as u32;
    const SPARSE_SOFTMAX_CE: u32 = EgOp::SparseSoftmaxCrossEntropy as u32;
    const SIGMOID_BCE: u32 = EgOp::SigmoidBinaryCrossEntropy as u32;
    const MSE: u32 = EgOp::Mse as u32;
    const GRU: u32 = EgOp::Gru as u32;
    match op {
        NEGATIVE => plain(negative::Negative.into()),
        LOG => plain(log::Log.into()),
        SIGMOID => plain(sigmoid::Sigmoid.into()),
        MULTIPLY => plain(multiply::Multiply.into()),
        MATMUL => plain(matmul::MatMul.into()),
        ADD => plain(add::Add.into()),
        REDUCE_SUM => plain(ReduceSum { axis: Axis::All }.into()),
        REDUCE_SUM_ROWS => plain(ReduceSum { axis: Axis::Rows }.into()),
        REDUCE_SUM_COLS => plain(ReduceSum { axis: Axis::Cols }.into()),
        SOFTMAX => plain(softmax::Softmax.into()),
        SUBTRACT => plain(subtract::Subtract.into()),
        EXP => plain(exp::Exp.into()),
        SQUARE => plain(square::Square.into()),
        SCALE => with_param(|k| scale::Scale::new(k).into()),
        MEAN => plain(Mean { axis: Axis::All }.into()),
        MEAN_ROWS => plain(Mean { axis: Axis::Rows }.into()),
        MEAN_COLS => plain(Mean { axis: Axis::Cols }.into()),
        RELU => plain(relu::Relu.into()),
        LEAKY_RELU => with_param(|a| leaky_relu::LeakyRelu::new(a).into()),
        TANH => plain(tanh::Tanh.into()),
        SOFTMAX_CE => plain(softmax_cross_entropy::SoftmaxCrossEntropy.into()),
        SPARSE_SOFTMAX_CE => plain(sparse_softmax_cross_entropy::SparseSoftmaxCrossEntropy.into()),
        SIGMOID_BCE => plain(sigmoid_binary_cross_entropy::SigmoidBinaryCrossEntropy.into()),
        MSE => plain(mse::Mse.into()),
        GRU => plain(embedgrad_ops::gru::Gru.into()),
        // The time-series ops but the GRU need their configuration (`eg_push_op_config`).
        _ => Err(Fail::Api(EgStatus::InvalidArgument)),
    }
}

/// Adds an op node; `inputs` are C handles.
fn push(graph: &mut FfiGraph, op: u32, param: f32, inputs: &[EgNode]) -> Result<NodeId, Fail> {
    push_std(graph, std_op(op, param)?, inputs)
}

/// Adds the node of a standard op; `inputs` are C handles.
pub(crate) fn push_std(graph: &mut FfiGraph, op: StdOp, inputs: &[EgNode]) -> Result<NodeId, Fail> {
    if inputs.len() > MAX_INPUTS {
        return Err(Error::Arity {
            expected: MAX_INPUTS,
            found: inputs.len(),
        }
        .into());
    }
    let mut ids = [NodeId::from_raw(0); MAX_INPUTS];
    for (id, raw) in ids.iter_mut().zip(inputs) {
        *id = handle(*raw);
    }
    let ids = ids.get(..inputs.len()).unwrap_or(&[]);
    Ok(graph.push_op(op, ids)?)
}

/// Adds an op with fixed inputs (the typed wrappers).
///
/// # Safety
/// As `eg_push_op`.
unsafe fn push_fixed(
    g: *mut EgGraph,
    op: u32,
    param: f32,
    inputs: &[EgNode],
    out: *mut EgNode,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(out, &[gs]) }?;
        o.write(push(graph, op, param, inputs)?.to_raw());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Adds the operation `op` (an `eg_op` value) with a parameter, on the nodes
/// `inputs[0..n_inputs]`, and stores the new node's handle in `*out`. Its shape follows from
/// the inputs'; it has a gradient when any input has one. Ops without a parameter take
/// `param = 0`.
///
/// Errors: INVALID_ARGUMENT (unknown `op`, or a non-zero `param` for an op that takes none),
/// ARITY, SHAPE_MISMATCH, UNKNOWN_NODE, FOREIGN_NODE, NODE_CAPACITY, SCALAR_CAPACITY,
/// NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// `g` is NULL or a graph from `eg_graph_init` that nothing else uses during the call;
/// `inputs` is NULL or points to `n_inputs` handles; `out` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_push_op_param(
    g: *mut EgGraph,
    op: u32,
    param: f32,
    inputs: *const EgNode,
    n_inputs: usize,
    out: *mut EgNode,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, os) = unsafe { Out::new(out, &[gs]) }?;
        // SAFETY: the pointer is NULL or points to that many values (the caller's contract).
        let inputs = unsafe { guard::input(inputs, n_inputs, &[gs, os]) }?;
        o.write(push(graph, op, param, inputs)?.to_raw());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Adds the operation `op` (an `eg_op` value) on `inputs[0..n_inputs]`: `eg_push_op_param` with
/// `param = 0`.
///
/// # Safety
/// As `eg_push_op_param`.
#[no_mangle]
pub unsafe extern "C" fn eg_push_op(
    g: *mut EgGraph,
    op: u32,
    inputs: *const EgNode,
    n_inputs: usize,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { eg_push_op_param(g, op, 0.0, inputs, n_inputs, out) }
}

/// `-x` (`EG_OP_NEGATIVE`).
///
/// # Safety
/// `g` is NULL or a graph from `eg_graph_init` that nothing else uses during the call; `out`
/// is NULL or valid for one write. The same holds for the wrappers below.
#[no_mangle]
pub unsafe extern "C" fn eg_negative(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Negative as u32, 0.0, &[x], out) }
}

/// `ln x`, element-wise (`EG_OP_LOG`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_log(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Log as u32, 0.0, &[x], out) }
}

/// `1 / (1 + e^-x)`, element-wise (`EG_OP_SIGMOID`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_sigmoid(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Sigmoid as u32, 0.0, &[x], out) }
}

/// Row-wise softmax (`EG_OP_SOFTMAX`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_softmax(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Softmax as u32, 0.0, &[x], out) }
}

/// `a * b`, element-wise (`EG_OP_MULTIPLY`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_multiply(
    g: *mut EgGraph,
    a: EgNode,
    b: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Multiply as u32, 0.0, &[a, b], out) }
}

/// The matrix product `a . b` (`EG_OP_MATMUL`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_matmul(
    g: *mut EgGraph,
    a: EgNode,
    b: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Matmul as u32, 0.0, &[a, b], out) }
}

/// `a + b` with `b` broadcast: `a`'s shape, a `1xC` row, an `Rx1` column or `1x1`
/// (`EG_OP_ADD`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_add(
    g: *mut EgGraph,
    a: EgNode,
    b: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Add as u32, 0.0, &[a, b], out) }
}

/// A sum over `axis` (an `eg_axis` value): everything, the rows or the columns.
///
/// Errors: as `eg_push_op`; INVALID_ARGUMENT for an unknown axis.
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_reduce_sum(
    g: *mut EgGraph,
    x: EgNode,
    axis: u32,
    out: *mut EgNode,
) -> EgStatus {
    const ALL: u32 = EgAxis::All as u32;
    const ROWS: u32 = EgAxis::Rows as u32;
    const COLS: u32 = EgAxis::Cols as u32;
    let op = match axis {
        ALL => EgOp::ReduceSum as u32,
        ROWS => EgOp::ReduceSumRows as u32,
        COLS => EgOp::ReduceSumCols as u32,
        // No op has the value 0: INVALID_ARGUMENT, recorded in the graph like any error.
        _ => 0,
    };
    // SAFETY: same contract.
    unsafe { push_fixed(g, op, 0.0, &[x], out) }
}

/// `a - b` with `b` broadcast as in `eg_add` (`EG_OP_SUBTRACT`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_subtract(
    g: *mut EgGraph,
    a: EgNode,
    b: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Subtract as u32, 0.0, &[a, b], out) }
}

/// `e^x`, element-wise (`EG_OP_EXP`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_exp(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Exp as u32, 0.0, &[x], out) }
}

/// `x^2`, element-wise (`EG_OP_SQUARE`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_square(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Square as u32, 0.0, &[x], out) }
}

/// `factor * x`, element-wise, for a finite `factor` (`EG_OP_SCALE`).
///
/// Errors: as `eg_push_op`; INVALID_ARGUMENT for a factor that is NaN or infinite.
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_scale(
    g: *mut EgGraph,
    x: EgNode,
    factor: f32,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Scale as u32, factor, &[x], out) }
}

/// A mean over `axis` (an `eg_axis` value): everything, the rows or the columns.
///
/// Errors: as `eg_push_op`; INVALID_ARGUMENT for an unknown axis.
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_mean(
    g: *mut EgGraph,
    x: EgNode,
    axis: u32,
    out: *mut EgNode,
) -> EgStatus {
    const ALL: u32 = EgAxis::All as u32;
    const ROWS: u32 = EgAxis::Rows as u32;
    const COLS: u32 = EgAxis::Cols as u32;
    let op = match axis {
        ALL => EgOp::Mean as u32,
        ROWS => EgOp::MeanRows as u32,
        COLS => EgOp::MeanCols as u32,
        // No op has the value 0: INVALID_ARGUMENT, recorded in the graph like any error.
        _ => 0,
    };
    // SAFETY: same contract.
    unsafe { push_fixed(g, op, 0.0, &[x], out) }
}

/// `max(x, 0)`, element-wise (`EG_OP_RELU`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_relu(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Relu as u32, 0.0, &[x], out) }
}

/// `x` where `x > 0`, else `slope * x`, for a finite `slope` (`EG_OP_LEAKY_RELU`).
///
/// Errors: as `eg_push_op`; INVALID_ARGUMENT for a slope that is NaN or infinite.
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_leaky_relu(
    g: *mut EgGraph,
    x: EgNode,
    slope: f32,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::LeakyRelu as u32, slope, &[x], out) }
}

/// `tanh x`, element-wise (`EG_OP_TANH`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_tanh(g: *mut EgGraph, x: EgNode, out: *mut EgNode) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Tanh as u32, 0.0, &[x], out) }
}

/// The fused, stable cross-entropy of `softmax(logits)` against `targets` (`BxK` each),
/// summed over the rows: a `1x1` loss (`EG_OP_SOFTMAX_CROSS_ENTROPY`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_softmax_cross_entropy(
    g: *mut EgGraph,
    logits: EgNode,
    targets: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe {
        push_fixed(
            g,
            EgOp::SoftmaxCrossEntropy as u32,
            0.0,
            &[logits, targets],
            out,
        )
    }
}

/// As `eg_softmax_cross_entropy` with class labels (`Bx1`, indices stored as floats)
/// (`EG_OP_SPARSE_SOFTMAX_CROSS_ENTROPY`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_sparse_softmax_cross_entropy(
    g: *mut EgGraph,
    logits: EgNode,
    labels: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe {
        push_fixed(
            g,
            EgOp::SparseSoftmaxCrossEntropy as u32,
            0.0,
            &[logits, labels],
            out,
        )
    }
}

/// The fused, stable binary cross-entropy of `sigmoid(logits)` against `targets` in
/// `[0, 1]`, summed: a `1x1` loss (`EG_OP_SIGMOID_BINARY_CROSS_ENTROPY`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_sigmoid_binary_cross_entropy(
    g: *mut EgGraph,
    logits: EgNode,
    targets: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe {
        push_fixed(
            g,
            EgOp::SigmoidBinaryCrossEntropy as u32,
            0.0,
            &[logits, targets],
            out,
        )
    }
}

/// The mean squared error of `predictions` against `targets` (same shapes): a `1x1` loss
/// (`EG_OP_MSE`).
///
/// # Safety
/// As `eg_negative`.
#[no_mangle]
pub unsafe extern "C" fn eg_mse(
    g: *mut EgGraph,
    predictions: EgNode,
    targets: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    // SAFETY: same contract.
    unsafe { push_fixed(g, EgOp::Mse as u32, 0.0, &[predictions, targets], out) }
}
