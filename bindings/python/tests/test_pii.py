"""Tests of the Python binding of the PII API (datamodel.h, "Privacy: detecting and anonymising
personal data"): datamodel.Pii (detect, anonymize, decrypt, their _batch forms,
add_pattern with a Python validator, add_deny_list, set_operator, set_key, load_key_file), Entity
offsets for str and bytes, and
Dataset.anonymize with its audit log. Crafted texts: emails, phones, a Luhn-valid card and a
Luhn-failing one, a CN resident ID built from the MOD 11-2 rule, an IBAN. Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests/test_pii.py

A call the library does not provide yet fails with DM_ERR_UNSUPPORTED and a message containing
"not implemented yet": only then is its test skipped (checked at run time, so the skips go away by
themselves)."""
import ctypes
import gc
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402
from datamodel import _pii  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

EMAIL = "zhang.wei@example.com"
PHONE = "+86 138 1234 5678"
CARD = "4111 1111 1111 1111"
BAD_CARD = "4111 1111 1111 1112"
IBAN = "GB82 WEST 1234 5698 7654 32"


def cn_id(region="110101", birth="19900307", seq="123"):
    """A CN resident ID whose check character follows ISO 7064 MOD 11-2."""
    body = region + birth + seq
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


CN_ID = cn_id()
TEXT = f"请联系 {EMAIL} 或致电 {PHONE}；card {CARD}, order {BAD_CARD}, 身份证 {CN_ID}, IBAN {IBAN}."


def ni(fn, *args, **kwargs):
    """Calls FN; skips the test while the library says "not implemented yet"."""
    try:
        return fn(*args, **kwargs)
    except datamodel.Error as e:
        if "not implemented yet" in e.message:
            pytest.skip(e.message)
        raise


def raises(status_name, fn, *args, **kwargs):
    """FN must raise datamodel.Error with STATUS_NAME (skips while not implemented); returns it."""
    try:
        fn(*args, **kwargs)
    except datamodel.Error as e:
        if "not implemented yet" in e.message:
            pytest.skip(e.message)
        assert e.status_name == status_name, (e.status_name, e.message)
        return e
    raise AssertionError(f"no error; expected {status_name}")


def make(**kwargs):
    return ni(datamodel.Pii, **kwargs)


@pytest.fixture
def pii():
    p = make()
    yield p
    p.close()


@pytest.fixture
def key():
    return secrets.token_bytes(32)


# ---------------------------------------------------------------------------- layout


@pytest.mark.parametrize("name", sorted(k for k in _pii.OPTION_STRUCTS if k != "dm_pii_entity"))
def test_struct_size_matches_library(name):
    lib = ctypes.CDLL(datamodel.library_path)  # untyped: the shared signatures stay as they are
    buf = (ctypes.c_char * 4096)()
    getattr(lib, name + "_default")(buf)
    assert ctypes.c_size_t.from_buffer(buf).value == ctypes.sizeof(_pii.OPTION_STRUCTS[name])


def test_struct_offsets_match_c_compiler(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <datamodel.h>", "int main(void) {"]
    expected = []
    for name, struct in sorted(_pii.OPTION_STRUCTS.items()):
        lines.append(f'printf("%zu\\n", sizeof({name}));')
        expected.append(ctypes.sizeof(struct))
        for field, ftype in struct._fields_:
            lines.append(f'printf("%zu %zu\\n", offsetof({name}, {field}), sizeof((({name} *)0)->{field}));')
            expected.append(f"{getattr(struct, field).offset} {ctypes.sizeof(ftype)}")
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = str(tmp_path / "layout")
    subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), str(src), "-o", exe], check=True)
    got = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split("\n")
    assert got[:len(expected)] == [str(e) for e in expected]


# ---------------------------------------------------------------------------- detection


def test_detect_crafted_text(pii):
    ents = ni(pii.detect, TEXT)
    by_type = {}
    for e in ents:
        assert isinstance(e, datamodel.Entity)
        assert TEXT[e.start:e.end] == e.text  # str in: code point offsets
        assert 0 < e.score <= 1
        by_type.setdefault(e.type, []).append(e.text)
    assert by_type["EMAIL_ADDRESS"] == [EMAIL]
    assert any("138 1234 5678" in t for t in by_type["PHONE_NUMBER"])
    assert by_type["CREDIT_CARD"] == [CARD]  # the Luhn-failing number is not a card
    assert by_type["CN_RESIDENT_ID"] == [CN_ID]
    assert by_type["IBAN_CODE"] == [IBAN]
    assert [e.start for e in ents] == sorted(e.start for e in ents)


def test_detect_bytes_offsets(pii):
    data = TEXT.encode()
    ents = ni(pii.detect, data)
    email = next(e for e in ents if e.type == "EMAIL_ADDRESS")
    assert email.start == len("请联系 ".encode())
    assert data[email.start:email.end].decode() == email.text == EMAIL
    assert [e.type for e in ents] == [e.type for e in pii.detect(TEXT)]


def test_types_filter_min_score_and_unknown_type():
    p = make(types=["EMAIL_ADDRESS"])
    assert {e.type for e in p.detect(TEXT)} == {"EMAIL_ADDRESS"}
    p.close()
    raises("DM_ERR_INVALID_ARGUMENT", datamodel.Pii, types=["EMAIL_ADDRESS", "NOT_A_TYPE"])
    strict = make(min_score=1.0)
    assert all(e.score >= 1.0 for e in strict.detect(TEXT))


def test_invalid_utf8(pii):
    e = raises("DM_ERR_UTF8", pii.detect, b"ab\xffcd " + EMAIL.encode())
    assert "2" in e.message
    lax = make(invalid_utf8="replace")
    assert [x.type for x in lax.detect(b"ab\xffcd " + EMAIL.encode())] == ["EMAIL_ADDRESS"]


def test_empty_text(pii):
    assert ni(pii.detect, "") == []
    assert ni(pii.anonymize, "") == ("", [])


# ---------------------------------------------------------------------------- operators


def test_replace_default_and_entities(pii):
    text, ents = ni(pii.anonymize, f"card {CARD}, mail {EMAIL}")
    assert text == "card <CREDIT_CARD>, mail <EMAIL_ADDRESS>"
    assert [(e.type, e.text) for e in ents] == [("CREDIT_CARD", CARD), ("EMAIL_ADDRESS", EMAIL)]
    out, _ = pii.anonymize(f"card {CARD}".encode())
    assert out == b"card <CREDIT_CARD>"  # bytes in, bytes out


def test_redact_mask_keep(pii):
    ni(pii.set_operator, "redact")
    ni(pii.set_operator, "mask", type="CREDIT_CARD", mask_char="#", keep_last=2)
    ni(pii.set_operator, "keep", type="IBAN_CODE")
    text, _ = pii.anonymize(f"a {EMAIL} b {CARD} c {IBAN}")
    assert text == "a  b " + "#" * (len(CARD) - 2) + "11 c " + IBAN
    pii.set_operator("mask", type="CN_RESIDENT_ID", mask_char="某", keep_last=4)
    text, _ = pii.anonymize(f"身份证 {CN_ID}")
    assert text == "身份证 " + "某" * 14 + CN_ID[-4:]
    with pytest.raises(ValueError):
        pii.set_operator("scramble")
    with pytest.raises(ValueError):
        pii.set_operator("mask", mask_char="ab")
    raises("DM_ERR_INVALID_ARGUMENT", pii.set_operator, "hash", hash_chars=4)


def test_hash_determinism(pii, key):
    ni(pii.set_operator, "hash")
    raises("DM_ERR_INVALID_ARGUMENT", pii.anonymize, f"mail {EMAIL}")  # no key yet
    ni(pii.set_key, key)
    a, _ = pii.anonymize(f"mail {EMAIL}")
    b, _ = pii.anonymize(f"again {EMAIL}!")
    m = re.fullmatch(r"mail (<EMAIL_ADDRESS_[0-9a-f]{8}>)", a)
    assert m, a
    assert b == f"again {m[1]}!"
    other = make()
    other.set_operator("hash")
    other.set_key(secrets.token_bytes(32))
    assert other.anonymize(f"mail {EMAIL}")[0] != a
    pii.set_operator("hash", hash_chars=64)
    assert re.fullmatch(r"mail <EMAIL_ADDRESS_[0-9a-f]{64}>", pii.anonymize(f"mail {EMAIL}")[0])


def test_set_key_and_key_files(pii, tmp_path):
    raises("DM_ERR_INVALID_ARGUMENT", pii.set_key, b"short")
    with pytest.raises(TypeError):
        pii.set_key("00" * 32)
    good = tmp_path / "key.hex"
    good.write_text(secrets.token_hex(32) + "\n")  # `openssl rand -hex 32 > key.hex`
    ni(pii.load_key_file, str(good))
    ni(pii.load_key_file, good)  # os.PathLike too
    e = raises("DM_ERR_IO", pii.load_key_file, str(tmp_path / "missing.hex"))
    assert "missing.hex" in e.message
    secret = "g" * 64
    bad = tmp_path / "bad.hex"
    bad.write_text(secret)
    e = raises("DM_ERR_PARSE", pii.load_key_file, str(bad))
    assert "bad.hex" in e.message and secret not in e.message
    short = tmp_path / "short.hex"
    short.write_text(secrets.token_hex(31) + "\n")
    raises("DM_ERR_PARSE", pii.load_key_file, str(short))


def test_encrypt_decrypt(pii, key):
    ni(pii.set_operator, "encrypt")
    ni(pii.set_key, key)
    text = f"mail {EMAIL}, card {CARD}, 身份证 {CN_ID}"
    enc, ents = pii.anonymize(text)
    assert EMAIL not in enc and CARD not in enc and CN_ID not in enc
    assert re.search(r"<EMAIL_ADDRESS:[A-Za-z0-9_-]+>", enc), enc
    assert len(ents) == 3
    assert pii.anonymize(text)[0] != enc  # a fresh nonce each time
    assert ni(pii.decrypt, enc) == text
    assert pii.decrypt(enc.encode()) == text.encode()
    assert pii.decrypt("no tokens here") == "no tokens here"


def test_decrypt_wrong_key_and_tampering(pii, key):
    ni(pii.set_operator, "encrypt")
    ni(pii.set_key, key)
    enc, _ = pii.anonymize(f"mail {EMAIL}")
    other = make()
    other.set_key(secrets.token_bytes(32))
    e = raises("DM_ERR_AUTH", other.decrypt, enc)
    assert "5" in e.message  # the token's byte offset
    payload = re.search(r"<EMAIL_ADDRESS:([A-Za-z0-9_-]+)>", enc)[1]
    flipped = payload[:8] + ("A" if payload[8] != "A" else "B") + payload[9:]
    raises("DM_ERR_AUTH", pii.decrypt, enc.replace(payload, flipped))
    raises("DM_ERR_AUTH", pii.decrypt, enc.replace("EMAIL_ADDRESS:", "PHONE_NUMBER:"))  # TYPE is authenticated


# ---------------------------------------------------------------------------- user recognisers


def test_pattern_with_validator_and_context(pii):
    seen = []

    def even_digits(match):
        seen.append(match)
        return int(match[4:]) % 2 == 0

    ni(pii.add_pattern, "ORDER_ID", r"\bORD-\d{6}\b", score=0.5, validator=even_digits, context=["order", "订单"])
    gc.collect()  # the callback must survive: the Pii keeps it
    ents = pii.detect("order ORD-123456 and ORD-123457")
    assert [(e.type, e.text) for e in ents] == [("ORDER_ID", "ORD-123456")]
    assert ents[0].score > 0.5  # raised by the context word
    assert seen == ["ORD-123456", "ORD-123457"]
    far = pii.detect("ORD-222222 is mentioned without its word")
    assert far and far[0].score == pytest.approx(0.5)
    pii.set_operator("redact", type="ORDER_ID")
    assert pii.anonymize("x ORD-000002 y")[0] == "x  y"


def test_validator_exception_is_raised_again(pii):
    def boom(match):
        raise KeyError("from the validator")

    ni(pii.add_pattern, "THING", r"thing\d", validator=boom)
    with pytest.raises(KeyError, match="from the validator"):
        pii.detect("a thing1 b")
    assert pii.detect("nothing here") == []  # the error does not stick


def test_bad_patterns(pii):
    e = raises("DM_ERR_PARSE", pii.add_pattern, "BROKEN", "(abc")
    assert "(abc" in e.message
    raises("DM_ERR_INVALID_ARGUMENT", pii.add_pattern, "lower_case", "abc")
    raises("DM_ERR_INVALID_ARGUMENT", pii.add_pattern, "SCORE", "abc", score=1.5)
    with pytest.raises(TypeError):
        pii.add_pattern("X", "abc", validator="not callable")


def test_runaway_pattern_hits_match_limit():
    p = make(match_limit=10000)
    ni(p.add_pattern, "SLOW", r"(a+)+$")
    e = raises("DM_ERR_RANGE", p.detect, "a" * 40 + "b")
    assert "SLOW" in e.message


def test_deny_list(pii):
    ni(pii.add_deny_list, "PERSON", ["Alice Smith", "Bob"], score=0.9)
    ents = pii.detect("alice smith met BOB, not Bobby")
    assert [(e.type, e.text, e.score) for e in ents] == [("PERSON", "alice smith", 0.9), ("PERSON", "BOB", 0.9)]
    with pytest.raises(TypeError):
        pii.add_deny_list("PERSON", "Alice")


def test_threads_share_a_pii(pii, key):
    ni(pii.set_operator, "hash")
    pii.set_key(key)
    want = pii.anonymize(TEXT)[0]
    results = []

    def work():
        results.extend(pii.anonymize(TEXT)[0] for _ in range(50))

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [want] * 200


# ---------------------------------------------------------------------------- many texts at once


def batch_texts(n=600):
    """Texts with and without personal data, str and bytes, of varied lengths."""
    pieces = [f"mail {EMAIL}", f"call {PHONE}", f"card {CARD} / {BAD_CARD}", "nothing here", f"身份证 {CN_ID}",
              f"IBAN {IBAN}", "", TEXT]
    out = [f"{i}: {pieces[i % 8]} {pieces[(i * 5 + 1) % 8]}" for i in range(n)]
    out[3] = out[3].encode()  # bytes in, bytes out
    return out


def test_anonymize_batch_equals_anonymize(pii, key):
    ni(pii.set_operator, "hash", type="EMAIL_ADDRESS")
    ni(pii.set_operator, "mask", type="PHONE_NUMBER", keep_last=3)
    pii.set_key(key)
    texts = batch_texts()
    want = [pii.anonymize(t) for t in texts]
    assert pii.anonymize_batch(texts) == want
    assert isinstance(pii.anonymize_batch(texts)[3][0], bytes)
    assert pii.anonymize_batch(texts, threads=1) == want
    assert pii.anonymize_batch(texts, threads=5) == want
    assert pii.anonymize_batch(iter(texts[:10]), threads=2) == want[:10]
    assert pii.anonymize_batch([]) == []
    with pytest.raises(TypeError):
        pii.anonymize_batch("one string")
    assert pii.detect_batch(texts, threads=3) == [pii.detect(t) for t in texts]
    assert pii.detect_batch([]) == []


def test_decrypt_batch_restores(pii, key):
    ni(pii.set_operator, "encrypt")
    pii.set_key(key)
    texts = batch_texts(200)
    enc = [t for t, _ in pii.anonymize_batch(texts, threads=3)]
    assert enc != texts
    assert pii.decrypt_batch(enc, threads=3) == texts
    assert pii.decrypt_batch(enc, threads=1) == [pii.decrypt(t) for t in enc]
    tampered = list(enc)
    tampered[7] = tampered[7].replace(">", "A>", 1)
    e = raises("DM_ERR_AUTH", pii.decrypt_batch, tampered)
    assert e.message.startswith("text 7: ")


def test_anonymize_batch_progress_and_cancel(pii):
    texts = batch_texts(2000)
    seen = []
    pii.anonymize_batch(texts, threads=4, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (2000, 2000) and all(t == 2000 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    raises("DM_ERR_CANCELLED", pii.anonymize_batch, texts, threads=4, progress=lambda done, total: True)

    def boom(done, total):
        raise KeyError("from the callback")

    with pytest.raises(KeyError):
        pii.anonymize_batch(texts, progress=boom)


def test_anonymize_batch_bad_text_names_its_index(pii):
    texts = batch_texts(1000)
    texts[612] = b"bad \xff byte"
    texts[900] = b"also \xc3 bad"
    for threads in (1, 2, 8):
        e = raises("DM_ERR_UTF8", pii.anonymize_batch, texts, threads=threads)
        assert e.message.startswith("text 612: ") and "byte offset 4" in e.message
    with pytest.raises(TypeError):
        pii.anonymize_batch(["ok", 5])
    e = raises("DM_ERR_INVALID_ARGUMENT", pii.anonymize_batch, ["ok"], threads=-1)
    assert "threads must be >= 0" in e.message


def test_closed(pii):
    pii.close()
    pii.close()
    with pytest.raises(ValueError):
        pii.detect("x")
    with make() as p:
        assert p.detect("nothing") == []


# ---------------------------------------------------------------------------- datasets


def test_dataset_anonymize_with_audit(tmp_path, key):
    texts = [f"mail {EMAIL}", f"card {CARD}", "nothing", f"身份证 {CN_ID} 电话 {PHONE}"]
    ds = datamodel.Dataset.from_texts(texts, labels=["a", "b", "a", "b"])
    p = make(threads=2)
    ni(p.set_operator, "hash")
    p.set_key(key)
    p.set_operator("mask", type="CREDIT_CARD")
    audit = tmp_path / "audit.jsonl"
    out, rep = ni(ds.anonymize, p, audit_path=str(audit))
    assert len(out) == 4
    assert out.text(1) == "card " + "*" * (len(CARD) - 4) + "1111"
    assert out.text(2) == "nothing"
    assert out.label_name(3) == "b"
    assert rep["rows"] == 4 and rep["rows_changed"] == 3
    assert rep["entities"]["EMAIL_ADDRESS"] == 1 and rep["entities"]["CN_RESIDENT_ID"] == 1
    assert rep["operators"]["CREDIT_CARD"] == "mask" and rep["operators"]["EMAIL_ADDRESS"] == "hash"
    log = audit.read_text()
    for raw in (EMAIL, CARD, CN_ID, "138 1234"):
        assert raw not in log
    entries = [json.loads(x) for x in log.splitlines()]
    assert len(entries) == sum(rep["entities"].values())
    for e in entries:
        assert set(e) == {"id", "column", "type", "start", "end", "operator"}
    card = next(e for e in entries if e["type"] == "CREDIT_CARD")
    assert (card["id"], card["start"], card["end"], card["operator"]) == ("2", 5, 24, "mask")
    out2, _ = ds.anonymize(p)
    assert [out2.text(i) for i in range(4)] == [out.text(i) for i in range(4)]  # hashes are stable
    with pytest.raises(TypeError):
        ds.anonymize("not a pii")
