/* Uses every macro, type and enumerator that include/embedgrad.h defines, so that a name the
 * header defines but C cannot use (one that refers to something undeclared, a type that is
 * incomplete where it must not be, an enumerator a call refuses) fails this file's build or
 * its checks. Built as C99 and as C++11 (-Wall -Wextra -Werror -pedantic) and run on the host
 * and in QEMU by ffi/ci.sh, which also fails when the header gains a name this file does not
 * mention. */
#include "check.h"

#ifndef EMBEDGRAD_H
#error "embedgrad.h defines EMBEDGRAD_H"
#endif

/* The size macros are constant expressions: usable in array bounds at file scope. */
typedef char eg_check_graph_bytes[(EG_GRAPH_BYTES > EG_GRAPH_FIXED_BYTES) ? 1 : -1];
typedef char eg_check_node_bytes[(EG_NODE_BYTES > 0 && EG_SCALAR_BYTES == sizeof(float)) ? 1 : -1];
typedef char eg_check_align[(EG_GRAPH_ALIGN > 0 && (EG_GRAPH_ALIGN & (EG_GRAPH_ALIGN - 1)) == 0) ? 1 : -1];
typedef char eg_check_defaults[(EG_DEFAULT_NODES > 0 && EG_DEFAULT_SCALARS > 0) ? 1 : -1];
typedef char eg_check_capacity[(EG_NODES > 0 && EG_SCALARS > 0) ? 1 : -1];
typedef char eg_check_storage[(sizeof(eg_graph_storage) >= EG_GRAPH_BYTES) ? 1 : -1];
typedef char eg_check_weights[(EG_WEIGHTS_MAX_TENSORS > 0 && EG_WEIGHTS_MAX_NAME >= 32 &&
                               EG_WEIGHTS_NAME_BYTES > 32 && EG_WEIGHTS_MAX_RANK == 4) ? 1 : -1];
typedef char eg_check_flash[(EG_FLASH_WRITE_SIZE == 32) ? 1 : -1];

static eg_graph_storage mem;

/* An enumerator and its spelling. */
struct named {
    uint32_t value;
    const char *name;
};
#define NAMED(e) {(uint32_t)(e), #e}

/* Every status: eg_status_str gives each its own name, and the values are distinct. */
static void statuses(void)
{
    static const struct named all[] = {
        NAMED(EG_STATUS_OK),
        NAMED(EG_STATUS_NULL_POINTER),
        NAMED(EG_STATUS_MISALIGNED),
        NAMED(EG_STATUS_BUFFER_TOO_SMALL),
        NAMED(EG_STATUS_NOT_INITIALISED),
        NAMED(EG_STATUS_INVALID_ARGUMENT),
        NAMED(EG_STATUS_OVERLAP),
        NAMED(EG_STATUS_MOVED),
        NAMED(EG_STATUS_NODE_CAPACITY),
        NAMED(EG_STATUS_SCALAR_CAPACITY),
        NAMED(EG_STATUS_INVALID_SHAPE),
        NAMED(EG_STATUS_SHAPE_MISMATCH),
        NAMED(EG_STATUS_LENGTH_MISMATCH),
        NAMED(EG_STATUS_UNKNOWN_NODE),
        NAMED(EG_STATUS_FOREIGN_NODE),
        NAMED(EG_STATUS_WRONG_KIND),
        NAMED(EG_STATUS_MISSING_FEED),
        NAMED(EG_STATUS_NOT_SCALAR),
        NAMED(EG_STATUS_NO_GRADIENT),
        NAMED(EG_STATUS_NON_FINITE),
        NAMED(EG_STATUS_ARITY),
        NAMED(EG_STATUS_STORAGE),
        NAMED(EG_STATUS_CORRUPT),
        NAMED(EG_STATUS_SOURCE),
        NAMED(EG_STATUS_OTHER_FORMAT),
        NAMED(EG_STATUS_OTHER_MODEL),
        NAMED(EG_STATUS_OTHER_OPTIMIZER),
        NAMED(EG_STATUS_PARTLY_RESTORED),
        NAMED(EG_STATUS_BAD_WEIGHTS),
        NAMED(EG_STATUS_OTHER),
    };
    size_t i, j, n = sizeof all / sizeof all[0];
    eg_status ok = EG_STATUS_OK;
    CHECK(ok == 0);
    for (i = 0; i < n; i++) {
        CHECK(strcmp(eg_status_str((int32_t)all[i].value), all[i].name) == 0);
        for (j = 0; j < i; j++) CHECK(all[i].value != all[j].value);
    }
    CHECK(strcmp(eg_status_str(-1), "EG_STATUS_UNKNOWN") == 0);
}

/* The sizes and capacities the macros promise, against the library's. */
static void sizes(void)
{
    size_t nodes = 0, scalars = 0;
    CHECK(eg_version() != NULL);
    CHECK(eg_graph_size() <= EG_GRAPH_BYTES);
    CHECK(eg_graph_size() <= sizeof(eg_graph_storage));
    CHECK(EG_GRAPH_ALIGN % eg_graph_align() == 0);
    CHECK(((uintptr_t)&mem) % EG_GRAPH_ALIGN == 0);
    CHECK(EG_GRAPH_BYTES ==
          EG_GRAPH_FIXED_BYTES + (size_t)EG_NODES * EG_NODE_BYTES + (size_t)EG_SCALARS * EG_SCALAR_BYTES);
    OK(eg_capacity(&nodes, &scalars));
    CHECK(nodes == EG_NODES);
    CHECK(scalars == EG_SCALARS);
#if EG_NODES == EG_DEFAULT_NODES && EG_SCALARS == EG_DEFAULT_SCALARS
    CHECK(nodes == EG_DEFAULT_NODES && scalars == EG_DEFAULT_SCALARS);
#endif
}

/* An op, how it is called, and its inputs (indices into the graph's leaves). */
struct op_case {
    eg_op op;
    const char *name;
    int has_param;
    size_t n_inputs;
    size_t in0, in1;
};
#define OP1(e) {e, #e, 0, 1, 0, 0}
#define OP2(e, a, b) {e, #e, 0, 2, a, b}

/* Leaves: 0 = x (2x2 placeholder), 1 = w (2x2 variable), 2 = c (2x2 constant, probabilities),
 * 3 = labels (2x1 constant, class indices). Every op is pushed through eg_push_op or
 * eg_push_op_param and evaluated; every kind and axis and every optimizer kind is used. */
static void ops_kinds_axes_optimizers(void)
{
    static const struct op_case all[] = {
        OP1(EG_OP_NEGATIVE),
        OP1(EG_OP_LOG),
        OP1(EG_OP_SIGMOID),
        OP2(EG_OP_MULTIPLY, 0, 1),
        OP2(EG_OP_MATMUL, 0, 1),
        OP2(EG_OP_ADD, 0, 1),
        OP1(EG_OP_REDUCE_SUM),
        OP1(EG_OP_REDUCE_SUM_ROWS),
        OP1(EG_OP_REDUCE_SUM_COLS),
        OP1(EG_OP_SOFTMAX),
        OP2(EG_OP_SUBTRACT, 0, 1),
        OP1(EG_OP_EXP),
        OP1(EG_OP_SQUARE),
        {EG_OP_SCALE, "EG_OP_SCALE", 1, 1, 0, 0},
        OP1(EG_OP_MEAN),
        OP1(EG_OP_MEAN_ROWS),
        OP1(EG_OP_MEAN_COLS),
        OP1(EG_OP_RELU),
        {EG_OP_LEAKY_RELU, "EG_OP_LEAKY_RELU", 1, 1, 0, 0},
        OP1(EG_OP_TANH),
        OP2(EG_OP_SOFTMAX_CROSS_ENTROPY, 1, 2),
        OP2(EG_OP_SPARSE_SOFTMAX_CROSS_ENTROPY, 1, 3),
        OP2(EG_OP_SIGMOID_BINARY_CROSS_ENTROPY, 1, 2),
        OP2(EG_OP_MSE, 1, 2),
    };
    static const struct named axes[] = {NAMED(EG_AXIS_ALL), NAMED(EG_AXIS_ROWS), NAMED(EG_AXIS_COLS)};
    static const struct named opt_kinds[] = {
        NAMED(EG_OPTIMIZER_KIND_SGD),
        NAMED(EG_OPTIMIZER_KIND_MOMENTUM),
        NAMED(EG_OPTIMIZER_KIND_NESTEROV),
        NAMED(EG_OPTIMIZER_KIND_ADAM),
    };
    static const float x_data[4] = {0.5f, 1.0f, 1.5f, 2.0f};
    static const float w_data[4] = {0.1f, -0.2f, 0.3f, 0.4f};
    static const float c_data[4] = {0.25f, 0.75f, 1.0f, 0.0f};
    static const float label_data[2] = {1.0f, 0.0f};
    eg_graph *g = NULL;
    eg_node leaves[4], out = 0, inputs[2];
    eg_kind kind = EG_KIND_OP;
    eg_axis axis = EG_AXIS_ALL;
    size_t i, j, rows = 0, cols = 0;
    float value[4];

    OK(eg_graph_init(&mem, sizeof mem, &g));
    OK(eg_placeholder(g, 2, 2, &leaves[0]));
    OK(eg_variable(g, 2, 2, w_data, 4, &leaves[1]));
    OK(eg_constant(g, 2, 2, c_data, 4, &leaves[2]));
    OK(eg_constant(g, 2, 1, label_data, 2, &leaves[3]));
    OK(eg_feed(g, leaves[0], x_data, 4));
    {
        static const struct {
            size_t leaf;
            eg_kind kind;
        } kinds[] = {{0, EG_KIND_PLACEHOLDER}, {1, EG_KIND_VARIABLE}, {2, EG_KIND_CONSTANT}};
        for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            uint32_t k = 0;
            OK(eg_node_kind(g, leaves[kinds[i].leaf], &k));
            CHECK(k == (uint32_t)kinds[i].kind);
        }
    }
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        uint32_t k = 0;
        inputs[0] = leaves[all[i].in0];
        inputs[1] = leaves[all[i].in1];
        if (all[i].has_param) {
            EXPECT(eg_push_op_param(g, all[i].op, 0.5f, inputs, all[i].n_inputs, &out), EG_STATUS_OK);
        } else {
            EXPECT(eg_push_op(g, all[i].op, inputs, all[i].n_inputs, &out), EG_STATUS_OK);
        }
        OK(eg_run(g, out));
        OK(eg_shape(g, out, &rows, &cols));
        CHECK(rows * cols <= 4);
        OK(eg_value(g, out, value, 4));
        OK(eg_node_kind(g, out, &k));
        CHECK(k == (uint32_t)kind);
        CHECK(all[i].op != 0);
        for (j = 0; j < i; j++) CHECK(all[i].op != all[j].op);
        if (check_failed) printf("  (while checking %s)\n", all[i].name);
    }
    for (i = 0; i < sizeof axes / sizeof axes[0]; i++) {
        OK(eg_reduce_sum(g, leaves[0], axes[i].value, &out));
        OK(eg_mean(g, leaves[0], axes[i].value, &out));
        OK(eg_run(g, out));
    }
    OK(eg_reduce_sum(g, leaves[0], (uint32_t)axis, &out));
    for (i = 0; i < sizeof opt_kinds / sizeof opt_kinds[0]; i++) {
        size_t len = 99, want = 4; /* momentum and Nesterov: one velocity per parameter */
        eg_optimizer_kind k = EG_OPTIMIZER_KIND_SGD;
        if (opt_kinds[i].value == (uint32_t)k) want = 0;
        if (opt_kinds[i].value == (uint32_t)EG_OPTIMIZER_KIND_ADAM) want = 8;
        OK(eg_optimizer_state_len(opt_kinds[i].value, 4, &len));
        CHECK(len == want);
    }
}

/* The time-series ops, each through eg_push_op_config with every field of eg_op_config named
 * (positional initialisers: C99 and C++11 alike), and the paddings. Leaves: x (2x8, two
 * windows of 4 steps of 2 channels), a conv1d weight (4x2: kernel 2) and bias (1x2), a
 * depthwise weight (2x2) and bias, a GRU weight (3x3: 2 inputs + 1 unit, 3 gates) and bias
 * (2x3). */
static void time_series_ops(void)
{
    struct cfg_case {
        eg_op op;
        const char *name;
        eg_op_config cfg; /* channels window stride dilation padding rows cols start len */
        size_t n_inputs, in1, in2, rows, cols;
    };
    static const struct cfg_case all[] = {
        {EG_OP_CONV1D, "EG_OP_CONV1D", {2, 0, 1, 1, EG_PADDING_VALID, 0, 0, 0, 0}, 3, 1, 2, 2, 6},
        {EG_OP_DEPTHWISE_CONV1D, "EG_OP_DEPTHWISE_CONV1D", {0, 0, 1, 1, EG_PADDING_SAME, 0, 0, 0, 0}, 3, 3, 4, 2, 8},
        {EG_OP_MAX_POOL1D, "EG_OP_MAX_POOL1D", {2, 2, 2, 0, 0, 0, 0, 0, 0}, 1, 0, 0, 2, 4},
        {EG_OP_AVG_POOL1D, "EG_OP_AVG_POOL1D", {2, 2, 1, 0, 0, 0, 0, 0, 0}, 1, 0, 0, 2, 6},
        {EG_OP_GLOBAL_AVG_POOL1D, "EG_OP_GLOBAL_AVG_POOL1D", {2, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 0, 0, 2, 2},
        {EG_OP_RESHAPE, "EG_OP_RESHAPE", {0, 0, 0, 0, 0, 4, 4, 0, 0}, 1, 0, 0, 4, 4},
        {EG_OP_SLICE_COLS, "EG_OP_SLICE_COLS", {0, 0, 0, 0, 0, 0, 0, 2, 4}, 1, 0, 0, 2, 4},
        {EG_OP_GRU, "EG_OP_GRU", {0, 0, 0, 0, 0, 0, 0, 0, 0}, 3, 5, 6, 2, 4},
    };
    static const float x_data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1};
    static const float w_data[9] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f, 0.9f};
    eg_graph *g = NULL;
    eg_node leaves[7], out = 0, inputs[3];
    eg_padding padding = EG_PADDING_SAME;
    size_t i, rows = 0, cols = 0;
    float value[16];

    OK(eg_graph_init(&mem, sizeof mem, &g));
    OK(eg_placeholder(g, 2, 8, &leaves[0]));
    OK(eg_variable(g, 4, 2, w_data, 8, &leaves[1]));
    OK(eg_variable(g, 1, 2, w_data, 2, &leaves[2]));
    OK(eg_variable(g, 2, 2, w_data, 4, &leaves[3]));
    OK(eg_variable(g, 1, 2, w_data, 2, &leaves[4]));
    OK(eg_variable(g, 3, 3, w_data, 9, &leaves[5]));
    OK(eg_variable(g, 2, 3, w_data, 6, &leaves[6]));
    OK(eg_feed(g, leaves[0], x_data, 16));
    for (i = 0; i < sizeof all / sizeof all[0]; i++) {
        inputs[0] = leaves[0];
        inputs[1] = leaves[all[i].in1];
        inputs[2] = leaves[all[i].in2];
        OK(eg_push_op_config(g, all[i].op, &all[i].cfg, inputs, all[i].n_inputs, &out));
        OK(eg_run(g, out));
        OK(eg_shape(g, out, &rows, &cols));
        CHECK(rows == all[i].rows && cols == all[i].cols);
        OK(eg_value(g, out, value, rows * cols));
        if (check_failed) printf("  (while checking %s)\n", all[i].name);
    }
    OK(eg_conv1d(g, leaves[0], leaves[1], leaves[2], 2, 1, 1, (uint32_t)padding, &out));
    OK(eg_shape(g, out, &rows, &cols));
    CHECK(rows == 2 && cols == 8);
}

/* The structs: every field of the error details and of the optimizer is readable. */
static void structs(void)
{
    static const float one[1] = {1.0f};
    eg_graph *g = NULL;
    eg_node x = 0;
    eg_error_info info;
    eg_optimizer opt;
    float state[8];

    OK(eg_graph_init(&mem, sizeof mem, &g));
    OK(eg_placeholder(g, 2, 2, &x));
    EXPECT(eg_feed(g, x, one, 1), EG_STATUS_LENGTH_MISMATCH);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_LENGTH_MISMATCH);
    CHECK(info.expected == 4 && info.found == 1);
    CHECK(info.node == 0);
    CHECK(sizeof x == 8 && sizeof info.node == sizeof(eg_node)); /* 48-bit tag, 16-bit index */
    CHECK(x != 0 && (x >> 16) != 0);
    CHECK(info.expected_rows == 0 && info.expected_cols == 0);
    CHECK(info.found_rows == 0 && info.found_cols == 0);
    CHECK(info.origin == EG_ORIGIN_NONE); /* set for NON_FINITE only */
    {
        static const float nan_one[4] = {1.0f, 1.0f, 1.0f, 0.0f};
        float nan_data[4];
        eg_origin origins[] = {EG_ORIGIN_FEED, EG_ORIGIN_ASSIGN, EG_ORIGIN_PARAMETER,
                               EG_ORIGIN_LOSS, EG_ORIGIN_GRADIENT, EG_ORIGIN_UPDATE,
                               EG_ORIGIN_CHECKPOINT};
        size_t k;
        for (k = 0; k < sizeof origins / sizeof origins[0]; k++) {
            CHECK(origins[k] == (eg_origin)(k + 1));
        }
        memcpy(nan_data, nan_one, sizeof nan_data);
        nan_data[3] = nan_data[3] / nan_data[3]; /* 0/0: NaN */
        EXPECT(eg_feed(g, x, nan_data, 4), EG_STATUS_NON_FINITE);
        OK(eg_graph_last_error(g, &info));
        CHECK(info.origin == EG_ORIGIN_FEED && info.node == x);
    }

    OK(eg_adam_init(&opt, 0.01f, 0.9f, 0.999f, 1e-8f, state, 8));
    CHECK(opt.kind == (uint32_t)EG_OPTIMIZER_KIND_ADAM);
    CHECK(opt.learning_rate == 0.01f && opt.beta1 == 0.9f && opt.beta2 == 0.999f);
    CHECK(opt.epsilon == 1e-8f && opt.updates == 0 && opt.magic != 0);
    CHECK(opt.state == state && opt.state_len == 8);
    CHECK(sizeof(struct eg_error_info) == sizeof(eg_error_info));
    CHECK(sizeof(struct eg_optimizer) == sizeof(eg_optimizer));
    CHECK(sizeof(union eg_graph_storage) == sizeof(eg_graph_storage));
    CHECK(sizeof mem.bytes == EG_GRAPH_BYTES);
    CHECK(sizeof mem.align_u64 == 8 && sizeof mem.align_f64 == 8 && sizeof mem.align_ptr == sizeof(void *));
}

/* A flash of the callbacks' types that holds nothing: reads give 0xFF (erased). */
static int32_t erased_read(void *ctx, uint32_t offset, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)offset;
    memset(buf, 0xFF, len);
    return 0;
}

static int32_t refuse_write(void *ctx, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)offset;
    (void)data;
    (void)len;
    return -1;
}

static int32_t refuse_erase(void *ctx, uint32_t from, uint32_t to)
{
    (void)ctx;
    (void)from;
    (void)to;
    return -1;
}

/* Weight files and checkpoints: every layout, dtype, problem and restore outcome, the
 * parameter, error and flash structs and the callback types. */
static void models_io(void)
{
    static const struct named layouts[] = {
        NAMED(EG_LAYOUT_MATRIX), NAMED(EG_LAYOUT_TRANSPOSED), NAMED(EG_LAYOUT_VECTOR)};
    static const struct named dtypes[] = {
        NAMED(EG_DTYPE_F32), NAMED(EG_DTYPE_F64), NAMED(EG_DTYPE_F16), NAMED(EG_DTYPE_BF16)};
    static const struct named problems[] = {
        NAMED(EG_WEIGHTS_PROBLEM_NONE),
        NAMED(EG_WEIGHTS_PROBLEM_TOO_SHORT),
        NAMED(EG_WEIGHTS_PROBLEM_HEADER_PAST_END),
        NAMED(EG_WEIGHTS_PROBLEM_NOT_JSON),
        NAMED(EG_WEIGHTS_PROBLEM_TOO_MANY_TENSORS),
        NAMED(EG_WEIGHTS_PROBLEM_DUPLICATE_NAME),
        NAMED(EG_WEIGHTS_PROBLEM_UNSUPPORTED_DTYPE),
        NAMED(EG_WEIGHTS_PROBLEM_UNSUPPORTED_SHAPE),
        NAMED(EG_WEIGHTS_PROBLEM_OFFSETS_OUT_OF_RANGE),
        NAMED(EG_WEIGHTS_PROBLEM_BYTE_LENGTH),
        NAMED(EG_WEIGHTS_PROBLEM_OVERLAP),
        NAMED(EG_WEIGHTS_PROBLEM_UNCOVERED),
        NAMED(EG_WEIGHTS_PROBLEM_MISSING),
        NAMED(EG_WEIGHTS_PROBLEM_UNEXPECTED),
        NAMED(EG_WEIGHTS_PROBLEM_WRONG_SHAPE),
        NAMED(EG_WEIGHTS_PROBLEM_NON_FINITE),
        NAMED(EG_WEIGHTS_PROBLEM_BAD_NAME),
        NAMED(EG_WEIGHTS_PROBLEM_WRITE),
        NAMED(EG_WEIGHTS_PROBLEM_GRAPH),
    };
    static const struct named outcomes[] = {NAMED(EG_RESTORED_NOTHING), NAMED(EG_RESTORED_CHECKPOINT),
                                            NAMED(EG_RESTORED_CHECKPOINT_OTHER_DAMAGED)};
    static const float w[6] = {1, 2, 3, 4, 5, 6};
    static uint8_t file[512];
    eg_graph *g = NULL;
    eg_param p;
    eg_weights_error e;
    eg_weights_problem none = EG_WEIGHTS_PROBLEM_NONE;
    eg_layout layout = EG_LAYOUT_MATRIX;
    eg_dtype dtype = EG_DTYPE_F32;
    eg_restored outcome = EG_RESTORED_NOTHING;
    eg_flash_read rd = erased_read;
    eg_flash_write wr = refuse_write;
    eg_flash_erase er = refuse_erase;
    eg_flash fl;
    eg_optimizer opt;
    size_t i, j, len = 0, prev = 0;
    uint32_t restored = 99, seq = 99, trainable = 99;

    OK(eg_graph_init(&mem, sizeof mem, &g));
    OK(eg_variable(g, 2, 3, w, 6, &p.node));
    p.name = "0.weight";
    for (i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        p.layout = layouts[i].value;
        OK(eg_weights_len(g, &p, 1, (uint32_t)dtype, &len));
        CHECK(prev == 0 || len >= prev - 8); /* the header's shape differs by a few bytes */
        prev = len;
        for (j = 0; j < i; j++) CHECK(layouts[i].value != layouts[j].value);
    }
    p.layout = (uint32_t)layout;
    for (i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        OK(eg_weights_save(g, &p, 1, dtypes[i].value, file, sizeof file, &len));
        for (j = 0; j < i; j++) CHECK(dtypes[i].value != dtypes[j].value);
    }
    for (i = 0; i < sizeof problems / sizeof problems[0]; i++) {
        CHECK(problems[i].value == i); /* numbered from NONE = 0 */
        CHECK(strncmp(problems[i].name, "EG_WEIGHTS_PROBLEM_", 19) == 0);
    }
    for (i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) CHECK(outcomes[i].value == i);
    OK(eg_weights_last_error(g, &e));
    CHECK(e.status == EG_STATUS_OK && e.problem == none && e.tensor[0] == 0 && e.other[0] == 0);
    CHECK(e.expected_rank == 0 && e.expected_dims[0] == 0 && e.found_rank == 0 && e.found_dims[0] == 0);
    CHECK(e.expected == 0 && e.found == 0 && e.offset_start == 0 && e.offset_end == 0);
    CHECK(sizeof e.tensor == EG_WEIGHTS_NAME_BYTES && sizeof e.found_dims == EG_WEIGHTS_MAX_RANK * 4);
    CHECK(sizeof(struct eg_param) == sizeof(eg_param) && sizeof(struct eg_weights_error) == sizeof(eg_weights_error));

    OK(eg_is_trainable(g, p.node, &trainable));
    CHECK(trainable == 1);
    OK(eg_set_trainable(g, p.node, 0));
    OK(eg_set_trainable(g, p.node, 1));

    fl.ctx = NULL;
    fl.read = rd;
    fl.write = wr;
    fl.erase = er;
    fl.capacity = 8 * 1024;
    fl.erase_size = 1024;
    CHECK(sizeof(struct eg_flash) == sizeof(eg_flash));
    OK(eg_sgd_init(&opt, 0.1f));
    OK(eg_checkpoint_bytes_needed(g, &opt, &len));
    CHECK(len > 0 && len % EG_FLASH_WRITE_SIZE == 0);
    OK(eg_checkpoint_restore(g, &opt, &fl, 0, 1024, &restored, &seq));
    CHECK(restored == (uint32_t)outcome && seq == 0);
    OK(eg_checkpoint_restore_weights(g, &fl, 1024, 1024, &restored, &seq));
    EXPECT(eg_checkpoint_save(g, &opt, &fl, 0, 1024, &seq), EG_STATUS_STORAGE); /* erase fails */
    EXPECT(eg_checkpoint_erase(&fl, 0, 1024), EG_STATUS_STORAGE);
}

int main(void)
{
    statuses();
    sizes();
    ops_kinds_axes_optimizers();
    structs();
    models_io();
    time_series_ops();
    return check_summary("header_use");
}
