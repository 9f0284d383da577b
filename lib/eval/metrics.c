/*
 * metrics.c — dm_metrics_compute and dm_eval_report_free.
 *
 * Every metric is scikit-learn 1.9's, computed with its formulas on the same
 * integer counts and added up in numpy's order, so the doubles are its answers
 * to the last bit (log loss and AUC: to a few ulps, see probabilistic.c):
 *   accuracy           accuracy_score: correct / n
 *   per class          precision_recall_fscore_support(labels=range(n_classes),
 *                      zero_division=0): tp / predicted, tp / support,
 *                      2 tp / (support + predicted); 0 when the divisor is 0
 *   macro, weighted    the plain mean over all n_classes, and the mean weighted
 *                      by support, summed in numpy's order (dmi_numpy_sum)
 *   confusion          confusion_matrix(labels=range(n_classes))
 *   log_loss, roc_auc  see probabilistic.c
 */
#include "eval_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DM_API void dm_eval_report_free(dm_eval_report *r)
{
    if (!r) return;
    if (r->label_names) {
        /* The report owns its copies; the const in the public type only keeps
         * callers from writing to them. */
        for (size_t c = 0; c < r->n_classes; c++) free((void *)r->label_names[c]);
        free((void *)r->label_names);
    }
    free(r->per_class);
    free(r->confusion);
    free(r);
}

/* ------------------------------------------------------------------------ */
/* Sums in numpy's order                                                     */
/* ------------------------------------------------------------------------ */

/* numpy's float64 sum (np.add.reduce of a contiguous array: pairwise_sum in
 * numpy/_core/src/umath/loops_utils.h.src), in its very order: under 8 values
 * one after another; up to 128 in 8 running sums, combined as
 * ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), then the rest; beyond,
 * split in two at a multiple of 8. Adding in the same order as sklearn makes
 * our means its means to the last bit, so a report rounded to D digits cannot
 * round the other way at a tie. */
double dmi_numpy_sum(const double *x, size_t n)
{
    if (n < 8) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += x[i];
        return sum;
    }
    if (n <= 128) {
        double s[8];
        memcpy(s, x, sizeof s);
        size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (size_t j = 0; j < 8; j++) s[j] += x[i + j];
        double sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        for (; i < n; i++) sum += x[i];
        return sum;
    }
    size_t half = n / 2;
    half -= half % 8;
    return dmi_numpy_sum(x, half) + dmi_numpy_sum(x + half, n - half);
}

/* ------------------------------------------------------------------------ */
/* Checking the arguments                                                    */
/* ------------------------------------------------------------------------ */

/* One class is allowed: classification_report(labels=[a]) reports it. Its
 * probabilities are not: log_loss refuses a single label, and no
 * one-vs-rest AUC exists without a second class. */
static dm_status check_sizes(size_t n, size_t n_classes, const float *probs)
{
    if (n == 0) return dmi_fail(DM_ERR_RANGE, "n = 0: metrics need at least one example");
    if (n_classes == 0) return dmi_fail(DM_ERR_RANGE, "n_classes = 0: metrics need at least one class");
    if (n_classes == 1 && probs)
        return dmi_fail(DM_ERR_RANGE, "n_classes = 1 with probabilities: log loss and ROC AUC need at least 2 "
                        "classes (pass probs = NULL for the classification report of one class)");
    /* Class ids are int32_t, and the confusion matrix must be addressable. */
    if (n_classes - 1 > (size_t)INT32_MAX || n_classes > SIZE_MAX / sizeof(uint64_t) / n_classes)
        return dmi_fail(DM_ERR_RANGE, "n_classes = %zu is too large (class ids are int32_t and the "
                        "confusion matrix has n_classes^2 entries)", n_classes);
    if (probs && n > SIZE_MAX / sizeof(float) / n_classes)
        return dmi_fail(DM_ERR_RANGE, "probs of %zu x %zu entries cannot be addressed", n, n_classes);
    return DM_OK;
}

static dm_status check_class_ids(const char *what, const int32_t *ids, size_t n, size_t n_classes)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= n_classes)
            return dmi_fail(DM_ERR_RANGE, "%s[%zu] = %" PRId32 " is not a class id (n_classes = %zu)",
                            what, i, ids[i], n_classes);
    return DM_OK;
}

/* Rows must hold probabilities (sklearn rejects values outside [0, 1] and NaN)
 * but need not sum to 1: sklearn 1.9 only warns about that and uses them as
 * given. A row of zeros says nothing about any class, so we reject it. */
static dm_status check_probs(const float *probs, size_t n, size_t n_classes)
{
    for (size_t i = 0; i < n; i++) {
        const float *row = probs + i * n_classes;
        double sum = 0.0;
        for (size_t c = 0; c < n_classes; c++) {
            float p = row[c];
            if (isnan(p)) return dmi_fail(DM_ERR_NUMERIC, "probs[%zu][%zu] is NaN", i, c);
            if (isinf(p))
                return dmi_fail(DM_ERR_NUMERIC, "probs[%zu][%zu] = %g is infinite", i, c, (double)p);
            if (p < 0.0f || p > 1.0f)
                return dmi_fail(DM_ERR_RANGE, "probs[%zu][%zu] = %.9g is not a probability "
                                "(expected 0 <= p <= 1)", i, c, (double)p);
            sum += p;
        }
        if (sum == 0.0) return dmi_fail(DM_ERR_RANGE, "probs row %zu sums to 0", i);
    }
    return DM_OK;
}

static dm_status check_label_names(const char *const *names, size_t n_classes)
{
    if (!names) return DM_OK;
    for (size_t c = 0; c < n_classes; c++) {
        dm_status st = dmi_check_label_name("label_names", c, names[c]);
        if (st) return st;
    }
    return DM_OK;
}

static dm_status check_arguments(size_t n, size_t n_classes, const int32_t *y_true, const int32_t *y_pred,
                                 const float *probs, const char *const *label_names,
                                 dm_eval_report **out)
{
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_metrics_compute: out is NULL");
    if (!y_true) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_metrics_compute: y_true is NULL");
    if (!y_pred) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_metrics_compute: y_pred is NULL");
    dm_status st = check_sizes(n, n_classes, probs);
    if (!st) st = check_class_ids("y_true", y_true, n, n_classes);
    if (!st) st = check_class_ids("y_pred", y_pred, n, n_classes);
    if (!st && probs) st = check_probs(probs, n, n_classes);
    if (!st) st = check_label_names(label_names, n_classes);
    return st;
}

/* A report from dm_metrics_compute always passes; one built by hand might not. */
dm_status dmi_check_report(const dm_eval_report *r, const char *fn)
{
    if (!r) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: report is NULL", fn);
    if (r->n_classes == 0 || !r->label_names || !r->per_class || !r->confusion)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the report has no classes, names, per_class "
                        "or confusion matrix", fn);
    for (size_t c = 0; c < r->n_classes; c++) {
        dm_status st = dmi_check_label_name("label_names", c, r->label_names[c]);
        if (st) return dmi_fail_prefix(st, "%s", fn);
    }
    return DM_OK;
}

/* ------------------------------------------------------------------------ */
/* The report                                                                */
/* ------------------------------------------------------------------------ */

static char *label_name_copy(const char *const *names, size_t c)
{
    if (names) return dmi_strndup(names[c], strlen(names[c]));
    char digits[24]; /* sklearn's default target names: "%s" % label */
    snprintf(digits, sizeof digits, "%zu", c);
    return dmi_strndup(digits, strlen(digits));
}

static dm_status new_report(size_t n, size_t n_classes, const char *const *names, dm_eval_report **out)
{
    dm_eval_report *r = dmi_calloc(1, sizeof *r);
    if (!r) return DM_ERR_NO_MEMORY;
    r->n_examples = n;
    r->n_classes = n_classes;
    char **copies = dmi_calloc(n_classes, sizeof *copies);
    r->label_names = (const char *const *)copies;
    r->per_class = dmi_calloc(n_classes, sizeof *r->per_class);
    r->confusion = dmi_calloc(n_classes * n_classes, sizeof *r->confusion);
    bool ok = copies && r->per_class && r->confusion;
    for (size_t c = 0; ok && c < n_classes; c++) ok = (copies[c] = label_name_copy(names, c)) != NULL;
    if (!ok) {
        dm_eval_report_free(r);
        return DM_ERR_NO_MEMORY;
    }
    *out = r;
    return DM_OK;
}

static void count_confusion(dm_eval_report *r, const int32_t *y_true, const int32_t *y_pred)
{
    for (size_t i = 0; i < r->n_examples; i++)
        r->confusion[(size_t)y_true[i] * r->n_classes + (size_t)y_pred[i]]++;
}

/* sklearn's _prf_divide with zero_division=0. */
static double ratio_or_zero(uint64_t num, uint64_t den) { return den ? (double)num / (double)den : 0.0; }

static void per_class_ratios(dm_eval_report *r)
{
    size_t k = r->n_classes;
    for (size_t c = 0; c < k; c++) {
        uint64_t tp = r->confusion[c * k + c], support = 0, predicted = 0;
        for (size_t j = 0; j < k; j++) {
            support += r->confusion[c * k + j];
            predicted += r->confusion[j * k + c];
        }
        dm_class_metrics *m = &r->per_class[c];
        m->support = support;
        m->precision = ratio_or_zero(tp, predicted);
        m->recall = ratio_or_zero(tp, support);
        /* sklearn writes F1 from the counts, (1 + b^2) tp / (b^2 support +
         * predicted), not from precision and recall: so do we, for the same
         * rounding. */
        uint64_t both = support + predicted;
        m->f1 = both ? 2.0 * (double)tp / ((double)support + (double)predicted) : 0.0;
    }
}

/* The average over classes of the double at OFFSET in dm_class_metrics: the
 * plain mean, or weighted by support. sklearn: np.nanmean(values) and
 * np.average(values, weights=support), i.e. numpy sums divided by k or n. */
static double class_average(const dm_eval_report *r, double *scratch, size_t offset, bool weighted)
{
    size_t k = r->n_classes;
    for (size_t c = 0; c < k; c++) {
        const dm_class_metrics *m = &r->per_class[c];
        double value = *(const double *)((const char *)m + offset);
        scratch[c] = weighted ? value * (double)m->support : value;
    }
    /* The supports add up to n exactly, as numpy's float64 sum of them does. */
    return dmi_numpy_sum(scratch, k) / (double)(weighted ? r->n_examples : k);
}

static dm_status averages(dm_eval_report *r)
{
    size_t k = r->n_classes;
    uint64_t correct = 0;
    for (size_t c = 0; c < k; c++) correct += r->confusion[c * k + c];
    r->accuracy = (double)correct / (double)r->n_examples;
    double *scratch = dmi_malloc(k * sizeof *scratch);
    if (!scratch) return DM_ERR_NO_MEMORY;
    const size_t p = offsetof(dm_class_metrics, precision), rc = offsetof(dm_class_metrics, recall),
                 f1 = offsetof(dm_class_metrics, f1);
    r->macro_precision = class_average(r, scratch, p, false);
    r->macro_recall = class_average(r, scratch, rc, false);
    r->macro_f1 = class_average(r, scratch, f1, false);
    r->weighted_precision = class_average(r, scratch, p, true);
    r->weighted_recall = class_average(r, scratch, rc, true);
    r->weighted_f1 = class_average(r, scratch, f1, true);
    free(scratch);
    return DM_OK;
}

/* sklearn's one-vs-rest macro average: the plain mean over every class, NaN
 * as soon as one class's AUC is undefined (np.average propagates it). */
static dm_status macro_auc(dm_eval_report *r)
{
    size_t k = r->n_classes;
    double *values = dmi_malloc(k * sizeof *values);
    if (!values) return DM_ERR_NO_MEMORY;
    r->roc_auc = 0.0;
    for (size_t c = 0; c < k; c++) {
        values[c] = r->per_class[c].roc_auc;
        if (isnan(values[c])) r->roc_auc = NAN;
    }
    if (!isnan(r->roc_auc)) r->roc_auc = dmi_numpy_sum(values, k) / (double)k;
    free(values);
    return DM_OK;
}

static dm_status probabilistic_metrics(dm_eval_report *r, const int32_t *y_true, const float *probs)
{
    size_t k = r->n_classes;
    r->log_loss = r->roc_auc = NAN;
    for (size_t c = 0; c < k; c++) r->per_class[c].roc_auc = NAN;
    if (!probs) return DM_OK;
    dm_status st = dmi_log_loss(r->n_examples, k, y_true, probs, &r->log_loss);
    if (!st) st = dmi_roc_auc_per_class(r->n_examples, k, y_true, probs, r->per_class);
    if (st) return st;
    /* Binary: roc_auc_score(y, probs[:, 1]), which is class 1's one-vs-rest
     * AUC. Multiclass: sklearn's one-vs-rest macro average, NaN when a class
     * has no true examples (or all of them) as sklearn's: an average over
     * only the classes present would be another metric under the same name,
     * and would not compare across splits that lack different classes. The
     * defined classes' AUCs stay in per_class. */
    if (k == 2) {
        r->roc_auc = r->per_class[1].roc_auc;
        return DM_OK;
    }
    return macro_auc(r);
}

DM_API dm_status dm_metrics_compute(size_t n, size_t n_classes, const int32_t *y_true,
                                    const int32_t *y_pred, const float *probs,
                                    const char *const *label_names, dm_eval_report **out)
{
    dm_status st = check_arguments(n, n_classes, y_true, y_pred, probs, label_names, out);
    if (st) return st;
    dm_eval_report *r = NULL;
    st = new_report(n, n_classes, label_names, &r);
    if (st) return st;
    count_confusion(r, y_true, y_pred);
    per_class_ratios(r);
    r->loss = NAN; /* the model's own loss: dm_model_evaluate fills it */
    st = averages(r);
    if (!st) st = probabilistic_metrics(r, y_true, probs);
    if (st) {
        dm_eval_report_free(r);
        return st;
    }
    *out = r;
    return DM_OK;
}
