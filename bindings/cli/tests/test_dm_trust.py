"""`dm` never silently wrong, never half-written (issue "trust first"): model folders written
whole and labels that cannot flip through `dm init`, outputs that replace a file only when
complete, training that fails before the work, messages that blame the right file and line.
On the tiny random BERT fixture (labels negative, neutral, positive).
Run: python3 -m pytest bindings/cli/tests/test_dm_trust.py   (DM_BUILD names the build folder)"""
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")
TINY = os.path.join(ROOT, "test", "model", "fixtures", "tiny")
TEXTS = ["the boat was boring", "we enjoyed the garden", "salty bread on the roof", "my sister is wonderful"]


def dm(*args, input=b"", check=True):
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run([DM, *map(str, args)], input=input, capture_output=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
    return p


def probs_by_name(model):
    out = dm("predict", "--model", model, "--format", "json", "--no-progress", input="\n".join(TEXTS) + "\n")
    return [json.loads(line)["probs"] for line in out.stdout.decode().splitlines()]


def leftovers(folder):
    return [n for n in os.listdir(folder) if ".dm-" in n]


def test_init_reorders_labels_instead_of_flipping(tmp_path):
    """`dm init --labels` naming the trained labels in another order reorders the head: each
    name predicts what it predicted (before, the names were applied by position: swapped)."""
    out = tmp_path / "reordered"
    dm("init", "--model", TINY, "--labels", "positive,neutral,negative", "--out", out)
    assert json.loads((out / "config.json").read_text())["id2label"]["0"] == "positive"
    want, got = probs_by_name(TINY), probs_by_name(out)
    for a, b in zip(want, got):
        assert set(a) == set(b) and all(abs(a[k] - b[k]) < 1e-6 for k in a)
    # Other names over the trained head: refused, or a new head when asked.
    p = dm("init", "--model", TINY, "--labels", "bad,ok,good", "--out", tmp_path / "other", check=False)
    assert p.returncode == 1 and "trained for the labels (negative, neutral, positive)" in p.stderr.decode()
    assert not (tmp_path / "other").exists()
    p = dm("init", "--model", TINY, "--labels", "bad,ok,good", "--new-head", "--out", tmp_path / "other")
    assert "a new classification head" in p.stdout.decode()


def test_init_over_a_folder_keeps_other_files(tmp_path):
    out = tmp_path / "model"
    dm("init", "--model", TINY, "--num-labels", "3", "--out", out)
    (out / "checkpoint-7").mkdir()
    (out / "checkpoint-7" / "trainer_state.json").write_text("{}")
    (out / "NOTES.md").write_text("mine")
    (out / "pytorch_model.bin").write_text("stale")
    dm("init", "--model", TINY, "--labels", "a,b", "--out", out)
    assert (out / "checkpoint-7" / "trainer_state.json").exists() and (out / "NOTES.md").read_text() == "mine"
    assert not (out / "pytorch_model.bin").exists()
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "a", "1": "b"}
    assert leftovers(tmp_path) == [] and leftovers(out) == []


def test_mixed_folder_is_refused(tmp_path):
    """config.json reordered over weights saved with the other order: what a save cut between
    the two files left before folders were written whole."""
    out = tmp_path / "mixed"
    dm("init", "--model", TINY, "--num-labels", "3", "--out", out)
    cfg = json.loads((out / "config.json").read_text())
    cfg["id2label"] = {"0": "positive", "1": "neutral", "2": "negative"}
    cfg["label2id"] = {"positive": 0, "neutral": 1, "negative": 2}
    (out / "config.json").write_text(json.dumps(cfg))
    p = dm("predict", "--model", out, input="hello\n", check=False)
    assert p.returncode == 1 and "mixes two saves" in p.stderr.decode()


def test_output_file_replaced_only_when_complete(tmp_path):
    """-o FILE: a command that fails leaves the old file as it was, and no temporary file."""
    target = tmp_path / "preds.jsonl"
    target.write_text("previous results\n")
    bad = b"good line\n" * 5 + b"bad \xff line\n" + b"good line\n" * 5
    p = dm("predict", "--model", TINY, "-o", target, "--format", "json", "--no-progress", "--block", "4",
           input=bad, check=False)
    assert p.returncode == 1 and "line 6" in p.stderr.decode()
    assert target.read_text() == "previous results\n" and leftovers(tmp_path) == []
    dm("predict", "--model", TINY, "-o", target, "--format", "json", "--no-progress", input="ok\nfine\n")
    assert len(target.read_text().splitlines()) == 2 and leftovers(tmp_path) == []
    # A device is written in place.
    dm("predict", "--model", TINY, "-o", "/dev/null", "--no-progress", input="ok\n")


def test_train_fails_before_the_work(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in zip(TEXTS, ["negative", "positive"] * 2)))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = dm("train", "--model", TINY, "--train", train, "--out", blocker / "out", "--epochs", "50", check=False)
    assert p.returncode == 1 and "file" in p.stderr.decode() and "training on" not in p.stderr.decode()


def test_messages_blame_the_right_thing(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("text,label\nfine,pos\ngood,pos\n")
    p = dm("train", "--model", TINY, "--train", one, "--out", tmp_path / "o", check=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and "one.csv" in err and "every row has the label 'pos'" in err
    assert TINY not in err  # the data are at fault, not the model folder
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in zip(TEXTS, ["negative", "positive"] * 2)))
    val = tmp_path / "val.csv"
    val.write_text("text,label\nfine,positive\nmeh,angry\nok,negative\n")
    p = dm("train", "--model", TINY, "--train", train, "--val", val, "--out", tmp_path / "o", check=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and "val.csv" in err and "label 'angry' (first at line 3, row 2)" in err
    assert not (tmp_path / "o").exists()
    p = dm("eval", "--model", TINY, "--data", val, check=False)
    assert p.returncode == 1 and "val.csv" in p.stderr.decode() and "line 3" in p.stderr.decode()
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"text,label\x00\nfine,positive\n")
    p = dm("eval", "--model", TINY, "--data", nul, check=False)
    assert p.returncode == 1 and "the name of column 2 holds a NUL byte" in p.stderr.decode()


def test_incomplete_checkpoint_is_called_one(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in zip(TEXTS * 4, ["negative", "positive"] * 8)))
    dm("train", "--model", TINY, "--train", train, "--out", tmp_path / "run", "--checkpoint-steps", "1",
       "--batch-size", "4", "--epochs", "1", "--no-progress")
    ckpt = tmp_path / "run" / "checkpoint-4"
    (ckpt / "optimizer.safetensors").unlink()
    p = dm("train", "--resume", ckpt, "--train", train, "--out", tmp_path / "run", "--checkpoint-steps", "1",
           "--batch-size", "4", "--epochs", "1", check=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and "an incomplete training checkpoint (no optimizer.safetensors)" in err
