/*
 * config.h — a BERT model's config.json: read, validate, write.
 *
 * Reading accepts what Hugging Face writes for model_type "bert" (and
 * sentence-transformers folders, whose config.json is a plain BertModel one).
 * Each required field that is missing or of the wrong JSON type, and each
 * value we do not support, is an error naming the file and the field:
 *   required: vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
 *             intermediate_size, max_position_embeddings (positive integers;
 *             hidden_size divisible by num_attention_heads)
 *   optional (HF defaults): type_vocab_size 2, layer_norm_eps 1e-12,
 *             hidden_dropout_prob 0.1, attention_probs_dropout_prob 0.1,
 *             classifier_dropout null, initializer_range 0.02, pad_token_id 0,
 *             hidden_act "gelu" (only "gelu" is supported: other values, e.g.
 *             "relu" or "gelu_new", give DM_ERR_UNSUPPORTED naming the value),
 *             position_embedding_type "absolute" (others unsupported),
 *             model_type "bert" (others unsupported; absent is accepted),
 *             architectures (BertModel, BertForSequenceClassification,
 *             BertForMaskedLM, BertForPreTraining, ... any "Bert*"; another
 *             family is unsupported, naming it), num_labels, id2label, label2id,
 *             problem_type (only "single_label_classification" or absent).
 * Labels: id2label (object "0" -> name) wins; else num_labels gives
 * "LABEL_0".. names; else there are none (n_labels = 0). id2label keys must be
 * exactly 0..n-1.
 * Statuses: a missing required field DM_ERR_NOT_FOUND; a wrong JSON type or
 * value, broken JSON (line and column named), non-divisible heads, bad
 * id2label keys DM_ERR_PARSE; an unsupported value DM_ERR_UNSUPPORTED; a
 * size above INT32_MAX or more than 65536 labels DM_ERR_RANGE.
 * pad_token_id must be below vocab_size (or null).
 * Internal: names start with dmi_.
 */
#ifndef DM_MODEL_CONFIG_H
#define DM_MODEL_CONFIG_H

#include "../core/core.h"

typedef struct dmi_bert_config {
    size_t vocab_size, hidden_size, num_layers, num_heads, intermediate_size;
    size_t max_position, type_vocab_size;
    double layer_norm_eps;
    double hidden_dropout, attention_dropout;
    double classifier_dropout;   /* < 0 when null: hidden_dropout applies, as HF */
    double initializer_range;
    int64_t pad_token_id;        /* -1 when the file says null */
    bool is_classifier;          /* architectures[0] == "BertForSequenceClassification" */
    size_t n_labels;             /* 0 when the config names none */
    char **labels;               /* n_labels owned strings, id order */
    void *raw;                   /* json_t * of the whole file (owned): unknown fields
                                    are written back by dmi_bert_config_save */
} dmi_bert_config;

/* Parses config.json text; NAME (a path) labels messages. */
dm_status dmi_bert_config_parse(const char *json, size_t len, const char *name, dmi_bert_config *cfg);

/* Reads and parses PATH. */
dm_status dmi_bert_config_load(const char *path, dmi_bert_config *cfg);

/* Writes CFG as a BertForSequenceClassification config.json to PATH
 * atomically: every field of RAW kept, then architectures =
 * ["BertForSequenceClassification"], model_type "bert", num_labels, id2label
 * ({"0": name, ...}), label2id, problem_type "single_label_classification",
 * and the numeric fields above, overwriting RAW's; "transformers_version"
 * kept if present. Keys in a stable order: sorted, indent 2, non-ASCII as
 * backslash-u escapes, a final newline, reals in the fewest digits that read back
 * exactly (what transformers' save_pretrained writes).
 * With n_labels == 0 it writes a plain encoder's config instead: id2label,
 * label2id and num_labels removed, RAW's architectures kept (["BertModel"]
 * when RAW has none), so that reading it back gives no labels.
 * RAW may be NULL (a config built in code). Values that parsing would refuse
 * (zero sizes, non-divisible heads, ...) give DM_ERR_INVALID_ARGUMENT. */
dm_status dmi_bert_config_save(const dmi_bert_config *cfg, const char *path);

/* The text dmi_bert_config_save writes (malloc'd, NUL-terminated; *LEN
 * without the NUL). */
dm_status dmi_bert_config_to_json(const dmi_bert_config *cfg, char **text, size_t *len);

/* Sets the labels (copies NAMES; NULL names, or a NULL NAMES[i], give
 * "LABEL_i"); N = 0 removes them. is_classifier is left as read. A name that
 * is not valid UTF-8: DM_ERR_INVALID_ARGUMENT. Names may repeat, as
 * transformers allows (and as a file read may have them; label2id then keeps
 * the last id). At most 65536 labels (DM_ERR_RANGE), also when reading. */
dm_status dmi_bert_config_set_labels(dmi_bert_config *cfg, const char *const *names, size_t n);

void dmi_bert_config_free(dmi_bert_config *cfg);

#endif
