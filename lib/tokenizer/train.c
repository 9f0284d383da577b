/*
 * train.c — learns a WordPiece vocabulary the way Hugging Face's
 * WordPieceTrainer does: BPE merges over pre-tokenised words, where pieces
 * after the first character of a word carry the "##" prefix, then the merged
 * pieces become the WordPiece vocabulary.
 *
 * Differences from the reference, all for determinism: HF walks words in hash
 * order (so the ids of "##x" pieces, and with them the tie-breaks between
 * equally frequent pairs, change from run to run); here words are walked in
 * byte order, ties go to the pair with the smaller ids, and a merged pair's
 * count is reset so that it is never merged twice.
 */
#define _GNU_SOURCE /* qsort_r */
#include "tokenizer_internal.h"
#include "../core/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const default_specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

DM_API void dm_tokenizer_train_options_default(dm_tokenizer_train_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->vocab_size = 30522;
    o->min_frequency = 2;
    o->lowercase = 1;
    o->strip_accents = -1;
    o->clean_text = 1;
    o->handle_chinese_chars = 1;
}

/* ---------------------------------------------------------------- string table
 * Interned byte strings with dense indices: words while counting, tokens of the
 * vocabulary while merging. */
typedef struct {
    char *bytes;
    size_t used, cap;
    size_t *off;
    uint32_t *len;
    uint64_t *hash;
    size_t n, n_cap;
    int32_t *slots; /* -1 empty */
    size_t mask;
} strtab;

static dm_status strtab_grow_slots(strtab *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 1024;
    int32_t *slots = dmi_malloc(cap * sizeof *slots);
    if (!slots) return DM_ERR_NO_MEMORY;
    memset(slots, 0xFF, cap * sizeof *slots);
    for (size_t i = 0; i < t->n; i++) {
        size_t s = t->hash[i] & (cap - 1);
        while (slots[s] >= 0) s = (s + 1) & (cap - 1);
        slots[s] = (int32_t)i;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return DM_OK;
}

static int32_t strtab_find(const strtab *t, const char *s, size_t len, uint64_t h)
{
    if (!t->slots) return -1;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        int32_t e = t->slots[i];
        if (e < 0) return -1;
        if (t->hash[e] == h && t->len[e] == len && memcmp(t->bytes + t->off[e], s, len) == 0) return e;
    }
}

/* Index of S, adding it when new (*ADDED tells which). */
static dm_status strtab_intern(strtab *t, const char *s, size_t len, int32_t *index, bool *added)
{
    uint64_t h = dmi_fnv1a(s, len);
    int32_t e = strtab_find(t, s, len, h);
    if (added) *added = e < 0;
    if (e >= 0) {
        *index = e;
        return DM_OK;
    }
    if (t->n >= INT32_MAX - 1) return dmi_fail(DM_ERR_UNSUPPORTED, "training: more than 2^31 distinct strings");
    if (!t->slots || (t->n + 1) * 2 > t->mask + 1) {
        dm_status st = strtab_grow_slots(t);
        if (st) return st;
    }
    if (t->n == t->n_cap) {
        size_t cap = t->n_cap ? t->n_cap * 2 : 1024;
        size_t *off = dmi_realloc(t->off, cap * sizeof *off);
        if (!off) return DM_ERR_NO_MEMORY;
        t->off = off;
        uint32_t *ln = dmi_realloc(t->len, cap * sizeof *ln);
        if (!ln) return DM_ERR_NO_MEMORY;
        t->len = ln;
        uint64_t *hs = dmi_realloc(t->hash, cap * sizeof *hs);
        if (!hs) return DM_ERR_NO_MEMORY;
        t->hash = hs;
        t->n_cap = cap;
    }
    if (t->used + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1 << 16;
        while (cap < t->used + len + 1) cap *= 2;
        char *b = dmi_realloc(t->bytes, cap);
        if (!b) return DM_ERR_NO_MEMORY;
        t->bytes = b;
        t->cap = cap;
    }
    memcpy(t->bytes + t->used, s, len);
    t->bytes[t->used + len] = '\0';
    e = (int32_t)t->n++;
    t->off[e] = t->used;
    t->len[e] = (uint32_t)len;
    t->hash[e] = h;
    t->used += len + 1;
    size_t i = h & t->mask;
    while (t->slots[i] >= 0) i = (i + 1) & t->mask;
    t->slots[i] = e;
    *index = e;
    return DM_OK;
}

static const char *strtab_str(const strtab *t, int32_t e) { return t->bytes + t->off[e]; }

static void strtab_free(strtab *t)
{
    free(t->bytes);
    free(t->off);
    free(t->len);
    free(t->hash);
    free(t->slots);
}

/* ---------------------------------------------------------------- pair table
 * Pair (a, b) of token ids -> its weighted count and the words it occurs in
 * (a superset: entries go stale as words change, and may repeat). */
typedef struct {
    int64_t count;
    int32_t a, b;
    int32_t queued_round; /* the merge round that last queued it */
    int32_t *where;
    uint32_t n_where, cap_where;
} pair_info;

typedef struct {
    uint64_t *keys; /* pair + 1; 0 = empty */
    int32_t *index;
    pair_info *info;
    size_t n, cap_info, mask;
} pairtab;

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static dm_status pairtab_grow(pairtab *p)
{
    size_t cap = p->keys ? (p->mask + 1) * 2 : 4096;
    uint64_t *keys = dmi_calloc(cap, sizeof *keys);
    int32_t *index = dmi_malloc(cap * sizeof *index);
    if (!keys || !index) {
        free(keys);
        free(index);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; p->keys && i <= p->mask; i++) {
        if (!p->keys[i]) continue;
        size_t s = mix64(p->keys[i]) & (cap - 1);
        while (keys[s]) s = (s + 1) & (cap - 1);
        keys[s] = p->keys[i];
        index[s] = p->index[i];
    }
    free(p->keys);
    free(p->index);
    p->keys = keys;
    p->index = index;
    p->mask = cap - 1;
    return DM_OK;
}

/* The info of pair (A, B), created with count 0 when missing. */
static dm_status pairtab_get(pairtab *p, int32_t a, int32_t b, pair_info **out)
{
    if (!p->keys || (p->n + 1) * 2 > p->mask + 1) {
        dm_status st = pairtab_grow(p);
        if (st) return st;
    }
    uint64_t key = pair_key(a, b);
    size_t i = mix64(key) & p->mask;
    for (; p->keys[i]; i = (i + 1) & p->mask) {
        if (p->keys[i] == key) {
            *out = &p->info[p->index[i]];
            return DM_OK;
        }
    }
    if (p->n == p->cap_info) {
        size_t cap = p->cap_info ? p->cap_info * 2 : 4096;
        pair_info *info = dmi_realloc(p->info, cap * sizeof *info);
        if (!info) return DM_ERR_NO_MEMORY;
        p->info = info;
        p->cap_info = cap;
    }
    p->keys[i] = key;
    p->index[i] = (int32_t)p->n;
    p->info[p->n] = (pair_info){.a = a, .b = b, .queued_round = -1};
    *out = &p->info[p->n++];
    return DM_OK;
}

static dm_status pair_add_where(pair_info *pi, int32_t word)
{
    if (pi->n_where && pi->where[pi->n_where - 1] == word) return DM_OK;
    if (pi->n_where == pi->cap_where) {
        uint32_t cap = pi->cap_where ? pi->cap_where * 2 : 4;
        int32_t *w = dmi_realloc(pi->where, cap * sizeof *w);
        if (!w) return DM_ERR_NO_MEMORY;
        pi->where = w;
        pi->cap_where = cap;
    }
    pi->where[pi->n_where++] = word;
    return DM_OK;
}

static void pairtab_free(pairtab *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->info[i].where);
    free(p->info);
    free(p->keys);
    free(p->index);
}

/* ---------------------------------------------------------------- merge queue
 * Max-heap on (count, then the smaller pair), with lazy updates: an entry whose
 * count is out of date is re-queued with the current count when it surfaces. */
typedef struct {
    int64_t count;
    int32_t a, b;
} merge_item;

typedef struct {
    merge_item *items;
    size_t n, cap;
} merge_heap;

static bool ranks_above(merge_item x, merge_item y)
{
    if (x.count != y.count) return x.count > y.count;
    if (x.a != y.a) return x.a < y.a;
    return x.b < y.b;
}

static dm_status heap_push(merge_heap *h, merge_item it)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4096;
        merge_item *items = dmi_realloc(h->items, cap * sizeof *items);
        if (!items) return DM_ERR_NO_MEMORY;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i && ranks_above(it, h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = it;
    return DM_OK;
}

static merge_item heap_pop(merge_heap *h)
{
    merge_item top = h->items[0], last = h->items[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && ranks_above(h->items[c + 1], h->items[c])) c++;
        if (!ranks_above(h->items[c], last)) break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->n) h->items[i] = last;
    return top;
}

/* ---------------------------------------------------------------- trainer */
typedef struct {
    dm_tokenizer_train_options o;
    dmi_normalizer norm;
    strtab words;       /* distinct pre-tokenised words */
    uint64_t *counts;   /* per word */
    size_t counts_cap;
    strtab vocab;       /* token -> id */
    int32_t *syms;      /* every word's symbols, one run per word */
    size_t *word_start; /* run start per word (in byte order of the words) */
    uint32_t *word_len; /* symbols left in the run */
    uint64_t *word_count;
    int32_t *stamp;     /* last merge round that visited the word */
    size_t n_words;
    pairtab pairs;
    merge_heap heap;
    int32_t *touched;   /* pairs whose count rose in this round, as pairtab indices */
    size_t n_touched, cap_touched;
    uint64_t progress_done, progress_total;
} trainer;

static dm_status report(trainer *tr, uint64_t done)
{
    tr->progress_done = done;
    if (tr->o.progress && tr->o.progress(done, tr->progress_total, tr->o.progress_user))
        return dmi_fail(DM_ERR_CANCELLED, "tokenizer training stopped by the progress callback");
    return DM_OK;
}

static int count_word(const char *word, size_t len, void *user)
{
    trainer *tr = user;
    int32_t e;
    bool added;
    if (strtab_intern(&tr->words, word, len, &e, &added)) return 1;
    if ((size_t)e >= tr->counts_cap) {
        size_t cap = tr->counts_cap ? tr->counts_cap * 2 : 4096;
        uint64_t *c = dmi_realloc(tr->counts, cap * sizeof *c);
        if (!c) return 1;
        tr->counts = c;
        tr->counts_cap = cap;
    }
    if (added) tr->counts[e] = 0;
    tr->counts[e]++;
    return 0;
}

/* Byte offset of the first invalid UTF-8 sequence in S, or LEN. */
static size_t utf8_invalid_at(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (!n || i + n > len) return i;
        uint32_t cp = n == 1 ? b : n == 2 ? b & 0x1Fu : n == 3 ? b & 0x0Fu : b & 0x07u;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return len;
}

static dm_status count_file(trainer *tr, const char *path, uint64_t *done)
{
    char *text;
    size_t len;
    dm_status st = dmi_read_file(path, &text, &len);
    if (st) return st;
    size_t bad = utf8_invalid_at((const uint8_t *)text, len);
    if (bad < len) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++) line += text[i] == '\n';
        free(text);
        return dmi_fail(DM_ERR_UTF8, "%s: line %zu: invalid UTF-8 at byte offset %zu", path, line, bad);
    }
    /* Line by line, as HF reads training files; progress every MiB or so. */
    size_t at = 0;
    uint64_t next_report = *done + (1u << 20);
    while (at < len && !st) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        st = dmi_bert_pretokenize(&tr->norm, text + at, end - at, count_word, tr);
        if (st == DM_ERR_CANCELLED) /* count_word stops only when it cannot allocate */
            st = dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory counting words", path);
        *done += end - at;
        at = end;
        if (!st && (at == len || *done >= next_report)) {
            st = report(tr, *done);
            next_report = *done + (1u << 20);
        }
    }
    free(text);
    return st;
}

static dm_status add_token(trainer *tr, const char *s, size_t len, int32_t *id)
{
    return strtab_intern(&tr->vocab, s, len, id, NULL);
}

typedef struct {
    uint32_t cp;
    uint64_t count;
} char_count;

static int by_count_then_cp(const void *x, const void *y)
{
    const char_count *a = x, *b = y;
    if (a->count != b->count) return a->count < b->count ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static int by_cp(const void *x, const void *y)
{
    const char_count *a = x, *b = y;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static size_t utf8_next(const char *s, size_t len, size_t i, uint32_t *cp)
{
    uint8_t b = (uint8_t)s[i];
    size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 4;
    if (i + n > len) n = len - i;
    uint32_t c = n == 1 ? b : n == 2 ? b & 0x1Fu : n == 3 ? b & 0x0Fu : b & 0x07u;
    for (size_t k = 1; k < n; k++) c = c << 6 | ((uint8_t)s[i + k] & 0x3Fu);
    *cp = c;
    return n;
}

/* Every character, weighted by word counts; the LIMIT most frequent are kept
 * (ties: the smaller code point goes first), added in code point order. */
static dm_status add_alphabet(trainer *tr)
{
    pairtab seen = {0}; /* code point -> count, reusing the pair table with b = 0 */
    char_count *chars = NULL;
    size_t n = 0;
    dm_status st = DM_OK;
    for (size_t w = 0; w < tr->words.n && !st; w++) {
        const char *s = strtab_str(&tr->words, (int32_t)w);
        size_t len = tr->words.len[w];
        for (size_t i = 0; i < len && !st;) {
            uint32_t cp;
            i += utf8_next(s, len, i, &cp);
            pair_info *pi;
            st = pairtab_get(&seen, (int32_t)cp, 0, &pi);
            if (!st) pi->count += (int64_t)tr->counts[w];
        }
    }
    if (!st && seen.n) {
        chars = dmi_malloc(seen.n * sizeof *chars);
        if (!chars) st = DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; !st && i <= seen.mask && seen.keys; i++) {
        if (!seen.keys[i]) continue;
        chars[n++] = (char_count){(uint32_t)((seen.keys[i] - 1) >> 32), (uint64_t)seen.info[seen.index[i]].count};
    }
    size_t first = 0;
    if (!st && tr->o.limit_alphabet && n > tr->o.limit_alphabet) {
        qsort(chars, n, sizeof *chars, by_count_then_cp);
        first = n - tr->o.limit_alphabet;
    }
    if (!st && n - first) qsort(chars + first, n - first, sizeof *chars, by_cp);
    for (size_t i = first; i < n && !st; i++) {
        char buf[4];
        int32_t id;
        st = add_token(tr, buf, dmi_utf8_encode(chars[i].cp, buf), &id);
    }
    free(chars);
    pairtab_free(&seen);
    return st;
}

static int by_bytes(const void *x, const void *y, void *ctx)
{
    const strtab *t = ctx;
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    size_t la = t->len[a], lb = t->len[b];
    int c = memcmp(strtab_str(t, a), strtab_str(t, b), la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* Splits every word into its characters ("##"-prefixed after the first),
 * dropping characters outside the alphabet, as HF does. */
static dm_status split_words(trainer *tr)
{
    size_t n = tr->words.n, total = 0;
    int32_t *order = dmi_malloc((n ? n : 1) * sizeof *order);
    if (!order) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        order[i] = (int32_t)i;
        total += tr->words.len[i];
    }
    qsort_r(order, n, sizeof *order, by_bytes, &tr->words);
    tr->syms = dmi_malloc((total ? total : 1) * sizeof *tr->syms);
    tr->word_start = dmi_malloc((n ? n : 1) * sizeof *tr->word_start);
    tr->word_len = dmi_malloc((n ? n : 1) * sizeof *tr->word_len);
    tr->word_count = dmi_malloc((n ? n : 1) * sizeof *tr->word_count);
    tr->stamp = dmi_malloc((n ? n : 1) * sizeof *tr->stamp);
    if (!tr->syms || !tr->word_start || !tr->word_len || !tr->word_count || !tr->stamp) {
        free(order);
        return DM_ERR_NO_MEMORY;
    }
    dm_status st = DM_OK;
    size_t at = 0;
    char piece[8];
    for (size_t k = 0; k < n && !st; k++) {
        int32_t w = order[k];
        const char *s = strtab_str(&tr->words, w);
        size_t len = tr->words.len[w], start = at;
        for (size_t i = 0; i < len && !st;) {
            size_t c = utf8_next(s, len, i, &(uint32_t){0});
            int32_t id = strtab_find(&tr->vocab, s + i, c, dmi_fnv1a(s + i, c));
            if (id >= 0 && i > 0) {
                memcpy(piece, "##", 2);
                memcpy(piece + 2, s + i, c);
                st = add_token(tr, piece, c + 2, &id);
            }
            if (id >= 0) tr->syms[at++] = id;
            i += c;
        }
        tr->word_start[k] = start;
        tr->word_len[k] = (uint32_t)(at - start);
        tr->word_count[k] = tr->counts[w];
        tr->stamp[k] = -1;
    }
    tr->n_words = n;
    free(order);
    return st;
}

static dm_status count_pairs(trainer *tr)
{
    dm_status st = DM_OK;
    for (size_t w = 0; w < tr->n_words && !st; w++) {
        const int32_t *s = tr->syms + tr->word_start[w];
        for (uint32_t i = 0; i + 1 < tr->word_len[w] && !st; i++) {
            pair_info *pi;
            st = pairtab_get(&tr->pairs, s[i], s[i + 1], &pi);
            if (!st) pi->count += (int64_t)tr->word_count[w];
            if (!st) st = pair_add_where(pi, (int32_t)w);
        }
    }
    for (size_t i = 0; i <= tr->pairs.mask && !st && tr->pairs.keys; i++) {
        if (!tr->pairs.keys[i]) continue;
        uint64_t key = tr->pairs.keys[i] - 1;
        st = heap_push(&tr->heap, (merge_item){tr->pairs.info[tr->pairs.index[i]].count, (int32_t)(key >> 32),
                                               (int32_t)(uint32_t)key});
    }
    return st;
}

/* Adds DELTA occurrences (times the word's count) of pair (A, B) in word W. */
static dm_status change_pair(trainer *tr, int32_t a, int32_t b, int delta, size_t w)
{
    pair_info *pi;
    dm_status st = pairtab_get(&tr->pairs, a, b, &pi);
    if (st) return st;
    pi->count += delta * (int64_t)tr->word_count[w];
    if (delta < 0) return DM_OK;
    st = pair_add_where(pi, (int32_t)w);
    if (st) return st;
    if (tr->n_touched == tr->cap_touched) {
        size_t cap = tr->cap_touched ? tr->cap_touched * 2 : 256;
        int32_t *t = dmi_realloc(tr->touched, cap * sizeof *t);
        if (!t) return DM_ERR_NO_MEMORY;
        tr->touched = t;
        tr->cap_touched = cap;
    }
    tr->touched[tr->n_touched++] = (int32_t)(pi - tr->pairs.info);
    return DM_OK;
}

/* Replaces each non-overlapping (A, B), left to right, by NEW in word W,
 * updating the neighbouring pairs as HF's Word::merge does. */
static dm_status merge_word(trainer *tr, size_t w, int32_t a, int32_t b, int32_t new_id)
{
    int32_t *s = tr->syms + tr->word_start[w];
    uint32_t n = tr->word_len[w], j = 0, k = 0;
    dm_status st = DM_OK;
    while (j < n && !st) {
        if (s[j] == a && j + 1 < n && s[j + 1] == b) {
            if (k > 0) {
                st = change_pair(tr, s[k - 1], a, -1, w);
                if (!st) st = change_pair(tr, s[k - 1], new_id, 1, w);
            }
            if (!st && j + 2 < n) {
                st = change_pair(tr, b, s[j + 2], -1, w);
                if (!st) st = change_pair(tr, new_id, s[j + 2], 1, w);
            }
            s[k++] = new_id;
            j += 2;
        } else {
            s[k++] = s[j++];
        }
    }
    tr->word_len[w] = k;
    return st;
}

/* The merged token: A followed by B without its "##". */
static dm_status merged_token(trainer *tr, int32_t a, int32_t b, int32_t *id)
{
    size_t la = tr->vocab.len[a], lb = tr->vocab.len[b];
    const char *sb = strtab_str(&tr->vocab, b);
    if (lb >= 2 && sb[0] == '#' && sb[1] == '#') {
        sb += 2;
        lb -= 2;
    }
    char *buf = dmi_malloc(la + lb + 1);
    if (!buf) return DM_ERR_NO_MEMORY;
    memcpy(buf, strtab_str(&tr->vocab, a), la);
    memcpy(buf + la, sb, lb);
    dm_status st = add_token(tr, buf, la + lb, id);
    free(buf);
    return st;
}

static dm_status merge_loop(trainer *tr)
{
    dm_status st = DM_OK;
    const uint64_t min_count = tr->o.min_frequency ? tr->o.min_frequency : 1;
    int32_t round = 0;
    uint64_t base = tr->progress_done;
    while (!st && tr->vocab.n < tr->o.vocab_size && tr->heap.n) {
        merge_item top = heap_pop(&tr->heap);
        pair_info *pi;
        st = pairtab_get(&tr->pairs, top.a, top.b, &pi);
        if (st) break;
        if (top.count != pi->count) { /* out of date: requeue with the current count */
            if (pi->count > 0) st = heap_push(&tr->heap, (merge_item){pi->count, top.a, top.b});
            continue;
        }
        if ((uint64_t)top.count < min_count) break;
        int32_t new_id;
        st = merged_token(tr, top.a, top.b, &new_id);
        /* pairtab_get may move the table: work from a copy of the positions. */
        int32_t *where = pi->where;
        uint32_t n_where = pi->n_where;
        pi->where = NULL;
        pi->n_where = pi->cap_where = 0;
        pi->count = 0;
        tr->n_touched = 0;
        round++;
        for (uint32_t i = 0; i < n_where && !st; i++) {
            size_t w = (size_t)where[i];
            if (tr->stamp[w] == round) continue;
            tr->stamp[w] = round;
            st = merge_word(tr, w, top.a, top.b, new_id);
        }
        free(where);
        for (size_t i = 0; i < tr->n_touched && !st; i++) {
            pair_info *t = &tr->pairs.info[tr->touched[i]];
            if (t->count <= 0 || t->queued_round == round) continue;
            t->queued_round = round;
            st = heap_push(&tr->heap, (merge_item){t->count, t->a, t->b});
        }
        if (!st && (round & 63) == 0) st = report(tr, base + tr->vocab.n);
    }
    return st;
}

static dm_status resolve_train_options(const dm_tokenizer_train_options *opts, trainer *tr)
{
    dm_tokenizer_train_options_default(&tr->o);
    if (opts) {
        dm_status st = dmi_copy_options(&tr->o, sizeof tr->o, opts, "dm_tokenizer_train");
        if (st) return st;
    }
    const dm_tokenizer_train_options *o = &tr->o;
    if (o->vocab_size == 0 || o->vocab_size > INT32_MAX)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_train: vocab_size is %zu; expected 1 to 2^31-1",
                        o->vocab_size);
    if (o->n_special_tokens && !o->special_tokens)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_train: n_special_tokens is %zu but special_tokens is NULL",
                        o->n_special_tokens);
    for (size_t i = 0; i < o->n_special_tokens; i++)
        if (!o->special_tokens[i] || !o->special_tokens[i][0])
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_train: special_tokens[%zu] is NULL or empty", i);
    tr->norm.lowercase = o->lowercase != 0;
    tr->norm.strip_accents = o->strip_accents < 0 ? o->lowercase != 0 : o->strip_accents != 0;
    tr->norm.clean_text = o->clean_text != 0;
    tr->norm.handle_chinese_chars = o->handle_chinese_chars != 0;
    return DM_OK;
}

static void trainer_free(trainer *tr)
{
    strtab_free(&tr->words);
    strtab_free(&tr->vocab);
    free(tr->counts);
    free(tr->syms);
    free(tr->word_start);
    free(tr->word_len);
    free(tr->word_count);
    free(tr->stamp);
    pairtab_free(&tr->pairs);
    free(tr->heap.items);
    free(tr->touched);
}

static dm_status build_tokenizer(trainer *tr, const char *const *specials, size_t n_specials, dm_tokenizer **out)
{
    size_t n = tr->vocab.n;
    const char **tokens = dmi_malloc(n * sizeof *tokens);
    size_t *lens = dmi_malloc(n * sizeof *lens);
    dm_status st = tokens && lens ? DM_OK : DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n && !st; i++) {
        tokens[i] = strtab_str(&tr->vocab, (int32_t)i);
        lens[i] = tr->vocab.len[i];
    }
    if (!st) st = dmi_tokenizer_build(tokens, lens, n, &tr->norm, specials, n_specials, out);
    free(tokens);
    free(lens);
    return st;
}

DM_API dm_status dm_tokenizer_train(const char *const *files, size_t n_files, const dm_tokenizer_train_options *opts,
                                    dm_tokenizer **out)
{
    if (out) *out = NULL;
    if (!files || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_train: NULL argument");
    if (!n_files) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_train: no training files");
    trainer tr = {0};
    dm_status st = resolve_train_options(opts, &tr);
    const char *const *specials = tr.o.n_special_tokens ? tr.o.special_tokens : default_specials;
    size_t n_specials = tr.o.n_special_tokens ? tr.o.n_special_tokens : 5;
    /* Progress counts input bytes, then vocabulary entries. */
    for (size_t i = 0; i < n_files && !st; i++) {
        if (!files[i]) st = dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_train: files[%zu] is NULL", i);
        struct stat sb;
        if (!st && stat(files[i], &sb) == 0) tr.progress_total += (uint64_t)sb.st_size;
    }
    tr.progress_total += tr.o.vocab_size;
    uint64_t done = 0;
    for (size_t i = 0; i < n_files && !st; i++) st = count_file(&tr, files[i], &done);
    for (size_t i = 0; i < n_specials && !st; i++) {
        int32_t id;
        st = add_token(&tr, specials[i], strlen(specials[i]), &id);
    }
    if (!st) st = add_alphabet(&tr);
    if (!st) st = split_words(&tr);
    if (!st) st = count_pairs(&tr);
    if (!st) st = merge_loop(&tr);
    if (!st) st = report(&tr, tr.progress_total);
    if (!st) st = build_tokenizer(&tr, specials, n_specials, out);
    trainer_free(&tr);
    return st;
}
