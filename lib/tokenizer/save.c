/*
 * save.c — writes a tokenizer as a Hugging Face folder: vocab.txt,
 * tokenizer.json (loadable by `tokenizers` and transformers) and
 * tokenizer_config.json. Each file is written atomically.
 */
#include "tokenizer_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static dm_status save_json(json_t *root, const char *dir, const char *file)
{
    if (!root) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory building %s", file);
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory writing %s", file);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len = strlen(text);
    text[len] = '\0';
    dm_status st = dmi_write_file_atomic(path, text, len);
    free(text);
    return st;
}

static dm_status save_vocab_txt(const dm_tokenizer *t, const char *dir)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
        if (!t->tokens[i])
            return dmi_fail(DM_ERR_UNSUPPORTED, "id %zu has no token: vocab.txt cannot express gaps in ids", i);
        total += t->token_lens[i] + 1;
    }
    char *buf = dmi_malloc(total + 1);
    if (!buf) return DM_ERR_NO_MEMORY;
    size_t at = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
        memcpy(buf + at, t->tokens[i], t->token_lens[i]);
        at += t->token_lens[i];
        buf[at++] = '\n';
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    dm_status st = dmi_write_file_atomic(path, buf, at);
    free(buf);
    return st;
}

static json_t *string_n(const char *s, size_t n) { return json_stringn(s, n); }

static json_t *added_tokens_json(const dm_tokenizer *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->n_added; i++) {
        const dmi_added_token *a = &t->added[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(a->id));
        json_object_set_new(o, "content", string_n(a->content, a->len));
        json_object_set_new(o, "single_word", json_boolean(a->single_word));
        json_object_set_new(o, "lstrip", json_boolean(a->lstrip));
        json_object_set_new(o, "rstrip", json_boolean(a->rstrip));
        json_object_set_new(o, "normalized", json_false());
        json_object_set_new(o, "special", json_boolean(a->special));
        json_array_append_new(arr, o);
    }
    return arr;
}

static json_t *template_json(const dm_tokenizer *t, const dmi_template *tp, json_t *specials)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < tp->n; i++) {
        const dmi_template_item *it = &tp->items[i];
        json_t *body = json_object(), *item = json_object();
        if (it->id >= 0) {
            const char *name = t->tokens[it->id];
            json_object_set_new(body, "id", json_string(name));
            json_t *entry = json_object();
            json_object_set_new(entry, "id", json_string(name));
            json_object_set_new(entry, "ids", json_pack("[i]", it->id));
            json_object_set_new(entry, "tokens", json_pack("[s]", name));
            json_object_set_new(specials, name, entry);
        } else {
            json_object_set_new(body, "id", json_string(it->id == -1 ? "A" : "B"));
        }
        json_object_set_new(body, "type_id", json_integer(it->type_id));
        json_object_set_new(item, it->id >= 0 ? "SpecialToken" : "Sequence", body);
        json_array_append_new(arr, item);
    }
    return arr;
}

static json_t *model_json(const dm_tokenizer *t)
{
    json_t *vocab = json_object();
    for (size_t i = 0; i < t->n_ids; i++)
        json_object_setn_new_nocheck(vocab, t->tokens[i], t->token_lens[i], json_integer((json_int_t)i));
    json_t *m = json_object();
    json_object_set_new(m, "type", json_string("WordPiece"));
    json_object_set_new(m, "unk_token", json_string(t->unk_token));
    json_object_set_new(m, "continuing_subword_prefix", json_string(t->prefix));
    json_object_set_new(m, "max_input_chars_per_word", json_integer((json_int_t)t->max_input_chars_per_word));
    json_object_set_new(m, "vocab", vocab);
    return m;
}

static json_t *tokenizer_json(const dm_tokenizer *t)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_object_set_new(root, "added_tokens", added_tokens_json(t));
    json_object_set_new(root, "normalizer",
                        json_pack("{s:s, s:b, s:b, s:b, s:b}", "type", "BertNormalizer", "clean_text",
                                  t->norm.clean_text, "handle_chinese_chars", t->norm.handle_chinese_chars,
                                  "strip_accents", t->norm.strip_accents, "lowercase", t->norm.lowercase));
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s}", "type", "BertPreTokenizer"));
    json_t *specials = json_object(), *pp = json_object();
    json_object_set_new(pp, "type", json_string("TemplateProcessing"));
    json_object_set_new(pp, "single", template_json(t, &t->single, specials));
    json_object_set_new(pp, "pair", template_json(t, &t->pair, specials));
    json_object_set_new(pp, "special_tokens", specials);
    json_object_set_new(root, "post_processor", pp);
    if (t->has_decoder)
        json_object_set_new(root, "decoder", json_pack("{s:s, s:s, s:b}", "type", "WordPiece", "prefix",
                                                       t->decoder_prefix ? t->decoder_prefix : "##", "cleanup",
                                                       t->decoder_cleanup));
    else
        json_object_set_new(root, "decoder", json_null());
    json_object_set_new(root, "model", model_json(t));
    return root;
}

static json_t *config_json(const dm_tokenizer *t)
{
    static const char *const keys[5] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"};
    json_t *c = json_object();
    json_object_set_new(c, "do_lower_case", json_boolean(t->norm.lowercase));
    json_object_set_new(c, "strip_accents", json_boolean(t->norm.strip_accents));
    json_object_set_new(c, "tokenize_chinese_chars", json_boolean(t->norm.handle_chinese_chars));
    for (int i = 0; i < 5; i++)
        if (t->special_ids[i] >= 0) json_object_set_new(c, keys[i], json_string(t->tokens[t->special_ids[i]]));
    json_object_set_new(c, "tokenizer_class", json_string("BertTokenizer"));
    return c;
}

DM_API dm_status dm_tokenizer_save(const dm_tokenizer *t, const char *dir)
{
    if (!t || !dir) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_save: NULL tokenizer or folder");
    dm_status st = dmi_make_dirs(dir);
    if (!st) st = save_vocab_txt(t, dir);
    if (!st) st = save_json(tokenizer_json(t), dir, "tokenizer.json");
    if (!st) st = save_json(config_json(t), dir, "tokenizer_config.json");
    return st;
}
