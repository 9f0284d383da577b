/*
 * attention.cu — fused multi-head self-attention, FlashAttention-2 style,
 * forward and backward (dmk_kernels.h; the semantics are dmb_attention's in
 * lib/backend/backend.h, computed exactly as lib/backend/backend_ref.c does).
 *
 * Layout: qkv is B x T x 3C (q | k | v, C = H x D, head h at columns
 * h D ..); out and dout are B x T x C; the state is the row log-sum-exp
 * lse[b, h, i] (B x H x T floats), all the backward pass keeps of the
 * probabilities P = softmax(q k^T / sqrt(D)) (masked keys exactly 0).
 * Dropout acts on P (P' = dropout(P)); its mask is recomputed from the
 * element's index in a B x H x T x T tensor, ((b H + h) T + i) T + j, in
 * each kernel that needs it: dmk_dropout_keeps's decision, with one Philox
 * block per 4 consecutive elements (att_keeps).
 *
 * Forward, one block per (query tile of BQ rows, b h): Q stays in shared
 * memory while the key tiles (BK keys) go by; S = Q K^T / sqrt(D) in
 * registers, masked keys (and the tail past T) at -inf.
 *  - fp32: one pass, online softmax: the running row max m and sum l of the
 *    undropped exp(s - m), the accumulator rescaled when m grows, P' v
 *    added with the dropped values; out = acc / l at the end.
 *  - bf16: the reference rounds the NORMALISED dropped probability
 *    P'[i, j] to bfloat16 before its product with v. So two passes over
 *    the keys: the first only finds m and l, the second forms
 *    p = exp(s - m) / l exactly as the reference (then dropout's float
 *    product with the scale, then the rounding) and accumulates p' v with q,
 *    k, v rounded to bfloat16 as they are loaded.
 *  lse = m + log(l) is written per row.
 *
 * Backward (fp32 even after a bf16 forward, as the reference: only the
 * scores of P saw bfloat16 q and k, so they are recomputed that way):
 *  1. Di = rowsum(dO_i * O_i) = sum_j P_ij dP_ij (the softmax backward's
 *     row dot product; dP the gradient of P through the dropout mask) by
 *     one warp per row, into scratch. After a bf16 forward, out holds
 *     bfloat16 products, so O is first recomputed in fp32 from the same
 *     (bf16-score) probabilities into scratch by the forward kernel.
 *  2. dK, dV: one block per (key tile, b h), looping over the query tiles:
 *     S and P = exp(S - lse) recomputed, dP' = dO V^T, the dropout mask
 *     applied to both (P' = keep P / (1 - p), dP = keep dP' / (1 - p)),
 *     dV += P'^T dO, dS = P (dP - Di) / sqrt(D), dK += dS^T Q.
 *  3. dQ: one block per (query tile, b h), looping over the key tiles:
 *     dS again, dQ += dS K. Recomputing S and dP here (7 tile products in
 *     all instead of FlashAttention-2's 5) keeps dQ free of float atomics
 *     and of per-key-tile partials in scratch: every output element is one
 *     thread's sum in a fixed order, so results do not depend on timing.
 * dqkv is written whole: masked keys' dk, dv are exactly 0 (their P is).
 *
 * Kernels: the bf16 forward with D <= 64 runs on tensor cores
 * (att_fwd_mma_kernel: mma.sync m16n8k16, exact bf16 products, fp32
 * accumulation). Everything else is fp32 SIMT, exact float products as the
 * fp32 tolerance needs: the fp32 forward, the bf16 forward with D > 64, and
 * the whole backward.
 *
 * SIMT tiles: 128 threads; a BQ x BK score
 * tile is held as an RM x KN micro-tile per thread (rows ty RM + r, keys
 * tx KN + c, 8 threads (tx) per row group, so row reductions are 3 warp
 * shuffles); a rows x D output tile as RO x DN (columns tx + 8 c, so
 * lanes read consecutive or bank-spread words). Operands of the D
 * reductions sit in shared memory transposed ([d][row], row stride = tile
 * + 4: 16-byte aligned vector reads of the thread's rows, and 4 mod 32 so
 * the 8 lanes' strided column reads hit distinct banks). D is padded with
 * zeros to the kernel's DP: 32 and 64 are exact fits, 1..128 all work;
 * larger heads have no kernel (the launchers return -1).
 */
#include "dmk.h"
#include "dmk_kernels.h"

/* nvcc's launch bounds and unrolling; nothing for the host compiler (which
 * would warn of the pragma). */
#if defined(__CUDACC__)
#define ATT_BOUNDS __launch_bounds__(128, 4) /* <= 128 registers: no spills, 4 blocks per SM */
#define ATT_UNROLL _Pragma("unroll")
#define ATT_UNROLL_4 _Pragma("unroll 4")
#else
#define ATT_BOUNDS
#define ATT_UNROLL
#define ATT_UNROLL_4
#endif

enum { NT = 128, TX = 8, TY = NT / TX };

/* Vector views of 16 and 8 bytes of shared memory (one LDS.128 / .64). */
struct alignas(16) att_f4 { float v[4]; };
struct alignas(8) att_f2 { float v[2]; };

/* What every kernel needs to know of the call (by value). */
struct att_dims {
    int T, H, D;
    const float *mask;  /* B x T key mask */
    float drop_p;       /* 0: no dropout */
    float drop_scale;   /* 1 / (1 - p) in float, as the reference */
    uint64_t seed, stream;
    float inv_sqrt_d;   /* the scores' scale */
};

DMK_DEV float att_round(float x) { return dmk_bf16_to_float(dmk_float_to_bf16(x)); }

/* N consecutive floats from shared memory, N a multiple of 4 (16-byte
 * aligned), 2 (8-byte aligned) or 1. */
template <int N> DMK_DEV void att_load(float *dst, const float *src)
{
    if (N % 4 == 0) {
ATT_UNROLL
        for (int q = 0; q < N / 4; q++) {
            att_f4 v = ((const att_f4 *)src)[q];
ATT_UNROLL
            for (int e = 0; e < 4; e++) dst[4 * q + e] = v.v[e];
        }
    } else if (N == 2) {
        att_f2 v = *(const att_f2 *)src;
        dst[0] = v.v[0], dst[1] = v.v[1];
    } else {
ATT_UNROLL
        for (int e = 0; e < N; e++) dst[e] = src[e];
    }
}

/* Rows row0 .. row0 + R of one head's part (SRC: row 0, column 0 of it, row
 * stride LD) into shared DST transposed, dst[d STRIDE + r], d < DP; zero
 * past T and D; bfloat16-rounded when RND. */
template <int DP, int R, int STRIDE, bool RND>
DMK_DEV void att_load_t(float *dst, const float *src, size_t ld, int row0, int T, int D)
{
    for (int e = threadIdx.x; e < R * DP; e += NT) {
        int r = e / DP, d = e % DP; /* d fastest: coalesced global reads */
        float x = row0 + r < T && d < D ? src[(size_t)(row0 + r) * ld + d] : 0.0f;
        dst[d * STRIDE + r] = RND ? att_round(x) : x;
    }
}

/* The same rows kept row-major, dst[r DP + d]. */
template <int DP, int R, bool RND>
DMK_DEV void att_load_rows(float *dst, const float *src, size_t ld, int row0, int T, int D)
{
    for (int e = threadIdx.x; e < R * DP; e += NT) {
        int r = e / DP, d = e % DP;
        float x = row0 + r < T && d < D ? src[(size_t)(row0 + r) * ld + d] : 0.0f;
        dst[e] = RND ? att_round(x) : x;
    }
}

/* Score-shaped product over d < DP: s[r][c] = sum_d A[d][ty RM + r] B[d][tx KN + c]
 * (A, B transposed in shared memory, row strides SA, SB); RA / RB round
 * that operand to bfloat16 as it is read (a tile kept unrounded for another
 * product). */
template <int DP, int RM, int KN, int SA, int SB, bool RA, bool RB>
DMK_DEV void att_mm_scores(float s[RM][KN], const float *A, const float *B, int ty, int tx)
{
ATT_UNROLL
    for (int r = 0; r < RM; r++)
ATT_UNROLL
        for (int c = 0; c < KN; c++) s[r][c] = 0.0f;
ATT_UNROLL_4
    for (int d = 0; d < DP; d++) {
        float a[RM], b[KN];
        att_load<RM>(a, A + d * SA + ty * RM);
        att_load<KN>(b, B + d * SB + tx * KN);
        if (RA)
ATT_UNROLL
            for (int r = 0; r < RM; r++) a[r] = att_round(a[r]);
        if (RB)
ATT_UNROLL
            for (int c = 0; c < KN; c++) b[c] = att_round(b[c]);
ATT_UNROLL
        for (int r = 0; r < RM; r++)
ATT_UNROLL
            for (int c = 0; c < KN; c++) s[r][c] += a[r] * b[c];
    }
}

/* Output-shaped product over a tile of K rows: acc[r][c] += sum_k
 * A[k][ty RO + r] Bm[k, tx + TX c], A with row stride SA, Bm's element
 * (k, d) at k BK_ + d BD_ (either layout of the other operand). */
template <int K, int RO, int DN, int SA, int BK_, int BD_>
DMK_DEV void att_mm_out(float acc[RO][DN], const float *A, const float *Bm, int ty, int tx)
{
ATT_UNROLL_4
    for (int k = 0; k < K; k++) {
        float a[RO], b[DN];
        att_load<RO>(a, A + k * SA + ty * RO);
ATT_UNROLL
        for (int c = 0; c < DN; c++) b[c] = Bm[k * BK_ + (tx + TX * c) * BD_];
ATT_UNROLL
        for (int r = 0; r < RO; r++)
ATT_UNROLL
            for (int c = 0; c < DN; c++) acc[r][c] += a[r] * b[c];
    }
}

/* Max and sum over the 8 lanes of a row group (a butterfly: every lane
 * ends with the same bits, float + and max being commutative). */
DMK_DEV float att_row_max(float x)
{
ATT_UNROLL
    for (int o = 1; o < TX; o <<= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
DMK_DEV float att_row_sum(float x)
{
ATT_UNROLL
    for (int o = 1; o < TX; o <<= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

DMK_DEV bool att_real_key(const att_dims &a, int b, int j) { return j < a.T && a.mask[(size_t)b * a.T + j] != 0.0f; }

/* Dropout's keep decisions (dmk_dropout_keeps) for the N consecutive
 * elements IDX0 .. IDX0 + N - 1 of the B x H x T x T probabilities (a
 * thread's keys of one row). Consecutive elements read consecutive Philox
 * words, four to a block: one block computed per 4 elements, not 1. */
template <int N> DMK_DEV void att_keeps(bool keep[N], const att_dims &a, uint64_t idx0)
{
    uint64_t have = ~(uint64_t)0;
    uint32_t w[4] = {0, 0, 0, 0};
ATT_UNROLL
    for (int c = 0; c < N; c++) {
        uint64_t idx = idx0 + c, i = idx % 8192, word_no = idx / 8192 * 4096 + i % 4096;
        if (word_no / 4 != have) {
            dmk_philox4(a.seed, a.stream, word_no / 4, w);
            have = word_no / 4;
        }
        unsigned k = (unsigned)(word_no % 4); /* selects, not an indexed array: registers */
        uint32_t word = k == 0 ? w[0] : k == 1 ? w[1] : k == 2 ? w[2] : w[3];
        uint32_t bits = i < 4096 ? word & 0xffffu : word >> 16;
        keep[c] = (float)bits * (1.0f / 65536.0f) >= a.drop_p;
    }
}

/* Index of P[b h, i, j0] in the B x H x T x T probabilities. */
DMK_DEV uint64_t att_pidx(const att_dims &a, int bh, int i, int j0) { return ((uint64_t)bh * a.T + i) * a.T + j0; }

/* Scales and masks a score tile: keys past T or masked get -inf. */
template <int RM, int KN>
DMK_DEV void att_scale_mask(float s[RM][KN], const att_dims &a, int b, int j0, int tx)
{
ATT_UNROLL
    for (int c = 0; c < KN; c++) {
        bool real = att_real_key(a, b, j0 + tx * KN + c);
ATT_UNROLL
        for (int r = 0; r < RM; r++) s[r][c] = real ? s[r][c] * a.inv_sqrt_d : -INFINITY;
    }
}

/* Online softmax step for one tile: m grows to include the tile, s becomes
 * exp(s - m), l is rescaled by alpha = exp(m_old - m_new) (returned: the
 * caller rescales its accumulator alike) and gains the tile's row sums. A
 * row whose keys so far are all masked has m = -inf: 0 serves as its
 * reference so that no inf - inf appears. */
template <int RM, int KN>
DMK_DEV void att_online(float s[RM][KN], float m[RM], float l[RM], float alpha[RM])
{
ATT_UNROLL
    for (int r = 0; r < RM; r++) {
        float mx = s[r][0];
ATT_UNROLL
        for (int c = 1; c < KN; c++) mx = fmaxf(mx, s[r][c]);
        float mnew = fmaxf(m[r], att_row_max(mx));
        float ref = mnew == -INFINITY ? 0.0f : mnew, sum = 0.0f;
        alpha[r] = expf(m[r] - ref);
ATT_UNROLL
        for (int c = 0; c < KN; c++) {
            s[r][c] = expf(s[r][c] - ref);
            sum += s[r][c];
        }
        l[r] = l[r] * alpha[r] + att_row_sum(sum);
        m[r] = mnew;
    }
}

/* ------------------------------------------------------------------ forward */

/* RQK: q and k rounded to bfloat16 (the scores of a bf16 forward); RPV: the
 * probabilities and v too (two passes, see the header). OUT B x T x C; LSE
 * B x H x T or NULL (the backward's fp32 recomputation of O). */
template <int DP, int BQ, int BK, bool RQK, bool RPV>
DMK_GLOBAL void ATT_BOUNDS att_fwd_kernel(float *out, float *lse, const float *qkv, att_dims a)
{
    enum { RM = BQ / TY, KN = BK / TX, DN = DP / TX, SQ = BQ + 4, SK = BK + 4 };
    DMK_SHARED(float, qt, DP * SQ); /* Q^T */
    DMK_SHARED(float, kt, DP * SK); /* K^T */
    DMK_SHARED(float, vs, BK * DP); /* V, row-major */
    DMK_SHARED(float, pt, BK * SQ); /* P'^T */
    int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
    int bh = blockIdx.y, b = bh / a.H, h = bh % a.H, i0 = blockIdx.x * BQ;
    size_t C = (size_t)a.H * a.D, ld = 3 * C;
    const float *base = qkv + (size_t)b * a.T * ld + (size_t)h * a.D;

    att_load_t<DP, BQ, SQ, RQK>(qt, base, ld, i0, a.T, a.D);
    float m[RM], l[RM], acc[RM][DN];
ATT_UNROLL
    for (int r = 0; r < RM; r++) {
        m[r] = -INFINITY, l[r] = 0.0f;
ATT_UNROLL
        for (int c = 0; c < DN; c++) acc[r][c] = 0.0f;
    }
    for (int pass = RPV ? 0 : 1; pass < 2; pass++)
        for (int j0 = 0; j0 < a.T; j0 += BK) {
            __syncthreads(); /* the previous tile's readers are done */
            att_load_t<DP, BK, SK, RQK>(kt, base + C, ld, j0, a.T, a.D);
            if (pass == 1) att_load_rows<DP, BK, RPV>(vs, base + 2 * C, ld, j0, a.T, a.D);
            __syncthreads();
            float s[RM][KN];
            att_mm_scores<DP, RM, KN, SQ, SK, false, false>(s, qt, kt, ty, tx);
            att_scale_mask<RM, KN>(s, a, b, j0, tx);
            float alpha[RM];
            if (pass == 0) { /* bf16's first pass: the statistics only */
                att_online<RM, KN>(s, m, l, alpha);
                continue;
            }
            if (RPV) { /* normalised as the reference, m and l final */
ATT_UNROLL
                for (int r = 0; r < RM; r++)
ATT_UNROLL
                    for (int c = 0; c < KN; c++) s[r][c] = expf(s[r][c] - m[r]) / l[r];
            } else {
                att_online<RM, KN>(s, m, l, alpha);
ATT_UNROLL
                for (int r = 0; r < RM; r++)
ATT_UNROLL
                    for (int c = 0; c < DN; c++) acc[r][c] *= alpha[r];
            }
ATT_UNROLL
            for (int r = 0; r < RM; r++) {
                int i = i0 + ty * RM + r;
                bool keep[KN];
                if (a.drop_p > 0.0f && i < a.T) att_keeps<KN>(keep, a, att_pidx(a, bh, i, j0 + tx * KN));
ATT_UNROLL
                for (int c = 0; c < KN; c++) {
                    float p = s[r][c];
                    if (a.drop_p > 0.0f) p = i < a.T && keep[c] ? p * a.drop_scale : 0.0f;
                    pt[(tx * KN + c) * SQ + ty * RM + r] = RPV ? att_round(p) : p;
                }
            }
            __syncthreads();
            att_mm_out<BK, RM, DN, SQ, DP, 1>(acc, pt, vs, ty, tx);
        }

ATT_UNROLL
    for (int r = 0; r < RM; r++) {
        int i = i0 + ty * RM + r;
        if (i >= a.T) continue;
        float inv = RPV ? 1.0f : 1.0f / l[r];
ATT_UNROLL
        for (int c = 0; c < DN; c++) {
            int d = tx + TX * c;
            if (d < a.D) out[((size_t)b * a.T + i) * C + (size_t)h * a.D + d] = RPV ? acc[r][c] : acc[r][c] * inv;
        }
        if (lse && tx == 0) lse[(size_t)bh * a.T + i] = m[r] + logf(l[r]);
    }
}

/* ------------------------------------------------------------------ forward, bf16 tensor cores */

/* The bf16 forward for D <= 64 (padded to DP = 32 or 64) on mma.sync
 * m16n8k16 (bf16 in, fp32 accumulate: the products of bfloat16 values are
 * exact, as the reference's). 4 warps, 16 query rows each (BQ = 64); the
 * same two passes as the SIMT kernel. Fragments per the PTX ISA (lane = 4 g
 * + t): an accumulator holds rows g and g + 8, columns 2 t and 2 t + 1 of an
 * 8-column tile, which is also the A operand's layout for the next product,
 * so P goes from S's accumulators to P V's A fragments in registers. Shared
 * tiles hold bfloat16 pairs as uint32 words (two consecutive elements along
 * the reduction: d for Q and K, keys for V^T), rows padded by 4 words so the
 * 8 row groups of a fragment load hit distinct banks. */
DMK_DEV uint32_t att_pack(float lo, float hi) { return dmk_pack_bf16(dmk_float_to_bf16(lo), dmk_float_to_bf16(hi)); }

/* Rows row0 .. row0 + R of one head's part as bfloat16 pairs along d:
 * dst[r W + d / 2], W = DP / 2 + 4. */
template <int DP, int R>
DMK_DEV void att_load_pairs(uint32_t *dst, const float *src, size_t ld, int row0, int T, int D)
{
    enum { W = DP / 2 + 4 };
    for (int e = threadIdx.x; e < R * DP / 2; e += NT) {
        int r = e / (DP / 2), d = 2 * (e % (DP / 2));
        const float *x = src + (size_t)(row0 + r) * ld + d;
        bool row = row0 + r < T;
        dst[r * W + d / 2] = att_pack(row && d < D ? x[0] : 0.0f, row && d + 1 < D ? x[1] : 0.0f);
    }
}

/* V^T as bfloat16 pairs along the keys: dst[d W + r / 2], W = BK / 2 + 4. */
template <int DP, int BK>
DMK_DEV void att_load_vt_pairs(uint32_t *dst, const float *src, size_t ld, int row0, int T, int D)
{
    enum { W = BK / 2 + 4 };
    for (int e = threadIdx.x; e < BK / 2 * DP; e += NT) {
        int r = 2 * (e / DP), d = e % DP; /* d fastest: coalesced reads of two rows */
        const float *x = src + (size_t)(row0 + r) * ld + d;
        float lo = row0 + r < T && d < D ? x[0] : 0.0f, hi = row0 + r + 1 < T && d < D ? x[ld] : 0.0f;
        dst[d * W + r / 2] = att_pack(lo, hi);
    }
}

/* Max and sum over the 4 lanes (t) that share a fragment row. */
DMK_DEV float att_quad_max(float x)
{
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
DMK_DEV float att_quad_sum(float x)
{
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

template <int DP, int BK>
DMK_GLOBAL void ATT_BOUNDS att_fwd_mma_kernel(float *out, float *lse, const float *qkv, att_dims a)
{
    enum { BQ = 64, WQ = DP / 2 + 4, WV = BK / 2 + 4, NK = BK / 8, ND = DP / 8, KD = DP / 16, KK = BK / 16 };
    DMK_SHARED(uint32_t, qs, BQ * WQ); /* Q[i][d] pairs */
    DMK_SHARED(uint32_t, ks, BK * WQ); /* K[j][d] pairs */
    DMK_SHARED(uint32_t, vt, DP * WV); /* V^T[d][j] pairs */
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    int bh = blockIdx.y, b = bh / a.H, h = bh % a.H, i0 = blockIdx.x * BQ;
    size_t C = (size_t)a.H * a.D, ld = 3 * C;
    const float *base = qkv + (size_t)b * a.T * ld + (size_t)h * a.D;

    att_load_pairs<DP, BQ>(qs, base, ld, i0, a.T, a.D);
    __syncthreads();
    uint32_t qa[KD][4]; /* this warp's 16 rows of Q as A fragments, for every key tile */
    const uint32_t *qw = qs + 16 * warp * WQ;
    ATT_UNROLL
    for (int k = 0; k < KD; k++) {
        qa[k][0] = qw[g * WQ + 8 * k + t];
        qa[k][1] = qw[(g + 8) * WQ + 8 * k + t];
        qa[k][2] = qw[g * WQ + 8 * k + 4 + t];
        qa[k][3] = qw[(g + 8) * WQ + 8 * k + 4 + t];
    }
    int rows[2] = {i0 + 16 * warp + g, i0 + 16 * warp + g + 8};
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[ND][4];
    ATT_UNROLL
    for (int n = 0; n < ND; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

    for (int pass = 0; pass < 2; pass++)
        for (int j0 = 0; j0 < a.T; j0 += BK) {
            __syncthreads(); /* the previous tile's readers are done */
            att_load_pairs<DP, BK>(ks, base + C, ld, j0, a.T, a.D);
            if (pass == 1) att_load_vt_pairs<DP, BK>(vt, base + 2 * C, ld, j0, a.T, a.D);
            __syncthreads();
            float s[NK][4]; /* s[n][2 h + e]: row g + 8 h, key j0 + 8 n + 2 t + e */
            ATT_UNROLL
            for (int n = 0; n < NK; n++) {
                s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
                ATT_UNROLL
                for (int k = 0; k < KD; k++) {
                    uint32_t kb[2] = {ks[(8 * n + g) * WQ + 8 * k + t], ks[(8 * n + g) * WQ + 8 * k + 4 + t]};
                    dmk_mma_bf16_16816(s[n], qa[k], kb, s[n]);
                }
                ATT_UNROLL
                for (int e = 0; e < 2; e++) {
                    bool real = att_real_key(a, b, j0 + 8 * n + 2 * t + e);
                    s[n][e] = real ? s[n][e] * a.inv_sqrt_d : -INFINITY;
                    s[n][2 + e] = real ? s[n][2 + e] * a.inv_sqrt_d : -INFINITY;
                }
            }
            if (pass == 0) { /* the row statistics, online */
                ATT_UNROLL
                for (int hr = 0; hr < 2; hr++) {
                    float mx = -INFINITY, sum = 0.0f;
                    ATT_UNROLL
                    for (int n = 0; n < NK; n++) mx = fmaxf(mx, fmaxf(s[n][2 * hr], s[n][2 * hr + 1]));
                    float mnew = fmaxf(m[hr], att_quad_max(mx)), ref = mnew == -INFINITY ? 0.0f : mnew;
                    ATT_UNROLL
                    for (int n = 0; n < NK; n++) sum += expf(s[n][2 * hr] - ref) + expf(s[n][2 * hr + 1] - ref);
                    l[hr] = l[hr] * expf(m[hr] - ref) + att_quad_sum(sum);
                    m[hr] = mnew;
                }
                continue;
            }
            /* p' = dropout(exp(s - m) / l) in float, as the reference, then bf16 */
            ATT_UNROLL
            for (int n = 0; n < NK; n++)
                ATT_UNROLL
                for (int hr = 0; hr < 2; hr++) {
                    bool keep[2];
                    if (a.drop_p > 0.0f && rows[hr] < a.T) att_keeps<2>(keep, a, att_pidx(a, bh, rows[hr], j0 + 8 * n + 2 * t));
                    ATT_UNROLL
                    for (int e = 0; e < 2; e++) {
                        float p = expf(s[n][2 * hr + e] - m[hr]) / l[hr];
                        if (a.drop_p > 0.0f) p = rows[hr] < a.T && keep[e] ? p * a.drop_scale : 0.0f;
                        s[n][2 * hr + e] = p;
                    }
                }
            ATT_UNROLL
            for (int k = 0; k < KK; k++) {
                uint32_t pa[4] = {att_pack(s[2 * k][0], s[2 * k][1]), att_pack(s[2 * k][2], s[2 * k][3]),
                                  att_pack(s[2 * k + 1][0], s[2 * k + 1][1]), att_pack(s[2 * k + 1][2], s[2 * k + 1][3])};
                ATT_UNROLL
                for (int n = 0; n < ND; n++) {
                    uint32_t vb[2] = {vt[(8 * n + g) * WV + 8 * k + t], vt[(8 * n + g) * WV + 8 * k + 4 + t]};
                    dmk_mma_bf16_16816(o[n], pa, vb, o[n]);
                }
            }
        }

    ATT_UNROLL
    for (int hr = 0; hr < 2; hr++) {
        int i = rows[hr];
        if (i >= a.T) continue;
        float *dst = out + ((size_t)b * a.T + i) * C + (size_t)h * a.D;
        ATT_UNROLL
        for (int n = 0; n < ND; n++)
            ATT_UNROLL
            for (int e = 0; e < 2; e++)
                if (8 * n + 2 * t + e < a.D) dst[8 * n + 2 * t + e] = o[n][2 * hr + e];
        if (t == 0) lse[(size_t)bh * a.T + i] = m[hr] + logf(l[hr]);
    }
}

/* ------------------------------------------------------------------ backward */

/* Di[bh T + t] = dout[b, t, h, :] . o[b, t, h, :], one warp per row. */
DMK_GLOBAL void att_rowdot_kernel(float *Di, const float *dout, const float *o, int B, int T, int H, int D)
{
    size_t row = (size_t)blockIdx.x * (NT / 32) + threadIdx.x / 32; /* (b, t, h) */
    int lane = threadIdx.x % 32;
    if (row >= (size_t)B * T * H) return; /* whole warps: no shuffle is left half-done */
    const float *x = dout + row * D, *y = o + row * D;
    float sum = 0.0f;
    for (int d = lane; d < D; d += 32) sum += x[d] * y[d];
ATT_UNROLL
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    size_t h = row % H, bt = row / H, b = bt / T, t = bt % T;
    if (lane == 0) Di[(b * H + h) * T + t] = sum;
}

/* For one score micro-tile: s (raw q.k) and dp (dO.v) become P' and dS
 * (P = exp(s / sqrt(D) - lse), zero for masked keys and padding rows;
 * dropout's mask and scale on P and dP; dS = P (dP - Di) / sqrt(D)). */
template <int RM, int KN>
DMK_DEV void att_dscores(float s[RM][KN], float dp[RM][KN], const att_dims &a, const float *lse, const float *Di,
                         int b, int bh, int i0, int j0, int ty, int tx)
{
ATT_UNROLL
    for (int r = 0; r < RM; r++) {
        int i = i0 + ty * RM + r;
        float li = i < a.T ? lse[(size_t)bh * a.T + i] : 0.0f, di = i < a.T ? Di[(size_t)bh * a.T + i] : 0.0f;
        bool keeps[KN];
        if (a.drop_p > 0.0f && i < a.T) att_keeps<KN>(keeps, a, att_pidx(a, bh, i, j0 + tx * KN));
ATT_UNROLL
        for (int c = 0; c < KN; c++) {
            int j = j0 + tx * KN + c;
            bool live = i < a.T && att_real_key(a, b, j);
            float p = live ? expf(s[r][c] * a.inv_sqrt_d - li) : 0.0f, g = dp[r][c];
            if (a.drop_p > 0.0f) {
                bool keep = live && keeps[c];
                g = keep ? g * a.drop_scale : 0.0f;
                s[r][c] = keep ? p * a.drop_scale : 0.0f; /* P' */
            } else {
                s[r][c] = p;
            }
            dp[r][c] = p * (g - di) * a.inv_sqrt_d; /* dS */
        }
    }
}

/* dK and dV of one key tile of head bh. */
template <int DP, int BQ, int BK, bool RQK>
DMK_GLOBAL void ATT_BOUNDS att_bwd_kv_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                             const float *Di, att_dims a)
{
    enum { RM = BQ / TY, KN = BK / TX, RO = BK / TY, DN = DP / TX, SQ = BQ + 4, SK = BK + 4 };
    DMK_SHARED(float, kt, DP * SK);  /* K^T, rounded when RQK (only the scores use it) */
    DMK_SHARED(float, vt, DP * SK);  /* V^T */
    DMK_SHARED(float, qt, DP * SQ);  /* Q^T, unrounded (dK's product); the scores round it */
    DMK_SHARED(float, dot, DP * SQ); /* dO^T */
    DMK_SHARED(float, ps, BQ * SK);  /* P'[i][j] */
    DMK_SHARED(float, dss, BQ * SK); /* dS[i][j] */
    int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
    int bh = blockIdx.y, b = bh / a.H, h = bh % a.H, j0 = blockIdx.x * BK;
    size_t C = (size_t)a.H * a.D, ld = 3 * C;
    const float *base = qkv + (size_t)b * a.T * ld + (size_t)h * a.D;
    const float *dbase = dout + (size_t)b * a.T * C + (size_t)h * a.D;

    att_load_t<DP, BK, SK, RQK>(kt, base + C, ld, j0, a.T, a.D);
    att_load_t<DP, BK, SK, false>(vt, base + 2 * C, ld, j0, a.T, a.D);
    float dk[RO][DN], dv[RO][DN];
ATT_UNROLL
    for (int r = 0; r < RO; r++)
ATT_UNROLL
        for (int c = 0; c < DN; c++) dk[r][c] = dv[r][c] = 0.0f;

    for (int i0 = 0; i0 < a.T; i0 += BQ) {
        __syncthreads();
        att_load_t<DP, BQ, SQ, false>(qt, base, ld, i0, a.T, a.D);
        att_load_t<DP, BQ, SQ, false>(dot, dbase, C, i0, a.T, a.D);
        __syncthreads();
        float s[RM][KN], dp[RM][KN];
        att_mm_scores<DP, RM, KN, SQ, SK, RQK, false>(s, qt, kt, ty, tx);
        att_mm_scores<DP, RM, KN, SQ, SK, false, false>(dp, dot, vt, ty, tx);
        att_dscores<RM, KN>(s, dp, a, lse, Di, b, bh, i0, j0, ty, tx);
ATT_UNROLL
        for (int r = 0; r < RM; r++)
ATT_UNROLL
            for (int c = 0; c < KN; c++) {
                ps[(ty * RM + r) * SK + tx * KN + c] = s[r][c];
                dss[(ty * RM + r) * SK + tx * KN + c] = dp[r][c];
            }
        __syncthreads();
        att_mm_out<BQ, RO, DN, SK, 1, SQ>(dv, ps, dot, ty, tx);
        att_mm_out<BQ, RO, DN, SK, 1, SQ>(dk, dss, qt, ty, tx);
    }

    float *dbk = dqkv + (size_t)b * a.T * ld + (size_t)h * a.D;
ATT_UNROLL
    for (int r = 0; r < RO; r++) {
        int j = j0 + ty * RO + r;
        if (j >= a.T) continue;
ATT_UNROLL
        for (int c = 0; c < DN; c++) {
            int d = tx + TX * c;
            if (d >= a.D) continue;
            dbk[(size_t)j * ld + C + d] = dk[r][c];
            dbk[(size_t)j * ld + 2 * C + d] = dv[r][c];
        }
    }
}

/* dQ of one query tile of head bh. */
template <int DP, int BQ, int BK, bool RQK>
DMK_GLOBAL void ATT_BOUNDS att_bwd_q_kernel(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                            const float *Di, att_dims a)
{
    enum { RM = BQ / TY, KN = BK / TX, DN = DP / TX, SQ = BQ + 4, SK = BK + 4 };
    DMK_SHARED(float, qt, DP * SQ);  /* Q^T, rounded when RQK (only the scores use it) */
    DMK_SHARED(float, dot, DP * SQ); /* dO^T */
    DMK_SHARED(float, kt, DP * SK);  /* K^T, unrounded (dQ's product); the scores round it */
    DMK_SHARED(float, vt, DP * SK);  /* V^T */
    DMK_SHARED(float, dst, BK * SQ); /* dS^T [j][i] */
    int tx = threadIdx.x % TX, ty = threadIdx.x / TX;
    int bh = blockIdx.y, b = bh / a.H, h = bh % a.H, i0 = blockIdx.x * BQ;
    size_t C = (size_t)a.H * a.D, ld = 3 * C;
    const float *base = qkv + (size_t)b * a.T * ld + (size_t)h * a.D;

    att_load_t<DP, BQ, SQ, RQK>(qt, base, ld, i0, a.T, a.D);
    att_load_t<DP, BQ, SQ, false>(dot, dout + (size_t)b * a.T * C + (size_t)h * a.D, C, i0, a.T, a.D);
    float dq[RM][DN];
ATT_UNROLL
    for (int r = 0; r < RM; r++)
ATT_UNROLL
        for (int c = 0; c < DN; c++) dq[r][c] = 0.0f;

    for (int j0 = 0; j0 < a.T; j0 += BK) {
        __syncthreads();
        att_load_t<DP, BK, SK, false>(kt, base + C, ld, j0, a.T, a.D);
        att_load_t<DP, BK, SK, false>(vt, base + 2 * C, ld, j0, a.T, a.D);
        __syncthreads();
        float s[RM][KN], dp[RM][KN];
        att_mm_scores<DP, RM, KN, SQ, SK, false, RQK>(s, qt, kt, ty, tx);
        att_mm_scores<DP, RM, KN, SQ, SK, false, false>(dp, dot, vt, ty, tx);
        att_dscores<RM, KN>(s, dp, a, lse, Di, b, bh, i0, j0, ty, tx);
ATT_UNROLL
        for (int r = 0; r < RM; r++)
ATT_UNROLL
            for (int c = 0; c < KN; c++) dst[(tx * KN + c) * SQ + ty * RM + r] = dp[r][c];
        __syncthreads();
        att_mm_out<BK, RM, DN, SQ, 1, SK>(dq, dst, kt, ty, tx);
    }

    float *dbq = dqkv + (size_t)b * a.T * ld + (size_t)h * a.D;
ATT_UNROLL
    for (int r = 0; r < RM; r++) {
        int i = i0 + ty * RM + r;
        if (i >= a.T) continue;
ATT_UNROLL
        for (int c = 0; c < DN; c++) {
            int d = tx + TX * c;
            if (d < a.D) dbq[(size_t)i * ld + d] = dq[r][c];
        }
    }
}

/* ------------------------------------------------------------------ launchers */

static att_dims att_make_dims(const dmk_attention_args *x)
{
    att_dims a;
    a.T = (int)x->T, a.H = (int)x->H, a.D = (int)x->D;
    a.mask = x->key_mask;
    a.drop_p = x->dropout_p > 0.0f ? x->dropout_p : 0.0f;
    a.drop_scale = 1.0f / (1.0f - a.drop_p);
    a.seed = x->dropout_seed, a.stream = x->dropout_stream;
    a.inv_sqrt_d = 1.0f / sqrtf((float)x->D);
    return a;
}

static unsigned att_tiles(size_t T, int tile) { return (unsigned)((T + tile - 1) / tile); }

/* Tile shapes per padded head size (static shared memory <= 48 KiB each). */
template <int DP> struct att_cfg;
template <> struct att_cfg<32> { enum { FQ = 64, FK = 32, BQ = 32, BK = 32 }; };
template <> struct att_cfg<64> { enum { FQ = 64, FK = 32, BQ = 32, BK = 32 }; };
template <> struct att_cfg<128> { enum { FQ = 32, FK = 16, BQ = 16, BK = 16 }; };

/* mode 0 fp32, 1 bf16, 2 bf16 scores with fp32 products (the backward's O). */
template <int DP>
static void att_fwd_launch(void *stream, float *out, float *lse, const float *qkv, const dmk_attention_args *x,
                           int mode)
{
    enum { FQ = att_cfg<DP>::FQ, FK = att_cfg<DP>::FK };
    att_dims a = att_make_dims(x);
    dim3 grid(att_tiles(x->T, FQ), (unsigned)(x->B * x->H)), block(NT);
    if (mode == 0) DMK_LAUNCH((att_fwd_kernel<DP, FQ, FK, false, false>), grid, block, stream, out, lse, qkv, a);
    else if (mode == 1) DMK_LAUNCH((att_fwd_kernel<DP, FQ, FK, true, true>), grid, block, stream, out, lse, qkv, a);
    else DMK_LAUNCH((att_fwd_kernel<DP, FQ, FK, true, false>), grid, block, stream, out, lse, qkv, a);
}

template <int DP>
static void att_bwd_launch(void *stream, float *dqkv, const float *dout, const float *qkv, const float *lse,
                           const float *Di, const dmk_attention_args *x)
{
    enum { BQ = att_cfg<DP>::BQ, BK = att_cfg<DP>::BK };
    att_dims a = att_make_dims(x);
    dim3 gkv(att_tiles(x->T, BK), (unsigned)(x->B * x->H)), gq(att_tiles(x->T, BQ), (unsigned)(x->B * x->H));
    dim3 block(NT);
    if (x->bf16) {
        DMK_LAUNCH((att_bwd_kv_kernel<DP, BQ, BK, true>), gkv, block, stream, dqkv, dout, qkv, lse, Di, a);
        DMK_LAUNCH((att_bwd_q_kernel<DP, BQ, BK, true>), gq, block, stream, dqkv, dout, qkv, lse, Di, a);
    } else {
        DMK_LAUNCH((att_bwd_kv_kernel<DP, BQ, BK, false>), gkv, block, stream, dqkv, dout, qkv, lse, Di, a);
        DMK_LAUNCH((att_bwd_q_kernel<DP, BQ, BK, false>), gq, block, stream, dqkv, dout, qkv, lse, Di, a);
    }
}

/* The head sizes a kernel exists for: padded to 32, 64 or 128. */
static int att_dp(size_t D) { return D <= 32 ? 32 : D <= 64 ? 64 : 128; }

static void att_fwd_any(void *stream, float *out, float *lse, const float *qkv, const dmk_attention_args *x, int mode)
{
    if (mode == 1 && x->D <= 64) { /* bf16: tensor cores */
        att_dims a = att_make_dims(x);
        dim3 grid(att_tiles(x->T, 64), (unsigned)(x->B * x->H)), block(NT);
        if (x->D <= 32) DMK_LAUNCH((att_fwd_mma_kernel<32, 64>), grid, block, stream, out, lse, qkv, a);
        else DMK_LAUNCH((att_fwd_mma_kernel<64, 64>), grid, block, stream, out, lse, qkv, a);
        return;
    }
    switch (att_dp(x->D)) {
    case 32: att_fwd_launch<32>(stream, out, lse, qkv, x, mode); break;
    case 64: att_fwd_launch<64>(stream, out, lse, qkv, x, mode); break;
    default: att_fwd_launch<128>(stream, out, lse, qkv, x, mode); break;
    }
}

/* Scratch: Di (B x H x T floats), then after a bf16 forward the fp32 O
 * (B x T x C floats), 256-byte aligned. */
static size_t att_di_bytes(const dmk_attention_args *x) { return (x->B * x->H * x->T * sizeof(float) + 255) / 256 * 256; }

extern "C" size_t dmk_attention_state_bytes(const dmk_attention_args *x) { return x->B * x->H * x->T * sizeof(float); }

extern "C" size_t dmk_attention_scratch_bytes(const dmk_attention_args *x)
{
    return att_di_bytes(x) + (x->bf16 ? x->B * x->T * x->H * x->D * sizeof(float) : 0);
}

/* Head sizes above 128 have no kernel: -1 (the glue should refuse them
 * first, with a message that says so). */
extern "C" int dmk_attention_fwd(const dmk_env *env, float *out, void *state, const float *qkv,
                                 const dmk_attention_args *x)
{
    if (x->D > 128) return -1;
    att_fwd_any(env->stream, out, (float *)state, qkv, x, x->bf16 ? 1 : 0);
    return 0;
}

extern "C" int dmk_attention_bwd(const dmk_env *env, float *dqkv, void *scratch, const float *dout,
                                 const float *qkv, const float *out, const void *state, const dmk_attention_args *x)
{
    if (x->D > 128) return -1;
    const float *lse = (const float *)state;
    float *Di = (float *)scratch;
    const float *o = out;
    if (x->bf16) { /* out saw bfloat16 products: Di needs the fp32 P' V */
        float *o32 = (float *)((char *)scratch + att_di_bytes(x));
        att_fwd_any(env->stream, o32, (float *)0, qkv, x, 2);
        o = o32;
    }
    size_t rows = x->B * x->T * x->H;
    DMK_LAUNCH(att_rowdot_kernel, dim3((unsigned)((rows + NT / 32 - 1) / (NT / 32))), dim3(NT), env->stream, Di,
               dout, o, (int)x->B, (int)x->T, (int)x->H, (int)x->D);
    switch (att_dp(x->D)) {
    case 32: att_bwd_launch<32>(env->stream, dqkv, dout, qkv, lse, Di, x); break;
    case 64: att_bwd_launch<64>(env->stream, dqkv, dout, qkv, lse, Di, x); break;
    default: att_bwd_launch<128>(env->stream, dqkv, dout, qkv, lse, Di, x); break;
    }
    return 0;
}
