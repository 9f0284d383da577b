/*
 * csv.c — the CSV (RFC 4180) and TSV readers: a header line, then records.
 *
 * CSV: fields split on ',', a field that starts with '"' is quoted and may
 * hold commas, line ends and "" for a quote; a quote inside an unquoted field
 * is kept as is (as Python's csv module and pandas do). Text after a closing
 * quote other than a delimiter or a line end is an error: it usually means a
 * quote inside a quoted field that was not doubled, and guessing would
 * silently merge or split fields.
 * TSV: fields split on TAB, no quoting (IANA text/tab-separated-values).
 * Both: LF or CRLF line ends (a lone CR is data), a last line without a line
 * end, a UTF-8 BOM at the start skipped, completely empty lines skipped (as
 * pandas does). Whitespace is kept.
 */
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum field_end { END_DELIM, END_LINE, END_FILE } field_end;

typedef struct reader {
    const char *p;
    size_t n, pos;
    size_t line, line_start; /* the current line (1-based) and where it starts */
    size_t next_nl;          /* the next '\n' at or after pos (n when none) */
    char delim;
    bool quoting;
    const dmi_read_options *ro;
    dmi_table *t;
    dmi_cell *fields; /* the record being read */
    size_t *field_lines;
    size_t n_fields, fields_cap;
    size_t record_last_line; /* the line where the record just read ends */
} reader;

static void find_next_newline(reader *r)
{
    const char *nl = memchr(r->p + r->pos, '\n', r->n - r->pos);
    r->next_nl = nl ? (size_t)(nl - r->p) : r->n;
}

/* Steps past the line end at pos ('\n', "\r\n", or a '\r' ending the file). */
static void pass_line_end(reader *r)
{
    if (r->p[r->pos] == '\r') r->pos++;
    if (r->pos < r->n) r->pos++; /* the '\n' */
    r->line++;
    r->line_start = r->pos;
    find_next_newline(r);
}

/* Whether a line end starts at AT: '\n', "\r\n", or a '\r' that ends the file. */
static bool line_end_at(const reader *r, size_t at)
{
    if (at >= r->n) return false;
    if (r->p[at] == '\n') return true;
    return r->p[at] == '\r' && (at + 1 == r->n || r->p[at + 1] == '\n');
}

static dm_status push_field(reader *r, dmi_cell cell, size_t line)
{
    if (r->n_fields == r->fields_cap) {
        size_t cap = r->fields_cap ? r->fields_cap * 2 : 16;
        dmi_cell *f = dmi_realloc(r->fields, cap * sizeof *f);
        if (!f) return DM_ERR_NO_MEMORY;
        r->fields = f;
        size_t *l = dmi_realloc(r->field_lines, cap * sizeof *l);
        if (!l) return DM_ERR_NO_MEMORY;
        r->field_lines = l;
        r->fields_cap = cap;
    }
    r->fields[r->n_fields] = cell;
    r->field_lines[r->n_fields++] = line;
    return DM_OK;
}

/* Appends bytes to the arena without the NUL (a quoted field comes in pieces). */
static dm_status put(dmi_table *t, const char *s, size_t len)
{
    dm_status st = dmi_table_reserve(t, len);
    if (st) return st;
    memcpy(t->arena + t->arena_len, s, len);
    t->arena_len += len;
    return DM_OK;
}

/* How a field ended, from the byte at pos (after the field's text). */
static field_end take_field_end(reader *r)
{
    if (r->pos >= r->n) return END_FILE;
    if (r->p[r->pos] == r->delim) {
        r->pos++;
        return END_DELIM;
    }
    pass_line_end(r);
    return END_LINE;
}

static dm_status read_unquoted(reader *r, dmi_cell *cell, field_end *end)
{
    size_t stop = r->next_nl;
    const char *d = memchr(r->p + r->pos, r->delim, stop - r->pos);
    size_t field_end = d ? (size_t)(d - r->p) : stop;
    size_t len = field_end - r->pos;
    /* A CR before the line end belongs to the line end (CRLF), also at EOF. */
    if (!d && len && r->p[field_end - 1] == '\r') len--;
    dm_status st = dmi_table_append(r->t, r->p + r->pos, len, cell);
    if (st) return st;
    r->pos = field_end;
    *end = take_field_end(r);
    return DM_OK;
}

static dm_status unterminated(const reader *r, size_t open_line, size_t open_byte)
{
    return dmi_fail(DM_ERR_PARSE,
                    "%s: line %zu, byte offset %zu of the line: unterminated quoted field: the quote opened "
                    "there is never closed (expected a closing '\"' before the end of the file)",
                    r->ro->name, open_line, open_byte);
}

static dm_status after_closing_quote(const reader *r)
{
    unsigned char c = (unsigned char)r->p[r->pos];
    char found[16];
    if (c >= 0x20 && c < 0x7F) snprintf(found, sizeof found, "'%c'", c);
    else snprintf(found, sizeof found, "byte 0x%02X", c);
    return dmi_fail(DM_ERR_PARSE,
                    "%s: line %zu, byte offset %zu of the line: expected '%c' or the end of the line after "
                    "the closing quote of field %zu, found %s (a quote inside a quoted field must "
                    "be doubled: \"\")",
                    r->ro->name, r->line, r->pos - r->line_start, r->delim, r->n_fields + 1, found);
}

/* Counts the line ends in [FROM, TO) of a quoted field's text. */
static void count_lines(reader *r, size_t from, size_t to)
{
    const char *s = r->p + from, *e = r->p + to;
    const char *nl;
    while (s < e && (nl = memchr(s, '\n', (size_t)(e - s))) != NULL) {
        r->line++;
        r->line_start = (size_t)(nl - r->p) + 1;
        s = nl + 1;
    }
}

static dm_status read_quoted(reader *r, dmi_cell *cell, field_end *end)
{
    size_t open_line = r->line, open_byte = r->pos - r->line_start;
    size_t start = r->t->arena_len;
    r->pos++; /* the opening quote */
    for (;;) {
        const char *q = memchr(r->p + r->pos, '"', r->n - r->pos);
        if (!q) return unterminated(r, open_line, open_byte);
        size_t at = (size_t)(q - r->p);
        dm_status st = put(r->t, r->p + r->pos, at - r->pos);
        if (st) return st;
        count_lines(r, r->pos, at);
        if (at + 1 < r->n && r->p[at + 1] == '"') { /* "" is a quote */
            st = put(r->t, "\"", 1);
            if (st) return st;
            r->pos = at + 2;
            continue;
        }
        r->pos = at + 1;
        break;
    }
    dm_status st = dmi_table_append(r->t, NULL, 0, NULL); /* the NUL */
    if (st) return st;
    *cell = (dmi_cell){start, r->t->arena_len - 1 - start};
    if (r->pos < r->n && r->p[r->pos] != r->delim && !line_end_at(r, r->pos)) return after_closing_quote(r);
    find_next_newline(r);
    *end = take_field_end(r);
    return DM_OK;
}

/* Skips completely empty lines. Returns false at the end of the input. */
static bool skip_empty_lines(reader *r)
{
    while (r->pos < r->n && line_end_at(r, r->pos)) pass_line_end(r);
    return r->pos < r->n;
}

/* Reads the next record's fields into r->fields; *GOT false at the end. */
static dm_status read_record(reader *r, bool *got, size_t *record_line)
{
    *got = skip_empty_lines(r);
    if (!*got) return DM_OK;
    *record_line = r->line;
    r->n_fields = 0;
    field_end end;
    do {
        dmi_cell cell;
        size_t line = r->line;
        dm_status st = r->quoting && r->pos < r->n && r->p[r->pos] == '"' ? read_quoted(r, &cell, &end)
                                                                          : read_unquoted(r, &cell, &end);
        if (!st) st = push_field(r, cell, line);
        if (st) return st;
    } while (end == END_DELIM);
    r->record_last_line = end == END_LINE ? r->line - 1 : r->line;
    return DM_OK;
}

/* Checks (or repairs) the UTF-8 of field I of the record (of the header when
 * IN_HEADER, else of the column it belongs to). */
static dm_status check_field_utf8(reader *r, size_t i, bool in_header)
{
    size_t bad_at = 0;
    dm_status st = dmi_table_check_utf8(r->t, &r->fields[i], r->ro->invalid_utf8, &bad_at);
    if (st != DM_ERR_UTF8) return st;
    /* Name the line of the bad byte itself (quoted fields span lines). */
    const char *s = dmi_table_str(r->t, r->fields[i]);
    size_t line = r->field_lines[i];
    for (size_t k = 0; k < bad_at; k++) line += s[k] == '\n';
    char column[160];
    if (in_header) snprintf(column, sizeof column, "the header");
    else snprintf(column, sizeof column, "column \"%.120s\"", dmi_table_str(r->t, r->t->names[i]));
    return dmi_fail(DM_ERR_UTF8,
                    "%s: line %zu, %s (field %zu): invalid UTF-8 at byte offset %zu of the field (byte 0x%02X)",
                    r->ro->name, line, column, i + 1, bad_at, (unsigned char)s[bad_at]);
}

static dm_status read_header(reader *r)
{
    bool got;
    size_t line;
    dm_status st = read_record(r, &got, &line);
    if (st) return st;
    if (!got) return dmi_fail(DM_ERR_RANGE, "%s: the file is empty (expected a header line)", r->ro->name);
    for (size_t i = 0; i < r->n_fields; i++) {
        st = check_field_utf8(r, i, true);
        if (st) return st;
    }
    for (size_t i = 0; i < r->n_fields; i++) {
        /* Copy the name out first: adding it may move the arena. */
        dmi_cell f = r->fields[i];
        /* A NUL would cut the name short (a "label" column no longer found,
         * the data silently unlabelled): names must be text. */
        const char *nul = memchr(dmi_table_str(r->t, f), '\0', f.len);
        if (nul)
            return dmi_fail(DM_ERR_PARSE, "%s: line %zu: the name of column %zu holds a NUL byte (at byte %zu of "
                            "the name): column names must be text", r->ro->name, line, i + 1,
                            (size_t)(nul - dmi_table_str(r->t, f)));
        char *name = dmi_strndup(dmi_table_str(r->t, f), f.len);
        if (!name) return DM_ERR_NO_MEMORY;
        st = dmi_table_add_column(r->t, name, f.len);
        free(name);
        if (st) return st;
    }
    return DM_OK;
}

static dm_status wrong_field_count(const reader *r, size_t record_line)
{
    if (r->record_last_line > record_line)
        return dmi_fail(DM_ERR_PARSE,
                        "%s: lines %zu-%zu (one record): expected %zu fields (as in the header), found %zu",
                        r->ro->name, record_line, r->record_last_line, r->t->n_cols, r->n_fields);
    return dmi_fail(DM_ERR_PARSE, "%s: line %zu: expected %zu fields (as in the header), found %zu", r->ro->name,
                    record_line, r->t->n_cols, r->n_fields);
}

/* Checks the record just read and adds it as a row (or skips it). */
static dm_status take_record(reader *r, size_t record_line, size_t record_number, size_t arena_mark)
{
    if (r->n_fields != r->t->n_cols) {
        if (r->ro->bad_rows != DM_BAD_ROWS_SKIP) return wrong_field_count(r, record_line);
        r->t->arena_len = arena_mark; /* drop its cells */
        return dmi_table_skip(r->t, record_line, "wrong number of fields: expected %zu, found %zu", r->t->n_cols,
                              r->n_fields);
    }
    for (size_t i = 0; i < r->n_fields; i++) {
        dm_status st = check_field_utf8(r, i, false);
        if (st == DM_ERR_UTF8 && r->ro->invalid_utf8 == DM_UTF8_SKIP_ROW) {
            r->t->arena_len = arena_mark;
            return dmi_table_skip(r->t, record_line, "%s", dm_last_error());
        }
        if (st) return st;
    }
    return dmi_table_add_row(r->t, r->fields, record_line, record_number);
}

static dm_status read_rows(reader *r)
{
    size_t record_number = 0, released = 0;
    for (;;) {
        dmi_release_consumed(r->ro, r->p, r->pos, &released);
        size_t mark = r->t->arena_len, record_line = 0;
        bool got;
        dm_status st = read_record(r, &got, &record_line);
        if (st || !got) return st;
        st = take_record(r, record_line, ++record_number, mark);
        if (st) return st;
    }
}

dm_status dmi_read_delimited(const char *data, size_t len, char delim, bool quoting, const dmi_read_options *ro,
                             dmi_table *t)
{
    reader r = {.p = data, .n = len, .line = 1, .delim = delim, .quoting = quoting, .ro = ro, .t = t};
    r.pos = r.line_start = dmi_bom_len(data, len);
    find_next_newline(&r);
    /* Cells take about the input's size: reserve it once. */
    dm_status st = dmi_table_reserve(t, len + len / 16);
    if (!st) st = read_header(&r);
    if (!st) st = read_rows(&r);
    free(r.fields);
    free(r.field_lines);
    if (st) return st;
    if (t->n_rows == 0 && t->skipped == 0)
        return dmi_fail(DM_ERR_RANGE, "%s: no data rows: the file has only a header line", ro->name);
    if (t->n_rows == 0)
        return dmi_fail(DM_ERR_RANGE,
                        "%s: no data rows: all %zu rows were skipped (the first: line %zu, %s)",
                        ro->name, t->skipped, t->skips[0].line, t->skips[0].reason);
    return DM_OK;
}
