"""``vigil db import-masakari``: bring a Masakari deployment's rows into Vigil, UUIDs kept."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

from shared import masakari_import as mi
from shared.redaction import hide_password

PROG = "vigil db import-masakari"


def _report(plan: mi.Plan, dry_run: bool) -> None:
    verb = "would import" if dry_run else "importing"
    print(f"Masakari schema {plan.revision}: {mi.KNOWN_REVISIONS[plan.revision]}")
    for table in plan.tables:
        parts = [f"{len(table.new)} new"]
        if table.soft_deleted:
            parts.append(f"{table.soft_deleted} of them soft-deleted")
        if table.updates:
            parts.append(f"{len(table.updates)} with a newer status")
        parts.append(f"{table.present} already in Vigil")
        print(f"  {table.label:<14} {verb}: {', '.join(parts)}")
    for conflict in plan.conflicts:
        print(f"  conflict: {conflict}")
    for violation in plan.violations:
        print(f"  refused: {violation}")
    if plan.unfinished:
        print(
            f"  note: {plan.unfinished} notifications are new/running/error: Vigil's retry sweep "
            "will pick them up; stop masakari-engine first if it may still be working on them"
        )


def _refusal(plan: mi.Plan) -> str | None:
    """The one line that stops a real import, or None."""
    if plan.conflicts:
        more = f" ({len(plan.conflicts)} conflicts; --dry-run lists them)"
        return f"conflict: {plan.conflicts[0]}; nothing was imported" + (
            more if len(plan.conflicts) > 1 else ""
        )
    if plan.violations:
        more = f" ({len(plan.violations)} rows refused; --dry-run lists them)"
        return f"{plan.violations[0]}; nothing was imported" + (
            more if len(plan.violations) > 1 else ""
        )
    return None


class _Bar:
    """A rich progress bar per table on a terminal; silent otherwise."""

    def __init__(self, plan: mi.Plan) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.tasks = {
            t.label: self.progress.add_task(t.label, total=len(t.new) + len(t.updates) or 1)
            for t in plan.tables
        }

    def __enter__(self) -> _Bar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, table: str, done: int, total: int) -> None:
        self.progress.update(self.tasks[table], completed=done)


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    from sqlalchemy import exc as sa_exc

    from vigil.database import resolve_url

    try:
        source = mi.read_source(args.source)
        with resolve_url(args.database_url) as url:
            try:
                return _import(source, url, args)
            except sa_exc.IntegrityError as exc:
                return _fail(
                    f"a row changed in Vigil's database while importing ({exc.orig}); the "
                    "batches written so far are complete: run the import again"
                )
            except sa_exc.OperationalError as exc:
                return _fail(f"cannot reach Vigil's database at {hide_password(url)}: {exc.orig}")
    except mi.ImportRefused as exc:
        return _fail(str(exc))


def _import(source: mi.Source, url: str, args: argparse.Namespace) -> int:
    from shared.db import session_scope

    newest = _schema_behind(url)
    if newest:
        return _fail(f"Vigil's database is not at schema {newest}: run `vigil db upgrade`")
    with session_scope(url) as session:
        plan = mi.plan(source, session)
    _report(plan, args.dry_run)
    refusal = _refusal(plan)
    if args.dry_run:
        return 1 if refusal else 0
    if refusal:
        return _fail(refusal)
    bar = _Bar(plan) if sys.stderr.isatty() and plan.writes else nullcontext(None)
    with bar as progress:
        mi.apply(plan, url, progress, args.batch_rows)
    print(f"imported {plan.writes} rows")
    return 0


def _schema_behind(url: str) -> str | None:
    """The newest revisions, when Vigil's database is not at all of them; else None."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from shared.db import get_engine
    from shared.migrate import MIGRATIONS

    heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
    with get_engine(url).connect() as conn:
        applied = set(MigrationContext.configure(conn).get_current_heads())
    return None if applied == heads else ", ".join(sorted(heads))


def register(sub, db_sub) -> None:
    parser = db_sub.add_parser(
        "import-masakari",
        help="import segments, hosts, notifications and vmoves from a Masakari database",
        description="Reads a Masakari database (MySQL/MariaDB or PostgreSQL) and imports its "
        "rows into Vigil's, keeping every UUID. Nothing is written when a name conflicts or a "
        "row cannot be held; a rerun imports only what is new.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="Masakari's [database] connection, e.g. mysql://masakari:PASS@db/masakari",
    )
    parser.add_argument(
        "--database-url",
        help="Vigil's database; default: VIGIL_DATABASE_URL, else the embedded one",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be imported and every conflict; write nothing",
    )
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=mi.BATCH_ROWS,
        help=f"rows per transaction (default {mi.BATCH_ROWS})",
    )
    parser.set_defaults(func=_run)
