/*
 * fft.c — discrete Fourier transforms of any length (fft.h says why ours).
 *
 * Powers of two: radix 2, decimation in frequency for the forward transform
 * (natural order in, bit-reversed out) and decimation in time for the
 * inverse (bit-reversed in, natural out), each recursing depth-first until a
 * block fits in cache, then stage by stage. A natural-order transform adds
 * one bit-reversal permutation.
 *
 * Other lengths n: Bluestein. With jk = (j^2 + k^2 - (k - j)^2) / 2 and the
 * chirp c_j = exp(-pi i j^2 / n), X_k = c_k sum_j (x_j c_j) conj(c_{k-j}): a
 * convolution with the conjugate chirp, done cyclically on m >= 2n - 1
 * points (m a power of two) by the two kernels above, which need no
 * permutation between them (the pointwise product is taken in bit-reversed
 * order, the filter's transform stored so). The inverse is the conjugate of
 * the forward transform of the conjugate, over n.
 *
 * Accuracy: every table entry (twiddles, chirp, the real transforms'
 * factors) is computed directly, its angle reduced to within pi/4 of a
 * quadrant in integer arithmetic (the chirp's j^2 modulo 2n exactly), so
 * that each is within an ulp or two; no recurrences.
 */
#include "core/fft.h"

#include "core/core.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* exp(-2 pi i j / n) for 0 <= j < n: the angle is (pi / 2)(q + r / n), |r| <= n / 2,
 * q and r from integers; only phi = (pi / 2) r / n, |phi| <= pi / 4, is rounded. */
static void unit_root(uint64_t j, uint64_t n, double *re, double *im)
{
    uint64_t num = 4 * j, q = num / n;
    int64_t r = (int64_t)(num - q * n);
    if (2 * (uint64_t)r > n) q++, r -= (int64_t)n;
    double phi = M_PI_2 * (double)r / (double)n, c = cos(phi), s = sin(phi), ct, st;
    switch (q & 3) {
    case 0: ct = c, st = s; break;
    case 1: ct = -s, st = c; break;
    case 2: ct = -c, st = -s; break;
    default: ct = s, st = -c; break;
    }
    *re = ct, *im = -st;
}

struct dmi_fft {
    size_t n, m;   /* the length, and the power of two transformed (n, or Bluestein's) */
    double *tw;    /* for each power of two L <= m, exp(-2 pi i j / L), j < L / 2, at point L / 2 */
    double *chirp; /* Bluestein: exp(-pi i j^2 / n), j < n */
    double *filt;  /* Bluestein: the transform of the conjugate chirp, bit-reversed, times 1 / m */
    double *work;  /* Bluestein: m points */
};

/* Blocks of at most this many points (32 KiB) are done stage by stage. */
#define FFT_BLOCK 2048

/* Forward, decimation in frequency, on LEN points (interleaved re, im);
 * TW + LEN holds its twiddles, contiguous (each length has its own copy:
 * strided reads of one table would fall in one cache set). */
static void dif_stage(double *a, size_t len, const double *tw)
{
    size_t h = len >> 1;
    double *p = a, *q = a + 2 * h;
    tw += len;
    for (size_t j = 0; j < h; j++) {
        double ar = p[2 * j], ai = p[2 * j + 1], br = q[2 * j], bi = q[2 * j + 1];
        double wr = tw[2 * j], wi = tw[2 * j + 1], dr = ar - br, di = ai - bi;
        p[2 * j] = ar + br, p[2 * j + 1] = ai + bi;
        q[2 * j] = dr * wr - di * wi, q[2 * j + 1] = dr * wi + di * wr;
    }
}

static void dif(double *a, size_t len, const double *tw)
{
    if (len < 2) return;
    if (len > FFT_BLOCK) {
        dif_stage(a, len, tw);
        dif(a, len >> 1, tw);
        dif(a + len, len >> 1, tw);
        return;
    }
    for (size_t l = len; l >= 2; l >>= 1)
        for (size_t b = 0; b < len; b += l) dif_stage(a + 2 * b, l, tw);
}

/* Inverse (conjugate twiddles, unnormalised), decimation in time. */
static void dit_stage(double *a, size_t len, const double *tw)
{
    size_t h = len >> 1;
    double *p = a, *q = a + 2 * h;
    tw += len;
    for (size_t j = 0; j < h; j++) {
        double wr = tw[2 * j], wi = tw[2 * j + 1]; /* conj(w) = wr - i wi */
        double br = q[2 * j] * wr + q[2 * j + 1] * wi, bi = q[2 * j + 1] * wr - q[2 * j] * wi;
        double ar = p[2 * j], ai = p[2 * j + 1];
        p[2 * j] = ar + br, p[2 * j + 1] = ai + bi;
        q[2 * j] = ar - br, q[2 * j + 1] = ai - bi;
    }
}

static void dit(double *a, size_t len, const double *tw)
{
    if (len < 2) return;
    if (len > FFT_BLOCK) {
        dit(a, len >> 1, tw);
        dit(a + len, len >> 1, tw);
        dit_stage(a, len, tw);
        return;
    }
    for (size_t l = 2; l <= len; l <<= 1)
        for (size_t b = 0; b < len; b += l) dit_stage(a + 2 * b, l, tw);
}

static void bit_reverse(double *a, size_t m)
{
    for (size_t i = 0, j = 0; i < m; i++) {
        if (i < j) {
            double r = a[2 * i], im = a[2 * i + 1];
            a[2 * i] = a[2 * j], a[2 * i + 1] = a[2 * j + 1];
            a[2 * j] = r, a[2 * j + 1] = im;
        }
        size_t bit = m >> 1;
        while (j & bit) j ^= bit, bit >>= 1;
        j |= bit;
    }
}

void dmi_fft_free(dmi_fft *plan)
{
    if (!plan) return;
    free(plan->tw);
    free(plan->chirp);
    free(plan->filt);
    free(plan->work);
    free(plan);
}

dmi_fft *dmi_fft_new(size_t n)
{
    if (n == 0 || n > ((size_t)1 << 40)) {
        dmi_fail(DM_ERR_INVALID_ARGUMENT, "fft: length %zu is not between 1 and 2^40", n);
        return NULL;
    }
    dmi_fft *p = dmi_calloc(1, sizeof *p);
    if (!p) return NULL;
    bool pow2 = (n & (n - 1)) == 0;
    size_t m = 1;
    while (m < (pow2 ? n : 2 * n - 1)) m <<= 1;
    p->n = n, p->m = m;
    p->tw = dmi_malloc(m * 2 * sizeof(double));
    if (!p->tw) goto fail;
    double *top = p->tw + m; /* length m's, computed; the shorter ones' are every other of the next */
    for (size_t j = 0; j < m / 2; j++) unit_root(j, m, &top[2 * j], &top[2 * j + 1]);
    for (size_t l = m / 2; l >= 2; l >>= 1)
        for (size_t j = 0; j < l / 2; j++)
            p->tw[l + 2 * j] = p->tw[2 * l + 4 * j], p->tw[l + 2 * j + 1] = p->tw[2 * l + 4 * j + 1];
    if (pow2) return p;

    p->chirp = dmi_malloc(n * 2 * sizeof(double));
    p->filt = dmi_calloc(m * 2, sizeof(double));
    p->work = dmi_malloc(m * 2 * sizeof(double));
    if (!p->chirp || !p->filt || !p->work) goto fail;
    uint64_t r = 0, n2 = 2 * (uint64_t)n; /* j^2 mod 2n */
    for (size_t j = 0; j < n; j++) {
        unit_root(r, n2, &p->chirp[2 * j], &p->chirp[2 * j + 1]);
        r += 2 * (uint64_t)j + 1;
        while (r >= n2) r -= n2;
    }
    p->filt[0] = p->chirp[0], p->filt[1] = -p->chirp[1];
    for (size_t d = 1; d < n; d++) {
        p->filt[2 * d] = p->filt[2 * (m - d)] = p->chirp[2 * d];
        p->filt[2 * d + 1] = p->filt[2 * (m - d) + 1] = -p->chirp[2 * d + 1];
    }
    dif(p->filt, m, p->tw);
    double scale = 1.0 / (double)m; /* exact: m is a power of two */
    for (size_t k = 0; k < 2 * m; k++) p->filt[k] *= scale;
    return p;
fail:
    dmi_fft_free(p);
    return NULL;
}

void dmi_fft_forward(dmi_fft *p, double complex *xc)
{
    double *x = (double *)xc;
    if (!p->chirp) {
        dif(x, p->m, p->tw);
        bit_reverse(x, p->m);
        return;
    }
    size_t n = p->n, m = p->m;
    double *w = p->work;
    const double *c = p->chirp, *f = p->filt;
    for (size_t j = 0; j < n; j++) {
        double xr = x[2 * j], xi = x[2 * j + 1], cr = c[2 * j], ci = c[2 * j + 1];
        w[2 * j] = xr * cr - xi * ci, w[2 * j + 1] = xr * ci + xi * cr;
    }
    memset(w + 2 * n, 0, (m - n) * 2 * sizeof(double));
    dif(w, m, p->tw);
    for (size_t k = 0; k < m; k++) {
        double ar = w[2 * k], ai = w[2 * k + 1], br = f[2 * k], bi = f[2 * k + 1];
        w[2 * k] = ar * br - ai * bi, w[2 * k + 1] = ar * bi + ai * br;
    }
    dit(w, m, p->tw);
    for (size_t k = 0; k < n; k++) {
        double ar = w[2 * k], ai = w[2 * k + 1], cr = c[2 * k], ci = c[2 * k + 1];
        x[2 * k] = ar * cr - ai * ci, x[2 * k + 1] = ar * ci + ai * cr;
    }
}

void dmi_fft_inverse(dmi_fft *p, double complex *xc)
{
    double *x = (double *)xc;
    size_t n = p->n;
    double scale = 1.0 / (double)n;
    if (!p->chirp) {
        bit_reverse(x, n);
        dit(x, n, p->tw);
        for (size_t k = 0; k < 2 * n; k++) x[k] *= scale;
        return;
    }
    for (size_t k = 0; k < n; k++) x[2 * k + 1] = -x[2 * k + 1];
    dmi_fft_forward(p, xc);
    for (size_t k = 0; k < n; k++) x[2 * k] *= scale, x[2 * k + 1] *= -scale;
}

/* ------------------------------------------------------------------------ */
/* Real transforms. Even n = 2h: the h complex points z_j = x_{2j} + i x_{2j+1}
 * transformed once; with E and O the transforms of the even and odd samples,
 * E_k = (Z_k + conj Z_{h-k}) / 2, O_k = (Z_k - conj Z_{h-k}) / 2i, and
 * X_k = E_k + w^k O_k, w = exp(-2 pi i / n); the inverse undoes each step.
 * Odd n: a complex transform of n points. */

struct dmi_rfft {
    size_t n, h;
    dmi_fft *c;
    double *w; /* even n: exp(-2 pi i k / n), k < h */
    double *z; /* h (even n) or n points */
};

void dmi_rfft_free(dmi_rfft *plan)
{
    if (!plan) return;
    dmi_fft_free(plan->c);
    free(plan->w);
    free(plan->z);
    free(plan);
}

dmi_rfft *dmi_rfft_new(size_t n)
{
    if (n == 0) {
        dmi_fail(DM_ERR_INVALID_ARGUMENT, "fft: length 0");
        return NULL;
    }
    dmi_rfft *p = dmi_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n, p->h = n / 2;
    size_t len = n % 2 ? n : n / 2;
    p->c = dmi_fft_new(len);
    p->z = dmi_malloc(len * 2 * sizeof(double));
    if (!p->c || !p->z) goto fail;
    if (n % 2 == 0) {
        p->w = dmi_malloc(p->h * 2 * sizeof(double));
        if (!p->w) goto fail;
        for (size_t k = 0; k < p->h; k++) unit_root(k, n, &p->w[2 * k], &p->w[2 * k + 1]);
    }
    return p;
fail:
    dmi_rfft_free(p);
    return NULL;
}

void dmi_rfft_forward(dmi_rfft *p, const double *in, double complex *outc)
{
    double *out = (double *)outc, *z = p->z;
    size_t n = p->n, h = p->h;
    if (n % 2) {
        for (size_t j = 0; j < n; j++) z[2 * j] = in[j], z[2 * j + 1] = 0.0;
        dmi_fft_forward(p->c, (double complex *)z);
        memcpy(out, z, (h + 1) * 2 * sizeof(double));
        out[1] = 0.0; /* the sum of the input, real; Bluestein's rounding aside */
        return;
    }
    memcpy(z, in, n * sizeof(double)); /* x_{2j} + i x_{2j+1}, interleaved as they come */
    dmi_fft_forward(p->c, (double complex *)z);
    out[0] = z[0] + z[1], out[1] = 0.0;
    out[2 * h] = z[0] - z[1], out[2 * h + 1] = 0.0;
    const double *w = p->w;
    for (size_t k = 1; k < h; k++) {
        double zr = z[2 * k], zi = z[2 * k + 1], cr = z[2 * (h - k)], ci = -z[2 * (h - k) + 1];
        double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
        double orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr); /* (Z - conj Z') / 2i */
        double wr = w[2 * k], wi = w[2 * k + 1];
        out[2 * k] = er + (orr * wr - oi * wi), out[2 * k + 1] = ei + (orr * wi + oi * wr);
    }
}

void dmi_rfft_inverse(dmi_rfft *p, const double complex *inc, double *out)
{
    const double *in = (const double *)inc;
    double *z = p->z;
    size_t n = p->n, h = p->h;
    if (n % 2) {
        z[0] = in[0], z[1] = 0.0;
        for (size_t k = 1; k <= h; k++) {
            z[2 * k] = z[2 * (n - k)] = in[2 * k];
            z[2 * k + 1] = in[2 * k + 1], z[2 * (n - k) + 1] = -in[2 * k + 1];
        }
        dmi_fft_inverse(p->c, (double complex *)z);
        for (size_t j = 0; j < n; j++) out[j] = z[2 * j];
        return;
    }
    /* k = 0: X_0 and X_h, their imaginary parts ignored */
    z[0] = 0.5 * (in[0] + in[2 * h]), z[1] = 0.5 * (in[0] - in[2 * h]);
    const double *w = p->w;
    for (size_t k = 1; k < h; k++) {
        double xr = in[2 * k], xi = in[2 * k + 1], cr = in[2 * (h - k)], ci = -in[2 * (h - k) + 1];
        double er = 0.5 * (xr + cr), ei = 0.5 * (xi + ci), dr = 0.5 * (xr - cr), di = 0.5 * (xi - ci);
        double wr = w[2 * k], wi = -w[2 * k + 1]; /* O = D conj(w^k) */
        double orr = dr * wr - di * wi, oi = dr * wi + di * wr;
        z[2 * k] = er - oi, z[2 * k + 1] = ei + orr; /* Z = E + i O */
    }
    dmi_fft_inverse(p->c, (double complex *)z);
    memcpy(out, z, n * sizeof(double));
}
