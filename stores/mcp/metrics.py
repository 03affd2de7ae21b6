"""The metrics MCP server: each model's daily metrics (accuracy, drift score, latency, ...) as time series
and its latest health; with --allow-writes, store_metric.
"""
from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import Field

from stores.db import day_date
from stores.mcp.common import (READ_ONLY, WRITES, Day, DayValue, Limit, ModelId, RunId, StoreFile, add_list_runs,
                               as_json, check_name, day_label, day_range, number, parse_day, run_and_model, shown, tool)

INSTRUCTIONS = (
    "Daily monitoring metrics of the models mlmon watches: accuracy, expected accuracy, drift score, latency "
    "percentiles, precision/recall/F1, bias gap, open alerts, the remediation's reward and cost, and a health "
    "status. Start with list_runs; get_model_health gives a model's latest day; get_metric_timeseries one metric "
    f"over days. Days are numbered from 0 = {day_date(0)}.")

MetricName = Annotated[str, Field(max_length=64, description=(
    "Metric name, e.g. accuracy, drift_score, latency_p95_ms, f1 (get_model_health lists a model's metrics)."))]


def model_health(store: StoreFile, model_id: str, run_id: str | None) -> dict:
    with store.open() as stores:
        run = run_and_model(stores, run_id, model_id)
        health = stores.metrics.get_model_health(model_id, run_id=run["run_id"])
    return {"run_id": run["run_id"], "run_status": run["status"], "model_id": model_id,
            "status": health["status"], **day_label(health["day"]),
            "metrics": {k: number(v) for k, v in sorted(health["metrics"].items())}}


def build(store: StoreFile, allow_writes: bool = False) -> MCPServer:
    server = MCPServer("mlmon-metrics", instructions=INSTRUCTIONS)
    add_list_runs(server, store)

    @tool(server, READ_ONLY)
    def get_metric_timeseries(
        model_id: ModelId,
        metric_name: MetricName,
        run_id: RunId = None,
        start: Day = None,
        end: Day = None,
        limit: Limit = 100,
    ) -> dict:
        """One metric of a model, one value per day, over start..end (inclusive; default: every day of the
        run). Returns the points (day, date, value; null when the metric could not be measured that day) and
        a summary over the whole range (count, min, max, mean, first and last value). When the range has
        more than `limit` days, the newest `limit` points are returned and truncated is true."""
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            series = stores.metrics.get_metric_timeseries(model_id, metric_name, run_id=run["run_id"])
            if not series:
                known = stores.metrics.metric_names(run["run_id"], model_id)
                raise ToolError(f"no metric {shown(metric_name)} for {model_id} in run {run['run_id']}; its "
                                f"metrics: {', '.join(known) or 'none stored yet'}")
        first, last = day_range(start, end, series[0][0], series[-1][0])
        points = [(d, number(v)) for d, v in series if first <= d <= last]
        values = [v for _, v in points if v is not None]
        kept = points[-limit:]
        return {"run_id": run["run_id"], "model_id": model_id, "metric": metric_name,
                "start": day_label(first), "end": day_label(last),
                "points": [{**day_label(d), "value": v} for d, v in kept],
                "truncated": len(kept) < len(points),
                "summary": {"days": len(points), "measured": len(values),
                            "min": min(values, default=None), "max": max(values, default=None),
                            "mean": number(sum(values) / len(values)) if values else None,
                            "first": points[0][1] if points else None, "last": points[-1][1] if points else None}}

    @tool(server, READ_ONLY)
    def get_model_health(model_id: ModelId, run_id: RunId = None) -> dict:
        """A model's health on the latest day with metrics: status (healthy, warning, critical, or unknown
        before the first day is measured), that day, and every metric stored for it (accuracy,
        drift_score, latency_p95_ms, open_alerts, ...)."""
        return model_health(store, model_id, run_id)

    @server.resource("metrics://{model_id}/health", mime_type="application/json",
                     description="A model's latest health and metrics in the newest run (as get_model_health).")
    def health_resource(model_id: str) -> str:
        try:
            return as_json(model_health(store, model_id, None))
        except ToolError as exc:
            raise ResourceNotFoundError(str(exc)) from None

    if allow_writes:
        add_writes(server, store)
    return server


def add_writes(server: MCPServer, store: StoreFile) -> None:
    @tool(server, WRITES)
    def store_metric(
        model_id: ModelId,
        metric_name: MetricName,
        value: Annotated[float, Field(allow_inf_nan=False, description="The metric's value that day.")],
        day: Annotated[DayValue, Field(description="Day number (0 = 2026-01-01) or ISO date YYYY-MM-DD.")],
        run_id: RunId = None,
    ) -> dict:
        """Store one day's value of a metric for a model in a run (default: the newest run; the model must be
        one of the run's). Writing the same (run, model, day, metric) again replaces the value."""
        check_name(metric_name, "metric_name")
        day_no = parse_day(day, "day")
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            stores.metrics.store_metric(model_id, metric_name, value, run_id=run["run_id"], day=day_no)
        return {"stored": True, "run_id": run["run_id"], "model_id": model_id, "metric": metric_name,
                **day_label(day_no), "value": value}
