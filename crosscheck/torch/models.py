"""The aiconform reference models (spec/v1/reference-models.md) as standard
torch.nn modules that load the published weights by name.

    model = load("seed-cnn", weights_dir, torch.float64)
    outputs = run(model, {"input": x})        # {"logits": ..., "probabilities": ...}

Every module's state_dict keys and shapes are the ones the spec publishes,
and load() uses load_state_dict(strict=True), so a missing, extra or
misshapen tensor is an error. The FP64 version loads the FP32 weights and
widens them exactly (model.double()).
"""

import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import safetensors_io

MODEL_IDS = ("seed-cnn", "seed-rnn", "seed-transformer")

D_MODEL = 128
MAX_LEN = 64


class SeedCNN(nn.Module):
    """seed-cnn: input [N,1,28,28] → logits [N,10], probabilities [N,10]."""

    inputs = ("input",)
    outputs = ("logits", "probabilities")

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 7 * 7, 10)

    def forward(self, input):
        x = F.max_pool2d(F.relu(self.conv1(input)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        logits = self.fc(x.flatten(1))
        return {"logits": logits, "probabilities": torch.softmax(logits, dim=-1)}


class SeedRNN(nn.Module):
    """seed-rnn: input [N,T,10] → logits [N,2] (fc on the last step of layer 2)."""

    inputs = ("input",)
    outputs = ("logits",)

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(input_size=10, hidden_size=50, num_layers=2, nonlinearity="tanh",
                          bias=True, batch_first=True, dropout=0.0, bidirectional=False)
        self.fc = nn.Linear(50, 2)

    def forward(self, input):
        h0 = torch.zeros(2, input.shape[0], 50, dtype=input.dtype, device=input.device)
        out, _ = self.rnn(input, h0)
        return {"logits": self.fc(out[:, -1, :])}


def positional_encoding(length=MAX_LEN, d=D_MODEL):
    """PE[t,2i] = sin(t/10000^(2i/d)), PE[t,2i+1] = cos(...), in binary64."""
    t = np.arange(length, dtype=np.float64)[:, None]
    expo = np.arange(0, d, 2, dtype=np.float64) / d
    angle = t / np.power(10000.0, expo)[None, :]
    pe = np.empty((length, d), dtype=np.float64)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return torch.from_numpy(pe)


class SeedTransformer(nn.Module):
    """seed-transformer: input_ids [N,T] (and attention_mask [N,T]) → logits [N,T,100].

    The positional encoding is a non-persistent float64 buffer, rounded to the
    model's datatype at use, as the spec computes constants in binary64.
    """

    inputs = ("input_ids", "attention_mask")
    outputs = ("logits",)

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(100, D_MODEL)
        layer = nn.TransformerEncoderLayer(d_model=D_MODEL, nhead=8, dim_feedforward=512, dropout=0.0,
                                           activation="relu", layer_norm_eps=1e-5, batch_first=True,
                                           norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, num_layers=6, norm=None)
        self.fc = nn.Linear(D_MODEL, 100)
        self.register_buffer("pe", positional_encoding(), persistent=False)

    def forward(self, input_ids, attention_mask=None):
        n, t = input_ids.shape
        if t < 1 or t > MAX_LEN:
            raise ValueError(f"sequence length {t} outside 1..{MAX_LEN}")
        dtype = self.token_embedding.weight.dtype
        scale = torch.tensor(math.sqrt(D_MODEL), dtype=torch.float64).to(dtype)
        pe = self.pe[:t].to(dtype)
        x = self.token_embedding(input_ids) * scale + pe
        mask = None if attention_mask is None else attention_mask == 0
        x = self.encoder(x, src_key_padding_mask=mask)
        if x.shape[1] < t:
            # torch 1.13's fused path returns nested tensors padded to the
            # longest valid row, not to T, when every row ends in padding;
            # padded positions are unspecified, so fill them with zeros.
            x = F.pad(x, (0, 0, 0, t - x.shape[1]))
        return {"logits": self.fc(x)}


_CLASSES = {"seed-cnn": SeedCNN, "seed-rnn": SeedRNN, "seed-transformer": SeedTransformer}


def build(model_id):
    """A fresh module of model_id with PyTorch's default initialisation."""
    try:
        return _CLASSES[model_id]()
    except KeyError:
        raise ValueError(f"unknown model {model_id!r}; want one of {', '.join(MODEL_IDS)}") from None


def weights_path(weights_dir, model_id):
    return os.path.join(weights_dir, model_id + ".safetensors")


def load(model_id, weights_dir, dtype=torch.float32, device="cpu", state=None):
    """The module of model_id with the published weights, in eval mode.

    state, when given, is the F32 state dict to load instead of the file.
    The F32 values are loaded strictly by name and then converted to dtype
    (exactly, for float64).
    """
    m = build(model_id)
    if state is None:
        state, _ = safetensors_io.read_file(weights_path(weights_dir, model_id))
    for name, t in state.items():
        if t.dtype != torch.float32:
            raise ValueError(f"{model_id}: weight {name} is {t.dtype}, the spec publishes F32")
    m.load_state_dict(state, strict=True)
    m = m.to(device=device, dtype=dtype)
    if isinstance(m, SeedTransformer):
        # model.to(float32) would have rounded the binary64 table: recompute
        # it so that every datatype gets the binary64 values rounded once.
        m.pe = positional_encoding().to(device=device)
    return m.eval()


def run(model, inputs, fast_path=False):
    """Run model on {name: tensor} inputs; returns {output name: tensor}.

    fast_path=False computes with autograd enabled, which keeps PyTorch on its
    plain (math) path: every position of the Transformer is computed.
    fast_path=True runs under torch.no_grad(), where torch 1.13 takes its
    fused inference kernels (for the Transformer with a padding mask, nested
    tensors that return zeros at padded positions).
    """
    args = {k: v for k, v in inputs.items() if k in model.inputs}
    unknown = set(inputs) - set(model.inputs)
    if unknown:
        raise ValueError(f"inputs {sorted(unknown)} are not inputs of the model ({', '.join(model.inputs)})")
    ctx = torch.no_grad() if fast_path else torch.enable_grad()
    with ctx, warnings.catch_warnings():
        # torch 1.13 warns that its nested tensors (the fused path) are a prototype.
        warnings.filterwarnings("ignore", message=".*nested tensors is in prototype stage")
        out = model(**args)
    return {k: v.detach() for k, v in out.items()}
