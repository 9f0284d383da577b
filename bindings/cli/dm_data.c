/*
 * dm_data.c — the data commands of the dm tool:
 *
 *   dm profile --in F [--html OUT] [--json OUT]          what a data set holds (JSON or an HTML page)
 *   dm clean --in F --out G [filters]                    normalised texts, bad rows dropped
 *   dm dedup --in F --out G [--threshold T]              exact and near duplicates removed
 *   dm conflicts --in F [--out G --policy P]             texts that carry different labels
 *   dm split --in F --out-dir D [--stratify] [...]       train/val/test or K folds
 *   dm resample --in F --out G --strategy over|under     balanced classes
 *   dm class-weights --in F [--json]                     "balanced" class weights
 *   dm augment --in F --out G --ops eda,chars            new rows made from each row
 *
 * Each command loads the input with dm_dataset_load, runs one library
 * operation, writes its dataset with dm_dataset_write (the format from the
 * output's extension), its JSON report to --report, and a short summary on
 * standard error. The conventions are toolkit.h's: "dm: message" on stderr, exit 1
 * on failure, 2 on usage errors, 130 when Ctrl-C cancelled the work (through
 * the library's progress callbacks). Shared helpers are toolkit.c's.
 */
#include "commands.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ help */

#define HELP_DATA_IN                                                                                    \
    "  -i, --in FILE             the input: CSV, TSV or JSONL with a header (required)\n"              \
    "      --format F            csv, tsv or jsonl, when FILE's extension does not say\n"              \
    "      --text-column NAME    the text column (default: the first of sentence, text, review)\n"     \
    "      --pair-column NAME    a second text column, for sentence pairs (default: none)\n"          \
    "      --label-column NAME   the label column (default: label when present; \"\" for none)\n"      \
    "      --id-column NAME      the row id column (default: id when present, else row numbers,\n"    \
    "                            which outputs then carry as an \"id\" column)\n"                     \
    "      --key FILE            FILE is encrypted (dm encrypt): its key file; decrypted in memory,\n" \
    "                            the format from the extension before .enc (DATA.csv.enc: CSV)\n"   \
    "      --skip-bad-rows       skip rows with a wrong number of fields (default: fail)\n"            \
    "      --invalid-utf8 P      fail (default; also 'error': stop, naming line and column),\n"        \
    "                            replace (U+FFFD) or skip (the row)\n"                                 \
    "      --progress / --no-progress   progress bar on standard error for the long operations\n"     \
    "                            (default: when it is a terminal)\n"

#define HELP_OUT                                                                                        \
    "  -o, --out FILE            the output (required): .csv, .tsv or .jsonl; every input column\n"  \
    "                            is kept\n"

#define HELP_REPORT "      --report FILE         the operation's JSON report (\"-\": standard output)\n"

#define HELP_DEDUP_KNOBS                                                                                \
    "      --threshold T         Jaccard similarity of near duplicates, in (0, 1] (default 0.8)\n"     \
    "      --ngram N             shingles are character N-grams (default 5)\n"                        \
    "      --num-perm P          MinHash permutations (default 128)\n"                                \
    "      --bands B             LSH bands (default: recall first, 21 for 128 permutations at 0.8)\n" \
    "      --rows-per-band R     MinHash values per band (default: num-perm / bands)\n"             \
    "      --no-verify           keep candidate pairs without checking their exact Jaccard\n"        \
    "      --no-normalize        compare texts as they are (default: NFKC, case folded,\n"            \
    "                            whitespace collapsed)\n"                                              \
    "  -j, --threads N           threads (default: all cores; results do not depend on it)\n"

const char help_profile[] =
    "usage: dm profile --in FILE [--html OUT] [--json OUT] [options]\n"
    "\n"
    "Describes a data set: rows, columns, labels and class balance, text lengths (characters and,\n"
    "with --tokenizer, tokens), empty texts, exact and near duplicates with examples, label\n"
    "conflicts, scripts, and rows that could not be read (bad field counts and, unless\n"
    "--invalid-utf8 says otherwise, invalid UTF-8 are skipped and listed, not fatal). Without\n"
    "--html or --json the JSON profile goes to standard output.\n"
    "\n"
    HELP_DATA_IN
    "      --html OUT            a self-contained HTML page (no script, no network access)\n"
    "      --json OUT            the JSON profile\n"
    "      --tokenizer PATH      also token lengths (tokenizer.json, vocab.txt or a model folder)\n"
    "      --no-near-dups        skip the near-duplicate search (MinHash)\n"
    "      --title T             the page's title (default \"Dataset profile\")\n"
    "      --clean-report R      dm clean's --report, drawn as the cleaning funnel\n"
    HELP_DEDUP_KNOBS;

const char help_clean[] =
    "usage: dm clean --in FILE --out FILE [options]\n"
    "\n"
    "Normalises the text (and pair) of every row and drops rows that fail a filter; prints rows\n"
    "in and out and the rows dropped per reason on standard error.\n"
    "\n"
    HELP_DATA_IN
    HELP_OUT
    HELP_REPORT
    "      --no-nfkc             keep texts out of Unicode NFKC\n"
    "      --no-html             keep HTML tags and entities\n"
    "      --no-control          keep control and format characters\n"
    "      --no-collapse         keep runs of whitespace\n"
    "      --no-trim             keep leading and trailing whitespace\n"
    "      --min-chars N         drop texts shorter than N code points after cleaning (default 1;\n"
    "                            0 keeps empty texts)\n"
    "      --max-chars N         drop texts longer than N code points (default: no limit)\n"
    "      --tokenizer PATH      for --min-tokens/--max-tokens (no special tokens counted)\n"
    "      --min-tokens N, --max-tokens N   drop texts with fewer / more tokens\n"
    "      --keep-missing-labels keep rows without a label (default: drop them when there is a\n"
    "                            label column)\n"
    "      --labels a,b,...      drop rows whose label is not one of these\n";

const char help_dedup[] =
    "usage: dm dedup --in FILE --out FILE [options]\n"
    "\n"
    "Removes exact duplicates, then near duplicates (MinHash LSH over character n-grams, each\n"
    "candidate pair verified by its exact Jaccard similarity), keeping the first row of each\n"
    "cluster of duplicates (the first labelled row, when a copy without a label comes first).\n"
    "Duplicates whose labels differ are never merged silently: --label-conflicts says what\n"
    "becomes of them, and the report lists each such cluster with its ids and labels\n"
    "(conflict_clusters); their number is printed on standard error.\n"
    "\n"
    HELP_DATA_IN
    HELP_OUT
    HELP_REPORT
    "      --exact-only          only exact duplicates (after normalisation)\n"
    "      --label-conflicts P   a cluster whose rows carry different labels: keep (default: the\n"
    "                            first row of each label), drop (every row of the cluster),\n"
    "                            majority (the first row of the most frequent label; ties: the\n"
    "                            label seen first) or first (the first labelled row)\n"
    HELP_DEDUP_KNOBS
    "      --seed S              seed of the MinHash permutations (default 1)\n"
    "      --clusters FILE       the clusters as JSONL, one per line: {kept, members, texts}\n";

const char help_conflicts[] =
    "usage: dm conflicts --in FILE [--out FILE --policy P] [--report FILE]\n"
    "\n"
    "Finds texts (equal after NFKC, case folding and whitespace collapsing; text pairs included)\n"
    "that carry different labels. Without --out and --report the JSON report goes to standard\n"
    "output; the number of conflicts is printed on standard error.\n"
    "\n"
    HELP_DATA_IN
    "  -o, --out FILE            write the rows kept by --policy (.csv, .tsv or .jsonl)\n"
    "      --policy P            keep (every row), drop (every row of a conflicting text),\n"
    "                            majority (the rows with the most frequent label; ties: the label\n"
    "                            seen first) or first (the rows with the first row's label)\n"
    HELP_REPORT;

const char help_split[] =
    "usage: dm split --in FILE --out-dir DIR [options]\n"
    "\n"
    "Splits the rows into DIR/train, DIR/val and DIR/test (or DIR/fold0 .. fold<K-1> with\n"
    "--folds K), in the input's format (.csv, .tsv or .jsonl), each in the input's row order.\n"
    "Part sizes are the fractions rounded by largest remainder; no row is lost or repeated.\n"
    "\n"
    HELP_DATA_IN
    "  -d, --out-dir DIR         where to write the parts (made when missing)\n"
    "      --train F, --val F, --test F   fractions (default 0.8, 0.1, 0.1); those not given\n"
    "                            share what the others leave (--train 0.9 --val 0.1: no test)\n"
    "      --folds K             K >= 2 folds instead of train/val/test\n"
    "      --stratify            each part keeps the label distribution\n"
    "      --group-column NAME   rows with the same value in NAME go to the same part\n"
    "      --group-near-dups     exact and near duplicates go to the same part\n"
    "      --leakage             count duplicate pairs (exact and near) across the parts\n"
    "      --seed S              (default 42)\n"
    HELP_REPORT
    "  near duplicates (--group-near-dups, --leakage):\n"
    HELP_DEDUP_KNOBS;

const char help_resample[] =
    "usage: dm resample --in FILE --out FILE --strategy over|under [--target a=0.5,b=0.5] [options]\n"
    "\n"
    "Balances the classes: over repeats random rows of the smaller classes (every row is kept),\n"
    "under keeps a random subset of the larger ones. Rows without a label are kept as they are.\n"
    "Prints the class counts before and after on standard error.\n"
    "\n"
    HELP_DATA_IN
    HELP_OUT
    HELP_REPORT
    "      --strategy S          over (default) or under\n"
    "      --target LIST         label=weight,...: the wanted distribution (weights of any\n"
    "                            positive scale, one for every label; default: uniform)\n"
    "      --seed S              (default 42)\n";

const char help_class_weights[] =
    "usage: dm class-weights --in FILE [--json] [options]\n"
    "\n"
    "Prints the class weights of scikit-learn's compute_class_weight(\"balanced\"):\n"
    "n_rows / (n_classes * count), one LABEL<TAB>WEIGHT line per label (0 for a label without\n"
    "rows), or one JSON object {label: weight} with --json.\n"
    "\n"
    HELP_DATA_IN
    "      --json                JSON instead of lines\n";

const char help_augment[] =
    "usage: dm augment --in FILE --out FILE [--ops eda,chars] [options]\n"
    "\n"
    "Makes new rows from each row's text, its label kept: EDA (synonym replacement from WordNet or\n"
    "a synonyms file, random insertion, swap and deletion; Han text per character) and character\n"
    "noise (keyboard typos, swaps, deletions). The output has a source_id column (empty for\n"
    "source rows) and ids <source id>#aug<k>.\n"
    "\n"
    HELP_DATA_IN
    HELP_OUT
    HELP_REPORT
    "      --ops LIST            eda (default), chars, or eda,chars\n"
    "      --n N                 new rows per source row (default 4)\n"
    "      --alpha A             share of words changed, for all four EDA operations (default 0.1)\n"
    "      --alpha-sr A, --alpha-ri A, --alpha-rs A, --alpha-rd A   the same per operation:\n"
    "                            synonym replacement, insertion, swap, deletion\n"
    "      --char-rate R         share of characters changed by chars (default 0.05)\n"
    "      --wordnet DIR         WordNet's dict folder (default /usr/share/wordnet)\n"
    "      --synonyms FILE       groups of synonyms, one group per line (for Chinese and others)\n"
    "      --no-original         leave the source rows out of the output\n"
    "      --seed S              (default 42)\n";

/* ------------------------------------------------------------------ shared state and options */

/* The options a command takes beyond the input ones. */
enum { TAKES_OUT = 1, NEEDS_OUT = 2, TAKES_REPORT = 4, TAKES_GROUP = 8 };

/* What every data command shares: the input and how to read it, the output
 * and report paths, the progress bar. */
typedef struct {
    const char *name; /* the command, for messages */
    unsigned takes;   /* TAKES_* */
    const char *in, *out, *report;
    dm_dataset_options dso;
    bool utf8_given;
    int progress;
    progress_bar bar;
    uint64_t done, total; /* the last progress reported, for the final bar */
    bool drawn;
} data_cmd;

static void data_cmd_init(data_cmd *c, const char *name, unsigned takes)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->takes = takes;
    dm_dataset_options_default(&c->dso);
    c->progress = isatty(STDERR_FILENO);
}

/* A number in [LO, HI] (LO excluded when OPEN_LO). */
static int parse_fraction(const char *name, const char *v, double lo, double hi, bool open_lo, double *out)
{
    double x;
    if (!parse_double(v, &x) || x > hi || x < lo || (open_lo && x == lo))
        return usage_error("%s: '%s' is not a number in %c%g, %g]", name, v, open_lo ? '(' : '[', lo, hi);
    *out = x;
    return 0;
}

static int parse_count(const char *name, const char *v, size_t min, size_t *out)
{
    if (!parse_size(v, out) || *out < min) return usage_error("%s: '%s' is not a count of at least %zu", name, v, min);
    return 0;
}

static int parse_seed(const char *name, const char *v, uint64_t *out)
{
    size_t s;
    if (!parse_size(v, &s)) return usage_error("%s: '%s' is not a non-negative integer", name, v);
    *out = (uint64_t)s;
    return 0;
}

static dm_file_format format_of_name(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(slash ? slash : path, '.');
    if (!dot) return DM_FORMAT_AUTO;
    if (strcasecmp(dot, ".csv") == 0) return DM_FORMAT_CSV;
    if (strcasecmp(dot, ".tsv") == 0 || strcasecmp(dot, ".tab") == 0) return DM_FORMAT_TSV;
    if (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0 || strcasecmp(dot, ".json") == 0)
        return DM_FORMAT_JSONL;
    return DM_FORMAT_AUTO;
}

static const char *format_ext(dm_file_format f)
{
    return f == DM_FORMAT_CSV ? "csv" : f == DM_FORMAT_TSV ? "tsv" : "jsonl";
}

/* The options every data command reads: input, columns, reading policy,
 * progress, and (as C->takes says) output, report, group column. */
static int common_data_option(args_t *a, const char *arg, data_cmd *c)
{
    const char *v;
    const char **column = is_opt(arg, NULL, "--text-column")    ? &c->dso.text_column
                          : is_opt(arg, NULL, "--pair-column")  ? &c->dso.pair_column
                          : is_opt(arg, NULL, "--label-column") ? &c->dso.label_column
                          : is_opt(arg, NULL, "--id-column")    ? &c->dso.id_column
                          : (c->takes & TAKES_GROUP) && is_opt(arg, NULL, "--group-column") ? &c->dso.group_column
                                                                : NULL;
    if (column) {
        NEED_VALUE_P(*column, arg);
    } else if (is_opt(arg, "-i", "--in") || is_opt(arg, NULL, "--input")) {
        NEED_VALUE_P(c->in, arg);
    } else if (is_opt(arg, NULL, "--format")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "csv") == 0) c->dso.format = DM_FORMAT_CSV;
        else if (strcmp(v, "tsv") == 0) c->dso.format = DM_FORMAT_TSV;
        else if (strcmp(v, "jsonl") == 0) c->dso.format = DM_FORMAT_JSONL;
        else return usage_error("--format: unknown format '%s' (csv, tsv, jsonl)", v);
    } else if (is_opt(arg, NULL, "--key")) {
        return key_option(a, arg, &c->dso);
    } else if (is_opt(arg, NULL, "--skip-bad-rows")) {
        c->dso.bad_rows = DM_BAD_ROWS_SKIP;
    } else if (is_opt(arg, NULL, "--invalid-utf8")) {
        NEED_VALUE_P(v, arg);
        utf8_policy p; /* the names of the line commands' policy (fail is also 'error') */
        if (parse_utf8_policy(v, &p)) return EXIT_USAGE;
        c->dso.invalid_utf8 = p == UTF8_SKIP ? DM_UTF8_SKIP_ROW : p == UTF8_REPLACE ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
        c->utf8_given = true;
    } else if ((c->takes & TAKES_OUT) && is_opt(arg, "-o", "--out")) {
        NEED_VALUE_P(c->out, arg);
        if (format_of_name(c->out) == DM_FORMAT_AUTO)
            return usage_error("--out: cannot tell the format of '%s' (use .csv, .tsv or .jsonl)", c->out);
    } else if ((c->takes & TAKES_REPORT) && is_opt(arg, NULL, "--report")) {
        NEED_VALUE_P(c->report, arg);
    } else if (!parse_bool_pair(arg, "progress", &c->progress)) {
        return OPT_NOT_MINE;
    }
    return 0;
}

typedef int (*own_option_fn)(args_t *a, const char *arg, void *ctx);

/* Reads the command line: the shared options, then the command's own (OWN),
 * then checks that the required ones are there. 0, HELP_SHOWN or an exit code. */
static int parse_data_args(int argc, char **argv, data_cmd *c, const char *help, own_option_fn own, void *ctx)
{
    args_t a = {argc, 0, argv};
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help, stdout);
            return HELP_SHOWN;
        }
        int rc = common_data_option(&a, arg, c);
        if (rc == OPT_NOT_MINE && own) rc = own(&a, arg, ctx);
        if (rc == OPT_NOT_MINE) {
            if (arg[0] == '-' && arg[1]) return usage_error("%s: unknown option '%s'", c->name, arg);
            return usage_error("%s: unexpected argument '%s'", c->name, arg);
        }
        if (rc) return rc;
    }
    if (!c->in) return usage_error("%s needs --in FILE", c->name);
    if ((c->takes & NEEDS_OUT) && !c->out) return usage_error("%s needs --out FILE", c->name);
    c->bar = (progress_bar){c->progress != 0, now_s(), 0, "rows"};
    return 0;
}

/* --threshold, --ngram, --num-perm, --no-normalize, --threads: the
 * near-duplicate search of dedup, split and profile. */
static int dedup_knob(args_t *a, const char *arg, dm_dedup_options *o)
{
    const char *v;
    size_t n;
    if (is_opt(arg, NULL, "--threshold")) {
        NEED_VALUE_P(v, arg);
        return parse_fraction(arg, v, 0, 1, true, &o->threshold);
    }
    if (is_opt(arg, NULL, "--ngram")) {
        NEED_VALUE_P(v, arg);
        return parse_count(arg, v, 1, &o->ngram);
    }
    if (is_opt(arg, NULL, "--num-perm")) {
        NEED_VALUE_P(v, arg);
        return parse_count(arg, v, 1, &o->num_perm);
    }
    if (is_opt(arg, NULL, "--bands")) {
        NEED_VALUE_P(v, arg);
        return parse_count(arg, v, 1, &o->bands);
    }
    if (is_opt(arg, NULL, "--rows-per-band")) {
        NEED_VALUE_P(v, arg);
        return parse_count(arg, v, 1, &o->rows_per_band);
    }
    if (parse_bool_pair(arg, "verify", &o->verify)) return 0;
    if (is_opt(arg, "-j", "--threads")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &n) || n > 4096) return usage_error("%s: '%s' is not a count from 0 to 4096", arg, v);
        o->threads = (int)n;
        return 0;
    }
    if (parse_bool_pair(arg, "normalize", &o->normalize)) return 0;
    return OPT_NOT_MINE;
}

static int data_progress(uint64_t done, uint64_t total, void *user)
{
    data_cmd *c = user;
    c->done = done;
    c->total = total;
    if (c->bar.on) {
        bar_draw(&c->bar, done, total, false);
        c->drawn = true;
    }
    return interrupted;
}

/* Ends the bar and turns ST into an exit code (with a message). */
static int op_result(data_cmd *c, dm_status st, const char *what)
{
    if (c->drawn) {
        if (!st) bar_draw(&c->bar, c->done, c->total, true);
        else fputc('\n', stderr);
        c->drawn = false;
    }
    if (st == DM_ERR_CANCELLED || (st && interrupted)) {
        fputs("dm: interrupted\n", stderr);
        return EXIT_INTERRUPTED;
    }
    return st ? fail_lib(what) : 0;
}

static int load_input(data_cmd *c, dm_dataset **ds)
{
    *ds = NULL;
    if (dm_dataset_load(c->in, &c->dso, ds)) return fail_data_as(c->in, NULL);
    return 0;
}

static int write_dataset(const dm_dataset *ds, const char *path)
{
    return dm_dataset_write(ds, path, DM_FORMAT_AUTO) ? fail_lib(path) : 0;
}

/* TEXT and a newline to PATH ("-": standard output). */
static int write_text(const char *path, const char *text)
{
    FILE *f = open_output(path);
    if (!f) return 1;
    outbuf o = {f, malloc(1u << 16), 0, 1u << 16, false};
    if (!o.buf) o.failed = true;
    else {
        out_bytes(&o, text, strlen(text));
        if (!*text || text[strlen(text) - 1] != '\n') out_char(&o, '\n');
    }
    return finish_output(&o, f, path);
}

/* The report to --report, if given. */
static int save_report(const data_cmd *c, const char *json)
{
    return c->report && json ? write_text(c->report, json) : 0;
}

static json_int_t jint(const json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

/* " name count, name count" of the non-zero integers of object O. */
static void print_counts(const json_t *o)
{
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach((json_t *)o, key, v)
    {
        if (json_is_integer(v) && json_integer_value(v)) {
            fprintf(stderr, "%s%s %lld", first ? "" : ", ", key, (long long)json_integer_value(v));
            first = false;
        }
    }
    if (first) fputs("none", stderr);
}

static json_t *parse_report(const char *json)
{
    json_t *r = json ? json_loads(json, 0, NULL) : NULL;
    return r ? r : json_object();
}

static int load_tokenizer(const char *path, dm_tokenizer **tok)
{
    *tok = NULL;
    if (path && dm_tokenizer_load(path, NULL, tok)) return fail_lib(path);
    return 0;
}

/* ------------------------------------------------------------------ profile */

typedef struct {
    const char *html, *json, *tokenizer, *clean_report;
    dm_profile_options po;
    dm_dedup_options dedup;
} profile_args;

static int profile_option(args_t *a, const char *arg, void *ctx)
{
    profile_args *p = ctx;
    if (is_opt(arg, NULL, "--html")) NEED_VALUE_P(p->html, arg);
    else if (is_opt(arg, NULL, "--json")) NEED_VALUE_P(p->json, arg);
    else if (is_opt(arg, "-t", "--tokenizer")) NEED_VALUE_P(p->tokenizer, arg);
    else if (is_opt(arg, NULL, "--title")) NEED_VALUE_P(p->po.title, arg);
    else if (is_opt(arg, NULL, "--clean-report")) NEED_VALUE_P(p->clean_report, arg);
    else if (is_opt(arg, NULL, "--no-near-dups")) p->po.near_duplicates = 0;
    else return dedup_knob(a, arg, &p->dedup);
    return 0;
}

static int write_profile(const profile_args *p, const char *json)
{
    if (!p->html && !p->json) return write_text("-", json);
    if (p->json && write_text(p->json, json)) return 1;
    if (!p->html) return 0;
    char *html;
    size_t len;
    if (dm_profile_html(json, strlen(json), &html, &len)) return fail_lib("profile --html");
    int rc = write_text(p->html, html);
    dm_free(html);
    return rc;
}

int cmd_profile(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "profile", 0);
    c.dso.bad_rows = DM_BAD_ROWS_SKIP; /* a profile lists bad rows rather than failing on them */
    profile_args p = {0};
    dm_profile_options_default(&p.po);
    dm_dedup_options_default(&p.dedup);
    int rc = parse_data_args(argc, argv, &c, help_profile, profile_option, &p);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    if (!c.utf8_given) c.dso.invalid_utf8 = DM_UTF8_SKIP_ROW;
    dm_tokenizer *tok = NULL;
    dm_dataset *ds = NULL;
    char *clean = NULL, *json = NULL;
    rc = load_tokenizer(p.tokenizer, &tok);
    if (!rc && p.clean_report) rc = read_whole_file(p.clean_report, "--clean-report", &clean, NULL);
    if (!rc) rc = load_input(&c, &ds);
    if (!rc) {
        p.po.tokenizer = tok;
        p.po.dedup = &p.dedup;
        p.po.clean_report_json = clean;
        p.po.progress = data_progress;
        p.po.progress_user = &c;
        rc = op_result(&c, dm_dataset_profile(ds, &p.po, &json), "profile");
    }
    if (!rc) rc = write_profile(&p, json);
    dm_free(json);
    free(clean);
    dm_dataset_free(ds);
    dm_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------------ clean */

typedef struct {
    dm_clean_options co;
    const char *tokenizer, *labels;
    bool token_limits;
} clean_args;

static int clean_option(args_t *a, const char *arg, void *ctx)
{
    clean_args *k = ctx;
    const char *v;
    size_t *count = is_opt(arg, NULL, "--min-chars")    ? &k->co.min_chars
                    : is_opt(arg, NULL, "--max-chars")  ? &k->co.max_chars
                    : is_opt(arg, NULL, "--min-tokens") ? &k->co.min_tokens
                    : is_opt(arg, NULL, "--max-tokens") ? &k->co.max_tokens
                                                        : NULL;
    if (count) {
        NEED_VALUE_P(v, arg);
        if (strstr(arg, "tokens")) k->token_limits = true;
        return parse_count(arg, v, 0, count);
    }
    if (is_opt(arg, NULL, "--no-nfkc")) k->co.nfkc = 0;
    else if (is_opt(arg, NULL, "--no-html")) k->co.strip_html = 0;
    else if (is_opt(arg, NULL, "--no-control")) k->co.strip_control = 0;
    else if (is_opt(arg, NULL, "--no-collapse")) k->co.collapse_whitespace = 0;
    else if (is_opt(arg, NULL, "--no-trim")) k->co.trim = 0;
    else if (is_opt(arg, NULL, "--keep-missing-labels")) k->co.drop_missing_labels = 0;
    else if (is_opt(arg, "-t", "--tokenizer")) NEED_VALUE_P(k->tokenizer, arg);
    else if (is_opt(arg, NULL, "--labels")) NEED_VALUE_P(k->labels, arg);
    else return OPT_NOT_MINE;
    return 0;
}

static void clean_summary(const char *report)
{
    json_t *r = parse_report(report);
    fprintf(stderr, "dm: clean: %lld rows in, %lld out; dropped: ", (long long)jint(r, "rows_in"),
            (long long)jint(r, "rows_out"));
    print_counts(json_object_get(r, "dropped"));
    fputs("; changed: ", stderr);
    print_counts(json_object_get(r, "changed"));
    fputc('\n', stderr);
    json_decref(r);
}

int cmd_clean(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "clean", TAKES_OUT | NEEDS_OUT | TAKES_REPORT);
    clean_args k = {0};
    dm_clean_options_default(&k.co);
    int rc = parse_data_args(argc, argv, &c, help_clean, clean_option, &k);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    if (k.token_limits && !k.tokenizer) return usage_error("--min-tokens and --max-tokens need --tokenizer PATH");
    char *label_copy = NULL;
    const char **labels = NULL;
    if (k.labels) {
        rc = split_names("--labels", k.labels, true, &label_copy, &labels, &k.co.n_allowed_labels);
        k.co.allowed_labels = labels;
    }
    dm_tokenizer *tok = NULL;
    dm_dataset *ds = NULL, *out = NULL;
    char *report = NULL;
    if (!rc) rc = load_tokenizer(k.tokenizer, &tok);
    if (!rc) rc = load_input(&c, &ds);
    if (!rc) {
        k.co.tokenizer = tok;
        k.co.progress = data_progress;
        k.co.progress_user = &c;
        rc = op_result(&c, dm_dataset_clean(ds, &k.co, &out, &report), "clean");
    }
    if (!rc) rc = write_dataset(out, c.out);
    if (!rc) rc = save_report(&c, report);
    if (!rc) clean_summary(report);
    dm_free(report);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    dm_tokenizer_free(tok);
    free(labels);
    free(label_copy);
    return rc;
}

/* ------------------------------------------------------------------ dedup */

typedef struct {
    dm_dedup_options o;
    const char *clusters;
} dedup_args;

/* The policies of dm conflicts --policy and dm dedup --label-conflicts. */
static const struct {
    const char *name;
    dm_conflict_policy policy;
} conflict_policies[] = {{"keep", DM_CONFLICT_KEEP},
                         {"drop", DM_CONFLICT_DROP_ALL},
                         {"majority", DM_CONFLICT_MAJORITY},
                         {"first", DM_CONFLICT_KEEP_FIRST}};

/* *POLICY from NAME, the value of option OPT; a usage error for any other name. */
static int parse_conflict_policy(const char *opt, const char *name, dm_conflict_policy *policy)
{
    for (size_t i = 0; i < sizeof conflict_policies / sizeof conflict_policies[0]; i++)
        if (strcmp(name, conflict_policies[i].name) == 0) {
            *policy = conflict_policies[i].policy;
            return 0;
        }
    return usage_error("%s: unknown policy '%s' (keep, drop, majority, first)", opt, name);
}

static int dedup_option(args_t *a, const char *arg, void *ctx)
{
    dedup_args *d = ctx;
    const char *v;
    if (is_opt(arg, NULL, "--exact-only")) d->o.exact_only = 1;
    else if (is_opt(arg, NULL, "--clusters")) NEED_VALUE_P(d->clusters, arg);
    else if (is_opt(arg, NULL, "--label-conflicts")) {
        NEED_VALUE_P(v, arg);
        dm_conflict_policy p = DM_CONFLICT_KEEP;
        int rc = parse_conflict_policy(arg, v, &p);
        d->o.label_conflicts = (int)p;
        return rc;
    }
    else if (is_opt(arg, NULL, "--seed")) {
        NEED_VALUE_P(v, arg);
        return parse_seed(arg, v, &d->o.seed);
    } else return dedup_knob(a, arg, &d->o);
    return 0;
}

/* The report's clusters, one JSON object per line. */
static int write_clusters(const char *path, const json_t *report)
{
    FILE *f = open_output(path);
    if (!f) return 1;
    outbuf o = {f, malloc(1u << 16), 0, 1u << 16, false};
    if (!o.buf) o.failed = true;
    size_t i;
    json_t *cl;
    json_array_foreach(json_object_get(report, "clusters"), i, cl)
    {
        char *line = json_dumps(cl, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!line) {
            o.failed = true;
            break;
        }
        out_bytes(&o, line, strlen(line));
        out_char(&o, '\n');
        free(line);
    }
    return finish_output(&o, f, path);
}

/* Rows in and out, the duplicates found and the clusters whose labels differ. */
static void dedup_summary(const json_t *r)
{
    fprintf(stderr,
            "dm: dedup: %lld rows in, %lld out; %lld exact and %lld near duplicates (%lld near pairs, %zu clusters)",
            (long long)jint(r, "rows_in"), (long long)jint(r, "rows_out"), (long long)jint(r, "exact_duplicates"),
            (long long)jint(r, "near_duplicates"), (long long)jint(r, "near_pairs"),
            json_array_size(json_object_get(r, "clusters")));
    long long conflicts = jint(r, "conflicts");
    if (conflicts)
        fprintf(stderr, "; %lld cluster%s with different labels (%lld rows; %s: %lld more kept, %lld dropped)",
                conflicts, conflicts == 1 ? "" : "s", (long long)jint(r, "rows_in_conflict"),
                json_string_value(json_object_get(r, "label_conflicts")), (long long)jint(r, "conflict_rows_kept"),
                (long long)jint(r, "conflict_rows_dropped"));
    fputc('\n', stderr);
}

int cmd_dedup(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "dedup", TAKES_OUT | NEEDS_OUT | TAKES_REPORT);
    dedup_args d = {0};
    dm_dedup_options_default(&d.o);
    int rc = parse_data_args(argc, argv, &c, help_dedup, dedup_option, &d);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    dm_dataset *ds = NULL, *out = NULL;
    char *report = NULL;
    rc = load_input(&c, &ds);
    if (!rc) {
        d.o.progress = data_progress;
        d.o.progress_user = &c;
        rc = op_result(&c, dm_dataset_dedup(ds, &d.o, &out, &report), "dedup");
    }
    /* The input is not needed any more: one long row is then not held
     * three times (input, output, the output's file image) while writing. */
    dm_dataset_free(ds);
    if (!rc) rc = write_dataset(out, c.out);
    if (!rc) rc = save_report(&c, report);
    json_t *r = rc ? NULL : parse_report(report);
    if (!rc && d.clusters) rc = write_clusters(d.clusters, r);
    if (!rc) dedup_summary(r);
    json_decref(r);
    dm_free(report);
    dm_dataset_free(out);
    return rc;
}

/* ------------------------------------------------------------------ conflicts */

typedef struct {
    const char *policy_name;
    dm_conflict_policy policy;
} conflicts_args;

static int conflicts_option(args_t *a, const char *arg, void *ctx)
{
    conflicts_args *k = ctx;
    const char *v;
    if (!is_opt(arg, NULL, "--policy")) return OPT_NOT_MINE;
    NEED_VALUE_P(v, arg);
    k->policy_name = v;
    return parse_conflict_policy("--policy", v, &k->policy);
}

int cmd_conflicts(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "conflicts", TAKES_OUT | TAKES_REPORT);
    conflicts_args k = {NULL, DM_CONFLICT_KEEP};
    int rc = parse_data_args(argc, argv, &c, help_conflicts, conflicts_option, &k);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    if (c.out && !k.policy_name) return usage_error("conflicts --out needs --policy keep|drop|majority|first");
    if (!c.out && k.policy_name) return usage_error("--policy needs --out FILE");
    if (!c.out && !c.report) c.report = "-"; /* nothing else to show: the report itself */
    dm_dataset *ds = NULL, *out = NULL;
    char *report = NULL;
    rc = load_input(&c, &ds);
    if (!rc) rc = op_result(&c, dm_dataset_conflicts(ds, k.policy, &out, &report), "conflicts");
    if (!rc && c.out) rc = write_dataset(out, c.out);
    if (!rc) rc = save_report(&c, report);
    if (!rc) {
        json_t *r = parse_report(report);
        fprintf(stderr, "dm: conflicts: %lld texts with conflicting labels (%lld rows)", (long long)jint(r, "conflicts"),
                (long long)jint(r, "rows_in_conflict"));
        if (c.out)
            fprintf(stderr, "; %s: %lld rows in, %lld out", k.policy_name, (long long)jint(r, "rows_in"),
                    (long long)jint(r, "rows_out"));
        fputc('\n', stderr);
        json_decref(r);
    }
    dm_free(report);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    return rc;
}

/* ------------------------------------------------------------------ split */

typedef struct {
    dm_split_options so;
    dm_dedup_options dedup;
    const char *out_dir;
    bool given[3]; /* --train, --val, --test */
    bool near_dups, leakage;
} split_args;

static int split_option(args_t *a, const char *arg, void *ctx)
{
    split_args *s = ctx;
    const char *v;
    static const char *const fractions[] = {"--train", "--val", "--test"};
    for (int k = 0; k < 3; k++)
        if (is_opt(arg, NULL, fractions[k])) {
            double *f = k == 0 ? &s->so.train : k == 1 ? &s->so.val : &s->so.test;
            NEED_VALUE_P(v, arg);
            s->given[k] = true;
            return parse_fraction(arg, v, 0, 1, false, f);
        }
    if (is_opt(arg, "-d", "--out-dir")) NEED_VALUE_P(s->out_dir, arg);
    else if (is_opt(arg, NULL, "--stratify")) s->so.stratify = 1;
    else if (is_opt(arg, NULL, "--group-near-dups")) s->near_dups = true;
    else if (is_opt(arg, NULL, "--leakage")) s->leakage = true;
    else if (is_opt(arg, NULL, "--folds")) {
        NEED_VALUE_P(v, arg);
        return parse_count(arg, v, 2, &s->so.folds);
    } else if (is_opt(arg, NULL, "--seed")) {
        NEED_VALUE_P(v, arg);
        return parse_seed(arg, v, &s->so.seed);
    } else return dedup_knob(a, arg, &s->dedup);
    return 0;
}

/* Fractions not given share what the given ones leave. */
static int split_fractions(split_args *s)
{
    double *f[3] = {&s->so.train, &s->so.val, &s->so.test}, left = 1;
    int missing = 0;
    if (!s->given[0] && !s->given[1] && !s->given[2]) return 0;
    for (int k = 0; k < 3; k++) {
        if (s->given[k]) left -= *f[k];
        else missing++;
    }
    if (left < -1e-9 || (!missing && fabs(left) > 1e-9))
        return usage_error("--train, --val and --test must sum to 1 (they sum to %g)", 1 - left);
    for (int k = 0; k < 3; k++)
        if (!s->given[k]) *f[k] = left > 0 ? left / missing : 0;
    return 0;
}

static int make_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return 0;
        fprintf(stderr, "dm: %s exists and is not a folder\n", dir);
        return 1;
    }
    if (mkdir(dir, 0777) != 0) {
        fprintf(stderr, "dm: cannot make the folder %s: %s\n", dir, strerror(errno));
        return 1;
    }
    return 0;
}

/* A copy (malloc'd) of the JSON object OBJ with "KEY": VALUE (JSON text)
 * added at the end: the library's bytes are kept as they are. NULL when out
 * of memory or OBJ is not an object. */
static char *json_with(const char *obj, const char *key, const char *value)
{
    size_t body = strlen(obj);
    while (body && obj[body - 1] != '}') body--;
    if (!body--) return NULL; /* body: the length without the closing brace */
    while (body && (obj[body - 1] == ' ' || obj[body - 1] == '\n')) body--;
    bool empty = body && obj[body - 1] == '{';
    size_t cap = body + strlen(key) + strlen(value) + 8;
    char *s = malloc(cap);
    if (s) snprintf(s, cap, "%.*s%s\"%s\":%s}", (int)body, obj, empty ? "" : ",", key, value);
    return s;
}

/* Part K's rows (in input order) to PATH; *N_ROWS gets their number. */
static int write_part(const dm_dataset *ds, const int32_t *assign, int32_t k, const char *path, size_t *rows,
                      size_t *n_rows)
{
    size_t n = 0;
    for (size_t i = 0, N = dm_dataset_size(ds); i < N; i++)
        if (assign[i] == k) rows[n++] = i;
    *n_rows = n;
    dm_dataset *part;
    if (dm_dataset_select(ds, rows, n, &part)) return fail_lib(path);
    int rc = write_dataset(part, path);
    dm_dataset_free(part);
    return rc;
}

/* Writes the parts' files, prints them, and sets *FILES to their JSON list
 * ([{name, path, rows}], malloc'd). */
static int write_split(const data_cmd *c, const split_args *s, const dm_dataset *ds, const int32_t *assign,
                       char **files)
{
    static const char *const names[] = {"train", "val", "test"};
    size_t n_parts = s->so.folds ? s->so.folds : 3;
    dm_file_format fmt = c->dso.format ? c->dso.format : format_of_name(c->in);
    size_t *rows = malloc((dm_dataset_size(ds) + 1) * sizeof *rows);
    json_t *list = json_array();
    int rc = rows && list ? 0 : out_of_memory();
    if (!rc) fputs("dm: split:", stderr);
    for (size_t k = 0; k < n_parts && !rc; k++) {
        char name[32], path[4096];
        double frac = k == 0 ? s->so.train : k == 1 ? s->so.val : s->so.test;
        if (!s->so.folds && frac == 0) continue; /* a part nobody asked for */
        if (s->so.folds) snprintf(name, sizeof name, "fold%zu", k);
        else snprintf(name, sizeof name, "%s", names[k]);
        snprintf(path, sizeof path, "%s/%s.%s", s->out_dir, name, format_ext(fmt));
        size_t n;
        rc = write_part(ds, assign, (int32_t)k, path, rows, &n);
        if (!rc) {
            fprintf(stderr, "%s %s %zu", k ? "," : "", name, n);
            json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "name", name, "path", path, "rows", (json_int_t)n));
        }
    }
    if (!rc) fprintf(stderr, " rows in %s\n", s->out_dir);
    *files = rc ? NULL : json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!rc && !*files) rc = out_of_memory();
    json_decref(list);
    free(rows);
    return rc;
}

/* The leakage report (with cross_pairs added) into *LEAK (malloc'd). */
static int split_leakage(data_cmd *c, const split_args *s, const dm_dataset *ds, const int32_t *assign, char **leak)
{
    size_t n_parts = s->so.folds ? s->so.folds : 3;
    uint64_t cross = 0;
    char *text = NULL, num[32];
    int rc = op_result(c, dm_dataset_leakage(ds, assign, n_parts, &s->dedup, &cross, &text), "split --leakage");
    if (rc) return rc;
    snprintf(num, sizeof num, "%llu", (unsigned long long)cross);
    *leak = json_with(text, "cross_pairs", num);
    dm_free(text);
    return *leak ? 0 : out_of_memory();
}

static void leakage_summary(const char *leak)
{
    json_t *l = parse_report(leak);
    fprintf(stderr, "dm: leakage: %lld duplicate pairs across parts (%lld exact, %lld near)\n",
            (long long)jint(l, "cross_pairs"), (long long)jint(l, "exact_pairs"), (long long)jint(l, "near_pairs"));
    json_decref(l);
}

int cmd_split(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "split", TAKES_REPORT | TAKES_GROUP);
    split_args s = {0};
    dm_split_options_default(&s.so);
    dm_dedup_options_default(&s.dedup);
    int rc = parse_data_args(argc, argv, &c, help_split, split_option, &s);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    if (!s.out_dir) return usage_error("split needs --out-dir DIR");
    if (c.dso.group_column && s.near_dups) return usage_error("--group-column and --group-near-dups exclude each other");
    if (s.so.folds && (s.given[0] || s.given[1] || s.given[2]))
        return usage_error("--folds and --train/--val/--test exclude each other");
    if ((rc = split_fractions(&s))) return rc;
    if (!c.dso.format && format_of_name(c.in) == DM_FORMAT_AUTO)
        return usage_error("split: cannot tell the format of '%s' (give --format csv, tsv or jsonl)", c.in);
    s.so.group_by = c.dso.group_column ? DM_GROUP_COLUMN : s.near_dups ? DM_GROUP_NEAR_DUPLICATES : DM_GROUP_NONE;
    s.so.dedup = &s.dedup;
    dm_dataset *ds = NULL;
    int32_t *assign = NULL;
    char *report = NULL, *files = NULL, *leak = NULL;
    rc = load_input(&c, &ds);
    if (!rc && !(assign = malloc((dm_dataset_size(ds) + 1) * sizeof *assign))) rc = out_of_memory();
    if (!rc) rc = op_result(&c, dm_dataset_split(ds, &s.so, assign, &report), "split");
    /* the leakage before any file, so that a failure leaves nothing half done */
    if (!rc && s.leakage) rc = split_leakage(&c, &s, ds, assign, &leak);
    if (!rc) rc = make_dir(s.out_dir);
    if (!rc) rc = write_split(&c, &s, ds, assign, &files);
    if (!rc && leak) leakage_summary(leak);
    if (!rc && c.report) { /* the library's report, the files and the leakage */
        char *full = json_with(report, "files", files), *with_leak = full && leak ? json_with(full, "leakage", leak) : NULL;
        if (leak) {
            free(full);
            full = with_leak;
        }
        rc = full ? write_text(c.report, full) : out_of_memory();
        free(full);
    }
    dm_free(report);
    free(files);
    free(leak);
    free(assign);
    dm_dataset_free(ds);
    return rc;
}

/* ------------------------------------------------------------------ resample, class weights */

typedef struct {
    dm_resample_options o;
    const char *target;
} resample_args;

static int resample_option(args_t *a, const char *arg, void *ctx)
{
    resample_args *r = ctx;
    const char *v;
    if (is_opt(arg, NULL, "--strategy")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "over") == 0) r->o.strategy = DM_RESAMPLE_OVER;
        else if (strcmp(v, "under") == 0) r->o.strategy = DM_RESAMPLE_UNDER;
        else return usage_error("--strategy: unknown strategy '%s' (over, under)", v);
    } else if (is_opt(arg, NULL, "--target")) {
        NEED_VALUE_P(r->target, arg);
    } else if (is_opt(arg, NULL, "--seed")) {
        NEED_VALUE_P(v, arg);
        return parse_seed(arg, v, &r->o.seed);
    } else {
        return OPT_NOT_MINE;
    }
    return 0;
}

/* "a=0.5,b=0.5" into NAMES/WEIGHTS (N entries; NAMES point into *COPY).
 * A label may hold '=': the weight follows the last one. */
static int parse_target(const char *v, char **copy, const char ***names, double **weights, size_t *n)
{
    int rc = split_names("--target", v, true, copy, names, n);
    *weights = rc ? NULL : malloc((*n + 1) * sizeof **weights);
    if (!rc && !*weights) rc = out_of_memory();
    for (size_t i = 0; !rc && i < *n; i++) {
        char *eq = strrchr((char *)(*names)[i], '=');
        if (!eq || eq == (*names)[i])
            return usage_error("--target: expected LABEL=WEIGHT, found '%s' in '%s'", (*names)[i], v);
        *eq = '\0';
        if (!parse_double(eq + 1, &(*weights)[i]) || (*weights)[i] <= 0)
            return usage_error("--target: the weight of '%s' is not a positive number: '%s'", (*names)[i], eq + 1);
    }
    return rc;
}

/* The target weights in label-id order; a usage error for a label the data
 * lacks or one it has that the target leaves out. */
static int target_by_label(const dm_dataset *ds, const char *const *names, const double *w, size_t n, double *out)
{
    size_t k = dm_dataset_num_labels(ds);
    for (size_t j = 0; j < k; j++) out[j] = -1;
    for (size_t i = 0; i < n; i++) {
        int32_t id = dm_dataset_label_id(ds, names[i]);
        if (id < 0) return usage_error("--target: the data has no label '%s'", names[i]);
        out[id] = w[i];
    }
    for (size_t j = 0; j < k; j++)
        if (out[j] < 0)
            return usage_error("--target gives no weight for label '%s'", dm_dataset_label_name(ds, (int32_t)j));
    return 0;
}

static void print_class_counts(const char *what, const json_t *counts)
{
    const char *key;
    json_t *v;
    bool first = true;
    fputs(what, stderr);
    json_object_foreach((json_t *)counts, key, v)
    {
        fprintf(stderr, "%s %s %lld", first ? "" : ",", key, (long long)json_integer_value(v));
        first = false;
    }
}

int cmd_resample(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "resample", TAKES_OUT | NEEDS_OUT | TAKES_REPORT);
    resample_args ra = {0};
    dm_resample_options_default(&ra.o);
    int rc = parse_data_args(argc, argv, &c, help_resample, resample_option, &ra);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    char *copy = NULL, *report = NULL;
    const char **names = NULL;
    double *weights = NULL, *target = NULL;
    size_t n = 0;
    dm_dataset *ds = NULL, *out = NULL;
    if (ra.target) rc = parse_target(ra.target, &copy, &names, &weights, &n);
    if (!rc) rc = load_input(&c, &ds);
    if (!rc && ra.target) {
        target = malloc((dm_dataset_num_labels(ds) + 1) * sizeof *target);
        rc = target ? target_by_label(ds, names, weights, n, target) : out_of_memory();
        ra.o.target = target;
        ra.o.n_target = dm_dataset_num_labels(ds);
    }
    if (!rc) rc = op_result(&c, dm_dataset_resample(ds, &ra.o, &out, &report), "resample");
    if (!rc) rc = write_dataset(out, c.out);
    if (!rc) rc = save_report(&c, report);
    if (!rc) {
        json_t *r = parse_report(report);
        fprintf(stderr, "dm: resample: %lld rows in, %lld out;", (long long)jint(r, "rows_in"),
                (long long)jint(r, "rows_out"));
        print_class_counts(" before", json_object_get(r, "before"));
        print_class_counts("; after", json_object_get(r, "after"));
        fputc('\n', stderr);
        json_decref(r);
    }
    dm_free(report);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    free(target);
    free(weights);
    free(names);
    free(copy);
    return rc;
}

static int class_weights_option(args_t *a, const char *arg, void *ctx)
{
    (void)a;
    if (!is_opt(arg, NULL, "--json")) return OPT_NOT_MINE;
    *(bool *)ctx = true;
    return 0;
}

int cmd_class_weights(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "class-weights", 0);
    bool as_json = false;
    int rc = parse_data_args(argc, argv, &c, help_class_weights, class_weights_option, &as_json);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    dm_dataset *ds = NULL;
    rc = load_input(&c, &ds);
    size_t k = rc ? 0 : dm_dataset_num_labels(ds);
    double *w = rc ? NULL : malloc((k + 1) * sizeof *w);
    if (!rc && !w) rc = out_of_memory();
    if (!rc) rc = op_result(&c, dm_dataset_class_weights(ds, w), "class-weights");
    if (!rc && as_json) {
        json_t *o = json_object();
        for (size_t j = 0; j < k; j++) json_object_set_new(o, dm_dataset_label_name(ds, (int32_t)j), json_real(w[j]));
        char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        rc = text ? write_text("-", text) : out_of_memory();
        free(text);
        json_decref(o);
    } else if (!rc) {
        for (size_t j = 0; j < k; j++) printf("%s\t%.17g\n", dm_dataset_label_name(ds, (int32_t)j), w[j]);
        if (fflush(stdout) != 0) rc = 1;
    }
    free(w);
    dm_dataset_free(ds);
    return rc;
}

/* ------------------------------------------------------------------ augment */

static int augment_option(args_t *a, const char *arg, void *ctx)
{
    dm_augment_options *o = ctx;
    const char *v;
    double *alpha = is_opt(arg, NULL, "--alpha-sr")    ? &o->alpha_sr
                    : is_opt(arg, NULL, "--alpha-ri")  ? &o->alpha_ri
                    : is_opt(arg, NULL, "--alpha-rs")  ? &o->alpha_rs
                    : is_opt(arg, NULL, "--alpha-rd")  ? &o->alpha_rd
                    : is_opt(arg, NULL, "--char-rate") ? &o->char_rate
                                                       : NULL;
    if (alpha) {
        NEED_VALUE_P(v, arg);
        return parse_fraction(arg, v, 0, 1, false, alpha);
    }
    if (is_opt(arg, NULL, "--alpha")) {
        NEED_VALUE_P(v, arg);
        int rc = parse_fraction(arg, v, 0, 1, false, &o->alpha_sr);
        o->alpha_ri = o->alpha_rs = o->alpha_rd = o->alpha_sr;
        return rc;
    }
    if (is_opt(arg, NULL, "--ops")) {
        NEED_VALUE_P(v, arg);
        o->ops = 0;
        for (const char *s = v;; s++) {
            size_t len = strcspn(s, ",");
            if (len == 3 && strncmp(s, "eda", 3) == 0) o->ops |= DM_AUGMENT_EDA;
            else if (len == 5 && strncmp(s, "chars", 5) == 0) o->ops |= DM_AUGMENT_CHARS;
            else return usage_error("--ops: unknown operation '%.*s' in '%s' (eda, chars)", (int)len, s, v);
            s += len;
            if (!*s) break;
        }
        return 0;
    }
    if (is_opt(arg, NULL, "--n")) {
        NEED_VALUE_P(v, arg);
        return parse_count(arg, v, 1, &o->n);
    }
    if (is_opt(arg, NULL, "--seed")) {
        NEED_VALUE_P(v, arg);
        return parse_seed(arg, v, &o->seed);
    }
    if (is_opt(arg, NULL, "--wordnet")) NEED_VALUE_P(o->wordnet_dir, arg);
    else if (is_opt(arg, NULL, "--synonyms")) NEED_VALUE_P(o->synonyms_path, arg);
    else if (is_opt(arg, NULL, "--no-original")) o->keep_original = 0;
    else return OPT_NOT_MINE;
    return 0;
}

int cmd_augment(int argc, char **argv)
{
    data_cmd c;
    data_cmd_init(&c, "augment", TAKES_OUT | NEEDS_OUT | TAKES_REPORT);
    dm_augment_options o;
    dm_augment_options_default(&o);
    int rc = parse_data_args(argc, argv, &c, help_augment, augment_option, &o);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    dm_dataset *ds = NULL, *out = NULL;
    char *report = NULL;
    rc = load_input(&c, &ds);
    if (!rc) {
        o.progress = data_progress;
        o.progress_user = &c;
        rc = op_result(&c, dm_dataset_augment(ds, &o, &out, &report), "augment");
    }
    if (!rc) rc = write_dataset(out, c.out);
    if (!rc) rc = save_report(&c, report);
    if (!rc) {
        json_t *r = parse_report(report);
        fprintf(stderr, "dm: augment: %lld rows in, %lld out; ops: ", (long long)jint(r, "rows_in"),
                (long long)jint(r, "rows_out"));
        print_counts(json_object_get(r, "ops"));
        fprintf(stderr, "; %lld unchanged copies dropped\n", (long long)jint(r, "unchanged"));
        json_decref(r);
    }
    dm_free(report);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    return rc;
}
