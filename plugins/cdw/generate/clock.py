"""Instants of a business date in the bank's zone, and their ISO 8601 text.

The simulation counts *elapsed* seconds from the first instant of the business date
(local midnight, as the loader's business-date rule has it), not wall-clock seconds:
on a DST day the date is 23 or 25 hours long, a wall-clock time may not exist or may
occur twice, and only elapsed time keeps durations and the order of events true.
Each instant is written with the offset the zone has at that instant.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

_PROBE = 900  # seconds between offset probes: tzdata has no two transitions this close
_HMS: list[str] = []


def _hms() -> list[str]:
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
    return _HMS


def offset_text(off: timedelta) -> str:
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def day_start(tz: ZoneInfo, day: date) -> datetime:
    """First instant of ``day`` in ``tz`` (UTC), as the loader reckons it (local midnight, fold 0)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def sub_minute_offset(tz: ZoneInfo, day: date) -> timedelta | None:
    """The zone's offset at the start of ``day`` if it is not whole minutes (local mean time)."""
    off = day_start(tz, day).astimezone(tz).utcoffset()
    return off if off.total_seconds() % 60 else None


class Clock:
    """Elapsed seconds from the start of a business date -> ISO 8601 text with the right offset."""

    def __init__(self, tz: ZoneInfo, day: date):
        self.tz, self.day = tz, day
        self._start = day_start(tz, day)
        self.length = int((day_start(tz, day + timedelta(days=1)) - self._start).total_seconds())
        self._midnight = datetime.combine(day, time())
        self._segments = self._find_segments(0, self.length)
        # a plain day: one offset all day, 24 hours from 00:00; elapsed = wall-clock seconds
        self.regular = self.length == 86400 and len(self._segments) == 1 and self.wall_seconds(0) == 0
        if not self.regular:
            self.slot_hour = np.array(
                [self.local(k * 3600).hour for k in range(math.ceil(self.length / 3600))], dtype=np.int64
            )
            self.slot_len = np.minimum(3600, self.length - np.arange(len(self.slot_hour)) * 3600)

    # ---- one instant ---------------------------------------------------------------
    def local(self, seconds: int) -> datetime:
        return (self._start + timedelta(seconds=int(seconds))).astimezone(self.tz)

    def ts(self, seconds: int) -> str:
        """Text of the instant ``seconds`` after the start of the date (may lie outside it)."""
        return self.local(seconds).isoformat(timespec="seconds")

    def wall_seconds(self, seconds: int) -> int:
        """Local wall-clock seconds after 00:00 of the date at that instant (>= 86400 the next day)."""
        return int((self.local(seconds).replace(tzinfo=None) - self._midnight).total_seconds())

    def at_wall(self, day: date, at: time) -> str:
        """Text of a wall-clock time of ``day``; a time the zone skips is moved past the gap."""
        return datetime.combine(day, at, tzinfo=self.tz).astimezone(UTC).astimezone(self.tz).isoformat()

    # ---- many instants ---------------------------------------------------------------
    def from_wall(self, wall: np.ndarray) -> np.ndarray:
        """Elapsed seconds of wall-clock times of the date (a skipped time moves past the gap,
        a repeated one is taken the first time), kept on the date."""
        if self.regular:
            return wall
        out = np.empty_like(wall)
        values, inverse = np.unique(wall, return_inverse=True)
        for i, w in enumerate(values.tolist()):
            local = datetime.combine(self.day, time(), tzinfo=self.tz) + timedelta(seconds=w)
            out[inverse == i] = int((local - self._start).total_seconds())
        return np.clip(out, 0, max(0, self.length - 1))

    def draw(self, rng: np.random.Generator, hourly: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(hour slot, elapsed seconds) of ``n`` instants of the date, ``hourly`` weighting local hours.

        Slot k is the k-th elapsed hour: a repeated hour is drawn twice as a 25-hour day has it,
        a skipped one not at all."""
        if self.regular:  # the draws of a plain day, as they always were
            slot = rng.choice(24, n, p=hourly)
            return slot, slot * 3600 + rng.integers(0, 3600, n)
        if not self.length:  # a date the zone skipped (Pacific/Apia 2011-12-30): no instant to draw
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        w = np.asarray(hourly, dtype=float)[self.slot_hour]
        p = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
        slot = rng.choice(len(w), n, p=p)
        within = rng.integers(0, 3600, n)
        return slot, slot * 3600 + within * self.slot_len[slot] // 3600  # a short last slot

    def day_table(self) -> list[str]:
        """Text of every second of the business date, by elapsed second (fast path for large ledgers)."""
        if getattr(self, "_table", None) is not None:
            return self._table
        prefix = self.day.isoformat() + "T"
        hms = _hms()
        out: list[str] = []
        for a, b, off in self._segments:
            w0 = self.wall_seconds(a)
            text = offset_text(off)
            out.extend([prefix + t + text for t in hms[w0 : w0 + (b - a)]])
        self._table = out
        return out

    def _offset(self, seconds: int) -> timedelta:
        return self.local(seconds).utcoffset()

    def _find_segments(self, a: int, b: int) -> list[tuple[int, int, timedelta]]:
        """[(start, end, offset)] of elapsed seconds in [a, b) with one UTC offset each."""
        if b <= a:
            return []
        for s in (a, b - 1):
            if self._offset(s).total_seconds() % 60:
                raise ValueError(
                    f"{self.tz.key} has a UTC offset of {self._offset(s)} on {self.day} (local mean "
                    "time), which ISO 8601 text (+hh:mm) cannot express"
                )
        segments = []
        lo, off = a, self._offset(a)
        probe = a
        while probe < b - 1:
            nxt = min(probe + _PROBE, b - 1)
            if self._offset(nxt) != off:
                x, y = probe, nxt  # offset(x) == off != offset(y): find the first second that differs
                while y - x > 1:
                    mid = (x + y) // 2
                    x, y = (mid, y) if self._offset(mid) == off else (x, mid)
                segments.append((lo, y, off))
                lo, off = y, self._offset(y)
            probe = nxt
        segments.append((lo, b, off))
        return segments
