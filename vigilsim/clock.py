"""The cloud clock: cloud time runs ``time_scale`` times faster than real time.

Every timed behaviour of the region (heartbeats, leases, evacuation latency, token expiry, HTTP
``Date`` headers) reads this clock, so a test can let a minute of cloud time pass in 0.6 s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class CloudClock:
    def __init__(self, time_scale: float = 1.0, start: datetime | None = None):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = float(time_scale)
        self._origin = start or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        self._real0 = time.monotonic()
        self._stamps: dict[int, str] = {}

    def seconds(self) -> float:
        """Cloud seconds elapsed since the region started (the model's time axis)."""
        return (time.monotonic() - self._real0) * self.time_scale

    def at(self, cloud_seconds: float) -> datetime:
        """The naive-UTC datetime of a point on the model's time axis."""
        return self._origin + timedelta(seconds=cloud_seconds)

    def now(self) -> datetime:
        return self.at(self.seconds())

    def seconds_at(self, moment: datetime) -> float:
        """The inverse of ``at``: where a naive-UTC datetime falls on the model's time axis."""
        return (moment - self._origin).total_seconds()

    def stamp(self, cloud_seconds: float) -> str:
        """``iso(at(s))`` to the second, memoised: thousands of Nodes share the same few instants."""
        key = int(cloud_seconds)
        text = self._stamps.get(key)
        if text is None:
            if len(self._stamps) > 100_000:
                self._stamps.clear()
            text = self._stamps[key] = iso(self.at(key))
        return text

    def real_delay(self, cloud_seconds: float) -> float:
        """Real seconds until ``cloud_seconds`` more cloud time has passed."""
        return max(0.0, cloud_seconds / self.time_scale)

    def sleep(self, cloud_seconds: float) -> None:
        time.sleep(self.real_delay(cloud_seconds))


def iso(dt: datetime, micro: bool = False) -> str:
    """Nova/Kubernetes style timestamp: ``2026-01-01T00:00:00Z`` (microseconds optional)."""
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(dt: datetime) -> str:
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")
