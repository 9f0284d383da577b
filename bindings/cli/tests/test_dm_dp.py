"""`dm dp epsilon` and `dm dp noise`: the DP-SGD accountant (dm_dp_epsilon,
dm_dp_noise_multiplier) from the command line, on the issue's vectors (Opacus'
own tests), the --epochs and --batch-size/--rows forms, and bad input.
Run: python3 -m pytest bindings/cli/tests/test_dm_dp.py   (DM_BUILD names the build folder)"""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")

EPS = ["dp", "epsilon", "--noise", "1.5", "--delta", "1e-5"]
NOISE = ["dp", "noise", "--epsilon", "8", "--delta", "1e-5"]


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


def test_epsilon_issue_vector():
    r = dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2250")
    assert abs(r["epsilon"] - 7.32911117143) <= 1e-9
    assert r["order"] == 3.9 and r["delta"] == 1e-5 and r["steps"] == 2250
    assert r["noise_multiplier"] == 1.5 and r["sample_rate"] == 0.04
    text = dm(*EPS, "--sample-rate", "0.04", "--steps", "2250").stdout.decode()
    assert text == "epsilon 7.329111 at delta 1e-05 (Renyi order 3.9) after 2250 steps\n"


def test_epochs_and_batch_size_forms():
    want = dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2250")
    assert dm_json(*EPS, "--sample-rate", "0.04", "--epochs", "90") == want  # floor(90 / 0.04) steps
    by_batch = dm_json(*EPS, "--batch-size", "40", "--rows", "1000", "--epochs", "90")
    assert by_batch == want
    # Opacus' int(epochs / q): 2.5 epochs at q 0.3 are 8 steps, not 8.33
    assert dm_json(*EPS, "--batch-size", "3", "--rows", "10", "--epochs", "2.5")["steps"] == 8


def test_noise_issue_vector():
    r = dm_json(*NOISE, "--sample-rate", "0.04", "--epochs", "90")
    assert abs(r["noise_multiplier"] - 1.416) <= 0.01 and r["steps"] == 2250
    assert r["target_epsilon"] == 8 and 8 - 0.01 <= r["epsilon"] <= 8  # within the tolerance, never above
    spent = dm_json("dp", "epsilon", "--noise", repr(r["noise_multiplier"]), "--delta", "1e-5", "--sample-rate",
                    "0.04", "--steps", "2250")
    assert spent["epsilon"] == r["epsilon"] and spent["order"] == r["order"]
    text = dm(*NOISE, "--batch-size", "40", "--rows", "1000", "--epochs", "90").stdout.decode()
    assert text.startswith("noise multiplier 1.41") and "spends epsilon 7.99" in text and "after 2250 steps" in text
    finer = dm_json(*NOISE, "--sample-rate", "0.04", "--epochs", "90", "--tolerance", "1e-4")
    assert 8 - 1e-4 <= finer["epsilon"] <= 8 and finer["noise_multiplier"] <= r["noise_multiplier"]


def test_nothing_released_and_no_noise():
    r = dm_json(*EPS, "--sample-rate", "0.04", "--steps", "0")
    assert r["epsilon"] == 0 and r["order"] is None
    assert dm_json(*NOISE, "--sample-rate", "0", "--steps", "100")["noise_multiplier"] == 0
    r = dm_json("dp", "epsilon", "--noise", "0", "--delta", "1e-5", "--sample-rate", "0.04", "--steps", "10")
    assert r["epsilon"] is None and r["order"] is None  # infinite: JSON has no such number
    assert "epsilon inf" in dm("dp", "epsilon", "--noise", "0", "--delta", "1e-5", "--sample-rate", "0.04",
                               "--steps", "10").stdout.decode()


def test_library_errors_exit_1():
    assert "delta must be in (0, 1), got 0" in fails(1, "dp", "epsilon", "--noise", "1", "--delta", "0",
                                                     "--sample-rate", "0.04", "--steps", "10")
    msg = fails(1, *EPS, "--batch-size", "3", "--rows", "2", "--steps", "10")
    assert "sample_rate must be in [0, 1]" in msg and "got 1.5" in msg
    assert "epsilon must be finite and > 0, got 0" in fails(1, "dp", "noise", "--epsilon", "0", "--delta", "1e-5",
                                                            "--sample-rate", "0.04", "--steps", "10")
    assert "budget is too small" in fails(1, "dp", "noise", "--epsilon", "1e-4", "--delta", "1e-5",
                                          "--sample-rate", "1", "--steps", "1000000")
    assert "noise_multiplier must be finite and >= 0" in fails(1, "dp", "epsilon", "--noise", "-1", "--delta",
                                                               "1e-5", "--sample-rate", "0.04", "--steps", "10")
    assert "tolerance" in fails(1, *NOISE, "--sample-rate", "0.04", "--steps", "10", "--tolerance", "-1")


def test_usage_errors_exit_2():
    assert "needs --noise" in fails(2, "dp", "epsilon", "--delta", "1e-5", "--sample-rate", "0.04", "--steps", "1")
    assert "needs --epsilon" in fails(2, "dp", "noise", "--delta", "1e-5", "--sample-rate", "0.04", "--steps", "1")
    assert "needs --delta" in fails(2, "dp", "epsilon", "--noise", "1", "--sample-rate", "0.04", "--steps", "1")
    assert "needs --sample-rate" in fails(2, *EPS, "--steps", "1")
    assert "needs --sample-rate" in fails(2, *EPS, "--batch-size", "4", "--steps", "1")  # --rows missing
    assert "not both" in fails(2, *EPS, "--sample-rate", "0.1", "--batch-size", "4", "--rows", "40", "--steps", "1")
    assert "needs --steps N or --epochs E" in fails(2, *EPS, "--sample-rate", "0.04")
    assert "not both" in fails(2, *EPS, "--sample-rate", "0.04", "--steps", "1", "--epochs", "1")
    assert "is not a number" in fails(2, *EPS, "--sample-rate", "abc", "--steps", "1")
    assert "is not a count" in fails(2, *EPS, "--sample-rate", "0.04", "--steps", "-3")
    assert "--rows" in fails(2, *EPS, "--batch-size", "4", "--rows", "0", "--steps", "1")
    assert "--epochs" in fails(2, *EPS, "--sample-rate", "0.04", "--epochs", "-1")
    assert "unknown option '--epsilon'" in fails(2, *EPS, "--epsilon", "1")  # dp noise's, not dp epsilon's
    assert "unknown dp command" in fails(2, "dp", "budget")
    assert fails(2, "dp").startswith("usage: dm dp")


def test_help():
    for args in (["help", "dp"], ["dp", "--help"], ["dp", "epsilon", "--help"]):
        text = dm(*args).stdout.decode()
        assert text.startswith("usage: dm dp epsilon") and "--batch-size B --rows N" in text
    assert "dp epsilon" in dm("help").stdout.decode()


def test_epsilon_prv_accountant():
    # Opacus' test_prv_accountant: steps int(90 // 0.04), which is 2249
    r = dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2249", "--accountant", "prv")
    assert abs(r["epsilon"] - 6.777395712150674) <= 1e-6
    assert r["accountant"] == "prv" and r["eps_error"] == 0.01 and r["order"] is None and r["steps"] == 2249
    rdp = dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2249")
    assert rdp["accountant"] == "rdp" and "eps_error" not in rdp and r["epsilon"] < rdp["epsilon"]  # tighter
    assert dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2249", "--accountant", "rdp") == rdp  # the default
    assert dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2249", "--accountant", "prv", "--eps-error",
                   "0.01") == r
    coarse = dm_json(*EPS, "--sample-rate", "0.04", "--steps", "2249", "--accountant", "prv", "--eps-error", "0.1")
    assert coarse["eps_error"] == 0.1 and abs(coarse["epsilon"] - r["epsilon"]) < 0.2
    text = dm(*EPS, "--sample-rate", "0.04", "--steps", "2249", "--accountant", "prv").stdout.decode()
    assert text.startswith("epsilon 6.7773") and "(PRV accountant, eps_error 0.01) after 2249 steps" in text
    assert dm_json(*EPS, "--sample-rate", "0.04", "--steps", "0", "--accountant", "prv")["epsilon"] == 0


def test_epsilon_prv_bad_input():
    assert "--accountant is rdp or prv, not 'pld'" in fails(2, *EPS, "--sample-rate", "0.04", "--steps", "10",
                                                            "--accountant", "pld")
    assert "--eps-error is for --accountant prv" in fails(2, *EPS, "--sample-rate", "0.04", "--steps", "10",
                                                          "--eps-error", "0.1")
    assert "is not a number" in fails(2, *EPS, "--sample-rate", "0.04", "--steps", "10", "--accountant", "prv",
                                      "--eps-error", "x")
    assert "eps_error must be finite and >= 0" in fails(1, *EPS, "--sample-rate", "0.04", "--steps", "10",
                                                        "--accountant", "prv", "--eps-error", "-1")
    assert "delta must be in (0, 1)" in fails(1, "dp", "epsilon", "--noise", "1", "--delta", "2", "--sample-rate",
                                              "0.04", "--steps", "10", "--accountant", "prv")
    assert "unknown option '--accountant'" in fails(2, *NOISE, "--sample-rate", "0.04", "--steps", "10",
                                                    "--accountant", "prv")
