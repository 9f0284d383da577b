/*
 * dmk_emu.h — the host emulation of the CUDA subset that kernels/dmk.h
 * names, so that the kernel sources (kernels/NAME.cu) compile as host C++
 * (DMK_EMU) and run on the CPU, for the "cuda-emu" backend and for testing kernels without a GPU.
 *
 * The model, and why:
 *  - every CUDA thread of a block is a fiber on the calling host thread;
 *    blocks run one after another. A barrier (__syncthreads, a warp
 *    function) parks the fiber, and the scheduler resumes the fibers that
 *    can run in a random order drawn from a seeded generator (and takes the
 *    blocks in a random order too). A kernel that reads what another thread
 *    wrote without a barrier in between therefore gets a wrong result for
 *    some seeds instead of passing by luck of a fixed order;
 *  - warp functions (shuffles, votes, mma, ldmatrix) are collective: each
 *    lane deposits its operands and parks; the last lane to arrive computes
 *    every lane's result at once, as the hardware executes the instruction
 *    for the whole warp, so no lane can see another's later writes;
 *  - shared memory (DMK_SHARED) is a per-block arena handed out in
 *    declaration order, filled with a garbage pattern at each block (NaN,
 *    huge or tiny values, varying with the seed) so that a kernel relying on
 *    zeroed or stale shared memory fails;
 *  - cp.async copies are queued per thread and done only when a wait leaves
 *    them outside the allowed number of pending groups: reading the
 *    destination before the wait sees the garbage;
 *  - errors (bad launch shape, shared memory overflow, deadlock, warp
 *    functions with exited lanes, a smashed fiber stack) never abort: they
 *    are recorded, the rest of the launch is skipped, and
 *    dmk_emu_last_error() returns the message (the glue's
 *    cudaGetLastError);
 *  - all state is per host thread: several threads may launch at once.
 *
 * Kernels whose name has commas (template arguments) must be parenthesised
 * in DMK_LAUNCH: DMK_LAUNCH((gemm_kernel<64, 64, true>), grid, block, s, ...).
 *
 * Limits: threads interleave only at barriers and warp functions (a race
 * inside one barrier interval shows through the random order, not through
 * preemption); shared memory is the 48 KiB of static shared memory nvcc
 * allows ($DMK_EMU_SMEM_LIMIT raises it up to 228 KiB); no exceptions out
 * of a kernel; AddressSanitizer is told about the fiber switches,
 * ThreadSanitizer is not (use the ucontext build, -DDMK_EMU_UCONTEXT, at
 * most with it, and expect noise).
 */
#ifndef DMK_EMU_H
#define DMK_EMU_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Seed of this host thread's scheduling generator (else $DMK_EMU_SEED,
 * else a fixed default). */
void dmk_emu_set_seed(uint64_t seed);
/* The last launch error of this host thread, or NULL; clears it. */
const char *dmk_emu_last_error(void);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

/* One CUDA thread. The scheduler's fields live in dmk_emu.cpp's tables;
 * this is what the kernel-side inline code reads. */
struct dmk_emu_fiber {
    dim3 tid;
    unsigned linear, lane, warp;
    size_t smem_off; /* the bump offset of DMK_SHARED */
};
struct dmk_emu_block {
    dim3 idx, dim, grid;
    unsigned char *smem;
};
extern __thread dmk_emu_fiber *dmk_emu_self;
extern __thread const dmk_emu_block *dmk_emu_blk;

#define DMK_GLOBAL static inline
#define DMK_DEV inline
#define DMK_HD inline
#define __forceinline__
#define __launch_bounds__(...)

#define threadIdx (static_cast<const dim3 &>(dmk_emu_self->tid))
#define blockIdx (static_cast<const dim3 &>(dmk_emu_blk->idx))
#define blockDim (static_cast<const dim3 &>(dmk_emu_blk->dim))
#define gridDim (static_cast<const dim3 &>(dmk_emu_blk->grid))

void *dmk_emu_shared(size_t bytes);
#define DMK_SHARED(type, name, count) type *name = static_cast<type *>(dmk_emu_shared(sizeof(type) * (size_t)(count)))

/* Launch: runs FN(CTX) as every thread of every block, before returning. */
void dmk_emu_launch(dim3 grid, dim3 block, void (*fn)(void *), void *ctx);
template <class F> void dmk_emu_launch_fn(dim3 grid, dim3 block, const F &f)
{
    dmk_emu_launch(grid, block, [](void *p) { (*static_cast<const F *>(p))(); }, const_cast<F *>(&f));
}
/* The arguments by value, arrays decayed, as a <<<>>> launch passes them;
 * each thread's call then copies them again into the kernel's parameters. */
template <class K, class... A> void dmk_emu_launch_k(dim3 grid, dim3 block, K kernel, A... args)
{
    auto body = [&]() { kernel(args...); };
    dmk_emu_launch_fn(grid, block, body);
}
#define DMK_LAUNCH(kernel, grid, block, stream, ...)                                                             \
    ((void)(stream), dmk_emu_launch_k(dim3(grid), dim3(block), kernel, __VA_ARGS__))

/* --- block and warp synchronisation (dmk_emu.cpp) --- */
void __syncthreads(void);
void __syncwarp(unsigned mask = 0xffffffffu);
/* shfl.sync per the PTX ISA: MODE 0 idx, 1 up, 2 down, 3 bfly; C the
 * packed clamp/segment operand that CUDA's width gives. */
uint64_t dmk_emu_shfl(unsigned mask, uint64_t v, int mode, unsigned b, unsigned c);
unsigned __ballot_sync(unsigned mask, int pred);
inline int __any_sync(unsigned mask, int pred) { return (__ballot_sync(mask, pred) & mask) != 0; }
inline int __all_sync(unsigned mask, int pred) { return (__ballot_sync(mask, pred) & mask) == mask; }

template <class T> T dmk_emu_shfl_t(unsigned mask, T v, int mode, unsigned b, unsigned c)
{
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    u = dmk_emu_shfl(mask, u, mode, b, c);
    memcpy(&v, &u, sizeof v);
    return v;
}
/* CUDA's width W becomes segmask 32 - W in bits 8..12 of C, and the clamp
 * 31 (or 0 for up), as cuda's sm_30_intrinsics do. */
template <class T> T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    return dmk_emu_shfl_t(mask, v, 0, (unsigned)src, ((32u - width) << 8) | 0x1f);
}
template <class T> T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return dmk_emu_shfl_t(mask, v, 1, delta, (32u - width) << 8);
}
template <class T> T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return dmk_emu_shfl_t(mask, v, 2, delta, ((32u - width) << 8) | 0x1f);
}
template <class T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    return dmk_emu_shfl_t(mask, v, 3, (unsigned)lane_mask, ((32u - width) << 8) | 0x1f);
}

/* --- the PTX of dmk.h (warp-collective except cp.async) --- */
void dmk_mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
void dmk_emu_ldmatrix(uint32_t *r, const void *row, int count, int trans);
inline void dmk_ldmatrix_x1(uint32_t r[1], const void *row) { dmk_emu_ldmatrix(r, row, 1, 0); }
inline void dmk_ldmatrix_x2(uint32_t r[2], const void *row) { dmk_emu_ldmatrix(r, row, 2, 0); }
inline void dmk_ldmatrix_x4(uint32_t r[4], const void *row) { dmk_emu_ldmatrix(r, row, 4, 0); }
inline void dmk_ldmatrix_x1_trans(uint32_t r[1], const void *row) { dmk_emu_ldmatrix(r, row, 1, 1); }
inline void dmk_ldmatrix_x2_trans(uint32_t r[2], const void *row) { dmk_emu_ldmatrix(r, row, 2, 1); }
inline void dmk_ldmatrix_x4_trans(uint32_t r[4], const void *row) { dmk_emu_ldmatrix(r, row, 4, 1); }
inline uint32_t dmk_smem_addr(const void *p) { return (uint32_t)(uintptr_t)p; }

void dmk_cp_async_16(void *smem, const void *gmem, int src_bytes);
void dmk_cp_async_commit(void);
void dmk_emu_cp_async_wait(int n);
template <int N> inline void dmk_cp_async_wait(void) { dmk_emu_cp_async_wait(N); }

#endif /* __cplusplus */
#endif
