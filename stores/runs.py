"""The run registry: which runs exist in an output folder, with what settings, and whether they finished."""
from __future__ import annotations

import json
import time

import sqlite_utils

from stores.db import open_database


class RunRegistry:
    def __init__(self, db: sqlite_utils.Database, create: bool = True):
        self.db = db
        if create and "runs" not in db.table_names():
            with db.conn:
                db["runs"].create({"run_id": str, "config": str, "status": str, "started_at": float,
                                   "finished_at": float}, pk="run_id")

    def get(self, run_id: str) -> dict | None:
        if "runs" not in self.db.table_names():
            return None
        rows = list(self.db.query("SELECT * FROM runs WHERE run_id = ?", [run_id]))
        if not rows:
            return None
        row = rows[0]
        return {**row, "config": json.loads(row["config"])}

    def start(self, run_id: str, config: dict) -> None:
        with self.db.conn:
            self.db.conn.execute("INSERT OR IGNORE INTO runs (run_id, config, status, started_at) VALUES (?, ?, 'running', ?)",
                                 (run_id, json.dumps(config, sort_keys=True), time.time()))

    def finish(self, run_id: str) -> None:
        with self.db.conn:
            self.db.conn.execute("UPDATE runs SET status = 'finished', finished_at = ? WHERE run_id = ? AND status != 'finished'",
                                 (time.time(), run_id))

    def list_runs(self, limit: int | None = None) -> list[dict]:
        """Every run, newest first (by start time), with its settings."""
        if "runs" not in self.db.table_names():
            return []
        sql = "SELECT * FROM runs ORDER BY started_at DESC, run_id"
        rows = self.db.query(sql + " LIMIT ?", [limit]) if limit is not None else self.db.query(sql)
        return [{**row, "config": json.loads(row["config"])} for row in rows]

    def newest(self) -> dict | None:
        """The run started last, finished or not (what readers such as the MCP servers default to)."""
        runs = self.list_runs(limit=1)
        return runs[0] if runs else None

    def count(self) -> int:
        if "runs" not in self.db.table_names():
            return 0
        return self.db.conn.execute("SELECT count(*) FROM runs").fetchone()[0]

    def models(self, run_id: str) -> list[str]:
        """The models a run monitors (empty for an unknown run)."""
        run = self.get(run_id)
        return list(run["config"].get("models", [])) if run else []

    def latest_unfinished(self) -> dict | None:
        if "runs" not in self.db.table_names():
            return None
        rows = list(self.db.query("SELECT run_id FROM runs WHERE status != 'finished' ORDER BY started_at DESC LIMIT 1"))
        return self.get(rows[0]["run_id"]) if rows else None


def read_run(path, run_id: str | None) -> dict | None:
    """A run's registry entry (the newest unfinished one if run_id is None), read without writing."""
    db = open_database(path, read_only=True)
    try:
        registry = RunRegistry(db, create=False)
        return registry.latest_unfinished() if run_id is None else registry.get(run_id)
    finally:
        db.conn.close()
