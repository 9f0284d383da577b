"""Tests of the Python binding of encrypted files (datamodel.h, "Privacy: encrypted files"):
datamodel.encrypt_file, decrypt_file, decrypt_to_memory, read_key_file, is_encrypted_file and
Dataset.load(..., key=...) and Model.load(..., key=...): round trips (empty, one byte, one chunk, several chunks), tampered,
cut, extended, plain and wrongly keyed files (Error DM_ERR_AUTH), key files and bad arguments.
Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests/test_encrypt.py"""
import os
import stat
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402

CHUNK = 64 * 1024
KEY = bytes(range(32))
OTHER = bytes(range(100, 132))


@pytest.mark.parametrize("size", [0, 1, CHUNK, 2 * CHUNK + 5])
def test_encrypt_round_trip(tmp_path, size):
    data = os.urandom(size)
    src, enc, out = tmp_path / "a.bin", tmp_path / "a.bin.enc", tmp_path / "a.out"
    src.write_bytes(data)
    datamodel.encrypt_file(src, enc, KEY)
    raw = enc.read_bytes()
    chunks = size // CHUNK + (0 if size and size % CHUNK == 0 else 1)
    assert raw[:8] == b"DMENC1\0\0" and len(raw) == 32 + size + 17 * chunks
    assert datamodel.is_encrypted_file(enc) and not datamodel.is_encrypted_file(src) or size == 0
    datamodel.decrypt_file(str(enc), str(out), bytearray(KEY))
    assert out.read_bytes() == data and stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert datamodel.decrypt_to_memory(enc, KEY) == data


def auth_error(call, needle):
    with pytest.raises(datamodel.Error) as e:
        call()
    assert e.value.status_name == "DM_ERR_AUTH" and needle in e.value.message, e.value.message


def test_encrypt_refuses_tampered_files(tmp_path):
    src, enc = tmp_path / "big.bin", tmp_path / "big.enc"
    src.write_bytes(os.urandom(2 * CHUNK + 10))
    datamodel.encrypt_file(src, enc, KEY)
    good = enc.read_bytes()
    bad, out = tmp_path / "bad.enc", tmp_path / "bad.out"
    boundary = 32 + CHUNK + 17
    cases = [
        (good[:100] + bytes([good[100] ^ 1]) + good[101:], KEY, "chunk 1 at byte offset 32 does not authenticate"),
        (good[:boundary], KEY, "truncated: the file ends after chunk 1"),
        (good[:boundary + 99], KEY, "chunk 2"),
        (good + b"\0", KEY, "changed, cut or extended"),
        (good, OTHER, "the key is wrong"),
        (b"DMENC9" + good[6:], KEY, "unknown version"),
        (b"id,text\n1,x\n", KEY, "not a dm-encrypted file"),
    ]
    for data, key, needle in cases:
        bad.write_bytes(data)
        auth_error(lambda: datamodel.decrypt_file(bad, out, key), needle)
        auth_error(lambda: datamodel.decrypt_to_memory(bad, key), needle)
        assert not out.exists()


def test_encrypt_key_files_and_bad_arguments(tmp_path):
    path = tmp_path / "k.hex"
    path.write_text(KEY.hex() + "\n")
    assert datamodel.read_key_file(path) == KEY
    path.write_text(KEY.hex()[:60])
    with pytest.raises(datamodel.Error) as e:
        datamodel.read_key_file(path)
    assert e.value.status_name == "DM_ERR_PARSE" and "60 hex characters, not 64" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.read_key_file(tmp_path / "none.hex")
    assert e.value.status_name == "DM_ERR_IO" and "dm_read_key_file" in e.value.message
    src = tmp_path / "x.txt"
    src.write_text("x")
    with pytest.raises(TypeError, match="not str"):
        datamodel.encrypt_file(src, tmp_path / "o", KEY.hex())
    with pytest.raises(ValueError, match="32 bytes, not 31"):
        datamodel.encrypt_file(src, tmp_path / "o", KEY[:31])
    with pytest.raises(TypeError, match="not int"):
        datamodel.decrypt_to_memory(src, 5)
    with pytest.raises(datamodel.Error) as e:
        datamodel.encrypt_file(tmp_path / "missing", tmp_path / "o", KEY)
    assert e.value.status_name == "DM_ERR_IO" and "missing" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.is_encrypted_file(tmp_path / "missing")
    assert "No such file" in e.value.message
    with pytest.raises(datamodel.Error) as e:
        datamodel.is_encrypted_file(tmp_path)
    assert "is a folder" in e.value.message
    assert not (tmp_path / "o").exists()


def test_encrypt_dataset_load_with_key(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('text,label\n"hello, world",pos\nbad day,neg\n')
    jsonl_path = tmp_path / "d.jsonl"
    jsonl_path.write_text('{"text": "hi", "label": 1}\n{"text": "no", "label": 0}\n')
    datamodel.encrypt_file(csv_path, tmp_path / "d.csv.enc", KEY)
    datamodel.encrypt_file(jsonl_path, tmp_path / "d.jsonl.enc", KEY)
    with datamodel.Dataset.load(tmp_path / "d.csv.enc", key=KEY) as ds:
        assert len(ds) == 2 and ds[0].text == "hello, world" and ds[0].label == "pos"
    with datamodel.Dataset.load(tmp_path / "d.jsonl.enc", key=KEY) as ds:
        assert [r.text for r in ds] == ["hi", "no"] and ds.labels == ["0", "1"]
    with pytest.raises(datamodel.Error) as e:
        datamodel.Dataset.load(tmp_path / "d.csv.enc")
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT"
    assert "the file is encrypted" in e.value.message and "needs its key" in e.value.message
    auth_error(lambda: datamodel.Dataset.load(tmp_path / "d.csv.enc", key=OTHER), "the key is wrong")
    auth_error(lambda: datamodel.Dataset.load(csv_path, key=KEY), "not a dm-encrypted file")
    with pytest.raises(ValueError, match="32 bytes"):
        datamodel.Dataset.load(tmp_path / "d.csv.enc", key=b"short")


TINY = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "model", "fixtures", "tiny"))


def test_encrypt_model_load_with_key(tmp_path):
    import shutil
    texts = ["the boat was boring", "we enjoyed the garden"]
    with datamodel.Model.load(TINY, threads=1) as m:
        plain = m.predict(texts).logits
    enc = tmp_path / "enc"
    shutil.copytree(TINY, enc)
    datamodel.encrypt_file(enc / "model.safetensors", enc / "model.safetensors.enc", KEY)
    os.remove(enc / "model.safetensors")
    with datamodel.Model.load(enc, threads=1, key=KEY) as m:
        assert m.predict(texts).logits == plain
    assert sorted(os.listdir(enc)) == sorted([n for n in os.listdir(TINY) if n != "model.safetensors"] +
                                             ["model.safetensors.enc"])  # nothing decrypted onto the disk
    with pytest.raises(datamodel.Error) as e:
        datamodel.Model.load(enc)
    assert e.value.status_name == "DM_ERR_INVALID_ARGUMENT" and "needs its key" in e.value.message
    auth_error(lambda: datamodel.Model.load(enc, key=OTHER), "model.safetensors.enc")
    auth_error(lambda: datamodel.Model.load(TINY, key=KEY), "not encrypted")
    with pytest.raises(TypeError, match="not str"):
        datamodel.Model.load(enc, key=KEY.hex())
