"""An independent implementation of the weight generator of
spec/v1/reference-models.md ("Weights" › "Generator"), used to check that
the published weights files are what the spec says, bit for bit.

    /usr/bin/python3 weightgen.py [--weights DIR]     # exit 1 on any difference
"""

import argparse
import math
import os
import sys

import numpy as np
import torch

import models
import safetensors_io

GLOBAL_SEED = "aiconform/v1"
_MASK = (1 << 64) - 1


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h


def splitmix64(seed, count):
    """The first count draws of SplitMix64 from state seed, as uint64. The
    state after k draws is seed + k·γ (mod 2⁶⁴), so the draws vectorise."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15) * np.arange(1, count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit_values(name, count):
    """The first count unit values u in [0, 1) of the stream of tensor name."""
    z = splitmix64(fnv1a64((GLOBAL_SEED + "/" + name).encode("utf-8")), count)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def fan_in_bound(f):
    return 1.0 / math.sqrt(f)


def rule(model_id, name):
    """(center, bound) of tensor name of model_id, per the spec's tables."""
    if model_id == "seed-cnn":
        return 0.0, {"conv1": fan_in_bound(9), "conv2": fan_in_bound(288), "fc": fan_in_bound(3136)}[name.split(".")[0]]
    if model_id == "seed-rnn":
        return 0.0, fan_in_bound(50)
    if model_id == "seed-transformer":
        if name == "token_embedding.weight":
            return 0.0, 1.0
        leaf = name.split(".", 3)[-1] if name.startswith("encoder.layers.") else name
        if leaf.startswith("linear2."):
            return 0.0, fan_in_bound(512)
        if leaf in ("norm1.weight", "norm2.weight"):
            return 1.0, 0.1
        if leaf in ("norm1.bias", "norm2.bias"):
            return 0.0, 0.1
        return 0.0, fan_in_bound(128)
    raise ValueError(f"unknown model {model_id!r}")


def generate(model_id):
    """{state_dict name: F32 tensor} of model_id, names and shapes from the torch module."""
    out = {}
    for name, p in models.build(model_id).state_dict().items():
        c, b = rule(model_id, name)
        u = unit_values(name, p.numel())
        v = (2.0 * b) * u - b  # two roundings, as the spec says: t = (2b)·u, then t − b
        if c != 0.0:
            v = c + v
        out[name] = torch.from_numpy(v.astype(np.float32).reshape(tuple(p.shape)))
    return out


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=os.path.join(here, "..", "..", "testdata", "weights"))
    ap.add_argument("--models", default=",".join(models.MODEL_IDS))
    a = ap.parse_args(argv)
    bad = 0
    for mid in a.models.split(","):
        p = models.weights_path(a.weights, mid)
        if not os.path.exists(p):
            print(f"{mid}: {p} not published yet: skipped")
            continue
        pub, meta = safetensors_io.read_file(p)
        gen = generate(mid)
        if set(pub) != set(gen):
            print(f"FAIL {mid}: {p} names {sorted(set(pub) ^ set(gen))} differ from the spec")
            bad += 1
            continue
        # Bit for bit is sound here, on any CPU: the generator uses integer
        # arithmetic and binary64 operations that IEEE 754 rounds correctly
        # (sqrt, division, product, difference, the cast to binary32), no
        # transcendental function and no reduction whose order could vary.
        diff = [n for n in sorted(gen) if pub[n].shape != gen[n].shape or not torch.equal(pub[n], gen[n])]
        if diff:
            n = diff[0]
            i = int((pub[n].flatten() != gen[n].flatten()).nonzero()[0]) if pub[n].shape == gen[n].shape else -1
            print(f"FAIL {mid}: {len(diff)} tensors differ from the spec's generator, first {n} at flat index {i}")
            bad += 1
            continue
        print(f"{mid}: all {len(gen)} tensors equal the spec's generator bit for bit (metadata {meta})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
