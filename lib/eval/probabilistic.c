/*
 * probabilistic.c — the metrics of class probabilities: log loss and
 * one-vs-rest ROC AUC, as scikit-learn 1.9 computes them on float32 input.
 */
#include "eval_internal.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* Log loss                                                                  */
/* ------------------------------------------------------------------------ */

/* scikit-learn 1.9's log_loss(y_true, probs, labels=range(n_classes)) given
 * the same float32 array:
 *  - rows are NOT renormalised (sklearn stopped doing that; it only warns when
 *    a row does not sum to 1), so the loss of row i is -log probs[i][y_true[i]];
 *  - each probability is first clipped to [eps, 1 - eps] with eps the machine
 *    epsilon of the input's dtype, here float32: FLT_EPSILON = 2^-23, so an
 *    exact 0 costs -log(2^-23) = 15.94 and an exact 1 costs 1.19e-7, not 0.
 * sklearn then takes the logs and the mean in float32 arithmetic (its answer
 * is good to about 1e-7 relative); we take the same clipped float32 values to
 * double and average them in double, in numpy's order: the value sklearn
 * returns for a float64 copy of the clipped array. */
dm_status dmi_log_loss(size_t n, size_t n_classes, const int32_t *y_true, const float *probs, double *out)
{
    const float lo = FLT_EPSILON, hi = 1.0f - FLT_EPSILON; /* both exact in float */
    double *terms = dmi_malloc(n * sizeof *terms);
    if (!terms) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        float p = probs[i * n_classes + (size_t)y_true[i]];
        p = p < lo ? lo : p > hi ? hi : p;
        terms[i] = -log((double)p);
    }
    *out = dmi_numpy_sum(terms, n) / (double)n;
    free(terms);
    return DM_OK;
}

/* ------------------------------------------------------------------------ */
/* ROC AUC                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct scored {
    float score;
    bool positive;
} scored;

static int by_score(const void *a, const void *b)
{
    float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* The area under the ROC curve of examples sorted by score, POSITIVES of them
 * positive. sklearn draws the curve through one point per distinct score and
 * takes the trapezoidal area; that area is the Mann-Whitney statistic: over
 * all (positive, negative) pairs, 1 when the positive scores higher and 1/2
 * for a tie. Counting it per group of equal scores keeps the arithmetic in
 * whole numbers (exact in double up to 2^53) until the one division. */
static double auc_of_sorted(const scored *s, size_t n, size_t positives)
{
    double twice_wins = 0.0, negatives_below = 0.0;
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        double pos = 0.0, neg = 0.0;
        for (hi = lo; hi < n && s[hi].score == s[lo].score; hi++) {
            if (s[hi].positive) pos += 1.0;
            else neg += 1.0;
        }
        twice_wins += pos * (2.0 * negatives_below + neg);
        negatives_below += neg;
    }
    return twice_wins / (2.0 * (double)positives * (double)(n - positives));
}

/* One-vs-rest, as roc_auc_score(y_true == c, probs[:, c]). sklearn 1.9 gives
 * NaN (with a warning) when y_true == c is all true or all false; so do we. */
dm_status dmi_roc_auc_per_class(size_t n, size_t n_classes, const int32_t *y_true,
                                const float *probs, dm_class_metrics *per_class)
{
    scored *s = dmi_malloc(n * sizeof *s);
    if (!s) return DM_ERR_NO_MEMORY;
    for (size_t c = 0; c < n_classes; c++) {
        size_t positives = 0;
        for (size_t i = 0; i < n; i++) {
            s[i].score = probs[i * n_classes + c];
            s[i].positive = (size_t)y_true[i] == c;
            positives += s[i].positive;
        }
        if (positives == 0 || positives == n) {
            per_class[c].roc_auc = NAN;
            continue;
        }
        qsort(s, n, sizeof *s, by_score);
        per_class[c].roc_auc = auc_of_sorted(s, n, positives);
    }
    free(s);
    return DM_OK;
}
