"""``python -m shared.power``: print the fencing choice the environment makes, or the one line
saying why the monitor would refuse to start (exit status 2). ``vigil dev`` asks this before it
starts anything against a real cloud."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from shared.power import FencingNotChosen, require_fencing_choice
from shared.settings import Settings


def main() -> int:
    try:
        print(require_fencing_choice(Settings()))
    except FencingNotChosen as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "__".join(str(p) for p in first["loc"]).upper()
        print(f"VIGIL_{where}: {first['msg']}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
