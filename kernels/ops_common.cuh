/*
 * ops_common.cuh — what the parts of kernels/ops.cu share: launch shapes,
 * grid-stride indices, deterministic warp and block reductions, scratch
 * carving. Included by ops.cu only (the parts are one translation unit).
 *
 * Every name here starts with ops_: the emulation builds gemm.cu, ops.cu and
 * attention.cu as host C++ where a DMK_DEV function is a plain inline
 * function, so two files' helpers of the same name would silently merge.
 */
#ifndef DMK_OPS_COMMON_CUH
#define DMK_OPS_COMMON_CUH

#include "dmk.h"
#include "dmk_kernels.h"

#define OPS_THREADS 256      /* threads per block of the element-wise kernels */
#define OPS_MAX_BLOCKS 4096  /* grid-stride beyond this: ~16 blocks per SM of an H100 */
#define OPS_FULL 0xffffffffu /* every lane of a warp */

/* Blocks for WORK items at PER_BLOCK items a block, at least 1, capped. */
static inline int ops_blocks(size_t work, size_t per_block)
{
    size_t b = (work + per_block - 1) / per_block;
    if (b < 1) b = 1;
    if (b > OPS_MAX_BLOCKS) b = OPS_MAX_BLOCKS;
    return (int)b;
}

/* BYTES rounded up to the 256-byte alignment scratch hands out. */
static inline size_t ops_align(size_t bytes) { return (bytes + 255) / 256 * 256; }

/* This thread's first index and the stride of a grid-stride loop. */
DMK_DEV size_t ops_first(void) { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }
DMK_DEV size_t ops_stride(void) { return (size_t)gridDim.x * blockDim.x; }

/* Butterfly sums over a warp: every lane ends with the same bits (each step
 * adds the same two values, and float addition commutes), in an order fixed
 * by the lane numbers alone. */
DMK_DEV float ops_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(OPS_FULL, v, o);
    return v;
}

/* A double through a shuffle as two 32-bit halves (what the hardware does). */
DMK_DEV double ops_shfl_xor_double(double v, int lane_mask)
{
    union { double d; uint32_t u[2]; } x;
    x.d = v;
    x.u[0] = __shfl_xor_sync(OPS_FULL, x.u[0], lane_mask);
    x.u[1] = __shfl_xor_sync(OPS_FULL, x.u[1], lane_mask);
    return x.d;
}

DMK_DEV double ops_warp_sum_double(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += ops_shfl_xor_double(v, o);
    return v;
}

DMK_DEV float ops_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(OPS_FULL, v, o));
    return v;
}

/* The sum of V over the block (blockDim.x a multiple of 32, at most 1024),
 * returned to every thread: warp sums, then the warp sums in warp order.
 * PART is a shared array of at least 32 doubles; the trailing barrier lets
 * the caller reuse it. Every thread of the block must call it. */
DMK_DEV double ops_block_sum_double(double v, double *part)
{
    v = ops_warp_sum_double(v);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    double s = 0.0;
    for (unsigned w = 0; w < blockDim.x / 32; w++) s += part[w];
    __syncthreads();
    return s;
}

DMK_DEV float ops_block_max(float v, float *part)
{
    v = ops_warp_max(v);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    float m = part[0];
    for (unsigned w = 1; w < blockDim.x / 32; w++) m = fmaxf(m, part[w]);
    __syncthreads();
    return m;
}

#endif
