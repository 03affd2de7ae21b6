"""mlmon/Remediation-v0: a gymnasium environment over the simulator, one step per day.

An episode samples a model, a scenario type, its onset and severity, and a world seed, all from the
reset seed; every bit of the world's noise then follows from that seed (common random numbers), so
the same seed and actions give the same episode. Each step the agent picks one of the 7 remediations;
the world applies it, serves the next day, and mlmon's monitoring day (nodes.day.monitor_day: the
graph nodes' steps, on rows in memory instead of SQLite) turns that day into the policy observation
of `decision.observation.policy_observation`, the function the remediation node calls.

The lighter path: a day has at most `max_rows_per_day` rows (fraud's 50,000 become 10,000). Rows are
drawn in blocks, so the capped day is the first rows of the full day; tests/test_env.py shows the two
agree on accuracy within 0.01 per day.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from decision.actions import N_ACTIONS, Action
from decision.observation import N_POLICY_FEATURES, policy_observation
from decision.reward import RewardWeights, compute_reward
from nodes.memory import effect_on_memory, empty_memory, remember_day
from nodes.alert import AlertThresholds, alert_summary
from nodes.base import DayInputs
from nodes.day import monitor_day
from nodes.drift import profile_view
from nodes.reference import ReferenceProfile
from simulator import episode
from simulator.catalog import MODELS, get_model
from simulator.scenarios import SCENARIOS, get_scenario
from simulator.world import World, WorldState
from stores.predictions import reference_from_log

ENV_ID = "mlmon/Remediation-v0"
REFERENCE_POOL = 16  # pre-launch data sets (and initial models) episodes draw from; fits are cached


@dataclass(frozen=True)
class EnvConfig:
    days: int = 30
    models: tuple[str, ...] = tuple(MODELS)
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    max_rows_per_day: int | None = 10000
    reward: RewardWeights = field(default_factory=RewardWeights)
    alert_thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    # Monitor each day policy-only (nodes.day): the same observations and rewards, bit for bit, without
    # the figures only people read. False runs the full monitoring day, as the graph does.
    policy_only: bool = True


_PROFILES: OrderedDict = OrderedDict()


class RemediationEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None):
        self.config = config or EnvConfig()
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(N_POLICY_FEATURES,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(N_ACTIONS)

    # ---- episode ------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Options may pin `model`, `scenario` (and `onset`, `severity`, `duration`) for evaluation, and
        `world_seed` and `reference_seed` to rebuild the world of a graph run (World(model, scenario, seed)
        has both seeds equal to the run's seed)."""
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        model = options.get("model") or self.config.models[int(rng.integers(len(self.config.models)))]
        name = options.get("scenario") or self.config.scenarios[int(rng.integers(len(self.config.scenarios)))]
        scenario = get_scenario(name).sample(rng, self.config.days)
        pinned = {k: options[k] for k in ("onset", "severity", "duration") if k in options}
        if pinned:
            scenario = scenario.with_params(**pinned)
        world_seed = int(rng.integers(2**31 - 1))  # drawn even when pinned, so the stream stays the same
        world_seed = int(options.get("world_seed", world_seed))
        self.world = World(get_model(model), scenario, world_seed, max_rows_per_day=self.config.max_rows_per_day,
                           reference_seed=int(options.get("reference_seed", world_seed % REFERENCE_POOL)))
        self.schema = self.world.schema()
        self.baseline = self.world.monitoring_baseline()
        self.memory = empty_memory(self.world.initial_state().model.version)
        self.references = {"v1": self._reference_profile("v1", self.world.reference)}
        self.day, self.sim = 0, episode.start(self.world)
        self.episode_return = 0.0
        self._begin_day()
        return self._observation(), self._info()

    def step(self, action):
        action = Action(int(action))
        invalid = not self.mask[action]
        if invalid:  # an impossible action is treated as continuing (PPO masks these; checkers do not)
            action = Action.CONTINUE
        result = episode.end_day(self.world, self.sim, self.day, action)
        reward, parts = compute_reward(result.outcome, self.config.reward)
        effect = result.effect
        if effect.reference is not None:
            self.references[effect.new_version] = self._reference_profile(effect.new_version, effect.reference)
        outcome = effect_on_memory(effect, action.label, self.memory)
        self.memory = remember_day(self.memory, day=self.day, performance=self.findings["performance"],
                                   drift=self.findings["drift"], alerts=self.findings["alerts"],
                                   remediation={"action": action.label}, outcome=outcome, baseline=self.baseline)
        self.sim = result.sim
        self.day += 1
        self.episode_return += reward
        self.last_step = {"action": action.label, "invalid_action": invalid, "reward_parts": parts, "cost": effect.cost,
                          "next_accuracy": result.outcome.accuracy,
                          "next_counterfactual_accuracy": result.outcome.counterfactual_accuracy}
        terminated = self.day >= self.config.days
        if not terminated:
            self._begin_day()
        return self._observation(), float(reward), terminated, False, {**self._info(), **self.last_step}

    # ---- monitoring, in memory ----------------------------------------------------------------
    def _reference_profile(self, version: str, batch) -> ReferenceProfile:
        """Profiled once per version (and the pre-launch ones once per process): the profile keeps its
        column profiles and, once fitted, its score calibrator."""
        key = (self.world.spec.name, self.world.reference_seed, version) if version == "v1" else None
        if key is not None and key in _PROFILES:
            return _PROFILES[key]
        view = reference_from_log(self.world.to_log(batch, category_names=False), self.schema)
        profile = ReferenceProfile(version, profile_view(view, self.schema), view)
        if key is not None:
            _PROFILES[key] = profile
            if len(_PROFILES) > 4 * REFERENCE_POOL * len(MODELS):
                _PROFILES.popitem(last=False)
        return profile

    def _begin_day(self) -> None:
        served = episode.begin_day(self.world, self.sim, self.day)
        self.sim, self.batch = served.sim, served.batch
        findings = monitor_day(DayInputs(
            day=self.day, view=self.world.to_view(served.batch), reference=self.references[self.memory["reference_version"]],
            baseline=self.baseline, memory=self.memory, schema=self.schema, thresholds=self.config.alert_thresholds,
            run_id="env", model=self.world.spec.name, policy_only=self.config.policy_only))
        self.findings = {**findings, "alerts": alert_summary(findings["alerts"])}
        self.mask = self.world.action_mask(self._world_state())

    def _world_state(self) -> WorldState:
        return WorldState.from_dict(self.sim["world"])

    def _observation(self) -> np.ndarray:
        f = self.findings
        obs = policy_observation(min(self.day, self.config.days - 1), self.config.days, f["performance"], f["drift"],
                                 self.memory, self.baseline, f["alerts"]["incident"], list(self.mask))
        return np.asarray(obs, dtype=np.float32)

    def policy_findings(self) -> dict:
        """What a policy may read beside the observation (the playbook keys on the open incident)."""
        return {"day": self.day, "incident": self.findings["alerts"]["incident"], "recent_actions": self.memory["actions"]}

    def _info(self) -> dict:
        return {"action_mask": np.asarray(self.mask, dtype=np.int8), "day": self.day, "model": self.world.spec.name,
                "scenario": self.world.scenario.name, "true_accuracy": self.batch.true_accuracy,
                "incident": (self.findings["alerts"]["incident"] or {}).get("root_cause")}


def register() -> None:
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="rl.env:RemediationEnv", order_enforce=False, disable_env_checker=True)
