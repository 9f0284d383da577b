/*
 * ops.cu — the CUDA backend's kernels other than the matrix products and
 * attention: the "element-wise, normalisation, embeddings, pooling, loss,
 * optimiser" launchers of dmk_kernels.h, matching cpu-ref
 * (lib/backend/backend_ref.c) op by op within the op suite's tolerances
 * (test/backend/test_ops.c), and bit for bit where the suite asks for it.
 *
 * One translation unit (what the build and kernels/emu/ops_emu.cpp compile)
 * made of parts:
 *   ops_common.cuh      launch shapes, deterministic warp / block sums
 *   ops_elementwise.cuh to_bf16, add, scale_examples, GELU, tanh, dropout, AdamW
 *   ops_norm.cuh        bias_bwd, LayerNorm forward and backward
 *   ops_embed.cuh       embeddings forward and backward, pooling
 *   ops_loss.cuh        cross-entropy, reductions
 *   ops_dp.cuh          per-example squared gradient norms (DP-SGD clipping)
 *
 * Determinism (backend.h): no float atomics anywhere; every sum runs in an
 * order fixed by the shape alone (warp butterflies, per-chunk partial sums
 * in scratch added in chunk order, a sorted token list for the embedding
 * scatter), so results do not depend on timing.
 */
#include "ops_common.cuh"

#include "ops_elementwise.cuh"
#include "ops_norm.cuh"
#include "ops_embed.cuh"
#include "ops_loss.cuh"
#include "ops_dp.cuh"
