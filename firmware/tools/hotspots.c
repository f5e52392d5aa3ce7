/*
 * hotspots: a QEMU TCG plugin (plugin API v1, QEMU 7.x and later) that attributes the guest
 * instructions executed between two marker addresses to translation blocks, so that a script
 * can add them up per function (tools/hotspots.sh does, with the ELF's symbol table).
 *
 *   qemu-system-arm ... -d plugin -D hot.log \
 *     -plugin ./libhotspots.so,start=0x<bench_start>,stop=0x<bench_stop>
 *
 * When the instruction at `stop` first executes after the one at `start`, it prints one line
 * `<block address> <instructions>` per translation block that ran in between (through
 * qemu_plugin_outs, hence `-d plugin`), then stops counting. Addresses may carry the Thumb bit;
 * it is cleared. A block is counted whole when it starts, so a block left early (an exception)
 * is slightly over-counted; the total is within a few instructions of insncount's.
 *
 * Debian's QEMU supports -plugin but ships no qemu-plugin.h, so the few API functions used
 * are declared here.
 *
 * Build: gcc -shared -fPIC -O2 -o libhotspots.so hotspots.c
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
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb,
                                          void (*cb)(unsigned int vcpu_index, void *userdata),
                                          int flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            void (*cb)(unsigned int vcpu_index, void *userdata),
                                            int flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define QEMU_PLUGIN_CB_NO_REGS 0

/* One per translated block (a block translated twice gets two records; the script adds them). */
struct block {
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t insns;
    struct block *next;
};

static struct block *blocks;
static uint64_t start_pc = 1, stop_pc = 1;
static int counting, done;

static void on_block(unsigned int cpu, void *udata)
{
    struct block *b = udata;
    (void)cpu;
    if (counting)
        b->insns += b->n_insns;
}

static void on_marker(unsigned int cpu, void *udata)
{
    char line[64];
    (void)cpu;
    if (done)
        return;
    if (!udata) {
        counting = 1;
        return;
    }
    if (!counting)
        return;
    counting = 0;
    done = 1;
    for (struct block *b = blocks; b; b = b->next) {
        if (b->insns) {
            snprintf(line, sizeof line, "0x%llx %llu\n", (unsigned long long)b->vaddr,
                     (unsigned long long)b->insns);
            qemu_plugin_outs(line);
        }
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    struct block *b = calloc(1, sizeof *b);
    if (!b)
        return;
    b->vaddr = qemu_plugin_tb_vaddr(tb);
    b->n_insns = qemu_plugin_tb_n_insns(tb);
    b->next = blocks;
    blocks = b;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
    for (size_t i = 0; i < b->n_insns; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == start_pc || pc == stop_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   pc == stop_pc ? (void *)1 : NULL);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const void *info, int argc,
                                                               char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "start=", 6) == 0)
            start_pc = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        else if (strncmp(argv[i], "stop=", 5) == 0)
            stop_pc = strtoull(argv[i] + 5, NULL, 0) & ~1ull;
        else {
            fprintf(stderr, "hotspots: unknown argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (start_pc == 1 || stop_pc == 1) {
        fprintf(stderr, "hotspots: start=ADDR and stop=ADDR are required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
