"""What the three MCP servers share: the stores file (opened per call), the argument types an LLM reads,
and turning a bad run, model or day into a tool error that says what would have been right.
"""
from __future__ import annotations

import inspect
import json
import math
import re
import sqlite3
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Iterator

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from stores import StoreError, Stores, check_store, open_stores
from stores.db import EPOCH, day_date

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

MAX_LIST = 500  # the most rows (alerts, incidents, days of a series) one call returns
MAX_TEXT = 2000  # free-text arguments (messages, justifications)
MAX_DAY = 36_500  # a century of days: past it a day is a mistake (and beyond year 9999, not a date at all)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # metric names and alert types written through the servers

# The argument types every server uses: their descriptions are what an LLM client reads.
RunId = Annotated[str | None, Field(
    description="Run to read, as listed by list_runs. Default: the newest run in the store.", max_length=200)]
ModelId = Annotated[str, Field(
    description="Monitored model, e.g. pneumonia_classifier_v1 (list_runs shows the models of each run).",
    max_length=200)]
DayValue = Annotated[int, Field(le=MAX_DAY)] | Annotated[str, Field(max_length=40)]
Day = Annotated[DayValue | None, Field(
    description="A day of the run: its number (0 = 2026-01-01, the first simulated day) or an ISO date "
                "YYYY-MM-DD.")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIST, description=f"At most this many items (1 to {MAX_LIST}).")]


def tool(server: MCPServer, annotations: ToolAnnotations):
    """Register a tool whose description is its docstring without the source's indentation (the SDK
    passes docstrings on as they are, and every space is part of what the LLM reads)."""
    def register(fn):
        server.add_tool(fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations)
        return fn
    return register


def shown(value: Any, width: int = 60) -> str:
    """A caller's value quoted for an error message, cut short: arguments can be arbitrarily long."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def iso_time(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def number(value: float | None) -> float | None:
    """A measured value as the servers answer it: 6 significant digits (the rest is noise that costs an
    LLM's context), and None for a missing value or NaN/infinity (which JSON cannot carry)."""
    return None if value is None or not math.isfinite(value) else float(f"{value:.6g}")


def parse_day(value: int | str | None, name: str) -> int | None:
    """A day argument (a day number or an ISO date) as a day number; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ToolError(f"{name} must be a day number or a date YYYY-MM-DD, not {shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{1,6}", text):
            value = int(text)
        else:
            try:
                value = (date.fromisoformat(text) - EPOCH.date()).days
            except ValueError:
                raise ToolError(f"{name} must be a day number (0 = {day_date(0)}) or a date YYYY-MM-DD, "
                                f"not {shown(value)}") from None
    if value < 0:
        raise ToolError(f"{name} is before the first day of any run ({day_date(0)}, day 0): {shown(value)}")
    if value > MAX_DAY:
        raise ToolError(f"{name} is more than {MAX_DAY} days after {day_date(0)}: {shown(value)}")
    return value


def day_range(start: int | str | None, end: int | str | None, first: int, last: int) -> tuple[int, int]:
    """The inclusive day range asked for, defaults filled from the data's own first and last day."""
    lo, hi = parse_day(start, "start"), parse_day(end, "end")
    lo, hi = first if lo is None else lo, last if hi is None else hi
    if lo > hi:
        raise ToolError(f"empty day range: start (day {lo}, {day_date(lo)}) is after end (day {hi}, {day_date(hi)})")
    return lo, hi


def as_json(value: Any) -> str:
    """Resource bodies: JSON text, as the tools' results are."""
    return json.dumps(value, indent=2, sort_keys=True)


def day_label(day: int | None) -> dict:
    return {"day": day, "date": None if day is None else day_date(day)}


class StoreFile:
    """The mlmon.db a server answers from. Every call opens its own connection and closes it when done,
    so no read transaction outlives a call and a run writing the same file (WAL) is never held up."""

    def __init__(self, path: Path, writable: bool = False):
        self.path = Path(path)
        self.writable = writable

    @contextmanager
    def open(self) -> Iterator[Stores]:
        try:
            if self.writable:
                check_store(self.path)  # read-write opening would create a missing file; never do that
            stores = open_stores(self.path, read_only=not self.writable)
        except StoreError as exc:
            raise ToolError(str(exc)) from None
        try:
            yield stores
        except StoreError as exc:
            raise ToolError(str(exc)) from None
        except sqlite3.DatabaseError as exc:  # locked past the busy timeout, the file replaced or damaged
            raise ToolError(f"the store could not be used just now ({exc})") from None
        finally:
            stores.close()


def resolve_run(stores: Stores, run_id: str | None) -> dict:
    """The run asked for (the newest if None), or a tool error listing the runs there are."""
    if run_id is None:
        run = stores.runs.newest()
        if run is None:
            raise ToolError("the store holds no runs yet")
        return run
    run = stores.runs.get(run_id)
    if run is None:
        known = [r["run_id"] for r in stores.runs.list_runs(limit=10)]
        more = "" if stores.runs.count() <= len(known) else ", ..."
        raise ToolError(f"unknown run {shown(run_id)}; runs in this store, newest first: {', '.join(known) or 'none'}{more}")
    return run


def check_model(run: dict, model_id: str) -> None:
    models = run["config"].get("models", [])
    if model_id not in models:
        raise ToolError(f"unknown model {shown(model_id)} in run {run['run_id']}; its models: {', '.join(models) or 'none'}")


def run_and_model(stores: Stores, run_id: str | None, model_id: str) -> dict:
    run = resolve_run(stores, run_id)
    check_model(run, model_id)
    return run


def check_name(value: str, what: str) -> None:
    if not NAME.fullmatch(value):
        raise ToolError(f"{what} must be lower-case letters, digits and underscores (at most 64, starting with a "
                        f"letter), not {shown(value)}")


def run_summary(run: dict) -> dict:
    return {"run_id": run["run_id"], "status": run["status"], "started_at": iso_time(run["started_at"]),
            "finished_at": iso_time(run["finished_at"]), **run["config"]}


def add_list_runs(server: MCPServer, store: StoreFile) -> None:
    @tool(server, READ_ONLY)
    def list_runs(limit: Annotated[int, Field(ge=1, le=100, description="At most this many runs (1 to 100).")] = 20) -> dict:
        """List the monitoring runs in the store, newest first: run id, status (running or finished), start
        and finish times, the models monitored and the run's settings (scenario, days, seed, policy).
        Every other tool reads the newest run unless given a run_id from this list."""
        with store.open() as stores:
            runs = stores.runs.list_runs(limit=limit)
            total = stores.runs.count()
        return {"runs": [run_summary(r) for r in runs], "total": total, "truncated": total > len(runs)}
