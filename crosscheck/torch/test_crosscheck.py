"""Self-tests of the PyTorch cross-check: the safetensors codec, the weight
generator, and the torch modules against a direct numpy transcription of
spec/v1/reference-models.md in float64.

    /usr/bin/python3 -m unittest discover -s crosscheck/torch -p 'test_*.py'
"""

import math
import os
import tempfile
import unittest

import numpy as np
import torch

import goldenset
import models
import safetensors_io
import weightgen

torch.set_num_threads(2)


def weights_dir(tmp):
    for mid in models.MODEL_IDS:
        with open(models.weights_path(tmp, mid), "wb") as f:
            f.write(safetensors_io.write_bytes(weightgen.generate(mid), {"model": mid}))
    return tmp


def np_state(mid):
    return {k: v.numpy().astype(np.float64) for k, v in weightgen.generate(mid).items()}


def lin(x, w, b):
    return x @ w.T + b


def np_cnn(x, p):
    def conv(x, w, b):
        n, c, h, wd = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        y = np.zeros((n, w.shape[0], h, wd))
        for u in range(3):
            for v in range(3):
                y += np.einsum("nchw,oc->nohw", xp[:, :, u:u + h, v:v + wd], w[:, :, u, v])
        return y + b[None, :, None, None]

    def pool(x):
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))

    x = pool(np.maximum(conv(x, p["conv1.weight"], p["conv1.bias"]), 0))
    x = pool(np.maximum(conv(x, p["conv2.weight"], p["conv2.bias"]), 0))
    logits = lin(x.reshape(x.shape[0], -1), p["fc.weight"], p["fc.bias"])
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return {"logits": logits, "probabilities": e / e.sum(axis=-1, keepdims=True)}


def np_rnn(x, p):
    h_in = x
    for l in range(2):
        h = np.zeros((x.shape[0], 50))
        outs = []
        for t in range(x.shape[1]):
            h = np.tanh(lin(h_in[:, t], p[f"rnn.weight_ih_l{l}"], p[f"rnn.bias_ih_l{l}"])
                        + lin(h, p[f"rnn.weight_hh_l{l}"], p[f"rnn.bias_hh_l{l}"]))
            outs.append(h)
        h_in = np.stack(outs, axis=1)
    return {"logits": lin(h_in[:, -1], p["fc.weight"], p["fc.bias"])}


def np_transformer(ids, mask, p):
    n, t = ids.shape
    pe = np.zeros((t, 128))
    for pos in range(t):
        for i in range(64):
            a = pos / 10000 ** (2 * i / 128)
            pe[pos, 2 * i], pe[pos, 2 * i + 1] = math.sin(a), math.cos(a)
    x = p["token_embedding.weight"][ids] * math.sqrt(128) + pe[None]
    neg = np.where(mask[:, None, :] == 0, -np.inf, 0.0)  # [n, 1(query), key]

    def ln(y, g, b):
        mu = y.mean(-1, keepdims=True)
        var = ((y - mu) ** 2).mean(-1, keepdims=True)
        return (y - mu) / np.sqrt(var + 1e-5) * g + b

    for l in range(6):
        q_ = lambda k: p[f"encoder.layers.{l}.{k}"]
        w, b = q_("self_attn.in_proj_weight"), q_("self_attn.in_proj_bias")
        q, k, v = (lin(x, w[i * 128:(i + 1) * 128], b[i * 128:(i + 1) * 128]) for i in range(3))
        heads = []
        for h in range(8):
            s = slice(16 * h, 16 * h + 16)
            sc = q[..., s] @ k[..., s].transpose(0, 2, 1) / 4.0 + neg
            a = np.exp(sc - sc.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            heads.append(a @ v[..., s])
        o = lin(np.concatenate(heads, -1), q_("self_attn.out_proj.weight"), q_("self_attn.out_proj.bias"))
        x = ln(x + o, q_("norm1.weight"), q_("norm1.bias"))
        f = lin(np.maximum(lin(x, q_("linear1.weight"), q_("linear1.bias")), 0), q_("linear2.weight"), q_("linear2.bias"))
        x = ln(x + f, q_("norm2.weight"), q_("norm2.bias"))
    return {"logits": lin(x, p["fc.weight"], p["fc.bias"])}


class SafetensorsTest(unittest.TestCase):
    def test_round_trip_and_layout(self):
        ts = {"b": torch.arange(6, dtype=torch.int64).reshape(2, 3), "a": torch.tensor([1.5, -2.0], dtype=torch.float32),
              "c": torch.tensor(3.25, dtype=torch.float64)}
        b = safetensors_io.write_bytes(ts, {"k": "v<&>"})
        n = int.from_bytes(b[:8], "little")
        self.assertEqual(n % 8, 0)
        self.assertEqual(b[8:8 + n].rstrip(b" "),
                         b'{"__metadata__":{"k":"v\\u003c\\u0026\\u003e"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                         b'"b":{"dtype":"I64","shape":[2,3],"data_offsets":[8,56]},"c":{"dtype":"F64","shape":[],"data_offsets":[56,64]}}')
        got, meta = safetensors_io.read_bytes(b)
        self.assertEqual(meta, {"k": "v<&>"})
        for k in ts:
            self.assertEqual(got[k].dtype, ts[k].dtype)
            self.assertTrue(torch.equal(got[k], ts[k]), k)

    def test_rejects_bad_files(self):
        good = safetensors_io.write_bytes({"a": torch.zeros(4)})
        n = int.from_bytes(good[:8], "little")
        for name, b in {
            "short": good[:5],
            "truncated data": good[:-1],
            "header too long": (len(good)).to_bytes(8, "little") + good[8:],
            "bad dtype": good.replace(b'"F32"', b'"F16"'),
            "wrong size": good.replace(b'"shape":[4]', b'"shape":[5]'),
        }.items():
            with self.subTest(name), self.assertRaises(safetensors_io.FormatError):
                safetensors_io.read_bytes(b)
        overlap = safetensors_io.write_bytes({"a": torch.zeros(2), "b": torch.zeros(2)}).replace(b"[8,16]", b"[4,12]")
        with self.assertRaisesRegex(safetensors_io.FormatError, "overlap"):
            safetensors_io.read_bytes(overlap)
        self.assertEqual(n % 8, 0)


class WeightgenTest(unittest.TestCase):
    def test_known_stream(self):
        self.assertEqual(weightgen.fnv1a64(b""), 0xCBF29CE484222325)
        self.assertEqual(weightgen.fnv1a64(b"a"), 0xAF63DC4C8601EC8C)
        # SplitMix64's published outputs from state 0 and 1234567.
        self.assertEqual([int(v) for v in weightgen.splitmix64(0, 2)], [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4])
        self.assertEqual(int(weightgen.splitmix64(1234567, 1)[0]), 6457827717110365317)
        u = weightgen.unit_values("conv1.weight", 3)
        z = weightgen.splitmix64(weightgen.fnv1a64(b"aiconform/v1/conv1.weight"), 3)
        self.assertEqual(list(u), [int(v >> np.uint64(11)) / 2.0 ** 53 for v in z])

    def test_bounds_and_rules(self):
        for mid in models.MODEL_IDS:
            for name, t in weightgen.generate(mid).items():
                c, b = weightgen.rule(mid, name)
                self.assertEqual(t.dtype, torch.float32)
                self.assertTrue(bool(((t - c).abs() <= b * (1 + 1e-6)).all()), f"{mid} {name}")
                if t.numel() >= 32:  # uniform on [c-b, c+b) has deviation b/√3
                    self.assertGreater(float(t.std()), b / 2, f"{mid} {name} is not spread over its bound")

    def test_published_cnn_weights(self):
        p = models.weights_path(goldenset.DEFAULT_WEIGHTS, "seed-cnn")
        pub, _ = safetensors_io.read_file(p)
        for n, t in weightgen.generate("seed-cnn").items():
            self.assertTrue(torch.equal(pub[n], t), n)


class ModelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        weights_dir(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, mid, inputs, want, rtol=1e-11, atol=1e-12, mask=None):
        for fast in (False, True):
            m = models.load(mid, self.tmp.name, torch.float64)
            got = models.run(m, {k: torch.from_numpy(v) for k, v in inputs.items()}, fast_path=fast)
            for o, w in want.items():
                g = got[o].numpy()
                sel = np.ones(w.shape, bool) if mask is None else np.broadcast_to(mask[..., None] != 0, w.shape)
                err = np.abs(g - w)[sel].max()
                self.assertLessEqual(err, atol + rtol * np.abs(w)[sel].max(), f"{mid} {o} fast={fast}: max abs err {err}")

    def test_strict_loading(self):
        state = weightgen.generate("seed-rnn")
        del state["fc.bias"]
        with self.assertRaisesRegex(RuntimeError, "fc.bias"):
            models.load("seed-rnn", None, state=state)
        state = weightgen.generate("seed-cnn")
        state["extra"] = torch.zeros(1)
        with self.assertRaisesRegex(RuntimeError, "extra"):
            models.load("seed-cnn", None, state=state)

    def test_cnn(self):
        x = np.random.default_rng(1).random((3, 1, 28, 28))
        self.check("seed-cnn", {"input": x}, np_cnn(x, np_state("seed-cnn")))

    def test_rnn(self):
        x = np.random.default_rng(2).uniform(-1, 1, (2, 7, 10))
        self.check("seed-rnn", {"input": x}, np_rnn(x, np_state("seed-rnn")))

    def test_transformer(self):
        rng = np.random.default_rng(3)
        ids = rng.integers(0, 100, (3, 9))
        mask = np.ones((3, 9), dtype=np.int64)
        mask[1, 5:] = 0
        mask[2, 1:] = 0
        want = np_transformer(ids, mask, np_state("seed-transformer"))
        self.check("seed-transformer", {"input_ids": ids, "attention_mask": mask}, want, rtol=1e-10, mask=mask)
        # Without a mask every position is a token.
        want = np_transformer(ids, np.ones_like(mask), np_state("seed-transformer"))
        self.check("seed-transformer", {"input_ids": ids}, want, rtol=1e-10)

    def test_transformer_mask_changes_valid_outputs(self):
        # A server that ignores the mask gives different logits at valid positions.
        ids = np.arange(8, dtype=np.int64)[None]
        mask = np.array([[1, 1, 1, 1, 0, 0, 0, 0]])
        m = models.load("seed-transformer", self.tmp.name, torch.float64)
        a = models.run(m, {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)})["logits"]
        b = models.run(m, {"input_ids": torch.from_numpy(ids)})["logits"]
        self.assertGreater(float((a[0, :4] - b[0, :4]).abs().max()), 1e-3)

    def test_fp32_pe_is_binary64_rounded(self):
        # An FP32 model keeps the positional encoding in binary64 and rounds
        # it to binary32 at use. The buffer is computed with numpy's sin,
        # cos and power, the reference below with Python's math (the C
        # library): different implementations of functions that neither
        # rounds correctly, so they are compared within stated bounds,
        # never bit for bit. On CPUs with AVX-512 numpy takes vectorized
        # routines whose float64 sin and cos numpy allows 4 ULP of error;
        # the C library's are within 1 ULP.
        m = models.load("seed-transformer", self.tmp.name, torch.float32)
        self.assertEqual(m.pe.dtype, torch.float64)
        pe = m.pe.numpy()
        length, d = pe.shape
        self.assertEqual((length, d), (models.MAX_LEN, models.D_MODEL))
        angle = np.array([[t / 10000.0 ** (2 * i / d) for i in range(d // 2)] for t in range(length)])
        ref = np.empty_like(pe)
        ref[:, 0::2] = np.vectorize(math.sin)(angle)
        ref[:, 1::2] = np.vectorize(math.cos)(angle)

        # Columns 0 and 1 have the angle t exactly (10000^0 = 1), so both
        # sides evaluate sin and cos of the same binary64 number: at most
        # 4 + 1 = 5 ULP apart in binary64.
        for col in (0, 1):
            self.assertLessEqual(goldenset.ulp_distance(pe[:, col], ref[:, col], torch.float64), 5, f"column {col}")
        # Elsewhere the angles may differ too: the exponent 2i/d is exact,
        # each side's power is within 4 ULP and each division rounds once,
        # so |Δangle| <= 9·2^-52·angle (10 is used); sin and cos have slope
        # at most 1, and the results add the 5 ULP above.
        eps = 2.0 ** -52
        bound = 10 * eps * np.repeat(angle, 2, axis=1) + 5 * np.spacing(np.maximum(np.abs(pe), np.abs(ref)))
        err = np.abs(pe - ref)
        worst = np.unravel_index(np.argmax(err / bound), err.shape)
        self.assertTrue(bool((err <= bound).all()),
                        f"PE{list(worst)} = {pe[worst]!r}, math gives {ref[worst]!r}: |diff| {err[worst]:.3g} > bound {bound[worst]:.3g}")

        # A float32 evaluation would be about 2^28 binary64 ULP off, far
        # outside these bounds. Rounded once to binary32, values this close
        # are equal or adjacent (equal unless a binary32 rounding boundary
        # lies between them).
        self.assertLessEqual(goldenset.ulp_distance(pe.astype(np.float32), ref.astype(np.float32), torch.float32), 1)

if __name__ == "__main__":
    unittest.main()
