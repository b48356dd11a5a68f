"""Cross-check the published goldens with PyTorch.

For every set of a golden manifest: check the sha256 of every file (exit 1
naming the file on a difference), load the torch.nn reference modules from
the published weights, run every case on CPU in the set's datatype and
compare each output with the golden:

  FP64 sets: |got − want| ≤ 1e-12 + 1e-10·|want| (the cross-check rule:
             two FP64 implementations agree to about 1e-10);
  FP32 sets: the set's tolerance class from spec/v1/requirements.json.

The Transformer's logits at padded positions (attention_mask 0) are not
compared. Both of torch's paths are checked: the plain path (autograd on)
and the fused inference path (no_grad). Exit 0 when everything agrees, 1
when a file's digest differs or a case is outside its rule, 2 when the set
cannot be read.

It also prints the cross-distances the tolerance classes are set from:
torch FP32 vs golden FP64, torch FP64 vs golden FP64, torch FP32 vs golden
FP32, golden FP32 vs golden FP64, and torch fused vs plain path.

    /usr/bin/python3 crosscheck/torch/check_goldens.py [--goldens DIR] [--weights DIR] [--json FILE]
"""

import argparse
import json
import os
import sys

import torch

import goldenset
import models

FP64_RULE = (1e-10, 1e-12)  # rtol, atol


def setup_torch(threads=2):
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def fmt(v):
    return f"{v:.2e}" if isinstance(v, float) else str(v)


def _numeric(c):
    try:
        float(c)
        return True
    except ValueError:
        return False


def print_table(out, header, rows):
    cols = [header] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(header))]

    def line(r):
        return "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)).rstrip()

    print(line(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cols[1:]:
        print(line(r), file=out)


def main(argv=None, out=sys.stdout, err=sys.stderr):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--goldens", default=goldenset.DEFAULT_GOLDENS, help="golden directory (manifest.json)")
    ap.add_argument("--weights", default=goldenset.DEFAULT_WEIGHTS, help="directory of <model>.safetensors")
    ap.add_argument("--catalog", default=goldenset.DEFAULT_CATALOG, help="spec/v1/requirements.json")
    ap.add_argument("--device", default="cpu", help="torch device to compute on (default cpu)")
    ap.add_argument("--models", help="comma-separated model ids to check (default: every set of the manifest)")
    ap.add_argument("--json", help="also write every distance as JSON to this file")
    a = ap.parse_args(argv)
    setup_torch()

    try:
        manifest = goldenset.read_manifest(a.goldens)
        classes = goldenset.tolerance_classes(a.catalog)
    except (OSError, ValueError) as e:
        print(f"check_goldens: {e}", file=err)
        return 2
    if a.models:
        wanted = a.models.split(",")
        unknown = sorted(set(wanted) - {s["model"] for s in manifest["sets"]})
        if unknown:
            print(f"check_goldens: --models {','.join(unknown)}: no such sets in the manifest", file=err)
            return 2
        manifest["sets"] = [s for s in manifest["sets"] if s["model"] in wanted]
    problems = goldenset.verify_digests(manifest, a.goldens, a.weights)
    if problems:
        for p in problems:
            print(f"FAIL {p}", file=err)
        print(f"check_goldens: {len(problems)} files differ from {os.path.join(a.goldens, goldenset.MANIFEST)}", file=err)
        return 1

    # Inputs, goldens and torch outputs of every case, keyed by
    # (model, device, dtype name) then case name.
    cases = {}
    gating = []  # (row name, rule name, case count, Diff)
    for s in manifest["sets"]:
        mid, dt = s["model"], s["dtype"]
        if dt not in goldenset.TORCH_DTYPES:
            print(f"check_goldens: set {mid}/{s['version']}: dtype {dt} is not FP32 or FP64", file=err)
            return 2
        if dt == "FP64":
            rule, rule_name = FP64_RULE, "crosscheck-fp64"
        elif s["toleranceClass"] in classes:
            rule, rule_name = classes[s["toleranceClass"]], s["toleranceClass"]
        else:
            print(f"check_goldens: set {mid}/{s['version']}: tolerance class {s['toleranceClass']!r} is not in {a.catalog}", file=err)
            return 2
        tdt = goldenset.TORCH_DTYPES[dt]
        try:
            model = models.load(mid, a.weights, tdt, a.device)
        except (OSError, ValueError, RuntimeError) as e:
            print(f"check_goldens: {mid}: loading the weights: {e}", file=err)
            return 2
        key = (mid, s["device"], dt)
        per = cases.setdefault(key, {})
        diffs = {p: goldenset.Diff(*rule) for p in ("plain", "fused")}
        for c in s["cases"]:
            try:
                ins, want = goldenset.load_case(a.goldens, c)
            except (OSError, ValueError) as e:
                print(f"check_goldens: {e}", file=err)
                return 2
            dev_ins = {k: v.to(a.device) for k, v in ins.items()}
            got = {p: models.run(model, dev_ins, fast_path=(p == "fused")) for p in diffs}
            per[c["name"]] = (ins, want, got)
            for p, d in diffs.items():
                for name in c["outputs"]:
                    label = f"{mid}/{s['version']} {c['name']} {name}"
                    if name not in got[p]:
                        print(f"check_goldens: {label}: the torch model has no output {name!r}", file=err)
                        return 2
                    mask = goldenset.valid_mask(mid, ins, want[name])
                    t = goldenset.Diff(*rule)
                    t.add(label, got[p][name], want[name], mask, tdt)
                    d.merge(t)
                    if not t.ok():
                        w = t.worst
                        print(f"FAIL {label} (torch {p} path, {s['device']} {dt}, rule {rule_name}: rtol {rule[0]:g} atol {rule[1]:g}): "
                              f"{t.bad} of {t.elements} elements outside; worst at {list(w[2])}: got {w[3]!r} want {w[4]!r} (ratio {w[0]:.3g})",
                              file=err)
        for p, d in diffs.items():
            gating.append((f"{mid}/{s['version']} ({s['device']}) torch {p} vs golden", rule_name, len(s["cases"]), d))

    rows = [(name, rule, n, d.elements, d.max_abs, d.max_rel, d.max_ulp, d.max_ratio, "pass" if d.ok() else "FAIL")
            for name, rule, n, d in gating]
    print("Golden cross-check (torch %s on %s, %d threads)" % (torch.__version__, a.device, torch.get_num_threads()), file=out)
    print_table(out, ["set", "rule", "cases", "elements", "max abs", "max rel", "max ULP", "worst ratio", "status"], rows)

    # Cross-distances, measured against the spec's classes.
    f32 = classes.get("fp32", (1e-4, 1e-5))
    f64 = classes.get("fp64", FP64_RULE)
    cross = []
    for (mid, dev, dt) in sorted(cases):
        if dt != "FP64" or (mid, dev, "FP32") not in cases:
            continue
        c64, c32 = cases[(mid, dev, "FP64")], cases[(mid, dev, "FP32")]
        common = [n for n in c64 if n in c32]
        m32 = None
        kinds = {
            "torch FP32 vs golden FP64": f32,
            "torch FP64 vs golden FP64": f64,
            "torch FP32 vs golden FP32": f32,
            "golden FP32 vs golden FP64": f32,
            "torch FP32 vs torch FP64": f32,
            "torch FP32 fused vs plain": f32,
            "torch FP64 fused vs plain": f64,
        }
        outputs = sorted({o for n in common for o in c64[n][1]})
        ds = {(k, o, sc): goldenset.Diff(*r) for k, r in kinds.items() for o in outputs for sc in ("all", "in-domain")}
        for n in common:
            ins64, want64, got64 = c64[n]
            ins32, want32, got32 = c32[n]
            # The FP32 inputs of a case, narrowed from the FP64 set's (exact).
            ins = {k: (v.to(torch.float32) if v.is_floating_point() else v).to(a.device) for k, v in ins64.items()}
            same = ins.keys() == ins32.keys() and all(torch.equal(ins[k].cpu(), ins32[k]) for k in ins)
            if not same and m32 is None:
                m32 = models.load(mid, a.weights, torch.float32, a.device)
            t32 = got32["plain"] if same else models.run(m32, ins)
            for o in want64:
                mask = goldenset.valid_mask(mid, ins64, want64[o])
                lab = f"{mid} {n} {o}"
                pairs = {
                    "torch FP32 vs golden FP64": (t32[o], want64[o], torch.float32),
                    "torch FP64 vs golden FP64": (got64["plain"][o], want64[o], torch.float64),
                    "torch FP32 vs golden FP32": (got32["plain"][o], want32[o], torch.float32),
                    "golden FP32 vs golden FP64": (want32[o], want64[o], torch.float32),
                    "torch FP32 vs torch FP64": (got32["plain"][o], got64["plain"][o], torch.float32),
                    "torch FP32 fused vs plain": (got32["fused"][o], got32["plain"][o], torch.float32),
                    "torch FP64 fused vs plain": (got64["fused"][o], got64["plain"][o], torch.float64),
                }
                rows = goldenset.in_domain(mid, ins64)
                dmask = mask & rows.reshape((-1,) + (1,) * (mask.ndim - 1))
                for k, (g, w, udt) in pairs.items():
                    ds[(k, o, "all")].add(lab, g, w, mask, udt)
                    ds[(k, o, "in-domain")].add(lab, g, w, dmask, udt)
        for (k, o, sc), d in ds.items():
            cross.append((mid, dev, k, o, sc, len(common), d))
    if cross:
        print("\nCross-distances (valid positions only; ratio is to the spec class named; ULPs of the first operand's datatype)", file=out)
        crow = []
        for mid, dev, k, o, sc, n, d in cross:
            cls = "fp64" if (d.rtol, d.atol) == f64 else "fp32"
            crow.append((mid, k, o, sc, cls, n, d.elements, d.max_abs, d.max_rel, d.rtol_needed, d.max_ulp, d.max_ratio))
        print_table(out, ["model", "comparison", "output", "samples", "class", "cases", "elements", "max abs", "max rel",
                          "rtol needed @atol", "max ULP", "worst ratio"], crow)

    if a.json:
        doc = {
            "torch": torch.__version__, "device": a.device, "threads": torch.get_num_threads(),
            "goldens": os.path.abspath(a.goldens),
            "checks": [{"set": name, "rule": rule, "cases": n, **d.as_dict()} for name, rule, n, d in gating],
            "cross": [{"model": mid, "device": dev, "comparison": k, "output": o, "samples": sc, "cases": n, **d.as_dict()}
                      for mid, dev, k, o, sc, n, d in cross],
        }
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, a.json)

    bad = [(name, d) for name, _, _, d in gating if not d.ok()]
    if bad:
        for name, d in bad:
            w = d.worst
            print(f"FAIL {name}: {d.bad} of {d.elements} elements outside; worst {w[1]} at {list(w[2])}: got {w[3]!r} want {w[4]!r} (ratio {w[0]:.3g})", file=err)
        return 1
    print(f"\nall {sum(d.tensors for _, _, _, d in gating)} tensor comparisons within their rule", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
