/*
 * labels.c — a dataset's label set and each row's label id.
 *
 * Labels are strings, trimmed of surrounding ASCII whitespace; an empty or
 * missing label means "no label" (-1). Without a fixed set, the set is the
 * unique labels ordered numerically when every one is an integer (optionally
 * signed, any size: "-1" < "2" < "10"), else by bytes (strcmp: "10" < "2" <
 * "neg"), so that the ids do not depend on row order and "0"/"1" data get ids
 * 0 and 1.
 */
#include "dataset_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* ROW's label, trimmed; *LEN 0 when it has none. */
static const char *row_label(const dm_dataset *ds, size_t row, size_t *len)
{
    dmi_cell c = dmi_table_cell(&ds->table, row, (size_t)ds->label_col);
    if (c.len == DMI_CELL_MISSING) {
        *len = 0;
        return "";
    }
    const char *s = dmi_table_str(&ds->table, c);
    size_t b = 0, e = c.len;
    while (b < e && ascii_space(s[b])) b++;
    while (e > b && ascii_space(s[e - 1])) e--;
    *len = e - b;
    return s + b;
}

/* "a", "b", ... for a message, cut to fit CAP. */
static void list_labels(const dmi_strmap *set, char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < set->count; i++) {
        int n = snprintf(buf + at, cap - at, "%s\"%s\"", i ? ", " : "", dmi_strmap_key(set, i));
        if (n < 0 || (size_t)n >= cap - at) {
            snprintf(buf + (at < cap - 8 ? at : cap - 8), 8, ", ...");
            return;
        }
        at += (size_t)n;
    }
}

static dm_status fixed_set(dm_dataset *ds, const dm_dataset_options *o)
{
    for (size_t i = 0; i < o->n_labels; i++) {
        const char *l = o->labels[i];
        if (!l || !l[0])
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_options.labels[%zu] is %s", i,
                            l ? "empty (an empty label means \"no label\")" : "NULL");
        size_t index;
        dm_status st = dmi_strmap_add(&ds->label_set, l, strlen(l), &index);
        if (st) return st;
        if (index != i)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_options.labels[%zu] \"%s\" repeats labels[%zu]", i,
                            l, index);
    }
    return DM_OK;
}

static dm_status no_label(const dm_dataset *ds, const char *name, size_t row)
{
    char where[300];
    dmi_dataset_describe_cell(ds, name, row, (size_t)ds->label_col, where, sizeof where);
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the row has no label (require_labels is set)", where);
}

static dm_status not_in_set(const dm_dataset *ds, const char *name, size_t row, const char *l, size_t len)
{
    char where[300], allowed[600];
    dmi_dataset_describe_cell(ds, name, row, (size_t)ds->label_col, where, sizeof where);
    list_labels(&ds->label_set, allowed, sizeof allowed);
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: label \"%.*s\" is not in the label set (%s)", where,
                    (int)(len > 200 ? 200 : len), l, ds->label_set.count ? allowed : "empty");
}

static dm_status nul_in_label(const dm_dataset *ds, const char *name, size_t row)
{
    char where[300];
    dmi_dataset_describe_cell(ds, name, row, (size_t)ds->label_col, where, sizeof where);
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the label contains a NUL byte", where);
}

/* ----------------------------------------------------------- ordering */

typedef struct sort_key {
    const char *s;
    size_t len;
    size_t index; /* in first-seen order */
    bool negative;
    const char *digits; /* without sign and leading zeros */
    size_t n_digits;
} sort_key;

/* Whether S is an optionally signed decimal integer; fills the numeric key. */
static bool parse_integer(sort_key *k)
{
    const char *s = k->s, *e = k->s + k->len;
    bool neg = false;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    if (s == e) return false;
    for (const char *p = s; p < e; p++)
        if (*p < '0' || *p > '9') return false;
    while (s + 1 < e && *s == '0') s++;
    k->digits = s;
    k->n_digits = (size_t)(e - s);
    k->negative = neg && !(k->n_digits == 1 && *s == '0'); /* -0 is 0 */
    return true;
}

static int compare_bytes(const sort_key *a, const sort_key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->s, b->s, n) : 0;
    if (c) return c;
    return (a->len > b->len) - (a->len < b->len);
}

static int compare_numbers(const void *pa, const void *pb)
{
    const sort_key *a = pa, *b = pb;
    if (a->negative != b->negative) return a->negative ? -1 : 1;
    int c = (a->n_digits > b->n_digits) - (a->n_digits < b->n_digits);
    if (!c) c = memcmp(a->digits, b->digits, a->n_digits);
    if (a->negative) c = -c;
    /* Equal values written differently ("1", "01", "+1"): by bytes. */
    return c ? c : compare_bytes(a, b);
}

static int compare_strings(const void *a, const void *b) { return compare_bytes(a, b); }

/* Re-orders the label set found in the data and renumbers the rows. */
static dm_status order_label_set(dm_dataset *ds)
{
    dmi_strmap *seen = &ds->label_set;
    size_t n = seen->count;
    sort_key *keys = dmi_calloc(n, sizeof *keys);
    size_t *new_id = dmi_calloc(n, sizeof *new_id);
    dmi_strmap ordered = {0};
    dm_status st = keys && new_id ? DM_OK : DM_ERR_NO_MEMORY;
    bool numeric = true;
    for (size_t i = 0; i < n && !st; i++) {
        keys[i] = (sort_key){.s = dmi_strmap_key(seen, i), .len = dmi_strmap_key_len(seen, i), .index = i};
        numeric = parse_integer(&keys[i]) && numeric;
    }
    if (!st && n) qsort(keys, n, sizeof *keys, numeric ? compare_numbers : compare_strings);
    for (size_t i = 0; i < n && !st; i++) {
        size_t id;
        st = dmi_strmap_add(&ordered, keys[i].s, keys[i].len, &id);
        new_id[keys[i].index] = id;
    }
    if (!st) {
        for (size_t r = 0; r < ds->table.n_rows; r++)
            if (ds->labels[r] >= 0) ds->labels[r] = (int32_t)new_id[ds->labels[r]];
        dmi_strmap_free(seen);
        *seen = ordered;
    } else {
        dmi_strmap_free(&ordered);
    }
    free(keys);
    free(new_id);
    return st;
}

/* ------------------------------------------------------------- rows */

static dm_status label_row(dm_dataset *ds, const dm_dataset_options *o, const char *name, size_t row)
{
    size_t len;
    const char *l = row_label(ds, row, &len);
    if (len == 0) {
        ds->labels[row] = -1;
        return o->require_labels ? no_label(ds, name, row) : DM_OK;
    }
    /* Label names are handed out as C strings: a NUL would cut them. */
    if (memchr(l, '\0', len)) return nul_in_label(ds, name, row);
    size_t id;
    if (o->labels) {
        id = dmi_strmap_find(&ds->label_set, l, len);
        if (id == SIZE_MAX) return not_in_set(ds, name, row, l, len);
    } else {
        dm_status st = dmi_strmap_add(&ds->label_set, l, len, &id);
        if (st) return st;
    }
    if (id > INT32_MAX) return dmi_fail(DM_ERR_RANGE, "%s: more than %d distinct labels", name, INT32_MAX);
    ds->labels[row] = (int32_t)id;
    return DM_OK;
}

dm_status dmi_dataset_assign_labels(dm_dataset *ds, const dm_dataset_options *o, const char *name)
{
    size_t n = ds->table.n_rows;
    if (n > SIZE_MAX / sizeof *ds->labels) return dmi_fail(DM_ERR_NO_MEMORY, "too many rows");
    ds->labels = dmi_malloc(n * sizeof *ds->labels);
    if (!ds->labels) return DM_ERR_NO_MEMORY;
    dm_status st = o->labels ? fixed_set(ds, o) : DM_OK;
    if (st) return st;
    if (ds->label_col < 0) {
        for (size_t r = 0; r < n; r++) ds->labels[r] = -1;
        return DM_OK;
    }
    for (size_t r = 0; r < n && !st; r++) st = label_row(ds, o, name, r);
    if (!st && !o->labels) st = order_label_set(ds);
    return st;
}
