/*
 * test_dp_audit.c — dm_dp_audit_epsilon and dm_dp_audit_guesses: the one-run
 * audit bound of Steinke, Nasr and Jagielski (NeurIPS 2023) against an
 * independent scipy implementation (fixtures/audit_vectors.json, written by
 * gen_audit_vectors.py): 160 (m, r, v, delta, beta) cases; the paper's own
 * two numbers to their printed digits, plus the guesses from scores and every bad input.
 *
 * Tolerance: epsilon within 1e-6 (the C bisects to 1e-9 and returns the
 * certified low end; the reference to 1e-12; the binomial sums differ in
 * their last bits).
 */
#include "datamodel.h"
#include "../unit/check.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }
static uint64_t count(json_t *o, const char *key) { return (uint64_t)json_integer_value(json_object_get(o, key)); }

static void test_reference(json_t *cases, const char *what, size_t at_least)
{
    size_t i, n = 0, bad = 0;
    json_t *c;
    double worst = 0;
    json_array_foreach(cases, i, c) {
        double eps = NAN, want = num(c, "epsilon");
        dm_status s = dm_dp_audit_epsilon(count(c, "m"), count(c, "r"), count(c, "v"), num(c, "delta"),
                                          num(c, "beta"), &eps);
        double diff = fabs(eps - want);
        worst = fmax(worst, diff);
        if (s != DM_OK || !(diff <= 1e-6)) {
            if (bad++ < 5)
                fprintf(stderr, "m %llu r %llu v %llu delta %g beta %g: %s %.9f, reference %.9f\n",
                        (unsigned long long)count(c, "m"), (unsigned long long)count(c, "r"),
                        (unsigned long long)count(c, "v"), num(c, "delta"), num(c, "beta"), dm_status_name(s), eps,
                        want);
        }
        n++;
    }
    printf("  %s: %zu cases, worst difference %.3g, %zu off\n", what, n, worst, bad);
    CHECK(n >= at_least && bad == 0);
}

/* The paper's printed values, to their last digit. */
static void test_paper(void)
{
    double eps;
    CHECK(dm_dp_audit_epsilon(1000, 100, 75, 1e-4, 0.05, &eps) == DM_OK);
    printf("  m 1000, r 100, v 75, delta 1e-4, beta 0.05: %.6f (paper 0.673)\n", eps);
    CHECK(fabs(eps - 0.673) < 5e-4);
    CHECK(dm_dp_audit_epsilon(100000, 1510, 1439, 1e-5, 0.05, &eps) == DM_OK);
    printf("  m 1e5, r 1510, v 1439, delta 1e-5, beta 0.05: %.6f (paper 2.675)\n", eps);
    CHECK(eps >= 2.675 && eps < 2.676);
}

/* delta 0 is the binomial tail exactly: all r right certifies the eps with
 * q^r = beta, q = 1 / (1 + e^-eps): eps = -log(beta^(-1/r) - 1). */
static void test_closed_form(void)
{
    double eps;
    CHECK(dm_dp_audit_epsilon(1000, 1000, 1000, 0, 0.05, &eps) == DM_OK);
    double want = -log(expm1(-log(0.05) / 1000));
    printf("  m 1000, all 1000 right, delta 0, beta 0.05: %.6f (closed form %.6f)\n", eps, want);
    CHECK(fabs(eps - want) < 1e-8);
    CHECK(dm_dp_audit_epsilon(10, 10, 10, 0, 0.01, &eps) == DM_OK);
    CHECK(fabs(eps - -log(expm1(-log(0.01) / 10))) < 1e-8);
}

static void test_properties(void)
{
    double a, b, c, d, e;
    /* nothing certified: no guesses, none right, chance level */
    CHECK(dm_dp_audit_epsilon(100, 0, 0, 1e-5, 0.05, &a) == DM_OK && a == 0);
    CHECK(dm_dp_audit_epsilon(100, 100, 0, 1e-5, 0.05, &a) == DM_OK && a == 0);
    CHECK(dm_dp_audit_epsilon(100, 100, 50, 1e-5, 0.05, &a) == DM_OK && a == 0);
    CHECK(dm_dp_audit_epsilon(1, 1, 1, 0, 0.05, &a) == DM_OK && a == 0); /* 1 right: p(0) = 1/2 */
    CHECK(dm_dp_audit_epsilon(0, 0, 0, 0, 0.05, &a) == DM_OK && a == 0);
    /* more right, less delta, more beta, fewer canaries never certify less */
    CHECK(dm_dp_audit_epsilon(1000, 100, 90, 1e-5, 0.05, &a) == DM_OK);
    CHECK(dm_dp_audit_epsilon(1000, 100, 95, 1e-5, 0.05, &b) == DM_OK);
    CHECK(dm_dp_audit_epsilon(1000, 100, 95, 0, 0.05, &c) == DM_OK);
    CHECK(dm_dp_audit_epsilon(1000, 100, 95, 1e-5, 0.1, &d) == DM_OK);
    CHECK(dm_dp_audit_epsilon(100000, 100, 95, 1e-5, 0.05, &e) == DM_OK);
    CHECK(a > 0 && b > a && c >= b && d > b && e < b);
    printf("  m 1000, r 100, v 95, delta 1e-5, beta 0.05: %.6f (delta 0: %.6f)\n", b, c);
    /* large counts stay finite and quick */
    CHECK(dm_dp_audit_epsilon(10000000, 2000000, 1800000, 1e-8, 0.05, &a) == DM_OK && a > 2 && a < 2.3);
    CHECK(dm_dp_audit_epsilon(UINT64_MAX, 1000, 1000, 0, 0.05, &a) == DM_OK && a > 5);
    CHECK(dm_dp_audit_epsilon(UINT64_MAX, 1000, 1000, 1e-30, 0.05, &b) == DM_OK && fabs(a - b) < 1e-3);
}

static void test_guesses(void)
{
    /* scores: higher means "in" */
    const double scores[8] = {0.9, 0.1, 0.8, 0.2, 0.5, 0.5, 0.7, 0.3};
    const uint8_t in[8] = {1, 0, 1, 1, 0, 1, 0, 0};
    uint64_t r, v;
    /* top 3: 0.9 (in, right), 0.8 (in, right), 0.7 (out, wrong); bottom 2: 0.1 (out, right), 0.2 (in, wrong) */
    CHECK(dm_dp_audit_guesses(8, scores, in, 3, 2, &r, &v) == DM_OK && r == 5 && v == 3);
    CHECK(dm_dp_audit_guesses(8, scores, in, 0, 0, &r, &v) == DM_OK && r == 0 && v == 0);
    CHECK(dm_dp_audit_guesses(8, scores, in, 8, 0, &r, &v) == DM_OK && r == 8 && v == 4);
    CHECK(dm_dp_audit_guesses(8, scores, in, 0, 8, &r, &v) == DM_OK && r == 8 && v == 4);
    /* a tie: the two 0.5s at positions 4 (out) and 5 (in); the earlier ranks higher, so the
     * 4th "in" guess is position 4 (wrong) and the 4th "out" guess position 5 (wrong) */
    CHECK(dm_dp_audit_guesses(8, scores, in, 4, 0, &r, &v) == DM_OK && r == 4 && v == 2);
    CHECK(dm_dp_audit_guesses(8, scores, in, 0, 4, &r, &v) == DM_OK && r == 4 && v == 2);
    CHECK(dm_dp_audit_guesses(0, scores, in, 0, 0, &r, &v) == DM_OK && r == 0 && v == 0);
    /* a perfect attack on 1000 canaries certifies a positive epsilon */
    enum { M = 1000 };
    static double s[M];
    static uint8_t inc[M];
    for (size_t i = 0; i < M; i++) {
        inc[i] = (uint8_t)((i * 7919u) % 3 == 0);
        s[i] = inc[i] ? 1.0 + (double)i : -(double)i;
    }
    double eps;
    CHECK(dm_dp_audit_guesses(M, s, inc, 100, 100, &r, &v) == DM_OK && r == 200 && v == 200);
    CHECK(dm_dp_audit_epsilon(M, r, v, 1e-5, 0.05, &eps) == DM_OK && eps > 3);
}

static void test_bad_input(void)
{
    double eps;
    const double scores[3] = {1, 2, 3}, nan_scores[3] = {1, NAN, 3};
    const uint8_t in[3] = {1, 0, 1}, bad_in[3] = {1, 2, 0};
    uint64_t r, v;
    CHECK_FAILS(dm_dp_audit_epsilon(10, 11, 5, 1e-5, 0.05, &eps), DM_ERR_INVALID_ARGUMENT, "r 11 > m 10");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 6, 1e-5, 0.05, &eps), DM_ERR_INVALID_ARGUMENT, "v 6 > r 5");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, -1e-5, 0.05, &eps), DM_ERR_INVALID_ARGUMENT, "delta must be in [0, 1)");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, 1.0, 0.05, &eps), DM_ERR_INVALID_ARGUMENT, "delta must be in [0, 1)");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, NAN, 0.05, &eps), DM_ERR_INVALID_ARGUMENT, "delta");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, 1e-5, 0.0, &eps), DM_ERR_INVALID_ARGUMENT, "beta must be in (0, 1)");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, 1e-5, 1.0, &eps), DM_ERR_INVALID_ARGUMENT, "beta must be in (0, 1)");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, 1e-5, NAN, &eps), DM_ERR_INVALID_ARGUMENT, "beta");
    CHECK_FAILS(dm_dp_audit_epsilon(10, 5, 5, 1e-5, 0.05, NULL), DM_ERR_INVALID_ARGUMENT, "epsilon_lb is NULL");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, in, 2, 2, &r, &v), DM_ERR_INVALID_ARGUMENT, "(2 + 2 > m 3)");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, in, 4, 0, &r, &v), DM_ERR_INVALID_ARGUMENT, "k_plus + k_minus");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, in, SIZE_MAX, 2, &r, &v), DM_ERR_INVALID_ARGUMENT, "k_plus + k_minus");
    CHECK_FAILS(dm_dp_audit_guesses(3, NULL, in, 1, 1, &r, &v), DM_ERR_INVALID_ARGUMENT, "scores is NULL");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, NULL, 1, 1, &r, &v), DM_ERR_INVALID_ARGUMENT, "included is NULL");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, in, 1, 1, NULL, &v), DM_ERR_INVALID_ARGUMENT, "r is NULL");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, in, 1, 1, &r, NULL), DM_ERR_INVALID_ARGUMENT, "v is NULL");
    CHECK_FAILS(dm_dp_audit_guesses(3, nan_scores, in, 1, 1, &r, &v), DM_ERR_INVALID_ARGUMENT, "scores[1] is NaN");
    CHECK_FAILS(dm_dp_audit_guesses(3, scores, bad_in, 1, 1, &r, &v), DM_ERR_INVALID_ARGUMENT,
                "included[1] must be 0 or 1, got 2");
}

int main(void)
{
    const char *root = getenv("SRCROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/privacy/fixtures/audit_vectors.json", root ? root : ".");
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) {
        fprintf(stderr, "%s: %s (line %d)\n", path, err.text, err.line);
        return 1;
    }
    printf("one-run audit against the scipy reference (scipy %s)\n", json_string_value(json_object_get(j, "scipy")));
    test_paper();
    test_reference(json_object_get(j, "epsilon"), "grid", 150);
    test_closed_form();
    test_properties();
    test_guesses();
    test_bad_input();
    json_decref(j);
    return check_summary();
}
