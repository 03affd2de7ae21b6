"""The new-run form: graph.run's options, checked as you type and again by graph.run's own resolve_config.

A bad value shows its message beside its field (the CLI's wording) and the run does not start; the
form is only ever left with a RunConfig that `python -m graph.run` would accept as well.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from graph.run import DEFAULTS, resolve_config
from graph.runner import RunError
from rl.policies import POLICY_NAMES
from simulator.catalog import MODELS
from simulator.scenarios import SCENARIOS
from stores import StoreError

TEXT_FIELDS = [("days", "int"), ("seed", "int"), ("onset", "int?"), ("severity", "float?"), ("output_dir", "path"),
               ("run_id", "str?")]
CHOICES = {"model": [*MODELS, "all"], "scenario": list(SCENARIOS), "policy": list(POLICY_NAMES)}
FIELD_OF_OPTION = {"--days": "days", "--seed": "seed", "--onset": "onset", "--severity": "severity",
                   "--run-id": "run_id", "--output-dir": "output_dir", "output dir": "output_dir", "policy": "policy",
                   "rl_policy": "policy", "scenario": "scenario", "model": "model"}


def parse_field(kind: str, raw: str):
    """The value of a text field, or ValueError with argparse's wording."""
    raw = raw.strip()
    if kind.endswith("?") and raw == "":
        return None
    base = kind.rstrip("?")
    if base == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"invalid int value: {raw!r}") from None
    if base == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"invalid float value: {raw!r}") from None
    if base == "path":
        if not raw:
            raise ValueError("an output folder is needed")
        return Path(raw)
    return raw


def field_for(message: str) -> str | None:
    """Which field a graph.run error message is about (it names the option)."""
    for needle, name in FIELD_OF_OPTION.items():
        if needle in message:
            return name
    return None


class NewRunScreen(ModalScreen):
    BINDINGS = [Binding("escape", "dismiss(None)", "cancel"), Binding("ctrl+s", "start", "start")]

    def __init__(self, output_dir: Path, **kwargs):
        super().__init__(**kwargs)
        self.output_dir = Path(output_dir)

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(Text("new run", style="bold"), id="form-title")
            for name, options in CHOICES.items():
                default = DEFAULTS[name]
                with Horizontal(classes="field"):
                    yield Label(name.replace("_", " "), classes="field-name")
                    yield Select([(o, o) for o in options], value=default, allow_blank=False, compact=True, id=name)
                    yield Static("", id=f"{name}-error", classes="field-error")
            values = {**DEFAULTS, "output_dir": str(self.output_dir), "run_id": ""}
            for name, kind in TEXT_FIELDS:
                with Horizontal(classes="field"):
                    yield Label(name.replace("_", " "), classes="field-name")
                    value = values.get(name)
                    yield Input("" if value is None else str(value), compact=True, id=name,
                                placeholder="default" if kind.endswith("?") else "")
                    yield Static("", id=f"{name}-error", classes="field-error")
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("start (ctrl+s)", variant="primary", id="start", compact=True)
                yield Button("cancel (esc)", id="cancel", compact=True)

    def _error(self, name: str, message: str) -> None:
        target = self.query_one(f"#{name}-error" if name else "#form-error", Static)
        target.update(Text(message, style="bold red") if message else "")

    def on_input_changed(self, event: Input.Changed) -> None:
        kind = dict(TEXT_FIELDS)[event.input.id]
        try:
            parse_field(kind, event.value)
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

    def action_start(self) -> None:
        for name in [*CHOICES, *dict(TEXT_FIELDS), ""]:
            self._error(name, "")
        values, bad = {}, False
        for name in CHOICES:
            values[name] = self.query_one(f"#{name}", Select).value
        for name, kind in TEXT_FIELDS:
            try:
                values[name] = parse_field(kind, self.query_one(f"#{name}", Input).value)
            except ValueError as exc:
                self._error(name, str(exc))
                bad = True
        if bad:
            return
        args = argparse.Namespace(**values, resume=False)
        try:
            config = resolve_config(args)  # graph.run's own checks: the same rules and messages as the CLI
        except (ValueError, RunError, StoreError) as exc:
            self._error(field_for(str(exc)) or "", str(exc))
            return
        self.dismiss(config)
