"""Learning the drift alert's threshold per model (follow the leader; Thompson sampling and a Beta bandit
for comparison): learned from the labels an operator has, judged on the degradation that drift causes.

An offline study: the alert node does not use a learned threshold yet.

Each day the alert node compares the drift score with a threshold; the bandit (one per model) picks
the threshold. It learns only from what the monitoring day shows once the day's labels are in
(`LabelledDay`): the drift score, the accuracy on the labelled rows (in the simulated world 20-30%
of a day's rows, none on a label outage, ~4% of days), the reference accuracy, and the root cause
mlmon gave the open incident. Never the simulator's truth: tests/test_rl.py poisons `true_accuracy`
and checks the bandit makes the same choices.

Its verdict on a day (`verdict`): degraded when the labelled accuracy is more than DEGRADED_MARGIN
under the reference; no verdict when no labels arrived, or when mlmon named a cause that other alerts
own (a bad deployment, a pipeline fault, concept drift, a prior shift): a drift threshold is not
answerable for those. A verdict arrives `label_delay` days after its day (0 in the simulated world,
whose labels arrive the day they are made, or never).

Costs, in dollars (only their ratio matters): a false alert FALSE_ALERT_COST (an on-call look that
finds nothing), a missed degraded day MISSED_DAY_COST (a day of bad predictions nobody was told
about); the bandit picks the threshold of least expected cost. An accuracy-style reward ("the alert
was right or correctly silent") is deliberately not used: it scores a false alert and a missed
incident the same. Feedback is full information, not bandit feedback: once a day's verdict is in, its
drift score says what every threshold would have done, so every arm learns that day's cost. With
full information, exploring buys nothing: every threshold is judged on every labelled day whichever
one fired. So this study's learner, `LeaderThresholds`, follows the leader: each day it picks the threshold
of least posterior-mean cost. `ThompsonThresholds` (the same posterior, sampled before each choice)
and `BetaThresholds`, the first design (a Beta per arm, the chosen arm's outcome only), are kept for
comparison; on the tuning seeds Thompson's sampling cost more than it learned (README).

The judge (`python -m rl.bandit`) uses the simulator's truth, which the bandit never sees. A day is
*drift-degraded* when the scenario moves the inputs that day (the new segment's share of traffic is
above 0, or the weekly cycle's shift is not 0), no other cause is active, and the true accuracy on
all the day's rows is more than DEGRADED_MARGIN under the reference. Days on which another cause is
active (the concept or the base rate has moved, a feed is broken, a bad release is serving) are not
judged at all: neither a miss nor a false alert, as other alerts own them. Every other day is judged
healthy: an alert on it is false (drift the model handles, like the weekly cycle, included).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections import deque
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from decision.reward import DEGRADED_MARGIN
from simulator.cli import EXIT_BAD_INPUT, OneLineParser

FALSE_ALERT_COST = 200.0
MISSED_DAY_COST = 2000.0
ARMS = (0.03, 0.05, 0.075, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.50, 0.60)
DEFAULT_THRESHOLD = 0.25  # nodes.alert.AlertThresholds.drift_score
# Root causes (nodes.alert.root_cause) whose alerts are not the drift alert's business.
OTHER_ALERTS_CAUSES = ("bad_deployment", "data_pipeline_fault", "prior_shift", "concept_drift")


def day_cost(fired: bool, degraded: bool) -> float:
    if fired and not degraded:
        return FALSE_ALERT_COST
    if degraded and not fired:
        return MISSED_DAY_COST
    return 0.0


# ---- what the bandit sees, and learns from ------------------------------------------------------

@dataclass(frozen=True)
class LabelledDay:
    """One monitoring day as an operator sees it once the day's labels are in: no simulator truth."""

    drift_score: float
    labelled_accuracy: float | None  # on the rows whose label arrived; None: no label arrived
    n_labelled: int
    reference_accuracy: float
    root_cause: str | None  # the open incident's root cause as mlmon named it, or None


def verdict(day: LabelledDay) -> bool | None:
    """Degraded (True) or healthy (False) by the day's labels, or None: no labels, or another alert's problem."""
    if day.labelled_accuracy is None or day.n_labelled == 0 or day.root_cause in OTHER_ALERTS_CAUSES:
        return None
    return day.labelled_accuracy < day.reference_accuracy - DEGRADED_MARGIN


class ThompsonThresholds:
    """Thompson sampling over threshold arms with full-information feedback.

    Once a day's verdict is in, its drift score says what every threshold would have done, so a day is
    a *type*: which arms fire (the score's place among the thresholds) and whether it was degraded.
    The posterior over how often each type occurs is a Dirichlet (one pseudo-day per type as prior);
    each choice samples frequencies from it and picks the arm whose expected cost under them is lowest.
    All arms are judged on the same sampled days, so the noise in their comparison is that of the
    days where they differ, not of each arm's whole history.

    The prior (chosen on the tuning seeds 2,000,000+, README): PRIOR_WEIGHT pseudo-days on every type,
    and ANCHOR_WEIGHT pseudo-days that make the default threshold the best one before any label is in
    (a healthy day just under it, a degraded day just over it), so the bandit starts where the alert
    node starts and leaves it on evidence.

    >>> bandit = ThompsonThresholds(arms=(0.1, 0.25, 0.5), seed=0)
    >>> bandit.arms[int(np.argmin(bandit.expected_costs()))]  # before any label: the default
    0.25
    >>> for _ in range(300):  # benign drift at 0.3 every day: the lower thresholds only raise false alerts
    ...     arm = bandit.choose()
    ...     bandit.learn(arm, drift_score=0.3, degraded=False)
    >>> bandit.arms[int(np.argmin(bandit.expected_costs()))]
    0.5
    """

    feedback = "full"
    PRIOR_WEIGHT, ANCHOR_WEIGHT = 0.02, 1.0  # the least costly on the tuning seeds (--tune-prior, README)

    def __init__(self, arms: tuple[float, ...] = ARMS, seed: int = 0, prior: float | None = None,
                 anchor_weight: float | None = None):
        self.arms = tuple(sorted(arms))
        self.counts = np.zeros((len(arms) + 1, 2))  # [arms that fire, degraded]
        self.prior = self.PRIOR_WEIGHT if prior is None else prior
        self.pseudo = np.zeros_like(self.counts)
        if DEFAULT_THRESHOLD in self.arms:
            anchor = self.arms.index(DEFAULT_THRESHOLD)
            weight = self.ANCHOR_WEIGHT if anchor_weight is None else anchor_weight
            self.pseudo[anchor, 0] += weight  # a healthy day just under the default: lower arms raise a false alert
            self.pseudo[anchor + 1, 1] += weight  # a degraded day just over it: higher arms miss it
        self.rng = np.random.default_rng(seed)
        fires = np.arange(len(arms))[:, None] < np.arange(len(arms) + 1)[None, :]  # arm a fires in types b > a
        self.cost = np.stack([np.vectorize(day_cost)(fires, False), np.vectorize(day_cost)(fires, True)], axis=-1)

    def day_type(self, drift_score: float) -> int:
        """How many arms fire at this drift score (arms fire at score >= threshold)."""
        return int(np.searchsorted(self.arms, drift_score, side="right"))

    def choose(self) -> int:
        frequencies = self.rng.dirichlet((self.counts + self.pseudo).ravel() + self.prior)
        return int(np.argmin(self.cost.reshape(len(self.arms), -1) @ frequencies))

    def learn(self, arm: int, drift_score: float, degraded: bool) -> None:
        """A day's verdict is in (the chosen arm does not matter: every arm's outcome is known)."""
        self.counts[self.day_type(drift_score), int(degraded)] += 1

    def expected_costs(self) -> np.ndarray:
        """Each arm's posterior mean cost per day."""
        weights = (self.counts + self.pseudo).ravel() + self.prior
        frequencies = weights / weights.sum()
        return self.cost.reshape(len(self.arms), -1) @ frequencies


class LeaderThresholds(ThompsonThresholds):
    """Follow the leader under ThompsonThresholds' posterior: each day the threshold of least posterior-mean
    cost. Deterministic (`seed` is accepted and unused), since with full information a day's verdict
    teaches every threshold whichever one fired, and sampling only adds the cost of a worse pick.

    >>> leader = LeaderThresholds(arms=(0.1, 0.25, 0.5))
    >>> leader.arms[leader.choose()]  # before any label: the default
    0.25
    >>> for _ in range(50):  # labelled days of benign drift at 0.3: the lower thresholds raised false alerts
    ...     leader.learn(leader.choose(), drift_score=0.3, degraded=False)
    >>> leader.arms[leader.choose()]
    0.5
    """

    PRIOR_WEIGHT, ANCHOR_WEIGHT = 0.02, 3.0  # the least costly on the tuning seeds (--tune-prior, README)

    def choose(self) -> int:
        return int(np.argmin(self.expected_costs()))


class BetaThresholds:
    """The first design, for comparison: Beta-Bernoulli Thompson sampling per arm with bandit feedback
    (only the chosen arm learns a day's reward 1 - cost / MISSED_DAY_COST, as a fractional Beta update)."""

    feedback = "bandit"

    def __init__(self, arms: tuple[float, ...] = ARMS, seed: int = 0):
        self.arms = tuple(sorted(arms))
        self.alpha, self.beta = np.ones(len(arms)), np.ones(len(arms))
        self.rng = np.random.default_rng(seed)

    def choose(self) -> int:
        return int(np.argmax(self.rng.beta(self.alpha, self.beta)))

    def learn(self, arm: int, drift_score: float, degraded: bool) -> None:
        reward = 1.0 - day_cost(drift_score >= self.arms[arm], degraded) / MISSED_DAY_COST
        self.alpha[arm] += reward
        self.beta[arm] += 1.0 - reward

    def expected_costs(self) -> np.ndarray:
        return (1.0 - self.alpha / (self.alpha + self.beta)) * MISSED_DAY_COST


def play(days: list[LabelledDay], bandit, label_delay: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Run the bandit over a model's days in order: (fired, chosen arm) per day. Day t's labels arrive
    on day t + label_delay, after that day's alerts, so the bandit learns them from day t + label_delay + 1."""
    fired, chosen = np.zeros(len(days), dtype=bool), np.zeros(len(days), dtype=int)
    pending: deque = deque()  # (first day that can use it, arm, drift score, verdict), in day order
    for t, day in enumerate(days):
        while pending and pending[0][0] <= t:
            _, arm, score, degraded = pending.popleft()
            bandit.learn(arm, score, degraded)
        chosen[t] = bandit.choose()
        fired[t] = day.drift_score >= bandit.arms[chosen[t]]
        known = verdict(day)
        if known is not None:
            pending.append((t + label_delay + 1, int(chosen[t]), day.drift_score, known))
    return fired, chosen


# ---- the judge: simulated episodes and their truth ------------------------------------------------

@dataclass
class Episode:
    """One simulated 30-day episode, nothing remediated: what the bandit sees, and the judge's truth."""

    seed: int
    model: str
    scenario: str
    days: list[LabelledDay]
    judged: np.ndarray  # days the drift alert answers for (no other cause active)
    drift_degraded: np.ndarray  # judged days on which drift degraded the model

    @property
    def drift(self) -> np.ndarray:
        return np.array([d.drift_score for d in self.days])


def day_cause(conditions, bad_release_serving: bool) -> str:
    """What the scenario does to day's world: 'other' (a cause other alerts own), 'drift' (inputs move), or 'none'."""
    if conditions.concept > 0 or conditions.prior_shift != 0 or conditions.fault_active or bad_release_serving:
        return "other"
    if conditions.segment_share > 0 or conditions.seasonal_shift != 0:
        return "drift"
    return "none"


def cell(seed: int) -> tuple[str, str]:
    """The (model, scenario) of an evaluation seed: models alternate, scenarios cycle every 3 seeds."""
    from simulator.catalog import MODELS
    from simulator.scenarios import SCENARIOS

    return list(MODELS)[seed % len(MODELS)], list(SCENARIOS)[(seed // len(MODELS)) % len(SCENARIOS)]


def simulate_episode(seed: int) -> Episode:
    from decision.actions import Action
    from rl.env import RemediationEnv

    model, scenario = cell(seed)
    env = RemediationEnv()
    env.reset(seed=seed, options={"model": model, "scenario": scenario})
    days, judged, degraded, done, bad_release = [], [], [], False, False
    while not done:
        perf, incident = env.findings["performance"], env.findings["alerts"]["incident"]
        days.append(LabelledDay(
            drift_score=float(env.findings["drift"]["drift_score"]),
            labelled_accuracy=None if perf.get("accuracy") is None else float(perf["accuracy"]),
            n_labelled=int(perf.get("n_labelled") or 0), reference_accuracy=float(env.baseline["reference_accuracy"]),
            root_cause=(incident or {}).get("root_cause")))
        conditions = env.world.scenario.conditions(env.day)
        bad_release = bad_release or conditions.deploy_bad_release  # nothing is remediated: it keeps serving
        cause = day_cause(conditions, bad_release)
        judged.append(cause != "other")
        degraded.append(cause == "drift" and env.batch.true_accuracy < env.world.reference_accuracy - DEGRADED_MARGIN)
        _, _, done, _, _ = env.step(Action.CONTINUE)
    return Episode(seed, model, scenario, days, np.array(judged), np.array(degraded))


def simulate(seeds: list[int], workers: int = 1) -> list[Episode]:
    """Episodes for `seeds`, in seed order (worker processes fork: the initial models' fits are shared)."""
    if workers <= 1:
        return [simulate_episode(s) for s in seeds]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(simulate_episode, seeds, chunksize=4)


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


def score(episode: Episode, alerts: np.ndarray) -> dict:
    """One episode under one alert sequence: false alerts on judged days, drift incidents detected
    (an alert on any of their days), missed degraded days, and the cost."""
    runs = incidents(episode.drift_degraded)
    false = alerts & episode.judged & ~episode.drift_degraded
    missed = ~alerts & episode.drift_degraded
    return {"false_alerts": int(false.sum()), "incidents": len(runs),
            "detected": sum(1 for a, b in runs if alerts[a:b + 1].any()), "missed_days": int(missed.sum()),
            "cost": FALSE_ALERT_COST * int(false.sum()) + MISSED_DAY_COST * int(missed.sum())}


def best_fixed_cost(episodes: list[Episode]) -> float:
    """The cost of the threshold that was cheapest on these episodes, chosen in hindsight."""
    return min(sum(score(e, e.drift >= t)["cost"] for e in episodes) for t in ARMS)


def split_by_episode(episodes: list[Episode], fired: np.ndarray) -> list[np.ndarray]:
    """A learner's alerts over the episodes' days played in a row, cut back into one array per episode."""
    starts = np.cumsum([0] + [len(e.days) for e in episodes])
    return [fired[a:b] for a, b in pairwise(starts)]


def summarise(rows: list[dict], rng: np.random.Generator, boot: int = 2000) -> dict:
    """Totals with 95% bootstrap intervals over episodes (recall: detected / incidents, resampled alike)."""
    arr = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    samples = rng.integers(0, len(rows), size=(boot, len(rows)))

    def ci(totals):
        return [float(np.percentile(totals, 2.5)), float(np.percentile(totals, 97.5))]

    incidents_boot = arr["incidents"][samples].sum(axis=1)
    recall_boot = arr["detected"][samples].sum(axis=1) / np.maximum(incidents_boot, 1)
    recall = float(arr["detected"].sum() / arr["incidents"].sum()) if arr["incidents"].sum() else None
    return {
        "episodes": len(rows), "incidents": int(arr["incidents"].sum()),
        "false_alerts": int(arr["false_alerts"].sum()), "false_alerts_ci95": ci(arr["false_alerts"][samples].sum(axis=1)),
        "missed_days": int(arr["missed_days"].sum()), "detected": int(arr["detected"].sum()),
        "recall": recall, "recall_ci95": ci(recall_boot[incidents_boot > 0]) if recall is not None else None,
        "total_cost": float(arr["cost"].sum()), "total_cost_ci95": ci(arr["cost"][samples].sum(axis=1)),
    }


def paired_ratio(a: list[float], b: list[float], rng: np.random.Generator, boot: int = 2000) -> dict | None:
    """sum(a) / sum(b) with a 95% bootstrap interval over the same episodes (resamples whose sum(b) is 0
    have no ratio and are left out); None when sum(b) is 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if b.sum() == 0:
        return None
    samples = rng.integers(0, len(a), size=(boot, len(a)))
    num, den = a[samples].sum(axis=1), b[samples].sum(axis=1)
    ratios = num[den > 0] / den[den > 0]
    return {"ratio": float(a.sum() / b.sum()), "ci95": [float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))]}


POLICIES = {"default": f"default ({DEFAULT_THRESHOLD})", "hindsight": "best fixed, hindsight",
            "leader": "follow the leader", "thompson": "thompson", "beta_bandit": "beta, bandit feedback"}
LEARNERS = {"leader": LeaderThresholds, "thompson": ThompsonThresholds, "beta_bandit": BetaThresholds}
FULL_INFORMATION = tuple(name for name, learner in LEARNERS.items() if learner.feedback == "full")
assert set(LEARNERS) <= set(POLICIES)  # evaluate() reports every learner under its policy name


def evaluate(episodes: list[Episode], seed: int = 0, label_delay: int = 0) -> dict:
    """On the same episodes: the default threshold, each model's best fixed threshold in hindsight, and
    per model a bandit of each kind playing that model's episodes in order; overall, per model, per cell."""
    from simulator.catalog import MODELS
    from simulator.scenarios import SCENARIOS

    alerts: dict[str, dict[int, np.ndarray]] = {name: {} for name in POLICIES}
    thresholds, fixed = {}, {}
    for m_index, model in enumerate(MODELS):
        mine = [e for e in episodes if e.model == model]
        if not mine:
            continue
        fixed[model] = []
        for t in ARMS:
            scored = [score(e, e.drift >= t) for e in mine]
            fixed[model].append({"threshold": t, **{k: sum(r[k] for r in scored)
                                                    for k in ("false_alerts", "detected", "incidents", "cost")}})
        thresholds[model] = min(fixed[model], key=lambda f: (f["cost"], abs(f["threshold"] - DEFAULT_THRESHOLD)))["threshold"]
        days = [d for e in mine for d in e.days]
        for name, learner in LEARNERS.items():
            fired = play(days, learner(seed=seed * 1000 + m_index), label_delay)[0]
            for e, alerted in zip(mine, split_by_episode(mine, fired)):
                alerts[name][e.seed] = alerted
        for e in mine:
            alerts["default"][e.seed] = e.drift >= DEFAULT_THRESHOLD
            alerts["hindsight"][e.seed] = e.drift >= thresholds[model]
    rows = {name: {e.seed: score(e, alerts[name][e.seed]) for e in episodes} for name in alerts}
    rng = np.random.default_rng(seed)

    def group(select) -> dict:
        chosen = [e for e in episodes if select(e)]
        out = {name: summarise([rows[name][e.seed] for e in chosen], rng) for name in rows}
        column = lambda name, key: [rows[name][e.seed][key] for e in chosen]  # noqa: E731
        for name in FULL_INFORMATION:
            out[f"{name}_cost_to_hindsight"] = paired_ratio(column(name, "cost"), column("hindsight", "cost"), rng)
        out["leader_false_alerts_to_default"] = paired_ratio(column("leader", "false_alerts"),
                                                             column("default", "false_alerts"), rng)
        return out

    # What fixed thresholds could do at the default's recall: per model, the fewest false alerts among
    # the thresholds that detect at least as many of its drift incidents as the default does.
    at_default_recall = {}
    for model, table in fixed.items():
        default = next(f for f in table if f["threshold"] == DEFAULT_THRESHOLD)
        at_default_recall[model] = {"default": default, "best": min(
            (f for f in table if f["detected"] >= default["detected"]), key=lambda f: (f["false_alerts"], f["cost"]))}
    # Regret as the learners' histories grow: over each model's first k episodes, a learner's cost against
    # the best fixed threshold for those same episodes (summed over models).
    curve = []
    for share in (0.125, 0.25, 0.5, 1.0):
        spent, best = dict.fromkeys(FULL_INFORMATION, 0.0), 0.0
        for model in fixed:
            mine = [e for e in episodes if e.model == model]
            first = mine[:max(1, round(share * len(mine)))]
            for name in spent:
                spent[name] += sum(rows[name][e.seed]["cost"] for e in first)
            best += best_fixed_cost(first)
        curve.append({"episodes_per_model": max(1, round(share * len(episodes) / max(len(fixed), 1))),
                      "best_fixed_cost": best, **{f"{name}_cost": cost for name, cost in spent.items()},
                      **{f"{name}_ratio": cost / best if best else None for name, cost in spent.items()}})
    seeds = sorted(e.seed for e in episodes)
    return {
        "episodes": len(episodes), "seeds": f"{seeds[0]}..{seeds[-1]}", "label_delay": label_delay,
        "costs": {"false_alert": FALSE_ALERT_COST, "missed_degraded_day": MISSED_DAY_COST},
        "default_threshold": DEFAULT_THRESHOLD, "hindsight_thresholds": thresholds,
        "overall": group(lambda e: True),
        "per_model": {m: group(lambda e, m=m: e.model == m) for m in fixed},
        "per_cell": {f"{s}/{m}": group(lambda e, s=s, m=m: e.scenario == s and e.model == m)
                     for s in SCENARIOS for m in MODELS if any(e.scenario == s and e.model == m for e in episodes)},
        "fixed_thresholds": fixed, "fixed_at_default_recall": at_default_recall, "regret_curve": curve,
        "days": {"all": sum(len(e.days) for e in episodes), "judged": int(sum(e.judged.sum() for e in episodes)),
                 "drift_degraded": int(sum(e.drift_degraded.sum() for e in episodes)),
                 "with_verdict": sum(verdict(d) is not None for e in episodes for d in e.days)},
    }


def tune_prior(episodes: list[Episode], seeds: int = 5) -> list[dict]:
    """Each full-information learner's cost against each model's best fixed threshold in hindsight, summed
    over models (Thompson's averaged over `seeds` sampling seeds; the leader is deterministic), for a grid of
    priors: how the learner, PRIOR_WEIGHT and ANCHOR_WEIGHT were chosen (on the tuning seeds, never the
    held-out ones)."""
    from simulator.catalog import MODELS

    per_model = [[e for e in episodes if e.model == model] for model in MODELS]
    best = sum(best_fixed_cost(mine) for mine in per_model)
    rows = []
    for name in FULL_INFORMATION:
        runs = 1 if name == "leader" else seeds
        for prior in (1.0, 0.1, 0.02):
            for anchor in (0.0, 1.0, 3.0, 10.0):
                spent = 0.0
                for m_index, mine in enumerate(per_model):
                    days = [d for e in mine for d in e.days]
                    for s in range(runs):
                        fired, _ = play(days, LEARNERS[name](seed=s * 1000 + m_index, prior=prior, anchor_weight=anchor))
                        spent += sum(score(e, alerted)["cost"] for e, alerted in zip(mine, split_by_episode(mine, fired))) / runs
                rows.append({"learner": name, "prior": prior, "anchor_weight": anchor, "ratio": spent / best})
    return rows


# ---- the command ----------------------------------------------------------------------------------

def _fmt_ci(value, ci, fmt="{:.0f}") -> str:
    if value is None:
        return "-"
    return f"{fmt.format(value)} [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def _ratio(r: dict | None, fmt: str = "{:.3f}") -> str:
    return "-" if r is None else f"{fmt.format(r['ratio'])} [{fmt.format(r['ci95'][0])}, {fmt.format(r['ci95'][1])}]"


def print_report(result: dict) -> None:
    d = result["days"]
    print(f"{result['episodes']} episodes (seeds {result['seeds']}), nothing remediated; labels learned "
          f"{result['label_delay']} day(s) after their day; costs: false alert ${FALSE_ALERT_COST:,.0f}, missed "
          f"drift-degraded day ${MISSED_DAY_COST:,.0f}")
    print(f"days: {d['all']}, judged (no other cause active) {d['judged']}, drift-degraded {d['drift_degraded']}; "
          f"the bandits had a verdict from labels on {d['with_verdict']}")
    print("best fixed threshold in hindsight: " + ", ".join(f"{m} {t}" for m, t in result["hindsight_thresholds"].items())
          + f"; default {DEFAULT_THRESHOLD}")

    def block(title: str, g: dict) -> None:
        print(f"\n{title}: {g['default']['incidents']} drift incidents in {g['default']['episodes']} episodes")
        for key, label in POLICIES.items():
            r = g[key]
            print(f"  {label:22s} false alerts {_fmt_ci(r['false_alerts'], r['false_alerts_ci95']):16s} "
                  f"recall {_fmt_ci(r['recall'], r['recall_ci95'], '{:.2f}'):18s} "
                  f"cost ${_fmt_ci(r['total_cost'] / 1e3, [v / 1e3 for v in r['total_cost_ci95']], '{:,.0f}')}k")
        print(f"  leader / hindsight cost {_ratio(g['leader_cost_to_hindsight'])};  "
              f"thompson / hindsight cost {_ratio(g['thompson_cost_to_hindsight'])};  "
              f"leader / default false alerts {_ratio(g['leader_false_alerts_to_default'], '{:.2f}')}")

    block("all models", result["overall"])
    for model, g in result["per_model"].items():
        block(model, g)
    for name in FULL_INFORMATION:
        print(f"\n{name} against the best fixed thresholds for the same first k episodes of each model: "
              + ";  ".join(f"k={c['episodes_per_model']}: {c[name + '_ratio']:.3f}"
                           for c in result["regret_curve"] if c[name + "_ratio"]), end="")
    print()
    print("\nper scenario and model: drift incidents, then false alerts and recall (95% intervals over the cell's "
          "episodes) for default | best fixed in hindsight | follow the leader")
    for key, g in result["per_cell"].items():
        parts = [f"{_fmt_ci(g[n]['false_alerts'], g[n]['false_alerts_ci95']):13s} "
                 f"{_fmt_ci(g[n]['recall'], g[n]['recall_ci95'], '{:.2f}'):17s}" for n in ("default", "hindsight", "leader")]
        print(f"  {key:38s} {g['default']['incidents']:3d} | " + " | ".join(parts))
    print("\nfixed thresholds at the default's recall (per model: fewest false alerts among thresholds detecting "
          "at least the default's drift incidents)")
    totals = [0, 0]
    for model, f in result["fixed_at_default_recall"].items():
        base, best = f["default"], f["best"]
        totals[0] += base["false_alerts"]
        totals[1] += best["false_alerts"]
        print(f"  {model:24s} default {base['threshold']}: {base['false_alerts']:4d} false alerts, "
              f"{base['detected']}/{base['incidents']} detected;  best {best['threshold']}: {best['false_alerts']:4d} "
              f"false alerts, {best['detected']} detected")
    print(f"  all models: {totals[1]} false alerts vs the default's {totals[0]} "
          f"({1 - totals[1] / max(totals[0], 1):.0%} fewer; the aim is 60%)")


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m rl.bandit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-cell", type=int, default=12, help="episodes per scenario x model (default 12: 288 episodes)")
    p.add_argument("--first-seed", type=int, default=0, help="first episode seed (default 0: the held-out seeds)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling learners (Thompson, Beta) and of the bootstrap intervals")
    p.add_argument("--label-delay", type=int, default=0, help="days until a day's labels arrive (default 0, as in the world)")
    p.add_argument("--workers", type=int, default=2, help="processes that simulate episodes (default 2)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--tune-prior", action="store_true",
                   help="instead, each full-information learner's cost ratio for a grid of priors (use tuning "
                        "seeds: --first-seed 2000000; labels learned the day they arrive; text only)")
    args = p.parse_args(argv)
    if args.per_cell <= 0 or args.label_delay < 0 or args.workers <= 0 or args.first_seed < 0:
        print("error: --per-cell and --workers must be positive, --label-delay and --first-seed not negative",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.tune_prior and (args.json or args.label_delay):
        print("error: --tune-prior prints text and learns labels the day they arrive: drop --json and --label-delay",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    from simulator.catalog import MODELS
    from simulator.scenarios import SCENARIOS

    count = args.per_cell * len(MODELS) * len(SCENARIOS)
    episodes = simulate(list(range(args.first_seed, args.first_seed + count)), args.workers)
    if args.tune_prior:
        print(f"cost / best fixed threshold in hindsight, {count} episodes from seed {args.first_seed} "
              "(thompson: mean of 5 sampling seeds)")
        for row in tune_prior(episodes):
            print(f"  {row['learner']:9s} prior {row['prior']:<5} anchor {row['anchor_weight']:<5} {row['ratio']:.3f}")
        return 0
    result = evaluate(episodes, args.seed, args.label_delay)
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
