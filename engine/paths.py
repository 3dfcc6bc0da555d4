"""Where carry finds its data and writes its runs."""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import DataFileMissingError

PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "CARRY_DATA_DIR"
_HOW_TO_GET = (
    "The recordings are the public files listed in ../shared/data/README.md; put them under the data root "
    f"or point --data-dir / ${DATA_DIR_ENV} at a folder holding them."
)


def data_root(override: str | Path | None = None) -> Path:
    """Return the data root: ``override`` (``--data-dir``), else ``$CARRY_DATA_DIR``, else ``../shared/data``.

    Parameters
    ----------
    override : str or Path, optional
        An explicit data directory, as given on the command line.
    """
    if override:
        return Path(override).expanduser().resolve()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return (PROJECT_ROOT.parent / "shared" / "data").resolve()


def require_file(path: str | Path, root: Path | None = None) -> Path:
    """Resolve ``path`` against the data root and check that it exists.

    Raises
    ------
    DataFileMissingError
        Naming the resolved path and how to get the data.
    """
    p = Path(path)
    if not p.is_absolute():
        p = (root if root is not None else data_root()) / p
    if not p.is_file():
        raise DataFileMissingError(f"data file not found: {p}. {_HOW_TO_GET}")
    return p
