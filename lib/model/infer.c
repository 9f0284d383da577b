/*
 * infer.c — predictions, embeddings and evaluation on texts: tokenize all
 * texts at once (on every core), sort them by length so each batch pads to
 * little more than its own longest text, run the forward pass per batch and
 * put the results back in the caller's order.
 */
#include "model_internal.h"
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

/* An example's length and index, sorted together so that the comparison
 * needs no context (qsort has no user pointer, and a global would race when
 * distinct models run on different threads). */
typedef struct len_index {
    uint32_t length, pos, index;
} len_index;

static int by_length_desc(const void *x, const void *y)
{
    const len_index *a = x, *b = y;
    if (a->length != b->length) return a->length > b->length ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* ORDER sorted by encoding length, longest first; ties keep their order (a
 * stable sort, as Python's sorted in Hugging Face's LengthGroupedSampler). */
dm_status dmi_sort_by_length(uint32_t *order, size_t n, dm_encoding *const *encs)
{
    len_index *tmp = dmi_malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) tmp[i] = (len_index){(uint32_t)encs[order[i]]->length, (uint32_t)i, order[i]};
    qsort(tmp, n, sizeof *tmp, by_length_desc);
    for (size_t i = 0; i < n; i++) order[i] = tmp[i].index;
    free(tmp);
    return DM_OK;
}

dm_status dmi_model_encode(const dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                           const char *const *pairs, const size_t *pair_lens, size_t max_length,
                           dm_invalid_utf8 invalid_utf8, dmi_batch_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (max_length == 0 || max_length > m->dims.P) max_length = m->dims.P;
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
    eo.max_length = max_length;
    eo.invalid_utf8 = invalid_utf8;
    eo.threads = m->threads;
    dm_status s = dm_tokenizer_encode_batch(m->tok, n, texts, lens, pairs, pair_lens, &eo, &plan->encs);
    if (s) return s;
    plan->n = n;
    plan->order = dmi_malloc((n ? n : 1) * sizeof *plan->order);
    if (!plan->order) {
        dmi_batch_plan_free(plan);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) plan->order[i] = (uint32_t)i;
    if ((s = dmi_sort_by_length(plan->order, n, plan->encs))) dmi_batch_plan_free(plan);
    return s;
}

void dmi_batch_plan_free(dmi_batch_plan *plan)
{
    if (plan->encs) dm_encodings_free(plan->encs, plan->n);
    free(plan->order);
    memset(plan, 0, sizeof *plan);
}

size_t dmi_model_padded_length(const dm_model *m, size_t longest)
{
    size_t T = (longest + 7) / 8 * 8;
    if (T > m->dims.P) T = m->dims.P;
    return T ? T : 1;
}

dm_status dmi_model_fill_batch(dm_model *m, bert_acts *a, const dmi_batch_plan *plan, const uint32_t *idx,
                               size_t B, size_t T, const int32_t *labels)
{
    size_t n = B * T;
    int32_t pad = dm_tokenizer_special_id(m->tok, DM_SPECIAL_PAD);
    if (pad < 0) pad = 0;
    int32_t *ids = dmi_malloc(n * sizeof *ids), *types = dmi_calloc(n, sizeof *types);
    float *mask = dmi_calloc(n, sizeof *mask);
    int32_t *lab = labels ? dmi_malloc(B * sizeof *lab) : NULL;
    dm_status s = ids && types && mask && (!labels || lab) ? DM_OK : DM_ERR_NO_MEMORY;
    for (size_t b = 0; !s && b < B; b++) {
        const dm_encoding *e = plan->encs[idx[b]];
        for (size_t t = 0; t < T; t++) {
            bool real = t < e->length;
            ids[b * T + t] = real ? e->ids[t] : pad;
            types[b * T + t] = real ? e->type_ids[t] : 0;
            mask[b * T + t] = real ? 1.0f : 0.0f;
        }
        if (lab) lab[b] = labels[idx[b]];
    }
    const struct dmb_ops *o = m->be->ops;
    if (!s) s = o->upload(m->be, a->ids, ids, n * sizeof *ids);
    if (!s) s = o->upload(m->be, a->types, types, n * sizeof *types);
    if (!s) s = o->upload(m->be, a->key_mask, mask, n * sizeof *mask);
    if (!s && lab) s = o->upload(m->be, a->labels, lab, B * sizeof *lab);
    free(ids);
    free(types);
    free(mask);
    free(lab);
    return s;
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

/* Runs FN on every batch of PLAN (inference activations ready and filled),
 * reporting progress in texts. */
static dm_status for_each_batch(dm_model *m, const dmi_batch_plan *plan, size_t batch_size,
                                const dm_infer_options *o, batch_fn fn, void *user)
{
    if (batch_size == 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "batch_size must be at least 1");
    if (plan->n == 0) return DM_OK;
    size_t T_max = dmi_model_padded_length(m, plan->encs[plan->order[0]]->length);
    size_t B_max = batch_size < plan->n ? batch_size : plan->n;
    dm_status s = dmi_model_infer_acts(m, B_max, T_max);
    if (s) return s;
    if ((s = dmb_set_threads(m->be, m->threads))) return s;
    for (size_t start = 0; start < plan->n; start += batch_size) {
        size_t B = plan->n - start < batch_size ? plan->n - start : batch_size;
        const uint32_t *idx = plan->order + start;
        size_t T = dmi_model_padded_length(m, plan->encs[idx[0]]->length);
        if ((s = dmi_model_fill_batch(m, &m->infer, plan, idx, B, T, NULL))) return s;
        if ((s = bert_forward(m->be, &m->dims, &m->p, &m->infer, B, T, NULL, NULL, 0.0f))) return s;
        if ((s = fn(m, idx, B, T, user))) return s;
        if (o->progress && o->progress(start + B, plan->n, o->progress_user))
            return dmi_fail(DM_ERR_CANCELLED, "cancelled by the progress callback after %zu of %zu texts",
                            start + B, plan->n);
    }
    return DM_OK;
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
    dmi_batch_plan plan;
    dm_status s = dmi_model_encode(m, n, texts, lens, pairs, pair_lens, o->max_length, o->invalid_utf8, &plan);
    if (s) return s;
    predict_out po = {logits};
    s = for_each_batch(m, &plan, o->batch_size, o, collect_logits, &po);
    dmi_batch_plan_free(&plan);
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
    dmi_batch_plan plan;
    if ((s = dmi_model_encode(m, n, texts, lens, NULL, NULL, max_length, o.invalid_utf8, &plan))) return s;
    size_t B = o.batch_size < n ? o.batch_size : n;
    eo.pooled = dmi_malloc((B ? B : 1) * m->dims.C * sizeof(float));
    s = eo.pooled ? for_each_batch(m, &plan, o.batch_size, &o, collect_embeddings, &eo) : DM_ERR_NO_MEMORY;
    free(eo.pooled);
    dmi_batch_plan_free(&plan);
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
    size_t n = dm_dataset_size(ds), L = m->dims.L;
    if (n == 0) return dmi_fail(DM_ERR_RANGE, "dm_model_evaluate: the dataset is empty");
    dm_infer_options o;
    dm_status s = infer_options(opts, &o);
    if (s) return s;
    int32_t *y = dmi_malloc(n * sizeof *y), *pred = dmi_malloc(n * sizeof *pred);
    float *logits = dmi_malloc(n * L * sizeof *logits), *probs = dmi_malloc(n * L * sizeof *probs);
    const char **texts = NULL, **pairs = NULL;
    size_t *lens = NULL, *pair_lens = NULL;
    s = y && pred && logits && probs ? DM_OK : DM_ERR_NO_MEMORY;
    if (!s) s = dmi_model_dataset_labels(m, ds, "evaluation data", y);
    if (!s) s = dmi_dataset_arrays(ds, &texts, &lens, &pairs, &pair_lens);
    if (!s) s = predict_logits(m, n, texts, lens, pairs, pair_lens, &o, logits);
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
    free(y), free(pred), free(logits), free(probs);
    free(texts), free(lens), free(pairs), free(pair_lens);
    return s;
}
