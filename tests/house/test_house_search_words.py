"""The search query language, as the house answers it from memory (``WordIndex``, decision
0027): words as prefixes of an item's name or description words, all required, case and
accents ignored, nothing else special. And the ledger stores keep no search index of their own:
nothing read it once lists searched in memory, so it is no longer written (issue 17's review)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

import pg_cluster
from auctionhouse.errors import InvalidRequest
from auctionhouse.house import AuctionHouse, FakeClock, HouseConfig
from auctionhouse.house.listing import WordIndex
from auctionhouse.house.shared import SharedAuctionHouse
from auctionhouse.ledger.search import query_terms

ITEMS = [
    ("Blue glass vase", "Murano, 1960s, a small chip on the rim"),
    ("Vases (pair)", "two white porcelain vases"),
    ("Café table", "oak top, iron legs"),
    ("Oak bookcase", "five shelves"),
    ("Lamp", ""),
]


@pytest.fixture(scope="module")
def index() -> WordIndex:
    words = WordIndex()
    for n, (name, description) in enumerate(ITEMS, start=1):
        words.add(n, name, description)
    return words


def found(index: WordIndex, query: str) -> list[int]:
    terms = query_terms(query)
    return sorted(index.matching(terms)) if terms else []


def test_words_match_names_and_descriptions_as_prefixes(index: WordIndex) -> None:
    assert found(index, "vase") == [1, 2]  # "vases" too: a word prefix
    assert found(index, "VASE blue") == [1]  # every word, any case
    assert found(index, "porcelain") == [2]  # the description counts
    assert found(index, "oak") == [3, 4]
    assert found(index, "cafe") == [3]  # accents do not matter
    assert found(index, "café") == [3]
    assert found(index, "murano rim") == [1]
    assert found(index, "lamp shade") == []
    assert found(index, "ase") == []  # inside a word is not a match


def test_query_syntax_is_only_words(index: WordIndex) -> None:
    """Operators and quotes of other query languages are plain text here."""
    for query in ('"vase', "vase*", "vase OR lamp", "vase -blue", "vase:*", "(vase)", "a'b"):
        assert set(found(index, query)) <= {1, 2}, query
    assert found(index, "vase OR lamp") == []  # "or" is a word like any other: nothing has it
    assert found(index, "!!! ???") == []  # no word: nothing
    assert found(index, "vase & !blue") == [1]


def test_bad_queries_are_refused_clearly() -> None:
    with pytest.raises(InvalidRequest, match="at most 200"):
        query_terms("x" * 201)
    with pytest.raises(InvalidRequest, match="at most 12 words"):
        query_terms(" ".join(f"w{i}" for i in range(13)))
    assert query_terms("Vase vase VASE") == ["vase"]


CFG = HouseConfig.for_tests()


def sell_items(house: AuctionHouse) -> None:
    house.create_account("seller", "correct horse")
    for name, description in ITEMS:
        house.create_auction("seller", name, "english", {"duration": 600}, description=description)


def test_an_embedded_ledger_keeps_no_search_index(tmp_path: Path) -> None:
    db = tmp_path / "house.db"
    house = AuctionHouse.open(db, config=CFG, clock=FakeClock(1_000_000.0))
    sell_items(house)
    assert [v["item"]["name"] for v in house.list_auctions(query="vase")] == [
        "Vases (pair)",
        "Blue glass vase",
    ]
    house.close()
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert not {t for t in tables if t.startswith("ledger_items")}


def test_a_shared_ledger_keeps_no_search_index(tmp_path: Path) -> None:
    url = pg_cluster.new_database()
    house = SharedAuctionHouse.open_shared(
        url, key_path=tmp_path / "house.key", config=CFG, clock=FakeClock(1_000_000.0)
    )
    house.close()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('ledger_items') IS NOT NULL").fetchone()
    assert row is not None and not row[0]
