"""`dm dp audit`: the one-run privacy audit bound (dm_dp_audit_epsilon;
Steinke, Nasr and Jagielski, NeurIPS 2023) from the command line, on the
paper's own number, its defaults and bad input.
Run: python3 -m pytest bindings/cli/tests/test_dm_dp_audit.py   (DM_BUILD names the build folder)"""
import json
import math
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")

AUDIT = ["dp", "audit", "--canaries", "1000", "--guesses", "100"]


def dm(*args, check=True):
    p = subprocess.run([DM, *map(str, args)], capture_output=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
    return p


def dm_json(*args):
    return json.loads(dm(*args, "--json").stdout)


def fails(code, *args):
    """The stderr of a dm call that must exit CODE with nothing on stdout."""
    p = dm(*args, check=False)
    assert p.returncode == code and p.stdout == b"", (p.returncode, p.stdout, p.stderr)
    return p.stderr.decode()


def test_dp_audit_paper_value():
    # arXiv:2305.08846 Appendix D: m 1000, r 100, v 75, delta 1e-4, beta 0.05 -> 0.673
    r = dm_json(*AUDIT, "--correct", "75", "--delta", "1e-4", "--beta", "0.05")
    assert abs(r["epsilon_lb"] - 0.673) < 5e-4
    assert r["canaries"] == 1000 and r["guesses"] == 100 and r["correct"] == 75
    assert r["delta"] == 1e-4 and r["beta"] == 0.05
    text = dm(*AUDIT, "--correct", "95", "--delta", "1e-5").stdout.decode()
    assert text == "epsilon >= 2.165176 at delta 1e-05 with confidence 0.95 (95 of 100 guesses right, 1000 canaries)\n"


def test_dp_audit_defaults():
    # delta 0 and beta 0.05: all r right certifies eps with q^r = beta, q = 1 / (1 + e^-eps)
    r = dm_json("dp", "audit", "--canaries", "1000", "--guesses", "1000", "--correct", "1000")
    assert r["delta"] == 0 and r["beta"] == 0.05
    assert abs(r["epsilon_lb"] - -math.log(math.expm1(-math.log(0.05) / 1000))) < 1e-8
    assert dm_json(*AUDIT, "--correct", "50")["epsilon_lb"] == 0  # chance: nothing certified


def test_dp_audit_bad_input():
    assert "r 101 > m 100" in fails(1, "dp", "audit", "--canaries", "100", "--guesses", "101", "--correct", "1")
    assert "v 101 > r 100" in fails(1, *AUDIT, "--correct", "101")
    assert "delta must be in [0, 1), got 1" in fails(1, *AUDIT, "--correct", "90", "--delta", "1")
    assert "beta must be in (0, 1), got 0" in fails(1, *AUDIT, "--correct", "90", "--beta", "0")
    assert "needs --canaries" in fails(2, "dp", "audit", "--guesses", "1", "--correct", "1")
    assert "needs --guesses" in fails(2, "dp", "audit", "--canaries", "1", "--correct", "1")
    assert "needs --correct" in fails(2, *AUDIT)
    assert "is not a count" in fails(2, *AUDIT, "--correct", "-3")
    assert "is not a number" in fails(2, *AUDIT, "--correct", "9", "--beta", "x")
    assert "unknown option '--noise'" in fails(2, *AUDIT, "--correct", "9", "--noise", "1")


def test_dp_audit_help():
    text = dm("dp", "audit", "--help").stdout.decode()
    assert "dm dp audit --canaries M --guesses R --correct V" in text and "Corollary" in text
    assert "dp audit" in dm("help").stdout.decode()
