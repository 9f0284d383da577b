/*
 * test_derive.c — datasets made from datasets and written back: select
 * (with repeats), ids that survive derivation, the label set carried over,
 * dm_dataset_write as CSV/TSV/JSONL (quoting, missing values, TSV refusals,
 * atomic replace, unwritable paths) and reloading what was written; skipped
 * rows with their reasons; the group column; label ids.
 */
#include "datamodel.h"
#include "data/dataset_internal.h"
#include "data/ops.h"

#include "../unit/check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dm_test_derive_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static const char *write_tmp(const char *name, const char *data)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    fputs(data, f);
    fclose(f);
    return path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int text_is(const dm_dataset *ds, size_t i, const char *want)
{
    size_t len = 0;
    const char *t = dm_dataset_text(ds, i, &len);
    return t && len == strlen(want) && memcmp(t, want, len) == 0;
}

static const char *csv_input = "text,label,note\n"
                               "\"hello, world\",pos,a\n"
                               "plain,neg,\"say \"\"hi\"\"\"\n"
                               "\"two\nlines\",pos,\n";

static void test_select_keeps_ids_and_labels(void)
{
    dm_dataset *ds = NULL, *sel = NULL;
    CHECK(dm_dataset_load(write_tmp("in.csv", csv_input), NULL, &ds) == DM_OK);
    size_t rows[] = {2, 0, 2};
    CHECK(dm_dataset_select(ds, rows, 3, &sel) == DM_OK);
    CHECK(dm_dataset_size(sel) == 3);
    CHECK(text_is(sel, 0, "two\nlines") && text_is(sel, 1, "hello, world") && text_is(sel, 2, "two\nlines"));
    /* Row-number ids become a real id column and keep the source's numbers. */
    CHECK(strcmp(dm_dataset_id(sel, 0), "3") == 0 && strcmp(dm_dataset_id(sel, 1), "1") == 0);
    CHECK(strcmp(dmi_dataset_column_name(sel, 0), "id") == 0);
    CHECK(dm_dataset_num_labels(sel) == 2);
    CHECK(dm_dataset_label(sel, 1) == dm_dataset_label(ds, 0));
    CHECK(strcmp(dm_dataset_label_name(sel, dm_dataset_label(sel, 0)), "pos") == 0);
    CHECK(dmi_dataset_row_line(sel, 0) == 4); /* the source line survives */
    /* A subset of a subset keeps the same ids (no second id column). */
    dm_dataset *sel2 = NULL;
    size_t one[] = {1};
    CHECK(dm_dataset_select(sel, one, 1, &sel2) == DM_OK);
    CHECK(dmi_dataset_num_columns(sel2) == dmi_dataset_num_columns(sel));
    CHECK(strcmp(dm_dataset_id(sel2, 0), "1") == 0);
    dm_dataset_free(sel2);
    /* An empty selection is a valid, empty dataset. */
    dm_dataset *none = NULL;
    CHECK(dm_dataset_select(ds, rows, 0, &none) == DM_OK && dm_dataset_size(none) == 0);
    dm_dataset_free(none);
    size_t bad[] = {0, 3};
    CHECK_FAILS(dm_dataset_select(ds, bad, 2, &sel2), DM_ERR_RANGE, "rows[1] = 3 is out of range");
    CHECK_FAILS(dm_dataset_select(NULL, rows, 1, &sel2), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_dataset_select(ds, NULL, 1, &sel2), DM_ERR_INVALID_ARGUMENT, "NULL");
    dm_dataset_free(sel);
    dm_dataset_free(ds);
}

static void test_write_csv_round_trip(void)
{
    dm_dataset *ds = NULL, *back = NULL;
    CHECK(dm_dataset_load(write_tmp("rt.csv", csv_input), NULL, &ds) == DM_OK);
    const char *out = tmp_path("out.csv");
    CHECK(dm_dataset_write(ds, out, DM_FORMAT_AUTO) == DM_OK);
    const char *want = "id,text,label,note\n"
                       "1,\"hello, world\",pos,a\n"
                       "2,plain,neg,\"say \"\"hi\"\"\"\n"
                       "3,\"two\nlines\",pos,\n";
    char *got = slurp(out);
    CHECK(got && strcmp(got, want) == 0);
    CHECK(dm_dataset_load(out, NULL, &back) == DM_OK);
    CHECK(dm_dataset_size(back) == 3 && text_is(back, 2, "two\nlines"));
    CHECK(strcmp(dm_dataset_id(back, 1), "2") == 0);
    /* Written again, a file with an id column stays byte-identical. */
    const char *out2 = tmp_path("out2.csv");
    CHECK(dm_dataset_write(back, out2, DM_FORMAT_CSV) == DM_OK);
    got = slurp(out2);
    CHECK(got && strcmp(got, want) == 0);
    dm_dataset_free(back);
    dm_dataset_free(ds);
}

static void test_write_jsonl_and_tsv(void)
{
    dm_dataset *ds = NULL, *back = NULL;
    CHECK(dm_dataset_load(write_tmp("in.jsonl", "{\"text\":\"a\\tb\",\"label\":1,\"x\":null}\n"
                                                "{\"text\":\"caf\\u00e9 \\\"q\\\"\",\"label\":0}\n"),
                          NULL, &ds) == DM_OK);
    const char *out = tmp_path("out.jsonl");
    CHECK(dm_dataset_write(ds, out, DM_FORMAT_AUTO) == DM_OK);
    char *got = slurp(out);
    CHECK(got && strcmp(got, "{\"id\":\"1\",\"text\":\"a\\tb\",\"label\":\"1\",\"x\":null}\n"
                             "{\"id\":\"2\",\"text\":\"caf\xC3\xA9 \\\"q\\\"\",\"label\":\"0\",\"x\":null}\n") == 0);
    CHECK(dm_dataset_load(out, NULL, &back) == DM_OK && text_is(back, 0, "a\tb"));
    dm_dataset_free(back);
    /* TSV cannot carry the TAB: refused, naming row and column; nothing written. */
    CHECK_FAILS(dm_dataset_write(ds, tmp_path("out.tsv"), DM_FORMAT_AUTO), DM_ERR_INVALID_ARGUMENT,
                "row 1, column \"text\"");
    struct stat sb;
    CHECK(stat(tmp_path("out.tsv"), &sb) != 0);
    dm_dataset_free(ds);

    CHECK(dm_dataset_load(write_tmp("in.tsv", "sentence\tlabel\nfine text\t1\n"), NULL, &ds) == DM_OK);
    CHECK(dm_dataset_write(ds, tmp_path("out.tsv"), DM_FORMAT_AUTO) == DM_OK);
    got = slurp(tmp_path("out.tsv"));
    CHECK(got && strcmp(got, "id\tsentence\tlabel\n1\tfine text\t1\n") == 0);
    dm_dataset_free(ds);
}

static void test_write_errors(void)
{
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_load(write_tmp("e.csv", csv_input), NULL, &ds) == DM_OK);
    CHECK_FAILS(dm_dataset_write(ds, tmp_path("out.txt"), DM_FORMAT_AUTO), DM_ERR_INVALID_ARGUMENT,
                "cannot tell the format");
    CHECK_FAILS(dm_dataset_write(ds, "/nonexistent-dir/x.csv", DM_FORMAT_AUTO), DM_ERR_IO, "/nonexistent-dir/x.csv");
    CHECK_FAILS(dm_dataset_write(ds, tmp_path("x.csv"), (dm_file_format)9), DM_ERR_INVALID_ARGUMENT, "unknown format");
    CHECK_FAILS(dm_dataset_write(NULL, tmp_path("x.csv"), DM_FORMAT_AUTO), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_dataset_write(ds, NULL, DM_FORMAT_AUTO), DM_ERR_INVALID_ARGUMENT, "NULL");
    dm_dataset_free(ds);
}

static void test_derive_rows_with_new_text(void)
{
    dm_dataset *ds = NULL, *d = NULL;
    CHECK(dm_dataset_load(write_tmp("d.csv", "id,text,label\nr1,first,a\nr2,second,b\n"), NULL, &ds) == DM_OK);
    const char *extra_names[] = {"source_id"};
    CHECK(dmi_derive_begin(ds, 1, extra_names, &d) == DM_OK);
    const char *extra[] = {"r1"};
    CHECK(dmi_derive_row(d, ds, 0, "changed", 7, NULL, 0, extra, "r1#aug1") == DM_OK);
    CHECK(dmi_derive_row(d, ds, 1, NULL, 0, NULL, 0, NULL, NULL) == DM_OK);
    CHECK_FAILS(dmi_derive_row(d, ds, 2, NULL, 0, NULL, 0, NULL, NULL), DM_ERR_RANGE, "row 2 out of range");
    CHECK(dm_dataset_size(d) == 2 && text_is(d, 0, "changed") && text_is(d, 1, "second"));
    CHECK(strcmp(dm_dataset_id(d, 0), "r1#aug1") == 0 && strcmp(dm_dataset_id(d, 1), "r2") == 0);
    CHECK(dmi_dataset_num_columns(d) == 4); /* id, text, label, source_id: no second id column */
    CHECK(dm_dataset_write(d, tmp_path("d_out.csv"), DM_FORMAT_AUTO) == DM_OK);
    char *got = slurp(tmp_path("d_out.csv"));
    CHECK(got && strcmp(got, "id,text,label,source_id\nr1#aug1,changed,a,r1\nr2,second,b,\n") == 0);
    dm_dataset_free(d);
    dm_dataset_free(ds);
}

static void test_skipped_rows_and_group(void)
{
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.bad_rows = DM_BAD_ROWS_SKIP;
    o.invalid_utf8 = DM_UTF8_SKIP_ROW;
    o.group_column = "who";
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_load(write_tmp("s.csv", "text,label,who\nok,1,ann\nbad,1\nx\xFFy,0,bob\nfine,0,bob\n"), &o,
                          &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 2 && dm_dataset_skipped(ds) == 2);
    size_t line = 0;
    const char *reason = NULL;
    CHECK(dm_dataset_skipped_row(ds, 0, &line, &reason) == DM_OK && line == 3 &&
          strstr(reason, "wrong number of fields: expected 3, found 2"));
    CHECK(dm_dataset_skipped_row(ds, 1, &line, &reason) == DM_OK && line == 4 && strstr(reason, "invalid UTF-8"));
    CHECK_FAILS(dm_dataset_skipped_row(ds, 2, &line, &reason), DM_ERR_RANGE, "2 rows were skipped");
    size_t len = 0;
    CHECK(strcmp(dm_dataset_group(ds, 1, &len), "bob") == 0 && len == 3);
    CHECK(dm_dataset_label_id(ds, "1") == dm_dataset_label(ds, 0) && dm_dataset_label_id(ds, "7") == -1);
    dm_dataset_free(ds);

    /* JSONL: broken lines are skipped under DM_BAD_ROWS_SKIP, with their reason. */
    CHECK(dm_dataset_load(write_tmp("s.jsonl", "{\"text\":\"a\"}\n{broken\n[1]\n{\"text\":\"b\"}\n"), &o, &ds) ==
          DM_ERR_NOT_FOUND); /* group column "who" is absent: named */
    CHECK(strstr(dm_last_error(), "no column \"who\""));
    o.group_column = NULL;
    CHECK(dm_dataset_load(tmp_path("s.jsonl"), &o, &ds) == DM_OK);
    CHECK(dm_dataset_size(ds) == 2 && dm_dataset_skipped(ds) == 2);
    CHECK(dm_dataset_skipped_row(ds, 0, &line, &reason) == DM_OK && line == 2 && strstr(reason, "invalid JSON"));
    CHECK(dm_dataset_skipped_row(ds, 1, &line, &reason) == DM_OK && line == 3 &&
          strstr(reason, "expected a JSON object"));
    CHECK(dm_dataset_group(ds, 0, &len) == NULL);
    dm_dataset_free(ds);
    /* Every row skipped: an error that shows the first reason. */
    CHECK_FAILS(dm_dataset_load(write_tmp("all.csv", "text,label\na\nb\n"), &o, &ds), DM_ERR_RANGE,
                "line 2, wrong number of fields");
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_select_keeps_ids_and_labels();
    test_write_csv_round_trip();
    test_write_jsonl_and_tsv();
    test_write_errors();
    test_derive_rows_with_new_text();
    test_skipped_rows_and_group();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
