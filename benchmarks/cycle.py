"""Median monitoring-cycle time per model, and the default run's wall time end to end.

A cycle is one day's monitoring: the five nodes, the record step's store writes, and the LangGraph
checkpoints of those steps (durability="sync"): wall time from the end of load_day to the end of
record's writes, minus the `act` step (the simulated world answering the remediation). It is the
`cycle_ms` every day summary carries (graph/daycycle.py), so this script and the run report agree.
Data generation and ingestion of the day's prediction log (load_day) are excluded and shown apart.

    python benchmarks/cycle.py [--days 30] [--models all]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402

from graph.run import DEFAULTS  # noqa: E402
from graph.runner import RunConfig, execute  # noqa: E402
from simulator.catalog import MODELS  # noqa: E402
from stores import STORES_FILE  # noqa: E402
from stores.db import PAGE_SIZE, create_database  # noqa: E402

TARGETS_MS = {"pneumonia_classifier_v1": 50.0, "fraud_detector_v2": 250.0}
DEFAULT_RUN_TARGET_S = 20.0
MONITORING = ("performance", "performance_estimated", "drift", "quality", "quality_unlabelled", "alert", "remediation", "record")

checkpoint_ms: dict[str, list[float]] = defaultdict(list)


def _time_checkpointer() -> None:
    for method in ("put", "put_writes"):
        original = getattr(SqliteSaver, method)

        def timed(self, *args, _original=original, _method=method, **kwargs):
            start = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                checkpoint_ms[_method].append((time.perf_counter() - start) * 1000)
        setattr(SqliteSaver, method, timed)


def measure_model(model: str, days: int, folder: Path, page_size: int | None = None) -> dict:
    days_seen: list[dict] = []
    checkpoint_ms.clear()
    if page_size is not None:
        folder.mkdir(parents=True, exist_ok=True)
        create_database(folder / STORES_FILE, page_size)
    execute(RunConfig([model], "default", days, 0, DEFAULTS["policy"], folder, "bench"),
            lambda kind, data: days_seen.append(data) if kind == "day" else None)
    cycles = sorted(d["cycle_ms"] for d in days_seen if d["cycle_ms"] is not None)
    timings = [d["timings"] for d in days_seen]
    nodes = {n: statistics.median(t.get(n, 0.0) for t in timings) for n in MONITORING if any(n in t for t in timings)}
    return {
        "cycle_ms": statistics.median(cycles),
        "cycle_p90_ms": cycles[int(0.9 * (len(cycles) - 1))],
        "ingest_ms": statistics.median(t.get("load_day", 0.0) for t in timings),
        "nodes": nodes,
        "checkpoint_put_ms": statistics.median(checkpoint_ms["put"]),
        "checkpoint_writes_ms": statistics.median(checkpoint_ms["put_writes"]),
    }


def compare_page_sizes(models: list[str], days: int, sizes: list[int]) -> None:
    print(f"cycle and ingest (load_day) medians per SQLite page size of mlmon.db; default scenario, {days} days\n")
    print(f"{'model':26s} {'page size':>9s} {'cycle ms':>9s} {'ingest ms':>10s}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            for i, size in enumerate(sizes):
                r = measure_model(model, days, Path(tmp) / f"{model}-{i}-{size}", page_size=size)
                print(f"{model:26s} {size:9d} {r['cycle_ms']:9.1f} {r['ingest_ms']:10.1f}", flush=True)


def default_run_wall_seconds(folder: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "graph.run", "--output-dir", str(folder), "--quiet"], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"default run failed: {result.stderr.strip()}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--models", default="all", help="comma-separated model names, or all")
    parser.add_argument("--page-sizes", help="compare stores files of these SQLite page sizes, e.g. 4096,32768 "
                                             f"(default: only the shipped {PAGE_SIZE}); each model runs once per size, "
                                             "the sizes alternating")
    args = parser.parse_args()
    models = list(MODELS) if args.models == "all" else args.models.split(",")
    _time_checkpointer()
    if args.page_sizes:
        compare_page_sizes(models, args.days, [int(s) for s in args.page_sizes.split(",")])
        return
    with tempfile.TemporaryDirectory() as tmp:
        print(f"cycle = five nodes + record's store writes + their checkpoints (load_day ingestion and act excluded); "
              f"default scenario, {DEFAULTS['policy']} policy, {args.days} days, median over days\n")
        print(f"{'model':26s} {'cycle ms':>9s} {'p90 ms':>8s} {'target':>8s} {'ratio':>6s} {'ingest ms':>10s}   per-node medians (ms)")
        for model in models:
            r = measure_model(model, args.days, Path(tmp) / model)
            target = TARGETS_MS.get(model)
            ratio = f"{r['cycle_ms'] / target:.2f}" if target else "-"
            nodes = " ".join(f"{n}={v:.1f}" for n, v in r["nodes"].items())
            print(f"{model:26s} {r['cycle_ms']:9.1f} {r['cycle_p90_ms']:8.1f} {target or '-':>8} {ratio:>6s} "
                  f"{r['ingest_ms']:10.1f}   {nodes}  checkpoint put={r['checkpoint_put_ms']:.2f} "
                  f"writes={r['checkpoint_writes_ms']:.2f}")
        wall = default_run_wall_seconds(Path(tmp) / "default")
        print(f"\ndefault run end to end (python -m graph.run, fresh process, 30 days, {DEFAULTS['policy']} policy"
              f"{' and its online update' if DEFAULTS['policy'] == 'ppo' else ''}, report and plot): "
              f"{wall:.1f} s (target {DEFAULT_RUN_TARGET_S:.0f} s, ratio {wall / DEFAULT_RUN_TARGET_S:.2f})")


if __name__ == "__main__":
    main()
