"""Monitoring a user's own prediction log: the same LangGraph cycle, checkpoints and crash resume as a
simulated run, one period (day, week or N rows) per cycle, with remediation recommended, not applied.

`monitor_log(df_or_path, ...)` is the Python entry point; `python -m graph.run --log FILE ...` is a thin
layer over the same `LogRunConfig`. Running the same command again on a log that has grown monitors only
the new complete periods: a nightly cron job is the deployment.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from graph.errors import RunRefused
from graph.sources import LogSource, log_baseline
from nodes.llm import DEFAULT_TIMEOUT as DEFAULT_LLM_TIMEOUT
from nodes.webhooks import DEFAULT_TIMEOUT as DEFAULT_NOTIFY_TIMEOUT
from stores.ingest import STORE_MODES, IngestResult, LogError, LogInput, ResolvedLog, ingest, open_log, resolve
from stores.logschema import LogSchema, SchemaError, build_schema
from stores.predictions import REFERENCE_PERIOD

# What the stores keep per input byte of a CSV log (benchmarks/ingest.py: rows 1.07x, summaries 0.13x),
# with room for the one ingest transaction passing through the WAL before it reaches the file.
ROWS_BYTES_PER_INPUT_BYTE = 2.5
SUMMARY_BYTES_PER_INPUT_BYTE = 0.3
SUMMARY_BYTES_PER_PERIOD = 2_000_000


@dataclass
class LogRunConfig:
    """A run over a user's log (see graph.runner.RunConfig for a simulated one; the runner asks both the same)."""

    log: object  # a file, folder or glob (CSV or Parquet), a pandas DataFrame, or an Arrow table
    schema: LogSchema
    output_dir: Path
    run_id: str | None = None  # default: log-<model id>, so that the same command resumes and extends the run
    policy: str = "ppo"
    store: str = "rows"
    keep_days: int | None = None  # rows mode: keep the rows of the newest N periods only
    force: bool = False
    use_llm: bool = False  # narrate the periods worth telling with an LLM (a setting of the run)
    llm: object | None = field(default=None, repr=False, compare=False)  # a LangChain chat model instead of ChatOpenAI
    llm_timeout: float = DEFAULT_LLM_TIMEOUT
    notify_webhooks: list[str] = field(default_factory=list, repr=False)  # URLs may hold secrets: never stored or shown
    notify_timeout: float = DEFAULT_NOTIFY_TIMEOUT
    days: int = 0  # complete periods, known once the log is read
    _input: LogInput | None = field(default=None, repr=False)
    _resolved: ResolvedLog | None = field(default=None, repr=False)
    _ingested: IngestResult | None = field(default=None, repr=False)
    _source: LogSource | None = field(default=None, repr=False)

    kind = "log"
    learns = False  # no rewards without a counterfactual: the policy does not learn from a log
    seed = 0  # a random policy's seed (nothing else in a log run is random)

    def __post_init__(self):
        self.output_dir = Path(self.output_dir)
        if self.run_id is None:
            self.run_id = f"log-{self.model_id}"

    @property
    def model_id(self) -> str:
        if self.schema.model_id:
            return self.schema.model_id
        name = "model" if not isinstance(self.log, (str, Path)) else Path(str(self.log).rstrip("/*")).stem or "model"
        cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
        return cleaned if cleaned[:1].isalpha() else f"m_{cleaned}"

    @property
    def models(self) -> list[str]:
        return [self.model_id]

    # ---- what the runner asks ------------------------------------------------------------------
    def validate(self) -> None:
        """Open the log and map the schema onto its columns (a first batch is read; nothing is written)."""
        if self.store not in STORE_MODES:
            raise ValueError(f"--store must be one of {', '.join(STORE_MODES)}, not {self.store!r}")
        if self.keep_days is not None and self.store == "summaries":
            raise ValueError("--keep-days keeps rows, and --store summaries keeps none: give one of them")
        self._input = open_log(self.log)
        self._resolved = resolve(self._input, self.schema, self.model_id)

    def settings(self) -> dict:
        """What identifies the run: its mapping and the columns it found (not the number of periods, which grows)."""
        s = self.schema
        return {"models": self.models, "source": "log", "store": self.store, "policy": self.policy,
                "keep_days": self.keep_days,
                "mapping": {"timestamp": s.timestamp, "score": s.score, "prediction": s.prediction, "label": s.label,
                            "group": s.group, "model_version": s.model_version, "latency": s.latency,
                            "period": s.period, "reference_until": s.reference_until,
                            "reference_rows": s.reference_rows, "decision_threshold": s.decision_threshold,
                            "cost_per_error": s.cost_per_error, "sla_accuracy": s.sla_accuracy},
                "columns": self._resolved.settings(), **({"use_llm": True} if self.use_llm else {})}

    def settings_clash(self, stored: dict) -> str:
        now = self.settings()
        if stored.get("columns") != now["columns"]:
            was, isnow = stored.get("columns", {}), now["columns"]
            changed = [k for k in ("numeric", "categorical", "group") if was.get(k) != isnow.get(k)] or ["types"]
            return (f"the log's columns changed since run {self.run_id} began ({', '.join(changed)}: was "
                    f"{was.get(changed[0]) if changed[0] != 'types' else was}, now "
                    f"{isnow.get(changed[0]) if changed[0] != 'types' else isnow}); monitor it as a new run with --run-id")
        keys = [k for k in now if stored.get(k) != now[k]]
        return (f"run {self.run_id} was started with other settings ({', '.join(keys)}: "
                f"{', '.join(f'{k}={stored.get(k)}' for k in keys)}); drop or match those options, or use another --run-id")

    def estimated_bytes(self, snapshots: dict) -> int:
        if self._input.files:
            size = sum(f.stat().st_size for f in self._input.files)
        else:
            size = self._input.table.nbytes
        if self.store == "summaries":  # the labelled rows' four columns dominate (benchmarks/ingest.py: 0.13x)
            return int(SUMMARY_BYTES_PER_INPUT_BYTE * size) + SUMMARY_BYTES_PER_PERIOD * 10
        return int(ROWS_BYTES_PER_INPUT_BYTE * size)

    def prepare(self, stores, on_event) -> None:
        """Read the log and store its new complete periods (graph.runner calls this before the threads)."""
        on_event("ingest", {"status": f"reading {self._input.name}"})
        started = time.perf_counter()
        try:
            self._ingested = ingest(stores, self.run_id, self._input, self.schema, self._resolved, self.store,
                                    on_progress=lambda rows: on_event("ingest", {"rows": rows}))
        except (LogError, SchemaError) as exc:
            raise RunRefused(str(exc)) from None
        result = self._ingested
        seconds = time.perf_counter() - started
        on_event("ingest", {"status": f"ingest: {result.rows_read:,} rows in {seconds:.2f} s "
                                      f"({result.rows_read / max(seconds, 1e-9):,.0f} rows/s)"})
        self.days = result.periods
        reference = stores.predictions.columnar.view(self.run_id, self.model_id, REFERENCE_PERIOD)
        known = stores.predictions.columnar.periods(self.run_id, self.model_id)
        period_rows = (sum(p["n_rows"] for d, p in known.items() if d >= 0) / max(1, self.days)) if self.days else 0
        self._source = LogSource(self._resolved.model, log_baseline(reference, self._resolved.model, period_rows,
                                                                    self.schema.cost_per_error, self.schema.sla_accuracy),
                                 result.starts, serving_version=reference.model_versions[-1])
        on_event("ingest", {"status": f"{result.rows_read:,} rows read: reference {result.reference_rows:,} rows "
                                      f"({result.reference_labelled:,} labelled); {result.periods} complete periods, "
                                      f"{len(result.new_periods)} new"
                                      + (f"; {result.pending_rows:,} rows wait for their period to end"
                                         if result.pending_rows else "")})

    def source(self, model: str) -> LogSource:
        return self._source

    def thread_settings(self) -> dict:
        return {"scenario": "log", "seed": 0}

    def output_names(self) -> list[str]:
        from graph.runner import output_names

        return output_names(self.run_id, self.models)

    @property
    def report_may_change(self) -> bool:
        """A log that grew rewrites its run's report: that is the point of running again."""
        return bool(self._ingested and self._ingested.new_periods)

    def report(self, stores) -> dict:
        from graph.report import build_log_report

        return build_log_report(stores, self.run_id, self.settings())


def log_config(log, schema: LogSchema | dict | str | Path | None = None, **options) -> LogRunConfig:
    """A LogRunConfig from a schema (a LogSchema, a TOML file, or a dict of its keys) and options.

    Options that are schema keys (timestamp_col, score_col, ..., period, reference_until) override the
    schema's; the others (output_dir, run_id, policy, store, keep_days, force, use_llm, llm, llm_timeout,
    notify_webhooks, notify_timeout) are the run's.
    """
    run_keys = {"output_dir", "run_id", "policy", "store", "keep_days", "force", "use_llm", "llm", "llm_timeout",
                "notify_webhooks", "notify_timeout"}
    run_options = {k: options.pop(k) for k in list(options) if k in run_keys}
    flag_names = {"timestamp_col": "timestamp", "score_col": "score", "prediction_col": "prediction",
                  "label_col": "label", "group_col": "group", "model_version_col": "model_version",
                  "latency_col": "latency"}
    given = {flag_names.get(k, k): v for k, v in options.items()}
    if isinstance(schema, LogSchema):
        merged = {**schema.to_dict(), **{k: v for k, v in given.items() if v is not None}}
        built = LogSchema(**merged)
        built.check()
    elif isinstance(schema, dict):
        built = build_schema(None, **{flag_names.get(k, k): v for k, v in {**schema, **given}.items()})
    else:
        built = build_schema(Path(schema) if schema is not None else None, **given)
    run_options.setdefault("output_dir", Path("simulation_results"))
    return LogRunConfig(log=log, schema=built, **run_options)


def monitor_log(log, schema: LogSchema | dict | str | Path | None = None, **options) -> dict:
    """Monitor a prediction log, period by period, and return the run's report.

    `log` is a pandas DataFrame, an Arrow table, or a CSV/Parquet file, folder or glob. The schema maps
    its columns (see stores.logschema: `timestamp_col`, `score_col`, `prediction_col`, `label_col`,
    `group_col`, `features`, `period`, `reference_until` or `reference_rows`, ...), as a dict, a TOML
    file or keyword arguments. Run options: `output_dir` (default simulation_results/), `run_id`
    (default log-<model id>), `policy` (default ppo; its recommendations are recorded, never applied),
    `store` (rows | summaries), `keep_days`, `force`; `use_llm` (narratives by ChatOpenAI, or by `llm`, any
    LangChain chat model), `notify_webhooks` (URLs that receive incident events). Calling it again with a
    grown log monitors only the new periods.

    >>> import numpy as np, pandas as pd, tempfile
    >>> rng = np.random.default_rng(0)
    >>> n = 9 * 1000                                   # nine days, 1,000 predictions a day
    >>> day = np.repeat(np.arange(9), 1000)
    >>> x = rng.normal(size=n) + np.where(day >= 6, 1.5, 0.0)   # the input shifts on day 6
    >>> p = 1 / (1 + np.exp(-2 * x))
    >>> df = pd.DataFrame({"ts": pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(day * 86400 + rng.uniform(0, 86400, n), unit="s"),
    ...                    "x": x, "plan": rng.choice(["basic", "pro"], n), "proba": p,
    ...                    "label": (rng.uniform(size=n) < p).astype(float)})
    >>> report = monitor_log(df, timestamp_col="ts", score_col="proba", label_col="label", period="day",
    ...                      reference_until="2026-03-02", output_dir=tempfile.mkdtemp(), policy="rules")
    >>> [(d["date"], d["drift_severity"]) for d in report["days"]][-3:]
    [('2026-03-06', 'low'), ('2026-03-07', 'critical'), ('2026-03-08', 'critical')]
    >>> report["summary"]["periods"], report["summary"]["incidents"] >= 1   # the 9th day is still open
    (6, True)
    """
    from graph.runner import execute

    config = log_config(log, schema, **options)
    return execute(config).report
