"""LiteRT reference timings for the MobileNetV2 fixtures (1 thread), printed as JSON.

Usage: python3 litert_mobilenet.py MODELS_DIR ITERATIONS
Times, per model: XNNPACK (OpResolverType.AUTO), LiteRT's own builtin kernels without the default
delegate (BUILTIN_WITHOUT_DEFAULT_DELEGATES) and, for reference, the BUILTIN_REF kernels (int8 goldens).
Reports the median and best wall time and the median thread CPU time of ITERATIONS invokes after
3 warm-up invokes (1 thread: LiteRT runs the graph on the calling thread).
"""
import json
import os
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def time_model(path, inp, kind, iters):
    it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=kind)
    it.allocate_tensors()
    idx = it.get_input_details()[0]["index"]
    it.set_tensor(idx, inp)
    for _ in range(3):
        it.invoke()
    ts, cpu = [], []
    for _ in range(iters):
        c = time.thread_time()
        t = time.perf_counter()
        it.invoke()
        ts.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    ts.sort()
    cpu.sort()
    return {"median_ms": 1e3 * ts[len(ts) // 2], "best_ms": 1e3 * ts[0], "cpu_ms": 1e3 * cpu[len(cpu) // 2]}


def main():
    models, iters = sys.argv[1], int(sys.argv[2])
    out = {}
    for name in ("mobilenet_v2_f32", "mobilenet_v2_int8"):
        d = os.path.join(models, "tflite", name)
        inp = np.load(os.path.join(d, "run0_input0.npy"))
        path = os.path.join(d, "model.tflite")
        kinds = {
            "xnnpack": OpResolverType.AUTO,
            "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        }
        if os.environ.get("LITERT_REF"):
            kinds["reference"] = OpResolverType.BUILTIN_REF
        out[name] = {k: time_model(path, inp, v, iters if k != "reference" else 3) for k, v in kinds.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
