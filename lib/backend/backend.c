/*
 * backend.c — choosing a backend for a device.
 */
#include "backend.h"
#include "dm_config.h"

dm_status dmb_create(dm_device device, int threads, dmb_backend **out)
{
    switch (device) {
    case DM_DEVICE_AUTO:
#if DM_HAVE_CUDA_BACKEND
        if (dmb_cuda_create(threads, out) == DM_OK) return DM_OK;
#endif
        return dmb_cpu_create(threads, out);
    case DM_DEVICE_CPU:
        return dmb_cpu_create(threads, out);
    case DM_DEVICE_CUDA:
#if DM_HAVE_CUDA_BACKEND
        return dmb_cuda_create(threads, out);
#else
        return dmi_fail(DM_ERR_UNSUPPORTED,
                        "device CUDA: this build of libdatamodel has no CUDA backend "
                        "(the CPU backend is available as DM_DEVICE_CPU)");
#endif
    }
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "device %d is not a dm_device", (int)device);
}

void dmb_destroy(dmb_backend *be)
{
    if (be) be->ops->destroy(be);
}
