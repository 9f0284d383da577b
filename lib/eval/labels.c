/*
 * labels.c — label names of an evaluation report: checking them and measuring
 * them the way scikit-learn's classification_report does.
 */
#include "eval_internal.h"

#include <string.h>
#include <utf8proc.h>

dm_status dmi_check_label_name(const char *what, size_t index, const char *s)
{
    if (!s) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s[%zu] is NULL", what, index);
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t len = strlen(s), at = 0;
    while (at < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t step = utf8proc_iterate(p + at, (utf8proc_ssize_t)(len - at), &cp);
        if (step <= 0)
            return dmi_fail(DM_ERR_UTF8, "%s[%zu] is not valid UTF-8 (byte %zu)", what, index, at);
        at += (size_t)step;
    }
    return DM_OK;
}

size_t dmi_utf8_length(const char *s)
{
    /* Every code point has exactly one byte that is not a continuation byte
     * (10xxxxxx); the string has been checked to be valid UTF-8. */
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) n += (*p & 0xC0) != 0x80;
    return n;
}
