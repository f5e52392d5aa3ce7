//! Target glue: the defmt transport, exits, panics and faults.
//!
//! All four QEMU boards log through `defmt-semihosting` (semihosting stdout, which QEMU writes to
//! its own stdout for `defmt-print`) and exit through semihosting `SYS_EXIT(_EXTENDED)`, so the
//! firmware's exit code becomes QEMU's. The `board-nrf52840` feature logs over RTT instead
//! (`probe-rs run` decodes it) and still exits through semihosting, which probe-rs handles.

#[cfg(not(feature = "board-nrf52840"))]
use defmt_semihosting as _;

#[cfg(feature = "board-nrf52840")]
use defmt_rtt as _;

// The `critical-section` implementations the defmt transports need.
#[cfg(target_arch = "arm")]
use cortex_m as _;
#[cfg(target_arch = "riscv32")]
use riscv as _;

/// Ends the program with `code` as the emulator's (or probe-rs') exit status.
pub fn exit(code: i32) -> ! {
    semihosting::process::exit(code)
}

/// The HardFault handler's body (see [`firmware!`](crate::firmware)): logs where and exits
/// with [`exit_code::FAULT`](crate::exit_code::FAULT).
#[cfg(target_arch = "arm")]
pub fn hard_fault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::println!(
        "FAULT HardFault at pc={=u32:#010x} lr={=u32:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit(crate::exit_code::FAULT)
}

/// The RISC-V exception handler's body (see [`firmware!`](crate::firmware)): logs the cause
/// and exits with [`exit_code::FAULT`](crate::exit_code::FAULT).
#[cfg(target_arch = "riscv32")]
pub fn exception(frame: &riscv_rt::TrapFrame) -> ! {
    let cause = riscv::register::mcause::read().bits();
    let pc = riscv::register::mepc::read();
    defmt::println!(
        "FAULT exception mcause={=usize} at pc={=usize:#010x} ra={=usize:#010x}",
        cause,
        pc,
        frame.ra
    );
    exit(crate::exit_code::FAULT)
}

/// Panics log their location and message (when it is a plain string, so that formatting
/// machinery is not linked in) and exit with [`exit_code::PANIC`](crate::exit_code::PANIC).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let msg = info.message().as_str().unwrap_or("(formatted message)");
    match info.location() {
        Some(l) => defmt::println!("PANIC at {=str}:{=u32}: {=str}", l.file(), l.line(), msg),
        None => defmt::println!("PANIC: {=str}", msg),
    }
    exit(crate::exit_code::PANIC)
}

/// `defmt::panic!`, `defmt::assert!` and friends end here (after logging their message).
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    exit(crate::exit_code::PANIC)
}

/// The current stack pointer.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: copies the stack pointer into a register; no memory is touched and no flags change.
    #[cfg(target_arch = "arm")]
    unsafe {
        core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    // SAFETY: as above.
    #[cfg(target_arch = "riscv32")]
    unsafe {
        core::arch::asm!("mv {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    sp
}
