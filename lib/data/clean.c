/*
 * clean.c — dm_dataset_clean: HTML stripping, NFKC, control and format
 * character removal, whitespace collapsing and trimming of the text (and
 * pair) column, then row filters (length in characters or tokens, labels).
 *
 * Each text goes through a chain of steps, each reading one buffer and
 * writing the other of two scratch buffers that a thread reuses for every
 * row. A step first looks for something to do and, finding nothing, writes
 * nothing; pure-ASCII texts skip NFKC and the Unicode tables altogether.
 * Rows are cleaned in parallel (OpenMP) a large chunk at a time; the
 * chunk's surviving rows are then appended in row order on the calling
 * thread, so the output does not depend on the number of threads. The
 * progress callback is only ever called on the calling thread.
 */
#define _GNU_SOURCE /* memmem */
#include "ops.h"
#include "../core/jobs.h"
#include "../core/utf8.h"

#include <libxml/HTMLparser.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Rows cleaned per parallel pass (bounds the memory the cleaned copies take
 * before they are appended), and how often the calling thread reports
 * progress from inside a pass. */
#define CHUNK_ROWS 65536
#define PROGRESS_EVERY 4096

enum { STEP_HTML, STEP_NFKC, STEP_CONTROL, STEP_COLLAPSE, STEP_TRIM, N_STEPS };
static const char *const step_names[N_STEPS] = {"strip_html", "nfkc", "strip_control", "collapse_whitespace",
                                                "trim"};

enum {
    KEEP,
    DROP_EMPTY,
    DROP_TOO_SHORT,
    DROP_TOO_LONG,
    DROP_FEW_TOKENS,
    DROP_MANY_TOKENS,
    DROP_MISSING_LABEL,
    DROP_UNKNOWN_LABEL,
    N_REASONS
};
static const char *const reason_names[N_REASONS] = {
    "kept", "empty", "too_short", "too_long", "too_few_tokens", "too_many_tokens", "missing_label", "unknown_label"};

DM_API void dm_clean_options_default(dm_clean_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->nfkc = 1;
    opts->strip_control = 1;
    opts->strip_html = 1;
    opts->collapse_whitespace = 1;
    opts->trim = 1;
    opts->min_chars = 1;
    opts->drop_missing_labels = 1;
}

/* ------------------------------------------------------------ UTF-8 bits */

/* Room for CAP bytes from the start of O, whatever it held before (the
 * steps below overwrite a buffer from its start; its bytes are kept). Out of
 * memory sets the message on this thread: clean_chunk carries it back. */
static bool room(dmi_buf *o, size_t cap)
{
    o->len = 0;
    return dmi_buf_reserve(o, cap);
}

static bool all_ascii(const char *s, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++) acc |= (unsigned char)s[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* The code point at S[*I] (invalid bytes read as U+FFFD); advances *I. */
static inline uint32_t next_cp(const char *s, size_t n, size_t *i)
{
    uint32_t cp;
    size_t bad = 1;
    size_t k = dmi_utf8_decode((const uint8_t *)s + *i, n - *i, &cp, &bad);
    if (k == 0) {
        *i += bad ? bad : 1;
        return 0xFFFD;
    }
    *i += k;
    return cp;
}

static size_t count_code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Unicode's White_Space property. */
static inline bool is_space(uint32_t cp)
{
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Whitespace at S[*I]: advances *I past it and returns true; else leaves *I.
 * Only lead bytes C2, E1, E2 and E3 can start non-ASCII whitespace. */
static inline bool take_space(const char *s, size_t n, size_t *i)
{
    unsigned char b = (unsigned char)s[*i];
    if (b < 0x80) {
        if (b == ' ' || (b >= 0x09 && b <= 0x0D)) {
            (*i)++;
            return true;
        }
        return false;
    }
    if (b != 0xC2 && (b < 0xE1 || b > 0xE3)) return false;
    size_t j = *i;
    if (!is_space(next_cp(s, n, &j))) return false;
    *i = j;
    return true;
}

/* Invalid UTF-8 (only possible in datasets built in memory by code that
 * bypassed the loaders' checks) is read as U+FFFD per maximal subpart, the
 * way the loaders' DM_UTF8_REPLACE does, before any step runs. */
static bool replace_invalid(const char *s, size_t n, dmi_buf *o)
{
    if (!room(o, 3 * n + 1)) return false;
    char *d = o->data;
    for (size_t i = 0; i < n;) d += dmi_utf8_encode(next_cp(s, n, &i), d);
    o->len = (size_t)(d - o->data);
    *d = '\0';
    return true;
}

/* ------------------------------------------------------------------ HTML */

/* What a piece of markup turns into. */
enum { MARKUP_NONE, MARKUP_NOTHING, MARKUP_SPACE };

/* Scan state of one text, so that no search runs over the text twice
 * (stray '<' without '>' would otherwise make the scan quadratic). */
typedef struct html_scan {
    size_t gt_from, gt_at; /* the first '>' at or after gt_from is at gt_at (n: none) */
    bool no_comment_end, no_script_end, no_style_end;
} html_scan;

static size_t find_gt(const char *s, size_t n, size_t from, html_scan *h)
{
    if (from < h->gt_from || h->gt_at < from) {
        const char *q = from < n ? memchr(s + from, '>', n - from) : NULL;
        h->gt_at = q ? (size_t)(q - s) : n;
        h->gt_from = from;
    }
    return h->gt_at;
}

static inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
static inline char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* Whether S[0..N) starts with the lowercase word W, in any case. */
static bool starts_ci(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (n < k) return false;
    for (size_t i = 0; i < k; i++)
        if (lower(s[i]) != w[i]) return false;
    return true;
}

/* The '<' of the first "</NAME" (any case, NAME not followed by a letter or
 * digit) at or after FROM, or N. */
static size_t find_end_tag(const char *s, size_t n, size_t from, const char *name)
{
    size_t k = strlen(name);
    while (from < n) {
        const char *q = memchr(s + from, '<', n - from);
        if (!q) return n;
        size_t p = (size_t)(q - s);
        if (p + 1 < n && s[p + 1] == '/' && starts_ci(s + p + 2, n - p - 2, name) &&
            (p + 2 + k == n || !is_alnum(s[p + 2 + k])))
            return p;
        from = p + 1;
    }
    return n;
}

/* Phrasing (inline) elements: their tags vanish without a space, so that
 * "<b>bold</b>er" stays one word; every other tag (br, p, div, li, td, img,
 * unknown ones) becomes a space so that words on both sides do not glue. */
static bool is_inline_tag(const char *name, size_t len)
{
    static const char *const inline_tags[] = {
        "a",   "abbr", "acronym", "b",    "bdi",  "bdo",    "big",    "cite", "code", "data", "del",
        "dfn", "em",   "font",    "i",    "ins",  "kbd",    "label",  "mark", "nobr", "q",    "rp",
        "rt",  "ruby", "s",       "samp", "small", "span",  "strike", "strong", "sub", "sup", "time",
        "tt",  "u",    "var",     "wbr"};
    char low[16];
    if (len >= sizeof low) return false;
    for (size_t i = 0; i < len; i++) low[i] = lower(name[i]);
    low[len] = '\0';
    for (size_t i = 0; i < sizeof inline_tags / sizeof inline_tags[0]; i++)
        if (strcmp(low, inline_tags[i]) == 0) return true;
    return false;
}

/* Markup starting at S[I] == '<': its kind and *END (one past it). Text that
 * only looks like markup but never closes ("a < b", "<3", "<!-- no end") is
 * MARKUP_NONE and stays as it is. A tag ends at its first '>' (a '>' inside a
 * quoted attribute value ends it early: rare in text data, and keeps the
 * scan linear). A <script> or <style> element goes whole, up to its end
 * tag; without an end tag only the start tag goes. */
static int parse_markup(const char *s, size_t n, size_t i, html_scan *h, size_t *end)
{
    size_t j = i + 1;
    if (j >= n) return MARKUP_NONE;
    if (s[j] == '!' && j + 2 < n && s[j + 1] == '-' && s[j + 2] == '-') {
        if (h->no_comment_end) return MARKUP_NONE;
        const char *e = memmem(s + j + 3, n - j - 3, "-->", 3);
        if (!e) {
            h->no_comment_end = true;
            return MARKUP_NONE;
        }
        *end = (size_t)(e - s) + 3;
        return MARKUP_NOTHING;
    }
    if (s[j] == '!' || s[j] == '?') { /* <!DOCTYPE ...>, <?xml ...?> */
        size_t gt = find_gt(s, n, j, h);
        if (gt == n) return MARKUP_NONE;
        *end = gt + 1;
        return MARKUP_NOTHING;
    }
    bool closing = s[j] == '/';
    size_t k = closing ? j + 1 : j;
    if (k >= n || !is_alpha(s[k])) return MARKUP_NONE;
    size_t name = k;
    while (k < n && (is_alnum(s[k]) || s[k] == '-' || s[k] == ':')) k++;
    size_t name_len = k - name;
    if (k < n && s[k] != '>' && s[k] != '/' && s[k] != ' ' && s[k] != '\t' && s[k] != '\n' && s[k] != '\r' &&
        s[k] != '\f')
        return MARKUP_NONE;
    size_t gt = find_gt(s, n, k, h);
    if (gt == n) return MARKUP_NONE;
    *end = gt + 1;
    if (!closing && s[gt - 1] != '/') {
        bool script = name_len == 6 && starts_ci(s + name, name_len, "script");
        bool style = name_len == 5 && starts_ci(s + name, name_len, "style");
        bool *none = script ? &h->no_script_end : &h->no_style_end;
        if ((script || style) && !*none) {
            size_t close = find_end_tag(s, n, *end, script ? "script" : "style");
            if (close == n) *none = true;
            else {
                size_t gt2 = find_gt(s, n, close + 2, h);
                *end = gt2 < n ? gt2 + 1 : n;
                return MARKUP_SPACE;
            }
        }
    }
    return is_inline_tag(s + name, name_len) ? MARKUP_NOTHING : MARKUP_SPACE;
}

/* A numeric character reference's value as browsers (and Python's
 * html.unescape) read it: 0, surrogates and values past U+10FFFF are
 * U+FFFD; 0x80-0x9F are the Windows-1252 characters they stand for in
 * practice (&#146; is a right quote). */
static uint32_t charref_value(uint32_t v)
{
    static const uint16_t cp1252[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                        0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0xFFFD;
    if (v >= 0x80 && v <= 0x9F) return cp1252[v - 0x80];
    return v;
}

/* An entity at S[I] == '&': *CP and *END when it is one. Named entities
 * (HTML 4's, from libxml2) need their ';' (so "AT&T" or "&copy2" stay text);
 * numeric ones may lack it, as browsers accept. */
static bool parse_entity(const char *s, size_t n, size_t i, uint32_t *cp, size_t *end)
{
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        j++;
        bool hex = j < n && (s[j] == 'x' || s[j] == 'X');
        if (hex) j++;
        size_t start = j;
        uint32_t v = 0;
        for (; j < n; j++) {
            char c = s[j];
            uint32_t d;
            if (is_digit(c)) d = (uint32_t)(c - '0');
            else if (hex && lower(c) >= 'a' && lower(c) <= 'f') d = (uint32_t)(lower(c) - 'a' + 10);
            else break;
            if (v <= 0x10FFFF) v = v * (hex ? 16 : 10) + d; /* saturates past the range, no overflow */
        }
        if (j == start) return false;
        if (j < n && s[j] == ';') j++;
        *cp = charref_value(v);
        *end = j;
        return true;
    }
    size_t k = j;
    while (k < n && k - j < 32 && is_alnum(s[k])) k++;
    if (k == j || k >= n || s[k] != ';') return false;
    char name[33];
    memcpy(name, s + j, k - j);
    name[k - j] = '\0';
    const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
    if (!e) return false;
    *cp = e->value;
    *end = k + 1;
    return true;
}

/* Returns 1 when the text changed (result in O), 0 when not, -1 out of
 * memory. The output is never longer than the input: markup shrinks to at
 * most one byte and every entity is longer than its UTF-8. */
static int step_html(const char *s, size_t n, dmi_buf *o)
{
    const char *lt = memchr(s, '<', n), *amp = memchr(s, '&', n);
    if (!lt && !amp) return 0;
    size_t first = !lt ? (size_t)(amp - s) : !amp ? (size_t)(lt - s) : (size_t)((lt < amp ? lt : amp) - s);
    if (!room(o, n + 1)) return -1;
    memcpy(o->data, s, first);
    char *d = o->data + first;
    html_scan h = {0};
    for (size_t i = first; i < n;) {
        char c = s[i];
        size_t end;
        if (c == '<') {
            int kind = parse_markup(s, n, i, &h, &end);
            if (kind != MARKUP_NONE) {
                if (kind == MARKUP_SPACE) *d++ = ' ';
                i = end;
                continue;
            }
        } else if (c == '&') {
            uint32_t cp;
            if (parse_entity(s, n, i, &cp, &end)) {
                d += dmi_utf8_encode(cp, d);
                i = end;
                continue;
            }
        }
        *d++ = c;
        i++;
    }
    o->len = (size_t)(d - o->data);
    *d = '\0';
    return o->len != n || memcmp(o->data, s, n) != 0;
}

/* ------------------------------------------------------------------ NFKC */

#define NFKC_OPTIONS ((utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT))

/* Whether NFKC leaves CP as it is and nothing can compose with it as the
 * second of a pair: no decomposition, no combining class, not a mark (every
 * character that composes with the one before it is a mark, has a combining
 * class, or is a Hangul jamo). Checked against utf8proc over every code
 * point (see test_clean.c). */
static inline bool nfkc_inert(uint32_t cp, const utf8proc_property_t *p)
{
    if (cp >= 0x4E00 && cp <= 0x9FFF) return true; /* CJK unified ideographs */
    if (cp >= 0x1100 && cp <= 0x11FF) return false;
    return p->decomp_seqindex == UINT16_MAX && p->combining_class == 0 && p->category != UTF8PROC_CATEGORY_MN &&
           p->category != UTF8PROC_CATEGORY_MC && p->category != UTF8PROC_CATEGORY_ME;
}

static inline const utf8proc_property_t *prop(uint32_t cp)
{
    return utf8proc_get_property((utf8proc_int32_t)cp);
}

/* NFKC one code point at a time, the fast way for the usual case (fullwidth
 * punctuation in Chinese text, ligatures, U+3000, ...): each code point is
 * either inert or decomposes into inert ones (and is itself no mark), so no
 * composition or reordering can happen and NFKC is the concatenation of the
 * decompositions. Returns 1 (changed, result in O), 0 (unchanged), -1 (out
 * of memory) or 2: some code point needs the full algorithm. */
static int nfkc_simple(const char *s, size_t n, dmi_buf *o)
{
    size_t first = 0; /* up to the first code point that is not inert, nothing to write */
    while (first < n) {
        if ((unsigned char)s[first] < 0x80) {
            first++;
            continue;
        }
        size_t i = first;
        uint32_t cp = next_cp(s, n, &i);
        if (!nfkc_inert(cp, prop(cp))) break;
        first = i;
    }
    if (first == n) return 0;
    if (!room(o, n + 1)) return -1;
    memcpy(o->data, s, first);
    char *d = o->data + first;
    size_t cap = o->cap;
    bool changed = false;
    for (size_t i = first; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            *d++ = s[i++];
            continue;
        }
        size_t at = i;
        uint32_t cp = next_cp(s, n, &i);
        const utf8proc_property_t *p = prop(cp);
        if (nfkc_inert(cp, p)) {
            memcpy(d, s + at, i - at);
            d += i - at;
            continue;
        }
        if (p->combining_class != 0 || p->category == UTF8PROC_CATEGORY_MN || p->category == UTF8PROC_CATEGORY_MC ||
            p->category == UTF8PROC_CATEGORY_ME || (cp >= 0x1100 && cp <= 0x11FF))
            return 2;
        utf8proc_int32_t dec[32];
        int boundclass = UTF8PROC_BOUNDCLASS_START;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)cp, dec, 32, NFKC_OPTIONS, &boundclass);
        if (k <= 0 || k > 32) return 2;
        size_t need = (size_t)(d - o->data) + 4 * (size_t)k + (n - i) + 1;
        if (need > cap) {
            size_t used = (size_t)(d - o->data);
            if (!room(o, need + n)) return -1;
            cap = o->cap, d = o->data + used;
        }
        for (utf8proc_ssize_t j = 0; j < k; j++) {
            uint32_t c = (uint32_t)dec[j];
            if (c >= 0x80 && !nfkc_inert(c, prop(c))) return 2;
            d += dmi_utf8_encode(c, d);
        }
        changed = true;
    }
    o->len = (size_t)(d - o->data);
    *d = '\0';
    return changed;
}

typedef struct worker {
    dmi_buf buf[2];
    utf8proc_int32_t *cps;
    size_t cps_cap; /* entries, one more allocated for utf8proc_reencode's NUL */
} worker;

static void worker_free(worker *w)
{
    dmi_buf_free(&w->buf[0]);
    dmi_buf_free(&w->buf[1]);
    free(w->cps);
}

/* NFKC: the simple way when it applies, else utf8proc_map without its
 * allocations: decompose into the thread's code point buffer, compose and
 * re-encode in place. */
static int step_nfkc(worker *w, const char *s, size_t n, dmi_buf *o)
{
    int r = nfkc_simple(s, n, o);
    if (r != 2) return r;
    utf8proc_ssize_t m;
    for (;;) {
        m = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, w->cps,
                               (utf8proc_ssize_t)w->cps_cap, NFKC_OPTIONS);
        if (m < 0) /* invalid UTF-8 was replaced before; cannot happen */
            return dmi_fail(DM_ERR_INTERNAL, "NFKC: %s", utf8proc_errmsg(m)), -1;
        if ((size_t)m <= w->cps_cap) break;
        utf8proc_int32_t *c = dmi_realloc(w->cps, ((size_t)m + 1) * sizeof *c);
        if (!c) return -1;
        w->cps = c, w->cps_cap = (size_t)m;
    }
    if (!w->cps) return 0; /* empty input: nothing to do */
    utf8proc_ssize_t bytes = utf8proc_reencode(w->cps, m, NFKC_OPTIONS);
    if (bytes < 0) return dmi_fail(DM_ERR_INTERNAL, "NFKC: %s", utf8proc_errmsg(bytes)), -1;
    if ((size_t)bytes == n && memcmp(w->cps, s, n) == 0) return 0;
    if (!room(o, (size_t)bytes + 1)) return -1;
    memcpy(o->data, w->cps, (size_t)bytes);
    o->len = (size_t)bytes;
    o->data[o->len] = '\0';
    return 1;
}

/* --------------------------------------------------- controls and spaces */

enum { CTRL_KEEP, CTRL_SPACE, CTRL_DROP };

/* What strip_control does with CP: the byte order mark and Cc go (the Cc
 * that are whitespace — TAB, LF, VT, FF, CR, NEL — become a space, so that
 * words do not glue), Cf goes, except what emoji sequences need: ZWJ and the
 * tag characters (variation selectors and the keycap are marks, never Cf,
 * and are listed only to make that plain). */
static inline int control_action(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp >= 0x09 && cp <= 0x0D) return CTRL_SPACE;
        return cp < 0x20 || cp == 0x7F ? CTRL_DROP : CTRL_KEEP;
    }
    if (cp == 0x85) return CTRL_SPACE;
    if (cp < 0xA0) return CTRL_DROP;
    if (cp == 0xFEFF) return CTRL_DROP;
    if (cp == 0x200D || cp == 0xFE0E || cp == 0xFE0F || cp == 0x20E3 || (cp >= 0xE0020 && cp <= 0xE007F))
        return CTRL_KEEP;
    if (cp >= 0x2070 && cp < 0xFEFF) return CTRL_KEEP; /* no Cf there but U+FEFF */
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CF ? CTRL_DROP : CTRL_KEEP;
}

static int step_control(const char *s, size_t n, bool ascii, dmi_buf *o)
{
    size_t i = 0, first = n;
    while (i < n) {
        size_t at = i;
        uint32_t cp = (unsigned char)s[i] < 0x80 ? (uint32_t)s[i++] : next_cp(s, n, &i);
        if (control_action(cp) != CTRL_KEEP) {
            first = at;
            break;
        }
        if (ascii) { /* the rest in one sweep */
            for (; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) break;
        }
    }
    if (first == n) return 0;
    if (!room(o, n + 1)) return -1;
    memcpy(o->data, s, first);
    char *d = o->data + first;
    for (i = first; i < n;) {
        size_t at = i;
        uint32_t cp = (unsigned char)s[i] < 0x80 ? (uint32_t)s[i++] : next_cp(s, n, &i);
        int a = control_action(cp);
        if (a == CTRL_SPACE) *d++ = ' ';
        else if (a == CTRL_KEEP) {
            memcpy(d, s + at, i - at);
            d += i - at;
        }
    }
    o->len = (size_t)(d - o->data);
    *d = '\0';
    return 1;
}

/* Every run of whitespace becomes one ASCII space. */
static int step_collapse(const char *s, size_t n, dmi_buf *o)
{
    size_t first = n;
    for (size_t i = 0; i < n;) {
        size_t at = i;
        if (take_space(s, n, &i)) {
            while (i < n && take_space(s, n, &i)) {}
            if (i - at != 1 || s[at] != ' ') {
                first = at;
                break;
            }
        } else i++;
    }
    if (first == n) return 0;
    if (!room(o, n + 1)) return -1;
    memcpy(o->data, s, first);
    char *d = o->data + first;
    for (size_t i = first; i < n;) {
        if (take_space(s, n, &i)) {
            while (i < n && take_space(s, n, &i)) {}
            *d++ = ' ';
        } else *d++ = s[i++];
    }
    o->len = (size_t)(d - o->data);
    *d = '\0';
    return 1;
}

static int step_trim(const char *s, size_t n, dmi_buf *o)
{
    size_t a = 0;
    while (a < n && take_space(s, n, &a)) {}
    size_t b = n;
    while (b > a) {
        size_t p = b - 1;
        while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        size_t q = p;
        if (!take_space(s, n, &q) || q != b) break;
        b = p;
    }
    if (a == 0 && b == n) return 0;
    if (!room(o, b - a + 1)) return -1;
    memcpy(o->data, s + a, b - a);
    o->len = b - a;
    o->data[o->len] = '\0';
    return 1;
}

/* -------------------------------------------------------------- one text */

/* Runs the steps ON over S. *OUT gets the result (S itself when nothing
 * changed, else one of W's buffers); bit STEP_x of *CHANGED is set for each
 * step that changed it. False when out of memory. */
static bool clean_text(worker *w, const bool on[N_STEPS], const char *s, size_t n, const char **out,
                       size_t *out_len, unsigned *changed)
{
    const char *cur = s;
    size_t len = n;
    int held = -1; /* which buffer holds CUR, -1: none */
    bool ascii = all_ascii(s, n);
    if (!ascii && dmi_utf8_invalid_at(s, n) < n) {
        if (!replace_invalid(s, n, &w->buf[0])) return false;
        cur = w->buf[0].data, len = w->buf[0].len, held = 0;
    }
    for (int step = 0; step < N_STEPS; step++) {
        if (!on[step]) continue;
        dmi_buf *o = &w->buf[held == 0 ? 1 : 0];
        int r;
        switch (step) {
        case STEP_HTML: r = step_html(cur, len, o); break;
        case STEP_NFKC: r = ascii ? 0 : step_nfkc(w, cur, len, o); break;
        case STEP_CONTROL: r = step_control(cur, len, ascii, o); break;
        case STEP_COLLAPSE: r = step_collapse(cur, len, o); break;
        default: r = step_trim(cur, len, o); break;
        }
        if (r < 0) return false;
        if (r == 0) continue;
        *changed |= 1u << step;
        cur = o->data, len = o->len, held = o == &w->buf[0] ? 0 : 1;
        if (step == STEP_HTML) ascii = all_ascii(cur, len); /* entities may add non-ASCII */
    }
    *out = cur;
    *out_len = len;
    return true;
}

/* --------------------------------------------------------------- options */

static dm_status check_flag(int v, const char *name)
{
    if (v == 0 || v == 1) return DM_OK;
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_clean_options.%s must be 0 or 1, got %d", name, v);
}

static dm_status resolve_options(const dm_dataset *ds, const dm_clean_options *in, dm_clean_options *o)
{
    dm_clean_options_default(o);
    if (in && dmi_copy_options(o, sizeof *o, in, "dm_clean_options")) return DM_ERR_INVALID_ARGUMENT;
    dm_status st = check_flag(o->nfkc, "nfkc");
    if (!st) st = check_flag(o->strip_control, "strip_control");
    if (!st) st = check_flag(o->strip_html, "strip_html");
    if (!st) st = check_flag(o->collapse_whitespace, "collapse_whitespace");
    if (!st) st = check_flag(o->trim, "trim");
    if (!st) st = check_flag(o->drop_missing_labels, "drop_missing_labels");
    if (st) return st;
    if (o->max_chars && o->max_chars < o->min_chars)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_clean_options: max_chars (%zu) is smaller than min_chars (%zu)",
                        o->max_chars, o->min_chars);
    if ((o->min_tokens || o->max_tokens) && !o->tokenizer)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_clean_options: min_tokens (%zu) or max_tokens (%zu) is set but tokenizer is NULL "
                        "(token counts need a tokenizer)",
                        o->min_tokens, o->max_tokens);
    if (o->max_tokens && o->max_tokens < o->min_tokens)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_clean_options: max_tokens (%zu) is smaller than min_tokens (%zu)", o->max_tokens,
                        o->min_tokens);
    if (o->n_allowed_labels && !o->allowed_labels)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_clean_options: n_allowed_labels is %zu but allowed_labels is NULL",
                        o->n_allowed_labels);
    if (o->allowed_labels && !o->n_allowed_labels)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_clean_options: allowed_labels is set but n_allowed_labels is 0 (that would drop every "
                        "labelled row; pass NULL to allow any label)");
    for (size_t i = 0; o->allowed_labels && i < o->n_allowed_labels; i++)
        if (!o->allowed_labels[i])
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_clean_options: allowed_labels[%zu] is NULL", i);
    if (o->allowed_labels && dmi_dataset_role_column(ds, DMI_ROLE_LABEL) < 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_clean_options: allowed_labels is set but the dataset has no label column");
    return DM_OK;
}

/* ------------------------------------------------------------- the rows */

typedef struct cleaner {
    const dm_dataset *ds;
    const dm_clean_options *o;
    bool on[N_STEPS];
    bool has_pair, has_labels;
    bool *allowed;    /* per label id, with allowed_labels */
    uint64_t changed[N_STEPS];
    uint64_t dropped[N_REASONS];
    struct drop {
        size_t row;
        int reason;
    } *drops;
    size_t n_drops, drops_cap;
} cleaner;

typedef struct row_result {
    char *text, *pair; /* cleaned copies; NULL: unchanged */
    size_t text_len, pair_len;
    unsigned changed;  /* bit per step that changed the text or the pair */
    int reason;
    dm_status status;
} row_result;

/* Token count of TEXT (+ PAIR) without special tokens. */
static dm_status count_tokens(const dm_tokenizer *tok, const char *t, size_t tl, const char *p, size_t pl,
                              size_t *count)
{
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    eo.add_special_tokens = 0;
    eo.invalid_utf8 = DM_UTF8_REPLACE;
    dm_encoding *enc = NULL;
    dm_status st = dm_tokenizer_encode(tok, t, tl, p, pl, &eo, &enc);
    if (st) return st;
    *count = enc->length;
    dm_encoding_free(enc);
    return DM_OK;
}

/* Why ROW (cleaned to T and P) is dropped, or KEEP. One reason per row, the
 * first that applies in the report's order. With a pair, each of text and
 * pair must pass the length limits (an empty pair makes the row "empty"),
 * and token limits apply to both together, as the model sees them. */
static int row_reason(const cleaner *c, size_t row, const char *t, size_t tl, const char *p, size_t pl,
                      dm_status *st)
{
    const dm_clean_options *o = c->o;
    size_t tc = count_code_points(t, tl), pc = c->has_pair ? count_code_points(p, pl) : SIZE_MAX;
    size_t shortest = tc < pc ? tc : pc, longest = c->has_pair && pc > tc ? pc : tc;
    if (o->min_chars >= 1 && shortest == 0) return DROP_EMPTY;
    if (shortest < o->min_chars) return DROP_TOO_SHORT;
    if (o->max_chars && longest > o->max_chars) return DROP_TOO_LONG;
    if (o->tokenizer && (o->min_tokens || o->max_tokens)) {
        size_t n = 0;
        *st = count_tokens(o->tokenizer, t, tl, c->has_pair ? p : NULL, pl, &n);
        if (*st) return KEEP;
        if (n < o->min_tokens) return DROP_FEW_TOKENS;
        if (o->max_tokens && n > o->max_tokens) return DROP_MANY_TOKENS;
    }
    int32_t label = dm_dataset_label(c->ds, row);
    if (o->drop_missing_labels && c->has_labels && label < 0) return DROP_MISSING_LABEL;
    if (c->allowed && label >= 0 && !c->allowed[label]) return DROP_UNKNOWN_LABEL;
    return KEEP;
}

/* Cleans ROW's text and pair into R (copies made only when they changed). */
static void clean_row(const cleaner *c, worker *w, size_t row, row_result *r)
{
    size_t tl = 0, pl = 0;
    const char *t = dm_dataset_text(c->ds, row, &tl);
    const char *p = c->has_pair ? dm_dataset_pair(c->ds, row, &pl) : NULL;
    const char *ct, *cp = p;
    size_t ctl, cpl = pl;
    *r = (row_result){0};
    r->status = DM_ERR_NO_MEMORY;
    if (!clean_text(w, c->on, t, tl, &ct, &ctl, &r->changed)) return;
    if (ct != t && !(r->text = dmi_strndup(ct, ctl))) return;
    r->text_len = ctl;
    if (r->text) ct = r->text;
    if (p) {
        if (!clean_text(w, c->on, p, pl, &cp, &cpl, &r->changed)) return;
        if (cp != p && !(r->pair = dmi_strndup(cp, cpl))) return;
        r->pair_len = cpl;
        if (r->pair) cp = r->pair;
    }
    r->status = DM_OK;
    r->reason = row_reason(c, row, ct, ctl, cp, cpl, &r->status);
}

static dm_status add_drop(cleaner *c, size_t row, int reason)
{
    if (!dmi_grow(&c->drops, &c->drops_cap, c->n_drops + 1, sizeof *c->drops)) return DM_ERR_NO_MEMORY;
    c->drops[c->n_drops++] = (struct drop){row, reason};
    c->dropped[reason]++;
    return DM_OK;
}

/* Progress of the whole call: the calling thread reports it, also from
 * inside a parallel pass (it is thread 0 of the team there). */
typedef struct progress {
    dm_progress_fn fn;
    void *user;
    uint64_t total, next;
    int cancelled;
} progress;

/* Cleans rows START .. START+M-1 in parallel into RES, then appends the kept
 * ones to OUT in row order. A failure is reported for the first failing row,
 * whatever thread met it, with the message set on that thread (jobs.h). */
static dm_status clean_chunk(cleaner *c, size_t start, size_t m, row_result *res, dm_dataset *out, progress *pr)
{
    dmi_job_error err;
    dmi_job_error_init(&err);
    uint64_t done = 0;
#pragma omp parallel if (m >= 256) /* small inputs: threads would cost more than they save */
    {
        worker w = {0};
#pragma omp for schedule(dynamic, 32)
        for (size_t k = 0; k < m; k++) {
            int stop;
#pragma omp atomic read
            stop = pr->cancelled;
            if (stop || dmi_job_error_before(&err, k)) continue;
            if (dmi_fault("clean", start + k)) res[k] = (row_result){.status = dmi_fault_fail("clean", start + k)};
            else clean_row(c, &w, start + k, &res[k]);
            if (res[k].status) dmi_job_error_set(&err, k, res[k].status);
            uint64_t d;
#pragma omp atomic capture
            d = ++done;
            if (pr->fn && omp_get_thread_num() == 0 && start + d >= pr->next) {
                pr->next = start + d + PROGRESS_EVERY;
                if (pr->fn(start + d, pr->total, pr->user)) {
#pragma omp atomic write
                    pr->cancelled = 1;
                }
            }
        }
        worker_free(&w);
    }
    size_t bad = dmi_job_error_index(&err);
    dm_status st = DM_OK;
    if (pr->cancelled)
        st = dmi_fail(DM_ERR_CANCELLED, "dm_dataset_clean: cancelled by the progress callback (%zu rows in all)",
                      (size_t)pr->total);
    else if (bad != SIZE_MAX)
        st = dmi_job_error_raise(&err, "dm_dataset_clean: row %zu (id %s)", start + bad,
                                 dm_dataset_id(c->ds, start + bad));
    dmi_job_error_destroy(&err);
    for (size_t k = 0; k < m && !st; k++) {
        row_result *r = &res[k];
        for (int s = 0; s < N_STEPS; s++) c->changed[s] += (r->changed >> s) & 1u;
        if (r->reason != KEEP) st = add_drop(c, start + k, r->reason);
        else st = dmi_derive_row(out, c->ds, start + k, r->text, r->text_len, r->pair, r->pair_len, NULL, NULL);
    }
    return st;
}

static void free_results(row_result *res, size_t m)
{
    for (size_t k = 0; k < m; k++) {
        free(res[k].text);
        free(res[k].pair);
        res[k].text = res[k].pair = NULL;
    }
}

/* ---------------------------------------------------------------- report */

static void report_drop(dmi_buf *b, bool *first, const char *id, size_t line, const char *prefix,
                        const char *reason)
{
    dmi_buf_puts(b, *first ? "{\"id\":" : ",{\"id\":");
    *first = false;
    if (id) dmi_buf_json_string(b, id, strlen(id));
    else dmi_buf_puts(b, "null");
    if (line) dmi_buf_printf(b, ",\"line\":%zu,\"reason\":", line);
    else dmi_buf_puts(b, ",\"line\":null,\"reason\":");
    if (prefix) {
        size_t pl = strlen(prefix), rl = strlen(reason);
        char *s = malloc(pl + rl + 1);
        if (!s) {
            b->failed = true;
            return;
        }
        memcpy(s, prefix, pl);
        memcpy(s + pl, reason, rl + 1);
        dmi_buf_json_string(b, s, pl + rl);
        free(s);
    } else dmi_buf_json_string(b, reason, strlen(reason));
    dmi_buf_puts(b, "}");
}

/* rows_in counts the rows skipped on load too, so that rows_in minus every
 * dropped count is rows_out. dropped_rows is in file order: skipped rows
 * merged by line with the rows dropped here. */
static dm_status build_report(const cleaner *c, size_t rows_out, char **json)
{
    const dm_dataset *ds = c->ds;
    size_t skipped = dm_dataset_skipped(ds);
    dmi_buf b = {0};
    dmi_buf_printf(&b, "{\"rows_in\":%zu,\"rows_out\":%zu,\"steps\":[", dm_dataset_size(ds) + skipped, rows_out);
    bool first = true;
    for (int s = 0; s < N_STEPS; s++)
        if (c->on[s]) {
            dmi_buf_printf(&b, "%s\"%s\"", first ? "" : ",", step_names[s]);
            first = false;
        }
    static const int changed_order[N_STEPS] = {STEP_NFKC, STEP_CONTROL, STEP_HTML, STEP_COLLAPSE, STEP_TRIM};
    dmi_buf_puts(&b, "],\"changed\":{");
    for (int k = 0; k < N_STEPS; k++)
        dmi_buf_printf(&b, "%s\"%s\":%llu", k ? "," : "", step_names[changed_order[k]],
                       (unsigned long long)c->changed[changed_order[k]]);
    dmi_buf_puts(&b, "},\"dropped\":{");
    for (int r = 1; r < N_REASONS; r++)
        dmi_buf_printf(&b, "%s\"%s\":%llu", r > 1 ? "," : "", reason_names[r], (unsigned long long)c->dropped[r]);
    dmi_buf_printf(&b, ",\"skipped_on_load\":%zu},\"dropped_rows\":[", skipped);
    first = true;
    size_t si = 0, di = 0;
    while (si < skipped || di < c->n_drops) {
        size_t sline = 0, dline = 0;
        const char *sreason = NULL;
        if (si < skipped && dm_dataset_skipped_row(ds, si, &sline, &sreason)) sreason = "unknown";
        if (di < c->n_drops) dline = dmi_dataset_row_line(ds, c->drops[di].row);
        if (si < skipped && (di == c->n_drops || sline < dline)) {
            report_drop(&b, &first, NULL, sline, "skipped_on_load: ", sreason ? sreason : "unknown");
            si++;
        } else {
            size_t row = c->drops[di].row;
            report_drop(&b, &first, dm_dataset_id(ds, row), dline, NULL, reason_names[c->drops[di].reason]);
            di++;
        }
    }
    dmi_buf_puts(&b, "]}");
    return dmi_buf_finish(&b, json, NULL);
}

/* --------------------------------------------------------------- the API */

static dm_status make_allowed(cleaner *c)
{
    const dm_clean_options *o = c->o;
    if (!o->allowed_labels) return DM_OK;
    size_t n = dm_dataset_num_labels(c->ds);
    c->allowed = dmi_calloc(n ? n : 1, sizeof *c->allowed);
    if (!c->allowed) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < o->n_allowed_labels; i++) {
        int32_t id = dm_dataset_label_id(c->ds, o->allowed_labels[i]);
        if (id >= 0) c->allowed[id] = true; /* a name the data lacks allows nothing, harmlessly */
    }
    return DM_OK;
}

DM_API dm_status dm_dataset_clean(const dm_dataset *ds, const dm_clean_options *opts, dm_dataset **out,
                                  char **report_json)
{
    if (!ds || !out)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_clean: %s is NULL", !ds ? "ds" : "out");
    dm_clean_options o;
    dm_status st = resolve_options(ds, opts, &o);
    if (st) return st;
    cleaner c = {.ds = ds, .o = &o};
    c.on[STEP_HTML] = o.strip_html, c.on[STEP_NFKC] = o.nfkc, c.on[STEP_CONTROL] = o.strip_control;
    c.on[STEP_COLLAPSE] = o.collapse_whitespace, c.on[STEP_TRIM] = o.trim;
    c.has_pair = dmi_dataset_role_column(ds, DMI_ROLE_PAIR) >= 0;
    c.has_labels = dmi_dataset_role_column(ds, DMI_ROLE_LABEL) >= 0;
    size_t n = dm_dataset_size(ds);
    row_result *res = dmi_calloc(n < CHUNK_ROWS ? (n ? n : 1) : CHUNK_ROWS, sizeof *res);
    dm_dataset *d = NULL;
    st = res ? make_allowed(&c) : DM_ERR_NO_MEMORY;
    if (!st) st = dmi_derive_begin(ds, 0, NULL, &d);
    progress pr = {.fn = o.progress, .user = o.progress_user, .total = n, .next = PROGRESS_EVERY};
    for (size_t start = 0; start < n && !st; start += CHUNK_ROWS) {
        size_t m = n - start < CHUNK_ROWS ? n - start : CHUNK_ROWS;
        st = clean_chunk(&c, start, m, res, d, &pr);
        free_results(res, m);
        if (!st && pr.fn && pr.fn(start + m, n, pr.user))
            st = dmi_fail(DM_ERR_CANCELLED, "dm_dataset_clean: cancelled by the progress callback after %zu of %zu rows",
                          start + m, n);
    }
    char *json = NULL;
    if (!st && report_json) st = build_report(&c, dm_dataset_size(d), &json);
    free(res);
    free(c.allowed);
    free(c.drops);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    if (report_json) *report_json = json;
    return DM_OK;
}
