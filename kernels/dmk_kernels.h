/*
 * dmk_kernels.h — the host-side launchers of the CUDA kernels, one per
 * operation of the backend interface (lib/backend/backend.h, version 3),
 * with the same arguments and the same meaning. C linkage: the backend glue
 * (lib/backend/backend_cuda.c) is C.
 *
 * The same launchers are built twice: by nvcc for the GPU (backend "cuda")
 * and by the host C++ compiler against the emulation layer (backend
 * "cuda-emu", kernels/emu). Pointers are device memory (host memory in the
 * emulation). A launcher only queues work on ENV's stream; it returns 0, or
 * -1 when the scratch memory it asked ENV for could not be had (the glue
 * then reports DM_ERR_NO_MEMORY). Launch errors are the glue's to collect
 * (cudaGetLastError after each op). Arguments are valid: the glue checked
 * them (sizes > 0 where backend.h allows 0 are handled by the glue too).
 */
#ifndef DMK_KERNELS_H
#define DMK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dmk_env {
    void *stream; /* cudaStream_t on the GPU; NULL in the emulation */
    /* Device memory of at least BYTES, 256-byte aligned, valid until the
     * launcher returns and the work it queued is done (the glue serialises
     * ops on one stream, so the next op may reuse it); NULL on failure. A
     * launcher may call it once per op: a second call may move the first. */
    void *(*scratch)(void *owner, size_t bytes);
    void *owner;
    int sm;              /* compute capability x 10 (80, 90); 0 in the emulation (behaves as 80) */
    int fp32_tensor_ops; /* 1: fp32 products may use TF32 tensor cores (not exact); 0: SIMT fp32 */
} dmk_env;

/* --- linear algebra (kernels/gemm.cu) --- */
/* As dmb_gemm (backend.h): C[i] = alpha op(A[i]) op(B[i]) + beta C[i] (+
 * bias, then act) for i < batch. */
typedef struct dmk_gemm_args {
    int trans_a, trans_b;
    size_t m, n, k;
    const void *a;
    size_t lda, stride_a;
    const void *b;
    size_t ldb, stride_b;
    float *c;
    size_t ldc, stride_c;
    size_t batch;
    float alpha, beta;
    const float *bias; /* n entries or NULL */
    int act;           /* 0 none, 1 GELU (erf form) */
    int bf16;          /* a and b are bfloat16 bit patterns */
} dmk_gemm_args;
int dmk_gemm(const dmk_env *env, const dmk_gemm_args *g);

/* --- element-wise, normalisation, embeddings, pooling, loss, optimiser (kernels/ops.cu) --- */
int dmk_bias_bwd(const dmk_env *env, float *dbias, const float *dout, size_t rows, size_t n);
int dmk_to_bf16(const dmk_env *env, uint16_t *dst, const float *src, size_t n);
int dmk_add(const dmk_env *env, float *out, const float *inp, const float *res, size_t n);
int dmk_scale_examples(const dmk_env *env, float *x, const float *scale, size_t B, size_t n);
int dmk_layernorm_fwd(const dmk_env *env, float *out, float *mean, float *rstd, const float *inp, const float *w,
                      const float *b, size_t N, size_t C, float eps);
int dmk_layernorm_bwd(const dmk_env *env, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                      const float *w, const float *mean, const float *rstd, size_t N, size_t C);
int dmk_gelu_fwd(const dmk_env *env, float *out, const float *inp, size_t n);
int dmk_gelu_bwd(const dmk_env *env, float *dinp, const float *inp, const float *dout, size_t n);
int dmk_tanh_fwd(const dmk_env *env, float *out, const float *inp, size_t n);
int dmk_tanh_bwd(const dmk_env *env, float *dinp, const float *out, const float *dout, size_t n);
/* p > 0 (p == 0 is a copy, done by the glue). */
int dmk_dropout(const dmk_env *env, float *out, const float *inp, size_t n, float p, uint64_t seed,
                uint64_t stream);
int dmk_embed_fwd(const dmk_env *env, float *out, const int32_t *ids, const int32_t *types, const float *wte,
                  const float *wpe, const float *wtt, size_t B, size_t T, size_t C);
/* V, NT: rows of wte and wtt, or 0 when unknown (backend.h does not give
 * them; the glue passes 0): the kernel must then not rely on them. */
int dmk_embed_bwd(const dmk_env *env, float *dwte, float *dwpe, float *dwtt, const float *dout, const int32_t *ids,
                  const int32_t *types, size_t B, size_t T, size_t C, size_t V, size_t NT);
int dmk_pool_fwd(const dmk_env *env, float *out, const float *inp, const float *key_mask, size_t B, size_t T,
                 size_t C, int mode /* 1 first, 2 mean */);
int dmk_pool_bwd(const dmk_env *env, float *dinp, const float *dout, const float *key_mask, size_t B, size_t T,
                 size_t C, int mode);
int dmk_xent_fwd_bwd(const dmk_env *env, float *losses, float *dlogits, const float *logits, const int32_t *labels,
                     const float *weights, size_t B, size_t L, float grad_scale);
/* kind 1 sum, 2 sum of squares; dst one double in device memory. */
int dmk_reduce(const dmk_env *env, double *dst, const float *x, size_t n, int kind, int accumulate);
int dmk_adamw(const dmk_env *env, float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
              float beta2, float eps, float wd, uint64_t step, float grad_scale);
/* Per-example squared gradient norms (kernels/ops_dp.cuh): each adds to
 * sq[b] (B floats) as backend.h's example_sqnorm_* (interface version 3). */
int dmk_example_sqnorm_linear(const dmk_env *env, float *sq, const float *dout, const float *inp, size_t B, size_t T,
                              size_t n_in, size_t n_out, int weight, int bias);
int dmk_example_sqnorm_layernorm(const dmk_env *env, float *sq, const float *dout, const float *inp,
                                 const float *mean, const float *rstd, size_t B, size_t T, size_t C, int weight,
                                 int bias);
int dmk_example_sqnorm_embed(const dmk_env *env, float *sq, const float *dout, const int32_t *ids,
                             const int32_t *types, size_t B, size_t T, size_t C, int words, int positions,
                             int types_table);

/* --- attention (kernels/attention.cu): FlashAttention-2 style --- */
typedef struct dmk_attention_args {
    size_t B, T, H, D;
    const float *key_mask; /* B x T */
    float dropout_p;       /* 0 = off */
    uint64_t dropout_seed, dropout_stream;
    int bf16; /* forward only: q, k, v and the probabilities rounded to bfloat16 in the products */
} dmk_attention_args;
/* The state the forward pass keeps (the row log-sum-exp: B x H x T floats)
 * and the backward pass's scratch, in bytes. */
size_t dmk_attention_state_bytes(const dmk_attention_args *a);
size_t dmk_attention_scratch_bytes(const dmk_attention_args *a);
int dmk_attention_fwd(const dmk_env *env, float *out, void *state, const float *qkv, const dmk_attention_args *a);
int dmk_attention_bwd(const dmk_env *env, float *dqkv, void *scratch, const float *dout, const float *qkv,
                      const float *out, const void *state, const dmk_attention_args *a);

#ifdef __cplusplus
}
#endif

#endif
