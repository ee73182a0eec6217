"""The monitor creates notifications without loading the api layer (house habit, issue 13)."""

from __future__ import annotations

import subprocess
import sys


def test_domain_modules_do_not_import_the_api_layer():
    probe = (
        "import sys\n"
        "import shared.notifications, shared.hosts, shared.segments, shared.vmoves\n"
        "print(sorted(m for m in sys.modules if m == 'shared.api' or m.startswith('shared.api.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
