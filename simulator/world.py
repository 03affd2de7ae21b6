"""The world a monitored model lives in: it draws each day's traffic, serves it, and answers to actions.

Common random numbers: everything random about day d (which rows arrive, their features and true
labels, which labels come back, latencies, faults) is drawn from a stream seeded by (seed, model, day)
alone, before any action is looked at. Actions change only what is *done* with those draws (which
model scores them, at what threshold, how many labels are collected), so any day can be replayed
under another history of actions: the no-action counterfactual and the RL planner rely on that.

`WorldState` is small plain data (model versions are a few dozen floats) so the graph can checkpoint
it; the `World` object itself holds only caches and can be rebuilt at any time.
"""
from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from decision.actions import ACTION_COSTS, RETRAIN_DELAY_DAYS, Action
from simulator.catalog import ModelSpec
from simulator.classifier import LogisticModel, best_threshold, fit_logistic
from simulator.scenarios import DayConditions, Scenario
from stores.predictions import SAMPLE_ROWS, Columns, DayView, LabelledRows, ModelSchema, PredictionLog

REFERENCE_TRAIN_ROWS = 20000
REFERENCE_ROWS = 5000  # the reference window mlmon compares each day against
RETRAIN_WINDOW_DAYS = 7
RETRAIN_MAX_ROWS = 12000
MIN_RETRAIN_ROWS = 300
THRESHOLD_WINDOW_DAYS = 3
MONITORING_BOOST_DAYS = 5
MONITORING_LABEL_MULTIPLIER = 2.0
LABEL_OUTAGE_PROBABILITY = 0.04
BAD_RELEASE_LATENCY_FACTOR = 2.5
DAY_CACHE = 10
SERVED_CACHE = 8
ROW_BLOCK = 5000  # rows are drawn in blocks from independent streams (see World)


@dataclass
class DayBatch:
    """One day of served traffic: what the prediction log receives."""

    day: int
    model_version: str
    numeric: np.ndarray  # (n, p) observed values, NaN where missing
    categorical: np.ndarray  # (n, c) category codes
    label: np.ndarray  # (n,) ground truth for every row (the simulator knows it)
    labelled: np.ndarray  # (n,) whose label reaches mlmon today
    score: np.ndarray
    prediction: np.ndarray
    latency_ms: np.ndarray
    seconds: np.ndarray  # time of day of each prediction
    sample_rank: np.ndarray  # a random permutation: rows with rank < k are a uniform sample of k
    segment: np.ndarray  # row belongs to the new segment (simulation-only diagnostic)

    def __len__(self) -> int:
        return len(self.label)

    @cached_property  # a batch is never changed once served, and its accuracy is asked for several times
    def true_accuracy(self) -> float:
        """Accuracy on every row, labelled or not: what the world knows and mlmon estimates."""
        return float(np.mean(self.prediction == self.label))


@dataclass
class WorldState:
    """Everything about the world that actions change. Plain data; lives in the checkpointed state."""

    current: dict  # LogisticModel.to_dict()
    previous: dict | None = None  # the version a rollback restores
    next_version: int = 2
    pending_retrain_day: int | None = None  # a scheduled retrain runs at the end of this day
    last_retrain_day: int | None = None
    monitoring_windows: list = field(default_factory=list)  # [[first_day, last_day]] of boosted labelling
    fault_repaired_day: int | None = None  # from this day on the broken feed is fixed
    latency_factor: float = 1.0

    def to_dict(self) -> dict:
        # Shallow on purpose: model dicts are never mutated in place, only replaced.
        return {**self.__dict__, "monitoring_windows": [list(w) for w in self.monitoring_windows]}

    @classmethod
    def from_dict(cls, data: dict) -> "WorldState":
        return cls(**data)

    @property
    def model(self) -> LogisticModel:
        return LogisticModel.from_dict(self.current)


@dataclass
class ActionEffect:
    """What the end of a day did to the world: money, downtime, and any new model version."""

    action: str
    cost: float = 0.0
    downtime_hours: float = 0.0
    new_version: str | None = None  # a version that starts serving tomorrow
    reference: DayBatch | None = None  # the new version's reference rows (for drift)
    events: list = field(default_factory=list)  # human-readable notes


@dataclass
class _DayDraw:
    """The action-independent randomness of one day."""

    conditions: DayConditions
    numeric_observed: np.ndarray  # before any pipeline fault
    categorical: np.ndarray
    segment: np.ndarray
    label: np.ndarray
    u_labelled: np.ndarray
    label_outage: bool
    latency_noise: np.ndarray
    seconds: np.ndarray
    sample_rank: np.ndarray
    fault_rows: np.ndarray


def _category_codes(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The category each uniform falls in: min(searchsorted(cum, u, side="right"), k - 1), the same codes
    as that search, counted by comparisons (for a handful of categories several times faster)."""
    codes = (u >= cum[0]).astype(np.int64)
    for edge in cum[1:-1]:
        codes += u >= edge
    return codes


def _model_salt(name: str) -> int:
    return zlib.crc32(name.encode())


_REFERENCE_CACHE: OrderedDict[tuple, tuple[LogisticModel, "DayBatch"]] = OrderedDict()
_REFERENCE_CACHE_SIZE = 64


class World:
    """Draws, serves and remediates one model's traffic under one scenario for one seed.

    `max_rows_per_day` is the RL environment's lighter path: rows are drawn in blocks of ROW_BLOCK
    from per-block streams, so a capped day is exactly the first blocks of the full day (the same
    rows, fewer of them). `reference_seed` picks the pre-launch data the initial model was fitted on
    (default: the seed); fits are cached, as the RL environment resets thousands of worlds.
    """

    def __init__(self, spec: ModelSpec, scenario: Scenario, seed: int, *, max_rows_per_day: int | None = None,
                 reference_seed: int | None = None):
        if max_rows_per_day is not None and (max_rows_per_day <= 0 or max_rows_per_day % ROW_BLOCK):
            raise ValueError(f"max_rows_per_day must be a positive multiple of {ROW_BLOCK}")
        self.spec = spec
        self.scenario = scenario
        self.seed = int(seed)
        self.reference_seed = self.seed if reference_seed is None else int(reference_seed)
        self.rows_per_day = min(spec.daily_volume, max_rows_per_day or spec.daily_volume)
        self._salt = _model_salt(spec.name)
        self._draws: OrderedDict[int, _DayDraw] = OrderedDict()
        self._served: OrderedDict[tuple, DayBatch] = OrderedDict()
        self.day_cache, self.served_cache = DAY_CACHE, SERVED_CACHE  # planners replaying days raise these
        self._numeric_mean = np.array([f.mean for f in spec.numeric])
        self._numeric_std = np.array([f.std for f in spec.numeric])
        self._category_counts = [len(spec.all_categories(c)) for c in spec.categorical_names]
        names = spec.numeric_names
        self._w = np.array([spec.truth_weights.get(n, 0.0) for n in names])
        self._w_concept = np.array([spec.concept_weights.get(n, spec.truth_weights.get(n, 0.0)) for n in names])
        self._offsets = np.array([spec.segment.offsets.get(n, 0.0) for n in names])
        self._seasonal = np.array([1.0 if n in spec.seasonal_features else 0.0 for n in names])
        self._fault_col = names.index(spec.fault_feature) if spec.fault_feature else None
        self._segment_col = spec.categorical_names.index(spec.segment.column)
        self._segment_code = spec.all_categories(spec.segment.column).index(spec.segment.value)
        self._group_col = spec.categorical_names.index(spec.group)
        self._category_effects = [(spec.categorical_names.index(key.split("=")[0]),
                                   spec.all_categories(key.split("=")[0]).index(key.split("=")[1]), effect)
                                  for key, effect in spec.truth_category_effects.items()]
        self._category_cum = [np.cumsum(f.probs).astype(np.float32) for f in spec.categorical]  # as the uniforms
        self._segment_group_cum = np.cumsum(spec.segment.group_probs).astype(np.float32)
        self._initial_model, self.reference = self._initial()
        self.reference_accuracy = self.reference.true_accuracy

    # ---- randomness -------------------------------------------------------------------------
    def _rng(self, *stream: int, seed: int | None = None) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed if seed is None else seed, self._salt, *stream]))

    def _draw_rows(self, rng: np.random.Generator, n: int, cond: DayConditions):
        """n rows of (z, observed numeric, category codes, segment, label, extras) under `cond`.

        Arrays are features-major in memory ((n, p) views of (p, n) blocks): numpy's loops then run
        along rows, several times faster here than along 7-9 features.
        """
        spec, p, c = self.spec, len(self.spec.numeric), len(self.spec.categorical)
        u = rng.random((c + 4, n), dtype=np.float32)  # segment, categories, label, labelled, fault
        z = rng.standard_normal((p, n)).T
        for j in np.flatnonzero(self._seasonal) if cond.seasonal_shift else ():
            z[:, j] += cond.seasonal_shift
        segment = u[0] < cond.segment_share
        numeric = z * self._numeric_std + self._numeric_mean
        if segment.any():  # the new segment reads some features off by a measurement offset
            for j in np.flatnonzero(self._offsets):
                numeric[:, j] += segment * (self._offsets[j] * self._numeric_std[j])
        categorical = np.empty((c, n), dtype=np.int64).T
        for j, cum in enumerate(self._category_cum):
            categorical[:, j] = _category_codes(cum, u[1 + j])
        if segment.any():
            categorical[segment, self._segment_col] = self._segment_code
            seg_groups = _category_codes(self._segment_group_cum, u[1 + self._group_col])
            categorical[:, self._group_col] = np.where(segment, seg_groups, categorical[:, self._group_col])
        weights = (1 - cond.concept) * self._w + cond.concept * self._w_concept
        logit = spec.truth_intercept + cond.prior_shift + z @ weights
        for j, code, effect in self._category_effects:
            logit += effect * (categorical[:, j] == code)
        label = (u[c + 1] < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)
        extras = (u[c + 2], rng.standard_normal(n), u[c + 3] < cond.fault_rate)  # labelled, latency, fault
        return z, numeric, categorical, segment, label, extras

    def _draw(self, day: int) -> _DayDraw:
        if day in self._draws:
            self._draws.move_to_end(day)
            return self._draws[day]
        cond = self.scenario.conditions(day)
        parts = []
        for block in range(-(-self.rows_per_day // ROW_BLOCK)):
            size = min(ROW_BLOCK, self.rows_per_day - block * ROW_BLOCK)
            _, numeric, categorical, segment, label, extras = self._draw_rows(self._rng(1, day + 1000, block), size, cond)
            parts.append((numeric, categorical, segment, label, *extras))  # z itself is not kept: nothing reads it
        numeric, categorical, segment, label, u_labelled, latency_noise, fault_rows = (
            cols[0] if len(parts) == 1 else np.concatenate(cols) for cols in zip(*parts))
        n = len(label)
        day_rng = self._rng(3, day + 1000)
        draw = _DayDraw(
            conditions=cond, numeric_observed=numeric, categorical=categorical, segment=segment, label=label,
            u_labelled=u_labelled, label_outage=bool(day_rng.random() < LABEL_OUTAGE_PROBABILITY),
            latency_noise=latency_noise, seconds=day_rng.random(n) * 86400.0,  # rows need no time order
            sample_rank=day_rng.permutation(n), fault_rows=fault_rows,
        )
        self._draws[day] = draw
        if len(self._draws) > self.day_cache:
            self._draws.popitem(last=False)
        return draw

    # ---- the initial model and its reference window -----------------------------------------
    def _initial(self) -> tuple[LogisticModel, DayBatch]:
        key = (self.spec.name, self.reference_seed)
        if key not in _REFERENCE_CACHE:
            _REFERENCE_CACHE[key] = self._fit_initial_model()
            if len(_REFERENCE_CACHE) > _REFERENCE_CACHE_SIZE:
                _REFERENCE_CACHE.popitem(last=False)
        return _REFERENCE_CACHE[key]

    def _fit_initial_model(self) -> tuple[LogisticModel, DayBatch]:
        rng = self._rng(0, seed=self.reference_seed)
        base = DayConditions()
        _, numeric, categorical, _, label, _ = self._draw_rows(rng, REFERENCE_TRAIN_ROWS, base)
        model = fit_logistic(numeric, categorical, label, self._category_counts, version="v1", trained_day=-1, kind="initial")
        _, numeric, categorical, segment, label, _ = self._draw_rows(rng, REFERENCE_ROWS, base)
        reference = self._score_batch(model, -1, numeric, categorical, label, np.ones(len(label), bool), segment, rng)
        return model, reference

    def _score_batch(self, model, day, numeric, categorical, label, labelled, segment, rng, latency_factor=1.0):
        n = len(label)
        score = model.score(numeric, categorical)
        latency = self.spec.latency_ms_median * latency_factor * np.exp(self.spec.latency_sigma * rng.standard_normal(n))
        return DayBatch(
            day=day, model_version=model.version, numeric=numeric, categorical=categorical, label=label,
            labelled=labelled, score=score, prediction=model.predict(score), latency_ms=latency,
            seconds=np.sort(rng.random(n)) * 86400.0, sample_rank=rng.permutation(n), segment=segment,
        )

    def initial_state(self) -> WorldState:
        return WorldState(current=self._initial_model.to_dict())

    # ---- serving ----------------------------------------------------------------------------
    def label_outage(self, day: int) -> bool:
        """True if no labels at all reach the monitor on `day` (drawn from the seed, ~4% of days)."""
        return self._draw(day).label_outage

    def _fault_active(self, state: WorldState, day: int, cond: DayConditions) -> bool:
        repaired = state.fault_repaired_day is not None and day >= state.fault_repaired_day
        return cond.fault_active and not repaired and self._fault_col is not None

    def _label_rate(self, state: WorldState, day: int) -> float:
        boosted = any(first <= day <= last for first, last in state.monitoring_windows)
        return min(1.0, self.spec.label_rate * (MONITORING_LABEL_MULTIPLIER if boosted else 1.0))

    def _observed(self, state: WorldState, day: int) -> tuple[_DayDraw, np.ndarray, np.ndarray]:
        """The day's draw, its numeric values as the log receives them (after any fault), and which rows'
        labels arrive."""
        draw = self._draw(day)
        numeric = draw.numeric_observed
        cond = draw.conditions
        if self._fault_active(state, day, cond):
            numeric = numeric.copy()
            col = self._fault_col
            if cond.fault_kind == "missing":
                numeric[draw.fault_rows, col] = np.nan
            else:  # a sensor stuck low
                feature = self.spec.numeric[col]
                numeric[draw.fault_rows, col] = round(feature.mean - 1.5 * feature.std, 2)
        labelled = (draw.u_labelled < self._label_rate(state, day)) & (not draw.label_outage)
        return draw, numeric, labelled

    def morning(self, state: WorldState, day: int) -> tuple[WorldState, list[str]]:
        """Scenario events that happen to the serving model before the day's traffic (a bad release)."""
        if not self._draw(day).conditions.deploy_bad_release:
            return state, []
        good = state.model
        weights = np.asarray(good.weights)
        numeric = np.abs(weights[: len(self.spec.numeric)])
        swap = [int(np.argmax(numeric)), int(np.argmin(numeric))]
        weights[swap] = weights[swap[::-1]]  # a column-order bug swaps the strongest and weakest inputs
        release = LogisticModel(**{**good.to_dict(), "weights": [float(v) for v in weights],
                                   "version": f"v{state.next_version}", "kind": "release", "trained_day": day - 1})
        new = WorldState(**{**state.to_dict(), "current": release.to_dict(), "previous": state.current,
                            "next_version": state.next_version + 1, "latency_factor": BAD_RELEASE_LATENCY_FACTOR})
        return new, [f"release {release.version} deployed (replaces {good.version})"]

    def serve(self, state: WorldState, day: int) -> DayBatch:
        """The day's traffic as the serving system logs it, scored by the state's current model.

        Cached on what the serving depends on: the graph and the RL env ask for a day more than once
        (to score a decision on the next day, then to live it). Callers must not mutate the batch.
        """
        model = state.current  # keyed on the parameters, not the name: "v2" differs between worlds
        key = (day, tuple(model["weights"]), model["intercept"], model["threshold"], state.fault_repaired_day,
               state.latency_factor, tuple(map(tuple, state.monitoring_windows)))
        if key in self._served:
            self._served.move_to_end(key)
            return self._served[key]
        batch = self._serve(state, day)
        self._served[key] = batch
        if len(self._served) > self.served_cache:
            self._served.popitem(last=False)
        return batch

    def _serve(self, state: WorldState, day: int) -> DayBatch:
        draw, numeric, labelled = self._observed(state, day)
        model = state.model
        # Drawn values are never missing; only a "missing" fault, while active, blanks some.
        complete = numeric is draw.numeric_observed or draw.conditions.fault_kind != "missing"
        score = model.score(numeric, draw.categorical, complete=complete)
        latency = self.spec.latency_ms_median * state.latency_factor * np.exp(self.spec.latency_sigma * draw.latency_noise)
        return DayBatch(
            day=day, model_version=model.version, numeric=numeric, categorical=draw.categorical, label=draw.label,
            labelled=labelled, score=score, prediction=model.predict(score), latency_ms=latency, seconds=draw.seconds,
            sample_rank=draw.sample_rank, segment=draw.segment,
        )

    # ---- end of day: remediation ------------------------------------------------------------
    def action_mask(self, state: WorldState) -> np.ndarray:
        """1 where an action is possible in this state (int8, gymnasium's convention)."""
        mask = np.ones(len(Action), dtype=np.int8)
        if state.previous is None:
            mask[Action.ROLLBACK] = 0
        if state.pending_retrain_day is not None:
            mask[Action.RETRAIN_IN_3_DAYS] = 0
            mask[Action.RETRAIN_IN_7_DAYS] = 0
        return mask

    def end_of_day(self, state: WorldState, day: int, action: Action) -> tuple[WorldState, ActionEffect]:
        """Apply the day's chosen action, then any retrain that falls due tonight."""
        action = Action(action)
        effect = ActionEffect(action=action.label)
        s = WorldState.from_dict(state.to_dict())
        if not self.action_mask(state)[action]:
            raise ValueError(f"action {action.label} is not possible on day {day}")
        if action == Action.ROLLBACK:
            restored = LogisticModel.from_dict(s.previous)
            effect.events.append(f"rolled back {s.model.version} -> {restored.version}")
            s.current, s.previous, s.latency_factor = s.previous, None, 1.0
            self._charge(effect, action)
            effect.new_version = restored.version
        elif action == Action.ADJUST_THRESHOLD:
            self._charge(effect, action)
            s.current = self._recalibrated(s, day).to_dict()
            effect.events.append(f"threshold set to {s.current['threshold']:.2f}")
        elif action == Action.INCREASE_MONITORING:
            self._charge(effect, action)
            s.monitoring_windows = [w for w in s.monitoring_windows if w[1] >= day - 2 * RETRAIN_WINDOW_DAYS]
            s.monitoring_windows.append([day + 1, day + MONITORING_BOOST_DAYS])
            effect.events.append(f"labelled sample doubled for days {day + 1}-{day + MONITORING_BOOST_DAYS}")
            if self._fault_active(s, day, self._draw(day).conditions):
                s.fault_repaired_day = day + 1
                effect.events.append(f"broken {self.spec.fault_feature} feed located; repaired from day {day + 1}")
        elif action in RETRAIN_DELAY_DAYS:
            s.pending_retrain_day = day + RETRAIN_DELAY_DAYS[action]
            if action != Action.RETRAIN_NOW:
                effect.events.append(f"retrain scheduled for the end of day {s.pending_retrain_day}")
        if s.pending_retrain_day is not None and s.pending_retrain_day <= day:
            s, effect = self._retrain(s, day, effect)
        return s, effect

    def _charge(self, effect: ActionEffect, action: Action) -> None:
        cost = ACTION_COSTS[action]
        effect.cost += cost.dollars
        effect.downtime_hours += cost.downtime_hours

    def _labelled_window(self, state: WorldState, last_day: int, days: int) -> tuple | None:
        """(numeric, categorical, label, segment) of the labelled rows of the window, oldest first."""
        parts = []
        for d in range(max(0, last_day - days + 1), last_day + 1):
            draw, numeric, labelled = self._observed(state, d)
            parts.append((numeric[labelled], draw.categorical[labelled], draw.label[labelled], draw.segment[labelled]))
        if not parts or sum(len(p[2]) for p in parts) == 0:
            return None
        numeric, categorical, label, segment = (np.concatenate(cols) for cols in zip(*parts))
        return numeric, categorical, label, segment

    def _retrain(self, s: WorldState, day: int, effect: ActionEffect) -> tuple[WorldState, ActionEffect]:
        window = RETRAIN_WINDOW_DAYS
        rows = self._labelled_window(s, day, window)
        while (rows is None or len(rows[2]) < MIN_RETRAIN_ROWS) and window < 4 * RETRAIN_WINDOW_DAYS and day - window >= 0:
            window += RETRAIN_WINDOW_DAYS  # too few labels: reach further back
            rows = self._labelled_window(s, day, window)
        self._charge(effect, Action.RETRAIN_NOW)
        s.pending_retrain_day = None
        s.last_retrain_day = day
        if rows is None or len(rows[2]) < 2 or len(np.unique(rows[2])) < 2:
            effect.events.append("retrain failed: no labelled rows in the window")
            return s, effect
        numeric, categorical, label, segment = rows
        rng = self._rng(2, day + 1000)
        # The new version's reference window: the newest labelled rows (the window is in date order), the
        # traffic it was validated on, so tomorrow's drift is measured against what the model now knows.
        recent = slice(-min(REFERENCE_ROWS, len(label)), None)
        reference = numeric[recent], categorical[recent], label[recent], segment[recent]
        if len(label) > RETRAIN_MAX_ROWS:
            keep = rng.choice(len(label), RETRAIN_MAX_ROWS, replace=False)
            numeric, categorical, label, segment = numeric[keep], categorical[keep], label[keep], segment[keep]
        version = f"v{s.next_version}"
        model = fit_logistic(numeric, categorical, label, self._category_counts, version=version, trained_day=day, kind="retrain")
        effect.reference = self._score_batch(model, day, reference[0], reference[1], reference[2],
                                             np.ones(len(reference[2]), bool), reference[3], rng)
        s.previous, s.current = s.current, model.to_dict()
        s.next_version += 1
        s.latency_factor = 1.0
        effect.new_version = version
        effect.events.append(f"retrained {version} on {len(label)} labelled rows of days {day - window + 1}-{day}")
        return s, effect

    def _recalibrated(self, s: WorldState, day: int) -> LogisticModel:
        model = s.model
        rows = self._labelled_window(s, day, THRESHOLD_WINDOW_DAYS)
        if rows is None or len(rows[2]) < 50:
            return model
        numeric, categorical, label, _ = rows
        model.threshold = best_threshold(model.score(numeric, categorical), label)
        return model

    def monitoring_baseline(self) -> dict:
        """What the monitor judges each day against: the reference window's own figures and the SLA."""
        ref, spec = self.reference, self.spec
        return {
            "reference_accuracy": float(np.mean(ref.prediction == ref.label)),
            "reference_latency_p95_ms": float(np.percentile(ref.latency_ms, 95)),
            "expected_rows": self.rows_per_day,  # rows the day's log should hold
            "daily_volume": spec.daily_volume,  # predictions a day, for dollar figures
            "sla_accuracy": spec.sla_accuracy,
            "latency_p95_sla_ms": spec.latency_p95_sla_ms,
            "cost_per_error": spec.cost_per_error,
        }

    # ---- the prediction log ------------------------------------------------------------------
    def schema(self) -> ModelSchema:
        spec = self.spec
        return ModelSchema(spec.name, spec.numeric_names, spec.categorical_names, spec.group)

    def to_view(self, batch: DayBatch, sample_rows: int = SAMPLE_ROWS) -> DayView:
        """What the monitor sees of the batch: `view_from_log(day, to_log(batch, category_names=False))`,
        taken from the batch directly (the same rows in the same order, the same values), without
        building a label column with NaN for every row first. The RL environment's path."""
        sample = np.flatnonzero(batch.sample_rank < sample_rows)
        sample_label = np.where(batch.labelled[sample], batch.label[sample].astype(float), np.nan)
        # Features-major like the batch, so the drift step's per-feature sort needs no copy to make columns contiguous.
        columns = Columns(batch.numeric.T[:, sample].T, batch.categorical[sample], batch.score[sample],
                          batch.prediction[sample], sample_label, batch.latency_ms[sample])
        labelled = np.flatnonzero(batch.labelled)
        rows = LabelledRows(batch.categorical[labelled, self._group_col], batch.score[labelled],
                            batch.prediction[labelled], batch.label[labelled].astype(float))
        return DayView(batch.day, len(batch), [batch.model_version], columns, rows)

    def to_log(self, batch: DayBatch, category_names: bool = True) -> PredictionLog:
        """The batch as the serving system logs it: labels only where they arrived.

        Categories are names, as a log holds them; `category_names=False` keeps the integer codes, which
        the monitoring functions treat alike and the RL environment can afford.
        """
        if category_names:
            names = [np.array(self.spec.all_categories(c), dtype=object) for c in self.spec.categorical_names]
            categorical = np.column_stack([names[j][batch.categorical[:, j]] for j in range(len(names))])
        else:
            categorical = batch.categorical
        label = np.where(batch.labelled, batch.label.astype(float), np.nan)
        columns = Columns(batch.numeric, categorical, batch.score, batch.prediction, label, batch.latency_ms)
        return PredictionLog(batch.model_version, columns, batch.seconds, batch.sample_rank)
