"""python -m rl.evaluate: every policy on the same held-out episodes, with confidence intervals.

Seeds: `heldout` episodes use reset seeds 0, 1, 2, ...; `tune` (where baselines are tuned) starts at
2,000,000, PPO trains on seeds drawn from 1,000,000 up, and `validation` (where the shipped training seed
is chosen, rl/seeds.py) starts at 5,000,000, so they never meet. Every policy plays
the same episodes (paired), so differences between policies are measured on the same worlds.

Reported per policy: mean return with a 95% t-interval, dollars spent on remediation, SLA-violation
days (true accuracy under the model's SLA), the success rate, and the normalised score
(policy - always_continue) / (clairvoyant - always_continue).

Success rate, counterfactual: a remediation (any action but continue) succeeds when its 7-day
outcome, the action then six days of continuing, is at least as good as continuing all seven days
from the same state, replayed under the same randomness. Policies that never act have no success rate.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from decision.actions import Action
from rl import SHIPPED_POLICY
from rl.baselines import make_baseline
from rl.counterfactual import clairvoyant, outcome
from rl.env import EnvConfig, RemediationEnv
from rl.seeds import VALIDATION_SEED_BASE
from simulator.cli import EXIT_BAD_INPUT, OneLineParser

SEED_SETS = {"heldout": 0, "train": 1_000_000, "tune": 2_000_000, "validation": VALIDATION_SEED_BASE}
DEFAULT_POLICY = SHIPPED_POLICY
DEFAULT_BASELINES = SHIPPED_POLICY.parent / "baselines.json"


def parse_seeds(spec: str, episodes: int) -> list[int]:
    if spec in SEED_SETS:
        return list(range(SEED_SETS[spec], SEED_SETS[spec] + episodes))
    first, sep, last = spec.partition(":")
    try:
        if not sep:
            raise ValueError
        return list(range(int(first), int(last)))
    except ValueError:
        raise ValueError(f"--seeds must be heldout, validation, tune, train or A:B, not {spec!r}") from None


@dataclass(frozen=True)
class PolicySpec:
    """How to build a policy inside a worker process (policies themselves hold state or torch modules)."""

    name: str
    kind: str  # a baseline family, "ppo", or "clairvoyant"
    params: dict


_PPO_POLICIES: dict[str, object] = {}  # per worker process: a policy file is read once, not every episode


def build(spec: PolicySpec):
    if spec.kind == "ppo":
        from rl.agent import PPOPolicy

        if "data" in spec.params:  # a checkpoint in training (rl/checkpoints.py): its bytes, never cached
            return PPOPolicy(spec.params["data"], spec.name)
        path = spec.params["path"]
        if path not in _PPO_POLICIES:  # PPOPolicy is stateless (greedy), so episodes can share it
            _PPO_POLICIES[path] = PPOPolicy.from_file(path)
        return _PPO_POLICIES[path]
    return make_baseline(spec.kind, spec.params)


def play_episode(spec: PolicySpec, seed: int, config: EnvConfig, success: bool = True) -> dict:
    """One episode of one policy; with `success`, each remediation is replayed against continuing."""
    env = RemediationEnv(config)
    observation, info = env.reset(seed=seed)
    record = {"policy": spec.name, "seed": seed, "model": info["model"], "scenario": info["scenario"],
              "return": 0.0, "cost": 0.0, "sla_violation_days": 0, "actions": Counter(), "successes": []}
    sla = env.world.spec.sla_accuracy
    if spec.kind == "clairvoyant":
        plan, trajectory = clairvoyant(env.world, config.days, config.reward)
        record.update({"return": trajectory.total, "cost": sum(trajectory.costs),
                       "sla_violation_days": sum(a < sla for a in trajectory.accuracies)})
        record["actions"] = Counter(a.label for a in plan.values())
        record["actions"]["continue"] = config.days - len(plan)
        if success:
            record["successes"] = [
                outcome(env.world, trajectory.served_sims[d], d, a, config.days, weights=config.reward)
                >= outcome(env.world, trajectory.served_sims[d], d, Action.CONTINUE, config.days, weights=config.reward)
                for d, a in plan.items()]
        return _plain(record)
    policy = build(spec)
    if hasattr(policy, "reset"):
        policy.reset(seed)
    done = False
    while not done:
        record["sla_violation_days"] += int(info["true_accuracy"] < sla)
        action = Action(policy.decide(observation, info["action_mask"], env.policy_findings()).action)
        if not info["action_mask"][action]:
            action = Action.CONTINUE
        if success and action != Action.CONTINUE:
            day, served = env.day, env.sim
            record["successes"].append(
                outcome(env.world, served, day, action, config.days, weights=config.reward)
                >= outcome(env.world, served, day, Action.CONTINUE, config.days, weights=config.reward))
        observation, reward, done, _, info = env.step(action)
        record["return"] += reward
        record["cost"] += info["cost"]
        record["actions"][action.label] += 1
    return _plain(record)


def _plain(record: dict) -> dict:
    return {**record, "actions": dict(record["actions"]), "return": float(record["return"]), "cost": float(record["cost"])}


def _play(job):
    return play_episode(*job)


def run_episodes(specs: list[PolicySpec], seeds: list[int], config: EnvConfig, success: bool = True,
                 workers: int = 2, progress=None) -> list[dict]:
    jobs = [(spec, seed, config, success) for spec in specs for seed in seeds]
    if workers <= 1:
        results = []
        for job in jobs:
            results.append(_play(job))
            if progress:
                progress()
        return results
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = []
        for result in pool.imap(_play, jobs, chunksize=4):
            results.append(result)
            if progress:
                progress()
    return results


def best_baseline_spec(tuned: dict) -> PolicySpec:
    """The best tuned baseline of a baselines file (load_tuned) as a PolicySpec."""
    best = tuned["best"]
    return PolicySpec(best, best, tuned["families"][best]["params"] if best in tuned["families"] else {})


def returns_by_seed(spec: PolicySpec, seeds: list[int], workers: int = 2) -> np.ndarray:
    """One policy's greedy return on each of `seeds`, in seed order (no success replays)."""
    records = run_episodes([spec], seeds, EnvConfig(), success=False, workers=workers)
    return np.array([r["return"] for r in sorted(records, key=lambda r: r["seed"])])


def judge_seeds(policies: dict[int, Path], baseline, seeds: list[int], workers: int = 2, progress=None) -> dict[int, dict]:
    """Every seed's policy and the baseline (a PolicySpec) on the same episodes: seed -> `paired` figures."""
    specs = [baseline] + [PolicySpec(f"seed {s}", "ppo", {"path": str(p)}) for s, p in policies.items()]
    records = run_episodes(specs, seeds, EnvConfig(), success=False, workers=workers, progress=progress)
    return {s: paired(records, f"seed {s}", baseline.name) for s in policies}


# ---- statistics ---------------------------------------------------------------------------------

def mean_ci(values) -> tuple[float, list[float]]:
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, [mean, mean]
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, [mean - half, mean + half]


def paired(records: list[dict], policy: str, baseline: str) -> dict:
    """Mean return of `policy` and its paired difference to `baseline` on the same episodes, with 95% CIs."""
    mine = sorted((r for r in records if r["policy"] == policy), key=lambda r: r["seed"])
    theirs = sorted((r for r in records if r["policy"] == baseline), key=lambda r: r["seed"])
    if [r["seed"] for r in mine] != [r["seed"] for r in theirs]:
        raise ValueError(f"{policy} and {baseline} were not played on the same episodes")
    mean, ci = mean_ci([r["return"] for r in mine])
    diff, diff_ci = mean_ci([a["return"] - b["return"] for a, b in zip(mine, theirs)])
    return {"episodes": len(mine), "mean_return": round(mean, 3), "ci95": [round(v, 3) for v in ci],
            "paired_difference": round(diff, 3), "paired_ci95": [round(v, 3) for v in diff_ci]}


def summarise(records: list[dict], ppo: str | None, best_baseline: str | None) -> dict:
    by_policy: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_policy[r["policy"]].append(r)
    for runs in by_policy.values():
        runs.sort(key=lambda r: r["seed"])
    floor = np.mean([r["return"] for r in by_policy["always_continue"]])
    ceiling = np.mean([r["return"] for r in by_policy["clairvoyant"]]) if "clairvoyant" in by_policy else None
    policies = []
    for name, runs in by_policy.items():
        mean, ci = mean_ci([r["return"] for r in runs])
        successes = [s for r in runs for s in r["successes"]]
        policies.append({
            "name": name, "episodes": len(runs), "mean_return": round(mean, 3), "ci95": [round(v, 3) for v in ci],
            "success_rate": round(float(np.mean(successes)), 4) if successes else None,
            "remediations": len(successes),
            "cost": round(float(np.mean([r["cost"] for r in runs])), 2),
            "sla_violation_days": round(float(np.mean([r["sla_violation_days"] for r in runs])), 3),
            "normalised_score": None if ceiling is None or ceiling == floor else round((mean - floor) / (ceiling - floor), 4),
        })
    result = {"policies": sorted(policies, key=lambda p: -p["mean_return"]), "paired": None, "per_scenario": {}}
    if ppo in by_policy and best_baseline in by_policy:
        diff = [a["return"] - b["return"] for a, b in zip(by_policy[ppo], by_policy[best_baseline])]
        mean, ci = mean_ci(diff)
        result["paired"] = {"policy": ppo, "baseline": best_baseline, "mean": round(mean, 3), "ci95": [round(v, 3) for v in ci]}
    scenarios = sorted({r["scenario"] for r in records})
    for scenario in scenarios:
        rows = {name: float(np.mean([r["return"] for r in runs if r["scenario"] == scenario]))
                for name, runs in by_policy.items()}
        lo, hi = rows.get("always_continue"), rows.get("clairvoyant")
        result["per_scenario"][scenario] = {
            "episodes": sum(1 for r in by_policy["always_continue"] if r["scenario"] == scenario),
            "mean_return": {k: round(v, 2) for k, v in rows.items()},
            "normalised_score": {k: (round((v - lo) / (hi - lo), 3) if hi is not None and hi - lo > 1.0 else None)
                                 for k, v in rows.items()}}
    return result


# ---- the command ----------------------------------------------------------------------------------

def load_tuned(path: Path) -> dict:
    if not path.exists():
        raise ValueError(f"{path} not found: tune the baselines first (python -m rl.tune_baselines)")
    return json.loads(path.read_text())


def policy_specs(tuned: dict, policy_path: Path | None) -> tuple[list[PolicySpec], str | None, str]:
    specs = [PolicySpec("always_continue", "always_continue", {}), PolicySpec("random", "random", {"seed": 0}),
             PolicySpec("playbook", "playbook", {})]
    specs += [PolicySpec(family, family, entry["params"]) for family, entry in tuned["families"].items()]
    best = tuned["best"]
    ppo = None
    if policy_path is not None:
        specs.append(PolicySpec("ppo", "ppo", {"path": str(policy_path)}))
        ppo = "ppo"
    specs.append(PolicySpec("clairvoyant", "clairvoyant", {}))
    return specs, ppo, best


def parse_args(argv):
    p = OneLineParser(prog="python -m rl.evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=200, help="episodes per policy (default 200)")
    p.add_argument("--seeds", default="heldout", help="heldout, validation, tune, train or A:B (default heldout)")
    p.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help=f"PPO policy file (default {DEFAULT_POLICY})")
    p.add_argument("--baselines", type=Path, default=DEFAULT_BASELINES, help="tuned baseline parameters")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("--save", type=Path, help="also write the JSON object to this file")
    p.add_argument("--training-seeds", type=Path, metavar="RESULTS",
                   help="a training results file (python -m rl.train --seeds writes <policy>.seeds.json): play every "
                        "training seed's policy and the best tuned baseline on the same episodes, print the per-seed table")
    return p.parse_args(argv)


def seed_table(results: dict, tuned: dict, seeds: list[int], workers: int, progress=None) -> dict:
    """Every training seed's policy against the best tuned baseline on the same episodes: per seed its mean
    return and paired difference with 95% CIs, and the spread of the paired differences over seeds."""
    from rl.seeds import spread

    baseline = best_baseline_spec(tuned)
    best = baseline.name
    judged = judge_seeds({e["seed"]: Path(e["policy"]) for e in results["seeds"]}, baseline, seeds, workers, progress)
    rows = [{"seed": e["seed"], "shipped": e["seed"] == results["chosen_seed"],
             "validation_mean_return": e["validation"]["mean_return"], **judged[e["seed"]]} for e in results["seeds"]]
    differences = [r["paired_difference"] for r in rows]
    return {"baseline": best, "seeds": f"{seeds[0]}..{seeds[-1]}", "episodes": len(seeds), "selection_rule": results["selection_rule"],
            "recipe": results["recipe"], "per_seed": rows, "paired_difference_over_seeds": spread(differences),
            "seeds_with_ci_above_zero": sum(r["paired_ci95"][0] > 0 for r in rows)}


def print_seed_table(table: dict, console) -> None:
    from rich.table import Table

    out = Table(title=f"training seeds of `{table['recipe']}` against {table['baseline']} (best tuned baseline), "
                      f"{table['episodes']} episodes, seeds {table['seeds']}")
    for column in ("seed", "validation return", "mean return", "95% CI", f"paired - {table['baseline']}", "95% CI"):
        out.add_column(column, justify="right")
    for r in table["per_seed"]:
        out.add_row(f"{r['seed']}{' (shipped)' if r['shipped'] else ''}", f"{r['validation_mean_return']:.1f}",
                    f"{r['mean_return']:.1f}", f"[{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]", f"{r['paired_difference']:+.2f}",
                    f"[{r['paired_ci95'][0]:+.2f}, {r['paired_ci95'][1]:+.2f}]")
    console.print(out)
    s = table["paired_difference_over_seeds"]
    console.print(f"paired difference over {s['n']} training seeds: mean {s['mean']:+.2f}, sd {s['sd']:.2f}, "
                  f"min {s['min']:+.2f}, max {s['max']:+.2f}; CI above 0 for {table['seeds_with_ci_above_zero']} of {s['n']}")
    console.print(f"shipped by the rule fixed before any held-out result: {table['selection_rule']}")


def _seed_table_command(args, results: dict, tuned: dict, seeds: list[int]) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from rl.agent import single_threaded_numerics

    single_threaded_numerics()
    console = Console(stderr=args.json)
    with Progress(console=console, disable=args.json) as bar:
        task = bar.add_task("episodes", total=(len(results["seeds"]) + 1) * len(seeds))
        table = seed_table(results, tuned, seeds, args.workers, progress=lambda: bar.advance(task))
    if args.save:
        args.save.write_text(json.dumps(table, indent=1))
    if args.json:
        print(json.dumps(table))
    else:
        print_seed_table(table, console)
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.episodes <= 0:
            raise ValueError("--episodes must be positive")
        seeds = parse_seeds(args.seeds, args.episodes)
        tuned = load_tuned(args.baselines)
        if args.save is not None and not args.save.parent.is_dir():
            raise ValueError(f"--save: folder {args.save.parent} does not exist")
        results = None
        if args.training_seeds is not None:
            from rl.agent import load_agent
            from rl.seeds import read_results

            results = read_results(args.training_seeds)
            for entry in results["seeds"]:
                load_agent(entry["policy"])  # a PolicyFileError says which file is bad before any episode runs
        elif not args.policy.exists():
            raise ValueError(f"{args.policy} not found (train one with python -m rl.train)")
        else:
            from rl.agent import load_agent

            load_agent(args.policy)  # a PolicyFileError (a ValueError) says what is wrong, in one line
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if results is not None:
        return _seed_table_command(args, results, tuned, seeds)
    from rl.agent import single_threaded_numerics

    single_threaded_numerics()
    specs, ppo, best = policy_specs(tuned, args.policy)
    config = EnvConfig()
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    console = Console(stderr=args.json)  # with --json, stdout holds the JSON object alone
    with Progress(console=console, disable=args.json) as bar:
        task = bar.add_task("episodes", total=len(specs) * len(seeds))
        records = run_episodes(specs, seeds, config, workers=args.workers, progress=lambda: bar.advance(task))
    result = summarise(records, ppo, best)
    if args.save:
        args.save.write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
        return 0
    table = Table(title=f"{len(seeds)} episodes, seeds {args.seeds} ({seeds[0]}..{seeds[-1]})")
    for column in ("policy", "mean return", "95% CI", "success", "cost $", "SLA days", "normalised"):
        table.add_column(column, justify="right")
    for p in result["policies"]:
        table.add_row(p["name"], f"{p['mean_return']:.1f}", f"[{p['ci95'][0]:.1f}, {p['ci95'][1]:.1f}]",
                      "-" if p["success_rate"] is None else f"{p['success_rate']:.0%} of {p['remediations']}",
                      f"{p['cost']:,.0f}", f"{p['sla_violation_days']:.2f}",
                      "-" if p["normalised_score"] is None else f"{p['normalised_score']:.2f}")
    console.print(table)
    if result["paired"]:
        pr = result["paired"]
        console.print(f"paired {pr['policy']} - {pr['baseline']} (best tuned baseline on the tuning seeds): "
                      f"{pr['mean']:+.2f} [{pr['ci95'][0]:+.2f}, {pr['ci95'][1]:+.2f}]")
    scenario_table = Table(title="normalised score per scenario (None: no gap between continuing and the ceiling)")
    scenario_table.add_column("policy")
    names = list(result["per_scenario"])
    for name in names:
        scenario_table.add_column(f"{name} ({result['per_scenario'][name]['episodes']})", justify="right")
    for p in result["policies"]:
        scenario_table.add_row(p["name"], *(str(result["per_scenario"][s]["normalised_score"].get(p["name"])) for s in names))
    console.print(scenario_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
