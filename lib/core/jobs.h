/*
 * jobs.h — failures on worker threads, carried back to the caller.
 *
 * Messages are thread-local (dmi_fail), so a message set on a worker thread
 * (OpenMP or pthreads) is invisible to the thread that called the library.
 * Work split over threads therefore records its failures in a dmi_job_error:
 * each failing item gives its index, status and message; the one with the
 * smallest index wins, whatever order the threads ran in, so the error a
 * caller sees does not depend on the thread count. Back on the calling
 * thread, dmi_job_error_raise sets that message there (dmi_fail) and returns
 * its status.
 *
 * Also here: dmi_fault, the test hook that makes one item of a parallel loop
 * fail as if out of memory (where no input can make a worker fail).
 */
#ifndef DM_CORE_JOBS_H
#define DM_CORE_JOBS_H

#include "core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DMI_JOB_MESSAGE_CAP 1024

typedef struct dmi_job_error {
    atomic_size_t first; /* the smallest failing index so far; SIZE_MAX: none */
    pthread_mutex_t lock;
    dm_status status;
    char message[DMI_JOB_MESSAGE_CAP];
} dmi_job_error;

void dmi_job_error_init(dmi_job_error *e);
void dmi_job_error_destroy(dmi_job_error *e);

/* On any thread: item INDEX failed with STATUS and the message this thread's
 * last dmi_fail set (dm_last_error()). Kept when INDEX is the smallest so far. */
void dmi_job_error_set(dmi_job_error *e, size_t index, dm_status status);

/* As dmi_job_error_set with a message of its own (printf): for a failure that
 * set none, such as a plain allocation. */
void dmi_job_error_setf(dmi_job_error *e, size_t index, dm_status status, const char *fmt, ...) DMI_PRINTF(4, 5);

/* Whether an item before INDEX failed: later items may be skipped, their
 * outcome can no longer matter. */
static inline bool dmi_job_error_before(dmi_job_error *e, size_t index)
{
    return atomic_load_explicit(&e->first, memory_order_relaxed) < index;
}

/* Whether anything failed (call once the workers are done). */
static inline bool dmi_job_failed(dmi_job_error *e) { return atomic_load(&e->first) != SIZE_MAX; }

/* The failing index (SIZE_MAX when none; once the workers are done). */
static inline size_t dmi_job_error_index(dmi_job_error *e) { return atomic_load(&e->first); }

/* On the calling thread, once the workers are done: DM_OK when nothing
 * failed; else sets the recorded message as the thread's error, prefixed by
 * PREFIX (printf, may be NULL) and ": ", and returns the recorded status.
 * The library's rule for batches is the prefix "text K" (K from 0 in the
 * batch), which callers may parse back (the CLI names file and line). */
dm_status dmi_job_error_raise(dmi_job_error *e, const char *prefix, ...) DMI_PRINTF(2, 3);

/* ------------------------------------------------------------ test hook */

/* Armed by a test (dmi_fault_arm) before it calls the library, from one
 * thread, while no library call runs: the item INDEX of the loop named SITE
 * then fails, as if out of memory. Sites: "clean" (rows), "dedup.keys" and
 * "dedup.signature" (rows; profiles and near-duplicate splits run dedup),
 * "augment" (rows), "pii.dataset" (rows), "pii.batch" (texts). */
extern const char *volatile dmi_fault_site;
extern size_t dmi_fault_index;
void dmi_fault_arm(const char *site, size_t index);
void dmi_fault_disarm(void);

/* Whether item INDEX of loop SITE is to fail; the cost when unarmed is one
 * load and a branch. */
static inline bool dmi_fault(const char *site, size_t index)
{
    const char *armed = dmi_fault_site;
    return DMI_UNLIKELY(armed != NULL) && index == dmi_fault_index && strcmp(armed, site) == 0;
}

/* The failure a fault stands for, as the site would raise it. */
dm_status dmi_fault_fail(const char *site, size_t index);

#endif
