/*
 * bench_cuda.cu — timings of the CUDA backend's two heavy kernels on a real
 * GPU (scripts/gpu-check.sh builds and runs it; not part of the meson build):
 *
 *  gemm:      C = A W^T (bf16 in, fp32 out), as the model's linear layers,
 *             at M = 4096 and the MiniLM-sized (N, K) below: our dmk_gemm
 *             against cuBLASLt (bf16 A/B, fp32 C, CUBLAS_COMPUTE_32F, the
 *             heuristic's first algorithm with a 32 MiB workspace). Ours is
 *             checked against cuBLASLt's result (whole matrix) and against a
 *             double-precision product on the host (sampled entries).
 *  attention: our dmk_attention_fwd / _bwd (fp32; the forward also with
 *             bf16 products) at D = 32, 64 and T = 128, 512 with B = 32,
 *             H = 12 (B x H = 384), all keys real, no dropout.
 *
 * Each time is the median of SAMPLES samples of INNER back-to-back calls,
 * timed with CUDA events after WARMUP calls. Writes one JSON object per
 * measurement to the file named by --json (flushed line by line, so a crash
 * leaves what was measured) and a table on stdout.
 *
 * usage: bench_cuda [gemm|attention|all] [--json FILE]
 * Built with -DBENCH_NO_CUBLAS where cuBLASLt is not available: ours alone.
 */
#include "dmk_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>
#ifndef BENCH_NO_CUBLAS
#include <cublasLt.h>
#endif

enum { WARMUP = 5, SAMPLES = 15, INNER = 10 };

static FILE *json_out;

/* ------------------------------------------------------------------ helpers */

#define CUDA_OK(call)                                                                                       \
    do {                                                                                                    \
        cudaError_t e_ = (call);                                                                            \
        if (e_ != cudaSuccess) {                                                                            \
            fprintf(stderr, "bench_cuda: %s failed: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, \
                    __LINE__);                                                                              \
            exit(1);                                                                                        \
        }                                                                                                   \
    } while (0)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1) (xorshift64*: inputs only need to be reproducible). */
static float uniform(void)
{
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
    return (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* float -> bfloat16, round to nearest even (inputs are finite). */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float from_bf16(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void *dev_alloc(size_t bytes)
{
    void *p = NULL;
    CUDA_OK(cudaMalloc(&p, bytes));
    return p;
}

template <typename T> static T *dev_copy(const std::vector<T> &h)
{
    T *d = (T *)dev_alloc(h.size() * sizeof(T));
    CUDA_OK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

/* The launchers' scratch: grow-only device memory (dmk_env.scratch). */
static void *scratch_ptr;
static size_t scratch_bytes;
static void *scratch(void *owner, size_t bytes)
{
    (void)owner;
    if (bytes <= scratch_bytes) return scratch_ptr;
    CUDA_OK(cudaDeviceSynchronize()); /* queued work may still use the old one */
    cudaFree(scratch_ptr);
    scratch_ptr = NULL, scratch_bytes = 0;
    if (cudaMalloc(&scratch_ptr, bytes) != cudaSuccess) return NULL;
    scratch_bytes = bytes;
    return scratch_ptr;
}

static dmk_env make_env(void)
{
    cudaDeviceProp p;
    CUDA_OK(cudaGetDeviceProperties(&p, 0));
    dmk_env e = {NULL /* stream 0 */, scratch, NULL, p.major * 10 + p.minor, 0};
    return e;
}

/* Median milliseconds of one call of FN (a callable returning 0 on success). */
template <typename F> static double time_ms(F fn)
{
    cudaEvent_t t0, t1;
    CUDA_OK(cudaEventCreate(&t0));
    CUDA_OK(cudaEventCreate(&t1));
    for (int i = 0; i < WARMUP; i++)
        if (fn()) return -1;
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaGetLastError());
    std::vector<double> ms;
    for (int s = 0; s < SAMPLES; s++) {
        CUDA_OK(cudaEventRecord(t0, 0));
        for (int i = 0; i < INNER; i++)
            if (fn()) return -1;
        CUDA_OK(cudaEventRecord(t1, 0));
        CUDA_OK(cudaEventSynchronize(t1));
        float m = 0;
        CUDA_OK(cudaEventElapsedTime(&m, t0, t1));
        ms.push_back(m / INNER);
    }
    CUDA_OK(cudaGetLastError());
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

/* A JSON number, or the string "nan" / "inf" (bare nan is not JSON). */
struct jnum {
    char s[32];
    explicit jnum(double x)
    {
        if (std::isnan(x)) snprintf(s, sizeof s, "\"nan\"");
        else if (std::isinf(x)) snprintf(s, sizeof s, "\"inf\"");
        else snprintf(s, sizeof s, "%.4g", x);
    }
};

static double tflops(double flops, double ms) { return ms > 0 ? flops / (ms * 1e-3) / 1e12 : -1; }

/* ------------------------------------------------------------------ cuBLASLt */

#ifndef BENCH_NO_CUBLAS
#define LT_OK(call)                                                                                   \
    do {                                                                                              \
        cublasStatus_t s_ = (call);                                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                            \
            fprintf(stderr, "bench_cuda: %s failed: status %d (%s:%d)\n", #call, (int)s_, __FILE__, \
                    __LINE__);                                                                        \
            return -1;                                                                                \
        }                                                                                             \
    } while (0)

/* One row-major C (M x N, fp32) = A (M x K) W^T (W: N x K), both bf16,
 * planned once. In cuBLAS's column-major terms: C^T (N x M) = W A^T with
 * W read as the transpose of a K x N matrix ("TN"). */
typedef struct lt_plan {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    void *workspace;
    size_t workspace_bytes;
} lt_plan;

static int lt_plan_make(lt_plan *p, cublasLtHandle_t lt, size_t M, size_t N, size_t K)
{
    memset(p, 0, sizeof *p);
    p->lt = lt;
    p->workspace_bytes = 32u << 20;
    p->workspace = dev_alloc(p->workspace_bytes);
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    LT_OK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    LT_OK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    LT_OK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    LT_OK(cublasLtMatrixLayoutCreate(&p->la, CUDA_R_16BF, K, N, K)); /* W as K x N */
    LT_OK(cublasLtMatrixLayoutCreate(&p->lb, CUDA_R_16BF, K, M, K)); /* A^T */
    LT_OK(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, N, M, N));  /* C^T */
    cublasLtMatmulPreference_t pref;
    LT_OK(cublasLtMatmulPreferenceCreate(&pref));
    LT_OK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &p->workspace_bytes,
                                               sizeof p->workspace_bytes));
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    LT_OK(cublasLtMatmulAlgoGetHeuristic(lt, p->op, p->la, p->lb, p->lc, p->lc, pref, 1, &result, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (found == 0) {
        fprintf(stderr, "bench_cuda: cuBLASLt found no algorithm for %zu x %zu x %zu\n", M, N, K);
        return -1;
    }
    p->algo = result.algo;
    return 0;
}

static int lt_run(const lt_plan *p, const uint16_t *a, const uint16_t *w, float *c)
{
    float alpha = 1, beta = 0;
    LT_OK(cublasLtMatmul(p->lt, p->op, &alpha, w, p->la, a, p->lb, &beta, c, p->lc, c, p->lc, &p->algo, p->workspace,
                         p->workspace_bytes, 0));
    return 0;
}

static void lt_plan_free(lt_plan *p)
{
    cublasLtMatrixLayoutDestroy(p->la);
    cublasLtMatrixLayoutDestroy(p->lb);
    cublasLtMatrixLayoutDestroy(p->lc);
    cublasLtMatmulDescDestroy(p->op);
    cudaFree(p->workspace);
}
#endif

/* ------------------------------------------------------------------ gemm */

/* The largest |ours - ref| and the largest |ref| over N values. */
static void max_diff(const float *ours, const float *ref, size_t n, double *diff, double *scale)
{
    *diff = 0, *scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)ours[i] - (double)ref[i]);
        if (!(d <= *diff)) *diff = d; /* NaN counts as the worst */
        *scale = std::max(*scale, fabs((double)ref[i]));
    }
}

/* Our C against a double-precision product on the host at 512 sampled
 * entries: the largest |diff| / max |ref| of those. */
static double host_check(const std::vector<uint16_t> &a, const std::vector<uint16_t> &w, const std::vector<float> &c,
                         size_t M, size_t N, size_t K)
{
    double worst = 0, scale = 1e-30;
    for (int s = 0; s < 512; s++) {
        size_t i = (size_t)(s * 2654435761u) % M, j = (size_t)(s * 40503u + 7) % N;
        double ref = 0;
        for (size_t k = 0; k < K; k++) ref += (double)from_bf16(a[i * K + k]) * (double)from_bf16(w[j * K + k]);
        double d = fabs((double)c[i * N + j] - ref);
        if (!(d <= worst)) worst = d;
        scale = std::max(scale, fabs(ref));
    }
    return worst / scale;
}

static void bench_gemm_shape(const dmk_env *env, size_t M, size_t N, size_t K, void *lt_handle)
{
    std::vector<uint16_t> ha(M * K), hw(N * K);
    for (auto &x : ha) x = to_bf16(uniform());
    for (auto &x : hw) x = to_bf16(uniform());
    uint16_t *a = dev_copy(ha), *w = dev_copy(hw);
    float *c = (float *)dev_alloc(M * N * sizeof(float));
    float *c_ref = (float *)dev_alloc(M * N * sizeof(float));

    dmk_gemm_args g;
    memset(&g, 0, sizeof g);
    g.trans_a = 0, g.trans_b = 1, g.m = M, g.n = N, g.k = K;
    g.a = a, g.lda = K, g.b = w, g.ldb = K, g.c = c, g.ldc = N, g.batch = 1;
    g.alpha = 1, g.beta = 0, g.bias = NULL, g.act = 0, g.bf16 = 1;
    double flops = 2.0 * M * N * K;

    double ours_ms = time_ms([&] { return dmk_gemm(env, &g); });
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<float> hc(M * N), hc_ref(M * N);
    CUDA_OK(cudaMemcpy(hc.data(), c, M * N * sizeof(float), cudaMemcpyDeviceToHost));
    double host_rel = host_check(ha, hw, hc, M, N, K);

    double lt_ms = -1, lt_rel = -1, lt_abs = -1;
#ifndef BENCH_NO_CUBLAS
    lt_plan p;
    if (lt_handle && lt_plan_make(&p, (cublasLtHandle_t)lt_handle, M, N, K) == 0) {
        lt_ms = time_ms([&] { return lt_run(&p, a, w, c_ref); });
        CUDA_OK(cudaDeviceSynchronize());
        CUDA_OK(cudaMemcpy(hc_ref.data(), c_ref, M * N * sizeof(float), cudaMemcpyDeviceToHost));
        double scale;
        max_diff(hc.data(), hc_ref.data(), M * N, &lt_abs, &scale);
        lt_rel = lt_abs / std::max(scale, 1e-30);
        lt_plan_free(&p);
    }
#else
    (void)lt_handle;
#endif
    double ours_tf = tflops(flops, ours_ms), lt_tf = tflops(flops, lt_ms);
    double ratio = (ours_ms > 0 && lt_ms > 0) ? lt_ms / ours_ms : -1;
    printf("gemm  M %5zu N %5zu K %5zu | ours %8.4f ms %7.1f TFLOP/s | cuBLASLt %8.4f ms %7.1f TFLOP/s | "
           "ours/cuBLASLt %.3f | max rel err vs cuBLASLt %.2e, vs host (sampled) %.2e\n",
           M, N, K, ours_ms, ours_tf, lt_ms, lt_tf, ratio, lt_rel, host_rel);
    fprintf(json_out,
            "{\"bench\":\"gemm\",\"dtype\":\"bf16->fp32\",\"M\":%zu,\"N\":%zu,\"K\":%zu,\"ours_ms\":%.6f,"
            "\"ours_tflops\":%.3f,\"cublaslt_ms\":%.6f,\"cublaslt_tflops\":%.3f,\"ratio_ours_over_cublaslt\":%.4f,"
            "\"max_abs_err_vs_cublaslt\":%s,\"max_rel_err_vs_cublaslt\":%s,\"max_rel_err_vs_host\":%s}\n",
            M, N, K, ours_ms, ours_tf, lt_ms, lt_tf, ratio, jnum(lt_abs).s, jnum(lt_rel).s, jnum(host_rel).s);
    fflush(stdout);
    fflush(json_out);
    cudaFree(a), cudaFree(w), cudaFree(c), cudaFree(c_ref);
}

static int bench_gemm(const dmk_env *env)
{
    static const size_t shapes[][2] = {{768, 768}, {3072, 768}, {768, 3072}, {384, 384}, {1536, 384}};
    void *lt = NULL;
#ifndef BENCH_NO_CUBLAS
    cublasLtHandle_t h;
    if (cublasLtCreate(&h) == CUBLAS_STATUS_SUCCESS)
        lt = h;
    else
        fprintf(stderr, "bench_cuda: cublasLtCreate failed: no cuBLASLt comparison\n");
#else
    printf("(built without cuBLASLt: ours alone)\n");
#endif
    for (auto &s : shapes) bench_gemm_shape(env, 4096, s[0], s[1], lt);
#ifndef BENCH_NO_CUBLAS
    if (lt) cublasLtDestroy((cublasLtHandle_t)lt);
#endif
    return 0;
}

/* ------------------------------------------------------------------ attention */

/* Non-finite values among N floats of device memory. */
static size_t count_nonfinite(const float *d, size_t n)
{
    std::vector<float> h(n);
    CUDA_OK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    size_t bad = 0;
    for (float x : h) bad += !std::isfinite(x);
    return bad;
}

static void bench_attention_shape(const dmk_env *env, size_t B, size_t H, size_t T, size_t D)
{
    size_t C = H * D, n_qkv = B * T * 3 * C, n_out = B * T * C;
    std::vector<float> h(n_qkv);
    for (auto &x : h) x = uniform();
    float *qkv = dev_copy(h);
    h.assign(n_out, 0);
    for (auto &x : h) x = uniform();
    float *dout = dev_copy(h);
    std::vector<float> ones(B * T, 1.0f);
    float *mask = dev_copy(ones);
    float *out = (float *)dev_alloc(n_out * sizeof(float));
    float *dqkv = (float *)dev_alloc(n_qkv * sizeof(float));

    dmk_attention_args a;
    memset(&a, 0, sizeof a);
    a.B = B, a.T = T, a.H = H, a.D = D, a.key_mask = mask, a.dropout_p = 0, a.bf16 = 0;
    void *state = dev_alloc(std::max<size_t>(dmk_attention_state_bytes(&a), 256));
    void *bwd_scratch = dev_alloc(std::max<size_t>(dmk_attention_scratch_bytes(&a), 256));
    double fwd_flops = 4.0 * B * H * T * T * D, bwd_flops = 2.5 * fwd_flops;

    double fwd_ms = time_ms([&] { return dmk_attention_fwd(env, out, state, qkv, &a); });
    double bwd_ms =
        time_ms([&] { return dmk_attention_bwd(env, dqkv, bwd_scratch, dout, qkv, out, state, &a); });
    CUDA_OK(cudaDeviceSynchronize());
    size_t bad = count_nonfinite(out, n_out) + count_nonfinite(dqkv, n_qkv);
    dmk_attention_args a16 = a;
    a16.bf16 = 1;
    double fwd16_ms = time_ms([&] { return dmk_attention_fwd(env, out, state, qkv, &a16); });
    CUDA_OK(cudaDeviceSynchronize());
    bad += count_nonfinite(out, n_out);

    printf("attn  B %3zu H %3zu T %4zu D %3zu | fwd fp32 %8.4f ms %6.1f TFLOP/s | bwd fp32 %8.4f ms %6.1f "
           "TFLOP/s | fwd bf16 %8.4f ms %6.1f TFLOP/s | non-finite outputs %zu\n",
           B, H, T, D, fwd_ms, tflops(fwd_flops, fwd_ms), bwd_ms, tflops(bwd_flops, bwd_ms), fwd16_ms,
           tflops(fwd_flops, fwd16_ms), bad);
    fprintf(json_out,
            "{\"bench\":\"attention\",\"B\":%zu,\"H\":%zu,\"T\":%zu,\"D\":%zu,\"fwd_ms\":%.6f,\"fwd_tflops\":%.3f,"
            "\"bwd_ms\":%.6f,\"bwd_tflops\":%.3f,\"fwd_bf16_ms\":%.6f,\"fwd_bf16_tflops\":%.3f,\"nonfinite\":%zu}\n",
            B, H, T, D, fwd_ms, tflops(fwd_flops, fwd_ms), bwd_ms, tflops(bwd_flops, bwd_ms), fwd16_ms,
            tflops(fwd_flops, fwd16_ms), bad);
    fflush(stdout);
    fflush(json_out);
    cudaFree(qkv), cudaFree(dout), cudaFree(mask), cudaFree(out), cudaFree(dqkv);
    cudaFree(state), cudaFree(bwd_scratch);
}

static int bench_attention(const dmk_env *env)
{
    static const size_t Ds[] = {32, 64}, Ts[] = {128, 512};
    for (size_t d : Ds)
        for (size_t t : Ts) bench_attention_shape(env, 32, 12, t, d);
    return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    const char *what = "all", *json_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json_path = argv[++i];
        else if (argv[i][0] != '-')
            what = argv[i];
        else {
            fprintf(stderr, "usage: bench_cuda [gemm|attention|all] [--json FILE]\n");
            return 2;
        }
    }
    json_out = json_path ? fopen(json_path, "a") : stderr;
    if (!json_out) {
        perror(json_path);
        return 2;
    }
    CUDA_OK(cudaSetDevice(0));
    dmk_env env = make_env();
    cudaDeviceProp p;
    CUDA_OK(cudaGetDeviceProperties(&p, 0));
    printf("bench_cuda on %s (sm_%d, %d SMs); median of %d samples of %d calls after %d warm-up calls\n", p.name,
           env.sm, p.multiProcessorCount, SAMPLES, INNER, WARMUP);
    int rc = 0;
    if (!strcmp(what, "gemm") || !strcmp(what, "all")) rc |= bench_gemm(&env);
    if (!strcmp(what, "attention") || !strcmp(what, "all")) rc |= bench_attention(&env);
    CUDA_OK(cudaDeviceSynchronize());
    if (json_path) fclose(json_out);
    return rc;
}
