/*
 * augment.c — data augmentation: EDA (Wei & Zou 2019, "EDA: Easy Data
 * Augmentation Techniques for Boosting Performance on Text Classification
 * Tasks": synonym replacement, random insertion, random swap, random
 * deletion) with synonyms from a synonyms file and WordNet (the database
 * files of Debian's wordnet-base), and character noise (keyboard typos,
 * swaps, deletions).
 *
 * Choices the header leaves open:
 * - Output: each source row (when keep_original) followed by its kept copies;
 *   copy K (1..n) has id "<id>#aug<K>", so a dropped copy leaves a gap.
 * - Copy K applies ONE operation. EDA alone: the EDA operations whose alpha is
 *   not 0, in rotation sr, ri, rs, rd (as the EDA reference spreads its
 *   copies over the four). CHARS alone: character noise. Both: odd K EDA (its
 *   own rotation), even K character noise.
 * - Copy K of row R draws from Philox stream R << 24 | K: the output depends
 *   neither on the thread count nor on n (copy K is the same for any n >= K).
 * - Words: maximal runs of letters, marks, digits and apostrophes (' and
 *   U+2019) of any script but Han; every other non-space character is a token
 *   of its own that EDA leaves in place. Han (and kana) characters are one
 *   token each. The spaces between tokens are kept.
 * - Han text (more Han than other letters, or Han and no white space): the
 *   synonym candidates are the longest matches of synonyms-file entries
 *   (left to right), insertion repeats a random character when the text has
 *   no such match, swap and deletion work on characters.
 * - Synonyms: the synonyms file first (any language, lower-cased keys), then
 *   WordNet for words with an ASCII letter (with WordNet's morphology, as
 *   NLTK's wordnet.synsets: "movies" finds movie's synsets; the word's own
 *   base forms are not offered as synonyms). wordnet_dir "" turns WordNet off,
 *   synonyms_path "" is no file.
 *   WordNet is read only when EDA's sr or ri meets a non-Han text with an
 *   ASCII letter. The *.exc exception lists are optional, data.* required.
 * - Case: a replaced word's case carries over (Title or ALL CAPS); inserted
 *   synonyms are lower case.
 * - Report "ops" counts the copies kept per operation, so with keep_original
 *   rows_out = rows_in + the sum of ops; "unchanged" counts dropped copies.
 *
 * This file is the engine (tokens, synonyms lookup, EDA, noise, the rows in
 * parallel); the thesaurus it looks synonyms up in, read from the synonyms
 * file or WordNet, is augment_thesaurus.c's.
 */
#include "augment_impl.h"
#include "../core/jobs.h"
#include "../core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_COPIES 10000 /* copies per row: the RNG stream keeps 24 bits for K */

enum { OP_SR, OP_RI, OP_RS, OP_RD, OP_CHARS, N_OPS };
static const char *const op_names[N_OPS] = {"sr", "ri", "rs", "rd", "chars"};

/* ------------------------------------------------------------ augmenter */

typedef struct augmenter {
    dm_augment_options o;
    thesaurus file, wordnet;
    bool has_file, has_wordnet;
    int eda_ops[4], n_eda_ops; /* the EDA operations in rotation */
} augmenter;

typedef struct span {
    const char *s;
    size_t len;
} span;

enum { CASE_KEEP, CASE_TITLE, CASE_UPPER };

typedef struct token {
    const char *s;   /* the token's bytes (in the source text or a thesaurus) */
    size_t len;
    const char *ws;  /* the white space before it */
    size_t ws_len;
    const char *key; /* words: lower-cased, for lookups */
    size_t key_len;
    uint8_t word;    /* a word (or Han character) EDA may touch */
    uint8_t cased;   /* CASE_*: applied to S when written */
    uint8_t dead;
} token;

typedef struct candidate {
    size_t start, end; /* tokens replaced together */
    const char *key;
    size_t key_len;
} candidate;

/* Per-thread working memory, reused from row to row. */
typedef struct scratch {
    token *base, *tok;
    size_t n_base, base_cap, n_tok, tok_cap;
    size_t *keyoff; /* per base token while the key arena grows */
    size_t keyoff_cap;
    candidate *cand;
    size_t n_cand, cand_cap;
    size_t *order, order_cap, *widx, widx_cap;
    span *syn;
    size_t n_syn, syn_cap;
    uint32_t *ids, *excl, *forms, *cps, *letters;
    size_t n_ids, ids_cap, n_excl, excl_cap, n_forms, forms_cap, cps_cap, letters_cap;
    dmi_buf keys, key, form, out;
    const char *lead, *trail;
    size_t lead_len, trail_len;
    bool han;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->base), free(s->tok), free(s->keyoff), free(s->cand), free(s->order), free(s->widx);
    free(s->syn), free(s->ids), free(s->excl), free(s->forms), free(s->cps), free(s->letters);
    dmi_buf_free(&s->keys), dmi_buf_free(&s->key), dmi_buf_free(&s->form), dmi_buf_free(&s->out);
}

/* The EDA reference's stop words (Wei & Zou's eda.py). */
static const char *const stop_words[] = {
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
    "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself",
    "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these",
    "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do",
    "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while",
    "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before",
    "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again",
    "further", "then", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each",
    "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than",
    "too", "very", "s", "t", "can", "will", "just", "don", "should", "now"};

static bool is_stop_word(const char *k, size_t len)
{
    for (size_t i = 0; i < sizeof stop_words / sizeof *stop_words; i++)
        if (strlen(stop_words[i]) == len && memcmp(stop_words[i], k, len) == 0) return true;
    return false;
}

/* ------------------------------------------------------------ characters */

enum { CH_SPACE, CH_WORD, CH_HAN, CH_OTHER };

static bool is_han(uint32_t cp)
{
    return (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x3134F) || (cp >= 0x3040 && cp <= 0x30FF) || cp == 0x3007;
}

static bool is_letter(uint32_t cp)
{
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

static int char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return CH_SPACE;
        bool alnum = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
        return alnum || cp == '\'' ? CH_WORD : CH_OTHER;
    }
    if (is_han(cp)) return CH_HAN;
    if (cp == 0x2019) return CH_WORD;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        return CH_SPACE;
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CH_WORD;
    default:
        return CH_OTHER;
    }
}

/* The class of the code point at S[I] and its length (an invalid byte: other). */
static int class_at(const char *s, size_t len, size_t i, size_t *n, uint32_t *cp)
{
    size_t bad = 0;
    *n = dmi_utf8_decode((const uint8_t *)s + i, len - i, cp, &bad);
    if (!*n) {
        *n = bad ? bad : 1;
        *cp = 0xFFFD;
        return CH_OTHER;
    }
    return char_class(*cp);
}

/* Whether TEXT is Han text, and whether it has an ASCII letter. */
static void classify_text(const char *s, size_t len, bool *han, bool *ascii_letter)
{
    size_t n_han = 0, n_other = 0, n_space = 0;
    *ascii_letter = false;
    for (size_t i = 0, n; i < len; i += n) {
        uint32_t cp;
        int c = class_at(s, len, i, &n, &cp);
        if (c == CH_HAN) n_han++;
        else if (c == CH_SPACE) n_space++;
        else if (c == CH_WORD && cp >= 0x80 && is_letter(cp)) n_other++;
        else if (c == CH_WORD && ((cp | 32) >= 'a' && (cp | 32) <= 'z')) n_other++, *ascii_letter = true;
    }
    *han = n_han > n_other || (n_han > 0 && n_space == 0);
}

static uint8_t case_of(const char *s, size_t len)
{
    size_t upper = 0, lower = 0, first = 0, n;
    for (size_t i = 0; i < len; i += n) {
        uint32_t cp;
        class_at(s, len, i, &n, &cp);
        utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
        if (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) upper++, first += i == 0;
        else if (c == UTF8PROC_CATEGORY_LL) lower++;
    }
    if (upper >= 2 && lower == 0) return CASE_UPPER;
    return first ? CASE_TITLE : CASE_KEEP;
}

/* Splits TEXT into S->base: words, Han characters, other characters. */
static bool tokenize(scratch *s, const char *text, size_t len)
{
    s->n_base = 0;
    s->keys.len = 0;
    size_t i = 0, n;
    uint32_t cp;
    while (i < len) {
        size_t ws = i;
        while (i < len && class_at(text, len, i, &n, &cp) == CH_SPACE) i += n;
        if (i >= len) break;
        size_t start = i;
        int c = class_at(text, len, i, &n, &cp);
        i += n;
        if (c == CH_WORD)
            while (i < len && class_at(text, len, i, &n, &cp) == CH_WORD) i += n;
        if (!dmi_grow(&s->base, &s->base_cap, s->n_base + 1, sizeof *s->base) ||
            !dmi_grow(&s->keyoff, &s->keyoff_cap, s->n_base + 1, sizeof *s->keyoff))
            return false;
        token *t = &s->base[s->n_base];
        *t = (token){.s = text + start, .len = i - start, .ws = text + ws, .ws_len = start - ws,
                     .word = c == CH_WORD || c == CH_HAN};
        if (t->word) {
            t->cased = case_of(t->s, t->len);
            if (!dmi_lower_key(&s->key, t->s, t->len)) return false;
            s->keyoff[s->n_base] = s->keys.len;
            t->key_len = s->key.len;
            dmi_buf_append(&s->keys, s->key.data, s->key.len + 1);
        }
        s->n_base++;
    }
    if (s->keys.failed) return false;
    for (size_t t = 0; t < s->n_base; t++)
        if (s->base[t].word) s->base[t].key = s->keys.data + s->keyoff[t];
    s->lead = s->n_base ? s->base[0].ws : text;
    s->lead_len = s->n_base ? s->base[0].ws_len : 0;
    size_t last = s->n_base ? (size_t)(s->base[s->n_base - 1].s + s->base[s->n_base - 1].len - text) : 0;
    s->trail = text + last, s->trail_len = s->n_base ? len - last : 0;
    if (!s->n_base) s->lead_len = len; /* only white space */
    return true;
}

/* ------------------------------------------------------------- synonyms */

static bool push_id(uint32_t **v, size_t *n, size_t *cap, uint32_t id, bool unique)
{
    if (unique)
        for (size_t i = 0; i < *n; i++)
            if ((*v)[i] == id) return true;
    if (!dmi_grow(v, cap, *n + 1, sizeof **v)) return false;
    (*v)[(*n)++] = id;
    return true;
}

/* Adds the members of W's groups (of part of speech POS, 0: any) to S->ids. */
static bool add_group_members(scratch *s, const thesaurus *t, uint32_t w, uint8_t pos)
{
    for (uint32_t i = t->word_start[w]; i < t->word_start[w + 1]; i++) {
        uint32_t g = t->word_groups[i];
        if (pos && t->group_pos[g] != pos) continue;
        for (uint32_t m = t->group_start[g]; m < t->group_start[g + 1]; m++)
            if (!push_id(&s->ids, &s->n_ids, &s->ids_cap, t->members[m], true)) return false;
    }
    return true;
}

/* S->ids minus S->excl, appended to S->syn as T's strings. */
static bool ids_to_synonyms(scratch *s, const thesaurus *t)
{
    for (size_t i = 0; i < s->n_ids; i++) {
        bool excluded = false;
        for (size_t e = 0; e < s->n_excl && !excluded; e++) excluded = s->excl[e] == s->ids[i];
        if (excluded) continue;
        if (!dmi_grow(&s->syn, &s->syn_cap, s->n_syn + 1, sizeof *s->syn)) return false;
        s->syn[s->n_syn++] = (span){dmi_strmap_key(&t->words, s->ids[i]), dmi_strmap_key_len(&t->words, s->ids[i])};
    }
    return true;
}

/* NLTK's morphy substitutions (suffix, replacement) per part of speech. */
static const char *const noun_rules[][2] = {{"s", ""},     {"ses", "s"},   {"ves", "f"},   {"xes", "x"},  {"zes", "z"},
                                            {"ches", "ch"}, {"shes", "sh"}, {"men", "man"}, {"ies", "y"}};
static const char *const verb_rules[][2] = {{"s", ""},   {"ies", "y"}, {"es", "e"},  {"es", ""},
                                            {"ed", "e"}, {"ed", ""},   {"ing", "e"}, {"ing", ""}};
static const char *const adj_rules[][2] = {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}};

/* Adds lemma W to S->forms (and S->excl: a word's own base forms are no
 * synonyms of it) when it has part of speech POS. */
static bool add_lemma(scratch *s, const thesaurus *t, uint32_t w, uint8_t pos)
{
    if (w == UINT32_MAX || !dmi_th_has_pos(t, w, pos)) return true;
    return push_id(&s->forms, &s->n_forms, &s->forms_cap, w, true) &&
           push_id(&s->excl, &s->n_excl, &s->excl_cap, w, true);
}

static bool add_form(scratch *s, const thesaurus *t, const char *f, size_t len, uint8_t pos)
{
    return add_lemma(s, t, dmi_th_find(t, f, len), pos);
}

/* WordNet synonyms of the lower-cased word K: every lemma of the synsets of
 * K's base forms in each part of speech (NLTK's wordnet.synsets(K)). */
static bool wordnet_synonyms(scratch *s, const thesaurus *t, const char *k, size_t len)
{
    s->n_ids = s->n_excl = 0;
    for (int p = 0; p < 4; p++) {
        uint8_t pos = (uint8_t)dmi_wn_pos[p];
        s->n_forms = 0;
        s->form.len = 0;
        dmi_buf_append(&s->form, &dmi_wn_pos[p], 1);
        dmi_buf_append(&s->form, k, len);
        size_t e = s->form.failed ? SIZE_MAX : dmi_strmap_find(&t->exc, s->form.data, s->form.len);
        if (!add_form(s, t, k, len, pos)) return false;
        if (e != SIZE_MAX) {
            for (uint32_t b = 0; b < t->exc_range[2 * e + 1]; b++) {
                if (!add_lemma(s, t, t->exc_bases[t->exc_range[2 * e] + b], pos)) return false;
            }
        } else {
            const char *const(*rules)[2] = p == 0 ? noun_rules : p == 1 ? verb_rules : adj_rules;
            size_t n_rules = p == 0 ? 9 : p == 1 ? 8 : p == 2 ? 4 : 0;
            for (size_t r = 0; r < n_rules; r++) {
                size_t ol = strlen(rules[r][0]);
                if (len <= ol || memcmp(k + len - ol, rules[r][0], ol)) continue;
                s->form.len = 0;
                dmi_buf_append(&s->form, k, len - ol);
                dmi_buf_puts(&s->form, rules[r][1]);
                if (s->form.failed || !add_form(s, t, s->form.data, s->form.len, pos)) return false;
            }
        }
        for (size_t f = 0; f < s->n_forms; f++)
            if (!add_group_members(s, t, s->forms[f], pos)) return false;
    }
    return ids_to_synonyms(s, t);
}

/* S->syn gets the synonyms of the lower-cased word K: the synonyms file's,
 * else WordNet's (for words with an ASCII letter). */
static bool get_synonyms(const augmenter *a, scratch *s, const char *k, size_t len)
{
    s->n_syn = 0;
    if (a->has_file) {
        uint32_t w = dmi_th_find(&a->file, k, len);
        if (w != UINT32_MAX) {
            s->n_ids = s->n_excl = 0;
            if (!add_group_members(s, &a->file, w, 0) || !push_id(&s->excl, &s->n_excl, &s->excl_cap, w, false) ||
                !ids_to_synonyms(s, &a->file))
                return false;
            if (s->n_syn) return true;
        }
    }
    if (!a->has_wordnet || s->han) return true;
    bool ascii = false;
    for (size_t i = 0; i < len && !ascii; i++) ascii = (k[i] >= 'a' && k[i] <= 'z');
    return !ascii || wordnet_synonyms(s, &a->wordnet, k, len);
}

/* ------------------------------------------------------------------ EDA */

/* The synonym-replacement candidates of S->base: English, every word but
 * stop words; Han text, the longest synonyms-file matches left to right. */
static bool find_candidates(const augmenter *a, scratch *s)
{
    s->n_cand = 0;
    for (size_t i = 0; i < s->n_base;) {
        const token *t = &s->base[i];
        if (!t->word) {
            i++;
            continue;
        }
        candidate c = {i, i + 1, t->key, t->key_len};
        bool found = !s->han && !is_stop_word(t->key, t->key_len);
        if (s->han) {
            if (!a->has_file) return true;
            size_t end = i + 1; /* the run of adjacent words from I */
            while (end < s->n_base && end - i < a->file.max_key_cps && s->base[end].word && !s->base[end].ws_len)
                end++;
            for (; end > i && !found; end--) {
                s->key.len = 0;
                for (size_t j = i; j < end; j++) dmi_buf_append(&s->key, s->base[j].key, s->base[j].key_len);
                if (s->key.failed) return false;
                uint32_t w = dmi_th_find(&a->file, s->key.data, s->key.len);
                if (w != UINT32_MAX) {
                    c = (candidate){i, end, dmi_strmap_key(&a->file.words, w), dmi_strmap_key_len(&a->file.words, w)};
                    found = true;
                }
            }
        }
        if (found) {
            if (!dmi_grow(&s->cand, &s->cand_cap, s->n_cand + 1, sizeof *s->cand)) return false;
            s->cand[s->n_cand++] = c;
        }
        i = found ? c.end : i + 1;
    }
    return true;
}

static bool same_key(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && memcmp(a, b, al) == 0;
}

/* The indices of the live words of S->tok in S->widx; returns how many. */
static size_t list_words(scratch *s)
{
    size_t n = 0;
    if (!dmi_grow(&s->widx, &s->widx_cap, s->n_tok + 1, sizeof *s->widx)) return SIZE_MAX;
    for (size_t i = 0; i < s->n_tok; i++)
        if (s->tok[i].word && !s->tok[i].dead) s->widx[n++] = i;
    return n;
}

/* sr: replaces every occurrence of up to N_SR distinct candidates (in random
 * order, skipping those without synonyms) by one random synonym each. */
static bool op_sr(const augmenter *a, scratch *s, dmi_rng *r, size_t n_sr)
{
    size_t n = 0;
    if (!dmi_grow(&s->order, &s->order_cap, s->n_cand + 1, sizeof *s->order)) return false;
    for (size_t c = 0; c < s->n_cand; c++) {
        bool seen = false;
        for (size_t u = 0; u < n && !seen; u++)
            seen = same_key(s->cand[s->order[u]].key, s->cand[s->order[u]].key_len, s->cand[c].key, s->cand[c].key_len);
        if (!seen) s->order[n++] = c;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dmi_rng_below(r, i), t = s->order[i - 1];
        s->order[i - 1] = s->order[j], s->order[j] = t;
    }
    size_t replaced = 0;
    for (size_t u = 0; u < n && replaced < n_sr; u++) {
        const candidate *c = &s->cand[s->order[u]];
        if (!get_synonyms(a, s, c->key, c->key_len)) return false;
        if (!s->n_syn) continue;
        span syn = s->syn[dmi_rng_below(r, s->n_syn)];
        for (size_t d = 0; d < s->n_cand; d++) {
            const candidate *e = &s->cand[d];
            if (!same_key(e->key, e->key_len, c->key, c->key_len)) continue;
            token *t = &s->tok[e->start];
            t->s = t->key = syn.s, t->len = t->key_len = syn.len;
            for (size_t j = e->start + 1; j < e->end; j++) s->tok[j].dead = 1;
        }
        replaced++;
    }
    return true;
}

/* Inserts a word token S before token AT (white space moves with it). */
static bool insert_token(scratch *s, size_t at, span w)
{
    if (!dmi_grow(&s->tok, &s->tok_cap, s->n_tok + 1, sizeof *s->tok)) return false;
    memmove(&s->tok[at + 1], &s->tok[at], (s->n_tok - at) * sizeof *s->tok);
    s->n_tok++;
    token *t = &s->tok[at], *next = &s->tok[at + 1];
    *t = (token){.s = w.s, .len = w.len, .ws = next->ws, .ws_len = next->ws_len, .key = w.s, .key_len = w.len,
                 .word = 1, .cased = CASE_KEEP};
    next->ws = s->han ? "" : " ";
    next->ws_len = s->han ? 0 : 1;
    return true;
}

/* ri: N_RI times, a synonym of a random word (up to 10 tries; unlike the
 * reference, a stop word counts as a failed try) inserted before a random
 * word. Han text without synonyms: a random character repeated. */
static bool op_ri(const augmenter *a, scratch *s, dmi_rng *r, size_t n_ri)
{
    for (size_t k = 0; k < n_ri; k++) {
        size_t nw = list_words(s);
        if (nw == SIZE_MAX) return false;
        if (!nw) return true;
        s->n_syn = 0;
        if (s->han && !s->n_cand) {
            size_t at = s->widx[dmi_rng_below(r, nw)];
            token *t = &s->tok[at];
            if (!insert_token(s, at, (span){t->s, t->len})) return false;
            continue;
        }
        for (int tries = 0; tries < 10 && !s->n_syn; tries++) {
            const char *k0;
            size_t kl;
            if (s->han) {
                const candidate *c = &s->cand[dmi_rng_below(r, s->n_cand)];
                k0 = c->key, kl = c->key_len;
            } else {
                const token *t = &s->tok[s->widx[dmi_rng_below(r, nw)]];
                k0 = t->key, kl = t->key_len;
                if (is_stop_word(k0, kl)) continue; /* "a" -> "angstrom" helps no one */
            }
            if (!get_synonyms(a, s, k0, kl)) return false;
        }
        if (!s->n_syn) return true; /* as the reference: no synonym in 10 tries, stop */
        span syn = s->syn[dmi_rng_below(r, s->n_syn)];
        if (!insert_token(s, s->widx[dmi_rng_below(r, nw)], syn)) return false;
    }
    return true;
}

/* rs: N_RS times, two random words trade places (up to 3 tries for two
 * different positions, as the reference). */
static bool op_rs(scratch *s, dmi_rng *r, size_t n_rs)
{
    size_t nw = list_words(s);
    if (nw == SIZE_MAX) return false;
    if (nw < 2) return true;
    for (size_t k = 0; k < n_rs; k++) {
        size_t i = (size_t)dmi_rng_below(r, nw), j = i;
        for (int tries = 0; tries < 3 && j == i; tries++) j = (size_t)dmi_rng_below(r, nw);
        if (j == i) continue;
        token *x = &s->tok[s->widx[i]], *y = &s->tok[s->widx[j]], t = *x;
        x->s = y->s, x->len = y->len, x->key = y->key, x->key_len = y->key_len, x->cased = y->cased;
        y->s = t.s, y->len = t.len, y->key = t.key, y->key_len = t.key_len, y->cased = t.cased;
    }
    return true;
}

/* rd: each word deleted with probability P; one random word survives when
 * none would; a one-word text is left as it is. */
static bool op_rd(scratch *s, dmi_rng *r, double p)
{
    size_t nw = list_words(s);
    if (nw == SIZE_MAX) return false;
    if (nw < 2) return true;
    size_t left = nw;
    for (size_t i = 0; i < nw; i++)
        if (dmi_rng_unit(r) <= p) s->tok[s->widx[i]].dead = 1, left--;
    if (!left) s->tok[s->widx[dmi_rng_below(r, nw)]].dead = 0;
    return true;
}

static void put_cased(dmi_buf *b, const token *t)
{
    if (t->cased == CASE_KEEP) {
        dmi_buf_append(b, t->s, t->len);
        return;
    }
    for (size_t i = 0, n; i < t->len; i += n) {
        uint32_t cp;
        class_at(t->s, t->len, i, &n, &cp);
        if (cp == 0xFFFD || (t->cased == CASE_TITLE && i > 0)) dmi_buf_append(b, t->s + i, n);
        else dmi_put_cp(b, (uint32_t)(t->cased == CASE_TITLE ? utf8proc_totitle((utf8proc_int32_t)cp)
                                                         : utf8proc_toupper((utf8proc_int32_t)cp)));
    }
}

static void render(scratch *s)
{
    s->out.len = 0;
    bool first = true;
    for (size_t i = 0; i < s->n_tok; i++) {
        const token *t = &s->tok[i];
        if (t->dead) continue;
        if (first) dmi_buf_append(&s->out, s->lead, s->lead_len);
        else dmi_buf_append(&s->out, t->ws, t->ws_len);
        first = false;
        put_cased(&s->out, t);
    }
    if (first) dmi_buf_append(&s->out, s->lead, s->lead_len);
    dmi_buf_append(&s->out, s->trail, s->trail_len);
}

static size_t share(double alpha, size_t n_words)
{
    size_t k = (size_t)(alpha * (double)n_words);
    return k ? k : 1;
}

static bool eda_copy(const augmenter *a, scratch *s, dmi_rng *r, int op)
{
    if (!dmi_grow(&s->tok, &s->tok_cap, s->n_base + 1, sizeof *s->tok)) return false;
    if (s->n_base) memcpy(s->tok, s->base, s->n_base * sizeof *s->tok); /* base is NULL for an empty text */
    s->n_tok = s->n_base;
    size_t nw = 0;
    for (size_t i = 0; i < s->n_base; i++) nw += s->base[i].word;
    bool ok = true;
    if (nw) switch (op) {
        case OP_SR: ok = op_sr(a, s, r, share(a->o.alpha_sr, nw)); break;
        case OP_RI: ok = op_ri(a, s, r, share(a->o.alpha_ri, nw)); break;
        case OP_RS: ok = op_rs(s, r, share(a->o.alpha_rs, nw)); break;
        default: ok = op_rd(s, r, a->o.alpha_rd); break;
        }
    if (ok) render(s);
    return ok && !s->out.failed;
}

/* --------------------------------------------------------- character noise */

/* QWERTY neighbours of a .. z. */
static const char *const qwerty[26] = {"qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv", "gyujnb", "ujko",
                                       "huikmn", "jiolm", "kop", "njk", "bhjm", "iklp", "ol", "wa", "edft", "awedxz",
                                       "rfgy", "yhji", "cfgb", "qase", "zsdc", "tghu", "asx"};

static uint32_t typo(dmi_rng *r, uint32_t cp)
{
    bool upper = cp >= 'A' && cp <= 'Z';
    const char *nb = qwerty[(cp | 32) - 'a'];
    uint32_t c = (uint32_t)nb[dmi_rng_below(r, strlen(nb))];
    return upper ? c - 32 : c;
}

static bool cp_is_letter(uint32_t cp)
{
    return cp < 0x80000000u && (cp < 0x80 ? ((cp | 32) >= 'a' && (cp | 32) <= 'z') : is_letter(cp));
}

/* CHARS: round(char_rate * letters) (at least 1) changes at random letters:
 * ASCII letters get a keyboard typo, a swap with the next letter or a
 * deletion; other letters (Han included) a swap or a deletion. Invalid bytes
 * travel as 0x80000000 | byte. */
static bool chars_copy(const augmenter *a, scratch *s, dmi_rng *r, const char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0, k; i < len; i += k) {
        uint32_t cp;
        size_t bad = 0;
        k = dmi_utf8_decode((const uint8_t *)text + i, len - i, &cp, &bad);
        if (!k) k = 1, cp = 0x80000000u | (uint8_t)text[i];
        if (!dmi_grow(&s->cps, &s->cps_cap, n + 1, sizeof *s->cps)) return false;
        s->cps[n++] = cp;
    }
    if (!dmi_grow(&s->letters, &s->letters_cap, n + 1, sizeof *s->letters)) return false;
    size_t n_letters = 0;
    for (size_t i = 0; i < n; i++) n_letters += cp_is_letter(s->cps[i]);
    size_t changes = (size_t)llround(a->o.char_rate * (double)n_letters);
    if (!changes) changes = 1;
    for (size_t c = 0; c < changes && n_letters; c++) {
        size_t nl = 0;
        for (size_t i = 0; i < n; i++)
            if (cp_is_letter(s->cps[i])) s->letters[nl++] = (uint32_t)i;
        size_t i = s->letters[dmi_rng_below(r, nl)];
        uint32_t cp = s->cps[i];
        bool ascii = cp < 0x80;
        int kind = ascii ? (int)dmi_rng_below(r, 3) : 1 + (int)dmi_rng_below(r, 2); /* 0 typo, 1 swap, 2 delete */
        if (kind == 1 && (i + 1 >= n || !cp_is_letter(s->cps[i + 1]) || s->cps[i + 1] == cp)) kind = ascii ? 0 : 2;
        if (kind == 2 && nl < 2) kind = ascii ? 0 : -1;
        if (kind == 0) s->cps[i] = typo(r, cp);
        else if (kind == 1) s->cps[i] = s->cps[i + 1], s->cps[i + 1] = cp;
        else if (kind == 2) memmove(&s->cps[i], &s->cps[i + 1], (n - i - 1) * sizeof *s->cps), n--;
    }
    s->out.len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s->cps[i] & 0x80000000u) {
            char b = (char)(s->cps[i] & 0xFF);
            dmi_buf_append(&s->out, &b, 1);
        } else dmi_put_cp(&s->out, s->cps[i]);
    }
    dmi_buf_append(&s->out, "", 0);
    return !s->out.failed;
}

/* ------------------------------------------------------------- the rows */

/* The operation of copy K (1-based). */
static int op_of_copy(const augmenter *a, size_t k)
{
    unsigned ops = a->o.ops;
    if (ops == DM_AUGMENT_CHARS) return OP_CHARS;
    size_t e = k - 1;
    if (ops & DM_AUGMENT_CHARS) {
        if (k % 2 == 0) return OP_CHARS;
        e = (k - 1) / 2;
    }
    return a->eda_ops[e % (size_t)a->n_eda_ops];
}

typedef struct copy_out {
    size_t off, len;
    int8_t op; /* -1: unchanged, dropped */
} copy_out;

typedef struct row_out {
    dmi_buf texts;
} row_out;

/* The N copies of ROW into RES and COPIES[0..n-1]. */
static bool augment_row(const augmenter *a, scratch *s, size_t row, const char *text, size_t len, bool han,
                        row_out *res, copy_out *copies)
{
    res->texts.len = 0;
    s->han = han;
    if (a->o.ops & DM_AUGMENT_EDA) {
        if (!tokenize(s, text, len) || !find_candidates(a, s)) return false;
    }
    for (size_t k = 1; k <= a->o.n; k++) {
        dmi_rng r;
        dmi_rng_init(&r, a->o.seed, (uint64_t)row << 24 | k);
        int op = op_of_copy(a, k);
        bool ok = op == OP_CHARS ? chars_copy(a, s, &r, text, len) : eda_copy(a, s, &r, op);
        if (!ok) return false;
        bool same = s->out.len == len && (len == 0 || memcmp(s->out.data, text, len) == 0);
        copies[k - 1] = (copy_out){res->texts.len, s->out.len, (int8_t)(same ? -1 : op)};
        if (!same) dmi_buf_append(&res->texts, s->out.data, s->out.len);
    }
    return !res->texts.failed;
}

static dm_status check_options(const dm_augment_options *o)
{
    if (o->ops == 0 || (o->ops & ~(unsigned)(DM_AUGMENT_EDA | DM_AUGMENT_CHARS)))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_dataset_augment: ops is %u; expected DM_AUGMENT_EDA (1), DM_AUGMENT_CHARS (2) or both (3)",
                        o->ops);
    if (o->n == 0 || o->n > MAX_COPIES)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_augment: n is %zu; expected 1 to %d new rows per row",
                        o->n, MAX_COPIES);
    const double alphas[4] = {o->alpha_sr, o->alpha_ri, o->alpha_rs, o->alpha_rd};
    for (int i = 0; i < 4; i++)
        if (!(alphas[i] >= 0 && alphas[i] <= 1))
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_augment: alpha_%s is %g; expected a share in [0, 1]",
                            op_names[i], alphas[i]);
    if ((o->ops & DM_AUGMENT_EDA) && !(alphas[0] || alphas[1] || alphas[2] || alphas[3]))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_dataset_augment: every EDA alpha (alpha_sr, alpha_ri, alpha_rs, alpha_rd) is 0, so EDA "
                        "has nothing to do");
    if (!(o->char_rate >= 0 && o->char_rate <= 1) || ((o->ops & DM_AUGMENT_CHARS) && o->char_rate == 0))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_augment: char_rate is %g; expected a share in %s",
                        o->char_rate, (o->ops & DM_AUGMENT_CHARS) ? "(0, 1]" : "[0, 1]");
    if (o->keep_original != 0 && o->keep_original != 1)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_augment: keep_original is %d; expected 0 or 1",
                        o->keep_original);
    return DM_OK;
}

DM_API void dm_augment_options_default(dm_augment_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->ops = DM_AUGMENT_EDA;
    opts->n = 4;
    opts->alpha_sr = opts->alpha_ri = opts->alpha_rs = opts->alpha_rd = 0.1;
    opts->char_rate = 0.05;
    opts->keep_original = 1;
    opts->seed = 42;
}

static const char *row_text(const dm_dataset *ds, size_t i, size_t *len)
{
    const char *t = dm_dataset_text(ds, i, len);
    if (!t) *len = 0;
    return t ? t : "";
}

/* Reads the synonyms file, and WordNet when EDA's sr or ri will look up an
 * English word; HAN[i] gets whether row I is Han text. */
static dm_status prepare(augmenter *a, const dm_dataset *ds, uint8_t *han)
{
    const dm_augment_options *o = &a->o;
    int n_eda = 0;
    const double alphas[4] = {o->alpha_sr, o->alpha_ri, o->alpha_rs, o->alpha_rd};
    for (int i = 0; i < 4; i++)
        if (alphas[i] > 0) a->eda_ops[n_eda++] = i;
    a->n_eda_ops = n_eda;
    size_t n = dm_dataset_size(ds);
    int need_wordnet = 0;
#pragma omp parallel for schedule(dynamic, 256) reduction(| : need_wordnet)
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *t = row_text(ds, i, &len);
        bool is_han, ascii;
        classify_text(t, len, &is_han, &ascii);
        han[i] = is_han;
        need_wordnet |= !is_han && ascii;
    }
    bool eda_lookups = (o->ops & DM_AUGMENT_EDA) && (o->alpha_sr > 0 || o->alpha_ri > 0);
    dm_status st = DM_OK;
    if (o->synonyms_path && o->synonyms_path[0] && eda_lookups) {
        st = dmi_th_read_synonyms(&a->file, o->synonyms_path);
        if (!st) st = dmi_th_finish(&a->file);
        a->has_file = !st;
    }
    const char *dir = o->wordnet_dir ? o->wordnet_dir : "/usr/share/wordnet";
    if (!st && eda_lookups && need_wordnet && dir[0]) {
        st = dmi_th_read_wordnet(&a->wordnet, dir);
        a->has_wordnet = !st;
    }
    return st;
}

static dm_status report(const dm_dataset *ds, const dm_dataset *out, const uint64_t *counts, uint64_t unchanged,
                        char **report_json)
{
    dmi_buf b = {0};
    dmi_buf_printf(&b, "{\"rows_in\":%zu,\"rows_out\":%zu,\"ops\":{", dm_dataset_size(ds), dm_dataset_size(out));
    for (int i = 0; i < N_OPS; i++)
        dmi_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "", op_names[i], (unsigned long long)counts[i]);
    dmi_buf_printf(&b, "},\"unchanged\":%llu}", (unsigned long long)unchanged);
    return dmi_buf_finish(&b, report_json, NULL);
}

/* Appends CHUNK rows from FIRST (with their copies) to D. */
static dm_status emit_rows(const augmenter *a, const dm_dataset *ds, dm_dataset *d, size_t first, size_t chunk,
                           const row_out *rows, const copy_out *copies, uint64_t *counts, uint64_t *unchanged)
{
    char id_buf[512];
    dmi_buf idb = {0};
    dm_status st = DM_OK;
    for (size_t i = 0; i < chunk && !st; i++) {
        size_t row = first + i;
        const char *id = dm_dataset_id(ds, row);
        if (a->o.keep_original) {
            const char *extra[1] = {""};
            st = dmi_derive_row(d, ds, row, NULL, 0, NULL, 0, extra, NULL);
        }
        for (size_t k = 1; k <= a->o.n && !st; k++) {
            const copy_out *c = &copies[i * a->o.n + k - 1];
            if (c->op < 0) {
                (*unchanged)++;
                continue;
            }
            const char *new_id = id_buf;
            if ((size_t)snprintf(id_buf, sizeof id_buf, "%s#aug%zu", id, k) >= sizeof id_buf) {
                idb.len = 0;
                dmi_buf_printf(&idb, "%s#aug%zu", id, k);
                if (idb.failed) st = DM_ERR_NO_MEMORY;
                new_id = idb.data;
            }
            const char *extra[1] = {id};
            if (!st) st = dmi_derive_row(d, ds, row, rows[i].texts.data + c->off, c->len, NULL, 0, extra, new_id);
            counts[c->op]++;
        }
    }
    dmi_buf_free(&idb);
    return st;
}

static dm_status run(augmenter *a, const dm_dataset *ds, const uint8_t *han, dm_dataset *d, uint64_t *counts,
                     uint64_t *unchanged)
{
    size_t n = dm_dataset_size(ds), per = a->o.n;
    size_t chunk = 262144 / per;
    chunk = chunk < 1 ? 1 : chunk > 4096 ? 4096 : chunk;
    row_out *rows = dmi_calloc(chunk, sizeof *rows);
    copy_out *copies = dmi_malloc(chunk * per * sizeof *copies);
    dm_status st = rows && copies ? DM_OK : DM_ERR_NO_MEMORY;
    for (size_t first = 0; first < n && !st; first += chunk) {
        size_t m = n - first < chunk ? n - first : chunk;
        dmi_job_error err;
        dmi_job_error_init(&err);
#pragma omp parallel
        {
            scratch s = {0};
#pragma omp for schedule(dynamic, 16)
            for (size_t i = 0; i < m; i++) {
                if (dmi_job_error_before(&err, i)) continue;
                size_t len, row = first + i;
                const char *t = row_text(ds, row, &len);
                if (dmi_fault("augment", row)) dmi_job_error_set(&err, i, dmi_fault_fail("augment", row));
                else if (!augment_row(a, &s, row, t, len, han[row], &rows[i], &copies[i * per]))
                    dmi_job_error_set(&err, i, DM_ERR_NO_MEMORY); /* the message was set on this thread */
            }
            scratch_free(&s);
        }
        if (dmi_job_failed(&err)) {
            size_t row = first + dmi_job_error_index(&err);
            st = dmi_job_error_raise(&err, "dm_dataset_augment: row %zu (id %s)", row, dm_dataset_id(ds, row));
        }
        dmi_job_error_destroy(&err);
        if (!st) st = emit_rows(a, ds, d, first, m, rows, copies, counts, unchanged);
        if (!st && a->o.progress && a->o.progress(first + m, n, a->o.progress_user))
            st = dmi_fail(DM_ERR_CANCELLED,
                          "dm_dataset_augment: cancelled by the progress callback after %zu of %zu rows", first + m, n);
    }
    for (size_t i = 0; rows && i < chunk; i++) dmi_buf_free(&rows[i].texts);
    free(rows);
    free(copies);
    return st;
}

DM_API dm_status dm_dataset_augment(const dm_dataset *ds, const dm_augment_options *opts, dm_dataset **out,
                                    char **report_json)
{
    if (out) *out = NULL;
    if (report_json) *report_json = NULL;
    if (!ds || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_augment: NULL %s", ds ? "out" : "dataset");
    augmenter a = {0};
    dm_augment_options_default(&a.o);
    dm_status st = opts ? dmi_copy_options(&a.o, sizeof a.o, opts, "dm_dataset_augment") : DM_OK;
    if (!st) st = check_options(&a.o);
    if (st) return st;
    size_t n = dm_dataset_size(ds);
    uint8_t *han = dmi_malloc(n ? n : 1);
    if (!han) return DM_ERR_NO_MEMORY;
    st = prepare(&a, ds, han);
    dm_dataset *d = NULL;
    const char *extra_names[1] = {"source_id"};
    uint64_t counts[N_OPS] = {0}, unchanged = 0;
    if (!st) st = dmi_derive_begin(ds, 1, extra_names, &d);
    if (!st) st = run(&a, ds, han, d, counts, &unchanged);
    if (!st && report_json) st = report(ds, d, counts, unchanged, report_json);
    free(han);
    dmi_th_free(&a.file);
    dmi_th_free(&a.wordnet);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    return DM_OK;
}
