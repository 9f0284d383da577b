/*
 * ops_elementwise.cuh — the element-wise ops (part of ops.cu): to_bf16, add, scale_examples,
 * GELU, tanh, dropout, AdamW. One thread per element in grid-stride loops
 * (dropout: one per Philox call, 8 elements).
 *
 * Which must equal cpu-ref (lib/backend/backend_ref.c) bit for bit: to_bf16,
 * add, scale_examples, dropout and adamw: their products and sums go through DMK_FMUL /
 * DMK_FADD / DMK_FDIV / DMK_FSQRT (no fused multiply-add) in ref's order.
 * GELU is float (erff / erfcf) within the suite's 3e-7 + 2.4e-7 |x|; tanh
 * is computed in double as ref does (it only runs on the pooler's B x C).
 */

/* ------------------------------------------------------------------ to_bf16, add */

DMK_GLOBAL void ops_to_bf16_kernel(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = ops_first(); i < n; i += ops_stride()) dst[i] = dmk_float_to_bf16(src[i]);
}

/* out may alias inp or res: each element is read and written by one thread. */
DMK_GLOBAL void ops_add_kernel(float *out, const float *inp, const float *res, size_t n)
{
    for (size_t i = ops_first(); i < n; i += ops_stride()) out[i] = DMK_FADD(inp[i], res[i]);
}

/* Example b's n elements times scale[b] (DP-SGD's book-keeping). */
DMK_GLOBAL void ops_scale_examples_kernel(float *x, const float *scale, size_t B, size_t n)
{
    for (size_t i = ops_first(); i < B * n; i += ops_stride()) x[i] = DMK_FMUL(x[i], scale[i / n]);
}

extern "C" int dmk_to_bf16(const dmk_env *env, uint16_t *dst, const float *src, size_t n)
{
    DMK_LAUNCH(ops_to_bf16_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, dst, src, n);
    return 0;
}

extern "C" int dmk_add(const dmk_env *env, float *out, const float *inp, const float *res, size_t n)
{
    DMK_LAUNCH(ops_add_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, out, inp, res, n);
    return 0;
}

extern "C" int dmk_scale_examples(const dmk_env *env, float *x, const float *scale, size_t B, size_t n)
{
    DMK_LAUNCH(ops_scale_examples_kernel, ops_blocks(B * n, OPS_THREADS), OPS_THREADS, env->stream, x, scale, B, n);
    return 0;
}

/* ------------------------------------------------------------------ GELU */

/* Phi(x), the standard normal distribution function. Left of 0 as
 * erfc(-x / sqrt 2) / 2: 1 + erff(x / sqrt 2) would cancel there, and
 * erfcf keeps its relative accuracy in the tail. */
DMK_DEV float ops_normal_cdf(float x)
{
    const float rsqrt2 = 0.70710678118654752f;
    return x >= 0.0f ? 0.5f * (1.0f + erff(x * rsqrt2)) : 0.5f * erfcf(-x * rsqrt2);
}

DMK_GLOBAL void ops_gelu_fwd_kernel(float *out, const float *inp, size_t n)
{
    for (size_t i = ops_first(); i < n; i += ops_stride()) {
        float x = inp[i];
        out[i] = x * ops_normal_cdf(x);
    }
}

/* gelu'(x) = Phi(x) + x phi(x). */
DMK_GLOBAL void ops_gelu_bwd_kernel(float *dinp, const float *inp, const float *dout, size_t n)
{
    const float rsqrt_2pi = 0.39894228040143268f;
    for (size_t i = ops_first(); i < n; i += ops_stride()) {
        float x = inp[i];
        float pdf = expf(-0.5f * x * x) * rsqrt_2pi;
        dinp[i] = dout[i] * (ops_normal_cdf(x) + x * pdf);
    }
}

extern "C" int dmk_gelu_fwd(const dmk_env *env, float *out, const float *inp, size_t n)
{
    DMK_LAUNCH(ops_gelu_fwd_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, out, inp, n);
    return 0;
}

extern "C" int dmk_gelu_bwd(const dmk_env *env, float *dinp, const float *inp, const float *dout, size_t n)
{
    DMK_LAUNCH(ops_gelu_bwd_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, dinp, inp, dout, n);
    return 0;
}

/* ------------------------------------------------------------------ tanh */

/* In double as ref: the pooler's B x C values cost nothing, and tanhf's
 * 2 ulp would sit on the suite's 2.4e-7 relative bound. */
DMK_GLOBAL void ops_tanh_fwd_kernel(float *out, const float *inp, size_t n)
{
    for (size_t i = ops_first(); i < n; i += ops_stride()) out[i] = (float)tanh((double)inp[i]);
}

DMK_GLOBAL void ops_tanh_bwd_kernel(float *dinp, const float *out, const float *dout, size_t n)
{
    for (size_t i = ops_first(); i < n; i += ops_stride()) {
        double y = out[i];
        dinp[i] = (float)((double)dout[i] * (1.0 - y * y));
    }
}

extern "C" int dmk_tanh_fwd(const dmk_env *env, float *out, const float *inp, size_t n)
{
    DMK_LAUNCH(ops_tanh_fwd_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, out, inp, n);
    return 0;
}

extern "C" int dmk_tanh_bwd(const dmk_env *env, float *dinp, const float *out, const float *dout, size_t n)
{
    DMK_LAUNCH(ops_tanh_bwd_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, dinp, out, dout, n);
    return 0;
}

/* ------------------------------------------------------------------ dropout */

/* Dropout's element J: kept (times SCALE, one float product) when its 16
 * bits / 2^16 >= p (exact in float: bits < 2^16). */
DMK_DEV void ops_dropout_one(float *out, const float *inp, size_t j, size_t n, uint32_t bits, float p, float scale)
{
    if (j >= n) return;
    out[j] = (float)bits * (1.0f / 65536.0f) >= p ? DMK_FMUL(inp[j], scale) : 0.0f;
}

/* Thread g computes Philox counter g of the stream: words 4g .. 4g + 3,
 * which (backend.h's layout: blocks of 8192 elements, word w = b * 4096 +
 * i % 4096) serve elements b * 8192 + 4q + k (low 16 bits) and
 * b * 8192 + 4096 + 4q + k (high 16 bits), b = g / 1024, q = g % 1024. */
DMK_GLOBAL void ops_dropout_kernel(float *out, const float *inp, size_t n, float p, float scale, uint64_t seed,
                                   uint64_t stream)
{
    size_t groups = (n + 8191) / 8192 * 1024;
    for (size_t g = ops_first(); g < groups; g += ops_stride()) {
        uint32_t w[4];
        dmk_philox4(seed, stream, g, w);
        size_t base = g / 1024 * 8192 + g % 1024 * 4;
        for (int k = 0; k < 4; k++) {
            ops_dropout_one(out, inp, base + k, n, w[k] & 0xFFFFu, p, scale);
            ops_dropout_one(out, inp, base + 4096 + k, n, w[k] >> 16, p, scale);
        }
    }
}

extern "C" int dmk_dropout(const dmk_env *env, float *out, const float *inp, size_t n, float p, uint64_t seed,
                           uint64_t stream)
{
    float scale = 1.0f / (1.0f - p); /* ref's dropout_scale, on the host */
    size_t groups = (n + 8191) / 8192 * 1024;
    DMK_LAUNCH(ops_dropout_kernel, ops_blocks(groups, OPS_THREADS), OPS_THREADS, env->stream, out, inp, n, p, scale,
               seed, stream);
    return 0;
}

/* ------------------------------------------------------------------ AdamW */

/* The step's scalars, computed on the host exactly as ref_adamw does. */
typedef struct ops_adamw_consts {
    float step_size, sqrt_bc2, decay, w1, w2, beta2, eps, grad_scale;
} ops_adamw_consts;

/* ref_adamw's loop body, operation for operation (a - b as a + (-b): the
 * same rounding). */
DMK_GLOBAL void ops_adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, ops_adamw_consts k)
{
    for (size_t i = ops_first(); i < n; i += ops_stride()) {
        float grad = DMK_FMUL(g[i], k.grad_scale);
        float param = DMK_FMUL(p[i], k.decay);
        float m0 = m[i];
        float mi = DMK_FADD(m0, DMK_FMUL(k.w1, DMK_FADD(grad, -m0)));
        float vi = DMK_FADD(DMK_FMUL(v[i], k.beta2), DMK_FMUL(DMK_FMUL(k.w2, grad), grad));
        m[i] = mi;
        v[i] = vi;
        float denom = DMK_FADD(DMK_FDIV(DMK_FSQRT(vi), k.sqrt_bc2), k.eps);
        p[i] = DMK_FADD(param, -DMK_FMUL(k.step_size, DMK_FDIV(mi, denom)));
    }
}

extern "C" int dmk_adamw(const dmk_env *env, float *p, const float *g, float *m, float *v, size_t n, float lr,
                         float beta1, float beta2, float eps, float wd, uint64_t step, float grad_scale)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    ops_adamw_consts k;
    k.step_size = (float)((double)lr / bc1);
    k.sqrt_bc2 = (float)sqrt(bc2);
    k.decay = (float)(1.0 - (double)lr * (double)wd);
    k.w1 = 1.0f - beta1;
    k.w2 = 1.0f - beta2;
    k.beta2 = beta2;
    k.eps = eps;
    k.grad_scale = grad_scale;
    DMK_LAUNCH(ops_adamw_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, p, g, m, v, n, k);
    return 0;
}
