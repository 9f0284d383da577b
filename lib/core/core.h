/*
 * core.h — internal helpers shared by every part of the library: failing with
 * a thread-local message, checked allocation, whole-file reads, thread count.
 * Nothing here is exported; internal names start with dmi_.
 */
#ifndef DM_CORE_H
#define DM_CORE_H

#include "datamodel.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One copy of a hot loop per instruction set (AVX-512, AVX2, baseline),
 * picked at load time: put before a function. gcc on x86-64 only, and not
 * under a sanitizer, which instruments the ifunc resolver that runs before
 * it is set up. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#  define DMI_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#  define DMI_VECTOR_CLONES
#endif

#if defined(__GNUC__)
#  define DMI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#  define DMI_LIKELY(x) __builtin_expect(!!(x), 1)
#  define DMI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define DMI_PRINTF(a, b)
#  define DMI_LIKELY(x) (x)
#  define DMI_UNLIKELY(x) (x)
#endif

/* Sets the calling thread's error message and returns STATUS, so that a
 * failure reads: return dmi_fail(DM_ERR_PARSE, "%s: line %zu: ...", ...). */
dm_status dmi_fail(dm_status status, const char *fmt, ...) DMI_PRINTF(2, 3);

/* Prefixes the current message with "PREFIX: " and returns STATUS (used to add
 * context such as a file name to a message set deeper down). */
dm_status dmi_fail_prefix(dm_status status, const char *fmt, ...) DMI_PRINTF(2, 3);

/* malloc/calloc/realloc that set a DM_ERR_NO_MEMORY message on failure. */
void *dmi_malloc(size_t size);
void *dmi_calloc(size_t n, size_t size);
void *dmi_realloc(void *ptr, size_t size);
char *dmi_strndup(const char *s, size_t len);

/* Reads a whole file; *DATA is NUL-terminated (the NUL not counted in *LEN).
 * Fails with DM_ERR_IO naming the path and the system's reason. */
dm_status dmi_read_file(const char *path, char **data, size_t *len);

/* Maps PATH read-only (*DATA NULL for an empty file: mmap refuses length 0).
 * A folder is DM_ERR_IO ("PATH: is a folder, not a file"); another kind of
 * file that cannot be mapped (a pipe) is read into memory when READ_FALLBACK,
 * else DM_ERR_IO ("not a regular file"). *MAPPED says how to release it with
 * dmi_unmap_file. As with any mapped reader, a file truncated by another
 * process while mapped raises SIGBUS on access; our own writers replace files
 * by rename, never in place. */
dm_status dmi_map_file(const char *path, bool read_fallback, char **data, size_t *len, bool *mapped);
void dmi_unmap_file(char *data, size_t len, bool mapped);

/* Writes LEN bytes to PATH atomically: a hidden sibling, fsync, rename, fsync
 * of the folder (lib/core/staging.h). */
dm_status dmi_write_file_atomic(const char *path, const char *data, size_t len);

/* Creates DIR and its missing parents (mkdir -p); DM_ERR_IO naming the part
 * that could not be made, or DIR when it exists but is not a folder. */
dm_status dmi_make_dirs(const char *dir);

/* DIR "/" NAME into OUT (CAP bytes); DM_ERR_RANGE when it does not fit. */
dm_status dmi_path_join(char *out, size_t cap, const char *dir, const char *name);

/* Whether PATH exists and is a regular file / a folder. */
bool dmi_is_file(const char *path);
bool dmi_is_dir(const char *path);

/* The number of online CPUs (at least 1). */
int dmi_cpu_count(void);

/* Copies an option struct of the caller's size into a full-size default one:
 * fields the caller's (older) struct lacks keep their defaults. Fails when
 * struct_size is 0 or smaller than the first field. */
dm_status dmi_copy_options(void *dst, size_t dst_size, const void *src, const char *what);

#endif
