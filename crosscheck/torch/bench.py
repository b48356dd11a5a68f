"""PyTorch CPU benchmark of the reference models' forward pass, for
docs/performance.md: FP32, batch 1 and 8 (seed-rnn and seed-transformer at
T = 64), the inputs of the published golden cases, 2 threads.

    /usr/bin/python3 crosscheck/torch/bench.py [--out FILE] [--threads 2] [--samples 15]

Prints one JSON document: per model and batch the median nanoseconds per
forward pass over --samples timed samples (each sample runs enough
iterations to last at least --min-sample-ms, after a warm-up), the spread,
the FLOP count per forward pass and the achieved GFLOP/s. The allocator and
OpenMP settings the Go benchmarks use are set before torch starts (the
script re-executes itself when they are missing from its environment).

FLOPs count the multiply-adds of the convolutions, matrix products and
attention (2 per multiply-add); biases, activations, pooling, softmax and
LayerNorm are not counted.
"""

import argparse
import json
import os
import statistics
import sys
import time

ENV = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "268435456",
    "OMP_PROC_BIND": "true",
}

if any(os.environ.get(k) != v for k, v in ENV.items()):
    # glibc's malloc and OpenMP read these at start-up: re-execute with them.
    os.environ.update(ENV)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402

import goldenset  # noqa: E402
import models  # noqa: E402

SEQ_LEN = 64
BATCHES = (1, 8)


def blas_info():
    """torch's BLAS build setting and, for a "generic" build, the libblas it
    loaded (Debian's default is the netlib reference BLAS, single-threaded)."""
    cfg = torch.__config__.show()
    info = next((f.split("=", 1)[1] for f in cfg.replace(",", " ").split() if f.startswith("BLAS_INFO=")), "unknown")
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "blas" in l.rsplit("/", 1)[-1]})
    except OSError:
        libs = []
    return {"buildSetting": info, "loaded": [os.path.realpath(l) for l in libs]}


def flops(model_id, n, t):
    """FLOPs of one forward pass (2 per multiply-add; see the module doc)."""
    if model_id == "seed-cnn":
        per = 28 * 28 * 32 * 1 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 10
        return 2 * n * per
    if model_id == "seed-rnn":
        return 2 * n * (t * (10 * 50 + 50 * 50 + 50 * 50 + 50 * 50) + 50 * 2)
    d, f, layers, heads, dh = 128, 512, 6, 8, 16
    per_layer = t * d * 3 * d + 2 * heads * t * t * dh + t * d * d + 2 * t * d * f
    return 2 * n * (layers * per_layer + t * d * 100)


def bench_inputs(goldens, set_, batch):
    """Inputs of batch size `batch` (and length SEQ_LEN for sequence models)
    from the set's golden cases: a case of that shape when there is one, else
    rows of the set's cases of that length, concatenated in case order."""
    mid = set_["model"]
    rows, named = [], None
    for c in set_["cases"]:
        ins, _ = goldenset.load_case(goldens, c)
        x = ins["input_ids"] if mid == "seed-transformer" else ins["input"]
        if mid != "seed-cnn" and x.shape[1] != SEQ_LEN:
            continue
        if x.shape[0] == batch:
            return ins, c["name"]
        rows.append(ins)
        named = named or c["name"]
    if not rows:
        raise ValueError(f"{mid}: no golden case of length {SEQ_LEN}")
    keys = rows[0].keys()
    cat = {k: torch.cat([r[k] for r in rows if k in r], 0) for k in keys if all(k in r for r in rows)}
    while next(iter(cat.values())).shape[0] < batch:
        cat = {k: torch.cat([v, v], 0) for k, v in cat.items()}
    return {k: v[:batch] for k, v in cat.items()}, f"first {batch} rows of the cases of length {SEQ_LEN} (from {named} on)"


def time_forward(model, inputs, samples, min_sample_ns):
    def once():
        return model(**inputs)

    with torch.no_grad():
        for _ in range(5):
            once()
        iters, t = 1, 0
        while True:  # calibrate iterations per sample
            t0 = time.perf_counter_ns()
            for _ in range(iters):
                once()
            t = time.perf_counter_ns() - t0
            if t >= min_sample_ns:
                break
            iters = max(iters * 2, int(iters * min_sample_ns / max(t, 1)) + 1)
        per = []
        for _ in range(samples):
            t0 = time.perf_counter_ns()
            for _ in range(iters):
                once()
            per.append((time.perf_counter_ns() - t0) / iters)
    return per, iters


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
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    results = []
    for mid in a.models.split(","):
        sets = [s for s in manifest["sets"] if s["model"] == mid and s["version"] == "fp32" and s["device"] == "cpu"]
        if not sets:
            print(f"bench: {mid}: no published fp32 golden set: skipped", file=sys.stderr)
            continue
        model = models.load(mid, a.weights, torch.float32)
        for b in BATCHES:
            ins, source = bench_inputs(a.goldens, sets[0], b)
            t = 1 if mid == "seed-cnn" else SEQ_LEN
            per, iters = time_forward(model, ins, a.samples, a.min_sample_ms * 1e6)
            med = statistics.median(per)
            fl = flops(mid, b, t)
            results.append({
                "model": mid, "dtype": "FP32", "batch": b, "seqLen": None if mid == "seed-cnn" else t,
                "inputs": source, "nsPerOp": round(med), "minNsPerOp": round(min(per)), "maxNsPerOp": round(max(per)),
                "samples": len(per), "itersPerSample": iters, "flops": fl, "gflops": round(fl / med, 3),
            })
    doc = {
        "producer": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "path": "eval mode under torch.no_grad() (torch's fused inference path where it applies)",
        "blas": blas_info(), "env": ENV, "cpus": os.cpu_count(), "loadAverageAtStart": load_at_start,
        "loadAverageAtEnd": [round(v, 2) for v in os.getloadavg()], "flopsConvention": "2 per multiply-add of convolutions, matrix products and attention",
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
