/* test_pii_presidio.c — Microsoft Presidio's parametrised recogniser tests
 * for the types dm_pii shares with it, as data:
 * test/privacy/fixtures/presidio_cases.jsonl. One JSON object a line:
 *
 *   text      the input
 *   type      the type under test (Presidio's tests run one recogniser, so
 *             only entities of this type are compared; dm_pii_detect runs
 *             with default options, every recogniser and overlap resolution)
 *   expected  the entities of that type dm_pii_detect must report, exactly,
 *             as [start, end, type] in bytes
 *   presidio  and disagree: only where Presidio's test expects other spans,
 *             what it expects and why we deliberately differ
 *   source    the Presidio test file and function
 *
 * Fails on any case whose entities differ from "expected", on a disagreement
 * without its reason and on a "presidio" field equal to "expected". */
#include "datamodel.h"
#include "../unit/check.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Whether the entities of TYPE in E[0..N) are exactly the spans of WANT. */
static bool same_spans(const dm_pii_entity *e, size_t n, const char *type, json_t *want)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].type, type)) continue;
        json_t *w = json_array_get(want, k++);
        if (!w || (size_t)json_integer_value(json_array_get(w, 0)) != e[i].start ||
            (size_t)json_integer_value(json_array_get(w, 1)) != e[i].end ||
            strcmp(json_string_value(json_array_get(w, 2)), type))
            return false;
    }
    return k == json_array_size(want);
}

static void print_found(const char *text, const dm_pii_entity *e, size_t n, const char *type)
{
    fprintf(stderr, "  found:");
    for (size_t i = 0; i < n; i++)
        if (!strcmp(e[i].type, type))
            fprintf(stderr, " [%zu, %zu] \"%.*s\"", e[i].start, e[i].end, (int)(e[i].end - e[i].start),
                    text + e[i].start);
    fprintf(stderr, "\n");
}

/* Runs one case; counts its disagreement with Presidio in *DISAGREE. */
static void run_case(const dm_pii *p, json_t *c, size_t lineno, size_t *disagree)
{
    const char *text = json_string_value(json_object_get(c, "text"));
    const char *type = json_string_value(json_object_get(c, "type"));
    json_t *want = json_object_get(c, "expected"), *presidio = json_object_get(c, "presidio");
    const char *why = json_string_value(json_object_get(c, "disagree"));
    CHECK(text && type && json_is_array(want));
    if (!text || !type || !json_is_array(want)) return;
    if (presidio || why) {
        (*disagree)++;
        if (!why || !*why || !json_is_array(presidio) || json_equal(presidio, want)) {
            fprintf(stderr, "line %zu: a disagreement needs \"presidio\" spans other than \"expected\" and a reason\n",
                    lineno);
            check_failed++;
        }
    }
    dm_pii_entity *e = NULL;
    size_t n = 0;
    dm_status st = dm_pii_detect(p, text, strlen(text), &e, &n);
    CHECK(st == DM_OK);
    if (st == DM_OK && same_spans(e, n, type, want)) {
        check_passed++;
    } else if (st == DM_OK) {
        check_failed++;
        char *w = json_dumps(want, JSON_COMPACT);
        fprintf(stderr, "line %zu (%s): %s\n  expected %s %s\n", lineno,
                json_string_value(json_object_get(c, "source")), text, type, w);
        print_found(text, e, n, type);
        free(w);
    }
    dm_free(e);
}

int main(void)
{
    const char *root = getenv("SRCROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/test/privacy/fixtures/presidio_cases.jsonl", root ? root : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return check_summary();
    }
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    char *buf = NULL;
    size_t cap = 0, lineno = 0, disagree = 0;
    ssize_t got;
    while (p && (got = getline(&buf, &cap, f)) > 0) {
        lineno++;
        json_error_t err;
        json_t *c = json_loadb(buf, (size_t)got, 0, &err);
        if (!c) fprintf(stderr, "%s:%zu: %s\n", path, lineno, err.text);
        CHECK(c != NULL);
        if (c) run_case(p, c, lineno, &disagree);
        json_decref(c);
    }
    free(buf);
    fclose(f);
    dm_pii_free(p);
    CHECK(lineno >= 500);
    printf("%zu Presidio cases, %zu where we deliberately disagree\n", lineno, disagree);
    return check_summary();
}
