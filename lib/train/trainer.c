/*
 * trainer.c — dm_trainer: fine-tuning a dm_model as Hugging Face's Trainer
 * does it (AdamW with its schedules and clipping through a dm_optimizer,
 * gradient accumulation, batches grouped by length with dynamic padding,
 * seeded shuffling and dropout, evaluation with best-model keeping and early
 * stopping, checkpoints a run resumes from exactly), one step at a time.
 *
 * Data are tokenized once (training and validation) by the loader; each
 * micro-batch goes to the device in one upload with its per-example loss
 * weights (the class weights of its labels); a step reads back once (its
 * micro-batches' loss sums, the gradient norm and the check of the previous
 * update's weights). Everything random is a pure function of (seed, epoch)
 * for the data order and (seed, micro-batch) for dropout (Philox streams),
 * so a resumed run recomputes the same batches and masks.
 */
#include "train_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ setup */

static dm_status setup_class_weights(dm_trainer *t)
{
    size_t L = t->m->dims.L;
    if (!t->o.class_weights && !t->o.balanced_class_weights) return DM_OK;
    t->class_weights_host = dmi_malloc(L * sizeof(float));
    if (!t->class_weights_host) return DM_ERR_NO_MEMORY;
    if (t->o.class_weights) {
        memcpy(t->class_weights_host, t->o.class_weights, L * sizeof(float));
        return DM_OK;
    }
    /* scikit-learn's "balanced": n / (classes * count); classes counted
     * among those present (an absent class never weighs a target). */
    size_t *count = dmi_calloc(L, sizeof *count);
    if (!count) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < t->n; i++) count[t->train.labels[i]]++;
    size_t present = 0;
    for (size_t c = 0; c < L; c++) present += count[c] > 0;
    for (size_t c = 0; c < L; c++)
        t->class_weights_host[c] = count[c] ? (float)((double)t->n / ((double)present * (double)count[c])) : 1.0f;
    free(count);
    return DM_OK;
}

/* What the rows say, in order: an exact resume needs the same data, and a
 * row count alone does not tell two data sets apart. */
static dm_status fingerprint_data(dm_trainer *t, const dm_dataset *ds)
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

static dm_status plan_schedule(dm_trainer *t)
{
    t->micro_per_epoch = (t->n + t->o.batch_size - 1) / t->o.batch_size;
    t->steps_per_epoch = (t->micro_per_epoch + (size_t)t->o.grad_accum - 1) / (size_t)t->o.grad_accum;
    if (t->dp_batch) { /* DP-SGD: Poisson samples of L expected rows, N / L of them an epoch (as Opacus) */
        t->steps_per_epoch = t->n / t->dp_batch ? t->n / t->dp_batch : 1;
        t->micro_per_epoch = t->steps_per_epoch * (size_t)t->o.grad_accum;
    }
    t->total_steps = t->o.max_steps ? t->o.max_steps : (uint64_t)t->o.epochs * t->steps_per_epoch;
    t->warmup_steps = t->o.warmup_steps ? t->o.warmup_steps
                                        : (uint64_t)ceil(t->o.warmup_ratio * (double)t->total_steps);
    t->world = t->o.world_size ? (size_t)t->o.world_size : 1;
    t->rank = (size_t)t->o.rank;
    /* Each micro-batch of the run names its dropout masks (32 bits). */
    double micro = (double)t->total_steps * (double)t->o.grad_accum;
    if (micro >= 4294967296.0)
        return dmi_fail(DM_ERR_RANGE, "%llu steps of %d micro-batches: more than 2^32 micro-batches in one run",
                        (unsigned long long)t->total_steps, t->o.grad_accum);
    return DM_OK;
}

/* The output folder must take files before hours of training go into it:
 * made now (T->made_dir: it did not exist), and a file created and removed. */
static dm_status probe_output_dir(dm_trainer *t, const char *dir)
{
    t->made_dir = !dmi_is_dir(dir);
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

static dm_status check_labels(const dm_model *m, const dm_dataset *ds, const char *what)
{
    int32_t *y = dmi_malloc((dm_dataset_size(ds) ? dm_dataset_size(ds) : 1) * sizeof *y);
    dm_status s = y ? dmi_model_dataset_labels(m, ds, what, y) : DM_ERR_NO_MEMORY;
    free(y);
    return s;
}

/* freeze_embeddings / freeze_layers as trainable flags (before the
 * optimizer is made: its state follows them). */
static dm_status apply_freezing(dm_trainer *t)
{
    dm_status s = DM_OK;
    if (!t->o.freeze_embeddings && !t->o.freeze_layers) return DM_OK;
    /* The model's own trainable set comes back when the trainer goes. */
    t->saved_trainable = dmi_malloc(t->m->n_tensors * sizeof *t->saved_trainable);
    if (!t->saved_trainable) return DM_ERR_NO_MEMORY;
    memcpy(t->saved_trainable, t->m->trainable, t->m->n_tensors * sizeof *t->saved_trainable);
    if (t->o.freeze_embeddings) s = dm_model_set_trainable(t->m, "bert.embeddings.", 0);
    for (int l = 0; !s && l < t->o.freeze_layers; l++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "bert.encoder.layer.%d.", l);
        s = dm_model_set_trainable(t->m, prefix, 0);
    }
    return s;
}

static dm_status make_optimizer(dm_trainer *t, dm_optimizer *given)
{
    if (given) {
        if (given->m != t->m) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "the optimizer belongs to another model");
        if (!given->o.total_steps) given->o.total_steps = t->total_steps;
        t->opt = given;
        return DM_OK;
    }
    dm_optimizer_options oo;
    dm_optimizer_options_default(&oo);
    oo.learning_rate = t->o.learning_rate;
    oo.weight_decay = t->o.weight_decay;
    oo.adam_beta1 = t->o.adam_beta1;
    oo.adam_beta2 = t->o.adam_beta2;
    oo.adam_epsilon = t->o.adam_epsilon;
    oo.max_grad_norm = t->o.max_grad_norm;
    oo.schedule = t->o.schedule;
    oo.warmup_steps = t->warmup_steps;
    oo.total_steps = t->total_steps;
    t->own_opt = true;
    return dm_optimizer_create(t->m, &oo, &t->opt);
}

static dm_status alloc_state(dm_trainer *t)
{
    dmb_backend *be = t->be;
    t->stats = be->ops->alloc(be, ((size_t)t->o.grad_accum + 2) * sizeof(double));
    t->wsum = dmi_calloc((size_t)t->o.grad_accum, sizeof *t->wsum);
    t->weights_host = dmi_calloc(t->o.batch_size, sizeof *t->weights_host);
    t->order = dmi_malloc(t->n * sizeof *t->order);
    if (!t->stats || !t->wsum || !t->weights_host || !t->order) return dmi_fail_prefix(DM_ERR_NO_MEMORY, "trainer state");
    if (t->o.keep_best && !(t->best_params = dmi_malloc(t->m->n_params * sizeof(float)))) return DM_ERR_NO_MEMORY;
    /* Activations for the longest batch this data can make. */
    size_t B = t->o.batch_size < t->n ? t->o.batch_size : t->n;
    return dmi_model_train_acts(t->m, B, dmi_model_padded_length(t->m, t->train.enc->longest));
}

static dm_status load_data(dm_trainer *t, const dm_dataset *train, const dm_dataset *val)
{
    dmi_loader_options lo;
    dmi_loader_options_default(&lo);
    lo.max_length = t->o.max_length; /* validation texts are cut where training texts are */
    lo.invalid_utf8 = DM_UTF8_REPLACE;
    lo.threads = t->o.threads;
    dm_status s = dmi_loader_dataset(&t->train, t->m, train, "training data", &lo);
    if (!s && val) {
        s = dmi_loader_dataset(&t->val, t->m, val, "validation data", &lo);
        t->has_val = !s;
    }
    return s;
}

/* The options' strings and class weights are copied: the trainer reads them
 * long after dm_trainer_create returns (checkpoints, the log, the final
 * save). callback_user stays the caller's. */
static dm_status own_option_strings(dm_trainer *t)
{
    const char **fields[3] = {&t->o.output_dir, &t->o.log_jsonl, &t->o.resume_from};
    for (int i = 0; i < 3; i++) {
        if (!*fields[i]) continue;
        if (!(t->owned[i] = dmi_strndup(*fields[i], strlen(*fields[i])))) return DM_ERR_NO_MEMORY;
        *fields[i] = t->owned[i];
    }
    if (t->o.class_weights) {
        size_t L = t->m->dims.L;
        if (!(t->owned_weights = dmi_malloc(L * sizeof(float)))) return DM_ERR_NO_MEMORY;
        memcpy(t->owned_weights, t->o.class_weights, L * sizeof(float));
        t->o.class_weights = t->owned_weights;
    }
    return DM_OK;
}

/* DP-SGD: the transform (its noise chosen for the planned steps when only a
 * budget is given), the steps the budget allows, no global clipping. */
static dm_status setup_dp(dm_trainer *t)
{
    double q = (double)t->dp_batch / (double)t->n;
    if (q > 1.0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: the expected batch (batch_size x grad_accum = %zu) is "
                        "larger than the training data (%zu rows): the sample rate would be %g > 1", t->dp_batch,
                        t->n, q);
    dm_dp_options o;
    dm_dp_options_default(&o);
    o.max_grad_norm = t->o.dp_max_grad_norm;
    o.noise_multiplier = t->o.dp_noise;
    o.target_epsilon = t->o.dp_epsilon;
    o.delta = t->o.dp_delta;
    o.sample_rate = q;
    o.steps = t->total_steps;
    o.noise_seed = t->o.dp_noise_seed;
    dm_status s = dm_dp_create(&o, &t->dp);
    if (s) return s;
    t->dp_budget_steps = t->total_steps;
    if (t->m->privacy_json) t->dp_previous = json_loads(t->m->privacy_json, 0, NULL);
    if (t->o.dp_epsilon > 0.0) {
        /* the most steps within the budget: epsilon grows with the steps */
        uint64_t lo = 0, hi = t->total_steps;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2;
            double eps;
            if ((s = dmi_dp_epsilon_at(t->dp, mid, &eps))) return s;
            if (eps <= t->o.dp_epsilon) lo = mid;
            else hi = mid - 1;
        }
        if (lo == 0)
            return dmi_fail(DM_ERR_RANGE, "DP-SGD: epsilon %g (delta %g) is too small a budget for even one step with "
                            "noise multiplier %g at sample rate %g", t->o.dp_epsilon, t->o.dp_delta,
                            t->dp->sigma, q);
        t->dp_budget_steps = lo;
        t->dp_budget_reached = lo < t->total_steps;
        t->total_steps = lo;
    }
    t->o.max_grad_norm = 0.0; /* the per-example clipping is the clipping */
    t->dp_norms = dmi_malloc(t->o.batch_size * sizeof *t->dp_norms);
    return t->dp_norms ? DM_OK : DM_ERR_NO_MEMORY;
}

static dm_status create(dm_trainer *t, dm_model *m, dm_optimizer *opt, const dm_dataset *train,
                        const dm_dataset *val, const dm_train_options *opts)
{
    dm_train_options_default(&t->o);
    if (opts && dmi_copy_options(&t->o, sizeof t->o, opts, "dm_train_options")) return DM_ERR_INVALID_ARGUMENT;
    t->o.struct_size = sizeof t->o;
    dm_status s = dmi_train_check_options(&t->o, m);
    if (s) return s;
    if (val && dm_dataset_size(val) == 0) return dmi_fail(DM_ERR_RANGE, "the validation data has no rows");
    if (opt && (t->o.freeze_embeddings || t->o.freeze_layers))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "freeze_embeddings/freeze_layers with a given optimizer: freeze the "
                        "tensors (dm_model_set_trainable) before making the optimizer");
    if ((s = own_option_strings(t))) return s;
    if ((s = dmi_model_begin_training(m, t))) return s;
    t->marked = true;
    /* What can be found wrong cheaply fails before any work: labels the
     * model does not know (not at the first evaluation), an output folder
     * that cannot be written (not at the final save). */
    s = check_labels(m, train, "training data");
    if (!s && val) s = check_labels(m, val, "validation data");
    if (!s && t->o.output_dir) s = probe_output_dir(t, t->o.output_dir);
    if (s) return s;
    t->n = dm_dataset_size(train);
    if (t->n == 0) return dmi_fail(DM_ERR_RANGE, "the training data has no rows");
    m->params16_stale = true; /* training changes the weights the bfloat16 copy mirrors */
    if ((s = dmb_set_threads(t->be, t->o.threads ? t->o.threads : m->threads))) return s;
    if ((s = load_data(t, train, val))) return s;
    if ((s = fingerprint_data(t, train))) return s;
    if (dmi_train_dp(&t->o)) t->dp_batch = t->o.batch_size * (size_t)t->o.grad_accum;
    if ((s = plan_schedule(t))) return s;
    if (t->dp_batch && (s = setup_dp(t))) return s;
    if ((s = setup_class_weights(t))) return s;
    if ((s = apply_freezing(t))) return s;
    if ((s = make_optimizer(t, opt))) return s;
    if ((s = dmi_model_grads(m))) return s;
    if ((s = dmi_trainer_privacy_json(t))) return s;
    return alloc_state(t);
}

DM_API dm_status dm_trainer_create(dm_model *m, dm_optimizer *opt, const dm_dataset *train, const dm_dataset *val,
                                   const dm_train_options *opts, dm_trainer **out)
{
    if (!m || !train || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_create: NULL model, training data or output");
    dm_trainer *t = dmi_calloc(1, sizeof *t);
    if (!t) return DM_ERR_NO_MEMORY;
    t->m = m;
    t->be = m->be;
    t->best_metric = NAN;
    t->order_epoch = UINT64_MAX;
    t->last_loss = NAN;
    dm_status s = create(t, m, opt, train, val, opts);
    if (s) {
        bool made = t->made_dir;
        dm_trainer_free(t);
        if (made && opts && opts->output_dir) rmdir(opts->output_dir); /* only when still empty */
        return s;
    }
    t->started = dmi_now();
    *out = t;
    return DM_OK;
}

/* The trainable set as it was before the trainer froze tensors. */
static void restore_trainable(dm_trainer *t)
{
    dm_model *m = t->m;
    if (!t->saved_trainable) return;
    pthread_mutex_lock(&m->lock);
    if (memcmp(m->trainable, t->saved_trainable, m->n_tensors * sizeof *m->trainable) != 0 && !m->n_optimizers) {
        memcpy(m->trainable, t->saved_trainable, m->n_tensors * sizeof *m->trainable);
        dmi_model_free_grads(m);
    }
    pthread_mutex_unlock(&m->lock);
}

DM_API void dm_trainer_free(dm_trainer *t)
{
    if (!t) return;
    if (t->stats) t->be->ops->free(t->be, t->stats);
    dm_dp_free(t->dp);
    json_decref(t->dp_previous);
    free(t->dp_norms);
    if (t->own_opt) dm_optimizer_free(t->opt);
    restore_trainable(t);
    free(t->saved_trainable);
    for (int i = 0; i < 3; i++) free(t->owned[i]);
    free(t->owned_weights);
    dmi_loader_free(&t->train);
    dmi_loader_free(&t->val);
    free(t->order);
    free(t->class_weights_host);
    free(t->wsum);
    free(t->weights_host);
    free(t->best_params);
    if (t->log) fclose(t->log);
    if (t->marked) dmi_model_end_training(t->m);
    free(t);
}

DM_API int dm_trainer_done(const dm_trainer *t) { return !t || t->step >= t->total_steps || t->stop; }

/* ------------------------------------------------------------------ the log */

static void log_json(dm_trainer *t, const char *fmt, ...) DMI_PRINTF(2, 3);
static void log_json(dm_trainer *t, const char *fmt, ...)
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

/* privacy.json of the folders this run saves: a DP-SGD run's parameters and
 * the epsilon spent so far (with the model's earlier record, when it had
 * one, under "previous": privacy losses of runs on the same data add up). A
 * run without DP drops the record: its weights are no longer the private
 * ones. */
dm_status dmi_trainer_privacy_json(dm_trainer *t)
{
    dm_model *m = t->m;
    if (!t->dp) {
        free(m->privacy_json);
        m->privacy_json = NULL;
        return DM_OK;
    }
    dm_dp_info info = {.struct_size = sizeof info};
    dm_status s = dm_dp_get_info(t->dp, &info);
    if (s) return s;
    json_t *j = json_object();
    json_object_set_new(j, "mechanism", json_string("DP-SGD (Poisson sampling, per-example clipping, Gaussian noise)"));
    json_object_set_new(j, "accountant", json_string("rdp"));
    json_object_set_new(j, "epsilon", json_real(info.epsilon));
    json_object_set_new(j, "delta", json_real(info.delta));
    json_object_set_new(j, "target_epsilon", t->o.dp_epsilon > 0.0 ? json_real(t->o.dp_epsilon) : json_null());
    json_object_set_new(j, "noise_multiplier", json_real(info.noise_multiplier));
    json_object_set_new(j, "max_grad_norm", json_real(info.max_grad_norm));
    json_object_set_new(j, "sample_rate", json_real(info.sample_rate));
    json_object_set_new(j, "expected_batch", json_integer((json_int_t)t->dp_batch));
    json_object_set_new(j, "training_rows", json_integer((json_int_t)t->n));
    json_object_set_new(j, "steps", json_integer((json_int_t)info.steps));
    json_object_set_new(j, "epochs", json_real((double)info.steps / (double)t->steps_per_epoch));
    json_object_set_new(j, "examples", json_integer((json_int_t)info.examples));
    json_object_set_new(j, "clipped_examples", json_integer((json_int_t)info.clipped));
    json_object_set_new(j, "noise_source", json_string(t->o.dp_noise_seed ? "seeded ChaCha20 (a test run: not private)"
                                                                           : "ChaCha20 keyed from the OS"));
    if (t->dp_previous) json_object_set(j, "previous", t->dp_previous);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!text) return DM_ERR_NO_MEMORY;
    free(m->privacy_json);
    m->privacy_json = text;
    return DM_OK;
}

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

/* Opened at the first step (after a resume, trimmed to the checkpoint's). */
static dm_status open_log(dm_trainer *t)
{
    if (!t->o.log_jsonl || t->log) return DM_OK;
    bool resumed = t->step > 0;
    dm_status s = resumed ? trim_log(t->o.log_jsonl, t->step) : DM_OK;
    if (s) return s;
    t->log = fopen(t->o.log_jsonl, resumed ? "a" : "w");
    if (!t->log) return dmi_fail(DM_ERR_IO, "%s: cannot open the training log: %s", t->o.log_jsonl, strerror(errno));
    return DM_OK;
}

/* ------------------------------------------------------------------ one step */

/* The examples of micro-batch MB of epoch E (ORDER recomputed when the epoch
 * changes). */
static dm_status micro_examples(dm_trainer *t, uint64_t epoch, size_t mb, const uint32_t **idx, size_t *B)
{
    if (t->order_epoch != epoch) {
        dmi_order_options oo = {.shuffle = t->o.shuffle, .grouping = t->o.group_by_length,
                                .batch_size = t->o.batch_size, .seed = t->o.seed};
        dm_status s = dmi_loader_epoch_order(&t->train, &oo, epoch, t->order);
        if (s) return s;
        t->order_epoch = epoch;
    }
    size_t start = mb * t->o.batch_size;
    *idx = t->order + start;
    *B = t->n - start < t->o.batch_size ? t->n - start : t->o.batch_size;
    return DM_OK;
}

/* Forward and backward of micro-batch K of the step (rows IDX[0..B) of
 * every worker; this one takes its slice): its summed loss goes to the
 * device's step statistics, the sum of the whole micro-batch's loss weights
 * to WSUM[K]. */
static dm_status micro_batch(dm_trainer *t, const uint32_t *idx, size_t B, uint64_t micro, size_t k, size_t group)
{
    dm_model *m = t->m;
    /* HF's CrossEntropyLoss(weight): sum(w_y * loss) / sum(w_y) per batch,
     * and each micro-batch counts 1 / group of the step. The sum is the
     * whole micro-batch's, so that the workers' gradients add up to it. */
    double wsum = 0.0;
    for (size_t b = 0; b < B; b++) {
        t->weights_host[b] = t->class_weights_host ? t->class_weights_host[t->train.labels[idx[b]]] : 1.0f;
        wsum += t->weights_host[b];
    }
    if (wsum <= 0.0) wsum = 1.0; /* every target weighs 0: the loss is 0 */
    t->wsum[k] = wsum;
    float scale = (float)(1.0 / (wsum * (double)group));
    size_t first, count;
    dmi_shard(B, t->rank, t->world, &first, &count);
    if (count == 0) return t->be->ops->zero(t->be, t->stats + k, sizeof(double)); /* a batch smaller than the world */
    idx += first, B = count;
    size_t T = dmi_model_padded_length(m, dmi_loader_longest(&t->train, idx, B));
    dm_status s = dmi_loader_fill(&t->train, t->be, &m->train, idx, B, T, t->weights_host + first);
    dmi_bert_dropout d = dmi_model_dropout(m, t->o.dropout, t->o.seed, micro);
    d.rank = (uint32_t)t->rank;
    if (!s) s = dmi_bert_forward(t->be, &m->dims, &m->net, &m->train, B, T, &d, m->train.weights, scale);
    if (!s) s = t->be->ops->reduce(t->be, t->stats + k, m->train.losses, B, DMB_SUM, 0);
    if (!s) s = dmi_bert_backward(t->be, &m->dims, &m->net, &m->train, B, T, &d);
    return s;
}

dm_status dmi_trainer_settle(dm_trainer *t)
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
 * gradient norm and the previous update's weights check, in one download. */
static dm_status read_step_stats(dm_trainer *t, size_t group, double *loss, double *norm)
{
    size_t G = (size_t)t->o.grad_accum;
    double host[4096 + 2];
    if (G + 2 > sizeof host / sizeof *host) return dmi_fail(DM_ERR_RANGE, "grad_accum %zu is too large", G);
    dm_model *m = t->m;
    dm_status s = t->be->ops->reduce(t->be, t->stats + G, m->grads, m->n_grads, DMB_SUM_SQUARES, 0);
    if (!s) s = t->be->ops->download(t->be, host, t->stats, (G + 2) * sizeof(double));
    if (s) return s;
    if (t->weights_check_pending && !isfinite(host[G + 1])) return dmi_weights_finite_error(t->step - 1, t->last_lr);
    t->weights_check_pending = false;
    *loss = 0.0;
    for (size_t k = 0; k < group; k++) {
        if (!isfinite(host[k]))
            return dmi_fail(DM_ERR_NUMERIC, "step %llu: the training loss is %s (micro-batch %zu of the step)",
                            (unsigned long long)t->step + 1, isnan(host[k]) ? "NaN" : "infinite", k + 1);
        *loss += host[k] / t->wsum[k] / (double)group;
    }
    *norm = sqrt(host[G]);
    return DM_OK;
}

dm_status dmi_trainer_gradients(dm_trainer *t, size_t *group, size_t *examples)
{
    uint64_t epoch = t->step / t->steps_per_epoch, in_epoch = t->step % t->steps_per_epoch;
    size_t first = (size_t)in_epoch * (size_t)t->o.grad_accum;
    *group = t->micro_per_epoch - first < (size_t)t->o.grad_accum ? t->micro_per_epoch - first
                                                                 : (size_t)t->o.grad_accum;
    dm_model *m = t->m;
    dm_status s = t->be->ops->zero(t->be, m->grads, m->n_grads * sizeof(float));
    /* mixed precision: the weights' bfloat16 copies, fresh after the last update */
    if (!s) s = dmi_model_train_precision(m, t->o.precision);
    *examples = 0;
    for (size_t k = 0; !s && k < *group; k++) {
        const uint32_t *idx = NULL;
        size_t B = 0;
        s = micro_examples(t, epoch, first + k, &idx, &B);
        uint64_t micro = epoch * t->micro_per_epoch + first + k;
        if (!s) s = micro_batch(t, idx, B, micro, k, *group);
        *examples += B;
    }
    return s;
}

/* DP-SGD's gradients of the next step: a Poisson sample of the rows in
 * micro-batches of batch_size, each example clipped, the sum over the
 * expected batch L, then the noise (also when the sample is empty: the
 * mechanism's output must not reveal it). The loss sum goes to stats[0], the
 * sample's weight sum to wsum[0]. */
static dm_status dp_gradients(dm_trainer *t, size_t *examples)
{
    dm_model *m = t->m;
    uint64_t epoch = t->step / t->steps_per_epoch, k = t->step % t->steps_per_epoch;
    size_t count = 0;
    dmi_loader_poisson(&t->train, t->dp->o.sample_rate, t->o.seed, epoch, k, t->order, &count);
    t->order_epoch = UINT64_MAX; /* ORDER holds a sample, not an epoch's order */
    /* Longest first, so that each micro-batch pads little (the sum over the
     * sample does not depend on how it is cut). */
    dm_status s = dmi_loader_sort_by_length(&t->train, t->order, count);
    if (s) return s;
    size_t chunks = (count + t->o.batch_size - 1) / t->o.batch_size;
    if (chunks >= 4096)
        return dmi_fail(DM_ERR_RANGE, "DP-SGD step %llu: a sample of %zu rows is more than 4095 micro-batches of %zu",
                        (unsigned long long)t->step + 1, count, t->o.batch_size);
    s = t->be->ops->zero(t->be, m->grads, m->n_grads * sizeof(float));
    if (!s) s = t->be->ops->zero(t->be, t->stats, sizeof(double));
    if (!s) s = dmi_model_train_precision(m, DM_PRECISION_FP32);
    float scale = (float)(1.0 / (double)t->dp_batch);
    double wsum = 0.0;
    for (size_t c = 0; !s && c < chunks; c++) {
        const uint32_t *idx = t->order + c * t->o.batch_size;
        size_t B = count - c * t->o.batch_size < t->o.batch_size ? count - c * t->o.batch_size : t->o.batch_size;
        for (size_t b = 0; b < B; b++) {
            t->weights_host[b] = t->class_weights_host ? t->class_weights_host[t->train.labels[idx[b]]] : 1.0f;
            wsum += t->weights_host[b];
        }
        size_t T = dmi_model_padded_length(m, dmi_loader_longest(&t->train, idx, B));
        s = dmi_loader_fill(&t->train, t->be, &m->train, idx, B, T, t->weights_host);
        /* dropout streams: the step in the high bits, the micro-batch in the low 12 */
        dmi_bert_dropout d = dmi_model_dropout(m, t->o.dropout, t->o.seed, (t->step << 12) | c);
        if (!s) s = dmi_dp_backward(t->dp, m, B, T, &d, scale, t->stats, 1, t->dp_norms);
    }
    t->wsum[0] = wsum > 0.0 ? wsum : 1.0;
    if (!s) s = dmi_dp_noise(t->dp, m, (double)scale);
    *examples = count;
    return s;
}

/* One optimizer step: its micro-batches, one readback, clipping, AdamW. */
static dm_status train_step(dm_trainer *t, double *loss, double *lr, double *norm, size_t *examples)
{
    dm_model *m = t->m;
    size_t group = 1;
    dm_status s = t->dp ? dp_gradients(t, examples) : dmi_trainer_gradients(t, &group, examples);
    /* With several workers, here their gradients and loss sums are summed
     * (each worker scaled its slice by the whole micro-batch's weights), so
     * that the norm, the clipping and the update are the whole batch's: the
     * gradient exchange issue 18 brings (world_size > 1 is refused until). */
    if (!s) s = read_step_stats(t, group, loss, norm);
    if (!s) s = dmi_optimizer_apply(t->opt, *norm, lr);
    m->params16_stale = true;
    /* Checked with the next readback (or dmi_trainer_settle): no sync here. */
    size_t at = (size_t)t->o.grad_accum + 1;
    if (!s) s = t->be->ops->reduce(t->be, t->stats + at, m->params, m->n_params, DMB_SUM_SQUARES, 0);
    t->weights_check_pending = !s;
    t->last_lr = *lr;
    return s;
}

static void fill_progress(const dm_trainer *t, dm_train_progress *p, double loss, double lr, double norm)
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
    double remaining = (double)(t->total_steps - t->step);
    p->eta_sec = t->steps_this_run ? p->elapsed_sec / (double)t->steps_this_run * remaining : 0.0;
    p->val_loss = p->val_accuracy = p->val_macro_f1 = NAN;
    p->dp_epsilon = NAN;
    if (t->dp && dmi_dp_epsilon_at(t->dp, t->dp->steps, &p->dp_epsilon)) p->dp_epsilon = NAN;
}

static void copy_progress(dm_train_progress *out, const dm_train_progress *p)
{
    if (!out) return;
    size_t n = out->struct_size >= sizeof(size_t) && out->struct_size < sizeof *p ? out->struct_size : sizeof *p;
    memcpy(out, p, n);
    out->struct_size = n;
}

static dm_status step_once(dm_trainer *t, dm_train_progress *p)
{
    if (dm_trainer_done(t)) return dmi_fail(DM_ERR_RANGE, "the run's %llu steps are done", (unsigned long long)t->total_steps);
    dm_status s = open_log(t);
    double loss, lr, norm;
    size_t examples;
    if (!s) s = train_step(t, &loss, &lr, &norm, &examples);
    if (s) return s;
    t->step++;
    t->examples_seen += examples;
    t->examples_this_run += examples;
    t->steps_this_run++;
    t->last_loss = loss;
    if (t->step > 1 && (t->step - 1) % t->steps_per_epoch == 0) /* a new epoch: a new loss average */
        t->epoch_loss_sum = 0.0, t->epoch_loss_steps = 0;
    t->epoch_loss_sum += loss;
    t->epoch_loss_steps++;
    fill_progress(t, p, loss, lr, norm);
    char dp_fields[160] = "";
    if (t->dp)
        snprintf(dp_fields, sizeof dp_fields, ", \"dp_epsilon\": %.8g, \"dp_examples\": %zu, \"dp_clipped\": %llu",
                 json_num(p->dp_epsilon), examples, (unsigned long long)t->dp->clipped);
    log_json(t, "{\"step\": %llu, \"epoch\": %.4f, \"loss\": %.8g, \"learning_rate\": %.8g, \"grad_norm\": %.8g, "
                "\"examples_per_sec\": %.2f, \"elapsed_sec\": %.3f%s}",
             (unsigned long long)t->step, p->epoch, loss, lr, norm, p->examples_per_sec, p->elapsed_sec, dp_fields);
    return dmi_trainer_privacy_json(t);
}

DM_API dm_status dm_trainer_step(dm_trainer *t, dm_train_progress *out)
{
    if (!t) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_step: NULL trainer");
    dm_status s = dmi_model_enter_as_trainer(t->m, t, "dm_trainer_step");
    if (s) return s;
    dm_train_progress p;
    s = step_once(t, &p);
    if (!s) copy_progress(out, &p);
    dmi_model_leave_trainer(t->m);
    return s;
}

/* ------------------------------------------------------------------ evaluation */

/* Evaluates on the validation data; keeps the best weights; counts
 * evaluations without improvement (early stopping). */
static dm_status evaluate(dm_trainer *t, dm_eval_report **out, dm_train_progress *p)
{
    dm_status s = dmi_trainer_settle(t);
    if (s) return s;
    t->m->params16_stale = true; /* the weights changed since the last evaluation */
    dm_infer_options io;
    dm_infer_options_default(&io);
    io.batch_size = t->o.batch_size;
    dm_eval_report *r;
    if ((s = dmi_model_evaluate_loader(t->m, &t->val, &io, &r)))
        return dmi_fail_prefix(s, "evaluating at step %llu", (unsigned long long)t->step);
    double epoch = (double)t->step / (double)t->steps_per_epoch;
    if (p) {
        p->evaluated = 1;
        p->val_loss = r->loss;
        p->val_accuracy = r->accuracy;
        p->val_macro_f1 = r->macro_f1;
    }
    bool better = isnan(t->best_metric) || r->accuracy > t->best_metric;
    log_json(t, "{\"step\": %llu, \"epoch\": %.4f, \"eval_loss\": %.6g, \"eval_accuracy\": %.6g, "
                "\"eval_macro_f1\": %.6g, \"best\": %s}",
             (unsigned long long)t->step, epoch, json_num(r->loss), r->accuracy, r->macro_f1, better ? "true" : "false");
    if (better) {
        t->best_metric = r->accuracy;
        t->best_step = t->step;
        t->evals_without_improvement = 0;
        if (t->best_params) s = dmi_model_get_params(t->m, t->best_params);
    } else {
        t->evals_without_improvement++;
        if (t->o.early_stopping_patience && t->evals_without_improvement >= t->o.early_stopping_patience)
            t->stop = true;
    }
    if (!s && out) *out = r;
    else dm_eval_report_free(r);
    return s;
}

DM_API dm_status dm_trainer_evaluate(dm_trainer *t, dm_eval_report **out)
{
    if (!t || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_evaluate: NULL trainer or output");
    if (!t->has_val) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_evaluate: the trainer has no validation data");
    dm_status s = dmi_model_enter_as_trainer(t->m, t, "dm_trainer_evaluate");
    if (s) return s;
    s = open_log(t);
    if (!s) s = evaluate(t, out, NULL);
    dmi_model_leave_trainer(t->m);
    return s;
}

/* ------------------------------------------------------------------ checkpoints */

DM_API dm_status dm_trainer_save(dm_trainer *t, const char *dir)
{
    if (!t || !dir) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_save: NULL trainer or folder");
    dm_status s = dmi_model_enter_as_trainer(t->m, t, "dm_trainer_save");
    if (s) return s;
    s = dmi_trainer_settle(t);
    if (!s) s = dmi_checkpoint_write(t, dir);
    dmi_model_leave_trainer(t->m);
    return s;
}

DM_API dm_status dm_trainer_resume(dm_trainer *t, const char *dir)
{
    if (!t || !dir) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_resume: NULL trainer or folder");
    if (t->steps_this_run) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_resume: the trainer has taken steps");
    dm_status s = dmi_model_enter_as_trainer(t->m, t, "dm_trainer_resume");
    if (s) return s;
    s = dmi_checkpoint_load(t, dir);
    dmi_model_leave_trainer(t->m);
    return s;
}

/* ------------------------------------------------------------------ the run */

static dm_status run(dm_trainer *t)
{
    while (!dm_trainer_done(t)) {
        dm_train_progress p;
        dm_status s = step_once(t, &p);
        if (s) return s;
        bool epoch_end = t->step % t->steps_per_epoch == 0;
        bool want_eval = t->has_val && (t->o.eval_steps ? t->step % t->o.eval_steps == 0 : epoch_end);
        bool want_checkpoint = t->o.checkpoint_steps && t->step % t->o.checkpoint_steps == 0;
        if (want_checkpoint && (s = dmi_trainer_settle(t))) return s;
        if (want_eval && (s = evaluate(t, NULL, &p))) return s;
        if (t->o.callback && t->o.callback(&p, t->o.callback_user))
            return dmi_fail(DM_ERR_CANCELLED, "training cancelled by the callback at step %llu",
                            (unsigned long long)t->step);
        if (want_checkpoint && (s = dmi_checkpoint_save(t))) return s;
    }
    return dmi_trainer_settle(t);
}

static void fill_result(const dm_trainer *t, dm_train_result *res, double seconds)
{
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
    res->steps = t->step;
    res->epochs = (double)t->step / (double)t->steps_per_epoch;
    res->final_loss = t->epoch_loss_steps ? t->epoch_loss_sum / (double)t->epoch_loss_steps : t->last_loss;
    res->best_val_metric = t->best_metric;
    res->best_step = t->best_step;
    res->stopped_early = t->stop;
    res->seconds = seconds;
}

DM_API dm_status dm_trainer_run(dm_trainer *t, dm_train_result *result)
{
    if (!t) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_trainer_run: NULL trainer");
    if (result && result->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_train_result: set struct_size to sizeof(dm_train_result)");
    double t0 = dmi_now();
    dm_status s = dmi_model_enter_as_trainer(t->m, t, "dm_trainer_run");
    if (s) return s;
    s = open_log(t);
    if (!s) s = run(t);
    if (!s && t->o.keep_best && t->best_step && t->best_step != t->step) s = dmi_model_set_params(t->m, t->best_params);
    if (!s && t->o.output_dir) s = dm_model_save(t->m, t->o.output_dir);
    dmi_model_leave_trainer(t->m);
    if (result) {
        dm_train_result res;
        fill_result(t, &res, dmi_now() - t0);
        size_t n = result->struct_size < sizeof res ? result->struct_size : sizeof res;
        memcpy(result, &res, n);
        result->struct_size = n;
    }
    return s;
}
