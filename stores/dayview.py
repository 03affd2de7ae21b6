"""A day of predictions as the monitoring steps read it: the model's schema, the rows by column, and the
`DayView` (the row count, a uniform sample of rows for distributions, every labelled row for metrics),
built by one function whether the rows come from SQLite (stores.predictions, stores.columnar) or memory."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_ROWS = 2000  # rows per day used for distributional tests (drift, latency percentiles, missingness)
REFERENCE_PERIOD = -1  # a log's reference period, kept beside its periods 0, 1, ...


@dataclass
class ModelSchema:
    model_id: str
    numeric: list[str]
    categorical: list[str]
    group: str | None  # sensitive attribute for bias checks (None: a log without one)
    thresholds: dict = field(default_factory=dict)  # column -> its own drift threshold (effect size)
    layout: str = "rows"  # "rows": a typed column per feature (simulation); "columns": a user's log (stores.columnar)

    @property
    def feature_columns(self) -> list[str]:
        return self.numeric + self.categorical


@dataclass
class Columns:
    """Rows column-wise. `label` is NaN where the ground truth has not arrived."""

    numeric: np.ndarray  # (n, p) float, NaN = missing
    categorical: np.ndarray  # (n, c) str
    score: np.ndarray
    prediction: np.ndarray
    label: np.ndarray
    latency_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def take(self, rows) -> "Columns":
        """The given rows (a boolean mask or indices)."""
        if getattr(rows, "dtype", None) == bool:
            rows = np.flatnonzero(rows)  # index once, not one mask scan per column
        return Columns(**{k: v[rows] for k, v in self.__dict__.items()})


@dataclass
class PredictionLog:
    """One day of one model's predictions as the serving system logs them."""

    model_version: str
    columns: Columns
    seconds: np.ndarray  # time of day of each prediction
    sample_rank: np.ndarray  # random permutation; rank < k selects a uniform sample of k rows


@dataclass
class LabelledRows:
    """The day's rows whose ground truth arrived: all that label-based metrics need."""

    group: np.ndarray  # the sensitive attribute, for per-group metrics
    score: np.ndarray
    prediction: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    @classmethod
    def from_columns(cls, columns: Columns, schema: "ModelSchema") -> "LabelledRows":
        labelled = np.flatnonzero(~np.isnan(columns.label))
        group = columns.categorical[labelled, schema.categorical.index(schema.group)]
        return cls(group, columns.score[labelled], columns.prediction[labelled], columns.label[labelled])


@dataclass
class DayView:
    """What the nodes see of a day: its size, a uniform sample, and all labelled rows."""

    day: int
    n_rows: int
    model_versions: list[str]
    sample: Columns
    labelled: LabelledRows

    @property
    def n_labelled(self) -> int:
        return len(self.labelled)


def view_from_log(day: int, log: PredictionLog, schema: ModelSchema, sample_rows: int = SAMPLE_ROWS) -> DayView:
    """The view `PredictionStore.day_view` returns, taken from an in-memory log (RL env, export)."""
    cols = log.columns
    return DayView(day, len(cols), [log.model_version], cols.take(log.sample_rank < sample_rows),
                   LabelledRows.from_columns(cols, schema))


def reference_from_log(log: PredictionLog, schema: ModelSchema) -> DayView:
    """The view `PredictionStore.reference_view` returns (every row is the sample), from memory."""
    cols = log.columns
    return DayView(-1, len(cols), [log.model_version], cols, LabelledRows.from_columns(cols, schema))
