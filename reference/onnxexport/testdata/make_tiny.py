#!/usr/bin/python3
"""Writes tiny.onnx, the fixture of TestMarshalMatchesONNXPython.

Run with Debian's python3-onnx: /usr/bin/python3 make_tiny.py (in this
directory). The model is encoded by the official onnx Python package, so the
Go test that rebuilds it with package onnxexport and compares the bytes
checks the messages onnxexport builds (which fields are set, and how) and
its deterministic encoding against an independent implementation. Only
fields onnxexport writes are set, in the way onnxexport writes them (proto2
fields it leaves empty are not set).
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N"])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])

w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], np.array([1.5, -2.25, 0.0, 1e-9, -0.0, 3.0e38], dtype="<f4").tobytes(), raw=True)
shape = helper.make_tensor("shape", TensorProto.INT64, [2], np.array([-1, 2], dtype="<i8").tobytes(), raw=True)
scalar = helper.make_tensor("half", TensorProto.DOUBLE, [], np.array([0.5], dtype="<f8").tobytes(), raw=True)

nodes = [
    helper.make_node("Gemm", ["x", "w", ""], ["g"], name="Gemm_0", transB=1, alpha=0.5),
    helper.make_node("Reshape", ["g", "shape"], ["r"], name="Reshape_0"),
    helper.make_node("RNN", ["r", "w"], ["", "h"], name="RNN_0", activations=["Tanh"], direction="forward", axes=[-1, 0, 300]),
    helper.make_node("Identity", ["h"], ["y"], name="Identity_0"),
]
graph = helper.make_graph(nodes, "tiny", [x, ids], [y], initializer=[w, shape, scalar], doc_string="a graph")

model = onnx.ModelProto()
model.ir_version = 7
model.producer_name = "aiconform"
model.producer_version = "test"
model.domain = "org.aiconform"
model.model_version = 1
model.doc_string = "a model"
model.graph.CopyFrom(graph)
op = model.opset_import.add()
op.version = 13
for k, v in [("aiconform.model", "tiny"), ("k", "v")]:
    e = model.metadata_props.add()
    e.key = k
    e.value = v

with open("tiny.onnx", "wb") as f:
    f.write(model.SerializeToString())
