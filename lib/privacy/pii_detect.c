/*
 * pii_detect.c — the dm_pii handle, its options, user recognisers (patterns
 * and deny-lists), context words, overlap resolution and dm_pii_detect.
 *
 * Patterns run on PCRE2 (UTF and Unicode properties on, JIT compiled once in
 * dm_pii_create / dm_pii_add_pattern). Detection validates the UTF-8 itself
 * and then matches with PCRE2_NO_UTF_CHECK; it allocates its own match data,
 * so one configured handle serves many threads at once. Each recogniser scans
 * the whole text; a one-pass prefilter (dmi_text_facts) skips those that
 * cannot match (no '@': no e-mail; fewer than 8 digits: no phone; ...).
 *
 * With invalid_utf8 = DM_UTF8_REPLACE, detection runs on a copy in which
 * every byte of an invalid sequence is '?': the same length, so offsets are
 * offsets into the caller's text.
 *
 * Overlaps: candidates scoring at least min_score are ranked by score, then
 * length, then position (then recogniser order: built-ins in the order of
 * recognizers.c, then user recognisers as added) and taken greedily when
 * they overlap none taken before.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "datamodel.h"
#include "pii_impl.h"
#include "recognizers.h"
#include "../core/buf.h"
#include "../core/utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_BYTES 50     /* how far before an entity context words count */
#define CONTEXT_BOOST 0.35
#define MAX_TYPE_NAME 64
#define DENY_CHUNK_BYTES 8192 /* escaped words per compiled deny-list pattern */

typedef struct recognizer {
    const char *type;            /* interned: static or det->user_types */
    char *label;                 /* owned: the user's pattern, or "deny-list" */
    pcre2_code *code;
    bool jit;
    const dmi_builtin *builtin;  /* NULL for user recognisers */
    dm_pii_validator_fn validator;
    void *validator_user;
    double score;                /* user recognisers */
    uint32_t needs;              /* DMI_NEED_* facts the text must have */
    const char **ctx;            /* context words: lower-case ASCII or CJK */
    size_t n_ctx;
    char **ctx_owned;            /* user context words (ctx points at them) */
    uint32_t ctx_first[8];       /* bitmap of the words' first bytes, both cases */
} recognizer;

struct dmi_pii_detector {
    recognizer *recs;
    size_t n_recs, cap_recs;
    char **user_types;
    size_t n_user_types;
    const char *enabled[16];      /* the built-in types on: what o.types points at */
    size_t n_enabled;
    pcre2_match_context *user_mctx; /* match_limit for user recognisers */
    uint32_t max_pairs;
    dmi_check_env env;
};

/* ---- small helpers */

static bool is_ascii_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

static size_t next_char(const char *t, size_t len, size_t p)
{
    p++;
    while (p < len && ((unsigned char)t[p] & 0xC0) == 0x80) p++;
    return p;
}

static const char *builtin_type_named(const char *type)
{
    for (size_t i = 0; i < dmi_n_builtin_types; i++)
        if (!strcmp(dmi_builtin_types[i], type)) return dmi_builtin_types[i];
    return NULL;
}

static void builtin_type_list(char *buf, size_t cap)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < dmi_n_builtin_types && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? ", " : "", dmi_builtin_types[i]);
}

bool dmi_pii_valid_type_name(const char *type)
{
    if (!type || !*type) return false;
    size_t n = 0;
    for (const char *p = type; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return n <= MAX_TYPE_NAME;
}

bool dmi_pii_knows_type(const dm_pii *pii, const char *type)
{
    if (!pii || !pii->det || !type) return false;
    for (size_t i = 0; i < pii->det->n_recs; i++)
        if (!strcmp(pii->det->recs[i].type, type)) return true;
    return false;
}

/* Whether the valid UTF-8 word W holds a CJK character. */
static bool has_cjk(const char *w)
{
    size_t n = strlen(w), p = 0, bad;
    uint32_t cp;
    while (p < n) {
        size_t k = dmi_utf8_decode((const uint8_t *)w + p, n - p, &cp, &bad);
        if (!k) return false;
        if (dmi_cjk_code_point(cp)) return true;
        p += k;
    }
    return false;
}

static dm_status check_score(const char *fn, double score)
{
    if (!(score > 0 && score <= 1))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: score is %g; expected a number in (0, 1]", fn, score);
    return DM_OK;
}

static dm_status check_word(const char *fn, const char *what, size_t i, const char *w)
{
    if (!w) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: %s[%zu] is NULL", fn, what, i);
    if (!*w) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: %s[%zu] is empty", fn, what, i);
    size_t n = strlen(w), bad = dmi_utf8_invalid_at(w, n);
    if (bad < n)
        return dmi_fail(DM_ERR_UTF8, "%s: %s[%zu] is not valid UTF-8 (byte offset %zu)", fn, what, i, bad);
    return DM_OK;
}

/* ---- recognisers */

static void recognizer_free(recognizer *r)
{
    pcre2_code_free(r->code);
    free(r->label);
    for (size_t i = 0; r->ctx_owned && i < r->n_ctx; i++) free(r->ctx_owned[i]);
    free(r->ctx_owned);
    free(r->ctx);
}

static void set_context_bitmap(recognizer *r)
{
    memset(r->ctx_first, 0, sizeof r->ctx_first);
    for (size_t i = 0; i < r->n_ctx; i++) {
        unsigned char c = (unsigned char)r->ctx[i][0];
        r->ctx_first[c >> 5] |= 1u << (c & 31);
        if (is_ascii_alpha(c)) {
            c ^= 0x20;
            r->ctx_first[c >> 5] |= 1u << (c & 31);
        }
    }
}

/* Compiles PATTERN into R (JIT when the platform has it). */
static dm_status compile(const char *fn, recognizer *r, const char *pattern, uint32_t flags, const char *what)
{
    int err;
    PCRE2_SIZE off;
    r->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | flags, &err, &off,
                            NULL);
    if (!r->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return dmi_fail(DM_ERR_PARSE, "%s: %s \"%.300s\" does not compile at offset %zu: %s", fn, what, pattern,
                        (size_t)off, (const char *)msg);
    }
    r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
    return DM_OK;
}

static dm_status push_recognizer(dmi_pii_detector *det, recognizer *r)
{
    if (!dmi_grow(&det->recs, &det->cap_recs, det->n_recs + 1, sizeof *det->recs)) return DM_ERR_NO_MEMORY;
    uint32_t pairs;
    pcre2_pattern_info(r->code, PCRE2_INFO_CAPTURECOUNT, &pairs);
    if (pairs + 1 > det->max_pairs) det->max_pairs = pairs + 1;
    det->recs[det->n_recs++] = *r;
    return DM_OK;
}

static dm_status add_builtin(dmi_pii_detector *det, const dmi_builtin *b)
{
    recognizer r = {0};
    r.type = b->type, r.builtin = b, r.needs = b->needs;
    size_t n = 0;
    while (b->context[n]) n++;
    r.ctx = dmi_malloc((n ? n : 1) * sizeof *r.ctx);
    if (!r.ctx) return DM_ERR_NO_MEMORY;
    memcpy(r.ctx, b->context, n * sizeof *r.ctx);
    r.n_ctx = n;
    set_context_bitmap(&r);
    dm_status st = compile("dm_pii_create", &r, b->pattern, 0, b->name);
    if (st) {
        recognizer_free(&r);
        return dmi_fail_prefix(DM_ERR_INTERNAL, "built-in recogniser");
    }
    st = push_recognizer(det, &r);
    if (st) recognizer_free(&r);
    return st;
}

/* The handle's copy of TYPE: a built-in name or an owned user name. */
static const char *intern_type(dmi_pii_detector *det, const char *type)
{
    const char *b = builtin_type_named(type);
    if (b) return b;
    for (size_t i = 0; i < det->n_user_types; i++)
        if (!strcmp(det->user_types[i], type)) return det->user_types[i];
    char **g = dmi_realloc(det->user_types, (det->n_user_types + 1) * sizeof *g);
    if (!g) return NULL;
    det->user_types = g;
    char *copy = dmi_strndup(type, strlen(type));
    if (!copy) return NULL;
    det->user_types[det->n_user_types++] = copy;
    return copy;
}

/* ---- options and the handle */

DM_API void dm_pii_options_default(dm_pii_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->types = NULL;
    opts->n_types = 0;
    opts->use_context = 1;
    opts->min_score = 0.4;
    opts->match_limit = 1000000;
    opts->invalid_utf8 = DM_UTF8_ERROR;
    opts->threads = 0;
}

static dm_status validate_options(const dm_pii_options *o)
{
    const char *fn = "dm_pii_create";
    if (!o->types && o->n_types)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_options.types is NULL but n_types is %zu", fn,
                        o->n_types);
    for (size_t i = 0; o->types && i < o->n_types; i++) {
        if (!o->types[i]) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_options.types[%zu] is NULL", fn, i);
        if (!builtin_type_named(o->types[i])) {
            char list[256];
            builtin_type_list(list, sizeof list);
            return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                            "%s: dm_pii_options.types[%zu] is \"%.80s\", not a built-in type; expected one of %s", fn,
                            i, o->types[i], list);
        }
    }
    if (o->use_context != 0 && o->use_context != 1)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_options.use_context is %d; expected 0 or 1", fn,
                        o->use_context);
    if (!(o->min_score >= 0 && o->min_score <= 1))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_options.min_score is %g; expected a number in [0, 1]",
                        fn, o->min_score);
    if (o->match_limit == 0 || o->match_limit > UINT32_MAX)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: dm_pii_options.match_limit is %llu; expected 1 to 4294967295", fn,
                        (unsigned long long)o->match_limit);
    if (o->invalid_utf8 == DM_UTF8_SKIP_ROW)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: dm_pii_options.invalid_utf8 is DM_UTF8_SKIP_ROW, which only datasets have; expected "
                        "DM_UTF8_ERROR or DM_UTF8_REPLACE",
                        fn);
    if (o->invalid_utf8 != DM_UTF8_ERROR && o->invalid_utf8 != DM_UTF8_REPLACE)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: dm_pii_options.invalid_utf8 is %d; expected DM_UTF8_ERROR or DM_UTF8_REPLACE", fn,
                        (int)o->invalid_utf8);
    if (o->threads < 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_options.threads is %d; expected 0 (all cores) or more",
                        fn, o->threads);
    return DM_OK;
}

static void detector_free(dmi_pii_detector *det)
{
    if (!det) return;
    for (size_t i = 0; i < det->n_recs; i++) recognizer_free(&det->recs[i]);
    free(det->recs);
    for (size_t i = 0; i < det->n_user_types; i++) free(det->user_types[i]);
    free(det->user_types);
    pcre2_match_context_free(det->user_mctx);
    free(det);
}

DM_API void dm_pii_free(dm_pii *pii)
{
    if (!pii) return;
    detector_free(pii->det);
    dmi_pii_ops_free(pii->ops);
    if (pii->lock_ready) pthread_rwlock_destroy(&pii->lock);
    free(pii);
}

void dmi_pii_use_begin(const dm_pii *pii) { pthread_rwlock_rdlock(&((dm_pii *)pii)->lock); }
void dmi_pii_use_end(const dm_pii *pii) { pthread_rwlock_unlock(&((dm_pii *)pii)->lock); }

dm_status dmi_pii_configure_begin(dm_pii *pii, const char *what)
{
    if (pthread_rwlock_trywrlock(&pii->lock) != 0)
        return dmi_fail(DM_ERR_BUSY, "%s: the handle is in use by another thread (detect, anonymize or decrypt): "
                        "configure it before sharing it", what);
    return DM_OK;
}

void dmi_pii_configure_end(dm_pii *pii) { pthread_rwlock_unlock(&pii->lock); }

DM_API dm_status dm_pii_create(const dm_pii_options *opts, dm_pii **out)
{
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_create: out is NULL");
    dm_pii_options o;
    dm_pii_options_default(&o);
    dm_status st;
    if (opts && (st = dmi_copy_options(&o, sizeof o, opts, "dm_pii_create: dm_pii_options"))) return st;
    if ((st = validate_options(&o))) return st;

    dm_pii *pii = dmi_calloc(1, sizeof *pii);
    if (!pii) return DM_ERR_NO_MEMORY;
    if (pthread_rwlock_init(&pii->lock, NULL) != 0) {
        free(pii);
        return dmi_fail(DM_ERR_INTERNAL, "dm_pii_create: cannot make the handle's lock");
    }
    pii->lock_ready = true;
    dmi_pii_detector *det = pii->det = dmi_calloc(1, sizeof *det);
    if (!det) {
        dm_pii_free(pii);
        return DM_ERR_NO_MEMORY;
    }
    /* the enabled built-in types, without repeats, in the built-in order */
    for (size_t t = 0; t < dmi_n_builtin_types; t++) {
        bool on = !o.types;
        for (size_t i = 0; o.types && i < o.n_types; i++) on = on || !strcmp(o.types[i], dmi_builtin_types[t]);
        if (on) det->enabled[det->n_enabled++] = dmi_builtin_types[t];
    }
    if (o.types) o.types = det->enabled, o.n_types = det->n_enabled;
    pii->o = o;
    det->env.today = dmi_today_yyyymmdd();
    det->max_pairs = 1;
    det->user_mctx = pcre2_match_context_create(NULL);
    if (!det->user_mctx) {
        dm_pii_free(pii);
        return dmi_fail(DM_ERR_NO_MEMORY, "dm_pii_create: out of memory");
    }
    pcre2_set_match_limit(det->user_mctx, (uint32_t)o.match_limit);
    pcre2_set_depth_limit(det->user_mctx, (uint32_t)o.match_limit);

    for (size_t b = 0; b < dmi_n_builtins; b++) {
        bool on = false;
        for (size_t i = 0; i < det->n_enabled; i++) on = on || det->enabled[i] == builtin_type_named(dmi_builtins[b].type);
        if (on && (st = add_builtin(det, &dmi_builtins[b]))) {
            dm_pii_free(pii);
            return st;
        }
    }
    if ((st = dmi_pii_ops_create(&pii->ops))) {
        dm_pii_free(pii);
        return st;
    }
    *out = pii;
    return DM_OK;
}

/* ---- user recognisers */

static dm_status set_user_context(recognizer *r, const char *fn, const char *const *context, size_t n)
{
    if (n && !context) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: context is NULL but n_context is %zu", fn, n);
    dm_status st;
    for (size_t i = 0; i < n; i++)
        if ((st = check_word(fn, "context", i, context[i]))) return st;
    r->ctx_owned = dmi_calloc(n ? n : 1, sizeof *r->ctx_owned);
    r->ctx = dmi_calloc(n ? n : 1, sizeof *r->ctx);
    if (!r->ctx_owned || !r->ctx) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        char *w = dmi_strndup(context[i], strlen(context[i]));
        if (!w) return DM_ERR_NO_MEMORY;
        for (char *p = w; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
        r->ctx_owned[i] = w;
        r->ctx[i] = w;
        r->n_ctx = i + 1;
    }
    set_context_bitmap(r);
    return DM_OK;
}

static dm_status add_pattern(dm_pii *pii, const char *type, const char *pattern, double score,
                                    dm_pii_validator_fn validator, void *user, const char *const *context,
                                    size_t n_context)
{
    const char *fn = "dm_pii_add_pattern";
    if (!pii || !pii->det) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: pii is NULL", fn);
    if (!type) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: type is NULL", fn);
    if (!pattern) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: pattern is NULL", fn);
    if (!dmi_pii_valid_type_name(type))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: type \"%.80s\" is not a type name: expected 1 to 64 capital letters, digits or '_'",
                        fn, type);
    dm_status st = check_score(fn, score);
    if (st) return st;
    if (!*pattern) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: pattern of type %s is empty", fn, type);

    dmi_pii_detector *det = pii->det;
    recognizer r = {0};
    r.validator = validator, r.validator_user = user, r.score = score;
    if ((st = set_user_context(&r, fn, context, n_context)) ||
        (st = compile(fn, &r, pattern, 0, "pattern")))
        goto fail;
    if (!(r.type = intern_type(det, type)) || !(r.label = dmi_strndup(pattern, strlen(pattern)))) {
        st = DM_ERR_NO_MEMORY;
        goto fail;
    }
    if ((st = push_recognizer(det, &r))) goto fail;
    return DM_OK;
fail:
    recognizer_free(&r);
    return st;
}

/* Appends WORD to BUF as a PCRE2 literal: ASCII punctuation escaped. */
static size_t escape_word(char *buf, const char *w)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)w; *p; p++) {
        bool alnum = (*p >= '0' && *p <= '9') || is_ascii_alpha(*p);
        if (*p < 0x80 && !alnum) {
            if (buf) buf[n] = '\\';
            n++;
        }
        if (buf) buf[n] = (char)*p;
        n++;
    }
    return n;
}

typedef struct deny_word {
    const char *w;
    size_t len;
    bool cjk;
} deny_word;

static int longest_first(const void *a, const void *b)
{
    const deny_word *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return strcmp(x->w, y->w);
}

/* A letter that is not CJK, a digit or '_': what makes a word go on. */
#define WORD_CHAR "(?:[^\\P{L}\\p{Han}\\p{Hiragana}\\p{Katakana}\\p{Hangul}]|[\\p{N}_])"

/* Compiles words W[0..N) into one recogniser: whole words case-insensitively,
 * CJK words anywhere. */
static dm_status add_deny_chunk(dmi_pii_detector *det, const char *type, const deny_word *w, size_t n, double score)
{
    size_t cap = 64 + 2 * sizeof WORD_CHAR;
    for (size_t i = 0; i < n; i++) cap += escape_word(NULL, w[i].w) + 1;
    char *pat = dmi_malloc(cap);
    if (!pat) return DM_ERR_NO_MEMORY;
    size_t at = 0, n_plain = 0, n_cjk = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].cjk) n_cjk++;
        else n_plain++;
    }
    at += (size_t)sprintf(pat + at, "(?:");
    if (n_plain) {
        at += (size_t)sprintf(pat + at, "(?<!" WORD_CHAR ")(?:");
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (w[i].cjk) continue;
            if (!first) pat[at++] = '|';
            first = false;
            at += escape_word(pat + at, w[i].w);
        }
        at += (size_t)sprintf(pat + at, ")(?!" WORD_CHAR ")");
    }
    if (n_cjk) {
        if (n_plain) pat[at++] = '|';
        bool first = true;
        for (size_t i = 0; i < n; i++) {
            if (!w[i].cjk) continue;
            if (!first) pat[at++] = '|';
            first = false;
            at += escape_word(pat + at, w[i].w);
        }
    }
    pat[at++] = ')';
    pat[at] = 0;

    recognizer r = {0};
    r.score = score;
    dm_status st = set_user_context(&r, "dm_pii_add_deny_list", NULL, 0);
    if (!st) st = compile("dm_pii_add_deny_list", &r, pat, PCRE2_CASELESS, "deny-list pattern");
    free(pat);
    if (!st && (!(r.type = intern_type(det, type)) || !(r.label = dmi_strndup("deny-list", 9))))
        st = DM_ERR_NO_MEMORY;
    if (!st) st = push_recognizer(det, &r);
    if (st) recognizer_free(&r);
    return st;
}

static dm_status add_deny_list(dm_pii *pii, const char *type, const char *const *words, size_t n, double score)
{
    const char *fn = "dm_pii_add_deny_list";
    if (!pii || !pii->det) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: pii is NULL", fn);
    if (!type) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: type is NULL", fn);
    if (!dmi_pii_valid_type_name(type))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: type \"%.80s\" is not a type name: expected 1 to 64 capital letters, digits or '_'",
                        fn, type);
    if (!words) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: words is NULL", fn);
    if (n == 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: n is 0: a deny-list needs at least one word", fn);
    dm_status st = check_score(fn, score);
    if (st) return st;
    for (size_t i = 0; i < n; i++)
        if ((st = check_word(fn, "words", i, words[i]))) return st;

    deny_word *w = dmi_malloc(n * sizeof *w);
    if (!w) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) w[i] = (deny_word){words[i], strlen(words[i]), has_cjk(words[i])};
    qsort(w, n, sizeof *w, longest_first);
    /* one pattern per chunk keeps each far below PCRE2's compiled size limit;
     * overlaps between chunks are resolved like any others (longer wins) */
    size_t from = 0, bytes = 0;
    for (size_t i = 0; i <= n && !st; i++) {
        size_t b = i < n ? escape_word(NULL, w[i].w) + 1 : 0;
        if (i == n || (bytes + b > DENY_CHUNK_BYTES && i > from)) {
            st = add_deny_chunk(pii->det, type, w + from, i - from, score);
            from = i, bytes = 0;
        }
        bytes += b;
    }
    free(w);
    return st;
}

/* ---- detection */

typedef struct cand {
    size_t start, end;
    double score;
    uint32_t rec;
} cand;

typedef struct cands {
    cand *v;
    size_t n, cap;
} cands;

static dm_status push_cand(cands *c, cand x)
{
    if (!dmi_grow(&c->v, &c->cap, c->n + 1, sizeof *c->v)) return DM_ERR_NO_MEMORY;
    c->v[c->n++] = x;
    return DM_OK;
}

static bool ascii_word_at(const char *t, size_t len, size_t p, const char *w, size_t wl)
{
    for (size_t k = 0; k < wl; k++) {
        unsigned char c = (unsigned char)t[p + k];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c != (unsigned char)w[k]) return false;
    }
    if (p > 0 && is_ascii_alpha((unsigned char)t[p - 1])) return false;
    if (p + wl < len && is_ascii_alpha((unsigned char)t[p + wl])) return false;
    return true;
}

/* Whether T[P..] ends a clause: ',', ';', '!', '?', a line break, ". ",
 * or the full-width "，", "；", "！", "？", "。". */
static size_t clause_end_len(const char *t, size_t end, size_t p)
{
    unsigned char c = (unsigned char)t[p];
    if (c == ',' || c == ';' || c == '!' || c == '?' || c == '\n' || c == '|') return 1;
    if (c == '.' && p + 1 < end && t[p + 1] == ' ') return 2;
    if (p + 3 <= end) {
        const unsigned char *u = (const unsigned char *)t + p;
        if (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x8C || u[2] == 0x9B || u[2] == 0x81 || u[2] == 0x9F)) return 3;
        if (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) return 3;
    }
    return 0;
}

/* Whether one of R's context words lies within CONTEXT_BYTES before START,
 * in the same clause (a word before a comma or a full stop belongs to
 * another entity: "call 415-555-2671, invoice 2023004512"). */
static bool context_before(const recognizer *r, const char *t, size_t len, size_t start)
{
    size_t from = start > CONTEXT_BYTES ? start - CONTEXT_BYTES : 0;
    while (from < start && ((unsigned char)t[from] & 0xC0) == 0x80) from++;
    for (size_t p = from; p < start; p++) {
        size_t k = clause_end_len(t, start, p);
        if (k) from = p + k;
    }
    for (size_t p = from; p < start; p++) {
        unsigned char c = (unsigned char)t[p];
        if (!(r->ctx_first[c >> 5] >> (c & 31) & 1)) continue;
        for (size_t i = 0; i < r->n_ctx; i++) {
            const char *w = r->ctx[i];
            size_t wl = strlen(w);
            if (p + wl > start) continue;
            /* ASCII words whole and in any case; others as they are */
            if ((unsigned char)w[0] < 0x80 ? ascii_word_at(t, len, p, w, wl) : memcmp(t + p, w, wl) == 0)
                return true;
        }
    }
    return false;
}

static int match_at(const dm_pii *pii, const recognizer *r, const char *t, size_t len, size_t pos,
                    pcre2_match_data *md)
{
    pcre2_match_context *mctx = r->builtin ? NULL : pii->det->user_mctx;
    int rc;
    if (r->jit) {
        rc = pcre2_jit_match(r->code, (PCRE2_SPTR)t, len, pos, 0, md, mctx);
        if (rc != PCRE2_ERROR_JIT_STACKLIMIT) return rc;
        /* a deep pattern: the interpreter keeps its backtracking on the heap */
    }
    return pcre2_match(r->code, (PCRE2_SPTR)t, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, mctx);
}

static dm_status match_error(const dm_pii *pii, const recognizer *r, int rc, size_t pos)
{
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
        rc == PCRE2_ERROR_JIT_STACKLIMIT)
        return dmi_fail(DM_ERR_RANGE,
                        "dm_pii_detect: the %s recogniser of type %s (\"%.200s\") exceeded match_limit %llu searching "
                        "from byte offset %zu (runaway backtracking): simplify the pattern or raise "
                        "dm_pii_options.match_limit",
                        r->builtin ? "built-in" : "user", r->type, r->builtin ? r->builtin->name : r->label,
                        (unsigned long long)pii->o.match_limit, pos);
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return dmi_fail(DM_ERR_INTERNAL, "dm_pii_detect: matching type %s at byte offset %zu failed: %s", r->type, pos,
                    (const char *)msg);
}

/* Finds R's entities in T and appends those scoring at least min_score. */
static dm_status scan(const dm_pii *pii, uint32_t ri, const char *t, size_t len, pcre2_match_data *md, cands *out)
{
    const recognizer *r = &pii->det->recs[ri];
    const dmi_check_env *env = &pii->det->env;
    size_t pos = 0;
    while (pos < len) {
        int rc = match_at(pii, r, t, len, pos, md);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return match_error(pii, r, rc, pos);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (s < pos) s = pos; /* \K in a lookbehind can report a start before the search */
        size_t next = next_char(t, len, s);
        dmi_hit hit = {s, e, r->score};
        bool found;
        if (e <= s) {
            found = false;
        } else if (r->builtin) {
            found = r->builtin->check(t, len, s, e, env, &hit, &next);
        } else {
            found = !r->validator || r->validator(t + s, e - s, r->validator_user);
        }
        if (found && hit.end > hit.start) {
            next = hit.end;
            if (pii->o.use_context && r->n_ctx && context_before(r, t, len, hit.start))
                hit.score = fmin(1.0, hit.score + CONTEXT_BOOST);
            hit.score = round(hit.score * 1e6) / 1e6;
            if (hit.score >= pii->o.min_score) {
                dm_status st = push_cand(out, (cand){hit.start, hit.end, hit.score, ri});
                if (st) return st;
            }
        }
        pos = next > s ? next : next_char(t, len, s);
    }
    return DM_OK;
}

static int by_start(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

/* Higher score, then longer, then earlier, then the recogniser added first. */
static int by_priority(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    size_t lx = x->end - x->start, ly = y->end - y->start;
    if (lx != ly) return lx > ly ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

/* Keeps the winners of every overlap, in order of start; returns how many. */
static dm_status resolve_overlaps(cands *c, size_t *kept)
{
    cand *v = c->v;
    size_t n = c->n, out = 0;
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) sorted = by_start(&v[i - 1], &v[i]) <= 0;
    if (!sorted) qsort(v, n, sizeof *v, by_start);
    cand *acc = NULL;
    size_t acc_cap = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1, end = v[i].end;
        while (j < n && v[j].start < end) {
            if (v[j].end > end) end = v[j].end;
            j++;
        }
        if (j == i + 1) {
            v[out++] = v[i++];
            continue;
        }
        /* a cluster of overlapping candidates: greedy by priority; ACC keeps
         * the taken ones sorted by start */
        if (j - i > acc_cap) {
            cand *g = dmi_realloc(acc, (j - i) * sizeof *g);
            if (!g) {
                free(acc);
                return DM_ERR_NO_MEMORY;
            }
            acc = g, acc_cap = j - i;
        }
        qsort(v + i, j - i, sizeof *v, by_priority);
        size_t na = 0;
        for (size_t k = i; k < j; k++) {
            size_t lo = 0, hi = na;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (acc[mid].start < v[k].start) lo = mid + 1;
                else hi = mid;
            }
            if (lo > 0 && acc[lo - 1].end > v[k].start) continue;
            if (lo < na && acc[lo].start < v[k].end) continue;
            memmove(acc + lo + 1, acc + lo, (na - lo) * sizeof *acc);
            acc[lo] = v[k];
            na++;
        }
        memcpy(v + out, acc, na * sizeof *acc);
        out += na;
        i = j;
    }
    free(acc);
    *kept = out;
    return DM_OK;
}

/* A copy of T with every byte of each invalid UTF-8 sequence turned to '?'. */
static char *repaired_copy(const char *t, size_t len, size_t bad)
{
    char *c = dmi_malloc(len ? len : 1);
    if (!c) return NULL;
    memcpy(c, t, len);
    size_t p = bad;
    while (p < len) {
        uint32_t cp;
        size_t bad_len = 1;
        size_t k = dmi_utf8_decode((const uint8_t *)c + p, len - p, &cp, &bad_len);
        if (k) {
            p += k;
            continue;
        }
        memset(c + p, '?', bad_len);
        p += bad_len;
    }
    return c;
}

dm_status dmi_pii_detect(const dm_pii *pii, const char *text, size_t len, dm_pii_entity **entities, size_t *n)
{
    const char *fn = "dm_pii_detect";
    if (!pii || !pii->det) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: pii is NULL", fn);
    if (!entities || !n) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: entities or n is NULL", fn);
    if (!text && len) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: text is NULL but len is %zu", fn, len);
    if (len == 0) {
        *entities = NULL, *n = 0;
        return DM_OK;
    }
    const char *t = text;
    char *copy = NULL;
    size_t bad = dmi_utf8_invalid_at(text, len);
    if (bad < len) {
        if (pii->o.invalid_utf8 != DM_UTF8_REPLACE)
            return dmi_fail(DM_ERR_UTF8, "%s: invalid UTF-8 at byte offset %zu", fn, bad);
        if (!(t = copy = repaired_copy(text, len, bad))) return DM_ERR_NO_MEMORY;
    }

    const dmi_pii_detector *det = pii->det;
    uint32_t facts = dmi_text_facts(t, len);
    pcre2_match_data *md = pcre2_match_data_create(det->max_pairs, NULL);
    cands c = {0};
    dm_status st = md ? DM_OK : dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory", fn);
    for (uint32_t ri = 0; ri < det->n_recs && !st; ri++) {
        const recognizer *r = &det->recs[ri];
        if (r->builtin && (facts & r->needs) != r->needs) continue;
        st = scan(pii, ri, t, len, md, &c);
    }
    pcre2_match_data_free(md);
    free(copy);
    size_t kept = 0;
    if (!st) st = resolve_overlaps(&c, &kept);
    dm_pii_entity *ents = NULL;
    if (!st && kept) {
        ents = dmi_malloc(kept * sizeof *ents);
        if (!ents) st = DM_ERR_NO_MEMORY;
        for (size_t i = 0; ents && i < kept; i++)
            ents[i] = (dm_pii_entity){det->recs[c.v[i].rec].type, c.v[i].start, c.v[i].end, c.v[i].score};
    }
    free(c.v);
    if (st) return st;
    *entities = ents, *n = kept;
    return DM_OK;
}

/* ------------------------------------------------------------------ the locked entry points */

DM_API dm_status dm_pii_add_pattern(dm_pii *pii, const char *type, const char *pattern, double score,
                                    dm_pii_validator_fn validator, void *user, const char *const *context,
                                    size_t n_context)
{
    if (!pii || !pii->det) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_add_pattern: pii is NULL");
    dm_status st = dmi_pii_configure_begin(pii, "dm_pii_add_pattern");
    if (st) return st;
    st = add_pattern(pii, type, pattern, score, validator, user, context, n_context);
    dmi_pii_configure_end(pii);
    return st;
}

DM_API dm_status dm_pii_add_deny_list(dm_pii *pii, const char *type, const char *const *words, size_t n, double score)
{
    if (!pii || !pii->det) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_add_deny_list: pii is NULL");
    dm_status st = dmi_pii_configure_begin(pii, "dm_pii_add_deny_list");
    if (st) return st;
    st = add_deny_list(pii, type, words, n, score);
    dmi_pii_configure_end(pii);
    return st;
}

DM_API dm_status dm_pii_detect(const dm_pii *pii, const char *text, size_t len, dm_pii_entity **entities, size_t *n)
{
    if (!pii || !pii->det) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_detect: pii is NULL");
    dmi_pii_use_begin(pii);
    dm_status st = dmi_pii_detect(pii, text, len, entities, n);
    dmi_pii_use_end(pii);
    return st;
}
