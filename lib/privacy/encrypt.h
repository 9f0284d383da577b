/*
 * encrypt.h — data at rest: the dm encrypted file format (encrypt.c) and the
 * key file parser shared with the PII key (pii_ops.c), for the library's own
 * readers (dm_dataset_load with dm_dataset_options.key).
 *
 * The format, version 1 (docs/privacy.md, "Encrypted files"):
 *
 *   offset 0   8 bytes   "DMENC1" then two zero bytes (magic, version, reserved)
 *   offset 8   24 bytes  the crypto_secretstream_xchacha20poly1305 header
 *   offset 32  chunks    each the secretstream encryption of 64 KiB of
 *                        plaintext (the last one 0 .. 64 KiB) plus 17 bytes
 *                        (tag byte and MAC), with the 8-byte magic as
 *                        associated data. Every chunk but the last is tagged
 *                        TAG_MESSAGE; the last one, and only it, TAG_FINAL.
 *
 * An empty plaintext is one chunk of 0 bytes (17 bytes of ciphertext). A
 * reader knows each chunk's length from its position (64 KiB + 17 bytes,
 * or what is left for the last one), refuses a file whose last chunk is not
 * TAG_FINAL (truncated), whose TAG_FINAL chunk is not at the end (something
 * appended) and any chunk that does not authenticate (tampered, wrong key):
 * all DM_ERR_AUTH, as is a wrong magic. Nothing of the plaintext is handed
 * out before the whole file authenticated.
 */
#ifndef DM_PRIVACY_ENCRYPT_H
#define DM_PRIVACY_ENCRYPT_H

#include "../core/core.h"

#define DMI_ENC_MAGIC "DMENC1"
#define DMI_ENC_MAGIC_LEN 6
#define DMI_ENC_PREFIX_LEN 8         /* the magic and two reserved zero bytes */
#define DMI_ENC_CHUNK (64 * 1024)    /* plaintext bytes per chunk */

/* Reads a key file (64 hex characters, optionally a newline) into KEY; FN
 * names the public call in messages. DM_ERR_IO, DM_ERR_PARSE (never echoing
 * the key). */
dm_status dmi_read_key_file(const char *fn, const char *path, uint8_t key[32]);

/* Whether the LEN bytes at DATA start with the magic "DMENC1". */
bool dmi_is_encrypted_data(const char *data, size_t len);

/* Whether the file PATH starts with the magic; false when it cannot be read.
 * Sets no error message (for callers that report another error). */
bool dmi_is_encrypted_path(const char *path);

/* Decrypts the dm encrypted file held in DATA (LEN bytes; NAME for messages,
 * FN the public call) into *OUT (NUL-terminated, *OUT_LEN bytes; release
 * with dmi_free_plaintext, which wipes it). DM_ERR_AUTH as above. */
dm_status dmi_decrypt_data(const char *fn, const char *name, const char *data, size_t len, const uint8_t key[32],
                           uint8_t **out, size_t *out_len);

/* Wipes and frees a plaintext buffer of LEN bytes (and its NUL). */
void dmi_free_plaintext(uint8_t *p, size_t len);

#endif
