/*
 * train.c — fine-tuning a dm_model with AdamW, as Hugging Face's Trainer does
 * it: decoupled weight decay (not on biases and LayerNorm weights), linear
 * warmup then linear/cosine/constant schedule, clipping by global norm,
 * gradient accumulation, batches grouped by length with dynamic padding,
 * seeded shuffling and dropout, evaluation with best-model keeping and early
 * stopping, and checkpoints from which a run resumes exactly.
 *
 * Everything random is a pure function of (seed, epoch) for the data order
 * and (seed, step) for dropout (Philox streams), so a resumed run recomputes
 * the same batches and masks as the run it continues.
 */
#include "train_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

DM_API void dm_train_options_default(dm_train_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->epochs = 3;
    o->batch_size = 32;
    o->grad_accum = 1;
    o->learning_rate = 5e-5;
    o->weight_decay = 0.01;
    o->adam_beta1 = 0.9;
    o->adam_beta2 = 0.999;
    o->adam_epsilon = 1e-8;
    o->max_grad_norm = 1.0;
    o->schedule = DM_SCHEDULE_LINEAR;
    o->max_length = 128;
    o->seed = 42;
    o->dropout = -1.0;
    o->shuffle = 1;
    o->group_by_length = 1;
    o->keep_best = 1;
    o->checkpoint_limit = 2;
}

double dmi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ options */

static dm_status check_options(const dm_train_options *o, const dm_model *m)
{
    if (o->epochs < 1 && o->max_steps == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "epochs must be at least 1 (got %d) unless max_steps is set", o->epochs);
    if (o->batch_size < 1) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "batch_size must be at least 1");
    if (o->grad_accum < 1) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "grad_accum must be at least 1 (got %d)", o->grad_accum);
    if (!(o->learning_rate > 0.0) || !isfinite(o->learning_rate))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "learning_rate must be positive (got %g)", o->learning_rate);
    if (!(o->weight_decay >= 0.0)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "weight_decay must be >= 0 (got %g)", o->weight_decay);
    if (!(o->adam_beta1 >= 0.0 && o->adam_beta1 < 1.0) || !(o->adam_beta2 >= 0.0 && o->adam_beta2 < 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "adam betas must be in [0, 1) (got %g, %g)", o->adam_beta1, o->adam_beta2);
    if (!(o->adam_epsilon > 0.0)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "adam_epsilon must be positive");
    if (!(o->max_grad_norm >= 0.0)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "max_grad_norm must be >= 0 (0 = off)");
    if (o->schedule < DM_SCHEDULE_LINEAR || o->schedule > DM_SCHEDULE_COSINE)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "schedule %d is not a dm_lr_schedule", (int)o->schedule);
    if (!(o->warmup_ratio >= 0.0 && o->warmup_ratio <= 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "warmup_ratio must be in [0, 1] (got %g)", o->warmup_ratio);
    if (o->max_length < 2) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "max_length must be at least 2 (got %zu)", o->max_length);
    if (!(o->dropout < 1.0) || (o->dropout < 0.0 && o->dropout != -1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dropout must be in [0, 1), or -1 for config.json's (got %g)", o->dropout);
    if (o->class_weights) {
        if (o->balanced_class_weights)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "class_weights and balanced_class_weights are exclusive");
        for (size_t i = 0; i < m->dims.L; i++)
            if (!(o->class_weights[i] >= 0.0f) || !isfinite(o->class_weights[i]))
                return dmi_fail(DM_ERR_INVALID_ARGUMENT, "class_weights[%zu] = %g must be finite and >= 0", i,
                                (double)o->class_weights[i]);
    }
    if (o->early_stopping_patience < 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "early_stopping_patience must be >= 0");
    if (o->checkpoint_steps && !o->output_dir)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "checkpoint_steps needs an output_dir");
    return DM_OK;
}

/* ------------------------------------------------------------------ schedule */

double dmi_lr_at(const dm_train_options *o, uint64_t step, uint64_t total, uint64_t warmup)
{
    double base = o->learning_rate;
    if (step < warmup) return base * (double)step / (double)(warmup ? warmup : 1);
    double span = (double)(total > warmup ? total - warmup : 1);
    double progress = (double)(step - warmup) / span;
    switch (o->schedule) {
    case DM_SCHEDULE_CONSTANT: return base;
    case DM_SCHEDULE_COSINE: {
        double f = 0.5 * (1.0 + cos(M_PI * progress));
        return base * (f > 0.0 ? f : 0.0);
    }
    default: {
        double f = (double)(total > step ? total - step : 0) / span;
        return base * (f > 0.0 ? f : 0.0);
    }
    }
}

/* ------------------------------------------------------------------ data order */

/* The examples of epoch E in the order they are seen: a seeded shuffle, then,
 * when grouping by length, megabatches of 50 batches each sorted longest
 * first (Hugging Face's LengthGroupedSampler), so a batch pads to little more
 * than its own longest example. */
dm_status dmi_epoch_order(const dm_train_options *o, dm_encoding **encs, size_t n, uint64_t epoch, uint32_t *order)
{
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    if (o->shuffle) {
        dmi_rng rng;
        dmi_rng_init(&rng, o->seed, 0x5348554600000000ull | epoch); /* "SHUF" */
        dmi_rng_shuffle(&rng, order, n);
    }
    if (!o->group_by_length) return DM_OK;
    size_t mega = 50 * o->batch_size;
    for (size_t lo = 0; lo < n; lo += mega) {
        size_t hi = lo + mega < n ? lo + mega : n;
        dm_status s = dmi_sort_by_length(order + lo, hi - lo, encs);
        if (s) return s;
    }
    return DM_OK;
}

/* ------------------------------------------------------------------ setup */

static dm_status alloc_state(dmi_trainer *t)
{
    dmb_backend *be = t->be;
    size_t bytes = t->m->n_params * sizeof(float);
    t->grads = be->ops->alloc(be, bytes);
    t->adam_m = be->ops->alloc(be, bytes);
    t->adam_v = be->ops->alloc(be, bytes);
    t->stats = be->ops->alloc(be, ((size_t)t->o.grad_accum + 2) * sizeof(double));
    t->wsum = dmi_calloc((size_t)t->o.grad_accum, sizeof *t->wsum);
    t->weights_host = dmi_calloc(t->o.batch_size, sizeof *t->weights_host);
    if (!t->grads || !t->adam_m || !t->adam_v || !t->stats || !t->wsum || !t->weights_host)
        return dmi_fail_prefix(DM_ERR_NO_MEMORY, "optimizer state");
    dm_status s = bert_params_map(&t->gp, &t->m->dims, t->grads);
    if (!s) s = be->ops->zero(be, t->adam_m, bytes);
    if (!s) s = be->ops->zero(be, t->adam_v, bytes);
    if (s) return s;
    /* Activations for the longest batch this data can make. */
    size_t longest = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->plan.encs[i]->length > longest) longest = t->plan.encs[i]->length;
    size_t B = t->o.batch_size < t->n ? t->o.batch_size : t->n;
    return bert_acts_alloc(be, &t->m->dims, B, dmi_model_padded_length(t->m, longest), true, &t->acts);
}

static dm_status setup_class_weights(dmi_trainer *t)
{
    size_t L = t->m->dims.L;
    if (!t->o.class_weights && !t->o.balanced_class_weights) return DM_OK;
    t->class_weights_host = dmi_malloc(L * sizeof(float));
    if (!t->class_weights_host) return DM_ERR_NO_MEMORY;
    if (t->o.class_weights) {
        memcpy(t->class_weights_host, t->o.class_weights, L * sizeof(float));
    } else {
        /* scikit-learn's "balanced": n / (classes * count); classes counted
         * among those present (an absent class never weighs a target). */
        size_t *count = dmi_calloc(L, sizeof *count);
        if (!count) return DM_ERR_NO_MEMORY;
        for (size_t i = 0; i < t->n; i++) count[t->labels[i]]++;
        size_t present = 0;
        for (size_t c = 0; c < L; c++) present += count[c] > 0;
        for (size_t c = 0; c < L; c++)
            t->class_weights_host[c] = count[c] ? (float)((double)t->n / ((double)present * (double)count[c])) : 1.0f;
        free(count);
    }
    return DM_OK;
}

/* What the rows say, in order: an exact resume needs the same data, and a
 * row count alone does not tell two data sets apart. */
static dm_status fingerprint_data(dmi_trainer *t, const dm_dataset *ds)
{
    crypto_generichash_state st;
    unsigned char h[16];
    if (crypto_generichash_init(&st, NULL, 0, sizeof h) != 0)
        return dmi_fail(DM_ERR_INTERNAL, "cannot start the data fingerprint");
    for (size_t i = 0; i < t->n; i++) {
        size_t len = 0, plen = 0;
        const char *text = dm_dataset_text(ds, i, &len), *pair = dm_dataset_pair(ds, i, &plen);
        const char *label = dm_dataset_label_name(ds, dm_dataset_label(ds, i));
        uint64_t sizes[3] = {len, pair ? plen + 1 : 0, label ? strlen(label) : 0};
        crypto_generichash_update(&st, (const unsigned char *)sizes, sizeof sizes);
        crypto_generichash_update(&st, (const unsigned char *)text, len);
        if (pair) crypto_generichash_update(&st, (const unsigned char *)pair, plen);
        if (label) crypto_generichash_update(&st, (const unsigned char *)label, sizes[2]);
    }
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(t->data_fingerprint, sizeof t->data_fingerprint, h, sizeof h);
    return DM_OK;
}

static void plan_schedule(dmi_trainer *t)
{
    t->micro_per_epoch = (t->n + t->o.batch_size - 1) / t->o.batch_size;
    t->steps_per_epoch = (t->micro_per_epoch + (size_t)t->o.grad_accum - 1) / (size_t)t->o.grad_accum;
    t->total_steps = t->o.max_steps ? t->o.max_steps : (uint64_t)t->o.epochs * t->steps_per_epoch;
    t->warmup_steps = t->o.warmup_steps ? t->o.warmup_steps
                                        : (uint64_t)ceil(t->o.warmup_ratio * (double)t->total_steps);
}

static dm_status trainer_init(dmi_trainer *t, dm_model *m, const dm_dataset *train, const dm_train_options *o)
{
    memset(t, 0, sizeof *t);
    t->m = m;
    t->o = *o;
    t->be = m->be;
    t->best_metric = NAN;
    t->order_epoch = UINT64_MAX;
    t->n = dm_dataset_size(train);
    if (t->n == 0) return dmi_fail(DM_ERR_RANGE, "the training data has no rows");
    t->labels = dmi_malloc(t->n * sizeof *t->labels);
    t->order = dmi_malloc(t->n * sizeof *t->order);
    if (!t->labels || !t->order) return DM_ERR_NO_MEMORY;
    dm_status s = dmi_model_dataset_labels(m, train, "training data", t->labels);
    if (!s) s = fingerprint_data(t, train);
    if (s) return s;
    const char **texts, **pairs;
    size_t *lens, *pair_lens;
    if ((s = dmi_dataset_arrays(train, &texts, &lens, &pairs, &pair_lens))) return s;
    s = dmi_model_encode(m, t->n, texts, lens, pairs, pair_lens, o->max_length, DM_UTF8_REPLACE, &t->plan);
    free(texts), free(lens), free(pairs), free(pair_lens);
    if (s) return dmi_fail_prefix(s, "tokenizing the training data");
    plan_schedule(t);
    if ((s = setup_class_weights(t))) return s;
    if (o->keep_best) {
        t->best_params = dmi_malloc(m->n_params * sizeof(float));
        if (!t->best_params) return DM_ERR_NO_MEMORY;
    }
    if ((s = dmb_set_threads(t->be, o->threads ? o->threads : m->threads))) return s;
    return alloc_state(t);
}

static void trainer_free(dmi_trainer *t)
{
    dmb_backend *be = t->be;
    if (be) {
        bert_acts_free(be, &t->acts);
        if (t->grads) be->ops->free(be, t->grads);
        if (t->adam_m) be->ops->free(be, t->adam_m);
        if (t->adam_v) be->ops->free(be, t->adam_v);
        if (t->stats) be->ops->free(be, t->stats);
    }
    bert_params_unmap(&t->gp);
    dmi_batch_plan_free(&t->plan);
    free(t->labels);
    free(t->order);
    free(t->class_weights_host);
    free(t->wsum);
    free(t->weights_host);
    free(t->best_params);
    if (t->log) fclose(t->log);
}

/* ------------------------------------------------------------------ one step */

static bert_dropout step_dropout(const dmi_trainer *t, uint64_t micro)
{
    const dmi_bert_config *c = &t->m->cfg;
    bert_dropout d;
    if (t->o.dropout >= 0.0) {
        d.hidden = d.attention = d.classifier = (float)t->o.dropout;
    } else {
        d.hidden = (float)c->hidden_dropout;
        d.attention = (float)c->attention_dropout;
        d.classifier = (float)(c->classifier_dropout >= 0.0 ? c->classifier_dropout : c->hidden_dropout);
    }
    d.seed = t->o.seed;
    d.step = micro; /* the global micro-batch index names the streams */
    return d;
}

/* Forward and backward of micro-batch K of the step: its summed loss goes
 * to the device's step statistics (read back once per step), the sum of its
 * examples' loss weights to WSUM[K]. */
static dm_status micro_batch(dmi_trainer *t, const uint32_t *idx, size_t B, uint64_t micro, size_t k, size_t group,
                             double *wsum_out)
{
    dm_model *m = t->m;
    size_t longest = t->plan.encs[idx[0]]->length;
    for (size_t b = 1; b < B; b++)
        if (t->plan.encs[idx[b]]->length > longest) longest = t->plan.encs[idx[b]]->length;
    size_t T = dmi_model_padded_length(m, longest);
    dm_status s = dmi_model_fill_batch(m, &t->acts, &t->plan, idx, B, T, t->labels);
    if (s) return s;
    /* Per-example loss weights (the class weights of their labels); HF's
     * CrossEntropyLoss(weight): sum(w_y * loss) / sum(w_y) per batch, and
     * each micro-batch counts 1 / group of the step. */
    double wsum = 0.0;
    for (size_t b = 0; b < B; b++) {
        t->weights_host[b] = t->class_weights_host ? t->class_weights_host[t->labels[idx[b]]] : 1.0f;
        wsum += t->weights_host[b];
    }
    if (wsum <= 0.0) wsum = 1.0; /* every target weighs 0: the loss is 0 */
    *wsum_out = wsum;
    float scale = (float)(1.0 / (wsum * (double)group));
    s = t->be->ops->upload(t->be, t->acts.weights, t->weights_host, B * sizeof(float));
    bert_dropout d = step_dropout(t, micro);
    if (!s) s = bert_forward(t->be, &m->dims, &m->p, &t->acts, B, T, &d, t->acts.weights, scale);
    if (!s) s = t->be->ops->reduce(t->be, t->stats + k, t->acts.losses, B, DMB_SUM, 0);
    if (!s) s = bert_backward(t->be, &m->dims, &m->p, &t->gp, &t->acts, B, T, &d);
    return s;
}

dm_status dmi_adamw_update(dm_model *m, float *grads, float *adam_m, float *adam_v, uint64_t step, double lr,
                           const dm_train_options *o, double norm)
{
    dmb_backend *be = m->be;
    if (!isfinite(norm))
        return dmi_fail(DM_ERR_NUMERIC, "step %llu: the gradient norm is %s", (unsigned long long)step + 1,
                        isnan(norm) ? "NaN" : "infinite");
    float clip = 1.0f;
    if (o->max_grad_norm > 0.0) {
        double coef = o->max_grad_norm / (norm + 1e-6); /* as torch.nn.utils.clip_grad_norm_ */
        if (coef < 1.0) clip = (float)coef;
    }
    /* Consecutive tensors with the same decay setting are updated in one call. */
    for (size_t i = 0; i < m->n_tensors;) {
        size_t j = i, off = m->tensors[i].offset, len = 0;
        while (j < m->n_tensors && m->tensors[j].decay == m->tensors[i].decay) len += m->tensors[j++].numel;
        float wd = m->tensors[i].decay ? (float)o->weight_decay : 0.0f;
        dm_status s = be->ops->adamw(be, m->params + off, grads + off, adam_m + off, adam_v + off, len, (float)lr,
                                     (float)o->adam_beta1, (float)o->adam_beta2, (float)o->adam_epsilon, wd, step + 1,
                                     clip);
        if (s) return s;
        i = j;
    }
    return DM_OK;
}

dm_status dmi_weights_finite_error(uint64_t step, double lr)
{
    return dmi_fail(DM_ERR_NUMERIC, "step %llu: the update made the weights non-finite (learning rate %g): nothing "
                    "was saved from this step", (unsigned long long)step + 1, lr);
}

dm_status dmi_adamw_step(dm_model *m, float *grads, float *adam_m, float *adam_v, uint64_t step, double lr,
                         const dm_train_options *o, double *grad_norm)
{
    dmb_backend *be = m->be;
    double *sq = be->ops->alloc(be, sizeof(double)), host[1];
    if (!sq) return DM_ERR_NO_MEMORY;
    dm_status s = be->ops->reduce(be, sq, grads, m->n_params, DMB_SUM_SQUARES, 0);
    if (!s) s = be->ops->download(be, host, sq, sizeof host);
    if (!s) *grad_norm = sqrt(host[0]);
    if (!s) s = dmi_adamw_update(m, grads, adam_m, adam_v, step, lr, o, *grad_norm);
    /* Finite gradients can still make non-finite weights (a learning rate of
     * 1e300): stop at this step, before a checkpoint or a save holds them. */
    if (!s) s = be->ops->reduce(be, sq, m->params, m->n_params, DMB_SUM_SQUARES, 0);
    if (!s) s = be->ops->download(be, host, sq, sizeof host);
    if (!s && !isfinite(host[0])) s = dmi_weights_finite_error(step, lr);
    be->ops->free(be, sq);
    return s;
}

/* The examples of micro-batch MB of epoch E (ORDER recomputed when the epoch
 * changes). */
static dm_status micro_examples(dmi_trainer *t, uint64_t epoch, size_t mb, const uint32_t **idx, size_t *B)
{
    if (t->order_epoch != epoch) {
        dm_status s = dmi_epoch_order(&t->o, t->plan.encs, t->n, epoch, t->order);
        if (s) return s;
        t->order_epoch = epoch;
    }
    size_t start = mb * t->o.batch_size;
    *idx = t->order + start;
    *B = t->n - start < t->o.batch_size ? t->n - start : t->o.batch_size;
    return DM_OK;
}

/* Reads back the check of the last update's weights when it has not been
 * read yet (a checkpoint, an evaluation or the end of the run needs it now;
 * a step reads it with its own statistics). */
static dm_status settle_weights_check(dmi_trainer *t)
{
    if (!t->weights_check_pending) return DM_OK;
    double w;
    size_t at = (size_t)t->o.grad_accum + 1;
    dm_status s = t->be->ops->download(t->be, &w, t->stats + at, sizeof w);
    t->weights_check_pending = false;
    if (!s && !isfinite(w)) s = dmi_weights_finite_error(t->step - 1, t->last_lr);
    return s;
}

/* The step's one readback: its micro-batches' loss sums, the squared
 * gradient norm and the previous update's weights check, all in one
 * download. */
static dm_status read_step_stats(dmi_trainer *t, size_t group, const double *wsum, double *loss, double *norm)
{
    size_t G = (size_t)t->o.grad_accum;
    double host[4096 + 2];
    if (G + 2 > sizeof host / sizeof *host) return dmi_fail(DM_ERR_RANGE, "grad_accum %zu is too large", G);
    dm_status s = t->be->ops->reduce(t->be, t->stats + G, t->grads, t->m->n_params, DMB_SUM_SQUARES, 0);
    if (!s) s = t->be->ops->download(t->be, host, t->stats, (G + 2) * sizeof(double));
    if (s) return s;
    if (t->weights_check_pending && !isfinite(host[G + 1])) return dmi_weights_finite_error(t->step - 1, t->last_lr);
    t->weights_check_pending = false;
    *loss = 0.0;
    for (size_t k = 0; k < group; k++) {
        if (!isfinite(host[k]))
            return dmi_fail(DM_ERR_NUMERIC, "step %llu: the training loss is %s (micro-batch %zu of the step)",
                            (unsigned long long)t->step + 1, isnan(host[k]) ? "NaN" : "infinite", k + 1);
        *loss += host[k] / wsum[k] / (double)group;
    }
    *norm = sqrt(host[G]);
    return DM_OK;
}

/* One optimizer step: its micro-batches, one readback, clipping, AdamW. */
static dm_status train_step(dmi_trainer *t, double *loss, double *lr, double *grad_norm, size_t *examples)
{
    uint64_t epoch = t->step / t->steps_per_epoch, in_epoch = t->step % t->steps_per_epoch;
    size_t first = (size_t)in_epoch * (size_t)t->o.grad_accum;
    size_t group = t->micro_per_epoch - first < (size_t)t->o.grad_accum ? t->micro_per_epoch - first
                                                                        : (size_t)t->o.grad_accum;
    dm_status s = t->be->ops->zero(t->be, t->grads, t->m->n_params * sizeof(float));
    *examples = 0;
    for (size_t k = 0; !s && k < group; k++) {
        const uint32_t *idx;
        size_t B;
        s = micro_examples(t, epoch, first + k, &idx, &B);
        uint64_t micro = epoch * t->micro_per_epoch + first + k;
        if (!s) s = micro_batch(t, idx, B, micro, k, group, &t->wsum[k]);
        *examples += B;
    }
    *lr = dmi_lr_at(&t->o, t->step, t->total_steps, t->warmup_steps);
    if (!s) s = read_step_stats(t, group, t->wsum, loss, grad_norm);
    if (!s) s = dmi_adamw_update(t->m, t->grads, t->adam_m, t->adam_v, t->step, *lr, &t->o, *grad_norm);
    /* Checked with the next readback (or settle_weights_check): no sync here. */
    size_t at = (size_t)t->o.grad_accum + 1;
    if (!s) s = t->be->ops->reduce(t->be, t->stats + at, t->m->params, t->m->n_params, DMB_SUM_SQUARES, 0);
    t->weights_check_pending = !s;
    t->last_lr = *lr;
    return s;
}

/* ------------------------------------------------------------------ evaluation, reporting */

static void log_json(dmi_trainer *t, const char *fmt, ...) DMI_PRINTF(2, 3);
static void log_json(dmi_trainer *t, const char *fmt, ...)
{
    if (!t->log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(t->log, fmt, ap);
    va_end(ap);
    fputc('\n', t->log);
    fflush(t->log);
}

static double json_num(double x) { return isfinite(x) ? x : 0.0; }

static void fill_progress(const dmi_trainer *t, dm_train_progress *p, double loss, double lr, double norm)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->step = t->step;
    p->total_steps = t->total_steps;
    p->epoch = (double)t->step / (double)t->steps_per_epoch;
    p->epochs = t->o.max_steps ? (int)ceil((double)t->total_steps / (double)t->steps_per_epoch) : t->o.epochs;
    p->loss = loss;
    p->learning_rate = lr;
    p->grad_norm = norm;
    p->elapsed_sec = dmi_now() - t->started;
    /* Rates count this run only: a resumed run restores examples_seen. */
    p->examples_per_sec = p->elapsed_sec > 0 ? (double)t->examples_this_run / p->elapsed_sec : 0.0;
    p->val_loss = p->val_accuracy = p->val_macro_f1 = NAN;
}

/* Evaluates on VAL; keeps the best weights; counts evaluations without
 * improvement. Sets *STOP when early stopping says so. */
static dm_status evaluate(dmi_trainer *t, const dm_dataset *val, int *stop, dm_train_progress *p)
{
    t->m->params16_stale = true; /* the weights changed since the last evaluation */
    /* Validation texts are cut where training texts are. */
    dm_infer_options io;
    dm_infer_options_default(&io);
    io.max_length = t->o.max_length;
    io.batch_size = t->o.batch_size;
    dm_eval_report *r;
    dm_status s = dm_model_evaluate(t->m, val, &io, &r);
    if (s) return dmi_fail_prefix(s, "evaluating at step %llu", (unsigned long long)t->step);
    p->evaluated = 1;
    p->val_loss = r->loss;
    p->val_accuracy = r->accuracy;
    p->val_macro_f1 = r->macro_f1;
    bool better = isnan(t->best_metric) || r->accuracy > t->best_metric;
    log_json(t, "{\"step\": %llu, \"epoch\": %.4f, \"eval_loss\": %.6g, \"eval_accuracy\": %.6g, "
                "\"eval_macro_f1\": %.6g, \"best\": %s}",
             (unsigned long long)t->step, p->epoch, json_num(r->loss), r->accuracy, r->macro_f1,
             better ? "true" : "false");
    if (better) {
        t->best_metric = r->accuracy;
        t->best_step = t->step;
        t->evals_without_improvement = 0;
        if (t->best_params) s = dmi_model_get_params(t->m, t->best_params);
    } else {
        t->evals_without_improvement++;
        if (t->o.early_stopping_patience && t->evals_without_improvement >= t->o.early_stopping_patience) *stop = 1;
    }
    dm_eval_report_free(r);
    return s;
}

/* ------------------------------------------------------------------ the run */

/* The log lines of steps up to STEP (a resumed run's checkpoint): a run
 * killed after its last checkpoint logged steps the resumed run repeats, and
 * its last line may be cut. The kept lines are written back atomically. */
static dm_status trim_log(const char *path, uint64_t step)
{
    char *text;
    size_t len;
    if (!dmi_is_file(path)) return DM_OK;
    dm_status s = dmi_read_file(path, &text, &len);
    if (s) return dmi_fail_prefix(s, "the training log");
    size_t w = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        json_t *j = nl ? json_loadb(text + at, n, 0, NULL) : NULL; /* a line without its newline was cut */
        json_t *js = json_object_get(j, "step");
        if (json_is_integer(js) && (uint64_t)json_integer_value(js) <= step) {
            memmove(text + w, text + at, n + 1);
            w += n + 1;
        }
        json_decref(j);
        at += n + (nl ? 1 : 0);
    }
    s = dmi_write_file_atomic(path, text, w);
    free(text);
    return s;
}

static dm_status open_log(dmi_trainer *t, bool resumed)
{
    if (!t->o.log_jsonl) return DM_OK;
    dm_status s = resumed ? trim_log(t->o.log_jsonl, t->step) : DM_OK;
    if (s) return s;
    t->log = fopen(t->o.log_jsonl, resumed ? "a" : "w");
    if (!t->log) return dmi_fail(DM_ERR_IO, "%s: cannot open the training log: %s", t->o.log_jsonl, strerror(errno));
    return DM_OK;
}

static dm_status check_labels(const dm_model *m, const dm_dataset *ds, const char *what)
{
    int32_t *y = dmi_malloc((dm_dataset_size(ds) ? dm_dataset_size(ds) : 1) * sizeof *y);
    dm_status s = y ? dmi_model_dataset_labels(m, ds, what, y) : DM_ERR_NO_MEMORY;
    free(y);
    return s;
}

/* The output folder must take files before hours of training go into it:
 * made now (*MADE: it did not exist), and a file created and removed in it. */
static dm_status probe_output_dir(const char *dir, bool *made)
{
    *made = !dmi_is_dir(dir);
    dm_status s = dmi_make_dirs(dir);
    if (s) return dmi_fail_prefix(s, "output_dir");
    char probe[4096];
    if ((s = dmi_path_join(probe, sizeof probe, dir, ".dm-probe"))) return s;
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return dmi_fail(DM_ERR_IO, "output_dir %s: cannot write there: %s", dir, strerror(errno));
    close(fd);
    unlink(probe);
    return DM_OK;
}

static dm_status run(dmi_trainer *t, const dm_dataset *val, dm_train_result *res)
{
    t->started = dmi_now();
    int stop = 0;
    double last_loss = NAN;
    while (t->step < t->total_steps && !stop) {
        double loss, lr, norm;
        size_t examples;
        dm_status s = train_step(t, &loss, &lr, &norm, &examples);
        if (s) return s;
        t->step++;
        t->examples_seen += examples;
        t->examples_this_run += examples;
        t->steps_this_run++;
        last_loss = loss;
        t->epoch_loss_sum += loss;
        t->epoch_loss_steps++;
        dm_train_progress p;
        fill_progress(t, &p, loss, lr, norm);
        log_json(t, "{\"step\": %llu, \"epoch\": %.4f, \"loss\": %.8g, \"learning_rate\": %.8g, \"grad_norm\": %.8g, "
                    "\"examples_per_sec\": %.2f, \"elapsed_sec\": %.3f}",
                 (unsigned long long)t->step, p.epoch, loss, lr, norm, p.examples_per_sec, p.elapsed_sec);
        double remaining = (double)(t->total_steps - t->step);
        p.eta_sec = p.elapsed_sec / (double)t->steps_this_run * remaining;
        bool epoch_end = t->step % t->steps_per_epoch == 0;
        bool want_eval = val && (t->o.eval_steps ? t->step % t->o.eval_steps == 0 : epoch_end);
        bool want_checkpoint = t->o.checkpoint_steps && t->step % t->o.checkpoint_steps == 0;
        if ((want_eval || want_checkpoint) && (s = settle_weights_check(t))) return s;
        if (want_eval && (s = evaluate(t, val, &stop, &p))) return s;
        if (t->o.callback && t->o.callback(&p, t->o.callback_user))
            return dmi_fail(DM_ERR_CANCELLED, "training cancelled by the callback at step %llu",
                            (unsigned long long)t->step);
        if (want_checkpoint && (s = dmi_checkpoint_save(t))) return s;
        if (epoch_end && t->step < t->total_steps) t->epoch_loss_sum = 0.0, t->epoch_loss_steps = 0;
    }
    dm_status s = settle_weights_check(t);
    if (s) return s;
    if (res) {
        res->steps = t->step;
        res->epochs = (double)t->step / (double)t->steps_per_epoch;
        res->final_loss = t->epoch_loss_steps ? t->epoch_loss_sum / (double)t->epoch_loss_steps : last_loss;
        res->best_val_metric = t->best_metric;
        res->best_step = t->best_step;
        res->stopped_early = stop;
    }
    return DM_OK;
}

DM_API dm_status dm_train(dm_model *m, const dm_dataset *train, const dm_dataset *val, const dm_train_options *opts,
                          dm_train_result *result)
{
    if (!m || !train) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_train: NULL model or training data");
    if (result && result->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_train_result: set struct_size to sizeof(dm_train_result)");
    dm_train_options o;
    dm_train_options_default(&o);
    if (opts && dmi_copy_options(&o, sizeof o, opts, "dm_train_options")) return DM_ERR_INVALID_ARGUMENT;
    dm_status s = check_options(&o, m);
    if (s) return s;
    if (val && dm_dataset_size(val) == 0) return dmi_fail(DM_ERR_RANGE, "the validation data has no rows");
    if ((s = dmi_model_begin_training(m))) return s;
    /* What can be found wrong cheaply fails before any work: labels the
     * model does not know (not at the first evaluation), an output folder
     * that cannot be written (not at the final save). */
    s = check_labels(m, train, "training data");
    if (!s && val) s = check_labels(m, val, "validation data");
    bool made_dir = false;
    if (!s && o.output_dir) s = probe_output_dir(o.output_dir, &made_dir);
    if (s) {
        dmi_model_end_training(m);
        return s;
    }
    double t0 = dmi_now();
    dmi_trainer t;
    m->params16_stale = true; /* training changes the weights the bfloat16 copy mirrors */
    s = trainer_init(&t, m, train, &o);
    if (!s && o.resume_from) s = dmi_checkpoint_load(&t, o.resume_from);
    if (!s) s = open_log(&t, o.resume_from != NULL);
    dm_train_result res = {0};
    res.struct_size = sizeof res;
    if (!s) s = run(&t, val, &res);
    if (!s && o.keep_best && t.best_step && t.best_step != t.step) s = dmi_model_set_params(m, t.best_params);
    if (!s && o.output_dir) s = dm_model_save(m, o.output_dir);
    res.seconds = dmi_now() - t0;
    if (result) {
        size_t n = result->struct_size < sizeof res ? result->struct_size : sizeof res;
        memcpy(result, &res, n);
        result->struct_size = n;
    }
    trainer_free(&t);
    if (s && made_dir) rmdir(o.output_dir); /* only when still empty */
    dmi_model_end_training(m);
    return s;
}
