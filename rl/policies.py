"""A remediation policy by name, as a run or a CLI asks for one: `ppo` (the learned policy), or one of the
hand-written policies of decision.policy (`rules`, `noop`, `random`).
"""
from __future__ import annotations

from decision.policy import NoopPolicy, Policy, RandomPolicy, RulesPolicy
from rl import SHIPPED_POLICY

POLICY_NAMES = ("ppo", "rules", "noop", "random")


def make_policy(name: str, seed: int = 0, output_dir=None, learned: bytes | None = None,
                source: str = "") -> Policy:
    """`ppo` serves `learned` (a policy file's bytes: the version a run started with) if given, else
    <output_dir>/rl_policy.pt if a previous run left one there, else the shipped policy."""
    if name == "noop":
        return NoopPolicy()
    if name == "random":
        return RandomPolicy(seed)
    if name == "rules":
        return RulesPolicy()
    if name == "ppo":
        from rl.agent import PolicyFileError, PPOPolicy  # torch is imported only when the learned policy is asked for
        from rl.online import policy_path

        if learned is not None:
            return PPOPolicy(learned, source or "the run's recorded policy")
        path = policy_path(output_dir) if output_dir is not None else SHIPPED_POLICY
        if not path.exists():
            raise ValueError(f"no PPO policy at {path}; train one with python -m rl.train")
        try:
            return PPOPolicy.from_file(path)
        except PolicyFileError as exc:  # a truncated, old or hostile file: say which, do not touch it
            hint = "; move it away to start from the shipped policy" if path != SHIPPED_POLICY else ""
            raise PolicyFileError(f"{exc}{hint}") from None
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")
