/*
 * test_pii_ops.c — the PII operators (replace, redact, mask, hash, encrypt,
 * keep) on given entities and on detected ones, keys and key files,
 * decryption (wrong keys, tampered and truncated tokens), dataset
 * anonymisation with its report and audit log, and every bad-input path.
 */
#include "datamodel.h"
#include "privacy/pii_ops.h"

#include "../unit/check.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dm_test_pii_ops_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static const char *write_tmp(const char *name, const char *data, size_t len)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    size_t got = fread(d, 1, (size_t)n, f);
    d[got] = '\0';
    fclose(f);
    if (len) *len = got;
    return d;
}

static const uint8_t key1[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static uint8_t key2[32];

/* A handle with the built-in recognisers and default options. */
typedef struct handle {
    dm_pii *pii;
} handle;

static dm_pii *handle_open(handle *h)
{
    h->pii = NULL;
    dm_status st = dm_pii_create(NULL, &h->pii);
    CHECK(st == DM_OK);
    if (st) fprintf(stderr, "  dm_pii_create: %s\n", dm_last_error());
    return h->pii;
}

static void handle_close(handle *h) { dm_pii_free(h->pii); }

/* Applies operators to TEXT with entities [starts[i], ends[i]) of TYPES. */
static char *apply(const dm_pii *pii, const char *text, size_t n, const char *const *types, const size_t *starts,
                   const size_t *ends, dm_status *st)
{
    dm_pii_entity ents[16];
    for (size_t i = 0; i < n; i++) ents[i] = (dm_pii_entity){types[i], starts[i], ends[i], 1.0};
    char *out = NULL;
    size_t len = 0;
    *st = dmi_pii_apply(pii, text, strlen(text), ents, n, &out, &len);
    if (!*st && (strlen(out) != len)) *st = DM_ERR_INTERNAL;
    return out;
}

/* One entity covering VALUE inside "[" VALUE "]". */
static char *apply1(const dm_pii *pii, const char *type, const char *value)
{
    char text[1024];
    snprintf(text, sizeof text, "[%s]", value);
    size_t s = 1, e = 1 + strlen(value);
    dm_status st;
    char *out = apply(pii, text, 1, &type, &s, &e, &st);
    return st ? NULL : out;
}

static int is(char *got, const char *want)
{
    int ok = got && strcmp(got, want) == 0;
    if (!ok) fprintf(stderr, "  got \"%s\", want \"%s\"\n", got ? got : "(null)", want);
    dm_free(got);
    return ok;
}

static dm_pii_operator_config op_cfg(dm_pii_operator op)
{
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c);
    c.op = op;
    return c;
}

/* ------------------------------------------------------------- operators */

static void test_defaults(void)
{
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c);
    CHECK(c.struct_size == sizeof c && c.op == DM_PII_REPLACE && c.mask_char == '*' && c.keep_last == 4 &&
          c.hash_chars == 8);
    dm_pii_operator_config_default(NULL); /* no crash */
    CHECK(strcmp(dmi_pii_operator_name(DM_PII_HASH), "hash") == 0);
    CHECK(dmi_pii_operator_name((dm_pii_operator)9) == NULL);
}

static void test_simple_operators(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    CHECK(p != NULL);
    if (!p) return;
    /* default: replace */
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"), "[<EMAIL_ADDRESS>]"));
    dm_pii_operator_config c = op_cfg(DM_PII_REDACT);
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"), "[]"));
    c = op_cfg(DM_PII_KEEP);
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"), "[bob@example.com]"));
    /* NULL config: the default config (replace) */
    CHECK(dm_pii_set_operator(p, NULL, NULL) == DM_OK);
    CHECK(is(apply1(p, "URL", "https://x.org"), "[<URL>]"));

    /* several entities, text between kept byte for byte */
    const char *text = "邮箱 bob@example.com，电话 13812345678。";
    const char *types[] = {"EMAIL_ADDRESS", "PHONE_NUMBER"};
    size_t s[2], e[2];
    s[0] = (size_t)(strstr(text, "bob") - text), e[0] = s[0] + strlen("bob@example.com");
    s[1] = (size_t)(strstr(text, "138") - text), e[1] = s[1] + 11;
    dm_status st;
    CHECK(is(apply(p, text, 2, types, s, e, &st), "邮箱 <EMAIL_ADDRESS>，电话 <PHONE_NUMBER>。"));
    /* no entities: the text itself; an empty text */
    CHECK(is(apply(p, text, 0, types, s, e, &st), text));
    CHECK(is(apply(p, "", 0, types, s, e, &st), ""));
    /* an entity at the very start and one at the very end */
    const char *t2 = "1381234567813812345678";
    size_t s2[2] = {0, 11}, e2[2] = {11, 22};
    const char *pt[] = {"PHONE_NUMBER", "PHONE_NUMBER"};
    CHECK(is(apply(p, t2, 2, pt, s2, e2, &st), "<PHONE_NUMBER><PHONE_NUMBER>"));
    handle_close(&h);
}

static void test_mask(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config c = op_cfg(DM_PII_MASK);
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "CREDIT_CARD", "4111 1111 1111 1111"), "[***************1111]"));
    c.keep_last = 0;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PHONE_NUMBER", "13812345678"), "[***********]"));
    /* keep_last at or above the length: masked whole (a mask never shows a whole value) */
    c.keep_last = 11;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PHONE_NUMBER", "13812345678"), "[***********]"));
    c.keep_last = 50;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PHONE_NUMBER", "555"), "[***]"));
    c.keep_last = 10;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PHONE_NUMBER", "13812345678"), "[*3812345678]"));
    /* mask character '#' */
    c.keep_last = 4, c.mask_char = '#';
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PHONE_NUMBER", "+86 138-1234-5678"), "[#############5678]"));
    /* a CJK mask character; characters counted as code points, not bytes */
    c.mask_char = 0x67D0; /* 某 */
    c.keep_last = 1;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PERSON_CN", "张三丰"), "[某某丰]"));
    c.mask_char = 0x1F512; /* 🔒: four UTF-8 bytes */
    c.keep_last = 2;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "PERSON_CN", "é张三丰"), "[🔒🔒三丰]"));
    /* an empty entity stays empty */
    CHECK(is(apply1(p, "PERSON_CN", ""), "[]"));
    handle_close(&h);
}

static void test_invalid_utf8(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config c = op_cfg(DM_PII_MASK);
    c.keep_last = 1;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    /* "a\xFF" + entity "x\xC3y" + "\xE4\xB8": the invalid sequences count as one
     * character each and, under DM_UTF8_REPLACE, come out as U+FFFD */
    const char text[] = "a\xFF" "x\xC3y" "\xE4\xB8";
    const char *type = "ID";
    size_t s = 2, e = 5;
    dm_status st;
    char *out = apply(p, text, 1, &type, &s, &e, &st);
    CHECK(st == DM_OK && out && memcmp(out, "a\xFF**y\xE4\xB8", 8) == 0);
    dm_free(out);
    p->o.invalid_utf8 = DM_UTF8_REPLACE;
    out = apply(p, text, 1, &type, &s, &e, &st);
    CHECK(is(out, "a\xEF\xBF\xBD**y\xEF\xBF\xBD"));
    c.keep_last = 2;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    out = apply(p, text, 1, &type, &s, &e, &st);
    CHECK(is(out, "a\xEF\xBF\xBD*\xEF\xBF\xBDy\xEF\xBF\xBD"));
    p->o.invalid_utf8 = DM_UTF8_ERROR;
    handle_close(&h);
}

static void test_hash(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config c = op_cfg(DM_PII_HASH);
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    /* no key: fails before touching the text, naming the operator and the fix */
    CHECK_FAILS(dmi_pii_apply(p, "x", 1, NULL, 0, &(char *){NULL}, NULL), DM_ERR_INVALID_ARGUMENT,
                "default operator is hash, which needs a key");
    CHECK(dm_pii_set_key(p, key1, 32) == DM_OK);
    /* reference: Python hmac.new(bytes(range(32)), b"EMAIL_ADDRESS\0bob@example.com", sha256) */
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"), "[<EMAIL_ADDRESS_da2d6a37>]"));
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"), "[<EMAIL_ADDRESS_da2d6a37>]")); /* deterministic */
    CHECK(is(apply1(p, "PHONE_NUMBER", "手机 13812345678"), "[<PHONE_NUMBER_9bf56769>]"));
    c.hash_chars = 64;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"),
             "[<EMAIL_ADDRESS_da2d6a37130b5527ddb12d7ec36185fc66aae159f1077903b721eff110414588>]"));
    /* the type is part of the message: the same value of another type differs */
    char *a = apply1(p, "URL", "bob@example.com");
    CHECK(a && !strstr(a, "da2d6a37"));
    dm_free(a);
    /* another key, another token */
    c.hash_chars = 8;
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK(dm_pii_set_key(p, key2, 32) == DM_OK);
    a = apply1(p, "EMAIL_ADDRESS", "bob@example.com");
    CHECK(a && strncmp(a, "[<EMAIL_ADDRESS_", 16) == 0 && strlen(a) == 16 + 8 + 2 && !strstr(a, "da2d6a37"));
    dm_free(a);
    handle_close(&h);
}

/* Decrypts TEXT with P; the output, or NULL with *ST set. */
static char *decrypt(const dm_pii *p, const char *text, dm_status *st)
{
    char *out = NULL;
    size_t len = 0;
    *st = dm_pii_decrypt(p, text, strlen(text), &out, &len);
    if (!*st && strlen(out) != len) *st = DM_ERR_INTERNAL;
    return out;
}

static void test_encrypt(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config c = op_cfg(DM_PII_ENCRYPT);
    CHECK(dm_pii_set_operator(p, "EMAIL_ADDRESS", &c) == DM_OK);
    CHECK(dm_pii_set_operator(p, "PHONE_NUMBER", &c) == DM_OK);
    CHECK(dm_pii_set_operator(p, "CN_RESIDENT_ID", &c) == DM_OK);
    CHECK_FAILS(dmi_pii_apply(p, "x", 1, NULL, 0, &(char *){NULL}, NULL), DM_ERR_INVALID_ARGUMENT,
                "type EMAIL_ADDRESS uses the encrypt operator, which needs a key");
    CHECK_FAILS(dm_pii_decrypt(p, "x", 1, &(char *){NULL}, NULL), DM_ERR_INVALID_ARGUMENT, "no key is set");
    CHECK(dm_pii_set_key(p, key1, 32) == DM_OK);

    /* English and Chinese texts, several entities, round trip */
    const char *texts[] = {
        "Mail bob@example.com or alice@test.org, call +1 415-555-0100 today.",
        "联系人邮箱：张伟@例子.公司，手机 138-1234-5678，身份证 11010519491231002X。",
    };
    const char *values[2][3] = {{"bob@example.com", "alice@test.org", "+1 415-555-0100"},
                                {"张伟@例子.公司", "138-1234-5678", "11010519491231002X"}};
    const char *types[2][3] = {{"EMAIL_ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER"},
                               {"EMAIL_ADDRESS", "PHONE_NUMBER", "CN_RESIDENT_ID"}};
    for (int t = 0; t < 2; t++) {
        size_t s[3], e[3];
        for (int i = 0; i < 3; i++) {
            s[i] = (size_t)(strstr(texts[t], values[t][i]) - texts[t]);
            e[i] = s[i] + strlen(values[t][i]);
        }
        dm_status st;
        char *enc = apply(p, texts[t], 3, types[t], s, e, &st);
        CHECK(st == DM_OK && enc);
        if (!enc) continue;
        for (int i = 0; i < 3; i++) CHECK(!strstr(enc, values[t][i]));
        CHECK(strstr(enc, t ? "<CN_RESIDENT_ID:" : "<PHONE_NUMBER:") != NULL);
        char *dec = decrypt(p, enc, &st);
        CHECK(st == DM_OK && is(dec, texts[t]));
        dm_free(enc);
    }

    /* two encryptions of one value differ (random nonce) and both decrypt */
    char *a = apply1(p, "EMAIL_ADDRESS", "bob@example.com");
    char *b = apply1(p, "EMAIL_ADDRESS", "bob@example.com");
    CHECK(a && b && strcmp(a, b) != 0);
    dm_status st;
    CHECK(is(decrypt(p, a, &st), "[bob@example.com]"));
    CHECK(is(decrypt(p, b, &st), "[bob@example.com]"));

    /* the token as documented: base64url(nonce 24 | ciphertext | tag 16), TYPE as associated data */
    if (a) {
        const char *pl = a + strlen("[<EMAIL_ADDRESS:");
        size_t pl_len = strlen(pl) - 2;
        uint8_t bin[256], m[256];
        size_t bl = 0;
        unsigned long long ml = 0;
        CHECK(sodium_base642bin(bin, sizeof bin, pl, pl_len, NULL, &bl, NULL,
                                sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
        CHECK(bl == 24 + 15 + 16);
        CHECK(crypto_aead_xchacha20poly1305_ietf_decrypt(m, &ml, NULL, bin + 24, bl - 24,
                                                         (const uint8_t *)"EMAIL_ADDRESS", 13, bin, key1) == 0 &&
              ml == 15 && memcmp(m, "bob@example.com", 15) == 0);
    }

    /* a token moved to another type does not authenticate */
    if (a) {
        char moved[512];
        snprintf(moved, sizeof moved, "[<URL:%s", a + strlen("[<EMAIL_ADDRESS:"));
        CHECK_FAILS(dm_pii_decrypt(p, moved, strlen(moved), &(char *){NULL}, NULL), DM_ERR_AUTH,
                    "URL token at byte 1 does not authenticate");
    }

    /* tampered: one base64 character flipped in the middle, in a longer text */
    if (b) {
        char t[1024];
        snprintf(t, sizeof t, "ok %s and %s", a, b);
        size_t at = (size_t)(strstr(t + 4, "[<EMAIL") - t) + 1; /* the second token's '<' */
        size_t mid = at + 30;
        t[mid] = t[mid] == 'A' ? 'B' : 'A';
        CHECK_FAILS(dm_pii_decrypt(p, t, strlen(t), &(char *){NULL}, NULL), DM_ERR_AUTH, "does not authenticate");
        char want[64];
        snprintf(want, sizeof want, "EMAIL_ADDRESS token at byte %zu", at);
        CHECK_FAILS(dm_pii_decrypt(p, t, strlen(t), &(char *){NULL}, NULL), DM_ERR_AUTH, want);
        /* nothing half-decrypted comes back */
        char *out = (char *)"x";
        CHECK(dm_pii_decrypt(p, t, strlen(t), &out, NULL) == DM_ERR_AUTH && out == NULL);
    }

    /* truncated: the closing '>' cut off, or the payload cut short */
    if (a) {
        char t[512];
        snprintf(t, sizeof t, "%s", a);
        t[strlen(t) - 2] = '\0'; /* drop ">]" */
        CHECK_FAILS(dm_pii_decrypt(p, t, strlen(t), &(char *){NULL}, NULL), DM_ERR_AUTH, "cut short");
        t[strlen(t) - 3] = '\0';
        CHECK_FAILS(dm_pii_decrypt(p, t, strlen(t), &(char *){NULL}, NULL), DM_ERR_AUTH, "at byte 1");
        snprintf(t, sizeof t, "%s", a);
        memmove(t + 30, t + 33, strlen(t + 33) + 1); /* three characters lost inside, '>' kept */
        CHECK_FAILS(dm_pii_decrypt(p, t, strlen(t), &(char *){NULL}, NULL), DM_ERR_AUTH, "EMAIL_ADDRESS token");
        snprintf(t, sizeof t, "%s", a);
        memmove(t + 30, t + 31, strlen(t + 31) + 1); /* length 1 mod 4: not base64 at all */
        CHECK_FAILS(dm_pii_decrypt(p, t, strlen(t), &(char *){NULL}, NULL), DM_ERR_AUTH, "EMAIL_ADDRESS token");
    }

    /* a wrong key */
    CHECK(dm_pii_set_key(p, key2, 32) == DM_OK);
    if (a) CHECK_FAILS(dm_pii_decrypt(p, a, strlen(a), &(char *){NULL}, NULL), DM_ERR_AUTH, "wrong key");
    dm_free(a);
    dm_free(b);

    /* texts without tokens come back unchanged, look-alikes included */
    const char *plain[] = {"", "no tokens here", "<EMAIL_ADDRESS>", "<EMAIL_ADDRESS_da2d6a37>", "<A:short>",
                           "a < b > c", "<lower:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA>", "<<<:>",
                           "中文 <PHONE_NUMBER:abc> 文本"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) CHECK(is(decrypt(p, plain[i], &st), plain[i]));
    char *out = NULL;
    size_t ol = 9;
    CHECK(dm_pii_decrypt(p, NULL, 0, &out, &ol) == DM_OK && out && out[0] == '\0' && ol == 0);
    dm_free(out);
    handle_close(&h);
}

static void test_per_type_and_keep(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config mask = op_cfg(DM_PII_MASK), keep = op_cfg(DM_PII_KEEP), redact = op_cfg(DM_PII_REDACT);
    CHECK(dm_pii_set_operator(p, "PHONE_NUMBER", &mask) == DM_OK);
    CHECK(dm_pii_set_operator(p, "URL", &keep) == DM_OK);
    CHECK(dm_pii_set_operator(p, NULL, &redact) == DM_OK); /* the default, for every other type */
    const char *text = "a 13812345678 b http://x.org c bob@example.com d";
    const char *types[] = {"PHONE_NUMBER", "URL", "EMAIL_ADDRESS"};
    size_t s[] = {2, 16, 31}, e[] = {13, 28, 46};
    dm_status st;
    CHECK(is(apply(p, text, 3, types, s, e, &st), "a *******5678 b http://x.org c  d"));
    CHECK(dmi_pii_operator_of(p, "URL")->op == DM_PII_KEEP);
    CHECK(dmi_pii_operator_of(p, "IBAN_CODE")->op == DM_PII_REDACT);
    /* setting a type again replaces its operator */
    CHECK(dm_pii_set_operator(p, "PHONE_NUMBER", NULL) == DM_OK);
    CHECK(is(apply(p, text, 3, types, s, e, &st), "a <PHONE_NUMBER> b http://x.org c  d"));
    handle_close(&h);
}

static void test_bad_configs(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config c = op_cfg(DM_PII_MASK);
    c.op = (dm_pii_operator)6;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "unknown operator 6");
    c.op = (dm_pii_operator)-1;
    CHECK_FAILS(dm_pii_set_operator(p, "URL", &c), DM_ERR_INVALID_ARGUMENT, "dm_pii_set_operator(URL): unknown operator");
    c = op_cfg(DM_PII_MASK);
    c.mask_char = 0xD800;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "mask_char 0xD800");
    c.mask_char = 0x110000;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "at most U+10FFFF");
    c.mask_char = 0;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "mask_char 0x0");
    c = op_cfg(DM_PII_HASH);
    c.hash_chars = 7;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "hash_chars is 7; expected 8 .. 64");
    c.hash_chars = 65;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "hash_chars is 65");
    c = op_cfg(DM_PII_MASK);
    c.struct_size = 0;
    CHECK_FAILS(dm_pii_set_operator(p, NULL, &c), DM_ERR_INVALID_ARGUMENT, "struct_size is 0");
    c = op_cfg(DM_PII_MASK);
    CHECK_FAILS(dm_pii_set_operator(p, "email", &c), DM_ERR_INVALID_ARGUMENT, "\"email\" is not a type name");
    CHECK_FAILS(dm_pii_set_operator(p, "", &c), DM_ERR_INVALID_ARGUMENT, "not a type name");
    char long_type[80];
    memset(long_type, 'A', 65);
    long_type[65] = '\0';
    CHECK_FAILS(dm_pii_set_operator(p, long_type, &c), DM_ERR_INVALID_ARGUMENT, "not a type name");
    /* a failed call changes nothing */
    CHECK(dmi_pii_operator_of(p, "URL")->op == DM_PII_REPLACE);
    /* an older, smaller struct: fields it lacks keep their defaults */
    c = op_cfg(DM_PII_MASK);
    c.struct_size = offsetof(dm_pii_operator_config, keep_last);
    c.keep_last = 99;
    CHECK(dm_pii_set_operator(p, "URL", &c) == DM_OK && dmi_pii_operator_of(p, "URL")->keep_last == 4);

    /* keys */
    CHECK_FAILS(dm_pii_set_key(p, key1, 16), DM_ERR_INVALID_ARGUMENT, "the key is 16 bytes; expected 32");
    CHECK_FAILS(dm_pii_set_key(p, key1, 0), DM_ERR_INVALID_ARGUMENT, "expected 32");

    /* entities that overlap or leave the text */
    dm_pii_entity ents[2] = {{"URL", 0, 5, 1}, {"URL", 3, 6, 1}};
    char *out = NULL;
    CHECK_FAILS(dmi_pii_apply(p, "abcdefgh", 8, ents, 2, &out, NULL), DM_ERR_INVALID_ARGUMENT, "overlaps");
    ents[1] = (dm_pii_entity){"URL", 6, 9, 1};
    CHECK_FAILS(dmi_pii_apply(p, "abcdefgh", 8, ents, 2, &out, NULL), DM_ERR_INVALID_ARGUMENT, "entity 1 (URL, bytes 6..9)");
    ents[1] = (dm_pii_entity){NULL, 6, 7, 1};
    CHECK_FAILS(dmi_pii_apply(p, "abcdefgh", 8, ents, 2, &out, NULL), DM_ERR_INVALID_ARGUMENT, "no type name");
    CHECK(out == NULL);
    handle_close(&h);
}

static void test_null_args(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    char *out = NULL;
    size_t len;
    dm_pii_operator_config c = op_cfg(DM_PII_MASK);
    CHECK_FAILS(dm_pii_set_operator(NULL, NULL, &c), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_set_key(NULL, key1, 32), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_set_key(p, NULL, 32), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_load_key_file(NULL, "k"), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_load_key_file(p, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_anonymize(NULL, "x", 1, &out, &len, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_anonymize(p, NULL, 1, &out, &len, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_anonymize(p, "x", 1, NULL, &len, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_decrypt(NULL, "x", 1, &out, &len), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_decrypt(p, NULL, 1, &out, &len), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_pii_decrypt(p, "x", 1, NULL, &len), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dmi_pii_apply(NULL, "x", 1, NULL, 0, &out, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dmi_pii_apply(p, "x", 1, NULL, 1, &out, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    dm_dataset *ds = NULL, *o = NULL;
    const char *t[] = {"x"};
    CHECK(dm_dataset_from_texts(1, t, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK);
    CHECK_FAILS(dm_dataset_anonymize(NULL, p, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_dataset_anonymize(ds, NULL, NULL, &o, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_dataset_anonymize(ds, p, NULL, NULL, NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK(o == NULL);
    dm_dataset_free(ds);
    handle_close(&h);
}

/* ------------------------------------------------------------- key files */

/* Binary key files (32 raw bytes, as `openssl rand 32 > key` writes, or any
 * binary file) are named as binary, not as whatever byte comes first that is
 * not a hex digit (here a line break at character 3). */
static void test_binary_key_files(dm_pii *p)
{
    char raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (char)(0x80 + 3 * i); /* continuation bytes: not UTF-8 */
    raw[0] = 'a', raw[1] = 'b', raw[2] = '\n';
    CHECK_FAILS(dm_pii_load_key_file(p, write_tmp("raw.key", raw, sizeof raw)), DM_ERR_PARSE,
                "the file is binary, not text (byte 4 is not UTF-8): 32 raw bytes?");
    CHECK(strstr(dm_last_error(), "line break") == NULL);
    CHECK(strstr(dm_last_error(), "xxd -p -c 32") != NULL);
    char nul[70];
    memset(nul, 'a', sizeof nul);
    nul[10] = 0;
    CHECK_FAILS(dm_pii_load_key_file(p, write_tmp("nul.key", nul, sizeof nul)), DM_ERR_PARSE,
                "the file is binary, not text (byte 11 is a control byte);");
    CHECK(strstr(dm_last_error(), "32 raw bytes") == NULL);
}

static void test_key_files(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    dm_pii_operator_config c = op_cfg(DM_PII_HASH);
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    const char *forms[] = {"%s\n", "%s\r\n", "%s", "%s"};
    for (int i = 0; i < 4; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, forms[i], hex);
        if (i == 3)
            for (char *q = buf; *q; q++) *q = (char)(*q >= 'a' ? *q - 32 : *q); /* upper case */
        dm_pii *q = p;
        CHECK(dm_pii_set_key(q, key2, 32) == DM_OK);
        CHECK(dm_pii_load_key_file(q, write_tmp("key.hex", buf, strlen(buf))) == DM_OK);
        /* the key is key1: the reference hash of test_hash */
        CHECK(is(apply1(q, "EMAIL_ADDRESS", "bob@example.com"), "[<EMAIL_ADDRESS_da2d6a37>]"));
    }
    /* missing, a folder */
    CHECK_FAILS(dm_pii_load_key_file(p, tmp_path("nope.hex")), DM_ERR_IO, "nope.hex: No such file or directory");
    CHECK_FAILS(dm_pii_load_key_file(p, tmpdir), DM_ERR_IO, tmpdir);
    /* malformed: the message says what is wrong, never what the key is */
    struct {
        const char *content, *needle;
    } bad[] = {
        {"", "the file is empty"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", "wrong length: 62 hex characters"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n", "wrong length: 66 hex characters"},
        {"000102030405060708090a0b0c0d0e0fz01112131415161718191a1b1c1d1e1f\n",
         "a letter that is not a hex digit (0-9, a-f) at character 33, after 32 hex characters"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n", "a line break at character 65"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \n", "a space at character 65"},
        {" 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "a space at character 1"},
        {"0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "at character 2"},
        {"000102030405060708090a0b0c0d0e0f\r101112131415161718191a1b1c1d1e1f\n", "a carriage return at character 33"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\xC3\xA9", "a non-ASCII character at character 64"},
        {"KEY=\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n", "a letter that is not a hex"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f=\n", "'=' at character 65"},
        /* base64 of 32 bytes (`openssl rand -base64 32`): said so, not "a letter" */
        {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "44 base64 characters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *path = write_tmp("bad.hex", bad[i].content, strlen(bad[i].content));
        CHECK_FAILS(dm_pii_load_key_file(p, path), DM_ERR_PARSE, bad[i].needle);
        CHECK(strstr(dm_last_error(), "bad.hex") != NULL);
        CHECK(strstr(dm_last_error(), "0a0b0c") == NULL && strstr(dm_last_error(), "1c1d1e") == NULL);
    }
    test_binary_key_files(p);
    char big[600];
    memset(big, 'a', sizeof big);
    CHECK_FAILS(dm_pii_load_key_file(p, write_tmp("big.hex", big, sizeof big)), DM_ERR_PARSE, "larger than 256 bytes");
    /* a failed load keeps the key that was set */
    CHECK(is(apply1(p, "EMAIL_ADDRESS", "bob@example.com"), "[<EMAIL_ADDRESS_da2d6a37>]"));
    handle_close(&h);
}

/* ------------------------------------------------ detection (full path) */

static void test_anonymize_detected(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    char *out = NULL;
    size_t len = 0, n = 0;
    dm_pii_entity *ents = NULL;
    const char *text = "Write to bob@example.com or call 13812345678.";
    CHECK(dm_pii_anonymize(p, text, strlen(text), &out, &len, &ents, &n) == DM_OK);
    CHECK(is(out, "Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER>."));
    CHECK(n == 2 && ents && strcmp(ents[0].type, "EMAIL_ADDRESS") == 0 && ents[0].start == 9 && ents[0].end == 24 &&
          strcmp(ents[1].type, "PHONE_NUMBER") == 0 && ents[1].start == 33 && ents[1].end == 44);
    dm_free(ents);
    /* without entity outputs; an empty text */
    CHECK(dm_pii_anonymize(p, text, strlen(text), &out, NULL, NULL, NULL) == DM_OK);
    dm_free(out);
    CHECK(dm_pii_anonymize(p, "", 0, &out, &len, &ents, &n) == DM_OK && out && !out[0] && len == 0 && n == 0 &&
          !ents);
    dm_free(out);

    /* encrypt through detection, decrypt back: English and Chinese */
    dm_pii_operator_config c = op_cfg(DM_PII_ENCRYPT);
    CHECK(dm_pii_set_operator(p, NULL, &c) == DM_OK);
    CHECK_FAILS(dm_pii_anonymize(p, text, strlen(text), &out, &len, NULL, NULL), DM_ERR_INVALID_ARGUMENT,
                "set one with dm_pii_set_key");
    CHECK(dm_pii_set_key(p, key1, 32) == DM_OK);
    const char *texts[] = {text, "客服电话 +86 138 1234 5678，邮箱 kefu@example.cn，卡号 4111 1111 1111 1111。"};
    for (int i = 0; i < 2; i++) {
        CHECK(dm_pii_anonymize(p, texts[i], strlen(texts[i]), &out, &len, NULL, &n) == DM_OK);
        CHECK(n >= 2 && out && !strstr(out, "example"));
        char *dec = NULL;
        size_t dl = 0;
        CHECK(out && dm_pii_decrypt(p, out, len, &dec, &dl) == DM_OK);
        CHECK(is(dec, texts[i]));
        dm_free(out);
    }
    /* invalid UTF-8 under DM_UTF8_ERROR: the detector's error comes through */
    CHECK(dm_pii_anonymize(p, "a\xFFz", 3, &out, &len, NULL, NULL) == DM_ERR_UTF8 && out == NULL);
    dm_pii_free(p);
}

/* ---------------------------------------------------------------- datasets */

static json_t *parse(const char *s)
{
    json_error_t err;
    json_t *j = json_loads(s ? s : "", 0, &err);
    if (!j) fprintf(stderr, "  JSON error: %s\n", err.text);
    return j;
}

static long long jint(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2) v = json_object_get(v, path2);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static const char *jstr(json_t *o, const char *k1, const char *k2)
{
    json_t *v = json_object_get(o, k1);
    if (k2) v = json_object_get(v, k2);
    return json_is_string(v) ? json_string_value(v) : "";
}

/* N rows: a third with an email, a third with a phone (in the pair), a
 * third with a card and an email, some with nothing. */
static void make_rows(size_t n, char ***texts, char ***pairs)
{
    *texts = malloc(n * sizeof **texts);
    *pairs = malloc(n * sizeof **pairs);
    for (size_t i = 0; i < n; i++) {
        char t[256], q[256];
        switch (i % 4) {
        case 0: snprintf(t, sizeof t, "user%zu@example.com wrote: great hotel", i); break;
        case 1: snprintf(t, sizeof t, "房间很干净，服务好 %zu", i); break;
        case 2: snprintf(t, sizeof t, "card 4111 1111 1111 1111 and mail u%zu@mail.org", i); break;
        default: snprintf(t, sizeof t, "nothing personal %zu", i);
        }
        if (i % 3 == 1) snprintf(q, sizeof q, "电话 1381234%04zu", i % 10000);
        else snprintf(q, sizeof q, "pair %zu", i);
        (*texts)[i] = strdup(t);
        (*pairs)[i] = strdup(q);
    }
}

static void free_rows(size_t n, char **texts, char **pairs)
{
    for (size_t i = 0; i < n; i++) free(texts[i]), free(pairs[i]);
    free(texts);
    free(pairs);
}

static void test_dataset(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    dm_pii_operator_config hash = op_cfg(DM_PII_HASH), mask = op_cfg(DM_PII_MASK);
    CHECK(dm_pii_set_operator(p, "EMAIL_ADDRESS", &hash) == DM_OK);
    CHECK(dm_pii_set_operator(p, "PHONE_NUMBER", &mask) == DM_OK);
    CHECK(dm_pii_set_key(p, key1, 32) == DM_OK);

    size_t n = 400;
    char **texts, **pairs;
    make_rows(n, &texts, &pairs);
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(n, (const char *const *)texts, NULL, (const char *const *)pairs, NULL, NULL, NULL,
                                &ds) == DM_OK);
    dm_dataset *out = NULL;
    char *report = NULL;
    const char *audit = tmp_path("audit.jsonl");
    CHECK(dm_dataset_anonymize(ds, p, audit, &out, &report) == DM_OK);
    CHECK(out && dm_dataset_size(out) == n);
    json_t *r = parse(report);
    CHECK(r != NULL);
    size_t want_email = n / 4 + n / 4, want_card = n / 4, want_phone = 0, want_changed = 0;
    for (size_t i = 0; i < n; i++) {
        want_phone += i % 3 == 1;
        want_changed += i % 4 == 0 || i % 4 == 2 || i % 3 == 1;
    }
    CHECK(jint(r, "rows", NULL) == (long long)n);
    CHECK(jint(r, "rows_changed", NULL) == (long long)want_changed);
    CHECK(jint(r, "entities", "EMAIL_ADDRESS") == (long long)want_email);
    CHECK(jint(r, "entities", "CREDIT_CARD") == (long long)want_card);
    CHECK(jint(r, "entities", "PHONE_NUMBER") == (long long)want_phone);
    CHECK(json_object_size(json_object_get(r, "entities")) == 3);
    CHECK(strcmp(jstr(r, "operators", "EMAIL_ADDRESS"), "hash") == 0);
    CHECK(strcmp(jstr(r, "operators", "PHONE_NUMBER"), "mask") == 0);
    CHECK(strcmp(jstr(r, "operators", "CREDIT_CARD"), "replace") == 0);
    CHECK(strcmp(jstr(r, "default_operator", NULL), "replace") == 0);
    CHECK(jint(r, "entities_total", NULL) == (long long)(want_email + want_card + want_phone));
    CHECK(jint(r, "entities_by_operator", "hash") == (long long)want_email);
    CHECK(jint(r, "bytes_in", NULL) > 0 && jint(r, "bytes_out", NULL) > 0);
    json_decref(r);
    dm_free(report);
    report = NULL;

    /* rows in order, ids kept, values gone */
    for (size_t i = 0; i < n && out; i++) {
        size_t tl, pl;
        const char *t = dm_dataset_text(out, i, &tl), *q = dm_dataset_pair(out, i, &pl);
        if (i % 4 == 0) CHECK(strncmp(t, "<EMAIL_ADDRESS_", 15) == 0 && strstr(t, "wrote: great hotel"));
        if (i % 4 == 1 || i % 4 == 3) CHECK(strcmp(t, texts[i]) == 0);
        if (i % 4 == 2) CHECK(strncmp(t, "card <CREDIT_CARD> and mail <EMAIL_ADDRESS_", 43) == 0);
        if (i % 3 == 1) CHECK(strncmp(q, "电话 *******", strlen("电话 *******")) == 0 && strlen(q) == strlen(pairs[i]));
        else CHECK(strcmp(q, pairs[i]) == 0);
        char id[32];
        snprintf(id, sizeof id, "%zu", i + 1);
        CHECK(strcmp(dm_dataset_id(out, i), id) == 0);
    }

    /* the audit log: one line per entity, in row order, never a value */
    size_t alen = 0;
    char *log = read_all(audit, &alen);
    CHECK(log != NULL);
    size_t lines = 0;
    long long last_id = 0;
    bool values_absent = true, fields_ok = true, ordered = true;
    for (char *line = log, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) {
            fields_ok = false;
            break;
        }
        *nl = '\0';
        json_t *a = parse(line);
        lines++;
        const char *id = jstr(a, "id", NULL), *col = jstr(a, "column", NULL), *type = jstr(a, "type", NULL),
                   *op = jstr(a, "operator", NULL);
        long long s = jint(a, "start", NULL), e = jint(a, "end", NULL);
        fields_ok &= json_object_size(a) == 6 && *id && *type && s >= 0 && e > s;
        long long row = atoll(id);
        ordered &= row >= last_id;
        last_id = row;
        size_t ri = (size_t)row - 1;
        const char *src = strcmp(col, "text") == 0 ? texts[ri] : strcmp(col, "pair") == 0 ? pairs[ri] : NULL;
        fields_ok &= src != NULL && (size_t)e <= strlen(src);
        if (src && strcmp(type, "EMAIL_ADDRESS") == 0) fields_ok &= strcmp(op, "hash") == 0 && src[s] != ' ';
        if (src && strcmp(type, "PHONE_NUMBER") == 0) fields_ok &= strcmp(op, "mask") == 0 && src[s] == '1';
        json_decref(a);
        /* no raw value anywhere in the line */
        char *raw = src ? strndup(src + s, (size_t)(e - s)) : NULL;
        if (raw && strstr(line, raw)) values_absent = false;
        free(raw);
    }
    CHECK(lines == want_email + want_card + want_phone);
    CHECK(fields_ok && ordered && values_absent);
    CHECK(log && !strstr(log, "@example.com") && !strstr(log, "4111") && !strstr(log, "1381234"));
    free(log);

    /* without report or audit */
    dm_dataset *out2 = NULL;
    CHECK(dm_dataset_anonymize(ds, p, NULL, &out2, NULL) == DM_OK && dm_dataset_size(out2) == n);
    dm_dataset_free(out2);

    /* an unwritable audit path */
    CHECK_FAILS(dm_dataset_anonymize(ds, p, "/nonexistent-dir/audit.jsonl", &out2, &report), DM_ERR_IO,
                "/nonexistent-dir/audit.jsonl");
    CHECK(out2 == NULL && report == NULL);
    CHECK_FAILS(dm_dataset_anonymize(ds, p, tmpdir, &out2, NULL), DM_ERR_IO, "is a folder");
    CHECK_FAILS(dm_dataset_anonymize(ds, p, "", &out2, NULL), DM_ERR_IO, "empty");

    /* a key that is needed and missing fails before any row */
    dm_pii *nokey = NULL;
    CHECK(dm_pii_create(NULL, &nokey) == DM_OK);
    CHECK(dm_pii_set_operator(nokey, "EMAIL_ADDRESS", &hash) == DM_OK);
    CHECK_FAILS(dm_dataset_anonymize(ds, nokey, NULL, &out2, NULL), DM_ERR_INVALID_ARGUMENT,
                "type EMAIL_ADDRESS uses the hash operator, which needs a key");
    dm_pii_free(nokey);

    dm_dataset_free(out);
    dm_dataset_free(ds);
    free_rows(n, texts, pairs);
    dm_pii_free(p);
}

/* Same input, same bytes out on 1, 2 and all threads (non-encrypt operators). */
static void test_dataset_threads(void)
{
    size_t n = 3000;
    char **texts, **pairs;
    make_rows(n, &texts, &pairs);
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_from_texts(n, (const char *const *)texts, NULL, (const char *const *)pairs, NULL, NULL, NULL,
                                &ds) == DM_OK);
    char *ref_data = NULL, *ref_report = NULL, *ref_audit = NULL;
    int threads[] = {1, 2, 0};
    for (int k = 0; k < 3; k++) {
        dm_pii_options o;
        dm_pii_options_default(&o);
        o.threads = threads[k];
        dm_pii *p = NULL;
        CHECK(dm_pii_create(&o, &p) == DM_OK);
        if (!p) break;
        dm_pii_operator_config hash = op_cfg(DM_PII_HASH), mask = op_cfg(DM_PII_MASK);
        CHECK(dm_pii_set_operator(p, "EMAIL_ADDRESS", &hash) == DM_OK);
        CHECK(dm_pii_set_operator(p, "PHONE_NUMBER", &mask) == DM_OK);
        CHECK(dm_pii_set_key(p, key1, 32) == DM_OK);
        dm_dataset *out = NULL;
        char *report = NULL;
        CHECK(dm_dataset_anonymize(ds, p, tmp_path("audit_t.jsonl"), &out, &report) == DM_OK);
        char *data = NULL;
        CHECK(out && dm_dataset_write(out, tmp_path("out.jsonl"), DM_FORMAT_JSONL) == DM_OK);
        data = read_all(tmp_path("out.jsonl"), NULL);
        char *audit = read_all(tmp_path("audit_t.jsonl"), NULL);
        if (k == 0) {
            ref_data = data, ref_report = report, ref_audit = audit;
        } else {
            CHECK(data && ref_data && strcmp(data, ref_data) == 0);
            CHECK(report && ref_report && strcmp(report, ref_report) == 0);
            CHECK(audit && ref_audit && strcmp(audit, ref_audit) == 0);
            free(data);
            free(audit);
            dm_free(report);
        }
        dm_dataset_free(out);
        dm_pii_free(p);
    }
    free(ref_data);
    free(ref_audit);
    dm_free(ref_report);

    /* encrypt: every row decrypts back to its source, on all threads */
    dm_pii *p = NULL;
    CHECK(dm_pii_create(NULL, &p) == DM_OK);
    if (p) {
        dm_pii_operator_config enc = op_cfg(DM_PII_ENCRYPT);
        CHECK(dm_pii_set_operator(p, NULL, &enc) == DM_OK);
        CHECK(dm_pii_set_key(p, key2, 32) == DM_OK);
        dm_dataset *out = NULL;
        CHECK(dm_dataset_anonymize(ds, p, NULL, &out, NULL) == DM_OK);
        bool all = out != NULL;
        for (size_t i = 0; i < n && out; i++) {
            size_t tl, pl, dl;
            const char *t = dm_dataset_text(out, i, &tl), *q = dm_dataset_pair(out, i, &pl);
            char *dt = NULL, *dq = NULL;
            all &= dm_pii_decrypt(p, t, tl, &dt, &dl) == DM_OK && strcmp(dt, texts[i]) == 0;
            all &= dm_pii_decrypt(p, q, pl, &dq, &dl) == DM_OK && strcmp(dq, pairs[i]) == 0;
            dm_free(dt);
            dm_free(dq);
        }
        CHECK(all);
        dm_dataset_free(out);
        dm_pii_free(p);
    }
    dm_dataset_free(ds);
    free_rows(n, texts, pairs);
}

/* A dataset read from a file: the audit names the file's text column and ids. */
static void test_dataset_file_columns(void)
{
    handle h;
    dm_pii *p = handle_open(&h);
    if (!p) return;
    const char csv[] = "id,review,label\nr1,\"mail bob@example.com\",1\nr2,fine,0\nr3,\"call 13812345678\",1\n";
    dm_dataset_options o;
    dm_dataset_options_default(&o);
    o.text_column = "review";
    o.id_column = "id";
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_load(write_tmp("d.csv", csv, sizeof csv - 1), &o, &ds) == DM_OK);
    dm_dataset *out = NULL;
    char *report = NULL;
    CHECK(ds && dm_dataset_anonymize(ds, p, tmp_path("a.jsonl"), &out, &report) == DM_OK);
    char *log = read_all(tmp_path("a.jsonl"), NULL);
    CHECK(log && strcmp(log,
                        "{\"id\":\"r1\",\"column\":\"review\",\"type\":\"EMAIL_ADDRESS\",\"start\":5,\"end\":20,"
                        "\"operator\":\"replace\"}\n"
                        "{\"id\":\"r3\",\"column\":\"review\",\"type\":\"PHONE_NUMBER\",\"start\":5,\"end\":16,"
                        "\"operator\":\"replace\"}\n") == 0);
    free(log);
    json_t *r = parse(report);
    CHECK(jint(r, "rows", NULL) == 3 && jint(r, "rows_changed", NULL) == 2);
    CHECK(json_array_size(json_object_get(r, "columns")) == 1);
    json_decref(r);
    CHECK(out && strcmp(dm_dataset_text(out, 0, NULL), "mail <EMAIL_ADDRESS>") == 0 &&
          strcmp(dm_dataset_id(out, 2), "r3") == 0 && dm_dataset_label(out, 2) == dm_dataset_label(ds, 2));
    dm_dataset_free(out);
    dm_free(report);
    /* no entities at all: an empty audit log, every row unchanged */
    const char *t[] = {"nothing", "here"};
    dm_dataset *ds2 = NULL;
    CHECK(dm_dataset_from_texts(2, t, NULL, NULL, NULL, NULL, NULL, &ds2) == DM_OK);
    CHECK(dm_dataset_anonymize(ds2, p, tmp_path("empty.jsonl"), &out, &report) == DM_OK);
    size_t len = 9;
    char *e = read_all(tmp_path("empty.jsonl"), &len);
    CHECK(e && len == 0);
    free(e);
    r = parse(report);
    CHECK(jint(r, "rows_changed", NULL) == 0 && json_object_size(json_object_get(r, "entities")) == 0);
    json_decref(r);
    dm_dataset_free(out);
    dm_free(report);
    dm_dataset_free(ds2);
    dm_dataset_free(ds);
    dm_pii_free(p);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    for (int i = 0; i < 32; i++) key2[i] = (uint8_t)(0xA5 ^ (i * 7));
    test_defaults();
    test_simple_operators();
    test_mask();
    test_invalid_utf8();
    test_hash();
    test_encrypt();
    test_per_type_and_keep();
    test_bad_configs();
    test_null_args();
    test_key_files();
    test_anonymize_detected();
    test_dataset();
    test_dataset_threads();
    test_dataset_file_columns();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
