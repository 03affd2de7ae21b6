"""What every step of the daily cycle shares: fault injection, crash points, timing, the degraded mark."""
from __future__ import annotations

import time

from langgraph.runtime import Runtime

from nodes import faults


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
