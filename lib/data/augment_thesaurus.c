/*
 * augment_thesaurus.c — the synonyms of augmentation (augment_impl.h): groups
 * of words over lower-cased keys, read from a synonyms file (one group per
 * line) or from WordNet's database files (synsets by part of speech, and the
 * *.exc lists of inflected forms that NLTK's morphology uses).
 */
#include "augment_impl.h"
#include "../core/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void dmi_put_cp(dmi_buf *b, uint32_t cp)
{
    utf8proc_uint8_t e[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, e);
    dmi_buf_append(b, e, (size_t)n);
}

/* KEY gets S lower-cased code point by code point, '_' read as a space (as
 * WordNet writes multi-word lemmas). */
bool dmi_lower_key(dmi_buf *key, const char *s, size_t len)
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
        dmi_put_cp(key, cp);
    }
    dmi_buf_append(key, "", 0);
    return !key->failed;
}

/* ------------------------------------------------------------- thesaurus */

void dmi_th_free(thesaurus *t)
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
    if (!dmi_grow(&t->group_start, &t->groups_cap, t->n_groups + 2, sizeof *t->group_start)) return DM_ERR_NO_MEMORY;
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
    if (!dmi_grow(&t->members, &t->members_cap, t->n_members + 1, sizeof *t->members)) return DM_ERR_NO_MEMORY;
    t->members[t->n_members++] = (uint32_t)id;
    size_t cps = 0;
    for (size_t i = 0; i < key->len; i++) cps += ((unsigned char)key->data[i] & 0xC0) != 0x80;
    if (cps > t->max_key_cps) t->max_key_cps = cps;
    return DM_OK;
}

/* Builds the word -> groups index once every group is in. */
dm_status dmi_th_finish(thesaurus *t)
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

uint32_t dmi_th_find(const thesaurus *t, const char *key, size_t len)
{
    size_t id = len ? dmi_strmap_find(&t->words, key, len) : SIZE_MAX;
    return id == SIZE_MAX ? UINT32_MAX : (uint32_t)id;
}

bool dmi_th_has_pos(const thesaurus *t, uint32_t w, uint8_t pos)
{
    for (uint32_t i = t->word_start[w]; i < t->word_start[w + 1]; i++)
        if (t->group_pos[t->word_groups[i]] == pos) return true;
    return false;
}

/* ------------------------------------------------------- synonyms file */

/* One group per line, words separated by spaces or tabs ('_' for a space
 * inside a word); lines starting with '#' (after blanks) are comments. */
dm_status dmi_th_read_synonyms(thesaurus *t, const char *path)
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
                if (!dmi_lower_key(&key, data + w, q - w)) st = DM_ERR_NO_MEMORY;
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
        if (!dmi_lower_key(key, w, wl)) *st = DM_ERR_NO_MEMORY;
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
            if (!dmi_lower_key(key, f, fl)) st = DM_ERR_NO_MEMORY;
            dmi_buf_append(&ekey, key->data, key->len);
            size_t before = t->exc.count;
            if (!st) st = ekey.failed ? DM_ERR_NO_MEMORY : dmi_strmap_add(&t->exc, ekey.data, ekey.len, &idx);
            bool fresh = !st && t->exc.count > before;
            if (fresh && !dmi_grow(&t->exc_range, &t->exc_range_cap, 2 * t->exc.count, sizeof *t->exc_range))
                st = DM_ERR_NO_MEMORY;
            if (fresh && !st) t->exc_range[2 * idx] = (uint32_t)t->n_exc_bases, t->exc_range[2 * idx + 1] = 0;
            size_t n_bases = 0;
            while (!st && next_field(&p, eol, &f, &fl)) {
                n_bases++;
                if (!dmi_lower_key(key, f, fl)) st = DM_ERR_NO_MEMORY;
                uint32_t w = st ? UINT32_MAX : dmi_th_find(t, key->data, key->len);
                if (!fresh || w == UINT32_MAX) continue;
                if (!dmi_grow(&t->exc_bases, &t->exc_bases_cap, t->n_exc_bases + 1, sizeof *t->exc_bases))
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

dm_status dmi_th_read_wordnet(thesaurus *t, const char *dir)
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
        if (!st) st = wn_read_exceptions(t, path, dmi_wn_pos[p], &key);
    }
    if (!st) st = dmi_th_finish(t);
    dmi_buf_free(&key);
    return st;
}

