/*
 * dataset_internal.h — what other parts of the library (and the tests and
 * fuzz targets) may use of a dm_dataset beyond the public API: every column
 * of the file as strings, the columns chosen for text / pair / label / id,
 * where each row came from, and loading from memory.
 */
#ifndef DM_DATA_DATASET_INTERNAL_H
#define DM_DATA_DATASET_INTERNAL_H

#include "../core/core.h"

#include <stdbool.h>
#include <stddef.h>

/* Reads a dataset from LEN bytes at DATA (DATA may be NULL when LEN is 0).
 * FORMAT: DM_FORMAT_AUTO takes opts->format, and when that is AUTO too, the
 * format from NAME's extension. NAME (may be NULL: "<memory>") names the
 * input in messages. Otherwise as dm_dataset_load. */
dm_status dmi_dataset_load_memory(const char *data, size_t len, dm_file_format format,
                                  const dm_dataset_options *opts, const char *name, dm_dataset **out);

/* The columns of the file, in file order (JSONL: keys in first-seen order). */
size_t dmi_dataset_num_columns(const dm_dataset *ds);
/* Column COL's name (NUL-terminated), or NULL when COL is out of range. */
const char *dmi_dataset_column_name(const dm_dataset *ds, size_t col);
/* The cell at ROW, COL as stored (after U+FFFD replacement; labels not
 * trimmed): NUL-terminated, *LEN bytes (LEN may be NULL). A missing value
 * (JSONL null or absent key) gives "" and *MISSING true; CSV and TSV cells are
 * never missing. NULL when out of range. */
const char *dmi_dataset_cell(const dm_dataset *ds, size_t row, size_t col, size_t *len, bool *missing);

typedef enum dmi_dataset_role {
    DMI_ROLE_TEXT,
    DMI_ROLE_PAIR,
    DMI_ROLE_LABEL,
    DMI_ROLE_ID,
    DMI_ROLE_GROUP
} dmi_dataset_role;
/* The column used for ROLE, or -1 when there is none (no pair or label
 * column; ids that are row numbers). */
ptrdiff_t dmi_dataset_role_column(const dm_dataset *ds, dmi_dataset_role role);

/* DS as dm_dataset_write would write it in FORMAT (CSV, TSV or JSONL), into
 * a malloc'd buffer (*OUT, *LEN bytes, NUL-terminated). NAME names the output
 * in messages. */
dm_status dmi_dataset_serialize(const dm_dataset *ds, dm_file_format format, const char *name, char **out,
                                size_t *len);

/* The line of the file where ROW starts (1-based), or 0 for a dataset made
 * from memory texts or ROW out of range. */
size_t dmi_dataset_row_line(const dm_dataset *ds, size_t row);

#endif
