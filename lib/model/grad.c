/*
 * grad.c — what a model needs to be trained: which tensors are trainable,
 * a gradient buffer for those only (frozen tensors have none: LoRA-style
 * training keeps memory for what it trains), training activations, and the
 * public forward/backward pass on one batch of token ids.
 *
 * Gradients are laid out like the parameters but only for trainable tensors,
 * in table order, so a run of consecutive trainable tensors is contiguous in
 * both buffers and the optimizer updates it in one call.
 */
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

dm_status dmi_model_init_trainable(dm_model *m)
{
    m->trainable = dmi_malloc(m->n_tensors * sizeof *m->trainable);
    m->grad_offset = dmi_malloc(m->n_tensors * sizeof *m->grad_offset);
    if (!m->trainable || !m->grad_offset) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < m->n_tensors; i++) m->trainable[i] = true;
    return DM_OK;
}

void dmi_model_free_grads(dm_model *m)
{
    if (m->grads) m->be->ops->free(m->be, m->grads);
    m->grads = NULL;
    if (m->net.layers) dmi_bert_drop_grads(&m->net, &m->dims);
    if (m->train.block) dmi_bert_acts_free(m->be, &m->train);
    if (m->train_lowp.scratch) m->be->ops->free(m->be, m->train_lowp.scratch);
    if (m->train_lowp.scratch2) m->be->ops->free(m->be, m->train_lowp.scratch2);
    memset(&m->train_lowp, 0, sizeof m->train_lowp);
    m->train_lowp_elems = 0;
    if (m->fb_stats) m->be->ops->free(m->be, m->fb_stats);
    m->fb_stats = NULL;
    if (m->example_sq) m->be->ops->free(m->be, m->example_sq);
    m->example_sq = NULL;
    m->example_sq_n = 0;
    dmi_bert_bk_free(m->be, &m->bk);
}

size_t dmi_model_trainable_floats(const dm_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->trainable[i]) n += m->tensors[i].numel;
    return n;
}

dm_status dmi_model_grads(dm_model *m)
{
    if (m->grads) return DM_OK;
    size_t at = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        m->grad_offset[i] = m->trainable[i] ? at : SIZE_MAX;
        if (m->trainable[i]) at += m->tensors[i].numel;
    }
    m->n_grads = at;
    dm_status s = DM_OK;
    m->grads = m->be->ops->alloc(m->be, (at ? at : 1) * sizeof(float));
    if (!m->grads) s = dmi_fail_prefix(DM_ERR_NO_MEMORY, "gradients of %zu trainable parameters", at);
    if (!s) s = m->be->ops->zero(m->be, m->grads, at * sizeof(float));
    if (!s) s = dmi_model_map_net(m);
    if (s && m->grads) m->be->ops->free(m->be, m->grads), m->grads = NULL;
    return s;
}

dm_status dmi_model_train_acts(dm_model *m, size_t B, size_t T)
{
    dmi_bert_acts *a = &m->train;
    if (a->block && B <= a->max_B && T <= a->max_T) return DM_OK;
    size_t nb = B > a->max_B ? B : a->max_B, nt = T > a->max_T ? T : a->max_T;
    dmi_bert_acts_free(m->be, a);
    return dmi_bert_acts_alloc(m->be, &m->dims, nb, nt, true, a);
}

/* The bfloat16 copies of the weights, made again when the float32 ones
 * changed (after each optimizer step), and the twins pointed at them. */
static dm_status fresh_params16(dm_model *m)
{
    dmb_backend *be = m->be;
    if (!m->params16 && !(m->params16 = be->ops->alloc(be, m->n_params * sizeof(uint16_t))))
        return DM_ERR_NO_MEMORY;
    if (m->params16_stale) {
        dm_status s = be->ops->to_bf16(be, m->params16, m->params, m->n_params);
        if (s) return s;
        m->params16_stale = false;
    }
    dmi_bert_set_bf16(&m->net, &m->dims, m->params, m->params16);
    return DM_OK;
}

dm_status dmi_model_train_precision(dm_model *m, dm_precision precision)
{
    if (precision != DM_PRECISION_BF16) {
        m->train.lowp = NULL;
        return DM_OK;
    }
    dmb_backend *be = m->be;
    if (!m->train_lowp.scratch) {
        dmb_caps caps;
        dm_status s = be->ops->caps(be, &caps);
        if (s) return s;
        if (!caps.bf16)
            return dmi_fail(DM_ERR_UNSUPPORTED, "the %s backend has no bfloat16 matrix products on this machine: "
                            "train with float32 precision", be->ops->name);
    }
    size_t C = m->dims.C, wide = 3 * C > m->dims.I ? 3 * C : m->dims.I;
    size_t elems = m->train.max_B * m->train.max_T * (wide > C ? wide : C);
    if (elems > m->train_lowp_elems) {
        if (m->train_lowp.scratch) be->ops->free(be, m->train_lowp.scratch);
        if (m->train_lowp.scratch2) be->ops->free(be, m->train_lowp.scratch2);
        m->train_lowp.scratch = be->ops->alloc(be, elems * sizeof(uint16_t));
        m->train_lowp.scratch2 = m->train_lowp.scratch ? be->ops->alloc(be, elems * sizeof(uint16_t)) : NULL;
        m->train_lowp_elems = m->train_lowp.scratch2 ? elems : 0;
        if (!m->train_lowp.scratch2) return DM_ERR_NO_MEMORY;
    }
    dm_status s = fresh_params16(m);
    if (s) return s;
    m->train.lowp = &m->train_lowp;
    return DM_OK;
}

/* ------------------------------------------------------------------ trainable tensors */

/* Query, key and value of a layer form one matrix: trained or frozen together. */
static dm_status check_qkv_together(const dm_model *m)
{
    for (size_t i = 0; i + 2 < m->n_tensors; i++) {
        const char *q = strstr(m->tensors[i].name, ".attention.self.query.");
        if (!q) continue;
        if (m->trainable[i + 1] != m->trainable[i] || m->trainable[i + 2] != m->trainable[i])
            return dmi_fail(DM_ERR_UNSUPPORTED, "%s: a layer's query, key and value are trained or frozen together "
                            "(they are one matrix here): name the layer's attention instead", m->tensors[i].name);
    }
    return DM_OK;
}

DM_API dm_status dm_model_set_trainable(dm_model *m, const char *prefix, int trainable)
{
    if (!m || !prefix) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_set_trainable: NULL model or prefix");
    dm_status s = dmi_model_enter(m, "dm_model_set_trainable");
    if (s) return s;
    if (m->n_optimizers) {
        dmi_model_leave(m);
        return dmi_fail(DM_ERR_BUSY, "dm_model_set_trainable: an optimizer of this model exists (its state follows "
                        "the trainable tensors): free it first");
    }
    bool *old = dmi_malloc(m->n_tensors * sizeof *old);
    if (!old) {
        dmi_model_leave(m);
        return DM_ERR_NO_MEMORY;
    }
    memcpy(old, m->trainable, m->n_tensors * sizeof *old);
    size_t matched = 0, len = strlen(prefix);
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strncmp(m->tensors[i].name, prefix, len) == 0) m->trainable[i] = trainable != 0, matched++;
    if (!matched) s = dmi_fail(DM_ERR_NOT_FOUND, "dm_model_set_trainable: no tensor's name starts with '%s' (e.g. "
                               "'bert.embeddings.', 'bert.encoder.layer.0.', 'classifier.')", prefix);
    if (!s) s = check_qkv_together(m);
    if (s) memcpy(m->trainable, old, m->n_tensors * sizeof *old);
    else if (memcmp(old, m->trainable, m->n_tensors * sizeof *old) != 0) dmi_model_free_grads(m);
    free(old);
    dmi_model_leave(m);
    return s;
}

DM_API int dm_model_is_trainable(const dm_model *m, const char *name)
{
    if (!m || !name) return -1;
    long i = dmi_model_tensor_index(m, name);
    if (i < 0) return -1;
    pthread_mutex_lock(&((dm_model *)m)->lock); /* dm_model_set_trainable may run on another thread */
    int r = m->trainable[i];
    pthread_mutex_unlock(&((dm_model *)m)->lock);
    return r;
}

DM_API size_t dm_model_num_tensors(const dm_model *m) { return m ? m->n_tensors : 0; }

DM_API dm_status dm_model_tensor_info(const dm_model *m, size_t i, dm_tensor_info *info)
{
    if (!m || !info) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_tensor_info: NULL model or info");
    if (info->struct_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tensor_info: set struct_size to sizeof(dm_tensor_info)");
    if (i >= m->n_tensors)
        return dmi_fail(DM_ERR_RANGE, "dm_model_tensor_info: tensor %zu of %zu", i, m->n_tensors);
    const dmi_bert_tensor *t = &m->tensors[i];
    dm_tensor_info full = {.struct_size = sizeof full, .name = t->name, .ndim = t->ndim, .numel = t->numel};
    full.shape[0] = t->shape[0];
    full.shape[1] = t->ndim > 1 ? t->shape[1] : 0;
    pthread_mutex_lock(&((dm_model *)m)->lock);
    full.trainable = m->trainable[i];
    pthread_mutex_unlock(&((dm_model *)m)->lock);
    size_t n = info->struct_size < sizeof full ? info->struct_size : sizeof full;
    memcpy(info, &full, n);
    info->struct_size = n;
    return DM_OK;
}

DM_API dm_status dm_model_zero_grad(dm_model *m)
{
    if (!m) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_zero_grad: NULL model");
    dm_status s = dmi_model_enter(m, "dm_model_zero_grad");
    if (s) return s;
    if (m->grads) s = m->be->ops->zero(m->be, m->grads, m->n_grads * sizeof(float));
    dmi_model_leave(m);
    return s;
}

DM_API dm_status dm_model_get_grad(dm_model *m, const char *name, float *out, size_t n)
{
    if (!m || !name || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_get_grad: NULL argument");
    long i = dmi_model_tensor_index(m, name);
    if (i < 0) return dmi_fail(DM_ERR_NOT_FOUND, "dm_model_get_grad: the model has no tensor '%s'", name);
    if (n != m->tensors[i].numel)
        return dmi_fail(DM_ERR_RANGE, "dm_model_get_grad: '%s' has %zu values, the buffer %zu", name,
                        m->tensors[i].numel, n);
    dm_status s = dmi_model_enter(m, "dm_model_get_grad");
    if (s) return s;
    if (!m->trainable[i]) s = dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_model_get_grad: '%s' is frozen (no gradient)", name);
    if (!s) s = dmi_model_grads(m);
    if (!s) s = m->be->ops->download(m->be, out, m->grads + m->grad_offset[i], n * sizeof *out);
    dmi_model_leave(m);
    return s;
}

/* ------------------------------------------------------------------ forward and backward */

DM_API void dm_backward_options_default(dm_backward_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->grad_scale = 1.0;
    o->dropout = -1.0;
    o->seed = 42;
}

dmi_bert_dropout dmi_model_dropout(const dm_model *m, double rate, uint64_t seed, uint64_t stream)
{
    const dmi_bert_config *c = &m->cfg;
    dmi_bert_dropout d;
    if (rate >= 0.0) {
        d.hidden = d.attention = d.classifier = (float)rate;
    } else {
        d.hidden = (float)c->hidden_dropout;
        d.attention = (float)c->attention_dropout;
        d.classifier = (float)(c->classifier_dropout >= 0.0 ? c->classifier_dropout : c->hidden_dropout);
    }
    d.seed = seed;
    d.step = stream;
    d.rank = 0;
    return d;
}

/* The batch into the training activations' host image: checked as
 * dm_model_forward checks its inputs. */
static dm_status fill_public_batch(dm_model *m, const dm_batch *b)
{
    size_t B = b->batch, T = b->seq_len, L = m->dims.L;
    dmi_bert_inputs in = dmi_bert_inputs_host(&m->train);
    for (size_t i = 0; i < B * T; i++) {
        int32_t id = b->ids[i], type = b->type_ids ? b->type_ids[i] : 0;
        if (id < 0 || (size_t)id >= m->dims.V)
            return dmi_fail(DM_ERR_RANGE, "ids[%zu] = %d is not a token id (vocab_size %zu)", i, id, m->dims.V);
        if (type < 0 || (size_t)type >= m->dims.TV)
            return dmi_fail(DM_ERR_RANGE, "type_ids[%zu] = %d is out of range (type_vocab_size %zu)", i, type, m->dims.TV);
        in.ids[i] = id, in.types[i] = type;
        in.key_mask[i] = b->attention_mask ? (b->attention_mask[i] != 0) : 1.0f;
    }
    for (size_t r = 0; r < B; r++) {
        bool any = false;
        for (size_t t = 0; t < T; t++) any |= in.key_mask[r * T + t] != 0.0f;
        if (!any) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "attention_mask of sequence %zu is all zeros", r);
        int32_t y = b->labels[r];
        if (y < -1 || y >= (int32_t)L)
            return dmi_fail(DM_ERR_RANGE, "labels[%zu] = %d is not a label id (the model has %zu; -1: no loss)", r, y, L);
        float w = b->weights ? b->weights[r] : 1.0f;
        if (!(w >= 0.0f) || !isfinite(w))
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "weights[%zu] = %g must be finite and >= 0", r, (double)w);
        in.labels[r] = y, in.weights[r] = w;
    }
    return dmi_bert_inputs_upload(m->be, &m->train);
}

dm_status dmi_model_stage_batch(dm_model *m, const dm_batch *b)
{
    dm_status s = dmi_model_grads(m);
    if (!s) s = dmi_model_train_acts(m, b->batch, b->seq_len);
    if (!s) s = dmi_model_train_precision(m, DM_PRECISION_FP32); /* dm_train's may have been mixed */
    if (!s && !m->fb_stats && !(m->fb_stats = m->be->ops->alloc(m->be, sizeof(double)))) s = DM_ERR_NO_MEMORY;
    if (!s) s = fill_public_batch(m, b);
    if (!s) s = dmb_set_threads(m->be, m->threads);
    if (!s) m->params16_stale = true; /* the caller updates the weights after this */
    return s;
}

dm_status dmi_model_read_loss(dm_model *m, double *sum)
{
    dm_status s = m->be->ops->download(m->be, sum, m->fb_stats, sizeof *sum);
    if (!s && !isfinite(*sum))
        s = dmi_fail(DM_ERR_NUMERIC, "the batch's loss is %s: no gradient was added", isnan(*sum) ? "NaN" : "infinite");
    return s;
}

static dm_status forward_backward(dm_model *m, const dm_batch *b, const dm_backward_options *o, double *loss_sum,
                                  float *logits)
{
    size_t B = b->batch, T = b->seq_len;
    dm_status s = dmi_model_stage_batch(m, b);
    if (s) return s;
    dmi_bert_acts *a = &m->train;
    dmi_bert_dropout d = dmi_model_dropout(m, o->dropout, o->seed, o->stream);
    s = dmi_bert_forward(m->be, &m->dims, &m->net, a, B, T, &d, a->weights, (float)o->grad_scale);
    double sum = 0.0;
    if (!s) s = m->be->ops->reduce(m->be, m->fb_stats, a->losses, B, DMB_SUM, 0);
    if (!s) s = dmi_model_read_loss(m, &sum);
    if (!s && logits) s = m->be->ops->download(m->be, logits, a->logits, B * m->dims.L * sizeof(float));
    if (!s) s = dmi_bert_backward(m->be, &m->dims, &m->net, a, B, T, &d);
    if (!s && loss_sum) *loss_sum = sum;
    return s;
}

dm_status dmi_model_check_batch(const dm_model *m, const dm_batch *batch, const dm_backward_options *opts,
                                dm_batch *b, dm_backward_options *o, const char *fn)
{
    if (!m || !batch || !batch->ids || !batch->labels)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL model, batch, ids or labels", fn);
    if (batch->struct_size < sizeof(size_t) || batch->struct_size > sizeof *batch)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_batch: set struct_size to sizeof(dm_batch)");
    memset(b, 0, sizeof *b);
    memcpy(b, batch, batch->struct_size);
    if (b->batch == 0 || b->seq_len == 0)
        return dmi_fail(DM_ERR_RANGE, "%s: empty batch (%zu x %zu)", fn, b->batch, b->seq_len);
    if (b->seq_len > m->dims.P)
        return dmi_fail(DM_ERR_RANGE, "sequence length %zu exceeds max_position_embeddings %zu", b->seq_len, m->dims.P);
    dm_backward_options_default(o);
    if (opts && dmi_copy_options(o, sizeof *o, opts, "dm_backward_options")) return DM_ERR_INVALID_ARGUMENT;
    if (!isfinite(o->grad_scale)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "grad_scale must be finite");
    if (o->stream >> 32)
        return dmi_fail(DM_ERR_RANGE, "stream must be below 2^32 (got %llu): larger ones would name the same "
                        "dropout masks as others", (unsigned long long)o->stream);
    if (!(o->dropout < 1.0) || (o->dropout < 0.0 && o->dropout != -1.0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dropout must be in [0, 1), or -1 for config.json's (got %g)", o->dropout);
    return DM_OK;
}

DM_API dm_status dm_model_forward_backward(dm_model *m, const dm_batch *batch, const dm_backward_options *opts,
                                           double *loss_sum, float *logits)
{
    dm_batch b;
    dm_backward_options o;
    dm_status s = dmi_model_check_batch(m, batch, opts, &b, &o, "dm_model_forward_backward");
    if (!s) s = dmi_model_enter(m, "dm_model_forward_backward");
    if (s) return s;
    s = forward_backward(m, &b, &o, loss_sum, logits);
    dmi_model_leave(m);
    return s;
}
