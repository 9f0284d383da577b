/*
 * runtime_emu.cpp — dmk_runtime.h for the host emulation (backend
 * "cuda-emu"): device memory is host memory, every kernel has finished when
 * its launch returns, and launch errors are the emulator's.
 */
#include "../dmk_runtime.h"
#include "dmk_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" int dmk_rt_open(dmk_device_info *info, void **stream, char *why, size_t why_len)
{
    (void)why, (void)why_len;
    snprintf(info->name, sizeof info->name, "host emulation of CUDA");
    info->sm = 80;
    info->total_memory = 0;
    info->emulated = 1;
    *stream = NULL;
    return 0;
}

extern "C" void dmk_rt_close(void *stream) { (void)stream; }

/* Exactly BYTES (256-byte aligned, as cudaMalloc's): under AddressSanitizer
 * a kernel reading or writing past the end of a buffer is then reported,
 * which on a GPU would read a neighbour's data or fault. */
extern "C" void *dmk_rt_alloc(size_t bytes)
{
    void *p = NULL;
    return posix_memalign(&p, 256, bytes ? bytes : 1) == 0 ? p : NULL;
}

extern "C" void dmk_rt_free(void *p) { free(p); }

static int copy(void *dst, const void *src, size_t bytes)
{
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

extern "C" int dmk_rt_upload(void *s, void *dst, const void *src, size_t bytes, char *why, size_t why_len)
{
    (void)s, (void)why, (void)why_len;
    return copy(dst, src, bytes);
}

extern "C" int dmk_rt_download(void *s, void *dst, const void *src, size_t bytes, char *why, size_t why_len)
{
    (void)s, (void)why, (void)why_len;
    return copy(dst, src, bytes);
}

extern "C" int dmk_rt_copy(void *s, void *dst, const void *src, size_t bytes, char *why, size_t why_len)
{
    (void)s, (void)why, (void)why_len;
    return copy(dst, src, bytes);
}

extern "C" int dmk_rt_zero(void *s, void *dst, size_t bytes, char *why, size_t why_len)
{
    (void)s, (void)why, (void)why_len;
    if (bytes) memset(dst, 0, bytes);
    return 0;
}

extern "C" int dmk_rt_launch_error(char *why, size_t why_len)
{
    const char *e = dmk_emu_last_error();
    if (!e) return 0;
    snprintf(why, why_len, "kernel launch (emulated): %s", e);
    return -1;
}

extern "C" int dmk_rt_synchronize(void *s, char *why, size_t why_len)
{
    (void)s;
    return dmk_rt_launch_error(why, why_len);
}
