"""Baseline remediation policies, and the grids their parameters are tuned over.

Every baseline sees exactly what PPO sees (the policy observation and the action mask, plus the open
incident for the playbook) and decides daily through the same `decide(observation, mask, findings)`
interface as decision.policy. Stateful ones (CUSUM) are reset at the start of each episode.

- always-continue and random: the floor.
- periodic retrain: retrain every k days, whatever happens.
- threshold rule: retrain (now, or in 3 days) when the dollars lost to errors beyond the reference
  accuracy pass a threshold: "retrain when errors cost more than $X a day".
- drift trigger: retrain when the drift score passes a threshold.
- CUSUM on accuracy: Page's cumulative-sum detector (nodes.detectors.Cusum, the one the alert node
  uses) on the drop below the accuracy seen in the first days of the episode (or since the last
  retrain); retrain when it fires.
- the playbook: decision.policy.RulesPolicy, the root-cause playbook the graph runs by default.
"""
from __future__ import annotations

from dataclasses import dataclass

from decision.actions import Action
from decision.observation import POLICY_FEATURES
from decision.policy import Decision, NoopPolicy, RandomPolicy, RulesPolicy
from nodes.detectors import Cusum

_INDEX = {name: i for i, name in enumerate(POLICY_FEATURES)}


def feature(observation, name: str) -> float:
    return float(observation[_INDEX[name]])


def days_since_retrain(observation) -> float:
    return feature(observation, "days_since_retrain") * 30.0


class PeriodicRetrain:
    def __init__(self, period: int):
        self.period, self.name = period, f"periodic_retrain(every {period}d)"

    def decide(self, observation, mask, findings) -> Decision:
        if days_since_retrain(observation) >= self.period and not feature(observation, "retrain_pending"):
            return Decision(Action.RETRAIN_NOW, f"{self.period} days since the last retrain")
        return Decision(Action.CONTINUE, "not due")


class ThresholdRule:
    """Retrain when the daily business impact (excess errors, in $20,000s a day) reaches `threshold`."""

    def __init__(self, threshold: float, scheduled: bool = False, cooldown: int = 7):
        self.threshold, self.scheduled, self.cooldown = threshold, scheduled, cooldown
        self.name = f"threshold_{'scheduled' if scheduled else 'now'}(impact>={threshold:g})"

    def decide(self, observation, mask, findings) -> Decision:
        impact = feature(observation, "business_impact")
        if impact < self.threshold or days_since_retrain(observation) < self.cooldown:
            return Decision(Action.CONTINUE, "below threshold")
        action = Action.RETRAIN_IN_3_DAYS if self.scheduled else Action.RETRAIN_NOW
        if not mask[action]:
            return Decision(Action.CONTINUE, "a retrain is already scheduled")
        return Decision(action, f"impact {impact:.3f} >= {self.threshold:g}")


class DriftTrigger:
    def __init__(self, threshold: float, cooldown: int = 7):
        self.threshold, self.cooldown = threshold, cooldown
        self.name = f"drift_trigger(score>={threshold:g})"

    def decide(self, observation, mask, findings) -> Decision:
        if feature(observation, "drift_score") >= self.threshold and days_since_retrain(observation) >= self.cooldown:
            return Decision(Action.RETRAIN_NOW, "drift over threshold")
        return Decision(Action.CONTINUE, "drift below threshold")


class CusumAccuracy:
    """Page's CUSUM on accuracy drops (nodes.detectors.Cusum, the alert node's detector): S = max(0, S +
    (baseline - accuracy - k)); retrain when S > h.

    The baseline is the mean accuracy of the first `warmup` days after the episode start or a retrain.
    Below, S is 0, 0.02, 0.045 after the three drops, then 0.105 > h on the last day.

    >>> c = CusumAccuracy(k=0.01, h=0.05)
    >>> obs = lambda acc: [acc] + [0.0] * 18
    >>> [c.decide(obs(a), [1] * 7, {}).action.label for a in [0.87, 0.87, 0.87, 0.86, 0.84, 0.835, 0.80]]
    ['continue', 'continue', 'continue', 'continue', 'continue', 'continue', 'retrain_now']
    """

    warmup = 3

    def __init__(self, k: float, h: float):
        self.k, self.h = k, h
        self.name = f"cusum(k={k:g},h={h:g})"
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        self.detector = Cusum(self.k, self.h, warmup=self.warmup, mode="down")

    def decide(self, observation, mask, findings) -> Decision:
        learning = self.detector.reference is None
        detector = self.detector.update(feature(observation, "current_accuracy"))
        if learning:
            return Decision(Action.CONTINUE, "learning the baseline")
        if detector.drift_detected:
            statistic = detector.statistic
            self.reset()  # the retrain starts a new stream: learn its baseline again
            return Decision(Action.RETRAIN_NOW, f"CUSUM {statistic:.3f} > {self.h:g}")
        return Decision(Action.CONTINUE, f"CUSUM {detector.statistic:.3f}")


@dataclass(frozen=True)
class Family:
    """A baseline and the grid its parameters are tuned over (wide enough that the best is inside)."""

    name: str
    grid: tuple  # of kwargs dicts
    build: type

    def policies(self):
        return [self.build(**kwargs) for kwargs in self.grid]


FAMILIES = (
    Family("periodic_retrain", tuple({"period": p} for p in (2, 3, 5, 7, 10, 14, 21, 28, 45)), PeriodicRetrain),
    Family("threshold_now", tuple({"threshold": t} for t in (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)),
           ThresholdRule),
    Family("threshold_scheduled", tuple({"threshold": t, "scheduled": True}
                                        for t in (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)), ThresholdRule),
    Family("drift_trigger", tuple({"threshold": t} for t in (0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7)),
           DriftTrigger),
    Family("cusum", tuple({"k": k, "h": h} for k in (0.0, 0.005, 0.01, 0.02, 0.04) for h in (0.005, 0.02, 0.05, 0.1, 0.2)),
           CusumAccuracy),
)
UNTUNED = {"always_continue": NoopPolicy, "random": RandomPolicy, "playbook": RulesPolicy}


def make_baseline(family: str, params: dict):
    if family in UNTUNED:
        return UNTUNED[family](**params)
    for fam in FAMILIES:
        if fam.name == family:
            return fam.build(**params)
    raise ValueError(f"unknown baseline {family!r}")
