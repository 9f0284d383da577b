/*
 * dp_sgd.c — DP-SGD on a model: per-example gradient norms from a backward
 * pass without weight-gradient products (ghost clipping), the clipped sum
 * as one ordinary backward pass with each loss weighted by its clip factor,
 * and Gaussian noise from libsodium's ChaCha20.
 *
 * Why two backward passes and not per-example gradients: a per-example
 * gradient of a BERT is the model's size (22 M floats for MiniLM) per
 * example; the norm pass needs only each site's input and output gradient,
 * which the backward pass has anyway, and the second pass is the ordinary
 * one, on every backend, at full batch efficiency.
 */
#include "dp_sgd.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Noise is made and uploaded in chunks of this many floats; each chunk's
 * ChaCha20 key is derived from (key, step, chunk), so a chunk's values do
 * not depend on how the work is split. */
#define NOISE_CHUNK ((size_t)1 << 20)

DM_API void dm_dp_options_default(dm_dp_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->max_grad_norm = 1.0;
    o->delta = 1e-5;
}

static dm_status check_options(const dm_dp_options *o)
{
    if (!(o->max_grad_norm > 0.0) || !isfinite(o->max_grad_norm))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: max_grad_norm must be a finite number > 0 (got %g)",
                        o->max_grad_norm);
    if (!(o->delta > 0.0 && o->delta < 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: delta must be in (0, 1) (got %g)", o->delta);
    if (!(o->sample_rate > 0.0 && o->sample_rate <= 1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: the sample rate q must be in (0, 1] (got %g)", o->sample_rate);
    if (o->target_epsilon < 0.0 || isnan(o->target_epsilon) || isinf(o->target_epsilon))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: epsilon must be a finite number > 0 (got %g)",
                        o->target_epsilon);
    if (o->noise_multiplier < 0.0 || !isfinite(o->noise_multiplier))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: the noise multiplier must be finite and > 0 (got %g)",
                        o->noise_multiplier);
    if (o->noise_multiplier == 0.0 && o->target_epsilon == 0.0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: give a target epsilon (> 0) or a noise multiplier (> 0)");
    if (o->noise_multiplier == 0.0 && o->steps == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: choosing the noise for epsilon %g needs the planned steps",
                        o->target_epsilon);
    return DM_OK;
}

static dm_status choose_sigma(dm_dp *dp)
{
    const dm_dp_options *o = &dp->o;
    if (o->noise_multiplier > 0.0) {
        dp->sigma = o->noise_multiplier;
        return DM_OK;
    }
    dm_status s = dm_dp_noise_multiplier(o->target_epsilon, o->delta, o->sample_rate, o->steps, 0.0, &dp->sigma);
    if (s == DM_ERR_RANGE)
        return dmi_fail(DM_ERR_RANGE, "DP-SGD: epsilon %g (delta %g) is too small a budget for %llu steps at sample "
                        "rate %g: no noise multiplier up to 1e6 keeps it", o->target_epsilon, o->delta,
                        (unsigned long long)o->steps, o->sample_rate);
    return s;
}

static dm_status make_key(dm_dp *dp)
{
    if (sodium_init() < 0) return dmi_fail(DM_ERR_INTERNAL, "libsodium could not be initialised");
    if (dp->o.noise_seed == 0) {
        randombytes_buf(dp->key, sizeof dp->key);
        return DM_OK;
    }
    unsigned char seed[8 + 12];
    for (int i = 0; i < 8; i++) seed[i] = (unsigned char)(dp->o.noise_seed >> (8 * i));
    memcpy(seed + 8, "dm-dp-noise", 12);
    crypto_generichash(dp->key, sizeof dp->key, seed, sizeof seed, NULL, 0);
    return DM_OK;
}

DM_API dm_status dm_dp_create(const dm_dp_options *opts, dm_dp **out)
{
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_create: NULL out");
    *out = NULL;
    dm_dp *dp = dmi_calloc(1, sizeof *dp);
    if (!dp) return DM_ERR_NO_MEMORY;
    dm_dp_options_default(&dp->o);
    dp->eps_steps = UINT64_MAX;
    dm_status s = opts && dmi_copy_options(&dp->o, sizeof dp->o, opts, "dm_dp_options") ? DM_ERR_INVALID_ARGUMENT
                                                                                         : DM_OK;
    if (!s) s = check_options(&dp->o);
    if (!s) s = choose_sigma(dp);
    if (!s) s = make_key(dp);
    if (s) {
        free(dp);
        return s;
    }
    *out = dp;
    return DM_OK;
}

DM_API void dm_dp_free(dm_dp *dp)
{
    if (!dp) return;
    sodium_memzero(dp->key, sizeof dp->key);
    free(dp->noise_host);
    free(dp);
}

dm_status dmi_dp_epsilon_at(const dm_dp *dp, uint64_t steps, double *epsilon)
{
    if (steps == dp->eps_steps) {
        *epsilon = dp->eps;
        return DM_OK;
    }
    dm_status s = dm_dp_epsilon(dp->sigma, dp->o.sample_rate, steps, dp->o.delta, epsilon, NULL);
    if (!s) ((dm_dp *)dp)->eps_steps = steps, ((dm_dp *)dp)->eps = *epsilon; /* a cache, not the state */
    return s;
}

DM_API dm_status dm_dp_get_info(const dm_dp *dp, dm_dp_info *info)
{
    if (!dp || !info) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_get_info: NULL argument");
    if (info->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_info: set struct_size to sizeof(dm_dp_info)");
    dm_dp_info full = {.struct_size = sizeof full, .noise_multiplier = dp->sigma,
                       .max_grad_norm = dp->o.max_grad_norm, .sample_rate = dp->o.sample_rate,
                       .delta = dp->o.delta, .steps = dp->steps, .clipped = dp->clipped,
                       .examples = dp->examples};
    dm_status s = dmi_dp_epsilon_at(dp, dp->steps, &full.epsilon);
    if (s) return s;
    size_t n = info->struct_size < sizeof full ? info->struct_size : sizeof full;
    memcpy(info, &full, n);
    info->struct_size = n;
    return DM_OK;
}

/* ------------------------------------------------------------------ norms and clipping */

static dm_status example_sq_buffer(dm_model *m, size_t B)
{
    if (m->example_sq && m->example_sq_n >= B) return DM_OK;
    if (m->example_sq) m->be->ops->free(m->be, m->example_sq);
    m->example_sq_n = 0;
    m->example_sq = m->be->ops->alloc(m->be, B * sizeof(float));
    if (!m->example_sq) return DM_ERR_NO_MEMORY;
    m->example_sq_n = B;
    return DM_OK;
}

/* The norm pass after a forward pass that left each example's dlogits
 * (grad_scale 1): NORMS gets sqrt of each example's squared norm. */
static dm_status norm_pass(dm_model *m, size_t B, size_t T, const dmi_bert_dropout *d, float *norms)
{
    dmb_backend *be = m->be;
    dmi_bert_acts *a = &m->train;
    dm_status s = example_sq_buffer(m, B);
    if (!s) s = be->ops->zero(be, m->example_sq, B * sizeof(float));
    if (s) return s;
    a->example_sq = m->example_sq;
    s = dmi_bert_backward(be, &m->dims, &m->net, a, B, T, d);
    a->example_sq = NULL;
    if (!s) s = be->ops->download(be, norms, m->example_sq, B * sizeof(float));
    if (s) return s;
    for (size_t b = 0; b < B; b++) {
        if (!isfinite(norms[b]))
            return dmi_fail(DM_ERR_NUMERIC, "example %zu of the batch: its gradient norm is %s", b,
                            isnan(norms[b]) ? "NaN" : "infinite");
        norms[b] = sqrtf(norms[b] > 0.0f ? norms[b] : 0.0f);
    }
    return DM_OK;
}

dm_status dmi_dp_norms(dm_model *m, size_t B, size_t T, const dmi_bert_dropout *d, float *norms)
{
    dmi_bert_acts *a = &m->train;
    dm_status s = dmi_bert_forward(m->be, &m->dims, &m->net, a, B, T, d, a->weights, 1.0f);
    return s ? s : norm_pass(m, B, T, d, norms);
}

/* Book-keeping's buffers for the model's trained sites at the activations'
 * largest batch: false (and the two-pass way) when they do not fit in the
 * backend's memory, which book-keeping needs about 70% more of. */
static bool book_keeping(dm_dp *dp, dm_model *m)
{
    if (dp->two_pass) return false;
    dmi_bert_acts *a = &m->train;
    if (dmi_bert_bk_fits(&m->bk, &m->dims, &m->net, a->max_B, a->max_T)) return true;
    dmi_bert_bk_free(m->be, &m->bk);
    return dmi_bert_bk_alloc(m->be, &m->dims, &m->net, a->max_B, a->max_T, &m->bk) == DM_OK;
}

dm_status dmi_dp_backward(dm_dp *dp, dm_model *m, size_t B, size_t T, const dmi_bert_dropout *d, float grad_scale,
                          double *loss, int accumulate, float *norms)
{
    dmb_backend *be = m->be;
    dmi_bert_acts *a = &m->train;
    dm_status s = dmi_bert_forward(be, &m->dims, &m->net, a, B, T, d, a->weights, 1.0f);
    if (!s && loss) s = be->ops->reduce(be, loss, a->losses, B, DMB_SUM, accumulate);
    a->bk = book_keeping(dp, m) ? &m->bk : NULL;
    if (!s) s = norm_pass(m, B, T, d, norms);
    if (s) {
        a->bk = NULL;
        return s;
    }
    /* Each example's gradient times its clip factor: either (book-keeping)
     * the norm pass's kept output gradients scaled per example, then the
     * weight-gradient products alone; or each loss weighted by its factor
     * and one ordinary backward pass, which adds sum_i clip_i grad(w_i
     * loss_i), scaled. */
    dmi_bert_inputs in = dmi_bert_inputs_host(a);
    for (size_t b = 0; b < B; b++) {
        if (in.labels[b] < 0) continue;
        float c = dmi_dp_clip_factor(dp->o.max_grad_norm, norms[b]);
        dp->clipped += c < 1.0f;
        dp->examples++;
        in.weights[b] = a->bk ? c * grad_scale : in.weights[b] * c;
    }
    if (a->bk) {
        s = be->ops->upload(be, m->bk.scale, in.weights, B * sizeof(float));
        if (!s) s = dmi_bert_bk_grads(be, &m->dims, &m->net, a, B, T);
        a->bk = NULL;
        return s;
    }
    s = be->ops->upload(be, a->weights, in.weights, B * sizeof(float));
    if (!s) s = be->ops->xent_fwd_bwd(be, a->losses, a->dlogits, a->logits, a->labels, a->weights, B, m->dims.L,
                                      grad_scale);
    if (!s) s = dmi_bert_backward(be, &m->dims, &m->net, a, B, T, d);
    return s;
}

/* ------------------------------------------------------------------ noise */

/* N standard normal values times STD from ChaCha20 under KEY (Box-Muller on
 * pairs of 32-bit uniforms in (0, 1]; double precision). */
static void gaussian_chunk(float *out, size_t n, const unsigned char key[32], double std)
{
    uint32_t *u = (uint32_t *)out; /* the uniforms are read before each pair is overwritten */
    randombytes_buf_deterministic(u, n * sizeof *u, key);
    for (size_t i = 0; i + 1 < n; i += 2) {
        double u1 = ((double)u[i] + 1.0) / 4294967296.0, u2 = (double)u[i + 1] / 4294967296.0;
        double r = sqrt(-2.0 * log(u1)) * std, th = 2.0 * M_PI * u2;
        out[i] = (float)(r * cos(th));
        out[i + 1] = (float)(r * sin(th));
    }
    if (n % 2) {
        double u1 = ((double)u[n - 1] + 1.0) / 4294967296.0;
        out[n - 1] = (float)(sqrt(-2.0 * log(u1)) * std); /* cos(0): u2 = 0 */
    }
}

static void chunk_key(const dm_dp *dp, uint64_t chunk, unsigned char out[32])
{
    unsigned char msg[16];
    for (int i = 0; i < 8; i++) msg[i] = (unsigned char)(dp->steps >> (8 * i)), msg[8 + i] = (unsigned char)(chunk >> (8 * i));
    crypto_generichash(out, 32, msg, sizeof msg, dp->key, sizeof dp->key);
}

dm_status dmi_dp_noise(dm_dp *dp, dm_model *m, double grad_scale)
{
    dmb_backend *be = m->be;
    double std = grad_scale * dp->sigma * dp->o.max_grad_norm;
    if (!isfinite(std)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DP-SGD: the noise's scale is not finite");
    /* Chunks are keyed apart, so the CPU's threads draw a round of them at
     * once (the same values as one at a time): the noise is ~10% of a DP
     * step on one thread. */
    size_t par = be->threads > 1 ? (size_t)be->threads : 1, round = par * NOISE_CHUNK;
    if (dp->noise_host_floats < round) {
        free(dp->noise_host);
        dp->noise_host_floats = 0;
        if (!(dp->noise_host = dmi_malloc(round * sizeof(float)))) return DM_ERR_NO_MEMORY;
        dp->noise_host_floats = round;
    }
    float *dev = be->ops->alloc(be, round * sizeof(float));
    if (!dev) return DM_ERR_NO_MEMORY;
    dm_status s = DM_OK;
    for (size_t at = 0, first = 0; !s && at < m->n_grads; at += round, first += par) {
        size_t n = m->n_grads - at < round ? m->n_grads - at : round;
        size_t chunks = (n + NOISE_CHUNK - 1) / NOISE_CHUNK;
#pragma omp parallel for num_threads((int)par) schedule(static, 1)
        for (size_t i = 0; i < chunks; i++) {
            unsigned char key[32];
            size_t len = n - i * NOISE_CHUNK < NOISE_CHUNK ? n - i * NOISE_CHUNK : NOISE_CHUNK;
            chunk_key(dp, first + i, key);
            gaussian_chunk(dp->noise_host + i * NOISE_CHUNK, len, key, std);
            sodium_memzero(key, sizeof key);
        }
        s = be->ops->upload(be, dev, dp->noise_host, n * sizeof(float));
        if (!s) s = be->ops->add(be, m->grads + at, m->grads + at, dev, n);
        /* the upload may still read the host round on a queueing backend */
        if (!s) s = be->ops->synchronize(be);
    }
    /* Whoever learns the noise can subtract it: none is left in memory. */
    sodium_memzero(dp->noise_host, dp->noise_host_floats * sizeof(float));
    if (!s) s = be->ops->zero(be, dev, round * sizeof(float));
    be->ops->free(be, dev);
    if (!s) dp->steps++;
    return s;
}

/* ------------------------------------------------------------------ public calls */

static dm_status norms_call(dm_dp *dp, dm_model *m, const dm_batch *batch, const dm_backward_options *opts,
                            double *loss_sum, float *norms, const char *fn)
{
    dm_batch b;
    dm_backward_options o;
    dm_status s = dmi_model_check_batch(m, batch, opts, &b, &o, fn);
    if (!s && !norms && !dp) s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL norms", fn);
    if (s) return s;
    float *tmp = norms ? norms : dmi_malloc(b.batch * sizeof *tmp);
    if (!tmp) return DM_ERR_NO_MEMORY;
    s = dmi_model_enter(m, fn);
    if (!s) {
        s = dmi_model_stage_batch(m, &b);
        dmi_bert_dropout d = dmi_model_dropout(m, o.dropout, o.seed, o.stream);
        if (!s && !dp) s = dmi_dp_norms(m, b.batch, b.seq_len, &d, tmp);
        double sum = 0.0;
        if (!s && dp) s = dmi_dp_backward(dp, m, b.batch, b.seq_len, &d, (float)o.grad_scale, m->fb_stats, 0, tmp);
        if (!s && dp) s = dmi_model_read_loss(m, &sum);
        if (!s && loss_sum) *loss_sum = sum;
        dmi_model_leave(m);
    }
    if (tmp != norms) free(tmp);
    return s;
}

DM_API dm_status dm_dp_example_norms(dm_model *m, const dm_batch *batch, const dm_backward_options *opts, float *norms)
{
    return norms_call(NULL, m, batch, opts, NULL, norms, "dm_dp_example_norms");
}

DM_API dm_status dm_dp_forward_backward(dm_dp *dp, dm_model *m, const dm_batch *batch,
                                        const dm_backward_options *opts, double *loss_sum, float *norms)
{
    if (!dp) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_forward_backward: NULL dp");
    return norms_call(dp, m, batch, opts, loss_sum, norms, "dm_dp_forward_backward");
}

DM_API dm_status dm_dp_add_noise(dm_dp *dp, dm_model *m, double grad_scale)
{
    if (!dp || !m) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_add_noise: NULL dp or model");
    if (!(grad_scale > 0.0) || !isfinite(grad_scale))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dp_add_noise: grad_scale must be finite and > 0 (got %g)",
                        grad_scale);
    dm_status s = dmi_model_enter(m, "dm_dp_add_noise");
    if (s) return s;
    s = dmi_model_grads(m);
    if (!s) s = dmi_dp_noise(dp, m, grad_scale);
    dmi_model_leave(m);
    return s;
}
