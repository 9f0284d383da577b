/*
 * bench_encode.c — library-level tokenizer throughput: dm_tokenizer_encode_batch
 * on the lines of a file, on 1..N threads, with no process start, reading or
 * output formatting in the timed part. It isolates how encoding itself scales
 * with threads (the `dm tokenize` figures include the serial I/O around it).
 *
 *   bench_encode TOKENIZER FILE [REPEAT] [MAX_THREADS]
 *
 * Prints one JSON object per thread count: threads, best seconds, MB/s, tokens/s.
 */
#include "datamodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER FILE [REPEAT] [MAX_THREADS]\n", argv[0]);
        return 2;
    }
    int repeat = argc > 3 ? atoi(argv[3]) : 3;
    long max_threads = argc > 4 ? atol(argv[4]) : sysconf(_SC_NPROCESSORS_ONLN);
    dm_tokenizer *tok;
    if (dm_tokenizer_load(argv[1], NULL, &tok)) { fprintf(stderr, "%s\n", dm_last_error()); return 1; }
    size_t size;
    char *data = read_all(argv[2], &size);
    if (!data) { perror(argv[2]); return 1; }
    size_t n = 0, cap = 1024;
    const char **texts = malloc(cap * sizeof *texts);
    size_t *lens = malloc(cap * sizeof *lens);
    for (char *p = data, *end = data + size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == cap) {
            cap *= 2;
            texts = realloc(texts, cap * sizeof *texts);
            lens = realloc(lens, cap * sizeof *lens);
        }
        texts[n] = p;
        lens[n++] = len;
        p += len + 1;
    }
    for (long threads = 1; threads <= max_threads; threads++) {
        double best = 1e30;
        size_t tokens = 0;
        for (int r = 0; r < repeat; r++) {
            dm_encode_options o;
            dm_encode_options_default(&o);
            o.threads = (int)threads;
            dm_encoding **encs;
            double t0 = now();
            if (dm_tokenizer_encode_batch(tok, n, texts, lens, NULL, NULL, &o, &encs)) {
                fprintf(stderr, "%s\n", dm_last_error());
                return 1;
            }
            double dt = now() - t0;
            if (dt < best) best = dt;
            tokens = 0;
            for (size_t i = 0; i < n; i++) tokens += encs[i]->length;
            dm_encodings_free(encs, n);
        }
        printf("{\"threads\": %ld, \"texts\": %zu, \"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.6f, "
               "\"mb_s\": %.3f, \"tokens_s\": %.1f}\n",
               threads, n, size, tokens, best, (double)size / best / 1e6, (double)tokens / best);
    }
    free(texts);
    free(lens);
    free(data);
    dm_tokenizer_free(tok);
    return 0;
}
