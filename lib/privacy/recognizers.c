/*
 * recognizers.c — the built-in recognisers: their PCRE2 patterns, the checks
 * that decide (checksums, ranges, dates, separators) and their context words.
 *
 * Every pattern only proposes candidates; a check function accepts or refuses
 * each one and fixes its span and base score. The rules, type by type:
 *
 * Boundaries. Digit-based entities must not be glued to ASCII letters, digits
 * or '_' on either side, nor continue a number through '.' or '-' ("1.5",
 * "12-13812345678"); CJK characters and punctuation around them are fine
 * ("电话13812345678联系"). Only ASCII digits count (not full-width ones).
 *
 * Base scores (a context word shortly before adds 0.35, capped at 1):
 *   EMAIL_ADDRESS 1.0, URL 1.0, IBAN_CODE 1.0, CN_RESIDENT_ID 1.0,
 *   CREDIT_CARD 1.0 (Luhn, brand prefix and length all hold),
 *   IP_ADDRESS 0.6 (a dotted quad can be a version number),
 *   US_SSN 0.85 with dashes, 0.5 with spaces, 0.3 bare (9 bare digits need a
 *   context word such as "SSN" to pass the default min_score 0.4),
 *   PHONE_NUMBER 0.7 international ("+" or "00"), 0.6 formatted North
 *   American or Chinese mobile, 0.5 formatted UK or Chinese landline and bare
 *   Chinese mobile, 0.3 bare 10/11 digits (North American, UK).
 * URL and EMAIL tie at 1.0 so that the longer wins: a URL whose query holds an
 * e-mail address is reported as one URL.
 */
#include "recognizers.h"
#include "../core/utf8.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#define DMI_LIKELY_NONE(k) __builtin_expect((k) == C_NONE, 1)

/* ---- shared helpers */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static bool is_alnum_(char c) { return is_digit(c) || is_alpha(c) || c == '_'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

/* Whether an entity of a digit-based type may end at E: not glued to a word
 * character, nor continued by '.'/'-' and a digit. */
static bool digit_end_ok(const char *t, size_t len, size_t e)
{
    if (e >= len) return true;
    if (is_alnum_(t[e])) return false;
    if ((t[e] == '.' || t[e] == '-') && e + 1 < len && is_digit(t[e + 1])) return false;
    return true;
}

uint32_t dmi_today_yyyymmdd(void)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm)) return 20991231;
    return (uint32_t)(tm.tm_year + 1900) * 10000 + (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
}

/* ---- text facts (the prefilter) */

/* Byte classes for the one pass: most bytes of most texts are none of these. */
enum { C_NONE, C_DIGIT, C_AT, C_COLON, C_DOT };
static const unsigned char byte_class[256] = {
    ['0'] = C_DIGIT, ['1'] = C_DIGIT, ['2'] = C_DIGIT, ['3'] = C_DIGIT, ['4'] = C_DIGIT,
    ['5'] = C_DIGIT, ['6'] = C_DIGIT, ['7'] = C_DIGIT, ['8'] = C_DIGIT, ['9'] = C_DIGIT,
    ['@'] = C_AT,    [':'] = C_COLON, ['.'] = C_DOT,
};

uint32_t dmi_text_facts(const char *t, size_t len)
{
    size_t digits = 0, colons = 0, dots = 0;
    bool at = false, url = false, iban = false;
    const unsigned char *u = (const unsigned char *)t;
    for (size_t i = 0; i < len; i++) {
        unsigned char k = byte_class[u[i]];
        if (DMI_LIKELY_NONE(k)) continue;
        if (k == C_DIGIT) {
            digits++;
            /* IBAN: two capitals then two digits */
            if (!iban && i >= 3 && is_digit(t[i - 1]) && is_upper(t[i - 2]) && is_upper(t[i - 3])) iban = true;
        } else if (k == C_AT) {
            at = true;
        } else if (k == C_COLON) {
            colons++;
            if (!url && i + 2 < len && t[i + 1] == '/' && t[i + 2] == '/') url = true;
        } else {
            dots++;
            if (!url && i >= 3 && (t[i - 1] | 0x20) == 'w' && (t[i - 2] | 0x20) == 'w' && (t[i - 3] | 0x20) == 'w')
                url = true;
        }
    }
    uint32_t f = 0;
    if (at) f |= DMI_NEED_AT;
    if (url) f |= DMI_NEED_URL;
    if (colons >= 2) f |= DMI_NEED_COLON2;
    if (dots >= 3 && digits >= 4) f |= DMI_NEED_DOT3;
    if (digits >= 8) f |= DMI_NEED_D8;
    if (digits >= 9) f |= DMI_NEED_D9;
    if (digits >= 13) f |= DMI_NEED_D13;
    if (digits >= 17) f |= DMI_NEED_D17;
    if (iban) f |= DMI_NEED_IBAN;
    return f;
}

/* ---- EMAIL_ADDRESS
 * local@domain: local part of [A-Za-z0-9._%+-], 1-64 characters, neither
 * starting nor ending with '.', no "..", not after a letter other than CJK
 * ("jürgen@" is not taken as "rgen@"); domain labels of letters (any script,
 * but CJK and other letters not mixed: DOMAIN_LABEL), digits and inner '-'
 * (1-63); at most 254 bytes in all; and a last
 * label that is a top-level domain of the Public Suffix List (dmi_tlds), in
 * ASCII (any case), xn-- or Unicode form: "a@xn--d1acufc.xn--p1ai" and
 * "user@пример.рф" are addresses, "config@v1.local" (.local is multicast
 * DNS) and "icon@2x.png" are not. A TLD ends where its script does: an ASCII
 * one before any non-ASCII letter ("qq.com联系"), another before ASCII or
 * CJK; a CJK one also before more CJK, as Chinese has no spaces
 * ("例子.中国联系"). Some TLDs are also file extensions common in code and
 * documents (file_ext_tlds: .py is Paraguay, .rs Serbia, .md Moldova); after
 * a version-like label ("v2", "2", "2x": file_version_label) they end a file
 * name ("module@v2.py", "lib@1.2.rs"), not an address. Local parts beyond
 * ASCII (RFC 6531) are not recognised. */

static const char *const file_ext_tlds[] = {"ac", "ai", "am", "cc", "in", "java", "map", "md", "mk", "ml", "mm",
                                            "mov", "pl", "pm", "ps", "py", "rs", "sh", "so", "sv", "zip", NULL};

bool dmi_cjk_code_point(uint32_t c)
{
    return (c >= 0x1100 && c <= 0x11FF) || (c >= 0x2E80 && c <= 0x2FDF) || (c >= 0x3040 && c <= 0x31FF) ||
           (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3134F);
}

/* Byte order of the N bytes at A against the string B (TLDs are short: a
 * loop beats strlen and memcmp calls). */
static int label_cmp(const char *a, size_t n, const char *b)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (y == 0) return 1;
        if (x != y) return x < y ? -1 : 1;
    }
    return b[n] ? -1 : 0;
}

bool dmi_tld_known(const char *s, size_t n)
{
    char low[256];
    if (n == 0 || n >= sizeof low) return false;
    for (size_t i = 0; i < n; i++) low[i] = (char)(is_upper(s[i]) ? s[i] + 32 : s[i]);
    size_t lo = 0, hi = dmi_n_tlds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = label_cmp(low, n, dmi_tlds[mid]);
        if (c == 0) return true;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return false;
}

enum { SCRIPT_ASCII, SCRIPT_CJK, SCRIPT_OTHER };

/* The script class of the (valid UTF-8) character at P, before END. */
static int script_at(const char *t, size_t end, size_t p)
{
    if ((unsigned char)t[p] < 0x80) return SCRIPT_ASCII;
    uint32_t cp = 0;
    size_t bad;
    if (!dmi_utf8_decode((const uint8_t *)t + p, end - p, &cp, &bad)) return SCRIPT_OTHER;
    return dmi_cjk_code_point(cp) ? SCRIPT_CJK : SCRIPT_OTHER;
}

/* The end of the longest start of the last label [A, B) that is a known TLD
 * and ends where its script does (see above); 0 when none. */
static size_t tld_end(const char *t, size_t a, size_t b)
{
    int script = script_at(t, b, a);
    size_t p = b;
    if (script == SCRIPT_ASCII) /* an ASCII TLD ends at the first non-ASCII byte, if not before */
        for (size_t q = a; q < b; q++)
            if ((unsigned char)t[q] >= 0x80) {
                p = q;
                break;
            }
    while (p > a) {
        bool boundary = p == b || script == SCRIPT_CJK || script_at(t, b, p) != script;
        if (boundary && dmi_tld_known(t + a, p - a)) return p;
        do p--;
        while (p > a && ((unsigned char)t[p] & 0xC0) == 0x80);
    }
    return 0;
}

/* "v2", "2", "2x": a version or an image scale, not a domain name. */
static bool file_version_label(const char *t, size_t a, size_t b)
{
    if (a < b && (t[a] == 'v' || t[a] == 'V')) a++;
    else if (a < b && (t[b - 1] == 'x' || t[b - 1] == 'X')) b--;
    if (a == b) return false;
    for (size_t i = a; i < b; i++)
        if (!is_digit(t[i])) return false;
    return true;
}

/* Whether the domain [D, END), whose TLD starts at TLD, names a file: a TLD
 * of file_ext_tlds after a version-like label. */
static bool file_name_domain(const char *t, size_t d, size_t tld, size_t end)
{
    size_t a = tld - 1; /* the '.' before the TLD */
    while (a > d && t[a - 1] != '.') a--;
    if (!file_version_label(t, a, tld - 1)) return false;
    for (const char *const *x = file_ext_tlds; *x; x++)
        if (strlen(*x) == end - tld && strncasecmp(*x, t + tld, end - tld) == 0) return true;
    return false;
}

static bool check_email(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                        size_t *next)
{
    (void)len, (void)env, (void)next;
    const char *at = memchr(t + s, '@', e - s);
    if (!at) return false;
    size_t ls = s, le = (size_t)(at - t);
    if (t[ls] == '.' || t[le - 1] == '.') return false;
    for (size_t i = ls + 1; i < le; i++)
        if (t[i] == '.' && t[i - 1] == '.') return false;
    size_t tld = e;
    while (tld > le && t[tld - 1] != '.') tld--;
    size_t end = tld_end(t, tld, e);
    if (!end || end - s > 254 || file_name_domain(t, le + 1, tld, end)) return false;
    hit->start = s, hit->end = end, hit->score = 1.0;
    return true;
}

/* ---- URL
 * A scheme (http, https, ftp; any case) with "://", optional user info, and a
 * host that is a domain with a TLD of letters, an IPv4 address, [IPv6] or
 * localhost; or "www." and a domain. Then an optional port and path, query
 * and fragment of the characters RFC 3986 allows. Trailing '.', ',', ';',
 * ':', '!', '?', quotes and '*' are sentence punctuation and left out, and a
 * trailing ')' or ']' only when it has no partner inside the URL (so
 * Wikipedia's ".../Foo_(bar)" keeps its ')'). Bare domains ("example.com")
 * are not URLs here. */

static bool check_url(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                      size_t *next)
{
    (void)len, (void)env, (void)next;
    /* where the path begins: trimming never goes into the host */
    size_t host = s;
    const char *sep = memchr(t + s, ':', e - s);
    if (sep && sep + 2 < t + e && sep[1] == '/' && sep[2] == '/') host = (size_t)(sep - t) + 3;
    size_t path = host;
    while (path < e && t[path] != '/' && t[path] != '?' && t[path] != '#') path++;
    while (e > path) {
        char c = t[e - 1];
        if (strchr(".,;:!?'\"*", c)) {
            e--;
            continue;
        }
        if (c == ')' || c == ']') {
            char open = c == ')' ? '(' : '[';
            long depth = 0;
            for (size_t i = s; i < e; i++) depth += (t[i] == open) - (t[i] == c);
            if (depth < 0) {
                e--;
                continue;
            }
        }
        break;
    }
    hit->start = s, hit->end = e, hit->score = 1.0;
    return true;
}

/* ---- IP_ADDRESS
 * IPv4: four decimal octets 0-255 without leading zeros ("01" is refused),
 * not part of a longer dotted run ("1.2.3.4.5"), not after a letter
 * ("v1.2.3.4") and not right after a version word (after_version_word:
 * "firmware 3.2.1.4", "version: 10.0.0.1", "版本 3.2.1.4" are versions;
 * "IP 3.2.1.4" is an address). IPv6: what inet_pton(AF_INET6) accepts (full,
 * "::"-compressed, with an embedded IPv4), with at least two ':' and one
 * digit (so "::" alone and C++'s "a::b" are not addresses). A trailing '.'
 * (end of sentence) is left out. */

/* Words after which a dotted quad names a version ("firmware 3.2.1.4"):
 * lower-case ASCII (whole words, any case) and Chinese. */
static const char *const version_words[] = {"version", "ver", "v", "firmware", "fw", "build", "release",
                                            "rel", "rev", "revision", "patch", "bios", "kernel", NULL};
static const char *const version_words_cjk[] = {"版本", "版本号", "固件", NULL};

/* Where the word before S ends: back over a few spaces and ':', '=', '#',
 * '(' or '.' ("ver. 3.2.1.4"), and a full-width colon ("版本：3.2.1.4"). */
static size_t word_end_before(const char *t, size_t s)
{
    size_t p = s;
    for (int k = 0; k < 4 && p > 0; k++) {
        char c = t[p - 1];
        if (c == ' ' || c == '\t' || c == ':' || c == '=' || c == '#' || c == '(' || c == '.') p--;
        else if (p >= 3 && memcmp(t + p - 3, "\xEF\xBC\x9A", 3) == 0) p -= 3;
        else break;
    }
    return p;
}

/* Whether the word right before S is a version word. */
static bool after_version_word(const char *t, size_t s)
{
    size_t p = word_end_before(t, s), q = p;
    for (const char *const *w = version_words_cjk; *w; w++) {
        size_t n = strlen(*w);
        if (p >= n && memcmp(t + p - n, *w, n) == 0) return true;
    }
    while (q > 0 && is_alpha(t[q - 1]) && p - q < 10) q--;
    if (q == p || (q > 0 && is_alnum_(t[q - 1]))) return false;
    for (const char *const *w = version_words; *w; w++)
        if (strlen(*w) == p - q && strncasecmp(*w, t + q, p - q) == 0) return true;
    return false;
}

static bool check_ipv4(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                       size_t *next)
{
    (void)len, (void)env, (void)next;
    if (after_version_word(t, s)) return false;
    hit->start = s, hit->end = e, hit->score = 0.6;
    return true;
}

static bool check_ipv6(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                       size_t *next)
{
    (void)len, (void)env, (void)next;
    while (e > s && t[e - 1] == '.') e--;
    if (e - s < 2 || e - s > 45) return false;
    char buf[46];
    size_t colons = 0, digits = 0;
    for (size_t i = s; i < e; i++) {
        colons += t[i] == ':';
        digits += is_digit(t[i]);
        buf[i - s] = t[i];
    }
    buf[e - s] = 0;
    if (colons < 2 || digits == 0) return false;
    unsigned char addr[16];
    if (inet_pton(AF_INET6, buf, addr) != 1) return false;
    hit->start = s, hit->end = e, hit->score = 0.6;
    return true;
}

/* ---- digit groups: the candidates of PHONE_NUMBER and CREDIT_CARD
 * A candidate is a run of digit groups joined by single separators (' ', '-',
 * '.'), some groups in parentheses, the first maybe after a '+'. The number
 * may be only part of the run ("2023-11-20 13812345678" holds a phone after
 * the date), so the check tries the runs of whole groups that begin and end
 * at a space (or at the run's ends), earliest first, then longest, and
 * reports the first that the type's rules accept. */

#define MAX_GROUPS 24 /* a card candidate and the groups read around it (check_card) */
#define MAX_GROUP_DIGITS 24

typedef struct group {
    size_t start, end;  /* bytes: from '+' or '(' to after ')' */
    size_t d0, nd;      /* digits in the candidate's digit buffer */
    char sep;           /* separator before it: ' ', '-', '.', or 0 */
    bool plus, open, close;
} group;

typedef struct groups {
    group g[MAX_GROUPS];
    size_t n;
    char digits[MAX_GROUPS * MAX_GROUP_DIGITS];
    bool truncated; /* the pattern stopped at its group limit */
} groups;

/* Splits [S, E) into groups; false when a group is too long to be anything. */
static bool parse_groups(const char *t, size_t s, size_t e, groups *gs)
{
    size_t p = s, nd = 0;
    gs->n = 0;
    while (p < e && gs->n < MAX_GROUPS) {
        group *g = &gs->g[gs->n];
        memset(g, 0, sizeof *g);
        if (gs->n > 0 && (t[p] == ' ' || t[p] == '-' || t[p] == '.')) g->sep = t[p++];
        g->start = p;
        if (p < e && t[p] == '+') g->plus = true, p++;
        if (p < e && t[p] == '(') g->open = true, p++;
        g->d0 = nd;
        while (p < e && is_digit(t[p])) {
            if (p - g->start >= MAX_GROUP_DIGITS) return false;
            gs->digits[nd++] = t[p++];
        }
        g->nd = nd - g->d0;
        if (p < e && t[p] == ')') g->close = true, p++;
        g->end = p;
        if (g->nd == 0) return false;
        gs->n++;
    }
    return p == e;
}

typedef double (*groups_score_fn)(const groups *gs, size_t i, size_t j);

static bool best_groups(const char *t, size_t len, size_t s, size_t e, groups_score_fn score, size_t max_groups,
                        dmi_hit *hit, size_t *next)
{
    groups gs;
    if (!parse_groups(t, s, e, &gs)) {
        *next = e;
        return false;
    }
    gs.truncated = gs.n >= max_groups;
    bool end_ok = digit_end_ok(t, len, e);
    for (size_t i = 0; i < gs.n; i++) {
        if (i > 0 && gs.g[i].sep != ' ') continue;
        for (size_t j = gs.n; j-- > i;) {
            if (j + 1 < gs.n ? gs.g[j + 1].sep != ' ' : !end_ok) continue;
            double sc = score(&gs, i, j);
            if (sc > 0) {
                hit->start = gs.g[i].start, hit->end = gs.g[j].end, hit->score = sc;
                return true;
            }
        }
    }
    /* when the pattern stopped at its limit, the rest of the run is looked at
     * again from the second group */
    *next = gs.truncated && gs.n > 1 ? gs.g[1].start : e;
    return false;
}

/* Digits of groups I..J into OUT (NUL-terminated); their count. */
static size_t join_digits(const groups *gs, size_t i, size_t j, char *out)
{
    size_t n = 0;
    for (size_t k = i; k <= j; k++) {
        memcpy(out + n, gs->digits + gs->g[k].d0, gs->g[k].nd);
        n += gs->g[k].nd;
    }
    out[n] = 0;
    return n;
}

/* ---- PHONE_NUMBER
 * International: '+' or "00" then an assigned E.164 country code and 8-15
 * digits in all (code included); "(0)" after the code (UK style) is ignored.
 * +1 must be followed by a valid North American number, +44 by 9-10 digits
 * not starting with 0 or 4/6, +86 by a mobile 1[3-9]XXXXXXXXX or a landline
 * (10 for Beijing's 10, else 9-11 digits from 2-9), +7 by 10 digits; other
 * codes by at least 4 digits, starting with 0 only where the country keeps
 * its leading 0 (keeps_leading_zero: +39 06 ...).
 * Separators and parentheses may mix ("+1 (415) 555-2671").
 * North American: NXX-NXX-XXXX (N = 2-9, neither part N11) as 3-3-4 groups
 * with one separator throughout (' ', '-' or '.'; "415 555-2671" too), or
 * "(NXX) NXX-XXXX" / "(NXX)NXX-XXXX", maybe after a "1" group; bare 10
 * digits (or 1 + 10) score only 0.3.
 * UK: 0 then 9-10 digits (second digit 1, 2, 3, 5, 7, 8 or 9) as a first
 * group of 3-5 digits (maybe in parentheses) and groups of 3-8 digits, the
 * first of them beginning with 2-9 unless the number is a mobile (07: "07700
 * 100200"), one separator throughout (' ' or '-'; so "(011) 035-9129" is not
 * one); bare, 0.3.
 * Chinese landline: area code 0XX or 0XXX (not 00) and a 7-8 digit local
 * number beginning with 2-8, as two groups: "010-62345678", "0755 86001234".
 * Chinese mobile: 1[3-9] and 9 digits, bare (0.5) or as 3-4-4 with one
 * separator (' ' or '-'). 7-digit local numbers are not recognised. */

/* Assigned E.164 country codes (ITU-T E.164 list; codes are prefix-free). */
static const uint16_t country_codes[] = {
    1,   7,   20,  27,  30,  31,  32,  33,  34,  36,  39,  40,  41,  43,  44,  45,  46,  47,  48,  49,  51,
    52,  53,  54,  55,  56,  57,  58,  60,  61,  62,  63,  64,  65,  66,  81,  82,  84,  86,  90,  91,  92,
    93,  94,  95,  98,  211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231,
    232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252,
    253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 290, 291, 297, 298, 299,
    350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374, 375, 376, 377, 378, 379, 380,
    381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 590,
    591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674, 675, 676, 677, 678, 679, 680, 681, 682,
    683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850, 852, 853, 855, 856, 870, 878, 880, 881, 882,
    883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 979,
    992, 993, 994, 995, 996, 998,
};

static size_t country_code_len(const char *d, size_t n)
{
    unsigned v = 0;
    for (size_t k = 0; k < 3 && k < n; k++) {
        v = v * 10 + (unsigned)(d[k] - '0');
        for (size_t c = 0; c < sizeof country_codes / sizeof *country_codes; c++)
            if (country_codes[c] == v) return k + 1;
    }
    return 0;
}

/* NXX NXX XXXX: area and exchange start with 2-9 and are not N11. */
static bool nanp_ok(const char *d)
{
    if (d[0] < '2' || d[3] < '2') return false;
    if (d[1] == '1' && d[2] == '1') return false;
    if (d[4] == '1' && d[5] == '1') return false;
    return true;
}

static bool cn_mobile_ok(const char *d, size_t n) { return n == 11 && d[0] == '1' && d[1] >= '3'; }

/* Countries whose landlines or mobiles keep their leading 0 after the
 * country code (libphonenumber's "italian leading zero"): Italy and the
 * Vatican (+39 06 6982 3456), San Marino, Côte d'Ivoire, Benin, Gabon and the
 * Republic of the Congo. Elsewhere a 0 there is the trunk prefix, written
 * "(0)" or not at all. */
static bool keeps_leading_zero(unsigned code)
{
    return code == 39 || code == 378 || code == 225 || code == 229 || code == 241 || code == 242;
}

static double phone_international(const groups *gs, size_t i, size_t j)
{
    char all[MAX_GROUPS * MAX_GROUP_DIGITS + 1];
    const group *g0 = &gs->g[i];
    size_t n = join_digits(gs, i, j, all);
    const char *d = all;
    if (g0->plus) {
        if (g0->open) return 0;
    } else if (!g0->open && n > 2 && d[0] == '0' && d[1] == '0' && d[2] != '0') {
        d += 2, n -= 2;
    } else {
        return 0;
    }
    /* every group after the first: parentheses must close, and the UK "(0)" */
    char nsn[MAX_GROUPS * MAX_GROUP_DIGITS + 1];
    size_t cc = country_code_len(d, n);
    if (cc == 0) return 0;
    size_t m = 0;
    size_t skip_at = (size_t)-1; /* digit index of a "(0)" trunk prefix */
    for (size_t k = i; k <= j; k++) {
        const group *g = &gs->g[k];
        if (g->open != g->close) return 0;
        if (k > i && g->open && g->nd == 1 && gs->digits[g->d0] == '0') skip_at = g->d0 - gs->g[i].d0;
    }
    size_t off = (size_t)(d - all);
    for (size_t k = off + cc; k < off + n; k++)
        if (k != skip_at) nsn[m++] = all[k];
    nsn[m] = 0;
    size_t total = cc + m;
    if (total < 8 || total > 15) return 0;
    unsigned code = 0;
    for (size_t k = 0; k < cc; k++) code = code * 10 + (unsigned)(d[k] - '0');
    switch (code) {
    case 1:
        if (m != 10 || !nanp_ok(nsn)) return 0;
        break;
    case 44:
        if (m < 9 || m > 10 || !strchr("1235789", nsn[0])) return 0;
        break;
    case 86:
        if (nsn[0] == '1' && nsn[1] == '0') {
            if (m != 10) return 0;
        } else if (nsn[0] == '1') {
            if (!cn_mobile_ok(nsn, m)) return 0;
        } else if (nsn[0] == '0' || m < 9 || m > 11) {
            return 0;
        }
        break;
    case 7:
        if (m != 10) return 0;
        break;
    default:
        if (m < 4 || (nsn[0] == '0' && !keeps_leading_zero(code))) return 0;
    }
    return 0.7;
}

/* Separators of groups I+1..J all equal to one of ALLOWED; none after a
 * closing parenthesis may also be a space. */
static bool same_separator(const groups *gs, size_t i, size_t j, const char *allowed)
{
    char sep = 0;
    for (size_t k = i + 1; k <= j; k++) {
        const group *g = &gs->g[k];
        if (gs->g[k - 1].close) {
            if (g->sep != ' ' && g->sep != 0) return false;
            continue;
        }
        if (!g->sep || !strchr(allowed, g->sep)) return false;
        if (sep && g->sep != sep) return false;
        sep = g->sep;
    }
    return true;
}

static bool no_parens(const groups *gs, size_t i, size_t j)
{
    for (size_t k = i; k <= j; k++)
        if (gs->g[k].open || gs->g[k].close || gs->g[k].plus) return false;
    return true;
}

/* Only the first group (index I) may be in parentheses; it must close. */
static bool parens_first_only(const groups *gs, size_t i, size_t j)
{
    for (size_t k = i; k <= j; k++) {
        const group *g = &gs->g[k];
        if (g->plus) return false;
        if (g->open != g->close) return false;
        if (k > i && g->open) return false;
    }
    return true;
}

static double phone_north_american(const groups *gs, size_t i, size_t j, const char *d, size_t n)
{
    size_t k = j - i + 1;
    if (k == 1) {
        if (!no_parens(gs, i, j)) return 0;
        if (n == 10 && nanp_ok(d)) return 0.3;
        if (n == 11 && d[0] == '1' && nanp_ok(d + 1)) return 0.3;
        return 0;
    }
    const group *g = gs->g + i;
    size_t a = 0; /* the area-code group */
    if (k == 4) {
        if (g[0].nd != 1 || d[0] != '1' || g[0].open || g[0].close) return 0;
        a = 1, d++, n--;
    } else if (k != 3) {
        return 0;
    }
    const group *area = g + a, *exch = g + a + 1, *line = g + a + 2;
    if (n != 10 || area->nd != 3 || exch->nd != 3 || line->nd != 4) return 0;
    if (area->open != area->close || exch->open || exch->close || line->open || line->close) return 0;
    if (!line->sep || !strchr(" -.", line->sep)) return 0;
    if (area->open) {
        if (exch->sep != ' ' && exch->sep != 0) return 0;
    } else if (!exch->sep || !strchr(" -.", exch->sep) || (exch->sep != line->sep && exch->sep != ' ')) {
        return 0;
    }
    if (a == 1 && area->sep != ' ' && area->sep != line->sep) return 0;
    return nanp_ok(d) ? 0.6 : 0;
}

static double phone_uk_or_cn_landline(const groups *gs, size_t i, size_t j, const char *d, size_t n)
{
    if (d[0] != '0' || d[1] == '0') return 0;
    size_t k = j - i + 1;
    if (k == 1) {
        if (!no_parens(gs, i, j)) return 0;
        return (n == 10 || n == 11) && strchr("1235789", d[1]) ? 0.3 : 0;
    }
    if (!parens_first_only(gs, i, j) || !same_separator(gs, i, j, " -")) return 0;
    /* Chinese landline: area code and a number of 7-8 digits from 2-8 */
    const group *g0 = &gs->g[i], *g1 = &gs->g[i + 1];
    if (k == 2 && (g0->nd == 3 || g0->nd == 4) && (g1->nd == 7 || g1->nd == 8)) {
        char first = gs->digits[g1->d0];
        if (first >= '2' && first <= '8') return 0.5;
    }
    /* UK: one separator throughout; after a geographic area code (01, 02)
     * the local number begins with 2-9 (0 and 1 would start another code),
     * but a mobile's 07xxx is only a split for reading: 07911 123456 */
    if ((n != 10 && n != 11) || !strchr("1235789", d[1])) return 0;
    if (g0->nd < 3 || g0->nd > 5 || (d[1] != '7' && gs->digits[g1->d0] < '2')) return 0;
    for (size_t q = i + 2; q <= j; q++)
        if (gs->g[q].sep != g1->sep) return 0;
    for (size_t q = i + 1; q <= j; q++)
        if (gs->g[q].nd < 3 || gs->g[q].nd > 8) return 0;
    return 0.5;
}

static double phone_cn_mobile(const groups *gs, size_t i, size_t j, const char *d, size_t n)
{
    if (!cn_mobile_ok(d, n) || !no_parens(gs, i, j)) return 0;
    size_t k = j - i + 1;
    if (k == 1) return 0.5;
    if (k == 3 && gs->g[i].nd == 3 && gs->g[i + 1].nd == 4 && gs->g[i + 2].nd == 4 &&
        same_separator(gs, i, j, " -"))
        return 0.6;
    return 0;
}

static double phone_score(const groups *gs, size_t i, size_t j)
{
    char d[MAX_GROUPS * MAX_GROUP_DIGITS + 1];
    size_t n = join_digits(gs, i, j, d);
    if (n < 8 || n > 17) return 0;
    double best = phone_international(gs, i, j);
    if (best > 0) return best;
    if (gs->g[i].plus) return 0;
    double s;
    if ((s = phone_north_american(gs, i, j, d, n)) > best) best = s;
    if ((s = phone_uk_or_cn_landline(gs, i, j, d, n)) > best) best = s;
    if ((s = phone_cn_mobile(gs, i, j, d, n)) > best) best = s;
    return best;
}

#define PHONE_MAX_GROUPS 8

static bool check_phone(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                        size_t *next)
{
    (void)env;
    return best_groups(t, len, s, e, phone_score, PHONE_MAX_GROUPS, hit, next);
}

/* ---- CREDIT_CARD
 * 13-19 digits, bare or in groups joined by one kind of separator (all
 * spaces or all dashes): 4-4-4-4 with a last group of 1-4 more, 4-6-5
 * (Amex) or 4-6-4 (Diners). The issuer prefix must fit its length: Visa 4
 * (13, 16, 19), Mastercard 51-55 and 2221-2720 (16), Amex 34, 37 (15),
 * Discover 6011, 644-649, 65 (16-19), Diners 300-305, 3095, 36, 38, 39
 * (14-19), JCB 3528-3589 (16-19), UnionPay 62 (16-19), Mir 2200-2204
 * (16-19), Maestro 5018, 5020, 5038, 5893, 6304, 6759, 6761-6763 (13-19),
 * Dankort 5019 (16).
 * And the Luhn checksum must hold. A card may be part of a longer run of
 * digit groups (a price before it, an expiry after it, another card): the
 * runs of whole groups are tried (check_card) and what may stand beside a
 * card is card_apart's. */

#define CARD_MAX_GROUPS 5 /* 4-4-4-4-x */
#define CARD_LEFT 5       /* groups read before a candidate: a whole card */
#define CARD_RIGHT 9      /* after: a card reaching 4 groups on, its neighbour and a card after that */

bool dmi_luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned v = (unsigned)(d[n - 1 - k] - '0');
        if (k & 1) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static unsigned prefix_value(const char *d, size_t k)
{
    unsigned v = 0;
    for (size_t i = 0; i < k; i++) v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

static bool card_brand_ok(const char *d, size_t n)
{
    unsigned p2 = prefix_value(d, 2), p3 = prefix_value(d, 3), p4 = prefix_value(d, 4);
    if (d[0] == '4') return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16;
    if (p2 == 34 || p2 == 37) return n == 15;
    bool long_ok = n >= 16 && n <= 19;
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65) return long_ok;
    if ((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39) return n >= 14;
    if (p4 >= 3528 && p4 <= 3589) return long_ok;
    if (p2 == 62) return long_ok;
    if (p4 >= 2200 && p4 <= 2204) return long_ok;
    if (p4 == 5019) return n == 16; /* Dankort */
    if (p4 == 5018 || p4 == 5020 || p4 == 5038 || p4 == 5893 || p4 == 6304 || p4 == 6759 ||
        (p4 >= 6761 && p4 <= 6763))
        return true;
    return false;
}

static bool card_grouping_ok(const groups *gs, size_t i, size_t j)
{
    size_t k = j - i + 1;
    if (k == 1) return true;
    const group *g = gs->g + i;
    char sep = g[1].sep;
    if (sep != ' ' && sep != '-') return false;
    for (size_t q = 1; q < k; q++)
        if (g[q].sep != sep) return false;
    if (k == 3 && g[0].nd == 4 && g[1].nd == 6 && (g[2].nd == 5 || g[2].nd == 4)) return true;
    if (k < 4 || k > 5) return false;
    for (size_t q = 0; q < 4; q++)
        if (g[q].nd != 4) return false;
    return k == 4 || (g[4].nd >= 1 && g[4].nd <= 4);
}

/* Whether groups I..J of GS, alone, form a card: layout, issuer, length and
 * Luhn (not yet what stands around them). */
static bool card_valid(const groups *gs, size_t i, size_t j)
{
    if (j - i >= CARD_MAX_GROUPS) return false;
    char d[MAX_GROUPS * MAX_GROUP_DIGITS + 1];
    size_t n = join_digits(gs, i, j, d);
    return n >= 13 && n <= 19 && card_grouping_ok(gs, i, j) && card_brand_ok(d, n) && dmi_luhn_ok(d, n);
}

/* Whether a sub-run may end after group J: at a space, or at the run's end
 * when that end is a boundary (END_OK). */
static bool ends_at_space(const groups *gs, size_t j, bool end_ok)
{
    return j + 1 < gs->n ? gs->g[j + 1].sep == ' ' : end_ok;
}

/* Whether a valid card of GS ends at group J (DIR < 0) or begins at group
 * J (DIR > 0), on space boundaries: the neighbour that belongs to it is the
 * next card, not the rest of a longer number. */
static bool card_next_to(const groups *gs, size_t j, int dir, bool end_ok)
{
    for (size_t k = 0; k < CARD_MAX_GROUPS; k++) {
        if (dir < 0 && k > j) break;
        size_t i = dir < 0 ? j - k : j, e = dir < 0 ? j : j + k;
        if (e >= gs->n) break;
        if (i > 0 && gs->g[i].sep != ' ') continue;
        if (ends_at_space(gs, e, end_ok) && card_valid(gs, i, e)) return true;
    }
    return false;
}

/* Whether the space-separated token that ends at END (backwards) or starts at
 * START (forwards) is a short run of letters and digits holding a digit. */
static bool digit_token(const char *t, size_t len, size_t at, bool backwards)
{
    size_t n = 0;
    bool digit = false;
    while (n < 8) {
        size_t p;
        if (backwards) {
            if (at < n + 1) break;
            p = at - n - 1;
        } else {
            p = at + n;
            if (p >= len) break;
        }
        if (!is_alnum_(t[p])) break;
        digit = digit || is_digit(t[p]);
        n++;
    }
    return n > 0 && n < 8 && digit;
}

/* Whether a card printed with spaces touches, at an end of its run, a token
 * such as "AE07": then it is a piece of something longer (an IBAN that
 * failed its check). */
static bool card_in_token(const char *t, size_t len, const groups *gs, size_t i, size_t j)
{
    size_t a = gs->g[i].start, b = gs->g[j].end;
    if (i == 0 && a >= 2 && t[a - 1] == ' ' && digit_token(t, len, a - 1, true)) return true;
    return j + 1 == gs->n && b + 1 < len && t[b] == ' ' && digit_token(t, len, b + 1, false);
}

/* Whether the valid card I..J stands apart from the groups around it in its
 * run. A card written in one block may sit beside anything ("4111111111111111
 * 0927"). One written in groups with spaces may not:
 *  - touch a 4-digit group, which continues a number printed in fours (a
 *    22-digit tracking number holds 16-digit runs that pass Luhn), unless
 *    that group belongs to another card ("4111 1111 1111 1111 5500 0000 0000
 *    0004" is two cards);
 *  - be followed by a shorter last group that would give a length its issuer
 *    uses ("4111 1111 1111 1111 123" is a 19-digit Visa layout that failed
 *    Luhn, not a card and its CVV; "... 1111 09/27" is a card and its
 *    expiry: no Visa has 18 digits);
 *  - touch a token of letters and digits (card_in_token). */
static bool card_apart(const char *t, size_t len, const groups *gs, size_t i, size_t j, bool end_ok)
{
    if (j == i || gs->g[i + 1].sep != ' ') return true;
    if (i > 0 && gs->g[i - 1].nd == 4 && !card_next_to(gs, i - 1, -1, end_ok)) return false;
    if (j + 1 < gs->n && gs->g[j + 1].nd == 4 && !card_next_to(gs, j + 1, 1, end_ok)) return false;
    if (j + 1 < gs->n && gs->g[j + 1].nd < 4 && card_grouping_ok(gs, i, j + 1)) {
        char d[MAX_GROUPS * MAX_GROUP_DIGITS + 1];
        if (card_brand_ok(d, join_digits(gs, i, j + 1, d))) return false;
    }
    return !card_in_token(t, len, gs, i, j);
}

/* The start of the digit group that ends right before the separator at
 * P - 1 (' ' or '-'), or P when there is none: no digit there, a group too
 * long, or digits glued to a word ("AE07"), which are not a group. */
static size_t group_before(const char *t, size_t p)
{
    if (p < 2 || (t[p - 1] != ' ' && t[p - 1] != '-') || !is_digit(t[p - 2])) return p;
    size_t q = p - 1;
    while (q > 0 && is_digit(t[q - 1])) {
        if (p - 1 - q == MAX_GROUP_DIGITS) return p;
        q--;
    }
    return q > 0 && (is_alnum_(t[q - 1]) || t[q - 1] == '+') ? p : q;
}

/* The end of the digit group after the separator at P (' ' or '-'), or P. */
static size_t group_after(const char *t, size_t len, size_t p)
{
    if (p + 1 >= len || (t[p] != ' ' && t[p] != '-') || !is_digit(t[p + 1])) return p;
    size_t q = p + 1;
    while (q < len && is_digit(t[q])) {
        if (q - p - 1 == MAX_GROUP_DIGITS) return p;
        q++;
    }
    return q;
}

/* The run around the candidate [S, E): its groups and up to CARD_LEFT
 * groups before and CARD_RIGHT after, so that the groups beside any card
 * starting in [S, E), and a whole card beyond them, are seen even where the
 * pattern stopped at its group limit or started right after a previous
 * card. *FIRST and *LAST: the candidate's first and last group. */
static bool card_run(const char *t, size_t len, size_t s, size_t e, groups *gs, size_t *first, size_t *last)
{
    size_t a = s, b = e, q;
    for (int k = 0; k < CARD_LEFT && (q = group_before(t, a)) != a; k++) a = q;
    for (int k = 0; k < CARD_RIGHT && (q = group_after(t, len, b)) != b; k++) b = q;
    if (!parse_groups(t, a, b, gs)) return false;
    *first = *last = 0;
    for (size_t k = 0; k < gs->n; k++) {
        if (gs->g[k].start == s) *first = k;
        if (gs->g[k].end <= e) *last = k;
    }
    return true;
}

/* Tries the runs of whole groups that start in [S, E) at a space, earliest
 * first, then longest: a run that fails (a price or a tracking number before
 * the card, "价格100 6011 3688 6159 8527") does not hide a card inside it. */
static bool check_card(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                       size_t *next)
{
    (void)env;
    groups gs;
    size_t first, last;
    *next = e;
    if (!card_run(t, len, s, e, &gs, &first, &last)) return false;
    bool end_ok = digit_end_ok(t, len, gs.g[gs.n - 1].end);
    for (size_t i = first; i <= last; i++) {
        if (i > 0 && gs.g[i].sep != ' ') continue;
        for (size_t j = (i + CARD_MAX_GROUPS < gs.n ? i + CARD_MAX_GROUPS : gs.n); j-- > i;) {
            if (!ends_at_space(&gs, j, end_ok) || !card_valid(&gs, i, j)) continue;
            if (!card_apart(t, len, &gs, i, j, end_ok)) continue;
            hit->start = gs.g[i].start, hit->end = gs.g[j].end, hit->score = 1.0;
            return true;
        }
    }
    return false;
}

/* ---- US_SSN
 * AAA-GG-SSSS, the same separator twice (dash or space) or none. Area not
 * 000, 666 or 900-999; group not 00; serial not 0000; not all one digit;
 * not the numbers published as examples and voided by the SSA (078-05-1120,
 * 219-09-9999) nor 123-45-6789 (Presidio refuses it too: it is what people
 * type as a fake). */

static bool check_ssn(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                      size_t *next)
{
    (void)len, (void)env, (void)next;
    char d[10];
    size_t n = 0;
    char sep = 0;
    for (size_t i = s; i < e; i++) {
        if (is_digit(t[i])) {
            if (n == 9) return false;
            d[n++] = t[i];
        } else {
            sep = t[i];
        }
    }
    if (n != 9) return false;
    d[9] = 0;
    unsigned area = prefix_value(d, 3), grp = prefix_value(d + 3, 2), serial = prefix_value(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900 || grp == 0 || serial == 0) return false;
    bool same = true;
    for (size_t i = 1; i < 9; i++) same = same && d[i] == d[0];
    if (same) return false;
    if (!strcmp(d, "078051120") || !strcmp(d, "219099999") || !strcmp(d, "123456789")) return false;
    hit->start = s, hit->end = e;
    hit->score = sep == '-' ? 0.85 : sep == ' ' ? 0.5 : 0.3;
    return true;
}

/* ---- CN_RESIDENT_ID (GB 11643-1999)
 * 18 characters: a 6-digit region code whose first two digits are a province
 * (11-15, 21-23, 31-37, 41-46, 50-54, 61-65; 71 Taiwan in GB/T 2260; 81 Hong
 * Kong, 82 Macau and 83 Taiwan on the residence permits issued since 2018 to
 * their residents, which use the same 18-character layout), a birth date YYYYMMDD that exists (leap years counted) between
 * 1900-01-01 and today, a 3-digit sequence number, and the ISO 7064 MOD 11-2
 * check character (0-9 or X, either case). The old 15-digit form is not
 * recognised. */

static bool province_ok(unsigned p)
{
    return (p >= 11 && p <= 15) || (p >= 21 && p <= 23) || (p >= 31 && p <= 37) || (p >= 41 && p <= 46) ||
           (p >= 50 && p <= 54) || (p >= 61 && p <= 65) || p == 71 || (p >= 81 && p <= 83);
}

static bool date_ok(unsigned y, unsigned m, unsigned d)
{
    static const unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    unsigned max = days[m - 1] + (m == 2 && leap);
    return d <= max;
}

bool dmi_cn_id_ok(const char *s, size_t n, uint32_t today)
{
    static const unsigned weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    if (n != 18) return false;
    for (size_t i = 0; i < 17; i++)
        if (!is_digit(s[i])) return false;
    if (!province_ok(prefix_value(s, 2))) return false;
    unsigned y = prefix_value(s + 6, 4), m = prefix_value(s + 10, 2), d = prefix_value(s + 12, 2);
    if (y < 1900 || !date_ok(y, m, d) || y * 10000 + m * 100 + d > today) return false;
    unsigned sum = 0;
    for (size_t i = 0; i < 17; i++) sum += weights[i] * (unsigned)(s[i] - '0');
    char check = "10X98765432"[sum % 11];
    char last = s[17] == 'x' ? 'X' : s[17];
    return last == check;
}

static bool check_cn_id(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                        size_t *next)
{
    (void)len, (void)next;
    if (!dmi_cn_id_ok(t + s, e - s, env->today)) return false;
    hit->start = s, hit->end = e, hit->score = 1.0;
    return true;
}

/* ---- IBAN_CODE (ISO 13616)
 * Country code, two check digits (02-98) and the BBAN, capitals and digits,
 * as many characters in all as the SWIFT IBAN registry gives for the
 * country, either compact or in groups of four separated by single spaces
 * (the last group shorter); the mod-97 of the rearranged number must be 1.
 * Lower-case IBANs are not recognised. */

static const struct {
    char cc[3];
    unsigned char len;
} iban_lengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28},
    {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22},
    {"MK", 19}, {"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23},
    {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

static size_t iban_length(const char *cc)
{
    for (size_t i = 0; i < sizeof iban_lengths / sizeof *iban_lengths; i++)
        if (iban_lengths[i].cc[0] == cc[0] && iban_lengths[i].cc[1] == cc[1]) return iban_lengths[i].len;
    return 0;
}

bool dmi_iban_ok(const char *s, size_t n)
{
    if (n < 5 || iban_length(s) != n) return false;
    unsigned check = prefix_value(s + 2, 2);
    if (!is_digit(s[2]) || !is_digit(s[3]) || check < 2 || check > 98) return false;
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];
        if (is_digit(c)) {
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        } else if (is_upper(c)) {
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
        } else {
            return false;
        }
    }
    return rem == 1;
}

static bool check_iban(const char *t, size_t len, size_t s, size_t e, const dmi_check_env *env, dmi_hit *hit,
                       size_t *next)
{
    (void)env, (void)next;
    size_t want = iban_length(t + s);
    if (want == 0) return false;
    char c[40];
    size_t n = 0, p = s;
    bool spaced = false;
    while (n < want && p < e) {
        if (t[p] == ' ') {
            /* a space only every four characters, and then at every four */
            if (n % 4 != 0 || (n > 4 && !spaced)) return false;
            spaced = true;
            p++;
            continue;
        }
        if (n > 0 && n % 4 == 0 && spaced && t[p - 1] != ' ') return false;
        c[n++] = t[p++];
    }
    if (n != want) return false;
    if (p < len && is_alnum_(t[p])) return false;
    if (!dmi_iban_ok(c, n)) return false;
    hit->start = s, hit->end = p, hit->score = 1.0;
    return true;
}

/* ---- context words: lower-case ASCII (matched case-insensitively as whole
 * words) or CJK (matched as they are) */

static const char *const ctx_email[] = {"email", "e-mail", "mail", "邮箱", "邮件", "电邮", NULL};
static const char *const ctx_phone[] = {"phone", "telephone", "tel", "mobile", "cell", "call", "fax",
                                        "contact", "电话", "手机", "联系", "致电", "热线", "号码", NULL};
static const char *const ctx_card[] = {"card", "credit", "debit", "visa", "mastercard", "amex",
                                       "信用卡", "卡号", "银行卡", "借记卡", NULL};
static const char *const ctx_iban[] = {"iban", "account", "bank", "账户", "账号", "银行", NULL};
static const char *const ctx_ip[] = {"ip", "address", "server", "host", "地址", "服务器", NULL};
static const char *const ctx_url[] = {"url", "website", "link", "site", "网址", "链接", "网站", NULL};
static const char *const ctx_ssn[] = {"ssn", "social security", "社会安全号", NULL};
static const char *const ctx_cn_id[] = {"身份证", "证件", "id", "identity", NULL};

/* ---- the table. The order breaks ties of score, length and position:
 * an 18-digit number that is both a valid ID and a Luhn-valid card is an ID. */

/* not glued to a word, nor continuing a number through '.' or '-' */
#define LB_DIGITS "(?<![0-9A-Za-z_+])(?<![0-9][.\\-])"
#define RB_DIGITS "(?![0-9A-Za-z_]|[.\\-][0-9])"
#define LABEL "[a-z0-9](?:[a-z0-9\\-]{0,61}[a-z0-9])?"
#define LABEL_ASCII "[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?"
/* An e-mail domain's label (the TLD is check_email's): letters of one side
 * of the CJK divide, digits and inner '-', so that a domain does not run on
 * into Chinese text ("abc@163.com或访问www.example.cn" ends at ".com"). */
#define CJK_PROPS "\\p{Han}\\p{Hiragana}\\p{Katakana}\\p{Hangul}"
#define NON_CJK_CHAR "(?:[^\\P{L}" CJK_PROPS "]|[\\p{N}\\p{M}])"
#define CJK_CHAR "[" CJK_PROPS "\\p{N}\\p{M}]"
#define DOMAIN_LABEL                                                                                                 \
    "(?:" LABEL_ASCII "|" NON_CJK_CHAR "(?:(?:" NON_CJK_CHAR "|-){0,61}" NON_CJK_CHAR ")?|" CJK_CHAR "(?:(?:" CJK_CHAR \
    "|-){0,61}" CJK_CHAR ")?)"
/* and the last label, which check_email cuts to its TLD: ASCII alone first
 * (the common case, and far cheaper than Unicode properties) */
#define LAST_LABEL "(?:[A-Za-z0-9\\-]{2,63}+(?![\\p{L}\\p{N}\\p{M}])|[\\p{L}\\p{N}\\p{M}\\-]{2,63}+)"
#define URL_CHARS "[!#$%&'()*+,\\-./0-9:;=?@A-Z\\[\\]_a-z~]"

const dmi_builtin dmi_builtins[] = {
    {"EMAIL_ADDRESS", "email",
     "(?<![A-Za-z0-9._%+\\-]|" NON_CJK_CHAR ")[A-Za-z0-9._%+\\-]{1,64}+@(?:" DOMAIN_LABEL "\\.)+"
     LAST_LABEL,
     check_email, DMI_NEED_AT, ctx_email},
    {"URL", "url",
     "(?i)(?<![A-Za-z0-9])(?:(?:https?|ftp)://"
     "(?:[a-z0-9._~%!$&'()*+,;=\\-]++(?::[a-z0-9._~%!$&'()*+,;=\\-]*+)?+@)?"
     "(?:(?:" LABEL "\\.)+[a-z]{2,63}|localhost|[0-9]{1,3}(?:\\.[0-9]{1,3}){3}|\\[[0-9a-f:.]+\\])"
     "|(?<![A-Za-z0-9.\\-/@])www\\.(?:" LABEL "\\.)+[a-z]{2,63})"
     "(?::[0-9]{1,5})?(?![a-z0-9_\\-])(?:[/?#]" URL_CHARS "*+)?",
     check_url, DMI_NEED_URL, ctx_url},
    {"CN_RESIDENT_ID", "cn_resident_id", LB_DIGITS "[1-9][0-9]{16}[0-9Xx]" RB_DIGITS, check_cn_id, DMI_NEED_D17,
     ctx_cn_id},
    {"CREDIT_CARD", "credit_card", LB_DIGITS "[0-9]++(?:[ \\-][0-9]++){0,6}+", check_card, DMI_NEED_D13, ctx_card},
    {"IBAN_CODE", "iban", "(?<![0-9A-Za-z_])[A-Z]{2}[0-9]{2}(?: ?+[0-9A-Z]){11,40}+", check_iban, DMI_NEED_IBAN,
     ctx_iban},
    {"US_SSN", "us_ssn", LB_DIGITS "[0-9]{3}([ \\-]?+)[0-9]{2}\\1[0-9]{4}" RB_DIGITS, check_ssn, DMI_NEED_D9,
     ctx_ssn},
    {"PHONE_NUMBER", "phone",
     LB_DIGITS "\\+?+\\(?+[0-9]++\\)?+(?:[ .\\-]?+\\(?+[0-9]++\\)?+){0,7}+", check_phone, DMI_NEED_D8, ctx_phone},
    {"IP_ADDRESS", "ipv4",
     "(?<![0-9A-Za-z_.])(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}"
     "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?![0-9A-Za-z_]|\\.[0-9])",
     check_ipv4, DMI_NEED_DOT3, ctx_ip},
    {"IP_ADDRESS", "ipv6",
     "(?<![0-9A-Za-z_:.])(?=[0-9A-Fa-f.]*+:[0-9A-Fa-f.]*+:)[0-9A-Fa-f:.]{2,45}+(?![0-9A-Za-z_:])", check_ipv6,
     DMI_NEED_COLON2, ctx_ip},
};
const size_t dmi_n_builtins = sizeof dmi_builtins / sizeof *dmi_builtins;

const char *const dmi_builtin_types[] = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
                                         "IP_ADDRESS",    "URL",          "US_SSN",      "CN_RESIDENT_ID"};
const size_t dmi_n_builtin_types = sizeof dmi_builtin_types / sizeof *dmi_builtin_types;
