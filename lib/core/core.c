/*
 * core.c — thread-local error messages, version, checked allocation, file I/O.
 */
#include "core.h"
#include "staging.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DMI_ERROR_CAP 1024

static _Thread_local char error_text[DMI_ERROR_CAP];

DM_API const char *dm_version(void) { return DM_VERSION_STRING; }

DM_API int dm_version_number(void)
{
    return DM_VERSION_MAJOR * 10000 + DM_VERSION_MINOR * 100 + DM_VERSION_PATCH;
}

DM_API const char *dm_last_error(void) { return error_text; }

DM_API const char *dm_status_name(dm_status status)
{
    switch (status) {
    case DM_OK: return "DM_OK";
    case DM_ERR_INVALID_ARGUMENT: return "DM_ERR_INVALID_ARGUMENT";
    case DM_ERR_IO: return "DM_ERR_IO";
    case DM_ERR_PARSE: return "DM_ERR_PARSE";
    case DM_ERR_UTF8: return "DM_ERR_UTF8";
    case DM_ERR_NOT_FOUND: return "DM_ERR_NOT_FOUND";
    case DM_ERR_NO_MEMORY: return "DM_ERR_NO_MEMORY";
    case DM_ERR_UNSUPPORTED: return "DM_ERR_UNSUPPORTED";
    case DM_ERR_CANCELLED: return "DM_ERR_CANCELLED";
    case DM_ERR_RANGE: return "DM_ERR_RANGE";
    case DM_ERR_NUMERIC: return "DM_ERR_NUMERIC";
    case DM_ERR_INTERNAL: return "DM_ERR_INTERNAL";
    case DM_ERR_AUTH: return "DM_ERR_AUTH";
    case DM_ERR_BUSY: return "DM_ERR_BUSY";
    }
    return "DM_ERR_UNKNOWN";
}

DM_API void dm_free(void *ptr) { free(ptr); }

dm_status dmi_fail(dm_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
    return status;
}

dm_status dmi_fail_prefix(dm_status status, const char *fmt, ...)
{
    char old[DMI_ERROR_CAP];
    memcpy(old, error_text, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof error_text) return status;
    /* Append ": OLD", cut to fit (a long message is cut, never dropped). */
    size_t at = (size_t)n;
    for (const char *p = ": "; *p && at + 1 < sizeof error_text; p++) error_text[at++] = *p;
    for (const char *p = old; *p && at + 1 < sizeof error_text; p++) error_text[at++] = *p;
    error_text[at] = '\0';
    return status;
}

void *dmi_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) dmi_fail(DM_ERR_NO_MEMORY, "out of memory allocating %zu bytes", size);
    return p;
}

void *dmi_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) dmi_fail(DM_ERR_NO_MEMORY, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *dmi_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) dmi_fail(DM_ERR_NO_MEMORY, "out of memory growing a buffer to %zu bytes", size);
    return p;
}

char *dmi_strndup(const char *s, size_t len)
{
    char *p = dmi_malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

dm_status dmi_read_file(const char *path, char **data, size_t *len)
{
    if (!path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return dmi_fail(DM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = dmi_malloc(cap);
    if (!buf) { fclose(f); return DM_ERR_NO_MEMORY; }
    for (;;) {
        if (cap - n < 2) {
            char *nb = dmi_realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); return DM_ERR_NO_MEMORY; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return dmi_fail(DM_ERR_IO, "%s: read error", path); }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return DM_OK;
}

dm_status dmi_map_file(const char *path, bool read_fallback, char **data, size_t *len, bool *mapped)
{
    if (!path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dmi_fail(DM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return dmi_fail(DM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    *mapped = false;
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return dmi_fail(DM_ERR_IO, "%s: is a folder, not a file", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        if (read_fallback) return dmi_read_file(path, data, len);
        return dmi_fail(DM_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return dmi_fail(DM_ERR_RANGE, "%s: too large to map", path);
    }
    *len = (size_t)sb.st_size;
    *data = NULL;
    if (*len > 0) {
        void *m = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return dmi_fail(DM_ERR_IO, "%s: cannot map %zu bytes: %s", path, *len, strerror(e));
        }
        *data = m;
        *mapped = true;
    }
    close(fd); /* the mapping stays valid */
    return DM_OK;
}

void dmi_unmap_file(char *data, size_t len, bool mapped)
{
    if (mapped) munmap(data, len);
    else free(data);
}

dm_status dmi_write_file_atomic(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    dm_status s = dmi_tmp_sibling(path, tmp, sizeof tmp);
    if (s) return s;
    dmi_tidy_around(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return dmi_fail(DM_ERR_IO, "%s: cannot create a file beside it: %s", path, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return dmi_fail(DM_ERR_IO, "%s: write failed: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return dmi_fail(DM_ERR_IO, "%s: cannot flush: %s", path, strerror(e));
    }
    return dmi_commit_file(tmp, path);
}

dm_status dmi_make_dirs(const char *dir)
{
    char path[4096];
    size_t n = dir ? strlen(dir) : 0;
    if (n == 0 || n >= sizeof path)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "output folder name is empty or too long");
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return dmi_fail(DM_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
        path[i] = c;
    }
    if (!dmi_is_dir(dir)) return dmi_fail(DM_ERR_IO, "%s: not a folder", dir);
    return DM_OK;
}

dm_status dmi_path_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return dmi_fail(DM_ERR_RANGE, "%s/%s: path too long", dir, name);
    return DM_OK;
}

bool dmi_is_file(const char *path)
{
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool dmi_is_dir(const char *path)
{
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int dmi_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

dm_status dmi_copy_options(void *dst, size_t dst_size, const void *src, const char *what)
{
    size_t src_size = *(const size_t *)src;
    if (src_size < sizeof(size_t))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: struct_size is %zu; initialise options with the "
                        "matching _options_default() function",
                        what, src_size);
    /* A newer caller may pass a larger struct: we read only what we know. */
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    *(size_t *)dst = dst_size;
    return DM_OK;
}
