# jax.jit latency of the same fixtures and inputs as stablehlo_bench.rs (CPU; XLA limited to one
# thread by the caller's XLA_FLAGS, see BENCHMARKS.md). Reports wall time and the process's CPU
# time per call (median; all threads of the process, so XLA's own threads count too).
import sys, time, pathlib, numpy as np, jax
from jax import export
from flax import serialization
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 200
root = pathlib.Path(__file__).resolve().parents[3] / "tests/models/jax_export"
names = ["flax_encoder_block", "jax_cnn", "flax_conv1d", "flax_conv_transpose", "jax_dilated_conv", "flax_pooling"]
for name in names:
    d = root / (name + "_export")
    exp = export.deserialize(bytearray((d / "model.jax_exported").read_bytes()))
    xs = []
    while (d / f"run0_input{len(xs)}.npy").exists():
        xs.append(np.load(d / f"run0_input{len(xs)}.npy"))
    x = xs[0]
    args = tuple(xs)
    if (d / "variables.msgpack").exists():
        variables = serialization.msgpack_restore((d / "variables.msgpack").read_bytes())
        args = (variables, *xs)
    f = jax.jit(exp.call)
    for _ in range(20):
        jax.block_until_ready(f(*args))
    ts, cpu = [], []
    for _ in range(iters):
        c = time.process_time_ns()
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append((time.perf_counter() - t) * 1e6)
        cpu.append((time.process_time_ns() - c) / 1e3)
    ts.sort()
    cpu.sort()
    print(f"jax.jit {name}: median {ts[iters // 2]:.1f} us, min {ts[0]:.1f} us, cpu median {cpu[iters // 2]:.1f} us ({iters} runs, input {list(x.shape)})")
