/*
 * bert.h — the BERT sequence classifier: parameters in one buffer (as llm.c),
 * forward and backward passes written once against the backend vtable.
 *
 * Layout of the parameter buffer (and, identically, of the gradient buffer and
 * the two AdamW moment buffers): the Hugging Face tensors one after the other,
 * in the order of bert_tensor_table(), with a layer's query, key and value
 * weights adjacent so that together they form one [3C, C] matrix (one GEMM
 * computes q, k and v) and their biases one [3C] vector.
 */
#ifndef DM_MODEL_BERT_H
#define DM_MODEL_BERT_H

#include "../backend/backend.h"
#include "config.h"

/* Pointers to one layer's tensors inside a parameter-shaped buffer. */
typedef struct bert_layer {
    float *qkv_w, *qkv_b;     /* [3C, C], [3C] */
    float *ao_w, *ao_b;       /* attention output dense [C, C], [C] */
    float *ln1_w, *ln1_b;     /* attention output LayerNorm */
    float *fc1_w, *fc1_b;     /* intermediate dense [I, C], [I] */
    float *fc2_w, *fc2_b;     /* output dense [C, I], [C] */
    float *ln2_w, *ln2_b;     /* output LayerNorm */
} bert_layer;

typedef struct bert_params {
    float *wte, *wpe, *wtt;   /* word [V, C], position [P, C], token type [TV, C] */
    float *emb_ln_w, *emb_ln_b;
    bert_layer *layers;       /* num_layers entries (owned by the struct) */
    float *pool_w, *pool_b;   /* pooler dense [C, C], [C] */
    float *cls_w, *cls_b;     /* classifier [L, C], [L] */
} bert_params;

/* One Hugging Face tensor of the model, as saved by
 * BertForSequenceClassification. */
typedef struct bert_tensor {
    char name[128];           /* e.g. "bert.encoder.layer.3.attention.self.key.weight" */
    size_t ndim;
    size_t shape[2];
    size_t offset;            /* in floats, into the parameter buffer */
    size_t numel;
    bool decay;               /* AdamW weight decay applies (not biases, not LayerNorm) */
    int group;                /* 0 encoder (embeddings, layers), 1 pooler, 2 classifier */
} bert_tensor;

/* Dimensions the passes need. */
typedef struct bert_dims {
    size_t V, P, TV, C, H, D, I, L, layers;
    float eps;
} bert_dims;

bert_dims bert_dims_from_config(const dmi_bert_config *cfg, size_t num_labels);

/* The tensor table (count in *N, owned by the caller, free()) and the total
 * number of floats. */
dm_status bert_tensor_table(const bert_dims *d, bert_tensor **out, size_t *n, size_t *total);

/* Points P's fields into BASE (a buffer laid out as the table says). */
dm_status bert_params_map(bert_params *p, const bert_dims *d, float *base);
/* The same from one pointer per tensor of the table (N of them, in table
 * order; NULL for a tensor that has none, e.g. the gradient of a frozen
 * one). A layer's query, key and value must be adjacent. */
dm_status bert_params_map_table(bert_params *p, const bert_dims *d, float *const *ptr, size_t n);
void bert_params_unmap(bert_params *p);

/* Activations of one forward pass kept for the backward pass, for batches of
 * up to max_B x max_T tokens. */
typedef struct bert_layer_acts {
    float *x_in;              /* layer input [BT, C] (the previous layer's output) */
    float *qkv;               /* [BT, 3C] */
    void *att_state;          /* what the backend's attention keeps for backward (its size) */
    float *atty;              /* attention output before its dense [BT, C] */
    float *ln1_in, *ln1_mean, *ln1_rstd, *h; /* h = LayerNorm 1 output [BT, C] */
    float *fc1;               /* intermediate before GELU [BT, I] */
    float *gelu;              /* [BT, I] */
    float *ln2_in, *ln2_mean, *ln2_rstd;
} bert_layer_acts;

/* Inference with bfloat16 matrix products: the weights' bfloat16 copy (laid
 * out as the float parameters) and a scratch buffer for the activations. */
typedef struct bert_lowp {
    const float *params;      /* the float32 parameter buffer (offsets are taken from it) */
    const uint16_t *params16; /* its bfloat16 copy */
    uint16_t *scratch;        /* max_B * max_T * max(C, I) entries */
} bert_lowp;

typedef struct bert_acts {
    size_t max_B, max_T;
    bool training;            /* every layer's activations kept; else one set reused */
    const bert_lowp *lowp;    /* inference only: NULL (float32) or bfloat16 products */
    float *block;             /* one allocation for everything below */
    /* The batch's inputs, adjacent in this order so that one upload of
     * in_bytes from a host image (host_in, laid out alike: see
     * bert_inputs_fill) sets them all. */
    int32_t *ids, *types;     /* [BT] */
    int32_t *labels;          /* [B] */
    float *weights;           /* [B] per-example loss weights */
    float *key_mask;          /* [B, T] */
    size_t in_bytes;
    void *host_in;            /* host memory, in_bytes */
    float *emb_sum, *emb_mean, *emb_rstd;
    float *out;               /* last layer output [BT, C] (= hidden states) */
    bert_layer_acts *layers;  /* num_layers entries when training, else 1 */
    float *cls, *pooled, *pooled_drop, *logits, *dlogits, *losses; /* head */
    /* backward scratch */
    float *d_res, *d_res2, *d_a, *d_b, *d_wide, *d_wide2, *d_att;
    float *d_cls, *d_pool;
} bert_acts;

dm_status bert_acts_alloc(dmb_backend *be, const bert_dims *d, size_t max_B, size_t max_T,
                          bool training, bert_acts *a);

/* Where each input goes in A->host_in for a B x T batch: pointers into the
 * host image at the offsets the backend arrays have. */
typedef struct bert_inputs {
    int32_t *ids, *types, *labels;
    float *weights, *key_mask;
} bert_inputs;
bert_inputs bert_inputs_host(const bert_acts *a);
/* Uploads the host image (all inputs of the batch) in one call. */
dm_status bert_inputs_upload(dmb_backend *be, const bert_acts *a);
void bert_acts_free(dmb_backend *be, bert_acts *a);

/* Dropout rates and where the random streams start for one pass. */
typedef struct bert_dropout {
    float hidden, attention, classifier;
    uint64_t seed;
    uint64_t step;            /* optimizer step (with micro-batch) naming the streams */
} bert_dropout;

/* Forward pass on ids/types/key_mask already in acts (B x T). Writes
 * acts->logits (and hidden states in acts->out). With labels in acts->labels,
 * also the per-example losses (times WEIGHTS, B per-example loss weights in
 * backend memory, or NULL for 1) and, when GRAD_SCALE != 0, dlogits for the
 * backward pass. DROPOUT NULL = off. */
dm_status bert_forward(dmb_backend *be, const bert_dims *d, const bert_params *p, bert_acts *a,
                       size_t B, size_t T, const bert_dropout *dropout, const float *weights, float grad_scale);

/* Backward pass after bert_forward(training): gradients accumulate (+=) into
 * G (a parameter-shaped buffer). */
dm_status bert_backward(dmb_backend *be, const bert_dims *d, const bert_params *p,
                        const bert_params *g, bert_acts *a, size_t B, size_t T,
                        const bert_dropout *dropout);

#endif
