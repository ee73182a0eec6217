"""The ``vigil`` command: database upkeep, the simulated region, and local runs."""

from __future__ import annotations

import argparse
import sys


def _db_upgrade(args: argparse.Namespace) -> int:
    from shared.migrate import upgrade
    from shared.redaction import hide_password
    from vigil.database import resolve_url

    with resolve_url(args.database_url) as url:
        upgrade(url)
        print(f"database at head: {hide_password(url)}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vigil")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil keeps OpenStack VMs running when their host, a host process or the VM fails.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {_version()}")
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
        "vigil.dashboard",
        "vigil.watch",
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        yield module.register


# Commands that judge the settings themselves instead of refusing to start on a bad one.
SETTINGS_EXEMPT = ("settings",)


def main(argv: list[str] | None = None) -> int:
    from shared.preflight import problems
    from vigil.database import CommandError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in SETTINGS_EXEMPT:
        found = problems()
        if found:
            for line in found:
                print(f"vigil: {line}", file=sys.stderr)
            print("vigil: fix the settings above (`vigil settings --check`)", file=sys.stderr)
            return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"vigil {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a pager or `head` that stopped reading
        return 0


if __name__ == "__main__":
    sys.exit(main())
