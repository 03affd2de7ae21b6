"""The incidents MCP server: alerts, the incidents that group them, and each remediation taken with its
justification; with --allow-writes, create_alert, create_incident and store_remediation_action.
"""
from __future__ import annotations

import json
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import Field

from decision.actions import Action
from stores.db import day_date
from stores.incidents import SEVERITIES
from stores.mcp.common import (MAX_TEXT, READ_ONLY, WRITES, DayValue, Limit, ModelId, RunId, StoreFile,
                               add_list_runs, as_json, check_model, check_name, day_label, parse_day, resolve_run,
                               run_and_model, shown, tool)

INSTRUCTIONS = (
    "Alerts raised by mlmon's monitoring, the incidents that group them (one per ongoing problem of a model, "
    "with a root cause), and the remediation chosen each day with its justification. Start with list_runs or "
    f"list_incidents; get_incident shows one incident in full. Days are numbered from 0 = {day_date(0)}.")

ACTIONS = tuple(a.label for a in Action)
Status = Literal["open", "resolved"]
Severity = Literal[SEVERITIES]  # the store's own list
ActionName = Literal[ACTIONS]  # the world's seven remediations
OptionalModel = Annotated[str | None, Field(max_length=200, description="Only this model's (default: every model).")]
StatusFilter = Annotated[Status | None, Field(description="Only open or only resolved ones (default: both).")]


def _days(row: dict, *names: str) -> dict:
    """Day columns with their dates beside them."""
    return {**row, **{f"{n}_date": day_date(row[n]) if row.get(n) is not None else None for n in names}}


def _within(row: dict) -> dict:
    """An alert or action shown inside its incident, without the fields the incident already says."""
    return {k: v for k, v in row.items() if k not in ("run_id", "model_id", "incident_id")}


def _action(row: dict) -> dict:
    try:
        outcome = json.loads(row["outcome"]) if row["outcome"] else None
    except ValueError:
        outcome = row["outcome"]  # free text written through store_remediation_action
    return {**_days({k: v for k, v in row.items() if k != "outcome"}, "day"), "outcome": outcome}


def _listing(rows: list[dict], limit: int, key: str) -> dict:
    newest_first = sorted(rows, key=lambda r: (r["opened_day"], r["id"]), reverse=True)
    kept = newest_first[:limit]
    # run_id is said once, beside the list
    return {key: [_days({k: v for k, v in r.items() if k != "run_id"}, "opened_day", "last_day", "resolved_day")
                  for r in kept], "total": len(rows), "truncated": len(kept) < len(rows)}


def _filtered_run(stores, run_id: str | None, model_id: str | None) -> dict:
    run = resolve_run(stores, run_id)
    if model_id is not None:
        check_model(run, model_id)
    return run


def open_incidents(store: StoreFile, model_id: str | None = None) -> dict:
    with store.open() as stores:
        run = _filtered_run(stores, None, model_id)
        rows = stores.incidents.incidents(run["run_id"], model_id, "open")
    return {"run_id": run["run_id"], **_listing(rows, len(rows), "incidents")}


def build(store: StoreFile, allow_writes: bool = False) -> MCPServer:
    server = MCPServer("mlmon-incidents", instructions=INSTRUCTIONS)
    add_list_runs(server, store)

    @tool(server, READ_ONLY)
    def list_alerts(run_id: RunId = None, model_id: OptionalModel = None, status: StatusFilter = None,
                    limit: Limit = 50) -> dict:
        """Alerts of a run, newest first: type (accuracy, covariate_drift, prediction_drift, latency, ...),
        severity (low, medium, high, critical), status, the days it opened, was last seen and resolved,
        its message and the incident it belongs to. total counts every match; truncated says whether
        the list was cut at limit."""
        with store.open() as stores:
            run = _filtered_run(stores, run_id, model_id)
            rows = stores.incidents.alerts(run["run_id"], model_id, status)
        return {"run_id": run["run_id"], **_listing(rows, limit, "alerts")}

    @tool(server, READ_ONLY)
    def list_incidents(run_id: RunId = None, model_id: OptionalModel = None, status: StatusFilter = None,
                       limit: Limit = 50) -> dict:
        """Incidents of a run, newest first: id (for get_incident), model, status, severity, root cause
        (e.g. covariate_drift, bad_deployment, pipeline_fault), estimated impact, and the days it opened,
        was last active and resolved."""
        with store.open() as stores:
            run = _filtered_run(stores, run_id, model_id)
            rows = stores.incidents.incidents(run["run_id"], model_id, status)
        return {"run_id": run["run_id"], **_listing(rows, limit, "incidents")}

    @tool(server, READ_ONLY)
    def get_incident(
        incident_id: Annotated[str, Field(max_length=400, description="Incident id, as list_incidents gives it.")],
        include_continue: Annotated[bool, Field(description=(
            "Also list the days the policy chose to continue (do nothing); by default only counted."))] = False,
    ) -> dict:
        """One incident in full: its fields, the alerts it groups, the remediation actions taken while it
        was open (day, action, the policy that chose it, its justification, cost, downtime and outcome), and
        the days' narratives while it was open (runs with --use-llm; each with the source that wrote it)."""
        with store.open() as stores:
            incident = stores.incidents.get_incident(incident_id)
            told = [] if incident is None else stores.narratives.narratives(incident["run_id"], incident["model_id"])
        if incident is None:
            raise ToolError(f"no incident {shown(incident_id)}; list_incidents gives the ids")
        alerts, actions = incident.pop("alerts"), incident.pop("actions")
        listed = actions if include_continue else [a for a in actions if a["action"] != Action.CONTINUE.label]
        last = incident["resolved_day"] if incident.get("resolved_day") is not None else incident["last_day"]
        return {**_days(incident, "opened_day", "last_day", "resolved_day"),
                "alerts": [_days(_within(a), "opened_day", "last_day", "resolved_day") for a in alerts],
                "actions": [_action(_within(a)) for a in listed],
                "continue_days": sum(a["action"] == Action.CONTINUE.label for a in actions),
                "narratives": [_days(n, "day") for n in told if incident["opened_day"] <= n["day"] <= last]}

    @server.resource("incidents://open", mime_type="application/json",
                     description="The open incidents of the newest run.")
    def open_resource() -> str:
        return as_json(open_incidents(store))

    @server.resource("incidents://{model_id}/open", mime_type="application/json",
                     description="A model's open incidents in the newest run.")
    def model_open_resource(model_id: str) -> str:
        try:
            return as_json(open_incidents(store, model_id))
        except ToolError as exc:
            raise ResourceNotFoundError(str(exc)) from None

    if allow_writes:
        add_writes(server, store)
    return server


def add_writes(server: MCPServer, store: StoreFile) -> None:
    @tool(server, WRITES)
    def create_alert(
        model_id: ModelId,
        alert_type: Annotated[str, Field(max_length=64, description="Kind of alert, e.g. accuracy, covariate_drift.")],
        severity: Annotated[Severity, Field(description="How bad: low, medium, high or critical.")],
        day: Annotated[DayValue, Field(description="Day it opened: day number (0 = 2026-01-01) or YYYY-MM-DD.")],
        message: Annotated[str, Field(max_length=MAX_TEXT, description="What was seen, for the on-call reader.")] = "",
        run_id: RunId = None,
    ) -> dict:
        """Open an alert for a model in a run (default: the newest run). The same model, type and day in the
        same run give the same alert, so repeating the call changes nothing. Returns its id."""
        check_name(alert_type, "alert_type")
        day_no = parse_day(day, "day")
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            alert = stores.incidents.create_alert(model_id, alert_type, severity, run_id=run["run_id"], day=day_no,
                                                  message=message)
        return {"alert_id": alert, "run_id": run["run_id"], "model_id": model_id, **day_label(day_no)}

    @tool(server, WRITES)
    def create_incident(
        alert_id: Annotated[str, Field(max_length=400, description="The alert that opens it (create_alert or list_alerts).")],
        root_cause: Annotated[str, Field(max_length=200, description="e.g. covariate_drift, bad_deployment.")],
        impact: Annotated[str, Field(max_length=MAX_TEXT, description="Estimated impact, in words.")] = "",
    ) -> dict:
        """Open an incident for an alert and attach the alert to it. Returns the incident id."""
        with store.open() as stores:
            try:
                stores.incidents.get_alert(alert_id)
            except KeyError:
                raise ToolError(f"no alert {shown(alert_id)}; list_alerts gives the ids") from None
            incident = stores.incidents.create_incident(alert_id, root_cause, impact)
        return {"incident_id": incident, "alert_id": alert_id}

    @tool(server, WRITES)
    def store_remediation_action(
        model_id: ModelId,
        action: Annotated[ActionName, Field(description="The remediation chosen.")],
        day: Annotated[DayValue, Field(description="Day it was decided: day number (0 = 2026-01-01) or YYYY-MM-DD.")],
        justification: Annotated[str, Field(max_length=MAX_TEXT, description="Why this action, in words.")],
        incident_id: Annotated[str | None, Field(max_length=400, description="The incident it answers, if any.")] = None,
        outcome: Annotated[str, Field(max_length=MAX_TEXT, description="What it did, if known.")] = "",
        policy: Annotated[str, Field(max_length=64, description="Who decided (default: external).")] = "external",
        cost: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, description="Cost in dollars.")] = 0.0,
        downtime_hours: Annotated[float, Field(ge=0, le=24 * 366, allow_inf_nan=False,
                                               description="Hours the model is out of service for it.")] = 0.0,
        run_id: RunId = None,
    ) -> dict:
        """Record the remediation decided for a model on a day of a run (default: the newest run) with its
        justification. One decision per (run, model, day): writing the same day again replaces it."""
        day_no = parse_day(day, "day")
        with store.open() as stores:
            run = run_and_model(stores, run_id, model_id)
            if incident_id is not None:
                incident = stores.incidents.get_incident(incident_id)
                if incident is None or incident["run_id"] != run["run_id"] or incident["model_id"] != model_id:
                    raise ToolError(f"no incident {shown(incident_id)} of {model_id} in run {run['run_id']}")
            stores.incidents.store_remediation_action(
                incident_id, action, outcome, run_id=run["run_id"], model_id=model_id, day=day_no,
                justification=justification, policy=policy, cost=cost, downtime_hours=downtime_hours)
        return {"stored": True, "run_id": run["run_id"], "model_id": model_id, **day_label(day_no), "action": action}
