/*
 * rng.h — the library's one source of randomness: Philox4x32-10, a
 * counter-based generator (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC'11). A random word is a pure function of (key, counter), so any
 * element of any stream can be drawn in any order, on any thread or device,
 * with the same result: dropout masks are recomputed in the backward pass
 * instead of stored, shuffles and initialisations are reproducible from one
 * seed, and a resumed run draws exactly what an uninterrupted one would.
 */
#ifndef DM_RNG_H
#define DM_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dmi_philox_out {
    uint32_t v[4];
} dmi_philox_out;

/* The ten rounds of Philox4x32-10 on counter words c0..c3 (updated in place)
 * under key words k0, k1 (changed too). A macro, not a function, so that a
 * loop around it stays one flat loop the compiler vectorises. */
#define DMI_PHILOX_ROUNDS(c0, c1, c2, c3, k0, k1)                \
    for (int round_ = 0; round_ < 10; round_++) {                \
        uint64_t p0_ = (uint64_t)0xD2511F53u * (c0);             \
        uint64_t p1_ = (uint64_t)0xCD9E8D57u * (c2);             \
        uint32_t n0_ = (uint32_t)(p1_ >> 32) ^ (c1) ^ (k0);      \
        uint32_t n2_ = (uint32_t)(p0_ >> 32) ^ (c3) ^ (k1);      \
        (c0) = n0_, (c1) = (uint32_t)p1_, (c2) = n2_, (c3) = (uint32_t)p0_; \
        (k0) += 0x9E3779B9u;                                     \
        (k1) += 0xBB67AE85u;                                     \
    }

/* Four 32-bit words for counter (ctr_hi, ctr_lo) under the 64-bit key. */
static inline dmi_philox_out dmi_philox(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo)
{
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    DMI_PHILOX_ROUNDS(c0, c1, c2, c3, k0, k1)
    dmi_philox_out out = {{c0, c1, c2, c3}};
    return out;
}

/* A uniform float in [0, 1) from a 32-bit word (24 random bits). */
static inline float dmi_u32_to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* A uniform double in [0, 1) from two words (53 random bits). */
static inline double dmi_u64_to_unit(uint32_t hi, uint32_t lo)
{
    uint64_t x = ((uint64_t)hi << 32 | lo) >> 11;
    return (double)x * (1.0 / 9007199254740992.0);
}

/* A sequential stream over Philox: (seed, stream) names it, draws advance a
 * counter. Used where order is natural (shuffles, initialisation). */
typedef struct dmi_rng {
    uint64_t seed, stream, counter;
    uint32_t buf[4];
    int left;
} dmi_rng;

static inline void dmi_rng_init(dmi_rng *r, uint64_t seed, uint64_t stream)
{
    r->seed = seed, r->stream = stream, r->counter = 0, r->left = 0;
}

static inline uint32_t dmi_rng_u32(dmi_rng *r)
{
    if (r->left == 0) {
        dmi_philox_out o = dmi_philox(r->seed, r->stream, r->counter++);
        for (int i = 0; i < 4; i++) r->buf[i] = o.v[i];
        r->left = 4;
    }
    return r->buf[4 - r->left--];
}

static inline double dmi_rng_unit(dmi_rng *r)
{
    uint32_t hi = dmi_rng_u32(r);
    return dmi_u64_to_unit(hi, dmi_rng_u32(r));
}

/* Uniform integer in [0, n) without modulo bias (Lemire's method). */
static inline uint64_t dmi_rng_below(dmi_rng *r, uint64_t n)
{
    if (n <= 1) return 0;
    if (n <= UINT32_MAX) {
        uint64_t m = (uint64_t)dmi_rng_u32(r) * n;
        uint32_t low = (uint32_t)m;
        if (low < n) {
            uint32_t threshold = (uint32_t)(-(uint32_t)n) % (uint32_t)n;
            while (low < threshold) {
                m = (uint64_t)dmi_rng_u32(r) * n;
                low = (uint32_t)m;
            }
        }
        return m >> 32;
    }
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do {
        x = (uint64_t)dmi_rng_u32(r) << 32 | dmi_rng_u32(r);
    } while (x >= limit);
    return x % n;
}

/* A standard normal draw (Box-Muller on two uniforms). */
static inline double dmi_rng_normal(dmi_rng *r)
{
    double u1 = dmi_rng_unit(r), u2 = dmi_rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

/* Fisher-Yates shuffle of N indices. */
static inline void dmi_rng_shuffle(dmi_rng *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dmi_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

#endif
