/*
 * bert.h — the BERT sequence classifier: parameters in one buffer (as llm.c),
 * forward and backward passes written once against the backend vtable.
 *
 * Layout of the parameter buffer (and, identically, of the gradient buffer and
 * the two AdamW moment buffers): the Hugging Face tensors one after the other,
 * in the order of dmi_bert_tensor_table(), with a layer's query, key and value
 * weights adjacent so that together they form one [3C, C] matrix (one GEMM
 * computes q, k and v) and their biases one [3C] vector.
 */
#ifndef DM_MODEL_BERT_H
#define DM_MODEL_BERT_H

#include "../backend/backend.h"
#include "config.h"

/* One linear site, y = x W^T + b (W is [n_out, n_in], as PyTorch lays it
 * out), with what training and inference need besides the weights: every
 * linear layer of the model is one of these, so that freezing, bfloat16
 * inference and adapters (LoRA, issue 15) act in one place. */
struct dmi_adapter;
typedef struct dmi_linear {
    size_t n_in, n_out;
    float *w, *b;                /* the parameters (backend memory) */
    float *dw, *db;              /* their gradients; NULL when frozen (no weight-gradient product) */
    const uint16_t *w16;         /* the bfloat16 twin of w for bfloat16 inference, or NULL */
    struct dmi_adapter *adapter; /* an adapter on this site, or NULL (none yet) */
} dmi_linear;

/* A LayerNorm's weight and bias, and their gradients (NULL when frozen). */
typedef struct dmi_norm {
    float *w, *b, *dw, *db;
} dmi_norm;

typedef struct dmi_bert_layer {
    dmi_linear qkv;           /* query | key | value: [3C, C], [3C] (one product) */
    dmi_linear attn_out;      /* attention output dense [C, C] */
    dmi_norm ln1;             /* attention output LayerNorm */
    dmi_linear ffn_in;        /* intermediate dense [I, C] */
    dmi_linear ffn_out;       /* output dense [C, I] */
    dmi_norm ln2;             /* output LayerNorm */
} dmi_bert_layer;

/* The model as layers: views into a parameter buffer and a gradient buffer. */
typedef struct dmi_bert {
    float *wte, *wpe, *wtt;      /* word [V, C], position [P, C], token type [TV, C] */
    float *dwte, *dwpe, *dwtt;   /* their gradients, or NULL */
    dmi_norm emb_ln;
    dmi_bert_layer *layers;      /* num_layers entries (owned by the struct) */
    dmi_linear pooler;           /* [C, C] */
    dmi_linear classifier;       /* [L, C] */
} dmi_bert;

/* One Hugging Face tensor of the model, as saved by
 * BertForSequenceClassification. */
typedef struct dmi_bert_tensor {
    char name[128];           /* e.g. "bert.encoder.layer.3.attention.self.key.weight" */
    size_t ndim;
    size_t shape[2];
    size_t offset;            /* in floats, into the parameter buffer */
    size_t numel;
    bool decay;               /* AdamW weight decay applies (not biases, not LayerNorm) */
    int group;                /* 0 encoder (embeddings, layers), 1 pooler, 2 classifier */
} dmi_bert_tensor;

/* Dimensions the passes need. */
typedef struct dmi_bert_dims {
    size_t V, P, TV, C, H, D, I, L, layers;
    float eps;
} dmi_bert_dims;

dmi_bert_dims dmi_bert_dims_from_config(const dmi_bert_config *cfg, size_t num_labels);

/* The tensor table (count in *N, owned by the caller, free()) and the total
 * number of floats. */
dm_status dmi_bert_tensor_table(const dmi_bert_dims *d, dmi_bert_tensor **out, size_t *n, size_t *total);

/* NET's views from one parameter pointer and one gradient pointer per
 * tensor of the table (N of them, in table order; a NULL gradient for a
 * frozen tensor). A layer's query, key and value must be adjacent in both. */
dm_status dmi_bert_map(dmi_bert *net, const dmi_bert_dims *d, float *const *params, float *const *grads, size_t n);
/* The same from buffers laid out as the table says (GRADS may be NULL: no
 * gradients). */
dm_status dmi_bert_map_buffers(dmi_bert *net, const dmi_bert_dims *d, float *params, float *grads);
void dmi_bert_unmap(dmi_bert *net);
/* Clears every gradient view (the gradient buffer is going away). */
void dmi_bert_drop_grads(dmi_bert *net, const dmi_bert_dims *d);
/* Points every linear site's w16 at its bfloat16 twin in PARAMS16 (laid out
 * as PARAMS), or clears them (PARAMS16 NULL). */
void dmi_bert_set_bf16(dmi_bert *net, const dmi_bert_dims *d, const float *params, const uint16_t *params16);

/* Activations of one forward pass kept for the backward pass, for batches of
 * up to max_B x max_T tokens. */
typedef struct dmi_bert_layer_acts {
    float *x_in;              /* layer input [BT, C] (the previous layer's output) */
    float *qkv;               /* [BT, 3C] */
    void *att_state;          /* what the backend's attention keeps for backward (its size) */
    float *atty;              /* attention output before its dense [BT, C] */
    float *ln1_in, *ln1_mean, *ln1_rstd, *h; /* h = LayerNorm 1 output [BT, C] */
    float *fc1;               /* intermediate before GELU [BT, I] */
    float *gelu;              /* [BT, I] */
    float *ln2_in, *ln2_mean, *ln2_rstd;
} dmi_bert_layer_acts;

/* bfloat16 matrix products (the weights' twins are in each dmi_linear's
 * w16): scratch buffers for the activations' bfloat16 copies. Inference uses
 * SCRATCH; mixed-precision training (float32 master weights, moments and
 * element-wise work, bfloat16 inputs to every encoder product, forward and
 * backward, as PyTorch's autocast) also SCRATCH2 for the output gradient. */
typedef struct dmi_bert_lowp {
    uint16_t *scratch;        /* max_B * max_T * max(3C, I) entries */
    uint16_t *scratch2;       /* training: as many; NULL in inference */
} dmi_bert_lowp;

/* DP-SGD's book-keeping (Bu et al. 2022): the norm pass keeps the output
 * gradient of every trained site of a layer here, instead of in the shared
 * scratch, so that once the clip factors are known the clipped weight
 * gradients are products of these, each example's rows scaled by its factor
 * (scale_examples), with no second backward pass. [BT, width] each. */
typedef struct dmi_bert_bk_layer {
    float *d_out;      /* the layer's output gradient: ln2's dout [BT, C] */
    float *d_ln1;      /* ln1's dout [BT, C] */
    float *d_ffn_out;  /* [BT, C] */
    float *d_attn_out; /* [BT, C] */
    float *d_ffn_in;   /* [BT, I] */
    float *d_qkv;      /* [BT, 3C] */
} dmi_bert_bk_layer;

typedef struct dmi_bert_bk {
    size_t max_B, max_T;
    size_t lowest;             /* the lowest layer with buffers: those below are not trained */
    bool embeddings;           /* d_emb_ln and d_emb exist: the embeddings are trained */
    float *block;              /* one allocation for everything below */
    dmi_bert_bk_layer *layers; /* num_layers entries (all NULL below LOWEST) */
    float *d_emb_ln, *d_emb;   /* the embedding LayerNorm's dout and the tables' [BT, C] */
    float *scale;              /* [max_B] each example's clip factor times the gradient scale */
} dmi_bert_bk;

/* Buffers for the trained sites of NET (as its gradients are mapped now). */
dm_status dmi_bert_bk_alloc(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, size_t max_B,
                            size_t max_T, dmi_bert_bk *bk);
/* Whether BK (allocated or not) serves NET's trained sites at B x T. */
bool dmi_bert_bk_fits(const dmi_bert_bk *bk, const dmi_bert_dims *d, const dmi_bert *net, size_t B, size_t T);
void dmi_bert_bk_free(dmb_backend *be, dmi_bert_bk *bk);

typedef struct dmi_bert_acts {
    size_t max_B, max_T;
    bool training;            /* every layer's activations kept; else one set reused */
    const dmi_bert_lowp *lowp;    /* NULL (float32) or bfloat16 products (training: with scratch2) */
    float *block;             /* one allocation for everything below */
    /* The batch's inputs, adjacent in this order so that one upload of
     * in_bytes from a host image (host_in, laid out alike: see
     * dmi_bert_inputs_fill) sets them all. */
    int32_t *ids, *types;     /* [BT] */
    int32_t *labels;          /* [B] */
    float *weights;           /* [B] per-example loss weights */
    float *key_mask;          /* [B, T] */
    size_t in_bytes;
    void *host_in;            /* host memory, in_bytes */
    float *emb_sum, *emb_mean, *emb_rstd;
    float *out;               /* last layer output [BT, C] (= hidden states) */
    dmi_bert_layer_acts *layers;  /* num_layers entries when training, else 1 */
    float *cls, *pooled, *pooled_drop, *logits, *dlogits, *losses; /* head */
    /* backward scratch */
    float *d_res, *d_res2, *d_a, *d_b, *d_wide, *d_wide2, *d_att;
    float *d_cls, *d_pool;
    /* DP-SGD's norm pass: when set (B floats, backend memory), the backward
     * pass adds each example's squared gradient norm over the trainable
     * tensors here and computes no weight gradient. */
    float *example_sq;
    /* With example_sq, book-keeping: the norm pass leaves the output
     * gradients here for dmi_bert_bk_grads (else: NULL). */
    dmi_bert_bk *bk;
} dmi_bert_acts;

dm_status dmi_bert_acts_alloc(dmb_backend *be, const dmi_bert_dims *d, size_t max_B, size_t max_T,
                          bool training, dmi_bert_acts *a);

/* Where each input goes in A->host_in for a B x T batch: pointers into the
 * host image at the offsets the backend arrays have. */
typedef struct dmi_bert_inputs {
    int32_t *ids, *types, *labels;
    float *weights, *key_mask;
} dmi_bert_inputs;
dmi_bert_inputs dmi_bert_inputs_host(const dmi_bert_acts *a);
/* Uploads the host image (all inputs of the batch) in one call. */
dm_status dmi_bert_inputs_upload(dmb_backend *be, const dmi_bert_acts *a);
void dmi_bert_acts_free(dmb_backend *be, dmi_bert_acts *a);

/* Dropout rates and where the random streams start for one pass. */
typedef struct dmi_bert_dropout {
    float hidden, attention, classifier;
    uint64_t seed;
    uint64_t step;            /* micro-batch of the run naming the streams (below 2^32) */
    uint32_t rank;            /* data-parallel worker (below 4096): its own streams */
} dmi_bert_dropout;

/* Forward pass on ids/types/key_mask already in acts (B x T). Writes
 * acts->logits (and hidden states in acts->out). With labels in acts->labels,
 * also the per-example losses (times WEIGHTS, B per-example loss weights in
 * backend memory, or NULL for 1) and, when GRAD_SCALE != 0, dlogits for the
 * backward pass. DROPOUT NULL = off. */
dm_status dmi_bert_forward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a, size_t B,
                           size_t T, const dmi_bert_dropout *dropout, const float *weights, float grad_scale);

/* Backward pass after dmi_bert_forward(training): gradients accumulate (+=)
 * into NET's gradient views (frozen tensors have none). */
dm_status dmi_bert_backward(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a, size_t B,
                            size_t T, const dmi_bert_dropout *dropout);

/* After a book-keeping norm pass (A->bk set with A->example_sq) and with
 * bk->scale[b] uploaded: adds sum_b scale[b] * (example b's gradient) to
 * NET's gradient views, from the kept output gradients (scaled in place)
 * and the forward pass's activations. */
dm_status dmi_bert_bk_grads(dmb_backend *be, const dmi_bert_dims *d, const dmi_bert *net, dmi_bert_acts *a, size_t B,
                            size_t T);

#endif
