"""The gate compiles its kernels when it is built, not on the first order inside the event loop."""

from __future__ import annotations

import subprocess
import sys

from engine.paths import PROJECT_ROOT

# A fresh interpreter: in the test process another test may have called the kernels already.
_SCRIPT = """
from nautilus_trader.backtest.engine import BacktestEngine
from risk import kernels
from risk.gate import RiskGate
from risk.limits import RiskLimits, to_kernel_arrays
from risk.mirror import BookMirror

entry = [kernels.net_delta, kernels.margin, kernels.liquidation, kernels.shock_headroom,
         kernels.funding_drag, kernels.venue_exposure, kernels.pretrade_check]
before = [len(f.signatures) for f in entry]
engine = BacktestEngine()
mirror = BookMirror([], engine.kernel.cache, engine.kernel.portfolio)
RiskGate(mirror, to_kernel_arrays(RiskLimits(), mirror.venues, mirror.assets))
print("RESULT", before, [len(f.signatures) for f in entry])
"""


def test_gate_when_built_then_every_kernel_compiled_before_any_order() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
    assert line == "RESULT [0, 0, 0, 0, 0, 0, 0] [1, 1, 1, 1, 1, 1, 1]"
