"""python -m rl.tune_baselines: tune every baseline family's parameters on the tuning seeds.

Each family's grid is played on the same tuning episodes (seeds from 2,000,000, disjoint from PPO's
training seeds and from the held-out evaluation seeds); the best setting per family, and the best
family overall, are written to a JSON file that rl.evaluate reads. A best value on the edge of its
grid is flagged: the grid should then be widened.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rl.baselines import FAMILIES
from rl.env import EnvConfig
from rl.evaluate import DEFAULT_BASELINES, PolicySpec, parse_seeds, run_episodes
from simulator.cli import EXIT_BAD_INPUT, OneLineParser


def tune(episodes: int, workers: int, progress=None, only: list[str] | None = None, previous: dict | None = None) -> dict:
    """Tune every family (or `only` these, keeping `previous` results for the others)."""
    seeds = parse_seeds("tune", episodes)
    chosen = [f for f in FAMILIES if not only or f.name in only]
    specs = [PolicySpec(f"{family.name}#{i}", family.name, params)
             for family in chosen for i, params in enumerate(family.grid)]
    records = run_episodes(specs, seeds, EnvConfig(), success=False, workers=workers, progress=progress)
    means = {spec.name: float(np.mean([r["return"] for r in records if r["policy"] == spec.name])) for spec in specs}
    families = dict(previous["families"]) if previous and only else {}
    for family in chosen:
        scores = [means[f"{family.name}#{i}"] for i in range(len(family.grid))]
        best = int(np.argmax(scores))
        families[family.name] = {
            "params": family.grid[best], "mean_return": round(scores[best], 3),
            "on_grid_edge": best in (0, len(scores) - 1) and len(scores) > 2,
            "grid": [{"params": params, "mean_return": round(score, 3)} for params, score in zip(family.grid, scores)],
        }
    candidates = {name: entry["mean_return"] for name, entry in families.items()}
    if previous and only:
        candidates["playbook"] = previous["untuned_mean_return"]["playbook"]
    else:
        playbook = run_episodes([PolicySpec("playbook", "playbook", {})], seeds, EnvConfig(), success=False, workers=workers)
        candidates["playbook"] = round(float(np.mean([r["return"] for r in playbook])), 3)
    return {"tuned_on": f"tune seeds {seeds[0]}..{seeds[-1]} ({episodes} episodes)",
            "made_by": f"python -m rl.tune_baselines --episodes {episodes}"
                       + (f" --only {','.join(only)} (others: {previous['made_by']})" if previous and only else ""),
            "date": datetime.now(timezone.utc).date().isoformat(),
            "families": families, "untuned_mean_return": {"playbook": candidates["playbook"]},
            "best": max(candidates, key=candidates.get)}


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m rl.tune_baselines", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=64, help="tuning episodes per setting (default 64)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", help="comma-separated families to (re)tune, keeping the others from --out")
    p.add_argument("--out", type=Path, default=DEFAULT_BASELINES, help=f"output JSON (default {DEFAULT_BASELINES})")
    args = p.parse_args(argv)
    only = args.only.split(",") if args.only else None
    known = [f.name for f in FAMILIES]
    previous = json.loads(args.out.read_text()) if only and args.out.exists() else None
    problem = ("--episodes must be positive" if args.episodes <= 0 else
               f"unknown family in --only; choose from {', '.join(known)}" if only and set(only) - set(known) else
               f"--only keeps the other families from {args.out}, which does not exist" if only and previous is None else
               f"--only needs the same --episodes as {args.out} ({previous['tuned_on']})"
               if previous and f"({args.episodes} episodes)" not in previous["tuned_on"] else None)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from rich.progress import Progress

    from rl.agent import single_threaded_numerics

    single_threaded_numerics()
    total = sum(len(f.grid) for f in FAMILIES if not only or f.name in only) * args.episodes
    with Progress() as bar:
        task = bar.add_task("tuning", total=total)
        result = tune(args.episodes, args.workers, progress=lambda: bar.advance(task), only=only, previous=previous)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    for name, entry in result["families"].items():
        edge = "  (best on the grid's edge!)" if entry["on_grid_edge"] else ""
        print(f"{name:22s} {entry['mean_return']:9.2f}  {entry['params']}{edge}")
    print(f"{'playbook (untuned)':22s} {result['untuned_mean_return']['playbook']:9.2f}")
    print(f"best: {result['best']}  -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
