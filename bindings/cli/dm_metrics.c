/*
 * dm_metrics.c — the report of predictions made elsewhere:
 *
 *   dm metrics --data FILE --true COL --pred COL [...]               classification report
 *
 * The columns are read with dm_dataset_load (as label columns), the report
 * computed by dm_metrics_compute and written as dm eval writes its own.
 */
#include "model_cli.h"

#include <math.h>

/* ------------------------------------------------------------------ help */

const char help_metrics[] =
    "usage: dm metrics --data FILE --true COL --pred COL [--labels a,b,...]\n"
    "                  [--prob-columns C1,C2,...] [--json] [--digits N] [-o FILE]\n"
    "\n"
    "Scores predictions made elsewhere: reads the true and the predicted label of every row of a\n"
    "CSV, TSV or JSONL file with a header line and prints the classification report (precision,\n"
    "recall, F1 and support per label, as scikit-learn's classification_report), the confusion\n"
    "matrix, then accuracy and macro F1 and, with --prob-columns, the log loss and ROC-AUC\n"
    "(of the second class's probability with 2 classes; else the one-vs-rest macro average over\n"
    "every class, undefined, as scikit-learn's, when a class has no true example or all of them:\n"
    "the text says which, the JSON has null and each class's own AUC in per_class). Labels are\n"
    "trimmed of surrounding spaces. The classes are the labels of both columns, ordered\n"
    "numerically when all are integers, else by bytes (as dm train orders them), or --labels;\n"
    "one class gives its row and the averages, as classification_report(labels=[a]).\n"
    "\n"
    "  -d, --data FILE           the predictions (required)\n"
    "      --true COL            the column of true labels (required)\n"
    "      --pred COL            the column of predicted labels (required)\n"
    "      --labels a,b,...      the classes (one or more), in this order; any other label is an\n"
    "                            error\n"
    "      --prob-columns LIST   C1,C2,...: the predicted probability of each class, one column\n"
    "                            per class in class order; numbers from 0 to 1, read as 32-bit\n"
    "                            floats and used as given (rows are not renormalised)\n"
    "      --json                one JSON object instead: accuracy, macro_f1, per_class,\n"
    "                            confusion_matrix, log_loss, roc_auc, ... (null when undefined)\n"
    "      --digits N            decimals in the text report, 0 to 100 (default 2; 0 rounds to\n"
    "                            whole numbers, as scikit-learn's digits=0)\n"
    "  -o, --output FILE         write there instead of standard output\n";

/* ------------------------------------------------------------------ metrics */

static const char *array_name(const void *names, int32_t i) { return ((const char *const *)names)[i]; }

/* Column COL of PATH as labels (trimmed; every row must have one), in the
 * fixed set LABELS when it is not NULL. OPT names the column in messages. */
static int load_label_column(const char *path, const char *col, const char *opt, const char *const *labels,
                             size_t n_labels, dm_dataset **out)
{
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.text_column = col; /* any existing column: the text is not used */
    o.label_column = col;
    o.require_labels = 1;
    o.labels = labels;
    o.n_labels = n_labels;
    return dm_dataset_load(path, &o, out) ? fail_data_as(path, opt) : 0;
}

/* The line that a message of the library names after PATH ("PATH: line N, ..."), or 0. */
static size_t line_in_message(const char *msg, const char *path)
{
    if (strncmp(msg, path, strlen(path)) == 0) msg += strlen(path);
    const char *p = strstr(msg, ": line ");
    return p ? (size_t)strtoull(p + 7, NULL, 10) : 0;
}

/* The probability a label string of a --prob-columns column stands for:
 * 1 when S is a number in [0, 1], 0 when it is no number, -1 when it is a
 * number out of that range. */
static int parse_probability(const char *s, double *out)
{
    char *end;
    if (!*s) return 0;
    double x = strtod(s, &end);
    if (*end || isnan(x)) return 0;
    if (!(x >= 0 && x <= 1)) return -1;
    *out = x;
    return 1;
}

/* Reports row ROW of column COL of D (read from PATH), whose value is not a
 * probability. The line comes from the library: PATH is read once more with
 * the column's good values as a fixed label set, so that the first row with
 * another value (or none) fails, named by its line. */
static int bad_probability(const char *path, const char *col, const dm_dataset *d, const signed char *kind,
                           size_t row)
{
    size_t k = dm_dataset_num_labels(d), n_good = 0, line = 0;
    const char **good = malloc((k ? k : 1) * sizeof *good);
    if (good) {
        for (size_t j = 0; j < k; j++)
            if (kind[j] == 1) good[n_good++] = dm_dataset_label_name(d, (int32_t)j);
        dm_dataset_options o;
        dm_dataset_options_default(&o);
        o.text_column = o.label_column = col;
        o.require_labels = 1;
        o.labels = good;
        o.n_labels = n_good;
        dm_dataset *again = NULL;
        if (dm_dataset_load(path, &o, &again)) line = line_in_message(dm_last_error(), path);
        dm_dataset_free(again);
        free(good);
    }
    int32_t id = dm_dataset_label(d, row);
    const char *value = id >= 0 ? dm_dataset_label_name(d, id) : "";
    char where[64];
    if (line) snprintf(where, sizeof where, "line %zu", line);
    else snprintf(where, sizeof where, "data row %zu", row + 1);
    if (id < 0) fprintf(stderr, "dm: %s: %s, column \"%s\": no probability (an empty value)\n", path, where, col);
    else if (kind[id] == 0)
        fprintf(stderr, "dm: %s: %s, column \"%s\": \"%s\" is not a number\n", path, where, col, value);
    else
        fprintf(stderr, "dm: %s: %s, column \"%s\": %s is not a probability (a number from 0 to 1)\n", path, where,
                col, value);
    return 1;
}

/* Column COL of PATH (N rows) as the probabilities of class J of K: PROBS[i * K + J]. */
static int load_prob_column(const char *path, const char *col, size_t j, size_t k, size_t n, float *probs)
{
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.text_column = o.label_column = col; /* the distinct values become labels: each parsed once */
    dm_dataset *d;
    if (dm_dataset_load(path, &o, &d)) return fail_data_as(path, "--prob-columns");
    size_t n_values = dm_dataset_num_labels(d);
    double *value = malloc((n_values ? n_values : 1) * sizeof *value);
    signed char *kind = malloc(n_values ? n_values : 1);
    int rc = 0;
    if (!value || !kind) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
    } else if (dm_dataset_size(d) != n) {
        fprintf(stderr, "dm: %s: the file changed while it was read\n", path);
        rc = 1;
    }
    for (size_t v = 0; v < n_values && !rc; v++)
        kind[v] = (signed char)parse_probability(dm_dataset_label_name(d, (int32_t)v), &value[v]);
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t id = dm_dataset_label(d, i);
        if (id < 0 || kind[id] != 1) rc = bad_probability(path, col, d, kind, i);
        else probs[i * k + j] = (float)value[id];
    }
    free(value);
    free(kind);
    dm_dataset_free(d);
    return rc;
}

/* The ROC-AUC line: the value, or why it is undefined (the first class whose
 * one-vs-rest AUC is: no true example of it, or nothing else). */
static void write_auc_line(outbuf *o, const dm_eval_report *r)
{
    char tmp[512];
    int n = snprintf(tmp, sizeof tmp, "ROC-AUC:  %.6f\n", r->roc_auc);
    for (size_t c = 0; isnan(r->roc_auc) && c < r->n_classes; c++) {
        if (!isnan(r->per_class[c].roc_auc)) continue;
        n = snprintf(tmp, sizeof tmp, "ROC-AUC:  undefined: %s class \"%.200s\" (as scikit-learn; each class's "
                     "own AUC: --json)\n", r->per_class[c].support ? "every true label is" : "no true label is",
                     r->label_names[c]);
        break;
    }
    out_bytes(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The text report, then accuracy and macro F1 and, with probabilities, log loss and ROC-AUC. */
static int write_metrics_text(outbuf *o, const dm_eval_report *r, int digits, bool probs)
{
    if (write_report_table(o, r, digits)) return 1;
    char tmp[256];
    int n = snprintf(tmp, sizeof tmp, "\naccuracy: %.6f\nmacro F1: %.6f\n", r->accuracy, r->macro_f1);
    out_bytes(o, tmp, (size_t)n);
    if (probs) {
        n = snprintf(tmp, sizeof tmp, "log loss: %.6f\n", r->log_loss);
        out_bytes(o, tmp, (size_t)n);
        write_auc_line(o, r);
    }
    return 0;
}

typedef struct {
    const char *data_path, *true_col, *pred_col, *probs_arg, *labels_arg, *out_path;
    bool json;
    int digits;
} metrics_args;

static int metrics_options(int argc, char **argv, metrics_args *m)
{
    args_t a = {argc, 0, argv};
    const char *v;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_metrics, stdout);
            return -1;
        } else if (is_opt(arg, "-d", "--data")) {
            NEED_VALUE(m->data_path, arg);
        } else if (is_opt(arg, NULL, "--true")) {
            NEED_VALUE(m->true_col, arg);
        } else if (is_opt(arg, NULL, "--pred")) {
            NEED_VALUE(m->pred_col, arg);
        } else if (is_opt(arg, NULL, "--prob-columns")) {
            NEED_VALUE(m->probs_arg, arg);
        } else if (is_opt(arg, NULL, "--labels")) {
            NEED_VALUE(m->labels_arg, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(m->out_path, arg);
        } else if (is_opt(arg, NULL, "--json")) {
            m->json = true;
        } else if (is_opt(arg, NULL, "--digits")) {
            NEED_VALUE(v, arg);
            if ((rc = parse_int_opt(arg, v, 0, 100, &m->digits))) return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("metrics: unknown option '%s'", arg);
        } else if (!m->data_path) {
            m->data_path = arg; /* dm metrics --true A --pred B FILE */
        } else {
            return usage_error("metrics: unexpected argument '%s'", arg);
        }
    }
    if (!m->data_path) return usage_error("metrics needs --data FILE");
    if (!m->true_col) return usage_error("metrics needs --true COL");
    if (!m->pred_col) return usage_error("metrics needs --pred COL");
    return 0;
}

int cmd_metrics(int argc, char **argv)
{
    metrics_args m;
    memset(&m, 0, sizeof m);
    m.digits = 2; /* classification_report's default */
    int rc = metrics_options(argc, argv, &m);
    if (rc) return rc < 0 ? 0 : rc;

    char *labels_copy = NULL, *probs_copy = NULL;
    const char **labels = NULL, **prob_cols = NULL, **union_labels = NULL, **names = NULL;
    size_t n_labels = 0, n_probs = 0;
    dm_dataset *t = NULL, *p = NULL, *u = NULL;
    int32_t *y_true = NULL, *y_pred = NULL, *map = NULL;
    float *probs = NULL;
    dm_eval_report *r = NULL;
    if (m.labels_arg && !(rc = split_names("--labels", m.labels_arg, true, &labels_copy, &labels, &n_labels))) {
        for (size_t i = 0; i < n_labels && !rc; i++)
            for (size_t j = 0; j < i && !rc; j++)
                if (strcmp(labels[i], labels[j]) == 0) rc = usage_error("--labels: '%s' is named twice", labels[i]);
    }
    if (!rc && m.probs_arg) rc = split_names("--prob-columns", m.probs_arg, false, &probs_copy, &prob_cols, &n_probs);
    if (!rc && labels && prob_cols && n_probs != n_labels)
        rc = usage_error("--prob-columns names %zu column%s but --labels names %zu classes", n_probs,
                         n_probs == 1 ? "" : "s", n_labels);
    if (!rc) rc = load_label_column(m.data_path, m.true_col, "--true", labels, n_labels, &t);
    if (!rc) rc = load_label_column(m.data_path, m.pred_col, "--pred", labels, n_labels, &p);
    if (rc) goto done;

    size_t n = dm_dataset_size(t), kt = dm_dataset_num_labels(t), kp = dm_dataset_num_labels(p), k;
    if (dm_dataset_size(p) != n) {
        fprintf(stderr, "dm: %s: the file changed while it was read\n", m.data_path);
        rc = 1;
        goto done;
    }
    if (n == 0) {
        fprintf(stderr, "dm: %s: no data rows: metrics need at least one prediction\n", m.data_path);
        rc = 1;
        goto done;
    }
    /* Class ids: --labels as given (both loads used that set), else the
     * union of both columns' labels, ordered by the library as it orders a
     * dataset's labels (a dataset made of those names). */
    map = malloc((kt + kp) * sizeof *map);
    y_true = malloc(n * sizeof *y_true);
    y_pred = malloc(n * sizeof *y_pred);
    union_labels = malloc((kt + kp) * sizeof *union_labels);
    if (!map || !y_true || !y_pred || !union_labels) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
        goto done;
    }
    if (labels) {
        k = n_labels;
        names = labels;
        for (size_t j = 0; j < kt + kp; j++) map[j] = (int32_t)(j < kt ? j : j - kt);
    } else {
        const char **texts = malloc((kt + kp) * sizeof *texts);
        if (!texts) {
            fputs("dm: out of memory\n", stderr);
            rc = 1;
            goto done;
        }
        for (size_t j = 0; j < kt + kp; j++) {
            texts[j] = "";
            union_labels[j] = j < kt ? dm_dataset_label_name(t, (int32_t)j)
                                     : dm_dataset_label_name(p, (int32_t)(j - kt));
        }
        dm_status st = dm_dataset_from_texts(kt + kp, texts, NULL, NULL, NULL, union_labels, NULL, &u);
        free(texts);
        if (st) {
            rc = fail_lib(m.data_path);
            goto done;
        }
        k = dm_dataset_num_labels(u);
        for (size_t j = 0; j < kt + kp; j++) map[j] = dm_dataset_label(u, j);
        for (size_t j = 0; j < k; j++) union_labels[j] = dm_dataset_label_name(u, (int32_t)j);
        names = union_labels;
    }
    char list[512];
    if (prob_cols && k == 1) { /* log loss and ROC-AUC need a second class */
        fprintf(stderr, "dm: %s: --prob-columns: the data has one class only (%s): log loss and ROC-AUC need at "
                        "least 2 classes (name them with --labels)\n", m.data_path, names[0]);
        rc = 1;
        goto done;
    }
    if (prob_cols && n_probs != k) {
        rc = usage_error("--prob-columns names %zu column%s, the data has %zu classes (%s): give one column per "
                         "class, in this order, or the classes with --labels",
                         n_probs, n_probs == 1 ? "" : "s", k, join_names(list, sizeof list, array_name, names, k));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        y_true[i] = map[dm_dataset_label(t, i)];
        y_pred[i] = map[kt + (size_t)dm_dataset_label(p, i)];
    }
    if (prob_cols) {
        probs = malloc(n * k * sizeof *probs);
        if (!probs) {
            fputs("dm: out of memory\n", stderr);
            rc = 1;
            goto done;
        }
        for (size_t j = 0; j < k && !rc; j++) rc = load_prob_column(m.data_path, prob_cols[j], j, k, n, probs);
        for (size_t i = 0; i < n && !rc; i++) {
            double sum = 0;
            for (size_t j = 0; j < k; j++) sum += probs[i * k + j];
            if (sum == 0) {
                fprintf(stderr, "dm: %s: data row %zu: the probabilities of every class are 0\n", m.data_path, i + 1);
                rc = 1;
            }
        }
        if (rc) goto done;
    }
    if (dm_metrics_compute(n, k, y_true, y_pred, probs, names, &r)) {
        rc = fail_lib(m.data_path);
        goto done;
    }
    FILE *of = open_output(m.out_path);
    if (!of) {
        rc = 1;
        goto done;
    }
    outbuf o = {of, malloc(1u << 16), 0, 1u << 16, false};
    if (!o.buf) {
        o.failed = true;
    } else if (m.json) {
        char *text;
        size_t len;
        if (dm_eval_report_json(r, &text, &len)) {
            rc = fail_lib("report");
        } else {
            out_bytes(&o, text, len);
            out_char(&o, '\n');
            dm_free(text);
        }
    } else {
        rc = write_metrics_text(&o, r, m.digits, probs != NULL);
    }
    if (finish_output_rc(&o, of, m.out_path, rc) && !rc) rc = 1;
done:
    dm_eval_report_free(r);
    dm_dataset_free(t);
    dm_dataset_free(p);
    dm_dataset_free(u);
    free(labels_copy);
    free(labels);
    free(probs_copy);
    free(prob_cols);
    free(union_labels);
    free(map);
    free(y_true);
    free(y_pred);
    free(probs);
    return rc;
}

