/*
 * toolkit.h — what the commands of the dm tool share: error reporting and
 * Ctrl-C, argument helpers, the output buffer and output files, the line
 * reader (which knows each line's file and line number), the check of lines
 * for invalid UTF-8, the progress bar, and the block stream that every
 * command reading lines of text runs on (stream_lines). All of it is in
 * toolkit.c; the commands themselves are listed in commands.h.
 *
 * Conventions of every command: errors on stderr as "dm: message", exit 1 on
 * failure, 2 on usage errors, 130 when Ctrl-C cancelled the work (through the
 * library's progress callbacks), progress on stderr.
 */
#ifndef DM_CLI_TOOLKIT_H
#define DM_CLI_TOOLKIT_H

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

/* fail_lib for a data file PATH: the library's option names
 * ("dm_dataset_options.text_column") become this tool's (--text-column), or
 * AS when it is not NULL. */
int fail_data_as(const char *path, const char *as);

/* "dm: <message> (see dm help)" on stderr; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* "dm: out of memory" on stderr; returns 1. */
int out_of_memory(void);

/* A progress callback for the library that draws nothing and cancels on
 * Ctrl-C (the commands that stream lines draw their bar per block). */
int cancel_on_ctrl_c(uint64_t done, uint64_t total, void *user);

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
bool parse_u64(const char *s, uint64_t *out);
/* A finite number (strtod), nothing after it. */
bool parse_double(const char *s, double *out);
/* A count in [LO, HI] for an int field, or a usage error naming option NAME. */
int parse_int_opt(const char *name, const char *v, long lo, long hi, int *out);
/* --NAME sets *VALUE to 1, --no-NAME to 0; returns whether ARG was either. */
int parse_bool_pair(const char *arg, const char *name, int *value);
/* Splits V, the value of option OPT, on commas into *NAMES (pointers into
 * *COPY; the caller frees both, also on failure); TRIM drops surrounding ASCII
 * whitespace. An empty name is a usage error. */
int split_names(const char *opt, const char *v, bool trim, char **copy, const char ***names, size_t *n);

/* What an option parser helper returns for an option that is not its own
 * (else 0, or an exit code). */
#define OPT_NOT_MINE (-1)
/* What an option parser returns when it printed the help: exit 0. */
#define HELP_SHOWN (-2)

/* In a function with an args_t named `a`: VAR = the option's value, or return
 * a usage error. */
#define NEED_VALUE(var, name)                                                    \
    do {                                                                         \
        if (!((var) = opt_value(&a, name))) return usage_error("%s needs a value", name); \
    } while (0)

/* NEED_VALUE for helpers that get the args_t by pointer, named `a`. */
#define NEED_VALUE_P(var, name)                                                                    \
    do {                                                                                           \
        if (!((var) = opt_value(a, name))) return usage_error("%s needs a value", name);           \
    } while (0)

/* ------------------------------------------------------------------ output buffer */

/* Output through one large buffer: flushed to F when full, or, with F NULL,
 * grown (output formatted in memory, to be written later). */
typedef struct {
    FILE *f;
    char *buf;
    size_t len, cap;
    bool failed;
} outbuf;

void out_flush(outbuf *o);
/* Room for NEED bytes in all (FAILED set when out of memory). */
void out_grow(outbuf *o, size_t need);
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
    if (o->len + n <= o->cap) return;
    if (o->f) out_flush(o);
    if (o->len + n > o->cap) out_grow(o, o->len + n); /* in memory, or an item larger than the buffer */
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
/* report_block_error for the message MSG (a copy of an earlier one). */
void report_block_message(const line_reader *r, const utf8_guard *g, size_t n_texts, const char *msg);
/* When MSG starts "text K: " (the library's rule for an error in a batch):
 * the rest of the message, and K in *K; else NULL. */
const char *batch_error_index(const char *msg, size_t *k);

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

/* ------------------------------------------------------------------ the block stream */

/* One block of lines as stream_lines hands it to a command. */
typedef struct {
    const line_reader *r;
    utf8_guard *guard;  /* the block's invalid lines, under the stream's policy */
    const char **lines; /* LINES/LENS: the lines to process, KEPT of them (the */
    size_t *lens;       /* invalid ones removed under skip when COMPACT) */
    size_t n;           /* lines read in the block */
    size_t kept;        /* lines to process: all N, N less the skipped ones, or
                           under fail those before the first invalid one */
    outbuf *o;          /* where results go, in order */
} stream_block;

/* Processes a block: 0, or an exit code (with its message written; 130
 * when Ctrl-C cancelled the library). */
typedef int (*stream_block_fn)(stream_block *b, void *ctx);

typedef struct {
    char **files; /* the inputs (none: standard input) */
    int n_files;
    const char *out_path; /* NULL or "-": standard output */
    size_t block;         /* lines per block */
    size_t out_cap;       /* bytes of the output buffer */
    bool check_utf8;      /* check each block under POLICY (utf8_check_block) */
    utf8_policy policy;
    bool compact;         /* under skip, remove the invalid lines from LINES */
    bool progress;        /* the bar on stderr, over input bytes */
} stream_opts;

/* The loop of every command that reads lines of text: reads the inputs in
 * blocks, checks each for invalid UTF-8 (when asked), hands it to FN, draws
 * the bar, and after the last block prints the invalid-UTF-8 summary, "dm:
 * interrupted" on Ctrl-C, and puts the output in place (only when everything
 * succeeded). Under fail, FN sees the lines before the invalid one and the
 * stream then stops naming it. Returns 0 or an exit code. */
int stream_lines(const stream_opts *s, stream_block_fn fn, void *ctx);

/* How a command writes a block's results. */
typedef struct {
    void (*line)(outbuf *o, size_t k, void *ctx); /* the result of the K-th processed line */
    /* What takes a skipped line's place: NULL for out_skipped (a JSON record
     * with SEP when JSON, else an empty line). */
    void (*skipped)(outbuf *o, const line_reader *r, const bad_line *b, void *ctx);
    bool json;
    const char *sep;
    void *ctx;
    /* 0 (the default) or 1: on the calling thread; N > 1, or -1 for all
     * cores: a large block is cut into chunks formatted in memory on N
     * threads (LINE and SKIPPED must then only read CTX), written in order. */
    int threads;
} stream_writer;

/* Writes the block's results in order, under skip a record in each skipped
 * line's place; only the lines before block index LIMIT (SIZE_MAX: all). */
void stream_write(stream_block *b, size_t limit, const stream_writer *w);

#endif /* DM_CLI_TOOLKIT_H */
