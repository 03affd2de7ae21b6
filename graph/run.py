"""python -m graph.run: monitor simulated models day by day, headless, resumable after a crash.

Each day the world serves a day of predictions into the stores, and mlmon's daily cycle measures
performance, drift and quality, raises and resolves alerts, and picks a remediation. Every step is
checkpointed, so a killed run resumes where it stopped without losing or repeating a day.

examples:
  python -m graph.run                                    pneumonia, default scenario, 30 days, seed 0
  python -m graph.run --model all --scenario sudden_shift --days 40
  python -m graph.run --run-id nightly --output-dir out  after a crash, the same command resumes the run
  python -m graph.run --resume --output-dir out          resume the newest unfinished run in out/
  python -m graph.run --use-llm --notify-webhook URL     narratives by an LLM; incidents posted to a webhook
"""
from __future__ import annotations

import os
import signal
import sys

EXIT_SIGINT, EXIT_SIGTERM, EXIT_SIGPIPE = 130, 143, 141


def _interrupted_at_start_up(signum, frame):
    """Ctrl-C or SIGTERM while the libraries load: nothing has been written yet, so just say so and go."""
    os.write(2, f"error: interrupted by {signal.Signals(signum).name} during start-up; no run was started\n".encode())
    os._exit(EXIT_SIGINT if signum == signal.SIGINT else EXIT_SIGTERM)


if __name__ == "__main__":  # before the heavy imports below, which take a second or two
    signal.signal(signal.SIGINT, _interrupted_at_start_up)
    signal.signal(signal.SIGTERM, _interrupted_at_start_up)

import argparse  # noqa: E402
import logging  # noqa: E402
import shlex  # noqa: E402
import traceback  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from graph.errors import RunError, RunRefused  # noqa: E402
from graph.runner import MAX_DAYS, RUN_ID, RUN_ID_RULE, RunConfig, execute, validate_output_dir, validate_settings  # noqa: E402
from nodes.llm import BASE_URL_VAR, DEFAULT_MODEL, DEFAULT_TIMEOUT as DEFAULT_LLM_TIMEOUT, KEY_VAR, MODEL_VAR  # noqa: E402
from nodes.webhooks import DEFAULT_TIMEOUT as DEFAULT_NOTIFY_TIMEOUT, check_webhook_url  # noqa: E402
from nodes.faults import ENV_VAR as FAULT_ENV_VAR  # noqa: E402
from nodes.faults import KILL_VAR  # noqa: E402
from rl import SHIPPED_POLICY  # noqa: E402
from rl.policies import POLICY_NAMES  # noqa: E402
from simulator.catalog import DEFAULT_MODEL, MODELS  # noqa: E402
from simulator.cli import EXIT_BAD_INPUT, EXIT_FAILED, OneLineParser, wrap  # noqa: E402
from simulator.scenarios import DEFAULT_SCENARIO, SCENARIOS  # noqa: E402
from stores import STORES_FILE, StoreError  # noqa: E402
from stores.runs import read_run  # noqa: E402

# The learned policy is the default once one is shipped (rl/trained/); the playbook otherwise.
DEFAULTS = {"model": DEFAULT_MODEL, "scenario": DEFAULT_SCENARIO, "days": 30, "seed": 0,
            "policy": "ppo" if SHIPPED_POLICY.exists() else "rules",
            "onset": None, "severity": None, "keep_days": None, "use_llm": False}
WEBHOOKS_VAR = "MLMON_NOTIFY_WEBHOOKS"  # webhook URLs, space-separated: out of the process list and shell history

log = logging.getLogger("mlmon")


def folder_arg(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def run_id_arg(text: str) -> str:
    if not RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} {RUN_ID_RULE}")
    return text


def name_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name; write a,b,c")
    return names


def webhook_arg(text: str) -> str:
    try:
        check_webhook_url(text)
    except ValueError as exc:  # the message never repeats the URL, which may hold a secret
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--notify-webhook: ")) from None
    return text


def seconds_arg(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None


def webhooks(args: argparse.Namespace) -> list[str]:
    """--notify-webhook URLs, then those in MLMON_NOTIFY_WEBHOOKS."""
    return [*(args.notify_webhook or []), *os.environ.get(WEBHOOKS_VAR, "").split()]


def outbound_options(args: argparse.Namespace) -> dict:
    """The run options for the LLM and the webhooks (none of them a setting but use_llm)."""
    return {"llm_timeout": args.llm_timeout if args.llm_timeout is not None else DEFAULT_LLM_TIMEOUT,
            "notify_webhooks": webhooks(args),
            "notify_timeout": args.notify_timeout if args.notify_timeout is not None else DEFAULT_NOTIFY_TIMEOUT}


def period_arg(text: str) -> str | int:
    if text in ("day", "week"):
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not day, week or a number of rows")


LOG_OPTIONS = ("schema", "timestamp_col", "score_col", "prediction_col", "label_col", "group_col", "model_version_col",
               "latency_col",
               "features", "ignore_cols", "model_id", "reference_until", "reference_rows", "period", "store")
SIMULATION_OPTIONS = ("model", "scenario", "days", "seed", "onset", "severity")


def log_run_config(args: argparse.Namespace):
    """--log: the run over a user's log (graph.logrun), its schema from the flags and/or --schema."""
    from graph.logrun import log_config

    wrong = [o for o in SIMULATION_OPTIONS if getattr(args, o) is not None] + (["resume"] if args.resume else [])
    if wrong:
        raise ValueError(f"--{wrong[0].replace('_', '-')} is for simulated runs, not --log")
    mapping = {"timestamp_col": args.timestamp_col, "score_col": args.score_col, "prediction_col": args.prediction_col,
               "label_col": args.label_col, "group_col": args.group_col, "model_version_col": args.model_version_col,
               "latency_col": args.latency_col,
               "features": args.features, "ignore": args.ignore_cols, "model_id": args.model_id,
               "reference_until": args.reference_until, "reference_rows": args.reference_rows, "period": args.period}
    config = log_config(args.log, args.schema, output_dir=args.output_dir, run_id=args.run_id,
                        policy=args.policy or DEFAULTS["policy"], store=args.store or "rows", keep_days=args.keep_days,
                        force=args.force, use_llm=bool(args.use_llm), **outbound_options(args), **mapping)
    validate_output_dir(config.output_dir)
    validate_settings(config)
    return config


def build_parser() -> argparse.ArgumentParser:
    """The CLI's options (the TUI builds its new-run form and its own command line from them too)."""
    epilog = "scenarios:\n" + "\n".join(wrap(f"{s.name}: {s.description}") for s in SCENARIOS.values())
    epilog += ("\n\nfault injection (tests the fallback edges):\n"
               + wrap(f"{FAULT_ENV_VAR}=drift@5,quality@7-9,alert makes those nodes raise on those days (no @: every day)."))
    p = OneLineParser(prog="python -m graph.run", description=__doc__, epilog=epilog,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    # Defaults are filled in after parsing, so that resuming a run can tell given settings from defaults.
    p.add_argument("--model", choices=[*MODELS, "all"], help=f"model to monitor, or all (default: {DEFAULT_MODEL})")
    p.add_argument("--scenario", choices=list(SCENARIOS), help=f"what happens to the world (default: {DEFAULT_SCENARIO})")
    p.add_argument("--days", type=int, help=f"number of days to simulate, 1 to {MAX_DAYS} (default 30)")
    p.add_argument("--seed", type=int, help="random seed; the same seed gives the same run (default 0)")
    p.add_argument("--policy", choices=list(POLICY_NAMES),
                   help=f"remediation policy (default: {DEFAULTS['policy']}); ppo keeps learning from each run, "
                        "saving <output-dir>/rl_policy.pt")
    p.add_argument("--onset", type=int, help="day the scenario's change starts (default 12; not for default/stable/seasonal)")
    p.add_argument("--severity", type=float, help="size of the scenario's change, 1.0 = as documented (default 1.0)")
    p.add_argument("--output-dir", type=folder_arg, default=Path("simulation_results"),
                   help="folder for the stores, checkpoints, report and plots (default simulation_results/)")
    p.add_argument("--run-id", type=run_id_arg,
                   help="name of the run; re-running with the same id resumes it (default: a new id)")
    p.add_argument("--keep-days", type=int, metavar="N",
                   help="keep row-level predictions of the newest N days only; metrics, alerts and reports keep "
                        "every day (default: keep all rows)")
    p.add_argument("--force", action="store_true",
                   help="overwrite the run's report if it exists with other content (never needed otherwise)")
    p.add_argument("--resume", action="store_true", help="resume the newest unfinished run in --output-dir")
    out = p.add_argument_group(
        "narratives and notifications",
        f"--use-llm asks an OpenAI-compatible chat model ({KEY_VAR}; {BASE_URL_VAR} for another server, local ones "
        f"included; {MODEL_VAR}, default {DEFAULT_MODEL}) for a narrative of each day with an open incident or an "
        "action, and a justification of the action. The policy alone decides; any LLM failure leaves mlmon's "
        "deterministic text, and the report says which wrote each narrative.")
    out.add_argument("--use-llm", action="store_true", default=None,
                     help="narrate the days worth telling with an LLM (a setting of the run: resuming keeps it)")
    out.add_argument("--llm-timeout", type=seconds_arg, metavar="S",
                     help=f"seconds a day may wait for its narrative, retries included (default {DEFAULT_LLM_TIMEOUT:g})")
    out.add_argument("--notify-webhook", type=webhook_arg, action="append", metavar="URL",
                     help="POST each new, escalated and resolved incident to URL as JSON with a Slack-compatible "
                          f"'text' (repeatable; or space-separated in {WEBHOOKS_VAR}, which keeps the URLs out of "
                          "the process list). URLs are never stored: give them again when resuming")
    out.add_argument("--notify-timeout", type=seconds_arg, metavar="S",
                     help=f"seconds a delivery round may take, retries included (default {DEFAULT_NOTIFY_TIMEOUT:g})")
    log = p.add_argument_group(
        "monitoring your own log (--log)",
        "Each complete period of the log (a day, a week or N rows after the reference period) runs through the "
        "same cycle; remediations are recommended, never applied. Running the same command again on a grown log "
        "monitors only its new periods. The run id defaults to log-<model id>.")
    log.add_argument("--log", metavar="FILE", help="a CSV or Parquet file, or a folder or glob of them, read in name order")
    log.add_argument("--schema", type=Path, metavar="TOML", help="the column mapping as a TOML file (keys as below; see README)")
    log.add_argument("--timestamp-col", help="the time of each prediction (ISO 8601 text or epoch seconds)")
    log.add_argument("--score-col", help="the model's probability for the positive class, in [0, 1]")
    log.add_argument("--prediction-col", help="the 0/1 decision (default: score >= 0.5)")
    log.add_argument("--label-col", help="the 0/1 ground truth; empty where it has not arrived")
    log.add_argument("--group-col", help="a group (e.g. region) for per-group accuracy and the bias gap")
    log.add_argument("--model-version-col", help="the serving model's version (optional)")
    log.add_argument("--latency-col", help="the prediction's latency in ms (optional)")
    log.add_argument("--features", type=name_list, metavar="A,B,C",
                     help="the feature columns (default: every column not mapped above and not ignored)")
    log.add_argument("--ignore-cols", type=name_list, metavar="A,B", help="columns that are not features (ids, ...)")
    log.add_argument("--model-id", help="the model's name in the stores (default: from the file name)")
    log.add_argument("--reference-until", metavar="DATE",
                     help="the reference period: rows up to this date (inclusive, UTC) show the model as it should be")
    log.add_argument("--reference-rows", type=int, metavar="N", help="or: the first N rows are the reference period")
    log.add_argument("--period", type=period_arg, metavar="day|week|N", help="one monitoring cycle (default: day)")
    log.add_argument("--store", choices=("rows", "summaries"), default=None,
                     help="rows: keep every row (by column; default); summaries: keep only each period's sample, "
                          "labelled rows and findings (much smaller, no row-level queries)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or day lines; log lines only")
    p.add_argument("--debug", action="store_true", help="print the full traceback on failure")
    return p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def stored_run(args: argparse.Namespace) -> dict | None:
    """The registry entry of the run to resume (--resume or an existing --run-id), read before any write."""
    if not (args.resume or args.run_id):
        return None
    validate_output_dir(args.output_dir)
    stored = None
    if (args.output_dir / STORES_FILE).exists():
        stored = read_run(args.output_dir / STORES_FILE, None if args.resume and not args.run_id else args.run_id)
    if args.resume and stored is None:
        raise RunError(f"no unfinished run to resume in {args.output_dir}")
    return stored


def resolve_config(args: argparse.Namespace):
    """Merge the arguments with the stored settings of the run being resumed, or with the defaults; validate all."""
    args = argparse.Namespace(**{**vars(parse_args([])), **vars(args)})  # callers may give only some options
    if args.log is not None:
        return log_run_config(args)
    given_log = [o for o in LOG_OPTIONS if getattr(args, o) is not None]
    if given_log:
        raise ValueError(f"--{given_log[0].replace('_', '-')} needs --log (a log to monitor)")
    given = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None}
    stored = stored_run(args)
    default_id = f"run-{datetime.now():%Y%m%d-%H%M%S}-{os.urandom(2).hex()}"
    run_id = args.run_id if args.run_id is not None else (stored["run_id"] if stored else default_id)
    settings = dict(DEFAULTS)
    if stored is not None:
        previous = stored["config"]
        settings.update({k: previous.get(k) for k in ("scenario", "days", "seed", "policy", "onset", "severity",
                                                      "keep_days")})
        settings["use_llm"] = bool(previous.get("use_llm"))
        settings["model"] = "all" if len(previous["models"]) > 1 else previous["models"][0]
        clash = {k: v for k, v in given.items() if settings[k] != v}
        if clash:
            raise RunError(f"run {run_id} was started with {', '.join(f'{k}={settings[k]}' for k in clash)}; "
                           f"drop those options to resume it, or choose a new --run-id")
    settings.update(given)
    models = list(MODELS) if settings["model"] == "all" else [settings["model"]]
    config = RunConfig(models=models, scenario=settings["scenario"], days=settings["days"], seed=settings["seed"],
                       policy=settings["policy"], output_dir=args.output_dir, run_id=run_id,
                       onset=settings["onset"], severity=settings["severity"], keep_days=settings["keep_days"],
                       force=args.force, use_llm=settings["use_llm"], **outbound_options(args))
    validate_settings(config)
    validate_output_dir(config.output_dir)
    return config


def day_line(d: dict, with_model: bool, periods: bool = False) -> str:
    """One line per day (a log's period): accuracy (* = estimated from scores), drift, status, action,
    reward, alert changes."""
    acc = "  n/a" if d["accuracy"] is None else f"{d['accuracy']:.3f}" + ("*" if d["accuracy_estimated"] else "")
    when = f"{d['date']:10s}" if periods else f"day {d['day']:2d}"
    parts = [when, f"acc {acc:6s}", f"drift {d['drift_score'] or 0:.2f} {d['drift_severity'] or '-':8s}",
             f"{d['performance_status'] or '-':8s}", f"{d['action']:18s}"]
    if d["reward"] is not None:
        parts.append(f"{d['reward']:+6.1f}")
    parts += [f"+{a['type']}" for a in d["alerts"] if a["event"] == "opened"]
    parts += [f"-{a['type']}" for a in d["alerts"] if a["event"] == "resolved"]
    if d["degraded"]:
        parts.append("DEGRADED:" + ",".join(m["node"] for m in d["degraded"]))
    return (f"{d['model'].split('_')[0]:9s} " if with_model else "") + " ".join(parts)


def summary_lines(report: dict) -> list[str]:
    if report.get("source") == "log":
        return log_summary_lines(report)
    s = report["summary"]
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    actions = ", ".join(f"{a} x{n}" for a, n in sorted(s["actions"].items(), key=lambda kv: -kv[1]))
    return [f"{report['model']}: {s['days']} days, mean accuracy {s['mean_true_accuracy']:.3f} "
            f"(no action: {s['mean_counterfactual_accuracy']:.3f}), {plural(s['alerts_raised'], 'alert')}, "
            f"{plural(s['incidents'], 'incident')}",
            f"  actions: {actions}",
            f"  cost ${s['total_cost']:,.0f} (no action: ${s['no_action_total_cost']:,.0f}); "
            f"median cycle {s['median_cycle_ms']:.1f} ms" if s["median_cycle_ms"] is not None else
            f"  cost ${s['total_cost']:,.0f} (no action: ${s['no_action_total_cost']:,.0f})"]


def log_summary_lines(report: dict) -> list[str]:
    s = report["summary"]
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    accuracy = s["mean_accuracy_labelled_periods"]
    recommended = ", ".join(f"{a} x{n}" for a, n in sorted(s["recommendations"].items(), key=lambda kv: -kv[1]))
    return [f"{report['model']}: {plural(s['periods'], 'period')} ({s['period']}), mean accuracy "
            + (f"{accuracy:.3f}" if accuracy is not None else "n/a")
            + f" (reference {s['reference']['accuracy']:.3f}), {plural(s['alerts_raised'], 'alert')}, "
            f"{plural(s['incidents'], 'incident')}",
            f"  recommended (not applied): {recommended or 'nothing but continue'}"]


class RunConsole(Console):
    """rich's Console, except that a closed stdout stops the run through our handler: rich's own
    answer is a silent SystemExit(1), which would leave the user guessing."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError("standard output was closed")


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt: not an Exception, so no node's fallback catches it."""


def _terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: let the run unwind in peace
    raise Terminated()


def _silence_stdout() -> None:
    """After stdout closed under us: point it at /dev/null so that Python's exit does not complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def resume_command(config: RunConfig) -> str:
    """The command that resumes the run, quoted for a shell (it gets pasted into one)."""
    entry = os.environ.get("MLMON_ENTRY", "python -m graph.run")  # scripts/run sets itself here
    return " ".join([*map(shlex.quote, shlex.split(entry) or [entry]), "--run-id", shlex.quote(config.run_id),
                     "--output-dir", shlex.quote(str(config.output_dir))])


def main(argv: list[str] | None = None) -> int:
    try:
        signal.signal(signal.SIGINT, _interrupted_at_start_up)
        signal.signal(signal.SIGTERM, _interrupted_at_start_up)
        args = parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.quiet else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per LLM request is noise in a run's log
        config = resolve_config(args)
    except (ValueError, RunError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # From here a signal stops the run where it is; every finished step is checkpointed, so it resumes.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)

    console = RunConsole(highlight=False)
    resume_hint = resume_command(config)
    progress = None if args.quiet else Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("periods" if config.kind == "log" else "days"),
        TimeElapsedColumn(), console=console, transient=False)
    tasks: dict[str, int] = {}
    reached: dict[str, int] = {}  # model -> last day recorded, for the message if the run is stopped

    def on_event(kind: str, data: dict) -> None:
        if kind == "thread":
            message = f"{data['model']}: {data['status']}" + (f" at day {data['day']}" if data["status"] == "resumed" else "")
            log.info(message)
            if progress is not None:
                progress.console.print(message)
                if data["status"] in ("started", "resumed", "extended"):
                    tasks[data["model"]] = progress.add_task(data["model"], total=data["days"], completed=data["day"])
        elif kind in ("learning", "ingest", "narration", "notifications") and "status" in data:
            log.info(data["status"])
            if progress is not None:
                progress.console.print(data["status"])
        elif kind == "day":
            reached[data["model"]] = data["day"]
            line = day_line(data, with_model=len(config.models) > 1, periods=config.kind == "log")
            if progress is None:
                log.info(line)
            else:
                progress.console.print(line)
                progress.update(tasks[data["model"]], completed=data["day"] + 1)

    def stopped(why: str) -> str:
        where = ", ".join(f"{m} after day {d}" for m, d in reached.items()) or "before its first day"
        return f"{why}: run {config.run_id} stopped {where} and can be resumed with: {resume_hint}{webhook_note}"

    # Webhook URLs are never stored (they may hold secrets), so the resume command cannot carry them.
    webhook_note = (f" (and the {len(config.notify_webhooks)} webhook URL(s) again: they are not stored)"
                    if config.notify_webhooks else "")
    try:
        injected = {v: os.environ[v] for v in (FAULT_ENV_VAR, KILL_VAR) if os.environ.get(v)}
        if progress is None:
            log.info("run %s: %s", config.run_id, config.settings())
            for var, value in injected.items():
                log.warning("%s=%s is set: injected faults are active", var, value)
        else:
            console.print(f"run [bold]{config.run_id}[/] in {config.output_dir}/")
            console.print(f"  if interrupted, resume with: {resume_hint}{webhook_note}", soft_wrap=True, markup=False)
            for var, value in injected.items():
                console.print(f"  [bold yellow]{var}={value}[/] is set: injected faults are active")
            progress.start()
        outputs = execute(config, on_event)
    except RunRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(stopped("interrupted (SIGINT)"), file=sys.stderr)
        return EXIT_SIGINT
    except Terminated:
        print(stopped("terminated (SIGTERM)"), file=sys.stderr)
        return EXIT_SIGTERM
    except BrokenPipeError:
        _silence_stdout()
        print(stopped("standard output was closed"), file=sys.stderr)
        return EXIT_SIGPIPE
    except Exception as exc:  # a failure during the run: one line, the traceback only on request
        if args.debug:
            traceback.print_exc()
        print(f"error: run {config.run_id} failed: {type(exc).__name__}: {exc} "
              f"(resume with: {resume_hint}{webhook_note}; add --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run is over either way: no traceback from here on
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if progress is not None:
            try:
                progress.stop()
            except BrokenPipeError:
                _silence_stdout()

    lines = [line for r in outputs.report.get("models", [outputs.report]) for line in summary_lines(r)]
    lines += [f"report: {outputs.report_path}", *(f"plot:   {p}" for p in outputs.plot_paths)]
    try:
        for line in lines:
            if args.quiet:
                log.info(line)
            else:
                console.print(line, soft_wrap=True)
    except BrokenPipeError:
        _silence_stdout()  # the run is complete; only its summary lines were lost
    return 0


if __name__ == "__main__":
    sys.exit(main())
