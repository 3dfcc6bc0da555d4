"""JournalRecorder: everything that crosses the message bus and matters to a desk goes into the journal.

One recorder serves all three modes: it listens to order events, to the records strategies publish
(intents, decisions, market samples) and to funding payments, and writes them through ``Journal``. It also
takes equity snapshots at each market sample. Nothing here runs per quote.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import MessageBus
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from nautilus_trader.model.identifiers import InstrumentId

from engine.accounting import signed_position
from engine.journal.journal import Journal
from engine.records import (
    TOPIC_DECISION,
    TOPIC_FUNDING,
    TOPIC_INTENT,
    TOPIC_MARKET,
    TOPIC_RISK,
    DecisionRecord,
    FundingPaymentRecord,
    IntentRecord,
    MarketSampleRecord,
    RiskRecord,
)

EquityFn = Callable[[], tuple[Decimal, dict[str, Decimal]]]


class JournalRecorder:
    """Subscribes to the message bus and journals what it sees.

    Parameters
    ----------
    journal : Journal
        Where records go.
    run_id : str
        The run they belong to.
    msgbus : MessageBus
        The kernel's message bus.
    cache : Cache
        Read for position snapshots after fills.
    equity : Callable, optional
        Returns ``(equity_usd, by_venue)``; called at each market sample and by ``snapshot_equity``.
    """

    def __init__(
        self,
        journal: Journal,
        run_id: str,
        msgbus: MessageBus,
        cache: Cache,
        equity: EquityFn | None = None,
    ) -> None:
        self.journal = journal
        self.run_id = run_id
        self.cache = cache
        self._equity = equity
        self.fills = 0
        self.duplicate_fills = 0
        self.orders = 0
        self.funding_payments = 0
        msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        msgbus.subscribe(topic=TOPIC_INTENT, handler=self._on_intent)
        msgbus.subscribe(topic=TOPIC_DECISION, handler=self._on_decision)
        msgbus.subscribe(topic=TOPIC_MARKET, handler=self._on_market)
        msgbus.subscribe(topic=TOPIC_FUNDING, handler=self._on_funding)
        msgbus.subscribe(topic=TOPIC_RISK, handler=self._on_risk)

    def _on_intent(self, rec: IntentRecord) -> None:
        self.orders += 1
        self.journal.record_intent(
            self.run_id,
            rec.ts_ns,
            rec.client_order_id,
            rec.instrument_id,
            rec.side,
            rec.quantity,
            rec.order_type,
            rec.pair_id,
            rec.leg,
            rec.reason,
        )

    def _on_decision(self, rec: DecisionRecord) -> None:
        self.journal.record_decision(
            self.run_id, rec.ts_ns, rec.strategy_id, rec.action, rec.reason, rec.signals
        )

    def _on_market(self, rec: MarketSampleRecord) -> None:
        self.journal.record_market(
            self.run_id, rec.ts_ns, rec.basis_bps, rec.funding_apr_pct, rec.spot_mid, rec.perp_mid
        )
        self.snapshot_equity(rec.ts_ns)

    def _on_funding(self, rec: FundingPaymentRecord) -> None:
        self.funding_payments += 1
        self.journal.record_funding(
            self.run_id,
            rec.ts_ns,
            rec.instrument_id,
            rec.position_qty,
            rec.mark_price,
            rec.rate,
            rec.amount,
            rec.currency,
        )

    def _on_risk(self, rec: RiskRecord) -> None:
        self.journal.record_risk_event(
            self.run_id, rec.ts_ns, rec.kind, rec.reason, rec.figures, buffered=rec.kind == "SAMPLE"
        )

    def _on_order_event(self, event: OrderEvent) -> None:
        if isinstance(event, OrderFilled):
            self._on_fill(event)
        elif isinstance(event, OrderDenied | OrderRejected):
            self.journal.record_order_event(
                self.run_id,
                event.ts_event,
                event.client_order_id.value,
                type(event).__name__[5:].upper(),
                str(event.reason),
            )
        elif isinstance(event, OrderCanceled | OrderExpired):
            self.journal.record_order_event(
                self.run_id,
                event.ts_event,
                event.client_order_id.value,
                type(event).__name__[5:].upper(),
                None,
            )

    def _on_fill(self, fill: OrderFilled) -> None:
        fee = fill.commission
        written = self.journal.record_fill(
            self.run_id,
            fill.ts_event,
            fill.client_order_id.value,
            fill.instrument_id.venue.value,
            fill.trade_id.value,
            fill.instrument_id.value,
            "BUY" if fill.is_buy else "SELL",
            fill.last_qty.as_decimal(),
            fill.last_px.as_decimal(),
            fee.as_decimal(),
            fee.currency.code,
        )
        if not written:
            self.duplicate_fills += 1  # the same venue trade id seen twice: journaled once
            return
        self.fills += 1
        self.journal.record_position(
            self.run_id,
            fill.ts_event,
            fill.instrument_id.value,
            self.signed_position(fill.instrument_id),
            None,
        )

    def signed_position(self, instrument_id: InstrumentId) -> Decimal:
        """Net signed quantity of the open positions on ``instrument_id``."""
        return signed_position(self.cache, instrument_id)

    def snapshot_equity(self, ts_ns: int) -> None:
        """Journal the accounts' equity now."""
        if self._equity is None:
            return
        total, by_venue = self._equity()
        self.journal.record_equity(self.run_id, ts_ns, total, by_venue)
