/*
 * buf.c — dmi_buf and dmi_grow (see buf.h).
 */
#include "buf.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool dmi_buf_reserve(dmi_buf *b, size_t more)
{
    if (b->failed) return false;
    if (more < SIZE_MAX - b->len - 1 && b->len + more + 1 <= b->cap) return true;
    if (more >= SIZE_MAX / 2 - b->len) {
        dmi_fail(DM_ERR_NO_MEMORY, "out of memory: a buffer of %zu bytes cannot grow by %zu", b->len, more);
        b->failed = true;
        return false;
    }
    /* The first allocation is what is asked (64 at least): a buffer sized for
     * its text up front (a row's key) is not rounded up to more. */
    size_t need = b->len + more + 1, cap = b->cap + b->cap / 2;
    if (cap < need) cap = need;
    if (cap < 64) cap = 64;
    char *d = dmi_realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d, b->cap = cap;
    return true;
}

void dmi_buf_append(dmi_buf *b, const void *s, size_t len)
{
    if (len == 0) return; /* S may be NULL then */
    if (!dmi_buf_reserve(b, len)) return;
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void dmi_buf_puts(dmi_buf *b, const char *s) { dmi_buf_append(b, s, strlen(s)); }

void dmi_buf_printf(dmi_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !dmi_buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void dmi_buf_json_string(dmi_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    dmi_buf_append(b, "\"", 1);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            uint32_t cp;
            size_t bad = 0;
            size_t n = dmi_utf8_decode((const uint8_t *)s + i, len - i, &cp, &bad);
            if (n == 0) {
                dmi_buf_append(b, "\xEF\xBF\xBD", 3);
                i += bad ? bad : 1;
            } else {
                dmi_buf_append(b, s + i, n);
                i += n;
            }
            continue;
        }
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            dmi_buf_append(b, e, 2);
        } else if (c == '\n') dmi_buf_append(b, "\\n", 2);
        else if (c == '\r') dmi_buf_append(b, "\\r", 2);
        else if (c == '\t') dmi_buf_append(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7F) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            dmi_buf_append(b, e, 6);
        } else dmi_buf_append(b, s + i, 1);
        i++;
    }
    dmi_buf_append(b, "\"", 1);
}

void dmi_buf_clear(dmi_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

dm_status dmi_buf_finish(dmi_buf *b, char **out, size_t *len)
{
    if (b->failed || !dmi_buf_reserve(b, 0)) {
        dmi_buf_free(b);
        return DM_ERR_NO_MEMORY;
    }
    b->data[b->len] = '\0';
    *out = b->data;
    if (len) *len = b->len;
    *b = (dmi_buf){0};
    return DM_OK;
}

void dmi_buf_free(dmi_buf *b)
{
    free(b->data);
    *b = (dmi_buf){0};
}

bool dmi_grow(void *items, size_t *cap, size_t need, size_t elem)
{
    void **p = items;
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) {
            dmi_fail(DM_ERR_NO_MEMORY, "out of memory: %zu items of %zu bytes", need, elem);
            return false;
        }
        c *= 2;
    }
    void *n = dmi_realloc(*p, c * elem);
    if (!n) return false;
    *p = n, *cap = c;
    return true;
}
