/*
 * augment_impl.h — what the augmentation engine (augment.c) and its
 * thesaurus (augment_thesaurus.c) share: the thesaurus of synonym groups,
 * read from a synonyms file or WordNet, and the lower-cased lookup key.
 */
#ifndef DM_DATA_AUGMENT_IMPL_H
#define DM_DATA_AUGMENT_IMPL_H

#include "ops.h"

#include <stdbool.h>
#include <stdint.h>

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

/* WordNet's parts of speech, in the order of its files (noun, verb, adj, adv). */
static const char dmi_wn_pos[4] = {'n', 'v', 'a', 'r'};

void dmi_th_free(thesaurus *t);
/* Builds each word's list of groups (after the last group is added). */
dm_status dmi_th_finish(thesaurus *t);
/* The id of word KEY (LEN bytes, lower case), or UINT32_MAX. */
uint32_t dmi_th_find(const thesaurus *t, const char *key, size_t len);
/* Whether word W is in a group of part of speech POS. */
bool dmi_th_has_pos(const thesaurus *t, uint32_t w, uint8_t pos);
/* The groups of a synonyms file (one group per line, words separated by
 * spaces or tabs, '#' comments); finish with dmi_th_finish. */
dm_status dmi_th_read_synonyms(thesaurus *t, const char *path);
/* The synsets of WordNet's database files in DIR (data.* required, *.exc
 * optional), finished. */
dm_status dmi_th_read_wordnet(thesaurus *t, const char *dir);

/* Appends code point CP to B as UTF-8. */
void dmi_put_cp(dmi_buf *b, uint32_t cp);
/* KEY gets S lower-cased code point by code point, '_' read as a space (as
 * WordNet writes multi-word lemmas); false when out of memory. */
bool dmi_lower_key(dmi_buf *key, const char *s, size_t len);

#endif
