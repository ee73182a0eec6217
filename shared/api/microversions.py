"""Microversion negotiation (api.md §3, §14): ``OpenStack-API-Version: instance-ha X.Y``."""

from __future__ import annotations

import re

from shared import errors

SERVICE_TYPE = "instance-ha"
HEADER = "OpenStack-API-Version"
MIN_VERSION = (1, 0)
# 1.1 workflow details, 1.2 segment `enabled`, 1.3 vmoves, 1.4 host health (Vigil extension).
MAX_VERSION = (1, 4)
_FORMAT = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")
# Version numbers longer than this are past any supported one (and past Python's limit for
# converting digit strings); replies quote at most this much of a requested value.
_DIGITS = 9
_SHOWN = 40


def text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class InvalidVersionString(errors.BadRequest):
    """Malformed header: answered without microversion headers."""

    template = (
        "API Version String {value} is of invalid format. Must be of format MajorNum.MinorNum."
    )


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def requested(header: str | None) -> tuple[int, int]:
    """The effective version for a request; raises 400/406 as Masakari does."""
    value = None
    for item in (header or "").split(","):
        parts = item.strip().split(None, 1)
        if len(parts) == 2 and parts[0].lower() == SERVICE_TYPE:
            value = parts[1].strip()
    if value is None:
        return MIN_VERSION
    if value == "latest":
        return MAX_VERSION
    match = _FORMAT.match(value)
    if not match:
        raise InvalidVersionString(value=_shown(value))
    unsupported = errors.NotAcceptable(
        version=_shown(value), min=text(MIN_VERSION), max=text(MAX_VERSION)
    )
    if max(len(match.group(1)), len(match.group(2))) > _DIGITS:
        raise unsupported
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise unsupported
    return version


def response_headers(version: tuple[int, int]) -> dict[str, str]:
    return {HEADER: f"{SERVICE_TYPE} {text(version)}", "Vary": HEADER}
