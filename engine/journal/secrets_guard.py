"""A last line of defence that keeps secrets out of the journal (reliability rule 8).

Configs reach the journal already redacted; this guard refuses anything that slipped through: a value under
a key that looks like an API key, secret, passphrase, password or private key, unless the value is a
redaction placeholder or the key names an environment variable (``api_key_env = "BINANCE_API_KEY"`` says
where the secret lives, not what it is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from engine.errors import CarryError

_SECRET_KEY = re.compile(
    r"(api_?key|secret|passphrase|password|passwd|private_?key|access_?token|auth_?token|bearer)"
)
# Keys that name where a secret comes from rather than hold it.
_REFERENCE_SUFFIXES = ("_env", "_env_var", "_envvar", "_file", "_path")


class SecretInJournalError(CarryError, ValueError):
    """A secret-looking value was about to be journaled; the message names the key, never the value."""


def _normalize(key: str) -> str:
    return key.strip().lower().replace("-", "_").replace(" ", "_").replace(".", "_")


def key_looks_secret(key: str) -> bool:
    """Return whether a key name looks like it holds a secret.

    Parameters
    ----------
    key : str
        A config or record key, in any case, with ``-``, ``_``, ``.`` or spaces as separators.

    Returns
    -------
    bool
        True for ``api_key``, ``apiKey``, ``API-SECRET``, ``passphrase``...; False for keys that name an
        environment variable or file holding the secret (``api_key_env``, ``secret_file``).
    """
    k = _normalize(key)
    if k.endswith(_REFERENCE_SUFFIXES):
        return False
    return _SECRET_KEY.search(k) is not None


def is_redacted(value: Any) -> bool:
    """Return whether a value is empty or a redaction placeholder (``"***"``, ``"<redacted>"``...)."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        v = value.strip()
        return v == "" or set(v) <= {"*", "x", "X", "#"} or "redacted" in v.lower()
    return False


def check_no_secrets(obj: Any, path: str = "") -> None:
    """Raise if a nested structure holds a non-redacted value under a secret-looking key.

    Parameters
    ----------
    obj : Any
        Parsed JSON (dicts, lists, scalars).
    path : str
        Where ``obj`` sits, for the error message.

    Raises
    ------
    SecretInJournalError
        Naming the dotted path of the offending key (never its value).
    """
    _walk(obj, path, under_secret=False)


def check_keys(keys: Iterable[str], what: str) -> None:
    """Raise if any key of a flat record (signals, figures) looks like a secret."""
    for key in keys:
        if key_looks_secret(key):
            raise SecretInJournalError(f"refusing to journal {what} key {key!r}: it looks like a secret")


def _walk(obj: Any, path: str, under_secret: bool) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            sub = f"{path}.{key}" if path else str(key)
            _walk(value, sub, under_secret or key_looks_secret(str(key)))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            _walk(value, f"{path}[{i}]", under_secret)
    elif under_secret and not is_redacted(obj):
        raise SecretInJournalError(
            f"refusing to journal a value at {path!r}: the key looks like a secret and the value is not "
            "redacted (redact it, or reference an environment variable with a *_env key)"
        )
