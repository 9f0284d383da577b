/*
 * loader.h — the one path from texts to batches on the device, for
 * inference, evaluation and training: tokenize once (every core, flat
 * arrays), order (by length for inference; shuffled and grouped by length,
 * or Poisson-sampled, for training), shard a global batch by rank, pad, and
 * upload each batch in one call.
 */
#ifndef DM_TRAIN_LOADER_H
#define DM_TRAIN_LOADER_H

#include "../model/model_internal.h"

typedef struct dmi_loader_options {
    size_t max_length;            /* 0: the model's positions; texts are cut to it */
    dm_invalid_utf8 invalid_utf8; /* DM_UTF8_ERROR or DM_UTF8_REPLACE */
    int threads;                  /* tokenizing; 0: the model's */
    dm_progress_fn progress;      /* tokenizing: done/total in texts */
    void *progress_user;
} dmi_loader_options;

/* Tokenized rows, and their labels when they have them. */
typedef struct dmi_loader {
    dm_encodings_flat *enc;
    int32_t *labels;   /* n model label ids, or NULL (unlabelled) */
    size_t n;
    int32_t pad_id;
} dmi_loader;

void dmi_loader_options_default(dmi_loader_options *o);

/* Rows from N texts (and pairs). */
dm_status dmi_loader_texts(dmi_loader *l, const dm_model *m, size_t n, const char *const *texts,
                           const size_t *lens, const char *const *pairs, const size_t *pair_lens,
                           const dmi_loader_options *o);
/* Rows from a dataset; with WHAT (naming the data in messages) its labels
 * too, mapped to the model's (an unknown label fails, naming its line). */
dm_status dmi_loader_dataset(dmi_loader *l, const dm_model *m, const dm_dataset *ds, const char *what,
                             const dmi_loader_options *o);
void dmi_loader_free(dmi_loader *l);

static inline size_t dmi_loader_row_length(const dmi_loader *l, uint32_t row)
{
    return l->enc->row_offsets[row + 1] - l->enc->row_offsets[row];
}

/* The longest of rows IDX[0..B). */
size_t dmi_loader_longest(const dmi_loader *l, const uint32_t *idx, size_t B);

/* ORDER (n entries) sorted by length, longest first, stably (as Python's
 * sorted in Hugging Face's LengthGroupedSampler). */
dm_status dmi_loader_sort_by_length(const dmi_loader *l, uint32_t *order, size_t n);

/* The training order of epoch EPOCH: a seeded shuffle, then, when grouping,
 * megabatches of 50 batches each sorted longest first (as Hugging Face's
 * LengthGroupedSampler), and with DM_LENGTHS_BUCKETS those batches in a
 * seeded random order instead of longest to shortest. */
typedef struct dmi_order_options {
    int shuffle;
    int grouping; /* a dm_length_grouping */
    size_t batch_size;
    uint64_t seed;
} dmi_order_options;
dm_status dmi_loader_epoch_order(const dmi_loader *l, const dmi_order_options *o, uint64_t epoch, uint32_t *order);

/* Rank RANK's part of a global batch of B examples split over WORLD ranks:
 * contiguous slices, the first B % WORLD ranks one example larger.
 * *FIRST and *COUNT index into the global batch. */
void dmi_shard(size_t B, size_t rank, size_t world, size_t *first, size_t *count);

/* Poisson sampling (DP-SGD): the rows of logical batch K of epoch EPOCH,
 * each row in it with probability Q independently (Philox of (seed, epoch,
 * K, row): the same on any machine and thread count), in row order, into
 * OUT (n entries); *COUNT may be 0. */
void dmi_loader_poisson(const dmi_loader *l, double q, uint64_t seed, uint64_t epoch, uint64_t k, uint32_t *out,
                        size_t *count);

/* Rows IDX[0..B) padded to T (pad id, type 0, mask 0) with their labels
 * (-1 when unlabelled) and loss WEIGHTS (B, NULL: 1) written to A's host
 * image and uploaded in one call. */
dm_status dmi_loader_fill(const dmi_loader *l, dmb_backend *be, dmi_bert_acts *a, const uint32_t *idx, size_t B,
                          size_t T, const float *weights);

#endif
