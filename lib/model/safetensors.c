/*
 * safetensors.c — reading (mmap, every header field validated) and writing
 * (streamed to a temporary file, then renamed) of Hugging Face's safetensors
 * weight files. See safetensors.h for the format and the checks.
 *
 * Byte order: the format is little-endian and this code reads and writes the
 * tensor bytes as they are in memory, so it assumes a little-endian host
 * (x86-64, aarch64). A big-endian build compiles but every call fails with
 * DM_ERR_UNSUPPORTED rather than silently byte-swapping weights.
 */
#include "safetensors.h"
#include "../core/staging.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#  define DMI_ST_BIG_ENDIAN 1
#else
#  define DMI_ST_BIG_ENDIAN 0
#endif

/* The Rust reference implementation refuses larger headers too. */
#define DMI_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define DMI_ST_METADATA_KEY "__metadata__"
/* write(2) is given at most this much at once (Linux caps one call near 2 GiB). */
#define DMI_ST_WRITE_CHUNK ((size_t)64 << 20)

struct dmi_safetensors {
    const uint8_t *base; /* the whole file (mapped) or the caller's bytes */
    size_t len;
    void *map;           /* the mapping to unmap, NULL for memory handles */
    json_t *header;      /* the parsed header: owns the tensor names and metadata */
    json_t *metadata;    /* borrowed from header; NULL when the file has none */
    dmi_st_tensor *tensors; /* sorted by data offset */
    size_t n;
    const dmi_st_tensor **by_name; /* the tensors sorted by name, for dmi_st_find */
    char *file;          /* the name errors give */
};

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    size_t size;
} dtype_info[DMI_DTYPE_COUNT] = {
    [DMI_F64] = {"F64", 8}, [DMI_F32] = {"F32", 4}, [DMI_F16] = {"F16", 2}, [DMI_BF16] = {"BF16", 2},
    [DMI_I64] = {"I64", 8}, [DMI_I32] = {"I32", 4}, [DMI_I16] = {"I16", 2}, [DMI_I8] = {"I8", 1},
    [DMI_U8] = {"U8", 1},   [DMI_BOOL] = {"BOOL", 1},
};

const char *dmi_dtype_name(dmi_dtype t) { return (unsigned)t < DMI_DTYPE_COUNT ? dtype_info[t].name : "?"; }

size_t dmi_dtype_size(dmi_dtype t) { return (unsigned)t < DMI_DTYPE_COUNT ? dtype_info[t].size : 0; }

static bool dtype_from_name(const char *s, dmi_dtype *out)
{
    for (int i = 0; i < DMI_DTYPE_COUNT; i++) {
        if (strcmp(s, dtype_info[i].name) == 0) {
            *out = (dmi_dtype)i;
            return true;
        }
    }
    return false;
}

static dm_status check_host_byte_order(void)
{
    if (DMI_ST_BIG_ENDIAN)
        return dmi_fail(DM_ERR_UNSUPPORTED, "safetensors: big-endian hosts are not supported "
                                            "(the format is little-endian and read in place)");
    return DM_OK;
}

/* ------------------------------------------------------ half -> float bits */

static float float_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE binary16 to binary32: every half value is exactly representable, so
 * this only moves bits (subnormal halves become normal floats). */
float dmi_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    if (exp == 0x1F) return float_from_bits(sign | 0x7F800000u | (mant << 13)); /* inf, NaN (payload kept) */
    if (exp != 0) return float_from_bits(sign | ((exp + 127 - 15) << 23) | (mant << 13));
    if (mant == 0) return float_from_bits(sign); /* signed zero */
    /* Subnormal: mant * 2^-24. Shift the leading 1 up to the implicit bit. */
    uint32_t e = 127 - 15 + 1;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return float_from_bits(sign | (e << 23) | ((mant & 0x3FFu) << 13));
}

/* bfloat16 is the top half of a binary32. */
float dmi_bf16_to_f32(uint16_t h) { return float_from_bits((uint32_t)h << 16); }

/* ------------------------------------------------------- header validation */

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static void format_shape(char *buf, size_t cap, const int64_t *shape, size_t ndim)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

/* One tensor's byte range as the header gives it, before sorting. */
typedef struct st_range {
    uint64_t begin, end;
    size_t index; /* header order: ties sort stably */
} st_range;

typedef struct st_parse {
    const char *file;
    size_t data_len; /* bytes after the header */
} st_parse;

static dm_status read_dtype(const st_parse *p, const char *name, json_t *entry, dmi_dtype *out)
{
    json_t *v = json_object_get(entry, "dtype");
    if (!v) return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': missing 'dtype'", p->file, name);
    if (!json_is_string(v))
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': 'dtype' must be a string, found %s", p->file, name,
                        json_type_name(v));
    if (!dtype_from_name(json_string_value(v), out))
        return dmi_fail(DM_ERR_UNSUPPORTED,
                        "%s: tensor '%s': dtype '%s' is not supported (F64, F32, F16, BF16, I64, I32, I16, I8, "
                        "U8, BOOL)", p->file, name, json_string_value(v));
    return DM_OK;
}

/* Shape entries (non-negative integers, at most DMI_ST_MAX_DIMS) and their
 * product, checked for overflow unless a dimension is 0. */
static dm_status read_shape(const st_parse *p, const char *name, json_t *entry, dmi_st_tensor *t)
{
    json_t *v = json_object_get(entry, "shape");
    if (!v) return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': missing 'shape'", p->file, name);
    if (!json_is_array(v))
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': 'shape' must be an array of non-negative integers, found %s",
                        p->file, name, json_type_name(v));
    size_t ndim = json_array_size(v);
    if (ndim > DMI_ST_MAX_DIMS)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: tensor '%s': shape has %zu dimensions, more than the %d supported",
                        p->file, name, ndim, DMI_ST_MAX_DIMS);
    bool has_zero = false;
    for (size_t i = 0; i < ndim; i++) {
        json_t *d = json_array_get(v, i);
        if (json_is_integer(d) && json_integer_value(d) < 0)
            return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': shape[%zu] must be a non-negative integer, found %lld",
                            p->file, name, i, (long long)json_integer_value(d));
        if (!json_is_integer(d))
            return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': shape[%zu] must be a non-negative integer, found %s",
                            p->file, name, i, json_type_name(d));
        t->shape[i] = (int64_t)json_integer_value(d);
        has_zero |= t->shape[i] == 0;
    }
    t->ndim = ndim;
    size_t numel = 1;
    for (size_t i = 0; i < ndim && !has_zero; i++) {
        if ((uint64_t)t->shape[i] > SIZE_MAX || __builtin_mul_overflow(numel, (size_t)t->shape[i], &numel)) {
            char shape[256];
            format_shape(shape, sizeof shape, t->shape, ndim);
            return dmi_fail(DM_ERR_RANGE, "%s: tensor '%s': shape %s has too many elements", p->file, name, shape);
        }
    }
    t->numel = has_zero ? 0 : numel;
    return DM_OK;
}

static dm_status read_offsets(const st_parse *p, const char *name, json_t *entry, st_range *r)
{
    json_t *v = json_object_get(entry, "data_offsets");
    if (!v) return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': missing 'data_offsets'", p->file, name);
    json_t *b = json_array_get(v, 0), *e = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
        json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': 'data_offsets' must be an array of two non-negative integers",
                        p->file, name);
    r->begin = (uint64_t)json_integer_value(b);
    r->end = (uint64_t)json_integer_value(e);
    if (r->begin > r->end)
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': data_offsets [%llu, %llu] begin after their end", p->file,
                        name, (unsigned long long)r->begin, (unsigned long long)r->end);
    if (r->end > p->data_len)
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': data_offsets [%llu, %llu] end beyond the %zu bytes of data",
                        p->file, name, (unsigned long long)r->begin, (unsigned long long)r->end, p->data_len);
    return DM_OK;
}

/* Validates one header entry into T and R (T->data is set once sorted). */
static dm_status read_tensor_entry(const st_parse *p, const char *name, json_t *entry, dmi_st_tensor *t, st_range *r)
{
    if (!json_is_object(entry))
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': expected an object with dtype, shape and data_offsets, found %s",
                        p->file, name, json_type_name(entry));
    t->name = name;
    dm_status st = read_dtype(p, name, entry, &t->dtype);
    if (!st) st = read_shape(p, name, entry, t);
    if (!st) st = read_offsets(p, name, entry, r);
    if (st) return st;
    size_t need;
    char shape[256];
    format_shape(shape, sizeof shape, t->shape, t->ndim);
    if (__builtin_mul_overflow(t->numel, dmi_dtype_size(t->dtype), &need))
        return dmi_fail(DM_ERR_RANGE, "%s: tensor '%s': shape %s of %s has too many bytes", p->file, name, shape,
                        dmi_dtype_name(t->dtype));
    if (need != r->end - r->begin)
        return dmi_fail(DM_ERR_PARSE, "%s: tensor '%s': shape %s of %s needs %zu bytes, data_offsets give %llu",
                        p->file, name, shape, dmi_dtype_name(t->dtype), need,
                        (unsigned long long)(r->end - r->begin));
    t->nbytes = need;
    return DM_OK;
}

static dm_status read_metadata(const char *file, json_t *meta)
{
    if (!json_is_object(meta))
        return dmi_fail(DM_ERR_PARSE, "%s: " DMI_ST_METADATA_KEY " must be an object of strings, found %s", file,
                        json_type_name(meta));
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return dmi_fail(DM_ERR_PARSE, "%s: " DMI_ST_METADATA_KEY " '%s' must be a string, found %s", file, key,
                            json_type_name(v));
    }
    return DM_OK;
}

static int compare_ranges(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* With RANGES sorted by begin, a non-empty range overlaps an earlier one
 * exactly when it begins before the furthest end seen so far. Empty ranges
 * (zero-size tensors) hold no bytes and overlap nothing. */
static dm_status check_no_overlap(const char *file, const st_range *ranges, const dmi_st_tensor *unsorted, size_t n)
{
    uint64_t furthest = 0;
    const st_range *owner = NULL;
    for (size_t i = 0; i < n; i++) {
        const st_range *r = &ranges[i];
        if (r->begin == r->end) continue;
        if (owner && r->begin < furthest)
            return dmi_fail(DM_ERR_PARSE, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", file,
                            unsorted[owner->index].name, (unsigned long long)owner->begin,
                            (unsigned long long)owner->end, unsorted[r->index].name, (unsigned long long)r->begin,
                            (unsigned long long)r->end);
        if (r->end > furthest) {
            furthest = r->end;
            owner = r;
        }
    }
    return DM_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp((*(const dmi_st_tensor *const *)a)->name, (*(const dmi_st_tensor *const *)b)->name);
}

/* Reads every entry of the header into ST->tensors, sorted by offset. */
static dm_status read_tensors(dmi_safetensors *st, const st_parse *p, const uint8_t *data)
{
    size_t n = json_object_size(st->header) - (st->metadata ? 1 : 0);
    dmi_st_tensor *unsorted = dmi_calloc(n, sizeof *unsorted);
    st_range *ranges = dmi_calloc(n, sizeof *ranges);
    st->tensors = dmi_calloc(n, sizeof *st->tensors);
    st->by_name = dmi_calloc(n, sizeof *st->by_name);
    dm_status status = (unsorted && ranges && st->tensors && st->by_name) ? DM_OK : DM_ERR_NO_MEMORY;
    size_t i = 0;
    const char *key; /* Jansson refuses NUL in keys: names are C strings */
    json_t *entry;
    json_object_foreach(st->header, key, entry) {
        if (status || strcmp(key, DMI_ST_METADATA_KEY) == 0) continue;
        ranges[i].index = i;
        status = read_tensor_entry(p, key, entry, &unsorted[i], &ranges[i]);
        i++;
    }
    if (!status) {
        qsort(ranges, n, sizeof *ranges, compare_ranges);
        status = check_no_overlap(p->file, ranges, unsorted, n);
    }
    if (!status) {
        for (i = 0; i < n; i++) {
            st->tensors[i] = unsorted[ranges[i].index];
            st->tensors[i].data = data + ranges[i].begin;
            st->by_name[i] = &st->tensors[i];
        }
        st->n = n;
        qsort(st->by_name, n, sizeof *st->by_name, compare_names);
    }
    free(unsorted);
    free(ranges);
    return status;
}

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static dm_status parse_header(dmi_safetensors *st, const char *file)
{
    if (st->len < 8)
        return dmi_fail(DM_ERR_PARSE, "%s: %zu bytes: too short for the 8-byte header length", file, st->len);
    uint64_t header_len = read_le64(st->base);
    if (header_len > st->len - 8)
        return dmi_fail(DM_ERR_PARSE, "%s: header length %llu exceeds the %zu bytes after the length field", file,
                        (unsigned long long)header_len, st->len - 8);
    if (header_len > DMI_ST_MAX_HEADER)
        return dmi_fail(DM_ERR_RANGE, "%s: header length %llu exceeds the limit of %llu bytes", file,
                        (unsigned long long)header_len, (unsigned long long)DMI_ST_MAX_HEADER);
    json_error_t err;
    /* Duplicate names would make a tensor ambiguous: Jansson rejects them. */
    st->header = json_loadb((const char *)st->base + 8, (size_t)header_len, JSON_REJECT_DUPLICATES, &err);
    if (!st->header)
        return dmi_fail(DM_ERR_PARSE, "%s: header: invalid JSON at line %d, column %d (byte %d of the header): %s",
                        file, err.line, err.column, err.position, err.text);
    if (!json_is_object(st->header))
        return dmi_fail(DM_ERR_PARSE, "%s: header: expected a JSON object, found %s", file,
                        json_type_name(st->header));
    st->metadata = json_object_get(st->header, DMI_ST_METADATA_KEY);
    if (st->metadata) {
        dm_status s = read_metadata(file, st->metadata);
        if (s) return s;
    }
    st_parse p = {file, st->len - 8 - (size_t)header_len};
    return read_tensors(st, &p, st->base + 8 + header_len);
}

dm_status dmi_st_open_memory(const void *data, size_t len, const char *name, dmi_safetensors **out)
{
    if (!out || (!data && len)) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_st_open_memory: NULL argument");
    *out = NULL;
    dm_status s = check_host_byte_order();
    if (s) return s;
    dmi_safetensors *st = dmi_calloc(1, sizeof *st);
    if (!st) return DM_ERR_NO_MEMORY;
    st->base = data ? data : (const void *)"";
    st->len = len;
    st->file = dmi_strndup(name ? name : "safetensors", strlen(name ? name : "safetensors"));
    s = st->file ? parse_header(st, st->file) : DM_ERR_NO_MEMORY;
    if (s) {
        dmi_st_close(st);
        return s;
    }
    *out = st;
    return DM_OK;
}

dm_status dmi_st_open(const char *path, dmi_safetensors **out)
{
    if (!path || !out) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_st_open: NULL argument");
    *out = NULL;
    dm_status s = check_host_byte_order();
    if (s) return s;
    char *map = NULL;
    size_t len = 0;
    bool mapped = false;
    s = dmi_map_file(path, false, &map, &len, &mapped);
    if (s) return s;
    /* A dm-encrypted file (lib/privacy/encrypt.h) is named as such, not
     * reported as a huge header length. */
    if (len >= 6 && memcmp(map, "DMENC1", 6) == 0) {
        dmi_unmap_file(map, len, mapped);
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: the file is encrypted (dm encrypt; it starts with \"DMENC1\"), "
                        "not plain safetensors: only a model folder's weights are read encrypted "
                        "(dm_model_options.key)", path);
    }
    s = dmi_st_open_memory(map, len, path, out);
    if (s) {
        dmi_unmap_file(map, len, mapped);
        return s;
    }
    (*out)->map = map;
    return DM_OK;
}

void dmi_st_drop_pages(const dmi_safetensors *st, const dmi_st_tensor *t)
{
    if (!st || !t || !st->map || t->nbytes == 0) return;
    /* Only whole pages inside the tensor: its neighbours may still be read. */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)t->data + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)t->data + t->nbytes) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void dmi_st_close(dmi_safetensors *st)
{
    if (!st) return;
    free(st->tensors);
    free(st->by_name);
    free(st->file);
    json_decref(st->header);
    if (st->map) munmap(st->map, st->len);
    free(st);
}

/* ----------------------------------------------------------------- queries */

size_t dmi_st_count(const dmi_safetensors *st) { return st ? st->n : 0; }

const dmi_st_tensor *dmi_st_at(const dmi_safetensors *st, size_t i)
{
    return st && i < st->n ? &st->tensors[i] : NULL;
}

const dmi_st_tensor *dmi_st_find(const dmi_safetensors *st, const char *name)
{
    if (!st || !name) return NULL;
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const dmi_st_tensor *t = st->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *dmi_st_metadata(const dmi_safetensors *st, const char *key)
{
    if (!st || !key || !st->metadata) return NULL;
    return json_string_value(json_object_get(st->metadata, key));
}

size_t dmi_st_metadata_count(const dmi_safetensors *st) { return st && st->metadata ? json_object_size(st->metadata) : 0; }

bool dmi_st_metadata_at(const dmi_safetensors *st, size_t i, const char **key, const char **value)
{
    if (!st || !st->metadata || i >= json_object_size(st->metadata)) return false;
    size_t at = 0;
    const char *k;
    json_t *v;
    json_object_foreach(st->metadata, k, v) {
        if (at++ == i) {
            if (key) *key = k;
            if (value) *value = json_string_value(v);
            return true;
        }
    }
    return false;
}

dm_status dmi_st_read_f32(const dmi_safetensors *st, const dmi_st_tensor *t, float *dst)
{
    if (!st || !t) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_st_read_f32: NULL argument");
    bool is_float = t->dtype == DMI_F32 || t->dtype == DMI_F16 || t->dtype == DMI_BF16 || t->dtype == DMI_F64;
    if (!is_float)
        return dmi_fail(DM_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as float32 (only F32, F16, "
                        "BF16, F64)", st->file, t->name, dmi_dtype_name(t->dtype));
    if (!dst && t->numel) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_st_read_f32: DST is NULL");
    const uint8_t *src = t->data;
    size_t n = t->numel;
    /* The data may sit at any byte offset: memcpy each element. */
    switch (t->dtype) {
    case DMI_F32:
        if (n) memcpy(dst, src, n * sizeof(float));
        return DM_OK;
    case DMI_F16:
    case DMI_BF16: {
        float (*convert)(uint16_t) = t->dtype == DMI_F16 ? dmi_f16_to_f32 : dmi_bf16_to_f32;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = convert(h);
        }
        return DM_OK;
    }
    case DMI_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d; /* rounds to nearest; beyond FLT_MAX gives inf (IEEE) */
        }
        return DM_OK;
    default:
        return dmi_fail(DM_ERR_INTERNAL, "dmi_st_read_f32: dtype %d", (int)t->dtype);
    }
}

/* ------------------------------------------------------------------ write */

/* Checks one tensor to write and returns its byte count in *NBYTES. */
static dm_status check_out_tensor(const dmi_st_out *t, size_t i, size_t *nbytes)
{
    if (!t->name) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor %zu has no name", i);
    if (strcmp(t->name, DMI_ST_METADATA_KEY) == 0)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor %zu: the name '%s' is reserved", i, t->name);
    if ((unsigned)t->dtype >= DMI_DTYPE_COUNT)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor '%s': unknown dtype %d", t->name, (int)t->dtype);
    if (t->ndim > DMI_ST_MAX_DIMS)
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor '%s': %zu dimensions, more than %d", t->name, t->ndim,
                        DMI_ST_MAX_DIMS);
    size_t bytes = dmi_dtype_size(t->dtype);
    bool has_zero = false;
    for (size_t d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0)
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor '%s': shape[%zu] is negative (%lld)", t->name, d,
                            (long long)t->shape[d]);
        has_zero |= t->shape[d] == 0;
    }
    for (size_t d = 0; d < t->ndim && !has_zero; d++)
        if ((uint64_t)t->shape[d] > SIZE_MAX || __builtin_mul_overflow(bytes, (size_t)t->shape[d], &bytes))
            return dmi_fail(DM_ERR_RANGE, "tensor '%s': too many bytes", t->name);
    *nbytes = has_zero ? 0 : bytes;
    if (*nbytes && !t->data) return dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor '%s': data is NULL", t->name);
    return DM_OK;
}

static json_t *shape_json(const dmi_st_out *t)
{
    json_t *a = json_array();
    for (size_t d = 0; a && d < t->ndim; d++)
        if (json_array_append_new(a, json_integer((json_int_t)t->shape[d])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* {"dtype": .., "shape": [..], "data_offsets": [begin, end]} in HF's key order. */
static json_t *tensor_entry_json(const dmi_st_out *t, size_t begin, size_t end)
{
    json_t *o = json_object();
    /* json_object_set_new takes its value even when it fails (and ignores NULL). */
    if (!o || json_object_set_new(o, "dtype", json_string(dmi_dtype_name(t->dtype))) ||
        json_object_set_new(o, "shape", shape_json(t)) ||
        json_object_set_new(o, "data_offsets", json_pack("[II]", (json_int_t)begin, (json_int_t)end))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static dm_status metadata_json(const char *const *meta, size_t n_meta, json_t **out)
{
    json_t *m = json_object();
    if (!m) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory building the safetensors header");
    bool has_format = false;
    for (size_t i = 0; i < n_meta; i++) has_format |= meta[2 * i] && strcmp(meta[2 * i], "format") == 0;
    if (!has_format) json_object_set_new(m, "format", json_string("pt"));
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = meta[2 * i], *v = meta[2 * i + 1];
        if (!k || !v) {
            json_decref(m);
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "metadata pair %zu has a NULL key or value", i);
        }
        if (json_object_get(m, k)) {
            json_decref(m);
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "metadata key '%s' given twice", k);
        }
        if (json_object_set_new(m, k, json_string(v)) != 0) {
            json_decref(m);
            return dmi_fail(DM_ERR_INVALID_ARGUMENT, "metadata '%s': key or value is not valid UTF-8", k);
        }
    }
    *out = m;
    return DM_OK;
}

/* The header text: compact JSON, "__metadata__" first as HF writes it, then
 * the tensors in the given order with contiguous offsets, padded with spaces
 * to a multiple of 8 bytes. */
static dm_status build_header(const dmi_st_out *tensors, size_t n, const char *const *meta, size_t n_meta,
                              char **text, size_t *len)
{
    json_t *root = json_object(), *m = NULL;
    if (!root) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory building the safetensors header");
    dm_status st = metadata_json(meta, n_meta, &m);
    if (!st && json_object_set_new(root, DMI_ST_METADATA_KEY, m) != 0)
        st = dmi_fail(DM_ERR_NO_MEMORY, "out of memory building the safetensors header");
    size_t offset = 0;
    for (size_t i = 0; i < n && !st; i++) {
        size_t nbytes;
        st = check_out_tensor(&tensors[i], i, &nbytes);
        if (st) break;
        if (json_object_get(root, tensors[i].name)) {
            st = dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor name '%s' given twice", tensors[i].name);
            break;
        }
        if (offset + nbytes < offset || offset + nbytes > (size_t)INT64_MAX) {
            st = dmi_fail(DM_ERR_RANGE, "tensor '%s': the file would exceed 2^63 bytes", tensors[i].name);
            break;
        }
        json_t *entry = tensor_entry_json(&tensors[i], offset, offset + nbytes);
        if (!entry) st = dmi_fail(DM_ERR_NO_MEMORY, "out of memory building the safetensors header");
        else if (json_object_set_new(root, tensors[i].name, entry) != 0)
            st = dmi_fail(DM_ERR_INVALID_ARGUMENT, "tensor name '%s' is not valid UTF-8", tensors[i].name);
        offset += nbytes;
    }
    char *json = st ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (st) return st;
    if (!json) return dmi_fail(DM_ERR_NO_MEMORY, "out of memory writing the safetensors header");
    size_t n_json = strlen(json), padded = (n_json + 7) / 8 * 8;
    char *buf = dmi_realloc(json, padded + 1);
    if (!buf) {
        free(json);
        return DM_ERR_NO_MEMORY;
    }
    memset(buf + n_json, ' ', padded - n_json);
    buf[padded] = '\0';
    *text = buf;
    *len = padded;
    return DM_OK;
}

static dm_status write_all(int fd, const void *data, size_t len, const char *tmp)
{
    const uint8_t *p = data;
    while (len > 0) {
        size_t chunk = len < DMI_ST_WRITE_CHUNK ? len : DMI_ST_WRITE_CHUNK;
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return dmi_fail(DM_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return DM_OK;
}

/* Streams the length, the header and each tensor's bytes to FD: no buffer
 * holds the whole file. */
static dm_status write_contents(int fd, const char *tmp, const char *header, size_t header_len,
                                const dmi_st_out *tensors, size_t n)
{
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    dm_status st = write_all(fd, len_bytes, 8, tmp);
    if (!st) st = write_all(fd, header, header_len, tmp);
    for (size_t i = 0; i < n && !st; i++) {
        size_t nbytes = 0;
        check_out_tensor(&tensors[i], i, &nbytes); /* already checked by build_header */
        st = write_all(fd, tensors[i].data, nbytes, tmp);
    }
    return st;
}

dm_status dmi_st_write(const char *path, const dmi_st_out *tensors, size_t n, const char *const *meta, size_t n_meta)
{
    if (!path || (!tensors && n) || (!meta && n_meta))
        return dmi_fail(DM_ERR_INVALID_ARGUMENT, "dmi_st_write: NULL argument");
    dm_status st = check_host_byte_order();
    if (st) return st;
    char *header = NULL;
    size_t header_len = 0;
    st = build_header(tensors, n, meta, n_meta, &header, &header_len);
    if (st) return dmi_fail_prefix(st, "%s", path);
    char tmp[4096];
    if ((st = dmi_tmp_sibling(path, tmp, sizeof tmp))) {
        free(header);
        return st;
    }
    dmi_tidy_around(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(header);
        return dmi_fail(DM_ERR_IO, "%s: cannot create a file beside it: %s", path, strerror(errno));
    }
    st = write_contents(fd, path, header, header_len, tensors, n);
    free(header);
    if (!st && fsync(fd) != 0) st = dmi_fail(DM_ERR_IO, "%s: cannot flush: %s", path, strerror(errno));
    if (close(fd) != 0 && !st) st = dmi_fail(DM_ERR_IO, "%s: cannot close: %s", path, strerror(errno));
    if (st) {
        unlink(tmp);
        return st;
    }
    return dmi_commit_file(tmp, path);
}
