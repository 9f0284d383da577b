/*
 * dm_train_cmd.c — the commands that make a classifier:
 *
 *   dm init --model DIR --num-labels N [--labels a,b,..] --out DIR   a folder with a new head
 *   dm train --model DIR --train FILE [--val FILE] --out DIR [...]   fine-tune
 *
 * Training data are read with dm_dataset_load; dm_train reports progress
 * through a callback that draws a bar (or plain lines when stderr is not a
 * terminal) and cancels on Ctrl-C.
 */
#include "model_cli.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ help */

const char help_init[] =
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
    HELP_MODEL_KEY
    "                            (the folder written to --out is plain)\n"
    "  -n, --num-labels N        number of labels (default: the number of --labels)\n"
    "      --labels a,b,...      label names in id order (default: LABEL_0, LABEL_1, ...)\n"
    "      --new-head            a new head even when the folder has one for these labels\n"
    "  -o, --out DIR             where to write the model (required)\n"
    "      --seed S              seed of the new head's initialisation (default 42)\n"
    HELP_DEVICE;

const char help_train[] =
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
    HELP_MODEL_KEY
    "                            (the model and checkpoints written to --out are plain)\n"
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
    "      --adam-beta1 B, --adam-beta2 B   AdamW's moment decays (default 0.9, 0.999)\n"
    "      --adam-epsilon E      AdamW's epsilon (default 1e-8). With DP-SGD's noise, one well\n"
    "                            above the noise's scale (sigma x C / batch) makes the update\n"
    "                            SGD with momentum (lr / E): docs/privacy.md\n"
    "      --max-grad-norm X     clip gradients to this global norm, 0 = off (default 1.0)\n"
    "      --dropout P           every dropout rate, in [0, 1) (default: config.json's)\n"
    "      --class-weights W     balanced, or w1,w2,... in the order of the model's labels\n"
    "      --max-length L        truncate texts to L tokens (default 128)\n"
    "      --seed S              shuffling, dropout and a new head (default 42)\n"
    "      --no-shuffle          the file's order every epoch (still grouped by length)\n"
    "      --grouping G          how rows become batches: buckets (default: the rows of\n"
    "                            every 50 batches sorted by length and cut into batches,\n"
    "                            which pads less, taken in a random order), sorted (those\n"
    "                            batches longest first, as Hugging Face's group_by_length)\n"
    "                            or mixed (no grouping)\n"
    "      --no-group-by-length  the same as --grouping mixed\n"
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
    "  Differential privacy (DP-SGD; float32 only; docs/privacy.md):\n"
    "      --dp-epsilon E        train with DP-SGD within (E, --dp-delta): the noise is chosen so\n"
    "                            that the planned steps spend E, and the run stops at the budget.\n"
    "                            Each step is a Poisson sample of batch-size x grad-accum rows\n"
    "                            expected; --max-grad-norm does not apply\n"
    "      --dp-delta D          delta, in (0, 1) (default 1e-5)\n"
    "      --dp-max-grad-norm C  clip each example's gradient to norm C (default 1.0)\n"
    "      --dp-noise S          this noise multiplier (with --dp-epsilon: a budget to stop at)\n"
    "      --dp-noise-seed N     reproducible noise, for tests only (default: keyed from the OS)\n"
    HELP_DEVICE
    "                            In training, bf16 is mixed precision (as PyTorch's autocast):\n"
    "                            the encoder's products forward and backward in bfloat16,\n"
    "                            weights, optimizer and the rest in float32\n"
    "      --progress / --no-progress   a progress bar on standard error (default: when it is a\n"
    "                            terminal; otherwise a line every 10% of the steps and at\n"
    "                            every evaluation)\n";

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
    if (!isnan(p->dp_epsilon))
        snprintf(acc + strlen(acc), sizeof acc - strlen(acc), " | eps %.3f", p->dp_epsilon);
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
        bool epoch_end = p->epoch > 0 && fabs(p->epoch - round(p->epoch)) < 1e-9;
        if (!isnan(p->dp_epsilon) && epoch_end && !p->evaluated)
            fprintf(stderr, "epoch %.0f done at step %llu: DP-SGD epsilon spent %.4f\n", p->epoch,
                    (unsigned long long)p->step, p->dp_epsilon);
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

/* What DP-SGD will do: the sample rate, the noise and the epsilon of the
 * planned steps (the library chooses the same). */
static void print_dp_plan(const dm_train_options *o, size_t n)
{
    size_t L = o->batch_size * (size_t)o->grad_accum;
    double q = n ? (double)L / (double)n : 0.0;
    uint64_t per_epoch = n / L ? n / L : 1;
    uint64_t steps = o->max_steps ? o->max_steps : (uint64_t)o->epochs * per_epoch;
    double sigma = o->dp_noise, eps = NAN;
    if (q <= 0 || q > 1) return; /* the library says why */
    if (sigma <= 0 && dm_dp_noise_multiplier(o->dp_epsilon, o->dp_delta, q, steps, 0, &sigma)) return;
    if (dm_dp_epsilon(sigma, q, steps, o->dp_delta, &eps, NULL)) return;
    fprintf(stderr, "dm: DP-SGD: expected batch %zu (sample rate %.6g), %llu steps, clipping norm %g, noise "
            "multiplier %.6g: epsilon %.4f at delta %g for the planned steps%s\n", L, q, (unsigned long long)steps,
            o->dp_max_grad_norm, sigma, eps, o->dp_delta,
            o->dp_epsilon > 0 && eps > o->dp_epsilon ? " (the run stops earlier, at the budget)" : "");
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
    } else if (is_opt(arg, NULL, "--adam-beta1") || is_opt(arg, NULL, "--adam-beta2")) {
        bool first = is_opt(arg, NULL, "--adam-beta1");
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("%s: '%s' is not a number", first ? "--adam-beta1" : "--adam-beta2", v);
        if (!(x >= 0 && x < 1)) return usage_error("%s: '%s' must be in [0, 1)", first ? "--adam-beta1" : "--adam-beta2", v);
        *(first ? &to->adam_beta1 : &to->adam_beta2) = x;
    } else if (is_opt(arg, NULL, "--adam-epsilon")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("--adam-epsilon: '%s' is not a number", v);
        if (!(x > 0) || !isfinite(x)) return usage_error("--adam-epsilon: '%s' must be positive", v);
        to->adam_epsilon = x;
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
    } else if (is_opt(arg, NULL, "--dp-epsilon") || is_opt(arg, NULL, "--dp-delta") ||
               is_opt(arg, NULL, "--dp-max-grad-norm") || is_opt(arg, NULL, "--dp-noise")) {
        NEED_VALUE_P(v, arg);
        if (!parse_double(v, &x)) return usage_error("%s: '%s' is not a number", arg, v);
        double *dst = is_opt(arg, NULL, "--dp-epsilon")         ? &to->dp_epsilon
                      : is_opt(arg, NULL, "--dp-delta")         ? &to->dp_delta
                      : is_opt(arg, NULL, "--dp-max-grad-norm") ? &to->dp_max_grad_norm
                                                                : &to->dp_noise;
        if (dst == &to->dp_delta ? !(x > 0 && x < 1) : !(x > 0))
            return usage_error("%s: '%s' must be %s", arg, v, dst == &to->dp_delta ? "in (0, 1)" : "> 0");
        *dst = x;
    } else if (is_opt(arg, NULL, "--dp-noise-seed")) {
        NEED_VALUE_P(v, arg);
        if (!parse_u64(v, &to->dp_noise_seed) || !to->dp_noise_seed)
            return usage_error("--dp-noise-seed: '%s' is not a count > 0", v);
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
    } else if (is_opt(arg, NULL, "--grouping")) {
        NEED_VALUE_P(v, arg);
        if (strcmp(v, "buckets") == 0) to->group_by_length = DM_LENGTHS_BUCKETS;
        else if (strcmp(v, "sorted") == 0) to->group_by_length = DM_LENGTHS_SORTED;
        else if (strcmp(v, "mixed") == 0) to->group_by_length = DM_LENGTHS_MIXED;
        else return usage_error("--grouping: unknown grouping '%s' (buckets, sorted, mixed)", v);
    } else if (strcmp(arg, "--group-by-length") == 0) {
        to->group_by_length = DM_LENGTHS_BUCKETS;
    } else if (strcmp(arg, "--no-group-by-length") == 0) {
        to->group_by_length = DM_LENGTHS_MIXED;
    } else if (parse_bool_pair(arg, "shuffle", &to->shuffle) ||
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

static void print_train_summary(const train_args *t, const dm_train_result *res, const train_view *v,
                                const dm_model *m)
{
    printf("trained %llu steps (%.2f epochs) in %.1fs, %.1f examples/s, final loss %.6f\n",
           (unsigned long long)res->steps, res->epochs, res->seconds, v->any ? v->last.examples_per_sec : 0.0,
           res->final_loss);
    dm_model_info info = {.struct_size = sizeof info};
    if (dm_model_get_info(m, &info) == DM_OK)
        printf("peak %s memory %.1f MiB (%s backend: weights, activations, gradients, optimizer)\n",
               info.device == DM_DEVICE_CUDA ? "GPU" : "backend", (double)info.memory_peak_bytes / 1048576.0,
               info.backend_name);
    if (t->val_path && !isnan(res->best_val_metric))
        printf("best validation accuracy %.6f at step %llu%s%s\n", res->best_val_metric,
               (unsigned long long)res->best_step, res->stopped_early ? " (stopped early)" : "",
               t->to.keep_best && res->best_step != res->steps ? ": the saved model is that step's" : "");
    if (v->any && !isnan(v->last.dp_epsilon))
        printf("DP-SGD: epsilon %.4f at delta %g spent (written to %s/privacy.json)\n", v->last.dp_epsilon,
               t->to.dp_delta, t->out_dir);
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
    fprintf(stderr, ", %s backend%s\n", info.backend_name ? info.backend_name : device_name(info.device),
            t.mo.precision == DM_PRECISION_BF16 ? ", bf16 mixed precision" : "");
    if (t.to.dp_epsilon > 0 || t.to.dp_noise > 0)
        print_dp_plan(&t.to, dm_dataset_size(train));

    t.to.precision = t.mo.precision; /* --precision: of training too */
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
    print_train_summary(&t, &res, &view, m);
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
