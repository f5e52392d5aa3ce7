/* A minimal training loop with embedgrad from C: fit y = w x + b to four points by gradient
 * descent on the summed squared error. The graph lives in a static buffer: no heap. */
#include <stdio.h>

#include "embedgrad.h"

/* Every call returns a status; stop at the first failure and say why. */
#define TRY(call)                                                              \
    do {                                                                       \
        eg_status st_ = (call);                                                \
        if (st_ != EG_STATUS_OK) {                                             \
            printf("%s failed: %s\n", #call, eg_status_str(st_));              \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static eg_graph_storage graph_memory;

int main(void)
{
    const float xs[4] = {0, 1, 2, 3}, ys[4] = {1, 3, 5, 7}; /* y = 2x + 1 */
    const float w0 = 0.0f, b0 = 0.0f;
    eg_graph *g;
    eg_node x, y, w, b, xw, pred, err, sq, loss;
    eg_optimizer sgd;
    float l = 0.0f, w_trained = 0.0f, b_trained = 0.0f;
    int step;

    TRY(eg_graph_init(&graph_memory, sizeof graph_memory, &g));
    TRY(eg_placeholder(g, 4, 1, &x));      /* inputs, one per row */
    TRY(eg_placeholder(g, 4, 1, &y));      /* targets */
    TRY(eg_variable(g, 1, 1, &w0, 1, &w)); /* trainable, with initial values */
    TRY(eg_variable(g, 1, 1, &b0, 1, &b));
    TRY(eg_matmul(g, x, w, &xw));
    TRY(eg_add(g, xw, b, &pred));          /* the 1x1 b broadcasts to every row */
    TRY(eg_subtract(g, pred, y, &err));
    TRY(eg_square(g, err, &sq));
    TRY(eg_reduce_sum(g, sq, EG_AXIS_ALL, &loss));

    TRY(eg_feed(g, x, xs, 4));
    TRY(eg_feed(g, y, ys, 4));
    TRY(eg_sgd_init(&sgd, 0.02f));
    for (step = 0; step < 1000; step++) {
        TRY(eg_minimize(&sgd, g, loss, &l)); /* forward, backprop, update */
        if (step % 200 == 0) printf("step %4d  loss %.6f\n", step, (double)l);
    }
    TRY(eg_value(g, w, &w_trained, 1));
    TRY(eg_value(g, b, &b_trained, 1));
    printf("trained: y = %.3f x + %.3f (loss %.2g)\n", (double)w_trained, (double)b_trained,
           (double)l);
    return l < 1e-4f ? 0 : 1;
}
