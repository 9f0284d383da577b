/*
 * dedup_impl.h — the duplicate engine of lib/data shared by its files:
 * dedup_lsh.c runs it (keys, exact groups, MinHash LSH, verification,
 * clusters), dedup.c builds the operations on it (dm_dataset_dedup, leakage,
 * conflicts) and checks the options, dedup_norm.c normalises the texts it
 * compares (ops.h).
 */
#ifndef DM_DATA_DEDUP_IMPL_H
#define DM_DATA_DEDUP_IMPL_H

#include "ops.h"

typedef struct dd_pair {
    uint32_t a, b;  /* rows considered, a < b */
    double jaccard; /* exact (verify) or MinHash estimate */
} dd_pair;

typedef struct dd_state {
    dm_dedup_options o;
    const dm_dataset *ds;
    size_t m;           /* rows considered */
    const size_t *rows; /* their dataset rows (NULL: 0 .. m-1) */
    char **keys;
    size_t *lens;
    size_t *first;      /* per row: the first row with the same key */
    uint64_t exact_rows;
    uint32_t *uniq;     /* first rows of the exact groups, ascending */
    size_t n_uniq;
    dd_pair *pairs;     /* near pairs kept, (a, b) ascending */
    size_t n_pairs;
    uint64_t candidates;
    size_t *cluster;    /* per row: smallest row of its cluster */
    uint64_t near_rows;
} dd_state;

static inline size_t ds_row(const dd_state *s, size_t i) { return s->rows ? s->rows[i] : i; }

/* Copies IN (NULL: defaults) into O, checks every field and fills bands and
 * rows_per_band. FN names the caller in messages. */
dm_status dmi_dedup_resolve_options(const dm_dedup_options *in, const char *fn, dm_dedup_options *o);

/* The whole pipeline over the M rows ROWS (NULL: every row) of DS under the
 * resolved options O: S gets keys' groups, near pairs and clusters. FN names
 * the caller in messages. Release S with dmi_dd_free, also on failure. */
dm_status dmi_dd_run(dd_state *s, const dm_dataset *ds, const size_t *rows, size_t m, const dm_dedup_options *o,
                     const char *fn);
void dmi_dd_free(dd_state *s);

#endif
