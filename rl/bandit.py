"""Thompson sampling over drift-alert thresholds: learned from the labels an operator has, judged on the
degradation that drift causes.

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

Feedback is full information, not bandit feedback: once a day's verdict is in, the day's drift score
says what every threshold would have done (fired or not), so every arm learns that day's cost, not
only the one chosen (`feedback="bandit"` keeps the chosen arm's only, for comparison). Costs, in
dollars (only their ratio matters): a false alert FALSE_ALERT_COST (an on-call look that finds
nothing), a missed degraded day MISSED_DAY_COST (a day of bad predictions nobody was told about). The
reward 1 - cost / MISSED_DAY_COST, in [0, 1], is learned as a fractional Beta update. An
accuracy-style reward ("the alert was right or correctly silent") is deliberately not used: it
scores a false alert and a missed incident the same.

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

import numpy as np

from rl.reward import DEGRADED_MARGIN
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
    """Beta-Bernoulli Thompson sampling over threshold arms, with fractional rewards.

    >>> bandit = ThompsonThresholds(arms=(0.1, 0.5), seed=0)
    >>> for _ in range(300):  # benign drift at 0.3 every day: the low threshold only raises false alerts
    ...     arm = bandit.choose()
    ...     bandit.learn(arm, drift_score=0.3, degraded=False)
    >>> bandit.arms[int(np.argmax(bandit.posterior_means()))]
    0.5
    """

    def __init__(self, arms: tuple[float, ...] = ARMS, seed: int = 0, feedback: str = "full"):
        if feedback not in ("full", "bandit"):
            raise ValueError(f"feedback must be full or bandit, not {feedback!r}")
        self.arms, self.feedback = arms, feedback
        self.alpha = np.ones(len(arms))
        self.beta = np.ones(len(arms))
        self.rng = np.random.default_rng(seed)

    def choose(self) -> int:
        return int(np.argmax(self.rng.beta(self.alpha, self.beta)))

    def learn(self, arm: int, drift_score: float, degraded: bool) -> None:
        """A day's verdict is in: what it cost the chosen arm (bandit feedback) or every arm (full)."""
        arms = range(len(self.arms)) if self.feedback == "full" else [arm]
        for a in arms:
            reward = 1.0 - day_cost(drift_score >= self.arms[a], degraded) / MISSED_DAY_COST
            self.alpha[a] += reward
            self.beta[a] += 1.0 - reward

    def posterior_means(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)


def play(days: list[LabelledDay], bandit: ThompsonThresholds, label_delay: int = 0) -> tuple[np.ndarray, np.ndarray]:
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
    from rl.env import RemediationEnv
    from simulator.actions import Action

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


def paired_ratio(a: list[float], b: list[float], rng: np.random.Generator, boot: int = 2000) -> dict:
    """sum(a) / sum(b) with a 95% bootstrap interval over the same episodes."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    samples = rng.integers(0, len(a), size=(boot, len(a)))
    ratios = a[samples].sum(axis=1) / np.maximum(b[samples].sum(axis=1), 1e-9)
    return {"ratio": float(a.sum() / max(b.sum(), 1e-9)),
            "ci95": [float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))]}


def evaluate(per_cell: int, first_seed: int = 0, seed: int = 0, feedback: str = "full", label_delay: int = 0,
             workers: int = 1, episodes: list[Episode] | None = None) -> dict:
    """Default threshold, each model's best fixed threshold in hindsight, and the bandit (one per model,
    playing that model's episodes in seed order), on the same episodes; overall, per model, per cell."""
    from simulator.catalog import MODELS
    from simulator.scenarios import SCENARIOS

    seeds = list(range(first_seed, first_seed + per_cell * len(MODELS) * len(SCENARIOS)))
    episodes = episodes if episodes is not None else simulate(seeds, workers)
    alerts: dict[str, dict[int, np.ndarray]] = {"default": {}, "hindsight": {}, "thompson": {}}
    thresholds: dict[str, float] = {}
    for m_index, model in enumerate(MODELS):
        mine = [e for e in episodes if e.model == model]
        if not mine:
            continue
        fixed_cost = {t: sum(score(e, e.drift >= t)["cost"] for e in mine) for t in ARMS}
        thresholds[model] = min(ARMS, key=lambda t: (fixed_cost[t], abs(t - DEFAULT_THRESHOLD)))
        bandit = ThompsonThresholds(seed=seed * 1000 + m_index, feedback=feedback)
        fired, _ = play([d for e in mine for d in e.days], bandit, label_delay)
        start = 0
        for e in mine:
            alerts["default"][e.seed] = e.drift >= DEFAULT_THRESHOLD
            alerts["hindsight"][e.seed] = e.drift >= thresholds[model]
            alerts["thompson"][e.seed] = fired[start:start + len(e.days)]
            start += len(e.days)
    rows = {name: {e.seed: score(e, alerts[name][e.seed]) for e in episodes} for name in alerts}
    rng = np.random.default_rng(seed)

    def group(select) -> dict:
        chosen = [e for e in episodes if select(e)]
        out = {name: summarise([rows[name][e.seed] for e in chosen], rng) for name in rows}
        out["cost_ratio_thompson_to_hindsight"] = paired_ratio(
            [rows["thompson"][e.seed]["cost"] for e in chosen], [rows["hindsight"][e.seed]["cost"] for e in chosen], rng)
        out["false_alert_ratio_thompson_to_default"] = paired_ratio(
            [rows["thompson"][e.seed]["false_alerts"] for e in chosen],
            [rows["default"][e.seed]["false_alerts"] for e in chosen], rng)
        return out

    # What any fixed threshold could do at the default's recall: the fewest false alerts among the
    # thresholds (one for all models) that detect at least as many drift incidents as the default.
    default_detected = sum(r["detected"] for r in rows["default"].values())
    frontier = []
    for t in ARMS:
        scored = [score(e, e.drift >= t) for e in episodes]
        frontier.append({"threshold": t, "false_alerts": sum(r["false_alerts"] for r in scored),
                         "detected": sum(r["detected"] for r in scored), "cost": sum(r["cost"] for r in scored)})
    at_recall = [f for f in frontier if f["detected"] >= default_detected]
    result = {
        "episodes": len(episodes), "per_cell": per_cell, "seeds": f"{seeds[0]}..{seeds[-1]}", "feedback": feedback,
        "label_delay": label_delay, "costs": {"false_alert": FALSE_ALERT_COST, "missed_degraded_day": MISSED_DAY_COST},
        "default_threshold": DEFAULT_THRESHOLD, "hindsight_thresholds": thresholds,
        "overall": group(lambda e: True),
        "per_model": {m: group(lambda e, m=m: e.model == m) for m in MODELS if any(e.model == m for e in episodes)},
        "per_cell": {f"{s}/{m}": group(lambda e, s=s, m=m: e.scenario == s and e.model == m)
                     for s in SCENARIOS for m in MODELS if any(e.scenario == s and e.model == m for e in episodes)},
        "fixed_thresholds": frontier,
        "best_fixed_at_default_recall": min(at_recall, key=lambda f: f["false_alerts"]) if at_recall else None,
        "days": {"judged": int(sum(e.judged.sum() for e in episodes)),
                 "drift_degraded": int(sum(e.drift_degraded.sum() for e in episodes)),
                 "with_verdict": sum(verdict(d) is not None for e in episodes for d in e.days),
                 "all": sum(len(e.days) for e in episodes)},
    }
    return result


# ---- the command ----------------------------------------------------------------------------------

def _fmt_ci(value, ci, fmt="{:.0f}") -> str:
    if value is None:
        return "-"
    return f"{fmt.format(value)} [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def print_report(result: dict) -> None:
    print(f"{result['episodes']} episodes ({result['per_cell']} per scenario x model, seeds {result['seeds']}), nothing "
          f"remediated; feedback {result['feedback']}, labels learned {result['label_delay']} day(s) late; "
          f"costs: false alert ${FALSE_ALERT_COST:,.0f}, missed drift-degraded day ${MISSED_DAY_COST:,.0f}")
    d = result["days"]
    print(f"days: {d['all']} in all, {d['judged']} judged (no other cause active), {d['drift_degraded']} drift-degraded; "
          f"the bandit had a verdict from labels on {d['with_verdict']}")
    print("best fixed threshold in hindsight per model: "
          + ", ".join(f"{m} {t}" for m, t in result["hindsight_thresholds"].items()) + f"; default {DEFAULT_THRESHOLD}")
    names = {"default": f"default ({DEFAULT_THRESHOLD})", "hindsight": "best fixed, hindsight", "thompson": "thompson"}

    def block(title: str, g: dict) -> None:
        print(f"\n{title}: {g['default']['incidents']} drift incidents in {g['default']['episodes']} episodes")
        for key, label in names.items():
            r = g[key]
            print(f"  {label:22s} false alerts {_fmt_ci(r['false_alerts'], r['false_alerts_ci95']):16s} "
                  f"recall {_fmt_ci(r['recall'], r['recall_ci95'], '{:.2f}'):18s} "
                  f"cost ${_fmt_ci(r['total_cost'] / 1e3, [v / 1e3 for v in r['total_cost_ci95']], '{:,.0f}')}k")
        c, f = g["cost_ratio_thompson_to_hindsight"], g["false_alert_ratio_thompson_to_default"]
        print(f"  thompson / hindsight cost {c['ratio']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}];  "
              f"thompson / default false alerts {f['ratio']:.2f} [{f['ci95'][0]:.2f}, {f['ci95'][1]:.2f}]")

    block("all models", result["overall"])
    for model, g in result["per_model"].items():
        block(model, g)
    print("\nper scenario and model: false alerts / recall (95% intervals over the cell's episodes); "
          "default | best fixed in hindsight | thompson")
    for key, g in result["per_cell"].items():
        parts = []
        for name in names:
            r = g[name]
            parts.append(f"{_fmt_ci(r['false_alerts'], r['false_alerts_ci95']):13s} / "
                         f"{_fmt_ci(r['recall'], r['recall_ci95'], '{:.2f}'):17s}")
        print(f"  {key:34s} inc {g['default']['incidents']:3d} | " + " | ".join(parts))
    best = result["best_fixed_at_default_recall"]
    default = next(f for f in result["fixed_thresholds"] if f["threshold"] == DEFAULT_THRESHOLD)
    print("\nfixed thresholds (one for all models): threshold false-alerts detected cost")
    for f in result["fixed_thresholds"]:
        print(f"  {f['threshold']:<6} {f['false_alerts']:6d} {f['detected']:5d} ${f['cost'] / 1e3:,.0f}k")
    if best:
        print(f"fewest false alerts at the default's recall ({default['detected']} incidents detected): threshold "
              f"{best['threshold']}, {best['false_alerts']} false alerts vs {default['false_alerts']} "
              f"({1 - best['false_alerts'] / max(default['false_alerts'], 1):+.0%} fewer)")


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m rl.bandit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-cell", type=int, default=12, help="episodes per scenario x model (default 12: 288 episodes)")
    p.add_argument("--first-seed", type=int, default=0, help="first episode seed (default 0: the held-out seeds)")
    p.add_argument("--seed", type=int, default=0, help="the bandit's own sampling seed")
    p.add_argument("--feedback", choices=("full", "bandit"), default="full",
                   help="learn every arm's cost of a day (full, default) or the chosen arm's only (bandit)")
    p.add_argument("--label-delay", type=int, default=0, help="days until a day's labels arrive (default 0, as in the world)")
    p.add_argument("--workers", type=int, default=2, help="processes that simulate episodes (default 2)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = p.parse_args(argv)
    if args.per_cell <= 0 or args.label_delay < 0 or args.workers <= 0:
        print("error: --per-cell and --workers must be positive and --label-delay not negative", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = evaluate(args.per_cell, args.first_seed, args.seed, args.feedback, args.label_delay, args.workers)
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
