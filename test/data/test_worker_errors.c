/*
 * test_worker_errors.c — a failure met on a worker thread reaches the
 * caller: every dataset operation that works on OpenMP threads (clean,
 * dedup's keys and MinHash signatures, augment, profile and split through
 * dedup, PII anonymisation of a dataset) fails with the worker's status,
 * and dm_last_error() on the calling thread names the row and carries the
 * worker's own message. The worker failure is
 * the fault hook of lib/core/jobs.h (as if an allocation failed there),
 * since no input makes these workers fail. The row named is the first
 * failing one, whatever the thread count.
 */
#include "datamodel.h"
#include "core/jobs.h"

#include "../unit/check.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ROWS 3000

static dm_dataset *make_dataset(void)
{
    static char *texts[N_ROWS];
    static const char *labels[N_ROWS];
    for (size_t i = 0; i < N_ROWS; i++) {
        char buf[160];
        /* some near copies (dedup has pairs to verify), some plain rows */
        snprintf(buf, sizeof buf, "Row %zu: the quick brown fox jumps over the lazy dog, mail a%zu@example.com",
                 i % 1000, i % 7);
        texts[i] = strdup(buf);
        labels[i] = i % 3 ? "pos" : "neg";
    }
    dm_dataset *ds = NULL;
    dm_dataset_from_texts(N_ROWS, (const char *const *)texts, NULL, NULL, NULL, labels, NULL, &ds);
    for (size_t i = 0; i < N_ROWS; i++) free(texts[i]);
    return ds;
}

/* The fault message the hook leaves for row ROW of SITE. */
static const char *fault_text(const char *site, size_t row)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "out of memory (fault injected by a test: %s, item %zu)", site, row);
    return buf;
}

static const char *row_text(size_t row)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "row %zu (id %zu)", row, row + 1); /* ids are line numbers, from 1 */
    return buf;
}

static void test_clean(const dm_dataset *ds)
{
    dm_dataset *out = NULL;
    dmi_fault_arm("clean", 2500);
    CHECK_FAILS(dm_dataset_clean(ds, NULL, &out, NULL), DM_ERR_NO_MEMORY, row_text(2500));
    CHECK(strstr(dm_last_error(), "dm_dataset_clean: row 2500") && strstr(dm_last_error(), fault_text("clean", 2500)));
    CHECK(out == NULL);
    dmi_fault_disarm();
    CHECK(dm_dataset_clean(ds, NULL, &out, NULL) == DM_OK); /* disarmed: fine again */
    dm_dataset_free(out);
}

static void test_dedup(const dm_dataset *ds)
{
    dm_dedup_options o;
    dm_dedup_options_default(&o);
    o.threads = 4;
    dm_dataset *out = NULL;
    dmi_fault_arm("dedup.keys", 1777);
    CHECK_FAILS(dm_dataset_dedup(ds, &o, &out, NULL), DM_ERR_NO_MEMORY, "normalising row 1777 (id 1778)");
    CHECK(strstr(dm_last_error(), fault_text("dedup.keys", 1777)) != NULL);
    /* Signatures are made for the first row of each exact group: row 5 is one. */
    dmi_fault_arm("dedup.signature", 5);
    CHECK_FAILS(dm_dataset_dedup(ds, &o, &out, NULL), DM_ERR_NO_MEMORY,
                "computing the MinHash signature of row 5 (id 6)");
    CHECK(strstr(dm_last_error(), fault_text("dedup.signature", 5)) != NULL);
    dmi_fault_disarm();
    CHECK(dm_dataset_dedup(ds, &o, &out, NULL) == DM_OK);
    dm_dataset_free(out);
}

static void test_augment(const dm_dataset *ds)
{
    dm_augment_options o;
    dm_augment_options_default(&o);
    o.ops = DM_AUGMENT_CHARS;
    dm_dataset *out = NULL;
    dmi_fault_arm("augment", 2999);
    CHECK_FAILS(dm_dataset_augment(ds, &o, &out, NULL), DM_ERR_NO_MEMORY, "dm_dataset_augment: row 2999 (id 3000)");
    CHECK(strstr(dm_last_error(), fault_text("augment", 2999)) != NULL);
    dmi_fault_disarm();
}

static void test_profile_and_split(const dm_dataset *ds)
{
    char *json = NULL;
    dmi_fault_arm("dedup.keys", 42);
    CHECK_FAILS(dm_dataset_profile(ds, NULL, &json), DM_ERR_NO_MEMORY, "dm_dataset_profile: duplicates");
    CHECK(strstr(dm_last_error(), "row 42 (id 43)") && strstr(dm_last_error(), fault_text("dedup.keys", 42)));
    dm_split_options so;
    dm_split_options_default(&so);
    so.group_by = DM_GROUP_NEAR_DUPLICATES;
    int32_t *assign = malloc(N_ROWS * sizeof *assign);
    CHECK_FAILS(dm_dataset_split(ds, &so, assign, NULL), DM_ERR_NO_MEMORY, "dm_dataset_split: near-duplicate groups");
    CHECK(strstr(dm_last_error(), "row 42 (id 43)") && strstr(dm_last_error(), fault_text("dedup.keys", 42)));
    dmi_fault_disarm();
    free(assign);
}

static void test_anonymize(const dm_dataset *ds)
{
    dm_pii_options po;
    dm_pii_options_default(&po);
    po.threads = 4;
    dm_pii *pii = NULL;
    CHECK(dm_pii_create(&po, &pii) == DM_OK);
    dm_dataset *out = NULL;
    char *report = NULL;
    dmi_fault_arm("pii.dataset", 2222);
    CHECK_FAILS(dm_dataset_anonymize(ds, pii, NULL, &out, &report), DM_ERR_NO_MEMORY,
                "dm_dataset_anonymize: row 2222 (id 2223), column \"text\"");
    CHECK(strstr(dm_last_error(), fault_text("pii.dataset", 2222)) != NULL);
    dmi_fault_disarm();
    CHECK(dm_dataset_anonymize(ds, pii, NULL, &out, &report) == DM_OK);
    dm_dataset_free(out);
    dm_free(report);
    dm_pii_free(pii);
}

/* The failing row is named whatever the thread count. */
static void test_first_row_wins(const dm_dataset *ds)
{
    for (int threads = 1; threads <= 8; threads *= 2) {
        omp_set_num_threads(threads);
        dm_dataset *out = NULL;
        dmi_fault_arm("clean", 700);
        CHECK_FAILS(dm_dataset_clean(ds, NULL, &out, NULL), DM_ERR_NO_MEMORY, "dm_dataset_clean: row 700 (id 701)");
        dmi_fault_disarm();
    }
}

int main(void)
{
    dm_dataset *ds = make_dataset();
    CHECK(ds != NULL && dm_dataset_size(ds) == N_ROWS);
    omp_set_num_threads(4); /* threads even on a one-core machine */
    test_clean(ds);
    test_dedup(ds);
    test_augment(ds);
    test_profile_and_split(ds);
    test_anonymize(ds);
    test_first_row_wins(ds);
    dm_dataset_free(ds);
    return check_summary();
}
