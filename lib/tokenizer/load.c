/*
 * load.c — building a tokenizer from the files users have: a Hugging Face
 * tokenizer.json, a BERT vocab.txt (with an optional tokenizer_config.json
 * beside it), or a model folder holding either.
 */
#include "tokenizer_internal.h"
#include "../core/utf8.h"
#include "bert_unicode.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

dm_status dmi_template_set(dmi_template *tp, const dmi_template_item *items, size_t n);

static const char *const bert_special_names[5] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"};

DM_API void dm_tokenizer_options_default(dm_tokenizer_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->lowercase = -1;
    o->strip_accents = -1;
}

static dm_status resolve_options(const dm_tokenizer_options *in, dm_tokenizer_options *out)
{
    dm_tokenizer_options_default(out);
    if (!in) return DM_OK;
    dm_status st = dmi_copy_options(out, sizeof *out, in, "dm_tokenizer_options");
    if (st) return st;
    if (out->lowercase < -1 || out->lowercase > 1 || out->strip_accents < -1 || out->strip_accents > 1)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_tokenizer_options: lowercase and strip_accents must be -1, 0 or 1 (got %d, %d)",
                        out->lowercase, out->strip_accents);
    return DM_OK;
}

/* Settings as the files give them; strip_accents -1 = unset (follows lowercase). */
typedef struct file_settings {
    int lowercase, strip_accents, clean_text, handle_chinese_chars;
} file_settings;

static void apply_settings(dm_tokenizer *t, file_settings fs, const dm_tokenizer_options *o)
{
    int lower = o->lowercase >= 0 ? o->lowercase : fs.lowercase;
    int strip = o->strip_accents >= 0 ? o->strip_accents : fs.strip_accents;
    t->norm.lowercase = lower != 0;
    t->norm.strip_accents = strip >= 0 ? strip != 0 : lower != 0;
    t->norm.clean_text = fs.clean_text != 0;
    t->norm.handle_chinese_chars = fs.handle_chinese_chars != 0;
}

/* ---------------------------------------------------------------- vocab.txt */

/* Length of LINE without trailing whitespace (Rust's str::trim_end, as HF's
 * WordPiece::read_file applies to each line). */
static size_t trim_end_len(const char *line, size_t len)
{
    while (len > 0) {
        size_t start = len - 1;
        while (start > 0 && ((uint8_t)line[start] & 0xC0) == 0x80) start--;
        const uint8_t *p = (const uint8_t *)line + start;
        uint32_t cp;
        size_t n = len - start;
        if (n == 1) cp = p[0];
        else if (n == 2) cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
        else if (n == 3) cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        else cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
        if (cp >= 0x110000 || !(dmi_bert_uflags(cp) & DMI_U_SPACE)) break;
        len = start;
    }
    return len;
}

/* Offset of the first invalid UTF-8 byte in S, or LEN when it is valid. */

static dm_status read_vocab_lines(dm_tokenizer *t, const char *text, size_t len, const char *name)
{
    size_t line_no = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *line = text + pos;
        size_t n = end - pos;
        line_no++;
        size_t bad = dmi_utf8_invalid_at(line, n);
        if (bad < n)
            return dmi_fail(DM_ERR_UTF8, "%s: line %zu: invalid UTF-8 at byte %zu of the line (byte 0x%02X)",
                            name, line_no, bad, (unsigned)(uint8_t)line[bad]);
        n = trim_end_len(line, n);
        if (line_no > (size_t)INT32_MAX) return dmi_fail(DM_ERR_RANGE, "%s: too many lines", name);
        dm_status st = dmi_vocab_set(t, (int32_t)(line_no - 1), line, n);
        if (st) return dmi_fail_prefix(st, "%s: line %zu", name, line_no);
        pos = nl ? end + 1 : len;
    }
    if (line_no == 0) return dmi_fail(DM_ERR_PARSE, "%s: the vocabulary file is empty", name);
    return DM_OK;
}

/* Reports a special token that occurs on two lines: ambiguous ids for [CLS],
 * [SEP]... make every encoding suspect, so we refuse rather than pick one. */
static dm_status check_duplicate_special(const dm_tokenizer *t, const char *tok, const char *name)
{
    size_t len = strlen(tok);
    long first = -1;
    for (size_t i = 0; i < t->n_ids; i++) {
        if (t->token_offs[i] == UINT32_MAX || t->token_lens[i] != len) continue;
        if (memcmp(t->pool + t->token_offs[i], tok, len) != 0) continue;
        if (first >= 0)
            return dmi_fail(DM_ERR_PARSE, "%s: special token %s appears twice, on lines %ld and %zu",
                            name, tok, first + 1, i + 1);
        first = (long)i;
    }
    return DM_OK;
}

/* Registers the BERT special tokens NAMES (unk, cls, sep, pad, mask) that the
 * vocabulary has, as HF's BertWordPieceTokenizer does, and the template. */
static dm_status setup_bert_specials(dm_tokenizer *t, const char *const names[5], const char *name,
                                     bool require_template)
{
    for (int i = 0; i < 5; i++) {
        dm_status st = check_duplicate_special(t, names[i], name);
        if (st) return st;
    }
    free(t->unk_token);
    t->unk_token = dmi_strndup(names[DM_SPECIAL_UNK], strlen(names[DM_SPECIAL_UNK]));
    free(t->prefix);
    t->prefix = dmi_strndup("##", 2);
    free(t->decoder_prefix);
    t->decoder_prefix = dmi_strndup("##", 2);
    if (!t->unk_token || !t->prefix || !t->decoder_prefix) return DM_ERR_NO_MEMORY;
    t->prefix_len = 2;
    t->has_decoder = true;
    t->decoder_cleanup = true;
    /* Ids are needed before the maps exist: scan the id table. */
    for (int i = 0; i < 5; i++) {
        size_t len = strlen(names[i]);
        for (size_t id = 0; id < t->n_ids; id++) {
            if (t->token_offs[id] != UINT32_MAX && t->token_lens[id] == len &&
                memcmp(t->pool + t->token_offs[id], names[i], len) == 0) {
                t->special_ids[i] = (int32_t)id;
                dm_status st = dmi_add_added_token(t, names[i], len, (int32_t)id, true, false, false, false);
                if (st) return st;
                break;
            }
        }
    }
    int32_t cls = t->special_ids[DM_SPECIAL_CLS], sep = t->special_ids[DM_SPECIAL_SEP];
    if (require_template || (cls >= 0 && sep >= 0)) return dmi_set_bert_template(t, cls, sep, name);
    dmi_template_item single[] = {{-1, 0}}, pair[] = {{-1, 0}, {-2, 1}};
    dm_status st = dmi_template_set(&t->single, single, 1);
    return st ? st : dmi_template_set(&t->pair, pair, 2);
}

/* A special-token value in tokenizer_config.json: a string or {"content": ...}. */
static const char *config_token(json_t *cfg, const char *key, const char *fallback)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : fallback;
}

static int config_bool(json_t *cfg, const char *key, int fallback)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_boolean(v)) return json_is_true(v);
    return fallback;
}

static dm_status parse_json(const char *text, size_t len, const char *name, json_t **out)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!root)
        return dmi_fail(DM_ERR_PARSE, "%s: invalid JSON at line %d, column %d (byte %d): %s", name,
                        err.line, err.column, err.position, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return dmi_fail(DM_ERR_PARSE, "%s: expected a JSON object at the top level", name);
    }
    *out = root;
    return DM_OK;
}

static dm_status load_vocab_text(const char *text, size_t len, const char *name, json_t *config,
                                 const dm_tokenizer_options *o, dm_tokenizer **out)
{
    dm_tokenizer *t;
    dm_status st = dmi_tokenizer_alloc(&t);
    if (st) return st;
    file_settings fs = {1, -1, 1, 1};
    const char *names[5];
    for (int i = 0; i < 5; i++) names[i] = bert_special_names[i];
    if (config) {
        fs.lowercase = config_bool(config, "do_lower_case", 1);
        fs.strip_accents = config_bool(config, "strip_accents", -1);
        fs.handle_chinese_chars = config_bool(config, "tokenize_chinese_chars", 1);
        static const char *const keys[5] = {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token"};
        for (int i = 0; i < 5; i++) names[i] = config_token(config, keys[i], names[i]);
    }
    apply_settings(t, fs, o);
    st = read_vocab_lines(t, text, len, name);
    if (!st) st = setup_bert_specials(t, names, name, true);
    if (!st) st = dmi_tokenizer_finish(t, name);
    if (st) {
        dm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return DM_OK;
}

DM_API dm_status dm_tokenizer_load_vocab(const char *vocab, size_t len, const dm_tokenizer_options *opts,
                                         dm_tokenizer **out)
{
    if ((!vocab && len) || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_load_vocab: NULL argument");
    dm_tokenizer_options o;
    dm_status st = resolve_options(opts, &o);
    return st ? st : load_vocab_text(vocab ? vocab : "", len, "vocab", NULL, &o, out);
}

/* ----------------------------------------------------------- tokenizer.json */

static dm_status get_bool(json_t *obj, const char *key, int fallback, int *out, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) *out = fallback;
    else if (json_is_boolean(v)) *out = json_is_true(v);
    else return dmi_fail(DM_ERR_PARSE, "%s.%s: expected true, false or null", where, key);
    return DM_OK;
}

static const char *type_of(json_t *obj) { return json_string_value(json_object_get(obj, "type")); }

static dm_status read_normalizer(json_t *norm, file_settings *fs, const char *name)
{
    if (!norm || json_is_null(norm)) {
        *fs = (file_settings){0, 0, 0, 0};
        return DM_OK;
    }
    const char *type = type_of(norm);
    if (!type || strcmp(type, "BertNormalizer") != 0)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: normalizer type \"%s\" is not supported (only BertNormalizer or null)",
                        name, type ? type : "(none)");
    char where[300];
    snprintf(where, sizeof where, "%s: normalizer", name);
    dm_status st = get_bool(norm, "clean_text", 1, &fs->clean_text, where);
    if (!st) st = get_bool(norm, "handle_chinese_chars", 1, &fs->handle_chinese_chars, where);
    if (!st) st = get_bool(norm, "strip_accents", -1, &fs->strip_accents, where);
    if (!st) st = get_bool(norm, "lowercase", 1, &fs->lowercase, where);
    return st;
}

static dm_status read_model(dm_tokenizer *t, json_t *model, const char *name)
{
    const char *type = type_of(model);
    if (!json_is_object(model)) return dmi_fail(DM_ERR_PARSE, "%s: no \"model\" object", name);
    if (type && strcmp(type, "WordPiece") != 0)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (only WordPiece)", name, type);
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return dmi_fail(DM_ERR_PARSE, "%s: model.vocab: expected an object of token -> id", name);
    const char *key;
    size_t key_len;
    json_t *v;
    json_object_keylen_foreach(vocab, key, key_len, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX - 1)
            return dmi_fail(DM_ERR_PARSE, "%s: model.vocab[\"%.*s\"]: expected an id from 0 to %d", name,
                            (int)(key_len > 100 ? 100 : key_len), key, INT32_MAX - 1);
        dm_status st = dmi_vocab_set(t, (int32_t)json_integer_value(v), key, key_len);
        if (st) return dmi_fail_prefix(st, "%s: model.vocab", name);
    }
    json_t *unk = json_object_get(model, "unk_token");
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    json_t *maxc = json_object_get(model, "max_input_chars_per_word");
    if (!json_is_string(unk)) return dmi_fail(DM_ERR_PARSE, "%s: model.unk_token: expected a string", name);
    t->unk_token = dmi_strndup(json_string_value(unk), json_string_length(unk));
    const char *p = json_is_string(prefix) ? json_string_value(prefix) : "##";
    t->prefix = dmi_strndup(p, strlen(p));
    if (!t->unk_token || !t->prefix) return DM_ERR_NO_MEMORY;
    t->prefix_len = (uint32_t)strlen(p);
    if (maxc && !json_is_null(maxc)) {
        if (!json_is_integer(maxc) || json_integer_value(maxc) < 0)
            return dmi_fail(DM_ERR_PARSE, "%s: model.max_input_chars_per_word: expected a non-negative integer", name);
        t->max_input_chars_per_word = (size_t)json_integer_value(maxc);
    }
    return DM_OK;
}

static dm_status read_added_tokens(dm_tokenizer *t, json_t *added, const char *name)
{
    if (!added || json_is_null(added)) return DM_OK;
    if (!json_is_array(added)) return dmi_fail(DM_ERR_PARSE, "%s: added_tokens: expected an array", name);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
        if (!json_is_integer(id) || !json_is_string(content) || json_integer_value(id) < 0 ||
            json_integer_value(id) > INT32_MAX - 1)
            return dmi_fail(DM_ERR_PARSE, "%s: added_tokens[%zu]: expected \"id\" (a non-negative integer) and \"content\" (a string)", name, i);
        const char *c = json_string_value(content);
        size_t clen = json_string_length(content);
        int special = 0, lstrip = 0, rstrip = 0, single = 0, normalized = 0;
        char where[300];
        snprintf(where, sizeof where, "%s: added_tokens[%zu]", name, i);
        dm_status st = get_bool(a, "special", 0, &special, where);
        if (!st) st = get_bool(a, "lstrip", 0, &lstrip, where);
        if (!st) st = get_bool(a, "rstrip", 0, &rstrip, where);
        if (!st) st = get_bool(a, "single_word", 0, &single, where);
        if (!st) st = get_bool(a, "normalized", !special, &normalized, where);
        if (st) return st;
        if (normalized)
            return dmi_fail(DM_ERR_UNSUPPORTED, "%s: added token \"%.*s\" has normalized=true; only added tokens "
                            "matched on the raw text (normalized=false) are supported", name,
                            (int)(clen > 100 ? 100 : clen), c);
        int32_t tid = (int32_t)json_integer_value(id);
        /* HF's added vocabulary may extend the model's: give the id its string. */
        if ((size_t)tid >= t->n_ids || t->token_offs[tid] == UINT32_MAX) {
            st = dmi_vocab_set(t, tid, c, clen);
            if (st) return st;
        }
        st = dmi_add_added_token(t, c, clen, tid, special, lstrip, rstrip, single);
        if (st) return dmi_fail_prefix(st, "%s", name);
    }
    return DM_OK;
}

/* The ids of a TemplateProcessing special token, by its name. */
static dm_status template_special_ids(json_t *specials, const char *tok, json_t **ids, const char *name)
{
    json_t *entry = json_object_get(specials, tok);
    *ids = json_object_get(entry, "ids");
    if (!json_is_array(*ids) || json_array_size(*ids) == 0)
        return dmi_fail(DM_ERR_PARSE, "%s: post_processor.special_tokens has no ids for \"%s\"", name, tok);
    return DM_OK;
}

static dm_status read_template_list(dm_tokenizer *t, json_t *list, json_t *specials, dmi_template *out,
                                    const char *what, const char *name)
{
    if (!json_is_array(list)) return dmi_fail(DM_ERR_PARSE, "%s: post_processor.%s: expected an array", name, what);
    dmi_template_item items[64];
    size_t n = 0, i;
    json_t *it;
    json_array_foreach(list, i, it) {
        json_t *sp = json_object_get(it, "SpecialToken"), *sq = json_object_get(it, "Sequence");
        json_t *body = sp ? sp : sq;
        json_t *id = json_object_get(body, "id"), *type = json_object_get(body, "type_id");
        if (!json_is_string(id) || (type && !json_is_integer(type)))
            return dmi_fail(DM_ERR_PARSE, "%s: post_processor.%s[%zu]: expected SpecialToken or Sequence with id and type_id",
                            name, what, i);
        int32_t type_id = type ? (int32_t)json_integer_value(type) : 0;
        if (sq) {
            const char *s = json_string_value(id);
            if (n >= 64) return dmi_fail(DM_ERR_UNSUPPORTED, "%s: post_processor.%s: template too long", name, what);
            if (strcmp(s, "A") != 0 && strcmp(s, "B") != 0)
                return dmi_fail(DM_ERR_PARSE, "%s: post_processor.%s[%zu]: sequence id must be A or B", name, what, i);
            items[n++] = (dmi_template_item){s[0] == 'A' ? -1 : -2, type_id};
            continue;
        }
        json_t *ids;
        dm_status st = template_special_ids(specials, json_string_value(id), &ids, name);
        if (st) return st;
        size_t k;
        json_t *v;
        json_array_foreach(ids, k, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || (size_t)json_integer_value(v) >= t->n_ids ||
                t->token_offs[json_integer_value(v)] == UINT32_MAX)
                return dmi_fail(DM_ERR_PARSE, "%s: post_processor: special token \"%s\" has an id that no token has",
                                name, json_string_value(id));
            if (n >= 64) return dmi_fail(DM_ERR_UNSUPPORTED, "%s: post_processor.%s: template too long", name, what);
            items[n++] = (dmi_template_item){(int32_t)json_integer_value(v), type_id};
        }
    }
    /* HF requires both sequences in the pair template; a sequence used twice
     * (or B in the single template) is legal there but exotic: refused. */
    size_t n_a = 0, n_b = 0;
    for (size_t k = 0; k < n; k++) {
        n_a += items[k].id == -1;
        n_b += items[k].id == -2;
    }
    bool pair = strcmp(what, "pair") == 0;
    if (pair && (n_a == 0 || n_b == 0))
        return dmi_fail(DM_ERR_PARSE, "%s: post_processor.pair must use both sequences A and B", name);
    if (n_a != 1 || n_b != (pair ? 1u : 0u))
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: post_processor.%s uses sequence A %zu times and B %zu times; "
                        "only A once%s is supported", name, what, n_a, n_b, pair ? " and B once" : " (and no B)");
    return dmi_template_set(out, items, n);
}

static dm_status read_post_processor(dm_tokenizer *t, json_t *pp, const char *name)
{
    if (!pp || json_is_null(pp)) {
        dmi_template_item single[] = {{-1, 0}}, pair[] = {{-1, 0}, {-2, 1}};
        dm_status st = dmi_template_set(&t->single, single, 1);
        return st ? st : dmi_template_set(&t->pair, pair, 2);
    }
    const char *type = type_of(pp);
    if (type && strcmp(type, "TemplateProcessing") == 0) {
        json_t *specials = json_object_get(pp, "special_tokens");
        dm_status st = read_template_list(t, json_object_get(pp, "single"), specials, &t->single, "single", name);
        if (!st) st = read_template_list(t, json_object_get(pp, "pair"), specials, &t->pair, "pair", name);
        return st;
    }
    if (type && strcmp(type, "BertProcessing") == 0) {
        json_t *sep = json_object_get(pp, "sep"), *cls = json_object_get(pp, "cls");
        json_t *sep_id = json_array_get(sep, 1), *cls_id = json_array_get(cls, 1);
        if (!json_is_integer(sep_id) || !json_is_integer(cls_id))
            return dmi_fail(DM_ERR_PARSE, "%s: post_processor (BertProcessing): expected \"sep\" and \"cls\" as [token, id]", name);
        int32_t s = (int32_t)json_integer_value(sep_id), c = (int32_t)json_integer_value(cls_id);
        if (s < 0 || c < 0 || (size_t)s >= t->n_ids || (size_t)c >= t->n_ids || t->token_offs[s] == UINT32_MAX ||
            t->token_offs[c] == UINT32_MAX)
            return dmi_fail(DM_ERR_PARSE, "%s: post_processor (BertProcessing): sep or cls id that no token has", name);
        return dmi_set_bert_template(t, c, s, name);
    }
    return dmi_fail(DM_ERR_UNSUPPORTED, "%s: post_processor type \"%s\" is not supported (TemplateProcessing, BertProcessing or null)",
                    name, type ? type : "(none)");
}

static dm_status read_decoder(dm_tokenizer *t, json_t *dec, const char *name)
{
    if (!dec || json_is_null(dec)) return DM_OK;
    const char *type = type_of(dec);
    if (!type || strcmp(type, "WordPiece") != 0)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: decoder type \"%s\" is not supported (only WordPiece or null)",
                        name, type ? type : "(none)");
    json_t *prefix = json_object_get(dec, "prefix");
    const char *p = json_is_string(prefix) ? json_string_value(prefix) : "##";
    t->decoder_prefix = dmi_strndup(p, strlen(p));
    if (!t->decoder_prefix) return DM_ERR_NO_MEMORY;
    int cleanup = 1;
    dm_status st = get_bool(dec, "cleanup", 1, &cleanup, "decoder");
    t->decoder_cleanup = cleanup;
    t->has_decoder = true;
    return st;
}

/* Special ids for dm_tokenizer_special_id: by the BERT names, after load. */
static void find_special_ids(dm_tokenizer *t, json_t *root)
{
    for (int i = 1; i < 5; i++) {
        const char *s = bert_special_names[i];
        if (i == DM_SPECIAL_PAD) {
            json_t *pad = json_object_get(json_object_get(root, "padding"), "pad_token");
            if (json_is_string(pad)) s = json_string_value(pad);
        }
        if (t->special_ids[i] < 0) t->special_ids[i] = dmi_token_id(t, s, strlen(s));
    }
    /* CLS/SEP as the template uses them, when it has exactly that shape. */
    if (t->single.n == 3 && t->single.items[0].id >= 0 && t->single.items[2].id >= 0) {
        t->special_ids[DM_SPECIAL_CLS] = t->single.items[0].id;
        t->special_ids[DM_SPECIAL_SEP] = t->single.items[2].id;
    }
}

static dm_status load_json_root(json_t *root, const char *name, const dm_tokenizer_options *o, dm_tokenizer **out)
{
    dm_tokenizer *t;
    dm_status st = dmi_tokenizer_alloc(&t);
    if (st) return st;
    file_settings fs;
    st = read_normalizer(json_object_get(root, "normalizer"), &fs, name);
    if (!st) {
        json_t *pre = json_object_get(root, "pre_tokenizer");
        const char *type = type_of(pre);
        if (!type || strcmp(type, "BertPreTokenizer") != 0)
            st = dmi_fail(DM_ERR_UNSUPPORTED, "%s: pre_tokenizer type \"%s\" is not supported (only BertPreTokenizer)",
                          name, type ? type : "(none)");
    }
    if (!st) st = read_model(t, json_object_get(root, "model"), name);
    if (!st) st = read_added_tokens(t, json_object_get(root, "added_tokens"), name);
    if (!st) st = read_post_processor(t, json_object_get(root, "post_processor"), name);
    if (!st) st = read_decoder(t, json_object_get(root, "decoder"), name);
    if (!st) {
        apply_settings(t, fs, o);
        st = dmi_tokenizer_finish(t, name);
    }
    if (!st) find_special_ids(t, root);
    if (st) {
        dm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return DM_OK;
}

static dm_status load_json_text(const char *text, size_t len, const char *name, const dm_tokenizer_options *o,
                                dm_tokenizer **out)
{
    json_t *root;
    dm_status st = parse_json(text, len, name, &root);
    if (st) return st;
    st = load_json_root(root, name, o, out);
    json_decref(root);
    return st;
}

DM_API dm_status dm_tokenizer_load_json(const char *json, size_t len, const dm_tokenizer_options *opts,
                                        dm_tokenizer **out)
{
    if ((!json && len) || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_load_json: NULL argument");
    dm_tokenizer_options o;
    dm_status st = resolve_options(opts, &o);
    return st ? st : load_json_text(json ? json : "", len, "tokenizer.json", &o, out);
}

/* ------------------------------------------------------------ files, folders */

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Loads PATH as a vocab.txt, reading DIR/tokenizer_config.json when present. */
static dm_status load_vocab_file(const char *path, const dm_tokenizer_options *o, dm_tokenizer **out)
{
    char cfg_path[4096];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) : 1;
    snprintf(cfg_path, sizeof cfg_path, "%.*s/tokenizer_config.json", dir_len, slash ? path : ".");
    json_t *config = NULL;
    if (is_file(cfg_path)) {
        char *text;
        size_t len;
        dm_status st = dmi_read_file(cfg_path, &text, &len);
        if (st) return st;
        st = parse_json(text, len, cfg_path, &config);
        free(text);
        if (st) return st;
    }
    char *text;
    size_t len;
    dm_status st = dmi_read_file(path, &text, &len);
    if (!st) {
        st = load_vocab_text(text, len, path, config, o, out);
        free(text);
    }
    json_decref(config);
    return st;
}

static dm_status load_file(const char *path, const dm_tokenizer_options *o, dm_tokenizer **out)
{
    char *text;
    size_t len;
    if (!ends_with(path, ".json")) return load_vocab_file(path, o, out);
    dm_status st = dmi_read_file(path, &text, &len);
    if (st) return st;
    st = load_json_text(text, len, path, o, out);
    free(text);
    return st;
}

DM_API dm_status dm_tokenizer_load(const char *path, const dm_tokenizer_options *opts, dm_tokenizer **out)
{
    if (!path || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_load: NULL argument");
    dm_tokenizer_options o;
    dm_status st = resolve_options(opts, &o);
    if (st) return st;
    struct stat sb;
    if (stat(path, &sb) != 0) return dmi_fail(DM_ERR_IO, "%s: no such file or folder", path);
    if (!S_ISDIR(sb.st_mode)) return load_file(path, &o, out);
    char candidate[4096];
    snprintf(candidate, sizeof candidate, "%s/tokenizer.json", path);
    if (is_file(candidate)) return load_file(candidate, &o, out);
    snprintf(candidate, sizeof candidate, "%s/vocab.txt", path);
    if (is_file(candidate)) return load_vocab_file(candidate, &o, out);
    return dmi_fail(DM_ERR_NOT_FOUND, "%s: folder has neither tokenizer.json nor vocab.txt", path);
}

/* ------------------------------------------------------------------ trainer */

dm_status dmi_tokenizer_build(const char *const *tokens, const size_t *lens, size_t n,
                              const dmi_normalizer *norm, const char *const *specials, size_t n_specials,
                              dm_tokenizer **out)
{
    dm_tokenizer *t;
    dm_status st = dmi_tokenizer_alloc(&t);
    if (st) return st;
    t->norm = *norm;
    for (size_t i = 0; i < n && !st; i++) st = dmi_vocab_set(t, (int32_t)i, tokens[i], lens[i]);
    if (!st) st = setup_bert_specials(t, bert_special_names, "trained vocabulary", false);
    for (size_t i = 0; i < n_specials && !st; i++) { /* the others, e.g. "<s>": special added tokens */
        size_t len = strlen(specials[i]);
        int32_t id = -1;
        for (size_t k = 0; k < n && id < 0; k++)
            if (lens[k] == len && memcmp(tokens[k], specials[i], len) == 0) id = (int32_t)k;
        bool known = false;
        for (size_t k = 0; k < t->n_added; k++)
            known |= t->added[k].len == len && memcmp(t->added[k].content, specials[i], len) == 0;
        if (id >= 0 && !known) st = dmi_add_added_token(t, specials[i], len, id, true, false, false, false);
    }
    if (!st) st = dmi_tokenizer_finish(t, "trained vocabulary");
    if (st) {
        dm_tokenizer_free(t);
        return st;
    }
    *out = t;
    return DM_OK;
}
