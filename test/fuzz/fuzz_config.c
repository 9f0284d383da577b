/*
 * fuzz_config.c — libFuzzer target: the input is a config.json given to
 * dmi_bert_config_parse. Parsing must fail cleanly (a status and a message,
 * nothing left allocated in the struct) or give values within config.h's
 * rules; such a config is saved to a temporary file and loaded again, which
 * must give the same values and labels (up to 4096 labels: below), and saving that again must give the
 * same text (the output is a fixed point).
 */
#include "fuzz_common.h"
#include "model/config.h"

#include <unistd.h>

/* A temporary file in memory when /dev/shm is there (saving fsyncs). */
static const char *scratch_path(void)
{
    static char path[256];
    if (!path[0]) {
        const char *d = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof path, "%s/dm_fuzz_config.%ld.json", d, (long)getpid());
    }
    return path;
}

static void check_values(const dmi_bert_config *c)
{
    FZ_CHECK(c->vocab_size >= 1 && c->hidden_size >= 1 && c->num_layers >= 1 && c->num_heads >= 1);
    FZ_CHECK(c->intermediate_size >= 1 && c->max_position >= 1 && c->type_vocab_size >= 1);
    FZ_CHECK(c->vocab_size <= INT32_MAX && c->hidden_size <= INT32_MAX && c->intermediate_size <= INT32_MAX);
    FZ_CHECK(c->hidden_size % c->num_heads == 0);
    FZ_CHECK(c->layer_norm_eps > 0 && c->hidden_dropout >= 0 && c->hidden_dropout <= 1);
    FZ_CHECK(c->attention_dropout >= 0 && c->attention_dropout <= 1 && c->classifier_dropout <= 1);
    FZ_CHECK(c->initializer_range >= 0);
    FZ_CHECK(c->pad_token_id >= -1 && c->pad_token_id < (int64_t)c->vocab_size);
    FZ_CHECK(c->raw != NULL);
    FZ_CHECK((c->n_labels == 0) == (c->labels == NULL));
    for (size_t i = 0; i < c->n_labels; i++) FZ_CHECK(c->labels[i] != NULL);
}

static void check_same(const dmi_bert_config *a, const dmi_bert_config *b)
{
    FZ_CHECK(a->vocab_size == b->vocab_size && a->hidden_size == b->hidden_size && a->num_layers == b->num_layers);
    FZ_CHECK(a->num_heads == b->num_heads && a->intermediate_size == b->intermediate_size);
    FZ_CHECK(a->max_position == b->max_position && a->type_vocab_size == b->type_vocab_size);
    FZ_CHECK(a->layer_norm_eps == b->layer_norm_eps && a->hidden_dropout == b->hidden_dropout);
    FZ_CHECK(a->attention_dropout == b->attention_dropout && a->classifier_dropout == b->classifier_dropout);
    FZ_CHECK(a->initializer_range == b->initializer_range && a->pad_token_id == b->pad_token_id);
    FZ_CHECK(a->n_labels == b->n_labels);
    for (size_t i = 0; i < a->n_labels; i++) FZ_CHECK(strcmp(a->labels[i], b->labels[i]) == 0);
    /* Saved with labels, a config is a classifier; without, architectures is kept. */
    FZ_CHECK(b->is_classifier == (a->n_labels > 0 ? true : a->is_classifier));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmi_bert_config c;
    dm_status s = dmi_bert_config_parse((const char *)data, size, "config.json", &c);
    if (s != DM_OK) {
        fz_check_failure(s);
        FZ_CHECK(s == DM_ERR_PARSE || s == DM_ERR_NOT_FOUND || s == DM_ERR_UNSUPPORTED || s == DM_ERR_RANGE ||
                 s == DM_ERR_NO_MEMORY);
        FZ_CHECK(c.raw == NULL && c.labels == NULL && c.n_labels == 0);
        return 0;
    }
    check_values(&c);
    /* The round trip below writes and parses both label maps: at 65536
     * labels that takes seconds under ASan, past libFuzzer's timeout on a
     * loaded machine. test_config.c round-trips the largest config; here the
     * parse is checked at every size and the round trip up to 4096 labels. */
    if (c.n_labels > 4096) {
        dmi_bert_config_free(&c);
        return 0;
    }

    const char *path = scratch_path();
    FZ_CHECK(dmi_bert_config_save(&c, path) == DM_OK);
    dmi_bert_config back;
    FZ_CHECK(dmi_bert_config_load(path, &back) == DM_OK);
    unlink(path);
    check_values(&back);
    check_same(&c, &back);

    char *first = NULL, *second = NULL;
    size_t first_len = 0, second_len = 0;
    FZ_CHECK(dmi_bert_config_to_json(&c, &first, &first_len) == DM_OK);
    FZ_CHECK(dmi_bert_config_to_json(&back, &second, &second_len) == DM_OK);
    FZ_CHECK(first_len == second_len && memcmp(first, second, first_len) == 0);
    free(first);
    free(second);
    dmi_bert_config_free(&back);
    dmi_bert_config_free(&c);
    return 0;
}
