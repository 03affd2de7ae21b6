"""Thompson sampling over drift-alert thresholds, rewarded by what alerts cost.

Each day the alert node compares the drift score with a threshold. The bandit keeps one arm per
candidate threshold and, each day, picks the threshold of the arm whose sampled mean reward is
highest. Feedback is bandit feedback: only the chosen threshold's outcome is learned from, when the
day's labels show whether the model was really degraded.

Costs (documented, in dollars; only their ratio matters to the bandit):
- a false alert (fired on a day the model was fine): FALSE_ALERT_COST, an on-call look that finds nothing;
- a missed degraded day (no alert while accuracy was really down): MISSED_DAY_COST, a day of bad
  predictions nobody was told about;
- a true alert or a quiet healthy day: 0.
The reward is 1 - cost / MISSED_DAY_COST, in [0, 1], learned as a fractional Beta update.

An accuracy-style reward ("the alert was right or correctly silent") is deliberately not used: it
scores a false alert and a missed incident the same, and a bandit trained on it raises its threshold
until it stays silent through real incidents.

`python -m rl.bandit` evaluates it on event streams simulated with no remediation, against the
default fixed threshold and the best fixed threshold in hindsight.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np

from simulator.cli import EXIT_BAD_INPUT, OneLineParser

FALSE_ALERT_COST = 200.0
MISSED_DAY_COST = 2000.0
ARMS = (0.03, 0.05, 0.075, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60)
DEFAULT_THRESHOLD = 0.25  # nodes.alert.AlertThresholds.drift_score


def day_cost(fired: bool, degraded: bool) -> float:
    if fired and not degraded:
        return FALSE_ALERT_COST
    if degraded and not fired:
        return MISSED_DAY_COST
    return 0.0


class ThompsonThresholds:
    """Beta-Bernoulli Thompson sampling over threshold arms.

    >>> bandit = ThompsonThresholds(arms=(0.1, 0.5), seed=0)
    >>> for _ in range(300):  # benign drift at 0.3 every day: the low threshold only raises false alerts
    ...     arm = bandit.choose()
    ...     bandit.update(arm, fired=0.3 >= bandit.arms[arm], degraded=False)
    >>> bandit.arms[int(np.argmax(bandit.posterior_means()))]
    0.5
    """

    def __init__(self, arms: tuple[float, ...] = ARMS, seed: int = 0):
        self.arms = arms
        self.alpha = np.ones(len(arms))
        self.beta = np.ones(len(arms))
        self.rng = np.random.default_rng(seed)

    def choose(self) -> int:
        return int(np.argmax(self.rng.beta(self.alpha, self.beta)))

    def threshold(self) -> tuple[int, float]:
        arm = self.choose()
        return arm, self.arms[arm]

    def update(self, arm: int, fired: bool, degraded: bool) -> None:
        reward = 1.0 - day_cost(fired, degraded) / MISSED_DAY_COST
        self.alpha[arm] += reward
        self.beta[arm] += 1.0 - reward

    def posterior_means(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)


# ---- evaluation on simulated event streams ----------------------------------------------------

@dataclass
class Stream:
    """One episode's days: the drift score mlmon computed and whether the model was really degraded."""

    scenario: str
    drift: np.ndarray
    degraded: np.ndarray


def simulate_streams(episodes: int, first_seed: int) -> list[Stream]:
    """Episodes of the RL environment with nothing remediated; degraded = true accuracy under the
    reference by more than the reward's margin (rl.reward.DEGRADED_MARGIN)."""
    from rl.env import RemediationEnv
    from rl.reward import DEGRADED_MARGIN
    from simulator.actions import Action

    streams = []
    env = RemediationEnv()
    for seed in range(first_seed, first_seed + episodes):
        env.reset(seed=seed)
        drift, degraded, done = [], [], False
        while not done:
            drift.append(env.findings["drift"]["drift_score"])
            degraded.append(env.batch.true_accuracy < env.world.reference_accuracy - DEGRADED_MARGIN)
            _, _, done, _, _ = env.step(Action.CONTINUE)
        streams.append(Stream(env.world.scenario.name, np.array(drift), np.array(degraded)))
    return streams


def incidents(degraded: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive degraded days as (first, last)."""
    runs, start = [], None
    for day, bad in enumerate(list(degraded) + [False]):
        if bad and start is None:
            start = day
        elif not bad and start is not None:
            runs.append((start, day - 1))
            start = None
    return runs


def score(streams: list[Stream], fired: list[np.ndarray]) -> dict:
    """Per-episode false alerts, missed incidents (no alert on any of its days), recall and cost."""
    rows = []
    for stream, alerts in zip(streams, fired):
        runs = incidents(stream.degraded)
        detected = sum(1 for a, b in runs if alerts[a:b + 1].any())
        cost = sum(day_cost(f, d) for f, d in zip(alerts, stream.degraded))
        rows.append({"false_alerts": int((alerts & ~stream.degraded).sum()), "incidents": len(runs),
                     "detected": detected, "missed_incidents": len(runs) - detected, "cost": cost})
    return rows


def summarise(rows: list[dict], rng: np.random.Generator, boot: int = 2000) -> dict:
    """Totals with 95% bootstrap intervals over episodes."""
    arr = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    n = len(rows)
    samples = rng.integers(0, n, size=(boot, n))

    def ci(values):
        totals = values[samples].sum(axis=1)
        return [float(np.percentile(totals, 2.5)), float(np.percentile(totals, 97.5))]

    recall_boot = arr["detected"][samples].sum(axis=1) / np.maximum(arr["incidents"][samples].sum(axis=1), 1)
    return {
        "false_alerts": int(arr["false_alerts"].sum()), "false_alerts_ci95": ci(arr["false_alerts"]),
        "missed_incidents": int(arr["missed_incidents"].sum()), "missed_incidents_ci95": ci(arr["missed_incidents"]),
        "recall": float(arr["detected"].sum() / max(arr["incidents"].sum(), 1)),
        "recall_ci95": [float(np.percentile(recall_boot, 2.5)), float(np.percentile(recall_boot, 97.5))],
        "total_cost": float(arr["cost"].sum()), "total_cost_ci95": ci(arr["cost"]),
    }


def run_bandit(streams: list[Stream], seed: int) -> list[np.ndarray]:
    """The bandit plays the streams in order, day by day, learning as it goes (exploration included)."""
    bandit, fired = ThompsonThresholds(seed=seed), []
    for stream in streams:
        alerts = np.zeros(len(stream.drift), dtype=bool)
        for day, (drift, degraded) in enumerate(zip(stream.drift, stream.degraded)):
            arm, threshold = bandit.threshold()
            alerts[day] = drift >= threshold
            bandit.update(arm, bool(alerts[day]), bool(degraded))
        fired.append(alerts)
    return fired


def evaluate(episodes: int, first_seed: int, seed: int = 0) -> dict:
    streams = simulate_streams(episodes, first_seed)
    fixed = {t: [s.drift >= t for s in streams] for t in ARMS}
    costs = {t: sum(r["cost"] for r in score(streams, fired)) for t, fired in fixed.items()}
    hindsight = min(costs, key=costs.get)
    rng = np.random.default_rng(seed)
    result = {
        "episodes": episodes, "seeds": f"{first_seed}..{first_seed + episodes - 1}",
        "costs": {"false_alert": FALSE_ALERT_COST, "missed_degraded_day": MISSED_DAY_COST},
        "default_fixed": {"threshold": DEFAULT_THRESHOLD, **summarise(score(streams, fixed[DEFAULT_THRESHOLD]), rng)},
        "best_fixed_in_hindsight": {"threshold": hindsight, **summarise(score(streams, fixed[hindsight]), rng)},
        "thompson": summarise(score(streams, run_bandit(streams, seed)), rng),
    }
    base, ts = result["default_fixed"], result["thompson"]
    result["thompson_vs_default"] = {
        "false_alert_reduction": 1 - ts["false_alerts"] / max(base["false_alerts"], 1),
        "recall_change": ts["recall"] - base["recall"],
        "cost_change": ts["total_cost"] - base["total_cost"],
    }
    return result


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m rl.bandit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=300, help="simulated episodes (default 300)")
    p.add_argument("--first-seed", type=int, default=0, help="first episode seed (default 0: the held-out seeds)")
    p.add_argument("--seed", type=int, default=0, help="the bandit's own sampling seed")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.episodes <= 0:
        print("error: --episodes must be positive", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = evaluate(args.episodes, args.first_seed, args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    for name in ("default_fixed", "best_fixed_in_hindsight", "thompson"):
        r = result[name]
        label = name + (f" ({r['threshold']})" if "threshold" in r else "")
        fa, mi, rc, tc = r["false_alerts_ci95"], r["missed_incidents_ci95"], r["recall_ci95"], r["total_cost_ci95"]
        print(f"{label:30s} false alerts {r['false_alerts']:5d} [{fa[0]:.0f}, {fa[1]:.0f}]  "
              f"missed incidents {r['missed_incidents']:4d} [{mi[0]:.0f}, {mi[1]:.0f}]  "
              f"recall {r['recall']:.3f} [{rc[0]:.3f}, {rc[1]:.3f}]  "
              f"cost ${r['total_cost'] / 1e6:.2f}M [{tc[0] / 1e6:.2f}, {tc[1] / 1e6:.2f}]")
    d = result["thompson_vs_default"]
    print(f"thompson vs default: false alerts {-d['false_alert_reduction']:+.0%}, recall {d['recall_change']:+.3f}, "
          f"cost ${d['cost_change']:+,.0f}   (costs: false alert ${FALSE_ALERT_COST:,.0f}, missed degraded day "
          f"${MISSED_DAY_COST:,.0f}; {result['episodes']} episodes, seeds {result['seeds']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
