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
    encs = tok.encode_batch(texts, padding="longest")   # one C call for the batch
    encs.matrix("ids"), encs.matrix("attention_mask")   # numpy n x longest, no copy
    encs.ids, encs.row_offsets         # ragged: every token end to end + row starts
    encs[0].tokens                     # per-text Encoding views, built when accessed

    train = datamodel.Dataset.load("train.csv")          # text,label columns
    with datamodel.Model.load("model_dir", labels=train.labels) as model:
        datamodel.train(model, train, epochs=3, learning_rate=5e-5)
        pred = model.predict(["great film", "dull"])      # pred.labels, pred.probs
        report = model.evaluate(datamodel.Dataset.load("test.csv"))
        print(report.text())
        model.save("out_dir")

    # the pieces of training: a loop of one's own, or dm_train's step by step
    model.set_trainable("bert.embeddings.", False)        # freeze; info["num_trainable_parameters"]
    with datamodel.Optimizer(model, learning_rate=1e-4) as opt:
        loss_sum = model.forward_backward(ids, labels, attention_mask=mask, grad_scale=1 / len(labels))
        opt.step()                                         # {"step", "learning_rate", "grad_norm"}
    with datamodel.Trainer(model, train, val, epochs=3) as t:
        while not t.done:
            t.step()
        t.save("checkpoint")                               # Trainer(...).resume("checkpoint") goes on

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

    eps, order = datamodel.dp_epsilon(1.5, 0.04, 2250, 1e-5)  # DP-SGD: 7.33 (Opacus' accountant)
    sigma = datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, 2250)  # the noise for a budget: 1.416
    eps_lb = datamodel.dp_audit_epsilon(1000, 100, 75, delta=1e-4)  # one-run audit: 0.673
    datamodel.train(model, train, dp_epsilon=8.0)           # DP-SGD training: privacy.json in output_dir
    with datamodel.DP(target_epsilon=8, sample_rate=0.01, steps=1000) as dp:  # DP-SGD by hand
        loss_sum, norms = dp.forward_backward(model, ids, labels, grad_scale=1 / 32)
        dp.add_noise(model, 1 / 32)                          # then Optimizer(max_grad_norm=0).step()

numpy is never required. Where an API documents it, numpy arrays are accepted
as input and, on request (return_numpy=True, or numpy input to
Model.forward), returned as output; Encodings' arrays are numpy arrays when
numpy is installed, else memoryviews.

Progress callbacks (progress=..., and train()'s callback) have one meaning, as
in C and Go: a truthy return (True, non-zero) cancels the call with Error
DM_ERR_CANCELLED; None, False or 0 goes on. An exception raised inside a
callback cancels the call and is raised again from it.

Integers passed to the library must fit the C type they travel as (int32 ids,
uint8 masks, size_t counts...): ctypes would wrap them silently (2**32 + 2088
would become id 2088), so one that does not fit raises OverflowError, which
is also a ValueError, naming the argument and, in a list, its index.
"""
import array
import collections.abc
import ctypes
import ctypes.util
import itertools
import operator
import os

try:  # optional: encode_batch returns numpy arrays when it is there
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the machine
    _np = None

__all__ = ["Error", "Encoding", "Encodings", "Tokenizer", "version", "version_number", "library_path", "Dataset", "Row",
           "Report", "metrics", "Model", "Prediction", "ForwardOutput", "train", "Optimizer", "Trainer", "profile_html",
           "Pii", "Entity", "dp_epsilon", "dp_noise_multiplier", "dp_audit_epsilon", "dp_audit_guesses",
           "encrypt_file", "decrypt_file", "decrypt_to_memory", "read_key_file", "is_encrypted_file", "DP",
           "example_norms"]

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


class _EncodingsFlat(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("n", _c_size), ("n_tokens", _c_size), ("longest", _c_size),
                ("row_offsets", ctypes.POINTER(_c_size)), ("ids", _c_i32p), ("type_ids", _c_i32p),
                ("attention_mask", _c_u8p), ("special_tokens_mask", _c_u8p), ("offsets", _c_u32p)]


class _TrainOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("vocab_size", _c_size), ("min_frequency", ctypes.c_uint64),
                ("special_tokens", ctypes.POINTER(ctypes.c_char_p)), ("n_special_tokens", _c_size),
                ("limit_alphabet", _c_size), ("lowercase", ctypes.c_int), ("strip_accents", ctypes.c_int),
                ("clean_text", ctypes.c_int), ("handle_chinese_chars", ctypes.c_int),
                ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


_EncodingP = ctypes.POINTER(_Encoding)
_FlatP = ctypes.POINTER(_EncodingsFlat)
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
_sig("dm_tokenizer_encode_batch_flat", _status, _Tok, _c_size, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
     ctypes.c_void_p, ctypes.POINTER(_EncodeOptions), ctypes.POINTER(_FlatP))
_sig("dm_encodings_flat_free", None, _FlatP)
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


class _OutOfRange(OverflowError, ValueError):
    """An integer that does not fit the C type it is passed as (ctypes would
    wrap it silently: 2**32 + 2088 would become 2088). Both an OverflowError
    and a ValueError."""


# C integer types by array.array type code: (name, smallest, largest).
_C_INT = {"i": ("int32", -2**31, 2**31 - 1), "I": ("uint32", 0, 2**32 - 1), "B": ("uint8", 0, 255),
          "Q": ("size_t", 0, 2**64 - 1)}
assert array.array("i").itemsize == 4 and array.array("I").itemsize == 4 and array.array("Q").itemsize == 8
_SIZE_CODE = "Q" if ctypes.sizeof(_c_size) == 8 else "I"
_C_INT["size_t"] = _C_INT[_SIZE_CODE]
_C_INT["int"] = _C_INT["i"]
_C_INT["uint64"] = ("uint64", 0, 2**64 - 1)


def _cint_value(value, what, code="size_t"):
    """VALUE as a Python int that fits the C type CODE ('i' int32, 'I'
    uint32, 'B' uint8, 'Q' or 'size_t', 'int', 'uint64'); else _OutOfRange (or
    TypeError for a value that is not an integer) naming WHAT."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None
    name, lo, hi = _C_INT[code]
    if not lo <= v <= hi:
        raise _OutOfRange(f"{what} = {v} is out of range for {name} [{lo}, {hi}]")
    return v


def _first_bad(values, code):
    """(index, value) of the first of VALUES that is not an integer in range."""
    _, lo, hi = _C_INT[code]
    for i, v in enumerate(values):
        try:
            if not lo <= operator.index(v) <= hi:
                return i, v
        except TypeError:
            return i, v
    return None, None  # pragma: no cover - only called after array.array refused VALUES


def _int_array(values, what, code):
    """array.array(CODE, VALUES): a C array of int32 ('i'), uint32 ('I'),
    uint8 ('B') or size_t ('Q'). array.array checks every value; on a bad one
    this names it with its index: "ids[3] = 4294969384 is out of range for
    int32 [...]" (_OutOfRange), or TypeError for a value that is not an
    integer. numpy arrays are checked the same way, without a Python loop."""
    if _np is not None and isinstance(values, _np.ndarray):
        values = _checked_ndarray(values, what, code).reshape(-1)
        return array.array(code, values.tobytes())
    try:
        return array.array(code, values)
    except (OverflowError, TypeError):
        values = list(values)
        i, v = _first_bad(values, code)
        if not hasattr(v, "__index__"):
            raise TypeError(f"{what}[{i}] must be an integer, not {type(v).__name__}") from None
        name, lo, hi = _C_INT[code]
        raise _OutOfRange(f"{what}[{i}] = {v} is out of range for {name} [{lo}, {hi}]") from None


def _int_rows(rows, what, code):
    """array.array(CODE) of the rows of a 2-D list, every value checked as
    _int_array does; a bad one is named with its row and column
    ("ids[1][2] = ...")."""
    try:
        return array.array(code, itertools.chain.from_iterable(rows))
    except (OverflowError, TypeError):
        for r, row in enumerate(rows):
            _int_array(row, f"{what}[{r}]", code)
        raise  # pragma: no cover - some row must have failed


_NP_DTYPE = {"i": "int32", "I": "uint32", "B": "uint8", "Q": "uint64"}


def _checked_ndarray(a, what, code):
    """A C-contiguous copy or view of the numpy array A as CODE's type, after
    checking that A holds integers in range (astype would wrap)."""
    if a.dtype != bool and not _np.issubdtype(a.dtype, _np.integer):
        raise TypeError(f"{what} must hold integers, not {a.dtype}")
    name, lo, hi = _C_INT[code]
    if a.size and a.dtype != bool and (int(a.min()) < lo or int(a.max()) > hi):
        k = next(k for k, v in enumerate(a.reshape(-1).tolist()) if not lo <= v <= hi)  # only on failure
        at = _np.unravel_index(k, a.shape)
        index = "".join(f"[{int(i)}]" for i in at)
        raise _OutOfRange(f"{what}{index} = {a[at]} is out of range for {name} [{lo}, {hi}]")
    return _np.ascontiguousarray(a, dtype=_NP_DTYPE[code])


def _array_address(arr):
    """The address of an array.array's (or numpy array's) first item."""
    if isinstance(arr, array.array):
        return arr.buffer_info()[0]
    return arr.ctypes.data


def _encode_texts(texts, what):
    """TEXTS as a list of UTF-8 bytes: str.encode over the list at C speed
    when every text is a str (lone surrogates aside), else one by one."""
    try:
        return list(map(str.encode, texts))
    except (TypeError, UnicodeEncodeError):
        return [_bytes(t, f"{what}[{i}]") for i, t in enumerate(texts)]


class _TextBatch:
    """N texts laid out for one batch call: their UTF-8 bytes joined into one
    buffer, an array of N pointers into it and an array of N lengths (what
    the C API's texts/lens take). With numpy no Python step runs per text
    beyond str.encode; .ptrs and .lens are addresses."""

    __slots__ = ("n", "buf", "_ptrs", "_lens", "ptrs", "lens")

    def __init__(self, texts, what):
        data = _encode_texts(texts, what)
        self.n = n = len(data)
        self.buf = b"".join(data)
        base = ctypes.cast(ctypes.c_char_p(self.buf), ctypes.c_void_p).value or 0
        if _np is not None:
            lens = _np.fromiter(map(len, data), dtype=_np.uintp, count=n)
            ptrs = _np.empty(n, dtype=_np.uintp)
            if n:
                ptrs[0] = 0
                _np.cumsum(lens[:-1], out=ptrs[1:])
            ptrs += base
        else:
            lens = array.array(_SIZE_CODE, map(len, data))
            ptrs = array.array(_SIZE_CODE, itertools.islice(itertools.accumulate(lens, initial=base), n))
        self._ptrs, self._lens = ptrs, lens  # kept alive with buf for the call
        self.ptrs = _array_address(ptrs) if n else None
        self.lens = _array_address(lens) if n else None


def _tokenizer_options(lowercase, strip_accents):
    o = _TokenizerOptions()
    _lib.dm_tokenizer_options_default(ctypes.byref(o))
    if lowercase is not None:
        o.lowercase = int(bool(lowercase))
    if strip_accents is not None:
        o.strip_accents = int(bool(strip_accents))
    return o


class _Progress:
    """Wraps a Python callable progress(done, total): a truthy return (True,
    non-zero) cancels, as a non-zero return does in C and true in Go; a
    falsy one (None, False, 0) goes on. An exception inside it cancels the
    call and is re-raised afterwards."""

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
        o.max_length = _cint_value(max_length, "max_length")
    o.padding = _choice(_PADDING, padding, "padding")
    if o.padding == 1:
        length = pad_length if pad_length is not None else max_length
        if length is None:
            raise ValueError("padding='max_length' needs pad_length or max_length")
        o.pad_length = _cint_value(length, "pad_length" if pad_length is not None else "max_length")
    o.pad_to_multiple_of = _cint_value(pad_to_multiple_of or 0, "pad_to_multiple_of")
    o.invalid_utf8 = _choice(_INVALID_UTF8, invalid_utf8, "invalid_utf8")
    o.threads = _cint_value(threads, "threads", "int")
    if progress is not None:
        o.progress = progress.c
    return o


# ---------------------------------------------------------------------------- encoding


class _EncodingMemory:
    """Owns the C memory behind Encoding views: a dm_encodings_flat (a batch)
    or a dm_encoding (one text), freed when the last view or array on it
    goes. .c is the structure, whose ids, type_ids, attention_mask,
    special_tokens_mask and offsets are pointers; .vocab maps ids to token
    strings (read once per tokenizer, so views outlive the tokenizer)."""

    __slots__ = ("p", "c", "vocab", "_free")

    def __init__(self, p, free, vocab):
        self.p, self._free, self.vocab = p, free, vocab
        self.c = p.contents

    def __del__(self):
        p, self.p = self.p, None
        if p and _lib is not None:
            getattr(_lib, self._free)(p)


class Encoding:
    """One encoded text or pair: ids, type_ids, attention_mask,
    special_tokens_mask, offsets [(start, end) in UTF-8 bytes] and tokens,
    each a list. An Encoding is a view on C memory (one text's, or a row of
    an Encodings batch): each list is built on first access, then kept."""

    __slots__ = ("_mem", "_start", "_end", "_ids", "_type_ids", "_attention_mask", "_special_tokens_mask",
                 "_offsets", "_tokens")
    _FIELDS = ("ids", "type_ids", "attention_mask", "special_tokens_mask", "offsets", "tokens")

    def __init__(self, mem, start, end):
        self._mem, self._start, self._end = mem, start, end
        self._ids = self._type_ids = self._attention_mask = self._special_tokens_mask = None
        self._offsets = self._tokens = None

    @property
    def ids(self):
        if self._ids is None:
            self._ids = self._mem.c.ids[self._start:self._end]
        return self._ids

    @property
    def type_ids(self):
        if self._type_ids is None:
            self._type_ids = self._mem.c.type_ids[self._start:self._end]
        return self._type_ids

    @property
    def attention_mask(self):
        if self._attention_mask is None:
            self._attention_mask = self._mem.c.attention_mask[self._start:self._end]
        return self._attention_mask

    @property
    def special_tokens_mask(self):
        if self._special_tokens_mask is None:
            self._special_tokens_mask = self._mem.c.special_tokens_mask[self._start:self._end]
        return self._special_tokens_mask

    @property
    def offsets(self):
        if self._offsets is None:
            flat = self._mem.c.offsets[2 * self._start:2 * self._end]
            self._offsets = list(zip(flat[0::2], flat[1::2]))
        return self._offsets

    @property
    def tokens(self):
        if self._tokens is None:
            self._tokens = list(map(self._mem.vocab.__getitem__, self.ids))
        return self._tokens

    def __len__(self):
        return self._end - self._start

    def __eq__(self, other):
        if not isinstance(other, Encoding):
            return NotImplemented
        return len(self) == len(other) and all(getattr(self, f) == getattr(other, f) for f in self._FIELDS)

    __hash__ = None

    def __repr__(self):
        return f"Encoding(ids={self.ids}, tokens={self.tokens})"


class Encodings(collections.abc.Sequence):
    """What Tokenizer.encode_batch returns: N encodings in flat arrays, from
    one C call, with nothing built per text until asked.

    As a sequence it behaves like a list of Encoding (len, indexing, slicing,
    iteration, == with a list of Encoding); each Encoding is a view whose
    lists are built on first access. As arrays (numpy when it is installed,
    else memoryviews; no copy, shared with the views):
      ids, type_ids              int32, every token of every text end to end
      attention_mask, special_tokens_mask   uint8, the same
      offsets                    uint32, n_tokens x 2 (UTF-8 byte offsets)
      row_offsets                n + 1 entries: text i is tokens
                                 row_offsets[i] .. row_offsets[i+1]-1
      lengths                    tokens per text
    and matrix(name): one of them as n x longest, without a copy, when every
    text has the same length (padding="longest" or "max_length")."""

    __slots__ = ("_mem", "_rows", "_arrays")

    def __init__(self, mem):
        self._mem = mem
        self._rows = None
        self._arrays = {}

    # ---- sequence of Encoding views
    def __len__(self):
        return self._mem.c.n

    def _row_list(self):
        if self._rows is None:
            self._rows = self._mem.c.row_offsets[:self._mem.c.n + 1]
        return self._rows

    def __getitem__(self, i):
        n = len(self)
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(n))]
        i = operator.index(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"encoding {i} out of range (the batch has {n})")
        rows = self._row_list()
        return Encoding(self._mem, rows[i], rows[i + 1])

    def __iter__(self):
        rows, mem = self._row_list(), self._mem
        return (Encoding(mem, rows[i], rows[i + 1]) for i in range(len(rows) - 1))

    def __eq__(self, other):
        try:
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        except TypeError:
            return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"Encodings(n={len(self)}, n_tokens={self.n_tokens}, longest={self.longest})"

    # ---- arrays
    @property
    def n_tokens(self):
        return self._mem.c.n_tokens

    @property
    def longest(self):
        """The longest text's number of tokens."""
        return self._mem.c.longest

    def _array(self, field, ctype, code, count, shape=None):
        """The C array FIELD (COUNT items of CTYPE) as numpy (or a memoryview
        of type CODE), shaped SHAPE, made once per shape."""
        key = (field, shape)
        a = self._arrays.get(key)
        if a is None:
            ptr = getattr(self._mem.c, field)
            raw = (ctype * max(count, 1)).from_address(ctypes.cast(ptr, ctypes.c_void_p).value)
            raw._owner = self._mem  # the C memory lives while any array on it does
            if _np is not None:
                a = _np.ctypeslib.as_array(raw)[:count]
                a = a if shape is None else a.reshape(shape)
            else:
                a = memoryview(raw).cast("B")[:count * ctypes.sizeof(ctype)]
                a = a.cast(code) if shape is None else a.cast(code, shape)
            self._arrays[key] = a
        return a

    @property
    def ids(self):
        return self._array("ids", ctypes.c_int32, "i", self.n_tokens)

    @property
    def type_ids(self):
        return self._array("type_ids", ctypes.c_int32, "i", self.n_tokens)

    @property
    def attention_mask(self):
        return self._array("attention_mask", ctypes.c_uint8, "B", self.n_tokens)

    @property
    def special_tokens_mask(self):
        return self._array("special_tokens_mask", ctypes.c_uint8, "B", self.n_tokens)

    @property
    def offsets(self):
        return self._array("offsets", ctypes.c_uint32, "I", 2 * self.n_tokens, (self.n_tokens, 2))

    @property
    def row_offsets(self):
        return self._array("row_offsets", _c_size, _SIZE_CODE, len(self) + 1)

    @property
    def lengths(self):
        """Tokens per text (numpy int64, or a list without numpy)."""
        rows = self.row_offsets
        if _np is not None:
            return _np.diff(rows).astype(_np.int64)
        return [rows[i + 1] - rows[i] for i in range(len(self))]

    _MATRIX = {"ids": (ctypes.c_int32, "i"), "type_ids": (ctypes.c_int32, "i"),
               "attention_mask": (ctypes.c_uint8, "B"), "special_tokens_mask": (ctypes.c_uint8, "B")}

    def matrix(self, name="ids"):
        """The array NAME ("ids", "type_ids", "attention_mask",
        "special_tokens_mask" or "offsets") as n x longest (x 2 for
        offsets), sharing memory with the flat one. Every text must have the
        same length: encode with padding="longest" or "max_length"."""
        n, width = len(self), self.longest
        if self.n_tokens != n * width:
            raise ValueError("the encodings have different lengths: encode with padding='longest' or "
                             "'max_length' to get a matrix")
        if name == "offsets":
            return self._array("offsets", ctypes.c_uint32, "I", 2 * self.n_tokens, (n, width, 2))
        if name not in self._MATRIX:
            raise ValueError(f"name must be one of {', '.join(repr(k) for k in self._MATRIX)}, 'offsets'; "
                             f"got {name!r}")
        ctype, code = self._MATRIX[name]
        return self._array(name, ctype, code, self.n_tokens, (n, width))


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
        progress(done, total) is called as it goes (units: input bytes, then
        vocabulary entries); returning True (any truthy value) cancels with
        Error DM_ERR_CANCELLED, returning None/False goes on."""
        if isinstance(files, (str, bytes, os.PathLike)):
            files = [files]
        paths = [os.fsencode(f) for f in files]
        o = _TrainOptions()
        _lib.dm_tokenizer_train_options_default(ctypes.byref(o))
        o.vocab_size = _cint_value(vocab_size, "vocab_size")
        o.min_frequency = _cint_value(min_frequency, "min_frequency", "Q")
        keep = None
        if special_tokens is not None:
            keep = (ctypes.c_char_p * len(special_tokens))(*[_bytes(s, "special token") for s in special_tokens])
            o.special_tokens = keep
            o.n_special_tokens = len(special_tokens)
        o.limit_alphabet = _cint_value(limit_alphabet or 0, "limit_alphabet")
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
        """The token string of ID, or None (also for an id outside int32,
        which is no token: it is not wrapped around)."""
        try:
            id = _cint_value(id, "id", "i")
        except _OutOfRange:
            return None
        s = _lib.dm_tokenizer_id_to_token(self._handle(), id)
        return None if s is None else s.decode("utf-8", "replace")

    def special_id(self, which):
        """The id of 'unk', 'cls', 'sep', 'pad' or 'mask', or None."""
        v = _lib.dm_tokenizer_special_id(self._handle(), _choice(_SPECIAL, which, "which"))
        return None if v < 0 else v

    def _vocab(self):
        """Every id's token string (None for unused ids), read once: Encoding
        views take their tokens from it, so they outlive the tokenizer."""
        vocab = getattr(self, "_vocab_list", None)
        if vocab is None:
            h, get = self._handle(), _lib.dm_tokenizer_id_to_token
            n = _lib.dm_tokenizer_vocab_size(h)
            vocab = [None if t is None else t.decode("utf-8", "replace")
                     for t in map(get, itertools.repeat(h, n), range(n))]
            self._vocab_list = vocab
        return vocab

    # ---- encoding
    def encode(self, text, pair=None, add_special_tokens=True, truncation=None, max_length=None, padding=None,
               pad_length=None, pad_to_multiple_of=0, invalid_utf8="error"):
        """Encodes TEXT, or the pair (TEXT, PAIR), into an Encoding.
        truncation: None, 'longest_first', 'only_first' or 'only_second'
        (with max_length, special tokens included); padding: None,
        'max_length' (to pad_length, else max_length) or 'longest';
        invalid_utf8 ('error' or 'replace') applies to bytes input."""
        o = _encode_options(add_special_tokens, truncation, max_length, padding, pad_length,
                            pad_to_multiple_of, invalid_utf8)
        a = _bytes(text, "text")
        b = None if pair is None else _bytes(pair, "pair")
        vocab = self._vocab()
        out = _EncodingP()
        _check(_lib.dm_tokenizer_encode(self._handle(), a, len(a), b, 0 if b is None else len(b), ctypes.byref(o),
                                        ctypes.byref(out)))
        mem = _EncodingMemory(out, "dm_encoding_free", vocab)
        return Encoding(mem, 0, mem.c.length)

    def encode_batch(self, texts, pairs=None, add_special_tokens=True, truncation=None, max_length=None,
                     padding=None, pad_length=None, pad_to_multiple_of=0, invalid_utf8="error", threads=0,
                     progress=None):
        """Encodes many texts (and pairs) on THREADS threads (0: all cores),
        with the same options as encode(); padding='longest' pads to the
        longest in the batch. Returns an Encodings: a list-like of Encoding
        views and flat (numpy) arrays, made by one C call
        (dm_tokenizer_encode_batch_flat) whatever the number of texts.
        progress(done, total) in texts: returning True (any truthy value)
        cancels with Error DM_ERR_CANCELLED, None/False goes on."""
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a list of texts, not a single string")
        texts = texts if isinstance(texts, (list, tuple)) else list(texts)
        if pairs is not None:
            pairs = pairs if isinstance(pairs, (list, tuple)) else list(pairs)
            if len(pairs) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
        cb = _Progress(progress)
        o = _encode_options(add_special_tokens, truncation, max_length, padding, pad_length, pad_to_multiple_of,
                            invalid_utf8, threads, cb if progress is not None else None)
        tb = _TextBatch(texts, "texts")
        pb = None if pairs is None else _TextBatch(pairs, "pairs")
        vocab = self._vocab()
        out = _FlatP()
        status = _lib.dm_tokenizer_encode_batch_flat(self._handle(), tb.n, tb.ptrs, tb.lens,
                                                     pb and pb.ptrs, pb and pb.lens, ctypes.byref(o),
                                                     ctypes.byref(out))
        mem = _EncodingMemory(out, "dm_encodings_flat_free", vocab) if out else None
        cb.reraise()
        _check(status)
        return Encodings(mem)

    def decode(self, ids, skip_special_tokens=True):
        """Text of IDS (a list or numpy array of int32 ids) as HF's WordPiece
        decoder writes it. An id that does not fit int32 raises
        OverflowError (also a ValueError) naming its index."""
        arr = _int_array(ids, "ids", "i")
        out = ctypes.c_void_p()
        n = _c_size()
        _check(_lib.dm_tokenizer_decode(self._handle(), ctypes.cast(_array_address(arr) if arr else None, _c_i32p),
                                        len(arr), int(bool(skip_special_tokens)), ctypes.byref(out),
                                        ctypes.byref(n)))
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
from ._model import ForwardOutput, Model, Optimizer, Prediction, Trainer, train  # noqa: E402
from ._pii import Entity, Pii  # noqa: E402  (also adds Dataset.anonymize)
from ._dp import dp_audit_epsilon, dp_audit_guesses, dp_epsilon, dp_noise_multiplier  # noqa: E402
from ._crypt import decrypt_file, decrypt_to_memory, encrypt_file, is_encrypted_file, read_key_file  # noqa: E402
from ._dp_sgd import DP, example_norms  # noqa: E402
