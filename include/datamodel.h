/*
 * datamodel.h — the whole public API of libdatamodel.
 *
 * libdatamodel takes a team from raw text to a deployed text classifier with no
 * Python runtime in the loop. This header is the only one installed.
 *
 * Conventions (see docs in the README and shared/docs/DESIGN.md):
 *  - Every exported name starts with dm_; types are dm_xxx, macros DM_XXX.
 *  - Handles are opaque, created by dm_xxx_load/create and released by
 *    dm_xxx_free, which accepts NULL.
 *  - Every fallible call returns dm_status (DM_OK == 0) and writes its results
 *    to out-parameters. On failure, dm_last_error() returns a thread-local
 *    message naming what was wrong (file, line, byte offset, field, expected
 *    versus found). Out-parameters are left untouched on failure.
 *  - The library never prints, exits or aborts on bad input.
 *  - Option structs carry their own size: initialise them with
 *    dm_xxx_options_default(), which sets struct_size, then change fields.
 *    Passing NULL for options means "all defaults".
 *  - Strings are UTF-8 with explicit byte lengths unless documented as
 *    NUL-terminated (paths are NUL-terminated).
 *  - Memory the library returns is released with the matching dm_xxx_free, or
 *    dm_free for plain buffers.
 *  - Thread safety: distinct handles may be used from different threads at
 *    once. A loaded dm_tokenizer is read-only and may be shared by any number
 *    of threads encoding at the same time.
 */
#ifndef DATAMODEL_H
#define DATAMODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define DM_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#  define DM_API __attribute__((visibility("default")))
#else
#  define DM_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define DM_VERSION_MAJOR 0 /* the ABI major version: also the soname's */
#define DM_VERSION_MINOR 1
#define DM_VERSION_PATCH 0
#define DM_VERSION_STRING "0.1.0"

/* The full version of the library that is loaded, e.g. "0.1.0". It may differ
 * from DM_VERSION_STRING when a program runs against a newer library. */
DM_API const char *dm_version(void);

/* The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH. */
DM_API int dm_version_number(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                   */
/* ------------------------------------------------------------------------ */

typedef enum dm_status {
    DM_OK = 0,
    DM_ERR_INVALID_ARGUMENT = 1, /* NULL where a value is needed, bad option */
    DM_ERR_IO = 2,               /* a file could not be opened, read or written */
    DM_ERR_PARSE = 3,            /* malformed input file (JSON, vocab, ...) */
    DM_ERR_UTF8 = 4,             /* invalid UTF-8 in text */
    DM_ERR_NOT_FOUND = 5,        /* a token, file, column or key that must exist does not */
    DM_ERR_NO_MEMORY = 6,        /* an allocation failed */
    DM_ERR_UNSUPPORTED = 7,      /* valid input using a feature not implemented */
    DM_ERR_CANCELLED = 8,        /* a progress callback asked to stop */
    DM_ERR_RANGE = 9,            /* a size or length out of the allowed range */
    DM_ERR_NUMERIC = 10,         /* NaN or Inf met in a computation */
    DM_ERR_INTERNAL = 11         /* a bug in the library: please report it */
} dm_status;

/* The message describing the last failure on the calling thread. Never NULL;
 * "" when nothing has failed yet. Valid until the next failing call on this
 * thread. */
DM_API const char *dm_last_error(void);

/* A short constant name for a status, e.g. "DM_ERR_PARSE". Never NULL. */
DM_API const char *dm_status_name(dm_status status);

/* Releases a buffer returned by the library (e.g. by dm_tokenizer_decode).
 * Accepts NULL. */
DM_API void dm_free(void *ptr);

/* Progress of long work. Called with the work done so far and the total (in
 * units the calling function documents; total may be 0 when unknown). Return
 * 0 to go on, non-zero to cancel: the function then returns DM_ERR_CANCELLED.
 * Called from the thread that made the call. */
typedef int (*dm_progress_fn)(uint64_t done, uint64_t total, void *user);

/* ------------------------------------------------------------------------ */
/* Tokenizer (WordPiece, exact with Hugging Face `tokenizers`)               */
/* ------------------------------------------------------------------------ */

typedef struct dm_tokenizer dm_tokenizer;

/* Options for loading. Fields set to -1 keep what the files say. */
typedef struct dm_tokenizer_options {
    size_t struct_size;
    int lowercase;     /* -1: from the files; 0: keep case; 1: lowercase */
    int strip_accents; /* -1: from the files (and, as in HF, follows lowercase
                          when the files leave it unset); 0 or 1 to force */
} dm_tokenizer_options;

DM_API void dm_tokenizer_options_default(dm_tokenizer_options *opts);

/* Loads a tokenizer from PATH, which is one of:
 *  - a Hugging Face tokenizer.json (BertNormalizer, BertPreTokenizer,
 *    WordPiece model, TemplateProcessing or BertProcessing post-processor);
 *  - a vocab.txt (one token per line, id = line number); the BERT defaults
 *    apply (lowercase, clean text, Chinese characters split, [UNK]/[CLS]/
 *    [SEP]/[PAD]/[MASK] special tokens), overridden by a
 *    tokenizer_config.json in the same folder when there is one;
 *  - a model folder: its tokenizer.json if present, else its vocab.txt.
 * Errors: DM_ERR_IO, DM_ERR_NOT_FOUND (no tokenizer files in a folder; a
 * special token the template needs is missing from the vocab), DM_ERR_PARSE
 * (broken JSON with line and column; a special token on two lines of a
 * vocab.txt, naming both; an ordinary token on two lines takes the later id,
 * as HF does), DM_ERR_UNSUPPORTED (another normalizer or model type). */
DM_API dm_status dm_tokenizer_load(const char *path, const dm_tokenizer_options *opts,
                                   dm_tokenizer **out);

/* The same from memory: the contents of a tokenizer.json ... */
DM_API dm_status dm_tokenizer_load_json(const char *json, size_t len,
                                        const dm_tokenizer_options *opts, dm_tokenizer **out);
/* ... or of a vocab.txt (BERT defaults as above). */
DM_API dm_status dm_tokenizer_load_vocab(const char *vocab, size_t len,
                                         const dm_tokenizer_options *opts, dm_tokenizer **out);

DM_API void dm_tokenizer_free(dm_tokenizer *tok);

/* Number of ids (the largest id + 1, added tokens included). */
DM_API size_t dm_tokenizer_vocab_size(const dm_tokenizer *tok);

/* The id of a token string, or DM_ERR_NOT_FOUND. */
DM_API dm_status dm_tokenizer_token_to_id(const dm_tokenizer *tok, const char *token,
                                          size_t len, int32_t *id);

/* The NUL-terminated token string of an id, owned by the tokenizer; NULL when
 * the id is out of range or unused. */
DM_API const char *dm_tokenizer_id_to_token(const dm_tokenizer *tok, int32_t id);

/* Which special token. */
typedef enum dm_special_token {
    DM_SPECIAL_UNK = 0,
    DM_SPECIAL_CLS = 1,
    DM_SPECIAL_SEP = 2,
    DM_SPECIAL_PAD = 3,
    DM_SPECIAL_MASK = 4
} dm_special_token;

/* The id of a special token, or -1 when the tokenizer has none. */
DM_API int32_t dm_tokenizer_special_id(const dm_tokenizer *tok, dm_special_token which);

typedef enum dm_truncation {
    DM_TRUNCATE_NONE = 0,
    DM_TRUNCATE_LONGEST_FIRST = 1, /* drop from the longer sequence first */
    DM_TRUNCATE_ONLY_FIRST = 2,
    DM_TRUNCATE_ONLY_SECOND = 3
} dm_truncation;

typedef enum dm_padding {
    DM_PAD_NONE = 0,
    DM_PAD_TO_LENGTH = 1,  /* pad every encoding to pad_length */
    DM_PAD_TO_LONGEST = 2  /* in a batch, pad to the longest encoding */
} dm_padding;

typedef enum dm_invalid_utf8 {
    DM_UTF8_ERROR = 0,  /* fail with DM_ERR_UTF8 naming the byte offset */
    DM_UTF8_REPLACE = 1 /* treat each bad sequence as U+FFFD (which BERT's
                           clean_text then removes, as HF does) */
} dm_invalid_utf8;

typedef struct dm_encode_options {
    size_t struct_size;
    int add_special_tokens;    /* default 1: [CLS] A [SEP] (B [SEP]) per the template */
    dm_truncation truncation;  /* default DM_TRUNCATE_NONE */
    size_t max_length;         /* with truncation: the total length, special tokens
                                  included (as HF's max_length) */
    dm_padding padding;        /* default DM_PAD_NONE */
    size_t pad_length;         /* with DM_PAD_TO_LENGTH */
    size_t pad_to_multiple_of; /* 0: off; else round the padded length up */
    dm_invalid_utf8 invalid_utf8; /* default DM_UTF8_ERROR */
    int threads;               /* batch only: 0 = all cores, else this many */
    dm_progress_fn progress;   /* batch only: done/total in texts; may be NULL */
    void *progress_user;
} dm_encode_options;

DM_API void dm_encode_options_default(dm_encode_options *opts);

/* One encoded text (or pair). Allocated by the library; fields may be added at
 * the end in later minor versions. All arrays have `length` entries except
 * offsets, which has 2*length (start, end pairs). */
typedef struct dm_encoding {
    size_t length;
    int32_t *ids;
    int32_t *type_ids;           /* 0 for the first sequence, 1 for the second */
    uint8_t *attention_mask;     /* 1 for real tokens, 0 for padding */
    uint8_t *special_tokens_mask; /* 1 for special tokens added by the template
                                    and padding, else 0 */
    uint32_t *offsets;           /* byte offsets [start, end) into the text the
                                    token came from (the pair's tokens into the
                                    pair text); (0, 0) for added special tokens */
    const char *const *tokens;   /* token strings, owned by the tokenizer */
} dm_encoding;

/* Encodes TEXT (LEN bytes), or the pair TEXT, PAIR when PAIR is not NULL.
 * Texts longer than 4 GiB - 1 bytes give DM_ERR_RANGE. Truncation that cannot
 * be done (ONLY_SECOND without a pair, or a sequence too short to remove
 * enough tokens from) gives DM_ERR_RANGE, as HF raises. */
DM_API dm_status dm_tokenizer_encode(const dm_tokenizer *tok, const char *text, size_t len,
                                     const char *pair, size_t pair_len,
                                     const dm_encode_options *opts, dm_encoding **out);

/* Encodes N texts (and N pairs when PAIRS is not NULL) on opts->threads
 * threads; the result is identical whatever the thread count. *OUT receives
 * an array of N encodings, released with dm_encodings_free. On an error in
 * any text the whole call fails and the message names the text's index. */
DM_API dm_status dm_tokenizer_encode_batch(const dm_tokenizer *tok, size_t n,
                                           const char *const *texts, const size_t *lens,
                                           const char *const *pairs, const size_t *pair_lens,
                                           const dm_encode_options *opts, dm_encoding ***out);

DM_API void dm_encoding_free(dm_encoding *enc);
DM_API void dm_encodings_free(dm_encoding **encs, size_t n);

/* Decodes ids to text as HF's WordPiece decoder does ("##" pieces joined,
 * spaces before punctuation cleaned up). SKIP_SPECIAL drops special tokens.
 * *OUT is NUL-terminated, *OUT_LEN excludes the NUL; release with dm_free.
 * An id out of range gives DM_ERR_RANGE naming its position. */
DM_API dm_status dm_tokenizer_decode(const dm_tokenizer *tok, const int32_t *ids, size_t n,
                                     int skip_special, char **out, size_t *out_len);

/* Writes DIR/vocab.txt, DIR/tokenizer.json (loadable by HF `tokenizers`) and
 * DIR/tokenizer_config.json, creating DIR if needed. Files are written to a
 * temporary name and renamed into place. */
DM_API dm_status dm_tokenizer_save(const dm_tokenizer *tok, const char *dir);

/* Options for training a WordPiece vocabulary. */
typedef struct dm_tokenizer_train_options {
    size_t struct_size;
    size_t vocab_size;        /* default 30522 */
    uint64_t min_frequency;   /* default 2: pairs seen fewer times are not merged */
    const char *const *special_tokens; /* default NULL: [PAD] [UNK] [CLS] [SEP] [MASK] */
    size_t n_special_tokens;
    size_t limit_alphabet;    /* 0 = keep every character; else the most frequent */
    int lowercase;            /* default 1 */
    int strip_accents;        /* default -1 (follow lowercase) */
    int clean_text;           /* default 1 */
    int handle_chinese_chars; /* default 1 */
    dm_progress_fn progress;  /* done/total in merges; may be NULL */
    void *progress_user;
} dm_tokenizer_train_options;

DM_API void dm_tokenizer_train_options_default(dm_tokenizer_train_options *opts);

/* Learns a WordPiece vocabulary from N_FILES UTF-8 text files (each line a
 * text) the way HF's WordPieceTrainer does (pair merges by frequency, "##"
 * continuation pieces), and returns a tokenizer using it. Save it with
 * dm_tokenizer_save. */
DM_API dm_status dm_tokenizer_train(const char *const *files, size_t n_files,
                                    const dm_tokenizer_train_options *opts, dm_tokenizer **out);

#ifdef __cplusplus
}
#endif
#endif /* DATAMODEL_H */
