"""Tables printed with rich, never truncating a number to fit a narrow terminal, and written as Markdown and CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], caption: Optional[str] = None,
                left_columns: int = 1) -> None:
    """Print a table; the first ``left_columns`` columns are left-aligned, the rest right-aligned."""
    table = Table(title=title)
    for index, name in enumerate(header):
        table.add_column(name, justify="left" if index < left_columns else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    needed = sum(widths) + 3 * len(widths) + 1
    console = Console()
    if console.width < needed:
        console = Console(width=needed)
    console.print(table)
    if caption:
        console.print(caption, soft_wrap=True, highlight=False)


def write_table(stem: Path, header: Sequence[str], rows: Sequence[Sequence[str]], note: Optional[str] = None) -> None:
    """``<stem>.csv`` and ``<stem>.md`` holding the table; ``note``, a line under the Markdown table."""
    with stem.with_suffix(".csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |" for row in rows]
    stem.with_suffix(".md").write_text("\n".join(lines + ([f"\n{note}"] if note else [])) + "\n")
