"""The remediation reward of the original design, with its weights in one dataclass.

reward = accuracy gain x 200 - cost / 1000 - downtime hours x 0.5 + business impact / 10000
         + early-intervention bonus - unnecessary-action penalty

Accuracy gain and business impact are measured on the day after the decision, against the same day
in the world where nothing was ever done (common random numbers make that day exist). So doing
nothing scores zero apart from bonuses and penalties, and a retrain keeps earning while it helps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

DEGRADED_MARGIN = 0.03  # true accuracy this far under the reference counts as degraded
EARLY_DAYS = 2  # acting within this many days of the degradation's start earns the bonus


@dataclass(frozen=True)
class RewardWeights:
    accuracy_gain: float = 200.0
    cost: float = 1.0 / 1000.0
    downtime: float = 0.5
    business_impact: float = 1.0 / 10000.0
    early_intervention: float = 2.0
    unnecessary_action: float = 2.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """What one decision led to, in the terms the reward needs."""

    accuracy: float  # true accuracy on the next day
    counterfactual_accuracy: float  # same day, world where nothing was ever done
    cost: float
    downtime_hours: float
    rows: int  # predictions served on the next day
    cost_per_error: float
    acted: bool  # anything but continue
    degraded_days: int  # consecutive days, up to today, the serving model was degraded (0: healthy)


def compute_reward(outcome: Outcome, weights: RewardWeights = RewardWeights()) -> tuple[float, dict]:
    gain = outcome.accuracy - outcome.counterfactual_accuracy
    impact = gain * outcome.rows * outcome.cost_per_error  # dollars of errors avoided
    early = outcome.acted and 0 < outcome.degraded_days <= EARLY_DAYS
    unnecessary = outcome.acted and outcome.degraded_days == 0
    parts = {
        "accuracy_gain": weights.accuracy_gain * gain,
        "cost": -weights.cost * outcome.cost,
        "downtime": -weights.downtime * outcome.downtime_hours,
        "business_impact": weights.business_impact * impact,
        "early_intervention": weights.early_intervention if early else 0.0,
        "unnecessary_action": -weights.unnecessary_action if unnecessary else 0.0,
    }
    return float(sum(parts.values())), {k: float(v) for k, v in parts.items()}
