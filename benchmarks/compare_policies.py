"""Paired comparison of PPO policy files against the playbook on the same held-out episodes.

Used to choose the shipped training recipe (warm start or not):

    python -m rl.train --warm-start none --learning-rate 0.001 --timesteps 44160 --out /tmp/scratch.pt
    python benchmarks/compare_policies.py --episodes 100 /tmp/scratch.pt rl/trained/ppo_remediation.pt

Prints each policy's mean return with a 95% CI, then per PPO file the paired difference to the
playbook with its CI and the mean difference per scenario. No success replays (fast).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rl.env import EnvConfig  # noqa: E402
from rl.evaluate import PolicySpec, mean_ci, parse_seeds, run_episodes  # noqa: E402
from rl.ppo import single_threaded_numerics  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("policies", nargs="+", type=Path, help="PPO policy files")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seeds", default="heldout")
    options = parser.parse_args()
    single_threaded_numerics()
    specs = [PolicySpec("playbook", "playbook", {}), PolicySpec("always_continue", "always_continue", {})]
    specs += [PolicySpec(str(p), "ppo", {"path": str(p)}) for p in options.policies]
    records = run_episodes(specs, parse_seeds(options.seeds, options.episodes), EnvConfig(), success=False, workers=2)
    by_policy = defaultdict(list)
    for r in sorted(records, key=lambda r: r["seed"]):
        by_policy[r["policy"]].append(r)
    for name, runs in by_policy.items():
        mean, ci = mean_ci([r["return"] for r in runs])
        print(f"{name:45s} mean return {mean:7.1f}  95% CI [{ci[0]:.1f}, {ci[1]:.1f}]")
    for path in options.policies:
        pairs = list(zip(by_policy[str(path)], by_policy["playbook"]))
        mean, ci = mean_ci([a["return"] - b["return"] for a, b in pairs])
        per_scenario = defaultdict(list)
        for a, b in pairs:
            per_scenario[a["scenario"]].append(a["return"] - b["return"])
        print(f"paired {path} - playbook: {mean:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]  per scenario: "
              + ", ".join(f"{s} {np.mean(v):+.1f}" for s, v in sorted(per_scenario.items())))


if __name__ == "__main__":
    main()
