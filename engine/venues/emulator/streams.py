"""Binance websocket market streams on the emulator, for ccxt.pro and nautilus's native Binance client.

(Placeholder: routes are added in a following change.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.venues.emulator.app import Emulator


def add_routes(emu: Emulator) -> None:
    """Register this protocol's routes on emu.app."""
