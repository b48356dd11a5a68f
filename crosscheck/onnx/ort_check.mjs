#!/usr/bin/env node
// ort_check.mjs runs the exported ONNX reference models in ONNX Runtime
// (onnxruntime-node, CPU) on the inputs of the published FP32 golden sets
// and compares every output with the golden under the set's tolerance
// class: an element agrees when |got − want| ≤ atol + rtol·|want|. Logits at
// padded positions of seed-transformer (attention_mask 0) are not compared.
//
// usage: node ort_check.mjs --models DIR [--goldens DIR] [--testdata DIR]
//                           [--requirements FILE] [--optimization LEVEL]
//                           [--dtype FP32|FP64] [--class ID]
//
//   --models        directory holding <model-id>.onnx (aiconform reference export --format onnx)
//   --goldens       golden set directory with manifest.json (default: testdata/goldens/v1)
//   --testdata      root that the manifest's weights paths are relative to (default: testdata)
//   --requirements  spec catalog with the tolerance classes (default: spec/v1/requirements.json)
//   --optimization  ONNX Runtime graph optimization level: disabled, basic, extended or all (default all)
//   --dtype         which golden sets to compare with (default FP32); FP64 measures how far
//                   ONNX Runtime's FP32 is from the FP64 goldens (the inputs are narrowed to FP32)
//   --class         compare under this tolerance class instead of each set's own
//
// It prints one row per case and output tensor (max abs error, max rel
// error, worst ratio to the tolerance) and a summary per model. Exit 0 when
// every compared element agrees, 1 when one does not (or a file's sha256
// differs from the manifest, or a model file is missing), 2 on bad usage.

import { createHash } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

import ort from "onnxruntime-node";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {
    models: "",
    goldens: path.join(repoRoot, "testdata", "goldens", "v1"),
    testdata: path.join(repoRoot, "testdata"),
    requirements: path.join(repoRoot, "spec", "v1", "requirements.json"),
    optimization: "all",
    dtype: "FP32",
    class: "",
  };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m || !(m[1] in opts)) throw new UsageError(`unknown argument ${JSON.stringify(argv[i])}`);
    let v = m[2];
    if (v === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${m[1]} needs a value`);
      v = argv[++i];
    }
    opts[m[1]] = v;
  }
  if (!opts.models) throw new UsageError("--models DIR is required");
  if (!["disabled", "basic", "extended", "all"].includes(opts.optimization)) {
    throw new UsageError(`--optimization is ${JSON.stringify(opts.optimization)}, want disabled, basic, extended or all`);
  }
  if (!["FP32", "FP64"].includes(opts.dtype)) throw new UsageError(`--dtype is ${JSON.stringify(opts.dtype)}, want FP32 or FP64`);
  return opts;
}

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

// readVerified reads a file named by the manifest and checks its digest.
function readVerified(file, want) {
  const b = readFileSync(file);
  const got = sha256(b);
  if (got !== want) throw new Error(`${file}: sha256 is ${got}, the manifest records ${want}`);
  return b;
}

// decodeSafetensors returns {name: {dtype, shape, data}} with data a typed
// array (Float32Array, Float64Array or BigInt64Array) copied out of b.
function decodeSafetensors(b, file) {
  if (b.length < 8) throw new Error(`${file}: not a safetensors file (${b.length} bytes)`);
  const n = Number(b.readBigUInt64LE(0));
  if (8 + n > b.length) throw new Error(`${file}: header length ${n} exceeds the file`);
  const header = JSON.parse(b.subarray(8, 8 + n).toString("utf8"));
  const base = 8 + n;
  const kinds = { F32: Float32Array, F64: Float64Array, I64: BigInt64Array };
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const Kind = kinds[t.dtype];
    if (!Kind) throw new Error(`${file}: tensor ${name} has dtype ${t.dtype}, want F32, F64 or I64`);
    const [start, end] = t.data_offsets;
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (end - start !== count * Kind.BYTES_PER_ELEMENT || base + end > b.length) {
      throw new Error(`${file}: tensor ${name}: data_offsets ${start}..${end} do not hold ${t.dtype} ${JSON.stringify(t.shape)}`);
    }
    const bytes = Uint8Array.prototype.slice.call(b, base + start, base + end); // aligned copy
    out[name] = { dtype: t.dtype, shape: t.shape, data: new Kind(bytes.buffer, bytes.byteOffset, count) };
  }
  return out;
}

// ortTensor converts a golden input to the model's input type: floating
// inputs are FP32 (an FP64 golden input is rounded to nearest).
function ortTensor(t) {
  if (t.dtype === "I64") return new ort.Tensor("int64", t.data, t.shape);
  return new ort.Tensor("float32", t.dtype === "F32" ? t.data : Float32Array.from(t.data), t.shape);
}

// compare returns the error summary of got against want under tol, looking
// only at the flat indices for which keep(i) is true.
function compare(got, want, tol, keep) {
  const d = { elements: 0, violations: 0, maxAbs: 0, maxRel: 0, worstRatio: 0, worst: -1, worstGot: NaN, worstWant: NaN };
  for (let i = 0; i < want.length; i++) {
    if (!keep(i)) continue;
    d.elements++;
    const g = Number(got[i]);
    const w = Number(want[i]);
    let abs = Math.abs(g - w);
    const bound = tol.atol + tol.rtol * Math.abs(w);
    let ratio;
    if (g === w) {
      ratio = 0;
      abs = 0;
    } else if (!Number.isFinite(abs) || bound === 0) {
      ratio = Infinity; // NaN or infinite errors never agree
    } else {
      ratio = abs / bound;
    }
    if (!(ratio <= 1)) d.violations++;
    if (abs > d.maxAbs || Number.isNaN(abs)) d.maxAbs = abs;
    if (abs > 0 || Number.isNaN(abs)) {
      const rel = w !== 0 ? abs / Math.abs(w) : Infinity;
      if (rel > d.maxRel || Number.isNaN(rel)) d.maxRel = rel;
    }
    if (d.worst < 0 || ratio > d.worstRatio || (Number.isNaN(ratio) && !Number.isNaN(d.worstRatio))) {
      d.worst = i;
      d.worstRatio = ratio;
      d.worstGot = g;
      d.worstWant = w;
    }
  }
  return d;
}

function multiIndex(shape, flat) {
  const idx = new Array(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    idx[k] = flat % shape[k];
    flat = Math.floor(flat / shape[k]);
  }
  return idx;
}

const fmt = (v) => (Number.isFinite(v) ? v.toExponential(2) : String(v));

function table(rows, header) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((v, c) => (c >= 3 && c <= 6 ? String(v).padStart(widths[c]) : String(v).padEnd(widths[c]))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

async function main(argv) {
  const opts = parseArgs(argv);
  const manifestFile = path.join(opts.goldens, "manifest.json");
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
  if (manifest.kind !== "golden-manifest") throw new Error(`${manifestFile}: /kind is ${JSON.stringify(manifest.kind)}, want "golden-manifest"`);
  const catalog = JSON.parse(readFileSync(opts.requirements, "utf8"));
  const classes = Object.fromEntries((catalog.toleranceClasses || []).map((c) => [c.id, c]));

  const sets = manifest.sets.filter((s) => s.dtype === opts.dtype);
  if (sets.length === 0) throw new Error(`${manifestFile}: no ${opts.dtype} set`);
  if (opts.class && !classes[opts.class]) throw new UsageError(`--class ${opts.class}: ${opts.requirements} defines no such tolerance class`);

  const rows = [];
  const failures = [];
  const perModel = new Map();
  for (const set of sets) {
    const label = `${set.model}/${set.version}` + (set.device && set.device !== "cpu" ? `@${set.device}` : "");
    const tol = classes[opts.class || set.toleranceClass];
    if (!tol) throw new Error(`${manifestFile}: set ${label} names tolerance class ${JSON.stringify(set.toleranceClass)}, which ${opts.requirements} does not define`);
    const modelFile = path.join(opts.models, `${set.model}.onnx`);
    if (!existsSync(modelFile)) {
      failures.push(`${label}: no model file ${modelFile}`);
      continue;
    }
    readVerified(path.join(opts.testdata, set.weights.path), set.weights.sha256);
    const session = await ort.InferenceSession.create(modelFile, { graphOptimizationLevel: opts.optimization, executionProviders: ["cpu"] });
    const summary = perModel.get(label) || { model: label, tol, cases: 0, elements: 0, maxAbs: 0, maxRel: 0, worstRatio: 0 };
    perModel.set(label, summary);
    for (const c of set.cases) {
      const caseFile = path.join(opts.goldens, c.file);
      const tensors = decodeSafetensors(readVerified(caseFile, c.sha256), caseFile);
      const feeds = {};
      for (const name of session.inputNames) {
        const t = tensors[`input.${name}`];
        if (t) {
          feeds[name] = ortTensor(t);
        } else if (name === "attention_mask" && tensors["input.input_ids"]) {
          // The served model's mask is optional, the ONNX graph's is not: all ones.
          const ids = tensors["input.input_ids"];
          feeds[name] = new ort.Tensor("int64", new BigInt64Array(ids.data.length).fill(1n), ids.shape);
        } else {
          throw new Error(`${caseFile}: the ONNX model needs input ${name}, the case has no tensor input.${name}`);
        }
      }
      const results = await session.run(feeds);
      const mask = feeds.attention_mask ? feeds.attention_mask.data : null;
      for (const out of c.outputs) {
        const want = tensors[`output.${out}`];
        if (!want) throw new Error(`${caseFile}: case ${c.name} lists output ${out} but the file has no tensor output.${out}`);
        const got = results[out];
        if (!got) {
          failures.push(`${label} ${c.name} ${out}: ONNX Runtime returned no output ${out}`);
          continue;
        }
        if (JSON.stringify(got.dims.map(Number)) !== JSON.stringify(want.shape)) {
          failures.push(`${label} ${c.name} ${out}: shape ${JSON.stringify(got.dims)}, want ${JSON.stringify(want.shape)}`);
          continue;
        }
        // Logits [N,T,V] at a padded position (mask[n,t] = 0) are unspecified.
        let keep = () => true;
        if (mask && want.shape.length === 3) {
          const v = want.shape[2];
          keep = (i) => mask[Math.floor(i / v)] !== 0n;
        }
        const d = compare(got.data, want.data, tol, keep);
        const ok = d.violations === 0 && d.elements > 0;
        rows.push([label, c.name, out, d.elements, fmt(d.maxAbs), fmt(d.maxRel), fmt(d.worstRatio), ok ? "pass" : "FAIL"]);
        summary.elements += d.elements;
        summary.maxAbs = Math.max(summary.maxAbs, d.maxAbs);
        summary.maxRel = Math.max(summary.maxRel, d.maxRel);
        summary.worstRatio = Math.max(summary.worstRatio, d.worstRatio);
        if (!ok) {
          failures.push(
            d.elements === 0
              ? `${label} ${c.name} ${out}: no element compared`
              : `${label} ${c.name} ${out}: ${d.violations} of ${d.elements} elements outside class ${tol.id} ` +
                  `(rtol ${tol.rtol}, atol ${tol.atol}); worst at ${JSON.stringify(multiIndex(want.shape, d.worst))}: ` +
                  `got ${d.worstGot}, want ${d.worstWant}, ratio to tolerance ${fmt(d.worstRatio)}`,
          );
        }
      }
      summary.cases++;
    }
    await session.release();
  }

  console.log(table(rows, ["set", "case", "tensor", "elements", "max abs error", "max rel error", "worst/tol", "status"]));
  console.log("");
  const sumRows = [...perModel.values()].map((s) => [
    s.model, `${s.tol.id} (rtol ${s.tol.rtol}, atol ${s.tol.atol})`, String(s.cases), s.elements, fmt(s.maxAbs), fmt(s.maxRel), fmt(s.worstRatio),
  ]);
  console.log(table(sumRows, ["set", "tolerance class", "cases", "elements", "max abs error", "max rel error", "worst/tol"]));
  console.log(`\nONNX Runtime ${ort.env.versions.common} (CPU, graph optimization ${opts.optimization})`);
  if (failures.length > 0) {
    for (const f of failures) console.error(`FAIL ${f}`);
    console.error(`ort_check: ${failures.length} failure(s)`);
    return 1;
  }
  console.log(`ort_check: all ${rows.length} tensors of ${perModel.size} ${opts.dtype} sets agree within their tolerance class`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`ort_check: ${err.message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
