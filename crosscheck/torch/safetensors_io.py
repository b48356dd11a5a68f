"""A small reader and writer of the safetensors format, for torch 1.13 (which
has no safetensors library).

Format: an 8-byte little-endian header length n, an n-byte JSON header
{name: {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [b, e]},
"__metadata__": {str: str}}, then the raw little-endian tensor bytes; the
offsets are relative to the first byte after the header.

write_bytes produces the same bytes as the Go package
github.com/aiconform/aiconform/safetensors (tensors in name order, header keys
sorted, the JSON of Go's encoding/json, padded with spaces to a multiple of
8 bytes), so files written here and there can be compared byte for byte.
"""

import json
import struct

import numpy as np
import torch

MAX_HEADER_SIZE = 100 << 20

_DTYPES = {
    "F32": (np.dtype("<f4"), torch.float32),
    "F64": (np.dtype("<f8"), torch.float64),
    "I64": (np.dtype("<i8"), torch.int64),
}
_NAMES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


class FormatError(ValueError):
    """A file that is not a valid safetensors file of the supported dtypes."""


def read_bytes(b, where="<bytes>"):
    """Decode safetensors bytes into ({name: torch.Tensor}, {key: value}).

    Every byte range is checked against the file, its dtype and shape, and
    ranges may not overlap. Tensors are CPU tensors that own their memory.
    """
    if len(b) < 8:
        raise FormatError(f"{where}: {len(b)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", b[:8])
    if n > MAX_HEADER_SIZE or n > len(b) - 8:
        raise FormatError(f"{where}: header length {n} exceeds the file ({len(b)} bytes) or the limit")
    try:
        header = json.loads(b[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"{where}: header is not JSON: {e}") from e
    if not isinstance(header, dict):
        raise FormatError(f"{where}: header is not a JSON object")
    data = memoryview(b)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise FormatError(f"{where}: __metadata__ must map strings to strings")
    tensors, spans = {}, []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(f"{where}: tensor {name!r}: header entry must have exactly dtype, shape, data_offsets")
        if e["dtype"] not in _DTYPES:
            raise FormatError(f"{where}: tensor {name!r}: unsupported dtype {e['dtype']!r} (want F32, F64 or I64)")
        npdt, _ = _DTYPES[e["dtype"]]
        shape = e["shape"]
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError(f"{where}: tensor {name!r}: bad shape {shape}")
        begin, end = e["data_offsets"]
        if not (0 <= begin <= end <= len(data)):
            raise FormatError(f"{where}: tensor {name!r}: data_offsets [{begin}, {end}] outside the {len(data)} data bytes")
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * npdt.itemsize:
            raise FormatError(f"{where}: tensor {name!r}: {end - begin} bytes for shape {shape} of {e['dtype']}, want {count * npdt.itemsize}")
        spans.append((begin, end, name))
        arr = np.frombuffer(data[begin:end], dtype=npdt).reshape(shape).astype(npdt.newbyteorder("="), copy=True)
        tensors[name] = torch.from_numpy(arr)
    spans.sort()
    for (_, e0, n0), (b1, _, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise FormatError(f"{where}: tensors {n0!r} and {n1!r} overlap")
    return tensors, metadata


def read_file(path):
    """Read a safetensors file: ({name: torch.Tensor}, metadata)."""
    with open(path, "rb") as f:
        return read_bytes(f.read(), str(path))


def _go_json_string(s):
    # encoding/json writes UTF-8 as is and escapes <, >, & and U+2028/9.
    out = json.dumps(s, ensure_ascii=False)
    for c, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        out = out.replace(c, esc)
    return out


def write_bytes(tensors, metadata=None):
    """Encode {name: torch.Tensor} (F32, F64 or I64) and string metadata."""
    if "__metadata__" in tensors:
        raise ValueError('"__metadata__" is reserved and cannot name a tensor')
    entries, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _NAMES:
            raise ValueError(f"tensor {name!r}: dtype {t.dtype} has no safetensors encoding here")
        code = _NAMES[t.dtype]
        raw = t.detach().cpu().contiguous().numpy().astype(_DTYPES[code][0], copy=False).tobytes()
        shape = ",".join(str(int(d)) for d in t.shape)
        entries[name] = f'{{"dtype":"{code}","shape":[{shape}],"data_offsets":[{offset},{offset + len(raw)}]}}'
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        entries["__metadata__"] = "{" + ",".join(
            f"{_go_json_string(k)}:{_go_json_string(metadata[k])}" for k in sorted(metadata)) + "}"
    header = ("{" + ",".join(f"{_go_json_string(k)}:{entries[k]}" for k in sorted(entries)) + "}").encode("utf-8")
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"".join(chunks)
