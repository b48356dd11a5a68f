#!/usr/bin/python3
"""Wire check of a server of the Open Inference Protocol's gRPC binding, with
a client that shares no code with aiconform: grpc_tools.protoc generates the
Python messages and stub from the upstream open_inference_grpc.proto (the
file given, as published), and grpcio (Debian's python3-grpcio) speaks to the
server.

    wire_check.py --proto FILE --target HOST:PORT --case FILE [--token TOKEN]

The case file is JSON: {"model", "version", "id", "input": {"name",
"datatype" (FP32), "shape", "raw_b64" (little-endian row-major bytes)}}.
The script calls ServerLive, ServerReady, ModelReady, ServerMetadata,
ModelMetadata, and ModelInfer twice on the case's input: with typed contents
(fp32_contents) and with raw_input_contents; then calls that must fail
(unknown model, unknown version, wrong shape, wrong raw byte count and,
with --token, no credential). With --token every call but ServerLive and
ServerReady sends the metadata entry "authorization: Bearer TOKEN".

It prints one JSON object on stdout: what each call answered (outputs as
base64 of their little-endian bytes, typed contents packed as the raw ones
are), the status code and message of each call that failed, and its own
comparisons (raw outputs equal to typed ones; top class of each row). The
caller judges the answers. Exit status: 0 when every call was made (whatever
it answered), 2 for a wrong command line, 3 when the code cannot be
generated or imported, 4 when the server cannot be reached.
"""

import argparse
import base64
import importlib
import json
import os
import struct
import sys
import tempfile


def fail(code, msg):
    print("wire_check: " + msg, file=sys.stderr)
    sys.exit(code)


def generate(proto, out):
    """Generates the messages and stub of proto into out and imports them."""
    try:
        from grpc_tools import protoc
    except ImportError as e:
        fail(3, "grpc_tools is not installed (Debian: python3-grpc-tools): %s" % e)
    d, name = os.path.split(os.path.abspath(proto))
    rc = protoc.main(["grpc_tools.protoc", "-I" + d, "--python_out=" + out, "--grpc_python_out=" + out, name])
    if rc != 0:
        fail(3, "grpc_tools.protoc failed on %s (exit %d)" % (proto, rc))
    stem = os.path.splitext(name)[0]
    sys.path.insert(0, out)
    try:
        return importlib.import_module(stem + "_pb2"), importlib.import_module(stem + "_pb2_grpc")
    except ImportError as e:
        fail(3, "importing the generated code: %s" % e)


# The struct format and typed contents field of each datatype the reference
# models use; the outputs of another datatype are reported without bytes.
DATATYPES = {"FP32": ("f", "fp32_contents"), "FP64": ("d", "fp64_contents"), "INT64": ("q", "int64_contents")}


def le_bytes(datatype, values):
    """Packs typed contents into the little-endian bytes raw contents hold."""
    if datatype not in DATATYPES:
        return b""
    return struct.pack("<%d%s" % (len(values), DATATYPES[datatype][0]), *values)


def typed_values(datatype, contents):
    """The typed contents of a tensor of datatype ([] for another datatype)."""
    if datatype not in DATATYPES:
        return []
    return list(getattr(contents, DATATYPES[datatype][1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proto", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--token", default="")
    args = ap.parse_args()
    try:
        with open(args.case) as f:
            case = json.load(f)
    except (OSError, ValueError) as e:
        fail(2, "the case file %s: %s" % (args.case, e))

    import grpc

    summary = {"grpcio": grpc.__version__}
    with tempfile.TemporaryDirectory() as out:
        pb2, pb2_grpc = generate(args.proto, out)
        summary["generated"] = sorted(n for n in os.listdir(out) if n.endswith(".py"))
        channel = grpc.insecure_channel(args.target)
        try:
            grpc.channel_ready_future(channel).result(timeout=20)
        except grpc.FutureTimeoutError:
            fail(4, "cannot connect to %s" % args.target)
        stub = pb2_grpc.GRPCInferenceServiceStub(channel)
        auth = [("authorization", "Bearer " + args.token)] if args.token else None
        timeout = 60
        errors = {}

        def attempt(name, call, *a, **kw):
            """Makes a call; records its failure under name and returns None."""
            try:
                return call(*a, timeout=timeout, **kw)
            except grpc.RpcError as e:
                errors[name] = {"code": e.code().name, "message": e.details()}
                return None

        r = attempt("server_live", stub.ServerLive, pb2.ServerLiveRequest())
        summary["server_live"] = bool(r and r.live)
        r = attempt("server_ready", stub.ServerReady, pb2.ServerReadyRequest())
        summary["server_ready"] = bool(r and r.ready)
        model, version = case["model"], case["version"]
        r = attempt("model_ready", stub.ModelReady, pb2.ModelReadyRequest(name=model, version=version), metadata=auth)
        summary["model_ready"] = bool(r and r.ready)

        sm = attempt("server_metadata", stub.ServerMetadata, pb2.ServerMetadataRequest(), metadata=auth)
        if sm is not None:
            summary["server_metadata"] = {"name": sm.name, "version": sm.version, "extensions": list(sm.extensions)}

        def tensors(ts):
            return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in ts]

        mm = attempt("model_metadata", stub.ModelMetadata, pb2.ModelMetadataRequest(name=model, version=version), metadata=auth)
        if mm is not None:
            summary["model_metadata"] = {"name": mm.name, "versions": list(mm.versions), "platform": mm.platform,
                                         "inputs": tensors(mm.inputs), "outputs": tensors(mm.outputs)}

        spec = case["input"]
        raw = base64.b64decode(spec["raw_b64"])
        n = len(raw) // 4
        values = struct.unpack("<%df" % n, raw)

        def request(id_, typed):
            t = pb2.ModelInferRequest.InferInputTensor(name=spec["name"], datatype=spec["datatype"], shape=spec["shape"])
            req = pb2.ModelInferRequest(model_name=model, model_version=version, id=id_)
            if typed:
                t.contents.fp32_contents.extend(values)
                req.inputs.append(t)
            else:
                req.inputs.append(t)
                req.raw_input_contents.append(raw)
            return req

        def answer(resp):
            outs = []
            for i, o in enumerate(resp.outputs):
                if resp.raw_output_contents:
                    b = resp.raw_output_contents[i] if i < len(resp.raw_output_contents) else b""
                else:
                    b = le_bytes(o.datatype, typed_values(o.datatype, o.contents))
                outs.append({"name": o.name, "datatype": o.datatype, "shape": list(o.shape),
                             "has_typed_contents": o.HasField("contents"),
                             "le_b64": base64.b64encode(b).decode()})
            return {"model_name": resp.model_name, "model_version": resp.model_version, "id": resp.id,
                    "raw_output_contents": len(resp.raw_output_contents), "outputs": outs}

        typed = attempt("infer_typed", stub.ModelInfer, request(case["id"] + "-typed", True), metadata=auth)
        rawr = attempt("infer_raw", stub.ModelInfer, request(case["id"] + "-raw", False), metadata=auth)
        if typed is not None and rawr is not None:
            summary["typed"], summary["raw"] = answer(typed), answer(rawr)
            summary["raw_equals_typed"] = (
                [o["le_b64"] for o in summary["raw"]["outputs"]] == [o["le_b64"] for o in summary["typed"]["outputs"]])
            for o in typed.outputs:
                if o.name == "probabilities":
                    p = typed_values(o.datatype, o.contents)
                    cols = o.shape[-1]
                    summary["top_classes"] = [max(range(cols), key=lambda j: p[r + j]) for r in range(0, len(p), cols)]

        attempt("unknown_model", stub.ModelInfer, pb2.ModelInferRequest(
            model_name="no-such-model", inputs=request("", True).inputs), metadata=auth)
        attempt("unknown_version", stub.ModelMetadata, pb2.ModelMetadataRequest(name=model, version="no-such-version"), metadata=auth)
        bad = request("", True)
        bad.inputs[0].shape[:] = [n]
        attempt("bad_shape", stub.ModelInfer, bad, metadata=auth)
        short = request("", False)
        short.raw_input_contents[0] = raw[:-4]
        attempt("bad_raw_size", stub.ModelInfer, short, metadata=auth)
        if args.token:
            attempt("no_credential", stub.ModelMetadata, pb2.ModelMetadataRequest(name=model))
        summary["errors"] = errors
        channel.close()
    json.dump(summary, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
