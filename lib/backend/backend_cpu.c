/*
 * backend_cpu.c — the cpu-onednn backend: matrix products and GELU on oneDNN
 * primitives (created once per shape and cached), everything else as plain
 * loops that the compiler vectorises (one clone per instruction set, chosen at
 * load time) and OpenMP spreads over the backend's threads. oneDNN in Debian
 * runs on the same OpenMP runtime, so both share one thread pool.
 *
 * Reductions that feed gradients (bias, LayerNorm weights, embeddings, sums
 * of squares) are split into fixed-size blocks whose partial sums are added in
 * a fixed order: results are identical whatever the thread count.
 */
#include "backend.h"
#include "../core/rng.h"
#include "dm_config.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

/* No fused multiply-adds in our own loops: gcc contracts a*b+c by default
 * in GNU C, and only the AVX-512 clones have FMA, so results would change
 * with the CPU (and against cpu-ref's operation order, e.g. AdamW's). */
#if defined(__clang__)
#  pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#  pragma GCC optimize("fp-contract=off")
#endif

#define ROW_BLOCK 64 /* rows per block in deterministic column reductions */

/* ------------------------------------------------------------------ state */

typedef struct gemm_key {
    int trans_a, trans_b, has_bias, act, beta, bf16;
    float alpha;
    size_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c, batch;
} gemm_key;

typedef struct gemm_entry {
    gemm_key key;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, bias, c;
    struct gemm_entry *next;
} gemm_entry;

typedef struct eltwise_entry {
    int backward;
    size_t n;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, diff_dst, diff_src;
} eltwise_entry;

#define GEMM_BUCKETS 1024
#define ELTWISE_SIZES 40 /* power-of-two chunk sizes 2^0 .. 2^39 */

typedef struct cpu_backend {
    dmb_backend base;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    gemm_entry *gemm_cache[GEMM_BUCKETS];
    eltwise_entry *gelu[2][ELTWISE_SIZES]; /* [backward][log2 size] */
    float *ws;                             /* workspace for attention */
    size_t ws_floats;
    int bf16_ok;                           /* a bfloat16 matmul primitive can be made */
} cpu_backend;

static cpu_backend *cpu(dmb_backend *be) { return (cpu_backend *)be; }

static dm_status dnnl_fail(dnnl_status_t s, const char *what)
{
    return dmi_fail(s == dnnl_out_of_memory ? DM_ERR_NO_MEMORY : DM_ERR_INTERNAL,
                    "oneDNN: %s failed (status %d)", what, (int)s);
}

static float *workspace(cpu_backend *c, size_t floats)
{
    if (floats > c->ws_floats) {
        free(c->ws);
        size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
        c->ws = aligned_alloc(64, bytes);
        if (!c->ws) {
            c->ws_floats = 0;
            dmi_fail(DM_ERR_NO_MEMORY, "out of memory allocating a %zu-byte workspace", bytes);
            return NULL;
        }
        c->ws_floats = floats;
    }
    return c->ws;
}

/* ------------------------------------------------------------------ memory */

/* Each block starts 64 bytes before what the caller gets, with its size
 * there, so that free can count what is in use. */
static void *cpu_alloc(dmb_backend *be, size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    char *p = aligned_alloc(64, rounded + 64);
    if (!p) {
        dmi_fail(DM_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memcpy(p, &rounded, sizeof rounded);
    dmb_note_alloc(be, rounded);
    return p + 64;
}

static void cpu_free(dmb_backend *be, void *p)
{
    if (!p) return;
    char *block = (char *)p - 64;
    size_t rounded;
    memcpy(&rounded, block, sizeof rounded);
    be->mem_used -= rounded;
    free(block);
}

static dm_status cpu_copy(dmb_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes) memmove(dst, src, bytes);
    return DM_OK;
}

static dm_status cpu_zero(dmb_backend *be, void *dst, size_t bytes)
{
    (void)be;
    if (bytes) memset(dst, 0, bytes);
    return DM_OK;
}

static dm_status cpu_synchronize(dmb_backend *be)
{
    (void)be; /* every operation has finished when it returns */
    return DM_OK;
}

static dm_status cpu_caps(dmb_backend *be, dmb_caps *out)
{
    cpu_backend *c = cpu(be);
    memset(out, 0, sizeof *out);
    out->version = DMB_INTERFACE_VERSION;
    out->f32 = 1;
    out->bf16 = c->bf16_ok;
    out->host_memory = 1;
    out->memory_used = be->mem_used;
    return DM_OK;
}

/* ------------------------------------------------------------------ gemm */

static size_t gemm_hash(const gemm_key *k)
{
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)k;
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return (size_t)(h % GEMM_BUCKETS);
}

/* A 2-D (batch 1) or 3-D memory descriptor of a ROWS x COLS operand stored
 * row-major with leading dimension LD, or transposed (stored COLS x ROWS). */
static dnnl_status_t operand_md(dnnl_memory_desc_t *md, size_t batch, size_t rows, size_t cols,
                                int trans, size_t ld, size_t stride, dnnl_data_type_t type)
{
    dnnl_dim_t r = (dnnl_dim_t)rows, c = (dnnl_dim_t)cols;
    dnnl_dim_t rs = trans ? 1 : (dnnl_dim_t)ld, cs = trans ? (dnnl_dim_t)ld : 1;
    if (batch == 1) {
        dnnl_dims_t dims = {r, c}, strides = {rs, cs};
        return dnnl_memory_desc_init_by_strides(md, 2, dims, type, strides);
    }
    dnnl_dims_t dims = {(dnnl_dim_t)batch, r, c}, strides = {(dnnl_dim_t)stride, rs, cs};
    return dnnl_memory_desc_init_by_strides(md, 3, dims, type, strides);
}

static dm_status gemm_create(cpu_backend *c, const gemm_key *k, gemm_entry **out)
{
    dnnl_memory_desc_t a_md, b_md, c_md, bias_md;
    dnnl_data_type_t in = k->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_status_t s = operand_md(&a_md, k->batch, k->m, k->k, k->trans_a, k->lda, k->stride_a, in);
    if (s == dnnl_success) s = operand_md(&b_md, k->batch, k->k, k->n, k->trans_b, k->ldb, k->stride_b, in);
    if (s == dnnl_success) s = operand_md(&c_md, k->batch, k->m, k->n, 0, k->ldc, k->stride_c, dnnl_f32);
    if (s == dnnl_success && k->has_bias) {
        if (k->batch == 1) {
            dnnl_dims_t dims = {1, (dnnl_dim_t)k->n}, strides = {(dnnl_dim_t)k->n, 1};
            s = dnnl_memory_desc_init_by_strides(&bias_md, 2, dims, dnnl_f32, strides);
        } else {
            dnnl_dims_t dims = {1, 1, (dnnl_dim_t)k->n};
            dnnl_dims_t strides = {(dnnl_dim_t)k->n, (dnnl_dim_t)k->n, 1};
            s = dnnl_memory_desc_init_by_strides(&bias_md, 3, dims, dnnl_f32, strides);
        }
    }
    if (s != dnnl_success) return dnnl_fail(s, "matmul memory descriptor");

    dnnl_matmul_desc_t md;
    s = dnnl_matmul_desc_init(&md, &a_md, &b_md, k->has_bias ? &bias_md : NULL, &c_md);
    if (s != dnnl_success) return dnnl_fail(s, "matmul descriptor");

    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    if ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success) return dnnl_fail(s, "attr");
    if ((s = dnnl_post_ops_create(&po)) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return dnnl_fail(s, "post ops");
    }
    if (k->alpha != 1.0f) s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha);
    if (s == dnnl_success && k->beta) s = dnnl_post_ops_append_sum(po, 1.0f);
    if (s == dnnl_success && k->act == DMB_ACT_GELU)
        s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &md, attr, c->engine, NULL);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success && k->bf16)
        return dmi_fail(DM_ERR_UNSUPPORTED, "oneDNN has no bfloat16 matrix product for this CPU (status %d): "
                        "use float32 precision", (int)s);
    if (s != dnnl_success) return dnnl_fail(s, "matmul primitive descriptor");

    gemm_entry *e = dmi_calloc(1, sizeof *e);
    if (!e) {
        dnnl_primitive_desc_destroy(pd);
        return DM_ERR_NO_MEMORY;
    }
    e->key = *k;
    s = dnnl_primitive_create(&e->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s == dnnl_success) s = dnnl_memory_create(&e->a, &a_md, c->engine, DNNL_MEMORY_NONE);
    if (s == dnnl_success) s = dnnl_memory_create(&e->b, &b_md, c->engine, DNNL_MEMORY_NONE);
    if (s == dnnl_success) s = dnnl_memory_create(&e->c, &c_md, c->engine, DNNL_MEMORY_NONE);
    if (s == dnnl_success && k->has_bias)
        s = dnnl_memory_create(&e->bias, &bias_md, c->engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) {
        if (e->prim) dnnl_primitive_destroy(e->prim);
        if (e->a) dnnl_memory_destroy(e->a);
        if (e->b) dnnl_memory_destroy(e->b);
        if (e->c) dnnl_memory_destroy(e->c);
        free(e);
        return dnnl_fail(s, "matmul primitive");
    }
    *out = e;
    return DM_OK;
}

/* bias and activation on C (m x n, ldc) after a product without them. */
static void bias_act(const dmb_gemm *g, float *C)
{
    for (size_t i = 0; i < g->m; i++)
        for (size_t j = 0; j < g->n; j++) {
            float v = C[i * g->ldc + j] + (g->bias ? g->bias[j] : 0.0f);
            C[i * g->ldc + j] = g->act == DMB_ACT_GELU ? (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0)))) : v;
        }
}

/* k = 0 (oneDNN divides by it): C = beta C, then bias and activation. */
static void gemm_empty(const dmb_gemm *g)
{
    for (size_t b = 0; b < g->batch; b++) {
        float *C = g->c + b * g->stride_c;
        for (size_t i = 0; i < g->m; i++)
            for (size_t j = 0; j < g->n; j++) C[i * g->ldc + j] = g->beta != 0.0f ? C[i * g->ldc + j] : 0.0f;
        bias_act(g, C);
    }
}

/* Whether every operand is dense (rows packed, batch members adjacent):
 * oneDNN picks kernels for strided operands whose sums depend on the
 * thread count, so those run on one thread. */
static bool dense_operands(const dmb_gemm *g)
{
    size_t a_cols = g->trans_a ? g->m : g->k, a_rows = g->trans_a ? g->k : g->m;
    size_t b_cols = g->trans_b ? g->k : g->n, b_rows = g->trans_b ? g->n : g->k;
    bool dense = g->lda == a_cols && g->ldb == b_cols && g->ldc == g->n;
    if (g->batch > 1)
        dense = dense && g->stride_a == a_rows * a_cols && g->stride_b == b_rows * b_cols && g->stride_c == g->m * g->n;
    return dense;
}

static dm_status gemm_run(dmb_backend *be, const dmb_gemm *g);

static dm_status cpu_gemm(dmb_backend *be, const dmb_gemm *g)
{
    if (g->m == 0 || g->n == 0 || g->batch == 0) return DM_OK;
    if (g->k == 0) {
        gemm_empty(g);
        return DM_OK;
    }
    /* oneDNN 2.x scales the bias with alpha (alpha (AB + bias)): the
     * product alone, then the bias and activation unscaled. */
    if (g->alpha != 1.0f && (g->bias || g->act != DMB_ACT_NONE)) {
        dmb_gemm plain = *g;
        plain.bias = NULL, plain.act = DMB_ACT_NONE;
        dm_status s = gemm_run(be, &plain);
        for (size_t b = 0; !s && b < g->batch; b++) bias_act(g, g->c + b * g->stride_c);
        return s;
    }
    return gemm_run(be, g);
}

static dm_status gemm_run(dmb_backend *be, const dmb_gemm *g)
{
    cpu_backend *c = cpu(be);
    gemm_key k;
    memset(&k, 0, sizeof k); /* padding bytes take part in the hash */
    k.trans_a = g->trans_a, k.trans_b = g->trans_b, k.has_bias = g->bias != NULL;
    k.act = (int)g->act, k.beta = g->beta != 0.0f, k.alpha = g->alpha, k.bf16 = g->bf16 != 0;
    k.m = g->m, k.n = g->n, k.k = g->k, k.lda = g->lda, k.ldb = g->ldb, k.ldc = g->ldc;
    k.batch = g->batch;
    if (g->batch > 1) k.stride_a = g->stride_a, k.stride_b = g->stride_b, k.stride_c = g->stride_c;
    size_t h = gemm_hash(&k);
    gemm_entry *e = c->gemm_cache[h];
    while (e && memcmp(&e->key, &k, sizeof k) != 0) e = e->next;
    if (!e) {
        dm_status st = gemm_create(c, &k, &e);
        if (st) return st;
        e->next = c->gemm_cache[h];
        c->gemm_cache[h] = e;
    }
    dnnl_memory_set_data_handle(e->a, (void *)g->a);
    dnnl_memory_set_data_handle(e->b, (void *)g->b);
    dnnl_memory_set_data_handle(e->c, g->c);
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}, {DNNL_ARG_BIAS, e->bias}};
    if (e->bias) dnnl_memory_set_data_handle(e->bias, (void *)g->bias);
    omp_set_num_threads(dense_operands(g) ? be->threads : 1);
    double t0 = omp_get_wtime();
    dnnl_status_t s = dnnl_primitive_execute(e->prim, c->stream, e->bias ? 4 : 3, args);
    if (s == dnnl_success) s = dnnl_stream_wait(c->stream);
    be->stats.gemm_seconds += omp_get_wtime() - t0;
    be->stats.gemm_flops += 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
    be->stats.gemm_calls++;
    return s == dnnl_success ? DM_OK : dnnl_fail(s, "matmul");
}

/* ------------------------------------------------------------------ GELU */

static dm_status eltwise_get(cpu_backend *c, int backward, unsigned log2n, eltwise_entry **out)
{
    eltwise_entry *e = c->gelu[backward][log2n];
    if (e) {
        *out = e;
        return DM_OK;
    }
    size_t n = (size_t)1 << log2n;
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)n};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_f32, dnnl_a);
    if (s != dnnl_success) return dnnl_fail(s, "eltwise memory descriptor");
    dnnl_eltwise_desc_t fwd_d, bwd_d;
    s = dnnl_eltwise_forward_desc_init(&fwd_d, dnnl_forward_training, dnnl_eltwise_gelu_erf, &md, 0, 0);
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, c->engine, NULL);
    if (s == dnnl_success && backward) {
        s = dnnl_eltwise_backward_desc_init(&bwd_d, dnnl_eltwise_gelu_erf, &md, &md, 0, 0);
        if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &bwd_d, NULL, c->engine, fwd_pd);
        dnnl_primitive_desc_destroy(fwd_pd);
    } else {
        pd = fwd_pd;
    }
    if (s != dnnl_success) return dnnl_fail(s, "GELU primitive descriptor");
    e = dmi_calloc(1, sizeof *e);
    if (!e) {
        dnnl_primitive_desc_destroy(pd);
        return DM_ERR_NO_MEMORY;
    }
    e->backward = backward, e->n = n;
    s = dnnl_primitive_create(&e->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_t *mems[4] = {&e->src, &e->dst, &e->diff_dst, &e->diff_src};
    for (int i = 0; i < 4 && s == dnnl_success; i++)
        s = dnnl_memory_create(mems[i], &md, c->engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) {
        if (e->prim) dnnl_primitive_destroy(e->prim);
        for (int i = 0; i < 4; i++)
            if (*mems[i]) dnnl_memory_destroy(*mems[i]);
        free(e);
        return dnnl_fail(s, "GELU primitive");
    }
    c->gelu[backward][log2n] = e;
    *out = e;
    return DM_OK;
}

/* Runs the GELU primitive over N elements in power-of-two pieces, so that a
 * handful of primitives serve every size. */
static dm_status gelu_run(cpu_backend *c, int backward, float *out, const float *inp,
                          const float *dout, size_t n)
{
    omp_set_num_threads(c->base.threads);
    size_t done = 0;
    for (int bit = ELTWISE_SIZES - 1; bit >= 0; bit--) {
        size_t piece = (size_t)1 << bit;
        if (!(n & piece)) continue;
        eltwise_entry *e;
        dm_status st = eltwise_get(c, backward, (unsigned)bit, &e);
        if (st) return st;
        dnnl_memory_set_data_handle(e->src, (void *)(inp + done));
        dnnl_exec_arg_t args[3];
        int nargs;
        if (backward) {
            dnnl_memory_set_data_handle(e->diff_dst, (void *)(dout + done));
            dnnl_memory_set_data_handle(e->diff_src, out + done);
            args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->src};
            args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->diff_dst};
            args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, e->diff_src};
            nargs = 3;
        } else {
            dnnl_memory_set_data_handle(e->dst, out + done);
            args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->src};
            args[1] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->dst};
            nargs = 2;
        }
        dnnl_status_t s = dnnl_primitive_execute(e->prim, c->stream, nargs, args);
        if (s == dnnl_success) s = dnnl_stream_wait(c->stream);
        if (s != dnnl_success) return dnnl_fail(s, "GELU");
        done += piece;
    }
    return DM_OK;
}

static dm_status cpu_gelu_fwd(dmb_backend *be, float *out, const float *inp, size_t n)
{
    return gelu_run(cpu(be), 0, out, inp, NULL, n);
}

static dm_status cpu_gelu_bwd(dmb_backend *be, float *dinp, const float *inp, const float *dout,
                              size_t n)
{
    return gelu_run(cpu(be), 1, dinp, inp, dout, n);
}

/* ------------------------------------------------------------------ element-wise */

DMI_VECTOR_CLONES
static void to_bf16_range(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, &src[i], sizeof x);
        uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16; /* to nearest, ties to even */
        uint32_t nan = (x >> 16) | 0x40u;                           /* quiet NaN, sign kept */
        dst[i] = (uint16_t)((x & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded);
    }
}

static dm_status cpu_to_bf16(dmb_backend *be, uint16_t *dst, const float *src, size_t n)
{
    const size_t chunk = 1 << 14;
    size_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t i = 0; i < chunks; i++) {
        size_t lo = i * chunk, hi = lo + chunk < n ? lo + chunk : n;
        to_bf16_range(dst + lo, src + lo, hi - lo);
    }
    return DM_OK;
}

DMI_VECTOR_CLONES
static void add_range(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static dm_status cpu_add(dmb_backend *be, float *out, const float *inp, const float *res, size_t n)
{
    const size_t chunk = 1 << 14;
    size_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t i = 0; i < chunks; i++) {
        size_t lo = i * chunk, hi = lo + chunk < n ? lo + chunk : n;
        add_range(out + lo, inp + lo, res + lo, hi - lo);
    }
    return DM_OK;
}

DMI_VECTOR_CLONES
static void scale_range(float *x, float s, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* Parallel over (example, chunk of its row) pairs: an example's rows of a
 * book-keeping buffer are T x width floats, often more than the batch. */
static dm_status cpu_scale_examples(dmb_backend *be, float *x, const float *scale, size_t B, size_t n)
{
    const size_t chunk = 1 << 14;
    size_t per = (n + chunk - 1) / chunk, jobs = B * per;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t i = 0; i < jobs; i++) {
        size_t b = i / per, lo = (i % per) * chunk, hi = lo + chunk < n ? lo + chunk : n;
        scale_range(x + b * n + lo, scale[b], hi - lo);
    }
    return DM_OK;
}

static dm_status cpu_tanh_fwd(dmb_backend *be, float *out, const float *inp, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
    return DM_OK;
}

static dm_status cpu_tanh_bwd(dmb_backend *be, float *dinp, const float *out, const float *dout, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * (1.0f - out[i] * out[i]);
    return DM_OK;
}

/* ------------------------------------------------------------------ dropout */

/* Philox words for quads FIRST .. FIRST+N-1 of stream (key, stream): word r
 * of quad q goes to out[4q + r]. dmi_philox's rounds in one flat loop that
 * the compiler vectorises (16 counters per AVX-512 step): a scalar Philox per
 * element made dropout a sixth of a training step. */
DMI_VECTOR_CLONES
static void philox_words(uint32_t *restrict out, uint64_t key, uint64_t stream, uint64_t first, size_t n)
{
    uint32_t k0i = (uint32_t)key, k1i = (uint32_t)(key >> 32);
    uint32_t c2i = (uint32_t)stream, c3i = (uint32_t)(stream >> 32);
    for (size_t q = 0; q < n; q++) {
        uint64_t ctr = first + q;
        uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = c2i, c3 = c3i;
        uint32_t k0 = k0i, k1 = k1i;
        DMI_PHILOX_ROUNDS(c0, c1, c2, c3, k0, k1)
        out[4 * q] = c0;
        out[4 * q + 1] = c1;
        out[4 * q + 2] = c2;
        out[4 * q + 3] = c3;
    }
}

/* The mask, in blocks of DROPOUT_BLOCK elements: element i of a block uses
 * the low 16 bits of the block's word i for i < DROPOUT_BLOCK / 2, and the
 * high 16 bits of word i - DROPOUT_BLOCK / 2 for the second half; the
 * block's words are Philox words numbered from block * DROPOUT_BLOCK / 2.
 * Kept when the 16 bits, as a fraction of 2^16, are >= p (16 bits resolve
 * any rate to 1.5e-5). Two contiguous halves vectorise; one word per two
 * elements halves the Philox work. */
#define DROPOUT_BLOCK 8192

DMI_VECTOR_CLONES
static void dropout_half(float *out, const float *inp, const uint32_t *w, size_t n, int shift, float threshold,
                         float scale)
{
    for (size_t j = 0; j < n; j++) out[j] = (float)((w[j] >> shift) & 0xFFFFu) >= threshold ? inp[j] * scale : 0.0f;
}

static void dropout_apply(int threads, float *out, const float *inp, size_t n, const dmb_dropout *d)
{
    if (d->p <= 0.0f) {
        if (out != inp) memmove(out, inp, n * sizeof *out);
        return;
    }
    enum { HALF = DROPOUT_BLOCK / 2 };
    float scale = 1.0f / (1.0f - d->p), threshold = d->p * 65536.0f;
    size_t blocks = (n + DROPOUT_BLOCK - 1) / DROPOUT_BLOCK;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        uint32_t words[HALF];
        size_t lo = b * DROPOUT_BLOCK, len = n - lo < DROPOUT_BLOCK ? n - lo : DROPOUT_BLOCK;
        size_t first = len < HALF ? len : HALF;
        philox_words(words, d->seed, d->stream, b * (HALF / 4), (first + 3) / 4);
        dropout_half(out + lo, inp + lo, words, first, 0, threshold, scale);
        if (len > HALF) dropout_half(out + lo + HALF, inp + lo + HALF, words, len - HALF, 16, threshold, scale);
    }
}

static dm_status cpu_dropout_fwd(dmb_backend *be, float *out, const float *inp, size_t n, const dmb_dropout *d)
{
    dropout_apply(be->threads, out, inp, n, d);
    return DM_OK;
}

static dm_status cpu_dropout_bwd(dmb_backend *be, float *dinp, const float *dout, size_t n, const dmb_dropout *d)
{
    dropout_apply(be->threads, dinp, dout, n, d);
    return DM_OK;
}

/* ------------------------------------------------------------------ LayerNorm */

DMI_VECTOR_CLONES
static void layernorm_row(float *out, float *mean_out, float *rstd_out, const float *x,
                          const float *w, const float *b, size_t C, float eps)
{
    /* Statistics in double: in float, the mean of a row of equal values is
     * not that value, and at eps 1e-12 its tiny variance is amplified. */
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (size_t i = 0; i < C; i++) sum += x[i];
    double mean_d = sum / (double)C, var = 0.0;
#pragma omp simd reduction(+ : var)
    for (size_t i = 0; i < C; i++) {
        double d = x[i] - mean_d;
        var += d * d;
    }
    var /= (double)C;
    float mean = (float)mean_d;
    float rstd = (float)(1.0 / sqrt(var + (double)eps));
    for (size_t i = 0; i < C; i++) out[i] = (x[i] - mean) * rstd * w[i] + b[i];
    *mean_out = mean;
    *rstd_out = rstd;
}

static dm_status cpu_layernorm_fwd(dmb_backend *be, float *out, float *mean, float *rstd,
                                   const float *inp, const float *w, const float *b, size_t N,
                                   size_t C, float eps)
{
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t r = 0; r < N; r++)
        layernorm_row(out + r * C, mean + r, rstd + r, inp + r * C, w, b, C, eps);
    return DM_OK;
}

/* dinp for one row, and this row's contributions added to dw_acc, db_acc. */
DMI_VECTOR_CLONES
static void layernorm_bwd_row(float *dinp, float *dw_acc, float *db_acc, const float *dout,
                              const float *x, const float *w, float mean, float rstd, size_t C)
{
    float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_dy, sum_dy_xhat)
    for (size_t i = 0; i < C; i++) {
        float xhat = (x[i] - mean) * rstd;
        float dy = dout[i] * w[i];
        sum_dy += dy;
        sum_dy_xhat += dy * xhat;
        dw_acc[i] += dout[i] * xhat;
        db_acc[i] += dout[i];
    }
    float inv_c = 1.0f / (float)C;
    for (size_t i = 0; i < C; i++) {
        float xhat = (x[i] - mean) * rstd;
        float dy = dout[i] * w[i];
        dinp[i] = (dy - inv_c * sum_dy - xhat * inv_c * sum_dy_xhat) * rstd;
    }
}

static dm_status cpu_layernorm_bwd(dmb_backend *be, float *dinp, float *dw, float *db,
                                   const float *dout, const float *inp, const float *w,
                                   const float *mean, const float *rstd, size_t N, size_t C)
{
    cpu_backend *c = cpu(be);
    size_t blocks = (N + ROW_BLOCK - 1) / ROW_BLOCK;
    float *part = workspace(c, blocks * 2 * C);
    if (!part) return DM_ERR_NO_MEMORY;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t blk = 0; blk < blocks; blk++) {
        float *pw = part + blk * 2 * C, *pb = pw + C;
        memset(pw, 0, 2 * C * sizeof *pw);
        size_t hi = (blk + 1) * ROW_BLOCK < N ? (blk + 1) * ROW_BLOCK : N;
        for (size_t r = blk * ROW_BLOCK; r < hi; r++)
            layernorm_bwd_row(dinp + r * C, pw, pb, dout + r * C, inp + r * C, w, mean[r], rstd[r], C);
    }
    for (size_t blk = 0; blk < blocks; blk++) {
        const float *pw = part + blk * 2 * C, *pb = pw + C;
        for (size_t i = 0; dw && i < C; i++) dw[i] += pw[i];
        for (size_t i = 0; db && i < C; i++) db[i] += pb[i];
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ bias gradient */

static dm_status cpu_bias_bwd(dmb_backend *be, float *dbias, const float *dout, size_t rows, size_t n)
{
    /* Parallel over column strips; each strip sums its rows in order. */
    const size_t strip = 64;
    size_t strips = (n + strip - 1) / strip;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t s = 0; s < strips; s++) {
        size_t lo = s * strip, hi = lo + strip < n ? lo + strip : n;
        float acc[64] = {0};
        for (size_t r = 0; r < rows; r++)
            for (size_t j = lo; j < hi; j++) acc[j - lo] += dout[r * n + j];
        for (size_t j = lo; j < hi; j++) dbias[j] += acc[j - lo];
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ embeddings */

static dm_status cpu_embed_fwd(dmb_backend *be, float *out, const int32_t *ids, const int32_t *types,
                               const float *wte, const float *wpe, const float *wtt, size_t B, size_t T, size_t C)
{
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        const float *e = wte + (size_t)ids[bt] * C, *p = wpe + (bt % T) * C;
        const float *ty = wtt + (size_t)types[bt] * C;
        float *o = out + bt * C;
        for (size_t i = 0; i < C; i++) o[i] = e[i] + ty[i] + p[i];
    }
    return DM_OK;
}

/* One table's scatter-add: TABLE[index(bt)] += dout[bt] for every token. */
static void scatter_add(int threads, float *table, const float *dout, const int32_t *index, size_t T,
                        size_t BT, size_t C)
{
    /* Each thread owns a strip of channels and walks the tokens in order:
     * no two threads write one float, and the order of additions is fixed. */
    const size_t strip = 16;
    size_t strips = (C + strip - 1) / strip;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t s = 0; s < strips; s++) {
        size_t lo = s * strip, hi = lo + strip < C ? lo + strip : C;
        for (size_t bt = 0; bt < BT; bt++) {
            const float *d = dout + bt * C;
            float *row = table + (index ? (size_t)index[bt] : bt % T) * C;
            for (size_t i = lo; i < hi; i++) row[i] += d[i];
        }
    }
}

static dm_status cpu_embed_bwd(dmb_backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                               const int32_t *ids, const int32_t *types, size_t B, size_t T, size_t C)
{
    if (dwte) scatter_add(be->threads, dwte, dout, ids, T, B * T, C);
    if (dwpe) scatter_add(be->threads, dwpe, dout, NULL, T, B * T, C);
    if (dwtt) scatter_add(be->threads, dwtt, dout, types, T, B * T, C);
    return DM_OK;
}

/* ------------------------------------------------------------------ attention */

/* exp(x) for x <= 0 to within 2 ulp (Cephes' expf polynomial), written so that
 * the compiler vectorises it. */
static inline float exp_nonpositive(float x)
{
    /* Written so that NaN (a diverged model) lands in range too: the float
     * to int conversion below must never see an out-of-range value. */
    x = x >= -87.0f ? x : -87.0f;
    x = x <= 0.0f ? x : 0.0f;
    float t = x * 1.44269504088896341f;
    float fn = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t e = (uint32_t)((int32_t)fn + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

/* Softmax over one row of scores, in place; keys with mask 0 get 0. */
DMI_VECTOR_CLONES
static void softmax_row(float *row, const float *mask, size_t T)
{
    /* "omp simd" reductions let the compiler use vector lanes, which it may
     * not do for float sums on its own (that reorders the additions). */
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (size_t j = 0; j < T; j++) {
        float v = mask[j] != 0.0f ? row[j] : -INFINITY;
        mx = v > mx ? v : mx;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (size_t j = 0; j < T; j++) {
        float e = mask[j] != 0.0f ? exp_nonpositive(row[j] - mx) : 0.0f;
        row[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (size_t j = 0; j < T; j++) row[j] *= inv;
}

/* Softmax backward on one row: dscores = att * (datt - sum(att * datt)) * scale. */
DMI_VECTOR_CLONES
static void softmax_bwd_row(float *dscores, const float *att, const float *datt, size_t T, float scale)
{
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (size_t j = 0; j < T; j++) dot += att[j] * datt[j];
    for (size_t j = 0; j < T; j++) dscores[j] = att[j] * (datt[j] - dot) * scale;
}

/* qkv (B, T, 3, H, D) -> qkvr (3, B, H, T, D), or the reverse (MERGE). */
static void permute_heads(int threads, float *qkv, float *qkvr, size_t B, size_t T, size_t H, size_t D,
                          bool merge)
{
    size_t C = H * D;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        size_t b = bt / T, t = bt % T;
        for (size_t part = 0; part < 3; part++)
            for (size_t h = 0; h < H; h++) {
                float *row = qkv + bt * 3 * C + part * C + h * D;
                float *head = qkvr + (((part * B + b) * H + h) * T + t) * D;
                if (merge) memcpy(row, head, D * sizeof(float));
                else memcpy(head, row, D * sizeof(float));
            }
    }
}

/* y (B, H, T, D) -> out (B, T, H*D), or the reverse. */
static void heads_to_rows(int threads, float *out, const float *y, size_t B, size_t T, size_t H,
                          size_t D, int reverse)
{
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t bt = 0; bt < B * T; bt++) {
        size_t b = bt / T, t = bt % T;
        for (size_t h = 0; h < H; h++) {
            float *row = out + bt * H * D + h * D;
            float *head = (float *)y + ((b * H + h) * T + t) * D;
            if (reverse) memcpy(head, row, D * sizeof(float));
            else memcpy(row, head, D * sizeof(float));
        }
    }
}

/* Batched product over the B*H heads: C = alpha op(A) op(B). */
static dm_status head_gemm(dmb_backend *be, int ta, int tb, size_t m, size_t n, size_t k,
                           const void *a, size_t lda, size_t sa, const void *b, size_t ldb,
                           size_t sb, float *c, size_t ldc, size_t sc, size_t batch, float alpha, int bf16)
{
    dmb_gemm g = {.trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k, .a = a, .lda = lda,
                  .stride_a = sa, .b = b, .ldb = ldb, .stride_b = sb, .c = c, .ldc = ldc,
                  .stride_c = sc, .batch = batch, .alpha = alpha, .beta = 0.0f, .bf16 = bf16};
    return cpu_gemm(be, &g);
}

/* The state: the heads split out (qkvr: 3 x B x H x T x D) and the
 * probabilities before dropout (att: B x H x T x T). */
static size_t cpu_attention_state_bytes(dmb_backend *be, const dmb_attention *a)
{
    (void)be;
    size_t BH = a->B * a->H;
    return (3 * BH * a->T * a->D + BH * a->T * a->T) * sizeof(float);
}

static size_t cpu_attention_scratch_bytes(dmb_backend *be, const dmb_attention *a)
{
    return cpu_attention_state_bytes(be, a);
}

static dm_status cpu_attention_fwd(dmb_backend *be, float *out, void *state, const float *qkv,
                                   const dmb_attention *a)
{
    cpu_backend *c = cpu(be);
    size_t B = a->B, T = a->T, H = a->H, D = a->D, BH = B * H;
    float *qkvr = state, *att = qkvr + 3 * BH * T * D;
    int dropping = a->dropout.p > 0.0f, bf16 = a->bf16;
    /* workspace: y (f32), then dropped probabilities (f32), or the bfloat16
     * copies of q, k, v and of the probabilities */
    /* y, then the dropped probabilities, then the bfloat16 copies: each its
     * own region (the copies once overwrote the dropped probabilities). */
    size_t drop_floats = dropping ? BH * T * T : 0;
    size_t half_floats = bf16 ? (3 * BH * T * D + BH * T * T + 1) / 2 : 0;
    float *ws = workspace(c, BH * T * D + drop_floats + half_floats);
    if (!ws) return DM_ERR_NO_MEMORY;
    float *y = ws, *att_dropped = dropping ? ws + BH * T * D : att;
    uint16_t *qkv16 = (uint16_t *)(ws + BH * T * D + drop_floats), *att16 = qkv16 + 3 * BH * T * D;
    permute_heads(be->threads, (float *)qkv, qkvr, B, T, H, D, false);
    const void *q = qkvr, *k = qkvr + BH * T * D, *v = qkvr + 2 * BH * T * D;
    if (bf16) {
        (void)cpu_to_bf16(be, qkv16, qkvr, 3 * BH * T * D);
        q = qkv16, k = qkv16 + BH * T * D, v = qkv16 + 2 * BH * T * D;
    }
    dm_status st = head_gemm(be, 0, 1, T, T, D, q, D, T * D, k, D, T * D, att, T, T * T, BH,
                             1.0f / sqrtf((float)D), bf16);
    if (st) return st;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t row = 0; row < BH * T; row++)
        softmax_row(att + row * T, a->key_mask + (row / (H * T)) * T, T);
    if (dropping) dropout_apply(be->threads, att_dropped, att, BH * T * T, &a->dropout);
    const void *probs = att_dropped;
    if (bf16) {
        (void)cpu_to_bf16(be, att16, att_dropped, BH * T * T);
        probs = att16;
    }
    st = head_gemm(be, 0, 0, T, D, T, probs, T, T * T, v, D, T * D, y, D, T * D, BH, 1.0f, bf16);
    if (st) return st;
    heads_to_rows(be->threads, out, y, B, T, H, D, 0);
    return DM_OK;
}

static dm_status cpu_attention_bwd(dmb_backend *be, float *dqkv, void *scratch_v, const float *dout,
                                   const float *qkv, const float *out, const void *state, const dmb_attention *a)
{
    (void)qkv, (void)out; /* the state has both in the form the products need */
    size_t B = a->B, T = a->T, H = a->H, D = a->D, BH = B * H;
    const float *qkvr = state, *att = qkvr + 3 * BH * T * D;
    float *scratch = scratch_v, *dqkvr = scratch, *datt = scratch + 3 * BH * T * D;
    float *dq = dqkvr, *dk = dqkvr + BH * T * D, *dv = dqkvr + 2 * BH * T * D;
    const float *q = qkvr, *k = qkvr + BH * T * D, *v = qkvr + 2 * BH * T * D;
    float *dy = dq; /* dout split into heads; dq is written only after its last use */
    heads_to_rows(be->threads, (float *)dout, dy, B, T, H, D, 1);

    /* dv = dropout(att)^T dy; the dropped probabilities go through datt. */
    const float *att_used = att;
    if (a->dropout.p > 0.0f) {
        dropout_apply(be->threads, datt, att, BH * T * T, &a->dropout);
        att_used = datt;
    }
    dm_status st = head_gemm(be, 1, 0, T, D, T, att_used, T, T * T, dy, D, T * D, dv, D, T * D, BH, 1.0f, 0);
    if (st) return st;
    /* datt = dy v^T, then back through dropout and softmax (in place). */
    st = head_gemm(be, 0, 1, T, T, D, dy, D, T * D, v, D, T * D, datt, T, T * T, BH, 1.0f, 0);
    if (st) return st;
    if (a->dropout.p > 0.0f) dropout_apply(be->threads, datt, datt, BH * T * T, &a->dropout);
    float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t row = 0; row < BH * T; row++)
        softmax_bwd_row(datt + row * T, att + row * T, datt + row * T, T, scale);
    /* dq = dscores k, dk = dscores^T q. */
    st = head_gemm(be, 0, 0, T, D, T, datt, T, T * T, k, D, T * D, dq, D, T * D, BH, 1.0f, 0);
    if (st) return st;
    st = head_gemm(be, 1, 0, T, D, T, datt, T, T * T, q, D, T * D, dk, D, T * D, BH, 1.0f, 0);
    if (st) return st;
    permute_heads(be->threads, dqkv, dqkvr, B, T, H, D, true);
    return DM_OK;
}

/* ------------------------------------------------------------------ head, loss */

/* The number of real tokens of one sequence, as sentence-transformers
 * divides: max(count, 1e-9). */
static double real_tokens(const float *mask, size_t T)
{
    double count = 0.0;
    for (size_t t = 0; t < T; t++) count += mask[t];
    return count > 1e-9 ? count : 1e-9;
}

static dm_status cpu_pool_fwd(dmb_backend *be, float *out, const float *inp, const float *key_mask, size_t B,
                              size_t T, size_t C, dmb_pool mode)
{
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t b = 0; b < B; b++) {
        const float *h = inp + b * T * C, *mask = key_mask + b * T;
        if (mode == DMB_POOL_FIRST) {
            memcpy(out + b * C, h, C * sizeof(float));
            continue;
        }
        double count = real_tokens(mask, T);
        for (size_t c = 0; c < C; c++) {
            double sum = 0.0;
            for (size_t t = 0; t < T; t++) sum += (double)h[t * C + c] * mask[t];
            out[b * C + c] = (float)(sum / count);
        }
    }
    return DM_OK;
}

static dm_status cpu_pool_bwd(dmb_backend *be, float *dinp, const float *dout, const float *key_mask, size_t B,
                              size_t T, size_t C, dmb_pool mode)
{
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t b = 0; b < B; b++) {
        float *d = dinp + b * T * C;
        const float *g = dout + b * C, *mask = key_mask + b * T;
        if (mode == DMB_POOL_FIRST) {
            for (size_t c = 0; c < C; c++) d[c] += g[c];
            continue;
        }
        double count = real_tokens(mask, T);
        for (size_t t = 0; t < T; t++) {
            if (mask[t] == 0.0f) continue;
            float f = (float)(mask[t] / count);
            for (size_t c = 0; c < C; c++) d[t * C + c] += g[c] * f;
        }
    }
    return DM_OK;
}

static dm_status cpu_xent_fwd_bwd(dmb_backend *be, float *losses, float *dlogits, const float *logits,
                                  const int32_t *labels, const float *w, size_t B, size_t L, float grad_scale)
{
    (void)be;
    for (size_t b = 0; b < B; b++) {
        const float *z = logits + b * L;
        int32_t y = labels[b];
        if (y < 0) {
            losses[b] = 0.0f;
            if (dlogits) memset(dlogits + b * L, 0, L * sizeof(float));
            continue;
        }
        /* log-sum-exp in double: the loss is compared with PyTorch's to 1e-6. */
        double mx = z[0];
        for (size_t j = 1; j < L; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0.0;
        for (size_t j = 0; j < L; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        double wy = w ? w[b] : 1.0;
        losses[b] = (float)((lse - z[y]) * wy);
        if (dlogits)
            for (size_t j = 0; j < L; j++) {
                double p = exp((double)z[j] - lse);
                dlogits[b * L + j] = (float)((p - (j == (size_t)y)) * wy * grad_scale);
            }
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ optimiser */

DMI_VECTOR_CLONES
static double sum_squares_range(const float *x, size_t n)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

DMI_VECTOR_CLONES
static double sum_range(const float *x, size_t n)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)x[i];
    return s;
}

/* Partial sums of fixed chunks added in order: the same double whatever
 * the thread count. */
static dm_status cpu_reduce(dmb_backend *be, double *dst, const float *x, size_t n, dmb_reduce kind, int accumulate)
{
    cpu_backend *c = cpu(be);
    const size_t chunk = 1 << 16;
    size_t chunks = (n + chunk - 1) / chunk;
    double *part = (double *)workspace(c, 2 * chunks + 2);
    if (!part) return DM_ERR_NO_MEMORY;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t i = 0; i < chunks; i++) {
        size_t lo = i * chunk, hi = lo + chunk < n ? lo + chunk : n;
        part[i] = kind == DMB_SUM_SQUARES ? sum_squares_range(x + lo, hi - lo) : sum_range(x + lo, hi - lo);
    }
    double s = 0.0;
    for (size_t i = 0; i < chunks; i++) s += part[i];
    *dst = accumulate ? *dst + s : s;
    return DM_OK;
}

DMI_VECTOR_CLONES
static void adamw_range(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float eps,
                        float decay, float step_size, float sqrt_bc2, float grad_scale)
{
    float w1 = 1.0f - b1, w2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * grad_scale;
        float param = p[i] * decay;
        float mi = m[i] + w1 * (grad - m[i]); /* torch's lerp for weights < 0.5 */
        float vi = v[i] * b2 + w2 * grad * grad;
        m[i] = mi;
        v[i] = vi;
        p[i] = param - step_size * (mi / (sqrtf(vi) / sqrt_bc2 + eps));
    }
}

static dm_status cpu_adamw(dmb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                           float beta1, float beta2, float eps, float wd, uint64_t step, float grad_scale)
{
    /* The operations of torch.optim.AdamW's single-tensor path, in its order:
     * decay, lerp of the first moment, the second moment, then the update
     * with bias corrections computed in double and used as floats. */
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    float step_size = (float)((double)lr / bc1);
    float sqrt_bc2 = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)wd);
    const size_t chunk = 1 << 15;
    size_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t i = 0; i < chunks; i++) {
        size_t lo = i * chunk, hi = lo + chunk < n ? lo + chunk : n;
        adamw_range(p + lo, g + lo, m + lo, v + lo, hi - lo, beta1, beta2, eps, decay, step_size, sqrt_bc2,
                    grad_scale);
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ per-example squared gradient norms */

/* DP-SGD's per-example norms. Each op cuts its work into tasks (example,
 * piece), each writing its own double partial sum; each example's partials
 * are then added in piece order and to sq[b] with one rounding. Any schedule
 * gives the same bits, whatever the thread count. Products of floats are
 * exact in double, so sums of them are taken in double throughout (4 lanes
 * per AVX2 step, 8 per AVX-512 step). */

#define SQN_ROWS 16    /* output channels per piece of the direct linear weight norm */
#define SQN_CHANNELS 256 /* channels per piece of the LayerNorm norms */

DMI_VECTOR_CLONES
static double dot_double(const float *a, const float *b, size_t n)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* ACC[i] += g * X[i] (N doubles). */
DMI_VECTOR_CLONES
static void axpy_double(double *restrict acc, double g, const float *restrict x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) acc[i] += g * (double)x[i];
}

DMI_VECTOR_CLONES
static double sum_sq_double(const double *x, size_t n)
{
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* Row T's part of example B's ghost norm: sum over s <= t of (x_t . x_s)
 * (g_t . g_s), the pairs s < t twice (the Gram matrices are symmetric). */
static double ghost_row(const float *dout, const float *inp, size_t b, size_t t, size_t T, size_t n_in,
                        size_t n_out)
{
    const float *xt = inp + (b * T + t) * n_in, *gt = dout + (b * T + t) * n_out;
    double s = 0.0;
    for (size_t u = 0; u < t; u++) {
        const float *xu = inp + (b * T + u) * n_in, *gu = dout + (b * T + u) * n_out;
        s += dot_double(xt, xu, n_in) * dot_double(gt, gu, n_out);
    }
    return 2.0 * s + dot_double(xt, xt, n_in) * dot_double(gt, gt, n_out);
}

/* Output channels [O0, O1) of example B's gradient dW = sum_t g_t^T x_t,
 * formed row by row in ROW (n_in doubles, tokens in order), squared and
 * summed. */
static double direct_rows(double *row, const float *dout, const float *inp, size_t b, size_t o0, size_t o1, size_t T,
                          size_t n_in, size_t n_out)
{
    double s = 0.0;
    for (size_t o = o0; o < o1; o++) {
        memset(row, 0, n_in * sizeof *row);
        for (size_t t = 0; t < T; t++) {
            float g = dout[(b * T + t) * n_out + o];
            axpy_double(row, g, inp + (b * T + t) * n_in, n_in);
        }
        s += sum_sq_double(row, n_in);
    }
    return s;
}

/* Example B's bias part: ||sum_t g_t||^2 over N channels, the columns
 * [C0, C1) of it, in ROW (C1 - C0 doubles). */
static double colsum_sq(double *row, const float *dout, size_t b, size_t T, size_t N, size_t c0, size_t c1)
{
    memset(row, 0, (c1 - c0) * sizeof *row);
    for (size_t t = 0; t < T; t++) axpy_double(row, 1.0, dout + (b * T + t) * N + c0, c1 - c0);
    return sum_sq_double(row, c1 - c0);
}

/* Adds each example's PER partials (and BIAS[b] when given) to sq[b]. */
static void add_partials(float *sq, const double *part, size_t per, const double *bias, size_t B)
{
    for (size_t b = 0; b < B; b++) {
        double s = sq[b];
        for (size_t p = 0; p < per; p++) s += part[b * per + p];
        if (bias) s += bias[b];
        sq[b] = (float)s;
    }
}

/* The weight's norm by the ghost identity or directly, whichever does fewer
 * multiply-adds per example: the ghost norm takes T (T + 1) / 2 pairs of
 * dot products (n_in + n_out each), the direct gradient T n_in n_out
 * (plus n_in n_out squares). With T >= min(n_in, n_out) the direct one
 * wins (long sequences through a narrow layer); for BERT's T of 16..128
 * against 384..3072 channels, and T = 1 (head, pooler: two dot products),
 * the ghost norm does. Measured on 2 cores (B = 32): T = 128, 384 x 1536
 * ghost 0.22 s vs direct 0.74 s, 384 x 384 0.10 vs 0.16 s; T = 512, 64 x 64
 * ghost 0.25 s vs direct 0.05 s: the rule picks the faster in each. Pieces:
 * a token row of the Gram matrices (ghost) or SQN_ROWS output channels
 * (direct); the bias adds a piece per example. */
static dm_status cpu_example_sqnorm_linear(dmb_backend *be, float *sq, const float *dout, const float *inp, size_t B,
                                           size_t T, size_t n_in, size_t n_out, int weight, int bias)
{
    if (!B || (!weight && !bias)) return DM_OK;
    cpu_backend *c = cpu(be);
    double ghost_cost = (double)T * (double)(T + 1) / 2.0 * (double)(n_in + n_out);
    double direct_cost = (double)T * (double)n_in * (double)n_out + (double)n_in * (double)n_out;
    int ghost = ghost_cost <= direct_cost;
    /* With T > 1 the ghost norm's Gram matrices come from two batched
     * float32 products (as every product of training), and each example's
     * sum of their element-wise products is taken in double. */
    int gram = weight && ghost && T > 1;
    size_t per = !weight ? 0 : gram ? 1 : ghost ? T : (n_out + SQN_ROWS - 1) / SQN_ROWS;
    size_t threads = (size_t)be->threads, row_len = n_in > n_out ? n_in : n_out;
    /* doubles: the partials, the bias parts, a row per thread; then the
     * Gram matrices' floats */
    size_t doubles = B * per + B + threads * (row_len ? row_len : 1), TT = gram ? T * T : 0;
    float *ws = workspace(c, 2 * doubles + 2 * B * TT);
    if (!ws) return DM_ERR_NO_MEMORY;
    double *part = (double *)ws;
    double *bpart = part + B * per, *rows = bpart + B;
    float *g_in = ws + 2 * doubles, *g_out = g_in + B * TT;
    if (gram) {
        dmb_gemm gx = {.trans_b = 1, .m = T, .n = T, .k = n_in, .a = inp, .lda = n_in, .stride_a = T * n_in,
                       .b = inp, .ldb = n_in, .stride_b = T * n_in, .c = g_in, .ldc = T, .stride_c = TT,
                       .batch = B, .alpha = 1.0f};
        dmb_gemm gg = gx;
        gg.k = n_out, gg.a = gg.b = dout, gg.lda = gg.ldb = n_out, gg.stride_a = gg.stride_b = T * n_out;
        gg.c = g_out;
        dm_status s = cpu_gemm(be, &gx);
        if (!s) s = cpu_gemm(be, &gg);
        if (s) return s;
    }
    size_t tasks = B * per + (bias ? B : 0);
#pragma omp parallel for num_threads(be->threads) schedule(dynamic, 1)
    for (size_t k = 0; k < tasks; k++) {
        double *row = rows + (size_t)omp_get_thread_num() * row_len;
        if (k >= B * per) {
            size_t b = k - B * per;
            bpart[b] = colsum_sq(row, dout, b, T, n_out, 0, n_out);
            continue;
        }
        size_t b = k / per, p = k % per;
        if (gram) part[k] = dot_double(g_in + b * TT, g_out + b * TT, TT);
        else if (ghost) part[k] = ghost_row(dout, inp, b, p, T, n_in, n_out);
        else {
            size_t o0 = p * SQN_ROWS, o1 = o0 + SQN_ROWS < n_out ? o0 + SQN_ROWS : n_out;
            part[k] = direct_rows(row, dout, inp, b, o0, o1, T, n_in, n_out);
        }
    }
    add_partials(sq, part, per, bias ? bpart : NULL, B);
    return DM_OK;
}

/* Channels [C0, C1) of example B's LayerNorm norms: sum_t g_t * xhat_t
 * (xhat in double from the saved statistics) and sum_t g_t, each squared. */
DMI_VECTOR_CLONES
static double ln_piece(double *restrict sw, double *restrict sb, const float *dout, const float *inp,
                       const float *mean, const float *rstd, size_t b, size_t T, size_t C, size_t c0, size_t c1,
                       int weight, int bias)
{
    size_t n = c1 - c0;
    memset(sw, 0, n * sizeof *sw);
    memset(sb, 0, n * sizeof *sb);
    for (size_t t = 0; t < T; t++) {
        size_t r = b * T + t;
        const float *g = dout + r * C + c0, *x = inp + r * C + c0;
        double m = mean[r], rs = rstd[r];
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            sw[i] += (double)g[i] * (((double)x[i] - m) * rs);
            sb[i] += (double)g[i];
        }
    }
    double s = 0.0;
    if (weight) s += sum_sq_double(sw, n);
    if (bias) s += sum_sq_double(sb, n);
    return s;
}

static dm_status cpu_example_sqnorm_layernorm(dmb_backend *be, float *sq, const float *dout, const float *inp,
                                              const float *mean, const float *rstd, size_t B, size_t T, size_t C,
                                              int weight, int bias)
{
    if (!B || (!weight && !bias)) return DM_OK;
    cpu_backend *c = cpu(be);
    size_t per = (C + SQN_CHANNELS - 1) / SQN_CHANNELS;
    if (!per) per = 1;
    size_t doubles = B * per + (size_t)be->threads * 2 * SQN_CHANNELS;
    double *part = (double *)workspace(c, 2 * doubles);
    if (!part) return DM_ERR_NO_MEMORY;
    double *rows = part + B * per;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t k = 0; k < B * per; k++) {
        double *sw = rows + (size_t)omp_get_thread_num() * 2 * SQN_CHANNELS, *sb = sw + SQN_CHANNELS;
        size_t b = k / per, c0 = k % per * SQN_CHANNELS, c1 = c0 + SQN_CHANNELS < C ? c0 + SQN_CHANNELS : C;
        part[k] = ln_piece(sw, sb, dout, inp, mean, rstd, b, T, C, c0, c1, weight, bias);
    }
    add_partials(sq, part, per, NULL, B);
    return DM_OK;
}

/* Example B's sum over the distinct values of INDEX of ||sum of their
 * tokens' rows||^2: a group is summed (in token order, into SUM: C
 * doubles) when its first token is met. */
static double grouped_sq(double *sum, const float *dout, const int32_t *index, size_t b, size_t T, size_t C)
{
    const int32_t *id = index + b * T;
    double total = 0.0;
    for (size_t t = 0; t < T; t++) {
        int seen = 0;
        for (size_t u = 0; u < t && !seen; u++) seen = id[u] == id[t];
        if (seen) continue;
        memset(sum, 0, C * sizeof *sum);
        for (size_t u = t; u < T; u++)
            if (id[u] == id[t]) axpy_double(sum, 1.0, dout + (b * T + u) * C, C);
        total += sum_sq_double(sum, C);
    }
    return total;
}

/* A task per example: its words, positions and types in that order. */
static dm_status cpu_example_sqnorm_embed(dmb_backend *be, float *sq, const float *dout, const int32_t *ids,
                                          const int32_t *types, size_t B, size_t T, size_t C, int words,
                                          int positions, int types_table)
{
    if (!B || (!words && !positions && !types_table)) return DM_OK;
    cpu_backend *c = cpu(be);
    size_t doubles = B + (size_t)be->threads * (C ? C : 1);
    double *part = (double *)workspace(c, 2 * doubles);
    if (!part) return DM_ERR_NO_MEMORY;
    double *rows = part + B;
#pragma omp parallel for num_threads(be->threads) schedule(static)
    for (size_t b = 0; b < B; b++) {
        double *sum = rows + (size_t)omp_get_thread_num() * (C ? C : 1);
        double s = 0.0;
        if (words) s += grouped_sq(sum, dout, ids, b, T, C);
        if (positions) s += dot_double(dout + b * T * C, dout + b * T * C, T * C);
        if (types_table) s += grouped_sq(sum, dout, types, b, T, C);
        part[b] = s;
    }
    add_partials(sq, part, 1, NULL, B);
    return DM_OK;
}

/* ------------------------------------------------------------------ life cycle */

static void cpu_destroy(dmb_backend *be)
{
    cpu_backend *c = cpu(be);
    for (size_t i = 0; i < GEMM_BUCKETS; i++) {
        for (gemm_entry *e = c->gemm_cache[i], *next; e; e = next) {
            next = e->next;
            dnnl_primitive_destroy(e->prim);
            dnnl_memory_destroy(e->a);
            dnnl_memory_destroy(e->b);
            dnnl_memory_destroy(e->c);
            if (e->bias) dnnl_memory_destroy(e->bias);
            free(e);
        }
    }
    for (int bwd = 0; bwd < 2; bwd++)
        for (int i = 0; i < ELTWISE_SIZES; i++) {
            eltwise_entry *e = c->gelu[bwd][i];
            if (!e) continue;
            dnnl_primitive_destroy(e->prim);
            dnnl_memory_destroy(e->src);
            dnnl_memory_destroy(e->dst);
            dnnl_memory_destroy(e->diff_dst);
            dnnl_memory_destroy(e->diff_src);
            free(e);
        }
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->engine) dnnl_engine_destroy(c->engine);
    free(c->ws);
    free(c);
}

static dm_status cpu_upload(dmb_backend *be, void *dst, const void *src, size_t bytes)
{
    return cpu_copy(be, dst, src, bytes);
}

static const struct dmb_ops cpu_ops = {
    .version = DMB_INTERFACE_VERSION,
    .name = "cpu-onednn",
    .device = DM_DEVICE_CPU,
    .destroy = cpu_destroy,
    .synchronize = cpu_synchronize,
    .caps = cpu_caps,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_upload,
    .zero = cpu_zero,
    .gemm = cpu_gemm,
    .bias_bwd = cpu_bias_bwd,
    .to_bf16 = cpu_to_bf16,
    .add = cpu_add,
    .scale_examples = cpu_scale_examples,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .gelu_fwd = cpu_gelu_fwd,
    .gelu_bwd = cpu_gelu_bwd,
    .tanh_fwd = cpu_tanh_fwd,
    .tanh_bwd = cpu_tanh_bwd,
    .dropout_fwd = cpu_dropout_fwd,
    .dropout_bwd = cpu_dropout_bwd,
    .embed_fwd = cpu_embed_fwd,
    .embed_bwd = cpu_embed_bwd,
    .attention_state_bytes = cpu_attention_state_bytes,
    .attention_scratch_bytes = cpu_attention_scratch_bytes,
    .attention_fwd = cpu_attention_fwd,
    .attention_bwd = cpu_attention_bwd,
    .pool_fwd = cpu_pool_fwd,
    .pool_bwd = cpu_pool_bwd,
    .xent_fwd_bwd = cpu_xent_fwd_bwd,
    .reduce = cpu_reduce,
    .adamw = cpu_adamw,
    .example_sqnorm_linear = cpu_example_sqnorm_linear,
    .example_sqnorm_layernorm = cpu_example_sqnorm_layernorm,
    .example_sqnorm_embed = cpu_example_sqnorm_embed,
};

/* Whether oneDNN makes a bfloat16 matrix product on this CPU: asked once, so
 * that caps can say it and a precision change fails at once, not mid-way. */
static int probe_bf16(cpu_backend *c)
{
    gemm_key k;
    memset(&k, 0, sizeof k);
    k.trans_b = 1, k.alpha = 1.0f, k.bf16 = 1, k.m = k.n = k.k = k.lda = k.ldb = k.ldc = 16, k.batch = 1;
    gemm_entry *e = NULL;
    if (gemm_create(c, &k, &e)) return 0;
    size_t h = gemm_hash(&k);
    e->next = c->gemm_cache[h];
    c->gemm_cache[h] = e;
    return 1;
}

dm_status dmb_cpu_create(int threads, dmb_backend **out)
{
    cpu_backend *c = dmi_calloc(1, sizeof *c);
    if (!c) return DM_ERR_NO_MEMORY;
    c->base.ops = &cpu_ops;
    dnnl_status_t s = dnnl_engine_create(&c->engine, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        cpu_destroy(&c->base);
        return dnnl_fail(s, "creating the CPU engine");
    }
    c->base.threads = threads > 0 ? threads : dmi_cpu_count();
    c->bf16_ok = probe_bf16(c);
    *out = &c->base;
    return DM_OK;
}
