"""The dashboard page in a real headless Chromium: during a simulated host failure it shows
the host turn dead and the evacuation advance, without a reload."""

from __future__ import annotations

import os
import time
from pathlib import Path

OBSERVE = """() => {
  const host = document.querySelector('[data-host="compute-001"]');
  const card = document.querySelector('.notification');
  const evacuate = card && card.querySelector('[data-step="EvacuateInstancesTask"]');
  return {
    loaded: window.vigilTestMarker || null,
    refreshes: Number(document.body.dataset.refreshes || 0),
    host: host && host.dataset.state,
    timelineMarks: host ? host.querySelectorAll('svg.timeline [data-lane]').length : 0,
    status: card && card.dataset.status,
    moved: card ? Number(card.dataset.moved) : 0,
    vmoves: card ? Number(card.dataset.vmoves) : 0,
    evacuate: evacuate && Number(evacuate.dataset.progress),
    problem: document.getElementById('problem').hidden ? null
      : document.getElementById('problem').textContent,
  };
}"""


def _watch(page, until, seconds: float, seen: list[dict]) -> dict:
    """Read the page every 0.1 s until ``until(view)`` holds; every view is kept in ``seen``."""
    deadline = time.monotonic() + seconds
    while True:
        view = page.evaluate(OBSERVE)
        seen.append(view)
        if until(view):
            return view
        assert time.monotonic() < deadline, f"page never got there; last view {view}"
        time.sleep(0.1)


def test_page_shows_the_host_turn_dead_and_the_evacuation_advance_without_reload(
    page, host_failure, tmp_path
):
    rig = host_failure.rig
    rig.run_ticks(2)
    victims = [s["id"] for s in rig.region.servers(host="compute-001")]
    assert len(victims) == 3

    page.goto(f"{host_failure.dashboard.url}?interval=0.25")
    page.evaluate("() => { window.vigilTestMarker = 'first load'; }")
    seen: list[dict] = []
    first = _watch(page, lambda v: v["host"] == "alive" and v["timelineMarks"] > 0, 30, seen)
    assert first["status"] is None and first["problem"] is None

    rig.region.power_off("compute-001")
    ticker = host_failure.ticking()
    try:
        _watch(page, lambda v: v["host"] == "dead", 60, seen)
        final = _watch(page, lambda v: v["status"] in ("finished", "error", "failed"), 90, seen)
    finally:
        ticker.stop()

    assert final["status"] == "finished", final
    assert final["moved"] == final["vmoves"] == 3 and final["evacuate"] == 1.0
    # The evacuation was seen under way before it was seen done: progress advanced live.
    under_way = [v for v in seen if v["status"] == "running" and v["moved"] < 3]
    assert under_way, "the page never showed the evacuation in progress"
    assert any(v["vmoves"] == 3 and v["moved"] < 3 for v in seen)
    # Same document throughout: no reload, many refreshes.
    assert final["loaded"] == "first load"
    assert final["refreshes"] > first["refreshes"]
    assert page.locator('[data-host="compute-001"] .pill').inner_text() == "dead"
    assert page.locator(".capacity").first.get_attribute("data-capacity") in (
        "unknown",
        "sufficient",
        "insufficient",
    )

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wanted = os.environ.get("VIGIL_DASHBOARD_SCREENSHOT")
    if wanted:  # regenerate docs/dashboard.png for the README
        Path(wanted).write_bytes(shot.read_bytes())
    for server_id in victims:
        assert rig.region.server(server_id)["host"] != "compute-001"
