"""Tests of the Python bindings of the transformer classifier (dm_model_*) and
of fine-tuning (dm_train), on the tiny random BERT fixture of
test/model/fixtures (3 labels negative/neutral/positive, hidden 48) and its
Hugging Face reference outputs in tiny_ref.safetensors. Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests"""
import ctypes
import gc
import json
import math
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402
from datamodel import _model  # noqa: E402

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "model", "fixtures"))
TINY = os.path.join(FIXTURES, "tiny")
LABELS = ["negative", "neutral", "positive"]

# TINY_INPUTS of test/model/gen_fixtures.py: three sentences and one pair, the
# inputs of the reference forward pass in tiny_ref.safetensors.
SINGLES = [
    "I really enjoyed the concert last night!",
    "My sister is walking to the market \U0001F642 with a basket of sunflowers, but the storm starts soon.",
    "今天的天气很好，我们去公园散步吧。",
]
PAIR = ("The train arrived late again.", "Everyone was annoyed and quietly waited.")

TRAIN_ROWS = [
    ("The soup was far too salty.", "negative"), ("What a wonderful surprise!", "positive"),
    ("这家餐厅的菜太咸了。", "negative"), ("Does the museum open at 9?", "neutral"),
    ("The movie was boring and far too long.", "negative"), ("We climbed the hill to watch the sunset.", "positive"),
    ("猫在沙发上睡了一整天。", "neutral"), ("Please close the window.", "neutral"),
    ("He fixed the broken bicycle in ten minutes, which was great!", "positive"),
    ("Nobody answered the phone.", "neutral"), ("Our garden has a small pond and tall sunflowers.", "positive"),
    ("The bread was stale.", "negative"),
]


@pytest.fixture(scope="module")
def ref():
    st = pytest.importorskip("safetensors.numpy")
    return st.load_file(os.path.join(FIXTURES, "tiny_ref.safetensors"))


@pytest.fixture
def model():
    with datamodel.Model.load(TINY, threads=2) as m:
        yield m


@pytest.fixture
def train_ds():
    with datamodel.Dataset.from_texts([t for t, _ in TRAIN_ROWS], labels=[y for _, y in TRAIN_ROWS]) as ds:
        yield ds


def close(a, b, tol=1e-4):
    """Max abs difference of two nested lists / arrays is within TOL."""
    if isinstance(a, (list, tuple)) or hasattr(a, "tolist"):
        a, b = list(a), list(b)
        assert len(a) == len(b)
        return all(close(x, y, tol) for x, y in zip(a, b))
    return abs(float(a) - float(b)) <= tol


# ---------------------------------------------------------------------------- layouts


def test_struct_sizes_match_library(model):
    for struct, fn in [(_model._ModelOptions, "dm_model_options_default"),
                       (_model._InferOptions, "dm_infer_options_default"),
                       (_model._FitOptions, "dm_train_options_default")]:
        o = struct()
        getattr(_model._lib, fn)(ctypes.byref(o))
        assert o.struct_size == ctypes.sizeof(struct), fn
    info = _model._ModelInfo()
    info.struct_size = 10**6  # the library writes back the size it knows
    with model._use() as h:
        assert _model._lib.dm_model_get_info(h, ctypes.byref(info)) == 0
    assert info.struct_size == ctypes.sizeof(_model._ModelInfo)


def test_defaults_come_from_the_library():
    import inspect
    sig = inspect.signature(datamodel.train).parameters
    assert sig["epochs"].default == 3 and sig["batch_size"].default == 32
    assert sig["learning_rate"].default == pytest.approx(5e-5) and sig["seed"].default == 42
    assert sig["max_length"].default == 128 and sig["keep_best"].default is True
    assert inspect.signature(datamodel.Model.load).parameters["seed"].default == 42
    assert inspect.signature(datamodel.Model.predict).parameters["batch_size"].default == 32


# ---------------------------------------------------------------------------- loading


def test_load_info_labels(model):
    info = model.info
    assert info["hidden_size"] == 48 and info["num_layers"] == 2 and info["num_heads"] == 4
    assert info["intermediate_size"] == 96 and info["vocab_size"] == 315
    assert info["max_position_embeddings"] == 64 and info["type_vocab_size"] == 2
    assert info["num_labels"] == 3 and info["new_head"] is False
    assert info["num_parameters"] > 0 and info["device"] in ("cpu", "cuda") and info["backend_name"]
    assert model.labels == LABELS
    assert model.label_name(2) == "positive" and model.label_name(3) is None and model.label_name(-1) is None
    assert "Model(" in repr(model)


def test_precision_bf16_close_to_fp32():
    texts = ["the old lighthouse keeper painted his boat blue", "this soup was far too salty"]
    with datamodel.Model.load(TINY) as m:
        assert m.info["precision"] == "fp32"
        ref = m.predict(texts).logits
        m.set_precision("bf16")
        assert m.info["precision"] == "bf16"
        low = m.predict(texts).logits
        m.set_precision("fp32")
        assert m.predict(texts).logits == ref
        with pytest.raises(ValueError):
            m.set_precision("fp8")
    # bfloat16 keeps 8 significant bits: logits of this size move by ~1e-3
    assert max(abs(a - b) for r1, r2 in zip(ref, low) for a, b in zip(r1, r2)) < 2e-2
    with datamodel.Model.load(TINY, precision="bf16") as m:
        assert m.info["precision"] == "bf16"


def test_load_new_head():
    with datamodel.Model.load(TINY, num_labels=2, labels=["bad", "good"], seed=7) as m:
        assert m.labels == ["bad", "good"] and m.info["new_head"] is True and m.info["num_labels"] == 2
        a = m.predict(["hello"]).logits
    with datamodel.Model.load(TINY, num_labels=2, labels=["bad", "good"], seed=7) as m:
        assert m.predict(["hello"]).logits == a  # the seed fixes the new head
    with datamodel.Model.load(TINY, num_labels=4) as m:
        assert m.labels == ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"]


def test_load_errors(tmp_path):
    with pytest.raises(datamodel.Error) as e:
        datamodel.Model.load(str(tmp_path / "missing"))
    assert e.value.status_name == "DM_ERR_IO" and "missing" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.Model.load(str(tmp_path))  # a folder without config.json
    assert e.value.status_name == "DM_ERR_NOT_FOUND" and "config.json" in e.value.message
    other = tmp_path / "gpt2"
    shutil.copytree(TINY, other)
    config = json.loads((other / "config.json").read_text())
    config["model_type"] = "gpt2"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(datamodel.Error) as e:
        datamodel.Model.load(str(other))
    assert e.value.status_name == "DM_ERR_UNSUPPORTED" and "gpt2" in e.value.message
    with pytest.raises(ValueError):
        datamodel.Model.load(TINY, device="tpu")
    with pytest.raises(datamodel.Error) as e:
        datamodel.Model.load(TINY, seed=-1)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"


def test_closed_model_raises():
    m = datamodel.Model.load(TINY)
    m.close()
    m.close()
    with pytest.raises(ValueError):
        m.predict(["x"])
    with pytest.raises(ValueError):
        m.info
    assert repr(m) == "Model(closed)"


# ---------------------------------------------------------------------------- forward against the reference


def test_forward_matches_reference(model, ref):
    ids, types, mask = (ref[k].tolist() for k in ("input_ids", "token_type_ids", "attention_mask"))
    out = model.forward(ids, types, mask)
    assert out.hidden is None and out.pooled is None
    assert len(out.logits) == 4 and all(len(r) == 3 for r in out.logits)
    assert close(out.logits, ref["logits"].tolist())
    full = model.forward(ids, types, mask, output_hidden=True, output_pooled=True)
    assert close(full.logits, out.logits, 0)
    assert close(full.pooled, ref["pooled"].tolist())
    h, rh, m = full.hidden, ref["hidden.2"], ref["attention_mask"]
    for b in range(4):  # padding positions are not compared
        for t in range(33):
            if m[b][t]:
                assert close(h[b][t], rh[b][t].tolist())


def test_forward_numpy_in_numpy_out(model, ref):
    np = pytest.importorskip("numpy")
    out = model.forward(ref["input_ids"], ref["token_type_ids"], ref["attention_mask"], output_pooled=True)
    assert isinstance(out.logits, np.ndarray) and out.logits.shape == (4, 3) and out.logits.dtype == np.float32
    assert np.abs(out.logits - ref["logits"]).max() < 1e-4
    assert np.abs(out.pooled - ref["pooled"]).max() < 1e-4
    # type ids and mask default to zeros and ones
    one = model.forward(ref["input_ids"][:1, :10])
    assert np.abs(one.logits[0] - ref["logits"][0]).max() < 1e-4


def test_forward_errors(model):
    with pytest.raises(ValueError):
        model.forward([[2, 5, 3], [2, 3]])  # ragged
    with pytest.raises(ValueError):
        model.forward([2, 5, 3])  # not batch x seq_len
    with pytest.raises(ValueError):
        model.forward([[2, 5, 3]], type_ids=[[0, 0]])
    with pytest.raises(datamodel.Error) as e:
        model.forward([[2, 5000, 3]])
    assert e.value.status_name == "DM_ERR_RANGE"
    with pytest.raises(datamodel.Error) as e:
        model.forward([[2, 5, 3]], attention_mask=[[0, 0, 0]])
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    with pytest.raises(datamodel.Error) as e:
        model.forward([[2] * 65])  # longer than max_position_embeddings
    assert e.value.status_name == "DM_ERR_RANGE"


# ---------------------------------------------------------------------------- predict, embed


def test_predict_matches_reference(model, ref):
    p = model.predict(SINGLES)
    assert len(p) == 3
    assert close(p.logits, ref["logits"][:3].tolist())
    for row in p.probs:
        assert sum(row) == pytest.approx(1.0, abs=1e-5) and all(0 <= x <= 1 for x in row)
    for name, j, row in zip(p.labels, p.label_ids, p.logits):
        assert j == max(range(3), key=lambda k: row[k]) and name == LABELS[j]
    label, probs = p[0]
    assert label == p.labels[0] and probs == list(p.probs[0])
    assert [x[0] for x in p] == p.labels
    pair = model.predict([PAIR[0]], pairs=[PAIR[1]])
    assert close(pair.logits[0], ref["logits"][3].tolist())
    assert model.predict([]).labels == []


def test_predict_options(model):
    texts = SINGLES * 3
    a = model.predict(texts, batch_size=2)
    b = model.predict(texts, batch_size=32)
    assert close(a.logits, b.logits, 1e-5)
    calls = []
    model.predict(texts, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (9, 9)
    with pytest.raises(datamodel.Error) as e:
        model.predict(texts, batch_size=2, progress=lambda done, total: True)
    assert e.value.status_name == "DM_ERR_CANCELLED"

    def boom(done, total):
        raise KeyError("from the progress callback")
    with pytest.raises(KeyError):
        model.predict(texts, batch_size=2, progress=boom)
    short = model.predict(texts, max_length=4)  # truncated: other logits
    assert not close(short.logits[1], a.logits[1], 1e-6)
    with pytest.raises(datamodel.Error) as e:
        model.predict(texts, batch_size=0)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    with pytest.raises(datamodel.Error) as e:
        model.predict([b"bad \xff utf-8"])
    assert e.value.status_name == "DM_ERR_UTF8"
    model.predict([b"bad \xff utf-8"], invalid_utf8="replace")
    with pytest.raises(TypeError):
        model.predict("a single string")
    with pytest.raises(ValueError):
        model.predict(["a", "b"], pairs=["x"])


def test_predict_numpy(model):
    np = pytest.importorskip("numpy")
    p = model.predict(SINGLES, return_numpy=True)
    assert p.probs.shape == (3, 3) and p.logits.shape == (3, 3)
    assert np.allclose(p.probs.sum(axis=1), 1.0, atol=1e-5)
    assert close(p.logits.tolist(), model.predict(SINGLES).logits, 0)


def test_embed(model, ref):
    e = model.embed(SINGLES)
    assert len(e) == 3 and all(len(v) == 48 for v in e)
    # Not a sentence-transformers folder: default pooling is CLS, no normalisation.
    cls = model.embed(SINGLES, pooling="cls", normalize=False)
    assert close(e, cls, 0)
    for i in range(3):
        assert close(cls[i], ref["hidden.2"][i][0].tolist())
    unit = model.embed(SINGLES, pooling="mean", normalize=True)
    for v in unit:
        assert math.sqrt(sum(x * x for x in v)) == pytest.approx(1.0, abs=1e-5)
    mean = model.embed(SINGLES[:1], pooling="mean", normalize=False)[0]
    m = ref["attention_mask"][0]
    n = int(m.sum())
    want = [sum(float(ref["hidden.2"][0][t][c]) for t in range(n)) / n for c in range(48)]
    assert close(mean, want)
    assert model.embed([]) == []
    with pytest.raises(ValueError):
        model.embed(SINGLES, pooling="max")


# ---------------------------------------------------------------------------- save, tokenizer, threads


def test_save_and_reload_predict_the_same(model, tmp_path):
    out = tmp_path / "saved"
    model.save(str(out))
    assert {"config.json", "model.safetensors"} <= set(os.listdir(out))
    with datamodel.Model.load(str(out)) as again:
        assert again.labels == LABELS and again.info["new_head"] is False
        assert again.predict(SINGLES).logits == model.predict(SINGLES).logits
    with pytest.raises(datamodel.Error) as e:
        model.save(str(tmp_path / "saved" / "config.json" / "x"))
    assert e.value.status_name == "DM_ERR_IO"


def test_tokenizer_is_borrowed_and_keeps_the_model_alive():
    m = datamodel.Model.load(TINY)
    tok = m.tokenizer
    assert isinstance(tok, datamodel.Tokenizer)
    assert tok.vocab_size == 315
    ids = tok.encode("I really enjoyed the concert").ids
    tok.close()  # detaches only: the model still works
    assert m.predict(["x"]).labels
    with pytest.raises(ValueError):
        tok.encode("x")
    tok2 = m.tokenizer
    with m.tokenizer as tok3:
        assert tok3.encode("I really enjoyed the concert").ids == ids
    m.close()  # tok2 keeps the C model alive
    del m
    gc.collect()
    assert tok2.encode("I really enjoyed the concert").ids == ids
    del tok2
    gc.collect()


def test_set_threads(model):
    a = model.predict(SINGLES).logits
    model.set_threads(1)
    assert close(model.predict(SINGLES).logits, a, 1e-5)
    model.set_threads(0)
    with pytest.raises(datamodel.Error) as e:
        model.set_threads(-2)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"


# ---------------------------------------------------------------------------- evaluate


def test_evaluate(model, train_ds):
    r = model.evaluate(train_ds, batch_size=5)
    assert isinstance(r, datamodel.Report)
    assert r.n_examples == len(TRAIN_ROWS) and r.labels == LABELS
    pred = model.predict([t for t, _ in TRAIN_ROWS])
    hits = sum(p == y for p, (_, y) in zip(pred.labels, TRAIN_ROWS))
    assert r.accuracy == pytest.approx(hits / len(TRAIN_ROWS))
    assert sum(map(sum, r.confusion)) == len(TRAIN_ROWS)
    # loss is the mean cross-entropy of the model's probabilities
    nll = [-math.log(p[LABELS.index(y)]) for p, (_, y) in zip(pred.probs, TRAIN_ROWS)]
    assert r.loss == pytest.approx(sum(nll) / len(nll), rel=1e-4)
    assert r.log_loss == pytest.approx(r.loss, rel=1e-4)
    assert r.to_json()["labels"] == LABELS


def test_evaluate_errors(model):
    with datamodel.Dataset.from_texts(["a"], labels=["other"]) as ds:
        with pytest.raises(datamodel.Error) as e:
            model.evaluate(ds)
        assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT" and "other" in e.value.message
    with datamodel.Dataset.from_texts(["a", "b"], labels=["neutral", None]) as ds:
        with pytest.raises(datamodel.Error) as e:
            model.evaluate(ds)
        assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    with pytest.raises(TypeError):
        model.evaluate(["not a dataset"])


# ---------------------------------------------------------------------------- training


def test_train_short_run(model, train_ds):
    before = model.predict(SINGLES).logits
    seen = []
    res = datamodel.train(model, train_ds, max_steps=3, batch_size=4, learning_rate=1e-3, callback=seen.append)
    assert set(res) == {"steps", "epochs", "final_loss", "best_val_metric", "best_step", "stopped_early", "seconds"}
    assert res["steps"] == 3 and res["epochs"] == pytest.approx(1.0)
    assert math.isfinite(res["final_loss"]) and res["final_loss"] > 0
    assert math.isnan(res["best_val_metric"]) and res["stopped_early"] is False and res["seconds"] >= 0
    assert [p["step"] for p in seen] == [1, 2, 3]
    p = seen[-1]
    assert p["total_steps"] == 3 and p["epoch"] == pytest.approx(1.0) and p["evaluated"] is False
    assert math.isfinite(p["loss"]) and p["learning_rate"] >= 0 and p["grad_norm"] > 0
    assert math.isnan(p["val_accuracy"])
    assert not close(model.predict(SINGLES).logits, before, 1e-6)  # the weights moved


def test_train_mixed_precision(train_ds, monkeypatch):
    """precision="bf16": bfloat16 products with float32 weights (cpu-ref has them on every CPU), close to
    float32's losses; an unknown precision is refused by name."""
    monkeypatch.setenv("DM_BACKEND", "cpu-ref")
    losses = {}
    for precision in ("fp32", "bf16"):
        seen = []
        with datamodel.Model.load(TINY, threads=2) as m:
            datamodel.train(m, train_ds, max_steps=4, batch_size=4, learning_rate=1e-3, dropout=0.0,
                            precision=precision, callback=seen.append)
        losses[precision] = [p["loss"] for p in seen]
    assert len(losses["bf16"]) == 4
    with datamodel.Model.load(TINY, threads=2) as m:
        before = m.info
        datamodel.train(m, train_ds, max_steps=1, batch_size=4)
        after = m.info
    # the weights at least; training adds gradients, moments and activations to the peak
    assert before["memory_bytes"] >= 4 * before["num_parameters"]
    assert after["memory_peak_bytes"] > before["memory_peak_bytes"] >= before["memory_bytes"]
    for a, b in zip(losses["fp32"], losses["bf16"]):
        assert abs(a - b) <= 0.02 * a  # bfloat16 keeps 8 bits; a wrong gradient would be far off
    with datamodel.Model.load(TINY, threads=2) as m:
        with pytest.raises(ValueError, match="precision"):
            datamodel.train(m, train_ds, max_steps=1, precision="fp16")


def test_train_with_validation(model, train_ds):
    seen = []
    res = datamodel.train(model, train_ds, train_ds, epochs=2, batch_size=6, learning_rate=1e-3, warmup_ratio=0.1,
                          schedule="cosine", dropout=0.0, shuffle=False, class_weights=[1.0, 2.0, 1.0],
                          callback=seen.append)
    assert res["steps"] == 4 and res["epochs"] == pytest.approx(2.0)
    evals = [p for p in seen if p["evaluated"]]
    assert len(evals) == 2  # after every epoch
    assert all(0 <= p["val_accuracy"] <= 1 and math.isfinite(p["val_loss"]) for p in evals)
    assert res["best_val_metric"] == pytest.approx(max(p["val_accuracy"] for p in evals))
    assert res["best_step"] in (2, 4)


def test_train_is_deterministic_and_writes_output(train_ds, tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    results = []
    for k in range(2):
        with datamodel.Model.load(TINY) as m:
            datamodel.train(m, train_ds, max_steps=2, batch_size=4, seed=3, output_dir=str(out) if k else None,
                            log_jsonl=str(log), threads=1)
            results.append(m.predict(SINGLES).logits)
    assert results[0] == results[1]
    with datamodel.Model.load(str(out)) as m:
        assert m.predict(SINGLES).logits == results[1]
    assert len(log.read_text().splitlines()) == 2


def test_train_callback_cancels(model, train_ds):
    seen = []

    def stop_at_two(p):
        seen.append(p["step"])
        return p["step"] >= 2
    with pytest.raises(datamodel.Error) as e:
        datamodel.train(model, train_ds, epochs=5, batch_size=4, callback=stop_at_two)
    assert e.value.status_name == "DM_ERR_CANCELLED"
    assert seen == [1, 2]


def test_train_callback_exception_is_reraised(model, train_ds):
    calls = []

    def boom(p):
        calls.append(p["step"])
        raise KeyError("from the training callback")
    with pytest.raises(KeyError, match="from the training callback"):
        datamodel.train(model, train_ds, epochs=5, batch_size=4, callback=boom)
    assert calls == [1]  # training stopped at once
    assert model.predict(["still usable"]).labels


def test_train_errors(model, train_ds):
    bad = [dict(learning_rate=0.0), dict(batch_size=0), dict(epochs=0), dict(grad_accum=0), dict(dropout=1.5),
           dict(warmup_ratio=2.0), dict(max_length=1), dict(checkpoint_steps=1),
           dict(class_weights=[1.0, 1.0, -1.0]), dict(class_weights=[1.0, 2.0]),
           dict(class_weights=[1.0, 1.0, 1.0], balanced_class_weights=True), dict(batch_size=-1)]
    for kw in bad:
        with pytest.raises(datamodel.Error) as e:
            datamodel.train(model, train_ds, **kw)
        assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT", kw
    with pytest.raises(ValueError):
        datamodel.train(model, train_ds, schedule="exponential")
    with pytest.raises(ValueError):
        datamodel.train(model, train_ds, class_weights="inverse")
    with datamodel.Dataset.from_texts(["a", "b"], labels=["neutral", "unknown"]) as ds:
        with pytest.raises(datamodel.Error) as e:
            datamodel.train(model, ds, max_steps=1)
        assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT" and "unknown" in e.value.message
    with datamodel.Dataset.from_texts(["a"]) as ds:  # no labels
        with pytest.raises(datamodel.Error) as e:
            datamodel.train(model, ds, max_steps=1)
        assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    with pytest.raises(datamodel.Error) as e:
        datamodel.train(model, train_ds, max_steps=1, resume_from="/nonexistent/checkpoint-1")
    assert e.value.status_name in ("DM_ERR_IO", "DM_ERR_NOT_FOUND")
    with pytest.raises(TypeError):
        datamodel.train(model, [("text", "label")])


def test_train_balanced_weights_and_checkpoints(model, train_ds, tmp_path):
    out = tmp_path / "run"
    res = datamodel.train(model, train_ds, max_steps=4, batch_size=4, class_weights="balanced",
                          output_dir=str(out), checkpoint_steps=1, checkpoint_limit=2, grad_accum=2)
    assert res["steps"] == 4
    checkpoints = sorted(d for d in os.listdir(out) if d.startswith("checkpoint-"))
    assert checkpoints == ["checkpoint-3", "checkpoint-4"]
    with datamodel.Model.load(TINY) as fresh:  # resuming the last checkpoint needs no more steps
        again = datamodel.train(fresh, train_ds, max_steps=4, batch_size=4, class_weights="balanced", grad_accum=2,
                                resume_from=str(out / "checkpoint-4"))
        assert again["steps"] == 4
        assert close(fresh.predict(SINGLES).logits, model.predict(SINGLES).logits, 1e-6)


def test_threads_share_a_model(model):
    import threading
    want = model.predict(SINGLES).logits
    bad = []

    def work():
        for _ in range(5):
            if not close(model.predict(SINGLES).logits, want, 1e-5):
                bad.append("other result")
            model.embed(SINGLES[:1])
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_callback_may_use_the_model(model, train_ds, tmp_path):
    labels = []

    def cb(p):
        labels.append(model.predict(["hello"]).labels[0])
        if p["step"] == 2:
            model.save(str(tmp_path / "at-step-2"))
    datamodel.train(model, train_ds, max_steps=2, batch_size=4, callback=cb)
    assert len(labels) == 2 and all(x in LABELS for x in labels)
    with datamodel.Model.load(str(tmp_path / "at-step-2")) as m:
        assert m.predict(SINGLES).logits == model.predict(SINGLES).logits


def test_train_early_stopping_keeps_the_best(model, train_ds):
    evals = []
    # A learning rate too small to change any prediction: the second
    # evaluation is no better than the first, which stops training.
    res = datamodel.train(model, train_ds, train_ds, epochs=3, batch_size=4, learning_rate=1e-12, eval_steps=1,
                          early_stopping_patience=1, callback=lambda p: evals.append(p["evaluated"]))
    assert res["stopped_early"] is True and res["steps"] == 2 and res["best_step"] == 1
    assert evals == [True, True]
    assert 0 <= res["best_val_metric"] <= 1
