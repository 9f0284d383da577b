/*
 * dm_tokenize.c — the tokenizer commands of the dm tool:
 *
 *   dm tokenize --tokenizer PATH [options] [FILE...]   texts (one per line) -> ids / tokens / JSON
 *   dm decode --tokenizer PATH [FILE...]               id lines -> text
 *   dm tokenizer train --output DIR [options] FILE...  learn a WordPiece vocabulary
 *   dm tokenizer info PATH                             vocabulary size and special tokens
 *   dm tokenizer lookup PATH TOKEN|--id N ...          token <-> id
 *   dm tokenizer save PATH DIR                         re-save (e.g. vocab.txt -> tokenizer.json)
 *
 * tokenize and decode run on the block stream (toolkit.h): each block of
 * lines is encoded on all cores with dm_tokenizer_encode_batch, and written
 * through one large buffer, ids from a table of their decimal strings.
 */
#include "commands.h"

#include <jansson.h>

#include <unistd.h>

/* ------------------------------------------------------------------ help */
const char help_tokenize[] =
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

const char help_decode[] =
    "usage: dm decode --tokenizer PATH [--keep-special] [FILE...]\n"
    "\n"
    "Reads lines of space-separated token ids and writes the decoded text, one line each.\n"
    "  -t, --tokenizer PATH   the tokenizer (required)\n"
    "      --keep-special     keep special tokens such as [CLS] (default: skip them)\n"
    "  -o, --output FILE      write there instead of standard output\n";

const char help_tokenizer[] =
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

/* What tokenize keeps from block to block. */
typedef struct {
    const dm_tokenizer *tok;
    dm_encode_options eo;
    out_format fmt;
    bool pairs, jsonl;
    const char **pair_ptrs;
    size_t *pair_lens;
    json_t **values;      /* --input jsonl: the decoded lines of the block */
    dm_encoding **encs;   /* the block's encodings */
} tokenize_run;

static void write_kth(outbuf *o, size_t k, void *ctx)
{
    const tokenize_run *t = ctx;
    write_encoding(o, t->encs[k], t->fmt);
}

/* Encodes the kept lines of a block on all cores and writes them, with a
 * record in each skipped line's place. */
static int tokenize_block(stream_block *b, void *ctx)
{
    tokenize_run *t = ctx;
    size_t m = b->kept;
    /* Invalid bytes in JSON, which the library never sees, are replaced here. */
    bool replace = t->jsonl && b->guard->policy == UTF8_REPLACE && b->guard->n_bad;
    if (replace && utf8_replace_lines(b->guard, b->lines, b->lens)) return 1;
    if (t->pairs && split_pair_lines(b->r, b->guard, b->lines, b->lens, t->pair_ptrs, t->pair_lens, m)) return 1;
    bool block_pairs = t->pairs;
    if (t->jsonl &&
        parse_jsonl(b->lines, b->lens, t->pair_ptrs, t->pair_lens, t->values, m, b->r, b->guard, &block_pairs))
        return 1;
    t->encs = NULL;
    dm_status st = m ? dm_tokenizer_encode_batch(t->tok, m, b->lines, b->lens, block_pairs ? t->pair_ptrs : NULL,
                                                 block_pairs ? t->pair_lens : NULL, &t->eo, &t->encs)
                     : DM_OK;
    for (size_t i = 0; t->jsonl && i < m; i++) json_decref(t->values[i]);
    if (st == DM_ERR_CANCELLED) return EXIT_INTERRUPTED;
    if (st) {
        report_block_error(b->r, b->guard, m);
        return 1;
    }
    stream_writer w = {.line = write_kth, .json = t->fmt == FMT_JSON, .sep = "", .ctx = t};
    stream_write(b, SIZE_MAX, &w);
    if (t->encs) dm_encodings_free(t->encs, m);
    return 0;
}

/* The options of tokenize into T and S; 0, or an exit code. */
static int tokenize_options(int argc, char **argv, const char **tok_path, dm_tokenizer_options *topts,
                            tokenize_run *t, stream_opts *s)
{
    args_t a = {argc, 0, argv};
    const char *v;
    bool trunc_given = false;
    int progress = s->progress;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_tokenize, stdout);
            return HELP_SHOWN;
        } else if (is_opt(arg, "-t", "--tokenizer")) {
            NEED_VALUE(*tok_path, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(s->out_path, arg);
        } else if (is_opt(arg, "-f", "--format")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "ids") == 0) t->fmt = FMT_IDS;
            else if (strcmp(v, "tokens") == 0) t->fmt = FMT_TOKENS;
            else if (strcmp(v, "json") == 0 || strcmp(v, "jsonl") == 0) t->fmt = FMT_JSON;
            else if (strcmp(v, "tsv") == 0) t->fmt = FMT_TSV;
            else return usage_error("unknown format '%s' (ids, tokens, json, tsv)", v);
        } else if (is_opt(arg, "-i", "--input")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "lines") == 0) t->jsonl = false;
            else if (strcmp(v, "jsonl") == 0) t->jsonl = true;
            else return usage_error("unknown input format '%s' (lines, jsonl)", v);
        } else if (is_opt(arg, NULL, "--pairs") || is_opt(arg, NULL, "--pair")) {
            t->pairs = true;
        } else if (parse_bool_pair(arg, "lowercase", &topts->lowercase) ||
                   parse_bool_pair(arg, "strip-accents", &topts->strip_accents) ||
                   parse_bool_pair(arg, "progress", &progress)) {
        } else if (is_opt(arg, NULL, "--no-special-tokens") || is_opt(arg, NULL, "--no-special")) {
            t->eo.add_special_tokens = 0;
        } else if (is_opt(arg, NULL, "--max-length")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &t->eo.max_length)) return usage_error("--max-length: '%s' is not a count", v);
            if (!trunc_given) t->eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
        } else if (is_opt(arg, NULL, "--truncation")) {
            NEED_VALUE(v, arg);
            trunc_given = true;
            if (strcmp(v, "longest_first") == 0) t->eo.truncation = DM_TRUNCATE_LONGEST_FIRST;
            else if (strcmp(v, "only_first") == 0) t->eo.truncation = DM_TRUNCATE_ONLY_FIRST;
            else if (strcmp(v, "only_second") == 0) t->eo.truncation = DM_TRUNCATE_ONLY_SECOND;
            else if (strcmp(v, "none") == 0) t->eo.truncation = DM_TRUNCATE_NONE;
            else return usage_error("unknown truncation '%s' (longest_first, only_first, only_second, none)", v);
        } else if (is_opt(arg, NULL, "--padding")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "longest") == 0) t->eo.padding = DM_PAD_TO_LONGEST;
            else if (strcmp(v, "max_length") == 0) t->eo.padding = DM_PAD_TO_LENGTH;
            else if (strcmp(v, "none") == 0) t->eo.padding = DM_PAD_NONE;
            else return usage_error("unknown padding '%s' (longest, max_length, none)", v);
        } else if (is_opt(arg, NULL, "--pad-length")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &t->eo.pad_length)) return usage_error("--pad-length: '%s' is not a count", v);
        } else if (is_opt(arg, NULL, "--pad-multiple")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &t->eo.pad_to_multiple_of))
                return usage_error("--pad-multiple: '%s' is not a count", v);
        } else if (is_opt(arg, NULL, "--invalid-utf8")) {
            NEED_VALUE(v, arg);
            if (parse_utf8_policy(v, &s->policy)) return EXIT_USAGE;
            t->eo.invalid_utf8 = s->policy == UTF8_REPLACE ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
        } else if (is_opt(arg, "-j", "--threads")) {
            NEED_VALUE(v, arg);
            size_t n;
            if (!parse_size(v, &n) || n > 4096) return usage_error("--threads: '%s' is not a thread count", v);
            t->eo.threads = (int)n;
        } else if (is_opt(arg, NULL, "--block")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &s->block) || s->block == 0)
                return usage_error("--block: '%s' is not a positive count", v);
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("tokenize: unknown option '%s'", arg);
        } else {
            s->files[s->n_files++] = argv[a.i];
        }
    }
    s->progress = progress != 0;
    if (!*tok_path) return usage_error("tokenize needs --tokenizer PATH");
    if (t->eo.padding == DM_PAD_TO_LENGTH && !t->eo.pad_length) t->eo.pad_length = t->eo.max_length;
    if (t->eo.padding == DM_PAD_TO_LENGTH && !t->eo.pad_length)
        return usage_error("--padding max_length needs --pad-length or --max-length");
    return 0;
}

/* Encodes the lines with TOK, block after block. */
static int tokenize_stream(dm_tokenizer *tok, tokenize_run *t, const stream_opts *s)
{
    if (t->jsonl && t->pairs)
        return usage_error("--pair reads TEXT<TAB>PAIR lines; with --input jsonl give \"pair\" fields");
    if (id_strings_init(dm_tokenizer_vocab_size(tok))) return out_of_memory();
    t->tok = tok;
    t->eo.progress = cancel_on_ctrl_c; /* the bar itself counts input bytes, drawn per block */
    t->pair_ptrs = malloc(s->block * sizeof *t->pair_ptrs);
    t->pair_lens = malloc(s->block * sizeof *t->pair_lens);
    t->values = t->jsonl ? calloc(s->block, sizeof *t->values) : NULL;
    int rc = t->pair_ptrs && t->pair_lens && (!t->jsonl || t->values) ? stream_lines(s, tokenize_block, t)
                                                                     : out_of_memory();
    free(t->pair_ptrs);
    free(t->pair_lens);
    free(t->values);
    id_strings_free();
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *tok_path = NULL;
    dm_tokenizer_options topts;
    dm_tokenizer_options_default(&topts);
    tokenize_run t = {.fmt = FMT_IDS};
    dm_encode_options_default(&t.eo);
    stream_opts s = {.files = argv, /* file arguments, compacted into the part of argv already read */
                     .block = 65536, .out_cap = 1u << 22, .check_utf8 = true, .policy = UTF8_FAIL, .compact = true,
                     .progress = isatty(STDERR_FILENO)};
    int rc = tokenize_options(argc, argv, &tok_path, &topts, &t, &s);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    dm_tokenizer *tok;
    if (dm_tokenizer_load(tok_path, &topts, &tok)) return fail_lib(tok_path);
    rc = tokenize_stream(tok, &t, &s);
    dm_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------------ decode */

typedef struct {
    const dm_tokenizer *tok;
    int skip_special;
    int32_t *ids;
    size_t cap;
} decode_run;

/* The ids of line I of the block into d->ids (*COUNT of them); 1 (with a
 * message naming the line) when it holds something else. */
static int parse_id_list(decode_run *d, const stream_block *b, size_t i, size_t *count)
{
    const char *p = b->lines[i], *end = b->lines[i] + b->lens[i];
    *count = 0;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
        if (p == end) break;
        char *stop;
        long long id = strtoll(p, &stop, 10);
        if (stop == p || stop > end || id < INT32_MIN || id > INT32_MAX) {
            line_error(b->r, i, "expected token ids, found '%.*s'", (int)(end - p), p);
            return 1;
        }
        if (*count == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 256;
            int32_t *g = realloc(d->ids, cap * sizeof *d->ids);
            if (!g) return out_of_memory();
            d->ids = g, d->cap = cap;
        }
        d->ids[(*count)++] = (int32_t)id;
        p = stop;
    }
    return 0;
}

static int decode_block(stream_block *b, void *ctx)
{
    decode_run *d = ctx;
    for (size_t i = 0; i < b->n; i++) {
        size_t count;
        if (parse_id_list(d, b, i, &count)) return 1;
        char *text;
        size_t tl;
        if (dm_tokenizer_decode(d->tok, d->ids, count, d->skip_special, &text, &tl)) {
            line_error(b->r, i, "%s", dm_last_error());
            return 1;
        }
        out_bytes(b->o, text, tl);
        out_char(b->o, '\n');
        dm_free(text);
    }
    return 0;
}

int cmd_decode(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *tok_path = NULL;
    decode_run d = {.skip_special = 1};
    stream_opts s = {.files = argv, /* file arguments, compacted into the part of argv already read */
                     .block = 4096, .out_cap = 1u << 20};
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_decode, stdout);
            return 0;
        } else if (is_opt(arg, "-t", "--tokenizer")) {
            NEED_VALUE(tok_path, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(s.out_path, arg);
        } else if (is_opt(arg, NULL, "--keep-special")) {
            d.skip_special = 0;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("decode: unknown option '%s'", arg);
        } else {
            s.files[s.n_files++] = argv[a.i];
        }
    }
    if (!tok_path) return usage_error("decode needs --tokenizer PATH");
    dm_tokenizer *tok;
    if (dm_tokenizer_load(tok_path, NULL, &tok)) return fail_lib(tok_path);
    d.tok = tok;
    int rc = stream_lines(&s, decode_block, &d);
    free(d.ids);
    dm_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------------ tokenizer subcommands */
static int train_progress(uint64_t done, uint64_t total, void *user)
{
    bar_draw(user, done, total, false);
    return interrupted;
}

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
        to.progress = cancel_on_ctrl_c; /* still lets Ctrl-C cancel */
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

int cmd_tokenizer(int argc, char **argv)
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

