/*
 * dmk_runtime.h — the few runtime services the CUDA backend's glue
 * (lib/backend/backend_cuda.c) needs: device discovery, memory, copies, a
 * stream, synchronisation and error collection. Two implementations:
 * runtime_cuda.cu (the CUDA runtime API, for backend "cuda") and
 * emu/runtime_emu.cpp (host memory and the emulator, for backend
 * "cuda-emu"). Everything else the glue does is shared, so the emulated
 * backend tests the real one's host code too.
 *
 * Functions returning int give 0 on success, else -1 with a message in WHY
 * (WHY_LEN bytes, NUL-terminated) that names what failed.
 */
#ifndef DMK_RUNTIME_H
#define DMK_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dmk_device_info {
    char name[128];
    int sm;              /* compute capability x 10: 80 for sm_80 */
    size_t total_memory; /* bytes */
    int emulated;        /* 1: the host emulation */
} dmk_device_info;

/* Opens device 0 and a stream on it. Fails (with the reason: no driver, no
 * GPU, a compute capability below 8.0) when it cannot run our kernels. */
int dmk_rt_open(dmk_device_info *info, void **stream, char *why, size_t why_len);
void dmk_rt_close(void *stream);

/* Device memory, 256-byte aligned; NULL when there is none. */
void *dmk_rt_alloc(size_t bytes);
void dmk_rt_free(void *p);

/* Synchronous with the host memory named; ordered after the stream's work. */
int dmk_rt_upload(void *stream, void *dst, const void *src, size_t bytes, char *why, size_t why_len);
int dmk_rt_download(void *stream, void *dst, const void *src, size_t bytes, char *why, size_t why_len);
/* Queued on the stream. */
int dmk_rt_copy(void *stream, void *dst, const void *src, size_t bytes, char *why, size_t why_len);
int dmk_rt_zero(void *stream, void *dst, size_t bytes, char *why, size_t why_len);

/* The error of the last launch (a bad configuration), if any: after each op. */
int dmk_rt_launch_error(char *why, size_t why_len);
/* Waits for the stream; returns the first error of its work. */
int dmk_rt_synchronize(void *stream, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
