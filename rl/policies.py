"""Policies the remediation node can ask: one interface, `decide(observation, mask, findings)`.

`rules` is the hand-written operator playbook keyed on the incident's root cause; `noop` always
continues; `random` picks uniformly among possible actions (seeded by run seed and day); `ppo` is the
learned policy (rl.agent.PPOPolicy).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from simulator.actions import Action

REPEAT_GUARD_DAYS = 5  # the playbook does not repeat a remediation for the same incident within this
SHIPPED_POLICY = Path(__file__).parent / "trained" / "ppo_remediation.pt"  # made by the command in trained/README.md


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


def make_policy(name: str, seed: int = 0, output_dir=None, learned: bytes | None = None,
                source: str = "") -> Policy:
    """`ppo` serves `learned` (a policy file's bytes: the version a run started with) if given, else
    <output_dir>/rl_policy.pt if a previous run left one there, else the shipped policy."""
    if name == "noop":
        return NoopPolicy()
    if name == "random":
        return RandomPolicy(seed)
    if name == "rules":
        return RulesPolicy()
    if name == "ppo":
        from rl.agent import PolicyFileError, PPOPolicy  # torch is imported only when the learned policy is asked for
        from rl.online import policy_path

        if learned is not None:
            return PPOPolicy(learned, source or "the run's recorded policy")
        path = policy_path(output_dir) if output_dir is not None else SHIPPED_POLICY
        if not path.exists():
            raise ValueError(f"no PPO policy at {path}; train one with python -m rl.train")
        try:
            return PPOPolicy.from_file(path)
        except PolicyFileError as exc:  # a truncated, old or hostile file: say which, do not touch it
            hint = "; move it away to start from the shipped policy" if path != SHIPPED_POLICY else ""
            raise PolicyFileError(f"{exc}{hint}") from None
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")


POLICY_NAMES = ("ppo", "rules", "noop", "random")
