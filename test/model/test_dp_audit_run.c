/*
 * test_dp_audit_run.c — the one-run privacy audit of Steinke, Nasr and
 * Jagielski (NeurIPS 2023) on the trainer, at a scale CI affords: M canary
 * sentences (random words, random labels), each put into the training set
 * with probability 1/2; after training, each canary's membership score is
 * the log-probability the model gives its label; the auditor guesses "in"
 * for the K highest scores and "out" for the K lowest, and
 * dm_dp_audit_epsilon turns the right guesses into a lower bound on epsilon.
 *
 * Two runs with the same data and recipe:
 *  - "broken": the DP machinery with its protection switched off (clipping
 *    norm 1e6, noise multiplier 1e-9), as a build with noise or clipping
 *    lost would train, while the run still claims CLAIMED_EPSILON: the audit
 *    must certify an epsilon well above the claim;
 *  - correct DP-SGD at CLAIMED_EPSILON: the certified epsilon must not
 *    exceed it (the audit's guarantee: with probability >= 1 - beta).
 * Seeds are fixed, so the outcome is the same on every run and machine.
 */
#include "datamodel.h"
#include "../unit/check.h"
#include "tiny_task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CANARIES 160
#define GUESSES 32        /* K "in" and K "out" guesses */
#define CLAIMED_EPSILON 0.5
#define DELTA 1e-5
#define BETA 0.05

static char tiny[2048];
static const char *const names[3] = {"negative", "neutral", "positive"};

typedef struct canaries {
    char *texts[CANARIES];
    const char *labels[CANARIES];
    int32_t label_ids[CANARIES];
    uint8_t included[CANARIES];
} canaries;

/* Whole words of the fixture's vocabulary (no special tokens, no pieces). */
static size_t read_words(char words[][32], size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", tiny);
    FILE *f = fopen(path, "r");
    size_t n = 0;
    char line[256];
    while (f && n < cap && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '[' || strncmp(line, "##", 2) == 0 || strlen(line) >= 32) continue;
        strcpy(words[n++], line);
    }
    if (f) fclose(f);
    return n;
}

static void make_canaries(canaries *c)
{
    static char words[400][32];
    size_t nw = read_words(words, 400);
    CHECK(nw > 100);
    dmi_rng rng;
    dmi_rng_init(&rng, 2023, 1);
    for (size_t i = 0; i < CANARIES; i++) {
        char buf[512] = "";
        for (int w = 0; w < 10; w++) {
            strcat(buf, w ? " " : "");
            strcat(buf, words[dmi_rng_below(&rng, nw)]);
        }
        c->texts[i] = strdup(buf);
        c->label_ids[i] = (int32_t)dmi_rng_below(&rng, 3);
        c->labels[i] = names[c->label_ids[i]];
        c->included[i] = (uint8_t)dmi_rng_below(&rng, 2);
    }
}

/* The base task's rows plus the included canaries. */
static dm_dataset *training_set(const canaries *c, size_t base)
{
    dm_dataset *task = make_task(base, 5, names);
    size_t n = base;
    for (size_t i = 0; i < CANARIES; i++) n += c->included[i];
    const char **texts = calloc(n, sizeof *texts), **labels = calloc(n, sizeof *labels);
    size_t k = 0;
    for (size_t i = 0; i < base; i++) {
        texts[k] = dm_dataset_text(task, i, NULL);
        labels[k++] = dm_dataset_label_name(task, dm_dataset_label(task, i));
    }
    for (size_t i = 0; i < CANARIES; i++)
        if (c->included[i]) texts[k] = c->texts[i], labels[k++] = c->labels[i];
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.labels = names, o.n_labels = 3;
    dm_dataset *ds = NULL;
    if (dm_dataset_from_texts(n, texts, NULL, NULL, NULL, labels, &o, &ds)) fprintf(stderr, "%s\n", dm_last_error());
    free(texts), free(labels);
    dm_dataset_free(task);
    return ds;
}

/* Trains a fresh tiny model with OPTS and audits it: the certified epsilon. */
static double audit(const canaries *c, const dm_dataset *train, const dm_train_options *opts, const char *what)
{
    dm_model_options mo;
    dm_model_options_default(&mo);
    mo.device = DM_DEVICE_CPU;
    dm_model *m = NULL;
    CHECK(dm_model_load(tiny, &mo, &m) == DM_OK);
    if (!m) return NAN;
    dm_train_result r = {.struct_size = sizeof r};
    dm_status s = dm_train(m, train, NULL, opts, &r);
    CHECK(s == DM_OK);
    if (s) fprintf(stderr, "%s: %s\n", what, dm_last_error());
    float probs[CANARIES * 3];
    size_t lens[CANARIES];
    for (size_t i = 0; i < CANARIES; i++) lens[i] = strlen(c->texts[i]);
    s = dm_model_predict(m, CANARIES, (const char *const *)c->texts, lens, NULL, NULL, NULL, NULL, probs, NULL);
    CHECK(s == DM_OK);
    if (s) fprintf(stderr, "%s: predict: %s\n", what, dm_last_error());
    double scores[CANARIES];
    for (size_t i = 0; i < CANARIES; i++) scores[i] = log(fmax(probs[i * 3 + c->label_ids[i]], 1e-30));
    uint64_t guesses = 0, right = 0;
    CHECK(dm_dp_audit_guesses(CANARIES, scores, c->included, GUESSES, GUESSES, &guesses, &right) == DM_OK);
    double eps_lb = NAN;
    CHECK(dm_dp_audit_epsilon(CANARIES, guesses, right, DELTA, BETA, &eps_lb) == DM_OK);
    printf("%s: final loss %.4f, %llu steps, %llu of %llu guesses right: epsilon >= %.3f certified (claimed %.1f)\n", what,
           r.final_loss, (unsigned long long)r.steps, (unsigned long long)right, (unsigned long long)guesses, eps_lb,
           CLAIMED_EPSILON);
    dm_model_free(m);
    return eps_lb;
}

int main(void)
{
    const char *fixture_dir = getenv("DM_FIXTURE_DIR");
    if (!fixture_dir) {
        fprintf(stderr, "DM_FIXTURE_DIR is not set (meson sets it)\n");
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/tiny", fixture_dir);
    canaries c;
    make_canaries(&c);
    dm_dataset *train = training_set(&c, 60);
    CHECK(train != NULL);

    dm_train_options o;
    dm_train_options_default(&o);
    o.epochs = 25;
    o.batch_size = 16;
    o.learning_rate = 1e-3; /* AdamW: 2e-2 does not fit the canaries at all */
    o.max_length = 16;
    o.threads = 2;
    o.dropout = 0.0;
    o.dp_noise_seed = 99;
    o.keep_best = 0;

    dm_train_options broken = o;
    broken.dp_noise = 1e-20;       /* noise lost (below AdamW's epsilon) */
    broken.dp_max_grad_norm = 1e6; /* clipping lost */
    double eps_broken = audit(&c, train, &broken, "broken DP (no noise, no clipping)");
    CHECK(eps_broken > 2.0 * CLAIMED_EPSILON);

    dm_train_options dp = o;
    dp.dp_epsilon = CLAIMED_EPSILON;
    dp.dp_max_grad_norm = 1.0;
    double eps_dp = audit(&c, train, &dp, "DP-SGD at the claimed epsilon");
    CHECK(eps_dp <= CLAIMED_EPSILON);

    dm_dataset_free(train);
    for (size_t i = 0; i < CANARIES; i++) free(c.texts[i]);
    return check_summary();
}
