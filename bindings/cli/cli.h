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

typedef struct {
    char **paths;
    int n_paths, next;
    FILE *f;
    const char *name;
    char *buf;
    size_t len, cap, start; /* unread bytes are buf[start, len) */
    bool eof;
    uint64_t bytes_read, bytes_total; /* total 0 when unknown (a pipe) */
    uint64_t line_no;                 /* lines handed out so far, over all inputs */
    size_t *offs;                     /* line starts while a block is gathered */
    size_t offs_cap;
} line_reader;

/* Reads the N PATHS in turn ("-" is standard input), or standard input when
 * N is 0. */
void reader_init(line_reader *r, char **paths, int n);
/* Up to MAX lines into LINES/LENS (pointers into the reader's buffer, valid
 * until the next call); a trailing '\r' is dropped. Returns the count, 0 at
 * the end, -1 on a read error (with a message). */
long reader_block(line_reader *r, const char **lines, size_t *lens, size_t max);
/* The library's last error for a block of lines read from R starting at
 * FIRST_LINE (0-based), on stderr as "dm: FILE (block starting at line N): ...". */
void report_block_error(const line_reader *r, uint64_t first_line);
void reader_free(line_reader *r);

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
