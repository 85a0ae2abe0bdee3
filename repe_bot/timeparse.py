"""Parse the times an admin types: deadlines and run times, and daily times of day.

Absolute times are local times in the configured zone; the result is always a UTC instant, which
is how every time is stored.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from repe_bot.activities import UsageError
from repe_bot.clock import as_utc
from repe_bot.i18n import _

_DURATION = re.compile(r"^(?:(?P<days>\d+)d)?(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?$")
_FULL = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})[ T]+(?P<hour>\d{1,2}):(?P<minute>\d{2})$"
)
_MONTH_DAY = re.compile(r"^(?P<month>\d{1,2})-(?P<day>\d{1,2}) +(?P<hour>\d{1,2}):(?P<minute>\d{2})$")
_CLOCK = re.compile(r"^(?P<hour>\d{1,2}):(?P<minute>\d{2})$")


def _invalid(value: str) -> UsageError:
    return UsageError(
        _(
            "invalid time {value!r}: use a local time such as 2026-12-24 20:00, 12-24 20:00 or 20:00, "
            "or a duration such as 30m, 2h, 1d or 1h30m"
        ).format(value=value)
    )


def parse_duration(value: str) -> timedelta | None:
    """Return the duration written as ``1d``, ``2h``, ``30m`` or a combination such as ``1h30m``, or None."""
    match = _DURATION.match(value.strip().lower())
    if match is None or not any(match.groupdict().values()):
        return None
    parts = {name: int(number) for name, number in match.groupdict().items() if number}
    return timedelta(**parts)


def _local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError:
        return None


def parse_deadline(value: str, now: datetime, zone: ZoneInfo) -> datetime:
    """Parse a deadline or run time and return it as a UTC instant.

    Accepted forms:

    - ``YYYY-MM-DD HH:MM``, returned as is even when past, so the caller reports it as past
      rather than as malformed;
    - ``MM-DD HH:MM``, this year, or next year when that time has passed;
    - ``HH:MM``, today, or tomorrow when that time has passed;
    - a duration from ``now`` such as ``30m``, ``2h``, ``1d`` or ``1h30m``.

    Raises UsageError naming the value and the accepted forms.
    """
    text = " ".join(value.split())
    duration = parse_duration(text)
    if duration is not None:
        if duration <= timedelta(0):
            raise UsageError(
                _("duration {value!r} is zero; give a positive duration such as 30m").format(value=value)
            )
        return as_utc(now) + duration

    local_now = as_utc(now).astimezone(zone)
    full = _FULL.match(text)
    if full:
        parts = {name: int(number) for name, number in full.groupdict().items()}
        result = _local(zone, **parts)
        if result is None:
            raise _invalid(value)
        return result.astimezone(timezone.utc)

    month_day = _MONTH_DAY.match(text)
    if month_day:
        parts = {name: int(number) for name, number in month_day.groupdict().items()}
        result = _local(zone, local_now.year, **parts)
        if result is not None and result <= local_now:
            result = _local(zone, local_now.year + 1, **parts)
        if result is None:
            raise _invalid(value)
        return result.astimezone(timezone.utc)

    clock = _CLOCK.match(text)
    if clock:
        hour, minute = int(clock.group("hour")), int(clock.group("minute"))
        result = _local(zone, local_now.year, local_now.month, local_now.day, hour, minute)
        if result is None:
            raise _invalid(value)
        if result <= local_now:
            tomorrow = local_now.date() + timedelta(days=1)
            result = datetime(tomorrow.year, tomorrow.month, tomorrow.day, hour, minute, tzinfo=zone)
        return result.astimezone(timezone.utc)

    raise _invalid(value)


def parse_time_of_day(value: str) -> str:
    """Return a 24-hour time of day normalised to ``HH:MM`` (``8:30`` becomes ``08:30``)."""
    match = _CLOCK.match(value.strip())
    if match:
        hour, minute = int(match.group("hour")), int(match.group("minute"))
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    raise UsageError(
        _("invalid time of day {value!r}: use 24-hour HH:MM, for example 08:30").format(value=value)
    )
