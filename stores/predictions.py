"""The predictions store: every model's row-level prediction log, plus the reference window of each version.

One table per model (`predictions__<model>`), typed columns per feature, keyed by (run_id, day, row) so
re-writing a day replaces it instead of duplicating it. Nodes do not read whole days: they read a
`DayView` (the row count, a uniform sample of rows for distributions, and every labelled row for
metrics), built by one function whether the rows come from SQLite or from memory.
"""
from __future__ import annotations

import json
import re

import numpy as np
import sqlite_utils

from stores.dayview import (  # noqa: F401  (their home was here)
    REFERENCE_PERIOD,
    SAMPLE_ROWS,
    Columns,
    DayView,
    LabelledRows,
    ModelSchema,
    PredictionLog,
    reference_from_log,
    view_from_log,
)
from stores.db import StoreError, day_start_ts

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _names(stored: str) -> list[str]:
    """Column names as the models table keeps them: a JSON list (older files: comma-separated)."""
    if stored.startswith("["):
        return json.loads(stored)
    return [c for c in stored.split(",") if c]


def _table(kind: str, model_id: str) -> str:
    if not _IDENT.match(model_id):
        raise StoreError(f"model id {model_id!r} must be letters, digits and underscores")
    return f"{kind}__{model_id}"


class PredictionStore:
    def __init__(self, db: sqlite_utils.Database, create: bool = True):
        from stores.columnar import ColumnarStore  # it builds on this module's types

        self.db = db
        self._schemas: dict[str, ModelSchema] = {}
        if create and "models" not in db.table_names():
            db["models"].create({"model_id": str, "numeric": str, "categorical": str, "group_column": str,
                                 "thresholds": str, "layout": str}, pk="model_id")
        self.columnar = ColumnarStore(db, create)

    # ---- schema -------------------------------------------------------------------------------
    def register_model(self, schema: ModelSchema) -> None:
        """Create the model's prediction and reference tables if they do not exist (idempotent)."""
        existing = self.schema(schema.model_id, required=False)
        if existing is not None and existing != schema:
            raise StoreError(f"model {schema.model_id} is already registered with other features")
        if schema.layout == "columns":  # a log kept by column: no per-feature SQL columns to create
            with self.db.conn:
                self._record_model(schema)
            self._schemas[schema.model_id] = schema
            return
        for name in schema.feature_columns:
            if not _IDENT.match(name):
                raise StoreError(f"feature name {name!r} must be letters, digits and underscores")
        columns = {"run_id": str, "day": int, "row": int, "ts": float, "model_version": str}
        columns.update({n: float for n in schema.numeric})
        columns.update({c: str for c in schema.categorical})
        columns.update({"score": float, "prediction": int, "label": int, "latency_ms": float, "sample_rank": int,
                        # The numeric features again, packed as float64: the hot path reads one value per row
                        # instead of one per feature (Python pays per value fetched). Written with the columns.
                        "numeric_blob": bytes})
        with self.db.conn:
            table = self.db[_table("predictions", schema.model_id)]
            if not table.exists():
                table.create(columns, pk=("run_id", "day", "row"))
                table.create_index(["run_id", "day", "sample_rank"])
                # Covers the labelled-rows query, so it never touches the rows that have no label.
                self.db.execute(f"CREATE INDEX [idx_{table.name}_labelled] ON [{table.name}] "
                                f"(run_id, day, [{schema.group}], score, prediction, label) WHERE label IS NOT NULL")
            ref = self.db[_table("reference", schema.model_id)]
            if not ref.exists():
                ref_columns = {"run_id": str, "version": str, **{k: v for k, v in columns.items() if k not in ("run_id", "day")}}
                ref.create(ref_columns, pk=("run_id", "version", "row"))
            self._record_model(schema)
        self._schemas[schema.model_id] = schema

    def record_log_model(self, schema: ModelSchema) -> None:
        """Register a log's model inside the caller's transaction (the ingest's: all or nothing)."""
        existing = self.schema(schema.model_id, required=False)
        if existing is not None and existing != schema:
            raise StoreError(f"model {schema.model_id} is already registered with other features")
        self._record_model(schema)
        self._schemas[schema.model_id] = schema

    def _row_layout(self, model_id: str) -> None:
        if self.schema(model_id).layout == "columns":
            raise StoreError(f"model {model_id} is a log kept by column: its rows come from its log, not one by one")

    def _record_model(self, schema: ModelSchema) -> None:
        """Plain SQL, no transaction of its own: it runs inside its caller's."""
        have = {row[1] for row in self.db.conn.execute("PRAGMA table_info(models)")}
        for column in ("thresholds", "layout"):  # files from before logs could be monitored
            if column not in have:
                self.db.conn.execute(f"ALTER TABLE models ADD COLUMN {column} TEXT")
        self.db.conn.execute(
            "INSERT OR REPLACE INTO models (model_id, numeric, categorical, group_column, thresholds, layout) "
            "VALUES (?, ?, ?, ?, ?, ?)", (schema.model_id, json.dumps(schema.numeric), json.dumps(schema.categorical),
                                          schema.group, json.dumps(schema.thresholds), schema.layout))

    def schema(self, model_id: str, required: bool = True) -> ModelSchema | None:
        if model_id in self._schemas:
            return self._schemas[model_id]
        rows = list(self.db.query("SELECT * FROM models WHERE model_id = ?", [model_id]))
        if not rows:
            if required:
                raise StoreError(f"unknown model {model_id!r} in the predictions store")
            return None
        r = rows[0]
        schema = ModelSchema(model_id, _names(r["numeric"]), _names(r["categorical"]), r["group_column"],
                             json.loads(r.get("thresholds") or "{}"), r.get("layout") or "rows")
        self._schemas[model_id] = schema
        return schema

    # ---- writing ------------------------------------------------------------------------------
    def _rows(self, log: PredictionLog, head: list):
        """The log's rows as tuples, in sample-rank order, NaN and missing labels as NULL."""
        c, order = log.columns, np.argsort(log.sample_rank, kind="stable")
        numeric = c.numeric[order].astype(object)
        numeric[np.isnan(c.numeric[order])] = None
        label = c.label[order].astype(object)
        label[np.isnan(c.label[order])] = None
        label = [v if v is None else int(v) for v in label.tolist()]
        packed = np.ascontiguousarray(c.numeric[order], dtype="<f8")
        blobs = [row.tobytes() for row in packed]
        head = [np.asarray(h, dtype=object)[order].tolist() for h in head]
        return zip(*head, *numeric.T.tolist(), *c.categorical[order].T.tolist(), c.score[order].tolist(),
                   c.prediction[order].astype(int).tolist(), label, c.latency_ms[order].tolist(),
                   log.sample_rank[order].astype(int).tolist(), blobs)

    def _replace_rows(self, table: str, key: dict, log: PredictionLog, ts: list[float], version: str) -> int:
        """Delete the rows under `key` and write the log's rows there, in one transaction (so a replay
        replaces instead of duplicating). Rows go in sample-rank order: the uniform sample nodes read
        (rank < k) is then a contiguous run of pages instead of k scattered seeks."""
        schema = self.schema(table.split("__", 1)[1])
        n = len(log.columns)
        head = [*([value] * n for value in key.values()), list(range(n)), ts, [version] * n]
        cols = [*key, "row", "ts", "model_version", *schema.feature_columns,
                "score", "prediction", "label", "latency_ms", "sample_rank", "numeric_blob"]
        where = " AND ".join(f"[{k}] = ?" for k in key)
        sql = f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) VALUES ({', '.join('?' * len(cols))})"
        with self.db.conn:
            self.db.conn.execute(f"DELETE FROM [{table}] WHERE {where}", tuple(key.values()))
            self.db.conn.executemany(sql, self._rows(log, head))
        return n

    def store_batch(self, run_id: str, model_id: str, day: int, log: PredictionLog) -> int:
        """Write one day's log, replacing whatever that (run, model, day) held: a replayed day never duplicates."""
        return self._replace_rows(_table("predictions", model_id), {"run_id": run_id, "day": day}, log,
                                  (day_start_ts(day) + log.seconds).tolist(), log.model_version)

    def store_prediction(self, model_id: str, features: dict, prediction: int, timestamp: float, *, run_id: str,
                         day: int, row: int, score: float | None = None, label: int | None = None,
                         latency_ms: float | None = None, model_version: str = "") -> None:
        """The original single-row API; (run_id, day, row) is the key, so a repeat overwrites."""
        self._row_layout(model_id)
        schema = self.schema(model_id)
        unknown = set(features) - set(schema.feature_columns)
        if unknown:
            raise StoreError(f"unknown features for {model_id}: {', '.join(sorted(unknown))}")
        record = {"run_id": run_id, "day": day, "row": row, "ts": float(timestamp), "model_version": model_version,
                  **features, "score": score, "prediction": int(prediction), "label": label, "latency_ms": latency_ms,
                  "sample_rank": row, "numeric_blob": np.array(
                      [np.nan if features.get(n) is None else float(features[n]) for n in schema.numeric], dtype="<f8").tobytes()}
        with self.db.conn:
            self.db[_table("predictions", model_id)].upsert(record, pk=("run_id", "day", "row"))

    def store_reference(self, run_id: str, model_id: str, version: str, log: PredictionLog) -> None:
        """The reference window a model version is judged against (its validation rows)."""
        self._replace_rows(_table("reference", model_id), {"run_id": run_id, "version": version}, log,
                           log.seconds.tolist(), version)

    # ---- reading ------------------------------------------------------------------------------
    def _columns(self, schema: ModelSchema, rows: list[tuple]) -> Columns:
        """Rows of `_select(schema)` -> Columns."""
        p, c = len(schema.numeric), len(schema.categorical)
        if not rows:
            return Columns(np.empty((0, p)), np.empty((0, c), dtype=object), *(np.empty(0) for _ in range(4)))
        cols = list(zip(*rows))
        numeric = np.frombuffer(b"".join(cols[0]), dtype="<f8").reshape(len(rows), p)
        categorical = np.array(cols[1:1 + c], dtype=object).T if c else np.empty((len(rows), 0), dtype=object)
        score, prediction, label, latency = (np.array(v, dtype=float) for v in cols[1 + c:5 + c])
        return Columns(numeric, categorical, score, prediction, label, latency)

    def _select(self, schema: ModelSchema) -> str:
        return ", ".join(f"[{col}]" for col in ["numeric_blob", *schema.categorical, "score", "prediction", "label", "latency_ms"])

    def day_view(self, run_id: str, model_id: str, day: int, sample_rows: int = SAMPLE_ROWS) -> DayView:
        """Three narrow queries: the row count, a uniform sample (all columns), the labelled rows (four columns).

        Python's cost is per value fetched, so each query asks only for what its consumers use.
        """
        schema = self.schema(model_id)
        if schema.layout == "columns":
            return self.columnar.view(run_id, model_id, day)
        table = _table("predictions", model_id)
        conn = self.db.conn
        n_rows, = conn.execute(f"SELECT count(*) FROM [{table}] WHERE run_id = ? AND day = ?", (run_id, day)).fetchone()
        if n_rows == 0:
            raise StoreError(f"no predictions for {model_id} on day {day} of run {run_id}")
        sample = conn.execute(f"SELECT {self._select(schema)}, model_version FROM [{table}] "
                              f"WHERE run_id = ? AND day = ? AND sample_rank < ?", (run_id, day, sample_rows)).fetchall()
        labelled = conn.execute(f"SELECT [{schema.group}], score, prediction, label FROM [{table}] "
                                f"WHERE run_id = ? AND day = ? AND label IS NOT NULL", (run_id, day)).fetchall()
        versions = sorted({r[-1] for r in sample})
        return DayView(day, n_rows, versions, self._columns(schema, [r[:-1] for r in sample]), self._labelled(labelled))

    def reference_view(self, run_id: str, model_id: str, version: str) -> DayView:
        schema = self.schema(model_id)
        if schema.layout == "columns":  # a log's reference period is stored as its period -1
            return self.columnar.view(run_id, model_id, REFERENCE_PERIOD)
        table = _table("reference", model_id)
        rows = self.db.conn.execute(f"SELECT {self._select(schema)} FROM [{table}] WHERE run_id = ? AND version = ?",
                                    (run_id, version)).fetchall()
        if not rows:
            raise StoreError(f"no reference window for {model_id} version {version} in run {run_id}")
        return reference_from_log(PredictionLog(version, self._columns(schema, rows), np.empty(0), np.empty(0)), schema)

    @staticmethod
    def _labelled(rows: list[tuple]) -> LabelledRows:
        if not rows:
            return LabelledRows(np.empty(0, dtype=object), np.empty(0), np.empty(0), np.empty(0))
        group, score, prediction, label = zip(*rows)
        return LabelledRows(np.array(group, dtype=object), np.array(score, dtype=float),
                            np.array(prediction, dtype=float), np.array(label, dtype=float))

    def get_predictions(self, model_id: str, date_range: tuple[int, int], *, run_id: str | None = None,
                        limit: int | None = 1000) -> list[dict]:
        """Rows of days `date_range[0]..date_range[1]` (inclusive), newest run first if run_id is None."""
        first, last = date_range
        schema = self.schema(model_id)
        if schema.layout == "columns":
            if run_id is None:
                raise StoreError(f"model {model_id} is a log kept by column: name its run")
            return self.columnar.rows(schema, run_id, first, last, limit)
        table = _table("predictions", model_id)
        sql = f"SELECT * FROM [{table}] WHERE day BETWEEN ? AND ?"
        params: list = [first, last]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        sql += " ORDER BY run_id, day, row"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return list(self.db.query(sql, params))

    def calculate_accuracy(self, model_id: str, window_hours: float, *, run_id: str) -> float | None:
        """Accuracy of the labelled predictions in the last `window_hours` before the newest prediction."""
        return self.accuracy_in_window(model_id, window_hours, run_id=run_id)["accuracy"]

    def accuracy_in_window(self, model_id: str, window_hours: float, *, run_id: str) -> dict:
        """calculate_accuracy with its counts: accuracy (None without labels), correct, labelled, and the
        window (since_ts, until_ts], which ends at the run's newest prediction (None if it has none)."""
        if self.schema(model_id).layout == "columns":
            return self.columnar.accuracy_in_window(run_id, model_id, window_hours)
        table = _table("predictions", model_id)
        self.schema(model_id)
        row = self.db.conn.execute(f"SELECT max(ts) FROM [{table}] WHERE run_id = ?", (run_id,)).fetchone()
        if row[0] is None:
            return {"accuracy": None, "correct": 0, "labelled": 0, "since_ts": None, "until_ts": None}
        since = row[0] - window_hours * 3600.0
        first_day = int((since - day_start_ts(0)) // 86400)  # lets the (run_id, day) indexes narrow the scan
        correct, total = self.db.conn.execute(
            f"SELECT sum(prediction = label), count(label) FROM [{table}] "
            f"WHERE run_id = ? AND day >= ? AND ts > ? AND label IS NOT NULL", (run_id, first_day, since)).fetchone()
        return {"accuracy": None if not total else correct / total, "correct": int(correct or 0), "labelled": total,
                "since_ts": since, "until_ts": row[0]}

    def daily_summary(self, run_id: str, model_id: str, first_day: int, last_day: int) -> list[dict]:
        """One row per day of `first_day..last_day` (inclusive) that has predictions: counts, accuracy on the
        labelled rows, predicted-positive rate, mean score, and the model versions that served."""
        if self.schema(model_id).layout == "columns":
            return self.columnar.daily_summary(run_id, model_id, first_day, last_day)
        table = _table("predictions", model_id)
        self.schema(model_id)
        rows = self.db.conn.execute(
            f"SELECT day, count(*), count(label), sum(prediction = label), avg(prediction), avg(score), "
            f"group_concat(DISTINCT model_version) FROM [{table}] WHERE run_id = ? AND day BETWEEN ? AND ? "
            f"GROUP BY day ORDER BY day", (run_id, first_day, last_day))
        return [{"day": day, "predictions": n, "labelled": labelled, "correct": int(correct or 0),
                 "accuracy": correct / labelled if labelled else None, "predicted_positive_rate": positive_rate,
                 "mean_score": mean_score, "model_versions": sorted(versions.split(",")) if versions else []}
                for day, n, labelled, correct, positive_rate, mean_score, versions in rows]

    def next_row(self, run_id: str, model_id: str, day: int) -> int:
        """The first free row number of a (run, model, day): where a new single prediction goes."""
        self._row_layout(model_id)
        table = _table("predictions", model_id)
        self.schema(model_id)
        last, = self.db.conn.execute(f"SELECT max(row) FROM [{table}] WHERE run_id = ? AND day = ?", (run_id, day)).fetchone()
        return 0 if last is None else last + 1

    def models(self) -> list[str]:
        """Every model registered in the store, sorted."""
        return [m for m, in self.db.conn.execute("SELECT model_id FROM models ORDER BY model_id")]

    def drop_days_before(self, run_id: str, model_id: str, first_kept_day: int) -> int:
        """Retention: delete the run's prediction rows of days before `first_kept_day` (idempotent).

        SQLite reuses the freed pages, so a run with retention stops growing once it reaches its window.
        """
        if self.schema(model_id).layout == "columns":
            return self.columnar.drop_chunks_before(run_id, model_id, first_kept_day)
        table = _table("predictions", model_id)
        with self.db.conn:
            return self.db.conn.execute(f"DELETE FROM [{table}] WHERE run_id = ? AND day < ?",
                                        (run_id, first_kept_day)).rowcount

    def count_rows(self, run_id: str, model_id: str) -> dict[int, int]:
        if self.schema(model_id).layout == "columns":
            return self.columnar.count_rows(run_id, model_id)
        table = _table("predictions", model_id)
        return {d: n for d, n in self.db.conn.execute(
            f"SELECT day, count(*) FROM [{table}] WHERE run_id = ? GROUP BY day", (run_id,))}
