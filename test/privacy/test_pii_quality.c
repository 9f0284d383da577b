/* test_pii_quality.c — precision and recall of dm_pii_detect (default
 * options) per type on the labelled set test/privacy/fixtures/pii_cases.jsonl
 * (written by gen_pii_cases.py). An entity counts when its type, start and
 * end equal a labelled one; the table also gives the numbers when any
 * overlap of the same type counts. Fails when a type's exact precision or
 * recall is below 0.98. */
#include "datamodel.h"
#include "../unit/check.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 16
#define MIN_QUALITY 0.98

typedef struct counts {
    const char *type;
    size_t gold, found, exact, partial_found, partial_gold;
} counts;

static counts table[MAX_TYPES];
static size_t n_types;

static counts *row(const char *type)
{
    for (size_t i = 0; i < n_types; i++)
        if (!strcmp(table[i].type, type)) return &table[i];
    if (n_types == MAX_TYPES) return NULL;
    table[n_types].type = strdup(type);
    return &table[n_types++];
}

static bool overlaps(size_t s1, size_t e1, size_t s2, size_t e2) { return s1 < e2 && s2 < e1; }

/* Scores one labelled line; prints its misses when VERBOSE. */
static void score_line(const dm_pii *p, json_t *line, size_t lineno, int verbose)
{
    const char *text = json_string_value(json_object_get(line, "text"));
    json_t *gold = json_object_get(line, "entities");
    CHECK(text && json_is_array(gold));
    if (!text || !json_is_array(gold)) return;
    dm_pii_entity *e = NULL;
    size_t n = 0;
    dm_status st = dm_pii_detect(p, text, strlen(text), &e, &n);
    CHECK(st == DM_OK);
    if (st) return;
    size_t ng = json_array_size(gold);
    for (size_t g = 0; g < ng; g++) {
        json_t *x = json_array_get(gold, g);
        const char *type = json_string_value(json_object_get(x, "type"));
        size_t s = (size_t)json_integer_value(json_object_get(x, "start"));
        size_t en = (size_t)json_integer_value(json_object_get(x, "end"));
        counts *c = row(type);
        if (!c) continue;
        c->gold++;
        bool exact = false, partial = false;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(e[i].type, type)) continue;
            exact = exact || (e[i].start == s && e[i].end == en);
            partial = partial || overlaps(e[i].start, e[i].end, s, en);
        }
        c->partial_gold += partial;
        if (!exact && verbose)
            printf("  line %zu: missed %s \"%.*s\" in: %s\n", lineno, type, (int)(en - s), text + s, text);
    }
    for (size_t i = 0; i < n; i++) {
        counts *c = row(e[i].type);
        if (!c) continue;
        c->found++;
        bool exact = false, partial = false;
        for (size_t g = 0; g < ng; g++) {
            json_t *x = json_array_get(gold, g);
            if (strcmp(json_string_value(json_object_get(x, "type")), e[i].type)) continue;
            size_t s = (size_t)json_integer_value(json_object_get(x, "start"));
            size_t en = (size_t)json_integer_value(json_object_get(x, "end"));
            exact = exact || (e[i].start == s && e[i].end == en);
            partial = partial || overlaps(e[i].start, e[i].end, s, en);
        }
        c->exact += exact;
        c->partial_found += partial;
        if (!exact && verbose)
            printf("  line %zu: spurious %s \"%.*s\" (score %.2f) in: %s\n", lineno, e[i].type,
                   (int)(e[i].end - e[i].start), text + e[i].start, e[i].score, text);
    }
    dm_free(e);
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : 1.0; }

int main(void)
{
    const char *root = getenv("SRCROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/privacy/fixtures/pii_cases.jsonl", root ? root : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return check_summary();
    }
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    int verbose = getenv("DM_PII_VERBOSE") != NULL;
    char *buf = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&buf, &cap, f)) > 0) {
        lineno++;
        json_error_t err;
        json_t *line = json_loadb(buf, (size_t)got, 0, &err);
        CHECK(line != NULL);
        if (!line) continue;
        score_line(p, line, lineno, verbose);
        json_decref(line);
    }
    free(buf);
    fclose(f);
    dm_pii_free(p);
    CHECK(lineno >= 1000);

    printf("%zu lines\n%-16s %6s %6s %6s %9s %7s %9s %9s\n", lineno, "type", "gold", "found", "exact", "precision",
           "recall", "p(part)", "r(part)");
    for (size_t i = 0; i < n_types; i++) {
        counts *c = &table[i];
        double pr = ratio(c->exact, c->found), rc = ratio(c->exact, c->gold);
        printf("%-16s %6zu %6zu %6zu %9.4f %7.4f %9.4f %9.4f\n", c->type, c->gold, c->found, c->exact, pr, rc,
               ratio(c->partial_found, c->found), ratio(c->partial_gold, c->gold));
        CHECK(c->gold >= 100);
        if (pr < MIN_QUALITY || rc < MIN_QUALITY) {
            fprintf(stderr, "%s: precision %.4f, recall %.4f: below %.2f\n", c->type, pr, rc, MIN_QUALITY);
            check_failed++;
        } else {
            check_passed++;
        }
    }
    for (size_t i = 0; i < n_types; i++) free((char *)table[i].type);
    return check_summary();
}
