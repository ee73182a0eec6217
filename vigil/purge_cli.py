"""``vigil db purge``: Masakari's ``masakari-manage db purge``, on Vigil's shared purge code."""

from __future__ import annotations

import argparse
import sys

from shared.purge import PurgeArgumentError, check_arguments


def register(sub: argparse._SubParsersAction, db_sub: argparse._SubParsersAction) -> None:
    parser = db_sub.add_parser(
        "purge",
        help="remove old finished notifications and soft-deleted rows",
        description=(
            "Hard-delete notifications that ended (finished, failed, ignored) more than N days "
            "ago together with their vmoves and progress, soft-deleted hosts, segments and "
            "vmoves deleted more than N days ago, and health samples past their retention."
        ),
    )
    # Strings, checked by check_arguments, so bad values get Masakari's messages and exit 1.
    parser.add_argument(
        "--age-in-days",
        "--age_in_days",
        dest="age_in_days",
        default="30",
        metavar="N",
        help="purge rows older than N days (default: 30)",
    )
    parser.add_argument(
        "--max-rows",
        "--max_rows",
        dest="max_rows",
        default="-1",
        metavar="M",
        help="remove at most M rows across all tables; -1 removes all that qualify (default: -1)",
    )
    parser.add_argument(
        "--database-url", help="default: VIGIL_DATABASE_URL, else the embedded database"
    )
    parser.set_defaults(func=_purge)


def _purge(args: argparse.Namespace) -> int:
    try:
        age_in_days, max_rows = check_arguments(args.age_in_days, args.max_rows)
    except PurgeArgumentError as exc:
        print(exc, file=sys.stderr)
        return 1

    from shared.locks import single_run
    from vigil.database import resolve_url

    try:
        with resolve_url(args.database_url) as url, single_run("purge", url) as mine:
            if not mine:
                print("another purge run is in progress; this one did nothing")
                return 0
            report = _run(age_in_days, max_rows, url)
    except Exception as exc:  # noqa: BLE001 - an operator command: say what failed, no traceback
        from shared.redaction import hide_passwords

        print(f"purge failed: {hide_passwords(str(exc))}", file=sys.stderr)
        return 1
    width = max(len(table) for table in report.removed)
    print(f"rows removed (older than {report.cutoff:%Y-%m-%d %H:%M:%S} UTC):")
    for table, count in report.removed.items():
        print(f"  {table:<{width}}  {count}")
    print(report.summary())
    return 0


def _run(age_in_days: int, max_rows: int, url: str):
    from shared.purge import purge

    if not sys.stdout.isatty():
        return purge(age_in_days, max_rows, url=url)

    from rich.progress import Progress

    from shared.purge import count_qualifying

    counts = count_qualifying(age_in_days, url)
    health = counts.pop("health_samples")
    budgeted = sum(counts.values()) if max_rows == -1 else min(sum(counts.values()), max_rows)
    with Progress(transient=True) as progress:
        task = progress.add_task("purging", total=budgeted + health)

        def advance(table: str, removed: int) -> None:
            progress.update(task, advance=removed, description=f"purging {table}")

        return purge(age_in_days, max_rows, url=url, on_batch=advance)
