/*
 * test_fft.c — lib/core/fft.c against a naive DFT in long double: the
 * complex forward and inverse transforms and numpy's rfft / irfft, for
 * powers of two (below and above the kernels' block of 2048 points), primes
 * (Bluestein), products of 2, 3 and 5, and the PRV accountant's kind of
 * length (an even number with a large prime factor); and round trips,
 * including one of a million points.
 */
#include "core/fft.h"

#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static double uniform(void) /* in [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

/* The DFT of X (N complex) with sign SIGN, in long double: X_k = sum_j x_j
 * exp(SIGN 2 pi i (jk mod n) / n), the roots from a table of N. */
static void naive_dft(const long double complex *x, long double complex *out, size_t n, int sign)
{
    const long double pi = 3.141592653589793238462643383279502884L;
    long double complex *root = malloc(n * sizeof *root);
    for (size_t r = 0; r < n; r++) {
        long double a = 2.0L * pi * (long double)r / (long double)n;
        root[r] = cosl(a) + (long double)sign * sinl(a) * I;
    }
    for (size_t k = 0; k < n; k++) {
        long double complex s = 0;
        for (size_t j = 0; j < n; j++) s += x[j] * root[(uint64_t)j * k % n];
        out[k] = s;
    }
    free(root);
}

/* max_k |got_k - want_k| over the largest |want_k| */
static double rel_err(const double complex *got, const long double complex *want, size_t n)
{
    long double e = 0, w = 0;
    for (size_t k = 0; k < n; k++) {
        long double d = cabsl((long double complex)got[k] - want[k]);
        if (d > e) e = d;
        if (cabsl(want[k]) > w) w = cabsl(want[k]);
    }
    return (double)(e / w);
}

static double worst_fwd, worst_inv, worst_rfft, worst_irfft, worst_trip;

static void test_length(size_t n)
{
    double complex *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    long double complex *xl = malloc(n * sizeof *xl), *ref = malloc(n * sizeof *ref);
    double *r = malloc(n * sizeof *r), *back = malloc(n * sizeof *back);
    double complex *spec = malloc((n / 2 + 1) * sizeof *spec);
    for (size_t j = 0; j < n; j++) {
        x[j] = uniform() + uniform() * I;
        xl[j] = x[j];
        r[j] = uniform();
    }

    /* complex forward and inverse (1 / n) */
    dmi_fft *p = dmi_fft_new(n);
    CHECK(p != NULL);
    for (size_t j = 0; j < n; j++) y[j] = x[j];
    dmi_fft_forward(p, y);
    naive_dft(xl, ref, n, -1);
    double e = rel_err(y, ref, n);
    worst_fwd = fmax(worst_fwd, e);
    CHECK(e < 1e-14);
    for (size_t j = 0; j < n; j++) y[j] = x[j];
    dmi_fft_inverse(p, y);
    naive_dft(xl, ref, n, +1);
    for (size_t k = 0; k < n; k++) ref[k] /= (long double)n;
    e = rel_err(y, ref, n);
    worst_inv = fmax(worst_inv, e);
    CHECK(e < 1e-14);
    dmi_fft_free(p);

    /* rfft: the naive DFT's first n / 2 + 1 terms */
    dmi_rfft *rp = dmi_rfft_new(n);
    CHECK(rp != NULL);
    for (size_t j = 0; j < n; j++) xl[j] = r[j];
    naive_dft(xl, ref, n, -1);
    dmi_rfft_forward(rp, r, spec);
    e = rel_err(spec, ref, n / 2 + 1);
    worst_rfft = fmax(worst_rfft, e);
    CHECK(e < 1e-14);
    CHECK(cimag(spec[0]) == 0.0 && (n % 2 || cimag(spec[n / 2]) == 0.0));

    /* irfft: a Hermitian spectrum's naive inverse; the imaginary parts of
     * X_0 and (n even) X_{n/2} are ignored, as numpy does */
    for (size_t k = 0; k <= n / 2; k++) spec[k] = uniform() + uniform() * I;
    for (size_t k = 0; k <= n / 2; k++) {
        int self = k == 0 || (n % 2 == 0 && k == n / 2); /* its own mirror: real */
        ref[k] = self ? creal(spec[k]) : spec[k];
        if (k && !self) ref[n - k] = conj(spec[k]);
    }
    for (size_t k = 0; k < n; k++) xl[k] = ref[k];
    naive_dft(xl, ref, n, +1);
    dmi_rfft_inverse(rp, spec, back);
    long double em = 0, wm = 0;
    for (size_t j = 0; j < n; j++) {
        long double want = creall(ref[j]) / (long double)n;
        em = fmaxl(em, fabsl((long double)back[j] - want)), wm = fmaxl(wm, fabsl(want));
    }
    e = (double)(em / wm);
    worst_irfft = fmax(worst_irfft, e);
    CHECK(e < 1e-14);

    /* round trip */
    dmi_rfft_forward(rp, r, spec);
    dmi_rfft_inverse(rp, spec, back);
    double t = 0, m = 0;
    for (size_t j = 0; j < n; j++) t = fmax(t, fabs(back[j] - r[j])), m = fmax(m, fabs(r[j]));
    worst_trip = fmax(worst_trip, t / m);
    CHECK(t / m < 1e-14);
    dmi_rfft_free(rp);

    free(x), free(y), free(xl), free(ref), free(r), free(back), free(spec);
}

/* A large round trip, timed: the PRV accountant's sizes are in the millions. */
static void test_large(size_t n)
{
    double *r = malloc(n * sizeof *r), *back = malloc(n * sizeof *back);
    double complex *spec = malloc((n / 2 + 1) * sizeof *spec);
    for (size_t j = 0; j < n; j++) r[j] = uniform();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dmi_rfft *rp = dmi_rfft_new(n);
    CHECK(rp != NULL);
    dmi_rfft_forward(rp, r, spec);
    dmi_rfft_inverse(rp, spec, back);
    dmi_rfft_free(rp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sum = 0, t = 0;
    for (size_t j = 0; j < n; j++) sum += r[j], t = fmax(t, fabs(back[j] - r[j]));
    /* X_0 is the sum */
    printf("  %zu points: round trip %.3f s (plan, rfft, irfft), error %.2g; X_0 off by %.2g\n", n,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, t,
           fabs(creal(spec[0]) - sum));
    CHECK(t < 1e-13);
    CHECK(fabs(creal(spec[0]) - sum) < 1e-9);
    free(r), free(back), free(spec);
}

int main(void)
{
    static const size_t lengths[] = {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 30, 31, 60, 64, 97, 100, 101, 120, 127, 128,
        210, 256, 257, 360, 509, 900, 1000, 1024, 1031, 1800, 2048, 2310, 2999, 3000, 3600, 4096,
        4099, 4374, 5000, 8192, 2 * 2503, 2 * 2 * 1283,
    };
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) test_length(lengths[i]);
    printf("  %zu lengths: worst error %.2g forward, %.2g inverse, %.2g rfft, %.2g irfft, %.2g round trip "
           "(of the largest term)\n",
           sizeof lengths / sizeof *lengths, worst_fwd, worst_inv, worst_rfft, worst_irfft, worst_trip);
    test_large(1000018); /* 2 x 500009, a prime */
    test_large((size_t)1 << 20);
    test_large(1000001); /* odd */
    return check_summary();
}
