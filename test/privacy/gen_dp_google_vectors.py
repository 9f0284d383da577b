#!/usr/bin/env python3
"""Writes fixtures/dp_google_vectors.json: Google's dp-accounting (the
library behind TensorFlow Privacy and JAX Privacy), a second reference for
lib/privacy/dp_accountant.c on cases apart from Opacus' grid
(test_dp_accountant.c).

    pip install dp-accounting==0.6.0
    python3 test/privacy/gen_dp_google_vectors.py

Each case is STEPS self-compositions of PoissonSampledDpEvent(q,
GaussianDpEvent(sigma)) under add-or-remove-one neighbouring (Opacus'
relation too), and records
  rdp, rdp_order: RdpAccountant(orders=Opacus' orders)
       .get_epsilon_and_optimal_order(delta): the same orders and conversion
       as ours; at integer orders the same series, at fractional ones
       dp-accounting sums the series' terms' absolute values (a looser
       bound than Opacus' signed sum, and it drops orders where that sum
       does not converge), so there ours is the lower;
  pld: PLDAccountant(value_discretization_interval=1e-4).get_epsilon(delta),
       its pessimistic (upper-bound) estimate, to compare with our PRV
       accountant's upper bound."""
import json
import os
import warnings
from importlib.metadata import version

import dp_accounting
from dp_accounting import pld, rdp

warnings.simplefilter("ignore")

# Opacus' DEFAULT_ALPHAS, as lib/privacy/dp_accountant.c's order_at.
ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))

cases = []
for sigma in (0.7, 1.1, 2.0, 4.0):
    for q in (0.005, 0.02, 0.06):
        for steps in (50, 500, 3000):
            for delta in (1e-5, 1e-7):
                event = dp_accounting.SelfComposedDpEvent(
                    dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
                r = rdp.RdpAccountant(orders=ORDERS)
                r.compose(event)
                p = pld.PLDAccountant(value_discretization_interval=1e-4)
                p.compose(event)
                eps, order = r.get_epsilon_and_optimal_order(delta)
                cases.append({"sigma": sigma, "q": q, "steps": steps, "delta": delta, "rdp": float(eps),
                              "rdp_order": float(order), "pld": float(p.get_epsilon(delta))})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "dp_google_vectors.json")
with open(out, "w") as f:
    json.dump({"generator": "test/privacy/gen_dp_google_vectors.py", "dp_accounting": version("dp-accounting"),
               "pld_value_discretization_interval": 1e-4, "cases": cases}, f, indent=1)
    f.write("\n")
print(f"{out}: {len(cases)} cases (dp-accounting {version('dp-accounting')})")
