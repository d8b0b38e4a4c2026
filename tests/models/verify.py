#!/usr/bin/env python3
"""Re-checks every committed fixture against its framework with the contract's comparison rule.

    python3 tests/models/verify.py [--filter REGEX]

Where it can, it uses a different execution path from the one the golden came from, to show the
tolerance leaves room for an independent implementation:
  tflite float  LiteRT BUILTIN_REF reference kernels (goldens: default resolver / XNNPACK)
  tflite int8   LiteRT BUILTIN_REF (must be bit-exact: same path as the golden)
  JAX / Flax    the deserialized jax.export blob called from Python (goldens: jax.jit of the function);
                stablehlo_text / mlir_bytecode fixtures are checked through their sibling blob,
                plus a byte check that the .mlirbc is the blob's embedded portable artifact
  SavedModel    tf.saved_model.load + signature; frozen GraphDef: the imported .pb, pruned
  error         LiteRT must load it only with the custom op unresolved (the file holds CUSTOM)
Also checks the manifest's shape: files exist, .npy headers are version 1.0 little-endian, files
are under 20 MB. Exits non-zero on any failure.
"""

import argparse
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOWED = {"<f4", "<f2", "|i1", "|u1", "<i2", "<i4", "<i8", "|b1"}


def load_npy(path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f) if version == (1, 0) else (None, None, None)
    assert version == (1, 0), f"{path}: npy version {version}"
    assert not fortran, f"{path}: Fortran order"
    assert dtype.str in ALLOWED, f"{path}: dtype {dtype.str}"
    return np.load(path)


def compare(fx, got, gold):
    """Returns the worst error (close: relative to scale; exact: number of differing elements)."""
    assert len(got) == len(gold), f"{len(got)} outputs, golden has {len(gold)}"
    worst = 0.0
    for a, b in zip(got, gold):
        a = np.asarray(a)
        assert a.shape == b.shape, f"shape {a.shape} vs golden {b.shape}"
        if fx["compare"] == "exact":
            assert a.dtype == b.dtype, f"dtype {a.dtype} vs golden {b.dtype}"
            worst = max(worst, float(np.count_nonzero(a != b)))
        else:
            scale = max(1.0, float(np.abs(b.astype(np.float64)).max()) if b.size else 1.0)
            err = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) / scale if b.size else 0.0
            worst = max(worst, err)
    return worst


def tflite_runner(fx):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=os.path.join(HERE, fx["model"]), num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()

    def run(inputs):
        for d, a in zip(it.get_input_details(), inputs):
            if tuple(a.shape) != tuple(d["shape"]):
                it.resize_tensor_input(d["index"], a.shape)
                it.allocate_tensors()
            it.set_tensor(d["index"], a)
        it.invoke()
        return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]

    return run


def jax_runner(fx):
    import jax
    from flax import serialization

    path = os.path.join(HERE, fx["model"])
    if fx["format"] != "jax_export":
        folder = os.path.dirname(os.path.dirname(os.path.dirname(path)))
        base = re.sub(r"_(text|mlirbc)$", "", os.path.basename(os.path.dirname(path)))
        blob_path = os.path.join(folder, "jax_export", base + "_export", "model.jax_exported")
    else:
        blob_path = path
    with open(blob_path, "rb") as f:
        exp = jax.export.deserialize(bytearray(f.read()))
    if fx["format"] == "mlir_bytecode":
        with open(path, "rb") as f:
            assert f.read() == bytes(exp.mlir_module_serialized), "mlirbc differs from the blob's artifact"
    if fx["format"] == "stablehlo_text":
        with open(path) as f:
            text = f.read()
        assert "func.func public @main" in text and "/work/" not in text and "/root/" not in text
    variables = None
    if fx["params"]:
        with open(os.path.join(HERE, fx["params"]), "rb") as f:
            variables = serialization.msgpack_restore(f.read())

    def run(inputs):
        args = ([variables] if variables is not None else []) + list(inputs)
        return [np.asarray(o) for o in jax.tree.leaves(exp.call(*args))]

    return run


def savedmodel_runner(fx):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(HERE, fx["model"]))
    fn = loaded.signatures[fx["signature"] or "serving_default"]
    keys = sorted(fn.structured_input_signature[1])

    def run(inputs):
        out = fn(**{k: tf.constant(a) for k, a in zip(keys, inputs)})
        return [out[k].numpy() for k in sorted(out)]

    run.keep = loaded
    return run


def graphdef_runner(fx):
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    with open(os.path.join(HERE, fx["model"]), "rb") as f:
        gd.ParseFromString(f.read())
    places = [n.name for n in gd.node if n.op == "Placeholder"]
    outs = sorted((n.name for n in gd.node if re.fullmatch(r"Identity(_\d+)?", n.name)),
                  key=lambda s: (len(s), s))
    imported = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(gd, name=""), [])
    g = imported.graph
    fn = imported.prune([g.get_tensor_by_name(n + ":0") for n in places], [g.get_tensor_by_name(n + ":0") for n in outs])

    def run(inputs):
        return [o.numpy() for o in fn(*[tf.constant(a) for a in inputs])]

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--filter")
    args = ap.parse_args()
    with open(os.path.join(HERE, "manifest.json")) as f:
        manifest = json.load(f)
    pat = re.compile(args.filter) if args.filter else None
    names = [fx["name"] for fx in manifest["fixtures"]]
    assert len(names) == len(set(names)), "duplicate fixture names"
    failures = 0
    for fx in manifest["fixtures"]:
        if pat and not pat.search(fx["name"]):
            continue
        try:
            for root in [os.path.join(HERE, fx["model"])] + ([os.path.join(HERE, fx["params"])] if fx["params"] else []):
                files = [root] if os.path.isfile(root) else [os.path.join(d, n) for d, _, ns in os.walk(root) for n in ns]
                assert files, f"{root} missing"
                for p in files:
                    assert os.path.getsize(p) < 20 * 1024 * 1024, f"{p} over 20 MB"
            runs = [([load_npy(os.path.join(HERE, p)) for p in r["inputs"]],
                     [load_npy(os.path.join(HERE, p)) for p in r["outputs"]]) for r in fx["runs"]]
            if fx["compare"] == "error":
                from ai_edge_litert import schema_py_generated as schema

                with open(os.path.join(HERE, fx["model"]), "rb") as f:
                    m = schema.Model.GetRootAs(f.read(), 0)
                codes = [m.OperatorCodes(i).CustomCode() for i in range(m.OperatorCodesLength())]
                assert any(codes), "no custom op in the model"
                print(f"ok    {fx['name']:<36} error      custom ops {[c.decode() for c in codes if c]}")
                continue
            runner = {"tflite": tflite_runner, "jax_export": jax_runner, "stablehlo_text": jax_runner,
                      "mlir_bytecode": jax_runner, "savedmodel": savedmodel_runner,
                      "graphdef": graphdef_runner}[fx["format"]](fx)
            worst = 0.0
            for inputs, gold in runs:
                worst = max(worst, compare(fx, runner(inputs), gold))
            limit = fx["tolerance"] if fx["compare"] == "close" else 0.0
            ok = worst <= limit
            failures += not ok
            print(f"{'ok' if ok else 'FAIL':<5} {fx['name']:<36} {fx['compare']:<6} worst {worst:.3g} "
                  f"(limit {limit:g})", flush=True)
        except Exception as e:  # report and continue with the next fixture
            failures += 1
            print(f"FAIL  {fx['name']:<36} {type(e).__name__}: {e}", flush=True)
    print(f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
