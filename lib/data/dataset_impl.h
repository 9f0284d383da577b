/*
 * dataset_impl.h — the layout of a dm_dataset, shared by the files of
 * lib/data only (other parts of the library use dataset_internal.h).
 */
#ifndef DM_DATA_DATASET_IMPL_H
#define DM_DATA_DATASET_IMPL_H

#include "dataset_internal.h"
#include "table.h"

struct dm_dataset {
    dmi_table table; /* every column, as read */
    ptrdiff_t text_col, pair_col, label_col, id_col, group_col; /* -1: none */
    bool from_texts; /* made by dm_dataset_from_texts: rows have no lines */
    int32_t *labels;     /* per row: label id or -1 */
    size_t labels_cap;   /* derived datasets grow LABELS row by row */
    dmi_strmap label_set; /* label names, key i = label id i */
    size_t *row_ids;     /* id_col < 0: per row, the arena offset of its number */
};

/* Gives every row its label id and builds the label set (fixed by
 * O->labels, else from the data: numeric order when every label is an
 * integer, byte order otherwise). NAME names the input in messages. */
dm_status dmi_dataset_assign_labels(dm_dataset *ds, const dm_dataset_options *o, const char *name);

/* "NAME: line L, column "C"" (or "NAME: labels[I]" for memory texts) for
 * messages about ROW's cell in column COL. */
void dmi_dataset_describe_cell(const dm_dataset *ds, const char *name, size_t row, size_t col, char *buf,
                               size_t cap);

#endif
