"""The remediation policy network and its file: the actor-critic, saving and loading it as data only, and
serving it greedily behind the remediation node's policy interface.

A policy file is a torch file of tensors and plain metadata (str, int, float, bool, None, lists and
dicts of them), marked with FORMAT, and read with `torch.load(weights_only=True)`: loading it never
runs code, whoever wrote the file. Anything else (an older pickle, a hostile one, a truncated file,
another network's weights) is a PolicyFileError with a one-line message.
"""
from __future__ import annotations

import hashlib
import io
import math
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

from decision.actions import Action
from decision.observation import POLICY_FEATURES
from decision.policy import Decision
from stores.safefs import atomic_file

MASKED_LOGIT = -1e8
CONTINUE_PRIOR = 0.8
FORMAT = {"format": "mlmon-policy", "format_version": 2}
MAX_POLICY_BYTES = 64 * 1024 * 1024  # a policy is ~100 KB; refuse to read something absurd into memory
MAX_HIDDEN = 4096


class PolicyFileError(ValueError):
    """A policy file that mlmon will not load; the message names the file and the reason, in one line."""


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, n_actions), std=0.01),
        )
        # A prior, not a rule: on most days continuing is right, so the untrained policy continues with
        # probability CONTINUE_PRIOR instead of 1/7 and explores remediations less wastefully.
        with torch.no_grad():
            self.actor[-1].bias[Action.CONTINUE] = float(np.log(CONTINUE_PRIOR / (1 - CONTINUE_PRIOR) * (n_actions - 1)))

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def distribution(self, x: torch.Tensor, mask: torch.Tensor) -> Categorical:
        logits = self.actor(x)
        return Categorical(logits=torch.where(mask.bool(), logits, torch.full_like(logits, MASKED_LOGIT)))

    def get_action_and_value(self, x, mask, action=None):
        dist = self.distribution(x, mask)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(x)


# ---- the policy file -------------------------------------------------------------------------------

def _plain(value, where: str):
    """Metadata as plain data only (what weights_only loading accepts); numpy scalars become Python's."""
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"policy metadata {where} is a {type(value).__name__}, not plain data")


def policy_payload(agent: Agent, hidden: int, metadata: dict | None = None) -> dict:
    """What a policy file holds: the weights, what they mean, and plain metadata."""
    meta = _plain({k: v for k, v in (metadata or {}).items() if k not in ("state_dict", *FORMAT)}, "metadata")
    if not all(bool(torch.isfinite(v).all()) for v in agent.state_dict().values()):
        raise ValueError("the policy's weights are not finite (a failed update); it was not saved")
    return {**meta, **FORMAT, "state_dict": {k: v.detach().clone() for k, v in agent.state_dict().items()},
            "obs_features": list(POLICY_FEATURES), "actions": [a.label for a in Action], "hidden": int(hidden)}


def save_policy(agent: Agent, path, hidden: int, metadata: dict | None = None) -> None:
    """Write a policy file all or nothing (a temporary file renamed over `path`, never through a link)."""
    with atomic_file(Path(path)) as handle:
        torch.save(policy_payload(agent, hidden, metadata), handle)


def policy_bytes(agent: Agent, hidden: int, metadata: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    torch.save(policy_payload(agent, hidden, metadata), buffer)
    return buffer.getvalue()


def _check_payload(payload) -> str | None:
    """Why `payload` is not a policy this code can serve, or None."""
    if not isinstance(payload, dict):
        return "not a policy (no metadata)"
    if payload.get("format") != FORMAT["format"]:
        return "not an mlmon policy file, or one written before policy files were data-only (format 2)"
    if payload.get("format_version") != FORMAT["format_version"]:
        return f"policy file format {payload.get('format_version')!r}; this mlmon reads format {FORMAT['format_version']}"
    if payload.get("obs_features") != list(POLICY_FEATURES):
        return "trained on other observation features"
    if payload.get("actions") != [a.label for a in Action]:
        return "trained on other actions"
    hidden = payload.get("hidden")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or not 1 <= hidden <= MAX_HIDDEN:
        return f"bad hidden width {hidden!r}"
    weights = payload.get("state_dict")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        return "no weights"
    if not all(bool(torch.isfinite(v).all()) for v in weights.values()):
        return "weights that are not finite"
    return None


def read_policy(source: str | Path | bytes, name: str | None = None) -> tuple[Agent, dict]:
    """Load a policy file (a path, or its bytes) as data only; returns the agent and the file's contents."""
    name = name or str(source)
    try:
        data = source if isinstance(source, bytes) else _read_bytes(Path(source))
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses
            warnings.simplefilter("ignore")
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except PolicyFileError:
        raise
    except pickle.UnpicklingError:
        raise PolicyFileError(f"{name} is not a readable mlmon policy: it holds objects other than tensors and plain "
                              "data, so it was refused unread (loading it could run code)") from None
    except Exception as exc:  # a truncated or foreign file: never executed, one line
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise PolicyFileError(f"{name} is not a readable mlmon policy ({type(exc).__name__}"
                              f"{': ' + first if first else ''})") from None
    problem = _check_payload(payload)
    if problem is not None:
        raise PolicyFileError(f"{name} is not a readable mlmon policy: {problem}")
    agent = Agent(len(POLICY_FEATURES), len(Action), payload["hidden"])
    try:
        agent.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise PolicyFileError(f"{name} is not a readable mlmon policy: weights do not fit the network "
                              f"({str(exc).splitlines()[0][:120]})") from None
    agent.eval()
    return agent, payload


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PolicyFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if size > MAX_POLICY_BYTES:
        raise PolicyFileError(f"{path} is {size:,} bytes, far too large for an mlmon policy")
    return path.read_bytes()


def load_agent(path) -> tuple[Agent, dict]:
    return read_policy(Path(path))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- serving --------------------------------------------------------------------------------------

def single_threaded_numerics() -> None:
    """One torch thread: for networks this small it is several times faster here (BLAS: see rl/__init__)."""
    torch.set_num_threads(1)


def greedy_action(agent: Agent, observation, mask) -> tuple[int, np.ndarray]:
    """The most probable allowed action, and the action probabilities."""
    single_threaded_numerics()
    with torch.no_grad():
        dist = agent.distribution(torch.tensor(np.asarray(observation, dtype=np.float32))[None],
                                  torch.tensor(np.asarray(mask, dtype=np.float32))[None])
        probs = dist.probs[0].numpy()
    return int(np.argmax(probs)), probs


@dataclass
class PPOPolicy:
    """A trained PPO policy behind the remediation node's interface: the most probable allowed action.

    Built from the policy file's bytes, so a run can keep the exact version it started with.
    """

    data: bytes
    source: str  # where the bytes came from, for messages and the report

    name = "ppo"

    def __post_init__(self):
        self.agent, self.checkpoint = read_policy(self.data, self.source)
        self.version = digest(self.data)

    @classmethod
    def from_file(cls, path) -> "PPOPolicy":
        return cls(_read_bytes(Path(path)), str(path))

    def decide(self, observation, mask, findings) -> Decision:
        action, probs = greedy_action(self.agent, observation, mask)
        ranked = sorted(((p, Action(i).label) for i, p in enumerate(probs) if mask[i]), reverse=True)[:3]
        return Decision(Action(action), "PPO policy: " + ", ".join(f"{label} {p:.0%}" for p, label in ranked),
                        probabilities=[round(float(p), 6) if math.isfinite(p) else 0.0 for p in probs])
