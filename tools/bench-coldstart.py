#!/usr/bin/env python3
"""Cold start of the enclave: process start -> first result, digits MLP.

Spawns `cerebro-vmm --model tests/models/tflite/digits_mlp_f32/model.tflite --input ...run0_input0.npy`
RUNS times per variant and reports median / p90 / min of the wall time of each process (boot, model
transfer, load in the guest, one run, shutdown). Several variants (a binary plus extra arguments each)
run interleaved, run by run, so a comparison sees the same machine load.
Usage: tools/bench-coldstart.py RUNS ["BINARY [ARGS...]" ...]
  (default variant: $CARGO_TARGET_DIR or target/, release/cerebro-vmm, default arguments)
Example: tools/bench-coldstart.py 20 "target/release/cerebro-vmm" "target/release/cerebro-vmm --populate background"
"""
import math
import os
import statistics
import subprocess
import sys
import time


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    variants = [v.split() for v in sys.argv[2:]] or [[os.path.join(target, "release", "cerebro-vmm")]]
    model = os.path.join(root, "tests/models/tflite/digits_mlp_f32")
    times = [[] for _ in variants]
    load_before = os.getloadavg()[0]
    for _ in range(runs):
        for i, variant in enumerate(variants):
            start = time.perf_counter()
            subprocess.run([variant[0], "--model", f"{model}/model.tflite", "--input", f"{model}/run0_input0.npy",
                            *variant[1:]], check=True, capture_output=True)
            times[i].append((time.perf_counter() - start) * 1000)
    print(f"{runs} runs per variant, interleaved; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    for variant, t in zip(variants, times):
        print(f"{' '.join(variant)}: median {statistics.median(t):.1f} ms, p90 {percentile(t, 90):.1f} ms, "
              f"min {min(t):.1f} ms")


if __name__ == "__main__":
    main()
