"""A load killed mid-COPY leaves nothing half-visible, and a rerun gives the uninterrupted result."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from cdw.load import load_date
from tests.integration.test_load import raw_state, statuses
from tests.landing_builder import DAY, valid_records, write_drop

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def big_records(n: int) -> dict[str, list[dict]]:
    """A drop whose ledger file is large enough that its COPY takes a while."""
    records = valid_records()
    template = records["transactions"][0]
    d = DAY.isoformat()
    records["transactions"] = [
        dict(template, txn_id=f"{d}-B{i:08d}", txn_ts=f"{d}T{9 + i % 12:02d}:{i % 60:02d}:02+08:00",
             amount=f"{1 + i % 500}.25", balance_after=f"{1000 + i}.00", counterparty_bank="ICBC " * 20)
        for i in range(n)
    ]
    return records


def _wait_for_copy(url: str, proc: subprocess.Popen, table: str, timeout: float = 120) -> int:
    """Block until the loader's COPY into ``table`` has written rows; return how many."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the load finished before it could be killed"
            row = conn.execute(
                "select p.tuples_processed from pg_stat_progress_copy p join pg_class c on c.oid = p.relid"
                " where c.relname = %s and p.datname = current_database()", (table,)).fetchone()
            if row and row[0] > 0:
                return row[0]
            time.sleep(0.02)
    raise AssertionError("the COPY never started")


# a process standing for a load that is still running: it holds a work folder as a load does
HOLD_A_WORK_FOLDER = """
import sys, time
from pathlib import Path
from cdw.load import _work_folder
with _work_folder(Path(sys.argv[1]), 999) as folder:
    print(folder, flush=True)
    time.sleep(600)
"""


def test_sigkill_in_the_middle_of_copy_then_rerun(tmp_path, warehouse_url, db, monkeypatch):
    monkeypatch.setenv("CDW_HOME", str(tmp_path / "home"))
    work = tmp_path / "home" / "work"
    # a good first delivery of the date is what analysts had; a re-delivery is killed mid-COPY
    first_root = tmp_path / "first"
    write_drop(first_root)
    load_date(first_root, DAY)
    before = raw_state(db)

    root = tmp_path / "redelivery"
    write_drop(root, big_records(200_000))
    env = dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url)
    proc = subprocess.Popen([sys.executable, "-m", "cdw.cli", "load", "--landing", str(root), "--date", str(DAY)],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copied = _wait_for_copy(warehouse_url, proc, "transactions")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert copied < 200_000

    # the server ends the dead session's transaction: the earlier delivery is intact
    deadline = time.monotonic() + 30
    while db.execute("select count(*) from pg_stat_activity where application_name = 'cdw'"
                     " and datname = current_database() and pid <> pg_backend_pid()").fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert raw_state(db) == before
    assert statuses(db)[-1][1] == "RUNNING"  # the killed load never got to say otherwise
    # its decompressed copies (personal data in clear) are left behind, readable by nobody else
    (killed,) = work.glob("load-*")
    assert stat.S_IMODE(killed.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in killed.iterdir()} == {0o600}

    # the rerun removes the folder of the dead load, not that of a load still running
    holder = subprocess.Popen([sys.executable, "-c", HOLD_A_WORK_FOLDER, str(work)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    running = Path(holder.stdout.readline().strip())
    assert running.is_dir()
    try:
        result = load_date(root, DAY)
        assert not killed.exists() and running.is_dir()
    finally:
        holder.kill()
        holder.wait()
    after_rerun = raw_state(db)
    assert len(after_rerun["transactions"]) == 200_000
    # the killed load is now on record as FAILED (abandoned), the rerun as LOADED
    latest = statuses(db)
    assert [s for _, s in latest] == ["SUPERSEDED", "FAILED", "LOADED"]
    assert latest[-1][0] == result.load_id
    reason = db.execute("select failure_reason from audit.load_runs_latest where status = 'FAILED'").fetchone()[0]
    assert reason.startswith("abandoned")

    # identical to an uninterrupted load of the same drop into an empty warehouse
    db.execute("delete from raw.transactions; delete from raw.calls; delete from raw.customers;"
               " delete from raw.accounts; delete from raw.agents")
    load_date(root, DAY)
    assert raw_state(db) == after_rerun
    assert list(work.iterdir()) in ([], [work / ".lock"])  # the holder died: its folder went too


def test_two_loads_of_the_same_date_never_interleave(tmp_path, warehouse_url, db):
    root = tmp_path / "drop"
    write_drop(root, big_records(40_000))
    env = dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url)
    cmd = [sys.executable, "-m", "cdw.cli", "load", "--landing", str(root), "--date", str(DAY)]
    procs = [subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert db.execute("select count(*), count(distinct txn_id) from raw.transactions").fetchone() == (40_000,
                                                                                                     40_000)
    runs = db.execute("select load_id, status, started_at, finished_at from audit.load_runs"
                      " where status in ('RUNNING', 'LOADED') order by event_id").fetchall()
    # the second load started only after the first had finished (it waited on the date's lock)
    first_id = runs[0][0]
    first_done = next(r[3] for r in runs if r[0] == first_id and r[1] == "LOADED")
    second_start = next(r[2] for r in runs if r[0] != first_id and r[1] == "RUNNING")
    assert second_start >= first_done
    assert [s for _, s in statuses(db)] == ["SUPERSEDED", "LOADED"]


def test_connection_terminated_mid_copy_then_rerun(tmp_path, warehouse_url, db):
    root = tmp_path / "drop"
    write_drop(root, big_records(200_000))
    env = dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url)
    proc = subprocess.Popen([sys.executable, "-m", "cdw.cli", "load", "--landing", str(root), "--date", str(DAY)],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_copy(warehouse_url, proc, "transactions")
    # the DBA (or a failover) ends the loader's session from another connection
    db.execute("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'cdw'"
               " and datname = current_database() and pid <> pg_backend_pid()")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: {DAY} transactions.csv: ") and "terminat" in last and "Traceback" not in err
    assert out.splitlines()[-1] == "FAILED " + last.removeprefix("error: ")
    assert db.execute("select count(*) from raw.transactions").fetchone()[0] == 0

    result = load_date(root, DAY)
    assert db.execute("select count(*) from raw.transactions").fetchone()[0] == 200_000
    assert [s for _, s in statuses(db)] == ["FAILED", "LOADED"]
    assert statuses(db)[-1][0] == result.load_id


def test_disk_full_while_writing_fails_cleanly_then_rerun(tmp_path, db):
    import errno

    from cdw.landing import files

    write_drop(tmp_path, big_records(5_000))
    real_open = files.Path.open
    writes = {"n": 0}

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            writes["n"] += 1
            if writes["n"] > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(text)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

    def open_spool(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        return FullDisk(fh) if "w" in mode and path.suffix == ".txt" else fh

    with pytest.MonkeyPatch.context() as injected:
        injected.setattr(files.Path, "open", open_spool)
        injected.setattr(files, "CHUNK", 4096)  # many writes, so the disk fills mid-file
        with pytest.raises(OSError, match="No space left"):
            load_date(tmp_path, DAY)
    assert db.execute("select count(*) from raw.transactions").fetchone()[0] == 0
    failed = db.execute("select failure_reason from audit.load_runs_latest").fetchone()[0]
    assert "No space left on device" in failed

    load_date(tmp_path, DAY)
    assert db.execute("select count(*) from raw.transactions").fetchone()[0] == 5_000


def _hold_date_locks(conn, days) -> None:
    for day in days:
        conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (f"cdw.load.{day.isoformat()}",))


def _waiting_on_advisory_locks(conn) -> int:
    return conn.execute("select count(*) from pg_locks where locktype = 'advisory' and not granted"
                        " and database = (select oid from pg_database where datname = current_database())"
                        ).fetchone()[0]


def test_loads_of_two_dates_started_together_never_load_an_id_twice(tmp_path, warehouse_url, db):
    """Date 2 repeats 5 of date 1's ledger ids (with date 2's timestamps). Loaded one after the
    other, date 2's five are set aside; started together, each load's check across dates must
    still see the other's commit: exactly one date holds them, never both."""
    day1, day2 = DAY, date(2026, 3, 3)
    root = tmp_path / "landing"
    first, second = valid_records(day1), valid_records(day2)
    repeated = [t["txn_id"] for t in first["transactions"][:5]]
    for row, txn_id in zip(second["transactions"], repeated, strict=False):
        row["txn_id"] = txn_id
    for records, day in ((first, day1), (second, day2)):
        # more calls: the other load's window between its check and its commit is wider
        template = records["calls"][0]
        records["calls"] = [dict(template, call_id=f"{day}-K{i:05d}") for i in range(2_000)]
        write_drop(root, records, day=day)
    env = dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url, CDW_QUARANTINE_THRESHOLD="1",
               CDW_HOME=str(tmp_path / "home"))
    with psycopg.connect(warehouse_url, autocommit=True) as gate:
        for attempt in range(10):
            db.execute("delete from raw.transactions; delete from raw.calls; delete from raw.customers;"
                       " delete from raw.accounts; delete from raw.agents; delete from raw.id_ranges")
            # both loads wait on their date's lock, held here, and are let go at the same instant:
            # the start-up of two Python processes differs by more than the race's window
            _hold_date_locks(gate, (day1, day2))
            procs = [subprocess.Popen([sys.executable, "-m", "cdw.cli", "load", "--landing", str(root),
                                       "--date", str(day)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for day in (day1, day2)]
            deadline = time.monotonic() + 60
            while _waiting_on_advisory_locks(db) < 2:
                assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
                time.sleep(0.02)
            gate.execute("select pg_advisory_unlock_all()")
            outputs = [p.communicate(timeout=120) for p in procs]
            assert [p.returncode for p in procs] == [0, 0], (attempt, outputs)
            assert db.execute("select txn_id from raw.transactions group by 1 having count(*) > 1").fetchall() == []
            holders = db.execute("select business_date, count(*) from raw.transactions where txn_id = any(%s)"
                                 " group by 1", (repeated,)).fetchall()
            assert len(holders) == 1 and holders[0][1] == 5, (attempt, holders)
            other = day2 if holders[0][0] == day1 else day1
            aside = db.execute("select count(*) from audit.quarantined_records q join audit.load_runs_latest l"
                               " using (load_id) where l.business_date = %s and l.status = 'LOADED'"
                               " and q.reasons = array['duplicate_id:txn_id']", (other,)).fetchone()[0]
            assert aside == 5, attempt


def _cdw_load(root: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cdw.cli", "load", "--landing", str(root), "--date", str(DAY)],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _one_error_line(err: str) -> str:
    """The error: one line, the last on standard error, no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0] and "Traceback" not in err, err
    return errors[0].removeprefix("error: ")


def test_a_fault_outside_the_data_names_the_date_and_file_and_ends_with_a_summary(tmp_path, warehouse_url, db):
    """cli.md: an error is one line naming the date, the file and the fault; the last line of
    standard output is a one-line summary. Here the warehouse refuses the loader a table."""
    write_drop(tmp_path)
    db.execute("revoke insert on raw.transactions from cdw_loader")
    out, err = _cdw_load(tmp_path, dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url)).communicate(timeout=120)
    message = _one_error_line(err)
    assert message.startswith(f"{DAY} transactions.csv: ") and "InsufficientPrivilege" in message, message
    assert "permission denied for table transactions" in message
    assert out.splitlines()[-1] == f"FAILED {message}"
    reason = db.execute("select failure_reason from audit.load_runs_latest").fetchone()[0]
    assert reason.startswith(f"{DAY} transactions.csv: ") and "permission denied" in reason


def test_ctrl_c_stops_a_load_with_exit_130_and_one_line(tmp_path, warehouse_url, db):
    write_drop(tmp_path, big_records(200_000))
    proc = _cdw_load(tmp_path, dict(os.environ, CDW_WAREHOUSE_URL=warehouse_url))
    _wait_for_copy(warehouse_url, proc, "transactions")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    message = _one_error_line(err)
    assert message.startswith(f"{DAY} transactions.csv: ") and "Ctrl-C" in message, message
    assert out.splitlines()[-1] == f"FAILED {message}"
    assert db.execute("select count(*) from raw.transactions").fetchone() == (0,)
    assert [s for _, s in statuses(db)] == ["FAILED"]
