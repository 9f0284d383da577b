/*
 * dataset.c — dm_dataset: options, loading a file (mapped, not copied) or
 * memory, choosing the text / pair / label / id columns, memory texts, and
 * the accessors.
 */
#include "dataset_impl.h"
#include "../privacy/encrypt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

DM_API void dm_dataset_options_default(dm_dataset_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->format = DM_FORMAT_AUTO;
    opts->invalid_utf8 = DM_UTF8_ERROR;
    opts->bad_rows = DM_BAD_ROWS_FAIL;
}

static dm_status resolve_options(const dm_dataset_options *in, dm_dataset_options *out)
{
    dm_dataset_options_default(out);
    if (!in) return DM_OK;
    dm_status st = dmi_copy_options(out, sizeof *out, in, "dm_dataset_options");
    if (st) return st;
    if ((unsigned)out->format > DM_FORMAT_JSONL)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_options.format: unknown format %d", (int)out->format);
    if ((unsigned)out->invalid_utf8 > DM_UTF8_SKIP_ROW)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_options.invalid_utf8: unknown policy %d",
                        (int)out->invalid_utf8);
    if ((unsigned)out->bad_rows > DM_BAD_ROWS_SKIP)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_options.bad_rows: unknown policy %d",
                        (int)out->bad_rows);
    if (!out->labels && out->n_labels)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_options: n_labels is %zu but labels is NULL",
                        out->n_labels);
    return DM_OK;
}

/* The format that NAME's extension says, or DM_FORMAT_AUTO when unknown. An
 * encrypted file's ".enc" is passed over: data.csv.enc is CSV. */
static dm_file_format format_from_name(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    size_t n = dot ? strlen(dot) : 0;
    if (dot && strcasecmp(dot, ".enc") == 0) {
        const char *end = dot;
        while (dot > base && dot[-1] != '.') dot--;
        dot = dot > base ? dot - 1 : NULL;
        n = dot ? (size_t)(end - dot) : 0;
    }
    if (!dot) return DM_FORMAT_AUTO;
    static const struct {
        const char *ext;
        dm_file_format format;
    } known[] = {{".csv", DM_FORMAT_CSV},     {".tsv", DM_FORMAT_TSV},      {".tab", DM_FORMAT_TSV},
                 {".jsonl", DM_FORMAT_JSONL}, {".ndjson", DM_FORMAT_JSONL}, {".json", DM_FORMAT_JSONL}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].ext) == n && strncasecmp(dot, known[i].ext, n) == 0) return known[i].format;
    return DM_FORMAT_AUTO;
}

static dm_status choose_format(dm_file_format given, const char *name, dm_file_format *format)
{
    *format = given != DM_FORMAT_AUTO ? given : format_from_name(name);
    if (*format != DM_FORMAT_AUTO) return DM_OK;
    return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                    "%s: cannot tell the format from the name (known extensions: .csv, .tsv, .tab, .jsonl, "
                    ".ndjson, .json); set dm_dataset_options.format",
                    name);
}

/* ------------------------------------------------------------ columns */

/* "a", "b", ... for a message, cut to fit CAP. */
static void list_columns(const dmi_table *t, char *buf, size_t cap)
{
    size_t at = 0;
    snprintf(buf, cap, "none");
    for (size_t i = 0; i < t->n_cols; i++) {
        int n = snprintf(buf + at, cap - at, "%s\"%s\"", i ? ", " : "", dmi_table_str(t, t->names[i]));
        if (n < 0 || (size_t)n >= cap - at) {
            snprintf(buf + (at < cap - 8 ? at : cap - 8), 8, ", ...");
            return;
        }
        at += (size_t)n;
    }
}

/* The index of the column named NAME: -1 when absent. A name that two columns
 * share fails: taking either would be a guess. */
static dm_status find_column(const dmi_table *t, const char *src, const char *name, ptrdiff_t *col)
{
    *col = -1;
    size_t len = strlen(name);
    for (size_t i = 0; i < t->n_cols; i++) {
        if (t->names[i].len != len || memcmp(dmi_table_str(t, t->names[i]), name, len) != 0) continue;
        if (*col >= 0)
            return dmi_fail(DM_ERR_PARSE, "%s: column \"%s\" appears twice (columns %td and %zu)", src, name,
                            *col + 1, i + 1);
        *col = (ptrdiff_t)i;
    }
    return DM_OK;
}

static dm_status no_such_column(const dmi_table *t, const char *src, const char *what, const char *name)
{
    char cols[700];
    list_columns(t, cols, sizeof cols);
    return dmi_fail(DM_ERR_NOT_FOUND, "%s: no column \"%s\" (dm_dataset_options.%s); the columns are: %s", src, name,
                    what, cols);
}

/* A column named in the options: it must exist. */
static dm_status named_column(const dmi_table *t, const char *src, const char *what, const char *name, ptrdiff_t *col)
{
    dm_status st = find_column(t, src, name, col);
    if (!st && *col < 0) st = no_such_column(t, src, what, name);
    return st;
}

static dm_status choose_text_column(dm_dataset *ds, const dm_dataset_options *o, const char *src)
{
    if (o->text_column) return named_column(&ds->table, src, "text_column", o->text_column, &ds->text_col);
    static const char *const defaults[] = {"sentence", "text", "review"};
    for (size_t i = 0; i < 3; i++) {
        dm_status st = find_column(&ds->table, src, defaults[i], &ds->text_col);
        if (st || ds->text_col >= 0) return st;
    }
    char cols[700];
    list_columns(&ds->table, cols, sizeof cols);
    return dmi_fail(DM_ERR_NOT_FOUND,
                    "%s: no text column: none of \"sentence\", \"text\", \"review\" is present; set "
                    "dm_dataset_options.text_column to one of the columns: %s",
                    src, cols);
}

/* NAME: NULL = DEFAULT_NAME when present, "" = none, else must exist. */
static dm_status choose_optional_column(const dmi_table *t, const char *src, const char *what, const char *name,
                                        const char *default_name, ptrdiff_t *col)
{
    *col = -1;
    if (!name) return default_name ? find_column(t, src, default_name, col) : DM_OK;
    if (!name[0]) return DM_OK;
    return named_column(t, src, what, name, col);
}

static dm_status choose_columns(dm_dataset *ds, const dm_dataset_options *o, const char *src)
{
    const dmi_table *t = &ds->table;
    dm_status st = choose_text_column(ds, o, src);
    if (!st) st = choose_optional_column(t, src, "pair_column", o->pair_column, NULL, &ds->pair_col);
    if (!st) st = choose_optional_column(t, src, "label_column", o->label_column, "label", &ds->label_col);
    if (!st) st = choose_optional_column(t, src, "id_column", o->id_column, "id", &ds->id_col);
    if (!st) st = choose_optional_column(t, src, "group_column", o->group_column, NULL, &ds->group_col);
    if (!st && o->require_labels && ds->label_col < 0) {
        char cols[700];
        list_columns(t, cols, sizeof cols);
        st = o->label_column && !o->label_column[0]
                 ? dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: require_labels is set but label_column is \"\" (no labels)",
                            src)
                 : dmi_fail(DM_ERR_NOT_FOUND,
                            "%s: require_labels is set but there is no \"label\" column; the columns are: %s", src,
                            cols);
    }
    return st;
}

void dmi_dataset_describe_cell(const dm_dataset *ds, const char *name, size_t row, size_t col, char *buf, size_t cap)
{
    const dmi_table *t = &ds->table;
    const char *column = dmi_table_str(t, t->names[col]);
    if (ds->from_texts) snprintf(buf, cap, "%s: %ss[%zu]", name, column, row);
    else snprintf(buf, cap, "%s: line %zu, column \"%.120s\"", name, t->lines[row], column);
}

/* Row numbers as ids, for files without an id column. */
static dm_status number_rows(dm_dataset *ds)
{
    dmi_table *t = &ds->table;
    ds->row_ids = dmi_malloc((t->n_rows ? t->n_rows : 1) * sizeof *ds->row_ids);
    if (!ds->row_ids) return DM_ERR_NO_MEMORY;
    for (size_t r = 0; r < t->n_rows; r++) {
        char num[24];
        int n = snprintf(num, sizeof num, "%zu", t->record_numbers[r]);
        dmi_cell c;
        dm_status st = dmi_table_append(t, num, (size_t)n, &c);
        if (st) return st;
        ds->row_ids[r] = c.off;
    }
    return DM_OK;
}

/* Everything after reading: columns, labels, ids. Frees DS on failure. */
static dm_status finish(dm_dataset *ds, const dm_dataset_options *o, const char *src, dm_dataset **out)
{
    dm_status st = choose_columns(ds, o, src);
    if (!st) st = dmi_dataset_assign_labels(ds, o, src);
    if (!st && ds->id_col < 0) st = number_rows(ds);
    if (st) {
        dm_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DM_OK;
}

static dm_dataset *new_dataset(void)
{
    dm_dataset *ds = dmi_calloc(1, sizeof *ds);
    if (ds) ds->text_col = ds->pair_col = ds->label_col = ds->id_col = ds->group_col = -1;
    return ds;
}

/* -------------------------------------------------------------- loading */

static dm_status load(const char *data, size_t len, dm_file_format format, const dm_dataset_options *o,
                      const char *name, bool mapped, dm_dataset **out)
{
    dmi_read_options ro = {.name = name, .invalid_utf8 = o->invalid_utf8, .bad_rows = o->bad_rows, .mapped = mapped};
    dm_dataset *ds = new_dataset();
    if (!ds) return DM_ERR_NO_MEMORY;
    if (!data) data = ""; /* LEN is 0: keep pointer arithmetic defined */
    dm_status st = format == DM_FORMAT_JSONL ? dmi_read_jsonl(data, len, &ro, &ds->table)
                                             : dmi_read_delimited(data, len, format == DM_FORMAT_TSV ? '\t' : ',',
                                                                  format == DM_FORMAT_CSV, &ro, &ds->table);
    if (st) {
        dm_dataset_free(ds);
        return st;
    }
    return finish(ds, o, name, out);
}

dm_status dmi_dataset_load_memory(const char *data, size_t len, dm_file_format format, const dm_dataset_options *opts,
                                  const char *name, dm_dataset **out)
{
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_dataset_load_memory: out is NULL");
    if (!data && len) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_dataset_load_memory: data is NULL");
    if (!name) name = "<memory>";
    dm_dataset_options o;
    dm_status st = resolve_options(opts, &o);
    if (!st) st = choose_format(format != DM_FORMAT_AUTO ? format : o.format, name, &format);
    return st ? st : load(data, len, format, &o, name, false, out);
}

static dm_status needs_key(const char *path)
{
    return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                    "%s: the file is encrypted (it starts with \"DMENC1\"): it needs its key "
                    "(dm_dataset_options.key, read with dm_read_key_file)",
                    path);
}

DM_API dm_status dm_dataset_load(const char *path, const dm_dataset_options *opts, dm_dataset **out)
{
    if (!path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_load: path is NULL");
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_load: out is NULL");
    dm_dataset_options o;
    dm_file_format format;
    dm_status st = resolve_options(opts, &o);
    if (!st) st = choose_format(o.format, path, &format);
    char *data = NULL;
    size_t len = 0;
    bool mapped = false;
    if (st == DM_ERR_INVALID_ARGUMENT && !o.key && dmi_is_encrypted_path(path)) return needs_key(path);
    if (!st) st = dmi_map_file(path, true, &data, &len, &mapped);
    if (st) return st;
    if (o.key) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        st = dmi_decrypt_data("dm_dataset_load", path, data, len, o.key, &plain, &plain_len);
        dmi_unmap_file(data, len, mapped);
        if (st) return st;
        st = load((const char *)plain, plain_len, format, &o, path, false, out);
        dmi_free_plaintext(plain, plain_len);
        return st;
    }
    if (dmi_is_encrypted_data(data, len)) {
        dmi_unmap_file(data, len, mapped);
        return needs_key(path);
    }
    if (mapped) madvise(data, len, MADV_SEQUENTIAL);
    st = load(data, len, format, &o, path, mapped, out);
    dmi_unmap_file(data, len, mapped);
    return st;
}

/* ------------------------------------------------------ memory texts */

static dm_status add_memory_cell(dm_dataset *ds, const char *what, size_t i, const char *s, size_t len,
                                 dm_invalid_utf8 policy, dmi_cell *cell)
{
    size_t bad_at = 0;
    dm_status st = dmi_table_append(&ds->table, s, len, cell);
    if (!st) st = dmi_table_check_utf8(&ds->table, cell, policy, &bad_at);
    if (st == DM_ERR_UTF8)
        return dmi_fail(DM_ERR_UTF8, "dm_dataset_from_texts: %s[%zu]: invalid UTF-8 at byte offset %zu (byte 0x%02X)", what,
                        i, bad_at, (unsigned char)s[bad_at]);
    return st;
}

static dm_status add_memory_row(dm_dataset *ds, size_t i, const char *const *texts, const size_t *lens,
                                const char *const *pairs, const size_t *pair_lens, const char *const *labels,
                                dm_invalid_utf8 policy)
{
    dmi_cell cells[3];
    size_t n = 0;
    if (!texts[i]) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_from_texts: texts[%zu] is NULL", i);
    dm_status st = add_memory_cell(ds, "text", i, texts[i], lens ? lens[i] : strlen(texts[i]), policy, &cells[n++]);
    if (!st && pairs) {
        if (!pairs[i]) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_from_texts: pairs[%zu] is NULL", i);
        st = add_memory_cell(ds, "pair", i, pairs[i], pair_lens ? pair_lens[i] : strlen(pairs[i]), policy,
                             &cells[n++]);
    }
    if (!st && labels) {
        if (labels[i]) st = add_memory_cell(ds, "label", i, labels[i], strlen(labels[i]), policy, &cells[n]);
        else cells[n] = (dmi_cell){0, DMI_CELL_MISSING};
        n++;
    }
    return st ? st : dmi_table_add_row(&ds->table, cells, 0, i + 1);
}

static dm_status add_memory_columns(dm_dataset *ds, bool pairs, bool labels)
{
    dm_status st = dmi_table_add_column(&ds->table, "text", 4);
    if (!st && pairs) st = dmi_table_add_column(&ds->table, "pair", 4);
    if (!st && labels) st = dmi_table_add_column(&ds->table, "label", 5);
    return st;
}

DM_API dm_status dm_dataset_from_texts(size_t n, const char *const *texts, const size_t *lens,
                                       const char *const *pairs, const size_t *pair_lens, const char *const *labels,
                                       const dm_dataset_options *opts, dm_dataset **out)
{
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_from_texts: out is NULL");
    if (n && !texts) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_from_texts: texts is NULL");
    dm_dataset_options o;
    dm_status st = resolve_options(opts, &o);
    if (st) return st;
    /* Only these options apply: the columns are the ones made here. */
    o.text_column = "text";
    o.pair_column = pairs ? "pair" : "";
    o.label_column = labels ? "label" : "";
    o.id_column = "";
    o.group_column = NULL;
    /* Rows given in memory are not skipped: a bad one is an error. */
    if (o.invalid_utf8 == DM_UTF8_SKIP_ROW) o.invalid_utf8 = DM_UTF8_ERROR;
    dm_dataset *ds = new_dataset();
    if (!ds) return DM_ERR_NO_MEMORY;
    ds->from_texts = true;
    st = add_memory_columns(ds, pairs != NULL, labels != NULL);
    for (size_t i = 0; i < n && !st; i++)
        st = add_memory_row(ds, i, texts, lens, pairs, pair_lens, labels, o.invalid_utf8);
    if (st) {
        dm_dataset_free(ds);
        return st;
    }
    return finish(ds, &o, "dm_dataset_from_texts", out);
}

DM_API void dm_dataset_free(dm_dataset *ds)
{
    if (!ds) return;
    dmi_table_free(&ds->table);
    dmi_strmap_free(&ds->label_set);
    free(ds->labels);
    free(ds->row_ids);
    free(ds);
}

/* ------------------------------------------------------------ accessors */

DM_API size_t dm_dataset_size(const dm_dataset *ds) { return ds ? ds->table.n_rows : 0; }

DM_API size_t dm_dataset_skipped(const dm_dataset *ds) { return ds ? ds->table.skipped : 0; }

/* Row I's cell in column COL (which may be -1: none). */
static const char *role_cell(const dm_dataset *ds, size_t i, ptrdiff_t col, size_t *len)
{
    if (!ds || col < 0 || i >= ds->table.n_rows) {
        if (len) *len = 0;
        return NULL;
    }
    dmi_cell c = dmi_table_cell(&ds->table, i, (size_t)col);
    bool missing = c.len == DMI_CELL_MISSING;
    if (len) *len = missing ? 0 : c.len;
    return missing ? "" : dmi_table_str(&ds->table, c);
}

DM_API const char *dm_dataset_text(const dm_dataset *ds, size_t i, size_t *len)
{
    return role_cell(ds, i, ds ? ds->text_col : -1, len);
}

DM_API const char *dm_dataset_pair(const dm_dataset *ds, size_t i, size_t *len)
{
    return role_cell(ds, i, ds ? ds->pair_col : -1, len);
}

DM_API int32_t dm_dataset_label(const dm_dataset *ds, size_t i)
{
    return ds && i < ds->table.n_rows ? ds->labels[i] : -1;
}

DM_API const char *dm_dataset_id(const dm_dataset *ds, size_t i)
{
    if (!ds || i >= ds->table.n_rows) return NULL;
    if (ds->id_col >= 0) return role_cell(ds, i, ds->id_col, NULL);
    return ds->table.arena + ds->row_ids[i];
}

DM_API size_t dm_dataset_num_labels(const dm_dataset *ds) { return ds ? ds->label_set.count : 0; }

DM_API const char *dm_dataset_label_name(const dm_dataset *ds, int32_t id)
{
    if (!ds || id < 0 || (size_t)id >= ds->label_set.count) return NULL;
    return dmi_strmap_key(&ds->label_set, (size_t)id);
}

DM_API int32_t dm_dataset_label_id(const dm_dataset *ds, const char *name)
{
    if (!ds || !name) return -1;
    size_t i = dmi_strmap_find(&ds->label_set, name, strlen(name));
    return i == SIZE_MAX ? -1 : (int32_t)i;
}

DM_API const char *dm_dataset_group(const dm_dataset *ds, size_t i, size_t *len)
{
    return role_cell(ds, i, ds ? ds->group_col : -1, len);
}

DM_API dm_status dm_dataset_skipped_row(const dm_dataset *ds, size_t i, size_t *line, const char **reason)
{
    if (!ds) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_skipped_row: ds is NULL");
    if (i >= ds->table.skipped)
        return dmi_fail(DM_ERR_RANGE, "dm_dataset_skipped_row: index %zu out of range (%zu rows were skipped)", i,
                        ds->table.skipped);
    if (line) *line = ds->table.skips[i].line;
    if (reason) *reason = ds->table.skips[i].reason;
    return DM_OK;
}

/* ------------------------------------------------------------ internals */

size_t dmi_dataset_num_columns(const dm_dataset *ds) { return ds ? ds->table.n_cols : 0; }

const char *dmi_dataset_column_name(const dm_dataset *ds, size_t col)
{
    if (!ds || col >= ds->table.n_cols) return NULL;
    return dmi_table_str(&ds->table, ds->table.names[col]);
}

const char *dmi_dataset_cell(const dm_dataset *ds, size_t row, size_t col, size_t *len, bool *missing)
{
    if (!ds || row >= ds->table.n_rows || col >= ds->table.n_cols) {
        if (len) *len = 0;
        if (missing) *missing = true;
        return NULL;
    }
    dmi_cell c = dmi_table_cell(&ds->table, row, col);
    if (missing) *missing = c.len == DMI_CELL_MISSING;
    return role_cell(ds, row, (ptrdiff_t)col, len);
}

ptrdiff_t dmi_dataset_role_column(const dm_dataset *ds, dmi_dataset_role role)
{
    if (!ds) return -1;
    switch (role) {
    case DMI_ROLE_TEXT: return ds->text_col;
    case DMI_ROLE_PAIR: return ds->pair_col;
    case DMI_ROLE_LABEL: return ds->label_col;
    case DMI_ROLE_ID: return ds->id_col;
    case DMI_ROLE_GROUP: return ds->group_col;
    }
    return -1;
}

size_t dmi_dataset_row_line(const dm_dataset *ds, size_t row)
{
    if (!ds || ds->from_texts || row >= ds->table.n_rows) return 0;
    return ds->table.lines[row];
}
