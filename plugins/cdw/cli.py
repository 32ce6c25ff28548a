"""The ``cdw`` command (``shared/contracts/cli.md``).

Exit status: 0 done, 1 the work failed (a load, a date, the warehouse), 2 bad
arguments, 130 interrupted (Ctrl-C, SIGTERM). Progress goes to standard error; the last line of standard output is
a one-line summary. Errors are one line without a traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from datetime import date
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report a process ended by SIGINT


class UsageError(Exception):
    """Bad arguments: exit status 2."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text) if len(text) == 10 else date.fromisoformat("bad")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port (0 to 65535): {text}")
    return value


WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


def _closed_days(text: str) -> list:
    """Comma-separated dates YYYY-MM-DD and weekday names MON..SUN (any case)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise argparse.ArgumentTypeError(f"an empty item in {text!r} (a stray comma?)")
        if item.upper() in WEEKDAYS:
            out.append(item.upper())
            continue
        try:
            out.append(_date(item))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{item!r} is neither a date YYYY-MM-DD nor a weekday MON, TUE, WED, THU, FRI, SAT, SUN"
            ) from None
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 too, but prints usage noise first
        raise UsageError(f"{self.prog}: {message}")


class _Help(argparse.RawDescriptionHelpFormatter):
    """Epilogs as written; an option's default after its help, when it has one worth saying."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and not action.required and action.default not in (None, False, [])
                and action.default is not argparse.SUPPRESS and "%(default)" not in text):
            text += " (default: %(default)s)"
        return text


EXIT_CODES = {
    "generate": "0 written; 2 bad arguments",
    "load": "0 loaded; 1 the load failed (the date and file named on the last line); 2 bad arguments; 130 interrupted",
    "run": "0 every date published; 1 any date failed (named on the last line); 2 bad arguments; 130 interrupted",
    "demo": "0 every date published; 1 a date failed",
    "report": "0 the report written (whatever the load's status); 1 no load of that date, or the warehouse failed",
    "backfill": "0 the backfill was created (the scheduler runs it); 1 Airflow refused it",
    "dbt": "0 dbt succeeded; 1 a model or test failed; 2 dbt could not run (dbt's own)",
    "setup-roles": "0 set up; 1 the warehouse refused (e.g. not allowed to create roles); 2 bad arguments",
    "warehouse": "0 done; 1 the embedded server is not running (status) or failed",
    "personal-data-reads": "0 printed (none recorded included); 1 the warehouse refused (e.g. the login may not "
                           "read audit); 2 bad arguments",
    "serve": "130 stopped by Ctrl-C or SIGTERM (it serves until then); 1 the warehouse cannot be read or the "
             "address cannot be bound; 2 bad arguments",
}
EXAMPLES = {
    "generate": "cdw generate --out ./landing --start 2026-03-02 --end 2026-03-08 --closed-days SUN",
    "load": "cdw load --landing ./landing --date 2026-03-02",
    "run": "cdw run --landing ./landing --start 2026-03-02 --end 2026-03-08",
    "demo": "cdw demo",
    "report": "cdw report --date 2026-03-02",
    "backfill": "cdw backfill --start 2026-02-01 --end 2026-02-28   # where the scheduler's Airflow is configured",
    "dbt": "cdw dbt --date 2026-03-02 -- build --select fct_calls+\n  cdw dbt -- test --select test_type:unit",
    "setup-roles": "cdw setup-roles --analyst bi_reader   # password from CDW_LOGIN_PASSWORD, if set",
    "warehouse": "cdw warehouse url",
    "personal-data-reads": "cdw personal-data-reads --since 2026-03-01   # as an auditor's login (CDW_WAREHOUSE_URL)",
    "serve": "cdw serve --dbt-docs   # then open the URL it prints last",
}


def _epilog(command: str) -> str:
    return f"exit status: {EXIT_CODES[command]}\n\nexample:\n  {EXAMPLES[command]}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cdw", description="Customer data warehouse of the bank's customer service.",
                     formatter_class=_Help,
                     epilog="exit status: 0 done; 1 the work failed; 2 bad arguments; 130 interrupted "
                     "(Ctrl-C, SIGTERM)\n\n`cdw COMMAND --help` shows each command's options, exit status "
                     "and an example.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    # --debug after the command too (`cdw load ... --debug`); SUPPRESS keeps an earlier --debug
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                              parents=[common], formatter_class=_Help, epilog=_epilog(name))

    gen = command("generate", "write realistic landing drops for a date range")
    gen.add_argument("--out", required=True, type=Path, help="landing root to write into")
    gen.add_argument("--start", required=True, type=_date, help="first business date, YYYY-MM-DD")
    gen.add_argument("--end", required=True, type=_date, help="last business date, YYYY-MM-DD")
    gen.add_argument("--seed", type=int, default=42, help="random seed (same seed, same files)")
    gen.add_argument("--customers", type=_positive_int, default=2000, help="customers in the master")
    gen.add_argument("--agents", type=_positive_int, default=60, help="agents on the roster")
    gen.add_argument("--transactions-per-day", type=_count, default=6000,
                     help="ledger entries on an average day; 0: no ledger entries (header-only files)")
    gen.add_argument("--calls-per-day", type=_count, default=900,
                     help="calls on an average day; 0: no calls (empty calls files)")
    gen.add_argument(
        "--closed-days", type=_closed_days, action="extend", default=[], metavar="DAYS",
        help="days the contact centre is closed: comma-separated dates YYYY-MM-DD and/or weekdays "
        "MON..SUN, e.g. 2026-12-25,SUN (may be given more than once). Those dates get an empty "
        "calls file; the ledger and master data are as on any other day",
    )
    gen.add_argument("--timezone", default="Asia/Shanghai",
                     help="the bank's IANA time zone; each timestamp carries the zone's offset at its instant")
    gen.add_argument("--no-gzip", action="store_true", help="write transactions and calls uncompressed")
    gen.add_argument(
        "--defects",
        action="store_true",
        help="inject a known mix of record-level defects and one file-level fault per date "
        "on the last days, and write the expected outcome to OUT/_expected.json",
    )

    load = command("load", "file checks and raw load of one business date")
    load.add_argument("--landing", required=True, type=Path, help="landing root")
    load.add_argument("--date", required=True, type=_date, help="business date, YYYY-MM-DD")

    run = command("run", "the daily pipeline for each business date in order")
    run.add_argument("--landing", required=True, type=Path, help="landing root")
    run.add_argument("--start", required=True, type=_date, help="first business date")
    run.add_argument("--end", required=True, type=_date, help="last business date")

    demo = command("demo", "the Quick start's main job: generate a week, run it, say where things are")
    demo.add_argument("--landing", type=Path, default=None, help="landing root (default CDW_LANDING_ROOT)")
    demo.add_argument("--start", type=_date, default=date(2026, 3, 5), help="first business date")
    demo.add_argument("--end", type=_date, default=date(2026, 3, 9), help="last business date")
    demo.add_argument("--seed", type=int, default=42)

    backfill = command("backfill", "have the Airflow scheduler run the daily DAG for past business dates "
                       "(airflow backfill create, with the bounds of those dates in the warehouse's zone)")
    backfill.add_argument("--start", required=True, type=_date, help="first business date")
    backfill.add_argument("--end", required=True, type=_date, help="last business date")
    backfill.add_argument("--max-active-runs", type=_positive_int, default=1,
                          help="DAG runs at once (the publication is one date at a time anyway)")
    backfill.add_argument("--drop-wait-minutes", type=_count, default=0,
                          help="how long each run waits for its drop; 0: a missing drop fails the date at once")
    backfill.add_argument("--dry-run", action="store_true", help="print the airflow command, do not run it")

    report = command("report", "write the data-quality report of a business date's latest load again")
    report.add_argument("--date", required=True, type=_date, help="business date, YYYY-MM-DD")

    dbt = command("dbt", "run dbt in the project with the pipeline's environment (marts into the build "
                  "schema, never analytics: publication goes through the gate)")
    dbt.add_argument("--date", type=_date, help="the business date to build (default: every date)")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="-- DBT_ARGS",
                     help="dbt's own command and options, after --")

    roles = command("setup-roles", "create the loader, analyst, auditor and personal-data reader roles and "
                    "their grants (idempotent; needs a role that may create roles)")
    roles.add_argument("--analyst", metavar="LOGIN", action="append", default=[],
                       help="also make LOGIN a read-only login of analytics (member of cdw_analyst only); "
                       "its password is CDW_LOGIN_PASSWORD when set, else pg_hba.conf decides (may repeat)")
    roles.add_argument("--auditor", metavar="LOGIN", action="append", default=[],
                       help="also make LOGIN a login of the auditors (cdw_auditor: audit and analytics, "
                       "read only); password as for --analyst (may repeat)")
    roles.add_argument("--personal-data-reader", metavar="LOGIN", action="append", default=[],
                       help="also make LOGIN a login that may read a customer's personal data in clear, only "
                       "through the logged functions (cdw_personal_data_reader: restricted.read_customer and "
                       "others, each call with a reason in audit.personal_data_reads); password as for "
                       "--analyst (may repeat)")

    reads = command("personal-data-reads", "print who read personal data in clear, when, what and why "
                    "(audit.personal_data_reads; the ids asked for, never the data)")
    reads.add_argument("--since", type=_date, metavar="DATE", help="reads from this date on (its midnight in the bank's zone; "
                       "default: every read)")
    reads.add_argument("--json", action="store_true",
                       help="print the reads as one line of JSON (a list of objects) instead of text lines")

    serve = command("serve", "serve the warehouse's site read-only: an overview of trends per date, every "
                    "load's report, GX Data Docs, dbt docs (prints its URL last)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 (every interface) only where a firewall or a "
                       "container's port mapping decides who reaches it")
    serve.add_argument("--port", type=_port, default=8090, help="port to listen on; 0: any free port")
    serve.add_argument("--dbt-docs", action="store_true",
                       help="first (re)build the dbt docs of the published analytics schema into the site")

    wh = command("warehouse", "manage the embedded PostgreSQL")
    wh.add_argument("action", choices=["start", "stop", "status", "url"],
                    help="start, stop, status, or print the URL (starting it when needed)")
    return parser


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_generate(args) -> int:
    from cdw.generate import generate_landing

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    try:
        result = _generate(generate_landing, args)
    except ValueError as exc:  # the generator's word on bad arguments
        raise UsageError(str(exc)) from None
    print(result.summary)
    return EXIT_OK


def _generate(generate_landing, args):
    return generate_landing(
        out=args.out,
        start=args.start,
        end=args.end,
        seed=args.seed,
        customers=args.customers,
        agents=args.agents,
        transactions_per_day=args.transactions_per_day,
        calls_per_day=args.calls_per_day,
        timezone=args.timezone,
        gzip=not args.no_gzip,
        defects=args.defects,
        closed_days=args.closed_days,
        progress=_progress,
    )


class _WithoutPandas:
    """An import finder that says pandas is not installed.

    pyarrow imports pandas at its first array, to tell pandas objects apart, unless the
    import fails; a load hands it none, and the import cost every `cdw load` 0.3 s (more on
    a busy machine) and 38 MB. Only for this process, which does nothing but the load.
    """

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is not used by cdw load", name=name)
        return None


def _cmd_load(args) -> int:
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _WithoutPandas())
    from cdw.load import failure_message, load_date

    if not args.landing.is_dir():
        raise UsageError(f"--landing {args.landing} is not a directory")
    try:
        result = load_date(args.landing, args.date, progress=_progress)
    except (Exception, KeyboardInterrupt) as exc:
        if args.debug:
            raise
        # whatever stopped it, the date (and file) named, and a summary line last on stdout
        message = failure_message(args.date, exc)
        print(f"error: {message}", file=sys.stderr)
        print(f"FAILED {message}")
        return EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else EXIT_FAILED
    for line in result.file_lines():
        _progress(line)
    print(result.summary())
    return EXIT_OK


def _cmd_run(args) -> int:
    from cdw.pipeline import run_dates

    if not args.landing.is_dir():
        raise UsageError(f"--landing {args.landing} is not a directory")
    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    report = run_dates(args.landing, args.start, args.end, progress=_progress)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def _cmd_demo(args) -> int:
    from cdw import warehouse
    from cdw.demo import run_demo

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    landing = args.landing or warehouse.get_settings().landing_root
    outcome = run_demo(landing, args.start, args.end, seed=args.seed, progress=_progress)
    for line in outcome.where_lines():
        print(line)
    print(outcome.summary())
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _cmd_setup_roles(args) -> int:
    from cdw import warehouse
    from cdw.roles import ANALYST, AUDITOR, PERSONAL_DATA_READER, ROLES, add_login, setup_roles

    logins = ([(login, ANALYST) for login in args.analyst] + [(login, AUDITOR) for login in args.auditor]
              + [(login, PERSONAL_DATA_READER) for login in args.personal_data_reader])
    for login, _ in logins:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", login):
            raise UsageError(f"login {login!r}: lower-case letters, digits and _ only, at most 63")
    password = warehouse.get_settings().login_password
    with warehouse.connect(autocommit=True) as conn:
        warehouse.ensure_schema(conn)
        setup_roles(conn)
        for login, group in logins:
            created = add_login(conn, login, group, password)
            _progress(f"{login}: {'created' if created else 'updated'}, member of {group} only"
                      + ("" if password is None else ", password from CDW_LOGIN_PASSWORD"))
    print(f"roles {', '.join(ROLES)} set up"
          + (f"; logins: {', '.join(login for login, _ in logins)}" if logins else " (grant them to login users)"))
    return EXIT_OK


def _cmd_personal_data_reads(args) -> int:
    from cdw import personal_data, warehouse

    # the caller's own login, not the pipeline's role: an auditor reads the log as themself
    with warehouse.connect(autocommit=True) as conn:
        rows = personal_data.reads(conn, args.since)
    if args.json:
        print(personal_data.as_json(rows))
        return EXIT_OK
    for row in rows:
        print(personal_data.text_line(row))
    print(personal_data.summary(rows, args.since))
    return EXIT_OK


def _cmd_backfill(args) -> int:
    import json
    import os
    import shlex
    import subprocess

    from cdw import warehouse
    from cdw.airflow_home import DAG_ID, airflow_bin
    from cdw.business_date import backfill_bounds

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    with warehouse.connect(pipeline=True, autocommit=True) as conn:
        zone = warehouse.bank_timezone(conn)
    first, last = backfill_bounds(args.start, args.end, zone)
    command = [airflow_bin(), "backfill", "create", "--dag-id", DAG_ID, "--from-date", first, "--to-date", last,
               "--max-active-runs", str(args.max_active_runs),
               "--dag-run-conf", json.dumps({"drop_wait_minutes": args.drop_wait_minutes})]
    _progress(f"business dates {args.start}..{args.end} in {zone}: {shlex.join(command)}")
    if args.dry_run:
        print(shlex.join(command))
        return EXIT_OK
    done = subprocess.run(command, env=os.environ, check=False)
    if done.returncode != 0:
        print(f"FAILED airflow backfill create exited {done.returncode}")
        return EXIT_FAILED
    print(f"backfill of {args.start}..{args.end} created: the scheduler runs it, one date at a time;"
          f" `cdw report --date DATE` or the audit trail tells each date's outcome")
    return EXIT_OK


def _cmd_report(args) -> int:
    from cdw.publish import report

    published, line, path = report(args.date)
    print(line)
    return EXIT_OK if path is not None else EXIT_FAILED


def _cmd_dbt(args) -> int:
    from cdw.dbt import run_dbt_attached

    dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
    if not dbt_args:
        raise UsageError("cdw dbt: give dbt's command after --, e.g. cdw dbt -- build")
    return run_dbt_attached(dbt_args, business_date=args.date.isoformat() if args.date else None)


def _cmd_serve(args) -> int:
    from cdw.serve import serve
    from cdw.site import build_analytics_docs

    if args.dbt_docs:
        page = build_analytics_docs(progress=_progress)
        _progress(f"dbt docs of analytics: {page}" if page else "the site has no dbt docs (see above)")
    try:
        serve(args.host, args.port, progress=_progress)
    except OSError as exc:  # the address is in use, or not this machine's
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_INTERRUPTED  # serve_forever returns only when stopped


def _cmd_warehouse(args) -> int:
    from cdw import warehouse

    if args.action == "url":
        print(warehouse.warehouse_url(start=True))
    elif args.action == "start":
        url = warehouse.warehouse_url(start=True)
        print(f"warehouse running: {url}")
    elif args.action == "stop":
        if warehouse.get_settings().warehouse_url:
            raise warehouse.WarehouseError("CDW_WAREHOUSE_URL is set: that server is not managed by cdw")
        stopped = warehouse.stop_embedded()
        print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
    else:
        if warehouse.get_settings().warehouse_url:
            with warehouse.connect() as conn:
                version = conn.execute("show server_version").fetchone()[0]
            print(f"configured warehouse reachable (PostgreSQL {version})")
        else:
            status = warehouse.embedded_status()
            if not status["running"]:
                print(f"embedded warehouse not running (data directory {status['pgdata']})")
                return EXIT_FAILED
            tcp = f", TCP {status['listen']} (passwords)" if status["listen"] else ", Unix socket only"
            print(f"embedded warehouse running, pid {status['pid']}, data directory {status['pgdata']}{tcp}")
    return EXIT_OK


COMMANDS = {
    "generate": _cmd_generate,
    "load": _cmd_load,
    "run": _cmd_run,
    "demo": _cmd_demo,
    "setup-roles": _cmd_setup_roles,
    "report": _cmd_report,
    "backfill": _cmd_backfill,
    "dbt": _cmd_dbt,
    "warehouse": _cmd_warehouse,
    "personal-data-reads": _cmd_personal_data_reads,
    "serve": _cmd_serve,
}


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command itself, not a call from Python: SIGTERM stops it as Ctrl-C does,
        # so that `cdw run` stops its DAG run instead of leaving it behind
        signal.signal(signal.SIGTERM, _interrupt)
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("error: interrupted (Ctrl-C or SIGTERM)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        # one line, whatever the exception's text (driver messages span several)
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
