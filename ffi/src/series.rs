//! The time-series ops from C: 1-D convolutions, pooling over time, reshape, column slices and
//! the GRU layer. Those with sizes of their own take them in an `eg_op_config`
//! (`eg_push_op_config`), or as arguments of their typed wrapper (`eg_conv1d`, …).
//!
//! Layouts are `embedgrad-ops`': a batch of `B` windows of `T` steps of `C` channels is a
//! `Bx(T*C)` matrix, time outer and channels inner.

use crate::graph::{handle, with_graph, EgGraph};
use crate::guard::{Out, Span};
use crate::ops::{push_std, std_op, EgOp};
use crate::status::{EgStatus, Fail};
use crate::{EgNode, FfiGraph};
use embedgrad_ops::avg_pool1d::AvgPool1d;
use embedgrad_ops::conv1d::{Conv1d, Padding};
use embedgrad_ops::depthwise_conv1d::DepthwiseConv1d;
use embedgrad_ops::global_avg_pool1d::GlobalAvgPool1d;
use embedgrad_ops::gru::Gru;
use embedgrad_ops::max_pool1d::MaxPool1d;
use embedgrad_ops::reshape::Reshape;
use embedgrad_ops::slice_cols::SliceCols;
use embedgrad_ops::StdOp;

/// The padding of a convolution (`eg_op_config.padding`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgPadding {
    /// No padding: only output steps whose kernel lies wholly inside the input.
    Valid = 0,
    /// Zeros so that `TOUT = ceil(T / stride)` (TensorFlow's `"same"`; the smaller half on
    /// the left).
    Same = 1,
}

/// The sizes of a configured op (`eg_push_op_config`). Each op reads only its own fields
/// (see `eg_op`); every other field must be 0, so that a size given to the wrong op is
/// reported instead of ignored.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgOpConfig {
    /// Input channels (`EG_OP_CONV1D`) or channels (the poolings).
    pub channels: u32,
    /// Steps per window (`EG_OP_MAX_POOL1D`, `EG_OP_AVG_POOL1D`).
    pub window: u32,
    /// Steps between outputs (the convolutions and poolings).
    pub stride: u32,
    /// Steps between taps (the convolutions).
    pub dilation: u32,
    /// An `eg_padding` value (the convolutions).
    pub padding: u32,
    /// Rows of the result (`EG_OP_RESHAPE`).
    pub rows: u32,
    /// Columns of the result (`EG_OP_RESHAPE`).
    pub cols: u32,
    /// First column (`EG_OP_SLICE_COLS`).
    pub start: u32,
    /// Columns (`EG_OP_SLICE_COLS`).
    pub len: u32,
}

/// The standard op of a configured op value: the sizes checked (used fields in range, the
/// others 0). Ops without sizes take an all-zero configuration.
pub(crate) fn config_op(op: u32, c: &EgOpConfig) -> Result<StdOp, Fail> {
    const CONV1D: u32 = EgOp::Conv1d as u32;
    const DEPTHWISE: u32 = EgOp::DepthwiseConv1d as u32;
    const MAX_POOL: u32 = EgOp::MaxPool1d as u32;
    const AVG_POOL: u32 = EgOp::AvgPool1d as u32;
    const GLOBAL_AVG: u32 = EgOp::GlobalAvgPool1d as u32;
    const RESHAPE: u32 = EgOp::Reshape as u32;
    const SLICE_COLS: u32 = EgOp::SliceCols as u32;
    let bad = Fail::Api(EgStatus::InvalidArgument);
    let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
    let padding = match c.padding {
        0 => Padding::Valid,
        1 => Padding::Same,
        _ => return Err(bad),
    };
    // The fields an op reads; every other one must be 0.
    let only = |used: EgOpConfig| -> Result<(), Fail> {
        let fields = |k: &EgOpConfig| {
            [
                k.channels, k.window, k.stride, k.dilation, k.padding, k.rows, k.cols, k.start,
                k.len,
            ]
        };
        if fields(c)
            .iter()
            .zip(fields(&used))
            .all(|(v, u)| *v == 0 || u != 0)
        {
            Ok(())
        } else {
            Err(Fail::Api(EgStatus::InvalidArgument))
        }
    };
    let none = EgOpConfig::default();
    let conv = EgOpConfig {
        channels: 1,
        stride: 1,
        dilation: 1,
        padding: 1,
        ..none
    };
    let pool = EgOpConfig {
        channels: 1,
        window: 1,
        stride: 1,
        ..none
    };
    Ok(match op {
        CONV1D => {
            only(conv)?;
            Conv1d::new(n(c.channels), n(c.stride), n(c.dilation), padding)?.into()
        }
        DEPTHWISE => {
            only(EgOpConfig {
                channels: 0,
                ..conv
            })?;
            DepthwiseConv1d::new(n(c.stride), n(c.dilation), padding)?.into()
        }
        MAX_POOL => {
            only(pool)?;
            MaxPool1d::new(n(c.channels), n(c.window), n(c.stride))?.into()
        }
        AVG_POOL => {
            only(pool)?;
            AvgPool1d::new(n(c.channels), n(c.window), n(c.stride))?.into()
        }
        GLOBAL_AVG => {
            only(EgOpConfig {
                channels: 1,
                ..none
            })?;
            GlobalAvgPool1d::new(n(c.channels))?.into()
        }
        RESHAPE => {
            only(EgOpConfig {
                rows: 1,
                cols: 1,
                ..none
            })?;
            Reshape::new(n(c.rows), n(c.cols))?.into()
        }
        SLICE_COLS => {
            only(EgOpConfig {
                start: 1,
                len: 1,
                ..none
            })?;
            SliceCols::new(n(c.start), n(c.len))?.into()
        }
        _ => {
            only(none)?;
            std_op(op, 0.0)?
        }
    })
}

/// Adds a standard op with fixed inputs and stores its handle in `*out`.
///
/// # Safety
/// As `eg_push_op_config`.
unsafe fn push_op(
    g: *mut EgGraph,
    op: impl FnOnce(&FfiGraph) -> Result<StdOp, Fail>,
    inputs: &[EgNode],
    out: *mut EgNode,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(out, &[gs]) }?;
        let op = op(graph)?;
        o.write(push_std(graph, op, inputs)?.to_raw());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Adds the operation `op` (an `eg_op` value) configured by `*config`, on the nodes
/// `inputs[0..n_inputs]`, and stores the new node's handle in `*out`. The time-series ops
/// read the fields their `eg_op` entry names; every other op takes an all-zero
/// configuration.
///
/// Errors: INVALID_ARGUMENT (unknown `op`, a size out of range or 0, a non-zero field the op
/// does not read, an unknown padding), ARITY, SHAPE_MISMATCH, INVALID_SHAPE, UNKNOWN_NODE,
/// FOREIGN_NODE, NODE_CAPACITY, SCALAR_CAPACITY, NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// `g` is NULL or a graph from `eg_graph_init` that nothing else uses during the call;
/// `config` is NULL or points to one configuration; `inputs` is NULL or points to
/// `n_inputs` handles; `out` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_push_op_config(
    g: *mut EgGraph,
    op: u32,
    config: *const EgOpConfig,
    inputs: *const EgNode,
    n_inputs: usize,
    out: *mut EgNode,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, os) = unsafe { Out::new(out, &[gs]) }?;
        // SAFETY: the pointers are NULL or point to that many values (the caller's contract).
        let cfg = unsafe { crate::guard::input(config, 1, &[gs, os]) }?;
        // SAFETY: as above.
        let inputs = unsafe { crate::guard::input(inputs, n_inputs, &[gs, os]) }?;
        let cfg = cfg.first().ok_or(Fail::Api(EgStatus::NullPointer))?;
        let op = config_op(op, cfg)?;
        o.write(push_std(graph, op, inputs)?.to_raw());
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// A padding value as `Padding`.
fn padding(p: u32) -> Result<Padding, Fail> {
    match p {
        0 => Ok(Padding::Valid),
        1 => Ok(Padding::Same),
        _ => Err(Fail::Api(EgStatus::InvalidArgument)),
    }
}

fn n(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// A 1-D convolution of `x` (`Bx(T*cin)`) with `w` (`(K*cin)xCOUT`) and `b` (`1xCOUT`),
/// `stride`, `dilation` and `padding` (an `eg_padding` value) (`EG_OP_CONV1D`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// `g` is NULL or a graph from `eg_graph_init` that nothing else uses during the call; `out`
/// is NULL or valid for one write. The same holds for the wrappers below.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn eg_conv1d(
    g: *mut EgGraph,
    x: EgNode,
    w: EgNode,
    b: EgNode,
    cin: u32,
    stride: u32,
    dilation: u32,
    pad: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(Conv1d::new(n(cin), n(stride), n(dilation), padding(pad)?)?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x, w, b], out) }
}

/// A depthwise 1-D convolution of `x` (`Bx(T*C)`) with `w` (`KxC`) and `b` (`1xC`)
/// (`EG_OP_DEPTHWISE_CONV1D`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn eg_depthwise_conv1d(
    g: *mut EgGraph,
    x: EgNode,
    w: EgNode,
    b: EgNode,
    stride: u32,
    dilation: u32,
    pad: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(DepthwiseConv1d::new(n(stride), n(dilation), padding(pad)?)?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x, w, b], out) }
}

/// The maximum of each window of `window` steps, every `stride` steps, of `x`
/// (`Bx(T*channels)`) (`EG_OP_MAX_POOL1D`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_max_pool1d(
    g: *mut EgGraph,
    x: EgNode,
    channels: u32,
    window: u32,
    stride: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(MaxPool1d::new(n(channels), n(window), n(stride))?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x], out) }
}

/// The mean of each window, as `eg_max_pool1d` (`EG_OP_AVG_POOL1D`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_avg_pool1d(
    g: *mut EgGraph,
    x: EgNode,
    channels: u32,
    window: u32,
    stride: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(AvgPool1d::new(n(channels), n(window), n(stride))?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x], out) }
}

/// The mean over all steps of each of the `channels` channels of `x`: `BxC`
/// (`EG_OP_GLOBAL_AVG_POOL1D`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_global_avg_pool1d(
    g: *mut EgGraph,
    x: EgNode,
    channels: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(GlobalAvgPool1d::new(n(channels))?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x], out) }
}

/// `x`'s values as a `rows x cols` matrix (as many entries) (`EG_OP_RESHAPE`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_reshape(
    g: *mut EgGraph,
    x: EgNode,
    rows: u32,
    cols: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(Reshape::new(n(rows), n(cols))?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x], out) }
}

/// Columns `start..start+len` of every row of `x` (`EG_OP_SLICE_COLS`).
///
/// Errors: as `eg_push_op_config`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_slice_cols(
    g: *mut EgGraph,
    x: EgNode,
    start: u32,
    len: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(SliceCols::new(n(start), n(len))?.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x], out) }
}

/// The last `width` columns of every row of `x`: the last step of a sequence of steps of
/// `width` values (a GRU's `h_T`) (`EG_OP_SLICE_COLS`).
///
/// Errors: as `eg_push_op_config`; INVALID_ARGUMENT for a width of 0 or more than `x`'s
/// columns.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_last_step(
    g: *mut EgGraph,
    x: EgNode,
    width: u32,
    out: *mut EgNode,
) -> EgStatus {
    let op = |graph: &FfiGraph| -> Result<StdOp, Fail> {
        let cols = graph.shape(handle(x))?.cols;
        let start = cols
            .checked_sub(n(width))
            .ok_or(Fail::Api(EgStatus::InvalidArgument))?;
        Ok(SliceCols::new(start, n(width))?.into())
    };
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x], out) }
}

/// A GRU layer over the window of `x` (`Bx(T*C)`), with `w` (`(C+H)x3H`) and `b` (`2x3H`):
/// the hidden sequence `Bx(T*H)` (`EG_OP_GRU`).
///
/// Errors: as `eg_push_op`.
///
/// # Safety
/// As `eg_conv1d`.
#[no_mangle]
pub unsafe extern "C" fn eg_gru(
    g: *mut EgGraph,
    x: EgNode,
    w: EgNode,
    b: EgNode,
    out: *mut EgNode,
) -> EgStatus {
    let op = |_: &FfiGraph| Ok(Gru.into());
    // SAFETY: same contract.
    unsafe { push_op(g, op, &[x, w, b], out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_name_only_the_fields_their_op_reads() {
        let conv = EgOpConfig {
            channels: 2,
            stride: 1,
            dilation: 1,
            padding: EgPadding::Same as u32,
            ..EgOpConfig::default()
        };
        let want: StdOp = Conv1d::new(2, 1, 1, Padding::Same).unwrap().into();
        assert_eq!(config_op(EgOp::Conv1d as u32, &conv).unwrap(), want);
        let bad = Fail::Api(EgStatus::InvalidArgument);
        // A field conv1d does not read, an unknown padding; zero channels (refused by the op).
        for c in [
            EgOpConfig { window: 2, ..conv },
            EgOpConfig { padding: 2, ..conv },
        ] {
            assert_eq!(config_op(EgOp::Conv1d as u32, &c).err(), Some(bad));
        }
        let zero = EgOpConfig {
            channels: 0,
            ..conv
        };
        assert!(config_op(EgOp::Conv1d as u32, &zero).is_err());
        let slice = EgOpConfig {
            start: 3,
            len: 2,
            ..EgOpConfig::default()
        };
        let want: StdOp = SliceCols::new(3, 2).unwrap().into();
        assert_eq!(config_op(EgOp::SliceCols as u32, &slice).unwrap(), want);
        // Ops without sizes take an all-zero configuration only; the GRU has none.
        let none = EgOpConfig::default();
        assert!(config_op(EgOp::Relu as u32, &none).is_ok());
        assert!(config_op(EgOp::Gru as u32, &none).is_ok());
        assert_eq!(config_op(EgOp::Relu as u32, &slice).err(), Some(bad));
        assert_eq!(config_op(99, &none).err(), Some(bad));
        // eg_push_op cannot make a configured op.
        assert_eq!(std_op(EgOp::MaxPool1d as u32, 0.0).err(), Some(bad));
    }
}
