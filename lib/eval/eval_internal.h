/*
 * eval_internal.h — helpers shared by the files of lib/eval (classification
 * metrics equal to scikit-learn's). Nothing here is exported.
 */
#ifndef DM_EVAL_INTERNAL_H
#define DM_EVAL_INTERNAL_H

#include "../core/core.h"

#include <stddef.h>
#include <stdint.h>

/* numpy's sum of N doubles, added in numpy's (pairwise) order. */
double dmi_numpy_sum(const double *x, size_t n);

/* scikit-learn's log_loss of N rows of N_CLASSES float32 probabilities against
 * the true class ids (already checked to be in range) into *OUT. See
 * probabilistic.c. Fails only for want of memory. */
dm_status dmi_log_loss(size_t n, size_t n_classes, const int32_t *y_true, const float *probs, double *out);

/* Sets PER_CLASS[c].roc_auc to class c's one-vs-rest ROC AUC, NaN for a class
 * with no positives or no negatives. Fails only for want of memory. */
dm_status dmi_roc_auc_per_class(size_t n, size_t n_classes, const int32_t *y_true,
                                const float *probs, dm_class_metrics *per_class);

/* The number of code points in the valid UTF-8 string S: the length Python's
 * len() gives, which is what classification_report pads names to. */
size_t dmi_utf8_length(const char *s);

/* Fails with DM_ERR_UTF8 (naming WHAT[INDEX]) unless S is valid UTF-8, and
 * with DM_ERR_INVALID_ARGUMENT when S is NULL. */
dm_status dmi_check_label_name(const char *what, size_t index, const char *s);

/* Fails, naming FN, unless R is a whole report with valid UTF-8 names
 * (DM_ERR_INVALID_ARGUMENT, DM_ERR_UTF8): one from dm_metrics_compute always
 * is, one built by hand may not be. */
dm_status dmi_check_report(const dm_eval_report *r, const char *fn);

#endif
