"""Charts over the run's days: accuracy against the no-action counterfactual, drift score, reward.

For a fork, the parent's accuracy and cumulative cost are drawn beside the fork's; for a log run, its
measured (or estimated) accuracy and drift by period. The charts share the panel's height (accuracy
gets the most), so they stay legible at 80x24 and grow at 200x60.
"""
from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from tui.live import RunView
from tui.widgets.chart import Series, render_chart


def _by_day(summaries: dict[int, dict], key: str, days: int) -> list[float | None]:
    return [summaries.get(d, {}).get(key) for d in range(days)]


def cumulative_cost(summaries: dict[int, dict], days: int, volume: int, cost_per_error: float) -> list[float | None]:
    """Action cost plus the cost of wrong predictions, summed day by day (the report's total_cost, as it grows)."""
    total, out = 0.0, []
    for d in range(days):
        s = summaries.get(d)
        if s is None:
            out.append(None)
            continue
        errors = (1 - s["true_accuracy"]) * volume * cost_per_error if s.get("true_accuracy") is not None else 0.0
        total += (s.get("cost") or 0.0) + errors
        out.append(total)
    return out


class Charts(Widget):
    """Renders from the app's RunView on every refresh."""

    DEFAULT_CSS = "Charts { height: 1fr; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.view: RunView | None = None
        self.marker_day: int | None = None

    def show(self, view: RunView | None, marker_day: int | None = None) -> None:
        self.view, self.marker_day = view, marker_day
        self.refresh()

    def render(self):
        view = self.view
        if view is None:
            return Text("no run", style="dim")
        model = view.model
        days, summaries = model.days, model.summaries
        width, height = self.size.width, self.size.height
        if model.kind == "log":  # measured (or estimated) on the log: there is no true accuracy, no counterfactual
            accuracy = [Series("acc", _by_day(summaries, "accuracy", days), "green")]
        else:
            accuracy = [Series("acc", _by_day(summaries, "true_accuracy", days), "green"),
                        Series("no action", _by_day(summaries, "counterfactual_accuracy", days), "grey50")]
        if view.forked_from and view.parent_summaries:
            accuracy.append(Series("parent", _by_day(view.parent_summaries, "true_accuracy", days), "magenta"))
        charts = [("accuracy", accuracy, 0.5, None, None, 0.05)]
        if view.forked_from and view.parent_summaries:
            from simulator.catalog import get_model

            spec = get_model(model.model)
            charts.append(("cost $", [Series("fork", cumulative_cost(summaries, days, spec.daily_volume, spec.cost_per_error), "cyan"),
                                      Series("parent", cumulative_cost(view.parent_summaries, days, spec.daily_volume,
                                                                       spec.cost_per_error), "magenta")], 0.25, 0.0, None, 1000.0))
        else:
            charts.append(("drift", [Series("score", _by_day(summaries, "drift_score", days), "yellow")], 0.25, 0.0, None, 0.1))
        if model.kind != "log":  # a recommendation earns no reward
            charts.append(("reward", [Series("reward", _by_day(summaries, "reward", days), "cyan")], 0.25, None, None, 10.0))
        # Each chart needs a legend line and at least one plot line; small panels drop the last charts.
        while len(charts) > 1 and height < 3 * len(charts):
            charts.pop()
        shares = [c[2] for c in charts]
        heights = [max(2, int(height * s / sum(shares))) for s in shares]
        heights[0] += height - sum(heights)
        parts = [render_chart(title, series, days, width, h, floor=floor, ceiling=ceiling, marker_day=self.marker_day,
                              min_span=span)
                 for (title, series, _, floor, ceiling, span), h in zip(charts, heights)]
        return Group(*parts)
