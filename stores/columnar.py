"""Prediction logs stored by column: how mlmon keeps a user's own log, at the speed logs arrive.

A simulated day goes into a table with a typed column per feature (stores.predictions); a user's log
of millions of rows cannot: SQLite through Python pays per value. Here a log is kept as chunks of
numpy columns in blobs (one row of `prediction_chunks` per chunk of a period), written and read at
memory speed, and every monitored period also gets its *view* (`prediction_views`): the uniform sample
and the labelled rows the nodes read, plus the period's counts. With `--store summaries` only the views
are kept: bounded by the period count, not the row count.

Categorical values are kept as integer codes from one dictionary per (model, column) in
`category_codes`, so codes mean the same in every chunk, period and run (-1: missing).
"""
from __future__ import annotations

import json
import struct

import numpy as np
import sqlite_utils

from stores.dayview import Columns, DayView, LabelledRows
from stores.db import StoreError

MISSING_CODE = -1


# ---- a blob of named arrays --------------------------------------------------------------------

def pack(arrays: dict[str, np.ndarray], meta: dict | None = None) -> bytes:
    """Named arrays (and plain metadata) as one blob: a JSON header, then each array's raw bytes."""
    header, buffers, offset = {"meta": meta or {}, "arrays": {}}, [], 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        if array.dtype == object:
            raise TypeError(f"column {name} is not numeric; encode it first")
        header["arrays"][name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        buffers.append(array.tobytes())
        offset += array.nbytes
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + b"".join(buffers)


def unpack(blob: bytes, names: tuple[str, ...] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays of a blob (only `names`, if given) without copying, and its metadata.

    >>> arrays, meta = unpack(pack({"a": np.arange(3), "b": np.eye(2)}, {"n": 3}))
    >>> arrays["a"].tolist(), arrays["b"].shape, meta
    ([0, 1, 2], (2, 2), {'n': 3})
    """
    size, = struct.unpack_from("<I", blob)
    header = json.loads(blob[4:4 + size])
    body = memoryview(blob)[4 + size:]
    arrays = {}
    for name, spec in header["arrays"].items():
        if names is not None and name not in names:
            continue
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        arrays[name] = np.frombuffer(body, dtype=dtype, count=count, offset=spec["offset"]).reshape(spec["shape"])
    return arrays, header["meta"]


# ---- the period view ---------------------------------------------------------------------------

def view_arrays(view: DayView) -> dict[str, np.ndarray]:
    s, lab = view.sample, view.labelled
    return {"numeric": s.numeric.astype(np.float64), "categorical": s.categorical.astype(np.int32),
            "score": s.score, "prediction": s.prediction, "label": s.label, "latency_ms": s.latency_ms,
            "labelled_group": lab.group.astype(np.int32), "labelled_score": lab.score,
            "labelled_prediction": lab.prediction, "labelled_label": lab.label}


def view_from_blob(day: int, blob: bytes) -> DayView:
    a, meta = unpack(blob)
    sample = Columns(a["numeric"], a["categorical"], a["score"], a["prediction"], a["label"], a["latency_ms"])
    labelled = LabelledRows(a["labelled_group"], a["labelled_score"], a["labelled_prediction"], a["labelled_label"])
    return DayView(day, meta["n_rows"], meta["model_versions"], sample, labelled)


class ColumnarStore:
    """Chunks, period views and category codes of logs kept by column (see the module docstring)."""

    def __init__(self, db: sqlite_utils.Database, create: bool = True):
        self.db = db
        if not create:  # a reader (the MCP servers) never writes, even to add these tables to an older file
            return
        with db.conn:
            db.conn.execute("CREATE TABLE IF NOT EXISTS prediction_chunks (run_id TEXT, model_id TEXT, day INTEGER, "
                            "chunk INTEGER, n_rows INTEGER, n_labelled INTEGER, ts_min REAL, ts_max REAL, data BLOB, "
                            "PRIMARY KEY (run_id, model_id, day, chunk))")
            db.conn.execute("CREATE TABLE IF NOT EXISTS prediction_views (run_id TEXT, model_id TEXT, day INTEGER, "
                            "n_rows INTEGER, n_labelled INTEGER, start TEXT, summary TEXT, data BLOB, "
                            "PRIMARY KEY (run_id, model_id, day))")
            db.conn.execute("CREATE TABLE IF NOT EXISTS category_codes (model_id TEXT, column_name TEXT, code INTEGER, "
                            "value TEXT, PRIMARY KEY (model_id, column_name, code))")

    # ---- category codes ---------------------------------------------------------------------
    def codes(self, model_id: str, column: str) -> dict[str, int]:
        return {v: c for c, v in self.db.conn.execute(
            "SELECT code, value FROM category_codes WHERE model_id = ? AND column_name = ?", (model_id, column))}

    def add_codes(self, model_id: str, column: str, values: dict[str, int]) -> None:
        """New values and their codes (inside the caller's transaction)."""
        self.db.conn.executemany("INSERT OR IGNORE INTO category_codes (model_id, column_name, code, value) "
                                 "VALUES (?, ?, ?, ?)", [(model_id, column, c, v) for v, c in values.items()])

    def category_names(self, model_id: str, column: str) -> list[str]:
        names = dict(self.db.conn.execute("SELECT code, value FROM category_codes WHERE model_id = ? AND column_name = ?",
                                          (model_id, column)))
        return [names.get(i, "") for i in range(max(names, default=-1) + 1)]

    # ---- chunks (--store rows) --------------------------------------------------------------
    def write_chunk(self, run_id: str, model_id: str, day: int, chunk: int, arrays: dict[str, np.ndarray]) -> None:
        label = arrays["label"]
        self.db.conn.execute(
            "INSERT OR REPLACE INTO prediction_chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, model_id, day, chunk, len(label), int(np.sum(~np.isnan(label))), float(arrays["ts"].min()),
             float(arrays["ts"].max()), pack(arrays)))

    def chunks(self, run_id: str, model_id: str, first_day: int, last_day: int, names: tuple[str, ...] | None = None):
        """(day, arrays) of every chunk of the days, in order."""
        for day, blob in self.db.conn.execute(
                "SELECT day, data FROM prediction_chunks WHERE run_id = ? AND model_id = ? AND day BETWEEN ? AND ? "
                "ORDER BY day, chunk", (run_id, model_id, first_day, last_day)):
            yield day, unpack(blob, names)[0]

    def delete_days(self, run_id: str, model_id: str, days: list[int]) -> None:
        for table in ("prediction_chunks", "prediction_views"):
            self.db.conn.executemany(f"DELETE FROM {table} WHERE run_id = ? AND model_id = ? AND day = ?",
                                     [(run_id, model_id, d) for d in days])

    def drop_chunks_before(self, run_id: str, model_id: str, first_kept_day: int) -> int:
        with self.db.conn:
            return self.db.conn.execute("DELETE FROM prediction_chunks WHERE run_id = ? AND model_id = ? AND day < ? "
                                        "AND day >= 0", (run_id, model_id, first_kept_day)).rowcount

    # ---- period views (both modes) ----------------------------------------------------------
    def write_view(self, run_id: str, model_id: str, day: int, view: DayView, start: str, summary: dict) -> None:
        meta = {"n_rows": view.n_rows, "model_versions": view.model_versions}
        self.db.conn.execute("INSERT OR REPLACE INTO prediction_views VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (run_id, model_id, day, view.n_rows, view.n_labelled, start, json.dumps(summary),
                              pack(view_arrays(view), meta)))

    def view(self, run_id: str, model_id: str, day: int) -> DayView:
        row = self.db.conn.execute("SELECT data FROM prediction_views WHERE run_id = ? AND model_id = ? AND day = ?",
                                   (run_id, model_id, day)).fetchone()
        if row is None:
            raise StoreError(f"no period {day} of {model_id} in run {run_id}")
        return view_from_blob(day, row[0])

    def periods(self, run_id: str, model_id: str) -> dict[int, dict]:
        """day -> {"n_rows", "n_labelled", "start", **summary} of every stored period (day -1: the reference)."""
        return {day: {"n_rows": n, "n_labelled": labelled, "start": start, **json.loads(summary)}
                for day, n, labelled, start, summary in self.db.conn.execute(
                    "SELECT day, n_rows, n_labelled, start, summary FROM prediction_views WHERE run_id = ? AND "
                    "model_id = ? ORDER BY day", (run_id, model_id))}

    # ---- the predictions store's reading API, for a log kept by column ---------------------------
    def _require_rows(self, run_id: str, model_id: str) -> None:
        if not self.db.conn.execute("SELECT 1 FROM prediction_chunks WHERE run_id = ? AND model_id = ? LIMIT 1",
                                    (run_id, model_id)).fetchone():
            raise StoreError(f"run {run_id} keeps no rows of {model_id} (it ran with --store summaries, or its rows "
                             "were dropped by --keep-days): only its per-period findings")

    def rows(self, schema, run_id: str, first_day: int, last_day: int, limit: int | None) -> list[dict]:
        """Rows of the periods, as dicts like the row layout's (categories by name), up to `limit`."""
        self._require_rows(run_id, schema.model_id)
        names = {c: self.category_names(schema.model_id, c) for c in schema.categorical}
        versions = self.category_names(schema.model_id, "__model_version__") or ["log"]
        found: list[dict] = []
        for day, a in self.chunks(run_id, schema.model_id, first_day, last_day):
            for i in range(len(a["row"])):
                if limit is not None and len(found) >= limit:
                    return found
                label = float(a["label"][i])
                row = {"run_id": run_id, "day": day, "row": int(a["row"][i]), "ts": float(a["ts"][i]),
                       "model_version": versions[int(a["version"][i])] if int(a["version"][i]) < len(versions) else "",
                       **{c: (None if v != v else float(v)) for c, v in zip(schema.numeric, a["numeric"][i].tolist())},
                       **{c: (names[c][code] if 0 <= code < len(names[c]) else None)
                          for c, code in zip(schema.categorical, a["categorical"][i].tolist())},
                       "score": float(a["score"][i]), "prediction": int(a["prediction"][i]),
                       "label": None if label != label else int(label),
                       "latency_ms": float(a["latency_ms"][i]) if "latency_ms" in a else None}
                found.append(row)
        return found

    def accuracy_in_window(self, run_id: str, model_id: str, window_hours: float) -> dict:
        self._require_rows(run_id, model_id)
        newest, = self.db.conn.execute("SELECT max(ts_max) FROM prediction_chunks WHERE run_id = ? AND model_id = ? "
                                       "AND day >= 0", (run_id, model_id)).fetchone()
        since = newest - window_hours * 3600.0
        correct = labelled = 0
        for blob, in self.db.conn.execute("SELECT data FROM prediction_chunks WHERE run_id = ? AND model_id = ? AND "
                                          "day >= 0 AND ts_max > ?", (run_id, model_id, since)):
            a = unpack(blob, ("ts", "prediction", "label"))[0]
            keep = (a["ts"] > since) & ~np.isnan(a["label"])
            labelled += int(keep.sum())
            correct += int(np.sum(a["prediction"][keep] == a["label"][keep]))
        return {"accuracy": correct / labelled if labelled else None, "correct": correct, "labelled": labelled,
                "since_ts": since, "until_ts": newest}

    def daily_summary(self, run_id: str, model_id: str, first_day: int, last_day: int) -> list[dict]:
        versions = {day: unpack(blob, ())[1]["model_versions"] for day, blob in self.db.conn.execute(
            "SELECT day, data FROM prediction_views WHERE run_id = ? AND model_id = ? AND day BETWEEN ? AND ?",
            (run_id, model_id, max(0, first_day), last_day))}
        return [{"day": day, "predictions": p["n_rows"], "labelled": p["n_labelled"], "correct": p["correct"],
                 "accuracy": p["accuracy"], "predicted_positive_rate": p["predicted_positive_rate"],
                 "mean_score": p["mean_score"], "model_versions": versions.get(day, [])}
                for day, p in self.periods(run_id, model_id).items() if first_day <= day <= last_day and day >= 0]

    def count_rows(self, run_id: str, model_id: str) -> dict[int, int]:
        return {day: p["n_rows"] for day, p in self.periods(run_id, model_id).items() if day >= 0}
