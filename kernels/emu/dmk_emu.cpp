/*
 * dmk_emu.cpp — the fibers, the scheduler and the warp-collective
 * operations behind dmk_emu.h (its header comment gives the model).
 *
 * Fibers: each has its own stack (64 KiB, $DMK_EMU_STACK to change) from a
 * pool kept per host thread and reused by every block and launch, with a
 * guard page below it and a canary 1 KiB above the guard, checked when the
 * fiber ends: a stack that came that close is an error before it is a
 * crash (an overflow that jumps the canary hits the guard page and crashes
 * rather than corrupting memory silently). On x86-64 the switch is six
 * pushes and pops in assembly (no system call: swapcontext saves the signal
 * mask with one each time); elsewhere, or with -DDMK_EMU_UCONTEXT, it is
 * ucontext. Every switch goes through the scheduler: a fiber runs until it
 * parks at a barrier or ends, and the scheduler resumes the next.
 *
 * Scheduling: rounds. The fibers that can run are shuffled and each is
 * resumed once; those a barrier releases meanwhile wait for the next round.
 * A round that finds nothing to run while threads are still live is a
 * deadlock (threads at different barriers) and an error.
 *
 * Under AddressSanitizer the switches are announced with
 * __sanitizer_start/finish_switch_fiber so that it follows the stacks.
 */
#include "../dmk.h" /* dmk_emu.h, and the bfloat16 helpers */

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#if !defined(__x86_64__) || defined(DMK_EMU_UCONTEXT)
#define EMU_UCONTEXT 1
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

__thread dmk_emu_fiber *dmk_emu_self;
__thread const dmk_emu_block *dmk_emu_blk;

enum { RUNNABLE, WAIT_BLOCK, WAIT_WARP, DONE };
enum { OP_SYNC = 1, OP_SHFL, OP_BALLOT, OP_MMA, OP_LDM /* + 2 * count + trans */ };

static const size_t SMEM_DEFAULT = 48 << 10, SMEM_MAX = 228 << 10, GUARD = 4096;
static const uint64_t CANARY = 0xdeadbeefcafef00dull;
static const size_t CANARY_AT = 1024; /* bytes above the guard page */

struct cp_copy {
    void *dst;
    const void *src;
    int bytes;
    unsigned group;
};

struct fiber {
    dmk_emu_fiber pub;
    int state;
#ifdef EMU_UCONTEXT
    ucontext_t uc;
#else
    void *sp;
#endif
    void *fake_stack; /* AddressSanitizer's */
    unsigned char *stack; /* above the guard page */
    std::vector<cp_copy> cp;
    unsigned cp_groups; /* groups committed so far */
};

struct warp_state {
    uint32_t in[32][10], out[32][4];
    unsigned arrived, live;
    int op;
};

struct emu_state {
    uint64_t rng;
    size_t stack_size, smem_limit;
    std::vector<fiber *> pool;
    std::vector<warp_state> warps;
    std::vector<fiber *> cur, next;
    unsigned nthreads, live, arrived;
    dmk_emu_block blk;
    size_t smem_filled;
    unsigned char garbage;
    void (*fn)(void *);
    void *ctx;
    fiber *running;
#ifdef EMU_UCONTEXT
    ucontext_t sched_uc;
#else
    void *sched_sp;
#endif
    void *sched_fake;
    const void *sched_bottom;
    size_t sched_size;
    bool failed, has_error;
    char error[256];
    ~emu_state();
};
/* A plain pointer, not a thread_local object: those go through an
 * initialisation check at every use, and the scheduler uses it at every
 * switch. The reaper frees it when the host thread ends. */
static __thread emu_state *S;
struct emu_reaper {
    ~emu_reaper() { delete S; }
};
static thread_local emu_reaper reaper;

/* ------------------------------------------------------------- utilities */

static uint64_t rng_next(void)
{
    uint64_t z = (S->rng += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rng_below(uint64_t n) { return (uint64_t)(((unsigned __int128)rng_next() * n) >> 64); }

static size_t env_size(const char *name, size_t dflt)
{
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    size_t v = strtoull(s, &end, 0);
    if (*end == 'k' || *end == 'K') v <<= 10;
    if (*end == 'm' || *end == 'M') v <<= 20;
    return v;
}

static void state_init(void)
{
    if (S) return;
    S = new emu_state();
    (void)&reaper; /* constructs it, so that its destructor runs */
    const char *seed = getenv("DMK_EMU_SEED");
    S->rng = seed && *seed ? strtoull(seed, NULL, 0) : 0x5eed0fdc0deull;
    S->stack_size = (env_size("DMK_EMU_STACK", 64 << 10) + GUARD - 1) / GUARD * GUARD;
    if (S->stack_size < 16 << 10) S->stack_size = 16 << 10;
    S->smem_limit = env_size("DMK_EMU_SMEM_LIMIT", SMEM_DEFAULT);
    if (S->smem_limit > SMEM_MAX) S->smem_limit = SMEM_MAX;
    S->blk.smem = (unsigned char *)aligned_alloc(64, SMEM_MAX);
}

emu_state::~emu_state()
{
    for (fiber *f : pool) {
        munmap(f->stack - GUARD, stack_size + GUARD);
        delete f;
    }
    free(blk.smem);
}

static void record(const char *fmt, unsigned a = 0, unsigned b = 0)
{
    if (S->failed) return; /* the first error of a launch is the cause */
    S->failed = S->has_error = true;
    snprintf(S->error, sizeof S->error, fmt, a, b);
}

extern "C" void dmk_emu_set_seed(uint64_t seed)
{
    state_init();
    S->rng = seed;
}

extern "C" const char *dmk_emu_last_error(void)
{
    if (!S || !S->has_error) return NULL;
    S->has_error = false;
    return S->error; /* stays readable until the next error */
}

/* -------------------------------------------------------- context switch */

#ifdef EMU_ASAN
static void san_start(void **fake, const void *bottom, size_t size) { __sanitizer_start_switch_fiber(fake, bottom, size); }
static void san_finish(void *fake, const void **bottom, size_t *size) { __sanitizer_finish_switch_fiber(fake, bottom, size); }
#else
static void san_start(void **, const void *, size_t) {}
static void san_finish(void *, const void **, size_t *) {}
#endif

#ifndef EMU_UCONTEXT
/* Saves the callee-saved registers on the current stack, stores its
 * pointer in *SAVE, and continues on stack TO where the same was done. */
extern "C" void dmk_emu_ctx_switch(void **save, void *to);
asm(".text\n"
    ".globl dmk_emu_ctx_switch\n"
    ".hidden dmk_emu_ctx_switch\n"
    ".type dmk_emu_ctx_switch,@function\n"
    "dmk_emu_ctx_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size dmk_emu_ctx_switch, .-dmk_emu_ctx_switch\n");
#endif

static void fiber_entry(void);

/* A fresh start of F at fiber_entry. */
static void fiber_reset(fiber *f)
{
#ifdef EMU_UCONTEXT
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = S->stack_size;
    f->uc.uc_link = NULL;
    makecontext(&f->uc, fiber_entry, 0);
#else
    /* The six registers, then fiber_entry as the return address: the ret
     * enters it with rsp = 8 mod 16, as after a call. */
    void **sp = (void **)((uintptr_t)(f->stack + S->stack_size) & ~(uintptr_t)15);
    *--sp = NULL;
    *--sp = (void *)fiber_entry;
    for (int i = 0; i < 6; i++) *--sp = NULL;
    f->sp = sp;
#endif
    f->state = RUNNABLE;
}

/* Scheduler -> fiber F, until it parks or ends. */
static void resume(fiber *f)
{
    S->running = f;
    dmk_emu_self = &f->pub;
    san_start(&S->sched_fake, f->stack, S->stack_size);
#ifdef EMU_UCONTEXT
    swapcontext(&S->sched_uc, &f->uc);
#else
    dmk_emu_ctx_switch(&S->sched_sp, f->sp);
#endif
    san_finish(S->sched_fake, NULL, NULL);
}

/* Fiber -> scheduler. An ended fiber (or one that failed) is not resumed. */
static void park(void)
{
    fiber *f = S->running;
    bool last = f->state == DONE || S->failed;
    san_start(last ? NULL : &f->fake_stack, S->sched_bottom, S->sched_size);
#ifdef EMU_UCONTEXT
    swapcontext(&f->uc, &S->sched_uc);
#else
    dmk_emu_ctx_switch(&f->sp, S->sched_sp);
#endif
    san_finish(f->fake_stack, &S->sched_bottom, &S->sched_size);
}

/* An error inside a kernel: the block is abandoned, this fiber never
 * resumes (its stack is reset by the next block). */
static void fail_here(const char *fmt, unsigned a = 0, unsigned b = 0)
{
    record(fmt, a, b);
    park();
    abort(); /* not reached */
}

static fiber *fiber_new(void)
{
    size_t bytes = S->stack_size + GUARD;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    mprotect(p, GUARD, PROT_NONE);
    fiber *f = new fiber();
    f->stack = (unsigned char *)p + GUARD;
    return f;
}

/* ------------------------------------------------------------- barriers */

static void make_runnable(fiber *f)
{
    f->state = RUNNABLE;
    S->next.push_back(f);
}

static void release_block(void)
{
    S->arrived = 0;
    for (unsigned i = 0; i < S->nthreads; i++)
        if (S->pool[i]->state == WAIT_BLOCK) make_runnable(S->pool[i]);
}

static void warp_compute(warp_state &w);

static void release_warp(unsigned wi)
{
    warp_state &w = S->warps[wi];
    if (w.op != OP_SYNC && w.live < 32) fail_here("warp %u: a warp function with exited lanes (all 32 must take part)", wi);
    warp_compute(w);
    w.arrived = 0;
    for (unsigned l = 0; l < 32; l++)
        if (S->pool[wi * 32 + l]->state == WAIT_WARP) make_runnable(S->pool[wi * 32 + l]);
}

void __syncthreads(void)
{
    fiber *f = S->running;
    f->state = WAIT_BLOCK;
    if (++S->arrived == S->live) release_block();
    park();
}

/* The lane's operands are in its row of w.in; returns its row of w.out. */
static const uint32_t *warp_collective(int op, unsigned mask)
{
    fiber *f = S->running;
    warp_state &w = S->warps[f->pub.warp];
    if (mask != 0xffffffffu) fail_here("warp %u: mask %#x (dmk.h: all 32 lanes take part)", f->pub.warp, mask);
    if (w.arrived == 0) w.op = op;
    if (w.op != op) fail_here("warp %u: lanes at different warp functions (%u)", f->pub.warp, (unsigned)op);
    f->state = WAIT_WARP;
    if (++w.arrived == w.live) release_warp(f->pub.warp);
    park();
    return w.out[f->pub.lane];
}

static uint32_t *lane_in(void) { return S->warps[S->running->pub.warp].in[S->running->pub.lane]; }

void __syncwarp(unsigned mask) { warp_collective(OP_SYNC, mask); }

uint64_t dmk_emu_shfl(unsigned mask, uint64_t v, int mode, unsigned b, unsigned c)
{
    /* The PTX ISA's shfl.sync: the source lane j and whether it is valid. */
    int lane = (int)S->running->pub.lane, bval = b & 31, cval = c & 31, seg = (c >> 8) & 31;
    int max_lane = (lane & seg) | (cval & ~seg), min_lane = lane & seg, j;
    bool ok;
    switch (mode) {
    case 1: j = lane - bval, ok = j >= max_lane; break;
    case 2: j = lane + bval, ok = j <= max_lane; break;
    case 3: j = lane ^ bval, ok = j <= max_lane; break;
    default: j = min_lane | (bval & ~seg), ok = j <= max_lane; break;
    }
    uint32_t *in = lane_in();
    in[0] = (uint32_t)v, in[1] = (uint32_t)(v >> 32), in[2] = (uint32_t)(ok ? j : lane);
    const uint32_t *out = warp_collective(OP_SHFL, mask);
    return out[0] | (uint64_t)out[1] << 32;
}

unsigned __ballot_sync(unsigned mask, int pred)
{
    lane_in()[0] = pred != 0;
    return warp_collective(OP_BALLOT, mask)[0];
}

/* ------------------------------------------------------ shared memory */

void *dmk_emu_shared(size_t bytes)
{
    fiber *f = S->running;
    size_t off = (f->pub.smem_off + 15) & ~(size_t)15;
    if (bytes > S->smem_limit || off > S->smem_limit - bytes)
        fail_here("shared memory: %u bytes over the limit of %u (static shared memory is 48 KiB)",
                  (unsigned)(off + bytes), (unsigned)S->smem_limit);
    f->pub.smem_off = off + bytes;
    if (off + bytes > S->smem_filled) { /* first use in this block: garbage */
        memset(S->blk.smem + S->smem_filled, S->garbage, off + bytes - S->smem_filled);
        S->smem_filled = off + bytes;
    }
    return S->blk.smem + off;
}

static bool in_smem(const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)S->blk.smem;
    return a >= base && a + bytes <= base + S->smem_filled;
}

/* --------------------------------------------------------------- PTX */

static void run_copies(fiber *f, unsigned upto_group)
{
    size_t kept = 0;
    for (cp_copy &c : f->cp) {
        if (c.group >= upto_group) {
            f->cp[kept++] = c;
            continue;
        }
        unsigned char buf[16] = {0};
        memcpy(buf, c.src, c.bytes); /* read at completion, as late as hardware may */
        memcpy(c.dst, buf, 16);
    }
    f->cp.resize(kept);
}

void dmk_cp_async_16(void *smem, const void *gmem, int src_bytes)
{
    fiber *f = S->running;
    if (!in_smem(smem, 16) || ((uintptr_t)smem & 15) || (src_bytes && ((uintptr_t)gmem & 15)))
        fail_here("cp.async: destination outside shared memory or an address not 16-byte aligned");
    if (src_bytes < 0 || src_bytes > 16) fail_here("cp.async: src_bytes %u not in 0..16", (unsigned)src_bytes);
    f->cp.push_back(cp_copy{smem, gmem, src_bytes, f->cp_groups});
}

void dmk_cp_async_commit(void) { S->running->cp_groups++; }

/* wait_group N: all but the N most recent committed groups are complete. */
void dmk_emu_cp_async_wait(int n)
{
    fiber *f = S->running;
    if ((unsigned)n < f->cp_groups) run_copies(f, f->cp_groups - n);
}

void dmk_mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4])
{
    uint32_t *in = lane_in();
    memcpy(in, a, 16);
    memcpy(in + 4, b, 8);
    memcpy(in + 6, c, 16);
    memcpy(d, warp_collective(OP_MMA, 0xffffffffu), 16);
}

void dmk_emu_ldmatrix(uint32_t *r, const void *row, int count, int trans)
{
    uint32_t *in = lane_in();
    memcpy(in, &row, sizeof row);
    memcpy(r, warp_collective(OP_LDM + 2 * count + trans, 0xffffffffu), 4 * count);
}

/* Element (R, K) of mma's A, (K, N) of B (PTX ISA, "Matrix Fragments for
 * mma.m16n8k16 with floating point type"): the lane is groupID * 4 +
 * threadID_in_group, groupID the row (A) or column (B) mod 8 and
 * threadID_in_group (k mod 8) / 2; the register picks the halves of 8. */
static float bf16_at(uint32_t word, unsigned half) { return dmk_bf16_to_float(half ? word >> 16 : word & 0xffff); }
static float mma_a(const warp_state &w, unsigned r, unsigned k)
{
    return bf16_at(w.in[(r % 8) * 4 + (k % 8) / 2][(r / 8) + 2 * (k / 8)], k & 1);
}
static float mma_b(const warp_state &w, unsigned k, unsigned n)
{
    return bf16_at(w.in[n * 4 + (k % 8) / 2][4 + k / 8], k & 1);
}

static void mma_compute(warp_state &w)
{
    for (unsigned l = 0; l < 32; l++)
        for (unsigned i = 0; i < 4; i++) { /* d[i]: row g (+8 for i >= 2), column 2t + i % 2 */
            unsigned r = l / 4 + 8 * (i / 2), n = 2 * (l % 4) + i % 2;
            float acc;
            memcpy(&acc, &w.in[l][6 + i], 4);
            for (unsigned k = 0; k < 16; k++) acc += mma_a(w, r, k) * mma_b(w, k, n); /* products exact */
            memcpy(&w.out[l][i], &acc, 4);
        }
}

/* ldmatrix: lane l gave the address of row l % 8 of matrix l / 8. */
static void ldmatrix_compute(warp_state &w, unsigned count, unsigned trans)
{
    const unsigned char *rows[32];
    for (unsigned l = 0; l < 8 * count; l++) {
        memcpy(&rows[l], w.in[l], sizeof rows[l]);
        if (!in_smem(rows[l], 16) || ((uintptr_t)rows[l] & 15))
            fail_here("ldmatrix: row of lane %u outside shared memory or not 16-byte aligned", l);
    }
    for (unsigned l = 0; l < 32; l++)
        for (unsigned i = 0; i < count; i++) {
            uint16_t e[2];
            for (unsigned h = 0; h < 2; h++) {
                unsigned r = l / 4, c = 2 * (l % 4) + h;
                if (trans) r = c, c = l / 4;
                memcpy(&e[h], rows[8 * i + r] + 2 * c, 2);
            }
            w.out[l][i] = dmk_pack_bf16(e[0], e[1]);
        }
}

static void warp_compute(warp_state &w)
{
    switch (w.op) {
    case OP_SYNC: break;
    case OP_SHFL:
        for (unsigned l = 0; l < 32; l++) w.out[l][0] = w.in[w.in[l][2]][0], w.out[l][1] = w.in[w.in[l][2]][1];
        break;
    case OP_BALLOT: {
        uint32_t bits = 0;
        for (unsigned l = 0; l < 32; l++) bits |= w.in[l][0] << l;
        for (unsigned l = 0; l < 32; l++) w.out[l][0] = bits;
        break;
    }
    case OP_MMA: mma_compute(w); break;
    default: ldmatrix_compute(w, (w.op - OP_LDM) / 2, (w.op - OP_LDM) % 2); break;
    }
}

/* ------------------------------------------------------------- launch */

static void fiber_entry(void)
{
    san_finish(NULL, &S->sched_bottom, &S->sched_size);
    fiber *f = S->running;
    S->fn(S->ctx);
    f->state = DONE;
    run_copies(f, ~0u); /* what was never waited for lands anyway */
    uint64_t canary;
    memcpy(&canary, f->stack + CANARY_AT, sizeof canary);
    if (canary != CANARY) fail_here("a fiber came within 1 KiB of the end of its stack (raise DMK_EMU_STACK)");
    warp_state &w = S->warps[f->pub.warp];
    S->live--, w.live--;
    if (S->live && S->arrived == S->live) release_block();
    if (w.live && w.arrived == w.live) release_warp(f->pub.warp);
    park();
    abort(); /* an ended fiber is never resumed */
}

static void run_block(void)
{
    static const unsigned char garbage[] = {0xff, 0x7f, 0xa5, 0x5a}; /* NaN, huge, tiny, large */
    S->garbage = garbage[rng_below(sizeof garbage)];
    S->smem_filled = 0;
    S->live = S->nthreads, S->arrived = 0;
    for (warp_state &w : S->warps) w.arrived = 0, w.live = 32;
    S->next.clear();
    for (unsigned i = 0; i < S->nthreads; i++) {
        fiber *f = S->pool[i];
        f->pub.smem_off = 0;
        f->cp.clear();
        f->cp_groups = 0;
        fiber_reset(f);
        S->next.push_back(f);
    }
    while (!S->next.empty() && !S->failed) {
        S->cur.swap(S->next);
        S->next.clear();
        for (size_t i = S->cur.size(); i > 1; i--) { /* Fisher-Yates */
            size_t j = rng_below(i);
            fiber *t = S->cur[i - 1];
            S->cur[i - 1] = S->cur[j], S->cur[j] = t;
        }
        for (fiber *f : S->cur) {
            resume(f);
            if (S->failed) break;
        }
    }
    if (!S->failed && S->live) record("deadlock: %u threads wait at different barriers", S->live);
}

static bool launch_ok(dim3 grid, dim3 block)
{
    unsigned long long n = (unsigned long long)block.x * block.y * block.z;
    if (!n || n > 1024 || n % 32 || block.x > 1024 || block.y > 1024 || block.z > 64) {
        record("launch: block of %u threads (x %u): must be a multiple of 32, at most 1024", (unsigned)n, block.x);
        return false;
    }
    if (!grid.x || !grid.y || !grid.z || grid.y > 65535 || grid.z > 65535) {
        record("launch: grid %u x %u x ... out of range", grid.x, grid.y);
        return false;
    }
    while (S->pool.size() < n) {
        fiber *f = fiber_new();
        if (!f) {
            record("launch: no memory for %u fiber stacks", (unsigned)n);
            return false;
        }
        S->pool.push_back(f);
    }
    return true;
}

void dmk_emu_launch(dim3 grid, dim3 block, void (*fn)(void *), void *ctx)
{
    state_init();
    S->failed = false;
    if (!launch_ok(grid, block)) return;
    S->nthreads = block.x * block.y * block.z;
    S->warps.resize(S->nthreads / 32);
    S->fn = fn, S->ctx = ctx;
    for (unsigned i = 0; i < S->nthreads; i++) {
        fiber *f = S->pool[i];
        f->pub.tid = dim3(i % block.x, i / block.x % block.y, i / (block.x * block.y));
        f->pub.linear = i, f->pub.lane = i % 32, f->pub.warp = i / 32;
        memcpy(f->stack + CANARY_AT, &CANARY, sizeof CANARY);
    }
    S->blk.dim = block, S->blk.grid = grid;
    dmk_emu_blk = &S->blk;
    /* The blocks in a random order: a shuffled table, or past 16 M blocks
     * (a table too big to be worth it) a random rotation of the index. */
    uint64_t nb = (uint64_t)grid.x * grid.y * grid.z;
    std::vector<uint32_t> order(nb <= (1u << 24) ? nb : 0);
    for (uint64_t i = 0; i < order.size(); i++) order[i] = (uint32_t)i;
    for (uint64_t i = order.size(); i > 1; i--) {
        uint64_t j = rng_below(i);
        uint32_t t = order[i - 1];
        order[i - 1] = order[j], order[j] = t;
    }
    uint64_t start = rng_below(nb);
    for (uint64_t i = 0; i < nb && !S->failed; i++) {
        uint64_t b = order.empty() ? (start + i) % nb : order[i];
        S->blk.idx = dim3(b % grid.x, b / grid.x % grid.y, b / ((uint64_t)grid.x * grid.y));
        run_block();
    }
    dmk_emu_self = NULL;
}
