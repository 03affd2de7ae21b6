"""Before a run writes anything: read-only checks that the output folder's files can be trusted with it.

Every check here opens files read-only, so a refused run leaves the folder byte for byte as it was:
both databases pass SQLite's quick_check; the stores file and the checkpoint file belong together
(each checkpoint thread records the identity of the stores file it began with, and the days the
stores hold match the days the checkpoints reached); the run's recorded settings and policy are
read back; and the run's estimated writes fit in the free disk space.
"""
from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.errors import RunRefused
from graph.threads import thread_config, thread_status
from stores import STORES_FILE, StoreError
from stores.db import check_integrity
from stores.runs import read_run

CHECKPOINT_FILE = "checkpoints.db"
# What one prediction row costs on disk in the stores (table, packed copy, indexes) and one monitored
# day's checkpoints, per model, as `benchmarks/integrity.py --sizes` measured them (2026-11-27, 32 KB pages, the graph with its
# narrate and notify steps); the
# estimate adds half again for what varies (free pages, the WAL between checkpoints) and a day of rows
# for the WAL itself.
BYTES_PER_ROW = {"pneumonia_classifier_v1": 258, "fraud_detector_v2": 251, "defect_detector_v1": 230}
DEFAULT_BYTES_PER_ROW = 300
CHECKPOINT_BYTES_PER_DAY = 150_000
SUMMARY_BYTES_PER_DAY = 20_000  # metrics, day summary, alerts, actions
SAFETY = 1.5
FREE_SPACE_MARGIN = 16 * 1024 * 1024  # never plan to fill a disk to the last byte


@dataclass
class Plan:
    """What the preflight found, for the run to use."""

    registered: dict | None  # the run's registry entry, if it exists
    threads: dict = field(default_factory=dict)  # model -> "new" | "unfinished" | "finished"
    policy: tuple[bytes, str] | None = None  # the run's recorded starting policy (bytes, source)
    stores_identity: str | None = None


def stores_identity(path: Path) -> str | None:
    if not path.exists():
        return None
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'stores_id'").fetchone()
        return row[0] if row else None


def recorded_days(path: Path, run_id: str, model: str) -> int:
    """How many days of (run, model) the stores file holds."""
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'day_summaries'").fetchone():
            return 0
        return conn.execute("SELECT count(*) FROM day_summaries WHERE run_id = ? AND model_id = ?",
                            (run_id, model)).fetchone()[0]


def recorded_policy(path: Path, run_id: str) -> tuple[bytes, str] | None:
    from stores.db import open_database
    from stores.runs import RunRegistry

    if not path.exists():
        return None
    db = open_database(path, read_only=True)
    try:
        found = RunRegistry(db, create=False).policy(run_id)
    finally:
        db.conn.close()
    return None if found is None else (found[0], found[1])


def thread_snapshots(checkpoint_path: Path, run_id: str, models: list[str], days: int) -> dict[str, dict]:
    """model -> {"status", "day", "stores_id"} from the checkpoint file, opened read-only."""
    from graph.build import build_graph

    if not checkpoint_path.exists():
        return {m: {"status": "new", "day": 0, "stores_id": None} for m in models}
    conn = sqlite3.connect(f"file:{checkpoint_path}?mode=ro", uri=True, check_same_thread=False)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'checkpoints'").fetchone():
            return {m: {"status": "new", "day": 0, "stores_id": None} for m in models}
        graph = build_graph(SqliteSaver(conn))
        found = {}
        for model in models:
            cfg = thread_config(run_id, model, days)
            values = graph.get_state(cfg).values
            found[model] = {"status": thread_status(graph, cfg), "day": values.get("day", 0),
                            "stores_id": values.get("stores_id"), "days": values.get("days")}
        return found
    finally:
        conn.close()


def agreement_problem(snapshot: dict, identity: str | None, days_in_stores: int, days: int) -> str | None:
    """Why the checkpoints of one thread and the stores file do not describe the same run, or None."""
    if snapshot["status"] == "new":
        if days_in_stores:
            return f"the stores hold {days_in_stores} days but the checkpoints none"
        return None
    if snapshot["stores_id"] is not None and snapshot["stores_id"] != identity:
        return ("the checkpoints were written with another stores file" if identity
                else "the stores file the checkpoints were written with is missing")
    # A day's stores writes come just before its checkpoint: the stores may be one day ahead, never behind.
    days = snapshot.get("days") or days  # a log run's thread knows how many periods it has monitored
    reached = days if snapshot["status"] == "finished" else snapshot["day"]
    if not reached <= days_in_stores <= reached + 1 or (snapshot["status"] == "finished" and days_in_stores != days):
        return f"the checkpoints reached day {reached} but the stores hold {days_in_stores} days"
    return None


def estimated_bytes(models: list[str], days_left: dict[str, int], keep_days: int | None) -> int:
    from simulator.catalog import get_model

    total = 0
    for model in models:
        left = days_left[model]
        kept = (left if keep_days is None else min(left, keep_days)) + 1 if left else 0  # + the WAL's day
        total += get_model(model).daily_volume * BYTES_PER_ROW.get(model, DEFAULT_BYTES_PER_ROW) * kept
        total += (CHECKPOINT_BYTES_PER_DAY + SUMMARY_BYTES_PER_DAY) * left
    return int(total * SAFETY)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check(config, integrity: bool = True) -> Plan:
    """Read-only checks of `config`'s output folder; raises RunRefused, never writes."""
    folder = Path(config.output_dir)
    stores_path, checkpoint_path = folder / STORES_FILE, folder / CHECKPOINT_FILE
    try:
        for path in (stores_path, checkpoint_path) if integrity else ():
            check_integrity(path)
        registered = read_run(stores_path, config.run_id) if stores_path.exists() else None
        identity = stores_identity(stores_path)
        policy = recorded_policy(stores_path, config.run_id) if config.policy == "ppo" else None
    except (StoreError, sqlite3.DatabaseError) as exc:
        raise RunRefused(str(exc)) from None
    if registered is not None and registered["config"] != config.settings():
        raise RunRefused(config.settings_clash(registered["config"]))
    snapshots = thread_snapshots(checkpoint_path, config.run_id, config.models, config.days)
    for model, snapshot in snapshots.items():
        problem = agreement_problem(snapshot, identity, recorded_days(stores_path, config.run_id, model), config.days)
        if problem:
            raise RunRefused(f"run {config.run_id} ({model}): {CHECKPOINT_FILE} and {STORES_FILE} in {folder} do not "
                             f"belong together ({problem}); restore the {STORES_FILE} the run began with, or start "
                             f"clean by moving both files away (or another --output-dir)")
    need = config.estimated_bytes(snapshots)
    free = shutil.disk_usage(folder).free
    if need and need + FREE_SPACE_MARGIN > free:
        raise RunRefused(f"run {config.run_id} needs about {_gb(need)} in {folder} but only {_gb(free)} is free "
                         f"(with a {_gb(FREE_SPACE_MARGIN)} margin); use --keep-days to keep fewer days of prediction rows, "
                         "fewer --days, or another --output-dir")
    return Plan(registered, {m: s["status"] for m, s in snapshots.items()}, policy, identity)
