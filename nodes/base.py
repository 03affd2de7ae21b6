"""What every step of the daily cycle shares: the day's inputs, fault injection, crash points, timing,
the degraded mark."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from langgraph.runtime import Runtime

from nodes import faults
from nodes.drift_tests import profile_view
from stores.predictions import DayView, ModelSchema

if TYPE_CHECKING:
    from nodes.alert import AlertThresholds
    from nodes.reference import ReferenceProfile


@dataclass
class DayInputs:
    """Everything a monitoring step reads about one day of one model, wherever the rows come from (the
    stores, for the graph; memory, for the RL environment and the exporter)."""

    day: int
    view: DayView  # the day's size, a uniform sample of its rows, and its labelled rows
    reference: "ReferenceProfile"  # the serving version's reference window, profiled
    baseline: dict  # reference accuracy, volume, SLA figures
    memory: dict  # the bounded memory of earlier days (nodes.memory)
    schema: ModelSchema
    thresholds: "AlertThresholds"
    run_id: str = ""
    model: str = ""
    # Compute only what the policy observation, the alerts and the memory read (the RL environment): the
    # figures only people and the stores read are left out (None); see nodes.day.monitor_day.
    policy_only: bool = False
    _profile: dict | None = field(default=None, repr=False)

    @property
    def profile(self) -> dict:
        """The day's column profiles (drift and data quality both read them), computed once."""
        if self._profile is None:
            self._profile = profile_view(self.view, self.schema)
        return self._profile

    @property
    def labelled(self) -> bool:
        """Did any label arrive today (the graph routes on the same test)?"""
        return self.view.n_labelled > 0


def graph_step(name: str, inject_faults: bool = True):
    """Wrap `fn(state, context) -> update` as a LangGraph node named `name`.

    The wrapper raises injected faults (monitoring nodes only: fallbacks must not fail on purpose),
    honours the crash-test kill plan after the step's writes, and records how long the step took in
    the run context, so timings never enter the checkpointed state.
    """
    def wrap(fn):
        def node(state: dict, runtime: Runtime) -> dict:
            context = runtime.context
            if inject_faults:
                faults.maybe_fail(context.faults, name, state["day"])
            start = time.perf_counter()
            try:
                update = fn(state, context)
            finally:
                context.timings[name] = (time.perf_counter() - start) * 1000.0
            faults.maybe_kill(context.kills, name, state["day"])
            return update
        node.__name__ = name
        node.__doc__ = fn.__doc__
        return node
    return wrap


def degraded_mark(node: str, reason: str, fallback: str) -> dict:
    return {"node": node, "reason": reason, "fallback": fallback}
