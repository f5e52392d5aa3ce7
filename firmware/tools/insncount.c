/*
 * insncount: a QEMU TCG plugin (plugin API v1, QEMU 7.x and later) that counts the guest
 * instructions executed between two marker addresses.
 *
 *   qemu-system-arm ... -d plugin -D plugin.log \
 *     -plugin ./libinsncount.so,start=0x<bench_start>,stop=0x<bench_stop>
 *
 * Every time the instruction at `stop` executes, it prints `insns: N` (through qemu_plugin_outs,
 * hence `-d plugin`), N being the instructions executed since the instruction at `start` last
 * executed. Addresses may carry the Thumb bit; it is cleared. Counts are exact and repeatable
 * (instructions, not cycles), with or without -icount.
 *
 * Debian's QEMU supports -plugin but ships no qemu-plugin.h, so the few API functions used
 * are declared here.
 *
 * Build: gcc -shared -fPIC -O2 -o libinsncount.so insncount.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
                                           void (*cb)(qemu_plugin_id_t, struct qemu_plugin_tb *));
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, int op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            void (*cb)(unsigned int vcpu_index, void *userdata),
                                            int flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum { QEMU_PLUGIN_CB_NO_REGS = 0, QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

static uint64_t total;      /* instructions executed so far (single vCPU) */
static uint64_t snapshot;   /* `total` when `start` last executed */
static uint64_t start = 1;  /* odd: never matches an instruction until set */
static uint64_t stop = 1;

static void on_marker(unsigned int vcpu, void *is_stop)
{
    char line[48];
    (void)vcpu;
    if (!is_stop) {
        snapshot = total;
        return;
    }
    snprintf(line, sizeof line, "insns: %llu\n", (unsigned long long)(total - snapshot));
    qemu_plugin_outs(line);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The callback runs before the inline add, so the marker instruction itself is not
           part of the count that it starts or stops. */
        if (pc == start || pc == stop) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)(pc == stop));
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const void *info, int argc,
                                                               char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "start=", 6)) {
            start = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        } else if (!strncmp(argv[i], "stop=", 5)) {
            stop = strtoull(argv[i] + 5, NULL, 0) & ~1ull;
        } else {
            fprintf(stderr, "insncount: unknown argument '%s' (use start=ADDR,stop=ADDR)\n",
                    argv[i]);
            return -1;
        }
    }
    if (start == 1 || stop == 1) {
        fprintf(stderr, "insncount: both start= and stop= are required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
