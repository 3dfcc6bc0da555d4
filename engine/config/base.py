"""The base of every deployment config model, and TOML loading with errors that name the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.errors import ConfigError


class StrictModel(BaseModel):
    """A frozen pydantic model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def describe_validation_error(source: str, exc: ValidationError) -> str:
    """Render a pydantic error as lines ``source: field.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"{source}: {loc}: {err['msg']}")
    return "\n".join(lines)


def load_toml[M: BaseModel](path: str | Path, model: type[M]) -> M:
    """Load ``path`` as TOML and validate it into ``model``.

    Raises
    ------
    ConfigError
        If the file is missing, is not TOML, or a field is unknown or invalid; the message names the field.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw: dict[str, Any] = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(p), exc)) from exc
