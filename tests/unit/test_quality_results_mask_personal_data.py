"""GX results keep no value of a personal column: they reach the audit trail and the served Data Docs."""

from __future__ import annotations

import json

from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from cdw.quality import PERSONAL_COLUMNS, _observed, _without_personal_values

NAME, PHONE = "Zhang Wei-Personal", "+8613800138000"


def _result(kind: str, kwargs: dict, result: dict) -> ExpectationValidationResult:
    return ExpectationValidationResult(success=False, result=result,
                                       expectation_config=ExpectationConfiguration(type=kind, kwargs=kwargs))


def test_values_and_rows_of_personal_columns_are_masked_and_others_kept():
    assert {"full_name", "phone", "email", "caller_number", "counterparty_account", "agent_name"} <= PERSONAL_COLUMNS
    suite = ExpectationSuiteValidationResult(success=False, suite_name="raw_customers", results=[
        _result("expect_column_value_lengths_to_be_between", {"column": "full_name", "max_value": 5},
                {"element_count": 3, "unexpected_count": 1, "partial_unexpected_list": [NAME],
                 "partial_unexpected_counts": [{"value": NAME, "count": 1}]}),
        _result("expect_column_values_to_be_in_set", {"column": "segment", "value_set": ["MASS"]},
                {"element_count": 3, "unexpected_count": 1, "partial_unexpected_list": ["GOLD"]}),
        _result("unexpected_rows_expectation", {"unexpected_rows_query": "select * from {batch}"},
                {"observed_value": 1, "details": {"unexpected_rows": [
                    {"customer_id": "C1", "full_name": NAME, "phone": PHONE, "birth_date": "2099-01-01"}]}}),
    ])
    _without_personal_values(suite)
    text = json.dumps(suite.to_json_dict(), default=str)
    assert NAME not in text and PHONE not in text
    length, code_set, rows = (r.result for r in suite.results)
    assert length["partial_unexpected_list"] == ["***"]
    assert length["partial_unexpected_counts"] == [{"value": "***", "count": 1}]
    assert _observed(length) == '1 unexpected of 3: ["***"]'  # what audit.validation_results keeps
    assert code_set["partial_unexpected_list"] == ["GOLD"]  # not personal: shown, it explains the failure
    assert rows["details"]["unexpected_rows"] == [
        {"customer_id": "C1", "full_name": "***", "phone": "***", "birth_date": "2099-01-01"}]
