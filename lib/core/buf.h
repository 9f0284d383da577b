/*
 * buf.h — the library's growable buffers: dmi_buf for bytes (text, JSON,
 * reports, audit logs, normalised rows) and dmi_grow for arrays of any item.
 * Every part of the library that builds something of unknown length uses
 * these rather than a realloc loop of its own, so that growth, the NUL at
 * the end and out-of-memory handling are the same everywhere.
 *
 * An allocation failure sets DM_ERR_NO_MEMORY with a message on the calling
 * thread (dmi_realloc). On a worker thread that message is carried back to
 * the caller by lib/core/jobs.h.
 */
#ifndef DM_CORE_BUF_H
#define DM_CORE_BUF_H

#include "core.h"

#include <stdbool.h>
#include <stddef.h>

/* Bytes, always NUL-terminated once anything was appended (DATA[LEN] is 0),
 * so that text can be handed on as a C string. Zero-initialise it
 * ((dmi_buf){0}); release it with dmi_buf_free or dmi_buf_finish. */
typedef struct dmi_buf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: later appends do nothing */
} dmi_buf;

/* Room for MORE bytes after LEN (and the NUL): false when out of memory, and
 * from then on (FAILED sticks, so that a long series of appends needs one
 * check at the end). Grows by half again at least: a long text that grows a
 * little does not cost twice its size. */
bool dmi_buf_reserve(dmi_buf *b, size_t more);
void dmi_buf_append(dmi_buf *b, const void *s, size_t len);
void dmi_buf_puts(dmi_buf *b, const char *s);
void dmi_buf_printf(dmi_buf *b, const char *fmt, ...) DMI_PRINTF(2, 3);
/* S as a JSON string (quotes and escapes included); invalid UTF-8 bytes as U+FFFD. */
void dmi_buf_json_string(dmi_buf *b, const char *s, size_t len);
/* Empties B, keeping its memory (a buffer reused text after text). */
void dmi_buf_clear(dmi_buf *b);
/* Hands the NUL-terminated data to *OUT (and its length to *LEN, may be NULL):
 * DM_ERR_NO_MEMORY when an append failed. The buffer is emptied either way. */
dm_status dmi_buf_finish(dmi_buf *b, char **out, size_t *len);
void dmi_buf_free(dmi_buf *b);

/* Grows the array *ITEMS (*CAP items of ELEM bytes) to hold at least NEED
 * items, doubling from 16: false (DM_ERR_NO_MEMORY set, *ITEMS unchanged)
 * when out of memory. ITEMS is the address of any pointer (T **). */
bool dmi_grow(void *items, size_t *cap, size_t need, size_t elem);

#endif
