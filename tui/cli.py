"""mlmon-tui [graph.run's run options]: no options opens the runs screen; run options start or resume that run.

The options are graph.run's own (its parser and resolve_config), so a run started here and one started
by `python -m graph.run` with the same id and folder are the same run. `--paused` (TUI only) starts the
run held before its first day ends, for a look before it goes on.
"""
from __future__ import annotations

import contextlib
import io
import sys

from graph.run import parse_args, resolve_config
from graph.runner import RunError
from stores import StoreError

RUN_OPTIONS = ("--model", "--scenario", "--days", "--seed", "--policy", "--onset", "--severity", "--run-id", "--resume")
TUI_HELP = """usage: mlmon-tui [--paused] [graph.run's options]

mlmon-tui with no options opens the runs screen on --output-dir (default simulation_results/);
with run options it starts or resumes that run at once. --paused holds the run at its first day's end.
Keys: ? in the app.

"""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parse_args(["--help"])
        print(TUI_HELP + out.getvalue().replace("python -m graph.run", "mlmon-tui"))
        return 0
    paused = "--paused" in argv
    argv = [a for a in argv if a != "--paused"]
    args = parse_args(argv)  # a malformed option ends here with graph.run's one-line error and exit code 2

    from tui.app import MlmonApp  # Textual is imported only once the arguments are known good

    starts_run = any(a.split("=")[0] in RUN_OPTIONS for a in argv)
    config, error = None, None
    if starts_run:
        try:
            config = resolve_config(args)
        except (ValueError, RunError, StoreError) as exc:
            error = f"error: {exc}"
    app = MlmonApp(args.output_dir, config=config, start_error=error, paused=paused)
    app.run()
    return 0
