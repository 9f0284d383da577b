/*
 * ops_norm.cuh — column sums and LayerNorm (part of ops.cu): bias_bwd,
 * layernorm_fwd, layernorm_bwd.
 *
 * Sums over rows (dbias, dw, db) are deterministic without atomics: a block
 * sums a fixed chunk of OPS_COL_ROWS rows for 32 columns (8 row lanes, then
 * the 8 in lane order) into scratch, and a second kernel adds the chunks in
 * chunk order to the old value. The order depends on the shape only.
 *
 * LayerNorm: a warp per row. The forward statistics are summed in double
 * (as ref): a constant row then has its mean exactly, variance 0 and
 * rstd = 1 / sqrt(eps) (1e6 at eps 1e-12), where a float mean's rounding
 * would leave a variance of ~1e-14, not small against that eps.
 */

#define OPS_COL_ROWS 256 /* rows per partial column sum */
#define OPS_ROWS_PER_BLOCK 8 /* LayerNorm rows (warps) per block of 256 threads */

/* Column partial sums of chunk blockIdx.x / colblocks, columns
 * (blockIdx.x % colblocks) * 32 + lane: PART_B[chunk][col] = the chunk's sum
 * of dout; PART_W (when not NULL) the sum of dout * xhat, xhat the LayerNorm
 * input normalised by the saved MEAN and RSTD. */
DMK_GLOBAL void ops_colsum_kernel(float *part_b, float *part_w, const float *dout, const float *inp,
                                  const float *mean, const float *rstd, size_t rows, size_t n, size_t colblocks)
{
    DMK_SHARED(float, acc_b, OPS_THREADS);
    DMK_SHARED(float, acc_w, OPS_THREADS);
    unsigned tx = threadIdx.x % 32, ty = threadIdx.x / 32;
    size_t chunk = blockIdx.x / colblocks, col = blockIdx.x % colblocks * 32 + tx;
    size_t r0 = chunk * OPS_COL_ROWS, r1 = r0 + OPS_COL_ROWS < rows ? r0 + OPS_COL_ROWS : rows;
    float sb = 0.0f, sw = 0.0f;
    if (col < n)
        for (size_t r = r0 + ty; r < r1; r += OPS_THREADS / 32) {
            float d = dout[r * n + col];
            sb += d;
            if (part_w) sw += d * ((inp[r * n + col] - mean[r]) * rstd[r]);
        }
    acc_b[threadIdx.x] = sb;
    acc_w[threadIdx.x] = sw;
    __syncthreads();
    if (ty != 0 || col >= n) return;
    float tb = 0.0f, tw = 0.0f;
    for (unsigned k = 0; k < OPS_THREADS / 32; k++) {
        tb += acc_b[k * 32 + tx];
        tw += acc_w[k * 32 + tx];
    }
    part_b[chunk * n + col] = tb;
    if (part_w) part_w[chunk * n + col] = tw;
}

/* DST[col] += the CHUNKS partial sums of the column, in chunk order (in
 * double, rounded once with the old value). */
DMK_GLOBAL void ops_colsum_finish_kernel(float *dst, const float *part, size_t chunks, size_t n)
{
    for (size_t col = ops_first(); col < n; col += ops_stride()) {
        double s = dst[col];
        for (size_t c = 0; c < chunks; c++) s += part[c * n + col];
        dst[col] = (float)s;
    }
}

/* The column sums of ROWS x N DOUT (and of dout * xhat when INP is given)
 * added to DB (and DW), either may be NULL. */
static int ops_column_sums(const dmk_env *env, float *db, float *dw, const float *dout, const float *inp,
                           const float *mean, const float *rstd, size_t rows, size_t n)
{
    if (rows == 0 || n == 0) return 0; /* nothing to add (and no empty grid) */
    size_t chunks = (rows + OPS_COL_ROWS - 1) / OPS_COL_ROWS, colblocks = (n + 31) / 32;
    size_t part_bytes = ops_align(chunks * n * sizeof(float));
    char *scratch = (char *)env->scratch(env->owner, 2 * part_bytes);
    if (!scratch) return -1;
    float *part_b = (float *)scratch, *part_w = dw ? (float *)(scratch + part_bytes) : NULL;
    DMK_LAUNCH(ops_colsum_kernel, (unsigned)(chunks * colblocks), OPS_THREADS, env->stream, part_b, part_w, dout,
               inp, mean, rstd, rows, n, colblocks);
    if (db)
        DMK_LAUNCH(ops_colsum_finish_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, db, part_b,
                   chunks, n);
    if (dw)
        DMK_LAUNCH(ops_colsum_finish_kernel, ops_blocks(n, OPS_THREADS), OPS_THREADS, env->stream, dw, part_w,
                   chunks, n);
    return 0;
}

extern "C" int dmk_bias_bwd(const dmk_env *env, float *dbias, const float *dout, size_t rows, size_t n)
{
    return ops_column_sums(env, dbias, NULL, dout, NULL, NULL, NULL, rows, n);
}

/* ------------------------------------------------------------------ LayerNorm */

/* Warp per row: mean and variance in double (two passes over the row, the
 * second from L1), then the output in float from the rounded statistics. */
DMK_GLOBAL void ops_ln_fwd_kernel(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                  const float *b, size_t N, size_t C, float eps)
{
    unsigned lane = threadIdx.x % 32;
    size_t row = (size_t)blockIdx.x * OPS_ROWS_PER_BLOCK + threadIdx.x / 32;
    if (row >= N) return; /* the whole warp: no block barrier follows */
    const float *x = inp + row * C;
    double s = 0.0;
    for (size_t i = lane; i < C; i += 32) s += x[i];
    double mu = ops_warp_sum_double(s) / (double)C;
    double q = 0.0;
    for (size_t i = lane; i < C; i += 32) {
        double d = (double)x[i] - mu;
        q += d * d;
    }
    double rs = 1.0 / sqrt(ops_warp_sum_double(q) / (double)C + (double)eps);
    float m = (float)mu, r = (float)rs;
    float *o = out + row * C;
    for (size_t i = lane; i < C; i += 32) o[i] = (x[i] - m) * r * w[i] + b[i];
    if (lane == 0) mean[row] = m, rstd[row] = r;
}

extern "C" int dmk_layernorm_fwd(const dmk_env *env, float *out, float *mean, float *rstd, const float *inp,
                                 const float *w, const float *b, size_t N, size_t C, float eps)
{
    if (N == 0 || C == 0) return 0;
    size_t blocks = (N + OPS_ROWS_PER_BLOCK - 1) / OPS_ROWS_PER_BLOCK;
    DMK_LAUNCH(ops_ln_fwd_kernel, (unsigned)blocks, OPS_THREADS, env->stream, out, mean, rstd, inp, w, b, N, C, eps);
    return 0;
}

/* Warp per row: dinp = rstd (dy - mean(dy) - xhat mean(dy xhat)), dy =
 * dout w, with float row sums. */
DMK_GLOBAL void ops_ln_bwd_kernel(float *dinp, const float *dout, const float *inp, const float *w,
                                  const float *mean, const float *rstd, size_t N, size_t C)
{
    unsigned lane = threadIdx.x % 32;
    size_t row = (size_t)blockIdx.x * OPS_ROWS_PER_BLOCK + threadIdx.x / 32;
    if (row >= N) return;
    const float *x = inp + row * C, *g = dout + row * C;
    float m = mean[row], r = rstd[row];
    float sdy = 0.0f, sdyx = 0.0f;
    for (size_t i = lane; i < C; i += 32) {
        float dy = g[i] * w[i];
        sdy += dy;
        sdyx += dy * ((x[i] - m) * r);
    }
    float mean_dy = ops_warp_sum(sdy) / (float)C, mean_dyx = ops_warp_sum(sdyx) / (float)C;
    float *d = dinp + row * C;
    for (size_t i = lane; i < C; i += 32) {
        float dy = g[i] * w[i], xhat = (x[i] - m) * r;
        d[i] = (dy - mean_dy - xhat * mean_dyx) * r;
    }
}

extern "C" int dmk_layernorm_bwd(const dmk_env *env, float *dinp, float *dw, float *db, const float *dout,
                                 const float *inp, const float *w, const float *mean, const float *rstd, size_t N,
                                 size_t C)
{
    if (N == 0 || C == 0) return 0;
    size_t blocks = (N + OPS_ROWS_PER_BLOCK - 1) / OPS_ROWS_PER_BLOCK;
    DMK_LAUNCH(ops_ln_bwd_kernel, (unsigned)blocks, OPS_THREADS, env->stream, dinp, dout, inp, w, mean, rstd, N, C);
    if (!dw && !db) return 0;
    return ops_column_sums(env, db, dw, dout, inp, mean, rstd, N, C);
}
