#!/usr/bin/env python3
"""Generates Cerebro's model fixtures, their inputs and framework goldens.

Run by hand (never by CI); CI only reads the committed results. See
tests/models/README.md and /work/logs/fixtures-contract.md for the layout:

    tests/models/manifest.json
    tests/models/<format>/<name>/{model file(s), run<R>_input<I>.npy, run<R>_output<O>.npy}

Usage (from the repository root):

    python3 tests/models/generate.py                       # everything
    python3 tests/models/generate.py --only tflite         # one section (tflite|jax|savedmodel|examples)
    python3 tests/models/generate.py --only tflite --filter '^conv'   # only matching fixtures

Sections replace only their own manifest entries, so reruns are cheap.
Every random choice is seeded; training uses deterministic TensorFlow ops.
"""

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(REPO, "examples")
MANIFEST = os.path.join(HERE, "manifest.json")

PINNED = {
    "tensorflow": ("tensorflow-cpu", "2.21.0"),
    "ai_edge_litert": ("ai-edge-litert", "2.3.0"),
    "jax": ("jax", "0.10.2"),
    "flax": ("flax", "0.12.8"),
}
UNPINNED = {"numpy": "numpy", "scikit_learn": "scikit-learn", "keras": "keras", "tf_keras": "tf_keras",
            "jaxlib": "jaxlib"}

MAX_FILE_BYTES = 20 * 1024 * 1024
SEED = 20261125

FORMAT_SECTION = {
    "tflite": "tflite",
    "stablehlo_text": "jax",
    "jax_export": "jax",
    "mlir_bytecode": "jax",
    "savedmodel": "savedmodel",
    "graphdef": "savedmodel",
}


# ----------------------------------------------------------------------------------------------
# Versions


def check_versions(allow_mismatch):
    versions = {}
    bad = []
    for key, (dist, want) in PINNED.items():
        try:
            got = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            got = None
        versions[key] = got
        if got != want:
            bad.append(f"{dist}: want {want}, found {got}")
    for key, dist in UNPINNED.items():
        try:
            versions[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = None
    if bad:
        msg = "pinned package versions differ:\n  " + "\n  ".join(bad)
        if not allow_mismatch:
            sys.exit(msg + "\n(rerun with --allow-version-mismatch to proceed anyway)")
        print("WARNING: " + msg, file=sys.stderr)
    return versions


# ----------------------------------------------------------------------------------------------
# Manifest and file helpers


class Registry:
    """Collects the fixtures one run produces, then merges them into manifest.json."""

    def __init__(self, name_filter):
        self.fixtures = []
        self.filter = re.compile(name_filter) if name_filter else None

    def wanted(self, name):
        return self.filter is None or self.filter.search(name) is not None

    def add(self, entry):
        for key in ("name", "issue", "format", "model", "params", "signature", "compare", "tolerance",
                    "ops", "runs"):
            assert key in entry, (entry.get("name"), key)
        assert entry["format"] in FORMAT_SECTION, entry["format"]
        assert entry["compare"] in ("close", "exact", "error"), entry["compare"]
        assert all(n["name"] != entry["name"] for n in self.fixtures), entry["name"]
        for path in [entry["model"]] + ([entry["params"]] if entry["params"] else []):
            full = os.path.join(HERE, path)
            assert os.path.exists(full), full
        for run in entry["runs"]:
            for p in run["inputs"] + run["outputs"]:
                assert os.path.exists(os.path.join(HERE, p)), p
        self.fixtures.append(entry)
        print(f"  fixture {entry['name']:<34} {entry['format']:<14} {entry['compare']:<6} "
              f"ops={','.join(entry['ops'])}", flush=True)

    def write(self, versions, sections):
        old = []
        if os.path.exists(MANIFEST):
            with open(MANIFEST) as f:
                old = json.load(f).get("fixtures", [])
        new_by_name = {f["name"]: f for f in self.fixtures}
        merged = []
        for f in old:
            if f["name"] in new_by_name:
                merged.append(new_by_name.pop(f["name"]))
            elif FORMAT_SECTION.get(f["format"]) in sections and self.filter is None:
                continue  # the section was regenerated in full and no longer makes this fixture
            else:
                merged.append(f)
        merged.extend(f for f in self.fixtures if f["name"] in new_by_name)
        doc = {"versions": versions, "fixtures": merged}
        with open(MANIFEST, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"manifest: {len(merged)} fixtures -> {os.path.relpath(MANIFEST, REPO)}")


def named_rng(name):
    """A generator seeded by SEED and the fixture's name, so --filter reruns reproduce each
    fixture's data no matter which other fixtures are generated."""
    import zlib

    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def rel(path):
    return os.path.relpath(path, HERE)


def fresh_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def save_npy(path, array):
    """Writes little-endian, C-order .npy (format 1.0) in one of the contract's dtypes."""
    a = np.asarray(array)
    allowed = {"f4", "f2", "f8", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "b1"}
    code = a.dtype.kind + str(a.dtype.itemsize) if a.dtype.kind != "b" else "b1"
    assert code in allowed, (path, a.dtype)
    a = a.astype(a.dtype.newbyteorder("<")).copy(order="C")  # (ascontiguousarray would make 0-d 1-d)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=(1, 0))
    check_size(path)


def check_size(path):
    size = os.path.getsize(path)
    if size >= MAX_FILE_BYTES:
        raise SystemExit(f"{path} is {size} bytes, over the 20 MB limit")


def write_runs(folder, runs):
    """runs: list of (inputs, outputs) array lists. Returns the manifest's runs field."""
    out = []
    for r, (inputs, outputs) in enumerate(runs):
        entry = {"inputs": [], "outputs": []}
        for i, a in enumerate(inputs):
            p = os.path.join(folder, f"run{r}_input{i}.npy")
            save_npy(p, a)
            entry["inputs"].append(rel(p))
        for o, a in enumerate(outputs):
            p = os.path.join(folder, f"run{r}_output{o}.npy")
            save_npy(p, a)
            entry["outputs"].append(rel(p))
        out.append(entry)
    return out


# ----------------------------------------------------------------------------------------------
# Data: scikit-learn digits (ships inside the package, no download)


def digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)  # (n, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


_DIGITS_CACHE = {}


def trained_digits_models():
    """Trains the Keras 3 digits MLP and CNN once per process (deterministic)."""
    if _DIGITS_CACHE:
        return _DIGITS_CACHE
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    xtr, xte, ytr, yte = digits_data()

    mlp = keras.Sequential([
        keras.Input((64,), name="pixels"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
        keras.layers.Softmax(),
    ], name="digits_mlp")
    mlp.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    mlp.fit(xtr.reshape(-1, 64), ytr, epochs=40, batch_size=32, verbose=0, shuffle=True)
    mlp_acc = float(mlp.evaluate(xte.reshape(-1, 64), yte, verbose=0)[1])

    cnn = keras.Sequential([
        keras.Input((8, 8, 1), name="image"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
        keras.layers.Softmax(),
    ], name="digits_cnn")
    cnn.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    cnn.fit(xtr[..., None], ytr, epochs=40, batch_size=32, verbose=0, shuffle=True)
    cnn_acc = float(cnn.evaluate(xte[..., None], yte, verbose=0)[1])
    print(f"digits: MLP test accuracy {mlp_acc:.4f}, CNN test accuracy {cnn_acc:.4f} "
          f"({len(yte)} test images)", flush=True)
    _DIGITS_CACHE.update(mlp=mlp, cnn=cnn, mlp_acc=mlp_acc, cnn_acc=cnn_acc,
                         xtr=xtr, xte=xte, ytr=ytr, yte=yte)
    return _DIGITS_CACHE


# ----------------------------------------------------------------------------------------------
# TFLite helpers


def tflite_op_names(model_bytes):
    """Builtin op names used by every subgraph of a .tflite file, read from the file itself."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(model_bytes, 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        codes.append(max(oc.DeprecatedBuiltinCode(), oc.BuiltinCode()))
    seen = []
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for o in range(sg.OperatorsLength()):
            name = names[codes[sg.Operators(o).OpcodeIndex()]]
            if name not in seen:
                seen.append(name)
    return sorted(seen)


def tflite_has_sparse_tensor(model_bytes):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_bytes, 0)
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        for t in range(sg.TensorsLength()):
            if sg.Tensors(t).Sparsity() is not None:
                return True
    return False


def litert_interpreter(model_bytes, reference):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    it = Interpreter(model_content=model_bytes, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    return it


def litert_run(it, inputs):
    ins = it.get_input_details()
    assert len(ins) == len(inputs), (len(ins), len(inputs))
    for d, a in zip(ins, inputs):
        a = np.asarray(a)
        assert a.dtype == d["dtype"], (d["name"], a.dtype, d["dtype"])
        if tuple(a.shape) != tuple(d["shape"]):
            sig = tuple(d["shape_signature"])
            assert len(sig) == a.ndim and all(s in (-1, n) for s, n in zip(sig, a.shape)), \
                (d["name"], a.shape, sig)
            it.resize_tensor_input(d["index"], a.shape)
            it.allocate_tensors()
        it.set_tensor(d["index"], a)
    it.invoke()
    return [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]


def quantize_for_input(it, floats):
    """Quantizes float inputs with each int8/uint8 model input's own scale and zero point."""
    out = []
    for d, x in zip(it.get_input_details(), floats):
        if d["dtype"] in (np.int8, np.uint8):
            scale, zp = d["quantization"]
            info = np.iinfo(d["dtype"])
            q = np.clip(np.round(np.asarray(x, np.float64) / scale) + zp, info.min, info.max)
            out.append(q.astype(d["dtype"]))
        else:
            out.append(np.asarray(x).astype(d["dtype"]))
    return out


def to_tflite(fn, specs, module=None, quant=None, rep_inputs=None, configure=None):
    """Converts a traced function to .tflite bytes.

    quant: None (float), "int8" (full integer, int8 in/out), "int8_float_io" (full integer with
    float in/out: QUANTIZE/DEQUANTIZE at the edges), "float16" (float16 weights + DEQUANTIZE).
    """
    import tensorflow as tf

    m = module if module is not None else tf.Module()
    m.f = tf.function(fn, input_signature=specs, autograph=False)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.f.get_concrete_function()], m)
    if quant in ("int8", "int8_float_io"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([np.asarray(a) for a in s] for s in rep_inputs)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if quant == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    elif quant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    if configure:
        configure(conv)
    return conv.convert()


def emit_tflite(reg, name, model_bytes, run_inputs, expect_ops=(), reference=None, compare=None,
                tolerance=1e-4, float_inputs=True, issue=4, stateful=False, expect_sparse=False):
    """Writes one TFLite fixture: model, inputs, LiteRT goldens, manifest entry.

    run_inputs: list of per-run input lists. If float_inputs and the model takes int8/uint8,
    the floats are quantized with the model's input parameters.
    reference: use BUILTIN_REF for goldens (default: when any input or output is int8/uint8).
    stateful: all runs go through one interpreter (state persists); otherwise too, in fact —
    runs always share one loaded model, as the contract says.
    """
    ops = tflite_op_names(model_bytes)
    missing = [o for o in expect_ops if o not in ops]
    if missing:
        raise SystemExit(f"{name}: expected ops {missing} not in model (has {ops})")
    if expect_sparse and not tflite_has_sparse_tensor(model_bytes):
        raise SystemExit(f"{name}: expected a sparse tensor in the model")
    # Cross-check with LiteRT itself: the ops its interpreter instantiated (subgraph 0, no delegate).
    seen_by_litert = {d["op_name"] for d in litert_interpreter(model_bytes, reference=True)._get_ops_details()}
    if not seen_by_litert <= set(ops) or not seen_by_litert:
        raise SystemExit(f"{name}: LiteRT sees ops {sorted(seen_by_litert)}, the file lists {ops}")
    probe = litert_interpreter(model_bytes, reference=False)
    io_dtypes = [d["dtype"] for d in probe.get_input_details() + probe.get_output_details()]
    quantized_io = any(t in (np.int8, np.uint8, np.int16) for t in io_dtypes)
    if reference is None:
        reference = quantized_io or any(o in ops for o in ("QUANTIZE",)) or "_int8" in name
    it = litert_interpreter(model_bytes, reference=reference)
    runs = []
    for inputs in run_inputs:
        ins = quantize_for_input(it, inputs) if float_inputs else [np.asarray(a) for a in inputs]
        outs = litert_run(it, ins)
        runs.append((ins, outs))
    if compare is None:
        compare = "exact" if reference or all(o.dtype.kind in "iub" for _, outs in runs for o in outs) \
            else "close"
    folder = fresh_dir(os.path.join(HERE, "tflite", name))
    path = os.path.join(folder, "model.tflite")
    with open(path, "wb") as f:
        f.write(model_bytes)
    check_size(path)
    reg.add({
        "name": name, "issue": issue, "format": "tflite", "model": rel(path), "params": None,
        "signature": None, "compare": compare, "tolerance": tolerance if compare == "close" else 0.0,
        "ops": ops, "runs": write_runs(folder, runs),
    })
    return runs


# ----------------------------------------------------------------------------------------------
# Section: TFLite (issue 4)


def keras_to_tflite(model, quant=None, rep_inputs=None):
    """Keras 3 model -> .tflite through from_keras_model (variables frozen to constants)."""
    import keras
    import tensorflow as tf

    inp = keras.Input(tuple(model.inputs[0].shape[1:]), batch_size=1, name="input")
    fixed = keras.Model(inp, model(inp))  # batch 1, no dynamic dimension in the .tflite
    conv = tf.lite.TFLiteConverter.from_keras_model(fixed)
    if quant in ("int8", "int8_float_io"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([np.asarray(a) for a in s] for s in rep_inputs)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if quant == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    elif quant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its export summary
        return conv.convert()


def litert_accuracy(model_bytes, images, labels, reference):
    it = litert_interpreter(model_bytes, reference=reference)
    correct = 0
    for x, y in zip(images, labels):
        out = litert_run(it, quantize_for_input(it, [x[None]]))[0]
        correct += int(np.argmax(out) == y)
    return correct / len(labels)


NOTES = {}  # fixture name -> one-line description for the README table


def section_tflite(reg):
    import tensorflow as tf

    print("== tflite", flush=True)
    rng = np.random.default_rng(SEED)
    d = trained_digits_models()
    xte, yte = d["xte"], d["yte"]
    rep_digits = d["xtr"][:200]

    # --- digits MLP and CNN, f32 and int8 (int8 in/out) ---
    picks = [0, 1, 2]  # first three test images
    for kind, model, shape in (("mlp", d["mlp"], (64,)), ("cnn", d["cnn"], (8, 8, 1))):
        xs = [xte[i].reshape((1,) + shape) for i in picks]
        rep = [[x.reshape((1,) + shape)] for x in rep_digits]
        images = xte.reshape((-1,) + shape)
        for quant in (None, "int8"):
            name = f"digits_{kind}_{'int8' if quant else 'f32'}"
            if not reg.wanted(name):
                continue
            b = keras_to_tflite(model, quant=quant, rep_inputs=rep)
            expect = ["FULLY_CONNECTED", "SOFTMAX"] + (["CONV_2D", "MAX_POOL_2D"] if kind == "cnn" else [])
            emit_tflite(reg, name, b, [[x] for x in xs], expect_ops=expect)
            acc = litert_accuracy(b, images, yte, reference=bool(quant))
            arch = "MLP 64-64-32-10" if kind == "mlp" else "CNN conv16-pool-conv32-pool-dense10"
            NOTES[name] = (f"Keras 3 {arch} trained on scikit-learn digits, "
                           f"{'full-integer int8 (int8 in/out)' if quant else 'f32'}; test accuracy "
                           f"{acc:.4f} on {len(yte)} held-out digits (LiteRT)")
            print(f"    {name}: {NOTES[name]}", flush=True)
        if kind == "cnn" and reg.wanted("digits_cnn_f16w"):
            b = keras_to_tflite(model, quant="float16")
            emit_tflite(reg, "digits_cnn_f16w", b, [[x] for x in xs], expect_ops=["DEQUANTIZE", "CONV_2D"],
                        reference=False, compare="close", tolerance=1e-4)
            NOTES["digits_cnn_f16w"] = "digits CNN with float16 weights (float16 constants + DEQUANTIZE)"

    # --- MobileNetV2 224x224 with calibrated batch norm ---
    if reg.wanted("mobilenet_v2_f32") or reg.wanted("mobilenet_v2_int8"):
        model, calib, tests, _ = calibrated_mobilenet_v2()
        expect = ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
        for quant in (None, "int8"):
            name = "mobilenet_v2_" + ("int8" if quant else "f32")
            if not reg.wanted(name):
                continue
            b = keras_to_tflite(model, quant=quant, rep_inputs=[[c[None]] for c in calib[:48]])
            runs = emit_tflite(reg, name, b, [[t[None]] for t in tests[:2]], expect_ops=expect)
            what = ("keras.applications.MobileNetV2 224x224 (weights=None; BN statistics calibrated from real "
                    "activations, head centred and scaled)" if not quant else
                    "the same MobileNetV2, full-integer int8 (per-channel weights), int8 in/out")
            NOTES[name] = what + "; top-1 " + ", ".join(
                f"class {int(o[0].argmax())} ({'q' if quant else 'p'}={float(o[0].max()):.3g})" for _, o in runs)
            print("    " + name + ": " + NOTES[name], flush=True)

    op_fixtures(reg, rng)
    special_tflite_fixtures(reg, rng)


def mobilenet_images(n, rng, offset):
    """Natural-ish 224x224x3 images in [-1, 1]: upscaled digits with colour tints + smooth noise.
    Returns (images, digit labels)."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = d.images[offset:offset + n] / 16.0
    x = tf.image.resize(imgs[..., None].astype(np.float32), (224, 224), method="bilinear").numpy()
    tint = rng.uniform(0.3, 1.0, size=(n, 1, 1, 3)).astype(np.float32)
    bg = rng.uniform(0.0, 0.4, size=(n, 1, 1, 3)).astype(np.float32)
    noise = tf.image.resize(rng.normal(0, 0.15, size=(n, 14, 14, 3)).astype(np.float32), (224, 224)).numpy()
    img = np.clip(bg + x * tint + noise, 0.0, 1.0)
    return (img * 2.0 - 1.0).astype(np.float32), d.target[offset:offset + n]


_MOBILENET = {}


def calibrated_mobilenet_v2():
    """keras.applications.MobileNetV2(weights=None) with outputs that depend on the input:

    batch-norm gammas/betas set to fixed random values, then every BN's moving mean/variance set
    from real activations (one training-mode pass with momentum 0 over 64 calibration images), so
    activations stay normalised through all 52 layers; the random classifier head is centred on
    the calibration images' pooled features and scaled, so the softmax is peaked and its top
    class changes with the input (an untrained MobileNetV2 gives an exactly uniform softmax).
    (Fitting the head as a digit classifier was tried: the random backbone's features carry no
    digit information, held-out accuracy was chance.)
    Returns (model, calibration images, test images, test labels)."""
    if _MOBILENET:
        return _MOBILENET["v"]
    import keras

    keras.utils.set_random_seed(SEED + 1)
    rng = np.random.default_rng(SEED + 1)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    calib, _ = mobilenet_images(64, rng, 0)
    tests, ytests = mobilenet_images(3, rng, 1000)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:
        c = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 1.5, c).astype(np.float32))
        bn.beta.assign(rng.normal(0.2, 0.3, c).astype(np.float32))
    for bn in bns:
        bn.momentum = 0.0
    model(calib, training=True)
    for bn in bns:
        bn.momentum = 0.99
    dense = model.layers[-1]
    feats = keras.Model(model.input, dense.input)(calib, training=False).numpy()
    kernel = dense.kernel.numpy()
    centred = (feats - feats.mean(axis=0)) @ kernel
    gain = 3.0 / max(float(centred.std()), 1e-6)
    dense.kernel.assign(kernel * gain)
    dense.bias.assign(-(feats.mean(axis=0) @ kernel) * gain)
    out = model(tests, training=False).numpy()
    print("mobilenet_v2: test top-1 probs", np.round(out.max(axis=1), 4), "classes", out.argmax(axis=1), flush=True)
    assert out.max() > 10.0 / 1000, "softmax still near uniform"
    assert len(set(out.argmax(axis=1))) > 1, "top-1 class does not depend on the input"
    _MOBILENET["v"] = (model, calib, tests, ytests)
    return _MOBILENET["v"]


def op_fixtures(reg, rng):
    """Single-op / few-op TFLite models covering every op in models.md's "Op sets seen" list,
    with their options and broadcasting cases; f32 and (where the op has int8 kernels) int8."""
    import keras
    import tensorflow as tf

    f32 = tf.float32

    def const(shape, scale=0.5, positive=False):
        a = rng.normal(0, scale, size=shape).astype(np.float32)
        return tf.constant(np.abs(a) + 0.1 if positive else a)

    def normal(shape):
        return lambda r: r.normal(0, 1.0, size=shape).astype(np.float32)

    def positive(shape):
        return lambda r: (np.abs(r.normal(0, 1.0, size=shape)) + 0.05).astype(np.float32)

    def ints_as_float(shape):
        return lambda r: r.integers(-2, 3, size=shape).astype(np.float32)

    table = []

    def op(name, fn, shapes, expect, int8=False, gens=None, dtypes=None, runs=2, tol=1e-4,
           module=None, int8_expect=None, int8_reference=True):
        dtypes = dtypes or [f32] * len(shapes)
        gens = gens or [normal(s) for s in shapes]
        table.append(dict(name=name, fn=fn, shapes=shapes, expect=expect, int8=int8, gens=gens,
                          dtypes=dtypes, runs=runs, tol=tol, module=module, int8_expect=int8_expect,
                          int8_reference=int8_reference))

    # Binary elementwise with broadcasting and fused activations.
    op("add_relu_bcast", lambda a, b: tf.nn.relu(a + b), [(1, 4, 1, 3), (1, 1, 5, 3)], ["ADD"], int8=True)
    op("add_const_bcast", lambda a: a + const((3,)), [(2, 4, 3)], ["ADD"], int8=True)
    op("add_rank5_bcast", lambda a, b: a + b, [(2, 1, 3, 1, 4), (1, 3, 1, 5, 1)], ["ADD"])
    op("add_same_shape", lambda a, b: a + b, [(2, 3, 4, 5), (2, 3, 4, 5)], ["ADD"], int8=True)
    op("sub_relu6_bcast", lambda a, b: tf.nn.relu6(a - b), [(1, 3, 4), (4,)], ["SUB"], int8=True)
    op("sub_bcast_4d", lambda a, b: a - b, [(2, 1, 4, 3), (1, 5, 1, 3)], ["SUB"], int8=True)
    op("mul_bcast", lambda a, b: a * b, [(2, 3, 4), (3, 1)], ["MUL"], int8=True)
    op("mul_relu_bcast_4d", lambda a, b: tf.nn.relu(a * b), [(1, 4, 4, 3), (1, 1, 1, 3)], ["MUL"], int8=True)
    op("div_bcast", lambda a, b: a / b, [(2, 3), (1, 3)], ["DIV"], gens=[normal((2, 3)), positive((1, 3))])
    op("div_relu", lambda a, b: tf.nn.relu(a / b), [(2, 4, 3)] * 2, ["DIV"],
       gens=[normal((2, 4, 3)), positive((2, 4, 3))])
    op("equal_bcast", lambda a, b: tf.equal(a, b), [(2, 3, 4), (3, 1)], ["EQUAL"],
       gens=[ints_as_float((2, 3, 4)), ints_as_float((3, 1))])
    op("select_v2_bcast", lambda c, a, b: tf.where(c, a, b), [(2, 1, 4), (2, 3, 4), (1, 3, 1)], ["SELECT_V2"],
       dtypes=[tf.bool, f32, f32],
       gens=[lambda r: r.integers(0, 2, size=(2, 1, 4)).astype(bool), normal((2, 3, 4)), normal((1, 3, 1))])

    # Unary elementwise.
    op("relu", tf.nn.relu, [(2, 3, 4)], ["RELU"], int8=True)
    op("relu6", tf.nn.relu6, [(2, 3, 4)], ["RELU6"], int8=True, gens=[lambda r: r.normal(0, 5, (2, 3, 4)).astype(np.float32)])
    op("logistic", tf.math.sigmoid, [(2, 8)], ["LOGISTIC"], int8=True)
    op("tanh", tf.math.tanh, [(2, 8)], ["TANH"], int8=True)
    op("hard_swish", lambda x: x * tf.nn.relu6(x + 3.0) / 6.0, [(2, 16)], ["HARD_SWISH"], int8=True,
       gens=[lambda r: r.normal(0, 3, (2, 16)).astype(np.float32)])
    op("gelu_exact", lambda x: tf.nn.gelu(x, approximate=False), [(2, 16)], ["GELU"], int8=True)
    op("gelu_tanh", lambda x: tf.nn.gelu(x, approximate=True), [(2, 16)], ["GELU"])
    op("log", tf.math.log, [(2, 8)], ["LOG"], gens=[positive((2, 8))])
    op("sqrt", tf.math.sqrt, [(2, 8)], ["SQRT"], gens=[positive((2, 8))])
    op("rsqrt", tf.math.rsqrt, [(2, 8)], ["RSQRT"], gens=[positive((2, 8))])
    op("square", tf.math.square, [(2, 8)], ["SQUARE"])
    op("neg", tf.math.negative, [(2, 8)], ["NEG"])
    op("exp", tf.math.exp, [(2, 8)], ["EXP"])
    op("abs", tf.math.abs, [(2, 8)], ["ABS"])
    prelu_model = keras.Sequential([
        keras.Input((4, 4, 3), batch_size=1),
        keras.layers.PReLU(shared_axes=[1, 2],
                           alpha_initializer=keras.initializers.RandomUniform(0.05, 0.5, seed=3))])
    op("prelu", None, [(1, 4, 4, 3)], ["PRELU"], int8=True, module=prelu_model)

    # Convolutions, fully connected, pooling.
    w1, b1 = const((3, 3, 3, 8)), const((8,))
    op("conv_same_stride2_relu6", lambda x: tf.nn.relu6(tf.nn.conv2d(x, w1, 2, "SAME") + b1),
       [(1, 9, 9, 3)], ["CONV_2D"], int8=True)
    w2, b2 = const((3, 3, 4, 6)), const((6,))
    op("conv_valid_dilation2", lambda x: tf.nn.conv2d(x, w2, 1, "VALID", dilations=2) + b2,
       [(1, 10, 10, 4)], ["CONV_2D"], int8=True)
    w3, b3 = const((1, 1, 8, 16)), const((16,))
    op("conv_1x1_relu", lambda x: tf.nn.relu(tf.nn.conv2d(x, w3, 1, "VALID") + b3),
       [(1, 5, 5, 8)], ["CONV_2D"], int8=True)
    w3b = const((3, 2, 4, 5))
    op("conv_same_stride12_nobias", lambda x: tf.nn.conv2d(x, w3b, [1, 1, 2, 1], "SAME"),
       [(2, 6, 7, 4)], ["CONV_2D"], int8=True)
    dw1, db1 = const((3, 3, 4, 2)), const((8,))
    op("dw_mult2_same_relu", lambda x: tf.nn.relu(tf.nn.depthwise_conv2d(x, dw1, [1, 1, 1, 1], "SAME") + db1),
       [(1, 7, 7, 4)], ["DEPTHWISE_CONV_2D"], int8=True)
    dw2, db2 = const((3, 3, 6, 1)), const((6,))
    op("dw_stride2_valid_relu6",
       lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, dw2, [1, 2, 2, 1], "VALID") + db2),
       [(1, 9, 9, 6)], ["DEPTHWISE_CONV_2D"], int8=True)
    dw3 = const((3, 3, 3, 1))
    op("dw_dilation2_same", lambda x: tf.nn.depthwise_conv2d(x, dw3, [1, 1, 1, 1], "SAME", dilations=[2, 2]),
       [(1, 8, 8, 3)], ["DEPTHWISE_CONV_2D"], int8=True)
    fw, fb = const((16, 8)), const((8,))
    op("fc_relu", lambda x: tf.nn.relu(tf.matmul(x, fw) + fb), [(2, 16)], ["FULLY_CONNECTED"], int8=True)
    fw2 = const((16, 6))
    op("fc_rank3_nobias", lambda x: tf.einsum("bsi,io->bso", x, fw2), [(1, 3, 16)], ["FULLY_CONNECTED"],
       int8=True)
    op("max_pool_same_s2", lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME"), [(1, 7, 7, 3)], ["MAX_POOL_2D"], int8=True)
    op("max_pool_valid", lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), [(2, 6, 6, 2)], ["MAX_POOL_2D"], int8=True)
    op("avg_pool_valid", lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID"), [(1, 6, 6, 3)], ["AVERAGE_POOL_2D"],
       int8=True)
    op("avg_pool_same_s2", lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME"), [(1, 7, 7, 3)], ["AVERAGE_POOL_2D"],
       int8=True)
    op("batch_matmul", lambda a, b: tf.matmul(a, b), [(2, 3, 4), (2, 4, 5)], ["BATCH_MATMUL"])
    op("batch_matmul_adjy_bcast", lambda a, b: tf.matmul(a, b, adjoint_b=True), [(2, 1, 3, 4), (1, 3, 5, 4)],
       ["BATCH_MATMUL"])
    op("batch_matmul_adjx", lambda a, b: tf.matmul(a, b, adjoint_a=True), [(2, 4, 3), (2, 4, 5)],
       ["BATCH_MATMUL"])

    # Reductions and softmax.
    op("mean_hw_keepdims", lambda x: tf.reduce_mean(x, [1, 2], keepdims=True), [(1, 5, 6, 4)], ["MEAN"], int8=True)
    op("mean_last", lambda x: tf.reduce_mean(x, -1), [(2, 3, 7)], ["MEAN"], int8=True)
    # LiteRT's BUILTIN_REF SUM reads int8 tensors as uint8 (reduce.cc passes GetTensorData<uint8_t>
    # to the reference kernel whatever the type), so its int8 golden is all zero points. The int8
    # golden comes from the default resolver instead, whose SUM uses the right type.
    op("sum_axis1", lambda x: tf.reduce_sum(x, 1), [(2, 5, 3)], ["SUM"], int8=True, int8_reference=False)
    op("sum_keepdims_02", lambda x: tf.reduce_sum(x, [0, 2], keepdims=True), [(2, 5, 3)], ["SUM"])
    op("reduce_max", lambda x: tf.reduce_max(x, [0, 2]), [(2, 4, 3)], ["REDUCE_MAX"], int8=True)
    op("reduce_min_keepdims", lambda x: tf.reduce_min(x, 1, keepdims=True), [(2, 4, 3)], ["REDUCE_MIN"],
       int8=True)
    op("softmax", tf.nn.softmax, [(2, 10)], ["SOFTMAX"], int8=True)
    op("softmax_rank3", tf.nn.softmax, [(2, 3, 6)], ["SOFTMAX"])

    # Shape manipulation.
    op("pad", lambda x: tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]), [(1, 3, 4, 2)], ["PAD"], int8=True)
    op("mirror_pad_reflect", lambda x: tf.pad(x, [[0, 0], [2, 1], [1, 2], [0, 0]], mode="REFLECT"),
       [(1, 4, 5, 2)], ["MIRROR_PAD"])
    op("mirror_pad_symmetric", lambda x: tf.pad(x, [[1, 1], [0, 2], [3, 0]], mode="SYMMETRIC"),
       [(2, 3, 4)], ["MIRROR_PAD"])
    op("reshape", lambda x: tf.reshape(x, [3, -1]) * 2.0, [(2, 3, 4)], ["RESHAPE"])
    # A None batch keeps EXPAND_DIMS and SHAPE from being folded away by the converter. The model
    # stores batch 1 (shape_signature -1); inputs use that stored shape, since the engine does not
    # resize TFLite inputs along shape_signature yet.
    op("expand_dims", lambda x: tf.expand_dims(x, 1) * 2.0, [(None, 3)], ["EXPAND_DIMS"],
       gens=[normal((1, 3))])
    op("shape", lambda x: tf.shape(x), [(None, 3, 4)], ["SHAPE"], gens=[normal((1, 3, 4))])
    op("concat_axis3", lambda a, b, c: tf.concat([a, b, c], -1), [(1, 2, 3, 2), (1, 2, 3, 3), (1, 2, 3, 1)],
       ["CONCATENATION"], int8=True)
    op("concat_axis0", lambda a, b: tf.concat([a, b], 0), [(1, 4), (3, 4)], ["CONCATENATION"])
    op("pack_axis1", lambda a, b: tf.stack([a, b], axis=1), [(2, 3), (2, 3)], ["PACK"], int8=True)
    op("transpose_0312", lambda x: tf.transpose(x, [0, 3, 1, 2]), [(1, 2, 3, 4)], ["TRANSPOSE"], int8=True)
    op("transpose_rank5", lambda x: tf.transpose(x, [4, 2, 0, 3, 1]), [(2, 3, 1, 4, 2)], ["TRANSPOSE"])
    op("strided_slice", lambda x: x[:, 1:5:2, ::-1, 1:], [(1, 6, 4, 3)], ["STRIDED_SLICE"], int8=True)
    op("strided_slice_shrink", lambda x: x[0, -3:, 2], [(2, 5, 4)], ["STRIDED_SLICE"])
    op("split_v", lambda x: tuple(tf.split(x, [1, 3, 2], axis=2)), [(2, 3, 6)], ["SPLIT_V"], int8=True)
    # int8 DEPTH_TO_SPACE is version 2, which LiteRT's BUILTIN_REF resolver lacks: f32 only.
    op("depth_to_space", lambda x: tf.nn.depth_to_space(x, 2), [(1, 2, 3, 8)], ["DEPTH_TO_SPACE"])
    op("resize_bilinear_half_pixel", lambda x: tf.image.resize(x, (7, 9), method="bilinear"), [(1, 4, 5, 2)],
       ["RESIZE_BILINEAR"], int8=True)
    op("resize_bilinear_align_corners",
       lambda x: tf.compat.v1.image.resize_bilinear(x, (7, 9), align_corners=True), [(1, 4, 5, 2)],
       ["RESIZE_BILINEAR"])
    op("resize_bilinear_legacy",
       lambda x: tf.compat.v1.image.resize_bilinear(x, (6, 10), align_corners=False, half_pixel_centers=False),
       [(1, 3, 4, 2)], ["RESIZE_BILINEAR"])
    gidx = tf.constant([3, 0, 4, 4], tf.int32)
    op("gather_axis0_const_idx", lambda p: tf.gather(p, gidx), [(5, 4)], ["GATHER"], int8=True)
    op("gather_axis1", lambda p, i: tf.gather(p, i, axis=1), [(2, 5, 3), (2, 2)], ["GATHER"],
       dtypes=[f32, tf.int32], gens=[normal((2, 5, 3)), lambda r: r.integers(0, 5, (2, 2)).astype(np.int32)])
    op("cast_f32_i32", lambda x: tf.cast(x * 3.0, tf.int32), [(2, 5)], ["CAST"])
    op("cast_i32_f32", lambda x: tf.cast(x, tf.float32) * 0.5, [(2, 5)], ["CAST"], dtypes=[tf.int32],
       gens=[lambda r: r.integers(-100, 100, (2, 5)).astype(np.int32)])
    op("cast_bool_f32", lambda x: tf.cast(x > 0.0, tf.float32), [(2, 5)], ["CAST"])

    for spec in table:
        for quant in ([None, "int8"] if spec["int8"] else [None]):
            name = spec["name"] + ("_int8" if quant else "_f32")
            if not reg.wanted(name):
                continue
            specs = [tf.TensorSpec(s, dt) for s, dt in zip(spec["shapes"], spec["dtypes"])]
            r = named_rng(name)
            run_inputs = [[g(r) for g in spec["gens"]] for _ in range(spec["runs"])]
            rep = [[g(r) for g in spec["gens"]] for _ in range(32)] if quant else None
            if spec["fn"] is None:  # a Keras model
                b = keras_to_tflite(spec["module"], quant=quant, rep_inputs=rep)
            else:
                b = to_tflite(spec["fn"], specs, quant=quant, rep_inputs=rep)
            if len(specs) > 1:  # store inputs in the model's own input order
                order = model_input_order(b, spec["fn"])
                run_inputs = [[ins[k] for k in order] for ins in run_inputs]
            reference = None if (quant is None or spec["int8_reference"]) else False
            emit_tflite(reg, name, b, run_inputs, expect_ops=spec["expect"], tolerance=spec["tol"],
                        reference=reference, compare="exact" if quant else None)
            NOTES[name] = (f"{'/'.join(spec['expect'])} {'int8 in/out' if quant else 'f32'}, inputs "
                           + ", ".join("x".join(str(d) for d in s) for s in spec["shapes"]))


def model_input_order(model_bytes, fn):
    """For each model input (in model order), the index of the Python argument it comes from."""
    import inspect

    args = list(inspect.signature(fn).parameters)
    it = litert_interpreter(model_bytes, reference=False)
    order = []
    for d in it.get_input_details():
        m = re.fullmatch(r"serving_default_(\w+?)(_\d+)?:0", d["name"])
        assert m and m.group(1) in args, (d["name"], args)
        order.append(args.index(m.group(1)))
    assert sorted(order) == list(range(len(args))), order
    return order


def special_tflite_fixtures(reg, rng):
    import tensorflow as tf

    # QUANTIZE / DEQUANTIZE at the edges of an int8 model with float input and output.
    if reg.wanted("quant_dequant_conv_int8"):
        rng = named_rng("quant_dequant_conv_int8")
        w, b = tf.constant(rng.normal(0, 0.5, (3, 3, 2, 4)).astype(np.float32)), \
            tf.constant(rng.normal(0, 0.5, (4,)).astype(np.float32))
        fn = lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + b)  # noqa: E731
        spec = [tf.TensorSpec((1, 5, 5, 2), tf.float32)]
        rep = [[rng.normal(0, 1, (1, 5, 5, 2)).astype(np.float32)] for _ in range(32)]
        bts = to_tflite(fn, spec, quant="int8_float_io", rep_inputs=rep)
        emit_tflite(reg, "quant_dequant_conv_int8", bts,
                    [[rng.normal(0, 1, (1, 5, 5, 2)).astype(np.float32)] for _ in range(2)],
                    expect_ops=["QUANTIZE", "DEQUANTIZE", "CONV_2D"], reference=True, compare="exact")
        NOTES["quant_dequant_conv_int8"] = "int8 CONV_2D with float input/output: QUANTIZE and DEQUANTIZE " \
            "at the edges (f32 outputs, exact vs BUILTIN_REF)"

    # Grouped int8 CONV_2D (filter input depth = input channels / 2), int8 in/out.
    if reg.wanted("grouped_conv_int8"):
        rng = named_rng("grouped_conv_int8")
        w = tf.constant(rng.normal(0, 0.4, (3, 3, 3, 8)).astype(np.float32))
        b = tf.constant(rng.normal(0, 0.5, (8,)).astype(np.float32))
        fn = lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + b)  # noqa: E731
        spec = [tf.TensorSpec((1, 6, 5, 6), tf.float32)]
        rep = [[rng.normal(0, 1, (1, 6, 5, 6)).astype(np.float32)] for _ in range(32)]
        bts = to_tflite(fn, spec, quant="int8", rep_inputs=rep)
        emit_tflite(reg, "grouped_conv_int8", bts,
                    [[rng.normal(0, 1, (1, 6, 5, 6)).astype(np.float32)] for _ in range(2)],
                    expect_ops=["CONV_2D"], reference=True, compare="exact")
        NOTES["grouped_conv_int8"] = "int8 CONV_2D with 2 groups (filter [8,3,3,3] on 6 input " \
            "channels), fused ReLU, exact vs BUILTIN_REF"

    # float16 weights of a few-op model (float16 constants + DEQUANTIZE) besides digits_cnn_f16w.
    if reg.wanted("fc_f16w"):
        rng = named_rng("fc_f16w")
        w, b = tf.constant(rng.normal(0, 0.5, (12, 6)).astype(np.float32)), \
            tf.constant(rng.normal(0, 0.5, (6,)).astype(np.float32))
        bts = to_tflite(lambda x: tf.nn.relu(tf.matmul(x, w) + b), [tf.TensorSpec((2, 12), tf.float32)],
                        quant="float16")
        emit_tflite(reg, "fc_f16w", bts, [[rng.normal(0, 1, (2, 12)).astype(np.float32)] for _ in range(2)],
                    expect_ops=["DEQUANTIZE", "FULLY_CONNECTED"], reference=False, compare="close")
        NOTES["fc_f16w"] = "FULLY_CONNECTED + fused RELU with float16 weights and bias (DEQUANTIZE)"

    # Sparse constant tensors + DENSIFY: the converter's sparsity optimization encodes weights
    # that are mostly zero in the TFLite sparse format.
    for name, shape, make_fn, expect in (
        ("sparse_conv_densify", (1, 6, 6, 8),
         lambda w: (lambda x: tf.nn.conv2d(x, w, 1, "SAME")), ["DENSIFY", "CONV_2D"]),
        ("sparse_fc_densify", (2, 32),
         lambda w: (lambda x: tf.matmul(x, w)), ["FULLY_CONNECTED"]),
    ):
        if not reg.wanted(name):
            continue
        rng = named_rng(name)
        wshape = (3, 3, 8, 16) if "conv" in name else (32, 16)
        w = rng.normal(0, 0.5, wshape).astype(np.float32)
        w[rng.random(wshape) < 0.8] = 0.0
        wt = tf.constant(w)

        def cfg(conv):
            conv.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]

        bts = to_tflite(make_fn(wt), [tf.TensorSpec(shape, tf.float32)], configure=cfg)
        emit_tflite(reg, name, bts, [[rng.normal(0, 1, shape).astype(np.float32)] for _ in range(2)],
                    expect_ops=expect, reference=False, compare="close", expect_sparse=True)
        NOTES[name] = ("80%-zero weights stored as a sparse tensor (EXPERIMENTAL_SPARSITY), densified by "
                       "DENSIFY before the " + expect[-1])

    # Resource variables: a tf.Module accumulator. State persists across invokes.
    if reg.wanted("stateful_accumulator"):
        rng = named_rng("stateful_accumulator")
        bts = stateful_accumulator_tflite()
        runs_in = [[rng.normal(0, 1, (1, 4)).astype(np.float32)] for _ in range(4)]
        runs = emit_tflite(reg, "stateful_accumulator", bts, runs_in,
                           expect_ops=["VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "CALL_ONCE"],
                           reference=False, compare="close")
        # Goldens must show the state persisting: run k's output includes the sum of inputs 0..k.
        acc = np.zeros((1, 4), np.float32)
        for (ins, outs), x in zip(runs, runs_in):
            acc = acc + x[0]
            assert not np.allclose(outs[0], runs[0][1][0]) or ins is runs[0][0]
        NOTES["stateful_accumulator"] = "tf.Module running mean (two tf.Variables) with resource " \
            "variables; 4 invokes on one loaded model, state persists (init subgraph via CALL_ONCE); " \
            "outputs " + "; ".join(
            np.array2string(o[0].ravel(), precision=3) for _, o in runs)

    # A CUSTOM op: the engine must refuse the model at load, naming the op.
    if reg.wanted("custom_op_refused"):
        rng = named_rng("custom_op_refused")
        bts = custom_op_tflite()
        ops = tflite_op_names(bts)
        assert "CUSTOM" in ops, ops
        folder = fresh_dir(os.path.join(HERE, "tflite", "custom_op_refused"))
        path = os.path.join(folder, "model.tflite")
        with open(path, "wb") as f:
            f.write(bts)
        x = rng.normal(0, 1, (2, 3)).astype(np.float32)
        NOTES["custom_op_refused"] = "CUSTOM op 'BesselI0e' (tf.math.bessel_i0e): must be refused at " \
            "load with an error naming it; runs hold an input only"
        reg.add({"name": "custom_op_refused", "issue": 4, "format": "tflite", "model": rel(path),
                 "params": None, "signature": None, "compare": "error", "tolerance": 0.0, "ops": ops,
                 "runs": write_runs(folder, [([x], [])])})


def stateful_accumulator_tflite():
    """A tf.Module with two tf.Variables (running sum and count) converted from a SavedModel with
    resource variables enabled: VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE, and CALL_ONCE running
    the initializer subgraph on the first invoke. Output = running mean of all inputs so far."""
    import tempfile

    import tensorflow as tf

    class Accumulator(tf.Module):
        def __init__(self):
            super().__init__()
            self.total = tf.Variable(tf.fill([1, 4], 0.5))
            self.count = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)], autograph=False)
        def __call__(self, x):
            self.total.assign_add(x)
            self.count.assign_add(1.0)
            return self.total / self.count

    m = Accumulator()
    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(m, tmp, signatures=m.__call__.get_concrete_function())
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        conv.experimental_enable_resource_variables = True
        return conv.convert()


def custom_op_tflite():
    """tf.math.bessel_i0e has no TFLite builtin: with allow_custom_ops it becomes CUSTOM 'BesselI0e'."""
    import tensorflow as tf

    def cfg(conv):
        conv.allow_custom_ops = True

    return to_tflite(lambda x: tf.math.bessel_i0e(x) + 1.0, [tf.TensorSpec((2, 3), tf.float32)], configure=cfg)


# ----------------------------------------------------------------------------------------------
# JAX helpers


def jax_export(fn, *arg_examples):
    """jax.export of jax.jit(fn) for the shapes/dtypes of the example arguments (pytrees).

    Source-file locations are turned off (jax_traceback_in_locations_limit = 0), so neither the text
    nor the blob holds a host path; name locations (argument pytree paths, op names) remain."""
    import jax
    from jax import export

    jax.config.update("jax_traceback_in_locations_limit", 0)

    specs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype), arg_examples)
    return export.export(jax.jit(fn))(*specs)


_ABS_LOC = re.compile(r'loc\("(/[^"]*)"')


def stablehlo_text(exp):
    """exp.mlir_module() with host paths removed from the debug locations.

    Name locations are kept — @main's arguments carry loc("variables['params'][...]") / loc("x"),
    which is how a Flax export's parameters bind by path — but file locations lose their directory,
    so no absolute host path is committed."""
    text = _ABS_LOC.sub(lambda m: 'loc("' + os.path.basename(m.group(1)) + '"', exp.mlir_module())
    for bad in ("/root/", "/work/", "/home/", "/tmp/", "site-packages"):
        assert bad not in text, f"host path {bad!r} left in StableHLO text"
    return text


def write_jax_artifacts(folder, exp, stem="model"):
    """Writes <stem>.mlir (StableHLO text), <stem>.jax_exported (jax.export blob) and <stem>.mlirbc
    (the bare StableHLO portable artifact inside the blob). Returns the three paths."""
    paths = {}
    paths["stablehlo_text"] = os.path.join(folder, stem + ".mlir")
    with open(paths["stablehlo_text"], "w") as f:
        f.write(stablehlo_text(exp))
    paths["jax_export"] = os.path.join(folder, stem + ".jax_exported")
    with open(paths["jax_export"], "wb") as f:
        f.write(exp.serialize())
    paths["mlir_bytecode"] = os.path.join(folder, stem + ".mlirbc")
    with open(paths["mlir_bytecode"], "wb") as f:
        f.write(bytes(exp.mlir_module_serialized))
    assert bytes(exp.mlir_module_serialized)[:4] == b"ML\xefR"
    for p in paths.values():
        check_size(p)
        with open(p, "rb") as f:
            data = f.read()
        for bad in (b"/root/", b"/work/", b"/home/", b"/tmp/", b"site-packages", b"generate.py"):
            assert bad not in data, f"host path {bad!r} left in {p}"
    return paths


def stablehlo_ops(text):
    """The StableHLO / func op names used in a module's text (for the manifest's ops field)."""
    ops = set(re.findall(r"\b(stablehlo\.[a-z_]+|func\.(?:call|return|func)|chlo\.[a-z_]+)\b", text))
    if re.search(r"= (?:func\.)?call @", text):
        ops.add("func.call")
    ops |= set("stablehlo." + m for m in re.findall(r'"stablehlo\.([a-z_]+)"', text))
    return sorted(ops)


def keras_digits_cnn_params(cnn):
    """The trained Keras digits CNN's weights as a JAX/Flax parameter tree."""
    convs = [l for l in cnn.layers if l.__class__.__name__ == "Conv2D"]
    dense = [l for l in cnn.layers if l.__class__.__name__ == "Dense"][0]
    p = {}
    for i, c in enumerate(convs):
        p[f"Conv_{i}"] = {"kernel": np.asarray(c.kernel.numpy()), "bias": np.asarray(c.bias.numpy())}
    p["Dense_0"] = {"kernel": np.asarray(dense.kernel.numpy()), "bias": np.asarray(dense.bias.numpy())}
    return {"params": p}


def jax_digits_cnn(params, x):
    """The digits CNN in plain JAX (NHWC, HWIO kernels, as Keras computes it)."""
    import jax
    from jax import lax
    import jax.numpy as jnp

    dn = ("NHWC", "HWIO", "NHWC")
    p = params["params"]
    y = x
    for name in ("Conv_0", "Conv_1"):
        y = lax.conv_general_dilated(y, p[name]["kernel"], (1, 1), "SAME", dimension_numbers=dn)
        y = jax.nn.relu(y + p[name]["bias"])
        y = lax.reduce_window(y, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    y = y.reshape((y.shape[0], -1)) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
    return jax.nn.softmax(y, axis=-1)


def flax_digits_cnn():
    import flax.linen as nn

    class DigitsCNN(nn.Module):
        """The same CNN as a Flax linen module (parameter names Conv_0, Conv_1, Dense_0)."""

        @nn.compact
        def __call__(self, x):
            for feats in (16, 32):
                x = nn.relu(nn.Conv(feats, (3, 3), padding="SAME")(x))
                x = nn.max_pool(x, (2, 2), (2, 2))
            x = x.reshape((x.shape[0], -1))
            return nn.softmax(nn.Dense(10)(x))

    return DigitsCNN()


# ----------------------------------------------------------------------------------------------
# Section: examples/digits (issue 7)


def section_examples(reg):
    import jax
    import jax.numpy as jnp
    import tensorflow as tf
    from flax import serialization

    print("== examples", flush=True)
    d = trained_digits_models()
    cnn, xte, yte = d["cnn"], d["xte"], d["yte"]
    folder = fresh_dir(os.path.join(EXAMPLES, "digits"))
    probs_keras = cnn.predict(xte[..., None], verbose=0)

    # Five sample digits: the first correctly classified held-out image of labels 0, 3, 5, 7, 9.
    samples = []
    for label in (0, 3, 5, 7, 9):
        i = next(i for i in range(len(yte)) if yte[i] == label and probs_keras[i].argmax() == label)
        x = xte[i][None, ..., None].astype(np.float32)
        path = os.path.join(folder, f"digit_{label}.npy")
        save_npy(path, x)
        samples.append((label, x, path))

    # TFLite f32 and int8 (float input/output, so the same .npy samples feed every format).
    results = {}
    f32 = keras_to_tflite(cnn)
    rep = [[x[None, ..., None]] for x in d["xtr"][:200]]
    int8 = keras_to_tflite(cnn, quant="int8_float_io", rep_inputs=rep)
    for fname, bts, ref in (("model.tflite", f32, False), ("model_int8.tflite", int8, True)):
        with open(os.path.join(folder, fname), "wb") as f:
            f.write(bts)
        it = litert_interpreter(bts, reference=ref)
        results[fname] = [litert_run(it, [x])[0] for _, x, _ in samples]

    # SavedModel (Keras 3 model.export: signature serving_default).
    sm_dir = os.path.join(folder, "saved_model")
    export_keras_savedmodel(cnn, sm_dir)
    loaded = tf.saved_model.load(sm_dir)
    sig = loaded.signatures["serving_default"]
    results["saved_model"] = [list(sig(tf.constant(x)).values())[0].numpy() for _, x, _ in samples]

    # JAX: the same weights as a plain JAX function (weights baked in as constants).
    params = keras_digits_cnn_params(cnn)
    x0 = samples[0][1]
    exp = jax_export(lambda x: jax_digits_cnn(params, x), x0)
    jax_paths = write_jax_artifacts(folder, exp, stem="model")
    os.remove(jax_paths["mlir_bytecode"])  # the example ships text + blob; fixtures cover .mlirbc
    f_jit = jax.jit(lambda x: jax_digits_cnn(params, x))
    results["model.jax_exported"] = [np.asarray(f_jit(x)) for _, x, _ in samples]
    results["model.jax_exported (deserialized)"] = [
        np.asarray(jax.export.deserialize(exp.serialize()).call(x)) for _, x, _ in samples]

    # Flax: export of apply(variables, x) + variables.msgpack.
    model = flax_digits_cnn()
    variables = jax.tree.map(jnp.asarray, params)
    init_shapes = jax.tree.map(np.shape, model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))["params"])
    assert init_shapes == jax.tree.map(np.shape, params["params"]), (init_shapes,)
    def apply(variables, x):
        return model.apply(variables, x)

    fexp = jax_export(apply, variables, x0)
    write_jax_artifacts(folder, fexp, stem="flax_apply")
    os.remove(os.path.join(folder, "flax_apply.mlirbc"))
    with open(os.path.join(folder, "flax_variables.msgpack"), "wb") as f:
        f.write(serialization.to_bytes(variables))
    results["flax_apply.jax_exported"] = [np.asarray(jax.jit(model.apply)(variables, x)) for _, x, _ in samples]

    # Every format must agree with Keras (int8: same predicted digit).
    table = []
    for k, (label, x, path) in enumerate(samples):
        ref = probs_keras[np.where((xte == x[0, ..., 0]).all(axis=(1, 2)))[0][0]]
        row = [label, int(ref.argmax()), float(ref.max())]
        for name, outs in results.items():
            assert outs[k].shape == (1, 10), (name, outs[k].shape)
            assert int(outs[k].argmax()) == label, (name, label, outs[k])
            if "int8" not in name:
                assert np.abs(outs[k][0] - ref).max() < 1e-4, (name, np.abs(outs[k][0] - ref).max())
        row.append(float(results["model_int8.tflite"][k].max()))
        table.append(row)
    write_examples_readme(folder, table, d["cnn_acc"])
    for root, _, files in os.walk(folder):
        for fn in files:
            check_size(os.path.join(root, fn))
    print("examples/digits: every format predicts the true label of all samples", flush=True)


def export_keras_savedmodel(model, path, max_shard_bytes=None):
    """Keras 3 SavedModel export (what model.export does: endpoint "serve", signature
    serving_default), optionally with the variables split into several data shards."""
    import contextlib
    import io

    import tensorflow as tf
    from keras.export import ExportArchive

    if os.path.isdir(path):
        shutil.rmtree(path)
    archive = ExportArchive()
    with contextlib.redirect_stdout(io.StringIO()):
        # A fixed input name (Keras would use a per-process counter, keras_tensor_<N>).
        spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32, name="input")
        archive.track_and_add_endpoint("serve", model, [spec])
        options = None
        if max_shard_bytes:
            policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=max_shard_bytes)
            options = tf.saved_model.SaveOptions(experimental_sharding_callback=policy)
        archive.write_out(path, options=options, verbose=False)


def write_examples_readme(folder, table, acc):
    rows = "\n".join(f"| `digit_{lbl}.npy` | {lbl} | {pred} | {p:.4f} | {p8:.4f} |" for lbl, pred, p, p8 in table)
    text = f"""# Digits classifier in every format

A real classifier: a small CNN (conv 16 → max-pool → conv 32 → max-pool → dense 10 → softmax)
trained with Keras 3 on scikit-learn's 8×8 handwritten digits (test accuracy {acc:.4f} on 450
held-out images). Input: `float32[1, 8, 8, 1]`, pixel values in [0, 1] (the dataset's 0–16 divided
by 16). Output: `float32[1, 10]`, the probability of each digit 0–9.

Made by `python3 tests/models/generate.py --only examples`; every format below was checked to
predict the true digit of every sample, and the float formats to agree with Keras within 1e-4.

| file | format |
|---|---|
| `model.tflite` | TFLite, float32 |
| `model_int8.tflite` | TFLite, full-integer int8 with float input/output (QUANTIZE/DEQUANTIZE at the edges) |
| `saved_model/` | TensorFlow SavedModel (Keras 3 `model.export`), signature `serving_default` |
| `model.jax_exported` | `jax.export` blob of the same network in plain JAX (weights as constants) |
| `model.mlir` | the StableHLO text of that export (`exp.mlir_module()`, host paths removed) |
| `flax_apply.jax_exported` + `flax_variables.msgpack` | Flax linen module: export of `apply(variables, x)` and its variables (`flax.serialization.to_bytes`) |
| `flax_apply.mlir` | the StableHLO text of the Flax export (arguments: the variables' leaves, then `x`) |

## Samples

| input | true digit | predicted (f32) | probability (f32) | probability (int8) |
|---|---|---|---|---|
{rows}

## Run one

```sh
cerebro-vmm --model examples/digits/model.tflite --input examples/digits/digit_7.npy
cerebro-vmm --model examples/digits/model_int8.tflite --input examples/digits/digit_3.npy
cerebro-vmm --model examples/digits/saved_model --input examples/digits/digit_5.npy
cerebro-vmm --model examples/digits/model.mlir --input examples/digits/digit_9.npy
cerebro-vmm --model examples/digits/flax_apply.jax_exported --params examples/digits/flax_variables.msgpack \\
    --input examples/digits/digit_0.npy
```

Each prints the output's top-5 classes; the first is the predicted digit.
"""
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------------
# Section: JAX / Flax (issue 5)


def section_jax(reg):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from jax import lax

    print("== jax", flush=True)
    rng = np.random.default_rng(SEED + 5)

    def w(*shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[0] if len(shape) == 2 else np.prod(shape[:-1]))
        return jnp.asarray(rng.normal(0, scale, shape).astype(np.float32))

    # --- plain JAX MLP (weights as constants) ---
    mlp_w = [(w(16, 32), w(32, scale=0.1)), (w(32, 16), w(16, scale=0.1)), (w(16, 10), w(10, scale=0.1))]

    def jax_mlp(x):
        h = jax.nn.relu(x @ mlp_w[0][0] + mlp_w[0][1])
        h = jnp.tanh(h @ mlp_w[1][0] + mlp_w[1][1])
        return jax.nn.log_softmax(h @ mlp_w[2][0] + mlp_w[2][1])

    emit_jax(reg, "jax_mlp", jax_mlp, None, [rng.normal(0, 1, (4, 16)).astype(np.float32) for _ in range(2)],
             "plain JAX MLP 16-32-16-10 (relu, tanh, log_softmax), weights as constants, batch 4")

    # --- plain JAX CNN: conv, grouped (depthwise) strided conv, dilated conv, max and avg pool ---
    dn = ("NHWC", "HWIO", "NHWC")
    k1, b1 = w(3, 3, 3, 8), w(8, scale=0.1)
    k2, b2 = w(3, 3, 1, 8), w(8, scale=0.1)  # feature_group_count = 8: depthwise
    k3, b3 = w(3, 3, 8, 12), w(12, scale=0.1)
    kd, bd = w(12, 6), w(6, scale=0.1)

    def jax_cnn(x):
        y = lax.conv_general_dilated(x, k1, (1, 1), "SAME", dimension_numbers=dn) + b1
        y = jax.nn.relu(y)
        y = lax.conv_general_dilated(y, k2, (2, 2), ((1, 1), (1, 1)), dimension_numbers=dn,
                                     feature_group_count=8) + b2
        y = jax.nn.relu6(y)
        y = lax.reduce_window(y, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 1, 1, 1), "SAME")
        y = lax.conv_general_dilated(y, k3, (1, 1), "VALID", rhs_dilation=(2, 2), dimension_numbers=dn) + b3
        y = jax.nn.sigmoid(y) * y  # swish
        y = lax.reduce_window(y, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0
        y = jnp.mean(y, axis=(1, 2))
        return jax.nn.softmax(y @ kd + bd)

    emit_jax(reg, "jax_cnn", jax_cnn, None, [rng.normal(0, 1, (2, 16, 16, 3)).astype(np.float32) for _ in range(2)],
             "plain JAX CNN: conv SAME, depthwise (feature_group_count 8) stride 2, max pool SAME, dilated "
             "conv VALID, swish, avg pool, mean, dense, softmax; batch 2, 16x16x3")

    # --- Flax linen MLP with exact GELU ---
    class GeluMLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.gelu(nn.Dense(32)(x), approximate=False)
            x = nn.gelu(nn.Dense(32)(x), approximate=False)
            return nn.Dense(10)(x)

    m = GeluMLP()
    x_ex = np.zeros((3, 20), np.float32)
    v = m.init(jax.random.key(SEED % 1000), x_ex)
    emit_jax(reg, "flax_mlp_gelu", lambda variables, x: m.apply(variables, x), v,
             [rng.normal(0, 1, (3, 20)).astype(np.float32) for _ in range(2)],
             "Flax linen MLP 20-32-32-10 with exact GELU (erf), batch 3")

    # --- Flax NNX model with batch norm (running statistics from data) ---
    class ConvBN(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(3, 8, (3, 3), rngs=rngs)
            self.bn = nnx.BatchNorm(8, momentum=0.0, rngs=rngs)
            self.linear = nnx.Linear(8, 5, rngs=rngs)

        def __call__(self, x):
            x = nnx.relu(self.bn(self.conv(x)))
            return self.linear(x.mean(axis=(1, 2)))

    net = ConvBN(nnx.Rngs(SEED % 1000))
    net.bn.scale.value = jnp.asarray(rng.uniform(0.5, 1.5, 8).astype(np.float32))
    net.bn.bias.value = jnp.asarray(rng.normal(0, 0.3, 8).astype(np.float32))
    net.train()
    net(jnp.asarray(rng.normal(0.5, 2.0, (32, 8, 8, 3)).astype(np.float32)))  # running stats := batch stats
    net.eval()
    graphdef, state = nnx.split(net)
    pure = nnx.to_pure_dict(state)
    assert float(jnp.abs(pure["bn"]["mean"]).max()) > 0.01

    def nnx_apply(variables, x):
        st = nnx.State(jax.tree.map(lambda a: a, state))
        nnx.replace_by_pure_dict(st, variables)
        return nnx.merge(graphdef, st)(x)

    emit_jax(reg, "nnx_conv_bn", nnx_apply, pure,
             [rng.normal(0.5, 2.0, (2, 8, 8, 3)).astype(np.float32) for _ in range(2)],
             "Flax NNX conv 3x3 -> BatchNorm (inference, running stats from data) -> relu -> mean -> "
             "linear; params = nnx.to_pure_dict(state)")

    # --- transformer encoder block (Flax linen) ---
    class EncoderBlock(nn.Module):
        dim: int = 32
        heads: int = 4

        @nn.compact
        def __call__(self, x):
            h = nn.LayerNorm()(x)
            h = nn.MultiHeadDotProductAttention(num_heads=self.heads, deterministic=True)(h, h)
            x = x + h
            h = nn.LayerNorm()(x)
            h = nn.Dense(4 * self.dim)(h)
            h = nn.gelu(h)
            h = nn.Dense(self.dim)(h)
            return x + h

    enc = EncoderBlock()
    xe = np.zeros((2, 8, 32), np.float32)
    ve = enc.init(jax.random.key(SEED % 1000 + 1), xe)
    emit_jax(reg, "flax_encoder_block", lambda variables, x: enc.apply(variables, x), ve,
             [rng.normal(0, 1, (2, 8, 32)).astype(np.float32) for _ in range(2)],
             "Flax linen pre-LN transformer encoder block: LayerNorm, 4-head self-attention (dim 32), "
             "residual, LayerNorm, MLP 32-128-32 with tanh GELU, residual; batch 2, 8 tokens")

    jax_op_fixtures(reg)
    jax_window_fixtures(reg)


def emit_jax(reg, base, fn, variables, xs, what, tolerance=1e-5):
    """One model as three fixtures (StableHLO text, jax.export blob, bare portable artifact).

    fn(x) for plain JAX, fn(variables, x) for Flax (then variables.msgpack is the params file and
    the runs' inputs are only x). An element of xs is one run's input array, or a tuple of input
    arrays for a multi-input fn. Outputs are the leaves of fn's result, in pytree order.
    Goldens: jax.jit on CPU; the deserialized export must agree."""
    import jax
    from flax import serialization

    names = {"stablehlo_text": base + "_text", "jax_export": base + "_export", "mlir_bytecode": base + "_mlirbc"}
    if not any(reg.wanted(n) for n in names.values()):
        return
    runs_in = [list(x) if isinstance(x, tuple) else [x] for x in xs]

    def apply(variables, x):  # named arguments give the loc("variables[...]") / loc("x") names
        return fn(variables, x)

    leaves = lambda out: [np.asarray(o) for o in jax.tree.leaves(out)]  # noqa: E731
    if variables is None:
        exp = jax_export(fn, *runs_in[0])
        golden = [leaves(jax.jit(fn)(*ins)) for ins in runs_in]
        via_export = [leaves(jax.export.deserialize(exp.serialize()).call(*ins)) for ins in runs_in]
    else:
        variables = jax.tree.map(lambda a: np.asarray(a), variables)
        exp = jax_export(apply, variables, *runs_in[0])
        golden = [leaves(jax.jit(apply)(variables, *ins)) for ins in runs_in]
        via_export = [leaves(jax.export.deserialize(exp.serialize()).call(variables, *ins)) for ins in runs_in]
    for g, e in zip(golden, via_export):
        for a, b in zip(g, e):
            assert a.dtype == b.dtype and np.abs(a.astype(np.float64) - b).max() <= \
                1e-6 * max(1.0, float(np.abs(a.astype(np.float64)).max())), base
    text = stablehlo_text(exp)
    ops = stablehlo_ops(text)
    for fmt, name in names.items():
        if not reg.wanted(name):
            continue
        folder = fresh_dir(os.path.join(HERE, fmt, name))
        paths = write_jax_artifacts(folder, exp, stem="model")
        for other, p in paths.items():
            if other != fmt:
                os.remove(p)
        params = None
        if variables is not None:
            params = os.path.join(folder, "variables.msgpack")
            with open(params, "wb") as f:
                f.write(serialization.to_bytes(variables))
            check_size(params)
        NOTES[name] = what + f" ({fmt}; @main has {len(exp.in_avals)} arguments, kept "
        NOTES[name] += f"{list(exp.module_kept_var_idx)})" if variables is not None else "all)"
        reg.add({"name": name, "issue": 5, "format": fmt, "model": rel(paths[fmt]),
                 "params": rel(params) if params else None, "signature": None, "compare": "close",
                 "tolerance": tolerance, "ops": ops,
                 "runs": write_runs(folder, list(zip(runs_in, golden)))})


def jax_op_fixtures(reg):
    """Small JAX functions for the rest of issue 5's op list: control flow and calls, indexing,
    sorting, integer / boolean / reduced-precision types."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    @jax.jit
    def helper(v):  # a nested jit: a private func.func reached by func.call
        return jnp.tanh(v) * 2.0

    def control_flow(x, n):
        def body(i, c):
            return c * 0.9 + jnp.sin(c) * 0.1 + i.astype(jnp.float32) * 0.01

        y = lax.fori_loop(0, n, body, x)                      # while with a run-time trip count
        y = lax.cond(jnp.sum(y) > 0, lambda a: a * 2.0, lambda a: -a, y)   # case on a predicate
        k = jnp.clip(n % 3, 0, 2)
        y = lax.switch(k, [lambda a: a + 1.0, lambda a: a * a, lambda a: jnp.exp(-a)], y)  # case
        return helper(y), y > 0.5

    r = named_rng("jax_control_flow")
    emit_jax(reg, "jax_control_flow", control_flow, None,
             [(r.normal(0, 1, (3, 4)).astype(np.float32), np.int32(n)) for n in (5, 3)],
             "JAX control flow: fori_loop with a run-time trip count (while), cond and switch (case), a "
             "nested jit (func.call), integer remainder/clamp; outputs f32 and i1")

    def indexing(x, idx, start):
        g = x[idx]                                                       # gather
        s = jnp.zeros((6, 4), x.dtype).at[idx].add(x[:idx.shape[0]])     # scatter (add)
        d = lax.dynamic_slice(x, (start, 0), (2, 4))                     # dynamic_slice
        srt = jnp.sort(x, axis=1)                                        # sort
        order = jnp.argsort(x[:, 0]).astype(jnp.int32)                   # sort with two operands
        c = jnp.concatenate([d, srt[:2] + jnp.arange(4, dtype=jnp.float32)], axis=0)   # iota, concatenate
        p = lax.pad(c, 0.5, [(1, 0, 1), (0, 2, 0)])                      # pad with interior padding
        return g, s, jnp.clip(p, -1.0, 1.0), order, jnp.cumsum(x, axis=0)   # clamp, reduce_window

    r = named_rng("jax_indexing")
    emit_jax(reg, "jax_indexing", indexing, None,
             [(r.normal(0, 1, (6, 4)).astype(np.float32), np.array(i, np.int32), np.int32(st))
              for i, st in (([4, 0, 2], 3), ([1, 5, 5], 9))],
             "JAX indexing: gather, scatter-add, dynamic_slice (start clamped in run 1), sort, argsort, iota, "
             "concatenate, pad with interior padding, clamp, cumsum (reduce_window); outputs f32 and i32")

    def indexing_sort_scatter(x, idx, k):
        v, i = lax.top_k(x, 3)                                           # top_k (composite -> sort)
        a, b = lax.sort((x[:, 0], x[:, 1]), num_keys=1)                  # sort carrying a second operand
        t = jnp.take_along_axis(x, jnp.argsort(x, axis=1)[:, :2], axis=1)   # gather with batching dims
        s = jnp.ones((6, 4), x.dtype).at[idx, 1].max(x[:3, 0])          # scatter max, index vectors
        u = lax.dynamic_update_slice(x, jnp.zeros((2, 2), x.dtype), (k, k))  # start clamped in run 1
        m = jnp.zeros((6,), x.dtype).at[idx].set(x[:3, 2])              # scatter set, index 10 dropped
        return v, i, a, b, t, s, u, m

    r = named_rng("jax_indexing_sort_scatter")
    emit_jax(reg, "jax_indexing_sort_scatter", indexing_sort_scatter, None,
             [(r.normal(0, 1, (6, 4)).astype(np.float32), np.array(i, np.int32), np.int32(k))
              for i, k in (([0, 2, 5], 1), ([-1, 3, 10], 7))],
             "JAX indexing II: top_k, two-operand sort, take_along_axis (gather with batching dims), "
             "scatter max / set (out-of-range index dropped), dynamic_update_slice with a run-time "
             "start (clamped in run 1); outputs f32 and i32")

    def mixed_precision(a, b, i):
        ab = (a.astype(jnp.bfloat16) @ b.astype(jnp.bfloat16)).astype(jnp.float32)
        ah = (a.astype(jnp.float16) * 1.5 + 0.25).astype(jnp.float32)
        ii = ((i * 3 + 7) // 2 - (i % 5) + (i << 1)) ^ (i & 6) | 1
        m = jnp.maximum(i, 2) * jnp.sign(i)
        return ab, ah, ii, m, (i > 0) & (a[:, 0] > 0)

    r = named_rng("jax_mixed_precision")
    emit_jax(reg, "jax_mixed_precision", mixed_precision, None,
             [(r.normal(0, 1, (4, 5)).astype(np.float32), r.normal(0, 1, (5, 3)).astype(np.float32),
               r.integers(-20, 20, 4).astype(np.int32)) for _ in range(2)],
             "JAX types: bf16 dot_general, f16 arithmetic, i32 floor-division/remainder/shift/and/or/xor/"
             "sign, i1 logic; tolerance 1e-2 for the bf16/f16 outputs (one bf16 ulp), integer outputs exact",
             tolerance=1e-2)

    def prng_noise(x, seed):
        key = jax.random.fold_in(jax.random.key(42), seed)
        k_normal, k_uniform, k_bits, k_int = jax.random.split(key, 4)
        noisy = x + 0.1 * jax.random.normal(k_normal, x.shape, x.dtype)
        u = jax.random.uniform(k_uniform, x.shape, x.dtype, minval=-1.0, maxval=1.0)
        bits = jax.random.bits(k_bits, (5,), jnp.uint32)
        ints = jax.random.randint(k_int, (6,), -50, 50, jnp.int32)
        return noisy, u, bits, ints

    r = named_rng("jax_prng_noise")
    emit_jax(reg, "jax_prng_noise", prng_noise, None,
             [(r.normal(0, 1, (3, 4)).astype(np.float32), np.int32(s)) for s in (0, 7)],
             "JAX threefry PRNG inside the model (fixed key folded with an i32 seed input): split, normal "
             "(erf_inv), uniform (u32 shifts/or, bitcast_convert to f32), bits (u32 output), randint; "
             "threefry runs in a while loop on u32 add/xor/shift/or")


def jax_window_fixtures(reg):
    """Windowed ops in their general StableHLO forms: 1-D, 3-D and transposed (lhs-dilated)
    convolutions, dilations, batch groups, run-time kernels, padded pooling, interior padding."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from jax import lax

    # --- Flax 1-D convolutions on sequence data ---
    class Conv1D(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (5,), padding="SAME")(x))
            x = nn.relu(nn.Conv(8, (3,), strides=(2,), padding="CAUSAL")(x))
            x = nn.Conv(6, (3,), kernel_dilation=(2,), feature_group_count=2, padding="VALID")(x)
            return x, jnp.mean(x, axis=1)

    r = named_rng("flax_conv1d")
    m = Conv1D()
    v = m.init(jax.random.key(SEED % 1000 + 2), np.zeros((2, 24, 4), np.float32))
    emit_jax(reg, "flax_conv1d", lambda variables, x: m.apply(variables, x), v,
             [r.normal(0, 1, (2, 24, 4)).astype(np.float32) for _ in range(2)],
             "Flax linen 1-D convs on a [2, 24, 4] sequence: SAME k5, CAUSAL k3 stride 2, VALID k3 "
             "dilation 2 with 2 feature groups; outputs the sequence and its mean")

    # --- Flax ConvTranspose decoder (lhs dilation) ---
    class Decoder(nn.Module):
        @nn.compact
        def __call__(self, z):
            x = nn.relu(nn.ConvTranspose(6, (3, 3), strides=(2, 2), padding="SAME")(z))
            x = nn.relu(nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding="VALID")(x))
            x = nn.ConvTranspose(3, (3, 3), strides=(1, 2), padding=((1, 0), (2, 1)),
                                 transpose_kernel=True)(x)
            s = nn.ConvTranspose(2, (4,), strides=(3,), padding="SAME")(z[:, 0])
            return nn.sigmoid(x), s

    r = named_rng("flax_conv_transpose")
    m = Decoder()
    v = m.init(jax.random.key(SEED % 1000 + 3), np.zeros((1, 4, 4, 5), np.float32))
    emit_jax(reg, "flax_conv_transpose", lambda variables, x: m.apply(variables, x), v,
             [r.normal(0, 1, (1, 4, 4, 5)).astype(np.float32) for _ in range(2)],
             "Flax linen ConvTranspose decoder: 3x3 stride 2 SAME, 4x4 stride 2 VALID, 3x3 strides "
             "(1, 2) with explicit padding and transpose_kernel (kernel reversal), and a 1-D k4 "
             "stride 3; sigmoid")

    # --- plain JAX: dilations, 3-D conv, batch groups, negative padding, run-time kernel ---
    r = named_rng("jax_dilated_conv")
    k2 = jnp.asarray(r.normal(0, 0.3, (3, 3, 4, 6)).astype(np.float32))
    k3 = jnp.asarray(r.normal(0, 0.3, (2, 3, 3, 2, 4)).astype(np.float32))
    kb = jnp.asarray(r.normal(0, 0.3, (2, 2, 4, 6)).astype(np.float32))

    def dilated(x, vol, kr):
        dn = ("NHWC", "HWIO", "NHWC")
        a = lax.conv_general_dilated(x, k2, (1, 1), "SAME", rhs_dilation=(2, 3), dimension_numbers=dn)
        b = lax.conv_general_dilated(x, k2, (2, 1), ((-1, 2), (3, -2)), lhs_dilation=(2, 3),
                                     rhs_dilation=(1, 2), dimension_numbers=dn)
        c = lax.conv_general_dilated(vol, k3, (1, 2, 1), "SAME", rhs_dilation=(1, 1, 2),
                                     dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
        d = lax.conv_general_dilated(x, kb, (1, 1), "VALID", dimension_numbers=dn, batch_group_count=2)
        e = lax.conv_general_dilated(jnp.transpose(x, (0, 3, 1, 2)), kr, (2, 2), ((1, 1), (0, 2)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return a, b, c, d, e

    emit_jax(reg, "jax_dilated_conv", dilated, None,
             [(r.normal(0, 1, (2, 7, 8, 4)).astype(np.float32), r.normal(0, 1, (1, 4, 5, 6, 2)).astype(np.float32),
               r.normal(0, 0.3, (5, 4, 3, 2)).astype(np.float32)) for _ in range(2)],
             "plain JAX convolutions: rhs dilation (2, 3) SAME; lhs dilation (2, 3) with negative and "
             "asymmetric padding and rhs dilation; a 3-D conv (NDHWC) with strides and dilation; "
             "batch_group_count 2; NCHW/OIHW with a run-time kernel (third input)")

    # --- pooling with padding (Flax) and general reduce_window / pad (JAX) ---
    def pooling(x, seq):
        return (
            nn.avg_pool(x, (3, 3), strides=(2, 2), padding="SAME"),                           # count_include_pad
            nn.avg_pool(x, (3, 3), strides=(2, 2), padding="SAME", count_include_pad=False),
            nn.max_pool(x, (3, 2), strides=(1, 2), padding=((1, 1), (0, 1))),
            nn.avg_pool(seq, (4,), strides=(2,), padding=((2, 1),), count_include_pad=False),  # 1-D
            lax.reduce_window(x, jnp.inf, lax.min, (1, 2, 2, 1), (1, 1, 2, 1), ((0, 0), (1, 1), (0, 1), (0, 0)),
                              base_dilation=(1, 2, 1, 1), window_dilation=(1, 1, 2, 1)),
            lax.reduce_window(seq, 0.0, lax.add, (1, 3, 1), (1, 2, 1), "VALID", window_dilation=(1, 2, 1)),
            lax.pad(seq, -1.0, [(0, 0, 0), (2, -3, 1), (-1, 1, 0)]),
        )

    r = named_rng("flax_pooling")
    emit_jax(reg, "flax_pooling", pooling, None,
             [(r.normal(0, 1, (2, 7, 9, 3)).astype(np.float32), r.normal(0, 1, (2, 10, 3)).astype(np.float32))
              for _ in range(2)],
             "pooling with padding: Flax avg_pool SAME with and without count_include_pad, max_pool with "
             "explicit padding, 1-D avg_pool; lax.reduce_window min with base and window dilation, sum with "
             "window dilation; lax.pad with interior and negative padding")

    # --- gradient of max pooling: select_and_scatter ---
    r = named_rng("jax_maxpool_grad")
    wg = jnp.asarray(r.normal(0, 1, (2, 4, 5, 3)).astype(np.float32))

    def maxpool_grad(x):
        return jax.grad(lambda x: jnp.sum(nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME") * wg))(x)

    emit_jax(reg, "jax_maxpool_grad", maxpool_grad, None,
             [r.normal(0, 1, (2, 7, 9, 3)).astype(np.float32) for _ in range(2)],
             "gradient of a 3x3 stride-2 SAME max pool (jax.grad): select_and_scatter (GE select, add "
             "scatter) on a -inf padded operand")


# ----------------------------------------------------------------------------------------------
# Section: SavedModel / frozen GraphDef (issue 6)
#
# Input/output order for SavedModels: the signature's input keys sorted, its output keys sorted
# (TensorFlow flattens the structured dicts in that order). For frozen GraphDefs: the Placeholder
# nodes in the order listed in NOTES (the function's inputs) and outputs Identity, Identity_1, ...


def savedmodel_ops(path, signature="serving_default"):
    """TF op types reachable from a SavedModel signature's outputs (through called functions)."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    mg = sm.meta_graphs[0]
    funcs = {fd.signature.name: fd for fd in mg.graph_def.library.function}
    nodes = {n.name: n for n in mg.graph_def.node}
    ops, seen_f = set(), set()

    def visit_function(name):
        if name in seen_f or name not in funcs:
            return
        seen_f.add(name)
        for n in funcs[name].node_def:
            visit_node(n)

    def visit_node(n):
        ops.add(n.op)
        for attr in n.attr.values():
            if attr.HasField("func"):
                visit_function(attr.func.name)
            for fn in attr.list.func:
                visit_function(fn.name)

    stack = [t.name.split(":")[0] for t in mg.signature_def[signature].outputs.values()]
    done = set()
    while stack:
        name = stack.pop()
        if name in done or name not in nodes:
            continue
        done.add(name)
        visit_node(nodes[name])
        stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)
    return sorted(ops - {"NoOp"})


def run_signature(path, signature, inputs):
    """Golden from TensorFlow: inputs in sorted key order, outputs in sorted key order."""
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    fn = loaded.signatures[signature]
    keys = sorted(fn.structured_input_signature[1].keys())
    outs = [fn(**{k: tf.constant(a) for k, a in zip(keys, x)}) for x in inputs]
    return keys, [[o[k].numpy() for k in sorted(o.keys())] for o in outs], sorted(outs[0].keys())


def emit_savedmodel(reg, name, path_builder, inputs, what, signature=None, graphdef=True):
    """Builds a SavedModel with path_builder(dir), writes its fixture (goldens from TF) and,
    if graphdef, a frozen GraphDef fixture of the same signature."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    sig = signature or "serving_default"
    folder = fresh_dir(os.path.join(HERE, "savedmodel", name))
    sm_dir = os.path.join(folder, "saved_model")
    path_builder(sm_dir)
    for root, _, files in os.walk(sm_dir):
        for fn in files:
            check_size(os.path.join(root, fn))
    keys, goldens, out_keys = run_signature(sm_dir, sig, inputs)
    NOTES[name] = what + f" (inputs {keys}, outputs {out_keys})"
    reg.add({"name": name, "issue": 6, "format": "savedmodel", "model": rel(sm_dir), "params": None,
             "signature": signature, "compare": "close", "tolerance": 1e-4, "ops": savedmodel_ops(sm_dir, sig),
             "runs": write_runs(folder, list(zip(inputs, goldens)))})
    gname = name.replace("savedmodel", "").strip("_") + "_frozen"
    if not graphdef or not reg.wanted(gname):
        return
    loaded = tf.saved_model.load(sm_dir)  # keep alive: the signature references its variables
    fn = loaded.signatures[sig]
    frozen = convert_variables_to_constants_v2(fn)
    gd = frozen.graph.as_graph_def()
    in_names = [t.name for t in frozen.inputs]
    out_names = [t.name for t in frozen.outputs]
    # The frozen graph alone must reproduce the SavedModel's outputs.
    imported = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(gd, name=""), [])
    run = imported.prune([imported.graph.get_tensor_by_name(n) for n in in_names],
                         [imported.graph.get_tensor_by_name(n) for n in out_names])
    # Frozen inputs follow the function's arguments; map them from the sorted signature keys.
    arg_keys = [t.name.split(":")[0] for t in fn.inputs if t.dtype != tf.resource]
    order = [keys.index(k) for k in arg_keys]
    runs = []
    for x, g in zip(inputs, goldens):
        xs = [x[i] for i in order]
        got = [o.numpy() for o in run(*[tf.constant(a) for a in xs])]
        assert len(got) == len(g), (gname, len(got), len(g))
        for a, b in zip(got, g):
            assert np.abs(a - b).max() <= 1e-5 * max(1.0, np.abs(b).max()), gname
        runs.append((xs, got))
    gfolder = fresh_dir(os.path.join(HERE, "graphdef", gname))
    pb = os.path.join(gfolder, "model.pb")
    with open(pb, "wb") as f:
        f.write(gd.SerializeToString())
    check_size(pb)
    ops = sorted({n.op for n in gd.node} | {n.op for f in gd.library.function for n in f.node_def})
    NOTES[gname] = (f"frozen GraphDef (convert_variables_to_constants_v2) of {name}/{sig}; input nodes "
                    f"{in_names}, output nodes {out_names}")
    reg.add({"name": gname, "issue": 6, "format": "graphdef", "model": rel(pb), "params": None,
             "signature": None, "compare": "close", "tolerance": 1e-4, "ops": ops,
             "runs": write_runs(gfolder, runs)})


def section_savedmodel(reg):
    import tensorflow as tf

    print("== savedmodel", flush=True)
    rng = np.random.default_rng(SEED + 6)
    f32 = tf.float32

    # Keras 3 digits CNN (the trained classifier) via model.export.
    if reg.wanted("keras3_digits_cnn") or reg.wanted("keras3_digits_cnn_frozen"):
        d = trained_digits_models()
        xs = [[d["xte"][i][None, ..., None].astype(np.float32)] for i in (3, 4)]
        emit_savedmodel(reg, "keras3_digits_cnn", lambda p: export_keras_savedmodel(d["cnn"], p), xs,
                        "Keras 3 digits CNN (model.export), batch dimension None, run with batch 1")

    # Keras 3 MobileNetV2, the same calibrated network as the TFLite fixtures; variables split
    # into data shards under 20 MB (Keras 3 writes every weight twice: 28 MB in total).
    if reg.wanted("keras3_mobilenet_v2"):
        model, _, tests, _ = calibrated_mobilenet_v2()
        emit_savedmodel(reg, "keras3_mobilenet_v2",
                        lambda p: export_keras_savedmodel(model, p, max_shard_bytes=12 * 1024 * 1024),
                        [[tests[0][None]]],
                        "Keras 3 MobileNetV2 224x224 (same calibrated weights as mobilenet_v2_f32), "
                        "variables in several data shards (MaxShardSizePolicy 12 MB)", graphdef=False)

    # tf.Module with two signatures.
    class TwoSignatures(tf.Module):
        def __init__(self):
            super().__init__()
            r = named_rng("tf_module_weights")  # both fixtures' SavedModels hold the same weights
            self.w = tf.Variable(r.normal(0, 0.5, (6, 4)).astype(np.float32), name="w")
            self.b = tf.Variable(r.normal(0, 0.1, (4,)).astype(np.float32), name="b")
            self.scale = tf.Variable(1.5, name="scale")

        @tf.function(input_signature=[tf.TensorSpec([None, 6], f32, name="x")], autograph=False)
        def predict(self, x):
            return {"probs": tf.nn.softmax(tf.matmul(x, self.w) + self.b)}

        @tf.function(input_signature=[tf.TensorSpec([None, 6], f32, name="x"), tf.TensorSpec([None, 4], f32, name="y")],
                     autograph=False)
        def features(self, x, y):
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, self.w), self.b))
            return {"sum": h + y * self.scale, "mean": tf.reduce_mean(h, axis=1)}

    def save_two(p):
        m = TwoSignatures()
        tf.saved_model.save(m, p, signatures={"serving_default": m.predict, "features": m.features})

    if reg.wanted("tf_module_default") or reg.wanted("tf_module_features"):
        rng = named_rng("tf_module")
        # One SavedModel directory, two fixtures (default signature and a named one).
        emit_savedmodel(reg, "tf_module_default", save_two,
                        [[rng.normal(0, 1, (3, 6)).astype(np.float32)] for _ in range(2)],
                        "tf.Module with tf.Variables and two signatures; serving_default = softmax(x W + b)")
        emit_savedmodel(reg, "tf_module_features", save_two,
                        [[rng.normal(0, 1, (3, 6)).astype(np.float32), rng.normal(0, 1, (3, 4)).astype(np.float32)]
                         for _ in range(2)],
                        "the same tf.Module through its named signature 'features' (two inputs, two outputs)",
                        signature="features")

    # Older tf.keras (tf_keras) model: batch norm as FusedBatchNormV3.
    if reg.wanted("tf_keras_fused_bn") or reg.wanted("tf_keras_fused_bn_frozen"):
        rng = named_rng("tf_keras_fused_bn")
        emit_savedmodel(reg, "tf_keras_fused_bn", lambda p: tf_keras_model(rng).save(p, save_format="tf"),
                        [[rng.normal(0, 1, (1, 16, 16, 3)).astype(np.float32)] for _ in range(2)],
                        "tf_keras (Keras 2) CNN: Conv2D, BatchNormalization (FusedBatchNormV3, fixed random "
                        "moving stats), ReLU6, DepthwiseConv2D stride 2, ELU, 1x1 conv, AveragePooling, "
                        "MaxPooling, GlobalAveragePooling, Dense softmax")

    # jax2tf: XlaCallModule (issue 6 hands it to the StableHLO path).
    if reg.wanted("jax2tf_xla_call_module"):
        r = named_rng("jax2tf_xla_call_module")
        emit_savedmodel(reg, "jax2tf_xla_call_module", save_jax2tf,
                        [[r.normal(0, 1, (2, 8)).astype(np.float32)] for _ in range(2)],
                        "jax2tf.convert of a JAX MLP (tanh, softmax) saved as a SavedModel: one XlaCallModule op "
                        "carrying the StableHLO portable artifact", graphdef=False)

    # A tf.Module using the rest of issue 6's op list (audio front-end style plus misc ops).
    if reg.wanted("tf_ops_mix") or reg.wanted("tf_ops_mix_frozen"):
        rng = named_rng("tf_ops_mix")
        emit_savedmodel(reg, "tf_ops_mix", lambda p: save_ops_mix(p, rng),
                        [[rng.normal(0, 1, (1, 6, 6, 4)).astype(np.float32),
                          rng.normal(0, 1, (1, 400)).astype(np.float32)] for _ in range(2)],
                        "tf.Module exercising the TF op list: framing, log-power spectrum-like front end, "
                        "MirrorPad/Pad/Slice/StridedSlice, Pack/ConcatV2/Transpose, BatchMatMulV2, Select/"
                        "SelectV2/Equal/Greater/Less, Shape/Fill/Cast, Squeeze/ExpandDims, elementwise math, "
                        "pools and reductions")


def save_jax2tf(path):
    """A JAX function converted with jax2tf and saved: the graph holds an XlaCallModule op whose
    `module` attribute is the StableHLO portable artifact (weights inside it as constants)."""
    import jax
    import jax.numpy as jnp
    import tensorflow as tf
    from jax.experimental import jax2tf

    jax.config.update("jax_traceback_in_locations_limit", 0)
    r = named_rng("jax2tf_xla_call_module_weights")
    w1 = r.normal(0, 0.4, (8, 16)).astype(np.float32)
    w2 = r.normal(0, 0.4, (16, 4)).astype(np.float32)

    def f(x):
        return jax.nn.softmax(jnp.tanh(x @ w1) @ w2)

    m = tf.Module()
    m.f = tf.function(jax2tf.convert(f, with_gradient=False), autograph=False,
                      input_signature=[tf.TensorSpec([2, 8], tf.float32, name="x")])
    tf.saved_model.save(m, path, signatures=m.f.get_concrete_function())


def tf_keras_model(rng):
    import tf_keras

    tf_keras.utils.set_random_seed(SEED)
    L = tf_keras.layers
    m = tf_keras.Sequential([
        L.InputLayer((16, 16, 3)),
        L.Conv2D(8, 3, padding="same", use_bias=False),
        L.BatchNormalization(),
        L.ReLU(6.0),
        L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False),
        L.BatchNormalization(),
        L.ELU(),
        L.Conv2D(12, 1),
        L.AveragePooling2D(2),
        L.MaxPooling2D(2, padding="same"),
        L.GlobalAveragePooling2D(),
        L.Dense(5, activation="softmax"),
    ])
    for layer in m.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.3, c).astype(np.float32))
            layer.moving_mean.assign(rng.normal(0, 0.5, c).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype(np.float32))
    return m


def save_ops_mix(path, rng):
    import tensorflow as tf

    class OpsMix(tf.Module):
        def __init__(self):
            super().__init__()
            self.filt = tf.Variable(rng.normal(0, 0.3, (3, 3, 4, 4)).astype(np.float32))
            self.dw = tf.Variable(rng.normal(0, 0.3, (3, 3, 4, 1)).astype(np.float32))
            self.mel = tf.Variable(np.abs(rng.normal(0, 0.3, (33, 8))).astype(np.float32))
            self.proj = tf.Variable(rng.normal(0, 0.3, (3, 8, 5)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 6, 6, 4], tf.float32, name="image"),
                                      tf.TensorSpec([1, 400], tf.float32, name="wave")], autograph=False)
        def __call__(self, image, wave):
            # Image branch.
            x = tf.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")            # MirrorPad
            x = tf.nn.conv2d(x, self.filt, 1, "VALID")                                     # Conv2D
            x = tf.nn.depthwise_conv2d(x, self.dw, [1, 1, 1, 1], "SAME")                   # DepthwiseConv2dNative
            x = tf.nn.elu(x) + tf.nn.relu6(x) - tf.math.sigmoid(x) * tf.math.tanh(x)
            x = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])                                # Pad
            a = tf.nn.avg_pool2d(x, 2, 1, "VALID")
            m = tf.nn.max_pool2d(x, 2, 1, "VALID")
            x = tf.concat([a, m], axis=-1)                                                 # ConcatV2
            x = tf.transpose(x, [0, 3, 1, 2])                                              # Transpose
            x = tf.slice(x, [0, 1, 0, 0], [1, 6, 5, 5])                                    # Slice
            x = tf.squeeze(x, 0)                                                           # Squeeze
            pos = tf.math.greater(x, 0.0)
            neg = tf.math.less(x, -0.5)
            x = tf.where(pos, x, tf.where(neg, tf.math.negative(x), tf.abs(x) * 0.5))      # SelectV2
            x = tf.compat.v1.where(tf.equal(x, tf.reduce_max(x)), tf.ones_like(x), x)       # Select, Equal
            img_out = tf.stack([tf.reduce_max(x, [1, 2]), tf.reduce_min(x, [1, 2]),
                                tf.reduce_mean(x, [1, 2])], axis=1)                        # Pack, Max/Min/Mean
            # Audio front end: frames of 64 with hop 48 -> |x|^2 power -> "mel" -> log.
            w = tf.expand_dims(wave, -1)                                                   # ExpandDims
            frames = tf.stack([w[:, i * 48:i * 48 + 64, 0] for i in range(8)], axis=1)     # StridedSlice
            frames = frames - tf.reduce_mean(frames, axis=-1, keepdims=True)
            spec = tf.reshape(frames, [8, 2, 32])                                          # Reshape
            power = tf.reduce_sum(tf.square(spec), axis=1)                                 # Square, Sum
            power = tf.concat([power, tf.reduce_max(power, axis=1, keepdims=True)], 1)     # (8, 33)
            mel = tf.matmul(power, self.mel)                                               # MatMul
            logmel = tf.math.log(tf.maximum(mel, 1e-3))                                    # Log, Maximum
            norm = logmel * tf.math.rsqrt(tf.reduce_mean(tf.square(logmel)) + 1e-3)        # Rsqrt
            norm = tf.minimum(norm, 3.0) / tf.sqrt(tf.exp(tf.constant(0.5)) + 1.0)          # Minimum, RealDiv, Sqrt, Exp
            batched = tf.reshape(norm, [1, 8, 8]) + tf.zeros([3, 1, 1])
            proj = tf.matmul(batched, self.proj)                                           # BatchMatMulV2
            filled = tf.fill(tf.shape(proj), 0.25)                                         # Shape, Fill
            counts = tf.cast(tf.cast(proj * 4.0, tf.int32), tf.float32)                    # Cast
            audio_out = tf.nn.softmax(proj + filled) + counts * 0.01                       # Softmax
            return {"image_features": img_out, "audio_features": audio_out}

    m = OpsMix()
    tf.saved_model.save(m, path, signatures=m.__call__.get_concrete_function())


# ----------------------------------------------------------------------------------------------
# main


SECTIONS = ["tflite", "examples", "jax", "savedmodel"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=SECTIONS,
                    help="generate only this section (repeatable); default: all")
    ap.add_argument("--filter", help="regex: only fixtures whose name matches (others kept as they are)")
    ap.add_argument("--allow-version-mismatch", action="store_true")
    args = ap.parse_args()
    versions = check_versions(args.allow_version_mismatch)
    sections = args.only or SECTIONS
    reg = Registry(args.filter)
    funcs = {"tflite": section_tflite, "examples": globals().get("section_examples"),
             "jax": globals().get("section_jax"), "savedmodel": globals().get("section_savedmodel")}
    for s in SECTIONS:
        if s in sections:
            if funcs[s] is None:
                sys.exit(f"section {s} is not implemented yet")
            funcs[s](reg)
    reg.write(versions, set(sections))
    notes_path = os.path.join(HERE, "generate-notes.json")
    notes = {}
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            notes = json.load(f)
    notes.update(NOTES)
    with open(notes_path, "w") as f:
        json.dump(notes, f, indent=1, sort_keys=True)
        f.write("\n")
    write_readme_table(notes)


def write_readme_table(notes):
    """Regenerates the fixture table in tests/models/README.md (between the marker comments)."""
    readme = os.path.join(HERE, "README.md")
    if not os.path.exists(readme):
        return
    with open(MANIFEST) as f:
        fixtures = json.load(f)["fixtures"]
    lines = ["| fixture | issue | format | compare | runs | ops | what |", "|---|---|---|---|---|---|---|"]
    for fx in fixtures:
        cmp = fx["compare"] + (f" {fx['tolerance']:g}" if fx["compare"] == "close" else "")
        extra = []
        if fx["params"]:
            extra.append("params " + os.path.basename(fx["params"]))
        if fx["signature"]:
            extra.append("signature " + fx["signature"])
        what = "; ".join([notes.get(fx["name"], "")] + extra).strip("; ")
        lines.append(f"| `{fx['name']}` | {fx['issue']} | {fx['format']} | {cmp} | {len(fx['runs'])} | "
                     f"{' '.join(fx['ops'])} | {what} |")
    with open(readme) as f:
        text = f.read()
    begin, end = "<!-- fixtures:begin -->", "<!-- fixtures:end -->"
    if begin not in text or end not in text:
        return
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(readme, "w") as f:
        f.write(head + begin + "\n" + "\n".join(lines) + "\n" + end + tail)


if __name__ == "__main__":
    main()
