/*
 * table.h — what the readers of lib/data share (not used outside lib/data):
 * a table of string cells kept in one arena, a string -> index map, UTF-8
 * checks, and the three readers that fill a table from memory.
 *
 * Every cell is a (offset, length) pair into the table's arena, followed there
 * by a NUL byte, so that a cell can also be handed out as a C string. Offsets
 * (not pointers) keep cells valid while the arena grows.
 */
#ifndef DM_DATA_TABLE_H
#define DM_DATA_TABLE_H

#include "../core/buf.h"
#include "../core/core.h"
#include "../core/utf8.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length of a cell that has no value (JSONL null or an absent key). */
#define DMI_CELL_MISSING SIZE_MAX

typedef struct dmi_cell {
    size_t off;
    size_t len; /* DMI_CELL_MISSING: no value */
} dmi_cell;

typedef struct dmi_table {
    char *arena;
    size_t arena_len, arena_cap;
    size_t n_cols;
    dmi_cell *names; /* n_cols column names */
    size_t names_cap;
    size_t n_rows, rows_cap;
    dmi_cell *cells;        /* n_rows * n_cols, row-major */
    size_t cells_cap;       /* in cells */
    size_t *lines;          /* per row: the line of the file where it starts */
    size_t *record_numbers; /* per row: its 1-based number among the data records
                               of the file, skipped ones included */
    size_t skipped;
    struct dmi_skip {
        size_t line;
        char *reason;
    } *skips; /* `skipped` entries: where each skipped row starts and why */
    size_t skips_cap;
} dmi_table;

void dmi_table_free(dmi_table *t);

/* Appends LEN bytes and a NUL to the arena; *CELL (may be NULL) gets where. */
dm_status dmi_table_append(dmi_table *t, const void *bytes, size_t len, dmi_cell *cell);
/* Makes room for LEN more bytes (a hint for readers that know the input size). */
dm_status dmi_table_reserve(dmi_table *t, size_t len);

/* Adds a column named NAME (LEN bytes); rows already added must be none. */
dm_status dmi_table_add_column(dmi_table *t, const char *name, size_t len);
/* Records a skipped row starting at LINE and why (printf-style). */
dm_status dmi_table_skip(dmi_table *t, size_t line, const char *fmt, ...) DMI_PRINTF(3, 4);

/* Adds a row of n_cols CELLS (already in the arena). */
dm_status dmi_table_add_row(dmi_table *t, const dmi_cell *cells, size_t line, size_t record_number);

static inline const char *dmi_table_str(const dmi_table *t, dmi_cell c) { return t->arena + c.off; }
static inline dmi_cell dmi_table_cell(const dmi_table *t, size_t row, size_t col)
{
    return t->cells[row * t->n_cols + col];
}

/* ------------------------------------------------------------------ UTF-8 */

/* Appends S to the arena with each maximal invalid subpart (Unicode's
 * "substitution of maximal subparts", as the tokenizer does) replaced by
 * U+FFFD. */
dm_status dmi_table_append_replaced(dmi_table *t, const char *s, size_t len, dmi_cell *cell);

/* Checks the cell *CELL. Valid: DM_OK. Invalid under DM_UTF8_REPLACE: a
 * replaced copy is appended and *CELL points at it. Invalid under
 * DM_UTF8_ERROR: returns DM_ERR_UTF8 WITHOUT setting a message (the caller
 * knows the context) and *BAD_AT gets the offset of the first bad byte. */
dm_status dmi_table_check_utf8(dmi_table *t, dmi_cell *cell, dm_invalid_utf8 policy, size_t *bad_at);

/* ------------------------------------------------------- string -> index */

/* Keys (copied, NUL-terminated) get indices 0, 1, 2, ... in insertion order. */
typedef struct dmi_strmap {
    char *bytes;
    size_t bytes_len, bytes_cap;
    dmi_cell *keys;
    size_t count, keys_cap;
    size_t *slots; /* open addressing: key index + 1, 0 = empty */
    size_t n_slots;
} dmi_strmap;

void dmi_strmap_free(dmi_strmap *m);
/* The index of key S, or SIZE_MAX. */
size_t dmi_strmap_find(const dmi_strmap *m, const char *s, size_t len);
/* The index of key S, adding it when absent. */
dm_status dmi_strmap_add(dmi_strmap *m, const char *s, size_t len, size_t *index);
static inline const char *dmi_strmap_key(const dmi_strmap *m, size_t i) { return m->bytes + m->keys[i].off; }
static inline size_t dmi_strmap_key_len(const dmi_strmap *m, size_t i) { return m->keys[i].len; }

/* ---------------------------------------------------------------- readers */

typedef struct dmi_read_options {
    const char *name; /* for messages: the path, or a name for memory input */
    dm_invalid_utf8 invalid_utf8;
    dm_bad_rows bad_rows;
    bool mapped;      /* the input is a read-only file mapping: pages already
                         read may be given back (dmi_release_consumed) */
} dmi_read_options;

/* Lets the kernel drop the mapped input's pages before POS once another
 * 64 MiB has been read (*RELEASED: how far it has been released), so that a
 * large file is not held in memory twice: once mapped, once as cells. The
 * pages stay readable (they come back from the file). No-op unless
 * RO->mapped. */
void dmi_release_consumed(const dmi_read_options *ro, const char *data, size_t pos, size_t *released);

/* CSV (QUOTING: RFC 4180) or TSV (no quoting) with a header line. Fills T,
 * which must be zeroed. Fails on an empty file or one with no data rows. */
dm_status dmi_read_delimited(const char *data, size_t len, char delim, bool quoting,
                             const dmi_read_options *ro, dmi_table *t);

/* JSON Lines: one object per line, columns the union of keys. */
dm_status dmi_read_jsonl(const char *data, size_t len, const dmi_read_options *ro, dmi_table *t);

/* Length of a leading UTF-8 byte order mark (3 or 0). */
static inline size_t dmi_bom_len(const char *data, size_t len)
{
    return len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
                   (unsigned char)data[2] == 0xBF
               ? 3
               : 0;
}

#endif
