/*
 * test_jobs.c — lib/core's shared pieces: dmi_job_error (a failure on a
 * worker thread, message and all, reaches the calling thread; the smallest
 * index wins whatever order the threads report in) and the growable
 * buffers of buf.h (dmi_buf, dmi_grow).
 */
#include "core/buf.h"
#include "core/jobs.h"

#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N_WORKERS 8

typedef struct {
    dmi_job_error *err;
    size_t index;
} worker_arg;

/* A worker that fails with a message of its own (on its own thread, where
 * the caller cannot see it) and records it. */
static void *failing_worker(void *p)
{
    worker_arg *a = p;
    dm_status st = dmi_fail(DM_ERR_PARSE, "item %zu could not be parsed (thread-local message)", a->index);
    dmi_job_error_set(a->err, a->index, st);
    return NULL;
}

static void test_carried_back(void)
{
    dmi_job_error err;
    dmi_job_error_init(&err);
    CHECK(!dmi_job_failed(&err));
    CHECK(dmi_job_error_raise(&err, "unused") == DM_OK);
    dmi_fail(DM_ERR_IO, "the caller's own earlier message");
    /* Workers fail in an order that has nothing to do with their indexes. */
    static const size_t order[N_WORKERS] = {70, 12, 95, 40, 13, 88, 12, 60};
    pthread_t t[N_WORKERS];
    worker_arg args[N_WORKERS];
    for (int i = 0; i < N_WORKERS; i++) {
        args[i] = (worker_arg){&err, order[i]};
        pthread_create(&t[i], NULL, failing_worker, &args[i]);
    }
    for (int i = 0; i < N_WORKERS; i++) pthread_join(t[i], NULL);
    CHECK(dmi_job_failed(&err));
    CHECK(dmi_job_error_index(&err) == 12);
    CHECK(dmi_job_error_before(&err, 13) && !dmi_job_error_before(&err, 12));
    /* The caller's thread still has its own message until it raises. */
    CHECK(strcmp(dm_last_error(), "the caller's own earlier message") == 0);
    CHECK_FAILS(dmi_job_error_raise(&err, "text %zu", dmi_job_error_index(&err)), DM_ERR_PARSE,
                "text 12: item 12 could not be parsed (thread-local message)");
    dmi_job_error_destroy(&err);
}

static void test_setf_and_no_prefix(void)
{
    dmi_job_error err;
    dmi_job_error_init(&err);
    dmi_job_error_setf(&err, 5, DM_ERR_NO_MEMORY, "no room for %d bytes", 42);
    dmi_job_error_setf(&err, 9, DM_ERR_RANGE, "later: ignored");
    CHECK_FAILS(dmi_job_error_raise(&err, NULL), DM_ERR_NO_MEMORY, "no room for 42 bytes");
    CHECK(strcmp(dm_last_error(), "no room for 42 bytes") == 0);
    dmi_job_error_destroy(&err);
}

static void test_fault_hook(void)
{
    CHECK(!dmi_fault("clean", 3));
    dmi_fault_arm("clean", 3);
    CHECK(dmi_fault("clean", 3) && !dmi_fault("clean", 4) && !dmi_fault("augment", 3));
    CHECK_FAILS(dmi_fault_fail("clean", 3), DM_ERR_NO_MEMORY, "fault injected by a test: clean, item 3");
    dmi_fault_disarm();
    CHECK(!dmi_fault("clean", 3));
}

static void test_buf(void)
{
    dmi_buf b = {0};
    dmi_buf_puts(&b, "abc");
    dmi_buf_printf(&b, "-%d-", 42);
    dmi_buf_json_string(&b, "q\"\n\xff", 4);
    CHECK(b.len == strlen("abc-42-\"q\\\"\\n\xEF\xBF\xBD\"") && strcmp(b.data, "abc-42-\"q\\\"\\n\xEF\xBF\xBD\"") == 0);
    dmi_buf_clear(&b);
    CHECK(b.len == 0 && b.data[0] == '\0');
    for (int i = 0; i < 10000; i++) dmi_buf_append(&b, "0123456789", 10);
    CHECK(b.len == 100000 && b.cap > b.len && b.data[b.len] == '\0' && !b.failed);
    char *out;
    size_t len;
    CHECK(dmi_buf_finish(&b, &out, &len) == DM_OK && len == 100000 && out[99999] == '9');
    CHECK(b.data == NULL && b.len == 0);
    free(out);
    /* An impossible size fails, sticks, and later appends do nothing. */
    CHECK(!dmi_buf_reserve(&b, SIZE_MAX - 8));
    CHECK(b.failed && strstr(dm_last_error(), "out of memory") != NULL);
    dmi_buf_puts(&b, "x");
    CHECK(b.len == 0);
    CHECK(dmi_buf_finish(&b, &out, &len) == DM_ERR_NO_MEMORY);
    /* dmi_grow: at least NEED, doubling. */
    int32_t *v = NULL;
    size_t cap = 0;
    CHECK(dmi_grow(&v, &cap, 1, sizeof *v) && cap == 16);
    CHECK(dmi_grow(&v, &cap, 17, sizeof *v) && cap == 32);
    CHECK(dmi_grow(&v, &cap, 20, sizeof *v) && cap == 32);
    CHECK(dmi_grow(&v, &cap, 1000, sizeof *v) && cap == 1024);
    v[999] = 7;
    CHECK(!dmi_grow(&v, &cap, SIZE_MAX / 2, sizeof *v) && cap == 1024 && v[999] == 7);
    free(v);
}

int main(void)
{
    test_carried_back();
    test_setf_and_no_prefix();
    test_fault_hook();
    test_buf();
    return check_summary();
}
