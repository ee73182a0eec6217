"""Live progress bars for recoveries, shared by ``vigil demo`` and ``vigil watch``.

One bar per item (a server, a workflow step, a vmove), keyed so each poll just states where
every item is now; a headline above the bars says what is going on overall.
"""

from __future__ import annotations

from rich.console import Group
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text


class RecoveryBars:
    """A rich renderable: a headline and ``label ▕bar▏ words`` rows, updated in place."""

    def __init__(self, label_width: int = 8) -> None:
        self.progress = Progress(
            TextColumn(f"{{task.description:<{label_width}}}"),
            BarColumn(),
            TextColumn("{task.fields[stage]}"),
        )
        self.tasks: dict[str, TaskID] = {}
        self.headline = Text("")

    def show(self, key: str, label: str, percent: float, words: str) -> None:
        """Add the bar ``key`` or move it to ``percent`` (0-100) with ``words`` beside it."""
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(label, total=100, stage=words)
        self.progress.update(self.tasks[key], completed=percent, stage=words)

    def say(self, headline: str) -> None:
        self.headline = Text(headline, style="bold")

    def __rich__(self) -> Group:
        return Group(self.headline, self.progress)
