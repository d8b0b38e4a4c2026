#!/usr/bin/env python3
"""Reference latencies of a model in the frameworks themselves, for side-by-side ratios with
`cerebro-vmm bench`.

    python3 tools/bench_reference.py --model PATH [--runs N] [--input FILE.npy ...]
                                     [--params FILE.msgpack] [--backends a,b] [--json]

Backends, chosen from the model's format (detected from the content):
  .tflite          litert_xnnpack     LiteRT 2.3 default resolver (XNNPACK delegate), 1 thread
                   litert_builtin     LiteRT optimized builtin kernels without XNNPACK, 1 thread
                                      (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
                   litert_ref         LiteRT reference kernels (OpResolverType.BUILTIN_REF)
  jax.export blob  jax_jit            jax.jit of the deserialized export on CPU (1 thread by default)
  (StableHLO .mlir / .mlirbc: the sibling model.jax_exported of the same folder is timed)
  SavedModel dir   tensorflow         the signature's concrete function (1 intra/inter-op thread)
  frozen .pb       tensorflow         the imported graph, pruned to Placeholders -> Identity*

One timed run = set inputs, invoke, read outputs. The first run is reported apart (it includes
allocation, delegate preparation or compilation); p50/p90/p99 and mean are over the remaining runs.
Inputs: --input files in the model's input order, else seeded random data of the input shapes.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

TFLITE_BACKENDS = ["litert_xnnpack", "litert_builtin", "litert_ref"]


def detect_format(path):
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return "savedmodel"
        raise SystemExit(f"{path}: a directory without saved_model.pb")
    with open(path, "rb") as f:
        head = f.read(64)
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[:4] == b"ML\xefR":
        return "mlir_bytecode"
    text = head.decode("utf-8", "replace")
    if "module" in text or text.startswith("#loc") or "func.func" in text:
        return "stablehlo_text"
    if path.endswith(".pb"):
        return "graphdef"
    return "jax_export"


def jax_export_sibling(path):
    """The jax.export blob of the same model: <stem>.jax_exported or model.jax_exported beside it,
    or, in tests/models, jax_export/<base>_export/ for stablehlo_text/<base>_text/ and
    mlir_bytecode/<base>_mlirbc/."""
    path = os.path.abspath(path)
    folder, stem = os.path.dirname(path), os.path.splitext(os.path.basename(path))[0]
    candidates = [os.path.join(folder, stem + ".jax_exported"), os.path.join(folder, "model.jax_exported")]
    name = os.path.basename(folder)
    for suffix in ("_text", "_mlirbc"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            candidates.append(os.path.join(os.path.dirname(os.path.dirname(folder)), "jax_export",
                                           base + "_export", "model.jax_exported"))
    return next((c for c in candidates if os.path.exists(c)), None)


def random_input(shape, dtype, rng):
    shape = [d if d and d > 0 else 1 for d in shape]
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.normal(0, 1, shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -128), min(info.max, 127) + 1, shape).astype(dtype)


def stats(times_ns):
    ms = np.asarray(times_ns, dtype=np.float64) / 1e6
    rest = ms[1:] if len(ms) > 1 else ms
    return {
        "first_ms": round(float(ms[0]), 4),
        "p50_ms": round(float(np.percentile(rest, 50)), 4),
        "p90_ms": round(float(np.percentile(rest, 90)), 4),
        "p99_ms": round(float(np.percentile(rest, 99)), 4),
        "mean_ms": round(float(rest.mean()), 4),
        "min_ms": round(float(rest.min()), 4),
        "runs": len(ms),
    }


def timed(fn, runs):
    times = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        out = fn()
        times.append(time.perf_counter_ns() - t0)
    return times, out


# ----------------------------------------------------------------------------------------------


def bench_tflite(path, inputs, runs, backends, rng):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kinds = {
        "litert_xnnpack": OpResolverType.AUTO,
        "litert_builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "litert_ref": OpResolverType.BUILTIN_REF,
    }
    with open(path, "rb") as f:
        model = f.read()
    results = {}
    for name in backends:
        it = Interpreter(model_content=model, num_threads=1, experimental_op_resolver_type=kinds[name])
        it.allocate_tensors()
        ins = it.get_input_details()
        if inputs is None:
            inputs = [random_input(d["shape"], d["dtype"], rng) for d in ins]
        if len(inputs) != len(ins):
            raise SystemExit(f"model has {len(ins)} inputs, got {len(inputs)}")
        outs = it.get_output_details()

        def run():
            for d, a in zip(ins, inputs):
                it.set_tensor(d["index"], a)
            it.invoke()
            return [it.get_tensor(d["index"]) for d in outs]

        times, out = timed(run, runs)
        results[name] = stats(times)
        results[name]["outputs"] = out
    return results


def bench_jax(path, inputs, params, runs, rng):
    import jax
    from jax import export

    with open(path, "rb") as f:
        exp = export.deserialize(bytearray(f.read()))
    avals = exp.in_avals
    variables = None
    if params:
        from flax import serialization

        with open(params, "rb") as f:
            variables = serialization.msgpack_restore(f.read())
        n_var = len(jax.tree.leaves(variables))
        avals = avals[n_var:]
    if inputs is None:
        inputs = [random_input(a.shape, a.dtype, rng) for a in avals]
    call = jax.jit(exp.call)
    args = ([variables] if variables is not None else []) + list(inputs)

    def run():
        return jax.block_until_ready(call(*args))

    times, out = timed(run, runs)
    res = stats(times)
    res["outputs"] = [np.asarray(o) for o in jax.tree.leaves(out)]
    return {"jax_jit": res}


def bench_savedmodel(path, inputs, signature, runs, rng):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    fn = loaded.signatures[signature or "serving_default"]
    specs = fn.structured_input_signature[1]
    keys = sorted(specs)
    if inputs is None:
        inputs = [random_input(specs[k].shape, specs[k].dtype.as_numpy_dtype, rng) for k in keys]
    feed = {k: tf.constant(a) for k, a in zip(keys, inputs)}

    def run():
        out = fn(**feed)
        return [out[k].numpy() for k in sorted(out)]

    times, out = timed(run, runs)
    res = stats(times)
    res["outputs"] = out
    return {"tensorflow": res}


def bench_graphdef(path, inputs, runs, rng):
    import tensorflow as tf

    gd = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        gd.ParseFromString(f.read())
    places = [n for n in gd.node if n.op == "Placeholder"]
    outs = sorted((n.name for n in gd.node if n.op == "Identity" and n.name.startswith("Identity")),
                  key=lambda s: (len(s), s))
    imported = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(gd, name=""), [])
    g = imported.graph
    fn = imported.prune([g.get_tensor_by_name(n.name + ":0") for n in places],
                        [g.get_tensor_by_name(n + ":0") for n in outs])
    if inputs is None:
        inputs = []
        for n in places:
            shape = [d.size for d in n.attr["shape"].shape.dim]
            inputs.append(random_input(shape, tf.dtypes.as_dtype(n.attr["dtype"].type).as_numpy_dtype, rng))
    consts = [tf.constant(a) for a in inputs]

    def run():
        return [o.numpy() for o in fn(*consts)]

    times, out = timed(run, runs)
    res = stats(times)
    res["outputs"] = out
    return {"tensorflow": res}


# ----------------------------------------------------------------------------------------------


def versions():
    import importlib.metadata

    out = {}
    for dist in ("ai-edge-litert", "jax", "jaxlib", "tensorflow-cpu", "numpy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--runs", type=int, default=50, help="timed runs including the first (default 50)")
    ap.add_argument("--input", action="append", help=".npy input, in the model's input order (repeatable)")
    ap.add_argument("--params", help="Flax variables (.msgpack) for a jax.export of apply(variables, x)")
    ap.add_argument("--signature", help="SavedModel signature (default serving_default)")
    ap.add_argument("--backends", help=f"comma-separated subset of {','.join(TFLITE_BACKENDS)} (.tflite only)")
    ap.add_argument("--threads", type=int, default=1, help="threads for JAX/TensorFlow (LiteRT always 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    if args.runs < 2:
        raise SystemExit("--runs must be at least 2 (the first run is reported apart)")

    if args.threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    rng = np.random.default_rng(args.seed)
    inputs = [np.load(p) for p in args.input] if args.input else None
    fmt = detect_format(args.model)
    timed_path = args.model
    if fmt in ("stablehlo_text", "mlir_bytecode"):
        timed_path = jax_export_sibling(args.model)
        if timed_path is None:
            raise SystemExit(f"{args.model}: {fmt} cannot be run by JAX directly and no jax.export blob of "
                             "the same model was found beside it to time instead")

    if fmt == "tflite":
        backends = args.backends.split(",") if args.backends else TFLITE_BACKENDS
        bad = [b for b in backends if b not in TFLITE_BACKENDS]
        if bad:
            raise SystemExit(f"unknown backends {bad}")
        results = bench_tflite(timed_path, inputs, args.runs, backends, rng)
    elif fmt in ("jax_export", "stablehlo_text", "mlir_bytecode"):
        results = bench_jax(timed_path, inputs, args.params, args.runs, rng)
    else:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        if fmt == "savedmodel":
            results = bench_savedmodel(timed_path, inputs, args.signature, args.runs, rng)
        else:
            results = bench_graphdef(timed_path, inputs, args.runs, rng)

    # Outputs of the backends should agree; report the largest difference to the first one.
    first = next(iter(results.values()))["outputs"]
    for name, r in results.items():
        outs = r.pop("outputs")
        diffs = [float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max()) if np.size(a) else 0.0
                 for a, b in zip(outs, first)]
        r["max_abs_diff_vs_first"] = max(diffs) if diffs else 0.0
        r["output_shapes"] = [list(np.shape(o)) for o in outs]

    doc = {"model": args.model, "format": fmt, "timed": timed_path, "runs": args.runs,
           "threads": 1 if fmt == "tflite" else args.threads, "results": results, "versions": versions()}
    if args.json:
        print(json.dumps(doc, indent=1))
        return
    print(f"{args.model} ({fmt}), {args.runs} runs, first run apart")
    print(f"{'backend':<16} {'first ms':>10} {'p50 ms':>10} {'p90 ms':>10} {'p99 ms':>10} {'mean ms':>10}")
    for name, r in results.items():
        print(f"{name:<16} {r['first_ms']:>10.3f} {r['p50_ms']:>10.3f} {r['p90_ms']:>10.3f} {r['p99_ms']:>10.3f} "
              f"{r['mean_ms']:>10.3f}")


if __name__ == "__main__":
    sys.exit(main())
