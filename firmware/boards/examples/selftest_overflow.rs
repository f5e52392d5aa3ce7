//! Self-test of the stack guard: a graph too big for the board's stack must end in a reported
//! fault (`FAULT stack overflow ...`, exit code 3) with the user's statics intact, never in
//! silent corruption.
//!
//! The graph has `STACK_REGION_MAX / 4 + 256` scalars: more than the board's whole stack can
//! hold. Two user statics carry a known pattern, one in `.data` (set by the startup code) and
//! one in `.bss` (set before the graph is built); the firmware's fault handler runs
//! [`check_statics`] on its own stack, which prints
//! `FAULT user statics intact: <n> words in .data, <n> in .bss` or
//! `FAULT user statics CORRUPTED: ...`.
//!
//! The graph's size is known when the firmware is built, but this example declares no stack
//! need (`stack: 0`), so that the link lets it through and the guard is what stops it. Built
//! with `EMBEDGRAD_SELFTEST_DECLARE_STACK=1` in the environment it declares the graph's size
//! instead, and the **link fails** (`stack overflow at build time`): ci.sh checks both.
//!
//! On the Cortex-M0 (ARMv6-M) the overflow ends in a lockup instead of the handler (the
//! exception frame cannot be pushed; see `guard`): QEMU aborts with
//! `Lockup: can't escalate 3 to HardFault`, the statics untouched by the layout.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use embedgrad_core::Graph;
use embedgrad_firmware::workload::seed_ops::SeedOp;
use embedgrad_firmware::{Bench, Example, Failure, Outcome, STACK_REGION_MAX};

/// Scalars of the graph: more bytes than the board's stack region.
const SCALARS: usize = STACK_REGION_MAX / 4 + 256;
type TooBig = Graph<f32, SeedOp, 8, SCALARS>;

/// Words of each user static.
const WORDS: usize = 256;

/// The pattern of word `i`.
const fn pattern(i: usize) -> u32 {
    0x5EED_0000 ^ (i as u32).wrapping_mul(0x9E37_79B9)
}

/// A user static in `.data`: the startup code copies the pattern in from flash. (Evaluated at
/// compile time: an index out of bounds would be a build error, not a panic.)
#[allow(clippy::indexing_slicing)]
static USER_DATA: [AtomicU32; WORDS] = {
    let mut a = [const { AtomicU32::new(0) }; WORDS];
    let mut i = 0;
    while i < WORDS {
        a[i] = AtomicU32::new(pattern(i));
        i += 1;
    }
    a
};

/// A user static in `.bss`, filled with the pattern before the graph is built.
static USER_BSS: [AtomicU32; WORDS] = [const { AtomicU32::new(0) }; WORDS];

/// Runs in the fault handler: are both statics still the pattern?
fn check_statics() {
    let bad = |s: &[AtomicU32; WORDS]| {
        s.iter()
            .enumerate()
            .filter(|(i, w)| w.load(Ordering::Relaxed) != pattern(*i))
            .count()
    };
    let (d, b) = (bad(&USER_DATA), bad(&USER_BSS));
    if d == 0 && b == 0 {
        defmt::println!(
            "FAULT user statics intact: {=usize} words in .data, {=usize} in .bss",
            WORDS,
            WORDS
        );
    } else {
        defmt::println!(
            "FAULT user statics CORRUPTED: {=usize} of {=usize} words in .data, {=usize} of {=usize} in .bss",
            d,
            WORDS,
            b,
            WORDS
        );
    }
}

/// Builds the graph in a frame of its own, below `overflow`'s caller.
#[inline(never)]
fn build_graph() -> usize {
    let mut g = TooBig::new();
    let g = core::hint::black_box(&mut g);
    g.len()
}

fn overflow(bench: &mut Bench) -> Result<Outcome, Failure> {
    for (i, w) in USER_BSS.iter().enumerate() {
        w.store(pattern(i), Ordering::Relaxed);
    }
    defmt::println!(
        "METRIC overflow_graph_bytes={=usize} stack_region_max={=usize}",
        core::mem::size_of::<TooBig>(),
        STACK_REGION_MAX
    );
    let nodes = bench.step(build_graph);
    defmt::println!("the graph of {=usize} nodes fitted", nodes);
    Err(Failure::Check(
        "the graph too big for the stack did not fault",
    ))
}

/// What the example declares to the build: nothing, or with
/// `EMBEDGRAD_SELFTEST_DECLARE_STACK` set, the graph's size (then the link fails).
const DECLARED: usize = match option_env!("EMBEDGRAD_SELFTEST_DECLARE_STACK") {
    Some(_) => core::mem::size_of::<TooBig>(),
    None => 0,
};

embedgrad_firmware::firmware!(Example {
    name: "selftest_overflow",
    train: overflow,
    skip: None,
    stack: DECLARED,
    on_fault: Some(check_statics),
});
