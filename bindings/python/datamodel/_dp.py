"""Differential privacy accounting (datamodel.h, "Privacy: differential
privacy accounting (DP-SGD)"): datamodel.dp_epsilon and
datamodel.dp_noise_multiplier. Imported by datamodel/__init__.py; use
`import datamodel`.

    eps, order = datamodel.dp_epsilon(1.5, 0.04, 2250, 1e-5)    # 7.329111..., 3.9
    sigma = datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, 2250)  # 1.416...

Both compute what Opacus' RDPAccountant and get_noise_multiplier compute (the
same epsilon to 1e-9). Steps from epochs as Opacus counts them:
int(epochs / sample_rate)."""
import ctypes
import numbers

from . import _check, _cint_value, _lib, _sig

_status = ctypes.c_int
_doublep = ctypes.POINTER(ctypes.c_double)

_sig("dm_dp_epsilon", _status, ctypes.c_double, ctypes.c_double, ctypes.c_uint64, ctypes.c_double, _doublep,
     _doublep)
_sig("dm_dp_noise_multiplier", _status, ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_uint64,
     ctypes.c_double, _doublep)


def _real(value, what):
    """VALUE as a float; TypeError naming WHAT when it is not a real number
    (ctypes would raise its own ArgumentError, naming only the position).
    Range checks are the library's: they raise Error with its message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, not {type(value).__name__}")
    return float(value)


def dp_epsilon(noise_multiplier, sample_rate, steps, delta):
    """The (epsilon, delta) privacy that STEPS steps of DP-SGD spend
    (dm_dp_epsilon): each step samples every row with probability
    SAMPLE_RATE (the expected batch size over the rows) and adds Gaussian noise
    of NOISE_MULTIPLIER x the clipping norm. Returns (epsilon, order): the
    epsilon at DELTA and the Renyi order that gave it.

    Nothing released (steps 0 or sample_rate 0) is (0.0, nan); a
    noise_multiplier of 0 spends an infinite epsilon. Error
    DM_ERR_INVALID_ARGUMENT for sample_rate outside [0, 1], delta outside
    (0, 1), or a negative noise_multiplier. STEPS is an integer >= 0
    (OverflowError, also a ValueError, when it does not fit uint64)."""
    sigma, q = _real(noise_multiplier, "noise_multiplier"), _real(sample_rate, "sample_rate")
    d = _real(delta, "delta")
    n = _cint_value(steps, "steps", "uint64")
    eps, order = ctypes.c_double(), ctypes.c_double()
    _check(_lib.dm_dp_epsilon(sigma, q, n, d, ctypes.byref(eps), ctypes.byref(order)))
    return eps.value, order.value


def dp_noise_multiplier(epsilon, delta, sample_rate, steps, tolerance=0.01):
    """The noise multiplier that keeps STEPS steps at SAMPLE_RATE within the
    budget (EPSILON, DELTA), found as Opacus' get_noise_multiplier finds it
    (dm_dp_noise_multiplier): bisected until the epsilon it spends is within
    TOLERANCE below EPSILON, never above it. 0.0 when nothing is released
    (steps 0 or sample_rate 0).

    Error DM_ERR_RANGE when even a multiplier of 1e6 spends more (the budget
    is too small); DM_ERR_INVALID_ARGUMENT for epsilon <= 0, a tolerance
    below 0 (0 means the default, 0.01) and as dp_epsilon."""
    e, d = _real(epsilon, "epsilon"), _real(delta, "delta")
    q, tol = _real(sample_rate, "sample_rate"), _real(tolerance, "tolerance")
    n = _cint_value(steps, "steps", "uint64")
    sigma = ctypes.c_double()
    _check(_lib.dm_dp_noise_multiplier(e, d, q, n, tol, ctypes.byref(sigma)))
    return sigma.value
