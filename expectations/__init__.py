"""Validation suites as code: one module per gated table, named after it.

Every module defines

* ``SUITE``: the suite's name (``raw_transactions``, ``fct_transactions``, ...);
* ``TABLE``: ``(schema, table)``; the schema ``"{build}"`` means the private build schema
  the star schema is audited in before publication;
* ``BATCH``: ``("daily", column)`` (the business date's rows: a GX daily batch definition on
  that date column) or ``("whole", None)`` (small dimensions: the whole table);
* ``FILE_ENTITY`` (raw suites only): the landing entity; a drop without that file
  (a snapshot on a day with no change) skips the suite;
* ``expectations(p: SuiteParams) -> list[Expectation]``: GX 1.x expectations, each with
  ``severity`` ``critical`` (stops publication) or ``warning`` (reported; publishes) and
  ``meta["name"]``, the short name recorded in ``audit.validation_results.expectation``.

``cdw.quality`` loads this package by path (it is not on the import path of Airflow
workers), builds the suites for one business date and load, and runs them in PostgreSQL.
"""
