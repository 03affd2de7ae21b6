"""Who decides a remediation: the interface every policy offers, `decide(observation, mask, findings)`,
and the hand-written policies: `rules`, the operator playbook keyed on the incident's root cause,
`noop` (always continue) and `random` (uniform among possible actions, seeded by run seed and day).

The learned policy (rl.agent.PPOPolicy) offers the same interface; rl.policies picks one by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from decision.actions import Action

REPEAT_GUARD_DAYS = 5  # the playbook does not repeat a remediation for the same incident within this


@dataclass(frozen=True)
class Decision:
    action: Action
    justification: str
    probabilities: list[float] | None = None  # a learned policy's probability of each action, in Action order


class Policy(Protocol):
    name: str

    def decide(self, observation: list[float], mask: list[int], findings: dict) -> Decision: ...


class NoopPolicy:
    name = "noop"

    def decide(self, observation, mask, findings) -> Decision:
        return Decision(Action.CONTINUE, "noop policy: never remediates")


class RandomPolicy:
    name = "random"

    def __init__(self, seed: int = 0):
        self.seed, self.episode = seed, None

    def reset(self, seed: int) -> None:
        """A new evaluation episode gets its own random schedule, still reproducible from the seeds."""
        self.episode = seed

    def decide(self, observation, mask, findings) -> Decision:
        key = [self.seed, findings.get("day", 0), 7] if self.episode is None else [self.seed, self.episode, findings.get("day", 0), 7]
        rng = np.random.default_rng(key)
        allowed = [a for a in Action if mask[a]]
        action = Action(allowed[int(rng.integers(len(allowed)))])
        return Decision(action, f"random policy picked {action.label} among {len(allowed)} possible actions",
                        tuple(1.0 / len(allowed) if mask[a] else 0.0 for a in Action))


class RulesPolicy:
    """The playbook an experienced on-call engineer would write, keyed on the incident's root cause."""

    name = "rules"

    def decide(self, observation, mask, findings) -> Decision:
        incident = findings.get("incident")
        if not incident:
            return Decision(Action.CONTINUE, "no open incident: keep watching")
        cause, severity = incident["root_cause"], incident["severity"]
        acted = [a for a in findings.get("recent_actions", [])
                 if a["day"] >= incident["opened_day"] and findings.get("day", 0) - a["day"] < REPEAT_GUARD_DAYS]
        if acted:
            return Decision(Action.CONTINUE, f"{acted[-1]['action']} already taken on day {acted[-1]['day']} for this incident: wait for it to work")
        if cause == "bad_deployment" and mask[Action.ROLLBACK]:
            return Decision(Action.ROLLBACK, "accuracy fell right after a new version went live: roll back")
        if cause == "data_pipeline_fault":
            return Decision(Action.INCREASE_MONITORING, "input data is broken, not the model: escalate and watch closely; do not retrain on bad data")
        if cause == "prior_shift":
            return Decision(Action.ADJUST_THRESHOLD, "the share of positives moved while inputs did not: recalibrate the threshold")
        if cause == "concept_drift":
            if mask[Action.RETRAIN_IN_3_DAYS]:
                return Decision(Action.RETRAIN_IN_3_DAYS, "the input-label relationship changed: retrain once 3 more days of labels exist")
        if cause == "covariate_drift":
            if severity == "critical":
                return Decision(Action.RETRAIN_NOW, "critical accuracy loss under input drift: retrain now")
            if mask[Action.RETRAIN_IN_3_DAYS]:
                return Decision(Action.RETRAIN_IN_3_DAYS, "accuracy slipping under input drift: retrain on 3 more days of drifted data")
        return Decision(Action.CONTINUE, f"open {cause} incident ({severity}) with no playbook step: keep watching")

