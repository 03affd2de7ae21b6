"""What the nodes of one thread share that is not state: the stores, the source, the policy, caches.

The context is rebuilt whenever a thread starts or resumes; nothing in it needs checkpointing. Its
caches make a day's rows be read from SQLite once, however many nodes look at them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from nodes.alert import AlertThresholds
from nodes.base import DayInputs
from nodes.drift import profile_view
from nodes.reference import ReferenceProfile
from stores import Stores
from stores.predictions import DayView, ModelSchema


@dataclass
class RunContext:
    stores: Stores
    schema: ModelSchema
    policy: object  # decision.policy.Policy
    source: object  # graph.sources.SimulationSource | LogSource: where days come from, what actions do
    faults: dict = field(default_factory=dict)  # MLMON_FAULT: node -> days to raise on
    kills: dict = field(default_factory=dict)  # MLMON_KILL: step -> days to SIGKILL the process after
    keep_days: int | None = None  # row-level predictions kept for the newest N days only (None: all)
    narrator: object | None = None  # nodes.llm.Narrator with --use-llm (None: no narratives)
    notifier: object | None = None  # nodes.webhooks.Notifier with --notify-webhook (None: events are only queued)
    alert_thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    timings: dict = field(default_factory=dict)  # node -> ms, for the day in flight
    cycle_started: float | None = None  # perf_counter at the end of the day's load_day
    _views: dict = field(default_factory=dict)
    _references: dict = field(default_factory=dict)

    def day_view(self, run_id: str, day: int) -> DayView:
        key = (run_id, day)
        if key not in self._views:
            self._views.clear()  # one day in flight at a time (this also drops the day's inputs)
            self._views[key] = self.stores.predictions.day_view(run_id, self.schema.model_id, day)
        return self._views[key]

    def day_inputs(self, state: dict) -> DayInputs:
        """What the monitoring steps read about the state's day (built once per day, shared by the nodes)."""
        key = (state["run_id"], state["day"], "inputs")
        if key not in self._views:
            view = self.day_view(state["run_id"], state["day"])
            self._views[key] = DayInputs(
                day=state["day"], view=view, reference=self.reference(state["run_id"], state["memory"]["reference_version"]),
                baseline=state["baseline"], memory=state["memory"], schema=self.schema, thresholds=self.alert_thresholds,
                run_id=state["run_id"], model=state["model"])
        return self._views[key]

    def forget_day(self) -> None:
        self._views.clear()

    def reference(self, run_id: str, version: str) -> ReferenceProfile:
        key = (run_id, version)
        if key not in self._references:
            view = self.stores.predictions.reference_view(run_id, self.schema.model_id, version)
            self._references[key] = ReferenceProfile(version, profile_view(view, self.schema), view)
        return self._references[key]

    def action_mask(self, state: dict) -> list[int]:
        return self.source.action_mask(state)
