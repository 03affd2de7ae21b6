"""Opening the SQLite file that holds the three stores: WAL, sane pragmas, and a clear error on a bad file."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

# Simulated runs start on this date, so day numbers map to real timestamps reproducibly.
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


class StoreError(Exception):
    """A store cannot be opened or used; the message says which file and why."""


def day_start_ts(day: int) -> float:
    return (EPOCH + timedelta(days=day)).timestamp()


def day_date(day: int) -> str:
    return (EPOCH + timedelta(days=day)).date().isoformat()


# Stamped into every stores file (PRAGMA application_id), so a stranger's SQLite file is refused, not altered.
MLMON_APPLICATION_ID = 0x6D6C6D6E  # "mlmn"
PAGE_SIZE = 32768  # bytes per page of a new stores file (benchmarks/ingest.py --page-sizes compares)


def check_sqlite_file(path: Path, application_id: int | None = None, tables: set[str] | None = None) -> None:
    """Raise StoreError unless `path` is absent, empty, or a readable SQLite file of the expected kind.

    Opens read-only and never writes. A file with tables must carry `application_id` (if given) and
    hold no tables outside `tables` (if given).
    """
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            stamp = conn.execute("PRAGMA application_id").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a usable SQLite database ({exc})") from None
    if not found:
        return
    if application_id is not None and stamp != application_id:
        raise StoreError(f"{path} is a SQLite database, but not an mlmon store")
    if tables is not None and not found <= tables:
        raise StoreError(f"{path} is a SQLite database with tables mlmon does not know ({', '.join(sorted(found - tables))})")


def integrity_problem(path: Path) -> str | None:
    """What `PRAGMA quick_check` finds wrong with a SQLite file (None: nothing). Read-only.

    quick_check walks every page of every b-tree (it skips only the index-against-table comparison of
    integrity_check), so it finds overwritten or torn pages; its cost grows with the file
    (benchmarks/integrity.py measures it).
    """
    if not Path(path).exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows == ["ok"]:
        return None
    problems = [p.strip() for row in rows for p in row.splitlines() if p.strip() and not p.startswith("***")]
    return "; ".join(problems[:2]) + (f"; and {len(problems) - 2} more" if len(problems) > 2 else "")


def check_integrity(path: Path) -> None:
    problem = integrity_problem(path)
    if problem is not None:
        raise StoreError(f"{path} is damaged (SQLite quick_check: {problem}); restore it from a backup, or move it "
                         "away together with checkpoints.db to start clean")


def create_database(path: Path, page_size: int) -> None:
    """An empty stores file with another page size than PAGE_SIZE (for benchmarks that compare them)."""
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size = {int(page_size)}")
    conn.execute(f"PRAGMA application_id = {MLMON_APPLICATION_ID}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()


def open_database(path: Path | str, read_only: bool = False) -> sqlite_utils.Database:
    path = Path(path)
    check_sqlite_file(path, application_id=MLMON_APPLICATION_ID)
    if read_only:
        return sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        if conn.execute("PRAGMA application_id").fetchone()[0] != MLMON_APPLICATION_ID:  # a write: only once
            # A new file gets large pages (SQLite fixes the size when the first table is made): a log's
            # column blobs then go to disk several times faster, and nothing else here reads single rows.
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute(f"PRAGMA application_id = {MLMON_APPLICATION_ID}")
        conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a killed process loses nothing; an OS crash can lose the last commits.
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open {path}: {exc}") from None
    return sqlite_utils.Database(conn)
