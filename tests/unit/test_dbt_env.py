"""The dbt environment's libpq options (cdw.dbt.dbt_env, merge_pg_options), without a database."""

from __future__ import annotations

from cdw.dbt import dbt_env, merge_pg_options

KEY = b"k" * 32
URL = "postgresql://cdw@127.0.0.1:5432/cdw"


def test_dbt_env_is_idempotent_when_its_options_are_inherited(monkeypatch):
    """Cosmos leaves a task's environment in os.environ; the next task's options must not grow
    (they passed PostgreSQL's 10,000-byte startup packet after some thirty tasks)."""
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=0")
    first = dbt_env(URL, pseudonym_key=KEY)["PGOPTIONS"]
    for _ in range(40):
        monkeypatch.setenv("PGOPTIONS", dbt_env(URL, pseudonym_key=KEY)["PGOPTIONS"])
    assert dbt_env(URL, pseudonym_key=KEY)["PGOPTIONS"] == first
    assert first.startswith("-c statement_timeout=0 ")  # the user's own option is kept, once
    assert first.count("statement_timeout") == 1 and first.count("jit=off") == 1
    assert first.count("cdw.pseudonym_ipad=") == 1 and first.count("cdw.pseudonym_opad=") == 1


def test_the_pipelines_settings_replace_inherited_ones_in_any_spelling():
    merged = merge_pg_options("-c jit=on -cwork_mem=64MB --jit=on -c cdw.pseudonym_ipad=old --search-path=x",
                              ["-c jit=off", "-c cdw.pseudonym_ipad=new"])
    assert merged == "-cwork_mem=64MB --search-path=x -c jit=off -c cdw.pseudonym_ipad=new"


def test_a_key_change_between_tasks_takes_effect():
    inherited = dbt_env(URL, pseudonym_key=KEY)["PGOPTIONS"]
    other = merge_pg_options(inherited, ["-c cdw.pseudonym_ipad=abc", "-c cdw.pseudonym_opad=def"])
    assert "cdw.pseudonym_ipad=abc" in other and other.count("cdw.pseudonym_ipad=") == 1
