/*
 * optimizer.h — the dm_optimizer handle (optimizer.c), for the trainer and
 * checkpoints.
 */
#ifndef DM_TRAIN_OPTIMIZER_H
#define DM_TRAIN_OPTIMIZER_H

#include "../model/model_internal.h"

/* A stretch of consecutive trainable tensors with one decay setting:
 * contiguous in the parameters (PARAM_OFF) and in the gradients and
 * moments (STATE_OFF). */
typedef struct dmi_adam_run {
    size_t param_off, state_off, len;
    bool decay;
} dmi_adam_run;

struct dm_optimizer {
    dm_model *m;
    dm_optimizer_options o;
    float *adam_m, *adam_v; /* backend memory, n floats: the trainable tensors' */
    size_t n;
    uint64_t step;          /* steps done */
    double *stats;          /* backend memory: 2 doubles for readbacks */
    dmi_adam_run *runs;
    size_t n_runs;
    bool counted;           /* counted in the model's n_optimizers */
};

double dmi_schedule_lr(dm_lr_schedule schedule, double base, uint64_t step, uint64_t total, uint64_t warmup);
dm_status dmi_optimizer_check_options(const dm_optimizer_options *o);
/* The learning rate of the next step. */
double dmi_optimizer_lr(const dm_optimizer *opt);
/* Clipping (NORM: the gradients' global norm, read back by the caller) and
 * AdamW with the scheduled rate (in *LR_OUT); counts the step. The
 * gradients are left as they are. */
dm_status dmi_optimizer_apply(dm_optimizer *opt, double norm, double *lr_out);
/* The state to / from a safetensors file (no lock taken). */
dm_status dmi_optimizer_write(const dm_optimizer *opt, const char *path);
dm_status dmi_optimizer_read(dm_optimizer *opt, const char *path);

#endif
