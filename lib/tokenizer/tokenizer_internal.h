/*
 * tokenizer_internal.h — what the tokenizer's parts (loading, encoding,
 * decoding, saving, training) share. Not installed.
 */
#ifndef DM_TOKENIZER_INTERNAL_H
#define DM_TOKENIZER_INTERNAL_H

#include "../core/core.h"

/* BertNormalizer settings, resolved (strip_accents already follows lowercase
 * where the files left it unset). */
typedef struct dmi_normalizer {
    bool clean_text;
    bool handle_chinese_chars;
    bool strip_accents;
    bool lowercase;
} dmi_normalizer;

/* Token string -> id, open addressing on a 64-bit FNV-1a hash. Lookups by
 * a precomputed hash let WordPiece test every prefix of a word after one pass
 * over its bytes (FNV-1a is incremental). */
typedef struct dmi_vocab_map {
    uint64_t *hashes; /* 0 = empty slot */
    int32_t *ids;
    size_t mask;      /* capacity - 1 (capacity a power of two) */
    uint64_t *filter; /* one bit per (hash >> 32) & filter_mask: most prefixes
                         WordPiece tries are absent, and this small bitmap
                         (16 bits per token, cache-resident) rejects them
                         without touching the table */
    size_t filter_mask;
} dmi_vocab_map;

/* Whether HASH may be in M (false: certainly not). */
static inline bool dmi_map_may_have(const dmi_vocab_map *m, uint64_t hash)
{
    size_t bit = (size_t)(hash >> 32) & m->filter_mask;
    return (m->filter[bit >> 6] >> (bit & 63)) & 1;
}

/* A token matched on the raw text before normalisation (HF "added tokens"). */
typedef struct dmi_added_token {
    char *content; /* owned */
    uint32_t len;
    int32_t id;
    bool special;
    bool lstrip, rstrip, single_word;
} dmi_added_token;

/* One item of a post-processing template. */
typedef struct dmi_template_item {
    int32_t id;      /* the special token's id, or -1 for sequence A, -2 for B */
    int32_t type_id;
} dmi_template_item;

typedef struct dmi_template {
    dmi_template_item *items;
    size_t n;
    size_t n_special; /* items that are special tokens */
} dmi_template;

#define DMI_MAX_ADDED 4096
#define DMI_MAX_ID ((1 << 22) - 1) /* 4,194,303 */

struct dm_tokenizer {
    /* id -> token (NUL-terminated strings in one pool; NULL for unused ids) */
    const char **tokens;   /* filled by dmi_tokenizer_finish */
    uint32_t *token_offs;  /* offset in pool while building; UINT32_MAX = unused */
    uint32_t *token_lens;
    size_t n_ids;
    char *pool;
    size_t pool_len, pool_cap;

    dmi_vocab_map whole;    /* every token, by its full string */
    int32_t *single_ids;    /* per BMP code point: the id WordPiece gives a word of that one
                               character (its whole-string id), -1 for none ([UNK]); one table
                               read instead of a hash lookup for CJK characters and punctuation */
    dmi_vocab_map cont;     /* tokens that start with the continuing prefix, by what follows it */
    size_t max_token_bytes; /* longest token, prefix excluded for continuations */

    dmi_normalizer norm;

    int32_t unk_id;
    char *unk_token; /* owned */
    char *prefix;    /* owned: continuing-subword prefix, "##" */
    uint32_t prefix_len;
    size_t max_input_chars_per_word;

    dmi_added_token *added;
    size_t n_added;
    uint8_t added_first_byte[256]; /* 1 where some added token starts with this byte */
    uint8_t *is_special; /* per id: 1 for special added tokens (skipped by decode) */

    dmi_template single, pair;
    int32_t special_ids[5]; /* by dm_special_token */

    bool has_decoder;
    bool decoder_cleanup;
    char *decoder_prefix; /* owned */
};

/* Vocabulary building blocks (vocab.c). */
uint64_t dmi_fnv1a(const char *s, size_t len);
dm_status dmi_tokenizer_alloc(dm_tokenizer **out);
/* Gives id ID the token string S (copied into the pool). Ids may come in any
 * order; an id given twice is an error naming both strings. */
dm_status dmi_vocab_set(dm_tokenizer *t, int32_t id, const char *s, size_t len);
int32_t dmi_map_get(const dmi_vocab_map *m, uint64_t hash, const dm_tokenizer *t, const char *s,
                    size_t len, uint32_t skip);
/* After every id has its string: builds the maps, resolves special tokens and
 * checks what the template needs. NAME labels error messages (a path). */
dm_status dmi_tokenizer_finish(dm_tokenizer *t, const char *name);
int32_t dmi_token_id(const dm_tokenizer *t, const char *s, size_t len);
dm_status dmi_add_added_token(dm_tokenizer *t, const char *content, size_t len, int32_t id,
                              bool special, bool lstrip, bool rstrip, bool single_word);
dm_status dmi_set_bert_template(dm_tokenizer *t, int32_t cls, int32_t sep, const char *name);

/* Calls FN with each pre-token (word) of TEXT after BERT normalisation and
 * pre-tokenisation, exactly the pieces WordPiece would see. TEXT must be valid
 * UTF-8 (invalid sequences are treated as U+FFFD). A non-zero return from FN
 * stops the walk and is returned as DM_ERR_CANCELLED. */
typedef int (*dmi_word_fn)(const char *word, size_t len, void *user);
dm_status dmi_bert_pretokenize(const dmi_normalizer *norm, const char *text, size_t len,
                               dmi_word_fn fn, void *user);

/* Builds a BERT-style tokenizer over a vocabulary given in id order (token i
 * has id i): WordPiece with "##" continuations, [UNK] as unknown, the
 * [CLS] A [SEP] (B [SEP]) template, and the BERT special tokens that the
 * vocabulary contains, plus SPECIALS, registered as special added tokens. */
dm_status dmi_tokenizer_build(const char *const *tokens, const size_t *lens, size_t n,
                              const dmi_normalizer *norm, const char *const *specials, size_t n_specials,
                              dm_tokenizer **out);

#endif
