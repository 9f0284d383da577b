/* check.h — the smallest test harness: CHECK records a failure with its line
 * and goes on; check_summary() prints "N passed, M failed" and gives the exit
 * code. */
#ifndef DM_TEST_CHECK_H
#define DM_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            check_passed++;                                                          \
        } else {                                                                     \
            check_failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* A call that must fail with STATUS and a message containing NEEDLE. */
#define CHECK_FAILS(call, status, needle)                                                      \
    do {                                                                                       \
        dm_status st_ = (call);                                                                \
        const char *msg_ = dm_last_error();                                                    \
        if (st_ == (status) && strstr(msg_, (needle))) {                                       \
            check_passed++;                                                                    \
        } else {                                                                               \
            check_failed++;                                                                    \
            fprintf(stderr, "%s:%d: expected %s with \"%s\", got %s: \"%s\"\n", __FILE__,     \
                    __LINE__, dm_status_name(status), (needle), dm_status_name(st_), msg_);    \
        }                                                                                      \
    } while (0)

static int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
