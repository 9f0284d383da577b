"""Personal data (datamodel.h, "Privacy: detecting and anonymising personal
data (PII)"): datamodel.Pii, its Entity results, and Dataset.anonymize.
Imported by datamodel/__init__.py; use `import datamodel`.

    pii = datamodel.Pii()                                  # every built-in type
    pii.add_pattern("ORDER_ID", r"\\bORD-\\d{6}\\b", score=0.8)
    pii.set_operator("mask", type="CREDIT_CARD", keep_last=4)
    pii.set_operator("hash")                               # every other type
    pii.load_key_file("key.hex")                           # `openssl rand -hex 32 > key.hex`
    pii.detect("mail a@b.com")      # [Entity(type='EMAIL_ADDRESS', start=5, end=12, score=1.0, text='a@b.com')]
    text, entities = pii.anonymize("mail a@b.com")
    results = pii.anonymize_batch(lines, threads=0)   # [(text, entities), ...] on all cores
    found = pii.detect_batch(lines)                   # [[Entity, ...], ...]
    clean, report = dataset.anonymize(pii, audit_path="audit.jsonl")

Offsets: for str input, start and end index the str (code points), so
text[e.start:e.end] == e.text; for bytes input they are byte offsets into the
UTF-8 bytes, as the C library reports them.

Validators of add_pattern are Python callables str -> bool; the Pii keeps
them alive. An exception inside one rejects that match and is raised again
once the library call returns."""
import collections
import ctypes
import os

from . import _INVALID_UTF8, _PROGRESS, Error, _bytes, _c_size, _check, _choice, _cint_value, _lib, _Owned, _Progress, _sig
from ._data import Dataset
from ._dataops import take_json

_status = ctypes.c_int
_Pii = ctypes.c_void_p
_Ds = ctypes.c_void_p
_charpp = ctypes.POINTER(ctypes.c_char_p)
_sizep = ctypes.POINTER(_c_size)
_voidpp = ctypes.POINTER(ctypes.c_void_p)

# ---------------------------------------------------------------------------- C structs and functions


class _PiiOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("types", _charpp), ("n_types", _c_size), ("use_context", ctypes.c_int),
                ("min_score", ctypes.c_double), ("match_limit", ctypes.c_uint64), ("invalid_utf8", ctypes.c_int),
                ("threads", ctypes.c_int)]


class _OperatorConfig(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("op", ctypes.c_int), ("mask_char", ctypes.c_uint32),
                ("keep_last", _c_size), ("hash_chars", _c_size)]


class _Entity(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("start", _c_size), ("end", _c_size), ("score", ctypes.c_double)]


class _BatchOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("threads", ctypes.c_int), ("progress", _PROGRESS),
                ("progress_user", ctypes.c_void_p)]


# The option structs with their C names (for tests that compare layouts with the C compiler's).
OPTION_STRUCTS = {"dm_pii_options": _PiiOptions, "dm_pii_operator_config": _OperatorConfig,
                  "dm_pii_entity": _Entity, "dm_pii_batch_options": _BatchOptions}

_VALIDATOR = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, _c_size, ctypes.c_void_p)
_EntityP = ctypes.POINTER(_Entity)

_sig("dm_pii_options_default", None, ctypes.POINTER(_PiiOptions))
_sig("dm_pii_create", _status, ctypes.POINTER(_PiiOptions), ctypes.POINTER(_Pii))
_sig("dm_pii_free", None, _Pii)
_sig("dm_pii_add_pattern", _status, _Pii, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double, _VALIDATOR,
     ctypes.c_void_p, _charpp, _c_size)
_sig("dm_pii_add_deny_list", _status, _Pii, ctypes.c_char_p, _charpp, _c_size, ctypes.c_double)
_sig("dm_pii_operator_config_default", None, ctypes.POINTER(_OperatorConfig))
_sig("dm_pii_set_operator", _status, _Pii, ctypes.c_char_p, ctypes.POINTER(_OperatorConfig))
_sig("dm_pii_set_key", _status, _Pii, ctypes.POINTER(ctypes.c_uint8), _c_size)
_sig("dm_pii_load_key_file", _status, _Pii, ctypes.c_char_p)
_sig("dm_pii_detect", _status, _Pii, ctypes.c_char_p, _c_size, ctypes.POINTER(_EntityP), _sizep)
_sig("dm_pii_anonymize", _status, _Pii, ctypes.c_char_p, _c_size, _voidpp, _sizep, ctypes.POINTER(_EntityP), _sizep)
_sig("dm_pii_decrypt", _status, _Pii, ctypes.c_char_p, _c_size, _voidpp, _sizep)
_sig("dm_dataset_anonymize", _status, _Ds, _Pii, ctypes.c_char_p, ctypes.POINTER(_Ds), _voidpp)
_sig("dm_pii_batch_options_default", None, ctypes.POINTER(_BatchOptions))
_sig("dm_pii_anonymize_batch", _status, _Pii, _c_size, _charpp, _sizep, ctypes.POINTER(_BatchOptions),
     ctypes.POINTER(_voidpp), ctypes.POINTER(_sizep), ctypes.POINTER(ctypes.POINTER(_EntityP)),
     ctypes.POINTER(_sizep))
_sig("dm_pii_detect_batch", _status, _Pii, _c_size, _charpp, _sizep, ctypes.POINTER(_BatchOptions),
     ctypes.POINTER(ctypes.POINTER(_EntityP)), ctypes.POINTER(_sizep))
_sig("dm_pii_decrypt_batch", _status, _Pii, _c_size, _charpp, _sizep, ctypes.POINTER(_BatchOptions),
     ctypes.POINTER(_voidpp), ctypes.POINTER(_sizep))
_sig("dm_pii_batch_free", None, _c_size, _voidpp, _sizep, ctypes.POINTER(_EntityP), _sizep)

OPERATORS = {"replace": 0, "redact": 1, "mask": 2, "hash": 3, "encrypt": 4, "keep": 5}

# ---------------------------------------------------------------------------- results

Entity = collections.namedtuple("Entity", ["type", "start", "end", "score", "text"])
Entity.__doc__ = """One entity found in a text: its type (a Presidio name such as
"EMAIL_ADDRESS"), start and end (END exclusive: code points for str input,
UTF-8 bytes for bytes input), score in (0, 1], and the text itself."""


def _c_strings(items, what):
    data = [_bytes(s, what) for s in items]
    return (ctypes.c_char_p * max(len(data), 1))(*data), data


def _entities(ptr, n, data, as_str, owned=True):
    """The N C entities at PTR (found in DATA, the UTF-8 bytes) as Entity
    tuples, then frees them (OWNED; a batch's are freed with the batch).
    AS_STR: offsets become code point indexes."""
    try:
        raw = [(ptr[i].type.decode(), ptr[i].start, ptr[i].end, ptr[i].score) for i in range(n)]
    finally:
        if owned:
            _lib.dm_free(ptr)
    out = []
    # Byte -> code point offsets: count the characters of the text between
    # consecutive offsets, once (entities come in order, yet may nest after
    # overlap resolution: the cache keeps it correct either way).
    chars = {0: 0}
    marks = sorted({o for _, s, e, _ in raw for o in (s, e)}) if as_str else []
    prev = 0
    for m in marks:
        chars[m] = chars[prev] + len(data[prev:m].decode("utf-8", "surrogatepass" if as_str else "replace"))
        prev = m
    for type_, s, e, score in raw:
        value = data[s:e].decode("utf-8", "surrogatepass" if as_str else "replace")
        if as_str:
            s, e = chars[s], chars[e]
        out.append(Entity(type_, s, e, score, value))
    return out


class _Batch:
    """TEXTS (a list of str or bytes) laid out for a batch call, and its
    options: threads, and progress(done, total) in texts (truthy cancels)."""

    def __init__(self, texts, threads, progress):
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a list of texts, not a single string")
        self.texts = texts if isinstance(texts, (list, tuple)) else list(texts)
        self.data = [_bytes(t, f"texts[{i}]") for i, t in enumerate(self.texts)]
        n = len(self.data)
        self.ptrs = (ctypes.c_char_p * max(n, 1))(*self.data)
        self.lens = (_c_size * max(n, 1))(*map(len, self.data))
        self.cb = _Progress(progress)
        self.o = _BatchOptions()
        _lib.dm_pii_batch_options_default(ctypes.byref(self.o))
        self.o.threads = _cint_value(threads, "threads", "int")
        if progress is not None:
            self.o.progress = self.cb.c


def _take_text(ptr, n, as_str):
    try:
        data = ctypes.string_at(ptr, n)
    finally:
        _lib.dm_free(ptr)
    return data.decode("utf-8", "surrogatepass") if as_str else data


# ---------------------------------------------------------------------------- Pii


class Pii(_Owned):
    """Recognisers of personal data and an operator per type (dm_pii).

    Built-in types (Presidio's names): EMAIL_ADDRESS, PHONE_NUMBER,
    CREDIT_CARD (Luhn), IBAN_CODE (mod 97), IP_ADDRESS, URL, US_SSN,
    CN_RESIDENT_ID (MOD 11-2). types: None for all, or a list of these.
    use_context: context words ("card", "电话", ...) before a match raise its
    score. min_score: weaker entities are dropped. match_limit: PCRE2's limit
    per match attempt of a user pattern (stops runaway backtracking).
    invalid_utf8: "error" or "replace" for bytes input. threads: for
    Dataset.anonymize (0: all cores).

    Every type starts with the "replace" operator (<TYPE>). Configure first
    (add_pattern, add_deny_list, set_operator, set_key), then detect,
    anonymize and decrypt, from several threads if you like. Close it with
    close() or a `with` block (or let the garbage collector)."""

    _FREE = "dm_pii_free"
    _WHAT = "Pii"

    def __init__(self, types=None, use_context=True, min_score=0.4, match_limit=1000000, threads=0,
                 invalid_utf8="error"):
        self._h = None
        self._keep = []          # validator callbacks and their strings, alive as long as the handle
        self._cb_error = None    # an exception raised inside a validator, raised again after the call
        o = _PiiOptions()
        _lib.dm_pii_options_default(ctypes.byref(o))
        keep = None
        if types is not None:
            if isinstance(types, (str, bytes)):
                types = [types]
            keep = _c_strings(list(types), "type")
            o.types = keep[0]
            o.n_types = len(keep[1])
        o.use_context = int(bool(use_context))
        o.min_score = float(min_score)
        o.match_limit = _cint_value(match_limit, "match_limit", "Q")
        o.invalid_utf8 = _choice(_INVALID_UTF8, invalid_utf8, "invalid_utf8")
        o.threads = _cint_value(threads, "threads", "int")
        h = _Pii()
        _check(_lib.dm_pii_create(ctypes.byref(o), ctypes.byref(h)))
        self._h = h
        del keep

    def __repr__(self):
        return "Pii(closed)" if not self._h else "Pii()"

    # ---- configuration
    def add_pattern(self, type, pattern, score=0.6, validator=None, context=()):
        """Adds a recogniser: PATTERN (PCRE2 syntax, UTF-8 and Unicode
        properties on) finds entities of TYPE (capital letters, digits, _; a
        built-in name adds to that type) with SCORE in (0, 1]. VALIDATOR: a
        callable str -> bool that must accept each match (or None). CONTEXT:
        words that raise the score when found shortly before. A pattern that
        does not compile raises Error (DM_ERR_PARSE) naming it and the offset."""
        if validator is not None and not callable(validator):
            raise TypeError("validator must be callable (str -> bool) or None")
        if isinstance(context, (str, bytes)):
            context = [context]
        ctx, ctx_data = _c_strings(list(context), "context word")
        cb = _VALIDATOR(self._validator(validator)) if validator is not None else _VALIDATOR()
        _check(_lib.dm_pii_add_pattern(self._handle(), _bytes(type, "type"), _bytes(pattern, "pattern"),
                                       float(score), cb, None, ctx if ctx_data else None, len(ctx_data)))
        self._keep.append(cb)  # the library calls it on every detection from now on

    def _validator(self, fn):
        def call(ptr, n, _user):
            try:
                text = ctypes.string_at(ptr, n).decode("utf-8", "replace")
                return 1 if fn(text) else 0
            except BaseException as e:  # noqa: BLE001 - raised again after the C call returns
                if self._cb_error is None:
                    self._cb_error = e
                return 0
        return call

    def add_deny_list(self, type, words, score=1.0):
        """Each of WORDS (matched whole, letters case-insensitively) is an
        entity of TYPE with SCORE."""
        if isinstance(words, (str, bytes)):
            raise TypeError("words must be a list of strings, not a single string")
        arr, data = _c_strings(list(words), "word")
        _check(_lib.dm_pii_add_deny_list(self._handle(), _bytes(type, "type"), arr, len(data), float(score)))

    def set_operator(self, op, type=None, mask_char="*", keep_last=4, hash_chars=8):
        """Sets the operator of TYPE (None: of every type without its own):
        "replace" (<TYPE>), "redact" (removed), "mask" (all but the last
        KEEP_LAST characters become MASK_CHAR), "hash" (<TYPE_3f9a1c2b>:
        HASH_CHARS hex digits of HMAC-SHA-256 under the key), "encrypt"
        (<TYPE:...>, XChaCha20-Poly1305 under the key; decrypt() restores
        it) or "keep"."""
        c = _OperatorConfig()
        _lib.dm_pii_operator_config_default(ctypes.byref(c))
        c.op = _choice(OPERATORS, op, "op")
        if isinstance(mask_char, int) and not isinstance(mask_char, bool):
            c.mask_char = _cint_value(mask_char, "mask_char", "I")
        elif isinstance(mask_char, str) and len(mask_char) == 1:
            c.mask_char = ord(mask_char)
        else:
            raise ValueError(f"mask_char must be one character; got {mask_char!r}")
        if keep_last < 0 or hash_chars < 0:
            raise ValueError("keep_last and hash_chars must be >= 0")
        c.keep_last = _cint_value(keep_last, "keep_last")
        c.hash_chars = _cint_value(hash_chars, "hash_chars")
        _check(_lib.dm_pii_set_operator(self._handle(), None if type is None else _bytes(type, "type"),
                                        ctypes.byref(c)))

    def set_key(self, key):
        """The 32-byte key of the hash and encrypt operators (bytes)."""
        if isinstance(key, str):
            raise TypeError("key must be bytes (32 of them), not str; for hex use bytes.fromhex()")
        key = bytes(key)
        buf = (ctypes.c_uint8 * max(len(key), 1)).from_buffer_copy(key.ljust(1, b"\0"))
        _check(_lib.dm_pii_set_key(self._handle(), buf, len(key)))

    def load_key_file(self, path):
        """Reads the key from PATH: 64 hex characters (what `openssl rand
        -hex 32` prints), optionally followed by a newline."""
        _check(_lib.dm_pii_load_key_file(self._handle(), os.fsencode(path)))

    # ---- use
    def _after(self, status):
        err, self._cb_error = self._cb_error, None
        if err is not None:
            raise err
        _check(status)

    def detect(self, text):
        """The entities of TEXT (str or bytes), in order: a list of Entity."""
        data = _bytes(text, "text")
        ents = _EntityP()
        n = _c_size()
        self._after(_lib.dm_pii_detect(self._handle(), data, len(data), ctypes.byref(ents), ctypes.byref(n)))
        return _entities(ents, n.value, data, isinstance(text, str))

    def anonymize(self, text):
        """TEXT with every entity passed through its type's operator: returns
        (anonymised text, the entities as found in TEXT). str in, str out;
        bytes in, bytes out."""
        data = _bytes(text, "text")
        out = ctypes.c_void_p()
        out_len = _c_size()
        ents = _EntityP()
        n = _c_size()
        self._after(_lib.dm_pii_anonymize(self._handle(), data, len(data), ctypes.byref(out), ctypes.byref(out_len),
                                          ctypes.byref(ents), ctypes.byref(n)))
        as_str = isinstance(text, str)
        entities = _entities(ents, n.value, data, as_str)
        return _take_text(out, out_len.value, as_str), entities

    def decrypt(self, text):
        """TEXT with every encrypt token restored. A token that does not
        authenticate (a wrong key, tampered text) raises Error with status
        DM_ERR_AUTH naming its byte offset; nothing is half-decrypted."""
        data = _bytes(text, "text")
        out = ctypes.c_void_p()
        out_len = _c_size()
        _check(_lib.dm_pii_decrypt(self._handle(), data, len(data), ctypes.byref(out), ctypes.byref(out_len)))
        return _take_text(out, out_len.value, isinstance(text, str))

    # ---- many texts at once
    def anonymize_batch(self, texts, threads=0, progress=None):
        """anonymize() over TEXTS (a list of str or bytes) on THREADS threads
        (0: all cores), in one C call (dm_pii_anonymize_batch): a list of
        (anonymised text, entities), each what anonymize(text) returns,
        whatever the thread count. progress(done, total) in texts: a truthy
        return cancels with Error DM_ERR_CANCELLED. A text that fails raises
        Error whose message starts "text K: " (K its index; the first failing
        text)."""
        b = _Batch(texts, threads, progress)
        outs, lens, ents, n_ents = _voidpp(), _sizep(), ctypes.POINTER(_EntityP)(), _sizep()
        st = _lib.dm_pii_anonymize_batch(self._handle(), len(b.data), b.ptrs, b.lens, ctypes.byref(b.o),
                                         ctypes.byref(outs), ctypes.byref(lens), ctypes.byref(ents),
                                         ctypes.byref(n_ents))
        b.cb.reraise()
        self._after(st)
        try:
            result = []
            for i, (text, data) in enumerate(zip(b.texts, b.data)):
                as_str = isinstance(text, str)
                out = ctypes.string_at(outs[i], lens[i])
                entities = _entities(ents[i], n_ents[i], data, as_str, owned=False)
                result.append((out.decode("utf-8", "surrogatepass") if as_str else out, entities))
            return result
        finally:
            _lib.dm_pii_batch_free(len(b.data), outs, lens, ents, n_ents)

    def detect_batch(self, texts, threads=0, progress=None):
        """detect() over TEXTS on THREADS threads (dm_pii_detect_batch): a list
        of entity lists, in order; failures and progress as anonymize_batch."""
        b = _Batch(texts, threads, progress)
        ents, n_ents = ctypes.POINTER(_EntityP)(), _sizep()
        st = _lib.dm_pii_detect_batch(self._handle(), len(b.data), b.ptrs, b.lens, ctypes.byref(b.o),
                                      ctypes.byref(ents), ctypes.byref(n_ents))
        b.cb.reraise()
        self._after(st)
        try:
            return [_entities(ents[i], n_ents[i], data, isinstance(text, str), owned=False)
                    for i, (text, data) in enumerate(zip(b.texts, b.data))]
        finally:
            _lib.dm_pii_batch_free(len(b.data), None, None, ents, n_ents)

    def decrypt_batch(self, texts, threads=0, progress=None):
        """decrypt() over TEXTS on THREADS threads (dm_pii_decrypt_batch): the
        restored texts, in order; failures and progress as anonymize_batch."""
        b = _Batch(texts, threads, progress)
        outs, lens = _voidpp(), _sizep()
        st = _lib.dm_pii_decrypt_batch(self._handle(), len(b.data), b.ptrs, b.lens, ctypes.byref(b.o),
                                       ctypes.byref(outs), ctypes.byref(lens))
        b.cb.reraise()
        _check(st)
        try:
            return [ctypes.string_at(outs[i], lens[i]).decode("utf-8", "surrogatepass") if isinstance(t, str)
                    else ctypes.string_at(outs[i], lens[i]) for i, t in enumerate(b.texts)]
        finally:
            _lib.dm_pii_batch_free(len(b.data), outs, lens, None, None)


# ---------------------------------------------------------------------------- Dataset.anonymize


def _anonymize(self, pii, audit_path=None):
    """Anonymises the text (and pair) column with PII's recognisers and
    operators (dm_dataset_anonymize). Returns (Dataset, report): report keys
    rows, rows_changed, entities {TYPE: count}, operators {TYPE: operator}.
    AUDIT_PATH: a JSONL file, one line per entity {id, column, type, start,
    end, operator} (byte offsets), never the value itself."""
    if not isinstance(pii, Pii):
        raise TypeError(f"pii must be a datamodel.Pii, not {type(pii).__name__}")
    h = _Ds()
    rep = ctypes.c_void_p()
    st = _lib.dm_dataset_anonymize(self._handle(), pii._handle(), None if audit_path is None else
                                   os.fsencode(audit_path), ctypes.byref(h), ctypes.byref(rep))
    out = Dataset(h) if not st and h else None
    report = take_json(rep.value) if not st else None
    try:
        pii._after(st)
    except BaseException:
        if out is not None:
            out.close()
        raise
    return out, report


Dataset.anonymize = _anonymize

__all__ = ["Pii", "Entity", "OPERATORS", "Error"]
