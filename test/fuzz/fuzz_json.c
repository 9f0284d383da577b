/*
 * fuzz_json.c — libFuzzer target: the input is a tokenizer.json given to
 * dm_tokenizer_load_json. Loading must fail cleanly (a status and a message)
 * or give a tokenizer that encodes, decodes and frees without a crash, a
 * leak or undefined behaviour, whatever the file's vocabulary, added tokens,
 * template and decoder say.
 */
#include "fuzz_common.h"

static const char TEXT[] = "Hello, World! Unaffable caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 [CLS] [MASK] "
                           "don't ##s \xef\xbc\x81 A\xcc\x8a\tx\x01y";
static const char PAIR[] = "The second sentence\xe3\x80\x82 \xf0\x9f\x98\x80 [SEP]   end.";

/* Decodes the first ids of the vocabulary: succeeds exactly when none of
 * them is an unused id. */
static void decode_vocab_prefix(const dm_tokenizer *t)
{
    int32_t ids[64];
    size_t n = dm_tokenizer_vocab_size(t);
    if (n > 64) n = 64;
    int holes = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int32_t)i;
        const char *tok = dm_tokenizer_id_to_token(t, (int32_t)i);
        if (!tok) {
            holes = 1;
            continue;
        }
        int32_t back = -1;
        if (dm_tokenizer_token_to_id(t, tok, strlen(tok), &back) == DM_OK) {
            const char *again = dm_tokenizer_id_to_token(t, back);
            FZ_CHECK(again != NULL && strcmp(again, tok) == 0);
        }
    }
    for (int skip = 0; skip <= 1; skip++) {
        char *text = NULL;
        size_t len = 0;
        dm_status st = dm_tokenizer_decode(t, ids, n, skip, &text, &len);
        if (holes) {
            FZ_CHECK(st == DM_ERR_RANGE);
            fz_check_failure(st);
        } else {
            FZ_CHECK(st == DM_OK && text != NULL && text[len] == '\0');
        }
        dm_free(text);
    }
}

/* Checks an encoding from a tokenizer.json tokenizer; decoding its ids works
 * unless the template named an unused id (then DM_ERR_RANGE). */
static void check_encoding(const dm_tokenizer *t, const dm_encoding *e, size_t max_len)
{
    fz_check_encoding_generic(t, e, max_len);
    int holes = 0;
    for (size_t i = 0; i < e->length; i++) holes |= e->tokens[i] == NULL;
    for (int skip = 0; skip <= 1; skip++) {
        char *text = NULL;
        size_t len = 0;
        dm_status st = dm_tokenizer_decode(t, e->ids, e->length, skip, &text, &len);
        if (holes) FZ_CHECK(st == DM_OK || st == DM_ERR_RANGE); /* skip=1 may drop the unused one */
        else FZ_CHECK(st == DM_OK);
        if (st == DM_OK) FZ_CHECK(text != NULL && text[len] == '\0');
        dm_free(text);
    }
}

static void exercise(const dm_tokenizer *t)
{
    FZ_CHECK(dm_tokenizer_vocab_size(t) > 0);
    for (int which = 0; which <= 4; which++) {
        int32_t id = dm_tokenizer_special_id(t, (dm_special_token)which);
        FZ_CHECK(id >= -1 && (id < 0 || (size_t)id < dm_tokenizer_vocab_size(t)));
    }
    FZ_CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_UNK) >= 0); /* loading requires it */

    const size_t la = sizeof TEXT - 1, lb = sizeof PAIR - 1;
    dm_encoding *e = NULL;
    /* Valid UTF-8, no truncation or padding: nothing can fail. */
    dm_status st = dm_tokenizer_encode(t, TEXT, la, NULL, 0, NULL, &e);
    FZ_CHECK(st == DM_OK);
    check_encoding(t, e, la);
    dm_encoding_free(e);

    e = NULL;
    st = dm_tokenizer_encode(t, TEXT, la, PAIR, lb, NULL, &e);
    FZ_CHECK(st == DM_OK);
    check_encoding(t, e, la > lb ? la : lb);
    dm_encoding_free(e);

    /* Truncation and padding may fail for this tokenizer (a template with more
     * special tokens than max_length, no [PAD]), but only so. */
    dm_encode_options o;
    dm_encode_options_default(&o);
    o.truncation = DM_TRUNCATE_LONGEST_FIRST;
    o.max_length = 8;
    o.padding = DM_PAD_TO_LENGTH;
    o.pad_length = 12;
    o.invalid_utf8 = DM_UTF8_REPLACE;
    e = NULL;
    st = dm_tokenizer_encode(t, TEXT, la, PAIR, lb, &o, &e);
    if (st == DM_OK) {
        check_encoding(t, e, la > lb ? la : lb);
        dm_encoding_free(e);
    } else {
        FZ_CHECK(st == DM_ERR_RANGE || st == DM_ERR_NOT_FOUND);
        fz_check_failure(st);
    }

    decode_vocab_prefix(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_tokenizer *t = NULL;
    dm_status st = dm_tokenizer_load_json((const char *)data, size, NULL, &t);
    if (st != DM_OK) {
        fz_check_failure(st);
        FZ_CHECK(st == DM_ERR_PARSE || st == DM_ERR_UNSUPPORTED || st == DM_ERR_NOT_FOUND || st == DM_ERR_UTF8 ||
                 st == DM_ERR_RANGE || st == DM_ERR_NO_MEMORY);
        return 0;
    }
    exercise(t);
    dm_tokenizer_free(t);

    /* Load options change only the normaliser: the same file must load. */
    dm_tokenizer_options lo;
    dm_tokenizer_options_default(&lo);
    lo.lowercase = 0;
    lo.strip_accents = 1;
    t = NULL;
    st = dm_tokenizer_load_json((const char *)data, size, &lo, &t);
    FZ_CHECK(st == DM_OK);
    exercise(t);
    dm_tokenizer_free(t);
    return 0;
}
