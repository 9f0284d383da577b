#!/usr/bin/env python3
"""Writes fixtures/audit_vectors.json: the one-run privacy audit bound of
Steinke, Nasr and Jagielski, "Privacy Auditing with One (1) Training Run"
(NeurIPS 2023, arXiv:2305.08846), the reference of lib/privacy/dp_audit.c
(test_dp_audit.c). An independent implementation: scipy's binomial
distribution, a finer bisection, no shared code with the C.

    pip install scipy
    python3 test/privacy/gen_audit_vectors.py           # writes the fixture
    python3 test/privacy/gen_audit_vectors.py --check   # the paper's numbers only

m canaries, each in the training set with probability 1/2; r guesses, v of
them right. Under (eps, delta)-DP, with W' ~ Binomial(r, e^eps/(e^eps+1)),
the paper's bound (its Corollary 5.4; its appendix computes it so) is

    P[v or more right] <= P[W' >= v] + 2 m delta max_{i=1..v} P[v > W' >= v-i] / i

and eps_lb is the largest eps at which that p-value is below beta (a bisection
over eps, bracket doubled from 1). delta = 0 leaves the binomial tail alone.

The paper's own numbers (arXiv v1): m=1000, r=100, v=75, delta=1e-4,
beta=0.05 gives 0.673 (Appendix D); m=1e5, r=1510, v=1439, delta=1e-5,
beta=0.05 gives 2.675 (Section 7). --check verifies both."""
import json
import math
import os
import sys

import numpy as np
import scipy
from scipy.stats import binom


def p_value(m, r, v, eps, delta):
    """P-value of v or more right out of r under (eps, delta)-DP."""
    q = 1.0 / (1.0 + math.exp(-eps))
    tail = float(binom.sf(v - 1, r, q))  # P[W' >= v]
    if delta == 0 or v == 0:
        return min(tail, 1.0)
    i = np.arange(1, v + 1)
    # P[v > W' >= v - i] = P[W' >= v - i] - P[W' >= v], from the pmf (no cancellation)
    below = np.cumsum(binom.pmf(v - i, r, q))
    alpha = float(np.max(below / i))
    return min(tail + 2.0 * m * delta * alpha, 1.0)


def eps_lower_bound(m, r, v, delta, beta):
    """The largest eps with p_value < beta, to 1e-12; 0 when none."""
    if p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while p_value(m, r, v, hi, delta) < beta:
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2
        if p_value(m, r, v, mid, delta) < beta:
            lo = mid
        else:
            hi = mid
    return lo


def monotone(m, r, v, delta, hi):
    """The p-value never falls as eps grows on a grid up to HI (the bisection
    assumes it)."""
    grid = np.linspace(0, max(hi * 1.5, 0.1), 200)
    p = [p_value(m, r, v, e, delta) for e in grid]
    return all(b >= a - 1e-12 for a, b in zip(p, p[1:]))


PAPER = [  # (m, r, v, delta, beta, eps printed in arXiv:2305.08846v1, where)
    (1000, 100, 75, 1e-4, 0.05, 0.673, "Appendix D"),
    (100000, 1510, 1439, 1e-5, 0.05, 2.675, "Section 7"),
]


def check_paper():
    ok = True
    for m, r, v, delta, beta, want, where in PAPER:
        got = eps_lower_bound(m, r, v, delta, beta)
        good = abs(got - want) < 1e-3
        ok &= good
        print(f"m={m} r={r} v={v} delta={delta} beta={beta}: {got:.6f} (paper, {where}: {want}) "
              f"{'ok' if good else 'MISMATCH'}")
    return ok


def main():
    if not check_paper():
        sys.exit("the bound does not reproduce the paper's numbers")
    if "--check" in sys.argv[1:]:
        return
    cases = []
    grid = [
        (10, 10, 10), (10, 10, 8), (100, 100, 100), (100, 100, 60), (1000, 100, 75), (1000, 100, 95),
        (1000, 100, 100), (1000, 1000, 1000), (1000, 1000, 600), (1000, 500, 300), (1000, 200, 110),
        (5000, 2000, 1900), (100000, 1510, 1439), (100000, 1000, 1000), (100000, 20000, 12000),
        (100000, 100000, 100000), (100, 50, 25), (100, 20, 12), (1, 1, 1), (3, 2, 2),
    ]
    for m, r, v in grid:
        for delta in (0.0, 1e-6, 1e-5, 1e-3):
            for beta in (0.05, 0.01):
                eps = eps_lower_bound(m, r, v, delta, beta)
                assert monotone(m, r, v, delta, eps), (m, r, v, delta, beta)
                cases.append({"m": m, "r": r, "v": v, "delta": delta, "beta": beta, "epsilon": eps})
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "fixtures", "audit_vectors.json")
    with open(out, "w") as f:
        json.dump({"scipy": scipy.__version__, "paper": [
            {"m": m, "r": r, "v": v, "delta": d, "beta": b, "epsilon": e} for m, r, v, d, b, e, _ in PAPER],
            "epsilon": cases}, f, indent=1)
        f.write("\n")
    print(f"{out}: {len(cases)} bounds")


if __name__ == "__main__":
    main()
