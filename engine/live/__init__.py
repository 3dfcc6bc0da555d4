"""Paper, testnet and live trading: TradingNode assembly, the stream recorder, the kill switch.

Runbook (the commands are in `engine.cli_live`; ``engine.cli`` registers them):

Paper trading against the loopback emulator (no internet, no keys)::

    .venv/bin/carry emulator --port 8765 &          # replays ../shared/data's 2023-04-05 Binance recordings
    .venv/bin/carry paper configs/paper/emulator.toml --duration 60
    .venv/bin/carry kill configs/paper/emulator.toml  # from another shell, to stop early

Paper trading on the Binance testnets (internet needed, keys not)::

    .venv/bin/carry paper configs/paper/binance_testnet.toml

Testnet orders: the same config with ``environment = "testnet"``, the ``starting_balances`` removed, and the
key variables it names exported; then ``carry live CONFIG``. A ``live`` config also needs
``--confirm-live``.

Stopping: SIGINT/SIGTERM, ``--duration``, or the kill switch. The kill switch is the file
``<run.dir>/KILL`` (``carry kill CONFIG`` writes it; any process may create it); the node checks for it every
``node.kill_poll_secs``. A stale flag is removed when a node starts. On any stop the risk controller goes
REDUCING (no new risk); the strategy exits the carry clip by clip (hedged on fills) while the node still runs
(unless ``close_on_stop = false``, which keeps the book for a restart to adopt; the kill switch always exits),
every open order is canceled and waited for, the
node stops, and an order still open would be journaled ``OPEN_AT_STOP``; the run ends ``COMPLETED`` (or
``KILLED``) in the journal (``<run.dir>/journal.sqlite`` unless ``[journal] url`` names another).

Venue clients: each leg's ``client`` is ``ccxt`` (default) or ``native`` (nautilus's own Binance / Bybit /
OKX adapter; see `engine.venues.native` for what each supports).

Restart after a crash: start the same config again. The execution clients read back the venue's open and
recent orders, fills and positions (``node.reconciliation_lookback_mins``, every page of it); the strategy
claims them, adopts the positions and hedges any imbalance before it trades on. If the venues cannot be read,
the node refuses to start (`engine.live.node.StartupError`) and sends nothing.
"""
