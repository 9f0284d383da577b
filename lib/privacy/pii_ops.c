/*
 * pii_ops.c — what happens to an entity once it is found: the operators
 * (replace, redact, mask, keyed hash, reversible encryption, keep), the key,
 * decryption of encrypted tokens, and anonymisation of a dataset's text
 * columns with a report and an audit log. Every cryptographic step is
 * libsodium's; nothing here is hand-written crypto.
 *
 * After configuration a dm_pii is read-only, so anonymize and decrypt may run
 * on it from several threads: all state of a call lives on its stack or in
 * its own buffers.
 */
#include "pii_ops.h"
#include "encrypt.h"
#include "../core/utf8.h"
#include "../core/jobs.h"
#include "../data/ops.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY_BYTES 32
#define TYPE_MAX 64 /* bytes of a type name, as dmi_pii_valid_type_name allows */
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES      /* 16 */
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* The shortest payload of a token: nonce and tag around an empty value. */
#define MIN_PAYLOAD (NONCE_BYTES + TAG_BYTES)
/* Base64 characters of MIN_PAYLOAD bytes without padding: ceil(40 * 4 / 3). */
#define MIN_PAYLOAD_CHARS ((MIN_PAYLOAD * 4 + 2) / 3)
/* A key file is 64 hex digits and a line ending; anything much longer is not one. */
#define KEY_FILE_MAX 256

typedef struct type_operator {
    char type[TYPE_MAX + 1];
    dm_pii_operator_config cfg;
} type_operator;

struct dmi_pii_ops {
    dm_pii_operator_config def; /* for types without one of their own */
    type_operator *types;
    size_t n_types, cap;
    uint8_t key[KEY_BYTES];
    bool has_key;
};

static const char *const operator_names[] = {"replace", "redact", "mask", "hash", "encrypt", "keep"};

const char *dmi_pii_operator_name(dm_pii_operator op)
{
    return (unsigned)op <= DM_PII_KEEP ? operator_names[op] : NULL;
}

static bool needs_key(dm_pii_operator op) { return op == DM_PII_HASH || op == DM_PII_ENCRYPT; }

/* libsodium's own initialisation is thread-safe and idempotent; it must have
 * run before randombytes_buf. */
static dm_status init_sodium(void)
{
    if (sodium_init() < 0) return dmi_fail(DM_ERR_INTERNAL, "libsodium could not be initialised");
    return DM_OK;
}

/* ------------------------------------------------------------- handle state */

dm_status dmi_pii_ops_create(dmi_pii_ops **out)
{
    *out = NULL;
    dm_status st = init_sodium();
    if (st) return st;
    dmi_pii_ops *ops = dmi_calloc(1, sizeof *ops);
    if (!ops) return DM_ERR_NO_MEMORY;
    dm_pii_operator_config_default(&ops->def);
    *out = ops;
    return DM_OK;
}

void dmi_pii_ops_free(dmi_pii_ops *ops)
{
    if (!ops) return;
    free(ops->types);
    sodium_memzero(ops, sizeof *ops); /* the key above all */
    free(ops);
}

DM_API void dm_pii_operator_config_default(dm_pii_operator_config *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->op = DM_PII_REPLACE;
    cfg->mask_char = '*';
    cfg->keep_last = 4;
    cfg->hash_chars = 8;
}

const dm_pii_operator_config *dmi_pii_operator_of(const dm_pii *pii, const char *type)
{
    const dmi_pii_ops *ops = pii->ops;
    for (size_t i = 0; i < ops->n_types; i++)
        if (strcmp(ops->types[i].type, type) == 0) return &ops->types[i].cfg;
    return &ops->def;
}

static dm_status check_config(const dm_pii_operator_config *c, const char *what)
{
    if ((unsigned)c->op > DM_PII_KEEP)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: unknown operator %d (expected DM_PII_REPLACE, DM_PII_REDACT, DM_PII_MASK, DM_PII_HASH, "
                        "DM_PII_ENCRYPT or DM_PII_KEEP)",
                        what, (int)c->op);
    uint32_t m = c->mask_char;
    if (m == 0 || m > 0x10FFFF || (m >= 0xD800 && m <= 0xDFFF))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "%s: mask_char 0x%X is not a usable character (expected a Unicode scalar value: not 0, not a "
                        "surrogate U+D800..U+DFFF, at most U+10FFFF)",
                        what, (unsigned)m);
    if (c->hash_chars < 8 || c->hash_chars > 64)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: hash_chars is %zu; expected 8 .. 64 hex digits", what,
                        c->hash_chars);
    return DM_OK;
}

static dm_status set_type_operator(dmi_pii_ops *ops, const char *type, const dm_pii_operator_config *c)
{
    for (size_t i = 0; i < ops->n_types; i++)
        if (strcmp(ops->types[i].type, type) == 0) {
            ops->types[i].cfg = *c;
            return DM_OK;
        }
    if (!dmi_grow(&ops->types, &ops->cap, ops->n_types + 1, sizeof *ops->types)) return DM_ERR_NO_MEMORY;
    type_operator *t = &ops->types[ops->n_types++];
    snprintf(t->type, sizeof t->type, "%s", type);
    t->cfg = *c;
    return DM_OK;
}

static dm_status set_operator(dm_pii *pii, const char *type, const dm_pii_operator_config *cfg)
{
    if (!pii || !pii->ops) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_set_operator: NULL handle");
    dm_pii_operator_config c;
    dm_pii_operator_config_default(&c);
    if (cfg && dmi_copy_options(&c, sizeof c, cfg, "dm_pii_operator_config"))
        return dmi_fail_prefix(DM_ERR_INVALID_ARGUMENT, "dm_pii_set_operator");
    if (type && !dmi_pii_valid_type_name(type))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_pii_set_operator: \"%.80s\" is not a type name (capital letters A-Z, digits and '_', 1 to "
                        "64 of them, e.g. EMAIL_ADDRESS)",
                        type);
    char what[128];
    snprintf(what, sizeof what, "dm_pii_set_operator(%s)", type ? type : "default");
    dm_status st = check_config(&c, what);
    if (st) return st;
    if (!type) {
        pii->ops->def = c;
        return DM_OK;
    }
    return set_type_operator(pii->ops, type, &c);
}

/* -------------------------------------------------------------------- keys */

static dm_status set_key(dm_pii *pii, const uint8_t *key, size_t len)
{
    if (!pii || !pii->ops || !key) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_set_key: NULL argument");
    if (len != KEY_BYTES)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_set_key: the key is %zu bytes; expected 32 (256 bits)", len);
    dm_status st = init_sodium();
    if (st) return st;
    memcpy(pii->ops->key, key, KEY_BYTES);
    pii->ops->has_key = true;
    return DM_OK;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The offset of the first byte that no text file holds (a control byte other
 * than tab, CR and LF, or invalid UTF-8), or LEN. */
static size_t binary_at(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
    }
    return dmi_utf8_invalid_at(buf, len);
}

/* Whether the N bytes at B are 32 bytes in base64, as `openssl rand -base64
 * 32` prints them: 43 characters of either alphabet, maybe then a '='. */
static bool base64_key(const char *b, size_t n)
{
    if (n == 44 && b[43] == '=') n = 43;
    if (n != 43) return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (!alnum && c != '+' && c != '/' && c != '-' && c != '_') return false;
    }
    return true;
}

/* What the key file's byte C (not a hex digit) is, in words. A letter is
 * never named, as it could be part of a secret; punctuation is ('=', '"',
 * ':'), as it is what tells a "KEY=..." line or a quoted value. */
static void describe_char(unsigned char c, char *out, size_t cap)
{
    const char *word = c == ' ' ? "a space" : c == '\t' ? "a tab" : c == '\n' ? "a line break"
                     : c == '\r' ? "a carriage return" : c >= 0x80 ? "a non-ASCII character" : NULL;
    if (word) snprintf(out, cap, "%s", word);
    else if ((c | 0x20) >= 'g' && (c | 0x20) <= 'z') snprintf(out, cap, "a letter that is not a hex digit (0-9, a-f)");
    else snprintf(out, cap, "'%c'", c);
}

#define KEY_EXPECT                                                                                                \
    "a key file holds 64 hex characters (as `openssl rand -hex 32` prints), optionally followed by a newline"

/* Says why the LEN bytes of BUF, of which BODY before any final newline, are
 * not a key file. */
static dm_status key_file_error(const char *fn, const char *path, const char *buf, size_t len, size_t body)
{
    size_t bin = binary_at(buf, len);
    if (bin < len)
        return dmi_fail(DM_ERR_PARSE,
                        "%s: %s: the file is binary, not text (byte %zu is %s)%s; " KEY_EXPECT, fn, path, bin + 1,
                        (unsigned char)buf[bin] < 0x80 ? "a control byte" : "not UTF-8",
                        len == 32 ? ": 32 raw bytes? write them as hex with `xxd -p -c 32 FILE`" : "");
    size_t i = 0;
    while (i < body && is_hex((unsigned char)buf[i])) i++;
    if (i == body)
        return dmi_fail(DM_ERR_PARSE, "%s: %s: wrong length: %zu hex characters, not 64 (32 bytes); " KEY_EXPECT,
                        fn, path, body);
    if (base64_key(buf, body))
        return dmi_fail(DM_ERR_PARSE,
                        "%s: %s: the file holds %zu base64 characters (as `openssl rand -base64 32` prints), not hex; "
                        KEY_EXPECT, fn, path, body);
    char what[64];
    describe_char((unsigned char)buf[i], what, sizeof what);
    const char *hint = buf[i] == '\n' || buf[i] == '\r'   ? " (the key must be the only line)"
                       : i == 1 && (buf[1] | 0x20) == 'x' ? " (write the digits without a \"0x\" prefix)"
                                                           : "";
    char after[48] = "";
    if (i) snprintf(after, sizeof after, ", after %zu hex character%s", i, i == 1 ? "" : "s");
    return dmi_fail(DM_ERR_PARSE, "%s: %s: %s at character %zu%s%s; " KEY_EXPECT, fn, path, what, i + 1, after, hint);
}

/* Checks the LEN bytes of a key file and decodes them into KEY. */
static dm_status parse_key_file(const char *fn, const char *path, const char *buf, size_t len,
                                uint8_t key[KEY_BYTES])
{
    if (len == 0) return dmi_fail(DM_ERR_PARSE, "%s: %s: the file is empty; " KEY_EXPECT, fn, path);
    if (len > KEY_FILE_MAX)
        return dmi_fail(DM_ERR_PARSE, "%s: %s: the file is larger than %d bytes; " KEY_EXPECT, fn, path,
                        KEY_FILE_MAX);
    size_t body = len;
    if (body >= 2 && buf[body - 2] == '\r' && buf[body - 1] == '\n') body -= 2;
    else if (buf[body - 1] == '\n') body -= 1;
    bool hex = body == 2 * KEY_BYTES;
    for (size_t i = 0; i < body && hex; i++) hex = is_hex((unsigned char)buf[i]);
    if (!hex) return key_file_error(fn, path, buf, len, body);
    size_t bin_len = 0;
    if (sodium_hex2bin(key, KEY_BYTES, buf, body, NULL, &bin_len, NULL) != 0 || bin_len != KEY_BYTES)
        return dmi_fail(DM_ERR_INTERNAL, "%s: %s: hex decoding failed", fn, path);
    return DM_OK;
}

/* The key file parser that dm_pii_load_key_file and dm_read_key_file share
 * (lib/privacy/encrypt.h): FN names the public call in messages. */
dm_status dmi_read_key_file(const char *fn, const char *path, uint8_t key[32])
{
    if (!path || !key) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: NULL argument", fn);
    FILE *f = fopen(path, "rb");
    if (!f) return dmi_fail(DM_ERR_IO, "%s: %s: %s", fn, path, strerror(errno));
    char buf[KEY_FILE_MAX + 1];
    errno = 0;
    size_t len = fread(buf, 1, sizeof buf, f);
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    dm_status st = DM_OK;
    uint8_t k[KEY_BYTES];
    if (err) st = dmi_fail(DM_ERR_IO, "%s: %s: %s", fn, path, strerror(err));
    else st = parse_key_file(fn, path, buf, len, k);
    if (!st) memcpy(key, k, KEY_BYTES);
    sodium_memzero(buf, sizeof buf);
    sodium_memzero(k, sizeof k);
    return st;
}

static dm_status load_key_file(dm_pii *pii, const char *path)
{
    if (!pii || !pii->ops || !path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_load_key_file: NULL argument");
    uint8_t key[KEY_BYTES];
    dm_status st = dmi_read_key_file("dm_pii_load_key_file", path, key);
    if (!st) st = set_key(pii, key, KEY_BYTES);
    sodium_memzero(key, sizeof key);
    return st;
}

/* ---------------------------------------------------------------- operators */

bool dmi_pii_has_key(const dm_pii *pii) { return pii->ops->has_key; }

/* Fails when an operator that needs the key is configured and none is set:
 * checked before any text is touched, so that a run never fails halfway
 * through for want of a key. */
dm_status dmi_pii_check_key(const dm_pii *pii, const char *fn)
{
    const dmi_pii_ops *ops = pii->ops;
    if (ops->has_key) return DM_OK;
    static const char how[] = "set one with dm_pii_set_key or dm_pii_load_key_file (dm redact --key-file)";
    if (needs_key(ops->def.op))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the default operator is %s, which needs a key: %s", fn,
                        operator_names[ops->def.op], how);
    for (size_t i = 0; i < ops->n_types; i++)
        if (needs_key(ops->types[i].cfg.op))
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: type %s uses the %s operator, which needs a key: %s", fn,
                            ops->types[i].type, operator_names[ops->types[i].cfg.op], how);
    return DM_OK;
}

/* The length of the character at S: a code point, or a maximal invalid
 * subpart (which counts as one character, as U+FFFD replaces it). */
static size_t char_len(const char *s, size_t avail)
{
    uint32_t cp;
    size_t bad = 1;
    size_t n = dmi_utf8_decode((const uint8_t *)s, avail, &cp, &bad);
    return n ? n : (bad ? bad : 1);
}

/* Appends S; under DM_UTF8_REPLACE each invalid sequence becomes U+FFFD. */
static void put_text(dmi_buf *b, const char *s, size_t len, bool replace)
{
    while (len) {
        size_t ok = replace ? dmi_utf8_invalid_at(s, len) : len;
        dmi_buf_append(b, s, ok);
        if (ok == len) return;
        size_t bad = char_len(s + ok, len - ok);
        dmi_buf_append(b, "\xEF\xBF\xBD", 3);
        s += ok + bad, len -= ok + bad;
    }
}

/* Every character but the last keep_last becomes mask_char. A value no
 * longer than keep_last is masked whole: a mask never shows a whole value. */
static void put_mask(dmi_buf *b, const char *s, size_t len, const dm_pii_operator_config *c, bool replace)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i += char_len(s + i, len - i)) chars++;
    size_t keep = c->keep_last < chars ? c->keep_last : 0;
    char mc[4];
    size_t mcl = dmi_utf8_encode(c->mask_char, mc);
    size_t i = 0;
    for (size_t k = 0; k < chars - keep; k++) {
        dmi_buf_append(b, mc, mcl);
        i += char_len(s + i, len - i);
    }
    put_text(b, s + i, len - i, replace);
}

/* "<TYPE>", or "<TYPE_" SUFFIX ">" (without printf: this is the hot path). */
static void put_tag(dmi_buf *b, const char *type, const char *suffix, size_t suffix_len)
{
    dmi_buf_append(b, "<", 1);
    dmi_buf_puts(b, type);
    if (suffix_len) {
        dmi_buf_append(b, "_", 1);
        dmi_buf_append(b, suffix, suffix_len);
    }
    dmi_buf_append(b, ">", 1);
}

/* "<TYPE_" + the first hash_chars hex digits of HMAC-SHA-256(key, TYPE NUL
 * value) + ">". */
static void put_hash(dmi_buf *b, const dmi_pii_ops *ops, const char *type, const char *s, size_t len,
                     size_t hash_chars)
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof mac + 1];
    crypto_auth_hmacsha256_init(&st, ops->key, KEY_BYTES);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)type, strlen(type) + 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)s, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    put_tag(b, type, hex, hash_chars);
    sodium_memzero(&st, sizeof st);
}

/* "<TYPE:" + base64url(nonce | ciphertext | tag) + ">": XChaCha20-Poly1305
 * under the key with a random nonce and TYPE as associated data, so that a
 * token moved to another type does not decrypt. */
static void put_encrypted(dmi_buf *b, const dmi_pii_ops *ops, const char *type, const char *s, size_t len)
{
    size_t clen = NONCE_BYTES + len + TAG_BYTES;
    size_t b64_cap = sodium_base64_ENCODED_LEN(clen, B64_VARIANT);
    uint8_t *c = malloc(clen);
    char *b64 = malloc(b64_cap);
    if (!c || !b64) {
        b->failed = true;
        free(c);
        free(b64);
        return;
    }
    randombytes_buf(c, NONCE_BYTES);
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(c + NONCE_BYTES, &written, (const uint8_t *)s, len,
                                               (const uint8_t *)type, strlen(type), NULL, c, ops->key);
    sodium_bin2base64(b64, b64_cap, c, clen, B64_VARIANT);
    dmi_buf_printf(b, "<%s:", type);
    dmi_buf_puts(b, b64);
    dmi_buf_append(b, ">", 1);
    free(c);
    free(b64);
}

static void put_entity(dmi_buf *b, const dm_pii *pii, const char *type, const char *s, size_t len, bool replace)
{
    const dm_pii_operator_config *c = dmi_pii_operator_of(pii, type);
    switch (c->op) {
    case DM_PII_REPLACE: put_tag(b, type, "", 0); break;
    case DM_PII_REDACT: break;
    case DM_PII_MASK: put_mask(b, s, len, c, replace); break;
    case DM_PII_HASH: put_hash(b, pii->ops, type, s, len, c->hash_chars); break;
    case DM_PII_ENCRYPT: put_encrypted(b, pii->ops, type, s, len); break;
    case DM_PII_KEEP: put_text(b, s, len, replace); break;
    }
}

static dm_status apply(const dm_pii *pii, const char *text, size_t len, const dm_pii_entity *ents, size_t n,
                       char **out, size_t *out_len)
{
    for (size_t i = 0; i < n; i++) {
        const dm_pii_entity *e = &ents[i];
        size_t prev_end = i ? ents[i - 1].end : 0;
        if (!e->type || !e->type[0] || strlen(e->type) > TYPE_MAX)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "entity %zu has no type name", i);
        if (e->start > e->end || e->end > len || e->start < prev_end)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                            "entity %zu (%s, bytes %zu..%zu) lies outside the text (%zu bytes) or overlaps the one "
                            "before it",
                            i, e->type, e->start, e->end, len);
    }
    bool replace = pii->o.invalid_utf8 == DM_UTF8_REPLACE;
    dmi_buf b = {0};
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        put_text(&b, text + pos, ents[i].start - pos, replace);
        put_entity(&b, pii, ents[i].type, text + ents[i].start, ents[i].end - ents[i].start, replace);
        pos = ents[i].end;
    }
    put_text(&b, text + pos, len - pos, replace);
    dmi_buf_append(&b, "", 0); /* an empty result is still a string */
    dm_status st = dmi_buf_finish(&b, out, out_len);
    if (st) return dmi_fail(st, "out of memory anonymising %zu bytes", len);
    return DM_OK;
}

dm_status dmi_pii_apply(const dm_pii *pii, const char *text, size_t len, const dm_pii_entity *ents, size_t n,
                        char **out, size_t *out_len)
{
    if (!pii || !pii->ops || (!text && len) || (!ents && n) || !out)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_pii_apply: NULL argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    dm_status st = dmi_pii_check_key(pii, "dmi_pii_apply");
    if (!st) st = apply(pii, text ? text : "", len, ents, n, out, out_len);
    return st ? dmi_fail_prefix(st, "dmi_pii_apply") : DM_OK;
}

dm_status dmi_pii_anonymize(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len,
                            dm_pii_entity **entities, size_t *n)
{
    if (entities) *entities = NULL;
    if (n) *n = 0;
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!pii || !pii->ops || (!text && len) || !out)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_anonymize: NULL argument");
    if (!text) text = "";
    dm_status st = dmi_pii_check_key(pii, "dm_pii_anonymize");
    if (st) return st;
    dm_pii_entity *ents = NULL;
    size_t ne = 0;
    st = dm_pii_detect(pii, text, len, &ents, &ne);
    if (st) return st;
    st = apply(pii, text, len, ents, ne, out, out_len);
    if (st) {
        dm_free(ents);
        return dmi_fail_prefix(st, "dm_pii_anonymize");
    }
    if (entities) *entities = ents;
    else dm_free(ents);
    if (n) *n = ne;
    return DM_OK;
}

/* --------------------------------------------------------------- decryption */

static bool is_type_char(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

static bool is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A token found at TEXT[at]: "<" TYPE ":" PAYLOAD ">". */
typedef struct token {
    size_t type_len;     /* TYPE at at + 1 */
    size_t payload_at, payload_len;
    size_t end;          /* just after the '>'; 0 when the token is cut short */
} token;

/* Whether TEXT[AT] (a '<') starts a token: a type name, ':' and at least
 * MIN_PAYLOAD_CHARS base64url characters. Such a run not closed by '>' is a
 * token cut short (t->end 0); a shorter run is ordinary text. */
static bool find_token(const char *text, size_t len, size_t at, token *t)
{
    size_t i = at + 1;
    while (i < len && i - at - 1 < TYPE_MAX + 1 && is_type_char((unsigned char)text[i])) i++;
    size_t type_len = i - at - 1;
    if (type_len == 0 || type_len > TYPE_MAX || i >= len || text[i] != ':') return false;
    size_t p = ++i;
    while (i < len && is_b64url_char((unsigned char)text[i])) i++;
    if (i - p < MIN_PAYLOAD_CHARS) return false;
    *t = (token){type_len, p, i - p, i < len && text[i] == '>' ? i + 1 : 0};
    return true;
}

/* Appends the value of token T at TEXT[AT]. */
static dm_status decrypt_token(dmi_buf *b, const dmi_pii_ops *ops, const char *text, size_t at, const token *t)
{
    char type[TYPE_MAX + 1];
    memcpy(type, text + at + 1, t->type_len);
    type[t->type_len] = '\0';
    if (!t->end)
        return dmi_fail(DM_ERR_AUTH,
                        "dm_pii_decrypt: the %s token at byte %zu is cut short or damaged (no '>' after its payload)",
                        type, at);
    size_t cap = t->payload_len * 3 / 4 + 1, clen = 0;
    uint8_t *c = malloc(cap), *m = malloc(cap);
    if (!c || !m) {
        free(c);
        free(m);
        return dmi_fail(DM_ERR_NO_MEMORY, "dm_pii_decrypt: out of memory at byte %zu", at);
    }
    dm_status st = DM_OK;
    const char *end = NULL;
    unsigned long long mlen = 0;
    if (sodium_base642bin(c, cap, text + t->payload_at, t->payload_len, NULL, &clen, &end, B64_VARIANT) != 0 ||
        end != text + t->payload_at + t->payload_len || clen < MIN_PAYLOAD)
        st = dmi_fail(DM_ERR_AUTH, "dm_pii_decrypt: the %s token at byte %zu is damaged (its payload is not valid base64url)",
                      type, at);
    else if (crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, c + NONCE_BYTES, clen - NONCE_BYTES,
                                                        (const uint8_t *)type, t->type_len, c, ops->key) != 0)
        st = dmi_fail(DM_ERR_AUTH,
                      "dm_pii_decrypt: the %s token at byte %zu does not authenticate under this key (a wrong key, or "
                      "the text was altered)",
                      type, at);
    else dmi_buf_append(b, m, (size_t)mlen);
    sodium_memzero(m, cap);
    free(c);
    free(m);
    return st;
}

dm_status dmi_pii_decrypt(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len)
{
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!pii || !pii->ops || (!text && len) || !out)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_decrypt: NULL argument");
    if (!pii->ops->has_key)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT,
                        "dm_pii_decrypt: no key is set: set the key the text was encrypted with (dm_pii_set_key or "
                        "dm_pii_load_key_file)");
    if (!text) text = "";
    dmi_buf b = {0};
    size_t pos = 0; /* copied up to here */
    for (const char *lt = memchr(text, '<', len); lt; lt = memchr(lt + 1, '<', len - (size_t)(lt + 1 - text))) {
        size_t at = (size_t)(lt - text);
        if (at < pos) continue;
        token t;
        if (!find_token(text, len, at, &t)) continue;
        dmi_buf_append(&b, text + pos, at - pos);
        dm_status st = decrypt_token(&b, pii->ops, text, at, &t);
        if (st) {
            if (b.data) sodium_memzero(b.data, b.len);
            dmi_buf_free(&b);
            return st;
        }
        pos = t.end;
        if (pos >= len) break;
    }
    dmi_buf_append(&b, text + pos, len - pos);
    dmi_buf_append(&b, "", 0);
    dm_status st = dmi_buf_finish(&b, out, out_len);
    return st ? dmi_fail(st, "dm_pii_decrypt: out of memory (%zu bytes of text)", len) : DM_OK;
}

/* ----------------------------------------------------------------- datasets */

enum { COL_TEXT, COL_PAIR, N_COLS };

/* What anonymising one row gave: the new texts (NULL: unchanged) and the
 * entities of each column. */
typedef struct row_result {
    char *out[N_COLS];
    size_t out_len[N_COLS];
    dm_pii_entity *ents[N_COLS];
    size_t n_ents[N_COLS];
    dm_status status;
    int bad_col; /* the column that failed */
} row_result;

static void row_result_free(row_result *r)
{
    for (int c = 0; c < N_COLS; c++) {
        free(r->out[c]);
        dm_free(r->ents[c]);
    }
    *r = (row_result){0};
}

static dm_status anonymize_cell(const dm_pii *pii, const char *s, size_t len, row_result *r, int col)
{
    dm_status st = dm_pii_detect(pii, s, len, &r->ents[col], &r->n_ents[col]);
    if (st || r->n_ents[col] == 0) return st;
    char *o = NULL;
    size_t ol = 0;
    st = apply(pii, s, len, r->ents[col], r->n_ents[col], &o, &ol);
    if (st) return st;
    if (ol == len && memcmp(o, s, len) == 0) free(o); /* only KEEP: the row is unchanged */
    else r->out[col] = o, r->out_len[col] = ol;
    return DM_OK;
}

static void anonymize_row(const dm_dataset *ds, const dm_pii *pii, bool has_pair, size_t row, row_result *r)
{
    size_t len = 0;
    const char *t = dm_dataset_text(ds, row, &len);
    r->status = anonymize_cell(pii, t ? t : "", t ? len : 0, r, COL_TEXT);
    r->bad_col = COL_TEXT;
    if (r->status || !has_pair) return;
    t = dm_dataset_pair(ds, row, &len);
    r->status = anonymize_cell(pii, t ? t : "", t ? len : 0, r, COL_PAIR);
    r->bad_col = COL_PAIR;
}

/* Counts by type, kept in first-seen order and sorted for the report. */
typedef struct type_count {
    const char *type;
    uint64_t count;
} type_count;

typedef struct run {
    const dm_dataset *ds;
    const dm_pii *pii;
    bool has_pair;
    const char *col_name[N_COLS];
    dmi_buf audit;
    bool want_audit;
    type_count *counts;
    size_t n_counts, counts_cap;
    uint64_t by_op[DM_PII_KEEP + 1];
    uint64_t rows_changed, bytes_in, bytes_out, entities;
} run;

static dm_status count_type(run *r, const char *type)
{
    for (size_t i = 0; i < r->n_counts; i++)
        if (strcmp(r->counts[i].type, type) == 0) {
            r->counts[i].count++;
            return DM_OK;
        }
    if (!dmi_grow(&r->counts, &r->counts_cap, r->n_counts + 1, sizeof *r->counts)) return DM_ERR_NO_MEMORY;
    r->counts[r->n_counts++] = (type_count){type, 1};
    return DM_OK;
}

/* Records ROW's entities in the counts and the audit log (offsets into the
 * original value; never the value). */
static dm_status record_row(run *r, size_t row, const row_result *res)
{
    const char *id = dm_dataset_id(r->ds, row);
    for (int c = 0; c < N_COLS; c++)
        for (size_t i = 0; i < res->n_ents[c]; i++) {
            const dm_pii_entity *e = &res->ents[c][i];
            dm_pii_operator op = dmi_pii_operator_of(r->pii, e->type)->op;
            dm_status st = count_type(r, e->type);
            if (st) return st;
            r->by_op[op]++;
            r->entities++;
            if (!r->want_audit) continue;
            dmi_buf *b = &r->audit;
            dmi_buf_puts(b, "{\"id\":");
            dmi_buf_json_string(b, id, strlen(id));
            dmi_buf_puts(b, ",\"column\":");
            dmi_buf_json_string(b, r->col_name[c], strlen(r->col_name[c]));
            dmi_buf_puts(b, ",\"type\":");
            dmi_buf_json_string(b, e->type, strlen(e->type));
            dmi_buf_printf(b, ",\"start\":%zu,\"end\":%zu,\"operator\":\"%s\"}\n", e->start, e->end,
                           operator_names[op]);
        }
    return r->audit.failed ? DM_ERR_NO_MEMORY : DM_OK;
}

static dm_status process_chunk(run *r, size_t start, size_t m, row_result *res, int threads, dm_dataset *out)
{
    dmi_job_error err;
    dmi_job_error_init(&err);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16) if (m >= 64 && threads > 1)
    for (size_t k = 0; k < m; k++) {
        if (dmi_job_error_before(&err, k)) continue; /* an earlier row failed: the call fails with it */
        if (dmi_fault("pii.dataset", start + k)) res[k].status = dmi_fault_fail("pii.dataset", start + k);
        else anonymize_row(r->ds, r->pii, r->has_pair, start + k, &res[k]);
        if (res[k].status) dmi_job_error_set(&err, k, res[k].status);
    }
    size_t bad = dmi_job_error_index(&err);
    dm_status st = DM_OK;
    if (bad != SIZE_MAX)
        st = dmi_job_error_raise(&err, "dm_dataset_anonymize: row %zu (id %s), column \"%s\"", start + bad,
                                 dm_dataset_id(r->ds, start + bad), r->col_name[res[bad].bad_col]);
    dmi_job_error_destroy(&err);
    if (st) return st;
    for (size_t k = 0; k < m; k++) {
        row_result *x = &res[k];
        size_t row = start + k;
        size_t tl = 0, pl = 0;
        dm_dataset_text(r->ds, row, &tl);
        if (r->has_pair) dm_dataset_pair(r->ds, row, &pl);
        r->bytes_in += tl + pl;
        r->bytes_out += (x->out[COL_TEXT] ? x->out_len[COL_TEXT] : tl) + (x->out[COL_PAIR] ? x->out_len[COL_PAIR] : pl);
        if (x->out[COL_TEXT] || x->out[COL_PAIR]) r->rows_changed++;
        dm_status st = record_row(r, row, x);
        if (!st)
            st = dmi_derive_row(out, r->ds, row, x->out[COL_TEXT], x->out_len[COL_TEXT], x->out[COL_PAIR],
                                x->out_len[COL_PAIR], NULL, NULL);
        if (st) return dmi_fail_prefix(st, "dm_dataset_anonymize: row %zu", row);
    }
    return DM_OK;
}

static int by_type(const void *a, const void *b)
{
    return strcmp(((const type_count *)a)->type, ((const type_count *)b)->type);
}

/* The types the report lists operators for: those found, then those with an
 * operator of their own, each once, sorted. */
static dm_status report_types(const run *r, const char ***names, size_t *n)
{
    const dmi_pii_ops *ops = r->pii->ops;
    const char **v = dmi_malloc((r->n_counts + ops->n_types + 1) * sizeof *v);
    if (!v) return DM_ERR_NO_MEMORY;
    size_t k = 0;
    for (size_t i = 0; i < r->n_counts; i++) v[k++] = r->counts[i].type;
    for (size_t i = 0; i < ops->n_types; i++) {
        bool seen = false;
        for (size_t j = 0; j < r->n_counts && !seen; j++) seen = strcmp(r->counts[j].type, ops->types[i].type) == 0;
        if (!seen) v[k++] = ops->types[i].type;
    }
    /* a handful of names: insertion sort */
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            const char *t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    *names = v, *n = k;
    return DM_OK;
}

static dm_status build_report(run *r, char **json)
{
    if (r->n_counts) qsort(r->counts, r->n_counts, sizeof *r->counts, by_type);
    const char **types = NULL;
    size_t nt = 0;
    dm_status st = report_types(r, &types, &nt);
    if (st) return st;
    dmi_buf b = {0};
    dmi_buf_printf(&b, "{\"rows\":%zu,\"rows_changed\":%llu,\"entities\":{", dm_dataset_size(r->ds),
                   (unsigned long long)r->rows_changed);
    for (size_t i = 0; i < r->n_counts; i++) {
        if (i) dmi_buf_append(&b, ",", 1);
        dmi_buf_json_string(&b, r->counts[i].type, strlen(r->counts[i].type));
        dmi_buf_printf(&b, ":%llu", (unsigned long long)r->counts[i].count);
    }
    dmi_buf_puts(&b, "},\"operators\":{");
    for (size_t i = 0; i < nt; i++) {
        if (i) dmi_buf_append(&b, ",", 1);
        dmi_buf_json_string(&b, types[i], strlen(types[i]));
        dmi_buf_printf(&b, ":\"%s\"", operator_names[dmi_pii_operator_of(r->pii, types[i])->op]);
    }
    dmi_buf_printf(&b, "},\"default_operator\":\"%s\",\"entities_total\":%llu,\"entities_by_operator\":{",
                   operator_names[r->pii->ops->def.op], (unsigned long long)r->entities);
    for (int op = 0; op <= DM_PII_KEEP; op++)
        dmi_buf_printf(&b, "%s\"%s\":%llu", op ? "," : "", operator_names[op], (unsigned long long)r->by_op[op]);
    dmi_buf_puts(&b, "},\"columns\":[");
    for (int c = 0; c < (r->has_pair ? 2 : 1); c++) {
        if (c) dmi_buf_append(&b, ",", 1);
        dmi_buf_json_string(&b, r->col_name[c], strlen(r->col_name[c]));
    }
    dmi_buf_printf(&b, "],\"bytes_in\":%llu,\"bytes_out\":%llu}", (unsigned long long)r->bytes_in,
                   (unsigned long long)r->bytes_out);
    free(types);
    st = dmi_buf_finish(&b, json, NULL);
    return st ? dmi_fail(st, "dm_dataset_anonymize: out of memory building the report") : DM_OK;
}

/* A path whose folder is missing or not writable fails now, before any work,
 * rather than after a long run (the final write checks again). */
static dm_status check_audit_path(const char *path)
{
    if (!path[0]) return dmi_fail(DM_ERR_IO, "dm_dataset_anonymize: the audit log path is empty");
    if (dmi_is_dir(path))
        return dmi_fail(DM_ERR_IO, "dm_dataset_anonymize: audit log %s: is a folder, not a file", path);
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!dmi_is_dir(dir))
        return dmi_fail(DM_ERR_IO, "dm_dataset_anonymize: audit log %s: the folder %s does not exist", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return dmi_fail(DM_ERR_IO, "dm_dataset_anonymize: audit log %s: cannot write in %s: %s", path, dir,
                        strerror(errno));
    return DM_OK;
}

/* Writes the audit log at once (temporary file and rename): a reader never
 * sees half of one, and a failed run leaves no log behind. */
static dm_status write_audit(dmi_buf *audit, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    dm_status st = dmi_buf_finish(audit, &data, &len);
    if (st) return dmi_fail(st, "dm_dataset_anonymize: out of memory building the audit log");
    st = dmi_write_file_atomic(path, data, len);
    free(data);
    return st ? dmi_fail_prefix(st, "dm_dataset_anonymize: audit log") : DM_OK;
}

#define CHUNK_ROWS 4096

static dm_status dataset_anonymize(const dm_dataset *ds, const dm_pii *pii, const char *audit_path,
                                      dm_dataset **out, char **report_json)
{
    if (out) *out = NULL;
    if (report_json) *report_json = NULL;
    if (!ds || !pii || !pii->ops || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_anonymize: NULL argument");
    dm_status st = dmi_pii_check_key(pii, "dm_dataset_anonymize");
    if (!st && audit_path) st = check_audit_path(audit_path);
    if (st) return st;
    run r = {.ds = ds, .pii = pii, .want_audit = audit_path != NULL};
    ptrdiff_t tc = dmi_dataset_role_column(ds, DMI_ROLE_TEXT), pc = dmi_dataset_role_column(ds, DMI_ROLE_PAIR);
    r.has_pair = pc >= 0;
    r.col_name[COL_TEXT] = tc >= 0 ? dmi_dataset_column_name(ds, (size_t)tc) : "text";
    r.col_name[COL_PAIR] = pc >= 0 ? dmi_dataset_column_name(ds, (size_t)pc) : "pair";
    int threads = pii->o.threads > 0 ? pii->o.threads : dmi_cpu_count();
    size_t rows = dm_dataset_size(ds);
    row_result *res = dmi_calloc(rows < CHUNK_ROWS ? (rows ? rows : 1) : CHUNK_ROWS, sizeof *res);
    dm_dataset *d = NULL;
    if (!res) return DM_ERR_NO_MEMORY;
    st = dmi_derive_begin(ds, 0, NULL, &d);
    for (size_t start = 0; start < rows && !st; start += CHUNK_ROWS) {
        size_t m = rows - start < CHUNK_ROWS ? rows - start : CHUNK_ROWS;
        st = process_chunk(&r, start, m, res, threads, d);
        for (size_t k = 0; k < m; k++) row_result_free(&res[k]);
    }
    free(res);
    char *report = NULL;
    if (!st && report_json) st = build_report(&r, &report);
    if (!st && audit_path) st = write_audit(&r.audit, audit_path);
    free(r.counts);
    dmi_buf_free(&r.audit);
    if (st) {
        free(report);
        dm_dataset_free(d);
        return st;
    }
    *out = d;
    if (report_json) *report_json = report;
    return DM_OK;
}

/* ------------------------------------------------------------------ the locked entry points */

DM_API dm_status dm_pii_set_operator(dm_pii *pii, const char *type, const dm_pii_operator_config *cfg)
{
    if (!pii || !pii->ops) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_set_operator: NULL handle");
    dm_status st = dmi_pii_configure_begin(pii, "dm_pii_set_operator");
    if (st) return st;
    st = set_operator(pii, type, cfg);
    dmi_pii_configure_end(pii);
    return st;
}

DM_API dm_status dm_pii_set_key(dm_pii *pii, const uint8_t *key, size_t len)
{
    if (!pii || !pii->ops || !key) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_set_key: NULL argument");
    dm_status st = dmi_pii_configure_begin(pii, "dm_pii_set_key");
    if (st) return st;
    st = set_key(pii, key, len);
    dmi_pii_configure_end(pii);
    return st;
}

DM_API dm_status dm_pii_load_key_file(dm_pii *pii, const char *path)
{
    if (!pii || !pii->ops || !path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_load_key_file: NULL argument");
    dm_status st = dmi_pii_configure_begin(pii, "dm_pii_load_key_file");
    if (st) return st;
    st = load_key_file(pii, path);
    dmi_pii_configure_end(pii);
    return st;
}

DM_API dm_status dm_pii_anonymize(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len,
                                  dm_pii_entity **entities, size_t *n)
{
    if (!pii || !pii->ops) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_anonymize: NULL handle");
    dmi_pii_use_begin(pii);
    dm_status st = dmi_pii_anonymize(pii, text, len, out, out_len, entities, n);
    dmi_pii_use_end(pii);
    return st;
}

DM_API dm_status dm_pii_decrypt(const dm_pii *pii, const char *text, size_t len, char **out, size_t *out_len)
{
    if (!pii || !pii->ops) {
        if (out) *out = NULL;
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_pii_decrypt: NULL handle");
    }
    dmi_pii_use_begin(pii);
    dm_status st = dmi_pii_decrypt(pii, text, len, out, out_len);
    dmi_pii_use_end(pii);
    return st;
}

DM_API dm_status dm_dataset_anonymize(const dm_dataset *ds, const dm_pii *pii, const char *audit_path,
                                      dm_dataset **out, char **report_json)
{
    if (!pii || !pii->ops) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_dataset_anonymize: NULL handle");
    dmi_pii_use_begin(pii);
    dm_status st = dataset_anonymize(ds, pii, audit_path, out, report_json);
    dmi_pii_use_end(pii);
    return st;
}
