#!/usr/bin/env python3
"""PyTorch peers of test/bench/bench_cuda.cu, on the same shapes, for
scripts/gpu-check.sh's results table:

  gemm:      torch.matmul(A, W.t()) in bf16 (bf16 out: PyTorch's usual path,
             for reference) at M = 4096 and the same (N, K);
  attention: torch.nn.functional.scaled_dot_product_attention forward and
             forward + backward, q/k/v laid out as ours (views of one
             B x T x 3C tensor, as Hugging Face's BERT), no mask, no dropout:
             bf16 with the flash backend and with cuDNN's fused attention
             (PyTorch's binding of cuDNN's SDPA graph: the issue's cuDNN
             peer, until our own runtime switch to it exists), fp32 with the
             efficient and the math backends.

Times are medians of 15 samples of 10 calls each after 5 warm-up calls,
timed with CUDA events (as bench_cuda). A backend that cannot run a case is
recorded with its error. Writes one JSON object per line to --json.
usage: bench_cuda_torch.py [--json FILE]
"""
import argparse
import json
import statistics
import sys

import torch
import torch.nn.functional as F

WARMUP, SAMPLES, INNER = 5, 15, 10
GEMM_SHAPES = [(768, 768), (3072, 768), (768, 3072), (384, 384), (1536, 384)]
ATT_SHAPES = [(32, 12, t, d) for d in (32, 64) for t in (128, 512)]


def time_ms(fn):
    """Median milliseconds of one call of fn."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(SAMPLES):
        t0 = torch.cuda.Event(enable_timing=True)
        t1 = torch.cuda.Event(enable_timing=True)
        t0.record()
        for _ in range(INNER):
            fn()
        t1.record()
        t1.synchronize()
        samples.append(t0.elapsed_time(t1) / INNER)
    return statistics.median(samples)


def tflops(flops, ms):
    return flops / (ms * 1e-3) / 1e12 if ms and ms > 0 else 0.0


def emit(out, rec):
    print(json.dumps(rec), file=out, flush=True)


def bench_gemm(out):
    for n, k in GEMM_SHAPES:
        m = 4096
        a = torch.rand(m, k, device="cuda", dtype=torch.bfloat16) * 2 - 1
        w = torch.rand(n, k, device="cuda", dtype=torch.bfloat16) * 2 - 1
        ms = time_ms(lambda: torch.matmul(a, w.t()))
        tf = tflops(2.0 * m * n * k, ms)
        print(f"torch gemm bf16  M {m} N {n} K {k}: {ms:.4f} ms {tf:.1f} TFLOP/s", flush=True)
        emit(out, {"bench": "torch_gemm", "dtype": "bf16->bf16", "M": m, "N": n, "K": k, "ms": ms, "tflops": tf})


def sdpa_backend(name):
    from torch.nn.attention import SDPBackend

    return {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "math": SDPBackend.MATH, "cudnn": SDPBackend.CUDNN_ATTENTION}[name]


def bench_attention_case(out, B, H, T, D, dtype, backend):
    """Forward and forward + backward of one case; backward = the difference."""
    from torch.nn.attention import sdpa_kernel

    C = H * D
    qkv = (torch.rand(B, T, 3 * C, device="cuda", dtype=dtype) * 2 - 1).requires_grad_(True)
    dout = torch.rand(B, H, T, D, device="cuda", dtype=dtype) * 2 - 1

    def heads(x):  # B x T x C -> B x H x T x D (a view, as Hugging Face's BERT)
        return x.view(B, T, H, D).transpose(1, 2)

    def forward():
        q, k, v = qkv.split(C, dim=2)
        return F.scaled_dot_product_attention(heads(q), heads(k), heads(v))

    def forward_backward():
        qkv.grad = None
        forward().backward(dout)

    rec = {"bench": "torch_attention", "dtype": str(dtype).replace("torch.", ""), "backend": backend,
           "B": B, "H": H, "T": T, "D": D}
    try:
        with sdpa_kernel([sdpa_backend(backend)]):
            fwd = time_ms(forward)
            both = time_ms(forward_backward)
        flops = 4.0 * B * H * T * T * D
        rec.update(fwd_ms=fwd, fwd_tflops=tflops(flops, fwd), bwd_ms=both - fwd,
                   bwd_tflops=tflops(2.5 * flops, both - fwd))
        print(f"torch sdpa {backend:9s} {rec['dtype']:8s} B {B} H {H} T {T} D {D}: fwd {fwd:.4f} ms "
              f"{rec['fwd_tflops']:.1f} TFLOP/s, bwd {both - fwd:.4f} ms {rec['bwd_tflops']:.1f} TFLOP/s", flush=True)
    except Exception as e:  # a backend that does not support the case
        rec["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        print(f"torch sdpa {backend} {dtype} B {B} T {T} D {D}: {rec['error']}", flush=True)
    emit(out, rec)
    del qkv, dout
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_cuda_torch: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    out = open(args.json, "a") if args.json else sys.stdout
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}", flush=True)
    bench_gemm(out)
    for B, H, T, D in ATT_SHAPES:
        bench_attention_case(out, B, H, T, D, torch.bfloat16, "flash")
        bench_attention_case(out, B, H, T, D, torch.bfloat16, "cudnn")
        bench_attention_case(out, B, H, T, D, torch.float32, "efficient")
        bench_attention_case(out, B, H, T, D, torch.float32, "math")
    return 0


if __name__ == "__main__":
    sys.exit(main())
