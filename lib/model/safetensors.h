/*
 * safetensors.h — reading and writing the safetensors format (Hugging Face's
 * weight files): an 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *  "__metadata__": {"k": "v"}}, then the raw little-endian tensor bytes
 * (offsets relative to the end of the header).
 *
 * Files are memory-mapped read-only; every header field is validated before
 * use (header length within the file and at most 100 MB, JSON an object,
 * known dtype, shape entries non-negative, shape product * dtype size equal to
 * the byte range, ranges inside the data area and not overlapping), so a
 * corrupt or hostile file gives DM_ERR_PARSE / DM_ERR_RANGE naming the file
 * and the tensor, never a crash. Internal: names start with dmi_.
 */
#ifndef DM_SAFETENSORS_H
#define DM_SAFETENSORS_H

#include "../core/core.h"

typedef enum dmi_dtype {
    DMI_F64, DMI_F32, DMI_F16, DMI_BF16,
    DMI_I64, DMI_I32, DMI_I16, DMI_I8, DMI_U8, DMI_BOOL,
    DMI_DTYPE_COUNT
} dmi_dtype;

#define DMI_ST_MAX_DIMS 8

typedef struct dmi_st_tensor {
    const char *name;     /* NUL-terminated valid UTF-8 (no NUL inside), owned by the file handle */
    dmi_dtype dtype;
    size_t ndim;
    int64_t shape[DMI_ST_MAX_DIMS];
    size_t numel;         /* product of shape (1 for a scalar) */
    const void *data;     /* into the mapping; may be unaligned */
    size_t nbytes;
} dmi_st_tensor;

typedef struct dmi_safetensors dmi_safetensors;

/* "F32", "BF16", ...; and the size in bytes of one element. */
const char *dmi_dtype_name(dmi_dtype t);
size_t dmi_dtype_size(dmi_dtype t);

/* Opens and validates PATH (mmap). Errors: DM_ERR_IO, DM_ERR_PARSE (naming
 * the file and, where it applies, the tensor and what was expected),
 * DM_ERR_UNSUPPORTED (an unknown dtype string, named; more than
 * DMI_ST_MAX_DIMS dimensions; a big-endian host), DM_ERR_RANGE (a header
 * over 100 MB, a shape whose element or byte count overflows size_t;
 * DM_ERR_UNSUPPORTED also for a dm-encrypted file, named as such: model.c
 * decrypts those into memory and uses dmi_st_open_memory).
 * Gaps between tensors' byte ranges and bytes after the last one are
 * accepted (the Rust reader refuses them); overlaps are not. Zero-size
 * tensors may share any offset. */
dm_status dmi_st_open(const char *path, dmi_safetensors **out);

/* The same over LEN bytes at DATA (not copied: DATA must outlive the handle).
 * NAME labels error messages. Used by the fuzz target and tests. */
dm_status dmi_st_open_memory(const void *data, size_t len, const char *name, dmi_safetensors **out);

void dmi_st_close(dmi_safetensors *st);

size_t dmi_st_count(const dmi_safetensors *st);
/* Tensors in file order of their data offsets. */
const dmi_st_tensor *dmi_st_at(const dmi_safetensors *st, size_t i);
/* NULL when absent (no error set). */
const dmi_st_tensor *dmi_st_find(const dmi_safetensors *st, const char *name);
/* A __metadata__ value, or NULL. */
const char *dmi_st_metadata(const dmi_safetensors *st, const char *key);
/* The __metadata__ pairs in file order: false when I is out of range. KEY
 * and VALUE (either may be NULL) point into the handle. */
size_t dmi_st_metadata_count(const dmi_safetensors *st);
bool dmi_st_metadata_at(const dmi_safetensors *st, size_t i, const char **key, const char **value);

/* One IEEE half / bfloat16 value (its bits) as a float: exact for every
 * value, subnormals, infinities and NaNs included. */
float dmi_f16_to_f32(uint16_t bits);
float dmi_bf16_to_f32(uint16_t bits);

/* Converts T (F32, F16, BF16 or F64) to N = t->numel floats at DST (F16 and
 * BF16 exactly, F64 rounded). Other dtypes: DM_ERR_UNSUPPORTED naming the
 * tensor and dtype. */
dm_status dmi_st_read_f32(const dmi_safetensors *st, const dmi_st_tensor *t, float *dst);

/* Lets the kernel drop T's pages of a mapped file (MADV_DONTNEED on the whole
 * pages inside it) once it has been read, so that loading a model does not hold
 * the file and the converted weights in memory at the same time. The data
 * stays readable (it is read again from the file). No-op for memory handles. */
void dmi_st_drop_pages(const dmi_safetensors *st, const dmi_st_tensor *t);

/* One tensor to write. */
typedef struct dmi_st_out {
    const char *name;
    dmi_dtype dtype;   /* F32 or I64 in practice; any dtype is written as given */
    size_t ndim;
    int64_t shape[DMI_ST_MAX_DIMS];
    const void *data;  /* numel * dtype size bytes, little-endian */
} dmi_st_out;

/* Writes N tensors to PATH atomically (hidden sibling, fsync, rename), in the
 * given order, with "__metadata__" from the N_META key/value pairs
 * (META[2i] = key, META[2i+1] = value; "format": "pt" is added when absent),
 * the header padded with spaces to a multiple of 8 bytes as HF does.
 * Duplicate names: DM_ERR_INVALID_ARGUMENT. */
dm_status dmi_st_write(const char *path, const dmi_st_out *tensors, size_t n,
                       const char *const *meta, size_t n_meta);

#endif
