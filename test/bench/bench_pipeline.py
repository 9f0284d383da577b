#!/usr/bin/env python3
"""Data-preparation pipeline benchmark: `dm clean`, `dm dedup`, `dm split --stratify` in sequence
(through files, one process per step) against the same pipeline in pandas + datasketch +
scikit-learn (one process: NFKC and whitespace cleaning with pandas str methods, exact duplicates
with drop_duplicates on the normalised text, near duplicates with datasketch MinHashLSH over
character 5-grams, 128 permutations, threshold 0.8, candidates verified by exact Jaccard, and a
stratified 80/10/10 train_test_split), on online_shopping_10_cats.csv and SST-2 train.

Wall time per step and peak resident memory: for dm, each step's own peak, read through GNU time
(/usr/bin/time -f %M: the rusage of a child forked from the small `time` process; os.wait4 on a
child of this Python process would carry this process's size across exec, as ru_maxrss keeps the
high-water mark of the image before exec); for pandas, the worker's VmHWM. Writes
test/bench/out/pipeline.json.

Run: python3 test/bench/bench_pipeline.py [--build build] [--repeat 3] [--threads 0]"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.environ.get("DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data")
DATASETS = {
    "shopping": (os.path.join(DATA, "online_shopping_10_cats", "online_shopping_10_cats.csv"), "review", "csv"),
    "sst2": (os.path.join(DATA, "sst2", "train.tsv"), "sentence", "tsv"),
}

PANDAS_WORKER = r"""
import json, re, sys, time, unicodedata
t_start = time.perf_counter()
import numpy as np, pandas as pd
from datasketch import MinHash, MinHashLSH
from sklearn.model_selection import train_test_split
t_import = time.perf_counter() - t_start

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024.0

src, text_col, sep, out_dir = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
times, rows = {}, {}

# clean: NFKC, control characters out (tabs and newlines to spaces), whitespace collapsed, trimmed;
# rows with an empty text or no label dropped
t0 = time.perf_counter()
df = pd.read_csv(src, sep=sep, dtype=str, keep_default_na=False, quoting=3 if sep == "\t" else 0)
df.insert(0, "id", np.arange(1, len(df) + 1).astype(str))
s = df[text_col].str.normalize("NFKC")
s = s.str.replace(r"[\t\n\r\v\f]", " ", regex=True)
s = s.str.replace(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufeff\u200b\u200e\u200f]", "", regex=True)
s = s.str.replace(r"\s+", " ", regex=True).str.strip()
df[text_col] = s
df["label"] = df["label"].str.strip()
df = df[(df[text_col] != "") & (df["label"] != "")]
df.to_csv(f"{out_dir}/clean.csv", index=False)
times["clean"], rows["clean"] = time.perf_counter() - t0, len(df)

# dedup: exact on the normalised text (NFKC, case folded, whitespace collapsed), then MinHash LSH
t0 = time.perf_counter()
df = pd.read_csv(f"{out_dir}/clean.csv", dtype=str, keep_default_na=False)
key = df[text_col].str.normalize("NFKC").str.casefold().str.replace(r"\s+", " ", regex=True).str.strip()
keep = ~key.duplicated()
df, key = df[keep], key[keep]
exact = int((~keep).sum())
lsh = MinHashLSH(threshold=0.8, num_perm=128)
kept, sets, near = [], {}, 0
for i, k in zip(df.index, key):
    sh = {k[j:j + 5] for j in range(max(1, len(k) - 4))}
    m = MinHash(num_perm=128, seed=1)
    m.update_batch([x.encode("utf-8") for x in sh])
    dup = False
    for c in lsh.query(m):
        other = sets[c]
        if len(sh & other) / len(sh | other) >= 0.8:
            dup = True
            break
    if dup:
        near += 1
        continue
    lsh.insert(i, m)
    sets[i] = sh
    kept.append(i)
df = df.loc[kept]
df.to_csv(f"{out_dir}/dedup.csv", index=False)
times["dedup"], rows["dedup"] = time.perf_counter() - t0, len(df)

# split: stratified 80/10/10
t0 = time.perf_counter()
df = pd.read_csv(f"{out_dir}/dedup.csv", dtype=str, keep_default_na=False)
train, rest = train_test_split(df, test_size=0.2, stratify=df["label"], random_state=42)
val, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=42)
for name, part in (("train", train), ("val", val), ("test", test)):
    part.sort_index().to_csv(f"{out_dir}/{name}.csv", index=False)
times["split"], rows["split"] = time.perf_counter() - t0, len(train)
print(json.dumps({"times": times, "rows": rows, "exact": exact, "near": near, "import_s": t_import,
                  "peak_mb": peak_mb()}))
"""


def run_dm(dm, args, threads):
    """(wall seconds, peak MB) of one dm command."""
    cmd = [dm, *args, "--no-progress"]
    if threads and args[0] in ("dedup", "split"):
        cmd += ["--threads", str(threads)]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        if shutil.which("time") and os.path.exists("/usr/bin/time"):
            p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tf.name, *cmd], capture_output=True)
            wall = time.perf_counter() - t0
            peak = float(tf.read().strip().splitlines()[-1]) / 1024.0 if p.returncode == 0 else float("nan")
        else:  # less exact: see the module's docstring
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
            p = subprocess.CompletedProcess(cmd, proc.returncode, proc.stdout.read(), proc.stderr.read())
            peak = ru.ru_maxrss / 1024.0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()}")
    return wall, peak, p.stderr.decode()


def dm_pipeline(dm, src, text_col, ext, work, threads):
    steps = [
        ("clean", ["clean", "--in", src, "--text-column", text_col, "--out", f"{work}/clean.{ext}",
                   "--report", f"{work}/clean.json"]),
        ("dedup", ["dedup", "--in", f"{work}/clean.{ext}", "--out", f"{work}/dedup.{ext}",
                   "--report", f"{work}/dedup.json"]),
        ("split", ["split", "--in", f"{work}/dedup.{ext}", "--out-dir", f"{work}/parts", "--stratify",
                   "--report", f"{work}/split.json"]),
    ]
    res = {}
    for name, args in steps:
        wall, peak, _ = run_dm(dm, args, threads)
        res[name] = {"s": wall, "mb": peak}
    with open(f"{work}/clean.json") as f:
        res["clean"]["rows"] = json.load(f)["rows_out"]
    with open(f"{work}/dedup.json") as f:
        d = json.load(f)
        res["dedup"].update(rows=d["rows_out"], exact=d["exact_duplicates"], near=d["near_duplicates"])
    with open(f"{work}/split.json") as f:
        res["split"]["rows"] = json.load(f)["parts"][0]["rows"]
    return res


def pandas_pipeline(src, text_col, ext, work):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", PANDAS_WORKER, src, text_col, "\t" if ext == "tsv" else ",", work],
                       capture_output=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"pandas worker failed: {p.stderr.decode()}")
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build folder holding bindings/cli/dm")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side; the best is kept")
    ap.add_argument("--threads", type=int, default=0, help="dm threads (0: all cores)")
    ap.add_argument("--datasets", default="shopping,sst2")
    ap.add_argument("--no-pandas", action="store_true", help="dm only")
    ap.add_argument("--out", default="test/bench/out/pipeline.json")
    args = ap.parse_args()
    dm = os.path.join(ROOT, args.build, "bindings", "cli", "dm")
    if not os.path.exists(dm):
        sys.exit(f"{dm} not found: build first (meson setup {args.build} && ninja -C {args.build})")
    results = {}
    for name in args.datasets.split(","):
        src, text_col, ext = DATASETS[name]
        if not os.path.exists(src):
            print(f"{name}: {src} is absent, skipped")
            continue
        best_dm, best_pd = None, None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as work:
                r = dm_pipeline(dm, src, text_col, ext, work, args.threads)
                if best_dm is None or sum(v["s"] for v in r.values()) < sum(v["s"] for v in best_dm.values()):
                    best_dm = r
            if not args.no_pandas:
                with tempfile.TemporaryDirectory() as work:
                    r = pandas_pipeline(src, text_col, ext, work)
                    if best_pd is None or sum(r["times"].values()) < sum(best_pd["times"].values()):
                        best_pd = r
        results[name] = {"dm": best_dm, "pandas": best_pd}

    print(f"\n{'data':9} {'step':6} {'dm s':>7} {'pd s':>7} {'pd/dm':>6} {'dm MB':>6} {'dm rows':>8} {'pd rows':>8}")
    for name, r in results.items():
        d, p = r["dm"], r["pandas"]
        for step in ("clean", "dedup", "split"):
            ps = p["times"][step] if p else float("nan")
            print(f"{name:9} {step:6} {d[step]['s']:7.2f} {ps:7.2f} {ps / d[step]['s']:6.1f} {d[step]['mb']:6.0f} "
                  f"{d[step]['rows']:8d} {(p['rows'][step] if p else 0):8d}")
        total = sum(d[s]["s"] for s in ("clean", "dedup", "split"))
        ptotal = sum(p["times"].values()) if p else float("nan")
        print(f"{name:9} {'total':6} {total:7.2f} {ptotal:7.2f} {ptotal / total:6.1f} "
              f"{max(d[s]['mb'] for s in d):6.0f}   peak MB: dm (max over steps) vs pandas "
              f"{(p['peak_mb'] if p else float('nan')):.0f}; pandas process incl. imports "
              f"{(p['process_s'] if p else float('nan')):.2f} s")
        print(f"{name:9} removed as duplicates: dm {d['dedup']['exact']} exact + {d['dedup']['near']} near; "
              f"pandas {p['exact'] if p else '-'} exact + {p['near'] if p else '-'} near")
    print("dm s: wall time of each dm process (start, read, work, write); pd s: the same step inside one "
          "Python process (imports not counted); MB: peak resident memory (dm: GNU time %M per process; "
          "pandas: VmHWM of the whole pipeline)")
    out = os.path.join(ROOT, args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    import platform
    with open(out, "w") as f:
        json.dump({"threads": args.threads, "cpus": os.cpu_count(), "python": platform.python_version(),
                   "results": results}, f, indent=2)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
