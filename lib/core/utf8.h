/*
 * utf8.h — UTF-8 encoding, decoding and validation shared by the tokenizer and the data
 * readers. Valid means Unicode's well-formed UTF-8: no overlong forms, no
 * surrogates, nothing above U+10FFFF. An invalid sequence's length is that of
 * its "maximal subpart" (Unicode's substitution of maximal subparts), which
 * is what gets replaced by U+FFFD.
 */
#ifndef DM_UTF8_H
#define DM_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Writes code point CP (a Unicode scalar value) as 1-4 bytes at OUT; returns
 * how many. */
static inline size_t dmi_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one code point at P (AVAIL > 0 bytes). Returns its length, or 0 when
 * the bytes there are not valid UTF-8; *BAD_LEN then gets the length of the
 * maximal subpart to replace. */
static inline size_t dmi_utf8_decode(const uint8_t *p, size_t avail, uint32_t *cp, size_t *bad_len)
{
    uint8_t b = p[0];
    size_t need;
    uint32_t c, lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        c = b & 0x0F;
        if (b == 0xE0) lo = 0xA0; /* no overlongs */
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        c = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *bad_len = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= avail || p[i] < lo || p[i] > hi) {
            *bad_len = i;
            return 0;
        }
        c = (c << 6) | (p[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = c;
    return need + 1;
}

/* The byte offset of the first invalid sequence in S, or LEN when all of S
 * is valid UTF-8. */
size_t dmi_utf8_invalid_at(const char *s, size_t len);

#endif
