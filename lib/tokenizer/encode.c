/*
 * encode.c — text to token ids, exactly as Hugging Face `tokenizers` does for
 * BERT (BertNormalizer -> BertPreTokenizer -> WordPiece -> template), fused
 * into one pass over the text so that nothing is allocated per token:
 *
 *   raw text ─ split on added tokens ([CLS], [SEP], ... matched on raw bytes)
 *            ─ per character: clean_text, Chinese spacing, NFD + drop Mn,
 *              lowercase (tables probed from the reference: bert_unicode.h)
 *            ─ whitespace ends a word, punctuation is a word of its own
 *            ─ each word: greedy longest-match WordPiece ("##" continuations)
 *            ─ truncation, template ([CLS] A [SEP] B [SEP]), padding.
 *
 * Every normalised byte remembers the byte range of the input character it
 * came from, which gives HF's offsets (start of the first, end of the last).
 */
#include "tokenizer_internal.h"
#include "../core/jobs.h"
#include "../core/utf8.h"
#include "bert_unicode.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

DM_API void dm_encode_options_default(dm_encode_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->add_special_tokens = 1;
    o->truncation = DM_TRUNCATE_NONE;
    o->padding = DM_PAD_NONE;
    o->invalid_utf8 = DM_UTF8_ERROR;
    o->threads = 0;
}

/* ------------------------------------------------------------------ UTF-8 */

/* ---------------------------------------------------------- working memory */

/* Tokens of one sequence before the template is applied. */
typedef struct tok_list {
    int32_t *ids;
    uint32_t *offs; /* 2 per token */
    size_t n, cap;
} tok_list;

/* The word being built: normalised bytes, and for each byte the input range
 * of the character it came from. */
/* A combining mark met while stripping accents, with the input bytes of the
 * character it came from. */
typedef struct pending_mark {
    uint32_t cp;
    uint32_t from, to;
    uint8_t ccc;
    bool kept;
    bool first; /* the first code point of its character's decomposition */
} pending_mark;

typedef struct word_buf {
    char *bytes;
    uint32_t *from, *to;
    size_t len, cap;
    size_t chars;
    uint64_t *prefix_hash; /* scratch for WordPiece, one per byte + 1 */
    struct pending_mark *marks; /* accent stripping: the run of marks not yet emitted */
    struct pending_mark *sorted; /* the run in canonical order */
    size_t n_marks, cap_marks;
    bool marks_kept;            /* some mark of the run survives stripping */
} word_buf;

typedef struct scratch {
    tok_list a, b;
    word_buf w;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->a.ids);
    free(s->a.offs);
    free(s->b.ids);
    free(s->b.offs);
    free(s->w.bytes);
    free(s->w.from);
    free(s->w.to);
    free(s->w.marks);
    free(s->w.sorted);
    free(s->w.prefix_hash);
}

static dm_status tok_reserve(tok_list *l, size_t extra)
{
    if (l->n + extra <= l->cap) return DM_OK;
    size_t cap = l->cap ? l->cap * 2 : 256;
    while (cap < l->n + extra) cap *= 2;
    int32_t *ids = dmi_realloc(l->ids, cap * sizeof *ids);
    if (!ids) return DM_ERR_NO_MEMORY;
    l->ids = ids;
    uint32_t *offs = dmi_realloc(l->offs, cap * 2 * sizeof *offs);
    if (!offs) return DM_ERR_NO_MEMORY;
    l->offs = offs;
    l->cap = cap;
    return DM_OK;
}

static inline dm_status tok_push(tok_list *l, int32_t id, uint32_t from, uint32_t to)
{
    if (DMI_UNLIKELY(l->n == l->cap)) {
        dm_status st = tok_reserve(l, 1);
        if (st) return st;
    }
    l->ids[l->n] = id;
    l->offs[2 * l->n] = from;
    l->offs[2 * l->n + 1] = to;
    l->n++;
    return DM_OK;
}

static dm_status word_reserve(word_buf *w, size_t extra)
{
    if (w->len + extra <= w->cap) return DM_OK;
    size_t cap = w->cap ? w->cap * 2 : 256;
    while (cap < w->len + extra) cap *= 2;
    char *b = dmi_realloc(w->bytes, cap);
    if (!b) return DM_ERR_NO_MEMORY;
    w->bytes = b;
    uint32_t *f = dmi_realloc(w->from, cap * sizeof *f);
    if (!f) return DM_ERR_NO_MEMORY;
    w->from = f;
    uint32_t *t = dmi_realloc(w->to, cap * sizeof *t);
    if (!t) return DM_ERR_NO_MEMORY;
    w->to = t;
    uint64_t *h = dmi_realloc(w->prefix_hash, (cap + 1) * sizeof *h);
    if (!h) return DM_ERR_NO_MEMORY;
    w->prefix_hash = h;
    w->cap = cap;
    return DM_OK;
}

/* ---------------------------------------------------------------- WordPiece */

/* What receives finished words: WordPiece for encoding, a user callback for
 * the trainer. */
typedef struct word_sink {
    dm_status (*fn)(struct word_sink *sink, word_buf *w);
    const dm_tokenizer *tok;
    tok_list *out;
    dmi_word_fn user_fn;
    void *user;
} word_sink;

/* The longest vocabulary entry that is a prefix of W[start..), found by
 * hashing every prefix once and testing from the longest down (HF's loop
 * shortens the candidate one character at a time; this tests the same
 * candidates in the same order). Returns the id and sets *END, or -1. */
static int32_t longest_match(const dm_tokenizer *t, word_buf *w, size_t start, size_t *end)
{
    const bool cont = start > 0 && t->prefix_len > 0;
    const dmi_vocab_map *map = cont ? &t->cont : &t->whole;
    size_t limit = w->len - start < t->max_token_bytes ? w->len - start : t->max_token_bytes;
    const uint8_t *s = (const uint8_t *)w->bytes + start;
    uint64_t h = FNV_OFFSET;
    uint64_t *ph = w->prefix_hash;
    for (size_t i = 0; i < limit; i++) {
        h = (h ^ s[i]) * FNV_PRIME;
        ph[i + 1] = h ? h : 1;
    }
    for (size_t n = limit; n > 0; n--) {
        if (start + n < w->len && ((uint8_t)w->bytes[start + n] & 0xC0) == 0x80) continue;
        if (!dmi_map_may_have(map, ph[n])) continue;
        int32_t id = dmi_map_get(map, ph[n], t, (const char *)s, n, cont ? t->prefix_len : 0);
        if (id >= 0) {
            *end = start + n;
            return id;
        }
    }
    return -1;
}

/* The code point of a word of one character of at most 3 bytes (valid
 * UTF-8: the word was built by the normaliser). */
static inline uint32_t word_bmp_char(const word_buf *w)
{
    const uint8_t *b = (const uint8_t *)w->bytes;
    if (w->len == 1) return b[0];
    if (w->len == 2) return (uint32_t)(b[0] & 0x1F) << 6 | (b[1] & 0x3F);
    return (uint32_t)(b[0] & 0x0F) << 12 | (uint32_t)(b[1] & 0x3F) << 6 | (b[2] & 0x3F);
}

static dm_status wordpiece_word(word_sink *sink, word_buf *w)
{
    const dm_tokenizer *t = sink->tok;
    tok_list *out = sink->out;
    if (w->chars > t->max_input_chars_per_word)
        return tok_push(out, t->unk_id, w->from[0], w->to[w->len - 1]);
    if (w->chars == 1 && w->len <= 3 && t->single_ids) { /* the whole character, or [UNK] */
        int32_t id = t->single_ids[word_bmp_char(w)];
        return tok_push(out, id >= 0 ? id : t->unk_id, w->from[0], w->to[w->len - 1]);
    }
    size_t first = out->n, start = 0;
    while (start < w->len) {
        size_t end;
        int32_t id = longest_match(t, w, start, &end);
        if (id < 0) {
            /* One piece cannot be matched: the whole word becomes [UNK]. */
            out->n = first;
            return tok_push(out, t->unk_id, w->from[0], w->to[w->len - 1]);
        }
        dm_status st = tok_push(out, id, w->from[start], w->to[end - 1]);
        if (st) return st;
        start = end;
    }
    return DM_OK;
}

static dm_status user_word(word_sink *sink, word_buf *w)
{
    return sink->user_fn(w->bytes, w->len, sink->user) ? DM_ERR_CANCELLED : DM_OK;
}

static inline dm_status flush_word(word_sink *sink, word_buf *w)
{
    dm_status st = DM_OK;
    if (w->len) st = sink->fn(sink, w);
    w->len = 0;
    w->chars = 0;
    return st;
}

static inline dm_status word_append(word_buf *w, uint32_t cp, uint32_t from, uint32_t to)
{
    if (DMI_UNLIKELY(w->len + 4 > w->cap)) {
        dm_status st = word_reserve(w, 4);
        if (st) return st;
    }
    size_t at = w->len;
    size_t n = dmi_utf8_encode(cp, w->bytes + at);
    for (size_t i = 0; i < n; i++) {
        w->from[at + i] = from;
        w->to[at + i] = to;
    }
    w->len += n;
    w->chars++;
    return DM_OK;
}

/* One normalised character: the pre-tokenizer's view. */
static inline dm_status emit_char(word_sink *sink, word_buf *w, uint32_t cp, uint8_t flags, uint32_t from,
                                  uint32_t to)
{
    if (flags & DMI_U_SPACE) return flush_word(sink, w);
    if (flags & DMI_U_PUNCT) {
        dm_status st = flush_word(sink, w);
        if (!st) st = word_append(w, cp, from, to);
        return st ? st : flush_word(sink, w);
    }
    return word_append(w, cp, from, to);
}

/* Emits CP lowercased when LOWER (char::to_lowercase), else as it is. */
static dm_status emit_cased(word_sink *sink, word_buf *w, uint32_t cp, uint8_t flags, bool lower, uint32_t from,
                            uint32_t to)
{
    if (!lower || !(flags & DMI_U_MAPPED)) return emit_char(sink, w, cp, flags, from, to);
    const uint32_t *seq;
    int n = dmi_bert_umap(cp, DMI_MAP_LOWER, &seq);
    dm_status st = DM_OK;
    for (int k = 0; k < n && !st; k++) st = emit_char(sink, w, seq[k], dmi_bert_uflags(seq[k]), from, to);
    return st;
}

static dm_status push_mark(word_buf *w, uint32_t cp, uint8_t flags, bool first, uint32_t from, uint32_t to)
{
    if (w->n_marks == w->cap_marks) {
        size_t cap = w->cap_marks ? 2 * w->cap_marks : 16;
        pending_mark *m = dmi_realloc(w->marks, cap * sizeof *m);
        if (!m) return DM_ERR_NO_MEMORY;
        w->marks = m;
        pending_mark *sorted = dmi_realloc(w->sorted, cap * sizeof *sorted);
        if (!sorted) return DM_ERR_NO_MEMORY;
        w->sorted = sorted;
        w->cap_marks = cap;
    }
    bool kept = (flags & DMI_U_REORDER) != 0;
    w->marks[w->n_marks++] = (pending_mark){cp, from, to, dmi_bert_ccc(cp), kept, first};
    w->marks_kept |= kept;
    return DM_OK;
}

/* Ends a run of marks as the reference's alignment-tracking NFD does, then
 * strips. NFD sorts the run by combining class (stably); each code point
 * carries whether it was the first of its character's decomposition. Walking
 * the sorted run, a first code point takes the input bytes of the next
 * character in input order that began a decomposition, any other the bytes of
 * the last character so taken. Stripping then drops the Mn marks and the kept
 * ones keep their bytes. Runs where stripping drops everything (the usual
 * accents) cost nothing. */
static dm_status flush_marks(word_sink *sink, word_buf *w, bool lower)
{
    size_t n = w->n_marks;
    w->n_marks = 0;
    if (!w->marks_kept) return DM_OK;
    w->marks_kept = false;
    const pending_mark *m = w->marks;
    pending_mark *s = w->sorted;
    for (size_t i = 0; i < n; i++) { /* insertion sort: stable, runs are short */
        size_t k = i;
        for (; k > 0 && s[k - 1].ccc > m[i].ccc; k--) s[k] = s[k - 1];
        s[k] = m[i];
    }
    /* A run can only open with a non-first code point when it follows the
     * starter of the same decomposition: its own bytes are the right ones. */
    uint32_t from = m[0].from, to = m[0].to;
    size_t next_first = 0;
    dm_status st = DM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (s[i].first) {
            while (!m[next_first].first) next_first++;
            from = m[next_first].from;
            to = m[next_first].to;
            next_first++;
        }
        if (s[i].kept) st = emit_cased(sink, w, s[i].cp, dmi_bert_uflags(s[i].cp), lower, from, to);
    }
    return st;
}

/* Accent stripping of one input character CP (flags F, input bytes FROM..TO):
 * its NFD, with marks held back until their run ends, Mn dropped, the rest
 * lowercased when LOWER. CJK: the character is a word of its own. */
static dm_status strip_char(word_sink *sink, word_buf *w, uint32_t cp, uint8_t f, bool lower, bool cjk_word,
                            uint32_t from, uint32_t to)
{
    const uint32_t *nfd = &cp;
    int n = 1;
    if (f & DMI_U_MAPPED) n = dmi_bert_umap(cp, DMI_MAP_NFD, &nfd);
    dm_status st = DM_OK;
    if (cjk_word) {
        st = flush_marks(sink, w, lower);
        if (!st) st = flush_word(sink, w);
    }
    for (int k = 0; k < n && !st; k++) {
        uint32_t d = nfd[k];
        uint8_t fd = n == 1 && d == cp ? f : dmi_bert_uflags(d);
        if (fd & DMI_U_MARK) {
            st = push_mark(w, d, fd, k == 0, from, to);
            continue;
        }
        if (w->n_marks) st = flush_marks(sink, w, lower); /* a starter ends the run */
        if (st) break;
        if (fd & DMI_U_MAPPED) { /* a starter that stripping drops (Mn of class 0)? */
            const uint32_t *img;
            if (dmi_bert_umap(d, DMI_MAP_STRIP, &img) == 0) continue;
        }
        if (cjk_word) {
            st = word_append(w, d, from, to);
        } else {
            st = emit_cased(sink, w, d, fd, lower, from, to);
        }
    }
    if (cjk_word && !st) {
        st = flush_marks(sink, w, lower);
        if (!st) st = flush_word(sink, w);
    }
    return st;
}

/* Normalises and pre-tokenises TEXT[begin, end) (BASE is added to offsets),
 * feeding words to SINK. Invalid UTF-8 fails, or becomes U+FFFD. */
static dm_status normalize_span(const dmi_normalizer *nz, const char *text, size_t begin, size_t end,
                                dm_invalid_utf8 policy, word_sink *sink, word_buf *w)
{
    const uint8_t *p = (const uint8_t *)text;
    const bool clean = nz->clean_text, cjk = nz->handle_chinese_chars, lower = nz->lowercase;
    const bool strip = nz->strip_accents;
    dm_status st = DM_OK;
    size_t i = begin;
    while (i < end && !st) {
        uint8_t b = p[i];
        if (b < 0x80) { /* ASCII: no decomposition, lowercase is A-Z only, a starter */
            if (DMI_UNLIKELY(w->n_marks)) st = flush_marks(sink, w, lower);
            uint8_t f = dmi_bert_uflags(b);
            if (st) break;
            if (f & (DMI_U_CONTROL | DMI_U_SPACE | DMI_U_PUNCT)) {
                if (!(clean && (f & DMI_U_CONTROL))) st = emit_char(sink, w, b, f, (uint32_t)i, (uint32_t)i + 1);
            } else {
                if (DMI_UNLIKELY(w->len + 4 > w->cap)) st = word_reserve(w, 4);
                if (st) break;
                w->bytes[w->len] = (char)(lower && b >= 'A' && b <= 'Z' ? b + 32 : b);
                w->from[w->len] = (uint32_t)i;
                w->to[w->len] = (uint32_t)i + 1;
                w->len++;
                w->chars++;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t bad, n = dmi_utf8_decode(p + i, end - i, &cp, &bad);
        if (!n) {
            if (policy != DM_UTF8_REPLACE)
                return dmi_fail(DM_ERR_UTF8, "invalid UTF-8 at byte offset %zu (byte 0x%02X)", i, (unsigned)b);
            cp = 0xFFFD;
            n = bad;
        }
        uint32_t from = (uint32_t)i, to = (uint32_t)(i + n);
        i += n;
        uint8_t f = dmi_bert_uflags(cp);
        if (clean && (f & DMI_U_CONTROL)) continue; /* removed before NFD: marks around it meet */
        if (strip) {
            st = strip_char(sink, w, cp, f, lower, cjk && (f & DMI_U_CJK), from, to);
            continue;
        }
        if (cjk && (f & DMI_U_CJK)) { /* a word of its own */
            st = flush_word(sink, w);
            if (!st) st = emit_cased(sink, w, cp, f, lower, from, to);
            if (!st) st = flush_word(sink, w);
            continue;
        }
        st = emit_cased(sink, w, cp, f, lower, from, to);
    }
    if (!st && w->n_marks) st = flush_marks(sink, w, lower);
    return st;
}

dm_status dmi_bert_pretokenize(const dmi_normalizer *norm, const char *text, size_t len, dmi_word_fn fn,
                               void *user)
{
    word_buf w = {0};
    word_sink sink = {user_word, NULL, NULL, fn, user};
    dm_status st = normalize_span(norm, text, 0, len, DM_UTF8_REPLACE, &sink, &w);
    if (!st) st = flush_word(&sink, &w);
    if (st == DM_ERR_CANCELLED) dmi_fail(st, "pre-tokenisation stopped by the callback");
    free(w.bytes);
    free(w.from);
    free(w.to);
    free(w.prefix_hash);
    free(w.marks);
    free(w.sorted);
    return st;
}

/* ------------------------------------------------------------ added tokens */

static bool is_word_char(const char *s, size_t len, bool last)
{
    if (!len) return false;
    size_t at = 0;
    if (last) {
        at = len - 1;
        while (at > 0 && ((uint8_t)s[at] & 0xC0) == 0x80) at--;
    }
    uint32_t cp;
    size_t bad;
    if (!dmi_utf8_decode((const uint8_t *)s + at, len - at, &cp, &bad)) return false;
    if (cp == '_') return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_ME) || c == UTF8PROC_CATEGORY_ND ||
           c == UTF8PROC_CATEGORY_PC;
}

static size_t space_run_before(const char *s, size_t at, size_t floor)
{
    while (at > floor) {
        size_t prev = at - 1;
        while (prev > floor && ((uint8_t)s[prev] & 0xC0) == 0x80) prev--;
        uint32_t cp;
        size_t bad;
        if (!dmi_utf8_decode((const uint8_t *)s + prev, at - prev, &cp, &bad)) break;
        if (!(dmi_bert_uflags(cp) & DMI_U_SPACE)) break;
        at = prev;
    }
    return at;
}

static size_t space_run_after(const char *s, size_t at, size_t len)
{
    while (at < len) {
        uint32_t cp;
        size_t bad, n = dmi_utf8_decode((const uint8_t *)s + at, len - at, &cp, &bad);
        if (!n || !(dmi_bert_uflags(cp) & DMI_U_SPACE)) break;
        at += n;
    }
    return at;
}

/* The longest added token matching TEXT at POS (leftmost-longest, as HF's
 * Aho-Corasick matcher), honouring single_word; NULL when none. */
static const dmi_added_token *added_at(const dm_tokenizer *t, const char *text, size_t len, size_t pos)
{
    const dmi_added_token *best = NULL;
    for (size_t k = 0; k < t->n_added; k++) {
        const dmi_added_token *a = &t->added[k];
        if (a->len > len - pos || (best && a->len <= best->len)) continue;
        if (memcmp(text + pos, a->content, a->len) != 0) continue;
        if (a->single_word && (is_word_char(text, pos, true) || is_word_char(text + pos + a->len, len - pos - a->len, false)))
            continue;
        best = a;
    }
    return best;
}

/* Encodes one sequence into OUT: added tokens as they are, the rest through
 * normalisation, pre-tokenisation and WordPiece. */
static dm_status encode_sequence(const dm_tokenizer *t, const char *text, size_t len, dm_invalid_utf8 policy,
                                 scratch *s, tok_list *out)
{
    word_sink sink = {wordpiece_word, t, out, NULL, NULL};
    word_buf *w = &s->w;
    w->len = w->chars = 0;
    w->n_marks = 0;
    w->marks_kept = false;
    out->n = 0;
    size_t seg = 0;
    dm_status st = DM_OK;
    if (t->n_added) {
        for (size_t pos = 0; pos < len && !st; pos++) {
            if (!t->added_first_byte[(uint8_t)text[pos]]) continue;
            const dmi_added_token *a = added_at(t, text, len, pos);
            if (!a) continue;
            size_t start = a->lstrip ? space_run_before(text, pos, seg) : pos;
            size_t stop = a->rstrip ? space_run_after(text, pos + a->len, len) : pos + a->len;
            st = normalize_span(&t->norm, text, seg, start, policy, &sink, w);
            if (!st) st = flush_word(&sink, w);
            if (!st) st = tok_push(out, a->id, (uint32_t)start, (uint32_t)stop);
            seg = stop;
            pos = stop - 1;
        }
    }
    if (!st) st = normalize_span(&t->norm, text, seg, len, policy, &sink, w);
    if (!st) st = flush_word(&sink, w);
    return st;
}

/* ------------------------------------------------------ truncation, template */

/* Lengths to keep of sequences of N1 and N2 tokens (N2 = SIZE_MAX: no pair)
 * so that they fit MAX, following HF's truncate_encodings. */
static dm_status truncate_lengths(dm_truncation strategy, size_t max, size_t *n1, size_t *n2, bool has_pair)
{
    size_t a = *n1, b = has_pair ? *n2 : 0;
    if (a + b <= max) return DM_OK;
    size_t to_remove = a + b - max;
    if (strategy == DM_TRUNCATE_LONGEST_FIRST) {
        if (!has_pair) {
            *n1 = max;
            return DM_OK;
        }
        bool swap = a > b;
        size_t s = swap ? b : a, l = swap ? a : b; /* shorter, longer */
        if (s > max) l = s;
        else l = s > max - s ? s : max - s;
        if (s + l > max) {
            s = max / 2;
            l = s + max % 2;
        }
        *n1 = swap ? l : s;
        *n2 = swap ? s : l;
        return DM_OK;
    }
    if (strategy == DM_TRUNCATE_ONLY_SECOND && !has_pair)
        return dmi_fail(DM_ERR_RANGE, "truncation only_second needs a pair of sequences");
    size_t *target = strategy == DM_TRUNCATE_ONLY_FIRST ? n1 : n2;
    if (*target <= to_remove)
        return dmi_fail(DM_ERR_RANGE, "truncation %s: the %s sequence has %zu tokens, too few to remove %zu "
                        "and fit max_length",
                        strategy == DM_TRUNCATE_ONLY_FIRST ? "only_first" : "only_second",
                        strategy == DM_TRUNCATE_ONLY_FIRST ? "first" : "second", *target, to_remove);
    *target -= to_remove;
    return DM_OK;
}

static size_t encoding_bytes(size_t cap)
{
    return sizeof(dm_encoding) + cap * (sizeof(char *) + 4 * sizeof(int32_t) + 2);
}

static dm_encoding *encoding_alloc(size_t cap)
{
    dm_encoding *e = dmi_malloc(encoding_bytes(cap));
    if (!e) return NULL;
    char *p = (char *)(e + 1);
    e->tokens = (const char *const *)p;
    p += cap * sizeof(char *);
    e->ids = (int32_t *)p;
    p += cap * sizeof(int32_t);
    e->type_ids = (int32_t *)p;
    p += cap * sizeof(int32_t);
    e->offsets = (uint32_t *)p;
    p += cap * 2 * sizeof(uint32_t);
    e->attention_mask = (uint8_t *)p;
    p += cap;
    e->special_tokens_mask = (uint8_t *)p;
    e->length = 0;
    return e;
}

static void encoding_put(dm_encoding *e, const dm_tokenizer *t, int32_t id, int32_t type_id, uint32_t from,
                         uint32_t to, uint8_t attention, uint8_t special)
{
    size_t i = e->length++;
    ((const char **)e->tokens)[i] = t->tokens[id];
    e->ids[i] = id;
    e->type_ids[i] = type_id;
    e->offsets[2 * i] = from;
    e->offsets[2 * i + 1] = to;
    e->attention_mask[i] = attention;
    e->special_tokens_mask[i] = special;
}

/* Grows E to LENGTH with [PAD] tokens (a new block: the arrays live in one). */
static dm_status encoding_pad(const dm_tokenizer *t, dm_encoding **ep, size_t length)
{
    dm_encoding *e = *ep;
    if (e->length >= length) return DM_OK;
    int32_t pad = t->special_ids[DM_SPECIAL_PAD];
    if (pad < 0) return dmi_fail(DM_ERR_NOT_FOUND, "padding needs a [PAD] token, and this vocabulary has none");
    dm_encoding *n = encoding_alloc(length);
    if (!n) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < e->length; i++)
        encoding_put(n, t, e->ids[i], e->type_ids[i], e->offsets[2 * i], e->offsets[2 * i + 1], e->attention_mask[i],
                     e->special_tokens_mask[i]);
    while (n->length < length) encoding_put(n, t, pad, 0, 0, 0, 0, 1);
    free(e);
    *ep = n;
    return DM_OK;
}

static size_t round_up(size_t n, size_t multiple) { return multiple ? (n + multiple - 1) / multiple * multiple : n; }

/* Where one encoding's tokens go: a dm_encoding's arrays, or a slice of a
 * flat batch's. */
typedef struct token_cols {
    int32_t *ids, *type_ids;
    uint32_t *offsets;
    uint8_t *attention_mask, *special_tokens_mask;
} token_cols;

static inline void cols_put(const token_cols *c, size_t i, int32_t id, int32_t type_id, uint32_t from, uint32_t to,
                            uint8_t attention, uint8_t special)
{
    c->ids[i] = id;
    c->type_ids[i] = type_id;
    c->offsets[2 * i] = from;
    c->offsets[2 * i + 1] = to;
    c->attention_mask[i] = attention;
    c->special_tokens_mask[i] = special;
}

/* The shape of one encoding once truncation and padding are decided, so that
 * its memory can be sized before a token is written. */
typedef struct layout {
    const dmi_template *tp;
    bool specials;
    size_t na, nb; /* tokens kept of sequence A and B */
    size_t length; /* padding included */
} layout;

static dm_status plan_layout(const dm_tokenizer *t, const scratch *s, bool has_pair, const dm_encode_options *o,
                             layout *l)
{
    l->tp = has_pair ? &t->pair : &t->single;
    l->specials = o->add_special_tokens != 0;
    size_t n_special = l->specials ? l->tp->n_special : 0;
    l->na = s->a.n;
    l->nb = has_pair ? s->b.n : 0;
    if (o->truncation != DM_TRUNCATE_NONE) {
        if (o->max_length < n_special)
            return dmi_fail(DM_ERR_RANGE, "max_length %zu is smaller than the %zu special tokens the template adds",
                            o->max_length, n_special);
        dm_status st = truncate_lengths(o->truncation, o->max_length - n_special, &l->na, &l->nb, has_pair);
        if (st) return st;
    }
    size_t total = l->na + l->nb + n_special;
    /* As HF's pad_encodings: the length (fixed, or this encoding's own for
     * "longest") is rounded up to the multiple; longer encodings stay. */
    size_t target = total;
    if (o->padding == DM_PAD_TO_LENGTH) target = round_up(o->pad_length, o->pad_to_multiple_of);
    if (o->padding == DM_PAD_TO_LONGEST) target = round_up(total, o->pad_to_multiple_of);
    if (target < total) target = total;
    if (target != total && t->special_ids[DM_SPECIAL_PAD] < 0)
        return dmi_fail(DM_ERR_NOT_FOUND, "padding needs a [PAD] token, and this vocabulary has none");
    l->length = target;
    return DM_OK;
}

/* Writes the L->length tokens of the planned encoding to C: the sequences per
 * the template (or plainly without special tokens), then padding. */
static void write_layout(const dm_tokenizer *t, const scratch *s, const layout *l, const token_cols *c)
{
    size_t at = 0;
    for (size_t k = 0; k < l->tp->n; k++) {
        const dmi_template_item *it = &l->tp->items[k];
        if (it->id >= 0) {
            if (l->specials) cols_put(c, at++, it->id, it->type_id, 0, 0, 1, 1);
            continue;
        }
        const tok_list *seq = it->id == -1 ? &s->a : &s->b;
        size_t keep = it->id == -1 ? l->na : l->nb;
        for (size_t i = 0; i < keep; i++)
            cols_put(c, at++, seq->ids[i], it->type_id, seq->offs[2 * i], seq->offs[2 * i + 1], 1, 0);
    }
    int32_t pad = t->special_ids[DM_SPECIAL_PAD];
    while (at < l->length) cols_put(c, at++, pad, 0, 0, 0, 0, 1);
}

/* The planned encoding as a dm_encoding of its own. */
static dm_status assemble(const dm_tokenizer *t, const scratch *s, bool has_pair, const dm_encode_options *o,
                          dm_encoding **out)
{
    layout l;
    dm_status st = plan_layout(t, s, has_pair, o, &l);
    if (st) return st;
    dm_encoding *e = encoding_alloc(l.length);
    if (!e) return DM_ERR_NO_MEMORY;
    token_cols c = {e->ids, e->type_ids, e->offsets, e->attention_mask, e->special_tokens_mask};
    write_layout(t, s, &l, &c);
    e->length = l.length;
    const char **tokens = (const char **)e->tokens;
    for (size_t i = 0; i < l.length; i++) tokens[i] = t->tokens[e->ids[i]];
    *out = e;
    return DM_OK;
}

static dm_status check_options(const dm_encode_options *in, dm_encode_options *o)
{
    dm_encode_options_default(o);
    if (!in) return DM_OK;
    dm_status st = dmi_copy_options(o, sizeof *o, in, "dm_encode_options");
    if (st) return st;
    if ((unsigned)o->truncation > DM_TRUNCATE_ONLY_SECOND)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_encode_options.truncation: unknown value %d", (int)o->truncation);
    if ((unsigned)o->padding > DM_PAD_TO_LONGEST)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_encode_options.padding: unknown value %d", (int)o->padding);
    if ((unsigned)o->invalid_utf8 > DM_UTF8_REPLACE)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_encode_options.invalid_utf8: unknown value %d", (int)o->invalid_utf8);
    if (o->truncation != DM_TRUNCATE_NONE && o->max_length == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_encode_options: truncation needs max_length > 0");
    if (o->threads < 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_encode_options.threads must be >= 0");
    return DM_OK;
}

/* Runs TEXT (and PAIR, when not NULL) through WordPiece into S->a (and
 * S->b): the tokens before truncation and the template. */
static dm_status encode_texts(const dm_tokenizer *t, const char *text, size_t len, const char *pair,
                              size_t pair_len, const dm_encode_options *o, scratch *s)
{
    if ((!text && len) || (pair == NULL && pair_len))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "text is NULL but its length is %zu", len ? len : pair_len);
    if (len > UINT32_MAX - 1 || pair_len > UINT32_MAX - 1)
        return dmi_fail(DM_ERR_RANGE, "text of %zu bytes is over the 4 GiB limit", len > pair_len ? len : pair_len);
    dm_status st = encode_sequence(t, text ? text : "", len, o->invalid_utf8, s, &s->a);
    if (st) return st;
    if (pair) {
        st = encode_sequence(t, pair, pair_len, o->invalid_utf8, s, &s->b);
        if (st) return dmi_fail_prefix(st, "pair text");
    }
    return DM_OK;
}

static dm_status encode_one(const dm_tokenizer *t, const char *text, size_t len, const char *pair, size_t pair_len,
                            const dm_encode_options *o, scratch *s, dm_encoding **out)
{
    dm_status st = encode_texts(t, text, len, pair, pair_len, o, s);
    return st ? st : assemble(t, s, pair != NULL, o, out);
}

DM_API dm_status dm_tokenizer_encode(const dm_tokenizer *t, const char *text, size_t len, const char *pair,
                                     size_t pair_len, const dm_encode_options *opts, dm_encoding **out)
{
    if (!t || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_encode: NULL tokenizer or output");
    dm_encode_options o;
    dm_status st = check_options(opts, &o);
    if (st) return st;
    scratch s = {0}; /* DM_PAD_TO_LONGEST: one text is its own longest */
    st = encode_one(t, text, len, pair, pair_len, &o, &s, out);
    scratch_free(&s);
    return st;
}

DM_API void dm_encoding_free(dm_encoding *e) { free(e); }

DM_API void dm_encodings_free(dm_encoding **e, size_t n)
{
    if (!e) return;
    for (size_t i = 0; i < n; i++) free(e[i]);
    free(e);
}

/* ------------------------------------------------------------------- batch */

#define BATCH_CHUNK 64

/* A worker's share of a flat batch: the tokens of the chunks it encoded, end
 * to end, in growable arrays. */
typedef struct flat_rows {
    token_cols c;
    size_t n, cap;
} flat_rows;

/* What a flat batch collects while its workers run: each chunk's worker and
 * where its tokens start there, and each text's length. Chunks are handed out
 * dynamically, so text order is restored only when gathering. */
typedef struct flat_parts {
    flat_rows *rows;      /* one per worker */
    size_t *chunk_worker; /* per chunk */
    size_t *chunk_start;  /* per chunk: its first token in rows[chunk_worker] */
    size_t *lengths;      /* per text: tokens, before batch padding */
} flat_parts;

typedef struct batch {
    const dm_tokenizer *tok;
    const char *const *texts, *const *pairs;
    const size_t *lens, *pair_lens;
    const dm_encode_options *opts;
    dm_encoding **out; /* one dm_encoding per text (dm_tokenizer_encode_batch) ... */
    flat_parts *flat;  /* ... or flat rows (dm_tokenizer_encode_batch_flat) */
    size_t n;
    atomic_size_t next, done;
    atomic_size_t workers; /* worker indexes handed out; the calling thread is 0 */
    size_t reported; /* last count given to the progress callback (calling thread only) */
    atomic_int cancelled;
    dmi_job_error err; /* the first failing text, carried back from its thread */
} batch;

/* Calls the progress callback (from the calling thread only). */
static void report_batch(batch *b, size_t done)
{
    if (!b->opts->progress || done <= b->reported) return;
    b->reported = done;
    if (b->opts->progress(done, b->n, b->opts->progress_user)) atomic_store(&b->cancelled, 1);
}

static dm_status rows_reserve(flat_rows *r, size_t extra)
{
    if (extra <= r->cap - r->n) return DM_OK;
    if (extra > SIZE_MAX / 16 - r->n) return dmi_fail(DM_ERR_RANGE, "%zu tokens are too many for one batch", extra);
    size_t cap = r->cap ? r->cap * 2 : 1024;
    while (cap < r->n + extra) cap *= 2;
    token_cols *c = &r->c;
    int32_t *ids = dmi_realloc(c->ids, cap * sizeof *ids);
    if (ids) c->ids = ids;
    int32_t *type_ids = ids ? dmi_realloc(c->type_ids, cap * sizeof *type_ids) : NULL;
    if (type_ids) c->type_ids = type_ids;
    uint32_t *offsets = type_ids ? dmi_realloc(c->offsets, 2 * cap * sizeof *offsets) : NULL;
    if (offsets) c->offsets = offsets;
    uint8_t *att = offsets ? dmi_realloc(c->attention_mask, cap) : NULL;
    if (att) c->attention_mask = att;
    uint8_t *spec = att ? dmi_realloc(c->special_tokens_mask, cap) : NULL;
    if (!spec) return DM_ERR_NO_MEMORY;
    c->special_tokens_mask = spec;
    r->cap = cap;
    return DM_OK;
}

static void cols_free(token_cols *c)
{
    free(c->ids);
    free(c->type_ids);
    free(c->offsets);
    free(c->attention_mask);
    free(c->special_tokens_mask);
}

/* The columns of C shifted to token AT. */
static token_cols cols_at(const token_cols *c, size_t at)
{
    return (token_cols){c->ids + at, c->type_ids + at, c->offsets + 2 * at, c->attention_mask + at,
                        c->special_tokens_mask + at};
}

/* Appends the encoding planned from S to R; *LENGTH receives its length. */
static dm_status flat_append(const dm_tokenizer *t, const scratch *s, bool has_pair, const dm_encode_options *o,
                             flat_rows *r, size_t *length)
{
    layout l;
    dm_status st = plan_layout(t, s, has_pair, o, &l);
    if (!st) st = rows_reserve(r, l.length);
    if (st) return st;
    token_cols c = cols_at(&r->c, r->n);
    write_layout(t, s, &l, &c);
    r->n += l.length;
    *length = l.length;
    return DM_OK;
}

/* Encodes text I of the batch into the output its API wants. */
static dm_status encode_at(batch *b, scratch *s, size_t worker, size_t i)
{
    const char *pair = b->pairs ? b->pairs[i] : NULL;
    size_t pair_len = b->pairs ? (b->pair_lens ? b->pair_lens[i] : 0) : 0;
    if (b->pairs && !pair) pair = "";
    const char *text = b->texts[i];
    size_t len = b->lens ? b->lens[i] : 0;
    if (!b->flat) return encode_one(b->tok, text, len, pair, pair_len, b->opts, s, &b->out[i]);
    dm_status st = encode_texts(b->tok, text, len, pair, pair_len, b->opts, s);
    return st ? st : flat_append(b->tok, s, pair != NULL, b->opts, &b->flat->rows[worker], &b->flat->lengths[i]);
}

/* Works through chunks of the batch as worker WORKER; worker 0 (the calling
 * thread) also reports progress. Texts after a failing one are skipped, but
 * earlier ones are still encoded so that the error reported is always the
 * first. */
static void batch_work(batch *b, size_t worker)
{
    scratch s = {0};
    for (;;) {
        size_t i = atomic_fetch_add(&b->next, BATCH_CHUNK);
        if (i >= b->n || atomic_load(&b->cancelled)) break;
        size_t end = i + BATCH_CHUNK < b->n ? i + BATCH_CHUNK : b->n;
        if (b->flat) {
            b->flat->chunk_worker[i / BATCH_CHUNK] = worker;
            b->flat->chunk_start[i / BATCH_CHUNK] = b->flat->rows[worker].n;
        }
        for (; i < end; i++) {
            if (dmi_job_error_before(&b->err, i)) break;
            dm_status st = encode_at(b, &s, worker, i);
            if (st) dmi_job_error_set(&b->err, i, st);
        }
        size_t done = atomic_fetch_add(&b->done, BATCH_CHUNK) + BATCH_CHUNK;
        if (worker == 0) report_batch(b, done < b->n ? done : b->n);
    }
    scratch_free(&s);
}

static void *batch_thread(void *arg)
{
    batch *b = arg;
    batch_work(b, atomic_fetch_add(&b->workers, 1));
    return NULL;
}

/* How many threads a batch of N texts uses: never more than its chunks. */
static size_t batch_threads(const dm_encode_options *o, size_t n)
{
    size_t threads = o->threads > 0 ? (size_t)o->threads : (size_t)dmi_cpu_count();
    size_t chunks = (n + BATCH_CHUNK - 1) / BATCH_CHUNK;
    return threads > chunks ? (chunks ? chunks : 1) : threads;
}

/* Encodes every text of B on THREADS threads (the calling one included) and
 * returns the first failing text's error, or DM_ERR_CANCELLED. */
static dm_status run_batch(batch *b, size_t threads)
{
    atomic_init(&b->next, 0);
    atomic_init(&b->done, 0);
    atomic_init(&b->workers, 1);
    atomic_init(&b->cancelled, 0);
    dmi_job_error_init(&b->err);
    pthread_t *tids = threads > 1 ? dmi_calloc(threads - 1, sizeof *tids) : NULL;
    size_t started = 0;
    if (threads > 1 && tids)
        for (; started < threads - 1; started++)
            if (pthread_create(&tids[started], NULL, batch_thread, b) != 0) break;
    batch_work(b, 0);
    for (size_t k = 0; k < started; k++) pthread_join(tids[k], NULL);
    free(tids);
    /* Other threads may have finished the last chunks: the caller still sees n/n. */
    if (!dmi_job_failed(&b->err) && !atomic_load(&b->cancelled)) report_batch(b, b->n);
    dm_status st = dmi_job_error_raise(&b->err, "text %zu", dmi_job_error_index(&b->err));
    dmi_job_error_destroy(&b->err);
    if (st) return st;
    if (atomic_load(&b->cancelled))
        return dmi_fail(DM_ERR_CANCELLED, "batch encoding cancelled by the progress callback");
    return DM_OK;
}

static dm_status pad_batch(const dm_tokenizer *t, dm_encoding **encs, size_t n, const dm_encode_options *o)
{
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        if (encs[i]->length > longest) longest = encs[i]->length;
    longest = round_up(longest, o->pad_to_multiple_of);
    for (size_t i = 0; i < n; i++) {
        dm_status st = encoding_pad(t, &encs[i], longest);
        if (st) return st;
    }
    return DM_OK;
}

DM_API dm_status dm_tokenizer_encode_batch(const dm_tokenizer *t, size_t n, const char *const *texts,
                                           const size_t *lens, const char *const *pairs, const size_t *pair_lens,
                                           const dm_encode_options *opts, dm_encoding ***out)
{
    if (!t || !out || (n && !texts))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_encode_batch: NULL tokenizer, texts or output");
    dm_encode_options o;
    dm_status st = check_options(opts, &o);
    if (st) return st;
    bool pad_longest = o.padding == DM_PAD_TO_LONGEST;
    if (pad_longest) o.padding = DM_PAD_NONE;
    dm_encoding **encs = dmi_calloc(n ? n : 1, sizeof *encs);
    if (!encs) return DM_ERR_NO_MEMORY;
    batch b = {.tok = t, .texts = texts, .pairs = pairs, .lens = lens, .pair_lens = pair_lens, .opts = &o,
               .out = encs, .n = n};
    st = run_batch(&b, batch_threads(&o, n));
    if (!st && pad_longest) st = pad_batch(t, encs, n, &o);
    if (st) {
        dm_encodings_free(encs, n);
        return st;
    }
    *out = encs;
    return DM_OK;
}

/* ------------------------------------------------------------ flat batches */

static void flat_parts_free(flat_parts *p, size_t workers)
{
    if (p->rows)
        for (size_t k = 0; k < workers; k++) cols_free(&p->rows[k].c);
    free(p->rows);
    free(p->chunk_worker);
    free(p->chunk_start);
    free(p->lengths);
}

static dm_status flat_parts_alloc(flat_parts *p, size_t n, size_t workers)
{
    size_t chunks = (n + BATCH_CHUNK - 1) / BATCH_CHUNK + 1;
    p->rows = dmi_calloc(workers, sizeof *p->rows);
    p->chunk_worker = dmi_calloc(chunks, sizeof *p->chunk_worker);
    p->chunk_start = dmi_calloc(chunks, sizeof *p->chunk_start);
    p->lengths = dmi_calloc(n + 1, sizeof *p->lengths);
    return p->rows && p->chunk_worker && p->chunk_start && p->lengths ? DM_OK : DM_ERR_NO_MEMORY;
}

DM_API void dm_encodings_flat_free(dm_encodings_flat *f)
{
    if (!f) return;
    free(f->row_offsets);
    token_cols c = {f->ids, f->type_ids, f->offsets, f->attention_mask, f->special_tokens_mask};
    cols_free(&c);
    free(f);
}

/* Row offsets from the texts' lengths (every row PAD_TO long when not 0). */
static dm_status flat_row_offsets(dm_encodings_flat *f, const size_t *lengths, size_t pad_to)
{
    f->row_offsets = dmi_malloc((f->n + 1) * sizeof *f->row_offsets);
    if (!f->row_offsets) return DM_ERR_NO_MEMORY;
    size_t at = 0;
    f->row_offsets[0] = 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t len = pad_to ? pad_to : lengths[i];
        if (len > SIZE_MAX / 16 - at) return dmi_fail(DM_ERR_RANGE, "the batch's tokens do not fit in memory");
        at += len;
        f->row_offsets[i + 1] = at;
        if (len > f->longest) f->longest = len;
    }
    f->n_tokens = at;
    return DM_OK;
}

/* Copies N tokens of SRC from token FROM to DST's token AT. */
static void cols_copy(const token_cols *dst, size_t at, const token_cols *src, size_t from, size_t n)
{
    memcpy(dst->ids + at, src->ids + from, n * sizeof *dst->ids);
    memcpy(dst->type_ids + at, src->type_ids + from, n * sizeof *dst->type_ids);
    memcpy(dst->offsets + 2 * at, src->offsets + 2 * from, 2 * n * sizeof *dst->offsets);
    memcpy(dst->attention_mask + at, src->attention_mask + from, n);
    memcpy(dst->special_tokens_mask + at, src->special_tokens_mask + from, n);
}

/* Moves every text's tokens from its worker's rows to its place in F, padding
 * each row to its length in F. */
static dm_status flat_copy_rows(const dm_tokenizer *t, const flat_parts *p, dm_encodings_flat *f)
{
    size_t total = f->n_tokens ? f->n_tokens : 1;
    token_cols dst = {dmi_malloc(total * sizeof(int32_t)), dmi_malloc(total * sizeof(int32_t)),
                      dmi_malloc(2 * total * sizeof(uint32_t)), dmi_malloc(total), dmi_malloc(total)};
    f->ids = dst.ids, f->type_ids = dst.type_ids, f->offsets = dst.offsets;
    f->attention_mask = dst.attention_mask, f->special_tokens_mask = dst.special_tokens_mask;
    if (!dst.ids || !dst.type_ids || !dst.offsets || !dst.attention_mask || !dst.special_tokens_mask)
        return DM_ERR_NO_MEMORY;
    int32_t pad = t->special_ids[DM_SPECIAL_PAD];
    for (size_t c = 0; c * BATCH_CHUNK < f->n; c++) {
        const token_cols *src = &p->rows[p->chunk_worker[c]].c;
        size_t from = p->chunk_start[c], end = (c + 1) * BATCH_CHUNK < f->n ? (c + 1) * BATCH_CHUNK : f->n;
        for (size_t i = c * BATCH_CHUNK; i < end; i++) {
            size_t at = f->row_offsets[i], len = p->lengths[i];
            if (at + len < f->row_offsets[i + 1] && pad < 0)
                return dmi_fail(DM_ERR_NOT_FOUND, "padding needs a [PAD] token, and this vocabulary has none");
            cols_copy(&dst, at, src, from, len);
            for (size_t k = at + len; k < f->row_offsets[i + 1]; k++) cols_put(&dst, k, pad, 0, 0, 0, 0, 1);
            from += len;
        }
    }
    return DM_OK;
}

/* Gives back the unused end of R's arrays (up to half of them, as they grow
 * by doubling) before they are handed to the caller. A failed shrink keeps
 * the larger block, which is still valid. */
static void rows_shrink(flat_rows *r)
{
    size_t n = r->n ? r->n : 1;
    token_cols *c = &r->c;
    void *p;
    if ((p = realloc(c->ids, n * sizeof *c->ids))) c->ids = p;
    if ((p = realloc(c->type_ids, n * sizeof *c->type_ids))) c->type_ids = p;
    if ((p = realloc(c->offsets, 2 * n * sizeof *c->offsets))) c->offsets = p;
    if ((p = realloc(c->attention_mask, n))) c->attention_mask = p;
    if ((p = realloc(c->special_tokens_mask, n))) c->special_tokens_mask = p;
}

/* Builds *OUT from the parts: one worker's rows, already in text order and
 * not padded further, are taken as they are; otherwise rows are copied. */
static dm_status flat_gather(const dm_tokenizer *t, flat_parts *p, size_t n, size_t workers, size_t pad_to,
                             dm_encodings_flat **out)
{
    dm_encodings_flat *f = dmi_calloc(1, sizeof *f);
    if (!f) return DM_ERR_NO_MEMORY;
    f->struct_size = sizeof *f;
    f->n = n;
    dm_status st = flat_row_offsets(f, p->lengths, pad_to);
    if (!st && workers == 1 && !pad_to) st = rows_reserve(&p->rows[0], 1); /* never NULL arrays */
    if (!st && workers == 1 && !pad_to) {
        rows_shrink(&p->rows[0]);
        token_cols *c = &p->rows[0].c;
        f->ids = c->ids, f->type_ids = c->type_ids, f->offsets = c->offsets;
        f->attention_mask = c->attention_mask, f->special_tokens_mask = c->special_tokens_mask;
        *c = (token_cols){0};
    } else if (!st) {
        st = flat_copy_rows(t, p, f);
    }
    if (st) {
        dm_encodings_flat_free(f);
        return st;
    }
    *out = f;
    return DM_OK;
}

/* The length every row is padded to with DM_PAD_TO_LONGEST: the longest
 * text's, rounded up to the multiple. */
static size_t longest_length(const size_t *lengths, size_t n, size_t multiple)
{
    size_t longest = 0;
    for (size_t i = 0; i < n; i++)
        if (lengths[i] > longest) longest = lengths[i];
    return round_up(longest, multiple);
}

DM_API dm_status dm_tokenizer_encode_batch_flat(const dm_tokenizer *t, size_t n, const char *const *texts,
                                                const size_t *lens, const char *const *pairs,
                                                const size_t *pair_lens, const dm_encode_options *opts,
                                                dm_encodings_flat **out)
{
    if (!t || !out || (n && !texts))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_encode_batch_flat: NULL tokenizer, texts or output");
    dm_encode_options o;
    dm_status st = check_options(opts, &o);
    if (st) return st;
    bool pad_longest = o.padding == DM_PAD_TO_LONGEST;
    if (pad_longest) o.padding = DM_PAD_NONE;
    size_t workers = batch_threads(&o, n);
    flat_parts parts = {0};
    st = flat_parts_alloc(&parts, n, workers);
    batch b = {.tok = t, .texts = texts, .pairs = pairs, .lens = lens, .pair_lens = pair_lens, .opts = &o,
               .flat = &parts, .n = n};
    if (!st) st = run_batch(&b, workers);
    if (!st) {
        size_t pad_to = pad_longest ? longest_length(parts.lengths, n, o.pad_to_multiple_of) : 0;
        st = flat_gather(t, &parts, n, workers, pad_to, out);
    }
    flat_parts_free(&parts, workers);
    return st;
}
