"""Tests of the Python binding of the DP-SGD accountant (datamodel.h, "Privacy: differential privacy
accounting"): datamodel.dp_epsilon and datamodel.dp_noise_multiplier on the issue's vectors (Opacus'
own tests), the edges (nothing released, no noise) and bad input. Run from the repo root:
    DATAMODEL_LIB=$PWD/build/lib/libdatamodel.so python3 -m pytest bindings/python/tests/test_dp.py"""
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import datamodel  # noqa: E402


def test_epsilon_issue_vector():
    eps, order = datamodel.dp_epsilon(1.5, 0.04, 2250, 1e-5)
    assert abs(eps - 7.32911117143) <= 1e-9
    assert order == pytest.approx(3.9)
    # keyword arguments, and an epochs count turned into steps as Opacus does
    eps2, _ = datamodel.dp_epsilon(noise_multiplier=1.5, sample_rate=0.04, steps=int(90 / 0.04), delta=1e-5)
    assert eps2 == eps


def test_noise_multiplier_issue_vector():
    sigma = datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, int(90 / 0.04))
    assert abs(sigma - 1.416) <= 0.01
    spent, _ = datamodel.dp_epsilon(sigma, 0.04, 2250, 1e-5)
    assert 8.0 - 0.01 <= spent <= 8.0  # within the tolerance below the budget, never above
    finer = datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, 2250, tolerance=1e-4)
    assert 8.0 - 1e-4 <= datamodel.dp_epsilon(finer, 0.04, 2250, 1e-5)[0] <= 8.0
    assert datamodel.dp_noise_multiplier(8.0, 1e-5, 0.04, 2250, tolerance=0) == sigma  # 0: the default


def test_edges():
    eps, order = datamodel.dp_epsilon(1.0, 0.01, 0, 1e-5)  # nothing released
    assert eps == 0.0 and math.isnan(order)
    assert datamodel.dp_epsilon(1.0, 0.0, 100, 1e-5)[0] == 0.0
    assert math.isinf(datamodel.dp_epsilon(0.0, 0.01, 100, 1e-5)[0])  # no noise: no privacy
    assert datamodel.dp_noise_multiplier(1.0, 1e-5, 0.01, 0) == 0.0
    # more steps, a higher rate or less noise never spend less
    a = datamodel.dp_epsilon(1.0, 0.01, 1000, 1e-5)[0]
    assert datamodel.dp_epsilon(1.0, 0.01, 2000, 1e-5)[0] > a
    assert datamodel.dp_epsilon(1.0, 0.02, 1000, 1e-5)[0] > a
    assert datamodel.dp_epsilon(0.9, 0.01, 1000, 1e-5)[0] > a
    assert datamodel.dp_epsilon(1, 1, 1, 0.5)[0] > 0  # ints are numbers too


@pytest.mark.parametrize("call, status, text", [
    (lambda: datamodel.dp_epsilon(1.0, 1.5, 10, 1e-5), "DM_ERR_INVALID_ARGUMENT", "sample_rate must be in [0, 1]"),
    (lambda: datamodel.dp_epsilon(1.0, -0.1, 10, 1e-5), "DM_ERR_INVALID_ARGUMENT", "got -0.1"),
    (lambda: datamodel.dp_epsilon(1.0, 0.1, 10, 0.0), "DM_ERR_INVALID_ARGUMENT", "delta must be in (0, 1)"),
    (lambda: datamodel.dp_epsilon(1.0, 0.1, 10, 1.0), "DM_ERR_INVALID_ARGUMENT", "delta must be in (0, 1)"),
    (lambda: datamodel.dp_epsilon(-1.0, 0.1, 10, 1e-5), "DM_ERR_INVALID_ARGUMENT", "noise_multiplier"),
    (lambda: datamodel.dp_epsilon(math.nan, 0.1, 10, 1e-5), "DM_ERR_INVALID_ARGUMENT", "noise_multiplier"),
    (lambda: datamodel.dp_epsilon(math.inf, 0.1, 10, 1e-5), "DM_ERR_INVALID_ARGUMENT", "noise_multiplier"),
    (lambda: datamodel.dp_noise_multiplier(0.0, 1e-5, 0.1, 10), "DM_ERR_INVALID_ARGUMENT", "epsilon must be"),
    (lambda: datamodel.dp_noise_multiplier(-2.0, 1e-5, 0.1, 10), "DM_ERR_INVALID_ARGUMENT", "got -2"),
    (lambda: datamodel.dp_noise_multiplier(math.inf, 1e-5, 0.1, 10), "DM_ERR_INVALID_ARGUMENT", "epsilon"),
    (lambda: datamodel.dp_noise_multiplier(1.0, 2.0, 0.1, 10), "DM_ERR_INVALID_ARGUMENT", "delta"),
    (lambda: datamodel.dp_noise_multiplier(1.0, 1e-5, 1.1, 10), "DM_ERR_INVALID_ARGUMENT", "sample_rate"),
    (lambda: datamodel.dp_noise_multiplier(1.0, 1e-5, 0.1, 10, tolerance=-1.0), "DM_ERR_INVALID_ARGUMENT",
     "tolerance"),
    (lambda: datamodel.dp_noise_multiplier(1e-4, 1e-5, 1.0, 1000000), "DM_ERR_RANGE", "budget is too small"),
    (lambda: datamodel.dp_epsilon(1.0, 0.1, 10, 1e-5, accountant="prv", eps_error=-0.1), "DM_ERR_INVALID_ARGUMENT",
     "eps_error must be finite and >= 0"),
    (lambda: datamodel.dp_epsilon(1.0, 0.1, 10, 2.0, accountant="prv"), "DM_ERR_INVALID_ARGUMENT", "delta"),
    (lambda: datamodel.dp_epsilon(0.3, 0.5, 100000, 1e-5, accountant="prv", eps_error=0.001), "DM_ERR_RANGE",
     "use the RDP accountant"),
])
def test_library_errors(call, status, text):
    with pytest.raises(datamodel.Error) as e:
        call()
    assert e.value.status_name == status and text in e.value.message


def test_argument_checks():
    with pytest.raises(ValueError, match="steps = -1 is out of range for uint64"):
        datamodel.dp_epsilon(1.0, 0.1, -1, 1e-5)
    with pytest.raises(OverflowError):
        datamodel.dp_noise_multiplier(1.0, 1e-5, 0.1, 2**64)
    with pytest.raises(TypeError, match="steps must be an integer"):
        datamodel.dp_epsilon(1.0, 0.1, 10.0, 1e-5)
    with pytest.raises(TypeError, match="delta must be a real number"):
        datamodel.dp_epsilon(1.0, 0.1, 10, "1e-5")
    with pytest.raises(TypeError, match="tolerance must be a real number"):
        datamodel.dp_noise_multiplier(1.0, 1e-5, 0.1, 10, tolerance=None)
    assert datamodel.dp_epsilon(1.0, 0.1, 2**64 - 1, 0.5)[0] > 0  # the largest uint64 is a count of steps


def test_exported():
    assert {"dp_epsilon", "dp_noise_multiplier"} <= set(datamodel.__all__)
    assert "Opacus" in datamodel.dp_epsilon.__doc__ or "DP-SGD" in datamodel.dp_epsilon.__doc__


def test_epsilon_prv_accountant():
    # Opacus' test_prv_accountant: steps int(90 // 0.04), which is 2249
    eps, order = datamodel.dp_epsilon(1.5, 0.04, 2249, 1e-5, accountant="prv")
    assert abs(eps - 6.777395712150674) <= 1e-6 and math.isnan(order)
    assert eps < datamodel.dp_epsilon(1.5, 0.04, 2249, 1e-5)[0]  # tighter than RDP here
    assert datamodel.dp_epsilon(1.5, 0.04, 2249, 1e-5, accountant="prv", eps_error=0)[0] == eps  # 0: 0.01
    assert datamodel.dp_epsilon(1.0, 0.01, 0, 1e-5, accountant="prv")[0] == 0.0
    assert math.isinf(datamodel.dp_epsilon(0.0, 0.01, 10, 1e-5, accountant="prv")[0])
    with pytest.raises(ValueError, match="accountant must be 'rdp' or 'prv', not 'pld'"):
        datamodel.dp_epsilon(1.0, 0.1, 10, 1e-5, accountant="pld")
    with pytest.raises(TypeError, match="eps_error must be a real number"):
        datamodel.dp_epsilon(1.0, 0.1, 10, 1e-5, accountant="prv", eps_error="0.01")
