/*
 * report_json.c — dm_eval_report_json: the report as one JSON object,
 *   {"n_examples", "n_classes", "labels": [names], "accuracy",
 *    "macro_precision", "macro_recall", "macro_f1", "weighted_precision",
 *    "weighted_recall", "weighted_f1", "log_loss", "roc_auc", "loss",
 *    "per_class": {name: {"precision", "recall", "f1", "support", "roc_auc"}},
 *    "confusion_matrix": [[row of true class 0], ...]}
 * on one line. NaN (no probabilities, an undefined AUC, no model loss) is
 * written as null. Reals carry 17 significant digits, so that parsing them
 * gives back the very doubles of the report.
 */
#include "eval_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* JSON has no NaN or infinity. */
static json_t *real_or_null(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* Collects the results of json_object_set_new / json_array_append_new (which
 * also fail when handed the NULL of a failed constructor): any failure is a
 * failed allocation, since every key and name is valid UTF-8. */
typedef struct builder {
    int failed;
} builder;

static void set(builder *b, json_t *obj, const char *key, json_t *value)
{
    b->failed |= json_object_set_new(obj, key, value) != 0;
}

static void append(builder *b, json_t *arr, json_t *value)
{
    b->failed |= json_array_append_new(arr, value) != 0;
}

static json_t *class_json(builder *b, const dm_class_metrics *m)
{
    json_t *o = json_object();
    set(b, o, "precision", json_real(m->precision));
    set(b, o, "recall", json_real(m->recall));
    set(b, o, "f1", json_real(m->f1));
    set(b, o, "support", json_integer((json_int_t)m->support));
    set(b, o, "roc_auc", real_or_null(m->roc_auc));
    return o;
}

static json_t *confusion_json(builder *b, const dm_eval_report *r)
{
    size_t k = r->n_classes;
    json_t *rows = json_array();
    for (size_t i = 0; i < k; i++) {
        json_t *row = json_array();
        for (size_t j = 0; j < k; j++) append(b, row, json_integer((json_int_t)r->confusion[i * k + j]));
        append(b, rows, row);
    }
    return rows;
}

static json_t *report_json(builder *b, const dm_eval_report *r)
{
    json_t *o = json_object(), *labels = json_array(), *per_class = json_object();
    set(b, o, "n_examples", json_integer((json_int_t)r->n_examples));
    set(b, o, "n_classes", json_integer((json_int_t)r->n_classes));
    for (size_t c = 0; c < r->n_classes; c++) {
        append(b, labels, json_string(r->label_names[c]));
        set(b, per_class, r->label_names[c], class_json(b, &r->per_class[c]));
    }
    set(b, o, "labels", labels);
    set(b, o, "accuracy", json_real(r->accuracy));
    set(b, o, "macro_precision", json_real(r->macro_precision));
    set(b, o, "macro_recall", json_real(r->macro_recall));
    set(b, o, "macro_f1", json_real(r->macro_f1));
    set(b, o, "weighted_precision", json_real(r->weighted_precision));
    set(b, o, "weighted_recall", json_real(r->weighted_recall));
    set(b, o, "weighted_f1", json_real(r->weighted_f1));
    set(b, o, "log_loss", real_or_null(r->log_loss));
    set(b, o, "roc_auc", real_or_null(r->roc_auc));
    set(b, o, "loss", real_or_null(r->loss));
    set(b, o, "per_class", per_class);
    set(b, o, "confusion_matrix", confusion_json(b, r));
    return o;
}

/* per_class is keyed by name, so two classes of one name would lose one. */
static dm_status check_unique_names(const dm_eval_report *r)
{
    for (size_t i = 1; i < r->n_classes; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->label_names[i], r->label_names[j]) == 0)
                return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_eval_report_json: label_names[%zu] = \"%s\" "
                                "repeats label_names[%zu]; per_class needs distinct names", i,
                                r->label_names[i], j);
    return DM_OK;
}

DM_API dm_status dm_eval_report_json(const dm_eval_report *r, char **out, size_t *len)
{
    dm_status st = dmi_check_report(r, "dm_eval_report_json");
    if (!st) st = check_unique_names(r);
    if (st) return st;
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_eval_report_json: out is NULL");
    builder b = {0};
    json_t *root = report_json(&b, r);
    /* Jansson allocates with malloc (the library never swaps its allocator),
     * so the text is released with dm_free like every buffer we return. */
    char *text = b.failed || !root ? NULL : json_dumps(root, JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text) return dmi_fail(DM_ERR_NO_MEMORY, "dm_eval_report_json: out of memory building the JSON");
    *out = text;
    if (len) *len = strlen(text);
    return DM_OK;
}
