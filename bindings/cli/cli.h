/*
 * cli.h — what the files of the dm tool share: error reporting, argument
 * helpers, the output buffer, the line reader, the progress bar and the
 * Ctrl-C flag. Defined in dm.c; the model commands live in dm_model.c.
 */
#ifndef DM_CLI_H
#define DM_CLI_H

#include "datamodel.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

#if defined(__GNUC__) || defined(__clang__)
#  define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#  define CLI_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------ errors, Ctrl-C */

/* Set by on_sigint (the SIGINT handler main installs); progress callbacks
 * return it so that the library cancels. */
extern volatile sig_atomic_t interrupted;
void on_sigint(int sig);

/* "dm: WHAT: <dm_last_error()>" on stderr (WHAT left out when the message
 * names it already); returns 1. */
int fail_lib(const char *what);

/* "dm: <message> (see dm help)" on stderr; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* ------------------------------------------------------------------ arguments */

typedef struct {
    int argc, i;
    char **argv;
} args_t;

bool is_opt(const char *arg, const char *short_name, const char *long_name);
/* The next argument (advancing a->i), or NULL when there is none. */
const char *opt_value(args_t *a, const char *name);
/* A non-negative decimal count. */
bool parse_size(const char *s, size_t *out);
/* --NAME sets *VALUE to 1, --no-NAME to 0; returns whether ARG was either. */
int parse_bool_pair(const char *arg, const char *name, int *value);

/* In a function with an args_t named `a`: VAR = the option's value, or return
 * a usage error. */
#define NEED_VALUE(var, name)                                                    \
    do {                                                                         \
        if (!((var) = opt_value(&a, name))) return usage_error("%s needs a value", name); \
    } while (0)

/* ------------------------------------------------------------------ output buffer */

typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap;
    bool failed;
} outbuf;

void out_flush(outbuf *o);
void out_json_string(outbuf *o, const char *s);
/* PATH, or standard output for NULL or "-"; NULL (with a message) on
 * failure. A regular file is written to a hidden sibling and put in place by
 * finish_output only when everything was written (atomic: a failed or
 * interrupted command leaves the old file, or none). */
FILE *open_output(const char *path);
/* Flushes and closes F (unless stdout) and frees the buffer; 1 (with a
 * message) when anything failed. With RC non-zero (the command failed) the
 * new file is discarded instead of put in place. */
int finish_output_rc(outbuf *o, FILE *f, const char *path, int rc);
/* finish_output_rc with RC 0. */
int finish_output(outbuf *o, FILE *f, const char *path);
/* The whole of PATH, NUL-terminated, in *OUT (free it) and its length in
 * *LEN (may be NULL); 1 with "dm: WHAT: PATH: reason" on stderr on failure. */
int read_whole_file(const char *path, const char *what, char **out, size_t *len);

static inline void out_reserve(outbuf *o, size_t n)
{
    if (o->len + n > o->cap) {
        out_flush(o);
        if (n > o->cap) {
            char *b = realloc(o->buf, n);
            if (!b) {
                o->failed = true;
                return;
            }
            o->buf = b;
            o->cap = n;
        }
    }
}

static inline void out_bytes(outbuf *o, const char *s, size_t n)
{
    out_reserve(o, n);
    if (o->len + n > o->cap) return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static inline void out_char(outbuf *o, char c)
{
    out_reserve(o, 1);
    if (o->len < o->cap) o->buf[o->len++] = c;
}

static inline void out_u64(outbuf *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_reserve(o, (size_t)n);
    if (o->len + (size_t)n > o->cap) return;
    while (n) o->buf[o->len++] = tmp[--n];
}

static inline void out_i64(outbuf *o, int64_t v)
{
    if (v < 0) {
        out_char(o, '-');
        out_u64(o, (uint64_t)(-(v + 1)) + 1);
    } else {
        out_u64(o, (uint64_t)v);
    }
}

/* ------------------------------------------------------------------ input: lines from files */

/* Where lines come from: the lines of a block from index FIRST on (until the
 * next segment) are lines LINE, LINE + 1, ... (1-based) of file NAME. */
typedef struct {
    size_t first;
    const char *name;
    uint64_t line;
} reader_segment;

typedef struct {
    char **paths;
    int n_paths, next;
    FILE *f;
    const char *name; /* the file being read (may be ahead of the block's lines) */
    char *buf;
    size_t len, cap, start; /* unread bytes are buf[start, len) */
    bool eof;
    uint64_t bytes_read, bytes_total; /* total 0 when unknown (a pipe) */
    uint64_t line_no;                 /* lines handed out so far, over all inputs */
    size_t *offs;                     /* line starts while a block is gathered */
    size_t offs_cap;
    /* Files opened whose data starts at buffer offset bounds[k].off, not yet
     * reached by a line: [bound_head, n_bounds). */
    struct reader_bound {
        size_t off;
        const char *name;
    } *bounds;
    size_t bound_head, n_bounds, bounds_cap;
    const char *cur_name; /* the file of the last line handed out */
    uint64_t cur_line;    /* and its line number there (1-based; 0: none yet) */
    reader_segment *segs; /* of the last block */
    size_t n_segs, segs_cap;
} line_reader;

/* Reads the N PATHS in turn ("-" is standard input), or standard input when
 * N is 0. */
void reader_init(line_reader *r, char **paths, int n);
/* Up to MAX lines into LINES/LENS (pointers into the reader's buffer, valid
 * until the next call); a trailing '\r' is dropped. A block may hold lines of
 * several files. Returns the count, 0 at the end, -1 on a read error (with a
 * message). */
long reader_block(line_reader *r, const char **lines, size_t *lens, size_t max);
/* The file (*NAME: its path, or "standard input") and the 1-based line number
 * in that file of line I of the last block. */
void reader_where(const line_reader *r, size_t i, const char **name, uint64_t *line);
/* "dm: FILE: line N: " and the message (printf) on stderr, for line I of the
 * last block. */
void line_error(const line_reader *r, size_t i, const char *fmt, ...) CLI_PRINTF(3, 4);
void reader_free(line_reader *r);

/* ------------------------------------------------------------------ invalid UTF-8 in lines */

/* --invalid-utf8: what becomes of a line that is not valid UTF-8. */
typedef enum {
    UTF8_FAIL = 0, /* stop at the first such line, naming it (the default) */
    UTF8_SKIP,     /* leave the line out; a placeholder record takes its place */
    UTF8_REPLACE   /* each invalid sequence is U+FFFD (DM_UTF8_REPLACE) */
} utf8_policy;

/* The help text of --invalid-utf8, for the commands that read lines of text:
 * REPLACED (whole help lines) says what becomes of U+FFFD, SKIPPED what takes
 * a skipped line's place in each output format. */
#define HELP_INVALID_UTF8(replaced, skipped)                                                       \
    "      --invalid-utf8 P      a line that is not valid UTF-8:\n"                                  \
    "                              fail (default; also 'error'): stop there, with \"dm: FILE: line N:\n" \
    "                                invalid UTF-8 at byte offset B (0xXX)\" (N counts from 1 in\n"   \
    "                                each FILE, B from 0 in the line), exit code 1\n"               \
    "                              replace: each invalid sequence becomes U+FFFD\n" replaced        \
    "                                and standard error ends with \"dm: replaced invalid UTF-8 in\n" \
    "                                K lines (FILE: lines 3, 17, ...)\"\n"                           \
    "                              skip: the line is not processed; in its place\n" skipped         \
    "                                and standard error ends with \"dm: skipped K lines with invalid\n" \
    "                                UTF-8 (FILE: lines 3, 17, ...)\"; the exit code stays 0\n"

/* "fail" (or "error"), "skip", "replace" into *P; else a usage error
 * (EXIT_USAGE). */
int parse_utf8_policy(const char *v, utf8_policy *p);

/* The byte offset of the first invalid UTF-8 sequence of S (LEN bytes), or
 * LEN when there is none. Valid means well-formed: no overlong forms, no
 * surrogates, nothing above U+10FFFF (as the library's check). 16 bytes at a
 * time on x86-64 (SSSE3), else byte-wise; the first call sets up its tables,
 * so make it before starting threads that call it. */
size_t utf8_invalid_at(const char *s, size_t len);

/* A line of a block that is not valid UTF-8: its index in the block, the
 * offset in the line of the first bad byte and that byte. */
typedef struct {
    size_t i, off;
    unsigned char byte;
} bad_line;

/* Applies the policy to the blocks of lines of a command. */
typedef struct {
    utf8_policy policy;
    bad_line *bad; /* the last block's invalid lines, in order */
    size_t n_bad, bad_cap;
    bool *is_bad;  /* by line of the last block (skip), else NULL */
    size_t is_bad_cap;
    char *fixed;   /* replaced copies of lines (utf8_replace_lines) */
    size_t fixed_cap;
    uint64_t total;          /* lines skipped or replaced so far */
    struct {
        const char *name;
        uint64_t line;
    } first[8];              /* the first of them, for the summary */
} utf8_guard;

/* Checks the N lines of R's last block (LINES/LENS as reader_block gave
 * them, before anything else changed them) and lists the invalid ones in
 * g->bad. fail: the first invalid line is listed and *KEPT is its index (the
 * lines before it are to be processed, then utf8_block_failed reports it).
 * skip: the invalid lines are marked in g->is_bad and, with COMPACT, removed
 * from LINES/LENS (the lines kept move up; *KEPT is their count). replace:
 * they are only listed (the library replaces the bytes), *KEPT is N.
 * Returns 0, or 1 (with a message) when out of memory. */
int utf8_check_block(utf8_guard *g, const line_reader *r, const char **lines, size_t *lens, size_t n, bool compact,
                     size_t *kept);
/* Under fail, when the last block held an invalid line: "dm: FILE: line N:
 * invalid UTF-8 at byte offset B (0xXX)" on stderr and 1; else 0. */
int utf8_block_failed(const utf8_guard *g, const line_reader *r);
/* The block index of the K-th line that utf8_check_block kept. */
size_t utf8_kept_index(const utf8_guard *g, size_t k);
/* Replaces the invalid sequences of the lines in g->bad by U+FFFD, in copies
 * held by G (LINES/LENS then point there); for texts that the CLI decodes
 * before the library sees them (JSON). 1 (with a message) when out of memory. */
int utf8_replace_lines(utf8_guard *g, const char **lines, size_t *lens);
/* "invalid UTF-8 at byte offset B (0xXX)" into BUF. */
void utf8_reason(const bad_line *b, char *buf, size_t cap);
/* The record that takes a skipped line's place: JSON ({"line": N, "file":
 * FILE, "skipped": REASON}, with SEP after ':' and ',') or an empty line. */
void out_skipped(outbuf *o, const line_reader *r, const bad_line *b, bool json, const char *sep);
/* "dm: skipped K lines with invalid UTF-8 (FILE: lines 3, 17, ...)" on
 * stderr (or "replaced invalid UTF-8 in K lines"), when there were any. */
void utf8_summary(const utf8_guard *g);
void utf8_guard_free(utf8_guard *g);

/* Splits the N "TEXT<TAB>PAIR" lines of R's last block (those G kept, G may
 * be NULL) at their first tab; a line without one is an error naming it. */
int split_pair_lines(const line_reader *r, const utf8_guard *g, const char **lines, size_t *lens, const char **pairs,
                     size_t *pair_lens, size_t n);

/* The library's last error for the N_TEXTS texts of R's last block that were
 * given to it (G: the guard that removed skipped lines, or NULL), on stderr.
 * A message that starts "text K: " (the library names the text's index in
 * the batch) becomes "dm: FILE: line N: ..."; any other names the block's
 * lines ("dm: FILE: lines A-B: ..."). */
void report_block_error(const line_reader *r, const utf8_guard *g, size_t n_texts);

/* ------------------------------------------------------------------ progress bar */

typedef struct {
    bool on;
    double start, last;
    const char *unit;
} progress_bar;

/* Monotonic seconds. */
double now_s(void);
/* Redraws the bar on stderr (at most every 0.1 s unless FINAL, which ends
 * the line). */
void bar_draw(progress_bar *p, uint64_t done, uint64_t total, bool final);

/* ------------------------------------------------------------------ the model commands (dm_model.c) */

int cmd_init(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_forward(int argc, char **argv);
/* The help text of a model command (init, train, eval, predict, embed,
 * model, metrics, forward), or NULL. */
const char *model_help(const char *topic);

/* fail_lib for a data file PATH: the library's option names
 * ("dm_dataset_options.text_column") become this tool's (--text-column), or
 * AS when it is not NULL. In dm_model.c. */
int fail_data_as(const char *path, const char *as);
/* Splits V, the value of option OPT, on commas into *NAMES (pointers into
 * *COPY; the caller frees both, also on failure); TRIM drops surrounding ASCII
 * whitespace. An empty name is a usage error. In dm_model.c. */
int split_names(const char *opt, const char *v, bool trim, char **copy, const char ***names, size_t *n);

/* ------------------------------------------------------------------ the data commands (dm_data.c) */

int cmd_profile(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_dedup(int argc, char **argv);
int cmd_conflicts(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_resample(int argc, char **argv);
int cmd_class_weights(int argc, char **argv);
int cmd_augment(int argc, char **argv);
/* The help text of a data command (profile, clean, dedup, conflicts, split,
 * resample, class-weights, augment), or NULL. */
const char *data_help(const char *topic);

/* ------------------------------------------------------------------ personal data (dm_redact.c) */

int cmd_redact(int argc, char **argv);
const char *redact_help(void);

#endif /* DM_CLI_H */
