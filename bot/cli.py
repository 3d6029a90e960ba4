"""`etl-triage run | demo | init | validate | explain | preview | alert | serve | history | feedback | db | eval`.

A BotError is one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.errors import BotError
from bot.logsetup import LEVELS, LogFormat, choose_level, configure
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.contract import TriageReport
    from bot.topology import Topology

log = logging.getLogger("bot.cli")

def _log_options(on_subcommand: bool) -> argparse.ArgumentParser:
    """-v / --log-level / --log-format, accepted before or after the command (`etl-triage serve -v`)."""
    lp = argparse.ArgumentParser(add_help=False)
    unset = argparse.SUPPRESS if on_subcommand else None  # a subcommand only overrides what it was given
    lp.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if on_subcommand else 0,
                    help="more log output: -v INFO, -vv DEBUG (default: WARNING; INFO for serve)")
    lp.add_argument("--log-level", type=str.lower, choices=LEVELS, default=unset,
                    help="log level (env ETL_TRIAGE_LOG_LEVEL); wins over -v")
    lp.add_argument("--log-format", choices=("text", "json"), default=unset,
                    help="text (default) or one JSON object per line (env ETL_TRIAGE_LOG_FORMAT)")
    return lp


def _parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="etl-triage", description="Triage failed ETL runs: data, infra or code.",
                                parents=[_log_options(False)], allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"etl-triage {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name: str, *, help: str) -> argparse.ArgumentParser:  # every command takes the logging options too
        return sub.add_parser(name, parents=[_log_options(True)], help=help)

    def common(sp: argparse.ArgumentParser, provider: bool = True) -> None:
        sp.add_argument("--topology", default=settings.topology, help="topology file (default: %(default)s)")
        sp.add_argument("--log-root", default=settings.log_root, help="= --var log_root=DIR")
        sp.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="override a [vars] entry")
        if provider:
            sp.add_argument("--provider", default=settings.provider,
                            help="offline (default) | anthropic[:model] | scripted:FILE | an installed one")

    def run_options(sp: argparse.ArgumentParser) -> None:
        common(sp)
        sp.add_argument("--log", help="the failed run's log (default: newest *.log for --job)")
        sp.add_argument("--job", help="job name, as in [jobs] (default: the log's directory name)")
        sp.add_argument("--run-id", help="run id, to pick the log and the partition date")

    run = add("run", help="triage one failed run")
    run_options(run)
    run.add_argument("--format", choices=("text", "json", "slack"), default="text",
                     help="text (default), json (the report) or slack (the exact Block Kit payload of the reply)")
    run.add_argument("--json", action="store_const", const="json", dest="format", help="= --format json")

    preview = add("preview", help="render the Slack thread reply of one triage as an HTML page")
    run_options(preview)
    preview.add_argument("--out", default="reply.html", help="HTML file to write (default: %(default)s)")
    preview.add_argument("--state", choices=("all", "progress", "report", "escalated"), default="all",
                         help="which moment of the thread to show (default: all three, one under the other)")
    preview.add_argument("--alert", help="the alert's text shown above the thread (default: a scheduler-like line)")
    preview.add_argument("--alert-from", default="Airflow", help="who posted the alert (default: %(default)s)")

    demo = add("demo", help="triage every bundled example job offline and print the reports")
    demo.add_argument("--examples", default="examples", help="examples directory (default: %(default)s)")
    demo.add_argument("--json", action="store_true", help="one JSON object per line")

    init = add("init", help="scaffold a commented topology.toml and prompts/ into a jobs repo")
    init.add_argument("dir", nargs="?", default=".", help="where to write them (default: the current directory)")
    init.add_argument("--force", action="store_true", help="overwrite files that already exist")

    for name, text in (("validate", "check a topology file"), ("explain", "print the pipeline for a newcomer")):
        sp = add(name, help=text)
        sp.add_argument("topology_file", nargs="?", default=None)
        common(sp, provider=False)

    al = add("alert", help="show what the bot recognises in a Slack message (JSON file)")
    al.add_argument("event_file", metavar="FILE.json", help="a Slack message event, an Events API envelope or an "
                                                            "exported message")
    al.add_argument("--topology", default=None, help="topology file whose [jobs] and [alerts] are used "
                                                     "(default: topology.toml if it exists)")
    al.add_argument("--channel", default=None, help="channel id, for per-channel [alerts] senders")
    al.add_argument("--json", action="store_true", help="print one JSON object")

    serve = add("serve", help="run the Slack bot (Socket Mode, or --http)")
    common(serve)
    serve.add_argument("--http", action="store_true", help="HTTP mode on /slack/events instead of Socket Mode")
    serve.add_argument("--host", default="0.0.0.0", help="address for --http (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=3000, help="port for --http, 0-65535 (default: %(default)s)")
    serve.add_argument("--health-port", type=int, default=settings.health_port,
                       help="GET /healthz and /metrics here, in both modes; 0 picks a free port "
                            "(env ETL_TRIAGE_HEALTH_PORT, default: %(default)s)")
    serve.add_argument("--health-host", default=None, help="address for the health port (default: --host)")

    hist = add("history", help="past triages from the state database")
    hist.add_argument("--job", help="only this job")
    hist.add_argument("--since", help="only this recent, e.g. 7d, 12h, 30m")
    hist.add_argument("--limit", type=int, default=200, help="at most this many (default: %(default)s)")
    hist.add_argument("--json", action="store_true", help="one JSON array")

    fb = add("feedback", help="the team's corrections: export them as eval cases")
    fb.add_argument("feedback_cmd", choices=["export"])
    fb.add_argument("dir", metavar="DIR", help="where to write one case directory per corrected triage")
    fb.add_argument("--since", help="only this recent, e.g. 30d (default: all)")
    common(fb, provider=False)

    db = add("db", help="the state database: upgrade (apply migrations) | version")
    db.add_argument("db_cmd", choices=["upgrade", "version"])

    ev = add("eval", help="score a provider on a labeled corpus")
    common(ev)
    ev.add_argument("corpus", nargs="*", default=["eval/real", "eval/cases"],
                    help="corpus directories (default: the real-failure corpus, then the team corpus)")
    ev.add_argument("--split", default="all", help="dev | test | all (default: %(default)s)")
    ev.add_argument("--json", action="store_true")
    return p



PATH_VAR_SUFFIXES = ("_root", "_dir", "_path", "_home")


def _port(text: str) -> int:
    """A TCP port; anything else is one line and exit 2, not an OverflowError from the socket layer."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise BotError(f"--port {text!r}: expected a number from 0 to 65535 (0 picks a free port)")
    return int(text)


def _vars(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in args.var:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise BotError(f"--var {item!r}: expected NAME=VALUE")
        name = name.strip()
        if name.endswith(PATH_VAR_SUFFIXES) and value and not value.startswith(("/", "{")):
            value = str(Path(value).resolve())   # a relative directory, like --log-root, is from the cwd
        out[name] = value
    if args.log_root:
        out["log_root"] = str(Path(args.log_root).resolve())
    return out


def _configure_logging(args: argparse.Namespace, settings: Settings) -> None:
    """Logs go to stderr; `serve` defaults to INFO with timestamps, every other command to WARNING."""
    serving = args.cmd == "serve"
    level = choose_level(args.log_level, args.verbose, settings.log_level,
                         logging.INFO if serving else logging.WARNING)
    # --log-format (choices) and ETL_TRIAGE_LOG_FORMAT (Settings) each allow only text or json
    fmt: LogFormat = "json" if (args.log_format or settings.log_format) == "json" else "text"
    configure(level, fmt, timestamps=serving)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
        parser = _parser(settings)
        if not (sys.argv[1:] if argv is None else argv):
            parser.print_help()
            return 2
        args = parser.parse_args(argv)
        _configure_logging(args, settings)
        return asyncio.run(_dispatch(args, settings))
    except BotError as e:
        print(f"etl-triage: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


def load_topology(path: str | Path, args: argparse.Namespace) -> Topology:
    """The topology with the command's --var/--log-root overrides; a --var the topology does not declare
    is refused (a typo would otherwise be ignored). `validate` checks the file you have; the other commands
    fall back to the bundled default when it is missing."""
    from bot.packaged import topology_or_default
    from bot.topology import load_topology as load

    topo = load(path if args.cmd == "validate" else topology_or_default(path), _vars(args))
    log.debug("topology %s: %d stages", topo.path, len(topo.stages))
    for item in args.var:
        name = item.partition("=")[0].strip()
        if name not in topo.declared_vars:
            import difflib

            near = difflib.get_close_matches(name, sorted(topo.declared_vars), n=1)
            raise BotError(f"--var {name}: {topo.path} neither declares nor uses a variable '{name}'"
                           + (f"; did you mean '{near[0]}'?" if near else
                              f"; it declares {', '.join(sorted(topo.declared_vars)) or 'none'}"))
    return topo


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.cmd == "init":
        from bot.scaffold import init, next_steps

        dest = Path(args.dir)
        written = init(dest, force=args.force)
        print(f"wrote {len(written)} files: {dest / 'topology.toml'} and {dest / 'prompts'}/")
        print(next_steps(dest))
        return 0
    if args.cmd in ("validate", "explain"):
        topo = load_topology(args.topology_file or args.topology, args)
        if args.cmd == "validate":
            print(f"{topo.path}: ok ({len(topo.stages)} stages)")
        else:
            from bot.render import explain_text
            from bot.sandbox import SandboxManager

            print(explain_text(topo, SandboxManager.for_topology(topo).enforcement))
        return 0
    if args.cmd in ("run", "preview"):
        return await _run(args, load_topology(args.topology, args))
    if args.cmd == "alert":
        return _alert(args, settings)
    if args.cmd == "demo":
        from bot.demo import demo
        from bot.packaged import examples_or_default

        return await demo(examples_or_default(args.examples), as_json=args.json)
    if args.cmd == "serve":
        from bot.slack.serve import serve

        return await serve(args, settings, load_topology(args.topology, args))
    if args.cmd in ("history", "db"):
        from bot.history import db_main, history_main

        return await (history_main if args.cmd == "history" else db_main)(args, settings)
    if args.cmd == "feedback":
        from bot.feedback_export import export_main

        return await export_main(args, settings, load_topology(args.topology, args))
    if args.cmd == "eval":
        from bot.eval_output import main as eval_main

        return await eval_main(args, _vars(args))
    raise BotError(f"unknown command {args.cmd!r}")


async def _run(args: argparse.Namespace, topo: Topology) -> int:
    from bot.contract import Alert
    from bot.engine import run_triage
    from bot.providers import get_provider
    from bot.render import report_text

    if not args.log and not args.job:
        raise BotError("give --log PATH or --job NAME (the newest log under the job's [jobs] logs is used)")
    job = args.job or _job_of(Path(args.log), topo.vars.get("log_root"))
    from bot.errors import AccessDenied

    provider = get_provider(args.provider)
    try:
        report = await run_triage(topo, Alert(job=job, run_id=args.run_id, source="cli"),
                                  provider=provider, log_path=args.log)
    except AccessDenied as e:
        if args.log and not args.log_root and e.reason == "outside the read allowlist":
            guess = _log_root_guess(args.log)
            raise BotError(f"{e}; pass --log-root DIR (the directory holding the job folders, e.g. "
                           f"--log-root {guess}) or --var log_root=DIR") from None
        raise
    finally:
        await provider.aclose()
    if args.cmd == "preview":
        return _preview(args, topo, report)
    if args.format == "slack":
        from bot.escalation import report_teams
        from bot.slack.blocks import report_payload

        print(json.dumps(report_payload(report, report_teams(topo, report)), indent=2, ensure_ascii=False))
    else:
        print(report.model_dump_json(indent=2) if args.format == "json" else report_text(report))
    return 0


def _preview(args: argparse.Namespace, topo: Topology, report: TriageReport) -> int:
    import time

    from bot.escalation import report_teams
    from bot.preview import page, reply_states

    job = report.job or "job"
    alert = args.alert or (f":red_circle: Task failed: *{job}*" + (f" run `{report.run_id}`" if report.run_id else "")
                           + (f"\nlog: `{report.log_path}`" if report.log_path else ""))
    by_name = reply_states(report, report_teams(topo, report), now=time.time())
    states = list(by_name.values()) if args.state == "all" else [by_name[args.state]]
    out = Path(args.out)
    try:
        out.write_text(page(states, alert, alert_author=args.alert_from, title=f"{job}: etl-triage reply"),
                       encoding="utf-8")
    except OSError as e:
        raise BotError(f"cannot write {out}: {e.strerror}; pass --out PATH in a writable directory") from None
    print(f"wrote {out} (open it in a browser)")
    return 0


def _alert(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from bot.alerts import recognise
    from bot.alerts.explain import explain_text, load_event
    from bot.topology import load_topology

    path = args.topology or settings.topology
    topo = load_topology(path, {}) if (args.topology or Path(path).exists()) else None
    rec = recognise(load_event(Path(args.event_file)), topo, channel=args.channel)
    print(json.dumps(rec.as_dict(), indent=2) if args.json else explain_text(rec))
    if topo is None and not args.json:
        print(f"note:     no {path}; jobs are not matched against a registry (pass --topology)")
    return 0


def _log_root_guess(log: str) -> str:
    """The directory above the log's job folder: what --log-root usually is."""
    return os.path.dirname(os.path.dirname(os.path.abspath(log)))


def _job_of(log: Path, log_root: str | None) -> str:
    """The job a log belongs to: Airflow's `dag_id=<job>` directory, else the first directory under log_root,
    else the log's own directory."""
    for part in log.parts:
        if part.startswith("dag_id="):
            return part.removeprefix("dag_id=")
    path = Path(os.path.abspath(log))
    if log_root and path.is_relative_to(root := Path(os.path.abspath(log_root))):
        rel = path.relative_to(root).parts
        if len(rel) > 1:
            return rel[0]
    return log.parent.name


if __name__ == "__main__":
    raise SystemExit(main())
