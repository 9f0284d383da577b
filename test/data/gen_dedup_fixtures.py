#!/usr/bin/env python3
"""Fixtures for test/data/test_dedup.c, from the reference implementations.

  fixtures/dedup_params.json   datasketch.lsh._optimal_param(threshold,
                               num_perm, 0.5, 0.5) -> [bands, rows] for a grid
                               of thresholds and permutation counts (what
                               MinHashLSH picks by default).
  fixtures/dedup_jaccard.json  crafted texts (no real data), their
                               normalisation (unicodedata NFKC + casefold +
                               whitespace runs -> one space, trimmed) and the
                               exact Jaccard of the 5-gram (and 3-gram)
                               character shingle sets of text pairs.

Usage: python3 test/data/gen_dedup_fixtures.py   (writes into test/data/fixtures)
"""

import json
import os
import random
import re
import unicodedata

import datasketch
from datasketch.lsh import _optimal_param

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def normalize(s):
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s).casefold()).strip()


def shingles(s, n):
    return {s} if len(s) < n else {s[i:i + n] for i in range(len(s) - n + 1)}


def jaccard(a, b):
    return len(a & b) / len(a | b)


def params():
    grid = []
    for t in (0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        for p in (16, 32, 64, 128, 200, 256):
            b, r = _optimal_param(t, p, 0.5, 0.5)
            grid.append({"threshold": t, "num_perm": p, "bands": b, "rows": r})
    return {"datasketch": datasketch.__version__, "cases": grid}


def jaccard_cases():
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    base = "".join(rng.choice(alphabet) for _ in range(60))
    texts = [
        base,
        base[:59] + "Z",                      # one change at the end
        base[:30] + "Q" + base[31:],          # one change in the middle
        base[:20] + "QR" + base[22:40] + "S" + base[41:],
        base[:45],                            # a prefix
        "  " + base.upper().replace("A", "A\u00a0 ") + "\t",  # case and spaces
        "\uff21\uff22\uff23 ﬁne café CAFÉ Straße",  # fullwidth, ligature, accents, sharp s
        "abc",                                # shorter than n
        "abd",
        "中文评论，质量很好，物流也很快，下次还会再来。",
        "中文评论，质量很好，物流也很快，下次还会再买。",
        "中文评论，质量一般，物流很慢。",
    ]
    norm = [normalize(t) for t in texts]
    pairs = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            pairs.append({"a": i, "b": j, "jaccard5": jaccard(shingles(norm[i], 5), shingles(norm[j], 5)),
                          "jaccard3": jaccard(shingles(norm[i], 3), shingles(norm[j], 3))})
    return {"texts": texts, "normalized": norm, "pairs": pairs}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in (("dedup_params.json", params()), ("dedup_jaccard.json", jaccard_cases())):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print("wrote", os.path.join(OUT, name))


if __name__ == "__main__":
    main()
