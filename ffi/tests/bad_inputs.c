/* Every bad input the C API documents, from C: NULL pointers, misaligned and overlapping
 * buffers, memory that is too small or not initialised, short output buffers, mismatched
 * lengths and shapes, a full graph, unknown and foreign handles, a graph copied to other
 * memory, wrong node kinds, missing feeds, non-scalar losses, NaN and infinite data,
 * out-of-range enum values. Each call must
 * return its documented status, write none of its outputs, and leave the graph working: the
 * test ends by computing and training on the same graph. */
#include "check.h"

#include <math.h>
#include <stddef.h>

static eg_graph_storage mem, mem2, zeroed, copy, saved;

static volatile float zero_f = 0.0f; /* NaN and infinity at run time, no constant folding */
#define NAN_F (zero_f / zero_f)
#define INF_F (1.0f / zero_f)

/* A handle with the same tag as `h` (its high 48 bits) and index `h`'s + `delta`. */
static eg_node shifted(eg_node h, unsigned delta)
{
    return (h & ~(eg_node)0xFFFFu) | ((h + delta) & 0xFFFFu);
}

/* A flash whose callbacks only count their calls (none may happen here: every call with a
 * flash below fails its checks first). */
static unsigned flash_calls;

static int32_t count_read(void *ctx, uint32_t offset, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)offset;
    memset(buf, 0xFF, len);
    flash_calls++;
    return 0;
}

static int32_t count_write(void *ctx, uint32_t offset, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)offset;
    (void)data;
    (void)len;
    flash_calls++;
    return 0;
}

static int32_t count_erase(void *ctx, uint32_t from, uint32_t to)
{
    (void)ctx;
    (void)from;
    (void)to;
    flash_calls++;
    return 0;
}

/* 64 KiB of flash in 1 KiB sectors, served by the counting callbacks. */
static eg_flash flash_of(void *ctx)
{
    eg_flash f;
    f.ctx = ctx;
    f.read = count_read;
    f.write = count_write;
    f.erase = count_erase;
    f.capacity = 64u * 1024u;
    f.erase_size = 1024u;
    return f;
}

/* Calls every function that takes a graph with `g` and otherwise valid arguments: each must
 * return `want`, and none may write its outputs. */
static void every_call(eg_graph *g, eg_status want)
{
    eg_node n = 0x00010001u, ins[2] = {0x00010001u, 0x00010002u}, out = 777;
    float data[4] = {1, 2, 3, 4}, f = -7.0f;
    size_t a = 555, b = 555;
    uint32_t k = 555;
    eg_error_info info;
    eg_weights_error werr;
    eg_optimizer opt;
    eg_param params[1];
    eg_flash fl = flash_of(NULL);
    uint8_t bytes[64] = {0};
    uint32_t seq = 555, restored = 555;
    eg_op_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.channels = 1;
    cfg.window = 2;
    cfg.stride = 2;
    OK(eg_sgd_init(&opt, 0.1f));
    memset(&info, 0x5A, sizeof info);
    memset(&werr, 0x5A, sizeof werr);
    params[0].name = "0.weight";
    params[0].node = n;
    params[0].layout = EG_LAYOUT_MATRIX;

    EXPECT(eg_graph_clear(g), want);
    EXPECT(eg_graph_usage(g, &a, &b), want);
    EXPECT(eg_parameter_count(g, &a), want);
    EXPECT(eg_graph_last_error(g, &info), want);
    EXPECT(eg_placeholder(g, 1, 1, &out), want);
    EXPECT(eg_variable(g, 2, 2, data, 4, &out), want);
    EXPECT(eg_constant(g, 2, 2, data, 4, &out), want);
    EXPECT(eg_feed(g, n, data, 4), want);
    EXPECT(eg_assign(g, n, data, 4), want);
    EXPECT(eg_run(g, n), want);
    EXPECT(eg_run_many(g, ins, 2), want);
    EXPECT(eg_backward(g, n), want);
    EXPECT(eg_backward_accumulate(g, n), want);
    EXPECT(eg_zero_grads(g), want);
    EXPECT(eg_forward_backward(g, n, &f), want);
    EXPECT(eg_value(g, n, data, 4), want);
    EXPECT(eg_grad(g, n, data, 4), want);
    EXPECT(eg_shape(g, n, &a, &b), want);
    EXPECT(eg_node_kind(g, n, &k), want);
    EXPECT(eg_push_op(g, EG_OP_ADD, ins, 2, &out), want);
    EXPECT(eg_push_op_param(g, EG_OP_SCALE, 2.0f, ins, 1, &out), want);
    EXPECT(eg_negative(g, n, &out), want);
    EXPECT(eg_log(g, n, &out), want);
    EXPECT(eg_sigmoid(g, n, &out), want);
    EXPECT(eg_softmax(g, n, &out), want);
    EXPECT(eg_multiply(g, n, n, &out), want);
    EXPECT(eg_matmul(g, n, n, &out), want);
    EXPECT(eg_add(g, n, n, &out), want);
    EXPECT(eg_reduce_sum(g, n, EG_AXIS_ALL, &out), want);
    EXPECT(eg_subtract(g, n, n, &out), want);
    EXPECT(eg_exp(g, n, &out), want);
    EXPECT(eg_square(g, n, &out), want);
    EXPECT(eg_scale(g, n, 2.0f, &out), want);
    EXPECT(eg_mean(g, n, EG_AXIS_ROWS, &out), want);
    EXPECT(eg_relu(g, n, &out), want);
    EXPECT(eg_leaky_relu(g, n, 0.01f, &out), want);
    EXPECT(eg_tanh(g, n, &out), want);
    EXPECT(eg_softmax_cross_entropy(g, n, n, &out), want);
    EXPECT(eg_sparse_softmax_cross_entropy(g, n, n, &out), want);
    EXPECT(eg_sigmoid_binary_cross_entropy(g, n, n, &out), want);
    EXPECT(eg_mse(g, n, n, &out), want);
    EXPECT(eg_push_op_config(g, EG_OP_MAX_POOL1D, &cfg, ins, 1, &out), want);
    EXPECT(eg_conv1d(g, n, n, n, 1, 1, 1, EG_PADDING_VALID, &out), want);
    EXPECT(eg_depthwise_conv1d(g, n, n, n, 1, 1, EG_PADDING_SAME, &out), want);
    EXPECT(eg_max_pool1d(g, n, 1, 2, 2, &out), want);
    EXPECT(eg_avg_pool1d(g, n, 1, 2, 2, &out), want);
    EXPECT(eg_global_avg_pool1d(g, n, 1, &out), want);
    EXPECT(eg_reshape(g, n, 1, 1, &out), want);
    EXPECT(eg_slice_cols(g, n, 0, 1, &out), want);
    EXPECT(eg_last_step(g, n, 1, &out), want);
    EXPECT(eg_gru(g, n, n, n, &out), want);
    EXPECT(eg_optimizer_step(&opt, g), want);
    EXPECT(eg_minimize(&opt, g, n, &f), want);
    EXPECT(eg_accumulate(g, n, n, n, data, 4, data, 4, &f), want);
    EXPECT(eg_step_accumulated(&opt, g, n, n, n, data, 4, data, 4, &f), want);
    EXPECT(eg_set_trainable(g, n, 0), want);
    EXPECT(eg_is_trainable(g, n, &k), want);
    EXPECT(eg_weights_len(g, params, 1, EG_DTYPE_F32, &a), want);
    EXPECT(eg_weights_save(g, params, 1, EG_DTYPE_F32, bytes, sizeof bytes, &a), want);
    EXPECT(eg_weights_last_error(g, &werr), want);
    EXPECT(eg_checkpoint_bytes_needed(g, &opt, &a), want);
    EXPECT(eg_checkpoint_save(g, &opt, &fl, 0, 1024, &seq), want);
    EXPECT(eg_checkpoint_restore(g, &opt, &fl, 0, 1024, &restored, &seq), want);
    EXPECT(eg_checkpoint_restore_weights(g, &fl, 0, 1024, &restored, &seq), want);

    CHECK(out == 777 && f == -7.0f && a == 555 && b == 555 && k == 555);
    CHECK(seq == 555 && restored == 555 && bytes[0] == 0 && flash_calls == 0);
    CHECK(((unsigned char *)&werr)[0] == 0x5A);
    CHECK(data[0] == 1 && data[3] == 4);
    CHECK(((unsigned char *)&info)[0] == 0x5A);
}

/* Where a storage lands after a char: its alignment. */
struct storage_probe {
    char c;
    eg_graph_storage s;
};

static void memory_and_init(void)
{
    eg_graph *g = NULL;
    unsigned char *bytes = (unsigned char *)&mem2;
    size_t nodes = 0, scalars = 0;

    /* the header's sizes hold for this library */
    CHECK(eg_graph_size() <= EG_GRAPH_BYTES);
    CHECK(sizeof(eg_graph_storage) >= eg_graph_size());
    CHECK(eg_graph_align() <= EG_GRAPH_ALIGN);
    CHECK(offsetof(struct storage_probe, s) % eg_graph_align() == 0);
    OK(eg_capacity(&nodes, &scalars));
    CHECK(nodes == EG_NODES && scalars == EG_SCALARS);
    EXPECT(eg_capacity(NULL, &scalars), EG_STATUS_NULL_POINTER);
    EXPECT(eg_capacity(&nodes, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_capacity(&nodes, &nodes), EG_STATUS_OVERLAP);
    CHECK(strcmp(eg_version(), "") != 0);

    /* eg_graph_init's checks; *out stays untouched on failure */
    EXPECT(eg_graph_init(NULL, sizeof mem2, &g), EG_STATUS_NULL_POINTER);
    EXPECT(eg_graph_init(&mem2, sizeof mem2, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_graph_init(bytes + 1, sizeof mem2 - 1, &g), EG_STATUS_MISALIGNED);
    EXPECT(eg_graph_init(bytes + 2, sizeof mem2 - 2, &g), EG_STATUS_MISALIGNED);
    EXPECT(eg_graph_init(&mem2, eg_graph_size() - 1, &g), EG_STATUS_BUFFER_TOO_SMALL);
    EXPECT(eg_graph_init(&mem2, 0, &g), EG_STATUS_BUFFER_TOO_SMALL);
    EXPECT(eg_graph_init(&mem2, sizeof mem2, (eg_graph **)(void *)(bytes + 64)),
           EG_STATUS_OVERLAP);
    CHECK(g == NULL);

    /* every function rejects a NULL, a misaligned and an uninitialised graph */
    every_call(NULL, EG_STATUS_NULL_POINTER);
    every_call((eg_graph *)(void *)((unsigned char *)&zeroed + 2), EG_STATUS_MISALIGNED);
    every_call((eg_graph *)(void *)&zeroed, EG_STATUS_NOT_INITIALISED);

    OK(eg_graph_init(&mem2, eg_graph_size(), &g));
    CHECK(g == (eg_graph *)(void *)&mem2);
}

/* NULL, misaligned and overlapping pointer arguments besides the graph. */
static void pointers(eg_graph *g)
{
    eg_node x, w, y, out = 777, ins[2];
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v[4] = {9, 9, 9, 9}, f = -7.0f;
    float *inside = (float *)(void *)((unsigned char *)g + 256);
    union {
        uint64_t align;
        unsigned char b[64];
    } u;
    unsigned char *raw = u.b;
    /* Misaligned pointers, passed on but never dereferenced in C. */
    float *odd_f = (float *)(void *)(raw + 1);
    size_t a = 555;
    eg_optimizer opt;

    OK(eg_graph_clear(g)); /* each part starts from an empty graph */
    OK(eg_placeholder(g, 2, 2, &x));
    OK(eg_variable(g, 2, 2, data, 4, &w));
    OK(eg_matmul(g, x, w, &y));
    ins[0] = x;
    ins[1] = w;

    EXPECT(eg_placeholder(g, 1, 1, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_placeholder(g, 1, 1, (eg_node *)(void *)(raw + 2)), EG_STATUS_MISALIGNED);
    EXPECT(eg_placeholder(g, 1, 1, (eg_node *)(void *)inside), EG_STATUS_OVERLAP);
    EXPECT(eg_variable(g, 2, 2, NULL, 4, &out), EG_STATUS_NULL_POINTER);
    EXPECT(eg_variable(g, 2, 2, data, 4, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_variable(g, 2, 2, odd_f, 4, &out), EG_STATUS_MISALIGNED);
    EXPECT(eg_variable(g, 2, 2, inside, 4, &out), EG_STATUS_OVERLAP);
    memset(&u, 0, sizeof u); /* the output handle over the data: 8-aligned, as a handle is */
    EXPECT(eg_variable(g, 1, 1, (const float *)(void *)raw, 1, (eg_node *)(void *)raw),
           EG_STATUS_OVERLAP);
    EXPECT(eg_constant(g, 2, 2, NULL, 4, &out), EG_STATUS_NULL_POINTER);
    EXPECT(eg_constant(g, 2, 2, data, 4, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_feed(g, x, NULL, 4), EG_STATUS_NULL_POINTER);
    EXPECT(eg_feed(g, x, odd_f, 4), EG_STATUS_MISALIGNED);
    EXPECT(eg_feed(g, x, inside, 4), EG_STATUS_OVERLAP);
    EXPECT(eg_assign(g, w, NULL, 4), EG_STATUS_NULL_POINTER);
    EXPECT(eg_assign(g, w, inside, 4), EG_STATUS_OVERLAP);
    EXPECT(eg_run_many(g, NULL, 2), EG_STATUS_NULL_POINTER);
    EXPECT(eg_forward_backward(g, y, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_value(g, w, NULL, 4), EG_STATUS_NULL_POINTER);
    EXPECT(eg_value(g, w, odd_f, 4), EG_STATUS_MISALIGNED);
    EXPECT(eg_value(g, w, inside, 4), EG_STATUS_OVERLAP);
    EXPECT(eg_grad(g, w, NULL, 4), EG_STATUS_NULL_POINTER);
    EXPECT(eg_shape(g, w, NULL, &a), EG_STATUS_NULL_POINTER);
    EXPECT(eg_shape(g, w, &a, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_shape(g, w, &a, &a), EG_STATUS_OVERLAP);
    EXPECT(eg_node_kind(g, w, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_graph_usage(g, NULL, &a), EG_STATUS_NULL_POINTER);
    EXPECT(eg_graph_usage(g, &a, &a), EG_STATUS_OVERLAP);
    EXPECT(eg_parameter_count(g, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_graph_last_error(g, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_push_op(g, EG_OP_MATMUL, NULL, 2, &out), EG_STATUS_NULL_POINTER);
    EXPECT(eg_push_op(g, EG_OP_MATMUL, ins, 2, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_push_op(g, EG_OP_MATMUL, ins, 2, &ins[1]), EG_STATUS_OVERLAP);
    EXPECT(eg_matmul(g, x, w, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_negative(g, x, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_reduce_sum(g, x, EG_AXIS_ALL, NULL), EG_STATUS_NULL_POINTER);
    {
        eg_op_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.channels = 2;
        cfg.window = 1;
        cfg.stride = 1;
        EXPECT(eg_push_op_config(g, EG_OP_MAX_POOL1D, NULL, ins, 1, &out), EG_STATUS_NULL_POINTER);
        EXPECT(eg_push_op_config(g, EG_OP_MAX_POOL1D, &cfg, NULL, 1, &out), EG_STATUS_NULL_POINTER);
        EXPECT(eg_push_op_config(g, EG_OP_MAX_POOL1D, &cfg, ins, 1, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_push_op_config(g, EG_OP_MAX_POOL1D, (const eg_op_config *)(void *)inside, ins, 1, &out),
               EG_STATUS_OVERLAP);
        EXPECT(eg_conv1d(g, x, w, w, 2, 1, 1, EG_PADDING_VALID, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_depthwise_conv1d(g, x, w, w, 1, 1, EG_PADDING_VALID, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_max_pool1d(g, x, 2, 1, 1, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_avg_pool1d(g, x, 2, 1, 1, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_global_avg_pool1d(g, x, 2, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_reshape(g, x, 1, 4, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_slice_cols(g, x, 0, 1, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_last_step(g, x, 1, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_gru(g, x, w, w, NULL), EG_STATUS_NULL_POINTER);
        /* Sizes out of range: zero channels, an unknown padding, a window of 0. */
        EXPECT(eg_conv1d(g, x, w, w, 0, 1, 1, EG_PADDING_VALID, &out), EG_STATUS_INVALID_ARGUMENT);
        EXPECT(eg_conv1d(g, x, w, w, 2, 1, 1, 2, &out), EG_STATUS_INVALID_ARGUMENT);
        EXPECT(eg_max_pool1d(g, x, 2, 0, 1, &out), EG_STATUS_INVALID_ARGUMENT);
    }

    /* optimizers */
    EXPECT(eg_sgd_init(NULL, 0.1f), EG_STATUS_NULL_POINTER);
    EXPECT(eg_sgd_init((eg_optimizer *)(void *)(raw + 2), 0.1f), EG_STATUS_MISALIGNED);
    EXPECT(eg_optimizer_set_learning_rate(NULL, 0.1f), EG_STATUS_NULL_POINTER);
    OK(eg_sgd_init(&opt, 0.1f));
    EXPECT(eg_optimizer_step(NULL, g), EG_STATUS_NULL_POINTER);
    EXPECT(eg_minimize(NULL, g, y, &f), EG_STATUS_NULL_POINTER);
    EXPECT(eg_minimize(&opt, g, y, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_minimize(&opt, g, y, &opt.learning_rate), EG_STATUS_OVERLAP);
    EXPECT(eg_optimizer_step((eg_optimizer *)(void *)inside, g), EG_STATUS_OVERLAP);
    EXPECT(eg_accumulate(g, x, x, y, NULL, 4, data, 4, &f), EG_STATUS_NULL_POINTER);
    EXPECT(eg_accumulate(g, x, x, y, data, 4, NULL, 4, &f), EG_STATUS_NULL_POINTER);
    EXPECT(eg_accumulate(g, x, x, y, data, 4, data, 4, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_accumulate(g, x, x, y, data, 4, data, 4, &data[2]), EG_STATUS_OVERLAP);
    EXPECT(eg_step_accumulated(NULL, g, x, x, y, data, 4, data, 4, &f), EG_STATUS_NULL_POINTER);

    /* freezing, weight files, checkpoints */
    EXPECT(eg_is_trainable(g, w, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_is_trainable(g, w, (uint32_t *)(void *)inside), EG_STATUS_OVERLAP);
    EXPECT(eg_set_trainable(g, x, 0), EG_STATUS_WRONG_KIND);
    EXPECT(eg_set_trainable(g, w, 7), EG_STATUS_INVALID_ARGUMENT);
    {
        eg_param p[1];
        eg_flash fl = flash_of(NULL), bad_fl;
        eg_weights_error werr;
        uint8_t bytes[256];
        uint32_t seq = 555, restored = 555;
        p[0].name = "w";
        p[0].node = w;
        p[0].layout = EG_LAYOUT_MATRIX;
        EXPECT(eg_weights_len(g, NULL, 1, EG_DTYPE_F32, &a), EG_STATUS_NULL_POINTER);
        EXPECT(eg_weights_len(g, p, 1, EG_DTYPE_F32, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_weights_len(g, (const eg_param *)(void *)inside, 1, EG_DTYPE_F32, &a), EG_STATUS_OVERLAP);
        EXPECT(eg_weights_len(g, p, 1, 9, &a), EG_STATUS_INVALID_ARGUMENT);
        EXPECT(eg_weights_save(g, p, 1, EG_DTYPE_F32, NULL, sizeof bytes, &a), EG_STATUS_NULL_POINTER);
        EXPECT(eg_weights_save(g, p, 1, EG_DTYPE_F32, bytes, sizeof bytes, (size_t *)(void *)bytes), EG_STATUS_OVERLAP);
        EXPECT(eg_weights_save(g, p, 1, EG_DTYPE_F32, bytes, 8, &a), EG_STATUS_BUFFER_TOO_SMALL);
        EXPECT(eg_weights_last_error(g, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_weights_last_error(g, (eg_weights_error *)(void *)((unsigned char *)g + 512)), EG_STATUS_OVERLAP);
        OK(eg_weights_last_error(g, &werr));
        CHECK(werr.status == EG_STATUS_BUFFER_TOO_SMALL && werr.problem == EG_WEIGHTS_PROBLEM_WRITE);
        EXPECT(eg_checkpoint_bytes_needed(g, NULL, &a), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_bytes_needed(g, &opt, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_save(g, &opt, NULL, 0, 1024, &seq), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_save(g, &opt, (const eg_flash *)(void *)(raw + 2), 0, 1024, &seq), EG_STATUS_MISALIGNED);
        EXPECT(eg_checkpoint_save(g, &opt, &fl, 0, 1024, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_save(g, &opt, &fl, 0, 1000, &seq), EG_STATUS_INVALID_ARGUMENT);
        EXPECT(eg_checkpoint_restore(g, &opt, &fl, 0, 1024, NULL, &seq), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_restore(g, &opt, &fl, 0, 1024, &restored, NULL), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_restore(g, NULL, &fl, 0, 1024, &restored, &seq), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_restore(g, &opt, &fl, 0, 1024, &restored, &restored), EG_STATUS_OVERLAP);
        EXPECT(eg_checkpoint_restore_weights(g, &fl, 512, 1024, &restored, &seq), EG_STATUS_INVALID_ARGUMENT);
        EXPECT(eg_checkpoint_restore_weights(g, &fl, 0, 64u * 1024u, &restored, &seq), EG_STATUS_INVALID_ARGUMENT);
        EXPECT(eg_checkpoint_erase(NULL, 0, 1024), EG_STATUS_NULL_POINTER);
        EXPECT(eg_checkpoint_erase((const eg_flash *)(void *)(raw + 2), 0, 1024), EG_STATUS_MISALIGNED);
        EXPECT(eg_checkpoint_erase(&fl, 0, 0), EG_STATUS_INVALID_ARGUMENT);
        bad_fl = fl;
        bad_fl.erase = NULL;
        EXPECT(eg_checkpoint_erase(&bad_fl, 0, 1024), EG_STATUS_NULL_POINTER);
        bad_fl = fl;
        bad_fl.read = NULL;
        EXPECT(eg_checkpoint_restore_weights(g, &bad_fl, 0, 1024, &restored, &seq), EG_STATUS_NULL_POINTER);
        bad_fl = fl;
        bad_fl.erase_size = 100;
        EXPECT(eg_checkpoint_erase(&bad_fl, 0, 1000), EG_STATUS_INVALID_ARGUMENT);
        CHECK(seq == 555 && restored == 555 && flash_calls == 0);
        OK(eg_checkpoint_erase(&fl, 0, 1024)); /* one call: [0, 2048) */
        CHECK(flash_calls == 1);
        flash_calls = 0;
    }

    CHECK(out == 777 && f == -7.0f && a == 555);
    CHECK(v[0] == 9 && data[2] == 3);
}

/* Lengths, shapes, capacity. */
static void sizes_and_shapes(eg_graph *g)
{
    eg_node x, w, b, col, y, out = 777, ins[4];
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v[6] = {9, 9, 9, 9, 9, 9};
    eg_error_info info;

    OK(eg_graph_clear(g)); /* each part starts from an empty graph */
    OK(eg_placeholder(g, 2, 3, &x));
    OK(eg_variable(g, 3, 2, data, 6, &w));
    OK(eg_variable(g, 1, 2, data, 2, &b));
    OK(eg_constant(g, 2, 1, data, 2, &col));

    /* invalid shapes */
    EXPECT(eg_placeholder(g, 0, 3, &out), EG_STATUS_INVALID_SHAPE);
    EXPECT(eg_placeholder(g, 3, 0, &out), EG_STATUS_INVALID_SHAPE);
    EXPECT(eg_placeholder(g, 1, 65536, &out), EG_STATUS_INVALID_SHAPE);
    EXPECT(eg_variable(g, 0, 0, data, 0, &out), EG_STATUS_INVALID_SHAPE);

    /* lengths */
    EXPECT(eg_variable(g, 2, 2, data, 3, &out), EG_STATUS_LENGTH_MISMATCH);
    EXPECT(eg_variable(g, 2, 2, data, 5, &out), EG_STATUS_LENGTH_MISMATCH);
    EXPECT(eg_constant(g, 1, 2, data, 1, &out), EG_STATUS_LENGTH_MISMATCH);
    EXPECT(eg_feed(g, x, data, 5), EG_STATUS_LENGTH_MISMATCH);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_LENGTH_MISMATCH && info.expected == 6 && info.found == 5);
    EXPECT(eg_feed(g, x, data, 7), EG_STATUS_LENGTH_MISMATCH);
    EXPECT(eg_assign(g, w, data, 4), EG_STATUS_LENGTH_MISMATCH);

    /* short output buffers */
    EXPECT(eg_value(g, w, v, 5), EG_STATUS_BUFFER_TOO_SMALL);
    OK(eg_graph_last_error(g, &info)); /* what the 3x2 value needs, and what was given */
    CHECK(info.status == EG_STATUS_BUFFER_TOO_SMALL && info.expected == 6 && info.found == 5);
    EXPECT(eg_value(g, w, v, 0), EG_STATUS_BUFFER_TOO_SMALL);
    EXPECT(eg_grad(g, w, v, 5), EG_STATUS_BUFFER_TOO_SMALL);
    CHECK(v[0] == 9 && v[5] == 9);

    /* shapes that do not fit */
    EXPECT(eg_matmul(g, x, x, &out), EG_STATUS_SHAPE_MISMATCH);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_multiply(g, x, w, &out), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_add(g, x, w, &out), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_add(g, x, b, &out), EG_STATUS_SHAPE_MISMATCH);   /* 1x2 row on 2x3 */
    EXPECT(eg_subtract(g, w, col, &out), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_softmax_cross_entropy(g, x, w, &out), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_sparse_softmax_cross_entropy(g, x, x, &out), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_sigmoid_binary_cross_entropy(g, x, w, &out), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_mse(g, x, w, &out), EG_STATUS_SHAPE_MISMATCH);
    /* ...and the broadcasts that do */
    OK(eg_add(g, x, col, &y));                                 /* 2x1 column on 2x3 */
    OK(eg_matmul(g, x, w, &y));
    OK(eg_add(g, y, b, &y));                                   /* 1x2 row on 2x2 */

    /* arity and op values */
    ins[0] = x;
    ins[1] = x;
    ins[2] = x;
    ins[3] = x;
    EXPECT(eg_push_op(g, EG_OP_LOG, ins, 2, &out), EG_STATUS_ARITY);
    EXPECT(eg_push_op(g, EG_OP_ADD, ins, 1, &out), EG_STATUS_ARITY);
    EXPECT(eg_push_op(g, EG_OP_ADD, ins, 4, &out), EG_STATUS_ARITY);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == 3 && info.found == 4);
    EXPECT(eg_push_op(g, 0, ins, 1, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_push_op(g, 999, ins, 1, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_push_op_param(g, EG_OP_LOG, 1.0f, ins, 1, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_push_op_param(g, EG_OP_SCALE, NAN_F, ins, 1, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_scale(g, x, INF_F, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_leaky_relu(g, x, -INF_F, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_reduce_sum(g, x, 3, &out), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_mean(g, x, 7, &out), EG_STATUS_INVALID_ARGUMENT);
    CHECK(out == 777);
    CHECK(strcmp(eg_status_str(12345), "EG_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(eg_status_str(EG_STATUS_SHAPE_MISMATCH), "EG_STATUS_SHAPE_MISMATCH") == 0);
}

/* Handles, kinds, feeds, non-scalar losses, missing gradients. */
static void handles_and_kinds(eg_graph *g, eg_graph *other)
{
    eg_node x, w, c, y, s, out = 777, foreign, stale;
    float data[4] = {1, 2, 3, 4}, f = -7.0f, v[4] = {9, 9, 9, 9};
    uint32_t kind = 0;
    eg_error_info info;
    eg_optimizer opt;

    OK(eg_graph_clear(g)); /* each part starts from an empty graph */
    OK(eg_placeholder(g, 1, 2, &x));
    OK(eg_variable(g, 2, 2, data, 4, &w));
    OK(eg_constant(g, 1, 2, data, 2, &c));
    OK(eg_matmul(g, x, w, &y));
    OK(eg_reduce_sum(g, y, EG_AXIS_ALL, &s));
    OK(eg_placeholder(other, 1, 2, &foreign));
    OK(eg_sgd_init(&opt, 0.1f));

    /* unknown: 0, tag 0 (no graph's: index 1, or s's index), and past the last node */
    EXPECT(eg_negative(g, 0, &out), EG_STATUS_UNKNOWN_NODE);
    EXPECT(eg_negative(g, 1, &out), EG_STATUS_UNKNOWN_NODE);
    EXPECT(eg_run(g, s & 0xFFFFu), EG_STATUS_UNKNOWN_NODE);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_UNKNOWN_NODE && info.node == (s & 0xFFFFu));
    EXPECT(eg_run(g, shifted(s, 1)), EG_STATUS_UNKNOWN_NODE);
    EXPECT(eg_value(g, shifted(s, 500), v, 4), EG_STATUS_UNKNOWN_NODE);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_UNKNOWN_NODE && info.node == shifted(s, 500));
    /* foreign: another graph's handle */
    EXPECT(eg_negative(g, foreign, &out), EG_STATUS_FOREIGN_NODE);
    EXPECT(eg_feed(g, foreign, data, 2), EG_STATUS_FOREIGN_NODE);
    EXPECT(eg_shape(g, foreign, &info.expected, &info.found), EG_STATUS_FOREIGN_NODE);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.node == foreign);
    /* ...and a handle from before eg_graph_clear */
    OK(eg_placeholder(other, 1, 1, &stale));
    OK(eg_graph_clear(other));
    EXPECT(eg_run(other, stale), EG_STATUS_FOREIGN_NODE);

    /* kinds */
    OK(eg_node_kind(g, x, &kind));
    CHECK(kind == EG_KIND_PLACEHOLDER);
    OK(eg_node_kind(g, w, &kind));
    CHECK(kind == EG_KIND_VARIABLE);
    OK(eg_node_kind(g, c, &kind));
    CHECK(kind == EG_KIND_CONSTANT);
    OK(eg_node_kind(g, y, &kind));
    CHECK(kind == EG_KIND_OP);
    EXPECT(eg_feed(g, w, data, 4), EG_STATUS_WRONG_KIND);
    EXPECT(eg_feed(g, c, data, 2), EG_STATUS_WRONG_KIND);
    EXPECT(eg_feed(g, y, data, 2), EG_STATUS_WRONG_KIND);
    EXPECT(eg_assign(g, x, data, 2), EG_STATUS_WRONG_KIND);
    EXPECT(eg_assign(g, y, data, 2), EG_STATUS_WRONG_KIND);

    /* missing feed, then non-scalar losses, then gradients that do not exist */
    EXPECT(eg_run(g, y), EG_STATUS_MISSING_FEED);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.node == x);
    EXPECT(eg_forward_backward(g, s, &f), EG_STATUS_MISSING_FEED);
    EXPECT(eg_minimize(&opt, g, s, &f), EG_STATUS_MISSING_FEED);
    OK(eg_feed(g, x, data, 2));
    EXPECT(eg_backward(g, y), EG_STATUS_NOT_SCALAR);
    EXPECT(eg_backward_accumulate(g, y), EG_STATUS_NOT_SCALAR);
    EXPECT(eg_forward_backward(g, y, &f), EG_STATUS_NOT_SCALAR);
    EXPECT(eg_minimize(&opt, g, y, &f), EG_STATUS_NOT_SCALAR);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.found_rows == 1 && info.found_cols == 2);
    EXPECT(eg_accumulate(g, x, x, y, data, 2, data, 2, &f), EG_STATUS_NOT_SCALAR);
    OK(eg_forward_backward(g, s, &f));
    CHECK(f == (1 + 2 * 3) + (2 + 2 * 4)); /* [1 2] [1 2; 3 4] = [7 10] */
    EXPECT(eg_grad(g, x, v, 4), EG_STATUS_NO_GRADIENT);
    EXPECT(eg_grad(g, c, v, 4), EG_STATUS_NO_GRADIENT);
    CHECK(v[0] == 9);
    OK(eg_grad(g, w, v, 4));
    CHECK(v[0] == 1 && v[1] == 1 && v[2] == 2 && v[3] == 2); /* x^T [1 1] */
    CHECK(out == 777);
}

/* A graph's bytes copied to other memory carry its tag, so its handles would work there: every
 * call through the copy is MOVED (and writes nothing) until eg_graph_init, which makes it a
 * graph of its own. Copied back to where it was initialised, the bytes are the graph again. */
static void copied_graph(eg_graph *g)
{
    eg_node x, y, out = 777;
    eg_graph *c = (eg_graph *)(void *)&copy, *again = NULL;
    float data[2] = {1, -2}, v[2] = {9, 9};
    size_t rows = 555, cols = 555;
    eg_error_info info;

    OK(eg_graph_clear(g));
    OK(eg_placeholder(g, 1, 2, &x));
    OK(eg_negative(g, x, &y));
    memcpy(&copy, &mem, sizeof mem);
    memcpy(&saved, &mem, sizeof mem);
    EXPECT(eg_feed(c, x, data, 2), EG_STATUS_MOVED);
    EXPECT(eg_run(c, y), EG_STATUS_MOVED);
    EXPECT(eg_value(c, y, v, 2), EG_STATUS_MOVED);
    EXPECT(eg_shape(c, x, &rows, &cols), EG_STATUS_MOVED);
    EXPECT(eg_negative(c, y, &out), EG_STATUS_MOVED);
    CHECK(out == 777 && v[0] == 9 && rows == 555 && cols == 555);
    CHECK(memcmp(&copy, &saved, sizeof copy) == 0); /* nothing was written to the copy */
    every_call(c, EG_STATUS_MOVED);
    CHECK(memcmp(&copy, &saved, sizeof copy) == 0);
    /* the original is untouched and works */
    OK(eg_feed(g, x, data, 2));
    OK(eg_run(g, y));
    OK(eg_value(g, y, v, 2));
    CHECK(v[0] == -1 && v[1] == 2);
    /* initialised, the copy is a graph of its own: the original's handles are foreign there */
    OK(eg_graph_init(&copy, sizeof copy, &again));
    CHECK(again == c);
    EXPECT(eg_run(c, y), EG_STATUS_FOREIGN_NODE);
    OK(eg_graph_last_error(c, &info));
    CHECK(info.status == EG_STATUS_FOREIGN_NODE && info.node == y);
    OK(eg_placeholder(c, 1, 1, &out));
    CHECK(out >> 16 != x >> 16); /* a fresh tag */
    /* saved and restored at its own address, the graph is as it was */
    OK(eg_graph_clear(g));
    EXPECT(eg_run(g, y), EG_STATUS_FOREIGN_NODE);
    memcpy(&mem, &saved, sizeof mem);
    EXPECT(eg_run((eg_graph *)(void *)&saved, y), EG_STATUS_MOVED);
    OK(eg_shape(g, x, &rows, &cols));
    CHECK(rows == 1 && cols == 2);
    EXPECT(eg_run(g, y), EG_STATUS_MISSING_FEED); /* saved before x was fed */
    OK(eg_feed(g, x, data, 2));
    OK(eg_run(g, y));
}

/* The details of the last failure, a NON_FINITE: where the value was found and the node. */
static void expect_origin(eg_graph *g, eg_origin origin, eg_node node)
{
    eg_error_info info;
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_NON_FINITE);
    CHECK(info.origin == origin);
    CHECK(info.node == node);
}

/* NaN and infinity: refused on input, and training refuses to update on a non-finite loss. */
static void non_finite(eg_graph *g)
{
    eg_node x, w, y, s, lw, out = 777;
    float data[4] = {1, 2, 3, 4}, bad[4] = {1, 2, 3, 4}, f = -7.0f, v[4];
    float zero = 0.0f;
    eg_optimizer opt;

    OK(eg_graph_clear(g)); /* each part starts from an empty graph */
    OK(eg_placeholder(g, 1, 2, &x));
    OK(eg_variable(g, 2, 2, data, 4, &w));
    OK(eg_matmul(g, x, w, &y));
    OK(eg_reduce_sum(g, y, EG_AXIS_ALL, &s));
    OK(eg_feed(g, x, data, 2));

    bad[1] = NAN_F;
    EXPECT(eg_feed(g, x, bad, 2), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_FEED, x);
    EXPECT(eg_variable(g, 2, 2, bad, 4, &out), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_ASSIGN, 0); /* the new node's initial value */
    EXPECT(eg_constant(g, 2, 2, bad, 4, &out), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_ASSIGN, 0);
    EXPECT(eg_assign(g, w, bad, 4), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_ASSIGN, w);
    bad[1] = INF_F;
    EXPECT(eg_feed(g, x, bad, 2), EG_STATUS_NON_FINITE);
    EXPECT(eg_assign(g, w, bad, 4), EG_STATUS_NON_FINITE);
    bad[1] = -INF_F;
    EXPECT(eg_feed(g, x, bad, 2), EG_STATUS_NON_FINITE);
    EXPECT(eg_accumulate(g, x, x, s, bad, 2, data, 2, &f), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_FEED, x);
    CHECK(out == 777 && f == -7.0f);
    /* nothing was written: x is still [1 2], w still [1 2; 3 4] */
    OK(eg_run(g, s));
    OK(eg_value(g, s, &f, 1));
    CHECK(f == 17.0f);

    /* learning rates */
    EXPECT(eg_sgd_init(&opt, NAN_F), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_sgd_init(&opt, INF_F), EG_STATUS_INVALID_ARGUMENT);
    OK(eg_sgd_init(&opt, 0.0f)); /* a schedule may reach 0: accepted, as in Rust */
    EXPECT(eg_sgd_init(&opt, -1e-30f), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_sgd_init(&opt, -0.1f), EG_STATUS_INVALID_ARGUMENT);
    memset(&opt, 0, sizeof opt);
    EXPECT(eg_minimize(&opt, g, s, &f), EG_STATUS_NOT_INITIALISED);
    EXPECT(eg_optimizer_step(&opt, g), EG_STATUS_NOT_INITIALISED);
    EXPECT(eg_optimizer_set_learning_rate(&opt, 0.1f), EG_STATUS_NOT_INITIALISED);
    OK(eg_sgd_init(&opt, 0.1f));
    EXPECT(eg_optimizer_set_learning_rate(&opt, NAN_F), EG_STATUS_INVALID_ARGUMENT);
    opt.kind = 77; /* corrupted by the program */
    EXPECT(eg_optimizer_step(&opt, g), EG_STATUS_NOT_INITIALISED);
    OK(eg_sgd_init(&opt, 0.1f));

    /* a loss that becomes infinite: log of a variable that is 0 */
    OK(eg_variable(g, 1, 1, &zero, 1, &lw));
    OK(eg_log(g, lw, &out));
    EXPECT(eg_minimize(&opt, g, out, &f), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_LOSS, out);
    OK(eg_value(g, lw, v, 1));
    CHECK(v[0] == 0.0f); /* not updated */
    /* a step on a non-finite gradient is refused too (d log w / dw = 1/0) */
    OK(eg_run(g, out));
    OK(eg_backward(g, out));
    EXPECT(eg_optimizer_step(&opt, g), EG_STATUS_NON_FINITE);
    expect_origin(g, EG_ORIGIN_GRADIENT, lw);
    OK(eg_value(g, lw, v, 1));
    CHECK(v[0] == 0.0f);
    CHECK(f == 17.0f);
}

/* A full graph: node capacity, scalar capacity; the graph works afterwards. */
static void capacity(eg_graph *g)
{
    eg_node x, last, out = 777;
    float one = 1.0f, v = 0.0f;
    size_t nodes = 0, scalars = 0, i;
    eg_error_info info;
    eg_status st = EG_STATUS_OK;

    OK(eg_graph_clear(g));
    /* a placeholder bigger than the arena (when the arena is smaller than 65535 x 65535) */
    EXPECT(eg_placeholder(g, 65535, 65535, &out), EG_STATUS_SCALAR_CAPACITY);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == EG_SCALARS);
    OK(eg_placeholder(g, 1, 1, &x));
    last = x;
    for (i = 1; i < EG_NODES && st == EG_STATUS_OK; i++) st = eg_negative(g, last, &last);
    OK(st); /* EG_NODES nodes fit */
    EXPECT(eg_negative(g, last, &out), EG_STATUS_NODE_CAPACITY);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.status == EG_STATUS_NODE_CAPACITY && info.expected == EG_NODES);
    EXPECT(eg_placeholder(g, 1, 1, &out), EG_STATUS_NODE_CAPACITY);
    EXPECT(eg_constant(g, 1, 1, &one, 1, &out), EG_STATUS_NODE_CAPACITY);
    CHECK(out == 777);
    OK(eg_graph_usage(g, &nodes, &scalars));
    CHECK(nodes == EG_NODES && scalars == EG_NODES);
    /* the full graph still runs */
    OK(eg_feed(g, x, &one, 1));
    OK(eg_run(g, last));
    OK(eg_value(g, last, &v, 1));
    CHECK(v == ((EG_NODES - 1) % 2 == 0 ? 1.0f : -1.0f));
    OK(eg_graph_clear(g));
    OK(eg_graph_usage(g, &nodes, &scalars));
    CHECK(nodes == 0 && scalars == 0);
}

/* Momentum and Adam: their state array in caller memory, its checks, and that they train. */
static void optimizers(eg_graph *g)
{
    eg_node x, t, w, b, y, d, sq, loss;
    const float xs[4] = {0, 1, 2, 3}, ts[4] = {1, 3, 5, 7};
    const float zero = 0.0f;
    float state[8], l = -7.0f, first = 0.0f, wv = 0.0f, bv = 0.0f;
    size_t n = 555, params = 0;
    eg_optimizer opt;
    eg_status st = EG_STATUS_OK;
    int kind, i;

    OK(eg_graph_clear(g)); /* each part starts from an empty graph */
    OK(eg_placeholder(g, 4, 1, &x));
    OK(eg_placeholder(g, 4, 1, &t));
    OK(eg_variable(g, 1, 1, &zero, 1, &w));
    OK(eg_variable(g, 1, 1, &zero, 1, &b));
    OK(eg_matmul(g, x, w, &y));
    OK(eg_add(g, y, b, &y));
    OK(eg_subtract(g, y, t, &d));
    OK(eg_square(g, d, &sq));
    OK(eg_reduce_sum(g, sq, EG_AXIS_ALL, &loss));
    OK(eg_feed(g, x, xs, 4));
    OK(eg_feed(g, t, ts, 4));
    OK(eg_parameter_count(g, &params));
    CHECK(params == 2);

    /* how much state each kind needs */
    OK(eg_optimizer_state_len(EG_OPTIMIZER_KIND_SGD, params, &n));
    CHECK(n == 0);
    OK(eg_optimizer_state_len(EG_OPTIMIZER_KIND_MOMENTUM, params, &n));
    CHECK(n == 2);
    OK(eg_optimizer_state_len(EG_OPTIMIZER_KIND_NESTEROV, params, &n));
    CHECK(n == 2);
    OK(eg_optimizer_state_len(EG_OPTIMIZER_KIND_ADAM, params, &n));
    CHECK(n == 4);
    EXPECT(eg_optimizer_state_len(0, params, &n), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_optimizer_state_len(EG_OPTIMIZER_KIND_ADAM, (size_t)-1, &n), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_optimizer_state_len(EG_OPTIMIZER_KIND_ADAM, params, NULL), EG_STATUS_NULL_POINTER);
    CHECK(n == 4);

    /* bad hyper-parameters and state arrays: nothing is written */
    memset(&opt, 0, sizeof opt);
    for (i = 0; i < 8; i++) state[i] = 9.0f;
    EXPECT(eg_momentum_init(NULL, 0.1f, 0.9f, 0, state, 2), EG_STATUS_NULL_POINTER);
    EXPECT(eg_momentum_init(&opt, NAN_F, 0.9f, 0, state, 2), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_momentum_init(&opt, 0.1f, 1.0f, 0, state, 2), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_momentum_init(&opt, 0.1f, -0.5f, 0, state, 2), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_momentum_init(&opt, 0.1f, 0.9f, 2, state, 2), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_momentum_init(&opt, 0.1f, 0.9f, 0, NULL, 2), EG_STATUS_NULL_POINTER);
    EXPECT(eg_momentum_init(&opt, 0.1f, 0.9f, 0, &opt.learning_rate, 2), EG_STATUS_OVERLAP);
    EXPECT(eg_adam_init(NULL, 0.1f, 0.9f, 0.999f, 1e-8f, state, 4), EG_STATUS_NULL_POINTER);
    EXPECT(eg_adam_init(&opt, -0.1f, 0.9f, 0.999f, 1e-8f, state, 4), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_adam_init(&opt, 0.1f, 1.5f, 0.999f, 1e-8f, state, 4), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_adam_init(&opt, 0.1f, 0.9f, INF_F, 1e-8f, state, 4), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_adam_init(&opt, 0.1f, 0.9f, 0.999f, -1e-8f, state, 4), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_adam_init(&opt, 0.1f, 0.9f, 0.999f, NAN_F, state, 4), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_adam_init(&opt, 0.1f, 0.9f, 0.999f, 1e-8f, NULL, 4), EG_STATUS_NULL_POINTER);
    EXPECT(eg_optimizer_reset(NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_optimizer_reset(&opt), EG_STATUS_NOT_INITIALISED);
    CHECK(opt.magic == 0 && state[0] == 9.0f && state[7] == 9.0f);

    /* a state too small for the graph, inside the graph, or over an output */
    OK(eg_adam_init(&opt, 0.1f, 0.9f, 0.999f, 1e-8f, state, 3)); /* holds 1 scalar, not 2 */
    CHECK(state[0] == 0.0f && state[1] == 0.0f && state[2] == 9.0f); /* m[0], v[0]; the odd float is unused */
    EXPECT(eg_minimize(&opt, g, loss, &l), EG_STATUS_BUFFER_TOO_SMALL);
    OK(eg_forward_backward(g, loss, &first));
    EXPECT(eg_optimizer_step(&opt, g), EG_STATUS_BUFFER_TOO_SMALL);
    OK(eg_value(g, w, &wv, 1));
    CHECK(wv == 0.0f && l == -7.0f);
    OK(eg_momentum_init(&opt, 0.01f, 0.9f, 0, (float *)(void *)((unsigned char *)g + 512), 2));
    EXPECT(eg_optimizer_step(&opt, g), EG_STATUS_OVERLAP);
    OK(eg_momentum_init(&opt, 0.01f, 0.9f, 0, state, 2));
    EXPECT(eg_minimize(&opt, g, loss, &state[1]), EG_STATUS_OVERLAP);
    EXPECT(eg_step_accumulated(&opt, g, x, t, loss, xs, 4, state, 2, &l), EG_STATUS_OVERLAP);
    CHECK(l == -7.0f);
    opt.beta1 = 3.0f; /* corrupted by the program */
    EXPECT(eg_optimizer_step(&opt, g), EG_STATUS_INVALID_ARGUMENT);

    /* each trains y = 2x + 1 */
    for (kind = 0; kind < 3; kind++) {
        const float w0 = 0.0f;
        OK(eg_assign(g, w, &w0, 1));
        OK(eg_assign(g, b, &w0, 1));
        if (kind == 0) OK(eg_momentum_init(&opt, 0.01f, 0.9f, 0, state, 2));
        if (kind == 1) OK(eg_momentum_init(&opt, 0.01f, 0.9f, 1, state, 2));
        if (kind == 2) OK(eg_adam_init(&opt, 0.05f, 0.9f, 0.999f, 1e-8f, state, 4));
        st = EG_STATUS_OK;
        for (i = 0; i < 1500 && st == EG_STATUS_OK; i++) st = eg_minimize(&opt, g, loss, &l);
        OK(st);
        OK(eg_optimizer_set_learning_rate(&opt, 0.001f));
        OK(eg_step_accumulated(&opt, g, x, t, loss, xs, 4, ts, 4, &l));
        OK(eg_value(g, w, &wv, 1));
        OK(eg_value(g, b, &bv, 1));
        printf("%s: y = %.4f x + %.4f, loss %.2e\n",
               kind == 0 ? "momentum" : kind == 1 ? "nesterov" : "adam", (double)wv,
               (double)bv, (double)l);
        CHECK(fabsf(wv - 2.0f) < 1e-2f && fabsf(bv - 1.0f) < 1e-2f);
        OK(eg_optimizer_reset(&opt));
        CHECK(state[0] == 0.0f && state[1] == 0.0f);
    }
}

/* After all of the above, the graph computes, differentiates and trains correctly. */
static void still_works(eg_graph *g)
{
    eg_node x, t, w, b, y, d, sq, loss;
    const float xs[4] = {0, 1, 2, 3}, ts[4] = {1, 3, 5, 7}; /* t = 2x + 1 */
    float w0 = 0.0f, b0 = 0.0f, l = 0.0f, first = 0.0f, wv = 0.0f, bv = 0.0f;
    eg_optimizer opt;
    eg_status st = EG_STATUS_OK;
    int i;

    OK(eg_graph_clear(g)); /* each part starts from an empty graph */
    OK(eg_placeholder(g, 4, 1, &x));
    OK(eg_placeholder(g, 4, 1, &t));
    OK(eg_variable(g, 1, 1, &w0, 1, &w));
    OK(eg_variable(g, 1, 1, &b0, 1, &b));
    OK(eg_matmul(g, x, w, &y));
    OK(eg_add(g, y, b, &y)); /* 1x1 broadcasts */
    OK(eg_subtract(g, y, t, &d));
    OK(eg_square(g, d, &sq));
    OK(eg_reduce_sum(g, sq, EG_AXIS_ALL, &loss));
    OK(eg_feed(g, x, xs, 4));
    OK(eg_feed(g, t, ts, 4));
    OK(eg_forward_backward(g, loss, &first));
    CHECK(first == 1 + 9 + 25 + 49);
    OK(eg_sgd_init(&opt, 0.02f));
    for (i = 0; i < 2000 && st == EG_STATUS_OK; i++) st = eg_minimize(&opt, g, loss, &l);
    OK(st);
    OK(eg_run(g, loss));
    OK(eg_value(g, loss, &l, 1));
    OK(eg_value(g, w, &wv, 1));
    OK(eg_value(g, b, &bv, 1));
    printf("after the bad inputs: y = %.4f x + %.4f, loss %.2e (from %.0f)\n", (double)wv,
           (double)bv, (double)l, (double)first);
    CHECK(l < 1e-6f);
    CHECK(fabsf(wv - 2.0f) < 1e-3f && fabsf(bv - 1.0f) < 1e-3f);
}

int main(void)
{
    eg_graph *g = NULL, *other = NULL;

    memory_and_init();
    OK(eg_graph_init(&mem, sizeof mem, &g));
    OK(eg_graph_init(&mem2, sizeof mem2, &other));
    pointers(g);
    sizes_and_shapes(g);
    handles_and_kinds(g, other);
    copied_graph(g);
    non_finite(g);
    capacity(g);
    optimizers(g);
    still_works(g);
    return check_summary("bad_inputs");
}
