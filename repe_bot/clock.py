"""Time helpers: an injectable clock and the activity day in the configured zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


class ActivityDay:
    """The activity day: it starts at ``reset`` local time in ``zone``, whatever the machine's own zone."""

    def __init__(self, zone: ZoneInfo, reset: time) -> None:
        self.zone = zone
        self.reset = reset

    def day_of(self, instant: datetime) -> date:
        local = as_utc(instant).astimezone(self.zone)
        shifted = local - timedelta(hours=self.reset.hour, minutes=self.reset.minute)
        return shifted.date()

    def period_of(self, instant: datetime) -> str:
        """Return the activity day containing ``instant`` as ``YYYY-MM-DD``."""
        return self.day_of(instant).isoformat()

    def start_of(self, day: date) -> datetime:
        """Return the UTC instant at which activity day ``day`` starts."""
        local = datetime.combine(day, self.reset, tzinfo=self.zone)
        return local.astimezone(timezone.utc)

    def week_start(self, instant: datetime) -> datetime:
        """Return the UTC start of the Monday activity day of the week containing ``instant``."""
        today = self.day_of(instant)
        return self.start_of(today - timedelta(days=today.weekday()))

    def next_reset_after(self, instant: datetime) -> datetime:
        return self.start_of(self.day_of(instant) + timedelta(days=1))

    def local(self, instant: datetime) -> datetime:
        return as_utc(instant).astimezone(self.zone)
