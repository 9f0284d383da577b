/*
 * backend.c — choosing a backend for a device or by name, and the settings
 * that only some backends have.
 */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    "cpu-ref",
#if DM_HAVE_ONEDNN
    "cpu-onednn",
#endif
#if DM_HAVE_CUDA_BACKEND && DM_CUDA_EMU
    "cuda-emu",
#elif DM_HAVE_CUDA_BACKEND
    "cuda",
#endif
    NULL};

const char *const *dmb_names(void) { return names; }

/* A backend written against another version of this interface is refused:
 * its table would be read with the wrong layout. */
static dm_status checked(dm_status s, dmb_backend **out)
{
    if (s || (*out)->ops->version == DMB_INTERFACE_VERSION) return s;
    int v = (*out)->ops->version;
    const char *name = (*out)->ops->name;
    dmb_destroy(*out);
    *out = NULL;
    return dmi_fail(DM_ERR_INTERNAL, "backend %s implements interface version %d, this library %d", name, v,
                    DMB_INTERFACE_VERSION);
}

dm_status dmb_create_named(const char *name, int threads, dmb_backend **out)
{
    *out = NULL;
    if (strcmp(name, "cpu-ref") == 0) return checked(dmb_ref_create(threads, out), out);
#if DM_HAVE_ONEDNN
    if (strcmp(name, "cpu-onednn") == 0) return checked(dmb_cpu_create(threads, out), out);
#endif
#if DM_HAVE_CUDA_BACKEND
    if (strcmp(name, DM_CUDA_EMU ? "cuda-emu" : "cuda") == 0) return checked(dmb_cuda_create(threads, out), out);
#endif
    return dmi_fail(DM_ERR_UNSUPPORTED, "backend '%s' is not built into this library", name);
}

static dm_status create_cpu(int threads, dmb_backend **out)
{
    const char *want = getenv("DM_BACKEND");
    if (want && *want) {
        if (strncmp(want, "cpu", 3) != 0)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "DM_BACKEND=%s is not a CPU backend (cpu-ref%s)", want,
                            DM_HAVE_ONEDNN ? ", cpu-onednn" : "");
        return dmb_create_named(want, threads, out);
    }
#if DM_HAVE_ONEDNN
    return dmb_create_named("cpu-onednn", threads, out);
#else
    return dmb_create_named("cpu-ref", threads, out);
#endif
}

/* DM_DEVICE_CUDA: the GPU, or the emulated one in a -Demulate_cuda build when
 * DM_BACKEND=cuda-emu asks for it (a test then runs the model's GPU paths on
 * the CPU); AUTO never picks the emulation. */
static dm_status create_cuda(int threads, dmb_backend **out)
{
#if DM_HAVE_CUDA_BACKEND && DM_CUDA_EMU
    const char *want = getenv("DM_BACKEND");
    if (want && strcmp(want, "cuda-emu") == 0) return dmb_create_named("cuda-emu", threads, out);
    (void)threads;
    return dmi_fail(DM_ERR_UNSUPPORTED, "device CUDA: this build of libdatamodel has only the CUDA emulation "
                                        "(set DM_BACKEND=cuda-emu to use it; the CPU backend is DM_DEVICE_CPU)");
#elif DM_HAVE_CUDA_BACKEND
    return dmb_create_named("cuda", threads, out);
#else
    (void)threads, (void)out;
    return dmi_fail(DM_ERR_UNSUPPORTED, "device CUDA: this build of libdatamodel has no CUDA backend "
                                        "(the CPU backend is available as DM_DEVICE_CPU)");
#endif
}

dm_status dmb_create(dm_device device, int threads, dmb_backend **out)
{
    *out = NULL;
    if (threads < 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "threads must be >= 0 (0 = all cores), got %d", threads);
    switch (device) {
    case DM_DEVICE_AUTO:
#if DM_HAVE_CUDA_BACKEND && !DM_CUDA_EMU
        if (dmb_create_named("cuda", threads, out) == DM_OK) return DM_OK;
#elif DM_HAVE_CUDA_BACKEND
        if (getenv("DM_BACKEND") && strcmp(getenv("DM_BACKEND"), "cuda-emu") == 0) return create_cuda(threads, out);
#endif
        return create_cpu(threads, out);
    case DM_DEVICE_CPU:
        return create_cpu(threads, out);
    case DM_DEVICE_CUDA:
        return create_cuda(threads, out);
    }
    return dmi_fail(DM_ERR_INVALID_ARGUMENT, "device %d is not a dm_device", (int)device);
}

void dmb_destroy(dmb_backend *be)
{
    if (be) be->ops->destroy(be);
}

dm_status dmb_set_threads(dmb_backend *be, int threads)
{
    if (threads < 0) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "threads must be >= 0 (0 = all cores), got %d", threads);
    if (be->ops->device == DM_DEVICE_CPU) be->threads = threads ? threads : dmi_cpu_count();
    return DM_OK;
}
