/*
 * encrypt.c — data at rest: dataset and model files encrypted with
 * libsodium's crypto_secretstream_xchacha20poly1305 in the dm encrypted file
 * format (encrypt.h describes it; docs/privacy.md for users), and the
 * 32-byte key read from a key file as dm redact reads it. Nothing here is
 * hand-written crypto: every step is libsodium's.
 *
 * Outputs are written to a hidden sibling, flushed and renamed into place
 * (lib/core/staging.h), so a failed or refused decryption never leaves a
 * file under the output's name; a decrypted file is created with mode 0600.
 */
#include "encrypt.h"
#include "../core/staging.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER_BYTES crypto_secretstream_xchacha20poly1305_HEADERBYTES /* 24 */
#define A_BYTES crypto_secretstream_xchacha20poly1305_ABYTES          /* 17 */
#define DATA_START (DMI_ENC_PREFIX_LEN + HEADER_BYTES)                /* 32 */
#define CIPHER_CHUNK (DMI_ENC_CHUNK + A_BYTES)

static const unsigned char prefix[DMI_ENC_PREFIX_LEN] = {'D', 'M', 'E', 'N', 'C', '1', 0, 0};

static dm_status init_sodium(const char *fn)
{
    if (sodium_init() < 0) return dmi_fail(DM_ERR_INTERNAL, "%s: libsodium failed to initialise", fn);
    return DM_OK;
}

bool dmi_is_encrypted_data(const char *data, size_t len)
{
    return data && len >= DMI_ENC_MAGIC_LEN && memcmp(data, DMI_ENC_MAGIC, DMI_ENC_MAGIC_LEN) == 0;
}

bool dmi_is_encrypted_path(const char *path)
{
    if (!path || dmi_is_dir(path)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char head[DMI_ENC_MAGIC_LEN];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return dmi_is_encrypted_data(head, n);
}

void dmi_free_plaintext(uint8_t *p, size_t len)
{
    if (!p) return;
    sodium_memzero(p, len + 1);
    free(p);
}

/* --------------------------------------------------------------- writing */

static dm_status write_all(int fd, const void *buf, size_t n, const char *fn, const char *path)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return dmi_fail(DM_ERR_IO, "%s: %s: write failed: %s", fn, path, strerror(errno));
        }
        p += w, n -= (size_t)w;
    }
    return DM_OK;
}

/* An output being written: a hidden sibling of PATH, put in place by
 * out_commit or removed by out_abort. */
typedef struct {
    char tmp[4096];
    const char *path;
    int fd;
} out_file;

static dm_status out_open(out_file *o, const char *fn, const char *path, mode_t mode)
{
    o->path = path, o->fd = -1;
    dm_status st = dmi_tmp_sibling(path, o->tmp, sizeof o->tmp);
    if (st) return dmi_fail_prefix(st, "%s", fn);
    dmi_tidy_around(path);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (o->fd < 0) return dmi_fail(DM_ERR_IO, "%s: %s: cannot create a file beside it: %s", fn, path, strerror(errno));
    return DM_OK;
}

static void out_abort(out_file *o)
{
    if (o->fd >= 0) close(o->fd);
    o->fd = -1;
    unlink(o->tmp);
}

static dm_status out_commit(out_file *o, const char *fn)
{
    if (fsync(o->fd) != 0 || close(o->fd) != 0) {
        int e = errno;
        o->fd = -1;
        unlink(o->tmp);
        return dmi_fail(DM_ERR_IO, "%s: %s: cannot flush: %s", fn, o->path, strerror(e));
    }
    o->fd = -1;
    dm_status st = dmi_commit_file(o->tmp, o->path);
    return st ? dmi_fail_prefix(st, "%s", fn) : DM_OK;
}

/* -------------------------------------------------------------- decrypting */

/* Where decrypted chunks go: a file descriptor, or a buffer large enough for
 * the whole plaintext. */
typedef struct {
    int fd;             /* -1: the buffer */
    const char *path;   /* the output, for messages */
    uint8_t *buf;
    size_t len;
} sink;

static dm_status check_prefix(const char *fn, const char *name, const char *data, size_t len)
{
    if (!dmi_is_encrypted_data(data, len)) {
        if (len >= DMI_ENC_MAGIC_LEN && memcmp(data, "DMENC", 5) == 0)
            return dmi_fail(DM_ERR_AUTH,
                            "%s: %s: an unknown version of the dm encrypted format (the file starts \"DMENC%c\"; "
                            "this library reads \"DMENC1\")",
                            fn, name, data[5] >= 0x21 && data[5] < 0x7F ? data[5] : '?');
        return dmi_fail(DM_ERR_AUTH,
                        "%s: %s: not a dm-encrypted file (expected it to start with the header \"DMENC1\"; "
                        "encrypt files with dm_encrypt_file or `dm encrypt`)",
                        fn, name);
    }
    if (len < DATA_START + A_BYTES)
        return dmi_fail(DM_ERR_AUTH,
                        "%s: %s: truncated: %zu bytes, but an encrypted file has at least %d (header and the "
                        "final chunk)",
                        fn, name, len, DATA_START + A_BYTES);
    if (data[6] || data[7])
        return dmi_fail(DM_ERR_AUTH, "%s: %s: the header is damaged (bytes 7-8 must be zero)", fn, name);
    return DM_OK;
}

static dm_status decrypt_stream(const char *fn, const char *name, const char *data, size_t len,
                                const uint8_t key[32], sink *out)
{
    dm_status st = init_sodium(fn);
    if (!st) st = check_prefix(fn, name, data, len);
    if (st) return st;
    crypto_secretstream_xchacha20poly1305_state state;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&state, (const unsigned char *)data + DMI_ENC_PREFIX_LEN,
                                                        key) != 0)
        return dmi_fail(DM_ERR_AUTH, "%s: %s: the stream header is invalid (damaged or tampered)", fn, name);
    uint8_t *chunk = NULL;
    if (out->fd >= 0 && !(chunk = dmi_malloc(DMI_ENC_CHUNK))) return DM_ERR_NO_MEMORY;
    size_t pos = DATA_START, k = 0;
    for (;;) {
        size_t left = len - pos;
        if (left == 0) {
            st = dmi_fail(DM_ERR_AUTH,
                          "%s: %s: truncated: the file ends after chunk %zu (byte %zu) without the final chunk",
                          fn, name, k, pos);
            break;
        }
        k++;
        if (left < A_BYTES) {
            st = dmi_fail(DM_ERR_AUTH,
                          "%s: %s: truncated: chunk %zu at byte offset %zu has %zu bytes, fewer than the %d every "
                          "chunk has",
                          fn, name, k, pos, left, A_BYTES);
            break;
        }
        size_t clen = left < CIPHER_CHUNK ? left : CIPHER_CHUNK;
        unsigned char tag = 0;
        unsigned long long mlen = 0;
        uint8_t *dst = out->fd >= 0 ? chunk : out->buf + out->len;
        if (crypto_secretstream_xchacha20poly1305_pull(&state, dst, &mlen, &tag, (const unsigned char *)data + pos,
                                                       clen, prefix, sizeof prefix) != 0) {
            st = dmi_fail(DM_ERR_AUTH,
                          "%s: %s: chunk %zu at byte offset %zu does not authenticate: the key is wrong, or the "
                          "file was changed, cut or extended",
                          fn, name, k, pos);
            break;
        }
        if (out->fd >= 0) st = write_all(out->fd, chunk, (size_t)mlen, fn, out->path);
        else out->len += (size_t)mlen;
        if (st) break;
        pos += clen;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            if (pos != len)
                st = dmi_fail(DM_ERR_AUTH, "%s: %s: %zu bytes after the final chunk (byte %zu): data was appended",
                              fn, name, len - pos, pos);
            break;
        }
        if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
            st = dmi_fail(DM_ERR_AUTH, "%s: %s: chunk %zu has an unexpected tag %u", fn, name, k, (unsigned)tag);
            break;
        }
    }
    sodium_memzero(&state, sizeof state);
    if (chunk) {
        sodium_memzero(chunk, DMI_ENC_CHUNK);
        free(chunk);
    }
    return st;
}

dm_status dmi_decrypt_data(const char *fn, const char *name, const char *data, size_t len, const uint8_t key[32],
                           uint8_t **out, size_t *out_len)
{
    /* The plaintext is never longer than the ciphertext after the header. */
    size_t cap = len > DATA_START ? len - DATA_START : 0;
    sink s = {.fd = -1, .path = name};
    if (!(s.buf = dmi_malloc(cap + 1))) return DM_ERR_NO_MEMORY;
    dm_status st = decrypt_stream(fn, name, data, len, key, &s);
    if (st) {
        dmi_free_plaintext(s.buf, cap);
        return st;
    }
    s.buf[s.len] = 0;
    *out = s.buf, *out_len = s.len;
    return DM_OK;
}

/* ------------------------------------------------------------------ public */

DM_API dm_status dm_read_key_file(const char *path, uint8_t key[32])
{
    return dmi_read_key_file("dm_read_key_file", path, key);
}

DM_API int dm_is_encrypted_file(const char *path)
{
    if (!path) {
        dmi_fail(DM_ERR_INVALID_ARGUMENT, "dm_is_encrypted_file: path is NULL");
        return -1;
    }
    if (dmi_is_dir(path)) {
        dmi_fail(DM_ERR_IO, "dm_is_encrypted_file: %s: is a folder, not a file", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        dmi_fail(DM_ERR_IO, "dm_is_encrypted_file: %s: %s", path, strerror(errno));
        return -1;
    }
    char head[DMI_ENC_MAGIC_LEN];
    size_t n = fread(head, 1, sizeof head, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        dmi_fail(DM_ERR_IO, "dm_is_encrypted_file: %s: read failed", path);
        return -1;
    }
    return dmi_is_encrypted_data(head, n) ? 1 : 0;
}

static dm_status check_args(const char *fn, const char *in, const char *out, const uint8_t *key)
{
    if (!in) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the input path is NULL", fn);
    if (!out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the output path is NULL", fn);
    if (!key) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the key is NULL (32 bytes expected)", fn);
    return init_sodium(fn);
}

DM_API dm_status dm_encrypt_file(const char *in_path, const char *out_path, const uint8_t key[32])
{
    const char *fn = "dm_encrypt_file";
    dm_status st = check_args(fn, in_path, out_path, key);
    if (st) return st;
    char *data = NULL;
    size_t len = 0;
    bool mapped = false;
    if ((st = dmi_map_file(in_path, true, &data, &len, &mapped))) return dmi_fail_prefix(st, "%s", fn);
    out_file o;
    st = out_open(&o, fn, out_path, 0644);
    crypto_secretstream_xchacha20poly1305_state state;
    unsigned char header[HEADER_BYTES];
    uint8_t *chunk = NULL;
    if (!st) {
        crypto_secretstream_xchacha20poly1305_init_push(&state, header, key);
        st = write_all(o.fd, prefix, sizeof prefix, fn, out_path);
        if (!st) st = write_all(o.fd, header, sizeof header, fn, out_path);
        if (!st && !(chunk = dmi_malloc(CIPHER_CHUNK))) st = DM_ERR_NO_MEMORY;
    }
    for (size_t pos = 0; !st;) {
        size_t n = len - pos < DMI_ENC_CHUNK ? len - pos : DMI_ENC_CHUNK;
        bool last = pos + n == len;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(
            &state, chunk, &clen, data ? (const unsigned char *)data + pos : prefix, n, prefix, sizeof prefix,
            last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
        st = write_all(o.fd, chunk, (size_t)clen, fn, out_path);
        pos += n;
        if (last) break;
    }
    sodium_memzero(&state, sizeof state);
    free(chunk);
    dmi_unmap_file(data, len, mapped);
    if (o.fd < 0) return st;
    if (st) {
        out_abort(&o);
        return st;
    }
    return out_commit(&o, fn);
}

DM_API dm_status dm_decrypt_file(const char *in_path, const char *out_path, const uint8_t key[32])
{
    const char *fn = "dm_decrypt_file";
    dm_status st = check_args(fn, in_path, out_path, key);
    if (st) return st;
    char *data = NULL;
    size_t len = 0;
    bool mapped = false;
    if ((st = dmi_map_file(in_path, true, &data, &len, &mapped))) return dmi_fail_prefix(st, "%s", fn);
    /* Refuse what is not ours before creating anything beside the output. */
    st = check_prefix(fn, in_path, data, len);
    out_file o = {.fd = -1};
    if (!st) st = out_open(&o, fn, out_path, 0600);
    if (!st) {
        sink s = {.fd = o.fd, .path = out_path};
        st = decrypt_stream(fn, in_path, data, len, key, &s);
    }
    dmi_unmap_file(data, len, mapped);
    if (o.fd < 0) return st;
    if (st) {
        out_abort(&o);
        return st;
    }
    return out_commit(&o, fn);
}

DM_API dm_status dm_decrypt_to_memory(const char *path, const uint8_t key[32], uint8_t **out, size_t *len)
{
    const char *fn = "dm_decrypt_to_memory";
    if (!path) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
    if (!key) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: the key is NULL (32 bytes expected)", fn);
    if (!out || !len) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "%s: out or len is NULL", fn);
    char *data = NULL;
    size_t n = 0;
    bool mapped = false;
    dm_status st = dmi_map_file(path, true, &data, &n, &mapped);
    if (st) return dmi_fail_prefix(st, "%s", fn);
    st = dmi_decrypt_data(fn, path, data, n, key, out, len);
    dmi_unmap_file(data, n, mapped);
    return st;
}
