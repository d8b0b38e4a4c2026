#!/usr/bin/env python3
"""Boot-time benchmark of the Cerebro enclave.

Runs `cerebro-vmm boot` RUNS times, each in a fresh process, and reports the median and p90 of
  - process start -> guest ready (measured by cerebro-vmm from main() to the guest's ready write),
  - spawn -> exit of the whole process (measured here: exec, VM set-up, boot, guest shutdown),
  - the VMM's resident memory beyond guest RAM (from /proc/self/smaps at ready).
Usage: tools/bench-boot.py [RUNS] [-- extra cerebro-vmm boot args]   (build first:
cargo build --release -p cerebro-cli; the binary is looked up in $CARGO_TARGET_DIR or target/).
"""
import math
import os
import re
import statistics
import subprocess
import sys
import time


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def main():
    args = sys.argv[1:]
    extra = []
    if "--" in args:
        extra = args[args.index("--") + 1:]
        args = args[:args.index("--")]
    runs = int(args[0]) if args else 30
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    binary = os.path.join(target, "release", "cerebro-vmm")
    ready, wall, rss = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([binary, "boot", *extra], capture_output=True, text=True)
        wall.append((time.perf_counter() - start) * 1000)
        if out.returncode != 0:
            sys.exit(f"cerebro-vmm boot failed ({out.returncode}): {out.stderr.strip()}")
        m = re.search(r"guest ready ([0-9.]+) ms after process start", out.stdout)
        r = re.search(r"beyond guest RAM: [0-9.]+ MiB \(([0-9]+) KiB\)", out.stdout)
        if not m or not r:
            sys.exit(f"unexpected output:\n{out.stdout}")
        ready.append(float(m.group(1)))
        rss.append(int(r.group(1)))
    load = os.getloadavg()
    print(f"runs: {runs}; load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    print(f"process start -> guest ready: median {statistics.median(ready):.2f} ms, p90 {percentile(ready, 90):.2f} ms, "
          f"min {min(ready):.2f} ms, max {max(ready):.2f} ms")
    print(f"spawn -> exit (whole process): median {statistics.median(wall):.2f} ms, p90 {percentile(wall, 90):.2f} ms")
    print(f"VMM resident memory beyond guest RAM: median {statistics.median(rss) / 1024:.2f} MiB, "
          f"max {max(rss) / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
