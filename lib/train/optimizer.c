/*
 * optimizer.c — dm_optimizer: AdamW as torch.optim.AdamW over a model's
 * trainable tensors (decoupled weight decay, not on biases and LayerNorm
 * weights, as Hugging Face's Trainer groups them), global-norm clipping as
 * clip_grad_norm_, Hugging Face's schedules, and its state saved per tensor.
 *
 * The moments are laid out like the model's gradients (trainable tensors
 * only, table order); a run of consecutive trainable tensors with the same
 * decay setting is contiguous in parameters, gradients and moments alike
 * and is updated in one backend call.
 */
#include "optimizer.h"
#include "../model/safetensors.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

DM_API void dm_optimizer_options_default(dm_optimizer_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->learning_rate = 5e-5;
    o->weight_decay = 0.01;
    o->adam_beta1 = 0.9;
    o->adam_beta2 = 0.999;
    o->adam_epsilon = 1e-8;
    o->max_grad_norm = 1.0;
    o->schedule = DM_SCHEDULE_LINEAR;
}

double dmi_schedule_lr(dm_lr_schedule schedule, double base, uint64_t step, uint64_t total, uint64_t warmup)
{
    if (step < warmup) return base * (double)step / (double)(warmup ? warmup : 1);
    if (total == 0 || schedule == DM_SCHEDULE_CONSTANT) return base;
    double span = (double)(total > warmup ? total - warmup : 1);
    double progress = (double)(step - warmup) / span;
    if (schedule == DM_SCHEDULE_COSINE) {
        double f = 0.5 * (1.0 + cos(M_PI * progress));
        return base * (f > 0.0 ? f : 0.0);
    }
    double f = (double)(total > step ? total - step : 0) / span;
    return base * (f > 0.0 ? f : 0.0);
}

dm_status dmi_optimizer_check_options(const dm_optimizer_options *o)
{
    if (!(o->learning_rate > 0.0) || !isfinite(o->learning_rate))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "learning_rate must be positive (got %g)", o->learning_rate);
    if (!(o->weight_decay >= 0.0) || !isfinite(o->weight_decay))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "weight_decay must be >= 0 (got %g)", o->weight_decay);
    if (!(o->adam_beta1 >= 0.0 && o->adam_beta1 < 1.0) || !(o->adam_beta2 >= 0.0 && o->adam_beta2 < 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "adam betas must be in [0, 1) (got %g, %g)", o->adam_beta1,
                        o->adam_beta2);
    if (!(o->adam_epsilon > 0.0) || !isfinite(o->adam_epsilon))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "adam_epsilon must be positive");
    if (!(o->max_grad_norm >= 0.0) || !isfinite(o->max_grad_norm))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "max_grad_norm must be >= 0 (0 = off)");
    if (o->schedule < DM_SCHEDULE_LINEAR || o->schedule > DM_SCHEDULE_COSINE)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "schedule %d is not a dm_lr_schedule", (int)o->schedule);
    return DM_OK;
}

/* ------------------------------------------------------------------ life */

/* The runs: maximal stretches of consecutive trainable tensors with one
 * decay setting. */
static dm_status build_runs(dm_optimizer *opt)
{
    const dm_model *m = opt->m;
    opt->runs = dmi_calloc(m->n_tensors, sizeof *opt->runs);
    if (!opt->runs) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < m->n_tensors; i++) {
        if (!m->trainable[i]) continue;
        const dmi_bert_tensor *t = &m->tensors[i];
        dmi_adam_run *last = opt->n_runs ? &opt->runs[opt->n_runs - 1] : NULL;
        if (last && last->decay == t->decay && last->param_off + last->len == t->offset &&
            last->state_off + last->len == m->grad_offset[i]) {
            last->len += t->numel;
            continue;
        }
        opt->runs[opt->n_runs++] = (dmi_adam_run){t->offset, m->grad_offset[i], t->numel, t->decay};
    }
    return DM_OK;
}

DM_API dm_status dm_optimizer_create(dm_model *m, const dm_optimizer_options *opts, dm_optimizer **out)
{
    if (!m || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_optimizer_create: NULL model or output");
    dm_optimizer_options o;
    dm_optimizer_options_default(&o);
    if (opts && dmi_copy_options(&o, sizeof o, opts, "dm_optimizer_options")) return DM_ERR_INVALID_ARGUMENT;
    dm_status s = dmi_optimizer_check_options(&o);
    if (s) return s;
    if ((s = dmi_model_enter(m, "dm_optimizer_create"))) return s;
    dm_optimizer *opt = dmi_calloc(1, sizeof *opt);
    if (!opt) s = DM_ERR_NO_MEMORY;
    if (!s) {
        opt->m = m;
        opt->o = o;
        s = dmi_model_grads(m);
    }
    dmb_backend *be = m->be;
    if (!s) {
        opt->n = m->n_grads;
        size_t bytes = (opt->n ? opt->n : 1) * sizeof(float);
        opt->adam_m = be->ops->alloc(be, bytes);
        opt->adam_v = be->ops->alloc(be, bytes);
        opt->stats = be->ops->alloc(be, 2 * sizeof(double));
        if (!opt->adam_m || !opt->adam_v || !opt->stats) s = dmi_fail_prefix(DM_ERR_NO_MEMORY, "AdamW moments");
    }
    if (!s) s = be->ops->zero(be, opt->adam_m, opt->n * sizeof(float));
    if (!s) s = be->ops->zero(be, opt->adam_v, opt->n * sizeof(float));
    if (!s) s = build_runs(opt);
    if (!s) m->n_optimizers++, opt->counted = true;
    dmi_model_leave(m);
    if (s) {
        dm_optimizer_free(opt);
        return s;
    }
    *out = opt;
    return DM_OK;
}

DM_API void dm_optimizer_free(dm_optimizer *opt)
{
    if (!opt) return;
    if (opt->m) {
        dmb_backend *be = opt->m->be;
        if (opt->adam_m) be->ops->free(be, opt->adam_m);
        if (opt->adam_v) be->ops->free(be, opt->adam_v);
        if (opt->stats) be->ops->free(be, opt->stats);
        if (opt->counted) {
            pthread_mutex_lock(&opt->m->lock);
            opt->m->n_optimizers--;
            pthread_mutex_unlock(&opt->m->lock);
        }
    }
    free(opt->runs);
    free(opt);
}

DM_API uint64_t dm_optimizer_steps(const dm_optimizer *opt) { return opt ? opt->step : 0; }

/* ------------------------------------------------------------------ the step */

double dmi_optimizer_lr(const dm_optimizer *opt)
{
    const dm_optimizer_options *o = &opt->o;
    return dmi_schedule_lr(o->schedule, o->learning_rate, opt->step, o->total_steps, o->warmup_steps);
}

dm_status dmi_optimizer_apply(dm_optimizer *opt, double norm, double *lr_out)
{
    const dm_optimizer_options *o = &opt->o;
    dm_model *m = opt->m;
    dmb_backend *be = m->be;
    if (!isfinite(norm))
        return dmi_fail(DM_ERR_NUMERIC, "step %llu: the gradient norm is %s", (unsigned long long)opt->step + 1,
                        isnan(norm) ? "NaN" : "infinite");
    float clip = 1.0f;
    if (o->max_grad_norm > 0.0) {
        double coef = o->max_grad_norm / (norm + 1e-6); /* as torch.nn.utils.clip_grad_norm_ */
        if (coef < 1.0) clip = (float)coef;
    }
    double lr = dmi_optimizer_lr(opt);
    for (size_t r = 0; r < opt->n_runs; r++) {
        const dmi_adam_run *run = &opt->runs[r];
        float wd = run->decay ? (float)o->weight_decay : 0.0f;
        dm_status s = be->ops->adamw(be, m->params + run->param_off, m->grads + run->state_off,
                                     opt->adam_m + run->state_off, opt->adam_v + run->state_off, run->len, (float)lr,
                                     (float)o->adam_beta1, (float)o->adam_beta2, (float)o->adam_epsilon, wd,
                                     opt->step + 1, clip);
        if (s) return s;
    }
    opt->step++;
    m->params16_stale = true;
    if (lr_out) *lr_out = lr;
    return DM_OK;
}

/* Readbacks: the public step reads the gradient norm, then checks the
 * weights it made (a trainer batches both into its one readback a step). */
static dm_status read_norm2(dm_optimizer *opt, const float *x, size_t n, double *out)
{
    dmb_backend *be = opt->m->be;
    dm_status s = be->ops->reduce(be, opt->stats, x, n, DMB_SUM_SQUARES, 0);
    if (!s) s = be->ops->download(be, out, opt->stats, sizeof *out);
    return s;
}

static dm_status step(dm_optimizer *opt, dm_optimizer_step_info *info)
{
    dm_model *m = opt->m;
    if (m->n_grads != opt->n || !m->grads)
        return dmi_fail(DM_ERR_INTERNAL, "the model's gradients no longer match the optimizer's state");
    double norm2, lr, w2;
    dm_status s = read_norm2(opt, m->grads, opt->n, &norm2);
    if (!s) s = dmi_optimizer_apply(opt, sqrt(norm2), &lr);
    if (!s) s = m->be->ops->zero(m->be, m->grads, opt->n * sizeof(float));
    if (!s) s = read_norm2(opt, m->params, m->n_params, &w2);
    if (!s && !isfinite(w2))
        s = dmi_fail(DM_ERR_NUMERIC, "step %llu: the update made the weights non-finite (learning rate %g)",
                     (unsigned long long)opt->step, lr);
    if (!s && info) {
        dm_optimizer_step_info r = {.struct_size = sizeof r, .step = opt->step, .learning_rate = lr,
                                    .grad_norm = sqrt(norm2)};
        size_t n = info->struct_size < sizeof r ? info->struct_size : sizeof r;
        memcpy(info, &r, n);
        info->struct_size = n;
    }
    return s;
}

DM_API dm_status dm_optimizer_step(dm_optimizer *opt, dm_optimizer_step_info *info)
{
    if (!opt) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_optimizer_step: NULL optimizer");
    if (info && info->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_optimizer_step_info: set struct_size");
    dm_status s = dmi_model_enter(opt->m, "dm_optimizer_step");
    if (s) return s;
    s = step(opt, info);
    dmi_model_leave(opt->m);
    return s;
}

/* ------------------------------------------------------------------ state */

static const char *const option_keys[] = {"learning_rate", "weight_decay", "adam_beta1", "adam_beta2",
                                          "adam_epsilon", "max_grad_norm"};

static double option_value(const dm_optimizer_options *o, size_t i)
{
    const double v[] = {o->learning_rate, o->weight_decay, o->adam_beta1, o->adam_beta2, o->adam_epsilon,
                        o->max_grad_norm};
    return v[i];
}

/* The moments of trainable tensor I: "NAME.exp_avg" and "NAME.exp_avg_sq". */
static void moment_name(char *buf, size_t cap, const char *tensor, int second)
{
    snprintf(buf, cap, "%s.%s", tensor, second ? "exp_avg_sq" : "exp_avg");
}

dm_status dmi_optimizer_write(const dm_optimizer *opt, const char *path)
{
    dm_model *m = opt->m;
    size_t k = 0, n_out = 2 * m->n_tensors;
    float *host = dmi_malloc((opt->n ? 2 * opt->n : 1) * sizeof *host);
    dmi_st_out *outs = dmi_calloc(n_out, sizeof *outs);
    char (*names)[160] = dmi_calloc(n_out, sizeof *names);
    dm_status s = host && outs && names ? DM_OK : DM_ERR_NO_MEMORY;
    if (!s) s = m->be->ops->download(m->be, host, opt->adam_m, opt->n * sizeof *host);
    if (!s) s = m->be->ops->download(m->be, host + opt->n, opt->adam_v, opt->n * sizeof *host);
    if (!s) s = dmi_check_finite(host, 2 * opt->n, "the optimizer state", "exp_avg/exp_avg_sq");
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        if (!m->trainable[i]) continue;
        const dmi_bert_tensor *t = &m->tensors[i];
        for (int second = 0; second < 2; second++) {
            moment_name(names[k], sizeof names[k], t->name, second);
            outs[k] = (dmi_st_out){.name = names[k], .dtype = DMI_F32, .ndim = t->ndim,
                                   .data = host + (second ? opt->n : 0) + m->grad_offset[i]};
            outs[k].shape[0] = (int64_t)t->shape[0];
            outs[k].shape[1] = (int64_t)t->shape[1];
            k++;
        }
    }
    char step_text[32], vals[6][32];
    const char *meta[2 * 8];
    size_t nm = 0;
    snprintf(step_text, sizeof step_text, "%llu", (unsigned long long)opt->step);
    meta[nm++] = "format", meta[nm++] = "pt";
    meta[nm++] = "dm_optimizer_step", meta[nm++] = step_text;
    for (size_t i = 0; i < 6; i++) {
        snprintf(vals[i], sizeof vals[i], "%.17g", option_value(&opt->o, i));
        meta[nm++] = option_keys[i], meta[nm++] = vals[i];
    }
    if (!s) s = dmi_st_write(path, outs, k, meta, nm / 2);
    free(host), free(outs), free(names);
    return s;
}

DM_API dm_status dm_optimizer_save(const dm_optimizer *opt, const char *path)
{
    if (!opt || !path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_optimizer_save: NULL optimizer or path");
    dm_status s = dmi_model_enter(opt->m, "dm_optimizer_save");
    if (s) return s;
    s = dmi_optimizer_write(opt, path);
    dmi_model_leave(opt->m);
    return s ? dmi_fail_prefix(s, "saving the optimizer state to %s", path) : DM_OK;
}

/* The saved options must be these: moments of another learning problem
 * (betas, epsilon) would continue a different optimisation. */
static dm_status check_saved_options(const dmi_safetensors *st, const dm_optimizer *opt, const char *path)
{
    for (size_t i = 0; i < 6; i++) {
        const char *v = dmi_st_metadata(st, option_keys[i]);
        if (!v) return dmi_fail(DM_ERR_PARSE, "%s: not an optimizer state of libdatamodel (no '%s')", path, option_keys[i]);
        double saved = strtod(v, NULL), here = option_value(&opt->o, i);
        if (saved != here)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the state was saved with %s %g, this optimizer has %g", path,
                            option_keys[i], saved, here);
    }
    return DM_OK;
}

/* The checkpoints of versions before 0.2 kept the moments flat, over every
 * parameter ("exp_avg", "exp_avg_sq"), without the step: read when every
 * tensor is trainable (the layouts are then one); the step is the caller's. */
static dm_status read_legacy(dm_optimizer *opt, const dmi_safetensors *st, const char *path)
{
    const dm_model *m = opt->m;
    if (opt->n != m->n_params)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: a state of every parameter, and some are frozen here", path);
    float *host = dmi_malloc((opt->n ? opt->n : 1) * sizeof *host);
    if (!host) return DM_ERR_NO_MEMORY;
    dm_status s = DM_OK;
    for (int second = 0; !s && second < 2; second++) {
        const dmi_st_tensor *x = dmi_st_find(st, second ? "exp_avg_sq" : "exp_avg");
        if (!x || x->numel != opt->n)
            s = dmi_fail(DM_ERR_PARSE, "%s: '%s' is missing or not of %zu values", path, second ? "exp_avg_sq" : "exp_avg",
                         opt->n);
        if (!s) s = dmi_st_read_f32(st, x, host);
        if (!s) s = m->be->ops->upload(m->be, second ? opt->adam_v : opt->adam_m, host, opt->n * sizeof *host);
    }
    free(host);
    if (!s) opt->step = UINT64_MAX; /* unknown: the trainer's */
    return s;
}

dm_status dmi_optimizer_read(dm_optimizer *opt, const char *path)
{
    dm_model *m = opt->m;
    dmi_safetensors *st;
    dm_status s = dmi_st_open(path, &st);
    if (s) return s;
    if (dmi_st_find(st, "exp_avg")) {
        s = read_legacy(opt, st, path);
        dmi_st_close(st);
        return s;
    }
    float *host = dmi_malloc((opt->n ? 2 * opt->n : 1) * sizeof *host);
    if (!host) s = DM_ERR_NO_MEMORY;
    if (!s) s = check_saved_options(st, opt, path);
    size_t expected = 0;
    for (size_t i = 0; !s && i < m->n_tensors; i++) {
        if (!m->trainable[i]) continue;
        const dmi_bert_tensor *t = &m->tensors[i];
        for (int second = 0; !s && second < 2; second++) {
            char name[160];
            moment_name(name, sizeof name, t->name, second);
            const dmi_st_tensor *x = dmi_st_find(st, name);
            if (!x) s = dmi_fail(DM_ERR_NOT_FOUND, "%s: no state for '%s' (saved with other tensors trainable?)", path, name);
            else if (x->numel != t->numel)
                s = dmi_fail(DM_ERR_RANGE, "%s: '%s' has %zu values, the tensor %zu", path, name, x->numel, t->numel);
            else s = dmi_st_read_f32(st, x, host + (second ? opt->n : 0) + m->grad_offset[i]);
            expected++;
        }
    }
    if (!s && dmi_st_count(st) != expected)
        s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the state holds %zu tensors, this optimizer's trainable tensors %zu "
                     "(saved with other tensors trainable)", path, dmi_st_count(st), expected);
    const char *step_text = s ? NULL : dmi_st_metadata(st, "dm_optimizer_step");
    if (!s && !step_text) s = dmi_fail(DM_ERR_PARSE, "%s: no dm_optimizer_step in the metadata", path);
    if (!s) s = m->be->ops->upload(m->be, opt->adam_m, host, opt->n * sizeof *host);
    if (!s) s = m->be->ops->upload(m->be, opt->adam_v, host + opt->n, opt->n * sizeof *host);
    if (!s) opt->step = strtoull(step_text, NULL, 10);
    free(host);
    dmi_st_close(st);
    return s;
}

DM_API dm_status dm_optimizer_load(dm_optimizer *opt, const char *path)
{
    if (!opt || !path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_optimizer_load: NULL optimizer or path");
    dm_status s = dmi_model_enter(opt->m, "dm_optimizer_load");
    if (s) return s;
    s = dmi_optimizer_read(opt, path);
    dmi_model_leave(opt->m);
    return s ? dmi_fail_prefix(s, "loading the optimizer state from %s", path) : DM_OK;
}
