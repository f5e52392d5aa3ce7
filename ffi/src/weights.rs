//! Weight files: safetensors in and out of a graph's variables, and what was wrong with a file.
//!
//! The work is `embedgrad_train::safetensors`'s: [`SafeTensors::parse`] checks the whole file
//! and [`load`] every tensor before the first variable changes, so a refused file changes
//! nothing; [`write_to_slice`] writes the file. This module checks what C passes (pointers,
//! NUL-terminated names, enum values) and turns a [`WeightsError`] into an `eg_weights_error`
//! C can read: the problem as a number, the tensor's name, the shapes and counts.

use crate::graph::{graph_mut, handle, with_graph, EgGraph, Record};
use crate::guard::{self, check_ptr, disjoint, Out, Span};
use crate::status::{EgErrorInfo, EgStatus, Fail};
use crate::{EgNode, FfiGraph};
use core::ffi::c_char;
use embedgrad_core::NodeId;
use embedgrad_train::safetensors::{
    self, Dtype, Layout, LoadOptions, Name, Param, ParamName, Problem, SafeTensors, WeightsError,
    MAX_RANK,
};

/// The most parameters one weights call takes, and the most tensors a file may hold.
pub const EG_WEIGHTS_MAX_TENSORS: usize = 16;
/// The longest parameter name a weights call takes, in bytes without the NUL.
pub const EG_WEIGHTS_MAX_NAME: usize = 255;
/// Bytes of a tensor name in `eg_weights_error`, the NUL included: a name longer than 32 bytes
/// is cut at a character boundary and ends in `…`.
pub const EG_WEIGHTS_NAME_BYTES: usize = 40;
/// The most dimensions of a tensor (of the shapes in `eg_weights_error`).
pub const EG_WEIGHTS_MAX_RANK: usize = 4;

const _: () = assert!(EG_WEIGHTS_MAX_RANK == MAX_RANK);
const _: () = assert!(safetensors::NAME_LEN + "…".len() < EG_WEIGHTS_NAME_BYTES);

/// How a variable's values lie in its tensor (`eg_param.layout`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgLayout {
    /// The tensor is the variable's `rows x cols`, row-major.
    Matrix = 1,
    /// The tensor is the variable transposed, `cols x rows`: PyTorch's `nn.Linear` weight
    /// (`OUT x IN`) for the graph's `IN x OUT`.
    Transposed = 2,
    /// The tensor is one-dimensional, `rows * cols` long: PyTorch's bias (`OUT`) for the
    /// graph's `1 x OUT`.
    Vector = 3,
}

/// The element type of a written file (`eg_weights_save`). Files of every one are read.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgDtype {
    /// IEEE binary32: exact for the graph's f32.
    F32 = 1,
    /// IEEE binary64.
    F64 = 2,
    /// IEEE binary16 (rounded to nearest).
    F16 = 3,
    /// bfloat16 (rounded to nearest).
    Bf16 = 4,
}

/// One variable and its tensor in a file: a NUL-terminated name (`"0.weight"`), the
/// variable's handle and an `eg_layout`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EgParam {
    /// The tensor's name, NUL-terminated, at most `EG_WEIGHTS_MAX_NAME` bytes of UTF-8.
    pub name: *const c_char,
    /// The variable.
    pub node: EgNode,
    /// An `eg_layout` value.
    pub layout: u32,
}

/// What was wrong with a weight file (`eg_weights_error.problem`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgWeightsProblem {
    /// No problem (no weights call has failed).
    None = 0,
    /// Shorter than the 8-byte header length: `found` bytes.
    TooShort = 1,
    /// The header length (`found`) runs past the end of the file (`expected` bytes follow the
    /// length): a truncated file.
    HeaderPastEnd = 2,
    /// The header is not the JSON of a safetensors header.
    NotJson = 3,
    /// More tensors than a call reads (`expected` = `EG_WEIGHTS_MAX_TENSORS`).
    TooManyTensors = 4,
    /// The tensor is named twice in the header.
    DuplicateName = 5,
    /// A dtype that is not F64, F32, F16 or BF16.
    UnsupportedDtype = 6,
    /// More than `EG_WEIGHTS_MAX_RANK` dimensions (`found_rank`), or too many elements.
    UnsupportedShape = 7,
    /// `data_offsets` (`offset_start`, `offset_end`) outside the `expected` bytes of data.
    OffsetsOutOfRange = 8,
    /// The offsets span `found` bytes, the dtype and shape need `expected`.
    ByteLength = 9,
    /// The tensor's bytes overlap those of the tensor named in `other`.
    Overlap = 10,
    /// The tensors cover `found` of the `expected` bytes of data (a gap or trailing bytes).
    Uncovered = 11,
    /// A parameter's tensor is not in the file.
    Missing = 12,
    /// A tensor of the file no parameter names (allow it with `allow_extra`).
    Unexpected = 13,
    /// The tensor's shape (`found_dims`) is not the one the variable needs in its layout
    /// (`expected_dims`).
    WrongShape = 14,
    /// Element `found` (row-major, in the file's layout) is NaN or infinite as an f32.
    NonFinite = 15,
    /// A name a header cannot hold (empty, `__metadata__`, a quote, a backslash or a control
    /// character), a name given twice, or one that is not UTF-8 or too long.
    BadName = 16,
    /// The output holds fewer bytes than the file needs (`expected`).
    Write = 17,
    /// A parameter's handle is bad or names no variable: the status says which.
    Graph = 18,
}

/// The details of the last weights call that failed on a graph (`eg_weights_last_error`).
/// Fields that do not apply to the problem are 0 (names empty).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EgWeightsError {
    /// The status the call returned (BAD_WEIGHTS for every problem of the file).
    pub status: EgStatus,
    /// What was wrong.
    pub problem: EgWeightsProblem,
    /// The tensor concerned (empty for the file as a whole), NUL-terminated.
    pub tensor: [c_char; EG_WEIGHTS_NAME_BYTES],
    /// The other tensor (OVERLAP), NUL-terminated.
    pub other: [c_char; EG_WEIGHTS_NAME_BYTES],
    /// The shape the variable needs (WRONG_SHAPE): dimensions used.
    pub expected_rank: u32,
    /// The shape the variable needs, outermost dimension first.
    pub expected_dims: [u32; EG_WEIGHTS_MAX_RANK],
    /// The file's shape (WRONG_SHAPE), or the rank (UNSUPPORTED_SHAPE): dimensions used.
    pub found_rank: u32,
    /// The file's shape, outermost dimension first.
    pub found_dims: [u32; EG_WEIGHTS_MAX_RANK],
    /// Expected count (bytes, tensors), as the problem says.
    pub expected: u64,
    /// Found count (bytes, a header length, an element index), as the problem says.
    pub found: u64,
    /// The tensor's first data offset (OFFSETS_OUT_OF_RANGE).
    pub offset_start: u64,
    /// The tensor's second data offset (OFFSETS_OUT_OF_RANGE).
    pub offset_end: u64,
}

impl EgWeightsError {
    /// No error.
    pub(crate) const NONE: EgWeightsError = EgWeightsError {
        status: EgStatus::Ok,
        problem: EgWeightsProblem::None,
        tensor: [0; EG_WEIGHTS_NAME_BYTES],
        other: [0; EG_WEIGHTS_NAME_BYTES],
        expected_rank: 0,
        expected_dims: [0; EG_WEIGHTS_MAX_RANK],
        found_rank: 0,
        found_dims: [0; EG_WEIGHTS_MAX_RANK],
        expected: 0,
        found: 0,
        offset_start: 0,
        offset_end: 0,
    };
}

/// A name as a NUL-terminated C array: `…` after a cut name.
fn c_array(n: &Name) -> [c_char; EG_WEIGHTS_NAME_BYTES] {
    let mut out = [0 as c_char; EG_WEIGHTS_NAME_BYTES];
    let cut: &[u8] = if n.is_cut() { "…".as_bytes() } else { &[] };
    let bytes = n.as_str().as_bytes().iter().chain(cut);
    // The last byte stays 0: the NUL.
    for (d, &b) in out.iter_mut().take(EG_WEIGHTS_NAME_BYTES - 1).zip(bytes) {
        *d = b as c_char;
    }
    out
}

/// Dimensions into a C array and its rank.
fn dims(d: &[u32]) -> (u32, [u32; EG_WEIGHTS_MAX_RANK]) {
    let mut out = [0; EG_WEIGHTS_MAX_RANK];
    for (o, &x) in out.iter_mut().zip(d) {
        *o = x;
    }
    (d.len().min(EG_WEIGHTS_MAX_RANK) as u32, out)
}

impl From<WeightsError> for EgWeightsError {
    fn from(w: WeightsError) -> Self {
        let info = EgErrorInfo::from(w);
        let mut e = EgWeightsError {
            status: info.status,
            tensor: c_array(&w.tensor),
            ..EgWeightsError::NONE
        };
        let p = &mut e.problem;
        match w.problem {
            Problem::TooShort { found } => {
                *p = EgWeightsProblem::TooShort;
                e.expected = 8;
                e.found = found as u64;
            }
            Problem::HeaderPastEnd { header, available } => {
                *p = EgWeightsProblem::HeaderPastEnd;
                e.expected = available as u64;
                e.found = header;
            }
            Problem::NotJson => *p = EgWeightsProblem::NotJson,
            Problem::TooManyTensors { capacity } => {
                *p = EgWeightsProblem::TooManyTensors;
                e.expected = capacity as u64;
            }
            Problem::DuplicateName => *p = EgWeightsProblem::DuplicateName,
            Problem::UnsupportedDtype => *p = EgWeightsProblem::UnsupportedDtype,
            Problem::UnsupportedShape { rank } => {
                *p = EgWeightsProblem::UnsupportedShape;
                e.expected_rank = MAX_RANK as u32;
                e.found_rank = u32::try_from(rank).unwrap_or(u32::MAX);
            }
            Problem::OffsetsOutOfRange { start, end, data } => {
                *p = EgWeightsProblem::OffsetsOutOfRange;
                e.expected = data as u64;
                e.found = end;
                e.offset_start = start;
                e.offset_end = end;
            }
            Problem::ByteLength { expected, found } => {
                *p = EgWeightsProblem::ByteLength;
                e.expected = expected;
                e.found = found;
            }
            Problem::Overlap { other } => {
                *p = EgWeightsProblem::Overlap;
                e.other = c_array(&other);
            }
            Problem::Uncovered { covered, data } => {
                *p = EgWeightsProblem::Uncovered;
                e.expected = data as u64;
                e.found = covered;
            }
            Problem::Missing => *p = EgWeightsProblem::Missing,
            Problem::Unexpected => *p = EgWeightsProblem::Unexpected,
            Problem::WrongShape { expected, found } => {
                *p = EgWeightsProblem::WrongShape;
                (e.expected_rank, e.expected_dims) = dims(expected.as_slice());
                (e.found_rank, e.found_dims) = dims(found.as_slice());
            }
            Problem::NonFinite { index } => {
                *p = EgWeightsProblem::NonFinite;
                e.found = index as u64;
            }
            Problem::BadName => *p = EgWeightsProblem::BadName,
            Problem::Write { needed } => {
                *p = EgWeightsProblem::Write;
                e.expected = needed as u64;
            }
            Problem::Graph(_) => *p = EgWeightsProblem::Graph,
        }
        e
    }
}

/// Why a weights call failed: a check of the C API, or a [`WeightsError`] (kept out of
/// [`Fail`], which every other call returns: it would double that type's size, and every
/// call's frame holds one).
#[derive(Clone, Copy, Debug)]
pub(crate) enum WFail {
    /// As every other call.
    Other(Fail),
    /// The file, or the parameters.
    Weights(WeightsError),
}

impl From<Fail> for WFail {
    fn from(f: Fail) -> Self {
        WFail::Other(f)
    }
}

impl From<EgStatus> for WFail {
    fn from(s: EgStatus) -> Self {
        WFail::Other(Fail::Api(s))
    }
}

impl From<WeightsError> for WFail {
    fn from(w: WeightsError) -> Self {
        WFail::Weights(w)
    }
}

impl Record for WFail {
    /// Also keeps a weights error for `eg_weights_last_error`.
    #[inline(never)]
    fn record(self, eg: &mut EgGraph) -> EgStatus {
        match self {
            WFail::Other(f) => f.record(eg),
            WFail::Weights(w) => {
                eg.weights = EgWeightsError::from(w);
                eg.last = w.into();
                eg.last.status
            }
        }
    }
}

/// A weights failure about a name (the tensor unknown or not nameable).
fn bad_name(tensor: Name) -> WFail {
    WFail::Weights(WeightsError {
        problem: Problem::BadName,
        tensor,
    })
}

/// Reads a NUL-terminated UTF-8 name from C, byte by byte, never touching `others` (the graph
/// and the call's outputs: a byte inside them is OVERLAP before it is read).
///
/// # Safety
/// A non-NULL `p` must point to a NUL-terminated string that nothing writes during the call.
unsafe fn c_name<'a>(p: *const c_char, others: &[Span]) -> Result<&'a str, WFail> {
    check_ptr(p)?;
    let mut len = 0;
    loop {
        if len > EG_WEIGHTS_MAX_NAME {
            return Err(bad_name(Name::NONE));
        }
        // SAFETY: `p + len` lies in the string or at its NUL (the caller's contract: no NUL
        // was found before it), so the offset stays inside the string's allocation.
        let at = unsafe { p.add(len) };
        disjoint(Span::of(at, 1)?, others)?;
        // SAFETY: as above, and the byte lies outside the graph and the call's outputs
        // (checked), so no `&mut` covers it.
        if unsafe { at.read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read from the string, which nothing
    // writes during the call, and lie outside `others` (each byte was checked).
    let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|_| bad_name(Name::NONE))
}

/// A layout value from C.
fn layout(raw: u32) -> Result<Layout, WFail> {
    const MATRIX: u32 = EgLayout::Matrix as u32;
    const TRANSPOSED: u32 = EgLayout::Transposed as u32;
    const VECTOR: u32 = EgLayout::Vector as u32;
    match raw {
        MATRIX => Ok(Layout::Matrix),
        TRANSPOSED => Ok(Layout::Transposed),
        VECTOR => Ok(Layout::Vector),
        _ => Err(EgStatus::InvalidArgument.into()),
    }
}

/// A dtype value from C.
fn dtype(raw: u32) -> Result<Dtype, WFail> {
    const F32: u32 = EgDtype::F32 as u32;
    const F64: u32 = EgDtype::F64 as u32;
    const F16: u32 = EgDtype::F16 as u32;
    const BF16: u32 = EgDtype::Bf16 as u32;
    match raw {
        F32 => Ok(Dtype::F32),
        F64 => Ok(Dtype::F64),
        F16 => Ok(Dtype::F16),
        BF16 => Ok(Dtype::BF16),
        _ => Err(EgStatus::InvalidArgument.into()),
    }
}

/// A parameter list from C, checked: at most `EG_WEIGHTS_MAX_TENSORS` entries, names readable
/// outside `others`, layouts in range.
struct Params<'a> {
    list: [Param<'a>; EG_WEIGHTS_MAX_TENSORS],
    len: usize,
}

impl<'a> Params<'a> {
    /// # Safety
    /// `params` is NULL or points to `n` `eg_param`s whose names are NUL-terminated strings;
    /// nothing writes them during the call.
    unsafe fn read(params: *const EgParam, n: usize, others: &[Span]) -> Result<Self, WFail> {
        check_ptr(params)?;
        if n > EG_WEIGHTS_MAX_TENSORS {
            return Err(EgStatus::InvalidArgument.into());
        }
        // SAFETY: the pointer is NULL or points to `n` parameters (the caller's contract).
        let raw = unsafe { guard::input(params, n, others) }?;
        let none = Param {
            name: ParamName::Plain(""),
            node: NodeId::from_raw(0),
            layout: Layout::Matrix,
        };
        let mut list = [none; EG_WEIGHTS_MAX_TENSORS];
        for (slot, p) in list.iter_mut().zip(raw) {
            // SAFETY: each name is NULL or NUL-terminated (the caller's contract).
            let name = unsafe { c_name(p.name, others) }?;
            *slot = Param {
                name: ParamName::Plain(name),
                node: handle(p.node),
                layout: layout(p.layout)?,
            };
        }
        Ok(Params {
            list,
            len: raw.len(),
        })
    }

    fn as_slice(&self) -> &[Param<'a>] {
        self.list.get(..self.len).unwrap_or(&[])
    }
}

/// Loads a safetensors file into variables: for each of the `n` parameters, the tensor of its
/// name is converted to f32 (files of F32, F64, F16 and BF16 are read), from its layout to the
/// variable's `rows x cols`, and copied into the variable. `file[0..len]` may lie in flash.
///
/// The whole file is checked first — header length, the header's JSON, dtypes, shapes,
/// offsets, overlaps and gaps — and then every parameter: its tensor present, of the shape its
/// layout needs, with finite values; with `allow_extra == 0` a tensor no parameter names is
/// refused too (a file of another model), with `allow_extra == 1` it is ignored (a backbone
/// without its head). Nothing changes unless all is right.
///
/// Errors: BAD_WEIGHTS (the file: `eg_weights_last_error` says which tensor and what is
/// wrong); WRONG_KIND (a parameter that is not a variable), UNKNOWN_NODE, FOREIGN_NODE;
/// INVALID_ARGUMENT (more than `EG_WEIGHTS_MAX_TENSORS` parameters, a layout or `allow_extra`
/// out of range, a name that is not UTF-8 or longer than `EG_WEIGHTS_MAX_NAME`);
/// NULL_POINTER, MISALIGNED, OVERLAP (a buffer or name inside the graph).
///
/// The file's JSON header is parsed by serde-json-core, whose string parser keeps bounds
/// checks the compiler cannot prove away: a firmware that calls this function does not link
/// with the `panic-never` feature (see the crate docs).
///
/// # Safety
/// As `eg_graph_clear`; `file` is NULL or points to `len` bytes, `params` NULL or to `n`
/// parameters with NUL-terminated names; nothing writes them during the call.
#[no_mangle]
pub unsafe extern "C" fn eg_weights_load(
    g: *mut EgGraph,
    file: *const u8,
    len: usize,
    params: *const EgParam,
    n: usize,
    allow_extra: u32,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), WFail> {
        // SAFETY: the pointer is NULL or points to `len` bytes (the caller's contract).
        let bytes = unsafe { guard::input(file, len, &[gs]) }?;
        // SAFETY: forwarded contract.
        let params = unsafe { Params::read(params, n, &[gs]) }?;
        let allow_extra = match allow_extra {
            0 => false,
            1 => true,
            _ => return Err(EgStatus::InvalidArgument.into()),
        };
        let st: SafeTensors<'_, EG_WEIGHTS_MAX_TENSORS> =
            SafeTensors::parse(bytes).map_err(WFail::Weights)?;
        safetensors::load(&st, graph, params.as_slice(), LoadOptions { allow_extra })
            .map_err(WFail::Weights)
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// The length in bytes of the file `eg_weights_save` writes for these parameters and `dtype`
/// (an `eg_dtype`).
///
/// Errors: INVALID_ARGUMENT (a bad name — empty, `__metadata__`, a quote, a backslash or a
/// control character, or given twice — and as `eg_weights_load`); WRONG_KIND, UNKNOWN_NODE,
/// FOREIGN_NODE; NULL_POINTER, MISALIGNED, OVERLAP.
///
/// # Safety
/// As `eg_weights_load`; `len` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_weights_len(
    g: *mut EgGraph,
    params: *const EgParam,
    n: usize,
    dtype: u32,
    len: *mut usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), WFail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, os) = unsafe { Out::new(len, &[gs]) }?;
        // SAFETY: forwarded contract.
        let params = unsafe { Params::read(params, n, &[gs, os]) }?;
        let d = self::dtype(dtype)?;
        let need = safetensors::encoded_len(graph, params.as_slice(), d).map_err(WFail::Weights)?;
        o.write(need);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Writes the parameters' variables as a safetensors file of `dtype` elements into
/// `out[0..cap]`, in the order given, each in its layout, and stores its length in
/// `*written`. The header carries `{"format":"pt"}` as metadata and is padded to 8 bytes, as
/// PyTorch's writer does, so a file of `nn.Sequential` names and layouts loads into PyTorch
/// with `load_state_dict`. F32 files load back bit for bit.
///
/// Errors: BUFFER_TOO_SMALL (`cap` below `eg_weights_len`; `out` is then untouched), and as
/// `eg_weights_len`.
///
/// # Safety
/// As `eg_weights_len`; `out` is NULL or valid for writes of `cap` bytes, `written` NULL or
/// valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_weights_save(
    g: *mut EgGraph,
    params: *const EgParam,
    n: usize,
    dtype: u32,
    out: *mut u8,
    cap: usize,
    written: *mut usize,
) -> EgStatus {
    let f = |graph: &mut FfiGraph, gs: Span| -> Result<(), WFail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (w, ws) = unsafe { Out::new(written, &[gs]) }?;
        let out_span = guard::check_array(out.cast_const(), cap, &[gs, ws])?;
        // SAFETY: forwarded contract; the names must lie outside the output.
        let params = unsafe { Params::read(params, n, &[gs, ws, out_span]) }?;
        let d = self::dtype(dtype)?;
        let p = params.as_slice();
        let need = safetensors::encoded_len(graph, p, d).map_err(WFail::Weights)?;
        if cap < need {
            return Err(WFail::Weights(WeightsError {
                problem: Problem::Write { needed: need },
                tensor: Name::NONE,
            }));
        }
        // SAFETY: the pointer is valid for `cap >= need` writes (the caller's contract); it
        // lies outside the graph, `written` and every name (checked).
        let buf = unsafe { guard::output(out, need, &[gs, ws]) }?;
        let n = safetensors::write_to_slice(graph, p, d, buf).map_err(WFail::Weights)?;
        w.write(n);
        Ok(())
    };
    // SAFETY: `g` is NULL or a graph from `eg_graph_init` (the caller's contract).
    unsafe { with_graph(g, f) }
}

/// Copies the details of the graph's last failed weights call (`eg_weights_load`,
/// `eg_weights_len`, `eg_weights_save`) into `*out`: the problem, the tensor's name, the
/// shapes and counts. Status OK and zeros if none has failed since `eg_graph_init`; other
/// calls, failed or not, do not change it.
///
/// # Safety
/// As `eg_graph_usage`.
#[no_mangle]
pub unsafe extern "C" fn eg_weights_last_error(
    g: *mut EgGraph,
    out: *mut EgWeightsError,
) -> EgStatus {
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
            o.write(eg.weights);
            EgStatus::Ok
        }
        Err(f) => EgErrorInfo::from(f).status,
    }
}
