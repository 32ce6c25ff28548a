"""What of dbt's messages reaches the audit trail (``cdw.dbt_results.safe_message``), and node names."""

from __future__ import annotations

import pytest

from cdw.dbt_results import node_name, safe_message


def test_a_database_error_keeps_the_objects_and_loses_the_row():
    message = ("Database Error in model fct_calls (models/marts/contact_center/fct_calls.sql)\n"
               '  null value in column "caller_key" of relation "fct_calls__dbt_tmp" violates not-null constraint\n'
               "  DETAIL:  Failing row contains (K-1, 王秘密, +8613912345678).\n"
               "  compiled code at target/run/cdw/models/marts/contact_center/fct_calls.sql")
    safe = safe_message(message)
    assert "王秘密" not in safe and "+8613912345678" not in safe and "DETAIL" not in safe
    assert 'column "caller_key" of relation "fct_calls__dbt_tmp"' in safe
    assert safe.startswith("Database Error in model fct_calls") and safe.endswith("fct_calls.sql")


@pytest.mark.parametrize(("message", "safe"), [
    ('invalid input syntax for type numeric: "abc"', 'invalid input syntax for type numeric: "***"'),
    ('value "13912345678" is out of range for type integer', 'value "***" is out of range for type integer'),
    ("where caller_number = '+8613912345678'", "where caller_number = '***'"),
    ("Got 1 result, configured to fail if != 0", "Got 1 result, configured to fail if != 0"),
    ('relation "build.dim_agent" does not exist', 'relation "build.dim_agent" does not exist'),
    ("", None),
    (None, None),
])
def test_quoted_values_are_masked_and_object_names_kept(message, safe):
    assert safe_message(message) == safe
    assert safe_message(safe) == safe  # masking again changes nothing


def test_a_long_message_is_cut():
    assert len(safe_message("x" * 10_000)) == 4000


@pytest.mark.parametrize(("unique_id", "name"), [
    ("model.cdw.fct_calls", "fct_calls"),
    ("seed.cdw.channels", "channels"),
    ("test.cdw.unique_dim_agent_agent_id.5860aca7fa", "unique_dim_agent_agent_id"),
    ("test.cdw.assert_facts_reconcile_to_raw", "assert_facts_reconcile_to_raw"),
    ("unit_test.cdw.int_customers_versioned.int_customers_versioned_scd2_cuts", "int_customers_versioned_scd2_cuts"),
])
def test_node_names(unique_id, name):
    assert node_name(unique_id) == name
