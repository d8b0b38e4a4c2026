# Regenerates the control-flow / indexing JAX model used by tests/stablehlo_fixtures.rs
# (run by hand; jax 0.10.2). Outputs: ops.mlir (text), ops.jax_exported, input/output .npy.
import numpy as np, jax, jax.numpy as jnp
from jax import export
jax.config.update("jax_traceback_in_locations_limit", 0)

def f(x, idx):
    a = jnp.argmax(x, axis=1)
    b = jnp.cumsum(x, axis=0)
    c = jax.lax.fori_loop(0, 3, lambda i, s: s * 0.5 + x, x)
    d = jax.lax.cond(x.sum() > 0, lambda: x + 1.0, lambda: x - 1.0)
    e = x[idx]
    g = jnp.clip(x, -0.5, 0.5)
    h = jnp.pad(x, ((1, 1), (0, 2)), constant_values=0.25)
    k = jnp.concatenate([x, -x], 0)[1:7:2]
    l = jax.lax.dynamic_slice(x, (2, 1), (2, 2))
    m = jnp.flip(x, axis=(0, 1))
    n = jnp.isfinite(x / (x - x[0:1]))
    o = jnp.arange(12, dtype=jnp.float32).reshape(4, 3) * x
    p = jax.lax.erf(x)
    return a, b, c, d, e, g, h, k, l, m, n, o, p

x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
idx = np.array([3, 0, 2], np.int32)
exp = export.export(jax.jit(f))(jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(idx.shape, idx.dtype))
open("ops.mlir", "w").write(exp.mlir_module())
open("ops.jax_exported", "wb").write(exp.serialize())
np.save("input0.npy", x)
np.save("input1.npy", idx)
for i, r in enumerate(jax.jit(f)(x, idx)):
    np.save(f"output{i}.npy", np.asarray(r))
