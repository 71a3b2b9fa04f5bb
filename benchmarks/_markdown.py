"""Markdown tables from DataFrames, without extra dependencies."""

from __future__ import annotations

import numbers
from pathlib import Path

import pandas as pd


def markdown_table(frame: pd.DataFrame, *, index: bool = True, digits: int = 3) -> str:
    """A GitHub markdown table; floats with ``digits`` decimals, numbers right-aligned."""
    frame = frame.reset_index() if index else frame
    columns = [str(c) for c in frame.columns]

    def cell(value) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, numbers.Integral):
            return f"{value:,}"
        if isinstance(value, numbers.Real):
            return f"{value:.{digits}f}"
        return str(value)

    numeric = [
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def publish(report: str, out: Path) -> None:
    """Print a benchmark's report and write it to ``out`` (its folder made if needed)."""
    print(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
