"""Tests of the Python bindings of datasets (dm_dataset_*) and evaluation
metrics (dm_metrics_compute, dm_eval_report_*). Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests
Metrics are checked against values computed by hand below (they equal
scikit-learn's on the same inputs)."""
import ctypes
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402
from datamodel import _data  # noqa: E402


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)
    return str(path)


# ---------------------------------------------------------------------------- layout


def test_options_struct_size_matches_library():
    o = _data._DatasetOptions()
    _data._lib.dm_dataset_options_default(ctypes.byref(o))
    assert o.struct_size == ctypes.sizeof(_data._DatasetOptions)
    assert o.format == 0 and o.bad_rows == 0 and o.invalid_utf8 == 0


# ---------------------------------------------------------------------------- loading


def test_csv_columns_labels_and_ids(tmp_path):
    path = write(tmp_path / "d.csv",
                 'id,text,label,extra\n'
                 'a1,"Hello, world",pos,x\n'
                 'a2,"multi\nline ""quoted""",neg,y\n'
                 'a3,no label here,,z\n'
                 'a4,  spaced  , pos ,w\n')
    with datamodel.Dataset.load(path) as ds:
        assert len(ds) == 4
        assert ds.labels == ["neg", "pos"]  # byte order
        assert ds.text(0) == "Hello, world"
        assert ds.text(1) == 'multi\nline "quoted"'
        assert ds.pair(0) is None
        assert [ds.label(i) for i in range(4)] == [1, 0, None, 1]  # labels are trimmed
        assert [ds.label_name(i) for i in range(4)] == ["pos", "neg", None, "pos"]
        assert [ds.id(i) for i in range(4)] == ["a1", "a2", "a3", "a4"]
        assert ds.skipped == 0
        assert ds[-1] == datamodel.Row("  spaced  ", None, "pos", "a4")
        rows = list(ds)
        assert len(rows) == 4 and rows[0].text == "Hello, world" and rows[0].label == "pos"
        with pytest.raises(IndexError):
            ds.text(4)
        with pytest.raises(IndexError):
            ds[-5]
    with pytest.raises(ValueError):
        len(ds)  # closed
    ds.close()  # twice is fine


def test_numeric_labels_order_numerically(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\na,10\nb,2\nc,-1\nd,2\n")
    ds = datamodel.Dataset.load(path)
    assert ds.labels == ["-1", "2", "10"]
    assert [ds.label(i) for i in range(4)] == [2, 1, 0, 1]


def test_jsonl_named_columns_and_pairs(tmp_path):
    path = write(tmp_path / "d.jsonl",
                 '{"uid": 7, "q": "Is it good?", "a": "Yes.", "y": "yes"}\n'
                 '{"uid": 8, "q": "Is it bad?", "a": "No.", "y": "no", "more": true}\n')
    ds = datamodel.Dataset.load(path, text_column="q", pair_column="a", label_column="y", id_column="uid")
    assert len(ds) == 2
    assert ds[0] == datamodel.Row("Is it good?", "Yes.", "yes", "7")
    assert ds.pair(1) == "No."
    assert ds.labels == ["no", "yes"]


def test_tsv_format_option_and_no_labels(tmp_path):
    path = write(tmp_path / "d.txt", "sentence\tlabel\nfirst\tA\nsecond\tB\n")
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.load(path)  # no known extension
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    ds = datamodel.Dataset.load(path, format="tsv", label_column="")
    assert [r.text for r in ds] == ["first", "second"]
    assert ds.labels == [] and ds.label(0) is None and ds.label_name(0) is None
    assert ds.id(1) == "2"  # 1-based row numbers


def test_fixed_label_set_and_require_labels(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\na,pos\nb,neutral\nc,\n")
    ds = datamodel.Dataset.load(path, labels=["pos", "neutral", "neg"])
    assert ds.labels == ["pos", "neutral", "neg"]
    assert [ds.label(i) for i in range(3)] == [0, 1, None]
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.load(path, labels=["pos", "neg"])
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT" and "neutral" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.load(path, require_labels=True)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"


def test_bad_rows_skip(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\na,x\nb,y,extra\nc,z\n")
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.load(path)
    assert e.value.status_name == "DM_ERR_PARSE"
    assert "3" in e.value.message  # names the line
    ds = datamodel.Dataset.load(path, bad_rows="skip")
    assert len(ds) == 2 and ds.skipped == 1
    assert [r.text for r in ds] == ["a", "c"]


def test_invalid_utf8(tmp_path):
    path = write(tmp_path / "d.csv", b"text,label\nab\xffcd,x\n", "wb")
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.load(path)
    assert e.value.status_name == "DM_ERR_UTF8"
    ds = datamodel.Dataset.load(path, invalid_utf8="replace")
    assert len(ds) == 1 and ds.text(0).startswith("ab")


def test_load_errors(tmp_path):
    cases = [
        (str(tmp_path / "missing.csv"), {}, "DM_ERR_IO"),
        (write(tmp_path / "a.csv", "text,label\nx,y\n"), {"text_column": "body"}, "DM_ERR_NOT_FOUND"),
        (write(tmp_path / "b.csv", 'text,label\n"unterminated,y\n'), {}, "DM_ERR_PARSE"),
        (write(tmp_path / "c.jsonl", '{"text": "a", "label": "b"\n'), {}, "DM_ERR_PARSE"),
        (write(tmp_path / "d.csv", ""), {}, "DM_ERR_RANGE"),
    ]
    for path, kw, status in cases:
        with pytest.raises(datamodel.Error) as e:
            datamodel.Dataset.load(path, **kw)
        assert e.value.status_name == status, (path, e.value)
        assert e.value.message
    with pytest.raises(ValueError):
        datamodel.Dataset.load(cases[1][0], format="xml")
    with pytest.raises(ValueError):
        datamodel.Dataset.load(cases[1][0], bad_rows="ignore")


# ---------------------------------------------------------------------------- from memory


def test_from_texts():
    ds = datamodel.Dataset.from_texts(["one", "two", "three"], labels=["b", None, 1], pairs=["x", "y", "z"])
    assert len(ds) == 3
    assert ds.labels == ["1", "b"]
    assert [ds.label_name(i) for i in range(3)] == ["b", None, "1"]
    assert ds[2] == datamodel.Row("three", "z", "1", "3")
    plain = datamodel.Dataset.from_texts(["a", "b"])
    assert plain.pair(0) is None and plain.labels == [] and plain.label(1) is None
    fixed = datamodel.Dataset.from_texts(["a", "b"], labels=["neg", "pos"], label_set=["pos", "neg"])
    assert fixed.labels == ["pos", "neg"] and fixed.label(0) == 1
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.from_texts(["a"], labels=["other"], label_set=["pos", "neg"])
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.from_texts(["a", "b"], labels=["x", None], require_labels=True)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.from_texts([b"ok", b"bad\xff"])
    assert e.value.status_name == "DM_ERR_UTF8" and "[1]" in e.value.message
    with pytest.raises(ValueError):
        datamodel.Dataset.from_texts(["a", "b"], labels=["x"])
    with pytest.raises(TypeError):
        datamodel.Dataset.from_texts("a single string")


# ---------------------------------------------------------------------------- metrics

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0]


def test_metrics_hand_computed():
    r = datamodel.metrics(Y_TRUE, Y_PRED, labels=["a", "b", "c"])
    assert r.n_examples == 6 and r.n_classes == 3 and r.labels == ["a", "b", "c"]
    assert r.accuracy == pytest.approx(4 / 6)
    # class a: tp 1, predicted 2, true 2; b: tp 2, predicted 3, true 2; c: tp 1, predicted 1, true 2
    prec, rec = [1 / 2, 2 / 3, 1.0], [1 / 2, 1.0, 1 / 2]
    f1 = [2 * p * q / (p + q) for p, q in zip(prec, rec)]
    for j, pc in enumerate(r.per_class):
        assert pc["name"] == "abc"[j]
        assert pc["precision"] == pytest.approx(prec[j])
        assert pc["recall"] == pytest.approx(rec[j])
        assert pc["f1"] == pytest.approx(f1[j])
        assert pc["support"] == 2
        assert math.isnan(pc["roc_auc"])  # no probabilities
    assert r.macro_precision == pytest.approx(sum(prec) / 3)
    assert r.macro_recall == pytest.approx(sum(rec) / 3)
    assert r.macro_f1 == pytest.approx(sum(f1) / 3)
    assert r.weighted_f1 == pytest.approx(sum(f1) / 3)  # equal supports
    assert r.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert math.isnan(r.log_loss) and math.isnan(r.roc_auc) and math.isnan(r.loss)


def test_metrics_probabilities_binary():
    p1 = [0.1, 0.4, 0.35, 0.8]
    probs = [[1 - p, p] for p in p1]
    r = datamodel.metrics([0, 0, 1, 1], [0, 0, 0, 1], probs=probs)
    assert r.labels == ["0", "1"]
    assert r.roc_auc == pytest.approx(0.75)  # scikit-learn's roc_auc_score example
    p_true = [0.9, 0.6, 0.35, 0.8]
    assert r.log_loss == pytest.approx(-sum(math.log(p) for p in p_true) / 4, rel=1e-6)
    assert r.per_class[1]["roc_auc"] == pytest.approx(0.75)


def test_metrics_numpy_input():
    np = pytest.importorskip("numpy")
    r = datamodel.metrics(np.array(Y_TRUE), np.array(Y_PRED), probs=np.full((6, 3), 1 / 3))
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.log_loss == pytest.approx(math.log(3), rel=1e-6)


def test_report_json_and_text():
    r = datamodel.metrics(Y_TRUE, Y_PRED, labels=["neg", "neu", "pos"])
    j = r.to_json()
    assert j["accuracy"] == pytest.approx(r.accuracy)
    assert j["macro_f1"] == pytest.approx(r.macro_f1)
    assert j["confusion_matrix"] == r.confusion
    assert j["labels"] == ["neg", "neu", "pos"]
    assert j["per_class"]["neu"]["support"] == 2
    assert j["log_loss"] is None  # NaN as null
    text = r.text()
    assert "precision" in text and "neu" in text and "0.67" in text
    assert "0.6667" in r.text(digits=4)
    assert str(r) == text
    with pytest.raises(datamodel.Error) as e:
        r.text(digits=101)
    assert e.value.status_name == "DM_ERR_RANGE"


def test_metrics_errors():
    cases = [
        (dict(y_true=[0, 0], y_pred=[0, 0], probs=[[1.0], [1.0]]), "DM_ERR_RANGE"),  # one class: no probabilities
        (dict(y_true=[0, 0], y_pred=[0, 0], n_classes=0, labels=[]), "DM_ERR_RANGE"),
        (dict(y_true=[0, 3], y_pred=[0, 1], n_classes=2), "DM_ERR_RANGE"),
        (dict(y_true=[], y_pred=[], n_classes=2), "DM_ERR_RANGE"),
        (dict(y_true=[0, 1], y_pred=[0, 1], probs=[[0.5, 0.5], [float("nan"), 0.5]]), "DM_ERR_NUMERIC"),
        (dict(y_true=[0, 1], y_pred=[0, 1], probs=[[0.5, 0.5], [1.5, 0.5]]), "DM_ERR_RANGE"),
        (dict(y_true=[0, 1], y_pred=[0, 1], labels=["ok", b"bad\xff"]), "DM_ERR_UTF8"),
    ]
    for kw, status in cases:
        with pytest.raises(datamodel.Error) as e:
            datamodel.metrics(**kw)
        assert e.value.status_name == status, kw
    with pytest.raises(ValueError):
        datamodel.metrics([0, 1], [0])
    with pytest.raises(ValueError):
        datamodel.metrics([0, 1], [0, 1], probs=[[1.0], [1.0]], n_classes=2)


def test_version_number():
    major, minor, patch = map(int, datamodel.version().split("."))
    assert datamodel.version_number() == major * 10000 + minor * 100 + patch
