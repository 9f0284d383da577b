/*
 * train_internal.h — what the training loop (train.c) and checkpoints
 * (checkpoint.c) share.
 */
#ifndef DM_TRAIN_INTERNAL_H
#define DM_TRAIN_INTERNAL_H

#include "../core/rng.h"
#include "../model/model_internal.h"

#include <stdio.h>

/* A training run in progress. */
typedef struct dmi_trainer {
    dm_model *m;
    dm_train_options o;
    dmb_backend *be;
    /* data */
    dmi_batch_plan plan;      /* training encodings (order unused: epochs have their own) */
    int32_t *labels;          /* model label id per training example */
    size_t n;
    uint32_t *order;          /* this epoch's example order */
    char data_fingerprint[33]; /* hex BLAKE2b-128 of the rows (texts, pairs, labels) in order */
    uint64_t order_epoch;     /* which epoch ORDER holds (UINT64_MAX: none) */
    /* schedule */
    size_t micro_per_epoch;   /* batches of batch_size per epoch */
    uint64_t steps_per_epoch; /* optimizer steps per epoch */
    uint64_t total_steps, warmup_steps;
    /* state */
    uint64_t step;            /* optimizer steps done */
    float *grads, *adam_m, *adam_v; /* backend memory, n_params each */
    bert_params gp;           /* views into grads */
    float *class_weights_host; /* L, or NULL: the loss weight of each label */
    float *weights_host;      /* batch_size: one micro-batch's per-example loss weights */
    double *wsum;             /* grad_accum: each micro-batch's sum of weights */
    double *stats;            /* backend memory, grad_accum + 2 doubles: each micro-batch's
                                 summed loss, the squared gradient norm, the squared norm
                                 of the weights after the last update */
    bool weights_check_pending; /* stats' last entry is not read back yet */
    double last_lr;
    bert_acts acts;
    double best_metric;       /* accuracy of the best evaluation, NaN before any */
    uint64_t best_step;
    int evals_without_improvement;
    float *best_params;       /* host copy of the best weights (keep_best) */
    double epoch_loss_sum;    /* for the result: losses of the current epoch's steps */
    uint64_t epoch_loss_steps;
    /* reporting */
    FILE *log;
    double started, examples_done_time;
    uint64_t examples_seen;   /* over the whole run, resumed parts included */
    uint64_t examples_this_run, steps_this_run;
} dmi_trainer;

double dmi_now(void);

/* One optimizer step on the model: global-norm clipping (max_grad_norm), then
 * AdamW on every tensor, with weight decay where the tensor table says. STEP
 * counts steps done before this one. Writes the pre-clipping norm. Reads the
 * norm and checks the new weights (two readbacks: for tests and benchmarks;
 * the trainer reads its statistics once per step). */
dm_status dmi_adamw_step(dm_model *m, float *grads, float *adam_m, float *adam_v, uint64_t step, double lr,
                         const dm_train_options *o, double *grad_norm);
/* The update alone, given the gradient NORM (DM_ERR_NUMERIC when not finite). */
dm_status dmi_adamw_update(dm_model *m, float *grads, float *adam_m, float *adam_v, uint64_t step, double lr,
                           const dm_train_options *o, double norm);
/* DM_ERR_NUMERIC for weights made non-finite by the update of STEP (0-based). */
dm_status dmi_weights_finite_error(uint64_t step, double lr);
double dmi_lr_at(const dm_train_options *o, uint64_t step, uint64_t total, uint64_t warmup);
dm_status dmi_epoch_order(const dm_train_options *o, dm_encoding **encs, size_t n, uint64_t epoch,
                          uint32_t *order);

/* Writes OUTPUT_DIR/checkpoint-STEP (through a temporary folder renamed into
 * place, so the last complete checkpoint is never damaged) and keeps the
 * newest checkpoint_limit of them. */
dm_status dmi_checkpoint_save(dmi_trainer *t);

/* Restores weights, AdamW moments, step and best-model state from DIR after
 * checking that it was written by a run with the same data and options. */
dm_status dmi_checkpoint_load(dmi_trainer *t, const char *dir);

#endif
