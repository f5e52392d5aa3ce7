//! Markers for the instruction-counting QEMU plugin (`tools/insncount.c`).
//!
//! The plugin counts the guest instructions executed between the first instruction of
//! [`bench_start`] and the first instruction of [`bench_stop`] and prints `insns: N` for every
//! such pair. [`Bench::step`] brackets exactly one training step (the first), so `ci.sh` gets one
//! count per firmware: the instructions of one step, plus a few for the two marker calls.

use core::sync::atomic::{compiler_fence, AtomicU32, Ordering};

/// Written by the markers. The writes are volatile: a marker without an observable effect
/// would be deleted, call and all, by the optimizer.
static MARK: AtomicU32 = AtomicU32::new(0);

#[inline(always)]
fn mark(v: u32) {
    compiler_fence(Ordering::SeqCst);
    // SAFETY: `MARK` is a static, so the pointer is valid, aligned and lives forever; this
    // single-threaded firmware has no concurrent access to it.
    unsafe { core::ptr::write_volatile(MARK.as_ptr(), v) };
    compiler_fence(Ordering::SeqCst);
}

/// Start marker. Its address is what the plugin's `start=` watches; the value written gives
/// it a body different from [`bench_stop`]'s, so the two are never merged.
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_start() {
    mark(1);
}

/// Stop marker, watched by the plugin's `stop=`.
#[inline(never)]
#[no_mangle]
pub extern "C" fn bench_stop() {
    mark(2);
}

/// Counts training steps and brackets the first one with the benchmark markers.
#[derive(Debug, Default)]
pub struct Bench {
    steps: u32,
}

impl Bench {
    /// A fresh counter.
    pub const fn new() -> Self {
        Self { steps: 0 }
    }

    /// Runs one training step. Wrap every step of an example in it: the first is measured
    /// (the plugin prints its instruction count) and all are counted.
    #[inline(always)]
    pub fn step<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let measured = self.steps == 0;
        self.steps = self.steps.wrapping_add(1);
        if measured {
            bench_start();
        }
        let r = f();
        if measured {
            bench_stop();
        }
        r
    }

    /// Runs `f` between the markers, whatever ran before: the plugin prints one more
    /// `insns:` line, after the first step's. For measuring something that is not a training
    /// step (reading a weight file, say); it is not counted as a step.
    #[inline(always)]
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> R {
        bench_start();
        let r = f();
        bench_stop();
        r
    }

    /// Steps run so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Whether a step has been measured.
    pub fn measured(&self) -> bool {
        self.steps > 0
    }
}
