"""Which business date a pipeline run processes: decided once, from one source.

A business date is a calendar date in the bank's time zone: the zone the
warehouse recorded at its first load (``audit.warehouse_timezone``; before any
load, ``CDW_TIMEZONE``, default ``Asia/Shanghai``). Airflow's own date fields are unreliable for this:
``ds`` is formatted from the UTC date, manual and asset-triggered runs have no
logical date or data interval at all, and ``airflow dags test DAG DATE`` with a
data-interval timetable gives the interval of the period *before* ``DATE``.
The first task of the daily DAG therefore calls :func:`resolve_business_date`
and every later task reads its result. In order of precedence:

1. the ``business_date`` param (``airflow dags test DAG_ID -c '{"business_date": "2026-03-02"}'``,
   or "Trigger DAG w/ config" in the UI) — what ``cdw run`` passes;
2. else the start of the run's data interval, read in the bank's zone: the daily
   timetable's interval runs from 02:30 on the business date to 02:30 the next
   day (bank time), so its start falls on the business date it closes. The
   timetable's zone (``CDW_TIMEZONE`` when the DAG is parsed) must then be the
   warehouse's: a schedule in another zone would run at the wrong hour and name
   the wrong dates, so such a run is refused (:class:`ScheduleZoneMismatch`);
3. else (a manual run without a logical date) the day before today in the
   bank's zone: the latest business date whose drop can be complete.

No Airflow import here: the rule is unit-tested on its own.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadBusinessDate(ValueError):
    """The ``business_date`` param is not a date in ``YYYY-MM-DD`` form."""


class ScheduleZoneMismatch(ValueError):
    """A scheduled run's timetable is in another zone than the warehouse's."""


def parse_business_date(value: str | date) -> date:
    """A ``YYYY-MM-DD`` string (or a date) as a date; anything else raises :class:`BadBusinessDate`."""
    if isinstance(value, datetime):  # a datetime is a date subclass: refuse the ambiguity
        raise BadBusinessDate(f"business_date must be a date, not a timestamp: {value.isoformat()}")
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not _ISO_DATE.match(text):
        raise BadBusinessDate(f"business_date must be YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadBusinessDate(f"business_date is not a calendar date: {text!r}") from None


def resolve_business_date(
    param: str | date | None,
    data_interval_start: datetime | None,
    *,
    timezone_name: str,
    now: datetime | None = None,
    schedule_timezone: str | None = None,
) -> tuple[date, str]:
    """The business date to process and where it came from (``param``, ``data_interval``, ``previous_day``).

    ``timezone_name`` is the warehouse's zone, ``schedule_timezone`` the timetable's (when
    given, a date taken from the data interval requires them to be the same zone).
    ``data_interval_start`` and ``now`` must be timezone-aware (Airflow's are, in UTC).
    """
    zone = ZoneInfo(timezone_name)
    if param not in (None, ""):
        return parse_business_date(param), "param"
    if data_interval_start is not None:
        if data_interval_start.tzinfo is None:
            raise ValueError("data_interval_start must be timezone-aware")
        if schedule_timezone is not None and schedule_timezone != timezone_name:
            raise ScheduleZoneMismatch(
                f"the DAG's schedule runs in {schedule_timezone} (CDW_TIMEZONE), but the warehouse's zone is"
                f" {timezone_name}: set CDW_TIMEZONE={timezone_name} where the scheduler and workers run, or pass"
                " the business_date param")
        return data_interval_start.astimezone(zone).date(), "data_interval"
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zone).date() - timedelta(days=1), "previous_day"


def missed_dates(last_loaded: date | None, business_date: date) -> list[date]:
    """The dates between the latest earlier date that has a load and ``business_date``: none of them
    was ever loaded (a scheduler that was down, with catch-up off, skips them)."""
    if last_loaded is None or last_loaded >= business_date:
        return []
    return [last_loaded + timedelta(days=i) for i in range(1, (business_date - last_loaded).days)]


def backfill_bounds(start: date, end: date, timezone_name: str) -> tuple[str, str]:
    """``airflow backfill create``'s ``--from-date`` / ``--to-date`` for business dates ``start``..``end``.

    A scheduled run's logical date is the start of its data interval, 02:30 of its business date
    in the bank's zone (or the zone's next valid time on a night the clocks skip it): the span
    from the first date's local midnight to the last date's 23:59:59 holds exactly one per date.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    zone = ZoneInfo(timezone_name)
    first = datetime(start.year, start.month, start.day, tzinfo=zone)
    last = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=zone)
    return first.isoformat(), last.isoformat()
