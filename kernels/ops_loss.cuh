/*
 * ops_loss.cuh — cross-entropy and reductions (part of ops.cu):
 * xent_fwd_bwd, reduce.
 *
 * Both in double as ref, with sums in a fixed tree order: a block per row
 * for the cross-entropy (within 1 ulp of ref's index order), fixed chunks of
 * OPS_REDUCE_CHUNK elements for reduce, the chunk sums then added in order
 * by one thread.
 */

#define OPS_REDUCE_CHUNK 65536 /* elements per block of a reduction */
#define OPS_REDUCE_THREADS 512

/* Block per row b: log-sum-exp around the row's largest logit, in double. */
DMK_GLOBAL void ops_xent_kernel(float *losses, float *dlogits, const float *logits, const int32_t *labels,
                                const float *weights, size_t L, float grad_scale)
{
    DMK_SHARED(double, part, 32);
    DMK_SHARED(float, partf, 32);
    size_t b = blockIdx.x;
    const float *z = logits + b * L;
    float *dz = dlogits ? dlogits + b * L : NULL;
    int32_t y = labels[b];
    if (y < 0) { /* ignored row: loss and gradient 0 (the whole block) */
        if (threadIdx.x == 0) losses[b] = 0.0f;
        if (dz)
            for (size_t j = threadIdx.x; j < L; j += blockDim.x) dz[j] = 0.0f;
        return;
    }
    if ((size_t)y >= L) { /* not a class: NaN, which the caller's finite-loss check reports (the
                             labels live on the device, so the glue cannot check them first) */
        if (threadIdx.x == 0) losses[b] = NAN;
        if (dz)
            for (size_t j = threadIdx.x; j < L; j += blockDim.x) dz[j] = NAN;
        return;
    }
    double w = weights ? (double)weights[b] : 1.0;
    float mx = -INFINITY;
    for (size_t j = threadIdx.x; j < L; j += blockDim.x) mx = fmaxf(mx, z[j]);
    double max = ops_block_max(mx, partf);
    double sum = 0.0;
    for (size_t j = threadIdx.x; j < L; j += blockDim.x) sum += exp((double)z[j] - max);
    double lse = max + log(ops_block_sum_double(sum, part));
    if (threadIdx.x == 0) losses[b] = (float)((lse - z[y]) * w);
    if (!dz) return;
    for (size_t j = threadIdx.x; j < L; j += blockDim.x) {
        double p = exp((double)z[j] - lse), onehot = (int32_t)j == y ? 1.0 : 0.0;
        dz[j] = (float)((p - onehot) * w * grad_scale);
    }
}

extern "C" int dmk_xent_fwd_bwd(const dmk_env *env, float *losses, float *dlogits, const float *logits,
                                const int32_t *labels, const float *weights, size_t B, size_t L, float grad_scale)
{
    if (B == 0) return 0;
    int threads = L <= 32 ? 32 : L <= 1024 ? 128 : 256; /* few classes: one warp a row */
    DMK_LAUNCH(ops_xent_kernel, (unsigned)B, threads, env->stream, losses, dlogits, logits, labels, weights, L,
               grad_scale);
    return 0;
}

/* PART[chunk] = the sum (of squares when SQUARES) of chunk blockIdx.x. */
DMK_GLOBAL void ops_reduce_kernel(double *part, const float *x, size_t n, int squares)
{
    DMK_SHARED(double, warps, 32);
    size_t start = (size_t)blockIdx.x * OPS_REDUCE_CHUNK;
    size_t end = start + OPS_REDUCE_CHUNK < n ? start + OPS_REDUCE_CHUNK : n;
    double s = 0.0;
    for (size_t i = start + threadIdx.x; i < end; i += blockDim.x) {
        double v = x[i];
        s += squares ? v * v : v;
    }
    s = ops_block_sum_double(s, warps);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

/* *DST = (accumulate ? *DST : 0) + the chunk sums in order (one thread). */
DMK_GLOBAL void ops_reduce_finish_kernel(double *dst, const double *part, size_t chunks, int accumulate)
{
    if (threadIdx.x != 0) return;
    double s = 0.0;
    for (size_t c = 0; c < chunks; c++) s += part[c];
    *dst = accumulate ? *dst + s : s;
}

extern "C" int dmk_reduce(const dmk_env *env, double *dst, const float *x, size_t n, int kind, int accumulate)
{
    size_t chunks = (n + OPS_REDUCE_CHUNK - 1) / OPS_REDUCE_CHUNK;
    double *part = (double *)env->scratch(env->owner, (chunks ? chunks : 1) * sizeof(double));
    if (!part) return -1;
    if (chunks)
        DMK_LAUNCH(ops_reduce_kernel, (unsigned)chunks, OPS_REDUCE_THREADS, env->stream, part, x, n, kind == 2);
    DMK_LAUNCH(ops_reduce_finish_kernel, 1, 32, env->stream, dst, part, chunks, accumulate);
    return 0;
}
