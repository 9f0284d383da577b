/*
 * test_pii_batch.c — dm_pii_anonymize_batch, dm_pii_detect_batch and
 * dm_pii_decrypt_batch: each result equals dm_pii_anonymize (dm_pii_detect,
 * dm_pii_decrypt) on the text alone, on 1 and on many threads; progress and cancelling; a failing text named by its
 * index ("text K: "), the first one whatever the thread count, also when it
 * fails on a worker thread (fault hook); bad arguments.
 */
#include "datamodel.h"
#include "core/jobs.h"

#include "../unit/check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TEXTS 3000

static char *texts[N_TEXTS];
static size_t lens[N_TEXTS];

/* Texts with and without personal data, of varied lengths. */
static void make_texts(void)
{
    static const char *const pieces[] = {
        "write to ann.lee@example.com today", "call +44 20 7946 0958 now", "card 4111 1111 1111 1111 expires",
        "nothing to see here", "server 192.168.10.20 and 2001:db8::1", "身份证 11010519491231002X 已登记",
        "see https://example.org/a?b=c", ""};
    for (size_t i = 0; i < N_TEXTS; i++) {
        char buf[512];
        int n = snprintf(buf, sizeof buf, "%zu: %s; %s", i, pieces[i % 8], pieces[(i * 7 + 3) % 8]);
        texts[i] = strdup(buf);
        lens[i] = (size_t)n;
    }
}

static dm_pii *make_pii(bool hash)
{
    dm_pii *pii = NULL;
    if (dm_pii_create(NULL, &pii)) return NULL;
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c);
    c.op = DM_PII_MASK;
    dm_pii_set_operator(pii, "PHONE_NUMBER", &c);
    if (hash) {
        uint8_t key[32];
        for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
        dm_pii_set_key(pii, key, sizeof key);
        c.op = DM_PII_HASH;
        dm_pii_set_operator(pii, "EMAIL_ADDRESS", &c);
    }
    return pii;
}

static bool same_entities(const dm_pii_entity *a, size_t na, const dm_pii_entity *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t k = 0; k < na; k++)
        if (strcmp(a[k].type, b[k].type) || a[k].start != b[k].start || a[k].end != b[k].end ||
            a[k].score != b[k].score)
            return false;
    return true;
}

/* The batch on THREADS threads equals dm_pii_anonymize text by text. */
static void test_equals_one_by_one(const dm_pii *pii, int threads)
{
    dm_pii_batch_options o;
    dm_pii_batch_options_default(&o);
    o.threads = threads;
    char **outs;
    size_t *out_lens, *n_ents;
    dm_pii_entity **ents;
    CHECK(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &outs, &out_lens, &ents,
                                 &n_ents) == DM_OK);
    size_t same = 0;
    for (size_t i = 0; i < N_TEXTS; i++) {
        char *one;
        size_t one_len, n1;
        dm_pii_entity *e1;
        if (dm_pii_anonymize(pii, texts[i], lens[i], &one, &one_len, &e1, &n1)) continue;
        same += one_len == out_lens[i] && memcmp(one, outs[i], one_len) == 0 && outs[i][one_len] == '\0' &&
                same_entities(e1, n1, ents[i], n_ents[i]);
        dm_free(one);
        dm_free(e1);
    }
    CHECK(same == N_TEXTS);
    dm_pii_batch_free(N_TEXTS, outs, out_lens, ents, n_ents);
}

/* dm_pii_detect_batch equals dm_pii_detect text by text. */
static void test_detect(const dm_pii *pii)
{
    dm_pii_batch_options o;
    dm_pii_batch_options_default(&o);
    o.threads = 3;
    size_t *n_ents;
    dm_pii_entity **ents;
    CHECK(dm_pii_detect_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &ents, &n_ents) == DM_OK);
    size_t same = 0, found = 0;
    for (size_t i = 0; i < N_TEXTS; i++) {
        size_t n1;
        dm_pii_entity *e1;
        if (dm_pii_detect(pii, texts[i], lens[i], &e1, &n1)) continue;
        same += same_entities(e1, n1, ents[i], n_ents[i]) && (n1 > 0) == (ents[i] != NULL);
        found += n1;
        dm_free(e1);
    }
    CHECK(same == N_TEXTS && found > N_TEXTS);
    dm_pii_batch_free(N_TEXTS, NULL, NULL, ents, n_ents);
    CHECK_FAILS(dm_pii_detect_batch(pii, 1, (const char *const *)texts, lens, NULL, &ents, NULL),
                DM_ERR_INVALID_ARGUMENT, "dm_pii_detect_batch: NULL argument");
}

/* Without entities and with NUL-terminated texts (LENS NULL). */
static void test_plain(const dm_pii *pii)
{
    char **a, **b;
    size_t *al, *bl;
    CHECK(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, NULL, NULL, &a, &al, NULL, NULL) == DM_OK);
    dm_pii_batch_options o;
    dm_pii_batch_options_default(&o);
    o.threads = 1;
    CHECK(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &b, &bl, NULL, NULL) == DM_OK);
    size_t same = 0;
    for (size_t i = 0; i < N_TEXTS; i++) same += al[i] == bl[i] && memcmp(a[i], b[i], al[i]) == 0;
    CHECK(same == N_TEXTS);
    dm_pii_batch_free(N_TEXTS, a, al, NULL, NULL);
    dm_pii_batch_free(N_TEXTS, b, bl, NULL, NULL);
    /* No texts: empty results. */
    CHECK(dm_pii_anonymize_batch(pii, 0, NULL, NULL, NULL, &a, &al, NULL, NULL) == DM_OK);
    CHECK(a != NULL && al != NULL);
    dm_pii_batch_free(0, a, al, NULL, NULL);
}

typedef struct {
    uint64_t calls, last_done, last_total, cancel_at;
    int bad_order;
} progress_log;

static int on_progress(uint64_t done, uint64_t total, void *user)
{
    progress_log *p = user;
    if (done < p->last_done) p->bad_order = 1;
    p->calls++, p->last_done = done, p->last_total = total;
    return p->cancel_at && done >= p->cancel_at;
}

static void test_progress_and_cancel(const dm_pii *pii)
{
    dm_pii_batch_options o;
    dm_pii_batch_options_default(&o);
    o.threads = 4;
    o.progress = on_progress;
    progress_log log = {0};
    o.progress_user = &log;
    char **outs = (char **)1;
    size_t *out_lens;
    CHECK(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &outs, &out_lens, NULL, NULL) ==
          DM_OK);
    CHECK(log.calls >= 1 && log.last_done == N_TEXTS && log.last_total == N_TEXTS && !log.bad_order);
    dm_pii_batch_free(N_TEXTS, outs, out_lens, NULL, NULL);
    /* true cancels: nothing is returned */
    log = (progress_log){.cancel_at = 1};
    outs = (char **)1;
    CHECK_FAILS(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &outs, &out_lens, NULL,
                                       NULL),
                DM_ERR_CANCELLED, "cancelled by the progress callback");
    CHECK(outs == NULL && out_lens == NULL);
}

/* A text that fails is named by its index, the first one whatever the
 * thread count: an invalid UTF-8 text (DM_UTF8_ERROR) at 1234 and 2000. */
static void test_bad_text(const dm_pii *pii)
{
    char *saved[2] = {texts[1234], texts[2000]};
    texts[1234] = "bad \xff byte";
    texts[2000] = "also \xc3 bad";
    size_t l[2] = {lens[1234], lens[2000]};
    lens[1234] = strlen(texts[1234]), lens[2000] = strlen(texts[2000]);
    for (int threads = 1; threads <= 8; threads *= 2) {
        dm_pii_batch_options o;
        dm_pii_batch_options_default(&o);
        o.threads = threads;
        char **outs;
        size_t *out_lens;
        CHECK_FAILS(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &outs, &out_lens, NULL,
                                           NULL),
                    DM_ERR_UTF8, "text 1234: ");
        CHECK(strstr(dm_last_error(), "byte offset 4") != NULL);
    }
    texts[1234] = saved[0], texts[2000] = saved[1];
    lens[1234] = l[0], lens[2000] = l[1];
}

/* A failure met on a worker thread (the fault hook stands in for running out
 * of memory there) reaches the caller with its message. */
static void test_worker_failure(const dm_pii *pii)
{
    dm_pii_batch_options o;
    dm_pii_batch_options_default(&o);
    o.threads = 8;
    char **outs;
    size_t *out_lens;
    dmi_fault_arm("pii.batch", 2999); /* the last text: another thread than the caller's, in practice */
    CHECK_FAILS(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, &o, &outs, &out_lens, NULL,
                                       NULL),
                DM_ERR_NO_MEMORY, "text 2999: out of memory (fault injected by a test: pii.batch, item 2999)");
    dmi_fault_disarm();
}

static void test_decrypt(void)
{
    dm_pii *pii = NULL;
    CHECK(dm_pii_create(NULL, &pii) == DM_OK);
    uint8_t key[32] = {1, 2, 3};
    CHECK(dm_pii_set_key(pii, key, sizeof key) == DM_OK);
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c);
    c.op = DM_PII_ENCRYPT;
    CHECK(dm_pii_set_operator(pii, NULL, &c) == DM_OK);
    char **enc, **dec;
    size_t *enc_lens, *dec_lens;
    CHECK(dm_pii_anonymize_batch(pii, N_TEXTS, (const char *const *)texts, lens, NULL, &enc, &enc_lens, NULL, NULL) ==
          DM_OK);
    CHECK(dm_pii_decrypt_batch(pii, N_TEXTS, (const char *const *)enc, enc_lens, NULL, &dec, &dec_lens) == DM_OK);
    size_t restored = 0, changed = 0;
    for (size_t i = 0; i < N_TEXTS; i++) {
        restored += dec_lens[i] == lens[i] && memcmp(dec[i], texts[i], lens[i]) == 0;
        changed += enc_lens[i] != lens[i] || memcmp(enc[i], texts[i], lens[i]) != 0;
    }
    CHECK(restored == N_TEXTS);
    CHECK(changed > N_TEXTS / 2);
    /* A tampered token fails, naming its text. */
    char *t = enc[7];
    char *lt = strchr(t, '<');
    CHECK(lt != NULL);
    if (lt) lt[strlen(lt) - 3] ^= 1;
    char **d2;
    size_t *d2l;
    CHECK_FAILS(dm_pii_decrypt_batch(pii, N_TEXTS, (const char *const *)enc, enc_lens, NULL, &d2, &d2l), DM_ERR_AUTH,
                "text 7: ");
    dm_pii_batch_free(N_TEXTS, enc, enc_lens, NULL, NULL);
    dm_pii_batch_free(N_TEXTS, dec, dec_lens, NULL, NULL);
    dm_pii_free(pii);
    /* No key: refused before any text. */
    dm_pii *nokey = make_pii(false);
    CHECK_FAILS(dm_pii_decrypt_batch(nokey, N_TEXTS, (const char *const *)texts, lens, NULL, &d2, &d2l),
                DM_ERR_INVALID_ARGUMENT, "dm_pii_decrypt_batch: no key is set");
    dm_pii_free(nokey);
}

static void test_bad_arguments(const dm_pii *pii)
{
    char **outs;
    size_t *out_lens, *n_ents;
    dm_pii_entity **ents;
    const char *const *t = (const char *const *)texts;
    CHECK_FAILS(dm_pii_anonymize_batch(NULL, 1, t, lens, NULL, &outs, &out_lens, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "dm_pii_anonymize_batch: NULL argument");
    CHECK_FAILS(dm_pii_anonymize_batch(pii, 1, NULL, lens, NULL, &outs, &out_lens, NULL, NULL),
                DM_ERR_INVALID_ARGUMENT, "NULL argument");
    CHECK_FAILS(dm_pii_anonymize_batch(pii, 1, t, lens, NULL, NULL, &out_lens, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "NULL argument");
    CHECK_FAILS(dm_pii_anonymize_batch(pii, 1, t, lens, NULL, &outs, &out_lens, &ents, NULL),
                DM_ERR_INVALID_ARGUMENT, "both entities and n_entities");
    (void)n_ents;
    dm_pii_batch_options o;
    dm_pii_batch_options_default(&o);
    o.threads = -1;
    CHECK_FAILS(dm_pii_anonymize_batch(pii, 1, t, lens, &o, &outs, &out_lens, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "threads must be >= 0");
    o.struct_size = 0;
    CHECK_FAILS(dm_pii_anonymize_batch(pii, 1, t, lens, &o, &outs, &out_lens, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "struct_size is 0");
    /* A NULL text with a length fails as dm_pii_anonymize does, named. */
    const char *holes[2] = {"a", NULL};
    size_t hole_lens[2] = {1, 3};
    CHECK_FAILS(dm_pii_anonymize_batch(pii, 2, holes, hole_lens, NULL, &outs, &out_lens, NULL, NULL),
                DM_ERR_INVALID_ARGUMENT, "text 1: dm_pii_anonymize: NULL argument");
    /* hash without a key: refused before any text, as dm_pii_anonymize */
    dm_pii *p2 = make_pii(false);
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c);
    c.op = DM_PII_HASH;
    dm_pii_set_operator(p2, NULL, &c);
    CHECK_FAILS(dm_pii_anonymize_batch(p2, 1, t, lens, NULL, &outs, &out_lens, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "dm_pii_anonymize_batch: the default operator is hash, which needs a key");
    dm_pii_free(p2);
    dm_pii_batch_free(0, NULL, NULL, NULL, NULL); /* accepts NULL */
}

int main(void)
{
    make_texts();
    dm_pii *pii = make_pii(true);
    CHECK(pii != NULL);
    test_equals_one_by_one(pii, 1);
    test_equals_one_by_one(pii, 7);
    test_equals_one_by_one(pii, 0);
    test_plain(pii);
    test_detect(pii);
    test_progress_and_cancel(pii);
    test_bad_text(pii);
    test_worker_failure(pii);
    test_bad_arguments(pii);
    dm_pii_free(pii);
    test_decrypt();
    for (size_t i = 0; i < N_TEXTS; i++) free(texts[i]);
    return check_summary();
}
