"""Funding settlement for backtests: nautilus's simulated exchange never pays funding, this module does.

At each settlement time ``T`` every open perp position on the venue is paid ``-signed_qty * mark * rate``
into the venue balance (a short receives when the rate is positive), and a ``FundingPaymentRecord`` is
published for the journal.

Which figures it uses, from the recorded ``FundingRateUpdate``s (each names the settlement it applies to,
``next_funding_ns``):

- position: the open position when the engine's clock reaches ``T``, after every event stamped ``T`` and
  before any later one (a clock alert at ``T``);
- rate and mark: those of the last funding update for ``T``. Venues keep publishing ``T``'s rate until the
  schedule rolls over (Binance's first ``markPrice`` message after 00:00 still names 00:00 and carries the
  rate that settled), so the update is final once one for a later settlement arrives or ``grace`` has passed
  since ``T``; the mark is the recorded mark at that final update (else the last mark at ``T``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from nautilus_trader.backtest.modules import SimulationModule, SimulationModuleConfig
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Money

from engine.accounting import signed_position
from engine.records import TOPIC_FUNDING, FundingPaymentRecord


@dataclass(slots=True)
class _Pending:
    settle_ns: int
    rate: Decimal
    mark: Decimal | None = None
    position: Decimal | None = None  # None until the clock reaches settle_ns
    booked: bool = False


@dataclass(slots=True)
class FundingLedger:
    """What the module booked, for tests and the run summary."""

    payments: list[FundingPaymentRecord] = field(default_factory=list)
    skipped_without_mark: int = 0


class FundingSettlementModule(SimulationModule):
    """Books funding on a simulated margin venue from recorded funding and mark price updates.

    Parameters
    ----------
    instrument_ids : list[InstrumentId]
        The perpetuals on this venue whose positions pay or receive funding.
    grace_ns : int
        How long after ``T`` to wait for a later update of ``T``'s rate before booking with what is known.
    on_payment : Callable, optional
        Called with each ``FundingPaymentRecord`` after it is booked (besides the message bus publish).
    """

    def __init__(
        self,
        instrument_ids: list[InstrumentId],
        grace_ns: int = 5_000_000_000,
        on_payment: Callable[[FundingPaymentRecord], None] | None = None,
    ) -> None:
        super().__init__(SimulationModuleConfig())
        self._ids = list(instrument_ids)
        self._grace_ns = grace_ns
        self._on_payment = on_payment
        self._pending: dict[InstrumentId, _Pending] = {}
        self.ledger = FundingLedger()

    def register_venue(self, exchange) -> None:
        """Attach to the venue and listen to its perps' funding updates."""
        super().register_venue(exchange)
        for iid in self._ids:
            self.msgbus.subscribe(
                topic=f"data.funding_rates.{iid.venue}.{iid.symbol}", handler=self._on_funding
            )

    # The engine calls process() after every event; all the work here is driven by updates and alerts.
    def process(self, ts_now: int) -> None:
        """Nothing per event: settlements run on clock alerts and funding updates."""

    def reset(self) -> None:
        """Forget pending settlements and the ledger."""
        self._pending.clear()
        self.ledger = FundingLedger()

    def log_diagnostics(self, logger) -> None:
        """Log what was booked."""
        logger.info(f"FundingSettlementModule booked {len(self.ledger.payments)} payments")

    # -- updates ----------------------------------------------------------------------------------------

    def _on_funding(self, update: FundingRateUpdate) -> None:
        iid = update.instrument_id
        settle_ns = update.next_funding_ns
        if not settle_ns:
            return
        pending = self._pending.get(iid)
        if pending is not None and settle_ns != pending.settle_ns:
            if pending.position is not None:
                self._book(iid, pending)  # the schedule rolled over: T's last update was final
            elif settle_ns > pending.settle_ns:
                self._log.warning(f"{iid}: settlement {pending.settle_ns} superseded before it was due")
            pending = None
        if pending is None:
            pending = _Pending(settle_ns, update.rate)
            self._pending[iid] = pending
            now = self.clock.timestamp_ns()
            if settle_ns >= now:
                self.clock.set_time_alert_ns(f"funding-due-{iid}-{settle_ns}", settle_ns, self._on_due)
            else:
                pending.position = self._position(iid)  # update for a past settlement (late data)
        pending.rate = update.rate
        if pending.position is not None:
            pending.mark = self._mark(iid)  # a post-T update of T's rate carries the final mark

    def _on_due(self, event) -> None:
        for iid, pending in self._pending.items():
            if pending.position is None and pending.settle_ns <= event.ts_event:
                pending.position = self._position(iid)
                pending.mark = self._mark(iid)
                self.clock.set_time_alert_ns(
                    f"funding-grace-{iid}-{pending.settle_ns}",
                    pending.settle_ns + self._grace_ns,
                    self._on_grace,
                )

    def _on_grace(self, event) -> None:
        for iid, pending in list(self._pending.items()):
            if pending.position is not None and pending.settle_ns + self._grace_ns <= event.ts_event:
                self._book(iid, pending)

    def flush(self) -> None:
        """Book any settlement already due whose grace period the data ended inside."""
        for iid, pending in list(self._pending.items()):
            if pending.position is not None:
                self._book(iid, pending)

    # -- booking ------------------------------------------------------------------------------------------

    def _position(self, iid: InstrumentId) -> Decimal:
        return signed_position(self.cache, iid)

    def _mark(self, iid: InstrumentId) -> Decimal | None:
        mark = self.cache.mark_price(iid)
        return mark.value.as_decimal() if mark is not None else None

    def _book(self, iid: InstrumentId, pending: _Pending) -> None:
        if pending.booked:
            return
        pending.booked = True
        self._pending.pop(iid, None)
        qty = pending.position or Decimal(0)
        if qty == 0:
            return
        if pending.mark is None:
            self.ledger.skipped_without_mark += 1
            self._log.error(f"{iid}: no mark price at settlement {pending.settle_ns}; funding not booked")
            return
        instrument = self.cache.instrument(iid)
        ccy = instrument.settlement_currency
        # Booked to the settlement currency's precision; the journal records exactly what was booked.
        amount = (-qty * pending.mark * pending.rate).quantize(
            Decimal(1).scaleb(-ccy.precision), ROUND_HALF_EVEN
        )
        self.exchange.adjust_account(Money(amount, ccy))
        record = FundingPaymentRecord(
            ts_ns=pending.settle_ns,
            instrument_id=iid.value,
            position_qty=qty,
            mark_price=pending.mark,
            rate=pending.rate,
            amount=amount,
            currency=ccy.code,
        )
        self.ledger.payments.append(record)
        self.msgbus.publish(TOPIC_FUNDING, record)
        if self._on_payment is not None:
            self._on_payment(record)
