/*
 * fuzz_safetensors.c — libFuzzer target: the input is a whole safetensors
 * file given to dmi_st_open_memory. Opening must fail cleanly (a status and
 * a message) or give tensors that keep every promise of safetensors.h: known
 * dtypes, shapes whose product times the dtype size is the byte count, byte
 * ranges inside the data area, sorted by offset and not overlapping, found by
 * name; float tensors convert with dmi_st_read_f32 (F16 checked value by
 * value against an arithmetic reference), others refuse. The tensors and
 * metadata are then written with dmi_st_write and read back: the same names,
 * dtypes, shapes, bytes and metadata.
 */
#include "fuzz_common.h"
#include "model/safetensors.h"

#include <math.h>
#include <unistd.h>

/* A temporary file in memory when /dev/shm is there (dmi_st_write fsyncs). */
static const char *scratch_path(void)
{
    static char path[256];
    if (!path[0]) {
        const char *d = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(path, sizeof path, "%s/dm_fuzz_safetensors.%ld", d, (long)getpid());
    }
    return path;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static float half_reference(uint16_t h)
{
    int exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    float v = exp == 0 ? ldexpf((float)mant, -24) : ldexpf((float)(mant + 1024), exp - 25);
    return (h & 0x8000) ? -v : v;
}

static void check_floats(const dmi_safetensors *st, const dmi_st_tensor *t)
{
    float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
    FZ_CHECK(f != NULL);
    dm_status s = dmi_st_read_f32(st, t, f);
    FZ_CHECK(s == DM_OK);
    const uint8_t *src = t->data;
    for (size_t i = 0; i < t->numel; i++) {
        if (t->dtype == DMI_F32) {
            FZ_CHECK(memcmp(&f[i], src + 4 * i, 4) == 0);
        } else if (t->dtype == DMI_BF16) {
            uint16_t h;
            uint32_t bits;
            memcpy(&h, src + 2 * i, 2);
            memcpy(&bits, &f[i], 4);
            FZ_CHECK(bits == (uint32_t)h << 16);
        } else if (t->dtype == DMI_F16) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            if (((h >> 10) & 0x1F) == 0x1F) FZ_CHECK((h & 0x3FF) ? isnan(f[i]) : isinf(f[i]));
            else FZ_CHECK(f[i] == half_reference(h) && signbit(f[i]) == signbit(half_reference(h)));
        } else {
            double d;
            memcpy(&d, src + 8 * i, 8);
            FZ_CHECK(isnan(d) ? isnan(f[i]) : f[i] == (float)d);
        }
    }
    free(f);
}

/* The promises of safetensors.h about an opened file of SIZE bytes at DATA. */
static void check_tensors(const dmi_safetensors *st, const uint8_t *data, size_t size)
{
    const uint8_t *area = data + 8 + le64(data), *end = data + size;
    const uint8_t *furthest = area; /* the end of the non-empty ranges so far */
    const uint8_t *prev = area;
    for (size_t i = 0; i < dmi_st_count(st); i++) {
        const dmi_st_tensor *t = dmi_st_at(st, i);
        FZ_CHECK(t != NULL && t->name != NULL);
        FZ_CHECK(strcmp(t->name, "__metadata__") != 0);
        FZ_CHECK((unsigned)t->dtype < DMI_DTYPE_COUNT && t->ndim <= DMI_ST_MAX_DIMS);
        size_t numel = 1;
        for (size_t d = 0; d < t->ndim; d++) {
            FZ_CHECK(t->shape[d] >= 0);
            numel *= (size_t)t->shape[d]; /* cannot overflow: the library checked */
        }
        for (size_t d = 0; d < t->ndim; d++)
            if (t->shape[d] == 0) numel = 0;
        FZ_CHECK(t->numel == numel && t->nbytes == numel * dmi_dtype_size(t->dtype));
        const uint8_t *p = t->data;
        FZ_CHECK(p >= area && p <= end && t->nbytes <= (size_t)(end - p));
        FZ_CHECK(p >= prev); /* sorted by offset */
        prev = p;
        if (t->nbytes) {
            FZ_CHECK(p >= furthest); /* no overlap */
            furthest = p + t->nbytes;
        }
        FZ_CHECK(dmi_st_find(st, t->name) == t);
        bool is_float = t->dtype == DMI_F32 || t->dtype == DMI_F16 || t->dtype == DMI_BF16 || t->dtype == DMI_F64;
        if (is_float) {
            check_floats(st, t);
        } else {
            float one;
            dm_status s = dmi_st_read_f32(st, t, &one);
            FZ_CHECK(s == DM_ERR_UNSUPPORTED);
            fz_check_failure(s);
        }
    }
    FZ_CHECK(dmi_st_at(st, dmi_st_count(st)) == NULL);
    for (size_t i = 0; i < dmi_st_metadata_count(st); i++) {
        const char *k = NULL, *v = NULL;
        FZ_CHECK(dmi_st_metadata_at(st, i, &k, &v) && k && v);
        FZ_CHECK(dmi_st_metadata(st, k) == v);
    }
}

/* Writes ST's tensors and metadata and reads them back: the same. */
static void check_rewrite(const dmi_safetensors *st)
{
    size_t n = dmi_st_count(st), n_meta = dmi_st_metadata_count(st);
    dmi_st_out *out = calloc(n ? n : 1, sizeof *out);
    const char **meta = calloc(2 * n_meta + 1, sizeof *meta);
    FZ_CHECK(out && meta);
    for (size_t i = 0; i < n; i++) {
        const dmi_st_tensor *t = dmi_st_at(st, i);
        out[i].name = t->name;
        out[i].dtype = t->dtype;
        out[i].ndim = t->ndim;
        memcpy(out[i].shape, t->shape, sizeof t->shape);
        out[i].data = t->data;
    }
    for (size_t i = 0; i < n_meta; i++) FZ_CHECK(dmi_st_metadata_at(st, i, &meta[2 * i], &meta[2 * i + 1]));
    const char *path = scratch_path();
    FZ_CHECK(dmi_st_write(path, out, n, meta, n_meta) == DM_OK);
    dmi_safetensors *back = NULL;
    FZ_CHECK(dmi_st_open(path, &back) == DM_OK);
    FZ_CHECK(dmi_st_count(back) == n);
    for (size_t i = 0; i < n; i++) {
        const dmi_st_tensor *a = dmi_st_at(st, i), *b = dmi_st_at(back, i);
        FZ_CHECK(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim);
        FZ_CHECK(memcmp(a->shape, b->shape, a->ndim * sizeof a->shape[0]) == 0);
        FZ_CHECK(a->nbytes == b->nbytes && (a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0));
    }
    for (size_t i = 0; i < n_meta; i++) {
        const char *v = dmi_st_metadata(back, meta[2 * i]);
        FZ_CHECK(v && strcmp(v, meta[2 * i + 1]) == 0);
    }
    FZ_CHECK(dmi_st_metadata(back, "format") != NULL);
    dmi_st_close(back);
    unlink(path);
    free(out);
    free(meta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dmi_safetensors *st = NULL;
    dm_status s = dmi_st_open_memory(data, size, "fuzz.safetensors", &st);
    if (s != DM_OK) {
        fz_check_failure(s);
        FZ_CHECK(s == DM_ERR_PARSE || s == DM_ERR_UNSUPPORTED || s == DM_ERR_RANGE || s == DM_ERR_NO_MEMORY);
        FZ_CHECK(st == NULL);
        return 0;
    }
    FZ_CHECK(size >= 8 && le64(data) <= size - 8);
    check_tensors(st, data, size);
    check_rewrite(st);
    dmi_st_close(st);
    return 0;
}
