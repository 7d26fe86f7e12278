"""`proactive-care bench NAME|all [--out FILE] [--only PART]`: run benchmarks, print figures, last stdout line
JSON. `--only` runs one part of a benchmark that has parts (`scale`: replicas, runner, memory)."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from services.platform.progress import Progress
from services.platform.settings import Settings

BENCHMARKS = {"runner": "tests.perf.bench_runner", "fraud": "tests.perf.bench_fraud",
              "notify": "tests.perf.bench_notify", "scale": "tests.perf.bench_scale"}


def run_benchmarks(settings: Settings, name: str, out: str | None, only: str | None = None) -> int:
    names = list(BENCHMARKS) if name == "all" else [name]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)} or all")
        return 2
    results: dict[str, dict[str, float]] = {}
    with Progress("bench", total=len(names), unit="benchmarks", every_seconds=0.0) as progress:
        for n in names:
            module = importlib.import_module(BENCHMARKS[n])
            print(f"== bench {n}", flush=True)
            results[n] = module.run(settings, only=only) if only else module.run(settings)
            print(json.dumps(results[n]), flush=True)
            progress.update()
    figures = results[names[0]] if len(names) == 1 else {k: v for r in results.values() for k, v in r.items()}
    if out:
        Path(out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":  # `proactive-care bench` runs this as a process: the product never imports tests
    parser = argparse.ArgumentParser(prog="tests.perf.run")
    parser.add_argument("name")
    parser.add_argument("--out")
    parser.add_argument("--only")
    args = parser.parse_args()
    raise SystemExit(run_benchmarks(Settings.from_env(), args.name, args.out, args.only))
