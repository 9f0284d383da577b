/*
 * dp_audit.c — the one-run privacy audit of Steinke, Nasr and Jagielski,
 * "Privacy Auditing with One (1) Training Run" (NeurIPS 2023,
 * arXiv:2305.08846): an empirical lower bound on the epsilon of a training
 * run from the membership guesses on its canaries.
 *
 * m canaries, each in the training set with probability 1/2; r guesses
 * (the rest abstain), v right. Under (eps, delta)-DP, with
 * W' ~ Binomial(r, q), q = e^eps / (e^eps + 1) (eps-DP randomized response),
 * the paper bounds (its Corollary 5.4, computed as its Appendix D does)
 *
 *   P[v or more right] <= P[W' >= v] + 2 m delta alpha,
 *   alpha = max_{i = 1..v} P[v > W' >= v - i] / i,
 *
 * (delta = 0 leaves the binomial tail alone), and eps_lb is the largest eps
 * at which that p-value stays below beta: eps is certified at confidence
 * 1 - beta. Found by bisection, the bracket doubled from 1 as the paper's.
 * This closed form is what the paper's code computes and what its printed
 * numbers use: it reproduces 0.673 (m 1000, r 100, v 75, delta 1e-4, beta
 * 0.05, Appendix D) and 2.675 (m 1e5, r 1510, v 1439, delta 1e-5, Section
 * 7). Section numbers are arXiv 2305.08846v1's.
 *
 * The binomial terms come from lgamma at one point and then the ratio of
 * neighbouring terms, in double; terms below 1e-300 are dropped (they move
 * a p-value by less than that). test/privacy/test_dp_audit.c checks it
 * against an independent scipy implementation (gen_audit_vectors.py).
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

#define EPS_TOL 1e-9  /* the bisection's final bracket width */
#define TINY_LOG -690 /* log of the smallest term kept (about 1e-300) */

/* log P[W = k], W ~ Binomial(r, q), from log q and log(1 - q). */
static double log_pmf(double r, double k, double lq, double l1q)
{
    return lgamma(r + 1) - lgamma(k + 1) - lgamma(r - k + 1) + k * lq + (r - k) * l1q;
}

/* The p-value of V or more right out of R under (EPS, DELTA)-DP, M canaries. */
static double audit_p_value(uint64_t m, uint64_t r, uint64_t v, double eps, double delta)
{
    if (v == 0) return 1.0;
    /* log q and log(1 - q) from eps directly: no 1 - q rounding to 0 */
    double lq = -log1p(exp(-eps)), l1q = -eps + lq;
    double rr = (double)r, ratio_up = exp(eps); /* P[k+1]/P[k] = (r-k)/(k+1) e^eps */
    double mode = floor((rr + 1) / (1 + exp(-eps))); /* floor((r+1) q) */
    if (mode > rr) mode = rr;

    /* tail = P[W' >= v] */
    double tail = 0;
    if ((double)v > mode) {
        /* decreasing from v: sum until the terms stop counting */
        double lp = log_pmf(rr, (double)v, lq, l1q);
        if (lp > TINY_LOG) {
            double t = exp(lp);
            for (uint64_t k = v; k <= r && t > 0; k++) {
                tail += t;
                if (t < tail * 1e-18) break;
                t *= (rr - (double)k) / ((double)k + 1) * ratio_up;
            }
        }
    } else {
        /* at or below the mode: 1 - P[W' <= v - 1], that sum decreasing from v - 1 */
        double below = 0, lp = log_pmf(rr, (double)(v - 1), lq, l1q);
        if (lp > TINY_LOG) {
            double t = exp(lp);
            for (uint64_t k = v - 1;; k--) {
                below += t;
                if (k == 0 || t < below * 1e-18) break;
                t *= (double)k / (rr - (double)k + 1) / ratio_up;
            }
        }
        tail = 1.0 - below;
        if (tail < 0) tail = 0;
    }
    if (delta == 0) return fmin(tail, 1.0);

    /* alpha = max_i (P[W'=v-1] + ... + P[W'=v-i]) / i. The terms grow from v-1
     * down to the mode, then shrink; the sum never passes 1, so no i beyond
     * 1 / alpha can raise alpha. Terms below 1e-300 near v are skipped (they
     * raise no ratio above 1e-300), counting their i. */
    double alpha = 0, sum = 0, t = 0;
    uint64_t k = v - 1; /* the next term, i = v - k */
    double lp = log_pmf(rr, (double)k, lq, l1q);
    if (lp <= TINY_LOG && (double)k <= mode) return fmin(tail, 1.0); /* shrinking from there: none counts */
    if (lp <= TINY_LOG) {
        /* find the first k toward the mode whose term counts: lp rises there */
        uint64_t lo = (uint64_t)mode, hi = k; /* lp(lo) > TINY_LOG or lo is the mode */
        if (log_pmf(rr, (double)lo, lq, l1q) <= TINY_LOG) return fmin(tail, 1.0); /* nothing counts */
        while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (log_pmf(rr, (double)mid, lq, l1q) > TINY_LOG) lo = mid;
            else hi = mid;
        }
        k = lo;
        lp = log_pmf(rr, (double)k, lq, l1q);
    }
    t = lp > TINY_LOG ? exp(lp) : 0;
    for (;;) {
        uint64_t i = v - k;
        if (alpha > 0 && 1.0 / (double)i <= alpha) break;
        sum += t;
        if (sum > (double)i * alpha) alpha = sum / (double)i;
        if (k == 0) break;
        t *= (double)k / (rr - (double)k + 1) / ratio_up;
        k--;
    }
    return fmin(tail + 2.0 * (double)m * delta * alpha, 1.0);
}

DM_API dm_status dm_dp_audit_epsilon(uint64_t m, uint64_t r, uint64_t v, double delta, double beta,
                                     double *epsilon_lb)
{
    if (!epsilon_lb) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_audit_epsilon: epsilon_lb is NULL");
    *epsilon_lb = 0;
    if (r > m)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_dp_audit_epsilon: guesses must be at most the canaries (r %llu > m %llu)",
                        (unsigned long long)r, (unsigned long long)m);
    if (v > r)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_dp_audit_epsilon: correct guesses must be at most the guesses (v %llu > r %llu)",
                        (unsigned long long)v, (unsigned long long)r);
    if (!(delta >= 0 && delta < 1))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_audit_epsilon: delta must be in [0, 1), got %g", delta);
    if (!(beta > 0 && beta < 1))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_audit_epsilon: beta must be in (0, 1), got %g", beta);

    if (audit_p_value(m, r, v, 0.0, delta) >= beta) return DM_OK; /* nothing certified */
    double lo = 0, hi = 1;
    /* p -> P[W' >= v] -> 1 as eps grows (W' -> r >= v): the doubling ends by
     * eps ~ log(r / log(1/beta)) + 1, below 2^7 for any uint64 r */
    while (audit_p_value(m, r, v, hi, delta) < beta) {
        lo = hi;
        hi *= 2;
        if (hi > 1e4) return dmi_fail(DM_ERR_INTERNAL, "dm_dp_audit_epsilon: no upper bracket below eps %g", hi);
    }
    while (hi - lo > EPS_TOL) {
        double mid = 0.5 * (lo + hi);
        if (audit_p_value(m, r, v, mid, delta) < beta) lo = mid;
        else hi = mid;
    }
    *epsilon_lb = lo; /* certified: its p-value is below beta */
    return DM_OK;
}

typedef struct {
    double score;
    size_t index;
} ranked;

/* Highest score first; ties by position, the earlier canary first. */
static int by_score_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return (x->index > y->index) - (x->index < y->index);
}

DM_API dm_status dm_dp_audit_guesses(size_t m, const double *scores, const uint8_t *included, size_t k_plus,
                                     size_t k_minus, uint64_t *r, uint64_t *v)
{
    if (!scores || !included || !r || !v)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_audit_guesses: %s is NULL",
                        !scores ? "scores" : !included ? "included" : !r ? "r" : "v");
    if (k_plus > m || k_minus > m - k_plus)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_dp_audit_guesses: k_plus + k_minus must be at most the canaries (%zu + %zu > m %zu)",
                        k_plus, k_minus, m);
    for (size_t i = 0; i < m; i++) {
        if (isnan(scores[i]))
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_audit_guesses: scores[%zu] is NaN", i);
        if (included[i] > 1)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_audit_guesses: included[%zu] must be 0 or 1, got %u",
                            i, (unsigned)included[i]);
    }
    *r = 0;
    *v = 0;
    if (m == 0 || k_plus + k_minus == 0) return DM_OK;
    ranked *order = dmi_malloc(m * sizeof *order);
    if (!order) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < m; i++) order[i] = (ranked){scores[i], i};
    qsort(order, m, sizeof *order, by_score_desc);
    uint64_t right = 0;
    for (size_t i = 0; i < k_plus; i++) right += included[order[i].index] == 1;     /* guessed in */
    for (size_t i = m - k_minus; i < m; i++) right += included[order[i].index] == 0; /* guessed out */
    free(order);
    *r = (uint64_t)(k_plus + k_minus);
    *v = right;
    return DM_OK;
}
