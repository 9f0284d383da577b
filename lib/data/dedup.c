/*
 * dedup.c — exact and MinHash-LSH near-duplicate detection, leakage across
 * splits, label conflicts.
 *
 * The pipeline (dd_run) over the rows considered:
 *   1. key of every row: the normalised text (NFKC + case folding +
 *      whitespace collapsed, utf8proc), "\x1f" and the normalised pair when
 *      the dataset has pairs (rows in parallel);
 *   2. exact groups: a 64-bit hash of the key in an open-addressing table,
 *      bytes compared on equal hashes; the first row of a group is kept;
 *   3. near duplicates among the first rows of the groups: shingles are
 *      character N-grams over code points (a text shorter than N is one
 *      shingle), hashed to 64 bits; MinHash with NUM_PERM permutations
 *      h_i(x) = a_i * x + b_i mod 2^32 over the 32-bit pre-mixed shingle
 *      hash, a_i odd (a bijection, so the permutation adds no collisions):
 *      datasketch's default "affine32" scheme since 2.0.0, chosen over the
 *      legacy mod 2^61-1 form because a 32-bit multiply-add-min runs 8 or 16
 *      permutations per vector instruction; a_i, b_i are Philox draws from
 *      the seed. LSH banding (bands x rows): by default recall first when
 *      candidates are verified (recall_bands), datasketch's MinHashLSH choice
 *      when not (optimal_bands); rows whose band values agree are candidates (per band: radix sort
 *      of (band hash, row), then buckets);
 *   4. candidate pairs: every pair of a bucket of up to BUCKET_ALL_PAIRS
 *      rows; a larger bucket (a template text repeated with small changes)
 *      gives each member's pair with the bucket's first row and with the
 *      member just before it (a star and a chain: 2k pairs, not k^2/2).
 *      Members of one band bucket agree on ROWS minhash values, so they are
 *      nearly always near copies of each other: the star finds them all, and
 *      the chain catches the members that drifted from the first. Clusters
 *      are connected components, so the cluster is the same; only a pair
 *      the star and chain skip goes unlisted in the report;
 *   5. verification (verify=1): exact Jaccard of the sorted 64-bit shingle
 *      hash sets (merge count), computed only for rows in a candidate pair;
 *      a pair with a row over 1 MiB is compared slice by slice of the hash
 *      space, so that its memory does not grow with the row;
 *   6. clusters: union-find over the kept pairs in (a, b) order, the root the
 *      smallest row, so that the result is the same on any thread count;
 *   7. (dm_dataset_dedup) the rows kept: per cluster its first row, the
 *      first labelled one when there is one, or, when its rows carry two or
 *      more labels, what the label_conflicts policy says (reported).
 * Shingles are streamed a block at a time (shingler) into MinHash and into
 * the sets: nothing per row is as long as the row but its normalised key,
 * freed once the pairs are known. One 50 MB row peaks at ~2x its size.
 */
#include "ops.h"

#include "core/rng.h"
#include "core/utf8.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <utf8proc.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__) /* sanitizers instrument the ifunc resolver, which runs before them */
/* One copy of the MinHash loop per instruction set, picked at load time. */
#  define DMI_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#  define DMI_VECTOR_CLONES
#endif

#define BUCKET_ALL_PAIRS 128 /* larger LSH buckets give star + chain pairs */
#define ROW_CHUNK 4096       /* rows between two progress calls */
#define MAX_NUM_PERM 8192

/* ------------------------------------------------------------------ hashes */

static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
}

/* A well-mixed 64-bit hash of bytes (8 at a time, multiply-xor, finalised). */
static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ fmix64(w)) * 0x9FB21C651E98DF25ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, len - i);
    return fmix64(h ^ w ^ ((uint64_t)(len - i) << 56));
}

/* --------------------------------------------------------------- options */

DM_API void dm_dedup_options_default(dm_dedup_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->normalize = 1;
    opts->ngram = 5;
    opts->threshold = 0.8;
    opts->num_perm = 128;
    opts->verify = 1;
    opts->seed = 1;
    opts->label_conflicts = DM_CONFLICT_KEEP; /* never merge away a label */
}

/* Composite Gauss-Legendre quadrature (GL_SUB panels of GL_N points): the
 * integrands are smooth polynomials of degree up to NUM_PERM, so this matches
 * scipy's adaptive quad (datasketch's integrator) to ~1e-13. */
#define GL_N 10
#define GL_SUB 32

static void gauss_legendre(double *x, double *w)
{
    for (int i = 0; i < GL_N; i++) {
        double z = cos(M_PI * (i + 0.75) / (GL_N + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = 0;
            for (int k = 1; k <= GL_N; k++) {
                double p2 = p1;
                p1 = p0;
                p0 = ((2.0 * k - 1) * z * p1 - (k - 1.0) * p2) / k;
            }
            dp = GL_N * (z * p0 - p1) / (z * z - 1);
            double dz = p0 / dp;
            z -= dz;
            if (fabs(dz) < 1e-16) break;
        }
        x[i] = z;
        w[i] = 2 / ((1 - z * z) * dp * dp);
    }
}

/* The probability that a pair of Jaccard S shares a band: 1 - (1 - s^r)^b.
 * FALSE_NEG integrates its complement. */
static double integrate_band(double lo, double hi, double b, double r, bool false_neg, const double *gx,
                             const double *gw)
{
    double sum = 0, h = (hi - lo) / GL_SUB;
    for (int p = 0; p < GL_SUB; p++) {
        double mid = lo + (p + 0.5) * h;
        for (int i = 0; i < GL_N; i++) {
            double s = mid + 0.5 * h * gx[i];
            double q = pow(1 - pow(s, r), b); /* 1 - P(candidate) */
            sum += gw[i] * 0.5 * h * (false_neg ? q : 1 - q);
        }
    }
    return sum;
}

/* datasketch's MinHashLSH._optimal_param(threshold, num_perm, 0.5, 0.5): the
 * (bands, rows) with b*r <= num_perm minimising the false positive area
 * below the threshold plus the false negative area above it (first minimum
 * in b-major order). */
static void optimal_bands(double threshold, size_t num_perm, size_t *bands, size_t *rows)
{
    static _Thread_local double cached_t = -1;
    static _Thread_local size_t cached_p, cached_b, cached_r;
    if (cached_t == threshold && cached_p == num_perm) {
        *bands = cached_b, *rows = cached_r;
        return;
    }
    double gx[GL_N], gw[GL_N];
    gauss_legendre(gx, gw);
    double best = INFINITY;
    size_t bb = 1, br = 1;
    for (size_t b = 1; b <= num_perm; b++)
        for (size_t r = 1; r <= num_perm / b; r++) {
            double fp = integrate_band(0, threshold, (double)b, (double)r, false, gx, gw);
            double fn = integrate_band(threshold, 1, (double)b, (double)r, true, gx, gw);
            double err = 0.5 * fp + 0.5 * fn;
            if (err < best) best = err, bb = b, br = r;
        }
    cached_t = threshold, cached_p = num_perm, cached_b = bb, cached_r = br;
    *bands = bb, *rows = br;
}

/* With verification on, a false candidate costs one exact Jaccard and cannot
 * become a wrong answer, while a missed candidate is a missed duplicate: so
 * the default favours recall. Among b x r <= num_perm it takes the most rows
 * per band (fewest false candidates) for which a pair at exactly the
 * threshold still becomes a candidate with probability >= RECALL_TARGET
 * (bands = num_perm / r, as many as fit); pairs above the threshold do so
 * more often. 128 permutations at 0.8: 21 x 6 (0.998), where datasketch's
 * balanced choice, 9 x 13, gives 0.40. */
#define RECALL_TARGET 0.99

static void recall_bands(double threshold, size_t num_perm, size_t *bands, size_t *rows)
{
    size_t best_r = 1;
    for (size_t r = 1; r <= num_perm; r++) {
        double b = (double)(num_perm / r);
        if (1 - pow(1 - pow(threshold, (double)r), b) >= RECALL_TARGET) best_r = r;
    }
    *rows = best_r, *bands = num_perm / best_r;
}

static dm_status check_flag(int v, const char *fn, const char *name)
{
    if (v == 0 || v == 1) return DM_OK;
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_dedup_options.%s must be 0 or 1, got %d", fn, name, v);
}

/* Copies IN (NULL: defaults) into O, checks every field and fills bands and
 * rows_per_band. FN names the caller in messages. */
static dm_status resolve_options(const dm_dedup_options *in, const char *fn, dm_dedup_options *o)
{
    dm_dedup_options_default(o);
    if (in && dmi_copy_options(o, sizeof *o, in, "dm_dedup_options")) return dmi_fail_prefix(DM_ERR_INVALID_ARGUMENT, "%s", fn);
    dm_status st = check_flag(o->exact_only, fn, "exact_only");
    if (!st) st = check_flag(o->normalize, fn, "normalize");
    if (!st) st = check_flag(o->verify, fn, "verify");
    if (!st) st = check_flag(o->report_pairs, fn, "report_pairs");
    if (st) return st;
    if (o->label_conflicts < DM_CONFLICT_KEEP || o->label_conflicts > DM_CONFLICT_KEEP_FIRST)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: dm_dedup_options.label_conflicts must be a dm_conflict_policy (0 keep, 1 drop_all, "
                        "2 majority, 3 keep_first), got %d", fn, o->label_conflicts);
    if (!(o->threshold > 0 && o->threshold <= 1))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_dedup_options.threshold must be in (0, 1], got %g", fn,
                        o->threshold);
    if (o->ngram == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_dedup_options.ngram must be >= 1 (code points), got 0", fn);
    if (o->num_perm == 0 || o->num_perm > MAX_NUM_PERM)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_dedup_options.num_perm must be in 1..%d, got %zu", fn,
                        MAX_NUM_PERM, o->num_perm);
    if (o->threads < 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_dedup_options.threads must be >= 0 (0 = all cores), got %d",
                        fn, o->threads);
    if (o->bands > o->num_perm || o->rows_per_band > o->num_perm ||
        (o->bands && o->rows_per_band && o->bands * o->rows_per_band > o->num_perm))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: dm_dedup_options.bands * rows_per_band must be <= num_perm: %zu * %zu > %zu", fn,
                        o->bands, o->rows_per_band ? o->rows_per_band : 1, o->num_perm);
    /* Both 0: recall first when candidates are verified, else datasketch's
     * balanced choice; one given: the other fills num_perm. */
    if (!o->bands && !o->rows_per_band && o->verify)
        recall_bands(o->threshold, o->num_perm, &o->bands, &o->rows_per_band);
    else if (!o->bands && !o->rows_per_band)
        optimal_bands(o->threshold, o->num_perm, &o->bands, &o->rows_per_band);
    else if (!o->bands) o->bands = o->num_perm / o->rows_per_band;
    else if (!o->rows_per_band) o->rows_per_band = o->num_perm / o->bands;
    return DM_OK;
}

static int thread_count(const dm_dedup_options *o)
{
    return o->threads > 0 ? o->threads : dmi_cpu_count();
}

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

/* The output: bytes written and whether a space is due before the next
 * non-space (never at the start: the text is trimmed). */
typedef struct norm_out {
    char *p;
    size_t w, cap;
    bool pending;
} norm_out;

static bool out_reserve(norm_out *o, size_t more)
{
    if (o->w + more + 2 <= o->cap) return true;
    /* By half again, not double: the output starts as long as the input, and
     * a long row that grows a little (NFKC expands ligatures, fractions)
     * should not cost a second copy of it. */
    size_t grown = o->cap + o->cap / 2;
    size_t cap = grown > o->w + more + 2 ? grown : o->w + more + 2;
    char *p = realloc(o->p, cap);
    if (!p) return false;
    o->p = p, o->cap = cap;
    return true;
}

static inline void out_space(norm_out *o)
{
    if (o->w) o->pending = true;
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
        if (m < 0) return false;
        if ((size_t)m <= *cap) break;
        utf8proc_int32_t *b = malloc((size_t)m * sizeof *b);
        if (!b) return false;
        if (*buf != stack) free(*buf);
        *buf = b, *cap = (size_t)m;
    }
    m = utf8proc_normalize_utf32(*buf, m, NORM_OPTIONS);
    if (m < 0 || !out_reserve(o, 5 * (size_t)m)) return false;
    for (utf8proc_ssize_t i = 0; i < m; i++) {
        int32_t cp = (*buf)[i];
        if (is_space(cp)) {
            out_space(o);
        } else {
            if (o->pending) o->p[o->w++] = ' ', o->pending = false;
            o->w += (size_t)put_utf8(o->p + o->w, cp);
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
    norm_out o = {malloc(len + 32), 0, len + 32, false};
    utf8proc_int32_t stack[64], *buf = stack;
    size_t buf_cap = 64;
    /* The last simple code point: where it starts and the output before it. */
    size_t last_in = 0, last_w = 0;
    bool last_pending = false, have_last = false;
    if (!o.p) goto no_memory;
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            /* A run of ASCII: at most one byte out per byte in, plus a space. */
            if (!out_reserve(&o, len - i + 1)) goto no_memory;
            char *p = o.p;
            size_t w = o.w;
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
            o.w = w, o.pending = pending, have_last = true;
            continue;
        }
        if (o.w + 16 > o.cap && !out_reserve(&o, 16)) goto no_memory;
        size_t at = i, at_w = o.w;
        bool at_pending = o.pending;
        {
            int32_t cp;
            int k = decode_utf8(s + i, len - i, &cp);
            if (!k) goto invalid;
            uint16_t e = fold_lookup(cp);
            /* 16 bytes of room: fixed-size copies, no memcpy calls. */
            if (e == FOLD_SAME) {
                char *d = o.p + o.w;
                *d = ' ';
                d += o.pending, o.pending = false;
                d[0] = text[i], d[1] = text[i + 1];
                if (k > 2) d[2] = text[i + 2];
                if (k > 3) d[3] = text[i + 3];
                o.w = (size_t)(d - o.p) + (size_t)k;
            } else if (e != FOLD_SLOW) {
                const fold_exc *x = &fold_excs[e];
                if (x->space) {
                    out_space(&o);
                } else {
                    char *d = o.p + o.w;
                    *d = ' ';
                    d += o.pending, o.pending = false;
                    memcpy(d, x->s, sizeof x->s);
                    o.w = (size_t)(d - o.p) + x->len;
                }
            } else {
                /* From the simple code point before (undone) to the next one. */
                size_t from = at;
                if (have_last) from = last_in, o.w = last_w, o.pending = last_pending;
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
    o.p[o.w] = '\0';
    *out = o.p, *out_len = o.w;
    return DM_OK;
invalid:
    /* Invalid UTF-8 (kept by the loader's policy): compared as is. */
    if (buf != stack) free(buf);
    free(o.p);
    return dmi_dedup_normalize_slow(text, len, out, out_len);
no_memory:
    if (buf != stack) free(buf);
    free(o.p);
    return dmi_fail(DM_ERR_NO_MEMORY, "dmi_dedup_normalize: out of memory");
}

/* ----------------------------------------------------------------- state */

typedef struct dd_pair {
    uint32_t a, b;  /* rows considered, a < b */
    double jaccard; /* exact (verify) or MinHash estimate */
} dd_pair;

typedef struct dd_state {
    dm_dedup_options o;
    const dm_dataset *ds;
    size_t m;           /* rows considered */
    const size_t *rows; /* their dataset rows (NULL: 0 .. m-1) */
    char **keys;
    size_t *lens;
    size_t *first;      /* per row: the first row with the same key */
    uint64_t exact_rows;
    uint32_t *uniq;     /* first rows of the exact groups, ascending */
    size_t n_uniq;
    dd_pair *pairs;     /* near pairs kept, (a, b) ascending */
    size_t n_pairs;
    uint64_t candidates;
    size_t *cluster;    /* per row: smallest row of its cluster */
    uint64_t near_rows;
} dd_state;

static size_t ds_row(const dd_state *s, size_t i) { return s->rows ? s->rows[i] : i; }

/* The normalised keys are needed only to find the pairs: freeing them then
 * keeps a long row from being held twice while the output is built. */
static void dd_free_keys(dd_state *s)
{
    if (s->keys)
        for (size_t i = 0; i < s->m; i++) free(s->keys[i]);
    free(s->keys);
    free(s->lens);
    s->keys = NULL, s->lens = NULL;
}

static void dd_free(dd_state *s)
{
    dd_free_keys(s);
    free(s->first);
    free(s->uniq);
    free(s->pairs);
    free(s->cluster);
    memset(s, 0, sizeof *s);
}

static dm_status cancelled(const char *fn)
{
    return dmi_fail(DM_ERR_CANCELLED, "%s: cancelled by the progress callback", fn);
}

/* Reports progress: normalising and hashing each count half a row. */
static bool progress_stop(const dd_state *s, uint64_t half_rows)
{
    return s->o.progress && s->o.progress(half_rows / 2, s->m, s->o.progress_user) != 0;
}

/* Row I's key: its normalised text (and "\x1f" + normalised pair). */
static dm_status make_key(const dd_state *s, size_t i, char **key, size_t *len)
{
    size_t r = ds_row(s, i), tl, pl = 0;
    const char *t = dm_dataset_text(s->ds, r, &tl);
    const char *p = dm_dataset_pair(s->ds, r, &pl);
    if (!t) t = "", tl = 0;
    char *nt, *np = NULL;
    size_t ntl, npl = 0;
    if (s->o.normalize) {
        dm_status st = dmi_dedup_normalize(t, tl, &nt, &ntl);
        if (st) return st;
        if (p && (st = dmi_dedup_normalize(p, pl, &np, &npl))) {
            free(nt);
            return st;
        }
    } else {
        nt = dmi_strndup(t, tl), ntl = tl;
        if (!nt) return DM_ERR_NO_MEMORY;
        if (p && !(np = dmi_strndup(p, pl))) {
            free(nt);
            return DM_ERR_NO_MEMORY;
        }
        npl = pl;
    }
    if (p) {
        char *k = dmi_realloc(nt, ntl + 1 + npl + 1);
        if (!k) {
            free(nt), free(np);
            return DM_ERR_NO_MEMORY;
        }
        k[ntl] = '\x1f';
        memcpy(k + ntl + 1, np, npl + 1);
        free(np);
        nt = k, ntl += 1 + npl;
    }
    *key = nt, *len = ntl;
    return DM_OK;
}

static dm_status make_keys(dd_state *s, const char *fn)
{
    s->keys = dmi_calloc(s->m ? s->m : 1, sizeof *s->keys);
    s->lens = dmi_calloc(s->m ? s->m : 1, sizeof *s->lens);
    if (!s->keys || !s->lens) return DM_ERR_NO_MEMORY;
    int threads = thread_count(&s->o);
    for (size_t c0 = 0; c0 < s->m; c0 += ROW_CHUNK) {
        size_t c1 = c0 + ROW_CHUNK < s->m ? c0 + ROW_CHUNK : s->m;
        int failed = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64) reduction(| : failed)
        for (size_t i = c0; i < c1; i++)
            if (make_key(s, i, &s->keys[i], &s->lens[i])) failed = 1;
        if (failed) return dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory normalising texts", fn);
        if (progress_stop(s, c1)) return cancelled(fn);
    }
    return DM_OK;
}

/* Exact groups: FIRST[i] = first row with row I's key. */
static dm_status exact_groups(dd_state *s)
{
    size_t cap = 16;
    while (cap < 2 * s->m) cap *= 2;
    size_t *slots = dmi_calloc(cap, sizeof *slots); /* row + 1, 0 = empty */
    uint64_t *hashes = dmi_malloc((s->m ? s->m : 1) * sizeof *hashes);
    s->first = dmi_malloc((s->m ? s->m : 1) * sizeof *s->first);
    s->uniq = dmi_malloc((s->m ? s->m : 1) * sizeof *s->uniq);
    if (!slots || !hashes || !s->first || !s->uniq) {
        free(slots), free(hashes);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < s->m; i++) hashes[i] = hash_bytes(s->keys[i], s->lens[i]);
    for (size_t i = 0; i < s->m; i++) {
        size_t at = hashes[i] & (cap - 1);
        for (;;) {
            size_t j = slots[at];
            if (!j) {
                slots[at] = i + 1;
                s->first[i] = i;
                s->uniq[s->n_uniq++] = (uint32_t)i;
                break;
            }
            j--;
            if (hashes[j] == hashes[i] && s->lens[j] == s->lens[i] && !memcmp(s->keys[j], s->keys[i], s->lens[i])) {
                s->first[i] = j;
                s->exact_rows++;
                break;
            }
            at = (at + 1) & (cap - 1);
        }
    }
    free(slots), free(hashes);
    return DM_OK;
}

/* --------------------------------------------------------------- shingles */

/* The code point of S at *AT, moving *AT past it. An invalid byte counts as
 * one code point 0x110000 + byte, a value no real character has. */
static inline uint32_t next_cp(const char *s, size_t len, size_t *at)
{
    unsigned char b = (unsigned char)s[*at];
    if (b < 0x80) {
        (*at)++;
        return b;
    }
    uint32_t cp;
    size_t bad = 1;
    size_t k = dmi_utf8_decode((const uint8_t *)s + *at, len - *at, &cp, &bad);
    if (k == 0) {
        (*at)++;
        return 0x110000u + b;
    }
    *at += k;
    return cp;
}

#define SHINGLE_MUL 0x100000001B3ull /* odd: the polynomial base */
#define SHINGLE_BLOCK 4096           /* hashes handed out at a time */

/* The 64-bit hashes of a text's N-grams of code points, a block at a time:
 * a rolling polynomial hash finalised with fmix64 and the length, or one
 * hash of the whole text when it is shorter than N. The code point leaving
 * the window is decoded again by a second cursor (TRAIL) rather than kept,
 * so that nothing grows with the text: one 50 MB row used to need 16 bytes
 * per code point here (code points, hashes, MinHash input: 800 MB). */
typedef struct shingler {
    const char *s;
    size_t len, n;
    size_t lead, trail; /* byte offsets of the window's end and start */
    uint64_t h, pow_n;  /* the window's hash; SHINGLE_MUL^N */
    bool started, done;
} shingler;

static void shingler_init(shingler *g, const char *s, size_t len, size_t n)
{
    memset(g, 0, sizeof *g);
    g->s = s, g->len = len, g->n = n;
}

/* The first window: N code points, or the whole shorter text (one hash). */
static size_t shingler_start(shingler *g, uint64_t *out)
{
    uint64_t h = 0, pow_n = 1;
    size_t ncp = 0;
    g->started = true;
    while (ncp < g->n && g->lead < g->len) {
        h = h * SHINGLE_MUL + next_cp(g->s, g->len, &g->lead) + 1;
        pow_n *= SHINGLE_MUL;
        ncp++;
    }
    g->h = h, g->pow_n = pow_n;
    out[0] = fmix64(h ^ ((uint64_t)ncp << 40));
    g->done = ncp < g->n || g->lead >= g->len;
    return 1;
}

/* Up to SHINGLE_BLOCK next hashes into OUT; 0 once the text is done. Every
 * text gives at least one. */
static size_t shingler_next(shingler *g, uint64_t *out)
{
    if (g->done) return 0;
    size_t k = g->started ? 0 : shingler_start(g, out);
    const uint64_t tag = (uint64_t)g->n << 40;
    uint64_t h = g->h;
    while (k < SHINGLE_BLOCK && !g->done) {
        uint32_t in = next_cp(g->s, g->len, &g->lead), gone = next_cp(g->s, g->len, &g->trail);
        h = h * SHINGLE_MUL + in + 1 - g->pow_n * (gone + 1);
        out[k++] = fmix64(h ^ tag);
        g->done = g->lead >= g->len;
    }
    g->h = h;
    return k;
}

static void insertion_sort_u64(uint64_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        size_t j = i;
        while (j > 0 && a[j - 1] > v) a[j] = a[j - 1], j--;
        a[j] = v;
    }
}

/* Quicksort (median of three, smaller side first); small parts by insertion. */
static void sort_u64(uint64_t *a, size_t n)
{
    while (n > 24) {
        uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
        uint64_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i >= j) break;
            uint64_t t = a[i];
            a[i] = a[j], a[j] = t;
            i++, j--;
        }
        size_t left = j + 1;
        if (left < n - left) {
            sort_u64(a, left);
            a += left, n -= left;
        } else {
            sort_u64(a + left, n - left);
            n = left;
        }
    }
    insertion_sort_u64(a, n);
}

static size_t unique_u64(uint64_t *a, size_t n)
{
    if (!n) return 0;
    size_t w = 1;
    for (size_t i = 1; i < n; i++)
        if (a[i] != a[w - 1]) a[w++] = a[i];
    return w;
}

/* Size of the intersection of two sorted sets. */
static size_t intersect_count(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        uint64_t x = a[i], y = b[j];
        c += x == y;
        i += x <= y;
        j += y <= x;
    }
    return c;
}

/* ---------------------------------------------------------------- MinHash */

/* SIG[k] = min(SIG[k], A[k] * X[i] + B[k] mod 2^32 over the shingles X[i]),
 * 64 permutations at a time so the minima stay in vector registers. Called
 * once per block of a row's shingles, SIG starting at UINT32_MAX: the
 * minimum of the blocks' minima is the row's. */
DMI_VECTOR_CLONES
static void minhash_update(const uint32_t *x, size_t nx, const uint32_t *a, const uint32_t *b, size_t num_perm,
                           uint32_t *sig)
{
    size_t p0 = 0;
    for (; p0 + 64 <= num_perm; p0 += 64) {
        uint32_t acc[64];
        memcpy(acc, sig + p0, sizeof acc);
        for (size_t i = 0; i < nx; i++) {
            uint32_t xi = x[i];
            for (int k = 0; k < 64; k++) {
                uint32_t v = a[p0 + k] * xi + b[p0 + k];
                acc[k] = v < acc[k] ? v : acc[k];
            }
        }
        memcpy(sig + p0, acc, sizeof acc);
    }
    for (size_t i = 0; i < nx; i++)
        for (size_t k = p0; k < num_perm; k++) {
            uint32_t v = a[k] * x[i] + b[k];
            sig[k] = v < sig[k] ? v : sig[k];
        }
}

/* Row I's MinHash signature over the high 32 bits of its shingle hashes,
 * streamed a block at a time (SH, X: SHINGLE_BLOCK entries of scratch). */
static void row_signature(const dd_state *s, size_t i, const uint32_t *a, const uint32_t *b, uint64_t *sh,
                          uint32_t *x, uint32_t *sig)
{
    for (size_t k = 0; k < s->o.num_perm; k++) sig[k] = UINT32_MAX;
    shingler g;
    shingler_init(&g, s->keys[i], s->lens[i], s->o.ngram);
    for (size_t k; (k = shingler_next(&g, sh)) > 0;) {
        for (size_t j = 0; j < k; j++) x[j] = (uint32_t)(sh[j] >> 32);
        minhash_update(x, k, a, b, s->o.num_perm, sig);
    }
}

/* Sorted unique shingle hashes of row I into OUT, which has room for
 * lens[i] + 1 (a text's bytes bound its shingles); returns their count. */
static size_t row_shingle_set(const dd_state *s, size_t i, uint64_t *out)
{
    shingler g;
    shingler_init(&g, s->keys[i], s->lens[i], s->o.ngram);
    size_t n = 0;
    for (size_t k; (k = shingler_next(&g, out + n)) > 0;) n += k;
    sort_u64(out, n);
    return unique_u64(out, n);
}

/* The band hashes of unique row U's signature. */
static void band_keys(const uint32_t *sig, size_t bands, size_t rows, uint64_t *out)
{
    for (size_t j = 0; j < bands; j++) {
        uint64_t h = 0x243F6A8885A308D3ull;
        for (size_t k = 0; k < rows; k++) h = (h ^ sig[j * rows + k]) * 0x9E3779B97F4A7C15ull, h ^= h >> 32;
        out[j] = fmix64(h);
    }
}

/* ---------------------------------------------------------- radix sorting */

typedef struct kv {
    uint64_t key;
    uint64_t val;
} kv;

/* Stable LSD radix sort by KEY (8-bit digits; a digit equal everywhere is
 * skipped). TMP holds N entries. */
static void radix_sort_kv(kv *a, kv *tmp, size_t n)
{
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((a[i].key >> shift) & 255) + 1]++;
        bool trivial = false;
        for (int d = 1; d <= 256; d++) trivial |= count[d] == n;
        if (trivial) continue;
        for (int d = 0; d < 256; d++) count[d + 1] += count[d];
        for (size_t i = 0; i < n; i++) tmp[count[(a[i].key >> shift) & 255]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

/* A growable array of candidate pairs (a << 32 | b). */
typedef struct pairvec {
    kv *v;
    size_t n, cap;
    bool failed;
} pairvec;

static void pairvec_push(pairvec *p, uint32_t a, uint32_t b)
{
    if (p->failed) return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        kv *v = realloc(p->v, cap * sizeof *v);
        if (!v) {
            p->failed = true;
            return;
        }
        p->v = v, p->cap = cap;
    }
    p->v[p->n++] = (kv){(uint64_t)a << 32 | b, 0};
}

/* Candidate pairs of one band: ENTRIES (band hash, row) sorted by hash, rows
 * ascending within a bucket. */
static void bucket_pairs(const kv *e, size_t n, pairvec *out)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && e[j].key == e[i].key) j++;
        size_t k = j - i;
        if (k <= BUCKET_ALL_PAIRS) {
            for (size_t x = i; x < j; x++)
                for (size_t y = x + 1; y < j; y++) pairvec_push(out, (uint32_t)e[x].val, (uint32_t)e[y].val);
        } else {
            for (size_t y = i + 1; y < j; y++) {
                pairvec_push(out, (uint32_t)e[i].val, (uint32_t)e[y].val);
                if (y > i + 1) pairvec_push(out, (uint32_t)e[y - 1].val, (uint32_t)e[y].val);
            }
        }
        i = j;
    }
}

/* --------------------------------------------------------- near duplicates */

/* Signatures and band hashes of the unique rows (in parallel), then the
 * candidate pairs per band; *CAND gets them sorted and unique (keys are
 * a << 32 | b in rows considered). SIGS (verify=0 only) keeps signatures. */
static dm_status lsh_candidates(dd_state *s, const char *fn, pairvec *cand, uint32_t **sigs_out)
{
    size_t P = s->o.num_perm, B = s->o.bands, R = s->o.rows_per_band, U = s->n_uniq;
    int threads = thread_count(&s->o);
    uint32_t *pa = dmi_malloc(P * sizeof *pa), *pb = dmi_malloc(P * sizeof *pb);
    uint64_t *keys = dmi_malloc((U ? U : 1) * B * sizeof *keys);
    uint32_t *sigs = s->o.verify ? NULL : dmi_malloc((U ? U : 1) * P * sizeof *sigs);
    dm_status st = DM_OK;
    if (!pa || !pb || !keys || (!s->o.verify && !sigs)) {
        st = DM_ERR_NO_MEMORY;
        goto done;
    }
    dmi_rng rng;
    dmi_rng_init(&rng, s->o.seed, 0x6D696E68617368ull /* "minhash" */);
    for (size_t k = 0; k < P; k++) pa[k] = dmi_rng_u32(&rng) | 1u, pb[k] = dmi_rng_u32(&rng);

    for (size_t c0 = 0; c0 < U && !st; c0 += ROW_CHUNK) {
        size_t c1 = c0 + ROW_CHUNK < U ? c0 + ROW_CHUNK : U;
        int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
        {
            /* Fixed scratch: a row's shingles are streamed, whatever its length. */
            uint64_t *sh = malloc(SHINGLE_BLOCK * sizeof *sh);
            uint32_t *x = malloc(SHINGLE_BLOCK * sizeof *x), *sig = malloc(P * sizeof *sig);
            if (!sh || !x || !sig) failed = 1;
#pragma omp for schedule(dynamic, 32)
            for (size_t u = c0; u < c1; u++) {
                if (failed) continue;
                uint32_t *out = sigs ? sigs + u * P : sig;
                row_signature(s, s->uniq[u], pa, pb, sh, x, out);
                band_keys(out, B, R, keys + u * B);
            }
            free(sh), free(x), free(sig);
        }
        if (failed) st = dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory computing MinHash signatures", fn);
        else if (progress_stop(s, s->m + (c1 < U ? s->uniq[c1] : s->m))) st = cancelled(fn);
    }
    if (st) goto done;

    /* Buckets per band, in parallel; each band's pairs in its own vector. */
    pairvec *per = dmi_calloc(B, sizeof *per);
    if (!per) {
        st = DM_ERR_NO_MEMORY;
        goto done;
    }
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        kv *e = malloc((U ? U : 1) * sizeof *e), *tmp = malloc((U ? U : 1) * sizeof *tmp);
        if (!e || !tmp) failed = 1;
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < B; j++) {
            if (failed) continue;
            for (size_t u = 0; u < U; u++) e[u] = (kv){keys[u * B + j], s->uniq[u]};
            radix_sort_kv(e, tmp, U);
            bucket_pairs(e, U, &per[j]);
            if (per[j].failed) failed = 1;
        }
        free(e), free(tmp);
    }
    size_t total = 0;
    for (size_t j = 0; j < B; j++) total += per[j].n;
    if (!failed) {
        cand->v = malloc((total ? total : 1) * sizeof *cand->v);
        kv *tmp = malloc((total ? total : 1) * sizeof *tmp);
        if (cand->v && tmp) {
            for (size_t j = 0; j < B; j++) {
                if (per[j].n) memcpy(cand->v + cand->n, per[j].v, per[j].n * sizeof *cand->v);
                cand->n += per[j].n;
            }
            radix_sort_kv(cand->v, tmp, cand->n);
            size_t w = 0;
            for (size_t i = 0; i < cand->n; i++)
                if (!w || cand->v[i].key != cand->v[w - 1].key) cand->v[w++] = cand->v[i];
            cand->n = w;
        } else failed = 1;
        free(tmp);
    }
    for (size_t j = 0; j < B; j++) free(per[j].v);
    free(per);
    if (failed) st = dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory collecting LSH candidate pairs", fn);

done:
    free(pa), free(pb), free(keys);
    if (st || !sigs_out) free(sigs);
    else *sigs_out = sigs;
    return st;
}

/* Rows longer than this are verified pair by pair in slices of the hash
 * space (large_pair_jaccard) instead of holding their whole shingle sets, 8
 * bytes per code point, from the start of verification to its end. */
#define LARGE_ROW_BYTES ((size_t)1 << 20)
/* Shingles one slice of a large row should hold (32 MiB): the slices are
 * as many as a row's bytes (a bound on its shingles) need. */
#define SLICE_HASHES ((size_t)1 << 22)

/* A set of 64-bit hashes being collected: appended, then sorted and
 * made unique whenever it fills, so that repeated shingles (a text that
 * repeats itself) take no room. */
typedef struct hash_set {
    uint64_t *v;
    size_t n, cap;
} hash_set;

static bool hash_set_add(hash_set *t, uint64_t h)
{
    if (t->n == t->cap) {
        sort_u64(t->v, t->n);
        t->n = unique_u64(t->v, t->n);
        if (t->n >= t->cap / 2) { /* mostly distinct (or empty): grow */
            size_t cap = t->cap < 4096 ? 4096 : t->cap + t->cap / 2;
            uint64_t *v = realloc(t->v, cap * sizeof *v);
            if (!v) return false;
            t->v = v, t->cap = cap;
        }
    }
    t->v[t->n++] = h;
    return true;
}

/* Row I's shingle hashes that fall in slice SLICE of SLICES (SLICES < 2^32;
 * by their high 32 bits), sorted and unique, into T; BUF: SHINGLE_BLOCK
 * entries. */
static bool slice_set(const dd_state *s, size_t i, size_t slice, size_t slices, hash_set *t, uint64_t *buf)
{
    shingler g;
    shingler_init(&g, s->keys[i], s->lens[i], s->o.ngram);
    t->n = 0;
    for (size_t k; (k = shingler_next(&g, buf)) > 0;)
        for (size_t j = 0; j < k; j++)
            if (((buf[j] >> 32) * slices >> 32) == slice && !hash_set_add(t, buf[j]))
                return false;
    sort_u64(t->v, t->n);
    t->n = unique_u64(t->v, t->n);
    return true;
}

/* The exact Jaccard of rows A and B, one slice of the hash space at a time:
 * the slices partition both sets, so intersections and sizes add up to the
 * whole sets' (the same double as the one-pass path). Memory: two slices,
 * whatever the rows' lengths; time: one pass over both rows per slice. */
static bool large_pair_jaccard(const dd_state *s, size_t a, size_t b, hash_set *ta, hash_set *tb, uint64_t *buf,
                               double *jac)
{
    size_t longest = s->lens[a] > s->lens[b] ? s->lens[a] : s->lens[b];
    size_t slices = longest / SLICE_HASHES + 1;
    uint64_t inter = 0, size_a = 0, size_b = 0;
    for (size_t k = 0; k < slices; k++) {
        if (!slice_set(s, a, k, slices, ta, buf) || !slice_set(s, b, k, slices, tb, buf)) return false;
        inter += intersect_count(ta->v, ta->n, tb->v, tb->n);
        size_a += ta->n, size_b += tb->n;
    }
    *jac = (double)inter / (double)(size_a + size_b - inter);
    return true;
}

static bool is_large(const dd_state *s, size_t i) { return s->lens[i] > LARGE_ROW_BYTES; }

/* Pairs with a large row, one after another (each holds two slices). */
static bool verify_large_pairs(dd_state *s, const pairvec *cand, double *jac)
{
    hash_set ta = {0}, tb = {0};
    uint64_t *buf = malloc(SHINGLE_BLOCK * sizeof *buf);
    bool ok = buf != NULL;
    for (size_t p = 0; ok && p < cand->n; p++) {
        size_t a = cand->v[p].key >> 32, b = cand->v[p].key & 0xFFFFFFFFu;
        if (is_large(s, a) || is_large(s, b)) ok = large_pair_jaccard(s, a, b, &ta, &tb, buf, &jac[p]);
    }
    free(ta.v), free(tb.v), free(buf);
    return ok;
}

/* Exact Jaccard of every candidate pair. The shingle sets of the rows in a
 * pair of two ordinary rows are built once (in parallel), then those pairs
 * are compared; pairs with a large row go through verify_large_pairs. */
static dm_status verify_pairs(dd_state *s, const pairvec *cand, double *jac)
{
    size_t m = s->m;
    int threads = thread_count(&s->o);
    size_t *off = dmi_calloc(m + 1, sizeof *off);
    size_t *cnt = dmi_calloc(m ? m : 1, sizeof *cnt);
    if (!off || !cnt) {
        free(off), free(cnt);
        return DM_ERR_NO_MEMORY;
    }
    /* off[i+1] - off[i]: room for row I's shingles (its bytes bound them);
     * 0 for rows in no pair of two ordinary rows. */
    for (size_t p = 0; p < cand->n; p++) {
        size_t a = cand->v[p].key >> 32, b = cand->v[p].key & 0xFFFFFFFFu;
        if (!is_large(s, a) && !is_large(s, b)) off[a + 1] = off[b + 1] = 1;
    }
    for (size_t i = 0; i < m; i++) off[i + 1] = off[i] + (off[i + 1] ? s->lens[i] + 1 : 0);
    uint64_t *sh = dmi_malloc((off[m] ? off[m] : 1) * sizeof *sh);
    if (!sh) {
        free(off), free(cnt);
        return DM_ERR_NO_MEMORY;
    }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64)
    for (size_t i = 0; i < m; i++)
        if (off[i + 1] != off[i]) cnt[i] = row_shingle_set(s, i, sh + off[i]);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256)
    for (size_t p = 0; p < cand->n; p++) {
        size_t a = cand->v[p].key >> 32, b = cand->v[p].key & 0xFFFFFFFFu;
        if (is_large(s, a) || is_large(s, b)) continue;
        size_t inter = intersect_count(sh + off[a], cnt[a], sh + off[b], cnt[b]);
        jac[p] = (double)inter / (double)(cnt[a] + cnt[b] - inter);
    }
    free(off), free(cnt), free(sh);
    if (!verify_large_pairs(s, cand, jac)) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory verifying candidate pairs");
    return DM_OK;
}

static dm_status near_pairs(dd_state *s, const char *fn)
{
    pairvec cand = {0};
    uint32_t *sigs = NULL;
    dm_status st = lsh_candidates(s, fn, &cand, s->o.verify ? NULL : &sigs);
    double *jac = NULL;
    if (!st) {
        s->candidates = cand.n;
        jac = dmi_malloc((cand.n ? cand.n : 1) * sizeof *jac);
        if (!jac) st = DM_ERR_NO_MEMORY;
    }
    if (!st && s->o.verify) st = verify_pairs(s, &cand, jac);
    if (!st && !s->o.verify) {
        /* Unverified: every candidate counts; its Jaccard is MinHash's
         * estimate (share of equal signature values). SIGS is per unique
         * row, so find each row's place in UNIQ. */
        size_t *pos = dmi_malloc((s->m ? s->m : 1) * sizeof *pos);
        if (!pos) st = DM_ERR_NO_MEMORY;
        for (size_t u = 0; pos && u < s->n_uniq; u++) pos[s->uniq[u]] = u;
        for (size_t p = 0; !st && p < cand.n; p++) {
            const uint32_t *x = sigs + pos[cand.v[p].key >> 32] * s->o.num_perm;
            const uint32_t *y = sigs + pos[cand.v[p].key & 0xFFFFFFFFu] * s->o.num_perm;
            size_t eq = 0;
            for (size_t k = 0; k < s->o.num_perm; k++) eq += x[k] == y[k];
            jac[p] = (double)eq / (double)s->o.num_perm;
        }
        free(pos);
    }
    if (!st) {
        s->pairs = dmi_malloc((cand.n ? cand.n : 1) * sizeof *s->pairs);
        if (!s->pairs) st = DM_ERR_NO_MEMORY;
        for (size_t p = 0; !st && p < cand.n; p++)
            if (!s->o.verify || jac[p] >= s->o.threshold)
                s->pairs[s->n_pairs++] =
                    (dd_pair){(uint32_t)(cand.v[p].key >> 32), (uint32_t)(cand.v[p].key & 0xFFFFFFFFu), jac[p]};
    }
    free(jac), free(sigs), free(cand.v);
    return st;
}

/* --------------------------------------------------------------- clusters */

static size_t uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* CLUSTER[i]: smallest row of row I's component over the exact groups and
 * the near pairs. */
static dm_status make_clusters(dd_state *s)
{
    s->cluster = dmi_malloc((s->m ? s->m : 1) * sizeof *s->cluster);
    if (!s->cluster) return DM_ERR_NO_MEMORY;
    size_t *c = s->cluster;
    for (size_t i = 0; i < s->m; i++) c[i] = i;
    for (size_t p = 0; p < s->n_pairs; p++) {
        size_t a = uf_find(c, s->pairs[p].a), b = uf_find(c, s->pairs[p].b);
        if (a < b) c[b] = a;
        else if (b < a) c[a] = b;
    }
    for (size_t i = 0; i < s->m; i++) {
        if (s->first[i] != i) continue;
        c[i] = uf_find(c, i);
        if (c[i] != i) s->near_rows++;
    }
    for (size_t i = 0; i < s->m; i++)
        if (s->first[i] != i) c[i] = c[s->first[i]]; /* the first is earlier: already final */
    return DM_OK;
}

/* The whole pipeline over the M rows ROWS (NULL: every row) of DS. */
static dm_status dd_run(dd_state *s, const dm_dataset *ds, const size_t *rows, size_t m,
                        const dm_dedup_options *o, const char *fn)
{
    memset(s, 0, sizeof *s);
    s->o = *o, s->ds = ds, s->rows = rows, s->m = m;
    if (m >= UINT32_MAX)
        return dmi_fail(DM_ERR_RANGE, "%s: %zu rows; at most %u are supported", fn, m, UINT32_MAX - 1);
    dm_status st = make_keys(s, fn);
    if (!st) st = exact_groups(s);
    if (!st && !s->o.exact_only) st = near_pairs(s, fn);
    dd_free_keys(s);
    if (!st) st = make_clusters(s);
    if (!st && s->o.progress && s->o.progress(m, m, s->o.progress_user)) st = cancelled(fn);
    return st;
}

dm_status dmi_dedup_clusters(const dm_dataset *ds, const dm_dedup_options *opts, size_t *cluster,
                             uint64_t *exact_rows, uint64_t *near_rows, uint64_t *near_pairs_out)
{
    static const char fn[] = "dmi_dedup_clusters";
    if (!ds || !cluster) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL dataset or output", fn);
    dm_dedup_options o;
    dm_status st = resolve_options(opts, fn, &o);
    if (st) return st;
    dd_state s;
    st = dd_run(&s, ds, NULL, dm_dataset_size(ds), &o, fn);
    if (!st) {
        memcpy(cluster, s.cluster, s.m * sizeof *cluster);
        if (exact_rows) *exact_rows = s.exact_rows;
        if (near_rows) *near_rows = s.near_rows;
        if (near_pairs_out) *near_pairs_out = s.n_pairs;
    }
    dd_free(&s);
    return st;
}

/* ------------------------------------------------------------------ dedup */

static void put_id(dmi_buf *b, const dm_dataset *ds, size_t row)
{
    const char *id = dm_dataset_id(ds, row);
    dmi_buf_json_string(b, id, strlen(id));
}

/* Every cluster's rows: cluster R (its smallest row) holds ORDER[START[R]
 * .. START[R+1]), ascending; the range is empty unless R is a root. */
typedef struct dd_members {
    size_t *start, *order;
} dd_members;

static void members_free(dd_members *g) { free(g->start), free(g->order); }

static dm_status cluster_members(const dd_state *s, dd_members *g)
{
    size_t m = s->m;
    g->start = dmi_calloc(m + 1, sizeof *g->start);
    g->order = dmi_malloc((m ? m : 1) * sizeof *g->order);
    size_t *fill = dmi_malloc((m ? m : 1) * sizeof *fill);
    if (!g->start || !g->order || !fill) {
        free(fill);
        members_free(g);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < m; i++) g->start[s->cluster[i] + 1]++;
    for (size_t r = 0; r < m; r++) g->start[r + 1] += g->start[r];
    memcpy(fill, g->start, m * sizeof *fill);
    for (size_t i = 0; i < m; i++) g->order[fill[s->cluster[i]]++] = i;
    free(fill);
    return DM_OK;
}

/* Up to 3 different texts of the N rows MEM of a cluster. */
static void put_texts(dmi_buf *b, const dd_state *s, const size_t *mem, size_t n)
{
    size_t shown[3], n_shown = 0;
    for (size_t k = 0; k < n && n_shown < 3; k++) {
        size_t tl, ol;
        const char *t = dm_dataset_text(s->ds, ds_row(s, mem[k]), &tl);
        bool seen = false;
        for (size_t q = 0; q < n_shown && !seen; q++) {
            const char *u = dm_dataset_text(s->ds, ds_row(s, shown[q]), &ol);
            seen = ol == tl && !memcmp(u, t, tl);
        }
        if (seen) continue;
        if (n_shown) dmi_buf_puts(b, ",");
        dmi_buf_json_string(b, t, tl);
        shown[n_shown++] = mem[k];
    }
}

/* The clusters of two or more rows: {kept (the first row kept, or null),
 * members, texts (up to 3 different member texts)}, ordered by their
 * smallest row. KEEP: the rows kept. */
static void put_clusters(dmi_buf *b, const dd_state *s, const dd_members *g, const bool *keep)
{
    dmi_buf_puts(b, "\"clusters\":[");
    bool first_cluster = true;
    for (size_t r = 0; r < s->m; r++) {
        const size_t *mem = g->order + g->start[r];
        size_t n = g->start[r + 1] - g->start[r];
        if (n < 2) continue;
        dmi_buf_puts(b, first_cluster ? "{\"kept\":" : ",{\"kept\":");
        first_cluster = false;
        size_t k = 0;
        while (k < n && !keep[mem[k]]) k++;
        if (k < n) put_id(b, s->ds, ds_row(s, mem[k]));
        else dmi_buf_puts(b, "null");
        dmi_buf_puts(b, ",\"members\":[");
        for (k = 0; k < n; k++) {
            if (k) dmi_buf_puts(b, ",");
            put_id(b, s->ds, ds_row(s, mem[k]));
        }
        dmi_buf_puts(b, "],\"texts\":[");
        put_texts(b, s, mem, n);
        dmi_buf_puts(b, "]}");
    }
    dmi_buf_puts(b, "]");
}

/* ------------------------------------------------- labels within clusters */

static const char *const policy_names[] = {"keep", "drop_all", "majority", "keep_first"};

/* Which rows dedup keeps, cluster by cluster, and the clusters whose rows
 * carry different labels. COUNT, TAKEN and SEEN are per label scratch, left
 * zeroed between clusters. */
typedef struct dd_choice {
    bool *keep;          /* per row considered */
    uint64_t *count;     /* per label: its rows in the cluster */
    bool *taken;         /* per label: a row with it is kept */
    int32_t *seen;       /* the cluster's labels, in order of first row */
    uint64_t conflicts, in_conflict, extra_kept, dropped;
    dmi_buf items;       /* conflict_clusters' entries */
} dd_choice;

static void choice_free(dd_choice *c)
{
    free(c->keep), free(c->count), free(c->taken), free(c->seen);
    dmi_buf_free(&c->items);
}

static int32_t row_label(const dd_state *s, size_t i) { return dm_dataset_label(s->ds, ds_row(s, i)); }

/* The one label a conflicting cluster keeps under POLICY (-1: every label
 * for keep, none for drop_all). */
static int32_t policy_label(const dd_choice *c, size_t n_labels, int policy)
{
    if (policy == DM_CONFLICT_KEEP_FIRST) return c->seen[0];
    if (policy != DM_CONFLICT_MAJORITY) return -1;
    int32_t best = c->seen[0];
    for (size_t k = 1; k < n_labels; k++)
        if (c->count[c->seen[k]] > c->count[best]) best = c->seen[k];
    return best;
}

/* conflict_clusters' entry of the N rows MEM: ids, labels, ids kept. */
static void put_conflict(dd_choice *c, const dd_state *s, const size_t *mem, size_t n)
{
    dmi_buf *b = &c->items;
    dmi_buf_puts(b, c->conflicts > 1 ? ",{\"ids\":[" : "{\"ids\":[");
    for (size_t k = 0; k < n; k++) {
        if (k) dmi_buf_puts(b, ",");
        put_id(b, s->ds, ds_row(s, mem[k]));
    }
    dmi_buf_puts(b, "],\"labels\":[");
    for (size_t k = 0; k < n; k++) {
        int32_t l = row_label(s, mem[k]);
        const char *name = l >= 0 ? dm_dataset_label_name(s->ds, l) : NULL;
        if (k) dmi_buf_puts(b, ",");
        if (name) dmi_buf_json_string(b, name, strlen(name));
        else dmi_buf_puts(b, "null");
    }
    dmi_buf_puts(b, "],\"kept\":[");
    bool first = true;
    for (size_t k = 0; k < n; k++)
        if (c->keep[mem[k]]) {
            if (!first) dmi_buf_puts(b, ",");
            put_id(b, s->ds, ds_row(s, mem[k]));
            first = false;
        }
    dmi_buf_puts(b, "]}");
}

/* One cluster of N >= 2 rows MEM. With no label, its first row is kept;
 * with one, its first labelled row (an unlabelled copy never displaces a
 * label); with two or more, the policy decides and the cluster is
 * reported. */
static void choose_in_cluster(dd_choice *c, const dd_state *s, const size_t *mem, size_t n, int policy)
{
    size_t n_labels = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t l = row_label(s, mem[k]);
        if (l >= 0 && !c->count[l]++) c->seen[n_labels++] = l;
    }
    bool conflict = n_labels >= 2;
    if (n_labels == 0) c->keep[mem[0]] = true;
    int32_t only = conflict ? policy_label(c, n_labels, policy) : n_labels ? c->seen[0] : -1;
    bool drop = conflict && policy == DM_CONFLICT_DROP_ALL;
    size_t kept = 0;
    for (size_t k = 0; k < n && n_labels && !drop; k++) {
        int32_t l = row_label(s, mem[k]);
        if (l < 0 || c->taken[l] || (only >= 0 && l != only)) continue;
        c->taken[l] = c->keep[mem[k]] = true;
        kept++;
    }
    if (conflict) {
        c->conflicts++;
        c->in_conflict += n;
        c->extra_kept += kept > 1 ? kept - 1 : 0;
        c->dropped += drop;
        put_conflict(c, s, mem, n);
    }
    for (size_t k = 0; k < n_labels; k++) c->count[c->seen[k]] = 0, c->taken[c->seen[k]] = false;
}

static dm_status choose_rows(dd_choice *c, const dd_state *s, const dd_members *g, int policy)
{
    size_t m = s->m, L = dm_dataset_num_labels(s->ds);
    memset(c, 0, sizeof *c);
    c->keep = dmi_calloc(m ? m : 1, sizeof *c->keep);
    c->count = dmi_calloc(L ? L : 1, sizeof *c->count);
    c->taken = dmi_calloc(L ? L : 1, sizeof *c->taken);
    c->seen = dmi_malloc((L ? L : 1) * sizeof *c->seen);
    if (!c->keep || !c->count || !c->taken || !c->seen) return DM_ERR_NO_MEMORY;
    for (size_t r = 0; r < m; r++) {
        const size_t *mem = g->order + g->start[r];
        size_t n = g->start[r + 1] - g->start[r];
        if (n == 1) c->keep[mem[0]] = true;
        else if (n >= 2) choose_in_cluster(c, s, mem, n, policy);
    }
    return c->items.failed ? DM_ERR_NO_MEMORY : DM_OK;
}

static void put_pairs(dmi_buf *b, const dd_state *s)
{
    dmi_buf_puts(b, ",\"pairs\":[");
    for (size_t p = 0; p < s->n_pairs; p++) {
        dmi_buf_puts(b, p ? ",[" : "[");
        put_id(b, s->ds, ds_row(s, s->pairs[p].a));
        dmi_buf_puts(b, ",");
        put_id(b, s->ds, ds_row(s, s->pairs[p].b));
        dmi_buf_printf(b, ",%.6f]", s->pairs[p].jaccard);
    }
    dmi_buf_puts(b, "]");
}

static dm_status dedup_report(const dd_state *s, const dd_members *g, const dd_choice *c, size_t kept,
                              char **report_json)
{
    const dm_dedup_options *o = &s->o;
    dmi_buf b = {0};
    dmi_buf_printf(&b,
                   "{\"rows_in\":%zu,\"rows_out\":%zu,\"exact_duplicates\":%llu,\"near_duplicates\":%llu,"
                   "\"near_pairs\":%zu,\"candidate_pairs\":%llu,\"num_perm\":%zu,\"bands\":%zu,"
                   "\"rows_per_band\":%zu,",
                   s->m, kept, (unsigned long long)s->exact_rows, (unsigned long long)s->near_rows, s->n_pairs,
                   (unsigned long long)s->candidates, o->num_perm, o->bands, o->rows_per_band);
    put_clusters(&b, s, g, c->keep);
    dmi_buf_printf(&b,
                   ",\"label_conflicts\":\"%s\",\"conflicts\":%llu,\"rows_in_conflict\":%llu,"
                   "\"conflict_rows_kept\":%llu,\"conflict_rows_dropped\":%llu,\"conflict_clusters\":[",
                   policy_names[o->label_conflicts], (unsigned long long)c->conflicts,
                   (unsigned long long)c->in_conflict, (unsigned long long)c->extra_kept,
                   (unsigned long long)c->dropped);
    if (c->items.len) dmi_buf_append(&b, c->items.data, c->items.len);
    dmi_buf_puts(&b, "]");
    if (o->report_pairs) put_pairs(&b, s);
    dmi_buf_puts(&b, "}");
    return dmi_buf_finish(&b, report_json, NULL);
}

DM_API dm_status dm_dataset_dedup(const dm_dataset *ds, const dm_dedup_options *opts, dm_dataset **out,
                                  char **report_json)
{
    static const char fn[] = "dm_dataset_dedup";
    if (out) *out = NULL;
    if (report_json) *report_json = NULL;
    if (!ds || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL dataset or output", fn);
    dm_dedup_options o;
    dm_status st = resolve_options(opts, fn, &o);
    if (st) return st;
    dd_state s;
    dd_members g = {0};
    dd_choice c = {0};
    size_t n = dm_dataset_size(ds), kept = 0;
    st = dd_run(&s, ds, NULL, n, &o, fn);
    if (!st) st = cluster_members(&s, &g);
    if (!st) st = choose_rows(&c, &s, &g, o.label_conflicts);
    dm_dataset *d = NULL;
    if (!st) st = dmi_derive_begin(ds, 0, NULL, &d);
    for (size_t i = 0; !st && i < n; i++)
        if (c.keep[i]) {
            st = dmi_derive_row(d, ds, i, NULL, 0, NULL, 0, NULL, NULL);
            kept++;
        }
    if (!st && report_json) st = dedup_report(&s, &g, &c, kept, report_json);
    choice_free(&c);
    members_free(&g);
    dd_free(&s);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    return DM_OK;
}

/* ---------------------------------------------------------------- leakage */

typedef struct leak_counts {
    uint64_t exact, near;
    uint64_t *by_parts; /* n_parts x n_parts, p < q */
    size_t n_parts;
    dmi_buf examples;
    size_t n_examples, n_exact_examples;
} leak_counts;

#define LEAK_EXAMPLES 20

static void leak_example(leak_counts *lc, const dd_state *s, size_t a, size_t b, double jaccard)
{
    dmi_buf *e = &lc->examples;
    dmi_buf_puts(e, lc->n_examples++ ? ",{\"a\":" : "{\"a\":");
    put_id(e, s->ds, ds_row(s, a));
    dmi_buf_puts(e, ",\"b\":");
    put_id(e, s->ds, ds_row(s, b));
    dmi_buf_printf(e, ",\"jaccard\":%.6f}", jaccard);
}

/* Pairs between the members of group A (exact copies) and group B, or
 * within group A when B == A: only rows in different parts count. MEMBERS
 * lists each group's rows (START offsets), PART each row's part. */
static uint64_t group_cross(leak_counts *lc, const size_t *members, const size_t *start, const int32_t *part,
                            size_t a, size_t b)
{
    uint64_t total = 0;
    for (size_t x = start[a]; x < start[a + 1]; x++)
        for (size_t y = (a == b ? x + 1 : start[b]); y < start[b + 1]; y++) {
            int32_t p = part[members[x]], q = part[members[y]];
            if (p == q) continue;
            if (p > q) p ^= q, q ^= p, p ^= q;
            lc->by_parts[(size_t)p * lc->n_parts + (size_t)q]++;
            total++;
        }
    return total;
}

DM_API dm_status dm_dataset_leakage(const dm_dataset *ds, const int32_t *assign, size_t n_parts,
                                    const dm_dedup_options *opts, uint64_t *cross_pairs, char **report_json)
{
    static const char fn[] = "dm_dataset_leakage";
    if (report_json) *report_json = NULL;
    if (cross_pairs) *cross_pairs = 0;
    if (!ds || !assign) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL dataset or assignment", fn);
    if (n_parts == 0 || n_parts > 65536)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: n_parts must be in 1..65536, got %zu", fn, n_parts);
    size_t n = dm_dataset_size(ds);
    for (size_t i = 0; i < n; i++)
        if (assign[i] < -1 || assign[i] >= (int64_t)n_parts)
            return dmi_fail(DM_ERR_RANGE, "%s: assign[%zu] (row id %s) = %d; expected -1 or 0..%zu", fn, i,
                            dm_dataset_id(ds, i), (int)assign[i], n_parts - 1);
    dm_dedup_options o;
    dm_status st = resolve_options(opts, fn, &o);
    if (st) return st;

    /* Rows left out (-1) take no part at all, not even as a bridge. */
    size_t m = 0, *rows = dmi_malloc((n ? n : 1) * sizeof *rows);
    if (!rows) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        if (assign[i] >= 0) rows[m++] = i;
    dd_state s;
    st = dd_run(&s, ds, rows, m, &o, fn);

    leak_counts lc = {0};
    lc.n_parts = n_parts;
    int32_t *part = NULL;
    size_t *start = NULL, *members = NULL, *group = NULL;
    if (!st) {
        lc.by_parts = dmi_calloc(n_parts * n_parts, sizeof *lc.by_parts);
        part = dmi_malloc((m ? m : 1) * sizeof *part);
        start = dmi_calloc(m + 1, sizeof *start);
        members = dmi_malloc((m ? m : 1) * sizeof *members);
        group = dmi_malloc((m ? m : 1) * sizeof *group); /* row -> its group's index */
        if (!lc.by_parts || !part || !start || !members || !group) st = DM_ERR_NO_MEMORY;
    }
    if (!st) {
        /* Groups of exact copies, numbered by their first row. */
        size_t g = 0;
        for (size_t i = 0; i < m; i++) {
            part[i] = assign[rows[i]];
            group[i] = s.first[i] == i ? g++ : group[s.first[i]];
            start[group[i] + 1]++;
        }
        for (size_t k = 0; k < g; k++) start[k + 1] += start[k];
        size_t *fill = dmi_malloc((g ? g : 1) * sizeof *fill);
        if (!fill) st = DM_ERR_NO_MEMORY;
        for (size_t k = 0; fill && k < g; k++) fill[k] = start[k];
        for (size_t i = 0; fill && i < m; i++) members[fill[group[i]]++] = i;
        free(fill);
        /* Exact: pairs within a group; near: pairs across the two groups of
         * a near pair (every member of one with every member of the other). */
        for (size_t k = 0; !st && k < g; k++) {
            uint64_t c = group_cross(&lc, members, start, part, k, k);
            lc.exact += c;
            if (c && lc.n_examples < LEAK_EXAMPLES / 2) {
                size_t x = members[start[k]], y = x;
                for (size_t q = start[k] + 1; q < start[k + 1] && y == x; q++)
                    if (part[members[q]] != part[x]) y = members[q];
                if (y == x) /* the first member shares its part with all: any differing pair */
                    for (size_t p = start[k]; p < start[k + 1] && y == x; p++)
                        for (size_t q = p + 1; q < start[k + 1] && y == x; q++)
                            if (part[members[p]] != part[members[q]]) x = members[p], y = members[q];
                leak_example(&lc, &s, x, y, 1.0);
                lc.n_exact_examples++;
            }
        }
        for (size_t p = 0; !st && p < s.n_pairs; p++) {
            size_t a = group[s.pairs[p].a], b = group[s.pairs[p].b];
            uint64_t c = group_cross(&lc, members, start, part, a, b);
            lc.near += c;
            if (c && lc.n_examples < LEAK_EXAMPLES) {
                size_t x = 0, y = 0;
                bool found = false;
                for (size_t i = start[a]; i < start[a + 1] && !found; i++)
                    for (size_t j = start[b]; j < start[b + 1] && !found; j++)
                        if (part[members[i]] != part[members[j]]) x = members[i], y = members[j], found = true;
                leak_example(&lc, &s, x < y ? x : y, x < y ? y : x, s.pairs[p].jaccard);
            }
        }
    }
    if (!st && report_json) {
        dmi_buf b = {0};
        dmi_buf_printf(&b, "{\"exact_pairs\":%llu,\"near_pairs\":%llu,\"by_parts\":[", (unsigned long long)lc.exact,
                       (unsigned long long)lc.near);
        for (size_t p = 0; p < n_parts; p++) {
            dmi_buf_puts(&b, p ? ",[" : "[");
            for (size_t q = 0; q < n_parts; q++)
                dmi_buf_printf(&b, q ? ",%llu" : "%llu", (unsigned long long)lc.by_parts[p * n_parts + q]);
            dmi_buf_puts(&b, "]");
        }
        dmi_buf_puts(&b, "],\"examples\":[");
        if (lc.examples.len) dmi_buf_append(&b, lc.examples.data, lc.examples.len);
        dmi_buf_puts(&b, "]}");
        if (lc.examples.failed) b.failed = true;
        st = dmi_buf_finish(&b, report_json, NULL);
    }
    if (!st && cross_pairs) *cross_pairs = lc.exact + lc.near;
    dmi_buf_free(&lc.examples);
    free(lc.by_parts), free(part), free(start), free(members), free(group), free(rows);
    dd_free(&s);
    return st;
}

/* -------------------------------------------------------------- conflicts */

DM_API dm_status dm_dataset_conflicts(const dm_dataset *ds, dm_conflict_policy policy, dm_dataset **out,
                                      char **report_json)
{
    static const char fn[] = "dm_dataset_conflicts";
    if (out) *out = NULL;
    if (report_json) *report_json = NULL;
    if (!ds || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL dataset or output", fn);
    if ((int)policy < DM_CONFLICT_KEEP || (int)policy > DM_CONFLICT_KEEP_FIRST)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: unknown dm_conflict_policy %d (expected 0..3)", fn, (int)policy);
    size_t n = dm_dataset_size(ds), L = dm_dataset_num_labels(ds);
    dm_dedup_options o;
    dm_dedup_options_default(&o);
    o.exact_only = 1;
    /* Only labelled rows are compared: unlabelled rows are kept as they are. */
    size_t m = 0, *rows = dmi_malloc((n ? n : 1) * sizeof *rows);
    if (!rows) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        if (dm_dataset_label(ds, i) >= 0) rows[m++] = i;
    dd_state s;
    dm_status st = dd_run(&s, ds, rows, m, &o, fn);
    /* Per group (its first row F): label counts COUNT[F*L + l] would be
     * n*L; instead count per group along its member list. */
    size_t *next = NULL, *last = NULL;
    uint64_t *cnt = NULL;
    bool *drop = NULL;
    int32_t *order = NULL; /* labels in order of first appearance */
    if (!st) {
        next = dmi_malloc((m ? m : 1) * sizeof *next);
        last = dmi_malloc((m ? m : 1) * sizeof *last);
        cnt = dmi_calloc(L ? L : 1, sizeof *cnt);
        order = dmi_malloc((L ? L : 1) * sizeof *order);
        drop = dmi_calloc(n ? n : 1, sizeof *drop);
        if (!next || !last || !cnt || !order || !drop) st = DM_ERR_NO_MEMORY;
    }
    dmi_buf b = {0};
    uint64_t conflicts = 0, in_conflict = 0;
    if (!st) {
        for (size_t i = 0; i < m; i++) {
            next[i] = SIZE_MAX;
            size_t f = s.first[i];
            if (f != i) next[last[f]] = i;
            last[f] = i;
        }
        dmi_buf_puts(&b, "\"items\":[");
        for (size_t f = 0; f < m; f++) {
            if (s.first[f] != f) continue;
            size_t n_labels = 0, members = 0;
            for (size_t i = f; i != SIZE_MAX; i = next[i], members++) {
                int32_t l = dm_dataset_label(ds, rows[i]);
                if (!cnt[l]++) order[n_labels++] = l;
            }
            if (n_labels >= 2) {
                conflicts++;
                in_conflict += members;
                int32_t kept = -1;
                if (policy == DM_CONFLICT_KEEP_FIRST) kept = order[0];
                if (policy == DM_CONFLICT_MAJORITY) {
                    kept = order[0];
                    for (size_t k = 1; k < n_labels; k++)
                        if (cnt[order[k]] > cnt[kept]) kept = order[k];
                }
                for (size_t i = f; i != SIZE_MAX; i = next[i]) {
                    int32_t l = dm_dataset_label(ds, rows[i]);
                    if (policy == DM_CONFLICT_DROP_ALL || (kept >= 0 && l != kept)) drop[rows[i]] = true;
                }
                size_t tl;
                const char *t = dm_dataset_text(ds, rows[f], &tl);
                dmi_buf_puts(&b, conflicts > 1 ? ",{\"text\":" : "{\"text\":");
                dmi_buf_json_string(&b, t, tl);
                if (ds->pair_col >= 0) {
                    const char *pr = dm_dataset_pair(ds, rows[f], &tl);
                    dmi_buf_puts(&b, ",\"pair\":");
                    dmi_buf_json_string(&b, pr ? pr : "", pr ? tl : 0);
                }
                dmi_buf_puts(&b, ",\"labels\":{");
                for (size_t k = 0; k < n_labels; k++) {
                    const char *name = dm_dataset_label_name(ds, order[k]);
                    if (k) dmi_buf_puts(&b, ",");
                    dmi_buf_json_string(&b, name, strlen(name));
                    dmi_buf_printf(&b, ":%llu", (unsigned long long)cnt[order[k]]);
                }
                dmi_buf_puts(&b, "},\"ids\":[");
                for (size_t i = f; i != SIZE_MAX; i = next[i]) {
                    if (i != f) dmi_buf_puts(&b, ",");
                    put_id(&b, ds, rows[i]);
                }
                dmi_buf_puts(&b, "],\"kept_label\":");
                if (kept >= 0) {
                    const char *name = dm_dataset_label_name(ds, kept);
                    dmi_buf_json_string(&b, name, strlen(name));
                } else dmi_buf_puts(&b, "null");
                dmi_buf_puts(&b, "}");
            }
            for (size_t k = 0; k < n_labels; k++) cnt[order[k]] = 0;
        }
        dmi_buf_puts(&b, "]");
    }
    dm_dataset *d = NULL;
    size_t kept_rows = 0;
    if (!st) st = dmi_derive_begin(ds, 0, NULL, &d);
    for (size_t i = 0; !st && i < n; i++)
        if (!drop[i]) {
            st = dmi_derive_row(d, ds, i, NULL, 0, NULL, 0, NULL, NULL);
            kept_rows++;
        }
    if (!st && report_json) {
        dmi_buf r = {0};
        dmi_buf_printf(&r, "{\"rows_in\":%zu,\"rows_out\":%zu,\"conflicts\":%llu,\"rows_in_conflict\":%llu,", n,
                       kept_rows, (unsigned long long)conflicts, (unsigned long long)in_conflict);
        if (b.len) dmi_buf_append(&r, b.data, b.len);
        dmi_buf_puts(&r, "}");
        if (b.failed) r.failed = true;
        st = dmi_buf_finish(&r, report_json, NULL);
    }
    dmi_buf_free(&b);
    free(next), free(last), free(cnt), free(order), free(drop), free(rows);
    dd_free(&s);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    return DM_OK;
}
