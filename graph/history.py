"""A thread's past, day by day, read from its checkpoints (LangGraph's state history).

Each super-step leaves a snapshot whose `next` names the step about to run, so a day's snapshots
give the path the graph took that day (fallbacks and no-label branches included) and its state just
before `act` (where a fork starts) and just before `record` (the day's findings complete).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.build import build_graph
from graph.runner import thread_config


@dataclass
class PastDay:
    day: int
    path: list[str] = field(default_factory=list)  # steps run that day, in order
    before_act: object | None = None  # StateSnapshot just before `act`
    before_record: object | None = None  # StateSnapshot just before `record`: the day's findings, outcome included
    before_alert: object | None = None  # StateSnapshot just before the alert step (the alert node's input)

    @property
    def values(self) -> dict:
        """The day as it was: its findings as complete as the checkpoints go."""
        snapshot = self.before_record or self.before_act or self.before_alert
        return snapshot.values if snapshot is not None else {}

    @property
    def finished(self) -> bool:
        return self.before_record is not None


def past_days(graph, run_id: str, model: str, days: int, since_day: int = 0) -> dict[int, PastDay]:
    """The days from `since_day` on that the thread reached, oldest first, from its checkpoint history.

    The history is read newest first and only as far back as `since_day`, so a view that already holds
    the earlier days reads a few snapshots, not the whole run.
    """
    history = []
    for snapshot in graph.get_state_history(thread_config(run_id, model, days)):
        day = snapshot.values.get("day")
        if day is not None and day < since_day:
            break
        history.append(snapshot)
    result: dict[int, PastDay] = {}
    for snapshot in reversed(history):
        day, step = snapshot.values.get("day"), snapshot.next[0] if snapshot.next else None
        if day is None or step is None or day >= days:
            continue
        past = result.setdefault(day, PastDay(day))
        if step == "load_day" and past.path:  # a resumed day starts again: keep the last attempt
            past.path = []
        past.path.append(step)
        if step == "act":
            past.before_act = snapshot
        elif step == "record":
            past.before_record = snapshot
        elif step == "alert":
            past.before_alert = snapshot
    return result


def read_past_days(checkpointer: SqliteSaver, run_id: str, model: str, days: int, since_day: int = 0) -> dict[int, PastDay]:
    return past_days(build_graph(checkpointer), run_id, model, days, since_day)
