/*
 * test_emu.cu — the CUDA emulation layer's own test (kernels/emu): the
 * same file builds as host C++ against the emulator and with nvcc for a
 * GPU, so what it checks holds on both sides. Built by meson through
 * test_emu_host.cpp; by hand, from the repository root:
 *
 *   g++ -std=c++17 -O2 -ffp-contract=off -Ikernels -x c++ test/cuda_emu/test_emu.cu \
 *       -x none kernels/emu/dmk_emu.cpp -o test_emu && ./test_emu
 *   nvcc -std=c++17 -arch=sm_80 -Ikernels test/cuda_emu/test_emu.cu -o test_emu_gpu
 *
 * It checks: a block-wide shared-memory reduction over 20 seeds; that a
 * missing __syncthreads gives a wrong result for some seed (the randomised
 * order works); that exited threads do not block barriers; every shuffle
 * and vote against the CUDA programming guide's definitions; ldmatrix (all
 * six forms) and mma.m16n8k16 against scalar products; cp.async's zero fill
 * and groups. Under the emulator also: reading before the cp.async wait
 * sees garbage, the error paths, and a speed figure. Exit status 0 when all
 * pass; each failure is printed.
 */
#include "dmk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef DMK_EMU
#include <chrono>
#endif

static int failures;
#define CHECK(cond, ...)                                                                                         \
    do {                                                                                                         \
        if (!(cond)) {                                                                                           \
            failures++;                                                                                          \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                          \
            printf(__VA_ARGS__);                                                                                 \
            printf("\n");                                                                                        \
        }                                                                                                        \
    } while (0)

/* Memory both sides can read: managed memory on the GPU, the heap here. */
static void *dalloc(size_t bytes)
{
#ifdef DMK_EMU
    return calloc(1, bytes);
#else
    void *p = NULL;
    cudaMallocManaged(&p, bytes);
    cudaMemset(p, 0, bytes);
    cudaDeviceSynchronize();
    return p;
#endif
}
static void dfree(void *p)
{
#ifdef DMK_EMU
    free(p);
#else
    cudaFree(p);
#endif
}
/* After a launch: the launch's error, or NULL. */
static const char *dsync(void)
{
#ifdef DMK_EMU
    return dmk_emu_last_error();
#else
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? NULL : cudaGetErrorString(e);
#endif
}
static void set_seed(uint64_t seed)
{
#ifdef DMK_EMU
    dmk_emu_set_seed(seed);
#else
    (void)seed;
#endif
}

/* ---------------------------------------------------------------- barriers */

/* Sum of x over each block (blockDim.x * blockDim.y = 256), a tree in
 * shared memory; MISSING drops the barrier inside the tree. */
template <bool MISSING> DMK_GLOBAL void block_sum(const int *x, int *out)
{
    DMK_SHARED(int, s, 256);
    unsigned t = threadIdx.y * blockDim.x + threadIdx.x, b = blockIdx.y * gridDim.x + blockIdx.x;
    s[t] = x[b * 256 + t];
    __syncthreads();
    for (unsigned h = 128; h > 0; h /= 2) {
        if (t < h) s[t] += s[t + h];
        if (!MISSING) __syncthreads();
    }
    if (MISSING) __syncthreads();
    if (t == 0) out[b] = s[0];
}

/* Threads past LIVE return at once; the rest meet at barriers and sum. */
DMK_GLOBAL void early_exit_sum(int *out, unsigned live)
{
    DMK_SHARED(int, s, 1);
    unsigned t = threadIdx.x;
    if (t == 0) s[0] = 0;
    __syncthreads();
    if (t >= live) return;
    __syncthreads();
    for (unsigned i = 0; i < live; i++) {
        if (t == i) s[0] += (int)t + 1; /* one writer at a time, barriers between */
        __syncthreads();
    }
    /* Whole warps exit; the first still shuffles. */
    if (t >= 32) return;
    int v = (int)t;
    for (int o = 16; o; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (t == 0) out[0] = v, out[1] = s[0];
}

static void test_barriers(void)
{
    int *x = (int *)dalloc(8 * 256 * sizeof(int)), *out = (int *)dalloc(8 * sizeof(int));
    long want[8] = {0};
    for (int i = 0; i < 8 * 256; i++) x[i] = (i * 7919) % 1000 - 500, want[i / 256] += x[i];
    int wrong_seeds = 0, distinct = 0, first_bad = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        set_seed(seed);
        DMK_LAUNCH((block_sum<false>), dim3(4, 2), dim3(32, 8), 0, x, out);
        const char *e = dsync();
        CHECK(!e, "block_sum: %s", e);
        for (int b = 0; b < 8; b++) CHECK(out[b] == want[b], "block_sum seed %d block %d: %d, want %ld", (int)seed, b, out[b], want[b]);
        DMK_LAUNCH((block_sum<true>), dim3(4, 2), dim3(32, 8), 0, x, out);
        dsync();
        int bad = 0;
        for (int b = 0; b < 8; b++) bad |= out[b] != want[b];
        wrong_seeds += bad;
        if (bad && !first_bad) first_bad = out[0];
        if (bad && out[0] != first_bad) distinct = 1;
    }
#ifdef DMK_EMU
    CHECK(wrong_seeds > 0, "a missing __syncthreads went unnoticed over 20 seeds");
    CHECK(distinct, "a missing __syncthreads gave the same wrong sum for every seed: the order is not random");
#endif
    printf("missing barrier: wrong for %d of 20 seeds (%s wrong sums)\n", wrong_seeds, distinct ? "different" : "the same");

    unsigned lives[] = {256, 200, 100, 65, 33};
    for (unsigned live : lives) {
        DMK_LAUNCH(early_exit_sum, 1, 256, 0, out, live);
        const char *e = dsync();
        CHECK(!e, "early exit (%u live): %s", live, e);
        CHECK(out[0] == 496, "early exit shuffle: %d", out[0]);
        CHECK(out[1] == (int)(live * (live + 1) / 2), "early exit sum (%u live): %d", live, out[1]);
    }
    dfree(x);
    dfree(out);
}

/* ---------------------------------------------------------- warp functions */

/* Per lane, in order: 8 idx, 5 xor, 4 up, 4 down (width 32, 16, 8), as
 * float, int, unsigned and double; then ballot, any, all. */
#define NSHFL 34
DMK_GLOBAL void warp_ops(float *f, int *iv, unsigned *u, double *d, unsigned *votes)
{
    unsigned lane = threadIdx.x % 32, base = (threadIdx.x / 32) * 32;
    float vf = 1.5f * lane + 0.25f;
    int vi = -7 * (int)lane;
    unsigned vu = 0x80000000u + lane * 3;
    double vd = 1e300 / (lane + 1);
    int k = 0;
#define SHFL_ALL(call) f[(base + lane) * NSHFL + k] = call(0xffffffffu, vf, ARG, W);                              \
    iv[(base + lane) * NSHFL + k] = call(0xffffffffu, vi, ARG, W);                                                \
    u[(base + lane) * NSHFL + k] = call(0xffffffffu, vu, ARG, W);                                                 \
    d[(base + lane) * NSHFL + k] = call(0xffffffffu, vd, ARG, W);                                                 \
    k++;
    const int widths[3] = {32, 16, 8};
    for (int wi = 0; wi < 3; wi++) {
        int W = widths[wi];
        {
            int ARG = (int)(lane * 5 + 3) % 40 - 4; /* negative and past the width too */
            SHFL_ALL(__shfl_sync)
        }
        for (int m = 1; m <= 16; m *= 2) {
            int ARG = m;
            if (wi == 0 || m == 8) { SHFL_ALL(__shfl_xor_sync) }
        }
        for (unsigned dl = 1; dl <= 9; dl += 8) {
            unsigned ARG = dl;
            SHFL_ALL(__shfl_up_sync)
            SHFL_ALL(__shfl_down_sync)
        }
    }
#undef SHFL_ALL
    votes[(base + lane) * 4 + 0] = __ballot_sync(0xffffffffu, lane % 3 == 0);
    votes[(base + lane) * 4 + 1] = __any_sync(0xffffffffu, lane == 17);
    votes[(base + lane) * 4 + 2] = __all_sync(0xffffffffu, lane < 32);
    votes[(base + lane) * 4 + 3] = __all_sync(0xffffffffu, lane != 5) + 2 * __any_sync(0xffffffffu, 0);
    __syncwarp();
}

/* The source lane per the CUDA programming guide's words (not the PTX
 * formula the emulator uses): idx reads srcLane % width in its own group;
 * up and down return the own value past the group's edge; xor may read an
 * earlier group but not a later one. */
static unsigned ref_src(int kind, unsigned lane, int arg, int w)
{
    unsigned group = lane / w * w;
    switch (kind) {
    case 0: return group + (unsigned)(((arg % w) + w) % w);
    case 1: return (int)(lane % w) >= arg ? lane - arg : lane;
    case 2: return (int)(lane % w) + arg < w ? lane + arg : lane;
    default: { unsigned j = lane ^ (unsigned)arg; return j >= group + w ? lane : j; }
    }
}

static void test_warp_ops(void)
{
    const int nt = 64;
    float *f = (float *)dalloc(nt * NSHFL * sizeof(float));
    int *iv = (int *)dalloc(nt * NSHFL * sizeof(int));
    unsigned *u = (unsigned *)dalloc(nt * NSHFL * sizeof(unsigned));
    double *d = (double *)dalloc(nt * NSHFL * sizeof(double));
    unsigned *votes = (unsigned *)dalloc(nt * 4 * sizeof(unsigned));
    for (uint64_t seed = 1; seed <= 3; seed++) {
        set_seed(seed);
        DMK_LAUNCH(warp_ops, 1, nt, 0, f, iv, u, d, votes);
        const char *e = dsync();
        CHECK(!e, "warp_ops: %s", e);
        for (unsigned t = 0; t < (unsigned)nt; t++) {
            unsigned lane = t % 32;
            int k = 0;
            const int widths[3] = {32, 16, 8};
            for (int wi = 0; wi < 3; wi++) {
                int w = widths[wi];
                struct { int kind, arg; } ops[12];
                int n = 0;
                ops[n].kind = 0, ops[n++].arg = (int)(lane * 5 + 3) % 40 - 4;
                for (int m = 1; m <= 16; m *= 2)
                    if (wi == 0 || m == 8) ops[n].kind = 3, ops[n++].arg = m;
                for (int dl = 1; dl <= 9; dl += 8) ops[n].kind = 1, ops[n++].arg = dl, ops[n].kind = 2, ops[n++].arg = dl;
                for (int o = 0; o < n; o++, k++) {
                    unsigned s = ref_src(ops[o].kind, lane, ops[o].arg, w), i = t * NSHFL + k;
                    CHECK(f[i] == 1.5f * s + 0.25f && iv[i] == -7 * (int)s && u[i] == 0x80000000u + s * 3 &&
                              d[i] == 1e300 / (s + 1),
                          "shuffle kind %d arg %d width %d lane %u: got %g (source %u expected)", ops[o].kind,
                          ops[o].arg, w, lane, f[i], s);
                }
            }
            CHECK(votes[t * 4] == 0x49249249u, "ballot %#x", votes[t * 4]);
            CHECK(votes[t * 4 + 1] == 1 && votes[t * 4 + 2] == 1 && votes[t * 4 + 3] == 0, "any/all %u %u %u",
                  votes[t * 4 + 1], votes[t * 4 + 2], votes[t * 4 + 3]);
        }
    }
    dfree(f), dfree(iv), dfree(u), dfree(d), dfree(votes);
}

/* ------------------------------------------------------- ldmatrix and mma */

/* ldmatrix in its six forms from a 32 x 8 tile whose element (r, c) is
 * r * 8 + c (4 matrices of 8 x 8, stacked). out: per lane 4 + 2 + 1 words
 * plain, then the same transposed. */
DMK_GLOBAL void ldmatrix_forms(uint32_t *out)
{
    DMK_SHARED(uint16_t, tile, 32 * 8);
    unsigned l = threadIdx.x;
    for (unsigned i = l; i < 256; i += 32) tile[i] = (uint16_t)i;
    __syncthreads();
    const uint16_t *row = tile + l * 8; /* lane l: row l % 8 of matrix l / 8 */
    uint32_t r[14];
    dmk_ldmatrix_x4(r, row);
    dmk_ldmatrix_x2(r + 4, row);
    dmk_ldmatrix_x1(r + 6, row);
    dmk_ldmatrix_x4_trans(r + 7, row);
    dmk_ldmatrix_x2_trans(r + 11, row);
    dmk_ldmatrix_x1_trans(r + 13, row);
    for (int i = 0; i < 14; i++) out[l * 14 + i] = r[i];
}

static void test_ldmatrix(void)
{
    uint32_t *out = (uint32_t *)dalloc(32 * 14 * sizeof(uint32_t));
    DMK_LAUNCH(ldmatrix_forms, 1, 32, 0, out);
    const char *e = dsync();
    CHECK(!e, "ldmatrix: %s", e);
    const int first[2][3] = {{0, 4, 6}, {7, 11, 13}}, counts[3] = {4, 2, 1};
    for (unsigned l = 0; l < 32; l++)
        for (int tr = 0; tr < 2; tr++)
            for (int f = 0; f < 3; f++)
                for (int i = 0; i < counts[f]; i++) {
                    unsigned r = l / 4, c = 2 * (l % 4);
                    uint32_t lo = tr ? i * 64 + c * 8 + r : i * 64 + r * 8 + c;
                    uint32_t hi = tr ? lo + 8 : lo + 1;
                    uint32_t got = out[l * 14 + first[tr][f] + i];
                    CHECK(got == (lo | hi << 16), "ldmatrix x%d%s lane %u reg %d: %#x, want %#x", counts[f],
                          tr ? "_trans" : "", l, i, got, lo | hi << 16);
                }
    dfree(out);
}

/* D = A B + C for 16 x 16 A (row-major), B given twice: as 16 x 8 [k][n]
 * (read with ldmatrix_x2_trans) and as 8 x 16 [n][k] (ldmatrix_x2); A
 * through ldmatrix_x4. d: 2 x 16 x 8. */
DMK_GLOBAL void mma_tile(float *d, const uint16_t *a, const uint16_t *b_kn, const uint16_t *b_nk, const float *c)
{
    DMK_SHARED(uint16_t, sa, 16 * 16);
    DMK_SHARED(uint16_t, sb_kn, 16 * 8);
    DMK_SHARED(uint16_t, sb_nk, 8 * 16);
    unsigned l = threadIdx.x, g = l / 4, t = l % 4;
    for (unsigned i = l; i < 256; i += 32) sa[i] = a[i];
    for (unsigned i = l; i < 128; i += 32) sb_kn[i] = b_kn[i], sb_nk[i] = b_nk[i];
    __syncthreads();
    uint32_t fa[4], fb[2], fb2[2];
    dmk_ldmatrix_x4(fa, sa + ((l % 8) + 8 * ((l / 8) % 2)) * 16 + 8 * (l / 16));
    dmk_ldmatrix_x2_trans(fb, sb_kn + (l % 16) * 8);
    dmk_ldmatrix_x2(fb2, sb_nk + (l % 8) * 16 + 8 * ((l / 8) % 2));
    float fc[4], fd[4];
    for (int i = 0; i < 4; i++) fc[i] = c[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];
    dmk_mma_bf16_16816(fd, fa, fb, fc);
    for (int i = 0; i < 4; i++) d[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = fd[i];
    dmk_mma_bf16_16816(fd, fa, fb2, fc);
    for (int i = 0; i < 4; i++) d[128 + (g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = fd[i];
}

static uint16_t rand_bf16(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return dmk_float_to_bf16(((float)(*s >> 8) / 16777216.0f - 0.5f) * 8.0f);
}

static void test_mma(void)
{
    uint16_t *a = (uint16_t *)dalloc(256 * 2), *b_kn = (uint16_t *)dalloc(128 * 2), *b_nk = (uint16_t *)dalloc(128 * 2);
    float *c = (float *)dalloc(128 * 4), *d = (float *)dalloc(256 * 4);
    uint32_t s = 12345;
    for (int trial = 0; trial < 5; trial++) {
        for (int i = 0; i < 256; i++) a[i] = rand_bf16(&s);
        for (int k = 0; k < 16; k++)
            for (int n = 0; n < 8; n++) b_kn[k * 8 + n] = b_nk[n * 16 + k] = rand_bf16(&s);
        for (int i = 0; i < 128; i++) c[i] = dmk_bf16_to_float(rand_bf16(&s));
        DMK_LAUNCH(mma_tile, 1, 32, 0, d, a, b_kn, b_nk, c);
        const char *e = dsync();
        CHECK(!e, "mma: %s", e);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++) {
                double want = c[m * 8 + n], mag = fabs(want);
                for (int k = 0; k < 16; k++) {
                    double p = (double)dmk_bf16_to_float(a[m * 16 + k]) * dmk_bf16_to_float(b_kn[k * 8 + n]);
                    want += p, mag += fabs(p);
                }
                for (int v = 0; v < 2; v++)
                    CHECK(fabs(d[v * 128 + m * 8 + n] - want) <= 1e-6 * mag + 1e-30,
                          "mma (%s) D[%d][%d] = %.9g, want %.9g", v ? "ldmatrix_x2" : "ldmatrix_x2_trans", m, n,
                          d[v * 128 + m * 8 + n], want);
            }
    }
    dfree(a), dfree(b_kn), dfree(b_nk), dfree(c), dfree(d);
}

/* ---------------------------------------------------------------- cp.async */

/* Lane l copies 16 bytes of src row l into shared memory twice, taking
 * l % 17 bytes (the rest zero-filled), in two groups; early[] what it sees
 * before any wait and between the waits (emulator only: on the GPU that
 * is a race). */
DMK_GLOBAL void cp_async_groups(uint8_t *out, uint8_t *early, const uint8_t *src)
{
    DMK_SHARED(uint8_t, s1, 32 * 16);
    DMK_SHARED(uint8_t, s2, 32 * 16);
    unsigned l = threadIdx.x;
    int bytes = (int)(l % 17);
    dmk_cp_async_16(s1 + l * 16, src + l * 16, bytes);
    dmk_cp_async_commit();
    dmk_cp_async_16(s2 + l * 16, src + 512 + l * 16, bytes);
    dmk_cp_async_commit();
#ifdef DMK_EMU
    memcpy(early + l * 32, s1 + l * 16, 16);
    dmk_cp_async_wait<1>();
    memcpy(early + l * 32 + 16, s2 + l * 16, 16);
#else
    (void)early;
#endif
    dmk_cp_async_wait<0>();
    __syncthreads();
    unsigned other = (l + 5) % 32; /* another thread's copy, after the barrier */
    for (int i = 0; i < 16; i++) out[l * 32 + i] = s1[other * 16 + i], out[l * 32 + 16 + i] = s2[other * 16 + i];
}

static void test_cp_async(void)
{
    uint8_t *out = (uint8_t *)dalloc(32 * 32), *early = (uint8_t *)dalloc(32 * 32), *src = (uint8_t *)dalloc(1024);
    for (int i = 0; i < 1024; i++) src[i] = (uint8_t)(i * 37 + 1) | 1; /* never 0 */
    for (uint64_t seed = 1; seed <= 4; seed++) {
        set_seed(seed);
        DMK_LAUNCH(cp_async_groups, 1, 32, 0, out, early, src);
        const char *e = dsync();
        CHECK(!e, "cp.async: %s", e);
        for (unsigned l = 0; l < 32; l++) {
            unsigned o = (l + 5) % 32;
            for (unsigned h = 0; h < 2; h++)
                for (unsigned i = 0; i < 16; i++) {
                    uint8_t want = i < o % 17 ? src[h * 512 + o * 16 + i] : 0;
                    CHECK(out[l * 32 + h * 16 + i] == want, "cp.async copy %u lane %u byte %u: %u, want %u", h, o, i,
                          out[l * 32 + h * 16 + i], want);
                }
#ifdef DMK_EMU
            /* Before the waits: garbage in both; after wait<1>: the first
             * group landed, the second not. */
            CHECK(memcmp(early + l * 32, out + ((l + 27) % 32) * 32, 16) != 0, "cp.async: data before the wait (lane %u)", l);
            CHECK(memcmp(early + l * 32 + 16, out + ((l + 27) % 32) * 32 + 16, 16) != 0,
                  "cp.async: wait<1> completed the last group too (lane %u)", l);
#endif
        }
    }
    dfree(out), dfree(early), dfree(src);
}

/* ------------------------------------------------- errors and speed (emu) */

#ifdef DMK_EMU
DMK_GLOBAL void trivial(int *out) { out[blockIdx.x * blockDim.x + threadIdx.x] = 1; }
DMK_GLOBAL void too_much_shared(int *out)
{
    DMK_SHARED(float, big, 20000); /* 80 KB: past the 48 KiB of static shared memory */
    big[threadIdx.x] = 1;
    out[threadIdx.x] = (int)big[0];
}
DMK_GLOBAL void divergent_barriers(int *out)
{
    if (threadIdx.x % 2) __syncthreads();
    else __syncwarp();
    out[threadIdx.x] = 1;
}
DMK_GLOBAL void shuffle_after_exit(int *out)
{
    if (threadIdx.x % 2) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (int)threadIdx.x, 2);
}
DMK_GLOBAL void spin_barriers(int *out, int n)
{
    DMK_SHARED(int, s, 1);
    if (threadIdx.x == 0) s[0] = 0;
    for (int i = 0; i < n; i++) __syncthreads();
    out[blockIdx.x] = s[0];
}

static void test_errors(void)
{
    int *out = (int *)dalloc(4096 * sizeof(int));
    const char *e;
    DMK_LAUNCH(trivial, 1, 33, 0, out);
    e = dmk_emu_last_error();
    CHECK(e && out[0] == 0, "a block of 33 threads ran");
    printf("error path: %s\n", e ? e : "(none)");
    DMK_LAUNCH(trivial, 1, 2048, 0, out);
    CHECK(dmk_emu_last_error(), "a block of 2048 threads ran");
    DMK_LAUNCH(trivial, dim3(1, 70000), 32, 0, out);
    CHECK(dmk_emu_last_error(), "a grid of 70000 rows ran");
    DMK_LAUNCH(too_much_shared, 1, 32, 0, out);
    CHECK((e = dmk_emu_last_error()), "80 KB of shared memory went unnoticed");
    printf("error path: %s\n", e ? e : "(none)");
    DMK_LAUNCH(divergent_barriers, 1, 64, 0, out);
    CHECK((e = dmk_emu_last_error()), "a deadlock went unnoticed");
    printf("error path: %s\n", e ? e : "(none)");
    DMK_LAUNCH(shuffle_after_exit, 1, 32, 0, out);
    CHECK((e = dmk_emu_last_error()), "a shuffle with exited lanes went unnoticed");
    printf("error path: %s\n", e ? e : "(none)");
    CHECK(!dmk_emu_last_error(), "the error was not cleared");
    memset(out, 0, 4096 * sizeof(int));
    DMK_LAUNCH(trivial, 4, 1024, 0, out); /* and the next launch is fine */
    e = dmk_emu_last_error();
    int sum = 0;
    for (int i = 0; i < 4096; i++) sum += out[i];
    CHECK(!e && sum == 4096, "launch after errors: %s, %d of 4096", e ? e : "ok", sum);
    dfree(out);
}

static void speed(void)
{
    int *out = (int *)dalloc(64 * sizeof(int));
    const int blocks = 16, threads = 256, n = 500;
    auto t0 = std::chrono::steady_clock::now();
    DMK_LAUNCH(spin_barriers, blocks, threads, 0, out, n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(!dmk_emu_last_error(), "speed run failed");
    double resumes = (double)blocks * threads * (n + 1);
    printf("speed: %.0f fiber resumes in %.3f s: %.1f M resumes/s (%.0f ns per resume, 2 switches each)\n", resumes,
           s, resumes / s / 1e6, s / resumes * 1e9);
    dfree(out);
}
#endif

int main(void)
{
    test_barriers();
    test_warp_ops();
    test_ldmatrix();
    test_mma();
    test_cp_async();
#ifdef DMK_EMU
    test_errors();
    speed();
#endif
    printf("%s (%d failures)\n", failures ? "FAILED" : "all passed", failures);
    return failures ? 1 : 0;
}
