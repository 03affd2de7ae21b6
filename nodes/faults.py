"""Fault injection: make a named node raise on chosen days, to exercise the graph's fallback edges.

Set MLMON_FAULT to a comma-separated list of `node` (every day), `node@D` (day D) or `node@A-B`
(days A to B), e.g. `MLMON_FAULT=drift@5,quality`. Nodes: performance, drift, quality, alert,
remediation. The injected error says it was injected, so a report never mistakes it for a bug.
"""
from __future__ import annotations

import os

NODES = ("performance", "drift", "quality", "alert", "remediation")
ENV_VAR = "MLMON_FAULT"


class InjectedFault(RuntimeError):
    pass


def parse(spec: str) -> dict[str, tuple[int, int] | None]:
    """'drift@5,quality@2-3,alert' -> {'drift': (5, 5), 'quality': (2, 3), 'alert': None}."""
    plan: dict[str, tuple[int, int] | None] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        node, _, days = part.partition("@")
        if node not in NODES:
            raise ValueError(f"{ENV_VAR}: unknown node {node!r}; choose from {', '.join(NODES)}")
        if not days:
            plan[node] = None
            continue
        first, _, last = days.partition("-")
        try:
            plan[node] = (int(first), int(last or first))
        except ValueError:
            raise ValueError(f"{ENV_VAR}: bad day range {days!r} in {part!r}") from None
    return plan


def from_environment() -> dict[str, tuple[int, int] | None]:
    return parse(os.environ.get(ENV_VAR, ""))


def maybe_fail(plan: dict, node: str, day: int) -> None:
    if node not in plan:
        return
    window = plan[node]
    if window is None or window[0] <= day <= window[1]:
        raise InjectedFault(f"injected fault in {node} on day {day} ({ENV_VAR})")
