/*
 * table.c — the cell arena and row storage shared by the CSV, TSV and JSONL
 * readers, strict UTF-8 checks with U+FFFD replacement, and a small string ->
 * index hash map (JSONL keys, labels).
 */
#include "table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>

/* Grows *BUF (of *CAP elements of SIZE bytes) to hold at least NEED. */
static dm_status grow(void **buf, size_t *cap, size_t need, size_t size)
{
    return dmi_grow(buf, cap, need, size) ? DM_OK : DM_ERR_NO_MEMORY;
}

void dmi_table_free(dmi_table *t)
{
    if (!t) return;
    free(t->arena);
    free(t->names);
    free(t->cells);
    free(t->lines);
    free(t->record_numbers);
    for (size_t i = 0; i < t->skipped; i++) free(t->skips[i].reason);
    free(t->skips);
    memset(t, 0, sizeof *t);
}

dm_status dmi_table_skip(dmi_table *t, size_t line, const char *fmt, ...)
{
    if (!dmi_grow(&t->skips, &t->skips_cap, t->skipped + 1, sizeof *t->skips)) return DM_ERR_NO_MEMORY;
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    char *copy = dmi_strndup(reason, strlen(reason));
    if (!copy) return DM_ERR_NO_MEMORY;
    t->skips[t->skipped++] = (struct dmi_skip){line, copy};
    return DM_OK;
}

dm_status dmi_table_reserve(dmi_table *t, size_t len)
{
    if (len > SIZE_MAX - t->arena_len - 1) return dmi_fail(DM_ERR_NO_MEMORY, "data too large");
    return grow((void **)&t->arena, &t->arena_cap, t->arena_len + len + 1, 1);
}

dm_status dmi_table_append(dmi_table *t, const void *bytes, size_t len, dmi_cell *cell)
{
    dm_status st = dmi_table_reserve(t, len);
    if (st) return st;
    if (len) memcpy(t->arena + t->arena_len, bytes, len);
    if (cell) *cell = (dmi_cell){t->arena_len, len};
    t->arena_len += len;
    t->arena[t->arena_len++] = '\0';
    return DM_OK;
}

dm_status dmi_table_add_column(dmi_table *t, const char *name, size_t len)
{
    if (t->n_rows) return dmi_fail(DM_ERR_INTERNAL, "column added after rows");
    dm_status st = grow((void **)&t->names, &t->names_cap, t->n_cols + 1, sizeof *t->names);
    if (st) return st;
    st = dmi_table_append(t, name, len, &t->names[t->n_cols]);
    if (st) return st;
    t->n_cols++;
    return DM_OK;
}

dm_status dmi_table_add_row(dmi_table *t, const dmi_cell *cells, size_t line, size_t record_number)
{
    size_t need = t->n_rows + 1;
    dm_status st = DM_OK;
    if (need > t->rows_cap) {
        size_t cap_lines = t->rows_cap, cap_numbers = t->rows_cap;
        st = grow((void **)&t->lines, &cap_lines, need, sizeof *t->lines);
        if (!st) st = grow((void **)&t->record_numbers, &cap_numbers, need, sizeof *t->record_numbers);
        if (st) return st;
        t->rows_cap = cap_lines < cap_numbers ? cap_lines : cap_numbers;
    }
    if (t->n_cols) {
        if (need > SIZE_MAX / t->n_cols) return dmi_fail(DM_ERR_NO_MEMORY, "table too large");
        st = grow((void **)&t->cells, &t->cells_cap, need * t->n_cols, sizeof *t->cells);
        if (st) return st;
        memcpy(t->cells + t->n_rows * t->n_cols, cells, t->n_cols * sizeof *cells);
    }
    t->lines[t->n_rows] = line;
    t->record_numbers[t->n_rows] = record_number;
    t->n_rows++;
    return DM_OK;
}

/* ------------------------------------------------------------------ UTF-8 */

dm_status dmi_table_append_replaced(dmi_table *t, const char *s, size_t len, dmi_cell *cell)
{
    /* Each bad byte becomes at most 3 bytes (U+FFFD). */
    if (len > (SIZE_MAX - 1) / 3) return dmi_fail(DM_ERR_NO_MEMORY, "field too large");
    dm_status st = dmi_table_reserve(t, 3 * len);
    if (st) return st;
    const uint8_t *p = (const uint8_t *)s;
    char *out = t->arena + t->arena_len;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t bad, n = dmi_utf8_decode(p + i, len - i, &cp, &bad);
        if (n) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    out[o] = '\0';
    if (cell) *cell = (dmi_cell){t->arena_len, o};
    t->arena_len += o + 1;
    return DM_OK;
}

dm_status dmi_table_check_utf8(dmi_table *t, dmi_cell *cell, dm_invalid_utf8 policy, size_t *bad_at)
{
    if (cell->len == DMI_CELL_MISSING) return DM_OK;
    size_t at = dmi_utf8_invalid_at(t->arena + cell->off, cell->len);
    if (at == cell->len) return DM_OK;
    if (policy != DM_UTF8_REPLACE) {
        *bad_at = at;
        return DM_ERR_UTF8;
    }
    /* Copy the cell out first: appending may move the arena. */
    char *copy = dmi_strndup(t->arena + cell->off, cell->len);
    if (!copy) return DM_ERR_NO_MEMORY;
    dm_status st = dmi_table_append_replaced(t, copy, cell->len, cell);
    free(copy);
    return st;
}

/* ------------------------------------------------------- string -> index */

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void dmi_strmap_free(dmi_strmap *m)
{
    if (!m) return;
    free(m->bytes);
    free(m->keys);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static bool key_equals(const dmi_strmap *m, size_t i, const char *s, size_t len)
{
    return m->keys[i].len == len && (len == 0 || memcmp(m->bytes + m->keys[i].off, s, len) == 0);
}

/* The slot that holds S, or the empty slot where it would go. */
static size_t find_slot(const dmi_strmap *m, const char *s, size_t len)
{
    size_t mask = m->n_slots - 1;
    size_t i = (size_t)hash_bytes(s, len) & mask;
    while (m->slots[i] && !key_equals(m, m->slots[i] - 1, s, len)) i = (i + 1) & mask;
    return i;
}

size_t dmi_strmap_find(const dmi_strmap *m, const char *s, size_t len)
{
    if (!m->n_slots) return SIZE_MAX;
    size_t slot = find_slot(m, s, len);
    return m->slots[slot] ? m->slots[slot] - 1 : SIZE_MAX;
}

/* Doubles the slot array (kept at most half full) and re-inserts every key. */
static dm_status rehash(dmi_strmap *m)
{
    size_t n = m->n_slots ? m->n_slots * 2 : 16;
    if (n > SIZE_MAX / sizeof *m->slots) return dmi_fail(DM_ERR_NO_MEMORY, "map too large");
    size_t *slots = dmi_calloc(n, sizeof *slots);
    if (!slots) return DM_ERR_NO_MEMORY;
    free(m->slots);
    m->slots = slots;
    m->n_slots = n;
    for (size_t k = 0; k < m->count; k++)
        m->slots[find_slot(m, m->bytes + m->keys[k].off, m->keys[k].len)] = k + 1;
    return DM_OK;
}

dm_status dmi_strmap_add(dmi_strmap *m, const char *s, size_t len, size_t *index)
{
    size_t found = dmi_strmap_find(m, s, len);
    if (found != SIZE_MAX) {
        *index = found;
        return DM_OK;
    }
    dm_status st = DM_OK;
    if ((m->count + 1) * 2 > m->n_slots) st = rehash(m);
    if (!st) st = grow((void **)&m->keys, &m->keys_cap, m->count + 1, sizeof *m->keys);
    if (!st && len > SIZE_MAX - m->bytes_len - 1) st = dmi_fail(DM_ERR_NO_MEMORY, "map too large");
    if (!st) st = grow((void **)&m->bytes, &m->bytes_cap, m->bytes_len + len + 1, 1);
    if (st) return st;
    if (len) memcpy(m->bytes + m->bytes_len, s, len);
    m->bytes[m->bytes_len + len] = '\0';
    m->keys[m->count] = (dmi_cell){m->bytes_len, len};
    m->bytes_len += len + 1;
    m->slots[find_slot(m, s, len)] = m->count + 1;
    *index = m->count++;
    return DM_OK;
}

void dmi_release_consumed(const dmi_read_options *ro, const char *data, size_t pos, size_t *released)
{
    const size_t step = (size_t)64 << 20;
    if (!ro->mapped || pos < *released + step) return;
    /* DATA is the start of a mapping, so page-aligned; keep the page holding POS. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t upto = pos / page * page;
    if (upto > *released) madvise((char *)data + *released, upto - *released, MADV_DONTNEED);
    *released = upto;
}
