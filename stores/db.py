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


def check_sqlite_file(path: Path) -> None:
    """Raise StoreError if `path` exists but is not a readable SQLite database. Never writes."""
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a usable SQLite database ({exc})") from None


def open_database(path: Path | str) -> sqlite_utils.Database:
    path = Path(path)
    check_sqlite_file(path)
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints of the WAL; safe with WAL
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open {path}: {exc}") from None
    return sqlite_utils.Database(conn)
