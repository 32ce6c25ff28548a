"""The project's linters pass: ruff (with its Airflow rules), yamllint, sqlfluff, dbt-bouncer.

All of them work offline. Their settings are in pyproject.toml, .yamllint.yml,
dbt_project/.sqlfluff and dbt-bouncer.yml; each test prints the linter's findings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cdw.dbt import run_dbt

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# dbt parse reads the profile but never connects: any well-formed URL does
NO_SERVER = "postgresql://nobody@127.0.0.1:1/none"


def _lint(*command: str) -> None:
    done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} found problems:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"


def test_ruff():
    _lint("ruff", "check", ".")


def test_yamllint():
    _lint("yamllint", ".")


def test_sqlfluff_on_the_dbt_models_and_tests():
    _lint("sqlfluff", "lint", "dbt_project/models", "dbt_project/tests", "--config", "dbt_project/.sqlfluff")


def test_dbt_bouncer_on_the_parsed_project(tmp_path):
    run_dbt(["parse"], url=NO_SERVER, target_path=str(tmp_path / "target"))
    config = (REPO / "dbt-bouncer.yml").read_text()
    assert "dbt_artifacts_dir: dbt_project/target" in config
    (tmp_path / "dbt-bouncer.yml").write_text(
        config.replace("dbt_artifacts_dir: dbt_project/target", f"dbt_artifacts_dir: {tmp_path / 'target'}"))
    _lint("dbt-bouncer", "run", "--config-file", str(tmp_path / "dbt-bouncer.yml"))
