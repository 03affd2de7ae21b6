"""What every monitoring node shares: fault injection, timing, and the shape of a degraded mark."""
from __future__ import annotations

import time

from langgraph.runtime import Runtime

from nodes import faults


def monitoring_node(name: str):
    """Wrap `fn(state, context) -> update` as a LangGraph node named `name`.

    The wrapper checks the fault-injection plan and records how long the node took in the run
    context, so the cycle time of a day can be reported without putting timings in the state.
    """
    def wrap(fn):
        def node(state: dict, runtime: Runtime) -> dict:
            context = runtime.context
            faults.maybe_fail(context.faults, name, state["day"])
            start = time.perf_counter()
            try:
                return fn(state, context)
            finally:
                context.timings[name] = (time.perf_counter() - start) * 1000.0
        node.__name__ = name
        node.__doc__ = fn.__doc__
        return node
    return wrap


def timed_node(name: str):
    """Like monitoring_node without fault injection (fallbacks and plumbing steps)."""
    def wrap(fn):
        def node(state: dict, runtime: Runtime) -> dict:
            start = time.perf_counter()
            try:
                return fn(state, runtime.context)
            finally:
                runtime.context.timings[name] = (time.perf_counter() - start) * 1000.0
        node.__name__ = name
        node.__doc__ = fn.__doc__
        return node
    return wrap


def degraded_mark(node: str, reason: str, fallback: str) -> dict:
    return {"node": node, "reason": reason, "fallback": fallback}
