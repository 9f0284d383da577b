"""The transformer classifier (dm_model_*) and fine-tuning: dm_train, and its
pieces (trainable tensors, forward_backward, dm_optimizer, dm_trainer).
Imported by datamodel/__init__.py; use `import datamodel`."""
import array
import collections
import contextlib
import ctypes
import inspect
import os
import threading

from . import (_INVALID_UTF8, _PROGRESS, Error, Tokenizer, _array_address, _bytes, _c_i32, _c_size, _check,
               _checked_ndarray, _choice, _int_array, _int_rows, _lib, _Progress, _sig)
from ._data import Dataset, Report, _ReportP

try:  # optional: accepted as input and, on request, returned
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the machine
    _np = None

# ---------------------------------------------------------------------------- C declarations


class _ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("num_labels", _c_size), ("labels", ctypes.POINTER(ctypes.c_char_p)),
                ("n_labels", _c_size), ("seed", ctypes.c_uint64), ("device", ctypes.c_int),
                ("threads", ctypes.c_int), ("precision", ctypes.c_int), ("new_head", ctypes.c_int),
                ("key", ctypes.POINTER(ctypes.c_uint8))]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("vocab_size", _c_size), ("hidden_size", _c_size),
                ("num_layers", _c_size), ("num_heads", _c_size), ("intermediate_size", _c_size),
                ("max_position_embeddings", _c_size), ("type_vocab_size", _c_size), ("num_labels", _c_size),
                ("num_parameters", _c_size), ("new_head", ctypes.c_int), ("device", ctypes.c_int),
                ("backend_name", ctypes.c_char_p), ("precision", ctypes.c_int),
                ("num_trainable_parameters", _c_size), ("memory_bytes", _c_size),
                ("memory_peak_bytes", _c_size)]


class _InferOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("max_length", _c_size), ("batch_size", _c_size),
                ("pooling", ctypes.c_int), ("normalize", ctypes.c_int), ("invalid_utf8", ctypes.c_int),
                ("progress", _PROGRESS), ("progress_user", ctypes.c_void_p)]


class _TrainProgress(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("step", ctypes.c_uint64), ("total_steps", ctypes.c_uint64),
                ("epoch", ctypes.c_double), ("epochs", ctypes.c_int), ("loss", ctypes.c_double),
                ("learning_rate", ctypes.c_double), ("grad_norm", ctypes.c_double),
                ("examples_per_sec", ctypes.c_double), ("elapsed_sec", ctypes.c_double),
                ("eta_sec", ctypes.c_double), ("evaluated", ctypes.c_int), ("val_loss", ctypes.c_double),
                ("val_accuracy", ctypes.c_double), ("val_macro_f1", ctypes.c_double),
                ("dp_epsilon", ctypes.c_double)]


_TRAIN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_TrainProgress), ctypes.c_void_p)


class _FitOptions(ctypes.Structure):  # dm_train_options (_TrainOptions is the tokenizer's)
    _fields_ = [("struct_size", _c_size), ("epochs", ctypes.c_int), ("max_steps", ctypes.c_uint64),
                ("batch_size", _c_size), ("grad_accum", ctypes.c_int), ("learning_rate", ctypes.c_double),
                ("weight_decay", ctypes.c_double), ("adam_beta1", ctypes.c_double),
                ("adam_beta2", ctypes.c_double), ("adam_epsilon", ctypes.c_double),
                ("max_grad_norm", ctypes.c_double), ("schedule", ctypes.c_int), ("warmup_ratio", ctypes.c_double),
                ("warmup_steps", ctypes.c_uint64), ("max_length", _c_size), ("seed", ctypes.c_uint64),
                ("dropout", ctypes.c_double), ("shuffle", ctypes.c_int), ("group_by_length", ctypes.c_int),
                ("class_weights", ctypes.POINTER(ctypes.c_float)), ("balanced_class_weights", ctypes.c_int),
                ("eval_steps", ctypes.c_uint64), ("early_stopping_patience", ctypes.c_int),
                ("keep_best", ctypes.c_int), ("output_dir", ctypes.c_char_p), ("checkpoint_steps", ctypes.c_uint64),
                ("checkpoint_limit", ctypes.c_int), ("resume_from", ctypes.c_char_p),
                ("log_jsonl", ctypes.c_char_p), ("threads", ctypes.c_int), ("callback", _TRAIN_FN),
                ("callback_user", ctypes.c_void_p), ("freeze_embeddings", ctypes.c_int),
                ("freeze_layers", ctypes.c_int), ("rank", ctypes.c_int), ("world_size", ctypes.c_int),
                ("precision", ctypes.c_int), ("dp_epsilon", ctypes.c_double), ("dp_delta", ctypes.c_double),
                ("dp_max_grad_norm", ctypes.c_double), ("dp_noise", ctypes.c_double),
                ("dp_noise_seed", ctypes.c_uint64)]


class _TrainResult(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("steps", ctypes.c_uint64), ("epochs", ctypes.c_double),
                ("final_loss", ctypes.c_double), ("best_val_metric", ctypes.c_double),
                ("best_step", ctypes.c_uint64), ("stopped_early", ctypes.c_int), ("seconds", ctypes.c_double)]


class _Batch(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("batch", _c_size), ("seq_len", _c_size),
                ("ids", ctypes.POINTER(_c_i32)), ("type_ids", ctypes.POINTER(_c_i32)),
                ("attention_mask", ctypes.POINTER(ctypes.c_uint8)), ("labels", ctypes.POINTER(_c_i32)),
                ("weights", ctypes.POINTER(ctypes.c_float))]


class _BackwardOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("grad_scale", ctypes.c_double), ("dropout", ctypes.c_double),
                ("seed", ctypes.c_uint64), ("stream", ctypes.c_uint64)]


class _OptimizerOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("learning_rate", ctypes.c_double), ("weight_decay", ctypes.c_double),
                ("adam_beta1", ctypes.c_double), ("adam_beta2", ctypes.c_double), ("adam_epsilon", ctypes.c_double),
                ("max_grad_norm", ctypes.c_double), ("schedule", ctypes.c_int), ("warmup_steps", ctypes.c_uint64),
                ("total_steps", ctypes.c_uint64)]


class _StepInfo(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("step", ctypes.c_uint64), ("learning_rate", ctypes.c_double),
                ("grad_norm", ctypes.c_double)]


_Mdl = ctypes.c_void_p
_Opt = ctypes.c_void_p
_Trn = ctypes.c_void_p
_status = ctypes.c_int
_floatp = ctypes.POINTER(ctypes.c_float)
_charpp = ctypes.POINTER(ctypes.c_char_p)
_sizep = ctypes.POINTER(_c_size)

_sig("dm_model_options_default", None, ctypes.POINTER(_ModelOptions))
_sig("dm_model_load", _status, ctypes.c_char_p, ctypes.POINTER(_ModelOptions), ctypes.POINTER(_Mdl))
_sig("dm_model_save", _status, _Mdl, ctypes.c_char_p)
_sig("dm_model_free", None, _Mdl)
_sig("dm_model_get_info", _status, _Mdl, ctypes.POINTER(_ModelInfo))
_sig("dm_model_label_name", ctypes.c_char_p, _Mdl, _c_i32)
_sig("dm_model_tokenizer", ctypes.c_void_p, _Mdl)
_sig("dm_model_set_threads", _status, _Mdl, ctypes.c_int)
_sig("dm_model_set_precision", _status, _Mdl, ctypes.c_int)
_sig("dm_model_forward", _status, _Mdl, _c_size, _c_size, ctypes.POINTER(_c_i32), ctypes.POINTER(_c_i32),
     ctypes.POINTER(ctypes.c_uint8), _floatp, _floatp, _floatp)
_sig("dm_infer_options_default", None, ctypes.POINTER(_InferOptions))
_sig("dm_model_predict", _status, _Mdl, _c_size, _charpp, _sizep, _charpp, _sizep, ctypes.POINTER(_InferOptions),
     _floatp, _floatp, ctypes.POINTER(_c_i32))
_sig("dm_model_embed", _status, _Mdl, _c_size, _charpp, _sizep, ctypes.POINTER(_InferOptions), _floatp)
_sig("dm_model_evaluate", _status, _Mdl, ctypes.c_void_p, ctypes.POINTER(_InferOptions), ctypes.POINTER(_ReportP))
_sig("dm_train_options_default", None, ctypes.POINTER(_FitOptions))
_sig("dm_train", _status, _Mdl, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_FitOptions),
     ctypes.POINTER(_TrainResult))
_sig("dm_model_set_trainable", _status, _Mdl, ctypes.c_char_p, ctypes.c_int)
_sig("dm_model_is_trainable", ctypes.c_int, _Mdl, ctypes.c_char_p)
_sig("dm_backward_options_default", None, ctypes.POINTER(_BackwardOptions))
_sig("dm_model_forward_backward", _status, _Mdl, ctypes.POINTER(_Batch), ctypes.POINTER(_BackwardOptions),
     ctypes.POINTER(ctypes.c_double), _floatp)
_sig("dm_model_zero_grad", _status, _Mdl)
_sig("dm_model_get_grad", _status, _Mdl, ctypes.c_char_p, _floatp, _c_size)
_sig("dm_optimizer_options_default", None, ctypes.POINTER(_OptimizerOptions))
_sig("dm_optimizer_create", _status, _Mdl, ctypes.POINTER(_OptimizerOptions), ctypes.POINTER(_Opt))
_sig("dm_optimizer_free", None, _Opt)
_sig("dm_optimizer_step", _status, _Opt, ctypes.POINTER(_StepInfo))
_sig("dm_optimizer_steps", ctypes.c_uint64, _Opt)
_sig("dm_optimizer_save", _status, _Opt, ctypes.c_char_p)
_sig("dm_optimizer_load", _status, _Opt, ctypes.c_char_p)
_sig("dm_trainer_create", _status, _Mdl, _Opt, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(_FitOptions),
     ctypes.POINTER(_Trn))
_sig("dm_trainer_free", None, _Trn)
_sig("dm_trainer_step", _status, _Trn, ctypes.POINTER(_TrainProgress))
_sig("dm_trainer_done", ctypes.c_int, _Trn)
_sig("dm_trainer_evaluate", _status, _Trn, ctypes.POINTER(_ReportP))
_sig("dm_trainer_save", _status, _Trn, ctypes.c_char_p)
_sig("dm_trainer_resume", _status, _Trn, ctypes.c_char_p)
_sig("dm_trainer_run", _status, _Trn, ctypes.POINTER(_TrainResult))


def _defaults(struct, fn):
    o = struct()
    fn(ctypes.byref(o))
    return o


# The library's defaults, used as the keyword defaults below.
_MD = _defaults(_ModelOptions, _lib.dm_model_options_default)
_ID = _defaults(_InferOptions, _lib.dm_infer_options_default)
_TD = _defaults(_FitOptions, _lib.dm_train_options_default)
_BD = _defaults(_BackwardOptions, _lib.dm_backward_options_default)
_OD = _defaults(_OptimizerOptions, _lib.dm_optimizer_options_default)

_DEVICE = {"auto": 0, "cpu": 1, "cuda": 2}
_DEVICE_NAME = {v: k for k, v in _DEVICE.items()}
_PRECISION = {"fp32": 0, "bf16": 1}
_PRECISION_NAME = {v: k for k, v in _PRECISION.items()}
_POOLING = {None: 0, "default": 0, "cls": 1, "mean": 2}
_NORMALIZE = {None: -1, False: 0, True: 1}
_SCHEDULE = {"linear": 0, "constant": 1, "cosine": 2}
_LENGTHS = {"mixed": 0, "sorted": 1, "buckets": 2}  # dm_length_grouping

_INVALID_ARGUMENT = 1
_NOT_FOUND = 5
_BUSY = 13


def _ranged(value, name, lo, hi):
    """VALUE as an int in [LO, HI]; else datamodel.Error(DM_ERR_INVALID_ARGUMENT)
    (ctypes would wrap it silently)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}") from None
    if not lo <= v <= hi:
        raise Error(_INVALID_ARGUMENT, f"{name} = {v} is out of range [{lo}, {hi}]")
    return v


def _size(value, name):
    return _ranged(value, name, 0, 2**64 - 1)


def _cint(value, name, lo=-2**31):
    return _ranged(value, name, lo, 2**31 - 1)


def _c_name(name, what):
    """NAME (str or bytes) as NUL-terminated bytes for a C string parameter; a
    NUL inside would cut it short in C, so it is a ValueError."""
    b = _bytes(name, what)
    if b"\0" in b:
        raise ValueError(f"{what} {name!r} contains a NUL byte")
    return b


_LAYER_PREFIX = "bert.encoder.layer."


def _tensor_shape(info, name):
    """The shape of the model's tensor NAME (Hugging Face name, as safetensors
    lays it out), from the model's dimensions (the table of lib/model/bert.c);
    None for a name that is not one of them."""
    V, H, P, TV = info["vocab_size"], info["hidden_size"], info["max_position_embeddings"], info["type_vocab_size"]
    I, L = info["intermediate_size"], info["num_labels"]
    fixed = {"bert.embeddings.word_embeddings.weight": (V, H), "bert.embeddings.position_embeddings.weight": (P, H),
             "bert.embeddings.token_type_embeddings.weight": (TV, H), "bert.embeddings.LayerNorm.weight": (H,),
             "bert.embeddings.LayerNorm.bias": (H,), "bert.pooler.dense.weight": (H, H),
             "bert.pooler.dense.bias": (H,), "classifier.weight": (L, H), "classifier.bias": (L,)}
    if name in fixed:
        return fixed[name]
    if not name.startswith(_LAYER_PREFIX):
        return None
    layer, _, rest = name[len(_LAYER_PREFIX):].partition(".")
    if not layer.isdigit() or str(int(layer)) != layer or int(layer) >= info["num_layers"]:
        return None
    per_layer = {"output.dense.weight": (H, I), "output.dense.bias": (H,), "intermediate.dense.weight": (I, H),
                 "intermediate.dense.bias": (I,), "attention.output.dense.weight": (H, H),
                 "attention.output.dense.bias": (H,)}
    for ln in ("attention.output.LayerNorm.", "output.LayerNorm."):
        per_layer[ln + "weight"] = per_layer[ln + "bias"] = (H,)
    for qkv in ("query", "key", "value"):
        per_layer[f"attention.self.{qkv}.weight"] = (H, H)
        per_layer[f"attention.self.{qkv}.bias"] = (H,)
    return per_layer.get(rest)


def _float_vector(values, what, n):
    """(pointer, keepalive) of N float32 values from a list or a 1-D numpy array."""
    if _np is not None and isinstance(values, _np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"{what} must be 1-D; got shape {values.shape}")
        a = _np.ascontiguousarray(values, dtype=_np.float32)
        keep, ptr = a, a.ctypes.data_as(_floatp)
    else:
        try:
            keep = array.array("f", values)
        except TypeError:
            raise TypeError(f"{what} must be a list of numbers") from None
        ptr = ctypes.cast(_array_address(keep), _floatp) if len(keep) else None
    if len(keep) != n:
        raise ValueError(f"{what} has {len(keep)} values but the batch has {n} sequences")
    return ptr, keep


def _want_numpy(flag):
    if flag and _np is None:
        raise ImportError("return_numpy=True needs numpy, which is not installed")
    return bool(flag)


class _Out:
    """An output float32 buffer of SHAPE: a numpy array or a ctypes array."""

    def __init__(self, shape, numpy):
        self.shape = shape
        self.numpy = numpy
        n = 1
        for d in shape:
            n *= d
        if numpy:
            self.buf = _np.empty(shape, dtype=_np.float32)
            self.ptr = self.buf.ctypes.data_as(_floatp)
        else:
            self.buf = (ctypes.c_float * max(n, 1))()
            self.ptr = ctypes.cast(self.buf, _floatp)
        self.n = n

    def value(self):
        if self.numpy:
            return self.buf
        flat = self.buf[:self.n]
        for d in reversed(self.shape[1:]):
            flat = [flat[i:i + d] for i in range(0, len(flat), d)]
        return flat


def _text_arrays(texts, what):
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a list of texts, not a single string")
    data = [_bytes(t, what[:-1] if what.endswith("s") else what) for t in texts]
    n = len(data)
    return (ctypes.c_char_p * max(n, 1))(*data), (_c_size * max(n, 1))(*map(len, data)), data


def _int_matrix(rows, what, ctype):
    """(pointer, keepalive, batch, seq_len) of a 2-D list of equal-length lists or a 2-D numpy array. Every value
    must fit CTYPE (int32 or uint8): ctypes and numpy's astype would wrap it silently, so one that does not is
    an OverflowError (also a ValueError) naming its row and column."""
    code = "B" if ctype is ctypes.c_uint8 else "i"
    if _np is not None and isinstance(rows, _np.ndarray):
        if rows.ndim != 2:
            raise ValueError(f"{what} must be 2-D (batch x seq_len); got shape {rows.shape}")
        a = _checked_ndarray(rows, what, code)
        return a.ctypes.data_as(ctypes.POINTER(ctype)), a, a.shape[0], a.shape[1]
    rows = list(rows)
    if rows and not hasattr(rows[0], "__len__"):
        raise ValueError(f"{what} must be a list of sequences (batch x seq_len), not a flat list")
    width = len(rows[0]) if rows else 0
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"{what}[{i}] has length {len(r)}, expected {width} (all sequences must have "
                             "equal lengths: pad them)")
    flat = _int_rows(rows, what, code)
    if not flat:
        flat.append(0)  # a valid pointer for an empty matrix
    return ctypes.cast(_array_address(flat), ctypes.POINTER(ctype)), flat, len(rows), width


# ---------------------------------------------------------------------------- results


ForwardOutput = collections.namedtuple("ForwardOutput", ["logits", "hidden", "pooled"])
ForwardOutput.__doc__ = """What Model.forward returns: logits (batch x num_labels), hidden (batch x
seq_len x hidden_size, or None unless output_hidden) and pooled (batch x
hidden_size, or None unless output_pooled)."""


class Prediction:
    """What Model.predict returns: labels (the argmax label names), label_ids
    (their ids), probs (softmax, n x num_labels) and logits (n x num_labels).
    probs and logits are lists of lists, or numpy arrays with
    return_numpy=True. len(p) is the number of texts; p[i] and iteration give
    (label_name, probs_row) tuples."""

    __slots__ = ("labels", "label_ids", "probs", "logits")

    def __init__(self, labels, label_ids, probs, logits):
        self.labels, self.label_ids, self.probs, self.logits = labels, label_ids, probs, logits

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.labels[i], list(self.probs[i])

    def __iter__(self):
        for i in range(len(self.labels)):
            yield self[i]

    def __repr__(self):
        return f"Prediction(labels={self.labels})"


# ---------------------------------------------------------------------------- model


class _ModelHandle:
    """Owns a dm_model: frees it when the last Python object using it goes
    (the Model, and any Tokenizer borrowed from it)."""

    __slots__ = ("h",)

    def __init__(self, h):
        self.h = h

    def __del__(self):
        h, self.h = self.h, None
        if h:
            _lib.dm_model_free(h)


class _ModelTokenizer(Tokenizer):
    """The model's own tokenizer. It does not own its handle: it keeps the
    model's C memory alive while it exists, and close() only detaches it."""

    def __init__(self, handle, owner):  # noqa: super().__init__ is not wanted
        self._h = handle
        self._owner = owner

    def close(self):
        """Detaches from the model (the model owns and frees the tokenizer)."""
        self._h = None
        self._owner = None


def _batch(ids, labels, type_ids, attention_mask, weights):
    """(dm_batch, keepalive, batch size, ids is numpy) from a batch's arguments (Model.forward_backward,
    datamodel.DP.forward_backward, datamodel.example_norms)."""
    numpy = _np is not None and isinstance(ids, _np.ndarray)
    pid, kid, batch, seq = _int_matrix(ids, "ids", _c_i32)
    b = _Batch()
    b.struct_size = ctypes.sizeof(b)
    b.batch, b.seq_len, b.ids = batch, seq, pid
    keep = [kid]
    if type_ids is not None:
        ptype, kt, nb, ns = _int_matrix(type_ids, "type_ids", _c_i32)
        if (nb, ns) != (batch, seq):
            raise ValueError(f"type_ids is {nb} x {ns} but ids is {batch} x {seq}")
        b.type_ids = ptype
        keep.append(kt)
    if attention_mask is not None:
        pmask, km, nb, ns = _int_matrix(attention_mask, "attention_mask", ctypes.c_uint8)
        if (nb, ns) != (batch, seq):
            raise ValueError(f"attention_mask is {nb} x {ns} but ids is {batch} x {seq}")
        b.attention_mask = pmask
        keep.append(km)
    if isinstance(labels, (str, bytes)):
        raise TypeError("labels must be a list of label ids")
    y = _int_array(labels, "labels", "i")
    if len(y) != batch:
        raise ValueError(f"labels has {len(y)} values but ids has {batch} sequences")
    if not len(y):
        y.append(0)  # a valid pointer for an empty batch: the library names what is wrong
    keep.append(y)
    b.labels = ctypes.cast(_array_address(y), ctypes.POINTER(_c_i32))
    if weights is not None:
        b.weights, kw = _float_vector(weights, "weights", batch)
        keep.append(kw)
    return b, keep, batch, numpy


def _backward_options(grad_scale, dropout, seed, stream):
    o = _BackwardOptions()
    _lib.dm_backward_options_default(ctypes.byref(o))
    o.grad_scale = float(grad_scale)
    o.dropout = -1.0 if dropout is None else float(dropout)
    o.seed = _size(seed, "seed")
    o.stream = _size(stream, "stream")
    return o


class Model:
    """A BERT sequence classifier with its tokenizer and label names
    (dm_model). Load with Model.load; close() or a `with` block releases it
    (a Tokenizer taken from .tokenizer stays usable until it is closed or
    collected). Calls from several threads are serialised by a lock."""

    def __init__(self, owner):
        if not isinstance(owner, _ModelHandle):
            raise ValueError("use Model.load")
        self._lock = threading.RLock()
        self._own = owner
        self._users = 0  # open Optimizers and Trainers of this model (they keep it open)

    @classmethod
    def load(cls, path, num_labels=_MD.num_labels, labels=None, seed=_MD.seed, device="auto",
             threads=_MD.threads, precision="fp32", new_head=False, key=None):
        """Loads a Hugging Face model folder (dm_model_load): config.json,
        model.safetensors and the tokenizer files. num_labels: 0 takes it
        from config.json or LABELS; else a head of another size is replaced.
        labels: label names in id order (None: from config.json, else
        LABEL_0, ...). seed: the initialisation of a new head. device: "auto",
        "cpu" or "cuda". threads: 0 = all cores. precision: "fp32" or "bf16"
        (inference with bfloat16 matrix products, see set_precision).
        new_head: a new classification head even when the folder has one for
        these labels. Labels never silently change meaning: labels naming the
        folder's trained labels in another order reorder the head; other
        names over a trained head raise unless new_head=True; a config.json
        that does not belong to the weights raises (see dm_model_load).
        key: None for plain weights; else 32 bytes (datamodel.read_key_file):
        the folder's weights are dm-encrypted (model.safetensors.enc, or an
        encrypted model.safetensors) and are decrypted in memory, never on
        disk; config.json and the tokenizer files stay plain. Encrypted
        weights without a key raise Error DM_ERR_INVALID_ARGUMENT saying they
        need one; a wrong key, a tampered or cut file, or a key given for
        plain weights DM_ERR_AUTH. Calls on one model from several threads are serialised; while it
        trains on another thread they raise DM_ERR_BUSY."""
        o = _ModelOptions()
        _lib.dm_model_options_default(ctypes.byref(o))
        o.num_labels = _size(num_labels, "num_labels")
        keep = None
        if labels is not None:
            if isinstance(labels, (str, bytes)):
                raise TypeError("labels must be a list of label names, not a single string")
            data = [_bytes(x if isinstance(x, (str, bytes)) else str(x), "label") for x in labels]
            keep = (ctypes.c_char_p * max(len(data), 1))(*data)
            o.labels = keep
            o.n_labels = len(data)
        o.seed = _size(seed, "seed")
        o.device = _choice(_DEVICE, device, "device")
        o.threads = _cint(threads, "threads")
        o.precision = _choice(_PRECISION, precision, "precision")
        o.new_head = 1 if new_head else 0
        k = None
        if key is not None:
            from ._crypt import _key
            k = _key(key)
            o.key = ctypes.cast(k, ctypes.POINTER(ctypes.c_uint8))
        h = _Mdl()
        try:
            _check(_lib.dm_model_load(os.fsencode(path), ctypes.byref(o), ctypes.byref(h)))
        finally:
            if k is not None:
                ctypes.memset(k, 0, 32)
        del keep
        return cls(_ModelHandle(h))

    # ---- lifetime
    def close(self):
        """Releases the model (at once, or when the last Tokenizer taken from
        it goes); safe to call twice. While an Optimizer or a Trainer of the
        model is open it raises datamodel.Error DM_ERR_BUSY and does nothing:
        close them first."""
        with self._lock:
            if self._users:
                raise Error(_BUSY, f"the model has {self._users} open Optimizer/Trainer object(s): close them "
                                   "first")
            self._own = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def _use(self):
        """Holds the model's lock and gives its C handle."""
        with self._lock:
            own = self._own
            if own is None:
                raise ValueError("the model is closed")
            yield own.h

    # ---- description
    def save(self, directory):
        """Saves a BertForSequenceClassification folder that transformers
        loads (config.json, model.safetensors, tokenizer files)."""
        with self._use() as h:
            _check(_lib.dm_model_save(h, os.fsencode(directory)))

    @property
    def info(self):
        """A dict: vocab_size, hidden_size, num_layers, num_heads,
        intermediate_size, max_position_embeddings, type_vocab_size,
        num_labels, num_parameters, new_head (bool), device ("cpu" or
        "cuda"), backend_name, precision ("fp32" or "bf16"),
        num_trainable_parameters (floats of the trainable tensors, see
        set_trainable), memory_bytes and memory_peak_bytes (the backend's
        memory held now and at most since loading: GPU memory on CUDA)."""
        i = _ModelInfo()
        i.struct_size = ctypes.sizeof(i)
        with self._use() as h:
            _check(_lib.dm_model_get_info(h, ctypes.byref(i)))
        d = {f: getattr(i, f) for f, _ in _ModelInfo._fields_[1:]}
        d["new_head"] = bool(d["new_head"])
        d["device"] = _DEVICE_NAME.get(d["device"], d["device"])
        d["backend_name"] = (d["backend_name"] or b"").decode("utf-8", "replace")
        d["precision"] = _PRECISION_NAME.get(d["precision"], d["precision"])
        return d

    def label_name(self, id):
        """The name of label ID, or None when out of range."""
        if not -2**31 <= int(id) < 2**31:
            return None
        with self._use() as h:
            s = _lib.dm_model_label_name(h, int(id))
            return None if s is None else s.decode("utf-8", "replace")

    @property
    def labels(self):
        """The label names in id order."""
        return [self.label_name(j) for j in range(self.info["num_labels"])]

    @property
    def tokenizer(self):
        """The model's Tokenizer. It shares the model's memory (which it keeps
        alive); closing it only detaches it."""
        with self._use() as h:
            return _ModelTokenizer(ctypes.c_void_p(_lib.dm_model_tokenizer(h)), self._own)

    def set_threads(self, threads):
        """Threads for compute (0 = all cores)."""
        threads = _cint(threads, "threads")
        with self._use() as h:
            _check(_lib.dm_model_set_threads(h, threads))

    def set_precision(self, precision):
        """Precision of inference (dm_model_set_precision): "fp32" (float32
        throughout, the default) or "bf16" (matrix products on bfloat16 inputs
        with float32 accumulation: about twice as fast on CPUs with
        AVX512-BF16, results within ~1e-2 of fp32). Training is float32."""
        value = _choice(_PRECISION, precision, "precision")
        with self._use() as h:
            _check(_lib.dm_model_set_precision(h, value))

    # ---- inference
    def forward(self, ids, type_ids=None, attention_mask=None, output_hidden=False, output_pooled=False):
        """The encoder and head on token ids (dm_model_forward), dropout off.

        ids, type_ids, attention_mask: batch x seq_len, as lists of
        equal-length lists or 2-D numpy arrays (type_ids None: zeros;
        attention_mask None: all ones, else 1 = token, 0 = padding). Returns
        a ForwardOutput(logits, hidden, pooled); hidden and pooled are None
        unless asked for. Outputs are numpy float32 arrays when ids is a
        numpy array, else nested lists. A value that does not fit int32
        (ids, type_ids) or uint8 (attention_mask) raises OverflowError (also
        a ValueError) naming its row and column."""
        numpy = _np is not None and isinstance(ids, _np.ndarray)
        pid, kid, batch, seq = _int_matrix(ids, "ids", _c_i32)
        ptype = kt = pmask = km = None
        if type_ids is not None:
            ptype, kt, b, s = _int_matrix(type_ids, "type_ids", _c_i32)
            if (b, s) != (batch, seq):
                raise ValueError(f"type_ids is {b} x {s} but ids is {batch} x {seq}")
        if attention_mask is not None:
            pmask, km, b, s = _int_matrix(attention_mask, "attention_mask", ctypes.c_uint8)
            if (b, s) != (batch, seq):
                raise ValueError(f"attention_mask is {b} x {s} but ids is {batch} x {seq}")
        with self._use() as h:
            info = self.info
            logits = _Out((batch, info["num_labels"]), numpy)
            hidden = _Out((batch, seq, info["hidden_size"]), numpy) if output_hidden else None
            pooled = _Out((batch, info["hidden_size"]), numpy) if output_pooled else None
            _check(_lib.dm_model_forward(h, batch, seq, pid, ptype, pmask, logits.ptr,
                                         hidden.ptr if hidden else None, pooled.ptr if pooled else None))
        del kid, kt, km
        return ForwardOutput(logits.value(), hidden.value() if hidden else None,
                             pooled.value() if pooled else None)

    def _infer_options(self, batch_size, max_length, invalid_utf8, progress, pooling=None, normalize=None):
        o = _InferOptions()
        _lib.dm_infer_options_default(ctypes.byref(o))
        o.batch_size = _ranged(batch_size, "batch_size", 1, 2**64 - 1)  # 0 is refused too: say so
        o.max_length = _size(max_length, "max_length")
        o.invalid_utf8 = _choice(_INVALID_UTF8, invalid_utf8, "invalid_utf8")
        o.pooling = _choice(_POOLING, pooling, "pooling")
        o.normalize = _choice(_NORMALIZE, normalize, "normalize")
        if progress is not None:
            o.progress = progress.c
        return o

    def predict(self, texts, pairs=None, batch_size=_ID.batch_size, max_length=_ID.max_length,
                invalid_utf8="error", progress=None, return_numpy=False):
        """Classifies TEXTS (and PAIRS, one per text) (dm_model_predict).
        max_length: 0 = max_position_embeddings; longer texts are truncated.
        progress(done, total) in texts: returning True (any truthy value)
        cancels with Error DM_ERR_CANCELLED, None/False goes on. Returns a
        Prediction (.labels, .label_ids, .probs, .logits)."""
        numpy = _want_numpy(return_numpy)
        arr, lens, keep = _text_arrays(texts, "texts")
        n = len(keep)
        parr = plens = None
        if pairs is not None:
            parr, plens, pkeep = _text_arrays(pairs, "pairs")
            if len(pkeep) != n:
                raise ValueError(f"{n} texts but {len(pkeep)} pairs")
        cb = _Progress(progress)
        o = self._infer_options(batch_size, max_length, invalid_utf8, cb if progress is not None else None)
        with self._use() as h:
            L = self.info["num_labels"]
            logits, probs = _Out((n, L), numpy), _Out((n, L), numpy)
            ids = (_c_i32 * max(n, 1))()
            status = _lib.dm_model_predict(h, n, arr, lens, parr, plens, ctypes.byref(o), logits.ptr, probs.ptr, ids)
            cb.reraise()
            _check(status)
            names = self.labels
        label_ids = ids[:n]
        return Prediction([names[j] for j in label_ids], label_ids, probs.value(), logits.value())

    def embed(self, texts, pooling="default", normalize=None, batch_size=_ID.batch_size, max_length=_ID.max_length,
              invalid_utf8="error", progress=None, return_numpy=False):
        """Sentence embeddings of TEXTS (dm_model_embed): n lists of
        hidden_size floats (a numpy array with return_numpy=True).
        pooling: "default" (the folder's sentence-transformers pooling, else
        CLS), "cls" or "mean". normalize: None (as the folder says), True or
        False. max_length: 0 = sentence-transformers' max_seq_length, else
        max_position_embeddings. progress(done, total) in texts: returning
        True cancels with Error DM_ERR_CANCELLED, None/False goes on."""
        numpy = _want_numpy(return_numpy)
        arr, lens, keep = _text_arrays(texts, "texts")
        n = len(keep)
        cb = _Progress(progress)
        o = self._infer_options(batch_size, max_length, invalid_utf8, cb if progress is not None else None,
                                pooling, normalize)
        with self._use() as h:
            out = _Out((n, self.info["hidden_size"]), numpy)
            status = _lib.dm_model_embed(h, n, arr, lens, ctypes.byref(o), out.ptr)
            cb.reraise()
            _check(status)
        return out.value()

    def evaluate(self, dataset, batch_size=_ID.batch_size, max_length=_ID.max_length, invalid_utf8="error",
                 progress=None):
        """Predicts every row of DATASET (its labels named as the model's)
        and returns the Report, with the mean cross-entropy as .loss
        (dm_model_evaluate). progress(done, total) in rows: returning True
        cancels with Error DM_ERR_CANCELLED, None/False goes on."""
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a datamodel.Dataset, not {type(dataset).__name__}")
        cb = _Progress(progress)
        o = self._infer_options(batch_size, max_length, invalid_utf8, cb if progress is not None else None)
        out = _ReportP()
        with self._use() as h:
            status = _lib.dm_model_evaluate(h, dataset._handle(), ctypes.byref(o), ctypes.byref(out))
            cb.reraise()
            _check(status)
        return Report._take(out)

    # ---- training pieces: trainable tensors, forward and backward, gradients
    def set_trainable(self, prefix, trainable=True):
        """Marks the tensors whose Hugging Face names start with PREFIX (e.g.
        "bert.embeddings.", "bert.encoder.layer.0.", "" for all) as trainable
        or frozen (dm_model_set_trainable); all are trainable at load. A
        frozen tensor gets no gradient and no optimizer state, and the
        backward pass stops below the lowest trainable layer. A layer's
        query, key and value go together (DM_ERR_UNSUPPORTED otherwise).
        Raises DM_ERR_NOT_FOUND when no tensor matches, DM_ERR_BUSY while an
        Optimizer (or a Trainer) of the model is open. Gradients accumulated
        so far are dropped."""
        data = _c_name(prefix, "prefix")
        with self._use() as h:
            _check(_lib.dm_model_set_trainable(h, data, 1 if trainable else 0))

    def is_trainable(self, name):
        """Whether the tensor NAME (a Hugging Face name, e.g.
        "classifier.weight") is trainable; Error DM_ERR_NOT_FOUND when the
        model has no such tensor (dm_model_is_trainable)."""
        data = _c_name(name, "name")
        with self._use() as h:
            v = _lib.dm_model_is_trainable(h, data)
        if v < 0:
            raise Error(_NOT_FOUND, f"the model has no tensor {data.decode('utf-8', 'replace')!r}")
        return bool(v)

    def forward_backward(self, ids, labels, type_ids=None, attention_mask=None, weights=None,
                         grad_scale=_BD.grad_scale, dropout=_BD.dropout, seed=_BD.seed, stream=_BD.stream,
                         return_logits=False):
        """The forward and backward pass on one batch of token ids
        (dm_model_forward_backward): the cross-entropy loss_i of each
        sequence, and the gradients of grad_scale * sum_i w_i loss_i ADDED to
        the model's gradients of its trainable tensors (they accumulate over
        calls until Optimizer.step() or zero_grad() clears them). For the
        batch's mean loss pass grad_scale=1/sum(weights) (1/batch without
        weights).

        ids, type_ids, attention_mask: batch x seq_len, as in forward()
        (type_ids None: zeros; attention_mask None: all ones, every row needs
        a 1). labels: batch label ids of the model (-1: no loss for that
        sequence). weights: batch per-example loss weights >= 0 (None: all
        1). dropout: -1 (or None) config.json's rates, 0 off, else every
        rate; seed and stream name the dropout masks (use a new stream per
        batch, e.g. the batch's number). Lists or numpy arrays; values that
        do not fit int32 (ids, type_ids, labels) or uint8 (attention_mask)
        raise OverflowError (also a ValueError) naming their index.

        Returns loss_sum = sum_i w_i loss_i (a float), or (loss_sum, logits)
        with return_logits=True: batch x num_labels, a numpy float32 array
        when ids is a numpy array, else nested lists."""
        b, keep, batch, numpy = _batch(ids, labels, type_ids, attention_mask, weights)
        o = _backward_options(grad_scale, dropout, seed, stream)
        loss = ctypes.c_double()
        with self._use() as h:
            logits = _Out((batch, self.info["num_labels"]), numpy) if return_logits else None
            _check(_lib.dm_model_forward_backward(h, ctypes.byref(b), ctypes.byref(o), ctypes.byref(loss),
                                                  logits.ptr if logits else None))
        del keep
        return (loss.value, logits.value()) if return_logits else loss.value

    def zero_grad(self):
        """Sets the model's gradients to zero (dm_model_zero_grad)."""
        with self._use() as h:
            _check(_lib.dm_model_zero_grad(h))

    def grad(self, name, return_numpy=False):
        """The model's accumulated gradient of the tensor NAME (a Hugging
        Face name), shaped as the tensor (safetensors' layout): nested lists,
        or a numpy float32 array with return_numpy=True
        (dm_model_get_grad). Error DM_ERR_NOT_FOUND for an unknown name,
        DM_ERR_INVALID_ARGUMENT for a frozen tensor (it has no gradient)."""
        numpy = _want_numpy(return_numpy)
        data = _c_name(name, "name")
        with self._use() as h:
            shape = _tensor_shape(self.info, data.decode("utf-8", "replace"))
            if shape is None:  # not a tensor of this model: the library says so (or names its size)
                dummy = ctypes.c_float()
                _check(_lib.dm_model_get_grad(h, data, ctypes.byref(dummy), 0))
                raise Error(_NOT_FOUND, f"the model has no tensor {name!r}")  # pragma: no cover
            out = _Out(shape, numpy)
            _check(_lib.dm_model_get_grad(h, data, out.ptr, out.n))
        return out.value()

    def __repr__(self):
        if getattr(self, "_own", None) is None:
            return "Model(closed)"
        i = self.info
        return (f"Model(layers={i['num_layers']}, hidden={i['hidden_size']}, labels={self.labels}, "
                f"backend={i['backend_name']!r})")


# ---------------------------------------------------------------------------- training


def _progress_dict(p):
    d = {f: getattr(p, f) for f, _ in _TrainProgress._fields_[1:]}
    d["evaluated"] = bool(d["evaluated"])
    return d


class _TrainCallback:
    """Wraps callback(progress_dict): truthy cancels, falsy goes on (as every
    progress callback of the library, in C, Python and Go). An exception
    inside it cancels training and is re-raised after dm_train returns."""

    def __init__(self, fn):
        self.fn = fn
        self.error = None
        self.c = _TRAIN_FN(self._call)

    def _call(self, p, _user):
        if self.error is not None:
            return 1
        try:
            return 1 if self.fn(_progress_dict(p.contents)) else 0
        except BaseException as e:  # noqa: BLE001 - re-raised after the C call returns
            self.error = e
            return 1


class _Fit:
    """A dm_train_options made from train()'s keywords (the library's defaults
    as theirs), holding what the library reads through its pointers (paths,
    class weights, the callback) for as long as it lives: a Trainer keeps
    reading them after dm_trainer_create returns."""

    def __init__(self, model, *, epochs=_TD.epochs, max_steps=_TD.max_steps, batch_size=_TD.batch_size,
                 grad_accum=_TD.grad_accum, learning_rate=_TD.learning_rate, weight_decay=_TD.weight_decay,
                 adam_beta1=_TD.adam_beta1, adam_beta2=_TD.adam_beta2, adam_epsilon=_TD.adam_epsilon,
                 max_grad_norm=_TD.max_grad_norm, schedule="linear", warmup_ratio=_TD.warmup_ratio,
                 warmup_steps=_TD.warmup_steps, max_length=_TD.max_length, seed=_TD.seed, dropout=_TD.dropout,
                 shuffle=bool(_TD.shuffle), group_by_length=True, class_weights=None,
                 balanced_class_weights=bool(_TD.balanced_class_weights), eval_steps=_TD.eval_steps,
                 early_stopping_patience=_TD.early_stopping_patience, keep_best=bool(_TD.keep_best),
                 output_dir=None, checkpoint_steps=_TD.checkpoint_steps, checkpoint_limit=_TD.checkpoint_limit,
                 resume_from=None, log_jsonl=None, threads=_TD.threads, callback=None,
                 freeze_embeddings=bool(_TD.freeze_embeddings), freeze_layers=_TD.freeze_layers, rank=_TD.rank,
                 world_size=_TD.world_size, precision="fp32", dp_epsilon=_TD.dp_epsilon, dp_delta=_TD.dp_delta,
                 dp_max_grad_norm=_TD.dp_max_grad_norm, dp_noise=_TD.dp_noise, dp_noise_seed=_TD.dp_noise_seed):
        o = _FitOptions()
        _lib.dm_train_options_default(ctypes.byref(o))
        o.epochs = _cint(epochs, "epochs")
        o.max_steps = _size(max_steps, "max_steps")
        o.batch_size = _ranged(batch_size, "batch_size", 1, 2**64 - 1)  # 0 is refused too: say so
        o.grad_accum = _cint(grad_accum, "grad_accum")
        o.learning_rate = float(learning_rate)
        o.weight_decay = float(weight_decay)
        o.adam_beta1 = float(adam_beta1)
        o.adam_beta2 = float(adam_beta2)
        o.adam_epsilon = float(adam_epsilon)
        o.max_grad_norm = float(max_grad_norm)
        o.schedule = _choice(_SCHEDULE, schedule, "schedule")
        o.warmup_ratio = float(warmup_ratio)
        o.warmup_steps = _size(warmup_steps, "warmup_steps")
        o.max_length = _size(max_length, "max_length")
        o.seed = _size(seed, "seed")
        o.dropout = -1.0 if dropout is None else float(dropout)
        o.shuffle = int(bool(shuffle))
        if group_by_length is False:
            o.group_by_length = _LENGTHS["mixed"]
        elif group_by_length is not True:  # True: the library's default grouping
            o.group_by_length = _choice(_LENGTHS, group_by_length, "group_by_length")
        keep = []
        if isinstance(class_weights, str):
            if class_weights != "balanced":
                raise ValueError(f"class_weights must be a list of floats or 'balanced'; got {class_weights!r}")
            balanced_class_weights = True
        elif class_weights is not None:
            weights = [float(w) for w in class_weights]
            n_labels = model.info["num_labels"]
            if len(weights) != n_labels:  # the library reads num_labels values
                raise Error(_INVALID_ARGUMENT, f"class_weights has {len(weights)} values but the model has "
                                               f"{n_labels} labels")
            arr = (ctypes.c_float * len(weights))(*weights)
            keep.append(arr)
            o.class_weights = arr
        o.balanced_class_weights = int(bool(balanced_class_weights))
        o.eval_steps = _size(eval_steps, "eval_steps")
        o.early_stopping_patience = _cint(early_stopping_patience, "early_stopping_patience")
        o.keep_best = int(bool(keep_best))
        for field, value in (("output_dir", output_dir), ("resume_from", resume_from), ("log_jsonl", log_jsonl)):
            if value is not None:
                b = os.fsencode(value)
                keep.append(b)
                setattr(o, field, b)
        o.checkpoint_steps = _size(checkpoint_steps, "checkpoint_steps")
        o.checkpoint_limit = _cint(checkpoint_limit, "checkpoint_limit")
        o.threads = _cint(threads, "threads")
        o.freeze_embeddings = int(bool(freeze_embeddings))
        o.freeze_layers = _cint(freeze_layers, "freeze_layers")
        o.rank = _cint(rank, "rank")
        o.world_size = _cint(world_size, "world_size")
        o.precision = _choice(_PRECISION, precision, "precision")
        o.dp_epsilon = float(dp_epsilon)  # ranges are the library's: it names a bad one
        o.dp_delta = float(dp_delta)
        o.dp_max_grad_norm = float(dp_max_grad_norm)
        o.dp_noise = float(dp_noise)
        o.dp_noise_seed = _size(dp_noise_seed, "dp_noise_seed")
        self.cb = None
        if callback is not None:
            self.cb = _TrainCallback(callback)
            o.callback = self.cb.c
        self.o, self.keep = o, keep
        self.resume_from = None if resume_from is None else os.fsencode(resume_from)

    def reraise(self):
        """Raises (once) the exception the callback raised, if any."""
        if self.cb is not None and self.cb.error is not None:
            e, self.cb.error = self.cb.error, None
            raise e


def _with_options_signature(fn, *leading):
    """Gives FN (which takes **options) the signature LEADING + the keywords of
    _Fit, so that help() and inspect show every option with its default."""
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, **({} if d is _NO else {"default": d}))
              for name, d in leading]
    params += [p for name, p in inspect.signature(_Fit.__init__).parameters.items() if name not in ("self", "model")]
    fn.__signature__ = inspect.Signature(params)
    return fn


_NO = object()


def _fit(where, model, options):
    """_Fit(model, **options), naming WHERE for a keyword it does not take."""
    names = inspect.signature(_Fit.__init__).parameters
    for name in options:
        if name in ("self", "model") or name not in names:
            raise TypeError(f"{where} got an unexpected keyword argument {name!r}")
    return _Fit(model, **options)


def _check_training_args(model, train, val):
    if not isinstance(model, Model):
        raise TypeError(f"model must be a datamodel.Model, not {type(model).__name__}")
    for name, ds in (("train", train), ("val", val)):
        if ds is not None and not isinstance(ds, Dataset):
            raise TypeError(f"{name} must be a datamodel.Dataset, not {type(ds).__name__}")
    if train is None:
        raise TypeError("train must be a datamodel.Dataset")


def _result_dict(res):
    d = {f: getattr(res, f) for f, _ in _TrainResult._fields_[1:]}
    d["stopped_early"] = bool(d["stopped_early"])
    return d


def train(model, train, val=None, **options):
    """Fine-tunes MODEL on the Dataset TRAIN with AdamW (dm_train), evaluating
    on the Dataset VAL when given. Every dm_train_options field is a keyword
    (defaults are the library's): schedule is "linear", "constant" or
    "cosine"; dropout -1 (or None) keeps config.json's rates; class_weights
    is a list of num_labels floats, or "balanced" (the same as
    balanced_class_weights=True); output_dir, resume_from and log_jsonl are
    paths or None; freeze_embeddings=True leaves the embedding tables and
    their LayerNorm untrained, freeze_layers=N the bottom N encoder layers
    (for the run only: the model's own trainable set is back afterwards).
    group_by_length is True (the library's default grouping, "buckets"), False (batches
    in the shuffled order: "mixed"), "sorted" (Hugging Face's
    LengthGroupedSampler) or "buckets" (its batches in a random order). rank
    and world_size place this worker among data-parallel ones (world_size
    above 1 raises DM_ERR_UNSUPPORTED until the gradient exchange exists).
    precision is "fp32" (default) or "bf16": mixed precision (the encoder's
    matrix products forward and backward in bfloat16, weights, AdamW and the
    rest in float32; part of a checkpoint's recipe).

    DP-SGD (see datamodel.DP): on when dp_epsilon > 0 or dp_noise > 0.
    Each step is a Poisson sample of the rows at rate batch_size *
    grad_accum / N, each example's gradient clipped to dp_max_grad_norm
    (default 1.0), Gaussian noise added; dp_noise 0 (default) chooses the
    noise multiplier so that the planned steps spend dp_epsilon at dp_delta
    (default 1e-5), else it is the noise multiplier (and dp_epsilon, when
    given, a budget the run stops at). dp_noise_seed: 0 keys the noise from
    the OS, else a fixed stream (tests only). max_grad_norm is not applied;
    float32 and one worker only. Every saved folder gets privacy.json.

    callback(progress) is called after every optimizer step and every
    evaluation with a dict (step, total_steps, epoch, epochs, loss,
    learning_rate, grad_norm, examples_per_sec, elapsed_sec, eta_sec,
    evaluated, val_loss, val_accuracy, val_macro_f1, dp_epsilon: the DP-SGD
    epsilon spent so far; NaN when not known);
    returning True stops training with datamodel.Error DM_ERR_CANCELLED (the
    model keeps the last step's weights). An exception raised in the callback
    stops training and is re-raised.

    Returns a dict: steps, epochs, final_loss, best_val_metric (validation
    accuracy of the best evaluation; NaN without VAL), best_step,
    stopped_early (bool), seconds. Trainer runs the same loop step by
    step."""
    _check_training_args(model, train, val)
    fit = _fit("train()", model, options)
    res = _TrainResult()
    res.struct_size = ctypes.sizeof(res)
    with model._use() as h:
        status = _lib.dm_train(h, train._handle(), None if val is None else val._handle(), ctypes.byref(fit.o),
                               ctypes.byref(res))
    fit.reraise()
    _check(status)
    return _result_dict(res)


_with_options_signature(train, ("model", _NO), ("train", _NO), ("val", None))


# ---------------------------------------------------------------------------- the training pieces


class Optimizer:
    """AdamW (torch.optim.AdamW) over the tensors of MODEL that are trainable
    now (dm_optimizer): global-norm clipping, a learning-rate schedule
    ("linear", "constant" or "cosine": warmup_steps of linear warmup, then
    over total_steps; total_steps 0 keeps the rate constant after warmup, or,
    given to a Trainer, takes the run's), decoupled weight decay (never on
    biases and LayerNorm weights). Defaults are the library's.

    With Model.forward_backward it makes a hand-written training loop:

        with datamodel.Optimizer(model, learning_rate=1e-4) as opt:
            for i, (ids, mask, labels) in enumerate(batches):
                model.forward_backward(ids, labels, attention_mask=mask, grad_scale=1 / len(labels), stream=i)
                opt.step()

    The optimizer keeps its model open (Model.close raises DM_ERR_BUSY until
    it is closed) and fixes the trainable set while it exists
    (Model.set_trainable raises DM_ERR_BUSY). close() or a `with` block
    releases it (or the garbage collector). Calls are serialised with the
    model's by its lock."""

    def __init__(self, model, learning_rate=_OD.learning_rate, weight_decay=_OD.weight_decay,
                 adam_beta1=_OD.adam_beta1, adam_beta2=_OD.adam_beta2, adam_epsilon=_OD.adam_epsilon,
                 max_grad_norm=_OD.max_grad_norm, schedule="linear", warmup_steps=_OD.warmup_steps,
                 total_steps=_OD.total_steps):
        self._h = None
        if not isinstance(model, Model):
            raise TypeError(f"model must be a datamodel.Model, not {type(model).__name__}")
        o = _OptimizerOptions()
        _lib.dm_optimizer_options_default(ctypes.byref(o))
        o.learning_rate = float(learning_rate)
        o.weight_decay = float(weight_decay)
        o.adam_beta1 = float(adam_beta1)
        o.adam_beta2 = float(adam_beta2)
        o.adam_epsilon = float(adam_epsilon)
        o.max_grad_norm = float(max_grad_norm)
        o.schedule = _choice(_SCHEDULE, schedule, "schedule")
        o.warmup_steps = _size(warmup_steps, "warmup_steps")
        o.total_steps = _size(total_steps, "total_steps")
        self._model = model
        self._trainers = 0  # open Trainers using this optimizer
        h = _Opt()
        with model._use() as mh:
            _check(_lib.dm_optimizer_create(mh, ctypes.byref(o), ctypes.byref(h)))
            self._h = h
            model._users += 1

    # ---- lifetime
    def close(self):
        """Releases the optimizer; safe to call twice. While a Trainer uses
        it, raises datamodel.Error DM_ERR_BUSY and does nothing: close the
        Trainer first."""
        if not getattr(self, "_h", None):
            return
        with self._model._lock:
            if self._trainers:
                raise Error(_BUSY, "the optimizer is used by an open Trainer: close the Trainer first")
            h, self._h = self._h, None
            if h:
                _lib.dm_optimizer_free(h)
                self._model._users -= 1

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def _use(self):
        """Holds the model's lock and gives the optimizer's C handle."""
        if not getattr(self, "_h", None):
            raise ValueError("the optimizer is closed")
        with self._model._lock:
            h = self._h
            if not h:
                raise ValueError("the optimizer is closed")
            yield h

    # ---- the step and the state
    def step(self):
        """One AdamW step with the model's gradients: clipping, the scheduled
        learning rate, the update, then the gradients set to zero
        (dm_optimizer_step). Returns a dict: step (steps done, this one
        included), learning_rate (used for this step), grad_norm (before
        clipping). A NaN or infinite gradient norm raises DM_ERR_NUMERIC
        before anything changes."""
        info = _StepInfo()
        info.struct_size = ctypes.sizeof(info)
        with self._use() as h:
            _check(_lib.dm_optimizer_step(h, ctypes.byref(info)))
        return {"step": info.step, "learning_rate": info.learning_rate, "grad_norm": info.grad_norm}

    @property
    def steps(self):
        """The steps done so far (after load(): those of the saved state)."""
        with self._use() as h:
            return _lib.dm_optimizer_steps(h)

    def save(self, path):
        """Writes the state (AdamW moments of every trainable tensor, the step
        count, the options) to PATH, a safetensors file written atomically
        (dm_optimizer_save)."""
        with self._use() as h:
            _check(_lib.dm_optimizer_save(h, os.fsencode(path)))

    def load(self, path):
        """Reads a state written by save() (dm_optimizer_load): a state of
        other trainable tensors or other options raises
        DM_ERR_INVALID_ARGUMENT."""
        with self._use() as h:
            _check(_lib.dm_optimizer_load(h, os.fsencode(path)))

    def __repr__(self):
        if not getattr(self, "_h", None):
            return "Optimizer(closed)"
        return f"Optimizer(steps={self.steps})"


class Trainer:
    """A training run, step by step (dm_trainer): what datamodel.train does,
    in the caller's hands. Made from MODEL, the Dataset TRAIN (and VAL, or
    None) and the keywords of datamodel.train (freeze_embeddings and
    freeze_layers included; resume_from resumes at once). It tokenizes both
    sets once, plans the epochs and makes its AdamW from the options, or
    uses OPTIMIZER (a datamodel.Optimizer of the same model; freeze with
    Model.set_trainable before making it: freeze_* are refused with one).

        with datamodel.Trainer(model, train, val, epochs=3) as t:
            while not t.done:
                p = t.step()                  # one optimizer step: a dict as train()'s callback gets
            report = t.evaluate()             # the validation Report (keeps the best weights)
            t.save("ckpt")                    # a checkpoint; Trainer(...).resume("ckpt") goes on exactly

    run() does the rest of the plan as train() does (evaluations, checkpoints,
    early stopping, the best weights, the final save) and calls the callback;
    step() does not call it.

    The model is being trained until close(): Model.close raises
    DM_ERR_BUSY. The trainer may be used from any thread, one call at a time
    (the model's lock serialises them); model calls from Python are
    serialised with them the same way.
    close() or a `with` block releases it (or the garbage collector); close
    a Trainer before the Optimizer it uses, and both before the model."""

    def __init__(self, model, train, val=None, optimizer=None, **options):
        self._h = None
        _check_training_args(model, train, val)
        if optimizer is not None:
            if not isinstance(optimizer, Optimizer):
                raise TypeError(f"optimizer must be a datamodel.Optimizer, not {type(optimizer).__name__}")
            if optimizer._model is not model:
                raise Error(_INVALID_ARGUMENT, "the optimizer belongs to another model")
        fit = _fit("Trainer()", model, options)
        self._model, self._opt, self._fit = model, optimizer, fit
        self._running = False
        h = _Trn()
        with model._use() as mh:
            oh = None
            if optimizer is not None:
                oh = optimizer._h
                if not oh:
                    raise ValueError("the optimizer is closed")
            _check(_lib.dm_trainer_create(mh, oh, train._handle(), None if val is None else val._handle(),
                                          ctypes.byref(fit.o), ctypes.byref(h)))
            self._h = h
            model._users += 1
            if optimizer is not None:
                optimizer._trainers += 1
        if fit.resume_from is not None:
            try:
                self.resume(fit.resume_from)
            except BaseException:
                self.close()
                raise

    # ---- lifetime
    def close(self):
        """Releases the trainer (the model is no longer being trained; an
        optimizer given to it is not closed); safe to call twice, from any
        thread. Raises DM_ERR_BUSY while run() is in progress (from its
        callback)."""
        if not getattr(self, "_h", None):
            return
        with self._model._lock:
            if self._running:
                raise Error(_BUSY, "Trainer.close: run() is in progress")
            h, self._h = self._h, None
            if h:
                _lib.dm_trainer_free(h)
                self._model._users -= 1
                if self._opt is not None:
                    self._opt._trainers -= 1

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def _use(self, what):
        """Holds the model's lock and gives the trainer's C handle, outside
        run()."""
        if not getattr(self, "_h", None):
            raise ValueError("the trainer is closed")
        with self._model._lock:
            if not self._h:
                raise ValueError("the trainer is closed")
            if self._running:
                raise Error(_BUSY, f"Trainer.{what}: run() is in progress (a call from its callback?)")
            yield self._h

    # ---- the run
    def step(self):
        """One optimizer step (grad_accum batches of the epoch's order) and
        its log line (dm_trainer_step). Returns the progress dict that
        train()'s callback gets (evaluated False). DM_ERR_RANGE when the
        run's steps are done."""
        p = _TrainProgress()
        p.struct_size = ctypes.sizeof(p)
        with self._use("step") as h:
            _check(_lib.dm_trainer_step(h, ctypes.byref(p)))
        return _progress_dict(p)

    @property
    def done(self):
        """Whether the run's steps are done (or early stopping stopped it)."""
        if not getattr(self, "_h", None):
            raise ValueError("the trainer is closed")
        with self._model._lock:
            return bool(_lib.dm_trainer_done(self._h)) if self._h else True

    def evaluate(self):
        """Evaluates on the validation set and returns the Report (with the
        mean loss); keeps the best weights and counts evaluations without
        improvement, as train() does at each evaluation
        (dm_trainer_evaluate). DM_ERR_INVALID_ARGUMENT without VAL."""
        out = _ReportP()
        with self._use("evaluate") as h:
            _check(_lib.dm_trainer_evaluate(h, ctypes.byref(out)))
        return Report._take(out)

    def save(self, directory):
        """A checkpoint of the run at its current step into DIRECTORY (a model
        folder with the optimizer's and the trainer's state, written whole)
        (dm_trainer_save)."""
        with self._use("save") as h:
            _check(_lib.dm_trainer_save(h, os.fsencode(directory)))

    def resume(self, directory):
        """Goes on from a checkpoint of save() (or of train()'s
        checkpoint_steps), bit for bit (dm_trainer_resume): the data, options
        and labels must be those it was written with. Only before the first
        step."""
        with self._use("resume") as h:
            _check(_lib.dm_trainer_resume(h, os.fsencode(directory)))

    def run(self):
        """Runs the rest of the plan as train() does: steps, evaluations
        every eval_steps or epoch, checkpoints, early stopping, the best
        weights kept and the final model saved to output_dir; the callback
        after every step (dm_trainer_run). Returns the result dict of
        train()."""
        res = _TrainResult()
        res.struct_size = ctypes.sizeof(res)
        with self._use("run") as h:
            self._running = True
            try:
                status = _lib.dm_trainer_run(h, ctypes.byref(res))
            finally:
                self._running = False
        self._fit.reraise()
        _check(status)
        return _result_dict(res)

    def __repr__(self):
        if not getattr(self, "_h", None):
            return "Trainer(closed)"
        return f"Trainer(done={self.done})"


_with_options_signature(Trainer, ("model", _NO), ("train", _NO), ("val", None), ("optimizer", None))
