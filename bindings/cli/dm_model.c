/*
 * dm_model.c — what the model commands share (model_cli.h): option parsers,
 * loading models and labelled data, the report writers; and the command
 *
 *   dm model info DIR                                                labels, sizes, backend
 *
 * The commands themselves: dm_train_cmd.c (init, train), dm_infer.c (eval,
 * predict, embed, forward), dm_metrics.c (metrics).
 */
#include "model_cli.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ option helpers */

/* --text-column, --pair-column, --label-column, --id-column; --key FILE
 * (an encrypted data file: dm_crypt.c). */
int data_option(args_t *a, const char *arg, dm_dataset_options *o)
{
    int krc = key_option(a, arg, o);
    if (krc != OPT_NOT_MINE) return krc;
    const char **field = is_opt(arg, NULL, "--text-column")    ? &o->text_column
                         : is_opt(arg, NULL, "--pair-column")  ? &o->pair_column
                         : is_opt(arg, NULL, "--label-column") ? &o->label_column
                         : is_opt(arg, NULL, "--id-column")    ? &o->id_column
                                                               : NULL;
    if (!field) return OPT_NOT_MINE;
    const char *v;
    NEED_VALUE_P(v, arg);
    *field = v;
    return 0;
}

/* --device, --threads, --precision; --model-key FILE (encrypted weights:
 * dm_crypt.c), into the model options. */
int device_option(args_t *a, const char *arg, dm_model_options *mo)
{
    int krc = model_key_option(a, arg, mo);
    if (krc != OPT_NOT_MINE) return krc;
    const char *v;
    if (is_opt(arg, NULL, "--device")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "cpu") == 0) mo->device = DM_DEVICE_CPU;
        else if (strcmp(v, "cuda") == 0 || strcmp(v, "gpu") == 0) mo->device = DM_DEVICE_CUDA;
        else if (strcmp(v, "auto") == 0) mo->device = DM_DEVICE_AUTO;
        else return usage_error("--device: unknown device '%s' (cpu, cuda, auto)", v);
        return 0;
    }
    if (is_opt(arg, "-j", "--threads")) {
        NEED_VALUE_P(v, arg);
        return parse_int_opt(arg, v, 0, 4096, &mo->threads);
    }
    if (is_opt(arg, NULL, "--precision")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "fp32") == 0 || strcmp(v, "float32") == 0) mo->precision = DM_PRECISION_FP32;
        else if (strcmp(v, "bf16") == 0 || strcmp(v, "bfloat16") == 0) mo->precision = DM_PRECISION_BF16;
        else return usage_error("--precision: unknown precision '%s' (fp32, bf16)", v);
        return 0;
    }
    return OPT_NOT_MINE;
}

/* --batch-size and --max-length, into the inference options. */
int infer_option(args_t *a, const char *arg, dm_infer_options *io)
{
    const char *v;
    if (is_opt(arg, "-b", "--batch-size")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &io->batch_size) || io->batch_size == 0)
            return usage_error("--batch-size: '%s' is not a positive count", v);
        return 0;
    }
    if (is_opt(arg, NULL, "--max-length")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &io->max_length) || io->max_length < 2)
            return usage_error("--max-length: '%s' is not a count of at least 2", v);
        return 0;
    }
    return OPT_NOT_MINE;
}

/* The dispatch of the three helpers above: OPT_NOT_MINE, 0, or an exit code. */
int common_option(args_t *a, const char *arg, dm_dataset_options *d, dm_model_options *mo, dm_infer_options *io)
{
    int rc = d ? data_option(a, arg, d) : OPT_NOT_MINE;
    if (rc == OPT_NOT_MINE && mo) rc = device_option(a, arg, mo);
    if (rc == OPT_NOT_MINE && io) rc = infer_option(a, arg, io);
    return rc;
}

/* "a, b, c" into BUF (shortened with "..." when long). */
const char *join_names(char *buf, size_t cap, const char *(*name)(const void *, int32_t), const void *obj,
                       size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *s = name(obj, (int32_t)i);
        int k = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", s ? s : "?");
        if (k < 0 || (size_t)k >= cap - used) {
            if (cap > 4) strcpy(buf + cap - 4, "...");
            break;
        }
        used += (size_t)k;
    }
    return buf;
}

const char *model_label(const void *m, int32_t i) { return dm_model_label_name(m, i); }
const char *data_label(const void *d, int32_t i) { return dm_dataset_label_name(d, i); }

bool model_has_label(const dm_model *m, size_t n_labels, const char *name)
{
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(dm_model_label_name(m, (int32_t)i), name) == 0) return true;
    return false;
}

const char *device_name(dm_device d)
{
    return d == DM_DEVICE_CUDA ? "cuda" : d == DM_DEVICE_CPU ? "cpu" : "auto";
}

/* fail_lib for a model folder, with the library's name of the key option
 * given as this tool's (--model-key FILE). */
static int fail_model(const char *dir)
{
    const char *msg = dm_last_error(), *keyopt = "(dm_model_options.key, read with dm_read_key_file)";
    const char *at = strstr(msg, keyopt);
    if (!at) return fail_lib(dir);
    bool named = strstr(msg, dir) != NULL;
    fprintf(stderr, "dm: %s%s%.*s(--model-key FILE)%s\n", named ? "" : dir, named ? "" : ": ", (int)(at - msg), msg,
            at + strlen(keyopt));
    return 1;
}

int load_model(const char *dir, const dm_model_options *mo, dm_model **m, dm_model_info *info)
{
    if (dm_model_load(dir, mo, m)) return fail_model(dir);
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    if (dm_model_get_info(*m, info)) {
        dm_model_free(*m);
        *m = NULL;
        return fail_lib(dir);
    }
    return 0;
}

int fail_data(const char *path) { return fail_data_as(path, NULL); }

/* Labelled data: the label column defaults to "label" (so that a file without
 * one fails naming its columns) and every row must have a label. */
int load_labelled(const char *path, const dm_dataset_options *base, dm_dataset **out)
{
    dm_dataset_options o = *base;
    if (!o.label_column) o.label_column = "label";
    o.require_labels = 1;
    if (dm_dataset_load(path, &o, out)) return fail_data(path);
    if (dm_dataset_num_labels(*out) == 0) { /* not expected with require_labels; be safe */
        fprintf(stderr, "dm: %s: no labels in column '%s'\n", path, o.label_column);
        dm_dataset_free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

/* Whether DIR can be written (created if need be): the folder itself, or its
 * nearest existing ancestor, must be a writable folder. Nothing is created. */
int check_out_dir(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        fprintf(stderr, "dm: %s: path too long\n", dir);
        return 1;
    }
    for (;;) {
        size_t n = strlen(buf);
        while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
        struct stat sb;
        if (stat(buf, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) {
                if (strcmp(buf, dir) == 0) fprintf(stderr, "dm: %s: exists and is not a folder\n", dir);
                else fprintf(stderr, "dm: %s: cannot create it: %s is not a folder\n", dir, buf);
                return 1;
            }
            if (access(buf, W_OK | X_OK) != 0) {
                fprintf(stderr, "dm: %s: cannot write there: %s: %s\n", dir, buf, strerror(errno));
                return 1;
            }
            return 0;
        }
        if (errno != ENOENT && errno != ENOTDIR) {
            fprintf(stderr, "dm: %s: %s: %s\n", dir, buf, strerror(errno));
            return 1;
        }
        char *slash = strrchr(buf, '/');
        if (!slash) strcpy(buf, ".");
        else if (slash == buf) buf[1] = '\0';
        else *slash = '\0';
    }
}

/* Writes X with 7 significant digits; JSON: non-finite as null. */
void out_double(outbuf *o, double x, bool json)
{
    char tmp[32];
    int n;
    if (!isfinite(x) && json) n = snprintf(tmp, sizeof tmp, "null");
    else n = snprintf(tmp, sizeof tmp, "%.7g", x);
    out_bytes(o, tmp, (size_t)n);
}

/* Inference progress: a bar over texts, and Ctrl-C. */
int infer_progress(uint64_t done, uint64_t total, void *user)
{
    if (user) bar_draw(user, done, total, false);
    return interrupted;
}

/* ------------------------------------------------------------------ reports */

/* The library's text of the report (classification report, confusion matrix). */
int write_report_table(outbuf *o, const dm_eval_report *r, int digits)
{
    char *text;
    size_t len;
    if (dm_eval_report_text(r, digits, &text, &len)) return fail_lib("report");
    out_bytes(o, text, len);
    if (len && text[len - 1] != '\n') out_char(o, '\n');
    dm_free(text);
    return 0;
}

/* The report's text, then accuracy, macro F1 and loss lines. */
int write_report_text(outbuf *o, const dm_eval_report *r, int digits)
{
    if (write_report_table(o, r, digits)) return 1;
    char tmp[256];
    int n = snprintf(tmp, sizeof tmp, "\naccuracy: %.6f\nmacro F1: %.6f\nloss:     %.6f\n", r->accuracy, r->macro_f1,
                     r->loss);
    out_bytes(o, tmp, (size_t)n);
    return 0;
}

/* The report's JSON with "loss" added, on one line. */
int write_report_json(outbuf *o, const dm_eval_report *r)
{
    char *text;
    size_t len;
    if (dm_eval_report_json(r, &text, &len)) return fail_lib("report");
    json_error_t err;
    json_t *j = json_loadb(text, len, 0, &err);
    dm_free(text);
    if (!json_is_object(j)) {
        json_decref(j);
        fprintf(stderr, "dm: the library's JSON report does not parse: %s\n", err.text);
        return 1;
    }
    json_object_set_new(j, "loss", isfinite(r->loss) ? json_real(r->loss) : json_null());
    char *s = json_dumps(j, JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!s) {
        fputs("dm: out of memory\n", stderr);
        return 1;
    }
    out_bytes(o, s, strlen(s));
    out_char(o, '\n');
    free(s);
    return 0;
}

/* ------------------------------------------------------------------ model info */

const char help_model[] =
    "usage: dm model info DIR [--device D] [--threads N] [--model-key FILE]\n"
    "\n"
    "Loads a model folder and prints, one per line (NAME<TAB>VALUE): its path, backend and\n"
    "device, labels (label<TAB>ID<TAB>NAME), whether the classification head is new (not in\n"
    "the folder's weights), the sizes of the encoder and the number of parameters.\n"
    "\n"
    HELP_MODEL_KEY;


static int cmd_model_info(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *dir = NULL;
    dm_model_options mo;
    dm_model_options_default(&mo);
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        if ((rc = device_option(&a, arg, &mo)) != OPT_NOT_MINE) {
            if (rc) return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("model info: unknown option '%s'", arg);
        } else if (!dir) {
            dir = arg;
        } else {
            return usage_error("model info: unexpected argument '%s'", arg);
        }
    }
    if (!dir) return usage_error("model info needs the model folder DIR");
    dm_model *m;
    dm_model_info info;
    int rc = load_model(dir, &mo, &m, &info);
    if (rc) return rc;
    printf("path\t%s\n", dir);
    printf("backend\t%s\n", info.backend_name ? info.backend_name : "?");
    printf("precision\t%s\n", info.precision == DM_PRECISION_BF16 ? "bf16" : "fp32");
    printf("device\t%s\n", device_name(info.device));
    printf("num_labels\t%zu\n", info.num_labels);
    for (size_t i = 0; i < info.num_labels; i++) printf("label\t%zu\t%s\n", i, dm_model_label_name(m, (int32_t)i));
    printf("new_head\t%d\n", info.new_head);
    printf("vocab_size\t%zu\n", info.vocab_size);
    printf("hidden_size\t%zu\n", info.hidden_size);
    printf("num_layers\t%zu\n", info.num_layers);
    printf("num_heads\t%zu\n", info.num_heads);
    printf("intermediate_size\t%zu\n", info.intermediate_size);
    printf("max_position_embeddings\t%zu\n", info.max_position_embeddings);
    printf("type_vocab_size\t%zu\n", info.type_vocab_size);
    printf("parameters\t%zu\n", info.num_parameters);
    printf("memory_bytes\t%zu\n", info.memory_bytes);
    if (fflush(stdout) != 0) rc = 1;
    dm_model_free(m);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    if (argc < 2 || is_opt(argv[1], "-h", "--help") || strcmp(argv[1], "help") == 0) {
        fputs(help_model, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    for (int i = 2; i < argc; i++)
        if (is_opt(argv[i], "-h", "--help")) {
            fputs(help_model, stdout);
            return 0;
        }
    if (strcmp(argv[1], "info") == 0) return cmd_model_info(argc - 1, argv + 1);
    return usage_error("unknown model command '%s' (info)", argv[1]);
}

