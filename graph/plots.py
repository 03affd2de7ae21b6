"""The run's four-panel figure: accuracy vs the no-action counterfactual, drift, reward per day, actions."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

from stores.safefs import atomic_file  # noqa: E402

SEVERITY_COLOURS = {"low": "#4caf50", "medium": "#ffb300", "high": "#fb8c00", "critical": "#e53935"}


def plot_run(report: dict, path: Path) -> None:
    if report.get("source") == "log":
        plot_log_run(report, path)
        return
    days = report["days"]
    x = [d["day"] for d in days]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    fig.suptitle(f"{report['model']} - scenario {report['scenario']} - seed {report['seed']} - policy {report['policy']}")

    ax = axes[0][0]
    ax.plot(x, [d["true_accuracy"] for d in days], label="accuracy (all rows)", color="#1e88e5", lw=2)
    ax.plot(x, [d["counterfactual_accuracy"] for d in days], label="no-action counterfactual", color="#757575", ls="--")
    measured = [(d["day"], d["accuracy"]) for d in days if d["accuracy"] is not None and not d["accuracy_estimated"]]
    if measured:
        ax.scatter(*zip(*measured), s=12, color="#0d47a1", label="measured (labelled rows)", zorder=3)
    ax.axhline(report["summary"]["sla_accuracy"], color="#e53935", lw=0.8, ls=":", label="SLA")
    for d in days:
        if d["action"] not in (None, "continue"):
            ax.axvline(d["day"], color="#8e24aa", alpha=0.5, lw=1, ls=":")
        if any(e.startswith(("retrained", "rolled back", "threshold set")) for e in d["events"]):
            ax.axvline(d["day"] + 0.5, color="#8e24aa", alpha=0.6, lw=1.5)
    ax.set_title("Accuracy (purple: dotted = decided, solid = took effect that night)")
    ax.set_xlabel("day")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    ax.bar(x, [d["drift_score"] or 0 for d in days], color=[SEVERITY_COLOURS.get(d["drift_severity"], "#9e9e9e") for d in days])
    ax.set_ylim(0, 1)
    ax.set_title("Drift score (colour: severity)")
    ax.set_xlabel("day")

    ax = axes[1][0]
    rewards = [d["reward"] or 0 for d in days]
    ax.bar(x, rewards, color=["#43a047" if r >= 0 else "#e53935" for r in rewards])
    ax.set_title(f"Reward per day (total {report['summary']['total_reward']:.1f})")
    ax.set_xlabel("day")

    ax = axes[1][1]
    counts = Counter(d["action"] for d in days)
    names = sorted(counts, key=lambda a: -counts[a])
    ax.barh(names, [counts[n] for n in names], color="#5e35b1")
    ax.set_title("Actions taken")
    fig.tight_layout()
    with atomic_file(path) as handle:
        fig.savefig(handle, dpi=110, format="png")
    plt.close(fig)


def plot_log_run(report: dict, path: Path) -> None:
    """A log run's figure: a simulated run's minus the counterfactual (measured and estimated accuracy,
    drift, alerts, recommendations)."""
    days = report["days"]
    x = [d["day"] for d in days]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    fig.suptitle(f"{report['model']} - log monitoring, one point per {report['summary']['period']} - policy {report['policy']} "
                 "(recommendations only)")
    ax = axes[0][0]
    for estimated, style in ((False, {"color": "#0d47a1", "label": "accuracy (labelled rows)"}),
                             (True, {"color": "#ffb300", "label": "estimated from scores (no labels)"})):
        points = [(d["day"], d["accuracy"]) for d in days if d["accuracy"] is not None and d["accuracy_estimated"] == estimated]
        if points:
            ax.plot(*zip(*points), "o-" if not estimated else "o", ms=4, **style)
    reference = report["summary"]["reference"]["accuracy"]
    if reference is not None:
        ax.axhline(reference, color="#757575", lw=0.8, ls="--", label="reference period")
    for d in days:
        if d["recommendation"] not in (None, "continue"):
            ax.axvline(d["day"], color="#8e24aa", alpha=0.5, lw=1, ls=":")
    ax.set_title("Accuracy (purple: a remediation was recommended)")
    ax.set_xlabel("period")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    ax.bar(x, [d["drift_score"] or 0 for d in days], color=[SEVERITY_COLOURS.get(d["drift_severity"], "#9e9e9e") for d in days])
    ax.set_ylim(0, 1)
    ax.set_title("Drift score (colour: severity)")
    ax.set_xlabel("period")

    ax = axes[1][0]
    opened = Counter(a["type"] for d in days for a in d["alerts"] if a["event"] == "opened")
    names = sorted(opened, key=lambda a: -opened[a]) or ["(none)"]
    ax.barh(names, [opened.get(n, 0) for n in names], color="#e53935")
    ax.set_title("Alerts opened, by type")

    ax = axes[1][1]
    counts = Counter(d["recommendation"] for d in days)
    names = sorted(counts, key=lambda a: -counts[a])
    ax.barh(names, [counts[n] for n in names], color="#5e35b1")
    ax.set_title("Recommendations")
    fig.tight_layout()
    with atomic_file(path) as handle:
        fig.savefig(handle, dpi=110, format="png")
    plt.close(fig)
