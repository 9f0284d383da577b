/*
 * profile.c — a dataset profile as one JSON object (dm_dataset_profile): the
 * statistics. profile_html.c draws that JSON as an HTML page.
 *
 * Definitions the JSON follows (the API doc leaves them open):
 *  - Lengths are those of the text column only (a pair is not added in):
 *    length_chars in Unicode code points, length_tokens in tokens of the
 *    given tokenizer without special tokens.
 *  - Percentiles are numpy's default ("linear"): on the sorted values
 *    x[0..n-1], p(q) = x[f] + (h - f) * (x[f+1] - x[f]) with h = (n-1) q
 *    and f = floor(h).
 *  - Histograms: bins of a nice width (1, 2, 2.5 or 5 times a power of ten,
 *    whole numbers only) chosen for 10 to 25 bins from min (rounded down to
 *    the width) to p99; counts[i] is the number of values in [edges[i],
 *    edges[i+1]), the last bin closed. When the maximum lies past the
 *    uniform bins, one more "tail" bin runs to the maximum (tail_bin: true),
 *    so that one long outlier does not squash the chart.
 *  - empty: texts with no code point outside Unicode's White_Space set
 *    (TAB..CR, space, U+0085, Zs, U+2028, U+2029).
 *  - scripts: shares of letters (general category L*) by code point range
 *    (utf8proc has no script property); see script_of().
 *  - duplicate_clusters: the 10 largest clusters of 2 or more rows (ties:
 *    the cluster of the earlier row first); per cluster its size, up to 10
 *    ids and up to 3 distinct member texts, each cut to 200 code points
 *    ("…" appended when cut).
 *  - skipped_rows lists at most 1000 rows; skipped is the full count.
 */
#include "ops.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum {
    PROFILE_MAX_CLUSTERS = 10,
    PROFILE_CLUSTER_IDS = 10,
    PROFILE_CLUSTER_EXAMPLES = 3,
    PROFILE_EXAMPLE_CHARS = 200,
    PROFILE_MAX_SKIPPED = 1000,
    PROFILE_TOKEN_CHUNK = 4096
};

DM_API void dm_profile_options_default(dm_profile_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->near_duplicates = 1;
}

/* ------------------------------------------------------------ JSON helpers */

/* A double as the shortest of %.15g / %.17g that reads back equal; null for
 * NaN and infinities (JSON has no spelling for them). */
static void json_double(dmi_buf *b, double v)
{
    if (!isfinite(v)) {
        dmi_buf_puts(b, "null");
        return;
    }
    char s[40];
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v);
    dmi_buf_puts(b, s);
}

static void json_key(dmi_buf *b, const char *key)
{
    dmi_buf_json_string(b, key, strlen(key));
    dmi_buf_append(b, ":", 1);
}

/* ----------------------------------------------------------- text measures */

/* Code points in S (valid UTF-8: the dataset replaced bad bytes on load). */
static size_t count_code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool is_white_space(uint32_t cp)
{
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85) return true;
    if (cp < 0xA0) return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

enum script {
    SCRIPT_LATIN,
    SCRIPT_HAN,
    SCRIPT_CYRILLIC,
    SCRIPT_ARABIC,
    SCRIPT_HANGUL,
    SCRIPT_KANA,
    SCRIPT_OTHER,
    N_SCRIPTS
};
static const char *const script_names[N_SCRIPTS] = {"latin", "han", "cyrillic", "arabic",
                                                      "hangul", "kana", "other"};

/* The script of a letter, by the Unicode blocks that hold each script's
 * letters (fullwidth forms included; U+3005 々 and U+3007 〇 count as Han,
 * U+30FC ー as kana). */
static enum script script_of(uint32_t cp)
{
    static const struct {
        uint32_t lo, hi;
        enum script s;
    } ranges[] = {
        {0x0041, 0x024F, SCRIPT_LATIN},     /* Basic Latin .. Latin Extended-B */
        {0x0250, 0x02AF, SCRIPT_LATIN},     /* IPA extensions */
        {0x0400, 0x052F, SCRIPT_CYRILLIC},  /* Cyrillic, Cyrillic Supplement */
        {0x0600, 0x06FF, SCRIPT_ARABIC},    /* Arabic */
        {0x0750, 0x077F, SCRIPT_ARABIC},    /* Arabic Supplement */
        {0x0870, 0x08FF, SCRIPT_ARABIC},    /* Arabic Extended-B, -A */
        {0x1100, 0x11FF, SCRIPT_HANGUL},    /* Hangul Jamo */
        {0x1C80, 0x1C8F, SCRIPT_CYRILLIC},  /* Cyrillic Extended-C */
        {0x1E00, 0x1EFF, SCRIPT_LATIN},     /* Latin Extended Additional */
        {0x2C60, 0x2C7F, SCRIPT_LATIN},     /* Latin Extended-C */
        {0x2DE0, 0x2DFF, SCRIPT_CYRILLIC},  /* Cyrillic Extended-A */
        {0x2E80, 0x2FDF, SCRIPT_HAN},       /* CJK and Kangxi radicals */
        {0x3005, 0x3007, SCRIPT_HAN},       /* 々 〆 〇 */
        {0x3021, 0x3029, SCRIPT_HAN},       /* Hangzhou numerals */
        {0x3038, 0x303B, SCRIPT_HAN},
        {0x3040, 0x30FF, SCRIPT_KANA},      /* Hiragana, Katakana */
        {0x3130, 0x318F, SCRIPT_HANGUL},    /* Hangul Compatibility Jamo */
        {0x31F0, 0x31FF, SCRIPT_KANA},      /* Katakana Phonetic Extensions */
        {0x3400, 0x4DBF, SCRIPT_HAN},       /* CJK Extension A */
        {0x4E00, 0x9FFF, SCRIPT_HAN},       /* CJK Unified Ideographs */
        {0xA640, 0xA69F, SCRIPT_CYRILLIC},  /* Cyrillic Extended-B */
        {0xA720, 0xA7FF, SCRIPT_LATIN},     /* Latin Extended-D */
        {0xA960, 0xA97F, SCRIPT_HANGUL},    /* Hangul Jamo Extended-A */
        {0xAB30, 0xAB6F, SCRIPT_LATIN},     /* Latin Extended-E */
        {0xAC00, 0xD7FF, SCRIPT_HANGUL},    /* Hangul Syllables, Jamo Extended-B */
        {0xF900, 0xFAFF, SCRIPT_HAN},       /* CJK Compatibility Ideographs */
        {0xFB50, 0xFDFF, SCRIPT_ARABIC},    /* Arabic Presentation Forms-A */
        {0xFE70, 0xFEFF, SCRIPT_ARABIC},    /* Arabic Presentation Forms-B */
        {0xFF21, 0xFF3A, SCRIPT_LATIN},     /* fullwidth A-Z */
        {0xFF41, 0xFF5A, SCRIPT_LATIN},     /* fullwidth a-z */
        {0xFF66, 0xFF9F, SCRIPT_KANA},      /* halfwidth katakana */
        {0xFFA0, 0xFFDC, SCRIPT_HANGUL},    /* halfwidth Hangul */
        {0x1B000, 0x1B16F, SCRIPT_KANA},    /* Kana Supplement, Extended-A, small kana */
        {0x20000, 0x323AF, SCRIPT_HAN},     /* CJK Extensions B..H, compatibility supplement */
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (cp >= ranges[i].lo && cp <= ranges[i].hi) return ranges[i].s;
    return SCRIPT_OTHER;
}

static bool is_letter(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

/* Adds TEXT's letters to LETTERS (per script) and says whether TEXT holds
 * only white space. */
static bool scan_text(const char *s, size_t len, uint64_t letters[N_SCRIPTS])
{
    bool blank = true;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t bad;
        size_t n = dmi_utf8_decode((const uint8_t *)s + i, len - i, &cp, &bad);
        if (n == 0) { /* cannot happen after loading; count as "other" */
            blank = false;
            i += bad;
            continue;
        }
        i += n;
        if (cp < 0x80) { /* fast path for ASCII */
            if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') letters[SCRIPT_LATIN]++;
            if (!is_white_space(cp)) blank = false;
            continue;
        }
        if (is_white_space(cp)) continue;
        blank = false;
        if (is_letter(cp)) letters[script_of(cp)]++;
    }
    return blank;
}

/* ----------------------------------------------------- length distribution */

static int compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(x, 100 Q) with the default linear interpolation; X sorted. */
static double percentile(const size_t *x, size_t n, double q)
{
    double h = (double)(n - 1) * q;
    size_t f = (size_t)floor(h);
    if (f + 1 >= n) return (double)x[n - 1];
    return (double)x[f] + (h - (double)f) * ((double)x[f + 1] - (double)x[f]);
}

/* The smallest whole "nice" width (1, 2, 2.5, 5 x 10^k) of at least RAW. */
static double nice_width(double raw)
{
    if (raw <= 1) return 1;
    double p = pow(10, floor(log10(raw)));
    static const double m[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < 5; i++) {
        double w = m[i] * p;
        if (w >= raw && w == floor(w)) return w;
    }
    return 10 * p;
}

/* Bin of V among edges E[0..NB] (uniform but maybe the tail bin). */
static size_t bin_of(double v, const double *e, size_t nb, double width)
{
    if (v >= e[nb - 1]) return nb - 1;
    size_t i = (size_t)((v - e[0]) / width);
    return i < nb - 1 ? i : nb - 1;
}

/* Writes {min, p5, ..., max, mean, histogram} of the N values X (sorted here). */
static dm_status emit_lengths(dmi_buf *b, size_t *x, size_t n)
{
    if (n == 0) {
        dmi_buf_puts(b, "{\"min\":null,\"p5\":null,\"p25\":null,\"p50\":null,\"p75\":null,\"p95\":null,"
                        "\"p99\":null,\"max\":null,\"mean\":null,\"histogram\":{\"edges\":[],\"counts\":[],"
                        "\"tail_bin\":false}}");
        return DM_OK;
    }
    qsort(x, n, sizeof *x, compare_size);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)x[i];
    static const struct {
        const char *key;
        double q;
    } qs[] = {{"p5", 0.05}, {"p25", 0.25}, {"p50", 0.5}, {"p75", 0.75}, {"p95", 0.95}, {"p99", 0.99}};
    dmi_buf_printf(b, "{\"min\":%zu", x[0]);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        dmi_buf_printf(b, ",\"%s\":", qs[i].key);
        json_double(b, percentile(x, n, qs[i].q));
    }
    dmi_buf_printf(b, ",\"max\":%zu,\"mean\":", x[n - 1]);
    json_double(b, sum / (double)n);

    double lo_v = (double)x[0], hi_v = percentile(x, n, 0.99), max_v = (double)x[n - 1];
    double width = nice_width((hi_v - lo_v) / 25);
    double lo = floor(lo_v / width) * width;
    size_t uniform = (size_t)floor((hi_v - lo) / width) + 1;
    bool tail = max_v > lo + (double)uniform * width;
    size_t nb = uniform + tail;
    double *edges = dmi_malloc((nb + 1) * sizeof *edges);
    uint64_t *counts = dmi_calloc(nb, sizeof *counts);
    if (!edges || !counts) {
        free(edges), free(counts);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i <= uniform; i++) edges[i] = lo + (double)i * width;
    if (tail) edges[nb] = max_v;
    for (size_t i = 0; i < n; i++) counts[bin_of((double)x[i], edges, nb, width)]++;
    dmi_buf_puts(b, ",\"histogram\":{\"edges\":[");
    for (size_t i = 0; i <= nb; i++) {
        if (i) dmi_buf_append(b, ",", 1);
        json_double(b, edges[i]);
    }
    dmi_buf_puts(b, "],\"counts\":[");
    for (size_t i = 0; i < nb; i++) dmi_buf_printf(b, "%s%llu", i ? "," : "", (unsigned long long)counts[i]);
    dmi_buf_printf(b, "],\"tail_bin\":%s}}", tail ? "true" : "false");
    free(edges);
    free(counts);
    return DM_OK;
}

/* ---------------------------------------------------------------- progress */

typedef struct progress {
    dm_progress_fn fn;
    void *user;
    uint64_t base, total; /* this phase starts at BASE of TOTAL */
} progress;

static dm_status progress_at(const progress *p, uint64_t done)
{
    if (p->fn && p->fn(p->base + done, p->total, p->user))
        return dmi_fail(DM_ERR_CANCELLED, "dm_dataset_profile: cancelled by the progress callback");
    return DM_OK;
}

/* Dedup's progress (rows) forwarded into the profile's. */
static int progress_forward(uint64_t done, uint64_t total, void *user)
{
    const progress *p = user;
    (void)total;
    return p->fn(p->base + done, p->total, p->user);
}

/* ------------------------------------------------------------ token counts */

static dm_status count_tokens(const dm_dataset *ds, const dm_tokenizer *tok, size_t *out, const progress *pr)
{
    size_t n = dm_dataset_size(ds);
    const char **texts = dmi_malloc(PROFILE_TOKEN_CHUNK * sizeof *texts);
    size_t *lens = dmi_malloc(PROFILE_TOKEN_CHUNK * sizeof *lens);
    dm_status st = texts && lens ? DM_OK : DM_ERR_NO_MEMORY;
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    eo.add_special_tokens = 0;
    eo.invalid_utf8 = DM_UTF8_REPLACE;
    for (size_t start = 0; st == DM_OK && start < n; start += PROFILE_TOKEN_CHUNK) {
        size_t m = n - start < PROFILE_TOKEN_CHUNK ? n - start : PROFILE_TOKEN_CHUNK;
        for (size_t i = 0; i < m; i++) texts[i] = dm_dataset_text(ds, start + i, &lens[i]);
        dm_encoding **encs = NULL;
        st = dm_tokenizer_encode_batch(tok, m, texts, lens, NULL, NULL, &eo, &encs);
        if (st != DM_OK) {
            st = dmi_fail_prefix(st, "dm_dataset_profile: counting tokens of rows %zu..%zu", start,
                                 start + m - 1);
            break;
        }
        for (size_t i = 0; i < m; i++) out[start + i] = encs[i]->length;
        dm_encodings_free(encs, m);
        st = progress_at(pr, start + m);
    }
    free(texts);
    free(lens);
    return st;
}

/* ------------------------------------------------------------- duplicates */

typedef struct cluster_ref {
    size_t root, size;
} cluster_ref;

static int compare_cluster(const void *a, const void *b)
{
    const cluster_ref *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return (x->root > y->root) - (x->root < y->root);
}

/* TEXT cut to PROFILE_EXAMPLE_CHARS code points, as a JSON string. */
static void json_example(dmi_buf *b, const char *s, size_t len)
{
    size_t i = 0, cps = 0;
    while (i < len && cps < PROFILE_EXAMPLE_CHARS) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
        cps++;
    }
    if (i >= len) {
        dmi_buf_json_string(b, s, len);
        return;
    }
    dmi_buf_json_string(b, s, i);
    if (b->failed) return;
    b->len--; /* reopen the string to append the ellipsis */
    dmi_buf_puts(b, "\xE2\x80\xA6\"");
}

/* The largest clusters of CLUSTER (roots: smallest row index) as JSON. */
static dm_status emit_clusters(dmi_buf *b, const dm_dataset *ds, const size_t *cluster, size_t n,
                               size_t *n_clusters)
{
    size_t *size = dmi_calloc(n ? n : 1, sizeof *size);
    if (!size) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) size[cluster[i] < n ? cluster[i] : i]++;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += size[i] >= 2;
    *n_clusters = k;
    cluster_ref *refs = dmi_malloc((k ? k : 1) * sizeof *refs);
    if (!refs) {
        free(size);
        return DM_ERR_NO_MEMORY;
    }
    k = 0;
    for (size_t i = 0; i < n; i++)
        if (size[i] >= 2) refs[k++] = (cluster_ref){i, size[i]};
    qsort(refs, k, sizeof *refs, compare_cluster);
    if (k > PROFILE_MAX_CLUSTERS) k = PROFILE_MAX_CLUSTERS;
    dmi_buf_append(b, "[", 1);
    for (size_t c = 0; c < k; c++) {
        size_t root = refs[c].root;
        dmi_buf_printf(b, "%s{\"size\":%zu,\"ids\":[", c ? "," : "", refs[c].size);
        size_t ids = 0;
        for (size_t i = root; i < n && ids < PROFILE_CLUSTER_IDS; i++) {
            if (cluster[i] != root) continue;
            const char *id = dm_dataset_id(ds, i);
            if (ids++) dmi_buf_append(b, ",", 1);
            dmi_buf_json_string(b, id, strlen(id));
        }
        dmi_buf_puts(b, "],\"examples\":[");
        size_t shown[PROFILE_CLUSTER_EXAMPLES], n_shown = 0;
        for (size_t i = root; i < n && n_shown < PROFILE_CLUSTER_EXAMPLES; i++) {
            if (cluster[i] != root) continue;
            size_t len, other_len;
            const char *t = dm_dataset_text(ds, i, &len);
            bool seen = false;
            for (size_t j = 0; j < n_shown && !seen; j++) {
                const char *o = dm_dataset_text(ds, shown[j], &other_len);
                seen = other_len == len && memcmp(o, t, len) == 0;
            }
            if (seen) continue;
            if (n_shown) dmi_buf_append(b, ",", 1);
            shown[n_shown++] = i;
            json_example(b, t, len);
        }
        dmi_buf_puts(b, "]}");
    }
    dmi_buf_append(b, "]", 1);
    free(refs);
    free(size);
    return DM_OK;
}

/* --------------------------------------------------------------- conflicts */

/* Texts with more than one label, and the rows they hold, from
 * dm_dataset_conflicts' report. */
static dm_status count_conflicts(const dm_dataset *ds, uint64_t *conflicts, uint64_t *rows)
{
    dm_dataset *kept = NULL;
    char *report = NULL;
    dm_status st = dm_dataset_conflicts(ds, DM_CONFLICT_KEEP, &kept, &report);
    dm_dataset_free(kept);
    if (st != DM_OK) {
        dm_free(report);
        return dmi_fail_prefix(st, "dm_dataset_profile: label conflicts");
    }
    json_error_t err;
    json_t *root = json_loads(report, JSON_ALLOW_NUL, &err); /* texts may hold NUL */
    dm_free(report);
    json_t *c = json_object_get(root, "conflicts"), *r = json_object_get(root, "rows_in_conflict");
    if (!json_is_integer(c)) {
        json_decref(root);
        return dmi_fail(DM_ERR_INTERNAL, "dm_dataset_profile: the conflicts report has no integer \"conflicts\"");
    }
    *conflicts = (uint64_t)json_integer_value(c);
    *rows = json_is_integer(r) ? (uint64_t)json_integer_value(r) : 0;
    json_decref(root);
    return DM_OK;
}

/* ------------------------------------------------------------------ profile */

static dm_status check_profile_options(const dm_profile_options *o)
{
    if (o->near_duplicates != 0 && o->near_duplicates != 1)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_profile: near_duplicates must be 0 or 1, not %d",
                        o->near_duplicates);
    return DM_OK;
}

/* The clean report, checked and re-serialised compactly (*OUT: free()). */
static dm_status parse_clean_report(const char *text, char **out)
{
    json_error_t err;
    json_t *root = json_loads(text, JSON_ALLOW_NUL, &err);
    if (!root)
        return dmi_fail(DM_ERR_PARSE, "dm_dataset_profile: clean_report_json: line %d, column %d: %s", err.line,
                        err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return dmi_fail(DM_ERR_PARSE, "dm_dataset_profile: clean_report_json: expected a JSON object "
                                      "(dm_dataset_clean's report)");
    }
    *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *out ? DM_OK : dmi_fail(DM_ERR_NO_MEMORY, "dm_dataset_profile: out of memory");
}

static void emit_header(dmi_buf *b, const dm_dataset *ds, const char *title, uint64_t *per_class,
                        uint64_t unlabelled)
{
    size_t n = dm_dataset_size(ds), n_labels = dm_dataset_num_labels(ds);
    dmi_buf_append(b, "{", 1);
    json_key(b, "title");
    dmi_buf_json_string(b, title, strlen(title));
    dmi_buf_printf(b, ",\"rows\":%zu,\"columns\":[", n);
    for (size_t c = 0; c < dmi_dataset_num_columns(ds); c++) {
        const char *name = dmi_dataset_column_name(ds, c);
        if (c) dmi_buf_append(b, ",", 1);
        dmi_buf_json_string(b, name, strlen(name));
    }
    dmi_buf_puts(b, "],\"labels\":[");
    for (size_t l = 0; l < n_labels; l++) {
        const char *name = dm_dataset_label_name(ds, (int32_t)l);
        if (l) dmi_buf_append(b, ",", 1);
        dmi_buf_json_string(b, name, strlen(name));
    }
    dmi_buf_puts(b, "],\"per_class\":{");
    uint64_t largest = 0, smallest = 0;
    for (size_t l = 0; l < n_labels; l++) {
        const char *name = dm_dataset_label_name(ds, (int32_t)l);
        if (l) dmi_buf_append(b, ",", 1);
        dmi_buf_json_string(b, name, strlen(name));
        dmi_buf_printf(b, ":%llu", (unsigned long long)per_class[l]);
        if (per_class[l] > largest) largest = per_class[l];
        if (per_class[l] && (!smallest || per_class[l] < smallest)) smallest = per_class[l];
    }
    dmi_buf_printf(b, "},\"unlabelled\":%llu,\"imbalance_ratio\":", (unsigned long long)unlabelled);
    if (smallest) json_double(b, (double)largest / (double)smallest);
    else dmi_buf_puts(b, "null");
}

typedef struct profile_work {
    size_t *chars, *tokens, *cluster;
    uint64_t *per_class;
    char *clean;
} profile_work;

static void profile_work_free(profile_work *w)
{
    free(w->chars);
    free(w->tokens);
    free(w->cluster);
    free(w->per_class);
    free(w->clean);
}

DM_API dm_status dm_dataset_profile(const dm_dataset *ds, const dm_profile_options *opts, char **json)
{
    if (json) *json = NULL;
    if (!ds) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_profile: ds is NULL");
    if (!json) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_profile: json is NULL");
    dm_profile_options o;
    dm_profile_options_default(&o);
    dm_status st = opts ? dmi_copy_options(&o, sizeof o, opts, "dm_profile_options") : DM_OK;
    if (st == DM_OK) st = check_profile_options(&o);
    if (st != DM_OK) return st;
    dm_dedup_options d;
    dm_dedup_options_default(&d);
    if (o.dedup && (st = dmi_copy_options(&d, sizeof d, o.dedup, "dm_profile_options.dedup")) != DM_OK)
        return st;
    if (!o.near_duplicates) d.exact_only = 1;

    size_t n = dm_dataset_size(ds), n_labels = dm_dataset_num_labels(ds);
    profile_work w = {0};
    w.chars = dmi_malloc((n ? n : 1) * sizeof *w.chars);
    w.cluster = dmi_malloc((n ? n : 1) * sizeof *w.cluster);
    w.per_class = dmi_calloc(n_labels ? n_labels : 1, sizeof *w.per_class);
    if (o.tokenizer) w.tokens = dmi_malloc((n ? n : 1) * sizeof *w.tokens);
    if (!w.chars || !w.cluster || !w.per_class || (o.tokenizer && !w.tokens)) {
        profile_work_free(&w);
        return DM_ERR_NO_MEMORY;
    }
    if (o.clean_report_json && (st = parse_clean_report(o.clean_report_json, &w.clean)) != DM_OK) {
        profile_work_free(&w);
        return st;
    }

    /* Progress: rows scanned, then tokenized (with a tokenizer), then deduplicated. */
    uint64_t phases = 2 + (o.tokenizer != NULL);
    progress pr = {o.progress, o.progress_user, 0, phases * (uint64_t)n};

    uint64_t letters[N_SCRIPTS] = {0}, unlabelled = 0, empty = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *t = dm_dataset_text(ds, i, &len);
        w.chars[i] = count_code_points(t, len);
        empty += scan_text(t, len, letters);
        int32_t l = dm_dataset_label(ds, i);
        if (l >= 0 && (size_t)l < n_labels) w.per_class[l]++;
        else unlabelled++;
    }
    st = progress_at(&pr, n);
    if (st == DM_OK && o.tokenizer) {
        pr.base = n;
        st = count_tokens(ds, o.tokenizer, w.tokens, &pr);
    }

    uint64_t exact = 0, near = 0, pairs = 0, conflicts = 0, conflict_rows = 0;
    progress dedup_pr = pr;
    dedup_pr.base = (phases - 1) * (uint64_t)n;
    if (st == DM_OK && !d.progress && o.progress) d.progress = progress_forward, d.progress_user = &dedup_pr;
    if (st == DM_OK && n > 0) {
        st = dmi_dedup_clusters(ds, &d, w.cluster, &exact, &near, &pairs);
        if (st != DM_OK && st != DM_ERR_CANCELLED)
            st = dmi_fail_prefix(st, "dm_dataset_profile: duplicates");
    }
    if (st == DM_OK && n_labels > 0 && n > 0) st = count_conflicts(ds, &conflicts, &conflict_rows);
    if (st == DM_OK) st = progress_at(&dedup_pr, n);
    if (st != DM_OK) {
        profile_work_free(&w);
        return st;
    }

    dmi_buf b = {0};
    emit_header(&b, ds, o.title ? o.title : "Dataset profile", w.per_class, unlabelled);
    dmi_buf_puts(&b, ",\"length_chars\":");
    st = emit_lengths(&b, w.chars, n);
    dmi_buf_puts(&b, ",\"length_tokens\":");
    if (st == DM_OK && w.tokens) st = emit_lengths(&b, w.tokens, n);
    else dmi_buf_puts(&b, "null");
    dmi_buf_printf(&b, ",\"empty\":%llu,\"exact_duplicates\":%llu", (unsigned long long)empty,
                   (unsigned long long)exact);
    if (o.near_duplicates)
        dmi_buf_printf(&b, ",\"near_duplicates\":%llu,\"near_pairs\":%llu", (unsigned long long)near,
                       (unsigned long long)pairs);
    else
        dmi_buf_puts(&b, ",\"near_duplicates\":null,\"near_pairs\":null");
    dmi_buf_puts(&b, ",\"duplicate_clusters\":");
    size_t n_clusters = 0;
    if (st == DM_OK) st = emit_clusters(&b, ds, w.cluster, n, &n_clusters);
    dmi_buf_printf(&b, ",\"duplicate_cluster_count\":%zu,\"conflicts\":", n_clusters);
    if (n_labels > 0)
        dmi_buf_printf(&b, "%llu,\"rows_in_conflict\":%llu", (unsigned long long)conflicts,
                       (unsigned long long)conflict_rows);
    else
        dmi_buf_puts(&b, "null,\"rows_in_conflict\":null");

    uint64_t total_letters = 0;
    for (int s = 0; s < N_SCRIPTS; s++) total_letters += letters[s];
    dmi_buf_printf(&b, ",\"letters\":%llu,\"scripts\":{", (unsigned long long)total_letters);
    for (int s = 0; s < N_SCRIPTS; s++) {
        dmi_buf_printf(&b, "%s\"%s\":", s ? "," : "", script_names[s]);
        json_double(&b, total_letters ? (double)letters[s] / (double)total_letters : 0.0);
    }
    size_t skipped = dm_dataset_skipped(ds);
    dmi_buf_printf(&b, "},\"skipped\":%zu,\"skipped_rows\":[", skipped);
    for (size_t i = 0; i < skipped && i < PROFILE_MAX_SKIPPED; i++) {
        size_t line = 0;
        const char *reason = "";
        if (dm_dataset_skipped_row(ds, i, &line, &reason) != DM_OK) reason = "";
        dmi_buf_printf(&b, "%s{\"line\":%zu,\"reason\":", i ? "," : "", line);
        dmi_buf_json_string(&b, reason, strlen(reason));
        dmi_buf_append(&b, "}", 1);
    }
    dmi_buf_puts(&b, "],\"clean\":");
    dmi_buf_puts(&b, w.clean ? w.clean : "null");
    dmi_buf_append(&b, "}", 1);
    profile_work_free(&w);
    if (st != DM_OK) {
        dmi_buf_free(&b);
        return st;
    }
    return dmi_buf_finish(&b, json, NULL);
}
