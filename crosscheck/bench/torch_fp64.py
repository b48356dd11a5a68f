"""PyTorch CPU forward-pass timings in FP64, the companion of
crosscheck/torch/bench.py (which times FP32): the same models, batch sizes,
sequence length, golden-case inputs (taken from the fp64 golden sets),
timing loop, thread count and FLOP formulas, with the modules converted to
torch.float64.

    /usr/bin/python3 crosscheck/bench/torch_fp64.py [--threads 2] [--samples 15] [--out FILE]

Prints one JSON document shaped like bench.py's, with "dtype": "FP64".
"""

import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))

# Importing bench sets the allocator and OpenMP environment (it re-executes
# this script when they are missing) and brings torch, goldenset and models.
import bench  # noqa: E402
import goldenset  # noqa: E402
import models  # noqa: E402
import torch  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--goldens", default=goldenset.DEFAULT_GOLDENS)
    ap.add_argument("--weights", default=goldenset.DEFAULT_WEIGHTS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--min-sample-ms", type=float, default=50)
    ap.add_argument("--models", default=",".join(models.MODEL_IDS))
    ap.add_argument("--out", help="also write the JSON to this file")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    manifest = goldenset.read_manifest(a.goldens)
    results = []
    for mid in a.models.split(","):
        sets = [s for s in manifest["sets"] if s["model"] == mid and s["version"] == "fp64" and s["device"] == "cpu"]
        if not sets:
            print(f"torch_fp64: {mid}: no published fp64 golden set", file=sys.stderr)
            return 2
        model = models.load(mid, a.weights, torch.float64)
        for b in bench.BATCHES:
            ins, source = bench.bench_inputs(a.goldens, sets[0], b)
            for k, v in ins.items():
                if v.is_floating_point() and v.dtype != torch.float64:
                    print(f"torch_fp64: {mid} {source}: input {k} is {v.dtype}, want float64", file=sys.stderr)
                    return 2
            t = 1 if mid == "seed-cnn" else bench.SEQ_LEN
            per, iters = bench.time_forward(model, ins, a.samples, a.min_sample_ms * 1e6)
            med = statistics.median(per)
            fl = bench.flops(mid, b, t)
            results.append({
                "model": mid, "dtype": "FP64", "batch": b, "seqLen": None if mid == "seed-cnn" else t,
                "inputs": source, "nsPerOp": round(med), "minNsPerOp": round(min(per)), "maxNsPerOp": round(max(per)),
                "samples": len(per), "itersPerSample": iters, "flops": fl, "gflops": round(fl / med, 3),
            })
    doc = {
        "producer": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "path": "eval mode under torch.no_grad() (torch's fused inference path where it applies)",
        "blas": bench.blas_info(), "env": bench.ENV, "cpus": os.cpu_count(),
        "flopsConvention": "2 per multiply-add of convolutions, matrix products and attention",
        "results": results,
    }
    text = json.dumps(doc, indent=2) + "\n"
    sys.stdout.write(text)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
