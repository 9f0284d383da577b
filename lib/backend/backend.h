/*
 * backend.h — the compute backend interface (a vtable, as ggml's backends).
 *
 * The transformer (lib/model) is written once against these operations; the
 * CPU backend (backend_cpu.c) implements them with oneDNN primitives and
 * vectorised loops on OpenMP, a CUDA backend with our own kernels. Every
 * buffer handed to an operation lives in the backend's memory (alloc/upload);
 * shapes are row-major; "+=" in a comment means the operation accumulates into
 * its output (gradients accumulate across micro-batches).
 *
 * Naming follows llm.c: X_fwd / X_bwd pairs; B batch, T sequence length,
 * C channels (hidden size), H heads, D head size, I intermediate size,
 * L number of labels.
 *
 * Operations that cannot fail on valid shapes return void; those that build
 * library objects (oneDNN primitives, CUDA launches) return dm_status.
 */
#ifndef DM_BACKEND_H
#define DM_BACKEND_H

#include "../core/core.h"

typedef struct dmb_backend dmb_backend;

typedef enum dmb_act {
    DMB_ACT_NONE = 0,
    DMB_ACT_GELU = 1 /* erf form: x * 0.5 * (1 + erf(x / sqrt(2))), as BERT's "gelu" */
} dmb_act;

/* C[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i] (+ bias[n] on every row,
 * then act) for i < batch; op = transpose when trans_x. op(A) is m x k, op(B)
 * k x n, C m x n with leading dimensions lda, ldb, ldc and batch strides
 * stride_x (elements). beta is 0 or 1; act needs beta == 0. A and B are
 * float32, or bfloat16 (uint16_t bit patterns) when bf16 is set; C, the bias
 * and the accumulation are always float32. */
typedef struct dmb_gemm {
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
    const float *bias; /* n entries, or NULL */
    dmb_act act;
    int bf16;
} dmb_gemm;

/* Dropout: element j of a call keeps its value with probability 1 - p (scaled
 * by 1 / (1 - p)) or becomes 0. Which elements drop is a pure function of
 * (seed, stream, j) through Philox4x32-10 (lib/core/rng.h), so the backward
 * pass recomputes the mask instead of storing it and every backend agrees.
 * Exactly: with blocks of 8192 elements, element i of block b reads Philox
 * word w = b * 4096 + (i mod 4096) (word w mod 4 of counter (stream, w / 4)
 * under key seed), its low 16 bits when i < 4096, else its high 16 bits, and
 * is kept when those bits / 2^16 >= p. */
typedef struct dmb_dropout {
    float p;         /* 0 = off */
    uint64_t seed;
    uint64_t stream; /* unique per dropout site and step */
} dmb_dropout;

typedef struct dmb_attention {
    size_t B, T, H, D;      /* C = H * D */
    const float *key_mask;  /* B x T: 1 for a real token, 0 for padding (no weight) */
    dmb_dropout dropout;    /* on the attention probabilities */
    int bf16;               /* forward only: both products take bfloat16 inputs */
} dmb_attention;

struct dmb_ops {
    const char *name;
    dm_device device;
    int host_memory; /* 1: alloc returns host memory the caller may read and write */
    void (*destroy)(dmb_backend *be);
    dm_status (*set_threads)(dmb_backend *be, int threads);

    /* Memory. alloc returns NULL (with DM_ERR_NO_MEMORY set) on failure and
     * memory aligned to 64 bytes. */
    void *(*alloc)(dmb_backend *be, size_t bytes);
    void (*free)(dmb_backend *be, void *p);
    dm_status (*upload)(dmb_backend *be, void *dst, const void *src, size_t bytes);
    dm_status (*download)(dmb_backend *be, void *dst, const void *src, size_t bytes);
    dm_status (*copy)(dmb_backend *be, void *dst, const void *src, size_t bytes);
    dm_status (*zero)(dmb_backend *be, void *dst, size_t bytes);

    /* Linear algebra. */
    dm_status (*gemm)(dmb_backend *be, const dmb_gemm *g);
    /* dbias[n] += sum over rows of dout (rows x n). */
    void (*bias_bwd)(dmb_backend *be, float *dbias, const float *dout, size_t rows, size_t n);

    /* bfloat16 bit patterns of n floats, rounded to nearest even (NaN stays
     * NaN). */
    void (*to_bf16)(dmb_backend *be, uint16_t *dst, const float *src, size_t n);

    /* out = inp + res (n floats); out may alias either. */
    void (*add)(dmb_backend *be, float *out, const float *inp, const float *res, size_t n);
    /* x *= s (n floats). */
    void (*scale)(dmb_backend *be, float *x, float s, size_t n);

    /* LayerNorm over the last dimension C of N rows: out = (inp - mean) * rstd
     * * w + b; mean and rstd (N each) are saved for the backward pass. */
    dm_status (*layernorm_fwd)(dmb_backend *be, float *out, float *mean, float *rstd,
                               const float *inp, const float *w, const float *b, size_t N,
                               size_t C, float eps);
    /* dinp = d(loss)/d(inp) (written, not accumulated); dw, db +=. */
    dm_status (*layernorm_bwd)(dmb_backend *be, float *dinp, float *dw, float *db,
                               const float *dout, const float *inp, const float *w,
                               const float *mean, const float *rstd, size_t N, size_t C);

    /* GELU (erf form) on n floats; bwd: dinp = dout * gelu'(inp) (written). */
    dm_status (*gelu_fwd)(dmb_backend *be, float *out, const float *inp, size_t n);
    dm_status (*gelu_bwd)(dmb_backend *be, float *dinp, const float *inp, const float *dout,
                          size_t n);

    /* tanh on n floats; bwd from the output: dinp = dout * (1 - out^2). */
    void (*tanh_fwd)(dmb_backend *be, float *out, const float *inp, size_t n);
    void (*tanh_bwd)(dmb_backend *be, float *dinp, const float *out, const float *dout, size_t n);

    /* out = dropout(inp), n floats (out may alias inp); bwd applies the same
     * mask and scale to dout. With p == 0 both copy. */
    void (*dropout_fwd)(dmb_backend *be, float *out, const float *inp, size_t n,
                        const dmb_dropout *d);
    void (*dropout_bwd)(dmb_backend *be, float *dinp, const float *dout, size_t n,
                        const dmb_dropout *d);

    /* Embeddings: out[b,t,:] = wte[ids[b,t]] + wpe[t] + wtt[types[b,t]] (B x T x C). */
    void (*embed_fwd)(dmb_backend *be, float *out, const int32_t *ids, const int32_t *types,
                      const float *wte, const float *wpe, const float *wtt, size_t B, size_t T,
                      size_t C);
    /* dwte[ids] += dout, dwpe[t] += dout, dwtt[types] += dout (deterministic:
     * the same result whatever the thread count). */
    void (*embed_bwd)(dmb_backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                      const int32_t *ids, const int32_t *types, size_t B, size_t T, size_t C);

    /* Multi-head self-attention core on qkv (B x T x 3C: q | k | v, each C =
     * H x D as Hugging Face lays heads out). Writes out (B x T x C), and saves
     * for the backward pass: qkvr (3 x B x H x T x D, the heads split out) and
     * att (B x H x T x T, softmax probabilities before dropout). Scores are
     * q.k / sqrt(D); keys where key_mask is 0 get no weight. */
    dm_status (*attention_fwd)(dmb_backend *be, float *out, float *qkvr, float *att,
                               const float *qkv, const dmb_attention *a);
    /* dqkv (B x T x 3C, written) from dout (B x T x C); scratch needs
     * 3 x B x H x T x D + B x H x T x T floats. */
    dm_status (*attention_bwd)(dmb_backend *be, float *dqkv, float *scratch, const float *dout,
                               const float *qkvr, const float *att, const dmb_attention *a);

    /* Softmax cross-entropy over L classes for B rows of logits. Writes
     * losses[b] = -log softmax(logits[b])[labels[b]] * w[labels[b]] and, when
     * dlogits is not NULL, dlogits = (softmax - onehot) * w[label] * grad_scale.
     * class_weights may be NULL (all 1). Rows with label < 0 are ignored
     * (loss 0, gradient 0). */
    void (*xent_fwd_bwd)(dmb_backend *be, float *losses, float *dlogits, const float *logits,
                         const int32_t *labels, const float *class_weights, size_t B, size_t L,
                         float grad_scale);

    /* Copies row 0 of every sequence: out[b,:] = inp[b,0,:] (B x C). bwd:
     * dinp[b,0,:] += dout[b,:]. */
    void (*first_token_fwd)(dmb_backend *be, float *out, const float *inp, size_t B, size_t T,
                            size_t C);
    void (*first_token_bwd)(dmb_backend *be, float *dinp, const float *dout, size_t B, size_t T,
                            size_t C);

    /* Optimiser. sum of squares of n floats (in double). */
    double (*sum_squares)(dmb_backend *be, const float *x, size_t n);
    /* One AdamW step (PyTorch's torch.optim.AdamW) on n parameters: p -= lr *
     * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / bc1 *
     * m / (sqrt(v) / sqrt(bc2) + eps) with bc = 1 - beta^step; g is scaled by
     * grad_scale first (clipping). */
    void (*adamw)(dmb_backend *be, float *p, const float *g, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float wd, uint64_t step,
                  float grad_scale);
};

/* Counters a backend keeps for benchmarks: time spent in and floating-point
 * operations done by its matrix products (2 m n k per product). */
typedef struct dmb_stats {
    double gemm_seconds;
    double gemm_flops;
    uint64_t gemm_calls;
} dmb_stats;

struct dmb_backend {
    const struct dmb_ops *ops;
    int threads;
    dmb_stats stats;
};

/* Creates the backend for DEVICE (DM_DEVICE_AUTO: CUDA if built in and a GPU
 * is present, else CPU). */
dm_status dmb_create(dm_device device, int threads, dmb_backend **out);
void dmb_destroy(dmb_backend *be);

dm_status dmb_cpu_create(int threads, dmb_backend **out);
#if DM_HAVE_CUDA_BACKEND
dm_status dmb_cuda_create(int threads, dmb_backend **out);
#endif

#endif
