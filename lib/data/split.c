/*
 * split.c — train/val/test and k-fold splits (stratified, group-aware),
 * resampling to a class distribution, and balanced class weights.
 *
 * A split is made in two steps. First an allocation: how many rows of each
 * stratum (a class, or all rows when not stratified) each part should get.
 * Then an assignment: rows (or whole groups) are dealt to parts in a random
 * order drawn from the seed. Every random draw goes through Philox streams
 * named by the seed, so a split is a pure function of (dataset, options).
 *
 * Allocation, train/val/test: the overall part sizes are the fractions of n
 * rounded by largest remainder (ties: the earlier part). Each stratum gets
 * floor(m_c * f_p) rows in part p; its leftover rows (fewer than the number
 * of parts) go one per part, to parts where its share had a fractional
 * remainder, so that every stratum is within one row of its ideal share. Which
 * stratum gives its leftover to which part is a small bipartite matching
 * (augmenting paths), solved so that the overall sizes meet their
 * largest-remainder targets exactly.
 *
 * Allocation, k folds: as scikit-learn's StratifiedKFold: the rows sorted by
 * stratum (strata in the order of their first rows) are dealt round-robin to the folds (row i of that order to fold
 * i mod K), so fold sizes differ by at most one (the first n mod K folds are
 * the larger ones) and each stratum's fold counts differ by at most one. The
 * counts equal scikit-learn's for the same labels.
 *
 * Groups (a group column, or near-duplicate clusters) go whole to one part:
 * groups in random order, larger first, each to the part where it lowers
 * (or least raises) the squared distance of the per-stratum counts from the
 * allocation above: sum over strata of (count - target)^2. Without
 * stratification that is the part furthest below its target size; with it,
 * a group's rows of every class are weighed, not just its majority label.
 */
#include "ops.h"

#include "../core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Philox streams of one seed, one per kind of draw, so that the draws of one
 * step do not shift those of another. */
enum { STREAM_ROWS = 0, STREAM_GROUPS = 1, STREAM_STRATA = 2, STREAM_RESAMPLE = 16 };

#define MAX_RESAMPLED_ROWS ((double)(1ull << 31))

/* Fisher-Yates over size_t indices (dmi_rng_shuffle takes 32-bit ones). */
static void shuffle_sizes(dmi_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dmi_rng_below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* A * B elements of SIZE bytes, zeroed; NULL (with a message) on overflow. */
static void *calloc_matrix(size_t a, size_t b, size_t size)
{
    if (b && a > SIZE_MAX / b) {
        dmi_fail(DM_ERR_NO_MEMORY, "a %zu x %zu table is too large", a, b);
        return NULL;
    }
    return dmi_calloc(a * b > 0 ? a * b : 1, size);
}

/* ================================================================= splits */

DM_API void dm_split_options_default(dm_split_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->train = 0.8, opts->val = 0.1, opts->test = 0.1;
    opts->folds = 0;
    opts->stratify = 0;
    opts->group_by = DM_GROUP_NONE;
    opts->dedup = NULL;
    opts->seed = 42;
}

typedef struct splitter {
    const dm_dataset *ds;
    dm_split_options o;
    size_t n;            /* rows */
    size_t n_parts;      /* 3, or the folds */
    double frac[3];      /* train/val/test fractions, normalised (not for folds) */
    size_t n_strata;     /* labels + 1 (no label) when stratified, else 1 */
    size_t *stratum;     /* per row */
    size_t *stratum_size;
    size_t *alloc;       /* n_strata x n_parts: rows of stratum c wanted in part p */
    size_t n_groups;     /* grouping: number of groups */
    size_t *group_of;    /* grouping: per row, its group 0 .. n_groups-1 */
} splitter;

static void splitter_free(splitter *s)
{
    free(s->stratum);
    free(s->stratum_size);
    free(s->alloc);
    free(s->group_of);
}

static dm_status check_split_options(const dm_dataset *ds, const dm_split_options *in, dm_split_options *o)
{
    dm_split_options_default(o);
    if (in && dmi_copy_options(o, sizeof *o, in, "dm_split_options")) return DM_ERR_INVALID_ARGUMENT;
    double f[3] = {o->train, o->val, o->test};
    bool in_range = true;
    for (int i = 0; i < 3; i++) in_range = in_range && f[i] >= 0.0 && f[i] <= 1.0; /* NaN fails too */
    double sum = f[0] + f[1] + f[2];
    if (!in_range || !(fabs(sum - 1.0) <= 1e-9))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_split_options: train, val and test must each lie in [0, 1] and sum to 1 "
                        "(got train=%g, val=%g, test=%g, sum=%.12g)",
                        f[0], f[1], f[2], sum);
    if (o->folds == 1)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_split_options.folds is 1: use 0 for a train/val/test split or K >= 2 folds");
    if (o->stratify != 0 && o->stratify != 1)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_split_options.stratify must be 0 or 1 (got %d)", o->stratify);
    if ((unsigned)o->group_by > DM_GROUP_NEAR_DUPLICATES)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_split_options.group_by: unknown value %d (expected DM_GROUP_NONE, DM_GROUP_COLUMN or "
                        "DM_GROUP_NEAR_DUPLICATES)",
                        (int)o->group_by);
    if (o->group_by == DM_GROUP_COLUMN && ds->group_col < 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_split_options.group_by is DM_GROUP_COLUMN but the dataset has no group column "
                        "(set dm_dataset_options.group_column when loading it)");
    if (o->stratify && dm_dataset_num_labels(ds) == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_split_options.stratify is 1 but the dataset has no labels to stratify by");
    size_t n = dm_dataset_size(ds);
    if (o->folds > n)
        return dmi_fail(DM_ERR_RANGE, "dm_split_options.folds is %zu but the dataset has only %zu rows", o->folds,
                        n);
    return DM_OK;
}

static dm_status make_strata(splitter *s)
{
    size_t n_labels = dm_dataset_num_labels(s->ds);
    s->n_strata = s->o.stratify ? n_labels + 1 : 1;
    s->stratum = dmi_malloc((s->n ? s->n : 1) * sizeof *s->stratum);
    s->stratum_size = dmi_calloc(s->n_strata, sizeof *s->stratum_size);
    if (!s->stratum || !s->stratum_size) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < s->n; i++) {
        int32_t label = dm_dataset_label(s->ds, i);
        size_t c = !s->o.stratify ? 0 : label < 0 ? n_labels : (size_t)label; /* no label: the last stratum */
        s->stratum[i] = c;
        s->stratum_size[c]++;
    }
    return DM_OK;
}

/* ---------------------------------------------------- k-fold allocation */

/* How many of the positions 0 .. X-1 are congruent to F modulo K. */
static size_t count_congruent(size_t x, size_t f, size_t k) { return x > f ? (x - f - 1) / k + 1 : 0; }

/* Strata are dealt in the order their first rows appear, as scikit-learn
 * orders classes, so that the counts match its own for any labels. */
static dm_status allocate_folds(splitter *s)
{
    size_t nc = s->n_strata, k = s->n_parts, n_seen = 0, start = 0;
    size_t *order = dmi_malloc(nc * sizeof *order);
    unsigned char *seen = dmi_calloc(nc, 1);
    if (!order || !seen) {
        free(order), free(seen);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!seen[s->stratum[i]]) seen[s->stratum[i]] = 1, order[n_seen++] = s->stratum[i];
    for (size_t i = 0; i < n_seen; i++) {
        size_t c = order[i], end = start + s->stratum_size[c];
        for (size_t f = 0; f < k; f++)
            s->alloc[c * k + f] = count_congruent(end, f, k) - count_congruent(start, f, k);
        start = end;
    }
    free(order), free(seen);
    return DM_OK;
}

/* ------------------------------------------- train/val/test allocation */

/* TOTAL split by the fractions F[0..2] (summing to 1) by largest remainder:
 * floors first, then one more to the parts with the largest remainders (ties:
 * the earlier part). A part with fraction 0 gets nothing. */
static void largest_remainder(size_t total, const double *f, size_t *out)
{
    double rem[3];
    size_t given = 0;
    for (int p = 0; p < 3; p++) {
        double q = (double)total * f[p];
        out[p] = (size_t)floor(q);
        if (out[p] > total) out[p] = total;
        rem[p] = q - (double)out[p];
        given += out[p];
    }
    while (given < total) {
        int best = -1;
        for (int p = 0; p < 3; p++)
            if (f[p] > 0 && (best < 0 || rem[p] > rem[best])) best = p;
        out[best]++;
        rem[best] = -1.0; /* each part gets at most one; more only if rounding went astray */
        given++;
        bool any = false;
        for (int p = 0; p < 3; p++) any = any || (f[p] > 0 && rem[p] >= 0);
        if (!any)
            for (int p = 0; p < 3; p++) rem[p] = f[p] > 0 ? f[p] : -1.0;
    }
}

/* Leftover units of the strata being matched to parts: EXTRA[c*3+p] = 1 when
 * stratum c gives its leftover row to part p (a part takes at most one from
 * each stratum), so a stratum's count there is its floor + 1. */
typedef struct matcher {
    size_t n_strata;
    const double *rem;   /* n_strata x 3: fractional remainder of m_c * f_p */
    unsigned char *extra;
    ptrdiff_t need[3];   /* leftover rows each part still needs to meet its target */
    size_t *queue, *came_from; /* BFS over strata (0 .. C-1) and parts (C .. C+2) */
} matcher;

static bool can_take(const matcher *m, size_t c, int p) { return m->rem[c * 3 + p] > 0 && !m->extra[c * 3 + p]; }

/* Stratum C's leftover straight to the part that needs one and where C's
 * remainder is largest. */
static bool place_direct(matcher *m, size_t c)
{
    int best = -1;
    for (int p = 0; p < 3; p++) {
        if (!can_take(m, c, p) || m->need[p] <= 0) continue;
        if (best < 0 || m->rem[c * 3 + p] > m->rem[c * 3 + best]) best = p;
    }
    if (best < 0) return false;
    m->extra[c * 3 + best] = 1;
    m->need[best]--;
    return true;
}

/* An augmenting path: C takes a part P1 that is full, whose leftover from
 * stratum V1 moves to part P2, ... until a part that needs one. */
static bool place_by_path(matcher *m, size_t c)
{
    size_t nc = m->n_strata, nodes = nc + 3, head = 0, tail = 0;
    for (size_t i = 0; i < nodes; i++) m->came_from[i] = SIZE_MAX;
    m->came_from[c] = c;
    m->queue[tail++] = c;
    while (head < tail) {
        size_t u = m->queue[head++];
        if (u < nc) {
            for (int p = 0; p < 3; p++) {
                size_t node = nc + (size_t)p;
                if (!can_take(m, u, p) || m->came_from[node] != SIZE_MAX) continue;
                m->came_from[node] = u;
                if (m->need[p] > 0) {
                    /* Walk back: each stratum on the path takes the part after it. */
                    m->need[p]--;
                    for (size_t part = node;;) {
                        size_t v = m->came_from[part];
                        m->extra[v * 3 + (part - nc)] = 1;
                        if (v == c) return true;
                        size_t prev_part = m->came_from[v];
                        m->extra[v * 3 + (prev_part - nc)] = 0;
                        part = prev_part;
                    }
                }
                m->queue[tail++] = node;
            }
        } else {
            int p = (int)(u - nc);
            for (size_t v = 0; v < nc; v++) {
                if (!m->extra[v * 3 + p] || m->came_from[v] != SIZE_MAX) continue;
                m->came_from[v] = u;
                m->queue[tail++] = v;
            }
        }
    }
    return false;
}

/* When no matching meets the targets (rounding corner cases): the part where
 * C's remainder is largest among those it has not given a row to yet. */
static void place_anyway(matcher *m, size_t c, const double *f)
{
    int best = -1;
    for (int p = 0; p < 3; p++) {
        if (f[p] <= 0 || m->extra[c * 3 + p]) continue;
        if (best < 0 || m->rem[c * 3 + p] > m->rem[c * 3 + best]) best = p;
    }
    if (best < 0) /* cannot happen: a stratum has fewer leftovers than parts */
        for (int p = 0; p < 3; p++)
            if (best < 0 || f[p] > f[best]) best = p;
    m->extra[c * 3 + best]++;
    m->need[best]--;
}

static dm_status allocate_fractions(splitter *s)
{
    size_t nc = s->n_strata, target[3];
    largest_remainder(s->n, s->frac, target);
    double *rem = calloc_matrix(nc, 3, sizeof *rem);
    size_t *leftover = dmi_calloc(nc, sizeof *leftover);
    size_t *order = dmi_malloc(nc * sizeof *order);
    matcher m = {nc, rem, dmi_calloc(nc * 3, 1), {0, 0, 0}, dmi_malloc((nc + 3) * sizeof(size_t)),
                 dmi_malloc((nc + 3) * sizeof(size_t))};
    dm_status st = DM_OK;
    if (!rem || !leftover || !order || !m.extra || !m.queue || !m.came_from) {
        st = DM_ERR_NO_MEMORY;
        goto done;
    }
    for (int p = 0; p < 3; p++) m.need[p] = (ptrdiff_t)target[p];
    for (size_t c = 0; c < nc; c++) {
        size_t mc = s->stratum_size[c], given = 0;
        for (int p = 0; p < 3; p++) {
            double q = (double)mc * s->frac[p];
            size_t fl = (size_t)floor(q);
            if (fl > mc - given) fl = mc - given;
            s->alloc[c * 3 + p] = fl;
            rem[c * 3 + p] = q - (double)fl;
            given += fl;
            m.need[p] -= (ptrdiff_t)fl;
        }
        leftover[c] = mc - given;
        order[c] = c;
    }
    /* Strata in random order, so that no class is always first to choose. */
    dmi_rng rng;
    dmi_rng_init(&rng, s->o.seed, STREAM_STRATA);
    shuffle_sizes(&rng, order, nc);
    for (size_t i = 0; i < nc; i++) {
        size_t c = order[i];
        for (size_t k = 0; k < leftover[c]; k++)
            if (!place_direct(&m, c) && !place_by_path(&m, c)) place_anyway(&m, c, s->frac);
    }
    for (size_t i = 0; i < nc * 3; i++) s->alloc[i] += m.extra[i];
done:
    free(rem);
    free(leftover);
    free(order);
    free(m.extra);
    free(m.queue);
    free(m.came_from);
    return st;
}

/* ------------------------------------------------------------- groups */

static dm_status groups_from_column(splitter *s)
{
    dmi_strmap keys = {0};
    dm_status st = DM_OK;
    size_t singles = 0;
    for (size_t i = 0; i < s->n && !st; i++) {
        size_t len;
        const char *g = dm_dataset_group(s->ds, i, &len);
        if (!g || len == 0) {
            s->group_of[i] = SIZE_MAX; /* numbered after the named groups */
            singles++;
        } else {
            st = dmi_strmap_add(&keys, g, len, &s->group_of[i]);
        }
    }
    size_t next = keys.count;
    for (size_t i = 0; i < s->n && !st; i++)
        if (s->group_of[i] == SIZE_MAX) s->group_of[i] = next++;
    s->n_groups = keys.count + singles;
    dmi_strmap_free(&keys);
    return st;
}

static dm_status groups_from_duplicates(splitter *s)
{
    size_t *cluster = dmi_malloc(s->n * sizeof *cluster);
    if (!cluster) return DM_ERR_NO_MEMORY;
    dm_status st = dmi_dedup_clusters(s->ds, s->o.dedup, cluster, NULL, NULL, NULL);
    if (st) {
        free(cluster);
        return dmi_fail_prefix(st, "dm_dataset_split: near-duplicate groups");
    }
    /* CLUSTER[i] is the smallest row of row I's cluster, so a cluster's root
     * is numbered before its other rows are met. */
    size_t next = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t root = cluster[i] <= i ? cluster[i] : i; /* a root past I would break the contract: own group */
        s->group_of[i] = root == i ? next++ : s->group_of[root];
    }
    s->n_groups = next;
    free(cluster);
    return DM_OK;
}

typedef struct group_rank {
    size_t size, rank, id;
} group_rank;

/* Larger groups first; equal sizes in their shuffled order. */
static int by_size_then_rank(const void *a, const void *b)
{
    const group_rank *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Rows of each group, contiguous: ROWS[START[g] .. START[g+1]-1]. */
static dm_status group_rows(const splitter *s, size_t **start_out, size_t **rows_out)
{
    size_t *start = dmi_calloc(s->n_groups + 1, sizeof *start);
    size_t *rows = dmi_malloc((s->n ? s->n : 1) * sizeof *rows);
    if (!start || !rows) {
        free(start);
        free(rows);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < s->n; i++) start[s->group_of[i] + 1]++;
    for (size_t g = 0; g < s->n_groups; g++) start[g + 1] += start[g];
    for (size_t i = 0; i < s->n; i++) rows[start[s->group_of[i]]++] = i;
    for (size_t g = s->n_groups; g > 0; g--) start[g] = start[g - 1];
    start[0] = 0;
    *start_out = start, *rows_out = rows;
    return DM_OK;
}

/* The part where the group's counts (COUNT[c] for the strata in TOUCHED)
 * bring the per-stratum counts HAVE closest to the allocation. */
static size_t best_part_for(const splitter *s, const int64_t *have, const size_t *count, const size_t *touched,
                            size_t n_touched)
{
    size_t np = s->n_parts, best = SIZE_MAX;
    int64_t best_cost = 0;
    for (size_t p = 0; p < np; p++) {
        if (np == 3 && s->frac[p] <= 0) continue;
        int64_t cost = 0;
        for (size_t t = 0; t < n_touched; t++) {
            size_t c = touched[t];
            int64_t g = (int64_t)count[c], gap = have[c * np + p] - (int64_t)s->alloc[c * np + p];
            cost += g * (2 * gap + g); /* (gap + g)^2 - gap^2 */
        }
        if (best == SIZE_MAX || cost < best_cost) best = p, best_cost = cost;
    }
    return best;
}

static dm_status assign_groups(splitter *s, int32_t *assign)
{
    size_t *start = NULL, *rows = NULL, *count = NULL, *touched = NULL;
    group_rank *order = dmi_malloc((s->n_groups ? s->n_groups : 1) * sizeof *order);
    int64_t *have = calloc_matrix(s->n_strata, s->n_parts, sizeof *have);
    count = dmi_calloc(s->n_strata, sizeof *count);
    touched = dmi_malloc(s->n_strata * sizeof *touched);
    dm_status st = order && have && count && touched ? group_rows(s, &start, &rows) : DM_ERR_NO_MEMORY;
    if (st) goto done;
    size_t *shuffled = dmi_malloc((s->n_groups ? s->n_groups : 1) * sizeof *shuffled);
    if (!shuffled) {
        st = DM_ERR_NO_MEMORY;
        goto done;
    }
    for (size_t g = 0; g < s->n_groups; g++) shuffled[g] = g;
    dmi_rng rng;
    dmi_rng_init(&rng, s->o.seed, STREAM_GROUPS);
    shuffle_sizes(&rng, shuffled, s->n_groups);
    for (size_t r = 0; r < s->n_groups; r++) {
        size_t g = shuffled[r];
        order[r] = (group_rank){start[g + 1] - start[g], r, g};
    }
    free(shuffled);
    qsort(order, s->n_groups, sizeof *order, by_size_then_rank);
    for (size_t k = 0; k < s->n_groups; k++) {
        size_t g = order[k].id, n_touched = 0;
        for (size_t j = start[g]; j < start[g + 1]; j++) {
            size_t c = s->stratum[rows[j]];
            if (count[c]++ == 0) touched[n_touched++] = c;
        }
        size_t p = best_part_for(s, have, count, touched, n_touched);
        for (size_t t = 0; t < n_touched; t++) {
            have[touched[t] * s->n_parts + p] += (int64_t)count[touched[t]];
            count[touched[t]] = 0;
        }
        for (size_t j = start[g]; j < start[g + 1]; j++) assign[rows[j]] = (int32_t)p;
    }
done:
    free(order);
    free(have);
    free(count);
    free(touched);
    free(start);
    free(rows);
    return st;
}

/* Without groups: rows in random order, each stratum's rows filling the
 * parts in turn up to the allocation. */
static dm_status assign_rows(splitter *s, int32_t *assign)
{
    size_t *perm = dmi_malloc((s->n ? s->n : 1) * sizeof *perm);
    size_t *part = dmi_calloc(s->n_strata, sizeof *part);
    size_t *filled = dmi_calloc(s->n_strata, sizeof *filled);
    if (!perm || !part || !filled) {
        free(perm), free(part), free(filled);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < s->n; i++) perm[i] = i;
    dmi_rng rng;
    dmi_rng_init(&rng, s->o.seed, STREAM_ROWS);
    shuffle_sizes(&rng, perm, s->n);
    size_t np = s->n_parts;
    for (size_t k = 0; k < s->n; k++) {
        size_t row = perm[k], c = s->stratum[row];
        while (filled[c] >= s->alloc[c * np + part[c]] && part[c] + 1 < np) part[c]++, filled[c] = 0;
        assign[row] = (int32_t)part[c];
        filled[c]++;
    }
    free(perm), free(part), free(filled);
    return DM_OK;
}

/* ------------------------------------------------------------- report */

static void part_name(dmi_buf *b, const splitter *s, size_t p)
{
    static const char *names[] = {"train", "val", "test"};
    if (s->o.folds) dmi_buf_printf(b, "\"fold%zu\"", p);
    else dmi_buf_printf(b, "\"%s\"", names[p]);
}

static dm_status split_report(const splitter *s, const int32_t *assign, char **out)
{
    size_t n_labels = dm_dataset_num_labels(s->ds), np = s->n_parts, width = n_labels + 1;
    size_t *counts = calloc_matrix(np, width, sizeof *counts); /* [p][label], label n_labels: none */
    size_t *rows = dmi_calloc(np, sizeof *rows);
    if (!counts || !rows) {
        free(counts), free(rows);
        return DM_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < s->n; i++) {
        int32_t l = dm_dataset_label(s->ds, i);
        size_t p = (size_t)assign[i];
        counts[p * width + (l < 0 ? n_labels : (size_t)l)]++;
        rows[p]++;
    }
    dmi_buf b = {0};
    dmi_buf_puts(&b, "{\"parts\":[");
    for (size_t p = 0; p < np; p++) {
        dmi_buf_puts(&b, p ? ",{\"name\":" : "{\"name\":");
        part_name(&b, s, p);
        dmi_buf_printf(&b, ",\"rows\":%zu,\"per_class\":{", rows[p]);
        for (size_t l = 0; l < n_labels; l++) {
            const char *name = dm_dataset_label_name(s->ds, (int32_t)l);
            if (l) dmi_buf_puts(&b, ",");
            dmi_buf_json_string(&b, name, strlen(name));
            dmi_buf_printf(&b, ":%zu", counts[p * width + l]);
        }
        dmi_buf_printf(&b, "},\"unlabeled\":%zu}", counts[p * width + n_labels]);
    }
    dmi_buf_puts(&b, "],\"groups\":");
    if (s->o.group_by == DM_GROUP_NONE) dmi_buf_puts(&b, "null");
    else dmi_buf_printf(&b, "%zu", s->n_groups);
    dmi_buf_printf(&b, ",\"folds\":%zu,\"stratified\":%s,\"seed\":%llu}", s->o.folds, s->o.stratify ? "true" : "false",
                   (unsigned long long)s->o.seed);
    free(counts), free(rows);
    return dmi_buf_finish(&b, out, NULL);
}

/* ------------------------------------------------------------- split */

static dm_status make_groups(splitter *s)
{
    s->group_of = dmi_malloc((s->n ? s->n : 1) * sizeof *s->group_of);
    if (!s->group_of) return DM_ERR_NO_MEMORY;
    dm_status st = s->o.group_by == DM_GROUP_COLUMN ? groups_from_column(s) : groups_from_duplicates(s);
    if (st) return st;
    if (s->o.folds > s->n_groups)
        return dmi_fail(DM_ERR_RANGE, "dm_split_options.folds is %zu but the dataset has only %zu groups", s->o.folds,
                        s->n_groups);
    return DM_OK;
}

DM_API dm_status dm_dataset_split(const dm_dataset *ds, const dm_split_options *opts, int32_t *assign,
                                  char **report_json)
{
    if (report_json) *report_json = NULL;
    if (!ds) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_split: ds is NULL");
    if (!assign) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_split: assign is NULL");
    splitter s = {.ds = ds, .n = dm_dataset_size(ds)};
    dm_status st = check_split_options(ds, opts, &s.o);
    if (st) return st;
    if (s.o.folds > INT32_MAX)
        return dmi_fail(DM_ERR_RANGE, "dm_split_options.folds is %zu: at most %d", s.o.folds, INT32_MAX);
    s.n_parts = s.o.folds ? s.o.folds : 3;
    double sum = s.o.train + s.o.val + s.o.test;
    s.frac[0] = s.o.train / sum, s.frac[1] = s.o.val / sum, s.frac[2] = s.o.test / sum;
    st = make_strata(&s);
    if (!st) {
        s.alloc = calloc_matrix(s.n_strata, s.n_parts, sizeof *s.alloc);
        if (!s.alloc) st = DM_ERR_NO_MEMORY;
    }
    if (!st) {
        if (s.o.folds) st = allocate_folds(&s);
        else st = allocate_fractions(&s);
    }
    if (!st && s.o.group_by != DM_GROUP_NONE) st = make_groups(&s);
    if (!st) st = s.o.group_by != DM_GROUP_NONE ? assign_groups(&s, assign) : assign_rows(&s, assign);
    if (!st && report_json) st = split_report(&s, assign, report_json);
    splitter_free(&s);
    return st;
}

/* ============================================================ resampling */

DM_API void dm_resample_options_default(dm_resample_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->strategy = DM_RESAMPLE_OVER;
    opts->target = NULL;
    opts->n_target = 0;
    opts->seed = 42;
}

static dm_status check_resample_options(const dm_dataset *ds, const dm_resample_options *in, dm_resample_options *o)
{
    dm_resample_options_default(o);
    if (in && dmi_copy_options(o, sizeof *o, in, "dm_resample_options")) return DM_ERR_INVALID_ARGUMENT;
    if ((unsigned)o->strategy > DM_RESAMPLE_UNDER)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_resample_options.strategy: unknown value %d (expected DM_RESAMPLE_OVER or "
                        "DM_RESAMPLE_UNDER)",
                        (int)o->strategy);
    size_t n_labels = dm_dataset_num_labels(ds);
    if (n_labels == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_resample: the dataset has no labels to resample by");
    if (!o->target && o->n_target)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_resample_options: n_target is %zu but target is NULL",
                        o->n_target);
    if (!o->target) return DM_OK;
    if (o->n_target != n_labels)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_resample_options.n_target is %zu but the dataset has %zu labels (one weight per label)",
                        o->n_target, n_labels);
    for (size_t c = 0; c < n_labels; c++)
        if (!(o->target[c] > 0) || !isfinite(o->target[c]))
            return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                            "dm_resample_options.target[%zu] (label \"%s\") is %g: weights must be finite and > 0", c,
                            dm_dataset_label_name(ds, (int32_t)c), o->target[c]);
    return DM_OK;
}

/* Rows wanted per class: the counts scaled to the target, relative to the
 * class furthest above it (over) or below it (under), which stays as it is. */
static dm_status resample_counts(const dm_dataset *ds, const dm_resample_options *o, const size_t *have, size_t *want)
{
    size_t n_labels = dm_dataset_num_labels(ds);
    bool over = o->strategy == DM_RESAMPLE_OVER;
    double scale = over ? 0.0 : INFINITY;
    for (size_t c = 0; c < n_labels; c++) {
        if (have[c] == 0)
            return dmi_fail(DM_ERR_RANGE,
                            over ? "dm_dataset_resample: label \"%s\" has no rows, so it cannot be over-sampled"
                                 : "dm_dataset_resample: label \"%s\" has no rows, so under-sampling to the target "
                                   "would keep none",
                            dm_dataset_label_name(ds, (int32_t)c));
        double w = o->target ? o->target[c] : 1.0, r = (double)have[c] / w;
        scale = over ? fmax(scale, r) : fmin(scale, r);
    }
    double total = 0;
    for (size_t c = 0; c < n_labels; c++) {
        double w = o->target ? o->target[c] : 1.0, x = floor(scale * w + 0.5);
        if (over) x = fmax(x, (double)have[c]);
        else x = fmin(x, (double)have[c]);
        total += x;
        if (total > MAX_RESAMPLED_ROWS)
            return dmi_fail(DM_ERR_RANGE,
                            "dm_dataset_resample: the target would need more than %.0f rows (label \"%s\" alone "
                            "%.0f); use a less skewed target",
                            MAX_RESAMPLED_ROWS, dm_dataset_label_name(ds, (int32_t)c), x);
        want[c] = (size_t)x;
    }
    return DM_OK;
}

/* Output rows: for over-sampling every row, then the copies by label; for
 * under-sampling the kept rows in input order. */
static dm_status resample_rows(const dm_dataset *ds, const dm_resample_options *o, const size_t *have,
                               const size_t *want, size_t **rows_out, size_t *n_out)
{
    size_t n = dm_dataset_size(ds), n_labels = dm_dataset_num_labels(ds), total = n;
    for (size_t c = 0; c < n_labels; c++) total = total - have[c] + want[c];
    size_t *start = dmi_calloc(n_labels + 1, sizeof *start);
    size_t *by_class = dmi_malloc((n ? n : 1) * sizeof *by_class);
    size_t *rows = dmi_malloc((total > n ? total : n ? n : 1) * sizeof *rows);
    unsigned char *keep = dmi_calloc(n ? n : 1, 1);
    if (!start || !by_class || !rows || !keep) {
        free(start), free(by_class), free(rows), free(keep);
        return DM_ERR_NO_MEMORY;
    }
    /* Each class's rows, in input order. */
    for (size_t c = 0; c < n_labels; c++) start[c + 1] = start[c] + have[c];
    {
        size_t *next = dmi_malloc((n_labels ? n_labels : 1) * sizeof *next);
        if (!next) {
            free(start), free(by_class), free(rows), free(keep);
            return DM_ERR_NO_MEMORY;
        }
        memcpy(next, start, n_labels * sizeof *next);
        for (size_t i = 0; i < n; i++) {
            int32_t l = dm_dataset_label(ds, i);
            if (l >= 0) by_class[next[l]++] = i;
        }
        free(next);
    }
    size_t k = 0;
    if (o->strategy == DM_RESAMPLE_OVER) {
        for (size_t i = 0; i < n; i++) rows[k++] = i;
        for (size_t c = 0; c < n_labels; c++) {
            dmi_rng rng; /* one stream per class: a class's copies do not depend on the others */
            dmi_rng_init(&rng, o->seed, STREAM_RESAMPLE + c);
            for (size_t j = have[c]; j < want[c]; j++) rows[k++] = by_class[start[c] + dmi_rng_below(&rng, have[c])];
        }
    } else {
        for (size_t i = 0; i < n; i++) keep[i] = dm_dataset_label(ds, i) < 0;
        for (size_t c = 0; c < n_labels; c++) {
            dmi_rng rng;
            dmi_rng_init(&rng, o->seed, STREAM_RESAMPLE + c);
            size_t *rc = by_class + start[c], m = have[c];
            for (size_t j = 0; j < want[c]; j++) { /* partial Fisher-Yates: a uniform subset */
                size_t pick = j + (size_t)dmi_rng_below(&rng, m - j), t = rc[j];
                rc[j] = rc[pick], rc[pick] = t;
                keep[rc[j]] = 1;
            }
        }
        for (size_t i = 0; i < n; i++)
            if (keep[i]) rows[k++] = i;
    }
    free(start), free(by_class), free(keep);
    *rows_out = rows, *n_out = k;
    return DM_OK;
}

static void label_counts_json(dmi_buf *b, const dm_dataset *ds, const size_t *counts)
{
    dmi_buf_puts(b, "{");
    for (size_t c = 0; c < dm_dataset_num_labels(ds); c++) {
        const char *name = dm_dataset_label_name(ds, (int32_t)c);
        if (c) dmi_buf_puts(b, ",");
        dmi_buf_json_string(b, name, strlen(name));
        dmi_buf_printf(b, ":%zu", counts[c]);
    }
    dmi_buf_puts(b, "}");
}

static dm_status resample_report(const dm_dataset *ds, const dm_resample_options *o, const size_t *have,
                                 const size_t *want, size_t rows_out, size_t unlabeled, char **out)
{
    dmi_buf b = {0};
    dmi_buf_printf(&b, "{\"rows_in\":%zu,\"rows_out\":%zu,\"strategy\":\"%s\",\"before\":", dm_dataset_size(ds),
                   rows_out, o->strategy == DM_RESAMPLE_OVER ? "over" : "under");
    label_counts_json(&b, ds, have);
    dmi_buf_puts(&b, ",\"after\":");
    label_counts_json(&b, ds, want);
    dmi_buf_printf(&b, ",\"unlabeled\":%zu,\"seed\":%llu}", unlabeled, (unsigned long long)o->seed);
    return dmi_buf_finish(&b, out, NULL);
}

DM_API dm_status dm_dataset_resample(const dm_dataset *ds, const dm_resample_options *opts, dm_dataset **out,
                                     char **report_json)
{
    if (out) *out = NULL;
    if (report_json) *report_json = NULL;
    if (!ds) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_resample: ds is NULL");
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_resample: out is NULL");
    dm_resample_options o;
    dm_status st = check_resample_options(ds, opts, &o);
    if (st) return st;
    size_t n = dm_dataset_size(ds), n_labels = dm_dataset_num_labels(ds), unlabeled = 0;
    size_t *have = dmi_calloc(n_labels, sizeof *have), *want = dmi_calloc(n_labels, sizeof *want);
    size_t *rows = NULL, n_rows = 0;
    dm_dataset *d = NULL;
    if (!have || !want) {
        st = DM_ERR_NO_MEMORY;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t l = dm_dataset_label(ds, i);
        if (l < 0) unlabeled++;
        else have[l]++;
    }
    st = resample_counts(ds, &o, have, want);
    if (!st) st = resample_rows(ds, &o, have, want, &rows, &n_rows);
    if (!st) st = dmi_derive_begin(ds, 0, NULL, &d);
    if (!st) st = dmi_derive_rows(d, ds, rows, n_rows);
    if (!st && report_json) st = resample_report(ds, &o, have, want, n_rows, unlabeled, report_json);
    if (!st) *out = d, d = NULL;
done:
    dm_dataset_free(d);
    free(have), free(want), free(rows);
    return st;
}

/* ========================================================= class weights */

DM_API dm_status dm_dataset_class_weights(const dm_dataset *ds, double *weights)
{
    if (!ds) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_class_weights: ds is NULL");
    if (!weights) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_class_weights: weights is NULL");
    size_t n = dm_dataset_size(ds), n_labels = dm_dataset_num_labels(ds);
    if (n_labels == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_class_weights: the dataset has no labels");
    size_t *count = dmi_calloc(n_labels, sizeof *count);
    if (!count) return DM_ERR_NO_MEMORY;
    size_t labelled = 0, present = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t l = dm_dataset_label(ds, i);
        if (l >= 0) count[l]++, labelled++;
    }
    for (size_t c = 0; c < n_labels; c++) present += count[c] > 0;
    if (present == 0) {
        free(count);
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_class_weights: no row of the dataset has a label");
    }
    /* As scikit-learn: n_samples / (n_classes * bincount), in that order of operations. */
    for (size_t c = 0; c < n_labels; c++)
        weights[c] = count[c] ? (double)labelled / ((double)present * (double)count[c]) : 0.0;
    free(count);
    return DM_OK;
}
