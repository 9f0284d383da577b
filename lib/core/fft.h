/*
 * fft.h — discrete Fourier transforms of any length, in double precision
 * (the PRV accountant's compositions, lib/privacy/dp_accountant.c).
 *
 * Ours, not a library's, for the licence and for the lengths: FFTW is
 * GPL-2+, and linking it would put this Apache-2.0 library's binaries under
 * the GPL; kissfft (BSD) is fast only for lengths whose prime factors are
 * small (its cost is O(n p) for a prime factor p), and the accountant's
 * lengths are set by its domain: most have a prime factor in the thousands
 * to millions. So: an iterative radix-2 transform for powers of two, and
 * Bluestein's chirp-z algorithm for every other length (the transform as a
 * convolution, done by a power-of-two transform of at least 2n - 1 points),
 * O(n log n) for every n.
 *
 * The conventions are numpy's (numpy.fft): the forward transform is
 * X_k = sum_j x_j exp(-2 pi i j k / n), unnormalised; the inverse has
 * exp(+2 pi i j k / n) and the factor 1 / n. The real transforms are rfft
 * (n reals to the n / 2 + 1 non-negative frequencies) and irfft (back, with
 * 1 / n; the imaginary parts of X_0 and, for even n, X_{n/2} are ignored).
 *
 * A plan holds its tables and its working memory: make it once per length,
 * use it from one thread at a time (different plans are independent), and
 * free it. Making one is the only step that can fail (out of memory: NULL,
 * with the thread's DM_ERR_NO_MEMORY message set).
 */
#ifndef DM_CORE_FFT_H
#define DM_CORE_FFT_H

#include <complex.h>
#include <stddef.h>

/* Complex transforms of length N >= 1, in place. */
typedef struct dmi_fft dmi_fft;
dmi_fft *dmi_fft_new(size_t n);
void dmi_fft_free(dmi_fft *plan);
void dmi_fft_forward(dmi_fft *plan, double complex *x);
void dmi_fft_inverse(dmi_fft *plan, double complex *x);

/* Real transforms of length N >= 1: IN (N reals) to OUT (N / 2 + 1 complex),
 * and back. IN and OUT do not overlap; neither call changes IN. */
typedef struct dmi_rfft dmi_rfft;
dmi_rfft *dmi_rfft_new(size_t n);
void dmi_rfft_free(dmi_rfft *plan);
void dmi_rfft_forward(dmi_rfft *plan, const double *in, double complex *out);
void dmi_rfft_inverse(dmi_rfft *plan, const double complex *in, double *out);

#endif
