/*
 * decode.c — ids back to text, as HF's WordPiece decoder: "##" pieces glued
 * to the previous token, other tokens joined by a space, then per token the
 * clean-up of spaces before punctuation and English contractions.
 */
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct out_buf {
    char *p;
    size_t len, cap;
} out_buf;

static dm_status out_put(out_buf *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->len + n + 1) cap *= 2;
        char *p = dmi_realloc(o->p, cap);
        if (!p) return DM_ERR_NO_MEMORY;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
    return DM_OK;
}

/* Replaces every FROM by TO (never longer) in S[0..*len), left to right. */
static void replace_all(char *s, size_t *len, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), r = 0, w = 0, n = *len;
    while (r < n) {
        if (r + fl <= n && memcmp(s + r, from, fl) == 0) {
            memmove(s + w, to, tl);
            w += tl;
            r += fl;
        } else {
            s[w++] = s[r++];
        }
    }
    *len = w;
    s[w] = '\0';
}

/* HF's decoders::wordpiece::cleanup, applied to one decoded token. */
static void cleanup(char *s, size_t *len)
{
    static const char *const pairs[][2] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},        {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) replace_all(s, len, pairs[i][0], pairs[i][1]);
}

DM_API dm_status dm_tokenizer_decode(const dm_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                     char **out, size_t *out_len)
{
    if (!t || (!ids && n) || !out)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_tokenizer_decode: NULL tokenizer, ids or output");
    out_buf o = {0};
    dm_status st = out_put(&o, "", 0);
    size_t kept = 0;
    const char *prefix = t->decoder_prefix ? t->decoder_prefix : "##";
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < n && !st; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_ids || !t->tokens[id]) {
            st = dmi_fail(DM_ERR_RANGE, "id %d at position %zu is not in the vocabulary (size %zu)", id, i, t->n_ids);
            break;
        }
        if (skip_special && t->is_special[id]) continue;
        const char *tok = t->tokens[id];
        size_t tl = t->token_lens[id], start = o.len;
        if (!t->has_decoder) {
            if (kept) st = out_put(&o, " ", 1);
            if (!st) st = out_put(&o, tok, tl);
        } else {
            if (kept && tl >= plen && memcmp(tok, prefix, plen) == 0) {
                st = out_put(&o, tok + plen, tl - plen);
            } else {
                if (kept) st = out_put(&o, " ", 1);
                if (!st) st = out_put(&o, tok, tl);
            }
            if (!st && t->decoder_cleanup) {
                size_t piece = o.len - start;
                cleanup(o.p + start, &piece);
                o.len = start + piece;
            }
        }
        kept++;
    }
    if (st) {
        free(o.p);
        return st;
    }
    *out = o.p;
    if (out_len) *out_len = o.len;
    return DM_OK;
}
