/*
 * dp_accountant.c — the privacy spent by DP-SGD: the Rényi-DP accountant of
 * the subsampled Gaussian mechanism (Mironov, Talwar and Zhang, "Rényi
 * Differential Privacy of the Sampled Gaussian Mechanism", 2019), computed
 * as Opacus' RDPAccountant does (itself TF Privacy's): the same orders, the
 * same series for integer and fractional orders, the same conversion to
 * (epsilon, delta) (Balle et al. 2020, Theorem 21), and the same bisection
 * for the noise that meets a budget. Opacus is the reference users compare
 * with: test/privacy/test_dp_accountant.c checks its values to 1e-9.
 *
 * Everything is in log space: A_alpha sums terms of very different sizes.
 */
#include "core/core.h"

#include <math.h>

/* Opacus' DEFAULT_ALPHAS: 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63. */
#define N_ORDERS (99 + 52)
#define MAX_NOISE 1e6 /* Opacus' MAX_SIGMA: the bisection gives up above it */

static double order_at(int k) { return k < 99 ? 1.0 + (k + 1) / 10.0 : (double)(12 + (k - 99)); }

static double log_add(double x, double y)
{
    double a = fmin(x, y), b = fmax(x, y);
    if (a == -INFINITY) return b;
    return log1p(exp(a - b)) + b;
}

/* log(exp(x) - exp(y)), x >= y (the series' alternating terms shrink). */
static double log_sub(double x, double y)
{
    if (y == -INFINITY) return x;
    if (x <= y) return -INFINITY;
    double d = expm1(x - y);
    return isinf(d) ? x : log(d) + y;
}

/* log(erfc(x)), accurate where erfc underflows: for large x,
 * erfc(x) = exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6) + 105/(16x^8)),
 * whose next term is below 1e-10 of the sum at x >= 20. */
static double log_erfc(double x)
{
    if (x < 20.0) return log(erfc(x));
    double r = 1.0 / (x * x);
    double series = 1.0 - r / 2.0 + 3.0 * r * r / 4.0 - 15.0 * r * r * r / 8.0 + 105.0 * r * r * r * r / 16.0;
    return -x * x - log(x) - 0.5 * log(M_PI) + log(series);
}

/* The generalised binomial coefficient (alpha choose i) as a product: exact
 * for integer alpha below 2^53 terms of interest, signed for fractional. */
static double binom(double alpha, int i)
{
    double c = 1.0;
    for (int k = 0; k < i; k++) c *= (alpha - k) / (k + 1);
    return c;
}

static double log_a_int(double q, double sigma, int alpha)
{
    double log_a = -INFINITY;
    for (int i = 0; i <= alpha; i++) {
        double log_coef = log(binom(alpha, i)) + i * log(q) + (alpha - i) * log(1.0 - q);
        log_a = log_add(log_a, log_coef + (double)(i * i - i) / (2.0 * sigma * sigma));
    }
    return log_a;
}

static double log_a_frac(double q, double sigma, double alpha)
{
    double log_a0 = -INFINITY, log_a1 = -INFINITY;
    double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5;
    for (int i = 0;; i++) {
        double coef = binom(alpha, i), log_coef = log(fabs(coef)), j = alpha - i;
        double log_t0 = log_coef + i * log(q) + j * log(1.0 - q);
        double log_t1 = log_coef + j * log(q) + i * log(1.0 - q);
        double log_e0 = log(0.5) + log_erfc((i - z0) / (M_SQRT2 * sigma));
        double log_e1 = log(0.5) + log_erfc((z0 - j) / (M_SQRT2 * sigma));
        double log_s0 = log_t0 + (double)(i * i - i) / (2.0 * sigma * sigma) + log_e0;
        double log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if (coef > 0) {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        if (fmax(log_s0, log_s1) < -30.0 || i > 100000) break;
    }
    return log_add(log_a0, log_a1);
}

/* RDP of one step at ORDER. */
static double rdp_step(double q, double sigma, double order)
{
    if (q == 0.0) return 0.0;
    if (sigma == 0.0) return INFINITY;
    if (q == 1.0) return order / (2.0 * sigma * sigma);
    double log_a = order == floor(order) ? log_a_int(q, sigma, (int)order) : log_a_frac(q, sigma, order);
    return log_a / (order - 1.0);
}

/* epsilon of STEPS steps at delta: the best order's conversion. */
static double epsilon_of(double sigma, double q, uint64_t steps, double delta, double *best_order)
{
    double best = NAN, at = NAN;
    for (int k = 0; k < N_ORDERS; k++) {
        double a = order_at(k);
        double rdp = rdp_step(q, sigma, a) * (double)steps;
        double eps = rdp - (log(delta) + log(a)) / (a - 1.0) + log((a - 1.0) / a);
        if (!isnan(eps) && (isnan(best) || eps < best)) best = eps, at = a;
    }
    if (best_order) *best_order = at;
    return isnan(best) ? INFINITY : best;
}

static dm_status check_common(const char *fn, double q, double delta)
{
    if (!(q >= 0.0 && q <= 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: sample_rate must be in [0, 1] (the expected batch over the "
                        "rows), got %g", fn, q);
    if (!(delta > 0.0 && delta < 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: delta must be in (0, 1), got %g", fn, delta);
    return DM_OK;
}

DM_API dm_status dm_dp_epsilon(double noise_multiplier, double sample_rate, uint64_t steps, double delta,
                               double *epsilon, double *order)
{
    if (!epsilon) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_epsilon: NULL epsilon");
    dm_status s = check_common("dm_dp_epsilon", sample_rate, delta);
    if (s) return s;
    if (!(noise_multiplier >= 0.0) || isinf(noise_multiplier))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_epsilon: noise_multiplier must be finite and >= 0, got %g",
                        noise_multiplier);
    /* Nothing released (no step, or no row ever sampled) spends nothing; Opacus
     * would report the RDP-to-DP conversion's constant instead. */
    double at = NAN;
    *epsilon = steps == 0 || sample_rate == 0.0 ? 0.0 : epsilon_of(noise_multiplier, sample_rate, steps, delta, &at);
    if (order) *order = at;
    return DM_OK;
}

DM_API dm_status dm_dp_noise_multiplier(double epsilon, double delta, double sample_rate, uint64_t steps,
                                        double tolerance, double *noise_multiplier)
{
    if (!noise_multiplier) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_noise_multiplier: NULL result");
    dm_status s = check_common("dm_dp_noise_multiplier", sample_rate, delta);
    if (s) return s;
    if (!(epsilon > 0.0) || isinf(epsilon))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_noise_multiplier: epsilon must be finite and > 0, got %g",
                        epsilon);
    if (tolerance == 0.0) tolerance = 0.01; /* Opacus' epsilon_tolerance */
    if (!(tolerance > 0.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_noise_multiplier: tolerance must be > 0 (0: 0.01), got %g",
                        tolerance);
    if (steps == 0 || sample_rate == 0.0) {
        *noise_multiplier = 0.0; /* nothing is released: no noise needed */
        return DM_OK;
    }
    /* As Opacus: double the noise from 10 until the budget holds, then
     * bisect until epsilon is within TOLERANCE below the target; the
     * answer is the upper end (its epsilon never exceeds the target). */
    double low = 0.0, high = 10.0, eps_high = INFINITY;
    while (eps_high > epsilon) {
        high *= 2.0;
        eps_high = epsilon_of(high, sample_rate, steps, delta, NULL);
        if (high > MAX_NOISE)
            return dmi_fail(DM_ERR_RANGE, "the privacy budget is too small: epsilon %g at delta %g over %llu steps "
                            "of sampling rate %g needs a noise multiplier above %g", epsilon, delta,
                            (unsigned long long)steps, sample_rate, MAX_NOISE);
    }
    while (epsilon - eps_high > tolerance) {
        double mid = (low + high) / 2.0, eps = epsilon_of(mid, sample_rate, steps, delta, NULL);
        if (eps < epsilon) high = mid, eps_high = eps;
        else low = mid;
    }
    *noise_multiplier = high;
    return DM_OK;
}
