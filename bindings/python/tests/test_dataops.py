"""Tests of the Python bindings of the dataset operations (datamodel.h,
"Dataset operations"): write, select, label_id, group, skipped_rows, clean,
dedup, leakage, conflicts, split, resample, class_weights, augment, profile,
profile_html. Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests/test_dataops.py

An operation the library does not provide yet fails with DM_ERR_UNSUPPORTED
and a message containing "not implemented yet": only then is its test
skipped (checked at run time, so the skips go away by themselves)."""
import ctypes
import inspect
import math
import os
import shutil
import subprocess
import sys
import warnings

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402
from datamodel import _data, _dataops  # noqa: E402

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def ni(fn, *args, **kwargs):
    """Calls FN; skips the test while the library says "not implemented yet"."""
    try:
        return fn(*args, **kwargs)
    except datamodel.Error as e:
        if "not implemented yet" in e.message:
            pytest.skip(e.message)
        raise


def raises_error(fn, *args, status=None, words=(), **kwargs):
    """FN must raise datamodel.Error (not "not implemented yet": skipped) with
    STATUS (a name) and a message containing every one of WORDS."""
    with pytest.raises(datamodel.Error) as info:
        ni(fn, *args, **kwargs)
    e = info.value
    if status is not None:
        assert e.status_name == status, e
    assert e.message, e
    for w in words:
        assert w in e.message, e
    return e


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)
    return str(path)


def ds_of(texts, labels=None):
    return datamodel.Dataset.from_texts(texts, labels=labels)


def texts_of(ds):
    return [ds.text(i) for i in range(len(ds))]


def ids_of(ds):
    return [ds.id(i) for i in range(len(ds))]


def labels_of(ds):
    return [ds.label_name(i) for i in range(len(ds))]


# ---------------------------------------------------------------------------- layout

_ALL_STRUCTS = dict(_dataops.OPTION_STRUCTS, dm_dataset_options=_data._DatasetOptions)


@pytest.mark.parametrize("name", sorted(_ALL_STRUCTS))
def test_struct_size_matches_library(name):
    # A separate CDLL so that the untyped call does not change the shared signatures.
    lib = ctypes.CDLL(datamodel.library_path)
    buf = (ctypes.c_char * 4096)()
    getattr(lib, name + "_default")(buf)
    assert ctypes.c_size_t.from_buffer(buf).value == ctypes.sizeof(_ALL_STRUCTS[name])


def test_struct_offsets_match_c_compiler(tmp_path):
    """Every field's offset and size equal the C compiler's (offsetof/sizeof)."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <datamodel.h>", "int main(void) {"]
    expected = []
    for name, struct in sorted(_ALL_STRUCTS.items()):
        lines.append(f'printf("%zu\\n", sizeof({name}));')
        expected.append(ctypes.sizeof(struct))
        for field, ftype in struct._fields_:
            lines.append(f'printf("%zu %zu\\n", offsetof({name}, {field}), sizeof((({name} *)0)->{field}));')
            expected.append(f"{getattr(struct, field).offset} {ctypes.sizeof(ftype)}")
    lines += ["return 0;", "}"]
    src = write(tmp_path / "layout.c", "\n".join(lines) + "\n")
    exe = str(tmp_path / "layout")
    subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), src, "-o", exe], check=True)
    got = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split("\n")
    assert got[:len(expected)] == [str(e) for e in expected]


def _c_default(struct, name):
    o = struct()
    getattr(_dataops._lib, name + "_default")(ctypes.byref(o))
    return o


def _same_fields(a, b, skip=("progress", "progress_user")):
    for field, _ in type(a)._fields_:
        if field in skip:
            continue
        va, vb = getattr(a, field), getattr(b, field)
        if isinstance(va, ctypes._Pointer) or field in ("dedup", "target", "allowed_labels"):
            assert bool(va) == bool(vb), field
        else:
            assert va == vb, field


def test_keyword_defaults_are_the_c_defaults():
    """Python's keyword defaults build exactly the struct *_options_default
    fills (checked per operation once it is implemented: the placeholders
    leave their defaults at zero)."""
    ds = ds_of(["a b c", "d e f"], ["x", "y"])
    ni(ds.dedup)
    o, _ = _dataops.dedup_options()
    _same_fields(o, _c_default(_dataops._DedupOptions, "dm_dedup_options"))
    ni(ds.clean)
    sig = inspect.signature(datamodel.Dataset.clean).parameters
    o, _, _ = _dataops.clean_options(*[sig[k].default for k in list(sig)[1:]])
    _same_fields(o, _c_default(_dataops._CleanOptions, "dm_clean_options"))
    ni(ds.split)
    sig = inspect.signature(datamodel.Dataset.split).parameters
    o, _, _ = _dataops.split_options(*[sig[k].default for k in ("train", "val", "test", "folds", "stratify",
                                                                  "group_by", "seed", "dedup")])
    _same_fields(o, _c_default(_dataops._SplitOptions, "dm_split_options"))
    ni(ds.augment, ops="chars", n=1)
    sig = inspect.signature(datamodel.Dataset.augment).parameters
    o, _, _ = _dataops.augment_options(*[sig[k].default for k in list(sig)[1:]])
    _same_fields(o, _c_default(_dataops._AugmentOptions, "dm_augment_options"))
    c = _c_default(_dataops._ResampleOptions, "dm_resample_options")
    assert (c.strategy, bool(c.target), c.seed) == (0, False, inspect.signature(
        datamodel.Dataset.resample).parameters["seed"].default)
    c = _c_default(_dataops._ProfileOptions, "dm_profile_options")
    assert (bool(c.tokenizer), c.near_duplicates, bool(c.dedup), c.clean_report_json, c.title) == \
        (False, 1, False, None, None)


# ---------------------------------------------------------------------------- dataset functions


def test_label_id_group_and_group_column(tmp_path):
    path = write(tmp_path / "g.csv", "text,label,annotator\nhello,pos,ann1\nbye,neg,ann2\nhi,pos,\n")
    with datamodel.Dataset.load(path, group_column="annotator") as ds:
        assert ds.label_id("pos") == 1 and ds.label_id("neg") == 0
        assert ds.label_id("nope") is None
        assert [ds.group(i) for i in range(3)] == ["ann1", "ann2", ""]
        assert ds.group(-1) == ""
        with pytest.raises(IndexError):
            ds.group(3)
    with datamodel.Dataset.load(path) as ds:
        assert ds.group(0) is None
    raises_error(datamodel.Dataset.load, path, group_column="missing", status="DM_ERR_NOT_FOUND",
                 words=("missing",))


def test_skipped_rows_bad_fields_and_invalid_utf8(tmp_path):
    path = write(tmp_path / "s.csv", b"text,label\nfine,pos\n\xff bad,neg\ntoo,many,fields\nok,neg\n", "wb")
    raises_error(datamodel.Dataset.load, path, status="DM_ERR_UTF8")
    with datamodel.Dataset.load(path, invalid_utf8="skip_row", bad_rows="skip") as ds:
        assert texts_of(ds) == ["fine", "ok"]
        assert ds.skipped == 2
        rows = ds.skipped_rows()
        assert [line for line, _ in rows] == [3, 4]
        assert "UTF-8" in rows[0][1] and "fields" in rows[1][1]
    with datamodel.Dataset.load(path, invalid_utf8="replace", bad_rows="skip") as ds:
        assert len(ds) == 3 and [line for line, _ in ds.skipped_rows()] == [4]
    with pytest.raises(ValueError):
        datamodel.Dataset.load(path, invalid_utf8="drop")


# ---------------------------------------------------------------------------- write and select


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_write_load_round_trip(tmp_path, fmt):
    src = write(tmp_path / "in.csv", 'text,label,extra\n"Hello, ""world""",pos,x\nsecond,neg,\nthird,,z\n')
    with datamodel.Dataset.load(src) as ds:
        out = str(tmp_path / f"out.{fmt}")
        ds.write(out)
        with datamodel.Dataset.load(out) as back:
            assert list(back) == list(ds)  # text, pair, label and id (the row numbers, now an "id" column)
            assert back.labels == ds.labels
        other = str(tmp_path / "out.data")
        ds.write(other, format=fmt)
        with datamodel.Dataset.load(other, format=fmt) as back:
            assert list(back) == list(ds)


def test_write_errors(tmp_path):
    with ds_of(["a\tb", "c"], ["x", "y"]) as ds:
        raises_error(ds.write, str(tmp_path / "x.unknown"), status="DM_ERR_INVALID_ARGUMENT", words=("format",))
        raises_error(ds.write, str(tmp_path / "x.tsv"), status="DM_ERR_INVALID_ARGUMENT")
        raises_error(ds.write, str(tmp_path / "no" / "such" / "dir.csv"), status="DM_ERR_IO", words=("dir.csv",))
        with pytest.raises(ValueError):
            ds.write(str(tmp_path / "x.csv"), format="xml")
        ds.write(str(tmp_path / "x.csv"))
        with datamodel.Dataset.load(str(tmp_path / "x.csv")) as back:
            assert texts_of(back) == ["a\tb", "c"]


def test_select():
    with ds_of(["a", "b", "c"], ["x", "y", "x"]) as ds:
        with ds.select([2, 0, 0, -1]) as sub:
            assert texts_of(sub) == ["c", "a", "a", "c"]
            assert ids_of(sub) == ["3", "1", "1", "3"]  # ids travel with rows
            assert labels_of(sub) == ["x", "x", "x", "x"]
            assert sub.labels == ds.labels  # the same label set
        with ds.select([]) as empty:
            assert len(empty) == 0 and empty.labels == ds.labels
        if np is not None:
            with ds.select(np.array([1, 2], dtype=np.int64)) as sub:
                assert texts_of(sub) == ["b", "c"]
        with pytest.raises(IndexError):
            ds.select([-4])
        raises_error(ds.select, [3], status="DM_ERR_RANGE", words=("3",))
        with pytest.raises(TypeError):
            ds.select([0.5])


# ---------------------------------------------------------------------------- clean

DIRTY = ["  <b>Hello</b>   world&amp;co  ", "ok", "", "\ufb01ne text", "no label", "bad label", "  x  "]
DIRTY_LABELS = ["pos", "neg", "pos", "neg", None, "meh", "pos"]


def test_clean():
    with ds_of(DIRTY, DIRTY_LABELS) as ds:
        out, rep = ni(ds.clean, allowed_labels=["pos", "neg"], min_chars=2)
        with out:
            assert texts_of(out) == ["Hello world&co", "ok", "fine text"]
            assert ids_of(out) == ["1", "2", "4"]
            assert out.labels == ds.labels
        assert rep["rows_in"] == 7 and rep["rows_out"] == 3
        assert rep["dropped"]["empty"] + rep["dropped"]["too_short"] == 2
        assert rep["dropped"]["missing_label"] == 1 and rep["dropped"]["unknown_label"] == 1
        assert rep["changed"]["nfkc"] == 1 and rep["changed"]["strip_html"] == 1
        assert {d["id"] for d in rep["dropped_rows"]} == {"3", "5", "6", "7"}
        for key in ("strip_control", "collapse_whitespace", "trim"):
            assert key in rep["changed"]
        # every step can be turned off; min_chars=0 keeps empty texts
        out, rep = ds.clean(nfkc=False, strip_control=False, strip_html=False, collapse_whitespace=False,
                            trim=False, min_chars=0, drop_missing_labels=False)
        with out:
            assert texts_of(out) == DIRTY
        out, rep = ds.clean(max_chars=3, drop_missing_labels=False)
        with out:
            assert texts_of(out) == ["ok", "x"]
        assert ds.text(0) == DIRTY[0]  # the input never changes


def test_clean_tokens_and_errors():
    tok = datamodel.Tokenizer.from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\n")
    with ds_of(["a", "a b", "a b c"], ["x", "x", "y"]) as ds, tok:
        out, rep = ni(ds.clean, tokenizer=tok, min_tokens=2, max_tokens=2)
        with out:
            assert texts_of(out) == ["a b"]
        assert rep["dropped"]["too_few_tokens"] == 1 and rep["dropped"]["too_many_tokens"] == 1
        raises_error(ds.clean, min_tokens=2, status="DM_ERR_INVALID_ARGUMENT", words=("tokenizer",))
        with pytest.raises(ValueError):
            ds.clean(min_chars=-1)
        with pytest.raises(TypeError):
            ds.clean(tokenizer="vocab.txt")
        with pytest.raises(TypeError):
            ds.clean(allowed_labels="x")


def test_progress_cancel_and_exception():
    texts = [f"row number {i} with some words" for i in range(3000)]
    with ds_of(texts, ["a", "b"] * 1500) as ds:
        calls = []
        out, _ = ni(ds.clean, progress=lambda done, total: calls.append((done, total)))
        out.close()
        assert calls and calls[-1][0] <= calls[-1][1] == 3000
        raises_error(ds.clean, progress=lambda done, total: True, status="DM_ERR_CANCELLED")

        def boom(done, total):
            raise KeyError("from the callback")
        with pytest.raises(KeyError):
            ds.clean(progress=boom)


# ---------------------------------------------------------------------------- dedup, leakage, conflicts

DUPS = ["the cat sat on the mat", "The  cat sat on the MAT", "a completely different sentence about dogs",
        "the cat sat on the mat!", "yet another unrelated line of text here"]


def test_dedup():
    with ds_of(DUPS, ["x", "x", "y", "x", "y"]) as ds:
        out, rep = ni(ds.dedup, report_pairs=True)
        with out:
            assert ids_of(out) == ["1", "3", "5"]
        assert rep["rows_in"] == 5 and rep["rows_out"] == 3
        assert rep["exact_duplicates"] == 1 and rep["near_duplicates"] == 1
        assert rep["num_perm"] == 128 and rep["bands"] * rep["rows_per_band"] <= 128
        assert len(rep["clusters"]) == 1
        c = rep["clusters"][0]
        assert c["kept"] == "1" and sorted(c["members"]) == ["1", "2", "4"] and 1 <= len(c["texts"]) <= 3
        assert rep["pairs"] and all(len(p) == 3 for p in rep["pairs"])
        for key in ("near_pairs", "candidate_pairs"):
            assert key in rep
        out, rep = ds.dedup(exact_only=True)
        with out:
            assert ids_of(out) == ["1", "3", "4", "5"]
        assert rep["exact_duplicates"] == 1 and rep["near_duplicates"] == 0
        out, rep = ds.dedup(normalize=False, exact_only=True)
        with out:
            assert len(out) == 5
        a, ra = ds.dedup(seed=7, threads=1)
        b, rb = ds.dedup(seed=7, threads=4)
        with a, b:
            assert ids_of(a) == ids_of(b) and ra == rb
        raises_error(ds.dedup, threshold=1.5, status="DM_ERR_INVALID_ARGUMENT", words=("threshold",))
        raises_error(ds.dedup, ngram=0, status="DM_ERR_INVALID_ARGUMENT", words=("ngram",))


def test_dedup_label_conflicts():
    """Copies that carry different labels are never merged silently: every policy, and the report."""
    texts = ["the cat sat on the mat", "The cat sat on the MAT", "the cat sat on the mat!", "the  cat sat on the mat",
             "a lone row", "zebra crossing at noon", "Zebra crossing at noon"]
    labels = ["pos", "neg", "pos", None, "neg", None, "neg"]
    expect = {"keep": ["1", "2", "5", "7"], "drop_all": ["5", "7"], "majority": ["1", "5", "7"],
              "keep_first": ["1", "5", "7"]}
    with ds_of(texts, labels) as ds:
        out, rep = ni(ds.dedup)  # the default: keep one row per label
        with out:
            assert ids_of(out) == expect["keep"]
            assert labels_of(out) == ["pos", "neg", "neg", "neg"]
        assert rep["label_conflicts"] == "keep" and rep["conflicts"] == 1 and rep["rows_in_conflict"] == 4
        c = rep["conflict_clusters"][0]
        assert c == {"ids": ["1", "2", "3", "4"], "labels": ["pos", "neg", "pos", None], "kept": ["1", "2"]}
        assert rep["clusters"][1]["kept"] == "7"  # the labelled copy, not the unlabelled first row
        for policy, ids in expect.items():
            out, rep = ds.dedup(label_conflicts=policy)
            with out:
                assert ids_of(out) == ids, policy
            assert rep["label_conflicts"] == policy
            assert rep["rows_out"] == (rep["rows_in"] - rep["exact_duplicates"] - rep["near_duplicates"]
                                       + rep["conflict_rows_kept"] - rep["conflict_rows_dropped"])
        assert ds.dedup(label_conflicts="drop_all")[1]["clusters"][0]["kept"] is None
        with pytest.raises(ValueError):
            ds.dedup(label_conflicts="vote")
        # Split and profile take the same dict of dedup keywords.
        ds.split(group_by="near_duplicates", dedup={"label_conflicts": "majority"})


def test_leakage():
    texts = ["alpha beta gamma", "Alpha  beta gamma", "delta epsilon zeta", "eta theta iota", "eta theta iota"]
    with ds_of(texts) as ds:
        cross, rep = ni(ds.leakage, [0, 1, 2, 2, 2], exact_only=True)
        assert cross == 1 and rep["exact_pairs"] == 1
        assert rep["by_parts"][0][1] == 1 and len(rep["by_parts"]) == 3
        assert rep["examples"][0]["a"] == "1" and rep["examples"][0]["b"] == "2"
        cross, rep = ds.leakage([0, -1, 1, 0, 1], n_parts=2, exact_only=True)
        assert cross == 1 and rep["by_parts"][0][1] == 1
        cross, _ = ds.leakage([0, 0, 0, 0, 0])
        assert cross == 0
        if np is not None:
            cross, _ = ds.leakage(np.array([0, 1, 2, 2, 2]), exact_only=True)
            assert cross == 1
        with pytest.raises(ValueError):
            ds.leakage([0, 1])
        raises_error(ds.leakage, [0, 1, 5, 0, 0], n_parts=3, status="DM_ERR_RANGE", words=("assign",))
    with ds_of(["the cat sat on the mat", "the cat sat on the mat!", "other words entirely here"]) as ds:
        cross, rep = ds.leakage([0, 1, 1])
        assert cross == 1 and rep["near_pairs"] == 1 and rep["exact_pairs"] == 0
        assert 0.8 <= rep["examples"][0]["jaccard"] <= 1


def test_conflicts():
    texts = ["good movie", "Good  movie", "good movie", "bad", "fine"]
    labels = ["neg", "pos", "pos", "neg", "pos"]
    with ds_of(texts, labels) as ds:
        out, rep = ni(ds.conflicts)
        with out:
            assert len(out) == 5
        assert rep["rows_in"] == 5 and rep["rows_out"] == 5
        assert rep["conflicts"] == 1 and rep["rows_in_conflict"] == 3
        item = rep["items"][0]
        assert item["labels"] == {"neg": 1, "pos": 2} and sorted(item["ids"]) == ["1", "2", "3"]
        assert item["kept_label"] is None
        expect = {"drop_all": ["4", "5"], "majority": ["2", "3", "4", "5"], "keep_first": ["1", "4", "5"]}
        for policy, ids in expect.items():
            out, rep = ds.conflicts(policy)
            with out:
                assert ids_of(out) == ids, policy
            assert rep["rows_out"] == len(ids)
        _, rep = ds.conflicts("majority")
        assert rep["items"][0]["kept_label"] == "pos"
        with pytest.raises(ValueError):
            ds.conflicts("vote")


# ---------------------------------------------------------------------------- metrics: scikit-learn's edge cases


def test_metrics_one_class_digits_0_and_undefined_auc():
    """One class (classification_report(labels=["a"])), digits=0 (whole numbers, as sklearn's), and
    the macro ROC AUC: NaN, as sklearn's, when a class has no true example (per_class keeps the rest)."""
    r = datamodel.metrics([0, 0, 0], [0, 0, 0], labels=["a"])
    assert r.n_classes == 1 and r.accuracy == 1.0 and r.macro_f1 == 1.0 and math.isnan(r.roc_auc)
    assert "           a       1.00      1.00      1.00         3\n" in r.text()
    raises_error(datamodel.metrics, [0, 0], [0, 0], probs=[[1.0], [1.0]], status="DM_ERR_RANGE",
                 words=("n_classes = 1 with probabilities",))
    r = datamodel.metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], labels=["neg", "neu", "pos"])
    assert "         neg          0         0         0         2\n" in r.text(digits=0)  # 0.5 -> 0 (half even)
    assert "         neu          1         1         1         2\n" in r.text(digits=0)  # 2/3 -> 1
    probs = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.4, 0.5, 0.1], [0.1, 0.8, 0.1]]
    r = datamodel.metrics([0, 1, 0, 1], [0, 1, 1, 1], probs=probs, labels=["a", "b", "c"])
    assert math.isnan(r.roc_auc) and math.isnan(r.per_class[2]["roc_auc"])
    assert r.per_class[0]["roc_auc"] == 1.0 and r.per_class[1]["roc_auc"] == 1.0
    assert r.to_json()["roc_auc"] is None
    sk = pytest.importorskip("sklearn.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that class c's AUC is undefined
        assert math.isnan(sk.roc_auc_score([0, 1, 0, 1], probs, labels=[0, 1, 2], multi_class="ovr"))
    r = datamodel.metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
    assert r.text(digits=0).startswith(sk.classification_report([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], digits=0,
                                                                zero_division=0))


# ---------------------------------------------------------------------------- split, resample, weights


def _balanced(n=100):
    return ds_of([f"text {i}" for i in range(n)], ["pos" if i % 2 else "neg" for i in range(n)])


def test_split():
    with _balanced() as ds:
        assign, rep = ni(ds.split)
        assert len(assign) == 100 and set(assign) <= {0, 1, 2}
        assert [assign.count(k) for k in range(3)] == [80, 10, 10]
        assert [p["rows"] for p in rep["parts"]] == [80, 10, 10]
        assert rep["seed"] == 42 and "groups" in rep
        again, _ = ds.split()
        assert again == assign
        other, _ = ds.split(seed=43)
        assert other != assign
        assign, rep = ds.split(train=0.6, val=0.2, test=0.2, stratify=True)
        for part, want in ((0, 30), (1, 10), (2, 10)):
            assert sum(1 for i, a in enumerate(assign) if a == part and ds.label_name(i) == "pos") == want
        assert rep["parts"][0]["per_class"] == {"neg": 30, "pos": 30}
        assign, rep = ds.split(folds=5, stratify=True)
        assert sorted(set(assign)) == [0, 1, 2, 3, 4] and all(assign.count(k) == 20 for k in range(5))
        assert len(rep["parts"]) == 5
        if np is not None:
            arr, _ = ds.split(return_numpy=True)
            assert arr.dtype == np.int32 and arr.tolist() == ds.split()[0]
        parts = ds.split_datasets(stratify=True)
        assert sorted(parts) == ["test", "train", "val"]
        assert [len(parts[k]) for k in ("train", "val", "test")] == [80, 10, 10]
        assert sorted(i for p in parts.values() for i in ids_of(p)) == sorted(ids_of(ds))
        folds = ds.split_datasets(folds=4)
        assert sorted(folds) == ["fold0", "fold1", "fold2", "fold3"]
        assert sum(map(len, folds.values())) == 100


def test_split_groups(tmp_path):
    rows = "".join(f"sentence {i},{'pos' if i % 3 else 'neg'},g{i // 5}\n" for i in range(100))
    path = write(tmp_path / "g.csv", "text,label,group\n" + rows)
    with datamodel.Dataset.load(path, group_column="group") as ds:
        assign, rep = ni(ds.split, group_by="column")
        for g in range(20):
            assert len({assign[i] for i in range(g * 5, g * 5 + 5)}) == 1
        assert rep["groups"] == 20
        assert [assign.count(k) for k in range(3)] == [80, 10, 10]
    texts = ["the cat sat on the mat", "the cat sat on the mat!"] + [f"unrelated number {i} " * 3 for i in range(30)]
    with ds_of(texts) as ds:
        assign, _ = ds.split(group_by="near_duplicates", dedup={"threshold": 0.7})
        assert assign[0] == assign[1]
        with pytest.raises(TypeError):
            ds.split(group_by="near_duplicates", dedup={"thresh": 0.7})
    with _balanced(10) as ds:
        raises_error(ds.split, group_by="column", status=None, words=("group",))


def test_split_errors():
    with _balanced() as ds:
        raises_error(ds.split, train=0.5, status="DM_ERR_INVALID_ARGUMENT")
        raises_error(ds.split, train=1.2, val=-0.1, test=-0.1, status="DM_ERR_INVALID_ARGUMENT")
        raises_error(ds.split, folds=1, status="DM_ERR_INVALID_ARGUMENT", words=("folds",))
        with pytest.raises(ValueError):
            ds.split(group_by="label")


def test_resample_and_class_weights():
    with ds_of([f"t{i}" for i in range(8)], ["pos"] * 6 + ["neg"] * 2) as ds:
        w = ni(ds.class_weights)
        assert w == pytest.approx({"neg": 2.0, "pos": 8 / 12})
        out, rep = ni(ds.resample)
        with out:
            assert sorted(labels_of(out)).count("neg") == 6 and len(out) == 12
            assert ids_of(out)[:8] == ids_of(ds) or sorted(set(ids_of(out))) == sorted(ids_of(ds))
        assert rep["rows_in"] == 8 and rep["rows_out"] == 12
        assert rep["before"] == {"neg": 2, "pos": 6} and rep["after"] == {"neg": 6, "pos": 6}
        out, rep = ds.resample("under", seed=3)
        with out:
            assert len(out) == 4 and labels_of(out).count("pos") == 2
        assert rep["after"] == {"neg": 2, "pos": 2}
        out, rep = ds.resample(target={"pos": 1, "neg": 2})
        with out:
            assert len(out) == 18
        assert rep["after"] == {"neg": 12, "pos": 6}
        out2, rep2 = ds.resample(target=[2, 1])  # .labels order: neg, pos
        with out2:
            assert rep2["after"] == {"neg": 12, "pos": 6}
        with pytest.raises(ValueError):
            ds.resample(target={"maybe": 1})
        with pytest.raises(ValueError):
            ds.resample("smote")
        raises_error(ds.resample, target=[1, 2, 3], status="DM_ERR_INVALID_ARGUMENT", words=("target",))
    with ds_of(["a", "b"]) as unlabelled:
        raises_error(unlabelled.resample, status="DM_ERR_INVALID_ARGUMENT")


# ---------------------------------------------------------------------------- augment, profile


def test_augment(tmp_path):
    texts = ["the quick brown fox jumps over the lazy dog", "a happy little cloud floats over the hills"]
    with ds_of(texts, ["x", "y"]) as ds:
        out, rep = ni(ds.augment, ops="chars", n=2, char_rate=0.2, seed=5)
        with out:
            ids = ids_of(out)
            assert [t for t, i in zip(texts_of(out), ids) if "#aug" not in i] == texts  # sources kept, in order
            assert len(out) == rep["rows_out"] == 6 - rep["unchanged"]
            copies = [i for i in ids if "#aug" in i]
            assert len(copies) == 4 - rep["unchanged"]
            for k, i in enumerate(ids):  # a copy comes after its source and keeps its label
                if "#aug" in i:
                    src = i.split("#")[0]
                    assert src in ids[:k] and out.label_name(k) == ds.label_name(int(src) - 1)
        assert rep["rows_in"] == 2 and "chars" in rep["ops"]
        again, rep2 = ds.augment(ops=["chars"], n=2, char_rate=0.2, seed=5)
        with again:
            assert rep2 == rep
        out, _ = ds.augment(ops="chars", n=1, keep_original=False)
        with out:
            assert all("#aug" in i for i in ids_of(out))
        syn = write(tmp_path / "syn.txt", "quick fast rapid\nhappy glad cheerful\n")
        out, rep = ds.augment(ops=("eda", "chars"), n=3, alpha=0.3, synonyms_path=syn)
        with out:
            assert len(out) == rep["rows_out"] >= 2
        raises_error(ds.augment, ops="chars", char_rate=2.0, status="DM_ERR_INVALID_ARGUMENT", words=("char_rate",))
        raises_error(ds.augment, synonyms_path=str(tmp_path / "missing.txt"), status="DM_ERR_IO",
                     words=("missing.txt",))
        with pytest.raises(ValueError):
            ds.augment(ops="backtranslate")


def test_profile_and_html():
    texts = ["the cat sat on the mat", "the cat sat on the mat", "中文文本测试", "the cat sat on the mat!", "x"]
    with ds_of(texts, ["a", "b", "a", "a", "a"]) as ds:
        p = ni(ds.profile, title="My data")
        assert p["rows"] == 5 and p["per_class"] == {"a": 4, "b": 1} and p["imbalance_ratio"] == 4
        assert p["exact_duplicates"] == 1 and p["conflicts"] == 1
        for key in ("columns", "labels", "length_chars", "empty", "near_duplicates", "near_pairs",
                    "duplicate_clusters", "scripts", "skipped_rows"):
            assert key in p, key
        assert p["length_chars"]["max"] == 23 and p["length_chars"]["min"] == 1
        _, clean_rep = ni(ds.clean)
        p2 = ds.profile(near_duplicates=False, clean_report=clean_rep)
        assert p2["clean"]["rows_in"] == 5
        p3 = ds.profile(clean_report='{"rows_in": 5, "rows_out": 5}')
        assert p3["clean"]["rows_in"] == 5
        html = ni(datamodel.profile_html, p)
        assert "<html" in html.lower() and "My data" in html and "<script" not in html.lower()
        assert datamodel.profile_html(json_dumps(p)) == html
        raises_error(datamodel.profile_html, "{not json", status="DM_ERR_PARSE")
        raises_error(ds.profile, clean_report="{broken", status="DM_ERR_PARSE")


def json_dumps(obj):
    import json
    return json.dumps(obj, ensure_ascii=False)


def test_closed_dataset_is_refused():
    ds = ds_of(["a"])
    ds.close()
    for call in (lambda: ds.clean(), lambda: ds.dedup(), lambda: ds.split(), lambda: ds.select([0]),
                 lambda: ds.write("x.csv"), lambda: ds.profile(), lambda: ds.class_weights(),
                 lambda: ds.conflicts(), lambda: ds.skipped_rows(), lambda: ds.label_id("a")):
        with pytest.raises(ValueError):
            call()
