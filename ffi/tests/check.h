/* A tiny test harness for the C tests of embedgrad: counts checks, prints each failure with its
 * line, and a closing "N passed, M failed" line. Runs on the host and, through newlib's
 * semihosting, in QEMU. */
#ifndef EG_CHECK_H
#define EG_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "embedgrad.h"

static unsigned check_passed;
static unsigned check_failed;

/* A condition that must hold. */
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (cond) {                                                                       \
            check_passed++;                                                               \
        } else {                                                                          \
            check_failed++;                                                               \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
        }                                                                                 \
    } while (0)

/* A call that must return the given status. */
#define EXPECT(call, want)                                                                \
    do {                                                                                  \
        eg_status st_ = (call);                                                           \
        if (st_ == (want)) {                                                              \
            check_passed++;                                                               \
        } else {                                                                          \
            check_failed++;                                                               \
            printf("FAIL %s:%d: %s\n    returned %s, expected %s\n", __FILE__, __LINE__, \
                   #call, eg_status_str(st_), eg_status_str(want));                       \
        }                                                                                 \
    } while (0)

/* A call that must succeed. */
#define OK(call) EXPECT(call, EG_STATUS_OK)

/* Prints the closing line; the process's exit status. */
static int check_summary(const char *name)
{
    printf("%s: %u passed, %u failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#if defined(__arm__) && !defined(__linux__)
/* Stack high-water mark on the bare-metal target. stack_paint(&local) fills the stack below
 * the caller's frame with a pattern; stack_used() then returns how far below the caller's
 * local the deepest overwritten word lies: the stack the calls in between needed. */
#define STACK_PAINT_BYTES (64u * 1024u)
#define STACK_PATTERN 0xA5C3E1F7u

static uintptr_t stack_base;
static uint32_t *stack_paint_top;

__attribute__((noinline, unused)) static void stack_paint(const void *caller_local)
{
    volatile uint32_t here = 0;
    uint32_t *top = (uint32_t *)((uintptr_t)&here & ~(uintptr_t)3) - 16; /* below this frame */
    uint32_t *p;
    stack_base = (uintptr_t)caller_local;
    stack_paint_top = top;
    for (p = top - STACK_PAINT_BYTES / 4; p < top; p++) *(volatile uint32_t *)p = STACK_PATTERN;
}

__attribute__((unused)) static unsigned stack_used(void)
{
    uint32_t *p = stack_paint_top - STACK_PAINT_BYTES / 4;
    while (p < stack_paint_top && *(volatile uint32_t *)p == STACK_PATTERN) p++;
    return (unsigned)(stack_base - (uintptr_t)p);
}
#endif

#endif /* EG_CHECK_H */
