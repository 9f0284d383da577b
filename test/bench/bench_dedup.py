#!/usr/bin/env python3
"""Deduplication: dm_dataset_dedup against datasketch (MinHash + MinHashLSH)
and pandas drop_duplicates.

Data: SST-2 train (67,349 sentences) and online_shopping_10_cats (62,774
reviews), loaded with dm_dataset_load; Python reads the very same texts back
through dm_dataset_text, so both sides see the same rows.

What is timed, exactly (best of --repeat runs):
  dm near   one dm_dataset_dedup call (report_pairs=1, num_perm P, threshold
            0.8, 5-gram character shingles, verify=1): normalisation, exact
            dedup, MinHash, LSH, verification, clusters, the output dataset
            and the JSON report. On 1 thread and on all threads.
  ds        datasketch, on the texts already normalised in Python (NFKC,
            casefold, whitespace runs -> one space, trimmed) and exactly
            deduplicated (normalising and exact dedup NOT timed): building the
            5-gram shingle list, MinHash(num_perm=P).update_batch, then
            MinHashLSH(threshold=0.8, num_perm=P) construction, insert of
            every text, query of every text. No verification (datasketch
            has none), so datasketch does strictly less work than dm.
  dm exact  dm_dataset_dedup with exact_only=1 (normalisation included);
  pandas    drop_duplicates on the normalised texts (normalising not timed),
            and "pandas+norm" with the Python normalisation timed too.

Ground truth for recall: the pairs of distinct normalised texts whose exact
Jaccard (5-gram shingle sets, computed in Python) is >= 0.8. Candidate pairs
come from the union of (a) dm with bands=32 x rows=4 (a pair at J = 0.8 shares
a band with probability 1 - 1e-7), (b) dm with the default bands, (c)
datasketch's query results; every candidate is checked with the exact
Jaccard in Python. On top, an exhaustive check over the first --sample
distinct texts (all pairs with a size filter |A|/|B| >= 0.8) confirms that
the union misses nothing there (reported as `sample_missed`).

dm's default bands are recall-first (21 x 6 for 128 permutations at 0.8: a
pair at J = 0.8 is a candidate with probability 0.998), datasketch's are its
balanced choice (9 x 13: 0.40). So datasketch also runs with dm's bands
(MinHashLSH(params=...)): the same LSH, timed and scored like for like.
"128_b32r4" rows: dm with the same 128 permutations split as 32 bands x 4
rows (datasketch's columns there repeat its 128-permutation runs).

Recall: dm "pairs" = true pairs listed in the report; dm "clusters" = true
pairs whose rows end in one cluster (what dedup acts on); datasketch = true
pairs among its query results.

Usage (from the repository root, after building the library):
  python3 test/bench/bench_dedup.py [--lib build/lib/libdatamodel.so]
      [--out test/bench/out/dedup.json] [--repeat 3] [--sample 5000]
  DATAMODEL_LIB overrides --lib; DATA (default ../shared/data) the data folder.
"""

import argparse
import ctypes
import json
import os
import platform
import re
import sys
import time
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
THRESHOLD = 0.8
NGRAM = 5


class DatasetOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("format", ctypes.c_int), ("text_column", ctypes.c_char_p),
                ("pair_column", ctypes.c_char_p), ("label_column", ctypes.c_char_p),
                ("id_column", ctypes.c_char_p), ("require_labels", ctypes.c_int), ("labels", ctypes.c_void_p),
                ("n_labels", ctypes.c_size_t), ("invalid_utf8", ctypes.c_int), ("bad_rows", ctypes.c_int),
                ("group_column", ctypes.c_char_p)]


class DedupOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("exact_only", ctypes.c_int), ("normalize", ctypes.c_int),
                ("ngram", ctypes.c_size_t), ("threshold", ctypes.c_double), ("num_perm", ctypes.c_size_t),
                ("bands", ctypes.c_size_t), ("rows_per_band", ctypes.c_size_t), ("verify", ctypes.c_int),
                ("seed", ctypes.c_uint64), ("threads", ctypes.c_int), ("report_pairs", ctypes.c_int),
                ("progress", ctypes.c_void_p), ("progress_user", ctypes.c_void_p)]


class Lib:
    def __init__(self, path):
        self.c = ctypes.CDLL(path)
        self.c.dm_last_error.restype = ctypes.c_char_p
        self.c.dm_dataset_text.restype = ctypes.c_void_p
        self.c.dm_dataset_text.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
        self.c.dm_dataset_size.restype = ctypes.c_size_t
        self.c.dm_dataset_size.argtypes = [ctypes.c_void_p]

    def check(self, st):
        if st != 0:
            raise RuntimeError(self.c.dm_last_error().decode())

    def load(self, path):
        o = DatasetOptions()
        self.c.dm_dataset_options_default(ctypes.byref(o))
        o.bad_rows = 1
        ds = ctypes.c_void_p()
        self.check(self.c.dm_dataset_load(path.encode(), ctypes.byref(o), ctypes.byref(ds)))
        return ds

    def texts(self, ds):
        n = self.c.dm_dataset_size(ds)
        out, ln = [], ctypes.c_size_t()
        for i in range(n):
            p = self.c.dm_dataset_text(ds, i, ctypes.byref(ln))
            out.append(ctypes.string_at(p, ln.value).decode("utf-8"))
        return out

    def dedup(self, ds, **kw):
        o = DedupOptions()
        self.c.dm_dedup_options_default(ctypes.byref(o))
        for k, v in kw.items():
            setattr(o, k, v)
        out, rep = ctypes.c_void_p(), ctypes.c_void_p()
        t = time.perf_counter()
        self.check(self.c.dm_dataset_dedup(ds, ctypes.byref(o), ctypes.byref(out), ctypes.byref(rep)))
        t = time.perf_counter() - t
        report = json.loads(ctypes.string_at(rep.value).decode("utf-8"))
        self.c.dm_free(rep)
        self.c.dm_dataset_free(out)
        return t, report


SPACE = re.compile(r"\s+")


def normalize(s):
    return SPACE.sub(" ", unicodedata.normalize("NFKC", s).casefold()).strip()


def shingles(s):
    if len(s) < NGRAM:
        return {s}
    return {s[i:i + NGRAM] for i in range(len(s) - NGRAM + 1)}


def jaccard(a, b):
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def best(f, repeat):
    times, result = [], None
    for _ in range(repeat):
        t, result = f()
        times.append(t)
    return min(times), result


def run_datasketch(uniq_texts, num_perm, params=None):
    from datasketch import MinHash, MinHashLSH
    t = time.perf_counter()
    sigs = []
    for s in uniq_texts:
        m = MinHash(num_perm=num_perm)
        m.update_batch([g.encode("utf-8") for g in shingles(s)])
        sigs.append(m)
    t_minhash = time.perf_counter() - t
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=num_perm, params=params)
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    pairs = set()
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j != i:
                pairs.add((min(i, j), max(i, j)))
    total = time.perf_counter() - t
    return total, {"pairs": pairs, "minhash_s": t_minhash, "bands": lsh.b, "rows": lsh.r}


def dm_pairs(report, row_to_u):
    """Report pairs/clusters mapped to indices of the Python unique texts."""
    pairs = set()
    for a, b, _j in report.get("pairs", []):
        x, y = row_to_u[int(a) - 1], row_to_u[int(b) - 1]
        if x != y:
            pairs.add((min(x, y), max(x, y)))
    comp = {}
    for c in report["clusters"]:
        for mid in c["members"]:
            comp[row_to_u[int(mid) - 1]] = c["kept"]
    return pairs, comp


def exhaustive(sh, limit):
    """All pairs with J >= threshold among the first LIMIT unique texts."""
    idx = sorted(range(min(limit, len(sh))), key=lambda i: len(sh[i]))
    out = set()
    for p, i in enumerate(idx):
        a, la = sh[i], len(sh[i])
        for q in range(p + 1, len(idx)):
            j = idx[q]
            if THRESHOLD * len(sh[j]) > la:
                break
            if jaccard(a, sh[j]) >= THRESHOLD:
                out.add((min(i, j), max(i, j)))
    return out


def bench_dataset(lib, name, path, args):
    ds = lib.load(path)
    texts = lib.texts(ds)
    t = time.perf_counter()
    norm = [normalize(s) for s in texts]
    t_norm = time.perf_counter() - t
    import pandas as pd
    series = pd.Series(norm)
    def pandas_run():
        t0 = time.perf_counter()
        series.drop_duplicates()
        return time.perf_counter() - t0, None
    t_pd, _ = best(pandas_run, args.repeat)
    uniq, first_of, row_to_u = [], {}, []
    for s in norm:
        if s not in first_of:
            first_of[s] = len(uniq)
            uniq.append(s)
        row_to_u.append(first_of[s])
    n_pd = len(series.drop_duplicates())
    t_exact, rep_exact = best(lambda: lib.dedup(ds, exact_only=1), args.repeat)
    sh = [shingles(s) for s in uniq]
    res = {"rows": len(texts), "distinct_normalised": len(uniq),
           "exact": {"dm_s": t_exact, "dm_rows_out": rep_exact["rows_out"], "pandas_s": t_pd,
                     "pandas_rows_out": n_pd, "python_normalise_s": t_norm,
                     "speedup_vs_pandas": t_pd / t_exact, "speedup_vs_pandas_norm": (t_pd + t_norm) / t_exact},
           "near": {}}
    print(f"{name}: {len(texts)} rows, {len(uniq)} distinct after normalisation "
          f"(dm exact: {rep_exact['rows_out']}, pandas: {n_pd})", flush=True)

    # Ground truth: candidates of a high-recall dm run, dm defaults, datasketch.
    _, rep_hi = lib.dedup(ds, report_pairs=1, bands=32, rows_per_band=4, verify=0)
    cand = dm_pairs(rep_hi, row_to_u)[0]
    runs = {}
    for p in args.num_perm:
        t1, rep1 = best(lambda: lib.dedup(ds, report_pairs=1, num_perm=p, threads=1), args.repeat)
        tn, repn = best(lambda: lib.dedup(ds, report_pairs=1, num_perm=p), args.repeat)
        td, dsk = best(lambda: run_datasketch(uniq, p), 1 if p != 128 else min(args.repeat, 2))
        assert repn == rep1, "report differs between 1 and all threads"
        # datasketch again with dm's (recall-first) bands: the same LSH, so
        # both recall and time compare like for like.
        same = (repn["bands"], repn["rows_per_band"])
        td2, dsk2 = best(lambda: run_datasketch(uniq, p, same), 1)
        runs[p] = (t1, tn, repn, td, dsk, td2, dsk2)
        cand |= dsk["pairs"] | dsk2["pairs"] | dm_pairs(repn, row_to_u)[0]
    # dm with more, shorter bands (32 x 4): recall-oriented, same 128 permutations.
    t1h, rep1h = best(lambda: lib.dedup(ds, report_pairs=1, bands=32, rows_per_band=4, threads=1), args.repeat)
    tnh, repnh = best(lambda: lib.dedup(ds, report_pairs=1, bands=32, rows_per_band=4), args.repeat)
    cand |= dm_pairs(repnh, row_to_u)[0]
    if 128 in runs:
        runs["128_b32r4"] = (t1h, tnh, repnh) + runs[128][3:]
    truth = {pq for pq in cand if jaccard(sh[pq[0]], sh[pq[1]]) >= THRESHOLD}
    sample = exhaustive(sh, args.sample)
    sample_missed = len([pq for pq in sample if pq not in truth])
    truth |= sample
    for p, (t1, tn, repn, td, dsk, td2, dsk2) in runs.items():
        pairs, comp = dm_pairs(repn, row_to_u)
        hit_pairs = len(truth & pairs)
        hit_clusters = sum(1 for a, b in truth if a in comp and comp.get(a) == comp.get(b))
        hit_ds = len(truth & dsk["pairs"])
        n = max(len(truth), 1)
        r = {"dm_1thread_s": t1, "dm_all_threads_s": tn, "datasketch_s": td,
             "datasketch_minhash_s": dsk["minhash_s"], "speedup_1thread": td / t1, "speedup_all_threads": td / tn,
             "bands_rows_dm": [repn["bands"], repn["rows_per_band"]], "bands_rows_datasketch": [dsk["bands"], dsk["rows"]],
             "true_pairs": len(truth), "recall_dm_pairs": hit_pairs / n, "recall_dm_clusters": hit_clusters / n,
             "recall_datasketch": hit_ds / n, "dm_near_pairs": repn["near_pairs"],
             "datasketch_same_bands_s": td2, "speedup_same_bands_1thread": td2 / t1,
             "recall_datasketch_same_bands": len(truth & dsk2["pairs"]) / n,
             "dm_candidate_pairs": repn["candidate_pairs"], "datasketch_candidate_pairs": len(dsk["pairs"]),
             "dm_rows_out": repn["rows_out"]}
        res["near"][str(p)] = r
        print(f"  num_perm {p}: dm {t1:.3f}s (1 thr) / {tn:.3f}s (all), datasketch {td:.2f}s -> "
              f"{td / t1:.1f}x / {td / tn:.1f}x; recall dm pairs {r['recall_dm_pairs']:.4f}, "
              f"clusters {r['recall_dm_clusters']:.4f}, datasketch {r['recall_datasketch']:.4f} "
              f"({len(truth)} true pairs)", flush=True)
    res["sample_exhaustive"] = {"rows": min(args.sample, len(uniq)), "true_pairs": len(sample),
                                "missed_by_union": sample_missed}
    lib.c.dm_dataset_free(ds)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", default=os.path.join(ROOT, "build", "lib", "libdatamodel.so"))
    ap.add_argument("--out", default=os.path.join(HERE, "out", "dedup.json"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sample", type=int, default=5000)
    ap.add_argument("--num-perm", type=int, nargs="+", default=[64, 128, 256])
    # 128_b32r4: dm with 128 permutations as 32 bands x 4 rows (datasketch's
    # timing and recall in that row are its default 128-permutation run).
    args = ap.parse_args()
    lib = Lib(os.environ.get("DATAMODEL_LIB", args.lib))
    data = os.environ.get("DATA", os.path.join(ROOT, "..", "shared", "data"))
    sets = {"sst2_train": os.path.join(data, "sst2", "train.tsv"),
            "shopping": os.path.join(data, "online_shopping_10_cats", "online_shopping_10_cats.csv")}
    import datasketch
    import pandas
    out = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "datasketch": datasketch.__version__, "pandas": pandas.__version__, "threshold": THRESHOLD,
           "ngram": NGRAM, "datasets": {}}
    for name, path in sets.items():
        if not os.path.exists(path):
            print(f"{name}: {path} not found, skipped")
            continue
        out["datasets"][name] = bench_dataset(lib, name, path, args)
    print("\n| data | num_perm | bands x rows (dm / datasketch) | dm 1 thr s | dm all s | datasketch s | x (1 thr) | x (all) "
          "| recall dm pairs | dm clusters | datasketch | datasketch, dm's bands: s, x (1 thr), recall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in out["datasets"].items():
        for p, x in r["near"].items():
            bd, bs = x["bands_rows_dm"], x["bands_rows_datasketch"]
            print(f"| {name} | {p} | {bd[0]}x{bd[1]} / {bs[0]}x{bs[1]} | {x['dm_1thread_s']:.3f} | "
                  f"{x['dm_all_threads_s']:.3f} | {x['datasketch_s']:.2f} | "
                  f"{x['speedup_1thread']:.1f} | {x['speedup_all_threads']:.1f} | {x['recall_dm_pairs']:.4f} | "
                  f"{x['recall_dm_clusters']:.4f} | {x['recall_datasketch']:.4f} | {x['datasketch_same_bands_s']:.2f}, "
                  f"{x['speedup_same_bands_1thread']:.1f}, {x['recall_datasketch_same_bands']:.4f} |")
    print("\n| data | dm exact s | pandas drop_duplicates s | x | pandas+normalise s | x |")
    print("|---|---|---|---|---|---|")
    for name, r in out["datasets"].items():
        e = r["exact"]
        print(f"| {name} | {e['dm_s']:.3f} | {e['pandas_s']:.3f} | {e['speedup_vs_pandas']:.1f} | "
              f"{e['pandas_s'] + e['python_normalise_s']:.3f} | {e['speedup_vs_pandas_norm']:.1f} |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
