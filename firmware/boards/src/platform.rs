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

/// Set by the first fault handler: a fault inside a handler exits at once, without logging.
static IN_FAULT: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Common end of the fault handlers: the example's check (on the handlers' stack), then exit.
fn fault_exit(example: &crate::Example) -> ! {
    if let Some(check) = example.on_fault {
        check();
    }
    exit(crate::exit_code::FAULT)
}

/// Guards against a fault in a fault handler (or in the example's check): the second one
/// exits with [`exit_code::FAULT`](crate::exit_code::FAULT) without logging.
fn enter_fault() {
    use core::sync::atomic::Ordering;
    if IN_FAULT.load(Ordering::Relaxed) {
        exit(crate::exit_code::FAULT)
    }
    IN_FAULT.store(true, Ordering::Relaxed);
}

/// The body of every Cortex-M fault handler (see [`firmware!`](crate::firmware)): `kind`
/// names the exception and `frame` is the address of the exception frame the core pushed
/// (the trapping stack pointer). It reads the frame only when it lies inside the stack:
///
/// * `FAULT stack overflow: <kind> with sp=<sp>, stack <bottom>..<top> (...)` when the frame
///   lies below the stack's bottom or could not be pushed (CFSR's STKERR or MSTKERR);
/// * `FAULT <kind> at pc=<pc> lr=<lr>` otherwise;
///
/// then runs the example's [`on_fault`](crate::Example::on_fault) check and exits with
/// [`exit_code::FAULT`](crate::exit_code::FAULT).
#[cfg(target_arch = "arm")]
pub fn fault(kind: &str, frame: usize, example: &crate::Example) -> ! {
    enter_fault();
    let (bottom, top) = crate::guard::stack_bounds();
    #[cfg(not(armv6m))]
    let [cfsr, hfsr, mmfar, bfar] = crate::guard::fault_status();
    #[cfg(armv6m)]
    let (cfsr, hfsr, mmfar, bfar) = (0u32, 0u32, 0u32, 0u32);
    // MSTKERR | STKERR: the exception frame could not be pushed.
    let stacking = cfsr & ((1 << 4) | (1 << 12)) != 0;
    if stacking || crate::guard::is_overflow(frame, 32) {
        defmt::println!(
            "FAULT stack overflow: {=str} with sp={=usize:#010x}, stack {=usize:#010x}..{=usize:#010x} (cfsr={=u32:#010x} hfsr={=u32:#010x} mmfar={=u32:#010x} bfar={=u32:#010x})",
            kind,
            frame,
            bottom,
            top,
            cfsr,
            hfsr,
            mmfar,
            bfar
        );
    } else {
        // SAFETY: the core pushed an exception frame at `frame`, which lies inside the stack
        // (checked above), word-aligned by the architecture.
        let f = unsafe { &*(frame as *const cortex_m_rt::ExceptionFrame) };
        defmt::println!(
            "FAULT {=str} at pc={=u32:#010x} lr={=u32:#010x}",
            kind,
            f.pc(),
            f.lr()
        );
    }
    fault_exit(example)
}

/// The RISC-V trap handler (called by the trap entry in [`guard`](crate::guard) on the trap
/// stack, with the trapping `sp` and `ra`; see [`firmware!`](crate::firmware)). Logs
///
/// * `FAULT stack overflow: mcause=<c> mtval=<addr> at pc=<pc> with sp=<sp>, stack
///   <bottom>..<top>` when `sp` is outside the stack (it ran into the PMP guard);
/// * `FAULT exception mcause=<c> at pc=<pc> ra=<ra>` otherwise;
///
/// then runs the example's [`on_fault`](crate::Example::on_fault) check and exits with
/// [`exit_code::FAULT`](crate::exit_code::FAULT).
#[cfg(target_arch = "riscv32")]
pub fn trap(sp: usize, ra: usize, example: &crate::Example) -> ! {
    enter_fault();
    let cause = riscv::register::mcause::read().bits();
    let pc = riscv::register::mepc::read();
    let tval = riscv::register::mtval::read();
    let (bottom, top) = crate::guard::stack_bounds();
    if crate::guard::is_overflow(sp, 0) {
        defmt::println!(
            "FAULT stack overflow: mcause={=usize} mtval={=usize:#010x} at pc={=usize:#010x} with sp={=usize:#010x}, stack {=usize:#010x}..{=usize:#010x}",
            cause,
            tval,
            pc,
            sp,
            bottom,
            top
        );
    } else {
        defmt::println!(
            "FAULT exception mcause={=usize} at pc={=usize:#010x} ra={=usize:#010x}",
            cause,
            pc,
            ra
        );
    }
    fault_exit(example)
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

/// The stack pointer of the interrupted Thread-mode code, from inside a handler: PSP on the
/// Cortex-M3/M4F (where [`guard::init`](crate::guard::init) moved the application to it),
/// MSP on the Cortex-M0.
#[cfg(target_arch = "arm")]
pub fn thread_sp() -> usize {
    #[cfg(not(armv6m))]
    let sp = cortex_m::register::psp::read();
    #[cfg(armv6m)]
    let sp = cortex_m::register::msp::read();
    sp as usize
}
