/*
 * train.c — the options of a fine-tuning run and dm_train, which runs one
 * with a dm_trainer (trainer.c) from start to end. Also the whole-buffer
 * AdamW step the parity tests and benchmarks use.
 */
#include "train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    o->group_by_length = DM_LENGTHS_BUCKETS;
    o->world_size = 1;
    o->keep_best = 1;
    o->checkpoint_limit = 2;
    o->dp_delta = 1e-5;
    o->dp_max_grad_norm = 1.0;
}

double dmi_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ options */

/* DP-SGD's options (the sample rate needs the data: checked at create). */
static dm_status check_dp_options(const dm_train_options *o)
{
    if (o->dp_epsilon < 0.0 || !isfinite(o->dp_epsilon))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dp_epsilon must be a finite number > 0 (got %g; 0: no budget)",
                        o->dp_epsilon);
    if (o->dp_noise < 0.0 || !isfinite(o->dp_noise))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dp_noise must be a finite number > 0 (got %g; 0: from dp_epsilon)",
                        o->dp_noise);
    if (!dmi_train_dp(o)) return DM_OK;
    if (!(o->dp_delta > 0.0 && o->dp_delta < 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dp_delta must be in (0, 1) (got %g)", o->dp_delta);
    if (!(o->dp_max_grad_norm > 0.0) || !isfinite(o->dp_max_grad_norm))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dp_max_grad_norm must be a finite number > 0 (got %g)",
                        o->dp_max_grad_norm);
    if (o->precision != DM_PRECISION_FP32)
        return dmi_fail(DM_ERR_UNSUPPORTED, "DP-SGD trains in float32 only: the clipped gradients of bfloat16 "
                        "products would not be the ones whose norms were bounded (dm train --precision fp32)");
    if (o->max_steps >= (1u << 20) || (uint64_t)o->epochs >= (1u << 20))
        return dmi_fail(DM_ERR_RANGE, "DP-SGD: at most 2^20 steps in one run");
    return DM_OK;
}

dm_status dmi_train_check_options(const dm_train_options *o, const dm_model *m)
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
    if (o->group_by_length < DM_LENGTHS_MIXED || o->group_by_length > DM_LENGTHS_BUCKETS)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "group_by_length %d is not a dm_length_grouping (0 none, 1 sorted, "
                        "2 buckets)", o->group_by_length);
    if (o->precision != DM_PRECISION_FP32 && o->precision != DM_PRECISION_BF16)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "precision %d is not a dm_precision (0 fp32, 1 bf16)",
                        (int)o->precision);
    if (o->early_stopping_patience < 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "early_stopping_patience must be >= 0");
    if (o->freeze_layers < 0 || (size_t)o->freeze_layers > m->dims.layers)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "freeze_layers must be in [0, %zu] (the model's layers), got %d",
                        m->dims.layers, o->freeze_layers);
    int world = o->world_size ? o->world_size : 1;
    if (world < 1 || world > DMI_MAX_WORLD)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "world_size must be in [1, %d] (got %d)", DMI_MAX_WORLD, o->world_size);
    if (o->rank < 0 || o->rank >= world)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "rank must be in [0, world_size) = [0, %d) (got %d)", world, o->rank);
    if (world > 1)
        return dmi_fail(DM_ERR_UNSUPPORTED, "world_size %d: data-parallel training needs a gradient exchange between "
                        "the workers, which this build does not have yet (train with world_size 1)", world);
    if (o->checkpoint_steps && !o->output_dir)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "checkpoint_steps needs an output_dir");
    return check_dp_options(o);
}

/* ------------------------------------------------------------------ schedule */

double dmi_lr_at(const dm_train_options *o, uint64_t step, uint64_t total, uint64_t warmup)
{
    return dmi_schedule_lr(o->schedule, o->learning_rate, step, total ? total : 1, warmup);
}

/* ------------------------------------------------------------------ whole-buffer AdamW */

/* Clipping and AdamW on every tensor, given the gradient NORM. */
static dm_status adamw_update(dm_model *m, float *grads, float *adam_m, float *adam_v, uint64_t step, double lr,
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
    if (!s) s = adamw_update(m, grads, adam_m, adam_v, step, lr, o, *grad_norm);
    /* Finite gradients can still make non-finite weights (a learning rate of
     * 1e300): stop at this step, before a checkpoint or a save holds them. */
    if (!s) s = be->ops->reduce(be, sq, m->params, m->n_params, DMB_SUM_SQUARES, 0);
    if (!s) s = be->ops->download(be, host, sq, sizeof host);
    if (!s && !isfinite(host[0])) s = dmi_weights_finite_error(step, lr);
    be->ops->free(be, sq);
    return s;
}

/* ------------------------------------------------------------------ dm_train */

DM_API dm_status dm_train(dm_model *m, const dm_dataset *train, const dm_dataset *val, const dm_train_options *opts,
                          dm_train_result *result)
{
    if (result && result->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_train_result: set struct_size to sizeof(dm_train_result)");
    dm_trainer *t;
    dm_status s = dm_trainer_create(m, NULL, train, val, opts, &t);
    if (s) return s;
    if (t->o.resume_from) s = dm_trainer_resume(t, t->o.resume_from);
    if (!s) s = dm_trainer_run(t, result);
    dm_trainer_free(t);
    return s;
}
