#!/usr/bin/env python3
"""Makes litert_vectors.txt: int8 single-op models converted by TensorFlow, run by LiteRT's
reference kernels (OpResolverType.BUILTIN_REF), dumped with their quantization parameters so the
Rust kernels can be checked bit for bit. Run by hand (tensorflow-cpu 2.21.0, ai-edge-litert 2.3.0):

    python3 gen_litert_vectors.py > litert_vectors.txt
"""
import flatbuffers
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

rng = np.random.default_rng(1234)


def convert(fn, shapes, lo=-3.0, hi=3.0, ranges=None):
    ranges = ranges or [(lo, hi)] * len(shapes)
    specs = [tf.TensorSpec(s, tf.float32) for s in shapes]
    conc = tf.function(fn).get_concrete_function(*specs)

    def rep():
        for _ in range(64):
            yield [rng.uniform(a, b, s).astype(np.float32) for s, (a, b) in zip(shapes, ranges)]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([conc], tf.function(fn))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def emit(name, model, shapes, extra=None):
    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    ins = it.get_input_details()
    outs = it.get_output_details()
    print(f"case {name}")
    print("ops " + " ".join(o["op_name"] for o in it._get_ops_details()))
    for k, v in (extra or {}).items():
        print(f"param {k} {v!r}")
    for i, d in enumerate(ins):
        s, z = d["quantization"]
        print(f"param in{i}_scale {float(np.float32(s))!r}")
        print(f"param in{i}_zp {z}")
        x = rng.integers(-128, 128, d["shape"], dtype=np.int8)
        it.set_tensor(d["index"], x)
        print(f"shape in{i} " + " ".join(str(v) for v in d["shape"]))
        print(f"data in{i} " + " ".join(str(v) for v in x.flatten()))
    it.invoke()
    for i, d in enumerate(outs):
        s, z = d["quantization"]
        print(f"param out{i}_scale {float(np.float32(s))!r}")
        print(f"param out{i}_zp {z}")
        y = it.get_tensor(d["index"])
        print(f"shape out{i} " + " ".join(str(v) for v in y.shape))
        print(f"data out{i} " + " ".join(str(v) for v in y.flatten()))
    # Weights of conv-like ops: every int8/int32 constant with its scales.
    if extra is not None and extra.get("dump_consts"):
        for t in it.get_tensor_details():
            if t["index"] in [d["index"] for d in ins + outs]:
                continue
            try:
                v = it.get_tensor(t["index"])
            except ValueError:
                continue
            q = t["quantization_parameters"]
            print(f"const {t['name'].replace(' ', '_')} {v.dtype} " + " ".join(str(x) for x in v.shape))
            print("scales " + " ".join(repr(float(np.float32(x))) for x in q["scales"]))
            print("zps " + " ".join(str(x) for x in q["zero_points"]))
            print("values " + " ".join(str(x) for x in v.flatten()))
    print("end")


emit("softmax", convert(lambda x: tf.nn.softmax(x), [(3, 40)], -8, 8), [(3, 40)])
emit("softmax_narrow", convert(lambda x: tf.nn.softmax(x), [(2, 17)], -0.5, 0.5), [(2, 17)])
emit("logistic", convert(lambda x: tf.math.sigmoid(x), [(1, 256)], -6, 6), [(1, 256)])
emit("tanh", convert(lambda x: tf.math.tanh(x), [(1, 256)], -3, 3), [(1, 256)])
emit("mean_hw", convert(lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True), [(1, 7, 7, 24)]), [(1, 7, 7, 24)])
emit("mean_hw_wide", convert(lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True), [(2, 5, 3, 9)], -1, 2), [(2, 5, 3, 9)])
emit("mean_hw_big", convert(lambda x: tf.reduce_mean(x, axis=[1, 2], keepdims=True), [(1, 14, 14, 5)], 0, 6), [(1, 14, 14, 5)])
emit("add", convert(lambda a, b: a + b, [(1, 4, 4, 8), (1, 4, 4, 8)]), [(1, 4, 4, 8)] * 2)
emit("add_scales", convert(lambda a, b: a + b, [(1, 64), (1, 64)], ranges=[(-1, 2), (-6, 9)]), [(1, 64)] * 2)
emit("sub", convert(lambda a, b: a - b, [(1, 64), (1, 64)], ranges=[(-1, 2), (-6, 9)]), [(1, 64)] * 2)
emit("mul_scales", convert(lambda a, b: a * b, [(1, 64), (1, 64)], ranges=[(-1, 2), (-6, 9)]), [(1, 64)] * 2)
emit("mul", convert(lambda a, b: a * b, [(1, 4, 4, 8), (1, 4, 4, 8)]), [(1, 4, 4, 8)] * 2)
emit("avg_pool", convert(lambda x: tf.nn.avg_pool2d(x, 3, 2, "SAME"), [(1, 9, 9, 8)]), [(1, 9, 9, 8)],
     {"k": 3, "s": 2, "pad": "SAME"})
emit("max_pool", convert(lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"), [(1, 8, 8, 8)]), [(1, 8, 8, 8)],
     {"k": 2, "s": 2, "pad": "VALID"})

W1 = rng.normal(0, 0.3, (3, 3, 5, 7)).astype(np.float32)  # HWIO for tf.nn.conv2d
B1 = rng.normal(0, 0.5, (7,)).astype(np.float32)
emit("conv_3x3_s2_same_relu6",
     convert(lambda x: tf.nn.relu6(tf.nn.conv2d(x, W1, 2, "SAME") + B1), [(1, 9, 9, 5)]), [(1, 9, 9, 5)],
     {"k": 3, "s": 2, "d": 1, "pad": "SAME", "act": "relu6", "dump_consts": 1})
W2 = rng.normal(0, 0.3, (1, 1, 6, 11)).astype(np.float32)
emit("conv_1x1_none",
     convert(lambda x: tf.nn.conv2d(x, W2, 1, "VALID"), [(1, 5, 4, 6)]), [(1, 5, 4, 6)],
     {"k": 1, "s": 1, "d": 1, "pad": "VALID", "act": "none", "dump_consts": 1})
W5 = rng.normal(0, 0.3, (3, 3, 4, 6)).astype(np.float32)
emit("conv_3x3_dil2_valid_relu",
     convert(lambda x: tf.nn.relu(tf.nn.conv2d(x, W5, 1, "VALID", dilations=2)), [(1, 9, 8, 4)]), [(1, 9, 8, 4)],
     {"k": 3, "s": 1, "d": 2, "pad": "VALID", "act": "relu", "dump_consts": 1})
W3 = rng.normal(0, 0.3, (3, 3, 8, 1)).astype(np.float32)
B3 = rng.normal(0, 0.5, (8,)).astype(np.float32)
emit("dw_3x3_s1_same_relu6",
     convert(lambda x: tf.nn.relu6(tf.nn.depthwise_conv2d(x, W3, [1, 1, 1, 1], "SAME") + B3), [(1, 7, 7, 8)]),
     [(1, 7, 7, 8)], {"k": 3, "s": 1, "d": 1, "pad": "SAME", "act": "relu6", "dump_consts": 1})
W4 = rng.normal(0, 0.3, (3, 3, 3, 2)).astype(np.float32)
emit("dw_3x3_s2_valid_mult2",
     convert(lambda x: tf.nn.depthwise_conv2d(x, W4, [1, 2, 2, 1], "VALID"), [(1, 9, 9, 3)]),
     [(1, 9, 9, 3)], {"k": 3, "s": 2, "d": 1, "pad": "VALID", "act": "none", "dump_consts": 1})
WF = rng.normal(0, 0.2, (30, 10)).astype(np.float32)
BF = rng.normal(0, 0.5, (10,)).astype(np.float32)
emit("fc_relu", convert(lambda x: tf.nn.relu(tf.matmul(x, WF) + BF), [(2, 30)]), [(2, 30)],
     {"act": "relu", "dump_consts": 1})
WG = rng.normal(0, 0.3, (3, 3, 3, 8)).astype(np.float32)  # HWIO, I = in_c / 2: two groups
BG = rng.normal(0, 0.5, (8,)).astype(np.float32)
emit("conv_grouped2_3x3_same_relu",
     convert(lambda x: tf.nn.relu(tf.nn.conv2d(x, WG, 1, "SAME") + BG), [(1, 7, 6, 6)]), [(1, 7, 6, 6)],
     {"k": 3, "s": 1, "d": 1, "pad": "SAME", "act": "relu", "groups": 2, "dump_consts": 1})
WG4 = rng.normal(0, 0.3, (2, 2, 5, 20)).astype(np.float32)  # four groups of 5 -> 5 channels
emit("conv_grouped4_2x2_s2_valid",
     convert(lambda x: tf.nn.conv2d(x, WG4, 2, "VALID"), [(2, 9, 8, 20)]), [(2, 9, 8, 20)],
     {"k": 2, "s": 2, "d": 1, "pad": "VALID", "act": "none", "groups": 4, "dump_consts": 1})


def with_filter_zero_point(model, zp):
    """The converted FULLY_CONNECTED model re-quantized per tensor with weight zero point `zp`
    (the converter only makes symmetric int8 weights; LiteRT's kernel takes any zero point)."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    sg = m.subgraphs[0]
    fc = sg.operators[0]
    w, b = sg.tensors[fc.inputs[1]], sg.tensors[fc.inputs[2]]
    wbuf, bbuf = m.buffers[w.buffer], m.buffers[b.buffer]
    n = w.shape[0]
    scales = np.array(w.quantization.scale, dtype=np.float32)
    real = np.frombuffer(bytes(wbuf.data), np.int8).astype(np.float32).reshape(n, -1) * scales[:, None]
    s1 = np.float32(scales.max() * 1.2)
    wbuf.data = np.clip(np.round(real / s1) + zp, -128, 127).astype(np.int8).flatten().view(np.uint8)
    w.quantization.scale = np.array([s1], np.float32)
    w.quantization.zeroPoint = np.array([zp], np.int64)
    w.quantization.quantizedDimension = 0
    bias = np.frombuffer(bytes(bbuf.data), np.int32) * np.array(b.quantization.scale, np.float64)
    bs = np.float32(sg.tensors[fc.inputs[0]].quantization.scale[0] * s1)
    bbuf.data = np.round(bias / bs).astype(np.int32).view(np.uint8)
    b.quantization.scale = np.array([bs], np.float32)
    b.quantization.zeroPoint = np.array([0], np.int64)
    fb = flatbuffers.Builder(0)
    fb.Finish(m.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


WZ = rng.normal(0, 0.2, (30, 10)).astype(np.float32)
BZ = rng.normal(0, 0.5, (10,)).astype(np.float32)
emit("fc_filter_zp_relu",
     with_filter_zero_point(convert(lambda x: tf.nn.relu(tf.matmul(x, WZ) + BZ), [(3, 30)]), 9), [(3, 30)],
     {"act": "relu", "dump_consts": 1})
