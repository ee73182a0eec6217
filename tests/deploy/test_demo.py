"""`vigil demo` (the README's first command) recovers every HA_Enabled server and says so."""

from __future__ import annotations

import pytest

from vigil.cli import main


@pytest.mark.slow
def test_demo_recovers_every_ha_enabled_server_and_exits_0(capsys):
    status = main(["demo", "--hosts", "3", "--servers", "3", "--tick", "1s", "--time-scale", "20"])
    out = capsys.readouterr().out
    assert "3/3 HA_Enabled servers recovered" in out
    assert "Every HA_Enabled server was recovered." in out
    assert status == 0


def test_demo_with_impossible_arguments_is_one_clear_error(capsys):
    assert main(["demo", "--hosts", "1"]) == 2
    assert capsys.readouterr().err.startswith("vigil demo: needs --hosts of at least 2")
    assert main(["demo", "--tick", "soon"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "vigil demo: --tick: 'soon' is not a duration such as 30s or 1m30s"
    )
