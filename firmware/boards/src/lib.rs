//! # embedgrad-firmware
//!
//! The board layer that runs embedgrad training examples on bare metal: QEMU's Cortex-M0
//! (`microbit`), Cortex-M3 (`lm3s6965evb`), Cortex-M4F (`mps2-an386`) and RISC-V (`virt`), and a
//! real nRF52840-DK through probe-rs.
//!
//! An example is a function `fn(&mut Bench) -> Result<Outcome, Failure>` (see [`workload`])
//! wrapped in an [`Example`]. A firmware binary is two lines:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! embedgrad_firmware::firmware!(embedgrad_firmware::workload::MLP_XOR);
//! ```
//!
//! [`firmware!`] defines the entry point and the fault handlers (and passes the example's
//! declared stack need to the build's check, see [`guard`]); [`run`] then
//!
//! 1. sets up the stack-overflow guard ([`guard::init`]) and paints the stack ([`stack`]),
//! 2. runs the example, which wraps each training step in [`Bench::step`]: the first step is
//!    bracketed by the `bench_start`/`bench_stop` markers that the instruction-counting QEMU
//!    plugin watches,
//! 3. logs the outcome and the machine-readable `METRIC` lines over defmt,
//! 4. exits QEMU through semihosting with an [`exit_code`].
#![no_std]

pub mod bench;
pub mod digits;
pub mod exercises;
pub mod finetune;
pub mod fleet;
pub mod guard;
pub mod infer;
mod platform;
pub mod stack;
pub mod workload;

pub use bench::Bench;

/// The machine this build is for (`microbit`, `lm3s6965evb`, `mps2-an386`, `qemu-virt-rv32`,
/// `nrf52840`), chosen by build.rs from the target.
pub const BOARD: &str = env!("EMBEDGRAD_BOARD");

/// The most stack this board can give the application, in bytes: its RAM on Cortex-M (the
/// statics take their share of it), the stack region of the memory map on RISC-V.
pub const STACK_REGION_MAX: usize = include!(concat!(env!("OUT_DIR"), "/stack_region.rs"));

/// Semihosting exit codes of the firmware (QEMU's own exit status).
pub mod exit_code {
    /// The example trained and passed its checks, or was skipped in this build.
    pub const SUCCESS: i32 = 0;
    /// The example returned a [`Failure`](crate::Failure).
    pub const FAILURE: i32 = 1;
    /// A HardFault (Cortex-M) or an exception trap (RISC-V).
    pub const FAULT: i32 = 3;
    /// A panic.
    pub const PANIC: i32 = 101;
}

/// One training example, as a firmware runs it.
#[derive(Clone, Copy)]
pub struct Example {
    /// Short name, as in the binary's name and in `budgets.txt` (`mlp_xor`).
    pub name: &'static str,
    /// Builds the model, trains it, checks the result. Wrap each training step in
    /// [`Bench::step`].
    pub train: fn(&mut Bench) -> Result<Outcome, Failure>,
    /// `Some(reason)` when this build does not train the example on this board (it would take
    /// too long in QEMU, say): the firmware then logs `SKIP <name>: <reason>` and exits 0.
    pub skip: Option<&'static str>,
    /// Bytes of stack that `train`'s frames need at least, as far as the build knows them:
    /// its graph and data set (e.g. `size_of` of the graph type). [`firmware!`] passes it,
    /// plus [`guard::RUN_RESERVE`], to the linker, and the link **fails** when it does not fit
    /// in the stack region that the statics leave in RAM. 0: no build-time check (a run-time
    /// overflow is still a reported fault, see [`guard`]).
    pub stack: usize,
    /// Runs in the fault handler (on the handlers' own stack) after the `FAULT` line, before
    /// the exit: e.g. a check that the user's statics survived. `None` for none.
    pub on_fault: Option<fn()>,
}

/// What a successful example reports.
#[derive(Clone, Copy, Debug, PartialEq, defmt::Format)]
pub struct Outcome {
    /// Loss before the first update.
    pub initial_loss: f32,
    /// Loss after the last update.
    pub final_loss: f32,
    /// Classification accuracy in `0.0..=1.0`, for examples that have one.
    pub accuracy: Option<f32>,
    /// The final loss the host simulator computed for the same example, when there is one.
    pub reference_loss: Option<f32>,
}

/// Why an example failed.
#[derive(Clone, Copy, Debug, PartialEq, defmt::Format)]
pub enum Failure {
    /// A graph call returned an error.
    Graph(embedgrad_core::Error),
    /// Training ended with the loss above the required limit.
    NotConverged {
        /// The final loss.
        loss: f32,
        /// The largest acceptable final loss.
        limit: f32,
    },
    /// Accuracy ended below the required minimum.
    LowAccuracy {
        /// The final accuracy.
        accuracy: f32,
        /// The least acceptable accuracy.
        min: f32,
    },
    /// A check on the trained model failed; the text says which.
    Check(&'static str),
    /// The trained model differs from the host simulator's: the final loss by more than the
    /// tolerance, or the accuracy at all.
    Mismatch {
        /// The final loss on the device.
        loss: f32,
        /// The simulator's final loss.
        expected_loss: f32,
        /// The accuracy on the device.
        accuracy: f32,
        /// The simulator's accuracy.
        expected_accuracy: f32,
    },
}

impl From<embedgrad_core::Error> for Failure {
    fn from(e: embedgrad_core::Error) -> Self {
        Failure::Graph(e)
    }
}

/// Runs an example and exits QEMU (or the probe-rs session) with its status; never returns.
///
/// Log lines (defmt, decoded by `defmt-print` on the host):
/// `METRIC example=<name> board=<board>`, then either `SKIP <name>: <reason>` (the example is
/// not trained in this build: exit 0), or the example's own log and `METRIC` lines,
/// `METRIC steps=<n>`, `METRIC stack_hwm_bytes=<n>`, `METRIC final_loss=<l> reference_loss=<r>`
/// (examples with a reference) and `PASS <name>` or `FAIL <name>: <failure>`.
pub fn run(example: &Example) -> ! {
    guard::init();
    stack::paint();
    defmt::println!("METRIC example={=str} board={=str}", example.name, BOARD);
    if let Some(reason) = example.skip {
        defmt::println!("SKIP {=str}: {=str}", example.name, reason);
        platform::exit(exit_code::SUCCESS)
    }

    let mut bench = Bench::new();
    let result = (example.train)(&mut bench);
    let hwm = stack::high_water_mark();

    defmt::println!("METRIC steps={=u32}", bench.steps());
    defmt::println!("METRIC stack_hwm_bytes={=u32}", hwm);
    let result = match result {
        Ok(_) if !bench.measured() => Err(Failure::Check("no training step ran in Bench::step")),
        other => other,
    };
    match result {
        Ok(o) => {
            if let Some(r) = o.reference_loss {
                defmt::println!(
                    "METRIC final_loss={=f32} reference_loss={=f32}",
                    o.final_loss,
                    r
                );
            }
            defmt::info!(
                "loss {=f32} -> {=f32}, accuracy {}",
                o.initial_loss,
                o.final_loss,
                o.accuracy
            );
            defmt::println!("PASS {=str}", example.name);
            platform::exit(exit_code::SUCCESS)
        }
        Err(f) => {
            defmt::println!("FAIL {=str}: {}", example.name, f);
            platform::exit(exit_code::FAILURE)
        }
    }
}

/// Defines a firmware's entry point (and fault handler) that runs one [`Example`].
///
/// ```ignore
/// #![no_std]
/// #![no_main]
/// embedgrad_firmware::firmware!(embedgrad_firmware::workload::MLP_XOR);
/// ```
#[macro_export]
macro_rules! firmware {
    ($example:expr) => {
        const __EG_EXAMPLE: $crate::Example = $example;

        // The example's declared stack need, for the build's check (`stack-check.x`).
        ::core::arch::global_asm!(
            ".globl __eg_stack_need",
            ".set __eg_stack_need, {need}",
            need = const __EG_EXAMPLE.stack + $crate::guard::RUN_RESERVE,
        );

        #[cfg(target_arch = "arm")]
        #[$crate::__private::cortex_m_rt::entry]
        fn main() -> ! {
            $crate::run(&__EG_EXAMPLE)
        }

        #[cfg(target_arch = "arm")]
        #[$crate::__private::cortex_m_rt::exception]
        unsafe fn HardFault(frame: &$crate::__private::cortex_m_rt::ExceptionFrame) -> ! {
            $crate::__private::fault(
                "HardFault",
                frame as *const $crate::__private::cortex_m_rt::ExceptionFrame as usize,
                &__EG_EXAMPLE,
            )
        }

        // MemManage, BusFault and UsageFault (enabled on the Cortex-M3/M4F by `guard::init`)
        // and any other exception: the frame is on the application's stack (PSP there).
        #[cfg(target_arch = "arm")]
        #[$crate::__private::cortex_m_rt::exception]
        unsafe fn DefaultHandler(irqn: i16) {
            let kind = match irqn {
                -12 => "MemManage",
                -11 => "BusFault",
                -10 => "UsageFault",
                _ => "exception",
            };
            $crate::__private::fault(kind, $crate::__private::thread_sp(), &__EG_EXAMPLE)
        }

        #[cfg(target_arch = "riscv32")]
        #[$crate::__private::riscv_rt::entry]
        fn main() -> ! {
            $crate::run(&__EG_EXAMPLE)
        }

        /// Called by the trap entry (`guard`), on the trap stack.
        #[cfg(target_arch = "riscv32")]
        #[export_name = "eg_trap"]
        extern "C" fn __eg_trap(sp: usize, ra: usize) -> ! {
            $crate::__private::trap(sp, ra, &__EG_EXAMPLE)
        }
    };
}

/// Used by [`firmware!`]; not public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "arm")]
    pub use cortex_m_rt;
    #[cfg(target_arch = "riscv32")]
    pub use riscv_rt;

    pub use crate::platform::*;
}
