/* Startup for the Cortex-M4F tests in QEMU (mps2-an386) with newlib's rdimon semihosting:
 * vector table, .data/.bss set-up, FPU enable, then exit(main()). A fault prints a line and
 * exits with status 3, so a crash fails the test instead of hanging QEMU.
 *
 * Compiled without -pedantic: the vector table stores object and function pointers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_top;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Fault_Handler(void);

__attribute__((section(".vectors"), used)) const void *const eg_vectors[16] = {
    &__stack_top,    /* initial stack pointer */
    Reset_Handler,   /* reset */
    Fault_Handler,   /* NMI */
    Fault_Handler,   /* HardFault */
    Fault_Handler,   /* MemManage */
    Fault_Handler,   /* BusFault */
    Fault_Handler,   /* UsageFault */
    0, 0, 0, 0,      /* reserved */
    Fault_Handler,   /* SVCall */
    Fault_Handler,   /* DebugMonitor */
    0,               /* reserved */
    Fault_Handler,   /* PendSV */
    Fault_Handler,   /* SysTick */
};

void Reset_Handler(void)
{
    uint32_t *src = &__etext;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
#ifdef __ARM_FP
    /* CPACR: full access to the coprocessors CP10 and CP11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
}

void Fault_Handler(void)
{
    printf("FAULT: exception in the test firmware\n");
    exit(3);
}

/* -nostartfiles drops crti/crtn, which define these. */
void _init(void) {}
void _fini(void) {}
