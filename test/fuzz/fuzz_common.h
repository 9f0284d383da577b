/*
 * fuzz_common.h — what the libFuzzer targets in test/fuzz share: an invariant
 * check that traps (so libFuzzer records the input), an independent UTF-8
 * validator, and checks of a dm_encoding against the public API's promises.
 * Header-only (static functions), included once per target.
 */
#ifndef DM_FUZZ_COMMON_H
#define DM_FUZZ_COMMON_H

#include "datamodel.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the library's documented behaviour: on violation, say which
 * and trap, so that libFuzzer (or the replay driver) reports the input. */
#define FZ_CHECK(cond)                                                                         \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, "  dm_last_error: %s\n", dm_last_error() ? dm_last_error() : "(null)"); \
            fflush(stderr);                                                                    \
            __builtin_trap();                                                                  \
        }                                                                                      \
    } while (0)

/* A failing call must leave a non-empty message and a known status name. */
static inline void fz_check_failure(dm_status st)
{
    FZ_CHECK(st != DM_OK);
    const char *msg = dm_last_error();
    FZ_CHECK(msg != NULL && msg[0] != '\0');
    const char *name = dm_status_name(st);
    FZ_CHECK(name != NULL && strncmp(name, "DM_", 3) == 0);
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF),
 * written independently of the library's decoder. */
static inline int fz_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t need;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            need = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            need = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            need = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (n - i <= need) return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += need + 1;
    }
    return 1;
}

/* What holds for any encoding from any loaded tokenizer: ids in range with
 * their token strings, offsets ordered and inside the longer input, masks
 * 0/1, padding (attention 0) marked special. */
static inline void fz_check_encoding_generic(const dm_tokenizer *t, const dm_encoding *e, size_t max_text_len)
{
    FZ_CHECK(e != NULL);
    FZ_CHECK(e->length == 0 || (e->ids && e->type_ids && e->attention_mask && e->special_tokens_mask &&
                                e->offsets && e->tokens));
    size_t vocab = dm_tokenizer_vocab_size(t);
    for (size_t i = 0; i < e->length; i++) {
        FZ_CHECK(e->ids[i] >= 0 && (size_t)e->ids[i] < vocab);
        FZ_CHECK(e->tokens[i] == dm_tokenizer_id_to_token(t, e->ids[i]));
        FZ_CHECK(e->offsets[2 * i + 1] >= e->offsets[2 * i]);
        FZ_CHECK(e->offsets[2 * i + 1] <= max_text_len);
        FZ_CHECK(e->attention_mask[i] <= 1 && e->special_tokens_mask[i] <= 1);
        if (e->attention_mask[i] == 0) {
            FZ_CHECK(e->special_tokens_mask[i] == 1);
            FZ_CHECK(e->ids[i] == dm_tokenizer_special_id(t, DM_SPECIAL_PAD));
        }
        if (e->special_tokens_mask[i]) FZ_CHECK(e->offsets[2 * i] == 0 && e->offsets[2 * i + 1] == 0);
    }
}

/* The layout of an encoding from a tokenizer with BERT's template:
 * [CLS] A [SEP] (B [SEP]) then padding, or A (B) then padding without special
 * tokens. Checks every field and returns the token counts of A and B and the
 * length before padding. */
typedef struct fz_layout {
    size_t na, nb, unpadded;
} fz_layout;

static inline void fz_check_special_at(const dm_tokenizer *t, const dm_encoding *e, size_t i, dm_special_token which,
                                       int32_t type_id)
{
    FZ_CHECK(i < e->length);
    FZ_CHECK(e->ids[i] == dm_tokenizer_special_id(t, which));
    FZ_CHECK(e->special_tokens_mask[i] == 1 && e->attention_mask[i] == 1);
    FZ_CHECK(e->type_ids[i] == type_id);
    FZ_CHECK(e->offsets[2 * i] == 0 && e->offsets[2 * i + 1] == 0);
}

static inline fz_layout fz_check_bert_layout(const dm_tokenizer *t, const dm_encoding *e, size_t len_a, size_t len_b,
                                             int has_pair, int add_special)
{
    fz_check_encoding_generic(t, e, len_a > len_b ? len_a : len_b);
    fz_layout l = {0, 0, 0};
    size_t i = 0;
    if (add_special) fz_check_special_at(t, e, i++, DM_SPECIAL_CLS, 0);
    while (i < e->length && e->special_tokens_mask[i] == 0 && e->type_ids[i] == 0) {
        FZ_CHECK(e->attention_mask[i] == 1);
        FZ_CHECK(e->offsets[2 * i + 1] <= len_a);
        l.na++, i++;
    }
    if (add_special) fz_check_special_at(t, e, i++, DM_SPECIAL_SEP, 0);
    if (has_pair) {
        while (i < e->length && e->special_tokens_mask[i] == 0 && e->type_ids[i] == 1) {
            FZ_CHECK(e->attention_mask[i] == 1);
            FZ_CHECK(e->offsets[2 * i + 1] <= len_b);
            l.nb++, i++;
        }
        if (add_special) fz_check_special_at(t, e, i++, DM_SPECIAL_SEP, 1);
    }
    l.unpadded = i;
    for (; i < e->length; i++) { /* the rest is padding, and only padding */
        FZ_CHECK(e->ids[i] == dm_tokenizer_special_id(t, DM_SPECIAL_PAD));
        FZ_CHECK(e->attention_mask[i] == 0 && e->special_tokens_mask[i] == 1);
        FZ_CHECK(e->type_ids[i] == 0);
        FZ_CHECK(e->offsets[2 * i] == 0 && e->offsets[2 * i + 1] == 0);
    }
    return l;
}

/* Two encodings are the same, field by field. */
static inline int fz_encodings_equal(const dm_encoding *a, const dm_encoding *b)
{
    if (a->length != b->length) return 0;
    size_t n = a->length;
    if (n == 0) return 1;
    return memcmp(a->ids, b->ids, n * sizeof *a->ids) == 0 &&
           memcmp(a->type_ids, b->type_ids, n * sizeof *a->type_ids) == 0 &&
           memcmp(a->attention_mask, b->attention_mask, n) == 0 &&
           memcmp(a->special_tokens_mask, b->special_tokens_mask, n) == 0 &&
           memcmp(a->offsets, b->offsets, 2 * n * sizeof *a->offsets) == 0 &&
           memcmp(a->tokens, b->tokens, n * sizeof *a->tokens) == 0;
}

/* Decodes E's ids (with and without special tokens): that must succeed, give
 * a NUL-terminated string of the reported length. */
static inline void fz_check_decode(const dm_tokenizer *t, const dm_encoding *e)
{
    for (int skip = 0; skip <= 1; skip++) {
        char *text = NULL;
        size_t len = (size_t)-1;
        dm_status st = dm_tokenizer_decode(t, e->ids, e->length, skip, &text, &len);
        FZ_CHECK(st == DM_OK);
        FZ_CHECK(text != NULL && strlen(text) <= len && text[len] == '\0');
        dm_free(text);
    }
}

#endif
