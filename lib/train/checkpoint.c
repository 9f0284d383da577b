/*
 * checkpoint.c — training checkpoints that resume exactly.
 *
 * OUTPUT_DIR/checkpoint-STEP/ holds a Hugging Face model folder (so any
 * checkpoint can be evaluated or served as is), optimizer.safetensors (the
 * AdamW moments of each trainable tensor, "NAME.exp_avg" and
 * "NAME.exp_avg_sq", and the optimizer's step and options: dm_optimizer_save),
 * best.safetensors (the best weights so far, when keeping the best) and
 * trainer_state.json (step, schedule, data order parameters, best-model
 * bookkeeping). The data order and dropout masks are functions of (seed,
 * epoch) and (seed, step), so nothing else is needed to continue.
 */
#include "train_internal.h"
#include "../model/safetensors.h"
#include "../core/staging.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ folders */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Keeps the newest LIMIT checkpoint-N folders of DIR. */
static dm_status prune_checkpoints(const char *dir, int limit)
{
    if (limit <= 0) return DM_OK;
    DIR *d = opendir(dir);
    if (!d) return dmi_fail(DM_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    uint64_t steps[4096];
    size_t n = 0;
    struct dirent *e;
    char stale[64][256];
    size_t n_stale = 0;
    while ((e = readdir(d)) && n < sizeof steps / sizeof *steps) {
        unsigned long long step;
        int used = 0;
        if (sscanf(e->d_name, "checkpoint-%llu%n", &step, &used) != 1) continue;
        if (e->d_name[used] == '\0') steps[n++] = step;
        /* checkpoint-N.tmp: what versions before staged folders left when killed */
        else if (strcmp(e->d_name + used, ".tmp") == 0 && n_stale < 64)
            snprintf(stale[n_stale++], sizeof stale[0], "%s", e->d_name);
    }
    closedir(d);
    qsort(steps, n, sizeof *steps, cmp_u64);
    dm_status s = DM_OK;
    for (size_t i = 0; i + (size_t)limit < n && !s; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/checkpoint-%llu", dir, (unsigned long long)steps[i]);
        s = dmi_remove_tree(path);
    }
    for (size_t i = 0; i < n_stale && !s; i++) {
        char path[4096];
        if (!(s = dmi_path_join(path, sizeof path, dir, stale[i]))) s = dmi_remove_tree(path);
    }
    return s;
}

/* ------------------------------------------------------------------ tensors */



/* The best weights under the model's tensor names. */
static dm_status save_best(dm_trainer *t, const char *path)
{
    dm_model *m = t->m;
    dmi_st_out *outs = dmi_calloc(m->n_tensors, sizeof *outs);
    if (!outs) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const dmi_bert_tensor *bt = &m->tensors[i];
        outs[i] = (dmi_st_out){.name = bt->name, .dtype = DMI_F32, .ndim = bt->ndim, .data = t->best_params + bt->offset};
        outs[i].shape[0] = (int64_t)bt->shape[0];
        outs[i].shape[1] = (int64_t)bt->shape[1];
    }
    dm_status s = dmi_st_write(path, outs, m->n_tensors, NULL, 0);
    free(outs);
    return s;
}


/* ------------------------------------------------------------------ state */

static json_t *state_json(const dm_trainer *t)
{
    const dm_train_options *o = &t->o;
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("libdatamodel-trainer-state-1"));
    json_object_set_new(j, "step", json_integer((json_int_t)t->step));
    json_object_set_new(j, "total_steps", json_integer((json_int_t)t->total_steps));
    json_object_set_new(j, "warmup_steps", json_integer((json_int_t)t->warmup_steps));
    json_object_set_new(j, "steps_per_epoch", json_integer((json_int_t)t->steps_per_epoch));
    json_object_set_new(j, "n_examples", json_integer((json_int_t)t->n));
    json_object_set_new(j, "data_fingerprint", json_string(t->data_fingerprint));
    json_object_set_new(j, "n_params", json_integer((json_int_t)t->m->n_params));
    json_t *frozen = json_array();
    for (size_t i = 0; i < t->m->n_tensors; i++)
        if (!t->m->trainable[i]) json_array_append_new(frozen, json_string(t->m->tensors[i].name));
    json_object_set_new(j, "frozen", frozen);
    json_object_set_new(j, "batch_size", json_integer((json_int_t)o->batch_size));
    json_object_set_new(j, "grad_accum", json_integer(o->grad_accum));
    json_object_set_new(j, "max_length", json_integer((json_int_t)o->max_length));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "shuffle", json_boolean(o->shuffle));
    json_object_set_new(j, "group_by_length", json_integer(o->group_by_length));
    json_object_set_new(j, "precision", json_string(o->precision == DM_PRECISION_BF16 ? "bf16" : "fp32"));
    json_object_set_new(j, "rank", json_integer((json_int_t)t->rank));
    json_object_set_new(j, "world_size", json_integer((json_int_t)t->world));
    json_object_set_new(j, "learning_rate", json_real(o->learning_rate));
    json_object_set_new(j, "schedule", json_integer(o->schedule));
    json_object_set_new(j, "best_metric", isnan(t->best_metric) ? json_null() : json_real(t->best_metric));
    json_object_set_new(j, "best_step", json_integer((json_int_t)t->best_step));
    json_object_set_new(j, "evals_without_improvement", json_integer(t->evals_without_improvement));
    json_object_set_new(j, "epoch_loss_sum", json_real(t->epoch_loss_sum));
    json_object_set_new(j, "epoch_loss_steps", json_integer((json_int_t)t->epoch_loss_steps));
    json_object_set_new(j, "examples_seen", json_integer((json_int_t)t->examples_seen));
    json_t *dp = json_null();
    if (t->dp) {
        dp = json_object();
        json_object_set_new(dp, "noise_multiplier", json_real(t->dp->sigma));
        json_object_set_new(dp, "max_grad_norm", json_real(t->dp->o.max_grad_norm));
        json_object_set_new(dp, "sample_rate", json_real(t->dp->o.sample_rate));
        json_object_set_new(dp, "delta", json_real(t->dp->o.delta));
        json_object_set_new(dp, "steps", json_integer((json_int_t)t->dp->steps));
        json_object_set_new(dp, "clipped", json_integer((json_int_t)t->dp->clipped));
        json_object_set_new(dp, "examples", json_integer((json_int_t)t->dp->examples));
    }
    json_object_set_new(j, "dp", dp);
    json_t *labels = json_array();
    for (size_t i = 0; i < t->m->dims.L; i++) json_array_append_new(labels, json_string(t->m->labels[i]));
    json_object_set_new(j, "labels", labels);
    return j;
}

/* The checkpoint's files into the staging folder DIR. */
static dm_status write_checkpoint(dm_trainer *t, const char *dir)
{
    char path[4096];
    dm_status s = dmi_model_write_files(t->m, dir);
    if (!s) s = dmi_path_join(path, sizeof path, dir, "optimizer.safetensors");
    if (!s) s = dmi_optimizer_write(t->opt, path);
    if (!s && t->best_params && t->best_step) {
        if (!(s = dmi_path_join(path, sizeof path, dir, "best.safetensors"))) s = save_best(t, path);
    }
    if (s) return s;
    json_t *j = state_json(t);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(j);
    s = text ? dmi_path_join(path, sizeof path, dir, "trainer_state.json") : DM_ERR_NO_MEMORY;
    if (!s) s = dmi_write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

dm_status dmi_checkpoint_write(dm_trainer *t, const char *dir)
{
    dmi_stage sg;
    dm_status s = dmi_stage_begin(&sg, dir);
    if (!s) {
        s = write_checkpoint(t, sg.tmp);
        if (!s) s = dmi_stage_commit(&sg, NULL); /* a checkpoint is replaced whole */
        else dmi_stage_abort(&sg);
    }
    return s ? dmi_fail_prefix(s, "checkpoint at step %llu", (unsigned long long)t->step) : DM_OK;
}

dm_status dmi_checkpoint_save(dm_trainer *t)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/checkpoint-%llu", t->o.output_dir, (unsigned long long)t->step) >= (int)sizeof dir)
        return dmi_fail(DM_ERR_RANGE, "%s: path too long", t->o.output_dir);
    dm_status s = dmi_checkpoint_write(t, dir);
    if (!s) s = prune_checkpoints(t->o.output_dir, t->o.checkpoint_limit);
    return s;
}

/* ------------------------------------------------------------------ resume */

static dm_status expect_int(json_t *j, const char *key, uint64_t want, const char *dir)
{
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) && !json_is_boolean(v))
        return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: field '%s' is missing", dir, key);
    uint64_t got = json_is_boolean(v) ? (uint64_t)json_is_true(v) : (uint64_t)json_integer_value(v);
    if (got != want)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it was written with %s = %llu, this run has %llu "
                        "(an exact resume needs the same data and options)", dir, key, (unsigned long long)got,
                        (unsigned long long)want);
    return DM_OK;
}

/* As expect_int, with OLD as the value of checkpoints written before KEY existed. */
/* As expect_int for the length grouping, with the groupings named: the
 * default changed from sorted to buckets, so a checkpoint of an older run is
 * resumed with --grouping sorted, and the message says so. Old checkpoints
 * hold it as a boolean (true: sorted). */
static dm_status expect_grouping(json_t *j, int want, const char *dir)
{
    static const char *const names[] = {"mixed", "sorted", "buckets"};
    json_t *v = json_object_get(j, "group_by_length");
    if (!json_is_integer(v) && !json_is_boolean(v))
        return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: field 'group_by_length' is missing", dir);
    json_int_t got = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v);
    if (got == want) return DM_OK;
    if (got < DM_LENGTHS_MIXED || got > DM_LENGTHS_BUCKETS)
        return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: group_by_length %lld is not a length grouping", dir,
                        (long long)got);
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it was trained with length grouping '%s', this run "
                    "has '%s' (an exact resume needs the same; dm train --grouping %s, group_by_length = %lld)", dir,
                    names[got], names[want], names[got], (long long)got);
}

/* The training precision, named (checkpoints from before it existed are
 * float32's). */
static dm_status expect_precision(json_t *j, dm_precision want, const char *dir)
{
    const char *want_name = want == DM_PRECISION_BF16 ? "bf16" : "fp32";
    json_t *v = json_object_get(j, "precision");
    const char *got = v ? json_string_value(v) : "fp32";
    if (!got || (strcmp(got, "fp32") != 0 && strcmp(got, "bf16") != 0))
        return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: field 'precision' must be \"fp32\" or \"bf16\"", dir);
    if (strcmp(got, want_name) == 0) return DM_OK;
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it was trained with precision %s, this run has %s "
                    "(an exact resume needs the same; dm train --precision %s)", dir, got, want_name, got);
}

static dm_status expect_int_or(json_t *j, const char *key, uint64_t old, uint64_t want, const char *dir)
{
    if (!json_object_get(j, key) && old == want) return DM_OK;
    return expect_int(j, key, want, dir);
}

/* DP-SGD's settings must be the same on both sides: resuming a private run
 * without DP, or a run without DP with noise, would make the accounting
 * wrong. */
static dm_status expect_dp(const dm_trainer *t, json_t *j, const char *dir)
{
    json_t *dp = json_object_get(j, "dp");
    bool had = json_is_object(dp);
    if (!had && !t->dp) return DM_OK;
    if (!had)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it was trained without DP-SGD; this run adds "
                        "noise, and its privacy accounting would leave out the steps taken without it: start the "
                        "DP run from the model, not from this checkpoint", dir);
    if (!t->dp)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it was trained with DP-SGD; this run has no "
                        "DP options (give the same --dp-* settings)", dir);
    static const char *const keys[] = {"noise_multiplier", "max_grad_norm", "sample_rate", "delta"};
    double want[] = {t->dp->sigma, t->dp->o.max_grad_norm, t->dp->o.sample_rate, t->dp->o.delta};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(dp, keys[i]);
        if (!json_is_number(v))
            return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: dp.%s must be a number", dir, keys[i]);
        if (json_number_value(v) != want[i])
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: its DP-SGD %s is %.17g, this run's %.17g "
                            "(the same settings are needed)", dir, keys[i], json_number_value(v), want[i]);
    }
    json_t *steps = json_object_get(dp, "steps");
    json_int_t step = json_integer_value(json_object_get(j, "step"));
    if (!json_is_integer(steps) || json_integer_value(steps) != step)
        return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: dp.steps must equal the step (%lld)", dir,
                        (long long)step);
    return DM_OK;
}

static dm_status check_state(const dm_trainer *t, json_t *j, const char *dir)
{
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!fmt || strcmp(fmt, "libdatamodel-trainer-state-1") != 0)
        return dmi_fail(DM_ERR_PARSE, "%s/trainer_state.json: not a libdatamodel trainer state", dir);
    dm_status s = expect_dp(t, j, dir);
    if (!s) s = expect_int(j, "n_examples", t->n, dir);
    /* Checkpoints written before fingerprints existed are taken on trust. */
    const char *fp = json_string_value(json_object_get(j, "data_fingerprint"));
    if (!s && fp && strcmp(fp, t->data_fingerprint) != 0)
        s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: the training data differ from that run's (the same "
                     "%zu rows, other contents or order: fingerprint %s there, %s here); an exact resume needs the "
                     "same data", dir, t->n, fp, t->data_fingerprint);
    if (!s) s = expect_int(j, "n_params", t->m->n_params, dir);
    if (!s) s = expect_int(j, "batch_size", t->o.batch_size, dir);
    if (!s) s = expect_int(j, "grad_accum", (uint64_t)t->o.grad_accum, dir);
    if (!s) s = expect_int(j, "total_steps", t->total_steps, dir);
    if (!s) s = expect_int(j, "warmup_steps", t->warmup_steps, dir);
    if (!s) s = expect_int(j, "max_length", t->o.max_length, dir);
    if (!s) s = expect_int(j, "seed", t->o.seed, dir);
    if (!s) s = expect_int(j, "shuffle", (uint64_t)(t->o.shuffle != 0), dir);
    if (!s) s = expect_grouping(j, t->o.group_by_length, dir);
    if (!s) s = expect_precision(j, t->o.precision, dir);
    /* checkpoints from before data parallelism: one worker */
    if (!s) s = expect_int_or(j, "rank", 0, t->rank, dir);
    if (!s) s = expect_int_or(j, "world_size", 1, t->world, dir);
    if (!s) s = expect_int(j, "schedule", (uint64_t)t->o.schedule, dir);
    json_t *labels = json_object_get(j, "labels");
    if (!s && (!json_is_array(labels) || json_array_size(labels) != t->m->dims.L))
        s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: its labels differ from the model's", dir);
    for (size_t i = 0; !s && i < t->m->dims.L; i++) {
        const char *name = json_string_value(json_array_get(labels, i));
        if (!name || strcmp(name, t->m->labels[i]) != 0)
            s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: label %zu is '%s' there, '%s' here", dir, i,
                         name ? name : "?", t->m->labels[i]);
    }
    /* The optimizer's state covers the trainable tensors: the same must be. */
    json_t *frozen = json_object_get(j, "frozen");
    size_t n_frozen = 0;
    for (size_t i = 0; i < t->m->n_tensors; i++) n_frozen += !t->m->trainable[i];
    if (!s && frozen && (!json_is_array(frozen) || json_array_size(frozen) != n_frozen))
        s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it froze %zu tensors, this run %zu (freeze options "
                     "must be the same)", dir, json_is_array(frozen) ? json_array_size(frozen) : 0, n_frozen);
    for (size_t i = 0; !s && frozen && i < json_array_size(frozen); i++) {
        const char *name = json_string_value(json_array_get(frozen, i));
        if (!name || dm_model_is_trainable(t->m, name) != 0)
            s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: '%s' was frozen there, not here", dir,
                         name ? name : "?");
    }
    json_t *lr = json_object_get(j, "learning_rate");
    if (!s && (!json_is_number(lr) || json_number_value(lr) != t->o.learning_rate))
        s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: it was written with learning_rate %g, this run has %g",
                     dir, json_number_value(lr), t->o.learning_rate);
    return s;
}


/* The best weights of best.safetensors into t->best_params (through the model,
 * whose weights are then restored from the checkpoint again by the caller's
 * order of calls). */
static dm_status restore_best(dm_trainer *t, const char *dir)
{
    char path[4096];
    dm_status s = dmi_path_join(path, sizeof path, dir, "best.safetensors");
    if (s) return s;
    if (!dmi_is_file(path)) return dmi_fail(DM_ERR_NOT_FOUND, "%s: best.safetensors is missing", dir);
    if ((s = dmi_model_load_params(t->m, path))) return s;
    return dmi_model_get_params(t->m, t->best_params);
}

dm_status dmi_checkpoint_load(dm_trainer *t, const char *dir)
{
    char path[4096];
    dm_status s = dmi_path_join(path, sizeof path, dir, "trainer_state.json");
    if (s) return s;
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        if (!dmi_is_file(path)) return dmi_fail(DM_ERR_NOT_FOUND, "%s: not a checkpoint (no trainer_state.json)", dir);
        return dmi_fail(DM_ERR_PARSE, "%s: line %d, column %d: %s", path, err.line, err.column, err.text);
    }
    s = check_state(t, j, dir);
    uint64_t best_step = (uint64_t)json_integer_value(json_object_get(j, "best_step"));
    if (!s && best_step && t->best_params) s = restore_best(t, dir);
    if (!s && !(s = dmi_path_join(path, sizeof path, dir, "model.safetensors"))) s = dmi_model_load_params(t->m, path);
    if (!s && !(s = dmi_path_join(path, sizeof path, dir, "optimizer.safetensors"))) s = dmi_optimizer_read(t->opt, path);
    if (!s) {
        t->step = (uint64_t)json_integer_value(json_object_get(j, "step"));
        json_t *best = json_object_get(j, "best_metric");
        t->best_metric = json_is_number(best) ? json_number_value(best) : NAN;
        t->best_step = best_step;
        t->evals_without_improvement = (int)json_integer_value(json_object_get(j, "evals_without_improvement"));
        t->epoch_loss_sum = json_number_value(json_object_get(j, "epoch_loss_sum"));
        t->epoch_loss_steps = (uint64_t)json_integer_value(json_object_get(j, "epoch_loss_steps"));
        t->examples_seen = (uint64_t)json_integer_value(json_object_get(j, "examples_seen"));
        if (t->dp) {
            json_t *dp = json_object_get(j, "dp");
            t->dp->steps = t->step;
            t->dp->clipped = (uint64_t)json_integer_value(json_object_get(dp, "clipped"));
            t->dp->examples = (uint64_t)json_integer_value(json_object_get(dp, "examples"));
        }
        if (!s && t->opt->step == UINT64_MAX) t->opt->step = t->step; /* a state of an earlier version */
        if (!s && t->opt->step != t->step)
            s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: the optimizer state is at step %llu, the trainer's "
                         "at %llu", dir, (unsigned long long)t->opt->step, (unsigned long long)t->step);
        if (!s && t->step > t->total_steps)
            s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "resuming from %s: step %llu is past the run's %llu steps", dir,
                         (unsigned long long)t->step, (unsigned long long)t->total_steps);
    }
    json_decref(j);
    return s ? dmi_fail_prefix(s, "resume") : DM_OK;
}
