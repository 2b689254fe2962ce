"""Money for people: a house's currency, amounts typed as decimals, amounts shown formatted.

The core, the ledger and the API keep every amount as an integer of the currency's minor units
(cents for EUR, yen for JPY: ISO 4217's minor-unit digits, from Babel's CLDR data). Only the
faces people read and type in convert, and they do it here, with Babel (a well-kept library: the
CLDR's symbols, patterns and precisions for every currency and locale) and ``decimal`` (exact:
``10.10`` is 1010 cents, never 1009.9999):

- ``parse_amount("10.50", "EUR") -> 1050``; ``parse_amount("10.505", "EUR")`` and
  ``parse_amount("100.5", "JPY")`` raise ``InvalidAmount`` (code ``invalid_amount``) naming
  the currency's decimals, never round.
- ``format_amount(1050, "EUR", "en") -> "€10.50"``; ``format_amount(1050, "EUR", "de_DE") ->
  "10,50 €"``; ``plain_amount(1050, "EUR") -> "10.50"`` (what a person types back).

This module is a leaf (it imports only ``errors``), so every layer above the rules core may use it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from auctionhouse.errors import InvalidAmount, UnknownCurrency, UnknownLocale

DEFAULT_CURRENCY = "EUR"
DEFAULT_LOCALE = "en"

# Digits with at most one decimal point; a sign, an exponent, a thousands separator or a comma
# are refused: "1,000" and "1.000" mean different amounts in different countries.
_DECIMAL = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)")


@lru_cache(maxsize=64)
def currency_digits(currency: str) -> int:
    """The number of minor-unit digits of ``currency`` (EUR 2, JPY 0, KWD 3), from CLDR."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(currency))


def check_currency(currency: object) -> str:
    """``currency`` if it is an ISO 4217 code CLDR knows (``EUR``), else ``UnknownCurrency``
    (code ``unknown_currency``, a ``config_error``). Callers take ``eur`` as ``EUR`` first."""
    from babel.numbers import is_currency

    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise UnknownCurrency(
            f"currency must be an ISO 4217 code like EUR or USD, not {currency!r}",
            field="currency",
        )
    if not is_currency(currency):
        raise UnknownCurrency(
            f"currency {currency!r} is not an ISO 4217 currency (EUR, USD, GBP, JPY, CHF...)",
            field="currency",
        )
    return currency


def check_locale(locale: object) -> str:
    """``locale`` if Babel knows it (``en``, ``de_DE``, ``fr-CH``), else ``UnknownLocale``
    (code ``unknown_locale``, a ``config_error``)."""
    from babel import Locale, UnknownLocaleError

    if not isinstance(locale, str) or not locale:
        raise UnknownLocale(
            f"locale must be a locale name like en or de_DE, not {locale!r}", field="locale"
        )
    try:
        Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise UnknownLocale(
            f"locale {locale!r} is not a known locale (en, en_US, de_DE, fr_CH, ja_JP...)",
            field="locale",
        ) from None
    return locale


def parse_amount(text: object, currency: str, *, field: str = "amount") -> int:
    """A decimal amount a person typed (``"10.50"``, ``"10"``, ``"0.5"``) -> integer minor units.

    Exact (``decimal``); refuses, with ``InvalidAmount`` naming ``field``: anything but digits
    and one decimal point, a negative or non-finite amount, and more decimals than ``currency``
    has (``"10.505"`` EUR, ``"100.5"`` JPY): an amount is never rounded behind a person's back.
    """
    digits = currency_digits(currency)
    raw = text.strip() if isinstance(text, str) else text
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not _DECIMAL.fullmatch(raw):
        raise InvalidAmount(
            f"{field} must be an amount like 10 or {Decimal(1050).scaleb(-digits)} "
            f"({currency}), not {text!r}",
            field=field,
            currency=currency,
            decimals=digits,
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InvalidAmount(f"{field} is not a number: {text!r}", field=field) from None
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > digits:
        has = "no decimals" if digits == 0 else f"{digits} decimal{'s' if digits > 1 else ''}"
        raise InvalidAmount(
            f"{field} {raw} has more decimals than {currency} has ({has})",
            field=field,
            currency=currency,
            decimals=digits,
        )
    return int(value.scaleb(digits))


def to_decimal(minor: int, currency: str) -> Decimal:
    """Integer minor units -> the exact ``Decimal`` amount (1050 EUR -> Decimal("10.50"))."""
    return Decimal(minor).scaleb(-currency_digits(currency))


def plain_amount(minor: int, currency: str) -> str:
    """Minor units as a person types them back: ``1050`` EUR -> ``"10.50"``, JPY -> ``"1050"``."""
    digits = currency_digits(currency)
    return f"{to_decimal(minor, currency):.{digits}f}"


def format_amount(minor: object, currency: str, locale: str = DEFAULT_LOCALE) -> str:
    """Minor units formatted for people with Babel's ``format_currency`` in ``locale``:
    ``1050`` EUR en -> ``"€10.50"``, de_DE -> ``"10,50 €"``; ``None`` -> ``"-"``."""
    if minor is None:
        return "-"
    if not isinstance(minor, int) or isinstance(minor, bool):
        return str(minor)
    return _format(minor, currency, locale)


def warm_up(currency: str = DEFAULT_CURRENCY, locale: str = DEFAULT_LOCALE) -> None:
    """Load Babel's CLDR data for ``currency`` in ``locale`` now (the first format costs about
    0.1-0.3 s), so that it is not paid on an event loop in the middle of a timed auction."""
    format_amount(0, currency, locale)
    currency_digits(currency)


@lru_cache(maxsize=4096)
def _format(minor: int, currency: str, locale: str) -> str:
    from babel.numbers import format_currency

    return str(
        format_currency(to_decimal(minor, currency), currency, locale=locale.replace("-", "_"))
    )
