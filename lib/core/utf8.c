/*
 * utf8.c — UTF-8 validation (see utf8.h).
 */
#include "utf8.h"

#include <string.h>

size_t dmi_utf8_invalid_at(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs, the common case, eight bytes at a time. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= len) break;
        uint32_t cp;
        size_t bad, n = dmi_utf8_decode(p + i, len - i, &cp, &bad);
        if (!n) return i;
        i += n;
    }
    return len;
}
