"""Paired comparison of PPO policy files against the playbook, and against each other, on the same held-out episodes.

Used to choose the shipped training recipe (warm start or not):

    python -m rl.train --warm-start none --learning-rate 0.001 --timesteps 44160 --out /tmp/scratch.pt
    python benchmarks/compare_policies.py --episodes 100 /tmp/scratch.pt rl/trained/ppo_remediation.pt

Prints each policy's mean return with a 95% CI, then per PPO file the paired difference to the
playbook with its CI and the mean difference per scenario, and for every file after the first its
paired difference to the first (benchmarks/online_runs.py: the policy after online runs against
the one before). No success replays (fast).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rl.agent import single_threaded_numerics  # noqa: E402
from rl.env import EnvConfig  # noqa: E402
from rl.evaluate import PolicySpec, mean_ci, parse_seeds, run_episodes  # noqa: E402


def paired(a: list[dict], b: list[dict]) -> dict:
    """a - b on the same episodes: mean, 95% CI, and the mean per scenario."""
    assert [r["seed"] for r in a] == [r["seed"] for r in b]
    mean, ci = mean_ci([x["return"] - y["return"] for x, y in zip(a, b)])
    per_scenario = defaultdict(list)
    for x, y in zip(a, b):
        per_scenario[x["scenario"]].append(x["return"] - y["return"])
    return {"mean": mean, "ci95": ci, "per_scenario": {s: float(np.mean(v)) for s, v in sorted(per_scenario.items())}}


def compare(policies: list[Path], seeds: list[int], workers: int = 2) -> dict:
    """Episodes of the playbook, always continuing and each PPO file on `seeds`: records per policy, by seed."""
    single_threaded_numerics()
    specs = [PolicySpec("playbook", "playbook", {}), PolicySpec("always_continue", "always_continue", {})]
    specs += [PolicySpec(str(p), "ppo", {"path": str(p)}) for p in policies]
    records = run_episodes(specs, seeds, EnvConfig(), success=False, workers=workers)
    by_policy = defaultdict(list)
    for r in sorted(records, key=lambda r: r["seed"]):
        by_policy[r["policy"]].append(r)
    return by_policy


def print_comparison(by_policy: dict, policies: list[Path]) -> None:
    for name, runs in by_policy.items():
        mean, ci = mean_ci([r["return"] for r in runs])
        print(f"{name:45s} mean return {mean:7.1f}  95% CI [{ci[0]:.1f}, {ci[1]:.1f}]")

    def line(label: str, d: dict) -> str:
        return (f"paired {label}: {d['mean']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]  per scenario: "
                + ", ".join(f"{s} {v:+.1f}" for s, v in d["per_scenario"].items()))

    for path in policies:
        print(line(f"{path} - playbook", paired(by_policy[str(path)], by_policy["playbook"])))
    for path in policies[1:]:
        print(line(f"{path} - {policies[0]}", paired(by_policy[str(path)], by_policy[str(policies[0])])))
        print(changed_line(by_policy[str(path)], by_policy[str(policies[0])]))


def changed_line(a: list[dict], b: list[dict], tolerance: float = 0.05) -> str:
    """How many episodes a and b play differently, and per scenario how many a plays worse / better: a
    mean difference can hide a change that is small on average and one-sided in a scenario."""
    counts = defaultdict(lambda: [0, 0])
    for x, y in zip(a, b):
        if abs(x["return"] - y["return"]) > tolerance:
            counts[x["scenario"]][x["return"] > y["return"]] += 1
    total = sum(sum(c) for c in counts.values())
    return (f"  episodes with a different return: {total} of {len(a)}; worse/better per scenario: "
            + ", ".join(f"{s} {c[0]}/{c[1]}" for s, c in sorted(counts.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("policies", nargs="+", type=Path, help="PPO policy files")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seeds", default="heldout")
    options = parser.parse_args()
    print_comparison(compare(options.policies, parse_seeds(options.seeds, options.episodes)), options.policies)


if __name__ == "__main__":
    main()
