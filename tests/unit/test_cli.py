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


COMMANDS = ["generate", "load", "run", "warehouse", "demo", "setup-roles", "report", "dbt"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_every_command_has_help(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: cdw" in out
    assert "exit status: 0" in out and "--debug" in out
    if command:  # an example of the command itself, and the defaults it assumes
        assert f"example:\n  cdw {command[0]}" in out
    if command == ["generate"]:
        assert "(default: 42)" in out and "(default: Asia/Shanghai)" in out


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
        ["dbt"],
        ["dbt", "--"],
        ["setup-roles", "--analyst", "Robert'); drop table students;--"],
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
