/*
 * gemm.cu — C[i] = alpha op(A[i]) op(B[i]) + beta C[i] (+ bias, then GELU)
 * for i < batch, as dmb_gemm (lib/backend/backend.h) and cpu-ref's ref_gemm
 * define it. Two paths, chosen by the operands' type:
 *
 * fp32 (SIMT, exact-parity runs). A block computes a BM x BN tile of C with
 *   256 threads, each a TM x TN micro-tile of float accumulators; K advances
 *   BK at a time. Both operands are staged in shared memory k-major (As[k][m],
 *   Bs[k][n]) whatever their transposes, so the inner loop reads a thread's
 *   TM values of A and TN values of B as 16-byte vectors and does TM x TN
 *   FMAs (fmaf: one rounding per step, the same on the GPU and in the
 *   emulation, whose build does not contract). The next K tile is fetched
 *   into registers while the current one is multiplied, then stored into the
 *   other of two shared buffers: one barrier per K tile. Each C element sums
 *   in order p = 0 .. k-1, in two levels: a tile's BK products apart, then
 *   onto the running sum (see f32_multiply). Results are deterministic, and
 *   the same on the GPU as in the emulation up to erff's last bit in GELU.
 *   env->fp32_tensor_ops is ignored: float products always take this path
 *   (TF32 would lose the float32 accuracy the op suite asks of "gemm").
 *
 * bf16 (tensor cores). mma.sync m16n8k16 (bf16 in, f32 accumulate) on
 *   fragments that ldmatrix loads from shared memory, which a cp.async
 *   pipeline of STAGES K tiles feeds. Shared tiles keep the global layout
 *   (the contiguous dimension stays contiguous, so a 16-byte cp.async copies
 *   eight elements as they lie), rows padded by 8 elements (16 bytes) so
 *   the eight 16-byte rows of each ldmatrix matrix fall in distinct banks:
 *     A not transposed: sA[m][k]   A transposed: sA[k][m]
 *     B transposed:     sB[n][k]   B not transposed: sB[k][n]
 *   Fragments (PTX ISA, mma.m16n8k16 .bf16; lane = 4 g + t):
 *     a0 = A[g][2t, 2t+1]  a1 = A[g+8][2t, 2t+1]  a2 = A[g][2t+8, +9]  a3 = A[g+8][2t+8, +9]
 *     b0 = B[2t, 2t+1][g]  b1 = B[2t+8, +9][g]
 *     c0, c1 = C[g][2t, 2t+1]  c2, c3 = C[g+8][2t, 2t+1]
 *   ldmatrix.x4 gives register i, per lane, elements (g, 2t), (g, 2t+1) of
 *   8 x 8 matrix i (of its transpose with .trans), lane l addressing row
 *   l % 8 of matrix l / 8. With k contiguous in shared memory (sA[m][k],
 *   sB[n][k]) a fragment is a plain ldmatrix; with m or n contiguous (sA[k][m],
 *   sB[k][n]) it is ldmatrix.trans of the k x 8 blocks. So every transpose
 *   combination is the same mma loop with its own ldmatrix addresses.
 *   Tails: a cp.async reads only the bytes inside op(X) (zero-fill for the
 *   rest: the padding of A and B may hold anything, NaN included). cp.async
 *   needs 16-byte aligned sources: when a base pointer, leading dimension or
 *   batch stride does not give that, the same kernel (VEC = 0) stages tiles
 *   with element loads and plain shared stores instead.
 *
 * Epilogue (both): v = alpha acc (+ C when beta is 1) (+ bias[col]), then
 * GELU x/2 (1 + erf(x / sqrt 2)); C is read only when beta != 0 (C may hold
 * NaN when beta is 0), and only in-bounds elements are written (padding of
 * C stays as it was).
 *
 * Grid: x over tiles of n, y over tiles of m, z over the batch; y and z are
 * capped at 65535 and the blocks loop over the rest. Tile sizes: 128 x 128
 * for problems with enough such tiles to fill an H100 a couple of times, else
 * 64 x 64 (more blocks for small or skinny products).
 */
#include "dmk.h"
#include "dmk_kernels.h"

/* Occupancy hints for nvcc (registers per thread <= 64K / (THREADS x
 * BLOCKS)). The cp.async bf16 kernels keep 512 threads per SM (<= 128
 * registers) so one block's barrier waits hide behind another's math; on
 * sm_90 ptxas spills a few bytes in the B-not-transposed variants under that
 * cap, so those take one block per SM there. The fp32 and element-load bf16
 * kernels need more registers and get no bound (they would spill). The
 * emulation has no use for any of it. */
#if defined(__CUDACC__)
#define GEMM_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#else
#define GEMM_BOUNDS(threads, blocks)
#endif
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define GEMM_BF16_BLOCKS(threads, tb, vec) ((vec) && (tb) ? 512 / (threads) : 1)
#else
#define GEMM_BF16_BLOCKS(threads, tb, vec) ((vec) ? 512 / (threads) : 1)
#endif

/* What a kernel needs of dmk_gemm_args (passed by value). */
struct gemm_params {
    const void *a, *b;
    float *c;
    const float *bias;
    size_t m, n, k;
    size_t lda, ldb, ldc;
    size_t stride_a, stride_b, stride_c;
    size_t batch;
    float alpha, beta;
    int act;
};

/* 16 floats' worth of shared memory read as one vector (ld.shared.v4). */
struct alignas(16) gemm_f4 {
    float x, y, z, w;
};

/* ------------------------------------------------------------------ epilogue */

DMK_DEV float gemm_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

/* Element (row, col) of C (in bounds) from its accumulator. */
DMK_DEV void gemm_store(const gemm_params &p, float *c, size_t row, size_t col, float acc)
{
    float *dst = c + row * p.ldc + col;
    /* unfused, so the GPU rounds as the emulation does */
    float v = DMK_FMUL(p.alpha, acc);
    if (p.beta != 0.0f) v = DMK_FADD(v, DMK_FMUL(p.beta, *dst));
    if (p.bias) v = DMK_FADD(v, p.bias[col]);
    if (p.act == 1) v = gemm_gelu(v);
    *dst = v;
}

/* ------------------------------------------------------------------ fp32 SIMT */

/* Threads per SIMT block: (BM / TM) x (BN / TN) of them in both configs. */
#define GEMM_F32_THREADS 256

/* Fetch the BM x BK tile of op(A) at (m0, k0) into registers RA, zero
 * outside op(A). Thread elements walk A's contiguous dimension (coalesced):
 * element r of a thread is tile element tid + 256 r, so its index along
 * that dimension is the same for every r (256 is a multiple of BK and BM)
 * and one pointer stepping by a fixed stride reaches them all. */
template <int BM, int BK, int TA>
DMK_DEV void f32_fetch_a(float *ra, const float *a, const gemm_params &p, size_t m0, size_t k0, int tid)
{
    constexpr int L = BM * BK / GEMM_F32_THREADS;
    constexpr int FAST = TA ? BM : BK, STEP = GEMM_F32_THREADS / FAST; /* slow-dimension step per r */
    static_assert(GEMM_F32_THREADS % FAST == 0, "a fixed fast index per thread");
    size_t gi = m0 + (TA ? tid % BM : tid / BK), gk = k0 + (TA ? tid / BM : tid % BK);
    const float *src = a + (TA ? gk * p.lda + gi : gi * p.lda + gk);
    size_t step = STEP * p.lda;
#pragma unroll
    for (int r = 0; r < L; r++) {
        bool in = TA ? gi < p.m && gk + r * STEP < p.k : gi + r * STEP < p.m && gk < p.k;
        ra[r] = in ? src[r * step] : 0.0f;
    }
}

/* Store RA (as f32_fetch_a mapped it) into the k-major shared tile SA. */
template <int BM, int BK, int TA>
DMK_DEV void f32_store_a(float *sa, const float *ra, int tid)
{
    constexpr int L = BM * BK / GEMM_F32_THREADS;
#pragma unroll
    for (int r = 0; r < L; r++) {
        int idx = tid + r * GEMM_F32_THREADS;
        int i = TA ? idx % BM : idx / BK, kk = TA ? idx / BM : idx % BK;
        sa[kk * (BM + 4) + i] = ra[r];
    }
}

/* As f32_fetch_a; op(B) is k x n: B itself is k x n (TB 0, n contiguous)
 * or n x k (TB 1, k contiguous). */
template <int BN, int BK, int TB>
DMK_DEV void f32_fetch_b(float *rb, const float *b, const gemm_params &p, size_t n0, size_t k0, int tid)
{
    constexpr int L = BN * BK / GEMM_F32_THREADS;
    constexpr int FAST = TB ? BK : BN, STEP = GEMM_F32_THREADS / FAST;
    static_assert(GEMM_F32_THREADS % FAST == 0, "a fixed fast index per thread");
    size_t gj = n0 + (TB ? tid / BK : tid % BN), gk = k0 + (TB ? tid % BK : tid / BN);
    const float *src = b + (TB ? gj * p.ldb + gk : gk * p.ldb + gj);
    size_t step = STEP * p.ldb;
#pragma unroll
    for (int r = 0; r < L; r++) {
        bool in = TB ? gj + r * STEP < p.n && gk < p.k : gj < p.n && gk + r * STEP < p.k;
        rb[r] = in ? src[r * step] : 0.0f;
    }
}

template <int BN, int BK, int TB>
DMK_DEV void f32_store_b(float *sb, const float *rb, int tid)
{
    constexpr int L = BN * BK / GEMM_F32_THREADS;
#pragma unroll
    for (int r = 0; r < L; r++) {
        int idx = tid + r * GEMM_F32_THREADS;
        int j = TB ? idx / BK : idx % BN, kk = TB ? idx % BK : idx / BN;
        sb[kk * (BN + 4) + j] = rb[r];
    }
}

/* A thread's micro-tile: TM rows in groups of 4 (group stride BM * 4 / TM,
 * so the 16 threads of a row of the thread grid read one contiguous span),
 * likewise TN columns. */
template <int BM, int BN, int BK, int TM, int TN>
DMK_DEV void f32_multiply(float (*acc)[TN], const float *sa, const float *sb, int ty, int tx)
{
    /* This tile's BK products are summed apart and then added to the
     * running sums: at k in the thousands, one chain of k fmas rounds every
     * step at the size of the whole sum; two levels cut that error by about
     * sqrt(BK) (measured: 0.9 of the op suite's tolerance -> ~0.4). */
    float part[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) part[i][j] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
        float av[TM], bv[TN];
#pragma unroll
        for (int g = 0; g < TM / 4; g++) {
            gemm_f4 v = *(const gemm_f4 *)&sa[kk * (BM + 4) + g * (BM * 4 / TM) + ty * 4];
            av[4 * g] = v.x, av[4 * g + 1] = v.y, av[4 * g + 2] = v.z, av[4 * g + 3] = v.w;
        }
#pragma unroll
        for (int g = 0; g < TN / 4; g++) {
            gemm_f4 v = *(const gemm_f4 *)&sb[kk * (BN + 4) + g * (BN * 4 / TN) + tx * 4];
            bv[4 * g] = v.x, bv[4 * g + 1] = v.y, bv[4 * g + 2] = v.z, bv[4 * g + 3] = v.w;
        }
#pragma unroll
        for (int i = 0; i < TM; i++)
#pragma unroll
            for (int j = 0; j < TN; j++) part[i][j] = fmaf(av[i], bv[j], part[i][j]);
    }
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] += part[i][j];
}

/* One BM x BN tile of C (batch member z, corner m0, n0). SA and SB are two
 * buffers each. */
template <int BM, int BN, int BK, int TM, int TN, int TA, int TB>
DMK_DEV void f32_tile(const gemm_params &p, float *sa, float *sb, size_t z, size_t m0, size_t n0)
{
    constexpr int SA = BK * (BM + 4), SB = BK * (BN + 4);
    const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
    const float *a = (const float *)p.a + z * p.stride_a;
    const float *b = (const float *)p.b + z * p.stride_b;
    float ra[BM * BK / GEMM_F32_THREADS], rb[BN * BK / GEMM_F32_THREADS];
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;

    size_t ktiles = (p.k + BK - 1) / BK;
    f32_fetch_a<BM, BK, TA>(ra, a, p, m0, 0, tid);
    f32_fetch_b<BN, BK, TB>(rb, b, p, n0, 0, tid);
    f32_store_a<BM, BK, TA>(sa, ra, tid);
    f32_store_b<BN, BK, TB>(sb, rb, tid);
    __syncthreads();
    for (size_t kt = 0; kt < ktiles; kt++) {
        int cur = (int)(kt & 1);
        bool more = kt + 1 < ktiles;
        /* the next tile's global loads overlap this tile's FMAs */
        if (more) {
            f32_fetch_a<BM, BK, TA>(ra, a, p, m0, (kt + 1) * BK, tid);
            f32_fetch_b<BN, BK, TB>(rb, b, p, n0, (kt + 1) * BK, tid);
        }
        f32_multiply<BM, BN, BK, TM, TN>(acc, sa + cur * SA, sb + cur * SB, ty, tx);
        /* the other buffer was last read before the previous barrier */
        if (more) {
            f32_store_a<BM, BK, TA>(sa + (cur ^ 1) * SA, ra, tid);
            f32_store_b<BN, BK, TB>(sb + (cur ^ 1) * SB, rb, tid);
        }
        __syncthreads();
    }

    float *c = p.c + z * p.stride_c;
#pragma unroll
    for (int i = 0; i < TM; i++) {
        size_t row = m0 + (i / 4) * (BM * 4 / TM) + ty * 4 + i % 4;
        if (row >= p.m) continue;
#pragma unroll
        for (int j = 0; j < TN; j++) {
            size_t col = n0 + (j / 4) * (BN * 4 / TN) + tx * 4 + j % 4;
            if (col < p.n) gemm_store(p, c, row, col, acc[i][j]);
        }
    }
}

template <int BM, int BN, int BK, int TM, int TN, int TA, int TB>
DMK_GLOBAL void GEMM_BOUNDS(GEMM_F32_THREADS, 1) gemm_f32_kernel(gemm_params p)
{
    static_assert((BM / TM) * (BN / TN) == GEMM_F32_THREADS, "one thread per micro-tile");
    static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tiles read 4-float vectors");
    /* two buffers of k-major tiles; rows padded by 4 floats so that the
     * transposing stores (k fastest across threads) spread over banks */
    DMK_SHARED(float, sa, 2 * BK * (BM + 4));
    DMK_SHARED(float, sb, 2 * BK * (BN + 4));
    size_t mtiles = (p.m + BM - 1) / BM, n0 = (size_t)blockIdx.x * BN;
    for (size_t z = blockIdx.z; z < p.batch; z += gridDim.z)
        for (size_t by = blockIdx.y; by < mtiles; by += gridDim.y)
            f32_tile<BM, BN, BK, TM, TN, TA, TB>(p, sa, sb, z, by * BM, n0);
}

/* ------------------------------------------------------------------ bf16 tensor cores */

/* Copy a ROWS x COLS tile (COLS contiguous, COLS % 8 == 0) of a bf16 matrix
 * stored with leading dimension LD, corner (r0, c0), into shared memory DST
 * (row stride COLS + 8). Only elements with row < RLIM and col < CLIM are
 * read; the rest become 0. Each thread moves 16-byte chunks: by cp.async when
 * VEC (sources 16-byte aligned: the caller checked), else element by element. */
template <int ROWS, int COLS, int THREADS, int VEC>
DMK_DEV void bf16_load_tile(uint16_t *dst, const uint16_t *src, size_t ld, size_t r0, size_t c0, size_t rlim,
                            size_t clim, int tid)
{
    constexpr int CPR = COLS / 8, CHUNKS = ROWS * CPR;
    static_assert(CHUNKS % THREADS == 0, "whole chunks per thread");
#pragma unroll
    for (int i = 0; i < CHUNKS / THREADS; i++) {
        int ch = tid + i * THREADS, r = ch / CPR, cc = (ch % CPR) * 8;
        size_t gr = r0 + r, gc = c0 + cc;
        const uint16_t *s = src + gr * ld + gc;
        int valid = 0;
        if (gr < rlim && gc < clim) valid = clim - gc < 8 ? (int)(clim - gc) : 8;
        uint16_t *d = dst + r * (COLS + 8) + cc;
        if (VEC) {
            /* zero bytes read: any valid address will do */
            dmk_cp_async_16(d, valid ? s : src, 2 * valid);
        } else {
            uint32_t w[4];
#pragma unroll
            for (int q = 0; q < 4; q++) {
                uint16_t lo = 2 * q < valid ? s[2 * q] : 0, hi = 2 * q + 1 < valid ? s[2 * q + 1] : 0;
                w[q] = dmk_pack_bf16(lo, hi);
            }
            uint32_t *d32 = (uint32_t *)d;
            d32[0] = w[0], d32[1] = w[1], d32[2] = w[2], d32[3] = w[3];
        }
    }
}

/* The shared layout of one stage (see the header): A as [BM][BK] or
 * [BK][BM], B as [BN][BK] or [BK][BN], rows padded by 8 elements. */
template <int BM, int BN, int BK, int TA, int TB> struct bf16_layout {
    static constexpr int A_ROWS = TA ? BK : BM, A_COLS = TA ? BM : BK, A_LD = A_COLS + 8;
    static constexpr int B_ROWS = TB ? BN : BK, B_COLS = TB ? BK : BN, B_LD = B_COLS + 8;
    static constexpr int A_STAGE = A_ROWS * A_LD, B_STAGE = B_ROWS * B_LD;
};

/* Stage K tile KT of batch member A, B into SA, SB (one stage each). */
template <int BM, int BN, int BK, int THREADS, int TA, int TB, int VEC>
DMK_DEV void bf16_load_stage(uint16_t *sa, uint16_t *sb, const uint16_t *a, const uint16_t *b, const gemm_params &p,
                             size_t m0, size_t n0, size_t k0, int tid)
{
    typedef bf16_layout<BM, BN, BK, TA, TB> L;
    if (TA) bf16_load_tile<L::A_ROWS, L::A_COLS, THREADS, VEC>(sa, a, p.lda, k0, m0, p.k, p.m, tid);
    else bf16_load_tile<L::A_ROWS, L::A_COLS, THREADS, VEC>(sa, a, p.lda, m0, k0, p.m, p.k, tid);
    if (TB) bf16_load_tile<L::B_ROWS, L::B_COLS, THREADS, VEC>(sb, b, p.ldb, n0, k0, p.n, p.k, tid);
    else bf16_load_tile<L::B_ROWS, L::B_COLS, THREADS, VEC>(sb, b, p.ldb, k0, n0, p.k, p.n, tid);
}

/* One warp's MT x NT (m16 x n8) tiles over the BK of one stage. WM0, WN0:
 * the warp's corner in the block tile. Lane l addresses row l % 8 of
 * ldmatrix matrix l / 8 = q; the matrix order is a0..a3 for A and
 * (b0, b1) of n-tile 2np then of 2np + 1 for B. */
template <int BM, int BN, int BK, int MT, int NT, int TA, int TB>
DMK_DEV void bf16_multiply(float (*acc)[NT][4], const uint16_t *sa, const uint16_t *sb, int wm0, int wn0, int lane)
{
    typedef bf16_layout<BM, BN, BK, TA, TB> L;
    const int q = lane / 8, r = lane % 8;
#pragma unroll
    for (int ks = 0; ks < BK; ks += 16) {
        /* all of B's fragments, then A's one m-tile at a time: 8 + 4 live
         * fragment registers instead of 8 + 16 (the cp.async kernels must fit
         * 128 registers with 64 accumulators) */
        uint32_t bfr[NT][2];
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
            int n = wn0 + np * 16;
            uint32_t t[4];
            if (TB) /* matrix q: n rows n + 8 (q / 2) .., k columns ks + 8 (q % 2) .. */
                dmk_ldmatrix_x4(t, sb + (n + r + 8 * (q >> 1)) * L::B_LD + ks + 8 * (q & 1));
            else /* matrix q: k rows ks + 8 (q % 2) .., n columns n + 8 (q / 2) .. */
                dmk_ldmatrix_x4_trans(t, sb + (ks + r + 8 * (q & 1)) * L::B_LD + n + 8 * (q >> 1));
            bfr[2 * np][0] = t[0], bfr[2 * np][1] = t[1];
            bfr[2 * np + 1][0] = t[2], bfr[2 * np + 1][1] = t[3];
        }
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            int m = wm0 + mt * 16;
            uint32_t af[4];
            if (TA) /* matrix q: k rows ks + 8 (q / 2) .., m columns m + 8 (q % 2) .. */
                dmk_ldmatrix_x4_trans(af, sa + (ks + r + 8 * (q >> 1)) * L::A_LD + m + 8 * (q & 1));
            else /* matrix q: m rows m + 8 (q % 2) .., k columns ks + 8 (q / 2) .. */
                dmk_ldmatrix_x4(af, sa + (m + r + 8 * (q & 1)) * L::A_LD + ks + 8 * (q >> 1));
#pragma unroll
            for (int nt = 0; nt < NT; nt++) dmk_mma_bf16_16816(acc[mt][nt], af, bfr[nt], acc[mt][nt]);
        }
    }
}

template <int BM, int BN, int BK, int WARPS_M, int WARPS_N, int STAGES, int TA, int TB, int VEC>
DMK_DEV void bf16_tile(const gemm_params &p, uint16_t *sa, uint16_t *sb, size_t z, size_t m0, size_t n0)
{
    typedef bf16_layout<BM, BN, BK, TA, TB> L;
    constexpr int THREADS = WARPS_M * WARPS_N * 32, MT = BM / WARPS_M / 16, NT = BN / WARPS_N / 8;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm0 = (warp / WARPS_N) * (BM / WARPS_M), wn0 = (warp % WARPS_N) * (BN / WARPS_N);
    const uint16_t *a = (const uint16_t *)p.a + z * p.stride_a;
    const uint16_t *b = (const uint16_t *)p.b + z * p.stride_b;
    float acc[MT][NT][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < NT; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;

    /* Prologue: tiles 0 .. STAGES-2 in flight. Every thread commits one group
     * per tile slot (empty ones too), so wait<STAGES-2> below always means
     * "tile kt has landed". */
    size_t ktiles = (p.k + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if ((size_t)s < ktiles)
            bf16_load_stage<BM, BN, BK, THREADS, TA, TB, VEC>(sa + s * L::A_STAGE, sb + s * L::B_STAGE, a, b, p,
                                                              m0, n0, (size_t)s * BK, tid);
        dmk_cp_async_commit();
    }
    for (size_t kt = 0; kt < ktiles; kt++) {
        dmk_cp_async_wait<STAGES - 2>();
        /* tile kt visible to all; and everyone is done with tile kt - 1,
         * whose stage the prefetch below overwrites */
        __syncthreads();
        size_t next = kt + STAGES - 1;
        if (next < ktiles) {
            int s = (int)(next % STAGES);
            bf16_load_stage<BM, BN, BK, THREADS, TA, TB, VEC>(sa + s * L::A_STAGE, sb + s * L::B_STAGE, a, b, p,
                                                              m0, n0, next * BK, tid);
        }
        dmk_cp_async_commit();
        int s = (int)(kt % STAGES);
        bf16_multiply<BM, BN, BK, MT, NT, TA, TB>(acc, sa + s * L::A_STAGE, sb + s * L::B_STAGE, wm0, wn0, lane);
    }
    dmk_cp_async_wait<0>();
    __syncthreads(); /* the next tile of this block reuses the stages */

    float *c = p.c + z * p.stride_c;
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                size_t row = m0 + wm0 + mt * 16 + g + 8 * h, col = n0 + wn0 + nt * 8 + 2 * t;
                if (row >= p.m) continue;
                if (col < p.n) gemm_store(p, c, row, col, acc[mt][nt][2 * h]);
                if (col + 1 < p.n) gemm_store(p, c, row, col + 1, acc[mt][nt][2 * h + 1]);
            }
}

template <int BM, int BN, int BK, int WARPS_M, int WARPS_N, int STAGES, int TA, int TB, int VEC>
DMK_GLOBAL void GEMM_BOUNDS(WARPS_M *WARPS_N * 32, GEMM_BF16_BLOCKS(WARPS_M *WARPS_N * 32, TB, VEC))
    gemm_bf16_kernel(gemm_params p)
{
    typedef bf16_layout<BM, BN, BK, TA, TB> L;
    static_assert(BK % 16 == 0 && (BN / WARPS_N) % 16 == 0 && (BM / WARPS_M) % 16 == 0, "whole mma tiles");
    static_assert(STAGES >= 2, "a pipeline");
    static_assert(STAGES * (L::A_STAGE + L::B_STAGE) * 2 <= 48 * 1024, "static shared memory");
    DMK_SHARED(uint16_t, sa, STAGES * L::A_STAGE);
    DMK_SHARED(uint16_t, sb, STAGES * L::B_STAGE);
    size_t mtiles = (p.m + BM - 1) / BM, n0 = (size_t)blockIdx.x * BN;
    for (size_t z = blockIdx.z; z < p.batch; z += gridDim.z)
        for (size_t by = blockIdx.y; by < mtiles; by += gridDim.y)
            bf16_tile<BM, BN, BK, WARPS_M, WARPS_N, STAGES, TA, TB, VEC>(p, sa, sb, z, by * BM, n0);
}

/* ------------------------------------------------------------------ host */

/* Tile configurations; dmk_gemm picks one by shape. A test may force one. */
enum { GEMM_SMALL = 0, GEMM_LARGE = 1 };
static int gemm_force_config = -1;

static dim3 gemm_grid(const gemm_params &p, size_t bm, size_t bn)
{
    size_t nt = (p.n + bn - 1) / bn, mt = (p.m + bm - 1) / bm;
    return dim3((unsigned)nt, (unsigned)(mt < 65535 ? mt : 65535), (unsigned)(p.batch < 65535 ? p.batch : 65535));
}

template <int BM, int BN, int BK, int TM, int TN>
static void launch_f32(const gemm_params &p, void *stream, int ta, int tb)
{
    dim3 grid = gemm_grid(p, BM, BN), block(GEMM_F32_THREADS);
    switch (ta * 2 + tb) {
    case 0: DMK_LAUNCH((gemm_f32_kernel<BM, BN, BK, TM, TN, 0, 0>), grid, block, stream, p); break;
    case 1: DMK_LAUNCH((gemm_f32_kernel<BM, BN, BK, TM, TN, 0, 1>), grid, block, stream, p); break;
    case 2: DMK_LAUNCH((gemm_f32_kernel<BM, BN, BK, TM, TN, 1, 0>), grid, block, stream, p); break;
    default: DMK_LAUNCH((gemm_f32_kernel<BM, BN, BK, TM, TN, 1, 1>), grid, block, stream, p); break;
    }
}

template <int BM, int BN, int BK, int WM, int WN, int ST>
static void launch_bf16(const gemm_params &p, void *stream, int ta, int tb, int vec)
{
    dim3 grid = gemm_grid(p, BM, BN), block(WM * WN * 32);
    switch (ta * 4 + tb * 2 + vec) {
    case 0: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 0, 0, 0>), grid, block, stream, p); break;
    case 1: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 0, 0, 1>), grid, block, stream, p); break;
    case 2: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 0, 1, 0>), grid, block, stream, p); break;
    case 3: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 0, 1, 1>), grid, block, stream, p); break;
    case 4: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 1, 0, 0>), grid, block, stream, p); break;
    case 5: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 1, 0, 1>), grid, block, stream, p); break;
    case 6: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 1, 1, 0>), grid, block, stream, p); break;
    default: DMK_LAUNCH((gemm_bf16_kernel<BM, BN, BK, WM, WN, ST, 1, 1, 1>), grid, block, stream, p); break;
    }
}

/* cp.async reads 16-byte chunks: every row start of every batch member of
 * X must be 16-byte aligned. */
static int gemm_rows_aligned(const void *x, size_t ld, size_t stride, size_t batch)
{
    return (uintptr_t)x % 16 == 0 && ld % 8 == 0 && (batch == 1 || stride % 8 == 0);
}

/* 128 x 128 tiles once there are enough of them to keep ~132 SMs busy for
 * two rounds; below that, 64 x 64 tiles give four times the blocks. */
static int gemm_config(const gemm_params &p)
{
    if (gemm_force_config >= 0) return gemm_force_config;
    size_t tiles = ((p.m + 127) / 128) * ((p.n + 127) / 128) * p.batch;
    return p.m >= 128 && p.n >= 128 && tiles >= 256 ? GEMM_LARGE : GEMM_SMALL;
}

extern "C" int dmk_gemm(const dmk_env *env, const dmk_gemm_args *g)
{
    if (g->m == 0 || g->n == 0 || g->batch == 0) return 0;
    gemm_params p;
    p.a = g->a, p.b = g->b, p.c = g->c, p.bias = g->bias;
    p.m = g->m, p.n = g->n, p.k = g->k;
    p.lda = g->lda, p.ldb = g->ldb, p.ldc = g->ldc;
    p.stride_a = g->stride_a, p.stride_b = g->stride_b, p.stride_c = g->stride_c;
    p.batch = g->batch, p.alpha = g->alpha, p.beta = g->beta, p.act = g->act;
    int ta = g->trans_a ? 1 : 0, tb = g->trans_b ? 1 : 0, large = gemm_config(p) == GEMM_LARGE;
    if (g->bf16) {
        int vec = gemm_rows_aligned(g->a, g->lda, g->stride_a, g->batch) &&
                  gemm_rows_aligned(g->b, g->ldb, g->stride_b, g->batch);
        if (large) launch_bf16<128, 128, 32, 2, 4, 2>(p, env->stream, ta, tb, vec);
        else launch_bf16<64, 64, 32, 2, 2, 3>(p, env->stream, ta, tb, vec);
    } else {
        /* env->fp32_tensor_ops is ignored: SIMT float32 only (see the header) */
        if (large) launch_f32<128, 128, 8, 8, 8>(p, env->stream, ta, tb);
        else launch_f32<64, 64, 16, 4, 4>(p, env->stream, ta, tb);
    }
    return 0;
}
