/*
 * staging.c — atomic files and folders, and tidying what dead writers left
 * (see staging.h for the protocol).
 *
 * Names of what a writer leaves while it works, in the folder it writes to:
 *   .BASE.dm-tmp-PID-SEQ        new content of BASE (a file or a folder)
 *   .BASE.dm-tmp-PID-SEQ.carry  the entries being carried from BASE into it
 *   .BASE.dm-old-PID-SEQ        BASE's old content during a two-rename swap
 *   .dm-stage-PID-SEQ           new content built inside the target folder
 */
#define _GNU_SOURCE /* renameat2 */
#include "staging.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_ulong stage_seq;

/* ------------------------------------------------------------------ paths */

/* PATH without trailing slashes, split into its folder ("." when none) and
 * its last component. */
static dm_status split_path(const char *path, char *parent, size_t pcap, char *base, size_t bcap)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n == 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "empty path");
    size_t slash = n;
    while (slash > 0 && path[slash - 1] != '/') slash--;
    size_t blen = n - slash;
    if (blen + 1 > bcap) return dmi_fail(DM_ERR_RANGE, "%s: name too long", path);
    memcpy(base, path + slash, blen);
    base[blen] = '\0';
    int k = slash == 0 ? snprintf(parent, pcap, ".")
            : slash == 1 ? snprintf(parent, pcap, "/")
                         : snprintf(parent, pcap, "%.*s", (int)(slash - 1), path);
    if (k < 0 || (size_t)k >= pcap) return dmi_fail(DM_ERR_RANGE, "%s: path too long", path);
    return DM_OK;
}

static dm_status sibling(const char *parent, const char *base, const char *kind, char *out, size_t cap)
{
    unsigned long seq = atomic_fetch_add(&stage_seq, 1);
    int n = snprintf(out, cap, "%s/.%s.dm-%s-%ld-%lu", parent, base, kind, (long)getpid(), seq);
    if (n < 0 || (size_t)n >= cap) return dmi_fail(DM_ERR_RANGE, "%s/%s: path too long", parent, base);
    return DM_OK;
}

dm_status dmi_tmp_sibling(const char *path, char *out, size_t cap)
{
    char parent[4096], base[1024];
    dm_status s = split_path(path, parent, sizeof parent, base, sizeof base);
    return s ? s : sibling(parent, base, "tmp", out, cap);
}

void dmi_tidy_around(const char *path)
{
    char parent[4096], base[1024];
    if (!split_path(path, parent, sizeof parent, base, sizeof base)) dmi_tidy_leftovers(parent);
}

dm_status dmi_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return dmi_fail(DM_ERR_IO, "%s: cannot open the folder to flush it: %s", dir, strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    /* Some file systems cannot flush a folder (EINVAL): the rename stands. */
    if (rc != 0 && e != EINVAL && e != EROFS)
        return dmi_fail(DM_ERR_IO, "%s: cannot flush the folder: %s", dir, strerror(e));
    return DM_OK;
}

dm_status dmi_commit_file(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return dmi_fail(DM_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    char parent[4096], base[1024];
    dm_status s = split_path(path, parent, sizeof parent, base, sizeof base);
    return s ? s : dmi_fsync_dir(parent);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? errno : 0;
}

dm_status dmi_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? DM_OK : dmi_fail(DM_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        if (unlink(path) != 0) return dmi_fail(DM_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return DM_OK;
    }
    int e = nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    if (e != 0) return dmi_fail(DM_ERR_IO, "%s: cannot remove: %s", path, strerror(e > 0 ? e : errno));
    return DM_OK;
}

/* ------------------------------------------------------------------ leftovers */

typedef enum { LEFT_NONE, LEFT_TMP, LEFT_OLD, LEFT_STAGE, LEFT_CARRY } left_kind;

typedef struct leftover {
    left_kind kind;
    long pid;
    char base[1024]; /* whose leftover ("" for LEFT_STAGE) */
} leftover;

/* Parses "PID-SEQ" ending at the end of S (or before ".carry"). */
static bool parse_pid_seq(const char *s, long *pid, bool *carry)
{
    char *end;
    errno = 0;
    long p = strtol(s, &end, 10);
    if (end == s || *end != '-' || p <= 0 || errno) return false;
    const char *q = end + 1;
    strtoul(q, &end, 10);
    if (end == q) return false;
    *carry = strcmp(end, ".carry") == 0;
    if (*end && !*carry) return false;
    *pid = p;
    return true;
}

/* "NAME.tmp.PID": the temporary files of versions before 0.2 (no sequence
 * number, not hidden), tidied the same way — only for the names of model
 * folders and checkpoints, since a user's own "notes.tmp.2024" looks alike. */
static bool parse_legacy(const char *name, leftover *lo)
{
    static const char *const ours[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer.json",
                                       "tokenizer_config.json", "special_tokens_map.json",
                                       "optimizer.safetensors", "best.safetensors", "trainer_state.json"};
    bool known = false;
    for (size_t i = 0; i < sizeof ours / sizeof *ours && !known; i++)
        known = strncmp(name, ours[i], strlen(ours[i])) == 0 && strncmp(name + strlen(ours[i]), ".tmp.", 5) == 0;
    if (!known) return false;
    const char *mark = strstr(name, ".tmp.");
    if (!mark || mark == name) return false;
    for (const char *next; (next = strstr(mark + 1, ".tmp."));) mark = next;
    char *end;
    errno = 0;
    long pid = strtol(mark + 5, &end, 10);
    if (end == mark + 5 || *end || pid <= 0 || errno) return false;
    size_t blen = (size_t)(mark - name);
    if (blen >= sizeof lo->base) return false;
    memcpy(lo->base, name, blen);
    lo->base[blen] = '\0';
    lo->pid = pid;
    lo->kind = LEFT_TMP;
    return true;
}

static bool parse_leftover(const char *name, leftover *lo)
{
    memset(lo, 0, sizeof *lo);
    if (name[0] != '.') return parse_legacy(name, lo);
    bool carry = false;
    if (strncmp(name, ".dm-stage-", 10) == 0) {
        if (!parse_pid_seq(name + 10, &lo->pid, &carry) || carry) return false;
        lo->kind = LEFT_STAGE;
        return true;
    }
    if (name[0] != '.') return false;
    const char *mark = NULL;
    for (const char *p = strstr(name, ".dm-"); p; p = strstr(p + 1, ".dm-")) mark = p;
    if (!mark || mark == name) return false;
    bool tmp = strncmp(mark, ".dm-tmp-", 8) == 0, old = strncmp(mark, ".dm-old-", 8) == 0;
    if (!(tmp || old) || !parse_pid_seq(mark + 8, &lo->pid, &carry) || (old && carry)) return false;
    size_t blen = (size_t)(mark - name - 1);
    if (blen >= sizeof lo->base) return false;
    memcpy(lo->base, name + 1, blen);
    lo->base[blen] = '\0';
    lo->kind = carry ? LEFT_CARRY : tmp ? LEFT_TMP : LEFT_OLD;
    return true;
}

/* A leftover's writer is alive while its PID runs. (A writer in another PID
 * namespace sharing the folder looks dead: its commit then fails loudly, as
 * its staged content is gone; nothing is ever mixed.) */
static bool pid_alive(long pid)
{
    if (pid == (long)getpid()) return true;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Moves back into FINAL what a dead writer was carrying (listed in the
 * NUL-separated file CARRY) and had not yet swapped in. */
static void put_back_carried(const char *carry, const char *tmp, const char *final)
{
    char *list;
    size_t len;
    if (dmi_read_file(carry, &list, &len)) return;
    for (size_t at = 0; at < len;) {
        const char *name = list + at;
        size_t n = strnlen(name, len - at);
        at += n + 1;
        char from[4096], to[4096];
        if (n == 0 || dmi_path_join(from, sizeof from, tmp, name) || dmi_path_join(to, sizeof to, final, name)) continue;
        if (exists(from) && !exists(to)) rename(from, to);
    }
    free(list);
}

/* One dead writer's leftover NAME in DIR, tidied. OLD leftovers go first (see
 * dmi_tidy_leftovers), so that a folder whose swap was cut between its two
 * renames is back in place before the new content's leftover is looked at. */
static void tidy_one(const char *dir, const char *name, const leftover *lo)
{
    char path[4096], final[4096], carry[4096];
    if (dmi_path_join(path, sizeof path, dir, name)) return;
    if (lo->kind == LEFT_STAGE || lo->kind == LEFT_CARRY) {
        if (lo->kind == LEFT_CARRY) {
            /* A manifest whose folder is gone: nothing left to put back. */
            size_t n = strlen(path) - strlen(".carry");
            memcpy(carry, path, n);
            carry[n] = '\0';
            if (exists(carry)) return; /* handled with its folder */
        }
        dmi_remove_tree(path);
        return;
    }
    if (dmi_path_join(final, sizeof final, dir, lo->base)) return;
    if (lo->kind == LEFT_OLD) {
        if (!exists(final) && rename(path, final) == 0) return;
        dmi_remove_tree(path);
        return;
    }
    int n = snprintf(carry, sizeof carry, "%s.carry", path);
    bool has_carry = n > 0 && (size_t)n < sizeof carry && exists(carry);
    if (has_carry) {
        /* The manifest is written once the new content is complete: with the
         * target gone the new content is the only copy, so it goes in place. */
        if (!exists(final)) {
            if (rename(path, final) == 0) unlink(carry);
            return;
        }
        put_back_carried(carry, path, final);
    }
    dmi_remove_tree(path);
    if (has_carry) unlink(carry);
}

void dmi_tidy_leftovers(const char *dir)
{
    for (int pass = 0; pass < 2; pass++) { /* OLD leftovers first */
        DIR *d = opendir(dir);
        if (!d) return;
        struct dirent *e;
        char (*names)[256] = NULL;
        leftover *los = NULL;
        size_t n = 0, cap = 0;
        while ((e = readdir(d))) {
            leftover lo;
            if (!parse_leftover(e->d_name, &lo) || pid_alive(lo.pid)) continue;
            if ((pass == 0) != (lo.kind == LEFT_OLD)) continue;
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 8;
                void *a = realloc(names, nc * sizeof *names), *b = a ? realloc(los, nc * sizeof *los) : NULL;
                if (a) names = a;
                if (b) los = b;
                if (!a || !b) break;
                cap = nc;
            }
            snprintf(names[n], sizeof names[n], "%s", e->d_name);
            los[n++] = lo;
        }
        closedir(d);
        /* Tidied after the listing: renames while reading a folder may
         * show an entry twice or not at all. */
        for (size_t i = 0; i < n; i++) tidy_one(dir, names[i], &los[i]);
        free(names);
        free(los);
    }
}

/* ------------------------------------------------------------------ staged folders */

static bool same_as_cwd(const char *dir)
{
    struct stat a, b;
    return stat(dir, &a) == 0 && stat(".", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static dm_status begin_in_place(dmi_stage *sg)
{
    unsigned long seq = atomic_fetch_add(&stage_seq, 1);
    int n = snprintf(sg->tmp, sizeof sg->tmp, "%s/.dm-stage-%ld-%lu", sg->final, (long)getpid(), seq);
    if (n < 0 || (size_t)n >= sizeof sg->tmp) return dmi_fail(DM_ERR_RANGE, "%s: path too long", sg->final);
    if (mkdir(sg->tmp, 0755) != 0)
        return dmi_fail(DM_ERR_IO, "%s: cannot write in the folder: %s", sg->final, strerror(errno));
    sg->in_place = true;
    return DM_OK;
}

dm_status dmi_stage_begin(dmi_stage *sg, const char *dir)
{
    memset(sg, 0, sizeof *sg);
    if (!dir || !*dir) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "empty output folder name");
    if (snprintf(sg->final, sizeof sg->final, "%s", dir) >= (int)sizeof sg->final)
        return dmi_fail(DM_ERR_RANGE, "%s: path too long", dir);
    dm_status s = split_path(dir, sg->parent, sizeof sg->parent, sg->base, sizeof sg->base);
    if (s) return s;
    struct stat sb;
    bool present = stat(dir, &sb) == 0;
    if (present && !S_ISDIR(sb.st_mode)) return dmi_fail(DM_ERR_IO, "%s: exists and is not a folder", dir);
    if (!present && (s = dmi_make_dirs(sg->parent))) return s;
    dmi_tidy_leftovers(sg->parent);
    if (present) dmi_tidy_leftovers(dir);
    /* The working folder itself cannot be swapped away under the process. */
    if (present && (strcmp(sg->base, ".") == 0 || strcmp(sg->base, "..") == 0 || same_as_cwd(dir)))
        return begin_in_place(sg);
    if ((s = sibling(sg->parent, sg->base, "tmp", sg->tmp, sizeof sg->tmp))) return s;
    if (mkdir(sg->tmp, 0755) == 0) return DM_OK;
    int e = errno;
    if (present && (e == EACCES || e == EPERM || e == EROFS)) return begin_in_place(sg);
    return dmi_fail(DM_ERR_IO, "%s: cannot create a folder beside it: %s", dir, strerror(e));
}

void dmi_stage_abort(dmi_stage *sg)
{
    if (sg->tmp[0]) dmi_remove_tree(sg->tmp);
    sg->tmp[0] = '\0';
}

/* The names of DIR's entries for which KEEP(name) is true, NUL-separated. */
static dm_status list_entries(const char *dir, dmi_owned_fn owned, bool want_owned, char **out, size_t *len)
{
    DIR *d = opendir(dir);
    if (!d) return dmi_fail(DM_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    char *buf = NULL;
    size_t used = 0, cap = 0;
    struct dirent *e;
    dm_status s = DM_OK;
    while (!s && (e = readdir(d))) {
        leftover lo;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || parse_leftover(e->d_name, &lo)) continue;
        if ((owned ? owned(e->d_name) : true) != want_owned) continue;
        size_t n = strlen(e->d_name) + 1;
        if (used + n > cap) {
            size_t nc = (used + n) * 2 + 256;
            char *b = dmi_realloc(buf, nc);
            if (!b) {
                s = DM_ERR_NO_MEMORY;
                break;
            }
            buf = b, cap = nc;
        }
        memcpy(buf + used, e->d_name, n);
        used += n;
    }
    closedir(d);
    if (s) free(buf);
    else *out = buf, *len = used;
    return s;
}

/* Renames each listed entry from FROM to TO (skipping names TO already has
 * when SKIP_PRESENT); on failure moves the ones done back. */
static dm_status move_entries(const char *list, size_t len, const char *from, const char *to, bool skip_present)
{
    size_t at = 0;
    dm_status s = DM_OK;
    for (; at < len && !s; at += strlen(list + at) + 1) {
        char a[4096], b[4096];
        const char *name = list + at;
        if ((s = dmi_path_join(a, sizeof a, from, name)) || (s = dmi_path_join(b, sizeof b, to, name))) break;
        if (skip_present && exists(b)) continue;
        if (rename(a, b) != 0) s = dmi_fail(DM_ERR_IO, "%s: cannot move it into %s: %s", a, to, strerror(errno));
    }
    if (s) {
        for (size_t back = 0; back < at; back += strlen(list + back) + 1) {
            char a[4096], b[4096];
            if (!dmi_path_join(a, sizeof a, from, list + back) && !dmi_path_join(b, sizeof b, to, list + back) &&
                !exists(a))
                rename(b, a);
        }
    }
    return s;
}

/* The entries of FINAL that the new content does not replace go into TMP,
 * listed first in TMP.carry so that a writer dying now loses nothing. */
static dm_status carry_over(dmi_stage *sg, dmi_owned_fn owned, char *carry_path, size_t cap)
{
    carry_path[0] = '\0';
    if (!owned) return DM_OK;
    char *list = NULL;
    size_t len = 0;
    dm_status s = list_entries(sg->final, owned, false, &list, &len);
    if (s || len == 0) {
        free(list);
        return s;
    }
    int n = snprintf(carry_path, cap, "%s.carry", sg->tmp);
    if (n < 0 || (size_t)n >= cap) s = dmi_fail(DM_ERR_RANGE, "%s: path too long", sg->tmp);
    if (!s) s = dmi_write_file_atomic(carry_path, list, len);
    if (!s) s = move_entries(list, len, sg->final, sg->tmp, true);
    if (s && carry_path[0]) unlink(carry_path), carry_path[0] = '\0';
    free(list);
    return s;
}

/* Two renames, for file systems without an exchange: FINAL aside, TMP in. */
static dm_status swap_by_renames(dmi_stage *sg, char *old, size_t cap)
{
    dm_status s = sibling(sg->parent, sg->base, "old", old, cap);
    if (s) return s;
    if (rename(sg->final, old) != 0)
        return dmi_fail(DM_ERR_IO, "%s: cannot move the old folder aside: %s", sg->final, strerror(errno));
    if (rename(sg->tmp, sg->final) != 0) {
        int e = errno;
        rename(old, sg->final);
        return dmi_fail(DM_ERR_IO, "%s: cannot rename into place: %s", sg->final, strerror(e));
    }
    return DM_OK;
}

static dm_status commit_swap(dmi_stage *sg, dmi_owned_fn owned)
{
    char carry[4096], old[4096];
    dm_status s = carry_over(sg, owned, carry, sizeof carry);
    if (s) return s;
    old[0] = '\0';
    if (renameat2(AT_FDCWD, sg->tmp, AT_FDCWD, sg->final, RENAME_EXCHANGE) == 0) {
        snprintf(old, sizeof old, "%s", sg->tmp); /* the old content now sits there */
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        s = swap_by_renames(sg, old, sizeof old);
    } else {
        s = dmi_fail(DM_ERR_IO, "%s: cannot swap in the new folder: %s", sg->final, strerror(errno));
    }
    if (s) {
        if (carry[0]) {
            put_back_carried(carry, sg->tmp, sg->final);
            unlink(carry);
        }
        return s;
    }
    s = dmi_fsync_dir(sg->parent);
    if (carry[0]) unlink(carry);
    dmi_remove_tree(old); /* a failure here leaves a leftover the next writer tidies */
    sg->tmp[0] = '\0';
    return s;
}

/* In-place mode: the new files renamed over the old ones, config.json last
 * (it says what the folder holds), then owned files the new content lacks
 * removed. */
static dm_status commit_in_place(dmi_stage *sg, dmi_owned_fn owned)
{
    char *list = NULL, *stale = NULL;
    size_t len = 0, stale_len = 0;
    dm_status s = list_entries(sg->tmp, NULL, true, &list, &len);
    for (int last = 0; last < 2 && !s; last++) {
        for (size_t at = 0; at < len && !s; at += strlen(list + at) + 1) {
            if ((strcmp(list + at, "config.json") == 0) != (last == 1)) continue;
            char a[4096], b[4096];
            if ((s = dmi_path_join(a, sizeof a, sg->tmp, list + at)) || (s = dmi_path_join(b, sizeof b, sg->final, list + at)))
                break;
            if (rename(a, b) != 0) s = dmi_fail(DM_ERR_IO, "%s: cannot rename into place: %s", b, strerror(errno));
        }
    }
    /* Without an ownership rule nothing else in the folder is touched. */
    if (!s && owned) s = list_entries(sg->final, owned, true, &stale, &stale_len);
    for (size_t at = 0; !s && at < stale_len; at += strlen(stale + at) + 1) {
        char b[4096];
        if (dmi_path_join(b, sizeof b, sg->final, stale + at)) continue;
        bool is_new = false;
        for (size_t k = 0; k < len && !is_new; k += strlen(list + k) + 1) is_new = strcmp(list + k, stale + at) == 0;
        if (!is_new) s = dmi_remove_tree(b);
    }
    free(list);
    free(stale);
    if (!s) s = dmi_fsync_dir(sg->final);
    dmi_stage_abort(sg);
    return s;
}

dm_status dmi_stage_commit(dmi_stage *sg, dmi_owned_fn owned)
{
    dm_status s = dmi_fsync_dir(sg->tmp);
    if (!s && sg->in_place) return commit_in_place(sg, owned);
    if (!s && !exists(sg->final)) {
        if (rename(sg->tmp, sg->final) != 0)
            s = dmi_fail(DM_ERR_IO, "%s: cannot rename into place: %s", sg->final, strerror(errno));
        else {
            sg->tmp[0] = '\0';
            return dmi_fsync_dir(sg->parent);
        }
    }
    if (!s) s = commit_swap(sg, owned);
    if (s) dmi_stage_abort(sg);
    return s;
}
