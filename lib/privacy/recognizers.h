/*
 * recognizers.h — the built-in PII recognisers (recognizers.c), used by the
 * detector (pii_detect.c). A recogniser is a PCRE2 pattern that finds
 * candidates and a check function that decides: checksums, date and range
 * rules, and the exact span (a URL loses its trailing punctuation, a run of
 * digit groups yields the groups that form a phone number).
 */
#ifndef DM_PRIVACY_RECOGNIZERS_H
#define DM_PRIVACY_RECOGNIZERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the check functions need besides the text. */
typedef struct dmi_check_env {
    uint32_t today; /* YYYYMMDD (UTC) when the handle was made: latest birth date */
} dmi_check_env;

typedef struct dmi_hit {
    size_t start, end; /* bytes, END exclusive */
    double score;      /* base score, before context words */
} dmi_hit;

/* Decides the candidate [S, E) that the pattern matched in T (LEN bytes):
 * true with *HIT filled when it holds an entity. *NEXT comes in as where the
 * next search would start by default (HIT's end after a hit, else the
 * character after S) and may be moved forward. */
typedef bool (*dmi_check_fn)(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env,
                             dmi_hit *hit, size_t *next);

/* Cheap facts about a text, computed in one pass, that let the detector skip
 * recognisers that cannot match (see dmi_text_facts). */
enum {
    DMI_NEED_AT = 1u << 0,      /* an '@' */
    DMI_NEED_URL = 1u << 1,     /* "://" or "www." (any case) */
    DMI_NEED_COLON2 = 1u << 2,  /* two ':' */
    DMI_NEED_DOT3 = 1u << 3,    /* three '.' and 4 digits */
    DMI_NEED_D8 = 1u << 4,      /* at least 8 ASCII digits */
    DMI_NEED_D9 = 1u << 5,      /* at least 9 */
    DMI_NEED_D13 = 1u << 6,     /* at least 13 */
    DMI_NEED_D17 = 1u << 7,     /* at least 17 */
    DMI_NEED_IBAN = 1u << 8,    /* two capitals followed by two digits */
};
uint32_t dmi_text_facts(const char *t, size_t len);

typedef struct dmi_builtin {
    const char *type;      /* Presidio's name */
    const char *name;      /* of the recogniser, for messages */
    const char *pattern;   /* PCRE2, compiled with UTF | UCP */
    dmi_check_fn check;
    uint32_t needs;        /* DMI_NEED_* bits that must all be in the text's facts */
    const char *const *context; /* NULL-terminated: lowercase ASCII or CJK words */
} dmi_builtin;

extern const dmi_builtin dmi_builtins[];
extern const size_t dmi_n_builtins;

/* The built-in type names, in a fixed order, and how many. */
extern const char *const dmi_builtin_types[];
extern const size_t dmi_n_builtin_types;

/* The checks, exposed for tests of the rules themselves. */
bool dmi_luhn_ok(const char *digits, size_t n);
bool dmi_iban_ok(const char *s, size_t n); /* compact form, capitals and digits */
bool dmi_cn_id_ok(const char *s, size_t n, uint32_t today);

/* Today (UTC) as YYYYMMDD. */
uint32_t dmi_today_yyyymmdd(void);

#endif
