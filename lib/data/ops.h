/*
 * ops.h — what the dataset operations of lib/data share: building a derived
 * dataset row by row (derive.c), the duplicate clusters that splits and
 * profiles reuse (dedup.c) and the text normalisation of dedup and
 * conflicts; with them the growable buffers of lib/core/buf.h. Used by
 * lib/data and lib/privacy.
 */
#ifndef DM_DATA_OPS_H
#define DM_DATA_OPS_H

#include "dataset_impl.h"
#include "../core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------- derived datasets */

/* A new, empty dataset with SRC's columns (plus N_EXTRA new ones named
 * EXTRA_NAMES, after SRC's), roles, group column and label set. When SRC's
 * ids are row numbers, the new dataset gets a real "id" column (first) that
 * holds them, so ids survive. Add rows with dmi_derive_row; the dataset is
 * usable at once (there is no "end" step). */
dm_status dmi_derive_begin(const dm_dataset *src, size_t n_extra, const char *const *extra_names,
                           dm_dataset **out);

/* Appends a copy of SRC's row ROW to DST (made by dmi_derive_begin from SRC).
 * TEXT (TEXT_LEN bytes), when not NULL, replaces the text; PAIR likewise the
 * pair. EXTRA: N_EXTRA values for the extra columns (NULL array or NULL
 * entries: empty). NEW_ID, when not NULL, replaces the row's id. The label id
 * is copied. */
dm_status dmi_derive_row(dm_dataset *dst, const dm_dataset *src, size_t row, const char *text, size_t text_len,
                         const char *pair, size_t pair_len, const char *const *extra, const char *new_id);

/* Appends copies of the rows ROWS[0..N-1] (unchanged). */
dm_status dmi_derive_rows(dm_dataset *dst, const dm_dataset *src, const size_t *rows, size_t n);

/* ------------------------------------------------------------ duplicates */

/* The key dedup and conflicts compare: TEXT after NFKC, case folding
 * (utf8proc), whitespace runs collapsed to one space and trimmed. *OUT is
 * malloc'd (NUL-terminated, *OUT_LEN bytes). Invalid UTF-8 is compared as is. */
dm_status dmi_dedup_normalize(const char *text, size_t len, char **out, size_t *out_len);
/* The same through utf8proc_map on the whole text: the reference the fast
 * path above is tested against (and its fallback for invalid UTF-8). */
dm_status dmi_dedup_normalize_slow(const char *text, size_t len, char **out, size_t *out_len);

/* Duplicate clusters of DS under O (NULL: defaults): CLUSTER[i] (n rows) gets
 * the smallest row index of row I's cluster (I itself when it has no
 * duplicate). Counts (each may be NULL): *EXACT_ROWS rows that are exact
 * copies of an earlier row, *NEAR_ROWS rows removed as near copies (not
 * exact), *NEAR_PAIRS near-duplicate pairs found. */
dm_status dmi_dedup_clusters(const dm_dataset *ds, const dm_dedup_options *o, size_t *cluster,
                             uint64_t *exact_rows, uint64_t *near_rows, uint64_t *near_pairs);

#endif
