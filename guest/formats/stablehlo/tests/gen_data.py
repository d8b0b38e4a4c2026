# Regenerates the small JAX/Flax test inputs of cerebro-stablehlo (run by hand; jax 0.10.2, flax 0.12.8).
import re, sys, json, numpy as np, jax, jax.numpy as jnp
from jax import export
import flax.linen as nn
from flax import serialization
out = sys.argv[1]
def save(name, f, *args):
    exp = export.export(jax.jit(f))(*jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args))
    text = re.sub(r'loc\("[^"]*\.py":', 'loc("gen.py":', exp.mlir_module())
    open(f"{out}/{name}.mlir", "w").write(text)
    open(f"{out}/{name}.jax_exported", "wb").write(exp.serialize())
    open(f"{out}/{name}.mlirbc", "wb").write(exp.mlir_module_serialized)
    flat = jax.tree_util.tree_leaves(args)
    res = jax.jit(f)(*args)
    meta = {"in_tree": str(exp.in_tree), "kept": list(exp.module_kept_var_idx),
            "nr_devices": exp.nr_devices, "platforms": list(exp.platforms),
            "calling_convention_version": exp.calling_convention_version,
            "in_avals": [str(a) for a in exp.in_avals], "out_avals": [str(a) for a in exp.out_avals]}
    open(f"{out}/{name}.json", "w").write(json.dumps(meta, indent=1))
k = jax.random.PRNGKey(0)
x = jnp.ones((2, 8), jnp.float32)
w1 = jax.random.normal(k, (8, 16)); w2 = jax.random.normal(k, (16, 4))
save('mlp', lambda x, w1, w2: jax.nn.softmax(jax.nn.relu(x @ w1) @ w2), x, w1, w2)
class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(8, (3, 3))(x); x = nn.relu(x); x = nn.avg_pool(x, (2, 2), (2, 2))
        x = nn.Conv(16, (3, 3), feature_group_count=2)(x); x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape((x.shape[0], -1)); x = nn.Dense(10)(x); return nn.gelu(x, approximate=False)
m = CNN(); xi = jnp.ones((1, 8, 8, 3)); v = m.init(k, xi)
save('cnn', lambda v, x: m.apply(v, x), v, xi)
open(f"{out}/cnn.msgpack", "wb").write(serialization.to_bytes(v))
def misc(x, idx):
    a = jnp.sort(x, axis=-1); b = x[idx]; c = jnp.cumsum(x, axis=0)
    d = jax.lax.fori_loop(0, 3, lambda i, s: s * 2.0 + i, x)
    e = jnp.where(x > 0, x, -x); f = jnp.clip(x, -1, 1); g = jnp.pad(x, ((1, 1), (0, 2)))
    h = jax.lax.cond(x.sum() > 0, lambda: x + 1, lambda: x - 1)
    i = x.at[idx].set(0.0); j = jnp.argmax(x, axis=1); kk = jnp.concatenate([x, x], 0)[1:5:2]
    l = jax.lax.dynamic_slice(x, (idx[0], 0), (1, 3)); mm = x.astype(jnp.bfloat16).astype(jnp.float16)
    return a, b, c, d, e, f, g, h, i, j, kk, l, mm, jnp.tanh(x) ** 2, jax.lax.erf(x), jnp.einsum('ij,kj->ik', x, x), jnp.iota(jnp.int32, 5) if hasattr(jnp, 'iota') else jnp.arange(5), x.T, x.reshape(3, 4)
save('misc', misc, jnp.ones((4, 3)), jnp.array([1, 2], jnp.int32))
# A params tree with lists, scalars and several dtypes for the msgpack reader.
tree = {"params": {"b": np.arange(3, dtype=np.float32), "a": [np.ones((2, 2), np.float16), np.int32(7)]},
        "stats": {"mean": np.zeros((4,), np.float64), "n": np.array([1, 2], np.int64), "flag": np.array([True, False])}}
open(f"{out}/tree.msgpack", "wb").write(serialization.to_bytes(tree))
leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
open(f"{out}/tree.json", "w").write(json.dumps([[jax.tree_util.keystr(p), str(np.asarray(l).dtype), list(np.asarray(l).shape), np.asarray(l).astype(np.float64).ravel().tolist()] for p, l in leaves], indent=1))
