/*
 * backend.h — the compute backend interface, version 4 (a vtable, as ggml's
 * backends).
 *
 * The transformer (lib/model) is written once against these operations.
 * Implementations: cpu-ref (backend_ref.c: plain scalar loops, one thread,
 * no library: the oracle every other backend is tested against, op by op, in
 * test/backend), cpu-onednn (backend_cpu.c: oneDNN matrix products and
 * vectorised OpenMP loops) and, with its issue, cuda (host glue here,
 * kernels in kernels/).
 *
 * Rules every backend keeps:
 *  - Every operation returns dm_status. A backend that queues work (a GPU)
 *    may return DM_OK for an operation that later fails; the failure is then
 *    returned by the next operation or by synchronize, naming the operation.
 *  - Every buffer handed to an operation was allocated by the same backend
 *    (alloc) and filled by upload or by other operations; shapes are
 *    row-major. "+=" in a comment means the operation accumulates into its
 *    output (gradients accumulate across micro-batches).
 *  - Results do not depend on the number of threads or on timing
 *    (reductions in a fixed order), so runs are reproducible and a resumed
 *    training equals an uninterrupted one bit for bit.
 *  - Only download and the reductions' readback (read_stats) give results
 *    to the host; a training step needs one of them.
 *
 * Naming follows llm.c: X_fwd / X_bwd pairs; B batch, T sequence length,
 * C channels (hidden size), H heads, D head size, I intermediate size,
 * L number of labels.
 */
#ifndef DM_BACKEND_H
#define DM_BACKEND_H

#include "../core/core.h"
#include "dm_config.h"

#define DMB_INTERFACE_VERSION 4

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

/* Multi-head self-attention on qkv (B x T x 3C: q | k | v, each C = H x D
 * as Hugging Face lays heads out). Scores are q.k / sqrt(D); keys where
 * key_mask is 0 get no weight (every sequence has at least one real key);
 * the probabilities then pass through dropout (on the probabilities, as
 * PyTorch's eager attention). */
typedef struct dmb_attention {
    size_t B, T, H, D;      /* C = H * D */
    const float *key_mask;  /* B x T: 1 for a real token, 0 for padding */
    dmb_dropout dropout;
    int bf16;               /* forward only: both products take bfloat16 inputs */
} dmb_attention;

typedef enum dmb_pool {
    DMB_POOL_FIRST = 1, /* the first token's vector (BERT's [CLS]) */
    DMB_POOL_MEAN = 2   /* the mean over real tokens (key_mask), as sentence-transformers */
} dmb_pool;

typedef enum dmb_reduce {
    DMB_SUM = 1,        /* sum of x */
    DMB_SUM_SQUARES = 2 /* sum of x^2 */
} dmb_reduce;

/* What a backend can do and holds. */
typedef struct dmb_caps {
    int version;          /* the interface version it implements: DMB_INTERFACE_VERSION */
    int f32, bf16;        /* matrix products it computes with these input types */
    int host_memory;      /* 1: alloc returns host memory the caller may read and write */
    int flash_attention;  /* 1: attention keeps row statistics, not the probabilities */
    size_t memory_used;   /* bytes this backend has allocated and not freed */
    size_t memory_total;  /* bytes the device has (0: the host's, not counted) */
} dmb_caps;

struct dmb_ops {
    int version; /* DMB_INTERFACE_VERSION: a backend of another version is refused */
    const char *name;
    dm_device device;
    void (*destroy)(dmb_backend *be);
    /* Waits for the work queued so far; returns the first error it met. */
    dm_status (*synchronize)(dmb_backend *be);
    dm_status (*caps)(dmb_backend *be, dmb_caps *out);

    /* Memory. alloc returns NULL (with DM_ERR_NO_MEMORY set) on failure and
     * memory aligned to 64 bytes. upload and download are synchronous with
     * the host memory they name. */
    void *(*alloc)(dmb_backend *be, size_t bytes);
    void (*free)(dmb_backend *be, void *p);
    dm_status (*upload)(dmb_backend *be, void *dst, const void *src, size_t bytes);
    dm_status (*download)(dmb_backend *be, void *dst, const void *src, size_t bytes);
    dm_status (*zero)(dmb_backend *be, void *dst, size_t bytes);

    /* Linear algebra. */
    dm_status (*gemm)(dmb_backend *be, const dmb_gemm *g);
    /* dbias[n] += sum over rows of dout (rows x n). */
    dm_status (*bias_bwd)(dmb_backend *be, float *dbias, const float *dout, size_t rows, size_t n);
    /* bfloat16 bit patterns of n floats, rounded to nearest even (NaN stays
     * NaN). */
    dm_status (*to_bf16)(dmb_backend *be, uint16_t *dst, const float *src, size_t n);

    /* out = inp + res (n floats); out may alias either. */
    dm_status (*add)(dmb_backend *be, float *out, const float *inp, const float *res, size_t n);

    /* LayerNorm over the last dimension C of N rows: out = (inp - mean) * rstd
     * * w + b; mean and rstd (N each) are saved for the backward pass. */
    dm_status (*layernorm_fwd)(dmb_backend *be, float *out, float *mean, float *rstd, const float *inp,
                               const float *w, const float *b, size_t N, size_t C, float eps);
    /* dinp = d(loss)/d(inp) (written, not accumulated); dw, db += (when not
     * NULL: a frozen LayerNorm's are not computed). */
    dm_status (*layernorm_bwd)(dmb_backend *be, float *dinp, float *dw, float *db, const float *dout,
                               const float *inp, const float *w, const float *mean, const float *rstd,
                               size_t N, size_t C);

    /* GELU (erf form) on n floats; bwd: dinp = dout * gelu'(inp) (written). */
    dm_status (*gelu_fwd)(dmb_backend *be, float *out, const float *inp, size_t n);
    dm_status (*gelu_bwd)(dmb_backend *be, float *dinp, const float *inp, const float *dout, size_t n);

    /* tanh on n floats; bwd from the output: dinp = dout * (1 - out^2). */
    dm_status (*tanh_fwd)(dmb_backend *be, float *out, const float *inp, size_t n);
    dm_status (*tanh_bwd)(dmb_backend *be, float *dinp, const float *out, const float *dout, size_t n);

    /* out = dropout(inp), n floats (out may alias inp); bwd applies the same
     * mask and scale to dout (dinp may alias dout). With p == 0 both copy. */
    dm_status (*dropout_fwd)(dmb_backend *be, float *out, const float *inp, size_t n, const dmb_dropout *d);
    dm_status (*dropout_bwd)(dmb_backend *be, float *dinp, const float *dout, size_t n, const dmb_dropout *d);

    /* Embeddings: out[b,t,:] = wte[ids[b,t]] + wpe[t] + wtt[types[b,t]] (B x T x C). */
    dm_status (*embed_fwd)(dmb_backend *be, float *out, const int32_t *ids, const int32_t *types,
                           const float *wte, const float *wpe, const float *wtt, size_t B, size_t T,
                           size_t C);
    /* dwte[ids] += dout, dwpe[t] += dout, dwtt[types] += dout, each skipped
     * when NULL (a frozen table); deterministic scatter-add. */
    dm_status (*embed_bwd)(dmb_backend *be, float *dwte, float *dwpe, float *dwtt, const float *dout,
                           const int32_t *ids, const int32_t *types, size_t B, size_t T, size_t C);

    /* Attention. What the forward pass keeps for the backward pass is the
     * backend's own ("state": the probabilities B x H x T x T and the heads
     * split out on the CPU; a flash kernel keeps the row log-sum-exp), sized
     * by attention_state_bytes; the backward pass's scratch by
     * attention_scratch_bytes. */
    size_t (*attention_state_bytes)(dmb_backend *be, const dmb_attention *a);
    size_t (*attention_scratch_bytes)(dmb_backend *be, const dmb_attention *a);
    /* out (B x T x C). STATE (attention_state_bytes) is always given; without
     * a backward pass one state may serve every layer. */
    dm_status (*attention_fwd)(dmb_backend *be, float *out, void *state, const float *qkv,
                               const dmb_attention *a);
    /* dqkv (B x T x 3C, written) from dout (B x T x C), given the forward
     * pass's qkv, out and state. */
    dm_status (*attention_bwd)(dmb_backend *be, float *dqkv, void *scratch, const float *dout,
                               const float *qkv, const float *out, const void *state,
                               const dmb_attention *a);

    /* Pooling of hidden states (B x T x C) into out (B x C); bwd: dinp +=
     * (only the pooled tokens receive gradient). */
    dm_status (*pool_fwd)(dmb_backend *be, float *out, const float *inp, const float *key_mask, size_t B,
                          size_t T, size_t C, dmb_pool mode);
    dm_status (*pool_bwd)(dmb_backend *be, float *dinp, const float *dout, const float *key_mask, size_t B,
                          size_t T, size_t C, dmb_pool mode);

    /* Softmax cross-entropy over L classes for B rows of logits. Writes
     * losses[b] = -log softmax(logits[b])[labels[b]] * weights[b] and, when
     * dlogits is not NULL, dlogits[b] = (softmax - onehot) * weights[b] *
     * grad_scale. weights (per example: class weights, sampling or DP
     * weights) may be NULL (all 1). Rows with label < 0 have loss 0 and
     * gradient 0. */
    dm_status (*xent_fwd_bwd)(dmb_backend *be, float *losses, float *dlogits, const float *logits,
                              const int32_t *labels, const float *weights, size_t B, size_t L,
                              float grad_scale);

    /* Reductions into device memory, read back together: dst[0] (a double
     * in backend memory) = (ACCUMULATE ? dst[0] : 0) + the reduction of x
     * (n floats), summed in double in a fixed order. */
    dm_status (*reduce)(dmb_backend *be, double *dst, const float *x, size_t n, dmb_reduce kind,
                        int accumulate);

    /* One AdamW step (PyTorch's torch.optim.AdamW) on n parameters: p -= lr *
     * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / bc1 *
     * m / (sqrt(v) / sqrt(bc2) + eps) with bc = 1 - beta^step; g is scaled by
     * grad_scale first (clipping). */
    dm_status (*adamw)(dmb_backend *be, float *p, const float *g, float *m, float *v, size_t n, float lr,
                       float beta1, float beta2, float eps, float wd, uint64_t step, float grad_scale);

    /* Per-example squared gradient norms for DP-SGD's clipping (added in
     * version 3). Each ADDS to sq[b] (B floats, backend memory), for every
     * example b < B, the squared norm of one parameter site's gradient from
     * example b alone; example b owns the T consecutive rows b*T ... b*T+T-1
     * of the row-major inputs. Sums are taken in double; no per-example
     * gradient need exist in memory.
     *
     * A linear site y = x W^T + bias with dout [B*T, n_out] and inp
     * [B*T, n_in]: WEIGHT adds ||sum_t dout_bt^T inp_bt||_F^2 (the ghost
     * norm sum_{t,s} (inp_bt . inp_bs)(dout_bt . dout_bs) is one way), BIAS
     * adds ||sum_t dout_bt||^2. */
    dm_status (*example_sqnorm_linear)(dmb_backend *be, float *sq, const float *dout, const float *inp, size_t B,
                                       size_t T, size_t n_in, size_t n_out, int weight, int bias);
    /* A LayerNorm over C with INP, MEAN and RSTD as its forward pass kept
     * (xhat = (inp - mean) * rstd): WEIGHT adds ||sum_t dout_bt * xhat_bt||^2
     * (element-wise product), BIAS adds ||sum_t dout_bt||^2. */
    dm_status (*example_sqnorm_layernorm)(dmb_backend *be, float *sq, const float *dout, const float *inp,
                                          const float *mean, const float *rstd, size_t B, size_t T, size_t C,
                                          int weight, int bias);
    /* The embedding tables, from dout [B*T, C] (the gradient of word +
     * position + type embeddings) and the ids and type ids [B*T]: WORDS
     * adds sum over distinct ids v of example b of ||sum_{t: ids_bt = v}
     * dout_bt||^2 (the word table's rows it touches), POSITIONS adds
     * sum_t ||dout_bt||^2 (position t's row is touched once), TYPES adds the
     * words' sum over type ids. */
    dm_status (*example_sqnorm_embed)(dmb_backend *be, float *sq, const float *dout, const int32_t *ids,
                                      const int32_t *types, size_t B, size_t T, size_t C, int words,
                                      int positions, int types_table);

    /* Added in version 4, for DP-SGD's book-keeping (the clipped weight
     * gradients from the norm pass's output gradients, each example's rows
     * scaled by its clip factor): x[b * n + j] *= scale[b] for every b < B,
     * j < n; SCALE is B floats in backend memory. One correctly rounded
     * product per element: every backend agrees bit for bit. */
    dm_status (*scale_examples)(dmb_backend *be, float *x, const float *scale, size_t B, size_t n);
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
    int threads;       /* CPU backends: threads per operation (dmb_set_threads) */
    size_t mem_used;   /* bytes allocated and not freed (caps.memory_used) */
    size_t mem_peak;   /* the most mem_used has been (dmb_note_alloc) */
    dmb_stats stats;
};

/* Creates the backend for DEVICE: DM_DEVICE_AUTO is CUDA if built in and a
 * GPU is present, else the CPU; DM_DEVICE_CPU is cpu-onednn when built with
 * oneDNN, else cpu-ref. The environment variable DM_BACKEND=cpu-ref picks
 * the reference backend for the CPU (for checking a result). */
dm_status dmb_create(dm_device device, int threads, dmb_backend **out);
void dmb_destroy(dmb_backend *be);

/* A backend's alloc adds BYTES to mem_used through this, which keeps the peak. */
static inline void dmb_note_alloc(dmb_backend *be, size_t bytes)
{
    be->mem_used += bytes;
    if (be->mem_used > be->mem_peak) be->mem_peak = be->mem_used;
}

/* Threads for a CPU backend's operations (0 = all cores); ignored by others. */
dm_status dmb_set_threads(dmb_backend *be, int threads);

/* The backends compiled in, by name ("cpu-ref", "cpu-onednn", "cuda"): for
 * the op suite and benchmarks. *OUT NULL and DM_ERR_UNSUPPORTED when NAME is
 * not built in or cannot run here. */
dm_status dmb_create_named(const char *name, int threads, dmb_backend **out);
/* The names of the backends compiled in, NULL-terminated. */
const char *const *dmb_names(void);

dm_status dmb_ref_create(int threads, dmb_backend **out);
#if DM_HAVE_ONEDNN
dm_status dmb_cpu_create(int threads, dmb_backend **out);
#endif
#if DM_HAVE_CUDA_BACKEND
dm_status dmb_cuda_create(int threads, dmb_backend **out);
#endif


#endif
