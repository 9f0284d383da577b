/*
 * bert.c — BERT for sequence classification: the parameter layout, and the
 * forward and backward passes on the backend vtable.
 *
 * The computation is Hugging Face's BertForSequenceClassification (eager
 * attention, post-LayerNorm blocks, erf GELU, tanh pooler on the first token,
 * dropout before the classifier), written as llm.c writes GPT-2: every pass a
 * fixed sequence of backend calls on preallocated buffers, nothing allocated
 * per step.
 */
#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ layout */

dmi_bert_dims dmi_bert_dims_from_config(const dmi_bert_config *cfg, size_t num_labels)
{
    dmi_bert_dims d;
    d.V = cfg->vocab_size;
    d.P = cfg->max_position;
    d.TV = cfg->type_vocab_size;
    d.C = cfg->hidden_size;
    d.H = cfg->num_heads;
    d.D = cfg->hidden_size / cfg->num_heads;
    d.I = cfg->intermediate_size;
    d.L = num_labels;
    d.layers = cfg->num_layers;
    d.eps = (float)cfg->layer_norm_eps;
    return d;
}

typedef struct table_builder {
    dmi_bert_tensor *t;
    size_t n, cap, offset;
} table_builder;

static dm_status table_add(table_builder *tb, const char *name, size_t rows, size_t cols, bool decay,
                           int group)
{
    if (tb->n == tb->cap) {
        size_t cap = tb->cap ? tb->cap * 2 : 64;
        dmi_bert_tensor *t = dmi_realloc(tb->t, cap * sizeof *t);
        if (!t) return DM_ERR_NO_MEMORY;
        tb->t = t;
        tb->cap = cap;
    }
    size_t len = strlen(name);
    if (len >= sizeof tb->t->name) return dmi_fail(DM_ERR_INTERNAL, "tensor name too long: %s", name);
    dmi_bert_tensor *t = &tb->t[tb->n++];
    memcpy(t->name, name, len + 1);
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->numel = rows * (cols ? cols : 1);
    t->offset = tb->offset;
    t->decay = decay;
    t->group = group;
    tb->offset += t->numel;
    return DM_OK;
}

/* A LayerNorm's weight and bias (neither decays, as in HF's Trainer). */
static dm_status table_add_ln(table_builder *tb, const char *prefix, size_t C)
{
    char name[192];
    snprintf(name, sizeof name, "%s.LayerNorm.weight", prefix);
    dm_status st = table_add(tb, name, C, 0, false, 0);
    snprintf(name, sizeof name, "%s.LayerNorm.bias", prefix);
    return st ? st : table_add(tb, name, C, 0, false, 0);
}

/* A dense layer's weight [out, in] and bias [out]. */
static dm_status table_add_dense(table_builder *tb, const char *prefix, size_t out, size_t in, int group)
{
    char name[192];
    snprintf(name, sizeof name, "%s.weight", prefix);
    dm_status st = table_add(tb, name, out, in, true, group);
    snprintf(name, sizeof name, "%s.bias", prefix);
    return st ? st : table_add(tb, name, out, 0, false, group);
}

dm_status dmi_bert_tensor_table(const dmi_bert_dims *d, dmi_bert_tensor **out, size_t *n, size_t *total)
{
    table_builder tb = {0};
    dm_status st = table_add(&tb, "bert.embeddings.word_embeddings.weight", d->V, d->C, true, 0);
    if (!st) st = table_add(&tb, "bert.embeddings.position_embeddings.weight", d->P, d->C, true, 0);
    if (!st) st = table_add(&tb, "bert.embeddings.token_type_embeddings.weight", d->TV, d->C, true, 0);
    if (!st) st = table_add_ln(&tb, "bert.embeddings", d->C);
    for (size_t l = 0; l < d->layers && !st; l++) {
        char p[64], q[128];
        snprintf(p, sizeof p, "bert.encoder.layer.%zu", l);
        /* Weights of q, k, v first, then their biases: each triple is one
         * contiguous [3C, C] matrix and one [3C] vector. */
        static const char *const qkv[3] = {"query", "key", "value"};
        for (int i = 0; i < 3 && !st; i++) {
            snprintf(q, sizeof q, "%s.attention.self.%s.weight", p, qkv[i]);
            st = table_add(&tb, q, d->C, d->C, true, 0);
        }
        for (int i = 0; i < 3 && !st; i++) {
            snprintf(q, sizeof q, "%s.attention.self.%s.bias", p, qkv[i]);
            st = table_add(&tb, q, d->C, 0, false, 0);
        }
        snprintf(q, sizeof q, "%s.attention.output.dense", p);
        if (!st) st = table_add_dense(&tb, q, d->C, d->C, 0);
        snprintf(q, sizeof q, "%s.attention.output", p);
        if (!st) st = table_add_ln(&tb, q, d->C);
        snprintf(q, sizeof q, "%s.intermediate.dense", p);
        if (!st) st = table_add_dense(&tb, q, d->I, d->C, 0);
        snprintf(q, sizeof q, "%s.output.dense", p);
        if (!st) st = table_add_dense(&tb, q, d->C, d->I, 0);
        snprintf(q, sizeof q, "%s.output", p);
        if (!st) st = table_add_ln(&tb, q, d->C);
    }
    if (!st) st = table_add_dense(&tb, "bert.pooler.dense", d->C, d->C, 1);
    if (!st) st = table_add_dense(&tb, "classifier", d->L, d->C, 2);
    if (st) {
        free(tb.t);
        return st;
    }
    *out = tb.t;
    *n = tb.n;
    *total = tb.offset;
    return DM_OK;
}

static dmi_linear linear_at(float *const *params, float *const *grads, size_t i, size_t n_in, size_t n_out)
{
    dmi_linear l = {.n_in = n_in, .n_out = n_out, .w = params[i], .b = params[i + 1]};
    if (grads) l.dw = grads[i], l.db = grads[i + 1];
    return l;
}

static dmi_norm norm_at(float *const *params, float *const *grads, size_t i)
{
    dmi_norm n = {.w = params[i], .b = params[i + 1]};
    if (grads) n.dw = grads[i], n.db = grads[i + 1];
    return n;
}

/* The table's order (dmi_bert_tensor_table): word, position and type
 * embeddings, their LayerNorm; per layer query, key, value weights, their
 * biases, attention output dense, LayerNorm, intermediate and output dense,
 * LayerNorm; pooler; classifier. */
dm_status dmi_bert_map(dmi_bert *net, const dmi_bert_dims *d, float *const *params, float *const *grads, size_t n)
{
    size_t want = 5 + 16 * d->layers + 4, C = d->C, I = d->I;
    if (n != want) return dmi_fail(DM_ERR_INTERNAL, "%zu tensors, the table has %zu", n, want);
    memset(net, 0, sizeof *net);
    net->layers = dmi_calloc(d->layers ? d->layers : 1, sizeof *net->layers);
    if (!net->layers) return DM_ERR_NO_MEMORY;
    net->wte = params[0], net->wpe = params[1], net->wtt = params[2];
    if (grads) net->dwte = grads[0], net->dwpe = grads[1], net->dwtt = grads[2];
    net->emb_ln = norm_at(params, grads, 3);
    size_t i = 5;
    for (size_t l = 0; l < d->layers; l++, i += 16) {
        dmi_bert_layer *L = &net->layers[l];
        /* query, key, value weights (i .. i+2), then their biases (i+3 .. i+5) */
        L->qkv = (dmi_linear){.n_in = C, .n_out = 3 * C, .w = params[i], .b = params[i + 3]};
        if (grads) L->qkv.dw = grads[i], L->qkv.db = grads[i + 3];
        L->attn_out = linear_at(params, grads, i + 6, C, C);
        L->ln1 = norm_at(params, grads, i + 8);
        L->ffn_in = linear_at(params, grads, i + 10, C, I);
        L->ffn_out = linear_at(params, grads, i + 12, I, C);
        L->ln2 = norm_at(params, grads, i + 14);
    }
    net->pooler = linear_at(params, grads, i, C, C);
    net->classifier = linear_at(params, grads, i + 2, C, d->L);
    return DM_OK;
}

dm_status dmi_bert_map_buffers(dmi_bert *net, const dmi_bert_dims *d, float *params, float *grads)
{
    dmi_bert_tensor *t;
    size_t n, total;
    dm_status s = dmi_bert_tensor_table(d, &t, &n, &total);
    if (s) return s;
    float **pp = dmi_malloc(n * sizeof *pp), **gp = grads ? dmi_malloc(n * sizeof *gp) : NULL;
    if (!pp || (grads && !gp)) s = DM_ERR_NO_MEMORY;
    for (size_t i = 0; !s && i < n; i++) {
        pp[i] = params + t[i].offset;
        if (gp) gp[i] = grads + t[i].offset;
    }
    if (!s) s = dmi_bert_map(net, d, pp, gp, n);
    free(pp), free(gp), free(t);
    return s;
}

void dmi_bert_unmap(dmi_bert *net)
{
    free(net->layers);
    net->layers = NULL;
}

void dmi_bert_drop_grads(dmi_bert *net, const dmi_bert_dims *d)
{
    net->dwte = net->dwpe = net->dwtt = NULL;
    net->emb_ln.dw = net->emb_ln.db = NULL;
    for (size_t l = 0; l < d->layers; l++) {
        dmi_bert_layer *L = &net->layers[l];
        dmi_linear *lin[] = {&L->qkv, &L->attn_out, &L->ffn_in, &L->ffn_out};
        for (size_t k = 0; k < 4; k++) lin[k]->dw = lin[k]->db = NULL;
        L->ln1.dw = L->ln1.db = L->ln2.dw = L->ln2.db = NULL;
    }
    net->pooler.dw = net->pooler.db = net->classifier.dw = net->classifier.db = NULL;
}

static void set_twin(dmi_linear *l, const float *params, const uint16_t *params16)
{
    l->w16 = params16 ? params16 + (l->w - params) : NULL;
}

void dmi_bert_set_bf16(dmi_bert *net, const dmi_bert_dims *d, const float *params, const uint16_t *params16)
{
    for (size_t l = 0; l < d->layers; l++) {
        dmi_bert_layer *L = &net->layers[l];
        set_twin(&L->qkv, params, params16), set_twin(&L->attn_out, params, params16);
        set_twin(&L->ffn_in, params, params16), set_twin(&L->ffn_out, params, params16);
    }
    /* the head stays float32: its products are tiny */
}

/* ------------------------------------------------------------------ activations */

typedef struct carver {
    float *at;
    size_t used;
    bool counting;
} carver;

static float *carve(carver *c, size_t n)
{
    n = (n + 15) / 16 * 16; /* every array 64-byte aligned */
    float *p = c->counting ? NULL : c->at + c->used;
    c->used += n;
    return p;
}

/* Floats holding BYTES. */
static size_t floats_for(size_t bytes) { return (bytes + sizeof(float) - 1) / sizeof(float); }

static void acts_layout(carver *c, dmb_backend *be, const dmi_bert_dims *d, size_t B, size_t T, bool training,
                        dmi_bert_acts *a)
{
    size_t BT = B * T, C = d->C, I = d->I;
    size_t wide = 3 * C > I ? 3 * C : I;
    /* What attention keeps and needs may depend on the precision (the CUDA
     * backward pass recomputes a bfloat16 forward's output in float32 into
     * its scratch): sized for both, so one layout serves either. */
    dmb_attention shape = {.B = B, .T = T, .H = d->H, .D = d->D}, shape16 = shape;
    shape16.bf16 = 1;
    size_t state = floats_for(be->ops->attention_state_bytes(be, &shape));
    size_t scratch = floats_for(be->ops->attention_scratch_bytes(be, &shape));
    size_t state16 = floats_for(be->ops->attention_state_bytes(be, &shape16));
    size_t scratch16 = floats_for(be->ops->attention_scratch_bytes(be, &shape16));
    if (state16 > state) state = state16;
    if (scratch16 > scratch) scratch = scratch16;
    a->ids = (int32_t *)carve(c, BT);
    a->types = (int32_t *)carve(c, BT);
    a->labels = (int32_t *)carve(c, B);
    a->weights = carve(c, B);
    a->key_mask = carve(c, BT);
    a->emb_sum = carve(c, BT * C);
    a->emb_mean = carve(c, BT);
    a->emb_rstd = carve(c, BT);
    a->out = carve(c, BT * C);
    size_t n_layers = training ? d->layers : 1;
    for (size_t l = 0; l < n_layers; l++) {
        dmi_bert_layer_acts *la = &a->layers[l];
        la->x_in = carve(c, BT * C);
        la->qkv = carve(c, BT * 3 * C);
        la->att_state = carve(c, state);
        la->atty = carve(c, BT * C);
        la->ln1_in = carve(c, BT * C);
        la->ln1_mean = carve(c, BT);
        la->ln1_rstd = carve(c, BT);
        la->h = carve(c, BT * C);
        la->fc1 = carve(c, BT * I);
        la->gelu = carve(c, BT * I);
        la->ln2_in = carve(c, BT * C);
        la->ln2_mean = carve(c, BT);
        la->ln2_rstd = carve(c, BT);
    }
    a->cls = carve(c, B * C);
    a->pooled = carve(c, B * C);
    a->pooled_drop = carve(c, B * C);
    a->logits = carve(c, B * d->L);
    a->dlogits = carve(c, B * d->L);
    a->losses = carve(c, B);
    if (training) {
        a->d_res = carve(c, BT * C);
        a->d_res2 = carve(c, BT * C);
        a->d_a = carve(c, BT * C);
        a->d_b = carve(c, BT * C);
        a->d_wide = carve(c, BT * wide);
        a->d_wide2 = carve(c, BT * wide);
        a->d_att = carve(c, scratch);
        a->d_cls = carve(c, B * C);
        a->d_pool = carve(c, B * C);
    }
}

dm_status dmi_bert_acts_alloc(dmb_backend *be, const dmi_bert_dims *d, size_t max_B, size_t max_T,
                          bool training, dmi_bert_acts *a)
{
    memset(a, 0, sizeof *a);
    a->layers = dmi_calloc(training ? d->layers : 1, sizeof *a->layers);
    if (!a->layers) return DM_ERR_NO_MEMORY;
    carver count = {.counting = true};
    acts_layout(&count, be, d, max_B, max_T, training, a);
    a->block = be->ops->alloc(be, count.used * sizeof(float));
    if (!a->block) {
        free(a->layers);
        a->layers = NULL;
        return dmi_fail_prefix(DM_ERR_NO_MEMORY, "activations for a batch of %zu x %zu tokens", max_B,
                               max_T);
    }
    carver real = {.at = a->block};
    acts_layout(&real, be, d, max_B, max_T, training, a);
    a->max_B = max_B;
    a->max_T = max_T;
    a->training = training;
    a->in_bytes = (size_t)((char *)(a->key_mask + max_B * max_T) - (char *)a->ids);
    a->host_in = dmi_calloc(1, a->in_bytes);
    if (!a->host_in) {
        dmi_bert_acts_free(be, a);
        return DM_ERR_NO_MEMORY;
    }
    return DM_OK;
}

void dmi_bert_acts_free(dmb_backend *be, dmi_bert_acts *a)
{
    if (a->block) be->ops->free(be, a->block);
    free(a->layers);
    free(a->host_in);
    memset(a, 0, sizeof *a);
}

dmi_bert_inputs dmi_bert_inputs_host(const dmi_bert_acts *a)
{
    char *base = a->host_in, *dev = (char *)a->ids;
    dmi_bert_inputs in = {
        .ids = (int32_t *)base,
        .types = (int32_t *)(base + ((char *)a->types - dev)),
        .labels = (int32_t *)(base + ((char *)a->labels - dev)),
        .weights = (float *)(base + ((char *)a->weights - dev)),
        .key_mask = (float *)(base + ((char *)a->key_mask - dev)),
    };
    return in;
}

dm_status dmi_bert_inputs_upload(dmb_backend *be, const dmi_bert_acts *a)
{
    return be->ops->upload(be, a->ids, a->host_in, a->in_bytes);
}

/* ------------------------------------------------------------------ helpers */

/* out[rows, n_out] = inp[rows, n_in] W^T + b, then ACT. In bfloat16
 * inference (LOWP, and the site has its twin) the product takes the
 * bfloat16 copies of inp and W. */
static dm_status linear_fwd(dmb_backend *be, const dmi_linear *l, const dmi_bert_lowp *lowp, float *out,
                            const float *inp, size_t rows, dmb_act act)
{
    dmb_gemm g = {.trans_b = 1, .m = rows, .n = l->n_out, .k = l->n_in, .a = inp, .lda = l->n_in, .b = l->w,
                  .ldb = l->n_in, .c = out, .ldc = l->n_out, .batch = 1, .alpha = 1.0f, .bias = l->b, .act = act};
    if (lowp && l->w16) {
        dm_status st = be->ops->to_bf16(be, lowp->scratch, inp, rows * l->n_in);
        if (st) return st;
        g.a = lowp->scratch;
        g.b = l->w16;
        g.bf16 = 1;
    }
    return be->ops->gemm(be, &g);
}

/* The site's parameter gradients from its output gradient: dW += dout^T
 * inp (DOUT_X and INP_X: float32, or with BF16 their bfloat16 copies), db
 * += column sums of DOUT (float32); each skipped when frozen. */
static dm_status linear_wgrad(dmb_backend *be, const dmi_linear *l, const float *dout, const void *dout_x,
                              const void *inp_x, size_t rows, int bf16)
{
    dm_status st = DM_OK;
    if (l->dw) {
        dmb_gemm gw = {.trans_a = 1, .m = l->n_out, .n = l->n_in, .k = rows, .a = dout_x, .lda = l->n_out,
                       .b = inp_x, .ldb = l->n_in, .c = l->dw, .ldc = l->n_in, .batch = 1, .alpha = 1.0f,
                       .beta = 1.0f, .bf16 = bf16};
        st = be->ops->gemm(be, &gw);
    }
    if (!st && l->db) st = be->ops->bias_bwd(be, l->db, dout, rows, l->n_out);
    return st;
}

/* dW += dout^T inp; db += column sums of dout (each skipped when the site
 * is frozen: no weight-gradient product; with SQ, DP-SGD's norm pass, each
 * example's squared gradient norm is added to SQ instead, an example being T
 * rows); dinp = dout W (+= when
 * ACCUMULATE; skipped when dinp is NULL). In mixed-precision training
 * (LOWP with scratch2, and the site has its twin) both products take
 * bfloat16 copies of their inputs (dout, inp, W) and accumulate in float32;
 * the bias gradient stays a float32 column sum. */
static dm_status linear_bwd(dmb_backend *be, const dmi_linear *l, const dmi_bert_lowp *lowp, float *sq, size_t T,
                            float *dinp, const float *dout, const float *inp, size_t rows, bool accumulate)
{
    dm_status st = DM_OK;
    if (sq) { /* DP-SGD's norm pass: each example's squared norm instead of the weight gradients */
        if (l->dw || l->db)
            st = be->ops->example_sqnorm_linear(be, sq, dout, inp, rows / T, T, l->n_in, l->n_out, l->dw != NULL,
                                                l->db != NULL);
        if (st || !dinp) return st;
        dmb_gemm gx = {.m = rows, .n = l->n_in, .k = l->n_out, .a = dout, .lda = l->n_out, .b = l->w,
                       .ldb = l->n_in, .c = dinp, .ldc = l->n_in, .batch = 1, .alpha = 1.0f,
                       .beta = accumulate ? 1.0f : 0.0f};
        return be->ops->gemm(be, &gx);
    }
    bool low = lowp && lowp->scratch2 && l->w16;
    const void *dout_x = dout, *inp_x = inp, *w_x = l->w;
    if (low) {
        st = be->ops->to_bf16(be, lowp->scratch2, dout, rows * l->n_out);
        if (!st && l->dw) st = be->ops->to_bf16(be, lowp->scratch, inp, rows * l->n_in);
        if (st) return st;
        dout_x = lowp->scratch2, inp_x = lowp->scratch, w_x = l->w16;
    }
    st = linear_wgrad(be, l, dout, dout_x, inp_x, rows, low);
    if (st || !dinp) return st;
    dmb_gemm gx = {.m = rows, .n = l->n_in, .k = l->n_out, .a = dout_x, .lda = l->n_out, .b = w_x, .ldb = l->n_in,
                   .c = dinp, .ldc = l->n_in, .batch = 1, .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f,
                   .bf16 = low};
    return be->ops->gemm(be, &gx);
}

enum { SITE_EMBED, SITE_ATTENTION, SITE_ATTN_OUT, SITE_FFN_OUT, SITE_CLASSIFIER };

/* The dropout of one site in one layer for one step: each gets its own
 * Philox stream, so forward and backward draw the same mask. */
static dmb_dropout dropout_at(const dmi_bert_dropout *d, int site, size_t layer)
{
    dmb_dropout r = {0};
    if (!d) return r;
    switch (site) {
    case SITE_ATTENTION: r.p = d->attention; break;
    case SITE_CLASSIFIER: r.p = d->classifier; break;
    default: r.p = d->hidden; break;
    }
    r.seed = d->seed;
    /* rank | micro-batch | layer | site in bits 52-63 | 20-51 | 4-19 | 0-3:
     * rank 0 names the streams it always did */
    r.stream = ((uint64_t)d->rank << 52) | (d->step << 20) | ((uint64_t)layer << 4) | (uint64_t)site;
    return r;
}

/* ------------------------------------------------------------------ forward */

static dm_status layer_forward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert_layer *w,
                               dmi_bert_layer_acts *la, const float *x, float *y, const dmi_bert_acts *a, size_t B,
                               size_t T, size_t l, const dmi_bert_dropout *dropout)
{
    const struct dmb_ops *o = be->ops;
    size_t BT = B * T, C = d->C, I = d->I;
    dm_status st = linear_fwd(be, &w->qkv, a->lowp, la->qkv, x, BT, DMB_ACT_NONE);
    if (st) return st;
    dmb_attention att = {.B = B, .T = T, .H = d->H, .D = d->D, .key_mask = a->key_mask,
                         .dropout = dropout_at(dropout, SITE_ATTENTION, l), .bf16 = a->lowp != NULL};
    if ((st = o->attention_fwd(be, la->atty, la->att_state, la->qkv, &att))) return st;
    /* ln1_in = x + dropout(atty W_o^T + b_o) */
    if ((st = linear_fwd(be, &w->attn_out, a->lowp, la->ln1_in, la->atty, BT, DMB_ACT_NONE))) return st;
    dmb_dropout dr = dropout_at(dropout, SITE_ATTN_OUT, l);
    if ((st = o->dropout_fwd(be, la->ln1_in, la->ln1_in, BT * C, &dr))) return st;
    if ((st = o->add(be, la->ln1_in, la->ln1_in, x, BT * C))) return st;
    st = o->layernorm_fwd(be, la->h, la->ln1_mean, la->ln1_rstd, la->ln1_in, w->ln1.w, w->ln1.b, BT, C, d->eps);
    if (st) return st;
    if (a->training) {
        /* The pre-activation is kept for GELU's backward pass. */
        if ((st = linear_fwd(be, &w->ffn_in, a->lowp, la->fc1, la->h, BT, DMB_ACT_NONE))) return st;
        if ((st = o->gelu_fwd(be, la->gelu, la->fc1, BT * I))) return st;
    } else {
        if ((st = linear_fwd(be, &w->ffn_in, a->lowp, la->gelu, la->h, BT, DMB_ACT_GELU))) return st;
    }
    /* ln2_in = h + dropout(gelu W_2^T + b_2) */
    if ((st = linear_fwd(be, &w->ffn_out, a->lowp, la->ln2_in, la->gelu, BT, DMB_ACT_NONE))) return st;
    dr = dropout_at(dropout, SITE_FFN_OUT, l);
    if ((st = o->dropout_fwd(be, la->ln2_in, la->ln2_in, BT * C, &dr))) return st;
    if ((st = o->add(be, la->ln2_in, la->ln2_in, la->h, BT * C))) return st;
    return o->layernorm_fwd(be, y, la->ln2_mean, la->ln2_rstd, la->ln2_in, w->ln2.w, w->ln2.b, BT, C, d->eps);
}

static dm_status head_forward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a,
                              size_t B, size_t T, const dmi_bert_dropout *dropout)
{
    const struct dmb_ops *o = be->ops;
    size_t C = d->C;
    dm_status st = o->pool_fwd(be, a->cls, a->out, a->key_mask, B, T, C, DMB_POOL_FIRST);
    if (!st) st = linear_fwd(be, &net->pooler, NULL, a->pooled, a->cls, B, DMB_ACT_NONE);
    if (!st) st = o->tanh_fwd(be, a->pooled, a->pooled, B * C);
    dmb_dropout dr = dropout_at(dropout, SITE_CLASSIFIER, 0);
    if (!st) st = o->dropout_fwd(be, a->pooled_drop, a->pooled, B * C, &dr);
    if (st) return st;
    return linear_fwd(be, &net->classifier, NULL, a->logits, a->pooled_drop, B, DMB_ACT_NONE);
}

dm_status dmi_bert_forward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a, size_t B,
                           size_t T, const dmi_bert_dropout *dropout, const float *weights, float grad_scale)
{
    if (B > a->max_B || T > a->max_T || T > d->P)
        return dmi_fail(DM_ERR_INTERNAL, "batch %zu x %zu exceeds the buffers (%zu x %zu, %zu positions)",
                        B, T, a->max_B, a->max_T, d->P);
    const struct dmb_ops *o = be->ops;
    size_t BT = B * T, C = d->C;
    float *x = a->layers[0].x_in;
    dm_status st = o->embed_fwd(be, a->emb_sum, a->ids, a->types, net->wte, net->wpe, net->wtt, B, T, C);
    if (!st)
        st = o->layernorm_fwd(be, x, a->emb_mean, a->emb_rstd, a->emb_sum, net->emb_ln.w, net->emb_ln.b, BT, C, d->eps);
    dmb_dropout dr = dropout_at(dropout, SITE_EMBED, 0);
    if (!st) st = o->dropout_fwd(be, x, x, BT * C, &dr);
    if (st) return st;
    for (size_t l = 0; l < d->layers; l++) {
        dmi_bert_layer_acts *la = &a->layers[a->training ? l : 0];
        float *y;
        if (l + 1 == d->layers) y = a->out;
        else if (a->training) y = a->layers[l + 1].x_in;
        else y = la->x_in == x ? a->out : la->x_in; /* ping-pong between two buffers */
        st = layer_forward(be, d, &net->layers[l], la, x, y, a, B, T, l, dropout);
        if (st) return st;
        x = y;
    }
    if ((st = head_forward(be, d, net, a, B, T, dropout))) return st;
    if (grad_scale != 0.0f || weights)
        st = o->xent_fwd_bwd(be, a->losses, grad_scale != 0.0f ? a->dlogits : NULL, a->logits, a->labels, weights, B,
                             d->L, grad_scale);
    return st;
}

/* ------------------------------------------------------------------ backward */

/* A LayerNorm's backward pass: its weight and bias gradients (when trained)
 * or, in DP-SGD's norm pass, each example's squared norm of them. */
static dm_status norm_bwd(dmb_backend *be, const dmi_bert_acts *a, const dmi_norm *n, float *dinp, const float *dout,
                          const float *inp, const float *mean, const float *rstd, size_t B, size_t T, size_t C)
{
    bool norms = a->example_sq != NULL;
    if (norms && (n->dw || n->db)) {
        dm_status st = be->ops->example_sqnorm_layernorm(be, a->example_sq, dout, inp, mean, rstd, B, T, C,
                                                         n->dw != NULL, n->db != NULL);
        if (st) return st;
    }
    return be->ops->layernorm_bwd(be, dinp, norms ? NULL : n->dw, norms ? NULL : n->db, dout, inp, n->w, mean, rstd,
                                  B * T, C);
}

/* Where one layer's backward pass leaves its output gradients: the shared
 * scratch, or (book-keeping) the layer's own buffers, which outlive the pass
 * for dmi_bert_bk_grads. D_IN, the gradient of the layer's input, is the
 * next layer down's output gradient. */
typedef struct layer_bufs {
    float *d_ln1;                    /* ln1's dout: the gradient of ln2's input */
    float *d_ffn_out, *d_ffn_in;     /* the FFN's two linear sites' douts */
    float *d_attn_out, *d_qkv;       /* the attention block's */
    float *d_in;                     /* ln1's dinp, then the input's gradient */
} layer_bufs;

static layer_bufs layer_bufs_for(const dmi_bert_acts *a, float *dx_out, size_t l, bool need_input)
{
    if (a->example_sq && a->bk) {
        const dmi_bert_bk *bk = a->bk;
        const dmi_bert_bk_layer *L = &bk->layers[l];
        float *below = !need_input ? a->d_res : l > bk->lowest ? bk->layers[l - 1].d_out : bk->d_emb_ln;
        return (layer_bufs){L->d_ln1, L->d_ffn_out, L->d_ffn_in, L->d_attn_out, L->d_qkv, below};
    }
    float *other = dx_out == a->d_res ? a->d_res2 : a->d_res; /* the other residual buffer */
    return (layer_bufs){other, a->d_a, a->d_wide2, a->d_a, a->d_wide, dx_out /* consumed: reused */};
}

/* dx_out: gradient of the layer's output. On return *dx_in points to the
 * gradient of the layer's input; DX_IN NULL: nothing below needs it. */
static dm_status layer_backward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert_layer *w,
                                const dmi_bert_layer_acts *la, dmi_bert_acts *a, float *dx_out, float **dx_in, size_t B,
                                size_t T, size_t l, const dmi_bert_dropout *dropout)
{
    const struct dmb_ops *o = be->ops;
    size_t BT = B * T, C = d->C, I = d->I;
    layer_bufs b = layer_bufs_for(a, dx_out, l, dx_in != NULL);
    dm_status st = norm_bwd(be, a, &w->ln2, b.d_ln1, dx_out, la->ln2_in, la->ln2_mean, la->ln2_rstd, B, T, C);
    if (st) return st;
    /* FFN: ln2_in = h + dropout(fc2(gelu(fc1(h)))) */
    dmb_dropout dr = dropout_at(dropout, SITE_FFN_OUT, l);
    if ((st = o->dropout_bwd(be, b.d_ffn_out, b.d_ln1, BT * C, &dr))) return st;
    if ((st = linear_bwd(be, &w->ffn_out, a->lowp, a->example_sq, T, a->d_wide, b.d_ffn_out, la->gelu, BT, false)))
        return st;
    if ((st = o->gelu_bwd(be, b.d_ffn_in, la->fc1, a->d_wide, BT * I))) return st;
    /* dh = d_fc1 W_1 + d_ln2_in (the residual), accumulated in place */
    if ((st = linear_bwd(be, &w->ffn_in, a->lowp, a->example_sq, T, b.d_ln1, b.d_ffn_in, la->h, BT, true))) return st;
    st = norm_bwd(be, a, &w->ln1, b.d_in, b.d_ln1, la->ln1_in, la->ln1_mean, la->ln1_rstd, B, T, C);
    if (st) return st;
    /* Attention block: ln1_in = x + dropout(dense(attention(qkv(x)))) */
    dr = dropout_at(dropout, SITE_ATTN_OUT, l);
    if ((st = o->dropout_bwd(be, b.d_attn_out, b.d_in, BT * C, &dr))) return st;
    if ((st = linear_bwd(be, &w->attn_out, a->lowp, a->example_sq, T, a->d_b, b.d_attn_out, la->atty, BT, false)))
        return st;
    /* as the forward pass: its scores saw bfloat16 q and k in mixed precision */
    dmb_attention att = {.B = B, .T = T, .H = d->H, .D = d->D, .key_mask = a->key_mask,
                         .dropout = dropout_at(dropout, SITE_ATTENTION, l), .bf16 = a->lowp != NULL};
    st = o->attention_bwd(be, b.d_qkv, a->d_att, a->d_b, la->qkv, la->atty, la->att_state, &att);
    if (!st) st = linear_bwd(be, &w->qkv, a->lowp, a->example_sq, T, dx_in ? b.d_in : NULL, b.d_qkv, la->x_in, BT, true);
    if (st) return st;
    if (dx_in) *dx_in = b.d_in;
    return DM_OK;
}

/* The head's backward pass; D_TOP gets the gradient of the encoder's output. */
static dm_status head_backward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a,
                               size_t B, size_t T, const dmi_bert_dropout *dropout, float *d_top)
{
    const struct dmb_ops *o = be->ops;
    size_t C = d->C;
    dm_status st = linear_bwd(be, &net->classifier, NULL, a->example_sq, 1, a->d_pool, a->dlogits, a->pooled_drop, B, false);
    if (st) return st;
    dmb_dropout dr = dropout_at(dropout, SITE_CLASSIFIER, 0);
    if ((st = o->dropout_bwd(be, a->d_pool, a->d_pool, B * C, &dr))) return st;
    if ((st = o->tanh_bwd(be, a->d_pool, a->pooled, a->d_pool, B * C))) return st;
    if ((st = linear_bwd(be, &net->pooler, NULL, a->example_sq, 1, a->d_cls, a->d_pool, a->cls, B, false))) return st;
    if ((st = o->zero(be, d_top, B * T * C * sizeof(float)))) return st;
    return o->pool_bwd(be, d_top, a->d_cls, a->key_mask, B, T, C, DMB_POOL_FIRST);
}

static bool linear_trainable(const dmi_linear *l) { return l->dw || l->db; }
static bool norm_trainable(const dmi_norm *n) { return n->dw || n->db; }

static bool layer_trainable(const dmi_bert_layer *L)
{
    return linear_trainable(&L->qkv) || linear_trainable(&L->attn_out) || norm_trainable(&L->ln1) ||
           linear_trainable(&L->ffn_in) || linear_trainable(&L->ffn_out) || norm_trainable(&L->ln2);
}

static bool embeddings_trainable(const dmi_bert *net)
{
    return net->dwte || net->dwpe || net->dwtt || norm_trainable(&net->emb_ln);
}

/* The lowest layer the backward pass reaches: below the lowest trainable
 * layer nothing needs a gradient (frozen bottom layers cost no backward work
 * at all); 0 when the embeddings train (*EMBEDDINGS), num_layers when only
 * the head does. */
static size_t lowest_trained(const dmi_bert_dims *d, const dmi_bert *net, bool *embeddings)
{
    *embeddings = embeddings_trainable(net);
    if (*embeddings) return 0;
    for (size_t l = 0; l < d->layers; l++)
        if (layer_trainable(&net->layers[l])) return l;
    return d->layers;
}

dm_status dmi_bert_backward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a, size_t B,
                            size_t T, const dmi_bert_dropout *dropout)
{
    if (!a->training) return dmi_fail(DM_ERR_INTERNAL, "backward pass without training activations");
    const struct dmb_ops *o = be->ops;
    size_t BT = B * T, C = d->C;
    bool embeddings;
    size_t lowest = lowest_trained(d, net, &embeddings);
    dmi_bert_bk *bk = a->example_sq ? a->bk : NULL;
    if (bk && !dmi_bert_bk_fits(bk, d, net, B, T))
        return dmi_fail(DM_ERR_INTERNAL, "book-keeping buffers do not fit a batch of %zu x %zu", B, T);
    float *dx = bk && lowest < d->layers ? bk->layers[d->layers - 1].d_out : a->d_res;
    dm_status st = head_backward(be, d, net, a, B, T, dropout, dx);
    if (st) return st;
    for (size_t l = d->layers; l-- > lowest;) {
        float *dx_in = NULL;
        bool need_input = embeddings || l > lowest;
        st = layer_backward(be, d, &net->layers[l], &a->layers[l], a, dx, need_input ? &dx_in : NULL, B, T, l, dropout);
        if (st) return st;
        dx = dx_in;
    }
    if (!embeddings) return DM_OK;
    /* Embeddings: x0 = dropout(LayerNorm(word + position + type)) */
    dmb_dropout dr = dropout_at(dropout, SITE_EMBED, 0);
    if ((st = o->dropout_bwd(be, dx, dx, BT * C, &dr))) return st;
    float *d_sum = bk ? bk->d_emb : dx == a->d_res ? a->d_res2 : a->d_res;
    st = norm_bwd(be, a, &net->emb_ln, d_sum, dx, a->emb_sum, a->emb_mean, a->emb_rstd, B, T, C);
    if (st) return st;
    if (a->example_sq)
        return o->example_sqnorm_embed(be, a->example_sq, d_sum, a->ids, a->types, B, T, C, net->dwte != NULL,
                                       net->dwpe != NULL, net->dwtt != NULL);
    return o->embed_bwd(be, net->dwte, net->dwpe, net->dwtt, d_sum, a->ids, a->types, B, T, C);
}

/* ------------------------------------------------------------------ DP-SGD book-keeping */

static void bk_layout(carver *c, const dmi_bert_dims *d, size_t B, size_t T, dmi_bert_bk *bk)
{
    size_t BT = B * T, C = d->C;
    for (size_t l = bk->lowest; l < d->layers; l++) {
        dmi_bert_bk_layer *L = &bk->layers[l];
        L->d_out = carve(c, BT * C);
        L->d_ln1 = carve(c, BT * C);
        L->d_ffn_out = carve(c, BT * C);
        L->d_attn_out = carve(c, BT * C);
        L->d_ffn_in = carve(c, BT * d->I);
        L->d_qkv = carve(c, BT * 3 * C);
    }
    if (bk->embeddings) {
        bk->d_emb_ln = carve(c, BT * C);
        bk->d_emb = carve(c, BT * C);
    }
    bk->scale = carve(c, B);
}

dm_status dmi_bert_bk_alloc(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, size_t max_B,
                            size_t max_T, dmi_bert_bk *bk)
{
    memset(bk, 0, sizeof *bk);
    bk->lowest = lowest_trained(d, net, &bk->embeddings);
    bk->layers = dmi_calloc(d->layers ? d->layers : 1, sizeof *bk->layers);
    if (!bk->layers) return DM_ERR_NO_MEMORY;
    carver count = {.counting = true};
    bk_layout(&count, d, max_B, max_T, bk);
    bk->block = be->ops->alloc(be, count.used * sizeof(float));
    if (!bk->block) {
        dmi_bert_bk_free(be, bk);
        return dmi_fail(DM_ERR_NO_MEMORY, "DP-SGD book-keeping: %zu MiB for a batch of %zu x %zu tokens",
                        count.used * sizeof(float) >> 20, max_B, max_T);
    }
    carver real = {.at = bk->block};
    bk_layout(&real, d, max_B, max_T, bk);
    bk->max_B = max_B;
    bk->max_T = max_T;
    return DM_OK;
}

bool dmi_bert_bk_fits(const dmi_bert_bk *bk, const dmi_bert_dims *d, const dmi_bert *net, size_t B, size_t T)
{
    bool embeddings;
    size_t lowest = lowest_trained(d, net, &embeddings);
    return bk->block && B <= bk->max_B && T <= bk->max_T && lowest == bk->lowest && embeddings == bk->embeddings;
}

void dmi_bert_bk_free(dmb_backend *be, dmi_bert_bk *bk)
{
    if (bk->block) be->ops->free(be, bk->block);
    free(bk->layers);
    memset(bk, 0, sizeof *bk);
}

/* A linear site's clipped gradients: its kept DOUT [B*T, n_out] scaled per
 * example in place, then dW += dout^T inp and db += its column sums. */
static dm_status linear_bk(dmb_backend *be, const dmi_linear *l, float *dout, const float *inp, const float *scale,
                           size_t B, size_t T)
{
    if (!linear_trainable(l)) return DM_OK;
    dm_status st = be->ops->scale_examples(be, dout, scale, B, T * l->n_out);
    return st ? st : linear_wgrad(be, l, dout, dout, inp, B * T, 0);
}

/* A LayerNorm's: the backward op adds dw and db (its dinp goes to SCRATCH). */
static dm_status norm_bk(dmb_backend *be, const dmi_norm *n, float *dout, const float *inp, const float *mean,
                         const float *rstd, const float *scale, size_t B, size_t T, size_t C, float *scratch)
{
    if (!norm_trainable(n)) return DM_OK;
    dm_status st = be->ops->scale_examples(be, dout, scale, B, T * C);
    return st ? st : be->ops->layernorm_bwd(be, scratch, n->dw, n->db, dout, inp, n->w, mean, rstd, B * T, C);
}

dm_status dmi_bert_bk_grads(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a, size_t B,
                            size_t T)
{
    dmi_bert_bk *bk = a->bk;
    if (!bk || !dmi_bert_bk_fits(bk, d, net, B, T))
        return dmi_fail(DM_ERR_INTERNAL, "book-keeping gradients without buffers for a batch of %zu x %zu", B, T);
    size_t C = d->C;
    const float *s = bk->scale;
    float *scratch = a->d_res; /* LayerNorms' dinp, not needed */
    dm_status st = linear_bk(be, &net->classifier, a->dlogits, a->pooled_drop, s, B, 1);
    if (!st) st = linear_bk(be, &net->pooler, a->d_pool, a->cls, s, B, 1);
    for (size_t l = bk->lowest; !st && l < d->layers; l++) {
        const dmi_bert_layer *w = &net->layers[l];
        const dmi_bert_layer_acts *la = &a->layers[l];
        const dmi_bert_bk_layer *L = &bk->layers[l];
        st = norm_bk(be, &w->ln2, L->d_out, la->ln2_in, la->ln2_mean, la->ln2_rstd, s, B, T, C, scratch);
        if (!st) st = linear_bk(be, &w->ffn_out, L->d_ffn_out, la->gelu, s, B, T);
        if (!st) st = linear_bk(be, &w->ffn_in, L->d_ffn_in, la->h, s, B, T);
        if (!st) st = norm_bk(be, &w->ln1, L->d_ln1, la->ln1_in, la->ln1_mean, la->ln1_rstd, s, B, T, C, scratch);
        if (!st) st = linear_bk(be, &w->attn_out, L->d_attn_out, la->atty, s, B, T);
        if (!st) st = linear_bk(be, &w->qkv, L->d_qkv, la->x_in, s, B, T);
    }
    if (st || !bk->embeddings) return st;
    st = norm_bk(be, &net->emb_ln, bk->d_emb_ln, a->emb_sum, a->emb_mean, a->emb_rstd, s, B, T, C, scratch);
    if (st || !(net->dwte || net->dwpe || net->dwtt)) return st;
    st = be->ops->scale_examples(be, bk->d_emb, s, B, T * C);
    return st ? st : be->ops->embed_bwd(be, net->dwte, net->dwpe, net->dwtt, bk->d_emb, a->ids, a->types, B, T, C);
}
