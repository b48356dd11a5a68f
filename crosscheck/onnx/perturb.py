#!/usr/bin/python3
"""Negative control for the ONNX Runtime cross-check.

Usage: /usr/bin/python3 perturb.py SRC_DIR DST_DIR INITIALIZER DELTA

Copies every SRC_DIR/*.onnx to DST_DIR with element 0 of the named
initializer (a published weight, e.g. fc.bias) increased by DELTA, so that
run.sh can show that ort_check.mjs rejects a model whose weights differ
from the published ones. Exit 1 when a model lacks the initializer.
"""

import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, dst, name, delta = argv[1], argv[2], argv[3], float(argv[4])
    os.makedirs(dst, exist_ok=True)
    files = sorted(f for f in os.listdir(src) if f.endswith(".onnx"))
    if not files:
        print("perturb.py: no .onnx files in %s" % src, file=sys.stderr)
        return 2
    for f in files:
        model = onnx.load(os.path.join(src, f))
        inits = [t for t in model.graph.initializer if t.name == name]
        if len(inits) != 1:
            print("perturb.py: %s has %d initializers named %s, want 1" % (f, len(inits), name), file=sys.stderr)
            return 1
        a = numpy_helper.to_array(inits[0]).copy()
        before = a.flat[0]
        a.flat[0] = a.flat[0] + np.asarray(delta, dtype=a.dtype)
        inits[0].CopyFrom(numpy_helper.from_array(a, name))
        onnx.save(model, os.path.join(dst, f))
        print("perturbed %s: %s[0] %r -> %r" % (f, name, float(before), float(a.flat[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
