/*
 * dm_crypt.c — data at rest: encrypted dataset and model files.
 *
 *   dm encrypt --key FILE IN OUT          IN encrypted into OUT (dm_encrypt_file)
 *   dm encrypt --check FILE...            whether each FILE is dm-encrypted (dm_is_encrypted_file)
 *   dm decrypt --key FILE IN OUT          IN decrypted into OUT (dm_decrypt_file; OUT "-":
 *                                         standard output, through dm_decrypt_to_memory)
 *   dm keygen FILE                        a new random key file, mode 0600
 *
 * Key files are read with dm_read_key_file (the format of dm redact
 * --key-file). key_option, the --key FILE option of the commands that load
 * datasets (train, eval, the data commands), and model_key_option, the
 * --model-key FILE of the commands that load a model folder (its encrypted
 * model.safetensors.enc), are here too (commands.h).
 */
#include "commands.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ help */

const char help_encrypt[] =
    "usage: dm encrypt --key FILE IN OUT\n"
    "       dm encrypt --check FILE...\n"
    "\n"
    "Encrypts the file IN (a dataset, a model's model.safetensors, any file) into OUT with the\n"
    "32-byte key in the key file FILE (64 hex characters, as dm keygen or `openssl rand -hex 32`\n"
    "write it): XChaCha20-Poly1305 in libsodium's secretstream, 64 KiB chunks, each authenticated\n"
    "(the format: docs/privacy.md, \"Encrypted files\"). OUT may be IN; it is written to a hidden\n"
    "file beside it and renamed into place when complete. Name encrypted datasets DATA.csv.enc,\n"
    "DATA.jsonl.enc, ...: train, eval and the data commands read them with --key FILE and take\n"
    "the format from the extension before .enc, decrypting in memory only. Encrypt a model's\n"
    "weights as DIR/model.safetensors.enc (then remove DIR/model.safetensors): the commands that\n"
    "take --model DIR read it with --model-key FILE.\n"
    "\n"
    "  --key FILE                the key file (required)\n"
    "  --check                   instead: print \"FILE: encrypted\" or \"FILE: not encrypted\" for\n"
    "                            each FILE (from its header; nothing is authenticated); exit 0\n"
    "                            when all are encrypted, 1 otherwise\n"
    "\n"
    "An IN that is already encrypted is refused (exit 1). Errors: exit 1 with the library's\n"
    "message, 2 for usage errors.\n";

const char help_decrypt[] =
    "usage: dm decrypt --key FILE IN OUT\n"
    "\n"
    "Decrypts IN, written by dm encrypt, into OUT (created with mode 0600), or onto standard\n"
    "output when OUT is \"-\". Every chunk is authenticated: a wrong key, a changed byte, a file\n"
    "cut short (even at a chunk boundary) or with bytes appended, and a file that is not\n"
    "encrypted are refused (exit 1) with the library's message naming the file and where, and\n"
    "nothing is written (OUT is not created; nothing reaches standard output).\n"
    "\n"
    "  --key FILE                the key file (required)\n";

const char help_keygen[] =
    "usage: dm keygen FILE\n"
    "\n"
    "Writes a new random 32-byte key (from the operating system's random source) to FILE as 64\n"
    "hex characters and a newline, with mode 0600: the key file of dm encrypt, dm decrypt, --key\n"
    "and dm redact --key-file. An existing FILE is never overwritten (exit 1). Keep the key\n"
    "apart from the data it encrypts: without it the data cannot be read back.\n";

/* ------------------------------------------------------------------ --key */

/* The key of --key: one per run of the tool. */
static uint8_t cli_key[32];

int read_key_option(const char *path, const uint8_t **key)
{
    if (dm_read_key_file(path, cli_key)) return fail_lib(path);
    *key = cli_key;
    return 0;
}

int key_option(args_t *a, const char *arg, dm_dataset_options *o)
{
    if (!is_opt(arg, NULL, "--key")) return OPT_NOT_MINE;
    const char *v;
    NEED_VALUE_P(v, arg);
    return read_key_option(v, &o->key);
}

/* The key of --model-key, apart from --key's. */
static uint8_t cli_model_key[32];

int model_key_option(args_t *a, const char *arg, dm_model_options *o)
{
    if (!is_opt(arg, NULL, "--model-key")) return OPT_NOT_MINE;
    const char *v;
    NEED_VALUE_P(v, arg);
    if (dm_read_key_file(v, cli_model_key)) return fail_lib(v);
    o->key = cli_model_key;
    return 0;
}

/* ------------------------------------------------------------------ encrypt, decrypt */

typedef struct {
    const char *key_path, *in, *out;
    bool check;
    char **files;
    int n_files;
} crypt_args;

static int crypt_options(int argc, char **argv, const char *cmd, const char *help, bool encrypt, crypt_args *c)
{
    args_t a = {argc, 0, argv};
    const char *pos[2];
    int n_pos = 0;
    c->files = argv + argc, c->n_files = 0;
    for (a.i = 1; a.i < argc; a.i++) {
        const char *arg = argv[a.i];
        if (is_opt(arg, "-h", "--help")) {
            fputs(help, stdout);
            return HELP_SHOWN;
        }
        if (is_opt(arg, NULL, "--key")) {
            NEED_VALUE(c->key_path, arg);
        } else if (encrypt && is_opt(arg, NULL, "--check")) {
            c->check = true;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error("%s: unknown option '%s'", cmd, arg);
        } else if (c->check) {
            if (!c->n_files) c->files = argv + a.i;
            if (c->files + c->n_files != argv + a.i)
                return usage_error("%s --check: the files must come together after --check", cmd);
            c->n_files++;
        } else {
            if (n_pos == 2) return usage_error("%s: unexpected argument '%s' (one IN and one OUT)", cmd, arg);
            pos[n_pos++] = arg;
        }
    }
    if (c->check) {
        if (c->key_path || n_pos) return usage_error("%s --check takes only file names", cmd);
        if (!c->n_files) return usage_error("%s --check needs at least one FILE", cmd);
        return 0;
    }
    if (!c->key_path) return usage_error("%s needs --key FILE", cmd);
    if (n_pos < 2) return usage_error("%s needs IN and OUT", cmd);
    c->in = pos[0], c->out = pos[1];
    return 0;
}

static int check_files(const crypt_args *c)
{
    int rc = 0;
    for (int i = 0; i < c->n_files; i++) {
        int e = dm_is_encrypted_file(c->files[i]);
        if (e < 0) {
            fail_lib(c->files[i]);
            rc = 1;
            continue;
        }
        printf("%s: %s\n", c->files[i], e ? "encrypted" : "not encrypted");
        if (!e) rc = 1;
    }
    return rc;
}

int cmd_encrypt(int argc, char **argv)
{
    crypt_args c = {0};
    int rc = crypt_options(argc, argv, "encrypt", help_encrypt, true, &c);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    if (c.check) return check_files(&c);
    const uint8_t *key;
    if ((rc = read_key_option(c.key_path, &key))) return rc;
    if (dm_is_encrypted_file(c.in) == 1) {
        fprintf(stderr, "dm: %s: already encrypted (it starts with \"DMENC1\"); decrypt it first with dm decrypt\n",
                c.in);
        return 1;
    }
    if (dm_encrypt_file(c.in, c.out, key)) return fail_lib(c.in);
    return 0;
}

int cmd_decrypt(int argc, char **argv)
{
    crypt_args c = {0};
    int rc = crypt_options(argc, argv, "decrypt", help_decrypt, false, &c);
    if (rc) return rc == HELP_SHOWN ? 0 : rc;
    const uint8_t *key;
    if ((rc = read_key_option(c.key_path, &key))) return rc;
    if (strcmp(c.out, "-") != 0) return dm_decrypt_file(c.in, c.out, key) ? fail_lib(c.in) : 0;
    uint8_t *plain = NULL;
    size_t len = 0;
    if (dm_decrypt_to_memory(c.in, key, &plain, &len)) return fail_lib(c.in);
    size_t put = fwrite(plain, 1, len, stdout);
    dm_free(plain);
    if (put != len || fflush(stdout) != 0) {
        fprintf(stderr, "dm: standard output: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ keygen */

int cmd_keygen(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_opt(argv[i], "-h", "--help")) {
            fputs(help_keygen, stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) return usage_error("keygen: unknown option '%s'", argv[i]);
        if (path) return usage_error("keygen: unexpected argument '%s' (one FILE)", argv[i]);
        path = argv[i];
    }
    if (!path) return usage_error("keygen needs FILE");
    if (access(path, F_OK) == 0 || errno != ENOENT) {
        fprintf(stderr, "dm: %s: %s; dm keygen never overwrites a file\n", path,
                access(path, F_OK) == 0 ? "already exists" : strerror(errno));
        return 1;
    }
    uint8_t key[32];
    for (size_t got = 0; got < sizeof key;) {
        ssize_t n = getrandom(key + got, sizeof key - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fprintf(stderr, "dm: keygen: no random bytes from the system: %s\n", strerror(errno));
            return 1;
        }
        got += (size_t)n;
    }
    char line[66];
    for (int i = 0; i < 32; i++) snprintf(line + 2 * i, 3, "%02x", key[i]);
    line[64] = '\n';
    memset(key, 0, sizeof key);
    /* A hidden sibling, flushed, then linked to PATH: link() never replaces
     * an existing file, so a FILE made meanwhile is not overwritten either. */
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    if (snprintf(tmp, sizeof tmp, "%.*s.%s.dm-keygen-%ld", dir_len, path, slash ? slash + 1 : path,
                 (long)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "dm: %s: the name is too long\n", path);
        return 1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "dm: %s: cannot create a file beside it: %s\n", path, strerror(errno));
        return 1;
    }
    int rc = 0;
    if (fchmod(fd, 0600) != 0 || write(fd, line, 65) != 65 || fsync(fd) != 0) rc = errno ? errno : EIO;
    if (close(fd) != 0 && !rc) rc = errno;
    memset(line, 0, sizeof line);
    if (!rc && link(tmp, path) != 0) rc = errno;
    unlink(tmp);
    if (rc) {
        fprintf(stderr, "dm: %s: %s%s\n", path, strerror(rc),
                rc == EEXIST ? "; dm keygen never overwrites a file" : "");
        return 1;
    }
    if (dir_len) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", dir_len, path);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    } else {
        int dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    fprintf(stderr, "dm: wrote a new key to %s (mode 0600)\n", path);
    return 0;
}
