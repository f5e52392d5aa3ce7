/* Models in and out, from C: safetensors weight files and checkpoints in the caller's flash.
 *
 * A 2-3-2 MLP (sigmoid hidden layer, softmax) is trained on XOR with Adam, through the C API.
 *
 *  - Weights: saved as safetensors (PyTorch's nn.Sequential names and layouts: "0.weight" is
 *    3x2, "0.bias" 3, "2.weight" 2x3, "2.bias" 2) to a buffer, loaded into a fresh graph
 *    with other initial weights: the same predictions, bit for bit (F32 and F64 files; F16
 *    and BF16 close). Every bad file — too short, truncated, header length beyond the data,
 *    not JSON, wrong dtype, wrong byte length, offsets out of range, overlapping offsets, a
 *    gap, wrong shape, missing and extra tensor, NaN and infinity — is refused with
 *    EG_STATUS_BAD_WEIGHTS, the problem and the tensor's name, and the graph is unchanged.
 *  - Freezing: eg_set_trainable / eg_is_trainable, eg_parameter_count of the trainable
 *    scalars, a frozen layer that training leaves alone.
 *  - Checkpoints: saved through read/write/erase callbacks over a RAM "flash" with 1 KiB
 *    sectors that behaves as NOR flash (erase to 0xFF, writes only clear bits, each word once;
 *    every misaligned or repeated write is counted), restored in full into a fresh graph and
 *    Adam (weights, moments and update count bit for bit; training continues identically),
 *    refused into another optimizer and restored weights-only there. A power cut at every
 *    write and every erase of a save leaves the previous checkpoint restorable (or, once the
 *    commit unit is being written, the new one). Damaged and erased stores, another model,
 *    another number of variables, frozen variables, and bad flash arguments. */
#include "check.h"

#include <math.h>
#include <stdlib.h>

#if defined(__arm__) && !defined(__linux__)
/* The library's `panic-never` handler calls this function, which the library does not
 * define, so that a firmware with a panic path does not link. The safetensors reader keeps
 * panic paths inside serde-json-core's string parser (bounds checks the compiler cannot
 * prove), so a firmware that reads weight files defines it: report and stop. ffi/ci.sh checks
 * by disassembly that nothing but serde-json-core and core's panic machinery reaches it. */
void embedgrad_ffi_error_a_panic_path_remains(void);
void embedgrad_ffi_error_a_panic_path_remains(void)
{
    printf("a panic in the library\n");
    exit(70);
}
#endif

/* ----- the model -------------------------------------------------------------------------- */

#define BATCH 4
#define SCALARS 17 /* w1 2x3, b1 1x3, w2 3x2, b2 1x2 */

struct net {
    eg_node x, y, w1, b1, w2, b2, logits, p, loss;
};

static const float xor_x[BATCH * 2] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float xor_y[BATCH * 2] = {1, 0, 0, 1, 0, 1, 1, 0};
static const float init_a[SCALARS] = {0.5f,  -0.4f, 0.3f,  -0.6f, 0.7f, 0.2f, 0.1f, -0.1f, 0.05f,
                                      0.8f,  -0.3f, -0.5f, 0.6f,  0.4f, -0.7f, 0.0f, 0.1f};
static const float init_b[SCALARS] = {-1, 1, -1, 1, -1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0};

static eg_graph_storage mem_a, mem_b, mem_c;

/* Builds the MLP with the given initial values; `act` 0 = sigmoid, 1 = tanh (another model
 * with the same variables). */
static void build(eg_graph *g, const float *init, int act, struct net *n)
{
    eg_node t, ce;
    OK(eg_graph_clear(g));
    OK(eg_placeholder(g, BATCH, 2, &n->x));
    OK(eg_placeholder(g, BATCH, 2, &n->y));
    OK(eg_variable(g, 2, 3, &init[0], 6, &n->w1));
    OK(eg_variable(g, 1, 3, &init[6], 3, &n->b1));
    OK(eg_matmul(g, n->x, n->w1, &t));
    OK(eg_add(g, t, n->b1, &t));
    if (act == 0) OK(eg_sigmoid(g, t, &t));
    else OK(eg_tanh(g, t, &t));
    OK(eg_variable(g, 3, 2, &init[9], 6, &n->w2));
    OK(eg_variable(g, 1, 2, &init[15], 2, &n->b2));
    OK(eg_matmul(g, t, n->w2, &t));
    OK(eg_add(g, t, n->b2, &n->logits));
    OK(eg_softmax(g, n->logits, &n->p));
    OK(eg_softmax_cross_entropy(g, n->logits, n->y, &ce));
    OK(eg_reduce_sum(g, ce, EG_AXIS_ALL, &n->loss));
    OK(eg_feed(g, n->x, xor_x, BATCH * 2));
    OK(eg_feed(g, n->y, xor_y, BATCH * 2));
}

/* Every variable's values, in insertion order. */
static void weights_of(eg_graph *g, const struct net *n, float *out)
{
    OK(eg_value(g, n->w1, &out[0], 6));
    OK(eg_value(g, n->b1, &out[6], 3));
    OK(eg_value(g, n->w2, &out[9], 6));
    OK(eg_value(g, n->b2, &out[15], 2));
}

static void predict(eg_graph *g, const struct net *n, float *out)
{
    OK(eg_run(g, n->p));
    OK(eg_value(g, n->p, out, BATCH * 2));
}

static void train(eg_optimizer *opt, eg_graph *g, const struct net *n, int steps)
{
    float l = 0.0f;
    eg_status st = EG_STATUS_OK;
    int i;
    for (i = 0; i < steps && st == EG_STATUS_OK; i++) st = eg_minimize(opt, g, n->loss, &l);
    OK(st);
}

/* The parameters as PyTorch's nn.Sequential(Linear(2, 3), Sigmoid(), Linear(3, 2)) names
 * them. */
static void params_of(const struct net *n, eg_param *p)
{
    p[0].name = "0.weight";
    p[0].node = n->w1;
    p[0].layout = EG_LAYOUT_TRANSPOSED;
    p[1].name = "0.bias";
    p[1].node = n->b1;
    p[1].layout = EG_LAYOUT_VECTOR;
    p[2].name = "2.weight";
    p[2].node = n->w2;
    p[2].layout = EG_LAYOUT_TRANSPOSED;
    p[3].name = "2.bias";
    p[3].node = n->b2;
    p[3].layout = EG_LAYOUT_VECTOR;
}

/* ----- weight files ----------------------------------------------------------------------- */

static uint8_t file[1024];
static uint8_t bad[1024];

/* A safetensors file from a header's JSON and `n` floats (little-endian on every target this
 * runs on). Returns its length. */
static size_t st_file(uint8_t *out, const char *json, const float *data, size_t n)
{
    size_t h = strlen(json), i;
    for (i = 0; i < 8; i++) out[i] = (uint8_t)(((uint64_t)h >> (8 * i)) & 0xFFu);
    memcpy(out + 8, json, h);
    memcpy(out + 8 + h, data, n * sizeof(float));
    return 8 + h + n * sizeof(float);
}

#define T_W0 "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}"
#define T_B0 "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]}"
#define T_W2 "\"2.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[36,60]}"
#define T_B2 "\"2.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[60,68]}"
#define GOOD "{" T_W0 "," T_B0 "," T_W2 "," T_B2 "}"

/* A file that must be refused: status, problem and tensor, and the graph unchanged. */
static void refused(eg_graph *g, const struct net *n, const uint8_t *f, size_t len,
                    uint32_t allow_extra, eg_weights_problem problem, const char *tensor,
                    int line)
{
    eg_param p[4];
    eg_weights_error e;
    float before[SCALARS], after[SCALARS];
    eg_status st;
    params_of(n, p);
    weights_of(g, n, before);
    st = eg_weights_load(g, f, len, p, 4, allow_extra);
    memset(&e, 0x5A, sizeof e);
    OK(eg_weights_last_error(g, &e));
    weights_of(g, n, after);
    CHECK(st == EG_STATUS_BAD_WEIGHTS);
    CHECK(e.status == EG_STATUS_BAD_WEIGHTS);
    CHECK(e.problem == problem);
    CHECK(strcmp(e.tensor, tensor) == 0);
    CHECK(memcmp(before, after, sizeof before) == 0);
    if (st != EG_STATUS_BAD_WEIGHTS || e.problem != problem || strcmp(e.tensor, tensor) != 0)
        printf("    (line %d: %s, problem %u, tensor \"%s\")\n", line, eg_status_str(st),
               (unsigned)e.problem, e.tensor);
}
#define REFUSED(f, len, extra, problem, tensor) refused(g, &n, f, len, extra, problem, tensor, __LINE__)

static void weight_files(void)
{
    eg_graph *g = NULL, *h = NULL;
    struct net n, m;
    eg_optimizer opt;
    float state[2 * SCALARS], pa[BATCH * 2], pb[BATCH * 2], wa[SCALARS], wb[SCALARS];
    float data[SCALARS + 1];
    eg_param p[4], q[4];
    eg_weights_error e;
    eg_error_info info;
    size_t len = 0, written = 0, len64 = 0, count = 0, i;
    uint32_t t = 7;

    OK(eg_graph_init(&mem_a, sizeof mem_a, &g));
    OK(eg_graph_init(&mem_b, sizeof mem_b, &h));
    build(g, init_a, 0, &n);
    OK(eg_adam_init(&opt, 0.05f, 0.9f, 0.999f, 1e-8f, state, 2 * SCALARS));
    train(&opt, g, &n, 300);
    predict(g, &n, pa);
    weights_of(g, &n, wa);
    CHECK(pa[0] > 0.5f && pa[3] > 0.5f); /* XOR learnt: (0,0) is class 0, (0,1) class 1 */

    /* F32 out and in: bit for bit */
    params_of(&n, p);
    OK(eg_weights_len(g, p, 4, EG_DTYPE_F32, &len));
    CHECK(len > 8 + 4 * SCALARS && len <= sizeof file);
    EXPECT(eg_weights_save(g, p, 4, EG_DTYPE_F32, file, len - 1, &written), EG_STATUS_BUFFER_TOO_SMALL);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == len);
    OK(eg_weights_last_error(g, &e));
    CHECK(e.problem == EG_WEIGHTS_PROBLEM_WRITE && e.expected == len);
    CHECK(written == 0 && file[0] == 0); /* nothing written */
    OK(eg_weights_save(g, p, 4, EG_DTYPE_F32, file, sizeof file, &written));
    CHECK(written == len);
    CHECK(memcmp(file + 8, "{\"__metadata__\"", 15) == 0);

    build(h, init_b, 0, &m);
    params_of(&m, q);
    predict(h, &m, pb);
    CHECK(memcmp(pa, pb, sizeof pa) != 0);
    OK(eg_weights_load(h, file, written, q, 4, 0));
    predict(h, &m, pb);
    weights_of(h, &m, wb);
    CHECK(memcmp(pa, pb, sizeof pa) == 0);
    CHECK(memcmp(wa, wb, sizeof wa) == 0);
    /* PyTorch's layout: 0.weight is OUT x IN, so its element (o, i) is w1's (i, o) */
    {
        const uint8_t *d = file + written - 4 * SCALARS;
        float w01;
        memcpy(&w01, d + 4 * 1, 4); /* 0.weight[0][1] = w1[1][0] */
        CHECK(w01 == wa[3]);
    }

    /* F64 in: bit for bit too (f32 -> f64 -> f32 is exact); F16 and BF16 close */
    OK(eg_weights_len(g, p, 4, EG_DTYPE_F64, &len64));
    CHECK(len64 > len);
    {
        static const uint32_t dtypes[3] = {EG_DTYPE_F64, EG_DTYPE_F16, EG_DTYPE_BF16};
        static const float tol[3] = {0.0f, 2e-3f, 2e-2f};
        for (i = 0; i < 3; i++) {
            size_t w = 0, k;
            float err = 0.0f;
            build(h, init_b, 0, &m);
            params_of(&m, q);
            OK(eg_weights_save(g, p, 4, dtypes[i], bad, sizeof bad, &w));
            OK(eg_weights_load(h, bad, w, q, 4, 0));
            weights_of(h, &m, wb);
            for (k = 0; k < SCALARS; k++) {
                float d = fabsf(wb[k] - wa[k]) / (fabsf(wa[k]) + 1e-3f);
                if (d > err) err = d;
            }
            CHECK(err <= tol[i]);
        }
    }
    EXPECT(eg_weights_save(g, p, 4, 0, bad, sizeof bad, &written), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_weights_save(g, p, 4, 5, bad, sizeof bad, &written), EG_STATUS_INVALID_ARGUMENT);

    /* a hand-written file in PyTorch's layout loads, transposed */
    for (i = 0; i < SCALARS; i++) data[i] = (float)i;
    len = st_file(bad, GOOD, data, SCALARS);
    OK(eg_weights_load(g, bad, len, p, 4, 0));
    weights_of(g, &n, wb);
    CHECK(wb[0] == 0 && wb[1] == 2 && wb[2] == 4 && wb[3] == 1 && wb[4] == 3 && wb[5] == 5);
    CHECK(wb[6] == 6 && wb[8] == 8);
    CHECK(wb[9] == 9 && wb[10] == 12 && wb[11] == 10 && wb[14] == 14 && wb[16] == 16);

    /* every bad file: refused, named, nothing changed */
    REFUSED(bad, 7, 0, EG_WEIGHTS_PROBLEM_TOO_SHORT, "");
    OK(eg_weights_last_error(g, &e));
    CHECK(e.found == 7 && e.expected == 8);
    REFUSED(bad, 8 + 20, 0, EG_WEIGHTS_PROBLEM_HEADER_PAST_END, ""); /* truncated in the header */
    REFUSED(bad, len - 1, 0, EG_WEIGHTS_PROBLEM_OFFSETS_OUT_OF_RANGE, "2.bias"); /* in the data */
    OK(eg_weights_last_error(g, &e));
    CHECK(e.offset_start == 60 && e.offset_end == 68 && e.expected == 67);
    memcpy(file, bad, len);
    file[5] = 1; /* a header length beyond the data */
    REFUSED(file, len, 0, EG_WEIGHTS_PROBLEM_HEADER_PAST_END, "");
    memcpy(file, bad, len);
    file[8] = '['; /* not JSON (not an object) */
    REFUSED(file, len, 0, EG_WEIGHTS_PROBLEM_NOT_JSON, "");
    memcpy(file, bad, len);
    file[20] = '\x01'; /* a control character inside the header */
    REFUSED(file, len, 0, EG_WEIGHTS_PROBLEM_NOT_JSON, "");

    len = st_file(bad, "{" T_W0 "," T_B0 "," T_W2 ",\"2.bias\":{\"dtype\":\"U8\",\"shape\":[2],"
                       "\"data_offsets\":[60,68]}}", data, SCALARS);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_UNSUPPORTED_DTYPE, "2.bias");
    len = st_file(bad, "{\"0.weight\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
                       T_B0 "," T_W2 "," T_B2 "}", data, SCALARS);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_BYTE_LENGTH, "0.weight");
    OK(eg_weights_last_error(g, &e));
    CHECK(e.expected == 48 && e.found == 24);
    len = st_file(bad, "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,6],\"data_offsets\":[0,24]},"
                       T_B0 "," T_W2 "," T_B2 "}", data, SCALARS);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_UNSUPPORTED_SHAPE, "0.weight");
    OK(eg_weights_last_error(g, &e));
    CHECK(e.found_rank == 5 && e.expected_rank == EG_WEIGHTS_MAX_RANK);
    len = st_file(bad, "{" T_W0 "," T_B0 ",\"2.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                       "\"data_offsets\":[32,56]},\"2.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
                       "\"data_offsets\":[56,64]}}", data, 16);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_OVERLAP, "2.weight");
    OK(eg_weights_last_error(g, &e));
    CHECK(strcmp(e.other, "0.bias") == 0);
    len = st_file(bad, GOOD, data, SCALARS + 1); /* 4 bytes after the last tensor */
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_UNCOVERED, "");
    OK(eg_weights_last_error(g, &e));
    CHECK(e.expected == 72 && e.found == 68);
    len = st_file(bad, "{" T_W0 ",\"0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]},"
                       "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[36,48]}}",
                  data, 12);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_DUPLICATE_NAME, "0.bias");

    /* well-formed files that do not fit the model */
    len = st_file(bad, "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                       T_B0 "," T_W2 "," T_B2 "}", data, SCALARS);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_WRONG_SHAPE, "0.weight");
    OK(eg_weights_last_error(g, &e));
    CHECK(e.expected_rank == 2 && e.expected_dims[0] == 3 && e.expected_dims[1] == 2);
    CHECK(e.found_rank == 2 && e.found_dims[0] == 2 && e.found_dims[1] == 3);
    len = st_file(bad, "{" T_W0 "," T_B0 "," T_W2 ",\"2.bias\":{\"dtype\":\"F32\",\"shape\":[1,2],"
                       "\"data_offsets\":[60,68]}}", data, SCALARS);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_WRONG_SHAPE, "2.bias"); /* a matrix for a vector */
    len = st_file(bad, "{" T_W0 "," T_B0 "," T_W2 "}", data, 15);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_MISSING, "2.bias");
    len = st_file(bad, "{" T_W0 "," T_B0 "," T_W2 "," T_B2 ",\"3.bias\":{\"dtype\":\"F32\","
                       "\"shape\":[1],\"data_offsets\":[68,72]}}", data, SCALARS + 1);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_UNEXPECTED, "3.bias");
    OK(eg_weights_load(g, bad, len, p, 4, 1)); /* allowed: a state dict with more in it */
    EXPECT(eg_weights_load(g, bad, len, p, 4, 2), EG_STATUS_INVALID_ARGUMENT);
    {
        static volatile float zero = 0.0f;
        data[7] = zero / zero;
        len = st_file(bad, GOOD, data, SCALARS);
        REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_NON_FINITE, "0.bias");
        OK(eg_weights_last_error(g, &e));
        CHECK(e.found == 1);
        data[7] = 7.0f;
        data[16] = -1.0f / zero;
        len = st_file(bad, GOOD, data, SCALARS);
        REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_NON_FINITE, "2.bias");
        data[16] = 16.0f;
    }
    /* a name longer than the error holds is cut, and ends in "…" */
    len = st_file(bad, "{" T_W0 "," T_B0 "," T_W2 "," T_B2 ",\"a_very_long_tensor_name_of_forty_bytes_"
                       "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[68,72]}}", data, SCALARS + 1);
    REFUSED(bad, len, 0, EG_WEIGHTS_PROBLEM_UNEXPECTED, "a_very_long_tensor_name_of_forty\xE2\x80\xA6");

    /* parameters: names, layouts, nodes */
    len = st_file(bad, GOOD, data, SCALARS);
    q[0] = p[0];
    q[0].layout = 0;
    EXPECT(eg_weights_load(g, bad, len, q, 1, 1), EG_STATUS_INVALID_ARGUMENT);
    q[0].layout = 4;
    EXPECT(eg_weights_len(g, q, 1, EG_DTYPE_F32, &count), EG_STATUS_INVALID_ARGUMENT);
    q[0] = p[0];
    q[0].name = NULL;
    EXPECT(eg_weights_load(g, bad, len, q, 1, 1), EG_STATUS_NULL_POINTER);
    q[0].name = "0.bias";
    q[0].node = n.x; /* a placeholder */
    EXPECT(eg_weights_load(g, bad, len, q, 1, 1), EG_STATUS_WRONG_KIND);
    OK(eg_weights_last_error(g, &e));
    CHECK(e.problem == EG_WEIGHTS_PROBLEM_GRAPH && strcmp(e.tensor, "0.bias") == 0);
    q[0] = p[0];
    q[1] = p[0]; /* the same name twice */
    EXPECT(eg_weights_len(g, q, 2, EG_DTYPE_F32, &count), EG_STATUS_INVALID_ARGUMENT);
    OK(eg_weights_last_error(g, &e));
    CHECK(e.problem == EG_WEIGHTS_PROBLEM_BAD_NAME && strcmp(e.tensor, "0.weight") == 0);
    q[1].name = "";
    EXPECT(eg_weights_len(g, q, 2, EG_DTYPE_F32, &count), EG_STATUS_INVALID_ARGUMENT);
    q[1].name = "bad\"name";
    EXPECT(eg_weights_save(g, q, 2, EG_DTYPE_F32, file, sizeof file, &count), EG_STATUS_INVALID_ARGUMENT);
    q[1].name = "\xFF\xFE"; /* not UTF-8 */
    EXPECT(eg_weights_len(g, q, 2, EG_DTYPE_F32, &count), EG_STATUS_INVALID_ARGUMENT);
    {
        eg_param many[EG_WEIGHTS_MAX_TENSORS + 1];
        for (i = 0; i < EG_WEIGHTS_MAX_TENSORS + 1; i++) many[i] = p[0];
        EXPECT(eg_weights_len(g, many, EG_WEIGHTS_MAX_TENSORS + 1, EG_DTYPE_F32, &count),
               EG_STATUS_INVALID_ARGUMENT);
    }
    EXPECT(eg_weights_load(NULL, bad, len, p, 4, 0), EG_STATUS_NULL_POINTER);
    EXPECT(eg_weights_load((eg_graph *)(void *)((unsigned char *)&mem_c + 4), bad, len, p, 4, 0),
           EG_STATUS_MISALIGNED);
    memset(&mem_c, 0, sizeof mem_c);
    EXPECT(eg_weights_load((eg_graph *)(void *)&mem_c, bad, len, p, 4, 0), EG_STATUS_NOT_INITIALISED);
    EXPECT(eg_weights_load(g, NULL, len, p, 4, 0), EG_STATUS_NULL_POINTER);
    EXPECT(eg_weights_load(g, bad, len, NULL, 4, 0), EG_STATUS_NULL_POINTER);
    EXPECT(eg_weights_load(g, (const uint8_t *)(void *)g, 64, p, 4, 0), EG_STATUS_OVERLAP);
    EXPECT(eg_weights_save(g, p, 4, EG_DTYPE_F32, (uint8_t *)(void *)g, 4096, &count), EG_STATUS_OVERLAP);
    EXPECT(eg_weights_save(g, p, 4, EG_DTYPE_F32, file, sizeof file, NULL), EG_STATUS_NULL_POINTER);
    {
        /* the output over a name: refused before anything is written */
        char name[16] = "0.weight";
        q[0] = p[0];
        q[0].name = name;
        EXPECT(eg_weights_save(g, q, 1, EG_DTYPE_F32, (uint8_t *)name, sizeof name, &count),
               EG_STATUS_OVERLAP);
        CHECK(strcmp(name, "0.weight") == 0);
    }
    CHECK(count == 0);

    /* freezing */
    OK(eg_parameter_count(g, &count));
    CHECK(count == SCALARS);
    OK(eg_is_trainable(g, n.w1, &t));
    CHECK(t == 1);
    OK(eg_set_trainable(g, n.w1, 0));
    OK(eg_set_trainable(g, n.b1, 0));
    OK(eg_is_trainable(g, n.w1, &t));
    CHECK(t == 0);
    OK(eg_is_trainable(g, n.x, &t));
    CHECK(t == 0);
    OK(eg_parameter_count(g, &count));
    CHECK(count == 8); /* the last layer: 3x2 + 2 */
    EXPECT(eg_set_trainable(g, n.x, 0), EG_STATUS_WRONG_KIND);
    EXPECT(eg_set_trainable(g, n.w1, 2), EG_STATUS_INVALID_ARGUMENT);
    EXPECT(eg_is_trainable(g, n.w1, NULL), EG_STATUS_NULL_POINTER);
    weights_of(g, &n, wa);
    OK(eg_adam_init(&opt, 0.05f, 0.9f, 0.999f, 1e-8f, state, 2 * count));
    train(&opt, g, &n, 20);
    weights_of(g, &n, wb);
    CHECK(memcmp(wa, wb, 9 * sizeof(float)) == 0);        /* the frozen layer kept its values */
    CHECK(memcmp(wa + 9, wb + 9, 8 * sizeof(float)) != 0); /* the last layer trained */
    OK(eg_set_trainable(g, n.w1, 1));
    OK(eg_set_trainable(g, n.b1, 1));
    OK(eg_parameter_count(g, &count));
    CHECK(count == SCALARS);
}

/* ----- a RAM "flash" with NOR semantics --------------------------------------------------- */

#define SECTOR 1024u
#define SECTORS 16u
#define FLASH_BYTES (SECTOR * SECTORS)

struct ram_flash {
    uint8_t mem[FLASH_BYTES];
    int writes_left; /* a power cut during write number writes_left (-1: none) */
    int erases_left; /* a power cut during erase number erases_left (-1: none) */
    int read_fails;  /* reads fail while set */
    unsigned writes, erases, misuse;
    unsigned sector_erases[SECTORS];
};

static struct ram_flash ram;
static uint8_t snapshot[FLASH_BYTES];

static int32_t ram_read(void *ctx, uint32_t offset, uint8_t *buf, size_t len)
{
    struct ram_flash *f = (struct ram_flash *)ctx;
    if (f->read_fails || offset > FLASH_BYTES || len > FLASH_BYTES - offset) return -1;
    memcpy(buf, f->mem + offset, len);
    return 0;
}

static int32_t ram_write(void *ctx, uint32_t offset, const uint8_t *data, size_t len)
{
    struct ram_flash *f = (struct ram_flash *)ctx;
    size_t i, n = len;
    int cut = 0;
    if (offset % EG_FLASH_WRITE_SIZE || len % EG_FLASH_WRITE_SIZE || offset > FLASH_BYTES ||
        len > FLASH_BYTES - offset) {
        f->misuse++;
        return -1;
    }
    if (f->writes_left == 0) return -1; /* no power */
    if (f->writes_left > 0 && --f->writes_left == 0) {
        cut = 1; /* the power goes half-way through this write */
        n = len / 2 + 3;
    }
    for (i = 0; i < n; i++) {
        if (f->mem[offset + i] != 0xFF) f->misuse++; /* a word written twice */
        f->mem[offset + i] &= data[i];                /* NOR: programming clears bits */
    }
    f->writes++;
    return cut ? -1 : 0;
}

static int32_t ram_erase(void *ctx, uint32_t from, uint32_t to)
{
    struct ram_flash *f = (struct ram_flash *)ctx;
    uint32_t s;
    if (from % SECTOR || to % SECTOR || from >= to || to > FLASH_BYTES) {
        f->misuse++;
        return -1;
    }
    if (f->erases_left == 0) return -1;
    if (f->erases_left > 0 && --f->erases_left == 0) {
        /* the power goes during the erase: the first sector is left half erased */
        memset(f->mem + from, 0xFF, SECTOR / 2);
        return -1;
    }
    for (s = from; s < to; s += SECTOR) {
        memset(f->mem + s, 0xFF, SECTOR);
        f->sector_erases[s / SECTOR]++;
    }
    f->erases++;
    return 0;
}

static eg_flash flash_dev(void)
{
    eg_flash f;
    f.ctx = &ram;
    f.read = ram_read;
    f.write = ram_write;
    f.erase = ram_erase;
    f.capacity = FLASH_BYTES;
    f.erase_size = SECTOR;
    return f;
}

/* Power back on: the cut is over. */
static void power_on(void)
{
    ram.writes_left = -1;
    ram.erases_left = -1;
    ram.read_fails = 0;
}

#define BASE (2 * SECTOR)
#define SLOT (2 * SECTOR)

static void checkpoints(void)
{
    eg_graph *g = NULL, *h = NULL, *k = NULL;
    struct net n, m, o;
    eg_optimizer opt, opt2, sgd;
    float state[2 * SCALARS], state2[2 * SCALARS], mom[SCALARS];
    float w1[SCALARS], w2[SCALARS], w3[SCALARS], wb[SCALARS], pa[BATCH * 2], pb[BATCH * 2];
    eg_flash fl = flash_dev(), bad_fl;
    eg_error_info info;
    size_t need = 0;
    uint32_t seq = 99, what = 99, s;
    unsigned writes_per_save, erases_per_save, before[SECTORS];
    int cut;

    OK(eg_graph_init(&mem_a, sizeof mem_a, &g));
    OK(eg_graph_init(&mem_b, sizeof mem_b, &h));
    OK(eg_graph_init(&mem_c, sizeof mem_c, &k));
    memset(ram.mem, 0x00, sizeof ram.mem); /* never erased: holds no checkpoint */
    power_on();
    build(g, init_a, 0, &n);
    OK(eg_adam_init(&opt, 0.05f, 0.9f, 0.999f, 1e-8f, state, 2 * SCALARS));

    /* an empty store restores nothing, and says so */
    OK(eg_checkpoint_restore(g, &opt, &fl, BASE, SLOT, &what, &seq));
    CHECK(what == EG_RESTORED_NOTHING && seq == 0);
    OK(eg_checkpoint_erase(&fl, BASE, SLOT));
    OK(eg_checkpoint_restore_weights(g, &fl, BASE, SLOT, &what, &seq));
    CHECK(what == EG_RESTORED_NOTHING && seq == 0);

    /* sizing */
    OK(eg_checkpoint_bytes_needed(g, &opt, &need));
    CHECK(need > 40 + 4 * 4 + 4 * 3 * SCALARS && need <= SECTOR);
    EXPECT(eg_checkpoint_save(g, &opt, &fl, BASE, 0, &seq), EG_STATUS_INVALID_ARGUMENT);

    /* two saves: sequence 1 and 2 */
    train(&opt, g, &n, 50);
    memset(before, 0, sizeof before);
    OK(eg_checkpoint_save(g, &opt, &fl, BASE, SLOT, &seq));
    CHECK(seq == 1);
    train(&opt, g, &n, 50);
    weights_of(g, &n, w1);
    ram.writes = ram.erases = 0;
    memcpy(before, ram.sector_erases, sizeof before);
    OK(eg_checkpoint_save(g, &opt, &fl, BASE, SLOT, &seq));
    CHECK(seq == 2);
    writes_per_save = ram.writes;
    erases_per_save = ram.erases;
    /* the second slot's two sectors, each erased once (the commit unit's first); no other */
    for (s = 0; s < SECTORS; s++) {
        unsigned d = ram.sector_erases[s] - before[s];
        CHECK(d == ((s == (BASE + SLOT) / SECTOR || s == (BASE + SLOT) / SECTOR + 1) ? 1u : 0u));
    }
    CHECK(erases_per_save == 2);
    CHECK(writes_per_save == (unsigned)((need - EG_FLASH_WRITE_SIZE + 63) / 64 + 1));
    printf("checkpoint: %u bytes per slot needed, %u writes and %u erases per save\n",
           (unsigned)need, writes_per_save, erases_per_save);
    memcpy(snapshot, ram.mem, sizeof snapshot);

    /* a full restore into a fresh graph and Adam: the same bits, and training goes on alike */
    build(h, init_b, 0, &m);
    OK(eg_adam_init(&opt2, 0.05f, 0.9f, 0.999f, 1e-8f, state2, 2 * SCALARS));
    OK(eg_checkpoint_restore(h, &opt2, &fl, BASE, SLOT, &what, &seq));
    CHECK(what == EG_RESTORED_CHECKPOINT && seq == 2);
    weights_of(h, &m, wb);
    CHECK(memcmp(w1, wb, sizeof w1) == 0);
    CHECK(memcmp(state, state2, sizeof state) == 0);
    CHECK(opt2.updates == opt.updates && opt.updates == 100);
    train(&opt, g, &n, 10);
    train(&opt2, h, &m, 10);
    predict(g, &n, pa);
    predict(h, &m, pb);
    CHECK(memcmp(pa, pb, sizeof pa) == 0);
    weights_of(g, &n, w2); /* trained past checkpoint 2 */

    /* another optimizer: refused, nothing changes; the weights alone restore */
    build(k, init_b, 0, &o);
    OK(eg_sgd_init(&sgd, 0.1f));
    EXPECT(eg_checkpoint_restore(k, &sgd, &fl, BASE, SLOT, &what, &seq), EG_STATUS_LENGTH_MISMATCH);
    OK(eg_momentum_init(&sgd, 0.1f, 0.9f, 0, mom, SCALARS));
    EXPECT(eg_checkpoint_restore(k, &sgd, &fl, BASE, SLOT, &what, &seq), EG_STATUS_LENGTH_MISMATCH);
    OK(eg_adam_init(&sgd, 0.05f, 0.8f, 0.999f, 1e-8f, state2, 2 * SCALARS)); /* other beta1 */
    EXPECT(eg_checkpoint_restore(k, &sgd, &fl, BASE, SLOT, &what, &seq), EG_STATUS_OTHER_OPTIMIZER);
    OK(eg_graph_last_error(k, &info));
    CHECK(info.status == EG_STATUS_OTHER_OPTIMIZER && info.expected != info.found);
    weights_of(k, &o, wb);
    CHECK(memcmp(wb, init_b, sizeof wb) == 0 && what == EG_RESTORED_CHECKPOINT);
    OK(eg_sgd_init(&sgd, 0.1f));
    OK(eg_checkpoint_restore_weights(k, &fl, BASE, SLOT, &what, &seq));
    CHECK(what == EG_RESTORED_CHECKPOINT && seq == 2);
    weights_of(k, &o, wb);
    CHECK(memcmp(w1, wb, sizeof w1) == 0);
    train(&sgd, k, &o, 5); /* fine-tuning with another optimizer */

    /* frozen variables: the optimizer state covers other variables, so a full restore is
     * refused; the weights restore */
    build(k, init_b, 0, &o);
    OK(eg_set_trainable(k, o.w2, 0));
    OK(eg_adam_init(&sgd, 0.05f, 0.9f, 0.999f, 1e-8f, state2, 2 * SCALARS));
    EXPECT(eg_checkpoint_restore(k, &sgd, &fl, BASE, SLOT, &what, &seq), EG_STATUS_OTHER_OPTIMIZER);
    OK(eg_checkpoint_restore_weights(k, &fl, BASE, SLOT, &what, &seq));

    /* another model with the same variables, and a model with another variable */
    build(k, init_b, 1, &o);
    EXPECT(eg_checkpoint_restore_weights(k, &fl, BASE, SLOT, &what, &seq), EG_STATUS_OTHER_MODEL);
    {
        eg_node extra;
        const float one = 1.0f;
        build(k, init_b, 0, &o);
        OK(eg_variable(k, 1, 1, &one, 1, &extra));
        EXPECT(eg_checkpoint_restore_weights(k, &fl, BASE, SLOT, &what, &seq), EG_STATUS_LENGTH_MISMATCH);
        OK(eg_graph_last_error(k, &info));
        CHECK(info.expected == 5 && info.found == 4);
        weights_of(k, &o, wb);
        CHECK(memcmp(wb, init_b, sizeof wb) == 0);
    }

    /* a power cut at every write and every erase of the third save */
    for (cut = 1; cut <= (int)(writes_per_save + erases_per_save); cut++) {
        eg_status st;
        memcpy(ram.mem, snapshot, sizeof snapshot);
        power_on();
        if (cut <= (int)erases_per_save) ram.erases_left = cut;
        else ram.writes_left = cut - (int)erases_per_save;
        st = eg_checkpoint_save(g, &opt, &fl, BASE, SLOT, &seq);
        CHECK(st == EG_STATUS_STORAGE);
        power_on();
        build(h, init_b, 0, &m);
        OK(eg_adam_init(&opt2, 0.05f, 0.9f, 0.999f, 1e-8f, state2, 2 * SCALARS));
        OK(eg_checkpoint_restore(h, &opt2, &fl, BASE, SLOT, &what, &seq));
        weights_of(h, &m, wb);
        if (cut < (int)(writes_per_save + erases_per_save)) {
            /* before the commit unit: the previous checkpoint */
            CHECK(what == EG_RESTORED_CHECKPOINT && seq == 2);
            CHECK(memcmp(w1, wb, sizeof w1) == 0);
        } else {
            /* during the commit unit's write: the one or the other, whole */
            CHECK(what == EG_RESTORED_CHECKPOINT && (seq == 2 || seq == 3));
            CHECK(memcmp(seq == 2 ? w1 : w2, wb, sizeof w1) == 0);
        }
        if (check_failed) printf("    (power cut %d)\n", cut);
    }
    CHECK(ram.misuse == 0);

    /* the third save, uncut, then a failing read */
    memcpy(ram.mem, snapshot, sizeof snapshot);
    power_on();
    OK(eg_checkpoint_save(g, &opt, &fl, BASE, SLOT, &seq));
    CHECK(seq == 3);
    build(h, init_b, 0, &m);
    ram.read_fails = 1;
    EXPECT(eg_checkpoint_restore_weights(h, &fl, BASE, SLOT, &what, &seq), EG_STATUS_STORAGE);
    EXPECT(eg_checkpoint_save(h, &opt2, &fl, BASE, SLOT, &seq), EG_STATUS_STORAGE);
    power_on();
    OK(eg_checkpoint_restore_weights(h, &fl, BASE, SLOT, &what, &seq));
    CHECK(seq == 3);
    weights_of(h, &m, w3);
    CHECK(memcmp(w2, w3, sizeof w2) == 0);

    /* a damaged newest checkpoint: the older one, and the damage reported */
    ram.mem[BASE + 100] ^= 0x10; /* slot 0 holds 3 (1 was saved there, then 3) */
    build(h, init_b, 0, &m);
    OK(eg_checkpoint_restore_weights(h, &fl, BASE, SLOT, &what, &seq));
    CHECK(what == EG_RESTORED_CHECKPOINT_OTHER_DAMAGED && seq == 2);
    /* both damaged: CORRUPT, not empty, and nothing changes */
    ram.mem[BASE + SLOT + 100] ^= 0x10;
    build(h, init_b, 0, &m);
    EXPECT(eg_checkpoint_restore(h, &opt2, &fl, BASE, SLOT, &what, &seq), EG_STATUS_CORRUPT);
    weights_of(h, &m, wb);
    CHECK(memcmp(wb, init_b, sizeof wb) == 0);
    /* discarded on purpose: empty */
    OK(eg_checkpoint_erase(&fl, BASE, SLOT));
    OK(eg_checkpoint_restore(h, &opt2, &fl, BASE, SLOT, &what, &seq));
    CHECK(what == EG_RESTORED_NOTHING && seq == 0);

    /* the flash's description */
    /* each with the value (found) and the erase size or capacity it must fit (expected) */
    EXPECT(eg_checkpoint_save(g, &opt, &fl, BASE, 256, &seq), EG_STATUS_INVALID_ARGUMENT); /* < sector */
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == SECTOR && info.found == 256);
    EXPECT(eg_checkpoint_save(g, &opt, &fl, BASE + 512, SLOT, &seq), EG_STATUS_INVALID_ARGUMENT);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == SECTOR && info.found == BASE + 512);
    EXPECT(eg_checkpoint_save(g, &opt, &fl, FLASH_BYTES - SLOT, SLOT, &seq), EG_STATUS_INVALID_ARGUMENT);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == FLASH_BYTES && info.found == FLASH_BYTES + SLOT);
    EXPECT(eg_checkpoint_erase(&fl, 0xFFFFFC00u, SLOT), EG_STATUS_INVALID_ARGUMENT);
    bad_fl = fl;
    bad_fl.erase_size = 48; /* not a multiple of EG_FLASH_WRITE_SIZE */
    EXPECT(eg_checkpoint_save(g, &opt, &bad_fl, 0, 48 * 32, &seq), EG_STATUS_INVALID_ARGUMENT);
    bad_fl.erase_size = 0;
    EXPECT(eg_checkpoint_restore_weights(g, &bad_fl, 0, SLOT, &what, &seq), EG_STATUS_INVALID_ARGUMENT);
    bad_fl = fl;
    bad_fl.write = NULL;
    EXPECT(eg_checkpoint_save(g, &opt, &bad_fl, BASE, SLOT, &seq), EG_STATUS_NULL_POINTER);
    bad_fl = fl;
    bad_fl.erase_size = 32; /* a flash of 32-byte sectors: a slot of 32 bytes is too small */
    EXPECT(eg_checkpoint_save(g, &opt, &bad_fl, 0, 32, &seq), EG_STATUS_BUFFER_TOO_SMALL);
    OK(eg_graph_last_error(g, &info));
    CHECK(info.expected == need && info.found == 32);
    EXPECT(eg_checkpoint_save(g, &opt, NULL, BASE, SLOT, &seq), EG_STATUS_NULL_POINTER);
    EXPECT(eg_checkpoint_save(g, NULL, &fl, BASE, SLOT, &seq), EG_STATUS_NULL_POINTER);
    EXPECT(eg_checkpoint_save(g, &opt, &fl, BASE, SLOT, NULL), EG_STATUS_NULL_POINTER);
    EXPECT(eg_checkpoint_restore(g, &opt, &fl, BASE, SLOT, &what, (uint32_t *)(void *)&what), EG_STATUS_OVERLAP);
    EXPECT(eg_checkpoint_restore(g, &opt, (const eg_flash *)(void *)g, BASE, SLOT, &what, &seq), EG_STATUS_OVERLAP);
    EXPECT(eg_checkpoint_bytes_needed(g, &opt, NULL), EG_STATUS_NULL_POINTER);
    CHECK(ram.misuse == 0);
}

int main(void)
{
    weight_files();
    checkpoints();
    return check_summary("weights_checkpoints");
}
