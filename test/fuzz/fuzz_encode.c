/*
 * fuzz_encode.c — libFuzzer target for the encoder. A small fixed vocabulary
 * is loaded once (four ways: the BERT defaults, and with lowercase /
 * strip_accents forced); the first input bytes choose the tokenizer and the
 * encode options, the rest is the text and an optional pair.
 *
 * Input layout (missing bytes read as 0):
 *   byte 0  bits 0-1 truncation (dm_truncation)
 *           bit  2   1 = add_special_tokens off
 *           bits 3-4 padding: 0 none, 1 to length, 2 to longest, 3 to length
 *           bit  5   invalid_utf8: 0 error, 1 replace
 *           bit  6   also encode a batch of 65 copies (2 chunks: 2 threads run)
 *           bit  7   pass the options struct with an older struct_size
 *   byte 1  max_length (below 200: modulo 40, so truncation happens)
 *   byte 2  bits 0-5 pad_length, bits 6-7 pad_to_multiple_of (0-3)
 *   byte 3  bit  0   has a pair; bits 1-2 tokenizer variant; bits 3-7 where
 *                    the rest is split between text and pair (x/31)
 *   rest    text [pair]
 *
 * Invariants (a trap when violated): the status is exactly the one the
 * options and the input call for (DM_ERR_INVALID_ARGUMENT, DM_ERR_UTF8 for
 * invalid UTF-8 under the strict policy, DM_ERR_RANGE for impossible
 * truncation); on success BERT's layout with consistent masks, type ids and
 * offsets, truncation keeping a prefix of each sequence and the total within
 * max_length, padding to the length Hugging Face `tokenizers` gives; decode
 * succeeds; encode_batch on 2 threads equals the single encode.
 */
#include "fuzz_common.h"

#include <stddef.h>

static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "the\na\nan\nhello\nworld\nplay\n##s\n##ing\n##ed\n##er\nun\n##aff\n##able\n"
    "do\nnot\ndon\n'\n##t\nt\ns\n.\n,\n!\n?\n-\n(\n)\n#\n##\n"
    "cafe\ncaf\xc3\xa9\n##\xc3\xa9\n\xc3\xa9\ne\n##e\nna\n##ive\n##\xc3\xafve\n"
    "stra\xc3\x9f" "e\n\xc3\x9f\n##\xc3\x9f\nu\n\xc3\xbc\n##\xc3\xbc\n"
    "\xe4\xb8\xad\n\xe6\x96\x87\n\xe6\x97\xa5\n\xe6\x9c\xac\n\xe3\x81\xae\n##\xe3\x81\xae\n"
    "\xcf\x83\n\xce\xb1\n##\xce\xb1\n\xe2\x80\x94\n\xf0\x9f\x98\x80\n"
    "a\xcc\x8a\n\xc3\xa5\n##a\n##b\n##c\nb\nc\n1\n##2\n##3\n";

#define N_VARIANTS 4
static dm_tokenizer *tokenizers[N_VARIANTS];

static const dm_tokenizer *tokenizer(int variant)
{
    if (!tokenizers[variant]) {
        static const int lower[N_VARIANTS] = {-1, 0, 1, 0}, strip[N_VARIANTS] = {-1, -1, 0, 1};
        dm_tokenizer_options lo;
        dm_tokenizer_options_default(&lo);
        lo.lowercase = lower[variant];
        lo.strip_accents = strip[variant];
        dm_status st = dm_tokenizer_load_vocab(VOCAB, sizeof VOCAB - 1, &lo, &tokenizers[variant]);
        FZ_CHECK(st == DM_OK);
    }
    return tokenizers[variant];
}

/* Loaded once per process and kept: free them at exit so that leak checking
 * of a replay run stays quiet. */
static void free_tokenizers(void)
{
    for (int i = 0; i < N_VARIANTS; i++) {
        dm_tokenizer_free(tokenizers[i]);
        tokenizers[i] = NULL;
    }
}

static size_t round_up(size_t n, size_t multiple) { return multiple ? (n + multiple - 1) / multiple * multiple : n; }

/* The status an encode with O must give, from the token counts without
 * truncation (NA, NB) and the validity of the input. */
static dm_status expected_status(const dm_encode_options *o, int utf8_ok, int has_pair, size_t na, size_t nb,
                                 size_t n_special)
{
    if (o->truncation != DM_TRUNCATE_NONE && o->max_length == 0) return DM_ERR_INVALID_ARGUMENT;
    if (!utf8_ok && o->invalid_utf8 == DM_UTF8_ERROR) return DM_ERR_UTF8;
    if (o->truncation == DM_TRUNCATE_NONE) return DM_OK;
    if (o->max_length < n_special) return DM_ERR_RANGE;
    size_t room = o->max_length - n_special;
    if (na + nb <= room) return DM_OK;
    size_t remove = na + nb - room;
    switch (o->truncation) {
    case DM_TRUNCATE_ONLY_FIRST: return na > remove ? DM_OK : DM_ERR_RANGE;
    case DM_TRUNCATE_ONLY_SECOND: return has_pair && nb > remove ? DM_OK : DM_ERR_RANGE;
    default: return DM_OK;
    }
}

/* The same prefix of tokens: KEEP tokens of E from AT equal BASE's from
 * BASE_AT (ids, offsets, strings). */
static void check_prefix(const dm_encoding *e, size_t at, const dm_encoding *base, size_t base_at, size_t keep)
{
    for (size_t i = 0; i < keep; i++) {
        FZ_CHECK(e->ids[at + i] == base->ids[base_at + i]);
        FZ_CHECK(e->offsets[2 * (at + i)] == base->offsets[2 * (base_at + i)]);
        FZ_CHECK(e->offsets[2 * (at + i) + 1] == base->offsets[2 * (base_at + i) + 1]);
        FZ_CHECK(e->tokens[at + i] == base->tokens[base_at + i]);
    }
}

/* encode_batch of COPIES times the same text (and pair) on 2 threads: the
 * same status as the single encode, and every encoding equal to it. */
static void check_batch(const dm_tokenizer *t, size_t copies, const char *text, size_t len, const char *pair,
                        size_t pair_len, const dm_encode_options *o, dm_status single_st, const dm_encoding *single)
{
    const char *texts[65], *pairs[65];
    size_t lens[65], pair_lens[65];
    if (copies > 65) copies = 65;
    for (size_t i = 0; i < copies; i++) {
        texts[i] = text;
        lens[i] = len;
        pairs[i] = pair;
        pair_lens[i] = pair_len;
    }
    dm_encode_options bo = *o;
    bo.threads = 2;
    dm_encoding **encs = NULL;
    dm_status st = dm_tokenizer_encode_batch(t, copies, texts, lens, pair ? pairs : NULL, pair ? pair_lens : NULL,
                                             &bo, &encs);
    FZ_CHECK(st == single_st);
    if (st != DM_OK) {
        fz_check_failure(st);
        /* A failing text is named (the first); a bad option is not about a text. */
        if (st != DM_ERR_INVALID_ARGUMENT) FZ_CHECK(strncmp(dm_last_error(), "text 0: ", 8) == 0);
        return;
    }
    FZ_CHECK(encs != NULL);
    for (size_t i = 0; i < copies; i++) FZ_CHECK(fz_encodings_equal(encs[i], single));
    dm_encodings_free(encs, copies);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(free_tokenizers);
    }
    uint8_t hdr[4] = {0, 0, 0, 0};
    size_t skip = size < 4 ? size : 4;
    if (skip) memcpy(hdr, data, skip);
    const char *rest = size ? (const char *)data + skip : "";
    size_t rest_len = size - skip;

    dm_encode_options o;
    dm_encode_options_default(&o);
    o.truncation = (dm_truncation)(hdr[0] & 3);
    o.add_special_tokens = !(hdr[0] & 4);
    static const dm_padding paddings[4] = {DM_PAD_NONE, DM_PAD_TO_LENGTH, DM_PAD_TO_LONGEST, DM_PAD_TO_LENGTH};
    o.padding = paddings[(hdr[0] >> 3) & 3];
    o.invalid_utf8 = (hdr[0] & 32) ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
    const int big_batch = (hdr[0] & 64) != 0;
    o.max_length = hdr[1] < 200 ? hdr[1] % 40 : hdr[1];
    o.pad_length = hdr[2] & 63;
    o.pad_to_multiple_of = hdr[2] >> 6;
    const int has_pair = hdr[3] & 1;
    const dm_tokenizer *t = tokenizer((hdr[3] >> 1) & 3);
    size_t split = has_pair ? rest_len * (size_t)(hdr[3] >> 3) / 31 : rest_len;
    const char *text = rest, *pair = has_pair ? rest + split : NULL;
    size_t len = split, pair_len = has_pair ? rest_len - split : 0;
    /* An older caller's struct: the fields up to and including invalid_utf8;
     * the rest (threads, progress) keep their defaults. */
    if (hdr[0] & 128) o.struct_size = offsetof(dm_encode_options, invalid_utf8) + sizeof o.invalid_utf8;

    const int utf8_ok = fz_utf8_valid((const uint8_t *)text, len) &&
                        (!has_pair || fz_utf8_valid((const uint8_t *)pair, pair_len));
    const size_t n_special = o.add_special_tokens ? (has_pair ? 3 : 2) : 0;

    /* The baseline: the same text without truncation or padding. */
    dm_encode_options bo = o;
    bo.truncation = DM_TRUNCATE_NONE;
    bo.padding = DM_PAD_NONE;
    dm_encoding *base = NULL;
    dm_status st = dm_tokenizer_encode(t, text, len, pair, pair_len, &bo, &base);
    if (!utf8_ok && o.invalid_utf8 == DM_UTF8_ERROR) {
        FZ_CHECK(st == DM_ERR_UTF8);
        fz_check_failure(st);
        FZ_CHECK(base == NULL);
    } else {
        FZ_CHECK(st == DM_OK);
    }
    fz_layout bl = {0, 0, 0};
    if (base) {
        bl = fz_check_bert_layout(t, base, len, pair_len, has_pair, o.add_special_tokens);
        FZ_CHECK(bl.unpadded == base->length && bl.na + bl.nb + n_special == base->length);
        fz_check_decode(t, base);
    }

    dm_encoding *e = NULL;
    dm_status want = expected_status(&o, utf8_ok, has_pair, bl.na, bl.nb, n_special);
    st = dm_tokenizer_encode(t, text, len, pair, pair_len, &o, &e);
    FZ_CHECK(st == want);
    if (st != DM_OK) {
        fz_check_failure(st);
        FZ_CHECK(e == NULL);
    } else {
        fz_layout l = fz_check_bert_layout(t, e, len, pair_len, has_pair, o.add_special_tokens);
        /* Truncation keeps a prefix of each sequence, and only what it must. */
        size_t full = bl.na + bl.nb + n_special;
        size_t unpadded = o.truncation != DM_TRUNCATE_NONE && full > o.max_length ? o.max_length : full;
        FZ_CHECK(l.unpadded == unpadded);
        FZ_CHECK(l.na <= bl.na && l.nb <= bl.nb);
        if (o.truncation == DM_TRUNCATE_ONLY_FIRST) FZ_CHECK(l.nb == bl.nb);
        if (o.truncation == DM_TRUNCATE_ONLY_SECOND) FZ_CHECK(l.na == bl.na);
        size_t sp = o.add_special_tokens ? 1 : 0;
        check_prefix(e, sp, base, sp, l.na);
        check_prefix(e, sp + l.na + sp, base, sp + bl.na + sp, l.nb);
        /* Padding as Hugging Face's pad_encodings: to the fixed length rounded
         * up to the multiple (never shortening), or to the longest - here the
         * encoding itself - rounded up. */
        size_t padded = unpadded;
        if (o.padding == DM_PAD_TO_LENGTH) {
            size_t target = round_up(o.pad_length, o.pad_to_multiple_of);
            if (target > padded) padded = target;
        } else if (o.padding == DM_PAD_TO_LONGEST) {
            padded = round_up(unpadded, o.pad_to_multiple_of);
        }
        FZ_CHECK(e->length == padded);
        fz_check_decode(t, e);
    }

    check_batch(t, 2, text, len, pair, pair_len, &o, st, e);
    /* The library encodes batches in chunks of 64 texts, one chunk per thread:
     * 65 copies make both threads work. Kept to short texts for speed. */
    if (big_batch && rest_len <= 64) check_batch(t, 65, text, len, pair, pair_len, &o, st, e);

    dm_encoding_free(e);
    dm_encoding_free(base);
    return 0;
}
