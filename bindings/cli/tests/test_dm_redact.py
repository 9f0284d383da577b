"""Tests of `dm redact` (personal data): detection of crafted texts (emails, phones, a Luhn-valid card
and a Luhn-failing one, a CN resident ID built from the MOD 11-2 rule, an IBAN), byte offsets of
--format json, every operator, hash determinism, encrypt -> --decrypt round trips, wrong keys and
tampered tokens (exit 1), missing and malformed key files, --types, --pattern, --deny, invalid UTF-8
(naming line and byte offset), data set mode with its audit log (which never holds a raw value), the
same output on 1 and several threads, and every usage error (exit 2).

While a library call still answers "not implemented yet" the test that needs it is skipped
(detected at run time, so the skips go away by themselves once it lands).
Run: python3 -m pytest bindings/cli/tests/test_dm_redact.py   (DM_BUILD names the build folder)"""
import csv
import json
import os
import re
import secrets
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")
NOT_YET = "not implemented yet"

EMAIL = "zhang.wei@example.com"
PHONE = "+86 138 1234 5678"
CARD = "4111 1111 1111 1111"
BAD_CARD = "4111 1111 1111 1112"  # fails Luhn
IBAN = "GB82 WEST 1234 5698 7654 32"


def cn_id(region="110101", birth="19900307", seq="123"):
    """A CN resident ID whose check character follows ISO 7064 MOD 11-2."""
    body = region + birth + seq
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


CN_ID = cn_id()
BAD_CN_ID = CN_ID[:-1] + ("0" if CN_ID[-1] != "0" else "1")  # wrong check character

LINES = [
    f"请联系 {EMAIL} 或致电 {PHONE}",
    f"card {CARD} was charged",
    f"order number {BAD_CARD} shipped",
    f"身份证号 {CN_ID} 已登记",
    f"IBAN {IBAN} for the transfer",
    "nothing personal here",
]


def dm(*args, stdin=b"", check=True, timeout=600):
    p = subprocess.run([DM, *map(str, args)], input=stdin, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
    return p


def as_bytes(lines):
    return "".join(line + "\n" for line in lines).encode()


def run(*args, lines=LINES, stdin=None):
    """dm redact ARGS on LINES; must succeed; skipped while the library is a placeholder."""
    p = dm("redact", *args, stdin=as_bytes(lines) if stdin is None else stdin, check=False)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0 and NOT_YET in err:
        pytest.skip(err.strip())
    assert p.returncode == 0, (args, p.returncode, err)
    return p.stdout.decode()


def expect(args, rc, *needles, stdin=None):
    p = dm("redact", *args, stdin=as_bytes(LINES) if stdin is None else stdin, check=False)
    err = p.stderr.decode(errors="replace")
    if rc == 1 and NOT_YET in err:
        pytest.skip(err.strip())
    assert p.returncode == rc, (args, p.returncode, err)
    assert err.startswith("dm: "), (args, err)
    for n in needles:
        assert n in err, (args, n, err)
    return p


def out_lines(text):
    assert text.endswith("\n") or text == ""
    return text.split("\n")[:-1]


def detect(lines=LINES, *args):
    return [json.loads(x)["entities"] for x in out_lines(run("--detect-only", "--format", "json", *args,
                                                             lines=lines))]


def key_file(tmp_path, name="key.hex"):
    p = tmp_path / name
    p.write_text(secrets.token_hex(32) + "\n")  # what `openssl rand -hex 32 > key` writes
    return str(p)


# ------------------------------------------------------------------ help and usage errors


def test_help():
    for args in (["help", "redact"], ["redact", "--help"], ["redact", "-h"]):
        out = dm(*args).stdout.decode()
        assert out.startswith("usage: dm redact"), args
        for word in ("--detect-only", "--operator", "--key-file", "--decrypt", "--types", "--audit", "CN_RESIDENT_ID"):
            assert word in out, word
    assert "redact" in dm("help").stdout.decode()


@pytest.mark.parametrize("args,needle", [
    (["--operator", "scramble"], "unknown operator 'scramble'"),
    (["--operator", "EMAIL_ADDRESS=scramble"], "unknown operator 'scramble'"),
    (["--operator", "=mask"], "expected TYPE=OP"),
    (["--operator", "hash"], "need --key-file"),
    (["--operator", "CREDIT_CARD=encrypt"], "need --key-file"),
    (["--decrypt"], "--decrypt needs --key-file"),
    (["--decrypt", "--key-file", "k", "--detect-only"], "do not go together"),
    (["--decrypt", "--key-file", "k", "--operator", "mask"], "--decrypt takes no --operator"),
    (["--detect-only", "--operator", "mask"], "--detect-only takes no --operator"),
    (["--out", "x.csv"], "--out needs --in"),
    (["--audit", "a.jsonl"], "--audit needs --in"),
    (["--report", "r.json"], "--report needs --in"),
    (["--text-column", "review"], "needs --in"),
    (["--in", "x.csv"], "needs --out"),
    (["--in", "x.csv", "--out", "y.csv", "--format", "json"], "--format json is for lines"),
    (["--in", "x.csv", "--out", "y.csv", "extra.txt"], "unexpected argument 'extra.txt'"),
    (["--format", "xml"], "unknown format 'xml'"),
    (["--min-score", "1.5"], "--min-score"),
    (["--min-score", "abc"], "--min-score"),
    (["--mask-char", "ab"], "not one character"),
    (["--mask-char", ""], "not one character"),
    (["--keep-last", "-1"], "--keep-last"),
    (["--hash-chars", "x"], "--hash-chars"),
    (["--pattern", "FOO"], "expected TYPE=REGEX"),
    (["--pattern", "FOO:2=abc"], "score '2'"),
    (["--deny", "NAMES"], "expected TYPE=FILE"),
    (["--threads", "-2"], "--threads"),
    (["--block", "0"], "--block"),
    (["--match-limit", "0"], "--match-limit"),
    (["--invalid-utf8", "ignore"], "unknown policy 'ignore'"),
    (["--types"], "--types needs a value"),
    (["--bogus"], "unknown option '--bogus'"),
])
def test_usage_errors(args, needle):
    p = expect(args, 2, needle)
    assert p.stdout == b""


# ------------------------------------------------------------------ detection


def test_detect_json_types_offsets_and_text():
    ents = detect()
    assert len(ents) == len(LINES)
    for line, found in zip(LINES, ents):
        raw = line.encode()
        for e in found:
            assert set(e) == {"type", "start", "end", "text", "score"}, e
            assert 0 <= e["start"] < e["end"] <= len(raw)
            assert raw[e["start"]:e["end"]].decode() == e["text"], (line, e)  # byte offsets
            assert 0 < e["score"] <= 1
    by_type = [{e["type"]: e["text"] for e in found} for found in ents]
    assert by_type[0]["EMAIL_ADDRESS"] == EMAIL
    assert "138 1234 5678" in by_type[0]["PHONE_NUMBER"]
    # The email sits after Chinese text: offsets are bytes, not characters.
    email = next(e for e in ents[0] if e["type"] == "EMAIL_ADDRESS")
    assert email["start"] == len("请联系 ".encode()) != len("请联系 ")
    assert by_type[1]["CREDIT_CARD"] == CARD
    assert "CREDIT_CARD" not in by_type[2]  # Luhn decides, not the shape
    assert by_type[3]["CN_RESIDENT_ID"] == CN_ID
    assert by_type[4]["IBAN_CODE"] == IBAN
    assert ents[5] == []


def test_detect_wrong_check_digits():
    ents = detect([f"ID {BAD_CN_ID}", "IBAN GB83 WEST 1234 5698 7654 32"])
    assert all(e["type"] != "CN_RESIDENT_ID" for e in ents[0])
    assert all(e["type"] != "IBAN_CODE" for e in ents[1])


def test_detect_text_format():
    out = out_lines(run("--detect-only"))
    assert len(out) == len(LINES)
    assert out[5] == ""
    for line, got in zip(LINES, out):
        for item in got.split():
            m = re.fullmatch(r"([A-Z0-9_]+):(\d+):(\d+)", item)
            assert m, item
            assert int(m[2]) < int(m[3]) <= len(line.encode())
    assert re.search(r"\bCREDIT_CARD:5:24\b", out[1]), out[1]


def test_types_filter_and_min_score():
    ents = detect(LINES, "--types", "EMAIL_ADDRESS,CREDIT_CARD")
    types = {e["type"] for found in ents for e in found}
    assert types == {"EMAIL_ADDRESS", "CREDIT_CARD"}
    p = dm("redact", "--types", "EMAIL_ADDRESS,NOT_A_TYPE", stdin=as_bytes(LINES), check=False)
    err = p.stderr.decode()
    if NOT_YET in err:
        pytest.skip(err)
    assert p.returncode == 1 and "NOT_A_TYPE" in err, err
    assert detect(LINES, "--min-score", "1") is not None  # accepted; may drop weaker entities


def test_empty_input_crlf_and_no_final_newline():
    assert run(stdin=b"") == ""
    out = run(stdin=f"mail {EMAIL}\r\nplain\r\nlast {EMAIL}".encode())
    assert out == "mail <EMAIL_ADDRESS>\nplain\nlast <EMAIL_ADDRESS>\n"
    # Only \n ends a line: a lone \r stays inside it.
    out = run(stdin=b"a\rb\n")
    assert out == "a\rb\n"


# ------------------------------------------------------------------ operators


def test_replace_is_the_default():
    out = out_lines(run())
    assert out[0] == "请联系 <EMAIL_ADDRESS> 或致电 <PHONE_NUMBER>"
    assert out[1] == "card <CREDIT_CARD> was charged"
    assert out[2] == LINES[2]
    assert out[3] == "身份证号 <CN_RESIDENT_ID> 已登记"
    assert out[4] == "IBAN <IBAN_CODE> for the transfer"
    assert out[5] == LINES[5]
    assert out == out_lines(run("--operator", "replace"))


def test_redact():
    out = out_lines(run("--operator", "redact"))
    assert out[1] == "card  was charged"
    assert EMAIL not in out[0] and "<" not in out[0]


def test_mask_keep_last_and_mask_char():
    out = out_lines(run("--operator", "CREDIT_CARD=mask"))
    assert out[1] == "card " + "*" * (len(CARD) - 4) + "1111 was charged"
    assert out[0] == "请联系 <EMAIL_ADDRESS> 或致电 <PHONE_NUMBER>"  # other types keep the default
    out = out_lines(run("--operator", "mask", "--mask-char", "#", "--keep-last", "2"))
    assert out[1] == "card " + "#" * (len(CARD) - 2) + "11 was charged"
    out = out_lines(run("--operator", "mask", "--mask-char", "某", "--keep-last", "0"))
    assert out[3] == "身份证号 " + "某" * 18 + " 已登记"


def test_keep_and_per_type_over_default():
    out = out_lines(run("--operator", "keep", "--operator", "EMAIL_ADDRESS=redact"))
    assert out[1] == LINES[1]
    assert EMAIL not in out[0] and PHONE in out[0]


def test_hash_deterministic_per_key(tmp_path):
    k1, k2 = key_file(tmp_path, "k1"), key_file(tmp_path, "k2")
    lines = [f"a {EMAIL}", f"b {EMAIL} c", "other@example.org"]
    a = out_lines(run("--operator", "hash", "--key-file", k1, lines=lines))
    b = out_lines(run("--operator", "hash", "-k", k1, lines=lines))
    c = out_lines(run("--operator", "hash", "--key-file", k2, lines=lines))
    assert a == b
    tok = re.fullmatch(r"a (<EMAIL_ADDRESS_[0-9a-f]{8}>)", a[0])
    assert tok, a[0]
    assert a[1] == f"b {tok[1]} c"  # the same value, the same token
    assert tok[1] not in a[2]        # another value, another token
    assert a[0] != c[0]              # another key, another token
    long = out_lines(run("--operator", "hash", "--key-file", k1, "--hash-chars", "16", lines=lines))
    assert re.fullmatch(r"a <EMAIL_ADDRESS_[0-9a-f]{16}>", long[0]), long[0]
    expect(["--operator", "hash", "--key-file", k1, "--hash-chars", "4"], 1, "hash_chars")


def test_encrypt_decrypt_round_trip(tmp_path):
    k = key_file(tmp_path)
    enc = run("--operator", "encrypt", "--key-file", k)
    lines = out_lines(enc)
    assert EMAIL not in enc and CARD not in enc and CN_ID not in enc
    assert re.search(r"<EMAIL_ADDRESS:[A-Za-z0-9_-]+>", lines[0]), lines[0]
    assert lines[2] == LINES[2]
    # A random nonce: encrypting twice gives other tokens, both decrypting to the same text.
    assert run("--operator", "encrypt", "--key-file", k) != enc
    assert out_lines(run("--decrypt", "--key-file", k, stdin=enc.encode())) == LINES
    j = [json.loads(x) for x in out_lines(run("--decrypt", "--key-file", k, "--format", "json",
                                              stdin=enc.encode()))]
    assert [x["text"] for x in j] == LINES


def test_decrypt_wrong_key_and_tampered_token(tmp_path):
    k, other = key_file(tmp_path, "k"), key_file(tmp_path, "other")
    enc = run("--operator", "encrypt", "--key-file", k, lines=[f"x {EMAIL}"])
    p = expect(["--decrypt", "--key-file", other], 1, "line 1", stdin=enc.encode())
    assert EMAIL.encode() not in p.stdout + p.stderr
    m = re.search(r"<EMAIL_ADDRESS:([A-Za-z0-9_-]+)>", enc)
    payload = m[1]
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    expect(["--decrypt", "--key-file", k], 1, "line 2", stdin=b"fine\n" + enc.replace(payload, flipped).encode())


def test_key_files(tmp_path):
    missing = str(tmp_path / "nope.hex")
    expect(["--operator", "hash", "--key-file", missing], 1, missing)
    secret = "z" * 64
    bad = tmp_path / "bad.hex"
    bad.write_text(secret + "\n")
    p = expect(["--operator", "hash", "--key-file", str(bad)], 1, str(bad))
    assert secret not in p.stderr.decode()  # the key is never echoed
    short = tmp_path / "short.hex"
    short.write_text(secrets.token_hex(16) + "\n")
    expect(["--operator", "encrypt", "--key-file", str(short)], 1, str(short))
    empty = tmp_path / "empty.hex"
    empty.write_text("")
    expect(["--operator", "hash", "--key-file", str(empty)], 1, str(empty))
    no_newline = tmp_path / "k.hex"
    no_newline.write_text(secrets.token_hex(32))
    run("--operator", "hash", "--key-file", str(no_newline))
    # 32 raw bytes (`openssl rand 32 > key`) are named as binary, not by their first non-hex byte
    raw = tmp_path / "raw.key"
    raw.write_bytes(b"ab\n" + bytes(range(0x80, 0x9D)))
    p = expect(["--operator", "hash", "--key-file", str(raw)], 1, "the file is binary")
    assert "line break" not in p.stderr.decode()
    b64 = tmp_path / "b64.key"
    b64.write_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")  # `openssl rand -base64 32`
    expect(["--operator", "hash", "--key-file", str(b64)], 1, "base64 characters")


# ------------------------------------------------------------------ user recognisers


def test_pattern_and_deny(tmp_path):
    lines = ["order ORD-123456 for Alice Smith", "ord-12 and alice smith", "nothing"]
    names = tmp_path / "names.txt"
    names.write_text("Alice Smith\r\n\nBob Jones\n")
    ents = detect(lines, "--pattern", r"ORDER_ID:0.9=\bORD-\d{6}\b", "--deny", f"PERSON={names}")
    assert [(e["type"], e["text"]) for e in ents[0]] == [("ORDER_ID", "ORD-123456"), ("PERSON", "Alice Smith")]
    assert ents[0][0]["score"] == pytest.approx(0.9)
    assert [(e["type"], e["text"]) for e in ents[1]] == [("PERSON", "alice smith")]  # case-insensitive
    out = out_lines(run("--pattern", r"ORDER_ID=\bORD-\d{6}\b", "--operator", "ORDER_ID=redact", lines=lines))
    assert out[0] == "order  for Alice Smith"
    # A pattern with '=' inside it: only the first '=' separates.
    ents = detect(["k=v1"], "--pattern", r"KV=(?<==)v\d")
    assert [(e["type"], e["text"]) for e in ents[0]] == [("KV", "v1")]


def test_bad_pattern_and_deny_file(tmp_path):
    expect(["--pattern", "BROKEN=(abc"], 1, "(abc")
    expect(["--pattern", "lower=abc"], 1, "lower")
    missing = str(tmp_path / "none.txt")
    expect(["--deny", f"PERSON={missing}"], 1, missing)


# ------------------------------------------------------------------ bad input


def test_invalid_utf8_names_line_and_byte():
    p = expect([], 1, "line 2", "byte", stdin=b"ok " + EMAIL.encode() + b"\nab\xffcd\nlater\n")
    assert p.stdout.decode() == "ok <EMAIL_ADDRESS>\n"  # lines before the bad one are written
    assert re.search(r"\b2\b", p.stderr.decode().split("line 2", 1)[1]), p.stderr
    out = run("--invalid-utf8", "replace", stdin=b"ab\xffcd " + EMAIL.encode() + b"\n")
    assert "<EMAIL_ADDRESS>" in out


def test_long_line():
    filler = "x" * (8 << 20)
    out = run(stdin=f"{filler} {EMAIL} {filler}\nshort {EMAIL}\n".encode())
    assert out == f"{filler} <EMAIL_ADDRESS> {filler}\nshort <EMAIL_ADDRESS>\n"


# ------------------------------------------------------------------ threads, files, output


def test_threads_do_not_change_the_output(tmp_path):
    k = key_file(tmp_path)
    lines = [LINES[i % len(LINES)] + f" #{i}" for i in range(5000)]
    base = run("--operator", "hash", "--key-file", k, "-j", "1", lines=lines)
    assert len(out_lines(base)) == len(lines)
    for args in (["-j", "3"], ["--threads", "0"], ["-j", "4", "--block", "7"]):
        assert run("--operator", "hash", "--key-file", k, *args, lines=lines) == base, args
    d1 = run("--detect-only", "--format", "json", "-j", "1", lines=lines)
    assert run("--detect-only", "--format", "json", "-j", "4", "--block", "100", lines=lines) == d1


def test_files_and_output(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(f"{EMAIL}\n")
    b.write_text(f"x {CARD}")  # no final newline
    out = tmp_path / "out.txt"
    p = dm("redact", str(a), str(b), "-o", str(out), check=False)
    if NOT_YET in p.stderr.decode():
        pytest.skip(p.stderr.decode())
    assert p.returncode == 0, p.stderr
    assert p.stdout == b""
    assert out.read_text() == "<EMAIL_ADDRESS>\nx <CREDIT_CARD>\n"
    expect([str(tmp_path / "missing.txt")], 1, "missing.txt")


def test_anonymize_json():
    rows = [json.loads(x) for x in out_lines(run("--format", "json"))]
    assert rows[1]["text"] == "card <CREDIT_CARD> was charged"
    assert rows[1]["entities"] == [{"type": "CREDIT_CARD", "start": 5, "end": 24,
                                    "score": rows[1]["entities"][0]["score"]}]
    assert rows[5] == {"text": LINES[5], "entities": []}
    blob = json.dumps(rows, ensure_ascii=False)
    for raw in (EMAIL, CARD, CN_ID, IBAN):
        assert raw not in blob  # the values are not repeated


# ------------------------------------------------------------------ data sets


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def test_dataset_with_audit_and_report(tmp_path):
    src = write_csv(tmp_path / "in.csv", ["id", "review", "label"],
                    [[f"r{i}", line, i % 2] for i, line in enumerate(LINES)])
    out, audit, report = tmp_path / "out.csv", tmp_path / "audit.jsonl", tmp_path / "report.json"
    p = dm("redact", "--in", src, "--out", out, "--text-column", "review", "--audit", audit, "--report", report,
           "-j", "2", check=False)
    err = p.stderr.decode()
    if NOT_YET in err:
        pytest.skip(err)
    assert p.returncode == 0, err
    assert p.stdout == b""
    assert re.match(r"dm: redact: 6 rows, 4 changed; entities: ", err), err
    assert "EMAIL_ADDRESS 1" in err and "CREDIT_CARD 1" in err
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(6)]
    assert rows[1]["review"] == "card <CREDIT_CARD> was charged"
    assert rows[5]["review"] == LINES[5]
    assert [r["label"] for r in rows] == [str(i % 2) for i in range(6)]
    rep = json.loads(report.read_text())
    assert rep["rows"] == 6 and rep["rows_changed"] == 4
    assert rep["entities"]["CN_RESIDENT_ID"] == 1 and rep["operators"]["CREDIT_CARD"] == "replace"
    log = audit.read_text()
    for raw in (EMAIL, CARD, CN_ID, IBAN, "138 1234"):
        assert raw not in log
    entries = [json.loads(x) for x in log.splitlines()]
    assert {e["type"] for e in entries} >= {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "CN_RESIDENT_ID",
                                            "IBAN_CODE"}
    for e in entries:
        assert set(e) == {"id", "column", "type", "start", "end", "operator"}, e
        line = LINES[int(e["id"][1:])].encode()
        assert 0 <= e["start"] < e["end"] <= len(line)
    card = next(e for e in entries if e["type"] == "CREDIT_CARD")
    assert (card["id"], card["start"], card["end"], card["operator"]) == ("r1", 5, 24, "replace")


def test_dataset_detect_only_and_errors(tmp_path):
    src = write_csv(tmp_path / "in.csv", ["text"], [[line] for line in LINES])
    p = dm("redact", "--in", src, "--detect-only", "--report", "-", check=False)
    err = p.stderr.decode()
    if NOT_YET in err:
        pytest.skip(err)
    assert p.returncode == 0, err
    rep = json.loads(p.stdout)
    assert rep["rows"] == 6 and rep["rows_changed"] == 0  # keep: nothing changes
    assert rep["entities"]["EMAIL_ADDRESS"] == 1
    assert "with entities" in err
    expect(["--in", src, "--out", str(tmp_path / "o.csv"), "--text-column", "nope"], 1, "--text-column")
    expect(["--in", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.csv")], 1, "missing.csv")
    k = key_file(tmp_path)
    out = tmp_path / "enc.jsonl"
    run("--in", src, "--out", out, "--operator", "encrypt", "--key-file", k)
    texts = [json.loads(x)["text"] for x in out.read_text().splitlines()]
    assert EMAIL not in "".join(texts)
    assert out_lines(run("--decrypt", "--key-file", k, lines=texts)) == LINES


# ------------------------------------------------------------------ --invalid-utf8 on lines


def bad_stream(n=2500, bad=(2001,)):
    """N lines, each with an e-mail address; 1-based lines BAD hold a 0xFF at byte offset 3."""
    out = [f"{i} {EMAIL}".encode() for i in range(1, n + 1)]
    for b in bad:
        out[b - 1] = b"ab \xff " + out[b - 1]
    return b"".join(line + b"\n" for line in out)


@pytest.mark.parametrize("block", ["1000", "1024", "65536"])
@pytest.mark.parametrize("threads", ["1", "3"])
def test_invalid_utf8_true_line_mid_block(tmp_path, block, threads):
    src = tmp_path / "in.txt"
    src.write_bytes(bad_stream())
    p = dm("redact", "--block", block, "--threads", threads, src, check=False)
    assert p.returncode == 1
    assert p.stderr.decode() == f"dm: {src}: line 2001: invalid UTF-8 at byte offset 3 (0xFF)\n"
    out = out_lines(p.stdout.decode())
    assert len(out) == 2000 and out[-1] == "2000 <EMAIL_ADDRESS>"


def test_invalid_utf8_skip_keeps_one_line_per_line(tmp_path):
    data = bad_stream(bad=(2, 2001))
    for block in ("1", "1024"):
        p = dm("redact", "--block", block, "--invalid-utf8", "skip", stdin=data)
        assert p.returncode == 0
        out = out_lines(p.stdout.decode())
        assert len(out) == 2500 and out[1] == out[2000] == ""
        assert out[0] == "1 <EMAIL_ADDRESS>" and out[2001] == "2002 <EMAIL_ADDRESS>"
        assert p.stderr.decode() == "dm: skipped 2 lines with invalid UTF-8 (standard input: lines 2, 2001)\n"
    js = out_lines(run("--invalid-utf8", "skip", "--format", "json", "--block", "1024", stdin=data))
    assert json.loads(js[2000]) == {"line": 2001, "file": "standard input",
                                    "skipped": "invalid UTF-8 at byte offset 3 (0xFF)"}
    assert json.loads(js[2001])["text"] == "2002 <EMAIL_ADDRESS>"
    det = out_lines(run("--invalid-utf8", "skip", "--detect-only", stdin=data))
    assert det[2000] == "" and det[1999].startswith("EMAIL_ADDRESS:")


def test_invalid_utf8_replace_and_files(tmp_path):
    p = dm("redact", "--invalid-utf8", "replace", "--block", "1024", stdin=bad_stream())
    out = out_lines(p.stdout.decode())
    assert len(out) == 2500 and out[2000] == "ab \ufffd 2001 <EMAIL_ADDRESS>"
    assert p.stderr.decode() == "dm: replaced invalid UTF-8 in 1 line (standard input: line 2001)\n"
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(bad_stream(n=3, bad=()))
    b.write_bytes(bad_stream(n=3, bad=(3,)))
    for block in ("1", "4", "100"):
        p = dm("redact", "--block", block, a, b, check=False)
        assert p.returncode == 1 and len(out_lines(p.stdout.decode())) == 5
        assert p.stderr.decode() == f"dm: {b}: line 3: invalid UTF-8 at byte offset 3 (0xFF)\n"
        p = dm("redact", "--block", block, "--invalid-utf8", "skip", "--format", "json", a, b)
        last = json.loads(out_lines(p.stdout.decode())[5])
        assert last == {"line": 3, "file": str(b), "skipped": "invalid UTF-8 at byte offset 3 (0xFF)"}
    # Other per-line failures name the file's line too (a token that does not decrypt).
    k, other = key_file(tmp_path), key_file(tmp_path, "other.hex")
    c = tmp_path / "c.txt"
    c.write_text("plain\n" + run("--operator", "encrypt", "--key-file", k, lines=[EMAIL]))
    p = dm("redact", "--decrypt", "--key-file", other, a, c, check=False)
    assert p.returncode == 1 and p.stderr.decode().startswith(f"dm: {c}: line 2: ")


def test_invalid_utf8_help_and_policies():
    text = dm("redact", "--help").stdout.decode()
    assert "--invalid-utf8 P" in text and "skip:" in text and "fail (default" in text
    expect(["--invalid-utf8", "drop"], 2, "unknown policy 'drop' (fail, skip, replace)")
    expect(["--invalid-utf8", "error"], 1, "standard input: line 1: invalid UTF-8 at byte offset 0 (0xC0)",
           stdin=b"\xc0\n")
