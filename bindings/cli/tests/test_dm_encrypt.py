"""`dm encrypt`, `dm decrypt`, `dm keygen`, the --key option of the commands that load
datasets (train, eval, the data commands) and --model-key of those that load a model folder
(encrypted weights, model.safetensors.enc): round trips (empty, one byte, one chunk, several
chunks, to standard output), refusal of tampered, cut, extended, plain and wrongly keyed files
(exit 1, nothing written), key files, and every usage error.
Run: python3 -m pytest bindings/cli/tests/test_dm_encrypt.py   (DM_BUILD names the build folder)"""
import json
import os
import stat
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DM = os.path.join(ROOT, os.environ.get("DM_BUILD", "build"), "bindings", "cli", "dm")
TINY = os.path.join(ROOT, "test", "model", "fixtures", "tiny")
CHUNK = 64 * 1024


def dm(*args, check=True, timeout=300):
    p = subprocess.run([DM, *map(str, args)], capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dm {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.decode()}")
    return p


def fails(code, *args):
    """The stderr of a dm call that must exit CODE with nothing on stdout."""
    p = dm(*args, check=False)
    assert p.returncode == code and p.stdout == b"", (p.returncode, p.stdout, p.stderr)
    return p.stderr.decode()


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "k.hex"
    dm("keygen", path)
    return str(path)


def test_encrypt_keygen_writes_a_private_key(tmp_path):
    path = tmp_path / "new.key"
    p = dm("keygen", path)
    assert "wrote a new key" in p.stderr.decode()
    text = path.read_text()
    assert len(text) == 65 and text.endswith("\n") and all(c in "0123456789abcdef" for c in text[:64])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Never overwrites; two keys differ; no leftovers beside it.
    assert "already exists" in fails(1, "keygen", path) and path.read_text() == text
    dm("keygen", tmp_path / "other.key")
    assert (tmp_path / "other.key").read_text() != text
    assert sorted(os.listdir(tmp_path)) == ["new.key", "other.key"]
    assert "keygen needs FILE" in fails(2, "keygen")
    assert "unexpected argument" in fails(2, "keygen", tmp_path / "a", tmp_path / "b")
    assert "unknown option" in fails(2, "keygen", "--force", tmp_path / "c")
    assert "No such file" in fails(1, "keygen", tmp_path / "no" / "dir" / "k")
    assert dm("keygen", "--help").stdout.decode().startswith("usage: dm keygen")


@pytest.mark.parametrize("size", [0, 1, CHUNK, 3 * CHUNK + 7])
def test_encrypt_round_trip(tmp_path, key, size):
    data = os.urandom(size)
    src, enc, out = tmp_path / "plain.bin", tmp_path / "plain.bin.enc", tmp_path / "out.bin"
    src.write_bytes(data)
    dm("encrypt", "--key", key, src, enc)
    raw = enc.read_bytes()
    chunks = size // CHUNK + (0 if size and size % CHUNK == 0 else 1)
    assert raw[:8] == b"DMENC1\0\0" and len(raw) == 32 + size + 17 * chunks
    dm("decrypt", "--key", key, enc, out)
    assert out.read_bytes() == data
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert dm("decrypt", "--key", key, enc, "-").stdout == data  # through dm_decrypt_to_memory


def test_encrypt_check_and_in_place(tmp_path, key):
    src = tmp_path / "d.csv"
    src.write_text("text,label\nhello,1\n")
    enc = tmp_path / "d.csv.enc"
    dm("encrypt", "--key", key, src, enc)
    assert dm("encrypt", "--check", enc).stdout.decode() == f"{enc}: encrypted\n"
    p = dm("encrypt", "--check", enc, src, check=False)
    assert p.returncode == 1 and p.stdout.decode() == f"{enc}: encrypted\n{src}: not encrypted\n"
    p = dm("encrypt", "--check", tmp_path / "missing", check=False)
    assert p.returncode == 1 and "missing: No such file" in p.stderr.decode()
    # In place, and refusing to encrypt twice.
    dm("encrypt", "--key", key, src, src)
    assert src.read_bytes()[:6] == b"DMENC1"
    assert "already encrypted" in fails(1, "encrypt", "--key", key, src, tmp_path / "twice")
    assert not (tmp_path / "twice").exists()
    dm("decrypt", "--key", key, src, src)
    assert src.read_text() == "text,label\nhello,1\n"


def test_encrypt_refuses_tampered_files(tmp_path, key):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(2 * CHUNK + 100))
    enc = tmp_path / "big.enc"
    dm("encrypt", "--key", key, src, enc)
    good = enc.read_bytes()
    other = tmp_path / "other.hex"
    dm("keygen", other)
    bad, out = tmp_path / "bad.enc", tmp_path / "bad.out"
    boundary = 32 + CHUNK + 17

    def refused(data, needle, k=key):
        bad.write_bytes(data)
        for dest in (out, "-"):
            err = fails(1, "decrypt", "--key", k, bad, dest)
            assert "bad.enc" in err and needle in err, err
        assert not out.exists()

    flipped = bytearray(good)
    flipped[boundary + 10] ^= 1
    refused(bytes(flipped), f"chunk 2 at byte offset {boundary} does not authenticate")
    refused(good[:boundary], "truncated: the file ends after chunk 1")
    refused(good[:boundary + 500], "chunk 2")
    refused(good[:-1], "does not authenticate")
    refused(good + b"garbage", "changed, cut or extended")
    refused(good, "the key is wrong", k=other)
    refused(b"DMENC7" + good[6:], "unknown version")
    refused(b"text,label\n", "not a dm-encrypted file")
    refused(b"", "not a dm-encrypted file")
    assert sorted(os.listdir(tmp_path)) == sorted(["big.bin", "big.enc", "k.hex", "other.hex", "bad.enc"])


def test_encrypt_key_file_errors(tmp_path, key):
    src = tmp_path / "a.txt"
    src.write_text("x")
    short = tmp_path / "short.hex"
    short.write_text("ab" * 31 + "\n")
    err = fails(1, "encrypt", "--key", short, src, tmp_path / "o")
    assert "62 hex characters, not 64" in err and "ab" * 31 not in err
    assert "No such file" in fails(1, "decrypt", "--key", tmp_path / "nokey", src, tmp_path / "o")
    assert "No such file" in fails(1, "encrypt", "--key", key, tmp_path / "nothere", tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_encrypt_usage_errors(tmp_path, key):
    assert "needs --key FILE" in fails(2, "encrypt", "a", "b")
    assert "needs --key FILE" in fails(2, "decrypt", "a", "b")
    assert "needs IN and OUT" in fails(2, "encrypt", "--key", key, "a")
    assert "needs IN and OUT" in fails(2, "decrypt", "--key", key)
    assert "one IN and one OUT" in fails(2, "decrypt", "--key", key, "a", "b", "c")
    assert "--key needs a value" in fails(2, "encrypt", "a", "b", "--key")
    assert "unknown option" in fails(2, "decrypt", "--check", "a")
    assert "unknown option" in fails(2, "encrypt", "--bogus", "a", "b")
    assert "needs at least one FILE" in fails(2, "encrypt", "--check")
    assert "takes only file names" in fails(2, "encrypt", "--check", "a", "--key", key)
    assert dm("encrypt", "--help").stdout.decode().startswith("usage: dm encrypt")
    assert dm("decrypt", "--help").stdout.decode().startswith("usage: dm decrypt")
    assert b"keygen" in dm("help").stdout


ROWS = [("great movie", "positive"), ("terrible film", "negative"), ("it was a film", "neutral"),
        ("loved it", "positive"), ("hated it", "negative"), ("okay i guess", "neutral")] * 2


def test_encrypt_data_commands_read_with_key(tmp_path, key):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in ROWS))
    jsonl_path = tmp_path / "d.jsonl"
    jsonl_path.write_text("".join(json.dumps({"text": t, "label": l}) + "\n" for t, l in ROWS))
    dm("encrypt", "--key", key, csv_path, tmp_path / "d.csv.enc")
    dm("encrypt", "--key", key, jsonl_path, tmp_path / "d.jsonl.enc")
    want = json.loads(dm("profile", "--in", csv_path).stdout)
    for enc in ("d.csv.enc", "d.jsonl.enc"):
        got = json.loads(dm("profile", "--in", tmp_path / enc, "--key", key).stdout)
        assert got["rows"] == want["rows"] == len(ROWS) and got["per_class"] == want["per_class"]
    err = fails(1, "profile", "--in", tmp_path / "d.csv.enc")
    assert "d.csv.enc: the file is encrypted" in err and "needs its key (--key FILE)" in err
    other = tmp_path / "other.hex"
    dm("keygen", other)
    assert "the key is wrong" in fails(1, "profile", "--in", tmp_path / "d.csv.enc", "--key", other)
    assert "not a dm-encrypted file" in fails(1, "profile", "--in", csv_path, "--key", key)
    assert "--key needs a value" in fails(2, "profile", "--in", csv_path, "--key")


def test_encrypt_train_and_eval_with_key(tmp_path, key):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in ROWS))
    enc = tmp_path / "train.csv.enc"
    dm("encrypt", "--key", key, csv_path, enc)
    out = tmp_path / "model"
    dm("train", "--model", TINY, "--train", enc, "--key", key, "--out", out, "--epochs", "1", "--batch-size", "4",
       "--seed", "7", "--no-progress")
    ev = json.loads(dm("eval", "--model", out, "--data", enc, "--key", key, "--json").stdout)
    plain = json.loads(dm("eval", "--model", out, "--data", csv_path, "--json").stdout)
    assert ev == plain and sum(map(sum, ev["confusion_matrix"])) == len(ROWS)
    err = fails(1, "eval", "--model", out, "--data", enc)
    assert "train.csv.enc: the file is encrypted" in err and "--key FILE" in err
    err = fails(1, "train", "--model", TINY, "--train", enc, "--out", tmp_path / "m2", "--no-progress")
    assert "the file is encrypted" in err
    assert b"--key FILE" in dm("train", "--help").stdout and b"--key FILE" in dm("eval", "--help").stdout


def test_encrypt_model_key(tmp_path, key):
    """--model-key FILE: a model folder whose weights are model.safetensors.enc, decrypted in
    memory; --key stays the data's (both at once, under different keys)."""
    import shutil
    enc_model = tmp_path / "private"
    shutil.copytree(TINY, enc_model)
    dm("encrypt", "--key", key, enc_model / "model.safetensors", enc_model / "model.safetensors.enc")
    os.remove(enc_model / "model.safetensors")
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(t + "\n" for t, _ in ROWS))
    plain = dm("predict", "--model", TINY, "--format", "json", "-j", "1", texts).stdout
    got = dm("predict", "--model", enc_model, "--model-key", key, "--format", "json", "-j", "1", texts).stdout
    assert got == plain and len(got.splitlines()) == len(ROWS)
    assert "model.safetensors" not in os.listdir(enc_model)
    # dm eval with encrypted data (--key) and an encrypted model (--model-key), two keys.
    data_key = tmp_path / "data.hex"
    dm("keygen", data_key)
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in ROWS))
    dm("encrypt", "--key", data_key, csv_path, tmp_path / "d.csv.enc")
    want = json.loads(dm("eval", "--model", TINY, "--data", csv_path, "--json").stdout)
    ev = json.loads(dm("eval", "--model", enc_model, "--model-key", key, "--data", tmp_path / "d.csv.enc",
                       "--key", data_key, "--json").stdout)
    assert ev == want
    info = dm("model", "info", enc_model, "--model-key", key).stdout.decode()
    assert "num_labels\t3" in info
    # dm train starts from the encrypted folder; what it writes is plain.
    out = tmp_path / "trained"
    dm("train", "--model", enc_model, "--model-key", key, "--train", csv_path, "--out", out, "--max-steps", "1",
       "--batch-size", "4", "--no-progress")
    assert (out / "model.safetensors").read_bytes()[:6] != b"DMENC1" and not (out / "model.safetensors.enc").exists()
    # Refusals: no key, a wrong key (the data's), a key for plain weights, a cut file, bad key files.
    err = fails(1, "eval", "--model", enc_model, "--data", csv_path)
    assert "model.safetensors.enc is encrypted (dm encrypt): it needs its key (--model-key FILE)" in err
    assert "does not authenticate" in fails(1, "predict", "--model", enc_model, "--model-key", data_key, texts)
    assert "not encrypted" in fails(1, "predict", "--model", TINY, "--model-key", key, texts)
    cut = tmp_path / "cut"
    shutil.copytree(enc_model, cut)
    raw = (cut / "model.safetensors.enc").read_bytes()
    (cut / "model.safetensors.enc").write_bytes(raw[:32 + CHUNK + 17])
    assert "truncated" in fails(1, "predict", "--model", cut, "--model-key", key, texts)
    assert "--model-key needs a value" in fails(2, "predict", "--model", enc_model, "--model-key")
    assert "No such file" in fails(1, "eval", "--model", enc_model, "--model-key", tmp_path / "none", "--data",
                                   csv_path)
    for cmd in ("train", "eval", "predict", "embed", "forward", "init"):
        assert b"--model-key FILE" in dm(cmd, "--help").stdout, cmd
    assert b"--model-key FILE" in dm("model", "--help").stdout
