#!/usr/bin/env python3
"""Reference values for test_split.c from scikit-learn.

Writes test/data/fixtures/split_class_weights.json and split_kfold.json:

- class_weights: label vectors (None = a row without a label) and an optional
  fixed label set (labels that may have no rows); "weights" maps each label of
  the set to compute_class_weight("balanced", classes=present labels, y) over
  the labelled rows, 0 for a label with no rows.
- kfold: label vectors and K; "allocation" maps each label to its row count in
  each test fold of StratifiedKFold(K) (the counts do not depend on the
  shuffle), "fold_sizes" is KFold(K)'s test fold sizes for the same rows.

Usage: python3 test/data/gen_split_fixtures.py  (scikit-learn, numpy)
"""
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.class_weight import compute_class_weight

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def class_weight_case(labels, label_set=None):
    y = np.array([l for l in labels if l is not None])
    present = np.unique(y)
    w = compute_class_weight("balanced", classes=present, y=y)
    weights = {str(c): float(x) for c, x in zip(present, w)}
    for l in label_set or []:
        weights.setdefault(l, 0.0)
    return {"labels": labels, "label_set": label_set, "weights": weights}


def kfold_case(labels, k):
    y = np.array(labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=0).split(np.zeros(len(y)), y))
    alloc = {str(c): [int((y[test] == c).sum()) for _, test in folds] for c in np.unique(y)}
    sizes = [len(test) for _, test in KFold(n_splits=k).split(np.zeros(len(y)))]
    return {"labels": labels, "folds": k, "allocation": alloc, "fold_sizes": sizes}


def main():
    rng = np.random.default_rng(20240601)
    cw = [
        class_weight_case(["0", "1", "1", "1"]),
        class_weight_case(["neg", "pos", "pos", "neutral", "pos", "neg", "pos"]),
        class_weight_case(["a"] * 5),
        class_weight_case(["x", "y", None, "y", None, "z", "z", "z"]),
        class_weight_case(["b", "b", "c"], label_set=["a", "b", "c", "d"]),
        class_weight_case([str(v) for v in rng.integers(0, 10, 1000)]),
        class_weight_case([str(v) for v in rng.choice(7, 997, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.04, 0.01])]),
        class_weight_case([str(v) for v in rng.choice(3, 333, p=[0.9, 0.09, 0.01])]),
    ]
    kf = []
    for n, k, n_classes, skew in [(10, 3, 2, 0), (23, 5, 3, 1), (100, 10, 4, 1), (13, 7, 2, 0),
                                  (1001, 4, 6, 1), (50, 3, 5, 1), (64, 2, 2, 1), (37, 6, 3, 0)]:
        if skew:
            p = rng.dirichlet(np.ones(n_classes))
            y = rng.choice(n_classes, n, p=p)
        else:
            y = rng.integers(0, n_classes, n)
        y[:n_classes] = rng.permutation(n_classes)  # every class present, first seen in random order
        kf.append(kfold_case([str(v) for v in y], k))
    os.makedirs(OUT, exist_ok=True)
    meta = {"generator": "test/data/gen_split_fixtures.py", "sklearn": sklearn.__version__}
    for name, cases in [("split_class_weights.json", cw), ("split_kfold.json", kf)]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump({**meta, "cases": cases}, f, indent=None, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {name}: {len(cases)} cases")


if __name__ == "__main__":
    main()
