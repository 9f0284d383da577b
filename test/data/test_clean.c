/*
 * test_clean.c — dm_dataset_clean: every step against Python references
 * (fixtures/clean_cases.json, written by gen_clean_fixtures.py), HTML and
 * Unicode edge cases, every filter and its count, the report key by key,
 * rows skipped on load, pairs, label-less data, options validation,
 * progress and cancelling, thread-count independence, a write/reload round
 * trip, and the real data sets in $DATA (default SRCROOT/../shared/data;
 * skipped with a note when absent).
 */
#include "datamodel.h"
#include "data/dataset_internal.h"

#include "../unit/check.h"

#include <jansson.h>
#include <omp.h>
#include <utf8proc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dm_test_clean_XXXXXX";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *srcroot(void)
{
    const char *s = getenv("SRCROOT");
    return s && s[0] ? s : ".";
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

/* A dataset of N C strings (labels may be NULL). */
static dm_dataset *texts(size_t n, const char *const *t, const char *const *labels)
{
    dm_dataset *ds = NULL;
    dm_status st = dm_dataset_from_texts(n, t, NULL, NULL, NULL, labels, NULL, &ds);
    if (st) fprintf(stderr, "from_texts: %s\n", dm_last_error());
    return ds;
}

/* Options with every step off and no filter. */
static dm_clean_options bare(void)
{
    dm_clean_options o;
    dm_clean_options_default(&o);
    o.nfkc = o.strip_control = o.strip_html = o.collapse_whitespace = o.trim = 0;
    o.min_chars = 0;
    o.drop_missing_labels = 0;
    return o;
}

/* Cleans DS with O; the report parsed (NULL on failure). */
static json_t *clean(const dm_dataset *ds, const dm_clean_options *o, dm_dataset **out)
{
    char *report = NULL;
    *out = NULL;
    dm_status st = dm_dataset_clean(ds, o, out, &report);
    if (st) {
        fprintf(stderr, "dm_dataset_clean: %s: %s\n", dm_status_name(st), dm_last_error());
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loads(report, 0, &err);
    if (!j) fprintf(stderr, "report is not JSON (%s): %s\n", err.text, report);
    dm_free(report);
    return j;
}

static long long jint(json_t *obj, const char *path1, const char *path2)
{
    json_t *v = json_object_get(obj, path1);
    if (path2) v = json_object_get(v, path2);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* ----------------------------------------------------------------- options */

static void test_options(void)
{
    dm_clean_options o;
    memset(&o, 0x5A, sizeof o);
    dm_clean_options_default(&o);
    CHECK(o.struct_size == sizeof o);
    CHECK(o.nfkc == 1 && o.strip_control == 1 && o.strip_html == 1 && o.collapse_whitespace == 1 && o.trim == 1);
    CHECK(o.min_chars == 1 && o.max_chars == 0 && o.tokenizer == NULL && o.min_tokens == 0 && o.max_tokens == 0);
    CHECK(o.drop_missing_labels == 1 && o.allowed_labels == NULL && o.n_allowed_labels == 0);
    CHECK(o.progress == NULL && o.progress_user == NULL);
    dm_clean_options_default(NULL); /* no crash */

    const char *t[] = {"a", "b"};
    const char *l[] = {"x", "y"};
    dm_dataset *ds = texts(2, t, l), *nolab = texts(2, t, NULL), *out = (dm_dataset *)&o;
    char *rep = (char *)&o;
    CHECK_FAILS(dm_dataset_clean(NULL, NULL, &out, NULL), DM_ERR_INVALID_ARGUMENT, "ds is NULL");
    CHECK_FAILS(dm_dataset_clean(ds, NULL, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "out is NULL");
    o.struct_size = 0;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "struct_size is 0");
    dm_clean_options_default(&o);
    o.nfkc = 2;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "nfkc must be 0 or 1, got 2");
    dm_clean_options_default(&o);
    o.trim = -1;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "trim must be 0 or 1");
    dm_clean_options_default(&o);
    o.drop_missing_labels = 7;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "drop_missing_labels");
    dm_clean_options_default(&o);
    o.min_chars = 10, o.max_chars = 5;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT,
                "max_chars (5) is smaller than min_chars (10)");
    dm_clean_options_default(&o);
    o.min_tokens = 3;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "tokenizer is NULL");
    dm_clean_options_default(&o);
    o.max_tokens = 3;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "tokenizer is NULL");
    dm_clean_options_default(&o);
    o.tokenizer = (const dm_tokenizer *)ds; /* never used: validation fails first */
    o.min_tokens = 9, o.max_tokens = 4;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT,
                "max_tokens (4) is smaller than min_tokens (9)");
    dm_clean_options_default(&o);
    o.n_allowed_labels = 2;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "allowed_labels is NULL");
    const char *allowed[] = {"x", NULL};
    o.allowed_labels = allowed;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "allowed_labels[1] is NULL");
    o.n_allowed_labels = 0;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "n_allowed_labels is 0");
    o.n_allowed_labels = 1;
    CHECK_FAILS(dm_dataset_clean(nolab, &o, &out, &rep), DM_ERR_INVALID_ARGUMENT, "no label column");
    /* Out-parameters untouched on failure. */
    CHECK(out == (dm_dataset *)&o && rep == (char *)&o);
    /* A larger struct from a newer caller is accepted; NULL options are defaults. */
    struct {
        dm_clean_options o;
        char future[16];
    } big;
    memset(&big, 0, sizeof big);
    dm_clean_options_default(&big.o);
    big.o.struct_size = sizeof big;
    CHECK(dm_dataset_clean(ds, &big.o, &out, NULL) == DM_OK && dm_dataset_size(out) == 2);
    dm_dataset_free(out);
    CHECK(dm_dataset_clean(ds, NULL, &out, NULL) == DM_OK && dm_dataset_size(out) == 2);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    dm_dataset_free(nolab);
}

/* ------------------------------------------- steps against the references */

static void test_fixtures(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/test/data/fixtures/clean_cases.json", srcroot());
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    CHECK(doc != NULL);
    if (!doc) {
        fprintf(stderr, "%s: %s\n", path, err.text);
        return;
    }
    json_t *cases = json_object_get(doc, "cases");
    size_t n = json_array_size(cases);
    CHECK(n >= 30);
    const char **in = calloc(n, sizeof *in);
    size_t *lens = calloc(n, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(json_array_get(cases, i), "input");
        in[i] = json_string_value(v);
        lens[i] = json_string_length(v);
    }
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(n, in, lens, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    static const char *const configs[] = {"strip_html", "nfkc", "strip_control", "collapse_whitespace", "trim",
                                          "all"};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0] && ds; c++) {
        dm_clean_options o = bare();
        const char *k = configs[c];
        int all = !strcmp(k, "all");
        o.strip_html = all || !strcmp(k, "strip_html");
        o.nfkc = all || !strcmp(k, "nfkc");
        o.strip_control = all || !strcmp(k, "strip_control");
        o.collapse_whitespace = all || !strcmp(k, "collapse_whitespace");
        o.trim = all || !strcmp(k, "trim");
        dm_dataset *out;
        json_t *rep = clean(ds, &o, &out);
        CHECK(rep && out && dm_dataset_size(out) == n);
        long long want_changed = 0;
        for (size_t i = 0; out && i < n && i < dm_dataset_size(out); i++) {
            json_t *cs = json_array_get(cases, i);
            json_t *w = json_object_get(cs, k);
            const char *want = json_string_value(w);
            size_t wl = json_string_length(w), gl = 0;
            const char *got = dm_dataset_text(out, i, &gl);
            int ok = got && want && gl == wl && memcmp(got, want, wl) == 0;
            CHECK(ok);
            if (!ok)
                fprintf(stderr, "  case \"%s\", %s: got \"%.*s\", want \"%s\"\n",
                        json_string_value(json_object_get(cs, "name")), k, (int)gl, got ? got : "", want);
            want_changed += wl != lens[i] || memcmp(want, in[i], wl) != 0;
        }
        if (!all) CHECK(jint(rep, "changed", k) == want_changed);
        json_decref(rep);
        dm_dataset_free(out);
    }
    dm_dataset_free(ds);
    free(in);
    free(lens);
    json_decref(doc);
}

/* One text through the given steps (C strings in and out). */
static int cleans_to(const char *in, int html, int nfkc, int control, int collapse, int trim, const char *want)
{
    dm_dataset *ds = texts(1, &in, NULL), *out = NULL;
    dm_clean_options o = bare();
    o.strip_html = html, o.nfkc = nfkc, o.strip_control = control, o.collapse_whitespace = collapse,
    o.trim = trim;
    int ok = ds && dm_dataset_clean(ds, &o, &out, NULL) == DM_OK && text_is(out, 0, want);
    if (!ok && out) {
        size_t l = 0;
        const char *g = dm_dataset_text(out, 0, &l);
        fprintf(stderr, "  \"%s\" cleaned to \"%.*s\", want \"%s\"\n", in, (int)l, g, want);
    }
    dm_dataset_free(ds);
    dm_dataset_free(out);
    return ok;
}

#define HTML(in, want) cleans_to(in, 1, 0, 0, 0, 0, want)
#define ALL(in, want) cleans_to(in, 1, 1, 1, 1, 1, want)

static size_t put_cp(char *d, uint32_t cp)
{
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)d);
    return (size_t)n;
}

/* NFKC of every code point in two contexts ("e" CP U+0301: CP composing
 * with what precedes and with a following mark; U+AC00 CP "x": after a
 * Hangul LV syllable), against utf8proc_map itself: proves clean.c's fast
 * path (inert code points, per-code-point decompositions) exact. */
static void test_nfkc_exhaustive(void)
{
    size_t max = 2 * 0x31000, n = 0;
    char *arena = malloc(max * 12), *p = arena;
    const char **t = malloc(max * sizeof *t);
    size_t *lens = malloc(max * sizeof *lens);
    for (int ctx = 0; ctx < 2; ctx++)
        for (uint32_t cp = 1; cp < 0x30000 + 0x1000; cp++) {
            uint32_t c = cp < 0x30000 ? cp : 0xE0000 + (cp - 0x30000);
            if (c >= 0xD800 && c <= 0xDFFF) continue;
            t[n] = p;
            if (ctx == 0) {
                *p++ = 'e';
                p += put_cp(p, c);
                p += put_cp(p, 0x301);
            } else {
                p += put_cp(p, 0xAC00);
                p += put_cp(p, c);
                *p++ = 'x';
            }
            lens[n] = (size_t)(p - t[n]);
            n++;
        }
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dm_dataset_from_texts(n, t, lens, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    dm_clean_options o = bare();
    o.nfkc = 1;
    CHECK(ds && dm_dataset_clean(ds, &o, &out, NULL) == DM_OK && dm_dataset_size(out) == n);
    size_t bad = 0;
    for (size_t i = 0; out && i < n; i++) {
        utf8proc_uint8_t *want = NULL;
        utf8proc_ssize_t wl = utf8proc_map((const utf8proc_uint8_t *)t[i], (utf8proc_ssize_t)lens[i], &want,
                                           UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
        size_t gl;
        const char *got = dm_dataset_text(out, i, &gl);
        if (wl < 0 || (size_t)wl != gl || memcmp(got, want, gl) != 0) {
            if (bad++ < 5) fprintf(stderr, "  NFKC differs from utf8proc_map on row %zu\n", i);
        }
        free(want);
    }
    CHECK(bad == 0);
    printf("NFKC: %zu strings compared with utf8proc_map, %zu differ\n", n, bad);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    free(arena);
    free(t);
    free(lens);
}

/* strip_control over every code point ("a" CP "b"), against Unicode's
 * categories as utf8proc has them. */
static void test_control_exhaustive(void)
{
    size_t max = 0x110000, n = 0;
    char *arena = malloc(max * 7), *p = arena;
    const char **t = malloc(max * sizeof *t);
    size_t *lens = malloc(max * sizeof *lens);
    uint32_t *cps = malloc(max * sizeof *cps);
    for (uint32_t c = 1; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        if (c >= 0x30000 && c < 0xE0000) continue; /* unassigned planes: nothing new */
        t[n] = p;
        *p++ = 'a';
        p += put_cp(p, c);
        *p++ = 'b';
        lens[n] = (size_t)(p - t[n]);
        cps[n++] = c;
    }
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dm_dataset_from_texts(n, t, lens, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    dm_clean_options o = bare();
    o.strip_control = 1;
    CHECK(ds && dm_dataset_clean(ds, &o, &out, NULL) == DM_OK && dm_dataset_size(out) == n);
    size_t bad = 0, removed = 0;
    for (size_t i = 0; out && i < n; i++) {
        uint32_t c = cps[i];
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
        int space = c == 0x85 || (c >= 0x09 && c <= 0x0D);
        int drop = !space && (c == 0xFEFF || cat == UTF8PROC_CATEGORY_CC ||
                              (cat == UTF8PROC_CATEGORY_CF && c != 0x200D && !(c >= 0xE0020 && c <= 0xE007F)));
        const char *want = space ? "a b" : drop ? "ab" : t[i];
        size_t wl = space ? 3 : drop ? 2 : lens[i], gl;
        const char *got = dm_dataset_text(out, i, &gl);
        removed += drop;
        if (gl != wl || memcmp(got, want, wl) != 0) {
            if (bad++ < 5) fprintf(stderr, "  strip_control wrong for U+%04X\n", (unsigned)c);
        }
    }
    CHECK(bad == 0);
    CHECK(removed > 120); /* Cc but the 6 whitespace ones, Cf but ZWJ and the 96 tag characters */
    printf("strip_control: %zu of %zu code points removed\n", removed, n);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    free(arena);
    free(t);
    free(lens);
    free(cps);
}

static void test_html_edges(void)
{
    /* What only looks like markup stays. */
    CHECK(HTML("a <b and no end", "a <b and no end"));
    CHECK(HTML("I <3 you", "I <3 you"));
    CHECK(HTML("x<", "x<"));
    CHECK(HTML("<", "<"));
    CHECK(HTML("&", "&"));
    CHECK(HTML("a <!-- never closed", "a <!-- never closed"));
    CHECK(HTML("a<$>b", "a<$>b"));
    CHECK(HTML("1 < 2 > 0", "1 < 2 > 0"));
    /* Entities: named ones need ';', numeric ones may lack it; unknown stay. */
    CHECK(HTML("&copy2024 &copy;2024", "&copy2024 \xC2\xA9" "2024"));
    CHECK(HTML("&#65&#66;C", "ABC"));
    CHECK(HTML("&bogus; &AMP; &#; &#x; &#xZZ;", "&bogus; &AMP; &#; &#x; &#xZZ;"));
    CHECK(HTML("&#99999999999999999999;", "\xEF\xBF\xBD"));
    CHECK(HTML("&amp;lt;", "&lt;")); /* decoded once, not twice */
    CHECK(HTML("&#x1F468;&#x200D;&#x1F469;", "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9"));
    /* Tags. */
    CHECK(HTML("<b>bold</b>er <I>it</I>", "bolder it"));
    CHECK(HTML("a<br>b<BR/>c<hr />d", "a b c d"));
    CHECK(HTML("<td>1</td><td>2</td>", " 1  2 "));
    CHECK(HTML("<custom-tag attr=1>x</custom-tag>", " x "));
    CHECK(HTML("<?xml version=\"1.0\"?>x", "x"));
    CHECK(HTML("<script>no end tag and text", " no end tag and text"));
    CHECK(HTML("<script src=a.js/>kept", " kept")); /* self-closed: nothing to skip */
    CHECK(HTML("<style>a{}</style >b</style>c", " b c"));
    CHECK(HTML("<scripts>x</scripts>", " x "));
    CHECK(HTML("<script>a</scriptx>b</script>c", " c"));
    CHECK(HTML("x<!---->y<!-- a -- b -->z", "xyz"));
    /* Long runs of stray '<' (linear scan; this would crawl if quadratic). */
    size_t n = 200000;
    char *big = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) big[2 * i] = '<', big[2 * i + 1] = 'a';
    big[2 * n] = '\0';
    CHECK(HTML(big, big));
    for (size_t i = 0; i < n; i++) memcpy(big + 2 * i, i % 2 ? "<!" : "<s", 2);
    CHECK(HTML(big, big));
    free(big);
    /* Everything together. */
    CHECK(ALL("<p>Caf&eacute;&nbsp;&nbsp;<b>ﬁne</b>\xE2\x80\x8B!</p>\r\n<p>\xEF\xBC\xA1\xEF\xBC\xA2</p>",
              "Caf\xC3\xA9 fine! AB"));
    CHECK(ALL("\xEF\xBB\xBF  \t ", ""));
}

static void test_unicode_edges(void)
{
    /* Emoji sequences survive every step byte for byte. */
    static const char *emoji[] = {
        "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7", /* family ZWJ */
        "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5",                                         /* flag JP */
        "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",                                         /* skin tone */
        "#\xEF\xB8\x8F\xE2\x83\xA3",                                                /* keycap # */
        "\xF0\x9F\x8F\xB3\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F\x8C\x88",                 /* rainbow flag */
        "\xF0\x9F\x8F\xB4\xF3\xA0\x81\xA7\xF3\xA0\x81\xA2\xF3\xA0\x81\xB7\xF3\xA0\x81\xAC\xF3\xA0\x81\xB3"
        "\xF3\xA0\x81\xBF", /* Wales: tag characters */
    };
    for (size_t i = 0; i < sizeof emoji / sizeof emoji[0]; i++) CHECK(ALL(emoji[i], emoji[i]));
    /* Removed: BOM anywhere, ZWSP, soft hyphen, bidi marks, other Cf; kept: ZWJ. */
    CHECK(cleans_to("a\xEF\xBB\xBF" "b\xE2\x80\x8B" "c\xC2\xAD" "d\xE2\x80\x8E" "e\xE2\x80\x8D" "f", 0, 0, 1, 0, 0,
                    "abcde\xE2\x80\x8D" "f"));
    /* Whitespace controls become spaces (words do not glue), others vanish. */
    CHECK(cleans_to("a\tb\nc\rd\x0B" "e\x0C" "f\x01g\x7Fh\xC2\x85i\xC2\x9Fj", 0, 0, 1, 0, 0, "a b c d e fgh ij"));
    /* NFKC: fullwidth, ligatures, compatibility, composition; CJK untouched. */
    CHECK(cleans_to("\xEF\xBC\xA8\xEF\xBD\x89\xEF\xBC\x81", 0, 1, 0, 0, 0, "Hi!"));
    CHECK(cleans_to("\xEF\xAC\x81\xEF\xAC\x82", 0, 1, 0, 0, 0, "fifl"));
    CHECK(cleans_to("e\xCC\x81", 0, 1, 0, 0, 0, "\xC3\xA9"));
    CHECK(cleans_to("\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95", 0, 1, 1, 1, 1,
                    "\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95"));
    /* Hangul jamo compose (the quick check must not pass them by). */
    CHECK(cleans_to("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", 0, 1, 0, 0, 0, "\xED\x95\x9C"));
    /* A long expansion (U+FDFA is 18 code points under NFKC). */
    CHECK(cleans_to("\xEF\xB7\xBA", 0, 1, 0, 0, 0,
                    "\xD8\xB5\xD9\x84\xD9\x89 \xD8\xA7\xD9\x84\xD9\x84\xD9\x87 \xD8\xB9\xD9\x84\xD9\x8A\xD9\x87 "
                    "\xD9\x88\xD8\xB3\xD9\x84\xD9\x85"));
    /* Whitespace: collapse without trim keeps one space at the ends. */
    CHECK(cleans_to(" \xE3\x80\x80" "a\xC2\xA0\xE2\x80\x83" "b \t", 0, 0, 0, 1, 0, " a b "));
    CHECK(cleans_to("\xE2\x80\x83 a  b\xC2\xA0", 0, 0, 0, 0, 1, "a  b"));
    CHECK(cleans_to("a b", 0, 0, 0, 1, 1, "a b"));
    /* Invalid UTF-8 can only come from a dataset changed behind the loaders'
     * back: it is read as U+FFFD before cleaning. */
    const char *t = "ab\xC3\xA9" "cd";
    dm_dataset *ds = texts(1, &t, NULL), *out = NULL;
    char *p = (char *)dm_dataset_text(ds, 0, NULL);
    p[2] = (char)0xFF; /* "ab" FF A9 "cd" */
    dm_clean_options o;
    dm_clean_options_default(&o);
    CHECK(dm_dataset_clean(ds, &o, &out, NULL) == DM_OK && text_is(out, 0, "ab\xEF\xBF\xBD\xEF\xBF\xBD" "cd"));
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

/* ----------------------------------------------------------------- filters */

static const char *drop_reason(json_t *rep, size_t k, const char **id, long long *line)
{
    json_t *d = json_array_get(json_object_get(rep, "dropped_rows"), k);
    json_t *jid = json_object_get(d, "id"), *jl = json_object_get(d, "line");
    *id = json_is_string(jid) ? json_string_value(jid) : NULL;
    *line = json_is_integer(jl) ? (long long)json_integer_value(jl) : json_is_null(jl) ? 0 : -1;
    return json_string_value(json_object_get(d, "reason"));
}

/* A vocabulary for token counts: BERT defaults (lowercase, [UNK]). */
static dm_tokenizer *small_tokenizer(void)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\n!\n";
    dm_tokenizer *tok = NULL;
    if (dm_tokenizer_load_vocab(vocab, sizeof vocab - 1, NULL, &tok)) fprintf(stderr, "%s\n", dm_last_error());
    return tok;
}

static void test_filters(void)
{
    static const char *t[] = {
        "the cat sat",            /* 1 kept */
        "  <br> \xE2\x80\x8B ",   /* 2 empty after cleaning */
        "ab",                     /* 3 too short (min 3) */
        "the cat sat on the mat and then some more", /* 4 too long (max 30) */
        "cat",                    /* 5 one token: too few (min 2) */
        "the cat sat on the mat", /* 6 six tokens: too many (max 5) */
        "the mat",                /* 7 no label */
        "the cat",                /* 8 label "spam": not allowed */
        "THE CAT!",               /* 9 kept (3 tokens) */
        "",                       /* 10 empty */
    };
    static const char *l[] = {"pos", "pos", "neg", "neg", "pos", "neg", NULL, "spam", "neg", "pos"};
    dm_dataset *ds = texts(10, t, l), *out = NULL;
    dm_tokenizer *tok = small_tokenizer();
    CHECK(ds && tok);
    dm_clean_options o;
    dm_clean_options_default(&o);
    o.min_chars = 3, o.max_chars = 30;
    o.tokenizer = tok, o.min_tokens = 2, o.max_tokens = 5;
    const char *allowed[] = {"pos", "neg", "neutral"}; /* "neutral" is not in the data: harmless */
    o.allowed_labels = allowed, o.n_allowed_labels = 3;
    json_t *rep = clean(ds, &o, &out);
    CHECK(rep && out);
    if (!rep || !out) goto done;
    CHECK(dm_dataset_size(out) == 2 && text_is(out, 0, "the cat sat") && text_is(out, 1, "THE CAT!"));
    CHECK(strcmp(dm_dataset_id(out, 0), "1") == 0 && strcmp(dm_dataset_id(out, 1), "9") == 0);
    CHECK(strcmp(dm_dataset_label_name(out, dm_dataset_label(out, 1)), "neg") == 0);
    CHECK(dm_dataset_num_labels(out) == dm_dataset_num_labels(ds)); /* the label set is kept whole */
    CHECK(jint(rep, "rows_in", NULL) == 10 && jint(rep, "rows_out", NULL) == 2);
    CHECK(jint(rep, "dropped", "empty") == 2 && jint(rep, "dropped", "too_short") == 1);
    CHECK(jint(rep, "dropped", "too_long") == 1 && jint(rep, "dropped", "too_few_tokens") == 1);
    CHECK(jint(rep, "dropped", "too_many_tokens") == 1 && jint(rep, "dropped", "missing_label") == 1);
    CHECK(jint(rep, "dropped", "unknown_label") == 1 && jint(rep, "dropped", "skipped_on_load") == 0);
    CHECK(jint(rep, "changed", "strip_html") == 1 && jint(rep, "changed", "strip_control") == 1);
    CHECK(jint(rep, "changed", "collapse_whitespace") == 1 && jint(rep, "changed", "trim") == 1);
    CHECK(jint(rep, "changed", "nfkc") == 0);
    static const struct {
        const char *id, *reason;
    } want[] = {{"2", "empty"},          {"3", "too_short"},       {"4", "too_long"},
                {"5", "too_few_tokens"}, {"6", "too_many_tokens"}, {"7", "missing_label"},
                {"8", "unknown_label"},  {"10", "empty"}};
    CHECK(json_array_size(json_object_get(rep, "dropped_rows")) == 8);
    for (size_t k = 0; k < 8; k++) {
        const char *id;
        long long line;
        const char *r = drop_reason(rep, k, &id, &line);
        CHECK(r && !strcmp(r, want[k].reason) && id && !strcmp(id, want[k].id) && line == 0);
    }
    json_decref(rep);
    dm_dataset_free(out);

    /* min_chars 0 keeps empty texts; drop_missing_labels 0 keeps the unlabelled. */
    dm_clean_options_default(&o);
    o.min_chars = 0, o.drop_missing_labels = 0;
    rep = clean(ds, &o, &out);
    CHECK(rep && out && dm_dataset_size(out) == 10 && text_is(out, 1, "") && dm_dataset_label(out, 6) == -1);
    CHECK(jint(rep, "rows_out", NULL) == 10 && json_array_size(json_object_get(rep, "dropped_rows")) == 0);
    json_decref(rep);
    dm_dataset_free(out);
    /* A tokenizer without token limits is not used (and no error). */
    dm_clean_options_default(&o);
    o.tokenizer = tok;
    rep = clean(ds, &o, &out);
    CHECK(rep && out && dm_dataset_size(out) == 7); /* 2 empty, 1 missing label */
    json_decref(rep);
    dm_dataset_free(out);
done:
    dm_tokenizer_free(tok);
    dm_dataset_free(ds);
}

/* Datasets without labels: nothing is "missing". */
static void test_no_labels(void)
{
    static const char *t[] = {"one", "", "three"};
    dm_dataset *ds = texts(3, t, NULL), *out = NULL;
    json_t *rep = clean(ds, NULL, &out);
    CHECK(rep && out && dm_dataset_size(out) == 2 && text_is(out, 1, "three"));
    CHECK(out && strcmp(dm_dataset_id(out, 1), "3") == 0 && dm_dataset_label(out, 0) == -1);
    CHECK(jint(rep, "dropped", "missing_label") == 0 && jint(rep, "dropped", "empty") == 1);
    json_decref(rep);
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

static void test_pairs(void)
{
    static const char *t[] = {"<b>Q1</b>", "q2", "q3", "q4"};
    static const char *p[] = {"\xEF\xBC\xA1nswer\t one", "", "  ", "fine"};
    static const char *l[] = {"1", "0", "1", "0"};
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dm_dataset_from_texts(4, t, NULL, p, NULL, l, NULL, &ds) == DM_OK);
    dm_tokenizer *tok = small_tokenizer();
    dm_clean_options o;
    dm_clean_options_default(&o);
    json_t *rep = clean(ds, &o, &out);
    CHECK(rep && out && dm_dataset_size(out) == 2);
    CHECK(out && text_is(out, 0, "Q1") && pair_is(out, 0, "Answer one") && text_is(out, 1, "q4") &&
          pair_is(out, 1, "fine"));
    CHECK(jint(rep, "dropped", "empty") == 2 && jint(rep, "changed", "nfkc") == 1);
    CHECK(jint(rep, "changed", "strip_html") == 1 && jint(rep, "changed", "strip_control") == 1);
    json_decref(rep);
    dm_dataset_free(out);
    /* Token limits count text and pair together ("the cat" + "sat on" = 4). */
    static const char *t2[] = {"the cat", "the"};
    static const char *p2[] = {"sat on", "cat"};
    dm_dataset *ds2 = NULL;
    CHECK(dm_dataset_from_texts(2, t2, NULL, p2, NULL, NULL, NULL, &ds2) == DM_OK);
    o.tokenizer = tok, o.min_tokens = 3, o.max_tokens = 4;
    rep = clean(ds2, &o, &out);
    CHECK(rep && out && dm_dataset_size(out) == 1 && text_is(out, 0, "the cat"));
    CHECK(jint(rep, "dropped", "too_few_tokens") == 1);
    /* max_chars applies to each of text and pair. */
    dm_dataset_free(out);
    json_decref(rep);
    dm_clean_options_default(&o);
    o.max_chars = 5;
    rep = clean(ds2, &o, &out);
    CHECK(rep && out && dm_dataset_size(out) == 1 && text_is(out, 0, "the"));
    CHECK(jint(rep, "dropped", "too_long") == 1);
    json_decref(rep);
    dm_dataset_free(out);
    dm_dataset_free(ds2);
    dm_dataset_free(ds);
    dm_tokenizer_free(tok);
}

/* No rows; JSONL with ids, a null pair and a missing label. */
static void test_small_inputs(void)
{
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dm_dataset_from_texts(0, NULL, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    json_t *rep = ds ? clean(ds, NULL, &out) : NULL;
    CHECK(rep && out && dm_dataset_size(out) == 0 && jint(rep, "rows_in", NULL) == 0);
    CHECK(json_array_size(json_object_get(rep, "dropped_rows")) == 0);
    json_decref(rep);
    dm_dataset_free(out);
    dm_dataset_free(ds);

    static const char jsonl[] = "{\"id\":\"q1\",\"text\":\"Is it?\",\"pair\":\"Yes\\u3000it is\",\"label\":\"1\"}\n"
                                "{\"id\":\"q\\\"2\",\"text\":\"No pair\",\"pair\":null,\"label\":\"0\"}\n"
                                "{\"id\":\"q3\",\"text\":\"No label\",\"pair\":\"p\",\"label\":null}\n";
    dm_dataset_options lo;
    dm_dataset_options_default(&lo);
    lo.pair_column = "pair";
    CHECK(dmi_dataset_load_memory(jsonl, sizeof jsonl - 1, DM_FORMAT_JSONL, &lo, "t.jsonl", &ds) == DM_OK);
    rep = ds ? clean(ds, NULL, &out) : NULL;
    CHECK(rep && out && dm_dataset_size(out) == 1 && pair_is(out, 0, "Yes it is"));
    CHECK(out && !strcmp(dm_dataset_id(out, 0), "q1"));
    const char *id;
    long long line;
    const char *r = drop_reason(rep, 0, &id, &line);
    CHECK(r && !strcmp(r, "empty") && id && !strcmp(id, "q\"2") && line == 2);
    r = drop_reason(rep, 1, &id, &line);
    CHECK(r && !strcmp(r, "missing_label") && id && !strcmp(id, "q3") && line == 3);
    json_decref(rep);
    dm_dataset_free(out);
    /* Kept, the null pair stays null (nothing to clean in it). */
    dm_clean_options o;
    dm_clean_options_default(&o);
    o.min_chars = 0, o.drop_missing_labels = 0;
    rep = clean(ds, &o, &out);
    bool missing = false;
    size_t pc = dmi_dataset_num_columns(out);
    for (size_t c = 0; out && c < pc; c++)
        if (!strcmp(dmi_dataset_column_name(out, c), "pair")) dmi_dataset_cell(out, 1, c, NULL, &missing);
    CHECK(rep && out && dm_dataset_size(out) == 3 && missing);
    json_decref(rep);
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

/* ------------------------------------------------ report, skips, progress */

static void test_report_keys(void)
{
    static const char *t[] = {"x"};
    dm_dataset *ds = texts(1, t, NULL), *out = NULL;
    dm_clean_options o;
    dm_clean_options_default(&o);
    o.nfkc = 0;
    json_t *rep = clean(ds, &o, &out);
    CHECK(rep && json_is_object(rep));
    static const char *top[] = {"rows_in", "rows_out", "steps", "changed", "dropped", "dropped_rows"};
    CHECK(json_object_size(rep) == 6);
    for (size_t i = 0; i < 6; i++) CHECK(json_object_get(rep, top[i]) != NULL);
    static const char *changed[] = {"nfkc", "strip_control", "strip_html", "collapse_whitespace", "trim"};
    json_t *c = json_object_get(rep, "changed");
    CHECK(json_object_size(c) == 5);
    for (size_t i = 0; i < 5; i++) CHECK(json_is_integer(json_object_get(c, changed[i])));
    static const char *dropped[] = {"empty",         "too_short",     "too_long",       "too_few_tokens",
                                    "too_many_tokens", "missing_label", "unknown_label", "skipped_on_load"};
    json_t *d = json_object_get(rep, "dropped");
    CHECK(json_object_size(d) == 8);
    for (size_t i = 0; i < 8; i++) CHECK(json_is_integer(json_object_get(d, dropped[i])));
    json_t *steps = json_object_get(rep, "steps");
    CHECK(json_array_size(steps) == 4);
    static const char *on[] = {"strip_html", "strip_control", "collapse_whitespace", "trim"};
    for (size_t i = 0; i < 4; i++) CHECK(!strcmp(json_string_value(json_array_get(steps, i)), on[i]));
    CHECK(json_is_array(json_object_get(rep, "dropped_rows")));
    json_decref(rep);
    dm_dataset_free(out);
    /* No report asked: fine. */
    CHECK(dm_dataset_clean(ds, NULL, &out, NULL) == DM_OK && dm_dataset_size(out) == 1);
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

/* Rows skipped on load appear in dropped_rows in file order, merged by line
 * with the rows dropped by cleaning; ids of a file's id column are kept. */
static void test_skipped_rows(void)
{
    static const char csv[] = "id,text,label\n"       /* line 1 */
                              "a1,good one,pos\n"     /* 2 */
                              "a2,bad,row,extra\n"    /* 3: skipped */
                              "a3,\"  \",neg\n"       /* 4: empty */
                              "a4,\"multi\nline\",neg\n" /* 5-6 */
                              "a5,x\xFFy,pos\n"       /* 7: skipped (invalid UTF-8) */
                              "a6,,pos\n";            /* 8: empty */
    dm_dataset_options lo;
    dm_dataset_options_default(&lo);
    lo.bad_rows = DM_BAD_ROWS_SKIP;
    lo.invalid_utf8 = DM_UTF8_SKIP_ROW;
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dmi_dataset_load_memory(csv, sizeof csv - 1, DM_FORMAT_CSV, &lo, "t.csv", &ds) == DM_OK);
    if (!ds) {
        fprintf(stderr, "%s\n", dm_last_error());
        return;
    }
    CHECK(dm_dataset_size(ds) == 4 && dm_dataset_skipped(ds) == 2);
    json_t *rep = clean(ds, NULL, &out);
    CHECK(rep && out && dm_dataset_size(out) == 2);
    CHECK(out && text_is(out, 1, "multi line") && strcmp(dm_dataset_id(out, 1), "a4") == 0);
    CHECK(jint(rep, "rows_in", NULL) == 6 && jint(rep, "rows_out", NULL) == 2);
    CHECK(jint(rep, "dropped", "skipped_on_load") == 2 && jint(rep, "dropped", "empty") == 2);
    static const struct {
        const char *id;
        long long line;
        const char *reason;
    } want[] = {{NULL, 3, "skipped_on_load: wrong number of fields"},
                {"a3", 4, "empty"},
                {NULL, 7, "skipped_on_load: "},
                {"a6", 8, "empty"}};
    CHECK(json_array_size(json_object_get(rep, "dropped_rows")) == 4);
    for (size_t k = 0; k < 4; k++) {
        const char *id;
        long long line;
        const char *r = drop_reason(rep, k, &id, &line);
        CHECK(r && !strncmp(r, want[k].reason, strlen(want[k].reason)) && line == want[k].line);
        CHECK(want[k].id ? id && !strcmp(id, want[k].id) : id == NULL);
        CHECK(json_is_null(json_object_get(json_array_get(json_object_get(rep, "dropped_rows"), k), "id")) ==
              !want[k].id);
    }
    json_decref(rep);
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

typedef struct {
    int calls, cancel_at;
    uint64_t last_done, last_total;
} progress_state;

static int on_progress(uint64_t done, uint64_t total, void *user)
{
    progress_state *p = user;
    p->calls++;
    p->last_done = done, p->last_total = total;
    return p->cancel_at && p->calls >= p->cancel_at;
}

static void test_progress(void)
{
    size_t n = 20000;
    const char **t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = i % 3 ? "text  here" : "<i>x</i>";
    dm_dataset *ds = texts(n, t, NULL), *out = (dm_dataset *)t;
    progress_state ps = {0};
    dm_clean_options o;
    dm_clean_options_default(&o);
    o.progress = on_progress, o.progress_user = &ps;
    CHECK(dm_dataset_clean(ds, &o, &out, NULL) == DM_OK && dm_dataset_size(out) == n);
    CHECK(ps.calls >= 1 && ps.last_done == n && ps.last_total == n);
    dm_dataset_free(out);
    /* On one thread, every 4096 rows and at the end (with more threads the
     * calling thread reports when it finishes a row past the mark, so how
     * often depends on scheduling). */
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ps = (progress_state){0};
    CHECK(dm_dataset_clean(ds, &o, &out, NULL) == DM_OK && dm_dataset_size(out) == n);
    CHECK(ps.calls == 5 && ps.last_done == n && ps.last_total == n);
    if (ps.calls != 5) fprintf(stderr, "  progress: %d calls\n", ps.calls);
    omp_set_num_threads(saved);
    dm_dataset_free(out);
    ps = (progress_state){.cancel_at = 1};
    out = (dm_dataset *)t;
    char *rep = (char *)t;
    CHECK_FAILS(dm_dataset_clean(ds, &o, &out, &rep), DM_ERR_CANCELLED, "cancelled");
    CHECK(ps.calls == 1 && out == (dm_dataset *)t && rep == (char *)t);
    dm_dataset_free(ds);
    free(t);
}

/* The same bytes on 1 thread and on all. */
static void test_threads(void)
{
    size_t n = 30000;
    const char **t = malloc(n * sizeof *t);
    static const char *pool[] = {"<p>a&amp;b</p>", "\xEF\xBC\xA1\xEF\xBC\xA2  c", "", "x", "plain text",
                                 "\xE4\xB8\xAD\xEF\xBC\x8C\xE6\x96\x87"};
    for (size_t i = 0; i < n; i++) t[i] = pool[(i * 7 + i / 5) % 6];
    dm_dataset *ds = texts(n, t, NULL), *a = NULL, *b = NULL;
    char *ra = NULL, *rb = NULL;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(dm_dataset_clean(ds, NULL, &a, &ra) == DM_OK);
    omp_set_num_threads(saved > 1 ? saved : 4);
    CHECK(dm_dataset_clean(ds, NULL, &b, &rb) == DM_OK);
    omp_set_num_threads(saved);
    CHECK(ra && rb && strcmp(ra, rb) == 0);
    int same = a && b && dm_dataset_size(a) == dm_dataset_size(b);
    for (size_t i = 0; same && i < dm_dataset_size(a); i++) {
        size_t la, lb;
        const char *x = dm_dataset_text(a, i, &la), *y = dm_dataset_text(b, i, &lb);
        same = la == lb && memcmp(x, y, la) == 0 && strcmp(dm_dataset_id(a, i), dm_dataset_id(b, i)) == 0;
    }
    CHECK(same);
    dm_free(ra);
    dm_free(rb);
    dm_dataset_free(a);
    dm_dataset_free(b);
    dm_dataset_free(ds);
    free(t);
}

/* load -> clean -> write -> reload gives the cleaned rows back. */
static void test_round_trip(void)
{
    static const char csv[] = "text,label,note\n"
                              "\"<p>Hello,&nbsp;world</p>\",pos,n1\n"
                              "\"  \",neg,n2\n"
                              "\"line\r\nbreak \xEF\xBC\xA1\",neg,n3\n"
                              "\"quote \"\"x\"\"\",pos,n4\n";
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dmi_dataset_load_memory(csv, sizeof csv - 1, DM_FORMAT_CSV, NULL, "rt.csv", &ds) == DM_OK);
    CHECK(ds && dm_dataset_clean(ds, NULL, &out, NULL) == DM_OK);
    if (!out) {
        dm_dataset_free(ds);
        return;
    }
    static const char *fmts[] = {"rt.csv", "rt.tsv", "rt.jsonl"};
    for (size_t f = 0; f < 3; f++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", tmpdir, fmts[f]);
        CHECK(dm_dataset_write(out, path, DM_FORMAT_AUTO) == DM_OK);
        dm_dataset *back = NULL;
        CHECK(dm_dataset_load(path, NULL, &back) == DM_OK);
        int same = back && dm_dataset_size(back) == 3 && dm_dataset_size(out) == 3;
        for (size_t i = 0; same && i < 3; i++) {
            size_t la, lb;
            const char *x = dm_dataset_text(out, i, &la), *y = dm_dataset_text(back, i, &lb);
            same = la == lb && memcmp(x, y, la) == 0 && !strcmp(dm_dataset_id(out, i), dm_dataset_id(back, i)) &&
                   !strcmp(dm_dataset_label_name(out, dm_dataset_label(out, i)),
                           dm_dataset_label_name(back, dm_dataset_label(back, i)));
        }
        CHECK(same);
        CHECK(back && text_is(back, 0, "Hello, world") && text_is(back, 1, "line break A") &&
              text_is(back, 2, "quote \"x\""));
        CHECK(back && !strcmp(dm_dataset_id(back, 1), "3")); /* the source row number travelled */
        dm_dataset_free(back);
        unlink(path);
    }
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

/* -------------------------------------------------------------- real data */

static void clean_real(const char *dir, const char *rel, const char *label_column)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (access(path, R_OK) != 0) {
        printf("note: %s not found, skipped\n", path);
        return;
    }
    dm_dataset_options lo;
    dm_dataset_options_default(&lo);
    lo.label_column = label_column;
    dm_dataset *ds = NULL, *out = NULL;
    CHECK(dm_dataset_load(path, &lo, &ds) == DM_OK);
    if (!ds) return;
    double t0 = now();
    json_t *rep = clean(ds, NULL, &out);
    double dt = now() - t0;
    CHECK(rep && out);
    if (rep && out) {
        json_t *d = json_object_get(rep, "dropped"), *c = json_object_get(rep, "changed");
        long long sum = 0;
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) sum += json_integer_value(v);
        CHECK(jint(rep, "rows_in", NULL) - sum == jint(rep, "rows_out", NULL));
        CHECK((size_t)jint(rep, "rows_out", NULL) == dm_dataset_size(out));
        CHECK(json_array_size(json_object_get(rep, "dropped_rows")) == (size_t)sum);
        printf("%s: %lld rows in, %lld out, %.3f s; dropped:", rel, jint(rep, "rows_in", NULL),
               jint(rep, "rows_out", NULL), dt);
        json_object_foreach(d, k, v) if (json_integer_value(v)) printf(" %s %lld", k, (long long)json_integer_value(v));
        printf("; changed:");
        json_object_foreach(c, k, v) printf(" %s %lld", k, (long long)json_integer_value(v));
        printf("\n");
        for (size_t i = 0; i < (size_t)sum && i < 5; i++) {
            const char *id;
            long long line;
            const char *r = drop_reason(rep, i, &id, &line);
            printf("  dropped: id %s, line %lld, %s\n", id ? id : "null", line, r ? r : "?");
        }
        /* Every output text is clean: trimmed, no double spaces, no control
         * characters. */
        size_t bad = 0;
        for (size_t i = 0; i < dm_dataset_size(out); i++) {
            size_t len;
            const char *s = dm_dataset_text(out, i, &len);
            if (!len || s[0] == ' ' || s[len - 1] == ' ' || strstr(s, "  ") || strchr(s, '\t') ||
                strchr(s, '\n') || strstr(s, "\xEF\xBB\xBF"))
                bad++;
        }
        CHECK(bad == 0);
    }
    json_decref(rep);
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

static void test_real_data(void)
{
    const char *dir = getenv("DATA");
    char fallback[1024];
    if (!dir || !dir[0]) {
        snprintf(fallback, sizeof fallback, "%s/../shared/data", srcroot());
        dir = fallback;
    }
    clean_real(dir, "online_shopping_10_cats/online_shopping_10_cats.csv", NULL);
    clean_real(dir, "chnsenticorp_htl/ChnSentiCorp_htl_all.csv", NULL);
    clean_real(dir, "sst2/train.tsv", NULL);
    clean_real(dir, "sst2/dev.tsv", NULL);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_options();
    test_fixtures();
    test_nfkc_exhaustive();
    test_control_exhaustive();
    test_html_edges();
    test_unicode_edges();
    test_filters();
    test_no_labels();
    test_pairs();
    test_small_inputs();
    test_report_keys();
    test_skipped_rows();
    test_progress();
    test_threads();
    test_round_trip();
    test_real_data();
    rmdir(tmpdir);
    return check_summary();
}
