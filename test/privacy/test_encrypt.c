/*
 * test_encrypt.c — encrypted files (data at rest): round trips of empty,
 * 1-byte, exactly-one-chunk and multi-chunk files through a file and through
 * memory; refusal (DM_ERR_AUTH with its message) of a changed byte anywhere,
 * a file cut at a chunk boundary and inside a chunk, appended bytes, a wrong
 * key, a plain file and a damaged header; key files; dm_is_encrypted_file;
 * and datasets loaded from encrypted CSV and JSONL with and without a key.
 */
#include "datamodel.h"
#include "privacy/encrypt.h"

#include "../unit/check.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define OVERHEAD 17
#define START 32

static char tmpdir[] = "/tmp/dm_test_encrypt_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[256][512]; /* the last 256 stay valid */
    static int next;
    char *p = path[next++ % 256];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    return p;
}

static const char *write_tmp(const char *name, const void *data, size_t len)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    if (len) fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n + 1);
    size_t got = fread(d, 1, (size_t)n, f);
    fclose(f);
    if (len) *len = got;
    return d;
}

static const uint8_t key1[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static uint8_t key2[32];

static uint8_t *pattern(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131 + (i >> 8));
    return p;
}

/* Encrypts N bytes, checks the ciphertext's size, decrypts it to a file and
 * to memory and compares. */
static void round_trip(size_t n)
{
    uint8_t *plain = pattern(n);
    const char *in = write_tmp("plain.bin", plain, n);
    char enc[512], dec[512];
    snprintf(enc, sizeof enc, "%s", tmp_path("plain.bin.enc"));
    snprintf(dec, sizeof dec, "%s", tmp_path("plain.out"));
    CHECK(dm_encrypt_file(in, enc, key1) == DM_OK);
    size_t chunks = n / CHUNK + 1 - (n && n % CHUNK == 0);
    size_t enc_len = 0;
    uint8_t *e = read_all(enc, &enc_len);
    CHECK(e && enc_len == START + n + chunks * OVERHEAD);
    CHECK(e && memcmp(e, "DMENC1\0\0", 8) == 0);
    free(e);
    CHECK(dm_is_encrypted_file(enc) == 1);
    CHECK(dm_is_encrypted_file(in) == (n >= 6 && memcmp(plain, "DMENC1", 6) == 0));
    CHECK(dm_decrypt_file(enc, dec, key1) == DM_OK);
    size_t dec_len = 0;
    uint8_t *d = read_all(dec, &dec_len);
    CHECK(d && dec_len == n && (n == 0 || memcmp(d, plain, n) == 0));
    free(d);
    struct stat sb;
    CHECK(stat(dec, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    uint8_t *m = NULL;
    size_t m_len = 99;
    CHECK(dm_decrypt_to_memory(enc, key1, &m, &m_len) == DM_OK);
    CHECK(m && m_len == n && (n == 0 || memcmp(m, plain, n) == 0) && m[n] == 0);
    dm_free(m);
    /* A second encryption of the same plaintext differs (a fresh header). */
    CHECK(dm_encrypt_file(in, tmp_path("again.enc"), key1) == DM_OK);
    uint8_t *a = read_all(tmp_path("again.enc"), NULL);
    e = read_all(enc, NULL);
    CHECK(a && e && memcmp(a + 8, e + 8, 24) != 0);
    free(a), free(e);
    free(plain);
}

static void test_round_trips(void)
{
    size_t sizes[] = {0, 1, 100, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 12345};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) round_trip(sizes[i]);
    /* In place: OUT may be IN. */
    const char *p = write_tmp("inplace.txt", "hello, world\n", 13);
    CHECK(dm_encrypt_file(p, p, key1) == DM_OK);
    CHECK(dm_is_encrypted_file(p) == 1);
    CHECK(dm_decrypt_file(p, p, key1) == DM_OK);
    size_t n = 0;
    uint8_t *d = read_all(p, &n);
    CHECK(d && n == 13 && memcmp(d, "hello, world\n", 13) == 0);
    free(d);
}

/* The encrypted file of N pattern bytes, in memory. */
static uint8_t *encrypted(size_t n, size_t *len)
{
    uint8_t *plain = pattern(n);
    const char *in = write_tmp("src.bin", plain, n);
    free(plain);
    if (dm_encrypt_file(in, tmp_path("src.enc"), key1) != DM_OK) return NULL;
    return read_all(tmp_path("src.enc"), len);
}

/* Decrypting DATA (LEN bytes) fails with STATUS and NEEDLE, to a file (which
 * is then not created) and to memory. */
static void refused(const uint8_t *data, size_t len, const uint8_t *key, dm_status status, const char *needle,
                    int line)
{
    const char *bad = write_tmp("bad.enc", data, len);
    const char *out = tmp_path("bad.out");
    unlink(out);
    int before = check_failed;
    CHECK_FAILS(dm_decrypt_file(bad, out, key), status, needle);
    CHECK_FAILS(dm_decrypt_file(bad, out, key), status, "bad.enc");
    CHECK(access(out, F_OK) != 0);
    uint8_t *m = (uint8_t *)"untouched";
    size_t m_len = 7;
    CHECK_FAILS(dm_decrypt_to_memory(bad, key, &m, &m_len), status, needle);
    CHECK(m_len == 7 && strcmp((char *)m, "untouched") == 0);
    if (check_failed != before) fprintf(stderr, "  (refused() called from line %d)\n", line);
}
#define REFUSED(data, len, key, status, needle) refused(data, len, key, status, needle, __LINE__)

static void test_tampering(void)
{
    size_t n = 0;
    uint8_t *e = encrypted(2 * CHUNK + 500, &n); /* three chunks */
    CHECK(e && n == START + 2 * CHUNK + 500 + 3 * OVERHEAD);
    if (!e) return;
    size_t c2 = START + CHUNK + OVERHEAD, c3 = START + 2 * (CHUNK + OVERHEAD);
    /* A changed byte: in the stream header, in each chunk, in a chunk's MAC. */
    size_t at[] = {8, 31, START, START + 100, c2 + 5, c3, n - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        e[at[i]] ^= 0x01;
        REFUSED(e, n, key1, DM_ERR_AUTH, "does not authenticate");
        e[at[i]] ^= 0x01;
    }
    e[c2 + 5] ^= 0x80;
    REFUSED(e, n, key1, DM_ERR_AUTH, "chunk 2 at byte offset 65585");
    e[c2 + 5] ^= 0x80;
    /* The magic and the reserved bytes. */
    e[0] = 'X';
    REFUSED(e, n, key1, DM_ERR_AUTH, "not a dm-encrypted file");
    e[0] = 'D';
    e[5] = '2';
    REFUSED(e, n, key1, DM_ERR_AUTH, "unknown version of the dm encrypted format (the file starts \"DMENC2\"");
    e[5] = '1';
    e[7] = 1;
    REFUSED(e, n, key1, DM_ERR_AUTH, "the header is damaged");
    e[7] = 0;
    /* Cut at each chunk boundary: no TAG_FINAL chunk. */
    REFUSED(e, c2, key1, DM_ERR_AUTH, "truncated: the file ends after chunk 1");
    REFUSED(e, c3, key1, DM_ERR_AUTH, "truncated: the file ends after chunk 2");
    REFUSED(e, START, key1, DM_ERR_AUTH, "truncated: 32 bytes");
    REFUSED(e, 5, key1, DM_ERR_AUTH, "not a dm-encrypted file");
    REFUSED(e, 0, key1, DM_ERR_AUTH, "not a dm-encrypted file");
    /* Cut inside a chunk, and inside the last chunk's MAC. */
    REFUSED(e, c2 + 1000, key1, DM_ERR_AUTH, "chunk 2 at byte offset 65585 does not authenticate");
    REFUSED(e, n - 1, key1, DM_ERR_AUTH, "chunk 3");
    REFUSED(e, c3 + 5, key1, DM_ERR_AUTH, "truncated: chunk 3 at byte offset 131138 has 5 bytes");
    /* Bytes appended after the final chunk. */
    uint8_t *longer = malloc(n + 40);
    memcpy(longer, e, n);
    memset(longer + n, 'x', 40);
    REFUSED(longer, n + 40, key1, DM_ERR_AUTH, "chunk 3");
    REFUSED(longer, n + 40, key1, DM_ERR_AUTH, "changed, cut or extended");
    free(longer);
    /* A wrong key. */
    REFUSED(e, n, key2, DM_ERR_AUTH, "chunk 1 at byte offset 32 does not authenticate: the key is wrong");
    /* Chunks swapped. */
    uint8_t *tmp = malloc(CHUNK + OVERHEAD);
    memcpy(tmp, e + START, CHUNK + OVERHEAD);
    memcpy(e + START, e + c2, CHUNK + OVERHEAD);
    memcpy(e + c2, tmp, CHUNK + OVERHEAD);
    REFUSED(e, n, key1, DM_ERR_AUTH, "chunk 1");
    free(tmp);
    free(e);

    /* A file whose final chunk is full: bytes appended give a chunk past the
     * end of the stream ("appended"). */
    e = encrypted(CHUNK, &n);
    CHECK(e && n == START + CHUNK + OVERHEAD);
    if (!e) return;
    longer = malloc(n + 40);
    memcpy(longer, e, n);
    memset(longer + n, 0, 40);
    REFUSED(longer, n + 40, key1, DM_ERR_AUTH, "40 bytes after the final chunk (byte 65585): data was appended");
    free(longer);
    /* The empty file's one chunk, cut. */
    free(e);
    e = encrypted(0, &n);
    CHECK(e && n == START + OVERHEAD);
    if (e) REFUSED(e, n - 1, key1, DM_ERR_AUTH, "truncated: 48 bytes, but an encrypted file has at least 49");
    free(e);

    /* A plain file. */
    const char *plain = write_tmp("plain.csv", "text,label\nhi,1\n", 16);
    CHECK_FAILS(dm_decrypt_file(plain, tmp_path("p.out"), key1), DM_ERR_AUTH,
                "plain.csv: not a dm-encrypted file (expected it to start with the header \"DMENC1\"");
    uint8_t *m = NULL;
    size_t m_len = 0;
    CHECK_FAILS(dm_decrypt_to_memory(plain, key1, &m, &m_len), DM_ERR_AUTH, "not a dm-encrypted file");
}

static void test_bad_arguments(void)
{
    const char *p = write_tmp("arg.txt", "x", 1);
    uint8_t *m = NULL;
    size_t n = 0;
    CHECK_FAILS(dm_encrypt_file(NULL, "o", key1), DM_ERR_INVALID_ARGUMENT, "dm_encrypt_file: the input path is NULL");
    CHECK_FAILS(dm_encrypt_file(p, NULL, key1), DM_ERR_INVALID_ARGUMENT, "the output path is NULL");
    CHECK_FAILS(dm_encrypt_file(p, "o", NULL), DM_ERR_INVALID_ARGUMENT, "the key is NULL");
    CHECK_FAILS(dm_decrypt_file(NULL, "o", key1), DM_ERR_INVALID_ARGUMENT, "dm_decrypt_file: the input path is NULL");
    CHECK_FAILS(dm_decrypt_file(p, NULL, key1), DM_ERR_INVALID_ARGUMENT, "the output path is NULL");
    CHECK_FAILS(dm_decrypt_file(p, "o", NULL), DM_ERR_INVALID_ARGUMENT, "the key is NULL");
    CHECK_FAILS(dm_decrypt_to_memory(NULL, key1, &m, &n), DM_ERR_INVALID_ARGUMENT, "path is NULL");
    CHECK_FAILS(dm_decrypt_to_memory(p, NULL, &m, &n), DM_ERR_INVALID_ARGUMENT, "the key is NULL");
    CHECK_FAILS(dm_decrypt_to_memory(p, key1, NULL, &n), DM_ERR_INVALID_ARGUMENT, "out or len is NULL");
    CHECK_FAILS(dm_decrypt_to_memory(p, key1, &m, NULL), DM_ERR_INVALID_ARGUMENT, "out or len is NULL");
    /* Missing inputs, folders, an output folder that does not exist. */
    CHECK_FAILS(dm_encrypt_file(tmp_path("nope"), tmp_path("o"), key1), DM_ERR_IO, "nope");
    CHECK_FAILS(dm_encrypt_file(tmpdir, tmp_path("o"), key1), DM_ERR_IO, "is a folder");
    CHECK_FAILS(dm_decrypt_file(tmp_path("nope"), tmp_path("o"), key1), DM_ERR_IO, "nope");
    CHECK_FAILS(dm_decrypt_to_memory(tmp_path("nope"), key1, &m, &n), DM_ERR_IO, "dm_decrypt_to_memory");
    CHECK_FAILS(dm_encrypt_file(p, tmp_path("no/such/dir/o"), key1), DM_ERR_IO, "dm_encrypt_file");
    CHECK(dm_encrypt_file(p, tmp_path("arg.enc"), key1) == DM_OK);
    CHECK_FAILS(dm_decrypt_file(tmp_path("arg.enc"), tmp_path("no/such/dir/o"), key1), DM_ERR_IO, "dm_decrypt_file");
    /* dm_is_encrypted_file. */
    CHECK(dm_is_encrypted_file(NULL) == -1 && strstr(dm_last_error(), "NULL"));
    CHECK(dm_is_encrypted_file(tmp_path("nope")) == -1 && strstr(dm_last_error(), "No such file"));
    CHECK(dm_is_encrypted_file(tmpdir) == -1 && strstr(dm_last_error(), "is a folder"));
    CHECK(dm_is_encrypted_file(write_tmp("empty", "", 0)) == 0);
    CHECK(dm_is_encrypted_file(write_tmp("short", "DMENC", 5)) == 0);
    CHECK(dm_is_encrypted_file(write_tmp("magic", "DMENC1", 6)) == 1);
}

static void test_key_files(void)
{
    uint8_t k[32];
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", key1[i]);
    memset(k, 0, sizeof k);
    CHECK(dm_read_key_file(write_tmp("k.hex", hex, 64), k) == DM_OK && memcmp(k, key1, 32) == 0);
    char line[67];
    snprintf(line, sizeof line, "%s\n", hex);
    memset(k, 0, sizeof k);
    CHECK(dm_read_key_file(write_tmp("k2.hex", line, 65), k) == DM_OK && memcmp(k, key1, 32) == 0);
    memset(k, 7, sizeof k);
    CHECK_FAILS(dm_read_key_file(write_tmp("short.hex", hex, 62), k), DM_ERR_PARSE,
                "dm_read_key_file: ");
    CHECK_FAILS(dm_read_key_file(tmp_path("short.hex"), k), DM_ERR_PARSE, "62 hex characters, not 64");
    CHECK(k[0] == 7 && k[31] == 7); /* untouched on failure */
    CHECK_FAILS(dm_read_key_file(write_tmp("e.hex", "", 0), k), DM_ERR_PARSE, "the file is empty");
    CHECK_FAILS(dm_read_key_file(write_tmp("b64.hex", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 44), k),
                DM_ERR_PARSE, "base64");
    CHECK_FAILS(dm_read_key_file(tmp_path("nope.hex"), k), DM_ERR_IO, "dm_read_key_file: ");
    CHECK_FAILS(dm_read_key_file(NULL, k), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dm_read_key_file(tmp_path("k.hex"), NULL), DM_ERR_INVALID_ARGUMENT, "NULL");
    /* The PII loader still names itself. */
    dm_pii *pii = NULL;
    CHECK(dm_pii_create(NULL, &pii) == DM_OK);
    CHECK_FAILS(dm_pii_load_key_file(pii, tmp_path("short.hex")), DM_ERR_PARSE, "dm_pii_load_key_file: ");
    CHECK(dm_pii_load_key_file(pii, tmp_path("k.hex")) == DM_OK);
    dm_pii_free(pii);
}

static void check_rows(dm_dataset *ds, const char *first, const char *label)
{
    CHECK(ds && dm_dataset_size(ds) == 2);
    if (!ds) return;
    size_t len = 0;
    const char *t = dm_dataset_text(ds, 0, &len);
    CHECK(t && len == strlen(first) && memcmp(t, first, len) == 0);
    CHECK(dm_dataset_num_labels(ds) == 2);
    int32_t id = dm_dataset_label(ds, 0);
    const char *name = id >= 0 ? dm_dataset_label_name(ds, id) : NULL;
    CHECK(name && strcmp(name, label) == 0);
}

static void test_datasets(void)
{
    const char csv[] = "text,label\n\"hello, world\",pos\nbad day,neg\n";
    const char jsonl[] = "{\"text\": \"hello there\", \"label\": 1}\n{\"text\": \"no\", \"label\": 0}\n";
    const char *csv_plain = write_tmp("d.csv", csv, sizeof csv - 1);
    const char *jsonl_plain = write_tmp("d.jsonl", jsonl, sizeof jsonl - 1);
    char csv_enc[512], jsonl_enc[512], inplace[512];
    snprintf(csv_enc, sizeof csv_enc, "%s", tmp_path("d.csv.enc"));
    snprintf(jsonl_enc, sizeof jsonl_enc, "%s", tmp_path("d.JSONL.ENC"));
    CHECK(dm_encrypt_file(csv_plain, csv_enc, key1) == DM_OK);
    CHECK(dm_encrypt_file(jsonl_plain, jsonl_enc, key1) == DM_OK);
    snprintf(inplace, sizeof inplace, "%s", write_tmp("inplace.csv", csv, sizeof csv - 1));
    CHECK(dm_encrypt_file(inplace, inplace, key1) == DM_OK);

    dm_dataset_options o;
    dm_dataset_options_default(&o);
    CHECK(o.key == NULL);
    o.key = key1;
    dm_dataset *ds = NULL;
    CHECK(dm_dataset_load(csv_enc, &o, &ds) == DM_OK);
    check_rows(ds, "hello, world", "pos");
    dm_dataset_free(ds), ds = NULL;
    CHECK(dm_dataset_load(jsonl_enc, &o, &ds) == DM_OK);
    check_rows(ds, "hello there", "1");
    dm_dataset_free(ds), ds = NULL;
    CHECK(dm_dataset_load(inplace, &o, &ds) == DM_OK); /* d.csv, encrypted under its own name */
    check_rows(ds, "hello, world", "pos");
    dm_dataset_free(ds), ds = NULL;
    /* An explicit format wins over the name. */
    const char *odd = tmp_path("data.bin");
    CHECK(dm_encrypt_file(jsonl_plain, odd, key1) == DM_OK);
    o.format = DM_FORMAT_JSONL;
    CHECK(dm_dataset_load(odd, &o, &ds) == DM_OK);
    check_rows(ds, "hello there", "1");
    dm_dataset_free(ds), ds = NULL;
    o.format = DM_FORMAT_AUTO;

    /* Without a key: a clear error, whatever the name. */
    dm_dataset_options plain_o;
    dm_dataset_options_default(&plain_o);
    CHECK_FAILS(dm_dataset_load(csv_enc, &plain_o, &ds), DM_ERR_INVALID_ARGUMENT,
                "the file is encrypted (it starts with \"DMENC1\"): it needs its key (dm_dataset_options.key");
    CHECK_FAILS(dm_dataset_load(jsonl_enc, NULL, &ds), DM_ERR_INVALID_ARGUMENT, "d.JSONL.ENC: the file is encrypted");
    CHECK_FAILS(dm_dataset_load(inplace, NULL, &ds), DM_ERR_INVALID_ARGUMENT, "inplace.csv: the file is encrypted");
    CHECK_FAILS(dm_dataset_load(odd, NULL, &ds), DM_ERR_INVALID_ARGUMENT, "data.bin: the file is encrypted");
    CHECK(ds == NULL);
    /* With a key: a wrong key, a plain file, a tampered file. */
    o.key = key2;
    CHECK_FAILS(dm_dataset_load(csv_enc, &o, &ds), DM_ERR_AUTH, "dm_dataset_load: ");
    CHECK_FAILS(dm_dataset_load(csv_enc, &o, &ds), DM_ERR_AUTH, "the key is wrong");
    o.key = key1;
    CHECK_FAILS(dm_dataset_load(csv_plain, &o, &ds), DM_ERR_AUTH, "d.csv: not a dm-encrypted file");
    size_t n = 0;
    uint8_t *e = read_all(csv_enc, &n);
    if (e) {
        e[n - 3] ^= 4;
        const char *bad = write_tmp("bad.csv.enc", e, n);
        CHECK_FAILS(dm_dataset_load(bad, &o, &ds), DM_ERR_AUTH, "bad.csv.enc: chunk 1");
        CHECK_FAILS(dm_dataset_load(write_tmp("cut.csv.enc", e, n - 20), &o, &ds), DM_ERR_AUTH, "cut.csv.enc");
        free(e);
    }
    CHECK(ds == NULL);
    /* The format rule: ".enc" alone gives no format; parse errors still name the file. */
    const char *noext = tmp_path("data.enc");
    CHECK(dm_encrypt_file(csv_plain, noext, key1) == DM_OK);
    CHECK_FAILS(dm_dataset_load(noext, &o, &ds), DM_ERR_INVALID_ARGUMENT, "cannot tell the format from the name");
    const char broken[] = "text,label\n\"open,1\n";
    const char *bp = write_tmp("broken.csv", broken, sizeof broken - 1);
    CHECK(dm_encrypt_file(bp, tmp_path("broken.csv.enc"), key1) == DM_OK);
    CHECK_FAILS(dm_dataset_load(tmp_path("broken.csv.enc"), &o, &ds), DM_ERR_PARSE, "broken.csv.enc");
    /* An older caller's struct without the key field still loads plain files. */
    dm_dataset_options old;
    dm_dataset_options_default(&old);
    old.struct_size = offsetof(dm_dataset_options, key);
    CHECK(dm_dataset_load(csv_plain, &old, &ds) == DM_OK);
    dm_dataset_free(ds), ds = NULL;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    for (int i = 0; i < 32; i++) key2[i] = (uint8_t)(0xA0 + i);
    test_round_trips();
    test_tampering();
    test_bad_arguments();
    test_key_files();
    test_datasets();
    int rc = check_summary();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
