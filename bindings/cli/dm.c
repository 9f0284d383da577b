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
 * dm_tokenizer_encode_batch; output goes through one large buffer. The line
 * reader knows each line's file and line number, and every block is checked
 * for invalid UTF-8 before the library sees it (--invalid-utf8 fail, skip or
 * replace; utf8_check_block), so that messages name the line. Ctrl-C
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

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
    HELP_INVALID_UTF8("                                (which BERT tokenizers drop, as Hugging Face's do),\n",
                      "                                an empty line, or with --format json\n"
                      "                                {\"line\":N,\"file\":\"FILE\",\"skipped\":\"invalid UTF-8 at ...\"},\n")
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
static const char *batch_index(const char *msg, size_t *k)
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
    const char *msg = dm_last_error(), *rest;
    size_t k;
    if ((rest = batch_index(msg, &k)) && k < n_texts) {
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
            line_error(r, utf8_kept_index(g, i), "%s", why);
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
        size_t with = 0, without = 0; /* the first line of each kind */
        while (!pairs[with]) with++;
        while (pairs[without]) without++;
        size_t first = with < without ? with : without, second = with < without ? without : with;
        const char *name;
        uint64_t line;
        reader_where(r, utf8_kept_index(g, first), &name, &line);
        line_error(r, utf8_kept_index(g, second), "this text has %s \"pair\" and %s line %llu has %s: the texts of a "
                   "block (--block) must not mix with and without \"pair\"", pairs[second] ? "a" : "no", name,
                   (unsigned long long)line, pairs[second] ? "none" : "one");
        for (size_t k = 0; k < n; k++) json_decref(values[k]);
        return 1;
    }
    *have_pairs = any_pair;
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
    utf8_guard guard = {.policy = UTF8_FAIL};
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
            if (parse_utf8_policy(v, &guard.policy)) return EXIT_USAGE;
            eo.invalid_utf8 = guard.policy == UTF8_REPLACE ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
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
        long n = reader_block(&r, lines, lens, block);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        if (interrupted) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        /* Lines that are not UTF-8: stop (after the M lines before), leave
         * them out (M lines stay) or, in JSON the library never sees, replace
         * their bytes here. */
        size_t m;
        if (utf8_check_block(&guard, &r, lines, lens, (size_t)n, true, &m) ||
            (jsonl && guard.policy == UTF8_REPLACE && guard.n_bad && utf8_replace_lines(&guard, lines, lens))) {
            rc = 1;
            break;
        }
        if (pairs && split_pair_lines(&r, &guard, lines, lens, pair_ptrs, pair_lens, m)) {
            rc = 1;
            break;
        }
        bool block_pairs = pairs;
        if (jsonl && parse_jsonl(lines, lens, pair_ptrs, pair_lens, values, m, &r, &guard, &block_pairs)) {
            rc = 1;
            break;
        }
        dm_encoding **encs = NULL;
        dm_status st = m ? dm_tokenizer_encode_batch(tok, m, lines, lens, block_pairs ? pair_ptrs : NULL,
                                                     block_pairs ? pair_lens : NULL, &eo, &encs)
                         : DM_OK;
        for (size_t i = 0; jsonl && i < m; i++) json_decref(values[i]);
        if (st == DM_ERR_CANCELLED) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        if (st) {
            report_block_error(&r, &guard, m);
            rc = 1;
            break;
        }
        if (guard.policy == UTF8_SKIP && guard.n_bad) { /* a record in each skipped line's place */
            for (size_t i = 0, k = 0, b = 0; i < (size_t)n; i++) {
                if (b < guard.n_bad && guard.bad[b].i == i) out_skipped(&o, &r, &guard.bad[b++], fmt == FMT_JSON, "");
                else write_encoding(&o, encs[k++], fmt);
            }
        } else {
            for (size_t i = 0; i < m; i++) write_encoding(&o, encs[i], fmt);
        }
        if (encs) dm_encodings_free(encs, m);
        bar_draw(&bar, r.bytes_read, r.bytes_total, false);
        if (o.failed || utf8_block_failed(&guard, &r)) rc = 1; /* under fail, after the lines before it */
    }
    if (!rc) bar_draw(&bar, r.bytes_read, r.bytes_total, true);
    else if (bar.on) fputc('\n', stderr);
    utf8_summary(&guard);
    if (rc == EXIT_INTERRUPTED) fputs("dm: interrupted\n", stderr);
    if (of && finish_output_rc(&o, of, out_path, rc) && !rc) rc = 1;
    if (!of) free(o.buf);
    reader_free(&r);
    utf8_guard_free(&guard);
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
                    line_error(&r, (size_t)i, "expected token ids, found '%.*s'", (int)(end - p), p);
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
                line_error(&r, (size_t)i, "%s", dm_last_error());
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
