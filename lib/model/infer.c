/*
 * infer.c — predictions, embeddings and evaluation on texts: tokenize all
 * texts at once (on every core), sort them by length so each batch pads to
 * little more than its own longest text, run the forward pass per batch and
 * put the results back in the caller's order.
 */
#include "model_internal.h"
#include "../train/loader.h"
#include "../data/dataset_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DM_API void dm_infer_options_default(dm_infer_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->batch_size = 32;
    opts->pooling = DM_POOL_DEFAULT;
    opts->normalize = -1;
    opts->invalid_utf8 = DM_UTF8_ERROR;
}

/* ------------------------------------------------------------------ batching */

size_t dmi_model_padded_length(const dm_model *m, size_t longest)
{
    size_t T = (longest + 7) / 8 * 8;
    if (T > m->dims.P) T = m->dims.P;
    return T ? T : 1;
}

dm_status dmi_check_logits(const float *logits, size_t B, size_t L, const uint32_t *idx, const char *what)
{
    for (size_t i = 0; i < B * L; i++)
        if (!isfinite(logits[i])) {
            size_t text = idx ? idx[i / L] : i / L;
            return dmi_fail(DM_ERR_NUMERIC, "text %zu: %s: the logits are not finite (%s): the model's "
                            "computation overflowed", text, what, isnan(logits[i]) ? "NaN" : "Inf");
        }
    return DM_OK;
}

/* ------------------------------------------------------------------ running batches */

typedef dm_status (*batch_fn)(dm_model *m, const uint32_t *idx, size_t B, size_t T, void *user);

/* The loader's rows by length, longest first, so that each batch pads to
 * little more than its own longest. */
static dm_status inference_order(const dmi_loader *l, uint32_t **order)
{
    *order = dmi_malloc((l->n ? l->n : 1) * sizeof **order);
    if (!*order) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < l->n; i++) (*order)[i] = (uint32_t)i;
    dm_status s = dmi_loader_sort_by_length(l, *order, l->n);
    if (s) free(*order), *order = NULL;
    return s;
}

/* Runs FN on every batch of L (inference activations ready and filled),
 * reporting progress in texts. */
static dm_status for_each_batch(dm_model *m, const dmi_loader *l, size_t batch_size, const dm_infer_options *o,
                                batch_fn fn, void *user)
{
    if (batch_size == 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "batch_size must be at least 1");
    if (l->n == 0) return DM_OK;
    uint32_t *order;
    dm_status s = inference_order(l, &order);
    if (s) return s;
    size_t T_max = dmi_model_padded_length(m, dmi_loader_row_length(l, order[0]));
    size_t B_max = batch_size < l->n ? batch_size : l->n;
    if (!(s = dmi_model_infer_acts(m, B_max, T_max))) s = dmb_set_threads(m->be, m->threads);
    for (size_t start = 0; !s && start < l->n; start += batch_size) {
        size_t B = l->n - start < batch_size ? l->n - start : batch_size;
        const uint32_t *idx = order + start;
        size_t T = dmi_model_padded_length(m, dmi_loader_row_length(l, idx[0]));
        s = dmi_loader_fill(l, m->be, &m->infer, idx, B, T, NULL);
        if (!s) s = dmi_bert_forward(m->be, &m->dims, &m->net, &m->infer, B, T, NULL, NULL, 0.0f);
        if (!s) s = fn(m, idx, B, T, user);
        if (!s && o->progress && o->progress(start + B, l->n, o->progress_user))
            s = dmi_fail(DM_ERR_CANCELLED, "cancelled by the progress callback after %zu of %zu texts", start + B, l->n);
    }
    free(order);
    return s;
}

static dmi_loader_options loader_options(const dm_model *m, const dm_infer_options *o, size_t max_length)
{
    dmi_loader_options lo;
    dmi_loader_options_default(&lo);
    lo.max_length = max_length;
    lo.invalid_utf8 = o->invalid_utf8;
    lo.threads = m->threads;
    return lo;
}

static dm_status infer_options(const dm_infer_options *opts, dm_infer_options *o)
{
    dm_infer_options_default(o);
    if (opts && dmi_copy_options(o, sizeof *o, opts, "dm_infer_options")) return DM_ERR_INVALID_ARGUMENT;
    return DM_OK;
}

/* ------------------------------------------------------------------ predict */

typedef struct predict_out {
    float *logits; /* n x L, caller's order */
} predict_out;

static dm_status collect_logits(dm_model *m, const uint32_t *idx, size_t B, size_t T, void *user)
{
    (void)T;
    predict_out *po = user;
    size_t L = m->dims.L;
    float *tmp = dmi_malloc(B * L * sizeof *tmp);
    if (!tmp) return DM_ERR_NO_MEMORY;
    dm_status s = m->be->ops->download(m->be, tmp, m->infer.logits, B * L * sizeof *tmp);
    if (!s) s = dmi_check_logits(tmp, B, L, idx, "prediction");
    for (size_t b = 0; !s && b < B; b++) memcpy(po->logits + (size_t)idx[b] * L, tmp + b * L, L * sizeof *tmp);
    free(tmp);
    return s;
}

/* Softmax of one row in double, rounded once. */
static void softmax_row(float *out, const float *z, size_t L)
{
    double mx = z[0], sum = 0.0;
    for (size_t j = 1; j < L; j++) mx = z[j] > mx ? z[j] : mx;
    for (size_t j = 0; j < L; j++) sum += exp((double)z[j] - mx);
    for (size_t j = 0; j < L; j++) out[j] = (float)(exp((double)z[j] - mx) / sum);
}

static int32_t argmax(const float *z, size_t L)
{
    size_t best = 0;
    for (size_t j = 1; j < L; j++)
        if (z[j] > z[best]) best = j;
    return (int32_t)best;
}

static dm_status check_texts(size_t n, const char *const *texts, const size_t *lens, const char *const *pairs,
                             const size_t *pair_lens)
{
    if (n && (!texts || !lens)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "NULL texts or lengths");
    if (pairs && !pair_lens) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "pairs given without pair lengths");
    return DM_OK;
}

/* Logits of N texts into LOGITS (n x L, allocated by the caller). */
static dm_status predict_logits(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                                const char *const *pairs, const size_t *pair_lens, const dm_infer_options *o,
                                float *logits)
{
    dmi_loader l;
    dmi_loader_options lo = loader_options(m, o, o->max_length);
    dm_status s = dmi_loader_texts(&l, m, n, texts, lens, pairs, pair_lens, &lo);
    if (s) return s;
    predict_out po = {logits};
    s = for_each_batch(m, &l, o->batch_size, o, collect_logits, &po);
    dmi_loader_free(&l);
    return s;
}

static dm_status predict(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                         const char *const *pairs, const size_t *pair_lens, const dm_infer_options *opts,
                         float *logits, float *probs, int32_t *labels);

DM_API dm_status dm_model_predict(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                                  const char *const *pairs, const size_t *pair_lens, const dm_infer_options *opts,
                                  float *logits, float *probs, int32_t *labels)
{
    if (!m) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_predict: NULL model");
    dm_status s = dmi_model_enter(m, "dm_model_predict");
    if (s) return s;
    s = predict(m, n, texts, lens, pairs, pair_lens, opts, logits, probs, labels);
    dmi_model_leave(m);
    return s;
}

static dm_status predict(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                         const char *const *pairs, const size_t *pair_lens, const dm_infer_options *opts,
                         float *logits, float *probs, int32_t *labels)
{
    dm_infer_options o;
    dm_status s = infer_options(opts, &o);
    if (!s) s = check_texts(n, texts, lens, pairs, pair_lens);
    if (s || n == 0) return s;
    size_t L = m->dims.L;
    float *z = logits ? logits : dmi_malloc(n * L * sizeof *z);
    if (!z) return DM_ERR_NO_MEMORY;
    s = predict_logits(m, n, texts, lens, pairs, pair_lens, &o, z);
    for (size_t i = 0; !s && i < n; i++) {
        if (probs) softmax_row(probs + i * L, z + i * L, L);
        if (labels) labels[i] = argmax(z + i * L, L);
    }
    if (z != logits) free(z);
    return s;
}

/* ------------------------------------------------------------------ embed */

typedef struct embed_out {
    float *out;        /* n x C */
    dm_pooling pooling;
    int normalize;
    float *pooled;     /* B x C host scratch */
} embed_out;

/* x / max(|x|, 1e-12), as torch.nn.functional.normalize. */
static void normalize(float *x, size_t C)
{
    double ss = 0.0;
    for (size_t c = 0; c < C; c++) ss += (double)x[c] * x[c];
    double norm = sqrt(ss);
    if (norm < 1e-12) norm = 1e-12;
    for (size_t c = 0; c < C; c++) x[c] = (float)(x[c] / norm);
}

/* Pooled on the device (into the head's first-token buffer, free once the
 * forward pass is done): only B x C floats come back. */
static dm_status collect_embeddings(dm_model *m, const uint32_t *idx, size_t B, size_t T, void *user)
{
    embed_out *eo = user;
    size_t C = m->dims.C;
    const struct dmb_ops *o = m->be->ops;
    dmb_pool mode = eo->pooling == DM_POOL_CLS ? DMB_POOL_FIRST : DMB_POOL_MEAN;
    dm_status s = o->pool_fwd(m->be, m->infer.cls, m->infer.out, m->infer.key_mask, B, T, C, mode);
    if (!s) s = o->download(m->be, eo->pooled, m->infer.cls, B * C * sizeof(float));
    for (size_t b = 0; !s && b < B; b++) {
        float *dst = eo->out + (size_t)idx[b] * C;
        memcpy(dst, eo->pooled + b * C, C * sizeof *dst);
        if (eo->normalize) normalize(dst, C);
        for (size_t c = 0; c < C && !s; c++)
            if (!isfinite(dst[c]))
                s = dmi_fail(DM_ERR_NUMERIC, "text %u: embedding: not finite (%s at dimension %zu): the "
                             "model's computation overflowed", idx[b], isnan(dst[c]) ? "NaN" : "Inf", c);
    }
    return s;
}

static dm_status embed(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                       const dm_infer_options *opts, float *out);

DM_API dm_status dm_model_embed(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                                const dm_infer_options *opts, float *out)
{
    if (!m || (n && !out)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_embed: NULL model or output");
    dm_status s = dmi_model_enter(m, "dm_model_embed");
    if (s) return s;
    s = embed(m, n, texts, lens, opts, out);
    dmi_model_leave(m);
    return s;
}

static dm_status embed(dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                       const dm_infer_options *opts, float *out)
{
    dm_infer_options o;
    dm_status s = infer_options(opts, &o);
    if (!s) s = check_texts(n, texts, lens, NULL, NULL);
    if (s || n == 0) return s;
    embed_out eo = {.out = out, .pooling = o.pooling, .normalize = o.normalize};
    if (eo.pooling == DM_POOL_DEFAULT) {
        if (m->st_pooling_unsupported)
            return dmi_fail(DM_ERR_UNSUPPORTED, "%s: the folder's sentence-transformers pooling is neither "
                            "mean nor CLS: choose the pooling explicitly", m->src_dir);
        eo.pooling = m->st_pooling != DM_POOL_DEFAULT ? m->st_pooling : DM_POOL_CLS;
    }
    if (eo.pooling != DM_POOL_CLS && eo.pooling != DM_POOL_MEAN)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "pooling %d is not a dm_pooling", (int)eo.pooling);
    if (eo.normalize < 0) eo.normalize = m->st_normalize;
    size_t max_length = o.max_length ? o.max_length : (m->st_max_seq_length ? m->st_max_seq_length : m->dims.P);
    dmi_loader l;
    dmi_loader_options lo = loader_options(m, &o, max_length);
    if ((s = dmi_loader_texts(&l, m, n, texts, lens, NULL, NULL, &lo))) return s;
    size_t B = o.batch_size < n ? o.batch_size : n;
    eo.pooled = dmi_malloc((B ? B : 1) * m->dims.C * sizeof(float));
    s = eo.pooled ? for_each_batch(m, &l, o.batch_size, &o, collect_embeddings, &eo) : DM_ERR_NO_MEMORY;
    free(eo.pooled);
    dmi_loader_free(&l);
    return s;
}

/* ------------------------------------------------------------------ evaluate */

/* The model's label id of each row of DS (by name). */
dm_status dmi_model_dataset_labels(const dm_model *m, const dm_dataset *ds, const char *what, int32_t *out)
{
    size_t k = dm_dataset_num_labels(ds);
    int32_t *map = dmi_malloc((k ? k : 1) * sizeof *map);
    if (!map) return DM_ERR_NO_MEMORY;
    dm_status s = DM_OK;
    for (size_t j = 0; j < k && !s; j++) {
        const char *name = dm_dataset_label_name(ds, (int32_t)j);
        map[j] = -1;
        for (size_t l = 0; l < m->dims.L; l++)
            if (strcmp(m->labels[l], name) == 0) map[j] = (int32_t)l;
        if (map[j] < 0) {
            char known[512] = "", where[96] = "";
            for (size_t l = 0; l < m->dims.L && strlen(known) < 400; l++) {
                strcat(known, l ? ", " : "");
                strncat(known, m->labels[l], 100);
            }
            for (size_t i = 0, n = dm_dataset_size(ds); i < n; i++) {
                if (dm_dataset_label(ds, i) != (int32_t)j) continue;
                size_t line = dmi_dataset_row_line(ds, i);
                if (line) snprintf(where, sizeof where, " (first at line %zu, row %zu)", line, i + 1);
                else snprintf(where, sizeof where, " (first at row %zu)", i + 1);
                break;
            }
            s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: label '%s'%s is not one of the model's labels (%s)", what, name,
                         where, known);
        }
    }
    for (size_t i = 0, n = dm_dataset_size(ds); i < n && !s; i++) {
        int32_t y = dm_dataset_label(ds, i);
        if (y < 0) s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: row %zu (id %s) has no label", what, i + 1, dm_dataset_id(ds, i));
        else out[i] = map[y];
    }
    free(map);
    return s;
}

/* Texts, lengths and pairs of DS as arrays (pointers into DS). */
dm_status dmi_dataset_arrays(const dm_dataset *ds, const char ***texts, size_t **lens, const char ***pairs,
                             size_t **pair_lens)
{
    size_t n = dm_dataset_size(ds);
    bool has_pair = n && dm_dataset_pair(ds, 0, &(size_t){0}) != NULL;
    *texts = dmi_malloc((n ? n : 1) * sizeof **texts);
    *lens = dmi_malloc((n ? n : 1) * sizeof **lens);
    *pairs = has_pair ? dmi_malloc(n * sizeof **pairs) : NULL;
    *pair_lens = has_pair ? dmi_malloc(n * sizeof **pair_lens) : NULL;
    if (!*texts || !*lens || (has_pair && (!*pairs || !*pair_lens))) {
        free(*texts), free(*lens), free(*pairs), free(*pair_lens);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        (*texts)[i] = dm_dataset_text(ds, i, &(*lens)[i]);
        if (has_pair) (*pairs)[i] = dm_dataset_pair(ds, i, &(*pair_lens)[i]);
    }
    return DM_OK;
}

static dm_status evaluate(dm_model *m, const dm_dataset *ds, const dm_infer_options *opts, dm_eval_report **out);

DM_API dm_status dm_model_evaluate(dm_model *m, const dm_dataset *ds, const dm_infer_options *opts,
                                   dm_eval_report **out)
{
    if (!m || !ds || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_evaluate: NULL model, dataset or output");
    dm_status s = dmi_model_enter(m, "dm_model_evaluate");
    if (s) return s;
    s = evaluate(m, ds, opts, out);
    dmi_model_leave(m);
    return s;
}

static dm_status evaluate(dm_model *m, const dm_dataset *ds, const dm_infer_options *opts, dm_eval_report **out)
{
    if (dm_dataset_size(ds) == 0) return dmi_fail(DM_ERR_RANGE, "dm_model_evaluate: the dataset is empty");
    dm_infer_options o;
    dm_status s = infer_options(opts, &o);
    if (s) return s;
    dmi_loader l;
    dmi_loader_options lo = loader_options(m, &o, o.max_length);
    if ((s = dmi_loader_dataset(&l, m, ds, "evaluation data", &lo))) return s;
    s = dmi_model_evaluate_loader(m, &l, &o, out);
    dmi_loader_free(&l);
    return s;
}

dm_status dmi_model_evaluate_loader(dm_model *m, const dmi_loader *l, const dm_infer_options *o, dm_eval_report **out)
{
    size_t n = l->n, L = m->dims.L;
    if (n == 0) return dmi_fail(DM_ERR_RANGE, "dm_model_evaluate: the dataset is empty");
    const int32_t *y = l->labels;
    int32_t *pred = dmi_malloc(n * sizeof *pred);
    float *logits = dmi_malloc(n * L * sizeof *logits), *probs = dmi_malloc(n * L * sizeof *probs);
    dm_status s = y && pred && logits && probs ? DM_OK : y ? DM_ERR_NO_MEMORY : dmi_fail(DM_ERR_INTERNAL, "no labels");
    predict_out po = {logits};
    if (!s) s = for_each_batch(m, l, o->batch_size, o, collect_logits, &po);
    double loss = 0.0;
    for (size_t i = 0; !s && i < n; i++) {
        softmax_row(probs + i * L, logits + i * L, L);
        pred[i] = argmax(logits + i * L, L);
        const float *z = logits + i * L;
        double mx = z[0], sum = 0.0;
        for (size_t j = 1; j < L; j++) mx = z[j] > mx ? z[j] : mx;
        for (size_t j = 0; j < L; j++) sum += exp((double)z[j] - mx);
        loss += mx + log(sum) - z[y[i]];
    }
    dm_eval_report *r = NULL;
    if (!s) s = dm_metrics_compute(n, L, y, pred, probs, (const char *const *)m->labels, &r);
    if (!s) {
        r->loss = loss / (double)n;
        *out = r;
    }
    free(pred), free(logits), free(probs);
    return s;
}
