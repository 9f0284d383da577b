/*
 * test_threads.c — every handle shared by threads, as datamodel.h's rules
 * say: results equal to the same calls made alone, or DM_ERR_BUSY where a
 * rule refuses the overlap; never a wrong answer with DM_OK. CI also runs it
 * under ThreadSanitizer (scripts/test-all.sh), which reports any data race.
 *
 * Before the model serialised its calls, one model shared by 8 threads
 * returned DM_OK with wrong logits for most texts.
 */
#include "datamodel.h"
#include "../unit/check.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { THREADS = 8, N_TEXTS = 96 };

static char tiny[2048];
static const char *texts[N_TEXTS];
static size_t lens[N_TEXTS];
static char text_store[N_TEXTS][96];

static void make_texts(void)
{
    static const char *const words[] = {"the", "boat", "was", "boring", "we", "enjoyed", "garden", "salty",
                                        "bread", "on", "roof", "my", "sister", "is", "wonderful", "market"};
    uint64_t x = 12345;
    for (int i = 0; i < N_TEXTS; i++) {
        size_t at = 0, words_n = 2 + (size_t)(i % 11);
        text_store[i][0] = '\0';
        for (size_t w = 0; w < words_n; w++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            at += (size_t)snprintf(text_store[i] + at, sizeof text_store[i] - at, "%s%s", w ? " " : "",
                                   words[(x >> 33) % (sizeof words / sizeof *words)]);
        }
        texts[i] = text_store[i];
        lens[i] = at;
    }
}

static dm_model *load_tiny(void)
{
    dm_model_options o;
    dm_model_options_default(&o);
    o.device = DM_DEVICE_CPU;
    o.threads = 1;
    dm_model *m = NULL;
    if (dm_model_load(tiny, &o, &m)) fprintf(stderr, "load: %s\n", dm_last_error());
    return m;
}

/* ------------------------------------------------------------------ one model, many threads */

typedef struct model_job {
    dm_model *m;
    int kind; /* 0 predict, 1 embed, 2 forward */
    const float *want;
    int wrong, errors;
} model_job;

static void run_kind(dm_model *m, int kind, float *out, dm_status *s)
{
    if (kind == 0) {
        *s = dm_model_predict(m, N_TEXTS, texts, lens, NULL, NULL, NULL, out, NULL, NULL);
    } else if (kind == 1) {
        *s = dm_model_embed(m, N_TEXTS, texts, lens, NULL, out);
    } else {
        int32_t ids[2 * 8];
        for (int i = 0; i < 16; i++) ids[i] = 2 + (i * 7) % 300;
        *s = dm_model_forward(m, 2, 8, ids, NULL, NULL, out, NULL, NULL);
    }
}

static size_t kind_size(int kind) { return kind == 0 ? N_TEXTS * 3 : kind == 1 ? N_TEXTS * 48 : 2 * 3; }

static void *model_worker(void *arg)
{
    model_job *j = arg;
    float *out = malloc(kind_size(j->kind) * sizeof *out);
    for (int r = 0; r < 4; r++) {
        dm_status s;
        run_kind(j->m, j->kind, out, &s);
        if (s) j->errors++;
        else if (memcmp(out, j->want, kind_size(j->kind) * sizeof *out) != 0) j->wrong++;
    }
    free(out);
    return NULL;
}

static void test_one_model_many_threads(void)
{
    dm_model *m = load_tiny();
    float *want[3];
    for (int k = 0; k < 3; k++) {
        dm_status s;
        want[k] = malloc(kind_size(k) * sizeof(float));
        run_kind(m, k, want[k], &s);
        CHECK(s == DM_OK);
    }
    model_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (model_job){.m = m, .kind = i % 3, .want = want[i % 3]};
        pthread_create(&th[i], NULL, model_worker, &jobs[i]);
    }
    int wrong = 0, errors = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += jobs[i].wrong, errors += jobs[i].errors;
    }
    printf("  one model, %d threads: %d wrong results, %d errors\n", THREADS, wrong, errors);
    CHECK(wrong == 0 && errors == 0);
    for (int k = 0; k < 3; k++) free(want[k]);
    dm_model_free(m);
}

typedef struct train_job {
    dm_model *m;
    dm_dataset *ds;
    dm_status status;
    atomic_int started, done;
} train_job;

static int mark_started(const dm_train_progress *p, void *user)
{
    (void)p;
    atomic_store(&((train_job *)user)->started, 1);
    return 0;
}

static void *train_worker(void *arg)
{
    train_job *j = arg;
    dm_train_options o;
    dm_train_options_default(&o);
    o.max_steps = 40, o.batch_size = 8, o.max_length = 16, o.threads = 1;
    o.callback = mark_started, o.callback_user = j;
    j->status = dm_train(j->m, j->ds, NULL, &o, NULL);
    if (j->status) fprintf(stderr, "train: %s\n", dm_last_error());
    atomic_store(&j->done, 1);
    return NULL;
}

static void test_busy_while_training(void)
{
    static const char *const names[3] = {"negative", "neutral", "positive"};
    const char *labels[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) labels[i] = names[i % 3];
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(N_TEXTS, texts, lens, NULL, NULL, labels, NULL, &ds) == DM_OK);
    dm_model *m = load_tiny();
    train_job j = {.m = m, .ds = ds};
    atomic_init(&j.started, 0);
    atomic_init(&j.done, 0);
    pthread_t th;
    pthread_create(&th, NULL, train_worker, &j);
    int ok = 0, busy = 0, other = 0;
    float logits[N_TEXTS * 3];
    while (!atomic_load(&j.started) && !atomic_load(&j.done)) sched_yield();
    while (!atomic_load(&j.done)) {
        dm_status s = dm_model_predict(m, N_TEXTS, texts, lens, NULL, NULL, NULL, logits, NULL, NULL);
        if (s == DM_OK) ok++;
        else if (s == DM_ERR_BUSY && strstr(dm_last_error(), "being trained by another thread")) busy++;
        else other++;
        dm_status t = dm_train(m, ds, NULL, NULL, NULL); /* a second trainer */
        if (t != DM_ERR_BUSY && !atomic_load(&j.done)) other++;
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    pthread_join(th, NULL);
    printf("  predict while another thread trains: %d ok (before or after), %d busy, %d other\n", ok, busy, other);
    CHECK(j.status == DM_OK && other == 0 && busy > 0);
    CHECK(dm_model_predict(m, N_TEXTS, texts, lens, NULL, NULL, NULL, logits, NULL, NULL) == DM_OK);
    dm_model_free(m);
    dm_dataset_free(ds);
}

/* A trainer made on one thread and run on another (as bindings do): the
 * run's own model calls (evaluation, the final save) pass; this thread's
 * calls meanwhile are refused at once. */
typedef struct run_job {
    dm_trainer *t;
    dm_status status;
    atomic_int started, done;
} run_job;

static int run_started(const dm_train_progress *p, void *user)
{
    (void)p;
    atomic_store(&((run_job *)user)->started, 1);
    return 0;
}

static void *run_worker(void *arg)
{
    run_job *j = arg;
    dm_train_result r = {.struct_size = sizeof r};
    j->status = dm_trainer_run(j->t, &r);
    if (j->status) fprintf(stderr, "trainer run: %s\n", dm_last_error());
    atomic_store(&j->done, 1);
    return NULL;
}

static void test_trainer_on_another_thread(void)
{
    static const char *const names[3] = {"negative", "neutral", "positive"};
    const char *labels[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) labels[i] = names[i % 3];
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(N_TEXTS, texts, lens, NULL, NULL, labels, NULL, &ds) == DM_OK);
    dm_model *m = load_tiny();
    dm_train_options o;
    dm_train_options_default(&o);
    o.max_steps = 30, o.batch_size = 8, o.max_length = 16, o.threads = 1;
    char out[] = "/tmp/dm_test_threads_XXXXXX";
    CHECK(mkdtemp(out) != NULL);
    o.output_dir = out;
    run_job j = {0};
    atomic_init(&j.started, 0);
    atomic_init(&j.done, 0);
    o.callback = run_started, o.callback_user = &j;
    dm_trainer *t = NULL;
    CHECK(dm_trainer_create(m, NULL, ds, ds, &o, &t) == DM_OK);
    j.t = t;
    pthread_t th;
    pthread_create(&th, NULL, run_worker, &j);
    while (!atomic_load(&j.started) && !atomic_load(&j.done)) sched_yield();
    float logits[N_TEXTS * 3];
    int busy = 0, other = 0;
    while (!atomic_load(&j.done)) {
        dm_status s = dm_model_predict(m, N_TEXTS, texts, lens, NULL, NULL, NULL, logits, NULL, NULL);
        if (s == DM_ERR_BUSY) busy++;
        else if (s != DM_OK) other++;
        dm_status e = dm_trainer_step(t, NULL); /* the trainer is in use on the other thread */
        if (e != DM_ERR_BUSY && e != DM_ERR_RANGE && !atomic_load(&j.done)) other++;
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    pthread_join(th, NULL);
    printf("  trainer run on another thread: %d calls refused as busy, %d other\n", busy, other);
    CHECK(j.status == DM_OK && other == 0 && busy > 0);
    dm_trainer_free(t);
    CHECK(dm_model_predict(m, N_TEXTS, texts, lens, NULL, NULL, NULL, logits, NULL, NULL) == DM_OK);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    CHECK(system(cmd) == 0);
    dm_model_free(m);
    dm_dataset_free(ds);
}

/* ------------------------------------------------------------------ read-only handles */

typedef struct tok_job {
    const dm_tokenizer *tok;
    const int32_t *want;
    size_t want_n;
    int wrong;
} tok_job;

static size_t flatten(dm_encoding **encs, int32_t *ids)
{
    size_t k = 0;
    for (int i = 0; i < N_TEXTS; i++)
        for (size_t t = 0; t < encs[i]->length; t++) ids[k++] = encs[i]->ids[t];
    return k;
}

static void *tok_worker(void *arg)
{
    tok_job *j = arg;
    int32_t *ids = malloc(N_TEXTS * 64 * sizeof *ids);
    for (int r = 0; r < 10; r++) {
        dm_encode_options o;
        dm_encode_options_default(&o);
        o.threads = 2;
        dm_encoding **encs = NULL;
        if (dm_tokenizer_encode_batch(j->tok, N_TEXTS, texts, lens, NULL, NULL, &o, &encs)) {
            j->wrong++;
            continue;
        }
        size_t n = flatten(encs, ids);
        j->wrong += n != j->want_n || memcmp(ids, j->want, n * sizeof *ids) != 0;
        dm_encodings_free(encs, N_TEXTS);
        int32_t one[3] = {2, 10, 3};
        char *text = NULL;
        size_t len;
        if (dm_tokenizer_decode(j->tok, one, 3, 1, &text, &len) == DM_OK) dm_free(text);
        else j->wrong++;
    }
    free(ids);
    return NULL;
}

static void test_tokenizer_shared(void)
{
    dm_tokenizer *tok = NULL;
    CHECK(dm_tokenizer_load(tiny, NULL, &tok) == DM_OK);
    dm_encoding **encs = NULL;
    CHECK(dm_tokenizer_encode_batch(tok, N_TEXTS, texts, lens, NULL, NULL, NULL, &encs) == DM_OK);
    int32_t *want = malloc(N_TEXTS * 64 * sizeof *want);
    size_t n = flatten(encs, want);
    dm_encodings_free(encs, N_TEXTS);
    tok_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (tok_job){tok, want, n, 0};
        pthread_create(&th[i], NULL, tok_worker, &jobs[i]);
    }
    int wrong = 0;
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL), wrong += jobs[i].wrong;
    CHECK(wrong == 0);
    free(want);
    dm_tokenizer_free(tok);
}

typedef struct ds_job {
    const dm_dataset *ds;
    int wrong;
} ds_job;

static void *ds_worker(void *arg)
{
    ds_job *j = arg;
    size_t rows[N_TEXTS / 2];
    for (size_t i = 0; i < N_TEXTS / 2; i++) rows[i] = 2 * i + 1;
    for (int r = 0; r < 10; r++) {
        for (size_t i = 0; i < dm_dataset_size(j->ds); i++) {
            size_t len;
            const char *t = dm_dataset_text(j->ds, i, &len);
            j->wrong += len != lens[i] || memcmp(t, texts[i], len) != 0;
            j->wrong += strcmp(dm_dataset_label_name(j->ds, dm_dataset_label(j->ds, i)), i % 2 ? "b" : "a") != 0;
        }
        dm_dataset *sub = NULL;
        if (dm_dataset_select(j->ds, rows, N_TEXTS / 2, &sub)) {
            j->wrong++;
            continue;
        }
        for (size_t i = 0; i < N_TEXTS / 2; i++) j->wrong += dm_dataset_label(sub, i) != dm_dataset_label_id(sub, "b");
        double w[2];
        j->wrong += dm_dataset_class_weights(j->ds, w) != DM_OK || fabs(w[0] - 1.0) > 1e-12;
        dm_dataset_free(sub);
    }
    return NULL;
}

static void test_dataset_shared(void)
{
    const char *labels[N_TEXTS];
    for (int i = 0; i < N_TEXTS; i++) labels[i] = i % 2 ? "b" : "a";
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(N_TEXTS, texts, lens, NULL, NULL, labels, NULL, &ds) == DM_OK);
    ds_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (ds_job){ds, 0};
        pthread_create(&th[i], NULL, ds_worker, &jobs[i]);
    }
    int wrong = 0;
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL), wrong += jobs[i].wrong;
    CHECK(wrong == 0);
    dm_dataset_free(ds);
}

typedef struct report_job {
    const dm_eval_report *r;
    const char *want_json, *want_text;
    int wrong;
} report_job;

static void *report_worker(void *arg)
{
    report_job *j = arg;
    for (int r = 0; r < 20; r++) {
        char *a = NULL, *b = NULL;
        size_t la, lb;
        j->wrong += dm_eval_report_json(j->r, &a, &la) != DM_OK || strcmp(a, j->want_json) != 0;
        j->wrong += dm_eval_report_text(j->r, 4, &b, &lb) != DM_OK || strcmp(b, j->want_text) != 0;
        dm_free(a), dm_free(b);
    }
    return NULL;
}

static void test_report_shared(void)
{
    int32_t y[8] = {0, 1, 1, 0, 2, 2, 1, 0}, p[8] = {0, 1, 0, 0, 2, 1, 1, 2};
    dm_eval_report *r = NULL;
    CHECK(dm_metrics_compute(8, 3, y, p, NULL, NULL, &r) == DM_OK);
    char *json = NULL, *text = NULL;
    size_t len;
    CHECK(dm_eval_report_json(r, &json, &len) == DM_OK && dm_eval_report_text(r, 4, &text, &len) == DM_OK);
    report_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (report_job){r, json, text, 0};
        pthread_create(&th[i], NULL, report_worker, &jobs[i]);
    }
    int wrong = 0;
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL), wrong += jobs[i].wrong;
    CHECK(wrong == 0);
    dm_free(json), dm_free(text);
    dm_eval_report_free(r);
}

/* ------------------------------------------------------------------ PII */

static const char *const pii_texts[4] = {"mail bob@example.com or call +44 20 7946 0958",
                                         "card 4111 1111 1111 1111, ip 10.0.0.1",
                                         "nothing to see here",
                                         "iban GB82 WEST 1234 5698 7654 32 today"};

typedef struct pii_job {
    dm_pii *pii;
    char *want[4];
    int wrong;
    int configure; /* this thread also tries to configure the handle */
    int busy;
} pii_job;

static void *pii_worker(void *arg)
{
    pii_job *j = arg;
    for (int r = 0; r < 30; r++) {
        for (int i = 0; i < 4; i++) {
            char *out = NULL;
            size_t len;
            if (dm_pii_anonymize(j->pii, pii_texts[i], strlen(pii_texts[i]), &out, &len, NULL, NULL)) j->wrong++;
            else j->wrong += strcmp(out, j->want[i]) != 0;
            dm_free(out);
        }
        if (j->configure) {
            /* Configuring what other threads use: refused, never half-seen. */
            dm_pii_operator_config cfg;
            dm_pii_operator_config_default(&cfg);
            dm_status s = dm_pii_set_operator(j->pii, "EMAIL_ADDRESS", &cfg);
            j->busy += s == DM_ERR_BUSY;
            if (s != DM_OK && s != DM_ERR_BUSY) j->wrong++;
        }
    }
    return NULL;
}

/* A validator that holds the detecting thread inside dm_pii_detect until
 * released: configuring the handle meanwhile must be refused. */
typedef struct hold {
    atomic_int entered, released;
} hold;

static int hold_validator(const char *match, size_t len, void *user)
{
    (void)match, (void)len;
    hold *h = user;
    atomic_store(&h->entered, 1);
    while (!atomic_load(&h->released)) sched_yield();
    return 1;
}

typedef struct detect_job {
    dm_pii *pii;
    dm_status status;
    size_t n;
} detect_job;

static void *detect_once(void *arg)
{
    detect_job *j = arg;
    dm_pii_entity *e = NULL;
    j->status = dm_pii_detect(j->pii, "ticket TKT-123", 14, &e, &j->n);
    dm_free(e);
    return NULL;
}

static void test_pii_configure_while_used(void)
{
    dm_pii *pii = NULL;
    hold h;
    atomic_init(&h.entered, 0);
    atomic_init(&h.released, 0);
    CHECK(dm_pii_create(NULL, &pii) == DM_OK);
    CHECK(dm_pii_add_pattern(pii, "TICKET", "TKT-[0-9]+", 0.9, hold_validator, &h, NULL, 0) == DM_OK);
    detect_job j = {pii, DM_OK, 0};
    pthread_t th;
    pthread_create(&th, NULL, detect_once, &j);
    while (!atomic_load(&h.entered)) sched_yield();
    dm_pii_operator_config cfg;
    dm_pii_operator_config_default(&cfg);
    CHECK_FAILS(dm_pii_set_operator(pii, "TICKET", &cfg), DM_ERR_BUSY, "in use by another thread");
    static const uint8_t key[32] = {1};
    CHECK_FAILS(dm_pii_set_key(pii, key, 32), DM_ERR_BUSY, "dm_pii_set_key");
    CHECK_FAILS(dm_pii_add_deny_list(pii, "TICKET", (const char *const[]){"x"}, 1, 0.5), DM_ERR_BUSY, "configure it");
    atomic_store(&h.released, 1);
    pthread_join(th, NULL);
    CHECK(j.status == DM_OK && j.n == 1);
    CHECK(dm_pii_set_operator(pii, "TICKET", &cfg) == DM_OK); /* nobody uses it now */
    dm_pii_free(pii);
}

static void test_pii_shared(void)
{
    dm_pii *pii = NULL;
    CHECK(dm_pii_create(NULL, &pii) == DM_OK);
    pii_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].pii = pii;
        jobs[i].configure = i == 0;
        for (int k = 0; k < 4; k++) {
            size_t len;
            CHECK(dm_pii_anonymize(pii, pii_texts[k], strlen(pii_texts[k]), &jobs[i].want[k], &len, NULL, NULL) ==
                  DM_OK);
        }
    }
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, pii_worker, &jobs[i]);
    int wrong = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        wrong += jobs[i].wrong;
        for (int k = 0; k < 4; k++) dm_free(jobs[i].want[k]);
    }
    printf("  PII handle, %d threads: %d wrong, %d configure calls refused as busy\n", THREADS, wrong, jobs[0].busy);
    CHECK(wrong == 0);
    dm_pii_free(pii);
}

int main(void)
{
    const char *fixture_dir = getenv("DM_FIXTURE_DIR");
    if (!fixture_dir) {
        fprintf(stderr, "DM_FIXTURE_DIR is not set (meson sets it)\n");
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/tiny", fixture_dir);
    make_texts();
    test_one_model_many_threads();
    test_busy_while_training();
    test_trainer_on_another_thread();
    test_tokenizer_shared();
    test_dataset_shared();
    test_report_shared();
    test_pii_shared();
    test_pii_configure_while_used();
    return check_summary();
}
