/*
 * jobs.c — worker failures carried back to the caller, and the fault hook
 * (see jobs.h).
 */
#include "jobs.h"

#include <stdarg.h>
#include <stdio.h>

void dmi_job_error_init(dmi_job_error *e)
{
    atomic_init(&e->first, SIZE_MAX);
    pthread_mutex_init(&e->lock, NULL);
    e->status = DM_OK;
    e->message[0] = '\0';
}

void dmi_job_error_destroy(dmi_job_error *e) { pthread_mutex_destroy(&e->lock); }

/* Keeps (STATUS, message) when INDEX is the smallest failing index so far. */
static void keep(dmi_job_error *e, size_t index, dm_status status, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&e->lock);
    if (index < atomic_load(&e->first)) {
        atomic_store(&e->first, index);
        e->status = status;
        vsnprintf(e->message, sizeof e->message, fmt, ap);
    }
    pthread_mutex_unlock(&e->lock);
}

static void keep_f(dmi_job_error *e, size_t index, dm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keep(e, index, status, fmt, ap);
    va_end(ap);
}

void dmi_job_error_set(dmi_job_error *e, size_t index, dm_status status)
{
    keep_f(e, index, status, "%s", dm_last_error());
}

void dmi_job_error_setf(dmi_job_error *e, size_t index, dm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keep(e, index, status, fmt, ap);
    va_end(ap);
}

dm_status dmi_job_error_raise(dmi_job_error *e, const char *prefix, ...)
{
    if (!dmi_job_failed(e)) return DM_OK;
    if (!prefix) return dmi_fail(e->status, "%s", e->message);
    char head[512];
    va_list ap;
    va_start(ap, prefix);
    vsnprintf(head, sizeof head, prefix, ap);
    va_end(ap);
    return dmi_fail(e->status, "%s: %s", head, e->message);
}

/* ------------------------------------------------------------ test hook */

const char *volatile dmi_fault_site;
size_t dmi_fault_index;

void dmi_fault_arm(const char *site, size_t index)
{
    dmi_fault_index = index;
    dmi_fault_site = site;
}

void dmi_fault_disarm(void) { dmi_fault_site = NULL; }

dm_status dmi_fault_fail(const char *site, size_t index)
{
    return dmi_fail(DM_ERR_NO_MEMORY, "out of memory (fault injected by a test: %s, item %zu)", site, index);
}
