"""The metrics store: one value per (run, model, day, metric), plus each day's summary row for reports.

Keys make every write idempotent: a replayed day overwrites its own values and adds nothing.
"""
from __future__ import annotations

import json
import math

import sqlite_utils

from stores.db import day_start_ts

# The metric that decides a model's health in get_model_health.
STATUS_METRIC = "performance_status_code"
STATUS_NAMES = {0: "healthy", 1: "warning", 2: "critical"}


class MetricsStore:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        with db.conn:
            if "metrics" not in db.table_names():
                db["metrics"].create({"run_id": str, "model_id": str, "day": int, "name": str, "value": float, "ts": float},
                                     pk=("run_id", "model_id", "day", "name"))
                db["metrics"].create_index(["run_id", "model_id", "name", "day"])
            if "day_summaries" not in db.table_names():
                db["day_summaries"].create({"run_id": str, "model_id": str, "day": int, "summary": str, "cycle_ms": float},
                                           pk=("run_id", "model_id", "day"))

    def store_metric(self, model_id: str, metric_name: str, value: float, timestamp: float | None = None, *,
                     run_id: str, day: int) -> None:
        self.store_metrics(run_id, model_id, day, {metric_name: value}, timestamp)

    def store_metrics(self, run_id: str, model_id: str, day: int, values: dict[str, float | None],
                      timestamp: float | None = None) -> None:
        ts = day_start_ts(day) if timestamp is None else float(timestamp)
        rows = [(run_id, model_id, day, name, None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v), ts)
                for name, v in values.items()]
        with self.db.conn:
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, model_id, day, name, value, ts) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def get_metric_timeseries(self, model_id: str, metric_name: str, *, run_id: str) -> list[tuple[int, float | None]]:
        return [(d, v) for d, v in self.db.conn.execute(
            "SELECT day, value FROM metrics WHERE run_id = ? AND model_id = ? AND name = ? ORDER BY day",
            (run_id, model_id, metric_name))]

    def metric_names(self, run_id: str, model_id: str) -> list[str]:
        """The names of the metrics stored for a model in a run, sorted."""
        return [n for n, in self.db.conn.execute(
            "SELECT DISTINCT name FROM metrics WHERE run_id = ? AND model_id = ? ORDER BY name", (run_id, model_id))]

    def get_model_health(self, model_id: str, *, run_id: str) -> dict:
        """The latest day's metrics and the health status they imply."""
        row = self.db.conn.execute("SELECT max(day) FROM metrics WHERE run_id = ? AND model_id = ?", (run_id, model_id)).fetchone()
        if row[0] is None:
            return {"model_id": model_id, "run_id": run_id, "day": None, "status": "unknown", "metrics": {}}
        day = row[0]
        metrics = {n: v for n, v in self.db.conn.execute(
            "SELECT name, value FROM metrics WHERE run_id = ? AND model_id = ? AND day = ?", (run_id, model_id, day))}
        code = metrics.get(STATUS_METRIC)
        status = STATUS_NAMES.get(int(code), "unknown") if code is not None else "unknown"
        return {"model_id": model_id, "run_id": run_id, "day": day, "status": status, "metrics": metrics}

    def store_day_summary(self, run_id: str, model_id: str, day: int, summary: dict, cycle_ms: float | None) -> None:
        with self.db.conn:
            self.db.conn.execute(
                "INSERT OR REPLACE INTO day_summaries (run_id, model_id, day, summary, cycle_ms) VALUES (?, ?, ?, ?, ?)",
                (run_id, model_id, day, json.dumps(summary, sort_keys=True), cycle_ms))

    def day_summaries(self, run_id: str, model_id: str) -> list[dict]:
        rows = self.db.conn.execute(
            "SELECT summary, cycle_ms FROM day_summaries WHERE run_id = ? AND model_id = ? ORDER BY day", (run_id, model_id))
        return [{**json.loads(s), "cycle_ms": c} for s, c in rows]
