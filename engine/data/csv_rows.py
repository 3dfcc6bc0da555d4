"""The row loop every CSV loader shares: open, check the header, count lines, skip blanks, check the width.

Bad rows are counted in ``LoadStats`` with their line number and never raise; a wrong header does, since
then no row can be trusted.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from engine.data.stats import LoadStats
from engine.errors import DataFormatError

HeaderCheck = Callable[[Path, list[str] | None], None]


def check_header(path: Path, header: Sequence[str] | None, expected: Sequence[str]) -> None:
    """Raise unless ``header`` is exactly ``expected`` (surrounding blanks ignored).

    Raises
    ------
    DataFormatError
        Naming the file, the expected columns and what was found.
    """
    found = [h.strip() for h in header] if header is not None else None
    if found != list(expected):
        raise DataFormatError(f"{path}: unexpected header {found!r}; expected columns {', '.join(expected)}")


def csv_rows(
    path: Path,
    columns: Sequence[str],
    stats: LoadStats,
    *,
    preamble_lines: int = 0,
    header_check: HeaderCheck | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_no, fields)`` for each row of ``path`` that has exactly ``len(columns)`` fields.

    Parameters
    ----------
    path : Path
        A UTF-8 CSV; a byte-order mark is dropped.
    columns : Sequence[str]
        The expected header (checked with ``check_header`` unless ``header_check`` is given).
    stats : LoadStats
        Counts every line read, blank lines as skipped, and rows of the wrong width as bad (with samples).
    preamble_lines : int
        Lines before the header (e.g. a provenance line) to pass over.
    header_check : callable, optional
        Replaces the exact header check for files whose header varies.

    Raises
    ------
    DataFormatError
        If the header is not the expected one.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        for _ in range(preamble_lines):
            next(reader, None)
        header = next(reader, None)
        if header_check is not None:
            header_check(path, header)
        else:
            check_header(path, header, columns)
        width = len(columns)
        for row in reader:
            stats.lines += 1
            if not row:
                stats.skipped += 1
                continue
            if len(row) != width:
                stats.bad(reader.line_num, f"expected {width} fields, got {len(row)}")
                continue
            yield reader.line_num, row
