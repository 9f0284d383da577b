/*
 * loader.c — texts to batches on the device (see loader.h).
 */
#include "loader.h"
#include "../core/rng.h"
#include "../data/dataset_internal.h"

#include <stdlib.h>
#include <string.h>

#define STREAM_SHUFFLE 0x5348554600000000ull /* "SHUF": the data order of an epoch */
#define STREAM_POISSON 0x504F495300000000ull /* "POIS": Poisson sampling */
#define STREAM_BUCKETS 0x4255434B00000000ull /* "BUCK": the order of a megabatch's batches */

void dmi_loader_options_default(dmi_loader_options *o)
{
    memset(o, 0, sizeof *o);
    o->invalid_utf8 = DM_UTF8_ERROR;
}

static dm_status encode(dmi_loader *l, const dm_model *m, size_t n, const char *const *texts, const size_t *lens,
                        const char *const *pairs, const size_t *pair_lens, const dmi_loader_options *o)
{
    memset(l, 0, sizeof *l);
    size_t max_length = o->max_length;
    if (max_length == 0 || max_length > m->dims.P) max_length = m->dims.P;
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
    eo.max_length = max_length;
    eo.invalid_utf8 = o->invalid_utf8;
    eo.threads = o->threads ? o->threads : m->threads;
    eo.progress = o->progress;
    eo.progress_user = o->progress_user;
    dm_status s = dm_tokenizer_encode_batch_flat(m->tok, n, texts, lens, pairs, pair_lens, &eo, &l->enc);
    if (s) return s;
    l->n = n;
    l->pad_id = dm_tokenizer_special_id(m->tok, DM_SPECIAL_PAD);
    if (l->pad_id < 0) l->pad_id = 0; /* masked out: any id serves */
    return DM_OK;
}

dm_status dmi_loader_texts(dmi_loader *l, const dm_model *m, size_t n, const char *const *texts,
                           const size_t *lens, const char *const *pairs, const size_t *pair_lens,
                           const dmi_loader_options *o)
{
    return encode(l, m, n, texts, lens, pairs, pair_lens, o);
}

dm_status dmi_loader_dataset(dmi_loader *l, const dm_model *m, const dm_dataset *ds, const char *what,
                             const dmi_loader_options *o)
{
    memset(l, 0, sizeof *l);
    size_t n = dm_dataset_size(ds);
    int32_t *labels = NULL;
    if (what) {
        labels = dmi_malloc((n ? n : 1) * sizeof *labels);
        if (!labels) return DM_ERR_NO_MEMORY;
        dm_status s = dmi_model_dataset_labels(m, ds, what, labels);
        if (s) {
            free(labels);
            return s;
        }
    }
    const char **texts, **pairs;
    size_t *lens, *pair_lens;
    dm_status s = dmi_dataset_arrays(ds, &texts, &lens, &pairs, &pair_lens);
    if (!s) {
        s = encode(l, m, n, texts, lens, pairs, pair_lens, o);
        free(texts), free(lens), free(pairs), free(pair_lens);
    }
    if (s) {
        free(labels);
        return what ? dmi_fail_prefix(s, "tokenizing the %s", what) : s;
    }
    l->labels = labels;
    return DM_OK;
}

void dmi_loader_free(dmi_loader *l)
{
    dm_encodings_flat_free(l->enc);
    free(l->labels);
    memset(l, 0, sizeof *l);
}

size_t dmi_loader_longest(const dmi_loader *l, const uint32_t *idx, size_t B)
{
    size_t longest = 0;
    for (size_t b = 0; b < B; b++) {
        size_t len = dmi_loader_row_length(l, idx[b]);
        if (len > longest) longest = len;
    }
    return longest;
}

/* ------------------------------------------------------------------ orders */

/* An example's length and index, sorted together so that the comparison
 * needs no context (qsort has no user pointer, and a global would race when
 * distinct models run on different threads). */
typedef struct len_index {
    uint32_t length, pos, index;
} len_index;

static int by_length_desc(const void *x, const void *y)
{
    const len_index *a = x, *b = y;
    if (a->length != b->length) return a->length > b->length ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

dm_status dmi_loader_sort_by_length(const dmi_loader *l, uint32_t *order, size_t n)
{
    len_index *tmp = dmi_malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (len_index){(uint32_t)dmi_loader_row_length(l, order[i]), (uint32_t)i, order[i]};
    qsort(tmp, n, sizeof *tmp, by_length_desc);
    for (size_t i = 0; i < n; i++) order[i] = tmp[i].index;
    free(tmp);
    return DM_OK;
}

/* Puts the full batches of ORDER (N rows, batches of B) in a random order;
 * a last, partial batch stays last (the epoch's only short batch). */
static dm_status shuffle_batches(dmi_rng *rng, uint32_t *order, size_t n, size_t B)
{
    size_t nb = n / B;
    if (nb < 2) return DM_OK;
    uint32_t *perm = dmi_malloc(nb * sizeof *perm), *copy = dmi_malloc(nb * B * sizeof *copy);
    if (!perm || !copy) {
        free(perm), free(copy);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < nb; i++) perm[i] = (uint32_t)i;
    dmi_rng_shuffle(rng, perm, nb);
    memcpy(copy, order, nb * B * sizeof *copy);
    for (size_t i = 0; i < nb; i++) memcpy(order + i * B, copy + (size_t)perm[i] * B, B * sizeof *copy);
    free(perm), free(copy);
    return DM_OK;
}

dm_status dmi_loader_epoch_order(const dmi_loader *l, const dmi_order_options *o, uint64_t epoch, uint32_t *order)
{
    size_t n = l->n;
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    if (o->shuffle) {
        dmi_rng rng;
        dmi_rng_init(&rng, o->seed, STREAM_SHUFFLE | epoch);
        dmi_rng_shuffle(&rng, order, n);
    }
    if (o->grouping == DM_LENGTHS_MIXED) return DM_OK;
    size_t mega = 50 * o->batch_size;
    dmi_rng rng;
    dmi_rng_init(&rng, o->seed, STREAM_BUCKETS | epoch);
    for (size_t lo = 0; lo < n; lo += mega) {
        size_t hi = lo + mega < n ? lo + mega : n;
        dm_status s = dmi_loader_sort_by_length(l, order + lo, hi - lo);
        if (!s && o->grouping == DM_LENGTHS_BUCKETS) s = shuffle_batches(&rng, order + lo, hi - lo, o->batch_size);
        if (s) return s;
    }
    return DM_OK;
}

void dmi_shard(size_t B, size_t rank, size_t world, size_t *first, size_t *count)
{
    size_t base = B / world, extra = B % world;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

void dmi_loader_poisson(const dmi_loader *l, double q, uint64_t seed, uint64_t epoch, uint64_t k, uint32_t *out,
                        size_t *count)
{
    size_t c = 0;
    for (size_t i = 0; i < l->n; i += 2) {
        /* one Philox call gives the uniforms of two rows */
        dmi_philox_out r = dmi_philox(seed, STREAM_POISSON | (epoch & 0xFFFFFFFFull), (k << 31) | (i >> 1));
        if (dmi_u64_to_unit(r.v[0], r.v[1]) < q) out[c++] = (uint32_t)i;
        if (i + 1 < l->n && dmi_u64_to_unit(r.v[2], r.v[3]) < q) out[c++] = (uint32_t)(i + 1);
    }
    *count = c;
}

/* ------------------------------------------------------------------ batches */

dm_status dmi_loader_fill(const dmi_loader *l, dmb_backend *be, dmi_bert_acts *a, const uint32_t *idx, size_t B,
                          size_t T, const float *weights)
{
    if (B > a->max_B || T > a->max_T)
        return dmi_fail(DM_ERR_INTERNAL, "batch %zu x %zu exceeds the activations (%zu x %zu)", B, T, a->max_B,
                        a->max_T);
    dmi_bert_inputs in = dmi_bert_inputs_host(a);
    const dm_encodings_flat *e = l->enc;
    for (size_t b = 0; b < B; b++) {
        size_t row = idx[b], at = e->row_offsets[row], len = e->row_offsets[row + 1] - at;
        int32_t *ids = in.ids + b * T, *types = in.types + b * T;
        float *mask = in.key_mask + b * T;
        size_t real = len < T ? len : T;
        memcpy(ids, e->ids + at, real * sizeof *ids);
        memcpy(types, e->type_ids + at, real * sizeof *types);
        for (size_t t = 0; t < real; t++) mask[t] = 1.0f;
        for (size_t t = real; t < T; t++) ids[t] = l->pad_id, types[t] = 0, mask[t] = 0.0f;
        in.labels[b] = l->labels ? l->labels[row] : -1;
        in.weights[b] = weights ? weights[b] : 1.0f;
    }
    return dmi_bert_inputs_upload(be, a);
}
