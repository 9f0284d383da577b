/*
 * backend_ref.c — the cpu-ref backend: every operation of backend.h as plain
 * scalar loops on one thread, with no library, so that it can be read against
 * the interface line by line. It is the oracle: test/backend runs every
 * other backend's operations against these on the same inputs.
 *
 * Choices that make it a good oracle rather than a fast backend:
 *  - every sum (dot products, LayerNorm statistics, softmax, column and
 *    scatter sums, reductions) is taken in double, in index order, and
 *    rounded to float once, so its error is far below any float backend's;
 *  - element-wise operations that the interface defines in float (dropout's
 *    scale, bfloat16 rounding, AdamW's update) are written in the same float
 *    operations as the interface states them, so that they match bit for bit;
 *  - no fused multiply-add is formed behind our back (below): a contracted
 *    a * b + c rounds once instead of twice and would change those results
 *    with the compiler's target;
 *  - the preconditions the interface states (beta 0 or 1, act only with
 *    beta 0, labels below L) are checked, so a caller's mistake shows here.
 */
#include "backend.h"
#include "../core/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#  pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#  pragma GCC optimize("fp-contract=off")
#endif

/* ------------------------------------------------------------------ memory */

/* Each block starts 64 bytes before what the caller gets, with its size
 * there, so that free can count what is in use (as cpu-onednn). */
static void *ref_alloc(dmb_backend *be, size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    char *p = bytes <= SIZE_MAX - 128 ? aligned_alloc(64, rounded + 64) : NULL;
    if (!p) {
        dmi_fail(DM_ERR_NO_MEMORY, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memcpy(p, &rounded, sizeof rounded);
    dmb_note_alloc(be, rounded);
    return p + 64;
}

static void ref_free(dmb_backend *be, void *p)
{
    if (!p) return;
    char *block = (char *)p - 64;
    size_t rounded;
    memcpy(&rounded, block, sizeof rounded);
    be->mem_used -= rounded;
    free(block);
}

/* Backend memory is host memory: upload and download are copies. */
static dm_status ref_copy(dmb_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    if (bytes) memmove(dst, src, bytes);
    return DM_OK;
}

static dm_status ref_zero(dmb_backend *be, void *dst, size_t bytes)
{
    (void)be;
    if (bytes) memset(dst, 0, bytes);
    return DM_OK;
}

static dm_status ref_synchronize(dmb_backend *be)
{
    (void)be; /* every operation has finished when it returns */
    return DM_OK;
}

static dm_status ref_caps(dmb_backend *be, dmb_caps *out)
{
    memset(out, 0, sizeof *out);
    out->version = DMB_INTERFACE_VERSION;
    out->f32 = 1;
    out->bf16 = 1;
    out->host_memory = 1;
    out->memory_used = be->mem_used;
    return DM_OK;
}

/* ------------------------------------------------------------------ bfloat16 */

/* The float a bfloat16 bit pattern stands for: its 16 bits are the top half
 * of a float's, so the conversion is exact. */
static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest, ties to even: adding 0x7FFF plus the kept part's lowest
 * bit carries into the kept half exactly when the dropped half is above one
 * half, or is one half and the kept part is odd. A NaN keeps its sign and
 * top payload bits and is made quiet (rounding could turn it into Inf). */
static uint16_t float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
    uint32_t kept_lowest_bit = (x >> 16) & 1u;
    return (uint16_t)((x + 0x7FFFu + kept_lowest_bit) >> 16);
}

static dm_status ref_to_bf16(dmb_backend *be, uint16_t *dst, const float *src, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) dst[i] = float_to_bf16(src[i]);
    return DM_OK;
}

/* ------------------------------------------------------------------ GELU */

/* gelu(x) = x * Phi(x), Phi the standard normal distribution function (erf
 * form); gelu'(x) = Phi(x) + x * phi(x), phi its density. */
static double gelu(double x) { return 0.5 * x * (1.0 + erf(x * M_SQRT1_2)); }

static double gelu_grad(double x)
{
    double cdf = 0.5 * (1.0 + erf(x * M_SQRT1_2));
    double pdf = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    return cdf + x * pdf;
}

static dm_status ref_gelu_fwd(dmb_backend *be, float *out, const float *inp, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) out[i] = (float)gelu(inp[i]);
    return DM_OK;
}

static dm_status ref_gelu_bwd(dmb_backend *be, float *dinp, const float *inp, const float *dout, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) dinp[i] = (float)((double)dout[i] * gelu_grad(inp[i]));
    return DM_OK;
}

/* ------------------------------------------------------------------ gemm */

/* Element I of operand X: a float, or the float a bfloat16 pattern stands for. */
static double operand(const void *x, int bf16, size_t i)
{
    return bf16 ? bf16_to_float(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

static dm_status gemm_check(const dmb_gemm *g)
{
    if (g->beta != 0.0f && g->beta != 1.0f)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "gemm: beta must be 0 or 1, got %g", (double)g->beta);
    if (g->act != DMB_ACT_NONE && g->act != DMB_ACT_GELU)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "gemm: act %d is not a dmb_act", (int)g->act);
    if (g->act != DMB_ACT_NONE && g->beta != 0.0f)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "gemm: an activation needs beta == 0");
    return DM_OK;
}

/* One output element of product I: the dot product in double (a product of
 * two floats is exact in double), then alpha, the old C, the bias and the
 * activation, rounded to float once. Element (r, c) of op(X), X stored
 * row-major with leading dimension ld, is X[r * ld + c], or X[c * ld + r]
 * when transposed: along a row of op(A) the index steps by 1 (lda when
 * transposed), down a column of op(B) by ldb (1 when transposed). */
static float gemm_element(const dmb_gemm *g, size_t i, size_t row, size_t col)
{
    size_t elem = g->bf16 ? sizeof(uint16_t) : sizeof(float);
    const void *a = (const char *)g->a + i * g->stride_a * elem, *b = (const char *)g->b + i * g->stride_b * elem;
    size_t ia = g->trans_a ? row : row * g->lda, step_a = g->trans_a ? g->lda : 1;
    size_t ib = g->trans_b ? col * g->ldb : col, step_b = g->trans_b ? 1 : g->ldb;
    double dot = 0.0;
    for (size_t p = 0; p < g->k; p++, ia += step_a, ib += step_b)
        dot += operand(a, g->bf16, ia) * operand(b, g->bf16, ib);
    double v = (double)g->alpha * dot;
    if (g->beta != 0.0f) v += g->c[i * g->stride_c + row * g->ldc + col];
    if (g->bias) v += g->bias[col];
    if (g->act == DMB_ACT_GELU) v = gelu(v);
    return (float)v;
}

/* The dot products of A (K doubles) with W <= 4 rows of B (K doubles each,
 * adjacent) into DOTS, each summed in order p = 0 .. K-1. */
static void dot4(const double *a, const double *b, size_t k, size_t w, double *dots)
{
    double d0 = 0.0, d1 = 0.0, d2 = 0.0, d3 = 0.0;
    const double *b0 = b, *b1 = w > 1 ? b + k : b, *b2 = w > 2 ? b + 2 * k : b, *b3 = w > 3 ? b + 3 * k : b;
    if (w == 4) {
        for (size_t p = 0; p < k; p++) {
            double x = a[p];
            d0 += x * b0[p], d1 += x * b1[p], d2 += x * b2[p], d3 += x * b3[p];
        }
    } else {
        for (size_t p = 0; p < k; p++) {
            double x = a[p];
            d0 += x * b0[p];
            if (w > 1) d1 += x * b1[p];
            if (w > 2) d2 += x * b2[p];
        }
    }
    dots[0] = d0, dots[1] = d1, dots[2] = d2, dots[3] = d3;
}

/* The same sums as gemm_element, faster: op(B) of product I packed once as
 * n rows of k doubles and each row of op(A) as k doubles, so every dot
 * product walks two contiguous arrays (the order of the additions is the
 * same: p = 0 .. k-1). The -Donednn=disabled build trains with this. */
static void gemm_packed(const dmb_gemm *g, size_t i, double *bt, double *arow)
{
    size_t elem = g->bf16 ? sizeof(uint16_t) : sizeof(float);
    const void *a = (const char *)g->a + i * g->stride_a * elem, *b = (const char *)g->b + i * g->stride_b * elem;
    for (size_t col = 0; col < g->n; col++)
        for (size_t p = 0; p < g->k; p++)
            bt[col * g->k + p] = operand(b, g->bf16, g->trans_b ? col * g->ldb + p : p * g->ldb + col);
    for (size_t row = 0; row < g->m; row++) {
        for (size_t p = 0; p < g->k; p++)
            arow[p] = operand(a, g->bf16, g->trans_a ? p * g->lda + row : row * g->lda + p);
        double dots[4];
        for (size_t col = 0; col < g->n; col += 4) {
            /* Four columns at once: four independent chains of additions
             * (each column's own order unchanged), not one long one. */
            size_t w = g->n - col < 4 ? g->n - col : 4;
            dot4(arow, bt + col * g->k, g->k, w, dots);
            for (size_t j = 0; j < w; j++) {
                double v = (double)g->alpha * dots[j];
                float *c = &g->c[i * g->stride_c + row * g->ldc + col + j];
                if (g->beta != 0.0f) v += *c;
                if (g->bias) v += g->bias[col + j];
                if (g->act == DMB_ACT_GELU) v = gelu(v);
                *c = (float)v;
            }
        }
    }
}

static dm_status ref_gemm(dmb_backend *be, const dmb_gemm *g)
{
    dm_status st = gemm_check(g);
    if (st) return st;
    size_t nk = g->n * g->k;
    double *bt = malloc((nk ? nk : 1) * sizeof *bt), *arow = malloc((g->k ? g->k : 1) * sizeof *arow);
    if (!bt || !arow) {
        /* no memory for the packing: the element-wise form needs none */
        free(bt), free(arow);
        for (size_t i = 0; i < g->batch; i++)
            for (size_t row = 0; row < g->m; row++)
                for (size_t col = 0; col < g->n; col++)
                    g->c[i * g->stride_c + row * g->ldc + col] = gemm_element(g, i, row, col);
    } else {
        for (size_t i = 0; i < g->batch; i++) gemm_packed(g, i, bt, arow);
        free(bt), free(arow);
    }
    be->stats.gemm_flops += 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
    be->stats.gemm_calls++;
    return DM_OK;
}

static dm_status ref_bias_bwd(dmb_backend *be, float *dbias, const float *dout, size_t rows, size_t n)
{
    (void)be;
    for (size_t j = 0; j < n; j++) {
        double sum = dbias[j];
        for (size_t r = 0; r < rows; r++) sum += dout[r * n + j];
        dbias[j] = (float)sum;
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ element-wise */

static dm_status ref_add(dmb_backend *be, float *out, const float *inp, const float *res, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) out[i] = inp[i] + res[i];
    return DM_OK;
}

static dm_status ref_scale_examples(dmb_backend *be, float *x, const float *scale, size_t B, size_t n)
{
    (void)be;
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < n; j++) x[b * n + j] *= scale[b];
    return DM_OK;
}

static dm_status ref_tanh_fwd(dmb_backend *be, float *out, const float *inp, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) out[i] = (float)tanh((double)inp[i]);
    return DM_OK;
}

static dm_status ref_tanh_bwd(dmb_backend *be, float *dinp, const float *out, const float *dout, size_t n)
{
    (void)be;
    for (size_t i = 0; i < n; i++) {
        double y = out[i];
        dinp[i] = (float)((double)dout[i] * (1.0 - y * y));
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ dropout */

#define DROPOUT_BLOCK 8192

/* Whether element J of a dropout call is kept, exactly as backend.h states
 * it: element i of block b reads Philox word w = b * 4096 + (i mod 4096),
 * which is word w mod 4 of counter (stream, w / 4) under key seed; its low
 * 16 bits for the first half of the block, its high 16 bits for the second;
 * kept when those bits / 2^16 >= p. */
static int dropout_keeps(const dmb_dropout *d, size_t j)
{
    size_t block = j / DROPOUT_BLOCK, i = j % DROPOUT_BLOCK;
    uint64_t w = (uint64_t)block * (DROPOUT_BLOCK / 2) + i % (DROPOUT_BLOCK / 2);
    uint32_t word = dmi_philox(d->seed, d->stream, w / 4).v[w % 4];
    uint32_t bits = i < DROPOUT_BLOCK / 2 ? word & 0xFFFFu : word >> 16;
    return (double)bits / 65536.0 >= (double)d->p;
}

/* 1 / (1 - p) in float, the scale kept elements take. */
static float dropout_scale(const dmb_dropout *d) { return 1.0f / (1.0f - d->p); }

/* Element J of dropout(X): 0, or X times the float scale (a float product). */
static float dropout_element(const dmb_dropout *d, size_t j, float x)
{
    if (d->p <= 0.0f) return x;
    return dropout_keeps(d, j) ? x * dropout_scale(d) : 0.0f;
}

static dm_status ref_dropout_fwd(dmb_backend *be, float *out, const float *inp, size_t n, const dmb_dropout *d)
{
    (void)be;
    for (size_t j = 0; j < n; j++) out[j] = dropout_element(d, j, inp[j]);
    return DM_OK;
}

/* The same mask and scale on the gradient. */
static dm_status ref_dropout_bwd(dmb_backend *be, float *dinp, const float *dout, size_t n, const dmb_dropout *d)
{
    return ref_dropout_fwd(be, dinp, dout, n, d);
}

/* ------------------------------------------------------------------ LayerNorm */

static dm_status ref_layernorm_fwd(dmb_backend *be, float *out, float *mean, float *rstd, const float *inp,
                                   const float *w, const float *b, size_t N, size_t C, float eps)
{
    (void)be;
    for (size_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        double sum = 0.0;
        for (size_t i = 0; i < C; i++) sum += x[i];
        double mu = sum / (double)C;
        double var = 0.0;
        for (size_t i = 0; i < C; i++) var += ((double)x[i] - mu) * ((double)x[i] - mu);
        var /= (double)C;
        double rs = 1.0 / sqrt(var + (double)eps);
        for (size_t i = 0; i < C; i++) out[r * C + i] = (float)(((double)x[i] - mu) * rs * w[i] + b[i]);
        mean[r] = (float)mu;
        rstd[r] = (float)rs;
    }
    return DM_OK;
}

/* The normalised input xhat of row R, channel I, from the saved statistics. */
static double layernorm_xhat(const float *inp, const float *mean, const float *rstd, size_t C, size_t r,
                             size_t i)
{
    return ((double)inp[r * C + i] - mean[r]) * rstd[r];
}

/* dinp = rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), dy = dout * w. */
static void layernorm_dinp_row(float *dinp, const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, size_t C, size_t r)
{
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (size_t i = 0; i < C; i++) {
        double dy = (double)dout[r * C + i] * w[i];
        sum_dy += dy;
        sum_dy_xhat += dy * layernorm_xhat(inp, mean, rstd, C, r, i);
    }
    for (size_t i = 0; i < C; i++) {
        double dy = (double)dout[r * C + i] * w[i];
        double xhat = layernorm_xhat(inp, mean, rstd, C, r, i);
        dinp[r * C + i] = (float)((dy - sum_dy / (double)C - xhat * sum_dy_xhat / (double)C) * rstd[r]);
    }
}

static dm_status ref_layernorm_bwd(dmb_backend *be, float *dinp, float *dw, float *db, const float *dout,
                                   const float *inp, const float *w, const float *mean, const float *rstd,
                                   size_t N, size_t C)
{
    (void)be;
    for (size_t r = 0; r < N; r++) layernorm_dinp_row(dinp, dout, inp, w, mean, rstd, C, r);
    /* Column sums over the rows, each added to the gradient once. */
    for (size_t i = 0; i < C; i++) {
        double sum_w = dw ? dw[i] : 0.0, sum_b = db ? db[i] : 0.0;
        for (size_t r = 0; r < N; r++) {
            sum_w += (double)dout[r * C + i] * layernorm_xhat(inp, mean, rstd, C, r, i);
            sum_b += dout[r * C + i];
        }
        if (dw) dw[i] = (float)sum_w;
        if (db) db[i] = (float)sum_b;
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ embeddings */

static dm_status ref_embed_fwd(dmb_backend *be, float *out, const int32_t *ids, const int32_t *types,
                               const float *wte, const float *wpe, const float *wtt, size_t B, size_t T, size_t C)
{
    (void)be;
    for (size_t bt = 0; bt < B * T; bt++) {
        const float *e = wte + (size_t)ids[bt] * C, *p = wpe + (bt % T) * C, *ty = wtt + (size_t)types[bt] * C;
        for (size_t i = 0; i < C; i++) out[bt * C + i] = (float)((double)e[i] + (double)p[i] + (double)ty[i]);
    }
    return DM_OK;
}

/* The table row token BT adds to: its id, or its position when INDEX is
 * NULL (the position table). */
static size_t scatter_row(const int32_t *index, size_t T, size_t bt)
{
    return index ? (size_t)index[bt] : bt % T;
}

/* TABLE[row(bt)] += dout[bt] for every token: each row's old value and all
 * its tokens' gradients summed in double, in token order, rounded once. A
 * row is summed when its first token is met. SUM is C doubles.
 * Not float += token by token: that is one implementation's rounding (cpu-
 * onednn's), and an oracle that copied it would pass that backend for free
 * and fail a GPU one summing the same floats in another fixed order; the
 * sum itself, nearly exact, is what every backend is measured against. */
static void scatter_add(float *table, double *sum, const float *dout, const int32_t *index, size_t T, size_t BT,
                        size_t C)
{
    for (size_t bt = 0; bt < BT; bt++) {
        size_t row = scatter_row(index, T, bt);
        int seen = 0;
        for (size_t prev = 0; prev < bt && !seen; prev++) seen = scatter_row(index, T, prev) == row;
        if (seen) continue;
        for (size_t i = 0; i < C; i++) sum[i] = table[row * C + i];
        for (size_t other = bt; other < BT; other++)
            if (scatter_row(index, T, other) == row)
                for (size_t i = 0; i < C; i++) sum[i] += dout[other * C + i];
        for (size_t i = 0; i < C; i++) table[row * C + i] = (float)sum[i];
    }
}

static dm_status ref_embed_bwd(dmb_backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                               const int32_t *ids, const int32_t *types, size_t B, size_t T, size_t C)
{
    (void)be;
    double *sum = dmi_malloc((C ? C : 1) * sizeof *sum);
    if (!sum) return DM_ERR_NO_MEMORY;
    if (dwte) scatter_add(dwte, sum, dout, ids, T, B * T, C);
    if (dwpe) scatter_add(dwpe, sum, dout, NULL, T, B * T, C);
    if (dwtt) scatter_add(dwtt, sum, dout, types, T, B * T, C);
    free(sum);
    return DM_OK;
}

/* ------------------------------------------------------------------ attention */

/* The state: the probabilities before dropout, P (B x H x T x T floats,
 * masked keys exactly 0), all the backward pass needs besides qkv. */
static size_t ref_attention_state_bytes(dmb_backend *be, const dmb_attention *a)
{
    (void)be;
    return a->B * a->H * a->T * a->T * sizeof(float);
}

/* Element d of head h's part (0 q, 1 k, 2 v) of token (b, t) in a
 * B x T x 3C tensor laid out as Hugging Face does: (B, T, 3, H, D). */
static size_t qkv_index(const dmb_attention *a, size_t b, size_t t, size_t part, size_t h, size_t d)
{
    size_t C = a->H * a->D;
    return (b * a->T + t) * 3 * C + part * C + h * a->D + d;
}

/* An input of a product: bfloat16-rounded in a bf16 forward pass. */
static double product_input(float x, int bf16) { return bf16 ? bf16_to_float(float_to_bf16(x)) : x; }

/* Index of P[b, h, i, j] in the B x H x T x T probabilities, which is also
 * the element number attention's dropout draws for. */
static size_t prob_index(const dmb_attention *a, size_t b, size_t h, size_t i, size_t j)
{
    return ((b * a->H + h) * a->T + i) * a->T + j;
}

/* The score q_i . k_j / sqrt(D) of head (b, h), in double. */
static double attention_score(const float *qkv, const dmb_attention *a, size_t b, size_t h, size_t i, size_t j)
{
    double dot = 0.0;
    for (size_t d = 0; d < a->D; d++)
        dot += product_input(qkv[qkv_index(a, b, i, 0, h, d)], a->bf16) *
               product_input(qkv[qkv_index(a, b, j, 1, h, d)], a->bf16);
    return dot / sqrt((double)a->D);
}

/* Probabilities P[b, h, i, :]: softmax over the real keys of the scores,
 * masked keys exactly 0. The scores are computed again in each of the three
 * passes (largest, sum, quotient) rather than kept: this is the oracle. */
static void attention_probs_row(float *P, const float *qkv, const dmb_attention *a, size_t b, size_t h, size_t i)
{
    const float *mask = a->key_mask + b * a->T;
    double max = -INFINITY, sum = 0.0;
    for (size_t j = 0; j < a->T; j++)
        if (mask[j] != 0.0f) max = fmax(max, attention_score(qkv, a, b, h, i, j));
    for (size_t j = 0; j < a->T; j++)
        if (mask[j] != 0.0f) sum += exp(attention_score(qkv, a, b, h, i, j) - max);
    for (size_t j = 0; j < a->T; j++)
        P[prob_index(a, b, h, i, j)] =
            mask[j] != 0.0f ? (float)(exp(attention_score(qkv, a, b, h, i, j) - max) / sum) : 0.0f;
}

/* Row i of head (b, h) of the probabilities the product with v uses: after
 * dropout (floats, as the dropout operation makes them). */
static void dropped_probs_row(float *row, const float *P, const dmb_attention *a, size_t b, size_t h, size_t i)
{
    for (size_t j = 0; j < a->T; j++) {
        size_t idx = prob_index(a, b, h, i, j);
        row[j] = dropout_element(&a->dropout, idx, P[idx]);
    }
}

static dm_status ref_attention_fwd(dmb_backend *be, float *out, void *state, const float *qkv,
                                   const dmb_attention *a)
{
    (void)be;
    size_t B = a->B, T = a->T, H = a->H, D = a->D;
    float *P = state, *dropped = dmi_malloc(T * sizeof *dropped);
    if (!dropped) return DM_ERR_NO_MEMORY;
    for (size_t b = 0; b < B; b++)
        for (size_t h = 0; h < H; h++)
            for (size_t i = 0; i < T; i++) {
                attention_probs_row(P, qkv, a, b, h, i);
                dropped_probs_row(dropped, P, a, b, h, i);
                for (size_t d = 0; d < D; d++) {
                    double y = 0.0;
                    for (size_t j = 0; j < T; j++)
                        y += product_input(dropped[j], a->bf16) *
                             product_input(qkv[qkv_index(a, b, j, 2, h, d)], a->bf16);
                    out[(b * T + i) * H * D + h * D + d] = (float)y;
                }
            }
    free(dropped);
    return DM_OK;
}

/* The scratch of one head: the score gradients dS and the dropped
 * probabilities P' (T x T doubles each; the model carves every buffer at a
 * 64-byte boundary, so doubles are aligned). */
static size_t ref_attention_scratch_bytes(dmb_backend *be, const dmb_attention *a)
{
    (void)be;
    return 2 * a->T * a->T * sizeof(double);
}

/* dS[i, j] of head (b, h), in double, and P' (DROPPED): with
 * y_i = sum_j P'_ij v_j, dP'_ij = dy_i . v_j, dP_ij = dP'_ij through the
 * dropout mask and scale, and the softmax backward
 * dS_ij = P_ij (dP_ij - sum_l P_il dP_il) / sqrt(D). */
static void attention_dscores(double *dS, double *dropped, const float *P, const float *dout, const float *qkv,
                              const dmb_attention *a, size_t b, size_t h)
{
    size_t T = a->T, D = a->D, C = a->H * D;
    int dropping = a->dropout.p > 0.0f;
    double scale = dropping ? (double)dropout_scale(&a->dropout) : 1.0;
    for (size_t i = 0; i < T; i++) {
        double dot = 0.0;
        for (size_t j = 0; j < T; j++) {
            size_t idx = prob_index(a, b, h, i, j);
            int kept = !dropping || dropout_keeps(&a->dropout, idx);
            double dp = 0.0;
            for (size_t d = 0; d < D; d++)
                dp += (double)dout[(b * T + i) * C + h * D + d] * qkv[qkv_index(a, b, j, 2, h, d)];
            dp = kept ? dp * scale : 0.0;
            dropped[i * T + j] = kept ? dropout_element(&a->dropout, idx, P[idx]) : 0.0;
            dS[i * T + j] = dp;
            dot += (double)P[idx] * dp;
        }
        for (size_t j = 0; j < T; j++)
            dS[i * T + j] = (double)P[prob_index(a, b, h, i, j)] * (dS[i * T + j] - dot) / sqrt((double)D);
    }
}

/* dq_t = sum_s dS_ts k_s, dk_t = sum_s dS_st q_s, dv_t = sum_s P'_st dy_s. */
static void attention_head_grads(float *dqkv, const double *dS, const double *dropped, const float *dout,
                                 const float *qkv, const dmb_attention *a, size_t b, size_t h)
{
    size_t T = a->T, D = a->D, C = a->H * D;
    for (size_t t = 0; t < T; t++)
        for (size_t d = 0; d < D; d++) {
            double dq = 0.0, dk = 0.0, dv = 0.0;
            for (size_t s = 0; s < T; s++) {
                dq += dS[t * T + s] * qkv[qkv_index(a, b, s, 1, h, d)];
                dk += dS[s * T + t] * qkv[qkv_index(a, b, s, 0, h, d)];
                dv += dropped[s * T + t] * dout[(b * T + s) * C + h * D + d];
            }
            dqkv[qkv_index(a, b, t, 0, h, d)] = (float)dq;
            dqkv[qkv_index(a, b, t, 1, h, d)] = (float)dk;
            dqkv[qkv_index(a, b, t, 2, h, d)] = (float)dv;
        }
}

static dm_status ref_attention_bwd(dmb_backend *be, float *dqkv, void *scratch, const float *dout,
                                   const float *qkv, const float *out, const void *state, const dmb_attention *a)
{
    (void)be, (void)out; /* the probabilities in the state and qkv are all it needs */
    const float *P = state;
    double *dS = scratch, *dropped = dS + a->T * a->T;
    for (size_t b = 0; b < a->B; b++)
        for (size_t h = 0; h < a->H; h++) {
            attention_dscores(dS, dropped, P, dout, qkv, a, b, h);
            attention_head_grads(dqkv, dS, dropped, dout, qkv, a, b, h);
        }
    return DM_OK;
}

/* ------------------------------------------------------------------ pooling, loss */

/* The number of real tokens of one sequence, as sentence-transformers
 * divides: max(count, 1e-9). */
static double real_tokens(const float *mask, size_t T)
{
    double count = 0.0;
    for (size_t t = 0; t < T; t++) count += mask[t];
    return count > 1e-9 ? count : 1e-9;
}

static dm_status pool_check(dmb_pool mode)
{
    if (mode == DMB_POOL_FIRST || mode == DMB_POOL_MEAN) return DM_OK;
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "pool: mode %d is not a dmb_pool", (int)mode);
}

static dm_status ref_pool_fwd(dmb_backend *be, float *out, const float *inp, const float *key_mask, size_t B,
                              size_t T, size_t C, dmb_pool mode)
{
    (void)be;
    dm_status st = pool_check(mode);
    if (st) return st;
    for (size_t b = 0; b < B; b++) {
        const float *h = inp + b * T * C, *mask = key_mask + b * T;
        double count = real_tokens(mask, T);
        for (size_t c = 0; c < C; c++) {
            if (mode == DMB_POOL_FIRST) {
                out[b * C + c] = h[c];
                continue;
            }
            double sum = 0.0;
            for (size_t t = 0; t < T; t++) sum += (double)h[t * C + c] * mask[t];
            out[b * C + c] = (float)(sum / count);
        }
    }
    return DM_OK;
}

static dm_status ref_pool_bwd(dmb_backend *be, float *dinp, const float *dout, const float *key_mask, size_t B,
                              size_t T, size_t C, dmb_pool mode)
{
    (void)be;
    dm_status st = pool_check(mode);
    if (st) return st;
    for (size_t b = 0; b < B; b++) {
        float *d = dinp + b * T * C;
        const float *g = dout + b * C, *mask = key_mask + b * T;
        double count = real_tokens(mask, T);
        for (size_t t = 0; t < T; t++) {
            double share = mode == DMB_POOL_FIRST ? (t == 0) : mask[t] / count;
            if (share == 0.0) continue; /* only the pooled tokens receive gradient */
            for (size_t c = 0; c < C; c++) d[t * C + c] = (float)((double)d[t * C + c] + g[c] * share);
        }
    }
    return DM_OK;
}

static dm_status ref_xent_fwd_bwd(dmb_backend *be, float *losses, float *dlogits, const float *logits,
                                  const int32_t *labels, const float *weights, size_t B, size_t L,
                                  float grad_scale)
{
    (void)be;
    for (size_t b = 0; b < B; b++)
        if (labels[b] >= 0 && (size_t)labels[b] >= L)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "xent: label %d of row %zu is not below %zu", (int)labels[b],
                            b, L);
    for (size_t b = 0; b < B; b++) {
        const float *z = logits + b * L;
        int32_t y = labels[b];
        double w = y < 0 ? 0.0 : weights ? (double)weights[b] : 1.0;
        /* log-sum-exp around the largest logit, in double */
        double max = z[0];
        for (size_t j = 1; j < L; j++)
            if (z[j] > max) max = z[j];
        double sum = 0.0;
        for (size_t j = 0; j < L; j++) sum += exp((double)z[j] - max);
        double lse = max + log(sum);
        losses[b] = y < 0 ? 0.0f : (float)((lse - z[y]) * w);
        if (!dlogits) continue;
        for (size_t j = 0; j < L; j++) {
            double p = exp((double)z[j] - lse), onehot = (int32_t)j == y ? 1.0 : 0.0;
            dlogits[b * L + j] = y < 0 ? 0.0f : (float)((p - onehot) * w * grad_scale);
        }
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ reductions, optimiser */

static dm_status ref_reduce(dmb_backend *be, double *dst, const float *x, size_t n, dmb_reduce kind, int accumulate)
{
    (void)be;
    if (kind != DMB_SUM && kind != DMB_SUM_SQUARES)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "reduce: kind %d is not a dmb_reduce", (int)kind);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += kind == DMB_SUM_SQUARES ? (double)x[i] * x[i] : (double)x[i];
    *dst = accumulate ? *dst + sum : sum;
    return DM_OK;
}

/* torch.optim.AdamW's single-tensor step in its order and float roundings
 * (as cpu-onednn; element-wise, so every backend can match it bit for bit):
 * the bias corrections in double used as floats, decay, the first moment as
 * torch's lerp (m + (1 - b1)(g - m)), the second moment, the update. */
static dm_status ref_adamw(dmb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                           float beta1, float beta2, float eps, float wd, uint64_t step, float grad_scale)
{
    (void)be;
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    float step_size = (float)((double)lr / bc1);
    float sqrt_bc2 = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)wd);
    float w1 = 1.0f - beta1, w2 = 1.0f - beta2;
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * grad_scale;
        float param = p[i] * decay;
        float mi = m[i] + w1 * (grad - m[i]);
        float vi = v[i] * beta2 + w2 * grad * grad;
        m[i] = mi;
        v[i] = vi;
        p[i] = param - step_size * (mi / (sqrtf(vi) / sqrt_bc2 + eps));
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ per-example squared gradient norms */

/* DP-SGD's per-example norms, written from their definitions: each example's
 * gradient entries summed over its T tokens in double, in token order,
 * squared and summed in double, then added to sq[b] with one rounding.
 * The weight of a linear site is the direct per-example gradient, entry by
 * entry (never the ghost identity the fast backends may use), so that the
 * op suite compares two different formulas. */

/* ||sum_t dout_bt||^2 over the N channels of example B's T rows. */
static double column_sum_sq(const float *dout, size_t b, size_t T, size_t N)
{
    double total = 0.0;
    for (size_t o = 0; o < N; o++) {
        double s = 0.0;
        for (size_t t = 0; t < T; t++) s += dout[(b * T + t) * N + o];
        total += s * s;
    }
    return total;
}

static dm_status ref_example_sqnorm_linear(dmb_backend *be, float *sq, const float *dout, const float *inp, size_t B,
                                           size_t T, size_t n_in, size_t n_out, int weight, int bias)
{
    (void)be;
    for (size_t b = 0; b < B; b++) {
        double total = 0.0;
        if (weight)
            for (size_t o = 0; o < n_out; o++)
                for (size_t i = 0; i < n_in; i++) {
                    /* dW[o][i] of example b */
                    double s = 0.0;
                    for (size_t t = 0; t < T; t++)
                        s += (double)dout[(b * T + t) * n_out + o] * (double)inp[(b * T + t) * n_in + i];
                    total += s * s;
                }
        if (bias) total += column_sum_sq(dout, b, T, n_out);
        sq[b] = (float)((double)sq[b] + total);
    }
    return DM_OK;
}

static dm_status ref_example_sqnorm_layernorm(dmb_backend *be, float *sq, const float *dout, const float *inp,
                                              const float *mean, const float *rstd, size_t B, size_t T, size_t C,
                                              int weight, int bias)
{
    (void)be;
    for (size_t b = 0; b < B; b++) {
        double total = 0.0;
        if (weight)
            for (size_t i = 0; i < C; i++) {
                double s = 0.0;
                for (size_t t = 0; t < T; t++)
                    s += (double)dout[(b * T + t) * C + i] * layernorm_xhat(inp, mean, rstd, C, b * T + t, i);
                total += s * s;
            }
        if (bias) total += column_sum_sq(dout, b, T, C);
        sq[b] = (float)((double)sq[b] + total);
    }
    return DM_OK;
}

/* Example B's sum over the distinct values v of INDEX (its T entries) of
 * ||sum_{t: index_bt = v} dout_bt||^2: each group summed when its first
 * token is met, its tokens in order. SUM is C doubles. */
static double grouped_sum_sq(const float *dout, const int32_t *index, size_t b, size_t T, size_t C, double *sum)
{
    double total = 0.0;
    const int32_t *id = index + b * T;
    for (size_t t = 0; t < T; t++) {
        int seen = 0;
        for (size_t prev = 0; prev < t && !seen; prev++) seen = id[prev] == id[t];
        if (seen) continue;
        for (size_t i = 0; i < C; i++) sum[i] = 0.0;
        for (size_t u = t; u < T; u++)
            if (id[u] == id[t])
                for (size_t i = 0; i < C; i++) sum[i] += dout[(b * T + u) * C + i];
        for (size_t i = 0; i < C; i++) total += sum[i] * sum[i];
    }
    return total;
}

static dm_status ref_example_sqnorm_embed(dmb_backend *be, float *sq, const float *dout, const int32_t *ids,
                                          const int32_t *types, size_t B, size_t T, size_t C, int words,
                                          int positions, int types_table)
{
    (void)be;
    double *sum = dmi_malloc((C ? C : 1) * sizeof *sum);
    if (!sum) return DM_ERR_NO_MEMORY;
    for (size_t b = 0; b < B; b++) {
        double total = 0.0;
        if (words) total += grouped_sum_sq(dout, ids, b, T, C, sum);
        if (positions) /* every position once: the rows' own squared norms */
            for (size_t k = 0; k < T * C; k++) total += (double)dout[b * T * C + k] * dout[b * T * C + k];
        if (types_table) total += grouped_sum_sq(dout, types, b, T, C, sum);
        sq[b] = (float)((double)sq[b] + total);
    }
    free(sum);
    return DM_OK;
}

/* ------------------------------------------------------------------ life cycle */

static void ref_destroy(dmb_backend *be) { free(be); }

static const struct dmb_ops ref_ops = {
    .version = DMB_INTERFACE_VERSION,
    .name = "cpu-ref",
    .device = DM_DEVICE_CPU,
    .destroy = ref_destroy,
    .synchronize = ref_synchronize,
    .caps = ref_caps,
    .alloc = ref_alloc,
    .free = ref_free,
    .upload = ref_copy,
    .download = ref_copy,
    .zero = ref_zero,
    .gemm = ref_gemm,
    .bias_bwd = ref_bias_bwd,
    .to_bf16 = ref_to_bf16,
    .add = ref_add,
    .scale_examples = ref_scale_examples,
    .layernorm_fwd = ref_layernorm_fwd,
    .layernorm_bwd = ref_layernorm_bwd,
    .gelu_fwd = ref_gelu_fwd,
    .gelu_bwd = ref_gelu_bwd,
    .tanh_fwd = ref_tanh_fwd,
    .tanh_bwd = ref_tanh_bwd,
    .dropout_fwd = ref_dropout_fwd,
    .dropout_bwd = ref_dropout_bwd,
    .embed_fwd = ref_embed_fwd,
    .embed_bwd = ref_embed_bwd,
    .attention_state_bytes = ref_attention_state_bytes,
    .attention_scratch_bytes = ref_attention_scratch_bytes,
    .attention_fwd = ref_attention_fwd,
    .attention_bwd = ref_attention_bwd,
    .pool_fwd = ref_pool_fwd,
    .pool_bwd = ref_pool_bwd,
    .xent_fwd_bwd = ref_xent_fwd_bwd,
    .reduce = ref_reduce,
    .adamw = ref_adamw,
    .example_sqnorm_linear = ref_example_sqnorm_linear,
    .example_sqnorm_layernorm = ref_example_sqnorm_layernorm,
    .example_sqnorm_embed = ref_example_sqnorm_embed,
};

dm_status dmb_ref_create(int threads, dmb_backend **out)
{
    (void)threads; /* one thread: the oracle's order of operations is its definition */
    *out = NULL;
    dmb_backend *be = dmi_calloc(1, sizeof *be);
    if (!be) return DM_ERR_NO_MEMORY;
    be->ops = &ref_ops;
    be->threads = 1;
    *out = be;
    return DM_OK;
}
