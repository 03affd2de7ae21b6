"""Fault injection: make a named node raise on chosen days, to exercise the graph's fallback edges.

Set MLMON_FAULT to a comma-separated list of `node` (every day), `node@D` (day D) or `node@A-B`
(days A to B), e.g. `MLMON_FAULT=drift@5,quality`. Nodes: performance, drift, quality, alert,
remediation. The injected error says it was injected, so a report never mistakes it for a bug.

For crash tests, MLMON_KILL (same syntax, also accepting the steps load_day, narrate, notify, act and
record) makes the process SIGKILL itself right after that step's store writes and before its checkpoint:
the worst moment, as the day's rows are written but the graph does not know it. `learning` kills the
process as its end-of-run policy update begins (every day is done, the policy not yet saved);
`deliver` right after a webhook accepted one of the day's incident events, before that is recorded.
"""
from __future__ import annotations

import os
import signal

NODES = ("performance", "drift", "quality", "alert", "remediation")
STEPS = ("load_day", *NODES, "narrate", "notify", "act", "record", "learning", "deliver")
ENV_VAR = "MLMON_FAULT"
KILL_VAR = "MLMON_KILL"


class InjectedFault(RuntimeError):
    pass


def parse(spec: str, nodes: tuple[str, ...] = NODES, var: str = ENV_VAR) -> dict[str, tuple[int, int] | None]:
    """'drift@5,quality@2-3,alert' -> {'drift': (5, 5), 'quality': (2, 3), 'alert': None}."""
    plan: dict[str, tuple[int, int] | None] = {}
    if not spec.strip():
        return plan
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise ValueError(f"{var}={spec!r} has an empty entry; write node, node@D or node@A-B, comma-separated")
        node, at, days = part.partition("@")
        if node not in nodes:
            raise ValueError(f"{var}: unknown node {node!r}; choose from {', '.join(nodes)}")
        if not at:
            plan[node] = None
            continue
        first, _, last = days.partition("-")
        try:
            window = (int(first), int(last or first))
        except ValueError:
            raise ValueError(f"{var}: bad day range {days!r} in {part!r} (write {node}@D or {node}@A-B; "
                             f"{node} alone means every day)") from None
        if window[0] < 0:
            raise ValueError(f"{var}: day range {days!r} in {part!r} starts before day 0")
        if window[0] > window[1]:
            raise ValueError(f"{var}: day range {days!r} in {part!r} ends before it starts")
        plan[node] = window
    return plan


def from_environment() -> dict[str, tuple[int, int] | None]:
    return parse(os.environ.get(ENV_VAR, ""))


def kills_from_environment() -> dict[str, tuple[int, int] | None]:
    return parse(os.environ.get(KILL_VAR, ""), STEPS, KILL_VAR)


def _due(plan: dict, node: str, day: int) -> bool:
    if node not in plan:
        return False
    window = plan[node]
    return window is None or window[0] <= day <= window[1]


def maybe_fail(plan: dict, node: str, day: int) -> None:
    if _due(plan, node, day):
        raise InjectedFault(f"injected fault in {node} on day {day} ({ENV_VAR})")


def maybe_kill(plan: dict, node: str, day: int) -> None:
    if _due(plan, node, day):
        os.kill(os.getpid(), signal.SIGKILL)
