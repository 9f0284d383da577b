/*
 * config.c — a BERT config.json: parsing with a message per bad field,
 * writing back as Hugging Face's BertConfig.save_pretrained does (indent 2,
 * sorted keys, ASCII escapes, a final newline) with the unknown fields kept.
 * The rules are in config.h.
 */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes are stored in size_t but the model indexes with 32-bit ints. */
#define DMI_CONFIG_MAX_SIZE INT32_MAX
/* More labels than this is a mistake (e.g. a vocabulary given as labels), and
 * 65536 label strings already make a 2 MB config.json. */
#define DMI_CONFIG_MAX_LABELS 65536

/* ------------------------------------------------------------ diagnostics */

/* V as compact JSON for a message ("twelve" keeps its quotes), cut to about
 * 60 bytes at a UTF-8 boundary. */
static void render_found(const json_t *v, char *buf, size_t cap)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        snprintf(buf, cap, "(a value)");
        return;
    }
    size_t n = strlen(text), max = cap > 64 ? 60 : cap - 4;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
        snprintf(buf, cap, "%.*s...", (int)n, text);
    } else {
        snprintf(buf, cap, "%s", text);
    }
    free(text);
}

static dm_status wrong_type(const char *file, const char *key, const char *expected, const json_t *v)
{
    char found[80];
    render_found(v, found, sizeof found);
    return dmi_fail(DM_ERR_PARSE, "%s: field '%s' must be %s, found %s", file, key, expected, found);
}

/* -------------------------------------------------------------- readers */

static dm_status positive_size(const char *file, const char *key, const json_t *v, size_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0) return wrong_type(file, key, "a positive integer", v);
    if (json_integer_value(v) > DMI_CONFIG_MAX_SIZE)
        return dmi_fail(DM_ERR_RANGE, "%s: field '%s' is %lld, above the supported maximum %d", file, key,
                        (long long)json_integer_value(v), DMI_CONFIG_MAX_SIZE);
    *out = (size_t)json_integer_value(v);
    return DM_OK;
}

static dm_status required_size(const char *file, json_t *root, const char *key, size_t *out)
{
    json_t *v = json_object_get(root, key);
    if (!v) return dmi_fail(DM_ERR_NOT_FOUND, "%s: missing required field '%s'", file, key);
    return positive_size(file, key, v, out);
}

static dm_status optional_size(const char *file, json_t *root, const char *key, size_t fallback, size_t *out)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        *out = fallback;
        return DM_OK;
    }
    return positive_size(file, key, v, out);
}

typedef enum real_kind { REAL_POSITIVE, REAL_NON_NEGATIVE, REAL_PROBABILITY } real_kind;

static bool real_ok(double x, real_kind kind)
{
    if (!isfinite(x)) return false;
    switch (kind) {
    case REAL_POSITIVE: return x > 0;
    case REAL_NON_NEGATIVE: return x >= 0;
    case REAL_PROBABILITY: return x >= 0 && x <= 1;
    }
    return false;
}

static const char *real_kind_text(real_kind kind)
{
    switch (kind) {
    case REAL_POSITIVE: return "a positive number";
    case REAL_NON_NEGATIVE: return "a non-negative number";
    case REAL_PROBABILITY: return "a number from 0 to 1";
    }
    return "a number";
}

/* A number (JSON integer or real) of KIND, FALLBACK when absent. With
 * NULL_AS (not NULL), null is accepted and gives *NULL_AS. */
static dm_status optional_real(const char *file, json_t *root, const char *key, double fallback, real_kind kind,
                               const double *null_as, double *out)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        *out = fallback;
        return DM_OK;
    }
    if (json_is_null(v) && null_as) {
        *out = *null_as;
        return DM_OK;
    }
    if (!json_is_number(v) || !real_ok(json_number_value(v), kind))
        return wrong_type(file, key, null_as ? "null or a number from 0 to 1" : real_kind_text(kind), v);
    *out = json_number_value(v);
    return DM_OK;
}

/* A string field that, when present, must equal ONLY (which we support);
 * NULL_OK accepts null as absent. */
static dm_status only_value(const char *file, json_t *root, const char *key, const char *only, bool null_ok)
{
    json_t *v = json_object_get(root, key);
    if (!v || (null_ok && json_is_null(v))) return DM_OK;
    if (!json_is_string(v)) return wrong_type(file, key, null_ok ? "null or a string" : "a string", v);
    if (strcmp(json_string_value(v), only) != 0)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: %s '%s' is not supported (only '%s')", file, key,
                        json_string_value(v), only);
    return DM_OK;
}

static dm_status read_architectures(const char *file, json_t *root, bool *is_classifier)
{
    json_t *v = json_object_get(root, "architectures");
    *is_classifier = false;
    if (!v || json_is_null(v)) return DM_OK;
    if (!json_is_array(v)) return wrong_type(file, "architectures", "an array of strings", v);
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a) {
        if (!json_is_string(a)) return wrong_type(file, "architectures", "an array of strings", v);
        if (strncmp(json_string_value(a), "Bert", 4) != 0)
            return dmi_fail(DM_ERR_UNSUPPORTED,
                            "%s: architectures '%s' is not supported (only Bert* models: BertModel, "
                            "BertForSequenceClassification, ...)", file, json_string_value(a));
    }
    *is_classifier = json_array_size(v) > 0 &&
                     strcmp(json_string_value(json_array_get(v, 0)), "BertForSequenceClassification") == 0;
    return DM_OK;
}

static dm_status read_pad_token_id(const char *file, json_t *root, int64_t *out)
{
    json_t *v = json_object_get(root, "pad_token_id");
    *out = 0;
    if (!v) return DM_OK;
    if (json_is_null(v)) {
        *out = -1; /* no padding token */
        return DM_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return wrong_type(file, "pad_token_id", "null or a non-negative integer", v);
    *out = (int64_t)json_integer_value(v);
    return DM_OK;
}

/* ---------------------------------------------------------------- labels */

static void free_labels(char **labels, size_t n)
{
    if (!labels) return;
    for (size_t i = 0; i < n; i++) free(labels[i]);
    free(labels);
}

static char *default_label(size_t i)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "LABEL_%zu", i);
    return dmi_strndup(buf, (size_t)n);
}

/* "LABEL_0".."LABEL_{n-1}". */
static dm_status default_labels(size_t n, char ***out)
{
    char **labels = dmi_calloc(n, sizeof *labels);
    if (!labels) return DM_ERR_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        labels[i] = default_label(i);
        if (!labels[i]) {
            free_labels(labels, i);
            return DM_ERR_NO_MEMORY;
        }
    }
    *out = labels;
    return DM_OK;
}

/* KEY as an id below N, written as Python's str(int) writes it: "0", or
 * digits without a leading zero. */
static bool label_id_from_key(const char *key, size_t n, size_t *id)
{
    if (key[0] == '\0' || (key[0] == '0' && key[1] != '\0')) return false;
    size_t v = 0;
    for (const char *p = key; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (size_t)(*p - '0');
        if (v >= n) return false; /* also stops before overflow */
    }
    *id = v;
    return true;
}

static dm_status labels_from_id2label(const char *file, json_t *id2label, char ***out, size_t *n_out)
{
    size_t n = json_object_size(id2label);
    if (n == 0) return DM_OK;
    if (n > DMI_CONFIG_MAX_LABELS)
        return dmi_fail(DM_ERR_RANGE, "%s: id2label has %zu labels, more than the %d supported", file, n,
                        DMI_CONFIG_MAX_LABELS);
    char **labels = dmi_calloc(n, sizeof *labels);
    if (!labels) return DM_ERR_NO_MEMORY;
    dm_status st = DM_OK;
    const char *key;
    json_t *v;
    json_object_foreach(id2label, key, v) {
        size_t id;
        char found[80];
        if (!label_id_from_key(key, n, &id) || labels[id]) {
            st = dmi_fail(DM_ERR_PARSE, "%s: id2label keys must be \"0\" to \"%zu\" (one per label), found \"%s\"",
                          file, n - 1, key);
            break;
        }
        if (!json_is_string(v)) {
            render_found(v, found, sizeof found);
            st = dmi_fail(DM_ERR_PARSE, "%s: id2label[\"%s\"] must be a string, found %s", file, key, found);
            break;
        }
        labels[id] = dmi_strndup(json_string_value(v), json_string_length(v));
        if (!labels[id]) {
            st = DM_ERR_NO_MEMORY;
            break;
        }
    }
    if (st) {
        free_labels(labels, n);
        return st;
    }
    *out = labels;
    *n_out = n;
    return DM_OK;
}

/* label2id must not contradict id2label: a name of both must have the same
 * id in each (else which id predicts it?). Its other names are ignored:
 * files in the wild often keep transformers' LABEL_i there after renaming
 * id2label, and label2id is rebuilt from the labels when saving. The names
 * are looked up in a hash (a jansson object of name -> first id): a config
 * may carry 65536 labels in both maps, and a scan per name was quadratic. */
static dm_status check_label2id(const char *file, json_t *label2id, char *const *labels, size_t n)
{
    json_t *first_id = json_object();
    if (!first_id) return DM_ERR_NO_MEMORY;
    dm_status st = DM_OK;
    for (size_t i = 0; i < n && !st; i++)
        if (!json_object_get(first_id, labels[i]) && json_object_set_new(first_id, labels[i], json_integer((json_int_t)i)))
            st = DM_ERR_NO_MEMORY;
    const char *name;
    json_t *v;
    json_object_foreach(label2id, name, v) {
        if (st) break;
        json_t *first = json_object_get(first_id, name);
        if (!first) continue;
        /* A repeated name (transformers allows them) may map to any of its ids. */
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id >= 0 && (size_t)id < n && strcmp(labels[id], name) == 0) continue;
        char found[64];
        if (json_is_integer(v)) snprintf(found, sizeof found, "%lld", (long long)id);
        else snprintf(found, sizeof found, "a %s", json_is_string(v) ? "string" : "non-integer");
        st = dmi_fail(DM_ERR_PARSE, "%s: label2id[\"%s\"] is %s but id2label gives \"%s\" the id %lld: "
                      "the two maps disagree on which output is '%s'", file, name, found, name,
                      (long long)json_integer_value(first), name);
    }
    json_decref(first_id);
    return st;
}

/* id2label wins; else num_labels names LABEL_i; else no labels. label2id is
 * checked against id2label (check_label2id), then rebuilt when saving. */
static dm_status read_labels(const char *file, json_t *root, dmi_bert_config *cfg)
{
    json_t *id2label = json_object_get(root, "id2label");
    json_t *label2id = json_object_get(root, "label2id");
    json_t *num = json_object_get(root, "num_labels");
    if (label2id && !json_is_null(label2id) && !json_is_object(label2id))
        return wrong_type(file, "label2id", "an object", label2id);
    size_t n_num = 0;
    if (num && !json_is_null(num)) {
        if (!json_is_integer(num) || json_integer_value(num) < 0)
            return wrong_type(file, "num_labels", "a non-negative integer", num);
        if (json_integer_value(num) > DMI_CONFIG_MAX_LABELS)
            return dmi_fail(DM_ERR_RANGE, "%s: num_labels %lld is more than the %d supported", file,
                            (long long)json_integer_value(num), DMI_CONFIG_MAX_LABELS);
        n_num = (size_t)json_integer_value(num);
    }
    if (id2label && !json_is_null(id2label)) {
        if (!json_is_object(id2label)) return wrong_type(file, "id2label", "an object of \"id\": name", id2label);
        dm_status st = labels_from_id2label(file, id2label, &cfg->labels, &cfg->n_labels);
        if (!st && json_is_object(label2id)) st = check_label2id(file, label2id, cfg->labels, cfg->n_labels);
        return st;
    }
    if (n_num == 0) return DM_OK;
    dm_status st = default_labels(n_num, &cfg->labels);
    if (!st) cfg->n_labels = n_num;
    return st;
}

/* ------------------------------------------------------------------ parse */

/* The constraints between fields and on every value, for a parsed config
 * (STATUS DM_ERR_PARSE) or one about to be written (DM_ERR_INVALID_ARGUMENT). */
static dm_status check_values(const dmi_bert_config *c, const char *file, dm_status status)
{
    const struct {
        const char *key;
        size_t v;
    } sizes[] = {
        {"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size}, {"num_hidden_layers", c->num_layers},
        {"num_attention_heads", c->num_heads}, {"intermediate_size", c->intermediate_size},
        {"max_position_embeddings", c->max_position}, {"type_vocab_size", c->type_vocab_size},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].v == 0 || sizes[i].v > DMI_CONFIG_MAX_SIZE)
            return dmi_fail(status, "%s: %s %zu is not from 1 to %d", file, sizes[i].key, sizes[i].v,
                            DMI_CONFIG_MAX_SIZE);
    if (c->hidden_size % c->num_heads != 0)
        return dmi_fail(status, "%s: hidden_size %zu is not divisible by num_attention_heads %zu", file,
                        c->hidden_size, c->num_heads);
    if (c->pad_token_id >= (int64_t)c->vocab_size)
        return dmi_fail(status, "%s: pad_token_id %lld is not below vocab_size %zu", file, (long long)c->pad_token_id,
                        c->vocab_size);
    const struct {
        const char *key;
        double v;
        real_kind kind;
    } reals[] = {
        {"layer_norm_eps", c->layer_norm_eps, REAL_POSITIVE},
        {"hidden_dropout_prob", c->hidden_dropout, REAL_PROBABILITY},
        {"attention_probs_dropout_prob", c->attention_dropout, REAL_PROBABILITY},
        {"classifier_dropout", c->classifier_dropout < 0 ? 0 : c->classifier_dropout, REAL_PROBABILITY},
        {"initializer_range", c->initializer_range, REAL_NON_NEGATIVE},
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (!real_ok(reals[i].v, reals[i].kind))
            return dmi_fail(status, "%s: %s %g is not %s", file, reals[i].key, reals[i].v,
                            real_kind_text(reals[i].kind));
    if (c->n_labels > DMI_CONFIG_MAX_LABELS || (c->n_labels && !c->labels))
        return dmi_fail(status, "%s: %zu labels: more than %d, or no names", file, c->n_labels,
                        DMI_CONFIG_MAX_LABELS);
    for (size_t i = 0; i < c->n_labels; i++)
        if (!c->labels[i]) return dmi_fail(status, "%s: label %zu has no name", file, i);
    return DM_OK;
}

static dm_status read_fields(const char *file, json_t *root, dmi_bert_config *c)
{
    /* What the file is comes first: a GPT-2 config should not be reported
     * as a BERT config missing hidden_size. */
    dm_status st = only_value(file, root, "model_type", "bert", false);
    if (!st) st = read_architectures(file, root, &c->is_classifier);
    if (!st) st = required_size(file, root, "vocab_size", &c->vocab_size);
    if (!st) st = required_size(file, root, "hidden_size", &c->hidden_size);
    if (!st) st = required_size(file, root, "num_hidden_layers", &c->num_layers);
    if (!st) st = required_size(file, root, "num_attention_heads", &c->num_heads);
    if (!st) st = required_size(file, root, "intermediate_size", &c->intermediate_size);
    if (!st) st = required_size(file, root, "max_position_embeddings", &c->max_position);
    if (!st) st = optional_size(file, root, "type_vocab_size", 2, &c->type_vocab_size);
    if (!st) st = only_value(file, root, "hidden_act", "gelu", false);
    if (!st) st = only_value(file, root, "position_embedding_type", "absolute", false);
    if (!st) st = only_value(file, root, "problem_type", "single_label_classification", true);
    const double null_dropout = -1;
    if (!st) st = optional_real(file, root, "layer_norm_eps", 1e-12, REAL_POSITIVE, NULL, &c->layer_norm_eps);
    if (!st) st = optional_real(file, root, "hidden_dropout_prob", 0.1, REAL_PROBABILITY, NULL, &c->hidden_dropout);
    if (!st)
        st = optional_real(file, root, "attention_probs_dropout_prob", 0.1, REAL_PROBABILITY, NULL,
                           &c->attention_dropout);
    if (!st)
        st = optional_real(file, root, "classifier_dropout", null_dropout, REAL_PROBABILITY, &null_dropout,
                           &c->classifier_dropout);
    if (!st)
        st = optional_real(file, root, "initializer_range", 0.02, REAL_NON_NEGATIVE, NULL, &c->initializer_range);
    if (!st) st = read_pad_token_id(file, root, &c->pad_token_id);
    if (!st) st = read_labels(file, root, c);
    if (!st) st = check_values(c, file, DM_ERR_PARSE);
    return st;
}

dm_status dmi_bert_config_parse(const char *json, size_t len, const char *name, dmi_bert_config *cfg)
{
    if (!cfg || (!json && len)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_bert_config_parse: NULL argument");
    memset(cfg, 0, sizeof *cfg);
    const char *file = name ? name : "config.json";
    json_error_t err;
    json_t *root = json_loadb(json ? json : "", len, 0, &err);
    if (!root)
        return dmi_fail(DM_ERR_PARSE, "%s: invalid JSON at line %d, column %d (byte %d): %s", file, err.line,
                        err.column, err.position, err.text);
    if (!json_is_object(root)) {
        char found[80];
        render_found(root, found, sizeof found);
        json_decref(root);
        return dmi_fail(DM_ERR_PARSE, "%s: expected a JSON object at the top level, found %s", file, found);
    }
    dm_status st = read_fields(file, root, cfg);
    if (st) {
        free_labels(cfg->labels, cfg->n_labels);
        memset(cfg, 0, sizeof *cfg);
        json_decref(root);
        return st;
    }
    cfg->raw = root;
    return DM_OK;
}

dm_status dmi_bert_config_load(const char *path, dmi_bert_config *cfg)
{
    if (!path || !cfg) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_bert_config_load: NULL argument");
    memset(cfg, 0, sizeof *cfg);
    char *text;
    size_t len;
    dm_status st = dmi_read_file(path, &text, &len);
    if (st) return st;
    st = dmi_bert_config_parse(text, len, path, cfg);
    free(text);
    return st;
}

/* ------------------------------------------------------------------ write */

/* Every real in V printed with %.{P}g reads back as the same double. */
static bool reals_round_trip(const json_t *v, int p)
{
    if (json_is_real(v)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.*g", p, json_real_value(v));
        return strtod(buf, NULL) == json_real_value(v);
    }
    size_t i;
    const char *key;
    json_t *child;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if (!reals_round_trip(child, p)) return false;
        }
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child) {
            if (!reals_round_trip(child, p)) return false;
        }
    }
    return true;
}

/* The fewest significant digits with which every real of ROOT survives a
 * round trip: 1e-12 and 0.1 are written so, as Python writes them, instead
 * of Jansson's default 17 digits (9.9999999999999998e-13). Jansson has one
 * precision per document, hence the search. */
static int shortest_real_precision(const json_t *root)
{
    for (int p = 1; p < 17; p++)
        if (reals_round_trip(root, p)) return p;
    return 17;
}

static int set_size(json_t *o, const char *key, size_t v) { return json_object_set_new(o, key, json_integer((json_int_t)v)); }

static int set_label_fields(json_t *o, const dmi_bert_config *c)
{
    json_t *id2label = json_object(), *label2id = json_object();
    int bad = !id2label || !label2id;
    for (size_t i = 0; i < c->n_labels && !bad; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        bad |= json_object_set_new(id2label, key, json_string(c->labels[i])) != 0;
        bad |= json_object_set_new(label2id, c->labels[i], json_integer((json_int_t)i)) != 0;
    }
    bad |= json_object_set_new(o, "id2label", id2label) != 0;
    bad |= json_object_set_new(o, "label2id", label2id) != 0;
    bad |= json_object_set_new(o, "num_labels", json_integer((json_int_t)c->n_labels)) != 0;
    bad |= json_object_set_new(o, "problem_type", json_string("single_label_classification")) != 0;
    bad |= json_object_set_new(o, "architectures", json_pack("[s]", "BertForSequenceClassification")) != 0;
    return bad;
}

/* Without labels the file is a plain encoder's: no label fields (they would
 * give labels back on reading), architectures kept or BertModel. */
static int drop_label_fields(json_t *o)
{
    json_object_del(o, "id2label");
    json_object_del(o, "label2id");
    json_object_del(o, "num_labels");
    json_t *arch = json_object_get(o, "architectures");
    if (json_is_array(arch) && json_array_size(arch) > 0) return 0;
    return json_object_set_new(o, "architectures", json_pack("[s]", "BertModel")) != 0;
}

static int set_model_fields(json_t *o, const dmi_bert_config *c)
{
    int bad = json_object_set_new(o, "model_type", json_string("bert")) != 0;
    bad |= set_size(o, "vocab_size", c->vocab_size);
    bad |= set_size(o, "hidden_size", c->hidden_size);
    bad |= set_size(o, "num_hidden_layers", c->num_layers);
    bad |= set_size(o, "num_attention_heads", c->num_heads);
    bad |= set_size(o, "intermediate_size", c->intermediate_size);
    bad |= set_size(o, "max_position_embeddings", c->max_position);
    bad |= set_size(o, "type_vocab_size", c->type_vocab_size);
    bad |= json_object_set_new(o, "hidden_act", json_string("gelu"));
    bad |= json_object_set_new(o, "position_embedding_type", json_string("absolute"));
    bad |= json_object_set_new(o, "layer_norm_eps", json_real(c->layer_norm_eps));
    bad |= json_object_set_new(o, "hidden_dropout_prob", json_real(c->hidden_dropout));
    bad |= json_object_set_new(o, "attention_probs_dropout_prob", json_real(c->attention_dropout));
    bad |= json_object_set_new(o, "classifier_dropout",
                               c->classifier_dropout < 0 ? json_null() : json_real(c->classifier_dropout));
    bad |= json_object_set_new(o, "initializer_range", json_real(c->initializer_range));
    bad |= json_object_set_new(o, "pad_token_id",
                               c->pad_token_id < 0 ? json_null() : json_integer((json_int_t)c->pad_token_id));
    return bad;
}

dm_status dmi_bert_config_to_json(const dmi_bert_config *cfg, char **text, size_t *len)
{
    if (!cfg || !text || !len) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_bert_config_to_json: NULL argument");
    dm_status st = check_values(cfg, "config", DM_ERR_INVALID_ARGUMENT);
    if (st) return st;
    json_t *root = json_is_object((json_t *)cfg->raw) ? json_deep_copy(cfg->raw) : json_object();
    if (!root) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory building config.json");
    int bad = set_model_fields(root, cfg);
    bad |= cfg->n_labels ? set_label_fields(root, cfg) : drop_label_fields(root);
    if (bad) {
        json_decref(root);
        /* Jansson refuses only invalid UTF-8 (a label name) or fails to allocate. */
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "config: cannot build the JSON (a label name is not valid UTF-8, "
                                                 "or out of memory)");
    }
    /* Sorted keys, indent 2, \u escapes and a final newline: what
     * transformers' to_json_string writes. */
    size_t flags = JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
                   JSON_REAL_PRECISION(shortest_real_precision(root));
    char *body = json_dumps(root, flags);
    json_decref(root);
    if (!body) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory writing config.json");
    size_t n = strlen(body);
    char *out = dmi_realloc(body, n + 2);
    if (!out) {
        free(body);
        return DM_ERR_NO_MEMORY;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *text = out;
    *len = n + 1;
    return DM_OK;
}

dm_status dmi_bert_config_save(const dmi_bert_config *cfg, const char *path)
{
    if (!cfg || !path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_bert_config_save: NULL argument");
    char *text;
    size_t len;
    dm_status st = dmi_bert_config_to_json(cfg, &text, &len);
    if (st) return dmi_fail_prefix(st, "%s", path);
    st = dmi_write_file_atomic(path, text, len);
    free(text);
    return st;
}

/* -------------------------------------------------------------- labels */

/* Names may repeat, as transformers allows (label2id then keeps the last id):
 * a config read from a file must be able to take its own labels back. */
dm_status dmi_bert_config_set_labels(dmi_bert_config *cfg, const char *const *names, size_t n)
{
    if (!cfg) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_bert_config_set_labels: NULL argument");
    if (n > DMI_CONFIG_MAX_LABELS)
        return dmi_fail(DM_ERR_RANGE, "%zu labels: more than the %d supported", n, DMI_CONFIG_MAX_LABELS);
    char **labels = n ? dmi_calloc(n, sizeof *labels) : NULL;
    dm_status st = n && !labels ? DM_ERR_NO_MEMORY : DM_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const char *name = names ? names[i] : NULL;
        labels[i] = name ? dmi_strndup(name, strlen(name)) : default_label(i);
        if (!labels[i]) {
            st = DM_ERR_NO_MEMORY;
            break;
        }
        /* config.json must hold it: Jansson refuses invalid UTF-8. */
        json_t *probe = json_string(labels[i]);
        if (!probe) st = dmi_fail(DM_ERR_INVALID_ARGUMENT, "label %zu is not valid UTF-8", i);
        json_decref(probe);
    }
    if (st) {
        free_labels(labels, n);
        return st;
    }
    free_labels(cfg->labels, cfg->n_labels);
    cfg->labels = labels;
    cfg->n_labels = n;
    return DM_OK;
}

void dmi_bert_config_free(dmi_bert_config *cfg)
{
    if (!cfg) return;
    free_labels(cfg->labels, cfg->n_labels);
    json_decref(cfg->raw);
    memset(cfg, 0, sizeof *cfg);
}
