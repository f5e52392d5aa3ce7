//! Stack-overflow protection: an overflow is a reported fault, never silent corruption.
//!
//! The seed examples' graphs live on the stack, and a graph that is too big for the board
//! must not grow into the statics (the user's, the defmt encoder's). Three layers:
//!
//! 1. **Layout.** On Cortex-M the firmware links with `flip-link`, which puts the stack at the
//!    *bottom* of RAM and the statics above it: the stack can only overflow into the memory
//!    below RAM. On the Cortex-M3/M4F [`init`] makes the 16 MiB below RAM a no-access MPU
//!    region (QEMU's `mps2-an386` reads memory there as zero and ignores writes, it does not
//!    fault); on the Cortex-M0 (no MPU) the unmapped memory below RAM faults. On RISC-V (`virt`, where memory below RAM does
//!    not fault) `memory/qemu-virt-rv32.x` gives the stack a region of its own at the top of
//!    RAM and [`init`] makes everything between the statics and the stack, and everything
//!    below RAM, a locked no-access PMP region.
//! 2. **A handler that can still report.** Exception entry pushes its frame onto the stack
//!    that overflowed, which fails. On the Cortex-M3/M4F the application therefore runs on
//!    the process stack (PSP) and the handlers on a stack of their own in the statics (MSP,
//!    [`HANDLER_STACK_BYTES`]), with BusFault, MemManage and UsageFault enabled: the failed
//!    push is a derived fault that ends in HardFault on the handler's stack, which reports
//!    `FAULT stack overflow ...` and exits with code 3. On RISC-V the trap entry switches to a
//!    trap stack of its own before touching memory. The Cortex-M0 (ARMv6-M) cannot do this:
//!    a fault while pushing the HardFault frame is a lockup by the architecture (QEMU aborts
//!    with `Lockup: can't escalate 3 to HardFault`; a real nRF51 resets and records the
//!    lockup), so there the layout alone protects the statics and the build check below is
//!    what reports.
//! 3. **The build.** [`Example::stack`](crate::Example::stack) declares what the example's
//!    frames need at least (the graph and the data); `firmware!` passes it (plus
//!    [`RUN_RESERVE`]) to the linker, and `stack-check.x` fails the link when it does not fit
//!    in the stack region that the statics leave.

/// Bytes of stack for the fault handlers (Cortex-M3/M4F: MSP; RISC-V: the trap stack).
pub const HANDLER_STACK_BYTES: usize = 1024;

/// Bytes of stack that `run` and the logging around the example need, added to
/// [`Example::stack`](crate::Example::stack) for the build's check.
pub const RUN_RESERVE: usize = 1024;

/// The handlers' stack, 8-byte aligned as both architectures want. In the statics, which the
/// application's stack cannot reach (see the module docs).
#[cfg(any(target_arch = "riscv32", all(target_arch = "arm", not(armv6m))))]
#[repr(C, align(16))]
pub(crate) struct HandlerStack(pub(crate) core::cell::UnsafeCell<[u8; HANDLER_STACK_BYTES]>);

// SAFETY: only the fault handlers use it, as their stack, and they never return.
#[cfg(any(target_arch = "riscv32", all(target_arch = "arm", not(armv6m))))]
unsafe impl Sync for HandlerStack {}

#[cfg(any(target_arch = "riscv32", all(target_arch = "arm", not(armv6m))))]
#[no_mangle]
pub(crate) static EG_HANDLER_STACK: HandlerStack =
    HandlerStack(core::cell::UnsafeCell::new([0; HANDLER_STACK_BYTES]));

extern "C" {
    /// Top of the application's stack (highest address, exclusive).
    static _stack_start: u32;
    /// Bottom of the application's stack: RAM's start with flip-link (which defines it so).
    #[cfg(target_arch = "arm")]
    #[link_name = "_stack_end"]
    static STACK_BOTTOM: u32;
    #[cfg(target_arch = "riscv32")]
    #[link_name = "__estack"]
    static STACK_BOTTOM: u32;
    /// End of the statics (RISC-V: the start of the PMP guard).
    #[cfg(target_arch = "riscv32")]
    static __eheap: u32;
}

/// `(bottom, top)` of the application's stack.
pub fn stack_bounds() -> (usize, usize) {
    let bottom = core::ptr::addr_of!(STACK_BOTTOM) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    (bottom, top)
}

/// Whether a fault with the stack pointer at `sp` is a stack overflow: `sp` below the stack's
/// bottom (or within `frame` bytes of it, so that the exception frame could not be pushed).
pub fn is_overflow(sp: usize, frame: usize) -> bool {
    let (bottom, top) = stack_bounds();
    sp < bottom.saturating_add(frame) || sp > top
}

/// Sets up the guard: called first thing in [`run`](crate::run).
///
/// Cortex-M3/M4F: enables the configurable faults and moves the application to the process
/// stack, the handlers to [`EG_HANDLER_STACK`]. RISC-V: locks the PMP guard regions. The
/// Cortex-M0 needs nothing (flip-link's layout is all it gets).
#[inline(never)]
pub fn init() {
    #[cfg(all(target_arch = "arm", not(armv6m)))]
    cortex_m_v7::init();
    #[cfg(target_arch = "riscv32")]
    riscv_pmp::init();
}

#[cfg(all(target_arch = "arm", not(armv6m)))]
mod cortex_m_v7 {
    use super::{EG_HANDLER_STACK, HANDLER_STACK_BYTES};

    /// System Handler Control and State Register.
    const SHCSR: *mut u32 = 0xE000_ED24 as *mut u32;
    /// MEMFAULTENA, BUSFAULTENA, USGFAULTENA.
    const FAULTS_ENABLED: u32 = (1 << 16) | (1 << 17) | (1 << 18);

    /// MPU: TYPE, CTRL, RNR, RBAR, RASR.
    const MPU_TYPE: *const u32 = 0xE000_ED90 as *const u32;
    const MPU_CTRL: *mut u32 = 0xE000_ED94 as *mut u32;
    const MPU_RNR: *mut u32 = 0xE000_ED98 as *mut u32;
    const MPU_RBAR: *mut u32 = 0xE000_ED9C as *mut u32;
    const MPU_RASR: *mut u32 = 0xE000_EDA0 as *mut u32;
    /// The guard below RAM: 16 MiB (more than any board's RAM), ending at RAM's start.
    const GUARD_BASE: u32 = 0x1F00_0000;
    /// RASR: execute never, no access (AP = 0), SIZE = log2(16 MiB) - 1, enabled.
    const GUARD_RASR: u32 = (1 << 28) | (23 << 1) | 1;
    /// CTRL: ENABLE, PRIVDEFENA (the default memory map everywhere else).
    const MPU_ON: u32 = 1 | (1 << 2);

    pub(super) fn init() {
        // SAFETY: the MPU registers of ARMv7-M's System Control Space. Region 0 forbids every
        // access to the 16 MiB below RAM, where nothing of the program lives (some QEMU
        // machines read it as zero and ignore writes instead of faulting); the default map
        // stays in force everywhere else (PRIVDEFENA). Skipped on a core without an MPU
        // (TYPE.DREGION = 0).
        unsafe {
            if (core::ptr::read_volatile(MPU_TYPE) >> 8) & 0xFF != 0 {
                core::ptr::write_volatile(MPU_RNR, 0);
                core::ptr::write_volatile(MPU_RBAR, GUARD_BASE);
                core::ptr::write_volatile(MPU_RASR, GUARD_RASR);
                core::ptr::write_volatile(MPU_CTRL, MPU_ON);
                core::arch::asm!("dsb", "isb", options(nostack, preserves_flags));
            }
        }
        // SAFETY: SHCSR is the architectural System Handler Control and State Register of
        // every ARMv7-M core; setting the three enable bits only routes those faults to their
        // own handlers (all defined by `firmware!`) instead of HardFault.
        unsafe {
            let v = core::ptr::read_volatile(SHCSR);
            core::ptr::write_volatile(SHCSR, v | FAULTS_ENABLED);
        }
        let top = EG_HANDLER_STACK.0.get() as usize + HANDLER_STACK_BYTES;
        // SAFETY: in privileged Thread mode, copies MSP to PSP and selects PSP for Thread mode
        // (CONTROL.SPSEL): the stack pointer keeps its value, so every live frame stays where
        // it is. Then MSP, used from now on only by exception handlers, is pointed at the top
        // of the handlers' own stack, a static nothing else uses. No Rust memory is touched.
        unsafe {
            core::arch::asm!(
                "mrs {t}, msp",
                "msr psp, {t}",
                "mrs {t}, control",
                "orr {t}, {t}, #2",
                "msr control, {t}",
                "isb",
                "msr msp, {top}",
                t = out(reg) _,
                top = in(reg) top,
                options(nostack, preserves_flags),
            );
        }
    }
}

/// Configurable Fault Status, HardFault Status, MemManage and BusFault Address registers.
#[cfg(all(target_arch = "arm", not(armv6m)))]
pub(crate) fn fault_status() -> [u32; 4] {
    let reg = |a: usize| {
        // SAFETY: architectural, always-readable System Control Block registers of ARMv7-M.
        unsafe { core::ptr::read_volatile(a as *const u32) }
    };
    [
        reg(0xE000_ED28),
        reg(0xE000_ED2C),
        reg(0xE000_ED34),
        reg(0xE000_ED38),
    ]
}

#[cfg(target_arch = "riscv32")]
mod riscv_pmp {
    use super::HANDLER_STACK_BYTES;

    /// Start of RAM on `virt`: everything below is locked out.
    const RAM_START: usize = 0x8000_0000;
    /// pmpcfg: address matching TOR, locked (applies to M-mode), no permission.
    const TOR_LOCKED_NONE: usize = 0x88;

    pub(super) fn init() {
        let (bottom, _) = super::stack_bounds();
        // The guard starts at the first 4 KiB page after the statics: QEMU checks the PMP of
        // a semihosting buffer by whole pages and refuses one whose page the guard only partly
        // covers (the write is lost). The stack, above the guard, reaches the guard first.
        let guard = (core::ptr::addr_of!(super::__eheap) as usize + 0xFFF) & !0xFFF;
        if guard >= bottom {
            return;
        }
        // Entry 0: [0, RAM) no access. Entry 1: off, only the base of entry 2. Entry 2:
        // [end of the statics, bottom of the stack) no access. Everything else matches no
        // entry, which M-mode may access.
        let cfg = TOR_LOCKED_NONE | (TOR_LOCKED_NONE << 16);
        // SAFETY: writes the PMP address and configuration CSRs of M-mode. The locked regions
        // hold no code, data or stack of the program (the gap between the statics and the
        // stack region, and the devices below RAM, which the firmware does not use).
        unsafe {
            core::arch::asm!(
                "csrw pmpaddr0, {a0}",
                "csrw pmpaddr1, {a1}",
                "csrw pmpaddr2, {a2}",
                "csrw pmpcfg0, {cfg}",
                a0 = in(reg) RAM_START >> 2,
                a1 = in(reg) guard >> 2,
                a2 = in(reg) bottom >> 2,
                cfg = in(reg) cfg,
                options(nostack, preserves_flags),
            );
        }
    }

    // The trap entry (riscv-rt's `_start_trap`, which `mtvec` points at): before touching
    // memory, it moves to the trap stack, passing the trapping `sp` and `ra` to
    // `eg_trap(sp, ra)` (defined by `firmware!`), which reports and exits.
    core::arch::global_asm!(
        ".section .trap.start, \"ax\"",
        ".balign 4",
        ".global _start_trap",
        "_start_trap:",
        "mv a0, sp",
        "mv a1, ra",
        "la sp, {stack}",
        "li t0, {size}",
        "add sp, sp, t0",
        "call eg_trap",
        "1: j 1b",
        stack = sym super::EG_HANDLER_STACK,
        size = const HANDLER_STACK_BYTES,
    );
}
