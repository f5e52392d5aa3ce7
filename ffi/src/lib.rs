//! # embedgrad-ffi
//!
//! The C API of embedgrad: `libembedgrad_ffi.a` and `include/embedgrad.h`. C code builds a
//! graph of f32 placeholders, variables, constants and the standard ops, feeds it, evaluates
//! it, backpropagates, trains it with gradient descent and reads values and gradients back —
//! in memory it owns, with a status code from every call.
//!
//! ```c
//! static eg_graph_storage mem;              /* the caller owns the memory */
//! eg_graph *g;
//! eg_node x, w, y, loss;
//! eg_optimizer opt;
//! float loss_value;
//! const float w0[2] = {0.5f, -0.5f};
//! const float xs[2] = {1.0f, 2.0f};
//!
//! if (eg_graph_init(&mem, sizeof mem, &g) != EG_STATUS_OK) return 1;
//! eg_placeholder(g, 1, 2, &x);
//! eg_variable(g, 2, 1, w0, 2, &w);
//! eg_matmul(g, x, w, &y);                   /* 1x1 */
//! eg_multiply(g, y, y, &loss);              /* (x·w)² */
//! eg_feed(g, x, xs, 2);
//! eg_sgd_init(&opt, 0.1f);
//! for (int i = 0; i < 20; i++) eg_minimize(&opt, g, loss, &loss_value);
//! ```
//!
//! The same functions are `pub unsafe extern "C" fn`s of the rlib, so Rust code (a fuzz
//! target, say) can call them too:
//!
//! ```
//! use embedgrad_ffi::*;
//! use core::ptr;
//!
//! let mut mem: Box<EgGraphStorage> = Box::new(EgGraphStorage { align_u64: 0 });
//! let mut g: *mut EgGraph = ptr::null_mut();
//! let (mut x, mut y) = (0u64, 0u64);
//! let mut out = [0.0f32; 2];
//! unsafe {
//!     let size = core::mem::size_of::<EgGraphStorage>();
//!     assert_eq!(eg_graph_init(ptr::from_mut(&mut *mem).cast(), size, &mut g), EgStatus::Ok);
//!     assert_eq!(eg_placeholder(g, 1, 2, &mut x), EgStatus::Ok);
//!     assert_eq!(eg_negative(g, x, &mut y), EgStatus::Ok);
//!     assert_eq!(eg_run(g, y), EgStatus::MissingFeed);
//!     assert_eq!(eg_feed(g, x, [1.0, -2.0].as_ptr(), 2), EgStatus::Ok);
//!     assert_eq!(eg_run(g, y), EgStatus::Ok);
//!     assert_eq!(eg_value(g, y, out.as_mut_ptr(), 2), EgStatus::Ok);
//! }
//! assert_eq!(out, [-1.0, 2.0]);
//! ```
//!
//! ## Memory: the caller owns it
//!
//! [`Graph`](embedgrad_core::Graph) is const-generic over its node and scalar capacities, and a
//! C library is compiled once, so the capacities are fixed when the library is built:
//! `EG_DEFAULT_NODES` (64) nodes and `EG_DEFAULT_SCALARS` (16384) scalars — values plus
//! gradients, 64 KiB of f32 — unless the environment variables `EMBEDGRAD_FFI_NODES` and
//! `EMBEDGRAD_FFI_SCALARS` say otherwise at build time (read by `build.rs`; cargo rebuilds
//! when they change). Pick them from `eg_graph_usage` of a graph built on the host: it reports
//! the exact nodes and scalars a graph occupies.
//!
//! The header sizes the memory: `EG_GRAPH_BYTES` is an upper bound of `eg_graph_size()` on
//! every target (64-bit hosts and 32-bit MCUs alike), computed from `EG_NODES` and
//! `EG_SCALARS`, which default to the library's defaults; a program linked with a library
//! built with other capacities defines both before including the header. The union type
//! `eg_graph_storage` has that size and the strictest alignment the graph may need, so C
//! declares `static eg_graph_storage mem;` (or puts it on the stack, or in a struct) and calls
//! `eg_graph_init(&mem, sizeof mem, &g)`. That call checks NULL, alignment and size
//! (`eg_graph_size()`, `eg_graph_align()`) and writes an empty graph into the memory; the
//! library never allocates. A compile-time assertion keeps the header's bound above the real
//! size whenever an op or the core grows. The graph is initialised in place, in any build:
//! the memory is zeroed (zeroed memory is an empty graph, `Graph::empty()`) and the three
//! header fields (magic, the graph's address, the last error) written, so no copy of the
//! graph passes through the stack, whatever the optimiser does; the C test on the Cortex-M4F
//! paints the stack and prints the high-water mark.
//!
//! An `eg_optimizer` is a small plain struct the caller declares (48 bytes on a 64-bit host,
//! 36 on a 32-bit MCU): gradient descent, momentum (classical or Nesterov) or Adam. Momentum
//! and Adam keep their per-parameter state in a float array of the caller that the struct
//! points to (`eg_optimizer_state_len` says how long: one or two floats per trainable scalar),
//! so the struct has one size whatever the network. Their update rules are those of
//! `embedgrad-train`, bit for bit (a test trains with both and compares).
//!
//! ## Freezing, weight files and checkpoints
//!
//! `eg_set_trainable(g, node, 0)` freezes a variable: it keeps its value, gets no gradient,
//! is not updated and has no optimizer state, so fine-tuning the last layer or the biases only
//! costs the state of what trains. `eg_parameter_count` counts the *trainable* scalars (all
//! variables' until one is frozen) — the length the optimizer state covers — and the state
//! checks of every update use the same count.
//!
//! Weight files are safetensors in PyTorch's layout, through `embedgrad_train::safetensors`.
//! A parameter list (`eg_param`: a NUL-terminated name, a variable, `EG_LAYOUT_MATRIX`,
//! `EG_LAYOUT_TRANSPOSED` for an `nn.Linear` weight, `EG_LAYOUT_VECTOR` for a bias) says
//! which tensor goes where:
//!
//! ```c
//! eg_param p[2] = {{"0.weight", w1, EG_LAYOUT_TRANSPOSED}, {"0.bias", b1, EG_LAYOUT_VECTOR}};
//! eg_weights_error e;
//! if (eg_weights_load(g, file, file_len, p, 2, 0) == EG_STATUS_BAD_WEIGHTS) {
//!     eg_weights_last_error(g, &e);   /* e.problem, e.tensor, e.expected_dims, e.found_dims */
//! }
//! eg_weights_len(g, p, 2, EG_DTYPE_F32, &len);
//! eg_weights_save(g, p, 2, EG_DTYPE_F32, out, sizeof out, &written);
//! ```
//!
//! `eg_weights_load` checks the whole file and every tensor before the first variable changes,
//! so a refused file (`EG_STATUS_BAD_WEIGHTS`) changes nothing; `eg_weights_last_error` then
//! gives the problem (`EG_WEIGHTS_PROBLEM_*`), the tensor's name, the shapes as numbers and
//! the counts. At most `EG_WEIGHTS_MAX_TENSORS` (16) parameters per call and tensors per file:
//! the reader's table lives on the stack.
//!
//! Checkpoints use `embedgrad_train::checkpoint::Store` (two alternating slots, a commit
//! marker written last, CRC-32, model and optimizer fingerprints) over the caller's flash: an
//! `eg_flash` holds a context pointer, read, write and erase callbacks, the capacity and the
//! sector size. `eg_checkpoint_save`, `eg_checkpoint_restore` (variables, optimizer state and
//! update count; an empty store is OK with `EG_RESTORED_NOTHING`, a damaged one CORRUPT),
//! `eg_checkpoint_restore_weights` (any optimizer), `eg_checkpoint_erase` and
//! `eg_checkpoint_bytes_needed`. A `NorFlash` fixes its write and erase sizes at compile
//! time; the adapter declares a write size of 32 bytes (`EG_FLASH_WRITE_SIZE`: every write is
//! 32 bytes at a 32-byte offset, valid for every device whose program unit divides 32) and an
//! erase size of 1 whose erases the adapter rounds out to whole sectors of the caller's
//! `erase_size` (a multiple of 32 that `base` and `slot_len` must be multiples of). Why the
//! power-cut argument survives the rounding is written out in the docs of the `checkpoint`
//! module (`src/checkpoint.rs`): the store's two erases — the commit unit's sector first, then
//! the rest — reach the callback as exactly those two sector ranges, in that order.
//!
//! An `eg_optimizer` exposes its whole state array to a checkpoint (for Adam `[m, v]`, as
//! `embedgrad_train::Adam` lays it out) and `embedgrad-train`'s fingerprints for its kind and
//! settings (momentum and Nesterov's flag; Adam's β1, β2, ε; not the learning rate), so a
//! checkpoint restores only into the same kind of optimizer, with the same settings, a state
//! array of the same length and the same variables frozen; the weights alone restore into
//! anything. Its update count (`updates`) is saved and restored for every kind.
//!
//! ## Handles and checks
//!
//! A node handle (`eg_node`, a `uint64_t`) is the raw form of
//! [`NodeId`](embedgrad_core::NodeId): the graph's 48-bit tag and the node's 16-bit index. It
//! is never 0, so 0 can mean "no node" in C; a handle with tag 0 or an index beyond the last
//! node is UNKNOWN_NODE, a handle of another graph (or of this one before `eg_graph_clear` or a
//! second `eg_graph_init`) FOREIGN_NODE. Tags come from one counter for the whole program and
//! are not reused for 2⁴⁸ − 1 clears (nine years of one a microsecond), so a stale handle
//! stays refused for the life of a device.
//!
//! A graph records the address it was initialised at. Its memory copied elsewhere (`memcpy`,
//! struct assignment, a graph moved to other memory) carries the original's tag, so the
//! original's handles would work on the copy; every call through such a copy is refused with
//! MOVED, and nothing is read from or written to it, until `eg_graph_init` makes it a graph
//! of its own (empty, with a fresh tag). Memory copied back to the address it came from is the
//! graph again: saving a graph to other memory and restoring it in place is allowed.
//!
//! Every call returns an `eg_status`; outputs are written only on success, as the last step.
//! Before a reference is made from any pointer it is checked for NULL and alignment, its length
//! for overflow, and its memory for overlap with the graph, the optimizer and the call's other
//! buffers (a Rust `&mut` to the graph must not alias a caller array). Graph and optimizer
//! carry a magic number, so memory that was never initialised is NOT_INITIALISED rather than
//! garbage. Enum arguments arrive as integers and are range-checked (a C enum value out of
//! range must never become a Rust enum). Every status has a name (`eg_status_str`) and the
//! graph keeps the details of its last failure (`eg_graph_last_error`: expected and found
//! shapes, lengths and counts, the node, and for `EG_STATUS_NON_FINITE` where the value was
//! found — `EG_ORIGIN_FEED`, `_ASSIGN`, `_PARAMETER`, `_LOSS`, `_GRADIENT`, `_UPDATE`,
//! `_CHECKPOINT` — and at which node).
//!
//! ## No panics across the boundary
//!
//! `catch_unwind` does not exist without std, so the library is written to have no panic
//! paths: no indexing, `unwrap` or unchecked arithmetic (clippy denies them workspace-wide),
//! and the core is panic-free by the same rules. On bare metal (`target_os = "none"`) the crate
//! is `no_std` and brings its own `#[panic_handler]` (a staticlib must; the usual
//! `cfg_attr(not(test), no_std)` pattern breaks `cargo test` and the host link, so host builds
//! use std instead). With the `panic-never` feature that handler calls a function that does not
//! exist, so a firmware links only if no panic path is reachable from the functions it calls;
//! `ffi/ci.sh` links the Cortex-M4F tests that way, and its bad-input test calls every function
//! of the header but one. The exception is the safetensors reader, `eg_weights_load`: its
//! JSON header is parsed by serde-json-core, whose string parser (`parse_str`,
//! `deserialize_str`, `EscapedStringFragmentIter`) indexes with bounds checks the compiler
//! cannot prove away, so a `panic-never` firmware that calls it does not link. Such a firmware
//! defines the missing function itself (`void embedgrad_ffi_error_a_panic_path_remains(void)`:
//! report and reset), which keeps the gate's guarantee for everything else; `ffi/ci.sh` does
//! that for `tests/weights_checkpoints.c` and checks by disassembly that only serde-json-core's
//! functions and core's panic machinery can reach it. The checks fire only on a bug in the
//! parser, which the fuzz targets have not found. The link check also found a division-by-zero
//! path in `embedgrad-train`'s micro-batch loop (`chunks_exact(..).zip(..)`), since indexed
//! there, so `eg_accumulate` calls `embedgrad_train::accumulate`. The
//! guarantee is checked with the workspace's release profile (opt-level 3); at opt-level `"s"`
//! the same `Zip` of `ChunksExact` in some kernels of `embedgrad-ops` is not inlined and keeps
//! its (unreachable) division check, which would end in the looping handler, never in C.
//! On the host an unexpected panic in an `extern "C"` function aborts the process
//! (Rust >= 1.81): it never unwinds into C. One Rust staticlib per firmware: two would define
//! the handler twice.
//!
//! ## Building
//!
//! ```text
//! cargo build --release -p embedgrad-ffi                                # host
//! cargo build --release -p embedgrad-ffi --target thumbv7em-none-eabihf # Cortex-M4F
//! cbindgen --config ffi/cbindgen.toml --crate embedgrad-ffi --output ffi/include/embedgrad.h
//! ```
//!
//! The library is `target/<target>/release/libembedgrad_ffi.a`. On the host, link it with the
//! system libraries that `rustc --print native-static-libs` lists for any staticlib (on Linux
//! `-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc`); on bare metal add `-lm` at most. ARM code
//! must be hard-float for the `eabihf` target (`-mfloat-abi=hard -mfpu=fpv4-sp-d16`). Link
//! with `-Wl,--gc-sections`: every function sits in its own section, so a firmware keeps only
//! what it calls. Cargo does not apply the workspace's LTO to a crate that is also an rlib,
//! and that is no loss here: a staticlib-only LTO build measured larger (105.7 KB of text
//! for the Cortex-M4F mlp_xor test firmware against 81.3 KB).
#![cfg_attr(target_os = "none", no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod checkpoint;
mod graph;
mod guard;
mod ops;
mod optim;
mod series;
mod status;
mod weights;

pub use checkpoint::*;
pub use graph::*;
pub use ops::*;
pub use optim::*;
pub use series::*;
pub use status::{eg_status_str, EgErrorInfo, EgOrigin, EgStatus};
pub use weights::*;

use core::ffi::{c_char, c_void};
use core::mem::{align_of, size_of};
use embedgrad_ops::StdOp;

include!(concat!(env!("OUT_DIR"), "/capacity.rs"));

/// A node handle: the graph's 48-bit tag in the high bits, the node's index in the low 16
/// bits; never 0 (a handle with tag 0 names no node).
pub type EgNode = u64;

/// Node capacity of a library built without `EMBEDGRAD_FFI_NODES`.
pub const EG_DEFAULT_NODES: usize = 64;
/// Scalar capacity (values plus gradients) of a library built without `EMBEDGRAD_FFI_SCALARS`.
pub const EG_DEFAULT_SCALARS: usize = 16384;
/// Upper bound of the graph's bytes besides its nodes and scalars, on any target (the last
/// error's details, those of the last weights error, and the graph's own fields).
pub const EG_GRAPH_FIXED_BYTES: usize = 384;
/// Upper bound of the bytes of one node record, on any target.
pub const EG_NODE_BYTES: usize = 120;
/// Bytes of one scalar (f32).
pub const EG_SCALAR_BYTES: usize = 4;
/// Upper bound of the alignment a graph needs, on any target.
pub const EG_GRAPH_ALIGN: usize = 8;

/// The node capacity this library was built with.
pub const EG_NODES: usize = match NODES_OVERRIDE {
    Some(n) => n,
    None => EG_DEFAULT_NODES,
};
/// The scalar capacity this library was built with.
pub const EG_SCALARS: usize = match SCALARS_OVERRIDE {
    Some(n) => n,
    None => EG_DEFAULT_SCALARS,
};

/// Bytes that hold a graph with `EG_NODES` nodes and `EG_SCALARS` scalars on any target (an
/// upper bound of `eg_graph_size()`).
pub const EG_GRAPH_BYTES: usize =
    EG_GRAPH_FIXED_BYTES + EG_NODES * EG_NODE_BYTES + EG_SCALARS * EG_SCALAR_BYTES;

/// The graph type behind the C API.
pub(crate) type FfiGraph = embedgrad_core::Graph<f32, StdOp, EG_NODES, EG_SCALARS>;

/// Memory for one graph: `EG_GRAPH_BYTES` bytes, aligned for any graph. Declare one and pass
/// it to `eg_graph_init`; do not touch its contents.
#[repr(C)]
pub union EgGraphStorage {
    /// The bytes.
    pub bytes: [u8; EG_GRAPH_BYTES],
    /// Alignment of a 64-bit integer.
    pub align_u64: u64,
    /// Alignment of a double.
    pub align_f64: f64,
    /// Alignment of a pointer.
    pub align_ptr: *mut c_void,
}

// The header's bound holds for this target and these capacities: checked at compile time.
const _: () = assert!(size_of::<EgGraph>() <= EG_GRAPH_BYTES);
// The fixed part alone: the graph without nodes and scalars, and the C API's fields.
const _: () = assert!(
    size_of::<EgGraph>() - size_of::<FfiGraph>()
        + size_of::<embedgrad_core::Graph<f32, StdOp, 0, 0>>()
        <= EG_GRAPH_FIXED_BYTES
);
const _: () = assert!(align_of::<EgGraph>() <= EG_GRAPH_ALIGN);
const _: () = assert!(align_of::<EgGraphStorage>() >= EG_GRAPH_ALIGN);
const _: () = assert!(size_of::<EgGraphStorage>() >= EG_GRAPH_BYTES);

/// The library's version, a static NUL-terminated string such as `"0.1.0"`.
#[no_mangle]
pub extern "C" fn eg_version() -> *const c_char {
    const V: &core::ffi::CStr = match core::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    V.as_ptr()
}

#[cfg(all(target_os = "none", not(feature = "panic-never")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Unreachable by construction (see the crate docs); halt rather than unwind into C.
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(all(target_os = "none", feature = "panic-never"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    extern "C" {
        /// Does not exist: referencing it makes the link fail (see the crate docs).
        fn embedgrad_ffi_error_a_panic_path_remains() -> !;
    }
    // SAFETY: never called at run time: if a call to this handler survives optimisation, the
    // firmware does not link, because the function does not exist.
    unsafe { embedgrad_ffi_error_a_panic_path_remains() }
}

#[cfg(test)]
mod tests;
