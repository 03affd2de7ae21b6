"""The served model: L2-regularised logistic regression on standardised numerics and one-hot categoricals.

It is fitted for real (iteratively reweighted least squares) on rows the world drew, and it serves the
way production code does: a missing numeric is imputed with the training mean. Its parameters are
plain lists so a version can live in the checkpointed graph state.
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit


def sigmoid(x: np.ndarray) -> np.ndarray:
    return expit(x)  # overflow-free, and ~3x faster than a tanh form here


@dataclass
class LogisticModel:
    version: str
    numeric_means: list[float]
    numeric_stds: list[float]
    category_counts: list[int]  # number of one-hot columns per categorical feature
    weights: list[float]
    intercept: float
    threshold: float = 0.5
    trained_day: int = -1  # last day of the rows it was fitted on (-1: pre-launch reference data)
    kind: str = "initial"  # initial | retrain | release

    # ---- serving ------------------------------------------------------------------------------
    def design(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        means = np.asarray(self.numeric_means)
        z = (numeric - means) / np.asarray(self.numeric_stds)
        z = np.where(np.isnan(z), 0.0, z)  # serving imputes a missing value with the training mean
        blocks = [z]
        for j, count in enumerate(self.category_counts):
            blocks.append(np.eye(count)[np.clip(categorical[:, j], 0, count - 1)])
        return np.hstack(blocks)

    def score(self, numeric: np.ndarray, categorical: np.ndarray, complete: bool = False) -> np.ndarray:
        """Same as sigmoid(design @ weights + intercept), without building the one-hot matrix. `complete`:
        the caller knows no value is missing (the world's own draws), so the scan for them is skipped."""
        p = len(self.numeric_means)
        weights = np.asarray(self.weights)
        z = (numeric - np.asarray(self.numeric_means)) / np.asarray(self.numeric_stds)
        missing = None if complete else np.isnan(z)
        if missing is not None and missing.any():
            z[missing] = 0.0  # serving imputes a missing value with the training mean (z = 0)
        logit = z @ weights[:p] + self.intercept
        start = p
        for j, count in enumerate(self.category_counts):
            logit += weights[start:start + count][categorical[:, j]]
            start += count
        return sigmoid(logit)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return (scores >= self.threshold).astype(np.int8)

    # ---- state --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LogisticModel":
        return cls(**data)


def fit_logistic(
    numeric: np.ndarray,
    categorical: np.ndarray,
    labels: np.ndarray,
    category_counts: list[int],
    *,
    version: str,
    trained_day: int,
    kind: str,
    l2: float = 1.0,
    iterations: int = 12,
) -> LogisticModel:
    """Fit by IRLS (Newton's method) with an L2 penalty on the weights, not the intercept.

    Standardisation uses the training rows' own means and stds, so a retrain on shifted data also
    re-centres the inputs. Missing values are imputed as the serving path does.
    """
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feed missing for the whole window: handled below
        means = np.nanmean(numeric, axis=0)
        stds = np.nanstd(numeric, axis=0)
    stds = np.where(~np.isfinite(stds) | (stds < 1e-9), 1.0, stds)
    means = np.where(np.isfinite(means), means, 0.0)
    model = LogisticModel(
        version=version,
        numeric_means=[float(v) for v in means],
        numeric_stds=[float(v) for v in stds],
        category_counts=list(category_counts),
        weights=[],
        intercept=0.0,
        trained_day=trained_day,
        kind=kind,
    )
    x = model.design(numeric, categorical)
    x = np.hstack([x, np.ones((len(x), 1))])
    y = labels.astype(float)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    beta = np.zeros(x.shape[1])
    prior = np.clip(y.mean(), 1e-4, 1 - 1e-4)
    beta[-1] = np.log(prior / (1 - prior))
    for _ in range(iterations):
        p = sigmoid(x @ beta)
        w = np.maximum(p * (1 - p), 1e-6)
        gradient = x.T @ (y - p) - penalty * beta
        hessian = (x * w[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-6:
            break
    model.weights = [float(v) for v in beta[:-1]]
    model.intercept = float(beta[-1])
    return model


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The decision threshold that maximises accuracy on labelled rows (grid of 0.01)."""
    grid = np.arange(0.02, 0.99, 0.01)
    correct = [(np.mean((scores >= t) == labels.astype(bool))) for t in grid]
    return float(round(grid[int(np.argmax(correct))], 2))
