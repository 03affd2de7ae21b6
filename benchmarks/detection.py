"""Detection scoreboard: for every scenario x model over N seeds, how soon and how rightly mlmon finds the change.

Nothing is remediated (policy noop), so detection is judged on the untouched world. Per scenario with a
change: the delay from its onset (the first day the scenario's conditions differ from the reference
world; `default`'s creep starts on day 11, the others on --onset) to the first day an incident with the
right root cause is open, root-cause accuracy over the incident days from the onset on, incidents
opened before the onset (false), and misses (no right incident by the last day). On `stable` and
`seasonal`, where nothing needs doing: incidents, incident days and alerts by type, per 30 days.

Speed: the monitoring day runs in memory, as rl/env.py runs it (`RemediationEnv` with no row cap and
the run's seed as world and reference seed: `nodes.day.monitor_day`, the code the graph's nodes run),
not through the full LangGraph run with its SQLite stores; `--cross-check` (and tests/test_detection.py)
runs a real `python -m graph.run --policy noop` on a few seeds and checks the two agree day by day.

    python benchmarks/detection.py                      # 20 seeds (101..120), 2 worker processes
    python benchmarks/detection.py --seeds 101:104 --json out.json
    python benchmarks/detection.py --cross-check 2      # also 2 real graph runs compared with the scoreboard
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decision.actions import Action  # noqa: E402
from rl.env import EnvConfig, RemediationEnv  # noqa: E402
from simulator.catalog import MODELS  # noqa: E402
from simulator.scenarios import SCENARIOS, DayConditions, get_scenario  # noqa: E402

DAYS = 30
ONSET = 12  # the scenarios' documented default
# The root cause a right diagnosis names, per scenario with a change; the others need no incident at all.
EXPECTED_CAUSE = {
    "default": "covariate_drift",
    "sudden_shift": "covariate_drift",
    "prior_shift": "prior_shift",
    "concept_drift": "concept_drift",
    "bad_deploy": "bad_deployment",
    "pipeline_fault": "data_pipeline_fault",
}
NO_CHANGE = ("stable", "seasonal")


def world_scenario(name: str, onset: int = ONSET):
    """The scenario as `graph.run --scenario NAME --onset ONSET` builds it (documented defaults otherwise)."""
    scenario = get_scenario(name)
    return scenario.with_params(onset=onset) if "onset" in scenario.uses else scenario


def changed(conditions: DayConditions) -> bool:
    """Does anything in the day's world differ from the reference world's?"""
    c = conditions
    return bool(c.segment_share or c.concept or c.prior_shift or c.seasonal_shift or c.fault_active
                or c.deploy_bad_release)


def onset_day(name: str, days: int = DAYS, onset: int = ONSET) -> int | None:
    """The first day whose world differs from the reference world (None: the scenario never changes it)."""
    scenario = world_scenario(name, onset)
    return next((d for d in range(days) if changed(scenario.conditions(d))), None)


def monitor_episode(scenario: str, model: str, seed: int, days: int = DAYS, onset: int = ONSET) -> list[dict]:
    """What the monitor found each day of one untouched world: the open incident and the alert changes."""
    params = world_scenario(scenario, onset).params
    env = RemediationEnv(EnvConfig(days=days, max_rows_per_day=None))
    env.reset(seed=0, options={"model": model, "scenario": scenario, "onset": params.onset,
                               "severity": params.severity, "duration": params.duration,
                               "world_seed": seed, "reference_seed": seed})
    records = []
    while True:
        alerts = env.findings["alerts"]
        incident = alerts["incident"]
        records.append({
            "day": env.day,
            "incident": None if incident is None else {"id": incident["id"], "opened_day": incident["opened_day"],
                                                       "root_cause": incident["root_cause"]},
            "opened": sorted(e["type"] for e in alerts["events"] if e["event"] == "opened"),
            "resolved": sorted(e["type"] for e in alerts["events"] if e["event"] == "resolved"),
        })
        if len(records) == days:
            return records
        env.step(Action.CONTINUE)


def score_episode(records: list[dict], scenario: str, onset: int | None) -> dict:
    """One episode's detection figures (see the module docstring)."""
    incidents = {r["incident"]["id"]: r["incident"]["opened_day"] for r in records if r["incident"]}
    # Openings: days an incident opened, or reopened after it had resolved (each is a page).
    openings = sum(1 for before, r in zip([None, *records], records)
                   if r["incident"] and (before is None or (before["incident"] or {}).get("id") != r["incident"]["id"]))
    alerts = Counter(kind for r in records for kind in r["opened"])
    result = {"days": len(records), "incidents": len(incidents), "openings": openings,
              "incident_days": sum(1 for r in records if r["incident"]), "alerts": dict(alerts)}
    if scenario not in EXPECTED_CAUSE:
        return result
    cause = EXPECTED_CAUSE[scenario]
    after = [r for r in records if r["day"] >= onset and r["incident"]]
    right = [r for r in after if r["incident"]["root_cause"] == cause]
    first = right[0]["day"] if right else None
    return {**result, "onset": onset, "first_right_day": first, "delay": None if first is None else first - onset,
            "incident_days_after_onset": len(after), "right_cause_days": len(right),
            "incidents_before_onset": sum(1 for opened in incidents.values() if opened < onset),
            "causes_after_onset": dict(Counter(r["incident"]["root_cause"] for r in after))}


def _episode(job: tuple) -> dict:
    scenario, model, seed, days, onset = job
    onset_of_change = onset_day(scenario, days, onset)
    records = monitor_episode(scenario, model, seed, days, onset)
    return {"scenario": scenario, "model": model, "seed": seed, **score_episode(records, scenario, onset_of_change),
            "daily": records}


def run_scoreboard(scenarios, models, seeds, days: int = DAYS, onset: int = ONSET, workers: int = 2) -> list[dict]:
    jobs = [(s, m, seed, days, onset) for s in scenarios for m in models for seed in seeds]
    # The slowest model first, so the last worker does not finish alone on a fraud episode.
    jobs.sort(key=lambda j: j[1] != "fraud_detector_v2")
    if workers <= 1:
        return [_episode(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return list(pool.imap_unordered(_episode, jobs, chunksize=2))


def summarise(episodes: list[dict], days: int = DAYS) -> list[dict]:
    """One row per scenario x model, over its seeds."""
    rows = []
    groups: dict[tuple, list[dict]] = {}
    for e in episodes:
        groups.setdefault((e["scenario"], e["model"]), []).append(e)
    order = {name: i for i, name in enumerate(SCENARIOS)}
    for (scenario, model), runs in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        per30 = 30.0 / days
        row = {"scenario": scenario, "model": model, "seeds": len(runs),
               "incidents_per_30d": round(float(np.mean([r["incidents"] for r in runs])) * per30, 2),
               "max_incidents": max(r["incidents"] for r in runs),
               "openings_per_30d": round(float(np.mean([r["openings"] for r in runs])) * per30, 2),
               "incident_days_per_30d": round(float(np.mean([r["incident_days"] for r in runs])) * per30, 1)}
        kinds = sorted({k for r in runs for k in r["alerts"]})
        row["alerts_per_30d"] = {k: round(float(np.mean([r["alerts"].get(k, 0) for r in runs])) * per30, 2) for k in kinds}
        if scenario in EXPECTED_CAUSE:
            delays = [r["delay"] for r in runs if r["delay"] is not None]
            after = sum(r["incident_days_after_onset"] for r in runs)
            row.update({
                "expected_cause": EXPECTED_CAUSE[scenario], "onset": runs[0]["onset"],
                "delay_median": None if not delays else float(np.median(delays)),
                "delay_min": min(delays, default=None), "delay_max": max(delays, default=None),
                "detected_within_3_days": sum(1 for d in delays if d <= 3),
                "misses": sum(1 for r in runs if r["delay"] is None),
                "root_cause_accuracy": None if not after else round(sum(r["right_cause_days"] for r in runs) / after, 3),
                "incidents_before_onset": sum(r["incidents_before_onset"] for r in runs),
                "causes_after_onset": dict(sum((Counter(r["causes_after_onset"]) for r in runs), Counter())),
            })
        rows.append(row)
    return rows


SHORT = {"pneumonia_classifier_v1": "pneumonia", "fraud_detector_v2": "fraud", "defect_detector_v1": "defect"}


def table(rows: list[dict]) -> str:
    """The scoreboard as two plain-text tables: scenarios with a change, and scenarios with none."""
    lines = ["scenario        model      onset  delay med [min-max]  <=3d  misses  root cause ok  false before onset",
             "-" * 98]
    for r in rows:
        if "expected_cause" not in r:
            continue
        delay = "-" if r["delay_median"] is None else f"{r['delay_median']:g} [{r['delay_min']}-{r['delay_max']}]"
        accuracy = "-" if r["root_cause_accuracy"] is None else f"{r['root_cause_accuracy']:.0%}"
        lines.append(f"{r['scenario']:15s} {SHORT.get(r['model'], r['model']):9s}  {r['onset']:5d}  {delay:19s}"
                     f"  {r['detected_within_3_days']:2d}/{r['seeds']:<2d} {r['misses']:5d}  {accuracy:>13s}"
                     f"  {r['incidents_before_onset']:18d}")
    lines += ["", "per 30 days       model      incidents (max)  openings  incident days  alerts opened by type", "-" * 98]
    for r in rows:
        if r["scenario"] not in NO_CHANGE:
            continue
        alerts = ", ".join(f"{k} {v:g}" for k, v in sorted(r["alerts_per_30d"].items(), key=lambda kv: -kv[1])) or "none"
        lines.append(f"{r['scenario']:17s} {SHORT.get(r['model'], r['model']):9s}  {r['incidents_per_30d']:9.2f} ({r['max_incidents']})"
                     f"  {r.get('openings_per_30d', r['incidents_per_30d']):8.2f}  {r['incident_days_per_30d']:13.1f}  {alerts}")
    return "\n".join(lines)


# ---- the cross-check against the real graph run ---------------------------------------------------

def graph_days(scenario: str, model: str, seed: int, days: int, onset: int = ONSET, output_dir: Path | None = None) -> list[dict]:
    """The same episode through `python -m graph.run --policy noop` (a subprocess): per day, the incident's
    root cause and the alert changes, as the run's report gives them."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(output_dir or scratch)
        args = [sys.executable, "-m", "graph.run", "--model", model, "--scenario", scenario, "--days", str(days),
                "--seed", str(seed), "--policy", "noop", "--run-id", "xcheck", "--output-dir", str(out)]
        if "onset" in get_scenario(scenario).uses:
            args += ["--onset", str(onset)]
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        report = json.loads((out / "final_report_xcheck.json").read_text())
    return [{"day": d["day"], "root_cause": d["incident"],
             "opened": sorted(a["type"] for a in d["alerts"] if a["event"] == "opened"),
             "resolved": sorted(a["type"] for a in d["alerts"] if a["event"] == "resolved")} for d in report["days"]]


def cross_check(scenario: str, model: str, seed: int, days: int = DAYS, onset: int = ONSET) -> list[str]:
    """Days on which the scoreboard's in-memory monitoring and a real graph run disagree (empty: none)."""
    ours = monitor_episode(scenario, model, seed, days, onset)
    theirs = graph_days(scenario, model, seed, days, onset)
    problems = []
    for a, b in zip(ours, theirs):
        mine = {"day": a["day"], "root_cause": (a["incident"] or {}).get("root_cause"), "opened": a["opened"],
                "resolved": a["resolved"]}
        if mine != b:
            problems.append(f"day {a['day']}: scoreboard {mine} vs graph {b}")
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} scoreboard days vs {len(theirs)} graph days")
    return problems


def parse_seeds(spec: str) -> list[int]:
    first, sep, last = spec.partition(":")
    if not sep:
        raise SystemExit(f"--seeds must be A:B (first to last, exclusive), not {spec!r}")
    return list(range(int(first), int(last)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="101:121", help="world seeds A:B (default 101:121, 20 seeds)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--onset", type=int, default=ONSET)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the table rows and every episode's figures here")
    parser.add_argument("--daily", action="store_true", help="with --json: also every episode's day-by-day findings")
    parser.add_argument("--cross-check", type=int, default=0, metavar="N",
                        help="also run N seeds of seasonal and sudden_shift (pneumonia) through graph.run and compare")
    options = parser.parse_args()
    scenarios, models, seeds = options.scenarios.split(","), options.models.split(","), parse_seeds(options.seeds)
    started = time.perf_counter()
    episodes = run_scoreboard(scenarios, models, seeds, options.days, options.onset, options.workers)
    rows = summarise(episodes, options.days)
    elapsed = time.perf_counter() - started
    print(f"detection scoreboard: {len(episodes)} episodes ({len(seeds)} seeds, {options.days} days, policy noop), "
          f"{elapsed:.0f} s with {options.workers} worker processes")
    print(table(rows))
    if options.cross_check:
        for scenario in ("seasonal", "sudden_shift"):
            for seed in seeds[:options.cross_check]:
                problems = cross_check(scenario, "pneumonia_classifier_v1", seed, options.days, options.onset)
                print(f"cross-check {scenario} pneumonia seed {seed}: "
                      + ("graph.run agrees on every day" if not problems else f"{len(problems)} days differ: {problems[0]}"))
    if options.json:
        options.json.write_text(json.dumps({"seeds": seeds, "days": options.days, "onset": options.onset,
                                            "seconds": round(elapsed, 1), "rows": rows,
                                            "episodes": [e if options.daily else {k: v for k, v in e.items() if k != "daily"}
                                                         for e in sorted(episodes, key=lambda e: (e["scenario"], e["model"], e["seed"]))]},
                                           separators=(",", ":")))


if __name__ == "__main__":
    main()
