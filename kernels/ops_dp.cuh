/*
 * ops_dp.cuh — per-example squared gradient norms for DP-SGD's clipping
 * (part of ops.cu): example_sqnorm_linear, example_sqnorm_layernorm,
 * example_sqnorm_embed (backend.h, interface version 3).
 *
 * Deterministic without atomics: every sum runs in an order fixed by the
 * shape (a thread's channels in order, warp butterflies, warp or thread
 * partials added in index order by one thread), all in double; sq[b] is
 * read, added to and written by one thread of example b's block.
 *
 *  - linear weight: the ghost norm sum_{t,s} (x_t . x_s)(g_t . g_s), a block
 *    per (example, token t) summing the pairs s <= t (s < t twice: the Gram
 *    matrices are symmetric), a warp per s with both dot products reduced
 *    by butterflies; the block's sum lands in scratch, PART[b T + t]. Work
 *    T (T + 1) / 2 (n_in + n_out) per example: for BERT's T of 16..128 against
 *    384..3072 channels less than the direct T n_in n_out, and T = 1 (head,
 *    pooler) is two dot products.
 *  - the column norms (linear bias, LayerNorm weight and bias): a block per
 *    example, a thread per channel (strided), its sums over t in token order;
 *    the block sum and the example's PART entries are added to sq[b].
 *  - embeddings: a block per example; a group of equal ids is summed per
 *    channel when its first token is met (every thread tests the same ids,
 *    so the branch is uniform; O(T^2) comparisons, negligible at T <= 512).
 */

#define OPS_SQN_WARPS 8 /* warps per block of the ghost kernel (OPS_THREADS / 32) */

/* PART[b T + t] = sum over s <= t of w_s (x_t . x_s)(g_t . g_s), w_s = 2 for
 * s < t, 1 for s = t; block (b, t) = blockIdx.x. */
DMK_GLOBAL void ops_sqn_ghost_kernel(double *part, const float *dout, const float *inp, size_t T, size_t n_in,
                                     size_t n_out)
{
    DMK_SHARED(double, wsum, OPS_SQN_WARPS);
    size_t bt = blockIdx.x, b = bt / T, t = bt % T;
    unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const float *xt = inp + bt * n_in, *gt = dout + bt * n_out;
    double acc = 0.0;
    for (size_t s = warp; s <= t; s += OPS_SQN_WARPS) {
        const float *xs = inp + (b * T + s) * n_in, *gs = dout + (b * T + s) * n_out;
        double dx = 0.0, dg = 0.0;
        for (size_t i = lane; i < n_in; i += 32) dx += (double)xt[i] * (double)xs[i];
        for (size_t i = lane; i < n_out; i += 32) dg += (double)gt[i] * (double)gs[i];
        dx = ops_warp_sum_double(dx);
        dg = ops_warp_sum_double(dg);
        acc += (s < t ? 2.0 : 1.0) * dx * dg;
    }
    if (lane == 0) wsum[warp] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (unsigned w = 0; w < OPS_SQN_WARPS; w++) s += wsum[w];
        part[bt] = s;
    }
}

/* Block b: over the C channels of example b's T rows, WEIGHT adds ||sum_t
 * dout * xhat||^2 (xhat from INP, MEAN, RSTD) and BIAS ||sum_t dout||^2;
 * then sq[b] += the example's NPART entries of PART (in order) and that. */
DMK_GLOBAL void ops_sqn_cols_kernel(float *sq, const double *part, size_t npart, const float *dout,
                                    const float *inp, const float *mean, const float *rstd, size_t T, size_t C,
                                    int weight, int bias)
{
    DMK_SHARED(double, red, 32);
    size_t b = blockIdx.x;
    double acc = 0.0;
    for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
        double sw = 0.0, sb = 0.0;
        for (size_t t = 0; t < T; t++) {
            size_t r = b * T + t;
            double g = dout[r * C + c];
            sb += g;
            if (weight) sw += g * (((double)inp[r * C + c] - (double)mean[r]) * (double)rstd[r]);
        }
        if (weight) acc += sw * sw;
        if (bias) acc += sb * sb;
    }
    acc = ops_block_sum_double(acc, red);
    if (threadIdx.x == 0) {
        double s = sq[b];
        for (size_t p = 0; p < npart; p++) s += part[b * npart + p];
        sq[b] = (float)(s + acc);
    }
}

extern "C" int dmk_example_sqnorm_linear(const dmk_env *env, float *sq, const float *dout, const float *inp, size_t B,
                                         size_t T, size_t n_in, size_t n_out, int weight, int bias)
{
    if (B == 0 || (!weight && !bias)) return 0;
    double *part = NULL;
    size_t npart = 0;
    if (weight && T > 0) {
        part = (double *)env->scratch(env->owner, ops_align(B * T * sizeof(double)));
        if (!part) return -1;
        npart = T;
        DMK_LAUNCH(ops_sqn_ghost_kernel, (unsigned)(B * T), OPS_SQN_WARPS * 32, env->stream, part, dout, inp, T,
                   n_in, n_out);
    }
    DMK_LAUNCH(ops_sqn_cols_kernel, (unsigned)B, OPS_THREADS, env->stream, sq, (const double *)part, npart, dout,
               (const float *)NULL, (const float *)NULL, (const float *)NULL, T, n_out, 0, bias);
    return 0;
}

extern "C" int dmk_example_sqnorm_layernorm(const dmk_env *env, float *sq, const float *dout, const float *inp,
                                            const float *mean, const float *rstd, size_t B, size_t T, size_t C,
                                            int weight, int bias)
{
    if (B == 0 || (!weight && !bias)) return 0;
    DMK_LAUNCH(ops_sqn_cols_kernel, (unsigned)B, OPS_THREADS, env->stream, sq, (const double *)NULL, (size_t)0, dout,
               inp, mean, rstd, T, C, weight, bias);
    return 0;
}

/* This thread's channels' share of example b's sum over the distinct values
 * of INDEX[b T ..] of ||sum of their tokens' rows||^2. */
DMK_DEV double ops_sqn_grouped(const float *dout, const int32_t *index, size_t b, size_t T, size_t C)
{
    const int32_t *id = index + b * T;
    double acc = 0.0;
    for (size_t t = 0; t < T; t++) {
        int32_t v = id[t];
        bool first = true;
        for (size_t u = 0; u < t && first; u++) first = id[u] != v;
        if (!first) continue; /* the same for every thread of the block */
        for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
            double s = 0.0;
            for (size_t u = t; u < T; u++)
                if (id[u] == v) s += dout[(b * T + u) * C + c];
            acc += s * s;
        }
    }
    return acc;
}

/* Block b: words, positions and types of example b, added to sq[b]. */
DMK_GLOBAL void ops_sqn_embed_kernel(float *sq, const float *dout, const int32_t *ids, const int32_t *types,
                                     size_t T, size_t C, int words, int positions, int types_table)
{
    DMK_SHARED(double, red, 32);
    size_t b = blockIdx.x;
    double acc = 0.0;
    if (words) acc += ops_sqn_grouped(dout, ids, b, T, C);
    if (positions)
        for (size_t c = threadIdx.x; c < C; c += blockDim.x)
            for (size_t t = 0; t < T; t++) {
                double g = dout[(b * T + t) * C + c];
                acc += g * g;
            }
    if (types_table) acc += ops_sqn_grouped(dout, types, b, T, C);
    acc = ops_block_sum_double(acc, red);
    if (threadIdx.x == 0) sq[b] = (float)((double)sq[b] + acc);
}

extern "C" int dmk_example_sqnorm_embed(const dmk_env *env, float *sq, const float *dout, const int32_t *ids,
                                        const int32_t *types, size_t B, size_t T, size_t C, int words, int positions,
                                        int types_table)
{
    if (B == 0 || (!words && !positions && !types_table)) return 0;
    DMK_LAUNCH(ops_sqn_embed_kernel, (unsigned)B, OPS_THREADS, env->stream, sq, dout, ids, types, T, C, words,
               positions, types_table);
    return 0;
}
