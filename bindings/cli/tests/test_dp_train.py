"""Tests of DP-SGD training with the `dm` tool (dm train --dp-epsilon, --dp-delta, --dp-max-grad-norm,
--dp-noise, --dp-noise-seed) on the tiny random BERT fixture (test/model/fixtures/tiny: labels negative,
neutral, positive) and a small CSV file: the plan line, the epsilon of every epoch, privacy.json, and
the options refused with a clear message.
Run: python3 -m pytest bindings/cli/tests/test_dp_train.py   (DM_BUILD names the build folder)"""
import csv
import json
import os
import random
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")
TINY = os.path.join(ROOT, "test", "model", "fixtures", "tiny")
LABELS = ["negative", "neutral", "positive"]

PHRASES = {
    "positive": ["great movie", "loved it", "wonderful acting", "really good", "a delight to watch"],
    "negative": ["terrible film", "hated it", "awful plot", "really bad", "a mess from start to end"],
    "neutral": ["it was a film", "the movie exists", "average at best", "okay i guess", "nothing special"],
}
ROWS, BATCH = 24, 4  # sample rate 4 / 24, 6 steps an epoch


def dm(*args, check=True, timeout=600):
    p = subprocess.run([DM, *map(str, args)], capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
    return p


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("dp") / "train.csv"
    rng = random.Random(3)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(ROWS):
            label = rng.choice(LABELS)
            w.writerow([rng.choice(PHRASES[label]), label])
    return str(path)


def train(train_csv, out, *extra, check=True):
    return dm("train", "--model", TINY, "--train", train_csv, "--out", out, "--batch-size", BATCH, "--lr", "1e-3",
              "--seed", "7", "--no-progress", *extra, check=check)


def test_dp_run_plan_epochs_and_privacy_json(train_csv, tmp_path):
    out = tmp_path / "out"
    p = train(train_csv, out, "--epochs", "2", "--dp-epsilon", "8", "--dp-delta", "1e-4", "--dp-max-grad-norm",
              "0.5", "--dp-noise-seed", "5")
    err, stdout = p.stderr.decode(), p.stdout.decode()
    # The plan, before training.
    plan = re.search(r"dm: DP-SGD: expected batch (\d+) \(sample rate ([0-9.e-]+)\), (\d+) steps, clipping norm "
                     r"([0-9.e-]+), noise multiplier ([0-9.e-]+): epsilon ([0-9.e-]+) at delta ([0-9.e-]+) for the "
                     r"planned steps", err)
    assert plan, err
    assert int(plan[1]) == BATCH and float(plan[2]) == pytest.approx(BATCH / ROWS, rel=1e-5)
    assert int(plan[3]) == 2 * (ROWS // BATCH) and float(plan[4]) == 0.5 and float(plan[7]) == 1e-4
    assert float(plan[6]) <= 8
    assert err.index("DP-SGD: expected batch") < err.index("step 1/")
    # The epsilon of every epoch, growing, within the budget; the progress lines show it too.
    epochs = re.findall(r"epoch (\d+) done at step (\d+): DP-SGD epsilon spent ([0-9.]+)", err)
    assert [(int(e), int(s)) for e, s, _ in epochs] == [(1, 6), (2, 12)], err
    eps = [float(x) for _, _, x in epochs]
    assert 0 < eps[0] < eps[1] <= 8
    # The summary and privacy.json.
    assert f"DP-SGD: epsilon {eps[1]:.4f} at delta 0.0001 spent (written to {out}/privacy.json)" in stdout, stdout
    priv = json.loads((out / "privacy.json").read_text())
    assert 0 < priv["epsilon"] <= 8 and priv["target_epsilon"] == 8 and priv["delta"] == 1e-4
    assert abs(priv["epsilon"] - eps[1]) < 1e-4
    assert priv["noise_multiplier"] == pytest.approx(float(plan[5]), rel=1e-4) and priv["noise_multiplier"] > 0
    assert priv["sample_rate"] == pytest.approx(BATCH / ROWS, rel=1e-12) and priv["expected_batch"] == BATCH
    assert priv["max_grad_norm"] == 0.5 and priv["steps"] == 12 and priv["training_rows"] == ROWS
    assert priv["accountant"] == "rdp" and "seeded" in priv["noise_source"]
    assert 0 <= priv["clipped_examples"] <= priv["examples"]
    # dm dp epsilon (the accountant alone) agrees.
    acc = json.loads(dm("dp", "epsilon", "--noise", repr(priv["noise_multiplier"]), "--sample-rate",
                        repr(priv["sample_rate"]), "--steps", priv["steps"], "--delta", "1e-4", "--json").stdout)
    assert abs(acc["epsilon"] - priv["epsilon"]) < 1e-9


def test_dp_noise_given_and_budget_stops_early(train_csv, tmp_path):
    """--dp-noise fixes the noise; with --dp-epsilon too, the run stops before the budget is passed."""
    out = tmp_path / "noise"
    p = train(train_csv, out, "--epochs", "3", "--dp-noise", "1.0", "--dp-epsilon", "4.5", "--dp-noise-seed", "2")
    err = p.stderr.decode()
    assert "noise multiplier 1:" in err and "the run stops earlier, at the budget" in err, err
    priv = json.loads((out / "privacy.json").read_text())
    assert priv["noise_multiplier"] == 1.0 and priv["epsilon"] <= 4.5 and priv["steps"] == 7
    m = re.search(r"trained (\d+) steps", p.stdout.decode())
    assert m and int(m[1]) == priv["steps"]


@pytest.mark.parametrize("extra, code, words", [
    (["--dp-epsilon", "8", "--dp-delta", "0"], 2, "--dp-delta: '0' must be in (0, 1)"),
    (["--dp-epsilon", "8", "--dp-delta", "1"], 2, "--dp-delta: '1' must be in (0, 1)"),
    (["--dp-epsilon", "-1"], 2, "--dp-epsilon: '-1' must be > 0"),
    (["--dp-epsilon", "0"], 2, "--dp-epsilon: '0' must be > 0"),
    (["--dp-noise", "-0.5"], 2, "--dp-noise: '-0.5' must be > 0"),
    (["--dp-epsilon", "8", "--dp-max-grad-norm", "0"], 2, "--dp-max-grad-norm: '0' must be > 0"),
    (["--dp-epsilon", "8", "--dp-noise-seed", "0"], 2, "--dp-noise-seed: '0' is not a count > 0"),
    (["--dp-epsilon", "8", "--batch-size", "64"], 1,
     "the expected batch (batch_size x grad_accum = 64) is larger than the training data (24 rows)"),
    (["--dp-epsilon", "8", "--precision", "bf16"], 1, "DP-SGD trains in float32 only"),
    (["--dp-epsilon", "1e-6"], 1, "too small a budget"),
])
def test_bad_dp_options_fail_clearly(train_csv, tmp_path, extra, code, words):
    out = tmp_path / "bad"
    p = train(train_csv, out, "--epochs", "1", *extra, check=False)
    err = p.stderr.decode()
    assert p.returncode == code, (p.returncode, err)
    assert words in err, err
    assert "Traceback" not in err and not (out / "privacy.json").exists()
    assert not (out / "model.safetensors").exists()


def test_help_lists_the_dp_options():
    text = dm("help", "train").stdout.decode()
    for opt in ("--dp-epsilon", "--dp-delta", "--dp-max-grad-norm", "--dp-noise", "--dp-noise-seed"):
        assert opt in text, opt


def test_no_dp_no_privacy_json(train_csv, tmp_path):
    out = tmp_path / "plain"
    p = train(train_csv, out, "--max-steps", "1")
    assert b"DP-SGD" not in p.stderr and b"DP-SGD" not in p.stdout
    assert (out / "model.safetensors").exists() and not (out / "privacy.json").exists()


def test_dp_norms_summary_and_json(train_csv):
    """dm dp norms: the quantiles of the per-example gradient norms (dm_dp_example_norms), in order."""
    p = dm("dp", "norms", "--model", TINY, "--data", train_csv, "--batch-size", "5")
    out = p.stdout.decode()
    assert f"gradient norms of {ROWS} examples:" in out
    assert "--dp-max-grad-norm" in out
    j = json.loads(dm("dp", "norms", "--model", TINY, "--data", train_csv, "--json").stdout)
    assert j["examples"] == ROWS
    qs = [j[k] for k in ("min", "p10", "p25", "median", "p75", "p90", "max")]
    assert qs == sorted(qs) and qs[0] > 0
    assert qs[0] <= j["mean"] <= qs[-1]
    # The batch size changes nothing but the passes (each example's norm is its own).
    j5 = json.loads(dm("dp", "norms", "--model", TINY, "--data", train_csv, "--json", "--batch-size", "5").stdout)
    assert j5 == pytest.approx(j, rel=1e-5)


def test_dp_norms_bad_input(train_csv, tmp_path):
    p = dm("dp", "norms", "--data", train_csv, check=False)
    assert p.returncode == 2 and b"needs --model" in p.stderr
    p = dm("dp", "norms", "--model", TINY, "--data", train_csv, "--batch-size", "0", check=False)
    assert p.returncode == 2 and b"--batch-size" in p.stderr
    other = tmp_path / "other.csv"
    other.write_text("text,label\nhello there,surprised\n")
    p = dm("dp", "norms", "--model", TINY, "--data", str(other), check=False)
    assert p.returncode == 1 and b"surprised" in p.stderr
