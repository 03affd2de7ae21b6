"""Copying a run's first days under a new run id, for a fork, and recording in the registry where it came from.

A fork shares its parent's days before the fork day: their prediction log, reference windows,
metrics, day summaries, decisions and narratives are copied row for row under the fork's run id, so the fork's
report is complete and reads the same as the parent's up to that day.
"""
from __future__ import annotations

import json

from stores import Stores
from stores.predictions import _table


def _columns(stores: Stores, table: str) -> list[str]:
    return [row[1] for row in stores.db.conn.execute(f"PRAGMA table_info([{table}])")]


def _copy(stores: Stores, table: str, source: str, target: str, where: str, params: tuple) -> int:
    """Copy the rows of `table` matching `where` from run `source` to run `target` (replacing any there)."""
    columns = _columns(stores, table)
    select = ", ".join("?" if c == "run_id" else f"[{c}]" for c in columns)
    sql = (f"INSERT OR REPLACE INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
           f"SELECT {select} FROM [{table}] WHERE run_id = ? AND {where}")
    return stores.db.conn.execute(sql, (target, source, *params)).rowcount


def copy_days(stores: Stores, source: str, target: str, model: str, fork_day: int, versions: list[str]) -> dict:
    """Copy what run `source` wrote for `model` before `fork_day` (and that day's prediction log) to `target`.

    The decision of `fork_day` itself and everything after it are the fork's own. Alerts and incidents are
    not copied here: their rows are updated in place day after day, so the fork rewrites them as of its
    fork day from the checkpoints (graph.fork).
    """
    counts = {}
    with stores.db.conn:
        counts["predictions"] = _copy(stores, _table("predictions", model), source, target, "day <= ?", (fork_day,))
        marks = ", ".join("?" * len(versions))
        counts["reference"] = _copy(stores, _table("reference", model), source, target, f"version IN ({marks})", tuple(versions))
        for table in ("metrics", "day_summaries", "remediation_actions", "narratives"):
            counts[table] = _copy(stores, table, source, target, "model_id = ? AND day < ?", (model, fork_day))
    return counts


def record_fork(stores: Stores, run_id: str, parent: dict) -> None:
    """Note in the run registry which run, model, day and action the run was forked from."""
    if "forked_from" not in _columns(stores, "runs"):
        with stores.db.conn:
            stores.db.conn.execute("ALTER TABLE runs ADD COLUMN forked_from TEXT")
    with stores.db.conn:
        stores.db.conn.execute("UPDATE runs SET forked_from = ? WHERE run_id = ?", (json.dumps(parent, sort_keys=True), run_id))


def forked_from(entry: dict | None) -> dict | None:
    """The parent recorded in a registry entry (from RunRegistry.get or read_run), or None."""
    text = (entry or {}).get("forked_from")
    return json.loads(text) if text else None
