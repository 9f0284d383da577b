/*
 * report_text.c — dm_eval_report_text: scikit-learn's classification_report
 * character for character, then the confusion matrix.
 *
 * classification_report(y_true, y_pred, labels=range(n_classes),
 * target_names=label_names, digits=D, zero_division=0) lays out
 *     "{:>{width}s} " + " {:>9.Df}" * 3 + " {:>9}\n"
 * per class and for "macro avg" and "weighted avg", with an "accuracy" row
 * whose precision and recall cells are blank, and width = max(longest name,
 * len("weighted avg"), D). Python measures and pads names in code points,
 * and its "{:.Df}" rounds the exact binary value half-to-even, as printf does.
 */
#include "eval_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing string; the first failure sticks in ST and later writes do nothing. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
    dm_status st;
} text_buf;

static void grow(text_buf *b, size_t more)
{
    if (b->st || b->cap - b->len > more) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len <= more) cap *= 2;
    char *p = dmi_realloc(b->p, cap);
    if (!p) {
        b->st = DM_ERR_NO_MEMORY;
        return;
    }
    b->p = p, b->cap = cap;
}

static void put(text_buf *b, const char *fmt, ...) DMI_PRINTF(2, 3);
static void put(text_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->st = dmi_fail(DM_ERR_INTERNAL, "dm_eval_report_text: cannot format \"%s\"", fmt);
        return;
    }
    grow(b, (size_t)n);
    if (b->st) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void put_bytes(text_buf *b, const char *s, size_t n)
{
    grow(b, n);
    if (b->st) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Python's "{:>{width}s}": S right-aligned in WIDTH code points. */
static void put_right(text_buf *b, const char *s, size_t width)
{
    size_t len = dmi_utf8_length(s);
    for (size_t pad = width > len ? width - len : 0; pad > 0; pad--) put_bytes(b, " ", 1);
    put_bytes(b, s, strlen(s));
}

/* sklearn counts true positives with a bincount, except that when there are
 * none at all (accuracy 0) it starts from float zeros instead: the supports
 * then become floats and print as "41.0". We print them so too, to stay equal
 * character for character. (Python would switch to "1e+16" from 10^16 on, a
 * size no evaluation reaches.) */
typedef struct support_cell {
    char text[32];
} support_cell;

static support_cell format_support(const dm_eval_report *r, uint64_t support)
{
    support_cell cell;
    snprintf(cell.text, sizeof cell.text, "%" PRIu64 "%s", support, r->accuracy == 0.0 ? ".0" : "");
    return cell;
}

static void put_row(text_buf *b, const dm_eval_report *r, const char *name, size_t width, int digits,
                    double p, double rc, double f1, uint64_t support)
{
    put_right(b, name, width);
    put(b, "  %9.*f %9.*f %9.*f %9s\n", digits, p, digits, rc, digits, f1, format_support(r, support).text);
}

static size_t name_column_width(const dm_eval_report *r, int digits)
{
    size_t width = strlen("weighted avg");
    for (size_t c = 0; c < r->n_classes; c++) {
        size_t len = dmi_utf8_length(r->label_names[c]);
        if (len > width) width = len;
    }
    return (size_t)digits > width ? (size_t)digits : width;
}

static void put_classification_report(text_buf *b, const dm_eval_report *r, int digits)
{
    size_t width = name_column_width(r, digits);
    put_right(b, "", width);
    put(b, "  %9s %9s %9s %9s\n\n", "precision", "recall", "f1-score", "support");
    for (size_t c = 0; c < r->n_classes; c++) {
        const dm_class_metrics *m = &r->per_class[c];
        put_row(b, r, r->label_names[c], width, digits, m->precision, m->recall, m->f1, m->support);
    }
    put(b, "\n");
    /* sklearn prints the micro-averaged F1 here, which equals the accuracy
     * bit for bit: 2 correct / (n + n) and correct / n round alike. */
    put_right(b, "accuracy", width);
    put(b, "  %9s %9s %9.*f %9s\n", "", "", digits, r->accuracy, format_support(r, r->n_examples).text);
    put_row(b, r, "macro avg", width, digits, r->macro_precision, r->macro_recall, r->macro_f1,
            r->n_examples);
    put_row(b, r, "weighted avg", width, digits, r->weighted_precision, r->weighted_recall,
            r->weighted_f1, r->n_examples);
}

static size_t decimal_width(uint64_t x)
{
    size_t w = 1;
    while (x >= 10) x /= 10, w++;
    return w;
}

/* Our own layout (sklearn prints no matrix): true classes down the rows,
 * predicted classes across, each column as wide as its name or its largest
 * count, two spaces apart. */
static void put_confusion_matrix(text_buf *b, const dm_eval_report *r, int digits)
{
    size_t k = r->n_classes, width = name_column_width(r, digits);
    size_t *cols = dmi_malloc(k * sizeof *cols);
    if (!cols) {
        b->st = DM_ERR_NO_MEMORY;
        return;
    }
    for (size_t j = 0; j < k; j++) {
        cols[j] = dmi_utf8_length(r->label_names[j]);
        for (size_t i = 0; i < k; i++) {
            size_t w = decimal_width(r->confusion[i * k + j]);
            if (w > cols[j]) cols[j] = w;
        }
    }
    put(b, "confusion matrix (rows: true class, columns: predicted class)\n\n");
    put_right(b, "", width);
    put(b, " ");
    for (size_t j = 0; j < k; j++) {
        put(b, "  ");
        put_right(b, r->label_names[j], cols[j]);
    }
    put(b, "\n");
    for (size_t i = 0; i < k; i++) {
        put_right(b, r->label_names[i], width);
        put(b, " ");
        for (size_t j = 0; j < k; j++) {
            char count[24];
            snprintf(count, sizeof count, "%" PRIu64, r->confusion[i * k + j]);
            put(b, "  ");
            put_right(b, count, cols[j]);
        }
        put(b, "\n");
    }
    free(cols);
}

DM_API dm_status dm_eval_report_text(const dm_eval_report *r, int digits, char **out, size_t *len)
{
    dm_status st = dmi_check_report(r, "dm_eval_report_text");
    if (st) return st;
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_eval_report_text: out is NULL");
    /* DIGITS becomes a printf precision; 100 is far beyond the 17 significant
     * digits a double carries, and keeps a line's length bounded. 0 is what
     * classification_report(digits=0) does: every score rounded to a whole
     * number, "{:.0f}", half to even as printf rounds. */
    if (digits < 0 || digits > 100)
        return dmi_fail(DM_ERR_RANGE, "dm_eval_report_text: digits = %d (expected 0 to 100, the decimals of "
                        "each score)", digits);
    text_buf b = {0};
    put_classification_report(&b, r, digits);
    put(&b, "\n");
    put_confusion_matrix(&b, r, digits);
    if (b.st) {
        free(b.p);
        return b.st;
    }
    *out = b.p;
    if (len) *len = b.len;
    return DM_OK;
}
