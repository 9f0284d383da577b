/*
 * dm_dp.c — differential privacy accounting for DP-SGD:
 *
 *   dm dp epsilon --noise SIGMA --sample-rate Q --steps N --delta D    the epsilon spent
 *                 [--accountant rdp|prv [--eps-error E]]
 *   dm dp noise --epsilon E --delta D --sample-rate Q --steps N        the noise for a budget
 *   dm dp audit --canaries M --guesses R --correct V [--delta D] [--beta B]
 *                                                      the epsilon a one-run audit certifies
 *   dm dp norms ...                                    per-example gradient norms (dm_dp_norms.c)
 *
 * Thin over dm_dp_epsilon and dm_dp_noise_multiplier (Opacus' RDP
 * accountant), dm_dp_epsilon_prv (Opacus' PRV accountant) and dm_dp_audit_epsilon (Steinke, Nasr and Jagielski 2023). The tool only turns the training's terms (epochs, batch size
 * and rows) into the accountant's (steps, sampling rate); the library checks
 * the values and names what is wrong.
 */
#include "commands.h"

#include <math.h>

/* ------------------------------------------------------------------ help */

const char help_dp[] =
    "usage: dm dp epsilon --noise SIGMA --sample-rate Q (--steps N | --epochs E) --delta D\n"
    "                     [--accountant rdp|prv] [--eps-error E] [--json]\n"
    "       dm dp noise --epsilon E --delta D --sample-rate Q (--steps N | --epochs E)\n"
    "                   [--tolerance T] [--json]\n"
    "       dm dp audit --canaries M --guesses R --correct V [--delta D] [--beta B] [--json]\n"
    "       dm dp norms --model DIR --data FILE [--batch-size B] [--max-length L] [--json]\n"
    "\n"
    "The privacy of DP-SGD training (Poisson sampling of rows, per-example clipping, Gaussian\n"
    "noise), by the Renyi-DP accountant computed as Opacus' RDPAccountant (the same epsilon to\n"
    "1e-9). dp epsilon prints the (epsilon, delta) that N steps spend and the Renyi order that gave\n"
    "it (--accountant prv: Opacus' PRV accountant instead, tighter for many steps); dp noise prints the smallest noise multiplier found (as Opacus' get_noise_multiplier)\n"
    "whose epsilon stays within E, and the epsilon it spends.\n"
    "\n"
    "  --noise SIGMA             the noise multiplier: noise std / clipping norm (dp epsilon;\n"
    "                            also --noise-multiplier); 0 spends an infinite epsilon\n"
    "  --epsilon E               the privacy budget, > 0 (dp noise)\n"
    "  --delta D                 in (0, 1), usually below 1 / rows (required)\n"
    "  --sample-rate Q           the probability that a step samples a row, in [0, 1]: the\n"
    "                            expected batch size over the rows\n"
    "  --batch-size B --rows N   instead of --sample-rate: Q = B / N\n"
    "  --steps N                 the training steps\n"
    "  --epochs E                instead of --steps: floor(E / Q) steps, as Opacus counts them\n"
    "  --accountant A            dp epsilon: rdp (default) or prv (Opacus' PRVAccountant: its\n"
    "                            upper bound, from FFT composition of the privacy loss)\n"
    "  --eps-error E             dp epsilon --accountant prv: the accuracy of epsilon, >= 0\n"
    "                            (default, and 0: 0.01, Opacus'); a smaller E costs time, memory\n"
    "  --tolerance T             dp noise: the search stops when the epsilon spent is within T\n"
    "                            below E (default, and 0: 0.01, Opacus')\n"
    "  --json                    one JSON object instead: epsilon, order, delta, steps,\n"
    "                            noise_multiplier, sample_rate (dp epsilon: also accountant, and\n"
    "                            for prv eps_error, with order null; dp noise: also target_epsilon);\n"
    "                            an infinite epsilon or an undefined order is null\n"
    "\n"
    "Nothing released (0 steps, or Q 0) spends epsilon 0 and needs no noise.\n"
    "\n"
    "dp audit prints the lower bound on epsilon that a one-run privacy audit certifies (Steinke,\n"
    "Nasr and Jagielski, \"Privacy Auditing with One (1) Training Run\", NeurIPS 2023, Corollary\n"
    "5.4): M canaries, each put in the training set with probability 1/2, R membership guesses\n"
    "(the rest abstained), V of them right. A run that were (epsilon, D)-DP for any smaller epsilon\n"
    "would get V or more right with probability below B. 0 when nothing is certified.\n"
    "\n"
    "  --canaries M              the canaries (each in or out of training by a fair coin)\n"
    "  --guesses R               the guesses made, at most M\n"
    "  --correct V               the right guesses, at most R\n"
    "  --delta D                 the delta of the (epsilon, delta)-DP tested, in [0, 1) (default 0)\n"
    "  --beta B                  1 - the confidence, in (0, 1) (default 0.05: 95%)\n"
    "  --json                    one JSON object instead: epsilon_lb, canaries, guesses, correct,\n"
    "                            delta, beta\n"
    "\n"
    "dp norms prints the quantiles of each example's gradient norm under a model, what the\n"
    "clipping of dm train --dp-max-grad-norm C sees (dm dp norms --help).\n"
    "\n"
    "Errors: exit 1 with the library's message for values out of range, or a budget that even a\n"
    "noise multiplier of 1e6 does not meet; exit 2 for missing or conflicting options.\n";

/* ------------------------------------------------------------------ options */

typedef struct {
    bool noise_cmd;                     /* dp noise, else dp epsilon */
    const char *noise, *epsilon, *delta, *rate, *steps, *epochs, *batch, *rows, *tolerance, *accountant, *eps_error;
    bool json;
} dp_args;

static int dp_options(int argc, char **argv, dp_args *d)
{
    const char *cmd = d->noise_cmd ? "dp noise" : "dp epsilon";
    args_t a = {argc, 0, argv};
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i], **field = NULL;
        if (is_opt(arg, NULL, "--json")) d->json = true;
        else if (!d->noise_cmd && (is_opt(arg, NULL, "--noise") || is_opt(arg, NULL, "--noise-multiplier")))
            field = &d->noise;
        else if (d->noise_cmd && is_opt(arg, NULL, "--epsilon")) field = &d->epsilon;
        else if (d->noise_cmd && is_opt(arg, NULL, "--tolerance")) field = &d->tolerance;
        else if (!d->noise_cmd && is_opt(arg, NULL, "--accountant")) field = &d->accountant;
        else if (!d->noise_cmd && is_opt(arg, NULL, "--eps-error")) field = &d->eps_error;
        else if (is_opt(arg, NULL, "--delta")) field = &d->delta;
        else if (is_opt(arg, NULL, "--sample-rate")) field = &d->rate;
        else if (is_opt(arg, NULL, "--steps")) field = &d->steps;
        else if (is_opt(arg, NULL, "--epochs")) field = &d->epochs;
        else if (is_opt(arg, NULL, "--batch-size")) field = &d->batch;
        else if (is_opt(arg, NULL, "--rows")) field = &d->rows;
        else if (arg[0] == '-' && arg[1]) return usage_error("%s: unknown option '%s'", cmd, arg);
        else return usage_error("%s: unexpected argument '%s'", cmd, arg);
        if (field) NEED_VALUE(*field, arg);
    }
    if (!d->noise_cmd && !d->noise) return usage_error("%s needs --noise SIGMA", cmd);
    if (d->noise_cmd && !d->epsilon) return usage_error("%s needs --epsilon E", cmd);
    if (!d->delta) return usage_error("%s needs --delta D", cmd);
    if (d->rate && (d->batch || d->rows))
        return usage_error("%s: give --sample-rate or --batch-size with --rows, not both", cmd);
    if (!d->rate && !(d->batch && d->rows))
        return usage_error("%s needs --sample-rate Q (or --batch-size B and --rows N)", cmd);
    if (d->steps && d->epochs) return usage_error("%s: give --steps or --epochs, not both", cmd);
    if (!d->steps && !d->epochs) return usage_error("%s needs --steps N or --epochs E", cmd);
    if (d->accountant && strcmp(d->accountant, "rdp") != 0 && strcmp(d->accountant, "prv") != 0)
        return usage_error("%s: --accountant is rdp or prv, not '%s'", cmd, d->accountant);
    if (d->eps_error && !(d->accountant && strcmp(d->accountant, "prv") == 0))
        return usage_error("%s: --eps-error is for --accountant prv", cmd);
    return 0;
}

/* A number for option NAME; its range is the library's to check (a value it
 * refuses is its message, exit 1). */
static int number_opt(const char *name, const char *v, double *out)
{
    if (!parse_double(v, out)) return usage_error("%s: '%s' is not a number", name, v);
    return 0;
}

/* The accountant's terms: the sampling rate and the steps, from either form. */
static int rate_and_steps(const dp_args *d, double *q, uint64_t *steps)
{
    int rc;
    if (d->rate) {
        if ((rc = number_opt("--sample-rate", d->rate, q))) return rc;
    } else {
        uint64_t b, n;
        if (!parse_u64(d->batch, &b)) return usage_error("--batch-size: '%s' is not a count", d->batch);
        if (!parse_u64(d->rows, &n) || n == 0)
            return usage_error("--rows: '%s' is not a count of at least 1", d->rows);
        *q = (double)b / (double)n; /* above 1 when B > N: the library says so */
    }
    if (d->steps) {
        if (!parse_u64(d->steps, steps)) return usage_error("--steps: '%s' is not a count", d->steps);
        return 0;
    }
    double e;
    if (!parse_double(d->epochs, &e) || e < 0) return usage_error("--epochs: '%s' is not a number >= 0", d->epochs);
    /* Opacus' int(epochs / sample_rate). A rate outside (0, 1] is the
     * library's to refuse, or (0) releases nothing: no steps either way. */
    double s = *q > 0.0 && *q <= 1.0 ? floor(e / *q) : 0.0;
    if (!(s < 18446744073709551616.0)) /* 2^64 */
        return usage_error("--epochs: %s epochs at rate %g are too many steps", d->epochs, *q);
    *steps = (uint64_t)s;
    return 0;
}

/* ------------------------------------------------------------------ output */

/* X as the shortest text that reads back as X ("0.04", not
 * "0.040000000000000001"), or null where JSON has no number (inf, NaN). */
static void json_number(const char *key, double x, const char *sep)
{
    char buf[32] = "null";
    for (int digits = 1; isfinite(x) && digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    printf("\"%s\": %s%s", key, buf, sep);
}

/* " (Renyi order A)" or why there is none. */
static const char *order_note(double eps, double order, char *buf, size_t cap)
{
    if (isinf(eps)) return " (no noise: no privacy)";
    if (isnan(order)) return " (nothing released)";
    snprintf(buf, cap, " (Renyi order %g)", order);
    return buf;
}

/* The JSON object of both commands; TARGET (dp noise) is left out when NaN,
 * ACCOUNTANT (dp epsilon) when NULL, EPS_ERROR when NaN. */
static int print_json(double eps, double order, double delta, uint64_t steps, double sigma, double q, double target,
                      const char *accountant, double eps_error)
{
    fputc('{', stdout);
    if (accountant) printf("\"accountant\": \"%s\", ", accountant);
    if (!isnan(eps_error)) json_number("eps_error", eps_error, ", ");
    json_number("epsilon", eps, ", ");
    json_number("order", isinf(eps) ? NAN : order, ", "); /* no order gives a finite epsilon */
    json_number("delta", delta, ", ");
    printf("\"steps\": %llu, ", (unsigned long long)steps);
    json_number("noise_multiplier", sigma, ", ");
    json_number("sample_rate", q, isnan(target) ? "" : ", ");
    if (!isnan(target)) json_number("target_epsilon", target, "");
    fputs("}\n", stdout);
    return fflush(stdout) != 0;
}

/* ------------------------------------------------------------------ commands */

static int cmd_dp_epsilon(int argc, char **argv)
{
    dp_args d = {0};
    double sigma, delta, q, eps, order = NAN, eps_error = 0.0;
    uint64_t steps;
    int rc = dp_options(argc, argv, &d);
    if (!rc) rc = number_opt("--noise", d.noise, &sigma);
    if (!rc) rc = number_opt("--delta", d.delta, &delta);
    if (!rc && d.eps_error) rc = number_opt("--eps-error", d.eps_error, &eps_error);
    if (!rc) rc = rate_and_steps(&d, &q, &steps);
    if (rc) return rc;
    if (d.accountant && strcmp(d.accountant, "prv") == 0) {
        if (dm_dp_epsilon_prv(sigma, q, steps, delta, eps_error, &eps)) return fail_lib("dp epsilon");
        if (eps_error == 0.0) eps_error = 0.01; /* the library's default */
        if (d.json) return print_json(eps, NAN, delta, steps, sigma, q, NAN, "prv", eps_error);
        printf("epsilon %f at delta %g (PRV accountant, eps_error %g) after %llu steps\n", eps, delta, eps_error,
               (unsigned long long)steps);
        return fflush(stdout) != 0;
    }
    if (dm_dp_epsilon(sigma, q, steps, delta, &eps, &order)) return fail_lib("dp epsilon");
    if (d.json) return print_json(eps, order, delta, steps, sigma, q, NAN, "rdp", NAN);
    char note[64];
    printf("epsilon %f at delta %g%s after %llu steps\n", eps, delta, order_note(eps, order, note, sizeof note),
           (unsigned long long)steps);
    return fflush(stdout) != 0;
}

static int cmd_dp_noise(int argc, char **argv)
{
    dp_args d = {.noise_cmd = true};
    double target, delta, q, tolerance = 0.0, sigma, eps, order;
    uint64_t steps;
    int rc = dp_options(argc, argv, &d);
    if (!rc) rc = number_opt("--epsilon", d.epsilon, &target);
    if (!rc) rc = number_opt("--delta", d.delta, &delta);
    if (!rc && d.tolerance) rc = number_opt("--tolerance", d.tolerance, &tolerance);
    if (!rc) rc = rate_and_steps(&d, &q, &steps);
    if (rc) return rc;
    if (dm_dp_noise_multiplier(target, delta, q, steps, tolerance, &sigma)) return fail_lib("dp noise");
    /* What the answer spends: the search's last epsilon, recomputed with its order. */
    if (dm_dp_epsilon(sigma, q, steps, delta, &eps, &order)) return fail_lib("dp noise");
    if (d.json) return print_json(eps, order, delta, steps, sigma, q, target, NULL, NAN);
    char note[64];
    printf("noise multiplier %f spends epsilon %f of %g at delta %g%s after %llu steps\n", sigma, eps, target, delta,
           order_note(eps, order, note, sizeof note), (unsigned long long)steps);
    return fflush(stdout) != 0;
}

/* dm dp audit: its own options (counts, and delta 0 allowed). */
static int cmd_dp_audit(int argc, char **argv)
{
    const char *canaries = NULL, *guesses = NULL, *correct = NULL, *delta_s = NULL, *beta_s = NULL;
    bool json = false;
    args_t a = {argc, 0, argv};
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i], **field = NULL;
        if (is_opt(arg, NULL, "--json")) json = true;
        else if (is_opt(arg, NULL, "--canaries")) field = &canaries;
        else if (is_opt(arg, NULL, "--guesses")) field = &guesses;
        else if (is_opt(arg, NULL, "--correct")) field = &correct;
        else if (is_opt(arg, NULL, "--delta")) field = &delta_s;
        else if (is_opt(arg, NULL, "--beta")) field = &beta_s;
        else if (arg[0] == '-' && arg[1]) return usage_error("dp audit: unknown option '%s'", arg);
        else return usage_error("dp audit: unexpected argument '%s'", arg);
        if (field) NEED_VALUE(*field, arg);
    }
    if (!canaries) return usage_error("dp audit needs --canaries M");
    if (!guesses) return usage_error("dp audit needs --guesses R");
    if (!correct) return usage_error("dp audit needs --correct V");
    uint64_t m, r, v;
    double delta = 0.0, beta = 0.05, eps;
    if (!parse_u64(canaries, &m)) return usage_error("--canaries: '%s' is not a count", canaries);
    if (!parse_u64(guesses, &r)) return usage_error("--guesses: '%s' is not a count", guesses);
    if (!parse_u64(correct, &v)) return usage_error("--correct: '%s' is not a count", correct);
    int rc = 0;
    if (delta_s) rc = number_opt("--delta", delta_s, &delta);
    if (!rc && beta_s) rc = number_opt("--beta", beta_s, &beta);
    if (rc) return rc;
    if (dm_dp_audit_epsilon(m, r, v, delta, beta, &eps)) return fail_lib("dp audit");
    if (json) {
        fputc('{', stdout);
        json_number("epsilon_lb", eps, ", ");
        printf("\"canaries\": %llu, \"guesses\": %llu, \"correct\": %llu, ", (unsigned long long)m,
               (unsigned long long)r, (unsigned long long)v);
        json_number("delta", delta, ", ");
        json_number("beta", beta, "");
        fputs("}\n", stdout);
        return fflush(stdout) != 0;
    }
    printf("epsilon >= %f at delta %g with confidence %g (%llu of %llu guesses right, %llu canaries)\n", eps, delta,
           1.0 - beta, (unsigned long long)v, (unsigned long long)r, (unsigned long long)m);
    return fflush(stdout) != 0;
}

int cmd_dp(int argc, char **argv)
{
    if (argc < 2 || is_opt(argv[1], "-h", "--help") || strcmp(argv[1], "help") == 0) {
        fputs(help_dp, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (int i = 2; i < argc; i++)
        if (is_opt(argv[i], "-h", "--help")) {
            fputs(strcmp(argv[1], "norms") == 0 ? help_dp_norms : help_dp, stdout);
            return 0;
        }
    if (strcmp(argv[1], "epsilon") == 0) return cmd_dp_epsilon(argc - 1, argv + 1);
    if (strcmp(argv[1], "noise") == 0) return cmd_dp_noise(argc - 1, argv + 1);
    if (strcmp(argv[1], "audit") == 0) return cmd_dp_audit(argc - 1, argv + 1);
    if (strcmp(argv[1], "norms") == 0) return cmd_dp_norms(argc - 1, argv + 1);
    return usage_error("unknown dp command '%s' (epsilon, noise, audit, norms)", argv[1]);
}
