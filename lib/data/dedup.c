/*
 * dedup.c — the operations built on the duplicate engine (dedup_lsh.c):
 * dm_dataset_dedup (rows kept per cluster, label conflicts within clusters,
 * the report), dm_dataset_leakage (duplicates across the parts of a split),
 * dm_dataset_conflicts (texts that carry different labels); and the dedup
 * options, with the choice of LSH bands.
 */
#include "dedup_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NUM_PERM 8192

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

dm_status dmi_dedup_resolve_options(const dm_dedup_options *in, const char *fn, dm_dedup_options *o)
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
    dm_status st = dmi_dedup_resolve_options(opts, fn, &o);
    if (st) return st;
    dd_state s;
    dd_members g = {0};
    dd_choice c = {0};
    size_t n = dm_dataset_size(ds), kept = 0;
    st = dmi_dd_run(&s, ds, NULL, n, &o, fn);
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
    dmi_dd_free(&s);
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
    dm_status st = dmi_dedup_resolve_options(opts, fn, &o);
    if (st) return st;

    /* Rows left out (-1) take no part at all, not even as a bridge. */
    size_t m = 0, *rows = dmi_malloc((n ? n : 1) * sizeof *rows);
    if (!rows) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        if (assign[i] >= 0) rows[m++] = i;
    dd_state s;
    st = dmi_dd_run(&s, ds, rows, m, &o, fn);

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
    dmi_dd_free(&s);
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
    dm_status st = dmi_dd_run(&s, ds, rows, m, &o, fn);
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
    dmi_dd_free(&s);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    return DM_OK;
}
