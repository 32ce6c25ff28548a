"""The command line as an interface (shared/contracts/cli.md): names, options, exit codes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cdw.cli import EXIT_USAGE, main

REPO = Path(__file__).resolve().parents[2]


def test_readme_quick_start_is_exactly_two_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert commands == ["bin/demo", "bin/test"]
    for command in commands:
        assert (REPO / command).stat().st_mode & 0o111, f"{command} is not executable"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line and not line.startswith("#")][-1] == "exec bin/test"
    # pytest's "no tests collected" (exit 5) must fail CI
    assert "-eq 5" in (REPO / "bin" / "test").read_text()


COMMANDS = ["generate", "load", "run", "warehouse", "demo", "setup-roles", "report", "dbt", "backfill",
            "personal-data-reads", "serve"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_command_has_help(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: cdw" in out
    # serve runs until stopped: its exit statuses start at 130
    assert ("exit status: 130" if command == ["serve"] else "exit status: 0") in out and "--debug" in out
    if command:  # an example of the command itself, and the defaults it assumes
        assert f"example:\n  cdw {command[0]}" in out
    if command == ["generate"]:
        assert "(default: 42)" in out and "(default: Asia/Shanghai)" in out
    if command == ["serve"]:
        assert "(default: 127.0.0.1)" in out and "(default: 8090)" in out


def test_debug_is_accepted_after_the_command_too(capsys):
    # the command's own error, not "unrecognized arguments: --debug"
    assert main(["load", "--landing", "/nonexistent/landing", "--date", "2026-03-02", "--debug"]) == EXIT_USAGE
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--out", "x", "--start", "2026-03-02"],
        ["generate", "--out", "x", "--start", "2026-3-2", "--end", "2026-03-04"],
        ["generate", "--out", "x", "--start", "2026-03-04", "--end", "2026-03-02"],
        ["generate", "--out", "x", "--start", "2026-03-02", "--end", "2026-03-04", "--customers", "0"],
        ["generate", "--out", "x", "--start", "2026-03-02", "--end", "2026-03-04", "--defects"],
        ["load", "--landing", "/nonexistent/landing", "--date", "2026-03-02"],
        ["load", "--landing", ".", "--date", "yesterday"],
        ["run", "--landing", ".", "--start", "2026-03-03", "--end", "2026-03-02"],
        ["warehouse", "restart"],
        ["report", "--date", "2026-02-30"],
        ["backfill", "--start", "2026-03-03", "--end", "2026-03-02"],
        ["backfill", "--start", "2026-03-02", "--end", "2026-03-03", "--max-active-runs", "0"],
        ["dbt"],
        ["dbt", "--"],
        ["setup-roles", "--analyst", "Robert'); drop table students;--"],
        ["setup-roles", "--personal-data-reader", "Case Handler"],
        ["personal-data-reads", "--since", "2026-3-1"],
        ["personal-data-reads", "--until", "2026-03-01"],
        ["serve", "--port", "65536"],
        ["serve", "--port", "-1"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "Traceback" not in err[0]


def test_console_script_is_installed():
    cdw = Path(sys.executable).parent / "cdw"
    done = subprocess.run([str(cdw), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "generate" in done.stdout


def test_ctrl_c_exits_130_with_one_line_and_no_traceback(tmp_path):
    """Every command: a KeyboardInterrupt ends it with exit 130 and one line (here: generate)."""
    cdw = Path(sys.executable).parent / "cdw"
    proc = subprocess.Popen([str(cdw), "generate", "--out", str(tmp_path), "--start", "2026-03-01",
                             "--end", "2026-12-31", "--transactions-per-day", "500000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline().startswith("building the bank")  # at work, past start-up
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() and err.strip().splitlines()[-1] == "error: interrupted (Ctrl-C or SIGTERM)"
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize(("zone", "start", "end", "bounds"), [
    ("Asia/Shanghai", "1994-03-02", "1994-03-06", ("1994-03-02T00:00:00+08:00", "1994-03-06T23:59:59+08:00")),
    # New York springs forward on 2031-03-09 (02:30 never happens that night): the bounds keep
    # each date's own offset, and the day's run (at 03:30) stays inside them
    ("America/New_York", "2031-03-08", "2031-03-10", ("2031-03-08T00:00:00-05:00", "2031-03-10T23:59:59-04:00")),
    ("Asia/Kolkata", "2000-01-01", "2000-01-01", ("2000-01-01T00:00:00+05:30", "2000-01-01T23:59:59+05:30")),
])
def test_backfill_bounds_hold_one_run_per_business_date_in_the_banks_zone(zone, start, end, bounds):
    from datetime import date

    from cdw.business_date import backfill_bounds

    assert backfill_bounds(date.fromisoformat(start), date.fromisoformat(end), zone) == bounds
