/*
 * test_model_encrypted.c — model folders whose weights are encrypted at rest
 * (issue 14, item 6; dm_model_options.key): model.safetensors.enc (or an
 * encrypted model.safetensors) decrypted in memory gives the plain folder's
 * logits bit for bit; no key, a wrong key, a key for plain weights, a cut
 * file, both files, and checkpoints (read plain only) fail by name.
 */
#include "datamodel.h"
#include "../unit/check.h"
#include "model/model_internal.h"
#include "model/safetensors.h"

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_dir[] = "/tmp/dm_test_model_enc_XXXXXX";
static char tiny[2048];
static const char *const texts[4] = {"the boat was boring", "we enjoyed the garden", "salty bread on the roof",
                                     "my sister is wonderful"};
static const size_t lens[4] = {19, 21, 23, 22};
static uint8_t key[32], wrong_key[32];

static const char *tmp_path(const char *name)
{
    static char paths[8][4096];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4096, "%s/%s", tmp_dir, name);
    return p;
}

static const char *in_dir(const char *dir, const char *name)
{
    static char paths[8][4200];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4200, "%s/%s", dir, name);
    return p;
}

static bool sh(const char *fmt, const char *a, const char *b)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    return system(cmd) == 0;
}

/* A copy of the tiny fixture at tmp/NAME. */
static const char *copy_tiny(const char *name)
{
    const char *dir = tmp_path(name);
    if (!sh("cp -r '%s' '%s'", tiny, dir)) fprintf(stderr, "could not copy the fixture to %s\n", dir);
    return dir;
}

static dm_status load(const char *dir, const uint8_t *k, dm_model **m)
{
    dm_model_options o;
    dm_model_options_default(&o);
    o.device = DM_DEVICE_CPU;
    o.threads = 1;
    o.key = k;
    *m = NULL;
    return dm_model_load(dir, &o, m);
}

/* The logits of TEXTS (4 x 3) under the model of DIR; false on failure. */
static bool logits_of(const char *dir, const uint8_t *k, float out[12])
{
    dm_model *m;
    if (load(dir, k, &m)) {
        fprintf(stderr, "load %s: %s\n", dir, dm_last_error());
        return false;
    }
    dm_status s = dm_model_predict(m, 4, texts, lens, NULL, NULL, NULL, out, NULL, NULL);
    if (s) fprintf(stderr, "predict %s: %s\n", dir, dm_last_error());
    dm_model_free(m);
    return s == DM_OK;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

static void test_encrypted_weights(void)
{
    float plain[12], got[12];
    CHECK(logits_of(tiny, NULL, plain));

    /* model.safetensors.enc beside the plain config and tokenizer files. */
    const char *enc = copy_tiny("enc");
    CHECK(dm_encrypt_file(in_dir(enc, "model.safetensors"), in_dir(enc, "model.safetensors.enc"), key) == DM_OK);
    CHECK(remove(in_dir(enc, "model.safetensors")) == 0);
    int entries = count_entries(enc);
    memset(got, 0, sizeof got);
    CHECK(logits_of(enc, key, got));
    CHECK(memcmp(plain, got, sizeof plain) == 0); /* bit for bit */
    CHECK(count_entries(enc) == entries);         /* nothing decrypted onto the disk */

    dm_model *m;
    CHECK_FAILS(load(enc, NULL, &m), DM_ERR_INVALID_ARGUMENT, "model.safetensors.enc is encrypted (dm encrypt): it "
                                                              "needs its key");
    CHECK(m == NULL);
    CHECK_FAILS(load(enc, wrong_key, &m), DM_ERR_AUTH, "model.safetensors.enc");
    CHECK(m == NULL);

    /* A caller built before the key field (a smaller struct_size): the
     * weights are taken as plain, so an encrypted folder needs its key. */
    dm_model_options old;
    dm_model_options_default(&old);
    old.struct_size = offsetof(dm_model_options, key);
    old.device = DM_DEVICE_CPU;
    CHECK_FAILS(dm_model_load(enc, &old, &m), DM_ERR_INVALID_ARGUMENT, "needs its key");
    CHECK(dm_model_load(tiny, &old, &m) == DM_OK);
    dm_model_free(m);

    /* Plain weights given a key: a key promises an authenticated file. */
    CHECK_FAILS(load(tiny, key, &m), DM_ERR_AUTH, "not encrypted");
    CHECK(m == NULL);

    /* Cut short (at a chunk boundary and inside a chunk), or one byte changed. */
    const char *cut = copy_tiny("cut");
    CHECK(remove(in_dir(cut, "model.safetensors")) == 0);
    CHECK(sh("head -c 65585 '%s/model.safetensors.enc' > '%s/model.safetensors.enc'", enc, cut)); /* 32 + 1 chunk */
    CHECK_FAILS(load(cut, key, &m), DM_ERR_AUTH, "model.safetensors.enc");
    CHECK(sh("head -c 70000 '%s/model.safetensors.enc' > '%s/model.safetensors.enc'", enc, cut));
    CHECK_FAILS(load(cut, key, &m), DM_ERR_AUTH, "model.safetensors.enc");
    CHECK(sh("head -c 20 '%s/model.safetensors.enc' > '%s/model.safetensors.enc'", enc, cut));
    CHECK_FAILS(load(cut, key, &m), DM_ERR_AUTH, "model.safetensors.enc");
    CHECK(sh("cp '%s/model.safetensors.enc' '%s/model.safetensors.enc'", enc, cut));
    FILE *f = fopen(in_dir(cut, "model.safetensors.enc"), "r+b");
    CHECK(f && fseek(f, 100000, SEEK_SET) == 0);
    int c = f ? fgetc(f) : EOF;
    CHECK(c != EOF && fseek(f, 100000, SEEK_SET) == 0 && fputc(c ^ 1, f) != EOF);
    if (f) fclose(f);
    CHECK_FAILS(load(cut, key, &m), DM_ERR_AUTH, "chunk 2");
    CHECK(m == NULL);

    /* Both files: which one is meant is unclear. */
    const char *both = copy_tiny("both");
    CHECK(dm_encrypt_file(in_dir(both, "model.safetensors"), in_dir(both, "model.safetensors.enc"), key) == DM_OK);
    CHECK_FAILS(load(both, key, &m), DM_ERR_INVALID_ARGUMENT, "both model.safetensors and model.safetensors.enc");
    CHECK_FAILS(load(both, NULL, &m), DM_ERR_INVALID_ARGUMENT, "both model.safetensors and model.safetensors.enc");

    /* No weights at all: still named as missing. */
    const char *none = copy_tiny("none");
    CHECK(remove(in_dir(none, "model.safetensors")) == 0);
    CHECK_FAILS(load(none, key, &m), DM_ERR_NOT_FOUND, "no model.safetensors");

    /* model.safetensors encrypted in place (dm encrypt IN IN). */
    const char *inplace = copy_tiny("inplace");
    CHECK(dm_encrypt_file(in_dir(inplace, "model.safetensors"), in_dir(inplace, "model.safetensors"), key) == DM_OK);
    CHECK(dm_is_encrypted_file(in_dir(inplace, "model.safetensors")) == 1);
    memset(got, 0, sizeof got);
    CHECK(logits_of(inplace, key, got));
    CHECK(memcmp(plain, got, sizeof plain) == 0);
    CHECK_FAILS(load(inplace, NULL, &m), DM_ERR_INVALID_ARGUMENT, "model.safetensors is encrypted");
    CHECK_FAILS(load(inplace, wrong_key, &m), DM_ERR_AUTH, "model.safetensors");

    /* Checkpoints are read plain only: an encrypted one is refused by name
     * (dmi_model_load_params, what resuming reads), as is any other
     * safetensors file opened plain (the optimizer state). */
    CHECK(load(enc, key, &m) == DM_OK);
    if (m) {
        CHECK_FAILS(dmi_model_load_params(m, in_dir(inplace, "model.safetensors")), DM_ERR_UNSUPPORTED,
                    "checkpoints are read plain only");
        CHECK_FAILS(dmi_model_load_params(m, in_dir(enc, "model.safetensors")), DM_ERR_UNSUPPORTED,
                    "model.safetensors.enc: the weights are encrypted");
        CHECK(dmi_model_load_params(m, in_dir(tiny, "model.safetensors")) == DM_OK);
        dmi_safetensors *st = NULL;
        CHECK_FAILS(dmi_st_open(in_dir(inplace, "model.safetensors"), &st), DM_ERR_UNSUPPORTED,
                    "the file is encrypted");
        CHECK(st == NULL);

        /* Saving writes plain weights and drops the stale encrypted ones. */
        CHECK(dm_model_save(m, enc) == DM_OK);
        dm_model_free(m);
        CHECK(access(in_dir(enc, "model.safetensors.enc"), F_OK) != 0);
        CHECK(dm_is_encrypted_file(in_dir(enc, "model.safetensors")) == 0);
        memset(got, 0, sizeof got);
        CHECK(logits_of(enc, NULL, got));
        CHECK(memcmp(plain, got, sizeof plain) == 0);
    }
}

int main(void)
{
    const char *fixture_dir = getenv("DM_FIXTURE_DIR");
    if (!fixture_dir || !mkdtemp(tmp_dir)) {
        fprintf(stderr, "DM_FIXTURE_DIR is not set (meson sets it) or no temporary folder\n");
        return 1;
    }
    snprintf(tiny, sizeof tiny, "%s/tiny", fixture_dir);
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1), wrong_key[i] = key[i];
    wrong_key[31] ^= 1;
    test_encrypted_weights();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return check_summary();
}
