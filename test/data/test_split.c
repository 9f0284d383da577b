/*
 * test_split.c — dm_dataset_split (random, stratified, k-fold, grouped by a
 * column or by near duplicates), dm_dataset_resample and
 * dm_dataset_class_weights: exact sizes, no row lost or repeated,
 * determinism, stratified proportions, reports (parsed with jansson),
 * scikit-learn references (fixtures from test/data/gen_split_fixtures.py),
 * every bad option, and the real data sets in $DATA (default
 * SRCROOT/../shared/data; skipped with a note when absent).
 */
#include "datamodel.h"
#include "data/dataset_internal.h"

#include "../unit/check.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------- helpers */

/* A dataset of N rows "t<i>" whose labels are LABELS[i] (NULL: none). */
static dm_dataset *from_labels(size_t n, const char *const *labels, const dm_dataset_options *o)
{
    char **texts = malloc((n ? n : 1) * sizeof *texts);
    for (size_t i = 0; i < n; i++) {
        texts[i] = malloc(24);
        snprintf(texts[i], 24, "t%zu", i);
    }
    dm_dataset *ds = NULL;
    dm_status st = dm_dataset_from_texts(n, (const char *const *)texts, NULL, NULL, NULL, labels, o, &ds);
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    return ds;
}

/* A dataset with class counts COUNTS[0..K-1] (labels "0", "1", ...) and
 * UNLABELED rows without a label, rows interleaved so that classes mix. */
static dm_dataset *from_counts(const size_t *counts, size_t k, size_t unlabeled)
{
    static char names[64][24];
    size_t n = unlabeled, left[64];
    for (size_t c = 0; c < k; c++) n += counts[c], left[c] = counts[c], snprintf(names[c], sizeof names[c], "%zu", c);
    const char **labels = malloc((n ? n : 1) * sizeof *labels);
    size_t i = 0, none = unlabeled;
    while (i < n)
        for (size_t c = 0; c <= k && i < n; c++) {
            if (c == k) {
                if (none) labels[i++] = NULL, none--;
            } else if (left[c]) labels[i++] = names[c], left[c]--;
        }
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    const char *set[64];
    for (size_t c = 0; c < k; c++) set[c] = names[c];
    o.labels = set, o.n_labels = k; /* classes with no rows stay in the label set */
    dm_dataset *ds = from_labels(n, labels, &o);
    free(labels);
    return ds;
}

/* A CSV dataset from memory (columns text,label,grp; grp as group column). */
static dm_dataset *from_csv(const char *csv)
{
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.group_column = "grp";
    dm_dataset *ds = NULL;
    dm_status st = dmi_dataset_load_memory(csv, strlen(csv), DM_FORMAT_CSV, &o, "t.csv", &ds);
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    return ds;
}

/* The test's own largest remainder: the spec, written independently. */
static void expected_sizes(size_t n, const double *f, size_t *out)
{
    double sum = f[0] + f[1] + f[2], rem[3];
    size_t given = 0;
    for (int p = 0; p < 3; p++) {
        double q = (double)n * f[p] / sum;
        out[p] = (size_t)q;
        rem[p] = q - (double)out[p];
        given += out[p];
    }
    for (; given < n; given++) {
        int best = -1;
        for (int p = 0; p < 3; p++)
            if (f[p] > 0 && rem[p] >= 0 && (best < 0 || rem[p] > rem[best])) best = p;
        out[best]++, rem[best] = -1;
    }
}

/* Part sizes of ASSIGN; 0 when some entry is outside 0..NP-1. */
static int part_sizes(const int32_t *assign, size_t n, size_t np, size_t *sizes)
{
    memset(sizes, 0, np * sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        if (assign[i] < 0 || (size_t)assign[i] >= np) return 0;
        sizes[assign[i]]++;
    }
    return 1;
}

/* Per label (and none, last) counts per part: COUNTS[p * (L + 1) + label]. */
static size_t *class_part_counts(const dm_dataset *ds, const int32_t *assign, size_t np)
{
    size_t n = dm_dataset_size(ds), L = dm_dataset_num_labels(ds);
    size_t *counts = calloc(np * (L + 1), sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        int32_t l = dm_dataset_label(ds, i);
        counts[(size_t)assign[i] * (L + 1) + (l < 0 ? L : (size_t)l)]++;
    }
    return counts;
}

/* Each stratum within one row of its ideal share in every part. */
static int within_one_row(const dm_dataset *ds, const int32_t *assign, const double *f, size_t np)
{
    size_t n = dm_dataset_size(ds), L = dm_dataset_num_labels(ds);
    size_t *counts = class_part_counts(ds, assign, np);
    size_t *total = calloc(L + 1, sizeof *total);
    for (size_t i = 0; i < n; i++) {
        int32_t l = dm_dataset_label(ds, i);
        total[l < 0 ? L : (size_t)l]++;
    }
    int ok = 1;
    for (size_t c = 0; c <= L; c++)
        for (size_t p = 0; p < np; p++) {
            double ideal = (double)total[c] * f[p];
            if (fabs((double)counts[p * (L + 1) + c] - ideal) >= 1.0 - 1e-9) ok = 0;
        }
    free(counts), free(total);
    return ok;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = text ? json_loads(text, 0, &err) : NULL;
    CHECK(j != NULL);
    if (!j && text) fprintf(stderr, "  bad JSON: %s: %s\n", err.text, text);
    return j;
}

static size_t jint(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (size_t)json_integer_value(v) : SIZE_MAX;
}

static dm_status split(const dm_dataset *ds, double tr, double va, double te, size_t folds, int stratify,
                       dm_group_by g, uint64_t seed, int32_t *assign, char **report)
{
    dm_split_options o;
    dm_split_options_default(&o);
    o.train = tr, o.val = va, o.test = te, o.folds = folds, o.stratify = stratify, o.group_by = g, o.seed = seed;
    return dm_dataset_split(ds, &o, assign, report);
}

static const char *data_dir(void)
{
    static char dir[1024];
    const char *d = getenv("DATA");
    if (d && d[0]) return d;
    const char *src = getenv("SRCROOT");
    snprintf(dir, sizeof dir, "%s/../shared/data", src && src[0] ? src : ".");
    return dir;
}

static json_t *load_fixture(const char *name)
{
    char path[1024];
    const char *src = getenv("SRCROOT");
    snprintf(path, sizeof path, "%s/test/data/fixtures/%s", src && src[0] ? src : ".", name);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    CHECK(j != NULL);
    if (!j) fprintf(stderr, "  %s: %s\n", path, err.text);
    return j;
}

/* ----------------------------------------------------------------- options */

static void test_options(void)
{
    dm_split_options o;
    memset(&o, 0x55, sizeof o);
    dm_split_options_default(&o);
    CHECK(o.struct_size == sizeof o && o.train == 0.8 && o.val == 0.1 && o.test == 0.1);
    CHECK(o.folds == 0 && o.stratify == 0 && o.group_by == DM_GROUP_NONE && o.dedup == NULL && o.seed == 42);
    dm_resample_options r;
    memset(&r, 0x55, sizeof r);
    dm_resample_options_default(&r);
    CHECK(r.struct_size == sizeof r && r.strategy == DM_RESAMPLE_OVER && r.target == NULL && r.n_target == 0);
    CHECK(r.seed == 42);
    dm_split_options_default(NULL); /* no crash */
    dm_resample_options_default(NULL);
}

/* ----------------------------------------------------------- random split */

static void test_random_sizes(void)
{
    static const double fracs[][3] = {{0.8, 0.1, 0.1}, {0.7, 0.3, 0.0}, {1, 0, 0},     {0.5, 0.25, 0.25},
                                      {0, 0, 1},       {0.6, 0.2, 0.2}, {0, 0.5, 0.5}, {1.0 / 3, 1.0 / 3, 1.0 / 3}};
    static const size_t sizes[] = {1, 2, 3, 7, 10, 101, 1000, 4099};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        dm_dataset *ds = from_labels(n, NULL, NULL);
        int32_t *assign = malloc(n * sizeof *assign);
        for (size_t fi = 0; fi < sizeof fracs / sizeof *fracs; fi++) {
            const double *f = fracs[fi];
            for (size_t i = 0; i < n; i++) assign[i] = -7;
            CHECK(split(ds, f[0], f[1], f[2], 0, 0, DM_GROUP_NONE, 42, assign, NULL) == DM_OK);
            size_t got[3], want[3];
            expected_sizes(n, f, want);
            CHECK(part_sizes(assign, n, 3, got)); /* every row in exactly one part */
            for (int p = 0; p < 3; p++) CHECK(got[p] == want[p]);
            for (int p = 0; p < 3; p++) CHECK(f[p] > 0 || got[p] == 0);
        }
        free(assign);
        dm_dataset_free(ds);
    }
    /* Hand-computed: 101 rows at 0.8/0.1/0.1 are 80.8/10.1/10.1 -> 81/10/10;
     * 7 rows at 0.5/0.25/0.25 are 3.5/1.75/1.75 -> 3/2/2. */
    size_t want101[3], want7[3];
    expected_sizes(101, (double[]){0.8, 0.1, 0.1}, want101);
    expected_sizes(7, (double[]){0.5, 0.25, 0.25}, want7);
    CHECK(want101[0] == 81 && want101[1] == 10 && want101[2] == 10);
    CHECK(want7[0] == 3 && want7[1] == 2 && want7[2] == 2);

    /* An empty dataset splits into three empty parts. */
    dm_dataset *empty = NULL;
    dm_dataset *one = from_labels(1, NULL, NULL);
    CHECK(dm_dataset_select(one, NULL, 0, &empty) == DM_OK);
    if (empty) {
        int32_t dummy = 5;
        char *report = NULL;
        CHECK(dm_dataset_split(empty, NULL, &dummy, &report) == DM_OK && dummy == 5);
        json_t *j = parse(report);
        json_t *parts = json_object_get(j, "parts");
        CHECK(json_array_size(parts) == 3 && jint(json_array_get(parts, 0), "rows") == 0);
        json_decref(j);
        dm_free(report);
        CHECK_FAILS(split(empty, 0.8, 0.1, 0.1, 2, 0, DM_GROUP_NONE, 1, &dummy, NULL), DM_ERR_RANGE, "only 0 rows");
        dm_dataset_free(empty);
    }
    dm_dataset_free(one);
}

static void test_determinism(void)
{
    size_t n = 200;
    dm_dataset *ds = from_labels(n, NULL, NULL);
    int32_t a[200], b[200], c[200];
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 0, DM_GROUP_NONE, 7, a, NULL) == DM_OK);
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 0, DM_GROUP_NONE, 7, b, NULL) == DM_OK);
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 0, DM_GROUP_NONE, 8, c, NULL) == DM_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    /* NULL options are the defaults (seed 42). */
    CHECK(dm_dataset_split(ds, NULL, a, NULL) == DM_OK);
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 0, DM_GROUP_NONE, 42, b, NULL) == DM_OK);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* The parts are a shuffle, not blocks of the input. */
    size_t train_in_first_half = 0;
    for (size_t i = 0; i < n / 2; i++) train_in_first_half += a[i] == 0;
    CHECK(train_in_first_half > 60 && train_in_first_half < 100);
    /* k-fold too. */
    CHECK(split(ds, 0.8, 0.1, 0.1, 5, 0, DM_GROUP_NONE, 7, a, NULL) == DM_OK);
    CHECK(split(ds, 0.8, 0.1, 0.1, 5, 0, DM_GROUP_NONE, 7, b, NULL) == DM_OK);
    CHECK(split(ds, 0.8, 0.1, 0.1, 5, 0, DM_GROUP_NONE, 9, c, NULL) == DM_OK);
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) != 0);
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------- stratified */

static void check_stratified(const size_t *counts, size_t k, size_t unlabeled, const double *f, uint64_t seed)
{
    dm_dataset *ds = from_counts(counts, k, unlabeled);
    if (!ds) return;
    size_t n = dm_dataset_size(ds), got[3], want[3];
    int32_t *assign = malloc((n ? n : 1) * sizeof *assign);
    dm_status st = split(ds, f[0], f[1], f[2], 0, 1, DM_GROUP_NONE, seed, assign, NULL);
    CHECK(st == DM_OK);
    if (!st) {
        expected_sizes(n, f, want);
        CHECK(part_sizes(assign, n, 3, got));
        int same = got[0] == want[0] && got[1] == want[1] && got[2] == want[2];
        CHECK(same);
        if (!same)
            fprintf(stderr, "  n=%zu k=%zu f=%g/%g/%g: got %zu/%zu/%zu want %zu/%zu/%zu\n", n, k, f[0], f[1], f[2],
                    got[0], got[1], got[2], want[0], want[1], want[2]);
        CHECK(within_one_row(ds, assign, f, 3));
    }
    free(assign);
    dm_dataset_free(ds);
}

static void test_stratified(void)
{
    static const double fracs[][3] = {{0.8, 0.1, 0.1}, {0.6, 0.2, 0.2}, {0.7, 0.3, 0}, {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                      {0.5, 0.45, 0.05}, {0.9, 0.05, 0.05}};
    size_t c1[] = {50, 30, 7};
    for (size_t fi = 0; fi < 6; fi++) check_stratified(c1, 3, 5, fracs[fi], 1);
    size_t c2[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}; /* every class a single row */
    for (size_t fi = 0; fi < 6; fi++) check_stratified(c2, 10, 0, fracs[fi], 2);
    size_t c3[] = {0, 5, 0, 3}; /* classes with no rows */
    check_stratified(c3, 4, 1, fracs[0], 3);

    /* Many random class-count vectors: the leftover matching always meets
     * the overall largest-remainder sizes while every class stays within
     * one row of its ideal share. */
    uint64_t x = 88172645463325252ull;
    for (int trial = 0; trial < 300; trial++) {
        size_t counts[12];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t k = 1 + x % 12, unl = (x >> 8) % 4 == 0 ? (x >> 12) % 5 : 0;
        for (size_t c = 0; c < k; c++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            counts[c] = (x >> 20) % (trial % 3 == 0 ? 4 : trial % 3 == 1 ? 20 : 300);
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double a = (double)(x % 1000) / 1000.0, b = (double)((x >> 16) % 1000) / 1000.0 * (1 - a);
        double f[3] = {a, b, 1 - a - b};
        check_stratified(counts, k, unl, f, x);
        check_stratified(counts, k, unl, fracs[trial % 6], x);
    }

    /* Report: per_class and unlabeled counts add up. */
    dm_dataset *ds = from_counts(c1, 3, 5);
    int32_t assign[92];
    char *report = NULL;
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_NONE, 5, assign, &report) == DM_OK);
    json_t *j = parse(report);
    json_t *parts = json_object_get(j, "parts");
    CHECK(json_array_size(parts) == 3);
    static const char *names[] = {"train", "val", "test"};
    size_t total = 0, *counts = class_part_counts(ds, assign, 3);
    for (size_t p = 0; p < json_array_size(parts); p++) {
        json_t *part = json_array_get(parts, p);
        CHECK(strcmp(json_string_value(json_object_get(part, "name")), names[p]) == 0);
        json_t *pc = json_object_get(part, "per_class");
        CHECK(json_object_size(pc) == 3);
        size_t rows = jint(part, "rows"), sum = jint(part, "unlabeled");
        for (size_t c = 0; c < 3; c++) {
            char key[4];
            snprintf(key, sizeof key, "%zu", c);
            sum += jint(pc, key);
            CHECK(jint(pc, key) == counts[p * 4 + c]);
        }
        CHECK(sum == rows);
        total += rows;
    }
    CHECK(total == 92);
    CHECK(json_is_null(json_object_get(j, "groups")) && jint(j, "seed") == 5);
    /* 50/30/7 at 0.8/0.1/0.1: 40/5/5 + 24/3/3 + 5.6/.7/.7 -> train 74 = 40+24+6
     * (the 5 unlabeled are a stratum too: 4/0.5/0.5). */
    size_t want[3];
    expected_sizes(92, (double[]){0.8, 0.1, 0.1}, want);
    CHECK(want[0] == 74 && want[1] == 9 && want[2] == 9);
    CHECK(jint(json_array_get(parts, 0), "rows") == 74);
    json_decref(j);
    dm_free(report);
    free(counts);
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------------ k-fold */

static void test_kfold_fixture(void)
{
    json_t *fx = load_fixture("split_kfold.json");
    json_t *cases = json_object_get(fx, "cases");
    size_t checked = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci), *labels = json_object_get(cs, "labels");
        size_t n = json_array_size(labels), k = jint(cs, "folds");
        const char **lab = malloc(n * sizeof *lab);
        for (size_t i = 0; i < n; i++) lab[i] = json_string_value(json_array_get(labels, i));
        dm_dataset *ds = from_labels(n, lab, NULL);
        int32_t *assign = malloc(n * sizeof *assign);
        size_t *sizes = malloc(k * sizeof *sizes);
        /* Stratified: per label, per fold counts equal StratifiedKFold's. */
        CHECK(split(ds, 0.8, 0.1, 0.1, k, 1, DM_GROUP_NONE, 3, assign, NULL) == DM_OK);
        CHECK(part_sizes(assign, n, k, sizes));
        size_t *counts = class_part_counts(ds, assign, k), L = dm_dataset_num_labels(ds);
        const char *key;
        json_t *per_fold;
        json_object_foreach(json_object_get(cs, "allocation"), key, per_fold)
        {
            int32_t id = dm_dataset_label_id(ds, key);
            CHECK(id >= 0);
            for (size_t f = 0; f < k && id >= 0; f++) {
                size_t want = (size_t)json_integer_value(json_array_get(per_fold, f));
                CHECK(counts[f * (L + 1) + (size_t)id] == want);
                checked++;
            }
        }
        free(counts);
        /* Plain: fold sizes equal KFold's. */
        CHECK(split(ds, 0.8, 0.1, 0.1, k, 0, DM_GROUP_NONE, 3, assign, NULL) == DM_OK);
        CHECK(part_sizes(assign, n, k, sizes));
        for (size_t f = 0; f < k; f++)
            CHECK(sizes[f] == (size_t)json_integer_value(json_array_get(json_object_get(cs, "fold_sizes"), f)));
        free(sizes), free(assign), free(lab);
        dm_dataset_free(ds);
    }
    CHECK(checked > 100);
    printf("k-fold vs scikit-learn StratifiedKFold: %zu cases, %zu per-label fold counts equal\n",
           json_array_size(cases), checked);
    json_decref(fx);
}

static void test_kfold(void)
{
    /* Leave-one-out: folds == rows. */
    dm_dataset *ds = from_labels(9, NULL, NULL);
    int32_t assign[9];
    size_t sizes[9];
    char *report = NULL;
    CHECK(split(ds, 1, 0, 0, 9, 0, DM_GROUP_NONE, 1, assign, &report) == DM_OK);
    CHECK(part_sizes(assign, 9, 9, sizes));
    for (int f = 0; f < 9; f++) CHECK(sizes[f] == 1);
    json_t *j = parse(report);
    json_t *parts = json_object_get(j, "parts");
    CHECK(json_array_size(parts) == 9);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(parts, 8), "name")), "fold8") == 0);
    CHECK(jint(j, "folds") == 9);
    json_decref(j);
    dm_free(report);
    CHECK_FAILS(split(ds, 1, 0, 0, 10, 0, DM_GROUP_NONE, 1, assign, NULL), DM_ERR_RANGE, "folds is 10");
    CHECK_FAILS(split(ds, 1, 0, 0, 1, 0, DM_GROUP_NONE, 1, assign, NULL), DM_ERR_INVALID_ARGUMENT, "folds is 1");
    dm_dataset_free(ds);

    /* Stratified with unlabeled rows: 23/11/3 + 4 none in 4 folds, each
     * stratum's fold counts within one, fold sizes within one. */
    size_t c[] = {23, 11, 3};
    ds = from_counts(c, 3, 4);
    int32_t a[41];
    CHECK(split(ds, 1, 0, 0, 4, 1, DM_GROUP_NONE, 11, a, NULL) == DM_OK);
    size_t s4[4];
    CHECK(part_sizes(a, 41, 4, s4));
    CHECK(s4[0] == 11 && s4[1] == 10 && s4[2] == 10 && s4[3] == 10);
    CHECK(within_one_row(ds, a, (double[]){0.25, 0.25, 0.25, 0.25}, 4));
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------------ groups */

/* Whether rows of one group (same non-empty value in KEY[i]) share a part. */
static int groups_whole(const dm_dataset *ds, const int32_t *assign)
{
    size_t n = dm_dataset_size(ds);
    for (size_t i = 0; i < n; i++) {
        size_t li;
        const char *gi = dm_dataset_group(ds, i, &li);
        if (!gi || !li) continue;
        for (size_t j = i + 1; j < n; j++) {
            size_t lj;
            const char *gj = dm_dataset_group(ds, j, &lj);
            if (gj && lj == li && memcmp(gi, gj, li) == 0 && assign[i] != assign[j]) return 0;
        }
    }
    return 1;
}

static char *grouped_csv(size_t n_rows, size_t n_groups, int with_empty)
{
    size_t cap = n_rows * 40 + 64, len = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv + len, cap - len, "text,label,grp\n");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n_rows; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t g = (x >> 5) % n_groups;
        /* Skewed sizes: a third of the rows fall into group 0..2. */
        if ((x >> 40) % 3 == 0) g = (x >> 44) % 3;
        const char *label = (x >> 30) % 4 == 0 ? "pos" : "neg";
        if (with_empty && (x >> 50) % 7 == 0)
            len += (size_t)snprintf(csv + len, cap - len, "row %zu,%s,\n", i, label);
        else
            len += (size_t)snprintf(csv + len, cap - len, "row %zu,%s,g%zu\n", i, label, g);
    }
    return csv;
}

static void test_group_column(void)
{
    char *csv = grouped_csv(600, 40, 1);
    dm_dataset *ds = from_csv(csv);
    free(csv);
    if (!ds) return;
    size_t n = dm_dataset_size(ds), sizes[5], want[3];
    int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    char *report = NULL;
    for (int strat = 0; strat <= 1; strat++) {
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, strat, DM_GROUP_COLUMN, 3, a, &report) == DM_OK);
        CHECK(part_sizes(a, n, 3, sizes));
        CHECK(groups_whole(ds, a));
        expected_sizes(n, (double[]){0.8, 0.1, 0.1}, want);
        /* Many small groups and singletons: sizes come close to the targets. */
        for (int p = 0; p < 3; p++) CHECK(labs((long)sizes[p] - (long)want[p]) <= 3);
        printf("grouped (stratify=%d) 600 rows, 40 groups + singletons: %zu/%zu/%zu (targets %zu/%zu/%zu)\n", strat,
               sizes[0], sizes[1], sizes[2], want[0], want[1], want[2]);
        json_t *j = parse(report);
        size_t groups = jint(j, "groups");
        CHECK(groups > 40 && groups < 200); /* 40 named + the rows with an empty value */
        json_decref(j);
        dm_free(report);
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, strat, DM_GROUP_COLUMN, 3, b, NULL) == DM_OK);
        CHECK(memcmp(a, b, n * sizeof *a) == 0);
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, strat, DM_GROUP_COLUMN, 4, b, NULL) == DM_OK);
        CHECK(memcmp(a, b, n * sizeof *a) != 0);
        /* k-fold grouped. */
        CHECK(split(ds, 1, 0, 0, 5, strat, DM_GROUP_COLUMN, 3, a, NULL) == DM_OK);
        CHECK(part_sizes(a, n, 5, sizes));
        CHECK(groups_whole(ds, a));
        for (int f = 0; f < 5; f++) CHECK(labs((long)sizes[f] - (long)(n / 5)) <= 3);
    }
    free(a), free(b);
    dm_dataset_free(ds);

    /* Hand-checked: groups of 5, 3, 1, 1 at 0.5/0.5/0: the 5 to train, the 3
     * to val (now furthest below its 5), the singles to val: 5/5/0. */
    ds = from_csv("text,label,grp\na,x,A\nb,x,A\nc,x,A\nd,x,A\ne,x,A\nf,x,B\ng,x,B\nh,x,B\ni,x,\nj,x,\n");
    int32_t h[10];
    CHECK(split(ds, 0.5, 0.5, 0, 0, 0, DM_GROUP_COLUMN, 1, h, &report) == DM_OK);
    CHECK(part_sizes(h, 10, 3, sizes) && sizes[0] == 5 && sizes[1] == 5 && sizes[2] == 0);
    CHECK(h[0] == h[4] && h[5] == h[7] && h[0] != h[5]);
    json_t *j = parse(report);
    CHECK(jint(j, "groups") == 4);
    json_decref(j);
    dm_free(report);
    /* Fewer groups than folds. */
    CHECK_FAILS(split(ds, 1, 0, 0, 5, 0, DM_GROUP_COLUMN, 1, h, NULL), DM_ERR_RANGE, "only 4 groups");
    /* A single group: everything in one part, never straddling. */
    dm_dataset_free(ds);
    ds = from_csv("text,label,grp\na,x,A\nb,y,A\nc,x,A\n");
    int32_t one[3];
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_COLUMN, 1, one, NULL) == DM_OK);
    CHECK(one[0] == 0 && one[1] == 0 && one[2] == 0);
    dm_dataset_free(ds);

    /* Stratified + grouped: groups that are all one class still balance the
     * classes across parts. 20 groups of "pos" and 20 of "neg", 5 rows each. */
    size_t cap = 200 * 24 + 32, len = 0;
    char *buf = malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "text,label,grp\n");
    for (size_t i = 0; i < 200; i++)
        len += (size_t)snprintf(buf + len, cap - len, "r%zu,%s,G%zu\n", i, (i / 5) % 2 ? "pos" : "neg", i / 5);
    ds = from_csv(buf);
    free(buf);
    int32_t sg[200];
    CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_COLUMN, 9, sg, NULL) == DM_OK);
    CHECK(groups_whole(ds, sg));
    size_t *counts = class_part_counts(ds, sg, 3);
    /* Targets per class: 80/10/10 rows = 16/2/2 groups of each class. */
    CHECK(counts[0] == 80 && counts[1] == 80 && counts[3] == 10 && counts[4] == 10 && counts[6] == 10 &&
          counts[7] == 10);
    free(counts);
    dm_dataset_free(ds);
}

static void test_near_duplicate_groups(void)
{
    static const char *texts[] = {
        "the quick brown fox jumps over the lazy dog",  "The quick brown fox jumps over the lazy dog!",
        "a completely different sentence about cats",   "another unrelated line of text here",
        "the quick brown fox jumps over the lazy dog.", "yet another sentence that stands alone",
        "A completely different sentence about cats",   "something else entirely, number eight",
        "nine is a number and this is row nine",        "ten rows make a small dataset indeed",
    };
    const char *labels[10] = {"a", "a", "b", "b", "a", "b", "b", "a", "b", "a"};
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(10, texts, NULL, NULL, NULL, labels, NULL, &ds) == DM_OK);
    int32_t a[10];
    char *report = NULL;
    dm_status st = split(ds, 0.5, 0.5, 0, 0, 0, DM_GROUP_NEAR_DUPLICATES, 1, a, &report);
    if (st == DM_ERR_UNSUPPORTED) {
        printf("note: near-duplicate grouping skipped: %s\n", dm_last_error());
        dm_dataset_free(ds);
        return;
    }
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    if (!st) {
        CHECK(a[0] == a[1] && a[1] == a[4]); /* exact after normalisation, or near */
        CHECK(a[2] == a[6]);
        json_t *j = parse(report);
        size_t groups = jint(j, "groups");
        CHECK(groups >= 6 && groups <= 7);
        printf("near-duplicate groups: %zu of 10 rows\n", groups);
        json_decref(j);
        dm_free(report);
        /* k-fold on near-duplicate groups. */
        CHECK(split(ds, 1, 0, 0, 3, 1, DM_GROUP_NEAR_DUPLICATES, 1, a, NULL) == DM_OK);
        CHECK(a[0] == a[1] && a[1] == a[4] && a[2] == a[6]);
        /* Its own options are validated and named. */
        dm_dedup_options d;
        dm_dedup_options_default(&d);
        d.struct_size = 0;
        dm_split_options o;
        dm_split_options_default(&o);
        o.group_by = DM_GROUP_NEAR_DUPLICATES;
        o.dedup = &d;
        CHECK_FAILS(dm_dataset_split(ds, &o, a, NULL), DM_ERR_INVALID_ARGUMENT, "dm_dedup_options");
    }
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------- bad options */

static void test_split_errors(void)
{
    dm_dataset *ds = from_labels(10, (const char *[]){"a", "b", "a", "b", "a", "b", "a", "b", "a", "b"}, NULL);
    dm_dataset *plain = from_labels(10, NULL, NULL);
    int32_t a[10];
    CHECK_FAILS(dm_dataset_split(NULL, NULL, a, NULL), DM_ERR_INVALID_ARGUMENT, "ds is NULL");
    CHECK_FAILS(dm_dataset_split(ds, NULL, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "assign is NULL");
    CHECK_FAILS(split(ds, 0.5, 0.1, 0.1, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT,
                "train=0.5, val=0.1, test=0.1, sum=0.7");
    CHECK_FAILS(split(ds, 1.2, -0.1, -0.1, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "[0, 1]");
    CHECK_FAILS(split(ds, 1.1, -0.1, 0, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "val=-0.1");
    CHECK_FAILS(split(ds, NAN, 0.5, 0.5, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "train=nan");
    CHECK_FAILS(split(ds, INFINITY, 0, 0, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "train=inf");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1 + 2e-9, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "sum=1.000000002");
    CHECK(split(ds, 0.8, 0.1, 0.1 + 5e-10, 0, 0, DM_GROUP_NONE, 1, a, NULL) == DM_OK); /* within 1e-9 */
    CHECK_FAILS(split(ds, 0, 0, 0, 0, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "sum=0");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 1, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "folds is 1");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 11, 0, DM_GROUP_NONE, 1, a, NULL), DM_ERR_RANGE, "only 10 rows");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 0, 2, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "stratify");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 0, -1, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "stratify");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 0, 0, (dm_group_by)7, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "group_by");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 0, 0, (dm_group_by)-1, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "group_by");
    CHECK_FAILS(split(ds, 0.8, 0.1, 0.1, 0, 0, DM_GROUP_COLUMN, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "group_column");
    CHECK_FAILS(split(plain, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_NONE, 1, a, NULL), DM_ERR_INVALID_ARGUMENT, "no labels");
    dm_split_options o;
    dm_split_options_default(&o);
    o.struct_size = 0;
    CHECK_FAILS(dm_dataset_split(ds, &o, a, NULL), DM_ERR_INVALID_ARGUMENT, "dm_split_options: struct_size is 0");
    /* An older, shorter struct: missing fields keep their defaults. */
    dm_split_options_default(&o);
    o.struct_size = offsetof(dm_split_options, val);
    o.train = 0.8; /* val and test: defaults */
    CHECK(dm_dataset_split(ds, &o, a, NULL) == DM_OK);
    /* A failure leaves *report NULL. */
    char *report = (char *)"x";
    CHECK(split(ds, 2, 0, 0, 0, 0, DM_GROUP_NONE, 1, a, &report) == DM_ERR_INVALID_ARGUMENT && report == NULL);
    dm_dataset_free(ds);
    dm_dataset_free(plain);
}

/* -------------------------------------------------------------- resampling */

static dm_status resample(const dm_dataset *ds, dm_resample_strategy s, const double *target, size_t n_target,
                          uint64_t seed, dm_dataset **out, char **report)
{
    dm_resample_options o;
    dm_resample_options_default(&o);
    o.strategy = s, o.target = target, o.n_target = n_target, o.seed = seed;
    return dm_dataset_resample(ds, &o, out, report);
}

static size_t count_label(const dm_dataset *ds, int32_t id)
{
    size_t k = 0;
    for (size_t i = 0; i < dm_dataset_size(ds); i++) k += dm_dataset_label(ds, i) == id;
    return k;
}

/* The source row of an output row, through its id (from_texts rows: "1", "2", ...). */
static size_t source_row(const dm_dataset *out, size_t i) { return (size_t)strtoul(dm_dataset_id(out, i), NULL, 10) - 1; }

static void check_resampled(const dm_dataset *ds, const dm_dataset *out, dm_resample_strategy s, const size_t *want)
{
    size_t n = dm_dataset_size(ds), m = dm_dataset_size(out), L = dm_dataset_num_labels(ds);
    CHECK(dm_dataset_num_labels(out) == L);
    for (size_t c = 0; c < L; c++) CHECK(count_label(out, (int32_t)c) == want[c]);
    CHECK(count_label(out, -1) == count_label(ds, -1)); /* rows without a label kept as they are */
    int ok = 1;
    for (size_t i = 0; i < m; i++) { /* each output row is a copy of its source row */
        size_t src = source_row(out, i);
        size_t la, lb;
        const char *ta = dm_dataset_text(out, i, &la), *tb = dm_dataset_text(ds, src, &lb);
        if (src >= n || dm_dataset_label(out, i) != dm_dataset_label(ds, src) || la != lb || memcmp(ta, tb, la))
            ok = 0;
    }
    CHECK(ok);
    if (s == DM_RESAMPLE_OVER) {
        /* Every input row first, in order; then the copies grouped by label. */
        for (size_t i = 0; i < n && i < m; i++) ok = ok && source_row(out, i) == i;
        for (size_t i = n + 1; i < m; i++) ok = ok && dm_dataset_label(out, i) >= dm_dataset_label(out, i - 1);
    } else {
        for (size_t i = 1; i < m; i++) ok = ok && source_row(out, i) > source_row(out, i - 1);
    }
    CHECK(ok);
}

static void test_resample(void)
{
    /* Counts 10/4/1 (labels "0" "1" "2") and 2 rows without a label. */
    size_t c[] = {10, 4, 1};
    dm_dataset *ds = from_counts(c, 3, 2), *out = NULL;
    char *report = NULL;
    /* Hand-computed expectations. Over, uniform: every class up to the
     * largest, 10/10/10 (+2 unlabeled = 32 rows). */
    CHECK(resample(ds, DM_RESAMPLE_OVER, NULL, 0, 1, &out, &report) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_OVER, (size_t[]){10, 10, 10});
    CHECK(dm_dataset_size(out) == 32);
    json_t *j = parse(report);
    CHECK(jint(j, "rows_in") == 17 && jint(j, "rows_out") == 32);
    json_t *before = json_object_get(j, "before"), *after = json_object_get(j, "after");
    CHECK(jint(before, "0") == 10 && jint(before, "1") == 4 && jint(before, "2") == 1);
    CHECK(jint(after, "0") == 10 && jint(after, "1") == 10 && jint(after, "2") == 10);
    CHECK(jint(j, "unlabeled") == 2);
    json_decref(j);
    dm_free(report);
    /* Determinism: same seed, same rows; another seed, other copies. */
    dm_dataset *again = NULL, *other = NULL;
    CHECK(resample(ds, DM_RESAMPLE_OVER, NULL, 0, 1, &again, NULL) == DM_OK);
    CHECK(resample(ds, DM_RESAMPLE_OVER, NULL, 0, 2, &other, NULL) == DM_OK);
    int same = 1, differ = 0;
    for (size_t i = 0; i < 32; i++) {
        same = same && strcmp(dm_dataset_id(out, i), dm_dataset_id(again, i)) == 0;
        differ = differ || strcmp(dm_dataset_id(out, i), dm_dataset_id(other, i)) != 0;
    }
    CHECK(same && differ);
    dm_dataset_free(again), dm_dataset_free(other), dm_dataset_free(out);

    /* Over, target 2:1:1: the class furthest above is "0" (10/2 = 5 per unit
     * against 4 and 1), so 10/5/5. */
    CHECK(resample(ds, DM_RESAMPLE_OVER, (double[]){2, 1, 1}, 3, 1, &out, NULL) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_OVER, (size_t[]){10, 5, 5});
    dm_dataset_free(out);
    /* Over, target 1:2:4 (any scale: 0.5:1:2 is the same): 10 per unit -> 10/20/40. */
    CHECK(resample(ds, DM_RESAMPLE_OVER, (double[]){0.5, 1, 2}, 3, 1, &out, NULL) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_OVER, (size_t[]){10, 20, 40});
    dm_dataset_free(out);
    /* Over, target 1:1:3: unit = max(10, 4, 1/3) = 10 -> 10/10/30. */
    CHECK(resample(ds, DM_RESAMPLE_OVER, (double[]){1, 1, 3}, 3, 1, &out, NULL) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_OVER, (size_t[]){10, 10, 30});
    dm_dataset_free(out);
    /* Under, uniform: the class furthest below (1 row) stays whole -> 1/1/1. */
    CHECK(resample(ds, DM_RESAMPLE_UNDER, NULL, 0, 1, &out, &report) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_UNDER, (size_t[]){1, 1, 1});
    CHECK(dm_dataset_size(out) == 5);
    j = parse(report);
    CHECK(jint(j, "rows_out") == 5 && jint(json_object_get(j, "after"), "0") == 1);
    CHECK(strcmp(json_string_value(json_object_get(j, "strategy")), "under") == 0);
    json_decref(j);
    dm_free(report);
    dm_dataset_free(out);
    /* Under, target 4:2:1: unit = min(10/4, 4/2, 1) = 1 -> 4/2/1. */
    CHECK(resample(ds, DM_RESAMPLE_UNDER, (double[]){4, 2, 1}, 3, 1, &out, NULL) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_UNDER, (size_t[]){4, 2, 1});
    dm_dataset_free(out);
    /* Under, target 3:1:0.5: unit = min(3.33, 4, 2) = 2 -> 6/2/1. */
    CHECK(resample(ds, DM_RESAMPLE_UNDER, (double[]){3, 1, 0.5}, 3, 1, &out, NULL) == DM_OK);
    check_resampled(ds, out, DM_RESAMPLE_UNDER, (size_t[]){6, 2, 1});
    dm_dataset_free(out);
    /* Under draws a uniform subset: over seeds, every row of "0" is kept sometimes. */
    size_t kept[10] = {0};
    for (uint64_t seed = 0; seed < 200; seed++) {
        CHECK(resample(ds, DM_RESAMPLE_UNDER, NULL, 0, seed, &out, NULL) == DM_OK);
        for (size_t i = 0; i < dm_dataset_size(out); i++)
            if (dm_dataset_label(out, i) == 0) {
                size_t src = source_row(out, i), k = 0;
                for (size_t r = 0; r < src; r++) k += dm_dataset_label(ds, r) == 0;
                kept[k]++;
            }
        dm_dataset_free(out);
    }
    int all = 1;
    for (int k = 0; k < 10; k++) all = all && kept[k] >= 5 && kept[k] <= 40; /* 20 expected */
    CHECK(all);
    dm_dataset_free(ds);

    /* A balanced dataset is returned as is. */
    size_t bal[] = {3, 3};
    ds = from_counts(bal, 2, 0);
    CHECK(resample(ds, DM_RESAMPLE_OVER, NULL, 0, 1, &out, NULL) == DM_OK && dm_dataset_size(out) == 6);
    dm_dataset_free(out);
    CHECK(resample(ds, DM_RESAMPLE_UNDER, NULL, 0, 1, &out, NULL) == DM_OK && dm_dataset_size(out) == 6);
    dm_dataset_free(out);
    dm_dataset_free(ds);
}

static void test_resample_errors(void)
{
    size_t c[] = {5, 2};
    dm_dataset *ds = from_counts(c, 2, 0), *out = (dm_dataset *)1, *plain = from_labels(4, NULL, NULL);
    size_t c0[] = {5, 0, 2};
    dm_dataset *hole = from_counts(c0, 3, 0);
    char *report = (char *)"x";
    CHECK_FAILS(dm_dataset_resample(NULL, NULL, &out, NULL), DM_ERR_INVALID_ARGUMENT, "ds is NULL");
    CHECK(out == NULL);
    CHECK_FAILS(dm_dataset_resample(ds, NULL, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "out is NULL");
    CHECK_FAILS(dm_dataset_resample(plain, NULL, &out, &report), DM_ERR_INVALID_ARGUMENT, "no labels");
    CHECK(report == NULL);
    CHECK_FAILS(resample(ds, (dm_resample_strategy)2, NULL, 0, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT, "strategy");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_OVER, (double[]){1, 1, 1}, 3, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "n_target is 3 but the dataset has 2 labels");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_OVER, (double[]){1}, 1, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "n_target is 1");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_OVER, NULL, 2, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT, "target is NULL");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_OVER, (double[]){1, 0}, 2, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "target[1] (label \"1\") is 0");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_OVER, (double[]){-1, 1}, 2, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "target[0]");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_UNDER, (double[]){NAN, 1}, 2, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "is nan");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_UNDER, (double[]){1, INFINITY}, 2, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT,
                "is inf");
    CHECK_FAILS(resample(hole, DM_RESAMPLE_OVER, NULL, 0, 1, &out, NULL), DM_ERR_RANGE,
                "label \"1\" has no rows, so it cannot be over-sampled");
    CHECK_FAILS(resample(hole, DM_RESAMPLE_UNDER, NULL, 0, 1, &out, NULL), DM_ERR_RANGE, "label \"1\" has no rows");
    CHECK_FAILS(resample(ds, DM_RESAMPLE_OVER, (double[]){1, 1e12}, 2, 1, &out, NULL), DM_ERR_RANGE,
                "less skewed target");
    dm_resample_options o;
    dm_resample_options_default(&o);
    o.struct_size = 0;
    CHECK_FAILS(dm_dataset_resample(ds, &o, &out, NULL), DM_ERR_INVALID_ARGUMENT, "dm_resample_options: struct_size");
    CHECK(out == NULL);
    dm_dataset_free(ds), dm_dataset_free(plain), dm_dataset_free(hole);
}

/* ----------------------------------------------------------- class weights */

static void test_class_weights(void)
{
    json_t *fx = load_fixture("split_class_weights.json");
    json_t *cases = json_object_get(fx, "cases");
    double worst = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *cs = json_array_get(cases, ci), *labels = json_object_get(cs, "labels");
        json_t *set = json_object_get(cs, "label_set");
        size_t n = json_array_size(labels), n_set = json_array_size(set);
        const char **lab = malloc(n * sizeof *lab), **fixed = malloc((n_set ? n_set : 1) * sizeof *fixed);
        for (size_t i = 0; i < n; i++) lab[i] = json_string_value(json_array_get(labels, i)); /* null: none */
        for (size_t i = 0; i < n_set; i++) fixed[i] = json_string_value(json_array_get(set, i));
        dm_dataset_options o;
        dm_dataset_options_default(&o);
        if (n_set) o.labels = fixed, o.n_labels = n_set;
        dm_dataset *ds = from_labels(n, lab, &o);
        size_t L = dm_dataset_num_labels(ds);
        double *w = malloc(L * sizeof *w);
        CHECK(dm_dataset_class_weights(ds, w) == DM_OK);
        CHECK(L == json_object_size(json_object_get(cs, "weights")));
        const char *key;
        json_t *val;
        json_object_foreach(json_object_get(cs, "weights"), key, val)
        {
            int32_t id = dm_dataset_label_id(ds, key);
            CHECK(id >= 0);
            if (id < 0) continue;
            double want = json_real_value(val), diff = fabs(w[id] - want);
            if (want != 0) diff /= want;
            if (diff > worst) worst = diff;
            CHECK(diff <= 1e-15);
        }
        free(w), free(lab), free(fixed);
        dm_dataset_free(ds);
    }
    printf("class weights vs scikit-learn compute_class_weight: %zu cases, worst relative difference %.3g\n",
           json_array_size(cases), worst);
    json_decref(fx);

    /* Hand-computed: 3 x "a", 1 x "b": 4 / (2 * 3), 4 / (2 * 1). */
    dm_dataset *ds = from_labels(4, (const char *[]){"a", "a", "b", "a"}, NULL);
    double w[2];
    CHECK(dm_dataset_class_weights(ds, w) == DM_OK && fabs(w[0] - 4.0 / 6) < 1e-15 && w[1] == 2.0);
    CHECK_FAILS(dm_dataset_class_weights(NULL, w), DM_ERR_INVALID_ARGUMENT, "ds is NULL");
    CHECK_FAILS(dm_dataset_class_weights(ds, NULL), DM_ERR_INVALID_ARGUMENT, "weights is NULL");
    dm_dataset_free(ds);
    ds = from_labels(3, NULL, NULL);
    CHECK_FAILS(dm_dataset_class_weights(ds, w), DM_ERR_INVALID_ARGUMENT, "no labels");
    dm_dataset_free(ds);
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.labels = (const char *[]){"x", "y"}, o.n_labels = 2;
    ds = from_labels(2, (const char *[]){NULL, NULL}, &o);
    CHECK_FAILS(dm_dataset_class_weights(ds, w), DM_ERR_INVALID_ARGUMENT, "no row of the dataset has a label");
    dm_dataset_free(ds);
}

/* --------------------------------------------------------------- real data */

static dm_dataset *load_real(const char *name, const dm_dataset_options *o)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", data_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("note: %s not found: real-data checks skipped\n", path);
        return NULL;
    }
    fclose(f);
    dm_dataset *ds = NULL;
    dm_status st = dm_dataset_load(path, o, &ds);
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  %s\n", dm_last_error());
    return ds;
}

static void print_parts(const char *what, const dm_dataset *ds, const int32_t *assign, size_t np)
{
    size_t L = dm_dataset_num_labels(ds), *counts = class_part_counts(ds, assign, np);
    printf("%s:", what);
    for (size_t p = 0; p < np; p++) {
        size_t rows = 0;
        for (size_t c = 0; c <= L; c++) rows += counts[p * (L + 1) + c];
        printf(" %s%zu %zu rows (", p ? "| " : "", p, rows);
        for (size_t c = 0; c < L && c < 4; c++)
            printf("%s%s %.4f", c ? ", " : "", dm_dataset_label_name(ds, (int32_t)c),
                   rows ? (double)counts[p * (L + 1) + c] / (double)rows : 0.0);
        printf("%s)", L > 4 ? ", ..." : "");
    }
    printf("\n");
    free(counts);
}

static void test_real_data(void)
{
    dm_dataset *ds = load_real("sst2/train.tsv", NULL);
    if (ds) {
        size_t n = dm_dataset_size(ds), sizes[3], want[3];
        int32_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        char *report = NULL;
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_NONE, 42, a, &report) == DM_OK);
        expected_sizes(n, (double[]){0.8, 0.1, 0.1}, want);
        CHECK(part_sizes(a, n, 3, sizes) && sizes[0] == want[0] && sizes[1] == want[1] && sizes[2] == want[2]);
        CHECK(within_one_row(ds, a, (double[]){0.8, 0.1, 0.1}, 3));
        print_parts("SST-2 train, stratified 0.8/0.1/0.1", ds, a, 3);
        json_t *j = parse(report);
        CHECK(jint(json_array_get(json_object_get(j, "parts"), 1), "rows") == want[1]);
        json_decref(j);
        dm_free(report);
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_NONE, 42, b, NULL) == DM_OK);
        CHECK(memcmp(a, b, n * sizeof *a) == 0);
        CHECK(split(ds, 0.8, 0.1, 0.1, 10, 1, DM_GROUP_NONE, 42, a, NULL) == DM_OK);
        size_t s10[10];
        CHECK(part_sizes(a, n, 10, s10));
        CHECK(within_one_row(ds, a, (double[]){.1, .1, .1, .1, .1, .1, .1, .1, .1, .1}, 10));
        double w[2];
        CHECK(dm_dataset_class_weights(ds, w) == DM_OK);
        printf("SST-2 train class weights: 0 %.6f, 1 %.6f\n", w[0], w[1]);
        dm_dataset *out = NULL;
        CHECK(resample(ds, DM_RESAMPLE_UNDER, NULL, 0, 1, &out, NULL) == DM_OK);
        CHECK(out && dm_dataset_size(out) == 2 * 29780);
        dm_dataset_free(out);
        free(a), free(b);
        dm_dataset_free(ds);
    }
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.label_column = "label";
    o.group_column = "cat";
    ds = load_real("online_shopping_10_cats/online_shopping_10_cats.csv", &o);
    if (ds) {
        size_t n = dm_dataset_size(ds), sizes[3], want[3];
        int32_t *a = malloc(n * sizeof *a);
        char *report = NULL;
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_NONE, 42, a, NULL) == DM_OK);
        expected_sizes(n, (double[]){0.8, 0.1, 0.1}, want);
        CHECK(part_sizes(a, n, 3, sizes) && sizes[0] == want[0] && sizes[1] == want[1] && sizes[2] == want[2]);
        CHECK(within_one_row(ds, a, (double[]){0.8, 0.1, 0.1}, 3));
        print_parts("online_shopping_10_cats, stratified by label 0.8/0.1/0.1", ds, a, 3);
        /* Grouped by category: no category straddles two parts. */
        CHECK(split(ds, 0.8, 0.1, 0.1, 0, 1, DM_GROUP_COLUMN, 42, a, &report) == DM_OK);
        CHECK(part_sizes(a, n, 3, sizes));
        int32_t part_of_cat[64];
        for (int k = 0; k < 64; k++) part_of_cat[k] = -1;
        size_t straddle = 0, n_cats = 0;
        char names[64][32];
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *g = dm_dataset_group(ds, i, &len);
            size_t k = 0;
            while (k < n_cats && (strlen(names[k]) != len || memcmp(names[k], g, len))) k++;
            if (k == n_cats && n_cats < 64 && len < 32) memcpy(names[n_cats], g, len), names[n_cats++][len] = 0;
            if (k >= 64) continue;
            if (part_of_cat[k] < 0) part_of_cat[k] = a[i];
            else straddle += part_of_cat[k] != a[i];
        }
        CHECK(straddle == 0 && n_cats == 10);
        json_t *j = parse(report);
        CHECK(jint(j, "groups") == 10);
        json_decref(j);
        dm_free(report);
        printf("online_shopping_10_cats grouped by cat (%zu cats, 0 straddling):", n_cats);
        for (size_t k = 0; k < n_cats; k++) printf(" %s->%d", names[k], part_of_cat[k]);
        printf("\n");
        print_parts("  parts", ds, a, 3);
        CHECK(split(ds, 1, 0, 0, 5, 0, DM_GROUP_COLUMN, 42, a, NULL) == DM_OK);
        size_t s5[5];
        CHECK(part_sizes(a, n, 5, s5));
        printf("  5 folds by cat: %zu %zu %zu %zu %zu rows\n", s5[0], s5[1], s5[2], s5[3], s5[4]);
        free(a);
        dm_dataset_free(ds);
    }
}

int main(void)
{
    test_options();
    test_random_sizes();
    test_determinism();
    test_stratified();
    test_kfold_fixture();
    test_kfold();
    test_group_column();
    test_near_duplicate_groups();
    test_split_errors();
    test_resample();
    test_resample_errors();
    test_class_weights();
    test_real_data();
    return check_summary();
}
