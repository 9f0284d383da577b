"""Tests of the Python bindings of the public pieces of training: trainable
tensors (Model.set_trainable, is_trainable, info["num_trainable_parameters"],
train(freeze_embeddings=, freeze_layers=)), Model.forward_backward /
zero_grad / grad, datamodel.Optimizer (dm_optimizer) and datamodel.Trainer
(dm_trainer), on the tiny random BERT fixture of test/model/fixtures (labels
negative, neutral, positive; 2 layers, hidden 48). Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests"""
import ctypes
import gc
import math
import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402
from datamodel import _model  # noqa: E402

try:
    import numpy as np
except ImportError:  # pragma: no cover - depends on the machine
    np = None

TINY = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "model", "fixtures", "tiny"))
LABELS = ["negative", "neutral", "positive"]
BUSY, NOT_FOUND, RANGE, INVALID, UNSUPPORTED, CANCELLED = 13, 5, 9, 1, 7, 8

TRAIN_ROWS = [
    ("The soup was far too salty.", "negative"), ("What a wonderful surprise!", "positive"),
    ("这家餐厅的菜太咸了。", "negative"), ("Does the museum open at 9?", "neutral"),
    ("The movie was boring and far too long.", "negative"), ("We climbed the hill to watch the sunset.", "positive"),
    ("猫在沙发上睡了一整天。", "neutral"), ("Please close the window.", "neutral"),
    ("He fixed the broken bicycle in ten minutes, which was great!", "positive"),
    ("Nobody answered the phone.", "neutral"), ("Our garden has a small pond and tall sunflowers.", "positive"),
    ("The bread was stale.", "negative"),
]
VAL_ROWS = [("A dull and salty meal.", "negative"), ("Lovely sunny garden!", "positive"),
            ("The bus leaves at noon.", "neutral"), ("The film was too long.", "negative")]

# A quick run: 12 rows in batches of 4 = 3 steps an epoch.
QUICK = dict(epochs=2, batch_size=4, learning_rate=1e-2, max_length=16, threads=1)


def load():
    return datamodel.Model.load(TINY, threads=1, device="cpu")


@pytest.fixture
def model():
    with load() as m:
        yield m


def dataset(rows):
    return datamodel.Dataset.from_texts([t for t, _ in rows], labels=[y for _, y in rows])


@pytest.fixture
def train_ds():
    with dataset(TRAIN_ROWS) as ds:
        yield ds


@pytest.fixture
def val_ds():
    with dataset(VAL_ROWS) as ds:
        yield ds


def batch_of(model, rows):
    """ids, attention_mask (lists of lists, padded to the longest) and label ids of ROWS."""
    enc = model.tokenizer.encode_batch([t for t, _ in rows], truncation="longest_first", max_length=16,
                                       padding="longest")
    ids = [list(e.ids) for e in enc]
    mask = [list(e.attention_mask) for e in enc]
    return ids, mask, [LABELS.index(y) for _, y in rows]


def weights_of(model, tmp_path, name="m"):
    """The model's tensors (numpy, by Hugging Face name), read back from a save."""
    st = pytest.importorskip("safetensors.numpy")
    d = tmp_path / name
    model.save(str(d))
    return st.load_file(str(d / "model.safetensors"))


def flat(x):
    if hasattr(x, "tolist"):
        x = x.tolist()
    out = []
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            out.append(v)
    return out


def max_diff(a, b):
    a, b = flat(a), flat(b)
    assert len(a) == len(b)
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def raises_status(status, fn, *args, match=None, **kw):
    with pytest.raises(datamodel.Error) as e:
        fn(*args, **kw)
    assert e.value.status == status, e.value
    if match:
        assert match in e.value.message, e.value.message
    return e.value


# ---------------------------------------------------------------------------- layouts


def test_struct_layouts_match_library(model):
    for struct, fn in [(_model._BackwardOptions, "dm_backward_options_default"),
                       (_model._OptimizerOptions, "dm_optimizer_options_default"),
                       (_model._FitOptions, "dm_train_options_default")]:
        o = struct()
        getattr(_model._lib, fn)(ctypes.byref(o))
        assert o.struct_size == ctypes.sizeof(struct), fn
    info = _model._ModelInfo()
    info.struct_size = 10**6  # the library writes back the size it knows
    with model._use() as h:
        assert _model._lib.dm_model_get_info(h, ctypes.byref(info)) == 0
    assert info.struct_size == ctypes.sizeof(_model._ModelInfo)
    with datamodel.Optimizer(model) as opt:
        si = _model._StepInfo()
        si.struct_size = 10**6
        with opt._use() as h:
            assert _model._lib.dm_optimizer_step(h, ctypes.byref(si)) == 0
        assert si.struct_size == ctypes.sizeof(_model._StepInfo)
    # The defaults of the bindings are the library's.
    import inspect
    fb = inspect.signature(datamodel.Model.forward_backward).parameters
    assert fb["grad_scale"].default == 1.0 and fb["dropout"].default == -1.0 and fb["seed"].default == 42
    op = inspect.signature(datamodel.Optimizer).parameters
    assert op["learning_rate"].default == pytest.approx(5e-5) and op["max_grad_norm"].default == 1.0
    tr = inspect.signature(datamodel.Trainer).parameters
    assert tr["epochs"].default == 3 and tr["freeze_layers"].default == 0 and tr["freeze_embeddings"].default is False
    assert inspect.signature(datamodel.train).parameters["freeze_embeddings"].default is False


# ---------------------------------------------------------------------------- trainable tensors


def test_trainable_tensors(model):
    info = model.info
    assert info["num_trainable_parameters"] == info["num_parameters"]
    assert model.is_trainable("bert.embeddings.word_embeddings.weight") is True
    model.set_trainable("bert.embeddings.", False)
    H = info["hidden_size"]
    emb = (info["vocab_size"] + info["max_position_embeddings"] + info["type_vocab_size"]) * H + 2 * H
    assert model.info["num_trainable_parameters"] == info["num_parameters"] - emb
    assert model.is_trainable("bert.embeddings.LayerNorm.bias") is False
    assert model.is_trainable("classifier.bias") is True
    model.set_trainable("", True)
    assert model.info["num_trainable_parameters"] == info["num_parameters"]
    raises_status(NOT_FOUND, model.is_trainable, "nope")
    raises_status(NOT_FOUND, model.set_trainable, "nothing.", False, match="nothing.")
    raises_status(UNSUPPORTED, model.set_trainable, "bert.encoder.layer.0.attention.self.query.", False,
                  match="query, key and value")
    with pytest.raises(ValueError):
        model.set_trainable("bert.\0", False)
    with pytest.raises(TypeError):
        model.is_trainable(3)
    # A frozen tensor has no gradient; an unknown one is not found.
    model.set_trainable("bert.encoder.layer.1.", False)
    raises_status(INVALID, model.grad, "bert.encoder.layer.1.output.dense.bias", match="frozen")
    raises_status(NOT_FOUND, model.grad, "bert.encoder.layer.7.output.dense.bias")
    raises_status(NOT_FOUND, model.grad, "nope")


# ---------------------------------------------------------------------------- forward and backward


def test_forward_backward_matches_forward_and_accumulates(model):
    ids, mask, labels = batch_of(model, TRAIN_ROWS[:6])
    loss, logits = model.forward_backward(ids, labels, attention_mask=mask, dropout=0, return_logits=True)
    assert math.isfinite(loss) and loss > 0
    ref = model.forward(ids, attention_mask=mask).logits
    assert len(logits) == 6 and len(logits[0]) == 3 and max_diff(logits, ref) < 1e-5
    name = "bert.encoder.layer.0.intermediate.dense.weight"
    whole = model.grad(name)
    assert len(whole) == 96 and len(whole[0]) == 48
    # The same batch in two halves accumulates to the same gradient and loss.
    model.zero_grad()
    assert max(abs(v) for v in flat(model.grad(name))) == 0.0
    l1 = model.forward_backward(ids[:3], labels[:3], attention_mask=mask[:3], dropout=0)
    l2 = model.forward_backward(ids[3:], labels[3:], attention_mask=mask[3:], dropout=0)
    assert abs(l1 + l2 - loss) < 1e-5 * loss
    assert max_diff(model.grad(name), whole) < 1e-5
    # Per-example weights scale each loss; label -1 has none.
    model.zero_grad()
    w = model.forward_backward(ids, labels, attention_mask=mask, dropout=0, weights=[2.0] * 6)
    assert abs(w - 2 * loss) < 1e-5 * loss
    none = model.forward_backward(ids, [-1] * 6, attention_mask=mask, dropout=0)
    assert none == 0.0


def test_grad_shapes_are_the_tensors(model, tmp_path):
    ids, mask, labels = batch_of(model, TRAIN_ROWS[:4])
    model.forward_backward(ids, labels, attention_mask=mask)
    tensors = weights_of(model, tmp_path)
    for name, w in tensors.items():
        g = model.grad(name, return_numpy=np is not None)
        if np is not None:
            assert g.shape == w.shape and g.dtype == np.float32, name
        else:  # pragma: no cover
            assert len(flat(g)) == w.size
    assert len(tensors) == 5 + 2 * 16 + 4


@pytest.mark.skipif(np is None, reason="numpy is not installed")
def test_forward_backward_numpy(model):
    ids, mask, labels = batch_of(model, TRAIN_ROWS[:4])
    a = np.array(ids, dtype=np.int64)
    loss, logits = model.forward_backward(a, np.array(labels), attention_mask=np.array(mask, dtype=np.uint8),
                                          weights=np.ones(4), dropout=0, return_logits=True)
    assert isinstance(logits, np.ndarray) and logits.shape == (4, 3)
    loss2 = model.forward_backward(ids, labels, attention_mask=mask, dropout=0)
    assert abs(loss - loss2) < 1e-6 * loss
    with pytest.raises(OverflowError, match=r"labels\[1\]"):
        model.forward_backward(a, np.array([0, 2**40, 0, 0]))
    with pytest.raises(ValueError, match="1-D"):
        model.forward_backward(a, labels, weights=np.ones((4, 1)))
    with pytest.raises(ValueError, match="2-D"):
        model.forward_backward(a[0], labels)


def test_forward_backward_errors(model):
    ids, mask, labels = batch_of(model, TRAIN_ROWS[:3])
    with pytest.raises(ValueError, match="equal lengths"):
        model.forward_backward([ids[0], ids[1][:-1]], labels[:2])
    with pytest.raises(ValueError, match="labels has 2 values"):
        model.forward_backward(ids, labels[:2])
    with pytest.raises(ValueError, match="attention_mask is"):
        model.forward_backward(ids, labels, attention_mask=mask[:2])
    with pytest.raises(ValueError, match="type_ids is"):
        model.forward_backward(ids, labels, type_ids=[[0] * 3] * 3)
    with pytest.raises(ValueError, match="weights has 2"):
        model.forward_backward(ids, labels, weights=[1.0, 1.0])
    with pytest.raises(OverflowError, match=r"ids\[0\]\[1\]"):
        model.forward_backward([[1, 2**32 + 5] + ids[0][2:]], [0])
    with pytest.raises(OverflowError, match=r"labels\[0\]"):
        model.forward_backward(ids[:1], [2**31])
    with pytest.raises(OverflowError, match="attention_mask"):
        model.forward_backward(ids[:1], [0], attention_mask=[[256] * len(ids[0])])
    with pytest.raises(TypeError):
        model.forward_backward(ids[:1], "0")
    raises_status(RANGE, model.forward_backward, [[5, 10**6]], [0], match="not a token id")
    raises_status(RANGE, model.forward_backward, ids, [0, 3, 1], match="labels[1] = 3")
    raises_status(RANGE, model.forward_backward, ids, [0, -2, 1], match="labels[1] = -2")
    raises_status(INVALID, model.forward_backward, ids, labels, weights=[1, -1, 1], match="weights[1]")
    raises_status(INVALID, model.forward_backward, ids, labels, weights=[1, float("nan"), 1])
    raises_status(INVALID, model.forward_backward, ids[:1], [0], attention_mask=[[0] * len(ids[0])],
                  match="all zeros")
    raises_status(RANGE, model.forward_backward, [], [], match="empty batch")
    raises_status(RANGE, model.forward_backward, [[5] * 65], [0], match="max_position_embeddings")
    raises_status(INVALID, model.forward_backward, ids, labels, dropout=1.5, match="dropout")
    raises_status(INVALID, model.forward_backward, ids, labels, seed=-1, match="seed")
    model.close()
    with pytest.raises(ValueError, match="closed"):
        model.forward_backward(ids, labels)
    with pytest.raises(ValueError, match="closed"):
        model.zero_grad()
    with pytest.raises(ValueError, match="closed"):
        model.grad("classifier.bias")


# ---------------------------------------------------------------------------- a hand-written loop


def test_hand_written_loop_decreases_the_loss_and_keeps_frozen_weights(model, tmp_path):
    model.set_trainable("bert.encoder.layer.0.", False)
    model.set_trainable("bert.embeddings.", False)
    before = weights_of(model, tmp_path, "before")
    batches = [batch_of(model, TRAIN_ROWS[i:i + 4]) for i in range(0, 12, 4)]
    epochs = 8
    losses = []
    with datamodel.Optimizer(model, learning_rate=1e-2, warmup_steps=2, total_steps=3 * epochs) as opt:
        assert opt.steps == 0
        for e in range(epochs):
            total = 0.0
            for k, (ids, mask, labels) in enumerate(batches):
                total += model.forward_backward(ids, labels, attention_mask=mask, grad_scale=1 / len(labels),
                                                dropout=0, stream=e * 3 + k)
                info = opt.step()
                assert info["step"] == e * 3 + k + 1 and info["grad_norm"] > 0
                if info["step"] <= 3:  # warmup over 2 steps, as Hugging Face's schedule: 0, 1/2, 1
                    assert info["learning_rate"] == pytest.approx(0.5e-2 * (info["step"] - 1))
            losses.append(total / 12)
        assert opt.steps == 3 * epochs
        # The step cleared the gradients.
        assert max(abs(v) for v in flat(model.grad("classifier.weight"))) == 0.0
        assert "steps=24" in repr(opt)
    assert losses[-1] < 0.7 * losses[0], losses
    after = weights_of(model, tmp_path, "after")
    for name in before:
        same = (before[name] == after[name]).all()
        frozen = name.startswith(("bert.encoder.layer.0.", "bert.embeddings."))
        assert same == frozen, name


def test_optimizer_save_load_and_lifetimes(model, tmp_path):
    ids, mask, labels = batch_of(model, TRAIN_ROWS[:4])
    path = str(tmp_path / "opt.safetensors")
    opt = datamodel.Optimizer(model, learning_rate=1e-3)
    for _ in range(3):
        model.forward_backward(ids, labels, attention_mask=mask)
        opt.step()
    opt.save(path)
    # The trainable set is fixed and the model stays open while it exists.
    raises_status(BUSY, model.set_trainable, "bert.embeddings.", False, match="optimizer")
    raises_status(BUSY, model.close)
    assert model.info["num_labels"] == 3  # still open
    opt.close()
    opt.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        opt.step()
    with pytest.raises(ValueError, match="closed"):
        opt.steps
    assert repr(opt) == "Optimizer(closed)"
    with datamodel.Optimizer(model, learning_rate=1e-3) as again:
        again.load(path)
        assert again.steps == 3
        model.forward_backward(ids, labels, attention_mask=mask)
        assert again.step()["step"] == 4
    with datamodel.Optimizer(model, learning_rate=1e-3, adam_beta2=0.98) as other:
        raises_status(INVALID, other.load, path, match="adam_beta2")
    model.set_trainable("bert.embeddings.", False)
    with datamodel.Optimizer(model, learning_rate=1e-3) as fewer:
        raises_status(INVALID, fewer.load, path, match="other tensors trainable")
        raises_status(2, fewer.load, str(tmp_path / "missing.safetensors"), match="missing.safetensors")
    # Bad options.
    raises_status(INVALID, datamodel.Optimizer, model, learning_rate=0)
    with pytest.raises(ValueError, match="schedule"):
        datamodel.Optimizer(model, schedule="step")
    with pytest.raises(TypeError):
        datamodel.Optimizer("model")
    # A step without a NaN-free gradient: none accumulated is fine (norm 0).
    with datamodel.Optimizer(model) as o2:
        assert o2.step()["grad_norm"] == 0.0
    model.close()
    with pytest.raises(ValueError, match="closed"):
        datamodel.Optimizer(model)


def test_optimizer_keeps_the_model_alive():
    m = load()
    opt = datamodel.Optimizer(m)
    del m
    gc.collect()
    assert opt.steps == 0
    del opt
    gc.collect()


# ---------------------------------------------------------------------------- freezing in train()


def test_train_with_freezing_keeps_frozen_weights(model, train_ds, tmp_path):
    before = weights_of(model, tmp_path, "before")
    res = datamodel.train(model, train_ds, freeze_embeddings=True, freeze_layers=1, **QUICK)
    assert res["steps"] == 6
    after = weights_of(model, tmp_path, "after")
    for name in before:
        same = (before[name] == after[name]).all()
        assert same == name.startswith(("bert.embeddings.", "bert.encoder.layer.0.")), name
    # The freezing was the run's: the model's own trainable set is back afterwards.
    assert model.is_trainable("bert.encoder.layer.0.output.dense.weight") is True
    assert model.info["num_trainable_parameters"] == model.info["num_parameters"]
    raises_status(INVALID, datamodel.train, model, train_ds, freeze_layers=3, **QUICK)
    raises_status(INVALID, datamodel.train, model, train_ds, freeze_layers=2**31, **QUICK, match="freeze_layers")


def test_train_length_grouping_and_workers(train_ds, tmp_path):
    got = {}
    for grouping in (True, False, "mixed", "sorted", "buckets", "buckets"):
        m = load()
        assert datamodel.train(m, train_ds, group_by_length=grouping, **QUICK)["steps"] == 6
        got.setdefault(grouping, []).append(saved_bytes(m, tmp_path, f"g{len(got)}{grouping}"))
    assert got[False] == got["mixed"]
    assert got[True] == got["buckets"][:1]  # the default grouping
    assert got["buckets"][0] == got["buckets"][1]  # seeded
    assert got["mixed"] != got["sorted"]
    with load() as m:
        with pytest.raises(ValueError, match="group_by_length"):
            datamodel.train(m, train_ds, group_by_length="longest", **QUICK)
        raises_status(UNSUPPORTED, datamodel.train, m, train_ds, world_size=2, **QUICK, match="world_size 2")
        raises_status(INVALID, datamodel.train, m, train_ds, rank=1, **QUICK, match="rank must be in")
        assert datamodel.train(m, train_ds, rank=0, world_size=1, **QUICK)["steps"] == 6


# ---------------------------------------------------------------------------- the trainer


def saved_bytes(model, tmp_path, name):
    d = tmp_path / name
    model.save(str(d))
    return (d / "model.safetensors").read_bytes()


def test_trainer_steps_save_resume_equal_train(train_ds, val_ds, tmp_path):
    opts = dict(QUICK, dropout=0.1, grad_accum=2, batch_size=2)  # 6 micro-batches = 3 steps an epoch
    with load() as a:
        ref = datamodel.train(a, train_ds, val_ds, **opts)
        want = saved_bytes(a, tmp_path, "a")
    ckpt = str(tmp_path / "ckpt")
    with load() as b:
        with datamodel.Trainer(b, train_ds, val_ds, **opts) as t:
            progress = []
            while not t.done and len(progress) < 3:
                progress.append(t.step())
            assert [p["step"] for p in progress] == [1, 2, 3] and progress[-1]["total_steps"] == 6
            assert progress[-1]["epoch"] == 1.0 and progress[-1]["evaluated"] is False
            assert math.isnan(progress[-1]["val_loss"])
            # Step 3 ends the first epoch: train() evaluates there (the best weights).
            report = t.evaluate()
            assert report.n_examples == len(VAL_ROWS) and math.isfinite(report.loss)
            t.save(ckpt)
            assert "done=False" in repr(t)
        assert repr(t) == "Trainer(closed)"
    with load() as c:
        with datamodel.Trainer(c, train_ds, val_ds, **opts) as t:
            t.resume(ckpt)
            res = t.run()
            assert t.done
            raises_status(RANGE, t.step, match="are done")
        assert res["steps"] == ref["steps"] == 6 and res["best_step"] == ref["best_step"]
        assert saved_bytes(c, tmp_path, "c") == want
    # resume_from= in the constructor does the same.
    with load() as d:
        with datamodel.Trainer(d, train_ds, val_ds, resume_from=ckpt, **opts) as t:
            t.run()
        assert saved_bytes(d, tmp_path, "d") == want


def test_trainer_run_with_callback_and_output_dir(model, train_ds, val_ds, tmp_path):
    seen = []
    out = tmp_path / "out"
    with datamodel.Trainer(model, train_ds, val_ds, output_dir=str(out), callback=seen.append, **QUICK) as t:
        res = t.run()
    assert [p["step"] for p in seen] == [1, 2, 3, 4, 5, 6] and seen[2]["evaluated"] and not seen[1]["evaluated"]
    assert res["steps"] == 6 and (out / "model.safetensors").exists()
    # A truthy return cancels; an exception is raised again; the trainer is refused inside run().
    inner = []

    def cancel(p):
        with pytest.raises(datamodel.Error) as e:
            t.step()
        inner.append(e.value.status)
        with pytest.raises(datamodel.Error):
            t.close()
        return True

    with datamodel.Trainer(model, train_ds, callback=cancel, **QUICK) as t:
        raises_status(CANCELLED, t.run)
        assert inner == [BUSY]
        assert t.step()["step"] == 2  # usable after

    def boom(p):
        raise KeyError("boom")

    with datamodel.Trainer(model, train_ds, callback=boom, **QUICK) as t:
        with pytest.raises(KeyError):
            t.run()
        assert t.step()["step"] == 2  # the error was raised once


def test_trainer_with_an_optimizer(model, train_ds):
    with datamodel.Optimizer(model, learning_rate=1e-2) as opt:
        with datamodel.Trainer(model, train_ds, optimizer=opt, **QUICK) as t:
            raises_status(BUSY, opt.close, match="Trainer")
            t.step()
            t.step()
        assert opt.steps == 2
        raises_status(INVALID, datamodel.Trainer, model, train_ds, optimizer=opt, freeze_layers=1, **QUICK,
                      match="freeze")
    with load() as other, datamodel.Optimizer(other) as foreign:
        raises_status(INVALID, datamodel.Trainer, model, train_ds, optimizer=foreign, match="another model")
    closed = datamodel.Optimizer(model)
    closed.close()
    with pytest.raises(ValueError, match="optimizer is closed"):
        datamodel.Trainer(model, train_ds, optimizer=closed)
    with pytest.raises(TypeError):
        datamodel.Trainer(model, train_ds, optimizer="adam")


def test_trainer_errors_and_lifetimes(model, train_ds, val_ds):
    raises_status(INVALID, datamodel.Trainer, model, train_ds, epochs=0)
    with pytest.raises(TypeError, match="Trainer.. got an unexpected keyword argument 'epoch'"):
        datamodel.Trainer(model, train_ds, epoch=2)  # a misspelt option
    with pytest.raises(TypeError, match="train.. got an unexpected keyword argument 'self'"):
        datamodel.train(model, train_ds, self=1)
    with pytest.raises(TypeError):
        datamodel.Trainer(model, ["not", "a", "dataset"])
    with dataset([("no label here", "")]) as unlabelled:
        raises_status(INVALID, datamodel.Trainer, model, unlabelled)
    t = datamodel.Trainer(model, train_ds, **QUICK)
    raises_status(INVALID, t.evaluate, match="no validation data")
    # The model is being trained: it stays open, a second trainer is refused.
    raises_status(BUSY, model.close)
    raises_status(BUSY, datamodel.Trainer, model, train_ds, **QUICK)
    # Any thread may drive the trainer; the thread of its last call may use the model between
    # calls, the others get DM_ERR_BUSY.
    errors = {}

    def other_thread():
        for what, fn in (("step", t.step), ("predict", lambda: model.predict(["hi"]))):
            try:
                fn()
            except datamodel.Error as e:
                errors[what] = e.status

    th = threading.Thread(target=other_thread)
    th.start()
    th.join()
    assert errors == {}
    raises_status(BUSY, model.predict, ["hi"])
    t.step()  # this thread drives it again
    assert len(model.predict(["hi"]).labels) == 1
    t.close()
    t.close()
    for fn in (t.step, t.evaluate, t.run, lambda: t.done, lambda: t.save("x")):
        with pytest.raises(ValueError, match="closed"):
            fn()
    model.predict(["hi"])  # no longer being trained
    # Freeing in any order through the garbage collector is safe.
    m = load()
    opt = datamodel.Optimizer(m)
    tr = datamodel.Trainer(m, train_ds, val_ds, optimizer=opt, **QUICK)
    tr.step()
    del m, opt
    gc.collect()
    del tr
    gc.collect()
    # Closing in order: trainer, optimizer, model.
    m = load()
    opt = datamodel.Optimizer(m)
    tr = datamodel.Trainer(m, train_ds, optimizer=opt, **QUICK)
    raises_status(BUSY, m.close)
    raises_status(BUSY, opt.close)
    tr.close()
    raises_status(BUSY, m.close)
    opt.close()
    m.close()
    with pytest.raises(ValueError, match="closed"):
        datamodel.Trainer(m, train_ds)
