"""With several models in a run: one line with each model's status at a glance; the one on screen highlighted."""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.live import RunView

STATUS_GLYPH = {"waiting": ("○", "grey50"), "running": ("◉", "bold yellow"), "paused": ("‖", "bold yellow"),
                "finished": ("●", "green"), "interrupted": ("◌", "yellow"), "failed": ("✖", "bold red"),
                "following": ("◉", "blue"), "browsing": ("●", "magenta")}


class ModelSwitcher(Widget):
    DEFAULT_CSS = "ModelSwitcher { height: 1; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.view: RunView | None = None

    def show(self, view: RunView | None) -> None:
        self.view = view
        self.display = view is not None and len(view.models) > 1
        self.refresh()

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.view is None:
            return text
        compact = self.size.width < 100
        for i, (name, model) in enumerate(self.view.models.items(), 1):
            glyph, style = STATUS_GLYPH.get(model.status, ("?", ""))
            label = name.split("_")[0] if compact else name
            on_screen = name == self.view.current
            text.append(f" {i} ", style="reverse bold" if on_screen else "grey62")
            text.append(f" {glyph} ", style=style)
            text.append(label, style="bold underline" if on_screen else "")
            text.append(f" {model.days_done}/{model.days} {model.status}  ", style="grey62")
        return text
