/*
 * dmk.h — what every kernel source of kernels/ includes: one source for
 * two compilers.
 *
 *  - nvcc (__CUDACC__): real CUDA. The PTX we use is inline assembly here.
 *  - a host C++ compiler (DMK_EMU): the same sources against our emulation
 *    layer (emu/dmk_emu.h): every CUDA thread a fiber, __syncthreads a
 *    barrier, shared memory per block, warp shuffles and votes, and the PTX
 *    below emulated per the PTX ISA's documented fragment layouts. The op
 *    suite (test/backend) runs every kernel this way against cpu-ref in CI,
 *    with the order threads run in randomised per seed.
 *
 * Kernels therefore use only what this header names:
 *  - DMK_GLOBAL (a kernel), DMK_DEV (a device function), DMK_HD (host and
 *    device);
 *  - threadIdx, blockIdx, blockDim, gridDim (x, y, z), __syncthreads();
 *  - DMK_SHARED(type, name, count): a static shared array, 16-byte aligned,
 *    declared at the top level of a kernel body (not in a loop or branch);
 *  - the warp functions __shfl_sync, __shfl_xor_sync, __shfl_down_sync,
 *    __shfl_up_sync, __ballot_sync, __any_sync, __all_sync, __syncwarp,
 *    always with all 32 lanes of the warp taking part (mask 0xffffffff;
 *    block sizes are multiples of 32);
 *  - the PTX wrappers dmk_mma_bf16_16816, dmk_ldmatrix_x{1,2,4}[_trans],
 *    dmk_cp_async_16, dmk_cp_async_commit, dmk_cp_async_wait<N>;
 *  - <math.h>'s float functions (expf, logf, erff, tanhf, sqrtf, fmaxf ...);
 *    no __expf-style intrinsics. Where a result must equal cpu-ref bit for
 *    bit (adamw, add, dropout, embed), products and sums go through
 *    DMK_FMUL / DMK_FADD / DMK_FDIV / DMK_FSQRT so nvcc fuses nothing;
 *  - DMK_LAUNCH(kernel, grid, block, stream, args...) from host code.
 * bfloat16 values are uint16_t bit patterns (dmk_bf16_to_float,
 * dmk_float_to_bf16: round to nearest even, NaN stays NaN); two of them
 * packed in a uint32_t (low half the lower index) as mma fragments hold them.
 */
#ifndef DMK_H
#define DMK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define DMK_GLOBAL __global__
#define DMK_DEV __device__ __forceinline__
#define DMK_HD __host__ __device__ __forceinline__
#define DMK_SHARED(type, name, count) __shared__ __align__(16) type name[count]
#define DMK_LAUNCH(kernel, grid, block, stream, ...) \
    kernel<<<(grid), (block), 0, (cudaStream_t)(stream)>>>(__VA_ARGS__)
#define DMK_FMUL(a, b) __fmul_rn((a), (b))
#define DMK_FADD(a, b) __fadd_rn((a), (b))
#define DMK_FDIV(a, b) __fdiv_rn((a), (b))
#define DMK_FSQRT(a) __fsqrt_rn(a)

/* D = A B + C for one warp: A 16 x 16 (row), B 16 x 8 (col), bf16 in, f32
 * accumulate (PTX ISA, "Matrix Fragments for mma.m16n8k16"). */
DMK_DEV void dmk_mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%10,%11,%12,%13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
}

DMK_DEV uint32_t dmk_smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* ldmatrix: lane l gives the address of row l % 8 of matrix l / 8 (8 x 8
 * matrices of 16-bit elements, rows 16 bytes); register i receives, per
 * lane, elements (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1) of matrix i
 * (of its transpose with _trans). */
DMK_DEV void dmk_ldmatrix_x1(uint32_t r[1], const void *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(dmk_smem_addr(row)));
}
DMK_DEV void dmk_ldmatrix_x2(uint32_t r[2], const void *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1]) : "r"(dmk_smem_addr(row)));
}
DMK_DEV void dmk_ldmatrix_x4(uint32_t r[4], const void *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(dmk_smem_addr(row)));
}
DMK_DEV void dmk_ldmatrix_x1_trans(uint32_t r[1], const void *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n"
                 : "=r"(r[0]) : "r"(dmk_smem_addr(row)));
}
DMK_DEV void dmk_ldmatrix_x2_trans(uint32_t r[2], const void *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1]) : "r"(dmk_smem_addr(row)));
}
DMK_DEV void dmk_ldmatrix_x4_trans(uint32_t r[4], const void *row)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(dmk_smem_addr(row)));
}

/* cp.async: 16 bytes global -> shared, of which the first SRC_BYTES (0 to
 * 16) are read and the rest zero-filled; completes in groups (commit), and
 * wait<N> waits until at most N of this thread's groups are in flight. The
 * data is visible to other threads only after that wait and a barrier. */
DMK_DEV void dmk_cp_async_16(void *smem, const void *gmem, int src_bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dmk_smem_addr(smem)), "l"(gmem),
                 "r"(src_bytes));
}
DMK_DEV void dmk_cp_async_commit(void) { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> DMK_DEV void dmk_cp_async_wait(void) { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

#else /* the host emulation */

#ifndef DMK_EMU
#define DMK_EMU 1
#endif
#include "emu/dmk_emu.h"

#define DMK_FMUL(a, b) ((float)(a) * (float)(b))
#define DMK_FADD(a, b) ((float)(a) + (float)(b))
#define DMK_FDIV(a, b) ((float)(a) / (float)(b))
#define DMK_FSQRT(a) sqrtf(a)

#endif

/* bfloat16 <-> float, the same on both sides. */
DMK_HD float dmk_bf16_to_float(uint16_t h)
{
    union { uint32_t u; float f; } x;
    x.u = (uint32_t)h << 16;
    return x.f;
}
DMK_HD uint16_t dmk_float_to_bf16(float f)
{
    union { uint32_t u; float f; } x;
    x.f = f;
    if ((x.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x.u >> 16) | 0x40u); /* NaN stays NaN */
    uint32_t rounding = 0x7fffu + ((x.u >> 16) & 1u);
    return (uint16_t)((x.u + rounding) >> 16);
}
DMK_HD uint32_t dmk_pack_bf16(uint16_t lo, uint16_t hi) { return (uint32_t)lo | ((uint32_t)hi << 16); }

/* Philox4x32-10, as lib/core/rng.h (dmi_philox): the four words of
 * counter (ctr_lo, ctr_hi) under KEY. Kernels that need consecutive words
 * take all four at once; dmk_philox_word picks one. */
DMK_HD void dmk_philox4(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0, c1 = (uint32_t)p1, c2 = n2, c3 = (uint32_t)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* Word W of the stream (key, ctr_hi): word W % 4 of counter (ctr_hi, W / 4). */
DMK_HD uint32_t dmk_philox_word(uint64_t key, uint64_t ctr_hi, uint64_t w)
{
    uint32_t out[4];
    dmk_philox4(key, ctr_hi, w / 4, out);
    return out[w % 4];
}

/* Dropout's keep decision for element J of a call, exactly as backend.h
 * defines it (blocks of 8192 elements, 16 bits each). */
DMK_HD int dmk_dropout_keeps(float p, uint64_t seed, uint64_t stream, uint64_t j)
{
    uint64_t b = j / 8192, i = j % 8192;
    uint32_t word = dmk_philox_word(seed, stream, b * 4096 + (i % 4096));
    uint32_t bits = i < 4096 ? (word & 0xffffu) : (word >> 16);
    return (float)bits * (1.0f / 65536.0f) >= p;
}

#endif
