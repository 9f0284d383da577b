/* test_train.c — dm_tokenizer_train: vocabulary layout, determinism, options,
 * cancellation, save/load round trip and every bad-input path. (That HF's
 * `tokenizers` loads and agrees with a trained tokenizer is checked in
 * bindings/python/tests.) */
#include "datamodel.h"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/dm_test_train_XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *corpus =
    "the quick brown fox jumps over the lazy dog\n"
    "the lazy dog sleeps; the quick fox runs\n"
    "Über naïve café — 你好世界\n";

static dm_tokenizer *train(const char *path, dm_tokenizer_train_options *o)
{
    dm_tokenizer *t = NULL;
    const char *files[] = {path};
    dm_status st = dm_tokenizer_train(files, 1, o, &t);
    if (st) fprintf(stderr, "train failed: %s\n", dm_last_error());
    return t;
}

static int count_calls(uint64_t done, uint64_t total, void *user)
{
    (void)total;
    (*(uint64_t *)user)++;
    return done > total; /* never: done stays within total */
}

static int cancel_at_once(uint64_t done, uint64_t total, void *user)
{
    (void)done, (void)total, (void)user;
    return 1;
}

int main(void)
{
    if (!mkdtemp(dir)) return 1;
    char big[8192] = "";
    for (int i = 0; i < 20; i++) strcat(big, corpus);
    const char *path = write_file("corpus.txt", big);

    dm_tokenizer_train_options o;
    dm_tokenizer_train_options_default(&o);
    CHECK(o.struct_size == sizeof o && o.vocab_size == 30522 && o.min_frequency == 2 && o.lowercase == 1);
    o.vocab_size = 120;
    uint64_t calls = 0;
    o.progress = count_calls;
    o.progress_user = &calls;
    dm_tokenizer *t = train(path, &o);
    CHECK(t != NULL);
    if (!t) return check_summary();
    CHECK(calls >= 2);
    /* The corpus runs out of pairs seen twice at 99 entries; HF's WordPiece
     * trainer (BertWordPieceTokenizer.train, same settings) also ends at 99. */
    CHECK(dm_tokenizer_vocab_size(t) == 99);
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++) CHECK(strcmp(dm_tokenizer_id_to_token(t, i), specials[i]) == 0);
    CHECK(dm_tokenizer_special_id(t, DM_SPECIAL_CLS) == 2 && dm_tokenizer_special_id(t, DM_SPECIAL_UNK) == 1);
    /* The alphabet follows in code point order: lowercased, accents stripped. */
    CHECK(strcmp(dm_tokenizer_id_to_token(t, 5), ";") == 0);
    int32_t id;
    CHECK(dm_tokenizer_token_to_id(t, "u", 1, &id) == DM_OK);         /* from Über */
    CHECK(dm_tokenizer_token_to_id(t, "\xc3\xbc", 2, &id) != DM_OK);  /* ü was stripped */
    CHECK(dm_tokenizer_token_to_id(t, "the", 3, &id) == DM_OK);       /* a frequent merge */
    CHECK(dm_tokenizer_token_to_id(t, "##e", 3, &id) == DM_OK);
    /* Encoding with the trained vocabulary: no [UNK] for training text. */
    dm_encoding *e;
    CHECK(dm_tokenizer_encode(t, "the lazy fox", 12, NULL, 0, NULL, &e) == DM_OK);
    int unk = 0;
    for (size_t i = 0; i < e->length; i++) unk += e->ids[i] == 1;
    CHECK(unk == 0 && e->ids[0] == 2 && e->ids[e->length - 1] == 3);

    /* Deterministic: a second run gives the same vocabulary. */
    dm_tokenizer *t2 = train(path, &o);
    CHECK(t2 && dm_tokenizer_vocab_size(t2) == dm_tokenizer_vocab_size(t));
    int same = 1;
    for (int32_t i = 0; t2 && i < (int32_t)dm_tokenizer_vocab_size(t); i++)
        same &= strcmp(dm_tokenizer_id_to_token(t, i), dm_tokenizer_id_to_token(t2, i)) == 0;
    CHECK(same);
    dm_tokenizer_free(t2);

    /* Save and load back: the same ids. */
    char out_dir[300];
    snprintf(out_dir, sizeof out_dir, "%s/saved", dir);
    CHECK(dm_tokenizer_save(t, out_dir) == DM_OK);
    dm_tokenizer *back = NULL;
    CHECK(dm_tokenizer_load(out_dir, NULL, &back) == DM_OK);
    dm_encoding *e2 = NULL;
    CHECK(back && dm_tokenizer_encode(back, "the lazy fox", 12, NULL, 0, NULL, &e2) == DM_OK);
    CHECK(e2 && e2->length == e->length && memcmp(e2->ids, e->ids, e->length * sizeof *e->ids) == 0);
    dm_encoding_free(e2);
    dm_tokenizer_free(back);
    dm_encoding_free(e);
    dm_tokenizer_free(t);

    /* vocab_size caps the merges. */
    o.vocab_size = 60;
    o.progress = NULL;
    t = train(path, &o);
    CHECK(t && dm_tokenizer_vocab_size(t) == 60);
    dm_tokenizer_free(t);

    /* A high min_frequency stops before any merge: specials, alphabet, ## pieces. */
    dm_tokenizer_train_options_default(&o);
    o.min_frequency = 1000000;
    t = train(path, &o);
    CHECK(t && dm_tokenizer_token_to_id(t, "the", 3, &id) == DM_ERR_NOT_FOUND);
    dm_tokenizer_free(t);

    /* limit_alphabet keeps the most frequent characters only. */
    dm_tokenizer_train_options_default(&o);
    o.limit_alphabet = 5;
    o.min_frequency = 1000000;
    t = train(path, &o);
    CHECK(t && dm_tokenizer_token_to_id(t, "e", 1, &id) == DM_OK);
    CHECK(t && dm_tokenizer_token_to_id(t, "\xe4\xbd\xa0", 3, &id) == DM_ERR_NOT_FOUND); /* 你: rare */
    dm_tokenizer_free(t);

    /* Custom special tokens become special added tokens; cased training. */
    dm_tokenizer_train_options_default(&o);
    const char *mine[] = {"<pad>", "[UNK]", "[CLS]", "[SEP]", "<extra>"};
    o.special_tokens = mine;
    o.n_special_tokens = 5;
    o.lowercase = 0;
    o.vocab_size = 200;
    t = train(path, &o);
    CHECK(t && strcmp(dm_tokenizer_id_to_token(t, 4), "<extra>") == 0);
    CHECK(t && dm_tokenizer_token_to_id(t, "\xc3\x9c", 2, &id) == DM_OK); /* Ü: case and accent kept */
    e = NULL;
    CHECK(t && dm_tokenizer_encode(t, "fox <extra> dog", 15, NULL, 0, NULL, &e) == DM_OK);
    int found = 0;
    for (size_t i = 0; e && i < e->length; i++) found |= e->ids[i] == 4;
    CHECK(found);
    dm_encoding_free(e);
    dm_tokenizer_free(t);

    /* Two files count together. */
    const char *more = write_file("more.txt", "zebra zebra zebra zebra\n");
    const char *two[] = {path, more};
    dm_tokenizer_train_options_default(&o);
    t = NULL;
    CHECK(dm_tokenizer_train(two, 2, &o, &t) == DM_OK);
    CHECK(t && dm_tokenizer_token_to_id(t, "zebra", 5, &id) == DM_OK);
    dm_tokenizer_free(t);

    /* Bad input. */
    dm_tokenizer_train_options_default(&o);
    const char *files[] = {path};
    CHECK_FAILS(dm_tokenizer_train(NULL, 1, &o, &t), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_tokenizer_train(files, 0, &o, &t), DM_ERR_INVALID_ARGUMENT, "no training files");
    CHECK_FAILS(dm_tokenizer_train(files, 1, &o, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    const char *missing[] = {"/nonexistent/corpus.txt"};
    CHECK_FAILS(dm_tokenizer_train(missing, 1, &o, &t), DM_ERR_IO, "/nonexistent/corpus.txt");
    const char *nulls[] = {NULL};
    CHECK_FAILS(dm_tokenizer_train(nulls, 1, &o, &t), DM_ERR_INVALID_ARGUMENT, "files[0]");
    const char *bad[] = {write_file("bad.txt", "good line\nsecond\nbad \xff here\n")};
    CHECK_FAILS(dm_tokenizer_train(bad, 1, &o, &t), DM_ERR_UTF8, "line 3");
    CHECK(t == NULL);
    o.vocab_size = 0;
    CHECK_FAILS(dm_tokenizer_train(files, 1, &o, &t), DM_ERR_INVALID_ARGUMENT, "vocab_size");
    dm_tokenizer_train_options_default(&o);
    o.n_special_tokens = 2;
    CHECK_FAILS(dm_tokenizer_train(files, 1, &o, &t), DM_ERR_INVALID_ARGUMENT, "special_tokens is NULL");
    const char *empty[] = {"[UNK]", ""};
    o.special_tokens = empty;
    CHECK_FAILS(dm_tokenizer_train(files, 1, &o, &t), DM_ERR_INVALID_ARGUMENT, "special_tokens[1]");
    dm_tokenizer_train_options_default(&o);
    o.struct_size = 0;
    CHECK_FAILS(dm_tokenizer_train(files, 1, &o, &t), DM_ERR_INVALID_ARGUMENT, "struct_size");
    dm_tokenizer_train_options_default(&o);
    o.progress = cancel_at_once;
    CHECK_FAILS(dm_tokenizer_train(files, 1, &o, &t), DM_ERR_CANCELLED, "progress callback");
    CHECK(t == NULL);
    /* An empty corpus still gives a usable (specials-only) tokenizer. */
    const char *nothing[] = {write_file("empty.txt", "")};
    dm_tokenizer_train_options_default(&o);
    CHECK(dm_tokenizer_train(nothing, 1, &o, &t) == DM_OK && t && dm_tokenizer_vocab_size(t) == 5);
    dm_tokenizer_free(t);
    dm_tokenizer_train_options_default(NULL); /* no crash */

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
