"""Airflow Assets of the warehouse, defined once: producers and consumers import them from here.

``ANALYTICS`` is updated by the daily DAG's ``publish`` task each time a business
date is published to the ``analytics`` schema (``shared/contracts/warehouse.md``);
DAGs that feed on the published warehouse schedule on it.

The URI uses a ``cdw://`` scheme on purpose: the postgres provider validates
``postgres://`` URIs as ``host:port/database/schema/table`` (one table), and the
warehouse's host differs between deployments (the embedded server listens on a
socket directory). The Asset names the published schema, wherever it lives.
"""

from __future__ import annotations

from airflow.sdk import Asset

ANALYTICS = Asset(name="cdw_analytics", uri="cdw://warehouse/analytics", group="cdw")
