/*
 * test_dp_accountant.c — dm_dp_epsilon and dm_dp_noise_multiplier against
 * Opacus 1.6's RDP accountant (fixtures/dp_vectors.json, written by
 * gen_dp_vectors.py): 336 (sigma, q, steps, delta) cases and 33 noise
 * searches, plus the issue's test vectors and every bad input.
 *
 * Tolerances: epsilon within 1e-9 relative (the same series in double; the
 * sums' order differs from numpy's only at the last bits), the best order
 * exactly; noise multipliers within 1e-9 (the same bisection: the same
 * midpoints unless an epsilon lands within rounding of the target).
 */
#include "datamodel.h"
#include "../unit/check.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void test_opacus_grid(json_t *cases)
{
    size_t i, n = 0, bad = 0;
    json_t *c;
    double worst = 0;
    json_array_foreach(cases, i, c) {
        double eps = NAN, order = NAN, want = num(c, "epsilon"), want_order = num(c, "order");
        uint64_t steps = (uint64_t)json_integer_value(json_object_get(c, "steps"));
        CHECK(dm_dp_epsilon(num(c, "sigma"), num(c, "q"), steps, num(c, "delta"), &eps, &order) == DM_OK);
        double rel = fabs(eps - want) / fmax(fabs(want), 1e-300);
        if (isinf(want) && isinf(eps)) rel = 0;
        worst = fmax(worst, rel);
        if (!(rel <= 1e-9) || order != want_order) {
            if (bad++ < 5)
                fprintf(stderr, "sigma %g q %g steps %llu delta %g: epsilon %.15g (order %g), Opacus %.15g (order %g)\n",
                        num(c, "sigma"), num(c, "q"), (unsigned long long)steps, num(c, "delta"), eps, order, want,
                        want_order);
        }
        n++;
    }
    printf("  epsilon: %zu Opacus cases, worst relative difference %.3g, %zu off\n", n, worst, bad);
    CHECK(n > 300 && bad == 0);
}

static void test_opacus_noise(json_t *cases)
{
    size_t i, n = 0, bad = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        double sigma = NAN;
        uint64_t steps = (uint64_t)json_integer_value(json_object_get(c, "steps"));
        dm_status s = dm_dp_noise_multiplier(num(c, "epsilon"), num(c, "delta"), num(c, "q"), steps,
                                             num(c, "tolerance"), &sigma);
        int ok;
        if (json_object_get(c, "error")) ok = s == DM_ERR_RANGE && strstr(dm_last_error(), "budget is too small");
        else ok = s == DM_OK && fabs(sigma - num(c, "noise")) <= 1e-9 * num(c, "noise");
        if (!ok && bad++ < 5)
            fprintf(stderr, "epsilon %g q %g steps %llu tol %g: %s %.12g, Opacus %.12g\n", num(c, "epsilon"),
                    num(c, "q"), (unsigned long long)steps, num(c, "tolerance"), dm_status_name(s), sigma,
                    num(c, "noise"));
        if (ok && s == DM_OK) {
            /* its epsilon is within the budget, and within the tolerance of it */
            double eps;
            CHECK(dm_dp_epsilon(sigma, num(c, "q"), steps, num(c, "delta"), &eps, NULL) == DM_OK);
            CHECK(eps <= num(c, "epsilon") && num(c, "epsilon") - eps <= num(c, "tolerance"));
        }
        n++;
    }
    printf("  noise multiplier: %zu Opacus searches, %zu off\n", n, bad);
    CHECK(n > 30 && bad == 0);
}

/* The issue's vectors (Opacus' own tests). */
static void test_issue_vectors(void)
{
    double eps, order, sigma;
    CHECK(dm_dp_epsilon(1.5, 0.04, 2250, 1e-5, &eps, &order) == DM_OK);
    printf("  sigma 1.5, q 0.04, 2250 steps, delta 1e-5: epsilon %.11f (order %g)\n", eps, order);
    CHECK(fabs(eps - 7.32911117143) <= 1e-9);
    CHECK(dm_dp_noise_multiplier(8.0, 1e-5, 0.04, (uint64_t)(90 / 0.04), 0.01, &sigma) == DM_OK);
    printf("  epsilon 8, delta 1e-5, q 0.04, 90 epochs: noise multiplier %.6f\n", sigma);
    CHECK(fabs(sigma - 1.416) <= 0.01);
}

static void test_edges_and_bad_input(void)
{
    double eps, order, sigma;
    CHECK(dm_dp_epsilon(1.0, 0.01, 0, 1e-5, &eps, &order) == DM_OK && eps == 0.0); /* nothing released */
    CHECK(dm_dp_epsilon(1.0, 0.0, 100, 1e-5, &eps, NULL) == DM_OK && eps == 0.0);
    CHECK(dm_dp_epsilon(0.0, 0.01, 100, 1e-5, &eps, NULL) == DM_OK && isinf(eps)); /* no noise: no privacy */
    CHECK(dm_dp_noise_multiplier(1.0, 1e-5, 0.01, 0, 0, &sigma) == DM_OK && sigma == 0.0);
    /* more steps, a higher rate or less noise never spend less */
    double a, b, c2, d;
    CHECK(dm_dp_epsilon(1.0, 0.01, 1000, 1e-5, &a, NULL) == DM_OK && dm_dp_epsilon(1.0, 0.01, 2000, 1e-5, &b, NULL) == DM_OK);
    CHECK(dm_dp_epsilon(1.0, 0.02, 1000, 1e-5, &c2, NULL) == DM_OK && dm_dp_epsilon(0.9, 0.01, 1000, 1e-5, &d, NULL) == DM_OK);
    CHECK(b > a && c2 > a && d > a);
    CHECK_FAILS(dm_dp_epsilon(1.0, 1.5, 10, 1e-5, &eps, NULL), DM_ERR_INVALID_ARGUMENT, "sample_rate must be in [0, 1]");
    CHECK_FAILS(dm_dp_epsilon(1.0, -0.1, 10, 1e-5, &eps, NULL), DM_ERR_INVALID_ARGUMENT, "got -0.1");
    CHECK_FAILS(dm_dp_epsilon(1.0, 0.1, 10, 0.0, &eps, NULL), DM_ERR_INVALID_ARGUMENT, "delta must be in (0, 1)");
    CHECK_FAILS(dm_dp_epsilon(1.0, 0.1, 10, 1.0, &eps, NULL), DM_ERR_INVALID_ARGUMENT, "delta must be in (0, 1)");
    CHECK_FAILS(dm_dp_epsilon(-1.0, 0.1, 10, 1e-5, &eps, NULL), DM_ERR_INVALID_ARGUMENT, "noise_multiplier");
    CHECK_FAILS(dm_dp_epsilon(NAN, 0.1, 10, 1e-5, &eps, NULL), DM_ERR_INVALID_ARGUMENT, "noise_multiplier");
    CHECK_FAILS(dm_dp_epsilon(1.0, 0.1, 10, 1e-5, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_dp_noise_multiplier(0.0, 1e-5, 0.1, 10, 0, &sigma), DM_ERR_INVALID_ARGUMENT, "epsilon must be");
    CHECK_FAILS(dm_dp_noise_multiplier(-2.0, 1e-5, 0.1, 10, 0, &sigma), DM_ERR_INVALID_ARGUMENT, "got -2");
    CHECK_FAILS(dm_dp_noise_multiplier(INFINITY, 1e-5, 0.1, 10, 0, &sigma), DM_ERR_INVALID_ARGUMENT, "epsilon");
    CHECK_FAILS(dm_dp_noise_multiplier(1.0, 2.0, 0.1, 10, 0, &sigma), DM_ERR_INVALID_ARGUMENT, "delta");
    CHECK_FAILS(dm_dp_noise_multiplier(1.0, 1e-5, 1.1, 10, 0, &sigma), DM_ERR_INVALID_ARGUMENT, "sample_rate");
    CHECK_FAILS(dm_dp_noise_multiplier(1.0, 1e-5, 0.1, 10, -1.0, &sigma), DM_ERR_INVALID_ARGUMENT, "tolerance");
    CHECK_FAILS(dm_dp_noise_multiplier(1e-4, 1e-5, 1.0, 1000000, 0, &sigma), DM_ERR_RANGE, "budget is too small");
}

int main(void)
{
    const char *root = getenv("SRCROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/privacy/fixtures/dp_vectors.json", root ? root : ".");
    json_error_t err;
    json_t *v = json_load_file(path, 0, &err);
    if (!v) {
        fprintf(stderr, "%s: %s (line %d)\n", path, err.text, err.line);
        return 1;
    }
    printf("DP accountant against Opacus %s\n", json_string_value(json_object_get(v, "opacus")));
    test_issue_vectors();
    test_opacus_grid(json_object_get(v, "epsilon"));
    test_opacus_noise(json_object_get(v, "noise"));
    test_edges_and_bad_input();
    json_decref(v);
    return check_summary();
}
