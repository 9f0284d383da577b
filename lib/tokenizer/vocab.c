/*
 * vocab.c — the tokenizer handle's vocabulary: id <-> token maps, added
 * (special) tokens, the post-processing template, and the final checks that
 * every loader (vocab.txt, tokenizer.json, trainer) shares.
 */
#include "tokenizer_internal.h"
#include "../core/utf8.h"

#include <stdlib.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

uint64_t dmi_fnv1a(const char *s, size_t len)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * FNV_PRIME;
    return h ? h : 1; /* 0 marks an empty slot */
}

dm_status dmi_tokenizer_alloc(dm_tokenizer **out)
{
    dm_tokenizer *t = dmi_calloc(1, sizeof *t);
    if (!t) return DM_ERR_NO_MEMORY;
    t->unk_id = -1;
    for (int i = 0; i < 5; i++) t->special_ids[i] = -1;
    t->max_input_chars_per_word = 100;
    t->norm = (dmi_normalizer){true, true, true, true};
    *out = t;
    return DM_OK;
}

static dm_status grow_ids(dm_tokenizer *t, size_t need)
{
    if (need <= t->n_ids) return DM_OK;
    uint32_t *offs = dmi_realloc(t->token_offs, need * sizeof *offs);
    if (!offs) return DM_ERR_NO_MEMORY;
    t->token_offs = offs;
    uint32_t *lens = dmi_realloc(t->token_lens, need * sizeof *lens);
    if (!lens) return DM_ERR_NO_MEMORY;
    t->token_lens = lens;
    for (size_t i = t->n_ids; i < need; i++) {
        offs[i] = UINT32_MAX;
        lens[i] = 0;
    }
    t->n_ids = need;
    return DM_OK;
}

dm_status dmi_vocab_set(dm_tokenizer *t, int32_t id, const char *s, size_t len)
{
    if (id < 0) return dmi_fail(DM_ERR_PARSE, "token \"%.*s\" has negative id %d", (int)(len > 64 ? 64 : len), s, id);
    /* Ids index dense arrays: one huge id in a tiny file must not allocate
     * gigabytes. The largest real vocabularies have about 260,000 entries. */
    if (id > DMI_MAX_ID)
        return dmi_fail(DM_ERR_RANGE, "token \"%.*s\" has id %d; ids above %d are not supported",
                        (int)(len > 64 ? 64 : len), s, id, DMI_MAX_ID);
    if (len > UINT32_MAX / 2 || t->pool_len + len + 1 > UINT32_MAX - 1)
        return dmi_fail(DM_ERR_RANGE, "vocabulary too large (over 2 GiB of token text)");
    dm_status st = grow_ids(t, (size_t)id + 1);
    if (st) return st;
    if (t->token_offs[id] != UINT32_MAX)
        return dmi_fail(DM_ERR_PARSE, "id %d is given to two tokens: \"%s\" and \"%.*s\"", id,
                        t->pool + t->token_offs[id], (int)(len > 64 ? 64 : len), s);
    if (t->pool_len + len + 1 > t->pool_cap) {
        size_t cap = t->pool_cap ? t->pool_cap : 1 << 16;
        while (cap < t->pool_len + len + 1) cap *= 2;
        char *p = dmi_realloc(t->pool, cap);
        if (!p) return DM_ERR_NO_MEMORY;
        t->pool = p;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, s, len);
    t->pool[t->pool_len + len] = '\0';
    t->token_offs[id] = (uint32_t)t->pool_len;
    t->token_lens[id] = (uint32_t)len;
    t->pool_len += len + 1;
    return DM_OK;
}

static dm_status map_init(dmi_vocab_map *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    m->hashes = dmi_calloc(cap, sizeof *m->hashes);
    m->ids = dmi_malloc(cap * sizeof *m->ids);
    size_t bits = 1024;
    while (bits < n * 16) bits *= 2;
    m->filter = dmi_calloc(bits / 64, sizeof *m->filter);
    if (!m->hashes || !m->ids || !m->filter) return DM_ERR_NO_MEMORY;
    m->mask = cap - 1;
    m->filter_mask = bits - 1;
    return DM_OK;
}

/* Inserts ID under HASH; a later insertion of an equal string wins, as in
 * HF's vocab HashMap (a vocab.txt with a repeated line maps it to the last). */
static void map_put(dmi_vocab_map *m, uint64_t hash, int32_t id, const dm_tokenizer *t, uint32_t skip)
{
    const char *s = t->pool + t->token_offs[id] + skip;
    size_t len = t->token_lens[id] - skip;
    size_t bit = (size_t)(hash >> 32) & m->filter_mask;
    m->filter[bit >> 6] |= (uint64_t)1 << (bit & 63);
    for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
        if (m->hashes[i] == 0) {
            m->hashes[i] = hash;
            m->ids[i] = id;
            return;
        }
        if (m->hashes[i] == hash) {
            int32_t o = m->ids[i];
            if (t->token_lens[o] - skip == len && memcmp(t->pool + t->token_offs[o] + skip, s, len) == 0) {
                m->ids[i] = id;
                return;
            }
        }
    }
}

int32_t dmi_map_get(const dmi_vocab_map *m, uint64_t hash, const dm_tokenizer *t, const char *s,
                    size_t len, uint32_t skip)
{
    for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
        uint64_t h = m->hashes[i];
        if (h == 0) return -1;
        if (h == hash) {
            int32_t id = m->ids[i];
            if (t->token_lens[id] - skip == len && memcmp(t->tokens[id] + skip, s, len) == 0) return id;
        }
    }
}

int32_t dmi_token_id(const dm_tokenizer *t, const char *s, size_t len)
{
    if (!t->whole.hashes) return -1;
    return dmi_map_get(&t->whole, dmi_fnv1a(s, len), t, s, len, 0);
}

dm_status dmi_add_added_token(dm_tokenizer *t, const char *content, size_t len, int32_t id,
                              bool special, bool lstrip, bool rstrip, bool single_word)
{
    if (len == 0) return dmi_fail(DM_ERR_PARSE, "added token with id %d has empty content", id);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, content, len) == 0)
            return dmi_fail(DM_ERR_PARSE, "added token \"%.*s\" appears twice", (int)len, content);
    if (t->n_added >= DMI_MAX_ADDED)
        return dmi_fail(DM_ERR_UNSUPPORTED, "more than %d added tokens", DMI_MAX_ADDED);
    dmi_added_token *a = dmi_realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a) return DM_ERR_NO_MEMORY;
    t->added = a;
    char *c = dmi_strndup(content, len);
    if (!c) return DM_ERR_NO_MEMORY;
    a[t->n_added++] = (dmi_added_token){c, (uint32_t)len, id, special, lstrip, rstrip, single_word};
    return DM_OK;
}

static dm_status template_set(dmi_template *tp, const dmi_template_item *items, size_t n)
{
    free(tp->items);
    tp->items = dmi_malloc(n * sizeof *items);
    if (!tp->items) return DM_ERR_NO_MEMORY;
    memcpy(tp->items, items, n * sizeof *items);
    tp->n = n;
    tp->n_special = 0;
    for (size_t i = 0; i < n; i++) tp->n_special += items[i].id >= 0;
    return DM_OK;
}

dm_status dmi_set_bert_template(dm_tokenizer *t, int32_t cls, int32_t sep, const char *name)
{
    if (cls < 0 || sep < 0)
        return dmi_fail(DM_ERR_NOT_FOUND, "%s: the vocabulary has no %s token, which BERT's "
                        "[CLS] A [SEP] template needs", name, cls < 0 ? "[CLS]" : "[SEP]");
    dmi_template_item single[] = {{cls, 0}, {-1, 0}, {sep, 0}};
    dmi_template_item pair[] = {{cls, 0}, {-1, 0}, {sep, 0}, {-2, 1}, {sep, 1}};
    dm_status st = template_set(&t->single, single, 3);
    return st ? st : template_set(&t->pair, pair, 5);
}

/* Exposed for the JSON loader, which reads arbitrary templates. */
dm_status dmi_template_set(dmi_template *tp, const dmi_template_item *items, size_t n);
dm_status dmi_template_set(dmi_template *tp, const dmi_template_item *items, size_t n)
{
    return template_set(tp, items, n);
}

static bool ends_with_prefix(const dm_tokenizer *t, int32_t id)
{
    return t->prefix_len && t->token_lens[id] >= t->prefix_len &&
           memcmp(t->pool + t->token_offs[id], t->prefix, t->prefix_len) == 0;
}

/* The code point of S (LEN bytes) when it is exactly one character of the
 * BMP, in valid UTF-8. */
static bool single_bmp_char(const char *s, size_t len, uint32_t *cp)
{
    size_t bad;
    return len >= 1 && len <= 3 && dmi_utf8_decode((const uint8_t *)s, len, cp, &bad) == len && *cp < 0x10000;
}

/* Fills t->single_ids from the whole-string map, so that a one-character
 * word gets exactly the id WordPiece's lookup would find. */
static dm_status build_single_ids(dm_tokenizer *t)
{
    free(t->single_ids);
    t->single_ids = dmi_malloc(0x10000 * sizeof *t->single_ids);
    if (!t->single_ids) return DM_ERR_NO_MEMORY;
    for (size_t cp = 0; cp < 0x10000; cp++) t->single_ids[cp] = -1;
    for (size_t i = 0; i < t->n_ids; i++) {
        uint32_t cp;
        if (t->tokens[i] && single_bmp_char(t->tokens[i], t->token_lens[i], &cp))
            t->single_ids[cp] = dmi_token_id(t, t->tokens[i], t->token_lens[i]);
    }
    return DM_OK;
}

dm_status dmi_tokenizer_finish(dm_tokenizer *t, const char *name)
{
    if (t->n_ids == 0) return dmi_fail(DM_ERR_PARSE, "%s: the vocabulary is empty", name);
    t->tokens = dmi_malloc(t->n_ids * sizeof *t->tokens);
    if (!t->tokens) return DM_ERR_NO_MEMORY;
    size_t n_cont = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
        t->tokens[i] = t->token_offs[i] == UINT32_MAX ? NULL : t->pool + t->token_offs[i];
        if (t->tokens[i] && ends_with_prefix(t, (int32_t)i)) n_cont++;
    }
    dm_status st = map_init(&t->whole, t->n_ids);
    if (!st) st = map_init(&t->cont, n_cont + 1);
    if (st) return st;
    t->max_token_bytes = 0;
    for (size_t i = 0; i < t->n_ids; i++) {
        if (!t->tokens[i]) continue;
        int32_t id = (int32_t)i;
        map_put(&t->whole, dmi_fnv1a(t->tokens[i], t->token_lens[i]), id, t, 0);
        uint32_t skip = ends_with_prefix(t, id) ? t->prefix_len : 0;
        if (skip) map_put(&t->cont, dmi_fnv1a(t->tokens[i] + skip, t->token_lens[i] - skip), id, t, skip);
        if (t->token_lens[i] - skip > t->max_token_bytes) t->max_token_bytes = t->token_lens[i] - skip;
    }
    st = build_single_ids(t);
    if (st) return st;
    /* Added tokens must have an id in range; record which ids are special. */
    t->is_special = dmi_calloc(t->n_ids, 1);
    if (!t->is_special) return DM_ERR_NO_MEMORY;
    memset(t->added_first_byte, 0, sizeof t->added_first_byte);
    for (size_t i = 0; i < t->n_added; i++) {
        dmi_added_token *a = &t->added[i];
        if (a->id < 0 || (size_t)a->id >= t->n_ids || !t->tokens[a->id])
            return dmi_fail(DM_ERR_PARSE, "%s: added token \"%s\" has id %d, which is not in the vocabulary",
                            name, a->content, a->id);
        if (t->token_lens[a->id] != a->len || memcmp(t->tokens[a->id], a->content, a->len) != 0)
            return dmi_fail(DM_ERR_PARSE, "%s: added token \"%s\" has id %d, but that id is \"%s\" in the vocabulary",
                            name, a->content, a->id, t->tokens[a->id]);
        if (a->special) t->is_special[a->id] = 1;
        t->added_first_byte[(uint8_t)a->content[0]] = 1;
    }
    if (!t->unk_token) return dmi_fail(DM_ERR_PARSE, "%s: no unknown token is set", name);
    t->unk_id = dmi_token_id(t, t->unk_token, strlen(t->unk_token));
    if (t->unk_id < 0)
        return dmi_fail(DM_ERR_NOT_FOUND, "%s: the unknown token \"%s\" is not in the vocabulary "
                        "(WordPiece needs it for words it cannot split)", name, t->unk_token);
    t->special_ids[DM_SPECIAL_UNK] = t->unk_id;
    return DM_OK;
}

DM_API void dm_tokenizer_free(dm_tokenizer *t)
{
    if (!t) return;
    free(t->tokens);
    free(t->token_offs);
    free(t->token_lens);
    free(t->pool);
    free(t->whole.hashes);
    free(t->whole.ids);
    free(t->whole.filter);
    free(t->single_ids);
    free(t->cont.hashes);
    free(t->cont.ids);
    free(t->cont.filter);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->is_special);
    free(t->single.items);
    free(t->pair.items);
    free(t->unk_token);
    free(t->prefix);
    free(t->decoder_prefix);
    free(t);
}

DM_API size_t dm_tokenizer_vocab_size(const dm_tokenizer *t) { return t ? t->n_ids : 0; }

DM_API dm_status dm_tokenizer_token_to_id(const dm_tokenizer *t, const char *token, size_t len,
                                          int32_t *id)
{
    if (!t || (!token && len) || !id)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_token_to_id: NULL argument");
    int32_t found = dmi_token_id(t, token ? token : "", len);
    if (found < 0)
        return dmi_fail(DM_ERR_NOT_FOUND, "token \"%.*s\" is not in the vocabulary",
                        (int)(len > 200 ? 200 : len), token);
    *id = found;
    return DM_OK;
}

DM_API const char *dm_tokenizer_id_to_token(const dm_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || (size_t)id >= t->n_ids) return NULL;
    return t->tokens[id];
}

DM_API int32_t dm_tokenizer_special_id(const dm_tokenizer *t, dm_special_token which)
{
    if (!t || (int)which < 0 || (int)which > 4) return -1;
    return t->special_ids[which];
}
