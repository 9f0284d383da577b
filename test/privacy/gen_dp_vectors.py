#!/usr/bin/env python3
"""Writes fixtures/dp_vectors.json: Opacus' RDP and PRV accountants on a grid,
the reference of lib/privacy/dp_accountant.c (test_dp_accountant.c).

    pip install opacus==1.6.0 scipy
    python3 test/privacy/gen_dp_vectors.py

epsilon: RDPAccountant with history [(sigma, q, steps)], get_epsilon(delta)
and the best order (get_privacy_spent). noise: get_noise_multiplier(
target_epsilon, target_delta, sample_rate, steps, accountant="rdp",
epsilon_tolerance), or the error it raises ("budget too low"). prv:
PRVAccountant with history [(sigma, q, steps)], get_epsilon(delta) at the
default eps_error 0.01 (delta_error delta / 1000) and at eps_error 0.05, the
upper bound it returns (a few minutes in all: the largest domains are
millions of points)."""
import json
import os
import warnings

import opacus
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

warnings.simplefilter("ignore")  # "optimal order is the largest alpha": part of the answer

eps_cases = []
for sigma in (0.3, 0.5, 0.8, 1.0, 1.5, 3.0, 10.0):
    for q in (0.001, 0.01, 0.04, 0.25, 0.5, 1.0):
        for steps in (1, 100, 2250, 100000):
            for delta in (1e-5, 1e-8):
                acc = RDPAccountant()
                acc.history = [(sigma, q, steps)]
                eps, order = acc.get_privacy_spent(delta=delta)
                eps_cases.append({"sigma": sigma, "q": q, "steps": steps, "delta": delta, "epsilon": float(eps),
                                  "order": float(order)})

noise_cases = []
for epsilon in (0.5, 1.0, 3.0, 8.0):
    for q, epochs in ((0.04, 90), (0.01, 3), (0.001, 1), (0.25, 10)):
        for tol in (0.01, 0.001):
            steps = int(epochs / q)
            case = {"epsilon": epsilon, "delta": 1e-5, "q": q, "steps": steps, "tolerance": tol}
            try:
                case["noise"] = get_noise_multiplier(target_epsilon=epsilon, target_delta=1e-5, sample_rate=q,
                                                     steps=steps, accountant="rdp", epsilon_tolerance=tol)
            except ValueError as e:
                case["error"] = str(e)
            noise_cases.append(case)
case = {"epsilon": 1e-3, "delta": 1e-5, "q": 1.0, "steps": 100000, "tolerance": 0.01}  # too small a budget
try:
    case["noise"] = get_noise_multiplier(target_epsilon=1e-3, target_delta=1e-5, sample_rate=1.0, steps=100000,
                                         accountant="rdp", epsilon_tolerance=0.01)
except ValueError as e:
    case["error"] = str(e)
noise_cases.append(case)

prv_cases = []
for sigma in (0.8, 1.0, 1.5, 3.0):
    for q in (0.001, 0.01, 0.04, 0.1):
        for steps in (10, 100, 1000, 5000):
            for delta in (1e-5, 1e-6):
                eps_error = 0.05 if (steps == 100 and delta == 1e-6) else 0.01
                acc = PRVAccountant()
                acc.history = [(sigma, q, steps)]
                eps = acc.get_epsilon(delta, eps_error=eps_error)
                prv_cases.append({"sigma": sigma, "q": q, "steps": steps, "delta": delta, "eps_error": eps_error,
                                  "epsilon": float(eps)})
# Opacus' own test (tests/accountants_test.py): steps = int(90 // 0.04), which is 2249
acc = PRVAccountant()
acc.history = [(1.5, 0.04, int(90 // 0.04))]
prv_cases.append({"sigma": 1.5, "q": 0.04, "steps": int(90 // 0.04), "delta": 1e-5, "eps_error": 0.01,
                  "epsilon": float(acc.get_epsilon(1e-5))})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "dp_vectors.json")
with open(out, "w") as f:
    json.dump({"generator": "test/privacy/gen_dp_vectors.py", "opacus": opacus.__version__,
               "epsilon": eps_cases, "noise": noise_cases, "prv": prv_cases}, f, indent=1)
    f.write("\n")
print(f"{out}: {len(eps_cases)} epsilon cases, {len(noise_cases)} noise cases, {len(prv_cases)} PRV cases "
      f"(opacus {opacus.__version__})")
