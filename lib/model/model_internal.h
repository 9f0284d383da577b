/*
 * model_internal.h — the dm_model handle, shared by loading/saving
 * (model.c), inference (infer.c) and training (lib/train).
 */
#ifndef DM_MODEL_INTERNAL_H
#define DM_MODEL_INTERNAL_H

#include "bert.h"

#include <pthread.h>

struct dm_model {
    dmi_bert_config cfg;
    dmi_bert_dims dims;
    dmi_bert_tensor *tensors;  /* the HF tensor table, in buffer order */
    size_t n_tensors;
    size_t n_params;       /* floats in the parameter buffer */
    dmb_backend *be;
    float *params;         /* backend memory */
    dmi_bert net;          /* the model as layers: views into params, grads and params16 */
    dm_tokenizer *tok;
    char **labels;         /* dims.L names */
    char *src_dir;         /* where it was loaded from */
#define DMI_TOKENIZER_FILES 4
    char *tok_files[DMI_TOKENIZER_FILES]; /* the tokenizer files as loaded (NULL: absent) */
    size_t tok_file_lens[DMI_TOKENIZER_FILES];
    int new_head;          /* classifier initialised at load */
    int new_pooler;
    int threads;
    /* sentence-transformers settings of the folder, for embeddings */
    dm_pooling st_pooling; /* DM_POOL_DEFAULT when the folder names none */
    int st_pooling_unsupported; /* the folder asks for a pooling we do not have */
    int st_normalize;
    size_t st_max_seq_length;
    /* inference activations, grown on demand */
    dmi_bert_acts infer;
    /* inference precision: bfloat16 copies of the parameters, refreshed
     * before inference when the float32 ones changed */
    dm_precision precision;
    uint16_t *params16;
    bool params16_stale;
    dmi_bert_lowp lowp;
    uint32_t *head_perm;   /* at load: head row i is the file's row head_perm[i] (or NULL) */
    /* Training (grad.c): trainable tensors, their gradients only, and the
     * activations of a training batch. */
    bool *trainable;       /* per tensor */
    size_t *grad_offset;   /* per tensor: floats into grads, SIZE_MAX when frozen */
    size_t n_grads;        /* floats of the trainable tensors (when grads exists) */
    float *grads;          /* backend memory, NULL until a backward pass needs it */
    dmi_bert_acts train;       /* training activations, grown on demand */
    dmi_bert_lowp train_lowp;  /* mixed-precision training's bfloat16 scratch (train.lowp points here) */
    size_t train_lowp_elems;   /* entries of each train_lowp buffer */
    double *fb_stats;      /* backend memory: dm_model_forward_backward's loss readback */
    float *example_sq;     /* backend memory, example_sq_n floats: DP-SGD's per-example norms */
    size_t example_sq_n;
    dmi_bert_bk bk;        /* DP-SGD's book-keeping buffers, when allocated (train.bk points here) */
    char *privacy_json;    /* privacy.json of the folder (a DP-SGD run's accounting), or NULL */
    int n_optimizers;      /* optimizers of this model alive: the trainable set is fixed */
    /* Concurrency: every call holds LOCK (recursive: public calls nest, e.g.
     * dm_train's evaluations and checkpoints); dm_train holds it only to
     * mark TRAINING, so that calls from other threads meanwhile fail at
     * once with DM_ERR_BUSY instead of waiting for the whole run. */
    pthread_mutex_t lock;
    bool lock_ready;
    bool training;
    pthread_t trainer;
    const void *training_owner; /* the trainer training it */
    int in_trainer_call;        /* a call of that trainer is running (nesting depth) */
};

/* Enters a call on M from this thread (WHAT names it in messages): waits for
 * a call in progress on another thread; DM_ERR_BUSY while another thread
 * trains M. Pair with dmi_model_leave. */
dm_status dmi_model_enter(dm_model *m, const char *what);
void dmi_model_leave(dm_model *m);
/* Marks M as being trained by OWNER (a trainer) from this thread
 * (DM_ERR_BUSY when another is), and clears the mark. */
dm_status dmi_model_begin_training(dm_model *m, const void *owner);
void dmi_model_end_training(dm_model *m);
/* A call of trainer OWNER on M, from any thread: makes this thread the
 * training one (whose model calls pass, e.g. the trainer's evaluations and
 * saves) until the call ends. DM_ERR_BUSY for another trainer, or while the
 * trainer is in a call on another thread. */
dm_status dmi_model_enter_as_trainer(dm_model *m, const void *owner, const char *what);
void dmi_model_leave_trainer(dm_model *m);

/* DM_ERR_NUMERIC, naming FILE, TENSOR, the count and the first bad value,
 * when X has a NaN or an infinity. */
dm_status dmi_check_finite(const float *x, size_t n, const char *file, const char *tensor);

/* DM_ERR_NUMERIC when a row of LOGITS (B x L) is not all finite: never a
 * prediction from NaN logits (whose argmax would silently be label 0). Row
 * b is the caller's text IDX[b] (IDX NULL: b), named "text K: " as every
 * error about one text of a batch is. */
dm_status dmi_check_logits(const float *logits, size_t B, size_t L, const uint32_t *idx, const char *what);

/* grad.c: the trainable flags (all set) at load; the gradient buffer and
 * its views (made once, for the trainable tensors, zeroed); the training
 * activations grown to B x T; freeing both; the trainable floats. */
dm_status dmi_model_init_trainable(dm_model *m);
dm_status dmi_model_grads(dm_model *m);
dm_status dmi_model_train_acts(dm_model *m, size_t B, size_t T);
/* The training activations' product precision for the next step: float32,
 * or mixed (DM_PRECISION_BF16: bfloat16 inputs to the encoder's products,
 * float32 master weights and everything else), which needs bfloat16
 * products of the backend (DM_ERR_UNSUPPORTED otherwise) and refreshes the
 * weights' bfloat16 copies when they are stale. Call after
 * dmi_model_train_acts, before each step's forward pass. */
dm_status dmi_model_train_precision(dm_model *m, dm_precision precision);
void dmi_model_free_grads(dm_model *m);
size_t dmi_model_trainable_floats(const dm_model *m);
/* The dropout of a training pass: RATE < 0 takes config.json's rates; the
 * masks are Philox streams of (SEED, STREAM). */
dmi_bert_dropout dmi_model_dropout(const dm_model *m, double rate, uint64_t seed, uint64_t stream);

/* The public batch API's checks (dm_batch and dm_backward_options copied
 * into B and O, defaults filled; FN names the caller), and its staging:
 * gradients and activations ready, float32 products, the batch uploaded. */
dm_status dmi_model_check_batch(const dm_model *m, const dm_batch *batch, const dm_backward_options *opts,
                                dm_batch *b, dm_backward_options *o, const char *fn);
dm_status dmi_model_stage_batch(dm_model *m, const dm_batch *b);
/* The loss sum reduced into m->fb_stats, read back (DM_ERR_NUMERIC when not finite). */
dm_status dmi_model_read_loss(dm_model *m, double *sum);

/* (Re)builds m->net's views: the parameters, the gradients when the
 * buffer exists (frozen tensors have none), the bfloat16 twins when set. */
dm_status dmi_model_map_net(dm_model *m);

/* Writes the model's files (model.safetensors, tokenizer files, config.json)
 * into the existing folder DIR (a staging folder: see lib/core/staging.h). */
dm_status dmi_model_write_files(const dm_model *m, const char *dir);

/* The index of the tensor named NAME in the table, or -1. */
long dmi_model_tensor_index(const dm_model *m, const char *name);

/* Copies the parameters to/from host memory (n_params floats). */
dm_status dmi_model_get_params(const dm_model *m, float *host);
dm_status dmi_model_set_params(dm_model *m, const float *host);

/* The padded length for a batch whose longest encoding has LONGEST tokens:
 * rounded up to a multiple of 8 (fewer distinct shapes for the backend's
 * primitive cache), never above the model's positions. */
size_t dmi_model_padded_length(const dm_model *m, size_t longest);

/* Predictions of every row of L (labelled: lib/train/loader.h) and their
 * report, as dm_model_evaluate; O gives batch size and progress. */
struct dmi_loader;
dm_status dmi_model_evaluate_loader(dm_model *m, const struct dmi_loader *l, const dm_infer_options *o,
                                    dm_eval_report **out);

/* The model's label id of every row of DS (matched by name); WHAT names the
 * data in messages. Rows without a label, or with a label the model does not
 * have, are errors. */
dm_status dmi_model_dataset_labels(const dm_model *m, const dm_dataset *ds, const char *what, int32_t *out);

/* DS's texts, lengths and (when it has them) pairs as arrays pointing into
 * DS; free() the arrays. */
dm_status dmi_dataset_arrays(const dm_dataset *ds, const char ***texts, size_t **lens, const char ***pairs,
                             size_t **pair_lens);

/* Reads parameters saved under our tensor names (a model.safetensors of
 * dm_model_save, or another safetensors file with those names) into the
 * model. */
dm_status dmi_model_load_params(dm_model *m, const char *path);

/* Makes sure m->infer can hold B x T tokens and, in bfloat16 precision,
 * that the bfloat16 weights are current. */
dm_status dmi_model_infer_acts(dm_model *m, size_t B, size_t T);

#endif
