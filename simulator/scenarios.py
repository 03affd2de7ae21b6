"""Scenarios: what happens to a model's world on each day, independent of what mlmon does.

A scenario turns a day number into `DayConditions` (how much of the new segment is in the traffic,
how far the ground truth has moved, whether a feed is broken, whether a bad release goes out). The
world then draws that day's rows. Every scenario documents when and what it injects; its onset and
severity have defaults for `python -m graph.run` and can be sampled from a seed for the RL env.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class DayConditions:
    segment_share: float = 0.0  # share of rows from the new segment (covariate drift)
    concept: float = 0.0  # 0 = original ground truth, 1 = fully drifted truth (concept drift)
    prior_shift: float = 0.0  # added to the ground-truth log-odds (prior / label shift)
    seasonal_shift: float = 0.0  # z-shift of the model's seasonal features (drift the model handles)
    fault_active: bool = False  # the scenario's broken feed is broken today (unless repaired)
    fault_kind: str = ""  # "missing" (NULLs, imputed by serving) or "stuck" (one constant value)
    fault_rate: float = 0.0  # share of rows hit by the fault
    deploy_bad_release: bool = False  # a faulty release replaces the serving model this morning


@dataclass(frozen=True)
class ScenarioParams:
    onset: int = 12  # first day of the injected change
    severity: float = 1.0  # scales the size of the change
    duration: int = 10  # days a temporary fault lasts when nobody repairs it


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    right_action: str  # what a competent operator would do, for the docs and the tests
    params: ScenarioParams = field(default_factory=ScenarioParams)
    uses: tuple[str, ...] = ("onset", "severity")  # the params its conditions read (others would be ignored)

    def conditions(self, day: int) -> DayConditions:
        return _CONDITIONS[self.name](day, self.params)

    def with_params(self, **changes) -> "Scenario":
        return replace(self, params=replace(self.params, **changes))

    def sample(self, rng: np.random.Generator, days: int) -> "Scenario":
        """The same scenario with onset and severity drawn from `rng` (for training and evaluation)."""
        if self.name in ("stable", "seasonal", "default"):
            return self
        onset = int(rng.integers(3, max(4, days - 8)))
        severity = float(rng.uniform(0.6, 1.4))
        duration = int(rng.integers(6, 14))
        return self.with_params(onset=onset, severity=severity, duration=duration)


# ---- day -> conditions, one function per scenario -------------------------------------------------

# The default arc of the original brief when nothing is done: baseline (days 0-10), the new segment
# creeping in (11-20), a critical period (21-25), then the traffic drifting back (26-30). The shares
# are calibrated so pneumonia_classifier_v1 reads ~0.87 / falls to ~0.82 / ~0.75 / ~0.86 accuracy.
DEFAULT_RAMP_END_SHARE = 0.17
DEFAULT_CRITICAL_SHARE = 0.42
DEFAULT_RECOVERY_SHARE = 0.02


def _default(day: int, p: ScenarioParams) -> DayConditions:
    if day <= 10:
        share = 0.0
    elif day <= 20:
        share = DEFAULT_RAMP_END_SHARE * (day - 10) / 10
    elif day <= 25:
        share = DEFAULT_CRITICAL_SHARE
    else:
        share = DEFAULT_RECOVERY_SHARE
    return DayConditions(segment_share=share)


def _stable(day: int, p: ScenarioParams) -> DayConditions:
    return DayConditions()


def _sudden_shift(day: int, p: ScenarioParams) -> DayConditions:
    return DayConditions(segment_share=min(0.9, 0.45 * p.severity) if day >= p.onset else 0.0)


def _prior_shift(day: int, p: ScenarioParams) -> DayConditions:
    if day < p.onset:
        return DayConditions()
    ramp = min(1.0, (day - p.onset + 1) / 2)
    return DayConditions(prior_shift=1.6 * p.severity * ramp)


def _concept_drift(day: int, p: ScenarioParams) -> DayConditions:
    if day < p.onset:
        return DayConditions()
    return DayConditions(concept=min(1.0, p.severity * (day - p.onset + 1) / 4))


def _bad_deploy(day: int, p: ScenarioParams) -> DayConditions:
    return DayConditions(deploy_bad_release=(day == p.onset))


def _pipeline_fault(day: int, p: ScenarioParams) -> DayConditions:
    active = p.onset <= day < p.onset + p.duration
    kind = "missing" if p.severity >= 1.0 else "stuck"
    return DayConditions(fault_active=active, fault_kind=kind, fault_rate=min(1.0, 0.8 * p.severity))


def _seasonal(day: int, p: ScenarioParams) -> DayConditions:
    return DayConditions(seasonal_shift=0.9 * p.severity * math.sin(2 * math.pi * day / 7))


_CONDITIONS = {
    "default": _default,
    "stable": _stable,
    "sudden_shift": _sudden_shift,
    "prior_shift": _prior_shift,
    "concept_drift": _concept_drift,
    "bad_deploy": _bad_deploy,
    "pipeline_fault": _pipeline_fault,
    "seasonal": _seasonal,
}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "default",
            "The original arc: baseline days 0-10; the model's new segment creeps into traffic on days "
            "11-20 (accuracy ~0.87 -> ~0.82); critical days 21-25 (~0.75, drift ~0.45); the traffic "
            "drifts back from day 26 (~0.86).",
            right_action="retrain once the segment is established (in the critical period at the latest)",
            uses=(),
        ),
        Scenario("stable", "Nothing changes: every day is drawn from the reference world.", "continue", uses=()),
        Scenario(
            "sudden_shift",
            "On the onset day (default 12) the new segment jumps to 45% x severity of traffic and stays: "
            "large covariate drift with a measurement offset the model has never seen.",
            right_action="retrain (now, or in 3 days on more post-shift rows)",
        ),
        Scenario(
            "prior_shift",
            "From the onset day (default 12) the base rate of positives rises over two days (ground-truth "
            "log-odds +1.6 x severity); inputs do not move.",
            right_action="adjust_threshold (recalibrates cheaply on recent labelled rows)",
        ),
        Scenario(
            "concept_drift",
            "From the onset day (default 12) the relationship between features and label moves to a new "
            "ground truth over four days; inputs do not move.",
            right_action="retrain once post-drift labels have accumulated (retrain in 3 or 7 days)",
        ),
        Scenario(
            "bad_deploy",
            "On the onset day (default 12) a faulty release (a column-order bug, slower build) replaces the "
            "serving model.",
            right_action="rollback",
            uses=("onset",),
        ),
        Scenario(
            "pipeline_fault",
            "From the onset day (default 12) for `duration` days (default 10) one feed breaks: 80% of its "
            "values arrive missing (severity >= 1) or stuck at one value (severity < 1). Extra monitoring "
            "locates the broken feed and it is repaired the next day.",
            right_action="increase_monitoring (do not retrain on broken data)",
            uses=("onset", "severity", "duration"),
        ),
        Scenario(
            "seasonal",
            "A weekly cycle moves features the model already handles: drift that does not hurt accuracy.",
            right_action="continue",
            uses=("severity",),
        ),
    )
}
DEFAULT_SCENARIO = "default"


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}") from None
