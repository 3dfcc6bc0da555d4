"""A loopback emulator of Binance spot (``/api/v3``) and USD-M futures (``/fapi``) REST for the real ccxt.

It replays the recorded Binance streams from ../shared/data, matches orders against the recorded top of
book, settles funding at the recorded times, keeps spot balances and a one-way USD-M account, checks
request signatures like Binance, and injects faults (dropped responses, 429s, partial fills,
rejections, latency, resets). See `engine.venues.ccxt_factory` to point ccxt at it.
"""

from engine.venues.emulator.app import Emulator, EmulatorOptions, EmulatorThread, serve, start_emulator
from engine.venues.emulator.faults import FaultFileError, FaultRule, load_faults
from engine.venues.emulator.market import MarketKind, MarketSpec, Recording, load_recording
from engine.venues.emulator.venue import BinanceError, VenueConfig

__all__ = [
    "BinanceError",
    "Emulator",
    "EmulatorOptions",
    "EmulatorThread",
    "FaultFileError",
    "FaultRule",
    "MarketKind",
    "MarketSpec",
    "Recording",
    "VenueConfig",
    "load_faults",
    "load_recording",
    "serve",
    "start_emulator",
]
