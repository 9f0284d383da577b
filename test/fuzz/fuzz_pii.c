/*
 * fuzz_pii.c — libFuzzer target: the input is text for PII detection. One
 * handle (built-in recognisers, a user pattern with a validator, a Latin and
 * a Chinese deny-list, a key) is made once. Each input is detected with
 * strict UTF-8 and with replacement, anonymised with every operator in turn
 * and, for the encrypt operator, decrypted back; the input itself is also
 * given to dm_pii_decrypt as if it held tokens. Invariants: entities are in
 * range, sorted, non-overlapping, of known types, scored in [min_score, 1];
 * strict detection fails exactly on invalid UTF-8 (with a message); the
 * replacement policy never fails on UTF-8; outputs are valid UTF-8 whenever
 * the input is; encryption round-trips exactly; decrypting arbitrary text
 * either succeeds or fails with DM_ERR_AUTH, never anything else.
 */
#include "fuzz_common.h"

#include <stdbool.h>

static const char *const known_types[] = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
                                          "URL", "US_SSN", "CN_RESIDENT_ID", "ORDER_ID", "NAME"};

static int even_digits(const char *m, size_t len, void *user)
{
    (void)user;
    return len % 2 == 0 && m[0] != '0';
}

static dm_pii *make_handle(dm_invalid_utf8 policy)
{
    dm_pii_options o;
    dm_pii_options_default(&o);
    o.invalid_utf8 = policy;
    dm_pii *p = NULL;
    if (dm_pii_create(&o, &p) != DM_OK) return NULL;
    static const char *const ctx[] = {"order", "订单"};
    static const char *const names[] = {"Alice Smith", "Bob", "张三"};
    uint8_t key[32];
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
    if (dm_pii_add_pattern(p, "ORDER_ID", "(?<![0-9])ORD-?[0-9]{6,12}(?![0-9])", 0.7, even_digits, NULL, ctx, 2) ||
        dm_pii_add_deny_list(p, "NAME", names, 3, 0.9) || dm_pii_set_key(p, key, 32)) {
        dm_pii_free(p);
        return NULL;
    }
    return p;
}

static bool known(const char *type)
{
    for (size_t i = 0; i < sizeof known_types / sizeof known_types[0]; i++)
        if (strcmp(type, known_types[i]) == 0) return true;
    return false;
}

static void check_entities(const dm_pii_entity *e, size_t n, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        FZ_CHECK(e[i].type && known(e[i].type));
        FZ_CHECK(e[i].start < e[i].end && e[i].end <= len);
        FZ_CHECK(e[i].score >= 0.4 && e[i].score <= 1.0);
        if (i) FZ_CHECK(e[i - 1].end <= e[i].start);
    }
}

static void anonymise_all_ways(dm_pii *p, const char *text, size_t len, bool valid)
{
    static const dm_pii_operator ops[] = {DM_PII_REPLACE, DM_PII_REDACT, DM_PII_MASK, DM_PII_HASH, DM_PII_ENCRYPT,
                                          DM_PII_KEEP};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        dm_pii_operator_config c;
        dm_pii_operator_config_default(&c);
        c.op = ops[k];
        c.mask_char = 0x2588; /* a 3-byte code point */
        FZ_CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
        char *out = NULL;
        size_t out_len = 0;
        dm_status st = dm_pii_anonymize(p, text, len, &out, &out_len, NULL, NULL);
        FZ_CHECK(st == DM_OK || st == DM_ERR_UTF8);
        if (st) {
            fz_check_failure(st);
            FZ_CHECK(!valid);
            continue;
        }
        FZ_CHECK(out && out[out_len] == '\0');
        if (valid) FZ_CHECK(fz_utf8_valid((const uint8_t *)out, out_len));
        if (ops[k] == DM_PII_KEEP) FZ_CHECK(!valid || (out_len == len && memcmp(out, text, len) == 0));
        if (ops[k] == DM_PII_ENCRYPT && valid) {
            char *back = NULL;
            size_t back_len = 0;
            st = dm_pii_decrypt(p, out, out_len, &back, &back_len);
            /* The input may itself hold token-like text that does not authenticate. */
            FZ_CHECK(st == DM_OK || st == DM_ERR_AUTH);
            if (st == DM_OK) FZ_CHECK(back_len == len && memcmp(back, text, len) == 0);
            dm_free(back);
        }
        dm_free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dm_pii *strict, *lenient;
    if (!strict) strict = make_handle(DM_UTF8_ERROR);
    if (!lenient) lenient = make_handle(DM_UTF8_REPLACE);
    FZ_CHECK(strict && lenient);
    const char *text = (const char *)data;
    bool valid = fz_utf8_valid(data, size);

    dm_pii_entity *e = NULL;
    size_t n = 0;
    dm_status st = dm_pii_detect(strict, text, size, &e, &n);
    if (valid) FZ_CHECK(st == DM_OK);
    else {
        FZ_CHECK(st == DM_ERR_UTF8);
        fz_check_failure(st);
    }
    if (st == DM_OK) check_entities(e, n, size);
    dm_free(e);

    e = NULL, n = 0;
    FZ_CHECK(dm_pii_detect(lenient, text, size, &e, &n) == DM_OK);
    check_entities(e, n, size);
    dm_free(e);

    anonymise_all_ways(strict, text, size, valid);

    char *out = NULL;
    size_t out_len = 0;
    st = dm_pii_decrypt(strict, text, size, &out, &out_len);
    FZ_CHECK(st == DM_OK || st == DM_ERR_AUTH || st == DM_ERR_UTF8);
    if (st) fz_check_failure(st);
    else FZ_CHECK(out && out[out_len] == '\0');
    dm_free(out);
    return 0;
}
