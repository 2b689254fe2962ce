"""Money for people (issue 17): decimals typed in, exact minor units, Babel's formats out."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auctionhouse.errors import ConfigError, InvalidAmount
from auctionhouse.house.config import HouseConfig
from auctionhouse.money import (
    currency_digits,
    format_amount,
    parse_amount,
    plain_amount,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("10.50", "EUR", 1050),
        ("10.5", "EUR", 1050),
        ("10", "EUR", 1000),
        ("0.01", "EUR", 1),
        (".5", "EUR", 50),
        ("10.", "EUR", 1000),
        (" 10.10 ", "EUR", 1010),  # exact: never 1009.9999...
        ("0.29", "USD", 29),  # 0.29 * 100 is 28.999999999999996 in floats
        ("1250", "JPY", 1250),
        ("1.234", "KWD", 1234),
        ("19.99", "GBP", 1999),
        ("123456789012.34", "EUR", 12345678901234),
    ],
)
def test_decimals_become_exact_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "words"),
    [
        ("10.505", "EUR", "more decimals than EUR has (2 decimals)"),
        ("10.500", "EUR", "more decimals than EUR has"),  # 10.500 is 10500 in Germany
        ("100.5", "JPY", "more decimals than JPY has (no decimals)"),
        ("100.0", "JPY", "no decimals"),
        ("1.2345", "KWD", "3 decimals"),
    ],
)
def test_more_decimals_than_the_currency_has_are_refused(
    text: str, currency: str, words: str
) -> None:
    with pytest.raises(InvalidAmount, match=re.escape(words)) as info:
        parse_amount(text, currency, field="--start-price")
    assert info.value.code == "invalid_amount"
    assert info.value.fields["field"] == "--start-price"
    assert info.value.fields["decimals"] == currency_digits(currency)


@pytest.mark.parametrize(
    "text", ["", " ", ".", "abc", "-5", "+5", "1e3", "1,000", "1 000", "NaN", "inf", "10.5.0", "€5"]
)
def test_what_is_not_an_amount_is_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(
        InvalidAmount, match=re.escape("must be an amount like 10 or 10.50")
    ) as info:
        parse_amount(text, "EUR")
    assert info.value.to_dict()["code"] == "invalid_amount"


@given(st.integers(0, 10**15), st.sampled_from(["EUR", "USD", "JPY", "KWD", "CHF"]))
def test_plain_amounts_round_trip(minor: int, currency: str) -> None:
    assert parse_amount(plain_amount(minor, currency), currency) == minor


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "shown"),
    [
        (1050, "EUR", "en", "€10.50"),
        (1050, "EUR", "de_DE", "10,50\xa0€"),
        (123456, "USD", "en_US", "$1,234.56"),
        (1250, "JPY", "en", "¥1,250"),
        (1250, "JPY", "ja_JP", "￥1,250"),
        (1234, "KWD", "en", "KWD1.234"),
        (None, "EUR", "en", "-"),
    ],
)
def test_amounts_are_shown_with_babel(minor: int, currency: str, locale: str, shown: str) -> None:
    assert format_amount(minor, currency, locale) == shown


def test_plain_amounts() -> None:
    assert plain_amount(1050, "EUR") == "10.50"
    assert plain_amount(5, "EUR") == "0.05"
    assert plain_amount(1250, "JPY") == "1250"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("currency", "XXQ"),
        ("currency", "EURO"),
        ("currency", "€"),
        ("locale", "zz_QQ"),
        ("locale", ""),
    ],
)
def test_a_house_refuses_an_unknown_currency_or_locale(setting: str, value: str) -> None:
    with pytest.raises(ConfigError, match=setting) as caught:
        HouseConfig(**{setting: value})
    assert caught.value.code == f"unknown_{setting}"  # a config_error with a code of its own
    assert caught.value.fields["field"] == setting


def test_a_currency_code_is_taken_in_any_case() -> None:
    assert HouseConfig(currency=" eur ").currency == "EUR"
    assert HouseConfig(currency="jpy").currency == "JPY"


def test_a_house_defaults_to_euros() -> None:
    config = HouseConfig()
    assert (config.currency, config.locale, config.bids_are_maxima) == ("EUR", "en", False)
    assert HouseConfig(currency="JPY", locale="ja_JP").currency == "JPY"
