"""Tests of the Python binding of the one-run privacy audit (datamodel.h, dm_dp_audit_epsilon and
dm_dp_audit_guesses; Steinke, Nasr and Jagielski, NeurIPS 2023): datamodel.dp_audit_epsilon and
datamodel.dp_audit_guesses on the paper's number, a closed form, and bad input. Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests/test_dp_audit.py"""
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402


def test_dp_audit_paper_value():
    # arXiv:2305.08846 Appendix D: m 1000, r 100, v 75, delta 1e-4, beta 0.05 -> 0.673
    eps = datamodel.dp_audit_epsilon(1000, 100, 75, delta=1e-4, beta=0.05)
    assert abs(eps - 0.673) < 5e-4
    assert datamodel.dp_audit_epsilon(canaries=1000, guesses=100, correct=75, delta=1e-4) == eps
    assert datamodel.dp_audit_epsilon(1000, 100, 95, 1e-5) == pytest.approx(2.165176, abs=1e-6)


def test_dp_audit_closed_form_and_nothing_certified():
    # delta 0: all r right certifies the eps with q^r = beta, q = 1 / (1 + e^-eps)
    want = -math.log(math.expm1(-math.log(0.05) / 1000))
    assert datamodel.dp_audit_epsilon(1000, 1000, 1000) == pytest.approx(want, abs=1e-8)
    assert datamodel.dp_audit_epsilon(1000, 100, 50, 1e-5) == 0.0
    assert datamodel.dp_audit_epsilon(0, 0, 0) == 0.0


def test_dp_audit_guesses():
    scores = [0.9, 0.1, 0.8, 0.2, 0.5, 0.5, 0.7, 0.3]
    included = [1, 0, True, 1, 0, 1, False, 0]
    # top 3: 0.9 right, 0.8 right, 0.7 wrong; bottom 2: 0.1 right, 0.2 wrong
    assert datamodel.dp_audit_guesses(scores, included, 3, 2) == (5, 3)
    assert datamodel.dp_audit_guesses(scores, included, 4, 0) == (4, 2)  # tie: the earlier 0.5 ranks higher
    assert datamodel.dp_audit_guesses([], [], 0, 0) == (0, 0)
    r, v = datamodel.dp_audit_guesses(list(range(200)), [0] * 100 + [1] * 100, 50, 50)
    assert (r, v) == (100, 100) and datamodel.dp_audit_epsilon(200, r, v, 1e-5) > 2


def test_dp_audit_bad_input():
    with pytest.raises(datamodel.Error, match=r"r 11 > m 10"):
        datamodel.dp_audit_epsilon(10, 11, 1)
    with pytest.raises(datamodel.Error, match=r"v 6 > r 5"):
        datamodel.dp_audit_epsilon(10, 5, 6)
    with pytest.raises(datamodel.Error, match=r"delta must be in \[0, 1\)"):
        datamodel.dp_audit_epsilon(10, 5, 5, delta=1.0)
    with pytest.raises(datamodel.Error, match=r"beta must be in \(0, 1\)"):
        datamodel.dp_audit_epsilon(10, 5, 5, beta=0.0)
    with pytest.raises(ValueError):
        datamodel.dp_audit_epsilon(-1, 0, 0)
    with pytest.raises(TypeError, match="delta must be a real number"):
        datamodel.dp_audit_epsilon(10, 5, 5, delta="x")
    with pytest.raises(TypeError, match="canaries must be an integer"):
        datamodel.dp_audit_epsilon(10.5, 5, 5)
    with pytest.raises(datamodel.Error, match=r"k_plus \+ k_minus must be at most"):
        datamodel.dp_audit_guesses([1.0, 2.0], [0, 1], 2, 1)
    with pytest.raises(datamodel.Error, match=r"scores\[1\] is NaN"):
        datamodel.dp_audit_guesses([1.0, float("nan")], [0, 1], 1, 1)
    with pytest.raises(datamodel.Error, match=r"included\[0\] must be 0 or 1, got 2"):
        datamodel.dp_audit_guesses([1.0, 2.0], [2, 1], 1, 1)
    with pytest.raises(ValueError, match="differ|has 2 values"):
        datamodel.dp_audit_guesses([1.0, 2.0], [1], 1, 1)
