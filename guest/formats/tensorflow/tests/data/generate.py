"""Generates the small SavedModels and GraphDefs the cerebro-tensorflow tests read.

Run by hand (never by CI) from this directory: `python3 generate.py`. Pinned: tensorflow-cpu
2.21.0, tf_keras. For every model it writes what TensorFlow itself says:
- vars.txt: every checkpoint tensor (key, dtype, shape, raw little-endian bytes in hex), read with
  tf.train.load_checkpoint;
- frozen_<signature>.pb + .io.txt: TensorFlow's own inlined and frozen graph of each signature
  (convert_variables_to_constants_v2) with its input and output tensor names, which the tests
  compare structurally with the graph cerebro-tensorflow extracts from the SavedModel.
"""
import os, shutil
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
import keras
import tf_keras
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

assert tf.__version__ == "2.21.0", tf.__version__
HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def fill(weights, name_of):
    for w in weights:
        value = rng.standard_normal(w.shape).astype(np.float32) * 0.3
        if "variance" in name_of(w):
            value = np.abs(value) + 0.5
        w.assign(value)


def describe(out_dir):
    ckpt = tf.train.load_checkpoint(os.path.join(out_dir, "variables", "variables"))
    lines = []
    for key, dtype in sorted(ckpt.get_variable_to_dtype_map().items()):
        if dtype == tf.string:
            continue
        value = np.asarray(ckpt.get_tensor(key))
        shape = ",".join(str(d) for d in value.shape)
        raw = np.ascontiguousarray(value.astype(value.dtype.newbyteorder("<"))).tobytes()
        lines.append(f"{key}\t{dtype.name}\t{shape}\t{raw.hex()}")
    with open(os.path.join(out_dir, "vars.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if os.path.exists(os.path.join(out_dir, "frozen_serving_default.pb")):
        return  # frozen by its maker
    loaded = tf.saved_model.load(out_dir)
    for sig, fn in loaded.signatures.items():
        frozen = convert_variables_to_constants_v2(fn)
        gd = frozen.graph.as_graph_def()
        with open(os.path.join(out_dir, f"frozen_{sig}.pb"), "wb") as f:
            f.write(gd.SerializeToString())
        with open(os.path.join(out_dir, f"frozen_{sig}.io.txt"), "w") as f:
            f.write(" ".join(t.name for t in frozen.inputs if t.dtype != tf.resource) + "\n")
            f.write(" ".join(t.name for t in frozen.outputs) + "\n")


def keras3_cnn(out):
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="valid")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5, activation="softmax")(x)
    m = keras.Model(inp, x)
    fill(m.weights, lambda w: w.path)
    m.export(out)


class Module(tf.Module):
    def __init__(self):
        self.w = tf.Variable(rng.standard_normal((3, 4)).astype(np.float32), name="w")
        self.b = tf.Variable(rng.standard_normal((4,)).astype(np.float32), name="b")
        self.scale = tf.Variable(np.float16(2.5), name="scale")
        self.count = tf.Variable(np.int64(7), name="count")

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def forward(self, x):
        return {"y": tf.nn.relu(tf.matmul(x, self.w) + self.b)}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                  tf.TensorSpec([None, 3], tf.float32, name="z")])
    def other(self, x, z):
        return {"sum": tf.reduce_sum(x * z, axis=1) * tf.cast(self.scale, tf.float32),
                "diff": tf.tanh(x - z)}


def module(out):
    m = Module()
    tf.saved_model.save(m, out, signatures={"serving_default": m.forward, "other": m.other})
    return m


def tf_keras_bn(out):
    i = tf_keras.Input((6, 6, 2))
    y = tf_keras.layers.Conv2D(3, 3, use_bias=False)(i)
    y = tf_keras.layers.BatchNormalization()(y)
    y = tf_keras.layers.ReLU(6.0)(y)
    y = tf_keras.layers.GlobalAveragePooling2D()(y)
    y = tf_keras.layers.Dense(2)(y)
    m = tf_keras.Model(i, y)
    fill(m.weights, lambda w: w.name)
    m.save(out, save_format="tf")


def tf1_graph(out):
    """A TF1-style SavedModel: a ref variable (VariableV2) and a resource variable, restored by
    the `save/restore_all` NoOp; its frozen graph is made by the TF1 freezer."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="features")
        w = tf.compat.v1.Variable(rng.standard_normal((4, 3)).astype(np.float32), name="w",
                                  use_resource=False)
        b = tf.compat.v1.Variable(rng.standard_normal((3,)).astype(np.float32), name="b",
                                  use_resource=True)
        probs = tf.nn.sigmoid(tf.matmul(x, w) + b, name="probs")
        sess.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(out)
        sig = tf.compat.v1.saved_model.predict_signature_def({"features": x}, {"probs": probs})
        builder.add_meta_graph_and_variables(sess, ["serve"],
                                             signature_def_map={"serving_default": sig})
        builder.save()
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
            sess, g.as_graph_def(), ["probs"])
    with open(os.path.join(out, "frozen_serving_default.pb"), "wb") as f:
        f.write(frozen.SerializeToString())
    with open(os.path.join(out, "frozen_serving_default.io.txt"), "w") as f:
        f.write("features:0\nprobs:0\n")


class Ops(tf.Module):
    """Covers the lowered op set through two signatures."""

    def __init__(self):
        self.k = tf.Variable(rng.standard_normal((3, 3, 3, 8)).astype(np.float32) * 0.3)
        self.dw = tf.Variable(rng.standard_normal((3, 3, 8, 2)).astype(np.float32) * 0.3)
        self.m = tf.Variable(rng.standard_normal((16, 5)).astype(np.float32) * 0.3)

    @tf.function(input_signature=[tf.TensorSpec([None, 12, 12, 3], tf.float32, name="image")])
    def vision(self, image):
        x = tf.nn.conv2d(image, self.k, strides=2, padding="SAME")
        # ZeroPadding2D + VALID convolution, as Keras builds stride-2 blocks.
        x2 = tf.nn.conv2d(tf.pad(image, [[0, 0], [0, 1], [0, 1], [0, 0]]), self.k * 0.5,
                          strides=2, padding="VALID")
        x = tf.nn.elu(x + x2)
        # The raw op keeps the dilation (tf.nn.depthwise_conv2d rewrites it with SpaceToBatchND).
        x = tf.raw_ops.DepthwiseConv2dNative(input=x, filter=self.dw, strides=[1, 1, 1, 1],
                                             padding="SAME", dilations=[1, 2, 2, 1])
        x = tf.nn.relu6(x)
        a = tf.nn.avg_pool2d(x, 3, 2, "SAME")
        b = tf.nn.max_pool2d(x, 2, 2, "VALID")
        c = tf.concat([a, b], axis=-1)
        c = tf.pad(c, [[0, 0], [1, 1], [0, 2], [0, 0]])
        c = tf.pad(c, [[0, 0], [1, 1], [2, 1], [0, 0]], mode="REFLECT")
        c = tf.transpose(c, [0, 2, 1, 3])
        pooled = tf.reduce_mean(c, axis=[1, 2])
        logits = tf.matmul(pooled[:, :16], self.m)
        s = tf.shape(c)
        flat = tf.reshape(c, tf.stack([s[0], -1]))
        return {"probs": tf.nn.softmax(logits),
                "stats": tf.stack([tf.reduce_max(flat, axis=1), tf.reduce_min(flat, axis=1),
                                   tf.reduce_sum(flat, axis=1)], axis=1),
                "slice": c[:, 1:-1:2, ::-1, 3]}

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="a"),
                                  tf.TensorSpec([None, 6], tf.float32, name="b")])
    def misc(self, a, b):
        pos = tf.abs(a) + 0.5
        r = tf.math.rsqrt(pos) + tf.sqrt(pos) + tf.square(b) - tf.math.log(pos)
        r = r + tf.exp(-tf.abs(b)) + tf.sigmoid(a) * tf.tanh(b) - tf.negative(a) / pos
        r = tf.maximum(r, b) + tf.minimum(a, b)
        m = tf.where(tf.greater(a, b), a, b) + tf.where(tf.less(a, 0.0), 1.0, 0.0)
        m = m + tf.cast(tf.equal(tf.cast(a > 0, tf.int32), 1), tf.float32)
        e = tf.expand_dims(a, 1) * tf.expand_dims(b, 2)
        bm = tf.linalg.matmul(e, e, transpose_b=True)
        f = tf.fill(tf.shape(a), 2.0) * tf.squeeze(tf.slice(e, [0, 0, 0], [-1, 1, -1]), axis=1)
        return {"r": r, "m": m, "bm": tf.reduce_sum(bm, axis=-1), "f": f,
                "sel": tf.raw_ops.Select(condition=a[:, 0] > 0, x=a, y=b)}


def ops(out):
    m = Ops()
    tf.saved_model.save(m, out, signatures={"serving_default": m.vision, "misc": m.misc})


def sharded(out):
    """A tf.Module saved with MaxShardSizePolicy: several data shards, and tensors larger than a
    shard split into slices (index keys `\\0name\\0\\1...`)."""
    m = Module()
    m.big = tf.Variable(rng.standard_normal((7, 5, 3)).astype(np.float32), name="big")
    policy = tf.train.experimental.MaxShardSizePolicy(max_shard_size=160)
    tf.saved_model.save(m, out, signatures={"serving_default": m.forward, "other": m.other},
                        options=tf.saved_model.SaveOptions(experimental_sharding_callback=policy))


def xla(out):
    """jax2tf with native serialization: the compute is an XlaCallModule node carrying a
    StableHLO module (MLIR bytecode); its weight comes from a tf.Variable."""
    import jax.numpy as jnp
    from jax.experimental import jax2tf

    def f(x, w):
        return jnp.tanh(x @ w) * 2.0 + jnp.max(x, axis=1, keepdims=True)

    m = tf.Module()
    m.w = tf.Variable(rng.standard_normal((4, 3)).astype(np.float32))
    call = jax2tf.convert(f, with_gradient=False)
    m.f = tf.function(lambda x: {"y": call(x, m.w)}, autograph=False,
                      input_signature=[tf.TensorSpec([2, 4], tf.float32, name="x")])
    tf.saved_model.save(m, out, signatures={"serving_default": m.f})


def goldens(out_dir):
    """Inputs (batch 2 for unknown dims) and TensorFlow's outputs of every signature, in sorted
    signature-key order."""
    loaded = tf.saved_model.load(out_dir)
    for sig, fn in loaded.signatures.items():
        specs = fn.structured_input_signature[1]
        inputs = {}
        for k in sorted(specs):
            shape = [2 if d is None else d for d in specs[k].shape]
            inputs[k] = rng.standard_normal(shape).astype(specs[k].dtype.as_numpy_dtype)
        outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        for i, k in enumerate(sorted(inputs)):
            np.save(os.path.join(out_dir, f"golden_{sig}_in{i}.npy"), inputs[k])
        for i, k in enumerate(sorted(outputs)):
            np.save(os.path.join(out_dir, f"golden_{sig}_out{i}.npy"), outputs[k].numpy())


for name, make in [("k3cnn", keras3_cnn), ("module", module), ("tfkeras", tf_keras_bn),
                   ("tf1", tf1_graph), ("ops", ops), ("sharded", sharded), ("xla", xla)]:
    out = os.path.join(HERE, name)
    shutil.rmtree(out, ignore_errors=True)
    make(out)
    for extra in ("fingerprint.pb", "keras_metadata.pb", "assets"):
        p = os.path.join(out, extra)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    describe(out)
    goldens(out)
print("ok")
