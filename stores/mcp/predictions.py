"""The predictions MCP server: each model's prediction log, summarised per day unless raw rows are asked for,
and accuracy over a time window; with --allow-writes, store_prediction.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import Field

from stores.db import EPOCH, day_date
from stores.mcp.common import (MAX_TEXT, READ_ONLY, WRITES, Day, ModelId, RunId, StoreFile, add_list_runs, as_json,
                               day_label, day_range, iso_time, number, parse_day, run_and_model, shown, tool)

MAX_ROWS = 200  # raw prediction rows per call: each is a few hundred characters of an LLM's context
MAX_SUMMARY_DAYS = 92  # one summary line per day

INSTRUCTIONS = (
    "Prediction logs of the models mlmon monitors: every prediction with its features, score, predicted class, "
    "ground-truth label (when it has arrived) and latency. Start with list_runs; get_predictions summarises "
    "days (counts, accuracy), calculate_accuracy gives accuracy over the last hours of a run. Days are numbered "
    f"from 0 = {day_date(0)}.")


def _summary_day(row: dict) -> dict:
    return {**day_label(row["day"]), "predictions": row["predictions"], "labelled": row["labelled"],
            "accuracy": number(row["accuracy"]), "predicted_positive_rate": number(row["predicted_positive_rate"]),
            "mean_score": number(row["mean_score"]), "model_versions": row["model_versions"]}


def _raw_row(row: dict) -> dict:
    """A stored row as an LLM reads it: time as ISO text, no storage-only columns."""
    skip = {"run_id", "numeric_blob", "sample_rank", "ts"}
    return {"date": day_date(row["day"]), "time": iso_time(row["ts"]),
            **{k: (number(v) if isinstance(v, float) else v) for k, v in row.items() if k not in skip}}


def predictions_summary(store: StoreFile, model_id: str, start, end, run_id: str | None) -> dict:
    with store.open() as stores:
        run = run_and_model(stores, run_id, model_id)
        counts = stores.predictions.count_rows(run["run_id"], model_id)
        if not counts:
            return {"run_id": run["run_id"], "model_id": model_id, "days": [], "note": "no predictions stored yet"}
        last = parse_day(end, "end")
        last = max(counts) if last is None else last
        # Without a start, the summary ends at `end` and reaches back as far as one call may.
        first, last = day_range(start, last, max(min(counts), last - MAX_SUMMARY_DAYS + 1), last)
        if last - first + 1 > MAX_SUMMARY_DAYS:
            raise ToolError(f"day range {first}..{last} is {last - first + 1} days; summaries cover at most "
                            f"{MAX_SUMMARY_DAYS} days per call")
        days = stores.predictions.daily_summary(run["run_id"], model_id, first, last)
    labelled = sum(d["labelled"] for d in days)
    correct = sum(d["correct"] for d in days)
    return {"run_id": run["run_id"], "model_id": model_id, "start": day_label(first), "end": day_label(last),
            "days": [_summary_day(d) for d in days],
            "totals": {"predictions": sum(d["predictions"] for d in days), "labelled": labelled,
                       "accuracy": number(correct / labelled) if labelled else None},
            "run_days_with_predictions": {"first": min(counts), "last": max(counts)}}


def build(store: StoreFile, allow_writes: bool = False) -> MCPServer:
    server = MCPServer("mlmon-predictions", instructions=INSTRUCTIONS)
    add_list_runs(server, store)

    @tool(server, READ_ONLY)
    def get_predictions(
        model_id: ModelId,
        start: Day = None,
        end: Day = None,
        run_id: RunId = None,
        rows: Annotated[bool, Field(description="False (default): one summary line per day. True: the raw "
                                                "prediction rows, in day and row order, at most `limit` of them.")] = False,
        limit: Annotated[int, Field(ge=1, le=MAX_ROWS, description=f"With rows=true, at most this many rows "
                                                                   f"(1 to {MAX_ROWS}).")] = 20,
    ) -> dict:
        """A model's predictions over a day range (start..end inclusive; default: the run's days up to end,
        at most 92 of them). By default a summary per day: number of predictions, how many have a ground-truth label,
        accuracy on those, predicted-positive rate, mean score and the model versions that served. With
        rows=true, raw rows instead (features, score, prediction, label, latency_ms), with the number of
        rows that matched so you can tell when the list was cut."""
        if not rows:
            return predictions_summary(store, model_id, start, end, run_id)
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            counts = stores.predictions.count_rows(run["run_id"], model_id)
            if not counts:
                return {"run_id": run["run_id"], "model_id": model_id, "rows": [], "matching": 0, "truncated": False}
            first, last = day_range(start, end, min(counts), max(counts))
            found = stores.predictions.get_predictions(model_id, (first, last), run_id=run["run_id"], limit=limit)
        matching = sum(n for d, n in counts.items() if first <= d <= last)
        return {"run_id": run["run_id"], "model_id": model_id, "start": day_label(first), "end": day_label(last),
                "rows": [_raw_row(r) for r in found], "matching": matching, "truncated": matching > len(found)}

    @tool(server, READ_ONLY)
    def calculate_accuracy(
        model_id: ModelId,
        window_hours: Annotated[float, Field(gt=0, le=24 * 366, allow_inf_nan=False, description=(
            "Length of the window in hours, ending at the run's newest prediction (24 = its last day)."))] = 24.0,
        run_id: RunId = None,
    ) -> dict:
        """Accuracy of a model's predictions whose ground-truth label has arrived, over the last window_hours
        of the run (the window ends at the newest stored prediction). Returns the accuracy (null when no
        labelled prediction falls in the window), the numbers of correct and labelled predictions, and the
        window's start and end times (UTC)."""
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            result = stores.predictions.accuracy_in_window(model_id, window_hours, run_id=run["run_id"])
        return {"run_id": run["run_id"], "model_id": model_id, "window_hours": window_hours,
                "accuracy": number(result["accuracy"]), "correct": result["correct"], "labelled": result["labelled"],
                "window_start": iso_time(result["since_ts"]), "window_end": iso_time(result["until_ts"])}

    @server.resource("predictions://{model_id}/summary", mime_type="application/json",
                     description="Per-day prediction summary (counts, accuracy) of a model in the newest run.")
    def summary_resource(model_id: str) -> str:
        try:
            return as_json(predictions_summary(store, model_id, None, None, None))
        except ToolError as exc:
            raise ResourceNotFoundError(str(exc)) from None

    if allow_writes:
        add_writes(server, store)
    return server


def add_writes(server: MCPServer, store: StoreFile) -> None:
    @tool(server, WRITES)
    def store_prediction(
        model_id: ModelId,
        features: Annotated[dict[str, float | str | None], Field(
            description="Feature values by name: numbers for numeric features, text for categorical ones, null "
                        "when missing. Names must be the model's (get_predictions with rows=true shows them).",
            max_length=200)],
        prediction: Annotated[int, Field(ge=0, le=1, description="The predicted class, 0 or 1.")],
        timestamp: Annotated[datetime, Field(description="When the prediction was made: ISO 8601 (UTC if no "
                                                         "offset) or Unix seconds; decides its day.")],
        run_id: RunId = None,
        score: Annotated[float | None, Field(ge=0, le=1, allow_inf_nan=False,
                                             description="The model's score for class 1.")] = None,
        label: Annotated[int | None, Field(ge=0, le=1, description="Ground truth, if known.")] = None,
        latency_ms: Annotated[float | None, Field(ge=0, le=3_600_000, allow_inf_nan=False,
                                                  description="How long the model took to answer, in ms.")] = None,
        model_version: Annotated[str, Field(max_length=100, description="Version of the model that served it.")] = "",
        row: Annotated[int | None, Field(ge=0, le=10_000_000, description=(
            "Row number within its day; writing an existing row replaces it. Default: the day's next free row."))] = None,
    ) -> dict:
        """Store one prediction of a model in a run (default: the newest run; the model must be one of the
        run's). Returns where it was stored: run, model, day and row."""
        moment = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=timezone.utc)
        day = parse_day((moment - EPOCH).days, "timestamp")
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            schema = stores.predictions.schema(model_id)
            unknown = sorted(set(features) - set(schema.feature_columns))
            if unknown:
                raise ToolError(f"unknown features for {model_id}: {', '.join(shown(u, 40) for u in unknown[:10])}; "
                                f"its features: {', '.join(schema.feature_columns)}")
            wrong = [n for n in schema.numeric if isinstance(features.get(n), str)]
            wrong += [c for c in schema.categorical if isinstance(features.get(c), float)]
            if wrong:
                raise ToolError(f"wrong value types for {', '.join(wrong)}: numeric features take numbers "
                                f"({', '.join(schema.numeric)}), categorical ones text ({', '.join(schema.categorical)})")
            if any(isinstance(v, str) and len(v) > MAX_TEXT for v in features.values()):
                raise ToolError(f"a categorical value is longer than {MAX_TEXT} characters")
            if row is None:
                row = stores.predictions.next_row(run["run_id"], model_id, day)
            stores.predictions.store_prediction(
                model_id, features, prediction, moment.timestamp(), run_id=run["run_id"], day=day, row=row,
                score=score, label=label, latency_ms=latency_ms, model_version=model_version)
        return {"stored": True, "run_id": run["run_id"], "model_id": model_id, **day_label(day), "row": row}
