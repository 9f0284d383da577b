/*
 * test_ops.c — the op suite: every operation of every backend built in,
 * on many shapes, against cpu-ref (the oracle: lib/backend/backend_ref.c)
 * on the same seeded inputs.
 *
 * For each backend other than cpu-ref (cpu-onednn, cuda or cuda-emu):
 *  - the interface: every op pointer set, version, caps, memory accounting;
 *  - every op on every shape below, downloaded and compared element by
 *    element with |got - ref| <= atol + rtol * |ref| (the table below);
 *    dropout masks must be identical (the same zero pattern);
 *  - a CPU backend once more with 1 thread instead of 2: every result bit
 *    for bit the same (results may not depend on the thread count).
 * cpu-ref is also run against a second cpu-ref (every result bit-identical:
 * it is deterministic) and checked on its own: gradients against finite
 * differences, bfloat16 rounding against an independent rounding, the
 * transposes of gemm on a product worked by hand, dropout's keep rate.
 *
 * One line per op and subject gives the worst |diff| / tolerance seen, and
 * every violation names the backend, op, output, shape and index.
 *
 * Run: meson test -C BUILD backend-ops (or BUILD/test/backend/test_ops for
 * the table on stdout). DM_OPS_SKIP_SELF=1 skips cpu-ref's run against
 * itself (the slow half under a sanitizer); DM_OPS_ONLY=NAME runs one
 * subject (e.g. cuda-emu again with another DMK_EMU_SEED, the emulator's
 * thread order).
 */
#include "backend/backend.h"
#include "core/rng.h"

#include "../unit/check.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ tolerances */

typedef enum tol_id {
    T_GEMM,
    T_GEMM_BF16,
    T_BIAS_BWD,
    T_TO_BF16,
    T_ADD,
    T_SCALE_EXAMPLES,
    T_LN_FWD,
    T_LN_STATS,
    T_LN_BWD_DINP,
    T_LN_BWD_DWDB,
    T_GELU_FWD,
    T_GELU_BWD,
    T_TANH_FWD,
    T_TANH_BWD,
    T_DROPOUT,
    T_EMBED_FWD,
    T_EMBED_BWD,
    T_ATT_FWD,
    T_ATT_FWD_BF16,
    T_ATT_BWD,
    T_POOL_FWD,
    T_POOL_BWD,
    T_XENT_LOSS,
    T_XENT_GRAD,
    T_REDUCE,
    T_ADAMW,
    T_SQNORM,
    T_GRADCHECK,
    T_SQNORM_BRUTE,
    N_TOL
} tol_id;

/* atol is per element, or per sqrt of the reduction length (SQRT_LEN: the
 * k of a product, the rows of a column sum, the channels of a LayerNorm row,
 * the keys of attention, the tokens of a scatter, the n of a reduction) since
 * float rounding errors of a sum of that many terms grow as its square root. */
enum { FIXED = 0, SQRT_LEN = 1 };

typedef struct tolerance {
    const char *op;
    double atol, rtol;
    int scaling;
    const char *why;
} tolerance;

/* What the current subject gave, per tolerance. */
typedef struct seen {
    double worst;        /* the worst |diff| / tolerance within tolerance (<= 1) */
    char worst_at[320];  /* and where */
    size_t over;         /* cases with an element over tolerance */
    double worst_over;   /* the worst of those */
    char worst_over_at[320];
    size_t thread_diffs; /* cases whose results differ between 1 and 2 threads */
    char thread_diff_at[320];
} seen;

/* Inputs are O(1) (uniform in [-1, 1] unless a case says otherwise). One ulp
 * of float is 2^-23 = 1.19e-7 relative. */
static const tolerance tol[N_TOL] = {
    [T_GEMM] = {"gemm", 2e-6, 1e-6, SQRT_LEN,
                "float32 dot products vs double: k roundings of partial sums of size ~sqrt(k) / 3, a random "
                "walk: measured 4.7e-5 at k = 1536 (1.2e-6 sqrt(k)); the GELU epilogue's erf adds 3e-7"},
    [T_GEMM_BF16] = {"gemm bf16", 2e-6, 1e-6, SQRT_LEN,
                     "a product of two bfloat16 values is exact in float32, so against the reference's exact "
                     "conversion only the accumulation order differs: as float32, not 2^-8"},
    [T_BIAS_BWD] = {"bias_bwd", 2e-6, 1e-6, SQRT_LEN, "float32 column sums in row order vs double: as gemm"},
    [T_TO_BF16] = {"to_bf16", 0, 0, FIXED, "bit patterns: round to nearest even is defined exactly"},
    [T_ADD] = {"add", 0, 0, FIXED, "one correctly rounded float addition: exact"},
    [T_SCALE_EXAMPLES] = {"scale_examples", 0, 0, FIXED, "one correctly rounded float product: exact"},
    [T_LN_FWD] = {"layernorm_fwd", 1e-6, 1e-6, SQRT_LEN,
                  "float32 mean and variance of C values (offset 3, so the mean's rounding shows) vs double"},
    [T_LN_STATS] = {"layernorm_fwd mean/rstd", 1e-7, 2e-6, SQRT_LEN, "as layernorm_fwd, on the statistics"},
    [T_LN_BWD_DINP] = {"layernorm_bwd dinp", 1e-6, 1e-6, SQRT_LEN,
                       "float32 row sums of dy and dy * xhat vs double; compared in units of the row's rstd, "
                       "which multiplies every rounding error (1e6 for a constant row at eps 1e-12)"},
    [T_LN_BWD_DWDB] = {"layernorm_bwd dw/db", 1e-6, 1e-6, SQRT_LEN, "float32 sums over N rows (64-row blocks) vs double"},
    [T_GELU_FWD] = {"gelu_fwd", 3e-7, 2.4e-7, FIXED,
                    "oneDNN's erf-form GELU uses an erf approximation: measured |error| <= 2.6e-7 absolute "
                    "for x in [-5, 0] (where gelu is small: up to 100% relative below -5), 2 ulp above 0"},
    [T_GELU_BWD] = {"gelu_bwd", 3e-7, 2.4e-7, FIXED, "as gelu_fwd (measured <= 3e-7 absolute)"},
    [T_TANH_FWD] = {"tanh_fwd", 0, 2.4e-7, FIXED, "glibc's tanhf is within 2 ulp of the correctly rounded tanh"},
    [T_TANH_BWD] = {"tanh_bwd", 1.2e-7, 2.4e-7, FIXED,
                    "dout (1 - y^2) with float rounding of y^2 and 1 - y^2: the ulp of 1 absolute, 2 ulp relative"},
    [T_DROPOUT] = {"dropout", 0, 0, FIXED,
                   "the same Philox mask and the same float scale and product: exact (the zero pattern is "
                   "checked on its own too)"},
    [T_EMBED_FWD] = {"embed_fwd", 1.2e-7, 1.2e-7, FIXED, "two float additions vs the double sum rounded once"},
    [T_EMBED_BWD] = {"embed_bwd", 2e-6, 1e-6, SQRT_LEN,
                     "float32 scatter-add in token order vs double sums: error grows with the repeats of a row"},
    [T_ATT_FWD] = {"attention_fwd", 1e-6, 1e-6, SQRT_LEN,
                   "float32 q.k (over D) and P v (over T) products, a 2-ulp exp polynomial in the softmax vs "
                   "double"},
    [T_ATT_FWD_BF16] = {"attention_fwd bf16", 8e-3, 3.9e-3, FIXED,
                        "q, k, v and the probabilities are rounded to bfloat16 the same way (products of "
                        "bfloat16 values are exact in float32), so only float32 differences remain (measured: "
                        "<= 3e-8) unless a probability lands on the other side of a bfloat16 rounding midpoint: "
                        "that term p v changes by 2^-8 of itself, bounded by 2^-8 x the dropout scale (2 at "
                        "p = 0.5) x |v| <= 1 in absolute terms, whatever the output's own size (rows cancel)"},
    [T_ATT_BWD] = {"attention_bwd", 1e-6, 1e-6, SQRT_LEN,
                   "float32 products over D and T and the softmax backward's row dot product vs double"},
    [T_POOL_FWD] = {"pool_fwd", 0, 1.2e-7, FIXED, "double sums both, one rounding: within 1 ulp"},
    [T_POOL_BWD] = {"pool_bwd", 1.2e-7, 2.4e-7, FIXED,
                    "a float share times a float gradient added in float vs double: an ulp of the O(1) terms "
                    "when the sum cancels"},
    [T_XENT_LOSS] = {"xent_fwd_bwd loss", 1e-9, 1.2e-7, FIXED, "log-sum-exp in double both: 1 ulp"},
    [T_XENT_GRAD] = {"xent_fwd_bwd dlogits", 1e-9, 1.2e-7, FIXED, "in double both: 1 ulp"},
    [T_REDUCE] = {"reduce", 1e-12, 1e-12, SQRT_LEN, "double sums in 65536-element chunks vs in index order"},
    [T_ADAMW] = {"adamw", 0, 0, FIXED,
                 "element-wise float operations in the order the interface gives: exact (measured exact where "
                 "no multiply-add is fused; a fused one is 1 to 19 ulp off: a bug of the backend)"},
    [T_SQNORM] = {"example_sqnorm_*", 1e-12, 2.4e-7, FIXED,
                  "sums of squares in double (ghost norm, direct gradient or grouped rows: different formulas, "
                  "each within ~1e-15 relative of the exact value at these sizes, ghost cancellation included), "
                  "added to the float sq[b] and rounded once: within 2 ulp of each other"},
    [T_GRADCHECK] = {"cpu-ref gradients vs finite differences", 2e-3, 2e-3, FIXED,
                     "central differences of the float forward pass, h = 1e-2: O(h^2) and rounding / h"},
    [T_SQNORM_BRUTE] = {"cpu-ref example_sqnorm_* vs brute force", 1e-12, 1.2e-7, FIXED,
                        "the per-example gradient materialised in double (dW_b = sum_t dout_bt^T inp_bt, the "
                        "LayerNorm's sum_t dout * xhat, the embedding tables' per-example scatter-add) and its "
                        "squared norm plus the old sq[b], in double, vs cpu-ref's float sq[b]: its one rounding "
                        "(half an ulp) and double errors ~1e-15"},
};

/* ------------------------------------------------------------------ the subject */

static struct {
    const char *name;            /* the backend under test */
    dmb_backend *ref;            /* cpu-ref: the oracle */
    dmb_backend *be;             /* the subject (2 threads on the CPU) */
    dmb_backend *be1;            /* the subject with 1 thread, or NULL */
    int exact;                   /* the subject is cpu-ref: every result bit-identical */
    int bf16;                    /* the subject multiplies bfloat16 */
    char shape[200];             /* the case being run, for messages */
} S;

static dmi_rng rng;

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float uniform(float lo, float hi) { return (float)(lo + (hi - lo) * dmi_rng_unit(&rng)); }

static float *rand_floats(size_t n, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) abort();
    for (size_t i = 0; i < n; i++) x[i] = uniform(lo, hi);
    return x;
}

/* An op's status: anything but DM_OK is a failure naming the op and case. */
static void ok(dmb_backend *be, dm_status st, const char *op)
{
    if (st == DM_OK) return;
    check_failed++;
    fprintf(stderr, "FAIL %s %s [%s]: %s: %s\n", be->ops->name, op, S.shape, dm_status_name(st), dm_last_error());
}

/* Backend memory holding BYTES of HOST (zeroed when HOST is NULL). */
static void *dput(dmb_backend *be, const void *host, size_t bytes)
{
    void *d = be->ops->alloc(be, bytes ? bytes : 1);
    if (!d) {
        fprintf(stderr, "%s: cannot allocate %zu bytes: %s\n", be->ops->name, bytes, dm_last_error());
        exit(2);
    }
    ok(be, host ? be->ops->upload(be, d, host, bytes) : be->ops->zero(be, d, bytes), "upload");
    return d;
}

static void dget(dmb_backend *be, void *host, const void *dev, size_t bytes)
{
    ok(be, be->ops->download(be, host, dev, bytes), "download");
}

/* ------------------------------------------------------------------ results, comparison */

#define MAX_OUT 4

/* What one op on one backend gave, downloaded: float outputs, and for
 * to_bf16 bit patterns, for reduce a double. */
typedef struct result {
    const char *name[MAX_OUT];
    float *out[MAX_OUT];
    size_t n[MAX_OUT];
    uint16_t *u16;
    size_t n16;
    double d;
    int has_d;
} result;

static float *result_slot(result *r, int i, const char *name, size_t n)
{
    r->name[i] = name;
    r->n[i] = n;
    r->out[i] = malloc((n ? n : 1) * sizeof(float));
    if (!r->out[i]) abort();
    return r->out[i];
}

static void result_free(result *r)
{
    for (int i = 0; i < MAX_OUT; i++) free(r->out[i]);
    free(r->u16);
    memset(r, 0, sizeof *r);
}

/* |got - want| / (atol + rtol |want|): above 1 is a violation. Non-finite
 * values must agree exactly (NaN with NaN, Inf with the same Inf). */
static double ratio(const tolerance *t, double got, double want, size_t len)
{
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got) ? 0.0 : INFINITY;
    if (isinf(want) || isinf(got)) return got == want ? 0.0 : INFINITY;
    double diff = fabs(got - want);
    double allowed = t->atol * (t->scaling == SQRT_LEN ? sqrt((double)(len ? len : 1)) : 1.0) + t->rtol * fabs(want);
    if (diff == 0.0) return 0.0;
    return allowed > 0.0 ? diff / allowed : INFINITY;
}

static seen seen_by[N_TOL];

static void note_worst(tol_id id, double r, const char *what, size_t i)
{
    seen *s = &seen_by[id];
    double *worst = r <= 1.0 ? &s->worst : &s->worst_over;
    if (r <= *worst) return;
    *worst = r;
    char *at = r <= 1.0 ? s->worst_at : s->worst_over_at;
    snprintf(at, sizeof s->worst_at, "%s [%s] index %zu", what, S.shape, i);
}

/* How many floats lie between A and B (their bit patterns in order). */
static long long ulps_apart(float a, float b)
{
    int32_t x, y;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    long long ox = x < 0 ? (long long)INT32_MIN - x : x, oy = y < 0 ? (long long)INT32_MIN - y : y;
    return ox > oy ? ox - oy : oy - ox;
}

/* Element-wise comparison of N floats (or doubles); counts one check,
 * prints the first few violations. Against itself cpu-ref must agree bit
 * for bit. */
static void compare_values(tol_id id, const char *what, const void *got_v, const void *want_v, size_t n,
                           size_t len, int doubles)
{
    const tolerance *t = &tol[id];
    size_t elem = doubles ? sizeof(double) : sizeof(float), bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *gp = (const char *)got_v + i * elem, *wp = (const char *)want_v + i * elem;
        double g = doubles ? *(const double *)gp : *(const float *)gp;
        double w = doubles ? *(const double *)wp : *(const float *)wp;
        double r = S.exact ? (memcmp(gp, wp, elem) ? INFINITY : 0.0) : ratio(t, g, w, len);
        note_worst(id, r, what, i);
        if (r <= 1.0) continue;
        if (bad++ < 5)
            fprintf(stderr,
                    "FAIL %s %s (%s) [%s] index %zu: got %.9g, cpu-ref %.9g, |diff| %.3g (%.3g x tolerance, %lld ulp)\n",
                    S.name, t->op, what, S.shape, i, g, w, fabs(g - w), r, doubles ? 0 : ulps_apart((float)g, (float)w));
    }
    if (bad > 5) fprintf(stderr, "     ... %zu violations in all of %zu\n", bad, n);
    if (bad) check_failed++, seen_by[id].over++;
    else check_passed++;
}

/* Bit-identical results of the subject with 1 thread (ONE) and 2 (TWO). */
static void same_bits(tol_id id, const char *what, const void *one, const void *two, size_t bytes, size_t elem)
{
    if (memcmp(one, two, bytes) == 0) {
        check_passed++;
        return;
    }
    size_t i = 0;
    while (memcmp((const char *)one + i * elem, (const char *)two + i * elem, elem) == 0) i++;
    check_failed++;
    seen_by[id].thread_diffs++;
    double x = elem == 8 ? ((const double *)one)[i] : elem == 4 ? ((const float *)one)[i] : ((const uint16_t *)one)[i];
    double y = elem == 8 ? ((const double *)two)[i] : elem == 4 ? ((const float *)two)[i] : ((const uint16_t *)two)[i];
    fprintf(stderr, "FAIL %s %s (%s) [%s]: 1 thread and 2 threads differ, first at index %zu: %.9g vs %.9g\n",
            S.name, tol[id].op, what, S.shape, i, x, y);
    if (!seen_by[id].thread_diff_at[0])
        snprintf(seen_by[id].thread_diff_at, sizeof seen_by[id].thread_diff_at, "%s [%s]", what, S.shape);
}

typedef void (*runner)(dmb_backend *be, const void *c, result *r);

/* Runs case C on cpu-ref (WANT) and the subject (GOT), compares output i
 * with tolerance TOLS[i] at reduction length LENS[i], and runs the subject
 * with 1 thread to compare bit for bit. WANT and GOT stay for more checks. */
static void check_case(runner run, const void *c, const tol_id *tols, const size_t *lens, result *want, result *got)
{
    run(S.ref, c, want);
    run(S.be, c, got);
    for (int i = 0; i < MAX_OUT; i++)
        if (want->out[i]) compare_values(tols[i], want->name[i], got->out[i], want->out[i], want->n[i], lens[i], 0);
    if (want->u16) { /* bit patterns: equal, or the first difference */
        if (memcmp(want->u16, got->u16, want->n16 * 2) == 0) check_passed++;
        else {
            size_t i = 0;
            while (want->u16[i] == got->u16[i]) i++;
            check_failed++;
            note_worst(tols[0], INFINITY, "dst", i);
            seen_by[tols[0]].over++;
            fprintf(stderr, "FAIL %s to_bf16 [%s] index %zu: got 0x%04x, cpu-ref 0x%04x\n", S.name, S.shape, i,
                    got->u16[i], want->u16[i]);
        }
    }
    if (want->has_d) compare_values(tols[0], "dst", &got->d, &want->d, 1, lens[0], 1);
    if (!S.be1) return;
    result one = {0};
    run(S.be1, c, &one);
    for (int i = 0; i < MAX_OUT; i++)
        if (got->out[i]) same_bits(tols[i], got->name[i], one.out[i], got->out[i], got->n[i] * sizeof(float), 4);
    if (got->u16) same_bits(tols[0], "dst", one.u16, got->u16, got->n16 * 2, 2);
    if (got->has_d) same_bits(tols[0], "dst", &one.d, &got->d, sizeof got->d, 8);
    result_free(&one);
}

static void check_and_free(runner run, const void *c, const tol_id *tols, const size_t *lens)
{
    result want = {0}, got = {0};
    check_case(run, c, tols, lens, &want, &got);
    result_free(&want);
    result_free(&got);
}

/* ------------------------------------------------------------------ bfloat16 */

static float bits_to_float(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static uint32_t float_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

/* Rounding to bfloat16 written independently of the backends' bit trick:
 * the two bfloat16 neighbours of F, the nearer in double, the even one on a
 * tie (past the largest, the upper neighbour is 2^128: Inf). */
static uint16_t bf16_nearest(float f)
{
    uint32_t x = float_bits(f);
    if (isnan(f)) return (uint16_t)((x >> 16) | 0x40u);
    uint32_t lo = x & 0xFFFF0000u, hi = lo + 0x10000u;
    double below = bits_to_float(lo);
    if (below == f) return (uint16_t)(lo >> 16);
    double above = (hi & 0x7FFFFFFFu) == 0x7F800000u ? copysign(ldexp(1.0, 128), f) : bits_to_float(hi);
    double d_below = fabs((double)f - below), d_above = fabs(above - (double)f);
    if (d_below != d_above) return (uint16_t)((d_below < d_above ? lo : hi) >> 16);
    return (uint16_t)(((lo >> 16) & 1u) ? hi >> 16 : lo >> 16);
}

static uint16_t *to_bf16_host(const float *x, size_t n)
{
    uint16_t *h = malloc((n ? n : 1) * sizeof *h);
    if (!h) abort();
    for (size_t i = 0; i < n; i++) h[i] = bf16_nearest(x[i]);
    return h;
}

/* ------------------------------------------------------------------ gemm */

typedef struct gemm_case {
    dmb_gemm g;          /* shape and flags; pointers unset */
    float *a, *b, *c, *bias;
    uint16_t *a16, *b16; /* the inputs as bfloat16 when bf16 */
    size_t na, nb, nc;
} gemm_case;

static void run_gemm(dmb_backend *be, const void *cv, result *r)
{
    const gemm_case *c = cv;
    dmb_gemm g = c->g;
    size_t elem = g.bf16 ? 2 : 4;
    void *a = dput(be, g.bf16 ? (const void *)c->a16 : c->a, c->na * elem);
    void *b = dput(be, g.bf16 ? (const void *)c->b16 : c->b, c->nb * elem);
    float *cc = dput(be, c->c, c->nc * sizeof(float));
    float *bias = c->bias ? dput(be, c->bias, g.n * sizeof(float)) : NULL;
    g.a = a, g.b = b, g.c = cc, g.bias = bias;
    ok(be, be->ops->gemm(be, &g), "gemm");
    dget(be, result_slot(r, 0, "C", c->nc), cc, c->nc * sizeof(float));
    be->ops->free(be, a);
    be->ops->free(be, b);
    be->ops->free(be, cc);
    be->ops->free(be, bias);
}

/* An operand of ROWS x COLS stored with leading dimension ld = cols + pad,
 * BATCH times STRIDE apart: its element count. */
static size_t operand_size(size_t batch, size_t rows, size_t ld, size_t stride)
{
    size_t last = rows * ld;
    return (batch - 1) * stride + (last ? last : 1);
}

/* The padding of A and B (never read) holds NaN: a backend reading it
 * would show. C's padding holds 7 and must stay 7; C's elements hold NaN
 * when beta is 0 (uninitialised memory must not leak in). */
static void gemm_fill(gemm_case *c, size_t rows_a, size_t cols_a, size_t rows_b, size_t cols_b)
{
    dmb_gemm *g = &c->g;
    c->a = rand_floats(c->na, -1, 1);
    c->b = rand_floats(c->nb, -1, 1);
    c->c = rand_floats(c->nc, -1, 1);
    for (size_t i = 0; i < c->na; i++)
        if (i % g->stride_a >= rows_a * g->lda || i % g->stride_a % g->lda >= cols_a) c->a[i] = NAN;
    for (size_t i = 0; i < c->nb; i++)
        if (i % g->stride_b >= rows_b * g->ldb || i % g->stride_b % g->ldb >= cols_b) c->b[i] = NAN;
    for (size_t i = 0; i < c->nc; i++) {
        int pad = i % g->stride_c >= g->m * g->ldc || i % g->stride_c % g->ldc >= g->n;
        if (pad) c->c[i] = 7.0f;
        else if (g->beta == 0.0f) c->c[i] = NAN;
    }
    if (g->bf16) {
        c->a16 = to_bf16_host(c->a, c->na);
        c->b16 = to_bf16_host(c->b, c->nb);
    }
}

static void gemm_run_case(int ta, int tb, size_t m, size_t n, size_t k, size_t batch, size_t pad, float alpha,
                          float beta, int bias, dmb_act act, int bf16)
{
    if (bf16 && !S.bf16) return;
    gemm_case c = {0};
    dmb_gemm *g = &c.g;
    g->trans_a = ta, g->trans_b = tb, g->m = m, g->n = n, g->k = k, g->batch = batch;
    g->alpha = alpha, g->beta = beta, g->act = act, g->bf16 = bf16;
    size_t rows_a = ta ? k : m, cols_a = ta ? m : k, rows_b = tb ? n : k, cols_b = tb ? k : n;
    g->lda = cols_a + pad, g->ldb = cols_b + 2 * pad, g->ldc = n + pad;
    /* a gap of 5 between batch members when padded */
    g->stride_a = rows_a * g->lda + (pad ? 5 : 0);
    g->stride_b = rows_b * g->ldb + (pad ? 5 : 0);
    g->stride_c = m * g->ldc + (pad ? 5 : 0);
    if (g->stride_a == 0) g->stride_a = 1;
    if (g->stride_b == 0) g->stride_b = 1;
    c.na = operand_size(batch, rows_a, g->lda, g->stride_a);
    c.nb = operand_size(batch, rows_b, g->ldb, g->stride_b);
    c.nc = operand_size(batch, m, g->ldc, g->stride_c);
    gemm_fill(&c, rows_a, cols_a, rows_b, cols_b);
    if (bias) c.bias = rand_floats(n, -1, 1);
    snprintf(S.shape, sizeof S.shape, "%s%s m=%zu n=%zu k=%zu batch=%zu pad=%zu alpha=%g beta=%g%s%s%s",
             ta ? "A^T" : "A", tb ? " B^T" : " B", m, n, k, batch, pad, (double)alpha, (double)beta,
             bias ? " bias" : "", act == DMB_ACT_GELU ? " gelu" : "", bf16 ? " bf16" : "");
    tol_id t = bf16 ? T_GEMM_BF16 : T_GEMM;
    size_t len = k;
    check_and_free(run_gemm, &c, &t, &len);
    free(c.a), free(c.b), free(c.c), free(c.bias), free(c.a16), free(c.b16);
}

static void test_gemm(void)
{
    static const size_t sizes[][3] = {{1, 1, 1},   {3, 17, 65}, {17, 3, 1},    {65, 33, 17},
                                      {1, 64, 384}, {64, 1, 128}, {128, 96, 64}, {33, 65, 1000}};
    for (int bf16 = 0; bf16 < 2; bf16++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
                    size_t m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
                    /* batch, pad, alpha, beta, bias, act: each feature alone, then together */
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 1.0f, 0.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 1.0f, 1.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 1.0f, 0.0f, 1, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 1.0f, 0.0f, 1, DMB_ACT_GELU, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 1.0f, 0.0f, 0, DMB_ACT_GELU, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 3, 1.0f, 0.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 0.125f, 0.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 0.125f, 0.0f, 1, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 0, 0.125f, 1.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 1, 3, 1.0f, 1.0f, 1, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 3, 0, 0.35355339f, 0.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 3, 2, 1.0f, 0.0f, 1, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 3, 0, 1.0f, 1.0f, 0, DMB_ACT_NONE, bf16);
                    gemm_run_case(ta, tb, m, n, k, 3, 2, 1.0f, 1.0f, 0, DMB_ACT_NONE, bf16);
                }
    /* The model's shapes (MiniLM: C 384, I 1536, 12 heads of 32; 256 tokens);
     * not in cpu-ref's run against itself, where they would only take time. */
    if (S.exact) return;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        gemm_run_case(0, 1, 256, 1152, 384, 1, 0, 1.0f, 0.0f, 1, DMB_ACT_NONE, bf16);  /* qkv projection */
        gemm_run_case(0, 1, 256, 1536, 384, 1, 0, 1.0f, 0.0f, 1, DMB_ACT_GELU, bf16);  /* fc1 + GELU */
        gemm_run_case(0, 1, 128, 128, 32, 24, 0, 0.17677669f, 0.0f, 0, DMB_ACT_NONE, bf16); /* scores */
    }
    gemm_run_case(1, 0, 384, 1536, 256, 1, 0, 1.0f, 1.0f, 0, DMB_ACT_NONE, 0); /* fc1's weight gradient */
    gemm_run_case(0, 0, 256, 384, 1536, 1, 0, 1.0f, 0.0f, 0, DMB_ACT_NONE, 0); /* fc2's input gradient */
    gemm_run_case(1, 0, 2, 3, 4096, 1, 0, 1.0f, 1.0f, 0, DMB_ACT_NONE, 0);     /* tall k, tiny m n */
}

/* ------------------------------------------------------------------ bias_bwd, add, to_bf16 */

typedef struct rows_case {
    size_t rows, n;
    const float *x, *y; /* inputs */
    int alias;          /* add: 0 out separate, 1 out = inp, 2 out = res */
    const uint32_t *bits;
} rows_case;

static void run_bias_bwd(dmb_backend *be, const void *cv, result *r)
{
    const rows_case *c = cv;
    float *dbias = dput(be, c->y, c->n * sizeof(float)), *dout = dput(be, c->x, c->rows * c->n * sizeof(float));
    ok(be, be->ops->bias_bwd(be, dbias, dout, c->rows, c->n), "bias_bwd");
    dget(be, result_slot(r, 0, "dbias", c->n), dbias, c->n * sizeof(float));
    be->ops->free(be, dbias);
    be->ops->free(be, dout);
}

static void test_bias_bwd(void)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 17}, {65, 33}, {200, 384}, {4096, 3}, {1, 1000}, {130, 1536}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        rows_case c = {.rows = shapes[s][0], .n = shapes[s][1]};
        float *x = rand_floats(c.rows * c.n, -1, 1), *y = rand_floats(c.n, -1, 1);
        c.x = x, c.y = y;
        snprintf(S.shape, sizeof S.shape, "rows=%zu n=%zu", c.rows, c.n);
        tol_id t = T_BIAS_BWD;
        check_and_free(run_bias_bwd, &c, &t, &c.rows);
        free(x), free(y);
    }
}

static void run_add(dmb_backend *be, const void *cv, result *r)
{
    const rows_case *c = cv;
    size_t bytes = c->n * sizeof(float);
    float *inp = dput(be, c->x, bytes), *res = dput(be, c->y, bytes);
    float *out = c->alias == 1 ? inp : c->alias == 2 ? res : dput(be, NULL, bytes);
    ok(be, be->ops->add(be, out, inp, res, c->n), "add");
    dget(be, result_slot(r, 0, "out", c->n), out, bytes);
    if (out != inp && out != res) be->ops->free(be, out);
    be->ops->free(be, inp);
    be->ops->free(be, res);
}

static void test_add(void)
{
    static const size_t sizes[] = {1, 17, 16385, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int alias = 0; alias < 3; alias++) {
            rows_case c = {.n = sizes[s], .alias = alias};
            float *x = rand_floats(c.n, -3, 3), *y = rand_floats(c.n, -3, 3);
            c.x = x, c.y = y;
            snprintf(S.shape, sizeof S.shape, "n=%zu%s", c.n, alias == 1 ? " out=inp" : alias == 2 ? " out=res" : "");
            tol_id t = T_ADD;
            check_and_free(run_add, &c, &t, &c.n);
            free(x), free(y);
        }
}

/* x [rows = B examples, n each] times y[b] per example. */
static void run_scale_examples(dmb_backend *be, const void *cv, result *r)
{
    const rows_case *c = cv;
    float *x = dput(be, c->x, c->rows * c->n * sizeof(float)), *scale = dput(be, c->y, c->rows * sizeof(float));
    ok(be, be->ops->scale_examples(be, x, scale, c->rows, c->n), "scale_examples");
    dget(be, result_slot(r, 0, "x", c->rows * c->n), x, c->rows * c->n * sizeof(float));
    be->ops->free(be, x);
    be->ops->free(be, scale);
}

/* Shapes of DP-SGD's book-keeping: an example's T x width rows (over the
 * CPU backend's 16384-float chunks too), the head's one row, B = 1. */
static void test_scale_examples(void)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 17}, {32, 2}, {5, 16385}, {1, 100003}, {7, 64 * 384}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        rows_case c = {.rows = shapes[s][0], .n = shapes[s][1]};
        float *x = rand_floats(c.rows * c.n, -3, 3), *y = rand_floats(c.rows, 0, 1);
        c.x = x, c.y = y;
        snprintf(S.shape, sizeof S.shape, "B=%zu n=%zu", c.rows, c.n);
        tol_id t = T_SCALE_EXAMPLES;
        check_and_free(run_scale_examples, &c, &t, &c.n);
        free(x), free(y);
    }
}

static void run_to_bf16(dmb_backend *be, const void *cv, result *r)
{
    const rows_case *c = cv;
    float *src = dput(be, c->bits, c->n * 4);
    uint16_t *dst = dput(be, NULL, c->n * 2);
    ok(be, be->ops->to_bf16(be, dst, src, c->n), "to_bf16");
    r->n16 = c->n;
    r->u16 = malloc(c->n * 2);
    if (!r->u16) abort();
    dget(be, r->u16, dst, c->n * 2);
    be->ops->free(be, src);
    be->ops->free(be, dst);
}

/* Floats whose rounding is delicate: signed zeros, Inf, NaN (quiet,
 * signalling with the payload low or high), the largest float (rounds to
 * Inf), ties to even both ways, just off ties, subnormals. */
static const uint32_t bf16_specials[] = {
    0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u,
    0x7FBFFFFFu, 0x7FFFFFFFu, 0xFFFFFFFFu, 0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F7F8000u, 0x7F7F7FFFu, 0x3F808000u,
    0x3F818000u, 0x3F808001u, 0x3F807FFFu, 0xBF808000u, 0xBF818000u, 0x00000001u, 0x807FFFFFu, 0x00008000u,
    0x00018000u, 0x00007FFFu, 0x3F800000u, 0x4B7FFFFFu};

static uint32_t *bf16_inputs(size_t n)
{
    uint32_t *bits = malloc(n * sizeof *bits);
    if (!bits) abort();
    size_t ns = sizeof bf16_specials / sizeof *bf16_specials;
    for (size_t i = 0; i < n; i++)
        bits[i] = i < ns ? bf16_specials[i] : i % 2 ? dmi_rng_u32(&rng) : float_bits(uniform(-4, 4));
    return bits;
}

static void test_to_bf16(void)
{
    static const size_t sizes[] = {1, 3, 28, 65537};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        uint32_t *bits = bf16_inputs(sizes[s]);
        rows_case c = {.n = sizes[s], .bits = bits};
        snprintf(S.shape, sizeof S.shape, "n=%zu (special values first)", c.n);
        tol_id t = T_TO_BF16;
        check_and_free(run_to_bf16, &c, &t, &c.n);
        free(bits);
    }
}

/* ------------------------------------------------------------------ LayerNorm */

typedef struct ln_case {
    size_t N, C;
    float eps;
    const float *x, *w, *b, *dout, *mean, *rstd, *dw, *db;
    int with_dw, with_db;
} ln_case;

static void run_ln_fwd(dmb_backend *be, const void *cv, result *r)
{
    const ln_case *c = cv;
    size_t NC = c->N * c->C;
    float *x = dput(be, c->x, NC * 4), *w = dput(be, c->w, c->C * 4), *b = dput(be, c->b, c->C * 4);
    float *out = dput(be, NULL, NC * 4), *mean = dput(be, NULL, c->N * 4), *rstd = dput(be, NULL, c->N * 4);
    ok(be, be->ops->layernorm_fwd(be, out, mean, rstd, x, w, b, c->N, c->C, c->eps), "layernorm_fwd");
    dget(be, result_slot(r, 0, "out", NC), out, NC * 4);
    dget(be, result_slot(r, 1, "mean", c->N), mean, c->N * 4);
    dget(be, result_slot(r, 2, "rstd", c->N), rstd, c->N * 4);
    float *bufs[] = {x, w, b, out, mean, rstd};
    for (size_t i = 0; i < 6; i++) be->ops->free(be, bufs[i]);
}

static void run_ln_bwd(dmb_backend *be, const void *cv, result *r)
{
    const ln_case *c = cv;
    size_t NC = c->N * c->C;
    float *x = dput(be, c->x, NC * 4), *w = dput(be, c->w, c->C * 4), *dout = dput(be, c->dout, NC * 4);
    float *mean = dput(be, c->mean, c->N * 4), *rstd = dput(be, c->rstd, c->N * 4);
    float *dinp = dput(be, NULL, NC * 4);
    float *dw = c->with_dw ? dput(be, c->dw, c->C * 4) : NULL, *db = c->with_db ? dput(be, c->db, c->C * 4) : NULL;
    ok(be, be->ops->layernorm_bwd(be, dinp, dw, db, dout, x, w, mean, rstd, c->N, c->C), "layernorm_bwd");
    /* dinp = rstd (dy - mean(dy) - ...): its rounding errors scale with the
     * row's rstd (1e6 for a constant row at eps 1e-12), so it is compared in
     * units of rstd (the same division for every backend). */
    float *scaled = result_slot(r, 0, "dinp / rstd", NC);
    dget(be, scaled, dinp, NC * 4);
    for (size_t i = 0; i < NC; i++) scaled[i] /= c->rstd[i / c->C];
    if (dw) dget(be, result_slot(r, 1, "dw", c->C), dw, c->C * 4);
    if (db) dget(be, result_slot(r, 2, "db", c->C), db, c->C * 4);
    float *bufs[] = {x, w, dout, mean, rstd, dinp, dw, db};
    for (size_t i = 0; i < 8; i++) be->ops->free(be, bufs[i]);
}

static void layernorm_case(size_t N, size_t C, float eps, int constant_row)
{
    ln_case c = {.N = N, .C = C, .eps = eps};
    float *x = rand_floats(N * C, 1, 5), *w = rand_floats(C, 0.5f, 1.5f), *b = rand_floats(C, -1, 1);
    if (constant_row)
        for (size_t i = 0; i < C; i++) x[i] = 2.7182817f; /* variance 0: out = b */
    c.x = x, c.w = w, c.b = b;
    snprintf(S.shape, sizeof S.shape, "N=%zu C=%zu eps=%g%s", N, C, (double)eps,
             constant_row ? " (row 0 constant)" : "");
    tol_id tf[] = {T_LN_FWD, T_LN_STATS, T_LN_STATS};
    size_t lf[] = {C, C, C};
    result want = {0}, got = {0};
    check_case(run_ln_fwd, &c, tf, lf, &want, &got);

    /* the backward pass from cpu-ref's statistics, given to every backend */
    float *dout = rand_floats(N * C, -1, 1), *dw = rand_floats(C, -1, 1), *db = rand_floats(C, -1, 1);
    c.dout = dout, c.mean = want.out[1], c.rstd = want.out[2], c.dw = dw, c.db = db;
    static const char *const which[] = {"dw db", "no dw/db", "dw only", "db only"};
    for (int v = 0; v < 4; v++) {
        c.with_dw = v == 0 || v == 2, c.with_db = v == 0 || v == 3;
        snprintf(S.shape, sizeof S.shape, "N=%zu C=%zu eps=%g %s%s", N, C, (double)eps, which[v],
                 constant_row ? " (row 0 constant)" : "");
        tol_id tb[] = {T_LN_BWD_DINP, T_LN_BWD_DWDB, T_LN_BWD_DWDB};
        size_t lb[] = {C, N, N};
        check_and_free(run_ln_bwd, &c, tb, lb);
    }
    result_free(&want);
    result_free(&got);
    free(x), free(w), free(b), free(dout), free(dw), free(db);
}

static void test_layernorm(void)
{
    static const size_t Cs[] = {1, 7, 48, 384}, Ns[] = {1, 5, 130};
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 3; j++) {
            layernorm_case(Ns[j], Cs[i], 1e-12f, 0);
            layernorm_case(Ns[j], Cs[i], 1e-5f, 0);
        }
    /* a row of equal values: variance 0, rstd = 1 / sqrt(eps), out = b */
    layernorm_case(5, 384, 1e-12f, 1);
    layernorm_case(5, 7, 1e-5f, 1);
}

/* ------------------------------------------------------------------ element-wise: GELU, tanh, dropout */

typedef struct ew_case {
    size_t n;
    const float *x, *dout, *y;
    dmb_dropout d;
    int in_place;
} ew_case;

static void run_gelu(dmb_backend *be, const void *cv, result *r)
{
    const ew_case *c = cv;
    size_t bytes = c->n * 4;
    float *x = dput(be, c->x, bytes), *dout = dput(be, c->dout, bytes), *out = dput(be, NULL, bytes);
    float *dinp = dput(be, NULL, bytes);
    ok(be, be->ops->gelu_fwd(be, out, x, c->n), "gelu_fwd");
    ok(be, be->ops->gelu_bwd(be, dinp, x, dout, c->n), "gelu_bwd");
    dget(be, result_slot(r, 0, "out", c->n), out, bytes);
    dget(be, result_slot(r, 1, "dinp", c->n), dinp, bytes);
    float *bufs[] = {x, dout, out, dinp};
    for (size_t i = 0; i < 4; i++) be->ops->free(be, bufs[i]);
}

/* tanh_bwd takes the forward's output: cpu-ref's (Y), given to every backend. */
static void run_tanh(dmb_backend *be, const void *cv, result *r)
{
    const ew_case *c = cv;
    size_t bytes = c->n * 4;
    float *x = dput(be, c->x, bytes), *dout = dput(be, c->dout, bytes), *y = dput(be, c->y, bytes);
    float *out = dput(be, NULL, bytes), *dinp = dput(be, NULL, bytes);
    ok(be, be->ops->tanh_fwd(be, out, x, c->n), "tanh_fwd");
    ok(be, be->ops->tanh_bwd(be, dinp, y, dout, c->n), "tanh_bwd");
    dget(be, result_slot(r, 0, "out", c->n), out, bytes);
    dget(be, result_slot(r, 1, "dinp", c->n), dinp, bytes);
    float *bufs[] = {x, dout, y, out, dinp};
    for (size_t i = 0; i < 5; i++) be->ops->free(be, bufs[i]);
}

/* Inputs spanning GELU's and tanh's regions: the deep tails, zero, tiny. */
static float *activation_inputs(size_t n)
{
    static const float specials[] = {0.0f, -0.0f, 1e-6f, -1e-6f, 3.0f, -3.0f, 10.0f, -10.0f, 30.0f, -30.0f, -5.5f};
    float *x = rand_floats(n, -8, 8);
    for (size_t i = 0; i < n && i < sizeof specials / sizeof *specials; i++) x[i] = specials[i];
    return x;
}

static void test_activations(void)
{
    static const size_t sizes[] = {1, 3, 17, 1000, 65537};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        ew_case c = {.n = sizes[s]};
        float *x = activation_inputs(c.n), *dout = rand_floats(c.n, -1, 1), *y = malloc(c.n * 4);
        if (!y) abort();
        ok(S.ref, S.ref->ops->tanh_fwd(S.ref, y, x, c.n), "tanh_fwd"); /* cpu-ref's memory is the host's */
        c.x = x, c.dout = dout, c.y = y;
        snprintf(S.shape, sizeof S.shape, "n=%zu x in [-8, 8] and tails", c.n);
        tol_id tg[] = {T_GELU_FWD, T_GELU_BWD};
        size_t len[] = {1, 1};
        check_and_free(run_gelu, &c, tg, len);
        tol_id tt[] = {T_TANH_FWD, T_TANH_BWD};
        check_and_free(run_tanh, &c, tt, len);
        free(x), free(dout), free(y);
    }
}

static void run_dropout(dmb_backend *be, const void *cv, result *r)
{
    const ew_case *c = cv;
    size_t bytes = c->n * 4;
    float *x = dput(be, c->x, bytes), *dout = dput(be, c->dout, bytes);
    float *out = c->in_place ? x : dput(be, NULL, bytes), *dinp = c->in_place ? dout : dput(be, NULL, bytes);
    ok(be, be->ops->dropout_fwd(be, out, x, c->n, &c->d), "dropout_fwd");
    ok(be, be->ops->dropout_bwd(be, dinp, dout, c->n, &c->d), "dropout_bwd");
    dget(be, result_slot(r, 0, "fwd out", c->n), out, bytes);
    dget(be, result_slot(r, 1, "bwd dinp", c->n), dinp, bytes);
    if (!c->in_place) be->ops->free(be, out), be->ops->free(be, dinp);
    be->ops->free(be, x);
    be->ops->free(be, dout);
}

/* Which elements are 0: must be identical, element by element. */
static void same_zeros(const char *op, const float *got, const float *want, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if ((got[i] == 0.0f) != (want[i] == 0.0f) && bad++ == 0) first = i;
    if (!bad) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "FAIL %s %s [%s]: the dropout mask differs at %zu of %zu elements, first at index %zu "
            "(got %g, cpu-ref %g)\n", S.name, op, S.shape, bad, n, first, got[first], want[first]);
}

static void test_dropout(void)
{
    static const size_t sizes[] = {1, 3, 4095, 4096, 4097, 8191, 8192, 8193, 20000, 100003};
    static const dmb_dropout ds[] = {{0.0f, 1, 0},
                                     {0.1f, 42, 7},
                                     {0.5f, 42, 8},
                                     {0.5f, 0xDEADBEEFCAFEF00Dull, 0x123456789ABCDEF0ull},
                                     {0.1f, 1, 1ull << 40}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t k = 0; k < sizeof ds / sizeof *ds; k++)
            for (int in_place = 0; in_place < 2; in_place++) {
                ew_case c = {.n = sizes[s], .d = ds[k], .in_place = in_place};
                /* no input is 0, so every 0 out is a dropped element */
                float *x = rand_floats(c.n, 0.25f, 2), *dout = rand_floats(c.n, -2, -0.25f);
                c.x = x, c.dout = dout;
                snprintf(S.shape, sizeof S.shape, "n=%zu p=%g seed=%llx stream=%llx%s", c.n, (double)c.d.p,
                         (unsigned long long)c.d.seed, (unsigned long long)c.d.stream, in_place ? " in place" : "");
                tol_id t[] = {T_DROPOUT, T_DROPOUT};
                size_t len[] = {1, 1};
                result want = {0}, got = {0};
                check_case(run_dropout, &c, t, len, &want, &got);
                same_zeros("dropout_fwd", got.out[0], want.out[0], c.n);
                same_zeros("dropout_bwd", got.out[1], want.out[1], c.n);
                result_free(&want);
                result_free(&got);
                free(x), free(dout);
            }
}

/* ------------------------------------------------------------------ embeddings */

typedef struct embed_case {
    size_t B, T, C, V, NT;
    const int32_t *ids, *types;
    const float *wte, *wpe, *wtt, *dout;
    int skip; /* embed_bwd: 0 none, 1 dwte NULL, 2 dwpe NULL, 3 dwtt NULL */
} embed_case;

static void run_embed(dmb_backend *be, const void *cv, result *r)
{
    const embed_case *c = cv;
    size_t BT = c->B * c->T, C = c->C;
    int32_t *ids = dput(be, c->ids, BT * 4), *types = dput(be, c->types, BT * 4);
    float *wte = dput(be, c->wte, c->V * C * 4), *wpe = dput(be, c->wpe, c->T * C * 4);
    float *wtt = dput(be, c->wtt, c->NT * C * 4), *dout = dput(be, c->dout, BT * C * 4);
    float *out = dput(be, NULL, BT * C * 4);
    ok(be, be->ops->embed_fwd(be, out, ids, types, wte, wpe, wtt, c->B, c->T, C), "embed_fwd");
    dget(be, result_slot(r, 0, "out", BT * C), out, BT * C * 4);
    /* the tables' gradients accumulate into the tables' values */
    float *dwte = c->skip == 1 ? NULL : wte, *dwpe = c->skip == 2 ? NULL : wpe, *dwtt = c->skip == 3 ? NULL : wtt;
    ok(be, be->ops->embed_bwd(be, dwte, dwpe, dwtt, dout, ids, types, c->B, c->T, C), "embed_bwd");
    if (dwte) dget(be, result_slot(r, 1, "dwte", c->V * C), dwte, c->V * C * 4);
    if (dwpe) dget(be, result_slot(r, 2, "dwpe", c->T * C), dwpe, c->T * C * 4);
    if (dwtt) dget(be, result_slot(r, 3, "dwtt", c->NT * C), dwtt, c->NT * C * 4);
    void *bufs[] = {ids, types, wte, wpe, wtt, dout, out};
    for (size_t i = 0; i < 7; i++) be->ops->free(be, bufs[i]);
}

static void embed_case_run(size_t B, size_t T, size_t C, size_t V, size_t NT, int same_id)
{
    embed_case c = {.B = B, .T = T, .C = C, .V = V, .NT = NT};
    size_t BT = B * T;
    int32_t *ids = malloc(BT * 4), *types = malloc(BT * 4);
    if (!ids || !types) abort();
    for (size_t i = 0; i < BT; i++) {
        ids[i] = same_id ? (int32_t)(V - 1) : (int32_t)dmi_rng_below(&rng, V);
        types[i] = (int32_t)dmi_rng_below(&rng, NT);
    }
    float *wte = rand_floats(V * C, -1, 1), *wpe = rand_floats(T * C, -1, 1), *wtt = rand_floats(NT * C, -1, 1);
    float *dout = rand_floats(BT * C, -1, 1);
    c.ids = ids, c.types = types, c.wte = wte, c.wpe = wpe, c.wtt = wtt, c.dout = dout;
    static const char *const skips[] = {"", " dwte NULL", " dwpe NULL", " dwtt NULL"};
    for (int skip = 0; skip < 4; skip++) {
        c.skip = skip;
        snprintf(S.shape, sizeof S.shape, "B=%zu T=%zu C=%zu V=%zu types=%zu%s%s", B, T, C, V, NT,
                 same_id ? " every id the same" : "", skips[skip]);
        tol_id t[] = {T_EMBED_FWD, T_EMBED_BWD, T_EMBED_BWD, T_EMBED_BWD};
        size_t len[] = {1, BT, BT, BT};
        check_and_free(run_embed, &c, t, len);
    }
    free(ids), free(types), free(wte), free(wpe), free(wtt), free(dout);
}

static void test_embed(void)
{
    embed_case_run(1, 1, 1, 3, 1, 0);
    embed_case_run(2, 3, 7, 5, 2, 0);
    embed_case_run(4, 33, 48, 50, 2, 0);
    embed_case_run(8, 128, 64, 100, 2, 0);
    embed_case_run(4, 64, 16, 10, 1, 1);
    embed_case_run(16, 128, 24, 1000, 2, 0);
}

/* ------------------------------------------------------------------ masks */

typedef enum mask_kind { MASK_FULL, MASK_TAIL, MASK_ONE, MASK_HOLES, MASK_EMPTY } mask_kind;
static const char *const mask_names[] = {"all real", "padded tails", "all but one key padded", "random holes",
                                         "sequence 0 all padding"};

/* B x T key masks: 1 real, 0 padding; every sequence keeps one real key
 * except MASK_EMPTY's first (pooling divides by max(count, 1e-9)). */
static float *make_mask(mask_kind kind, size_t B, size_t T)
{
    float *m = malloc(B * T * sizeof *m);
    if (!m) abort();
    for (size_t b = 0; b < B; b++) {
        size_t len = 1 + (size_t)dmi_rng_below(&rng, T), one = (size_t)dmi_rng_below(&rng, T), real = 0;
        for (size_t t = 0; t < T; t++) {
            int v = kind == MASK_FULL ? 1
                  : kind == MASK_TAIL || kind == MASK_EMPTY ? t < len
                  : kind == MASK_ONE ? t == one
                  : (int)(dmi_rng_u32(&rng) & 1u);
            m[b * T + t] = (float)v;
            real += (size_t)v;
        }
        if (!real) m[b * T + one] = 1.0f;
        if (kind == MASK_EMPTY && b == 0)
            for (size_t t = 0; t < T; t++) m[t] = 0.0f;
    }
    return m;
}

/* ------------------------------------------------------------------ attention */

typedef struct att_case {
    dmb_attention a;  /* key_mask is host memory here */
    const float *qkv, *dout;
} att_case;

static void run_attention(dmb_backend *be, const void *cv, result *r)
{
    const att_case *c = cv;
    dmb_attention a = c->a;
    size_t BT = a.B * a.T, C = a.H * a.D;
    float *qkv = dput(be, c->qkv, BT * 3 * C * 4), *dout = dput(be, c->dout, BT * C * 4);
    float *mask = dput(be, c->a.key_mask, BT * 4), *out = dput(be, NULL, BT * C * 4);
    float *dqkv = dput(be, NULL, BT * 3 * C * 4);
    a.key_mask = mask;
    void *state = dput(be, NULL, be->ops->attention_state_bytes(be, &a));
    void *scratch = dput(be, NULL, be->ops->attention_scratch_bytes(be, &a));
    ok(be, be->ops->attention_fwd(be, out, state, qkv, &a), "attention_fwd");
    ok(be, be->ops->attention_bwd(be, dqkv, scratch, dout, qkv, out, state, &a), "attention_bwd");
    dget(be, result_slot(r, 0, "out", BT * C), out, BT * C * 4);
    dget(be, result_slot(r, 1, "dqkv", BT * 3 * C), dqkv, BT * 3 * C * 4);
    void *bufs[] = {qkv, dout, mask, out, dqkv, state, scratch};
    for (size_t i = 0; i < 7; i++) be->ops->free(be, bufs[i]);
}

/* The gradients of masked keys' k and v are exactly 0: they had probability
 * exactly 0. */
static void masked_keys_zero(const att_case *c, const float *dqkv)
{
    const dmb_attention *a = &c->a;
    size_t C = a->H * a->D, bad = 0;
    for (size_t bt = 0; bt < a->B * a->T; bt++)
        if (a->key_mask[bt] == 0.0f)
            for (size_t i = C; i < 3 * C; i++) bad += dqkv[bt * 3 * C + i] != 0.0f;
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "FAIL %s attention_bwd [%s]: %zu k/v gradients of masked keys are not 0\n", S.name, S.shape, bad);
}

/* With v_j the unit vector e_j (D >= T), out[b, i, h, j] is the dropped
 * probability P'[b, h, i, j]: the attention dropout mask and the masked
 * keys' exact zeros become visible. */
static void identity_values(float *qkv, const dmb_attention *a)
{
    size_t C = a->H * a->D;
    for (size_t bt = 0; bt < a->B * a->T; bt++)
        for (size_t h = 0; h < a->H; h++)
            for (size_t d = 0; d < a->D; d++) qkv[bt * 3 * C + 2 * C + h * a->D + d] = (float)(d == bt % a->T);
}

static void attention_case(size_t B, size_t T, size_t H, size_t D, mask_kind mk, dmb_dropout drop, int bf16,
                           int identity_v)
{
    if (bf16 && !S.bf16) return;
    att_case c = {.a = {.B = B, .T = T, .H = H, .D = D, .dropout = drop, .bf16 = bf16}};
    size_t BT = B * T, C = H * D;
    float *mask = make_mask(mk, B, T), *qkv = rand_floats(BT * 3 * C, -1, 1), *dout = rand_floats(BT * C, -1, 1);
    if (identity_v) identity_values(qkv, &c.a);
    c.a.key_mask = mask, c.qkv = qkv, c.dout = dout;
    snprintf(S.shape, sizeof S.shape, "B=%zu T=%zu H=%zu D=%zu %s p=%g seed=%llu stream=%llu%s%s", B, T, H, D,
             mask_names[mk], (double)drop.p, (unsigned long long)drop.seed, (unsigned long long)drop.stream,
             bf16 ? " bf16" : "", identity_v ? " v=identity" : "");
    tol_id t[] = {bf16 ? T_ATT_FWD_BF16 : T_ATT_FWD, T_ATT_BWD};
    size_t len[] = {T > D ? T : D, T > D ? T : D};
    result want = {0}, got = {0};
    check_case(run_attention, &c, t, len, &want, &got);
    masked_keys_zero(&c, got.out[1]);
    if (identity_v) same_zeros("attention_fwd (probabilities)", got.out[0], want.out[0], BT * C);
    result_free(&want);
    result_free(&got);
    free(mask), free(qkv), free(dout);
}

static void test_attention(void)
{
    static const size_t shapes[][4] = {{1, 1, 1, 1}, {2, 1, 2, 4},  {2, 7, 3, 5},   {3, 17, 2, 16},
                                       {1, 100, 3, 8}, {2, 64, 4, 32}, {1, 128, 12, 32}};
    static const dmb_dropout drops[] = {{0.0f, 0, 0}, {0.1f, 5, 11}, {0.5f, 6, (1ull << 33) + 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t B = shapes[s][0], T = shapes[s][1], H = shapes[s][2], D = shapes[s][3];
        int big = B * H * T * T > 100000; /* the model's shape: fewer combinations */
        if (big && S.exact) continue;
        for (int mk = MASK_FULL; mk <= MASK_HOLES; mk++) {
            if (big && mk != MASK_TAIL) continue;
            for (size_t k = 0; k < 3; k++) {
                if (big && k == 2) continue;
                for (int bf16 = 0; bf16 < 2; bf16++) attention_case(B, T, H, D, (mask_kind)mk, drops[k], bf16, 0);
            }
        }
    }
    /* The probabilities made visible: the dropout mask must be identical.
     * 2 x 2 x 64 x 64 spans two dropout blocks. */
    static const size_t vis[][4] = {{2, 5, 2, 8}, {1, 16, 3, 16}, {3, 32, 2, 32}, {2, 64, 2, 64}};
    for (size_t s = 0; s < sizeof vis / sizeof *vis; s++)
        for (int mk = MASK_FULL; mk <= MASK_HOLES; mk++)
            for (size_t k = 0; k < 3; k++)
                for (int bf16 = 0; bf16 < 2; bf16++)
                    attention_case(vis[s][0], vis[s][1], vis[s][2], vis[s][3], (mask_kind)mk, drops[k], bf16, 1);
}

/* ------------------------------------------------------------------ pooling */

typedef struct pool_case {
    size_t B, T, C;
    dmb_pool mode;
    const float *inp, *mask, *dout, *dinp0;
} pool_case;

static void run_pool(dmb_backend *be, const void *cv, result *r)
{
    const pool_case *c = cv;
    size_t BTC = c->B * c->T * c->C, BC = c->B * c->C;
    float *inp = dput(be, c->inp, BTC * 4), *mask = dput(be, c->mask, c->B * c->T * 4);
    float *dout = dput(be, c->dout, BC * 4), *dinp = dput(be, c->dinp0, BTC * 4), *out = dput(be, NULL, BC * 4);
    ok(be, be->ops->pool_fwd(be, out, inp, mask, c->B, c->T, c->C, c->mode), "pool_fwd");
    ok(be, be->ops->pool_bwd(be, dinp, dout, mask, c->B, c->T, c->C, c->mode), "pool_bwd");
    dget(be, result_slot(r, 0, "out", BC), out, BC * 4);
    dget(be, result_slot(r, 1, "dinp", BTC), dinp, BTC * 4);
    float *bufs[] = {inp, mask, dout, dinp, out};
    for (size_t i = 0; i < 5; i++) be->ops->free(be, bufs[i]);
}

static void test_pool(void)
{
    static const size_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 64, 384}, {2, 128, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int mk = MASK_FULL; mk <= MASK_EMPTY; mk++)
            for (int mode = DMB_POOL_FIRST; mode <= DMB_POOL_MEAN; mode++) {
                pool_case c = {.B = shapes[s][0], .T = shapes[s][1], .C = shapes[s][2], .mode = (dmb_pool)mode};
                size_t BTC = c.B * c.T * c.C;
                float *inp = rand_floats(BTC, -1, 1), *mask = make_mask((mask_kind)mk, c.B, c.T);
                float *dout = rand_floats(c.B * c.C, -1, 1), *dinp0 = rand_floats(BTC, -1, 1);
                c.inp = inp, c.mask = mask, c.dout = dout, c.dinp0 = dinp0;
                snprintf(S.shape, sizeof S.shape, "B=%zu T=%zu C=%zu %s %s", c.B, c.T, c.C,
                         mode == DMB_POOL_FIRST ? "FIRST" : "MEAN", mask_names[mk]);
                tol_id t[] = {T_POOL_FWD, T_POOL_BWD};
                size_t len[] = {c.T, c.T};
                check_and_free(run_pool, &c, t, len);
                free(inp), free(mask), free(dout), free(dinp0);
            }
}

/* ------------------------------------------------------------------ cross-entropy */

typedef struct xent_case {
    size_t B, L;
    const float *logits, *weights;
    const int32_t *labels;
    float grad_scale;
    int with_grad;
} xent_case;

static void run_xent(dmb_backend *be, const void *cv, result *r)
{
    const xent_case *c = cv;
    size_t BL = c->B * c->L;
    float *logits = dput(be, c->logits, BL * 4), *losses = dput(be, NULL, c->B * 4);
    int32_t *labels = dput(be, c->labels, c->B * 4);
    float *weights = c->weights ? dput(be, c->weights, c->B * 4) : NULL;
    float *dlogits = c->with_grad ? dput(be, NULL, BL * 4) : NULL;
    ok(be, be->ops->xent_fwd_bwd(be, losses, dlogits, logits, labels, weights, c->B, c->L, c->grad_scale),
       "xent_fwd_bwd");
    dget(be, result_slot(r, 0, "losses", c->B), losses, c->B * 4);
    if (dlogits) dget(be, result_slot(r, 1, "dlogits", BL), dlogits, BL * 4);
    void *bufs[] = {logits, losses, labels, weights, dlogits};
    for (size_t i = 0; i < 5; i++) be->ops->free(be, bufs[i]);
}

static void test_xent(void)
{
    static const size_t shapes[][2] = {{1, 1}, {1, 2}, {7, 3}, {64, 2}, {33, 17}, {16, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int v = 0; v < 4; v++) {
            xent_case c = {.B = shapes[s][0], .L = shapes[s][1], .grad_scale = v & 1 ? 0.25f : 1.0f,
                           .with_grad = v != 3};
            float scale = v & 2 ? 30.0f : 3.0f; /* large logits test log-sum-exp */
            float *logits = rand_floats(c.B * c.L, -scale, scale), *weights = rand_floats(c.B, 0, 2);
            int32_t *labels = malloc(c.B * 4);
            if (!labels) abort();
            for (size_t b = 0; b < c.B; b++)
                labels[b] = b % 5 == 3 ? -1 : (int32_t)dmi_rng_below(&rng, c.L); /* every 5th ignored */
            if (c.B > 1) weights[1] = 0.0f;
            c.logits = logits, c.labels = labels, c.weights = v >= 2 ? weights : NULL;
            snprintf(S.shape, sizeof S.shape, "B=%zu L=%zu logits in +-%g %s grad_scale=%g%s", c.B, c.L,
                     (double)scale, c.weights ? "weights" : "no weights", (double)c.grad_scale,
                     c.with_grad ? "" : " no dlogits");
            tol_id t[] = {T_XENT_LOSS, T_XENT_GRAD};
            size_t len[] = {c.L, c.L};
            check_and_free(run_xent, &c, t, len);
            free(logits), free(weights), free(labels);
        }
}

/* ------------------------------------------------------------------ reduce, adamw */

typedef struct reduce_case {
    size_t n;
    const float *x;
    dmb_reduce kind;
    int accumulate;
} reduce_case;

static void run_reduce(dmb_backend *be, const void *cv, result *r)
{
    const reduce_case *c = cv;
    /* without accumulate the old value must not count */
    double start = c->accumulate ? 1.25 : 1e30;
    float *x = dput(be, c->x, c->n * 4);
    double *dst = dput(be, &start, sizeof start);
    ok(be, be->ops->reduce(be, dst, x, c->n, c->kind, c->accumulate), "reduce");
    dget(be, &r->d, dst, sizeof r->d);
    r->has_d = 1;
    be->ops->free(be, x);
    be->ops->free(be, dst);
}

static void test_reduce(void)
{
    static const size_t sizes[] = {0, 1, 3, 65535, 65536, 65537, 200003};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int v = 0; v < 8; v++) {
            reduce_case c = {.n = sizes[s], .kind = v & 1 ? DMB_SUM_SQUARES : DMB_SUM, .accumulate = (v >> 1) & 1};
            float *x = v & 4 ? rand_floats(c.n, 0, 1000) : rand_floats(c.n, -1, 1);
            c.x = x;
            snprintf(S.shape, sizeof S.shape, "n=%zu %s%s x in %s", c.n, c.kind == DMB_SUM ? "SUM" : "SUM_SQUARES",
                     c.accumulate ? " accumulate" : "", v & 4 ? "[0, 1000]" : "[-1, 1]");
            tol_id t = T_REDUCE;
            check_and_free(run_reduce, &c, &t, &c.n);
            free(x);
        }
}

typedef struct adamw_case {
    size_t n;
    const float *p, *g, *m, *v;
    float lr, b1, b2, eps, wd, grad_scale;
    uint64_t step;
} adamw_case;

static void run_adamw(dmb_backend *be, const void *cv, result *r)
{
    const adamw_case *c = cv;
    size_t bytes = c->n * 4;
    float *p = dput(be, c->p, bytes), *g = dput(be, c->g, bytes), *m = dput(be, c->m, bytes);
    float *v = dput(be, c->v, bytes);
    ok(be, be->ops->adamw(be, p, g, m, v, c->n, c->lr, c->b1, c->b2, c->eps, c->wd, c->step, c->grad_scale),
       "adamw");
    dget(be, result_slot(r, 0, "p", c->n), p, bytes);
    dget(be, result_slot(r, 1, "m", c->n), m, bytes);
    dget(be, result_slot(r, 2, "v", c->n), v, bytes);
    float *bufs[] = {p, g, m, v};
    for (size_t i = 0; i < 4; i++) be->ops->free(be, bufs[i]);
}

static void test_adamw(void)
{
    static const size_t sizes[] = {1, 17, 32773, 100000};
    /* lr, wd, eps, grad_scale, step, fresh moments */
    static const struct { float lr, wd, eps, gs; uint64_t step; int fresh; } cfg[] = {
        {1e-3f, 0.01f, 1e-8f, 1.0f, 1, 1},     {2e-5f, 0.0f, 1e-8f, 0.5f, 2, 0},
        {1e-3f, 0.01f, 1e-6f, 0.25f, 1000, 0}, {5e-5f, 0.1f, 1e-8f, 1.0f, 1000, 0},
        {3e-4f, 0.0f, 1e-8f, 3.0f, 37, 0}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (size_t k = 0; k < sizeof cfg / sizeof *cfg; k++) {
            adamw_case c = {.n = sizes[s], .lr = cfg[k].lr, .b1 = 0.9f, .b2 = 0.999f, .eps = cfg[k].eps,
                            .wd = cfg[k].wd, .grad_scale = cfg[k].gs, .step = cfg[k].step};
            float *p = rand_floats(c.n, -1, 1), *g = rand_floats(c.n, -1e-2f, 1e-2f);
            float *m = rand_floats(c.n, -1e-3f, 1e-3f), *v = rand_floats(c.n, 0, 1e-5f);
            if (cfg[k].fresh) memset(m, 0, c.n * 4), memset(v, 0, c.n * 4);
            for (size_t i = 0; i < c.n; i += 7) g[i] = 0.0f;
            c.p = p, c.g = g, c.m = m, c.v = v;
            snprintf(S.shape, sizeof S.shape, "n=%zu step=%llu lr=%g wd=%g eps=%g grad_scale=%g%s", c.n,
                     (unsigned long long)c.step, (double)c.lr, (double)c.wd, (double)c.eps, (double)c.grad_scale,
                     cfg[k].fresh ? " fresh moments" : "");
            tol_id t[] = {T_ADAMW, T_ADAMW, T_ADAMW};
            size_t len[] = {1, 1, 1};
            check_and_free(run_adamw, &c, t, len);
            free(p), free(g), free(m), free(v);
        }
}

/* ------------------------------------------------------------------ per-example squared norms (DP-SGD) */

typedef enum sqn_kind { SQN_LINEAR, SQN_LAYERNORM, SQN_EMBED } sqn_kind;

static const char *const sqn_names[] = {"example_sqnorm_linear", "example_sqnorm_layernorm", "example_sqnorm_embed"};

typedef struct sqn_case {
    sqn_kind kind;
    size_t B, T, n_in, n_out; /* LayerNorm and embeddings: C = n_out */
    size_t V, NT;             /* embeddings: ids below V, types below NT */
    int f0, f1, f2;           /* weight, bias (linear, LayerNorm); words, positions, types (embeddings) */
    const float *sq0;         /* sq's values before: the ops add */
    const float *dout, *inp, *mean, *rstd;
    const int32_t *ids, *types;
} sqn_case;

/* sq after the op, from SQ0. */
static void run_sqnorm(dmb_backend *be, const void *cv, result *r)
{
    const sqn_case *c = cv;
    size_t BT = c->B * c->T, C = c->n_out;
    float *sq = dput(be, c->sq0, c->B * 4), *dout = dput(be, c->dout, BT * C * 4);
    void *bufs[6] = {sq, dout};
    dm_status st;
    if (c->kind == SQN_LINEAR) {
        float *inp = bufs[2] = dput(be, c->inp, BT * c->n_in * 4);
        st = be->ops->example_sqnorm_linear(be, sq, dout, inp, c->B, c->T, c->n_in, C, c->f0, c->f1);
    } else if (c->kind == SQN_LAYERNORM) {
        float *inp = bufs[2] = dput(be, c->inp, BT * C * 4);
        float *mean = bufs[3] = dput(be, c->mean, BT * 4), *rstd = bufs[4] = dput(be, c->rstd, BT * 4);
        st = be->ops->example_sqnorm_layernorm(be, sq, dout, inp, mean, rstd, c->B, c->T, C, c->f0, c->f1);
    } else {
        int32_t *ids = bufs[2] = dput(be, c->ids, BT * 4), *types = bufs[3] = dput(be, c->types, BT * 4);
        st = be->ops->example_sqnorm_embed(be, sq, dout, ids, types, c->B, c->T, C, c->f0, c->f1, c->f2);
    }
    ok(be, st, sqn_names[c->kind]);
    dget(be, result_slot(r, 0, "sq", c->B), sq, c->B * 4);
    for (size_t i = 0; i < 6; i++) be->ops->free(be, bufs[i]);
}

/* Random inputs for C (sq0 in [0.5, 2]: the ops must add to it). Ids and
 * types below V and NT, so that small V repeats ids within an example
 * (SAME_ID: every id equal, as padding). */
static void sqn_fill(sqn_case *c, int same_id)
{
    size_t BT = c->B * c->T, C = c->n_out;
    c->sq0 = rand_floats(c->B, 0.5f, 2.0f);
    c->dout = rand_floats(BT * C, -1, 1);
    c->inp = c->mean = c->rstd = NULL;
    c->ids = c->types = NULL;
    if (c->kind == SQN_LINEAR) c->inp = rand_floats(BT * c->n_in, -1, 1);
    if (c->kind == SQN_LAYERNORM) {
        c->inp = rand_floats(BT * C, 1, 5);
        c->mean = rand_floats(BT, 2, 4);
        c->rstd = rand_floats(BT, 0.5f, 2.0f);
    }
    if (c->kind == SQN_EMBED) {
        int32_t *ids = malloc((BT ? BT : 1) * 4), *types = malloc((BT ? BT : 1) * 4);
        if (!ids || !types) abort();
        for (size_t i = 0; i < BT; i++) {
            ids[i] = same_id ? (int32_t)(c->V - 1) : (int32_t)dmi_rng_below(&rng, c->V);
            types[i] = (int32_t)dmi_rng_below(&rng, c->NT);
        }
        c->ids = ids, c->types = types;
    }
}

static void sqn_free(sqn_case *c)
{
    free((void *)c->sq0), free((void *)c->dout), free((void *)c->inp), free((void *)c->mean);
    free((void *)c->rstd), free((void *)c->ids), free((void *)c->types);
}

/* Every combination of the flags (none included: sq unchanged). */
static void sqn_case_run(sqn_kind kind, size_t B, size_t T, size_t n_in, size_t n_out, size_t V, size_t NT,
                         int same_id)
{
    sqn_case c = {.kind = kind, .B = B, .T = T, .n_in = n_in, .n_out = n_out, .V = V, .NT = NT};
    sqn_fill(&c, same_id);
    int combos = kind == SQN_EMBED ? 8 : 4;
    for (int f = 0; f < combos; f++) {
        c.f0 = f & 1, c.f1 = (f >> 1) & 1, c.f2 = (f >> 2) & 1;
        if (kind == SQN_EMBED)
            snprintf(S.shape, sizeof S.shape, "%s B=%zu T=%zu C=%zu V=%zu types=%zu%s words=%d positions=%d types=%d",
                     sqn_names[kind], B, T, n_out, V, NT, same_id ? " every id the same" : "", c.f0, c.f1, c.f2);
        else
            snprintf(S.shape, sizeof S.shape, "%s B=%zu T=%zu n_in=%zu n_out=%zu weight=%d bias=%d", sqn_names[kind],
                     B, T, kind == SQN_LINEAR ? n_in : n_out, n_out, c.f0, c.f1);
        tol_id t = T_SQNORM;
        size_t len = 1;
        check_and_free(run_sqnorm, &c, &t, &len);
    }
    sqn_free(&c);
}

static void test_sqnorm(void)
{
    /* linear: T = 1 (head, pooler), T not a multiple of 32, channels with
     * ragged tails; {2, 40, 8, 12} and {3, 70, 20, 9} are narrow and long,
     * where cpu-onednn takes the direct gradient instead of the ghost norm
     * (its Gram matrices float32 products when T > 1); {2, 64, 384, 1536}
     * is MiniLM's FFN at 64 tokens; T = 0 adds nothing */
    static const size_t lin[][4] = {{1, 1, 1, 1},    {3, 1, 7, 5},    {5, 1, 384, 2}, {2, 5, 33, 17},
                                    {4, 37, 48, 40}, {2, 3, 130, 70}, {2, 40, 8, 12}, {3, 70, 20, 9},
                                    {2, 0, 5, 3},    {2, 64, 384, 1536}, {3, 128, 384, 384}};
    for (size_t i = 0; i < sizeof lin / sizeof *lin; i++)
        sqn_case_run(SQN_LINEAR, lin[i][0], lin[i][1], lin[i][2], lin[i][3], 0, 0, 0);
    static const size_t ln[][3] = {{1, 1, 1}, {3, 1, 7}, {2, 37, 48}, {4, 5, 300}, {2, 33, 384}};
    for (size_t i = 0; i < sizeof ln / sizeof *ln; i++) sqn_case_run(SQN_LAYERNORM, ln[i][0], ln[i][1], 0, ln[i][2], 0, 0, 0);
    /* embeddings: ids repeated within an example (V small against T) */
    sqn_case_run(SQN_EMBED, 1, 1, 0, 1, 3, 1, 0);
    sqn_case_run(SQN_EMBED, 2, 5, 0, 7, 3, 2, 0);
    sqn_case_run(SQN_EMBED, 3, 37, 0, 48, 10, 2, 0);
    sqn_case_run(SQN_EMBED, 2, 70, 0, 24, 4, 3, 0);
    sqn_case_run(SQN_EMBED, 4, 33, 0, 16, 1, 1, 1);
    sqn_case_run(SQN_EMBED, 2, 16, 0, 300, 1000, 2, 0);
    sqn_case_run(SQN_EMBED, 2, 0, 0, 5, 3, 2, 0); /* no tokens: sq unchanged */
}

/* ------------------------------------------------------------------ the interface */

/* Every op of struct dmb_ops; the assertion below fails to compile when an
 * op is added to the interface and not here. */
#define DMB_EVERY_OP(X)                                                                                       \
    X(destroy) X(synchronize) X(caps) X(alloc) X(free) X(upload) X(download) X(zero) X(gemm) X(bias_bwd)     \
    X(to_bf16) X(add) X(layernorm_fwd) X(layernorm_bwd) X(gelu_fwd) X(gelu_bwd) X(tanh_fwd) X(tanh_bwd)     \
    X(dropout_fwd) X(dropout_bwd) X(embed_fwd) X(embed_bwd) X(attention_state_bytes)                       \
    X(attention_scratch_bytes) X(attention_fwd) X(attention_bwd) X(pool_fwd) X(pool_bwd) X(xent_fwd_bwd)   \
    X(reduce) X(adamw) X(example_sqnorm_linear) X(example_sqnorm_layernorm) X(example_sqnorm_embed) \
    X(scale_examples)
#define COUNT_OP(op) +1
_Static_assert(offsetof(struct dmb_ops, destroy) + (0 DMB_EVERY_OP(COUNT_OP)) * sizeof(void (*)(void)) ==
                   sizeof(struct dmb_ops),
               "an op of struct dmb_ops is missing from DMB_EVERY_OP");

static void check_interface(dmb_backend *be, const char *name)
{
    const struct dmb_ops *o = be->ops;
#define CHECK_OP(op)                                                                          \
    if (!o->op) fprintf(stderr, "FAIL %s: ops->" #op " is NULL\n", name);                    \
    CHECK(o->op != NULL);
    DMB_EVERY_OP(CHECK_OP)
#undef CHECK_OP
    CHECK(o->version == DMB_INTERFACE_VERSION);
    CHECK(strcmp(o->name, name) == 0);
    CHECK(o->synchronize(be) == DM_OK);
    dmb_caps caps;
    CHECK(o->caps(be, &caps) == DM_OK);
    CHECK(caps.version == DMB_INTERFACE_VERSION);
    CHECK(caps.f32 == 1);
    if (o->device == DM_DEVICE_CPU) CHECK(caps.host_memory == 1);
    if (strcmp(name, "cpu-ref") == 0) CHECK(caps.bf16 == 1 && caps.flash_attention == 0);

    /* memory: counted while held, given back when freed, 64-byte aligned */
    size_t before = caps.memory_used;
    char *p = o->alloc(be, 1000), *q = o->alloc(be, 1);
    CHECK(p && q && (uintptr_t)p % 64 == 0 && (uintptr_t)q % 64 == 0);
    CHECK(o->caps(be, &caps) == DM_OK && caps.memory_used >= before + 1001);
    unsigned char host[1000], back[1000];
    for (size_t i = 0; i < sizeof host; i++) host[i] = (unsigned char)(i * 7 + 1);
    CHECK(o->upload(be, p, host, sizeof host) == DM_OK && o->download(be, back, p, sizeof back) == DM_OK);
    CHECK(memcmp(host, back, sizeof host) == 0);
    CHECK(o->zero(be, p, 100) == DM_OK && o->download(be, back, p, sizeof back) == DM_OK);
    CHECK(back[0] == 0 && back[99] == 0 && back[100] == host[100]);
    o->free(be, p);
    o->free(be, q);
    o->free(be, NULL);
    CHECK(o->caps(be, &caps) == DM_OK && caps.memory_used == before);
}

static void test_registry(void)
{
    dmb_backend *be = (dmb_backend *)&be; /* must be set to NULL */
    CHECK_FAILS(dmb_create_named("nope", 1, &be), DM_ERR_UNSUPPORTED, "nope");
    CHECK(be == NULL);
    const char *const *names = dmb_names();
    int has_ref = 0, has_onednn = 0;
    for (size_t i = 0; names[i]; i++) {
        has_ref |= strcmp(names[i], "cpu-ref") == 0;
        has_onednn |= strcmp(names[i], "cpu-onednn") == 0;
        dm_status st = dmb_create_named(names[i], 1, &be);
        if (st == DM_ERR_UNSUPPORTED && strcmp(names[i], "cuda") == 0) {
            /* built in, but no GPU (or driver) here: refused with the reason, never a crash */
            CHECK(be == NULL && strstr(dm_last_error(), "device CUDA cannot be used: ") != NULL);
            printf("cuda: cannot run here: %s\n", dm_last_error());
            continue;
        }
        CHECK(st == DM_OK && be);
        if (be) check_interface(be, names[i]);
        dmb_destroy(be);
    }
    CHECK(has_ref);
    CHECK(has_onednn == DM_HAVE_ONEDNN);
}

/* ------------------------------------------------------------------ cpu-ref on its own */

/* A product worked by hand: A = [1 2; 3 4], B = [5 6; 7 8], AB = [19 22; 43
 * 50], A^T B = [26 30; 38 44], A B^T = [17 23; 39 53], A^T B^T = [23 31; 34
 * 46]; with bias [1 -1], alpha 0.5 and beta 1 on C = 1. */
static void ref_gemm_by_hand(void)
{
    dmb_backend *r = S.ref;
    static const float want[4][4] = {{19, 22, 43, 50}, {26, 30, 38, 44}, {17, 23, 39, 53}, {23, 31, 34, 46}};
    float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8}, bias[2] = {1, -1};
    for (int t = 0; t < 4; t++) {
        float C[4] = {1, 1, 1, 1};
        dmb_gemm g = {.trans_a = t & 1, .trans_b = t >> 1, .m = 2, .n = 2, .k = 2, .a = A, .lda = 2, .b = B,
                      .ldb = 2, .c = C, .ldc = 2, .batch = 1, .alpha = 0.5f, .beta = 1.0f, .bias = bias};
        CHECK(r->ops->gemm(r, &g) == DM_OK);
        for (int i = 0; i < 4; i++) CHECK(C[i] == 0.5f * want[t][i] + 1.0f + bias[i % 2]);
    }
    float C[4];
    dmb_gemm g = {.m = 2, .n = 2, .k = 2, .a = A, .lda = 2, .b = B, .ldb = 2, .c = C, .ldc = 2, .batch = 1,
                  .alpha = 1.0f, .beta = 1.0f, .act = DMB_ACT_GELU};
    CHECK_FAILS(r->ops->gemm(r, &g), DM_ERR_INVALID_ARGUMENT, "activation needs beta == 0");
    g.beta = 0.5f, g.act = DMB_ACT_NONE;
    CHECK_FAILS(r->ops->gemm(r, &g), DM_ERR_INVALID_ARGUMENT, "beta must be 0 or 1");
    /* k = 0: an empty sum, C = beta C + bias. Not among the cases every
     * backend runs: oneDNN 2.6 dies of SIGFPE creating such a product. */
    float C0[2] = {1, 2};
    dmb_gemm g0 = {.m = 1, .n = 2, .k = 0, .a = A, .lda = 1, .b = B, .ldb = 2, .c = C0, .ldc = 2, .batch = 1,
                   .alpha = 1.0f, .beta = 1.0f, .bias = bias};
    CHECK(r->ops->gemm(r, &g0) == DM_OK && C0[0] == 2.0f && C0[1] == 1.0f);
    /* GELU(1) = Phi(1) = 0.841344746..., GELU(-1) = -0.158655254... */
    float one[1] = {1}, minus[1] = {-1}, out[2];
    g.m = g.n = g.k = 1, g.a = one, g.b = one, g.c = out, g.beta = 0.0f, g.act = DMB_ACT_GELU;
    CHECK(r->ops->gemm(r, &g) == DM_OK && out[0] == (float)0.8413447460685429);
    g.b = minus, g.c = out + 1;
    CHECK(r->ops->gemm(r, &g) == DM_OK && out[1] == (float)-0.15865525393145707);
}

static void ref_bf16_rounding(void)
{
    size_t n = 1 << 20;
    uint32_t *bits = bf16_inputs(n);
    uint16_t *got = malloc(n * 2);
    if (!got) abort();
    CHECK(S.ref->ops->to_bf16(S.ref, got, (const float *)bits, n) == DM_OK);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != bf16_nearest(bits_to_float(bits[i])) && bad++ < 3)
            fprintf(stderr, "FAIL cpu-ref to_bf16 of 0x%08x: 0x%04x, nearest even 0x%04x\n", bits[i], got[i],
                    bf16_nearest(bits_to_float(bits[i])));
    CHECK(bad == 0);
    free(bits), free(got);
}

/* The share of elements dropout keeps is 1 - p (within 5 standard deviations). */
static void ref_dropout_rate(void)
{
    size_t n = 1000003;
    float *x = malloc(n * 4);
    if (!x) abort();
    for (float p = 0.1f; p < 0.95f; p += 0.4f) {
        for (size_t i = 0; i < n; i++) x[i] = 1.0f;
        dmb_dropout d = {p, 123, 456};
        CHECK(S.ref->ops->dropout_fwd(S.ref, x, x, n, &d) == DM_OK);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) kept += x[i] != 0.0f;
        double rate = (double)kept / (double)n, sd = sqrt(p * (1.0 - p) / (double)n);
        CHECK(fabs(rate - (1.0 - p)) < 5 * sd);
    }
    free(x);
}

/* Finite differences: d(sum_i R_i f(x)_i)/dx_j by central differences of
 * FWD against the analytic gradient GRAD (d at j). */
typedef double (*loss_fn)(const void *ctx, float *x);

static void gradcheck(const char *what, loss_fn loss, const void *ctx, float *x, const float *grad, size_t n)
{
    const float h = 1e-2f;
    for (size_t j = 0; j < n; j++) {
        float keep = x[j];
        x[j] = keep + h;
        double up = loss(ctx, x);
        x[j] = keep - h;
        double down = loss(ctx, x);
        x[j] = keep;
        double fd = (up - down) / (2.0 * h);
        double r = ratio(&tol[T_GRADCHECK], grad[j], fd, 1);
        note_worst(T_GRADCHECK, r, what, j);
        if (r > 1.0) {
            check_failed++;
            fprintf(stderr, "FAIL cpu-ref %s index %zu: gradient %.7g, finite difference %.7g\n", what, j, grad[j], fd);
        } else {
            check_passed++;
        }
    }
}

static double weighted(const float *y, const float *R, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)R[i] * y[i];
    return s;
}

typedef struct ln_ctx {
    size_t N, C;
    float *x, *w, *b, *R, *out, *mean, *rstd;
    int which; /* 0 x, 1 w, 2 b varies */
} ln_ctx;

static double ln_loss(const void *cv, float *v)
{
    const ln_ctx *c = cv;
    const float *x = c->which == 0 ? v : c->x, *w = c->which == 1 ? v : c->w, *b = c->which == 2 ? v : c->b;
    (void)S.ref->ops->layernorm_fwd(S.ref, c->out, c->mean, c->rstd, x, w, b, c->N, c->C, 1e-5f);
    return weighted(c->out, c->R, c->N * c->C);
}

static void ref_gradcheck_layernorm(void)
{
    ln_ctx c = {.N = 3, .C = 7};
    size_t NC = c.N * c.C;
    c.x = rand_floats(NC, -2, 2), c.w = rand_floats(c.C, 0.5f, 1.5f), c.b = rand_floats(c.C, -1, 1);
    c.R = rand_floats(NC, -1, 1), c.out = malloc(NC * 4), c.mean = malloc(c.N * 4), c.rstd = malloc(c.N * 4);
    float *dinp = malloc(NC * 4), *dw = calloc(c.C, 4), *db = calloc(c.C, 4);
    ln_loss(&c, c.x);
    CHECK(S.ref->ops->layernorm_bwd(S.ref, dinp, dw, db, c.R, c.x, c.w, c.mean, c.rstd, c.N, c.C) == DM_OK);
    gradcheck("layernorm_bwd dinp", ln_loss, &c, c.x, dinp, NC);
    c.which = 1;
    gradcheck("layernorm_bwd dw", ln_loss, &c, c.w, dw, c.C);
    c.which = 2;
    gradcheck("layernorm_bwd db", ln_loss, &c, c.b, db, c.C);
    free(c.x), free(c.w), free(c.b), free(c.R), free(c.out), free(c.mean), free(c.rstd);
    free(dinp), free(dw), free(db);
}

typedef struct ew_ctx {
    size_t n;
    float *R, *out;
    int tanh_;
} ew_ctx;

static double ew_loss(const void *cv, float *x)
{
    const ew_ctx *c = cv;
    if (c->tanh_) (void)S.ref->ops->tanh_fwd(S.ref, c->out, x, c->n);
    else (void)S.ref->ops->gelu_fwd(S.ref, c->out, x, c->n);
    return weighted(c->out, c->R, c->n);
}

static void ref_gradcheck_activations(void)
{
    ew_ctx c = {.n = 9};
    float *x = rand_floats(c.n, -4, 4), *dinp = malloc(c.n * 4), *y = malloc(c.n * 4);
    c.R = rand_floats(c.n, -1, 1), c.out = malloc(c.n * 4);
    CHECK(S.ref->ops->gelu_bwd(S.ref, dinp, x, c.R, c.n) == DM_OK);
    gradcheck("gelu_bwd", ew_loss, &c, x, dinp, c.n);
    c.tanh_ = 1;
    CHECK(S.ref->ops->tanh_fwd(S.ref, y, x, c.n) == DM_OK);
    CHECK(S.ref->ops->tanh_bwd(S.ref, dinp, y, c.R, c.n) == DM_OK);
    gradcheck("tanh_bwd", ew_loss, &c, x, dinp, c.n);
    free(x), free(dinp), free(y), free(c.R), free(c.out);
}

typedef struct att_ctx {
    dmb_attention a;
    float *R, *out;
    void *state;
} att_ctx;

static double att_loss(const void *cv, float *qkv)
{
    const att_ctx *c = cv;
    (void)S.ref->ops->attention_fwd(S.ref, c->out, c->state, qkv, &c->a);
    return weighted(c->out, c->R, c->a.B * c->a.T * c->a.H * c->a.D);
}

/* Attention's backward pass against finite differences, with a padded key
 * and with dropout (a fixed mask: the function is smooth in qkv). */
static void ref_gradcheck_attention(void)
{
    for (int dropping = 0; dropping < 2; dropping++) {
        att_ctx c = {.a = {.B = 2, .T = 4, .H = 2, .D = 3}};
        size_t BT = 8, C = 6;
        float mask[8] = {1, 1, 0, 1, 1, 1, 1, 1};
        c.a.key_mask = mask;
        if (dropping) c.a.dropout = (dmb_dropout){0.3f, 9, 4};
        float *qkv = rand_floats(BT * 3 * C, -1, 1), *dqkv = malloc(BT * 3 * C * 4);
        c.R = rand_floats(BT * C, -1, 1), c.out = malloc(BT * C * 4);
        c.state = malloc(S.ref->ops->attention_state_bytes(S.ref, &c.a));
        void *scratch = malloc(S.ref->ops->attention_scratch_bytes(S.ref, &c.a));
        att_loss(&c, qkv);
        CHECK(S.ref->ops->attention_bwd(S.ref, dqkv, scratch, c.R, qkv, c.out, c.state, &c.a) == DM_OK);
        gradcheck(dropping ? "attention_bwd with dropout" : "attention_bwd", att_loss, &c, qkv, dqkv, BT * 3 * C);
        free(qkv), free(dqkv), free(c.R), free(c.out), free(c.state), free(scratch);
    }
}

typedef struct xent_ctx {
    size_t B, L;
    const int32_t *labels;
    const float *weights;
    float *losses;
} xent_ctx;

static double xent_loss(const void *cv, float *logits)
{
    const xent_ctx *c = cv;
    (void)S.ref->ops->xent_fwd_bwd(S.ref, c->losses, NULL, logits, c->labels, c->weights, c->B, c->L, 1.0f);
    double s = 0.0;
    for (size_t b = 0; b < c->B; b++) s += c->losses[b];
    return s;
}

static void ref_gradcheck_xent(void)
{
    int32_t labels[3] = {2, -1, 0};
    float weights[3] = {0.5f, 1.0f, 2.0f}, losses[3];
    xent_ctx c = {.B = 3, .L = 4, .labels = labels, .weights = weights, .losses = losses};
    float *logits = rand_floats(12, -3, 3), dlogits[12];
    CHECK(S.ref->ops->xent_fwd_bwd(S.ref, losses, dlogits, logits, labels, weights, 3, 4, 1.0f) == DM_OK);
    gradcheck("xent_fwd_bwd dlogits", xent_loss, &c, logits, dlogits, 12);
    CHECK_FAILS(S.ref->ops->xent_fwd_bwd(S.ref, losses, NULL, logits, (int32_t[]){0, 4, 0}, NULL, 3, 4, 1.0f),
                DM_ERR_INVALID_ARGUMENT, "label 4 of row 1");
    free(logits);
}

typedef struct pool_ctx {
    size_t B, T, C;
    const float *mask;
    float *R, *out;
} pool_ctx;

static double pool_loss(const void *cv, float *inp)
{
    const pool_ctx *c = cv;
    (void)S.ref->ops->pool_fwd(S.ref, c->out, inp, c->mask, c->B, c->T, c->C, DMB_POOL_MEAN);
    return weighted(c->out, c->R, c->B * c->C);
}

static void ref_gradcheck_pool(void)
{
    float mask[6] = {1, 1, 0, 1, 0, 0};
    pool_ctx c = {.B = 2, .T = 3, .C = 2, .mask = mask};
    float *inp = rand_floats(12, -1, 1), *dinp = calloc(12, 4);
    c.R = rand_floats(4, -1, 1), c.out = malloc(4 * 4);
    CHECK(S.ref->ops->pool_bwd(S.ref, dinp, c.R, mask, 2, 3, 2, DMB_POOL_MEAN) == DM_OK);
    gradcheck("pool_bwd MEAN", pool_loss, &c, inp, dinp, 12);
    free(inp), free(dinp), free(c.R), free(c.out);
}

/* The per-example norms against each example's gradient materialised in
 * double from the definitions (cpu-ref itself sums the same entries in
 * another order, and never forms a table): the weight dW_b[o][i] = sum_t
 * dout_bt[o] inp_bt[i], the bias sum_t dout_bt, the LayerNorm's sum_t dout
 * * xhat, the embedding tables' rows after a scatter-add of example b's
 * tokens alone. */
static void sqn_brute(const sqn_case *c, double *want)
{
    size_t T = c->T, C = c->n_out, n_in = c->n_in;
    for (size_t b = 0; b < c->B; b++) {
        double total = 0.0;
        if (c->kind == SQN_LINEAR) {
            double *dW = calloc(C * n_in + 1, sizeof *dW), *db = calloc(C + 1, sizeof *db);
            if (!dW || !db) abort();
            for (size_t t = 0; t < T; t++) {
                const float *g = c->dout + (b * T + t) * C, *x = c->inp + (b * T + t) * n_in;
                for (size_t o = 0; o < C; o++) {
                    db[o] += g[o];
                    for (size_t i = 0; i < n_in; i++) dW[o * n_in + i] += (double)g[o] * x[i];
                }
            }
            for (size_t k = 0; c->f0 && k < C * n_in; k++) total += dW[k] * dW[k];
            for (size_t o = 0; c->f1 && o < C; o++) total += db[o] * db[o];
            free(dW), free(db);
        } else if (c->kind == SQN_LAYERNORM) {
            double *dw = calloc(C + 1, sizeof *dw), *db = calloc(C + 1, sizeof *db);
            if (!dw || !db) abort();
            for (size_t t = 0; t < T; t++) {
                size_t r = b * T + t;
                for (size_t i = 0; i < C; i++) {
                    double xhat = ((double)c->inp[r * C + i] - c->mean[r]) * c->rstd[r];
                    dw[i] += c->dout[r * C + i] * xhat;
                    db[i] += c->dout[r * C + i];
                }
            }
            for (size_t i = 0; i < C; i++) total += (c->f0 ? dw[i] * dw[i] : 0.0) + (c->f1 ? db[i] * db[i] : 0.0);
            free(dw), free(db);
        } else {
            /* the three tables of example b alone: V x C, T x C, NT x C */
            double *wte = calloc(c->V * C + 1, sizeof *wte), *wpe = calloc(T * C + 1, sizeof *wpe);
            double *wtt = calloc(c->NT * C + 1, sizeof *wtt);
            if (!wte || !wpe || !wtt) abort();
            for (size_t t = 0; t < T; t++) {
                size_t r = b * T + t;
                for (size_t i = 0; i < C; i++) {
                    double g = c->dout[r * C + i];
                    wte[(size_t)c->ids[r] * C + i] += g;
                    wpe[t * C + i] += g;
                    wtt[(size_t)c->types[r] * C + i] += g;
                }
            }
            for (size_t k = 0; c->f0 && k < c->V * C; k++) total += wte[k] * wte[k];
            for (size_t k = 0; c->f1 && k < T * C; k++) total += wpe[k] * wpe[k];
            for (size_t k = 0; c->f2 && k < c->NT * C; k++) total += wtt[k] * wtt[k];
            free(wte), free(wpe), free(wtt);
        }
        want[b] = (double)c->sq0[b] + total;
    }
}

static void ref_sqnorm_brute(void)
{
    static const struct { sqn_kind kind; size_t B, T, n_in, n_out, V, NT; int same; } cases[] = {
        {SQN_LINEAR, 3, 37, 20, 13, 0, 0, 0}, {SQN_LINEAR, 2, 1, 9, 4, 0, 0, 0},   {SQN_LINEAR, 2, 40, 8, 12, 0, 0, 0},
        {SQN_LAYERNORM, 3, 37, 0, 30, 0, 0, 0}, {SQN_LAYERNORM, 2, 1, 0, 5, 0, 0, 0},
        {SQN_EMBED, 3, 37, 0, 12, 6, 2, 0},   {SQN_EMBED, 2, 9, 0, 5, 1, 1, 1},    {SQN_EMBED, 2, 1, 0, 3, 4, 2, 0}};
    double *want = malloc(8 * sizeof *want), *got = malloc(8 * sizeof *got);
    if (!want || !got) abort();
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        sqn_case c = {.kind = cases[k].kind, .B = cases[k].B, .T = cases[k].T, .n_in = cases[k].n_in,
                      .n_out = cases[k].n_out, .V = cases[k].V, .NT = cases[k].NT};
        sqn_fill(&c, cases[k].same);
        int combos = c.kind == SQN_EMBED ? 8 : 4;
        for (int f = 1; f < combos; f++) {
            c.f0 = f & 1, c.f1 = (f >> 1) & 1, c.f2 = (f >> 2) & 1;
            snprintf(S.shape, sizeof S.shape, "%s B=%zu T=%zu n_in=%zu C=%zu V=%zu types=%zu flags %d%d%d",
                     sqn_names[c.kind], c.B, c.T, c.n_in, c.n_out, c.V, c.NT, c.f0, c.f1, c.f2);
            result r = {0};
            run_sqnorm(S.ref, &c, &r);
            for (size_t b = 0; b < c.B; b++) got[b] = r.out[0][b];
            sqn_brute(&c, want);
            compare_values(T_SQNORM_BRUTE, "sq", got, want, c.B, 1, 1);
            result_free(&r);
        }
        sqn_free(&c);
    }
    free(want), free(got);
}

static void check_reference(void)
{
    memset(&seen_by[T_GRADCHECK], 0, sizeof seen_by[T_GRADCHECK]);
    ref_gemm_by_hand();
    ref_bf16_rounding();
    ref_dropout_rate();
    ref_gradcheck_layernorm();
    ref_gradcheck_activations();
    ref_gradcheck_attention();
    ref_gradcheck_xent();
    ref_gradcheck_pool();
    memset(&seen_by[T_SQNORM_BRUTE], 0, sizeof seen_by[T_SQNORM_BRUTE]);
    ref_sqnorm_brute();
    printf("cpu-ref on its own: hand-worked gemm, bfloat16 rounding, dropout rate; %s: worst %.3g of tolerance "
           "(%s)\n", tol[T_GRADCHECK].op, seen_by[T_GRADCHECK].worst, seen_by[T_GRADCHECK].worst_at);
    printf("cpu-ref on its own: %s: worst %.3g of tolerance (%s)%s\n", tol[T_SQNORM_BRUTE].op,
           seen_by[T_SQNORM_BRUTE].worst, seen_by[T_SQNORM_BRUTE].worst_at,
           seen_by[T_SQNORM_BRUTE].over ? "; OVER tolerance" : "");
}

/* ------------------------------------------------------------------ driver */

/* Every op's cases, timed. */
static void run_every_op(void)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } groups[] = {{"gemm", test_gemm},       {"bias_bwd", test_bias_bwd},   {"to_bf16", test_to_bf16},
                  {"add", test_add}, {"scale_examples", test_scale_examples},         {"layernorm", test_layernorm}, {"gelu/tanh", test_activations},
                  {"dropout", test_dropout}, {"embed", test_embed},         {"attention", test_attention},
                  {"pool", test_pool},       {"xent", test_xent},           {"reduce", test_reduce},
                  {"adamw", test_adamw},     {"example_sqnorm", test_sqnorm}};
    printf("%s: seconds per op:", S.name);
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
        double t0 = seconds();
        groups[i].run();
        printf(" %s %.1f", groups[i].name, seconds() - t0);
        fflush(stdout);
    }
    printf("\n");
}

static void report_subject(double secs)
{
    if (S.exact) {
        printf("%s against cpu-ref: every op bit-identical (%.1f s)\n", S.name, secs);
        return;
    }
    printf("%s against cpu-ref (%.1f s%s): worst |diff| / tolerance per op\n", S.name, secs,
           S.be1 ? "; and with 1 thread against 2" : "");
    for (int i = 0; i < N_TOL; i++) {
        const tolerance *t = &tol[i];
        const seen *s = &seen_by[i];
        if (i == T_GRADCHECK || i == T_SQNORM_BRUTE) continue;
        printf("  %-24s atol %-7.2g%s rtol %-7.2g worst %-9.3g %s\n", t->op, t->atol,
               t->scaling == SQRT_LEN ? "*sqrt(len)" : "           ", t->rtol, s->worst, s->worst_at);
        if (s->over)
            printf("  %-24s %zu case(s) OVER tolerance, worst %.3g: %s\n", "", s->over, s->worst_over,
                   s->worst_over_at);
        if (s->thread_diffs)
            printf("  %-24s %zu case(s) DIFFER between 1 and 2 threads, first: %s\n", "", s->thread_diffs,
                   s->thread_diff_at);
    }
}

/* The CUDA backends' own argument checks (the glue's, before any launch):
 * each refusal with its status and message (no memory is touched, so no
 * buffers are needed); and what the kernels do with a label out of range. */
static void check_cuda_arguments(dmb_backend *be)
{
    const struct dmb_ops *o = be->ops;
    dmb_gemm g = {.m = 2, .n = 2, .k = 2, .batch = 1, .alpha = 1.0f, .beta = 0.5f};
    CHECK_FAILS(o->gemm(be, &g), DM_ERR_INVALID_ARGUMENT, "beta must be 0 or 1");
    g.beta = 1.0f, g.act = DMB_ACT_GELU;
    CHECK_FAILS(o->gemm(be, &g), DM_ERR_INVALID_ARGUMENT, "activation needs beta == 0");
    g.beta = 0.0f, g.act = (dmb_act)7;
    CHECK_FAILS(o->gemm(be, &g), DM_ERR_INVALID_ARGUMENT, "act 7 is not a dmb_act");
    dmb_dropout d = {.p = 1.0f};
    CHECK_FAILS(o->dropout_fwd(be, NULL, NULL, 4, &d), DM_ERR_INVALID_ARGUMENT, "p must be in [0, 1)");
    dmb_attention a = {.B = 1, .T = 4, .H = 1, .D = 129};
    CHECK_FAILS(o->attention_fwd(be, NULL, NULL, NULL, &a), DM_ERR_UNSUPPORTED, "heads of at most 128");
    a.D = 64, a.dropout.p = -0.5f;
    CHECK_FAILS(o->attention_bwd(be, NULL, NULL, NULL, NULL, NULL, NULL, &a), DM_ERR_INVALID_ARGUMENT,
                "dropout p must be in [0, 1)");
    CHECK_FAILS(o->pool_fwd(be, NULL, NULL, NULL, 1, 1, 1, (dmb_pool)9), DM_ERR_INVALID_ARGUMENT,
                "mode 9 is not a dmb_pool");
    CHECK_FAILS(o->reduce(be, NULL, NULL, 1, (dmb_reduce)9, 0), DM_ERR_INVALID_ARGUMENT, "kind 9 is not a dmb_reduce");
    CHECK_FAILS(o->adamw(be, NULL, NULL, NULL, NULL, 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0, 1.0f),
                DM_ERR_INVALID_ARGUMENT, "step counts from 1");
    /* A label not below L (on the device: the glue cannot see it) is never
     * a loss: that row's loss and gradient are NaN, the others as usual. */
    float logits[6] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, -2.0f}, loss[2], dl[6];
    int32_t labels[2] = {1, 3};
    float *dz = dput(be, logits, sizeof logits), *dlo = dput(be, NULL, sizeof loss), *ddl = dput(be, NULL, sizeof dl);
    int32_t *dy = dput(be, labels, sizeof labels);
    ok(be, o->xent_fwd_bwd(be, dlo, ddl, dz, dy, NULL, 2, 3, 1.0f), "xent_fwd_bwd");
    dget(be, loss, dlo, sizeof loss);
    dget(be, dl, ddl, sizeof dl);
    CHECK(isfinite(loss[0]) && loss[0] > 0 && isnan(loss[1]));
    CHECK(isfinite(dl[0]) && isnan(dl[3]) && isnan(dl[5]));
    void *bufs[] = {dz, dlo, ddl, dy};
    for (size_t i = 0; i < 4; i++) o->free(be, bufs[i]);
}

static void test_subject(const char *name)
{
    double t0 = seconds();
    memset(&S.shape, 0, sizeof S.shape);
    S.name = name;
    S.exact = strcmp(name, "cpu-ref") == 0;
    S.be = S.be1 = NULL;
    if (dmb_create_named(name, 2, &S.be) != DM_OK) {
        printf("%s: cannot run here (%s): skipped\n", name, dm_last_error());
        return;
    }
    if (S.be->ops->device == DM_DEVICE_CPU && !S.exact) CHECK(dmb_create_named(name, 1, &S.be1) == DM_OK);
    dmb_caps caps;
    CHECK(S.be->ops->caps(S.be, &caps) == DM_OK);
    S.bf16 = caps.bf16;
    if (!S.bf16) printf("%s: no bfloat16 products on this machine: bf16 cases skipped\n", name);
    if (strncmp(name, "cuda", 4) == 0) check_cuda_arguments(S.be);
    memset(seen_by, 0, sizeof seen_by);
    dmi_rng_init(&rng, 20240611, 0); /* every subject sees the same inputs */
    run_every_op();
    report_subject(seconds() - t0);
    dmb_destroy(S.be);
    dmb_destroy(S.be1);
}

int main(void)
{
    double t0 = seconds();
    test_registry();
    if (dmb_create_named("cpu-ref", 1, &S.ref) != DM_OK) {
        fprintf(stderr, "cannot create cpu-ref: %s\n", dm_last_error());
        return 1;
    }
    dmi_rng_init(&rng, 7, 0);
    check_reference();
    const char *const *names = dmb_names();
    const char *only = getenv("DM_OPS_ONLY");
    for (size_t i = 0; names[i]; i++)
        if (strcmp(names[i], "cpu-ref") != 0 && (!only || !*only || strcmp(only, names[i]) == 0))
            test_subject(names[i]);
    const char *skip_self = getenv("DM_OPS_SKIP_SELF");
    if ((!skip_self || !*skip_self) && (!only || !*only || strcmp(only, "cpu-ref") == 0))
        test_subject("cpu-ref"); /* deterministic: a second cpu-ref agrees bit for bit */
    dmb_destroy(S.ref);
    printf("op suite: %.1f s\n", seconds() - t0);
    return check_summary();
}
