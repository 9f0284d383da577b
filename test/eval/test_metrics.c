/* test_metrics.c — lib/eval against scikit-learn's answers on the cases of
 * fixtures/metrics_cases.json (written by gen_metrics_fixtures.py), the JSON
 * and text reports, and every bad-input path.
 *
 * Usage: test_metrics FIXTURE.json */
#include "datamodel.h"
#include "../unit/check.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Counts and the confusion matrix must be equal. Ratios are the same double
 * formulas on the same integer counts, and lib/eval adds means up in numpy's
 * pairwise order, so today they agree to the last bit; the 1e-12 relative
 * allowance is for summation order alone (another numpy, another order). */
#define RATIO_TOL 1e-12
/* Log loss and AUC sum thousands of float32 -> double terms (sklearn's AUC is
 * a floating trapezoid where ours counts pairs in whole numbers; log loss
 * rests on the platform's log): they differ by an ulp or so; 1e-9 relative. */
#define PROB_TOL 1e-9
/* sklearn's own log_loss of float32 input does its arithmetic in float32. */
#define FLOAT32_TOL 1e-6

static const char *current_case = "";

static int close_rel(double got, double want, double tol)
{
    if (isnan(got) || isnan(want)) return isnan(got) && isnan(want);
    return fabs(got - want) <= tol * fmax(fabs(got), fabs(want));
}

static int ratios_compared, ratios_identical; /* informative: how many agree to the bit */

static void check_close(double got, double want, double tol, const char *what, int line)
{
    if (tol == RATIO_TOL) ratios_compared++, ratios_identical += got == want;
    if (close_rel(got, want, tol)) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "%s:%d: case %s: %s = %.17g, want %.17g (tolerance %g)\n", __FILE__, line,
                current_case, what, got, want, tol);
    }
}
#define CHECK_CLOSE(got, want, tol, what) check_close((got), (want), (tol), (what), __LINE__)

/* A number of the fixture; null (an undefined metric) is NaN. */
static double num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ------------------------------------------------------------------------ */
/* The fixture's cases                                                       */
/* ------------------------------------------------------------------------ */

typedef struct test_case {
    const char *name;
    size_t n, n_classes;
    int32_t *y_true, *y_pred;
    float *probs;       /* NULL when the case has none */
    const char **names; /* NULL: default names */
    const json_t *expected;
} test_case;

static int32_t *read_ids(const json_t *arr)
{
    int32_t *ids = malloc((json_array_size(arr) + 1) * sizeof *ids);
    for (size_t i = 0; i < json_array_size(arr); i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

/* The fixture writes each float32 as the shortest decimal of its double, so
 * the double narrows to float without rounding. */
static float *read_probs(const json_t *arr)
{
    if (!json_is_array(arr)) return NULL;
    float *p = malloc((json_array_size(arr) + 1) * sizeof *p);
    int exact = 1;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        double d = json_number_value(json_array_get(arr, i));
        p[i] = (float)d;
        exact &= (double)p[i] == d;
    }
    CHECK(exact);
    return p;
}

static const char **read_names(const json_t *arr)
{
    if (!json_is_array(arr)) return NULL;
    const char **names = malloc((json_array_size(arr) + 1) * sizeof *names);
    for (size_t i = 0; i < json_array_size(arr); i++) names[i] = json_string_value(json_array_get(arr, i));
    return names;
}

static test_case read_case(const json_t *c)
{
    test_case t;
    t.name = json_string_value(json_object_get(c, "name"));
    t.n_classes = (size_t)json_integer_value(json_object_get(c, "n_classes"));
    t.n = json_array_size(json_object_get(c, "y_true"));
    t.y_true = read_ids(json_object_get(c, "y_true"));
    t.y_pred = read_ids(json_object_get(c, "y_pred"));
    t.probs = read_probs(json_object_get(c, "probs"));
    t.names = read_names(json_object_get(c, "label_names"));
    t.expected = json_object_get(c, "expected");
    return t;
}

static void free_case(test_case *t)
{
    free(t->y_true);
    free(t->y_pred);
    free(t->probs);
    free(t->names);
}

/* ------------------------------------------------------------------------ */
/* Checks of one report                                                      */
/* ------------------------------------------------------------------------ */

static void check_names(const test_case *t, const dm_eval_report *r)
{
    for (size_t c = 0; c < t->n_classes; c++) {
        char dflt[24];
        snprintf(dflt, sizeof dflt, "%zu", c);
        CHECK(strcmp(r->label_names[c], t->names ? t->names[c] : dflt) == 0);
    }
}

static void check_counts(const test_case *t, const dm_eval_report *r)
{
    const json_t *e = t->expected, *cm = json_object_get(e, "confusion_matrix");
    CHECK(r->n_examples == t->n);
    CHECK(r->n_classes == t->n_classes);
    int same = 1;
    for (size_t i = 0; i < t->n_classes; i++)
        for (size_t j = 0; j < t->n_classes; j++)
            same &= r->confusion[i * t->n_classes + j] ==
                    (uint64_t)json_integer_value(json_array_get(json_array_get(cm, i), j));
    CHECK(same);
    for (size_t c = 0; c < t->n_classes; c++) {
        const json_t *want = json_array_get(json_object_get(e, "per_class"), c);
        CHECK(r->per_class[c].support == (uint64_t)json_integer_value(json_object_get(want, "support")));
    }
}

static void check_ratios(const test_case *t, const dm_eval_report *r)
{
    const json_t *e = t->expected;
    CHECK_CLOSE(r->accuracy, num(e, "accuracy"), RATIO_TOL, "accuracy");
    CHECK_CLOSE(r->macro_precision, num(e, "macro_precision"), RATIO_TOL, "macro_precision");
    CHECK_CLOSE(r->macro_recall, num(e, "macro_recall"), RATIO_TOL, "macro_recall");
    CHECK_CLOSE(r->macro_f1, num(e, "macro_f1"), RATIO_TOL, "macro_f1");
    CHECK_CLOSE(r->weighted_precision, num(e, "weighted_precision"), RATIO_TOL, "weighted_precision");
    CHECK_CLOSE(r->weighted_recall, num(e, "weighted_recall"), RATIO_TOL, "weighted_recall");
    CHECK_CLOSE(r->weighted_f1, num(e, "weighted_f1"), RATIO_TOL, "weighted_f1");
    for (size_t c = 0; c < t->n_classes; c++) {
        const json_t *want = json_array_get(json_object_get(e, "per_class"), c);
        CHECK_CLOSE(r->per_class[c].precision, num(want, "precision"), RATIO_TOL, "precision");
        CHECK_CLOSE(r->per_class[c].recall, num(want, "recall"), RATIO_TOL, "recall");
        CHECK_CLOSE(r->per_class[c].f1, num(want, "f1"), RATIO_TOL, "f1");
        CHECK_CLOSE(r->per_class[c].roc_auc, num(want, "roc_auc"), PROB_TOL, "per-class roc_auc");
    }
}

static int sklearn_auc_raises; /* cases where sklearn raises (rows not summing to 1) and we score as given */
static int sklearn_auc_nan;    /* cases where sklearn's average is NaN: ours must be too */

static void check_probabilistic(const test_case *t, const dm_eval_report *r)
{
    const json_t *e = t->expected;
    CHECK_CLOSE(r->log_loss, num(e, "log_loss"), PROB_TOL, "log_loss");
    CHECK_CLOSE(r->log_loss, num(e, "log_loss_sklearn_float32"), FLOAT32_TOL, "log_loss vs float32");
    CHECK_CLOSE(r->roc_auc, num(e, "roc_auc"), PROB_TOL, "roc_auc");
    double sk = num(e, "roc_auc_sklearn");
    const char *note = json_string_value(json_object_get(e, "roc_auc_sklearn_note"));
    if (!isnan(sk)) {
        CHECK_CLOSE(r->roc_auc, sk, PROB_TOL, "roc_auc vs sklearn's own");
    } else if (note && !strncmp(note, "NaN", 3)) {
        CHECK(isnan(r->roc_auc)); /* one class's AUC undefined: the average is too */
        sklearn_auc_nan++;
    } else if (!isnan(r->roc_auc)) {
        sklearn_auc_raises++;
    }
    CHECK(isnan(r->loss));
}

/* Our text is sklearn's classification_report, a blank line, the matrix. */
static void check_text(const test_case *t, const dm_eval_report *r, int digits)
{
    char key[32];
    snprintf(key, sizeof key, "report_digits_%d", digits);
    const char *want = json_string_value(json_object_get(t->expected, key));
    char *text = NULL;
    size_t len = 0;
    CHECK(dm_eval_report_text(r, digits, &text, &len) == DM_OK);
    if (!text) return;
    size_t wlen = strlen(want);
    int same = len > wlen && strncmp(text, want, wlen) == 0 &&
               strncmp(text + wlen, "\nconfusion matrix", 17) == 0;
    CHECK(same);
    if (!same) fprintf(stderr, "case %s, digits %d: got\n%s\nwant\n%s\n", t->name, digits, text, want);
    CHECK(strlen(text) == len);
    dm_free(text);
}

static void check_json_number(const json_t *o, const char *key, double want)
{
    double got = num(o, key);
    int same = isnan(want) ? json_is_null(json_object_get(o, key)) : got == want;
    CHECK(same);
    if (!same) fprintf(stderr, "case %s: JSON %s = %.17g, want %.17g\n", current_case, key, got, want);
}

static void check_json_class(const json_t *o, const dm_class_metrics *m)
{
    CHECK(json_is_object(o));
    check_json_number(o, "precision", m->precision);
    check_json_number(o, "recall", m->recall);
    check_json_number(o, "f1", m->f1);
    check_json_number(o, "roc_auc", m->roc_auc);
    CHECK((uint64_t)json_integer_value(json_object_get(o, "support")) == m->support);
}

/* The JSON parsed back gives the report's doubles exactly (17 digits). */
static void check_json(const dm_eval_report *r)
{
    char *text = NULL;
    size_t len = 0;
    CHECK(dm_eval_report_json(r, &text, &len) == DM_OK);
    if (!text) return;
    CHECK(strlen(text) == len);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    CHECK(j != NULL);
    dm_free(text);
    if (!j) return;
    CHECK((size_t)json_integer_value(json_object_get(j, "n_examples")) == r->n_examples);
    CHECK((size_t)json_integer_value(json_object_get(j, "n_classes")) == r->n_classes);
    const char *keys[] = {"accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
                          "weighted_recall", "weighted_f1", "log_loss", "roc_auc", "loss"};
    const double values[] = {r->accuracy, r->macro_precision, r->macro_recall, r->macro_f1,
                             r->weighted_precision, r->weighted_recall, r->weighted_f1, r->log_loss,
                             r->roc_auc, r->loss};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) check_json_number(j, keys[i], values[i]);
    const json_t *labels = json_object_get(j, "labels"), *per_class = json_object_get(j, "per_class");
    const json_t *cm = json_object_get(j, "confusion_matrix");
    CHECK(json_array_size(labels) == r->n_classes && json_object_size(per_class) == r->n_classes);
    CHECK(json_array_size(cm) == r->n_classes);
    int same = 1;
    for (size_t c = 0; c < r->n_classes; c++) {
        const char *name = json_string_value(json_array_get(labels, c));
        CHECK(name && strcmp(name, r->label_names[c]) == 0);
        check_json_class(json_object_get(per_class, r->label_names[c]), &r->per_class[c]);
        for (size_t k = 0; k < r->n_classes; k++)
            same &= (uint64_t)json_integer_value(json_array_get(json_array_get(cm, c), k)) ==
                    r->confusion[c * r->n_classes + k];
    }
    CHECK(same);
    json_decref(j);
}

static void check_case(const json_t *c)
{
    test_case t = read_case(c);
    current_case = t.name;
    dm_eval_report *r = NULL;
    dm_status st = dm_metrics_compute(t.n, t.n_classes, t.y_true, t.y_pred, t.probs, t.names, &r);
    CHECK(st == DM_OK);
    if (st) {
        fprintf(stderr, "case %s: %s: %s\n", t.name, dm_status_name(st), dm_last_error());
    } else {
        check_names(&t, r);
        check_counts(&t, r);
        check_ratios(&t, r);
        check_probabilistic(&t, r);
        for (int digits = 0; digits <= 4; digits += 1 + (digits == 2))
            check_text(&t, r, digits); /* 0, 1, 2, 4 */
        check_json(r);
    }
    dm_eval_report_free(r);
    free_case(&t);
}

static int check_fixture(const char *path)
{
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    if (!doc) {
        fprintf(stderr, "%s:%d:%d: %s\n", path, err.line, err.column, err.text);
        return 0;
    }
    const json_t *cases = json_object_get(doc, "cases");
    size_t i;
    const json_t *c;
    json_array_foreach(cases, i, c) check_case(c);
    printf("%zu cases against scikit-learn %s: %d of %d ratios identical to the bit; ROC AUC NaN as "
           "sklearn's in %d cases; %d cases where sklearn raises (rows not summing to 1) and ours scores "
           "the rows as given\n",
           json_array_size(cases), json_string_value(json_object_get(doc, "sklearn_version")),
           ratios_identical, ratios_compared, sklearn_auc_nan, sklearn_auc_raises);
    CHECK(json_array_size(cases) >= 24 && sklearn_auc_nan >= 5);
    json_decref(doc);
    current_case = "";
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Hand-made cases                                                           */
/* ------------------------------------------------------------------------ */

/* The whole text, confusion matrix included, of a small report. */
static void test_text_layout(void)
{
    const int32_t y_true[] = {0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    const int32_t y_pred[] = {0, 1, 1, 1, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0};
    const char *names[] = {"cat", "dog", "hippopotamus"};
    dm_eval_report *r = NULL;
    CHECK(dm_metrics_compute(15, 3, y_true, y_pred, NULL, names, &r) == DM_OK);
    if (!r) return;
    const char *want =
        "              precision    recall  f1-score   support\n"
        "\n"
        "         cat       0.33      0.50      0.40         2\n"
        "         dog       0.67      0.67      0.67         3\n"
        "hippopotamus       1.00      0.90      0.95        10\n"
        "\n"
        "    accuracy                           0.80        15\n"
        "   macro avg       0.67      0.69      0.67        15\n"
        "weighted avg       0.84      0.80      0.82        15\n"
        "\n"
        "confusion matrix (rows: true class, columns: predicted class)\n"
        "\n"
        "               cat  dog  hippopotamus\n"
        "         cat     1    1             0\n"
        "         dog     1    2             0\n"
        "hippopotamus     1    0             9\n";
    /* digits=0 as classification_report(digits=0): whole numbers, 0.5 and 0.67 round
     * to 0 and 1 (half to even). */
    const char *want0 =
        "              precision    recall  f1-score   support\n"
        "\n"
        "         cat          0         0         0         2\n"
        "         dog          1         1         1         3\n"
        "hippopotamus          1         1         1        10\n"
        "\n"
        "    accuracy                              1        15\n"
        "   macro avg          1         1         1        15\n"
        "weighted avg          1         1         1        15\n";
    char *text = NULL, *dflt = NULL;
    CHECK(dm_eval_report_text(r, 2, &text, NULL) == DM_OK);
    CHECK(text && strcmp(text, want) == 0);
    if (text && strcmp(text, want) != 0) fprintf(stderr, "got\n%s\nwant\n%s", text, want);
    CHECK(dm_eval_report_text(r, 0, &dflt, NULL) == DM_OK);
    CHECK(dflt && strncmp(dflt, want0, strlen(want0)) == 0);
    if (dflt && strncmp(dflt, want0, strlen(want0)) != 0) fprintf(stderr, "digits 0: got\n%s\nwant\n%s", dflt, want0);
    /* No probabilities: no log loss, no AUC; the JSON says null. */
    CHECK(isnan(r->log_loss) && isnan(r->roc_auc) && isnan(r->per_class[0].roc_auc));
    check_json(r);
    dm_free(text);
    dm_free(dflt);
    dm_eval_report_free(r);
}

/* Macro AUC over 3 classes when class "c" has no true example: NaN, as
 * sklearn's roc_auc_score(..., labels=[0, 1, 2]); a and b keep theirs. */
static void test_macro_auc_undefined(void)
{
    const int32_t y_true[] = {0, 1, 0, 1}, y_pred[] = {0, 1, 1, 1};
    const float probs[] = {0.6f, 0.3f, 0.1f, 0.2f, 0.7f, 0.1f, 0.4f, 0.5f, 0.1f, 0.1f, 0.8f, 0.1f};
    const char *names[] = {"a", "b", "c"};
    dm_eval_report *r = NULL;
    CHECK(dm_metrics_compute(4, 3, y_true, y_pred, probs, names, &r) == DM_OK);
    if (!r) return;
    CHECK(isnan(r->roc_auc) && isnan(r->per_class[2].roc_auc));
    CHECK(r->per_class[0].roc_auc == 1.0 && r->per_class[1].roc_auc == 1.0);
    char *text = NULL;
    CHECK(dm_eval_report_json(r, &text, NULL) == DM_OK);
    CHECK(text && strstr(text, "\"roc_auc\": null") && strstr(text, "\"roc_auc\": 1.0"));
    dm_free(text);
    dm_eval_report_free(r);
}

/* One class (dm metrics --labels a): one row and the averages, as
 * classification_report(labels=["a"]). */
static void test_one_class(void)
{
    const int32_t ids[] = {0, 0, 0};
    const char *names[] = {"a"};
    dm_eval_report *r = NULL;
    CHECK(dm_metrics_compute(3, 1, ids, ids, NULL, names, &r) == DM_OK);
    if (!r) return;
    CHECK(r->accuracy == 1.0 && r->macro_f1 == 1.0 && r->per_class[0].support == 3 && isnan(r->roc_auc));
    char *text = NULL;
    CHECK(dm_eval_report_text(r, 2, &text, NULL) == DM_OK);
    const char *want = "              precision    recall  f1-score   support\n"
                       "\n"
                       "           a       1.00      1.00      1.00         3\n"
                       "\n"
                       "    accuracy                           1.00         3\n"
                       "   macro avg       1.00      1.00      1.00         3\n"
                       "weighted avg       1.00      1.00      1.00         3\n";
    CHECK(text && strncmp(text, want, strlen(want)) == 0);
    dm_free(text);
    check_json(r);
    dm_eval_report_free(r);
}

static void test_free_null(void)
{
    dm_eval_report_free(NULL);
    CHECK(1);
}

/* ------------------------------------------------------------------------ */
/* Bad input                                                                 */
/* ------------------------------------------------------------------------ */

#define SENTINEL ((dm_eval_report *)&check_passed)

/* A call that must fail with STATUS and NEEDLE and leave the report alone. */
#define CHECK_COMPUTE_FAILS(n, k, yt, yp, probs, names, status, needle)                       \
    do {                                                                                     \
        dm_eval_report *r_ = SENTINEL;                                                       \
        CHECK_FAILS(dm_metrics_compute((n), (k), (yt), (yp), (probs), (names), &r_), (status), \
                    (needle));                                                               \
        CHECK(r_ == SENTINEL);                                                               \
    } while (0)

static void test_bad_arguments(void)
{
    const int32_t yt[] = {0, 1, 2, 1}, yp[] = {0, 2, 2, 1};
    const float probs[] = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.2f, 0.2f, 0.6f, 0.3f, 0.3f, 0.4f};
    CHECK_FAILS(dm_metrics_compute(4, 3, yt, yp, probs, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_COMPUTE_FAILS(4, 3, NULL, yp, probs, NULL, DM_ERR_INVALID_ARGUMENT, "y_true is NULL");
    CHECK_COMPUTE_FAILS(4, 3, yt, NULL, probs, NULL, DM_ERR_INVALID_ARGUMENT, "y_pred is NULL");
    CHECK_COMPUTE_FAILS(0, 3, yt, yp, probs, NULL, DM_ERR_RANGE, "n = 0");
    const int32_t zeros[] = {0, 0, 0, 0};
    const float ones[] = {1, 1, 1, 1};
    CHECK_COMPUTE_FAILS(4, 1, zeros, zeros, ones, NULL, DM_ERR_RANGE,
                        "n_classes = 1 with probabilities: log loss and ROC AUC need at least 2 classes");
    CHECK_COMPUTE_FAILS(4, 0, yt, yp, probs, NULL, DM_ERR_RANGE, "n_classes = 0: metrics need at least one class");
    CHECK_COMPUTE_FAILS(4, (size_t)1 << 40, yt, yp, NULL, NULL, DM_ERR_RANGE, "is too large");
    /* Checked before any array is read. */
    CHECK_COMPUTE_FAILS(SIZE_MAX / 8, 3, yt, yp, probs, NULL, DM_ERR_RANGE, "cannot be addressed");
}

static void test_bad_class_ids(void)
{
    const int32_t yt[] = {0, 1, 2, 1}, yp[] = {0, 2, 2, 1};
    const int32_t yt_big[] = {0, 1, 5, 1}, yp_neg[] = {0, -1, 2, 1};
    CHECK_COMPUTE_FAILS(4, 3, yt_big, yp, NULL, NULL, DM_ERR_RANGE, "y_true[2] = 5 is not a class id (n_classes = 3)");
    CHECK_COMPUTE_FAILS(4, 3, yt, yp_neg, NULL, NULL, DM_ERR_RANGE, "y_pred[1] = -1 is not a class id (n_classes = 3)");
    CHECK_COMPUTE_FAILS(4, 2, yt, yp, NULL, NULL, DM_ERR_RANGE, "y_true[2] = 2 is not a class id (n_classes = 2)");
}

static void test_bad_probabilities(void)
{
    const int32_t yt[] = {0, 1, 2, 1}, yp[] = {0, 2, 2, 1};
    float p[12];
    const float good[12] = {0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.2f, 0.2f, 0.6f, 0.3f, 0.3f, 0.4f};
    memcpy(p, good, sizeof p);
    p[5] = NAN;
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, p, NULL, DM_ERR_NUMERIC, "probs[1][2] is NaN");
    memcpy(p, good, sizeof p);
    p[0] = INFINITY;
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, p, NULL, DM_ERR_NUMERIC, "probs[0][0] = inf is infinite");
    memcpy(p, good, sizeof p);
    p[7] = -0.25f;
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, p, NULL, DM_ERR_RANGE, "probs[2][1] = -0.25 is not a probability (expected 0 <= p <= 1)");
    memcpy(p, good, sizeof p);
    p[11] = 1.5f;
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, p, NULL, DM_ERR_RANGE, "probs[3][2] = 1.5 is not a probability");
    memcpy(p, good, sizeof p);
    p[9] = p[10] = p[11] = 0.0f;
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, p, NULL, DM_ERR_RANGE, "probs row 3 sums to 0");
    /* -0.0 is not negative, and a row that does not sum to 1 is allowed. */
    memcpy(p, good, sizeof p);
    p[3] = -0.0f, p[4] = 0.5f;
    dm_eval_report *r = NULL;
    CHECK(dm_metrics_compute(4, 3, yt, yp, p, NULL, &r) == DM_OK);
    dm_eval_report_free(r);
}

static void test_bad_label_names(void)
{
    const int32_t yt[] = {0, 1, 2, 1}, yp[] = {0, 2, 2, 1};
    const char *with_null[] = {"a", NULL, "c"};
    const char *bad_utf8[] = {"a", "b", "ok\xC3("};
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, NULL, with_null, DM_ERR_INVALID_ARGUMENT, "label_names[1] is NULL");
    CHECK_COMPUTE_FAILS(4, 3, yt, yp, NULL, bad_utf8, DM_ERR_UTF8, "label_names[2] is not valid UTF-8 (byte 2)");
}

static void test_bad_report_arguments(void)
{
    const int32_t yt[] = {0, 1, 2, 1}, yp[] = {0, 2, 2, 1};
    const char *dup[] = {"same", "other", "same"};
    dm_eval_report *r = NULL;
    CHECK(dm_metrics_compute(4, 3, yt, yp, NULL, dup, &r) == DM_OK);
    if (!r) return;
    char *out = (char *)"untouched";
    CHECK_FAILS(dm_eval_report_json(NULL, &out, NULL), DM_ERR_INVALID_ARGUMENT, "report is NULL");
    CHECK_FAILS(dm_eval_report_json(r, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "label_names[2] = \"same\" repeats label_names[0]");
    CHECK_FAILS(dm_eval_report_text(NULL, 2, &out, NULL), DM_ERR_INVALID_ARGUMENT, "report is NULL");
    CHECK_FAILS(dm_eval_report_text(r, 2, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(dm_eval_report_text(r, -1, &out, NULL), DM_ERR_RANGE, "digits = -1");
    CHECK_FAILS(dm_eval_report_text(r, 101, &out, NULL), DM_ERR_RANGE, "digits = 101");
    CHECK(strcmp(out, "untouched") == 0);
    /* The text report does not need distinct names. */
    char *text = NULL;
    CHECK(dm_eval_report_text(r, 3, &text, NULL) == DM_OK);
    dm_free(text);
    /* A report built by hand with a broken name. */
    const char *const *own = r->label_names;
    const char *broken[] = {own[0], "\xFF", own[2]};
    r->label_names = broken;
    CHECK_FAILS(dm_eval_report_json(r, &out, NULL), DM_ERR_UTF8, "label_names[1] is not valid UTF-8");
    CHECK_FAILS(dm_eval_report_text(r, 2, &out, NULL), DM_ERR_UTF8, "dm_eval_report_text: label_names[1]");
    r->label_names = own;
    dm_eval_report_free(r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s metrics_cases.json\n", argv[0]);
        return 2;
    }
    CHECK(check_fixture(argv[1]));
    test_text_layout();
    test_macro_auc_undefined();
    test_one_class();
    test_free_null();
    test_bad_arguments();
    test_bad_class_ids();
    test_bad_probabilities();
    test_bad_label_names();
    test_bad_report_arguments();
    return check_summary();
}
