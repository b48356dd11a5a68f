"""Summarise crosscheck/bench/run.sh output directories as the Markdown
tables of docs/performance.md.

    /usr/bin/python3 crosscheck/bench/table.py OUTDIR...

The rounds of all the directories are pooled. A round's time is, for Go,
the ns/op of its benchmark and, for PyTorch, the median over its samples.
Times are the median over the rounds, with the best round in brackets.
A ratio a/b is a time ratio (above 1: a is slower), given as the median of
the per-round ratios, which pair measurements taken a minute apart under
the same load, with their range over the rounds.
"""

import glob
import json
import os
import re
import statistics
import sys

GO_LINE = re.compile(
    r"^BenchmarkForward/model=(?P<model>[\w-]+)/batch=(?P<batch>\d+)/impl=(?P<impl>[\w-]+?)(?:-\d+)?\s+\d+\s+(?P<ns>[\d.]+) ns/op")
MODELS = ("seed-cnn", "seed-rnn", "seed-transformer")
BATCHES = (1, 8)
T = 64

# Column key → label, in table order.
IMPLS = (
    ("gorgonia-fp32", "gorgonia FP32"),
    ("gorgonia-fp64", "gorgonia FP64"),
    ("plain-fp64", "plain Go float64"),
    ("torch-fp32", "PyTorch FP32"),
    ("torch-fp64", "PyTorch FP64"),
    ("torch-fp32-openblas", "PyTorch FP32, OpenBLAS"),
)
RATIOS = (
    ("gorgonia-fp32", "torch-fp32"),
    ("gorgonia-fp32", "torch-fp32-openblas"),
    ("gorgonia-fp64", "torch-fp64"),
    ("gorgonia-fp64", "gorgonia-fp32"),
    ("plain-fp64", "gorgonia-fp64"),
    ("plain-fp64", "gorgonia-fp32"),
)


def flops(model, n, t):
    """Same formulas as reference/bench_test.go forwardFLOPs and bench.py."""
    if model == "seed-cnn":
        return 2 * n * (28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 10)
    if model == "seed-rnn":
        return 2 * n * (t * (10 * 50 + 3 * 50 * 50) + 50 * 2)
    d, f, layers, heads, dh = 128, 512, 6, 8, 16
    return 2 * n * (layers * (t * d * 3 * d + 2 * heads * t * t * dh + t * d * d + 2 * t * d * f) + t * d * 100)


def load(outdir):
    """{(model, batch, impl): [ns per round, in round order]}."""
    runs = {}
    with open(os.path.join(outdir, "go.txt")) as f:
        for line in f:
            m = GO_LINE.match(line)
            if m:
                runs.setdefault((m["model"], int(m["batch"]), m["impl"]), []).append(float(m["ns"]))
    for variant in ("fp32", "fp64", "fp32-openblas"):
        files = sorted(glob.glob(os.path.join(outdir, f"torch-{variant}-*.json")),
                       key=lambda p: int(re.search(r"-(\d+)\.json$", p)[1]))
        files = [p for p in files if re.fullmatch(rf"torch-{variant}-\d+\.json", os.path.basename(p))]
        for p in files:
            with open(p) as f:
                doc = json.load(f)
            for r in doc["results"]:
                runs.setdefault((r["model"], r["batch"], "torch-" + variant), []).append(float(r["nsPerOp"]))
    counts = {len(v) for v in runs.values()}
    if len(counts) != 1:
        raise SystemExit(f"table: {outdir}: the measurements have different numbers of rounds {sorted(counts)}: is the run complete?")
    return runs


def fmt_ms(ns):
    ms = ns / 1e6
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    runs = {}
    for d in argv[1:]:
        for k, v in load(d).items():
            runs.setdefault(k, []).extend(v)
    impls = [(k, l) for k, l in IMPLS if any(key[2] == k for key in runs)]
    print("Time per forward pass in ms, median [best round]:\n")
    header = "| model | batch | MFLOP | " + " | ".join(l for _, l in impls) + " |\n|---|---|---|" + "---|" * len(impls)
    print(header)
    for model in MODELS:
        for n in BATCHES:
            fl = flops(model, n, T)
            cells = []
            for k, _ in impls:
                v = runs.get((model, n, k))
                cells.append(f"{fmt_ms(statistics.median(v))} [{fmt_ms(min(v))}]" if v else "—")
            print(f"| {model} | {n} | {fl / 1e6:.1f} | " + " | ".join(cells) + " |")
    print("\nAchieved GFLOP/s at the median time [at the best round]:\n")
    print(header)
    for model in MODELS:
        for n in BATCHES:
            fl = flops(model, n, T)
            cells = []
            for k, _ in impls:
                v = runs.get((model, n, k))
                cells.append(f"{fl / statistics.median(v):.2f} [{fl / min(v):.2f}]" if v else "—")
            print(f"| {model} | {n} | {fl / 1e6:.1f} | " + " | ".join(cells) + " |")
    ratios = [(a, b) for a, b in RATIOS if any(k[2] == a for k in runs) and any(k[2] == b for k in runs)]
    label = dict(IMPLS)
    print("\nTime ratios, median of the per-round ratios [range over the rounds]:\n")
    print("| model | batch | " + " | ".join(f"{label[a]} / {label[b]}" for a, b in ratios) + " |")
    print("|---|---|" + "---|" * len(ratios))
    for model in MODELS:
        for n in BATCHES:
            cells = []
            for a, b in ratios:
                va, vb = runs.get((model, n, a), []), runs.get((model, n, b), [])
                rs = [x / y for x, y in zip(va, vb)]
                cells.append(f"{statistics.median(rs):.2f} [{min(rs):.2f}–{max(rs):.2f}]" if rs else "—")
            print(f"| {model} | {n} | " + " | ".join(cells) + " |")
    counts = sorted({len(v) for v in runs.values()})
    print(f"\nRounds per cell: {', '.join(map(str, counts))}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
