"""Shared helpers: run the monitoring job in-process (fast) or as a real subprocess (CLI behaviour)."""
from __future__ import annotations

import os

# One BLAS thread, set before anything imports numpy (rl/__init__.py does the same for the RL CLIs): the
# world's model fits are small, and on a busy 2-core machine a multi-threaded OpenBLAS made each retrain
# ~30x slower (7 ms -> 250 ms measured in tests/test_env.py). Subprocesses inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from graph.runner import RunConfig, execute  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_job(output_dir: Path, *, model="pneumonia_classifier_v1", scenario="default", days=30, seed=0,
            policy="rules", run_id="test") -> dict:
    models = [model] if isinstance(model, str) else list(model)
    outputs = execute(RunConfig(models, scenario, days, seed, policy, Path(output_dir), run_id))
    return outputs.report


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m graph.run ARGS` in a subprocess, as a user would type it."""
    return subprocess.run([sys.executable, "-m", "graph.run", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def load_report(output_dir: Path, run_id: str) -> dict:
    return json.loads((Path(output_dir) / f"final_report_{run_id}.json").read_text())


@pytest.fixture(scope="session")
def default_noop_report(tmp_path_factory) -> dict:
    """The default 30-day scenario with nothing done: the original arc."""
    return run_job(tmp_path_factory.mktemp("noop"), policy="noop")
