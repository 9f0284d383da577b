"""Differential privacy accounting (datamodel.h, "Privacy: differential
privacy accounting (DP-SGD)"): datamodel.dp_epsilon and
datamodel.dp_noise_multiplier; the one-run privacy audit (Steinke, Nasr and
Jagielski, NeurIPS 2023): datamodel.dp_audit_epsilon and
datamodel.dp_audit_guesses. Imported by datamodel/__init__.py; use
`import datamodel`.

    eps, order = datamodel.dp_epsilon(1.5, 0.04, 2250, 1e-5)    # 7.329111..., 3.9
    eps, _ = datamodel.dp_epsilon(1.5, 0.04, 2249, 1e-5, accountant="prv")  # 6.777395... (Opacus' PRV)
    sigma = datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, 2250)  # 1.416...
    eps_lb = datamodel.dp_audit_epsilon(1000, 100, 75, delta=1e-4)  # 0.673 (the paper's)

Both compute what Opacus' RDPAccountant and get_noise_multiplier compute (the
same epsilon to 1e-9); dp_epsilon(..., accountant="prv") what its
PRVAccountant computes (to about 1e-9 relative). Steps from epochs as Opacus counts them:
int(epochs / sample_rate)."""
import ctypes
import numbers

from . import _check, _cint_value, _lib, _sig

_status = ctypes.c_int
_doublep = ctypes.POINTER(ctypes.c_double)

_sig("dm_dp_epsilon", _status, ctypes.c_double, ctypes.c_double, ctypes.c_uint64, ctypes.c_double, _doublep,
     _doublep)
_sig("dm_dp_epsilon_prv", _status, ctypes.c_double, ctypes.c_double, ctypes.c_uint64, ctypes.c_double,
     ctypes.c_double, _doublep)
_sig("dm_dp_noise_multiplier", _status, ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_uint64,
     ctypes.c_double, _doublep)
_sig("dm_dp_audit_epsilon", _status, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_double,
     ctypes.c_double, _doublep)
_sig("dm_dp_audit_guesses", _status, ctypes.c_size_t, _doublep, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t,
     ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64))


def _real(value, what):
    """VALUE as a float; TypeError naming WHAT when it is not a real number
    (ctypes would raise its own ArgumentError, naming only the position).
    Range checks are the library's: they raise Error with its message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, not {type(value).__name__}")
    return float(value)


def dp_epsilon(noise_multiplier, sample_rate, steps, delta, accountant="rdp", eps_error=0.01):
    """The (epsilon, delta) privacy that STEPS steps of DP-SGD spend
    (dm_dp_epsilon): each step samples every row with probability
    SAMPLE_RATE (the expected batch size over the rows) and adds Gaussian noise
    of NOISE_MULTIPLIER x the clipping norm. Returns (epsilon, order): the
    epsilon at DELTA and the Renyi order that gave it.

    ACCOUNTANT "rdp" (the default): Opacus' RDPAccountant (dm_dp_epsilon);
    "prv": Opacus' PRVAccountant (dm_dp_epsilon_prv), its upper bound at
    accuracy EPS_ERROR (Opacus' 0.01; 0 means that too), tighter for many
    steps; the order is then nan. ValueError for another accountant;
    DM_ERR_INVALID_ARGUMENT for a negative eps_error, DM_ERR_RANGE for a
    PRV domain too large to hold (use "rdp" or a larger eps_error).

    Nothing released (steps 0 or sample_rate 0) is (0.0, nan); a
    noise_multiplier of 0 spends an infinite epsilon. Error
    DM_ERR_INVALID_ARGUMENT for sample_rate outside [0, 1], delta outside
    (0, 1), or a negative noise_multiplier. STEPS is an integer >= 0
    (OverflowError, also a ValueError, when it does not fit uint64)."""
    sigma, q = _real(noise_multiplier, "noise_multiplier"), _real(sample_rate, "sample_rate")
    d = _real(delta, "delta")
    n = _cint_value(steps, "steps", "uint64")
    eps, order = ctypes.c_double(), ctypes.c_double()
    if accountant == "prv":
        err = _real(eps_error, "eps_error")
        _check(_lib.dm_dp_epsilon_prv(sigma, q, n, d, err, ctypes.byref(eps)))
        return eps.value, float("nan")
    if accountant != "rdp":
        raise ValueError(f"accountant must be 'rdp' or 'prv', not {accountant!r}")
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


def dp_audit_epsilon(canaries, guesses, correct, delta=0.0, beta=0.05):
    """The lower bound on epsilon that a one-run privacy audit certifies at
    confidence 1 - BETA (dm_dp_audit_epsilon; Steinke, Nasr and Jagielski,
    "Privacy Auditing with One (1) Training Run", NeurIPS 2023, Corollary
    5.4): CANARIES canaries, each put in the training set with probability
    1/2, GUESSES membership guesses (the rest abstained), CORRECT of them
    right. A run that were (epsilon, DELTA)-DP for any smaller epsilon would
    get CORRECT or more right with probability below BETA. 0.0 when nothing
    is certified.

    Error DM_ERR_INVALID_ARGUMENT for guesses > canaries, correct > guesses,
    delta outside [0, 1), beta outside (0, 1). The counts are integers >= 0
    (OverflowError, also a ValueError, when one does not fit uint64)."""
    m = _cint_value(canaries, "canaries", "uint64")
    r = _cint_value(guesses, "guesses", "uint64")
    v = _cint_value(correct, "correct", "uint64")
    d, b = _real(delta, "delta"), _real(beta, "beta")
    eps = ctypes.c_double()
    _check(_lib.dm_dp_audit_epsilon(m, r, v, d, b, ctypes.byref(eps)))
    return eps.value


def dp_audit_guesses(scores, included, k_plus, k_minus):
    """The guesses of a one-run audit (dm_dp_audit_guesses): "in" for the
    K_PLUS highest SCORES (higher: more likely in), "out" for the K_MINUS
    lowest, the rest abstained; ties ranked by position (the earlier canary
    counts as higher). INCLUDED[i] is 1 (or True) when canary i was in the
    training set, else 0. Returns (guesses, correct), for dp_audit_epsilon.

    Error DM_ERR_INVALID_ARGUMENT for k_plus + k_minus > len(scores), a NaN
    score, an included value other than 0 or 1; ValueError when the two
    sequences differ in length."""
    s = [_real(x, "scores[]") for x in scores]
    inc = [_cint_value(int(x) if isinstance(x, bool) else x, "included[]", "B") for x in included]
    if len(s) != len(inc):
        raise ValueError(f"scores has {len(s)} values but included has {len(inc)}")
    kp, km = _cint_value(k_plus, "k_plus"), _cint_value(k_minus, "k_minus")
    n = len(s)
    cs = (ctypes.c_double * max(n, 1))(*s)
    ci = (ctypes.c_uint8 * max(n, 1))(*inc)
    r, v = ctypes.c_uint64(), ctypes.c_uint64()
    _check(_lib.dm_dp_audit_guesses(n, cs, ci, kp, km, ctypes.byref(r), ctypes.byref(v)))
    return r.value, v.value
