"""Passwords never leave the process in a printed or logged URL.

``hide_password`` masks the password of one URL (``postgresql://vigil:***@db/vigil``);
``hide_passwords`` does the same to every ``scheme://user:password@`` inside a text, for
messages that quote a URL they were given (driver errors, tracebacks turned into one line).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<password>[^@\s]*)@")


def hide_password(url: str | None) -> str:
    """The URL with its password (if any) replaced by ``***``; anything unparsable is masked
    as a whole text instead of being echoed."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:
        return hide_passwords(url)
    if password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{MASK}@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def hide_passwords(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password masked."""
    return _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)


def database_reason(exc: BaseException) -> str:
    """The first line of what the database driver said (SQLAlchemy's ``orig``), any URL
    password in it hidden: what a command prints when the database refuses it."""
    orig = getattr(exc, "orig", None)
    return hide_passwords(str(orig if orig is not None else exc).strip().splitlines()[0])
