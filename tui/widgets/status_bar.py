"""The top line: which run, which model and day, and what the run is doing (running, paused, browsing...)."""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.live import RunView

MODE_STYLE = {"running": "bold green", "paused": "bold yellow", "finished": "bold cyan", "interrupted": "bold yellow",
              "failed": "bold red", "following": "bold blue", "browsing": "bold magenta", "waiting": "grey62"}


class StatusBar(Widget):
    DEFAULT_CSS = "StatusBar { height: 1; background: $panel; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.view: RunView | None = None
        self.mode = ""
        self.detail = ""
        self.day: int | None = None  # the day on screen (a past one while browsing)

    def show(self, view: RunView | None, mode: str, detail: str = "", day: int | None = None) -> None:
        self.view, self.mode, self.detail, self.day = view, mode, detail, day
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        view = self.view
        text.append(" mlmon ", style="bold reverse")
        if view is None:
            return text
        s, model = view.settings, view.model
        wide = self.size.width >= 120
        text.append(f" {self.mode.upper()} ", style=MODE_STYLE.get(self.mode, "bold") + " reverse")
        day = "-" if self.day is None else self.day
        text.append(f" {model.unit} {day} ", style="bold")
        if view.kind == "log":  # a period is known by its date; a log has as many periods as it has grown to
            if self.day is not None:
                text.append(f"{model.date_of(self.day)} ", style="bold")
            text.append(f"({model.days_done}/{model.days} periods) " if view.mode == "live" and model.days > model.days_done
                        else f"({model.days_done} periods) ", style="grey62")
        else:
            text.append(f"({model.days_done}/{model.days} done) ", style="grey62")
        text.append(f"{view.run_id} ", style="bold cyan")
        text.append(model.model if wide else model.model.split("_")[0])
        if wide:
            seed = "" if view.kind == "log" else f" · seed {s['seed']}"
            text.append(f" · {view.source_label}{seed} · {s['policy']}")
        if view.forked_from:
            f = view.forked_from
            text.append(f" · fork of {f['run_id']} d{f['day']}" if wide else " · fork", style="magenta")
        if self.detail:
            text.append(f"  {self.detail}", style="grey70")
        return text
