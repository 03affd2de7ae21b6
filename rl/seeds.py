"""Several training seeds of one recipe: judge each seed's policy on the validation seeds, pick the one to
ship by a rule fixed in advance, and keep it all in a results file that `python -m rl.evaluate
--training-seeds` reads to put every seed on the held-out seeds.

One trained policy is one sample of its recipe. `python -m rl.train --seeds 1-5` trains the recipe once
per seed (rl/train.py), then plays every seed's policy and the best tuned baseline (rl.evaluate.judge_seeds) on the
validation seeds (VALIDATION_SEED_BASE.., disjoint from the held-out, training, tuning, online and
demonstration seeds) and ships the policy SELECTION_RULE picks. The rule reads validation returns only;
held-out episodes play no part in choosing what ships.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

VALIDATION_SEED_BASE = 5_000_000
VALIDATION_EPISODES = 200


def selection_rule(episodes: int = VALIDATION_EPISODES) -> str:
    return ("ship the training seed whose greedy policy earns the highest mean return on the validation seeds "
            f"{VALIDATION_SEED_BASE:,}..{VALIDATION_SEED_BASE + episodes - 1:,} ({episodes} episodes; a tie goes to "
            "the lowest seed); held-out seeds are not read")


SELECTION_RULE = selection_rule()


def parse_seed_list(spec: str) -> list[int]:
    """'1-5' or '1,2,7' -> the seeds, in order, each once.

    >>> parse_seed_list("1-5"), parse_seed_list("3,1,3")
    ([1, 2, 3, 4, 5], [3, 1])
    """
    seeds: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise ValueError(f"--seeds must look like 1-5 or 1,2,3, not {spec!r}")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        seeds += [s for s in range(first, last + 1) if s not in seeds]
    return seeds


def seed_policy_path(out: Path, seed: int) -> Path:
    """Where training seed `seed` of the policy shipped at `out` is kept."""
    return out.parent / "seeds" / f"{out.stem}.seed{seed}{out.suffix}"


def results_path(out: Path) -> Path:
    return out.with_suffix(".seeds.json")


def validation_seeds(episodes: int = VALIDATION_EPISODES) -> list[int]:
    return list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + episodes))


def select(validation: dict[int, dict]) -> int:
    """SELECTION_RULE: the highest validation mean return, the lowest seed on a tie.

    >>> select({3: {"mean_return": 10.0}, 1: {"mean_return": 12.5}, 2: {"mean_return": 12.5}})
    1
    """
    return min(validation, key=lambda s: (-validation[s]["mean_return"], s))


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation, min and max of per-seed figures."""
    values = np.asarray(values, dtype=float)
    return {"mean": round(float(values.mean()), 3), "sd": round(float(values.std(ddof=1)), 3) if len(values) > 1 else 0.0,
            "min": round(float(values.min()), 3), "max": round(float(values.max()), 3), "n": len(values)}


def write_results(out: Path, *, command: str, baseline: str, seeds: dict[int, dict], validation: dict[int, dict],
                  chosen: int, episodes: int = VALIDATION_EPISODES) -> Path:
    """The training results file: per seed its policy file, training figures and validation figures; the rule
    and the seed it chose."""
    path = results_path(out)
    root = out.parent
    result = {
        "recipe": command, "date": datetime.now(timezone.utc).date().isoformat(), "shipped": out.name,
        "selection_rule": selection_rule(episodes), "chosen_seed": chosen, "baseline": baseline,
        "validation_seeds": f"{VALIDATION_SEED_BASE}..{VALIDATION_SEED_BASE + episodes - 1}",
        "seeds": [{"seed": s, "policy": str(Path(info["policy"]).relative_to(root)), **{k: v for k, v in info.items() if k != "policy"},
                   "validation": validation[s]} for s, info in seeds.items()],
        "validation_spread": {"paired_difference": spread([validation[s]["paired_difference"] for s in seeds]),
                              "mean_return": spread([validation[s]["mean_return"] for s in seeds])},
    }
    path.write_text(json.dumps(result, indent=1))
    return path


def read_results(path: Path) -> dict:
    """A training results file, with each seed's policy path made absolute; a ValueError says what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
        for entry in data["seeds"]:
            entry["policy"] = str(Path(path).parent / entry["policy"])
        data["chosen_seed"], data["selection_rule"]  # noqa: B018 (must be there)
    except FileNotFoundError:
        raise ValueError(f"{path} not found (python -m rl.train --seeds 1-5 writes it)") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a training results file ({type(exc).__name__}: {exc})") from None
    missing = [e["policy"] for e in data["seeds"] if not Path(e["policy"]).exists()]
    if missing:
        raise ValueError(f"{path} names policy files that do not exist: {', '.join(missing)}")
    return data
