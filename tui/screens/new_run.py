"""The new-run form: graph.run's options, checked as you type and again by graph.run's own resolve_config.

The fields are made from graph.run's parser (graph.run.build_parser): a choice is a select, a flag a
checkbox, anything else a text field read by the option's own type, so an option added to
`python -m graph.run` (say `--use-llm`) appears here with no change to the TUI. A bad value shows its
message beside its field (the CLI's wording) and the run does not start; the form is only ever left
with a RunConfig that `python -m graph.run` would accept as well.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from graph.run import DEFAULTS, LOG_OPTIONS, build_parser, resolve_config
from graph.runner import RunError
from stores import StoreError

# Options of graph.run that are not a new simulated run's settings: resuming, overwriting, the CLI's own
# output, and the log runs' group (a log run starts from the command line: mlmon-tui --log FILE ...).
NOT_IN_FORM = {"help", "force", "resume", "quiet", "debug", "log", *LOG_OPTIONS}
# Labels for options whose names do not fit the form's label column (12 characters, tui/styles/app.tcss).
SHORT_LABELS = {"notify_webhook": "webhooks", "notify_timeout": "hook timeout"}
# Words in graph.run's messages that name a field without its option string.
MESSAGE_FIELDS = {"output dir": "output_dir", "rl_policy": "policy", "policy": "policy", "scenario": "scenario",
                  "model": "model"}


@dataclass
class FormField:
    """One option of graph.run's parser, as the form shows and reads it."""

    action: argparse.Action

    @property
    def name(self) -> str:
        return self.action.dest

    @property
    def option(self) -> str:
        return self.action.option_strings[-1]

    @property
    def kind(self) -> str:
        if self.action.choices:
            return "choice"
        return "flag" if self.action.nargs == 0 else "text"

    @property
    def optional(self) -> bool:
        """Left empty, graph.run decides (a default, or the stored setting of a run being resumed)."""
        return DEFAULTS.get(self.name) is None

    def initial(self, output_dir: Path):
        if self.name == "output_dir":
            return str(output_dir)
        if self.kind == "flag":
            return bool(self.action.default)
        value = DEFAULTS.get(self.name, self.action.default)
        return value if self.kind == "choice" else ("" if value is None else str(value))

    @property
    def label(self) -> str:
        """The field's name on screen: the option's, unless it would not fit the label column."""
        return SHORT_LABELS.get(self.name, self.name.replace("_", " "))

    @property
    def repeatable(self) -> bool:
        """An option given once per value (--notify-webhook URL ...): the field takes values separated by spaces."""
        return isinstance(self.action, argparse._AppendAction)

    def parse(self, raw: str):
        """The value of a text field as graph.run's parser reads it, or ValueError with argparse's wording."""
        raw = raw.strip()
        if raw == "" and self.optional:
            return None
        if self.repeatable:
            return [self._parse_one(part) for part in raw.split()]
        return self._parse_one(raw)

    def _parse_one(self, raw: str):
        convert = self.action.type or str
        try:
            return convert(raw)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(f"{self.option} {exc}") from None
        except (TypeError, ValueError):
            raise ValueError(f"invalid {getattr(convert, '__name__', repr(convert))} value: {raw!r}") from None


def form_fields() -> list[FormField]:
    """graph.run's run options, in the parser's order."""
    return [FormField(a) for a in build_parser()._actions if a.dest not in NOT_IN_FORM and a.option_strings]


def field_for(message: str, fields: list[FormField]) -> str | None:
    """Which field a graph.run error message is about (it names the option)."""
    for f in fields:
        if any(option in message for option in f.action.option_strings):
            return f.name
    for needle, name in MESSAGE_FIELDS.items():
        if needle in message:
            return name
    return None


class NewRunScreen(ModalScreen):
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel"), Binding("ctrl+s", "start", "start")]

    def __init__(self, output_dir: Path, **kwargs):
        super().__init__(**kwargs)
        self.output_dir = Path(output_dir)
        self.fields = {f.name: f for f in form_fields()}

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(Text("new run", style="bold"), id="form-title")
            for f in self.fields.values():
                with Horizontal(classes="field"):
                    yield Label(f.label, classes="field-name")
                    value = f.initial(self.output_dir)
                    if f.kind == "choice":
                        yield Select([(str(o), o) for o in f.action.choices], value=value, allow_blank=False,
                                     compact=True, id=f.name)
                    elif f.kind == "flag":
                        yield Checkbox("", value=value, compact=True, id=f.name)
                    else:
                        yield Input(value, compact=True, id=f.name, placeholder="default" if f.optional else "")
                    yield Static("", id=f"{f.name}-error", classes="field-error")
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("start (ctrl+s)", variant="primary", id="start", compact=True)
                yield Button("cancel (esc)", id="cancel", compact=True)

    def _error(self, name: str, message: str) -> None:
        target = self.query_one(f"#{name}-error" if name else "#form-error", Static)
        target.update(Text(message, style="bold red") if message else "")

    def on_input_changed(self, event: Input.Changed) -> None:
        try:
            self.fields[event.input.id].parse(event.value)
            self._error(event.input.id, "")
        except ValueError as exc:
            self._error(event.input.id, str(exc))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.dismiss(None)

    def values(self) -> dict | None:
        """Every field's value as graph.run's parser would give it; None (and the messages shown) if one is bad."""
        values, bad = {}, False
        for name, f in self.fields.items():
            widget = self.query_one(f"#{name}")
            if f.kind == "text":
                try:
                    values[name] = f.parse(widget.value)
                except ValueError as exc:
                    self._error(name, str(exc))
                    bad = True
            else:
                values[name] = widget.value
        return None if bad else values

    def action_start(self) -> None:
        for name in [*self.fields, ""]:
            self._error(name, "")
        values = self.values()
        if values is None:
            return
        try:
            config = resolve_config(argparse.Namespace(**values))  # graph.run's own checks: its rules and messages
        except (ValueError, RunError, StoreError) as exc:
            self._error(field_for(str(exc), list(self.fields.values())) or "", str(exc))
            return
        self.dismiss(config)
