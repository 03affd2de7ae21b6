"""The decision log: day, action, the policy's probability for each of the seven actions, justification.

Probabilities are a bar per action in action order (R now, R in 3 days, R in 7 days, rollback,
threshold, monitoring, continue), `×` for an action that was impossible that day; wide panels print
them as numbers. The newest days are shown, or the days around the one being browsed.
"""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from decision.actions import Action
from tui.live import RunView

BARS = " ▁▂▃▄▅▆▇█"
SHORT = {"retrain_now": "now", "retrain_in_3_days": "3d", "retrain_in_7_days": "7d", "rollback": "rollback",
         "adjust_threshold": "threshold", "increase_monitoring": "monitor", "continue": "continue"}
PROB_KEYS = "N37RTMC"  # one letter per action, the column heading of the bars


def bars(probabilities: list[float] | None, mask: list[int] | None) -> Text:
    text = Text()
    for i in range(len(Action)):
        if mask is not None and not mask[i]:
            text.append("×", style="grey35")
            continue
        p = (probabilities or [0.0] * len(Action))[i]
        text.append(BARS[min(8, round(p * 8))] if p > 0 else "·", style="magenta" if p >= 0.5 else "orchid")
    return text


def numbers(probabilities: list[float] | None, mask: list[int] | None) -> Text:
    text = Text()
    for i, action in enumerate(Action):
        label = SHORT[action.label][:3]
        if mask is not None and not mask[i]:
            text.append(f"{label} ---  ", style="grey35")
        else:
            p = (probabilities or [0.0] * len(Action))[i]
            text.append(f"{label} {p:4.0%} ", style="magenta" if p >= 0.5 else "")
    return text


class DecisionLog(Widget):
    DEFAULT_CSS = "DecisionLog { height: 1fr; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.view: RunView | None = None
        self.selected: int | None = None

    def show(self, view: RunView | None, selected: int | None = None) -> None:
        self.view, self.selected = view, selected
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.view is None:
            return text
        model = self.view.model
        summaries = model.summaries
        wide = self.size.width >= 110
        dated = model.kind == "log"  # a log's periods are known by their dates: MM-DD, the whole date when wide
        heading = ("date".ljust(11 if wide else 6) if dated else "day ") + "action     "
        text.append(heading + ("probabilities" + " " * 50 if wide else PROB_KEYS) + "  why", style="grey62")
        rows = max(1, self.size.height - 1)
        days = sorted(summaries)
        if self.selected is not None and self.selected in summaries:
            at = days.index(self.selected)
            start = max(0, min(at - rows // 2, len(days) - rows))
        else:
            start = max(0, len(days) - rows)
        for day in days[start:start + rows]:
            s = summaries[day]
            text.append("\n")
            style = "reverse" if day == self.selected else ""
            if dated:
                date = model.date_of(day)
                date = date if wide or len(date) != 10 else date[5:]
                text.append(f"{date:>{10 if wide else 5}} ", style=style)
            else:
                text.append(f"{day:3d} ", style=style)
            action = s.get("action") or "?"
            text.append(f"{SHORT.get(action, action)[:10]:10s} ", style="bold magenta" if action != "continue" else "")
            text.append_text(numbers(s.get("probabilities"), s.get("mask")) if wide else bars(s.get("probabilities"), s.get("mask")))
            why = (s.get("justification") or "").split(" [")[0]
            text.append(f"  {why}", style="grey70")
        return text
