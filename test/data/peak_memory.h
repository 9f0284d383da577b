/*
 * peak_memory.h — how much memory one operation on one long row takes, for
 * test_dedup.c and test_profile.c: a check that cannot regress silently and
 * does not depend on timing.
 *
 * The operation runs in a fork()ed child, so that the peak (getrusage's
 * ru_maxrss, a high-water mark) is the child's alone and not a leftover of
 * earlier tests. The child's peak is taken relative to its start; it
 * includes building the dataset (the generated text and the dataset's copy
 * of it: 2 x the row) as well as the operation. Call it before anything else
 * in the test: libgomp's thread pool does not survive a fork, and the parent
 * should not have started one yet.
 */
#ifndef DM_TEST_PEAK_MEMORY_H
#define DM_TEST_PEAK_MEMORY_H

#include "datamodel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Lower-case "words" of 2 to 9 letters from a fixed generator, like prose
 * for shingling: BYTES bytes and a NUL. */
static inline char *peak_long_text(size_t bytes)
{
    char *s = malloc(bytes + 1);
    if (!s) return NULL;
    uint64_t x = 42;
    size_t i = 0;
    while (i < bytes) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 2 + (size_t)(x >> 61); /* 2 to 9 letters */
        for (size_t k = 0; k < len && i < bytes; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            s[i++] = (char)('a' + (x >> 33) % 26);
        }
        if (i < bytes) s[i++] = ' ';
    }
    s[bytes] = '\0';
    return s;
}

#if !defined(__SANITIZE_ADDRESS__)
static long peak_maxrss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}
#endif

typedef dm_status (*peak_op)(const dm_dataset *ds);

/* The peak memory growth, in bytes, of building a one-row dataset of BYTES
 * bytes of text and running OP on it, in a child process; -1 when the child
 * failed (*STATUS: OP's result), -2 under AddressSanitizer, whose allocator
 * (redzones, a quarantine of freed blocks) makes the figure meaningless. */
static long long peak_of_long_row(size_t bytes, peak_op op, dm_status *status)
{
    *status = DM_OK;
#if defined(__SANITIZE_ADDRESS__)
    (void)bytes, (void)op;
    return -2;
#else
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        long long out[2] = {-1, DM_ERR_NO_MEMORY};
        long start = peak_maxrss_kb();
        char *text = peak_long_text(bytes);
        const char *texts[1] = {text};
        dm_dataset *ds = NULL;
        if (text && dm_dataset_from_texts(1, texts, NULL, NULL, NULL, NULL, NULL, &ds) == DM_OK) {
            free(text);
            text = NULL;
            out[1] = op(ds);
            out[0] = (long long)(peak_maxrss_kb() - start) * 1024;
        }
        free(text);
        dm_dataset_free(ds);
        ssize_t w = write(fds[1], out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 1);
    }
    close(fds[1]);
    long long in[2] = {-1, DM_OK};
    ssize_t r = read(fds[0], in, sizeof in);
    close(fds[0]);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    if (r != (ssize_t)sizeof in || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) return -1;
    *status = (dm_status)in[1];
    return *status == DM_OK ? in[0] : -1;
#endif
}

#endif
