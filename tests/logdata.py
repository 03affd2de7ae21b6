"""Prediction logs with known answers, as a serving system would write them, for the log-run tests.

The model is calibrated by construction: its score is the true probability of the positive class, and
labels are drawn from it. Changes are injected from a given day: a covariate shift of one feature
(`shift_from`), or a shift that moves traffic towards the decision boundary, so that accuracy falls
and a calibrated estimate can see it without labels (`harder_from`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-03-01", tz="UTC")


def make_log(days: int = 12, rows_per_day: int = 2000, *, seed: int = 0, shift_from: int | None = None,
             harder_from: int | None = None, labels_from_day: int | None = None, label_share: float = 1.0,
             missing_plan_share: float = 0.0) -> pd.DataFrame:
    """A log of `days` days from 2026-03-01 (UTC), rows in time order.

    - `shift_from`: from that day, feature `income` moves up by 1.5 standard deviations (drift that
      a monitor must flag on that day and not before);
    - `harder_from`: from that day, `age_z` and `income` move towards the decision boundary, so the
      model is less sure and less often right (accuracy falls, the score distribution shows it);
    - `labels_from_day`: no labels arrive for days from this one on (withheld: "not yet arrived");
    - `label_share`: the share of the other rows whose label arrived;
    - `missing_plan_share`: the share of rows whose categorical `plan` is missing.
    """
    rng = np.random.default_rng(seed)
    n = days * rows_per_day
    day = np.repeat(np.arange(days), rows_per_day)
    seconds = np.sort(rng.uniform(0, 86400, size=(days, rows_per_day)), axis=1).ravel()
    income = rng.normal(0, 1, n)
    age_z = rng.normal(0, 1, n)
    if shift_from is not None:
        income = income + np.where(day >= shift_from, 1.5, 0.0)
    if harder_from is not None:
        hard = day >= harder_from
        income = np.where(hard, income * 0.25, income)
        age_z = np.where(hard, age_z * 0.25, age_z)
    plan = rng.choice(np.array(["basic", "plus", "pro"], dtype=object), n, p=[0.5, 0.3, 0.2])
    if missing_plan_share:
        plan = np.where(rng.uniform(size=n) < missing_plan_share, None, plan)
    region = rng.choice(np.array(["north", "south"], dtype=object), n)
    store_id = rng.integers(0, 6, n)  # an integer code with few values: a categorical
    is_mobile = rng.uniform(size=n) < 0.4  # a boolean
    logit = 2.2 * income - 1.6 * age_z + 0.5 * (plan == "pro") + 0.1 * (store_id == 3)
    p = 1 / (1 + np.exp(-logit))
    label = (rng.uniform(size=n) < p).astype(float)
    arrived = rng.uniform(size=n) < label_share
    if labels_from_day is not None:
        arrived &= day < labels_from_day
    return pd.DataFrame({
        "ts": START + pd.to_timedelta(day * 86400 + seconds, unit="s"),
        "income": np.round(income, 5), "age_z": np.round(age_z, 5), "plan": plan, "region": region,
        "store_id": store_id, "is_mobile": is_mobile, "constant_feed": 1.0,
        "proba": np.round(p, 6), "predicted": (p >= 0.5).astype(int),
        "label": pd.array(np.where(arrived, label, np.nan), dtype="Int64"),
    })


MAPPING = {"timestamp_col": "ts", "score_col": "proba", "prediction_col": "predicted", "label_col": "label",
           "group_col": "region", "period": "day", "reference_until": "2026-03-03"}
CLI_MAPPING = ["--timestamp-col", "ts", "--score-col", "proba", "--prediction-col", "predicted", "--label-col", "label",
               "--group-col", "region", "--period", "day", "--reference-until", "2026-03-03"]
