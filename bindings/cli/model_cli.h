/*
 * model_cli.h — what the model commands of the dm tool share (dm_model.c):
 * the help of their common options, option parsers for data columns, the
 * device and inference, loading a model or labelled data, the report
 * writers, and number formatting.
 */
#ifndef DM_CLI_MODEL_CLI_H
#define DM_CLI_MODEL_CLI_H

#include "commands.h"

/* ------------------------------------------------------------------ help */

#define HELP_DATA_COLUMNS                                                                               \
    "      --text-column NAME    the text column (default: the first of sentence, text, review)\n"      \
    "      --pair-column NAME    a second text column, for sentence pairs (default: none)\n"          \
    "      --label-column NAME   the label column (default: label)\n"                                  \
    "      --id-column NAME      the row id column, used in messages (default: id when present)\n"      \
    "      --key FILE            the data file is encrypted (dm encrypt): its key file; it is\n"      \
    "                            decrypted in memory (DATA.csv.enc is read as CSV)\n"

#define HELP_MODEL_KEY                                                                                  \
    "      --model-key FILE      the key file of the folder's encrypted weights\n"                   \
    "                            (model.safetensors.enc, dm encrypt), decrypted in memory\n"         \
    "                            only (--key is the data files')\n"

#define HELP_DEVICE                                                                                     \
    "      --device D            cpu, cuda or auto (default: auto = CUDA when available)\n"            \
    "  -j, --threads N           CPU threads (default: all cores)\n"                                   \
    "      --precision P         fp32 (default: float32 throughout) or bf16 (bfloat16 matrix\n"         \
    "                            products for inference: about twice as fast on CPUs with\n"        \
    "                            AVX512-BF16, results within ~1e-2 of fp32)\n"

/* ------------------------------------------------------------------ options */

/* --text-column, --pair-column, --label-column, --id-column into O. Each of
 * these option parsers returns OPT_NOT_MINE, 0, or an exit code. */
int data_option(args_t *a, const char *arg, dm_dataset_options *o);
/* --device, --threads, --precision and --model-key (dm_crypt.c) into the
 * model options. */
int device_option(args_t *a, const char *arg, dm_model_options *mo);
/* --batch-size and --max-length into the inference options. */
int infer_option(args_t *a, const char *arg, dm_infer_options *io);
/* The three above, for those of D, MO and IO that are not NULL. */
int common_option(args_t *a, const char *arg, dm_dataset_options *d, dm_model_options *mo, dm_infer_options *io);

/* ------------------------------------------------------------------ models and data */

/* dm_model_load and dm_model_get_info; 1 (with a message) on failure. */
int load_model(const char *dir, const dm_model_options *mo, dm_model **m, dm_model_info *info);
/* Labelled data: the label column defaults to "label" and every row must
 * have a label; 1 (with a message) on failure. */
int load_labelled(const char *path, const dm_dataset_options *base, dm_dataset **out);
/* fail_data_as(PATH, NULL). */
int fail_data(const char *path);
/* Whether DIR can be written (created if need be); 1 with a message if not. */
int check_out_dir(const char *dir);
/* "a, b, c" into BUF from NAME(OBJ, i) for i < N (shortened with "..."). */
const char *join_names(char *buf, size_t cap, const char *(*name)(const void *, int32_t), const void *obj,
                       size_t n);
const char *model_label(const void *m, int32_t i);
const char *data_label(const void *d, int32_t i);
bool model_has_label(const dm_model *m, size_t n_labels, const char *name);
const char *device_name(dm_device d);

/* ------------------------------------------------------------------ output */

/* How predict, embed and forward write a line's result. */
typedef enum { OUT_TEXT, OUT_JSON } line_format;

/* X with 7 significant digits; JSON: non-finite as null. */
void out_double(outbuf *o, double x, bool json);
/* Inference progress: a bar over texts (USER: the bar, or NULL), and Ctrl-C. */
int infer_progress(uint64_t done, uint64_t total, void *user);
/* The library's text of an evaluation report (classification report,
 * confusion matrix); then, in write_report_text, accuracy, macro F1 and
 * loss lines; write_report_json: its JSON with "loss", on one line. 0, or 1
 * with a message. */
int write_report_table(outbuf *o, const dm_eval_report *r, int digits);
int write_report_text(outbuf *o, const dm_eval_report *r, int digits);
int write_report_json(outbuf *o, const dm_eval_report *r);

#endif /* DM_CLI_MODEL_CLI_H */
