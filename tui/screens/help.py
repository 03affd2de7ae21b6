"""The `?` screen: every key, what it does, and where it works."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# (key, what it does, where): also the README's keys table.
KEYS = [
    ("?", "this help", "everywhere"),
    ("n", "new run: a form with the run options", "everywhere"),
    ("r", "runs in the output folder", "run screen"),
    ("space", "pause / resume the run (between days)", "live run"),
    ("s", "step: run one day, then pause", "live run"),
    ("+ / -", "faster / slower (a pause after each day)", "live run"),
    ("m, 1-9", "switch model (next / by number)", "--model all"),
    ("← / →", "time travel: previous / next day, from the checkpoints", "run screen"),
    ("end", "back to the newest day", "run screen"),
    ("f", "fork: act otherwise on the day shown, into a new run (not a log run)", "a past day"),
    ("c", "fork view: the fork beside its parent", "a fork"),
    ("enter", "open or resume the run under the cursor", "runs screen"),
    ("q", "quit (a live run stops between steps, resumable)", "everywhere"),
]

STATES = [
    ("○", "grey42", "idle"), ("◉", "bold yellow", "running"), ("●", "green", "done"),
    ("✖", "bold red", "raised: fell back"), ("●", "bold dark_orange", "fallback ran"),
    ("╌", "bold cyan", "branch taken (no labels)"), ("┄", "bold red", "fallback edge taken"),
]


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("where", style="grey62")
        for key, does, where in KEYS:
            table.add_row(key, does, where)
        legend = Text("graph: ")
        for glyph, style, meaning in STATES:
            legend.append(glyph, style=style)
            legend.append(f" {meaning}  ")
        with VerticalScroll(id="help"):
            yield Static(Text("mlmon-tui keys", style="bold"), id="help-title")
            yield Static(table)
            yield Static(legend, id="help-legend")
            yield Static(Text("escape closes", style="grey50"))
