//! Drives the C API (`embedgrad-ffi`) with arbitrary call sequences: arbitrary integers as node
//! handles, op codes, axes and enum values; arbitrary floats (NaN, ±∞) as data, parameters and
//! learning rates; and, for every pointer argument, NULL, a misaligned pointer, a pointer into
//! the graph or optimizer it is used with (overlap), lengths that overflow, buffers that are too
//! short, memory never initialised as a graph, and optimizers made of arbitrary bytes.
//!
//! Pointers the API would dereference always point into memory this target owns — the contract
//! of the C API — so a crash, an AddressSanitizer report or a failed invariant is a bug in the
//! API, not in the target. Invariants checked after every call:
//!
//! - a failed call writes none of its outputs (sentinels stay), and leaves the graph's size as
//!   it was; the graph's last error then reports the same status;
//! - a successful feed or assignment reads back exactly; a new node's handle is never 0;
//! - a byte copy of a graph at another address is refused (MOVED) and left as it was;
//! - `eg_status_str` names every integer.

#![no_main]

use core::ffi::CStr;
use core::mem::size_of;
use core::ptr;
use embedgrad_ffi::*;
use libfuzzer_sys::fuzz_target;

/// The input, read front to back; zeros once exhausted.
struct In<'a>(&'a [u8]);

impl In<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    fn f32(&mut self) -> f32 {
        match self.u8() % 8 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => -f32::INFINITY,
            3 => f32::from_bits(self.u32()),
            4 => 0.0,
            _ => f32::from(self.u8() as i8) / 8.0,
        }
    }
    /// A count: mostly the sizes of small shapes, sometimes zero or larger.
    fn len(&mut self) -> usize {
        [1, 2, 3, 4, 6, 8, 9, 12, 16, 0, 5, 40][usize::from(self.u8()) % 12]
    }
    /// A dimension: mostly 1..4, sometimes 0 or too large.
    fn dim(&mut self) -> usize {
        match self.u8() % 12 {
            0 => 0,
            9 => 65_536,
            10 => usize::MAX,
            11 => 200,
            d => usize::from(d - 1) % 4 + 1,
        }
    }
}

const FLOATS: usize = 512;
const SENTINEL: u32 = 0xA5A5_A5A5;

/// Everything the calls may point at. Allocated once per input; only raw pointers are used
/// while the API runs.
struct World {
    /// Graph memory: two graphs (0, 1) and one never initialised (2, zeroed).
    mem: [*mut EgGraphStorage; 3],
    /// Graph pointers from successful `eg_graph_init` calls.
    graphs: [*mut EgGraph; 2],
    /// Node handles returned so far, per graph.
    handles: [Vec<EgNode>; 2],
    /// Data and output floats.
    floats: *mut f32,
    /// Handle arrays for ops and `eg_run_many`.
    ids: *mut EgNode,
    /// Two optimizers.
    opts: *mut [EgOptimizer; 2],
    /// Output cells.
    out_u32: *mut u32,
    out_node: *mut EgNode,
    out_usize: *mut [usize; 2],
    out_f32: *mut f32,
    out_err: *mut EgErrorInfo,
    out_graph: *mut *mut EgGraph,
    /// Weight files written and read (`eg_weights_*`).
    bytes: *mut [u8; BYTES],
    /// A RAM flash of `SECTOR`-byte sectors for checkpoints, with callbacks that fail on
    /// command.
    flash: *mut Flash,
}

const BYTES: usize = 2048;
const SECTOR: u32 = 512;

/// A NOR-like flash in RAM: erases to 0xFF, writes only clear bits; `fail_in` calls from now
/// a callback fails (0: never).
struct Flash {
    mem: [u8; 8 * SECTOR as usize],
    fail_in: u32,
    /// The sector size the flash is declared with: every erase is whole sectors of it.
    erase_size: u32,
}

impl Flash {
    fn fails(&mut self) -> bool {
        match self.fail_in {
            0 => false,
            1 => {
                self.fail_in = 0;
                true
            }
            _ => {
                self.fail_in -= 1;
                false
            }
        }
    }
}

unsafe extern "C" fn flash_read(
    ctx: *mut core::ffi::c_void,
    off: u32,
    buf: *mut u8,
    len: usize,
) -> i32 {
    // SAFETY: `ctx` is the world's flash; the library keeps reads inside `capacity`.
    let f = unsafe { &mut *ctx.cast::<Flash>() };
    assert!(off as usize + len <= f.mem.len(), "read outside the flash");
    if f.fails() {
        return -1;
    }
    // SAFETY: `buf` holds `len` bytes (the library's buffer).
    unsafe { ptr::copy_nonoverlapping(f.mem.as_ptr().add(off as usize), buf, len) };
    0
}

unsafe extern "C" fn flash_write(
    ctx: *mut core::ffi::c_void,
    off: u32,
    data: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: as in `flash_read`.
    let f = unsafe { &mut *ctx.cast::<Flash>() };
    assert!(off as usize + len <= f.mem.len(), "write outside the flash");
    assert!(
        off % 32 == 0 && len % 32 == 0,
        "a write of {len} bytes at {off}"
    );
    if f.fails() {
        return -1;
    }
    for i in 0..len {
        // SAFETY: `data` holds `len` bytes.
        f.mem[off as usize + i] &= unsafe { data.add(i).read() };
    }
    0
}

unsafe extern "C" fn flash_erase(ctx: *mut core::ffi::c_void, from: u32, to: u32) -> i32 {
    // SAFETY: as in `flash_read`.
    let f = unsafe { &mut *ctx.cast::<Flash>() };
    let e = f.erase_size;
    assert!(
        e != 0 && from % e == 0 && to % e == 0 && from < to,
        "erase {from}..{to} ({e})"
    );
    assert!(to as usize <= f.mem.len(), "erase outside the flash");
    if f.fails() {
        return -1;
    }
    f.mem[from as usize..to as usize].fill(0xFF);
    0
}

fn boxed<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

impl World {
    fn new() -> Self {
        let storage = || {
            boxed(EgGraphStorage {
                bytes: [0; EG_GRAPH_BYTES],
            })
        };
        World {
            mem: [storage(), storage(), storage()],
            graphs: [ptr::null_mut(); 2],
            handles: [Vec::new(), Vec::new()],
            floats: Box::into_raw(vec![0.0f32; FLOATS].into_boxed_slice()).cast(),
            ids: Box::into_raw(vec![0 as EgNode; 8].into_boxed_slice()).cast(),
            // SAFETY: every bit pattern is a valid `EgOptimizer` (integers, floats and a raw
            // pointer; its docs say so), so all-zero is one.
            opts: boxed(unsafe { core::mem::zeroed::<[EgOptimizer; 2]>() }),
            out_u32: boxed(0),
            out_node: boxed(0),
            out_usize: boxed([0; 2]),
            out_f32: boxed(0.0),
            out_err: boxed(EgErrorInfo {
                status: EgStatus::Ok,
                node: 0,
                expected: 0,
                found: 0,
                expected_rows: 0,
                expected_cols: 0,
                found_rows: 0,
                found_cols: 0,
                origin: EgOrigin::None,
            }),
            out_graph: boxed(ptr::null_mut()),
            bytes: boxed([0; BYTES]),
            flash: boxed(Flash {
                mem: [0xFF; 8 * SECTOR as usize],
                fail_in: 0,
                erase_size: SECTOR,
            }),
        }
    }

    /// A graph argument: one of the two graphs (initialised or not yet), the never-initialised
    /// memory, NULL, or a misaligned pointer. Returns the pointer and which graph it is.
    fn graph(&mut self, inp: &mut In<'_>) -> (*mut EgGraph, Option<usize>) {
        match inp.u8() % 16 {
            0 => (ptr::null_mut(), None),
            1 => (self.mem[2].cast(), None),
            2 => (self.mem[0].cast::<u8>().wrapping_add(4).cast(), None),
            b => {
                let k = usize::from(b & 1);
                let g = self.graphs[k];
                if g.is_null() {
                    (self.mem[k].cast(), None) // not initialised yet
                } else {
                    (g, Some(k))
                }
            }
        }
    }

    /// A node handle: one of the graph's, one of the other graph's, one of the graph's with one
    /// bit of its tag flipped, 0, or any integer (32 or 64 bits).
    fn node(&self, inp: &mut In<'_>, k: Option<usize>) -> EgNode {
        let b = inp.u8();
        let own = k.map(|k| &self.handles[k]).filter(|h| !h.is_empty());
        let other = &self.handles[k.map_or(1, |k| 1 - k)];
        match (b % 16, own) {
            (0, _) => 0,
            (1, _) => EgNode::from(inp.u32()),
            (2, _) if !other.is_empty() => other[usize::from(b) % other.len()],
            (3, Some(h)) => h[usize::from(b / 16) % h.len()] ^ 1 << (16 + inp.u8() % 48),
            (4, _) => inp.u64(),
            (_, Some(h)) => h[usize::from(b / 16) % h.len()],
            _ => EgNode::from(inp.u32()),
        }
    }

    /// An input float array: NULL, misaligned, inside the graph, too long to exist, or a
    /// window of the float buffer (filled with input values).
    fn floats_in(&mut self, inp: &mut In<'_>, g: *mut EgGraph) -> (*const f32, usize) {
        let len = inp.len();
        match inp.u8() % 12 {
            0 => (ptr::null(), len),
            1 => (self.floats.cast::<u8>().wrapping_add(2).cast(), len),
            2 if !g.is_null() => (g.cast::<u8>().wrapping_add(64).cast(), len),
            3 => (self.floats, usize::MAX),
            4 => (self.floats, isize::MAX as usize / 4 + 1),
            b => {
                let off = usize::from(b) * 7 % 64;
                let len = len.min(FLOATS - off);
                for i in 0..len {
                    // SAFETY: `off + i < FLOATS`: inside the float buffer, which no reference
                    // covers.
                    unsafe { self.floats.add(off + i).write(inp.f32()) };
                }
                // SAFETY: `off < FLOATS`.
                (unsafe { self.floats.add(off) }, len)
            }
        }
    }

    /// An output float array: NULL, misaligned, inside the graph, or a window of the float
    /// buffer set to a sentinel; `len` at most the window.
    fn floats_out(&mut self, inp: &mut In<'_>, g: *mut EgGraph) -> (*mut f32, usize, bool) {
        let len = inp.len();
        match inp.u8() % 10 {
            0 => (ptr::null_mut(), len, false),
            1 => (self.floats.cast::<u8>().wrapping_add(1).cast(), len, false),
            2 if !g.is_null() => (g.cast::<u8>().wrapping_add(128).cast(), len, false),
            3 => (self.floats, usize::MAX, false),
            _ => {
                let off = 256;
                for i in 0..len {
                    // SAFETY: `off + len <= FLOATS`.
                    unsafe { self.floats.add(off + i).write(f32::from_bits(SENTINEL)) };
                }
                // SAFETY: inside the buffer.
                (unsafe { self.floats.add(off) }, len, true)
            }
        }
    }

    /// Whether an output window still holds the sentinel.
    fn untouched(&self, p: *mut f32, len: usize) -> bool {
        // SAFETY: `p` is the window `floats_out` returned, `len` floats long.
        (0..len).all(|i| unsafe { p.add(i).read() }.to_bits() == SENTINEL)
    }

    /// An output pointer of `T`: NULL, misaligned, inside the graph, or the cell (reset to a
    /// sentinel).
    ///
    /// Pass a NULL `g` for calls without a graph: they cannot tell graph memory from any
    /// other, so pointing them into a graph would break the graph (outside the contract).
    fn out<T>(&self, inp: &mut In<'_>, cell: *mut T, g: *mut EgGraph) -> (*mut T, bool) {
        match inp.u8() % 8 {
            0 => (ptr::null_mut(), false),
            1 => (cell.cast::<u8>().wrapping_add(1).cast(), false),
            2 if !g.is_null() => (g.cast::<u8>().wrapping_add(8).cast(), false),
            _ => {
                // SAFETY: `cell` is one of the world's boxes; `T` is plain data here.
                unsafe { ptr::write_bytes(cell.cast::<u8>(), 0xA5, size_of::<T>()) };
                (cell, true)
            }
        }
    }

    /// Whether a cell still holds the sentinel bytes.
    fn cell_untouched<T>(cell: *mut T) -> bool {
        // SAFETY: the cell is a box of `size_of::<T>()` bytes that were all written.
        (0..size_of::<T>()).all(|i| unsafe { cell.cast::<u8>().add(i).read() } == 0xA5)
    }

    /// An optimizer pointer: one of the two, NULL, misaligned, or inside the graph (pass a
    /// NULL `g` for calls without a graph, as for [`World::out`]).
    fn opt(&self, inp: &mut In<'_>, g: *mut EgGraph) -> *mut EgOptimizer {
        match inp.u8() % 8 {
            0 => ptr::null_mut(),
            1 => self.opts.cast::<u8>().wrapping_add(2).cast(),
            2 if !g.is_null() => g.cast::<u8>().wrapping_add(256).cast(),
            b => self
                .opts
                .cast::<EgOptimizer>()
                .wrapping_add(usize::from(b & 1)),
        }
    }

    fn usage(&self, g: *mut EgGraph) -> Option<(usize, usize)> {
        let mut n = 0;
        let mut s = 0;
        // SAFETY: `g` is one of the world's graph pointers; the outputs are locals.
        (unsafe { eg_graph_usage(g, &mut n, &mut s) } == EgStatus::Ok).then_some((n, s))
    }

    fn last_status(&self, g: *mut EgGraph) -> Option<EgStatus> {
        // SAFETY: the output is one of the world's cells.
        let status = (unsafe { eg_graph_last_error(g, self.out_err) } == EgStatus::Ok)
            .then(|| unsafe { *self.out_err });
        if let Some(info) = status {
            // Where a non-finite value came from is told for NON_FINITE, and only then.
            assert_eq!(
                info.status == EgStatus::NonFinite,
                info.origin != EgOrigin::None,
                "{info:?}"
            );
        }
        status.map(|info| info.status)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // SAFETY: each pointer came from `Box::into_raw` of the same type and is freed once.
        unsafe {
            for m in self.mem {
                drop(Box::from_raw(m));
            }
            drop(Box::from_raw(ptr::slice_from_raw_parts_mut(
                self.floats,
                FLOATS,
            )));
            drop(Box::from_raw(ptr::slice_from_raw_parts_mut(self.ids, 8)));
            drop(Box::from_raw(self.opts));
            drop(Box::from_raw(self.out_u32));
            drop(Box::from_raw(self.out_node));
            drop(Box::from_raw(self.out_usize));
            drop(Box::from_raw(self.out_f32));
            drop(Box::from_raw(self.out_err));
            drop(Box::from_raw(self.out_graph));
            drop(Box::from_raw(self.bytes));
            drop(Box::from_raw(self.flash));
        }
    }
}

/// `EMBEDGRAD_FUZZ_TRACE=1` prints the status of each graph call (to read a corpus file).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("EMBEDGRAD_FUZZ_TRACE").is_some())
}

/// Checks what every failed call on a valid graph promises.
fn failed(
    w: &World,
    g: *mut EgGraph,
    k: Option<usize>,
    st: EgStatus,
    before: Option<(usize, usize)>,
) {
    if trace() {
        eprintln!("    graph {k:?}: {st:?}, usage {:?}", w.usage(g));
    }
    if st == EgStatus::Ok {
        return;
    }
    if k.is_some() {
        assert_eq!(w.usage(g), before, "{st:?} changed the graph's size");
        assert_eq!(w.last_status(g), Some(st), "last error");
    }
}

fn step(w: &mut World, inp: &mut In<'_>) {
    // 0..19 as before (the seeds keep their meaning); bytes from 240 on: the weight files,
    // checkpoints and freezing.
    let c = inp.u8();
    let cmd = if c >= 240 { 20 + (c - 240) % 3 } else { c % 20 };
    let (g, k) = w.graph(inp);
    let before = k.and_then(|_| w.usage(g));
    // SAFETY (all calls below): every pointer passed is NULL, misaligned (rejected before use),
    // inside the graph or optimizer of the same call (rejected as overlap before use), paired
    // with a length whose byte size overflows (rejected before use), or points into one of the
    // world's allocations with at least the length passed; no Rust reference to that memory is
    // alive during the call.
    unsafe {
        match cmd {
            0 => {
                let k = usize::from(inp.u8() & 1);
                let mem: *mut u8 = match inp.u8() % 6 {
                    0 => ptr::null_mut(),
                    1 => w.mem[k].cast::<u8>().wrapping_add(4),
                    _ => w.mem[k].cast(),
                };
                let size = match inp.u8() % 4 {
                    0 => eg_graph_size() - 1,
                    1 => 0,
                    _ => size_of::<EgGraphStorage>(),
                };
                let (out, cell) = match inp.u8() % 6 {
                    0 => (ptr::null_mut(), false),
                    1 => (w.mem[k].cast::<*mut EgGraph>(), false), // inside the memory
                    _ => {
                        *w.out_graph = ptr::null_mut();
                        (w.out_graph, true)
                    }
                };
                let st = eg_graph_init(mem.cast(), size, out);
                if trace() {
                    eprintln!("    init {k}: {st:?}");
                }
                if st == EgStatus::Ok {
                    assert!(cell);
                    assert_eq!(*w.out_graph, w.mem[k].cast());
                    w.graphs[k] = *w.out_graph;
                    w.handles[k].clear();
                    assert_eq!(w.usage(w.graphs[k]), Some((0, 0)));
                } else if cell {
                    assert!((*w.out_graph).is_null(), "output written on failure");
                }
            }
            1 => {
                let st = eg_graph_clear(g);
                if st == EgStatus::Ok {
                    w.handles[k.unwrap()].clear();
                    assert_eq!(w.usage(g), Some((0, 0)));
                }
            }
            2..=5 => {
                let (out, cell) = w.out(inp, w.out_node, g);
                let st = match cmd {
                    2 => eg_placeholder(g, inp.dim(), inp.dim(), out),
                    3 | 4 => {
                        let (rows, cols) = (inp.dim(), inp.dim());
                        let (data, len) = w.floats_in(inp, g);
                        if cmd == 3 {
                            eg_variable(g, rows, cols, data, len, out)
                        } else {
                            eg_constant(g, rows, cols, data, len, out)
                        }
                    }
                    _ => {
                        let op = match inp.u8() % 4 {
                            0 => inp.u32(),
                            _ => u32::from(inp.u8() % 26),
                        };
                        let param = if inp.u8() & 1 == 0 { 0.0 } else { inp.f32() };
                        let n = usize::from(inp.u8() % 5);
                        for i in 0..n {
                            w.ids.add(i).write(w.node(inp, k));
                        }
                        let ids = match inp.u8() % 8 {
                            0 => ptr::null(),
                            1 => w.ids.cast::<u8>().wrapping_add(1).cast(),
                            _ => w.ids.cast_const(),
                        };
                        match inp.u8() % 8 {
                            0 => eg_reduce_sum(g, w.node(inp, k), inp.u32() % 5, out),
                            1 => eg_mean(g, w.node(inp, k), inp.u32() % 5, out),
                            2 => eg_scale(g, w.node(inp, k), inp.f32(), out),
                            3 => eg_leaky_relu(g, w.node(inp, k), inp.f32(), out),
                            _ => eg_push_op_param(g, op, param, ids, n, out),
                        }
                    }
                };
                if trace() {
                    eprintln!("    new node: {st:?}");
                }
                if st == EgStatus::Ok {
                    assert!(cell);
                    let h = *w.out_node;
                    assert_ne!(h, 0);
                    w.handles[k.unwrap()].push(h);
                    let (n, _) = w.usage(g).unwrap();
                    assert_eq!(n, before.unwrap().0 + 1);
                } else {
                    if cell {
                        assert!(
                            World::cell_untouched(w.out_node),
                            "handle written on failure"
                        );
                    }
                    failed(w, g, k, st, before);
                }
            }
            6 | 7 => {
                let node = w.node(inp, k);
                let (data, len) = w.floats_in(inp, g);
                let st = if cmd == 6 {
                    eg_feed(g, node, data, len)
                } else {
                    eg_assign(g, node, data, len)
                };
                if st == EgStatus::Ok {
                    let mut back = vec![0.0f32; len];
                    assert_eq!(eg_value(g, node, back.as_mut_ptr(), len), EgStatus::Ok);
                    for (i, b) in back.iter().enumerate() {
                        assert_eq!(b.to_bits(), data.add(i).read().to_bits());
                        assert!(b.is_finite());
                    }
                }
                failed(w, g, k, st, before);
            }
            8 => {
                let st = eg_run(g, w.node(inp, k));
                failed(w, g, k, st, before);
            }
            9 => {
                let n = usize::from(inp.u8() % 5);
                for i in 0..n {
                    w.ids.add(i).write(w.node(inp, k));
                }
                let (ids, n) = match inp.u8() % 8 {
                    0 => (ptr::null(), n),
                    1 => (w.ids.cast_const(), usize::MAX),
                    2 if !g.is_null() => (g.cast::<EgNode>().cast_const(), n.max(1)),
                    _ => (w.ids.cast_const(), n),
                };
                let st = eg_run_many(g, ids, n);
                failed(w, g, k, st, before);
            }
            10 => {
                let st = match inp.u8() % 3 {
                    0 => eg_backward(g, w.node(inp, k)),
                    1 => eg_backward_accumulate(g, w.node(inp, k)),
                    _ => eg_zero_grads(g),
                };
                failed(w, g, k, st, before);
            }
            11 => {
                let node = w.node(inp, k);
                let (out, cell) = w.out(inp, w.out_f32, g);
                let st = eg_forward_backward(g, node, out);
                if st != EgStatus::Ok && cell {
                    assert!(World::cell_untouched(w.out_f32));
                }
                failed(w, g, k, st, before);
            }
            12 => {
                let node = w.node(inp, k);
                let (out, len, window) = w.floats_out(inp, g);
                let st = if inp.u8() & 1 == 0 {
                    eg_value(g, node, out, len)
                } else {
                    eg_grad(g, node, out, len)
                };
                if st != EgStatus::Ok && window {
                    assert!(w.untouched(out, len), "value written on failure");
                }
                failed(w, g, k, st, before);
            }
            13 => {
                let node = w.node(inp, k);
                let st = match inp.u8() % 6 {
                    0 => {
                        let cells = w.out_usize.cast::<usize>();
                        let (r, rc) = w.out(inp, cells, g);
                        let (c, cc) = w.out(inp, cells.wrapping_add(1), g);
                        let st = eg_shape(g, node, r, c);
                        if st != EgStatus::Ok && rc && cc {
                            assert!(World::cell_untouched(w.out_usize));
                        }
                        st
                    }
                    1 => {
                        let (o, cell) = w.out(inp, w.out_u32, g);
                        let st = eg_node_kind(g, node, o);
                        if st == EgStatus::Ok {
                            assert!((1..=4).contains(&*w.out_u32));
                        } else if cell {
                            assert!(World::cell_untouched(w.out_u32));
                        }
                        st
                    }
                    2 => {
                        let cells = w.out_usize.cast::<usize>();
                        let (a, _) = w.out(inp, cells, g);
                        let (b, _) = w.out(inp, cells.wrapping_add(1), g);
                        eg_graph_usage(g, a, b)
                    }
                    3 => {
                        let (a, _) = w.out(inp, w.out_usize.cast::<usize>(), g);
                        eg_parameter_count(g, a)
                    }
                    4 => {
                        let (a, _) = w.out(inp, w.out_err, g);
                        eg_graph_last_error(g, a)
                    }
                    _ => {
                        let cells = w.out_usize.cast::<usize>();
                        let (a, _) = w.out(inp, cells, ptr::null_mut());
                        let (b, _) = w.out(inp, cells, ptr::null_mut()); // maybe the same cell
                        let st = eg_capacity(a, b);
                        if st == EgStatus::Ok {
                            assert_ne!(a, b);
                        }
                        st
                    }
                };
                let _ = st;
                assert_eq!(w.usage(g), before);
            }
            14 => {
                let lr = inp.f32();
                let which = inp.u8() % 3;
                match which {
                    0 | 1 => {
                        let opt = w.opt(inp, ptr::null_mut());
                        let st = if which == 0 {
                            eg_sgd_init(opt, lr)
                        } else {
                            eg_optimizer_set_learning_rate(opt, lr)
                        };
                        if st == EgStatus::Ok {
                            assert!(lr.is_finite() && lr >= 0.0, "learning rate {lr} accepted");
                        }
                    }
                    _ => {
                        let opt = w.opt(inp, g);
                        let st = eg_optimizer_step(opt, g);
                        failed(w, g, k, st, before);
                    }
                }
            }
            15 => {
                let opt = w.opt(inp, g);
                let loss = w.node(inp, k);
                let (out, cell) = w.out(inp, w.out_f32, g);
                let st = eg_minimize(opt, g, loss, out);
                if st == EgStatus::Ok {
                    assert!((*w.out_f32).is_finite());
                } else if cell {
                    assert!(World::cell_untouched(w.out_f32));
                }
                failed(w, g, k, st, before);
            }
            16 => {
                let (x, y, loss) = (w.node(inp, k), w.node(inp, k), w.node(inp, k));
                let (xs, xl) = w.floats_in(inp, g);
                let (ys, yl) = w.floats_in(inp, g);
                let (out, cell) = w.out(inp, w.out_f32, g);
                let st = if inp.u8() & 1 == 0 {
                    eg_accumulate(g, x, y, loss, xs, xl, ys, yl, out)
                } else {
                    let opt = w.opt(inp, g);
                    eg_step_accumulated(opt, g, x, y, loss, xs, xl, ys, yl, out)
                };
                if st != EgStatus::Ok && cell {
                    assert!(World::cell_untouched(w.out_f32));
                }
                failed(w, g, k, st, before);
            }
            17 => {
                // An optimizer of arbitrary bytes (every bit pattern is a valid value).
                let o = w
                    .opts
                    .cast::<u8>()
                    .add(size_of::<EgOptimizer>() * usize::from(inp.u8() & 1));
                // The `repr(C)` layout: magic, kind, rate, three hyper-parameters, the update
                // count (28 bytes), then the reserved state pointer and length, left NULL and 0.
                for i in 0..28 {
                    o.add(i).write(inp.u8());
                }
            }
            18 => {
                let s = eg_status_str(inp.u32() as i32);
                assert!(!s.is_null());
                assert!(!CStr::from_ptr(s).to_bytes().is_empty());
                assert!(!CStr::from_ptr(eg_version()).to_bytes().is_empty());
            }
            20 => {
                // Weight files: a parameter list of the graph's handles (names from a table,
                // layouts in and out of range); save and load it back, or load input bytes.
                const NAMES: [&CStr; 4] = [c"0.weight", c"0.bias", c"2.weight", c""];
                let n = usize::from(inp.u8() % 4);
                let mut params = [EgParam {
                    name: ptr::null(),
                    node: 0,
                    layout: 0,
                }; 3];
                for p in params.iter_mut().take(n) {
                    let b = inp.u8();
                    p.name = if b % 16 == 0 {
                        ptr::null()
                    } else {
                        NAMES[usize::from(b) % 4].as_ptr()
                    };
                    p.node = w.node(inp, k);
                    p.layout = u32::from(inp.u8() % 5);
                }
                let dtype = u32::from(inp.u8() % 6);
                let bytes = w.bytes.cast::<u8>();
                let st = match inp.u8() % 3 {
                    0 => {
                        let (len, cell) = w.out(inp, w.out_usize.cast::<usize>(), g);
                        let st = eg_weights_len(g, params.as_ptr(), n, dtype, len);
                        if st != EgStatus::Ok && cell {
                            assert!(World::cell_untouched(w.out_usize.cast::<usize>()));
                        }
                        st
                    }
                    1 => {
                        let mut written = 0usize;
                        let cap = [BYTES, 16, 0][usize::from(inp.u8() % 3)];
                        let st =
                            eg_weights_save(g, params.as_ptr(), n, dtype, bytes, cap, &mut written);
                        if st == EgStatus::Ok {
                            assert!(written <= cap);
                            // What was written loads back, and changes nothing it reads.
                            let again = eg_weights_load(g, bytes, written, params.as_ptr(), n, 0);
                            assert!(
                                matches!(again, EgStatus::Ok | EgStatus::BadWeights),
                                "{again:?}"
                            );
                        }
                        st
                    }
                    _ => {
                        let len = usize::from(inp.u8()) * 4 % BYTES;
                        for i in 0..len {
                            bytes.add(i).write(inp.u8());
                        }
                        let st = eg_weights_load(
                            g,
                            bytes,
                            len,
                            params.as_ptr(),
                            n,
                            u32::from(inp.u8() % 3),
                        );
                        if st == EgStatus::BadWeights {
                            let mut e = core::mem::zeroed::<EgWeightsError>();
                            assert_eq!(eg_weights_last_error(g, &mut e), EgStatus::Ok);
                            assert_eq!(e.status, EgStatus::BadWeights);
                            assert_eq!(e.tensor[EG_WEIGHTS_NAME_BYTES - 1], 0);
                        }
                        st
                    }
                };
                failed(w, g, k, st, before);
            }
            21 => {
                // Checkpoints through the RAM flash, whose callbacks fail on command; slots
                // aligned or not, inside the flash or not.
                let o = w.opt(inp, g);
                (*w.flash).fail_in = u32::from(inp.u8() % 8);
                let erase_size = [SECTOR, 32, 48, 0][usize::from(inp.u8() % 4)];
                (*w.flash).erase_size = erase_size;
                let fl = EgFlash {
                    ctx: w.flash.cast(),
                    read: Some(flash_read),
                    write: Some(flash_write),
                    erase: Some(flash_erase),
                    capacity: 8 * SECTOR,
                    erase_size,
                };
                let base = [0, SECTOR, 100, 4 * SECTOR][usize::from(inp.u8() % 4)];
                let slot = [SECTOR, 2 * SECTOR, 32, 3 * SECTOR][usize::from(inp.u8() % 4)];
                let (mut restored, mut seq) = (99u32, 99u32);
                let op = inp.u8() % 5;
                let st = match op {
                    0 => eg_checkpoint_save(g, o, &fl, base, slot, &mut seq),
                    1 => eg_checkpoint_restore(g, o, &fl, base, slot, &mut restored, &mut seq),
                    2 => eg_checkpoint_restore_weights(g, &fl, base, slot, &mut restored, &mut seq),
                    3 => {
                        let (out, _) = w.out(inp, w.out_usize.cast::<usize>(), g);
                        eg_checkpoint_bytes_needed(g, o, out)
                    }
                    _ => eg_checkpoint_erase(&fl, base, slot),
                };
                (*w.flash).fail_in = 0;
                if st != EgStatus::Ok {
                    assert!(restored == 99 && seq == 99, "{st:?} wrote its outputs");
                }
                // A restore that copied part of a record is the one failure that changes
                // values, never the graph's size. Erasing takes no graph.
                if op != 4 {
                    failed(w, g, k, st, before);
                }
            }
            22 => {
                let n = w.node(inp, k);
                let st = if inp.u8() & 1 == 0 {
                    eg_set_trainable(g, n, u32::from(inp.u8() % 3))
                } else {
                    let (out, _) = w.out(inp, w.out_u32, g);
                    eg_is_trainable(g, n, out)
                };
                failed(w, g, k, st, before);
            }
            _ if inp.u8() % 4 == 0 => {
                // A byte copy of a graph in the never-initialised memory: it has the original's
                // tag, and is refused (MOVED) whatever the handle, writing nothing; then zeroed.
                let k = usize::from(inp.u8() & 1);
                if !w.graphs[k].is_null() {
                    let copy = w.mem[2];
                    ptr::copy_nonoverlapping(w.mem[k], copy, 1);
                    let h = w.node(inp, Some(k));
                    assert_eq!(eg_run(copy.cast(), h), EgStatus::Moved);
                    assert_eq!(eg_graph_clear(copy.cast()), EgStatus::Moved);
                    let same = (0..size_of::<EgGraphStorage>()).all(|i| {
                        copy.cast::<u8>().add(i).read() == w.mem[k].cast::<u8>().add(i).read()
                    });
                    assert!(same, "a refused copy was written");
                    ptr::write_bytes(copy.cast::<u8>(), 0, size_of::<EgGraphStorage>());
                }
            }
            _ => {
                // Garbage over the never-initialised memory: still not a graph.
                let m = w.mem[2].cast::<u8>();
                let at = usize::from(inp.u8()) * 16;
                for i in 0..16 {
                    m.add(at + i).write(inp.u8());
                }
                let magic_free =
                    (0..EG_GRAPH_BYTES / 4).all(|i| m.cast::<u32>().add(i).read() != 0x4547_4752);
                if magic_free {
                    assert_eq!(eg_run(w.mem[2].cast(), 1), EgStatus::NotInitialised);
                } else {
                    // Restore zeros: memory with the magic would be a (corrupt) graph, which
                    // the API's contract excludes.
                    ptr::write_bytes(m, 0, EG_GRAPH_BYTES);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = In(data);
    let mut w = World::new();
    for _ in 0..256 {
        if inp.0.is_empty() {
            break;
        }
        step(&mut w, &mut inp);
    }
});
