"""Python side of issue "trust first": labels that cannot silently flip (new_head), DM_ERR_BUSY's
name, messages that say what is allowed. On the tiny random BERT fixture."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402

TINY = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "model", "fixtures", "tiny"))
TEXTS = ["the boat was boring", "we enjoyed the garden"]


def by_name(model):
    p = model.predict(TEXTS)
    return [dict(zip(model.labels, row)) for row in p.probs]


def test_labels_reorder_instead_of_flipping():
    with datamodel.Model.load(TINY) as plain, \
            datamodel.Model.load(TINY, labels=["positive", "negative", "neutral"]) as reordered:
        assert reordered.labels == ["positive", "negative", "neutral"]
        for a, b in zip(by_name(plain), by_name(reordered)):
            assert all(abs(a[k] - b[k]) < 1e-6 for k in a)
    with pytest.raises(datamodel.Error) as e:
        datamodel.Model.load(TINY, labels=["bad", "ok", "good"])
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT" and "trained for the labels" in str(e.value)
    with datamodel.Model.load(TINY, labels=["bad", "ok", "good"], new_head=True) as m:
        assert m.info["new_head"] == 1


def test_batch_size_message_names_the_allowed_range():
    with datamodel.Model.load(TINY) as m:
        for bad in (-1, 0):
            with pytest.raises(datamodel.Error) as e:
                m.predict(TEXTS, batch_size=bad)
            assert f"batch_size = {bad} is out of range [1," in str(e.value)


def test_busy_has_a_name():
    assert datamodel.Error(13, "x").status_name == "DM_ERR_BUSY"
