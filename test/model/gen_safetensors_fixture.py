#!/usr/bin/env python3
"""Writes test/model/fixtures/st_mixed.safetensors with Hugging Face's
`safetensors` package (the reference writer), and st_mixed.json beside it
with what test_safetensors.c must read back, exactly:

  {"metadata": {key: value},
   "tensors": [{"name", "dtype", "shape", and
                "f32_bits": float32 bit patterns of the values as float32
                            (for F16 / BF16 / F32 / F64: NaN payloads and -0 included), or
                "i64": the integer values (I64)}]}

F16 covers normals, the largest half, the smallest normal and subnormal
halves, infinities, NaN and -0; BF16 (written through torch: numpy has no
bfloat16) the same for bfloat16; I64 the extremes.

    python3 test/model/gen_safetensors_fixture.py     # rewrite both files

The Rust writer keeps __metadata__ in a HashMap, so its key order changes
from run to run: an existing st_mixed.safetensors that already holds the same
tensors and metadata is left alone, and the C test does not depend on that
order.
"""
import json
import os

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def half_bits(bits):
    return torch.from_numpy(np.array(bits, dtype=np.uint16).view(np.float16))


def tensors():
    inf, nan = float("inf"), float("nan")
    t = {}
    # F16: given as bit patterns so that each case is exactly the one named.
    t["half"] = half_bits([
        0x3C00,  # 1.0
        0xC000,  # -2.0
        0x7BFF,  # 65504, the largest half
        0x0400,  # 2^-14, the smallest normal
        0x0001,  # 2^-24, the smallest subnormal
        0x03FF,  # the largest subnormal
        0x8201,  # a negative subnormal
        0x7C00,  # +inf
        0xFC00,  # -inf
        0x7E00,  # quiet NaN
        0x8000,  # -0.0
        0x3555,  # 0.333251953125
    ]).reshape(3, 4)
    t["bf16"] = torch.tensor([1.0, -1.5, 3.0e38, 1e-40, -1e-39, inf, -inf, nan, -0.0, 0.1],
                             dtype=torch.bfloat16).reshape(2, 5)
    t["ids"] = torch.tensor([[0, -1, 2**62], [-(2**63), 2**63 - 1, 30521]], dtype=torch.int64)
    t["f32"] = torch.tensor([0.5, -3.25, 1e-45, 3.4028234663852886e38], dtype=torch.float32)
    t["f64"] = torch.tensor([0.1, -1e300, 1e-320, 2.5], dtype=torch.float64)
    t["scalar"] = torch.tensor(7.0, dtype=torch.float32)
    t["empty"] = torch.zeros((0, 3), dtype=torch.float16)
    return t


METADATA = {"format": "pt", "source": "gen_safetensors_fixture.py", "note": "caf\u00e9 \u2713"}


def expected(t):
    out = []
    for name in sorted(t):
        x = t[name]
        dtype = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
                 torch.float64: "F64", torch.int64: "I64"}[x.dtype]
        e = {"name": name, "dtype": dtype, "shape": list(x.shape)}
        if dtype == "I64":
            e["i64"] = x.reshape(-1).tolist()
        elif dtype == "BF16":  # the top half of a float32: torch converts by shifting
            f = x.to(torch.float32).reshape(-1).numpy()
            e["f32_bits"] = [int(b) for b in f.view(np.uint32)]
        else:  # numpy converts as the hardware does (NaN payloads kept; torch makes them 0x7FFFFFFF)
            with np.errstate(over="ignore"):
                f = x.reshape(-1).numpy().astype(np.float32)
            e["f32_bits"] = [int(b) for b in f.view(np.uint32)]
        out.append(e)
    return out


def same_as_file(path, t):
    """True when PATH already holds T and METADATA (bit for bit)."""
    if not os.path.exists(path):
        return False
    with safe_open(path, framework="pt") as f:
        if f.metadata() != METADATA or set(f.keys()) != set(t):
            return False
        return all(f.get_tensor(k).dtype == v.dtype and f.get_tensor(k).shape == v.shape and
                   f.get_tensor(k).reshape(-1).view(torch.uint8).equal(v.reshape(-1).view(torch.uint8))
                   for k, v in t.items())


def main():
    os.makedirs(OUT, exist_ok=True)
    t = tensors()
    path = os.path.join(OUT, "st_mixed.safetensors")
    if not same_as_file(path, t):
        save_file(t, path, metadata=METADATA)
        os.chmod(path, 0o644)
    with open(os.path.join(OUT, "st_mixed.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": METADATA, "tensors": expected(t)}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
