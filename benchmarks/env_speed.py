"""Steps per second of the RL environment on one core, and what a lighter world would buy.

For each model, plays the same episodes continuing every day (the cheap case) with the environment's
default row cap (10,000 rows a day) and with a 5,000-row cap (the smallest the world allows: rows come in blocks of 5,000), and prints ms per step and the largest
daily difference in true accuracy between the two (the agreement the RL issue asks for: <= 0.01).

    python benchmarks/env_speed.py [--episodes 4]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rl.env import EnvConfig, RemediationEnv  # noqa: E402
from simulator.actions import Action  # noqa: E402
from simulator.catalog import MODELS  # noqa: E402


def play(config: EnvConfig, model: str, seeds) -> tuple[float, list[float]]:
    """Milliseconds per step (resets excluded) and the true accuracy of every day."""
    env, accuracies, seconds, steps = RemediationEnv(config), [], 0.0, 0
    for seed in seeds:
        _, info = env.reset(seed=seed, options={"model": model})
        done = False
        while not done:
            accuracies.append(info["true_accuracy"])
            start = time.perf_counter()
            _, _, done, _, info = env.step(Action.CONTINUE)
            seconds += time.perf_counter() - start
            steps += 1
    return 1000 * seconds / steps, accuracies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=4)
    options = parser.parse_args()
    seeds = range(900_000, 900_000 + options.episodes)
    play(EnvConfig(), list(MODELS)[0], [seeds[0]])  # warm the caches once
    print(f"{'model':26s} {'ms/step':>8s} {'steps/s':>8s} {'5k-row ms':>10s} {'speed-up':>9s} {'max |acc diff|':>15s}")
    for model in MODELS:
        full_ms, full_acc = play(EnvConfig(), model, seeds)
        lite_ms, lite_acc = play(EnvConfig(max_rows_per_day=5000), model, seeds)
        diff = max(abs(a - b) for a, b in zip(full_acc, lite_acc))
        print(f"{model:26s} {full_ms:8.1f} {1000 / full_ms:8.0f} {lite_ms:10.1f} {full_ms / lite_ms:8.1f}x {diff:15.4f}")


if __name__ == "__main__":
    main()
