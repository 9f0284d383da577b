/*
 * dm_model.c — the model commands of the dm tool:
 *
 *   dm init --model DIR --num-labels N [--labels a,b,..] --out DIR   a folder with a new head
 *   dm train --model DIR --train FILE [--val FILE] --out DIR [...]   fine-tune
 *   dm eval --model DIR --data FILE [--json]                         classification report
 *   dm predict --model DIR [--format text|json] [--pair] [FILE...]   label of each line
 *   dm embed --model DIR [--pooling cls|mean] [FILE...]              embedding of each line
 *   dm model info DIR                                                labels, sizes, backend
 *   dm metrics --data FILE --true COL --pred COL [...]               report of predictions made elsewhere
 *   dm forward --model DIR [--pooled] [--hidden] [FILE...]           logits of lines of token ids
 *
 * Data files (CSV, TSV, JSONL with a header) are read with dm_dataset_load;
 * lines of text are streamed in blocks through dm_model_predict/embed, lines
 * of token ids through dm_model_forward. The
 * conventions are dm.c's: errors on stderr as "dm: message", exit 1 on
 * failure, 2 on usage errors, 130 when Ctrl-C cancelled the work (through the
 * library's progress callbacks), progress on stderr.
 */
#include "cli.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ help */

#define HELP_DATA_COLUMNS                                                                               \
    "      --text-column NAME    the text column (default: the first of sentence, text, review)\n"      \
    "      --pair-column NAME    a second text column, for sentence pairs (default: none)\n"          \
    "      --label-column NAME   the label column (default: label)\n"                                  \
    "      --id-column NAME      the row id column, used in messages (default: id when present)\n"

#define HELP_DEVICE                                                                                     \
    "      --device D            cpu, cuda or auto (default: auto = CUDA when available)\n"            \
    "  -j, --threads N           CPU threads (default: all cores)\n"                                   \
    "      --precision P         fp32 (default: float32 throughout) or bf16 (bfloat16 matrix\n"         \
    "                            products for inference: about twice as fast on CPUs with\n"        \
    "                            AVX512-BF16, results within ~1e-2 of fp32)\n"

static const char *const help_init =
    "usage: dm init --model DIR --num-labels N [--labels a,b,...] --out DIR [--seed S]\n"
    "\n"
    "Loads a pretrained model folder (BERT, e.g. a Hugging Face or sentence-transformers folder),\n"
    "gives it a classification head of N labels and saves it as a BertForSequenceClassification\n"
    "folder. A head already trained for N labels is kept (--labels in another order reorders it,\n"
    "so that each label keeps its weights; other names than the trained ones are refused); otherwise,\n"
    "or with --new-head, a new one is initialised. The folder is written as a whole: a run that\n"
    "is killed or fails leaves the old folder as it was (other files in it are kept).\n"
    "\n"
    "  -m, --model DIR           the pretrained folder (required)\n"
    "  -n, --num-labels N        number of labels (default: the number of --labels)\n"
    "      --labels a,b,...      label names in id order (default: LABEL_0, LABEL_1, ...)\n"
    "      --new-head            a new head even when the folder has one for these labels\n"
    "  -o, --out DIR             where to write the model (required)\n"
    "      --seed S              seed of the new head's initialisation (default 42)\n"
    HELP_DEVICE;

static const char *const help_train =
    "usage: dm train --model DIR --train FILE [--val FILE] --out DIR [options]\n"
    "\n"
    "Fine-tunes a classifier (AdamW, as Hugging Face's Trainer) on labelled CSV, TSV or JSONL\n"
    "data with a header line, and saves the final model to --out. The model's trained head is\n"
    "kept when it knows every training label; otherwise a new head is made for the training\n"
    "data's labels. With --val, the model is evaluated after every epoch (or --eval-steps), the\n"
    "best evaluation's weights are kept, and a validation report ends the run. Ctrl-C stops\n"
    "(exit 130); checkpoints already written stay intact and --resume continues from one.\n"
    "\n"
    "  -m, --model DIR           the model folder to start from (required unless --resume)\n"
    "      --train FILE          training data (required)\n"
    "      --val FILE            validation data\n"
    "  -o, --out DIR             where to write the final model and checkpoints (required)\n"
    HELP_DATA_COLUMNS
    "  -e, --epochs E            passes over the training data (default 3)\n"
    "      --max-steps N         stop after N optimizer steps instead (default: from --epochs)\n"
    "  -b, --batch-size B        examples per batch (default 32)\n"
    "      --grad-accum K        batches per optimizer step (default 1)\n"
    "      --lr LR               peak learning rate (default 5e-5)\n"
    "      --schedule S          linear (default), cosine or constant, after the warmup\n"
    "      --warmup-ratio R      warmup as a fraction of the steps, 0 to 1 (default 0)\n"
    "      --warmup-steps N      warmup steps (overrides --warmup-ratio)\n"
    "      --weight-decay W      AdamW weight decay, not on biases and LayerNorm (default 0.01)\n"
    "      --max-grad-norm X     clip gradients to this global norm, 0 = off (default 1.0)\n"
    "      --dropout P           every dropout rate, in [0, 1) (default: config.json's)\n"
    "      --class-weights W     balanced, or w1,w2,... in the order of the model's labels\n"
    "      --max-length L        truncate texts to L tokens (default 128)\n"
    "      --seed S              shuffling, dropout and a new head (default 42)\n"
    "      --no-shuffle          the file's order every epoch (still grouped by length)\n"
    "      --no-group-by-length  do not sort each run of 50 batches by length (which pads less)\n"
    "      --freeze-embeddings   do not train the embedding tables and their LayerNorm\n"
    "      --freeze-layers N     do not train the bottom N encoder layers (the backward pass\n"
    "                            then stops above them: faster, and less memory for gradients)\n"
    "      --eval-steps N        evaluate every N steps (default: after every epoch)\n"
    "      --early-stopping N    stop after N evaluations without a better accuracy\n"
    "      --no-keep-best        end with the last weights, not the best evaluation's\n"
    "      --checkpoint-steps N  write OUT/checkpoint-STEP every N steps (default: none)\n"
    "      --checkpoint-limit N  keep the newest N checkpoints (default 2; 0 = all)\n"
    "      --resume DIR          continue exactly from a checkpoint folder, with the same data\n"
    "                            and options (--model defaults to DIR)\n"
    "      --log-json FILE       one JSON object per step and evaluation (appended with --resume)\n"
    HELP_DEVICE
    "      --progress / --no-progress   a progress bar on standard error (default: when it is a\n"
    "                            terminal; otherwise a line every 10% of the steps and at\n"
    "                            every evaluation)\n";

static const char *const help_eval =
    "usage: dm eval --model DIR --data FILE [--json] [options]\n"
    "\n"
    "Predicts every row of a labelled CSV, TSV or JSONL file and prints the classification\n"
    "report (precision, recall, F1 and support per label, as scikit-learn's), the confusion\n"
    "matrix, then accuracy, macro F1 and the mean cross-entropy loss.\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
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

static const char *const help_predict =
    "usage: dm predict --model DIR [--format text|json] [--pair] [options] [FILE...]\n"
    "\n"
    "Reads texts, one per line (a trailing \\r is dropped), from the FILEs or standard input,\n"
    "and writes one line per text:\n"
    "  text: LABEL<TAB>PROBABILITY of the predicted label\n"
    "  json: {\"label\": ..., \"probs\": {LABEL: p, ...}, \"logits\": [...]}\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
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

static const char *const help_embed =
    "usage: dm embed --model DIR [--pooling cls|mean] [--normalize|--no-normalize] [options] [FILE...]\n"
    "\n"
    "Reads texts, one per line (a trailing \\r is dropped), from the FILEs or standard input,\n"
    "and writes the sentence embedding of each: space-separated numbers, or a JSON array.\n"
    "Pooling, normalisation and length default to the folder's sentence-transformers settings\n"
    "(else CLS pooling, not normalised, the model's maximum length).\n"
    "\n"
    "  -m, --model DIR           the model folder (required)\n"
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

static const char *const help_model =
    "usage: dm model info DIR [--device D] [--threads N]\n"
    "\n"
    "Loads a model folder and prints, one per line (NAME<TAB>VALUE): its path, backend and\n"
    "device, labels (label<TAB>ID<TAB>NAME), whether the classification head is new (not in\n"
    "the folder's weights), the sizes of the encoder and the number of parameters.\n";

static const char *const help_metrics =
    "usage: dm metrics --data FILE --true COL --pred COL [--labels a,b,...]\n"
    "                  [--prob-columns C1,C2,...] [--json] [--digits N] [-o FILE]\n"
    "\n"
    "Scores predictions made elsewhere: reads the true and the predicted label of every row of a\n"
    "CSV, TSV or JSONL file with a header line and prints the classification report (precision,\n"
    "recall, F1 and support per label, as scikit-learn's classification_report), the confusion\n"
    "matrix, then accuracy and macro F1 and, with --prob-columns, the log loss and ROC-AUC\n"
    "(of the second class's probability with 2 classes; else the one-vs-rest macro average over\n"
    "every class, undefined, as scikit-learn's, when a class has no true example or all of them:\n"
    "the text says which, the JSON has null and each class's own AUC in per_class). Labels are\n"
    "trimmed of surrounding spaces. The classes are the labels of both columns, ordered\n"
    "numerically when all are integers, else by bytes (as dm train orders them), or --labels;\n"
    "one class gives its row and the averages, as classification_report(labels=[a]).\n"
    "\n"
    "  -d, --data FILE           the predictions (required)\n"
    "      --true COL            the column of true labels (required)\n"
    "      --pred COL            the column of predicted labels (required)\n"
    "      --labels a,b,...      the classes (one or more), in this order; any other label is an\n"
    "                            error\n"
    "      --prob-columns LIST   C1,C2,...: the predicted probability of each class, one column\n"
    "                            per class in class order; numbers from 0 to 1, read as 32-bit\n"
    "                            floats and used as given (rows are not renormalised)\n"
    "      --json                one JSON object instead: accuracy, macro_f1, per_class,\n"
    "                            confusion_matrix, log_loss, roc_auc, ... (null when undefined)\n"
    "      --digits N            decimals in the text report, 0 to 100 (default 2; 0 rounds to\n"
    "                            whole numbers, as scikit-learn's digits=0)\n"
    "  -o, --output FILE         write there instead of standard output\n";

static const char *const help_forward =
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
    "  -f, --format F            text (default) or json\n"
    "      --pooled              also the pooler output (hidden size numbers)\n"
    "      --hidden              also the last hidden state of every token of the line\n"
    "  -b, --batch-size B        lines per forward pass (default 32)\n"
    "      --block N             lines read at a time (default 1024; lower it for --hidden on\n"
    "                            large models: their states are held until the block is written)\n"
    HELP_DEVICE
    "  -o, --output FILE         write there instead of standard output\n"
    "      --progress / --no-progress   progress bar on standard error (default: when it is a terminal)\n";

const char *model_help(const char *topic)
{
    if (strcmp(topic, "init") == 0) return help_init;
    if (strcmp(topic, "train") == 0) return help_train;
    if (strcmp(topic, "eval") == 0) return help_eval;
    if (strcmp(topic, "predict") == 0) return help_predict;
    if (strcmp(topic, "embed") == 0) return help_embed;
    if (strcmp(topic, "model") == 0) return help_model;
    if (strcmp(topic, "metrics") == 0) return help_metrics;
    if (strcmp(topic, "forward") == 0) return help_forward;
    return NULL;
}

/* ------------------------------------------------------------------ option helpers */

/* NEED_VALUE for helpers that get the args_t by pointer. */
#define NEED_VALUE_P(var, name)                                                                    \
    do {                                                                                           \
        if (!((var) = opt_value(a, name))) return usage_error("%s needs a value", name);           \
    } while (0)

#define OPT_NOT_MINE (-1)

static bool parse_double(const char *s, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    size_t v;
    if (!parse_size(s, &v)) return false;
    *out = (uint64_t)v;
    return true;
}

/* A count in [LO, HI] for an int field. */
static int parse_int_opt(const char *name, const char *v, long lo, long hi, int *out)
{
    size_t n;
    if (!parse_size(v, &n) || n < (size_t)lo || n > (size_t)hi) {
        if (hi == INT32_MAX) return usage_error("%s: '%s' is not a count of at least %ld", name, v, lo);
        return usage_error("%s: '%s' is not a count from %ld to %ld", name, v, lo, hi);
    }
    *out = (int)n;
    return 0;
}

/* --text-column, --pair-column, --label-column, --id-column. */
static int data_option(args_t *a, const char *arg, dm_dataset_options *o)
{
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

/* --device and --threads, into the model options. */
static int device_option(args_t *a, const char *arg, dm_model_options *mo)
{
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
static int infer_option(args_t *a, const char *arg, dm_infer_options *io)
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
static int common_option(args_t *a, const char *arg, dm_dataset_options *d, dm_model_options *mo,
                         dm_infer_options *io)
{
    int rc = d ? data_option(a, arg, d) : OPT_NOT_MINE;
    if (rc == OPT_NOT_MINE && mo) rc = device_option(a, arg, mo);
    if (rc == OPT_NOT_MINE && io) rc = infer_option(a, arg, io);
    return rc;
}

/* "a, b, c" into BUF (shortened with "..." when long). */
static const char *join_names(char *buf, size_t cap, const char *(*name)(const void *, int32_t), const void *obj,
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

static const char *model_label(const void *m, int32_t i) { return dm_model_label_name(m, i); }
static const char *data_label(const void *d, int32_t i) { return dm_dataset_label_name(d, i); }

static bool model_has_label(const dm_model *m, size_t n_labels, const char *name)
{
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(dm_model_label_name(m, (int32_t)i), name) == 0) return true;
    return false;
}

static const char *device_name(dm_device d)
{
    return d == DM_DEVICE_CUDA ? "cuda" : d == DM_DEVICE_CPU ? "cpu" : "auto";
}

static int load_model(const char *dir, const dm_model_options *mo, dm_model **m, dm_model_info *info)
{
    if (dm_model_load(dir, mo, m)) return fail_lib(dir);
    memset(info, 0, sizeof *info);
    info->struct_size = sizeof *info;
    if (dm_model_get_info(*m, info)) {
        dm_model_free(*m);
        *m = NULL;
        return fail_lib(dir);
    }
    return 0;
}

/* fail_lib for a data file, with the library's option names in the message
 * ("dm_dataset_options.text_column") given as this tool's (--text-column), or
 * all as AS when it is not NULL (a command whose column options have other
 * names; it also drops the library's "(require_labels is set)"). */
int fail_data_as(const char *path, const char *as)
{
    const char *msg = dm_last_error(), *key = "dm_dataset_options.", *req = " (require_labels is set)";
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
        } else {
            buf[used++] = *msg++;
        }
    }
    buf[used] = '\0';
    if (strstr(buf, path)) fprintf(stderr, "dm: %s\n", buf);
    else fprintf(stderr, "dm: %s: %s\n", path, buf);
    return 1;
}

static int fail_data(const char *path) { return fail_data_as(path, NULL); }

/* Labelled data: the label column defaults to "label" (so that a file without
 * one fails naming its columns) and every row must have a label. */
static int load_labelled(const char *path, const dm_dataset_options *base, dm_dataset **out)
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
static int check_out_dir(const char *dir)
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

/* Writes X with 7 significant digits; JSON_NULL: non-finite as null. */
static void out_double(outbuf *o, double x, bool json)
{
    char tmp[32];
    int n;
    if (!isfinite(x) && json) n = snprintf(tmp, sizeof tmp, "null");
    else n = snprintf(tmp, sizeof tmp, "%.7g", x);
    out_bytes(o, tmp, (size_t)n);
}

/* Inference progress: a bar over texts, and Ctrl-C. */
static int infer_progress(uint64_t done, uint64_t total, void *user)
{
    if (user) bar_draw(user, done, total, false);
    return interrupted;
}

/* ------------------------------------------------------------------ init */

int cmd_init(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    const char *model_dir = NULL, *out_dir = NULL, *labels_arg = NULL, *v;
    size_t num_labels = 0;
    dm_model_options mo;
    dm_model_options_default(&mo);
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_init, stdout);
            return 0;
        } else if (is_opt(arg, "-m", "--model")) {
            NEED_VALUE(model_dir, arg);
        } else if (is_opt(arg, "-o", "--out") || is_opt(arg, NULL, "--output")) {
            NEED_VALUE(out_dir, arg);
        } else if (is_opt(arg, "-n", "--num-labels")) {
            NEED_VALUE(v, arg);
            if (!parse_size(v, &num_labels) || num_labels < 2)
                return usage_error("--num-labels: '%s' is not a count of at least 2", v);
        } else if (is_opt(arg, NULL, "--labels")) {
            NEED_VALUE(labels_arg, arg);
        } else if (is_opt(arg, NULL, "--new-head")) {
            mo.new_head = 1;
        } else if (is_opt(arg, NULL, "--seed")) {
            NEED_VALUE(v, arg);
            if (!parse_u64(v, &mo.seed)) return usage_error("--seed: '%s' is not a non-negative integer", v);
        } else if ((rc = device_option(&a, arg, &mo)) != OPT_NOT_MINE) {
            if (rc) return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("init: unknown option '%s'", arg);
        } else {
            return usage_error("init: unexpected argument '%s'", arg);
        }
    }
    if (!model_dir) return usage_error("init needs --model DIR");
    if (!out_dir) return usage_error("init needs --out DIR");
    if (!num_labels && !labels_arg) return usage_error("init needs --num-labels N (or --labels a,b,...)");

    /* Split the label names on commas (in a copy: argv stays intact). */
    char *copy = NULL;
    const char **names = NULL;
    size_t n_names = 0;
    int rc = 0;
    if (labels_arg) {
        copy = strdup(labels_arg);
        names = calloc(strlen(labels_arg) / 2 + 2, sizeof *names);
        if (!copy || !names) {
            fputs("dm: out of memory\n", stderr);
            rc = 1;
            goto done;
        }
        for (char *s = copy, *end;; s = end + 1) {
            end = strchr(s, ',');
            if (end) *end = '\0';
            if (!*s) {
                rc = usage_error("--labels: empty label name in '%s'", labels_arg);
                goto done;
            }
            names[n_names++] = s;
            if (!end) break;
        }
        if (num_labels && num_labels != n_names) {
            rc = usage_error("--num-labels is %zu but --labels names %zu labels", num_labels, n_names);
            goto done;
        }
        if (n_names < 2) {
            rc = usage_error("--labels: a classifier needs at least 2 labels, '%s' names %zu", labels_arg, n_names);
            goto done;
        }
        mo.labels = names;
        mo.n_labels = n_names;
    }
    mo.num_labels = num_labels ? num_labels : n_names;

    dm_model *m;
    dm_model_info info;
    if ((rc = check_out_dir(out_dir)) || (rc = load_model(model_dir, &mo, &m, &info))) goto done;
    if (dm_model_save(m, out_dir)) {
        rc = fail_lib(out_dir);
    } else {
        char list[512];
        printf("wrote %s: %zu labels (%s), %zu parameters, %s\n", out_dir, info.num_labels,
               join_names(list, sizeof list, model_label, m, info.num_labels), info.num_parameters,
               info.new_head ? "a new classification head" : "the trained classification head of the folder kept");
        if (fflush(stdout) != 0) rc = 1;
    }
    dm_model_free(m);
done:
    free(copy);
    free(names);
    return rc;
}

/* ------------------------------------------------------------------ model info */

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

/* ------------------------------------------------------------------ eval */

/* The library's text of the report (classification report, confusion matrix). */
static int write_report_table(outbuf *o, const dm_eval_report *r, int digits)
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
static int write_report_text(outbuf *o, const dm_eval_report *r, int digits)
{
    if (write_report_table(o, r, digits)) return 1;
    char tmp[256];
    int n = snprintf(tmp, sizeof tmp, "\naccuracy: %.6f\nmacro F1: %.6f\nloss:     %.6f\n", r->accuracy, r->macro_f1,
                     r->loss);
    out_bytes(o, tmp, (size_t)n);
    return 0;
}

/* The report's JSON with "loss" added, on one line. */
static int write_report_json(outbuf *o, const dm_eval_report *r)
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

/* ------------------------------------------------------------------ metrics */

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

static const char *array_name(const void *names, int32_t i) { return ((const char *const *)names)[i]; }

/* Column COL of PATH as labels (trimmed; every row must have one), in the
 * fixed set LABELS when it is not NULL. OPT names the column in messages. */
static int load_label_column(const char *path, const char *col, const char *opt, const char *const *labels,
                             size_t n_labels, dm_dataset **out)
{
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.text_column = col; /* any existing column: the text is not used */
    o.label_column = col;
    o.require_labels = 1;
    o.labels = labels;
    o.n_labels = n_labels;
    return dm_dataset_load(path, &o, out) ? fail_data_as(path, opt) : 0;
}

/* The line that a message of the library names after PATH ("PATH: line N, ..."), or 0. */
static size_t line_in_message(const char *msg, const char *path)
{
    if (strncmp(msg, path, strlen(path)) == 0) msg += strlen(path);
    const char *p = strstr(msg, ": line ");
    return p ? (size_t)strtoull(p + 7, NULL, 10) : 0;
}

/* The probability a label string of a --prob-columns column stands for:
 * 1 when S is a number in [0, 1], 0 when it is no number, -1 when it is a
 * number out of that range. */
static int parse_probability(const char *s, double *out)
{
    char *end;
    if (!*s) return 0;
    double x = strtod(s, &end);
    if (*end || isnan(x)) return 0;
    if (!(x >= 0 && x <= 1)) return -1;
    *out = x;
    return 1;
}

/* Reports row ROW of column COL of D (read from PATH), whose value is not a
 * probability. The line comes from the library: PATH is read once more with
 * the column's good values as a fixed label set, so that the first row with
 * another value (or none) fails, named by its line. */
static int bad_probability(const char *path, const char *col, const dm_dataset *d, const signed char *kind,
                           size_t row)
{
    size_t k = dm_dataset_num_labels(d), n_good = 0, line = 0;
    const char **good = malloc((k ? k : 1) * sizeof *good);
    if (good) {
        for (size_t j = 0; j < k; j++)
            if (kind[j] == 1) good[n_good++] = dm_dataset_label_name(d, (int32_t)j);
        dm_dataset_options o;
        dm_dataset_options_default(&o);
        o.text_column = o.label_column = col;
        o.require_labels = 1;
        o.labels = good;
        o.n_labels = n_good;
        dm_dataset *again = NULL;
        if (dm_dataset_load(path, &o, &again)) line = line_in_message(dm_last_error(), path);
        dm_dataset_free(again);
        free(good);
    }
    int32_t id = dm_dataset_label(d, row);
    const char *value = id >= 0 ? dm_dataset_label_name(d, id) : "";
    char where[64];
    if (line) snprintf(where, sizeof where, "line %zu", line);
    else snprintf(where, sizeof where, "data row %zu", row + 1);
    if (id < 0) fprintf(stderr, "dm: %s: %s, column \"%s\": no probability (an empty value)\n", path, where, col);
    else if (kind[id] == 0)
        fprintf(stderr, "dm: %s: %s, column \"%s\": \"%s\" is not a number\n", path, where, col, value);
    else
        fprintf(stderr, "dm: %s: %s, column \"%s\": %s is not a probability (a number from 0 to 1)\n", path, where,
                col, value);
    return 1;
}

/* Column COL of PATH (N rows) as the probabilities of class J of K: PROBS[i * K + J]. */
static int load_prob_column(const char *path, const char *col, size_t j, size_t k, size_t n, float *probs)
{
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.text_column = o.label_column = col; /* the distinct values become labels: each parsed once */
    dm_dataset *d;
    if (dm_dataset_load(path, &o, &d)) return fail_data_as(path, "--prob-columns");
    size_t n_values = dm_dataset_num_labels(d);
    double *value = malloc((n_values ? n_values : 1) * sizeof *value);
    signed char *kind = malloc(n_values ? n_values : 1);
    int rc = 0;
    if (!value || !kind) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
    } else if (dm_dataset_size(d) != n) {
        fprintf(stderr, "dm: %s: the file changed while it was read\n", path);
        rc = 1;
    }
    for (size_t v = 0; v < n_values && !rc; v++)
        kind[v] = (signed char)parse_probability(dm_dataset_label_name(d, (int32_t)v), &value[v]);
    for (size_t i = 0; i < n && !rc; i++) {
        int32_t id = dm_dataset_label(d, i);
        if (id < 0 || kind[id] != 1) rc = bad_probability(path, col, d, kind, i);
        else probs[i * k + j] = (float)value[id];
    }
    free(value);
    free(kind);
    dm_dataset_free(d);
    return rc;
}

/* The ROC-AUC line: the value, or why it is undefined (the first class whose
 * one-vs-rest AUC is: no true example of it, or nothing else). */
static void write_auc_line(outbuf *o, const dm_eval_report *r)
{
    char tmp[512];
    int n = snprintf(tmp, sizeof tmp, "ROC-AUC:  %.6f\n", r->roc_auc);
    for (size_t c = 0; isnan(r->roc_auc) && c < r->n_classes; c++) {
        if (!isnan(r->per_class[c].roc_auc)) continue;
        n = snprintf(tmp, sizeof tmp, "ROC-AUC:  undefined: %s class \"%.200s\" (as scikit-learn; each class's "
                     "own AUC: --json)\n", r->per_class[c].support ? "every true label is" : "no true label is",
                     r->label_names[c]);
        break;
    }
    out_bytes(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The text report, then accuracy and macro F1 and, with probabilities, log loss and ROC-AUC. */
static int write_metrics_text(outbuf *o, const dm_eval_report *r, int digits, bool probs)
{
    if (write_report_table(o, r, digits)) return 1;
    char tmp[256];
    int n = snprintf(tmp, sizeof tmp, "\naccuracy: %.6f\nmacro F1: %.6f\n", r->accuracy, r->macro_f1);
    out_bytes(o, tmp, (size_t)n);
    if (probs) {
        n = snprintf(tmp, sizeof tmp, "log loss: %.6f\n", r->log_loss);
        out_bytes(o, tmp, (size_t)n);
        write_auc_line(o, r);
    }
    return 0;
}

typedef struct {
    const char *data_path, *true_col, *pred_col, *probs_arg, *labels_arg, *out_path;
    bool json;
    int digits;
} metrics_args;

static int metrics_options(int argc, char **argv, metrics_args *m)
{
    args_t a = {argc, 0, argv};
    const char *v;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        int rc;
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_metrics, stdout);
            return -1;
        } else if (is_opt(arg, "-d", "--data")) {
            NEED_VALUE(m->data_path, arg);
        } else if (is_opt(arg, NULL, "--true")) {
            NEED_VALUE(m->true_col, arg);
        } else if (is_opt(arg, NULL, "--pred")) {
            NEED_VALUE(m->pred_col, arg);
        } else if (is_opt(arg, NULL, "--prob-columns")) {
            NEED_VALUE(m->probs_arg, arg);
        } else if (is_opt(arg, NULL, "--labels")) {
            NEED_VALUE(m->labels_arg, arg);
        } else if (is_opt(arg, "-o", "--output")) {
            NEED_VALUE(m->out_path, arg);
        } else if (is_opt(arg, NULL, "--json")) {
            m->json = true;
        } else if (is_opt(arg, NULL, "--digits")) {
            NEED_VALUE(v, arg);
            if ((rc = parse_int_opt(arg, v, 0, 100, &m->digits))) return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("metrics: unknown option '%s'", arg);
        } else if (!m->data_path) {
            m->data_path = arg; /* dm metrics --true A --pred B FILE */
        } else {
            return usage_error("metrics: unexpected argument '%s'", arg);
        }
    }
    if (!m->data_path) return usage_error("metrics needs --data FILE");
    if (!m->true_col) return usage_error("metrics needs --true COL");
    if (!m->pred_col) return usage_error("metrics needs --pred COL");
    return 0;
}

int cmd_metrics(int argc, char **argv)
{
    metrics_args m;
    memset(&m, 0, sizeof m);
    m.digits = 2; /* classification_report's default */
    int rc = metrics_options(argc, argv, &m);
    if (rc) return rc < 0 ? 0 : rc;

    char *labels_copy = NULL, *probs_copy = NULL;
    const char **labels = NULL, **prob_cols = NULL, **union_labels = NULL, **names = NULL;
    size_t n_labels = 0, n_probs = 0;
    dm_dataset *t = NULL, *p = NULL, *u = NULL;
    int32_t *y_true = NULL, *y_pred = NULL, *map = NULL;
    float *probs = NULL;
    dm_eval_report *r = NULL;
    if (m.labels_arg && !(rc = split_names("--labels", m.labels_arg, true, &labels_copy, &labels, &n_labels))) {
        for (size_t i = 0; i < n_labels && !rc; i++)
            for (size_t j = 0; j < i && !rc; j++)
                if (strcmp(labels[i], labels[j]) == 0) rc = usage_error("--labels: '%s' is named twice", labels[i]);
    }
    if (!rc && m.probs_arg) rc = split_names("--prob-columns", m.probs_arg, false, &probs_copy, &prob_cols, &n_probs);
    if (!rc && labels && prob_cols && n_probs != n_labels)
        rc = usage_error("--prob-columns names %zu column%s but --labels names %zu classes", n_probs,
                         n_probs == 1 ? "" : "s", n_labels);
    if (!rc) rc = load_label_column(m.data_path, m.true_col, "--true", labels, n_labels, &t);
    if (!rc) rc = load_label_column(m.data_path, m.pred_col, "--pred", labels, n_labels, &p);
    if (rc) goto done;

    size_t n = dm_dataset_size(t), kt = dm_dataset_num_labels(t), kp = dm_dataset_num_labels(p), k;
    if (dm_dataset_size(p) != n) {
        fprintf(stderr, "dm: %s: the file changed while it was read\n", m.data_path);
        rc = 1;
        goto done;
    }
    if (n == 0) {
        fprintf(stderr, "dm: %s: no data rows: metrics need at least one prediction\n", m.data_path);
        rc = 1;
        goto done;
    }
    /* Class ids: --labels as given (both loads used that set), else the
     * union of both columns' labels, ordered by the library as it orders a
     * dataset's labels (a dataset made of those names). */
    map = malloc((kt + kp) * sizeof *map);
    y_true = malloc(n * sizeof *y_true);
    y_pred = malloc(n * sizeof *y_pred);
    union_labels = malloc((kt + kp) * sizeof *union_labels);
    if (!map || !y_true || !y_pred || !union_labels) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
        goto done;
    }
    if (labels) {
        k = n_labels;
        names = labels;
        for (size_t j = 0; j < kt + kp; j++) map[j] = (int32_t)(j < kt ? j : j - kt);
    } else {
        const char **texts = malloc((kt + kp) * sizeof *texts);
        if (!texts) {
            fputs("dm: out of memory\n", stderr);
            rc = 1;
            goto done;
        }
        for (size_t j = 0; j < kt + kp; j++) {
            texts[j] = "";
            union_labels[j] = j < kt ? dm_dataset_label_name(t, (int32_t)j)
                                     : dm_dataset_label_name(p, (int32_t)(j - kt));
        }
        dm_status st = dm_dataset_from_texts(kt + kp, texts, NULL, NULL, NULL, union_labels, NULL, &u);
        free(texts);
        if (st) {
            rc = fail_lib(m.data_path);
            goto done;
        }
        k = dm_dataset_num_labels(u);
        for (size_t j = 0; j < kt + kp; j++) map[j] = dm_dataset_label(u, j);
        for (size_t j = 0; j < k; j++) union_labels[j] = dm_dataset_label_name(u, (int32_t)j);
        names = union_labels;
    }
    char list[512];
    if (prob_cols && k == 1) { /* log loss and ROC-AUC need a second class */
        fprintf(stderr, "dm: %s: --prob-columns: the data has one class only (%s): log loss and ROC-AUC need at "
                        "least 2 classes (name them with --labels)\n", m.data_path, names[0]);
        rc = 1;
        goto done;
    }
    if (prob_cols && n_probs != k) {
        rc = usage_error("--prob-columns names %zu column%s, the data has %zu classes (%s): give one column per "
                         "class, in this order, or the classes with --labels",
                         n_probs, n_probs == 1 ? "" : "s", k, join_names(list, sizeof list, array_name, names, k));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        y_true[i] = map[dm_dataset_label(t, i)];
        y_pred[i] = map[kt + (size_t)dm_dataset_label(p, i)];
    }
    if (prob_cols) {
        probs = malloc(n * k * sizeof *probs);
        if (!probs) {
            fputs("dm: out of memory\n", stderr);
            rc = 1;
            goto done;
        }
        for (size_t j = 0; j < k && !rc; j++) rc = load_prob_column(m.data_path, prob_cols[j], j, k, n, probs);
        for (size_t i = 0; i < n && !rc; i++) {
            double sum = 0;
            for (size_t j = 0; j < k; j++) sum += probs[i * k + j];
            if (sum == 0) {
                fprintf(stderr, "dm: %s: data row %zu: the probabilities of every class are 0\n", m.data_path, i + 1);
                rc = 1;
            }
        }
        if (rc) goto done;
    }
    if (dm_metrics_compute(n, k, y_true, y_pred, probs, names, &r)) {
        rc = fail_lib(m.data_path);
        goto done;
    }
    FILE *of = open_output(m.out_path);
    if (!of) {
        rc = 1;
        goto done;
    }
    outbuf o = {of, malloc(1u << 16), 0, 1u << 16, false};
    if (!o.buf) {
        o.failed = true;
    } else if (m.json) {
        char *text;
        size_t len;
        if (dm_eval_report_json(r, &text, &len)) {
            rc = fail_lib("report");
        } else {
            out_bytes(&o, text, len);
            out_char(&o, '\n');
            dm_free(text);
        }
    } else {
        rc = write_metrics_text(&o, r, m.digits, probs != NULL);
    }
    if (finish_output_rc(&o, of, m.out_path, rc) && !rc) rc = 1;
done:
    dm_eval_report_free(r);
    dm_dataset_free(t);
    dm_dataset_free(p);
    dm_dataset_free(u);
    free(labels_copy);
    free(labels);
    free(probs_copy);
    free(prob_cols);
    free(union_labels);
    free(map);
    free(y_true);
    free(y_pred);
    free(probs);
    return rc;
}

/* ------------------------------------------------------------------ predict, embed */

typedef enum { OUT_TEXT, OUT_JSON } line_format;

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

/* Reads the lines in blocks and predicts (EMBED false) or embeds them. */
static int run_lines(lines_cmd *c, bool embed)
{
    if (!c->model_dir) return usage_error("%s needs --model DIR", embed ? "embed" : "predict");
    dm_model *m;
    dm_model_info info;
    int rc = load_model(c->model_dir, &c->mo, &m, &info);
    if (rc) return rc;
    size_t B = c->block, L = info.num_labels, C = info.hidden_size, width = embed ? C : 2 * L;
    FILE *of = open_output(c->out_path);
    const char **lines = malloc(B * sizeof *lines), **pairs = malloc(B * sizeof *pairs);
    size_t *lens = malloc(B * sizeof *lens), *pair_lens = malloc(B * sizeof *pair_lens);
    float *vals = malloc(B * width * sizeof *vals);
    int32_t *labels = malloc(B * sizeof *labels);
    outbuf o = {of, malloc(1u << 22), 0, 1u << 22, false};
    line_reader r;
    reader_init(&r, c->files, c->n_files);
    utf8_guard guard = {.policy = c->utf8};
    progress_bar bar = {c->progress != 0, now_s(), 0, "bytes"};
    c->io.progress = infer_progress; /* Ctrl-C; the bar counts input bytes, drawn per block */
    c->io.progress_user = NULL;
    if (!of) rc = 1;
    else if (!lines || !pairs || !lens || !pair_lens || !vals || !labels || !o.buf) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
    }
    while (!rc) {
        long n = reader_block(&r, lines, lens, B);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        if (interrupted) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        /* Lines that are not UTF-8: stop, or leave them out (K lines stay). */
        size_t k;
        if (utf8_check_block(&guard, &r, lines, lens, (size_t)n, true, &k)) {
            rc = 1;
            break;
        }
        if (c->pairs && split_pair_lines(&r, &guard, lines, lens, pairs, pair_lens, k)) {
            rc = 1;
            break;
        }
        dm_status st = DM_OK;
        if (k && embed) st = dm_model_embed(m, k, lines, lens, &c->io, vals);
        else if (k)
            st = dm_model_predict(m, k, lines, lens, c->pairs ? pairs : NULL, c->pairs ? pair_lens : NULL, &c->io,
                                  vals, vals + k * L, labels);
        if (st == DM_ERR_CANCELLED) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        if (st) {
            report_block_error(&r, &guard, k);
            rc = 1;
            break;
        }
        /* Skipped lines get a record in their place; under fail the lines
         * before the bad one are written, then it is reported. */
        bool skip = guard.policy == UTF8_SKIP;
        size_t b = skip ? 0 : guard.n_bad, out_n = skip ? (size_t)n : k;
        for (size_t i = 0, j = 0; i < out_n; i++) {
            if (b < guard.n_bad && guard.bad[b].i == i) {
                out_skipped(&o, &r, &guard.bad[b++], c->fmt == OUT_JSON, " ");
                continue;
            }
            if (embed) write_embedding(&o, vals + j * C, C, c->fmt);
            else write_prediction(&o, m, L, vals + j * L, vals + k * L + j * L, labels[j], c->fmt);
            j++;
        }
        bar_draw(&bar, r.bytes_read, r.bytes_total, false);
        if (o.failed || utf8_block_failed(&guard, &r)) rc = 1;
    }
    if (!rc) bar_draw(&bar, r.bytes_read, r.bytes_total, true);
    else if (bar.on) fputc('\n', stderr);
    utf8_summary(&guard);
    if (rc == EXIT_INTERRUPTED) fputs("dm: interrupted\n", stderr);
    if (of && finish_output_rc(&o, of, c->out_path, rc) && !rc) rc = 1;
    if (!of) free(o.buf);
    reader_free(&r);
    utf8_guard_free(&guard);
    free(lines);
    free(pairs);
    free(lens);
    free(pair_lens);
    free(vals);
    free(labels);
    dm_model_free(m);
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
    forward_run f;
    memset(&f, 0, sizeof f);
    dm_model_info info;
    int rc = load_model(model_dir, &mo, &f.m, &info);
    if (rc) return rc;
    f.L = info.num_labels;
    f.C = info.hidden_size;
    f.want_hidden = want_hidden;
    f.want_pooled = want_pooled;
    f.pad = dm_tokenizer_special_id(dm_model_tokenizer(f.m), DM_SPECIAL_PAD);
    if (f.pad < 0) f.pad = 0; /* any id: padding is masked */

    id_block b;
    memset(&b, 0, sizeof b);
    FILE *of = open_output(out_path);
    const char **lines = malloc(block * sizeof *lines);
    size_t *lens = malloc(block * sizeof *lens), *order = malloc(block * sizeof *order);
    b.start = malloc(block * sizeof *b.start);
    b.len = malloc(block * sizeof *b.len);
    outbuf o = {of, malloc(1u << 22), 0, 1u << 22, false};
    line_reader r;
    reader_init(&r, files, n_files);
    progress_bar bar = {progress != 0, now_s(), 0, "bytes"};
    if (!of) rc = 1;
    else if (!lines || !lens || !order || !b.start || !b.len || !o.buf) {
        fputs("dm: out of memory\n", stderr);
        rc = 1;
    }
    while (!rc) {
        long n = reader_block(&r, lines, lens, block);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        if (interrupted) {
            rc = EXIT_INTERRUPTED;
            break;
        }
        b.n = 0;
        for (long i = 0; i < n && !rc; i++) {
            const char *name;
            uint64_t line;
            reader_where(&r, (size_t)i, &name, &line);
            rc = parse_id_line(&b, (size_t)i, lines[i], lens[i], name, line);
        }
        if (!rc) rc = forward_block(&f, &b, (size_t)n, batch, order, &r);
        if (rc) break;
        for (long i = 0; i < n; i++) write_forward(&o, &f, &b, (size_t)i, fmt);
        bar_draw(&bar, r.bytes_read, r.bytes_total, false);
        if (o.failed) rc = 1;
    }
    if (!rc) bar_draw(&bar, r.bytes_read, r.bytes_total, true);
    else if (bar.on) fputc('\n', stderr);
    if (rc == EXIT_INTERRUPTED) fputs("dm: interrupted\n", stderr);
    if (of && finish_output_rc(&o, of, out_path, rc) && !rc) rc = 1;
    if (!of) free(o.buf);
    reader_free(&r);
    free(lines);
    free(lens);
    free(order);
    id_block_free(&b);
    free(f.w.ids);
    free(f.w.types);
    free(f.w.mask);
    free(f.w.logits);
    free(f.w.hidden);
    free(f.w.pooled);
    free(f.logits);
    free(f.hidden);
    free(f.pooled);
    dm_model_free(f.m);
    return rc;
}

/* ------------------------------------------------------------------ train */

/* What the training callback draws. */
typedef struct {
    bool bar;           /* a bar redrawn in place (a terminal), else plain lines */
    double last_draw;
    int last_decile;    /* plain lines: the last tenth of the steps reported */
    double val_accuracy; /* the last evaluation's, NaN before one */
    dm_train_progress last; /* the last report */
    bool any;
} train_view;

static void fmt_duration(char *buf, size_t cap, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%lu:%02lu", t / 60, t % 60);
}

static void draw_train_bar(const train_view *v, const dm_train_progress *p, bool final)
{
    double f = p->total_steps ? (double)p->step / (double)p->total_steps : 0.0;
    if (f > 1) f = 1;
    int w = 20, fill = (int)(f * w);
    char eta[32], acc[48] = "";
    bool done = final && p->step >= p->total_steps;
    fmt_duration(eta, sizeof eta, done ? p->elapsed_sec : p->eta_sec);
    if (!isnan(v->val_accuracy)) snprintf(acc, sizeof acc, " | val acc %.4f", v->val_accuracy);
    fprintf(stderr, "\r[%.*s%*s] step %llu/%llu | epoch %.2f/%d | loss %.4f | %.1f ex/s | %s %s%s\033[K", fill,
            "====================", w - fill, "", (unsigned long long)p->step, (unsigned long long)p->total_steps,
            p->epoch, p->epochs, p->loss, p->examples_per_sec, done ? "took" : "ETA", eta, acc);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static int on_train_progress(const dm_train_progress *p, void *user)
{
    train_view *v = user;
    size_t n = p->struct_size < sizeof v->last ? p->struct_size : sizeof v->last;
    memset(&v->last, 0, sizeof v->last);
    memcpy(&v->last, p, n);
    v->any = true;
    if (p->evaluated) v->val_accuracy = p->val_accuracy;
    if (v->bar) {
        double t = now_s();
        if (p->evaluated || p->step == p->total_steps || t - v->last_draw >= 0.1) {
            v->last_draw = t;
            draw_train_bar(v, p, false);
        }
    } else {
        int decile = p->total_steps ? (int)(p->step * 10 / p->total_steps) : 0;
        if (decile > v->last_decile) {
            v->last_decile = decile;
            fprintf(stderr, "step %llu/%llu  epoch %.2f  loss %.6f  lr %.4g  %.1f examples/s  elapsed %.1fs\n",
                    (unsigned long long)p->step, (unsigned long long)p->total_steps, p->epoch, p->loss,
                    p->learning_rate, p->examples_per_sec, p->elapsed_sec);
        }
        if (p->evaluated)
            fprintf(stderr, "eval at step %llu  epoch %.2f  val_loss %.6f  val_accuracy %.6f  val_macro_f1 %.6f\n",
                    (unsigned long long)p->step, p->epoch, p->val_loss, p->val_accuracy, p->val_macro_f1);
        fflush(stderr);
    }
    return interrupted;
}

/* --class-weights w1,w2,...: the numbers (count checked once the model is known). */
static int parse_weights(const char *v, float **out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = v; *p; p++) cap += *p == ',';
    float *w = malloc(cap * sizeof *w);
    char *copy = strdup(v);
    if (!w || !copy) {
        free(w);
        free(copy);
        fputs("dm: out of memory\n", stderr);
        return 1;
    }
    size_t k = 0;
    for (char *s = copy, *end;; s = end + 1) {
        end = strchr(s, ',');
        if (end) *end = '\0';
        double x;
        if (!parse_double(s, &x) || x < 0) {
            int rc = usage_error("--class-weights: '%s' is not a non-negative number (give balanced or w1,w2,...)", s);
            free(w);
            free(copy);
            return rc;
        }
        w[k++] = (float)x;
        if (!end) break;
    }
    free(copy);
    *out = w;
    *n = k;
    return 0;
}

typedef struct {
    const char *model_dir, *train_path, *val_path, *out_dir, *weights_arg;
    dm_dataset_options dso;
    dm_model_options mo;
    dm_train_options to;
    int progress;
} train_args;

/* One option of dm train: 0, an exit code, or OPT_NOT_MINE. */
static int train_option(args_t *a, const char *arg, train_args *t)
{
    dm_train_options *to = &t->to;
    const char *v;
    double x;
    int rc;
    if (is_opt(arg, "-m", "--model")) {
        NEED_VALUE_P(t->model_dir, arg);
    } else if (is_opt(arg, NULL, "--train")) {
        NEED_VALUE_P(t->train_path, arg);
    } else if (is_opt(arg, NULL, "--val") || is_opt(arg, NULL, "--validation")) {
        NEED_VALUE_P(t->val_path, arg);
    } else if (is_opt(arg, "-o", "--out") || is_opt(arg, NULL, "--output")) {
        NEED_VALUE_P(t->out_dir, arg);
    } else if (is_opt(arg, "-e", "--epochs")) {
        NEED_VALUE_P(v, arg);
        return parse_int_opt(arg, v, 1, INT32_MAX, &to->epochs);
    } else if (is_opt(arg, NULL, "--max-steps")) {
        NEED_VALUE_P(v, arg);
        if (!parse_u64(v, &to->max_steps) || !to->max_steps)
            return usage_error("--max-steps: '%s' is not a positive count", v);
    } else if (is_opt(arg, "-b", "--batch-size")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &to->batch_size) || !to->batch_size)
            return usage_error("--batch-size: '%s' is not a positive count", v);
    } else if (is_opt(arg, NULL, "--grad-accum")) {
        NEED_VALUE_P(v, arg);
        return parse_int_opt(arg, v, 1, INT32_MAX, &to->grad_accum);
    } else if (is_opt(arg, NULL, "--lr") || is_opt(arg, NULL, "--learning-rate")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("%s: '%s' is not a number", arg, v);
        if (!(x > 0)) return usage_error("%s: '%s' must be positive", arg, v);
        to->learning_rate = x;
    } else if (is_opt(arg, NULL, "--weight-decay")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("--weight-decay: '%s' is not a number", v);
        if (x < 0) return usage_error("--weight-decay: '%s' must be >= 0", v);
        to->weight_decay = x;
    } else if (is_opt(arg, NULL, "--warmup-ratio")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("--warmup-ratio: '%s' is not a number", v);
        if (x < 0 || x > 1) return usage_error("--warmup-ratio: '%s' must be in [0, 1]", v);
        to->warmup_ratio = x;
    } else if (is_opt(arg, NULL, "--warmup-steps")) {
        NEED_VALUE_P(v, arg);
        if (!parse_u64(v, &to->warmup_steps)) return usage_error("--warmup-steps: '%s' is not a count", v);
    } else if (is_opt(arg, NULL, "--max-grad-norm")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("--max-grad-norm: '%s' is not a number", v);
        if (x < 0) return usage_error("--max-grad-norm: '%s' must be >= 0 (0 = no clipping)", v);
        to->max_grad_norm = x;
    } else if (is_opt(arg, NULL, "--dropout")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("--dropout: '%s' is not a number", v);
        if (x < 0 || x >= 1) return usage_error("--dropout: '%s' must be in [0, 1)", v);
        to->dropout = x;
    } else if (is_opt(arg, NULL, "--schedule")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "linear") == 0) to->schedule = DM_SCHEDULE_LINEAR;
        else if (strcmp(v, "cosine") == 0) to->schedule = DM_SCHEDULE_COSINE;
        else if (strcmp(v, "constant") == 0) to->schedule = DM_SCHEDULE_CONSTANT;
        else return usage_error("--schedule: unknown schedule '%s' (linear, cosine, constant)", v);
    } else if (is_opt(arg, NULL, "--class-weights")) {
        NEED_VALUE_P(t->weights_arg, arg);
    } else if (is_opt(arg, NULL, "--max-length")) {
        NEED_VALUE_P(v, arg);
        if (!parse_size(v, &to->max_length) || to->max_length < 2)
            return usage_error("--max-length: '%s' is not a count of at least 2", v);
    } else if (is_opt(arg, NULL, "--seed")) {
        NEED_VALUE_P(v, arg);
        if (!parse_u64(v, &to->seed)) return usage_error("--seed: '%s' is not a non-negative integer", v);
        t->mo.seed = to->seed;
    } else if (is_opt(arg, NULL, "--no-shuffle")) {
        to->shuffle = 0;
    } else if (parse_bool_pair(arg, "shuffle", &to->shuffle) ||
               parse_bool_pair(arg, "group-by-length", &to->group_by_length) ||
               parse_bool_pair(arg, "keep-best", &to->keep_best) || parse_bool_pair(arg, "progress", &t->progress)) {
    } else if (is_opt(arg, NULL, "--eval-steps")) {
        NEED_VALUE_P(v, arg);
        if (!parse_u64(v, &to->eval_steps) || !to->eval_steps)
            return usage_error("--eval-steps: '%s' is not a positive count", v);
    } else if (is_opt(arg, NULL, "--freeze-embeddings")) {
        to->freeze_embeddings = 1;
    } else if (is_opt(arg, NULL, "--freeze-layers")) {
        NEED_VALUE_P(v, arg);
        return parse_int_opt(arg, v, 0, 10000, &to->freeze_layers);
    } else if (is_opt(arg, NULL, "--early-stopping")) {
        NEED_VALUE_P(v, arg);
        return parse_int_opt(arg, v, 1, INT32_MAX, &to->early_stopping_patience);
    } else if (is_opt(arg, NULL, "--checkpoint-steps")) {
        NEED_VALUE_P(v, arg);
        if (!parse_u64(v, &to->checkpoint_steps) || !to->checkpoint_steps)
            return usage_error("--checkpoint-steps: '%s' is not a positive count", v);
    } else if (is_opt(arg, NULL, "--checkpoint-limit")) {
        NEED_VALUE_P(v, arg);
        return parse_int_opt(arg, v, 0, INT32_MAX, &to->checkpoint_limit);
    } else if (is_opt(arg, NULL, "--resume")) {
        NEED_VALUE_P(to->resume_from, arg);
    } else if (is_opt(arg, NULL, "--log-json")) {
        NEED_VALUE_P(to->log_jsonl, arg);
    } else if ((rc = data_option(a, arg, &t->dso)) != OPT_NOT_MINE) {
        return rc;
    } else if ((rc = device_option(a, arg, &t->mo)) != OPT_NOT_MINE) {
        if (!rc) to->threads = t->mo.threads;
        return rc;
    } else {
        return OPT_NOT_MINE;
    }
    return 0;
}

/* Loads the model to train: its trained head when that knows every training
 * label, else a new head for the training labels. */
static int train_model(train_args *t, const dm_dataset *train, dm_model **out, dm_model_info *info)
{
    dm_model *m;
    int rc = load_model(t->model_dir, &t->mo, &m, info);
    if (rc) return rc;
    size_t k = dm_dataset_num_labels(train);
    bool keep = !info->new_head;
    for (size_t j = 0; j < k && keep; j++)
        keep = model_has_label(m, info->num_labels, dm_dataset_label_name(train, (int32_t)j));
    if (!keep && k < 2) {
        /* A new head is needed and the data name one label: the data are at
         * fault, not the model folder. */
        fprintf(stderr, "dm: %s: every row has the label '%s' (column '%s'): a classifier needs rows of at "
                        "least 2 labels\n", t->train_path, k ? dm_dataset_label_name(train, 0) : "",
                t->dso.label_column ? t->dso.label_column : "label");
        dm_model_free(m);
        return 1;
    }
    if (!keep) {
        if (!info->new_head) {
            char have[512], want[512];
            fprintf(stderr, "dm: %s has a trained head for labels (%s), not for all of the training labels (%s): "
                            "training a new head\n",
                    t->model_dir, join_names(have, sizeof have, model_label, m, info->num_labels),
                    join_names(want, sizeof want, data_label, train, k));
        }
        dm_model_free(m);
        const char **names = malloc((k ? k : 1) * sizeof *names);
        if (!names) {
            fputs("dm: out of memory\n", stderr);
            return 1;
        }
        for (size_t j = 0; j < k; j++) names[j] = dm_dataset_label_name(train, (int32_t)j);
        dm_model_options mo = t->mo;
        mo.labels = names;
        mo.n_labels = k;
        mo.num_labels = k;
        mo.new_head = 1;
        rc = load_model(t->model_dir, &mo, &m, info);
        free(names);
        if (rc) return rc;
    }
    *out = m;
    return 0;
}

static void print_train_summary(const train_args *t, const dm_train_result *res, const train_view *v)
{
    printf("trained %llu steps (%.2f epochs) in %.1fs, %.1f examples/s, final loss %.6f\n",
           (unsigned long long)res->steps, res->epochs, res->seconds, v->any ? v->last.examples_per_sec : 0.0,
           res->final_loss);
    if (t->val_path && !isnan(res->best_val_metric))
        printf("best validation accuracy %.6f at step %llu%s%s\n", res->best_val_metric,
               (unsigned long long)res->best_step, res->stopped_early ? " (stopped early)" : "",
               t->to.keep_best && res->best_step != res->steps ? ": the saved model is that step's" : "");
    printf("saved the model to %s\n", t->out_dir);
}

int cmd_train(int argc, char **argv)
{
    args_t a = {argc, 0, argv};
    train_args t;
    memset(&t, 0, sizeof t);
    dm_dataset_options_default(&t.dso);
    dm_model_options_default(&t.mo);
    dm_train_options_default(&t.to);
    t.mo.seed = t.to.seed;
    t.progress = isatty(STDERR_FILENO);
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help_train, stdout);
            return 0;
        }
        int rc = train_option(&a, arg, &t);
        if (rc == OPT_NOT_MINE) {
            if (arg[0] == '-' && arg[1]) return usage_error("train: unknown option '%s'", arg);
            return usage_error("train: unexpected argument '%s'", arg);
        }
        if (rc) return rc;
    }
    if (!t.model_dir) t.model_dir = t.to.resume_from;
    if (!t.model_dir) return usage_error("train needs --model DIR");
    if (!t.train_path) return usage_error("train needs --train FILE");
    if (!t.out_dir) return usage_error("train needs --out DIR");
    if (t.to.early_stopping_patience && !t.val_path) return usage_error("--early-stopping needs --val FILE");
    if (t.to.eval_steps && !t.val_path) return usage_error("--eval-steps needs --val FILE");
    float *weights = NULL;
    size_t n_weights = 0;
    if (t.weights_arg) {
        if (strcmp(t.weights_arg, "balanced") == 0) t.to.balanced_class_weights = 1;
        else {
            int rc = parse_weights(t.weights_arg, &weights, &n_weights);
            if (rc) return rc;
        }
    }
    t.to.output_dir = t.out_dir;

    dm_dataset *train = NULL, *val = NULL;
    dm_model *m = NULL;
    dm_model_info info;
    int rc = check_out_dir(t.out_dir);
    if (!rc) rc = load_labelled(t.train_path, &t.dso, &train);
    if (!rc) rc = train_model(&t, train, &m, &info);
    if (!rc && t.val_path) rc = load_labelled(t.val_path, &t.dso, &val);
    if (!rc && weights) {
        if (n_weights != info.num_labels) {
            char names[512];
            rc = usage_error("--class-weights gives %zu weights, the model has %zu labels (%s)", n_weights,
                             info.num_labels, join_names(names, sizeof names, model_label, m, info.num_labels));
        }
        t.to.class_weights = weights;
    }
    if (rc) goto done;

    char names[512];
    fprintf(stderr, "dm: training on %zu examples of %s, %zu labels (%s%s)", dm_dataset_size(train), t.train_path,
            info.num_labels, join_names(names, sizeof names, model_label, m, info.num_labels),
            info.new_head ? ", new head" : "");
    if (val) fprintf(stderr, ", validating on %zu examples of %s", dm_dataset_size(val), t.val_path);
    fprintf(stderr, ", %s backend\n", info.backend_name ? info.backend_name : device_name(info.device));

    train_view view = {.bar = t.progress != 0, .last_decile = -1, .val_accuracy = NAN};
    t.to.callback = on_train_progress;
    t.to.callback_user = &view;
    dm_train_result res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    dm_status st = dm_train(m, train, val, &t.to, &res);
    if (view.bar && view.any) draw_train_bar(&view, &view.last, true);
    if (st == DM_ERR_CANCELLED) {
        rc = EXIT_INTERRUPTED;
        fprintf(stderr, "dm: interrupted at step %llu", (unsigned long long)view.last.step);
        if (t.to.checkpoint_steps && view.last.step) {
            uint64_t k = (view.last.step - 1) / t.to.checkpoint_steps * t.to.checkpoint_steps;
            char path[4096];
            struct stat sb;
            snprintf(path, sizeof path, "%s/checkpoint-%llu", t.out_dir, (unsigned long long)k);
            if (k && stat(path, &sb) == 0) fprintf(stderr, "; continue with --resume %s", path);
        }
        fputc('\n', stderr);
        goto done;
    }
    if (st) {
        /* The library names the data by role: name the file instead. */
        const char *msg = dm_last_error();
        rc = fail_lib(strncmp(msg, "validation data", 15) == 0 ? t.val_path
                      : strncmp(msg, "training data", 13) == 0  ? t.train_path
                                                                : "train");
        goto done;
    }
    print_train_summary(&t, &res, &view);
    if (val) {
        dm_eval_report *r;
        if (dm_model_evaluate(m, val, NULL, &r)) {
            rc = fail_lib(t.val_path);
        } else {
            printf("\nvalidation report of the saved model (%s):\n\n", t.val_path);
            fflush(stdout);
            outbuf o = {stdout, malloc(1u << 16), 0, 1u << 16, false};
            if (!o.buf) rc = 1;
            else rc = write_report_text(&o, r, 4);
            if (finish_output(&o, stdout, NULL) && !rc) rc = 1;
            dm_eval_report_free(r);
        }
    }
    if (fflush(stdout) != 0 && !rc) rc = 1;
done:
    dm_model_free(m);
    dm_dataset_free(train);
    dm_dataset_free(val);
    free(weights);
    return rc;
}
