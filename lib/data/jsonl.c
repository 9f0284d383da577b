/*
 * jsonl.c — the JSON Lines reader: one JSON object per line (blank lines
 * skipped), parsed with Jansson. The columns are the union of the keys in the
 * order they are first seen; a row without a key (or with null) has a missing
 * value there. Values become strings: strings as they are, integers in
 * decimal, reals as the shortest text that reads back the same (Python's
 * repr: 0.1, 100.0, 1e+16), true/false as "true"/"false", arrays and objects
 * as compact JSON.
 *
 * Rows are first kept sparse (row, column, cell), because a key first seen on
 * line 1000 adds a column to the 999 rows before it; the table is filled in
 * at the end.
 */
#include "table.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sparse_cell {
    size_t col;
    dmi_cell cell;
} sparse_cell;

typedef struct jsonl_reader {
    const dmi_read_options *ro;
    dmi_table *t;
    dmi_strmap columns; /* key -> column */
    sparse_cell *cells;
    size_t n_cells, cells_cap;
    size_t *row_first; /* per row: its first entry in cells */
    size_t *row_line;
    size_t n_rows, rows_cap;
    dmi_table scratch; /* a line with bad UTF-8 replaced */
} jsonl_reader;

static void reader_free(jsonl_reader *jr)
{
    dmi_strmap_free(&jr->columns);
    free(jr->cells);
    free(jr->row_first);
    free(jr->row_line);
    dmi_table_free(&jr->scratch);
}

/* ------------------------------------------------------ values as strings */

/* Writes X as Python's repr(float) does: the shortest digits that read back
 * as X, in fixed notation when 1e-4 <= |X| < 1e16 (with ".0" when integral),
 * else as d.ddde+XX. OUT must hold 32 bytes. */
static void format_real(double x, char *out)
{
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    /* buf is [-]d[.ddd]e(+|-)XX; read its parts without trusting the locale's
     * decimal point. */
    char digits[24];
    size_t nd = 0;
    const char *s = buf;
    bool neg = *s == '-';
    if (neg) s++;
    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '0' && *s <= '9' && nd < sizeof digits - 1) digits[nd++] = *s;
    int exp = *s ? atoi(s + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';

    char *o = out;
    if (neg) *o++ = '-';
    if (exp < -4 || exp >= 16) {
        *o++ = digits[0];
        if (nd > 1) o += sprintf(o, ".%s", digits + 1);
        sprintf(o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        o += sprintf(o, "0.");
        for (int k = 0; k < -exp - 1; k++) *o++ = '0';
        sprintf(o, "%s", digits);
    } else {
        /* exp + 1 integer digits (padded with zeros), then the rest or ".0". */
        for (int k = 0; k <= exp; k++) *o++ = (size_t)k < nd ? digits[k] : '0';
        if ((size_t)exp + 1 < nd) sprintf(o, ".%s", digits + exp + 1);
        else sprintf(o, ".0");
    }
}

static dm_status value_text(jsonl_reader *jr, json_t *v, dmi_cell *cell)
{
    char buf[48];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return dmi_table_append(jr->t, json_string_value(v), json_string_length(v), cell);
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return dmi_table_append(jr->t, buf, strlen(buf), cell);
    case JSON_REAL:
        format_real(json_real_value(v), buf);
        return dmi_table_append(jr->t, buf, strlen(buf), cell);
    case JSON_TRUE: return dmi_table_append(jr->t, "true", 4, cell);
    case JSON_FALSE: return dmi_table_append(jr->t, "false", 5, cell);
    case JSON_NULL: *cell = (dmi_cell){0, DMI_CELL_MISSING}; return DM_OK;
    case JSON_OBJECT:
    case JSON_ARRAY: break;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory writing a JSON value as text");
    dm_status st = dmi_table_append(jr->t, text, strlen(text), cell);
    free(text);
    return st;
}

/* -------------------------------------------------------------- one line */

static dm_status add_entry(jsonl_reader *jr, size_t col, dmi_cell cell)
{
    if (!dmi_grow(&jr->cells, &jr->cells_cap, jr->n_cells + 1, sizeof *jr->cells)) return DM_ERR_NO_MEMORY;
    jr->cells[jr->n_cells++] = (sparse_cell){col, cell};
    return DM_OK;
}

static dm_status start_row(jsonl_reader *jr, size_t line)
{
    if (jr->n_rows == jr->rows_cap) {
        size_t cap = jr->rows_cap ? jr->rows_cap * 2 : 64;
        size_t *f = dmi_realloc(jr->row_first, cap * sizeof *f);
        if (!f) return DM_ERR_NO_MEMORY;
        jr->row_first = f;
        size_t *l = dmi_realloc(jr->row_line, cap * sizeof *l);
        if (!l) return DM_ERR_NO_MEMORY;
        jr->row_line = l;
        jr->rows_cap = cap;
    }
    jr->row_first[jr->n_rows] = jr->n_cells;
    jr->row_line[jr->n_rows++] = line;
    return DM_OK;
}

static dm_status add_object(jsonl_reader *jr, json_t *obj, size_t line)
{
    dm_status st = start_row(jr, line);
    const char *key;
    size_t key_len;
    json_t *value;
    json_object_keylen_foreach(obj, key, key_len, value)
    {
        size_t col;
        dmi_cell cell;
        if (!st) st = dmi_strmap_add(&jr->columns, key, key_len, &col);
        if (!st) st = value_text(jr, value, &cell);
        if (!st && cell.len != DMI_CELL_MISSING) st = add_entry(jr, col, cell);
        if (st) return st;
    }
    return st;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* For a message: the top-level key whose value holds byte AT of LINE (a raw,
 * still escaped span), or *IN_KEY when AT lies inside a key. The line is
 * not known to be valid JSON, so this only follows strings and nesting. */
static void key_around(const char *s, size_t at, const char **key, size_t *key_len, bool *in_key)
{
    int depth = 0;
    bool in_str = false, esc = false, in_value = false;
    size_t str_start = 0;
    *key = NULL;
    *key_len = 0;
    for (size_t i = 0; i < at; i++) {
        char c = s[i];
        if (in_str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') {
                in_str = false;
                if (depth == 1 && !in_value) *key = s + str_start, *key_len = i - str_start;
            }
        } else if (c == '"') {
            in_str = true;
            str_start = i + 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (depth == 1 && c == ':') {
            in_value = true;
        } else if (depth == 1 && c == ',') {
            in_value = false;
            *key = NULL;
        }
    }
    *in_key = in_str && depth == 1 && !in_value;
    if (!in_value) *key = NULL;
}

static dm_status bad_utf8(const jsonl_reader *jr, const char *s, size_t at, size_t line)
{
    const char *key;
    size_t key_len;
    bool in_key;
    key_around(s, at, &key, &key_len, &in_key);
    char where[200];
    if (in_key) snprintf(where, sizeof where, "in a key");
    else if (key) snprintf(where, sizeof where, "column \"%.*s\"", (int)(key_len > 120 ? 120 : key_len), key);
    else snprintf(where, sizeof where, "outside any value");
    return dmi_fail(DM_ERR_UTF8, "%s: line %zu, %s: invalid UTF-8 at byte offset %zu of the line (byte 0x%02X)",
                    jr->ro->name, line, where, at, (unsigned char)s[at]);
}

static dm_status parse_line(jsonl_reader *jr, const char *s, size_t len, size_t line)
{
    size_t bad = dmi_utf8_invalid_at(s, len);
    if (bad < len) {
        if (jr->ro->invalid_utf8 == DM_UTF8_SKIP_ROW) {
            bad_utf8(jr, s, bad, line);
            return dmi_table_skip(jr->t, line, "%s", dm_last_error());
        }
        if (jr->ro->invalid_utf8 != DM_UTF8_REPLACE) return bad_utf8(jr, s, bad, line);
        dmi_cell fixed;
        jr->scratch.arena_len = 0;
        dm_status st = dmi_table_append_replaced(&jr->scratch, s, len, &fixed);
        if (st) return st;
        s = jr->scratch.arena;
        len = fixed.len;
    }
    json_error_t err;
    json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v && jr->ro->bad_rows == DM_BAD_ROWS_SKIP)
        return dmi_table_skip(jr->t, line, "invalid JSON at column %d: %s", err.column, err.text);
    if (!v) {
        if (err.column > 0)
            return dmi_fail(DM_ERR_PARSE, "%s: line %zu, column %d: invalid JSON: %s", jr->ro->name, line,
                            err.column, err.text);
        return dmi_fail(DM_ERR_PARSE, "%s: line %zu: invalid JSON: %s", jr->ro->name, line, err.text);
    }
    if (!json_is_object(v) && jr->ro->bad_rows == DM_BAD_ROWS_SKIP) {
        json_decref(v);
        return dmi_table_skip(jr->t, line, "expected a JSON object");
    }
    dm_status st = json_is_object(v) ? add_object(jr, v, line)
                                     : dmi_fail(DM_ERR_PARSE, "%s: line %zu: expected a JSON object, found %s",
                                                jr->ro->name, line, type_name(v));
    json_decref(v);
    return st;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

/* ----------------------------------------------------------- the table */

/* A dense table costs rows x columns cells: refuse lines whose keys hardly
 * overlap (each new key on its own line would make it quadratic in the input),
 * so that memory stays proportional to the data. */
static dm_status check_density(const jsonl_reader *jr)
{
    size_t cols = jr->columns.count, limit = 8 * jr->n_cells + ((size_t)1 << 20);
    if (cols == 0 || jr->n_rows <= limit / cols) return DM_OK;
    return dmi_fail(DM_ERR_RANGE,
                    "%s: %zu rows and %zu distinct keys, but only %zu values: the keys differ too much from line "
                    "to line to hold as a table",
                    jr->ro->name, jr->n_rows, cols, jr->n_cells);
}

/* Makes the sparse rows dense: columns from the keys, missing where absent. */
static dm_status fill_table(jsonl_reader *jr)
{
    dmi_table *t = jr->t;
    dm_status st = check_density(jr);
    if (st) return st;
    for (size_t c = 0; c < jr->columns.count; c++) {
        st = dmi_table_add_column(t, dmi_strmap_key(&jr->columns, c), dmi_strmap_key_len(&jr->columns, c));
        if (st) return st;
    }
    dmi_cell *row = dmi_malloc((t->n_cols ? t->n_cols : 1) * sizeof *row);
    if (!row) return DM_ERR_NO_MEMORY;
    for (size_t r = 0; r < jr->n_rows && !st; r++) {
        for (size_t c = 0; c < t->n_cols; c++) row[c] = (dmi_cell){0, DMI_CELL_MISSING};
        size_t end = r + 1 < jr->n_rows ? jr->row_first[r + 1] : jr->n_cells;
        for (size_t k = jr->row_first[r]; k < end; k++) row[jr->cells[k].col] = jr->cells[k].cell;
        st = dmi_table_add_row(t, row, jr->row_line[r], r + 1);
    }
    free(row);
    return st;
}

static dm_status read_lines(jsonl_reader *jr, const char *data, size_t len)
{
    size_t pos = dmi_bom_len(data, len), line = 0, released = 0;
    while (pos < len) {
        dmi_release_consumed(jr->ro, data, pos, &released);
        line++;
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t n = end - pos;
        if (n && data[end - 1] == '\r') n--;
        if (!blank(data + pos, n)) {
            dm_status st = parse_line(jr, data + pos, n, line);
            if (st) return st;
        }
        pos = end + 1;
    }
    return DM_OK;
}

dm_status dmi_read_jsonl(const char *data, size_t len, const dmi_read_options *ro, dmi_table *t)
{
    jsonl_reader jr = {.ro = ro, .t = t};
    dm_status st = dmi_table_reserve(t, len + len / 16);
    if (!st) st = read_lines(&jr, data, len);
    if (!st && jr.n_rows == 0 && t->skipped)
        st = dmi_fail(DM_ERR_RANGE, "%s: no data rows: all %zu rows were skipped (the first: line %zu, %s)", ro->name,
                      t->skipped, t->skips[0].line, t->skips[0].reason);
    if (!st && jr.n_rows == 0)
        st = dmi_fail(DM_ERR_RANGE, "%s: no data rows: the file is empty or has only blank lines", ro->name);
    if (!st) st = fill_table(&jr);
    reader_free(&jr);
    return st;
}
