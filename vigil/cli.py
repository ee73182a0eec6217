"""The ``vigil`` command: database upkeep, the simulated region, and local runs."""

from __future__ import annotations

import argparse
import sys


def _db_upgrade(args: argparse.Namespace) -> int:
    from shared.migrate import upgrade
    from vigil.database import resolve_url

    with resolve_url(args.database_url) as url:
        upgrade(url)
        print(f"database at head: {url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil keeps OpenStack VMs running when their host, a host process or the VM fails.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database upkeep")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply schema migrations (Alembic) up to the newest")
    up.add_argument(
        "--database-url", help="default: VIGIL_DATABASE_URL, else the embedded database"
    )
    up.set_defaults(func=_db_upgrade)

    for register in _extensions():
        register(sub, db_sub)
    return parser


def _extensions():
    """Sub-commands living next to what they drive, registered as their modules exist."""
    import importlib

    for module_name in (
        "vigil.purge_cli",
        "vigil.masakari_cli",
        "vigil.settings_cli",
        "vigilsim.cli",
        "vigil.dev",
        "vigil.demo",
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        yield module.register


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into a pager or `head` that stopped reading
        return 0


if __name__ == "__main__":
    sys.exit(main())
