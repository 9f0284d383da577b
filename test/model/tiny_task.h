/*
 * tiny_task.h — a small labelled task in the tiny fixture BERT's vocabulary,
 * shared by the trainer tests (test_trainer.c, test_dp_sgd.c).
 */
#ifndef DM_TEST_TINY_TASK_H
#define DM_TEST_TINY_TASK_H

#include "datamodel.h"
#include "core/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sentences of the tiny vocabulary whose label is given by one cue word. */
static dm_dataset *make_task(size_t n, uint64_t seed, const char *const *label_set)
{
    static const char *const cues[3][3] = {{"boring", "salty", "stale"},
                                           {"market", "garden", "street"},
                                           {"wonderful", "enjoyed", "favourite"}};
    static const char *const names[3] = {"negative", "neutral", "positive"};
    static const char *const filler[] = {"the", "old", "boat", "blue", "my", "sister", "is", "with", "of",
                                         "apples", "rain", "on", "roof", "we", "this", "and", "bread", "was"};
    dmi_rng rng;
    dmi_rng_init(&rng, seed, 7);
    char **texts = calloc(n, sizeof *texts);
    size_t *lens = calloc(n, sizeof *lens);
    const char **labels = calloc(n, sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        size_t y = i % 3, words = 3 + (size_t)dmi_rng_below(&rng, 8), cue_at = (size_t)dmi_rng_below(&rng, words);
        char buf[512] = "";
        for (size_t w = 0; w < words; w++) {
            const char *word = w == cue_at ? cues[y][dmi_rng_below(&rng, 3)]
                                           : filler[dmi_rng_below(&rng, sizeof filler / sizeof *filler)];
            strcat(buf, w ? " " : "");
            strcat(buf, word);
        }
        texts[i] = strdup(buf);
        lens[i] = strlen(buf);
        labels[i] = names[y];
    }
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    if (label_set) o.labels = label_set, o.n_labels = 3;
    dm_dataset *ds = NULL;
    if (dm_dataset_from_texts(n, (const char *const *)texts, lens, NULL, NULL, labels, &o, &ds))
        fprintf(stderr, "dataset: %s\n", dm_last_error());
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts), free(lens), free(labels);
    return ds;
}

#endif
