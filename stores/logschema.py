"""How a user's prediction log maps onto mlmon: which column is the time, the score, the prediction,
the label, the group, and which are features (numeric or categorical, each with its drift threshold).

Given by command-line flags or a TOML file (`--schema FILE`) with the same keys:

    model_id = "churn_v3"
    timestamp_col = "ts"
    score_col = "proba"                 # a probability in [0, 1]; at least one of score and prediction
    prediction_col = "predicted"        # 0/1; from the score and decision_threshold if absent
    label_col = "churned"               # 0/1, missing where the label has not arrived
    group_col = "region"                # optional: per-group accuracy and the bias gap
    features = ["age", "plan", "spend"] # default: every column not mapped above and not ignored
    ignore = ["request_id"]             # columns that are not features
    period = "day"                      # day | week | a number of rows
    reference_until = "2026-03-31"      # or reference_rows = 50000
    [columns.plan]
    kind = "categorical"                # numeric | categorical; inferred if absent
    drift_threshold = 0.15              # this column's drift threshold (effect size)
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

KINDS = ("numeric", "categorical")
TOP_KEYS = {"model_id", "timestamp_col", "score_col", "prediction_col", "label_col", "group_col", "features", "ignore",
            "period", "reference_until", "reference_rows", "decision_threshold", "model_version_col", "latency_col",
            "columns", "cost_per_error", "sla_accuracy"}
COLUMN_KEYS = {"kind", "drift_threshold"}
MODEL_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
CATEGORICAL_MAX_CODES = 20  # an integer column with at most this many distinct values is a categorical code
IDENTIFIER_SHARE = 0.5  # a text column whose values are mostly distinct is an identifier, not a feature


class SchemaError(ValueError):
    """The column mapping is wrong; the message names the key or column, in one line."""


@dataclass
class LogSchema:
    timestamp: str
    score: str | None = None
    prediction: str | None = None
    label: str | None = None
    group: str | None = None
    features: list[str] | None = None  # None: every unmapped column
    ignore: list[str] = field(default_factory=list)
    model_id: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # column -> numeric | categorical (explicit)
    thresholds: dict[str, float] = field(default_factory=dict)  # column -> drift threshold (effect size)
    decision_threshold: float = 0.5
    model_version: str | None = None
    latency: str | None = None
    period: str | int = "day"
    reference_until: str | None = None  # an ISO date or date-time, inclusive
    reference_rows: int | None = None
    cost_per_error: float = 1.0  # dollars per wrong prediction, for impact figures
    sla_accuracy: float | None = None  # default: the reference accuracy minus 0.05

    def mapped(self) -> list[str]:
        return [c for c in (self.timestamp, self.score, self.prediction, self.label, self.group, self.model_version,
                            self.latency) if c]

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        """The mapping on its own (without the log): raises SchemaError."""
        if not self.timestamp:
            raise SchemaError("the timestamp column is required (--timestamp-col, or timestamp_col in the schema)")
        if not (self.score or self.prediction):
            raise SchemaError("a score or a prediction column is required (--score-col / --prediction-col)")
        if self.model_id is not None and not MODEL_ID.fullmatch(self.model_id):
            raise SchemaError(f"model id {self.model_id!r} must be letters, digits and underscores, starting with a letter")
        mapped = self.mapped()
        duplicates = {c for c in mapped if mapped.count(c) > 1}
        if duplicates:
            raise SchemaError(f"column {sorted(duplicates)[0]!r} is mapped twice")
        for name in self.features or []:
            if name in mapped:
                raise SchemaError(f"column {name!r} is mapped as {self._role(name)} and cannot also be a feature")
        for name, kind in self.kinds.items():
            if kind not in KINDS:
                raise SchemaError(f"column {name!r}: kind must be numeric or categorical, not {kind!r}")
        for name, value in self.thresholds.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
                raise SchemaError(f"column {name!r}: drift_threshold must be a number in (0, 1], not {value!r}")
        if isinstance(self.period, str) and self.period not in ("day", "week"):
            raise SchemaError(f"period must be day, week or a number of rows, not {self.period!r}")
        if isinstance(self.period, int) and (isinstance(self.period, bool) or self.period < 100):
            raise SchemaError(f"a period of {self.period} rows is too small to measure anything (at least 100)")
        if (self.reference_until is None) == (self.reference_rows is None):
            raise SchemaError("give exactly one reference period: --reference-until DATE or --reference-rows N")
        if self.reference_rows is not None and (isinstance(self.reference_rows, bool) or self.reference_rows < 100):
            raise SchemaError(f"--reference-rows must be at least 100, not {self.reference_rows}")
        if self.reference_until is not None:
            reference_end(self.reference_until)
        if not 0 < self.decision_threshold < 1:
            raise SchemaError(f"decision_threshold must be in (0, 1), not {self.decision_threshold}")
        if not self.cost_per_error >= 0:
            raise SchemaError(f"cost_per_error must be >= 0, not {self.cost_per_error}")
        if self.sla_accuracy is not None and not 0 < self.sla_accuracy < 1:
            raise SchemaError(f"sla_accuracy must be in (0, 1), not {self.sla_accuracy}")

    def _role(self, name: str) -> str:
        roles = {"timestamp": self.timestamp, "score": self.score, "prediction": self.prediction, "label": self.label,
                 "group": self.group, "model version": self.model_version, "latency": self.latency}
        return next(role for role, column in roles.items() if column == name)


def reference_end(text: str) -> float:
    """The end of the reference period as epoch seconds: a date includes its whole day (UTC)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() + 86400.0
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SchemaError(f"--reference-until {text!r} is not a date (YYYY-MM-DD) or an ISO date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() + 1e-6  # inclusive


def parse_period(text: str | int) -> str | int:
    if isinstance(text, int) or (isinstance(text, str) and text.isdigit()):
        return int(text)
    return text


def from_toml(path: Path) -> dict:
    """The schema file's keys as LogSchema fields; unknown keys are an error naming them."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SchemaError(f"schema file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"schema file {path} is not valid TOML ({exc})") from None
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise SchemaError(f"schema file {path}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(TOP_KEYS))})")
    fields_ = {"model_id": raw.get("model_id"), "timestamp": raw.get("timestamp_col"), "score": raw.get("score_col"),
               "prediction": raw.get("prediction_col"), "label": raw.get("label_col"), "group": raw.get("group_col"),
               "features": raw.get("features"), "ignore": raw.get("ignore"), "model_version": raw.get("model_version_col"),
               "latency": raw.get("latency_col"), "reference_until": raw.get("reference_until"),
               "reference_rows": raw.get("reference_rows"), "decision_threshold": raw.get("decision_threshold"),
               "period": parse_period(raw["period"]) if "period" in raw else None,
               "cost_per_error": raw.get("cost_per_error"), "sla_accuracy": raw.get("sla_accuracy")}
    if isinstance(fields_["reference_until"], (date, datetime)):
        fields_["reference_until"] = fields_["reference_until"].isoformat()
    kinds, thresholds = {}, {}
    columns = raw.get("columns", {})
    if not isinstance(columns, dict):
        raise SchemaError(f"schema file {path}: [columns] must be a table of column tables")
    for name, settings in columns.items():
        if not isinstance(settings, dict):
            raise SchemaError(f"schema file {path}: columns.{name} must be a table (kind, drift_threshold)")
        bad = set(settings) - COLUMN_KEYS
        if bad:
            raise SchemaError(f"schema file {path}: unknown key {sorted(bad)[0]!r} for column {name!r} "
                              f"(known: {', '.join(sorted(COLUMN_KEYS))})")
        if "kind" in settings:
            kinds[name] = settings["kind"]
        if "drift_threshold" in settings:
            thresholds[name] = settings["drift_threshold"]
    fields_["kinds"], fields_["thresholds"] = kinds, thresholds
    for key in ("features", "ignore"):
        value = fields_[key]
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise SchemaError(f"schema file {path}: {key} must be a list of column names")
    return {k: v for k, v in fields_.items() if v is not None}


def build_schema(file: Path | None = None, **given) -> LogSchema:
    """Flags override the schema file; unset flags (None) leave its values."""
    values = from_toml(file) if file is not None else {}
    values.update({k: v for k, v in given.items() if v is not None})
    if "timestamp" not in values:
        raise SchemaError("the timestamp column is required (--timestamp-col, or timestamp_col in the schema)")
    schema = LogSchema(**values)
    schema.check()
    return schema
