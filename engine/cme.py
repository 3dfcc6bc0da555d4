"""CME Bitcoin futures: month codes, contract sizes, the expiry calendar, roll dates and nautilus instruments.

Contracts
    ``BTC`` (5 BTC per contract) and ``MBT`` (Micro, 0.1 BTC), cash-settled to the CME CF Bitcoin Reference
    Rate, listed for every calendar month. Prices are USD per BTC with a tick of 5 USD.

Last trading day (= expiry)
    The last Friday of the contract month; trading ends at 16:00 London time. If that Friday is a CME
    holiday, the last trading day is the preceding business day. The data agrees: MBTH4's last Friday,
    2024-03-29, was Good Friday, and the last MBTH4 bar in the CME file is Thursday 2024-03-28.
    UK bank holidays do not move it: Friday 2025-12-26 (Boxing Day) was MBTZ5's last trading day in the
    file.

CME holidays (``cme_holidays``)
    The US holidays on which CME Group closes (or halts) its equity-index and crypto futures, with the
    observance rules CME follows:

    - New Year's Day, 1 January; on a Sunday observed Monday 2 January; on a Saturday **not** observed
      on the Friday before (CME traded Friday 2021-12-31, the last day of MBTZ1);
    - Martin Luther King Jr. Day (third Monday of January), Presidents' Day (third Monday of February),
      Memorial Day (last Monday of May), Labor Day (first Monday of September), Thanksgiving (fourth
      Thursday of November);
    - Good Friday (Friday before Easter Sunday, Gregorian computus);
    - Juneteenth (19 June, from 2022), Independence Day (4 July) and Christmas (25 December): on a
      Saturday observed the Friday before, on a Sunday the Monday after.

    Only Good Friday and a Friday Christmas (25 December, e.g. 2026) can fall on a last Friday; the day after
    Thanksgiving (often November's last Friday) is an early close, not a holiday. The rest matter to
    business-day counting (roll dates). On some of these days Globex trades an abbreviated session; they
    still count as non-business days here, which only moves a roll one day earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AssetClass
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import FuturesContract
from nautilus_trader.model.objects import Price, Quantity

MONTH_CODES = "FGHJKMNQUVXZ"  # January .. December
CONTRACT_SIZE_BTC: dict[str, Decimal] = {"BTC": Decimal(5), "MBT": Decimal("0.1")}
TICK_SIZE_USD = Decimal(5)
CME_VENUE = "CME"
LONDON = ZoneInfo("Europe/London")
LAST_TRADE_TIME_LONDON = time(16, 0)
DEFAULT_LISTING_MONTHS = 6  # activation of a generated instrument: this many months before expiry

Root = Literal["BTC", "MBT"]


def month_code(month: int) -> str:
    """Return the CME month letter of ``month`` (1 -> ``F`` ... 12 -> ``Z``)."""
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is not 1-12")
    return MONTH_CODES[month - 1]


def month_from_code(code: str) -> int:
    """Return the month (1-12) of a CME month letter.

    Raises
    ------
    ValueError
        If ``code`` is not one of ``FGHJKMNQUVXZ``.
    """
    if len(code) != 1 or code not in MONTH_CODES:
        raise ValueError(f"{code!r} is not a CME month code ({MONTH_CODES})")
    return MONTH_CODES.index(code) + 1


def easter_sunday(year: int) -> date:
    """Return Easter Sunday of ``year`` (Gregorian; the anonymous Meeus/Jones/Butcher computus)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    # Saturday -> Friday before, Sunday -> Monday after.
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


@cache
def cme_holidays(year: int) -> frozenset[date]:
    """Return the CME holidays falling in ``year`` (rules in the module docstring)."""
    mon, thu = 0, 3
    days = {
        _nth_weekday(year, 1, mon, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, mon, 3),  # Presidents' Day
        easter_sunday(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, mon),  # Memorial Day
        _observed(date(year, 7, 4)),  # Independence Day
        _nth_weekday(year, 9, mon, 1),  # Labor Day
        _nth_weekday(year, 11, thu, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),  # Christmas
    }
    new_year = date(year, 1, 1)
    if new_year.weekday() == 6:
        days.add(new_year + timedelta(days=1))
    elif new_year.weekday() != 5:  # a Saturday New Year's Day is not moved to the Friday before
        days.add(new_year)
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    return frozenset(d for d in days if d.year == year)


def is_business_day(day: date) -> bool:
    """True when ``day`` is a weekday and not a CME holiday."""
    return day.weekday() < 5 and day not in cme_holidays(day.year)


def previous_business_day(day: date) -> date:
    """Return the last business day strictly before ``day``."""
    d = day - timedelta(days=1)
    while not is_business_day(d):
        d -= timedelta(days=1)
    return d


def last_friday(year: int, month: int) -> date:
    """Return the last Friday of a month."""
    return _last_weekday(year, month, 4)


def last_trading_day(year: int, month: int) -> date:
    """Return the last trading day (expiry) of the contract of ``year``/``month``.

    The last Friday of the month, or the preceding business day when that Friday is a CME holiday.
    """
    friday = last_friday(year, month)
    return friday if is_business_day(friday) else previous_business_day(friday)


def expiry_ns(year: int, month: int) -> int:
    """Return the expiry instant, 16:00 London time on the last trading day, in UTC ns since the epoch."""
    day = last_trading_day(year, month)
    local = datetime.combine(day, LAST_TRADE_TIME_LONDON, tzinfo=LONDON)
    return int(local.astimezone(UTC).timestamp()) * 1_000_000_000


@dataclass(frozen=True, slots=True, order=True)
class CmeContract:
    """One CME Bitcoin futures contract month.

    Attributes
    ----------
    year : int
        Contract year (four digits).
    month : int
        Contract month, 1-12.
    root : str
        ``MBT`` or ``BTC``.
    """

    year: int
    month: int
    root: str = "MBT"

    def __post_init__(self) -> None:
        if self.root not in CONTRACT_SIZE_BTC:
            raise ValueError(f"root {self.root!r} is not one of {sorted(CONTRACT_SIZE_BTC)}")
        month_code(self.month)

    @property
    def symbol(self) -> str:
        """The CME Globex symbol with a one-digit year, e.g. ``MBTH4``."""
        return f"{self.root}{month_code(self.month)}{self.year % 10}"

    @property
    def size_btc(self) -> Decimal:
        """BTC per contract (the nautilus multiplier): 5 for BTC, 0.1 for MBT."""
        return CONTRACT_SIZE_BTC[self.root]

    @property
    def expiry(self) -> date:
        """The last trading day."""
        return last_trading_day(self.year, self.month)

    @property
    def expiry_ns(self) -> int:
        """Trading ends: 16:00 London on the last trading day, UTC ns."""
        return expiry_ns(self.year, self.month)

    def next(self) -> CmeContract:
        """The following contract month."""
        y, m = divmod(self.year * 12 + self.month, 12)
        return CmeContract(y, m + 1, self.root)

    def roll_date(self, n: int, business_days: bool = True) -> date:
        """Return ``roll_date(self.expiry, n, business_days)``."""
        return roll_date(self.expiry, n, business_days)


def front_contract(on: date, root: str = "MBT") -> CmeContract:
    """Return the front month on ``on``: the nearest contract whose last trading day is on or after ``on``.

    On its last trading day a contract is still the front month (it trades until 16:00 London).
    """
    c = CmeContract(on.year, on.month, root)
    while c.expiry < on:
        c = c.next()
    return c


def next_contract(on: date, root: str = "MBT") -> CmeContract:
    """Return the month after the front month on ``on``."""
    return front_contract(on, root).next()


def roll_date(expiry: date, n: int, business_days: bool = True) -> date:
    """Return the day ``n`` business days (or calendar days) before ``expiry``.

    Parameters
    ----------
    expiry : date
        The contract's last trading day.
    n : int
        How far before expiry to roll; 0 is the expiry day itself.
    business_days : bool
        Count CME business days (default) or calendar days. A calendar-day roll that lands on a
        non-business day moves to the business day before it, so that it is a day one can trade.
    """
    if n < 0:
        raise ValueError(f"roll offset {n} is negative")
    d = expiry
    if business_days:
        for _ in range(n):
            d = previous_business_day(d)
        return d
    d = expiry - timedelta(days=n)
    return d if is_business_day(d) else previous_business_day(d)


def active_contract(on: date, roll_n: int, business_days: bool = True, root: str = "MBT") -> CmeContract:
    """Return the contract to hold on ``on`` under a roll ``roll_n`` days before expiry.

    The front month until (excluding) its roll date, the next month from the roll date on.
    """
    front = front_contract(on, root)
    return front.next() if on >= front.roll_date(roll_n, business_days) else front


def futures_contract(
    contract: CmeContract,
    activation_ns: int | None = None,
    margin_init: Decimal | None = None,
    margin_maint: Decimal | None = None,
    ts_init: int = 0,
) -> FuturesContract:
    """Return a nautilus ``FuturesContract`` for a CME Bitcoin futures month (venue CME, USD).

    Parameters
    ----------
    contract : CmeContract
        The contract month.
    activation_ns : int, optional
        Listing time; by default midnight UTC on the first day of the month ``DEFAULT_LISTING_MONTHS``
        before the contract month.
    margin_init, margin_maint : Decimal, optional
        Performance bond as fractions of notional (from the deployment config).
    ts_init : int
        ``ts_event``/``ts_init`` of the instrument.

    Notes
    -----
    CME fees are per contract, not a fraction of notional, so maker and taker fees are left at zero
    here and booked by the backtest's fee model.
    """
    if activation_ns is None:
        y, m = divmod(contract.year * 12 + contract.month - 1 - DEFAULT_LISTING_MONTHS, 12)
        activation_ns = int(datetime(y, m + 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
    size = contract.size_btc
    size_precision = max(0, -int(size.normalize().as_tuple().exponent))
    return FuturesContract(
        instrument_id=InstrumentId(Symbol(contract.symbol), Venue(CME_VENUE)),
        raw_symbol=Symbol(contract.symbol),
        asset_class=AssetClass.CRYPTOCURRENCY,
        currency=USD,
        price_precision=0,
        price_increment=Price(TICK_SIZE_USD, 0),
        multiplier=Quantity(size, size_precision),
        lot_size=Quantity.from_int(1),
        underlying="BTC",
        activation_ns=activation_ns,
        expiration_ns=contract.expiry_ns,
        ts_event=ts_init,
        ts_init=ts_init,
        margin_init=margin_init,
        margin_maint=margin_maint,
        maker_fee=Decimal(0),
        taker_fee=Decimal(0),
        exchange="XCME",
    )
