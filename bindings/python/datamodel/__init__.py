"""Python bindings (ctypes) for libdatamodel.

The shared library is found, in this order, at:
  1. the path in the DATAMODEL_LIB environment variable;
  2. the meson build folder of the source tree this package sits in
     (<repo>/build/lib/libdatamodel.so), so tests run without installing;
  3. the system's library path (libdatamodel.so.0 after `meson install`).

Every failing call raises datamodel.Error, whose .status_name and .message are
the library's dm_status and dm_last_error(). Using a closed object raises
ValueError; an unknown choice for a string option (e.g. pooling="max") raises
ValueError too.

    import datamodel
    tok = datamodel.Tokenizer.from_file("model/tokenizer.json")
    enc = tok.encode("Hello, world!")
    enc.ids, enc.tokens, enc.offsets   # offsets are UTF-8 byte offsets

    train = datamodel.Dataset.load("train.csv")          # text,label columns
    with datamodel.Model.load("model_dir", labels=train.labels) as model:
        datamodel.train(model, train, epochs=3, learning_rate=5e-5)
        pred = model.predict(["great film", "dull"])      # pred.labels, pred.probs
        report = model.evaluate(datamodel.Dataset.load("test.csv"))
        print(report.text())
        model.save("out_dir")

    raw = datamodel.Dataset.load("raw.csv")                # dataset operations
    clean, clean_report = raw.clean(min_chars=3)           # reports are dicts
    unique, dedup_report = clean.dedup(threshold=0.8)
    parts = unique.split_datasets(stratify=True)           # {"train", "val", "test"}
    parts["train"].write("train.csv")
    html = datamodel.profile_html(unique.profile(clean_report=clean_report))

    pii = datamodel.Pii()                                  # personal data
    pii.set_operator("mask", type="CREDIT_CARD")
    text, entities = pii.anonymize("card 4111 1111 1111 1111, mail a@b.com")
    safe, pii_report = raw.anonymize(pii, audit_path="audit.jsonl")

numpy is never required. Where an API documents it, numpy arrays are accepted
as input and, on request (return_numpy=True, or numpy input to
Model.forward), returned as output.
"""
import ctypes
import ctypes.util
import os

__all__ = ["Error", "Encoding", "Tokenizer", "version", "version_number", "library_path", "Dataset", "Row", "Report",
           "metrics", "Model", "Prediction", "ForwardOutput", "train", "profile_html", "Pii", "Entity"]

# ---------------------------------------------------------------------------- loading


def _find_library():
    env = os.environ.get("DATAMODEL_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    in_tree = os.path.join(here, "..", "..", "..", "build", "lib", "libdatamodel.so")
    if os.path.exists(in_tree):
        return os.path.normpath(in_tree)
    return ctypes.util.find_library("datamodel") or "libdatamodel.so.0"


library_path = _find_library()
try:
    _lib = ctypes.CDLL(library_path)
except OSError as e:  # pragma: no cover - depends on the machine
    raise ImportError(f"datamodel: cannot load the C library {library_path!r} ({e}); set DATAMODEL_LIB "
                      "to the path of libdatamodel.so or install it with `meson install`") from None

_c_size = ctypes.c_size_t
_c_i32 = ctypes.c_int32
_c_u8p = ctypes.POINTER(ctypes.c_uint8)
_c_i32p = ctypes.POINTER(ctypes.c_int32)
_c_u32p = ctypes.POINTER(ctypes.c_uint32)
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p)


class _TokenizerOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("lowercase", ctypes.c_int), ("strip_accents", ctypes.c_int)]


class _EncodeOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("add_special_tokens", ctypes.c_int), ("truncation", ctypes.c_int),
                ("max_length", _c_size), ("padding", ctypes.c_int), ("pad_length", _c_size),
                ("pad_to_multiple_of", _c_size), ("invalid_utf8", ctypes.c_int), ("threads", ctypes.c_int),
                ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


class _Encoding(ctypes.Structure):
    _fields_ = [("length", _c_size), ("ids", _c_i32p), ("type_ids", _c_i32p), ("attention_mask", _c_u8p),
                ("special_tokens_mask", _c_u8p), ("offsets", _c_u32p),
                ("tokens", ctypes.POINTER(ctypes.c_char_p))]


class _TrainOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("vocab_size", _c_size), ("min_frequency", ctypes.c_uint64),
                ("special_tokens", ctypes.POINTER(ctypes.c_char_p)), ("n_special_tokens", _c_size),
                ("limit_alphabet", _c_size), ("lowercase", ctypes.c_int), ("strip_accents", ctypes.c_int),
                ("clean_text", ctypes.c_int), ("handle_chinese_chars", ctypes.c_int),
                ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


_EncodingP = ctypes.POINTER(_Encoding)
_Tok = ctypes.c_void_p


def _sig(name, restype, *argtypes):
    fn = getattr(_lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_status = ctypes.c_int
_sig("dm_version", ctypes.c_char_p)
_sig("dm_version_number", ctypes.c_int)
_sig("dm_last_error", ctypes.c_char_p)
_sig("dm_status_name", ctypes.c_char_p, _status)
_sig("dm_free", None, ctypes.c_void_p)
_sig("dm_tokenizer_options_default", None, ctypes.POINTER(_TokenizerOptions))
_sig("dm_tokenizer_load", _status, ctypes.c_char_p, ctypes.POINTER(_TokenizerOptions), ctypes.POINTER(_Tok))
_sig("dm_tokenizer_load_json", _status, ctypes.c_char_p, _c_size, ctypes.POINTER(_TokenizerOptions),
     ctypes.POINTER(_Tok))
_sig("dm_tokenizer_load_vocab", _status, ctypes.c_char_p, _c_size, ctypes.POINTER(_TokenizerOptions),
     ctypes.POINTER(_Tok))
_sig("dm_tokenizer_free", None, _Tok)
_sig("dm_tokenizer_vocab_size", _c_size, _Tok)
_sig("dm_tokenizer_token_to_id", _status, _Tok, ctypes.c_char_p, _c_size, _c_i32p)
_sig("dm_tokenizer_id_to_token", ctypes.c_char_p, _Tok, _c_i32)
_sig("dm_tokenizer_special_id", _c_i32, _Tok, ctypes.c_int)
_sig("dm_encode_options_default", None, ctypes.POINTER(_EncodeOptions))
_sig("dm_tokenizer_encode", _status, _Tok, ctypes.c_char_p, _c_size, ctypes.c_char_p, _c_size,
     ctypes.POINTER(_EncodeOptions), ctypes.POINTER(_EncodingP))
_sig("dm_tokenizer_encode_batch", _status, _Tok, _c_size, ctypes.POINTER(ctypes.c_char_p),
     ctypes.POINTER(_c_size), ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_c_size),
     ctypes.POINTER(_EncodeOptions), ctypes.POINTER(ctypes.POINTER(_EncodingP)))
_sig("dm_encoding_free", None, _EncodingP)
_sig("dm_encodings_free", None, ctypes.POINTER(_EncodingP), _c_size)
_sig("dm_tokenizer_decode", _status, _Tok, _c_i32p, _c_size, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p),
     ctypes.POINTER(_c_size))
_sig("dm_tokenizer_save", _status, _Tok, ctypes.c_char_p)
_sig("dm_tokenizer_train_options_default", None, ctypes.POINTER(_TrainOptions))
_sig("dm_tokenizer_train", _status, ctypes.POINTER(ctypes.c_char_p), _c_size, ctypes.POINTER(_TrainOptions),
     ctypes.POINTER(_Tok))

# ---------------------------------------------------------------------------- errors


class Error(Exception):
    """A libdatamodel call failed. .status (int), .status_name ("DM_ERR_PARSE"), .message."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = _lib.dm_status_name(status).decode()
        self.message = message
        super().__init__(f"{self.status_name}: {message}")


def _check(status):
    """Raises Error for a failing status; the message is read on the same thread
    right after the call (dm_last_error is thread-local; ctypes calls do not
    switch threads)."""
    if status:
        raise Error(status, _lib.dm_last_error().decode("utf-8", "replace"))


def version():
    """The library's version string, e.g. '0.1.0'."""
    return _lib.dm_version().decode()


def version_number():
    """The library's version as MAJOR*10000 + MINOR*100 + PATCH."""
    return _lib.dm_version_number()


# ---------------------------------------------------------------------------- helpers

_TRUNCATION = {None: 0, False: 0, "none": 0, "do_not_truncate": 0, "longest_first": 1, True: 1,
               "only_first": 2, "only_second": 3}
_PADDING = {None: 0, False: 0, "none": 0, "do_not_pad": 0, "max_length": 1, "length": 1, "longest": 2,
            True: 2}
_INVALID_UTF8 = {"error": 0, "strict": 0, "replace": 1}
_SPECIAL = {"unk": 0, "cls": 1, "sep": 2, "pad": 3, "mask": 4}


def _bytes(text, what):
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"{what} must be str or bytes, not {type(text).__name__}")


def _choice(table, value, what):
    try:
        return table[value]
    except (KeyError, TypeError):
        names = ", ".join(repr(k) for k in table if isinstance(k, str))
        raise ValueError(f"{what} must be one of {names}; got {value!r}") from None


def _tokenizer_options(lowercase, strip_accents):
    o = _TokenizerOptions()
    _lib.dm_tokenizer_options_default(ctypes.byref(o))
    if lowercase is not None:
        o.lowercase = int(bool(lowercase))
    if strip_accents is not None:
        o.strip_accents = int(bool(strip_accents))
    return o


class _Progress:
    """Wraps a Python callable progress(done, total) -> falsy to go on. An
    exception inside it cancels the call and is re-raised afterwards."""

    def __init__(self, fn):
        self.fn = fn
        self.error = None
        self.c = _PROGRESS(self._call) if fn else _PROGRESS()

    def _call(self, done, total, _user):
        try:
            return 1 if self.fn(done, total) else 0
        except BaseException as e:  # noqa: BLE001 - re-raised after the C call returns
            self.error = e
            return 1

    def reraise(self):
        if self.error is not None:
            raise self.error


def _encode_options(add_special_tokens, truncation, max_length, padding, pad_length, pad_to_multiple_of,
                    invalid_utf8, threads=0, progress=None):
    o = _EncodeOptions()
    _lib.dm_encode_options_default(ctypes.byref(o))
    o.add_special_tokens = int(bool(add_special_tokens))
    o.truncation = _choice(_TRUNCATION, truncation, "truncation")
    if o.truncation:
        if max_length is None:
            raise ValueError("truncation needs max_length")
        o.max_length = int(max_length)
    o.padding = _choice(_PADDING, padding, "padding")
    if o.padding == 1:
        length = pad_length if pad_length is not None else max_length
        if length is None:
            raise ValueError("padding='max_length' needs pad_length or max_length")
        o.pad_length = int(length)
    o.pad_to_multiple_of = int(pad_to_multiple_of or 0)
    o.invalid_utf8 = _choice(_INVALID_UTF8, invalid_utf8, "invalid_utf8")
    o.threads = int(threads)
    if progress is not None:
        o.progress = progress.c
    return o


# ---------------------------------------------------------------------------- encoding


class Encoding:
    """One encoded text or pair: ids, type_ids, attention_mask,
    special_tokens_mask, offsets [(start, end) in UTF-8 bytes] and tokens."""

    __slots__ = ("ids", "type_ids", "attention_mask", "special_tokens_mask", "offsets", "tokens")

    def __init__(self, c):
        n = c.length
        self.ids = c.ids[:n]
        self.type_ids = c.type_ids[:n]
        self.attention_mask = c.attention_mask[:n]
        self.special_tokens_mask = c.special_tokens_mask[:n]
        flat = c.offsets[:2 * n]
        self.offsets = list(zip(flat[0::2], flat[1::2]))
        self.tokens = [t.decode("utf-8", "replace") for t in c.tokens[:n]]

    def __len__(self):
        return len(self.ids)

    def __eq__(self, other):
        return isinstance(other, Encoding) and all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    def __repr__(self):
        return f"Encoding(ids={self.ids}, tokens={self.tokens})"


# ---------------------------------------------------------------------------- tokenizer


class _Owned:
    """The lifetime of an object that owns a C handle (self._h): close() frees
    it through _FREE (calling it twice is safe), as do `with` and the garbage
    collector; _handle() refuses a closed object, naming _WHAT."""

    _FREE = None  # the name of the C free function, e.g. "dm_tokenizer_free"
    _WHAT = "object"

    def close(self):
        """Releases the C object; safe to call twice."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            getattr(_lib, self._FREE)(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise ValueError(f"the {self._WHAT} is closed")
        return self._h


class Tokenizer(_Owned):
    """A WordPiece tokenizer with the same ids as Hugging Face `tokenizers`.

    Build one with Tokenizer.from_file / from_json / from_vocab / train.
    Close it with close() or a `with` block (or let the garbage collector)."""

    def __init__(self, handle):
        if not handle:
            raise ValueError("use Tokenizer.from_file, from_json, from_vocab or train")
        self._h = handle

    # ---- construction
    @classmethod
    def from_file(cls, path, lowercase=None, strip_accents=None):
        """Loads a tokenizer.json, a vocab.txt or a model folder. lowercase and
        strip_accents override what the files say (None keeps it)."""
        h = _Tok()
        o = _tokenizer_options(lowercase, strip_accents)
        _check(_lib.dm_tokenizer_load(os.fsencode(path), ctypes.byref(o), ctypes.byref(h)))
        return cls(h)

    @classmethod
    def from_json(cls, text, lowercase=None, strip_accents=None):
        """Loads from the contents of a tokenizer.json (str or bytes)."""
        data = _bytes(text, "text")
        h = _Tok()
        o = _tokenizer_options(lowercase, strip_accents)
        _check(_lib.dm_tokenizer_load_json(data, len(data), ctypes.byref(o), ctypes.byref(h)))
        return cls(h)

    @classmethod
    def from_vocab(cls, text, lowercase=None, strip_accents=None):
        """Loads from the contents of a vocab.txt (BERT defaults)."""
        data = _bytes(text, "text")
        h = _Tok()
        o = _tokenizer_options(lowercase, strip_accents)
        _check(_lib.dm_tokenizer_load_vocab(data, len(data), ctypes.byref(o), ctypes.byref(h)))
        return cls(h)

    @classmethod
    def train(cls, files, vocab_size=30522, min_frequency=2, special_tokens=None, limit_alphabet=0,
              lowercase=True, strip_accents=None, clean_text=True, handle_chinese_chars=True, progress=None):
        """Learns a WordPiece vocabulary from text files (one text per line).
        progress(done, total) may return True to cancel (units: input bytes,
        then vocabulary entries)."""
        if isinstance(files, (str, bytes, os.PathLike)):
            files = [files]
        paths = [os.fsencode(f) for f in files]
        o = _TrainOptions()
        _lib.dm_tokenizer_train_options_default(ctypes.byref(o))
        o.vocab_size = int(vocab_size)
        o.min_frequency = int(min_frequency)
        keep = None
        if special_tokens is not None:
            keep = (ctypes.c_char_p * len(special_tokens))(*[_bytes(s, "special token") for s in special_tokens])
            o.special_tokens = keep
            o.n_special_tokens = len(special_tokens)
        o.limit_alphabet = int(limit_alphabet or 0)
        o.lowercase = int(bool(lowercase))
        o.strip_accents = -1 if strip_accents is None else int(bool(strip_accents))
        o.clean_text = int(bool(clean_text))
        o.handle_chinese_chars = int(bool(handle_chinese_chars))
        cb = _Progress(progress)
        if progress is not None:
            o.progress = cb.c
        arr = (ctypes.c_char_p * len(paths))(*paths)
        h = _Tok()
        status = _lib.dm_tokenizer_train(arr, len(paths), ctypes.byref(o), ctypes.byref(h))
        cb.reraise()
        _check(status)
        del keep
        return cls(h)

    _FREE = "dm_tokenizer_free"
    _WHAT = "tokenizer"

    # ---- vocabulary
    @property
    def vocab_size(self):
        return _lib.dm_tokenizer_vocab_size(self._handle())

    def token_to_id(self, token):
        """The id of TOKEN, or None."""
        data = _bytes(token, "token")
        out = _c_i32()
        st = _lib.dm_tokenizer_token_to_id(self._handle(), data, len(data), ctypes.byref(out))
        if st == 5:  # DM_ERR_NOT_FOUND
            return None
        _check(st)
        return out.value

    def id_to_token(self, id):
        """The token string of ID, or None."""
        s = _lib.dm_tokenizer_id_to_token(self._handle(), int(id))
        return None if s is None else s.decode("utf-8", "replace")

    def special_id(self, which):
        """The id of 'unk', 'cls', 'sep', 'pad' or 'mask', or None."""
        v = _lib.dm_tokenizer_special_id(self._handle(), _choice(_SPECIAL, which, "which"))
        return None if v < 0 else v

    # ---- encoding
    def encode(self, text, pair=None, add_special_tokens=True, truncation=None, max_length=None, padding=None,
               pad_length=None, pad_to_multiple_of=0, invalid_utf8="error"):
        """Encodes TEXT, or the pair (TEXT, PAIR). truncation: None,
        'longest_first', 'only_first' or 'only_second' (with max_length,
        special tokens included); padding: None, 'max_length' (to pad_length,
        else max_length) or 'longest'; invalid_utf8 ('error' or 'replace')
        applies to bytes input."""
        o = _encode_options(add_special_tokens, truncation, max_length, padding, pad_length,
                            pad_to_multiple_of, invalid_utf8)
        a = _bytes(text, "text")
        b = None if pair is None else _bytes(pair, "pair")
        out = _EncodingP()
        _check(_lib.dm_tokenizer_encode(self._handle(), a, len(a), b, 0 if b is None else len(b), ctypes.byref(o),
                                        ctypes.byref(out)))
        try:
            return Encoding(out.contents)
        finally:
            _lib.dm_encoding_free(out)

    def encode_batch(self, texts, pairs=None, add_special_tokens=True, truncation=None, max_length=None,
                     padding=None, pad_length=None, pad_to_multiple_of=0, invalid_utf8="error", threads=0,
                     progress=None):
        """Encodes many texts (and pairs) on THREADS threads (0: all cores);
        the same options as encode(). padding='longest' pads to the longest in
        the batch. progress(done, total) may return True to cancel."""
        n = len(texts)
        if pairs is not None and len(pairs) != n:
            raise ValueError(f"{n} texts but {len(pairs)} pairs")
        cb = _Progress(progress)
        o = _encode_options(add_special_tokens, truncation, max_length, padding, pad_length, pad_to_multiple_of,
                            invalid_utf8, threads, cb if progress is not None else None)
        data = [_bytes(t, "text") for t in texts]
        arr = (ctypes.c_char_p * max(n, 1))(*data)
        lens = (_c_size * max(n, 1))(*map(len, data))
        parr = plens = None
        if pairs is not None:
            pdata = [_bytes(t, "pair") for t in pairs]
            parr = (ctypes.c_char_p * max(n, 1))(*pdata)
            plens = (_c_size * max(n, 1))(*map(len, pdata))
        out = ctypes.POINTER(_EncodingP)()
        status = _lib.dm_tokenizer_encode_batch(self._handle(), n, arr, lens, parr, plens, ctypes.byref(o),
                                                ctypes.byref(out))
        cb.reraise()
        _check(status)
        try:
            return [Encoding(out[i].contents) for i in range(n)]
        finally:
            _lib.dm_encodings_free(out, n)

    def decode(self, ids, skip_special_tokens=True):
        """Text of IDS as HF's WordPiece decoder writes it."""
        ids = list(ids)
        arr = (_c_i32 * max(len(ids), 1))(*ids)
        out = ctypes.c_void_p()
        n = _c_size()
        _check(_lib.dm_tokenizer_decode(self._handle(), arr, len(ids), int(bool(skip_special_tokens)),
                                        ctypes.byref(out), ctypes.byref(n)))
        try:
            return ctypes.string_at(out, n.value).decode("utf-8", "replace")
        finally:
            _lib.dm_free(out)

    def save(self, directory):
        """Writes vocab.txt, tokenizer.json and tokenizer_config.json into DIRECTORY."""
        _check(_lib.dm_tokenizer_save(self._handle(), os.fsencode(directory)))


# ---------------------------------------------------------------------------- datasets, metrics, models, training

from ._data import Dataset, Report, Row, metrics  # noqa: E402
from ._dataops import profile_html  # noqa: E402
from ._model import ForwardOutput, Model, Prediction, train  # noqa: E402
from ._pii import Entity, Pii  # noqa: E402  (also adds Dataset.anonymize)
