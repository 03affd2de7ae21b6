"""Remediation policies: the state vector, the reward, hand-written policies, and the learned one.

RL work runs many small numpy calls in parallel worker processes on two cores: one BLAS thread per
process avoids oversubscription (measured ~20% more environment steps per second). Set here, before
numpy starts its thread pool; an explicit setting in the environment wins.
"""
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
