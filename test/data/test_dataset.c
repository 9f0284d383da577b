/*
 * test_dataset.c — dm_dataset: the CSV, TSV and JSONL readers, column
 * choice, labels, UTF-8 policies, every bad-input path, memory texts, the
 * internal accessors, and the real data sets in $DATA (default
 * SRCROOT/../shared/data; skipped with a note when absent).
 */
#include "datamodel.h"
#include "data/dataset_internal.h"

#include "../unit/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dm_test_dataset_XXXXXX";

/* Writes LEN bytes to TMPDIR/NAME; returns the path (static, overwritten). */
static const char *write_tmp(const char *name, const char *data, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

/* Loads TEXT (a C string) from memory as FORMAT, named NAME in messages. */
static dm_status load_as(const char *text, dm_file_format format, const dm_dataset_options *o, dm_dataset **ds)
{
    static const char *names[] = {"t.auto", "t.csv", "t.tsv", "t.jsonl"};
    return dmi_dataset_load_memory(text, strlen(text), format, o, names[format], ds);
}

static int text_is(const dm_dataset *ds, size_t i, const char *want)
{
    size_t len = 99;
    const char *t = dm_dataset_text(ds, i, &len);
    return t && len == strlen(want) && memcmp(t, want, len) == 0 && t[len] == '\0';
}

static int pair_is(const dm_dataset *ds, size_t i, const char *want)
{
    size_t len = 99;
    const char *t = dm_dataset_pair(ds, i, &len);
    return t && len == strlen(want) && memcmp(t, want, len) == 0;
}

static int cell_is(const dm_dataset *ds, size_t row, size_t col, const char *want)
{
    size_t len = 99;
    bool missing = true;
    const char *c = dmi_dataset_cell(ds, row, col, &len, &missing);
    return c && !missing && len == strlen(want) && memcmp(c, want, len) == 0;
}

static int label_is(const dm_dataset *ds, size_t i, const char *want)
{
    int32_t id = dm_dataset_label(ds, i);
    if (!want) return id == -1;
    const char *name = dm_dataset_label_name(ds, id);
    return name && strcmp(name, want) == 0;
}

/* ----------------------------------------------------------------- options */

static void test_options(void)
{
    dm_dataset_options o;
    memset(&o, 0x55, sizeof o);
    dm_dataset_options_default(&o);
    CHECK(o.struct_size == sizeof o);
    CHECK(o.format == DM_FORMAT_AUTO && o.text_column == NULL && o.pair_column == NULL);
    CHECK(o.label_column == NULL && o.id_column == NULL && o.require_labels == 0);
    CHECK(o.labels == NULL && o.n_labels == 0);
    CHECK(o.invalid_utf8 == DM_UTF8_ERROR && o.bad_rows == DM_BAD_ROWS_FAIL);
    dm_dataset_options_default(NULL); /* no crash */

    dm_dataset *ds = NULL;
    o.struct_size = 0;
    CHECK_FAILS(load_as("text\na\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT, "struct_size");
    dm_dataset_options_default(&o);
    o.format = (dm_file_format)7;
    CHECK_FAILS(load_as("text\na\n", DM_FORMAT_AUTO, &o, &ds), DM_ERR_INVALID_ARGUMENT, "format");
    dm_dataset_options_default(&o);
    o.bad_rows = (dm_bad_rows)3;
    CHECK_FAILS(load_as("text\na\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT, "bad_rows");
    dm_dataset_options_default(&o);
    o.invalid_utf8 = (dm_invalid_utf8)-1;
    CHECK_FAILS(load_as("text\na\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT, "invalid_utf8");
    dm_dataset_options_default(&o);
    o.n_labels = 2;
    CHECK_FAILS(load_as("text\na\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT, "n_labels");
    CHECK(ds == NULL); /* out-parameters untouched on failure */

    /* An older, smaller struct: the fields it lacks keep their defaults. */
    dm_dataset_options_default(&o);
    o.struct_size = offsetof(dm_dataset_options, label_column);
    o.text_column = "b";
    o.bad_rows = DM_BAD_ROWS_SKIP; /* beyond the old size: ignored */
    CHECK_FAILS(load_as("a,b\n1,2\n3\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_PARSE, "line 3: expected 2 fields");
    CHECK(load_as("a,b\n1,2\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "2"));
    dm_dataset_free(ds);

    /* NULL options = defaults; NULL out. */
    CHECK(load_as("text\na\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    dm_dataset_free(ds);
    CHECK_FAILS(load_as("text\na\n", DM_FORMAT_CSV, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(dm_dataset_load(NULL, NULL, &ds), DM_ERR_INVALID_ARGUMENT, "path is NULL");
}

/* --------------------------------------------------------------------- CSV */

static void test_csv_basic(void)
{
    dm_dataset *ds = NULL;
    /* BOM, CRLF, quoted commas / newlines / doubled quotes, whitespace kept, an
     * empty line skipped, a quote inside an unquoted field kept, and a last
     * line without a line end. */
    const char *csv = "\xEF\xBB\xBFid,text,label\r\n"
                      "a1,\"hello, world\",pos\r\n"
                      "\r\n"
                      "a2,\"two\r\nlines\",neg\r\n"
                      "a3,\"say \"\"hi\"\"\",pos\n"
                      "\n"
                      "a4,  spaced  , neg \n"
                      "a5,5\"6 inch,pos\n"
                      "a6,\"\",\n"
                      "a7,,pos";
    CHECK(load_as(csv, DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 7);
    CHECK(dm_dataset_skipped(ds) == 0);
    CHECK(text_is(ds, 0, "hello, world"));
    CHECK(text_is(ds, 1, "two\r\nlines"));
    CHECK(text_is(ds, 2, "say \"hi\""));
    CHECK(text_is(ds, 3, "  spaced  "));
    CHECK(text_is(ds, 4, "5\"6 inch"));
    CHECK(text_is(ds, 5, ""));
    CHECK(text_is(ds, 6, ""));
    CHECK(strcmp(dm_dataset_id(ds, 0), "a1") == 0 && strcmp(dm_dataset_id(ds, 6), "a7") == 0);
    /* Labels: trimmed; byte order; empty = none. */
    CHECK(dm_dataset_num_labels(ds) == 2);
    CHECK(strcmp(dm_dataset_label_name(ds, 0), "neg") == 0 && strcmp(dm_dataset_label_name(ds, 1), "pos") == 0);
    CHECK(dm_dataset_label(ds, 0) == 1 && dm_dataset_label(ds, 1) == 0 && dm_dataset_label(ds, 3) == 0);
    CHECK(dm_dataset_label(ds, 5) == -1);
    CHECK(dm_dataset_pair(ds, 0, NULL) == NULL); /* no pair column */
    /* Every column kept, as read (labels untrimmed), with its line. */
    CHECK(dmi_dataset_num_columns(ds) == 3);
    CHECK(strcmp(dmi_dataset_column_name(ds, 0), "id") == 0); /* the BOM is not part of the name */
    CHECK(strcmp(dmi_dataset_column_name(ds, 2), "label") == 0);
    CHECK(dmi_dataset_column_name(ds, 3) == NULL);
    CHECK(cell_is(ds, 3, 2, " neg "));
    CHECK(cell_is(ds, 5, 2, ""));
    CHECK(dmi_dataset_row_line(ds, 0) == 2 && dmi_dataset_row_line(ds, 1) == 4 && dmi_dataset_row_line(ds, 2) == 6);
    CHECK(dmi_dataset_row_line(ds, 3) == 8 && dmi_dataset_row_line(ds, 6) == 11);
    CHECK(dmi_dataset_role_column(ds, DMI_ROLE_TEXT) == 1 && dmi_dataset_role_column(ds, DMI_ROLE_LABEL) == 2);
    CHECK(dmi_dataset_role_column(ds, DMI_ROLE_ID) == 0 && dmi_dataset_role_column(ds, DMI_ROLE_PAIR) == -1);
    dm_dataset_free(ds);

    /* A last quoted field ending the file, a CR ending the file, a one-column file. */
    CHECK(load_as("text\n\"end\"", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 1 && text_is(ds, 0, "end"));
    dm_dataset_free(ds);
    CHECK(load_as("text\r\nx\r", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 1 && text_is(ds, 0, "x"));
    dm_dataset_free(ds);
    CHECK(load_as("text\r\n\"q\"\r\n\"\"\r\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 2 && text_is(ds, 0, "q") && text_is(ds, 1, ""));
    dm_dataset_free(ds);
    /* A lone CR is data; a delimiter at the end gives an empty last field. */
    CHECK(load_as("text,b\na\rb,\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "a\rb") && cell_is(ds, 0, 1, ""));
    dm_dataset_free(ds);
}

static void test_csv_errors(void)
{
    dm_dataset *ds = NULL;
    dm_dataset_options o;
    /* Unterminated quote: names the line where it opened. */
    CHECK_FAILS(load_as("text,label\na,1\n\"open,1\nb,2\nc,3\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE,
                "t.csv: line 3, byte offset 0 of the line: unterminated quoted field");
    CHECK_FAILS(load_as("text,label\na,\"x", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE, "line 2, byte offset 2");
    CHECK_FAILS(load_as("\"text", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE, "line 1, byte offset 0");
    /* Text after a closing quote. */
    CHECK_FAILS(load_as("text,label\n\"a\"b,1\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE,
                "line 2, byte offset 3 of the line: expected ',' or the end of the line after the closing quote of "
                "field 1, found 'b'");
    CHECK_FAILS(load_as("text,label\n\"a\" ,1\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE, "found ' '");
    CHECK_FAILS(load_as("text,label\n\"a\"\r,1\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE, "found byte 0x0D");

    /* Wrong field count: fail (naming file, line, expected and found) ... */
    const char *bad = "text,label\na,1\nb\nc,3,extra\nd,4\n\"e\nf\",5,6\n";
    CHECK_FAILS(load_as(bad, DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE,
                "t.csv: line 3: expected 2 fields (as in the header), found 1");
    CHECK(ds == NULL);
    /* ... or skip and count (ids stay the records' numbers in the file). */
    dm_dataset_options_default(&o);
    o.bad_rows = DM_BAD_ROWS_SKIP;
    CHECK(load_as(bad, DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 2 && dm_dataset_skipped(ds) == 3);
    CHECK(text_is(ds, 0, "a") && text_is(ds, 1, "d"));
    CHECK(strcmp(dm_dataset_id(ds, 0), "1") == 0 && strcmp(dm_dataset_id(ds, 1), "4") == 0);
    CHECK(dmi_dataset_row_line(ds, 1) == 5);
    dm_dataset_free(ds);
    /* A record on several lines names them all. */
    CHECK_FAILS(load_as("text,label\n\"e\nf\",5,6\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE,
                "lines 2-3 (one record): expected 2 fields (as in the header), found 3");
    /* Every row skipped: no data. */
    CHECK_FAILS(load_as("text,label\na\nb\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_RANGE,
                "all 2 rows were skipped (the first: line 2, wrong number of fields");

    /* Empty file, only a BOM or blank lines, header only. */
    CHECK_FAILS(load_as("", DM_FORMAT_CSV, NULL, &ds), DM_ERR_RANGE, "t.csv: the file is empty");
    CHECK_FAILS(load_as("\xEF\xBB\xBF\r\n\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_RANGE, "the file is empty");
    CHECK_FAILS(load_as("text,label\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_RANGE,
                "t.csv: no data rows: the file has only a header line");
    CHECK_FAILS(load_as("text,label\r\n\r\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_RANGE, "only a header line");
    CHECK_FAILS(dmi_dataset_load_memory(NULL, 0, DM_FORMAT_CSV, NULL, NULL, &ds), DM_ERR_RANGE,
                "<memory>: the file is empty");
    CHECK_FAILS(dmi_dataset_load_memory(NULL, 3, DM_FORMAT_CSV, NULL, NULL, &ds), DM_ERR_INVALID_ARGUMENT,
                "data is NULL");
    /* A memory name without a known extension needs a format. */
    CHECK_FAILS(dmi_dataset_load_memory("text\na\n", 7, DM_FORMAT_AUTO, NULL, "data.txt", &ds),
                DM_ERR_INVALID_ARGUMENT, "data.txt: cannot tell the format");
}

/* --------------------------------------------------------------------- TSV */

static void test_tsv(void)
{
    dm_dataset *ds = NULL;
    const char *tsv = "\xEF\xBB\xBFlabel\tsentence\r\n"
                      "1\t\"quoted\" stays, as is\r\n"
                      "\r\n"
                      "0\t  a, b  \r\n"
                      "1\t\"unterminated is fine";
    CHECK(load_as(tsv, DM_FORMAT_TSV, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 3);
    CHECK(text_is(ds, 0, "\"quoted\" stays, as is"));
    CHECK(text_is(ds, 1, "  a, b  "));
    CHECK(text_is(ds, 2, "\"unterminated is fine"));
    CHECK(label_is(ds, 0, "1") && label_is(ds, 1, "0"));
    CHECK(dm_dataset_label(ds, 0) == 1 && dm_dataset_label(ds, 1) == 0);
    CHECK(strcmp(dmi_dataset_column_name(ds, 0), "label") == 0);
    CHECK(strcmp(dm_dataset_id(ds, 2), "3") == 0);
    dm_dataset_free(ds);

    CHECK_FAILS(load_as("label\tsentence\n1\ta\tb\n", DM_FORMAT_TSV, NULL, &ds), DM_ERR_PARSE,
                "t.tsv: line 2: expected 2 fields (as in the header), found 3");
    CHECK_FAILS(load_as("label\tsentence\n", DM_FORMAT_TSV, NULL, &ds), DM_ERR_RANGE, "only a header line");
    CHECK_FAILS(load_as("", DM_FORMAT_TSV, NULL, &ds), DM_ERR_RANGE, "the file is empty");
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.bad_rows = DM_BAD_ROWS_SKIP;
    CHECK(load_as("label\tsentence\n1\n0\tok\n1\ta\tb\n", DM_FORMAT_TSV, &o, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 1 && dm_dataset_skipped(ds) == 2 && text_is(ds, 0, "ok"));
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------------- JSONL */

static void test_jsonl(void)
{
    dm_dataset *ds = NULL;
    const char *jsonl = "\xEF\xBB\xBF{\"text\": \"caf\\u00e9\", \"label\": 1, \"score\": 0.5}\n"
                        "\n"
                        "   \r\n"
                        "{\"label\": \"2\", \"text\": \"b\", \"flag\": true, \"n\": null}\r\n"
                        "{\"text\": \"c\", \"score\": 100.0, \"flag\": false, \"deep\": [1, {\"a\": \"x\"}]}\n"
                        "{\"text\": \"d\", \"label\": -3, \"score\": 1e16, \"small\": 1.5e-7, \"big\": 123456789012}";
    CHECK(load_as(jsonl, DM_FORMAT_JSONL, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 4);
    CHECK(text_is(ds, 0, "caf\xC3\xA9") && text_is(ds, 3, "d"));
    /* Columns: the union of keys in first-seen order. */
    static const char *cols[] = {"text", "label", "score", "flag", "n", "deep", "small", "big"};
    CHECK(dmi_dataset_num_columns(ds) == 8);
    for (size_t c = 0; c < 8; c++) CHECK(strcmp(dmi_dataset_column_name(ds, c), cols[c]) == 0);
    CHECK(cell_is(ds, 0, 1, "1") && cell_is(ds, 0, 2, "0.5"));
    CHECK(cell_is(ds, 1, 3, "true") && cell_is(ds, 2, 3, "false"));
    CHECK(cell_is(ds, 2, 2, "100.0") && cell_is(ds, 3, 2, "1e+16") && cell_is(ds, 3, 6, "1.5e-07"));
    CHECK(cell_is(ds, 3, 7, "123456789012"));
    CHECK(cell_is(ds, 2, 5, "[1,{\"a\":\"x\"}]"));
    size_t len = 9;
    bool missing = false;
    const char *c = dmi_dataset_cell(ds, 1, 4, &len, &missing); /* null */
    CHECK(c && c[0] == '\0' && len == 0 && missing);
    missing = false;
    c = dmi_dataset_cell(ds, 0, 3, &len, &missing); /* absent */
    CHECK(c && len == 0 && missing);
    CHECK(dmi_dataset_cell(ds, 4, 0, &len, &missing) == NULL && dmi_dataset_cell(ds, 0, 8, NULL, NULL) == NULL);
    /* Labels: all integers, so numeric order; row 2 has none. */
    CHECK(dm_dataset_num_labels(ds) == 3);
    CHECK(strcmp(dm_dataset_label_name(ds, 0), "-3") == 0 && strcmp(dm_dataset_label_name(ds, 2), "2") == 0);
    CHECK(label_is(ds, 0, "1") && label_is(ds, 1, "2") && label_is(ds, 2, NULL) && label_is(ds, 3, "-3"));
    CHECK(dmi_dataset_row_line(ds, 1) == 4 && dmi_dataset_row_line(ds, 3) == 6);
    CHECK(strcmp(dm_dataset_id(ds, 1), "2") == 0);
    dm_dataset_free(ds);

    /* A missing text is an empty text. */
    CHECK(load_as("{\"text\": \"a\"}\n{\"other\": 1}\n", DM_FORMAT_JSONL, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 2 && text_is(ds, 1, ""));
    dm_dataset_free(ds);

    /* Bad lines. */
    CHECK_FAILS(load_as("{\"text\": \"a\"}\n[1, 2]\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_PARSE,
                "t.jsonl: line 2: expected a JSON object, found an array");
    CHECK_FAILS(load_as("{\"text\": \"a\"}\n\n\"str\"\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_PARSE,
                "line 3: expected a JSON object, found a string");
    CHECK_FAILS(load_as("{\"text\": \"a\"}\n{\"text\": \"b\",}\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_PARSE,
                "t.jsonl: line 2, column 14: invalid JSON:");
    CHECK_FAILS(load_as("{\"text\": \"a\"} {\"text\": \"b\"}\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_PARSE,
                "line 1, column");
    CHECK_FAILS(load_as("{\"text\": \"a\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_PARSE, "line 1");
    CHECK_FAILS(load_as("", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_RANGE, "no data rows");
    CHECK_FAILS(load_as("\n  \n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_RANGE, "no data rows");
    CHECK_FAILS(load_as("{}\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_NOT_FOUND, "the columns: none");

    /* A new key on every line would make the table quadratic: refused. */
    size_t cap = 2000 * 32, at = 0;
    char *sparse = malloc(cap);
    for (int i = 0; i < 2000; i++) at += (size_t)snprintf(sparse + at, cap - at, "{\"text\":\"t\",\"k%d\":1}\n", i);
    CHECK_FAILS(load_as(sparse, DM_FORMAT_JSONL, NULL, &ds), DM_ERR_RANGE,
                "t.jsonl: 2000 rows and 2001 distinct keys, but only 4000 values");
    free(sparse);
}

/* ---------------------------------------------------------------- columns */

static void test_columns(void)
{
    dm_dataset *ds = NULL;
    dm_dataset_options o;
    /* Default text column: "sentence" before "text" before "review". */
    CHECK(load_as("review,text,x\nr,t,x\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "t") && dm_dataset_num_labels(ds) == 0 && dm_dataset_label(ds, 0) == -1);
    dm_dataset_free(ds);
    CHECK(load_as("review,text,sentence\nr,t,s\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "s"));
    dm_dataset_free(ds);
    CHECK_FAILS(load_as("a,b\n1,2\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_NOT_FOUND,
                "t.csv: no text column: none of \"sentence\", \"text\", \"review\" is present; set "
                "dm_dataset_options.text_column to one of the columns: \"a\", \"b\"");

    /* Named columns, and ones that do not exist. */
    dm_dataset_options_default(&o);
    o.text_column = "q";
    o.pair_column = "p";
    o.label_column = "y";
    o.id_column = "key";
    CHECK(load_as("key,q,p,y,label\nk1,question,passage,yes,ignored\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "question") && pair_is(ds, 0, "passage") && label_is(ds, 0, "yes"));
    CHECK(strcmp(dm_dataset_id(ds, 0), "k1") == 0);
    CHECK(dm_dataset_pair(ds, 1, NULL) == NULL);
    dm_dataset_free(ds);
    o.text_column = "nope";
    CHECK_FAILS(load_as("key,q,p,y\nk,q,p,y\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_NOT_FOUND,
                "t.csv: no column \"nope\" (dm_dataset_options.text_column); the columns are: \"key\", \"q\", "
                "\"p\", \"y\"");
    o.text_column = "q";
    o.pair_column = "pp";
    CHECK_FAILS(load_as("key,q,p,y\nk,q,p,y\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_NOT_FOUND,
                "no column \"pp\" (dm_dataset_options.pair_column)");
    o.pair_column = NULL;
    o.label_column = "yy";
    CHECK_FAILS(load_as("key,q,p,y\nk,q,p,y\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_NOT_FOUND,
                "no column \"yy\" (dm_dataset_options.label_column)");
    o.label_column = NULL;
    o.id_column = "kk";
    CHECK_FAILS(load_as("key,q,p,y\nk,q,p,y\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_NOT_FOUND,
                "no column \"kk\" (dm_dataset_options.id_column)");

    /* "" means no labels; "id" is the default id column. */
    dm_dataset_options_default(&o);
    o.label_column = "";
    CHECK(load_as("id,text,label\n7,a,x\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(dm_dataset_num_labels(ds) == 0 && dm_dataset_label(ds, 0) == -1 && strcmp(dm_dataset_id(ds, 0), "7") == 0);
    CHECK(dmi_dataset_role_column(ds, DMI_ROLE_LABEL) == -1);
    dm_dataset_free(ds);
    /* require_labels with no labels at all. */
    o.require_labels = 1;
    CHECK_FAILS(load_as("id,text,label\n7,a,x\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "require_labels is set but label_column is \"\"");
    o.label_column = NULL;
    CHECK_FAILS(load_as("id,text\n7,a\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_NOT_FOUND,
                "require_labels is set but there is no \"label\" column; the columns are: \"id\", \"text\"");

    /* A column name used twice is ambiguous when it is used. */
    CHECK_FAILS(load_as("text,label,text\na,1,b\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_PARSE,
                "column \"text\" appears twice (columns 1 and 3)");
    CHECK(load_as("text,x,x\na,1,b\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    dm_dataset_free(ds);
}

/* ----------------------------------------------------------------- labels */

static void test_labels(void)
{
    dm_dataset *ds = NULL;
    dm_dataset_options o;
    /* All integers: numeric order, any size, signs, leading zeros. */
    CHECK(load_as("text,label\na,10\nb,2\nc,-1\nd, +2 \ne,99999999999999999999\nf,-0\ng,007\n", DM_FORMAT_CSV, NULL,
                  &ds) == DM_OK);
    static const char *numeric[] = {"-1", "-0", "+2", "2", "007", "10", "99999999999999999999"};
    CHECK(dm_dataset_num_labels(ds) == 7);
    for (int32_t i = 0; i < 7; i++) CHECK(strcmp(dm_dataset_label_name(ds, i), numeric[i]) == 0);
    CHECK(dm_dataset_label(ds, 0) == 5 && dm_dataset_label(ds, 3) == 2 && dm_dataset_label(ds, 5) == 1);
    CHECK(dm_dataset_label_name(ds, 7) == NULL && dm_dataset_label_name(ds, -1) == NULL);
    dm_dataset_free(ds);
    /* Mixed numbers and strings: byte order for all ("10" < "2" < "neg"). */
    CHECK(load_as("text,label\na,neg\nb,2\nc,10\nd,Neg\ne,1.5\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    static const char *mixed[] = {"1.5", "10", "2", "Neg", "neg"};
    CHECK(dm_dataset_num_labels(ds) == 5);
    for (int32_t i = 0; i < 5; i++) CHECK(strcmp(dm_dataset_label_name(ds, i), mixed[i]) == 0);
    CHECK(label_is(ds, 0, "neg") && label_is(ds, 2, "10"));
    dm_dataset_free(ds);
    /* Whitespace-only and empty labels are no label; require_labels fails. */
    CHECK(load_as("text,label\na, \t\nb,\nc,x\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    CHECK(label_is(ds, 0, NULL) && label_is(ds, 1, NULL) && label_is(ds, 2, "x") && dm_dataset_num_labels(ds) == 1);
    dm_dataset_free(ds);
    dm_dataset_options_default(&o);
    o.require_labels = 1;
    CHECK_FAILS(load_as("text,label\nc,x\na, \n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "t.csv: line 3, column \"label\": the row has no label (require_labels is set)");
    CHECK_FAILS(load_as("{\"text\":\"a\",\"label\":1}\n{\"text\":\"b\",\"label\":null}\n", DM_FORMAT_JSONL, &o, &ds),
                DM_ERR_INVALID_ARGUMENT, "t.jsonl: line 2, column \"label\": the row has no label");

    /* A fixed set: its order, and other labels fail naming label, line and set. */
    static const char *const set[] = {"pos", "neg", "neutral"};
    dm_dataset_options_default(&o);
    o.labels = set;
    o.n_labels = 3;
    CHECK(load_as("text,label\na,neg\nb,pos\nc,\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(dm_dataset_num_labels(ds) == 3 && strcmp(dm_dataset_label_name(ds, 2), "neutral") == 0);
    CHECK(dm_dataset_label(ds, 0) == 1 && dm_dataset_label(ds, 1) == 0 && dm_dataset_label(ds, 2) == -1);
    dm_dataset_free(ds);
    CHECK_FAILS(load_as("text,label\na,neg\nb,Pos\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "t.csv: line 3, column \"label\": label \"Pos\" is not in the label set (\"pos\", \"neg\", "
                "\"neutral\")");
    /* A fixed set with no label column: every row unlabelled, the set kept. */
    o.label_column = "";
    CHECK(load_as("text,label\na,zzz\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(dm_dataset_num_labels(ds) == 3 && dm_dataset_label(ds, 0) == -1);
    dm_dataset_free(ds);
    o.label_column = NULL;
    static const char *const dup[] = {"a", "b", "a"};
    o.labels = dup;
    CHECK_FAILS(load_as("text,label\na,a\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "labels[2] \"a\" repeats labels[0]");
    static const char *const with_null[] = {"a", NULL};
    o.labels = with_null;
    o.n_labels = 2;
    CHECK_FAILS(load_as("text,label\na,a\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT, "labels[1] is NULL");
    static const char *const with_empty[] = {""};
    o.labels = with_empty;
    o.n_labels = 1;
    CHECK_FAILS(load_as("text,label\na,a\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT, "labels[0] is empty");
    /* A label with a NUL byte cannot be a label name. */
    CHECK_FAILS(dmi_dataset_load_memory("text,label\na,x\0y\n", 16, DM_FORMAT_CSV, NULL, "t.csv", &ds),
                DM_ERR_INVALID_ARGUMENT, "t.csv: line 2, column \"label\": the label contains a NUL byte");
    /* Nor can a column name: "label\0" would no longer be found as "label",
     * and the data would silently load without labels. */
    CHECK_FAILS(dmi_dataset_load_memory("text,label\0\na,x\n", 15, DM_FORMAT_CSV, NULL, "h.csv", &ds),
                DM_ERR_PARSE, "h.csv: line 1: the name of column 2 holds a NUL byte (at byte 5 of the name)");
    CHECK_FAILS(dmi_dataset_load_memory("text\tla\0bel\na\tx\n", 15, DM_FORMAT_TSV, NULL, "h.tsv", &ds),
                DM_ERR_PARSE, "h.tsv: line 1: the name of column 2 holds a NUL byte (at byte 2 of the name)");
    /* An empty fixed set: any label is outside it. */
    o.n_labels = 0;
    CHECK_FAILS(load_as("text,label\na,a\n", DM_FORMAT_CSV, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "label \"a\" is not in the label set (empty)");
}

/* ------------------------------------------------------------------ UTF-8 */

static void test_utf8(void)
{
    dm_dataset *ds = NULL;
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    /* Strict: file, line, column name and byte offset. */
    CHECK_FAILS(load_as("text,label\nok,1\n\"ab\ncd\xFF\",1\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_UTF8,
                "t.csv: line 4, column \"text\" (field 1): invalid UTF-8 at byte offset 5 of the field (byte 0xFF)");
    CHECK_FAILS(load_as("text,label\nok,\xC3(\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_UTF8,
                "line 2, column \"label\" (field 2): invalid UTF-8 at byte offset 0");
    CHECK_FAILS(load_as("text,la\xED\xA0\x80\nok,1\n", DM_FORMAT_CSV, NULL, &ds), DM_ERR_UTF8,
                "line 1, the header (field 2): invalid UTF-8 at byte offset 2");
    CHECK_FAILS(load_as("label\tsentence\n1\tover\xC0\xAFlong\n", DM_FORMAT_TSV, NULL, &ds), DM_ERR_UTF8,
                "t.tsv: line 2, column \"sentence\" (field 2): invalid UTF-8 at byte offset 4");
    CHECK_FAILS(load_as("{\"text\": \"ok\"}\n{\"label\": 1, \"text\": \"b\xF4\x90\x80\x80\"}\n", DM_FORMAT_JSONL, NULL,
                        &ds),
                DM_ERR_UTF8, "t.jsonl: line 2, column \"text\": invalid UTF-8 at byte offset 23 of the line");
    CHECK_FAILS(load_as("{\"te\xFFxt\": \"ok\"}\n", DM_FORMAT_JSONL, NULL, &ds), DM_ERR_UTF8, "line 1, in a key");
    /* A bad row skipped for its field count is not checked. */
    o.bad_rows = DM_BAD_ROWS_SKIP;
    CHECK(load_as("text,label\nok,1\nbad\xFF\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 1 && dm_dataset_skipped(ds) == 1);
    dm_dataset_free(ds);

    /* Replace: each maximal bad subpart becomes U+FFFD. */
    dm_dataset_options_default(&o);
    o.invalid_utf8 = DM_UTF8_REPLACE;
    CHECK(load_as("text,label\n\"a\xFF\xE2\x82z\",p\xC3\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "a\xEF\xBF\xBD\xEF\xBF\xBDz"));
    CHECK(label_is(ds, 0, "p\xEF\xBF\xBD"));
    dm_dataset_free(ds);
    CHECK(load_as("text,la\xFF" "bel\nx,1\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(strcmp(dmi_dataset_column_name(ds, 1), "la\xEF\xBF\xBD" "bel") == 0);
    CHECK(dm_dataset_num_labels(ds) == 0); /* no "label" column any more */
    dm_dataset_free(ds);
    o.text_column = "te\xEF\xBF\xBDxt";
    CHECK(load_as("te\xFFxt,label\nx,1\n", DM_FORMAT_CSV, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "x"));
    dm_dataset_free(ds);
    o.text_column = NULL;
    CHECK(load_as("{\"text\": \"b\xED\xA0\x80!\", \"label\": 0}\n", DM_FORMAT_JSONL, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "b\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!"));
    dm_dataset_free(ds);
    CHECK(load_as("label\tsentence\n1\t\xF0\x9F\x98\n", DM_FORMAT_TSV, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "\xEF\xBF\xBD"));
    dm_dataset_free(ds);
}

/* ----------------------------------------------------------------- files */

static void test_files(void)
{
    dm_dataset *ds = NULL;
    const char *p = write_tmp("a.CSV", "text,label\n\"x,y\",1\n", 19);
    CHECK(dm_dataset_load(p, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 1 && text_is(ds, 0, "x,y"));
    dm_dataset_free(ds);
    p = write_tmp("b.tab", "label\ttext\n1\tx,y\n", 16);
    CHECK(dm_dataset_load(p, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 1 && text_is(ds, 0, "x,y"));
    dm_dataset_free(ds);
    p = write_tmp("c.ndjson", "{\"text\":\"j\"}\n", 13);
    CHECK(dm_dataset_load(p, NULL, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "j"));
    dm_dataset_free(ds);
    /* The format option overrides the extension. */
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.format = DM_FORMAT_TSV;
    p = write_tmp("d.csv", "text\tlabel\na,b\t1\n", 17);
    CHECK(dm_dataset_load(p, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "a,b"));
    dm_dataset_free(ds);
    ds = NULL;
    /* Errors name the path. */
    p = write_tmp("empty.csv", "", 0);
    CHECK_FAILS(dm_dataset_load(p, NULL, &ds), DM_ERR_RANGE, "empty.csv: the file is empty");
    p = write_tmp("header.tsv", "label\ttext\n", 11);
    CHECK_FAILS(dm_dataset_load(p, NULL, &ds), DM_ERR_RANGE, "header.tsv: no data rows");
    p = write_tmp("bad.jsonl", "{\"text\": 1}\n{\"text\"\n", 20);
    CHECK_FAILS(dm_dataset_load(p, NULL, &ds), DM_ERR_PARSE, "bad.jsonl: line 2, column");
    p = write_tmp("notes.txt", "text\nx\n", 7);
    CHECK_FAILS(dm_dataset_load(p, NULL, &ds), DM_ERR_INVALID_ARGUMENT, "notes.txt: cannot tell the format");
    CHECK_FAILS(dm_dataset_load("/nonexistent/dir/x.csv", NULL, &ds), DM_ERR_IO,
                "/nonexistent/dir/x.csv: cannot open: No such file or directory");
    char dir[600];
    snprintf(dir, sizeof dir, "%s/folder.csv", tmpdir);
    mkdir(dir, 0700);
    CHECK_FAILS(dm_dataset_load(dir, NULL, &ds), DM_ERR_IO, "is a folder");
    rmdir(dir);
    CHECK(ds == NULL);
}

/* ----------------------------------------------------------- from texts */

static void test_from_texts(void)
{
    dm_dataset *ds = NULL;
    const char *texts[] = {"first", "sec\0ond", "third"};
    const size_t lens[] = {5, 7, 0};
    const char *pairs[] = {"p1", "p2", "p3"};
    const char *labels[] = {" b ", NULL, "a"};
    CHECK(dm_dataset_from_texts(3, texts, lens, pairs, NULL, labels, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 3);
    size_t len = 0;
    const char *t = dm_dataset_text(ds, 1, &len);
    CHECK(t && len == 7 && memcmp(t, "sec\0ond", 7) == 0);
    CHECK(t != texts[1]); /* copied */
    CHECK(text_is(ds, 2, ""));
    CHECK(pair_is(ds, 0, "p1") && pair_is(ds, 2, "p3"));
    CHECK(dm_dataset_num_labels(ds) == 2 && label_is(ds, 0, "b") && label_is(ds, 1, NULL) && label_is(ds, 2, "a"));
    CHECK(strcmp(dm_dataset_id(ds, 0), "1") == 0 && strcmp(dm_dataset_id(ds, 2), "3") == 0);
    CHECK(dmi_dataset_row_line(ds, 0) == 0);
    CHECK(dmi_dataset_num_columns(ds) == 3 && strcmp(dmi_dataset_column_name(ds, 1), "pair") == 0);
    dm_dataset_free(ds);

    /* NULL lens: NUL-terminated; no pairs, no labels. */
    CHECK(dm_dataset_from_texts(2, texts, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    CHECK(text_is(ds, 0, "first") && text_is(ds, 1, "sec") && dm_dataset_pair(ds, 0, NULL) == NULL);
    CHECK(dm_dataset_label(ds, 0) == -1 && dm_dataset_num_labels(ds) == 0);
    dm_dataset_free(ds);
    /* No rows at all. */
    CHECK(dm_dataset_from_texts(0, NULL, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 0 && dm_dataset_text(ds, 0, NULL) == NULL);
    dm_dataset_free(ds);

    /* Options that apply: fixed labels, require_labels, invalid_utf8. */
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    static const char *const set[] = {"a", "b"};
    o.labels = set;
    o.n_labels = 2;
    o.text_column = "ignored"; /* does not apply */
    CHECK(dm_dataset_from_texts(3, texts, lens, NULL, NULL, labels, &o, &ds) == DM_OK);
    CHECK(dm_dataset_label(ds, 0) == 1 && dm_dataset_label(ds, 2) == 0);
    dm_dataset_free(ds);
    const char *bad_labels[] = {"a", "c", "b"};
    CHECK_FAILS(dm_dataset_from_texts(3, texts, lens, NULL, NULL, bad_labels, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "dm_dataset_from_texts: labels[1]: label \"c\" is not in the label set (\"a\", \"b\")");
    o.require_labels = 1;
    CHECK_FAILS(dm_dataset_from_texts(3, texts, lens, NULL, NULL, labels, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "dm_dataset_from_texts: labels[1]: the row has no label");
    CHECK_FAILS(dm_dataset_from_texts(3, texts, lens, NULL, NULL, NULL, &o, &ds), DM_ERR_INVALID_ARGUMENT,
                "require_labels");
    const char *bad[] = {"ok", "b\xFF" "d"};
    CHECK_FAILS(dm_dataset_from_texts(2, bad, NULL, NULL, NULL, NULL, NULL, &ds), DM_ERR_UTF8,
                "dm_dataset_from_texts: text[1]: invalid UTF-8 at byte offset 1 (byte 0xFF)");
    CHECK_FAILS(dm_dataset_from_texts(2, texts, NULL, bad, NULL, NULL, NULL, &ds), DM_ERR_UTF8, "pair[1]");
    dm_dataset_options_default(&o);
    o.invalid_utf8 = DM_UTF8_REPLACE;
    CHECK(dm_dataset_from_texts(2, bad, NULL, NULL, NULL, NULL, &o, &ds) == DM_OK);
    CHECK(text_is(ds, 1, "b\xEF\xBF\xBD" "d"));
    dm_dataset_free(ds);
    ds = NULL;
    /* Bad arguments. */
    CHECK_FAILS(dm_dataset_from_texts(1, NULL, NULL, NULL, NULL, NULL, NULL, &ds), DM_ERR_INVALID_ARGUMENT,
                "texts is NULL");
    const char *with_null[] = {"a", NULL};
    CHECK_FAILS(dm_dataset_from_texts(2, with_null, NULL, NULL, NULL, NULL, NULL, &ds), DM_ERR_INVALID_ARGUMENT,
                "texts[1] is NULL");
    CHECK_FAILS(dm_dataset_from_texts(2, texts, NULL, with_null, NULL, NULL, NULL, &ds), DM_ERR_INVALID_ARGUMENT,
                "pairs[1] is NULL");
    CHECK_FAILS(dm_dataset_from_texts(1, texts, NULL, NULL, NULL, NULL, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "out is NULL");
    CHECK(ds == NULL);
}

static void test_null_safety(void)
{
    dm_dataset_free(NULL);
    size_t len = 5;
    CHECK(dm_dataset_size(NULL) == 0 && dm_dataset_skipped(NULL) == 0);
    CHECK(dm_dataset_text(NULL, 0, &len) == NULL && len == 0);
    CHECK(dm_dataset_pair(NULL, 0, NULL) == NULL && dm_dataset_label(NULL, 0) == -1);
    CHECK(dm_dataset_id(NULL, 0) == NULL && dm_dataset_num_labels(NULL) == 0 && dm_dataset_label_name(NULL, 0) == NULL);
    CHECK(dmi_dataset_num_columns(NULL) == 0 && dmi_dataset_column_name(NULL, 0) == NULL);
    CHECK(dmi_dataset_cell(NULL, 0, 0, NULL, NULL) == NULL && dmi_dataset_role_column(NULL, DMI_ROLE_TEXT) == -1);
    CHECK(dmi_dataset_row_line(NULL, 0) == 0);
    dm_dataset *ds = NULL;
    CHECK(load_as("text,label\na,1\n", DM_FORMAT_CSV, NULL, &ds) == DM_OK);
    len = 5;
    CHECK(dm_dataset_text(ds, 1, &len) == NULL && len == 0);
    CHECK(dm_dataset_text(ds, 0, NULL) != NULL);
    CHECK(dm_dataset_label(ds, 1) == -1 && dm_dataset_id(ds, 1) == NULL && dm_dataset_label_name(ds, 1) == NULL);
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------ real data */

static uint64_t fnv_texts(const dm_dataset *ds)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < dm_dataset_size(ds); i++) {
        size_t len;
        const unsigned char *t = (const unsigned char *)dm_dataset_text(ds, i, &len);
        for (size_t k = 0; k <= len; k++) { /* with the NUL after each text */
            h ^= t[k];
            h *= 1099511628211ull;
        }
    }
    return h;
}

static size_t count_label(const dm_dataset *ds, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < dm_dataset_size(ds); i++) n += label_is(ds, i, name);
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Loads DIR/REL; NULL (with a note) when the file is absent. */
static dm_dataset *load_real(const char *dir, const char *rel, const dm_dataset_options *o)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (access(path, R_OK) != 0) {
        printf("note: %s not found: its checks are skipped\n", path);
        return NULL;
    }
    dm_dataset *ds = NULL;
    double t0 = now();
    dm_status st = dm_dataset_load(path, o, &ds);
    printf("%s: %s, %zu rows in %.3f s\n", rel, dm_status_name(st), dm_dataset_size(ds), now() - t0);
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    return ds;
}

/* Expected figures computed once with Python's csv module (TSV: split on
 * TAB), the hash being FNV-1a 64 over each text's UTF-8 bytes and a NUL. */
static void test_real_data(void)
{
    const char *dir = getenv("DATA");
    char fallback[1024];
    if (!dir || !dir[0]) {
        const char *src = getenv("SRCROOT");
        snprintf(fallback, sizeof fallback, "%s/../shared/data", src && src[0] ? src : ".");
        dir = fallback;
    }
    dm_dataset *ds = load_real(dir, "sst2/train.tsv", NULL);
    if (ds) {
        CHECK(dm_dataset_size(ds) == 67349 && dm_dataset_skipped(ds) == 0);
        CHECK(dm_dataset_num_labels(ds) == 2 && count_label(ds, "0") == 29780 && count_label(ds, "1") == 37569);
        CHECK(fnv_texts(ds) == 0xcb8777a0bccc0960ull); /* no CR left from the CRLF line ends */
        CHECK(strcmp(dm_dataset_id(ds, 67348), "67349") == 0);
        dm_dataset_free(ds);
    }
    ds = load_real(dir, "sst2/dev.tsv", NULL);
    if (ds) {
        CHECK(dm_dataset_size(ds) == 872 && count_label(ds, "0") == 428 && count_label(ds, "1") == 444);
        CHECK(fnv_texts(ds) == 0xda8a133ac842c537ull);
        dm_dataset_free(ds);
    }
    ds = load_real(dir, "chnsenticorp_htl/ChnSentiCorp_htl_all.csv", NULL);
    if (ds) {
        CHECK(dm_dataset_size(ds) == 7766);
        CHECK(count_label(ds, "0") == 2444 && count_label(ds, "1") == 5322);
        CHECK(fnv_texts(ds) == 0x318f9d6d237ab278ull);
        size_t len = 9;
        CHECK(dm_dataset_text(ds, 6374, &len) && len == 0); /* the one empty review */
        dm_dataset_free(ds);
    }
    ds = load_real(dir, "online_shopping_10_cats/online_shopping_10_cats.csv", NULL);
    if (ds) {
        CHECK(dm_dataset_size(ds) == 62774);
        CHECK(count_label(ds, "0") == 31046 && count_label(ds, "1") == 31728);
        CHECK(fnv_texts(ds) == 0x36e4de6ab62663eeull);
        size_t len = 9, boms = 0;
        for (size_t i = 0; i < dm_dataset_size(ds); i++)
            boms += strncmp(dm_dataset_text(ds, i, NULL), "\xEF\xBB\xBF", 3) == 0;
        CHECK(boms == 20); /* a BOM inside a field is text, kept */
        CHECK(dm_dataset_text(ds, 36425, &len) && len == 0);
        CHECK(dmi_dataset_num_columns(ds) == 3);
        dm_dataset_free(ds);
    }
    /* The category as the label: 10 classes in byte order. */
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.label_column = "cat";
    o.require_labels = 1;
    ds = load_real(dir, "online_shopping_10_cats/online_shopping_10_cats.csv", &o);
    if (ds) {
        static const size_t per_class[] = {3851, 10000, 2323, 10000, 10000, 575, 2033, 10000, 3992, 10000};
        CHECK(dm_dataset_num_labels(ds) == 10);
        size_t counts[10] = {0};
        for (size_t i = 0; i < dm_dataset_size(ds); i++) {
            int32_t l = dm_dataset_label(ds, i);
            if (l >= 0 && l < 10) counts[l]++;
        }
        for (size_t c = 0; c < 10; c++) CHECK(counts[c] == per_class[c]);
        dm_dataset_free(ds);
    }
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_options();
    test_csv_basic();
    test_csv_errors();
    test_tsv();
    test_jsonl();
    test_columns();
    test_labels();
    test_utf8();
    test_files();
    test_from_texts();
    test_null_safety();
    test_real_data();
    /* The files test_files wrote. */
    static const char *files[] = {"a.CSV", "b.tab", "c.ndjson", "d.csv", "empty.csv", "header.tsv", "bad.jsonl",
                                  "notes.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return check_summary();
}
