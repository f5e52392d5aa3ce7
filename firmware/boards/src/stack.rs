//! Stack high-water mark by painting.
//!
//! [`paint`] fills the free stack, from its lowest address up to a little below the current
//! stack pointer, with [`PATTERN`]; [`high_water_mark`] later scans up from the bottom for the
//! first word that is no longer the pattern. Everything above it has been used as stack at some
//! point: `top - address` is the high-water mark in bytes. It slightly overstates (by at most
//! [`MARGIN`] plus the frames that were live at painting) and is exact enough for budgets.
//!
//! The stack spans from the end of the statics (`_stack_end` from cortex-m-rt, `__estack`
//! from riscv-rt) to the top of RAM (`_stack_start`).

use core::ptr::{addr_of, read_volatile, write_volatile};

/// The paint. As an `f32` it is -1.07e8, not a value training is likely to leave on the stack.
pub const PATTERN: u32 = 0xCCCC_CCCC;

/// Bytes below the stack pointer left unpainted: room for the painting loop itself.
pub const MARGIN: usize = 64;

extern "C" {
    /// Top of the stack (highest address, exclusive).
    static _stack_start: u32;
    /// Bottom of the stack (lowest address), just above the statics.
    #[cfg(target_arch = "arm")]
    #[link_name = "_stack_end"]
    static STACK_BOTTOM: u32;
    #[cfg(target_arch = "riscv32")]
    #[link_name = "__estack"]
    static STACK_BOTTOM: u32;
}

/// `(bottom, top)` of the stack region, word-aligned.
fn bounds() -> (usize, usize) {
    let bottom = addr_of!(STACK_BOTTOM) as usize;
    let top = addr_of!(_stack_start) as usize;
    ((bottom + 3) & !3, top & !3)
}

/// Paints the unused stack. Call it first thing in `main`.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let end = crate::platform::stack_pointer().saturating_sub(MARGIN) & !3;
    let mut p = bottom;
    while p < end {
        // SAFETY: `bottom..end` lies between the end of the statics and below the live stack
        // frames (the stack pointer minus a margin): no Rust object lives there, the address is
        // word-aligned and inside RAM by the linker script.
        unsafe { write_volatile(p as *mut u32, PATTERN) };
        p += 4;
    }
}

/// Bytes of stack used at most since [`paint`].
#[inline(never)]
pub fn high_water_mark() -> u32 {
    let (bottom, top) = bounds();
    let mut p = bottom;
    // SAFETY: reads aligned words of the stack region, which is RAM; below the current frame
    // they belong to no Rust object, and reading a live frame's word is a plain load.
    while p < top && unsafe { read_volatile(p as *const u32) } == PATTERN {
        p += 4;
    }
    (top - p) as u32
}
