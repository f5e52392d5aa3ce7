/* The time-series ops from C: a small 1-D CNN (conv1d, relu, max pooling, depthwise conv1d,
 * average pooling, global average pooling, a dense layer, sparse softmax cross-entropy) and a
 * small GRU model (reshape, gru, last step, a column slice, mse), built through the C API. Their
 * forward values, the loss of one gradient-descent step (learning rate 0.1), every weight after
 * it and the loss after it must be what the same graphs give in Rust (series_reference.h,
 * written by `cargo run -p embedgrad-ffi --example series_reference`, which builds them with
 * embedgrad-ops' typed builders). The same kernels run on both sides, so the values agree to
 * the last bits; the check allows 1e-6 relative. Also: the generic eg_push_op_config gives the
 * typed wrappers' nodes, and wrong configurations are refused. */
#include <math.h>

#include "check.h"
#include "series_reference.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ((i*a + b) mod m - c) / d: the patterns of series_reference.rs. */
static void pattern(float *v, size_t n, size_t a, size_t b, size_t m, float c, float d)
{
    size_t i;
    for (i = 0; i < n; i++) v[i] = ((float)((i * a + b) % m) - c) / d;
}

/* The values of node n against want[0..len]. */
static void check_values(eg_graph *g, eg_node n, const float *want, size_t len, const char *what)
{
    float got[64] = {0};
    size_t i, bad = 0;
    CHECK(len <= N_OF(got));
    OK(eg_value(g, n, got, len));
    for (i = 0; i < len; i++) {
        double tol = 1e-6 * fabs((double)want[i]) + 1e-7;
        if (fabs((double)got[i] - (double)want[i]) > tol) {
            if (bad < 3) printf("  %s[%u]: %.9g, Rust %.9g\n", what, (unsigned)i, (double)got[i], (double)want[i]);
            bad++;
        }
    }
    CHECK(bad == 0);
}

static eg_graph_storage mem;

static void cnn(void)
{
    eg_graph *g = NULL;
    eg_node x, y, w1, b1, wd, bd, w2, b2, h, logits, loss, via_config;
    eg_node ins[3];
    eg_op_config cfg;
    eg_optimizer opt;
    float xs[24], w1s[18], b1s[3], wds[6], bds[3], w2s[6], b2s[2], before = 0.0f;
    static const float labels[2] = {1.0f, 0.0f};
    size_t rows = 0, cols = 0;

    pattern(xs, 24, 7, 0, 11, 5.0f, 4.0f);
    pattern(w1s, 18, 5, 3, 13, 6.0f, 8.0f);
    pattern(b1s, 3, 3, 1, 5, 2.0f, 8.0f);
    pattern(wds, 6, 7, 2, 9, 4.0f, 4.0f);
    pattern(bds, 3, 1, 0, 3, 1.0f, 8.0f);
    pattern(w2s, 6, 5, 1, 7, 3.0f, 4.0f);
    pattern(b2s, 2, 1, 1, 3, 1.0f, 8.0f);

    OK(eg_graph_init(&mem, sizeof mem, &g));
    /* Two windows of 6 steps of 2 channels, time outer. */
    OK(eg_placeholder(g, 2, 12, &x));
    OK(eg_placeholder(g, 2, 1, &y));
    OK(eg_variable(g, 6, 3, w1s, 18, &w1)); /* kernel 3 x 2 channels in, 3 out */
    OK(eg_variable(g, 1, 3, b1s, 3, &b1));
    OK(eg_variable(g, 2, 3, wds, 6, &wd)); /* kernel 2 per channel */
    OK(eg_variable(g, 1, 3, bds, 3, &bd));
    OK(eg_variable(g, 3, 2, w2s, 6, &w2));
    OK(eg_variable(g, 1, 2, b2s, 2, &b2));
    OK(eg_conv1d(g, x, w1, b1, 2, 1, 1, EG_PADDING_SAME, &h));
    OK(eg_shape(g, h, &rows, &cols));
    CHECK(rows == 2 && cols == 18);
    OK(eg_relu(g, h, &h));
    OK(eg_max_pool1d(g, h, 3, 2, 2, &h));
    OK(eg_depthwise_conv1d(g, h, wd, bd, 1, 1, EG_PADDING_SAME, &h));
    OK(eg_avg_pool1d(g, h, 3, 2, 1, &h));
    OK(eg_global_avg_pool1d(g, h, 3, &h));
    OK(eg_shape(g, h, &rows, &cols));
    CHECK(rows == 2 && cols == 3);
    OK(eg_matmul(g, h, w2, &h));
    OK(eg_add(g, h, b2, &logits));
    OK(eg_sparse_softmax_cross_entropy(g, logits, y, &loss));

    /* The generic call makes the same node as the wrapper (a node not on the loss's path). */
    memset(&cfg, 0, sizeof cfg);
    cfg.channels = 2;
    cfg.stride = 1;
    cfg.dilation = 1;
    cfg.padding = EG_PADDING_SAME;
    ins[0] = x;
    ins[1] = w1;
    ins[2] = b1;
    OK(eg_push_op_config(g, EG_OP_CONV1D, &cfg, ins, 3, &via_config));
    /* Wrong configurations: a field the op does not read, an unknown padding, no channels, a
     * configured op through eg_push_op, which has no sizes. */
    cfg.window = 2;
    EXPECT(eg_push_op_config(g, EG_OP_CONV1D, &cfg, ins, 3, &h), EG_STATUS_INVALID_ARGUMENT);
    cfg.window = 0;
    cfg.padding = 7;
    EXPECT(eg_push_op_config(g, EG_OP_CONV1D, &cfg, ins, 3, &h), EG_STATUS_INVALID_ARGUMENT);
    cfg.padding = EG_PADDING_VALID;
    cfg.channels = 0;
    EXPECT(eg_push_op_config(g, EG_OP_CONV1D, &cfg, ins, 3, &h), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_push_op(g, EG_OP_MAX_POOL1D, ins, 1, &h), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_push_op_config(g, EG_OP_CONV1D, NULL, ins, 3, &h), EG_STATUS_NULL_POINTER);

    OK(eg_feed(g, x, xs, 24));
    OK(eg_feed(g, y, labels, 2));
    OK(eg_run(g, logits));
    check_values(g, logits, CNN_LOGITS, N_OF(CNN_LOGITS), "logits");
    {
        float a[36] = {0}, b[36] = {0};
        size_t i, same = 0;
        OK(eg_run(g, via_config));
        OK(eg_value(g, via_config, a, 36));
        OK(eg_conv1d(g, x, w1, b1, 2, 1, 1, EG_PADDING_SAME, &h));
        OK(eg_run(g, h));
        OK(eg_value(g, h, b, 36));
        for (i = 0; i < 36; i++) same += a[i] == b[i];
        CHECK(same == 36);
    }
    OK(eg_sgd_init(&opt, 0.1f));
    OK(eg_minimize(&opt, g, loss, &before));
    CHECK(fabs((double)before - (double)CNN_LOSS_BEFORE[0]) <= 1e-6 * fabs((double)CNN_LOSS_BEFORE[0]));
    check_values(g, w1, CNN_W1, N_OF(CNN_W1), "w1");
    check_values(g, b1, CNN_B1, N_OF(CNN_B1), "b1");
    check_values(g, wd, CNN_WD, N_OF(CNN_WD), "wd");
    check_values(g, bd, CNN_BD, N_OF(CNN_BD), "bd");
    check_values(g, w2, CNN_W2, N_OF(CNN_W2), "w2");
    check_values(g, b2, CNN_B2, N_OF(CNN_B2), "b2");
    OK(eg_run(g, loss));
    check_values(g, loss, CNN_LOSS_AFTER, 1, "loss after the step");
    CHECK(CNN_LOSS_AFTER[0] < CNN_LOSS_BEFORE[0]);
}

static void gru(void)
{
    eg_graph *g = NULL;
    eg_node x, t, w, b, xr, hs, last, first, out, loss;
    eg_op_config cfg;
    eg_optimizer opt;
    float xs[16], ts[6], ws[45], bs[18], before = 0.0f;

    pattern(xs, 16, 7, 0, 11, 5.0f, 4.0f);
    pattern(ts, 6, 3, 0, 7, 3.0f, 4.0f);
    pattern(ws, 45, 7, 3, 17, 8.0f, 16.0f);
    pattern(bs, 18, 5, 2, 7, 3.0f, 16.0f);

    OK(eg_graph_init(&mem, sizeof mem, &g));
    OK(eg_placeholder(g, 4, 4, &x));
    OK(eg_placeholder(g, 2, 3, &t));
    OK(eg_variable(g, 5, 9, ws, 45, &w)); /* (2 inputs + 3 units) x 3 gates of 3 */
    OK(eg_variable(g, 2, 9, bs, 18, &b));
    /* The 4x4 input as two windows of 4 steps of 2 features, through the generic call. */
    memset(&cfg, 0, sizeof cfg);
    cfg.rows = 2;
    cfg.cols = 8;
    OK(eg_push_op_config(g, EG_OP_RESHAPE, &cfg, &x, 1, &xr));
    OK(eg_gru(g, xr, w, b, &hs));
    OK(eg_last_step(g, hs, 3, &last));
    OK(eg_slice_cols(g, hs, 0, 3, &first));
    OK(eg_add(g, last, first, &out));
    OK(eg_mse(g, out, t, &loss));
    /* Wrong sizes: a reshape to another count, a last step wider than the sequence. */
    EXPECT(eg_reshape(g, x, 3, 5, &first), EG_STATUS_SHAPE_MISMATCH);
    EXPECT(eg_last_step(g, hs, 13, &first), EG_STATUS_INVALID_ARGUMENT);
    {
        eg_node gen, ins[3];
        ins[0] = xr;
        ins[1] = w;
        ins[2] = b;
        memset(&cfg, 0, sizeof cfg);
        OK(eg_push_op_config(g, EG_OP_GRU, &cfg, ins, 3, &gen));
        OK(eg_push_op(g, EG_OP_GRU, ins, 3, &gen));
    }

    OK(eg_feed(g, x, xs, 16));
    OK(eg_feed(g, t, ts, 6));
    OK(eg_run(g, out));
    check_values(g, out, GRU_OUT, N_OF(GRU_OUT), "gru out");
    OK(eg_sgd_init(&opt, 0.1f));
    OK(eg_minimize(&opt, g, loss, &before));
    CHECK(fabs((double)before - (double)GRU_LOSS_BEFORE[0]) <= 1e-6 * fabs((double)GRU_LOSS_BEFORE[0]));
    check_values(g, w, GRU_W, N_OF(GRU_W), "gru w");
    check_values(g, b, GRU_B, N_OF(GRU_B), "gru b");
    OK(eg_run(g, loss));
    check_values(g, loss, GRU_LOSS_AFTER, 1, "gru loss after the step");
    CHECK(GRU_LOSS_AFTER[0] < GRU_LOSS_BEFORE[0]);
}

int main(void)
{
    cnn();
    gru();
    return check_summary("time_series");
}
