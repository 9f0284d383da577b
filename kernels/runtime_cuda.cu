/*
 * runtime_cuda.cu — dmk_runtime.h on the CUDA runtime API (backend "cuda").
 */
#include "dmk_runtime.h"

#include <cuda_runtime.h>
#include <stdio.h>

static int failed(cudaError_t e, const char *what, char *why, size_t why_len)
{
    if (e == cudaSuccess) return 0;
    snprintf(why, why_len, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return -1;
}

extern "C" int dmk_rt_open(dmk_device_info *info, void **stream, char *why, size_t why_len)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return failed(e, "no usable CUDA driver or GPU: cudaGetDeviceCount", why, why_len);
    if (n == 0) {
        snprintf(why, why_len, "no CUDA GPU found");
        return -1;
    }
    cudaDeviceProp p;
    if (failed(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties", why, why_len)) return -1;
    if (p.major < 8) {
        snprintf(why, why_len, "GPU 0 (%s) has compute capability %d.%d; the kernels need 8.0 or newer (Ampere)",
                 p.name, p.major, p.minor);
        return -1;
    }
    if (failed(cudaSetDevice(0), "cudaSetDevice(0)", why, why_len)) return -1;
    cudaStream_t s;
    if (failed(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate", why, why_len)) return -1;
    snprintf(info->name, sizeof info->name, "%.127s", p.name);
    info->sm = p.major * 10 + p.minor;
    info->total_memory = p.totalGlobalMem;
    info->emulated = 0;
    *stream = s;
    return 0;
}

extern "C" void dmk_rt_close(void *stream)
{
    if (stream) cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" void *dmk_rt_alloc(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        return NULL;
    }
    return p;
}

extern "C" void dmk_rt_free(void *p) { cudaFree(p); }

extern "C" int dmk_rt_upload(void *stream, void *dst, const void *src, size_t bytes, char *why, size_t why_len)
{
    cudaStream_t s = (cudaStream_t)stream;
    if (failed(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "upload", why, why_len)) return -1;
    return failed(cudaStreamSynchronize(s), "upload", why, why_len);
}

extern "C" int dmk_rt_download(void *stream, void *dst, const void *src, size_t bytes, char *why, size_t why_len)
{
    cudaStream_t s = (cudaStream_t)stream;
    if (failed(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "download", why, why_len)) return -1;
    return failed(cudaStreamSynchronize(s), "download", why, why_len);
}

extern "C" int dmk_rt_copy(void *stream, void *dst, const void *src, size_t bytes, char *why, size_t why_len)
{
    return failed(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream), "copy", why,
                  why_len);
}

extern "C" int dmk_rt_zero(void *stream, void *dst, size_t bytes, char *why, size_t why_len)
{
    return failed(cudaMemsetAsync(dst, 0, bytes, (cudaStream_t)stream), "zero", why, why_len);
}

extern "C" int dmk_rt_launch_error(char *why, size_t why_len)
{
    return failed(cudaGetLastError(), "kernel launch", why, why_len);
}

extern "C" int dmk_rt_synchronize(void *stream, char *why, size_t why_len)
{
    return failed(cudaStreamSynchronize((cudaStream_t)stream), "synchronize", why, why_len);
}
