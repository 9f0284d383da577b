/*
 * train_internal.h — what the trainer (trainer.c), its options and the
 * dm_train wrapper (train.c) and checkpoints (checkpoint.c) share.
 */
#ifndef DM_TRAIN_INTERNAL_H
#define DM_TRAIN_INTERNAL_H

#include "../core/rng.h"
#include "../model/model_internal.h"
#include "loader.h"
#include "optimizer.h"
#include "../privacy/dp_sgd.h"

#include <stdio.h>

/* A training run in progress (the dm_trainer handle). */
struct dm_trainer {
    dm_model *m;
    dm_train_options o;
    dmb_backend *be;
    dm_optimizer *opt;
    bool own_opt;             /* made by the trainer (freed with it) */
    bool marked;              /* the model is marked as being trained */
    bool made_dir;            /* output_dir did not exist before create */
    char *owned[3];           /* copies of output_dir, log_jsonl, resume_from */
    float *owned_weights;     /* copy of class_weights */
    bool *saved_trainable;    /* the model's trainable set before freeze_* (restored at free) */
    /* data, tokenized once */
    dmi_loader train, val;
    bool has_val;
    size_t n;                 /* training rows */
    uint32_t *order;          /* this epoch's example order */
    uint64_t order_epoch;     /* which epoch ORDER holds (UINT64_MAX: none) */
    char data_fingerprint[33]; /* hex BLAKE2b-128 of the rows (texts, pairs, labels) in order */
    /* schedule */
    size_t micro_per_epoch;   /* batches of batch_size per epoch */
    uint64_t steps_per_epoch; /* optimizer steps per epoch */
    uint64_t total_steps, warmup_steps;
    size_t rank, world;       /* data parallelism: this worker's slice of every micro-batch */
    /* state */
    uint64_t step;            /* optimizer steps done */
    float *class_weights_host; /* L, or NULL: the loss weight of each label */
    float *weights_host;      /* batch_size: one micro-batch's per-example loss weights */
    double *wsum;             /* grad_accum: each micro-batch's sum of weights */
    double *stats;            /* backend memory, grad_accum + 2 doubles: each micro-batch's
                                 summed loss, the squared gradient norm, the squared norm
                                 of the weights after the last update */
    bool weights_check_pending; /* stats' last entry is not read back yet */
    double last_lr;
    double best_metric;       /* accuracy of the best evaluation, NaN before any */
    uint64_t best_step;
    int evals_without_improvement;
    bool stop;                /* early stopping said so */
    float *best_params;       /* host copy of the best weights (keep_best) */
    double epoch_loss_sum;    /* for the result: losses of the current epoch's steps */
    uint64_t epoch_loss_steps;
    double last_loss;
    /* DP-SGD (dp_sgd.c): the transform, the expected batch, the steps the
     * budget allows, each micro-batch's norms */
    struct dm_dp *dp;
    size_t dp_batch;
    uint64_t dp_budget_steps;
    float *dp_norms;
    bool dp_budget_reached;
    struct json_t *dp_previous; /* the model's privacy.json before this run, or NULL */
    /* reporting */
    FILE *log;
    double started;
    uint64_t examples_seen;   /* over the whole run, resumed parts included */
    uint64_t examples_this_run, steps_this_run;
};

/* The most data-parallel workers: dropout streams keep 12 bits for the rank. */
#define DMI_MAX_WORLD 4096

double dmi_now(void);

/* The gradients of T's next step in the model's gradient buffer (zeroed
 * first): its GROUP micro-batches, this worker's slice of each, every loss
 * weight divided by the whole micro-batch's sum and by GROUP. *EXAMPLES is
 * the step's rows over all workers. The step is not taken. */
dm_status dmi_trainer_gradients(dm_trainer *t, size_t *group, size_t *examples);

/* Whether the options ask for DP-SGD. */
static inline bool dmi_train_dp(const dm_train_options *o) { return o->dp_epsilon > 0.0 || o->dp_noise > 0.0; }

/* Checks the options of a run against MODEL (label count for class weights). */
dm_status dmi_train_check_options(const dm_train_options *o, const dm_model *m);

/* The learning rate at STEP of a run of TOTAL steps with WARMUP (for tests). */
double dmi_lr_at(const dm_train_options *o, uint64_t step, uint64_t total, uint64_t warmup);

/* One optimizer step on the whole parameter buffer (gradients, moments laid
 * out like the parameters): global-norm clipping (max_grad_norm), then AdamW
 * on every tensor with weight decay where the tensor table says. STEP counts
 * steps done before this one. Writes the pre-clipping norm. Two readbacks:
 * for tests and benchmarks (the trainer reads its statistics once a step). */
dm_status dmi_adamw_step(dm_model *m, float *grads, float *adam_m, float *adam_v, uint64_t step, double lr,
                         const dm_train_options *o, double *grad_norm);

/* DM_ERR_NUMERIC for weights made non-finite by the update of STEP (0-based). */
dm_status dmi_weights_finite_error(uint64_t step, double lr);

/* Writes OUTPUT_DIR/checkpoint-STEP (staged and swapped in whole) and keeps
 * the newest checkpoint_limit of them. */
dm_status dmi_checkpoint_save(dm_trainer *t);
/* A checkpoint of T's current state into DIR (written whole). */
dm_status dmi_checkpoint_write(dm_trainer *t, const char *dir);

/* Restores weights, AdamW moments, step and best-model state from DIR after
 * checking that it was written by a run with the same data and options. */
dm_status dmi_checkpoint_load(dm_trainer *t, const char *dir);

/* Sets the model's privacy.json from the run's DP-SGD state (or drops it
 * for a run without DP). */
dm_status dmi_trainer_privacy_json(dm_trainer *t);

/* Reads back the check of the last update's weights when it is pending
 * (before a checkpoint, an evaluation or the end). */
dm_status dmi_trainer_settle(dm_trainer *t);

#endif
