/*
 * test_profile.c — dm_dataset_profile and dm_profile_html: every key on a
 * small crafted dataset (percentiles pinned from numpy), the script mix,
 * skipped rows, the embedded cleaning report, token lengths, HTML escaping
 * and self-containment, every bad-input path, and the real data sets in
 * $DATA (default SRCROOT/../shared/data; skipped with a note when absent),
 * whose figures are printed.
 *
 * Percentiles follow numpy.percentile's default ("linear"). The pinned values
 * came from:
 *   L = [1, 2, 11, 11, 12, 4, 4, 7, 28, 28, 42, 3]      (code points)
 *   T = [1, 1, 2, 2, 2, 0, 4, 7, 14, 14, 9, 1]          (tokens; HF
 *        BertWordPieceTokenizer on the 7-token vocab below, no specials)
 *   [float(np.percentile(L, q)) for q in (5, 25, 50, 75, 95, 99)]
 *     -> 1.55, 3.75, 9.0, 16.0, 34.29999999999999, 40.46000000000001
 *   same for T -> 0.55, 1.0, 2.0, 7.5, 14.0, 14.0; np.mean: 12.75, 4.75
 */
#include "datamodel.h"
#include "data/dataset_internal.h"

#include "../unit/check.h"
#include "peak_memory.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The crafted dataset: duplicates (after normalisation), a conflict, one
 * blank text, Han and kana, markup to escape, and a label with "&". */
static const char *const crafted_texts[] = {
    "a", "bb", "hello world", "hello world", "HELLO  world", "   \xE3\x80\x80",
    "\xE7\x8C\xAB\xE3\x81\x8C\xE5\xA5\xBD\xE3\x81\x8D",                         /* 猫が好き */
    "\xE6\x88\x91\xE7\x88\xB1\xE5\x8C\x97\xE4\xBA\xAC\xE5\xA4\xA9\xE5\xAE\x89\xE9\x97\xA8", /* 我爱北京天安门 */
    "x<script>alert(1)</script>&y", "x<script>alert(1)</script>&y",
    "one more text here, longer than the others", "abc"};
static const char *const crafted_labels[] = {"pos", "n&g", "pos", "n&g", "pos", "pos",
                                             NULL,  "n&g", "pos", "pos", "pos", "pos"};
enum { N_CRAFTED = 12 };

static dm_dataset *crafted(void)
{
    dm_dataset *ds = NULL;
    dm_status st = dm_dataset_from_texts(N_CRAFTED, crafted_texts, NULL, NULL, NULL, crafted_labels, NULL, &ds);
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    return ds;
}

/* The JSON value at a dotted PATH ("length_chars.histogram.counts"). */
static json_t *at(json_t *root, const char *path)
{
    char key[128];
    json_t *v = root;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key) return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return v;
}

static double num(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int is_null(json_t *root, const char *path) { return json_is_null(at(root, path)); }

static int str_is(json_t *root, const char *path, const char *want)
{
    const char *s = json_string_value(at(root, path));
    return s && strcmp(s, want) == 0;
}

/* Whether JSON array V holds exactly the N numbers WANT. */
static int numbers_are(json_t *v, const double *want, size_t n)
{
    if (json_array_size(v) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!json_is_number(json_array_get(v, i)) || json_number_value(json_array_get(v, i)) != want[i]) return 0;
    return 1;
}

static int near(double a, double b) { return fabs(a - b) <= 1e-12 * (fabs(b) > 1 ? fabs(b) : 1); }

/* Profiles DS under O and parses the result (NULL on failure, reported). */
static json_t *profile_json(const dm_dataset *ds, const dm_profile_options *o, char **text)
{
    char *json = NULL;
    dm_status st = dm_dataset_profile(ds, o, &json);
    CHECK(st == DM_OK && json);
    if (st) {
        fprintf(stderr, "  %s\n", dm_last_error());
        return NULL;
    }
    json_error_t err;
    json_t *root = json_loads(json, JSON_ALLOW_NUL, &err);
    CHECK(json_is_object(root));
    if (text) *text = json;
    else dm_free(json);
    return root;
}

static char *html_of(const char *json)
{
    char *html = NULL;
    size_t len = 0;
    dm_status st = dm_profile_html(json, strlen(json), &html, &len);
    CHECK(st == DM_OK && html && len == strlen(html));
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    return html;
}

/* Case-insensitive search (for "<script" in any case). */
static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* No script, nothing fetched from anywhere. */
static void check_self_contained(const char *html)
{
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(html, "<meta charset=\"utf-8\">") != NULL);
    CHECK(!contains_nocase(html, "<script"));
    CHECK(!strstr(html, "http://") && !strstr(html, "https://"));
    CHECK(!contains_nocase(html, " src=") && !contains_nocase(html, " href=") && !contains_nocase(html, "url("));
    CHECK(!contains_nocase(html, "@import") && !contains_nocase(html, "<link") && !contains_nocase(html, "<img"));
    CHECK(strstr(html, "</html>") != NULL);
}

/* ----------------------------------------------------------------- options */

static void test_options(void)
{
    dm_profile_options o;
    memset(&o, 0x55, sizeof o);
    dm_profile_options_default(&o);
    CHECK(o.struct_size == sizeof o && o.tokenizer == NULL && o.near_duplicates == 1 && o.dedup == NULL);
    CHECK(o.clean_report_json == NULL && o.title == NULL && o.progress == NULL && o.progress_user == NULL);
    dm_profile_options_default(NULL); /* no crash */
}

/* ----------------------------------------------------------- crafted data */

static void test_crafted(void)
{
    dm_dataset *ds = crafted();
    if (!ds) return;
    char *text = NULL;
    json_t *p = profile_json(ds, NULL, &text);
    if (!p) {
        dm_dataset_free(ds);
        return;
    }
    CHECK(str_is(p, "title", "Dataset profile"));
    CHECK(num(p, "rows") == 12);
    CHECK(json_array_size(at(p, "columns")) >= 2);
    CHECK(json_array_size(at(p, "labels")) == 2);
    CHECK(strcmp(json_string_value(json_array_get(at(p, "labels"), 0)), "n&g") == 0); /* byte order */
    CHECK(strcmp(json_string_value(json_array_get(at(p, "labels"), 1)), "pos") == 0);
    CHECK(num(at(p, "per_class"), "n&g") == 3 && num(at(p, "per_class"), "pos") == 8);
    CHECK(json_object_size(at(p, "per_class")) == 2);
    CHECK(num(p, "unlabelled") == 1);
    CHECK(num(p, "imbalance_ratio") == 8.0 / 3.0);

    /* Lengths in code points, percentiles as numpy's (see the top). */
    CHECK(num(p, "length_chars.min") == 1 && num(p, "length_chars.max") == 42);
    CHECK(near(num(p, "length_chars.p5"), 1.55));
    CHECK(near(num(p, "length_chars.p25"), 3.75));
    CHECK(num(p, "length_chars.p50") == 9.0);
    CHECK(num(p, "length_chars.p75") == 16.0);
    CHECK(near(num(p, "length_chars.p95"), 34.29999999999999));
    CHECK(near(num(p, "length_chars.p99"), 40.46000000000001));
    CHECK(num(p, "length_chars.mean") == 12.75);
    /* p99 - min = 39.46 -> width 2 (>= 39.46 / 25), 21 bins from 0; 42 in the closed last bin. */
    double edges[22], counts[21] = {1, 2, 2, 1, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1};
    for (int i = 0; i < 22; i++) edges[i] = 2.0 * i;
    CHECK(numbers_are(at(p, "length_chars.histogram.edges"), edges, 22));
    CHECK(numbers_are(at(p, "length_chars.histogram.counts"), counts, 21));
    CHECK(json_is_false(at(p, "length_chars.histogram.tail_bin")));
    CHECK(is_null(p, "length_tokens"));

    CHECK(num(p, "empty") == 1); /* spaces and an ideographic space */
    /* "hello world" x2 + "HELLO  world" (equal after normalising), the markup text x2. */
    CHECK(num(p, "exact_duplicates") == 3);
    CHECK(num(p, "near_duplicates") == 0 && num(p, "near_pairs") == 0);
    CHECK(num(p, "duplicate_cluster_count") == 2);
    json_t *cl = at(p, "duplicate_clusters");
    CHECK(json_array_size(cl) == 2);
    json_t *c0 = json_array_get(cl, 0), *c1 = json_array_get(cl, 1);
    CHECK(num(c0, "size") == 3 && json_array_size(at(c0, "ids")) == 3);
    CHECK(strcmp(json_string_value(json_array_get(at(c0, "ids"), 0)), "3") == 0);
    CHECK(strcmp(json_string_value(json_array_get(at(c0, "ids"), 2)), "5") == 0);
    CHECK(json_array_size(at(c0, "examples")) == 2); /* distinct texts only */
    CHECK(strcmp(json_string_value(json_array_get(at(c0, "examples"), 0)), "hello world") == 0);
    CHECK(strcmp(json_string_value(json_array_get(at(c0, "examples"), 1)), "HELLO  world") == 0);
    CHECK(num(c1, "size") == 2 && json_array_size(at(c1, "examples")) == 1);
    CHECK(strcmp(json_string_value(json_array_get(at(c1, "ids"), 0)), "9") == 0);
    /* "hello world" carries pos and n&g: one conflicting text over 3 rows. */
    CHECK(num(p, "conflicts") == 1 && num(p, "rows_in_conflict") == 3);
    CHECK(num(p, "skipped") == 0 && json_array_size(at(p, "skipped_rows")) == 0);
    CHECK(is_null(p, "clean"));
    double share = 0;
    const char *key;
    json_t *v;
    json_object_foreach(at(p, "scripts"), key, v) share += json_number_value(v);
    CHECK(near(share, 1.0));
    CHECK(json_object_size(at(p, "scripts")) == 7);

    /* The same bytes again, and with one dedup thread. */
    char *again = NULL;
    dm_dedup_options d;
    dm_dedup_options_default(&d);
    d.threads = 1;
    dm_profile_options o;
    dm_profile_options_default(&o);
    o.dedup = &d;
    CHECK(dm_dataset_profile(ds, &o, &again) == DM_OK && again && strcmp(again, text) == 0);
    dm_free(again);

    /* Exact only: near counts are null, exact ones unchanged. */
    o.near_duplicates = 0;
    o.title = "exact only";
    json_t *q = profile_json(ds, &o, NULL);
    if (q) {
        CHECK(is_null(q, "near_duplicates") && is_null(q, "near_pairs"));
        CHECK(num(q, "exact_duplicates") == 3 && str_is(q, "title", "exact only"));
        json_decref(q);
    }
    json_decref(p);
    dm_free(text);
    dm_dataset_free(ds);
}

/* Token lengths with a 7-token vocab: unknown words are one [UNK] each. */
static void test_tokens(void)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n";
    dm_tokenizer *tok = NULL;
    CHECK(dm_tokenizer_load_vocab(vocab, strlen(vocab), NULL, &tok) == DM_OK);
    dm_dataset *ds = crafted();
    if (tok && ds) {
        dm_profile_options o;
        dm_profile_options_default(&o);
        o.tokenizer = tok;
        json_t *p = profile_json(ds, &o, NULL);
        if (p) {
            CHECK(num(p, "length_tokens.min") == 0 && num(p, "length_tokens.max") == 14);
            CHECK(near(num(p, "length_tokens.p5"), 0.55));
            CHECK(num(p, "length_tokens.p25") == 1.0 && num(p, "length_tokens.p50") == 2.0);
            CHECK(num(p, "length_tokens.p75") == 7.5 && num(p, "length_tokens.p95") == 14.0);
            CHECK(num(p, "length_tokens.p99") == 14.0 && num(p, "length_tokens.mean") == 4.75);
            /* p99 = 14 -> width 1, 15 bins 0..15. */
            double counts[15] = {1, 3, 3, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 2};
            CHECK(numbers_are(at(p, "length_tokens.histogram.counts"), counts, 15));
            CHECK(json_array_size(at(p, "length_tokens.histogram.edges")) == 16);
            CHECK(num(p, "length_chars.max") == 42); /* chars unchanged */
            json_decref(p);
        }
    }
    dm_dataset_free(ds);
    dm_tokenizer_free(tok);
}

/* --------------------------------------------------------------- scripts */

static void test_scripts(void)
{
    static const char *const texts[] = {
        "abc", "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97", /* 中文字 */
        "\xC3\xB1",                                     /* ñ */
        "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", /* Привет */
        "12 !!", "\xEA\xB0\x80\xEB\x82\x98",           /* 가나 */
        "\xE3\x82\xAB\xE3\x82\xBF",                     /* カタ */
        "", "\xE3\x80\x85\xE3\x83\xBC",                 /* 々ー: Han and kana (Lm) */
        "\xCE\xB1\xCE\xB2",                             /* αβ: other */
        "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7"};   /* مرحبا */
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(11, texts, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    if (!ds) return;
    json_t *p = profile_json(ds, NULL, NULL);
    if (p) {
        /* latin 4, han 4, cyrillic 6, arabic 5, hangul 2, kana 3, other 2: 26 letters. */
        CHECK(num(p, "letters") == 26);
        CHECK(near(num(p, "scripts.latin"), 4.0 / 26) && near(num(p, "scripts.han"), 4.0 / 26));
        CHECK(near(num(p, "scripts.cyrillic"), 6.0 / 26) && near(num(p, "scripts.arabic"), 5.0 / 26));
        CHECK(near(num(p, "scripts.hangul"), 2.0 / 26) && near(num(p, "scripts.kana"), 3.0 / 26));
        CHECK(near(num(p, "scripts.other"), 2.0 / 26));
        CHECK(num(p, "empty") == 1 && num(p, "length_chars.min") == 0);
        CHECK(json_array_size(at(p, "labels")) == 0 && json_object_size(at(p, "per_class")) == 0);
        CHECK(is_null(p, "imbalance_ratio") && is_null(p, "conflicts") && is_null(p, "rows_in_conflict"));
        CHECK(num(p, "unlabelled") == 11);
        json_decref(p);
    }
    dm_dataset_free(ds);

    /* Latin and Han only, with a duplicated Chinese example for the HTML. */
    static const char *const mixed[] = {"Hotel", "\xE5\xBE\x88\xE5\xA5\xBD", "\xE5\xBE\x88\xE5\xA5\xBD"};
    CHECK(dm_dataset_from_texts(3, mixed, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    if (!ds) return;
    char *text = NULL;
    p = profile_json(ds, NULL, &text);
    if (p) {
        CHECK(num(p, "letters") == 9 && near(num(p, "scripts.latin"), 5.0 / 9) && near(num(p, "scripts.han"), 4.0 / 9));
        char *html = html_of(text);
        if (html) {
            CHECK(strstr(html, "<td class=\"ex\"><div>\xE5\xBE\x88\xE5\xA5\xBD</div>") != NULL); /* UTF-8 kept */
            CHECK(strstr(html, "Latin 55.6%") != NULL && strstr(html, "Han 44.4%") != NULL);
            CHECK(strstr(html, "No labels.") != NULL);
            check_self_contained(html);
        }
        dm_free(html);
        json_decref(p);
    }
    dm_free(text);
    dm_dataset_free(ds);
}

/* -------------------------------------------------- skipped rows, cleaning */

static void test_skipped_and_clean(void)
{
    static const char csv[] = "text,label\nfine,1\nbad,row,extra\nok,0\n\"also\",bad,row\n";
    dm_dataset_options lo;
    dm_dataset_options_default(&lo);
    lo.bad_rows = DM_BAD_ROWS_SKIP;
    dm_dataset *ds = NULL;
    CHECK(dmi_dataset_load_memory(csv, strlen(csv), DM_FORMAT_CSV, &lo, "t.csv", &ds) == DM_OK);
    if (!ds) return;
    dm_profile_options o;
    dm_profile_options_default(&o);
    o.clean_report_json = "{\"rows_in\": 10, \"rows_out\": 6,\n"
                          " \"changed\": {\"nfkc\": 2, \"trim\": 1},\n"
                          " \"dropped\": {\"empty\": 1, \"too_short\": 2, \"skipped_on_load\": 1, \"<x>\": 0},\n"
                          " \"dropped_rows\": [{\"id\": \"3\", \"line\": 4, \"reason\": \"empty\"}]}";
    char *text = NULL;
    json_t *p = profile_json(ds, &o, &text);
    if (p) {
        CHECK(num(p, "rows") == 2 && num(p, "skipped") == 2);
        json_t *sk = at(p, "skipped_rows");
        CHECK(json_array_size(sk) == 2);
        CHECK(num(json_array_get(sk, 0), "line") == 3 && num(json_array_get(sk, 1), "line") == 5);
        const char *why = json_string_value(json_object_get(json_array_get(sk, 0), "reason"));
        CHECK(why && strstr(why, "wrong number of fields"));
        CHECK(num(p, "clean.rows_in") == 10 && num(p, "clean.rows_out") == 6);
        CHECK(num(p, "clean.dropped.too_short") == 2 && num(p, "clean.changed.nfkc") == 2);
        CHECK(str_is(json_array_get(at(p, "clean.dropped_rows"), 0), "reason", "empty"));
        char *html = html_of(text);
        if (html) {
            CHECK(strstr(html, "Rows skipped on load") && strstr(html, "wrong number of fields"));
            CHECK(strstr(html, "Cleaning funnel") && strstr(html, "after empty") && strstr(html, "after too_short"));
            CHECK(strstr(html, "after skipped_on_load") && !strstr(html, "after &lt;x&gt;")); /* 0: no bar */
            CHECK(strstr(html, ">nfkc</td>") != NULL);
            check_self_contained(html);
        }
        dm_free(html);
        json_decref(p);
    }
    dm_free(text);

    /* A broken or non-object report names clean_report_json. */
    char *json = (char *)"untouched";
    o.clean_report_json = "{\"rows_in\": 10,\n \"rows_out\": }";
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_PARSE, "clean_report_json: line 2");
    CHECK(json == NULL);
    o.clean_report_json = "[1, 2]";
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_PARSE, "clean_report_json: expected a JSON object");
    o.clean_report_json = "";
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_PARSE, "clean_report_json");
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------------- HTML */

static void test_html_escaping(void)
{
    dm_dataset *ds = crafted();
    if (!ds) return;
    dm_profile_options o;
    dm_profile_options_default(&o);
    o.title = "Report <script>alert('t')</script> & more";
    char *text = NULL;
    json_t *p = profile_json(ds, &o, &text);
    char *html = p ? html_of(text) : NULL;
    if (html) {
        check_self_contained(html);
        CHECK(strstr(html, "<title>Report &lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; &amp; more</title>"));
        CHECK(strstr(html, "<h1>Report &lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; &amp; more</h1>"));
        CHECK(strstr(html, "x&lt;script&gt;alert(1)&lt;/script&gt;&amp;y") != NULL); /* cluster example */
        CHECK(strstr(html, ">n&amp;g<") != NULL && !strstr(html, "n&g"));            /* label in the chart */
        CHECK(strstr(html, "Class balance") && strstr(html, "Text length in characters"));
        CHECK(!strstr(html, "Text length in tokens")); /* no tokenizer */
        CHECK(strstr(html, "Duplicates") && strstr(html, "Label conflicts") && strstr(html, "Script mix"));
        CHECK(!strstr(html, "Cleaning funnel") && !strstr(html, "Rows skipped on load"));
        CHECK(strstr(html, "p50 = 9") && strstr(html, "p95 = 34.3"));
        CHECK(strstr(html, "<svg") != NULL);
    }
    dm_free(html);
    json_decref(p);
    dm_free(text);
    dm_dataset_free(ds);

    /* A minimal object renders; odd types are ignored rather than trusted. */
    html = html_of("{}");
    if (html) {
        check_self_contained(html);
        CHECK(strstr(html, "<h1>Dataset profile</h1>") != NULL);
    }
    dm_free(html);
    html = html_of("{\"title\": 5, \"labels\": \"x\", \"length_chars\": {\"histogram\": {\"edges\": [1], "
                   "\"counts\": [1, 2]}}, \"duplicate_clusters\": [1, {\"ids\": 3}], \"skipped_rows\": [7]}");
    if (html) check_self_contained(html);
    dm_free(html);
}

static int cancel_at_second(uint64_t done, uint64_t total, void *user)
{
    (void)done, (void)total;
    return ++*(int *)user >= 2;
}

static int record(uint64_t done, uint64_t total, void *user)
{
    uint64_t *last = user;
    if (done < last[0] || total != last[1]) last[2] = 1; /* went backwards, or the total changed */
    last[0] = done;
    return 0;
}

static void test_errors(void)
{
    dm_dataset *ds = crafted();
    if (!ds) return;
    char *json = (char *)"untouched";
    CHECK_FAILS(dm_dataset_profile(NULL, NULL, &json), DM_ERR_INVALID_ARGUMENT, "ds is NULL");
    CHECK(json == NULL);
    CHECK_FAILS(dm_dataset_profile(ds, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "json is NULL");
    dm_profile_options o;
    dm_profile_options_default(&o);
    o.struct_size = 0;
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_INVALID_ARGUMENT, "dm_profile_options: struct_size is 0");
    dm_profile_options_default(&o);
    o.near_duplicates = 2;
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_INVALID_ARGUMENT, "near_duplicates must be 0 or 1");
    dm_profile_options_default(&o);
    dm_dedup_options d;
    dm_dedup_options_default(&d);
    d.struct_size = 0;
    o.dedup = &d;
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_INVALID_ARGUMENT, "dm_profile_options.dedup");

    /* Progress: monotonic with a fixed total that is reached; a non-zero return cancels. */
    dm_profile_options_default(&o);
    uint64_t last[3] = {0, 2 * N_CRAFTED, 0};
    o.progress = record;
    o.progress_user = last;
    CHECK(dm_dataset_profile(ds, &o, &json) == DM_OK);
    CHECK(last[0] == 2 * N_CRAFTED && last[2] == 0);
    dm_free(json);
    int calls = 0;
    o.progress = cancel_at_second;
    o.progress_user = &calls;
    CHECK_FAILS(dm_dataset_profile(ds, &o, &json), DM_ERR_CANCELLED, "cancelled");
    CHECK(json == NULL);

    /* dm_profile_html. */
    char *html = (char *)"untouched";
    size_t len = 7;
    CHECK_FAILS(dm_profile_html(NULL, 0, &html, &len), DM_ERR_INVALID_ARGUMENT, "profile_json is NULL");
    CHECK(html == NULL && len == 0);
    CHECK_FAILS(dm_profile_html("{}", 2, NULL, &len), DM_ERR_INVALID_ARGUMENT, "html is NULL");
    const char *bad = "{\"rows\": 1,\n \"labels\": [}";
    CHECK_FAILS(dm_profile_html(bad, strlen(bad), &html, &len), DM_ERR_PARSE, "profile_json: line 2, column");
    CHECK_FAILS(dm_profile_html("", 0, &html, &len), DM_ERR_PARSE, "profile_json: line 1");
    CHECK_FAILS(dm_profile_html("[1]", 3, &html, &len), DM_ERR_PARSE, "expected a JSON object");
    CHECK_FAILS(dm_profile_html("{} x", 4, &html, &len), DM_ERR_PARSE, "profile_json");
    CHECK_FAILS(dm_profile_html("{\"a\": 1}", 5, &html, &len), DM_ERR_PARSE, "profile_json"); /* cut short */
    CHECK(dm_profile_html("{}", 2, &html, NULL) == DM_OK && html); /* html_len may be NULL */
    dm_free(html);

    /* Texts holding NUL bytes survive the JSON and the HTML (as a space). */
    static const char *const nul_texts[] = {"a\0b<", "a\0b<", "c"};
    static const size_t nul_lens[] = {4, 4, 1};
    dm_dataset *nul = NULL;
    CHECK(dm_dataset_from_texts(3, nul_texts, nul_lens, NULL, NULL, NULL, NULL, &nul) == DM_OK);
    if (nul) {
        char *text = NULL;
        json_t *p = profile_json(nul, NULL, &text);
        if (p) {
            CHECK(num(p, "exact_duplicates") == 1 && num(p, "length_chars.max") == 4);
            char *h = html_of(text);
            CHECK(h && strstr(h, "<div>a b&lt;</div>"));
            dm_free(h);
            json_decref(p);
        }
        dm_free(text);
        dm_dataset_free(nul);
    }

    /* An empty dataset: no statistics, no failure. */
    dm_dataset *none = NULL;
    CHECK(dm_dataset_select(ds, NULL, 0, &none) == DM_OK);
    if (none) {
        char *text = NULL;
        json_t *p = profile_json(none, NULL, &text);
        if (p) {
            CHECK(num(p, "rows") == 0 && is_null(p, "length_chars.p50") && is_null(p, "imbalance_ratio"));
            CHECK(json_array_size(at(p, "length_chars.histogram.counts")) == 0);
            CHECK(num(p, "exact_duplicates") == 0 && json_array_size(at(p, "duplicate_clusters")) == 0);
            char *h = html_of(text);
            if (h) check_self_contained(h);
            dm_free(h);
            json_decref(p);
        }
        dm_free(text);
        dm_dataset_free(none);
    }
    dm_dataset_free(ds);
}

/* -------------------------------------------------------------- real data */

static void print_profile(const char *name, json_t *p)
{
    printf("%s: rows %.0f, per_class {", name, num(p, "rows"));
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach(at(p, "per_class"), key, v) {
        printf("%s%s: %.0f", first ? "" : ", ", key, json_number_value(v));
        first = 0;
    }
    printf("}, imbalance %.4f, empty %.0f\n", num(p, "imbalance_ratio"), num(p, "empty"));
    printf("  exact duplicates %.0f, near duplicates %.0f, near pairs %.0f, clusters %.0f, largest %.0f\n",
           num(p, "exact_duplicates"), num(p, "near_duplicates"), num(p, "near_pairs"),
           num(p, "duplicate_cluster_count"), num(json_array_get(at(p, "duplicate_clusters"), 0), "size"));
    printf("  conflicts %.0f texts (%.0f rows); chars p50 %.1f p95 %.1f max %.0f\n", num(p, "conflicts"),
           num(p, "rows_in_conflict"), num(p, "length_chars.p50"), num(p, "length_chars.p95"),
           num(p, "length_chars.max"));
    printf("  scripts:");
    json_object_foreach(at(p, "scripts"), key, v) printf(" %s %.4f", key, json_number_value(v));
    printf(" (%.0f letters)\n", num(p, "letters"));
}

static void test_real_data(void)
{
    const char *dir = getenv("DATA");
    char fallback[1024], path[1200];
    if (!dir || !dir[0]) {
        const char *src = getenv("SRCROOT");
        snprintf(fallback, sizeof fallback, "%s/../shared/data", src && src[0] ? src : ".");
        dir = fallback;
    }
    static const struct {
        const char *file;
        double rows, n0, n1;
        int han; /* mostly Han, else mostly Latin */
    } sets[] = {
        {"sst2/train.tsv", 67349, 29780, 37569, 0},
        {"chnsenticorp_htl/ChnSentiCorp_htl_all.csv", 7766, 2444, 5322, 1},
        {"online_shopping_10_cats/online_shopping_10_cats.csv", 62774, 31046, 31728, 1},
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, sets[s].file);
        FILE *f = fopen(path, "rb");
        if (!f) {
            printf("note: %s absent: real-data check skipped\n", path);
            continue;
        }
        fclose(f);
        dm_dataset *ds = NULL;
        dm_status st = dm_dataset_load(path, NULL, &ds);
        CHECK(st == DM_OK);
        if (st) {
            fprintf(stderr, "  %s\n", dm_last_error());
            continue;
        }
        dm_profile_options o;
        dm_profile_options_default(&o);
        o.title = sets[s].file;
        char *text = NULL;
        json_t *p = profile_json(ds, &o, &text);
        if (p) {
            print_profile(sets[s].file, p);
            CHECK(num(p, "rows") == sets[s].rows);
            CHECK(num(p, "per_class.0") == sets[s].n0 && num(p, "per_class.1") == sets[s].n1);
            CHECK(num(p, "imbalance_ratio") == fmax(sets[s].n0, sets[s].n1) / fmin(sets[s].n0, sets[s].n1));
            CHECK(num(p, "exact_duplicates") + num(p, "near_duplicates") < sets[s].rows);
            CHECK(num(p, "near_pairs") >= num(p, "near_duplicates"));
            CHECK(num(p, sets[s].han ? "scripts.han" : "scripts.latin") > 0.9);
            CHECK(num(p, "length_chars.min") <= num(p, "length_chars.p50"));
            CHECK(num(p, "length_chars.p50") <= num(p, "length_chars.p99"));
            CHECK(num(p, "length_chars.p99") <= num(p, "length_chars.max"));
            double total = 0;
            json_t *c;
            size_t i;
            json_array_foreach(at(p, "length_chars.histogram.counts"), i, c) total += json_number_value(c);
            CHECK(total == sets[s].rows);
            char *html = html_of(text);
            if (html) check_self_contained(html);
            dm_free(html);
            json_decref(p);
        }
        dm_free(text);
        dm_dataset_free(ds);
    }
}

static dm_status profile_op(const dm_dataset *ds)
{
    char *json = NULL;
    dm_status st = dm_dataset_profile(ds, NULL, &json);
    dm_free(json);
    return st;
}

/* One 50 MiB row used to peak at 18 times its size (the near-duplicate
 * search's shingle arrays); now about twice. The bound leaves room: 3 times
 * the row and 32 MiB, the generated text included. */
static void test_long_row_memory(void)
{
    size_t bytes = (size_t)50 << 20;
    dm_status st;
    long long peak = peak_of_long_row(bytes, profile_op, &st);
    if (peak == -2) {
        printf("long-row memory: not measured under AddressSanitizer\n");
        return;
    }
    printf("long-row memory: profile of one %zu MiB row peaks %.1f MiB above the start\n", bytes >> 20,
           (double)peak / 1048576);
    CHECK(st == DM_OK && peak > 0);
    CHECK(peak <= 3 * (long long)bytes + (32ll << 20));
}

int main(void)
{
    test_long_row_memory(); /* first: in a child process, before OpenMP starts */
    test_options();
    test_crafted();
    test_tokens();
    test_scripts();
    test_skipped_and_clean();
    test_html_escaping();
    test_errors();
    test_real_data();
    return check_summary();
}
