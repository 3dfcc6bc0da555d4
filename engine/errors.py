"""The small shared error hierarchy of carry."""

from __future__ import annotations


class CarryError(Exception):
    """Base class of every error carry raises on purpose."""


class DataFileMissingError(CarryError):
    """A data file the run needs is not where the data root says it is."""


class DataFormatError(CarryError):
    """A data file is not in the format its loader reads (wrong header, wrong columns)."""


class ConfigError(CarryError):
    """A deployment config is invalid; the message names the field."""
