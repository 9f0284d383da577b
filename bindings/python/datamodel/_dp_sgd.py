"""DP-SGD on a model (datamodel.h, "DP-SGD on a model"): datamodel.DP wraps a
dm_dp (per-example clipping, Gaussian noise and the accountant of one run)
and datamodel.example_norms gives each example's gradient norm. Imported by
datamodel/__init__.py; use `import datamodel`.

    with datamodel.DP(target_epsilon=8, sample_rate=q, steps=n_steps) as dp, \\
            datamodel.Optimizer(model, max_grad_norm=0) as opt:
        for i, (ids, mask, labels) in enumerate(poisson_batches):
            loss_sum, norms = dp.forward_backward(model, ids, labels, attention_mask=mask,
                                                  grad_scale=1 / (q * n_rows), stream=i)
            dp.add_noise(model, 1 / (q * n_rows))
            opt.step()
        dp.info()["epsilon"]                         # spent so far (RDP accountant, as Opacus)

datamodel.train(..., dp_epsilon=8) runs this loop itself (and writes
privacy.json)."""
import array
import ctypes
import threading

from . import _array_address, _c_size, _check, _lib, _sig
from ._model import (_BD, _BackwardOptions, _Batch, _backward_options, _batch, _floatp, _Mdl, _np, _size,
                     _want_numpy, Model)

# ---------------------------------------------------------------------------- C declarations


class _DPOptions(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("max_grad_norm", ctypes.c_double), ("noise_multiplier", ctypes.c_double),
                ("target_epsilon", ctypes.c_double), ("delta", ctypes.c_double), ("sample_rate", ctypes.c_double),
                ("steps", ctypes.c_uint64), ("noise_seed", ctypes.c_uint64)]


class _DPInfo(ctypes.Structure):
    _fields_ = [("struct_size", _c_size), ("noise_multiplier", ctypes.c_double), ("max_grad_norm", ctypes.c_double),
                ("sample_rate", ctypes.c_double), ("delta", ctypes.c_double), ("steps", ctypes.c_uint64),
                ("epsilon", ctypes.c_double), ("clipped", ctypes.c_uint64), ("examples", ctypes.c_uint64)]


_DPh = ctypes.c_void_p
_status = ctypes.c_int

_sig("dm_dp_options_default", None, ctypes.POINTER(_DPOptions))
_sig("dm_dp_create", _status, ctypes.POINTER(_DPOptions), ctypes.POINTER(_DPh))
_sig("dm_dp_free", None, _DPh)
_sig("dm_dp_get_info", _status, _DPh, ctypes.POINTER(_DPInfo))
_sig("dm_dp_example_norms", _status, _Mdl, ctypes.POINTER(_Batch), ctypes.POINTER(_BackwardOptions), _floatp)
_sig("dm_dp_forward_backward", _status, _DPh, _Mdl, ctypes.POINTER(_Batch), ctypes.POINTER(_BackwardOptions),
     ctypes.POINTER(ctypes.c_double), _floatp)
_sig("dm_dp_add_noise", _status, _DPh, _Mdl, ctypes.c_double)

_DD = _DPOptions()
_lib.dm_dp_options_default(ctypes.byref(_DD))

# ---------------------------------------------------------------------------- helpers


def _check_model(model):
    if not isinstance(model, Model):
        raise TypeError(f"model must be a datamodel.Model, not {type(model).__name__}")


class _Norms:
    """The per-example norms buffer: float32, a numpy array or a list."""

    def __init__(self, n, numpy):
        self.n, self.numpy = n, numpy
        if numpy:
            self.buf = _np.zeros(max(n, 1), dtype=_np.float32)
            self.ptr = self.buf.ctypes.data_as(_floatp)
        else:
            self.buf = array.array("f", bytes(4 * max(n, 1)))
            self.ptr = ctypes.cast(_array_address(self.buf), _floatp)

    def value(self):
        return self.buf[:self.n] if self.numpy else self.buf.tolist()[:self.n]


def _numpy_out(return_numpy, ids_numpy):
    return ids_numpy if return_numpy is None else _want_numpy(return_numpy)


# ---------------------------------------------------------------------------- the API


def example_norms(model, ids, labels, type_ids=None, attention_mask=None, weights=None, dropout=_BD.dropout,
                  seed=_BD.seed, stream=_BD.stream, return_numpy=None):
    """Each example's gradient norm (dm_dp_example_norms): norms[i] =
    || d(w_i loss_i) / d(trainable tensors) || for row i of the batch (w_i
    its weight, 1 without weights; 0 for a row with label -1), with the
    dropout given (-1 or None: config.json's rates, 0 off; seed and stream
    name the masks, as in Model.forward_backward). The model's gradients are
    not changed. The batch arguments are Model.forward_backward's. Returns a
    list of floats, or a numpy float32 array when ids is a numpy array (or
    with return_numpy=True)."""
    _check_model(model)
    b, keep, batch, ids_numpy = _batch(ids, labels, type_ids, attention_mask, weights)
    o = _backward_options(_BD.grad_scale, dropout, seed, stream)
    out = _Norms(batch, _numpy_out(return_numpy, ids_numpy))
    with model._use() as h:
        _check(_lib.dm_dp_example_norms(h, ctypes.byref(b), ctypes.byref(o), out.ptr))
    del keep
    return out.value()


class DP:
    """A DP-SGD transform (dm_dp): each example's gradient clipped to norm
    max_grad_norm C over every trainable tensor, the clipped gradients
    summed, Gaussian noise of standard deviation noise_multiplier x C added
    to the sum, and the epsilon spent counted (the RDP accountant, as
    Opacus). With target_epsilon > 0 the noise multiplier is chosen so that
    STEPS steps at SAMPLE_RATE spend it (datamodel.dp_noise_multiplier);
    else noise_multiplier must be > 0. delta in (0, 1); sample_rate q in
    (0, 1] (each row's probability to be in a step's batch: the expected
    batch over the rows). noise_seed 0 keys the noise from the OS, else a
    fixed stream (tests only: not private). Bad options raise
    datamodel.Error DM_ERR_INVALID_ARGUMENT naming the option, a budget too
    small for the planned steps DM_ERR_RANGE.

    A DP is not tied to a model: forward_backward and add_noise take the
    model (float32 products: train() with DP refuses precision="bf16").
    Per step: forward_backward on each (micro-)batch of the step's sample,
    then add_noise once, then Optimizer.step() (an Optimizer with
    max_grad_norm=0). With the mean over the expected batch L = q N,
    grad_scale is 1 / L in both calls.

    close() or a `with` block releases it (or the garbage collector). Calls
    from several threads are serialised by a lock (and with the model's
    calls by the model's lock)."""

    def __init__(self, max_grad_norm=_DD.max_grad_norm, noise_multiplier=_DD.noise_multiplier,
                 target_epsilon=_DD.target_epsilon, delta=_DD.delta, sample_rate=_DD.sample_rate,
                 steps=_DD.steps, noise_seed=_DD.noise_seed):
        self._h = None
        self._lock = threading.RLock()
        o = _DPOptions()
        _lib.dm_dp_options_default(ctypes.byref(o))
        o.max_grad_norm = float(max_grad_norm)  # ranges are the library's: it names a bad option
        o.noise_multiplier = float(noise_multiplier)
        o.target_epsilon = float(target_epsilon)
        o.delta = float(delta)
        o.sample_rate = float(sample_rate)
        o.steps = _size(steps, "steps")
        o.noise_seed = _size(noise_seed, "noise_seed")
        h = _DPh()
        _check(_lib.dm_dp_create(ctypes.byref(o), ctypes.byref(h)))
        self._h = h

    # ---- lifetime
    def close(self):
        """Releases the dm_dp; safe to call twice."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            h, self._h = self._h, None
            if h:
                _lib.dm_dp_free(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        h = self._h
        if not h:
            raise ValueError("the DP is closed")
        return h

    # ---- calls
    def info(self):
        """A dict (dm_dp_get_info): noise_multiplier (sigma, chosen or
        given), max_grad_norm, sample_rate, delta, steps (noisy steps taken:
        add_noise calls), epsilon (spent so far), clipped (examples whose
        gradient was clipped so far), examples (examples seen so far)."""
        info = _DPInfo()
        info.struct_size = ctypes.sizeof(info)
        with self._lock:
            _check(_lib.dm_dp_get_info(self._handle(), ctypes.byref(info)))
        return {f: getattr(info, f) for f, _ in _DPInfo._fields_[1:]}

    def forward_backward(self, model, ids, labels, type_ids=None, attention_mask=None, weights=None,
                         grad_scale=_BD.grad_scale, dropout=_BD.dropout, seed=_BD.seed, stream=_BD.stream,
                         return_numpy=None):
        """As Model.forward_backward (the same batch arguments), but what is
        ADDED to the model's gradients is grad_scale x sum_i clip_i
        grad(w_i loss_i), clip_i = min(1, C / (norm_i + 1e-6))
        (dm_dp_forward_backward). Returns (loss_sum, norms): sum_i w_i
        loss_i and the per-example norms before clipping (a list, or a
        numpy float32 array when ids is a numpy array or with
        return_numpy=True)."""
        _check_model(model)
        b, keep, batch, ids_numpy = _batch(ids, labels, type_ids, attention_mask, weights)
        o = _backward_options(grad_scale, dropout, seed, stream)
        out = _Norms(batch, _numpy_out(return_numpy, ids_numpy))
        loss = ctypes.c_double()
        with model._use() as mh, self._lock:
            _check(_lib.dm_dp_forward_backward(self._handle(), mh, ctypes.byref(b), ctypes.byref(o),
                                               ctypes.byref(loss), out.ptr))
        del keep
        return loss.value, out.value()

    def add_noise(self, model, grad_scale):
        """Adds Gaussian noise of standard deviation grad_scale x sigma x C
        to every trainable gradient of MODEL and counts one step for the
        accountant (dm_dp_add_noise): once per optimizer step, after the
        step's forward_backward calls and before Optimizer.step()."""
        _check_model(model)
        with model._use() as mh, self._lock:
            _check(_lib.dm_dp_add_noise(self._handle(), mh, float(grad_scale)))

    def __repr__(self):
        if not getattr(self, "_h", None):
            return "DP(closed)"
        i = self.info()
        return (f"DP(noise_multiplier={i['noise_multiplier']:.4g}, max_grad_norm={i['max_grad_norm']:g}, "
                f"steps={i['steps']}, epsilon={i['epsilon']:.4g})")
