"""What the screen shows of a run, as plain data: each model's day in flight, its steps' states, its past days.

Fed by the runner's events (live), by polling the stores (following a run in another process) or by
the checkpoints (browsing the past); the widgets only read it. Kept free of Textual so it is tested
and reasoned about on its own. A log run's days are its periods: as many as the log holds so far,
each with the date it starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.graph import END

from stores.db import day_date
from tui.graph_layout import GraphLayout

IDLE, RUNNING, DONE, FELL_BACK, FAILED = "idle", "running", "done", "fell back", "error"
ERROR_HANDLER = "__error_handler__"

# A model's status at a glance (the model switcher, the runs screen).
WAITING, LIVE, PAUSED, FINISHED, STOPPED, BROKEN, FOLLOWING, BROWSING = (
    "waiting", "running", "paused", "finished", "interrupted", "failed", "following", "browsing")


@dataclass
class ModelRun:
    model: str
    days: int
    status: str = WAITING
    day: int | None = None  # the day on screen (in flight, or the last finished)
    steps: dict[str, str] = field(default_factory=dict)  # node -> IDLE | RUNNING | DONE | FELL_BACK | FAILED
    taken: set = field(default_factory=set)  # edges taken on the day on screen
    state: dict = field(default_factory=dict)  # the day's state so far: the steps' updates merged
    summaries: dict[int, dict] = field(default_factory=dict)  # day -> day summary (the report's source)
    last_step: str | None = None
    kind: str = "simulation"  # or "log": days are the log's periods, and grow as the log does

    @property
    def days_done(self) -> int:
        return len(self.summaries)

    @property
    def unit(self) -> str:
        return "period" if self.kind == "log" else "day"

    def date_of(self, day: int | None) -> str:
        """The calendar date of a day: a simulated day's, or the start of a log's period (a row number for N-row periods)."""
        if day is None:
            return ""
        if self.kind != "log":
            return day_date(day)
        known = (self.summaries.get(day) or {}).get("date")
        if known is None and self.state.get("day") == day:
            known = (self.state.get("day_info") or {}).get("date")
        return "" if known is None else str(known)

    def set_summaries(self, summaries: list[dict]) -> None:
        self.summaries = {s["day"]: s for s in summaries}
        self._grow()

    def _grow(self) -> None:
        if self.kind == "log":  # a log's run is as long as the periods it has monitored (and more, once told)
            self.days = max(self.days, self.days_done, max(self.summaries, default=-1) + 1)

    def reset_day(self, layout: GraphLayout, day: int) -> None:
        self.day = day
        self.steps = {n: IDLE for n in layout.nodes}
        self.taken = set()
        self.last_step = None

    def start(self, layout: GraphLayout, first_day: int) -> None:
        """The thread starts (or resumes) at `first_day`: its first step is running."""
        self.state = {"day": first_day, "days": self.days}
        self.reset_day(layout, first_day)
        if first_day < self.days:
            self.steps[layout.first] = RUNNING

    def apply_step(self, layout: GraphLayout, node: str, update: dict | None) -> str | None:
        """A step finished with `update`; returns the step predicted to run next (by the graph's own routers)."""
        if isinstance(update, dict):
            self.state.update(update)
        if node.startswith(ERROR_HANDLER):  # the step raised: its error handler routes to the fallback
            failed = node[len(ERROR_HANDLER):]
            if self.last_step is not None:
                self.taken.add((self.last_step, failed))
            self.steps[failed] = FELL_BACK
            self.last_step = failed
            fallback = layout.fallback_of.get(failed)
            if fallback:
                self.taken.add((failed, fallback))
                self.steps[fallback] = RUNNING
            return fallback
        if node not in self.steps:
            return None
        if node == layout.first and self.last_step is not None:
            self.reset_day(layout, self.state.get("day", (self.day or 0) + 1))
        if self.last_step is not None and self.steps.get(self.last_step) != FELL_BACK:
            self.taken.add((self.last_step, node))
        self.steps[node] = DONE
        self.last_step = node
        nxt = layout.next_step(node, self.state)
        if nxt == END or nxt == layout.first:  # the day is over: light the edge to the next day (or the end)
            self.taken.add((node, nxt))
        elif nxt is not None:
            self.steps[nxt] = RUNNING
        return nxt

    def next_day(self, layout: GraphLayout) -> None:
        """The graph goes on to the next day: show it, its first step running."""
        day = self.state.get("day")
        if day is not None and day < self.days:
            self.reset_day(layout, day)
            # yesterday's findings leave the screen: the new day's arrive step by step
            self.state = {k: v for k, v in self.state.items() if k in ("day", "days", "memory")}
            self.steps[layout.first] = RUNNING

    def add_summary(self, summary: dict) -> None:
        self.summaries[summary["day"]] = summary
        self._grow()

    def fail(self) -> None:
        for node, status in self.steps.items():
            if status == RUNNING:
                self.steps[node] = FAILED
        self.status = BROKEN

    def stop(self) -> None:
        for node, status in self.steps.items():
            if status == RUNNING:
                self.steps[node] = IDLE
        self.status = STOPPED

    def show_past(self, layout: GraphLayout, day: int, path: list[str], values: dict) -> None:
        """Show a past day from its checkpoints: the steps it ran and its state then."""
        self.reset_day(layout, day)
        for node in path:
            if node in self.steps:
                self.steps[node] = DONE
        for node, fallback in layout.fallback_of.items():
            if fallback in path and node in path:
                self.steps[node] = FELL_BACK
                self.taken.add((node, fallback))
        for source, target in zip(path, path[1:]):
            if self.steps.get(source) != FELL_BACK:
                self.taken.add((source, target))
        self.state = dict(values)


@dataclass
class RunView:
    """One run on screen: its settings, its models, and (for a fork) where it came from."""

    run_id: str
    settings: dict  # RunConfig.settings()
    output_dir: str
    models: dict[str, ModelRun]
    current: str  # the model on screen
    mode: str = "live"  # live | follow | browse
    forked_from: dict | None = None
    parent_summaries: dict[int, dict] = field(default_factory=dict)  # the parent's days, for a fork's comparison
    message: str = ""  # the last notice about the run (finished, stopped, error), shown in the status line

    @classmethod
    def create(cls, run_id: str, settings: dict, output_dir, mode: str = "live") -> "RunView":
        kind = "log" if settings.get("source") == "log" else "simulation"
        models = {m: ModelRun(m, settings.get("days") or 0, kind=kind) for m in settings["models"]}
        return cls(run_id, settings, str(output_dir), models, settings["models"][0], mode)

    @property
    def kind(self) -> str:
        """"simulation", or "log" for a run over a user's log (recommend-only: no world to replay or fork)."""
        return "log" if self.settings.get("source") == "log" else "simulation"

    @property
    def source_label(self) -> str:
        """Where the days come from, in a word or two: the scenario, or the log and its period."""
        return source_label(self.settings)

    @property
    def model(self) -> ModelRun:
        return self.models[self.current]


def source_label(settings: dict) -> str:
    """A run's scenario, or for a log run "log (day)", "log (week)", "log (5000 rows)"."""
    if settings.get("source") != "log":
        return settings.get("scenario", "?")
    period = (settings.get("mapping") or {}).get("period", "day")
    return f"log ({period} rows)" if isinstance(period, int) else f"log ({period})"
