/*
 * derive.c — datasets made from datasets (the base of every operation:
 * subsets, cleaned texts, augmented rows) and writing a dataset back to
 * CSV/TSV/JSONL.
 */
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------- derived datasets */

/* Where SRC's column C went in a derived dataset: one further right when an
 * id column was put first. */
static size_t shifted(const dm_dataset *dst, const dm_dataset *src, ptrdiff_t c)
{
    return (size_t)c + (dst->table.n_cols > src->table.n_cols && src->id_col < 0 ? 1 : 0);
}

static ptrdiff_t map_role(const dm_dataset *dst, const dm_dataset *src, ptrdiff_t c)
{
    return c < 0 ? -1 : (ptrdiff_t)shifted(dst, src, c);
}

static dm_status copy_label_set(dm_dataset *dst, const dm_dataset *src)
{
    for (size_t i = 0; i < src->label_set.count; i++) {
        size_t idx;
        dm_status st = dmi_strmap_add(&dst->label_set, dmi_strmap_key(&src->label_set, i),
                                      dmi_strmap_key_len(&src->label_set, i), &idx);
        if (st) return st;
    }
    return DM_OK;
}

static dm_status add_columns(dm_dataset *dst, const dm_dataset *src, size_t n_extra, const char *const *extra_names)
{
    const dmi_table *s = &src->table;
    dm_status st = DM_OK;
    if (src->id_col < 0) st = dmi_table_add_column(&dst->table, "id", 2);
    for (size_t c = 0; c < s->n_cols && !st; c++)
        st = dmi_table_add_column(&dst->table, dmi_table_str(s, s->names[c]), s->names[c].len);
    for (size_t e = 0; e < n_extra && !st; e++) {
        if (!extra_names || !extra_names[e])
            return dmi_fail(DM_ERR_INTERNAL, "dmi_derive_begin: extra column %zu has no name", e);
        st = dmi_table_add_column(&dst->table, extra_names[e], strlen(extra_names[e]));
    }
    return st;
}

dm_status dmi_derive_begin(const dm_dataset *src, size_t n_extra, const char *const *extra_names, dm_dataset **out)
{
    if (!src || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_derive_begin: NULL argument");
    dm_dataset *d = dmi_calloc(1, sizeof *d);
    if (!d) return DM_ERR_NO_MEMORY;
    d->from_texts = src->from_texts;
    dm_status st = add_columns(d, src, n_extra, extra_names);
    if (!st) st = copy_label_set(d, src);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    d->text_col = map_role(d, src, src->text_col);
    d->pair_col = map_role(d, src, src->pair_col);
    d->label_col = map_role(d, src, src->label_col);
    d->group_col = map_role(d, src, src->group_col);
    d->id_col = src->id_col >= 0 ? map_role(d, src, src->id_col) : 0;
    *out = d;
    return DM_OK;
}

static dm_status push_label(dm_dataset *d, int32_t label)
{
    if (!dmi_grow(&d->labels, &d->labels_cap, d->table.n_rows + 1, sizeof *d->labels)) return DM_ERR_NO_MEMORY;
    d->labels[d->table.n_rows] = label;
    return DM_OK;
}

/* Copies bytes into DST's arena; a missing cell stays missing. */
static dm_status put(dm_dataset *dst, const char *s, size_t len, bool missing, dmi_cell *cell)
{
    if (missing) {
        *cell = (dmi_cell){0, DMI_CELL_MISSING};
        return DM_OK;
    }
    return dmi_table_append(&dst->table, s, len, cell);
}

/* SRC's cell (ROW, C) copied into DST. Copying goes through a temporary: DST's
 * arena may move while appending, SRC's does not (it is another dataset). */
static dm_status copy_cell(dm_dataset *dst, const dm_dataset *src, size_t row, size_t c, dmi_cell *cell)
{
    dmi_cell sc = dmi_table_cell(&src->table, row, c);
    if (sc.len == DMI_CELL_MISSING) return put(dst, NULL, 0, true, cell);
    return put(dst, dmi_table_str(&src->table, sc), sc.len, false, cell);
}

dm_status dmi_derive_row(dm_dataset *dst, const dm_dataset *src, size_t row, const char *text, size_t text_len,
                         const char *pair, size_t pair_len, const char *const *extra, const char *new_id)
{
    if (row >= src->table.n_rows)
        return dmi_fail(DM_ERR_RANGE, "row %zu out of range (the dataset has %zu rows)", row, src->table.n_rows);
    size_t n_cols = dst->table.n_cols, n_src = src->table.n_cols;
    size_t first = src->id_col < 0 ? 1 : 0;
    dmi_cell stack[32], *cells = n_cols <= 32 ? stack : dmi_malloc(n_cols * sizeof *cells);
    if (!cells) return DM_ERR_NO_MEMORY;
    dm_status st = DM_OK;
    if (first) {
        const char *id = new_id ? new_id : dm_dataset_id(src, row);
        st = put(dst, id, strlen(id), false, &cells[0]);
    }
    for (size_t c = 0; c < n_src && !st; c++) {
        size_t dc = c + first;
        if ((ptrdiff_t)c == src->text_col && text) st = put(dst, text, text_len, false, &cells[dc]);
        else if ((ptrdiff_t)c == src->pair_col && pair) st = put(dst, pair, pair_len, false, &cells[dc]);
        else if ((ptrdiff_t)c == src->id_col && new_id) st = put(dst, new_id, strlen(new_id), false, &cells[dc]);
        else st = copy_cell(dst, src, row, c, &cells[dc]);
    }
    for (size_t e = first + n_src; e < n_cols && !st; e++) {
        const char *v = extra ? extra[e - first - n_src] : NULL;
        st = put(dst, v ? v : "", v ? strlen(v) : 0, false, &cells[e]);
    }
    if (!st) st = push_label(dst, src->labels[row]);
    size_t line = src->from_texts ? 0 : src->table.lines[row];
    if (!st) st = dmi_table_add_row(&dst->table, cells, line, src->table.record_numbers[row]);
    if (cells != stack) free(cells);
    return st;
}

dm_status dmi_derive_rows(dm_dataset *dst, const dm_dataset *src, const size_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dm_status st = dmi_derive_row(dst, src, rows[i], NULL, 0, NULL, 0, NULL, NULL);
        if (st) return st;
    }
    return DM_OK;
}

DM_API dm_status dm_dataset_select(const dm_dataset *ds, const size_t *rows, size_t n, dm_dataset **out)
{
    if (!ds || !out || (n && !rows)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_select: NULL argument");
    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= ds->table.n_rows)
            return dmi_fail(DM_ERR_RANGE, "dm_dataset_select: rows[%zu] = %zu is out of range (the dataset has %zu rows)",
                            i, rows[i], ds->table.n_rows);
    dm_dataset *d;
    dm_status st = dmi_derive_begin(ds, 0, NULL, &d);
    if (!st) st = dmi_derive_rows(d, ds, rows, n);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    return DM_OK;
}

/* ---------------------------------------------------------------- writing */

/* Quoting also protects what a reader would otherwise drop: spaces at the
 * ends, a leading byte order mark, and the empty value of a one-column row
 * (an empty line is skipped on reading). */
static bool csv_needs_quotes(const char *s, size_t len, bool only_column)
{
    if (len == 0) return only_column;
    if (s[0] == ' ' || s[len - 1] == ' ' || s[0] == '\t' || s[len - 1] == '\t') return true;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) return true;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') return true;
    return false;
}

static void csv_field(dmi_buf *b, const char *s, size_t len, bool only_column)
{
    if (!csv_needs_quotes(s, len, only_column)) {
        dmi_buf_append(b, s, len);
        return;
    }
    dmi_buf_append(b, "\"", 1);
    for (const char *q; (q = memchr(s, '"', len)); len -= (size_t)(q - s) + 1, s = q + 1) {
        dmi_buf_append(b, s, (size_t)(q - s) + 1);
        dmi_buf_append(b, "\"", 1);
    }
    dmi_buf_append(b, s, len);
    dmi_buf_append(b, "\"", 1);
}

static dm_status tsv_field(dmi_buf *b, const char *s, size_t len, const char *path, size_t row, const char *column,
                           bool only_column)
{
    if (len == 0 && only_column)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: row %zu, column \"%.120s\": an empty value in a one-column file would be an empty line, "
                        "which readers skip (write CSV or JSONL instead)",
                        path, row + 1, column);
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 && row == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: the first column's name starts with a byte order mark, which TSV cannot carry", path);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
            return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                            "%s: row %zu, column \"%.120s\": the value holds a %s, which TSV cannot carry (write CSV "
                            "or JSONL instead)",
                            path, row + 1, column, s[i] == '\t' ? "TAB" : "line break");
    dmi_buf_append(b, s, len);
    return DM_OK;
}

/* The columns written: an id column first when ids are row numbers. */
typedef struct {
    const dm_dataset *ds;
    bool numbered; /* ids are row numbers: a generated "id" column first */
} writer;

static size_t writer_cols(const writer *w) { return w->ds->table.n_cols + (w->numbered ? 1 : 0); }

static const char *writer_name(const writer *w, size_t c)
{
    if (w->numbered) {
        if (c == 0) return "id";
        c--;
    }
    return dmi_table_str(&w->ds->table, w->ds->table.names[c]);
}

/* The value of written column C in ROW; *MISSING for JSONL nulls. */
static const char *writer_value(const writer *w, size_t row, size_t c, size_t *len, bool *missing)
{
    *missing = false;
    if (w->numbered) {
        if (c == 0) {
            const char *id = dm_dataset_id(w->ds, row);
            *len = strlen(id);
            return id;
        }
        c--;
    }
    return dmi_dataset_cell(w->ds, row, c, len, missing);
}

static dm_status write_delimited(const writer *w, char delim, const char *path, dmi_buf *b)
{
    size_t n = writer_cols(w);
    for (size_t r = 0; r <= w->ds->table.n_rows; r++) {
        for (size_t c = 0; c < n; c++) {
            if (c) dmi_buf_append(b, &delim, 1);
            size_t len = 0;
            bool missing = false;
            const char *v = r == 0 ? writer_name(w, c) : writer_value(w, r - 1, c, &len, &missing);
            if (r == 0) len = strlen(v);
            if (delim == ',') csv_field(b, v, len, n == 1);
            else {
                dm_status st = tsv_field(b, v, len, path, r == 0 ? 0 : r - 1, writer_name(w, c), n == 1);
                if (st) return st;
            }
        }
        dmi_buf_append(b, "\n", 1);
    }
    return DM_OK;
}

static void write_jsonl(const writer *w, dmi_buf *b)
{
    size_t n = writer_cols(w);
    for (size_t r = 0; r < w->ds->table.n_rows; r++) {
        dmi_buf_append(b, "{", 1);
        for (size_t c = 0; c < n; c++) {
            size_t len;
            bool missing;
            const char *v = writer_value(w, r, c, &len, &missing);
            if (c) dmi_buf_append(b, ",", 1);
            const char *name = writer_name(w, c);
            dmi_buf_json_string(b, name, strlen(name));
            dmi_buf_append(b, ":", 1);
            if (missing) dmi_buf_append(b, "null", 4);
            else dmi_buf_json_string(b, v, len);
        }
        dmi_buf_append(b, "}\n", 2);
    }
}

static dm_file_format format_of_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot) return DM_FORMAT_AUTO;
    if (!strcasecmp(dot, ".csv")) return DM_FORMAT_CSV;
    if (!strcasecmp(dot, ".tsv") || !strcasecmp(dot, ".tab")) return DM_FORMAT_TSV;
    if (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson") || !strcasecmp(dot, ".json"))
        return DM_FORMAT_JSONL;
    return DM_FORMAT_AUTO;
}

dm_status dmi_dataset_serialize(const dm_dataset *ds, dm_file_format format, const char *name, char **out,
                                size_t *len)
{
    if (format != DM_FORMAT_CSV && format != DM_FORMAT_TSV && format != DM_FORMAT_JSONL)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: unknown format %d", name, (int)format);
    writer w = {.ds = ds, .numbered = ds->id_col < 0};
    dmi_buf b = {0};
    dm_status st = DM_OK;
    if (format == DM_FORMAT_JSONL) write_jsonl(&w, &b);
    else st = write_delimited(&w, format == DM_FORMAT_TSV ? '\t' : ',', name, &b);
    if (st) {
        dmi_buf_free(&b);
        return st;
    }
    return dmi_buf_finish(&b, out, len);
}

DM_API dm_status dm_dataset_write(const dm_dataset *ds, const char *path, dm_file_format format)
{
    if (!ds || !path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_write: NULL argument");
    if ((unsigned)format > DM_FORMAT_JSONL)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_write: unknown format %d", (int)format);
    if (format == DM_FORMAT_AUTO) format = format_of_path(path);
    if (format == DM_FORMAT_AUTO)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: cannot tell the format from the name (known extensions: .csv, .tsv, .tab, .jsonl, "
                        ".ndjson, .json); pass a format",
                        path);
    char *data = NULL;
    size_t len = 0;
    dm_status st = dmi_dataset_serialize(ds, format, path, &data, &len);
    if (!st) st = dmi_write_file_atomic(path, data, len);
    free(data);
    return st;
}
