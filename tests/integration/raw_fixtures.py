"""Write raw rows straight into the raw schema (no loader), as the loader would leave them.

Every raw row carries ``load_id`` and ``business_date``; a business date holds only
its current load, so :func:`deliver` replaces the date's rows of each entity given.
Builders (:func:`customer`, :func:`account`, ...) fill the contract's columns with
plausible defaults, so a test spells out only what matters to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg
from psycopg import sql

from cdw.landing.contract import BY_ENTITY


def customer(customer_id: str, **kw) -> dict:
    return {
        "customer_id": customer_id,
        "full_name": f"Name of {customer_id}",
        "gender": "F",
        "birth_date": "1980-06-15",
        "education": "BACHELOR",
        "city": "Shanghai",
        "phone": "+8613800000000",
        "email": f"{customer_id.lower()}@example.com",
        "segment": "MASS",
        "join_date": "2015-01-01",
        "kyc_status": "VERIFIED",
        **kw,
    }


def account(account_id: str, customer_id: str, **kw) -> dict:
    return {
        "account_id": account_id,
        "customer_id": customer_id,
        "product": "CURRENT",
        "currency": "CNY",
        "open_date": "2016-01-01",
        "close_date": None,
        "status": "ACTIVE",
        "branch_id": "BR001",
        **kw,
    }


def agent(agent_id: str, **kw) -> dict:
    return {
        "agent_id": agent_id,
        "agent_name": f"Agent {agent_id}",
        "team": "T1",
        "site": "Shanghai",
        "hire_date": "2020-01-01",
        **kw,
    }


def txn(txn_id: str, account_id: str, txn_ts: str, amount: str, **kw) -> dict:
    return {
        "txn_id": txn_id,
        "account_id": account_id,
        "txn_ts": txn_ts,
        "amount": amount,
        "currency": "CNY",
        "direction": "DEBIT",
        "txn_type": "PAYMENT",
        "channel": "MOBILE",
        "branch_id": None,
        "balance_after": "1000.00",
        "counterparty_account": "6222000000000000",
        "counterparty_bank": "ICBC",
        "reverses_txn_id": None,
        **kw,
    }


def call(call_id: str, ivr_entry_ts: str, end_ts: str, outcome: str, **kw) -> dict:
    return {
        "call_id": call_id,
        "direction": "INBOUND",
        "customer_id": None,
        "caller_number": "+8613900000000",
        "service": "RETAIL",
        "priority": 0,
        "ivr_entry_ts": ivr_entry_ts,
        "ivr_exit_ts": kw.pop("ivr_exit_ts", ivr_entry_ts),
        "queue_entry_ts": None,
        "queue_exit_ts": None,
        "answer_ts": None,
        "end_ts": end_ts,
        "outcome": outcome,
        "agent_id": None,
        "hold_seconds": None,
        "wrap_up_seconds": None,
        "reason_code": None,
        "resolved": None,
        "csat_score": None,
        "campaign_id": None,
        **kw,
    }


def _table_columns(conn: psycopg.Connection, entity: str) -> list[str]:
    found = conn.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s",
        (entity,),
    ).fetchall()
    return [name for (name,) in found]


def insert(
    conn: psycopg.Connection, entity: str, business_date: str, rows: Iterable[Mapping], load_id: int = 1
) -> int:
    """Append ``rows`` to ``raw.<entity>`` for ``business_date``; returns the row count.

    Loader bookkeeping columns other than load_id and business_date (e.g. ``source_row``,
    the record's position in its file) are filled with the row's 1-based position.
    """
    contract = list(BY_ENTITY[entity].column_names)
    bookkeeping = [
        c for c in _table_columns(conn, entity) if c not in contract and c not in ("load_id", "business_date")
    ]
    columns = ["load_id", "business_date", *bookkeeping, *contract]
    statement = sql.SQL("insert into raw.{} ({}) values ({})").format(
        sql.Identifier(entity),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    values = []
    for position, row in enumerate(rows, start=1):
        unknown = set(row) - set(contract)
        if unknown:
            raise ValueError(f"raw.{entity} has no column(s) {sorted(unknown)}")
        values.append(
            [load_id, business_date, *([position] * len(bookkeeping)), *(row.get(c) for c in contract)]
        )
    if values:
        with conn.cursor() as cur:
            cur.executemany(statement, values)
    return len(values)


def deliver(
    conn: psycopg.Connection, business_date: str, load_id: int = 1, **entities: Iterable[Mapping]
) -> None:
    """Load one business date: for each entity given, its rows replace the date's rows."""
    with conn.transaction():
        for entity, rows in entities.items():
            conn.execute(
                sql.SQL("delete from raw.{} where business_date = %s").format(sql.Identifier(entity)),
                (business_date,),
            )
            insert(conn, entity, business_date, rows, load_id)


def truncate_raw(conn: psycopg.Connection) -> None:
    """Empty every raw table (a new scenario in the same database)."""
    for entity in BY_ENTITY:
        conn.execute(sql.SQL("truncate raw.{}").format(sql.Identifier(entity)))


def record_timezone(conn: psycopg.Connection, timezone: str, business_date: str, load_id: int = 1) -> None:
    """Record the warehouse's zone as its first committed load does (``audit.warehouse_timezone``,
    one row, append-only: a database records it once). Needs the owner, not the pipeline's role."""
    conn.execute(
        "insert into audit.warehouse_timezone (timezone, source, load_id, business_date) "
        "values (%s, 'manifest', %s, %s)",
        (timezone, load_id, business_date),
    )
