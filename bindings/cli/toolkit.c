/*
 * toolkit.c — the shared toolkit of the dm tool (see toolkit.h): errors and
 * Ctrl-C, arguments, the output buffer and atomic output files, the line
 * reader, the invalid-UTF-8 check (SIMD on x86-64), the progress bar and the
 * block stream.
 */
#include "toolkit.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <omp.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

/* ------------------------------------------------------------------ errors, Ctrl-C */
volatile sig_atomic_t interrupted;

void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

int fail_lib(const char *what)
{
    const char *msg = dm_last_error();
    if (strstr(msg, what)) fprintf(stderr, "dm: %s\n", msg); /* the message names it already */
    else fprintf(stderr, "dm: %s: %s\n", what, msg);
    return 1;
}

int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see dm help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int out_of_memory(void)
{
    fputs("dm: out of memory\n", stderr);
    return 1;
}

int cancel_on_ctrl_c(uint64_t done, uint64_t total, void *user)
{
    (void)done;
    (void)total;
    (void)user;
    return interrupted;
}

/* fail_lib for a data file, with the library's option names in the message
 * ("dm_dataset_options.text_column") given as this tool's (--text-column), or
 * all as AS when it is not NULL (a command whose column options have other
 * names; it also drops the library's "(require_labels is set)"). */
int fail_data_as(const char *path, const char *as)
{
    const char *msg = dm_last_error(), *key = "dm_dataset_options.", *req = " (require_labels is set)";
    const char *keyopt = "(dm_dataset_options.key, read with dm_read_key_file)";
    char buf[2048];
    size_t used = 0;
    while (*msg && used + 1 < sizeof buf) {
        const char *col;
        if (strncmp(msg, key, strlen(key)) == 0 && (col = strstr(msg + strlen(key), "_column")) &&
            col - (msg + strlen(key)) <= 5) {
            const char *name = msg + strlen(key);
            int k = as ? snprintf(buf + used, sizeof buf - used, "%s", as)
                       : snprintf(buf + used, sizeof buf - used, "--%.*s-column", (int)(col - name), name);
            if (k < 0 || (size_t)k >= sizeof buf - used) break;
            used += (size_t)k;
            msg = col + strlen("_column");
        } else if (as && strncmp(msg, req, strlen(req)) == 0) {
            msg += strlen(req);
        } else if (strncmp(msg, keyopt, strlen(keyopt)) == 0) { /* an encrypted file loaded without a key */
            int k = snprintf(buf + used, sizeof buf - used, "(--key FILE)");
            if (k < 0 || (size_t)k >= sizeof buf - used) break;
            used += (size_t)k;
            msg += strlen(keyopt);
        } else {
            buf[used++] = *msg++;
        }
    }
    buf[used] = '\0';
    if (strstr(buf, path)) fprintf(stderr, "dm: %s\n", buf);
    else fprintf(stderr, "dm: %s: %s\n", path, buf);
    return 1;
}

/* ------------------------------------------------------------------ argument helpers */
bool is_opt(const char *arg, const char *short_name, const char *long_name)
{
    return (short_name && strcmp(arg, short_name) == 0) || (long_name && strcmp(arg, long_name) == 0);
}

const char *opt_value(args_t *a, const char *name)
{
    if (a->i + 1 >= a->argc) return NULL;
    (void)name;
    return a->argv[++a->i];
}

bool parse_size(const char *s, size_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || s[0] == '-') return false;
    *out = (size_t)v;
    return true;
}

bool parse_double(const char *s, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

bool parse_u64(const char *s, uint64_t *out)
{
    size_t v;
    if (!parse_size(s, &v)) return false;
    *out = (uint64_t)v;
    return true;
}

/* A count in [LO, HI] for an int field. */
int parse_int_opt(const char *name, const char *v, long lo, long hi, int *out)
{
    size_t n;
    if (!parse_size(v, &n) || n < (size_t)lo || n > (size_t)hi) {
        if (hi == INT32_MAX) return usage_error("%s: '%s' is not a count of at least %ld", name, v, lo);
        return usage_error("%s: '%s' is not a count from %ld to %ld", name, v, lo, hi);
    }
    *out = (int)n;
    return 0;
}

int parse_bool_pair(const char *arg, const char *name, int *value)
{
    char yes[64], no[64];
    snprintf(yes, sizeof yes, "--%s", name);
    snprintf(no, sizeof no, "--no-%s", name);
    if (strcmp(arg, yes) == 0) return *value = 1, 1;
    if (strcmp(arg, no) == 0) return *value = 0, 1;
    return 0;
}

static bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Splits V, the value of option OPT, on commas into *NAMES (pointers into
 * *COPY; the caller frees both, also on failure); TRIM: each name without
 * surrounding ASCII whitespace. An empty name is a usage error. */
int split_names(const char *opt, const char *v, bool trim, char **copy, const char ***names, size_t *n)
{
    *n = 0;
    *copy = strdup(v);
    *names = calloc(strlen(v) + 1, sizeof **names); /* commas + 1 <= length + 1 */
    if (!*copy || !*names) {
        fputs("dm: out of memory\n", stderr);
        return 1;
    }
    for (char *s = *copy, *end;; s = end + 1) {
        end = strchr(s, ',');
        if (end) *end = '\0';
        size_t len = strlen(s);
        if (trim) {
            while (ascii_space(*s)) s++, len--;
            while (len && ascii_space(s[len - 1])) s[--len] = '\0';
        }
        if (!len) return usage_error("%s: empty name in '%s'", opt, v);
        (*names)[(*n)++] = s;
        if (!end) break;
    }
    return 0;
}

/* ------------------------------------------------------------------ output buffer */
void out_flush(outbuf *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len) o->failed = true;
    o->len = 0;
}

void out_grow(outbuf *o, size_t need)
{
    size_t cap = o->f ? need : o->cap * 2 > need ? o->cap * 2 : need; /* a file's buffer: exactly NEED */
    if (cap < 4096 && !o->f) cap = 4096;
    char *b = realloc(o->buf, cap);
    if (!b) {
        o->failed = true;
        return;
    }
    o->buf = b;
    o->cap = cap;
}

void out_json_string(outbuf *o, const char *s)
{
    out_char(o, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out_char(o, '\\');
            out_char(o, (char)c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            out_bytes(o, esc, 6);
        } else {
            out_char(o, (char)c);
        }
    }
    out_char(o, '"');
}

/* Output files are written to a hidden sibling and renamed over PATH by
 * finish_output once complete, so a failed or interrupted command never
 * leaves a half-written file where a good one was (the library tidies a
 * killed run's sibling, named as its own: .NAME.dm-tmp-PID-SEQ). */
#define MAX_PENDING 8
static struct pending_output {
    FILE *f;
    char *tmp, *path;
} pending[MAX_PENDING];

static void discard_pending(void)
{
    for (int i = 0; i < MAX_PENDING; i++)
        if (pending[i].tmp) unlink(pending[i].tmp);
}

static char *tmp_sibling(const char *path)
{
    static unsigned seq = 1u << 30; /* the library numbers its own from 0 */
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    size_t cap = strlen(path) + 64;
    char *tmp = malloc(cap);
    if (tmp) snprintf(tmp, cap, "%.*s.%s.dm-tmp-%ld-%u", (int)dir_len, path, path + dir_len, (long)getpid(), seq++);
    return tmp;
}

FILE *open_output(const char *path)
{
    if (!path || strcmp(path, "-") == 0) return stdout;
    struct stat sb;
    int slot = 0;
    while (slot < MAX_PENDING && pending[slot].f) slot++;
    /* A device or a pipe (/dev/null, a FIFO) is written in place. */
    bool special = stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
    if (special || slot == MAX_PENDING) {
        FILE *f = fopen(path, "wb");
        if (!f) fprintf(stderr, "dm: %s: %s\n", path, strerror(errno));
        return f;
    }
    static bool hooked;
    if (!hooked) hooked = atexit(discard_pending) == 0;
    char *tmp = tmp_sibling(path), *copy = strdup(path);
    FILE *f = tmp && copy ? fopen(tmp, "wbx") : NULL;
    if (!f) {
        fprintf(stderr, "dm: %s: %s\n", path, tmp && copy ? strerror(errno) : "out of memory");
        free(tmp);
        free(copy);
        return NULL;
    }
    pending[slot] = (struct pending_output){f, tmp, copy};
    return f;
}

/* Puts a pending output file in place (OK) or removes it. */
static int settle_output(FILE *f, bool ok)
{
    for (int i = 0; i < MAX_PENDING; i++) {
        if (pending[i].f != f) continue;
        struct pending_output p = pending[i];
        pending[i] = (struct pending_output){0};
        int bad = 0;
        if (ok && (fsync(fileno(f)) != 0 || fclose(f) != 0)) bad = 1;
        else if (!ok) fclose(f);
        if (ok && !bad && rename(p.tmp, p.path) != 0) bad = 1;
        if (!ok || bad) unlink(p.tmp);
        if (bad) fprintf(stderr, "dm: writing %s failed: %s\n", p.path, strerror(errno));
        free(p.tmp);
        free(p.path);
        return bad;
    }
    return -1; /* not a pending file */
}

int read_whole_file(const char *path, const char *what, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "dm: %s: %s: %s\n", what, path, strerror(errno));
        return 1;
    }
    size_t n = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    for (size_t got = 1; buf && got;) {
        if (cap - n < 2) {
            char *b = realloc(buf, cap *= 2);
            if (!b) free(buf);
            buf = b;
            if (!buf) break;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "dm: %s: %s: read failed\n", what, path);
        free(buf);
        return 1;
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return 0;
}

int finish_output_rc(outbuf *o, FILE *f, const char *path, int rc)
{
    out_flush(o);
    int bad = o->failed || fflush(f) != 0 || ferror(f);
    free(o->buf);
    o->buf = NULL;
    if (bad) fprintf(stderr, "dm: writing %s failed: %s\n", path ? path : "standard output", strerror(errno));
    int settled = settle_output(f, !bad && rc == 0);
    if (settled >= 0) return bad || settled;
    if (f != stdout && fclose(f) != 0 && !bad) {
        fprintf(stderr, "dm: writing %s failed: %s\n", path ? path : "standard output", strerror(errno));
        bad = 1;
    }
    return bad;
}

int finish_output(outbuf *o, FILE *f, const char *path) { return finish_output_rc(o, f, path, 0); }

/* ------------------------------------------------------------------ input: lines from files */
/* Notes where the data of a file just opened starts in the buffer: the lines
 * from there on are its lines (reader_block counts them per file). */
static void reader_push_bound(line_reader *r)
{
    if (r->n_bounds < r->bounds_cap) r->bounds[r->n_bounds++] = (struct reader_bound){r->len, r->name};
}

static int reader_open_next(line_reader *r)
{
    if (r->f && r->f != stdin) fclose(r->f);
    r->f = NULL;
    if (r->n_paths == 0 && r->next == 0) {
        r->next = 1;
        r->f = stdin;
        r->name = "standard input";
        reader_push_bound(r);
        return 0;
    }
    if (r->next >= r->n_paths) return 0;
    const char *p = r->paths[r->next++];
    if (strcmp(p, "-") == 0) {
        r->f = stdin;
        r->name = "standard input";
        reader_push_bound(r);
        return 0;
    }
    r->f = fopen(p, "rb");
    r->name = p;
    if (!r->f) {
        fprintf(stderr, "dm: %s: %s\n", p, strerror(errno));
        return 1;
    }
    reader_push_bound(r);
    return 0;
}

void reader_init(line_reader *r, char **paths, int n)
{
    memset(r, 0, sizeof *r);
    r->paths = paths;
    r->n_paths = n;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (strcmp(paths[i], "-") != 0 && stat(paths[i], &sb) == 0 && S_ISREG(sb.st_mode))
            r->bytes_total += (uint64_t)sb.st_size;
    }
    if (n == 0) {
        struct stat sb;
        if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode)) r->bytes_total = (uint64_t)sb.st_size;
    }
}

void reader_where(const line_reader *r, size_t i, const char **name, uint64_t *line)
{
    size_t k = r->n_segs;
    while (k > 1 && r->segs[k - 1].first > i) k--;
    if (!k) { /* no block yet */
        *name = r->name ? r->name : "input";
        *line = r->line_no + i + 1;
        return;
    }
    *name = r->segs[k - 1].name;
    *line = r->segs[k - 1].line + (uint64_t)(i - r->segs[k - 1].first);
}

void line_error(const line_reader *r, size_t i, const char *fmt, ...)
{
    const char *name;
    uint64_t line;
    reader_where(r, i, &name, &line);
    fprintf(stderr, "dm: %s: line %llu: ", name, (unsigned long long)line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The library's message for a batch names the failing text as "text K: "
 * (K counted from 0 in the batch); K is set when MSG starts so. */
const char *batch_error_index(const char *msg, size_t *k)
{
    if (strncmp(msg, "text ", 5) != 0 || msg[5] < '0' || msg[5] > '9') return NULL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(msg + 5, &end, 10);
    if (errno || end[0] != ':' || end[1] != ' ') return NULL;
    *k = (size_t)v;
    return end + 2;
}

void report_block_error(const line_reader *r, const utf8_guard *g, size_t n_texts)
{
    report_block_message(r, g, n_texts, dm_last_error());
}

void report_block_message(const line_reader *r, const utf8_guard *g, size_t n_texts, const char *msg)
{
    const char *rest;
    size_t k;
    if ((rest = batch_error_index(msg, &k)) && k < n_texts) {
        line_error(r, g ? utf8_kept_index(g, k) : k, "%s", rest);
        return;
    }
    /* No index to go by: name the block's lines. */
    size_t n = n_texts + (g && g->is_bad ? g->n_bad : 0);
    const char *first_name, *last_name;
    uint64_t first, last;
    reader_where(r, 0, &first_name, &first);
    reader_where(r, n ? n - 1 : 0, &last_name, &last);
    if (first_name == last_name)
        fprintf(stderr, "dm: %s: lines %llu-%llu: %s\n", first_name, (unsigned long long)first,
                (unsigned long long)last, msg);
    else
        fprintf(stderr, "dm: %s: line %llu to %s: line %llu: %s\n", first_name, (unsigned long long)first, last_name,
                (unsigned long long)last, msg);
}

/* Reads up to MAX lines into LINES/LENS (pointers into the reader's buffer,
 * valid until the next call). A final line without '\n' counts; '\r' before
 * '\n' is dropped. Returns the count, or -1 on a read error. */
long reader_block(line_reader *r, const char **lines, size_t *lens, size_t max)
{
    /* Move the unread tail to the front, then fill. */
    if (r->start) memmove(r->buf, r->buf + r->start, r->len - r->start);
    for (size_t k = r->bound_head; k < r->n_bounds; k++) r->bounds[k].off -= r->start; /* all >= start */
    r->len -= r->start;
    r->start = 0;
    size_t n = 0, scan = 0;
    if (r->offs_cap < max) {
        free(r->offs);
        r->offs = malloc(max * sizeof *r->offs);
        if (!r->offs) {
            r->offs_cap = 0;
            fputs("dm: out of memory\n", stderr);
            return -1;
        }
        r->offs_cap = max;
    }
    if (!r->bounds) { /* each input is opened once: one bound each, and a segment each per block */
        size_t inputs = (size_t)r->n_paths + 1;
        r->bounds = malloc(inputs * sizeof *r->bounds);
        r->segs = malloc((inputs + 1) * sizeof *r->segs);
        if (!r->bounds || !r->segs) {
            fputs("dm: out of memory\n", stderr);
            return -1;
        }
        r->bounds_cap = inputs;
        r->segs_cap = inputs + 1;
    }
    r->n_segs = 0;
    if (r->cur_name) r->segs[r->n_segs++] = (reader_segment){0, r->cur_name, r->cur_line + 1};
    /* The next file's data starts at buffer offset NEXT: its first line begins a segment. */
    size_t next = r->bound_head < r->n_bounds ? r->bounds[r->bound_head].off : SIZE_MAX;
#define ENTER_FILES()                                                                                  \
    while (scan >= next) {                                                                             \
        const char *name = r->bounds[r->bound_head++].name;                                            \
        if (r->n_segs && r->segs[r->n_segs - 1].first == n) r->n_segs--; /* a file with no lines */   \
        if (r->n_segs < r->segs_cap) r->segs[r->n_segs++] = (reader_segment){n, name, 1};              \
        next = r->bound_head < r->n_bounds ? r->bounds[r->bound_head].off : SIZE_MAX;                  \
    }
    for (;;) {
        while (n < max && scan < r->len) {
            char *nl = memchr(r->buf + scan, '\n', r->len - scan);
            if (!nl) break;
            size_t end = (size_t)(nl - r->buf), ll = end - scan;
            if (ll && r->buf[end - 1] == '\r') ll--;
            ENTER_FILES();
            r->offs[n] = scan;
            lens[n++] = ll;
            scan = end + 1;
        }
        if (n == max) break;
        if (!r->f && !r->eof) {
            if (reader_open_next(r)) return -1;
            if (!r->f) r->eof = true;
            else if (next == SIZE_MAX) next = r->bounds[r->bound_head].off;
        }
        if (r->eof) {
            if (scan < r->len) { /* last line without a newline */
                size_t ll = r->len - scan;
                if (r->buf[r->len - 1] == '\r') ll--;
                ENTER_FILES();
                r->offs[n] = scan;
                lens[n++] = ll;
                scan = r->len;
            }
            break;
        }
        if (n > 0 && r->len - scan < (1u << 20) && r->len > (64u << 20)) break; /* enough for one block */
        if (r->cap - r->len < (1u << 20)) {
            size_t cap = r->cap ? r->cap * 2 : (8u << 20);
            char *b = realloc(r->buf, cap);
            if (!b) {
                fprintf(stderr, "dm: out of memory reading %s\n", r->name);
                return -1;
            }
            r->buf = b;
            r->cap = cap;
        }
        size_t got = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
        r->len += got;
        r->bytes_read += got;
        if (got == 0) {
            if (ferror(r->f)) {
                fprintf(stderr, "dm: %s: read error: %s\n", r->name, strerror(errno));
                return -1;
            }
            if (r->f != stdin) fclose(r->f);
            else clearerr(stdin);
            r->f = NULL;
            if (r->next >= r->n_paths) r->eof = true;
            /* A file that ends without '\n' still ends its last line. */
            if (r->len > scan && r->buf[r->len - 1] != '\n' && !r->eof) {
                if (r->len == r->cap) {
                    char *b = realloc(r->buf, r->cap + 1);
                    if (!b) {
                        fprintf(stderr, "dm: out of memory reading %s\n", r->name);
                        return -1;
                    }
                    r->buf = b;
                    r->cap++;
                }
                r->buf[r->len++] = '\n';
            }
        }
    }
#undef ENTER_FILES
    for (size_t i = 0; i < n; i++) lines[i] = r->buf + r->offs[i];
    r->start = scan;
    r->line_no += n;
    if (n && r->n_segs) {
        const reader_segment *last = &r->segs[r->n_segs - 1];
        r->cur_name = last->name;
        r->cur_line = last->line + (uint64_t)(n - 1 - last->first);
    }
    return (long)n;
}

void reader_free(line_reader *r)
{
    if (r->f && r->f != stdin) fclose(r->f);
    free(r->buf);
    free(r->offs);
    free(r->bounds);
    free(r->segs);
}

/* ------------------------------------------------------------------ invalid UTF-8 in lines */
int parse_utf8_policy(const char *v, utf8_policy *p)
{
    if (strcmp(v, "fail") == 0 || strcmp(v, "error") == 0) *p = UTF8_FAIL;
    else if (strcmp(v, "skip") == 0) *p = UTF8_SKIP;
    else if (strcmp(v, "replace") == 0) *p = UTF8_REPLACE;
    else return usage_error("--invalid-utf8: unknown policy '%s' (fail, skip, replace)", v);
    return 0;
}

/* The length of the well-formed sequence at P (AVAIL > 0 bytes, P[0] >=
 * 0x80), or 0; *BAD then gets the length of its maximal subpart (Unicode's
 * "substitution of maximal subparts", as the library replaces). */
static size_t utf8_multi(const unsigned char *p, size_t avail, size_t *bad)
{
    unsigned char b = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        if (b == 0xE0) lo = 0xA0; /* no overlong forms */
        if (b == 0xED) hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= avail || p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* The first invalid sequence, byte by byte (for the rare text that has one). */
static size_t utf8_invalid_at_slow(const unsigned char *p, size_t len)
{
    size_t i = 0, bad;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_multi(p + i, len - i, &bad);
        if (!k) return i;
        i += k;
    }
    return len;
}

/* UTF-8 as a shift-based DFA (Per Vognsen's): a state is a bit offset
 * (6 * k) into the 64-bit row of the next byte, so that a byte costs a table
 * load that does not wait on the state, and a shift. U_E0 and the like are
 * the states after the leads whose second byte has a narrower range
 * (utf8_multi). */
enum { U_OK = 0, U_1 = 6, U_2 = 12, U_3 = 18, U_E0 = 24, U_ED = 30, U_F0 = 36, U_F4 = 42, U_ERR = 48 };
static uint64_t utf8_dfa[256];

static void utf8_dfa_init(void)
{
    for (unsigned b = 0; b < 256; b++) {
        unsigned lead = b < 0x80                  ? U_OK
                        : b >= 0xC2 && b <= 0xDF  ? U_1
                        : b == 0xE0               ? U_E0
                        : b == 0xED               ? U_ED
                        : b >= 0xE1 && b <= 0xEF  ? U_2
                        : b == 0xF0               ? U_F0
                        : b >= 0xF1 && b <= 0xF3  ? U_3
                        : b == 0xF4               ? U_F4
                                                  : U_ERR;
        bool cont = b >= 0x80 && b <= 0xBF;
        uint64_t row = (uint64_t)lead << U_OK | (uint64_t)(cont ? U_OK : U_ERR) << U_1 |
                       (uint64_t)(cont ? U_1 : U_ERR) << U_2 | (uint64_t)(cont ? U_2 : U_ERR) << U_3 |
                       (uint64_t)(b >= 0xA0 && b <= 0xBF ? U_1 : U_ERR) << U_E0 |
                       (uint64_t)(b >= 0x80 && b <= 0x9F ? U_1 : U_ERR) << U_ED |
                       (uint64_t)(b >= 0x90 && b <= 0xBF ? U_2 : U_ERR) << U_F0 |
                       (uint64_t)(b >= 0x80 && b <= 0x8F ? U_2 : U_ERR) << U_F4 | (uint64_t)U_ERR << U_ERR;
        utf8_dfa[b] = row;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define UTF8_SSSE3 1
/* Keiser and Lemire's check ("Validating UTF-8 in less than one instruction
 * per byte", 2021; simdjson's), 16 bytes at a time: three table lookups give
 * the errors that each byte shows with the byte before it, and the 3rd and
 * 4th bytes of 3- and 4-byte sequences, which the lookups flag as a second
 * continuation byte in a row, must be exactly those. 4 to 6 times the
 * speed of the DFA on Chinese text (5 GB/s). Returns false when P[0, LEN) has an
 * error in its whole 16-byte blocks; else true, with *DONE where the
 * byte-wise check is to go on: the end of those blocks, or the start of a
 * character they may leave unfinished. */
__attribute__((target("ssse3"))) static bool utf8_valid_ssse3(const unsigned char *p, size_t len, size_t *done)
{
    enum {
        TOO_SHORT = 1, TOO_LONG = 2, OVERLONG_3 = 4, TOO_LARGE = 8, SURROGATE = 16, OVERLONG_2 = 32,
        TOO_LARGE_1000 = 64, OVERLONG_4 = 64, TWO_CONTS = 128, CARRY = TOO_SHORT | TOO_LONG | TWO_CONTS
    };
    const __m128i byte_1_high = _mm_setr_epi8(
        TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, /* 0_______: ASCII */
        (char)TWO_CONTS, (char)TWO_CONTS, (char)TWO_CONTS, (char)TWO_CONTS,             /* 10______ */
        TOO_SHORT | OVERLONG_2,                                                         /* 1100____ */
        TOO_SHORT,                                                                      /* 1101____ */
        TOO_SHORT | OVERLONG_3 | SURROGATE,                                             /* 1110____ */
        TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4);                           /* 1111____ */
    const __m128i byte_1_low = _mm_setr_epi8(
        (char)(CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4), (char)(CARRY | OVERLONG_2), (char)CARRY, (char)CARRY,
        (char)(CARRY | TOO_LARGE), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
        (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
        (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
        (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000),
        (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE),
        (char)(CARRY | TOO_LARGE | TOO_LARGE_1000), (char)(CARRY | TOO_LARGE | TOO_LARGE_1000));
    const __m128i byte_2_high = _mm_setr_epi8(
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, /* ASCII */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4),   /* 1000____ */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE),                    /* 1001____ */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE),                     /* 101_____ */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE),
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT); /* 11______ */
    const __m128i low4 = _mm_set1_epi8(0x0F), top = _mm_set1_epi8((char)0x80);
    /* The last three bytes of a block that begin a longer character than fits. */
    const __m128i max_at_end = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1),
                                             (char)(0xE0 - 1), (char)(0xC0 - 1));
    __m128i prev = _mm_setzero_si128(), err = _mm_setzero_si128(), incomplete = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m128i in = _mm_loadu_si128((const __m128i *)(p + i));
        if (!_mm_movemask_epi8(in)) { /* ASCII: only an unfinished character before it is wrong */
            err = _mm_or_si128(err, incomplete);
            incomplete = _mm_setzero_si128();
            prev = in;
            continue;
        }
        __m128i prev1 = _mm_alignr_epi8(in, prev, 15);
        __m128i sc = _mm_and_si128(
            _mm_and_si128(_mm_shuffle_epi8(byte_1_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), low4)),
                          _mm_shuffle_epi8(byte_1_low, _mm_and_si128(prev1, low4))),
            _mm_shuffle_epi8(byte_2_high, _mm_and_si128(_mm_srli_epi16(in, 4), low4)));
        __m128i prev2 = _mm_alignr_epi8(in, prev, 14), prev3 = _mm_alignr_epi8(in, prev, 13);
        __m128i must23 = _mm_or_si128(_mm_subs_epu8(prev2, _mm_set1_epi8(0xE0 - 0x80)),
                                      _mm_subs_epu8(prev3, _mm_set1_epi8(0xF0 - 0x80)));
        err = _mm_or_si128(err, _mm_xor_si128(_mm_and_si128(must23, top), sc));
        incomplete = _mm_subs_epu8(in, max_at_end);
        prev = in;
    }
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(err, _mm_setzero_si128())) != 0xFFFF) return false;
    /* Go on from the start of the last character when it may be unfinished. */
    size_t j = i;
    if (i) {
        j = i - 1;
        while (j + 3 > i && j > 0 && (p[j] & 0xC0) == 0x80) j--;
        if (p[j] < 0xC0) j = i;
    }
    *done = j;
    return true;
}
#endif

size_t utf8_invalid_at(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!utf8_dfa[0]) utf8_dfa_init(); /* row 0 is never 0 (U_ERR stays U_ERR); set on the first call */
    size_t i = 0;
#ifdef UTF8_SSSE3
    static int ssse3 = -1;
    if (ssse3 < 0) ssse3 = __builtin_cpu_supports("ssse3");
    if (ssse3 && len >= 16 && !utf8_valid_ssse3(p, len, &i)) return utf8_invalid_at_slow(p, len);
#endif
    uint64_t st = U_OK; /* the rest byte-wise, ASCII 8 bytes at a time */
    while (i < len) {
        if (st == U_OK)
            while (i + 8 <= len) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
        size_t end = len - i > 32 ? i + 32 : len;
        for (; i < end; i++) st = utf8_dfa[p[i]] >> (st & 63);
        st &= 63;
        if (st == U_ERR) break;
    }
    return st == U_OK ? len : utf8_invalid_at_slow(p, len); /* where, and why */
}

static bool guard_grow(utf8_guard *g)
{
    size_t cap = g->bad_cap ? 2 * g->bad_cap : 64;
    bad_line *b = realloc(g->bad, cap * sizeof *b);
    if (!b) return false;
    g->bad = b;
    g->bad_cap = cap;
    return true;
}

int utf8_check_block(utf8_guard *g, const line_reader *r, const char **lines, size_t *lens, size_t n, bool compact,
                     size_t *kept)
{
    if (g->is_bad) /* the marks of the last block */
        for (size_t k = 0; k < g->n_bad; k++)
            if (g->bad[k].i < g->is_bad_cap) g->is_bad[g->bad[k].i] = false;
    g->n_bad = 0;
    if (kept) *kept = n;
    if (!n) return 0;
    /* The lines are one span of the reader's buffer, separated by '\n' (and
     * a dropped '\r'), which no UTF-8 sequence holds: one pass over the span
     * tells whether any line is bad, and finds the first. */
    const char *from = lines[0], *end = lines[n - 1] + lens[n - 1];
    const char *p = from + utf8_invalid_at(from, (size_t)(end - from));
    if (p == end) return 0;
    size_t lo = 0, hi = n - 1; /* the line that holds P: the last whose start is <= P */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (lines[mid] <= p) lo = mid;
        else hi = mid - 1;
    }
    /* From there on line by line (once a block has a bad line, rescanning
     * the rest of the span after each would be quadratic). */
    for (size_t i = lo; i < n; i++) {
        size_t off = utf8_invalid_at(lines[i], lens[i]);
        if (off == lens[i]) continue;
        bad_line b = {i, off, (unsigned char)lines[i][off]};
        if (g->n_bad == g->bad_cap && !guard_grow(g)) {
            fputs("dm: out of memory\n", stderr);
            return 1;
        }
        g->bad[g->n_bad++] = b;
        if (g->policy == UTF8_FAIL) { /* the lines before it are still processed */
            if (kept) *kept = b.i;
            return 0;
        }
        if (g->total < sizeof g->first / sizeof g->first[0])
            reader_where(r, b.i, &g->first[g->total].name, &g->first[g->total].line);
        g->total++;
    }
    if (g->policy != UTF8_SKIP || !g->n_bad) return 0;
    if (g->is_bad_cap < n) {
        free(g->is_bad);
        g->is_bad = calloc(n, sizeof *g->is_bad);
        g->is_bad_cap = g->is_bad ? n : 0;
        if (!g->is_bad) {
            fputs("dm: out of memory\n", stderr);
            return 1;
        }
    }
    for (size_t k = 0; k < g->n_bad; k++) g->is_bad[g->bad[k].i] = true;
    if (compact) {
        size_t w = 0;
        for (size_t j = 0; j < n; j++) {
            if (g->is_bad[j]) continue;
            lines[w] = lines[j];
            lens[w++] = lens[j];
        }
        if (kept) *kept = w;
    }
    return 0;
}

int utf8_block_failed(const utf8_guard *g, const line_reader *r)
{
    if (g->policy != UTF8_FAIL || !g->n_bad) return 0;
    char why[64];
    utf8_reason(&g->bad[0], why, sizeof why);
    line_error(r, g->bad[0].i, "%s", why);
    return 1;
}

size_t utf8_kept_index(const utf8_guard *g, size_t k)
{
    if (g->policy != UTF8_SKIP) return k;
    for (size_t j = 0; j < g->n_bad && g->bad[j].i <= k; j++) k++;
    return k;
}

int utf8_replace_lines(utf8_guard *g, const char **lines, size_t *lens)
{
    size_t need = 0;
    for (size_t k = 0; k < g->n_bad; k++) need += 3 * lens[g->bad[k].i]; /* a byte becomes at most 3 */
    if (need > g->fixed_cap) {
        char *f = realloc(g->fixed, need);
        if (!f) {
            fputs("dm: out of memory\n", stderr);
            return 1;
        }
        g->fixed = f;
        g->fixed_cap = need;
    }
    char *out = g->fixed;
    for (size_t k = 0; k < g->n_bad; k++) {
        size_t i = g->bad[k].i, len = lens[i], j = 0, bad;
        const unsigned char *p = (const unsigned char *)lines[i];
        char *start = out;
        while (j < len) {
            if (p[j] < 0x80) {
                *out++ = (char)p[j++];
                continue;
            }
            size_t m = utf8_multi(p + j, len - j, &bad);
            if (m) {
                memcpy(out, p + j, m);
                out += m;
                j += m;
            } else {
                memcpy(out, "\xEF\xBF\xBD", 3);
                out += 3;
                j += bad;
            }
        }
        lines[i] = start;
        lens[i] = (size_t)(out - start);
    }
    return 0;
}

void utf8_reason(const bad_line *b, char *buf, size_t cap)
{
    snprintf(buf, cap, "invalid UTF-8 at byte offset %zu (0x%02X)", b->off, (unsigned)b->byte);
}

void out_skipped(outbuf *o, const line_reader *r, const bad_line *b, bool json, const char *sep)
{
    if (json) {
        const char *name;
        uint64_t line;
        char why[64];
        reader_where(r, b->i, &name, &line);
        utf8_reason(b, why, sizeof why);
        out_bytes(o, "{\"line\":", 8);
        out_bytes(o, sep, strlen(sep));
        out_u64(o, line);
        out_char(o, ',');
        out_bytes(o, sep, strlen(sep));
        out_bytes(o, "\"file\":", 7);
        out_bytes(o, sep, strlen(sep));
        out_json_string(o, name);
        out_char(o, ',');
        out_bytes(o, sep, strlen(sep));
        out_bytes(o, "\"skipped\":", 10);
        out_bytes(o, sep, strlen(sep));
        out_json_string(o, why);
        out_char(o, '}');
    }
    out_char(o, '\n');
}

void utf8_summary(const utf8_guard *g)
{
    if (!g->total || g->policy == UTF8_FAIL) return;
    bool skip = g->policy == UTF8_SKIP;
    fprintf(stderr, skip ? "dm: skipped %llu line%s with invalid UTF-8 (" : "dm: replaced invalid UTF-8 in %llu line%s (",
            (unsigned long long)g->total, g->total == 1 ? "" : "s");
    size_t shown = g->total < sizeof g->first / sizeof g->first[0] ? (size_t)g->total
                                                                    : sizeof g->first / sizeof g->first[0];
    for (size_t k = 0; k < shown; k++) {
        bool new_file = k == 0 || g->first[k].name != g->first[k - 1].name;
        if (new_file) {
            size_t same = 1; /* lines of this file among those shown */
            while (k + same < shown && g->first[k + same].name == g->first[k].name) same++;
            fprintf(stderr, "%s%s: line%s ", k ? "; " : "", g->first[k].name,
                    same > 1 || (k + same == shown && g->total > shown) ? "s" : "");
        } else {
            fputs(", ", stderr);
        }
        fprintf(stderr, "%llu", (unsigned long long)g->first[k].line);
    }
    fputs(g->total > shown ? ", ...)\n" : ")\n", stderr);
}

void utf8_guard_free(utf8_guard *g)
{
    free(g->bad);
    free(g->is_bad);
    free(g->fixed);
}

int split_pair_lines(const line_reader *r, const utf8_guard *g, const char **lines, size_t *lens, const char **pairs,
                     size_t *pair_lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *tab = memchr(lines[i], '\t', lens[i]);
        if (!tab) {
            line_error(r, g ? utf8_kept_index(g, i) : i, "--pair expects TEXT<TAB>PAIR, found no tab");
            return 1;
        }
        pairs[i] = tab + 1;
        pair_lens[i] = lens[i] - (size_t)(tab + 1 - lines[i]);
        lens[i] = (size_t)(tab - lines[i]);
    }
    return 0;
}

/* ------------------------------------------------------------------ progress bar */
double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void bar_draw(progress_bar *p, uint64_t done, uint64_t total, bool final)
{
    if (!p->on) return;
    double t = now_s();
    if (!final && t - p->last < 0.1) return;
    p->last = t;
    double el = t - p->start;
    if (total) {
        double f = (double)done / (double)total;
        if (f > 1) f = 1;
        int w = 30, fill = (int)(f * w);
        fprintf(stderr, "\r[%.*s%*s] %5.1f%% %.1fs", fill, "==============================", w - fill, "", 100 * f,
                el);
    } else {
        fprintf(stderr, "\r%llu %s %.1fs", (unsigned long long)done, p->unit, el);
    }
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

/* ------------------------------------------------------------------ the block stream */

/* Records [FROM, TO) of the block (block indexes), the first result among
 * them that of kept line K and the first skipped one g->bad[BAD], into O. */
static void write_records(const stream_block *b, size_t from, size_t to, size_t k, size_t bad,
                          const stream_writer *w, outbuf *o)
{
    const utf8_guard *g = b->guard;
    for (size_t i = from; i < to; i++) {
        if (bad < g->n_bad && g->bad[bad].i == i) {
            if (w->skipped) w->skipped(o, b->r, &g->bad[bad], w->ctx);
            else out_skipped(o, b->r, &g->bad[bad], w->json, w->sep);
            bad++;
        } else {
            w->line(o, k++, w->ctx);
        }
    }
}

#define PARALLEL_RECORDS 4096 /* fewer are written on the calling thread */

/* The memory buffers of write_parallel, kept from block to block (a large
 * buffer given back and taken again costs page faults each time). */
static struct {
    outbuf *v;
    size_t n;
} parts_pool;

static outbuf *take_parts(size_t n)
{
    if (n > parts_pool.n) {
        outbuf *v = realloc(parts_pool.v, n * sizeof *v);
        if (!v) return NULL;
        memset(v + parts_pool.n, 0, (n - parts_pool.n) * sizeof *v);
        parts_pool.v = v, parts_pool.n = n;
    }
    for (size_t c = 0; c < n; c++) parts_pool.v[c].len = 0, parts_pool.v[c].failed = false;
    return parts_pool.v;
}

static void release_parts(void)
{
    for (size_t c = 0; c < parts_pool.n; c++) free(parts_pool.v[c].buf);
    free(parts_pool.v);
    parts_pool.v = NULL, parts_pool.n = 0;
}

/* N records in chunks formatted in memory on THREADS threads, then written
 * to the block's output in order. */
static void write_parallel(stream_block *b, size_t n, bool skip, const stream_writer *w, int threads)
{
    const utf8_guard *g = b->guard;
    size_t n_chunks = (size_t)threads * 4, per = (n + n_chunks - 1) / n_chunks;
    outbuf *parts = take_parts(n_chunks);
    if (!parts) {
        b->o->failed = true;
        return;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t c = 0; c < n_chunks; c++) {
        size_t from = c * per < n ? c * per : n, to = from + per < n ? from + per : n;
        size_t bad = skip ? 0 : g->n_bad; /* under skip: the first skipped line at or after FROM */
        while (skip && bad < g->n_bad && g->bad[bad].i < from) bad++;
        write_records(b, from, to, from - (skip ? bad : 0), bad, w, &parts[c]);
    }
    for (size_t c = 0; c < n_chunks; c++) {
        out_bytes(b->o, parts[c].buf, parts[c].len);
        if (parts[c].failed) b->o->failed = true;
    }
}

void stream_write(stream_block *b, size_t limit, const stream_writer *w)
{
    const utf8_guard *g = b->guard;
    bool skip = g->policy == UTF8_SKIP; /* a record in each skipped line's place */
    size_t n = skip ? b->n : b->kept;
    if (n > limit) n = limit;
    int threads = w->threads < 0 ? omp_get_max_threads() : w->threads;
    if (threads > 1 && n >= PARALLEL_RECORDS) write_parallel(b, n, skip, w, threads);
    else write_records(b, 0, n, 0, skip ? 0 : g->n_bad, w, b->o);
}

/* What stream_lines holds while it runs. */
typedef struct {
    const char **lines;
    size_t *lens;
    outbuf o;
    FILE *of;
    line_reader r;
    utf8_guard guard;
    progress_bar bar;
} stream_state;

/* Reads, checks and processes blocks until the input ends or something fails. */
static int stream_blocks(const stream_opts *s, stream_state *st, stream_block_fn fn, void *ctx)
{
    int rc = 0;
    while (!rc) {
        long n = reader_block(&st->r, st->lines, st->lens, s->block);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        if (interrupted) return EXIT_INTERRUPTED;
        stream_block b = {&st->r, &st->guard, st->lines, st->lens, (size_t)n, (size_t)n, &st->o};
        /* Lines that are not UTF-8: under fail only the lines before the first
         * are processed (then it is reported); under skip they are left out. */
        if (s->check_utf8 && utf8_check_block(&st->guard, &st->r, st->lines, st->lens, b.n, s->compact, &b.kept))
            return 1;
        if ((rc = fn(&b, ctx))) break;
        bar_draw(&st->bar, st->r.bytes_read, st->r.bytes_total, false);
        if (st->o.failed || utf8_block_failed(&st->guard, &st->r)) rc = 1;
    }
    return rc;
}

int stream_lines(const stream_opts *s, stream_block_fn fn, void *ctx)
{
    stream_state st = {.guard = {.policy = s->policy}};
    st.of = open_output(s->out_path);
    if (!st.of) return 1;
    st.lines = malloc(s->block * sizeof *st.lines);
    st.lens = malloc(s->block * sizeof *st.lens);
    st.o = (outbuf){st.of, malloc(s->out_cap), 0, s->out_cap, false};
    reader_init(&st.r, s->files, s->n_files);
    st.bar = (progress_bar){s->progress, now_s(), 0, "bytes"};
    int rc = st.lines && st.lens && st.o.buf ? stream_blocks(s, &st, fn, ctx) : out_of_memory();
    if (!rc) bar_draw(&st.bar, st.r.bytes_read, st.r.bytes_total, true);
    else if (st.bar.on) fputc('\n', stderr);
    utf8_summary(&st.guard);
    if (rc == EXIT_INTERRUPTED) fputs("dm: interrupted\n", stderr);
    if (finish_output_rc(&st.o, st.of, s->out_path, rc) && !rc) rc = 1;
    reader_free(&st.r);
    utf8_guard_free(&st.guard);
    free(st.lines);
    free(st.lens);
    release_parts();
    return rc;
}
