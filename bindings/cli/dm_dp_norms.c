/*
 * dm_dp_norms.c — dm dp norms: each example's gradient norm under a model,
 * the number DP-SGD clips (dm_dp_example_norms), summarised so that a user
 * can choose the clipping norm C before a private run:
 *
 *   dm dp norms --model DIR --data FILE [--batch-size B] [--max-length L] [--json]
 *
 * A common choice is C near the median: larger clips few examples but each
 * step's noise (sigma x C) grows with it; smaller biases every gradient.
 */
#include "model_cli.h"

#include <math.h>

const char help_dp_norms[] =
    "usage: dm dp norms --model DIR --data FILE [--batch-size B] [--max-length L] [--json]\n"
    "\n"
    "The gradient norm of each labelled example's loss under the model (dropout off, every\n"
    "tensor trained), as DP-SGD's clipping sees it (dm train --dp-max-grad-norm C), summarised\n"
    "as quantiles. A clipping norm near the median is a common start.\n"
    "\n"
    "  -m, --model DIR           the model folder (its head must know the data's labels)\n"
    HELP_MODEL_KEY
    "  -d, --data FILE           labelled CSV, TSV or JSONL\n"
    "      --batch-size B        examples per pass (default 32)\n"
    "      --max-length L        truncate texts to L tokens (default 128)\n"
    "      --json                one JSON object: examples, min, p10, p25, median, p75, p90, max,\n"
    "                            mean\n"
    HELP_DATA_COLUMNS
    HELP_DEVICE;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double quantile(const float *sorted, size_t n, double q)
{
    double at = q * (double)(n - 1);
    size_t lo = (size_t)at;
    double f = at - (double)lo;
    return lo + 1 < n ? sorted[lo] * (1 - f) + sorted[lo + 1] * f : sorted[lo];
}

/* The model's label id of each row, or -1 (with a message) for one it lacks. */
static int map_labels(const dm_model *m, const dm_dataset *ds, size_t n_labels, int32_t *out, const char *path)
{
    for (size_t i = 0; i < dm_dataset_size(ds); i++) {
        const char *name = dm_dataset_label_name(ds, dm_dataset_label(ds, i));
        out[i] = -1;
        for (size_t k = 0; k < n_labels && out[i] < 0; k++)
            if (strcmp(dm_model_label_name(m, (int32_t)k), name) == 0) out[i] = (int32_t)k;
        if (out[i] < 0) {
            fprintf(stderr, "dm: %s: row %zu has the label '%s', which the model's head does not know\n", path,
                    i + 1, name);
            return 1;
        }
    }
    return 0;
}

/* Norms of rows [first, first + n) into NORMS. */
static int norms_of_batch(dm_model *m, const dm_dataset *ds, const int32_t *labels, size_t first, size_t n,
                          size_t max_length, float *norms)
{
    const char *texts[n];
    size_t lens[n];
    for (size_t i = 0; i < n; i++) texts[i] = dm_dataset_text(ds, first + i, &lens[i]);
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
    eo.max_length = max_length;
    eo.padding = DM_PAD_TO_LONGEST;
    dm_encodings_flat *enc = NULL;
    if (dm_tokenizer_encode_batch_flat(dm_model_tokenizer(m), n, texts, lens, NULL, NULL, &eo, &enc))
        return fail_lib("dp norms");
    dm_batch b = {.struct_size = sizeof b, .batch = n, .seq_len = enc->longest, .ids = enc->ids,
                  .type_ids = enc->type_ids, .attention_mask = enc->attention_mask, .labels = labels + first};
    dm_backward_options bo;
    dm_backward_options_default(&bo);
    bo.dropout = 0.0;
    int rc = dm_dp_example_norms(m, &b, &bo, norms) ? fail_lib("dp norms") : 0;
    dm_encodings_flat_free(enc);
    return rc;
}

static int print_summary(float *norms, size_t n, bool json)
{
    qsort(norms, n, sizeof *norms, cmp_float);
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += norms[i];
    mean /= (double)n;
    static const char *const names[] = {"min", "p10", "p25", "median", "p75", "p90", "max"};
    static const double qs[] = {0, 0.1, 0.25, 0.5, 0.75, 0.9, 1};
    if (json) printf("{\"examples\": %zu", n);
    else printf("gradient norms of %zu examples:", n);
    for (size_t k = 0; k < 7; k++) printf(json ? ", \"%s\": %.6g" : " %s %.4g", names[k], quantile(norms, n, qs[k]));
    printf(json ? ", \"mean\": %.6g}\n" : " mean %.4g\n", mean);
    if (!json)
        printf("a clipping norm near the median (--dp-max-grad-norm %.3g) clips about half of the examples\n",
               quantile(norms, n, 0.5));
    return fflush(stdout) != 0;
}

int cmd_dp_norms(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *model_dir = NULL, *data_path = NULL, *v;
    bool json = false;
    size_t batch = 32, max_length = 128;
    dm_dataset_options dso;
    dm_dataset_options_default(&dso);
    dm_model_options mo;
    dm_model_options_default(&mo);
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        uint64_t x;
        if (is_opt(arg, "-m", "--model")) {
            NEED_VALUE(model_dir, arg);
        } else if (is_opt(arg, "-d", "--data")) {
            NEED_VALUE(data_path, arg);
        } else if (is_opt(arg, NULL, "--json")) {
            json = true;
        } else if (is_opt(arg, NULL, "--batch-size") || is_opt(arg, NULL, "--max-length")) {
            NEED_VALUE(v, arg);
            if (!parse_u64(v, &x) || x == 0 || x > 4096) return usage_error("%s: '%s' is not a count in [1, 4096]", arg, v);
            *(is_opt(arg, NULL, "--batch-size") ? &batch : &max_length) = (size_t)x;
        } else if ((rc = data_option(&a, arg, &dso)) != OPT_NOT_MINE) {
            if (rc) return rc;
        } else if ((rc = device_option(&a, arg, &mo)) != OPT_NOT_MINE) {
            if (rc) return rc;
        } else {
            return usage_error("dp norms: unknown option or argument '%s'", arg);
        }
    }
    if (!model_dir) return usage_error("dp norms needs --model DIR");
    if (!data_path) return usage_error("dp norms needs --data FILE");
    dm_dataset *ds = NULL;
    dm_model *m = NULL;
    dm_model_info info;
    int rc = load_labelled(data_path, &dso, &ds);
    if (!rc) rc = load_model(model_dir, &mo, &m, &info);
    size_t n = ds ? dm_dataset_size(ds) : 0;
    int32_t *labels = n ? malloc(n * sizeof *labels) : NULL;
    float *norms = n ? malloc(n * sizeof *norms) : NULL;
    if (!rc && (!labels || !norms)) rc = fail_lib("dp norms: out of memory");
    if (!rc) rc = map_labels(m, ds, info.num_labels, labels, data_path);
    for (size_t at = 0; !rc && at < n; at += batch)
        rc = norms_of_batch(m, ds, labels, at, n - at < batch ? n - at : batch, max_length, norms + at);
    if (!rc) rc = print_summary(norms, n, json);
    free(labels), free(norms);
    dm_model_free(m);
    dm_dataset_free(ds);
    return rc;
}
