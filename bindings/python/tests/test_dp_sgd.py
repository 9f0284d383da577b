"""Tests of the Python binding of DP-SGD on a model (datamodel.h, "DP-SGD on a model": datamodel.DP,
datamodel.example_norms) and of train()'s dp_* options, on the tiny random BERT fixture of
test/model/fixtures (labels negative, neutral, positive; 2 layers, hidden 48). Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests/test_dp_sgd.py"""
import json
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
INVALID, RANGE, UNSUPPORTED = 1, 9, 7

ROWS = [
    ("The soup was far too salty.", "negative"), ("What a wonderful surprise!", "positive"),
    ("Does the museum open at 9?", "neutral"), ("The movie was boring and far too long.", "negative"),
    ("We climbed the hill to watch the sunset.", "positive"), ("Please close the window.", "neutral"),
    ("He fixed the broken bicycle in ten minutes, which was great!", "positive"),
    ("Nobody answered the phone.", "neutral"), ("The bread was stale.", "negative"),
    ("Our garden has a small pond and tall sunflowers.", "positive"),
]


@pytest.fixture
def model():
    with datamodel.Model.load(TINY, threads=1, device="cpu") as m:
        yield m


def batch_of(model, rows):
    enc = model.tokenizer.encode_batch([t for t, _ in rows], truncation="longest_first", max_length=16,
                                       padding="longest")
    return [list(e.ids) for e in enc], [list(e.attention_mask) for e in enc], [LABELS.index(y) for _, y in rows]


def tensor_names(info):
    names = ["bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
             "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
             "bert.embeddings.LayerNorm.bias", "bert.pooler.dense.weight", "bert.pooler.dense.bias",
             "classifier.weight", "classifier.bias"]
    for i in range(info["num_layers"]):
        p = f"bert.encoder.layer.{i}."
        for qkv in ("query", "key", "value"):
            names += [p + f"attention.self.{qkv}.weight", p + f"attention.self.{qkv}.bias"]
        for rest in ("attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                     "output.LayerNorm"):
            names += [p + rest + ".weight", p + rest + ".bias"]
    for n in names:
        assert _model._tensor_shape(info, n) is not None, n
    return names


def flat(x):
    if isinstance(x, list):
        for v in x:
            yield from flat(v)
    else:
        yield x


def grads(model):
    """Every trainable tensor's gradient, name -> flat list."""
    return {n: list(flat(model.grad(n))) for n in tensor_names(model.info) if model.is_trainable(n)}


def grad_norm_alone(model, ids, mask, label, weight=None):
    """|| gradient of (weight x) the example's loss || from Model.forward_backward on that example alone."""
    n = sum(mask)
    model.zero_grad()
    model.forward_backward([ids[:n]], [label], attention_mask=[mask[:n]], dropout=0,
                           weights=None if weight is None else [weight])
    sq = sum(v * v for g in grads(model).values() for v in g)
    model.zero_grad()
    return math.sqrt(sq)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


# ------------------------------------------------------------------ example norms


def test_norms_equal_gradients_computed_alone(model):
    ids, mask, labels = batch_of(model, ROWS[:6])
    norms = datamodel.example_norms(model, ids, labels, attention_mask=mask, dropout=0)
    assert isinstance(norms, list) and len(norms) == 6
    for i in range(6):
        alone = grad_norm_alone(model, ids[i], mask[i], labels[i])
        assert alone > 0 and rel(norms[i], alone) < 1e-5, (i, norms[i], alone)


def test_norms_with_weights_unlabelled_rows_and_frozen_tensors(model):
    ids, mask, labels = batch_of(model, ROWS[:4])
    labels[2] = -1  # no loss: norm 0
    w = [0.5, 2.0, 1.0, 0.0]
    norms = datamodel.example_norms(model, ids, labels, attention_mask=mask, weights=w, dropout=0)
    assert norms[2] == 0 and norms[3] == 0
    for i in (0, 1):
        assert rel(norms[i], grad_norm_alone(model, ids[i], mask[i], labels[i], w[i])) < 1e-5
    # Only trainable tensors count.
    model.set_trainable("bert.embeddings.", False)
    frozen = datamodel.example_norms(model, ids, labels, attention_mask=mask, weights=w, dropout=0)
    for i in (0, 1):
        assert frozen[i] < norms[i]
        assert rel(frozen[i], grad_norm_alone(model, ids[i], mask[i], labels[i], w[i])) < 1e-5


def test_norms_leave_gradients_alone_and_numpy(model):
    ids, mask, labels = batch_of(model, ROWS[:3])
    model.zero_grad()
    model.forward_backward(ids, labels, attention_mask=mask, dropout=0)
    before = model.grad("classifier.weight")
    norms = datamodel.example_norms(model, ids, labels, attention_mask=mask, dropout=0)
    assert model.grad("classifier.weight") == before
    if np is not None:
        arr = datamodel.example_norms(model, np.array(ids, dtype=np.int32), labels,
                                      attention_mask=np.array(mask, dtype=np.uint8), dropout=0)
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float32 and arr.shape == (3,)
        assert np.allclose(arr, norms, rtol=1e-6)
        assert isinstance(datamodel.example_norms(model, ids, labels, attention_mask=mask, dropout=0,
                                                  return_numpy=True), np.ndarray)


def test_norms_bad_batch_raises_the_library_message(model):
    ids, mask, labels = batch_of(model, ROWS[:2])
    with pytest.raises(datamodel.Error) as e:
        datamodel.example_norms(model, ids, [0, 7], attention_mask=mask)
    assert e.value.message and "7" in e.value.message
    with pytest.raises(ValueError):
        datamodel.example_norms(model, ids, [0], attention_mask=mask)
    with pytest.raises(TypeError):
        datamodel.example_norms("not a model", ids, labels)


# ------------------------------------------------------------------ the DP transform


def test_options_and_info():
    with datamodel.DP(target_epsilon=8, sample_rate=0.04, steps=2250) as dp:
        i = dp.info()
        assert set(i) == {"noise_multiplier", "max_grad_norm", "sample_rate", "delta", "steps", "epsilon", "clipped",
                          "examples"}
        assert i["max_grad_norm"] == 1.0 and i["delta"] == 1e-5 and i["sample_rate"] == 0.04
        assert i["steps"] == 0 and i["epsilon"] == 0 and i["clipped"] == 0 and i["examples"] == 0
        # the noise of dm_dp_noise_multiplier for the budget
        assert abs(i["noise_multiplier"] - datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, 2250)) < 1e-12
        assert "DP(" in repr(dp)
    assert repr(dp) == "DP(closed)"
    dp.close()  # twice is fine
    with pytest.raises(ValueError):
        dp.info()
    with datamodel.DP(noise_multiplier=1.3, max_grad_norm=0.5, delta=1e-6, sample_rate=1.0) as dp:
        i = dp.info()
        assert (i["noise_multiplier"], i["max_grad_norm"], i["delta"], i["sample_rate"]) == (1.3, 0.5, 1e-6, 1.0)


@pytest.mark.parametrize("kwargs, status, words", [
    (dict(noise_multiplier=1, sample_rate=0.1, delta=0), INVALID, "delta must be in (0, 1)"),
    (dict(noise_multiplier=1, sample_rate=0.1, delta=1), INVALID, "delta must be in (0, 1)"),
    (dict(noise_multiplier=1, sample_rate=0), INVALID, "sample rate q must be in (0, 1]"),
    (dict(noise_multiplier=1, sample_rate=1.5), INVALID, "sample rate q must be in (0, 1]"),
    (dict(noise_multiplier=1), INVALID, "sample rate"),  # the default rate 0: q must be given
    (dict(noise_multiplier=1, sample_rate=0.1, max_grad_norm=0), INVALID, "max_grad_norm must be"),
    (dict(noise_multiplier=1, sample_rate=0.1, max_grad_norm=float("nan")), INVALID, "max_grad_norm must be"),
    (dict(target_epsilon=-1, sample_rate=0.1, steps=10), INVALID, "epsilon must be"),
    (dict(noise_multiplier=-1, sample_rate=0.1), INVALID, "noise multiplier must be"),
    (dict(sample_rate=0.1), INVALID, "give a target epsilon"),
    (dict(target_epsilon=8, sample_rate=0.1), INVALID, "needs the planned steps"),
    (dict(target_epsilon=1e-9, sample_rate=1.0, steps=10 ** 6), RANGE, "too small a budget"),
])
def test_bad_options_raise_the_library_message(kwargs, status, words):
    with pytest.raises(datamodel.Error) as e:
        datamodel.DP(**kwargs)
    assert e.value.status == status and words in e.value.message, e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.DP(noise_multiplier=1, sample_rate=0.1, steps=-1)
    assert "steps = -1 is out of range" in e.value.message


def test_forward_backward_adds_the_clipped_sum(model):
    ids, mask, labels = batch_of(model, ROWS[:5])
    norms = datamodel.example_norms(model, ids, labels, attention_mask=mask, dropout=0)
    C = sorted(norms)[2]  # some examples clipped, some not
    clip = [min(1.0, C / (n + 1e-6)) for n in norms]
    model.zero_grad()
    ref_loss = model.forward_backward(ids, labels, attention_mask=mask, weights=clip, dropout=0, grad_scale=0.2)
    ref = grads(model)
    model.zero_grad()
    with datamodel.DP(noise_multiplier=1.0, max_grad_norm=C, sample_rate=0.5) as dp:
        loss_sum, got_norms = dp.forward_backward(model, ids, labels, attention_mask=mask, dropout=0, grad_scale=0.2)
        info = dp.info()
    assert len(got_norms) == 5 and all(rel(a, b) < 1e-5 for a, b in zip(got_norms, norms))
    assert info["examples"] == 5 and info["steps"] == 0
    assert info["clipped"] == sum(1 for n in norms if C / (n + 1e-6) < 1)
    got = grads(model)
    # Relative to each tensor's largest entry, plus float32 rounding of the
    # largest gradient anywhere: the key biases' gradients are zero in exact
    # arithmetic (softmax ignores a shift of all scores), so theirs are
    # rounding noise of the gradients they came from, which the two ways
    # (book-keeping, the weighted backward pass) round differently.
    biggest = max(max(abs(v) for v in g) for g in ref.values())
    for name, g in ref.items():
        scale = max(abs(v) for v in g)
        assert max(abs(a - b) for a, b in zip(got[name], g)) <= 1e-5 * scale + 1e-6 * biggest, name
    assert math.isfinite(loss_sum) and loss_sum > 0 and math.isfinite(ref_loss)


def test_add_noise_counts_steps_and_is_seeded(model):
    ids, mask, labels = batch_of(model, ROWS[:4])

    def noisy_grad(seed):
        model.zero_grad()
        with datamodel.DP(noise_multiplier=1.0, sample_rate=0.4, noise_seed=seed) as dp:
            dp.forward_backward(model, ids, labels, attention_mask=mask, dropout=0, grad_scale=0.25)
            dp.add_noise(model, 0.25)
            info = dp.info()
        g = list(flat(model.grad("classifier.weight")))
        model.zero_grad()
        return g, info

    a, info = noisy_grad(5)
    b, _ = noisy_grad(5)
    c, _ = noisy_grad(6)
    assert a == b and a != c
    assert info["steps"] == 1
    assert abs(info["epsilon"] - datamodel.dp_epsilon(1.0, 0.4, 1, 1e-5)[0]) < 1e-9
    # the noise's standard deviation is grad_scale x sigma x C = 0.25 (over every trainable gradient)
    model.zero_grad()
    with datamodel.DP(noise_multiplier=2.0, max_grad_norm=0.5, sample_rate=0.4, noise_seed=9) as dp:
        dp.add_noise(model, 0.5)
    noise = [v for g in grads(model).values() for v in g]
    sd = math.sqrt(sum(v * v for v in noise) / len(noise))
    assert abs(sd - 0.5) < 0.05, sd
    with datamodel.DP(noise_multiplier=1.0, sample_rate=0.4) as dp:
        for bad in (0, -1, float("inf")):
            with pytest.raises(datamodel.Error) as e:
                dp.add_noise(model, bad)
            assert e.value.status == INVALID and "grad_scale" in e.value.message


def test_threads_share_a_dp(model):
    ids, mask, labels = batch_of(model, ROWS[:2])
    errors = []
    with datamodel.DP(noise_multiplier=1.0, sample_rate=0.2, noise_seed=1) as dp:
        def work():
            try:
                for _ in range(3):
                    dp.forward_backward(model, ids, labels, attention_mask=mask, dropout=0)
                    dp.info()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=work) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors and dp.info()["examples"] == 18


# ------------------------------------------------------------------ training with DP-SGD


def test_train_with_dp_epsilon_writes_privacy_json(model, tmp_path):
    seen = []
    with datamodel.Dataset.from_texts([t for t, _ in ROWS], labels=[y for _, y in ROWS]) as ds:
        res = datamodel.train(model, ds, epochs=2, batch_size=2, learning_rate=1e-3, max_length=16, threads=1,
                              dp_epsilon=8, dp_delta=1e-4, dp_max_grad_norm=0.7, dp_noise_seed=11,
                              output_dir=str(tmp_path / "out"), callback=lambda p: seen.append(p["dp_epsilon"]))
    assert res["steps"] > 0 and seen
    assert all(math.isfinite(e) and 0 < e <= 8 for e in seen) and seen == sorted(seen)
    priv = json.loads((tmp_path / "out" / "privacy.json").read_text())
    assert 0 < priv["epsilon"] <= 8 and priv["target_epsilon"] == 8 and priv["delta"] == 1e-4
    assert priv["max_grad_norm"] == 0.7 and priv["sample_rate"] == pytest.approx(0.2)
    assert priv["noise_multiplier"] > 0 and priv["steps"] == res["steps"]
    assert abs(priv["epsilon"] - seen[-1]) < 1e-9
    # The accountant agrees with the binding's.
    assert abs(datamodel.dp_epsilon(priv["noise_multiplier"], priv["sample_rate"], priv["steps"], 1e-4)[0]
               - priv["epsilon"]) < 1e-9


def test_train_without_dp_reports_nan_and_defaults():
    assert _model._TD.dp_epsilon == 0 and _model._TD.dp_delta == 1e-5 and _model._TD.dp_max_grad_norm == 1.0
    assert _model._TD.dp_noise == 0 and _model._TD.dp_noise_seed == 0
    import inspect
    sig = inspect.signature(datamodel.train).parameters
    for name in ("dp_epsilon", "dp_delta", "dp_max_grad_norm", "dp_noise", "dp_noise_seed"):
        assert name in sig and name in inspect.signature(datamodel.Trainer).parameters, name
    with datamodel.Model.load(TINY, threads=1, device="cpu") as m, \
            datamodel.Dataset.from_texts([t for t, _ in ROWS], labels=[y for _, y in ROWS]) as ds:
        seen = []
        datamodel.train(m, ds, max_steps=1, batch_size=2, max_length=16, threads=1,
                        callback=lambda p: seen.append(p["dp_epsilon"]))
        assert seen and all(math.isnan(e) for e in seen)
        # the Trainer's steps report it too, with a fixed noise
        with datamodel.Trainer(m, ds, max_steps=2, batch_size=2, max_length=16, threads=1, dp_noise=1.0,
                               dp_noise_seed=3) as t:
            p = t.step()
            assert math.isfinite(p["dp_epsilon"]) and p["dp_epsilon"] > 0


@pytest.mark.parametrize("kwargs, status, words", [
    (dict(dp_epsilon=8, dp_delta=0), INVALID, "dp_delta must be in (0, 1)"),
    (dict(dp_epsilon=-1), INVALID, "dp_epsilon must be a finite number > 0"),
    (dict(dp_noise=-2), INVALID, "dp_noise must be a finite number > 0"),
    (dict(dp_epsilon=8, dp_max_grad_norm=0), INVALID, "dp_max_grad_norm must be"),
    (dict(dp_epsilon=8, batch_size=64), INVALID, "larger than the training data"),
    (dict(dp_epsilon=8, precision="bf16"), UNSUPPORTED, "float32 only"),
    (dict(dp_epsilon=1e-6), RANGE, "too small a budget"),
])
def test_train_bad_dp_options_raise_the_library_message(model, kwargs, status, words):
    with datamodel.Dataset.from_texts([t for t, _ in ROWS], labels=[y for _, y in ROWS]) as ds:
        with pytest.raises(datamodel.Error) as e:
            datamodel.train(model, ds, **dict(dict(epochs=1, batch_size=2, max_length=16, threads=1), **kwargs))
        assert e.value.status == status and words in e.value.message, e.value.message
        with pytest.raises(datamodel.Error) as e:
            datamodel.train(model, ds, dp_noise=1, dp_noise_seed=2 ** 64)
        assert "dp_noise_seed" in e.value.message
