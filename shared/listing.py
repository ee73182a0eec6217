"""List queries: limit, marker, sort keys and directions, boolean filters (api.md §7).

Pages are keyset pages: rows strictly after the marker row in the active sort order, with
``created_at`` and ``id`` appended as tie-breakers, so a page never repeats or skips a row.
NULLs sort first ascending and last descending, as Masakari's lists do on MySQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oslo_utils import strutils
from sqlalchemy import Select, and_, false, or_, select, tuple_
from sqlalchemy.orm import Session

from shared import errors
from shared.settings import get_settings


@dataclass
class ListParams:
    limit: int
    marker: str | None
    sort_keys: list[str]
    sort_dirs: list[str]


def int_param(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidInput(reason=f"{name} must be an integer") from None
    if value < 0:
        raise errors.InvalidInput(reason=f"{name} must be >= 0")
    return value


def list_params(args: Any) -> ListParams:
    """Read ``limit``, ``marker``, ``sort_key``, ``sort_dir`` from a werkzeug MultiDict.

    Only ``limit`` and ``page_size`` (accepted and unused, as by Masakari) are checked here;
    like Masakari, the sort parameters are checked when the page is read (after the filters),
    see ``sort_order``. Sort values lose surrounding spaces.
    """
    max_limit = get_settings().osapi_max_limit
    limit = max_limit
    if "limit" in args:
        limit = min(int_param("limit", args.get("limit")), max_limit)
    if "page_size" in args:
        int_param("page_size", args.get("page_size"))
    marker = args.get("marker") if "marker" in args else None
    return ListParams(
        limit,
        marker,
        [key.strip() for key in args.getlist("sort_key")],
        [direction.strip() for direction in args.getlist("sort_dir")],
    )


def sort_order(params: ListParams) -> tuple[list[str], list[str]]:
    """Keys and directions with the defaults and tie-breakers applied (api.md §7)."""
    for direction in params.sort_dirs:
        if direction not in ("asc", "desc"):
            raise errors.InvalidInput(reason="Unknown sort direction, must be 'asc' or 'desc'")
    keys = list(params.sort_keys) or ["created_at"]
    dirs = list(params.sort_dirs) or ["desc"]
    if len(dirs) > len(keys):
        raise errors.InvalidInput(reason="Sort direction size exceeds sort key size")
    default_dir = dirs[0]
    dirs += [default_dir] * (len(keys) - len(dirs))
    for key in ("created_at", "id"):
        if key not in keys:
            keys.append(key)
            dirs.append(default_dir)
    return keys, dirs


def bool_filter(args: Any, name: str) -> bool | None:
    """Strict boolean query filter (§9, §13.1); ``None`` when absent."""
    if name not in args:
        return None
    try:
        return strutils.bool_from_string(args.get(name), strict=True)
    except ValueError as exc:
        raise errors.BadRequest(f"Invalid value for {name}: {exc}") from None


def _nullable(column) -> bool:
    return bool(column.property.columns[0].nullable)


def _after(column, value, direction):
    """Rows strictly after ``value`` in the list order (ASC NULLS FIRST, DESC NULLS LAST)."""
    if direction == "asc":
        return column.isnot(None) if value is None else column > value
    return false() if value is None else or_(column < value, column.is_(None))


def _order_by(column, direction):
    """Non-nullable columns keep the plain order, which PostgreSQL answers from an index."""
    order = column.asc() if direction == "asc" else column.desc()
    if not _nullable(column):
        return order
    return order.nulls_first() if direction == "asc" else order.nulls_last()


def _equal(column, value):
    return column.is_(None) if value is None else column == value


def page(
    session: Session,
    model: Any,
    query: Select,
    params: ListParams,
    sort_columns: set[str],
    uuid_column: str = "uuid",
) -> list[Any]:
    """Apply sort order, marker and limit to ``query`` (live rows of ``model``).

    Checks in Masakari's order: ``limit=0`` answers at once, then sort directions, marker,
    sort keys.
    """
    if params.limit == 0:
        return []
    keys, dirs = sort_order(params)
    marker_row = None
    if params.marker is not None:
        marker_row = _marker_row(session, model, params.marker, uuid_column)
    for key in keys:
        if key not in sort_columns:
            raise errors.InvalidSortKey(key=key)
    columns = [getattr(model, key) for key in keys]
    if marker_row is not None:
        query = query.where(_after_marker(columns, [getattr(marker_row, k) for k in keys], dirs))
    order = [_order_by(c, d) for c, d in zip(columns, dirs, strict=True)]
    return list(session.scalars(query.order_by(*order).limit(params.limit)))


def _after_marker(columns: list, values: list, dirs: list[str]):
    """Keyset condition: a row comparison when it is exact (one direction, no NULLs), which
    PostgreSQL answers from an index; otherwise the general OR chain."""
    nullable = any(_nullable(c) for c in columns)
    if len(set(dirs)) == 1 and not nullable:
        if dirs[0] == "asc":
            return tuple_(*columns) > tuple_(*values)
        return tuple_(*columns) < tuple_(*values)
    clauses = []
    for i, (column, value, direction) in enumerate(zip(columns, values, dirs, strict=True)):
        prefix = [_equal(c, v) for c, v in zip(columns[:i], values[:i], strict=True)]
        clauses.append(and_(*prefix, _after(column, value, direction)))
    return or_(*clauses)


def _marker_row(session: Session, model: Any, marker: str, uuid_column: str) -> Any:
    """The marker names a live row by integer ``id`` or by its UUID (§13.6)."""
    condition = getattr(model, uuid_column) == marker
    if marker.isascii() and marker.isdigit() and len(marker) < 10:  # "²" is a digit to Python
        condition = or_(model.id == int(marker), condition)
    row = session.scalars(select(model).where(condition, model.deleted == 0).limit(1)).first()
    if row is None:
        raise errors.MarkerNotFound(marker=marker)
    return row
