/*
 * bench_model.c — the classifier's speed on this machine, for
 * test/bench/bench_model.py, which runs PyTorch and ONNX Runtime on the same
 * shapes in the same run and prints the ratios.
 *
 *   bench_model infer MODEL_DIR BATCH SEQ ITERS THREADS
 *   bench_model train MODEL_DIR BATCH SEQ ITERS THREADS
 *   bench_model sgemm THREADS
 *
 * infer: dm_model_forward on BATCH x SEQ random ids (no padding), dropout off.
 * train: one optimizer step = forward with the config's dropout, backward,
 *        global-norm clipping and AdamW over every parameter.
 * sgemm: oneDNN's own dnnl_sgemm on the model's GEMM shapes and a large
 *        square one: the ceiling for the model's matrix products.
 * DM_BENCH_PRECISION=bf16 runs inference with bfloat16 matrix products.
 * Prints one JSON object: median and best seconds per iteration, sequences/s,
 * the FLOPs of one iteration's matrix products, the GFLOP/s inside the
 * matrix products (the backend's own timers), and the peak resident memory.
 */
#include "datamodel.h"
#include "model/model_internal.h"
#include "train/train_internal.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Peak resident memory of this process image (VmHWM). Not getrusage's
 * ru_maxrss: that survives exec, so a child of a large parent (a Python
 * process with PyTorch loaded) would report the parent's size. */
static double peak_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0.0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

/* FLOPs of the matrix products of one forward pass. */
static double forward_flops(const dmi_bert_dims *d, size_t B, size_t T)
{
    double BT = (double)(B * T), C = (double)d->C, I = (double)d->I;
    double layer = 2 * BT * C * 3 * C + 2 * BT * C * C + 2 * 2 * BT * C * I +
                   2 * 2 * (double)B * (double)d->H * (double)T * (double)T * (double)d->D;
    return layer * (double)d->layers + 2 * (double)B * C * C + 2 * (double)B * C * (double)d->L;
}

static void report(const char *mode, const dm_model *m, size_t B, size_t T, double *times, int iters, double flops,
                   int threads)
{
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    double med = times[iters / 2], best = times[0];
    const dmb_stats *st = &m->be->stats;
    printf("{\"mode\": \"%s\", \"precision\": \"%s\", \"batch\": %zu, \"seq\": %zu, \"threads\": %d, \"iters\": %d, "
           "\"median_s\": %.6f, \"best_s\": %.6f, \"seq_per_s\": %.3f, \"flops\": %.6g, "
           "\"gflops_per_s\": %.3f, \"gemm_gflops_per_s\": %.3f, \"gemm_share\": %.4f, \"peak_rss_mb\": %.1f, "
           "\"params\": %zu, \"backend\": \"%s\"}\n",
           mode, m->precision == DM_PRECISION_BF16 ? "bf16" : "fp32", B, T, threads, iters, med, best, (double)B / med, flops, flops / med / 1e9,
           st->gemm_flops / st->gemm_seconds / 1e9, st->gemm_seconds / (med * (double)iters), peak_rss_mb(),
           m->n_params, m->be->ops->name);
}

static int bench_model(const char *mode, const char *dir, size_t B, size_t T, int iters, int threads)
{
    dm_model_options mo;
    dm_model_options_default(&mo);
    mo.num_labels = 2;
    mo.device = DM_DEVICE_CPU;
    mo.threads = threads;
    dm_model *m;
    if (dm_model_load(dir, &mo, &m)) {
        fprintf(stderr, "%s\n", dm_last_error());
        return 1;
    }
    const char *precision = getenv("DM_BENCH_PRECISION"); /* "bf16": bfloat16 inference */
    bool bf16 = precision && strcmp(precision, "bf16") == 0;
    if (bf16 && dm_model_set_precision(m, DM_PRECISION_BF16)) {
        fprintf(stderr, "%s\n", dm_last_error());
        return 1;
    }
    size_t n = B * T;
    int32_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = i % T == 0 ? 101 : (int32_t)(1000 + (i * 7919) % 20000);
    double *times = calloc((size_t)iters, sizeof *times);
    bool train = strcmp(mode, "train") == 0;
    double flops = forward_flops(&m->dims, B, T) * (train ? 3.0 : 1.0);
    dm_status s = DM_OK;
    if (!train) {
        float *logits = malloc(B * m->dims.L * sizeof *logits);
        for (int w = 0; w < 2 && !s; w++) s = dm_model_forward(m, B, T, ids, NULL, NULL, logits, NULL, NULL);
        memset(&m->be->stats, 0, sizeof m->be->stats);
        for (int i = 0; i < iters && !s; i++) {
            double t0 = omp_get_wtime();
            s = dm_model_forward(m, B, T, ids, NULL, NULL, logits, NULL, NULL);
            times[i] = omp_get_wtime() - t0;
        }
        free(logits);
    } else {
        dmi_bert_acts a;
        size_t bytes = m->n_params * sizeof(float);
        float *g = malloc(bytes), *am = calloc(1, bytes), *av = calloc(1, bytes);
        s = dmi_bert_acts_alloc(m->be, &m->dims, B, T, true, &a);
        dmi_bert gnet;
        dmi_bert_map_buffers(&gnet, &m->dims, m->params, g);
        for (size_t i = 0; i < n; i++) a.ids[i] = ids[i], a.types[i] = 0, a.key_mask[i] = 1.0f;
        for (size_t b = 0; b < B; b++) a.labels[b] = (int32_t)(b % 2);
        dm_train_options o;
        dm_train_options_default(&o);
        dmi_bert_dropout d = {.hidden = (float)m->cfg.hidden_dropout, .attention = (float)m->cfg.attention_dropout,
                          .classifier = (float)m->cfg.hidden_dropout, .seed = 1};
        for (int i = -2; i < iters && !s; i++) {
            if (i == 0) memset(&m->be->stats, 0, sizeof m->be->stats);
            double t0 = omp_get_wtime(), norm;
            d.step = (uint64_t)(i + 2);
            memset(g, 0, bytes);
            s = dmi_bert_forward(m->be, &m->dims, &m->net, &a, B, T, &d, NULL, 1.0f / (float)B);
            if (!s) s = dmi_bert_backward(m->be, &m->dims, &gnet, &a, B, T, &d);
            if (!s) s = dmi_adamw_step(m, g, am, av, (uint64_t)(i + 2), 1e-5, &o, &norm);
            if (i >= 0) times[i] = omp_get_wtime() - t0;
        }
        dmi_bert_unmap(&gnet);
        dmi_bert_acts_free(m->be, &a);
        free(g), free(am), free(av);
    }
    if (s) fprintf(stderr, "%s\n", dm_last_error());
    else report(mode, m, B, T, times, iters, flops, threads);
    free(ids), free(times);
    dm_model_free(m);
    return s ? 1 : 0;
}

static int bench_sgemm(int threads)
{
    omp_set_num_threads(threads);
    static const long shapes[][3] = {{4096, 1152, 384}, {4096, 384, 384}, {4096, 1536, 384}, {4096, 384, 1536},
                                     {4096, 2304, 768}, {4096, 3072, 768}, {4096, 768, 3072}, {2048, 2048, 2048}};
    printf("{\"mode\": \"sgemm\", \"threads\": %d, \"shapes\": [", threads);
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        long M = shapes[k][0], N = shapes[k][1], K = shapes[k][2];
        float *a = malloc(sizeof(float) * (size_t)(M * K)), *b = malloc(sizeof(float) * (size_t)(K * N));
        float *c = malloc(sizeof(float) * (size_t)(M * N));
        for (long i = 0; i < M * K; i++) a[i] = (float)(i % 13) * 0.01f;
        for (long i = 0; i < K * N; i++) b[i] = (float)(i % 7) * 0.01f;
        double best = 1e30;
        for (int r = 0; r < 6; r++) {
            double t0 = omp_get_wtime();
            dnnl_sgemm('N', 'T', M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
            double dt = omp_get_wtime() - t0;
            if (r && dt < best) best = dt;
        }
        printf("%s{\"m\": %ld, \"n\": %ld, \"k\": %ld, \"gflops_per_s\": %.3f}", k ? ", " : "", M, N, K,
               2.0 * (double)M * (double)N * (double)K / best / 1e9);
        free(a), free(b), free(c);
    }
    printf("]}\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "sgemm") == 0) return bench_sgemm(atoi(argv[2]));
    if (argc != 7 || (strcmp(argv[1], "infer") && strcmp(argv[1], "train"))) {
        fprintf(stderr, "usage: %s infer|train MODEL_DIR BATCH SEQ ITERS THREADS | %s sgemm THREADS\n", argv[0], argv[0]);
        return 2;
    }
    return bench_model(argv[1], argv[2], (size_t)atol(argv[3]), (size_t)atol(argv[4]), atoi(argv[5]), atoi(argv[6]));
}
