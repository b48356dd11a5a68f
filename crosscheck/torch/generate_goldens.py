"""Compute a golden set with PyTorch, on CPU or CUDA, from the published
golden inputs and weights.

    /usr/bin/python3 crosscheck/torch/generate_goldens.py --device cpu|cuda --out DIR
        [--dtype fp32|fp64] [--models seed-cnn,...] [--goldens DIR] [--weights DIR]

It reads the inputs of every case of the published golden set (default
testdata/goldens/v1), runs the torch.nn reference modules (models.py) with the
published weights on the device and writes DIR/manifest.json and the case
files in the format of golden/golden.go: one set per model version, with
device "cpu" or "cuda", producer "pytorch" and its library versions, and the
tolerance class the set is compared under (cuda FP32: "fp32-gpu"; otherwise
the version's class). `aiconform golden verify DIR` recomputes such a set with
the gorgonia reference models and compares it within that class.

Numerics are pinned: TF32 off for matmul and cuDNN, deterministic cuDNN and
algorithms (CUBLAS_WORKSPACE_CONFIG=:4096:8), and the Transformer runs on
torch's plain path so that every position, padded ones included, is
computed (the fused inference path writes zeros there).

Exit 0 when the set was written; 2 when the device is unavailable, the
inputs or weights cannot be read or their digests differ from the
published manifest; 1 on any other failure.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile

# Deterministic cuBLAS needs this before CUDA initialises.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

try:
    import numpy as np
    import torch

    import goldenset
    import models
    import safetensors_io
except ImportError as _e:  # exit 2: the interpreter lacks PyTorch or numpy
    print(f"generate_goldens: PyTorch not available in {sys.executable}: {_e}", file=sys.stderr)
    sys.exit(2)

GENERATOR_NAME = "aiconform crosscheck/torch/generate_goldens.py"
VERSIONS = {"fp32": ("FP32", torch.float32), "fp64": ("FP64", torch.float64)}


class UsageError(Exception):
    """Exit 2: the device, the inputs or the weights are unavailable."""


def tolerance_class(device, version):
    if device == "cuda" and version == "fp32":
        return "fp32-gpu"
    return version


def configure(device, threads):
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("CUDA not available: torch.cuda.is_available() is false")


def producer(device):
    libs = {"python": platform.python_version(), "numpy": np.__version__}
    if device == "cuda":
        libs["cuda"] = str(torch.version.cuda)
        libs["cudnn"] = str(torch.backends.cudnn.version())
        libs["gpu"] = torch.cuda.get_device_name(0)
    else:
        libs["threads"] = str(torch.get_num_threads())
    return {"name": "pytorch", "version": torch.__version__, "libraries": libs}


def go_json(doc):
    """JSON as Go's json.MarshalIndent(v, "", "  ") writes it (HTML-escaped)."""
    s = json.dumps(doc, indent=2, ensure_ascii=False)
    for c, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        s = s.replace(c, esc)
    return (s + "\n").encode("utf-8")


def check_replaceable(out):
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise UsageError(f"{out} exists and is not a directory")
    if os.listdir(out) and not os.path.exists(os.path.join(out, goldenset.MANIFEST)):
        raise UsageError(f"{out} exists and is not a golden directory (no {goldenset.MANIFEST}); refusing to replace it")


def write_dir_atomic(out, files):
    """Write {relative path: bytes} into a fresh directory beside out and
    rename it into place, replacing an earlier golden set."""
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(out) + ".tmp-", dir=parent)
    try:
        os.chmod(tmp, 0o755)
        for rel, b in files.items():
            p = os.path.join(tmp, *rel.split("/"))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(b)
        old = None
        if os.path.exists(out):
            old = tmp + ".old"
            os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            if old:
                os.rename(old, out)
            raise
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def generate(a):
    try:
        manifest = goldenset.read_manifest(a.goldens)
    except (OSError, ValueError) as e:
        raise UsageError(f"reading the golden inputs: {e}") from e
    problems = goldenset.verify_digests(manifest, a.goldens, a.weights)
    if problems:
        raise UsageError("files differ from the published manifest:\n" + "\n".join(problems))
    want_models = a.models.split(",") if a.models else None
    want_versions = [a.dtype] if a.dtype else list(VERSIONS)
    device = "cuda" if a.device == "cuda" else "cpu"
    prod = producer(device)
    files, sets = {}, []
    for s in manifest["sets"]:
        mid, version = s["model"], s["version"]
        if s["device"] != "cpu" or version not in want_versions or (want_models and mid not in want_models):
            continue
        dt_name, dtype = VERSIONS[version]
        if s["dtype"] != dt_name:
            raise UsageError(f"published set {mid}/{version} has dtype {s['dtype']}, want {dt_name}")
        try:
            model = models.load(mid, a.weights, dtype, device)
        except (OSError, ValueError, RuntimeError) as e:
            raise UsageError(f"{mid}: loading the weights: {e}") from e
        out_set = {
            "model": mid, "version": version, "dtype": dt_name, "device": device, "producer": prod,
            "toleranceClass": tolerance_class(device, version), "weights": dict(s["weights"]), "cases": [],
        }
        for c in s["cases"]:
            ins, _ = goldenset.load_case(a.goldens, c)
            ins = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in ins.items()}
            outs = models.run(model, {k: v.to(device) for k, v in ins.items()})
            outs = {k: v.cpu() for k, v in outs.items()}
            for k, v in outs.items():
                if v.dtype != dtype or not bool(torch.isfinite(v).all()):
                    raise RuntimeError(f"{mid}/{version} {c['name']}: output {k} is {v.dtype} or not finite")
            tensors = {"input." + k: v for k, v in ins.items()}
            tensors.update({"output." + k: v for k, v in outs.items()})
            b = safetensors_io.write_bytes(tensors, {
                "model": mid, "version": version, "case": c["name"], "specVersion": goldenset.SPEC_VERSION,
                "device": device, "producer": "pytorch " + torch.__version__,
            })
            rel = f"{mid}/{version}/{c['name']}.safetensors"
            files[rel] = b
            case = {"name": c["name"]}
            if c.get("description"):
                case["description"] = c["description"]
            case.update({"file": rel, "sha256": sha256_bytes(b), "inputs": sorted(ins), "outputs": sorted(outs)})
            out_set["cases"].append(case)
        sets.append(out_set)
    if not sets:
        raise UsageError(f"no published cpu sets match models {a.models or 'all'} and versions {want_versions}")
    doc = {
        "kind": goldenset.KIND, "specVersion": goldenset.SPEC_VERSION,
        "generator": {"name": GENERATOR_NAME, "version": a.generator_version,
                      "libraries": {"python": platform.python_version(), "torch": torch.__version__}},
        "sets": sets,
    }
    files[goldenset.MANIFEST] = go_json(doc)
    check_replaceable(a.out)
    write_dir_atomic(a.out, files)
    return sets


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--out", required=True, help="directory to write the golden set to")
    ap.add_argument("--dtype", choices=sorted(VERSIONS), help="only this version (default: fp32 and fp64)")
    ap.add_argument("--models", help="comma-separated model ids (default: every model of the published set)")
    ap.add_argument("--goldens", default=goldenset.DEFAULT_GOLDENS, help="published golden set whose inputs are used")
    ap.add_argument("--weights", default=goldenset.DEFAULT_WEIGHTS, help="directory of <model>.safetensors")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--generator-version", default="dev", help="version recorded in the manifest's generator")
    a = ap.parse_args(argv)
    try:
        configure(a.device, a.threads)
        sets = generate(a)
    except UsageError as e:
        print(f"generate_goldens: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - report and exit 1
        print(f"generate_goldens: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    n = sum(len(s["cases"]) for s in sets)
    print(f"wrote {len(sets)} sets ({n} cases) computed by pytorch {torch.__version__} on {sets[0]['device']} to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
