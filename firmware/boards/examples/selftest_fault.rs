//! Self-test of the infrastructure: a CPU fault (an undefined instruction) must reach the
//! HardFault (Cortex-M) or exception (RISC-V) handler and exit with `exit_code::FAULT` (3).
#![no_std]
#![no_main]

use embedgrad_firmware::{Bench, Example, Failure, Outcome};

fn faults(bench: &mut Bench) -> Result<Outcome, Failure> {
    bench.step(|| ());
    if core::hint::black_box(true) {
        // SAFETY: deliberately executes an undefined instruction; the fault handler never
        // returns, so no Rust state is observed after it.
        #[cfg(target_arch = "arm")]
        unsafe {
            core::arch::asm!("udf #0");
        }
        // SAFETY: as above (`unimp` is the RISC-V illegal instruction).
        #[cfg(target_arch = "riscv32")]
        unsafe {
            core::arch::asm!("unimp");
        }
    }
    Err(Failure::Check("the undefined instruction did not fault"))
}

embedgrad_firmware::firmware!(Example {
    name: "selftest_fault",
    train: faults,
    skip: None,
    stack: 0,
    on_fault: None,
});
