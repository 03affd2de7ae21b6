"""Learning and judging remediation policies on the simulator: the environment, the network and its file,
the PPO trainer, online learning across runs, baselines, counterfactuals, evaluation, the alert bandit.

What a policy sees, how a decision is scored and the policy interface are not here: they are the
`decision` package, below the nodes, so the remediation node can use them without importing RL.

RL work runs many small numpy calls in parallel worker processes on two cores: one BLAS thread per
process avoids oversubscription (measured ~20% more environment steps per second). Set here, before
numpy starts its thread pool; an explicit setting in the environment wins.
"""
import os
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

SHIPPED_POLICY = Path(__file__).parent / "trained" / "ppo_remediation.pt"  # made by the command in trained/README.md
