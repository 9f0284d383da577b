/* test_tokenizer.c — the tokenizer's public API on a tiny hand-made vocab:
 * exact ids and offsets derived by hand from the BERT rules, truncation,
 * padding, batches, decode, save/load, and every bad-input path. Parity with
 * HF `tokenizers` on real data is test/parity/parity.py's job. */
#include "datamodel.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n.\n,\nun\n##aff\n##able\n"
                           "cafe\n\xe4\xb8\xad\n!\na\n##b\n";

static dm_tokenizer *tiny(void)
{
    dm_tokenizer *t = NULL;
    dm_status st = dm_tokenizer_load_vocab(VOCAB, strlen(VOCAB), NULL, &t);
    if (st) fprintf(stderr, "tiny vocab failed: %s\n", dm_last_error());
    return t;
}

static int ids_equal(const dm_encoding *e, const int32_t *want, size_t n)
{
    if (e->length != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (e->ids[i] != want[i]) return 0;
    return 1;
}

static dm_encoding *enc(dm_tokenizer *t, const char *text, const char *pair, const dm_encode_options *o)
{
    dm_encoding *e = NULL;
    dm_status st = dm_tokenizer_encode(t, text, strlen(text), pair, pair ? strlen(pair) : 0, o, &e);
    if (st) fprintf(stderr, "encode(%s) failed: %s\n", text, dm_last_error());
    return e;
}

static void test_basic(dm_tokenizer *t)
{
    CHECK(dm_tokenizer_vocab_size(t) == 18);
    CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_CLS) == 2);
    CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_PAD) == 0);
    CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_MASK) == 4);
    CHECK(strcmp(dm_tokenizer_id_to_token(t, 7), "##s") == 0);
    CHECK(dm_tokenizer_id_to_token(t, 18) == NULL);
    int32_t id = -1;
    CHECK(dm_tokenizer_token_to_id(t, "world", 5, &id) == DM_OK && id == 6);
    CHECK_FAILS(dm_tokenizer_token_to_id(t, "nope", 4, &id), DM_ERR_NOT_FOUND, "nope");

    dm_encoding *e = enc(t, "Hello worlds.", NULL, NULL);
    int32_t want[] = {2, 5, 6, 7, 8, 3};
    CHECK(e && ids_equal(e, want, 6));
    if (e) {
        uint32_t offs[] = {0, 0, 0, 5, 6, 11, 11, 12, 12, 13, 0, 0};
        CHECK(memcmp(e->offsets, offs, sizeof offs) == 0);
        CHECK(e->special_tokens_mask[0] == 1 && e->special_tokens_mask[1] == 0 && e->special_tokens_mask[5] == 1);
        CHECK(e->attention_mask[3] == 1 && e->type_ids[3] == 0);
        CHECK(strcmp(e->tokens[3], "##s") == 0);
    }
    dm_encoding_free(e);

    e = enc(t, "unaffable", NULL, NULL);
    int32_t want2[] = {2, 10, 11, 12, 3};
    CHECK(e && ids_equal(e, want2, 5));
    dm_encoding_free(e);

    /* Accent stripping keeps the offsets of the original two-byte é. */
    e = enc(t, "Caf\xc3\xa9!", NULL, NULL);
    int32_t want3[] = {2, 13, 15, 3};
    CHECK(e && ids_equal(e, want3, 4));
    if (e) CHECK(e->offsets[2] == 0 && e->offsets[3] == 5 && e->offsets[4] == 5 && e->offsets[5] == 6);
    dm_encoding_free(e);

    /* Chinese characters are words of their own; an unknown one is [UNK]. */
    e = enc(t, "\xe4\xb8\xad\xe6\x96\x87", NULL, NULL);
    int32_t want4[] = {2, 14, 1, 3};
    CHECK(e && ids_equal(e, want4, 4));
    if (e) CHECK(e->offsets[4] == 3 && e->offsets[5] == 6);
    dm_encoding_free(e);

    /* Special-token strings in the text are matched on the raw text. */
    e = enc(t, "hello[SEP]world", NULL, NULL);
    int32_t want5[] = {2, 5, 3, 6, 3};
    CHECK(e && ids_equal(e, want5, 5));
    if (e) CHECK(e->offsets[4] == 5 && e->offsets[5] == 10 && e->special_tokens_mask[2] == 0);
    dm_encoding_free(e);

    e = enc(t, "", NULL, NULL);
    int32_t want6[] = {2, 3};
    CHECK(e && ids_equal(e, want6, 2));
    dm_encoding_free(e);
}

static void test_words_limit(dm_tokenizer *t)
{
    char word[102];
    word[0] = 'a';
    memset(word + 1, 'b', 100);
    word[100] = '\0'; /* 100 characters: a ##b x 99 */
    dm_encoding *e = enc(t, word, NULL, NULL);
    CHECK(e && e->length == 102 && e->ids[1] == 16 && e->ids[100] == 17);
    dm_encoding_free(e);
    word[100] = 'b';
    word[101] = '\0'; /* 101 characters: one [UNK] covering the word */
    e = enc(t, word, NULL, NULL);
    CHECK(e && e->length == 3 && e->ids[1] == 1 && e->offsets[3] == 101);
    dm_encoding_free(e);
}

static void test_pairs_truncation_padding(dm_tokenizer *t)
{
    dm_encoding *e = enc(t, "hello", "world", NULL);
    int32_t want[] = {2, 5, 3, 6, 3};
    CHECK(e && ids_equal(e, want, 5));
    if (e) CHECK(e->type_ids[2] == 0 && e->type_ids[3] == 1 && e->type_ids[4] == 1);
    dm_encoding_free(e);

    dm_encode_options o;
    dm_encode_options_default(&o);
    o.truncation = DM_TRUNCATE_LONGEST_FIRST;
    o.max_length = 5;
    e = enc(t, "hello world", "hello world", &o);
    int32_t want2[] = {2, 5, 3, 5, 3};
    CHECK(e && ids_equal(e, want2, 5));
    dm_encoding_free(e);

    o.max_length = 7; /* 4 for the texts: the longer second loses first */
    e = enc(t, "hello", "hello world worlds", &o);
    int32_t want3[] = {2, 5, 3, 5, 6, 6, 3};
    CHECK(e && ids_equal(e, want3, 7));
    dm_encoding_free(e);

    o.truncation = DM_TRUNCATE_ONLY_SECOND;
    o.max_length = 4;
    CHECK_FAILS(dm_tokenizer_encode(t, "hello world", 11, "world", 5, &o, &e), DM_ERR_RANGE, "only_second");
    CHECK_FAILS(dm_tokenizer_encode(t, "hello world worlds", 18, NULL, 0, &o, &e), DM_ERR_RANGE, "pair");
    o.truncation = DM_TRUNCATE_ONLY_FIRST;
    o.max_length = 2;
    CHECK_FAILS(dm_tokenizer_encode(t, "hello", 5, NULL, 0, &o, &e), DM_ERR_RANGE, "only_first");
    o.max_length = 1;
    CHECK_FAILS(dm_tokenizer_encode(t, "hello", 5, NULL, 0, &o, &e), DM_ERR_RANGE, "special tokens");

    dm_encode_options_default(&o);
    o.padding = DM_PAD_TO_LENGTH;
    o.pad_length = 6;
    e = enc(t, "hello", NULL, &o);
    int32_t want4[] = {2, 5, 3, 0, 0, 0};
    CHECK(e && ids_equal(e, want4, 6));
    if (e) CHECK(e->attention_mask[3] == 0 && e->special_tokens_mask[3] == 1 && strcmp(e->tokens[4], "[PAD]") == 0);
    dm_encoding_free(e);

    o.add_special_tokens = 0;
    o.padding = DM_PAD_NONE;
    e = enc(t, "hello", "world", &o);
    int32_t want5[] = {5, 6};
    CHECK(e && ids_equal(e, want5, 2));
    if (e) CHECK(e->type_ids[1] == 1);
    dm_encoding_free(e);
}

static void test_utf8(dm_tokenizer *t)
{
    dm_encoding *e = NULL;
    CHECK_FAILS(dm_tokenizer_encode(t, "hello\xff world", 12, NULL, 0, NULL, &e), DM_ERR_UTF8, "byte offset 5");
    CHECK_FAILS(dm_tokenizer_encode(t, "ok", 2, "a\xc3", 2, NULL, &e), DM_ERR_UTF8, "pair text");
    /* Surrogates and overlong forms are invalid too. */
    CHECK_FAILS(dm_tokenizer_encode(t, "\xed\xa0\x80", 3, NULL, 0, NULL, &e), DM_ERR_UTF8, "byte offset 0");
    CHECK_FAILS(dm_tokenizer_encode(t, "a\xc0\xaf", 3, NULL, 0, NULL, &e), DM_ERR_UTF8, "byte offset 1");
    dm_encode_options o;
    dm_encode_options_default(&o);
    o.invalid_utf8 = DM_UTF8_REPLACE; /* U+FFFD, which clean_text removes */
    CHECK(dm_tokenizer_encode(t, "hello\xff world", 12, NULL, 0, &o, &e) == DM_OK);
    int32_t want[] = {2, 5, 6, 3};
    CHECK(e && ids_equal(e, want, 4));
    dm_encoding_free(e);
}

static void test_big_line(dm_tokenizer *t)
{
    const char *env = getenv("DM_BIG_LINE_MB");
    size_t mb = env ? (size_t)atol(env) : 100;
    size_t len = mb << 20;
    char *text = malloc(len);
    if (!text) return;
    for (size_t i = 0; i < len; i++) text[i] = "hello "[i % 6];
    dm_encoding *e = NULL;
    dm_status st = dm_tokenizer_encode(t, text, len, NULL, 0, NULL, &e);
    CHECK(st == DM_OK);
    size_t words = (len + 5) / 6; /* a trailing "hel..." fragment is [UNK] */
    CHECK(e && e->length == words + 2);
    dm_encoding_free(e);
    free(text);
}

static void test_batch(dm_tokenizer *t)
{
    enum { N = 3000 };
    static const char *pool[] = {"hello world", "unaffable worlds.", "Caf\xc3\xa9 \xe4\xb8\xad", "", "a bbb , hello"};
    const char *texts[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        texts[i] = pool[i % 5];
        lens[i] = strlen(texts[i]);
    }
    dm_encode_options o;
    dm_encode_options_default(&o);
    o.padding = DM_PAD_TO_LONGEST;
    dm_encoding **one = NULL, **four = NULL;
    o.threads = 1;
    CHECK(dm_tokenizer_encode_batch(t, N, texts, lens, NULL, NULL, &o, &one) == DM_OK);
    o.threads = 4;
    CHECK(dm_tokenizer_encode_batch(t, N, texts, lens, NULL, NULL, &o, &four) == DM_OK);
    int same = one && four;
    for (int i = 0; same && i < N; i++)
        same = one[i]->length == four[i]->length &&
               memcmp(one[i]->ids, four[i]->ids, one[i]->length * 4) == 0 &&
               memcmp(one[i]->offsets, four[i]->offsets, one[i]->length * 8) == 0;
    CHECK(same);
    CHECK(one && one[3]->length == one[1]->length); /* padded to the longest */
    dm_encodings_free(one, N);
    dm_encodings_free(four, N);

    texts[2000] = "bad \xfe";
    lens[2000] = 5;
    texts[700] = "bad \xff";
    lens[700] = 5;
    dm_encoding **out = NULL;
    CHECK_FAILS(dm_tokenizer_encode_batch(t, N, texts, lens, NULL, NULL, &o, &out), DM_ERR_UTF8, "text 700:");
    CHECK(out == NULL);
}

static int cancel_at_once(uint64_t done, uint64_t total, void *user)
{
    (void)done, (void)total;
    ++*(int *)user;
    return 1;
}

static void test_cancel(dm_tokenizer *t)
{
    enum { N = 1000 };
    const char *texts[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) texts[i] = "hello", lens[i] = 5;
    dm_encode_options o;
    dm_encode_options_default(&o);
    int calls = 0;
    o.threads = 1;
    o.progress = cancel_at_once;
    o.progress_user = &calls;
    dm_encoding **out = NULL;
    CHECK_FAILS(dm_tokenizer_encode_batch(t, N, texts, lens, NULL, NULL, &o, &out), DM_ERR_CANCELLED, "cancelled");
    CHECK(calls == 1);
}

/* ------------------------------------------------------------ flat batches */

/* Whether row I of F is the per-text encoding E, token strings included. */
static int row_equals(const dm_tokenizer *t, const dm_encodings_flat *f, size_t i, const dm_encoding *e)
{
    size_t at = f->row_offsets[i], n = f->row_offsets[i + 1] - at;
    if (n != e->length) return 0;
    for (size_t k = 0; k < n; k++)
        if (strcmp(dm_tokenizer_id_to_token(t, f->ids[at + k]), e->tokens[k]) != 0) return 0;
    return memcmp(f->ids + at, e->ids, n * 4) == 0 && memcmp(f->type_ids + at, e->type_ids, n * 4) == 0 &&
           memcmp(f->offsets + 2 * at, e->offsets, n * 8) == 0 &&
           memcmp(f->attention_mask + at, e->attention_mask, n) == 0 &&
           memcmp(f->special_tokens_mask + at, e->special_tokens_mask, n) == 0;
}

/* Encodes N texts (and pairs) with dm_tokenizer_encode_batch and with
 * dm_tokenizer_encode_batch_flat on 1 and 3 threads: both succeed with every
 * row equal, or both fail with the same message. */
static void check_flat_equals(const dm_tokenizer *t, size_t n, const char *const *texts, const size_t *lens,
                              const char *const *pairs, const size_t *plens, dm_encode_options o, const char *what)
{
    dm_encoding **encs = NULL;
    o.threads = 2;
    dm_status want = dm_tokenizer_encode_batch(t, n, texts, lens, pairs, plens, &o, &encs);
    char want_msg[512];
    snprintf(want_msg, sizeof want_msg, "%s", dm_last_error());
    for (int threads = 1; threads <= 3; threads += 2) {
        o.threads = threads;
        dm_encodings_flat *f = NULL;
        dm_status st = dm_tokenizer_encode_batch_flat(t, n, texts, lens, pairs, plens, &o, &f);
        if (st || want) {
            if (st != want || strcmp(dm_last_error(), want_msg) != 0)
                fprintf(stderr, "%s, %d threads: flat %s \"%s\", per text %s \"%s\"\n", what, threads,
                        dm_status_name(st), dm_last_error(), dm_status_name(want), want_msg);
            CHECK(st == want && strcmp(dm_last_error(), want_msg) == 0);
            CHECK(f == NULL);
            continue;
        }
        size_t bad = SIZE_MAX, longest = 0;
        for (size_t i = 0; i < n && bad == SIZE_MAX; i++) {
            if (!row_equals(t, f, i, encs[i])) bad = i;
            if (encs[i]->length > longest) longest = encs[i]->length;
        }
        if (bad != SIZE_MAX) fprintf(stderr, "%s, %d threads: row %zu differs\n", what, threads, bad);
        CHECK(bad == SIZE_MAX);
        CHECK(f->struct_size == sizeof *f && f->n == n && f->row_offsets[0] == 0 && f->row_offsets[n] == f->n_tokens);
        CHECK(f->longest == longest);
        dm_encodings_flat_free(f);
    }
    if (!want) dm_encodings_free(encs, n);
}

static int count_calls(uint64_t done, uint64_t total, void *user)
{
    uint64_t *last = user;
    last[0]++;
    last[1] = done;
    last[2] = total;
    return 0;
}

static void test_flat_batch(dm_tokenizer *t)
{
    enum { N = 3000 };
    static const char *pool[] = {"hello world", "unaffable worlds.", "Caf\xc3\xa9 \xe4\xb8\xad", "", "a bbb , hello"};
    const char *texts[N], *pairs[N];
    size_t lens[N], plens[N];
    for (int i = 0; i < N; i++) {
        texts[i] = pool[i % 5];
        lens[i] = strlen(texts[i]);
        pairs[i] = pool[(i + 2) % 5];
        plens[i] = strlen(pairs[i]);
    }
    dm_encode_options o;
    dm_encode_options_default(&o);
    check_flat_equals(t, N, texts, lens, NULL, NULL, o, "tiny");
    o.padding = DM_PAD_TO_LONGEST;
    o.pad_to_multiple_of = 4;
    check_flat_equals(t, N, texts, lens, pairs, plens, o, "tiny, pairs, longest");

    /* Padded rows form an n x longest matrix. */
    dm_encodings_flat *f = NULL;
    CHECK(dm_tokenizer_encode_batch_flat(t, N, texts, lens, NULL, NULL, &o, &f) == DM_OK);
    CHECK(f && f->longest == 8 && f->n_tokens == (size_t)N * 8 && f->row_offsets[3] == 24);
    if (f) CHECK(f->ids[3 * 8 + 1] == 3 && f->attention_mask[3 * 8 + 2] == 0 && f->special_tokens_mask[3 * 8 + 2] == 1);
    dm_encodings_flat_free(f);

    /* No texts: an empty result with arrays that are not NULL. */
    f = NULL;
    CHECK(dm_tokenizer_encode_batch_flat(t, 0, NULL, NULL, NULL, NULL, NULL, &f) == DM_OK);
    CHECK(f && f->n == 0 && f->n_tokens == 0 && f->longest == 0 && f->row_offsets[0] == 0 && f->ids &&
          f->offsets && f->special_tokens_mask);
    dm_encodings_flat_free(f);
    dm_encodings_flat_free(NULL);

    /* Progress: called with n/n at the end; returning 0 goes on. */
    uint64_t calls[3] = {0, 0, 0};
    o.threads = 3;
    o.progress = count_calls;
    o.progress_user = calls;
    f = NULL;
    CHECK(dm_tokenizer_encode_batch_flat(t, N, texts, lens, NULL, NULL, &o, &f) == DM_OK);
    CHECK(f && calls[0] >= 1 && calls[1] == N && calls[2] == N);
    dm_encodings_flat_free(f);
    int cancels = 0;
    o.threads = 1;
    o.progress = cancel_at_once;
    o.progress_user = &cancels;
    f = NULL;
    CHECK_FAILS(dm_tokenizer_encode_batch_flat(t, N, texts, lens, NULL, NULL, &o, &f), DM_ERR_CANCELLED, "cancelled");
    CHECK(cancels == 1 && f == NULL);
    o.progress = NULL;

    texts[2000] = "bad \xfe";
    lens[2000] = 5;
    texts[700] = "bad \xff";
    lens[700] = 5;
    CHECK_FAILS(dm_tokenizer_encode_batch_flat(t, N, texts, lens, NULL, NULL, &o, &f), DM_ERR_UTF8, "text 700:");
    CHECK(f == NULL);
    CHECK_FAILS(dm_tokenizer_encode_batch_flat(NULL, N, texts, lens, NULL, NULL, &o, &f), DM_ERR_INVALID_ARGUMENT,
                "NULL");
    CHECK_FAILS(dm_tokenizer_encode_batch_flat(t, 1, NULL, NULL, NULL, NULL, &o, &f), DM_ERR_INVALID_ARGUMENT, "NULL");
    o.threads = -1;
    CHECK_FAILS(dm_tokenizer_encode_batch_flat(t, N, texts, lens, NULL, NULL, &o, &f), DM_ERR_INVALID_ARGUMENT,
                "threads");

    /* Padding without a [PAD] token fails only when a row needs padding. */
    static const char *no_pad_vocab = "[UNK]\n[CLS]\n[SEP]\nhello\nworld\n";
    dm_tokenizer *np = NULL;
    CHECK(dm_tokenizer_load_vocab(no_pad_vocab, strlen(no_pad_vocab), NULL, &np) == DM_OK);
    const char *two[] = {"hello", "hello world"};
    size_t two_lens[] = {5, 11};
    dm_encode_options_default(&o);
    o.padding = DM_PAD_TO_LONGEST;
    CHECK(dm_tokenizer_encode_batch_flat(np, 1, two, two_lens, NULL, NULL, &o, &f) == DM_OK);
    dm_encodings_flat_free(f);
    f = NULL;
    CHECK_FAILS(dm_tokenizer_encode_batch_flat(np, 2, two, two_lens, NULL, NULL, &o, &f), DM_ERR_NOT_FOUND, "[PAD]");
    CHECK(f == NULL);
    dm_tokenizer_free(np);
}

/* The source tree's root: SRCROOT, else three folders up from this file's
 * path as the compiler saw it (relative to the build folder, where meson
 * runs tests). */
static void source_root(char *out, size_t cap)
{
    const char *env = getenv("SRCROOT");
    if (env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    snprintf(out, cap, "%s", __FILE__);
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(out, '/');
        if (slash) *slash = '\0';
        else snprintf(out, cap, ".");
    }
}

/* Texts read for the real-data checks, owned in one growing list. */
typedef struct text_list {
    char **texts;
    size_t *lens;
    size_t n, cap;
} text_list;

static void text_add(text_list *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->texts = realloc(l->texts, l->cap * sizeof *l->texts);
        l->lens = realloc(l->lens, l->cap * sizeof *l->lens);
    }
    char *copy = malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->texts[l->n] = copy;
    l->lens[l->n++] = len;
}

static void text_list_free(text_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->texts[i]);
    free(l->texts);
    free(l->lens);
}

/* Writes code point CP as UTF-8 at P; returns the bytes written. */
static size_t put_utf8(char *p, uint32_t cp)
{
    if (cp < 0x80) return (size_t)(p[0] = (char)cp, 1);
    if (cp < 0x800) return p[0] = (char)(0xC0 | cp >> 6), p[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return p[0] = (char)(0xE0 | cp >> 12), p[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               p[2] = (char)(0x80 | (cp & 0x3F)), 3;
    return p[0] = (char)(0xF0 | cp >> 18), p[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
           p[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), p[3] = (char)(0x80 | (cp & 0x3F)), 4;
}

/* Decodes the JSON string literal that LINE holds (test/parity/stress.jsonl:
 * one per line, no surrogates alone) into OUT; returns its length. */
static size_t json_string(const char *line, char *out)
{
    size_t n = 0;
    for (const char *p = line + 1; *p && *p != '"'; p++) {
        if (*p != '\\') {
            out[n++] = *p;
            continue;
        }
        char c = *++p;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (simple && c != 'u') {
            out[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        uint32_t cp = (uint32_t)strtoul((char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
            uint32_t lo = (uint32_t)strtoul((char[5]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        }
        n += put_utf8(out + n, cp);
    }
    return n;
}

static void read_stress(const char *root, text_list *l)
{
    char path[1200], line[1 << 16], text[1 << 16];
    snprintf(path, sizeof path, "%s/test/parity/stress.jsonl", root);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("note: %s not found: the stress set is skipped\n", path);
        return;
    }
    while (fgets(line, sizeof line, f))
        if (line[0] == '"') text_add(l, text, json_string(line, text));
    fclose(f);
}

static void read_dataset(const char *root, const char *rel, text_list *l)
{
    char path[1200];
    const char *data = getenv("DATA");
    if (data) snprintf(path, sizeof path, "%s/%s", data, rel);
    else snprintf(path, sizeof path, "%s/../shared/data/%s", root, rel);
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.label_column = "";
    dm_dataset *ds = NULL;
    if (dm_dataset_load(path, &o, &ds) != DM_OK) {
        printf("note: %s not loaded (%s): skipped\n", path, dm_last_error());
        return;
    }
    for (size_t i = 0; i < dm_dataset_size(ds); i++) {
        size_t len = 0;
        const char *s = dm_dataset_text(ds, i, &len);
        text_add(l, s ? s : "", len);
    }
    dm_dataset_free(ds);
}

/* A WordPiece vocabulary learned from the first texts of L, so that the
 * real-data checks meet whole words, "##" pieces and [UNK]s alike. */
static dm_tokenizer *trained_on(const text_list *l)
{
    char path[] = "/tmp/dm_flat_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "wb");
    for (size_t i = 0; i < l->n; i += 7) fprintf(f, "%s\n", l->texts[i]);
    fclose(f);
    dm_tokenizer_train_options o;
    dm_tokenizer_train_options_default(&o);
    o.vocab_size = 4000;
    const char *files[] = {path};
    dm_tokenizer *t = NULL;
    if (dm_tokenizer_train(files, 1, &o, &t) != DM_OK) fprintf(stderr, "train: %s\n", dm_last_error());
    unlink(path);
    return t;
}

/* The flat API against the per-text one on the stress set and the shared
 * data sets (SST-2 train, the shopping and hotel reviews): plain, and pairs
 * with truncation and padding. */
static void test_flat_real_data(void)
{
    char root[1024];
    source_root(root, sizeof root);
    text_list l = {0};
    read_stress(root, &l);
    size_t n_stress = l.n;
    read_dataset(root, "sst2/train.tsv", &l);
    read_dataset(root, "online_shopping_10_cats/online_shopping_10_cats.csv", &l);
    read_dataset(root, "chnsenticorp_htl/ChnSentiCorp_htl_all.csv", &l);
    printf("flat batches: %zu stress texts, %zu data texts\n", n_stress, l.n - n_stress);
    dm_tokenizer *t = l.n ? trained_on(&l) : NULL;
    CHECK(l.n == 0 || t != NULL);
    if (t) {
        const char *const *texts = (const char *const *)l.texts;
        dm_encode_options o;
        dm_encode_options_default(&o);
        o.invalid_utf8 = DM_UTF8_REPLACE;
        check_flat_equals(t, l.n, texts, l.lens, NULL, NULL, o, "real data");
        o.truncation = DM_TRUNCATE_LONGEST_FIRST;
        o.max_length = 24;
        o.padding = DM_PAD_TO_LENGTH;
        o.pad_length = 20;
        o.pad_to_multiple_of = 8;
        size_t n = l.n - 1 < 20000 ? l.n - 1 : 20000;
        check_flat_equals(t, n, texts, l.lens, texts + 1, l.lens + 1, o, "real data, pairs");
        o.truncation = DM_TRUNCATE_NONE;
        o.padding = DM_PAD_TO_LONGEST;
        o.add_special_tokens = 0;
        check_flat_equals(t, n, texts, l.lens, NULL, NULL, o, "real data, longest");
        o.truncation = DM_TRUNCATE_ONLY_SECOND; /* fails on a pair too short to cut: the same message */
        o.max_length = 8;
        check_flat_equals(t, n, texts, l.lens, texts + 1, l.lens + 1, o, "real data, only_second");
    }
    dm_tokenizer_free(t);
    text_list_free(&l);
}

static void test_decode(dm_tokenizer *t)
{
    int32_t ids[] = {2, 5, 6, 7, 8, 3};
    char *s = NULL;
    size_t n = 0;
    CHECK(dm_tokenizer_decode(t, ids, 6, 1, &s, &n) == DM_OK && s && strcmp(s, "hello worlds.") == 0 && n == 13);
    dm_free(s);
    CHECK(dm_tokenizer_decode(t, ids, 6, 0, &s, &n) == DM_OK && strcmp(s, "[CLS] hello worlds. [SEP]") == 0);
    dm_free(s);
    int32_t bad[] = {5, 99};
    CHECK_FAILS(dm_tokenizer_decode(t, bad, 2, 1, &s, &n), DM_ERR_RANGE, "position 1");
}

static void test_bad_vocab(void)
{
    dm_tokenizer *t = NULL;
    const char *no_unk = "[PAD]\n[CLS]\n[SEP]\nhello\n";
    CHECK_FAILS(dm_tokenizer_load_vocab(no_unk, strlen(no_unk), NULL, &t), DM_ERR_NOT_FOUND, "[UNK]");
    const char *no_cls = "[PAD]\n[UNK]\n[SEP]\nhello\n";
    CHECK_FAILS(dm_tokenizer_load_vocab(no_cls, strlen(no_cls), NULL, &t), DM_ERR_NOT_FOUND, "[CLS]");
    const char *dup = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n[SEP]\n";
    CHECK_FAILS(dm_tokenizer_load_vocab(dup, strlen(dup), NULL, &t), DM_ERR_PARSE, "lines 4 and 6");
    CHECK_FAILS(dm_tokenizer_load_vocab("", 0, NULL, &t), DM_ERR_PARSE, "empty");
    const char *bad_utf8 = "[UNK]\n[CLS]\nab\xff\n";
    CHECK_FAILS(dm_tokenizer_load_vocab(bad_utf8, strlen(bad_utf8), NULL, &t), DM_ERR_UTF8, "line 3");
    CHECK(t == NULL);
    dm_tokenizer_options o;
    dm_tokenizer_options_default(&o);
    o.lowercase = 7;
    CHECK_FAILS(dm_tokenizer_load_vocab(VOCAB, strlen(VOCAB), &o, &t), DM_ERR_INVALID_ARGUMENT, "lowercase");
    o.struct_size = 0;
    CHECK_FAILS(dm_tokenizer_load_vocab(VOCAB, strlen(VOCAB), &o, &t), DM_ERR_INVALID_ARGUMENT, "struct_size");
}

static void test_bad_json(void)
{
    dm_tokenizer *t = NULL;
    const char *broken = "{\n  \"model\": {\"type\": \"WordPiece\",\n  \"vocab\": {\"a\": 0,}\n}";
    CHECK_FAILS(dm_tokenizer_load_json(broken, strlen(broken), NULL, &t), DM_ERR_PARSE, "line 3");
    const char *bpe = "{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}}}";
    CHECK_FAILS(dm_tokenizer_load_json(bpe, strlen(bpe), NULL, &t), DM_ERR_UNSUPPORTED, "BPE");
    const char *meta = "{\"pre_tokenizer\": {\"type\": \"Metaspace\"}, \"model\": {}}";
    CHECK_FAILS(dm_tokenizer_load_json(meta, strlen(meta), NULL, &t), DM_ERR_UNSUPPORTED, "Metaspace");
    const char *bad_id = "{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"WordPiece\", "
                         "\"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"x\": \"one\"}}}";
    CHECK_FAILS(dm_tokenizer_load_json(bad_id, strlen(bad_id), NULL, &t), DM_ERR_PARSE, "\"x\"");
    const char *twice = "{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"WordPiece\", "
                        "\"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"x\": 0}}}";
    CHECK_FAILS(dm_tokenizer_load_json(twice, strlen(twice), NULL, &t), DM_ERR_PARSE, "two tokens");
    const char *no_unk = "{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"WordPiece\", "
                         "\"unk_token\": \"[UNK]\", \"vocab\": {\"x\": 0}}}";
    CHECK_FAILS(dm_tokenizer_load_json(no_unk, strlen(no_unk), NULL, &t), DM_ERR_NOT_FOUND, "[UNK]");
    CHECK_FAILS(dm_tokenizer_load_json("[1]", 3, NULL, &t), DM_ERR_PARSE, "object");
    CHECK(t == NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_files(dm_tokenizer *t)
{
    char dir[] = "/tmp/dm_test_XXXXXX";
    if (!mkdtemp(dir)) return;
    char sub[256], path[300];
    snprintf(sub, sizeof sub, "%s/saved", dir);
    CHECK(dm_tokenizer_save(t, sub) == DM_OK);
    dm_tokenizer *back = NULL;
    CHECK(dm_tokenizer_load(sub, NULL, &back) == DM_OK); /* picks tokenizer.json */
    if (back) {
        dm_encoding *a = enc(t, "Hello, unaffable Caf\xc3\xa9 [MASK] worlds.", "world", NULL);
        dm_encoding *b = enc(back, "Hello, unaffable Caf\xc3\xa9 [MASK] worlds.", "world", NULL);
        CHECK(a && b && a->length == b->length && memcmp(a->ids, b->ids, a->length * 4) == 0 &&
              memcmp(a->type_ids, b->type_ids, a->length * 4) == 0);
        dm_encoding_free(a);
        dm_encoding_free(b);
        dm_tokenizer_free(back);
    }
    /* vocab.txt with a tokenizer_config.json that keeps case. */
    snprintf(sub, sizeof sub, "%s/cased", dir);
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/vocab.txt", sub);
    write_file(path, VOCAB);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", sub);
    write_file(path, "{\"do_lower_case\": false}");
    dm_tokenizer *cased = NULL;
    CHECK(dm_tokenizer_load(sub, NULL, &cased) == DM_OK);
    if (cased) {
        dm_encoding *e = enc(cased, "Hello hello", NULL, NULL);
        int32_t want[] = {2, 1, 5, 3};
        CHECK(e && ids_equal(e, want, 4));
        dm_encoding_free(e);
        dm_tokenizer_free(cased);
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", sub);
    write_file(path, "{\"do_lower_case\": fals");
    dm_tokenizer *x = NULL;
    CHECK_FAILS(dm_tokenizer_load(sub, NULL, &x), DM_ERR_PARSE, "tokenizer_config.json");
    CHECK_FAILS(dm_tokenizer_load(dir, NULL, &x), DM_ERR_NOT_FOUND, "neither");
    CHECK_FAILS(dm_tokenizer_load("/nonexistent/vocab.txt", NULL, &x), DM_ERR_IO, "/nonexistent/vocab.txt");
    snprintf(path, sizeof path, "%s/broken.json", dir);
    write_file(path, "{\"model\": ");
    CHECK_FAILS(dm_tokenizer_load(path, NULL, &x), DM_ERR_PARSE, "broken.json");
    CHECK_FAILS(dm_tokenizer_save(t, "/proc/no/such/place"), DM_ERR_IO, "/proc/no");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_misc(void)
{
    CHECK(strcmp(dm_version(), DM_VERSION_STRING) == 0);
    CHECK(dm_version_number() == DM_VERSION_MAJOR * 10000 + DM_VERSION_MINOR * 100 + DM_VERSION_PATCH);
    CHECK(strcmp(dm_status_name(DM_ERR_UTF8), "DM_ERR_UTF8") == 0);
    dm_tokenizer_free(NULL);
    dm_encoding_free(NULL);
    dm_encodings_free(NULL, 0);
    dm_free(NULL);
    dm_encoding *e = NULL;
    CHECK_FAILS(dm_tokenizer_encode(NULL, "a", 1, NULL, 0, NULL, &e), DM_ERR_INVALID_ARGUMENT, "NULL");
}

int main(void)
{
    dm_tokenizer *t = tiny();
    CHECK(t != NULL);
    if (t) {
        test_basic(t);
        test_words_limit(t);
        test_pairs_truncation_padding(t);
        test_utf8(t);
        test_batch(t);
        test_cancel(t);
        test_flat_batch(t);
        test_decode(t);
        test_files(t);
        test_big_line(t);
    }
    test_bad_vocab();
    test_bad_json();
    test_flat_real_data();
    test_misc();
    dm_tokenizer_free(t);
    return check_summary();
}
