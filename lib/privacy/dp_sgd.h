/*
 * dp_sgd.h — DP-SGD's clipping and noise on a model (the dm_dp handle),
 * shared by the public calls (dp_sgd.c) and the trainer (lib/train).
 */
#ifndef DM_PRIVACY_DP_SGD_H
#define DM_PRIVACY_DP_SGD_H

#include "../model/model_internal.h"

struct dm_dp {
    dm_dp_options o;
    double sigma;           /* the noise multiplier in use */
    unsigned char key[32];  /* the noise stream's key (never saved anywhere) */
    uint64_t steps, clipped, examples;
    float *noise_host;      /* a round of noise chunks on its way to the backend */
    size_t noise_host_floats;
    bool two_pass;          /* tests: clip with a second backward pass, not book-keeping */
    uint64_t eps_steps;     /* the steps EPS was computed for (UINT64_MAX: none): the */
    double eps;             /* accountant is costly at large sample rates, asked often */
};

/* The clip factor of an example with gradient norm NORM: Opacus' min(1, C /
 * (norm + 1e-6)). */
static inline float dmi_dp_clip_factor(double C, float norm)
{
    double f = C / ((double)norm + 1e-6);
    return f < 1.0 ? (float)f : 1.0f;
}

/* DP-SGD's backward pass of a batch already in m->train (its inputs
 * uploaded, the host image's loss weights w_i): the forward pass, the norm
 * pass (each example's gradient norm of w_i loss_i into NORMS, B floats),
 * then the gradients of GRAD_SCALE x sum_i clip_i w_i loss_i added to the
 * model's. The unclipped loss sum goes to LOSS (backend memory; added when
 * ACCUMULATE). The clipped and seen counts of DP grow. */
dm_status dmi_dp_backward(dm_dp *dp, dm_model *m, size_t B, size_t T, const dmi_bert_dropout *d, float grad_scale,
                          double *loss, int accumulate, float *norms);

/* Each example's gradient norm only (no gradient changes). */
dm_status dmi_dp_norms(dm_model *m, size_t B, size_t T, const dmi_bert_dropout *d, float *norms);

/* Gaussian noise of standard deviation GRAD_SCALE x sigma x C on every
 * trainable gradient; one step for the accountant. */
dm_status dmi_dp_noise(dm_dp *dp, dm_model *m, double grad_scale);

/* Epsilon after STEPS steps (RDP, as Opacus). */
dm_status dmi_dp_epsilon_at(const dm_dp *dp, uint64_t steps, double *epsilon);

#endif
