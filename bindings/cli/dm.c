/*
 * dm — the libdatamodel command line tool.
 *
 *   dm tokenize --tokenizer PATH [options] [FILE...]   texts (one per line) -> ids / tokens / JSON
 *   dm decode --tokenizer PATH [FILE...]               id lines -> text
 *   dm tokenizer train --output DIR [options] FILE...  learn a WordPiece vocabulary
 *   dm tokenizer info PATH                             vocabulary size and special tokens
 *   dm tokenizer lookup PATH TOKEN|--id N ...          token <-> id
 *   dm tokenizer save PATH DIR                         re-save (e.g. vocab.txt -> tokenizer.json)
 *   dm init, train, eval, predict, embed, model info   the classifier (in dm_model.c)
 *   dm profile, clean, dedup, conflicts, split,        data sets (in dm_data.c)
 *      resample, class-weights, augment
 *   dm redact                                          find and anonymise personal data (in dm_redact.c)
 *   dm help [COMMAND], dm --version
 *
 * Input is streamed in blocks of lines that are encoded on all cores with
 * dm_tokenizer_encode_batch; output goes through one large buffer. Ctrl-C
 * cancels through the library's progress callback. Exit codes: 0 success,
 * 1 failure (message on stderr), 2 usage error, 130 interrupted.
 */
#include "cli.h"

#include <jansson.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------ help */
static const char *const help_main =
    "usage: dm COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  tokenize          encode texts (one per line) with a Hugging Face tokenizer\n"
    "  decode            turn lines of token ids back into text\n"
    "  tokenizer train   learn a WordPiece vocabulary from text files\n"
    "  tokenizer info    vocabulary size and special tokens of a tokenizer\n"
    "  tokenizer lookup  token -> id, or id -> token\n"
    "  tokenizer save    write a tokenizer as vocab.txt + tokenizer.json + tokenizer_config.json\n"
    "  init              a model folder with a new classification head\n"
    "  train             fine-tune a classifier on labelled CSV/TSV/JSONL data\n"
    "  eval              classification report of a model on labelled data\n"
    "  metrics           classification report of predictions made elsewhere (a CSV/TSV/JSONL file)\n"
    "  predict           label and probability of each text (one per line)\n"
    "  embed             sentence embedding of each text (one per line)\n"
    "  forward           logits (and hidden states) of lines of token ids\n"
    "  model info        labels, sizes and backend of a model folder\n"
    "  profile           what a data set holds: classes, lengths, duplicates, conflicts (JSON, HTML)\n"
    "  clean             normalise texts (NFKC, HTML, control characters, spaces), drop bad rows\n"
    "  dedup             remove exact and near duplicates (MinHash LSH)\n"
    "  conflicts         texts that carry different labels; keep, drop or vote\n"
    "  split             train/val/test or K folds: stratified, grouped, with a leakage check\n"
    "  resample          over- or under-sample to balance the classes\n"
    "  class-weights     balanced class weights, as scikit-learn's\n"
    "  augment           new rows by EDA (synonyms, insertion, swap, deletion) and typos\n"
    "  redact            find personal data (emails, phones, cards, IDs, ...) and redact, mask,\n"
    "                    hash or encrypt it, in lines or a data set\n"
    "  help [COMMAND]    this text, or a command's\n"
    "\n"
    "options for every command: -h/--help; dm --version prints the library version.\n";

static const char *const help_tokenize =
    "usage: dm tokenize --tokenizer PATH [options] [FILE...]\n"
    "\n"
    "Reads texts, one per line (a trailing \\r is dropped), from the FILEs or standard input,\n"
    "and writes one line per text. PATH: tokenizer.json, vocab.txt or a model folder.\n"
    "\n"
    "  -t, --tokenizer PATH      the tokenizer (required)\n"
    "  -f, --format F            ids (default), tokens, json (one object per line), tsv\n"
    "                            (ids<TAB>type_ids<TAB>attention_mask<TAB>offsets)\n"
    "      --pair, --pairs       each line is TEXT<TAB>PAIR: encode the pair\n"
    "  -i, --input F             lines (default) or jsonl: each line a JSON string, or an object\n"
    "                            {\"text\": ..., \"pair\": ...}, for texts that hold newlines or tabs\n"
    "      --lowercase / --no-lowercase            override the tokenizer's setting\n"
    "      --strip-accents / --no-strip-accents    override the tokenizer's setting\n"
    "      --no-special          no [CLS]/[SEP] (also --no-special-tokens)\n"
    "      --max-length N        truncate to N tokens (special tokens included)\n"
    "      --truncation S        longest_first (default with --max-length), only_first, only_second\n"
    "      --padding P           longest (per block of lines) or max_length (to --pad-length or\n"
    "                            --max-length)\n"
    "      --pad-length N        length for --padding max_length\n"
    "      --pad-multiple N      round padded lengths up to a multiple of N\n"
    "      --invalid-utf8 P      error (default: stop, naming the line) or replace (U+FFFD)\n"
    "  -j, --threads N           threads (default: all cores)\n"
    "      --block N             lines encoded per batch (default 65536)\n"
    "  -o, --output FILE         write there instead of standard output\n"
    "      --progress / --no-progress   progress bar on standard error (default: when it is a terminal)\n";

static const char *const help_decode =
    "usage: dm decode --tokenizer PATH [--keep-special] [FILE...]\n"
    "\n"
    "Reads lines of space-separated token ids and writes the decoded text, one line each.\n"
    "  -t, --tokenizer PATH   the tokenizer (required)\n"
    "      --keep-special     keep special tokens such as [CLS] (default: skip them)\n"
    "  -o, --output FILE      write there instead of standard output\n";

static const char *const help_tokenizer =
    "usage: dm tokenizer train --out DIR [options] --corpus FILE [--corpus FILE...] [FILE...]\n"
    "       dm tokenizer info PATH\n"
    "       dm tokenizer lookup PATH TOKEN... | dm tokenizer lookup PATH --id N...\n"
    "       dm tokenizer save PATH DIR [--lowercase|--no-lowercase] [--strip-accents|--no-strip-accents]\n"
    "\n"
    "train options (defaults as BERT's):\n"
    "  -o, --out DIR             where to write vocab.txt, tokenizer.json, tokenizer_config.json\n"
    "  -c, --corpus FILE         a training text file, one text per line (repeatable; bare FILEs too)\n"
    "      --vocab-size N        default 30522\n"
    "      --min-frequency N     pairs seen fewer times are not merged (default 2)\n"
    "      --limit-alphabet N    keep only the N most frequent characters (default: all)\n"
    "      --special-tokens LIST comma-separated (default [PAD],[UNK],[CLS],[SEP],[MASK])\n"
    "      --no-lowercase, --strip-accents / --no-strip-accents, --no-clean-text, --no-chinese-chars\n"
    "      --progress / --no-progress\n";

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

/* ------------------------------------------------------------------ output buffer */
void out_flush(outbuf *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len) o->failed = true;
    o->len = 0;
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

/* ------------------------------------------------------------------ input: lines from files */
static int reader_open_next(line_reader *r)
{
    if (r->f && r->f != stdin) fclose(r->f);
    r->f = NULL;
    if (r->n_paths == 0 && r->next == 0) {
        r->next = 1;
        r->f = stdin;
        r->name = "standard input";
        return 0;
    }
    if (r->next >= r->n_paths) return 0;
    const char *p = r->paths[r->next++];
    if (strcmp(p, "-") == 0) {
        r->f = stdin;
        r->name = "standard input";
        return 0;
    }
    r->f = fopen(p, "rb");
    r->name = p;
    if (!r->f) {
        fprintf(stderr, "dm: %s: %s\n", p, strerror(errno));
        return 1;
    }
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

/* Reads up to MAX lines into LINES/LENS (pointers into the reader's buffer,
 * valid until the next call). A final line without '\n' counts; '\r' before
 * '\n' is dropped. Returns the count, or -1 on a read error. */
void report_block_error(const line_reader *r, uint64_t first_line)
{
    /* The library's message names the text's index in the block: add the line. */
    fprintf(stderr, "dm: %s (block starting at line %llu): %s\n", r->name ? r->name : "input",
            (unsigned long long)first_line + 1, dm_last_error());
}

long reader_block(line_reader *r, const char **lines, size_t *lens, size_t max)
{
    /* Move the unread tail to the front, then fill. */
    if (r->start) memmove(r->buf, r->buf + r->start, r->len - r->start);
    r->len -= r->start;
    r->start = 0;
    size_t n = 0, scan = 0;
    if (r->offs_cap < max) {
        free(r->offs);
        r->offs = malloc(max * sizeof *r->offs);
        if (!r->offs) return -1;
        r->offs_cap = max;
    }
    for (;;) {
        while (n < max && scan < r->len) {
            char *nl = memchr(r->buf + scan, '\n', r->len - scan);
            if (!nl) break;
            size_t end = (size_t)(nl - r->buf), ll = end - scan;
            if (ll && r->buf[end - 1] == '\r') ll--;
            r->offs[n] = scan;
            lens[n++] = ll;
            scan = end + 1;
        }
        if (n == max) break;
        if (!r->f && !r->eof) {
            if (reader_open_next(r)) return -1;
            if (!r->f) r->eof = true;
        }
        if (r->eof) {
            if (scan < r->len) { /* last line without a newline */
                size_t ll = r->len - scan;
                if (r->buf[r->len - 1] == '\r') ll--;
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
                    if (!b) return -1;
                    r->buf = b;
                    r->cap++;
                }
                r->buf[r->len++] = '\n';
            }
        }
    }
    for (size_t i = 0; i < n; i++) lines[i] = r->buf + r->offs[i];
    r->start = scan;
    r->line_no += n;
    return (long)n;
}

void reader_free(line_reader *r)
{
    if (r->f && r->f != stdin) fclose(r->f);
    free(r->buf);
    free(r->offs);
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

static int train_progress(uint64_t done, uint64_t total, void *user)
{
    bar_draw(user, done, total, false);
    return interrupted;
}

static int batch_progress(uint64_t done, uint64_t total, void *user)
{
    (void)done;
    (void)total;
    (void)user;
    return interrupted; /* the bar itself counts input bytes, drawn per block */
}

/* ------------------------------------------------------------------ tokenize */
typedef enum { FMT_IDS, FMT_TOKENS, FMT_JSON, FMT_TSV } out_format;

/* Decimal strings of every id, made once: writing an id is then one small
 * copy, which matters when the output is most of the work. */
typedef struct {
    char *text;  /* "0\0" "1\0" ... */
    uint32_t *at;
    uint8_t *len;
    size_t n;
} id_strings;

static id_strings ids_text;

static int id_strings_init(size_t n)
{
    ids_text.at = malloc((n ? n : 1) * sizeof *ids_text.at);
    ids_text.len = malloc(n ? n : 1);
    ids_text.text = malloc((n ? n : 1) * 12 + 8); /* + 8: out_id copies 8 bytes at a time */
    if (!ids_text.at || !ids_text.len || !ids_text.text) return 1;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(ids_text.text + used, 12, "%zu", i);
        ids_text.at[i] = (uint32_t)used;
        ids_text.len[i] = (uint8_t)k;
        used += (size_t)k + 1;
    }
    ids_text.n = n;
    return 0;
}

static void id_strings_free(void)
{
    free(ids_text.text);
    free(ids_text.at);
    free(ids_text.len);
}

static inline void out_id(outbuf *o, int32_t id)
{
    if (id >= 0 && (size_t)id < ids_text.n) {
        size_t n = ids_text.len[id];
        if (o->len + 8 <= o->cap) { /* the common case: one fixed-size copy, no flush */
            memcpy(o->buf + o->len, ids_text.text + ids_text.at[id], 8);
            o->len += n;
            return;
        }
        out_bytes(o, ids_text.text + ids_text.at[id], n);
        return;
    }
    out_i64(o, id);
}

static void write_encoding(outbuf *o, const dm_encoding *e, out_format fmt)
{
    switch (fmt) {
    case FMT_IDS:
        for (size_t k = 0; k < e->length; k++) {
            if (k) out_char(o, ' ');
            out_id(o, e->ids[k]);
        }
        break;
    case FMT_TOKENS:
        for (size_t k = 0; k < e->length; k++) {
            if (k) out_char(o, ' ');
            out_bytes(o, e->tokens[k], strlen(e->tokens[k]));
        }
        break;
    case FMT_TSV:
        for (size_t k = 0; k < e->length; k++) {
            if (k) out_char(o, ' ');
            out_id(o, e->ids[k]);
        }
        out_char(o, '\t');
        for (size_t k = 0; k < e->length; k++) {
            if (k) out_char(o, ' ');
            out_i64(o, e->type_ids[k]);
        }
        out_char(o, '\t');
        for (size_t k = 0; k < e->length; k++) {
            if (k) out_char(o, ' ');
            out_char(o, (char)('0' + e->attention_mask[k]));
        }
        out_char(o, '\t');
        for (size_t k = 0; k < e->length; k++) {
            if (k) out_char(o, ' ');
            out_u64(o, e->offsets[2 * k]);
            out_char(o, ':');
            out_u64(o, e->offsets[2 * k + 1]);
        }
        break;
    case FMT_JSON: {
        static const char *const keys[] = {"{\"ids\":[", "],\"tokens\":[", "],\"type_ids\":[", "],\"attention_mask\":[",
                                           "],\"special_tokens_mask\":[", "],\"offsets\":["};
        for (int f = 0; f < 6; f++) {
            out_bytes(o, keys[f], strlen(keys[f]));
            for (size_t k = 0; k < e->length; k++) {
                if (k) out_char(o, ',');
                switch (f) {
                case 0: out_id(o, e->ids[k]); break;
                case 1: out_json_string(o, e->tokens[k]); break;
                case 2: out_i64(o, e->type_ids[k]); break;
                case 3: out_char(o, (char)('0' + e->attention_mask[k])); break;
                case 4: out_char(o, (char)('0' + e->special_tokens_mask[k])); break;
                default:
                    out_char(o, '[');
                    out_u64(o, e->offsets[2 * k]);
                    out_char(o, ',');
                    out_u64(o, e->offsets[2 * k + 1]);
                    out_char(o, ']');
                }
            }
        }
        out_bytes(o, "]}", 2);
        break;
    }
    }
    out_char(o, '\n');
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

/* --input jsonl: each line is a JSON string, or an object with a "text"
 * string and an optional "pair" string, so texts may hold newlines, tabs or
 * NUL. The decoded values live in VALUES until the block is done. */
static int parse_jsonl(const char **lines, size_t *lens, const char **pairs, size_t *pair_lens, json_t **values,
                       size_t n, const line_reader *r, const utf8_guard *g, bool *have_pairs)
{
    int any_pair = 0, any_single = 0;
    for (size_t i = 0; i < n; i++) {
        json_error_t err;
        values[i] = json_loadb(lines[i], lens[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        const json_t *v = values[i], *text = v, *pair = NULL;
        if (json_is_object(v)) {
            text = json_object_get(v, "text");
            pair = json_object_get(v, "pair");
        }
        const char *why = !v ? err.text
                          : !json_is_string(text) ? "expected a JSON string or an object with a \"text\" string"
                          : pair && !json_is_string(pair) ? "\"pair\" must be a string"
                          : NULL;
        if (why) {
            fprintf(stderr, "dm: line %llu: %s\n", (unsigned long long)(first_line + i + 1), why);
            for (size_t k = 0; k <= i; k++) json_decref(values[k]);
            return 1;
        }
        lines[i] = json_string_value(text);
        lens[i] = json_string_length(text);
        pairs[i] = pair ? json_string_value(pair) : NULL;
        pair_lens[i] = pair ? json_string_length(pair) : 0;
        any_pair |= pair != NULL;
        any_single |= pair == NULL;
    }
    if (any_pair && any_single) {
        fprintf(stderr, "dm: lines %llu-%llu mix texts with and without \"pair\"; a block must be all one kind\n",
                (unsigned long long)first_line + 1, (unsigned long long)(first_line + n));
        for (size_t k = 0; k < n; k++) json_decref(values[k]);
        return 1;
    }
    *have_pairs = any_pair;
    return 0;
}

/* Splits "TEXT<TAB>PAIR" lines; a line without a tab is an error naming it. */
static int split_pairs(const char **lines, size_t *lens, const char **pairs, size_t *pair_lens, size_t n,
                       uint64_t first_line)
{
    for (size_t i = 0; i < n; i++) {
        const char *tab = memchr(lines[i], '\t', lens[i]);
        if (!tab) {
            fprintf(stderr, "dm: line %llu: --pairs expects TEXT<TAB>PAIR, found no tab\n",
                    (unsigned long long)(first_line + i + 1));
            return 1;
        }
        pairs[i] = tab + 1;
        pair_lens[i] = lens[i] - (size_t)(tab + 1 - lines[i]);
        lens[i] = (size_t)(tab - lines[i]);
    }
    return 0;
}

static int cmd_tokenize(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *tok_path = NULL, *out_path = NULL, *v;
    dm_tokenizer_options topts;
    dm_tokenizer_options_default(&topts);
    dm_encode_options eo;
    dm_encode_options_default(&eo);
    out_format fmt = FMT_IDS;
    bool pairs = false, trunc_given = false, jsonl = false;
    int progress = isatty(STDERR_FILENO);
    size_t block = 65536;
    char **files = argv; /* file arguments, compacted into the part of argv already read */
    int n_files = 0;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_tokenize, stdout);
            return 0;
        } else if (is_opt(arg, "-t", "--tokenizer")) {
            NEED_VALUE(tok_path, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(out_path, arg);
        } else if (is_opt(arg, "-f", "--format")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "ids") == 0) fmt = FMT_IDS;
            else if (strcmp(v, "tokens") == 0) fmt = FMT_TOKENS;
            else if (strcmp(v, "json") == 0 || strcmp(v, "jsonl") == 0) fmt = FMT_JSON;
            else if (strcmp(v, "tsv") == 0) fmt = FMT_TSV;
            else return usage_error("unknown format '%s' (ids, tokens, json, tsv)", v);
        } else if (is_opt(arg, "-i", "--input")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "lines") == 0) jsonl = false;
            else if (strcmp(v, "jsonl") == 0) jsonl = true;
            else return usage_error("unknown input format '%s' (lines, jsonl)", v);
        } else if (is_opt(arg, NULL, "--pairs") || is_opt(arg, NULL, "--pair")) {
            pairs = true;
        } else if (parse_bool_pair(arg, "lowercase", &topts.lowercase) ||
                   parse_bool_pair(arg, "strip-accents", &topts.strip_accents) ||
                   parse_bool_pair(arg, "progress", &progress)) {
        } else if (is_opt(arg, NULL, "--no-special-tokens") || is_opt(arg, NULL, "--no-special")) {
            eo.add_special_tokens = 0;
        } else if (is_opt(arg, NULL, "--max-length")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &eo.max_length)) return usage_error("--max-length: '%s' is not a count", v);
            if (!trunc_given) eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
        } else if (is_opt(arg, NULL, "--truncation")) {
            NEED_VALUE(v, arg);
            trunc_given = true;
            if (strcmp(v, "longest_first") == 0) eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
            else if (strcmp(v, "only_first") == 0) eo.truncation = DM_TRUNCATE_ONLY_FIRST;
            else if (strcmp(v, "only_second") == 0) eo.truncation = DM_TRUNCATE_ONLY_SECOND;
            else if (strcmp(v, "none") == 0) eo.truncation = DM_TRUNCATE_NONE;
            else return usage_error("unknown truncation '%s' (longest_first, only_first, only_second, none)", v);
        } else if (is_opt(arg, NULL, "--padding")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "longest") == 0) eo.padding = DM_PAD_TO_LONGEST;
            else if (strcmp(v, "max_length") == 0) eo.padding = DM_PAD_TO_LENGTH;
            else if (strcmp(v, "none") == 0) eo.padding = DM_PAD_NONE;
            else return usage_error("unknown padding '%s' (longest, max_length, none)", v);
        } else if (is_opt(arg, NULL, "--pad-length")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &eo.pad_length)) return usage_error("--pad-length: '%s' is not a count", v);
        } else if (is_opt(arg, NULL, "--pad-multiple")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &eo.pad_to_multiple_of)) return usage_error("--pad-multiple: '%s' is not a count", v);
        } else if (is_opt(arg, NULL, "--invalid-utf8")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "error") == 0) eo.invalid_utf8 = DM_UTF8_ERROR;
            else if (strcmp(v, "replace") == 0) eo.invalid_utf8 = DM_UTF8_REPLACE;
            else return usage_error("unknown --invalid-utf8 policy '%s' (error, replace)", v);
        } else if (is_opt(arg, "-j", "--threads")) {
            NEED_VALUE(v, arg);
            size_t n;
            if (!parse_size(v, &n) || n > 4096) return usage_error("--threads: '%s' is not a thread count", v);
            eo.threads = (int)n;
        } else if (is_opt(arg, NULL, "--block")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &block) || block == 0) return usage_error("--block: '%s' is not a positive count", v);
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("tokenize: unknown option '%s'", arg);
        } else {
            files[n_files++] = argv[a.i];
        }
    }
    if (!tok_path) return usage_error("tokenize needs --tokenizer PATH");
    if (eo.padding == DM_PAD_TO_LENGTH && !eo.pad_length) eo.pad_length = eo.max_length;
    if (eo.padding == DM_PAD_TO_LENGTH && !eo.pad_length)
        return usage_error("--padding max_length needs --pad-length or --max-length");

    dm_tokenizer *tok;
    if (dm_tokenizer_load(tok_path, &topts, &tok)) {
        return fail_lib(tok_path);
    }
    if (id_strings_init(dm_tokenizer_vocab_size(tok))) {
        dm_tokenizer_free(tok);
        fputs("dm: out of memory\n", stderr);
        return 1;
    }
    FILE *of = open_output(out_path);
    const char **lines = malloc(block * sizeof *lines), **pair_ptrs = malloc(block * sizeof *pair_ptrs);
    size_t *lens = malloc(block * sizeof *lens), *pair_lens = malloc(block * sizeof *pair_lens);
    json_t **values = jsonl ? calloc(block, sizeof *values) : NULL;
    outbuf o = {of, malloc(1u << 22), 0, 1u << 22, false};
    line_reader r;
    reader_init(&r, files, n_files);
    progress_bar bar = {progress != 0, now_s(), 0, "bytes"};
    eo.progress = batch_progress;
    int rc = 0;
    if (!of || !lines || !pair_ptrs || !lens || !pair_lens || !o.buf || (jsonl && !values)) rc = 1;
    if (jsonl && pairs) rc = usage_error("--pair reads TEXT<TAB>PAIR lines; with --input jsonl give \"pair\" fields");
    while (!rc) {
        uint64_t first_line = r.line_no;
        long n = reader_block(&r, lines, lens, block);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        if (interrupted) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        if (pairs && split_pairs(lines, lens, pair_ptrs, pair_lens, (size_t)n, first_line)) {
            rc = 1;
            break;
        }
        bool block_pairs = pairs;
        if (jsonl && parse_jsonl(lines, lens, pair_ptrs, pair_lens, values, (size_t)n, first_line, &block_pairs)) {
            rc = 1;
            break;
        }
        dm_encoding **encs;
        dm_status st = dm_tokenizer_encode_batch(tok, (size_t)n, lines, lens, block_pairs ? pair_ptrs : NULL,
                                                 block_pairs ? pair_lens : NULL, &eo, &encs);
        for (long i = 0; jsonl && i < n; i++) json_decref(values[i]);
        if (st == DM_ERR_CANCELLED) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        if (st) {
            report_block_error(&r, first_line);
            rc = 1;
            break;
        }
        for (long i = 0; i < n; i++) write_encoding(&o, encs[i], fmt);
        dm_encodings_free(encs, (size_t)n);
        bar_draw(&bar, r.bytes_read, r.bytes_total, false);
        if (o.failed) rc = 1;
    }
    if (!rc) bar_draw(&bar, r.bytes_read, r.bytes_total, true);
    else if (bar.on) fputc('\n', stderr);
    if (rc == EXIT_INTERRUPTED) fputs("dm: interrupted\n", stderr);
    if (of && finish_output(&o, of, out_path) && !rc) rc = 1;
    if (!of) free(o.buf);
    reader_free(&r);
    free(lines);
    free(pair_ptrs);
    free(lens);
    free(pair_lens);
    free(values);
    id_strings_free();
    dm_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------------ decode */
static int cmd_decode(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *tok_path = NULL, *out_path = NULL;
    int skip_special = 1;
    char **files = argv; /* file arguments, compacted into the part of argv already read */
    int n_files = 0;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_decode, stdout);
            return 0;
        } else if (is_opt(arg, "-t", "--tokenizer")) {
            NEED_VALUE(tok_path, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(out_path, arg);
        } else if (is_opt(arg, NULL, "--keep-special")) {
            skip_special = 0;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("decode: unknown option '%s'", arg);
        } else {
            files[n_files++] = argv[a.i];
        }
    }
    if (!tok_path) return usage_error("decode needs --tokenizer PATH");
    dm_tokenizer *tok;
    if (dm_tokenizer_load(tok_path, NULL, &tok)) {
        return fail_lib(tok_path);
    }
    FILE *of = open_output(out_path);
    outbuf o = {of, malloc(1u << 20), 0, 1u << 20, false};
    line_reader r;
    reader_init(&r, files, n_files);
    enum { BLOCK = 4096 };
    const char *lines[BLOCK];
    size_t lens[BLOCK];
    int32_t *ids = NULL;
    size_t ids_cap = 0;
    int rc = of && o.buf ? 0 : 1;
    while (!rc) {
        long n = reader_block(&r, lines, lens, BLOCK);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        for (long i = 0; i < n && !rc; i++) {
            size_t count = 0;
            const char *p = lines[i], *end = lines[i] + lens[i];
            while (p < end && !rc) {
                while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
                if (p == end) break;
                char *stop;
                long long id = strtoll(p, &stop, 10);
                if (stop == p || stop > end || id < INT32_MIN || id > INT32_MAX) {
                    fprintf(stderr, "dm: %s: line %llu: expected token ids, found '%.*s'\n", r.name,
                            (unsigned long long)(r.line_no - (uint64_t)n + (uint64_t)i + 1), (int)(end - p), p);
                    rc = 1;
                    break;
                }
                if (count == ids_cap) {
                    ids_cap = ids_cap ? ids_cap * 2 : 256;
                    int32_t *g = realloc(ids, ids_cap * sizeof *ids);
                    if (!g) {
                        rc = 1;
                        break;
                    }
                    ids = g;
                }
                ids[count++] = (int32_t)id;
                p = stop;
            }
            if (rc) break;
            char *text;
            size_t tl;
            if (dm_tokenizer_decode(tok, ids, count, skip_special, &text, &tl)) {
                fprintf(stderr, "dm: line %llu: %s\n", (unsigned long long)(r.line_no - (uint64_t)n + (uint64_t)i + 1),
                        dm_last_error());
                rc = 1;
                break;
            }
            out_bytes(&o, text, tl);
            out_char(&o, '\n');
            dm_free(text);
        }
    }
    if (of && finish_output_rc(&o, of, out_path, rc) && !rc) rc = 1;
    if (!of) free(o.buf);
    reader_free(&r);
    free(ids);
    dm_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------------ tokenizer subcommands */
static int cmd_tokenizer_train(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    dm_tokenizer_train_options to;
    dm_tokenizer_train_options_default(&to);
    const char *out_dir = NULL, *v;
    const char *specials[256];
    int progress = isatty(STDERR_FILENO);
    const char **files = (const char **)argv; /* compacted into the part of argv already read */
    size_t n_files = 0;
    int rc = 0;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_tokenizer, stdout);
            goto done;
        } else if (is_opt(arg, "-o", "--output") || is_opt(arg, NULL, "--out")) {
            NEED_VALUE(out_dir, arg);
        } else if (is_opt(arg, "-c", "--corpus")) {
            NEED_VALUE(v, arg);
            files[n_files++] = v;
        } else if (is_opt(arg, NULL, "--vocab-size")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &to.vocab_size)) return usage_error("--vocab-size: '%s' is not a count", v);
        } else if (is_opt(arg, NULL, "--min-frequency")) {
            NEED_VALUE(v, arg);
            size_t f;
            if (!parse_size(v, &f)) return usage_error("--min-frequency: '%s' is not a count", v);
            to.min_frequency = f;
        } else if (is_opt(arg, NULL, "--limit-alphabet")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &to.limit_alphabet)) return usage_error("--limit-alphabet: '%s' is not a count", v);
        } else if (is_opt(arg, NULL, "--special-tokens")) {
            NEED_VALUE(v, arg);
            to.n_special_tokens = 0; /* split in place: argv strings are ours to modify */
            for (char *s = strtok(argv[a.i], ","); s && to.n_special_tokens < 256; s = strtok(NULL, ","))
                specials[to.n_special_tokens++] = s;
            to.special_tokens = specials;
        } else if (parse_bool_pair(arg, "lowercase", &to.lowercase) ||
                   parse_bool_pair(arg, "strip-accents", &to.strip_accents) ||
                   parse_bool_pair(arg, "clean-text", &to.clean_text) ||
                   parse_bool_pair(arg, "chinese-chars", &to.handle_chinese_chars) ||
                   parse_bool_pair(arg, "progress", &progress)) {
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("tokenizer train: unknown option '%s'", arg);
        } else {
            files[n_files++] = arg;
        }
    }
    if (!out_dir) {
        rc = usage_error("tokenizer train needs --out DIR");
        goto done;
    }
    if (!n_files) {
        rc = usage_error("tokenizer train needs at least one --corpus FILE");
        goto done;
    }
    progress_bar bar = {progress != 0, now_s(), 0, "units"};
    if (bar.on) {
        to.progress = train_progress;
        to.progress_user = &bar;
    } else {
        to.progress = (dm_progress_fn)batch_progress; /* still lets Ctrl-C cancel */
    }
    dm_tokenizer *tok;
    dm_status st = dm_tokenizer_train(files, n_files, &to, &tok);
    if (bar.on) fputc('\n', stderr);
    if (st == DM_ERR_CANCELLED) {
        fputs("dm: interrupted\n", stderr);
        rc = EXIT_INTERRUPTED;
    } else if (st) {
        rc = fail_lib("tokenizer train");
    } else {
        if (dm_tokenizer_save(tok, out_dir)) rc = fail_lib(out_dir);
        else fprintf(stderr, "dm: wrote a vocabulary of %zu tokens to %s\n", dm_tokenizer_vocab_size(tok), out_dir);
        dm_tokenizer_free(tok);
    }
done:
    return rc;
}

static int load_with_flags(int argc, char **argv, int first, const char **path, const char **second,
                           dm_tokenizer **tok)
{
    dm_tokenizer_options o;
    dm_tokenizer_options_default(&o);
    for (int i = first; i < argc; i++) {
        if (parse_bool_pair(argv[i], "lowercase", &o.lowercase) ||
            parse_bool_pair(argv[i], "strip-accents", &o.strip_accents))
            continue;
        if (argv[i][0] == '-' && argv[i][1]) return usage_error("unknown option '%s'", argv[i]);
        if (!*path) *path = argv[i];
        else if (second && !*second) *second = argv[i];
        else return usage_error("unexpected argument '%s'", argv[i]);
    }
    if (!*path) return usage_error("missing the tokenizer PATH");
    return dm_tokenizer_load(*path, &o, tok) ? fail_lib(*path) : 0;
}

static int cmd_tokenizer_info(int argc, char **argv)
{
    const char *path = NULL;
    dm_tokenizer *tok;
    int rc = load_with_flags(argc, argv, 1, &path, NULL, &tok);
    if (rc) return rc;
    static const char *const names[] = {"unk", "cls", "sep", "pad", "mask"};
    printf("path\t%s\nvocab_size\t%zu\n", path, dm_tokenizer_vocab_size(tok));
    for (int i = 0; i < 5; i++) {
        int32_t id = dm_tokenizer_special_id(tok, (dm_special_token)i);
        if (id >= 0) printf("%s\t%d\t%s\n", names[i], id, dm_tokenizer_id_to_token(tok, id));
        else printf("%s\t-\n", names[i]);
    }
    dm_tokenizer_free(tok);
    return 0;
}

static int cmd_tokenizer_lookup(int argc, char **argv)
{
    if (argc < 3) return usage_error("tokenizer lookup needs PATH and at least one token (or --id N)");
    dm_tokenizer *tok;
    if (dm_tokenizer_load(argv[1], NULL, &tok)) return fail_lib(argv[1]);
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0) {
            if (++i >= argc) {
                rc = usage_error("--id needs a value");
                break;
            }
            char *end;
            long id = strtol(argv[i], &end, 10);
            const char *s = *end || id < INT32_MIN || id > INT32_MAX ? NULL : dm_tokenizer_id_to_token(tok, (int32_t)id);
            if (s) {
                printf("%ld\t%s\n", id, s);
            } else {
                fprintf(stderr, "dm: id %s is not in the vocabulary (size %zu)\n", argv[i],
                        dm_tokenizer_vocab_size(tok));
                rc = 1;
            }
        } else {
            int32_t id;
            if (dm_tokenizer_token_to_id(tok, argv[i], strlen(argv[i]), &id)) {
                fprintf(stderr, "dm: %s\n", dm_last_error());
                rc = 1;
            } else {
                printf("%s\t%d\n", argv[i], id);
            }
        }
    }
    dm_tokenizer_free(tok);
    return rc;
}

static int cmd_tokenizer_save(int argc, char **argv)
{
    const char *path = NULL, *dir = NULL;
    dm_tokenizer *tok;
    int rc = load_with_flags(argc, argv, 1, &path, &dir, &tok);
    if (rc) return rc;
    if (!dir) rc = usage_error("tokenizer save needs PATH and DIR");
    else if (dm_tokenizer_save(tok, dir)) rc = fail_lib(dir);
    dm_tokenizer_free(tok);
    return rc;
}

static int cmd_tokenizer(int argc, char **argv)
{
    if (argc < 2 || is_opt(argv[1], "-h", "--help") || strcmp(argv[1], "help") == 0) {
        fputs(help_tokenizer, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (int i = 2; i < argc; i++)
        if (is_opt(argv[i], "-h", "--help")) {
            fputs(help_tokenizer, stdout);
            return 0;
        }
    const char *sub = argv[1];
    if (strcmp(sub, "train") == 0) return cmd_tokenizer_train(argc - 1, argv + 1);
    if (strcmp(sub, "info") == 0) return cmd_tokenizer_info(argc - 1, argv + 1);
    if (strcmp(sub, "lookup") == 0) return cmd_tokenizer_lookup(argc - 1, argv + 1);
    if (strcmp(sub, "save") == 0) return cmd_tokenizer_save(argc - 1, argv + 1);
    return usage_error("unknown tokenizer command '%s' (train, info, lookup, save)", sub);
}

static int cmd_help(int argc, char **argv)
{
    const char *topic = argc > 1 ? argv[1] : NULL;
    if (!topic) fputs(help_main, stdout);
    else if (strcmp(topic, "tokenize") == 0) fputs(help_tokenize, stdout);
    else if (strcmp(topic, "decode") == 0) fputs(help_decode, stdout);
    else if (strcmp(topic, "tokenizer") == 0) fputs(help_tokenizer, stdout);
    else if (model_help(topic)) fputs(model_help(topic), stdout);
    else if (data_help(topic)) fputs(data_help(topic), stdout);
    else if (strcmp(topic, "redact") == 0) fputs(redact_help(), stdout);
    else return usage_error("no help for '%s'", topic);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART; /* reads go on; the flag is polled between blocks */
    sigaction(SIGINT, &sa, NULL);
    if (argc < 2) {
        fputs(help_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("dm (libdatamodel) %s\n", dm_version());
        return 0;
    }
    if (is_opt(cmd, "-h", "--help") || strcmp(cmd, "help") == 0) return cmd_help(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "decode") == 0) return cmd_decode(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenizer") == 0) return cmd_tokenizer(argc - 1, argv + 1);
    if (strcmp(cmd, "init") == 0) return cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0) return cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "embed") == 0) return cmd_embed(argc - 1, argv + 1);
    if (strcmp(cmd, "model") == 0) return cmd_model(argc - 1, argv + 1);
    if (strcmp(cmd, "metrics") == 0) return cmd_metrics(argc - 1, argv + 1);
    if (strcmp(cmd, "forward") == 0) return cmd_forward(argc - 1, argv + 1);
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } data_cmds[] = {{"profile", cmd_profile},     {"clean", cmd_clean},         {"dedup", cmd_dedup},
                     {"conflicts", cmd_conflicts}, {"split", cmd_split},         {"resample", cmd_resample},
                     {"class-weights", cmd_class_weights}, {"augment", cmd_augment},
                     {"redact", cmd_redact}};
    for (size_t i = 0; i < sizeof data_cmds / sizeof data_cmds[0]; i++)
        if (strcmp(cmd, data_cmds[i].name) == 0) return data_cmds[i].run(argc - 1, argv + 1);
    return usage_error("unknown command '%s'", cmd);
}
