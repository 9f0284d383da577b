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
 */
#include "ops.h"
#include "../core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_COPIES 10000 /* copies per row: the RNG stream keeps 24 bits for K */

enum { OP_SR, OP_RI, OP_RS, OP_RD, OP_CHARS, N_OPS };
static const char *const op_names[N_OPS] = {"sr", "ri", "rs", "rd", "chars"};

/* Grows *P (an array of ELEM-byte items, *CAP of them) to hold NEED. */
static bool grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap) return true;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *n = dmi_realloc(*p, c * elem);
    if (!n) return false;
    *p = n, *cap = c;
    return true;
}

static void put_cp(dmi_buf *b, uint32_t cp)
{
    utf8proc_uint8_t e[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, e);
    dmi_buf_append(b, e, (size_t)n);
}

/* KEY gets S lower-cased code point by code point, '_' read as a space (as
 * WordNet writes multi-word lemmas). */
static bool lower_key(dmi_buf *key, const char *s, size_t len)
{
    key->len = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t bad = 0, n = dmi_utf8_decode((const uint8_t *)s + i, len - i, &cp, &bad);
        if (!n) {
            dmi_buf_append(key, s + i, bad ? bad : 1);
            i += bad ? bad : 1;
            continue;
        }
        i += n;
        if (cp == '_') cp = ' ';
        else if (cp < 0x80) cp = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        else cp = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
        put_cp(key, cp);
    }
    dmi_buf_append(key, "", 0);
    return !key->failed;
}

/* ------------------------------------------------------------- thesaurus */

/* Groups of synonyms (WordNet synsets or lines of the synonyms file) over
 * lower-cased words, with each word's groups. */
typedef struct thesaurus {
    dmi_strmap words;
    uint32_t *members; /* the groups' word ids, group after group */
    size_t n_members, members_cap;
    uint32_t *group_start; /* n_groups + 1 */
    uint8_t *group_pos;    /* WordNet: 'n', 'v', 'a', 'r'; synonyms file: 0 */
    size_t n_groups, groups_cap;
    uint32_t *word_start, *word_groups; /* word -> its groups */
    size_t max_key_cps;                 /* the longest word, in code points */
    dmi_strmap exc;                     /* WordNet: "<pos><inflected form>" -> base forms */
    uint32_t *exc_range;                /* per exc key: start, count in exc_bases */
    uint32_t *exc_bases;
    size_t exc_range_cap, n_exc_bases, exc_bases_cap;
} thesaurus;

static void th_free(thesaurus *t)
{
    dmi_strmap_free(&t->words);
    dmi_strmap_free(&t->exc);
    free(t->members), free(t->group_start), free(t->group_pos);
    free(t->word_start), free(t->word_groups), free(t->exc_range), free(t->exc_bases);
    memset(t, 0, sizeof *t);
}

static dm_status th_begin_group(thesaurus *t, uint8_t pos)
{
    size_t cap = t->groups_cap;
    if (!grow(&t->group_start, &t->groups_cap, t->n_groups + 2, sizeof *t->group_start)) return DM_ERR_NO_MEMORY;
    if (t->groups_cap != cap) { /* group_pos follows group_start's capacity */
        uint8_t *gp = dmi_realloc(t->group_pos, t->groups_cap);
        if (!gp) return DM_ERR_NO_MEMORY;
        t->group_pos = gp;
    }
    t->group_start[t->n_groups] = (uint32_t)t->n_members;
    t->group_pos[t->n_groups] = pos;
    return DM_OK;
}

static void th_end_group(thesaurus *t)
{
    t->n_groups++;
    t->group_start[t->n_groups] = (uint32_t)t->n_members;
}

/* Adds the lower-cased KEY to the open group (once). */
static dm_status th_add_member(thesaurus *t, const dmi_buf *key)
{
    if (key->len == 0) return DM_OK;
    size_t id;
    dm_status st = dmi_strmap_add(&t->words, key->data, key->len, &id);
    if (st) return st;
    for (size_t m = t->group_start[t->n_groups]; m < t->n_members; m++)
        if (t->members[m] == id) return DM_OK;
    if (!grow(&t->members, &t->members_cap, t->n_members + 1, sizeof *t->members)) return DM_ERR_NO_MEMORY;
    t->members[t->n_members++] = (uint32_t)id;
    size_t cps = 0;
    for (size_t i = 0; i < key->len; i++) cps += ((unsigned char)key->data[i] & 0xC0) != 0x80;
    if (cps > t->max_key_cps) t->max_key_cps = cps;
    return DM_OK;
}

/* Builds the word -> groups index once every group is in. */
static dm_status th_finish(thesaurus *t)
{
    size_t nw = t->words.count;
    t->word_start = dmi_calloc(nw + 1, sizeof *t->word_start);
    t->word_groups = dmi_malloc((t->n_members ? t->n_members : 1) * sizeof *t->word_groups);
    if (!t->word_start || !t->word_groups) return DM_ERR_NO_MEMORY;
    for (size_t m = 0; m < t->n_members; m++) t->word_start[t->members[m] + 1]++;
    for (size_t w = 0; w < nw; w++) t->word_start[w + 1] += t->word_start[w];
    uint32_t *fill = dmi_malloc((nw ? nw : 1) * sizeof *fill);
    if (!fill) return DM_ERR_NO_MEMORY;
    memcpy(fill, t->word_start, nw * sizeof *fill);
    for (size_t g = 0; g < t->n_groups; g++)
        for (size_t m = t->group_start[g]; m < t->group_start[g + 1]; m++)
            t->word_groups[fill[t->members[m]]++] = (uint32_t)g;
    free(fill);
    return DM_OK;
}

static uint32_t th_find(const thesaurus *t, const char *key, size_t len)
{
    size_t id = len ? dmi_strmap_find(&t->words, key, len) : SIZE_MAX;
    return id == SIZE_MAX ? UINT32_MAX : (uint32_t)id;
}

static bool th_has_pos(const thesaurus *t, uint32_t w, uint8_t pos)
{
    for (uint32_t i = t->word_start[w]; i < t->word_start[w + 1]; i++)
        if (t->group_pos[t->word_groups[i]] == pos) return true;
    return false;
}

/* ------------------------------------------------------- synonyms file */

/* One group per line, words separated by spaces or tabs ('_' for a space
 * inside a word); lines starting with '#' (after blanks) are comments. */
static dm_status read_synonyms_file(thesaurus *t, const char *path)
{
    char *data;
    size_t len;
    dm_status st = dmi_read_file(path, &data, &len);
    if (st) return dmi_fail_prefix(st, "synonyms_path");
    dmi_buf key = {0};
    size_t line = 0;
    for (size_t p = dmi_bom_len(data, len); p < len && !st;) {
        const char *eol = memchr(data + p, '\n', len - p);
        size_t end = eol ? (size_t)(eol - data) : len;
        line++;
        size_t bad = dmi_utf8_invalid_at(data + p, end - p);
        if (bad < end - p) {
            st = dmi_fail(DM_ERR_UTF8, "%s: line %zu: invalid UTF-8 at byte %zu of the line", path, line, bad + 1);
            break;
        }
        size_t q = p;
        while (q < end && (data[q] == ' ' || data[q] == '\t' || data[q] == '\r')) q++;
        if (q < end && data[q] != '#') {
            st = th_begin_group(t, 0);
            while (!st && q < end) {
                size_t w = q;
                while (q < end && data[q] != ' ' && data[q] != '\t' && data[q] != '\r') q++;
                if (!lower_key(&key, data + w, q - w)) st = DM_ERR_NO_MEMORY;
                if (!st) st = th_add_member(t, &key);
                while (q < end && (data[q] == ' ' || data[q] == '\t' || data[q] == '\r')) q++;
            }
            if (!st) th_end_group(t);
        }
        p = end + 1;
    }
    dmi_buf_free(&key);
    free(data);
    return st;
}

/* ------------------------------------------------------------- WordNet */

static const char wn_pos[4] = {'n', 'v', 'a', 'r'};
static const char *const wn_pos_file[4] = {"noun", "verb", "adj", "adv"};

/* The next space-separated field of [*P, END). */
static bool next_field(const char **p, const char *end, const char **f, size_t *flen)
{
    while (*p < end && **p == ' ') (*p)++;
    if (*p >= end) return false;
    *f = *p;
    while (*p < end && **p != ' ') (*p)++;
    *flen = (size_t)(*p - *f);
    return true;
}

static bool parse_hex(const char *f, size_t len, unsigned *v)
{
    if (len == 0 || len > 4) return false;
    *v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = f[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return false;
        *v = *v * 16 + (unsigned)d;
    }
    return true;
}

/* One synset line of a data.* file (man 5 wndb): offset lex_filenum ss_type
 * w_cnt (hex) then w_cnt (word lex_id) pairs; the rest (pointers, gloss) is
 * not needed. Returns NULL or what was expected. */
static const char *wn_parse_synset(thesaurus *t, const char *p, const char *end, dmi_buf *key, dm_status *st)
{
    const char *f;
    size_t fl;
    unsigned count, lex_id;
    if (!next_field(&p, end, &f, &fl) || f[0] < '0' || f[0] > '9') return "a synset offset";
    if (!next_field(&p, end, &f, &fl) || f[0] < '0' || f[0] > '9') return "a lexicographer file number";
    if (!next_field(&p, end, &f, &fl) || fl != 1 || !strchr("nvasr", f[0])) return "a synset type (n, v, a, s or r)";
    uint8_t pos = f[0] == 's' ? 'a' : (uint8_t)f[0];
    if (!next_field(&p, end, &f, &fl) || !parse_hex(f, fl, &count) || count == 0) return "a word count (hex)";
    if ((*st = th_begin_group(t, pos))) return NULL;
    for (unsigned i = 0; i < count; i++) {
        if (!next_field(&p, end, &f, &fl)) return "a word";
        const char *w = f;
        size_t wl = fl;
        if (wl > 2 && w[wl - 1] == ')') { /* adjective markers: (a), (p), (ip) */
            const char *open = memchr(w, '(', wl);
            if (open && open > w) wl = (size_t)(open - w);
        }
        if (!next_field(&p, end, &f, &fl) || !parse_hex(f, fl, &lex_id)) return "a lex_id (hex) after a word";
        if (!lower_key(key, w, wl)) *st = DM_ERR_NO_MEMORY;
        if (!*st) *st = th_add_member(t, key);
        if (*st) return NULL;
    }
    th_end_group(t);
    return NULL;
}

static dm_status wn_read_data(thesaurus *t, const char *path, dmi_buf *key)
{
    char *data;
    size_t len;
    bool mapped;
    dm_status st = dmi_map_file(path, false, &data, &len, &mapped);
    if (st) return st;
    size_t line = 0;
    for (const char *p = data, *end = data + len; p < end && !st;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        bool licence = eol - p >= 2 && p[0] == ' ' && p[1] == ' ';
        if (!licence && eol > p) {
            const char *expected = wn_parse_synset(t, p, eol, key, &st);
            if (expected)
                st = dmi_fail(DM_ERR_PARSE, "%s: line %zu: expected %s (format: man 5 wndb)", path, line, expected);
        }
        p = eol + 1;
    }
    dmi_unmap_file(data, len, mapped);
    return st;
}

/* POS.exc: "inflected base [base...]" per line; a missing file is no list. */
static dm_status wn_read_exceptions(thesaurus *t, const char *path, char pos, dmi_buf *key)
{
    if (!dmi_is_file(path)) return DM_OK;
    char *data;
    size_t len;
    dm_status st = dmi_read_file(path, &data, &len);
    if (st) return st;
    dmi_buf ekey = {0};
    size_t line = 0;
    for (const char *p = data, *end = data + len; p < end && !st;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        const char *f;
        size_t fl, idx;
        if (next_field(&p, eol, &f, &fl)) {
            ekey.len = 0;
            dmi_buf_append(&ekey, &pos, 1);
            if (!lower_key(key, f, fl)) st = DM_ERR_NO_MEMORY;
            dmi_buf_append(&ekey, key->data, key->len);
            size_t before = t->exc.count;
            if (!st) st = ekey.failed ? DM_ERR_NO_MEMORY : dmi_strmap_add(&t->exc, ekey.data, ekey.len, &idx);
            bool fresh = !st && t->exc.count > before;
            if (fresh && !grow(&t->exc_range, &t->exc_range_cap, 2 * t->exc.count, sizeof *t->exc_range))
                st = DM_ERR_NO_MEMORY;
            if (fresh && !st) t->exc_range[2 * idx] = (uint32_t)t->n_exc_bases, t->exc_range[2 * idx + 1] = 0;
            size_t n_bases = 0;
            while (!st && next_field(&p, eol, &f, &fl)) {
                n_bases++;
                if (!lower_key(key, f, fl)) st = DM_ERR_NO_MEMORY;
                uint32_t w = st ? UINT32_MAX : th_find(t, key->data, key->len);
                if (!fresh || w == UINT32_MAX) continue;
                if (!grow(&t->exc_bases, &t->exc_bases_cap, t->n_exc_bases + 1, sizeof *t->exc_bases))
                    st = DM_ERR_NO_MEMORY;
                else t->exc_bases[t->n_exc_bases++] = w, t->exc_range[2 * idx + 1]++;
            }
            if (!st && n_bases == 0)
                st = dmi_fail(DM_ERR_PARSE, "%s: line %zu: expected an inflected form and its base forms", path, line);
        }
        p = eol + 1;
    }
    dmi_buf_free(&ekey);
    free(data);
    return st;
}

static dm_status read_wordnet(thesaurus *t, const char *dir)
{
    if (!dmi_is_dir(dir))
        return dmi_fail(DM_ERR_IO,
                        "wordnet_dir \"%s\" is not a folder: WordNet's database files (data.noun, data.verb, "
                        "data.adj, data.adv) come with Debian's wordnet-base package (apt-get install "
                        "wordnet-base), or pass a synonyms file and wordnet_dir \"\"",
                        dir);
    char path[4096], name[32];
    dmi_buf key = {0};
    dm_status st = DM_OK;
    for (int p = 0; p < 4 && !st; p++) {
        snprintf(name, sizeof name, "data.%s", wn_pos_file[p]);
        st = dmi_path_join(path, sizeof path, dir, name);
        if (!st && !dmi_is_file(path))
            st = dmi_fail(DM_ERR_IO,
                          "%s: no such file: WordNet's database files come with Debian's wordnet-base package "
                          "(apt-get install wordnet-base)",
                          path);
        if (!st) st = wn_read_data(t, path, &key);
    }
    for (int p = 0; p < 4 && !st; p++) {
        snprintf(name, sizeof name, "%s.exc", wn_pos_file[p]);
        st = dmi_path_join(path, sizeof path, dir, name);
        if (!st) st = wn_read_exceptions(t, path, wn_pos[p], &key);
    }
    if (!st) st = th_finish(t);
    dmi_buf_free(&key);
    return st;
}

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
        if (!grow(&s->base, &s->base_cap, s->n_base + 1, sizeof *s->base) ||
            !grow(&s->keyoff, &s->keyoff_cap, s->n_base + 1, sizeof *s->keyoff))
            return false;
        token *t = &s->base[s->n_base];
        *t = (token){.s = text + start, .len = i - start, .ws = text + ws, .ws_len = start - ws,
                     .word = c == CH_WORD || c == CH_HAN};
        if (t->word) {
            t->cased = case_of(t->s, t->len);
            if (!lower_key(&s->key, t->s, t->len)) return false;
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
    if (!grow(v, cap, *n + 1, sizeof **v)) return false;
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
        if (!grow(&s->syn, &s->syn_cap, s->n_syn + 1, sizeof *s->syn)) return false;
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
    if (w == UINT32_MAX || !th_has_pos(t, w, pos)) return true;
    return push_id(&s->forms, &s->n_forms, &s->forms_cap, w, true) &&
           push_id(&s->excl, &s->n_excl, &s->excl_cap, w, true);
}

static bool add_form(scratch *s, const thesaurus *t, const char *f, size_t len, uint8_t pos)
{
    return add_lemma(s, t, th_find(t, f, len), pos);
}

/* WordNet synonyms of the lower-cased word K: every lemma of the synsets of
 * K's base forms in each part of speech (NLTK's wordnet.synsets(K)). */
static bool wordnet_synonyms(scratch *s, const thesaurus *t, const char *k, size_t len)
{
    s->n_ids = s->n_excl = 0;
    for (int p = 0; p < 4; p++) {
        uint8_t pos = (uint8_t)wn_pos[p];
        s->n_forms = 0;
        s->form.len = 0;
        dmi_buf_append(&s->form, &wn_pos[p], 1);
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
        uint32_t w = th_find(&a->file, k, len);
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
                uint32_t w = th_find(&a->file, s->key.data, s->key.len);
                if (w != UINT32_MAX) {
                    c = (candidate){i, end, dmi_strmap_key(&a->file.words, w), dmi_strmap_key_len(&a->file.words, w)};
                    found = true;
                }
            }
        }
        if (found) {
            if (!grow(&s->cand, &s->cand_cap, s->n_cand + 1, sizeof *s->cand)) return false;
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
    if (!grow(&s->widx, &s->widx_cap, s->n_tok + 1, sizeof *s->widx)) return SIZE_MAX;
    for (size_t i = 0; i < s->n_tok; i++)
        if (s->tok[i].word && !s->tok[i].dead) s->widx[n++] = i;
    return n;
}

/* sr: replaces every occurrence of up to N_SR distinct candidates (in random
 * order, skipping those without synonyms) by one random synonym each. */
static bool op_sr(const augmenter *a, scratch *s, dmi_rng *r, size_t n_sr)
{
    size_t n = 0;
    if (!grow(&s->order, &s->order_cap, s->n_cand + 1, sizeof *s->order)) return false;
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
    if (!grow(&s->tok, &s->tok_cap, s->n_tok + 1, sizeof *s->tok)) return false;
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
        else put_cp(b, (uint32_t)(t->cased == CASE_TITLE ? utf8proc_totitle((utf8proc_int32_t)cp)
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
    if (!grow(&s->tok, &s->tok_cap, s->n_base + 1, sizeof *s->tok)) return false;
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
        if (!grow(&s->cps, &s->cps_cap, n + 1, sizeof *s->cps)) return false;
        s->cps[n++] = cp;
    }
    if (!grow(&s->letters, &s->letters_cap, n + 1, sizeof *s->letters)) return false;
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
        } else put_cp(&s->out, s->cps[i]);
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
        st = read_synonyms_file(&a->file, o->synonyms_path);
        if (!st) st = th_finish(&a->file);
        a->has_file = !st;
    }
    const char *dir = o->wordnet_dir ? o->wordnet_dir : "/usr/share/wordnet";
    if (!st && eda_lookups && need_wordnet && dir[0]) {
        st = read_wordnet(&a->wordnet, dir);
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
        int failed = 0;
#pragma omp parallel reduction(| : failed)
        {
            scratch s = {0};
#pragma omp for schedule(dynamic, 16)
            for (size_t i = 0; i < m; i++) {
                if (failed) continue;
                size_t len;
                const char *t = row_text(ds, first + i, &len);
                if (!augment_row(a, &s, first + i, t, len, han[first + i], &rows[i], &copies[i * per])) failed = 1;
            }
            scratch_free(&s);
        }
        if (failed) st = dmi_fail(DM_ERR_NO_MEMORY, "dm_dataset_augment: out of memory");
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
    th_free(&a.file);
    th_free(&a.wordnet);
    if (st) {
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    return DM_OK;
}
