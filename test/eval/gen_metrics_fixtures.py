#!/usr/bin/env python3
"""gen_metrics_fixtures.py — scikit-learn's answers for test_metrics.c.

Builds seeded classification cases (inputs: y_true, y_pred, float32 class
probabilities) and writes, next to this file, fixtures/metrics_cases.json with
scikit-learn's metrics on them: accuracy, per-class precision/recall/F1/support
(labels=range(n_classes), zero_division=0), macro and weighted averages, the
confusion matrix, log_loss, one-vs-rest ROC AUC and classification_report's
text for digits 0, 1, 2 and 4 (digits=0 rounds every score to a whole number).
Cases include one class only (classification_report(labels=[a]): one row and
the averages; no probabilities, as log_loss refuses a single label).

Float32 probabilities are written as repr(float(np.float32(x))): the shortest
decimal of the double that equals the float32 value, so that parsing it as a
double and narrowing to float gives back exactly the value sklearn was given.

Two places where the stored expectation is not sklearn's plain return value
(both documented in lib/eval/):
  - log_loss: given float32 input, sklearn 1.9 clips to the float32 epsilon and
    then does the arithmetic in float32 (result good to ~1e-7 relative).
    libdatamodel clips the same way but computes in double. "log_loss" is
    sklearn's log_loss on float64 copies of the already clipped float32 values
    (the same definition, float64 arithmetic); "log_loss_sklearn_float32" is
    sklearn's own float32 answer, for a looser check.
  - roc_auc: like sklearn, the multiclass macro average is NaN (null) as soon as
    one class has no positives (or no negatives); the defined classes' AUCs are
    in per_class. sklearn raises for multiclass rows that do not sum to 1,
    where libdatamodel scores the rows as given: "roc_auc" is then the mean of
    the per-class one-vs-rest AUCs. "roc_auc_sklearn" is sklearn's own answer
    (null when NaN or when it raised, with the reason in
    "roc_auc_sklearn_note"); where it is a number, "roc_auc" equals it, and
    where it is NaN, "roc_auc" is null.

Run:  python3 test/eval/gen_metrics_fixtures.py   (needs test/eval/requirements.txt)
"""
import json
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)

EPS32 = np.finfo(np.float32).eps
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "metrics_cases.json")


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def softmax32(logits):
    """Row softmax in float32, as a model's output would be."""
    z = logits.astype(np.float32)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def model_like(rng, n, k, skill=1.5, priors=None):
    """Labels from PRIORS and float32 probabilities that favour the true class."""
    y = rng.choice(k, size=n, p=priors)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += skill
    probs = softmax32(logits)
    return y, probs.argmax(axis=1), probs


def grid_probs(rng, n, k, steps=8):
    """Rows of multiples of 1/STEPS summing to exactly 1: many exact ties,
    exact 0 and exact 1."""
    return (rng.multinomial(steps, np.ones(k) / k, size=n) / steps).astype(np.float32)


def one_hot(ids, k):
    out = np.zeros((len(ids), k), dtype=np.float32)
    out[np.arange(len(ids)), ids] = 1.0
    return out


def make_cases():
    cases = []

    def add(name, k, y_true, y_pred, probs, names=None):
        cases.append(dict(name=name, n_classes=k, y_true=np.asarray(y_true, dtype=np.int64),
                          y_pred=np.asarray(y_pred, dtype=np.int64),
                          probs=None if probs is None else np.asarray(probs, dtype=np.float32),
                          names=names))

    rng = np.random.default_rng(1)
    y, yp, p = model_like(rng, 200, 2)
    add("binary", 2, y, yp, p, ["negative", "positive"])

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 150)
    p = grid_probs(rng, 150, 2, steps=4)
    add("binary_ties", 2, y, p.argmax(axis=1), p, ["no", "yes"])

    rng = np.random.default_rng(3)
    y, yp, p = model_like(rng, 300, 3)
    add("three_classes", 3, y, yp, p, ["neg", "neu", "pos"])

    rng = np.random.default_rng(4)
    y, yp, p = model_like(rng, 500, 5, skill=1.0)
    add("five_classes_default_names", 5, y, yp, p)

    rng = np.random.default_rng(5)
    y, yp, p = model_like(rng, 1000, 10, skill=2.0)
    add("ten_classes", 10, y, yp, p, [f"class_{i}" for i in range(10)])

    rng = np.random.default_rng(6)
    y, yp, p = model_like(rng, 400, 5)
    yp = np.where(yp == 2, 3, yp)  # class 2 is never predicted
    add("class_never_predicted", 5, y, yp, p, ["a", "b", "never_predicted", "d", "e"])

    rng = np.random.default_rng(7)
    y, yp, p = model_like(rng, 400, 4)
    y = np.where(y == 3, 0, y)     # class 3 has no support (but is predicted)
    add("class_without_support", 4, y, yp, p, ["w", "x", "y", "no_support"])

    rng = np.random.default_rng(8)
    y, _, p = model_like(rng, 120, 3, skill=3.0)
    add("all_correct", 3, y, y, p, ["cat", "dog", "bird"])

    rng = np.random.default_rng(9)
    y, _, p = model_like(rng, 120, 3)
    add("all_wrong", 3, y, (y + 1) % 3, p, ["cat", "dog", "bird"])

    rng = np.random.default_rng(10)
    y = rng.integers(0, 4, 300)
    p = grid_probs(rng, 300, 4, steps=8)
    add("multiclass_ties", 4, y, p.argmax(axis=1), p)

    rng = np.random.default_rng(11)
    y = rng.integers(0, 3, 90)
    yp = np.where(rng.random(90) < 0.7, y, rng.integers(0, 3, 90))
    add("exact_zero_and_one", 3, y, yp, one_hot(yp, 3), ["r", "g", "b"])

    # Values at the clipping edges: float32 subnormals, the largest float32
    # below 1 (clipped to 1 - eps), values just inside [eps, 1 - eps].
    edge = np.array([
        [1e-40, 0.99999994, 6e-08],
        [0.99999988, 1.1920929e-07, 0.0],
        [1.1920928e-07, 0.5, 0.49999988],
        [0.0, 0.0, 1.0],
        [0.25, 0.25, 0.5],
        [1.0, 0.0, 0.0],
    ], dtype=np.float32)
    add("clipping_edges", 3, [1, 1, 0, 2, 0, 1], [1, 0, 1, 2, 2, 0], edge)

    rng = np.random.default_rng(12)
    y = rng.integers(0, 4, 250)
    p = rng.random((250, 4)).astype(np.float32)  # rows do not sum to 1
    add("unnormalised_rows", 4, y, p.argmax(axis=1), p)

    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, 100)
    p = (rng.random((100, 2)) * 0.9).astype(np.float32)
    add("unnormalised_binary", 2, y, p.argmax(axis=1), p)

    add("n1_binary", 2, [1], [0], np.array([[0.625, 0.375]], dtype=np.float32))
    add("n1_multiclass", 3, [2], [2], np.array([[0.125, 0.25, 0.625]], dtype=np.float32),
        ["x", "y", "z"])

    rng = np.random.default_rng(14)
    y = np.zeros(50, dtype=np.int64)
    p = softmax32(rng.normal(size=(50, 2)))
    add("single_true_class", 2, y, p.argmax(axis=1), p, ["only", "other"])

    rng = np.random.default_rng(15)
    y, yp, p = model_like(rng, 2000, 4, skill=1.2, priors=[0.9, 0.06, 0.03, 0.01])
    add("imbalanced", 4, y, yp, p, ["common", "rare", "rarer", "rarest"])

    rng = np.random.default_rng(16)
    y, yp, _ = model_like(rng, 80, 3)
    add("no_probabilities", 3, y, yp, None, ["p", "q", "r"])

    rng = np.random.default_rng(17)
    y, yp, p = model_like(rng, 200, 4)
    add("unicode_and_long_names", 4, y, yp, p,
        ["négatif", "中性", "positif avec un très long nom", "ok"])

    rng = np.random.default_rng(18)
    y, yp, p = model_like(rng, 20000, 3, skill=1.0)
    add("large", 3, y, yp, p, ["neg", "neu", "pos"])

    # Every true label is class 0: no class has both positives and negatives.
    rng = np.random.default_rng(19)
    y = np.zeros(40, dtype=np.int64)
    p = softmax32(rng.normal(size=(40, 3)))
    add("multiclass_single_true_class", 3, y, p.argmax(axis=1), p, ["a", "b", "c"])

    # One class only (dm metrics --labels a): one row plus the averages.
    add("one_class", 1, [0] * 7, [0] * 7, None, ["a"])
    add("one_class_n1_default_name", 1, [0], [0], None)
    return cases


# --------------------------------------------------------------------------
# scikit-learn's answers
# --------------------------------------------------------------------------

def nullable(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def class_auc(y_true, scores, c):
    """sklearn's binary AUC of class C against the rest; None when undefined."""
    positive = (y_true == c).astype(np.int64)
    if positive.min() == positive.max():
        return None
    return float(roc_auc_score(positive, scores[:, c]))


def sklearn_multiclass_auc(y_true, probs, k):
    """sklearn's own answer: (value or None, note)."""
    labels = list(range(k))
    try:
        if k == 2:
            value = roc_auc_score(y_true, probs[:, 1])
        else:
            value = roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=labels)
    except ValueError as e:
        return None, f"raised: {e}"
    if math.isnan(value):
        return None, "NaN: a class has no positives or no negatives"
    return float(value), "sklearn"


def probabilistic(case, out):
    y, probs, k = case["y_true"], case["probs"], case["n_classes"]
    labels = list(range(k))
    if probs is None:
        out.update(log_loss=None, log_loss_sklearn_float32=None, roc_auc=None,
                   roc_auc_sklearn=None, roc_auc_sklearn_note="no probabilities")
        for row in out["per_class"]:
            row["roc_auc"] = None
        return
    clipped64 = np.clip(probs, EPS32, np.float32(1) - EPS32).astype(np.float64)
    out["log_loss"] = float(log_loss(y, clipped64, labels=labels))
    out["log_loss_sklearn_float32"] = float(log_loss(y, probs, labels=labels))
    per_class = [class_auc(y, probs, c) for c in range(k)]
    for row, auc in zip(out["per_class"], per_class):
        row["roc_auc"] = auc
    defined = [a for a in per_class if a is not None]
    if k == 2:
        ours = per_class[1]
    else:
        ours = float(np.mean(defined)) if len(defined) == k else None
    out["roc_auc"] = ours
    sk, note = sklearn_multiclass_auc(y, probs, k)
    out["roc_auc_sklearn"], out["roc_auc_sklearn_note"] = sk, note
    if sk is not None:  # where sklearn answers, ours is its answer
        assert abs(sk - ours) <= 1e-12, (case["name"], sk, ours)
    if note.startswith("NaN"):  # and where it says NaN, so do we
        assert ours is None, (case["name"], ours)


def expected(case):
    y, yp, k, names = case["y_true"], case["y_pred"], case["n_classes"], case["names"]
    labels = list(range(k))
    prf = dict(labels=labels, zero_division=0)
    p, r, f, s = precision_recall_fscore_support(y, yp, **prf)
    out = dict(accuracy=float(accuracy_score(y, yp)))
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(y, yp, average=avg, **prf)
        out[f"{avg}_precision"], out[f"{avg}_recall"], out[f"{avg}_f1"] = float(ap), float(ar), float(af)
    out["per_class"] = [dict(precision=float(a), recall=float(b), f1=float(c), support=int(d))
                        for a, b, c, d in zip(p, r, f, s)]
    out["confusion_matrix"] = confusion_matrix(y, yp, labels=labels).tolist()
    for digits in (0, 1, 2, 4):
        out[f"report_digits_{digits}"] = classification_report(
            y, yp, labels=labels, target_names=names, digits=digits, zero_division=0)
    probabilistic(case, out)
    return out


def main():
    warnings.simplefilter("ignore")  # sums != 1, undefined AUC: both expected here
    cases = []
    for case in make_cases():
        k = case["n_classes"]
        assert case["y_true"].min() >= 0 and case["y_true"].max() < k
        probs = case["probs"]
        cases.append(dict(
            name=case["name"],
            n_classes=k,
            label_names=case["names"],
            y_true=case["y_true"].tolist(),
            y_pred=case["y_pred"].tolist(),
            # json writes a float as repr(float): see the module docstring.
            probs=None if probs is None else [float(x) for x in probs.ravel()],
            expected=expected(case),
        ))
    doc = dict(
        generator="test/eval/gen_metrics_fixtures.py",
        sklearn_version=sklearn.__version__,
        numpy_version=np.__version__,
        cases=cases,
    )
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
