"""The concept-drift gap on calibrated against raw scores: where the label-free expectation of accuracy
(nodes.estimation, calibrated on the reference window) moves the concept-drift rule of nodes/drift.py.

Per seed of one scenario x model (the detection scoreboard's worlds: no row cap, policy noop, the full
monitoring day so the raw-score expectation is kept beside the calibrated one): the reference's
calibration (isotonic or none), the mean of expected minus measured accuracy before the onset on each
(an unbiased expectation gives ~0 there, where nothing has changed), and the days on which the rule
`gap > max(0.03, 3 se)` with inputs stable decides differently on the two.

    python benchmarks/concept_gap.py                     # fraud, concept_drift, seeds 101..120
    python benchmarks/concept_gap.py --seeds 101:104 --model pneumonia_classifier_v1
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.detection import DAYS, ONSET, onset_day, parse_seeds, world_scenario
from decision.actions import Action
from rl.env import EnvConfig, RemediationEnv


def suspected(gap: float, performance: dict, drift: dict) -> bool:
    """nodes.drift.assess_concept_drift's rule, on any gap."""
    se = math.sqrt((performance["accuracy_se"] or 0.0) ** 2 + 0.005 ** 2)
    return gap > max(0.03, 3 * se) and drift["severity"] == "low" and not drift["drifted_features"]


def episode_gaps(scenario: str, model: str, seed: int, days: int = DAYS, onset: int = ONSET) -> dict:
    params = world_scenario(scenario, onset).params
    env = RemediationEnv(EnvConfig(days=days, max_rows_per_day=None, policy_only=False))
    env.reset(seed=0, options={"model": model, "scenario": scenario, "onset": params.onset, "severity": params.severity,
                               "duration": params.duration, "world_seed": seed, "reference_seed": seed})
    start = onset_day(scenario, days, onset)
    before = {"calibrated": [], "raw": []}
    flips = []
    for day in range(days):
        performance, drift = env.findings["performance"], env.findings["drift"]
        accuracy = performance["accuracy"]
        if accuracy is not None and performance["expected_accuracy"] is not None:
            calibrated = performance["expected_accuracy"] - accuracy
            raw = performance["expected_accuracy_raw"] - accuracy
            if start is not None and day < start:
                before["calibrated"].append(calibrated)
                before["raw"].append(raw)
            on_calibrated, on_raw = suspected(calibrated, performance, drift), suspected(raw, performance, drift)
            assert on_calibrated == drift["concept"]["suspected"]  # the rule is the node's
            if on_calibrated != on_raw:
                flips.append(f"day {day}: gap {calibrated:.4f} calibrated / {raw:.4f} raw")
        if day < days - 1:
            env.step(Action.CONTINUE)
    estimated = env.findings["performance"]["estimated"] or {}
    return {"seed": seed, "calibration": estimated.get("calibration"), "before": before, "flips": flips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="101:121")
    parser.add_argument("--scenario", default="concept_drift")
    parser.add_argument("--model", default="fraud_detector_v2")
    options = parser.parse_args()
    print(f"{options.scenario} / {options.model}: expected - measured accuracy before the onset, mean (se)")
    print(f"{'seed':>5}  {'calibration':<11}  {'calibrated':>17}  {'raw':>17}  rule decides otherwise on raw scores")
    for seed in parse_seeds(options.seeds):
        e = episode_gaps(options.scenario, options.model, seed)
        cells = []
        for kind in ("calibrated", "raw"):
            values = e["before"][kind]
            se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
            cells.append(f"{statistics.mean(values):+.4f} ({se:.4f})" if values else "-")
        print(f"{seed:>5}  {e['calibration']:<11}  {cells[0]:>17}  {cells[1]:>17}  {'; '.join(e['flips']) or '-'}")


if __name__ == "__main__":
    main()
