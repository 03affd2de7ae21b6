"""Reading a user's prediction log into the predictions store, period by period, in bounded memory.

A log is CSV or Parquet files (a file, a folder or a glob of them, read in name order as one log), a
pandas DataFrame or an Arrow table. It streams through in record batches: each row is checked, mapped
(stores.logschema), given its period (day, week or a count of rows, after the reference period) and a
sample key (a hash of its row number, so the sample does not depend on how the log is chunked), and
each complete period gets its view: the uniform sample of SAMPLE_ROWS rows with the smallest keys,
its labelled rows, and its counts. With the `rows` store the rows themselves are kept too, by column
(stores.columnar). Everything is written in one transaction: a bad row anywhere leaves the stores as
they were, and the error names the file, the column and the first bad row.

Only complete periods are monitored: a day is complete once the log holds a later row, a row period
once it holds its rows. Periods monitored before are read again but not rewritten; one whose row
count changed since is an error (the log was rewritten, not appended to).
"""
from __future__ import annotations

import glob
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np

from stores.columnar import MISSING_CODE
from stores.logschema import CATEGORICAL_MAX_CODES, IDENTIFIER_SHARE, LogSchema, reference_end
from stores.predictions import REFERENCE_PERIOD, SAMPLE_ROWS, Columns, DayView, LabelledRows, ModelSchema

log = logging.getLogger(__name__)

CSV_BLOCK_BYTES = 16 << 20
BATCH_ROWS = 262_144
REFERENCE_SAMPLE_ROWS = 20_000  # the reference window's profile (the simulator's is 5,000 rows)
MAX_LABELLED_ROWS = 1_000_000  # per period; beyond it a uniform sample (by key) stands in for all
PERIOD_SECONDS = {"day": 86400.0, "week": 7 * 86400.0}
STORE_MODES = ("rows", "summaries")


class LogError(ValueError):
    """The log cannot be monitored as given; one line naming the file, the column and the first bad row."""


# ---- where a log comes from -----------------------------------------------------------------------

@dataclass
class LogInput:
    """A log to read batch by batch: files (CSV or Parquet, one format) or an in-memory Arrow table."""

    name: str  # for messages
    files: list[Path] = field(default_factory=list)
    table: object = None  # pyarrow.Table
    kind: str = "table"  # "csv" | "parquet" | "table"

    def first_batch(self):
        """A first batch of the log, as read without a schema (for column names and kinds)."""
        for _, _, batch in self._batches(None, limit_rows=50_000):
            return batch
        return None

    def batches(self, types: dict | None) -> Iterator[tuple[str, int, object]]:
        """(file name, row number of its first row in the whole log, RecordBatch)."""
        yield from self._batches(types)

    def _batches(self, types: dict | None, limit_rows: int | None = None):
        import pyarrow as pa

        if self.kind == "table":
            start = 0
            for batch in self.table.to_batches(max_chunksize=BATCH_ROWS):
                if types:
                    batch = _cast_batch(batch, types, self.name, start)
                yield self.name, start, batch
                start += batch.num_rows
                if limit_rows and start >= limit_rows:
                    return
            return
        start = 0
        for path in self.files:
            for batch in (_csv_batches(path, types) if self.kind == "csv" else _parquet_batches(path, types)):
                if batch.num_rows == 0:
                    continue
                yield str(path), start, batch
                start += batch.num_rows
                if limit_rows and start >= limit_rows:
                    return
        del pa


def _csv_batches(path: Path, types: dict | None):
    import pyarrow as pa
    from pyarrow import csv

    convert = csv.ConvertOptions(column_types=types or {}, strings_can_be_null=True)
    try:
        reader = csv.open_csv(path, read_options=csv.ReadOptions(block_size=CSV_BLOCK_BYTES), convert_options=convert)
        first_row = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            first_row += batch.num_rows
            yield batch
    except pa.ArrowInvalid as exc:
        raise LogError(_csv_error(path, exc, types or {})) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogError(f"{path}: cannot read it as CSV ({exc})") from None


def _parquet_batches(path: Path, types: dict | None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        for batch in handle.iter_batches(batch_size=BATCH_ROWS):
            yield _cast_batch(batch, types, str(path), None) if types else batch
    except pa.ArrowInvalid as exc:
        raise LogError(f"{path}: cannot read it as Parquet ({str(exc).splitlines()[0]})") from None


def _cast_batch(batch, types: dict, name: str, first_row: int | None):
    """A Parquet or in-memory batch cast to the types the CSV reader would be given."""
    import pyarrow as pa

    columns = []
    for field_ in batch.schema:
        target = types.get(field_.name)
        column = batch.column(field_.name)
        if target is not None and column.type != target and not pa.types.is_timestamp(column.type):
            try:
                column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad = _first_uncastable(column, target)
                where = f", row {first_row + bad + 1}" if first_row is not None and bad is not None else ""
                raise LogError(f"{name}: column {field_.name!r}{where}: value {column[bad].as_py()!r} is not "
                               f"{_type_word(target)}" if bad is not None else
                               f"{name}: column {field_.name!r} cannot be read as {_type_word(target)}") from None
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _first_uncastable(column, target) -> int | None:
    for i, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            __import__("pyarrow").array([value]).cast(target)
        except Exception:
            return i
    return None


def _type_word(arrow_type) -> str:
    if "timestamp" in str(arrow_type):
        return "a date-time (ISO 8601, e.g. 2026-03-01T12:00:00Z, or epoch seconds) like the log's first rows"
    return "a number" if "double" in str(arrow_type) or "int" in str(arrow_type) else f"of type {arrow_type}"


def _csv_error(path: Path, exc: Exception, types: dict) -> str:
    """pyarrow's CSV errors as one line naming the column and the first bad row (found by a second,
    slower read of that column alone: only on the way to an error)."""
    import pyarrow as pa
    from pyarrow import csv

    text = str(exc).strip().splitlines()[0]
    found = re.search(r"column #(\d+)", text)
    if not found or "conversion error" not in text:
        return f"{path}: cannot read it as CSV ({text})"
    with open(path, newline="") as handle:
        header = next(__import__("csv").reader(handle), [])
    index = int(found.group(1))
    name = header[index] if index < len(header) else f"#{index}"
    target = types.get(name, pa.float64())
    reader = csv.open_csv(path, read_options=csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                          convert_options=csv.ConvertOptions(include_columns=[name], column_types={name: pa.string()}))
    start = 0
    for batch in reader:
        column = batch.column(0)
        try:
            column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = _first_uncastable(column, target)
            if bad is not None:
                row = start + bad + 1
                return (f"{path}: row {row:,} (line {row + 1:,}): column {name!r}: {column[bad].as_py()!r} is not "
                        f"{_type_word(target)}")
        start += batch.num_rows
    return f"{path}: column {name!r}: {text}"


def open_log(source) -> LogInput:
    """A file, folder or glob (CSV or Parquet), a pandas DataFrame, or an Arrow table."""
    import pyarrow as pa

    if isinstance(source, pa.Table):
        return LogInput("Arrow table", table=source)
    if hasattr(source, "to_parquet") and hasattr(source, "columns"):  # a pandas DataFrame, without importing pandas
        try:
            return LogInput("DataFrame", table=pa.Table.from_pandas(source, preserve_index=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise LogError(f"DataFrame: cannot convert it to columns ({str(exc).splitlines()[0]})") from None
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet", ".pq") and p.is_file())
        if not files:
            raise LogError(f"{path}: the folder holds no .csv or .parquet files")
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        if not files:
            raise LogError(f"{text}: no file matches")
    elif path.is_file():
        files = [path]
    else:
        raise LogError(f"{path}: no such file or folder")
    kinds = {"csv" if f.suffix.lower() == ".csv" else "parquet" if f.suffix.lower() in (".parquet", ".pq") else "?"
             for f in files}
    if "?" in kinds:
        odd = next(f for f in files if f.suffix.lower() not in (".csv", ".parquet", ".pq"))
        raise LogError(f"{odd}: not a .csv or .parquet file")
    if len(kinds) > 1:
        raise LogError(f"{text}: mixes CSV and Parquet files; give one format")
    for f in files:
        if f.stat().st_size == 0:
            raise LogError(f"{f}: the file is empty")
    return LogInput(text, files=files, kind=kinds.pop())


# ---- the mapping applied to a concrete log ---------------------------------------------------------

@dataclass
class ResolvedLog:
    """The schema resolved against the log's columns: what each column is and how it is read."""

    model: ModelSchema
    timestamp_numeric: bool  # epoch seconds (or ms, us) rather than date-time text
    read_types: dict  # column -> arrow type for reading

    def settings(self) -> dict:
        """What a later run of the same run id must find again (else the log's columns changed)."""
        return {"numeric": self.model.numeric, "categorical": self.model.categorical, "group": self.model.group,
                "thresholds": self.model.thresholds, "timestamp_numeric": self.timestamp_numeric}


def resolve(log_input: LogInput, schema: LogSchema, model_id: str) -> ResolvedLog:
    """Map the schema onto the log's columns, inferring each feature's kind from a first batch."""
    import pyarrow as pa

    first = log_input.first_batch()
    if first is None or first.num_rows == 0:
        raise LogError(f"{log_input.name}: the log has no rows")
    columns = {f.name: f.type for f in first.schema}
    for role, name in (("timestamp", schema.timestamp), ("score", schema.score), ("prediction", schema.prediction),
                       ("label", schema.label), ("group", schema.group), ("model version", schema.model_version),
                       ("latency", schema.latency)):
        if name and name not in columns:
            raise LogError(f"{log_input.name}: no {role} column {name!r} (columns: {_names(columns)})")
    for name in [*schema.ignore, *(schema.features or []), *schema.kinds, *schema.thresholds]:
        if name not in columns:
            raise LogError(f"{log_input.name}: no column {name!r} (columns: {_names(columns)})")
    roles = {c for c in (schema.timestamp, schema.score, schema.prediction, schema.label, schema.model_version,
                         schema.latency) if c}
    features = list(schema.features) if schema.features is not None else [
        c for c in columns if c not in roles and c not in schema.ignore]
    if schema.group and schema.group not in features:
        features.append(schema.group)  # the group is an input too: its mix can drift
    numeric, categorical = [], []
    for name in features:
        kind = "categorical" if name == schema.group else schema.kinds.get(name) or _infer_kind(
            name, columns[name], first.column(name), log_input.name)
        (numeric if kind == "numeric" else categorical).append(name)
    if not features:
        raise LogError(f"{log_input.name}: no feature columns left to monitor (columns: {_names(columns)})")
    ts_type = columns[schema.timestamp]
    timestamp_numeric = pa.types.is_integer(ts_type) or pa.types.is_floating(ts_type)
    read_types = {name: pa.float64() for name in numeric}
    read_types.update({name: pa.string() for name in categorical})
    read_types.update({c: pa.float64() for c in (schema.score, schema.latency) if c})
    read_types.update({schema.model_version: pa.string()} if schema.model_version else {})
    for column in (schema.prediction, schema.label):  # 0/1 read as numbers (fast); true/false as text
        if column:
            numeric_labels = any(f(columns[column]) for f in (pa.types.is_integer, pa.types.is_floating, pa.types.is_null))
            read_types[column] = pa.float64() if numeric_labels else pa.string()
    if not pa.types.is_timestamp(ts_type):
        read_types[schema.timestamp] = (pa.float64() if timestamp_numeric
                                        else _timestamp_type(first.column(schema.timestamp)))
    model = ModelSchema(model_id, numeric, categorical, schema.group,
                        {k: float(v) for k, v in schema.thresholds.items()}, layout="columns")
    return ResolvedLog(model, timestamp_numeric, read_types)


def _timestamp_type(column):
    """The type the reader parses the log's date-time text into, natively (fast) when the first batch
    allows: with zone offsets, or without (taken as UTC); else text, parsed row by row (any ISO 8601)."""
    import pyarrow as pa

    for target in (pa.timestamp("ns", tz="UTC"), pa.timestamp("ns")):
        try:
            column.cast(target)
            return target
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return pa.string()


def _names(columns) -> str:
    names = list(columns)
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def _infer_kind(name: str, arrow_type, column, where: str) -> str:
    """Numbers are numeric, except integer codes with few values; text and booleans are categorical."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(arrow_type) or pa.types.is_dictionary(arrow_type):
        return "categorical"
    if pa.types.is_integer(arrow_type):
        return "categorical" if len(pc.unique(column.drop_null())) <= CATEGORICAL_MAX_CODES else "numeric"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "numeric"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        present = column.drop_null()
        if len(present) >= 100 and len(pc.unique(present)) > IDENTIFIER_SHARE * len(present):
            raise LogError(f"{where}: column {name!r} looks like an identifier ({len(pc.unique(present)):,} distinct "
                           f"values in {len(present):,} rows), not a feature; leave it out with --ignore-cols {name} "
                           "(or list the features with --features)")
        return "categorical"
    if pa.types.is_null(arrow_type):
        return "numeric"
    raise LogError(f"{where}: column {name!r} holds {arrow_type}, which mlmon cannot monitor as a feature; leave it out "
                   f"with --ignore-cols {name}")


# ---- one batch, checked and mapped ------------------------------------------------------------------

def _row_word(kind: str, name: str, first_row: int, index: int) -> str:
    row = first_row + index + 1
    return f"{name}: row {row:,}" + (f" (line {row + 1:,})" if kind == "csv" else "")


def _timestamps(column, numeric: bool, name: str, where) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(column.type):
        if column.null_count:
            raise LogError(f"{where(int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]))}: "
                           f"column {name!r} has no time")
        unit = column.type.unit
        values = pc.cast(column, pa.timestamp(unit, tz=column.type.tz)).cast(pa.int64()).to_numpy()
        return values / {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]
    if numeric:
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise LogError(f"{where(int(bad[0]))}: column {name!r} has no time")
        scale = 1e6 if np.nanmax(np.abs(values)) > 1e14 else 1e3 if np.nanmax(np.abs(values)) > 1e11 else 1.0
        return values / scale  # epoch seconds; milliseconds and microseconds are recognised by their size
    import pandas as pd

    text = column.to_pandas()
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise LogError(f"{where(int(bad[0]))}: column {name!r}: {text.iloc[bad[0]]!r} is not a date-time "
                       "(ISO 8601, e.g. 2026-03-01T12:00:00Z, or epoch seconds)")
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9


def _binary(column, name: str, where, allow_missing: bool) -> np.ndarray:
    """0/1 (also true/false, 0.0/1.0) as floats, NaN where missing (if allowed)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_null(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        missing = np.isnan(values)
        bad = np.flatnonzero(~missing & (values != 0.0) & (values != 1.0))
        if len(bad):
            value = values[bad[0]]
            raise LogError(f"{where(int(bad[0]))}: column {name!r}: {int(value) if value.is_integer() else value} "
                           "is not 0 or 1")
        if not allow_missing and missing.any():
            raise LogError(f"{where(int(np.flatnonzero(missing)[0]))}: column {name!r} is empty")
        return values
    text = pc.utf8_lower(pc.utf8_trim_whitespace(column.cast(pa.string())))
    values = np.full(len(column), np.nan)
    for word, value in (("0", 0.0), ("1", 1.0), ("0.0", 0.0), ("1.0", 1.0), ("false", 0.0), ("true", 1.0)):
        values[pc.equal(text, word).to_numpy(zero_copy_only=False) == True] = value  # noqa: E712 (nulls are None)
    missing = text.is_null().to_numpy(zero_copy_only=False) | (pc.equal(text, "").to_numpy(zero_copy_only=False) == True)  # noqa: E712
    bad = np.flatnonzero(np.isnan(values) & ~missing)
    if len(bad):
        raise LogError(f"{where(int(bad[0]))}: column {name!r}: {column[int(bad[0])].as_py()!r} is not 0 or 1")
    if not allow_missing and missing.any():
        raise LogError(f"{where(int(np.flatnonzero(missing)[0]))}: column {name!r} is empty")
    return values


class CategoryCoder:
    """Category values -> stable integer codes per column, extended as new values appear."""

    def __init__(self, known: dict[str, dict[str, int]]):
        self.known = known
        self.new: dict[str, dict[str, int]] = {}

    def encode(self, column, name: str) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(column.cast(pa.string()) if not pa.types.is_string(column.type) else column)
        local = encoded.dictionary.to_pylist()
        codes = self.known.setdefault(name, {})
        mapping = np.empty(len(local) + 1, dtype=np.int32)
        for i, value in enumerate(local):
            if value not in codes:
                codes[value] = len(codes)
                self.new.setdefault(name, {})[value] = codes[value]
            mapping[i] = codes[value]
        mapping[-1] = MISSING_CODE
        indices = encoded.indices.fill_null(len(local)).to_numpy(zero_copy_only=False)
        return mapping[indices]


def sample_keys(rows: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random key per row number (splitmix64): the sample is the smallest keys, however
    the log is chunked or grows.

    >>> sample_keys(np.arange(3)).tolist() == sample_keys(np.arange(5))[:3].tolist()
    True
    """
    z = rows.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def convert_batch(batch, first_row: int, file: str, kind: str, schema: LogSchema, resolved: ResolvedLog,
                  coder: CategoryCoder) -> dict[str, np.ndarray]:
    """A record batch as checked numpy columns (see the module docstring for what is checked)."""
    n = batch.num_rows
    where = lambda i: _row_word(kind, file, first_row, i)  # noqa: E731
    model = resolved.model
    present = set(batch.schema.names)
    for name in [schema.timestamp, *(c for c in (schema.score, schema.prediction, schema.label) if c),
                 *model.numeric, *model.categorical]:
        if name not in present:
            raise LogError(f"{file}: no column {name!r} (it is in the log's first file)")
    out = {"row": np.arange(first_row, first_row + n, dtype=np.int64)}
    out["ts"] = _timestamps(batch.column(schema.timestamp), resolved.timestamp_numeric, schema.timestamp, where)
    if schema.score:
        score = batch.column(schema.score).to_numpy(zero_copy_only=False).astype(np.float64)
        bad = np.flatnonzero(~((score >= 0) & (score <= 1)))  # NaN fails too
        if len(bad):
            value = batch.column(schema.score)[int(bad[0])].as_py()
            raise LogError(f"{where(int(bad[0]))}: column {schema.score!r}: score {value!r} is not a probability in [0, 1]")
        out["score"] = score
    if schema.prediction:
        out["prediction"] = _binary(batch.column(schema.prediction), schema.prediction, where, allow_missing=False)
    else:
        out["prediction"] = (out["score"] >= schema.decision_threshold).astype(np.float64)
    if not schema.score:  # no score: the prediction is the best confidence the log gives
        out["score"] = out["prediction"].copy()
    out["label"] = (_binary(batch.column(schema.label), schema.label, where, allow_missing=True) if schema.label
                    else np.full(n, np.nan))
    out["numeric"] = (np.column_stack([batch.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                                       for c in model.numeric]) if model.numeric else np.empty((n, 0)))
    out["categorical"] = (np.column_stack([coder.encode(batch.column(c), c) for c in model.categorical])
                          if model.categorical else np.empty((n, 0), dtype=np.int32))
    out["latency_ms"] = (batch.column(schema.latency).to_numpy(zero_copy_only=False).astype(np.float64)
                         if schema.latency else np.full(n, np.nan))
    out["version"] = (coder.encode(batch.column(schema.model_version), "__model_version__") if schema.model_version
                      else np.zeros(n, dtype=np.int32))
    out["key"] = sample_keys(out["row"])
    return out


CHUNK_COLUMNS = ("row", "ts", "numeric", "categorical", "score", "prediction", "label", "version")


def chunk_arrays(part: dict, has_latency: bool) -> dict[str, np.ndarray]:
    """What a stored chunk keeps of a batch's rows (the sample key follows from the row number)."""
    arrays = {k: part[k] for k in CHUNK_COLUMNS}
    arrays["prediction"] = arrays["prediction"].astype(np.int8)
    arrays["label"] = arrays["label"].astype(np.float32)  # 0, 1 or NaN: exact in float32
    if has_latency:
        arrays["latency_ms"] = part["latency_ms"]
    return arrays


# ---- periods -------------------------------------------------------------------------------------

class Periods:
    """Which period each row belongs to (REFERENCE_PERIOD for the reference), and which are complete."""

    def __init__(self, schema: LogSchema):
        self.schema = schema
        self.length = schema.period if isinstance(schema.period, int) else PERIOD_SECONDS[schema.period]
        self.reference_end = reference_end(schema.reference_until) if schema.reference_until else None
        self.origin = self.reference_end  # set from the first monitored row when the reference is a row count
        self.monitored = 0  # monitored rows seen (row periods count them)
        self.reference_rows = 0
        self.max_ts = -math.inf

    def assign(self, arrays: dict, where) -> np.ndarray:
        ts, rows = arrays["ts"], arrays["row"]
        if self.reference_end is not None:
            in_reference = ts < self.reference_end
        else:
            in_reference = rows < self.schema.reference_rows
        period = np.full(len(ts), REFERENCE_PERIOD, dtype=np.int64)
        monitored = np.flatnonzero(~in_reference)
        self.reference_rows += int(in_reference.sum())
        if len(monitored):
            if isinstance(self.length, int):
                period[monitored] = (self.monitored + np.arange(len(monitored))) // self.length
            else:
                if self.origin is None:  # --reference-rows: days start at midnight (UTC) of the first monitored row
                    self.origin = math.floor(ts[monitored[0]] / 86400.0) * 86400.0
                early = monitored[ts[monitored] < self.origin]
                if len(early):
                    raise LogError(f"{where(int(early[0]))}: a row from before the first monitored day; with "
                                   "--reference-rows the log must be in time order (or use --reference-until)")
                period[monitored] = np.floor((ts[monitored] - self.origin) / self.length).astype(np.int64)
                self.max_ts = max(self.max_ts, float(ts[monitored].max()))
            self.monitored += len(monitored)
        return period

    def complete(self) -> int:
        """How many periods (0, 1, ...) are complete."""
        if isinstance(self.length, int):
            return self.monitored // self.length
        if self.origin is None or self.max_ts == -math.inf:
            return 0
        return int(math.floor((self.max_ts - self.origin) / self.length))

    def start(self, period: int) -> str:
        """The period's start, as an ISO date (day, week) or row number."""
        if isinstance(self.length, int):
            return f"row {self.reference_rows + period * self.length + 1:,}"
        moment = datetime.fromtimestamp(self.origin + period * self.length, tz=timezone.utc)
        return moment.date().isoformat() if moment.hour == moment.minute == moment.second == 0 else moment.isoformat()


class PeriodView:
    """One period's view, accumulated batch by batch: the smallest-key sample, labelled rows, counts."""

    def __init__(self, sample_size: int):
        self.sample_size = sample_size
        self.n_rows = self.n_labelled = self.correct = 0
        self.sum_prediction = self.sum_score = 0.0
        self.versions: set[int] = set()
        self.sample: dict | None = None
        self.labelled: list[dict] = []

    def add(self, part: dict, group_index: int | None) -> None:
        n = len(part["row"])
        self.n_rows += n
        label = part["label"]
        has = ~np.isnan(label)
        self.n_labelled += int(has.sum())
        self.correct += int(np.sum(part["prediction"][has] == label[has]))
        self.sum_prediction += float(part["prediction"].sum())
        self.sum_score += float(part["score"].sum())
        self.versions.update(np.unique(part["version"]).tolist())
        keep = ("key", "numeric", "categorical", "score", "prediction", "label", "latency_ms")
        merged = {k: part[k] for k in keep} if self.sample is None else {
            k: np.concatenate([self.sample[k], part[k]]) for k in keep}
        if len(merged["key"]) > self.sample_size:
            chosen = np.argpartition(merged["key"], self.sample_size - 1)[:self.sample_size]
            merged = {k: v[chosen] for k, v in merged.items()}
        self.sample = merged
        if has.any():
            group = part["categorical"][has, group_index] if group_index is not None else np.full(int(has.sum()), -1, np.int32)
            self.labelled.append({"key": part["key"][has], "group": group, "score": part["score"][has],
                                  "prediction": part["prediction"][has], "label": label[has]})
            if sum(len(x["key"]) for x in self.labelled) > 2 * MAX_LABELLED_ROWS:
                self._trim_labelled()

    def _trim_labelled(self) -> None:
        merged = {k: np.concatenate([x[k] for x in self.labelled]) for k in self.labelled[0]}
        if len(merged["key"]) > MAX_LABELLED_ROWS:
            chosen = np.argpartition(merged["key"], MAX_LABELLED_ROWS - 1)[:MAX_LABELLED_ROWS]
            merged = {k: v[chosen] for k, v in merged.items()}
        self.labelled = [merged]

    def view(self, day: int, version_names: list[str]) -> DayView:
        s = self.sample
        order = np.argsort(s["key"], kind="stable")  # a fixed order: the same log gives the same view
        sample = Columns(s["numeric"][order], s["categorical"][order], s["score"][order], s["prediction"][order],
                         s["label"][order], s["latency_ms"][order])
        if self.labelled:
            self._trim_labelled()
            lab = self.labelled[0]
            order = np.argsort(lab["key"], kind="stable")
            labelled = LabelledRows(lab["group"][order], lab["score"][order], lab["prediction"][order], lab["label"][order])
        else:
            labelled = LabelledRows(np.empty(0, np.int32), np.empty(0), np.empty(0), np.empty(0))
        versions = sorted(version_names[v] if v < len(version_names) else str(v) for v in self.versions)
        return DayView(day, self.n_rows, versions, sample, labelled)

    def summary(self) -> dict:
        return {"n_labelled": self.n_labelled, "correct": self.correct,
                "accuracy": self.correct / self.n_labelled if self.n_labelled else None,
                "predicted_positive_rate": self.sum_prediction / self.n_rows if self.n_rows else None,
                "mean_score": self.sum_score / self.n_rows if self.n_rows else None}


# ---- the ingest ------------------------------------------------------------------------------------

@dataclass
class IngestResult:
    periods: int  # complete periods in the log
    new_periods: list[int]  # complete periods stored by this ingest
    reference_rows: int
    reference_labelled: int
    pending_rows: int  # rows of the incomplete last period, monitored once it is complete
    rows_read: int
    starts: dict[int, str]  # period -> its start


def ingest(stores, run_id: str, log_input: LogInput, schema: LogSchema, resolved: ResolvedLog, store_mode: str,
           on_progress=lambda rows: None) -> IngestResult:
    """Read the whole log and store the periods not stored yet (one transaction: all or nothing)."""
    columnar = stores.predictions.columnar
    model = resolved.model
    known = columnar.periods(run_id, model.model_id)
    coder = CategoryCoder({c: columnar.codes(model.model_id, c) for c in [*model.categorical, "__model_version__"]})
    periods = Periods(schema)
    views: dict[int, PeriodView] = {}
    counts: dict[int, int] = {}  # rows per period, known ones included (to check they did not change)
    chunk_numbers: dict[int, int] = {}
    group_index = model.categorical.index(model.group) if model.group else None
    rows_read = 0
    conn = stores.db.conn
    conn.execute("BEGIN")
    try:
        for file, first_row, batch in log_input.batches(resolved.read_types):
            arrays = convert_batch(batch, first_row, file, log_input.kind, schema, resolved, coder)
            where = lambda i, f=file, r=first_row: _row_word(log_input.kind, f, r, i)  # noqa: E731
            period = periods.assign(arrays, where)
            days, sizes = np.unique(period, return_counts=True)
            for day, size in zip(days.tolist(), sizes.tolist()):
                counts[day] = counts.get(day, 0) + size
                if day in known:
                    continue
                part = {k: v[period == day] for k, v in arrays.items()}
                sample_size = REFERENCE_SAMPLE_ROWS if day == REFERENCE_PERIOD else SAMPLE_ROWS
                views.setdefault(day, PeriodView(sample_size)).add(part, group_index)
                if store_mode == "rows":
                    chunk_numbers[day] = chunk_numbers.get(day, -1) + 1
                    columnar.write_chunk(run_id, model.model_id, day, chunk_numbers[day],
                                         chunk_arrays(part, schema.latency is not None))
            rows_read += batch.num_rows
            on_progress(rows_read)
        if rows_read == 0:
            raise LogError(f"{log_input.name}: the log has no rows")
        complete = periods.complete()
        _check_reference(views.get(REFERENCE_PERIOD), known, log_input.name, schema)
        _check_unchanged(known, counts, complete, periods, log_input.name)
        new = [d for d in range(complete) if d not in known]
        empty = [d for d in new if d not in views]
        if empty:
            raise LogError(f"{log_input.name}: period {empty[0]} (from {periods.start(empty[0])}) has no rows; every "
                           f"period up to the last complete one needs rows")
        stores.predictions.record_log_model(model)
        for column, values in coder.new.items():
            columnar.add_codes(model.model_id, column, values)
        if store_mode == "rows":  # the rows of the incomplete last period are stored once it is complete
            columnar.delete_days(run_id, model.model_id, [d for d in views if d >= complete])
        version_names = _version_names(coder)
        for day in ([REFERENCE_PERIOD] if REFERENCE_PERIOD not in known else []) + new:
            view = views[day].view(day, version_names)
            start = "reference" if day == REFERENCE_PERIOD else periods.start(day)
            columnar.write_view(run_id, model.model_id, day, view, start, views[day].summary())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    reference = known.get(REFERENCE_PERIOD) or {"n_rows": views[REFERENCE_PERIOD].n_rows,
                                                "n_labelled": views[REFERENCE_PERIOD].n_labelled}
    return IngestResult(periods=complete, new_periods=new, reference_rows=reference["n_rows"],
                        reference_labelled=reference["n_labelled"],
                        pending_rows=sum(n for d, n in counts.items() if d >= complete), rows_read=rows_read,
                        starts={d: periods.start(d) for d in range(complete)})


def _check_reference(view: PeriodView | None, known: dict, name: str, schema: LogSchema) -> None:
    if REFERENCE_PERIOD in known:
        return
    if view is None or view.n_rows == 0:
        raise LogError(f"{name}: the reference period has no rows (check --reference-until / --reference-rows against "
                       "the log's first timestamps)")
    if view.n_labelled == 0:
        raise LogError(f"{name}: the reference period has no labels; mlmon needs labelled reference rows to know how "
                       f"good the model was" + (f" (column {schema.label!r})" if schema.label else " (map --label-col)"))


def _check_unchanged(known: dict, counts: dict, complete: int, periods: Periods, name: str) -> None:
    """Periods monitored before must hold what they held: a log grows, it is not rewritten."""
    for day, stored in sorted(known.items()):
        now = counts.get(day, 0)
        if now != stored["n_rows"]:
            what = "the reference period" if day == REFERENCE_PERIOD else f"period {day} ({stored['start']})"
            raise LogError(f"{name}: {what} held {stored['n_rows']:,} rows when it was monitored and now holds {now:,}; "
                           "the log was rewritten, not appended to (use a new --run-id to monitor it afresh)")
    if known and complete < max(known) + 1:
        raise LogError(f"{name}: the log now holds {complete} complete periods, fewer than the {max(known) + 1} "
                       "monitored before")


def _version_names(coder: CategoryCoder) -> list[str]:
    codes = coder.known.get("__model_version__", {})
    names = [""] * len(codes)
    for value, code in codes.items():
        names[code] = value
    return names or ["log"]
