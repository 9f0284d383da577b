/*
 * fuzz_dataset.c — libFuzzer target: the input is a data file read from
 * memory as CSV, as TSV and as JSONL (dmi_dataset_load_memory), first with
 * strict UTF-8 and failing bad rows, then replacing bad UTF-8 and skipping bad
 * rows. Loading must fail cleanly or give a dataset that keeps the documented
 * promises: rows >= 1, every cell valid NUL-terminated UTF-8, labels in range
 * with a trimmed, ordered label set; strict success means valid input, and on
 * valid input both policies agree. A loaded dataset is then rebuilt with its
 * own labels as a fixed set and through dm_dataset_from_texts.
 */
#include "fuzz_common.h"
#include "data/dataset_internal.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* An optionally signed decimal integer; written apart from lib/data. */
static int is_integer(const char *s)
{
    if (*s == '+' || *s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Numeric comparison of two integers as text (sign, then length without
 * leading zeros, then digits). 0 for equal values. */
static int compare_integers(const char *a, const char *b)
{
    int na = *a == '-', nb = *b == '-';
    if (*a == '+' || *a == '-') a++;
    if (*b == '+' || *b == '-') b++;
    while (a[0] == '0' && a[1]) a++;
    while (b[0] == '0' && b[1]) b++;
    if (strcmp(a, "0") == 0) na = 0;
    if (strcmp(b, "0") == 0) nb = 0;
    if (na != nb) return na ? -1 : 1;
    size_t la = strlen(a), lb = strlen(b);
    int c = la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
    return na ? -c : c;
}

static void check_label_set(const dm_dataset *ds)
{
    size_t n = dm_dataset_num_labels(ds);
    int numeric = 1;
    for (size_t i = 0; i < n; i++) {
        const char *name = dm_dataset_label_name(ds, (int32_t)i);
        FZ_CHECK(name != NULL && name[0] != '\0');
        FZ_CHECK(!is_space(name[0]) && !is_space(name[strlen(name) - 1]));
        FZ_CHECK(fz_utf8_valid((const uint8_t *)name, strlen(name)));
        numeric = numeric && is_integer(name);
    }
    FZ_CHECK(dm_dataset_label_name(ds, (int32_t)n) == NULL && dm_dataset_label_name(ds, -1) == NULL);
    for (size_t i = 1; i < n; i++) {
        const char *a = dm_dataset_label_name(ds, (int32_t)i - 1), *b = dm_dataset_label_name(ds, (int32_t)i);
        int c = numeric ? compare_integers(a, b) : 0;
        if (c == 0) c = strcmp(a, b); /* byte order, also between equal numbers */
        FZ_CHECK(c < 0);
    }
}

static void check_cell(const char *s, size_t len)
{
    FZ_CHECK(s != NULL && s[len] == '\0');
    FZ_CHECK(fz_utf8_valid((const uint8_t *)s, len));
}

static void check_dataset(const dm_dataset *ds)
{
    size_t rows = dm_dataset_size(ds), cols = dmi_dataset_num_columns(ds);
    FZ_CHECK(rows >= 1 && cols >= 1);
    check_label_set(ds);
    for (size_t c = 0; c < cols; c++) {
        const char *name = dmi_dataset_column_name(ds, c);
        check_cell(name, strlen(name));
    }
    for (size_t r = 0; r < rows; r++) {
        size_t len = 0;
        const char *t = dm_dataset_text(ds, r, &len);
        check_cell(t, len);
        int32_t l = dm_dataset_label(ds, r);
        FZ_CHECK(l >= -1 && (l < 0 || (size_t)l < dm_dataset_num_labels(ds)));
        const char *id = dm_dataset_id(ds, r);
        FZ_CHECK(id != NULL);
        FZ_CHECK(dmi_dataset_row_line(ds, r) >= 1);
        for (size_t c = 0; c < cols; c++) {
            bool missing;
            const char *cell = dmi_dataset_cell(ds, r, c, &len, &missing);
            check_cell(cell, len);
            FZ_CHECK(!missing || len == 0);
        }
    }
    FZ_CHECK(dm_dataset_text(ds, rows, NULL) == NULL && dm_dataset_id(ds, rows) == NULL);
}

/* Same rows, texts, label names and (when SAME_IDS) ids. */
static void check_same(const dm_dataset *a, const dm_dataset *b, int same_ids)
{
    FZ_CHECK(dm_dataset_size(a) == dm_dataset_size(b));
    for (size_t r = 0; r < dm_dataset_size(a); r++) {
        size_t la, lb;
        const char *ta = dm_dataset_text(a, r, &la), *tb = dm_dataset_text(b, r, &lb);
        FZ_CHECK(la == lb && memcmp(ta, tb, la) == 0);
        if (same_ids) FZ_CHECK(strcmp(dm_dataset_id(a, r), dm_dataset_id(b, r)) == 0);
        int32_t ia = dm_dataset_label(a, r), ib = dm_dataset_label(b, r);
        FZ_CHECK((ia < 0) == (ib < 0));
        if (ia >= 0) FZ_CHECK(strcmp(dm_dataset_label_name(a, ia), dm_dataset_label_name(b, ib)) == 0);
    }
}

/* The labels of DS, in reverse, as a fixed set: the same rows load. */
static void reload_with_fixed_labels(const char *data, size_t size, dm_file_format format, const dm_dataset *ds,
                                     const dm_dataset_options *base)
{
    size_t n = dm_dataset_num_labels(ds);
    const char **set = malloc((n ? n : 1) * sizeof *set);
    if (!set) return;
    for (size_t i = 0; i < n; i++) set[i] = dm_dataset_label_name(ds, (int32_t)(n - 1 - i));
    dm_dataset_options o = *base;
    o.labels = set;
    o.n_labels = n;
    dm_dataset *fixed = NULL;
    dm_status st = dmi_dataset_load_memory(data, size, format, &o, "fuzz", &fixed);
    FZ_CHECK(st == DM_OK);
    FZ_CHECK(dm_dataset_num_labels(fixed) == n);
    for (size_t r = 0; r < dm_dataset_size(ds); r++) {
        int32_t l = dm_dataset_label(ds, r);
        FZ_CHECK(dm_dataset_label(fixed, r) == (l < 0 ? -1 : (int32_t)(n - 1 - (size_t)l)));
    }
    dm_dataset_free(fixed);
    free(set);
}

/* The texts and labels of DS through dm_dataset_from_texts: the same set. */
static void rebuild_from_texts(const dm_dataset *ds)
{
    size_t n = dm_dataset_size(ds);
    const char **texts = malloc(n * sizeof *texts), **labels = malloc(n * sizeof *labels);
    size_t *lens = malloc(n * sizeof *lens);
    if (texts && labels && lens) {
        for (size_t r = 0; r < n; r++) {
            texts[r] = dm_dataset_text(ds, r, &lens[r]);
            labels[r] = dm_dataset_label_name(ds, dm_dataset_label(ds, r)); /* NULL: none */
        }
        dm_dataset *copy = NULL;
        dm_status st = dm_dataset_from_texts(n, texts, lens, texts, lens, labels, NULL, &copy);
        FZ_CHECK(st == DM_OK);
        check_same(ds, copy, 0); /* its ids are its own row numbers */
        for (size_t r = 0; r < n; r++) FZ_CHECK(dm_dataset_label(copy, r) == dm_dataset_label(ds, r));
        dm_dataset_free(copy);
    }
    free(texts);
    free(labels);
    free(lens);
}

/* Every column of A and B holds the same values (B may have a generated id
 * column first, when A's ids were row numbers). */
static void check_same_cells(const dm_dataset *a, const dm_dataset *b)
{
    size_t shift = dmi_dataset_num_columns(b) - dmi_dataset_num_columns(a);
    FZ_CHECK(shift <= 1);
    for (size_t r = 0; r < dm_dataset_size(a) && r < dm_dataset_size(b); r++)
        for (size_t c = 0; c < dmi_dataset_num_columns(a); c++) {
            size_t la, lb;
            bool ma, mb;
            const char *va = dmi_dataset_cell(a, r, c, &la, &ma), *vb = dmi_dataset_cell(b, r, c + shift, &lb, &mb);
            FZ_CHECK(la == lb && memcmp(va, vb, la) == 0);
        }
}

/* DS written in FORMAT and read back strictly: the same rows, ids, labels and
 * cells. TSV may refuse values it cannot carry (a TAB or a line break). */
static void write_and_reload(const dm_dataset *ds, dm_file_format format)
{
    char *out = NULL;
    size_t len = 0;
    dm_status st = dmi_dataset_serialize(ds, format, "fuzz-out", &out, &len);
    if (st) {
        FZ_CHECK(format == DM_FORMAT_TSV && st == DM_ERR_INVALID_ARGUMENT);
        return;
    }
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.text_column = dmi_dataset_column_name(ds, (size_t)dmi_dataset_role_column(ds, DMI_ROLE_TEXT));
    ptrdiff_t label = dmi_dataset_role_column(ds, DMI_ROLE_LABEL);
    o.label_column = label >= 0 ? dmi_dataset_column_name(ds, (size_t)label) : "";
    o.id_column = dmi_dataset_role_column(ds, DMI_ROLE_ID) >= 0
                      ? dmi_dataset_column_name(ds, (size_t)dmi_dataset_role_column(ds, DMI_ROLE_ID))
                      : "id";
    dm_dataset *back = NULL;
    st = dmi_dataset_load_memory(out, len, format, &o, "fuzz-out", &back);
    /* A column named like the generated "id" makes the name ambiguous: refused. */
    if (st == DM_ERR_PARSE && strstr(dm_last_error(), "appears twice")) {
        free(out);
        return;
    }
    FZ_CHECK(st == DM_OK);
    if (back) {
        check_same(ds, back, 1);
        check_same_cells(ds, back);
    }
    dm_dataset_free(back);
    free(out);
}

static dm_status load(const char *data, size_t size, dm_file_format format, const dm_dataset_options *o,
                      dm_dataset **ds)
{
    *ds = NULL;
    dm_status st = dmi_dataset_load_memory(data, size, format, o, "fuzz", ds);
    if (st == DM_OK) {
        check_dataset(*ds);
        return st;
    }
    fz_check_failure(st);
    FZ_CHECK(*ds == NULL);
    /* DM_ERR_INVALID_ARGUMENT: a label with a NUL byte. */
    FZ_CHECK(st == DM_ERR_PARSE || st == DM_ERR_UTF8 || st == DM_ERR_NOT_FOUND || st == DM_ERR_RANGE ||
             st == DM_ERR_INVALID_ARGUMENT || st == DM_ERR_NO_MEMORY);
    return st;
}

static void fuzz_format(const char *data, size_t size, dm_file_format format, int valid_utf8)
{
    dm_dataset_options strict, lenient;
    dm_dataset_options_default(&strict);
    dm_dataset_options_default(&lenient);
    lenient.invalid_utf8 = DM_UTF8_REPLACE;
    lenient.bad_rows = DM_BAD_ROWS_SKIP;

    dm_dataset *a = NULL, *b = NULL;
    dm_status sa = load(data, size, format, &strict, &a);
    dm_status sb = load(data, size, format, &lenient, &b);
    /* Strict UTF-8: success means the input was valid, DM_ERR_UTF8 that it was not. */
    if (sa == DM_OK) FZ_CHECK(valid_utf8 && dm_dataset_skipped(a) == 0);
    if (sa == DM_ERR_UTF8) FZ_CHECK(!valid_utf8);
    FZ_CHECK(sb != DM_ERR_UTF8);
    /* A strict success leaves nothing for the lenient policies to change. */
    if (sa == DM_OK) {
        FZ_CHECK(sb == DM_OK && dm_dataset_skipped(b) == 0);
        check_same(a, b, 1);
    }
    if (b) {
        reload_with_fixed_labels(data, size, format, b, &lenient);
        rebuild_from_texts(b);
        write_and_reload(b, format);
    }
    /* Skipping rows with bad UTF-8: what is kept is valid, what is skipped says where and why. */
    dm_dataset_options skipping = lenient;
    skipping.invalid_utf8 = DM_UTF8_SKIP_ROW;
    dm_dataset *c = NULL;
    if (load(data, size, format, &skipping, &c) == DM_OK) {
        for (size_t i = 0; i < dm_dataset_skipped(c); i++) {
            size_t line = 0;
            const char *reason = NULL;
            FZ_CHECK(dm_dataset_skipped_row(c, i, &line, &reason) == DM_OK && line >= 1 && reason && reason[0]);
        }
        if (b) FZ_CHECK(dm_dataset_size(c) <= dm_dataset_size(b));
        dm_dataset_free(c);
    }
    dm_dataset_free(a);
    dm_dataset_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    int valid = fz_utf8_valid(data, size);
    fuzz_format(text, size, DM_FORMAT_CSV, valid);
    fuzz_format(text, size, DM_FORMAT_TSV, valid);
    fuzz_format(text, size, DM_FORMAT_JSONL, valid);
    return 0;
}
