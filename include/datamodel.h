/*
 * datamodel.h — the whole public API of libdatamodel.
 *
 * libdatamodel takes a team from raw text to a deployed text classifier with no
 * Python runtime in the loop. This header is the only one installed.
 *
 * Conventions (README.md and the docs/ folder of the source tree describe
 * the library and the decisions behind it):
 *  - Every exported name starts with dm_; types are dm_xxx, macros DM_XXX.
 *  - Handles are opaque, created by dm_xxx_load/create and released by
 *    dm_xxx_free, which accepts NULL.
 *  - Every fallible call returns dm_status (DM_OK == 0) and writes its results
 *    to out-parameters. On failure, dm_last_error() returns a thread-local
 *    message naming what was wrong (file, line, byte offset, field, expected
 *    versus found). Out-parameters are left untouched on failure. A failure
 *    about one text of a batch (tokenizing, predicting, embedding) begins
 *    "text K: " with K its 0-based index in the caller's arrays.
 *  - The library never prints, exits or aborts on bad input.
 *  - Option structs carry their own size: initialise them with
 *    dm_xxx_options_default(), which sets struct_size, then change fields.
 *    Passing NULL for options means "all defaults".
 *  - Strings are UTF-8 with explicit byte lengths unless documented as
 *    NUL-terminated (paths are NUL-terminated).
 *  - Memory the library returns is released with the matching dm_xxx_free, or
 *    dm_free for plain buffers.
 *  - Threads, as rules (each handle's section says the same; a test runs
 *    every one under ThreadSanitizer): distinct handles may be used from
 *    different threads at once. dm_tokenizer, dm_dataset and dm_eval_report
 *    never change once made and may be used by any number of threads at
 *    once. A dm_model serialises the calls made on it (each waits for the
 *    one in progress) and answers DM_ERR_BUSY at once while dm_train runs on
 *    it on another thread. A dm_pii may be used (detect, anonymize, decrypt)
 *    by any number of threads at once; configuring it while another thread
 *    uses it is DM_ERR_BUSY. Freeing a handle must not overlap another call
 *    on it. Error messages are per thread.
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
    DM_ERR_INTERNAL = 11,        /* a bug in the library: please report it */
    DM_ERR_AUTH = 12,            /* authentication failed: a wrong key or tampered data */
    DM_ERR_BUSY = 13             /* the handle is in use by a call that excludes this one
                                    (e.g. a model being trained by another thread) */
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
 * Called from the thread that made the call. Every callback of the library
 * (dm_train_fn too) and of its bindings means the same: "true cancels" (a
 * truthy return in Python, true in Go). */
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
    DM_UTF8_REPLACE = 1, /* treat each bad sequence as U+FFFD (which BERT's
                           clean_text then removes, as HF does) */
    DM_UTF8_SKIP_ROW = 2 /* datasets only: the row is skipped and recorded
                            (dm_dataset_skipped_row); the tokenizer refuses it */
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

/* N encodings laid end to end in flat arrays, for callers that want tensors
 * or that cross a language boundary once per batch. Encoding i is tokens
 * row_offsets[i] .. row_offsets[i+1]-1 of every array (offsets holds two
 * entries per token: start, end). When every row has the same length (with
 * DM_PAD_TO_LENGTH or DM_PAD_TO_LONGEST, or by chance), n_tokens ==
 * n * longest and each array is an n x longest matrix in row-major order.
 * The arrays are never NULL (they have at least one entry even when n_tokens
 * is 0). Token strings are not stored: dm_tokenizer_id_to_token(ids[k]) is
 * the token, as in dm_encoding.tokens. Allocated by the library, released
 * with dm_encodings_flat_free. Fields may be added at the end in later minor
 * versions: struct_size is the size of the structure the library filled,
 * so a caller built against a newer header reads a new field only when
 * struct_size covers it. */
typedef struct dm_encodings_flat {
    size_t struct_size;
    size_t n;                     /* encodings (texts) */
    size_t n_tokens;              /* tokens in all rows: row_offsets[n] */
    size_t longest;               /* the longest row's length (0 when n is 0) */
    size_t *row_offsets;          /* n + 1 entries; row_offsets[0] is 0 */
    int32_t *ids;                 /* n_tokens entries, as dm_encoding's */
    int32_t *type_ids;
    uint8_t *attention_mask;
    uint8_t *special_tokens_mask;
    uint32_t *offsets;            /* 2 * n_tokens entries */
} dm_encodings_flat;

/* Encodes N texts (and N pairs when PAIRS is not NULL) as
 * dm_tokenizer_encode_batch does, with the same options and results, into
 * one dm_encodings_flat: one allocation per array, so that a caller (or a
 * binding) crosses into the library once per batch and gets tensors without
 * a copy per text. Runs on opts->threads threads (0: all cores); the result
 * is identical whatever the thread count. DM_PAD_TO_LONGEST pads every row
 * to the batch's longest (rounded up to pad_to_multiple_of). opts->progress
 * gets done/total in texts; a non-zero return cancels. *OUT is set only on
 * success; release it with dm_encodings_flat_free.
 * Errors: DM_ERR_INVALID_ARGUMENT (NULL tokenizer or output, NULL texts with
 * N > 0, a bad option); a failing text's DM_ERR_UTF8, DM_ERR_RANGE or
 * DM_ERR_INVALID_ARGUMENT, its message starting "text I: " with the lowest
 * failing index I; DM_ERR_NOT_FOUND (a row to pad and no [PAD] token);
 * DM_ERR_CANCELLED; DM_ERR_NO_MEMORY. */
DM_API dm_status dm_tokenizer_encode_batch_flat(const dm_tokenizer *tok, size_t n,
                                                const char *const *texts, const size_t *lens,
                                                const char *const *pairs, const size_t *pair_lens,
                                                const dm_encode_options *opts,
                                                dm_encodings_flat **out);

/* Releases the result of dm_tokenizer_encode_batch_flat. Accepts NULL. */
DM_API void dm_encodings_flat_free(dm_encodings_flat *flat);

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

/* ------------------------------------------------------------------------ */
/* Datasets (labelled text read from CSV, TSV or JSONL)                      */
/* ------------------------------------------------------------------------ */

/* A table of rows with a chosen text column, an optional text-pair column, an
 * optional label column and an id column. Every column of the file is kept,
 * as strings, so that rows can be written back and traced. Labels are
 * strings (trimmed of surrounding ASCII whitespace; empty = no label) kept in
 * a label set (string <-> id): when every label is an integer (optionally
 * signed) the set is ordered numerically ("2" before "10"), otherwise, a mix
 * of numbers and strings included, all are ordered by bytes (strcmp: "10"
 * before "2" before "neg"); a fixed set can be imposed with
 * dm_dataset_options.labels. A dataset is
 * read-only once loaded and may be shared by threads. */
typedef struct dm_dataset dm_dataset;

typedef enum dm_file_format {
    DM_FORMAT_AUTO = 0,  /* from the extension: .csv, .tsv/.tab, .jsonl/.ndjson/.json */
    DM_FORMAT_CSV = 1,   /* RFC 4180: header line, "quoted, fields" with "" for a quote,
                            newlines inside quotes, CRLF or LF, an optional BOM */
    DM_FORMAT_TSV = 2,   /* header line, fields split on TAB, no quoting (IANA
                            text/tab-separated-values), CRLF or LF */
    DM_FORMAT_JSONL = 3  /* one JSON object per line; string, number and boolean
                            values become strings, null a missing value */
} dm_file_format;

typedef enum dm_bad_rows {
    DM_BAD_ROWS_FAIL = 0, /* a row with the wrong number of fields fails the load */
    DM_BAD_ROWS_SKIP = 1  /* such rows are skipped and counted (dm_dataset_skipped) */
} dm_bad_rows;

typedef struct dm_dataset_options {
    size_t struct_size;
    dm_file_format format;    /* default DM_FORMAT_AUTO */
    const char *text_column;  /* NULL: the first of "sentence", "text", "review" present */
    const char *pair_column;  /* NULL: no text pair */
    const char *label_column; /* NULL: "label" when present, else no labels; "" : no labels */
    const char *id_column;    /* NULL: "id" when present, else ids are row numbers (1-based) */
    int require_labels;       /* default 0; 1: fail when a row has no label */
    const char *const *labels; /* NULL: the label set comes from the data; else this
                                  fixed set in this order, and other labels fail the load */
    size_t n_labels;
    dm_invalid_utf8 invalid_utf8; /* default DM_UTF8_ERROR (names line and column) */
    dm_bad_rows bad_rows;     /* default DM_BAD_ROWS_FAIL */
    const char *group_column; /* NULL or "": none; else a column (a group or annotator
                                 id) whose rows group-aware splits keep together */
    const uint8_t *key;       /* NULL: a plain file; else 32 bytes: the file is
                                 dm-encrypted (dm_encrypt_file) and is decrypted in
                                 memory, never on disk (dm_dataset_load) */
} dm_dataset_options;

DM_API void dm_dataset_options_default(dm_dataset_options *opts);

/* Reads PATH. Errors name the file, line and column: DM_ERR_IO, DM_ERR_PARSE
 * (unterminated quote, wrong field count, broken JSON), DM_ERR_NOT_FOUND (a
 * column that does not exist, listing those that do), DM_ERR_UTF8, DM_ERR_RANGE
 * (an empty file or no data rows), DM_ERR_INVALID_ARGUMENT (a label outside a
 * fixed label set, a row without a label under require_labels, a name whose
 * extension gives no format under DM_FORMAT_AUTO).
 * Encrypted files: with opts->key the file is decrypted in memory first
 * (dm_decrypt_to_memory: DM_ERR_AUTH for a wrong key, a tampered or a plain
 * file) and the plaintext parsed as usual; under DM_FORMAT_AUTO a name
 * ending ".enc" takes its format from the extension before it (data.csv.enc
 * is CSV), any other name from its own extension. A dm-encrypted file loaded
 * without a key is DM_ERR_INVALID_ARGUMENT saying that it needs one. */
DM_API dm_status dm_dataset_load(const char *path, const dm_dataset_options *opts,
                                 dm_dataset **out);

/* A dataset from memory: N texts (LENS[i] bytes each; LENS NULL: the texts are
 * NUL-terminated), optional pairs (likewise PAIR_LENS), and optional LABELS
 * (NUL-terminated strings; NULL for none, or LABELS[i] NULL for row I). Only
 * opts->labels, opts->require_labels and opts->invalid_utf8 apply (rows given
 * in memory are never skipped: DM_UTF8_SKIP_ROW acts as DM_UTF8_ERROR). */
DM_API dm_status dm_dataset_from_texts(size_t n, const char *const *texts, const size_t *lens,
                                       const char *const *pairs, const size_t *pair_lens,
                                       const char *const *labels, const dm_dataset_options *opts,
                                       dm_dataset **out);

DM_API void dm_dataset_free(dm_dataset *ds);

/* Number of rows. */
DM_API size_t dm_dataset_size(const dm_dataset *ds);

/* Rows skipped under DM_BAD_ROWS_SKIP. */
DM_API size_t dm_dataset_skipped(const dm_dataset *ds);

/* Row I's text and its length in bytes (owned by the dataset; NULL when I is
 * out of range). */
DM_API const char *dm_dataset_text(const dm_dataset *ds, size_t i, size_t *len);

/* Row I's text pair, or NULL when the dataset has no pair column. */
DM_API const char *dm_dataset_pair(const dm_dataset *ds, size_t i, size_t *len);

/* Row I's label id in the label set, or -1 when the row has no label. */
DM_API int32_t dm_dataset_label(const dm_dataset *ds, size_t i);

/* Row I's id (the id column's value, or its 1-based row number). */
DM_API const char *dm_dataset_id(const dm_dataset *ds, size_t i);

/* Size of the label set, and the name of label id ID (NULL when out of range). */
DM_API size_t dm_dataset_num_labels(const dm_dataset *ds);
DM_API const char *dm_dataset_label_name(const dm_dataset *ds, int32_t id);
/* The label id of NAME in the label set, or -1. */
DM_API int32_t dm_dataset_label_id(const dm_dataset *ds, const char *name);
/* Row I's value in the group column, or NULL when there is none. */
DM_API const char *dm_dataset_group(const dm_dataset *ds, size_t i, size_t *len);
/* Skipped row I (0 .. dm_dataset_skipped - 1): the line of the file where it
 * starts and why it was skipped (a static or dataset-owned string such as
 * "wrong number of fields: expected 2, found 3" or "invalid UTF-8 at byte 17
 * of column \"text\""). DM_ERR_RANGE when I is out of range. */
DM_API dm_status dm_dataset_skipped_row(const dm_dataset *ds, size_t i, size_t *line, const char **reason);

/* ------------------------------------------------------------------------ */
/* Dataset operations: writing, subsets, cleaning, deduplication, label      */
/* conflicts, splits, resampling, augmentation, profiling                    */
/* ------------------------------------------------------------------------ */
/* Conventions. An operation never changes its input: it makes a new dataset
 * (*OUT, release with dm_dataset_free) with the input's columns, roles and
 * label set (the same label ids), rows copied in the order kept. Ids travel
 * with rows: when the input's ids were row numbers, the output gets an "id"
 * column holding them, so that every row stays traceable to its source line.
 * Each operation can describe what it did as one JSON object (*REPORT_JSON,
 * NUL-terminated, release with dm_free; pass NULL to skip it); the keys are
 * documented with each function and only ever added to. Every operation is
 * deterministic: the same input, options and seed give the same bytes on any
 * thread count. */

/* Writes DS to PATH (atomically: temporary file, fsync, rename) as FORMAT
 * (DM_FORMAT_AUTO: from PATH's extension). Every column is written in the
 * input's order, the text column with the dataset's (possibly cleaned) texts;
 * an "id" column comes first when the dataset's ids are row numbers. CSV
 * quotes fields that need it (RFC 4180), TSV refuses a field holding a TAB or
 * newline (DM_ERR_INVALID_ARGUMENT naming row and column), JSONL writes every
 * value as a string and a missing value as null. DM_ERR_IO names the path. */
DM_API dm_status dm_dataset_write(const dm_dataset *ds, const char *path, dm_file_format format);

/* A dataset of rows ROWS[0..N-1] of DS, in that order; a row may appear more
 * than once (oversampling). DM_ERR_RANGE names an index out of range. */
DM_API dm_status dm_dataset_select(const dm_dataset *ds, const size_t *rows, size_t n, dm_dataset **out);

/* ---- cleaning */
typedef struct dm_clean_options {
    size_t struct_size;
    int nfkc;                /* default 1: Unicode NFKC (utf8proc) */
    int strip_control;       /* default 1: remove a BOM and control (Cc, but TAB and
                                newlines become spaces) and format (Cf) characters,
                                keeping ZWJ U+200D, variation selectors and emoji
                                tag characters that emoji sequences need */
    int strip_html;          /* default 1: remove tags, comments, script/style
                                bodies; decode entities (&amp; &#39; &#x4E2D; ...) */
    int collapse_whitespace; /* default 1: runs of Unicode whitespace -> one space */
    int trim;                /* default 1: no leading or trailing whitespace */
    size_t min_chars;        /* default 1: shorter texts (in code points, after
                                cleaning) are dropped; 0: keep empty texts */
    size_t max_chars;        /* default 0: no limit */
    const dm_tokenizer *tokenizer; /* for min_tokens/max_tokens (no special tokens) */
    size_t min_tokens, max_tokens; /* default 0: no limit */
    int drop_missing_labels; /* default 1: with a label column, drop rows without one */
    const char *const *allowed_labels; /* NULL: any; else rows with other labels are
                                          dropped as "unknown label" */
    size_t n_allowed_labels;
    dm_progress_fn progress; /* done/total in rows; may be NULL */
    void *progress_user;
} dm_clean_options;
DM_API void dm_clean_options_default(dm_clean_options *opts);
/* Cleans the text (and pair) column of every row and drops rows that fail a
 * filter. Rows skipped when loading (bad field counts, invalid UTF-8 under
 * DM_UTF8_SKIP_ROW) are listed in the report too. Report keys: rows_in,
 * rows_out, changed (per step: rows whose text it changed: nfkc,
 * strip_control, strip_html, collapse_whitespace, trim), dropped (per
 * reason: empty, too_short, too_long, too_few_tokens, too_many_tokens,
 * missing_label, unknown_label, skipped_on_load), dropped_rows (array of
 * {id, line, reason}). */
DM_API dm_status dm_dataset_clean(const dm_dataset *ds, const dm_clean_options *opts, dm_dataset **out,
                                  char **report_json);

/* ---- deduplication */
typedef struct dm_dedup_options {
    size_t struct_size;
    int exact_only;        /* default 0: exact, then near duplicates */
    int normalize;         /* default 1: texts are compared after NFKC, case folding
                              and whitespace collapsing (exact and shingles) */
    size_t ngram;          /* default 5: shingles are character N-grams (code points) */
    double threshold;      /* default 0.8: Jaccard similarity of near duplicates */
    size_t num_perm;       /* default 128: MinHash permutations */
    size_t bands, rows_per_band; /* default 0: with verify, recall first: the most rows
                              per band for which a pair at the threshold is a
                              candidate with probability >= 0.99 (128 perms at 0.8:
                              21 x 6); without verify, as datasketch's MinHashLSH
                              (minimising false positive + false negative area) */
    int verify;            /* default 1: a candidate pair counts only when the exact
                              Jaccard of its shingle sets reaches the threshold */
    uint64_t seed;         /* default 1: the permutations */
    int threads;           /* default 0: all cores */
    int report_pairs;      /* default 0; 1: the report lists every near-duplicate pair */
    dm_progress_fn progress; /* done/total in rows; may be NULL */
    void *progress_user;
    int label_conflicts;   /* a dm_conflict_policy (declared below): what
                              dm_dataset_dedup does with a cluster whose rows carry
                              different labels. Default DM_CONFLICT_KEEP: keep the
                              first row of each label (differently labelled copies
                              are not merged); DROP_ALL: drop the whole cluster;
                              MAJORITY: keep the first row of its most frequent label
                              (ties: the label seen first); KEEP_FIRST: keep the
                              first labelled row. Every such cluster is reported. */
} dm_dedup_options;
DM_API void dm_dedup_options_default(dm_dedup_options *opts);
/* Removes exact duplicates and near duplicates: of each cluster (the
 * connected components of the duplicate pairs) it keeps one row, the first
 * one with a label when any has one, so that a label is never dropped for an
 * unlabelled copy; a cluster whose rows carry two or more labels keeps what
 * label_conflicts says. Report keys: rows_in, rows_out, exact_duplicates
 * (rows that are exact copies of an earlier row), near_duplicates (rows
 * that are near copies, not exact), near_pairs (pairs found),
 * candidate_pairs (pairs LSH proposed), num_perm, bands, rows_per_band,
 * clusters (array of {kept: id or null, members: [ids], texts: [up to 3
 * member texts]} for clusters of 2 or more; kept is the first row kept),
 * label_conflicts (the policy: "keep", "drop_all", "majority" or
 * "keep_first"), conflicts (clusters with two or more labels),
 * rows_in_conflict (their rows), conflict_rows_kept (rows kept beyond one
 * per cluster: keep), conflict_rows_dropped (clusters dropped whole:
 * drop_all), conflict_clusters (array of {ids: [...], labels: [label or
 * null per id], kept: [ids kept]}), pairs (with report_pairs: [[id, id,
 * jaccard], ...]). rows_out = rows_in - exact_duplicates - near_duplicates
 * + conflict_rows_kept - conflict_rows_dropped. */
DM_API dm_status dm_dataset_dedup(const dm_dataset *ds, const dm_dedup_options *opts, dm_dataset **out,
                                  char **report_json);
/* Duplicate pairs (exact or near, as OPTS says) whose rows lie in different
 * parts: ASSIGN[i] is row I's part (0 .. N_PARTS-1, e.g. train/val/test, or
 * -1 to leave it out). Report keys: exact_pairs, near_pairs, by_parts
 * (N_PARTS x N_PARTS matrix of pair counts, upper triangle), examples (up to
 * 20 {a: id, b: id, jaccard}). *CROSS_PAIRS (may be NULL) gets the total. */
DM_API dm_status dm_dataset_leakage(const dm_dataset *ds, const int32_t *assign, size_t n_parts,
                                    const dm_dedup_options *opts, uint64_t *cross_pairs, char **report_json);

/* ---- label conflicts */
typedef enum dm_conflict_policy {
    DM_CONFLICT_KEEP = 0,       /* report only; every row kept */
    DM_CONFLICT_DROP_ALL = 1,   /* drop every row of a conflicting text */
    DM_CONFLICT_MAJORITY = 2,   /* keep the rows with the most frequent label (ties:
                                   the label seen first); drop the others */
    DM_CONFLICT_KEEP_FIRST = 3  /* keep the rows with the first row's label */
} dm_conflict_policy;
/* Finds texts (equal after dm_dedup_options' normalisation; text pairs
 * included when the dataset has them) that carry different labels. Report
 * keys: rows_in, rows_out, conflicts (number of texts), rows_in_conflict,
 * items (array of {text, labels: {label: count}, ids: [...], kept_label or
 * null}). */
DM_API dm_status dm_dataset_conflicts(const dm_dataset *ds, dm_conflict_policy policy, dm_dataset **out,
                                      char **report_json);

/* ---- splits */
typedef enum dm_group_by {
    DM_GROUP_NONE = 0,
    DM_GROUP_COLUMN = 1,          /* the dataset's group column */
    DM_GROUP_NEAR_DUPLICATES = 2  /* clusters of exact and near duplicates (dedup options) */
} dm_group_by;
typedef struct dm_split_options {
    size_t struct_size;
    double train, val, test;  /* default 0.8, 0.1, 0.1: each in [0, 1], summing to 1 */
    size_t folds;             /* default 0: train/val/test; K >= 2: K folds instead */
    int stratify;             /* default 0; 1: each part keeps the label distribution */
    dm_group_by group_by;     /* default DM_GROUP_NONE: rows of one group never straddle parts */
    const dm_dedup_options *dedup; /* for DM_GROUP_NEAR_DUPLICATES; NULL: defaults */
    uint64_t seed;            /* default 42 */
} dm_split_options;
DM_API void dm_split_options_default(dm_split_options *opts);
/* Assigns every row of DS to a part: ASSIGN[i] (dm_dataset_size entries) gets
 * 0 (train), 1 (val) or 2 (test), or the fold 0 .. K-1. Part sizes are the
 * fractions rounded by largest remainder (per class when stratified); groups
 * go whole to one part, so sizes are then as close as the groups allow. No
 * row is lost or repeated. Report keys: parts (array of {name, rows,
 * per_class: {label: count}}), groups, seed. */
DM_API dm_status dm_dataset_split(const dm_dataset *ds, const dm_split_options *opts, int32_t *assign,
                                  char **report_json);

/* ---- resampling and class weights */
typedef enum dm_resample_strategy {
    DM_RESAMPLE_OVER = 0,  /* repeat random rows of smaller classes */
    DM_RESAMPLE_UNDER = 1  /* drop random rows of larger classes */
} dm_resample_strategy;
typedef struct dm_resample_options {
    size_t struct_size;
    dm_resample_strategy strategy; /* default DM_RESAMPLE_OVER */
    const double *target;  /* NULL: uniform; else dm_dataset_num_labels weights
                              (any positive scale) of the wanted distribution */
    size_t n_target;
    uint64_t seed;         /* default 42 */
} dm_resample_options;
DM_API void dm_resample_options_default(dm_resample_options *opts);
/* Over-sampling keeps every row and adds copies until the classes follow the
 * target (the class furthest above it stays as it is); under-sampling keeps a
 * random subset (the class furthest below it stays whole). Rows without a
 * label are kept as they are. DM_ERR_INVALID_ARGUMENT without labels.
 * Report keys: rows_in, rows_out, before and after ({label: count}). */
DM_API dm_status dm_dataset_resample(const dm_dataset *ds, const dm_resample_options *opts, dm_dataset **out,
                                     char **report_json);
/* Class weights as scikit-learn's compute_class_weight("balanced"):
 * n_rows / (n_classes * count[c]) over labelled rows; WEIGHTS gets
 * dm_dataset_num_labels entries (0 for a class with no rows). */
DM_API dm_status dm_dataset_class_weights(const dm_dataset *ds, double *weights);

/* ---- augmentation */
typedef enum dm_augment_op {
    DM_AUGMENT_EDA = 1,   /* synonym replacement (WordNet, or the synonyms file), random
                             insertion, swap, deletion (Wei & Zou 2019) */
    DM_AUGMENT_CHARS = 2  /* character noise: keyboard typos, swaps, deletions */
} dm_augment_op;
typedef struct dm_augment_options {
    size_t struct_size;
    unsigned ops;          /* default DM_AUGMENT_EDA; OR of dm_augment_op */
    size_t n;              /* default 4: new rows per source row (1 .. 10000) */
    double alpha_sr, alpha_ri, alpha_rs, alpha_rd; /* default 0.1 each: share of words changed */
    double char_rate;      /* default 0.05: share of characters changed by DM_AUGMENT_CHARS */
    const char *wordnet_dir; /* NULL: /usr/share/wordnet (Debian wordnet-base); "": no
                                WordNet (synonyms only from the synonyms file) */
    const char *synonyms_path; /* NULL or "": none; else a UTF-8 file, one group of
                                  synonyms per line separated by spaces or tabs ('_'
                                  inside a word is a space, a line starting with '#'
                                  is a comment), looked up before WordNet (for Chinese
                                  and other languages WordNet lacks) */
    int keep_original;     /* default 1: source rows come first in the output */
    uint64_t seed;         /* default 42 */
    dm_progress_fn progress; /* done/total in rows; may be NULL */
    void *progress_user;
} dm_augment_options;
DM_API void dm_augment_options_default(dm_augment_options *opts);
/* New rows made from each row's text, label kept. Each copy applies one EDA
 * operation, in rotation sr, ri, rs, rd (skipping those whose alpha is 0);
 * with both ops, odd copies are EDA and even copies character noise. Words
 * are runs of letters, marks, digits and apostrophes; WordNet lookups use
 * its morphology (movies -> movie); case and punctuation are kept. Han text
 * (more Han than other letters, or no spaces) is handled per character:
 * synonyms from the synonyms file (longest match), character insertion,
 * swap and deletion. The output has each source row (with keep_original)
 * followed by its copies; a "source_id" column (empty for source rows) and
 * ids "<source id>#aug<k>", k = 1 .. n (a copy equal to its source is
 * dropped, leaving a gap). Report keys: rows_in, rows_out, ops ({sr, ri, rs,
 * rd, chars}: copies kept), unchanged (copies dropped). WordNet and the
 * synonyms file are read only when sr or ri runs: DM_ERR_IO/DM_ERR_PARSE/
 * DM_ERR_UTF8 name the file and line. */
DM_API dm_status dm_dataset_augment(const dm_dataset *ds, const dm_augment_options *opts, dm_dataset **out,
                                    char **report_json);

/* ---- profile */
typedef struct dm_profile_options {
    size_t struct_size;
    const dm_tokenizer *tokenizer;  /* NULL: no token lengths */
    int near_duplicates;            /* default 1: count near duplicates (MinHash) */
    const dm_dedup_options *dedup;  /* NULL: defaults */
    const char *clean_report_json;  /* NULL, or dm_dataset_clean's report: drawn as the
                                       cleaning funnel */
    const char *title;              /* NULL: "Dataset profile" */
    dm_progress_fn progress;        /* may be NULL */
    void *progress_user;
} dm_profile_options;
DM_API void dm_profile_options_default(dm_profile_options *opts);
/* Profiles DS as one JSON object: rows, columns, labels, per_class ({label:
 * count}), imbalance_ratio (largest / smallest class), length_chars and
 * length_tokens ({min, p5, p25, p50, p75, p95, p99, max, mean, histogram}),
 * empty, exact_duplicates, near_duplicates, near_pairs, duplicate_clusters
 * (largest 10, with example texts), conflicts, scripts ({latin, han, other,
 * ...}: share of letters), skipped_rows ([{line, reason}]), clean (the
 * cleaning report when given). */
DM_API dm_status dm_dataset_profile(const dm_dataset *ds, const dm_profile_options *opts, char **json);
/* A self-contained HTML page (inline CSS and SVG; no script or network
 * access) drawing a profile: class balance, length histograms, duplicate
 * clusters with examples, cleaning funnel. PROFILE_JSON is
 * dm_dataset_profile's output. Release with dm_free. */
DM_API dm_status dm_profile_html(const char *profile_json, size_t len, char **html, size_t *html_len);

/* ------------------------------------------------------------------------ */
/* Privacy: detecting and anonymising personal data (PII)                    */
/* ------------------------------------------------------------------------ */
/* A dm_pii holds recognisers — the built-in ones below, user patterns and
 * deny-lists — an operator per entity type and, for the hash and encrypt
 * operators, a 32-byte key. Type names are Microsoft Presidio's. Patterns run
 * on PCRE2 with its JIT compiler; checksums and validators decide, not only
 * shapes (a 16-digit number that fails Luhn is not a card). Offsets are bytes
 * into the UTF-8 input, END exclusive. A dm_pii may be used from any number
 * of threads at once (detect, anonymize, decrypt, dm_dataset_anonymize); a
 * call that configures it (add_pattern, add_deny_list, set_operator,
 * set_key, load_key_file) while another thread uses it fails at once with
 * DM_ERR_BUSY: configure it before sharing it.
 *
 * Built-in types: EMAIL_ADDRESS; PHONE_NUMBER (E.164 international, North
 * American, UK, mainland-China mobile with or without +86 and separators);
 * CREDIT_CARD (13-19 digits, spaces or dashes, Luhn); IBAN_CODE (country
 * lengths, mod-97); IP_ADDRESS (IPv4, IPv6 with compressed forms); URL;
 * US_SSN (valid area, group and serial); CN_RESIDENT_ID (18 characters, a
 * real birth date, ISO 7064 MOD 11-2 check character). */
typedef struct dm_pii dm_pii;

typedef struct dm_pii_options {
    size_t struct_size;
    const char *const *types; /* NULL: every built-in type; else only these (built-in
                                 names; user recognisers are always on) */
    size_t n_types;
    int use_context;          /* default 1: context words (e.g. "card", "电话") shortly
                                 before a match raise its score */
    double min_score;         /* default 0.4: weaker entities are dropped */
    uint64_t match_limit;     /* default 1000000: PCRE2 match limit per match attempt of a
                                 user pattern (stops runaway backtracking) */
    dm_invalid_utf8 invalid_utf8; /* default DM_UTF8_ERROR (names the byte offset) */
    int threads;              /* default 0: all cores (dm_dataset_anonymize) */
} dm_pii_options;
DM_API void dm_pii_options_default(dm_pii_options *opts);
/* A handle with the built-in recognisers (OPTS NULL: defaults), every type
 * replaced by "<TYPE>", no key. DM_ERR_INVALID_ARGUMENT names an unknown type. */
DM_API dm_status dm_pii_create(const dm_pii_options *opts, dm_pii **out);
DM_API void dm_pii_free(dm_pii *pii);

/* Decides whether a user pattern's match is an entity: 1 yes, 0 no. */
typedef int (*dm_pii_validator_fn)(const char *match, size_t len, void *user);
/* Adds a recogniser: PATTERN (PCRE2 syntax, UTF-8 and Unicode properties on)
 * finds entities of TYPE (a name of capital letters, digits and '_'; a
 * built-in name adds to that type) with SCORE in (0, 1]; VALIDATOR (may be
 * NULL) must accept each match; CONTEXT (N_CONTEXT words, may be NULL) raise
 * the score when found shortly before. DM_ERR_PARSE names the pattern and the
 * offset where it does not compile. */
DM_API dm_status dm_pii_add_pattern(dm_pii *pii, const char *type, const char *pattern, double score,
                                    dm_pii_validator_fn validator, void *user, const char *const *context,
                                    size_t n_context);
/* Adds a deny-list: each of the N WORDS (matched whole, case-insensitively for
 * letters) is an entity of TYPE with SCORE. */
DM_API dm_status dm_pii_add_deny_list(dm_pii *pii, const char *type, const char *const *words, size_t n,
                                      double score);

typedef enum dm_pii_operator {
    DM_PII_REPLACE = 0, /* "<TYPE>" (the default for every type) */
    DM_PII_REDACT = 1,  /* removed */
    DM_PII_MASK = 2,    /* every character but the last keep_last replaced by mask_char
                           (a value no longer than keep_last is masked whole: a mask
                           never leaves a value fully visible) */
    DM_PII_HASH = 3,    /* keyed pseudonym "<TYPE_3f9a1c2b>": the first hash_chars hex
                           digits of HMAC-SHA-256(key, TYPE NUL value); the same value
                           always gives the same token under one key */
    DM_PII_ENCRYPT = 4, /* reversible: "<TYPE:base64url(nonce | ciphertext | tag)>",
                           XChaCha20-Poly1305 with a random nonce and TYPE as associated
                           data (libsodium); dm_pii_decrypt restores the value */
    DM_PII_KEEP = 5     /* left as it is (still detected and reported) */
} dm_pii_operator;
typedef struct dm_pii_operator_config {
    size_t struct_size;
    dm_pii_operator op;  /* default DM_PII_REPLACE */
    uint32_t mask_char;  /* default '*': a Unicode code point */
    size_t keep_last;    /* default 4: characters (code points) left unmasked at the end */
    size_t hash_chars;   /* default 8: hex digits of a pseudonym, 8 .. 64 */
} dm_pii_operator_config;
DM_API void dm_pii_operator_config_default(dm_pii_operator_config *cfg);
/* Sets the operator of TYPE, or with TYPE NULL of every type without one of
 * its own. */
DM_API dm_status dm_pii_set_operator(dm_pii *pii, const char *type, const dm_pii_operator_config *cfg);
/* Sets the key of the hash and encrypt operators: LEN must be 32 bytes. */
DM_API dm_status dm_pii_set_key(dm_pii *pii, const uint8_t *key, size_t len);
/* Reads the key from PATH: 64 hex characters (what `openssl rand -hex 32`
 * prints), optionally followed by a newline. DM_ERR_IO names an unreadable
 * file, DM_ERR_PARSE a malformed one (without echoing the key). */
DM_API dm_status dm_pii_load_key_file(dm_pii *pii, const char *path);

/* Entity I of a detection: TYPE is owned by the handle. */
typedef struct dm_pii_entity {
    const char *type;
    size_t start, end; /* bytes into the text, END exclusive */
    double score;
} dm_pii_entity;
/* Finds the entities of TEXT (LEN bytes) scoring at least min_score, in
 * order; overlaps are resolved by score, then length, then position.
 * *ENTITIES (release with dm_free; NULL when none) and *N. A user pattern that
 * exceeds match_limit is DM_ERR_RANGE naming its type and the byte offset. */
DM_API dm_status dm_pii_detect(const dm_pii *pii, const char *text, size_t len, dm_pii_entity **entities,
                               size_t *n);
/* TEXT with every entity passed through its type's operator: *OUT (release
 * with dm_free, NUL-terminated, *OUT_LEN bytes). ENTITIES and N (may be NULL)
 * get the entities as found in TEXT. When any configured operator is hash or
 * encrypt and no key is set, the call fails with DM_ERR_INVALID_ARGUMENT
 * before looking at the text (so a stream cannot fail halfway). */
DM_API dm_status dm_pii_anonymize(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len,
                                  dm_pii_entity **entities, size_t *n);
/* TEXT with every encrypted token restored: "<TYPE:" followed by at least 54
 * base64url characters (24-byte nonce + 16-byte tag) and ">"; shorter runs
 * are ordinary text. A token that does not authenticate under the key (a
 * wrong key, tampered or cut text, another type name) is DM_ERR_AUTH naming
 * its byte offset and type: nothing is ever returned half-decrypted. No key:
 * DM_ERR_INVALID_ARGUMENT. */
DM_API dm_status dm_pii_decrypt(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len);

/* Options of the batch calls below. */
typedef struct dm_pii_batch_options {
    size_t struct_size;
    int threads;             /* default 0: all cores; the results never depend on it */
    dm_progress_fn progress; /* done/total in texts, from the calling thread; may be
                                NULL; non-zero (true) cancels: DM_ERR_CANCELLED */
    void *progress_user;
} dm_pii_batch_options;
DM_API void dm_pii_batch_options_default(dm_pii_batch_options *opts);
/* dm_pii_anonymize over the N TEXTS (LENS[i] bytes each; LENS NULL: each text
 * is NUL-terminated) on opts->threads threads (OPTS NULL: defaults). Each
 * result is exactly what dm_pii_anonymize gives for that text alone, whatever
 * the thread count (encrypt tokens excepted: their nonces are random).
 * *OUTS and *OUT_LENS get N anonymised texts (each NUL-terminated) and their
 * lengths; ENTITIES and N_ENTITIES (both NULL, or both not) get each text's
 * entities as dm_pii_anonymize reports them (NULL when none). The texts and
 * entity arrays share a few blocks: release it all with one
 * dm_pii_batch_free, never one text at a time. The key check comes before
 * any text. When a text fails, the call fails, nothing is returned, and the
 * message starts with "text K: " (K counted from 0; the first failing text,
 * whatever the thread count). */
DM_API dm_status dm_pii_anonymize_batch(const dm_pii *pii, size_t n, const char *const *texts, const size_t *lens,
                                        const dm_pii_batch_options *opts, char ***outs, size_t **out_lens,
                                        dm_pii_entity ***entities, size_t **n_entities);
/* dm_pii_detect over N texts, as dm_pii_anonymize_batch: *ENTITIES and
 * *N_ENTITIES get each text's entities. */
DM_API dm_status dm_pii_detect_batch(const dm_pii *pii, size_t n, const char *const *texts, const size_t *lens,
                                     const dm_pii_batch_options *opts, dm_pii_entity ***entities,
                                     size_t **n_entities);
/* dm_pii_decrypt over N texts, as dm_pii_anonymize_batch (no entities). */
DM_API dm_status dm_pii_decrypt_batch(const dm_pii *pii, size_t n, const char *const *texts, const size_t *lens,
                                      const dm_pii_batch_options *opts, char ***outs, size_t **out_lens);
/* Releases what a batch call of N texts returned (any pointer may be NULL). */
DM_API void dm_pii_batch_free(size_t n, char **outs, size_t *out_lens, dm_pii_entity **entities,
                              size_t *n_entities);

/* Anonymises the text (and pair) column of DS into *OUT. Report keys: rows,
 * rows_changed, entities ({TYPE: count}), operators ({TYPE: operator name}).
 * AUDIT_PATH (may be NULL) gets one JSON line per entity: {"id", "column",
 * "type", "start", "end", "operator"} — never the value itself. */
DM_API dm_status dm_dataset_anonymize(const dm_dataset *ds, const dm_pii *pii, const char *audit_path,
                                      dm_dataset **out, char **report_json);

/* ------------------------------------------------------------------------ */
/* Privacy: encrypted files (data at rest)                                   */
/* ------------------------------------------------------------------------ */
/* Dataset and model files encrypted with libsodium's
 * crypto_secretstream_xchacha20poly1305 under a 32-byte key (a key file as
 * dm_pii_load_key_file reads it; `dm keygen FILE` writes one). The format,
 * version 1 (docs/privacy.md, "Encrypted files"):
 *
 *   bytes 0-7    "DMENC1" and two zero bytes (magic, version, reserved)
 *   bytes 8-31   the secretstream header (24 bytes)
 *   then chunks  each 64 KiB of plaintext (the last 0 .. 64 KiB) encrypted
 *                with 17 bytes added (tag and MAC) and bytes 0-7 as
 *                associated data; the last chunk, and only it, is tagged
 *                TAG_FINAL (an empty file is one empty final chunk).
 *
 * Reading refuses, with DM_ERR_AUTH and a message naming the file and the
 * chunk or byte offset: a file that does not start with "DMENC1" (not
 * encrypted, another version, a damaged header), a chunk that does not
 * authenticate (a wrong key, a changed byte, a cut inside a chunk, bytes
 * appended), and a file that ends without its TAG_FINAL chunk (cut at a
 * chunk boundary) or goes on after it. Outputs are written to a hidden
 * sibling and renamed into place only once complete: a refused file never
 * leaves an output behind. */

/* Encrypts the file IN_PATH into OUT_PATH (which may be IN_PATH) with KEY
 * (32 bytes) and a fresh random stream header. DM_ERR_IO names an unreadable
 * input or an output that cannot be written. */
DM_API dm_status dm_encrypt_file(const char *in_path, const char *out_path, const uint8_t key[32]);
/* Decrypts the dm-encrypted IN_PATH into OUT_PATH (created with mode 0600),
 * authenticating every chunk; DM_ERR_AUTH as above. */
DM_API dm_status dm_decrypt_file(const char *in_path, const char *out_path, const uint8_t key[32]);
/* Decrypts PATH in memory: *OUT (NUL-terminated, not counted in *LEN;
 * release with dm_free) gets the whole plaintext, only once every chunk
 * authenticated. Nothing is written to disk. Errors as dm_decrypt_file. */
DM_API dm_status dm_decrypt_to_memory(const char *path, const uint8_t key[32], uint8_t **out, size_t *len);
/* Reads a key file into KEY (32 bytes) with the parser of
 * dm_pii_load_key_file: 64 hex characters, optionally followed by a newline.
 * DM_ERR_IO for an unreadable file, DM_ERR_PARSE for a malformed one (the
 * message never echoes the key). */
DM_API dm_status dm_read_key_file(const char *path, uint8_t key[32]);
/* 1 when PATH starts with the magic "DMENC1" (a dm-encrypted file; nothing
 * is authenticated yet), 0 when it does not (an empty file included), -1
 * when it cannot be read (a missing file, a folder; dm_last_error says why). */
DM_API int dm_is_encrypted_file(const char *path);

/* ------------------------------------------------------------------------ */
/* Privacy: differential privacy accounting (DP-SGD)                         */
/* ------------------------------------------------------------------------ */

/* The (epsilon, delta) spent by STEPS steps of DP-SGD (the subsampled
 * Gaussian mechanism): each step samples every row with probability
 * SAMPLE_RATE (Poisson sampling: the expected batch over the rows), clips
 * each example's gradient to norm C and adds Gaussian noise of standard
 * deviation NOISE_MULTIPLIER x C. The Rényi-DP accountant computed as
 * Opacus' RDPAccountant does (its orders 1.1 ... 10.9, 12 ... 63, the
 * conversion of Balle et al. 2020): the same epsilon to 1e-9. *ORDER (may be
 * NULL) gets the Rényi order that gave it. Nothing released (STEPS 0 or
 * SAMPLE_RATE 0) spends epsilon 0; NOISE_MULTIPLIER 0 is infinite epsilon.
 * DM_ERR_INVALID_ARGUMENT: SAMPLE_RATE outside [0, 1], DELTA outside (0, 1),
 * a negative or infinite NOISE_MULTIPLIER. */
DM_API dm_status dm_dp_epsilon(double noise_multiplier, double sample_rate, uint64_t steps, double delta,
                               double *epsilon, double *order);

/* The same epsilon by the PRV accountant (Gopi, Lee and Wutschitz 2021),
 * computed as Opacus' PRVAccountant does: the privacy random variable of one
 * step truncated to a domain the RDP accountant bounds, discretised on a mesh
 * of EPS_ERROR / sqrt(STEPS log(12 / delta_error) / 2) (delta_error = DELTA /
 * 1000), composed STEPS times by FFT; *EPSILON gets Opacus' upper
 * bound (its estimate at DELTA - delta_error, plus EPS_ERROR), tighter than
 * dm_dp_epsilon's for many steps. EPS_ERROR 0 is Opacus' 0.01. Opacus'
 * values to 4e-10 typically, 2e-7 x max(epsilon, 1) at worst: the answer is
 * that sensitive to rounding (test_dp_accountant.c). Time and memory grow
 * with the domain: about 4e5 points (0.2 s) for sigma 1.5, rate 0.04, 2250
 * steps. Nothing released is epsilon 0, NOISE_MULTIPLIER 0 infinite.
 * DM_ERR_INVALID_ARGUMENT as dm_dp_epsilon, and a negative, NaN or infinite
 * EPS_ERROR; DM_ERR_RANGE where the domain would need over 2^26 points (use
 * dm_dp_epsilon or a larger EPS_ERROR), DELTA is too small for the domain's
 * rounding, or epsilon falls outside the domain. */
DM_API dm_status dm_dp_epsilon_prv(double noise_multiplier, double sample_rate, uint64_t steps, double delta,
                                   double eps_error, double *epsilon);

/* The noise multiplier that keeps STEPS steps at SAMPLE_RATE within
 * (EPSILON, DELTA), as Opacus' get_noise_multiplier finds it: doubled from 10
 * until the budget holds, then bisected until the epsilon spent is within
 * TOLERANCE (0: Opacus' 0.01) below EPSILON; the result never spends more
 * than EPSILON. DM_ERR_RANGE when even a multiplier of 1e6 spends more (the
 * budget is too small); DM_ERR_INVALID_ARGUMENT for EPSILON <= 0 and as
 * dm_dp_epsilon. */
DM_API dm_status dm_dp_noise_multiplier(double epsilon, double delta, double sample_rate, uint64_t steps,
                                        double tolerance, double *noise_multiplier);

/* The one-run privacy audit (Steinke, Nasr and Jagielski, "Privacy Auditing
 * with One (1) Training Run", NeurIPS 2023): M canaries, each put in the
 * training set independently with probability 1/2; after training the
 * auditor guesses "in" or "out" for R of them (abstaining on the rest), V
 * guesses right. *EPSILON_LB gets the largest epsilon that the result
 * certifies at confidence 1 - BETA: a training run that were (epsilon,
 * DELTA)-DP for a smaller epsilon would make V or more right guesses with
 * probability below BETA. The bound is the closed form the paper gives for
 * (epsilon, delta)-DP (Corollary 5.4 in arXiv 2305.08846v1) and computes in
 * its Appendix D code: with W ~ Binomial(R, e^eps / (e^eps + 1)),
 *   p(eps) = P[W >= V] + 2 M DELTA max_{i=1..V} P[V > W >= V - i] / i
 * (DELTA 0: the binomial tail alone), and epsilon_lb the largest eps with
 * p(eps) < BETA, bisected to 1e-9 (the low end: certified). 0 when nothing
 * is certified (p(0) >= BETA: no better than chance, or too few guesses).
 * It reproduces the paper's 0.673 for M 1000, R 100, V 75, DELTA 1e-4,
 * BETA 0.05. DM_ERR_INVALID_ARGUMENT: R > M, V > R, DELTA outside [0, 1),
 * BETA outside (0, 1), EPSILON_LB NULL. */
DM_API dm_status dm_dp_audit_epsilon(uint64_t m, uint64_t r, uint64_t v, double delta, double beta,
                                     double *epsilon_lb);

/* The guesses of that audit from M canaries' membership SCORES (higher: more
 * likely in) and INCLUDED (1: the canary was in the training set, 0: out):
 * "in" for the K_PLUS highest scores, "out" for the K_MINUS lowest, the rest
 * abstained; ties ranked by position (the earlier canary counts as higher).
 * *R = K_PLUS + K_MINUS guesses, *V of them right. DM_ERR_INVALID_ARGUMENT:
 * K_PLUS + K_MINUS > M, a NaN score, an INCLUDED value other than 0 or 1, a
 * NULL pointer. */
DM_API dm_status dm_dp_audit_guesses(size_t m, const double *scores, const uint8_t *included, size_t k_plus,
                                     size_t k_minus, uint64_t *r, uint64_t *v);

/* ------------------------------------------------------------------------ */
/* Evaluation metrics                                                        */
/* ------------------------------------------------------------------------ */

typedef struct dm_class_metrics {
    double precision, recall, f1; /* 0 when undefined, as scikit-learn's zero_division=0 */
    uint64_t support;             /* true examples of the class */
    double roc_auc;               /* one-vs-rest; NaN when undefined (no positives or negatives) */
} dm_class_metrics;

/* Classification metrics, equal to scikit-learn's on the same predictions.
 * Fields may be added at the end in later minor versions. */
typedef struct dm_eval_report {
    size_t n_examples;
    size_t n_classes;
    const char *const *label_names; /* n_classes names */
    double accuracy;
    double macro_precision, macro_recall, macro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
    double log_loss;      /* NaN without probabilities */
    double roc_auc;       /* binary: of class 1's probability; else the one-vs-rest
                             macro average over every class, as scikit-learn's: NaN
                             when any class's AUC is undefined (a class with no true
                             examples, or with all of them; the others' AUCs are in
                             per_class) and without probabilities */
    double loss;          /* mean cross-entropy from the model (NaN from dm_metrics_compute) */
    dm_class_metrics *per_class;   /* n_classes entries */
    uint64_t *confusion;  /* n_classes * n_classes, row = true class, column = predicted */
} dm_eval_report;

/* Computes the report from true and predicted class ids (0 .. N_CLASSES-1) and,
 * optionally, class probabilities (N x N_CLASSES, each in [0, 1], used as
 * given: like scikit-learn 1.9, rows are not renormalised). LABEL_NAMES may be
 * NULL (names become "0", "1", ...). One class is allowed (the report of
 * classification_report(labels=[a])), without probabilities. Errors:
 * DM_ERR_INVALID_ARGUMENT (NULL arrays or label name), DM_ERR_RANGE (N = 0,
 * N_CLASSES = 0, probabilities with N_CLASSES = 1, a class id out of range, a
 * probability outside [0, 1], a row of zeros), DM_ERR_NUMERIC (a NaN or
 * infinite probability), DM_ERR_UTF8 (a label name); each names the index. */
DM_API dm_status dm_metrics_compute(size_t n, size_t n_classes, const int32_t *y_true,
                                    const int32_t *y_pred, const float *probs,
                                    const char *const *label_names, dm_eval_report **out);

/* The report as one JSON object: accuracy, macro_f1, macro/weighted averages,
 * per_class (name -> precision, recall, f1, support, roc_auc), confusion_matrix,
 * log_loss, roc_auc, labels (NaN as null). Label names must be distinct
 * (per_class is keyed by name). Release with dm_free. */
DM_API dm_status dm_eval_report_json(const dm_eval_report *r, char **out, size_t *len);

/* The report as text, laid out like scikit-learn's classification_report
 * with DIGITS decimals (0 to 100; 0 rounds every score to a whole number, as
 * classification_report(digits=0) does; its default is 2), followed by the
 * confusion matrix. Release with dm_free. */
DM_API dm_status dm_eval_report_text(const dm_eval_report *r, int digits, char **out, size_t *len);

DM_API void dm_eval_report_free(dm_eval_report *r);

/* ------------------------------------------------------------------------ */
/* Transformer classifier (BERT family)                                      */
/* ------------------------------------------------------------------------ */

/* A BERT encoder with a sequence-classification head, its tokenizer and its
 * label names, on a compute backend. Loaded from and saved to Hugging Face
 * model folders (config.json, model.safetensors, tokenizer files).
 * Threads: any call on a model may come from any thread. Calls on one model
 * are serialised by the model itself (a call waits for the one in progress
 * on another thread, so results are those of the call alone); while dm_train
 * runs on a model, calls from other threads fail at once with DM_ERR_BUSY.
 * For parallel inference, load one model per thread. dm_model_free must not
 * overlap any other call on the same model. */
typedef struct dm_model dm_model;

typedef enum dm_device {
    DM_DEVICE_AUTO = 0, /* CUDA when built with it and a GPU is present, else CPU */
    DM_DEVICE_CPU = 1,  /* the CPU (the cpu-onednn backend; cpu-ref in a build without
                           oneDNN, or with the environment variable DM_BACKEND=cpu-ref) */
    DM_DEVICE_CUDA = 2
} dm_device;

typedef enum dm_precision {
    DM_PRECISION_FP32 = 0, /* float32 throughout (default): equal to PyTorch's float32 to ~1e-6 */
    DM_PRECISION_BF16 = 1  /* matrix products take bfloat16 inputs and accumulate in float32 */
} dm_precision;

typedef struct dm_model_options {
    size_t struct_size;
    size_t num_labels;         /* 0: from config.json (id2label / num_labels) or LABELS;
                                  else this many (a head of another size is replaced) */
    const char *const *labels; /* label names in id order; NULL: from config.json, else
                                  "LABEL_0", "LABEL_1", ... as Hugging Face names them */
    size_t n_labels;
    uint64_t seed;             /* default 42: the new head's initialisation */
    dm_device device;          /* default DM_DEVICE_AUTO */
    int threads;               /* default 0: all cores */
    dm_precision precision;    /* of inference; default DM_PRECISION_FP32 */
    int new_head;              /* default 0: keep the folder's trained head when it has
                                  the labels asked; 1: always a new head */
    const uint8_t *key;        /* NULL: plain weights; else 32 bytes: the weights are
                                  dm-encrypted (model.safetensors.enc, or a
                                  model.safetensors written by dm_encrypt_file) and
                                  are decrypted in memory, never on disk */
} dm_model_options;

DM_API void dm_model_options_default(dm_model_options *opts);

/* Loads a Hugging Face model folder: config.json (model_type "bert";
 * architectures BertModel, BertForSequenceClassification, or a
 * sentence-transformers folder), model.safetensors (F32, F16 or BF16 tensors,
 * read into float32) and the tokenizer (tokenizer.json or vocab.txt). Without
 * a classification head in the weights, with one of another size than
 * asked, or with opts->new_head, a new head is initialised from opts->seed
 * (normal, std initializer_range, zero bias, as Hugging Face does); a
 * missing pooler too.
 * Labels never silently change meaning: opts->labels naming the folder's
 * trained labels in another order reorder the head's rows (each name keeps
 * its weights); other names over a head trained for real names (not
 * LABEL_0, LABEL_1, ...) are DM_ERR_INVALID_ARGUMENT unless new_head is set.
 * A config.json whose label count differs from the head's rows, whose
 * label2id gives a label of id2label another id, or whose labels are a
 * reordering of those the weights were saved with (dm_model_save records
 * them in model.safetensors' metadata, "dm_labels") is DM_ERR_PARSE: the
 * files do not belong together.
 * Errors name the file and the field or tensor: DM_ERR_IO, DM_ERR_PARSE,
 * DM_ERR_NOT_FOUND (every missing file named at once, a training checkpoint
 * cut short called one; a required config field or tensor), DM_ERR_RANGE (a
 * tensor of the wrong shape: expected and found), DM_ERR_UNSUPPORTED
 * (another model_type, activation, position embedding type or dtype),
 * DM_ERR_NUMERIC (a NaN or infinite weight: the tensor, the count and the
 * first one named).
 * Encrypted weights (data at rest; docs/privacy.md): a folder holding
 * model.safetensors.enc instead of model.safetensors, or a model.safetensors
 * that starts with the "DMENC1" magic, is read with opts->key: the file is
 * decrypted in memory (as dm_decrypt_to_memory: DM_ERR_AUTH for a wrong key,
 * a tampered or a cut file) and the plaintext wiped once the tensors are
 * read. config.json and the tokenizer files are always plain. Encrypted
 * weights without a key are DM_ERR_INVALID_ARGUMENT saying that they need
 * it; a key with plain weights is DM_ERR_AUTH (a key promises an
 * authenticated file); both model.safetensors and model.safetensors.enc in
 * the folder is DM_ERR_INVALID_ARGUMENT (which one is meant is unclear).
 * dm_model_save writes plain weights (and removes a model.safetensors.enc). */
DM_API dm_status dm_model_load(const char *dir, const dm_model_options *opts, dm_model **out);

/* Saves to DIR (created if needed) as a BertForSequenceClassification folder
 * that transformers' AutoModelForSequenceClassification opens: config.json
 * (architectures, num_labels, id2label, label2id), model.safetensors (F32, HF
 * tensor names; the label names in its metadata), the tokenizer files.
 * The folder is written whole: built in a hidden sibling and swapped in at
 * once, so a crash, a full disk, a kill or a second writer leaves either the
 * old folder or the new one, never a mix. Other entries of an existing DIR
 * (checkpoint-N folders, logs, a README) are kept; model files the new
 * folder does not have (pytorch_model.bin, a stale tokenizer.json) are
 * removed. What a killed writer left behind is tidied by the next save. When
 * DIR's parent cannot be written, the files are renamed into DIR one by one,
 * config.json last (the label stamp then catches a mix). Non-finite weights
 * are never written: DM_ERR_NUMERIC naming the tensor. */
DM_API dm_status dm_model_save(const dm_model *model, const char *dir);

DM_API void dm_model_free(dm_model *model);

typedef struct dm_model_info {
    size_t struct_size;
    size_t vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    size_t max_position_embeddings, type_vocab_size;
    size_t num_labels;
    size_t num_parameters;     /* float parameters, head included */
    int new_head;              /* 1 when the head was initialised at load */
    dm_device device;          /* the backend in use */
    const char *backend_name;  /* e.g. "cpu-onednn" */
    dm_precision precision;    /* of inference */
    size_t num_trainable_parameters; /* floats of the trainable tensors (dm_model_set_trainable) */
    size_t memory_bytes;       /* the backend's memory held now (GPU memory on CUDA): weights,
                                  activations, gradients, optimizer state */
    size_t memory_peak_bytes;  /* the most it has held since the model was loaded */
} dm_model_info;

DM_API dm_status dm_model_get_info(const dm_model *model, dm_model_info *info);

/* The name of label ID, or NULL when out of range. */
DM_API const char *dm_model_label_name(const dm_model *model, int32_t id);

/* The model's tokenizer (owned by the model). */
DM_API const dm_tokenizer *dm_model_tokenizer(const dm_model *model);

/* Threads for compute (0 = all cores). */
DM_API dm_status dm_model_set_threads(dm_model *model, int threads);

/* The precision of inference (dm_model_forward, predict, embed, evaluate, and
 * the evaluations during training). With DM_PRECISION_BF16 the weights and the
 * activations entering each matrix product are rounded to bfloat16 (nearest
 * even); LayerNorm, softmax, GELU and the head stay float32. On CPUs with
 * AVX512-BF16 this is about twice as fast; results differ from float32 by
 * about 1e-2 relative (bfloat16 keeps 8 significant bits). Training always
 * computes in float32. DM_ERR_UNSUPPORTED when the backend has no bfloat16
 * matrix products on this machine. */
DM_API dm_status dm_model_set_precision(dm_model *model, dm_precision precision);

/* The encoder and head on token ids: BATCH sequences of SEQ_LEN ids, with
 * token type ids and attention mask (1 = real token, 0 = padding; NULL =
 * all ones). Writes LOGITS (BATCH x num_labels) and, when not NULL, the last
 * hidden states (BATCH x SEQ_LEN x hidden_size) and the pooler output (BATCH
 * x hidden_size). Dropout is off. */
DM_API dm_status dm_model_forward(dm_model *model, size_t batch, size_t seq_len, const int32_t *ids,
                                  const int32_t *type_ids, const uint8_t *attention_mask,
                                  float *logits, float *hidden, float *pooled);

typedef enum dm_pooling {
    DM_POOL_DEFAULT = 0, /* the folder's sentence-transformers pooling, else CLS */
    DM_POOL_CLS = 1,
    DM_POOL_MEAN = 2     /* mean over real tokens (attention mask) */
} dm_pooling;

typedef struct dm_infer_options {
    size_t struct_size;
    size_t max_length;   /* 0: sentence-transformers' max_seq_length for embeddings,
                            else max_position_embeddings; longer texts are truncated */
    size_t batch_size;   /* default 32; texts are sorted by length into batches */
    dm_pooling pooling;  /* embeddings only */
    int normalize;       /* embeddings only: -1 (default) as the folder says
                            (sentence-transformers Normalize module), 0 or 1 */
    dm_invalid_utf8 invalid_utf8;
    dm_progress_fn progress; /* done/total in texts; may be NULL */
    void *progress_user;
} dm_infer_options;

DM_API void dm_infer_options_default(dm_infer_options *opts);

/* Logits and probabilities for N texts (and pairs when PAIRS is not NULL).
 * LOGITS and PROBS (softmax) are N x num_labels and may be NULL; LABELS (the
 * argmax) has N entries and may be NULL. Logits that are not finite (weights
 * or inputs that overflow) are DM_ERR_NUMERIC naming the text, never a
 * prediction (the argmax of NaNs would be label 0); the same holds for
 * dm_model_forward, dm_model_embed and dm_model_evaluate. */
DM_API dm_status dm_model_predict(dm_model *model, size_t n, const char *const *texts,
                                  const size_t *lens, const char *const *pairs,
                                  const size_t *pair_lens, const dm_infer_options *opts,
                                  float *logits, float *probs, int32_t *labels);

/* Sentence embeddings (N x hidden_size) of N texts, pooled as opts say. */
DM_API dm_status dm_model_embed(dm_model *model, size_t n, const char *const *texts,
                                const size_t *lens, const dm_infer_options *opts, float *out);

/* Predicts every row of DS (which must have labels, named as the model's
 * labels) and computes the report, with the mean cross-entropy as loss. */
DM_API dm_status dm_model_evaluate(dm_model *model, const dm_dataset *ds,
                                   const dm_infer_options *opts, dm_eval_report **out);

/* ------------------------------------------------------------------------ */
/* Fine-tuning (AdamW)                                                       */
/* ------------------------------------------------------------------------ */

/* Training is built from three public pieces, so that a program can write
 * its own loop (examples/custom_loop.c) or let dm_train (a thin wrapper over
 * dm_trainer) run the usual one:
 *  - the model's forward and backward pass on a batch of token ids, adding
 *    to gradients the model keeps for its trainable tensors;
 *  - dm_optimizer: AdamW over those tensors (schedule, clipping, state);
 *  - dm_trainer: data (tokenized once), batches, evaluation, checkpoints. */

/* Marks the tensors whose Hugging Face names start with PREFIX (e.g.
 * "bert.embeddings.", "bert.encoder.layer.0.", "" for all) as trainable
 * (1) or frozen (0); all are trainable at load. A frozen tensor gets no
 * gradient and no optimizer state, its weight-gradient products are skipped,
 * and the backward pass stops below the lowest trainable layer. A layer's
 * query, key and value are trained or frozen together (DM_ERR_UNSUPPORTED
 * otherwise). DM_ERR_NOT_FOUND when no tensor matches; DM_ERR_BUSY while an
 * optimizer of the model exists (its state follows the trainable tensors):
 * free it first. Gradients accumulated so far are dropped. */
DM_API dm_status dm_model_set_trainable(dm_model *model, const char *prefix, int trainable);

/* Whether the tensor NAME (a Hugging Face name) is trainable: 1, 0, or -1
 * when the model has no such tensor. */
DM_API int dm_model_is_trainable(const dm_model *model, const char *name);

/* The model's tensors, in the order model.safetensors is written. */
typedef struct dm_tensor_info {
    size_t struct_size;
    const char *name;  /* the Hugging Face name, owned by the model */
    size_t ndim;       /* 1 or 2 */
    size_t shape[2];   /* shape[1] is 0 for a vector */
    size_t numel;
    int trainable;
} dm_tensor_info;

DM_API size_t dm_model_num_tensors(const dm_model *model);
/* Tensor I (0 .. dm_model_num_tensors - 1); DM_ERR_RANGE beyond. */
DM_API dm_status dm_model_tensor_info(const dm_model *model, size_t i, dm_tensor_info *info);

/* One batch of token ids, for dm_model_forward_backward. */
typedef struct dm_batch {
    size_t struct_size;
    size_t batch, seq_len;
    const int32_t *ids;            /* batch x seq_len token ids */
    const int32_t *type_ids;       /* NULL: all 0 */
    const uint8_t *attention_mask; /* NULL: all 1; every row needs a 1 */
    const int32_t *labels;         /* batch label ids of the model; -1: no loss */
    const float *weights;          /* batch per-example loss weights >= 0; NULL: all 1 */
} dm_batch;

typedef struct dm_backward_options {
    size_t struct_size;
    double grad_scale; /* default 1: adds the gradients of grad_scale * sum_i w_i loss_i */
    double dropout;    /* default -1: config.json's rates; 0: off; else every rate */
    uint64_t seed;     /* default 42 */
    uint64_t stream;   /* default 0: with seed, names the dropout masks (use a new
                          one per batch: e.g. the batch's number); below 2^32 */
} dm_backward_options;

DM_API void dm_backward_options_default(dm_backward_options *opts);

/* The forward and backward pass on BATCH: cross-entropy loss_i of each
 * example (log-sum-exp in double), *LOSS_SUM (may be NULL) = sum_i w_i loss_i,
 * LOGITS (may be NULL) the batch x num_labels logits, and the gradients of
 * grad_scale * sum_i w_i loss_i ADDED to the model's gradients (trainable
 * tensors only; they accumulate over calls until dm_optimizer_step clears
 * them, or dm_model_zero_grad). The mean loss of a batch is grad_scale =
 * 1 / sum_i w_i. Errors as dm_model_forward, DM_ERR_RANGE for a label out of
 * range, DM_ERR_INVALID_ARGUMENT for a negative or non-finite weight,
 * DM_ERR_NUMERIC for a NaN or infinite loss (then no gradient is added).
 * One readback to the host per call. */
DM_API dm_status dm_model_forward_backward(dm_model *model, const dm_batch *batch,
                                           const dm_backward_options *opts, double *loss_sum,
                                           float *logits);

/* Sets the model's gradients to zero. */
DM_API dm_status dm_model_zero_grad(dm_model *model);

/* The model's gradient of tensor NAME into OUT (its element count, as
 * safetensors lays it out): DM_ERR_NOT_FOUND for an unknown name,
 * DM_ERR_INVALID_ARGUMENT for a frozen tensor (it has none). */
DM_API dm_status dm_model_get_grad(dm_model *model, const char *name, float *out, size_t n);

/* AdamW (PyTorch's torch.optim.AdamW) over a model's trainable tensors. */
typedef struct dm_optimizer dm_optimizer;

typedef enum dm_lr_schedule {
    DM_SCHEDULE_LINEAR = 0,   /* linear warmup, then linear decay to 0 (HF default) */
    DM_SCHEDULE_CONSTANT = 1, /* linear warmup, then constant */
    DM_SCHEDULE_COSINE = 2    /* linear warmup, then half a cosine to 0 */
} dm_lr_schedule;

typedef struct dm_optimizer_options {
    size_t struct_size;
    double learning_rate;      /* default 5e-5: the peak, after warmup */
    double weight_decay;       /* default 0.01; decoupled; never on biases and LayerNorm weights */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    double max_grad_norm;      /* default 1.0: clip the global norm; 0 = no clipping */
    dm_lr_schedule schedule;   /* default DM_SCHEDULE_LINEAR */
    uint64_t warmup_steps;     /* default 0 */
    uint64_t total_steps;      /* the schedule's length; 0 (default): constant after warmup */
} dm_optimizer_options;

DM_API void dm_optimizer_options_default(dm_optimizer_options *opts);

/* An optimizer over MODEL's tensors trainable now (its moments exist for
 * those only). The model must outlive it; while it exists the trainable set
 * is fixed (dm_model_set_trainable answers DM_ERR_BUSY). */
DM_API dm_status dm_optimizer_create(dm_model *model, const dm_optimizer_options *opts, dm_optimizer **out);
DM_API void dm_optimizer_free(dm_optimizer *opt);

typedef struct dm_optimizer_step_info {
    size_t struct_size;
    uint64_t step;          /* steps done, this one included */
    double learning_rate;   /* used for this step */
    double grad_norm;       /* the global norm before clipping */
} dm_optimizer_step_info;

/* One AdamW step with the model's gradients: global-norm clipping, the
 * scheduled learning rate, the update, then the gradients set to zero.
 * INFO may be NULL. A NaN or infinite gradient norm is DM_ERR_NUMERIC before
 * anything changes; an update that makes the weights non-finite (a huge
 * learning rate) is DM_ERR_NUMERIC after it. */
DM_API dm_status dm_optimizer_step(dm_optimizer *opt, dm_optimizer_step_info *info);

/* The steps done so far (after dm_optimizer_load: those of the saved state). */
DM_API uint64_t dm_optimizer_steps(const dm_optimizer *opt);

/* The state (AdamW moments of every trainable tensor under its name, the
 * step count, the options) to PATH (safetensors, written atomically), and
 * back: loading refuses a state of other tensors or other options. */
DM_API dm_status dm_optimizer_save(const dm_optimizer *opt, const char *path);
DM_API dm_status dm_optimizer_load(dm_optimizer *opt, const char *path);

/* DP-SGD on a model (Abadi et al. 2016, as Opacus): each example's gradient
 * clipped to norm max_grad_norm C over every trainable tensor, the clipped
 * gradients summed, Gaussian noise of standard deviation noise_multiplier x
 * C added to the sum. The per-example norms come from one extra backward
 * pass without weight-gradient products ("ghost clipping": the norm of a
 * linear layer's per-example gradient from its inputs and output gradients,
 * sum_{t,s} (a_t . a_s)(g_t . g_s), exact norms for LayerNorm, embeddings and
 * biases; no per-example gradient is ever stored), then the clipped sum
 * from the output gradients the norm pass kept (book-keeping: each example's
 * scaled by its clipping factor min(1, C / (norm + 1e-6)), then the weight-
 * gradient products alone), or, when those buffers do not fit in memory,
 * from one more backward pass with each loss weighted by its factor. The noise comes from libsodium's ChaCha20
 * (randombytes_buf_deterministic) keyed from the OS (randombytes_buf), or
 * from NOISE_SEED in tests. The passes use float32 products whatever the
 * model's inference precision (dm_train refuses DP with bfloat16 mixed
 * precision: its products would not be the gradients whose norm was bounded).
 * A dm_dp is used by one thread at a time: its counters and its noise stream
 * advance with each call. */
typedef struct dm_dp dm_dp;

typedef struct dm_dp_options {
    size_t struct_size;
    double max_grad_norm;    /* C, default 1.0 (> 0) */
    double noise_multiplier; /* sigma; default 0: chosen from target_epsilon */
    double target_epsilon;   /* default 0: none (noise_multiplier given) */
    double delta;            /* default 1e-5, in (0, 1) */
    double sample_rate;      /* q in (0, 1]: each row's probability to be in a batch */
    uint64_t steps;          /* the planned steps (to choose sigma for target_epsilon) */
    uint64_t noise_seed;     /* default 0: keyed from the OS; else a fixed stream (tests) */
} dm_dp_options;

DM_API void dm_dp_options_default(dm_dp_options *opts);

/* A DP-SGD transform from OPTS: with target_epsilon > 0 the noise multiplier
 * is dm_dp_noise_multiplier(target_epsilon, delta, sample_rate, steps);
 * else noise_multiplier must be > 0. DM_ERR_INVALID_ARGUMENT names the bad
 * option (epsilon <= 0, delta outside (0, 1), q outside (0, 1], C <= 0, no
 * noise), DM_ERR_RANGE a budget too small for the planned steps. */
DM_API dm_status dm_dp_create(const dm_dp_options *opts, dm_dp **out);
DM_API void dm_dp_free(dm_dp *dp);

typedef struct dm_dp_info {
    size_t struct_size;
    double noise_multiplier, max_grad_norm, sample_rate, delta;
    uint64_t steps;          /* noisy steps taken (dm_dp_add_noise calls) */
    double epsilon;          /* spent so far (RDP accountant, as Opacus) */
    uint64_t clipped;        /* examples whose gradient was clipped so far */
    uint64_t examples;       /* examples seen so far */
} dm_dp_info;

DM_API dm_status dm_dp_get_info(const dm_dp *dp, dm_dp_info *info);

/* Each example's gradient norm: NORMS[i] = || d(w_i loss_i) / d(trainable
 * tensors) || for example i of BATCH (its weight w_i, 1 without weights; 0
 * for a row without a label), with the dropout OPTS says (NULL: defaults;
 * grad_scale is ignored). The model's gradients are not changed. */
DM_API dm_status dm_dp_example_norms(dm_model *model, const dm_batch *batch, const dm_backward_options *opts,
                                     float *norms);

/* As dm_model_forward_backward, but what is ADDED to the model's gradients
 * is grad_scale x sum_i clip_i grad(w_i loss_i), clip_i = min(1, C / (norm_i
 * + 1e-6)). NORMS (may be NULL) gets the per-example norms before clipping. */
DM_API dm_status dm_dp_forward_backward(dm_dp *dp, dm_model *model, const dm_batch *batch,
                                        const dm_backward_options *opts, double *loss_sum, float *norms);

/* Adds Gaussian noise of standard deviation GRAD_SCALE x sigma x C to every
 * trainable gradient of MODEL and counts one step for the accountant: call
 * it once per optimizer step, after the step's dm_dp_forward_backward calls
 * and before dm_optimizer_step (whose max_grad_norm should be 0). With the
 * mean over an expected batch L = q N, GRAD_SCALE is 1 / L in both calls. */
DM_API dm_status dm_dp_add_noise(dm_dp *dp, dm_model *model, double grad_scale);


/* What a training callback sees. Fields may be added at the end. */
typedef struct dm_train_progress {
    size_t struct_size;
    uint64_t step, total_steps; /* optimizer steps */
    double epoch;               /* fractional: 1.5 = half-way through the second epoch */
    int epochs;
    double loss;                /* the last step's mean training loss */
    double learning_rate;       /* used for the last step */
    double grad_norm;           /* before clipping */
    double examples_per_sec;
    double elapsed_sec, eta_sec;
    int evaluated;              /* 1 when this call reports an evaluation */
    double val_loss, val_accuracy, val_macro_f1; /* NaN when none */
    double dp_epsilon;          /* DP-SGD: epsilon spent so far; NaN without DP */
} dm_train_progress;

/* Called after every optimizer step and after every evaluation; return
 * non-zero to stop (dm_train then returns DM_ERR_CANCELLED, the model holding
 * the weights of the last step). */
typedef int (*dm_train_fn)(const dm_train_progress *p, void *user);

/* How an epoch's shuffled rows become batches (dm_train_options.group_by_length).
 * Grouping rows of similar length pads less: about twice the speed on SST-2. */
typedef enum dm_length_grouping {
    DM_LENGTHS_MIXED = 0,   /* batches in the shuffled order */
    DM_LENGTHS_SORTED = 1,  /* megabatches of 50 batches, each sorted longest first and
                               taken in that order (Hugging Face's LengthGroupedSampler) */
    DM_LENGTHS_BUCKETS = 2  /* the same batches, each megabatch's in a random order (the
                               default: as fast as sorted, and without the run of longest-
                               to-shortest batches that cost sorted about a point of
                               accuracy in our SST-2 runs; docs/model.md) */
} dm_length_grouping;

typedef struct dm_train_options {
    size_t struct_size;
    int epochs;                /* default 3 */
    uint64_t max_steps;        /* 0 (default): from epochs; else stop after this many steps */
    size_t batch_size;         /* default 32: examples per optimizer step is
                                  batch_size * grad_accum */
    int grad_accum;            /* default 1 */
    double learning_rate;      /* default 5e-5 */
    double weight_decay;       /* default 0.01; never on biases and LayerNorm weights */
    double adam_beta1, adam_beta2, adam_epsilon; /* 0.9, 0.999, 1e-8 */
    double max_grad_norm;      /* default 1.0; 0 = no clipping */
    dm_lr_schedule schedule;   /* default DM_SCHEDULE_LINEAR */
    double warmup_ratio;       /* default 0.0: fraction of total steps */
    uint64_t warmup_steps;     /* overrides warmup_ratio when non-zero */
    size_t max_length;         /* default 128: longer texts are truncated */
    uint64_t seed;             /* default 42: shuffling and dropout */
    double dropout;            /* default -1: config.json's; else every dropout rate */
    int shuffle;               /* default 1 */
    int group_by_length;       /* a dm_length_grouping; default DM_LENGTHS_BUCKETS */
    const float *class_weights; /* NULL: none; else num_labels weights for the loss */
    int balanced_class_weights; /* 1: weights n / (k * count), as scikit-learn's "balanced" */
    uint64_t eval_steps;       /* 0 (default): evaluate after every epoch when a validation
                                  set is given; else every this many steps */
    int early_stopping_patience; /* 0 (default): off; else stop after this many
                                    evaluations without a better validation metric */
    int keep_best;             /* default 1: end with the weights of the best evaluation */
    const char *output_dir;    /* NULL: nothing written; else the final model (and the
                                  best, when keep_best) is saved here, and checkpoints
                                  go to OUTPUT_DIR/checkpoint-STEP */
    uint64_t checkpoint_steps; /* 0 (default): none; else a checkpoint every N steps (the
                                  last CHECKPOINT_LIMIT kept) */
    int checkpoint_limit;      /* default 2 */
    const char *resume_from;   /* a checkpoint folder: resume exactly (weights, AdamW
                                  moments, step, data order and position, RNG) */
    const char *log_jsonl;     /* NULL: none; else one JSON object per step and evaluation */
    int threads;               /* 0: the model's setting */
    dm_train_fn callback;      /* may be NULL */
    void *callback_user;
    int freeze_embeddings;     /* default 0; 1: the embedding tables and their LayerNorm
                                  are not trained */
    int freeze_layers;         /* default 0; N: the bottom N encoder layers are not trained
                                  (with freeze_embeddings: nothing below layer N) */
    int rank;                  /* default 0: this worker's place among WORLD_SIZE */
    int world_size;            /* default 1 (0 means 1). With W data-parallel workers each step's batch is
                                  split in W contiguous slices (the first batch % W one
                                  example larger), dropout differs per rank, and each loss
                                  weight is scaled by the whole batch so that the summed
                                  gradients are the batch's. W > 1 needs the gradient
                                  exchange of distributed training, not built yet:
                                  DM_ERR_UNSUPPORTED. */
    dm_precision precision;    /* default DM_PRECISION_FP32. DM_PRECISION_BF16: mixed
                                  precision as PyTorch's autocast: the encoder's matrix
                                  products (forward and backward) take bfloat16 copies of
                                  their inputs and accumulate in float32; weights, AdamW
                                  moments, LayerNorm, softmax, the head and the loss stay
                                  float32. DM_ERR_UNSUPPORTED on a backend without
                                  bfloat16 products. Part of a checkpoint's recipe. */
    /* DP-SGD (see dm_dp): on when dp_epsilon > 0 or dp_noise > 0. Each step
     * is a Poisson sample of the rows with rate q = L / N, L = batch_size x
     * grad_accum the expected batch (micro-batches of batch_size until the
     * sample is used up), each example's gradient clipped to
     * dp_max_grad_norm, Gaussian noise added, the sum divided by L (not by
     * the sample's size, which would leak it); an epoch is floor(N / L)
     * steps. max_grad_norm (global clipping) is not applied. The run stops
     * when the next step would spend more than dp_epsilon. The epsilon spent
     * is in the log, the progress and privacy.json of every saved folder.
     * float32 and one worker only; resuming needs a checkpoint of a run with
     * the same DP settings. */
    double dp_epsilon;         /* default 0: no budget (then dp_noise must be set for DP) */
    double dp_delta;           /* default 1e-5, in (0, 1) */
    double dp_max_grad_norm;   /* default 1.0: the per-example clipping norm C */
    double dp_noise;           /* default 0: chosen so that the planned steps spend
                                  dp_epsilon; else this noise multiplier */
    uint64_t dp_noise_seed;    /* default 0: noise keyed from the OS; else a fixed stream
                                  (tests: then a resume is exact bit for bit) */
} dm_train_options;

DM_API void dm_train_options_default(dm_train_options *opts);

typedef struct dm_train_result {
    size_t struct_size;
    uint64_t steps;
    double epochs;             /* epochs done, fractional */
    double final_loss;         /* mean training loss of the last epoch's steps */
    double best_val_metric;    /* accuracy of the best evaluation; NaN without validation */
    uint64_t best_step;
    int stopped_early;
    double seconds;
} dm_train_result;

/* Fine-tunes MODEL on TRAIN (which must have labels; their names must be the
 * model's labels), evaluating on VAL (may be NULL). RESULT may be NULL.
 * Before any work: the labels of TRAIN and VAL are checked (an unknown one
 * named with its line), and output_dir is made and written to (a file made
 * and removed), so a run cannot train for hours and then fail to save.
 * Resuming checks the checkpoint was written with the same data: the same
 * rows in the same order (a fingerprint of texts, pairs and labels), not
 * just as many; the log then keeps its lines up to the checkpoint's step
 * (none repeated). Checkpoints and the final model are written whole (see
 * dm_model_save).
 * Errors: DM_ERR_INVALID_ARGUMENT (no labels, a label the model does not
 * know, bad options, a checkpoint of other data or options), DM_ERR_RANGE (an
 * empty training set), DM_ERR_NUMERIC (a NaN or Inf loss or gradient, or an
 * update that makes the weights non-finite: training stops at that step,
 * before any checkpoint could hold it; checkpoints already written are
 * intact; the model keeps the failed step's weights, which predict nothing),
 * DM_ERR_CANCELLED, DM_ERR_IO, DM_ERR_BUSY (another thread is training or
 * using the model). */
DM_API dm_status dm_train(dm_model *model, const dm_dataset *train, const dm_dataset *val,
                          const dm_train_options *opts, dm_train_result *result);

/* A training run, step by step: what dm_train does, in the caller's hands. */
typedef struct dm_trainer dm_trainer;

/* Prepares a run of MODEL on TRAIN (VAL may be NULL) as OPTS say (NULL:
 * defaults): freezes what opts->freeze_* say (the model's trainable set is
 * restored by dm_trainer_free), tokenizes both sets once, plans the epochs,
 * and makes the optimizer from opts (learning rate, betas, epsilon, weight
 * decay, clipping, schedule over the run's steps). OPTIMIZER, when not NULL,
 * is used instead (the trainer does not own it; its total_steps 0 then
 * takes the run's). The same checks as dm_train run first (labels,
 * output_dir). The options' strings and class weights are copied;
 * callback_user must outlive the trainer. The model must outlive the
 * trainer and is being trained until dm_trainer_free: the trainer's calls
 * may come from any thread (one at a time: an overlapping one is
 * DM_ERR_BUSY), and during each of them the model answers calls from other
 * threads with DM_ERR_BUSY; between them, the thread of the last trainer
 * call may use the model (predict, save). */
DM_API dm_status dm_trainer_create(dm_model *model, dm_optimizer *optimizer, const dm_dataset *train,
                                   const dm_dataset *val, const dm_train_options *opts, dm_trainer **out);
DM_API void dm_trainer_free(dm_trainer *t);

/* One optimizer step (its grad_accum batches of the epoch's order) and its
 * log line; P (may be NULL) gets what a callback would see (the callback is
 * dm_trainer_run's, after each step and evaluation). DM_ERR_RANGE when the
 * run's steps are done. */
DM_API dm_status dm_trainer_step(dm_trainer *t, dm_train_progress *p);

/* Whether the run's steps are done (or early stopping stopped it). */
DM_API int dm_trainer_done(const dm_trainer *t);

/* Evaluates on the validation set (tokenized once, at create): the report,
 * with the mean loss; keeps the best weights and counts evaluations without
 * improvement, as dm_train does. DM_ERR_INVALID_ARGUMENT without VAL. */
DM_API dm_status dm_trainer_evaluate(dm_trainer *t, dm_eval_report **out);

/* A checkpoint of the run at its current step into DIR (a model folder with
 * the optimizer state and the trainer's, written whole), and back: resuming
 * checks the data (a fingerprint), options and labels, and continues
 * exactly (bit for bit) where the checkpoint was written. */
DM_API dm_status dm_trainer_save(dm_trainer *t, const char *dir);
DM_API dm_status dm_trainer_resume(dm_trainer *t, const char *dir);

/* Runs the rest of the plan as dm_train does: steps, evaluations every
 * eval_steps or epoch, checkpoints, early stopping, the best weights kept
 * and the final model saved to output_dir. RESULT may be NULL. */
DM_API dm_status dm_trainer_run(dm_trainer *t, dm_train_result *result);

#ifdef __cplusplus
}
#endif
#endif /* DATAMODEL_H */
