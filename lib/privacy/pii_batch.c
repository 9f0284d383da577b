/*
 * pii_batch.c — dm_pii_anonymize_batch, dm_pii_detect_batch and
 * dm_pii_decrypt_batch: many texts at once on OpenMP threads, each text
 * exactly as dm_pii_anonymize (dm_pii_detect, dm_pii_decrypt) makes it alone.
 *
 * The texts are handed out in runs of 64 (dynamic schedule: lines differ
 * much in length); each result lands in its own slot, so the output does not
 * depend on the thread count or the order threads finish in. A run's texts
 * and entities are gathered in one block each (run_out), which the caller's
 * arrays point into; the blocks sit in hidden slots after the N visible
 * ones of OUTS and ENTITIES, for dm_pii_batch_free. The calling
 * thread is thread 0 of the team and the only one to call the progress
 * callback. A failing text is recorded with its index (lib/core/jobs.h): the
 * first one wins, texts after it are skipped, and the call fails with "text
 * K: ..." on the caller's thread.
 */
#include "pii_ops.h"
#include "../core/buf.h"
#include "../core/jobs.h"

#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RUN_TEXTS 64       /* texts a thread takes at a time */
#define PROGRESS_EVERY 256 /* texts between progress calls, at least */

DM_API void dm_pii_batch_options_default(dm_pii_batch_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}

/* What a batch does to each text. */
typedef enum { BATCH_ANONYMIZE, BATCH_DECRYPT, BATCH_DETECT } batch_kind;

typedef struct batch {
    const dm_pii *pii;
    const char *fn; /* the public name, for messages */
    batch_kind kind;
    size_t n;
    const char *const *texts;
    const size_t *lens;
    dm_pii_batch_options o;
    char **outs;
    size_t *out_lens;
    dm_pii_entity **ents; /* NULL: not wanted */
    size_t *n_ents;
    dmi_job_error err;
    atomic_size_t done;
    atomic_int cancelled;
    uint64_t next_report; /* thread 0 only */
} batch;

/* One text's result, as the call on one text makes it (malloc'd). */
typedef struct one_result {
    char *text;
    size_t len;
    dm_pii_entity *ents;
    size_t n_ents;
} one_result;

/* Text I through the batch's operation. */
static dm_status one_text(const batch *b, size_t i, one_result *r)
{
    if (dmi_fault("pii.batch", i)) return dmi_fault_fail("pii.batch", i);
    const char *t = b->texts[i];
    size_t len = b->lens ? b->lens[i] : (t ? strlen(t) : 0);
    if (b->kind == BATCH_DECRYPT) return dmi_pii_decrypt(b->pii, t, len, &r->text, &r->len);
    if (b->kind == BATCH_DETECT) return dmi_pii_detect(b->pii, t, len, &r->ents, &r->n_ents);
    bool ents = b->ents != NULL;
    return dmi_pii_anonymize(b->pii, t, len, &r->text, &r->len, ents ? &r->ents : NULL, ents ? &r->n_ents : NULL);
}

/* The results of one run of texts, gathered on its thread into two blocks:
 * the texts (each NUL-terminated) and the entities. Each text's own result
 * is copied there and freed at once, on the thread that made it, so the
 * allocator's memory stays hot there; the caller is left a block or two per
 * run to free, not one or two allocations per text. */
typedef struct run_out {
    dmi_buf texts;
    dm_pii_entity *ents;
    size_t n_ents, ents_cap;
    size_t text_at[RUN_TEXTS], ents_at[RUN_TEXTS]; /* where each text's results start */
} run_out;

static dm_status keep_result(run_out *ro, size_t k, const one_result *r)
{
    ro->text_at[k] = ro->texts.len;
    if (r->text) {
        dmi_buf_append(&ro->texts, r->text, r->len);
        dmi_buf_append(&ro->texts, "", 1); /* the NUL that ends it */
        if (ro->texts.failed) return DM_ERR_NO_MEMORY;
    }
    ro->ents_at[k] = ro->n_ents;
    if (!r->n_ents) return DM_OK;
    if (!dmi_grow(&ro->ents, &ro->ents_cap, ro->n_ents + r->n_ents, sizeof *ro->ents)) return DM_ERR_NO_MEMORY;
    memcpy(ro->ents + ro->n_ents, r->ents, r->n_ents * sizeof *ro->ents);
    ro->n_ents += r->n_ents;
    return DM_OK;
}

/* Hands run R (texts [LO, HI)) over to the caller's slots; the blocks go to
 * the hidden slots after the N visible ones (dm_pii_batch_free frees them). */
static void publish_run(batch *b, size_t r, size_t lo, size_t hi, run_out *ro, const size_t *lens)
{
    for (size_t i = lo; i < hi; i++) {
        if (b->outs) b->outs[i] = ro->texts.data + ro->text_at[i - lo], b->out_lens[i] = lens[i - lo];
        if (!b->ents) continue;
        size_t at = ro->ents_at[i - lo], end = i + 1 < hi ? ro->ents_at[i + 1 - lo] : ro->n_ents;
        b->ents[i] = end > at ? ro->ents + at : NULL, b->n_ents[i] = end - at;
    }
    if (b->outs) b->outs[b->n + r] = ro->texts.data;
    else dmi_buf_free(&ro->texts);
    if (b->ents) b->ents[b->n + r] = ro->ents;
    else free(ro->ents);
}

/* Run R of the texts, in order, until one fails or the call is cancelled. */
static void run_range(batch *b, size_t r)
{
    size_t lo = r * RUN_TEXTS, hi = lo + RUN_TEXTS < b->n ? lo + RUN_TEXTS : b->n;
    run_out ro = {0};
    size_t lens[RUN_TEXTS], bytes = hi - lo;
    if (b->kind != BATCH_DETECT) { /* room for as much as the input: one allocation, mostly */
        for (size_t i = lo; b->lens && i < hi; i++) bytes += b->lens[i];
        dmi_buf_reserve(&ro.texts, bytes);
    }
    for (size_t i = lo; i < hi; i++) {
        if (atomic_load_explicit(&b->cancelled, memory_order_relaxed) || dmi_job_error_before(&b->err, i))
            goto drop; /* the call fails anyway: no more work */
        one_result res = {0};
        dm_status st = one_text(b, i, &res);
        if (!st) st = keep_result(&ro, i - lo, &res);
        lens[i - lo] = res.len;
        free(res.text);
        free(res.ents);
        if (st) {
            dmi_job_error_set(&b->err, i, st);
            goto drop;
        }
    }
    publish_run(b, r, lo, hi, &ro, lens);
    return;
drop:
    dmi_buf_free(&ro.texts);
    free(ro.ents);
}

/* On thread 0: the progress callback, now and then; true cancels. */
static void report(batch *b, bool last)
{
    uint64_t done = atomic_load(&b->done);
    if (!b->o.progress || (!last && done < b->next_report)) return;
    b->next_report = done + PROGRESS_EVERY;
    if (b->o.progress(done, b->n, b->o.progress_user)) atomic_store(&b->cancelled, 1);
}

static size_t n_runs(size_t n) { return (n + RUN_TEXTS - 1) / RUN_TEXTS; }

static void run_texts(batch *b, int threads)
{
    size_t runs = n_runs(b->n);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        bool lead = omp_get_thread_num() == 0;
        /* A run at a time: the shared counters change once per run, not per
         * text, so that threads do not fight over their cache line. */
#pragma omp for schedule(dynamic, 1)
        for (size_t r = 0; r < runs; r++) {
            run_range(b, r);
            atomic_fetch_add_explicit(&b->done, r + 1 < runs ? RUN_TEXTS : b->n - r * RUN_TEXTS,
                                      memory_order_relaxed);
            if (lead) report(b, false);
        }
    }
    if (!dmi_job_failed(&b->err) && !atomic_load(&b->cancelled)) report(b, true); /* n of n, always */
}

DM_API void dm_pii_batch_free(size_t n, char **outs, size_t *out_lens, dm_pii_entity **entities, size_t *n_entities)
{
    /* The results live in the blocks of the hidden slots [n, n + runs). */
    for (size_t r = 0; r < n_runs(n); r++) {
        if (outs) free(outs[n + r]);
        if (entities) free(entities[n + r]);
    }
    free(outs);
    free(out_lens);
    free(entities);
    free(n_entities);
}

static dm_status check_args(const batch *b, const dm_pii_batch_options *opts, bool have_outs)
{
    if (!b->pii || !b->pii->ops || (!b->texts && b->n) || !have_outs)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL argument", b->fn);
    if (opts && opts->struct_size == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_batch_options.struct_size is 0; initialise the options "
                        "with dm_pii_batch_options_default()", b->fn);
    if (b->o.threads < 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: dm_pii_batch_options.threads must be >= 0", b->fn);
    return DM_OK;
}

/* The slots of N results: texts unless detecting, entities when wanted. */
static dm_status alloc_slots(batch *b, bool want_texts, bool want_entities)
{
    size_t n = b->n ? b->n : 1, slots = b->n + n_runs(b->n) + 1; /* + each run's block, hidden */
    bool ok = true;
    if (want_texts) {
        b->outs = dmi_calloc(slots, sizeof *b->outs);
        b->out_lens = b->outs ? dmi_calloc(n, sizeof *b->out_lens) : NULL;
        ok = b->out_lens != NULL;
    }
    if (ok && want_entities) {
        b->ents = dmi_calloc(slots, sizeof *b->ents);
        b->n_ents = b->ents ? dmi_calloc(n, sizeof *b->n_ents) : NULL;
        ok = b->n_ents != NULL;
    }
    if (ok) return DM_OK;
    dm_pii_batch_free(b->n, b->outs, b->out_lens, b->ents, b->n_ents);
    return dmi_fail(DM_ERR_NO_MEMORY, "%s: out of memory for the results of %zu texts", b->fn, b->n);
}

/* Runs B (its arguments checked, the handle's lock held): the results stay
 * in B, or are freed when the call fails. */
static dm_status run_batch(batch *b, bool want_texts, bool want_entities)
{
    dm_status st = alloc_slots(b, want_texts, want_entities);
    if (st) return st;
    dmi_job_error_init(&b->err);
    atomic_init(&b->done, 0);
    atomic_init(&b->cancelled, 0);
    size_t runs = n_runs(b->n);
    int threads = b->o.threads > 0 ? b->o.threads : dmi_cpu_count();
    if ((size_t)threads > runs) threads = runs ? (int)runs : 1;
    run_texts(b, threads);
    st = dmi_job_error_raise(&b->err, "text %zu", dmi_job_error_index(&b->err));
    if (!st && atomic_load(&b->cancelled))
        st = dmi_fail(DM_ERR_CANCELLED, "%s: cancelled by the progress callback", b->fn);
    dmi_job_error_destroy(&b->err);
    if (st) dm_pii_batch_free(b->n, b->outs, b->out_lens, b->ents, b->n_ents);
    return st;
}

/* Sets up B for FN over N TEXTS, checking the arguments (HAVE_OUTS: the
 * caller's output pointers are there). */
static dm_status begin(batch *b, batch_kind kind, const char *fn, const dm_pii *pii, size_t n,
                       const char *const *texts, const size_t *lens, const dm_pii_batch_options *opts, bool have_outs)
{
    *b = (batch){.pii = pii, .fn = fn, .kind = kind, .n = n, .texts = texts, .lens = lens};
    dm_pii_batch_options_default(&b->o);
    if (opts && opts->struct_size) {
        dm_status st = dmi_copy_options(&b->o, sizeof b->o, opts, fn);
        if (st) return st;
    }
    return check_args(b, opts, have_outs);
}

DM_API dm_status dm_pii_anonymize_batch(const dm_pii *pii, size_t n, const char *const *texts, const size_t *lens,
                                        const dm_pii_batch_options *opts, char ***outs, size_t **out_lens,
                                        dm_pii_entity ***entities, size_t **n_entities)
{
    const char *fn = "dm_pii_anonymize_batch";
    if (outs) *outs = NULL;
    if (out_lens) *out_lens = NULL;
    if (entities) *entities = NULL;
    if (n_entities) *n_entities = NULL;
    batch b;
    dm_status st = begin(&b, BATCH_ANONYMIZE, fn, pii, n, texts, lens, opts, outs && out_lens);
    if (!st && (entities == NULL) != (n_entities == NULL))
        st = dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: give both entities and n_entities, or neither", fn);
    if (st) return st;
    dmi_pii_use_begin(pii);
    st = dmi_pii_check_key(pii, fn); /* before any text: a batch never fails on its first text for want of a key */
    if (!st) st = run_batch(&b, true, entities != NULL);
    dmi_pii_use_end(pii);
    if (st) return st;
    *outs = b.outs, *out_lens = b.out_lens;
    if (entities) *entities = b.ents, *n_entities = b.n_ents;
    return DM_OK;
}

DM_API dm_status dm_pii_detect_batch(const dm_pii *pii, size_t n, const char *const *texts, const size_t *lens,
                                     const dm_pii_batch_options *opts, dm_pii_entity ***entities, size_t **n_entities)
{
    if (entities) *entities = NULL;
    if (n_entities) *n_entities = NULL;
    batch b;
    dm_status st = begin(&b, BATCH_DETECT, "dm_pii_detect_batch", pii, n, texts, lens, opts, entities && n_entities);
    if (st) return st;
    dmi_pii_use_begin(pii);
    st = run_batch(&b, false, true);
    dmi_pii_use_end(pii);
    if (st) return st;
    *entities = b.ents, *n_entities = b.n_ents;
    return DM_OK;
}

DM_API dm_status dm_pii_decrypt_batch(const dm_pii *pii, size_t n, const char *const *texts, const size_t *lens,
                                      const dm_pii_batch_options *opts, char ***outs, size_t **out_lens)
{
    if (outs) *outs = NULL;
    if (out_lens) *out_lens = NULL;
    batch b;
    dm_status st = begin(&b, BATCH_DECRYPT, "dm_pii_decrypt_batch", pii, n, texts, lens, opts, outs && out_lens);
    if (st) return st;
    dmi_pii_use_begin(pii);
    if (!dmi_pii_has_key(pii)) /* before any text, as dm_pii_decrypt says it */
        st = dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_decrypt_batch: no key is set: set the key the texts were "
                      "encrypted with (dm_pii_set_key or dm_pii_load_key_file)");
    if (!st) st = run_batch(&b, true, false);
    dmi_pii_use_end(pii);
    if (st) return st;
    *outs = b.outs, *out_lens = b.out_lens;
    return DM_OK;
}
