/*
 * dm_infer.c — the commands that run a classifier:
 *
 *   dm eval --model DIR --data FILE [--json]                         classification report
 *   dm predict --model DIR [--format text|json] [--pair] [FILE...]   label of each line
 *   dm embed --model DIR [--pooling cls|mean] [FILE...]              embedding of each line
 *   dm forward --model DIR [--pooled] [--hidden] [FILE...]           logits of lines of token ids
 *
 * eval reads a data file with dm_dataset_load; predict, embed and forward run
 * on the block stream (toolkit.h): blocks of lines of text through
 * dm_model_predict/embed, blocks of lines of token ids through
 * dm_model_forward.
 */
#include "model_cli.h"

#include <unistd.h>

/* ------------------------------------------------------------------ help */

const char help_eval[] =
    "usage: dm eval --model DIR --data FILE [--json] [options]\n"
    "\n"
    "Predicts every row of a labelled CSV, TSV or JSONL file and prints the classification\n"
    "report (precision, recall, F1 and support per label, as scikit-learn's), the confusion\n"
    "matrix, then accuracy, macro F1 and the mean cross-entropy loss.\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
    HELP_MODEL_KEY
    "  -d, --data FILE           labelled data (required)\n"
    "      --json                one JSON object instead: accuracy, macro_f1, per_class,\n"
    "                            confusion_matrix, loss, ...\n"
    "      --digits N            decimals in the text report, 0 to 100 (default 2; 0 rounds to\n"
    "                            whole numbers, as scikit-learn's digits=0)\n"
    HELP_DATA_COLUMNS
    "  -b, --batch-size B        texts per forward pass (default 32)\n"
    "      --max-length L        truncate texts to L tokens (default: the model's maximum)\n"
    HELP_DEVICE
    "  -o, --output FILE         write there instead of standard output\n"
    "      --progress / --no-progress   progress bar on standard error (default: when it is a terminal)\n";

const char help_predict[] =
    "usage: dm predict --model DIR [--format text|json] [--pair] [options] [FILE...]\n"
    "\n"
    "Reads texts, one per line (a trailing \\r is dropped), from the FILEs or standard input,\n"
    "and writes one line per text:\n"
    "  text: LABEL<TAB>PROBABILITY of the predicted label\n"
    "  json: {\"label\": ..., \"probs\": {LABEL: p, ...}, \"logits\": [...]}\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
    HELP_MODEL_KEY
    "  -f, --format F            text (default) or json\n"
    "      --pair                each line is TEXT<TAB>PAIR: classify the pair (the line is checked\n"
    "                            for UTF-8 as a whole: offsets count from the line's start)\n"
    "  -b, --batch-size B        texts per forward pass (default 32)\n"
    "      --max-length L        truncate texts to L tokens (default: the model's maximum)\n"
    "      --block N             lines read and predicted at a time (default 1024)\n"
    HELP_INVALID_UTF8("                                (which the tokenizer drops, as Hugging Face's does),\n",
                      "                                an empty line (text), or {\"line\": N, \"file\": \"FILE\",\n"
                      "                                \"skipped\": \"invalid UTF-8 at byte offset B (0xXX)\"} (json),\n")
    HELP_DEVICE
    "  -o, --output FILE         write there instead of standard output\n"
    "      --progress / --no-progress   progress bar on standard error (default: when it is a terminal)\n";

const char help_embed[] =
    "usage: dm embed --model DIR [--pooling cls|mean] [--normalize|--no-normalize] [options] [FILE...]\n"
    "\n"
    "Reads texts, one per line (a trailing \\r is dropped), from the FILEs or standard input,\n"
    "and writes the sentence embedding of each: space-separated numbers, or a JSON array.\n"
    "Pooling, normalisation and length default to the folder's sentence-transformers settings\n"
    "(else CLS pooling, not normalised, the model's maximum length).\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
    HELP_MODEL_KEY
    "      --pooling P           cls or mean (over the real tokens)\n"
    "      --normalize / --no-normalize   unit length, or not\n"
    "  -f, --format F            text (default) or json\n"
    "  -b, --batch-size B        texts per forward pass (default 32)\n"
    "      --max-length L        truncate texts to L tokens\n"
    "      --block N             lines read and embedded at a time (default 1024)\n"
    HELP_INVALID_UTF8("                                (which the tokenizer drops, as Hugging Face's does),\n",
                      "                                an empty line (text), or {\"line\": N, \"file\": \"FILE\",\n"
                      "                                \"skipped\": \"invalid UTF-8 at byte offset B (0xXX)\"} (json)\n"
                      "                                instead of the array,\n")
    HELP_DEVICE
    "  -o, --output FILE         write there instead of standard output\n"
    "      --progress / --no-progress   progress bar on standard error (default: when it is a terminal)\n";

const char help_forward[] =
    "usage: dm forward --model DIR [--format text|json] [--pooled] [--hidden] [options] [FILE...]\n"
    "\n"
    "Runs the encoder and the classification head on token ids as given (no special tokens\n"
    "added, nothing truncated). Reads, from the FILEs or standard input, lines of space-separated\n"
    "token ids (what dm tokenize --format ids writes) or IDS<TAB>TYPE_IDS<TAB>ATTENTION_MASK\n"
    "(what dm tokenize --format tsv writes; further fields are ignored), and writes one line per\n"
    "input line:\n"
    "  text: the logits, space-separated; with --pooled a TAB and the pooler output; with\n"
    "        --hidden, for each token, a TAB and its last hidden state\n"
    "  json: {\"logits\": [...], \"pooled\": [...], \"hidden\": [[...], ...]}\n"
    "Lines of different lengths share a forward pass padded with the tokenizer's [PAD] id and\n"
    "attention mask 0, which leaves each line's results as they are alone (up to float rounding).\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
    HELP_MODEL_KEY
    "  -f, --format F            text (default) or json\n"
    "      --pooled              also the pooler output (hidden size numbers)\n"
    "      --hidden              also the last hidden state of every token of the line\n"
    "  -b, --batch-size B        lines per forward pass (default 32)\n"
    "      --block N             lines read at a time (default 1024; lower it for --hidden on\n"
    "                            large models: their states are held until the block is written)\n"
    HELP_DEVICE
    "  -o, --output FILE         write there instead of standard output\n"
    "      --progress / --no-progress   progress bar on standard error (default: when it is a terminal)\n";

/* ------------------------------------------------------------------ eval */

int cmd_eval(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *model_dir = NULL, *data_path = NULL, *out_path = NULL, *v;
    bool json = false;
    int digits = 2, progress = isatty(STDERR_FILENO);
    dm_dataset_options dso;
    dm_dataset_options_default(&dso);
    dm_model_options mo;
    dm_model_options_default(&mo);
    dm_infer_options io;
    dm_infer_options_default(&io);
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_eval, stdout);
            return 0;
        } else if (is_opt(arg, "-m", "--model")) {
            NEED_VALUE(model_dir, arg);
        } else if (is_opt(arg, "-d", "--data")) {
            NEED_VALUE(data_path, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(out_path, arg);
        } else if (is_opt(arg, NULL, "--json")) {
            json = true;
        } else if (is_opt(arg, NULL, "--digits")) {
            NEED_VALUE(v, arg);
            if ((rc = parse_int_opt(arg, v, 0, 100, &digits))) return rc;
        } else if (parse_bool_pair(arg, "progress", &progress)) {
        } else if ((rc = common_option(&a, arg, &dso, &mo, &io)) != OPT_NOT_MINE) {
            if (rc) return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("eval: unknown option '%s'", arg);
        } else if (!data_path) {
            data_path = arg; /* dm eval --model DIR FILE */
        } else {
            return usage_error("eval: unexpected argument '%s'", arg);
        }
    }
    if (!model_dir) return usage_error("eval needs --model DIR");
    if (!data_path) return usage_error("eval needs --data FILE");
    dm_dataset *ds = NULL;
    dm_model *m = NULL;
    dm_model_info info;
    int rc = load_labelled(data_path, &dso, &ds);
    if (!rc) rc = load_model(model_dir, &mo, &m, &info);
    dm_eval_report *r = NULL;
    progress_bar bar = {progress != 0, now_s(), 0, "texts"};
    io.progress = infer_progress;
    io.progress_user = bar.on ? &bar : NULL;
    if (!rc) {
        dm_status st = dm_model_evaluate(m, ds, &io, &r);
        if (bar.on) bar_draw(&bar, dm_dataset_size(ds), dm_dataset_size(ds), true);
        if (st == DM_ERR_CANCELLED) {
            fputs("dm: interrupted\n", stderr);
            rc = EXIT_INTERRUPTED;
        } else if (st) {
            rc = fail_lib(data_path);
        }
    }
    if (!rc) {
        FILE *of = open_output(out_path);
        if (!of) {
            rc = 1;
        } else {
            outbuf o = {of, malloc(1u << 16), 0, 1u << 16, false};
            if (!o.buf) o.failed = true;
            else rc = json ? write_report_json(&o, r) : write_report_text(&o, r, digits);
            if (finish_output_rc(&o, of, out_path, rc) && !rc) rc = 1;
        }
    }
    dm_eval_report_free(r);
    dm_model_free(m);
    dm_dataset_free(ds);
    return rc;
}

/* ------------------------------------------------------------------ predict, embed */


/* What predict and embed share: options, then a loop over blocks of lines. */
typedef struct {
    const char *model_dir, *out_path;
    line_format fmt;
    bool pairs;
    int progress;
    size_t block;
    dm_model_options mo;
    dm_infer_options io;
    utf8_policy utf8; /* --invalid-utf8 */
    char **files;
    int n_files;
} lines_cmd;

/* Parses the options predict and embed share; EMBED adds --pooling and
 * --normalize, PREDICT --pair. Returns OPT_NOT_MINE for the caller's own. */
static int lines_option(args_t *a, const char *arg, lines_cmd *c, bool embed)
{
    const char *v;
    int rc;
    if (is_opt(arg, "-m", "--model")) {
        NEED_VALUE_P(c->model_dir, arg);
    } else if (is_opt(arg, "-o", "--output")) {
        NEED_VALUE_P(c->out_path, arg);
    } else if (is_opt(arg, "-f", "--format")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "text") == 0) c->fmt = OUT_TEXT;
        else if (strcmp(v, "json") == 0 || strcmp(v, "jsonl") == 0) c->fmt = OUT_JSON;
        else return usage_error("unknown format '%s' (text, json)", v);
    } else if (!embed && (is_opt(arg, NULL, "--pair") || is_opt(arg, NULL, "--pairs"))) {
        c->pairs = true;
    } else if (embed && is_opt(arg, NULL, "--pooling")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "cls") == 0) c->io.pooling = DM_POOL_CLS;
        else if (strcmp(v, "mean") == 0) c->io.pooling = DM_POOL_MEAN;
        else if (strcmp(v, "default") == 0) c->io.pooling = DM_POOL_DEFAULT;
        else return usage_error("unknown pooling '%s' (cls, mean)", v);
    } else if (embed && parse_bool_pair(arg, "normalize", &c->io.normalize)) {
    } else if (parse_bool_pair(arg, "progress", &c->progress)) {
    } else if (is_opt(arg, NULL, "--block")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &c->block) || c->block == 0 || c->block > (1u << 24))
            return usage_error("--block: '%s' is not a positive count", v);
    } else if (is_opt(arg, NULL, "--invalid-utf8")) {
        NEED_VALUE_P(v, arg);
        if (parse_utf8_policy(v, &c->utf8)) return EXIT_USAGE;
        c->io.invalid_utf8 = c->utf8 == UTF8_REPLACE ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
    } else if ((rc = common_option(a, arg, NULL, &c->mo, &c->io)) != OPT_NOT_MINE) {
        return rc;
    } else if (arg[0] == '-' && arg[1]) {
        return usage_error("%s: unknown option '%s'", embed ? "embed" : "predict", arg);
    } else {
        c->files[c->n_files++] = a->argv[a->i];
    }
    return 0;
}

static void lines_cmd_init(lines_cmd *c, char **argv)
{
    memset(c, 0, sizeof *c);
    c->progress = isatty(STDERR_FILENO);
    c->block = 1024;
    dm_model_options_default(&c->mo);
    dm_infer_options_default(&c->io);
    c->files = argv; /* file arguments, compacted into the part of argv already read */
}

static void write_prediction(outbuf *o, const dm_model *m, size_t L, const float *logits, const float *probs,
                             int32_t label, line_format fmt)
{
    const char *name = dm_model_label_name(m, label);
    if (fmt == OUT_TEXT) {
        out_bytes(o, name, strlen(name));
        out_char(o, '\t');
        out_double(o, probs[label], false);
        out_char(o, '\n');
        return;
    }
    out_bytes(o, "{\"label\": ", 10);
    out_json_string(o, name);
    out_bytes(o, ", \"probs\": {", 12);
    for (size_t j = 0; j < L; j++) {
        if (j) out_bytes(o, ", ", 2);
        out_json_string(o, dm_model_label_name(m, (int32_t)j));
        out_bytes(o, ": ", 2);
        out_double(o, probs[j], true);
    }
    out_bytes(o, "}, \"logits\": [", 14);
    for (size_t j = 0; j < L; j++) {
        if (j) out_bytes(o, ", ", 2);
        out_double(o, logits[j], true);
    }
    out_bytes(o, "]}\n", 3);
}

static void write_embedding(outbuf *o, const float *e, size_t C, line_format fmt)
{
    if (fmt == OUT_JSON) out_char(o, '[');
    for (size_t c = 0; c < C; c++) {
        if (c) {
            if (fmt == OUT_JSON) out_char(o, ',');
            out_char(o, ' ');
        }
        out_double(o, e[c], fmt == OUT_JSON);
    }
    if (fmt == OUT_JSON) out_char(o, ']');
    out_char(o, '\n');
}

/* What predict and embed keep from block to block. */
typedef struct {
    lines_cmd *c;
    dm_model *m;
    bool embed;
    size_t L, C;
    const char **pairs;
    size_t *pair_lens;
    float *vals; /* predict: K x L logits, then K x L probabilities; embed: K x C */
    int32_t *labels;
    size_t k; /* texts in the block */
} lines_run;

static void write_result(outbuf *o, size_t j, void *ctx)
{
    const lines_run *x = ctx;
    if (x->embed) write_embedding(o, x->vals + j * x->C, x->C, x->c->fmt);
    else write_prediction(o, x->m, x->L, x->vals + j * x->L, x->vals + x->k * x->L + j * x->L, x->labels[j], x->c->fmt);
}

/* Predicts (or embeds) the kept lines of a block and writes the results,
 * with a record in each skipped line's place. */
static int lines_block(stream_block *b, void *ctx)
{
    lines_run *x = ctx;
    size_t k = b->kept;
    if (x->c->pairs && split_pair_lines(b->r, b->guard, b->lines, b->lens, x->pairs, x->pair_lens, k)) return 1;
    dm_status st = DM_OK;
    if (k && x->embed) st = dm_model_embed(x->m, k, b->lines, b->lens, &x->c->io, x->vals);
    else if (k)
        st = dm_model_predict(x->m, k, b->lines, b->lens, x->c->pairs ? x->pairs : NULL,
                              x->c->pairs ? x->pair_lens : NULL, &x->c->io, x->vals, x->vals + k * x->L, x->labels);
    if (st == DM_ERR_CANCELLED) return EXIT_INTERRUPTED;
    if (st) {
        report_block_error(b->r, b->guard, k);
        return 1;
    }
    x->k = k;
    stream_writer w = {.line = write_result, .json = x->c->fmt == OUT_JSON, .sep = " ", .ctx = x};
    stream_write(b, SIZE_MAX, &w);
    return 0;
}

/* Reads the lines in blocks and predicts (EMBED false) or embeds them. */
static int run_lines(lines_cmd *c, bool embed)
{
    if (!c->model_dir) return usage_error("%s needs --model DIR", embed ? "embed" : "predict");
    lines_run x = {.c = c, .embed = embed};
    dm_model_info info;
    int rc = load_model(c->model_dir, &c->mo, &x.m, &info);
    if (rc) return rc;
    size_t B = c->block;
    x.L = info.num_labels, x.C = info.hidden_size;
    x.pairs = malloc(B * sizeof *x.pairs);
    x.pair_lens = malloc(B * sizeof *x.pair_lens);
    x.vals = malloc(B * (embed ? x.C : 2 * x.L) * sizeof *x.vals);
    x.labels = malloc(B * sizeof *x.labels);
    c->io.progress = infer_progress; /* Ctrl-C; the bar counts input bytes, drawn per block */
    c->io.progress_user = NULL;
    stream_opts s = {.files = c->files, .n_files = c->n_files, .out_path = c->out_path, .block = B,
                     .out_cap = 1u << 22, .check_utf8 = true, .policy = c->utf8, .compact = true,
                     .progress = c->progress != 0};
    rc = x.pairs && x.pair_lens && x.vals && x.labels ? stream_lines(&s, lines_block, &x) : out_of_memory();
    free(x.pairs);
    free(x.pair_lens);
    free(x.vals);
    free(x.labels);
    dm_model_free(x.m);
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    lines_cmd c;
    lines_cmd_init(&c, argv);
    for (a.i = 1; a.i < argc; a.i++) {
        if (is_opt(argv[a.i], "-h", "--help")) {
            fputs(help_predict, stdout);
            return 0;
        }
        int rc = lines_option(&a, argv[a.i], &c, false);
        if (rc) return rc;
    }
    return run_lines(&c, false);
}

int cmd_embed(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    lines_cmd c;
    lines_cmd_init(&c, argv);
    for (a.i = 1; a.i < argc; a.i++) {
        if (is_opt(argv[a.i], "-h", "--help")) {
            fputs(help_embed, stdout);
            return 0;
        }
        int rc = lines_option(&a, argv[a.i], &c, true);
        if (rc) return rc;
    }
    return run_lines(&c, true);
}

/* ------------------------------------------------------------------ forward */

/* The lines of a block as token ids, one line after another. */
typedef struct {
    int32_t *ids, *types;
    uint8_t *mask;
    size_t n, cap;       /* ids held, allocated */
    size_t *start, *len; /* of each line */
    int32_t *scratch;    /* one field of a line */
    size_t scratch_n, scratch_cap;
} id_block;

static void id_block_free(id_block *b)
{
    free(b->ids);
    free(b->types);
    free(b->mask);
    free(b->start);
    free(b->len);
    free(b->scratch);
}

/* The integers of [P, END), separated by spaces or commas, into B->scratch.
 * 0, 1 (*BAD: the first thing that is no integer), or -1 (no memory). */
static int parse_ints(id_block *b, const char *p, const char *end, const char **bad)
{
    b->scratch_n = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == ',')) p++;
        if (p == end) return 0;
        const char *q = p;
        if (*q == '-' || *q == '+') q++;
        bool digits = q < end && *q >= '0' && *q <= '9';
        long long x = 0;
        while (digits && q < end && *q >= '0' && *q <= '9' && x <= (long long)INT32_MAX + 1) x = x * 10 + (*q++ - '0');
        if (*p == '-') x = -x;
        if (!digits || (q < end && *q != ' ' && *q != ',') || x < INT32_MIN || x > INT32_MAX) {
            *bad = p;
            return 1;
        }
        if (b->scratch_n == b->scratch_cap) {
            size_t cap = b->scratch_cap ? 2 * b->scratch_cap : 256;
            int32_t *s = realloc(b->scratch, cap * sizeof *s);
            if (!s) return -1;
            b->scratch = s;
            b->scratch_cap = cap;
        }
        b->scratch[b->scratch_n++] = (int32_t)x;
        p = q;
    }
}

/* Room for MORE ids after B->n. */
static bool id_block_reserve(id_block *b, size_t more)
{
    if (b->n + more <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more) cap *= 2;
    int32_t *ids = realloc(b->ids, cap * sizeof *ids);
    if (ids) b->ids = ids;
    int32_t *types = realloc(b->types, cap * sizeof *types);
    if (types) b->types = types;
    uint8_t *mask = realloc(b->mask, cap);
    if (mask) b->mask = mask;
    if (!ids || !types || !mask) return false;
    b->cap = cap;
    return true;
}

/* Line I of a block (line number LINE of NAME): "IDS" or "IDS<TAB>TYPE_IDS[<TAB>MASK[<TAB>...]]". */
static int parse_id_line(id_block *b, size_t i, const char *s, size_t len, const char *name, uint64_t line)
{
    static const char *const what[] = {"token ids", "token type ids", "attention mask values (0 or 1)"};
    const char *end = s + len, *p = s;
    size_t count = 0;
    b->start[i] = b->n;
    for (int f = 0; f < 3 && p <= end; f++) {
        const char *tab = memchr(p, '\t', (size_t)(end - p)), *stop = tab ? tab : end, *bad;
        int st = parse_ints(b, p, stop, &bad);
        if (st < 0 || !id_block_reserve(b, b->scratch_n)) {
            fputs("dm: out of memory\n", stderr);
            return 1;
        }
        if (st > 0) {
            const char *e = bad;
            while (e < stop && *e != ' ' && *e != ',') e++;
            fprintf(stderr, "dm: %s: line %llu: expected %s, found '%.*s'\n", name, (unsigned long long)line,
                    what[f], (int)(e - bad), bad);
            return 1;
        }
        if (f == 0) {
            count = b->scratch_n;
            if (!count) {
                fprintf(stderr, "dm: %s: line %llu: no token ids\n", name, (unsigned long long)line);
                return 1;
            }
            memcpy(b->ids + b->n, b->scratch, count * sizeof *b->ids);
            memset(b->types + b->n, 0, count * sizeof *b->types);
            memset(b->mask + b->n, 1, count);
        } else if (b->scratch_n != count) {
            fprintf(stderr, "dm: %s: line %llu: %zu token ids but %zu %s\n", name, (unsigned long long)line, count,
                    b->scratch_n, what[f]);
            return 1;
        } else if (f == 1) {
            memcpy(b->types + b->n, b->scratch, count * sizeof *b->types);
        } else {
            for (size_t k = 0; k < count; k++) {
                if (b->scratch[k] != 0 && b->scratch[k] != 1) {
                    fprintf(stderr, "dm: %s: line %llu: expected %s, found '%d'\n", name, (unsigned long long)line,
                            what[f], b->scratch[k]);
                    return 1;
                }
                b->mask[b->n + k] = (uint8_t)b->scratch[k];
            }
        }
        if (!tab) break;
        p = tab + 1;
    }
    b->len[i] = count;
    b->n += count;
    return 0;
}

/* What one forward pass needs and gives, grown as needed. */
typedef struct {
    int32_t *ids, *types;
    uint8_t *mask;
    float *logits, *hidden, *pooled;
    size_t cap, rows_cap;
} fwd_buffers;

typedef struct {
    dm_model *m;
    size_t L, C;
    int32_t pad;
    bool want_hidden, want_pooled;
    fwd_buffers w;
    float *logits, *hidden, *pooled; /* the block's results, by line */
    size_t out_lines, out_ids;       /* allocated for */
} forward_run;

static bool grow_floats(float **p, size_t n)
{
    float *q = realloc(*p, (n ? n : 1) * sizeof *q);
    if (q) *p = q;
    return q != NULL;
}

/* One forward pass over the lines ROWS[0..BN) of B, padded to the longest;
 * the results go to the block's rows. DM_ERR_NO_MEMORY is set when an
 * allocation here failed. */
static dm_status forward_rows(forward_run *f, const id_block *b, const size_t *rows, size_t bn)
{
    size_t T = 0;
    for (size_t r = 0; r < bn; r++)
        if (b->len[rows[r]] > T) T = b->len[rows[r]];
    fwd_buffers *w = &f->w;
    if (bn * T > w->cap) {
        int32_t *ids = realloc(w->ids, bn * T * sizeof *ids);
        if (ids) w->ids = ids;
        int32_t *types = realloc(w->types, bn * T * sizeof *types);
        if (types) w->types = types;
        uint8_t *mask = realloc(w->mask, bn * T);
        if (mask) w->mask = mask;
        if (!ids || !types || !mask || (f->want_hidden && !grow_floats(&w->hidden, bn * T * f->C)))
            return DM_ERR_NO_MEMORY;
        w->cap = bn * T;
    }
    if (bn > w->rows_cap) {
        if (!grow_floats(&w->logits, bn * f->L) || (f->want_pooled && !grow_floats(&w->pooled, bn * f->C)))
            return DM_ERR_NO_MEMORY;
        w->rows_cap = bn;
    }
    for (size_t r = 0; r < bn; r++) {
        size_t at = b->start[rows[r]], n = b->len[rows[r]];
        memcpy(w->ids + r * T, b->ids + at, n * sizeof *w->ids);
        memcpy(w->types + r * T, b->types + at, n * sizeof *w->types);
        memcpy(w->mask + r * T, b->mask + at, n);
        for (size_t t = n; t < T; t++) {
            w->ids[r * T + t] = f->pad;
            w->types[r * T + t] = 0;
            w->mask[r * T + t] = 0;
        }
    }
    dm_status st = dm_model_forward(f->m, bn, T, w->ids, w->types, w->mask, w->logits,
                                    f->want_hidden ? w->hidden : NULL, f->want_pooled ? w->pooled : NULL);
    if (st) return st;
    for (size_t r = 0; r < bn; r++) {
        size_t row = rows[r];
        memcpy(f->logits + row * f->L, w->logits + r * f->L, f->L * sizeof *f->logits);
        if (f->want_pooled) memcpy(f->pooled + row * f->C, w->pooled + r * f->C, f->C * sizeof *f->pooled);
        if (f->want_hidden)
            memcpy(f->hidden + b->start[row] * f->C, w->hidden + r * T * f->C, b->len[row] * f->C * sizeof *f->hidden);
    }
    return DM_OK;
}

static const id_block *sort_block; /* for by_length */

static int by_length(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    size_t la = sort_block->len[a], lb = sort_block->len[b];
    return la != lb ? (la > lb) - (la < lb) : (a > b) - (a < b);
}

static int by_index(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

/* The N lines of block B in passes of up to BATCH lines of similar lengths
 * (sorted by length). A failing pass is run again one line at a time, so
 * that the message names the first line that fails. 0, or an exit code. */
static int forward_block(forward_run *f, const id_block *b, size_t n, size_t batch, size_t *order,
                         const line_reader *r)
{
    if (n > f->out_lines) {
        if (!grow_floats(&f->logits, n * f->L) || (f->want_pooled && !grow_floats(&f->pooled, n * f->C))) goto oom;
        f->out_lines = n;
    }
    if (f->want_hidden && b->n > f->out_ids) {
        if (!grow_floats(&f->hidden, b->n * f->C)) goto oom;
        f->out_ids = b->n;
    }
    for (size_t i = 0; i < n; i++) order[i] = i;
    sort_block = b;
    qsort(order, n, sizeof *order, by_length);
    size_t bad_row = SIZE_MAX;
    char bad_msg[1024] = "";
    for (size_t s = 0; s < n; s += batch) {
        if (interrupted) return EXIT_INTERRUPTED;
        size_t bn = n - s < batch ? n - s : batch;
        dm_status st = forward_rows(f, b, order + s, bn);
        if (st == DM_ERR_NO_MEMORY) goto oom;
        if (!st) continue;
        if (bn > 1) { /* which line? */
            qsort(order + s, bn, sizeof *order, by_index);
            size_t k = 0;
            while (k < bn && !forward_rows(f, b, order + s + k, 1)) k++;
            if (k == bn) { /* no line fails alone: the pass does */
                report_block_error(r, NULL, n);
                return 1;
            }
            if (order[s + k] < bad_row) {
                bad_row = order[s + k];
                snprintf(bad_msg, sizeof bad_msg, "%s", dm_last_error());
            }
        } else if (order[s] < bad_row) {
            bad_row = order[s];
            snprintf(bad_msg, sizeof bad_msg, "%s", dm_last_error());
        }
    }
    if (bad_row != SIZE_MAX) {
        line_error(r, bad_row, "%s", bad_msg);
        return 1;
    }
    return 0;
oom:
    fputs("dm: out of memory\n", stderr);
    return 1;
}

static void write_forward(outbuf *o, const forward_run *f, const id_block *b, size_t row, line_format fmt)
{
    bool json = fmt == OUT_JSON;
    const char *sep = json ? ", " : " ";
    if (json) out_bytes(o, "{\"logits\": [", 12);
    for (size_t j = 0; j < f->L; j++) {
        if (j) out_bytes(o, sep, strlen(sep));
        out_double(o, f->logits[row * f->L + j], json);
    }
    if (json) out_char(o, ']');
    if (f->want_pooled) {
        if (json) out_bytes(o, ", \"pooled\": [", 13);
        else out_char(o, '\t');
        for (size_t c = 0; c < f->C; c++) {
            if (c) out_bytes(o, sep, strlen(sep));
            out_double(o, f->pooled[row * f->C + c], json);
        }
        if (json) out_char(o, ']');
    }
    if (f->want_hidden) {
        if (json) out_bytes(o, ", \"hidden\": [", 13);
        for (size_t t = 0; t < b->len[row]; t++) {
            const float *h = f->hidden + (b->start[row] + t) * f->C;
            if (json) out_bytes(o, t ? ", [" : "[", t ? 3 : 1);
            else out_char(o, '\t');
            for (size_t c = 0; c < f->C; c++) {
                if (c) out_bytes(o, sep, strlen(sep));
                out_double(o, h[c], json);
            }
            if (json) out_char(o, ']');
        }
        if (json) out_char(o, ']');
    }
    if (json) out_char(o, '}');
    out_char(o, '\n');
}

static void forward_run_free(forward_run *f)
{
    free(f->w.ids);
    free(f->w.types);
    free(f->w.mask);
    free(f->w.logits);
    free(f->w.hidden);
    free(f->w.pooled);
    free(f->logits);
    free(f->hidden);
    free(f->pooled);
    dm_model_free(f->m);
}

/* What forward keeps from block to block. */
typedef struct {
    forward_run f;
    id_block b;
    size_t *order, batch;
    line_format fmt;
} forward_cmd;

/* Parses a block of id lines, runs the model on it and writes the results. */
static int forward_lines(stream_block *blk, void *ctx)
{
    forward_cmd *x = ctx;
    int rc = 0;
    x->b.n = 0;
    for (size_t i = 0; i < blk->n && !rc; i++) {
        const char *name;
        uint64_t line;
        reader_where(blk->r, i, &name, &line);
        rc = parse_id_line(&x->b, i, blk->lines[i], blk->lens[i], name, line);
    }
    if (!rc) rc = forward_block(&x->f, &x->b, blk->n, x->batch, x->order, blk->r);
    if (rc) return rc;
    for (size_t i = 0; i < blk->n; i++) write_forward(blk->o, &x->f, &x->b, i, x->fmt);
    return 0;
}

int cmd_forward(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *model_dir = NULL, *out_path = NULL, *v;
    line_format fmt = OUT_TEXT;
    bool want_hidden = false, want_pooled = false;
    int progress = isatty(STDERR_FILENO);
    size_t batch = 32, block = 1024;
    dm_model_options mo;
    dm_model_options_default(&mo);
    char **files = argv; /* file arguments, compacted into the part of argv already read */
    int n_files = 0;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_forward, stdout);
            return 0;
        } else if (is_opt(arg, "-m", "--model")) {
            NEED_VALUE(model_dir, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(out_path, arg);
        } else if (is_opt(arg, "-f", "--format")) {
            NEED_VALUE(v, arg);
            if (strcmp(v, "text") == 0) fmt = OUT_TEXT;
            else if (strcmp(v, "json") == 0 || strcmp(v, "jsonl") == 0) fmt = OUT_JSON;
            else return usage_error("unknown format '%s' (text, json)", v);
        } else if (is_opt(arg, NULL, "--hidden")) {
            want_hidden = true;
        } else if (is_opt(arg, NULL, "--pooled")) {
            want_pooled = true;
        } else if (is_opt(arg, "-b", "--batch-size")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &batch) || batch == 0)
                return usage_error("--batch-size: '%s' is not a positive count", v);
        } else if (is_opt(arg, NULL, "--block")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &block) || block == 0 || block > (1u << 24))
                return usage_error("--block: '%s' is not a positive count", v);
        } else if (parse_bool_pair(arg, "progress", &progress)) {
        } else if ((rc = device_option(&a, arg, &mo)) != OPT_NOT_MINE) {
            if (rc) return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("forward: unknown option '%s'", arg);
        } else {
            files[n_files++] = argv[a.i];
        }
    }
    if (!model_dir) return usage_error("forward needs --model DIR");
    forward_cmd x = {.batch = batch, .fmt = fmt};
    dm_model_info info;
    int rc = load_model(model_dir, &mo, &x.f.m, &info);
    if (rc) return rc;
    x.f.L = info.num_labels;
    x.f.C = info.hidden_size;
    x.f.want_hidden = want_hidden;
    x.f.want_pooled = want_pooled;
    x.f.pad = dm_tokenizer_special_id(dm_model_tokenizer(x.f.m), DM_SPECIAL_PAD);
    if (x.f.pad < 0) x.f.pad = 0; /* any id: padding is masked */
    x.order = malloc(block * sizeof *x.order);
    x.b.start = malloc(block * sizeof *x.b.start);
    x.b.len = malloc(block * sizeof *x.b.len);
    stream_opts s = {.files = files, .n_files = n_files, .out_path = out_path, .block = block, .out_cap = 1u << 22,
                     .progress = progress != 0};
    rc = x.order && x.b.start && x.b.len ? stream_lines(&s, forward_lines, &x) : out_of_memory();
    free(x.order);
    id_block_free(&x.b);
    forward_run_free(&x.f);
    return rc;
}
