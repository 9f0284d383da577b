/*
 * fuzz_vocab.c — libFuzzer target: the input is a vocab.txt given to
 * dm_tokenizer_load_vocab. Loading must fail cleanly or give a BERT
 * tokenizer with one id per line; that tokenizer then encodes a fixed text
 * and the input itself (valid UTF-8 once loaded) and decodes the ids.
 */
#include "fuzz_common.h"

static const char TEXT[] = "Hello, World! Unaffable caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 [CLS] [MASK] "
                           "don't ##s \xef\xbc\x81 A\xcc\x8a\tx\x01y";
static const char PAIR[] = "The second sentence\xe3\x80\x82 \xf0\x9f\x98\x80 [SEP]   end.";

/* Encodes TEXT (and PAIR when not NULL) with OPTS: must succeed, with BERT's
 * layout; returns the encoding. */
static dm_encoding *encode_ok(const dm_tokenizer *t, const char *text, size_t len, const char *pair, size_t pair_len,
                              const dm_encode_options *opts)
{
    dm_encoding *e = NULL;
    dm_status st = dm_tokenizer_encode(t, text, len, pair, pair_len, opts, &e);
    FZ_CHECK(st == DM_OK);
    fz_check_bert_layout(t, e, len, pair_len, pair != NULL, 1);
    fz_check_decode(t, e);
    return e;
}

static void exercise(const dm_tokenizer *t, const char *data, size_t size)
{
    /* One id per line; each token is its line without trailing whitespace. */
    size_t lines = 0, pos = 0;
    while (pos < size) {
        const char *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size;
        const char *tok = dm_tokenizer_id_to_token(t, (int32_t)lines);
        FZ_CHECK(tok != NULL);
        size_t tl = strlen(tok);
        FZ_CHECK(tl <= end - pos && memcmp(tok, data + pos, tl) == 0);
        lines++;
        pos = nl ? end + 1 : size;
    }
    FZ_CHECK(dm_tokenizer_vocab_size(t) == lines);
    FZ_CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_UNK) >= 0);
    FZ_CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_CLS) >= 0);
    FZ_CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_SEP) >= 0);

    dm_encoding_free(encode_ok(t, TEXT, sizeof TEXT - 1, NULL, 0, NULL));
    dm_encoding_free(encode_ok(t, TEXT, sizeof TEXT - 1, PAIR, sizeof PAIR - 1, NULL));

    /* The input as the text, its last line as the pair. A loaded vocab is
     * valid UTF-8, so the strict and the replacing policy agree. */
    const char *last = data;
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == '\n') last = data + i + 1;
    size_t last_len = size - (size_t)(last - data);
    dm_encoding *strict = encode_ok(t, data, size, last, last_len, NULL);
    dm_encode_options o;
    dm_encode_options_default(&o);
    o.invalid_utf8 = DM_UTF8_REPLACE;
    dm_encoding *replaced = encode_ok(t, data, size, last, last_len, &o);
    FZ_CHECK(fz_encodings_equal(strict, replaced));
    dm_encoding_free(strict);
    dm_encoding_free(replaced);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    dm_tokenizer *t = NULL;
    dm_status st = dm_tokenizer_load_vocab(text, size, NULL, &t);
    if (st != DM_OK) {
        fz_check_failure(st);
        FZ_CHECK(st == DM_ERR_PARSE || st == DM_ERR_UTF8 || st == DM_ERR_NOT_FOUND || st == DM_ERR_RANGE ||
                 st == DM_ERR_NO_MEMORY);
        /* Invalid UTF-8 anywhere is what DM_ERR_UTF8 means, and only that. */
        FZ_CHECK((st == DM_ERR_UTF8) == !fz_utf8_valid(data, size));
        return 0;
    }
    FZ_CHECK(fz_utf8_valid(data, size));
    exercise(t, text, size);
    dm_tokenizer_free(t);

    /* Load options change only the normaliser: the same vocab must load. */
    dm_tokenizer_options lo;
    dm_tokenizer_options_default(&lo);
    lo.lowercase = 0;
    t = NULL;
    st = dm_tokenizer_load_vocab(text, size, &lo, &t);
    FZ_CHECK(st == DM_OK);
    exercise(t, text, size);
    dm_tokenizer_free(t);
    return 0;
}
