"""Golden sets (golden/golden.go) from Python: the manifest, digests, case
files, tolerance classes and the comparison rule of spec/v1/tolerances.md."""

import hashlib
import json
import os

import numpy as np
import torch

import safetensors_io

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_GOLDENS = os.path.join(REPO_ROOT, "testdata", "goldens", "v1")
DEFAULT_WEIGHTS = os.path.join(REPO_ROOT, "testdata", "weights")
DEFAULT_CATALOG = os.path.join(REPO_ROOT, "spec", "v1", "requirements.json")
MANIFEST = "manifest.json"
KIND = "golden-manifest"
SPEC_VERSION = "v1"

TORCH_DTYPES = {"FP32": torch.float32, "FP64": torch.float64}


class IntegrityError(Exception):
    """A file whose sha256 differs from its manifest's record, or is missing."""


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(goldens_dir):
    p = os.path.join(goldens_dir, MANIFEST)
    with open(p, "rb") as f:
        m = json.load(f)
    if m.get("kind") != KIND:
        raise ValueError(f"{p}: /kind is {m.get('kind')!r}, want {KIND!r}")
    if m.get("specVersion") != SPEC_VERSION:
        raise ValueError(f"{p}: /specVersion is {m.get('specVersion')!r}, want {SPEC_VERSION!r}")
    return m


def weights_file(weights_dir, ref):
    """The local path of a set's weights FileRef ("weights/<id>.safetensors",
    relative to the testdata root) inside weights_dir."""
    return os.path.join(weights_dir, os.path.basename(ref["path"]))


def verify_digests(manifest, goldens_dir, weights_dir):
    """Check the sha256 of every case file and weights file; returns the list
    of problems, each naming the file ([] when all agree)."""
    problems, seen = [], set()
    for s in manifest["sets"]:
        files = [(weights_file(weights_dir, s["weights"]), s["weights"]["sha256"])]
        files += [(os.path.join(goldens_dir, c["file"]), c["sha256"]) for c in s["cases"]]
        for path, want in files:
            if path in seen:
                continue
            seen.add(path)
            try:
                got = sha256_file(path)
            except OSError as e:
                problems.append(f"{path}: cannot read the file the manifest lists: {e.strerror}")
                continue
            if got != want:
                problems.append(f"{path}: sha256 is {got}, the manifest records {want}")
    return problems


def load_case(goldens_dir, case):
    """({input name: tensor}, {output name: tensor}) of a case."""
    p = os.path.join(goldens_dir, case["file"])
    tensors, _ = safetensors_io.read_file(p)
    ins, outs = {}, {}
    for names, prefix, dst in ((case["inputs"], "input.", ins), (case["outputs"], "output.", outs)):
        for n in names:
            if prefix + n not in tensors:
                raise ValueError(f"{p}: case {case['name']} lists {n!r} but the file has no tensor {prefix + n!r}")
            dst[n] = tensors[prefix + n]
    return ins, outs


def tolerance_classes(catalog_path=DEFAULT_CATALOG):
    """{class id: (rtol, atol)} from spec/v1/requirements.json."""
    with open(catalog_path, "rb") as f:
        cat = json.load(f)
    return {c["id"]: (float(c["rtol"]), float(c["atol"])) for c in cat["toleranceClasses"]}


def valid_mask(model_id, inputs, output):
    """Boolean mask of the output elements the standard compares: all of
    them, except the Transformer's logits at padded positions."""
    if model_id == "seed-transformer" and "attention_mask" in inputs:
        m = inputs["attention_mask"].numpy() != 0
        return np.broadcast_to(m[..., None], output.shape)
    return np.ones(output.shape, dtype=bool)


def in_domain(model_id, inputs):
    """Boolean [N]: which samples of a case lie in the input domain of
    spec/v1/reference-models.md ("Input domain"), on which the tolerance
    classes apply. The spec draws seed-cnn values uniform in [0, 1) and
    seed-rnn values in [−1, 1); the closed intervals are taken here, so that
    the saturated edge inputs (all 1s) count as in the domain. seed-transformer
    ids in 0…99."""
    if model_id == "seed-cnn":
        x = inputs["input"].double()
        return ((x >= 0) & (x <= 1)).flatten(1).all(1).numpy()
    if model_id == "seed-rnn":
        x = inputs["input"].double()
        return ((x >= -1) & (x <= 1)).flatten(1).all(1).numpy()
    ids = inputs["input_ids"]
    return ((ids >= 0) & (ids < 100)).all(1).numpy()


def _ordered(x, npdt, idt):
    # Map values to integers in the order of the values (-0 and +0 equal):
    # the bit pattern for x >= 0, minus the magnitude's pattern for x < 0.
    bits = x.astype(npdt).view(idt).astype(np.int64)
    mag = bits & np.int64(np.iinfo(idt).max)
    return np.where(bits < 0, -mag, mag)


def ulp_distance(got, want, dtype):
    """Largest number of representable values of dtype between got and want
    (both rounded to dtype)."""
    if got.size == 0:
        return 0
    npdt, idt = (np.float32, np.int32) if dtype == torch.float32 else (np.float64, np.int64)
    g, w = _ordered(got, npdt, idt), _ordered(want, npdt, idt)
    # The true difference fits in 64 unsigned bits; subtract in uint64.
    gu, wu = g.view(np.uint64), w.view(np.uint64)
    with np.errstate(over="ignore"):
        d = np.where(g >= w, gu - wu, wu - gu)
    return int(d.max())


class Diff:
    """Agreement of got with want under |g − w| ≤ atol + rtol·|w| (binary64),
    over the elements where mask is true, accumulated over several tensors."""

    def __init__(self, rtol, atol):
        self.rtol, self.atol = rtol, atol
        self.tensors = self.elements = self.bad = 0
        self.max_abs = self.max_rel = self.max_ratio = self.rtol_needed = 0.0
        self.max_ulp = 0
        self.worst = None  # (ratio, label, index, got, want)

    def add(self, label, got, want, mask=None, ulp_dtype=None):
        g = got.detach().cpu().numpy().astype(np.float64)
        w = want.detach().cpu().numpy().astype(np.float64)
        if g.shape != w.shape:
            self.tensors += 1
            self.bad += 1
            self.max_ratio = float("inf")
            self.worst = (float("inf"), label, (), f"shape {list(g.shape)}", f"shape {list(w.shape)}")
            return
        if mask is None:
            mask = np.ones(w.shape, dtype=bool)
        idx = np.argwhere(mask)
        gm, wm = g[mask], w[mask]
        d = np.abs(gm - wm)
        d = np.where(np.isnan(d) | np.isnan(gm), np.inf, d)
        bound = self.atol + self.rtol * np.abs(wm)
        ratio = d / bound
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(d == 0, 0.0, d / np.abs(wm))
            need = np.where(d <= self.atol, 0.0, (d - self.atol) / np.abs(wm))
        self.tensors += 1
        self.elements += int(d.size)
        self.bad += int(np.count_nonzero(~(ratio <= 1)))
        if d.size:
            self.max_abs = max(self.max_abs, float(d.max()))
            self.max_rel = max(self.max_rel, float(rel.max()))
            self.rtol_needed = max(self.rtol_needed, float(need.max()))
            k = int(np.argmax(ratio))
            if self.worst is None or ratio[k] > self.worst[0]:
                self.worst = (float(ratio[k]), label, tuple(int(i) for i in idx[k]), float(gm[k]), float(wm[k]))
            self.max_ratio = max(self.max_ratio, float(ratio[k]))
            if ulp_dtype is not None and np.all(np.isfinite(gm)):
                self.max_ulp = max(self.max_ulp, ulp_distance(gm, wm, ulp_dtype))

    def merge(self, o):
        """Accumulate another Diff of the same rule into this one."""
        self.tensors += o.tensors
        self.elements += o.elements
        self.bad += o.bad
        self.max_abs = max(self.max_abs, o.max_abs)
        self.max_rel = max(self.max_rel, o.max_rel)
        self.rtol_needed = max(self.rtol_needed, o.rtol_needed)
        self.max_ulp = max(self.max_ulp, o.max_ulp)
        self.max_ratio = max(self.max_ratio, o.max_ratio)
        if o.worst is not None and (self.worst is None or o.worst[0] > self.worst[0]):
            self.worst = o.worst

    def ok(self):
        return self.bad == 0

    def as_dict(self):
        return {
            "rtol": self.rtol, "atol": self.atol, "tensors": self.tensors, "elements": self.elements,
            "outside": self.bad, "maxAbs": self.max_abs, "maxRel": self.max_rel, "maxULP": self.max_ulp,
            "worstRatio": self.max_ratio, "rtolNeededAtAtol": self.rtol_needed,
            "worst": None if self.worst is None else {
                "ratio": self.worst[0], "tensor": self.worst[1], "index": list(self.worst[2]),
                "got": self.worst[3], "want": self.worst[4]},
        }
