"""Encrypted files, data at rest (datamodel.h, "Privacy: encrypted files"):
datamodel.encrypt_file, decrypt_file, decrypt_to_memory, read_key_file and
is_encrypted_file. Imported by datamodel/__init__.py; use `import datamodel`.

    key = datamodel.read_key_file("k.hex")            # `dm keygen k.hex` wrote it
    datamodel.encrypt_file("train.csv", "train.csv.enc", key)
    ds = datamodel.Dataset.load("train.csv.enc", key=key)   # decrypted in memory only
    data = datamodel.decrypt_to_memory("train.csv.enc", key)

A tampered, cut, extended or wrongly keyed file raises Error with status
DM_ERR_AUTH (status_name "DM_ERR_AUTH") and the library's message naming the
file and the chunk or byte offset at fault."""
import ctypes
import os

from . import Error, _c_size, _check, _lib, _sig

_status = ctypes.c_int
_Key = ctypes.POINTER(ctypes.c_uint8)

_sig("dm_encrypt_file", _status, ctypes.c_char_p, ctypes.c_char_p, _Key)
_sig("dm_decrypt_file", _status, ctypes.c_char_p, ctypes.c_char_p, _Key)
_sig("dm_decrypt_to_memory", _status, ctypes.c_char_p, _Key, ctypes.POINTER(ctypes.c_void_p),
     ctypes.POINTER(_c_size))
_sig("dm_read_key_file", _status, ctypes.c_char_p, _Key)
_sig("dm_is_encrypted_file", ctypes.c_int, ctypes.c_char_p)


def _key(key):
    """KEY (32 bytes) as a ctypes array; TypeError for a str (a hex string or
    a key file's name is not a key), ValueError for another length."""
    if isinstance(key, str):
        raise TypeError("key must be 32 bytes, not str; read a key file with datamodel.read_key_file, "
                        "or use bytes.fromhex() on its hex")
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"key must be 32 bytes, not {type(key).__name__}")
    key = bytes(key)
    if len(key) != 32:
        raise ValueError(f"key must be 32 bytes, not {len(key)}")
    return (ctypes.c_uint8 * 32).from_buffer_copy(key)


def encrypt_file(in_path, out_path, key):
    """Encrypts the file IN_PATH into OUT_PATH (which may be IN_PATH) under
    KEY, 32 bytes (dm_encrypt_file): XChaCha20-Poly1305 secretstream, 64 KiB
    chunks; the output is written beside OUT_PATH and renamed into place."""
    _check(_lib.dm_encrypt_file(os.fsencode(in_path), os.fsencode(out_path), _key(key)))


def decrypt_file(in_path, out_path, key):
    """Decrypts IN_PATH (written by encrypt_file or `dm encrypt`) into
    OUT_PATH, mode 0600 (dm_decrypt_file). A wrong key, a changed byte, a
    file cut short or extended, or one that is not encrypted raises Error
    DM_ERR_AUTH, and OUT_PATH is not created."""
    _check(_lib.dm_decrypt_file(os.fsencode(in_path), os.fsencode(out_path), _key(key)))


def decrypt_to_memory(path, key):
    """The decrypted content of PATH as bytes, never written to disk
    (dm_decrypt_to_memory); errors as decrypt_file."""
    out, n = ctypes.c_void_p(), _c_size()
    _check(_lib.dm_decrypt_to_memory(os.fsencode(path), _key(key), ctypes.byref(out), ctypes.byref(n)))
    try:
        return ctypes.string_at(out.value, n.value) if n.value else b""
    finally:
        ctypes.memset(out.value, 0, n.value)
        _lib.dm_free(out)


def read_key_file(path):
    """The 32-byte key in the key file PATH (64 hex characters, optionally a
    newline: what `dm keygen` and `openssl rand -hex 32` write), as bytes
    (dm_read_key_file). Error DM_ERR_IO or DM_ERR_PARSE (the message never
    shows the key)."""
    buf = (ctypes.c_uint8 * 32)()
    _check(_lib.dm_read_key_file(os.fsencode(path), buf))
    key = bytes(buf)
    ctypes.memset(buf, 0, 32)
    return key


def is_encrypted_file(path):
    """Whether PATH starts with the header of a dm-encrypted file, "DMENC1"
    (dm_is_encrypted_file; nothing is authenticated). Error DM_ERR_IO when it
    cannot be read (missing, a folder)."""
    r = _lib.dm_is_encrypted_file(os.fsencode(path))
    if r < 0:
        raise Error(2, _lib.dm_last_error().decode("utf-8", "replace"))
    return bool(r)
