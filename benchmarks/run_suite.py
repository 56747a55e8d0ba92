"""Run every ``benchmarks/bench_*.py`` several times and render the README's and docs' tables.

Each run of the suite runs every benchmark once, in its own process, writing
``<results>/run-K/bench_NAME.json`` (the benchmarks in ``ONCE``, which count outcomes of
seeded draws rather than time anything, run in run-1 only); then ``render_readme.py``
rewrites the benchmark blocks of the README and the docs pages from all the runs
(median and range).  Earlier ``run-*`` folders in ``<results>`` are removed first, so
the README reflects one session of measurements; with ``--only NAME`` just that
benchmark is rerun (after a change to what it measures) and the others' results are kept.

    python benchmarks/run_suite.py --runs 3          # what `nox -s bench` runs
    python benchmarks/run_suite.py --smoke --results /tmp/smoke --readme-output /tmp/R.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


#: benchmarks whose results are counts from seeded draws, not timings: the same in every run,
#: and long (bench_population.py: 3584 s and 3927 s wall for float64 and float32, run side
#: by side on 2 cores, 2026-12-07), so only run-1 runs them
ONCE = ("bench_population.py",)


def benchmarks() -> list[str]:
    return sorted(f for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="runs of the whole suite (default 3)")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--smoke", action="store_true", help="every benchmark with --smoke")
    p.add_argument("--repeats", type=int, help="passed to every benchmark")
    p.add_argument("--only", action="append",
                   help="rerun only bench_NAME.py (repeatable): its results in every run-K/ "
                        "are replaced, the other benchmarks' results are kept")
    p.add_argument("--dask-full", action="store_true",
                   help="bench_dask.py over 1,000,000 rows (12 GB, lazily) instead of 200,000")
    p.add_argument("--no-render", action="store_true",
                   help="do not touch the README and docs pages")
    p.add_argument("--readme-output", help="write the rendered README here (and the docs "
                                           "pages under README_OUTPUT-docs/), not in place")
    args = p.parse_args(argv)
    scripts = benchmarks() if not args.only else [f"bench_{n}.py" for n in args.only]
    if os.path.isdir(args.results) and not args.only:
        for name in os.listdir(args.results):
            if name.startswith("run-"):
                shutil.rmtree(os.path.join(args.results, name))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    failed = []
    for k in range(1, args.runs + 1):
        folder = os.path.join(args.results, f"run-{k}")
        os.makedirs(folder, exist_ok=True)
        for script in scripts:
            if k > 1 and script in ONCE:
                continue
            cmd = [sys.executable, os.path.join(HERE, script), "--out",
                   os.path.join(folder, script.removesuffix(".py") + ".json")]
            cmd += ["--smoke"] if args.smoke else []
            cmd += ["--repeats", str(args.repeats)] if args.repeats else []
            cmd += ["--full"] if args.dask_full and script == "bench_dask.py" else []
            start = time.perf_counter()
            print(f"[run {k}/{args.runs}] {' '.join(cmd[1:])}", flush=True)
            if subprocess.run(cmd, env=env, check=False).returncode != 0:
                failed.append(f"run-{k}/{script}")
            print(f"[run {k}/{args.runs}] {script}: {time.perf_counter() - start:.0f} s",
                  flush=True)
    if failed:
        print(f"run_suite: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    if args.no_render:
        return 0
    sys.path.insert(0, HERE)
    import render_readme

    render = ["--results", args.results]
    render += ["--output", args.readme_output] if args.readme_output else []
    return render_readme.main(render)


if __name__ == "__main__":
    sys.exit(main())
