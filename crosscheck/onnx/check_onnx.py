#!/usr/bin/python3
"""Check exported aiconform ONNX models with onnx.checker (Debian's python3-onnx).

Usage: /usr/bin/python3 crosscheck/onnx/check_onnx.py FILE_OR_DIR...

A directory stands for every *.onnx file in it. Each file must pass
onnx.checker.check_model(model, full_check=True), which also runs strict
shape inference, and must declare IR version >= 7 and the default operator
set at version >= 13. Exit 0 when every file passes, 1 when one fails, 2 on
bad usage (no files).
"""

import os
import sys

import onnx


MIN_IR_VERSION = 7
MIN_OPSET = 13


def files_of(args):
    for a in args:
        if os.path.isdir(a):
            for name in sorted(os.listdir(a)):
                if name.endswith(".onnx"):
                    yield os.path.join(a, name)
        else:
            yield a


def check(path):
    """Return None when path passes, else a one-line reason."""
    try:
        model = onnx.load(path)
    except Exception as e:  # a file that is not an ONNX model
        return "cannot load: %s" % e
    if model.ir_version < MIN_IR_VERSION:
        return "ir_version %d, want >= %d" % (model.ir_version, MIN_IR_VERSION)
    default = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not default or default[0] < MIN_OPSET:
        return "default opset %s, want >= %d" % (default, MIN_OPSET)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        return "onnx.checker: %s" % str(e).strip().replace("\n", " | ")
    return None


def main(argv):
    paths = list(files_of(argv[1:]))
    if not paths:
        print("usage: check_onnx.py FILE_OR_DIR... (no .onnx files given)", file=sys.stderr)
        return 2
    failed = 0
    for p in paths:
        reason = check(p)
        if reason is None:
            m = onnx.load(p, load_external_data=False)
            opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0]
            print("ok    %s (ir_version %d, opset %d, %d nodes, %d initializers)"
                  % (p, m.ir_version, opset, len(m.graph.node), len(m.graph.initializer)))
        else:
            failed += 1
            print("FAIL  %s: %s" % (p, reason))
    print("onnx %s: %d of %d files pass onnx.checker (full_check)" % (onnx.__version__, len(paths) - failed, len(paths)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
