/*
 * backend_cuda.c — the CUDA backend's host side: backend.h's operations
 * checked, turned into launches of our kernels (kernels/, dmk_kernels.h) on
 * one stream, and their errors collected.
 *
 * Built in one of two ways (meson):
 *  - backend "cuda": with the kernels compiled by nvcc and the CUDA runtime
 *    (kernels/runtime_cuda.cu);
 *  - backend "cuda-emu" (DM_CUDA_EMU): with the same kernel sources compiled
 *    as host C++ against our emulation layer (kernels/emu). Its memory is
 *    host memory but it says it is not (caps.host_memory 0), so the model
 *    and trainer take their GPU paths and the op suite and a training run
 *    check this file and every kernel on the CPU, in CI.
 *
 * Errors: a launch with a bad configuration is caught after the op
 * (DM_ERR_INTERNAL naming the op); a kernel's failure while running shows at
 * the next synchronising call (download, synchronize), as backend.h allows.
 */
#include "backend.h"
#include "../../kernels/dmk_kernels.h"
#include "../../kernels/dmk_runtime.h"

#include <stdlib.h>
#include <string.h>

#if DM_CUDA_EMU
#define CUDA_NAME "cuda-emu"
#else
#define CUDA_NAME "cuda"
#endif

/* A live allocation and its size, for caps.memory_used. */
typedef struct cuda_block {
    void *p;
    size_t bytes;
} cuda_block;

typedef struct cuda_backend {
    dmb_backend base;
    void *stream;
    dmk_device_info info;
    cuda_block *blocks; /* live allocations (few: the model allocates large buffers) */
    size_t n_blocks, cap_blocks;
    void *scratch;      /* grow-only scratch for launchers (dmk_env.scratch) */
    size_t scratch_bytes;
    int scratch_failed;
} cuda_backend;

static cuda_backend *cb(dmb_backend *be) { return (cuda_backend *)be; }

/* ------------------------------------------------------------------ errors */

static dm_status rt_fail(const char *op, const char *why)
{
    return dmi_fail(DM_ERR_INTERNAL, "%s %s: %s", CUDA_NAME, op, why);
}

/* After each op: a launcher's scratch request that failed, or a launch the
 * runtime refused. */
static dm_status launched(cuda_backend *c, const char *op, int rc)
{
    char why[256];
    if (rc != 0 || c->scratch_failed) {
        c->scratch_failed = 0;
        dmk_rt_launch_error(why, sizeof why); /* clear a pending one */
        return dmi_fail(DM_ERR_NO_MEMORY, "%s %s: no device memory for %zu bytes of scratch", CUDA_NAME, op,
                        c->scratch_bytes);
    }
    if (dmk_rt_launch_error(why, sizeof why)) return rt_fail(op, why);
    return DM_OK;
}

/* ------------------------------------------------------------------ memory */

static void *cuda_scratch(void *owner, size_t bytes)
{
    cuda_backend *c = owner;
    if (bytes <= c->scratch_bytes && c->scratch) return c->scratch;
    char why[256];
    dmk_rt_synchronize(c->stream, why, sizeof why); /* the old scratch may be in use by queued work */
    dmk_rt_free(c->scratch);
    c->scratch = dmk_rt_alloc(bytes);
    c->scratch_bytes = c->scratch ? bytes : 0;
    if (!c->scratch) c->scratch_failed = 1, c->scratch_bytes = bytes;
    return c->scratch;
}

static dmk_env env_of(cuda_backend *c)
{
    dmk_env e = {c->stream, cuda_scratch, c, c->info.emulated ? 0 : c->info.sm, 0};
    return e;
}

static void *cuda_alloc(dmb_backend *be, size_t bytes)
{
    cuda_backend *c = cb(be);
    size_t rounded = (bytes + 255) / 256 * 256;
    if (rounded < bytes) rounded = 0;
    if (c->n_blocks == c->cap_blocks) {
        size_t cap = c->cap_blocks ? 2 * c->cap_blocks : 64;
        cuda_block *b = realloc(c->blocks, cap * sizeof *b);
        if (!b) {
            dmi_fail(DM_ERR_NO_MEMORY, "%s: out of host memory for the allocation table", CUDA_NAME);
            return NULL;
        }
        c->blocks = b, c->cap_blocks = cap;
    }
    /* Exactly BYTES: in the emulation under AddressSanitizer a kernel
     * touching memory past a buffer's end is then caught (the count below
     * is what the device's allocator would use). */
    void *p = rounded ? dmk_rt_alloc(bytes ? bytes : 1) : NULL;
    if (!p) {
        dmi_fail(DM_ERR_NO_MEMORY, "%s: out of device memory allocating %zu bytes (%zu in use)", CUDA_NAME, bytes,
                 be->mem_used);
        return NULL;
    }
    c->blocks[c->n_blocks++] = (cuda_block){p, rounded};
    dmb_note_alloc(be, rounded);
    return p;
}

static void cuda_free(dmb_backend *be, void *p)
{
    cuda_backend *c = cb(be);
    if (!p) return;
    for (size_t i = c->n_blocks; i-- > 0;)
        if (c->blocks[i].p == p) {
            be->mem_used -= c->blocks[i].bytes;
            c->blocks[i] = c->blocks[--c->n_blocks];
            dmk_rt_free(p);
            return;
        }
}

static dm_status cuda_upload(dmb_backend *be, void *dst, const void *src, size_t bytes)
{
    char why[256];
    if (bytes && dmk_rt_upload(cb(be)->stream, dst, src, bytes, why, sizeof why)) return rt_fail("upload", why);
    return DM_OK;
}

static dm_status cuda_download(dmb_backend *be, void *dst, const void *src, size_t bytes)
{
    char why[256];
    if (bytes && dmk_rt_download(cb(be)->stream, dst, src, bytes, why, sizeof why)) return rt_fail("download", why);
    return DM_OK;
}

static dm_status cuda_zero(dmb_backend *be, void *dst, size_t bytes)
{
    char why[256];
    if (bytes && dmk_rt_zero(cb(be)->stream, dst, bytes, why, sizeof why)) return rt_fail("zero", why);
    return DM_OK;
}

static dm_status cuda_synchronize(dmb_backend *be)
{
    char why[256];
    if (dmk_rt_synchronize(cb(be)->stream, why, sizeof why)) return rt_fail("synchronize", why);
    return DM_OK;
}

static dm_status cuda_caps(dmb_backend *be, dmb_caps *out)
{
    memset(out, 0, sizeof *out);
    out->version = DMB_INTERFACE_VERSION;
    out->f32 = 1;
    out->bf16 = 1;
    out->host_memory = 0; /* also in the emulation: the model takes its device paths */
    out->flash_attention = 1;
    out->memory_used = be->mem_used;
    out->memory_total = cb(be)->info.total_memory;
    return DM_OK;
}

static void cuda_destroy(dmb_backend *be)
{
    cuda_backend *c = cb(be);
    char why[256];
    dmk_rt_synchronize(c->stream, why, sizeof why);
    for (size_t i = 0; i < c->n_blocks; i++) dmk_rt_free(c->blocks[i].p);
    dmk_rt_free(c->scratch);
    dmk_rt_close(c->stream);
    free(c->blocks);
    free(c);
}

/* ------------------------------------------------------------------ linear algebra */

static dm_status cuda_gemm(dmb_backend *be, const dmb_gemm *g)
{
    if (g->beta != 0.0f && g->beta != 1.0f)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "gemm: beta must be 0 or 1, got %g", (double)g->beta);
    if (g->act != DMB_ACT_NONE && g->act != DMB_ACT_GELU)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "gemm: act %d is not a dmb_act", (int)g->act);
    if (g->act != DMB_ACT_NONE && g->beta != 0.0f)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "gemm: an activation needs beta == 0");
    if (!g->m || !g->n || !g->batch) return DM_OK;
    cuda_backend *c = cb(be);
    dmk_env e = env_of(c);
    dmk_gemm_args a = {g->trans_a, g->trans_b, g->m, g->n, g->k, g->a, g->lda, g->stride_a, g->b, g->ldb,
                       g->stride_b, g->c, g->ldc, g->stride_c, g->batch, g->alpha, g->beta, g->bias,
                       (int)g->act, g->bf16};
    be->stats.gemm_flops += 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
    be->stats.gemm_calls++;
    return launched(c, "gemm", dmk_gemm(&e, &a));
}

/* The ops that are one launch on their arguments: checked for an empty size,
 * launched, the launch checked. */
#define LAUNCH(op, empty, call)                   \
    do {                                          \
        if (empty) return DM_OK;                  \
        cuda_backend *c_ = cb(be);                \
        dmk_env e_ = env_of(c_);                  \
        const dmk_env *env = &e_;                 \
        return launched(c_, op, call);            \
    } while (0)

static dm_status cuda_bias_bwd(dmb_backend *be, float *dbias, const float *dout, size_t rows, size_t n)
{
    LAUNCH("bias_bwd", !rows || !n, dmk_bias_bwd(env, dbias, dout, rows, n));
}

static dm_status cuda_to_bf16(dmb_backend *be, uint16_t *dst, const float *src, size_t n)
{
    LAUNCH("to_bf16", !n, dmk_to_bf16(env, dst, src, n));
}

static dm_status cuda_add(dmb_backend *be, float *out, const float *inp, const float *res, size_t n)
{
    LAUNCH("add", !n, dmk_add(env, out, inp, res, n));
}

static dm_status cuda_scale_examples(dmb_backend *be, float *x, const float *scale, size_t B, size_t n)
{
    LAUNCH("scale_examples", !B || !n, dmk_scale_examples(env, x, scale, B, n));
}

static dm_status cuda_layernorm_fwd(dmb_backend *be, float *out, float *mean, float *rstd, const float *inp,
                                    const float *w, const float *b, size_t N, size_t C, float eps)
{
    LAUNCH("layernorm_fwd", !N || !C, dmk_layernorm_fwd(env, out, mean, rstd, inp, w, b, N, C, eps));
}

static dm_status cuda_layernorm_bwd(dmb_backend *be, float *dinp, float *dw, float *db, const float *dout,
                                    const float *inp, const float *w, const float *mean, const float *rstd,
                                    size_t N, size_t C)
{
    LAUNCH("layernorm_bwd", !N || !C, dmk_layernorm_bwd(env, dinp, dw, db, dout, inp, w, mean, rstd, N, C));
}

static dm_status cuda_gelu_fwd(dmb_backend *be, float *out, const float *inp, size_t n)
{
    LAUNCH("gelu_fwd", !n, dmk_gelu_fwd(env, out, inp, n));
}

static dm_status cuda_gelu_bwd(dmb_backend *be, float *dinp, const float *inp, const float *dout, size_t n)
{
    LAUNCH("gelu_bwd", !n, dmk_gelu_bwd(env, dinp, inp, dout, n));
}

static dm_status cuda_tanh_fwd(dmb_backend *be, float *out, const float *inp, size_t n)
{
    LAUNCH("tanh_fwd", !n, dmk_tanh_fwd(env, out, inp, n));
}

static dm_status cuda_tanh_bwd(dmb_backend *be, float *dinp, const float *out, const float *dout, size_t n)
{
    LAUNCH("tanh_bwd", !n, dmk_tanh_bwd(env, dinp, out, dout, n));
}

/* p == 0 copies (unless in place); p in (0, 1) drops by the shared Philox
 * rule; the same mask and scale serve the backward pass. */
static dm_status cuda_dropout(dmb_backend *be, const char *op, float *out, const float *inp, size_t n,
                              const dmb_dropout *d)
{
    if (!(d->p >= 0.0f && d->p < 1.0f))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: p must be in [0, 1), got %g", op, (double)d->p);
    if (!n) return DM_OK;
    cuda_backend *c = cb(be);
    if (d->p == 0.0f) {
        char why[256];
        if (out != inp && dmk_rt_copy(c->stream, out, inp, n * sizeof *out, why, sizeof why)) return rt_fail(op, why);
        return DM_OK;
    }
    dmk_env e = env_of(c);
    return launched(c, op, dmk_dropout(&e, out, inp, n, d->p, d->seed, d->stream));
}

static dm_status cuda_dropout_fwd(dmb_backend *be, float *out, const float *inp, size_t n, const dmb_dropout *d)
{
    return cuda_dropout(be, "dropout_fwd", out, inp, n, d);
}

static dm_status cuda_dropout_bwd(dmb_backend *be, float *dinp, const float *dout, size_t n, const dmb_dropout *d)
{
    return cuda_dropout(be, "dropout_bwd", dinp, dout, n, d);
}

/* ------------------------------------------------------------------ embeddings, attention, heads */

static dm_status cuda_embed_fwd(dmb_backend *be, float *out, const int32_t *ids, const int32_t *types,
                                const float *wte, const float *wpe, const float *wtt, size_t B, size_t T, size_t C)
{
    LAUNCH("embed_fwd", !B || !T || !C, dmk_embed_fwd(env, out, ids, types, wte, wpe, wtt, B, T, C));
}

/* The tables' row counts are not in the interface; the kernel needs none
 * beyond the ids it is given (0 = unknown). */
static dm_status cuda_embed_bwd(dmb_backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                                const int32_t *ids, const int32_t *types, size_t B, size_t T, size_t C)
{
    LAUNCH("embed_bwd", !B || !T || !C, dmk_embed_bwd(env, dwte, dwpe, dwtt, dout, ids, types, B, T, C, 0, 0));
}

static dmk_attention_args att_args(const dmb_attention *a)
{
    dmk_attention_args k = {a->B, a->T, a->H, a->D, a->key_mask, a->dropout.p, a->dropout.seed,
                            a->dropout.stream, a->bf16};
    return k;
}

static size_t cuda_attention_state_bytes(dmb_backend *be, const dmb_attention *a)
{
    (void)be;
    dmk_attention_args k = att_args(a);
    return dmk_attention_state_bytes(&k);
}

static size_t cuda_attention_scratch_bytes(dmb_backend *be, const dmb_attention *a)
{
    (void)be;
    dmk_attention_args k = att_args(a);
    return dmk_attention_scratch_bytes(&k);
}

/* The kernels keep a head's rows in registers and shared memory, padded to
 * 32, 64 or 128 columns: heads above 128 (no BERT-family model has them;
 * bert-base 64, MiniLM 32, bert-large 64) are refused, not mis-computed. */
static dm_status attention_check(const char *op, const dmb_attention *a)
{
    if (a->D > 128)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s %s: head size %zu: the attention kernels take heads of at most 128",
                        CUDA_NAME, op, a->D);
    if (!(a->dropout.p >= 0.0f && a->dropout.p < 1.0f))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dropout p must be in [0, 1), got %g", op,
                        (double)a->dropout.p);
    return DM_OK;
}

static dm_status cuda_attention_fwd(dmb_backend *be, float *out, void *state, const float *qkv,
                                    const dmb_attention *a)
{
    dm_status st = attention_check("attention_fwd", a);
    if (st) return st;
    dmk_attention_args k = att_args(a);
    LAUNCH("attention_fwd", !a->B || !a->T || !a->H || !a->D, dmk_attention_fwd(env, out, state, qkv, &k));
}

static dm_status cuda_attention_bwd(dmb_backend *be, float *dqkv, void *scratch, const float *dout,
                                    const float *qkv, const float *out, const void *state, const dmb_attention *a)
{
    dm_status st = attention_check("attention_bwd", a);
    if (st) return st;
    dmk_attention_args k = att_args(a);
    LAUNCH("attention_bwd", !a->B || !a->T || !a->H || !a->D,
           dmk_attention_bwd(env, dqkv, scratch, dout, qkv, out, state, &k));
}

static dm_status pool_check(const char *op, dmb_pool mode)
{
    if (mode != DMB_POOL_FIRST && mode != DMB_POOL_MEAN)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: mode %d is not a dmb_pool", op, (int)mode);
    return DM_OK;
}

static dm_status cuda_pool_fwd(dmb_backend *be, float *out, const float *inp, const float *key_mask, size_t B,
                               size_t T, size_t C, dmb_pool mode)
{
    dm_status st = pool_check("pool_fwd", mode);
    if (st) return st;
    LAUNCH("pool_fwd", !B || !C, dmk_pool_fwd(env, out, inp, key_mask, B, T, C, (int)mode));
}

static dm_status cuda_pool_bwd(dmb_backend *be, float *dinp, const float *dout, const float *key_mask, size_t B,
                               size_t T, size_t C, dmb_pool mode)
{
    dm_status st = pool_check("pool_bwd", mode);
    if (st) return st;
    LAUNCH("pool_bwd", !B || !C || !T, dmk_pool_bwd(env, dinp, dout, key_mask, B, T, C, (int)mode));
}

/* Labels live in device memory: one not below L is not checked here (a
 * download per step would stall the stream); the kernel gives such a row
 * loss and gradient NaN, which the trainer's finite-loss check reports. */
static dm_status cuda_xent_fwd_bwd(dmb_backend *be, float *losses, float *dlogits, const float *logits,
                                   const int32_t *labels, const float *weights, size_t B, size_t L,
                                   float grad_scale)
{
    LAUNCH("xent_fwd_bwd", !B || !L, dmk_xent_fwd_bwd(env, losses, dlogits, logits, labels, weights, B, L, grad_scale));
}

static dm_status cuda_reduce(dmb_backend *be, double *dst, const float *x, size_t n, dmb_reduce kind, int accumulate)
{
    if (kind != DMB_SUM && kind != DMB_SUM_SQUARES)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "reduce: kind %d is not a dmb_reduce", (int)kind);
    LAUNCH("reduce", 0, dmk_reduce(env, dst, x, n, (int)kind, accumulate));
}

static dm_status cuda_adamw(dmb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                            float beta1, float beta2, float eps, float wd, uint64_t step, float grad_scale)
{
    if (step == 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "adamw: step counts from 1, got 0");
    LAUNCH("adamw", !n, dmk_adamw(env, p, g, m, v, n, lr, beta1, beta2, eps, wd, step, grad_scale));
}

/* Per-example squared gradient norms (kernels/ops_dp.cuh). Nothing to add
 * without examples or without a table asked for; ids are only compared,
 * never used as rows, so any value is valid. */
static dm_status cuda_example_sqnorm_linear(dmb_backend *be, float *sq, const float *dout, const float *inp, size_t B,
                                            size_t T, size_t n_in, size_t n_out, int weight, int bias)
{
    LAUNCH("example_sqnorm_linear", !B || (!weight && !bias),
           dmk_example_sqnorm_linear(env, sq, dout, inp, B, T, n_in, n_out, weight, bias));
}

static dm_status cuda_example_sqnorm_layernorm(dmb_backend *be, float *sq, const float *dout, const float *inp,
                                               const float *mean, const float *rstd, size_t B, size_t T, size_t C,
                                               int weight, int bias)
{
    LAUNCH("example_sqnorm_layernorm", !B || (!weight && !bias),
           dmk_example_sqnorm_layernorm(env, sq, dout, inp, mean, rstd, B, T, C, weight, bias));
}

static dm_status cuda_example_sqnorm_embed(dmb_backend *be, float *sq, const float *dout, const int32_t *ids,
                                           const int32_t *types, size_t B, size_t T, size_t C, int words,
                                           int positions, int types_table)
{
    LAUNCH("example_sqnorm_embed", !B || (!words && !positions && !types_table),
           dmk_example_sqnorm_embed(env, sq, dout, ids, types, B, T, C, words, positions, types_table));
}

static const struct dmb_ops cuda_ops = {
    .version = DMB_INTERFACE_VERSION,
    .name = CUDA_NAME,
    .device = DM_DEVICE_CUDA,
    .destroy = cuda_destroy,
    .synchronize = cuda_synchronize,
    .caps = cuda_caps,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .zero = cuda_zero,
    .gemm = cuda_gemm,
    .bias_bwd = cuda_bias_bwd,
    .to_bf16 = cuda_to_bf16,
    .add = cuda_add,
    .scale_examples = cuda_scale_examples,
    .layernorm_fwd = cuda_layernorm_fwd,
    .layernorm_bwd = cuda_layernorm_bwd,
    .gelu_fwd = cuda_gelu_fwd,
    .gelu_bwd = cuda_gelu_bwd,
    .tanh_fwd = cuda_tanh_fwd,
    .tanh_bwd = cuda_tanh_bwd,
    .dropout_fwd = cuda_dropout_fwd,
    .dropout_bwd = cuda_dropout_bwd,
    .embed_fwd = cuda_embed_fwd,
    .embed_bwd = cuda_embed_bwd,
    .attention_state_bytes = cuda_attention_state_bytes,
    .attention_scratch_bytes = cuda_attention_scratch_bytes,
    .attention_fwd = cuda_attention_fwd,
    .attention_bwd = cuda_attention_bwd,
    .pool_fwd = cuda_pool_fwd,
    .pool_bwd = cuda_pool_bwd,
    .xent_fwd_bwd = cuda_xent_fwd_bwd,
    .reduce = cuda_reduce,
    .adamw = cuda_adamw,
    .example_sqnorm_linear = cuda_example_sqnorm_linear,
    .example_sqnorm_layernorm = cuda_example_sqnorm_layernorm,
    .example_sqnorm_embed = cuda_example_sqnorm_embed,
};

dm_status dmb_cuda_create(int threads, dmb_backend **out)
{
    (void)threads; /* the GPU's parallelism is the kernels' */
    *out = NULL;
    cuda_backend *c = dmi_calloc(1, sizeof *c);
    if (!c) return DM_ERR_NO_MEMORY;
    char why[256];
    if (dmk_rt_open(&c->info, &c->stream, why, sizeof why)) {
        free(c);
        return dmi_fail(DM_ERR_UNSUPPORTED, "device CUDA cannot be used: %s", why);
    }
    c->base.ops = &cuda_ops;
    c->base.threads = 1;
    *out = &c->base;
    return DM_OK;
}
