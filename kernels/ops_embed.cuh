/*
 * ops_embed.cuh — embeddings and pooling (part of ops.cu): embed_fwd,
 * embed_bwd, pool_fwd, pool_bwd.
 *
 * embed_fwd sums the three rows in double and rounds once, as ref: equal
 * bit for bit.
 *
 * embed_bwd is a deterministic scatter-add without atomics. The position
 * table: a thread per (position, channel) adds its B tokens in order (ref's
 * order and precision: equal bit for bit). The token and type tables: the
 * tokens are sorted by (row, token index) (a token's rank is the number of
 * tokens before it in that order: O(BT^2) comparisons, all in parallel, from
 * shared tiles), so each touched row owns one run of the sorted list. The
 * list is cut into pieces of OPS_EMBED_PIECE; a block per piece sums the
 * run its piece begins with (the head run); a block per row then adds, in
 * double and in sorted order, the row's old value, its tokens up to the
 * first piece boundary and the head runs of the pieces the row covers. The
 * longest serial chain is OPS_EMBED_PIECE + BT / OPS_EMBED_PIECE terms even
 * when every token has the same id (padding).
 */

#define OPS_EMBED_PIECE 64    /* sorted tokens per head-run partial sum */
#define OPS_EMBED_THREADS 128 /* channels per block pass in the scatter kernels */

DMK_GLOBAL void ops_embed_fwd_kernel(float *out, const int32_t *ids, const int32_t *types, const float *wte,
                                     const float *wpe, const float *wtt, size_t T, size_t C, size_t total)
{
    for (size_t k = ops_first(); k < total; k += ops_stride()) {
        size_t bt = k / C, i = k % C;
        double s = (double)wte[(size_t)ids[bt] * C + i] + (double)wpe[bt % T * C + i];
        out[k] = (float)(s + (double)wtt[(size_t)types[bt] * C + i]);
    }
}

extern "C" int dmk_embed_fwd(const dmk_env *env, float *out, const int32_t *ids, const int32_t *types,
                             const float *wte, const float *wpe, const float *wtt, size_t B, size_t T, size_t C)
{
    size_t total = B * T * C;
    DMK_LAUNCH(ops_embed_fwd_kernel, ops_blocks(total, OPS_THREADS), OPS_THREADS, env->stream, out, ids, types, wte,
               wpe, wtt, T, C, total);
    return 0;
}

/* dwpe[t] += dout of tokens (b, t), b in order, in double. */
DMK_GLOBAL void ops_embed_pos_kernel(float *dwpe, const float *dout, size_t B, size_t T, size_t C)
{
    for (size_t k = ops_first(); k < T * C; k += ops_stride()) {
        double s = dwpe[k];
        for (size_t b = 0; b < B; b++) s += dout[b * T * C + k];
        dwpe[k] = (float)s;
    }
}

/* Token i's place in the order (row, i): PERM[rank] = i, SROW[rank] = its row. */
DMK_GLOBAL void ops_embed_rank_kernel(int32_t *perm, int32_t *srow, const int32_t *index, size_t BT)
{
    DMK_SHARED(int32_t, tile, OPS_THREADS);
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    int32_t row = i < BT ? index[i] : 0;
    size_t rank = 0;
    for (size_t t0 = 0; t0 < BT; t0 += OPS_THREADS) {
        size_t j = t0 + threadIdx.x;
        tile[threadIdx.x] = j < BT ? index[j] : 0;
        __syncthreads();
        size_t len = BT - t0 < OPS_THREADS ? BT - t0 : OPS_THREADS;
        for (size_t k = 0; k < len; k++) rank += tile[k] < row || (tile[k] == row && t0 + k < i);
        __syncthreads();
    }
    if (i < BT) perm[rank] = (int32_t)i, srow[rank] = row;
}

/* PART[piece][c] = the sum, in sorted order, of the tokens of the run the
 * piece begins with (up to the piece's end). */
DMK_GLOBAL void ops_embed_piece_kernel(double *part, const float *dout, const int32_t *perm, const int32_t *srow,
                                       size_t BT, size_t C)
{
    size_t s0 = (size_t)blockIdx.x * OPS_EMBED_PIECE;
    size_t end = s0 + OPS_EMBED_PIECE < BT ? s0 + OPS_EMBED_PIECE : BT;
    int32_t row = srow[s0];
    for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
        double s = 0.0;
        for (size_t k = s0; k < end && srow[k] == row; k++) s += dout[(size_t)perm[k] * C + c];
        part[blockIdx.x * C + c] = s;
    }
}

/* The block of sorted position blockIdx.x, when a row's run starts there:
 * TABLE[row] = old + its tokens up to the next piece boundary + the head
 * runs of the later pieces it covers, in double, rounded once. */
DMK_GLOBAL void ops_embed_finish_kernel(float *table, const double *part, const float *dout, const int32_t *perm,
                                        const int32_t *srow, size_t BT, size_t C)
{
    size_t s = blockIdx.x;
    int32_t row = srow[s];
    if (s > 0 && srow[s - 1] == row) return; /* not a run's start: the whole block */
    size_t boundary = (s / OPS_EMBED_PIECE + 1) * OPS_EMBED_PIECE;
    size_t direct_end = boundary < BT ? boundary : BT;
    for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
        double acc = table[(size_t)row * C + c];
        for (size_t k = s; k < direct_end && srow[k] == row; k++) acc += dout[(size_t)perm[k] * C + c];
        for (size_t q = boundary; q < BT && srow[q] == row; q += OPS_EMBED_PIECE)
            acc += part[q / OPS_EMBED_PIECE * C + c];
        table[(size_t)row * C + c] = (float)acc;
    }
}

/* TABLE[index[bt]] += dout[bt] for the BT tokens, through SCRATCH (perm,
 * srow, partials as dmk_embed_bwd carves it). */
static void ops_embed_scatter(const dmk_env *env, float *table, const float *dout, const int32_t *index, size_t BT,
                              size_t C, int32_t *perm, int32_t *srow, double *part)
{
    size_t pieces = (BT + OPS_EMBED_PIECE - 1) / OPS_EMBED_PIECE;
    DMK_LAUNCH(ops_embed_rank_kernel, (unsigned)((BT + OPS_THREADS - 1) / OPS_THREADS), OPS_THREADS, env->stream,
               perm, srow, index, BT);
    DMK_LAUNCH(ops_embed_piece_kernel, (unsigned)pieces, OPS_EMBED_THREADS, env->stream, part, dout, perm, srow, BT,
               C);
    DMK_LAUNCH(ops_embed_finish_kernel, (unsigned)BT, OPS_EMBED_THREADS, env->stream, table, part, dout, perm, srow,
               BT, C);
}

extern "C" int dmk_embed_bwd(const dmk_env *env, float *dwte, float *dwpe, float *dwtt, const float *dout,
                             const int32_t *ids, const int32_t *types, size_t B, size_t T, size_t C, size_t V,
                             size_t NT)
{
    (void)V, (void)NT;
    size_t BT = B * T, pieces = (BT + OPS_EMBED_PIECE - 1) / OPS_EMBED_PIECE;
    if (BT == 0 || C == 0) return 0;
    if (dwpe)
        DMK_LAUNCH(ops_embed_pos_kernel, ops_blocks(T * C, OPS_THREADS), OPS_THREADS, env->stream, dwpe, dout, B, T,
                   C);
    if (!dwte && !dwtt) return 0;
    /* one scratch for both tables: the second scatter reuses it after the
     * first on the same stream */
    size_t list_bytes = ops_align(BT * sizeof(int32_t));
    char *scratch = (char *)env->scratch(env->owner, 2 * list_bytes + pieces * C * sizeof(double));
    if (!scratch) return -1;
    int32_t *perm = (int32_t *)scratch, *srow = (int32_t *)(scratch + list_bytes);
    double *part = (double *)(scratch + 2 * list_bytes);
    if (dwte) ops_embed_scatter(env, dwte, dout, ids, BT, C, perm, srow, part);
    if (dwtt) ops_embed_scatter(env, dwtt, dout, types, BT, C, perm, srow, part);
    return 0;
}

/* ------------------------------------------------------------------ pooling */

/* Thread per (b, c): FIRST copies token 0; MEAN sums h * mask over t in
 * order in double and divides by max(real tokens, 1e-9), as ref. */
DMK_GLOBAL void ops_pool_fwd_kernel(float *out, const float *inp, const float *key_mask, size_t B, size_t T,
                                    size_t C, int mode)
{
    for (size_t k = ops_first(); k < B * C; k += ops_stride()) {
        size_t b = k / C, c = k % C;
        const float *h = inp + b * T * C + c, *mask = key_mask + b * T;
        if (mode == 1) {
            out[k] = h[0];
            continue;
        }
        double sum = 0.0, count = 0.0;
        for (size_t t = 0; t < T; t++) {
            sum += (double)h[t * C] * mask[t];
            count += mask[t];
        }
        out[k] = (float)(sum / (count > 1e-9 ? count : 1e-9));
    }
}

extern "C" int dmk_pool_fwd(const dmk_env *env, float *out, const float *inp, const float *key_mask, size_t B,
                            size_t T, size_t C, int mode)
{
    DMK_LAUNCH(ops_pool_fwd_kernel, ops_blocks(B * C, OPS_THREADS), OPS_THREADS, env->stream, out, inp, key_mask, B,
               T, C, mode);
    return 0;
}

/* Block per pooled token (b, t) (FIRST: t = 0 only): dinp[b, t] += dout[b]
 * * share in double, share = mask[t] / max(count, 1e-9); tokens with share
 * 0 are left alone, as ref. */
DMK_GLOBAL void ops_pool_bwd_kernel(float *dinp, const float *dout, const float *key_mask, size_t T, size_t C,
                                    int mode)
{
    DMK_SHARED(double, part, 32);
    size_t rows = mode == 1 ? 1 : T;
    size_t b = blockIdx.x / rows, t = blockIdx.x % rows;
    const float *mask = key_mask + b * T;
    double share = 1.0;
    if (mode != 1) {
        if (mask[t] == 0.0f) return; /* the whole block */
        double count = 0.0;
        for (size_t k = threadIdx.x; k < T; k += blockDim.x) count += mask[k];
        count = ops_block_sum_double(count, part);
        share = (double)mask[t] / (count > 1e-9 ? count : 1e-9);
    }
    float *d = dinp + (b * T + t) * C;
    const float *g = dout + b * C;
    for (size_t c = threadIdx.x; c < C; c += blockDim.x) d[c] = (float)((double)d[c] + g[c] * share);
}

extern "C" int dmk_pool_bwd(const dmk_env *env, float *dinp, const float *dout, const float *key_mask, size_t B,
                            size_t T, size_t C, int mode)
{
    size_t blocks = B * (mode == 1 ? 1 : T);
    if (blocks == 0 || C == 0) return 0;
    DMK_LAUNCH(ops_pool_bwd_kernel, (unsigned)blocks, OPS_EMBED_THREADS, env->stream, dinp, dout, key_mask, T, C,
               mode);
    return 0;
}
