"""python -m simulator.export: write a model's simulated world to CSV, with no remediation applied.

Each day goes through mlmon's monitoring day (nodes.day.monitor_day), as in a run with the noop policy.

Per model, under <out>/<model>/: predictions.csv (one row per prediction, with the ground truth and
whether it reached the monitor), metrics.csv (one row per day) and drift_scores.csv (one row per day,
the drift node's score and per-feature effect sizes against the reference window).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from rich.progress import Progress

from decision.actions import Action
from nodes.alert import AlertThresholds, alert_summary
from nodes.base import DayInputs
from nodes.day import monitor_day
from nodes.drift import profile_view
from nodes.reference import ReferenceProfile
from nodes.memory import empty_memory, remember_day
from simulator import episode
from simulator.catalog import DEFAULT_MODEL, MODELS, get_model
from simulator.cli import EXIT_BAD_INPUT, OneLineParser
from simulator.scenarios import DEFAULT_SCENARIO, SCENARIOS, get_scenario
from simulator.world import World
from stores.db import day_date, day_start_ts
from stores.predictions import reference_from_log, view_from_log


def parse_args(argv):
    p = OneLineParser(prog="python -m simulator.export", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"one of {', '.join(MODELS)}, or all (default {DEFAULT_MODEL})")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO, help=f"one of {', '.join(SCENARIOS)} (default {DEFAULT_SCENARIO})")
    p.add_argument("--days", type=int, default=30, help="days to simulate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, default=Path("simulated_data"), help="output folder (default simulated_data/)")
    p.add_argument("--log-format", action="store_true",
                   help="also write prediction_log.csv as a serving system logs it (ISO timestamps, a blank label "
                        "where none has arrived yet): an example log for python -m graph.run --log")
    return p.parse_args(argv)


def write_log_day(path: Path, day: int, batch, log, schema, first: bool) -> None:
    """One day of prediction_log.csv: what a serving system logs, labels only where they arrived."""
    import pandas as pd

    frame = pd.DataFrame({"timestamp": pd.to_datetime(day_start_ts(day) + batch.seconds, unit="s", utc=True)
                          .strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "model_version": batch.model_version})
    for j, name in enumerate(schema.numeric):
        frame[name] = log.columns.numeric[:, j]
    for j, name in enumerate(schema.categorical):
        frame[name] = log.columns.categorical[:, j]
    frame["score"] = np.round(batch.score, 6)
    frame["prediction"] = batch.prediction.astype(int)
    frame["label"] = pd.array(np.where(batch.labelled, batch.label, np.nan), dtype="Int64")
    frame["latency_ms"] = np.round(batch.latency_ms, 2)
    frame.sort_values("timestamp", kind="stable").to_csv(path, mode="w" if first else "a", header=first, index=False,
                                                         float_format="%.6g")


def export_model(world: World, days: int, folder: Path, progress: Progress | None = None,
                 log_format: bool = False) -> dict:
    spec, schema = world.spec, world.schema()
    folder.mkdir(parents=True, exist_ok=True)
    baseline = world.monitoring_baseline()
    version = world.initial_state().model.version
    reference_view = reference_from_log(world.to_log(world.reference), schema)
    reference = ReferenceProfile(version, profile_view(reference_view, schema), reference_view)
    memory = empty_memory(version)
    sim = episode.start(world)
    task = progress.add_task(spec.name, total=days) if progress else None
    rows_written = 0
    with open(folder / "predictions.csv", "w", newline="") as pf, open(folder / "metrics.csv", "w", newline="") as mf, \
            open(folder / "drift_scores.csv", "w", newline="") as df:
        pw, mw, dw = csv.writer(pf), csv.writer(mf), csv.writer(df)
        pw.writerow(["day", "timestamp", "row", "model_version", *schema.feature_columns, "score", "prediction",
                     "label", "label_available", "latency_ms"])
        mw.writerow(["day", "date", "n_predictions", "n_labelled", "accuracy", "measured_accuracy", "expected_accuracy",
                     "precision", "recall", "f1", "bias_gap", "latency_p50_ms", "latency_p95_ms"])
        dw.writerow(["day", "date", "drift_score", "severity", "drifted_features",
                     *[f"{c}_effect" for c in schema.feature_columns], "prediction_drift_effect"])
        for day in range(days):
            served = episode.begin_day(world, sim, day)
            batch, log = served.batch, world.to_log(served.batch)
            categorical = log.columns.categorical
            ts = day_start_ts(day) + batch.seconds
            for i in range(len(batch)):
                pw.writerow([day, f"{ts[i]:.3f}", i, batch.model_version,
                             *("" if np.isnan(v) else f"{v:.6g}" for v in batch.numeric[i]), *categorical[i],
                             f"{batch.score[i]:.6f}", int(batch.prediction[i]), int(batch.label[i]),
                             int(batch.labelled[i]), f"{batch.latency_ms[i]:.2f}"])
            rows_written += len(batch)
            if log_format:
                write_log_day(folder / "prediction_log.csv", day, batch, log, schema, first=day == 0)
            view = view_from_log(day, log, schema)
            findings = monitor_day(DayInputs(day, view, reference, baseline, memory, schema, AlertThresholds(),
                                             run_id="export", model=spec.name))
            perf, quality, drift = findings["performance"], findings["quality"], findings["drift"]
            mw.writerow([day, day_date(day), len(batch), view.n_labelled, f"{batch.true_accuracy:.5f}",
                         _fmt(perf["accuracy"]), _fmt(perf["expected_accuracy"]), _fmt(quality.get("precision")),
                         _fmt(quality.get("recall")), _fmt(quality.get("f1")), _fmt(quality.get("bias_gap")),
                         _fmt(perf["latency_p50_ms"]), _fmt(perf["latency_p95_ms"])])
            dw.writerow([day, day_date(day), drift["drift_score"], drift["severity"], ";".join(drift["drifted_features"]),
                         *[drift["columns"][c]["effect"] for c in schema.feature_columns], drift["prediction_drift"]["effect"]])
            memory = remember_day(memory, day=day, performance=perf, drift=drift, alerts=alert_summary(findings["alerts"]),
                                  remediation={"action": "continue"}, outcome={}, baseline=baseline)
            sim = episode.end_day(world, served.sim, day, Action.CONTINUE).sim
            if progress:
                progress.update(task, advance=1)
    return {"model": spec.name, "rows": rows_written, "folder": str(folder)}


def _fmt(value) -> str:
    return "" if value is None else f"{value:.5f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        models = list(MODELS) if args.model == "all" else [get_model(args.model).name]
        scenario = get_scenario(args.scenario)
        if args.days <= 0:
            raise ValueError(f"--days must be a positive number of days, not {args.days}")
        args.out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with Progress() as progress:
        for name in models:
            result = export_model(World(get_model(name), scenario, args.seed), args.days, args.out / name, progress,
                                  log_format=args.log_format)
            progress.console.print(f"{result['model']}: {result['rows']:,} prediction rows -> {result['folder']}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
