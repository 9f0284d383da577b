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
 *
 * Below it, the PRV accountant (dm_dp_epsilon_prv), as Opacus'
 * PRVAccountant: the RDP bound sets its domain, FFTs (lib/core/fft.c) compose.
 */
#include "core/core.h"
#include "core/fft.h"

#include <complex.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>

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

/* ------------------------------------------------------------------------ */
/* The PRV accountant (Gopi, Lee and Wutschitz, "Numerical Composition of
 * Differential Privacy", 2021), computed as Opacus' PRVAccountant does for
 * one (noise, rate, steps) entry: the privacy random variable of the
 * Poisson-subsampled Gaussian truncated to [-L, L] (L from the RDP
 * accountant at delta_error / 4 and delta_error / (8 steps), plus 3),
 * discretised on a mesh of eps_error / sqrt(steps log(12 / delta_error) / 2)
 * (each point the mass of its cell, shifted so that its mean is the
 * continuous one), composed STEPS times by FFT (lib/core/fft.c: numpy's
 * rfft and irfft, of any length), and epsilon read
 * off the composed mass as Opacus' DiscretePRV.compute_epsilon does; the
 * answer is its upper bound (estimate at delta - delta_error, plus
 * eps_error), delta_error = delta / 1000. */

#define PRV_MAX_POINTS ((size_t)1 << 26) /* 64 Mi points: at most about 6 GiB of work arrays with the FFT's */

typedef struct prv {
    double q, sigma, log1mq;
    double t_min, t_max, c_min, mass; /* the truncation */
} prv;

/* The untruncated cdf, Opacus' formula term for term (Gopi et al., B4). */
static double prv_cdf(const prv *p, double t)
{
    if (!(t > p->log1mq)) return 0.0;
    double z = log((exp(t) + p->q - 1.0) / p->q), s2 = p->sigma * p->sigma;
    return -p->q * erfc((2.0 * z * s2 - 1.0) / (2.0 * M_SQRT2 * p->sigma)) / 2.0 -
           (1.0 - p->q) * erfc((2.0 * z * s2 + 1.0) / (2.0 * M_SQRT2 * p->sigma)) / 2.0 + 1.0;
}

static double prv_tcdf(const prv *p, double t)
{
    if (t < p->t_min) return 0.0;
    if (t < p->t_max) return (prv_cdf(p, t) - p->c_min) / p->mass;
    return 1.0;
}

/* QUADPACK's 21-point Gauss-Kronrod rule (dqk21) and its error estimate. */
static const double XGK[11] = {0.995657163025808080735527280689003, 0.973906528517171720077964012084452,
                               0.930157491355708226001207180059508, 0.865063366688984510732096688423493,
                               0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
                               0.562757134668604683339000099272694, 0.433395394129247190799265943165784,
                               0.294392862701460198131126603103866, 0.148874338981631210884826001129720, 0.0};
static const double WGK[11] = {0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
                               0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
                               0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
                               0.123491976262065851077958109831074, 0.134709217311473325928054001771707,
                               0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
                               0.149445554002916905664936468389821};
static const double WG[5] = {0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
                             0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
                             0.295524224714752870173892994651338};

static double qk21(const prv *p, double a, double b, double *abserr, double *resabs, double *resasc)
{
    double centr = 0.5 * (a + b), hlgth = 0.5 * (b - a), dhlgth = fabs(hlgth);
    double fv1[10], fv2[10], resg = 0.0, fc = prv_tcdf(p, centr), resk = WGK[10] * fc, rabs = fabs(resk);
    for (int j = 0; j < 5; j++) {
        int jtw = 2 * j + 1;
        double absc = hlgth * XGK[jtw], f1 = prv_tcdf(p, centr - absc), f2 = prv_tcdf(p, centr + absc);
        fv1[jtw] = f1, fv2[jtw] = f2;
        resg += WG[j] * (f1 + f2);
        resk += WGK[jtw] * (f1 + f2);
        rabs += WGK[jtw] * (fabs(f1) + fabs(f2));
    }
    for (int j = 0; j < 5; j++) {
        int jtwm1 = 2 * j;
        double absc = hlgth * XGK[jtwm1], f1 = prv_tcdf(p, centr - absc), f2 = prv_tcdf(p, centr + absc);
        fv1[jtwm1] = f1, fv2[jtwm1] = f2;
        resk += WGK[jtwm1] * (f1 + f2);
        rabs += WGK[jtwm1] * (fabs(f1) + fabs(f2));
    }
    double reskh = resk * 0.5, rasc = WGK[10] * fabs(fc - reskh);
    for (int j = 0; j < 10; j++) rasc += WGK[j] * (fabs(fv1[j] - reskh) + fabs(fv2[j] - reskh));
    double err = fabs((resk - resg) * hlgth);
    rabs *= dhlgth, rasc *= dhlgth;
    if (rasc != 0.0 && err != 0.0) err = rasc * fmin(1.0, pow(200.0 * err / rasc, 1.5));
    if (rabs > DBL_MIN / (50.0 * DBL_EPSILON)) err = fmax(DBL_EPSILON * 50.0 * rabs, err);
    *abserr = err, *resabs = rabs, *resasc = rasc;
    return resk * hlgth;
}

/* The integral of the truncated cdf over [a, b] as scipy's quad (QUADPACK
 * dqagse, epsabs = epsrel = 1.49e-8, limit 500) finds it for these smooth
 * integrands: the 21-point rule, bisecting the interval of largest error
 * until the errors' sum meets the bound, the result the intervals' sum.
 * (dqagse's epsilon-algorithm extrapolation only acts on integrands whose
 * bisections converge slowly, which these are not.) */
#define QUAD_LIMIT 500
static double quad(const prv *p, double a, double b)
{
    const double epsabs = 1.49e-8, epsrel = 1.49e-8;
    double al[QUAD_LIMIT], bl[QUAD_LIMIT], rl[QUAD_LIMIT], el[QUAD_LIMIT];
    double abserr, defabs, resabs, result = qk21(p, a, b, &abserr, &defabs, &resabs);
    double errbnd = fmax(epsabs, epsrel * fabs(result));
    if ((abserr <= errbnd && abserr != resabs) || abserr == 0.0) return result;
    if (abserr <= 100.0 * DBL_EPSILON * defabs && abserr > errbnd) return result; /* roundoff: ier 2 */
    al[0] = a, bl[0] = b, rl[0] = result, el[0] = abserr;
    double area = result, errsum = abserr;
    int last = 1, maxerr = 0;
    while (last < QUAD_LIMIT) {
        double a1 = al[maxerr], b1 = 0.5 * (al[maxerr] + bl[maxerr]), a2 = b1, b2 = bl[maxerr];
        double e1, e2, r, d;
        double area1 = qk21(p, a1, b1, &e1, &r, &d), area2 = qk21(p, a2, b2, &e2, &r, &d);
        errsum = errsum + (e1 + e2) - el[maxerr];
        area = area + (area1 + area2) - rl[maxerr];
        if (e2 > e1) {
            al[maxerr] = a2, bl[maxerr] = b2, rl[maxerr] = area2, el[maxerr] = e2;
            al[last] = a1, bl[last] = b1, rl[last] = area1, el[last] = e1;
        } else {
            bl[maxerr] = b1, rl[maxerr] = area1, el[maxerr] = e1;
            al[last] = a2, bl[last] = b2, rl[last] = area2, el[last] = e2;
        }
        last++;
        errbnd = fmax(epsabs, epsrel * fabs(area));
        if (errsum <= errbnd) break;
        maxerr = 0;
        for (int k = 1; k < last; k++)
            if (el[k] > el[maxerr]) maxerr = k;
    }
    double sum = 0.0;
    for (int k = 0; k < last; k++) sum += rl[k];
    return sum;
}

/* numpy's linspace: START + i * (STOP - START) / (N - 1), the last STOP. */
static double linspace_at(double start, double stop, size_t n, size_t i)
{
    if (i == n - 1) return stop;
    return (double)i * ((stop - start) / (double)(n - 1)) + start;
}

/* The truncated PRV's mean, integrated piecewise as Opacus does: mean =
 * sum over pieces of [t F(t)] - integral of F, on pieces split at
 * -+10^k for k from log10 |t_min| (resp. t_max) down to -5. */
static double prv_mean(const prv *p)
{
    double all[23];
    int lo = (int)log10(fabs(p->t_min)), up = (int)log10(p->t_max);
    all[0] = p->t_min;
    for (int k = 0; k < 10; k++) all[1 + k] = -pow(10.0, linspace_at(lo, -5.0, 10, (size_t)k));
    all[11] = 0.0;
    for (int k = 0; k < 10; k++) all[12 + k] = pow(10.0, linspace_at(-5.0, up, 10, (size_t)k));
    all[22] = p->t_max;
    double mean = 0.0;
    for (int k = 0; k < 22; k++) {
        double l = all[k], r = all[k + 1];
        double integral = quad(p, l, r);
        mean += r * prv_tcdf(p, r) - l * prv_tcdf(p, l) - integral;
    }
    return mean;
}

/* numpy's complex power for an integer exponent: repeated squaring below
 * 100, the C library's cpow above. */
static double complex cpow_int(double complex z, uint64_t n)
{
    if (n == 1) return z;
    if (n < 100) {
        double complex acc = 1.0, pw = z;
        for (uint64_t mask = 1;; mask <<= 1) {
            if (n & mask) acc = CMPLX(creal(acc) * creal(pw) - cimag(acc) * cimag(pw),
                                      creal(acc) * cimag(pw) + cimag(acc) * creal(pw));
            if (n < (mask << 1)) break;
            pw = CMPLX(creal(pw) * creal(pw) - cimag(pw) * cimag(pw), creal(pw) * cimag(pw) + cimag(pw) * creal(pw));
        }
        return acc;
    }
    if (creal(z) == 0.0 && cimag(z) == 0.0) return 0.0;
    return cpow(z, (double)n);
}

static dm_status prv_epsilon(double sigma, double q, uint64_t steps, double delta, double eps_error, double *out)
{
    const char *fn = "dm_dp_epsilon_prv";
    double delta_error = delta / 1000.0;
    /* the domain: [-L, L] on a mesh aligned to 0, an even number of points */
    double l_max = fmax(epsilon_of(sigma, q, steps, delta_error / 4.0, NULL),
                        epsilon_of(sigma, q, 1, delta_error / (8.0 * (double)steps), NULL));
    double L = fmax(l_max, eps_error) + 3.0;
    double dt = eps_error / sqrt((double)steps * log(12.0 / delta_error) / 2.0);
    double t_min = floor(-L / dt) * dt, t_max = ceil(L / dt) * dt;
    double span = round((t_max - t_min) / dt) + 1.0;
    if (!(span <= (double)PRV_MAX_POINTS))
        return dmi_fail(DM_ERR_RANGE, "%s: the PRV domain [-%g, %g] at mesh %g needs %.3g points, above %zu: "
                        "use the RDP accountant or a larger eps_error", fn, L, L, dt, span, PRV_MAX_POINTS);
    size_t n = (size_t)span;
    if (n % 2) n++, t_max += dt;
    double ddt = (t_max - t_min) / (double)(n - 1);
    if (!(fabs(ddt - dt) / dt < 1e-8))
        return dmi_fail(DM_ERR_RANGE, "%s: the PRV mesh %g cannot be aligned on [-%g, %g]", fn, dt, L, L);
    if (LDBL_EPSILON * (long double)n > (long double)(delta - delta_error))
        return dmi_fail(DM_ERR_RANGE, "%s: delta %g is too small for a PRV domain of %zu points (rounding "
                        "would dominate): increase delta or eps_error", fn, delta, n);

    prv p = {.q = q, .sigma = sigma, .log1mq = log(1.0 - q), .t_min = t_min, .t_max = t_max};
    p.c_min = prv_cdf(&p, t_min);
    p.mass = prv_cdf(&p, t_max) - p.c_min;
    if (!(p.mass > 0.0))
        return dmi_fail(DM_ERR_RANGE, "%s: no privacy-loss mass on [-%g, %g]", fn, L, L);

    size_t nc = n / 2 + 1;
    double *pmf = malloc(n * sizeof *pmf), *d1 = malloc(n * sizeof *d1), *d2 = malloc(n * sizeof *d2);
    double complex *spec = malloc(nc * sizeof *spec);
    dmi_rfft *plan = NULL;
    dm_status st = DM_OK;
    if (!pmf || !d1 || !d2 || !spec) {
        st = dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory for a PRV domain of %zu points", fn, n);
        goto done;
    }
    /* discretise: each point's cell mass; shift so the means agree */
    double mean_d = 0.0, comp = 0.0;
    for (size_t i = 0; i < n; i++) {
        double tc = linspace_at(t_min, t_max, n, i);
        pmf[i] = prv_tcdf(&p, tc + ddt / 2.0) - prv_tcdf(&p, tc - ddt / 2.0);
        double y = tc * pmf[i] - comp, s = mean_d + y; /* compensated: the dot product to the last bit */
        comp = (s - mean_d) - y, mean_d = s;
    }
    double shift = prv_mean(&p) - mean_d;
    if (!(fabs(shift) < ddt / 2.0)) {
        st = dmi_fail(DM_ERR_RANGE, "%s: the discretised PRV's mean is off by %g (mesh %g)", fn, shift, ddt);
        goto done;
    }
    /* compose: the STEPS-th power of the spectrum, rolled back in place */
    plan = dmi_rfft_new(n);
    if (!plan) {
        st = dmi_fail_prefix(DM_ERR_NO_MEMORY, "%s: a PRV domain of %zu points", fn, n);
        goto done;
    }
    dmi_rfft_forward(plan, pmf, spec);
    for (size_t k = 0; k < nc; k++) spec[k] = cpow_int(spec[k], steps);
    dmi_rfft_inverse(plan, spec, d1); /* numpy's irfft: times 1 / n */
    size_t roll = (size_t)((steps - 1) % n);
    if (steps % 2 == 0) roll = (roll + n / 2) % n;
    for (size_t i = 0; i < n; i++) pmf[(i + roll) % n] = d1[i];
    double c_min = t_min + shift + shift * (double)(steps - 1), c_max = t_max + shift + shift * (double)(steps - 1);

    /* epsilon: the tail masses d1 = sum_{j>=i} p_j and d2 = sum_{j>=i} p_j e^{-t_j};
     * delta(t_i) = -(e^{t_i} d2 - d1); the first point whose delta is within
     * the target gives epsilon = log((d1 - target) / d2) */
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = n; i-- > 0;) {
        s1 += pmf[i], s2 += pmf[i] * exp(-linspace_at(c_min, c_max, n, i));
        d1[i] = s1, d2[i] = s2;
    }
    double target = delta - delta_error;
    size_t lo = 0, hi = n; /* numpy's searchsorted(side="left") */
    while (lo < hi) {
        size_t mid = lo + ((hi - lo) >> 1);
        double nd = exp(linspace_at(c_min, c_max, n, mid)) * d2[mid] - d1[mid];
        if (nd < -target) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0 || lo >= n) {
        st = dmi_fail(DM_ERR_RANGE, "%s: epsilon is outside the PRV domain [-%g, %g] (delta %g)", fn, L, L, delta);
        goto done;
    }
    *out = log((d1[lo] - target) / d2[lo]) + eps_error;
done:
    dmi_rfft_free(plan);
    free(pmf);
    free(spec);
    free(d1);
    free(d2);
    return st;
}

DM_API dm_status dm_dp_epsilon_prv(double noise_multiplier, double sample_rate, uint64_t steps, double delta,
                                   double eps_error, double *epsilon)
{
    if (!epsilon) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_epsilon_prv: NULL epsilon");
    dm_status s = check_common("dm_dp_epsilon_prv", sample_rate, delta);
    if (s) return s;
    if (!(noise_multiplier >= 0.0) || isinf(noise_multiplier))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_epsilon_prv: noise_multiplier must be finite and >= 0, "
                        "got %g", noise_multiplier);
    if (!(eps_error >= 0.0) || isinf(eps_error))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_epsilon_prv: eps_error must be finite and >= 0 (0: "
                        "Opacus' 0.01), got %g", eps_error);
    if (eps_error == 0.0) eps_error = 0.01;
    if (steps == 0 || sample_rate == 0.0) return *epsilon = 0.0, DM_OK; /* nothing released */
    if (noise_multiplier == 0.0) return *epsilon = INFINITY, DM_OK;      /* no noise: no privacy */
    return prv_epsilon(noise_multiplier, sample_rate, steps, delta, eps_error, epsilon);
}
