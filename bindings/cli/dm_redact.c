/*
 * dm_redact.c — `dm redact`: finds personal data (PII) in text and
 * anonymises it, over the dm_pii API of datamodel.h.
 *
 *   dm redact [options] [FILE...]                 lines in, one line out each
 *   dm redact --decrypt --key-file K [FILE...]    encrypted tokens restored
 *   dm redact --in F --out G [--audit A]          a data set's text column
 *
 * Stream mode runs on the block stream (toolkit.h): each block of lines is
 * one call to dm_pii_anonymize_batch (dm_pii_detect_batch with
 * --detect-only, dm_pii_decrypt_batch with --decrypt), which works on all
 * cores and gives every line's result in its place; the lines out are then
 * formatted in parallel chunks written in order, so the output does not
 * depend on the thread count. Data set mode is one call to
 * dm_dataset_anonymize. Conventions are toolkit.h's: "dm: message" on stderr,
 * exit 1 on failure, 2 on usage errors, 130 on Ctrl-C.
 */
#include "commands.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <unistd.h>

/* ------------------------------------------------------------------ help */

const char help_redact[] =
    "usage: dm redact [options] [FILE...]                       one line out per line in\n"
    "       dm redact --decrypt --key-file K [FILE...]          restore encrypted values\n"
    "       dm redact --in FILE --out FILE [--audit A] [options]  a data set's text column\n"
    "\n"
    "Finds personal data — EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD (Luhn), IBAN_CODE (mod 97),\n"
    "IP_ADDRESS, URL, US_SSN, CN_RESIDENT_ID (MOD 11-2), and the types of --pattern and --deny —\n"
    "and replaces each value as its type's operator says. Without --in, texts are read one per\n"
    "line from the FILEs or standard input (only \\n ends a line; a \\r before it is dropped).\n"
    "\n"
    "what to do:\n"
    "      --operator OP         the operator of every type: replace (default: <TYPE>), redact\n"
    "                            (removed), mask (all but the last --keep-last characters),\n"
    "                            hash (<TYPE_3f9a1c2b>, HMAC-SHA-256 under --key-file: the same\n"
    "                            value always gives the same token), encrypt (<TYPE:...>,\n"
    "                            XChaCha20-Poly1305 under --key-file; --decrypt restores it), keep\n"
    "      --operator TYPE=OP    the operator of one type (repeatable; wins over --operator OP)\n"
    "      --mask-char C         the masking character (default *)\n"
    "      --keep-last N         characters left unmasked at the end (default 4)\n"
    "      --hash-chars N        hex digits of a hash token, 8 to 64 (default 8)\n"
    "  -k, --key-file K          the key: 64 hex characters, as `openssl rand -hex 32` prints\n"
    "      --detect-only         report the entities, change nothing\n"
    "      --decrypt             restore the values of encrypt tokens (needs --key-file)\n"
    "\n"
    "what to find:\n"
    "      --types T1,T2         only these built-in types (default: all; --pattern and --deny\n"
    "                            types are always on)\n"
    "      --min-score S         drop entities scoring below S, in [0, 1] (default 0.4)\n"
    "      --no-context          context words (\"card\", \"电话\", ...) do not raise scores\n"
    "      --pattern TYPE[:SCORE]=REGEX   a PCRE2 pattern finding TYPE (score default 0.6;\n"
    "                            repeatable); TYPE is capital letters, digits and _\n"
    "      --deny TYPE=FILE      each line of FILE (a word or phrase, matched whole, letters\n"
    "                            case-insensitively) is a TYPE entity with score 1 (repeatable)\n"
    "      --match-limit N       PCRE2 match limit of the --pattern regexes (default 1000000)\n"
    "\n"
    "lines (no --in):\n"
    "  -f, --format F            text (default) or json, one line out per line in:\n"
    "                              text: the anonymised line; with --detect-only the entities as\n"
    "                                TYPE:START:END separated by spaces (empty when none)\n"
    "                              json: {\"text\": anonymised, \"entities\": [{\"type\", \"start\",\n"
    "                                \"end\", \"score\"}]}, without the values themselves; with\n"
    "                                --detect-only {\"entities\": [{\"type\", \"start\", \"end\",\n"
    "                                \"text\", \"score\"}]}; with --decrypt {\"text\": restored}\n"
    "                            START and END are byte offsets into the line, END exclusive\n"
    HELP_INVALID_UTF8("                                (kept in the output text)\n",
                      "                                an empty line (text), or {\"line\":N,\"file\":\"FILE\",\n"
                      "                                \"skipped\":\"invalid UTF-8 at byte offset B (0xXX)\"} (json),\n")
    "  -o, --output FILE         write there instead of standard output\n"
    "      --block N             lines per block (default 65536)\n"
    "      --progress / --no-progress   progress bar on standard error (default: when a terminal)\n"
    "\n"
    "a data set (--in):\n"
    "  -i, --in FILE             CSV, TSV or JSONL with a header; --format csv|tsv|jsonl when the\n"
    "                            extension does not say\n"
    "  -o, --out FILE            the anonymised data set (.csv, .tsv or .jsonl; every column kept;\n"
    "                            optional with --detect-only, which changes nothing)\n"
    "      --text-column NAME    the text column (default: the first of sentence, text, review)\n"
    "      --pair-column NAME    a second text column, anonymised too\n"
    "      --label-column NAME, --id-column NAME, --skip-bad-rows, --invalid-utf8 fail|replace|skip\n"
    "                            (skip: rows with invalid UTF-8 are left out of the data set)\n"
    "      --audit FILE          one JSON line per entity: {id, column, type, start, end,\n"
    "                            operator}, never the value\n"
    "      --report FILE         the JSON report: rows, rows_changed, entities, operators\n"
    "                            (\"-\": standard output)\n"
    "  counts by type are printed on standard error.\n"
    "\n"
    "  -j, --threads N           threads (default: all cores; the output does not depend on it)\n";

/* ------------------------------------------------------------------ options */

typedef struct {
    bool detect_only, decrypt, json, data_opt_given, data_format_given;
    const char *key_file, *types, *output;
    const char *in, *out, *audit, *report;
    const char *default_op;          /* --operator OP */
    const char **type_ops, **patterns, **denies; /* TYPE=OP, TYPE[:SCORE]=REGEX, TYPE=FILE */
    size_t n_type_ops, n_patterns, n_denies;
    dm_pii_options po;
    dm_pii_operator_config cfg;
    dm_dataset_options dso;
    utf8_policy utf8; /* --invalid-utf8, for lines */
    int threads, progress;
    size_t block;
    char **files;
    int n_files;
} redact_args;

static const char *const op_names[] = {"replace", "redact", "mask", "hash", "encrypt", "keep"};

static int parse_op(const char *name, dm_pii_operator *op)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(name, op_names[i]) == 0) return *op = (dm_pii_operator)i, 0;
    return usage_error("--operator: unknown operator '%s' (redact, replace, mask, hash, encrypt, keep)", name);
}

static bool op_needs_key(const char *name) { return strcmp(name, "hash") == 0 || strcmp(name, "encrypt") == 0; }

/* The operator part of a --operator value: after '=' when there is one. */
static const char *op_of(const char *v)
{
    const char *eq = strchr(v, '=');
    return eq ? eq + 1 : v;
}

/* One UTF-8 encoded character -> its code point. */
static bool parse_one_char(const char *s, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = u[0] < 0x80 ? 1 : (u[0] >> 5) == 6 ? 2 : (u[0] >> 4) == 14 ? 3 : (u[0] >> 3) == 30 ? 4 : 0;
    if (!n || strlen(s) != n) return false;
    uint32_t c = n == 1 ? u[0] : u[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xc0) != 0x80) return false;
        c = c << 6 | (u[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || c == 0) return false;
    *cp = c;
    return true;
}

/* "TYPE=REST" with a non-empty TYPE and REST. */
static int check_pair(const char *opt, const char *v, const char *what)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1]) return usage_error("%s: expected TYPE=%s, got '%s'", opt, what, v);
    return 0;
}

static int pattern_head(const char *spec, char *type, size_t cap, double *score);

static int redact_option(args_t *a, const char *arg, redact_args *r)
{
    const char *v;
    size_t n;
    const char **column = is_opt(arg, NULL, "--text-column")    ? &r->dso.text_column
                          : is_opt(arg, NULL, "--pair-column")  ? &r->dso.pair_column
                          : is_opt(arg, NULL, "--label-column") ? &r->dso.label_column
                          : is_opt(arg, NULL, "--id-column")    ? &r->dso.id_column
                                                                : NULL;
    if (column) {
        NEED_VALUE_P(*column, arg);
        r->data_opt_given = true;
    } else if (is_opt(arg, NULL, "--detect-only")) {
        r->detect_only = true;
    } else if (is_opt(arg, NULL, "--decrypt")) {
        r->decrypt = true;
    } else if (is_opt(arg, "-f", "--format")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "text") == 0) r->json = false;
        else if (strcmp(v, "json") == 0) r->json = true;
        else if (strcmp(v, "csv") == 0) r->dso.format = DM_FORMAT_CSV;
        else if (strcmp(v, "tsv") == 0) r->dso.format = DM_FORMAT_TSV;
        else if (strcmp(v, "jsonl") == 0) r->dso.format = DM_FORMAT_JSONL;
        else return usage_error("--format: unknown format '%s' (text or json; csv, tsv or jsonl with --in)", v);
        r->data_format_given = r->dso.format != DM_FORMAT_AUTO;
    } else if (is_opt(arg, NULL, "--operator")) {
        NEED_VALUE_P(v, arg);
        dm_pii_operator op;
        if (strchr(v, '=')) {
            if (check_pair(arg, v, "OP")) return EXIT_USAGE;
            if (parse_op(op_of(v), &op)) return EXIT_USAGE;
            r->type_ops[r->n_type_ops++] = v;
        } else {
            if (parse_op(v, &op)) return EXIT_USAGE;
            r->default_op = v;
        }
    } else if (is_opt(arg, "-k", "--key-file")) {
        NEED_VALUE_P(r->key_file, arg);
    } else if (is_opt(arg, NULL, "--types")) {
        NEED_VALUE_P(r->types, arg);
    } else if (is_opt(arg, NULL, "--min-score")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &r->po.min_score) || r->po.min_score < 0 || r->po.min_score > 1)
            return usage_error("--min-score: '%s' is not a number in [0, 1]", v);
    } else if (is_opt(arg, NULL, "--mask-char")) {
        NEED_VALUE_P(v, arg);
        if (!parse_one_char(v, &r->cfg.mask_char)) return usage_error("--mask-char: '%s' is not one character", v);
    } else if (is_opt(arg, NULL, "--keep-last")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &r->cfg.keep_last)) return usage_error("--keep-last: '%s' is not a count", v);
    } else if (is_opt(arg, NULL, "--hash-chars")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &r->cfg.hash_chars)) return usage_error("--hash-chars: '%s' is not a count", v);
    } else if (is_opt(arg, NULL, "--pattern")) {
        NEED_VALUE_P(v, arg);
        char type[128];
        double score;
        if (check_pair(arg, v, "REGEX") || pattern_head(v, type, sizeof type, &score)) return EXIT_USAGE;
        r->patterns[r->n_patterns++] = v;
    } else if (is_opt(arg, NULL, "--deny")) {
        NEED_VALUE_P(v, arg);
        if (check_pair(arg, v, "FILE")) return EXIT_USAGE;
        r->denies[r->n_denies++] = v;
    } else if (is_opt(arg, NULL, "--match-limit")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &n) || n == 0) return usage_error("--match-limit: '%s' is not a positive count", v);
        r->po.match_limit = n;
    } else if (is_opt(arg, NULL, "--no-context")) {
        r->po.use_context = 0;
    } else if (is_opt(arg, NULL, "--context")) {
        r->po.use_context = 1;
    } else if (is_opt(arg, "-i", "--in") || is_opt(arg, NULL, "--input")) {
        NEED_VALUE_P(r->in, arg);
    } else if (is_opt(arg, NULL, "--out")) {
        NEED_VALUE_P(r->out, arg);
    } else if (is_opt(arg, "-o", "--output")) {
        NEED_VALUE_P(r->output, arg); /* --out with --in, else the stream's output */
    } else if (is_opt(arg, NULL, "--audit")) {
        NEED_VALUE_P(r->audit, arg);
    } else if (is_opt(arg, NULL, "--report")) {
        NEED_VALUE_P(r->report, arg);
    } else if (is_opt(arg, NULL, "--skip-bad-rows")) {
        r->dso.bad_rows = DM_BAD_ROWS_SKIP;
        r->data_opt_given = true;
    } else if (is_opt(arg, NULL, "--invalid-utf8")) {
        NEED_VALUE_P(v, arg);
        if (parse_utf8_policy(v, &r->utf8)) return EXIT_USAGE;
        r->dso.invalid_utf8 = r->utf8 == UTF8_SKIP ? DM_UTF8_SKIP_ROW
                              : r->utf8 == UTF8_REPLACE ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
        /* Lines are checked before the library sees them: it replaces, or never meets a bad one. */
        r->po.invalid_utf8 = r->utf8 == UTF8_REPLACE ? DM_UTF8_REPLACE : DM_UTF8_ERROR;
    } else if (is_opt(arg, "-j", "--threads")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &n) || n > 4096) return usage_error("--threads: '%s' is not a count from 0 to 4096", v);
        r->threads = (int)n;
    } else if (is_opt(arg, NULL, "--block")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &r->block) || r->block == 0) return usage_error("--block: '%s' is not a positive count", v);
    } else if (parse_bool_pair(arg, "progress", &r->progress)) {
    } else if (arg[0] == '-' && arg[1]) {
        return usage_error("redact: unknown option '%s'", arg);
    } else {
        r->files[r->n_files++] = (char *)arg;
    }
    return 0;
}

/* The combinations that make no sense, as usage errors. */
static int check_args(redact_args *r)
{
    bool hashing = r->default_op && op_needs_key(r->default_op);
    for (size_t i = 0; i < r->n_type_ops; i++) hashing |= op_needs_key(op_of(r->type_ops[i]));
    if (r->in && r->output && !r->out) r->out = r->output; /* -o with --in is the data set's output */
    else if (r->in && r->output) return usage_error("redact: give --out FILE once");
    if (r->decrypt) {
        if (!r->key_file) return usage_error("--decrypt needs --key-file K");
        if (r->detect_only) return usage_error("--decrypt and --detect-only do not go together");
        if (r->default_op || r->n_type_ops) return usage_error("--decrypt takes no --operator");
        if (r->in) return usage_error("--decrypt works on lines (FILE... or standard input), not on --in");
    }
    if (r->detect_only && (r->default_op || r->n_type_ops))
        return usage_error("--detect-only takes no --operator (it changes nothing)");
    if (hashing && !r->key_file) return usage_error("the hash and encrypt operators need --key-file K");
    if (r->in) {
        if (r->n_files) return usage_error("redact: unexpected argument '%s' with --in", r->files[0]);
        if (!r->out && !r->detect_only) return usage_error("redact --in needs --out FILE");
        if (r->json) return usage_error("--format json is for lines; with --in the output's format comes "
                                        "from the --out extension");
        r->po.threads = r->threads;
    } else {
        const char *only = r->out ? "--out" : r->audit ? "--audit" : r->report ? "--report"
                           : r->data_format_given ? "--format csv|tsv|jsonl"
                           : r->data_opt_given ? "the data set options (--text-column, ...)" : NULL;
        if (only) return usage_error("%s needs --in FILE (lines read from FILEs or standard input are "
                                     "written to --output)", only);
    }
    return 0;
}

/* ------------------------------------------------------------------ the handle */

/* Reads the lines of PATH (words of a deny-list): *COPY holds them. */
static int read_words(const char *path, char **copy, const char ***words, size_t *n)
{
    *copy = NULL;
    *words = NULL;
    *n = 0;
    char *buf;
    size_t len;
    if (read_whole_file(path, "--deny", &buf, &len)) return 1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    *words = malloc(lines * sizeof **words);
    if (!*words) {
        free(buf);
        fputs("dm: out of memory\n", stderr);
        return 1;
    }
    for (char *s = buf, *end; *s || s < buf + len; s = end + 1) {
        end = strchr(s, '\n');
        if (!end) end = buf + len;
        size_t l = (size_t)(end - s);
        if (l && s[l - 1] == '\r') l--;
        s[l] = '\0';
        if (l) (*words)[(*n)++] = s;
        if (end == buf + len) break;
    }
    *copy = buf;
    if (!*n) {
        fprintf(stderr, "dm: --deny: %s holds no words\n", path);
        return 1;
    }
    return 0;
}

/* The TYPE[:SCORE] part of --pattern TYPE[:SCORE]=REGEX into TYPE (CAP
 * bytes) and *SCORE (default 0.6); a usage error when malformed. */
static int pattern_head(const char *spec, char *type, size_t cap, double *score)
{
    const char *eq = strchr(spec, '=');
    size_t tl = (size_t)(eq - spec);
    if (tl >= cap) return usage_error("--pattern: type name too long in '%s'", spec);
    memcpy(type, spec, tl);
    type[tl] = '\0';
    *score = 0.6;
    char *colon = strchr(type, ':');
    if (colon) {
        *colon = '\0';
        if (!parse_double(colon + 1, score) || *score <= 0 || *score > 1)
            return usage_error("--pattern: score '%s' is not a number in (0, 1]", colon + 1);
    }
    return 0;
}

/* --pattern TYPE[:SCORE]=REGEX. */
static int add_pattern(dm_pii *pii, const char *spec)
{
    char type[128];
    double score;
    if (pattern_head(spec, type, sizeof type, &score)) return EXIT_USAGE;
    if (dm_pii_add_pattern(pii, type, strchr(spec, '=') + 1, score, NULL, NULL, NULL, 0)) return fail_lib("--pattern");
    return 0;
}

static int add_deny(dm_pii *pii, const char *spec)
{
    const char *eq = strchr(spec, '=');
    char type[128];
    size_t tl = (size_t)(eq - spec);
    if (tl >= sizeof type) return usage_error("--deny: type name too long in '%s'", spec);
    memcpy(type, spec, tl);
    type[tl] = '\0';
    char *copy;
    const char **words;
    size_t n;
    int rc = read_words(eq + 1, &copy, &words, &n);
    if (!rc && dm_pii_add_deny_list(pii, type, words, n, 1.0)) rc = fail_lib("--deny");
    free(words);
    free(copy);
    return rc;
}

static int set_operator(dm_pii *pii, const redact_args *r, const char *type, const char *op_name)
{
    dm_pii_operator_config cfg = r->cfg;
    parse_op(op_name, &cfg.op); /* checked while parsing */
    if (dm_pii_set_operator(pii, type, &cfg)) return fail_lib("--operator");
    return 0;
}

/* The handle as the options say: recognisers, operators, key. */
static int make_pii(redact_args *r, dm_pii **out)
{
    *out = NULL;
    char *types_copy = NULL;
    const char **types = NULL;
    int rc = 0;
    if (r->types) {
        rc = split_names("--types", r->types, true, &types_copy, &types, &r->po.n_types);
        r->po.types = types;
    }
    dm_pii *pii = NULL;
    if (!rc && dm_pii_create(&r->po, &pii)) rc = fail_lib("redact");
    for (size_t i = 0; !rc && i < r->n_patterns; i++) rc = add_pattern(pii, r->patterns[i]);
    for (size_t i = 0; !rc && i < r->n_denies; i++) rc = add_deny(pii, r->denies[i]);
    if (!rc && r->detect_only) {
        dm_pii_operator_config keep = r->cfg;
        keep.op = DM_PII_KEEP;
        if (dm_pii_set_operator(pii, NULL, &keep)) rc = fail_lib("--detect-only");
    }
    /* Mask, hash digits and the rest apply to the default operator too. */
    if (!rc && !r->detect_only) rc = set_operator(pii, r, NULL, r->default_op ? r->default_op : "replace");
    for (size_t i = 0; !rc && i < r->n_type_ops; i++) {
        const char *v = r->type_ops[i], *eq = strchr(v, '=');
        char type[128];
        size_t tl = (size_t)(eq - v);
        if (tl >= sizeof type) {
            rc = usage_error("--operator: type name too long in '%s'", v);
            break;
        }
        memcpy(type, v, tl);
        type[tl] = '\0';
        rc = set_operator(pii, r, type, eq + 1);
    }
    if (!rc && r->key_file && dm_pii_load_key_file(pii, r->key_file)) rc = fail_lib(r->key_file);
    free(types);
    free(types_copy);
    r->po.types = NULL;
    if (rc) dm_pii_free(pii);
    else *out = pii;
    return rc;
}

/* ------------------------------------------------------------------ output of a line */

static void out_str(outbuf *o, const char *s) { out_bytes(o, s, strlen(s)); }

static void out_score(outbuf *o, double s)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.6g", isfinite(s) ? s : 0.0);
    out_bytes(o, tmp, (size_t)n);
}

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!k || k > n) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (k == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))) return 0;
    if (k == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))) return 0;
    return k;
}

/* S (N bytes) as a JSON string; bytes that are not UTF-8 become U+FFFD, so
 * the output is always valid JSON. */
static void out_json_utf8(outbuf *o, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    out_char(o, '"');
    size_t i = 0, run = 0; /* bytes [run, i) copied as they are */
    while (i < n) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? utf8_seq(u + i, n - i) : 0;
        if (k) {
            i += k;
            continue;
        }
        out_bytes(o, s + run, i - run);
        if (c == '"' || c == '\\') {
            out_char(o, '\\');
            out_char(o, (char)c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            out_bytes(o, esc, 6);
        } else {
            out_str(o, "\\ufffd");
        }
        run = ++i;
    }
    out_bytes(o, s + run, n - run);
    out_char(o, '"');
}

static void write_entities(outbuf *o, const char *line, const dm_pii_entity *e, size_t n, bool with_text)
{
    out_str(o, "\"entities\":[");
    for (size_t k = 0; k < n; k++) {
        if (k) out_char(o, ',');
        out_str(o, "{\"type\":");
        out_json_utf8(o, e[k].type, strlen(e[k].type));
        out_str(o, ",\"start\":");
        out_u64(o, e[k].start);
        out_str(o, ",\"end\":");
        out_u64(o, e[k].end);
        if (with_text) {
            out_str(o, ",\"text\":");
            out_json_utf8(o, line + e[k].start, e[k].end - e[k].start);
        }
        out_str(o, ",\"score\":");
        out_score(o, e[k].score);
        out_char(o, '}');
    }
    out_char(o, ']');
}

/* ------------------------------------------------------------------ stream mode */

/* A block's results, from dm_pii_anonymize_batch (or _decrypt_batch). */
typedef struct {
    const redact_args *r;
    const dm_pii *pii;
    dm_pii_batch_options bo;
    const char **lines; /* the block's kept lines */
    size_t n;
    char **outs;
    size_t *out_lens;
    dm_pii_entity **ents;
    size_t *n_ents;
} block_results;

/* The line out for kept line K: the entities (--detect-only), the restored
 * text (--decrypt) or the anonymised text, as text or JSON. */
static void write_line(outbuf *o, size_t k, void *ctx)
{
    const block_results *x = ctx;
    const redact_args *r = x->r;
    const dm_pii_entity *e = x->ents ? x->ents[k] : NULL;
    size_t n = x->n_ents ? x->n_ents[k] : 0;
    if (r->detect_only && r->json) {
        out_char(o, '{');
        write_entities(o, x->lines[k], e, n, true);
        out_char(o, '}');
    } else if (r->detect_only) {
        for (size_t j = 0; j < n; j++) {
            if (j) out_char(o, ' ');
            out_str(o, e[j].type);
            out_char(o, ':');
            out_u64(o, e[j].start);
            out_char(o, ':');
            out_u64(o, e[j].end);
        }
    } else if (r->json) {
        out_str(o, "{\"text\":");
        out_json_utf8(o, x->outs[k], x->out_lens[k]);
        if (!r->decrypt) {
            out_char(o, ',');
            write_entities(o, x->lines[k], e, n, false);
        }
        out_char(o, '}');
    } else {
        out_bytes(o, x->outs[k], x->out_lens[k]);
    }
    out_char(o, '\n');
}

/* What takes the place of a skipped line: {"line":N,"file":F,"skipped":WHY}
 * (strings as write_line writes them) or an empty line. */
static void write_skipped(outbuf *o, const line_reader *rd, const bad_line *b, void *ctx)
{
    if (((const block_results *)ctx)->r->json) {
        const char *name;
        uint64_t line;
        char why[64];
        reader_where(rd, b->i, &name, &line);
        utf8_reason(b, why, sizeof why);
        out_str(o, "{\"line\":");
        out_u64(o, line);
        out_str(o, ",\"file\":");
        out_json_utf8(o, name, strlen(name));
        out_str(o, ",\"skipped\":");
        out_json_utf8(o, why, strlen(why));
        out_char(o, '}');
    }
    out_char(o, '\n');
}

/* The block's lines before block index LIMIT, each result or skipped line in
 * its place, formatted on the threads of --threads (JSON is much of the work). */
static void write_block(stream_block *b, block_results *x, size_t limit)
{
    int threads = x->r->threads ? x->r->threads : -1; /* -1: all cores */
    stream_writer w = {.line = write_line, .skipped = write_skipped, .ctx = x, .threads = threads};
    stream_write(b, limit, &w);
}

/* The library on the first N kept lines of the block. */
static dm_status run_batch(block_results *x, const stream_block *b, size_t n)
{
    const redact_args *r = x->r;
    x->lines = b->lines, x->n = n;
    if (r->decrypt) return dm_pii_decrypt_batch(x->pii, n, b->lines, b->lens, &x->bo, &x->outs, &x->out_lens);
    if (r->detect_only) return dm_pii_detect_batch(x->pii, n, b->lines, b->lens, &x->bo, &x->ents, &x->n_ents);
    return dm_pii_anonymize_batch(x->pii, n, b->lines, b->lens, &x->bo, &x->outs, &x->out_lens,
                                  r->json ? &x->ents : NULL, r->json ? &x->n_ents : NULL);
}

static void free_results(block_results *x)
{
    dm_pii_batch_free(x->n, x->outs, x->out_lens, x->ents, x->n_ents);
    x->outs = NULL, x->out_lens = NULL, x->ents = NULL, x->n_ents = NULL;
}

/* A text of the block failed (the library's message names it, "text K:"):
 * the lines before it are written, as they would have been had it not
 * failed, then the error names its line. */
static int block_failed(block_results *x, stream_block *b)
{
    char *msg = strdup(dm_last_error());
    if (!msg) return out_of_memory();
    size_t k;
    if (batch_error_index(msg, &k) && k < b->kept && run_batch(x, b, k) == DM_OK) {
        write_block(b, x, utf8_kept_index(b->guard, k));
        free_results(x);
    }
    report_block_message(b->r, b->guard, b->kept, msg);
    free(msg);
    return 1;
}

/* Anonymises (or restores) the kept lines of a block on all cores and writes
 * one line out per line in. */
static int redact_block(stream_block *b, void *ctx)
{
    block_results *x = ctx;
    dm_status st = run_batch(x, b, b->kept);
    if (st == DM_ERR_CANCELLED) return EXIT_INTERRUPTED;
    if (st) return block_failed(x, b);
    write_block(b, x, SIZE_MAX);
    free_results(x);
    return 0;
}

static int run_stream(redact_args *r, const dm_pii *pii)
{
    block_results x = {.r = r, .pii = pii};
    dm_pii_batch_options_default(&x.bo);
    x.bo.threads = r->threads;
    x.bo.progress = cancel_on_ctrl_c; /* the bar counts input bytes, drawn per block */
    stream_opts s = {.files = r->files, .n_files = r->n_files, .out_path = r->output, .block = r->block,
                     .out_cap = 1u << 20, .check_utf8 = true, .policy = r->utf8, .compact = true,
                     .progress = r->progress != 0};
    return stream_lines(&s, redact_block, &x);
}

/* ------------------------------------------------------------------ data set mode */

/* "dm: redact: N rows, M changed; entities: TYPE n, ..." */
static void summary(const char *report, bool detect_only)
{
    json_t *j = report ? json_loads(report, 0, NULL) : NULL;
    if (!j) return;
    fprintf(stderr, "dm: redact: %lld rows, %lld %s; entities: ",
            (long long)json_integer_value(json_object_get(j, "rows")),
            (long long)json_integer_value(json_object_get(j, "rows_changed")),
            detect_only ? "with entities" : "changed");
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach(json_object_get(j, "entities"), key, v)
    {
        if (json_integer_value(v)) {
            fprintf(stderr, "%s%s %lld", first ? "" : ", ", key, (long long)json_integer_value(v));
            first = false;
        }
    }
    fputs(first ? "none\n" : "\n", stderr);
    json_decref(j);
}

static int write_report(const char *path, const char *json)
{
    FILE *f = open_output(path);
    if (!f) return 1;
    outbuf o = {f, malloc(1u << 16), 0, 1u << 16, false};
    if (!o.buf) o.failed = true;
    else {
        size_t n = strlen(json);
        out_bytes(&o, json, n);
        if (!n || json[n - 1] != '\n') out_char(&o, '\n');
    }
    return finish_output(&o, f, path);
}

static int run_dataset(redact_args *r, const dm_pii *pii)
{
    dm_dataset *ds = NULL, *out = NULL;
    char *report = NULL;
    if (dm_dataset_load(r->in, &r->dso, &ds)) return fail_data_as(r->in, NULL);
    int rc = 0;
    /* In detect-only mode every operator is keep: nothing changes. */
    if (dm_dataset_anonymize(ds, pii, r->audit, &out, &report)) rc = fail_lib(r->in);
    if (!rc && r->out && dm_dataset_write(out, r->out, DM_FORMAT_AUTO)) rc = fail_lib(r->out);
    if (!rc && r->report) rc = write_report(r->report, report ? report : "{}");
    if (!rc) summary(report, r->detect_only);
    dm_free(report);
    dm_dataset_free(out);
    dm_dataset_free(ds);
    return rc;
}

/* ------------------------------------------------------------------ the command */

int cmd_redact(int argc, char **argv)
{
    redact_args r;
    memset(&r, 0, sizeof r);
    dm_pii_options_default(&r.po);
    dm_pii_operator_config_default(&r.cfg);
    dm_dataset_options_default(&r.dso);
    r.block = 65536;
    r.progress = isatty(STDERR_FILENO);
    /* Each repeatable option takes at most one slot per argument. */
    r.type_ops = calloc((size_t)argc, sizeof *r.type_ops);
    r.patterns = calloc((size_t)argc, sizeof *r.patterns);
    r.denies = calloc((size_t)argc, sizeof *r.denies);
    r.files = argv; /* file arguments, compacted into the part of argv already read */
    int rc = 0;
    if (!r.type_ops || !r.patterns || !r.denies) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
    }
    args_t a = {argc, 0, argv};
    for (a.i = 1; !rc && a.i < argc; a.i++) {
        if (is_opt(argv[a.i], "-h", "--help")) {
            fputs(help_redact, stdout);
            goto done;
        }
        rc = redact_option(&a, argv[a.i], &r);
    }
    if (!rc) rc = check_args(&r);
    dm_pii *pii = NULL;
    if (!rc) rc = make_pii(&r, &pii);
    if (!rc) rc = r.in ? run_dataset(&r, pii) : run_stream(&r, pii);
    if (pii) dm_pii_free(pii);
done:
    free(r.type_ops);
    free(r.patterns);
    free(r.denies);
    return rc;
}
