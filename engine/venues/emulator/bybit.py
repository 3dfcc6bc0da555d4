"""Bybit v5 REST (`/v5/...`) on the emulator's exchange core, for ccxt's `bybit` class.

(Placeholder: routes are added in a following change.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator


def add_routes(emu: Emulator) -> None:
    """Register this protocol's routes on emu.app."""
