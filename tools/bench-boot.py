#!/usr/bin/env python3
"""Boot-time benchmark of the Cerebro enclave.

Runs `cerebro-vmm boot` RUNS times, each in a fresh process, and reports the median and p90 of
  - spawn -> guest ready: from just before this script spawns the process (so exec, dynamic
    loading and runtime start-up are included) to the guest's ready write (wall clock, printed by
    `cerebro-vmm boot --print-ready-unix-ns`),
  - main() -> guest ready (measured inside cerebro-vmm),
  - spawn -> exit of the whole process (measured here: also the guest's shutdown and teardown),
  - the VMM's resident memory beyond guest RAM (from /proc/self/smaps at ready), and the anonymous
    part of it (what is not the binary and shared libraries).
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
    spawn_ready, ready, wall, rss, anon = [], [], [], [], []
    for _ in range(runs):
        spawned_ns = time.time_ns()
        start = time.perf_counter()
        out = subprocess.run([binary, "boot", "--print-ready-unix-ns", *extra], capture_output=True, text=True)
        wall.append((time.perf_counter() - start) * 1000)
        if out.returncode != 0:
            sys.exit(f"cerebro-vmm boot failed ({out.returncode}): {out.stderr.strip()}")
        m = re.search(r"guest ready ([0-9.]+) ms after process start", out.stdout)
        r = re.search(r"beyond guest RAM: [0-9.]+ MiB \(([0-9]+) KiB; anonymous ([0-9]+) KiB", out.stdout)
        u = re.search(r"ready_unix_ns=([0-9]+)", out.stdout)
        if not m or not r or not u:
            sys.exit(f"unexpected output:\n{out.stdout}")
        spawn_ready.append((int(u.group(1)) - spawned_ns) / 1e6)
        ready.append(float(m.group(1)))
        rss.append(int(r.group(1)))
        anon.append(int(r.group(2)))
    load = os.getloadavg()
    print(f"runs: {runs}; load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    print(f"spawn -> guest ready: median {statistics.median(spawn_ready):.2f} ms, p90 {percentile(spawn_ready, 90):.2f} ms, "
          f"min {min(spawn_ready):.2f} ms, max {max(spawn_ready):.2f} ms")
    print(f"main() -> guest ready: median {statistics.median(ready):.2f} ms, p90 {percentile(ready, 90):.2f} ms, "
          f"min {min(ready):.2f} ms, max {max(ready):.2f} ms")
    print(f"spawn -> exit (whole process): median {statistics.median(wall):.2f} ms, p90 {percentile(wall, 90):.2f} ms")
    print(f"VMM resident memory beyond guest RAM: median {statistics.median(rss) / 1024:.2f} MiB, "
          f"max {max(rss) / 1024:.2f} MiB; of it anonymous (not binary/libraries): median "
          f"{statistics.median(anon) / 1024:.2f} MiB, max {max(anon) / 1024:.2f} MiB")


if __name__ == "__main__":
    main()
