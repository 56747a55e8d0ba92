"""Gradient checks measured on a population: false alarms, catches, kinks (not a timing).

For every family of ``portable_layers.gradient_check._population`` (the CIFAR-size
TwoLayerPerceptron 3072-100-10 at weight scales 1e-3/1e-2/1e-1; FullyConnectedNets
with batchnorm, layernorm, dropout with a fixed seed; the ThreeLayerConvNet; the
VisionTransformer; the layer case table at random inputs), ``--draws`` (model, data,
seed) triples are drawn and each is checked in the fast, sampled and full modes
(numerical oracle), in float64 and float32:

* the false-alarm rate: checks of CORRECT gradients that fail (goal 0);
* the worst error / tolerance on correct gradients;
* kinks: draws whose check met one, and the forward evaluations the kink handling
  added per check (beyond 1 + 2 per difference);
* catches: a 1% error of the whole gradient (every mode must catch it every time),
  and one entry off by 1e-2 of its gradient's largest entry (full mode every time;
  sampled mode with the chance of comparing it, ``check.entry_chance``, reported beside).

Full mode costs two evaluations per parameter: it runs on ``--full-draws`` draws of
the model families and not on the CIFAR-size net (307,210 parameters).

    python benchmarks/bench_population.py [--fast-draws 200] [--draws 200] [--full-draws 30]
        [--families cifar,...] [--modes fast,sampled,full] [--dtypes float64,float32]
        [--out F] [--smoke]

The draws are seeded, so the counts are the same in every run (``run_suite.py`` runs this
once). Groups run side by side in separate processes are joined into one document with
``--merge A.json B.json --out F`` (no measuring; a later file's family/dtype/mode replaces
an earlier one's, so one mode can be rerun after a change to it alone).
"""

from __future__ import annotations

import json
import time
from typing import Any

from harness import fact, figure, parser, write_json

from portable_layers.gradient_check._population import FAMILIES, outcome

MODES = ("fast", "sampled", "full")


def measure(family: str, dtype: str, mode: str, draws: int, samples: int,
            cifar_n: int) -> dict[str, Any]:
    rows = []
    kwargs = {"n": cifar_n} if family == "cifar" else {}
    for seed in range(draws):
        rows.append(outcome(family, seed, dtype, mode, samples=samples, **kwargs))
    alarms = [r for r in rows if not r["ok"]]
    out = {
        "draws": draws, "false_alarms": len(alarms),
        "worst_over_tol": max(r["worst"] for r in rows),
        "draws_with_kinks": sum(r["kinks"] > 0 for r in rows),
        "kinks": sum(r["kinks"] for r in rows),
        "extra_evaluations_mean": sum(r["extra"] for r in rows) / draws,
        "extra_evaluations_max": max(r["extra"] for r in rows),
        "evaluations_mean": sum(r["calls"] for r in rows) / draws,
        "whole_caught": sum(r["whole"] for r in rows) / draws,
        "entry_caught": sum(r["entry"] for r in rows) / draws,
        "entry_expected": sum(r["entry_share"] for r in rows) / draws,
        "seconds": sum(r["seconds"] for r in rows),
        "alarm_reports": [r["report"] for r in alarms[:3]],
    }
    print(f"  {family:13s} {dtype:8s} {mode:8s} draws {draws:4d}  false alarms "
          f"{len(alarms):3d}  worst/tol {out['worst_over_tol']:8.2e}  kinks in "
          f"{out['draws_with_kinks']:3d} draws (+{out['extra_evaluations_mean']:.2f} "
          f"evaluations/check)  1% whole caught {out['whole_caught']:6.1%}  entry caught "
          f"{out['entry_caught']:6.1%}" + (f" (chance {out['entry_expected']:6.1%})"
                                          if mode == "sampled" else ""), flush=True)
    for report in out["alarm_reports"]:
        print("    " + report.replace("\n", "\n    "))
    return out


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--draws", type=int, default=200,
                   help="draws per family and dtype in the sampled mode")
    p.add_argument("--fast-draws", type=int, default=200,
                   help="draws per family and dtype in the fast mode")
    p.add_argument("--full-draws", type=int, default=30,
                   help="draws per model family in full mode (the case table gets --draws)")
    p.add_argument("--samples", type=int, default=10, help="entries per input, sampled mode")
    p.add_argument("--cifar-n", type=int, default=16, help="images in the CIFAR-size batch")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="join these outputs of earlier runs (other dtypes or families) into "
                        "--out instead of measuring")
    args = p.parse_args()
    if args.merge:
        merge(args)
        return
    draws, fast_draws, full_draws = ((1, 1, 1) if args.smoke  # smoke: every path once
                                     else (args.draws, args.fast_draws, args.full_draws))
    start = time.perf_counter()
    results: dict[str, Any] = {}
    for dtype in args.dtypes.split(","):
        for family in args.families.split(","):
            for mode in args.modes.split(","):
                if mode not in MODES:
                    raise SystemExit(f"bench_population: --modes: unknown mode {mode!r}; "
                                     f"choose from {MODES}")
                if mode == "full" and family == "cifar":
                    continue
                n = {"fast": fast_draws, "sampled": draws, "full": full_draws}[mode]
                n = max(n, draws) if family == "cases" else n  # the cheap family: all of them
                if n == 0:
                    continue
                key = f"{family}/{dtype}/{mode}"
                results[key] = measure(family, dtype, mode, n, args.samples, args.cifar_n)
                write_json(args.out, document(results, args, start))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    write_json(args.out, document(results, args, start))


def merge(args: Any) -> None:
    """One document from several runs' outputs: their results, keyed family/dtype/mode."""
    results: dict[str, Any] = {}
    seconds, machines = 0.0, []
    for path in args.merge:
        with open(path) as f:
            doc = json.load(f)
        if doc.get("benchmark") != "population":
            raise SystemExit(f"bench_population: {path} is not an output of this benchmark")
        for key in ("draws", "full_draws", "samples", "cifar_n"):
            setattr(args, key, doc[key])  # (the document records the last file's settings)
        results.update(doc["results"])
        seconds += doc["seconds"]
        machines.append(doc["machine"])
    # where and when the draws were measured: the first file's machine, the last file's
    # load at its end, and the latest date of any run joined (``date_last``; a run's date
    # is when it wrote its file)
    last = max(m.get("date_last", m["date"]) for m in machines)
    machine = {**machines[0], "load_end": machines[-1]["load_end"], "date_last": last}
    write_json(args.out, {"machine": machine,
                          **document(results, args, time.perf_counter() - seconds)})


def document(results: dict[str, Any], args: Any, start: float) -> dict[str, Any]:
    figures, facts = [], []
    for mode in MODES:
        rows = [r for k, r in results.items() if k.endswith("/" + mode)]
        if not rows:
            continue
        checks = sum(r["draws"] for r in rows)
        alarms = sum(r["false_alarms"] for r in rows)
        figures.append(figure(f"population.false_alarms.{mode}",
                              f"{mode} mode: false alarms / checks of correct gradients "
                              f"({checks} checks, every family and dtype)",
                              "checks of correct gradients", alarms / checks, 0.0))
    for key, r in results.items():
        facts.append(fact(f"population.{key}", key.replace("/", ", "),
                          f"{r['false_alarms']}/{r['draws']} false alarms; worst "
                          f"{r['worst_over_tol']:.1e} of tol; kinks in {r['draws_with_kinks']} "
                          f"draws (+{r['extra_evaluations_mean']:.2f} evaluations/check); "
                          f"1% whole caught {round(r['whole_caught'] * r['draws'])}/"
                          f"{r['draws']}; one entry caught {r['entry_caught']:.1%}"
                          + (f" (chance {r['entry_expected']:.1%})"
                             if key.endswith("sampled") else "")))
    return {"benchmark": "population", "draws": args.draws, "full_draws": args.full_draws,
            "samples": args.samples, "cifar_n": args.cifar_n,
            "seconds": time.perf_counter() - start, "figures": figures, "facts": facts,
            "results": results}


if __name__ == "__main__":
    main()
