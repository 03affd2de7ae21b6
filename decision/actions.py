"""The seven remediations, what each costs, and how long each takes the model down.

One table shared by the world (which applies actions), the remediation node (which picks them)
and the RL environment (whose action space they are). The order is the action index.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Action(IntEnum):
    RETRAIN_NOW = 0
    RETRAIN_IN_3_DAYS = 1
    RETRAIN_IN_7_DAYS = 2
    ROLLBACK = 3
    ADJUST_THRESHOLD = 4
    INCREASE_MONITORING = 5
    CONTINUE = 6

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class ActionCost:
    dollars: float
    downtime_hours: float


# Costs are charged on the day the action takes effect (a scheduled retrain is paid when it runs).
ACTION_COSTS: dict[Action, ActionCost] = {
    Action.RETRAIN_NOW: ActionCost(5000.0, 4.0),
    Action.RETRAIN_IN_3_DAYS: ActionCost(5000.0, 4.0),
    Action.RETRAIN_IN_7_DAYS: ActionCost(5000.0, 4.0),
    Action.ROLLBACK: ActionCost(500.0, 1.0),
    Action.ADJUST_THRESHOLD: ActionCost(100.0, 0.5),
    Action.INCREASE_MONITORING: ActionCost(200.0, 0.5),
    Action.CONTINUE: ActionCost(0.0, 0.0),
}

RETRAIN_DELAY_DAYS: dict[Action, int] = {
    Action.RETRAIN_NOW: 0,
    Action.RETRAIN_IN_3_DAYS: 3,
    Action.RETRAIN_IN_7_DAYS: 7,
}

N_ACTIONS = len(Action)
