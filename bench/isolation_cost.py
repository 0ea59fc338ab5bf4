#!/usr/bin/env python3
"""What plugin isolation costs a job, end to end, at full load.

Issue 11 budgets it: an isolated no-op job may cost at most 5 us more CPU
than an in-process one, amortized at full load. This runs engine_bench (the
embedded engine, durable, with history, the no-op plugin reporting progress
once) in pairs, in process then isolated, each in a fresh data folder, and
prints each pair's CPU per job (dtq and the plugin runner together) and the
difference, then the median and mean of the differences. One pair moves by
tens of microseconds on a shared 2-core machine, so only many pairs say
anything; like every benchmark here it asserts nothing.

  isolation_cost.py BUILD_DIR [--pairs N] [--jobs J] [--concurrency C]
"""
import argparse
import re
import statistics
import subprocess
import sys

CPU = re.compile(r"CPU per job\s+([0-9.]+) us \(this process ([0-9.]+), plugin runner ([0-9.]+)\)")
RATE = re.compile(r"submit -> complete\s+([0-9]+) jobs/s")


def run(build, isolated, jobs, concurrency):
    out = subprocess.run(
        [f"{build}/bin/engine_bench", "--jobs", str(jobs), "--concurrency", str(concurrency),
         "--isolated", "1" if isolated else "0"],
        check=True, capture_output=True, text=True).stdout
    cpu, rate = CPU.search(out), RATE.search(out)
    if not cpu or not rate:
        sys.exit(f"isolation_cost: engine_bench printed no figures:\n{out}")
    return float(cpu.group(1)), float(cpu.group(3)), int(rate.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build")
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--jobs", type=int, default=30000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(f"isolation cost: {args.pairs} pairs of engine_bench, {args.jobs} jobs each, "
          f"concurrency {args.concurrency}; CPU per job, dtq and runner together")
    print(f"{'pair':>4}  {'in process':>16}  {'isolated':>26}  {'difference':>10}")
    differences = []
    for pair in range(1, args.pairs + 1):
        inside, _, inside_rate = run(args.build, False, args.jobs, args.concurrency)
        isolated, runner, isolated_rate = run(args.build, True, args.jobs, args.concurrency)
        differences.append(isolated - inside)
        print(f"{pair:>4}  {inside:7.1f} us {inside_rate:>6}/s  "
              f"{isolated:7.1f} us (runner {runner:4.1f}) {isolated_rate:>6}/s  "
              f"{isolated - inside:+8.1f} us")
    print(f"isolated minus in process: median {statistics.median(differences):+.1f} us, "
          f"mean {statistics.mean(differences):+.1f} us, "
          f"range {min(differences):+.1f} to {max(differences):+.1f} us per job")


if __name__ == "__main__":
    main()
