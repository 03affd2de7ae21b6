"""mlmon-tui [graph.run's run options]: no options opens the runs screen; run options start or resume that run.

The options are graph.run's own (its parser and resolve_config), so a run started here and one started
by `python -m graph.run` with the same id and folder are the same run: `--log FILE ...` starts or
extends a run over a user's log the same way. `--paused` (TUI only) starts the run held before its
first day ends, for a look before it goes on.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import sys

from graph.run import build_parser, parse_args, resolve_config
from graph.runner import RunError
from stores import StoreError

NOT_RUN_OPTIONS = {"-h", "--help", "--output-dir", "--quiet", "--debug"}  # the folder to look at, and the CLI's output
TUI_HELP = """usage: mlmon-tui [--paused] [graph.run's options]

mlmon-tui with no options opens the runs screen on --output-dir (default simulation_results/);
with run options (a simulation's, or --log FILE and its mapping) it starts or resumes that run at once.
--paused holds the run at its first day's end. Keys: ? in the app.

"""


def run_options() -> set[str]:
    """The options of graph.run that name a run to start (every one but the folder and the CLI's output)."""
    return {o for action in build_parser()._actions for o in action.option_strings} - NOT_RUN_OPTIONS


def prepare(argv: list[str]) -> tuple[argparse.Namespace, object | None, str | None, bool]:
    """(arguments, the run to start or None, its one-line error or None, --paused) from the command line."""
    paused = "--paused" in argv
    argv = [a for a in argv if a != "--paused"]
    args = parse_args(argv)  # a malformed option ends here with graph.run's one-line error and exit code 2
    starts_run = any(a.split("=")[0] in run_options() for a in argv)
    config, error = None, None
    if starts_run:
        try:
            config = resolve_config(args)
        except (ValueError, RunError, StoreError) as exc:
            error = f"error: {exc}"
    return args, config, error, paused


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parse_args(["--help"])
        print(TUI_HELP + out.getvalue().replace("python -m graph.run", "mlmon-tui"))
        return 0
    args, config, error, paused = prepare(argv)

    from tui.app import MlmonApp  # Textual is imported only once the arguments are known good

    app = MlmonApp(args.output_dir, config=config, start_error=error, paused=paused)
    # The app's imports (LangGraph, pandas, Textual...) leave a quarter of a million objects that live as long as
    # the process; Textual's repaints make cyclic garbage all the time, and each full collection would walk all
    # of them again (a pause of 0.3-0.6 s on this project's machine, while a key waits). Frozen, they are skipped.
    gc.collect()
    gc.freeze()
    app.run()
    if app.child_log.exists():  # the runs' processes said something (a warning, a traceback): say where
        print(f"mlmon-tui: the run process's messages are in {app.child_log}", file=sys.stderr)
    return 0
