/*
 * dedup_norm.c — the key that dedup and conflicts compare (ops.h): a text
 * after NFKC, case folding and whitespace collapsing, as Python's
 * unicodedata.normalize("NFKC", s).casefold() with whitespace runs made one
 * space. dmi_dedup_normalize is the fast path (a table of simple foldings,
 * utf8proc only around what needs it); dmi_dedup_normalize_slow, utf8proc_map
 * over the whole text, is the reference it is tested against.
 */
#include "ops.h"

#include "core/utf8.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ----------------------------------------------------------- normalising */

#define NORM_OPTIONS ((utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD))

/* Python's str.isspace (so that `re.sub(r"\s+", " ", s)` agrees): the
 * controls TAB..CR and FS..US, NEL, and Unicode's Zs, Zl, Zp. */
static bool is_space(int32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 9 && cp <= 13) || (cp >= 0x1C && cp <= 0x1F);
    if (cp == 0x85) return true;
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Collapses whitespace runs of valid UTF-8 S in place to one space, trimmed;
 * returns the new length. */
static size_t collapse_spaces(char *s, size_t len)
{
    size_t w = 0, i = 0;
    bool pending = false;
    while (i < len) {
        int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) n = 1, cp = -1;
        if (cp >= 0 && is_space(cp)) {
            pending = w > 0;
        } else {
            if (pending) s[w++] = ' ';
            pending = false;
            memmove(s + w, s + i, (size_t)n);
            w += (size_t)n;
        }
        i += (size_t)n;
    }
    s[w] = '\0';
    return w;
}

/* The reference: utf8proc_map over the whole text, then collapse_spaces.
 * The fast path below falls back to it for invalid UTF-8, and test_dedup.c
 * checks the two agree on every code point in many contexts. */
dm_status dmi_dedup_normalize_slow(const char *text, size_t len, char **out, size_t *out_len)
{
    if ((!text && len) || !out || !out_len) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_dedup_normalize_slow: NULL argument");
    *out = NULL;
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++) ascii = (unsigned char)text[i] < 0x80;
    char *s;
    size_t n;
    if (ascii) {
        /* NFKC leaves ASCII alone and case folding is A-Z -> a-z. */
        s = dmi_malloc(len + 1);
        if (!s) return DM_ERR_NO_MEMORY;
        for (size_t i = 0; i < len; i++) s[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] + 32 : text[i]);
        n = len;
    } else {
        utf8proc_uint8_t *m = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &m,
                                          NORM_OPTIONS);
        if (r == UTF8PROC_ERROR_NOMEM) return dmi_fail(DM_ERR_NO_MEMORY, "dmi_dedup_normalize_slow: out of memory");
        if (r < 0) {
            /* Invalid UTF-8 (kept by the loader's policy): compared as is. */
            s = dmi_strndup(text, len);
            if (!s) return DM_ERR_NO_MEMORY;
            *out = s, *out_len = len;
            return DM_OK;
        }
        s = (char *)m, n = (size_t)r;
    }
    *out_len = collapse_spaces(s, n);
    *out = s;
    return DM_OK;
}

/* The fast path. NFKC + case folding of a text is the concatenation of the
 * results of its segments when every segment starts with a "simple" code
 * point: combining class 0, no composition with the starter before it (not
 * the second of a pair, no Hangul jamo) and a decomposition that starts with
 * such a code point too. Then nothing before it is reordered past it or
 * composes with anything from it on (utf8proc's composition only looks back
 * to the last starter). So a simple code point followed by another simple
 * one (or ASCII, or the end) is mapped on its own, through a table; a code
 * point that is not simple goes to utf8proc together with the simple one
 * before it (it may compose with it) and the ones up to the next simple
 * code point. Whitespace is collapsed on the way, on the mapped code points
 * (as collapse_spaces does on utf8proc's output). */

enum { FOLD_SAME = 0, FOLD_SLOW = 0xFFFF, FOLD_MAX_EXC = 16384 };

/* What a simple code point maps to, when not itself: UTF-8 bytes, or a space. */
typedef struct fold_exc {
    uint8_t len, space;
    char s[14];
} fold_exc;

/* Per BMP code point: FOLD_SAME, FOLD_SLOW (not simple) or an index into
 * fold_excs (from 1). Built once, at the first call. */
static uint16_t fold_bmp[0x10000];
static fold_exc fold_excs[FOLD_MAX_EXC];
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

/* Whether CP (combining class 0) may compose with the starter before it:
 * the second of a canonical pair, or a Hangul V or T jamo (utf8proc composes
 * those algorithmically, U+11A7 included). */
static bool can_follow(int32_t cp, const utf8proc_property_t *p)
{
    return (p->comb_index != UINT16_MAX && p->comb_index >= 0x8000) || (cp >= 0x1160 && cp <= 0x11FF);
}

static int put_utf8(char *d, int32_t cp)
{
    return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)d);
}

static uint16_t fold_entry(int32_t cp, size_t *n_exc)
{
    if (cp < 0x80) return FOLD_SAME; /* ASCII never reaches the table */
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFF || (cp >= 0x1100 && cp <= 0x11FF)) return FOLD_SLOW;
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    if (p->combining_class != 0 || can_follow(cp, p)) return FOLD_SLOW;
    if (p->decomp_seqindex == UINT16_MAX && p->casefold_seqindex == UINT16_MAX && !is_space(cp)) return FOLD_SAME;
    utf8proc_int32_t d[32];
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_decompose(u, utf8proc_encode_char(cp, u), d, 32, NORM_OPTIONS);
    if (k <= 0 || k > 32) return FOLD_SLOW;
    const utf8proc_property_t *p0 = utf8proc_get_property(d[0]);
    if (p0->combining_class != 0 || can_follow(d[0], p0)) return FOLD_SLOW;
    k = utf8proc_normalize_utf32(d, k, NORM_OPTIONS);
    if (k == 1 && d[0] == cp && !is_space(cp)) return FOLD_SAME;
    fold_exc e = {0};
    for (utf8proc_ssize_t i = 0; i < k; i++) {
        if (is_space(d[i])) {
            if (k != 1) return FOLD_SLOW; /* rare (U+FDFA...): utf8proc does it */
            e.space = 1;
        } else if ((size_t)e.len + 4 > sizeof e.s) {
            return FOLD_SLOW;
        } else {
            e.len = (uint8_t)(e.len + put_utf8(e.s + e.len, d[i]));
        }
    }
    if (*n_exc >= FOLD_MAX_EXC) return FOLD_SLOW;
    fold_excs[*n_exc] = e;
    return (uint16_t)(*n_exc)++;
}

static void fold_build(void)
{
    size_t n_exc = 1;
    for (int32_t cp = 0; cp < 0x10000; cp++) fold_bmp[cp] = fold_entry(cp, &n_exc);
}

/* Above the BMP (no spaces there): simple and unchanged, or not simple. */
static uint16_t fold_supplementary(int32_t cp)
{
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    return p->combining_class == 0 && p->decomp_seqindex == UINT16_MAX && p->casefold_seqindex == UINT16_MAX &&
                   !can_follow(cp, p)
               ? FOLD_SAME
               : FOLD_SLOW;
}

/* One code point of S (N > 0 bytes, S[0] >= 0x80) with utf8proc_iterate's
 * rules (no overlong forms, surrogates or code points above U+10FFFF);
 * returns its length, 0 when invalid. */
static inline int decode_utf8(const unsigned char *s, size_t n, int32_t *cp)
{
    unsigned b = s[0];
    if (b < 0xC2 || b > 0xF4) return 0;
    if (b < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = (int32_t)((b & 0x1F) << 6 | (s[1] & 0x3Fu));
        return 2;
    }
    if (b < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        int32_t c = (int32_t)((b & 0x0F) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu));
        if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        *cp = c;
        return 3;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    int32_t c = (int32_t)((b & 0x07) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu));
    if (c < 0x10000 || c > 0x10FFFF) return 0;
    *cp = c;
    return 4;
}

static inline uint16_t fold_lookup(int32_t cp)
{
    return cp < 0x10000 ? fold_bmp[cp] : fold_supplementary(cp);
}

/* The output and whether a space is due before the next non-space (never at
 * the start: the text is trimmed). */
typedef struct norm_out {
    dmi_buf b;
    bool pending;
} norm_out;

/* Room for MORE bytes and a space. dmi_buf grows by half again, not double:
 * the output starts as long as the input, and a long row that grows a
 * little (NFKC expands ligatures, fractions) should not cost a second copy
 * of it. */
static bool out_reserve(norm_out *o, size_t more) { return dmi_buf_reserve(&o->b, more + 1); }

static inline void out_space(norm_out *o)
{
    if (o->b.len) o->pending = true;
}

/* utf8proc on the segment S (valid UTF-8) into O; *BUF (*CAP code points)
 * is the scratch space, grown with malloc when it is not STACK. */
static bool out_segment(norm_out *o, const char *s, size_t n, utf8proc_int32_t **buf, size_t *cap,
                        utf8proc_int32_t *stack)
{
    utf8proc_ssize_t m;
    for (;;) {
        m = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, *buf, (utf8proc_ssize_t)*cap,
                               NORM_OPTIONS);
        if (m < 0) return dmi_fail(DM_ERR_INTERNAL, "utf8proc: %s", utf8proc_errmsg(m)), false;
        if ((size_t)m <= *cap) break;
        utf8proc_int32_t *b = dmi_malloc((size_t)m * sizeof *b);
        if (!b) return false;
        if (*buf != stack) free(*buf);
        *buf = b, *cap = (size_t)m;
    }
    m = utf8proc_normalize_utf32(*buf, m, NORM_OPTIONS);
    if (m < 0) return dmi_fail(DM_ERR_INTERNAL, "utf8proc: %s", utf8proc_errmsg(m)), false;
    if (!out_reserve(o, 5 * (size_t)m)) return false;
    for (utf8proc_ssize_t i = 0; i < m; i++) {
        int32_t cp = (*buf)[i];
        if (is_space(cp)) {
            out_space(o);
        } else {
            if (o->pending) o->b.data[o->b.len++] = ' ', o->pending = false;
            o->b.len += (size_t)put_utf8(o->b.data + o->b.len, cp);
        }
    }
    return true;
}

/* ASCII: -1 for whitespace, else the byte case-folded. */
static const int16_t ascii_fold[128] = {
    0,   1,   2,   3,   4,   5,   6,   7,   8,   -1,  -1,  -1,  -1,  -1,  14,  15,  16,  17,  18,  19,  20,  21,
    22,  23,  24,  25,  26,  27,  -1,  -1,  -1,  -1,  -1,  33,  34,  35,  36,  37,  38,  39,  40,  41,  42,  43,
    44,  45,  46,  47,  48,  49,  50,  51,  52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  62,  63,  64,  97,
    98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119,
    120, 121, 122, 91,  92,  93,  94,  95,  96,  97,  98,  99,  100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
    110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127};

dm_status dmi_dedup_normalize(const char *text, size_t len, char **out, size_t *out_len)
{
    if ((!text && len) || !out || !out_len) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_dedup_normalize: NULL argument");
    *out = NULL;
    pthread_once(&fold_once, fold_build);
    const unsigned char *s = (const unsigned char *)text;
    norm_out o = {{0}, false};
    utf8proc_int32_t stack[64], *buf = stack;
    size_t buf_cap = 64;
    /* The last simple code point: where it starts and the output before it. */
    size_t last_in = 0, last_w = 0;
    bool last_pending = false, have_last = false;
    if (!dmi_buf_reserve(&o.b, len + 31)) goto no_memory; /* as long as the input */
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            /* A run of ASCII: at most one byte out per byte in, plus a space. */
            if (!out_reserve(&o, len - i + 1)) goto no_memory;
            char *p = o.b.data;
            size_t w = o.b.len;
            bool pending = o.pending;
            do {
                last_in = i, last_w = w, last_pending = pending;
                /* Branch-free (spaces come every few bytes): the space due
                 * and the byte are stored, and kept or not. */
                int c = ascii_fold[s[i++]];
                bool space = c < 0;
                p[w] = ' ';
                w += pending && !space;
                p[w] = (char)c;
                w += !space;
                pending = space && w > 0;
            } while (i < len && s[i] < 0x80);
            o.b.len = w, o.pending = pending, have_last = true;
            continue;
        }
        if (o.b.len + 16 > o.b.cap && !out_reserve(&o, 16)) goto no_memory;
        size_t at = i, at_w = o.b.len;
        bool at_pending = o.pending;
        {
            int32_t cp;
            int k = decode_utf8(s + i, len - i, &cp);
            if (!k) goto invalid;
            uint16_t e = fold_lookup(cp);
            /* 16 bytes of room: fixed-size copies, no memcpy calls. */
            if (e == FOLD_SAME) {
                char *d = o.b.data + o.b.len;
                *d = ' ';
                d += o.pending, o.pending = false;
                d[0] = text[i], d[1] = text[i + 1];
                if (k > 2) d[2] = text[i + 2];
                if (k > 3) d[3] = text[i + 3];
                o.b.len = (size_t)(d - o.b.data) + (size_t)k;
            } else if (e != FOLD_SLOW) {
                const fold_exc *x = &fold_excs[e];
                if (x->space) {
                    out_space(&o);
                } else {
                    char *d = o.b.data + o.b.len;
                    *d = ' ';
                    d += o.pending, o.pending = false;
                    memcpy(d, x->s, sizeof x->s);
                    o.b.len = (size_t)(d - o.b.data) + x->len;
                }
            } else {
                /* From the simple code point before (undone) to the next one. */
                size_t from = at;
                if (have_last) from = last_in, o.b.len = last_w, o.pending = last_pending;
                size_t j = i + (size_t)k;
                while (j < len && s[j] >= 0x80) {
                    int kj = decode_utf8(s + j, len - j, &cp);
                    if (!kj) goto invalid;
                    if (fold_lookup(cp) != FOLD_SLOW) break;
                    j += (size_t)kj;
                }
                if (!out_segment(&o, text + from, j - from, &buf, &buf_cap, stack)) goto no_memory;
                i = j;
                have_last = false;
                continue;
            }
            i += (size_t)k;
        }
        last_in = at, last_w = at_w, last_pending = at_pending, have_last = true;
    }
    if (buf != stack) free(buf);
    return dmi_buf_finish(&o.b, out, out_len); /* cannot fail: the NUL has its room */
invalid:
    /* Invalid UTF-8 (kept by the loader's policy): compared as is. */
    if (buf != stack) free(buf);
    dmi_buf_free(&o.b);
    return dmi_dedup_normalize_slow(text, len, out, out_len);
no_memory:
    if (buf != stack) free(buf);
    dmi_buf_free(&o.b);
    return dmi_fail_prefix(DM_ERR_NO_MEMORY, "dmi_dedup_normalize");
}

