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
 *
 * This file is the engine (dmi_dd_run, dmi_dedup_clusters); dedup.c builds
 * the public operations on it, dedup_norm.c normalises the texts.
 */
#include "dedup_impl.h"
#include "core/jobs.h"

#include "core/rng.h"
#include "core/utf8.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_ALL_PAIRS 128 /* larger LSH buckets give star + chain pairs */
#define ROW_CHUNK 4096       /* rows between two progress calls */

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

static int thread_count(const dm_dedup_options *o)
{
    return o->threads > 0 ? o->threads : dmi_cpu_count();
}

/* ----------------------------------------------------------------- state */

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

void dmi_dd_free(dd_state *s)
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

/* Row I's key, or the fault a test injected there. */
static dm_status key_of(const dd_state *s, size_t i)
{
    if (dmi_fault("dedup.keys", i)) return dmi_fault_fail("dedup.keys", i);
    return make_key(s, i, &s->keys[i], &s->lens[i]);
}

/* The failure of row I (of the rows considered) on a worker, raised here. */
static dm_status row_failed(const dd_state *s, dmi_job_error *err, const char *fn, const char *what)
{
    size_t i = dmi_job_error_index(err), r = ds_row(s, i);
    return dmi_job_error_raise(err, "%s: %s row %zu (id %s)", fn, what, r, dm_dataset_id(s->ds, r));
}

static dm_status make_keys(dd_state *s, const char *fn)
{
    s->keys = dmi_calloc(s->m ? s->m : 1, sizeof *s->keys);
    s->lens = dmi_calloc(s->m ? s->m : 1, sizeof *s->lens);
    if (!s->keys || !s->lens) return DM_ERR_NO_MEMORY;
    int threads = thread_count(&s->o);
    dmi_job_error err;
    dmi_job_error_init(&err);
    dm_status st = DM_OK;
    for (size_t c0 = 0; c0 < s->m && !st; c0 += ROW_CHUNK) {
        size_t c1 = c0 + ROW_CHUNK < s->m ? c0 + ROW_CHUNK : s->m;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64)
        for (size_t i = c0; i < c1; i++) {
            if (dmi_job_error_before(&err, i)) continue;
            dm_status k = key_of(s, i);
            if (k) dmi_job_error_set(&err, i, k);
        }
        if (dmi_job_failed(&err)) st = row_failed(s, &err, fn, "normalising");
        else if (progress_stop(s, c1)) st = cancelled(fn);
    }
    dmi_job_error_destroy(&err);
    return st;
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
    if (!dmi_grow(&p->v, &p->cap, p->n + 1, sizeof *p->v)) {
        p->failed = true;
        return;
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

    dmi_job_error err;
    dmi_job_error_init(&err);
    for (size_t c0 = 0; c0 < U && !st; c0 += ROW_CHUNK) {
        size_t c1 = c0 + ROW_CHUNK < U ? c0 + ROW_CHUNK : U;
#pragma omp parallel num_threads(threads)
        {
            /* Fixed scratch: a row's shingles are streamed, whatever its length. */
            uint64_t *sh = dmi_malloc(SHINGLE_BLOCK * sizeof *sh);
            uint32_t *x = sh ? dmi_malloc(SHINGLE_BLOCK * sizeof *x) : NULL;
            uint32_t *sig = x ? dmi_malloc(P * sizeof *sig) : NULL;
#pragma omp for schedule(dynamic, 32)
            for (size_t u = c0; u < c1; u++) {
                if (dmi_job_error_before(&err, s->uniq[u])) continue;
                if (!sig) { /* no scratch: this thread's rows fail, the first of them is named */
                    dmi_job_error_set(&err, s->uniq[u], DM_ERR_NO_MEMORY);
                    continue;
                }
                if (dmi_fault("dedup.signature", s->uniq[u])) {
                    dmi_job_error_set(&err, s->uniq[u], dmi_fault_fail("dedup.signature", s->uniq[u]));
                    continue;
                }
                uint32_t *out = sigs ? sigs + u * P : sig;
                row_signature(s, s->uniq[u], pa, pb, sh, x, out);
                band_keys(out, B, R, keys + u * B);
            }
            free(sh), free(x), free(sig);
        }
        if (dmi_job_failed(&err)) st = row_failed(s, &err, fn, "computing the MinHash signature of");
        else if (progress_stop(s, s->m + (c1 < U ? s->uniq[c1] : s->m))) st = cancelled(fn);
    }
    dmi_job_error_destroy(&err);
    if (st) goto done;

    /* Buckets per band, in parallel; each band's pairs in its own vector. */
    pairvec *per = dmi_calloc(B, sizeof *per);
    if (!per) {
        st = DM_ERR_NO_MEMORY;
        goto done;
    }
    dmi_job_error_init(&err);
#pragma omp parallel num_threads(threads)
    {
        kv *e = dmi_malloc((U ? U : 1) * sizeof *e), *tmp = e ? dmi_malloc((U ? U : 1) * sizeof *tmp) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (size_t j = 0; j < B; j++) {
            if (dmi_job_error_before(&err, j)) continue;
            if (!tmp) { /* no scratch: this thread's bands fail, the first of them is named */
                dmi_job_error_set(&err, j, DM_ERR_NO_MEMORY);
                continue;
            }
            for (size_t u = 0; u < U; u++) e[u] = (kv){keys[u * B + j], s->uniq[u]};
            radix_sort_kv(e, tmp, U);
            bucket_pairs(e, U, &per[j]);
            if (per[j].failed) dmi_job_error_set(&err, j, DM_ERR_NO_MEMORY);
        }
        free(e), free(tmp);
    }
    bool failed = dmi_job_failed(&err);
    if (failed) st = dmi_job_error_raise(&err, "%s: collecting the LSH candidate pairs of band %zu", fn,
                                         dmi_job_error_index(&err));
    dmi_job_error_destroy(&err);
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
    if (failed && !st) st = dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory collecting LSH candidate pairs", fn);

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

dm_status dmi_dd_run(dd_state *s, const dm_dataset *ds, const size_t *rows, size_t m, const dm_dedup_options *o,
                     const char *fn)
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
    dm_status st = dmi_dedup_resolve_options(opts, fn, &o);
    if (st) return st;
    dd_state s;
    st = dmi_dd_run(&s, ds, NULL, dm_dataset_size(ds), &o, fn);
    if (!st) {
        memcpy(cluster, s.cluster, s.m * sizeof *cluster);
        if (exact_rows) *exact_rows = s.exact_rows;
        if (near_rows) *near_rows = s.near_rows;
        if (near_pairs_out) *near_pairs_out = s.n_pairs;
    }
    dmi_dd_free(&s);
    return st;
}

