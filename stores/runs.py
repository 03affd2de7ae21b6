"""The run registry: which runs exist in an output folder, with what settings, and whether they finished.

Beside each run it keeps what the run's report needs and the folder's shared files would otherwise
change under it: the exact policy file the run started with (so a resume decides with the same
policy, whatever other runs taught the folder's policy meanwhile) and what its online update did.
"""
from __future__ import annotations

import hashlib
import json
import time

import sqlite_utils

from stores.db import StoreError, open_database

RUN_COLUMNS = {"run_id", "config", "status", "started_at", "finished_at"}
STATUSES = ("running", "finished")


class RunRegistry:
    def __init__(self, db: sqlite_utils.Database, create: bool = True):
        self.db = db
        self.path = db.conn.execute("PRAGMA database_list").fetchone()[2]
        if create:
            with db.conn:
                if "runs" not in db.table_names():
                    db["runs"].create({"run_id": str, "config": str, "status": str, "started_at": float,
                                       "finished_at": float}, pk="run_id")
                if "run_policies" not in db.table_names():
                    db["run_policies"].create({"run_id": str, "sha256": str, "source": str, "data": bytes}, pk="run_id")
                if "run_learning" not in db.table_names():
                    db["run_learning"].create({"run_id": str, "record": str}, pk="run_id")
        self._check_shape()

    def _check_shape(self) -> None:
        """A registry table written by something else is refused in one line, not met with a KeyError later."""
        if "runs" not in self.db.table_names():
            return
        columns = {c.name for c in self.db["runs"].columns}
        if not RUN_COLUMNS <= columns:
            raise StoreError(f"{self.path}: its runs table is not an mlmon run registry "
                             f"(missing {', '.join(sorted(RUN_COLUMNS - columns))})")

    def _parse(self, row: dict) -> dict:
        try:
            config = json.loads(row["config"])
        except (TypeError, ValueError):
            config = None
        ok = (isinstance(config, dict) and isinstance(config.get("models"), list) and config["models"]
              and all(isinstance(m, str) for m in config["models"]) and row["status"] in STATUSES)
        if not ok:
            raise StoreError(f"{self.path}: the run registry entry of {row['run_id']!r} is malformed; "
                             "use another --run-id or --output-dir")
        return {**row, "config": config}

    def get(self, run_id: str) -> dict | None:
        if "runs" not in self.db.table_names():
            return None
        rows = list(self.db.query("SELECT * FROM runs WHERE run_id = ?", [run_id]))
        return self._parse(rows[0]) if rows else None

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
        runs = []
        for row in rows:
            try:
                runs.append(self._parse(row))
            except StoreError:  # a malformed entry is left out here; `get` names it
                continue
        return runs

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

    # ---- the policy a run started with ----------------------------------------------------------
    def record_policy(self, run_id: str, data: bytes, source: str) -> None:
        """Keep the run's starting policy (once: a resume keeps the first one)."""
        with self.db.conn:
            self.db.conn.execute("INSERT OR IGNORE INTO run_policies (run_id, sha256, source, data) VALUES (?, ?, ?, ?)",
                                 (run_id, hashlib.sha256(data).hexdigest(), source, data))

    def policy(self, run_id: str) -> tuple[bytes, str, str] | None:
        """(bytes, source, sha256) of the policy the run started with, if it recorded one."""
        if "run_policies" not in self.db.table_names():
            return None
        row = self.db.conn.execute("SELECT data, source, sha256 FROM run_policies WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        data, source, sha = row
        if hashlib.sha256(data).hexdigest() != sha:
            raise StoreError(f"{self.path}: the policy recorded for run {run_id} does not match its checksum")
        return data, source, sha

    # ---- what the run's online update did ---------------------------------------------------------
    def record_learning(self, run_id: str, record: dict) -> None:
        with self.db.conn:
            self.db.conn.execute("INSERT OR REPLACE INTO run_learning (run_id, record) VALUES (?, ?)",
                                 (run_id, json.dumps(record, sort_keys=True)))

    def learning(self, run_id: str) -> dict | None:
        if "run_learning" not in self.db.table_names():
            return None
        row = self.db.conn.execute("SELECT record FROM run_learning WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else json.loads(row[0])


def read_run(path, run_id: str | None) -> dict | None:
    """A run's registry entry (the newest unfinished one if run_id is None), read without writing."""
    db = open_database(path, read_only=True)
    try:
        registry = RunRegistry(db, create=False)
        return registry.latest_unfinished() if run_id is None else registry.get(run_id)
    except StoreError:
        raise
    except Exception as exc:  # sqlite3 errors on a damaged or foreign registry
        raise StoreError(f"{path}: cannot read the run registry ({type(exc).__name__}: {exc})") from None
    finally:
        db.conn.close()
